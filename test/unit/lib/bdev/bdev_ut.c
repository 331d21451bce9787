/*
 * lib/bdev unit tests, with a test backend ("ut" module, below) whose I/O
 * completes either inside submit_request or when the test says so, and the
 * deterministic thread harness.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "lib/bdev/bdev.c"
#include "lib/bdev/bdev_bounce.c"
#include "lib/bdev/bdev_channel.c"
#include "lib/bdev/bdev_emu.c"
#include "lib/bdev/bdev_histogram.c"
#include "lib/bdev/bdev_io.c"
#include "lib/bdev/bdev_multi.c"
#include "lib/bdev/bdev_qos.c"
#include "lib/bdev/bdev_reset.c"
#include "lib/bdev/bdev_split.c"
#include "lib/bdev/bdev_subsystem.c"

/* ---- the test backend ---------------------------------------------------------- */

#define UT_BLOCKLEN 512u
#define UT_BLOCKCNT 1024u

struct ut_io_ctx {
	uint64_t magic;
	enum axon_bdev_io_status status;
};

struct ut_channel {
	TAILQ_HEAD(, axon_bdev_io) pending;
	uint32_t count;
};

struct ut_disk {
	struct axon_bdev bdev;
	uint8_t *data;
	uint32_t types;         /* supported I/O types (bit per type) */
	bool inline_cpl;        /* complete inside submit_request */
	int nomem_count;        /* complete this many submissions with NOMEM */
	int fail_count;         /* complete this many submissions with FAILED */
	uint32_t submitted[AXON_BDEV_NUM_IO_TYPES];
	bool destructed;
	struct axon_memory_domain *domain; /* reported by get_memory_domains */
	uint32_t violations;               /* reads/writes that broke a limit */
};

static char g_ut_io_device;
static struct axon_bdev_module g_ut_module;
static struct axon_bdev_module g_ut_claimer = {.name = "ut_claimer"};

static int ut_channel_create(void *io_device, void *ctx)
{
	struct ut_channel *ch = ctx;

	(void)io_device;
	TAILQ_INIT(&ch->pending);
	return 0;
}

static void ut_channel_destroy(void *io_device, void *ctx)
{
	struct ut_channel *ch = ctx;

	(void)io_device;
	CU_ASSERT(TAILQ_EMPTY(&ch->pending));
}

static int ut_module_init(void)
{
	axon_io_device_register(&g_ut_io_device, ut_channel_create, ut_channel_destroy,
				sizeof(struct ut_channel), "ut");
	return 0;
}

static void ut_module_fini(void)
{
	axon_io_device_unregister(&g_ut_io_device, NULL);
}

static int ut_get_ctx_size(void)
{
	return sizeof(struct ut_io_ctx);
}

static struct axon_bdev_module g_ut_module = {
	.name = "ut",
	.module_init = ut_module_init,
	.module_fini = ut_module_fini,
	.get_ctx_size = ut_get_ctx_size,
};
AXON_BDEV_MODULE_REGISTER(ut, &g_ut_module)

static void ut_copy(struct axon_bdev_io *io, bool to_disk)
{
	struct ut_disk *d = io->bdev->ctxt;
	uint8_t *p = d->data + io->u.bdev.offset_blocks * UT_BLOCKLEN;
	struct iovec *iov = to_disk ? io->u.bdev.iovs : io->u.bdev.iovs;
	int iovcnt = io->u.bdev.iovcnt;

	for (int i = 0; i < iovcnt; i++) {
		if (to_disk) {
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		} else {
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
		}
		p += iov[i].iov_len;
	}
}

static enum axon_bdev_io_status ut_do(struct ut_disk *d, struct axon_bdev_io *io)
{
	switch (io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		ut_copy(io, false);
		break;
	case AXON_BDEV_IO_TYPE_WRITE:
		ut_copy(io, true);
		break;
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_UNMAP:
		memset(d->data + io->u.bdev.offset_blocks * UT_BLOCKLEN, 0,
		       io->u.bdev.num_blocks * UT_BLOCKLEN);
		break;
	default:
		break;
	}
	return AXON_BDEV_IO_STATUS_SUCCESS;
}

static void ut_submit_ready(struct axon_io_channel *ch, struct axon_bdev_io *io);

static void ut_buf_ready(struct axon_io_channel *ch, struct axon_bdev_io *io, bool success)
{
	CU_ASSERT_FATAL(success);
	ut_submit_ready(ch, io);
}

static void ut_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	if (io->type == AXON_BDEV_IO_TYPE_READ && io->u.bdev.iovs[0].iov_base == NULL) {
		axon_bdev_io_get_buf(io, ut_buf_ready, io->u.bdev.num_blocks * UT_BLOCKLEN);
		return;
	}
	ut_submit_ready(ch, io);
}

/* Does a read or write respect what the bdev asked the layer for? */
static bool ut_within_limits(const struct axon_bdev *b, const struct axon_bdev_io *io)
{
	uintptr_t mask = ((uintptr_t)1 << b->required_alignment) - 1;
	uint64_t off = io->u.bdev.offset_blocks, n = io->u.bdev.num_blocks, total = 0;

	if (b->max_rw_size != 0 && n > b->max_rw_size) {
		return false;
	}
	if (b->split_on_optimal_io_boundary && b->optimal_io_boundary != 0 &&
	    off / b->optimal_io_boundary != (off + n - 1) / b->optimal_io_boundary) {
		return false;
	}
	if (b->max_num_segments != 0 && (uint32_t)io->u.bdev.iovcnt > b->max_num_segments) {
		return false;
	}
	for (int i = 0; i < io->u.bdev.iovcnt; i++) {
		const struct iovec *v = &io->u.bdev.iovs[i];

		if ((b->max_segment_size != 0 && v->iov_len > b->max_segment_size) ||
		    ((uintptr_t)v->iov_base & mask) != 0) {
			return false;
		}
		total += v->iov_len;
	}
	return total == n * b->blocklen;
}

static void ut_submit_ready(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	struct ut_disk *d = io->bdev->ctxt;
	struct ut_channel *uch = axon_io_channel_get_ctx(ch);
	struct ut_io_ctx *ctx = axon_bdev_io_get_driver_ctx(io);

	CU_ASSERT(axon_bdev_io_from_ctx(ctx) == io);
	d->submitted[io->type]++;
	if ((io->type == AXON_BDEV_IO_TYPE_READ || io->type == AXON_BDEV_IO_TYPE_WRITE) &&
	    !ut_within_limits(&d->bdev, io)) {
		d->violations++;
	}
	if (d->nomem_count > 0) {
		d->nomem_count--;
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_NOMEM);
		return;
	}
	ctx->magic = 0x5a5a;
	ctx->status = AXON_BDEV_IO_STATUS_SUCCESS;
	if (d->fail_count > 0) {
		d->fail_count--;
		ctx->status = AXON_BDEV_IO_STATUS_FAILED;
	}
	if (io->type == AXON_BDEV_IO_TYPE_RESET) {
		/* A reset aborts what the channel holds. */
		struct axon_bdev_io *p;

		while ((p = TAILQ_FIRST(&uch->pending)) != NULL) {
			TAILQ_REMOVE(&uch->pending, p, module_link);
			uch->count--;
			axon_bdev_io_complete(p, AXON_BDEV_IO_STATUS_ABORTED);
		}
	}
	if (d->inline_cpl) {
		if (ctx->status == AXON_BDEV_IO_STATUS_SUCCESS) {
			ctx->status = ut_do(d, io);
		}
		axon_bdev_io_complete(io, ctx->status);
		return;
	}
	TAILQ_INSERT_TAIL(&uch->pending, io, module_link);
	uch->count++;
}

/* Complete up to n pending I/O of the calling thread's ut channel. */
static uint32_t ut_complete(struct axon_io_channel *ch, uint32_t n)
{
	struct ut_channel *uch = axon_io_channel_get_ctx(ch);
	struct axon_bdev_io *io;
	uint32_t done = 0;

	while (done < n && (io = TAILQ_FIRST(&uch->pending)) != NULL) {
		struct ut_io_ctx *ctx = axon_bdev_io_get_driver_ctx(io);

		TAILQ_REMOVE(&uch->pending, io, module_link);
		uch->count--;
		if (ctx->status == AXON_BDEV_IO_STATUS_SUCCESS) {
			ctx->status = ut_do(io->bdev->ctxt, io);
		}
		axon_bdev_io_complete(io, ctx->status);
		done++;
	}
	return done;
}

/* The ut channel of the calling thread (a reference: put it after use). */
static struct axon_io_channel *ut_backend_ch(void)
{
	return axon_get_io_channel(&g_ut_io_device);
}

static bool ut_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	struct ut_disk *d = ctx;

	return (d->types >> type) & 1;
}

static struct axon_io_channel *ut_get_io_channel(void *ctx)
{
	(void)ctx;
	return axon_get_io_channel(&g_ut_io_device);
}

static int ut_destruct(void *ctx)
{
	struct ut_disk *d = ctx;

	d->destructed = true;
	return 0;
}

static int ut_get_memory_domains(void *ctx, struct axon_memory_domain **domains, int size)
{
	struct ut_disk *d = ctx;

	if (d->domain == NULL) {
		return 0;
	}
	if (size > 0) {
		domains[0] = d->domain;
	}
	return 1;
}

static const struct axon_bdev_fn_table g_ut_fn_table = {
	.destruct = ut_destruct,
	.submit_request = ut_submit_request,
	.io_type_supported = ut_io_type_supported,
	.get_io_channel = ut_get_io_channel,
	.get_memory_domains = ut_get_memory_domains,
};

#define UT_TYPES_RW ((1u << AXON_BDEV_IO_TYPE_READ) | (1u << AXON_BDEV_IO_TYPE_WRITE))
#define UT_TYPES_ALL                                                                     \
	(UT_TYPES_RW | (1u << AXON_BDEV_IO_TYPE_RESET) | (1u << AXON_BDEV_IO_TYPE_FLUSH) | \
	 (1u << AXON_BDEV_IO_TYPE_UNMAP) | (1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES))

static struct ut_disk *ut_disk_new(const char *name, uint32_t types)
{
	struct ut_disk *d = calloc(1, sizeof(*d));

	d->data = calloc(UT_BLOCKCNT, UT_BLOCKLEN);
	d->types = types;
	d->inline_cpl = true;
	d->bdev.name = (char *)name;
	d->bdev.product_name = "ut disk";
	d->bdev.blocklen = UT_BLOCKLEN;
	d->bdev.blockcnt = UT_BLOCKCNT;
	d->bdev.ctxt = d;
	d->bdev.fn_table = &g_ut_fn_table;
	d->bdev.module = &g_ut_module;
	return d;
}

static void ut_disk_free(struct ut_disk *d)
{
	free(d->data);
	free(d);
}

/* ---- helpers ----------------------------------------------------------------------- */

struct ut_cpl {
	int count;
	bool success;
	struct axon_bdev_io *io;
	bool keep; /* do not free the io (the test inspects it) */
};

static void ut_io_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct ut_cpl *c = arg;

	c->count++;
	c->success = success;
	if (c->keep) {
		c->io = io;
		return;
	}
	axon_bdev_free_io(io);
}

static int g_remove_events;
static int g_resize_events;
static struct axon_bdev_desc *g_close_on_remove;
static struct axon_io_channel *g_put_on_remove;

static void ut_event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type == AXON_BDEV_EVENT_REMOVE) {
		g_remove_events++;
		if (g_put_on_remove != NULL) {
			axon_put_io_channel(g_put_on_remove);
			g_put_on_remove = NULL;
		}
		if (g_close_on_remove != NULL) {
			axon_bdev_close(g_close_on_remove);
			g_close_on_remove = NULL;
		}
	} else {
		g_resize_events++;
	}
}

static int g_unreg_rc = 1;
static int g_dev_stat_rc = 1;

static void ut_dev_stat_done(struct axon_bdev *bdev, struct axon_bdev_io_stat *stat, void *arg,
			     int rc)
{
	(void)bdev;
	(void)stat;
	(void)arg;
	g_dev_stat_rc = rc;
}

static void ut_unreg_done(void *arg, int rc)
{
	(void)arg;
	g_unreg_rc = rc;
}

static void ut_setup(int threads, uint32_t pool, uint32_t cache)
{
	struct axon_bdev_opts o = {.size = sizeof(o)};

	CU_ASSERT_FATAL(ut_threads_init(threads) == 0);
	axon_bdev_get_opts(&o);
	o.bdev_io_pool_size = pool;
	o.bdev_io_cache_size = cache;
	o.small_buf_pool_size = 16;
	o.large_buf_pool_size = 4;
	CU_ASSERT_FATAL(axon_bdev_set_opts(&o) == 0);
	g_ut_mempool_leaked = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);
}

static void ut_teardown(void)
{
	ut_set_thread(0);
	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_register_open_close(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL), *dup = ut_disk_new("ut0", UT_TYPES_RW);
	struct axon_bdev_desc *rd, *wr, *d2;
	char uuid[AXON_UUID_STRING_LEN];
	const char *claimer;

	ut_setup(1, 64, 8);
	CU_ASSERT(axon_bdev_register(&d->bdev) == 0);
	CU_ASSERT(!axon_uuid_is_null(&d->bdev.uuid)); /* generated */
	CU_ASSERT(axon_bdev_register(&dup->bdev) == -EEXIST);
	CU_ASSERT(axon_bdev_get_by_name("ut0") == &d->bdev);
	axon_uuid_fmt_lower(uuid, sizeof(uuid), &d->bdev.uuid);
	CU_ASSERT(axon_bdev_get_by_name(uuid) == &d->bdev);
	CU_ASSERT(axon_bdev_alias_add(&d->bdev, "alias0") == 0);
	CU_ASSERT(axon_bdev_alias_add(&d->bdev, "ut0") == -EEXIST);
	CU_ASSERT(axon_bdev_get_by_name("alias0") == &d->bdev);
	CU_ASSERT(axon_bdev_get_by_name("nope") == NULL);
	CU_ASSERT(strcmp(axon_bdev_get_name(&d->bdev), "ut0") == 0);
	CU_ASSERT(axon_bdev_get_block_size(&d->bdev) == UT_BLOCKLEN);
	CU_ASSERT(axon_bdev_io_type_supported(&d->bdev, AXON_BDEV_IO_TYPE_COMPARE));
	CU_ASSERT(!axon_bdev_io_type_supported(&d->bdev, AXON_BDEV_IO_TYPE_NVME_IO));
	CU_ASSERT(axon_bdev_first() == &d->bdev && axon_bdev_next(&d->bdev) == NULL);

	CU_ASSERT(axon_bdev_open_ext("nope", false, ut_event_cb, NULL, &rd) == -ENODEV);
	CU_ASSERT(axon_bdev_open_ext("ut0", false, ut_event_cb, NULL, &rd) == 0);
	CU_ASSERT(axon_bdev_open_ext("alias0", true, ut_event_cb, NULL, &wr) == 0);
	CU_ASSERT(axon_bdev_desc_is_writable(wr));
	/* A writer is open: no claim. */
	CU_ASSERT(axon_bdev_module_claim_bdev(&d->bdev, NULL, &g_ut_claimer) == -EPERM);
	axon_bdev_close(wr);
	/* The claimer's own read descriptor is upgraded. */
	CU_ASSERT(axon_bdev_module_claim_bdev(&d->bdev, rd, &g_ut_claimer) == 0);
	CU_ASSERT(axon_bdev_desc_is_writable(rd));
	CU_ASSERT(axon_bdev_is_claimed(&d->bdev, &claimer) && strcmp(claimer, "ut_claimer") == 0);
	CU_ASSERT(axon_bdev_first_leaf() == NULL);
	CU_ASSERT(axon_bdev_open_ext("ut0", true, ut_event_cb, NULL, &wr) == -EPERM);
	CU_ASSERT(axon_bdev_open_ext("ut0", false, ut_event_cb, NULL, &d2) == 0);
	CU_ASSERT(axon_bdev_module_claim_bdev(&d->bdev, NULL, &g_ut_module) == -EPERM);
	axon_bdev_module_release_bdev(&d->bdev);
	CU_ASSERT(!axon_bdev_is_claimed(&d->bdev, NULL));

	/* Resize: grow is told to every descriptor; shrinking while open is refused. */
	g_resize_events = 0;
	CU_ASSERT(axon_bdev_notify_blockcnt_change(&d->bdev, UT_BLOCKCNT) == 0);
	ut_poll_threads();
	CU_ASSERT(g_resize_events == 2);
	CU_ASSERT(axon_bdev_notify_blockcnt_change(&d->bdev, UT_BLOCKCNT / 2) == -EBUSY);

	/* Unregister with two descriptors open: both hear; the bdev waits for both. */
	g_remove_events = 0;
	g_unreg_rc = 1;
	axon_bdev_unregister(&d->bdev, ut_unreg_done, NULL);
	CU_ASSERT(axon_bdev_open_ext("ut0", false, ut_event_cb, NULL, &wr) == -ENODEV);
	ut_poll_threads();
	CU_ASSERT(g_remove_events == 2);
	CU_ASSERT(g_unreg_rc == 1 && !d->destructed);
	axon_bdev_close(rd);
	ut_poll_threads();
	CU_ASSERT(g_unreg_rc == 1);
	axon_bdev_close(d2);
	ut_poll_threads();
	CU_ASSERT(g_unreg_rc == 0 && d->destructed);
	CU_ASSERT(axon_bdev_get_by_name("ut0") == NULL);
	ut_teardown();
	ut_disk_free(d);
	ut_disk_free(dup);
}

static void test_rw_two_threads(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc[3];
	struct axon_io_channel *ch[3];
	uint8_t wbuf[3][4 * UT_BLOCKLEN], rbuf[3][4 * UT_BLOCKLEN];
	struct ut_cpl c[3] = {{0}};
	struct axon_bdev_io_stat stat;

	ut_setup(3, 64, 8);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	for (int t = 1; t <= 2; t++) {
		ut_set_thread(t);
		CU_ASSERT_FATAL(axon_bdev_open_ext("ut0", true, ut_event_cb, NULL, &desc[t]) == 0);
		ch[t] = axon_bdev_get_io_channel(desc[t]);
		CU_ASSERT_FATAL(ch[t] != NULL);
		memset(wbuf[t], 0x10 + t, sizeof(wbuf[t]));
		CU_ASSERT(axon_bdev_write_blocks(desc[t], ch[t], wbuf[t], t * 8, 4, ut_io_done,
						 &c[t]) == 0);
		/* Completed inside submit: the callback waits for the poller. */
		CU_ASSERT(c[t].count == 0);
	}
	ut_poll_threads();
	CU_ASSERT(c[1].count == 1 && c[1].success && c[2].count == 1 && c[2].success);
	for (int t = 1; t <= 2; t++) {
		ut_set_thread(t);
		memset(rbuf[t], 0, sizeof(rbuf[t]));
		CU_ASSERT(axon_bdev_read(desc[t], ch[t], rbuf[t], t * 8 * UT_BLOCKLEN,
					 4 * UT_BLOCKLEN, ut_io_done, &c[t]) == 0);
	}
	ut_poll_threads();
	CU_ASSERT(memcmp(rbuf[1], wbuf[1], sizeof(wbuf[1])) == 0);
	CU_ASSERT(memcmp(rbuf[2], wbuf[2], sizeof(wbuf[2])) == 0);

	/* Bad arguments. */
	ut_set_thread(1);
	CU_ASSERT(axon_bdev_read_blocks(desc[1], ch[1], rbuf[1], UT_BLOCKCNT - 1, 2, ut_io_done,
					&c[1]) == -EINVAL);
	CU_ASSERT(axon_bdev_read_blocks(desc[1], ch[1], rbuf[1], 0, 0, ut_io_done, &c[1]) ==
		  -EINVAL);
	CU_ASSERT(axon_bdev_read(desc[1], ch[1], rbuf[1], 100, UT_BLOCKLEN, ut_io_done, &c[1]) ==
		  -EINVAL);
	CU_ASSERT(axon_bdev_nvme_io_passthru(desc[1], ch[1], (void *)wbuf, NULL, 0, ut_io_done,
					     &c[1]) == -ENOTSUP);

	/* A read-only descriptor cannot write. */
	ut_set_thread(0);
	CU_ASSERT_FATAL(axon_bdev_open_ext("ut0", false, ut_event_cb, NULL, &desc[0]) == 0);
	ch[0] = axon_bdev_get_io_channel(desc[0]);
	CU_ASSERT(axon_bdev_write_blocks(desc[0], ch[0], wbuf[0], 0, 1, ut_io_done, &c[0]) ==
		  -EBADF);
	/* A read with no buffer gets one from the layer. */
	c[0].keep = true;
	CU_ASSERT(axon_bdev_read_blocks(desc[0], ch[0], NULL, 16, 4, ut_io_done, &c[0]) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c[0].count == 1 && c[0].success && c[0].io != NULL);
	{
		struct iovec *iov;
		int iovcnt;

		axon_bdev_io_get_iovec(c[0].io, &iov, &iovcnt);
		CU_ASSERT(iovcnt == 1 && iov[0].iov_len == 4 * UT_BLOCKLEN);
		CU_ASSERT(((uintptr_t)iov[0].iov_base & (BDEV_BUF_ALIGN - 1)) == 0);
		CU_ASSERT(memcmp(iov[0].iov_base, wbuf[2], 4 * UT_BLOCKLEN) == 0);
		axon_bdev_free_io(c[0].io);
	}

	/* Per-channel and per-bdev statistics. */
	ut_set_thread(1);
	axon_bdev_get_io_stat(&d->bdev, ch[1], &stat);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].ops == 1);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].bytes == 4 * UT_BLOCKLEN);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_READ].ops == 1);
	ut_set_thread(0);
	g_dev_stat_rc = 1;
	axon_bdev_get_device_stat(&d->bdev, &stat, ut_dev_stat_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_dev_stat_rc == 0);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].ops == 2);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_READ].ops == 3);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_READ].bytes == 12 * UT_BLOCKLEN);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_READ].min_latency_ticks <=
		  stat.type[AXON_BDEV_IO_TYPE_READ].max_latency_ticks);
	for (int t = 0; t <= 2; t++) {
		ut_set_thread(t);
		axon_put_io_channel(ch[t]);
		axon_bdev_close(desc[t]);
	}
	ut_poll_threads();
	ut_teardown();
	ut_disk_free(d);
}

/* Open ut0 for writing on thread t, with a channel. */
static void ut_open(int t, const char *name, struct axon_bdev_desc **desc,
		    struct axon_io_channel **ch)
{
	ut_set_thread(t);
	CU_ASSERT_FATAL(axon_bdev_open_ext(name, true, ut_event_cb, NULL, desc) == 0);
	*ch = axon_bdev_get_io_channel(*desc);
	CU_ASSERT_FATAL(*ch != NULL);
}

static void ut_close(int t, struct axon_bdev_desc *desc, struct axon_io_channel *ch)
{
	ut_set_thread(t);
	axon_put_io_channel(ch);
	axon_bdev_close(desc);
	ut_poll_threads();
}

struct ut_waiter {
	struct axon_bdev_io_wait_entry entry;
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	uint8_t *buf;
	struct ut_cpl *cpl;
	int called;
	int rc;
};

static void ut_wait_cb(void *arg)
{
	struct ut_waiter *w = arg;

	w->called++;
	w->rc = axon_bdev_read_blocks(w->desc, w->ch, w->buf, 0, 1, ut_io_done, w->cpl);
}

static void test_io_wait(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch, *bch;
	uint8_t buf[UT_BLOCKLEN];
	struct ut_cpl c = {0};
	struct ut_waiter w = {0};
	int i, rc;

	ut_setup(1, 4, 2);
	d->inline_cpl = false;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(0, "ut0", &desc, &ch);
	bch = ut_backend_ch();
	for (i = 0; i < 10; i++) {
		rc = axon_bdev_read_blocks(desc, ch, buf, 0, 1, ut_io_done, &c);
		if (rc != 0) {
			break;
		}
	}
	CU_ASSERT(i == 4 && rc == -ENOMEM);
	/* Nothing waits while a bdev_io is free... */
	w.entry.bdev = &d->bdev;
	w.entry.cb_fn = ut_wait_cb;
	w.entry.cb_arg = &w;
	w.desc = desc;
	w.ch = ch;
	w.buf = buf;
	w.cpl = &c;
	CU_ASSERT(axon_bdev_queue_io_wait(&d->bdev, ch, &w.entry) == 0);
	ut_poll_threads();
	CU_ASSERT(w.called == 0);
	/* ...and the first free serves the waiter, which resubmits. */
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(c.count == 1 && w.called == 1 && w.rc == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 5);
	/* With a bdev_io in the cache, queueing is refused: submit instead. */
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(axon_bdev_queue_io_wait(&d->bdev, ch, &w.entry) == -EINVAL);
	ut_complete(bch, 10);
	ut_poll_threads();
	CU_ASSERT(c.count == 5);
	axon_put_io_channel(bch);
	ut_close(0, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_write_zeroes_emulation(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_RW);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	struct ut_cpl c = {0};
	struct axon_bdev_io_stat stat;
	bool zero = true;

	ut_setup(2, 64, 8);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	CU_ASSERT(axon_bdev_io_type_supported(&d->bdev, AXON_BDEV_IO_TYPE_WRITE_ZEROES));
	CU_ASSERT(!axon_bdev_io_type_supported(&d->bdev, AXON_BDEV_IO_TYPE_UNMAP));
	memset(d->data, 0xff, UT_BLOCKCNT * UT_BLOCKLEN);
	ut_open(1, "ut0", &desc, &ch);
	CU_ASSERT(axon_bdev_unmap_blocks(desc, ch, 0, 1, ut_io_done, &c) == -ENOTSUP);
	/* 300 blocks: two chunks of the zero buffer (256 + 44 blocks). */
	CU_ASSERT(axon_bdev_write_zeroes_blocks(desc, ch, 1, 300, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	for (uint32_t i = UT_BLOCKLEN; i < 301 * UT_BLOCKLEN; i++) {
		zero = zero && d->data[i] == 0;
	}
	CU_ASSERT(zero);
	CU_ASSERT(d->data[UT_BLOCKLEN - 1] == 0xff && d->data[301 * UT_BLOCKLEN] == 0xff);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 2);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE_ZEROES] == 0);
	axon_bdev_get_io_stat(&d->bdev, ch, &stat);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE_ZEROES].ops == 1);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE_ZEROES].bytes == 300 * UT_BLOCKLEN);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].ops == 0);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_compare_emulation(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_RW);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	static uint8_t pattern[300 * UT_BLOCKLEN], other[4 * UT_BLOCKLEN];
	struct iovec cmp_iov[2], wr_iov;
	struct ut_cpl c = {.keep = true}, c1 = {.keep = true}, c2 = {.keep = true};
	int sct, sc;

	ut_setup(2, 64, 8);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	for (size_t i = 0; i < sizeof(pattern); i++) {
		pattern[i] = (uint8_t)(i * 7);
	}
	memcpy(d->data, pattern, sizeof(pattern));
	ut_open(1, "ut0", &desc, &ch);

	/* Equal, over two chunks and a split iovec. */
	cmp_iov[0].iov_base = pattern;
	cmp_iov[0].iov_len = 1000;
	cmp_iov[1].iov_base = pattern + 1000;
	cmp_iov[1].iov_len = sizeof(pattern) - 1000;
	CU_ASSERT(axon_bdev_comparev_blocks(desc, ch, cmp_iov, 2, 0, 300, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 1 && c.io != NULL);
	CU_ASSERT(c.success);
	axon_bdev_free_io(c.io);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 2);

	/* Different in the last byte. */
	pattern[sizeof(pattern) - 1] ^= 1;
	CU_ASSERT(axon_bdev_comparev_blocks(desc, ch, cmp_iov, 2, 0, 300, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 2);
	CU_ASSERT(!c.success);
	axon_bdev_io_get_nvme_status(c.io, NULL, &sct, &sc);
	CU_ASSERT(sct == 2 && sc == 0x85);
	axon_bdev_free_io(c.io);
	pattern[sizeof(pattern) - 1] ^= 1;

	/* Compare-and-write: a match writes, a mismatch does not. */
	memset(other, 0xab, sizeof(other));
	wr_iov.iov_base = other;
	wr_iov.iov_len = sizeof(other);
	cmp_iov[0].iov_base = pattern;
	cmp_iov[0].iov_len = sizeof(other);
	CU_ASSERT(axon_bdev_comparev_and_writev_blocks(desc, ch, cmp_iov, 1, &wr_iov, 1, 0, 4,
						       ut_io_done, &c1) == 0);
	/* A second one on the same channel waits for the first. */
	CU_ASSERT(axon_bdev_comparev_and_writev_blocks(desc, ch, cmp_iov, 1, &wr_iov, 1, 0, 4,
						       ut_io_done, &c2) == 0);
	ut_poll_threads();
	CU_ASSERT(c1.count == 1 && c1.success);
	CU_ASSERT(memcmp(d->data, other, sizeof(other)) == 0);
	/* The second compared against the new data, and failed. */
	CU_ASSERT(c2.count == 1 && !c2.success);
	axon_bdev_io_get_nvme_status(c2.io, NULL, &sct, &sc);
	CU_ASSERT(sct == 2 && sc == 0x85);
	axon_bdev_free_io(c1.io);
	axon_bdev_free_io(c2.io);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_reset_in_flight(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch, *bch;
	uint8_t buf[2][UT_BLOCKLEN];
	struct ut_cpl w = {0}, r = {0}, rs = {0}, rs2 = {0};

	ut_setup(2, 64, 8);
	d->inline_cpl = false;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	bch = ut_backend_ch();
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf[0], 0, 1, ut_io_done, &w) == 0);
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf[1], 1, 1, ut_io_done, &w) == 0);
	CU_ASSERT(axon_bdev_reset(desc, ch, ut_io_done, &rs) == 0);
	ut_poll_threads();
	CU_ASSERT(d->bdev.internal->reset.state == RESET_DRAIN);
	/* New I/O waits in the layer while the bdev is frozen. */
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, buf[0], 0, 1, ut_io_done, &r) == 0);
	/* A second reset joins the first. */
	CU_ASSERT(axon_bdev_reset(desc, ch, ut_io_done, &rs2) == 0);
	for (int i = 0; i < 5; i++) {
		ut_ticks_advance(RESET_DRAIN_RETRY_US);
		ut_poll_threads();
	}
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_RESET] == 0);
	CU_ASSERT(rs.count == 0);
	/* The writes in flight complete: then the backend is reset. */
	ut_set_thread(1);
	CU_ASSERT(ut_complete(bch, 2) == 2);
	CU_ASSERT(w.count == 2 && w.success);
	ut_ticks_advance(RESET_DRAIN_RETRY_US);
	ut_poll_threads();
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_RESET] == 1);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 0);
	ut_set_thread(1);
	CU_ASSERT(ut_complete(bch, 1) == 1); /* the reset */
	ut_poll_threads();
	CU_ASSERT(rs.count == 1 && rs.success && rs2.count == 1 && rs2.success);
	/* Thawed: the read went down. */
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 1);
	ut_set_thread(1);
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(r.count == 1 && r.success);
	CU_ASSERT(d->bdev.internal->reset.state == RESET_IDLE);
	axon_put_io_channel(bch);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_hot_remove(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch, *bch;
	uint8_t buf[UT_BLOCKLEN];
	struct ut_cpl r = {0};

	ut_setup(2, 64, 8);
	d->inline_cpl = false;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	bch = ut_backend_ch();
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, buf, 0, 1, ut_io_done, &r) == 0);
	ut_poll_threads();

	g_remove_events = 0;
	g_unreg_rc = 1;
	g_close_on_remove = desc;
	g_put_on_remove = ch;
	ut_set_thread(0);
	axon_bdev_unregister(&d->bdev, ut_unreg_done, NULL);
	axon_bdev_unregister(&d->bdev, ut_unreg_done, NULL); /* twice: -EBUSY */
	CU_ASSERT(g_unreg_rc == -EBUSY);
	g_unreg_rc = 1;
	ut_poll_threads();
	/* The user closed everything, but the read is still in flight. */
	CU_ASSERT(g_remove_events == 1 && g_close_on_remove == NULL);
	CU_ASSERT(g_unreg_rc == 1 && !d->destructed);
	CU_ASSERT(r.count == 0);
	ut_set_thread(1);
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(r.count == 1 && r.success);
	ut_poll_threads();
	CU_ASSERT(g_unreg_rc == 0 && d->destructed);
	ut_set_thread(1);
	axon_put_io_channel(bch);
	ut_poll_threads();
	ut_teardown();
	ut_disk_free(d);
}

static void test_nomem_requeue(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	uint8_t buf[UT_BLOCKLEN] = {0x42};
	struct ut_cpl c = {0};

	ut_setup(2, 64, 8);
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	d->nomem_count = 2;
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf, 3, 1, ut_io_done, &c) == 0);
	for (int i = 0; i < 5; i++) {
		ut_ticks_advance(BDEV_NOMEM_RETRY_US);
		ut_poll_threads();
	}
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 3);
	CU_ASSERT(d->data[3 * UT_BLOCKLEN] == 0x42);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static uint64_t g_multi_bits;
static int g_multi_done;

static void ut_multi_done(uint64_t error_bits, void *arg)
{
	(void)arg;
	g_multi_bits = error_bits;
	g_multi_done++;
}

static void test_multi_region(void)
{
	struct ut_disk *d0 = ut_disk_new("ut0", UT_TYPES_ALL), *d1 = ut_disk_new("ut1", UT_TYPES_ALL);
	struct axon_bdev_desc *desc[2];
	struct axon_io_channel *ch[2];
	struct axon_bdev_region regions[2];
	struct axon_bdev_multi_io mio;
	uint8_t buf[4 * UT_BLOCKLEN], rbuf[4 * UT_BLOCKLEN];
	struct iovec iov = {buf, sizeof(buf)}, riov = {rbuf, sizeof(rbuf)};

	ut_setup(2, 64, 8);
	CU_ASSERT_FATAL(axon_bdev_register(&d0->bdev) == 0);
	CU_ASSERT_FATAL(axon_bdev_register(&d1->bdev) == 0);
	ut_open(1, "ut0", &desc[0], &ch[0]);
	ut_open(1, "ut1", &desc[1], &ch[1]);
	for (int i = 0; i < 2; i++) {
		regions[i].desc = desc[i];
		regions[i].ch = ch[i];
		regions[i].offset_blocks = 8;
		regions[i].num_blocks = 4;
	}
	memset(buf, 0x77, sizeof(buf));
	d1->fail_count = 1;
	g_multi_done = 0;
	CU_ASSERT(axon_bdev_multi_writev(&mio, regions, 2, &iov, 1, ut_multi_done, NULL) == 0);
	ut_poll_threads();
	CU_ASSERT(g_multi_done == 1 && g_multi_bits == 0x2);
	CU_ASSERT(memcmp(d0->data + 8 * UT_BLOCKLEN, buf, sizeof(buf)) == 0);
	CU_ASSERT(axon_bdev_multi_readv(&mio, &regions[0], &riov, 1, ut_multi_done, NULL) == 0);
	ut_poll_threads();
	CU_ASSERT(g_multi_done == 2 && g_multi_bits == 0);
	CU_ASSERT(memcmp(rbuf, buf, sizeof(buf)) == 0);
	regions[1].num_blocks = 2;
	CU_ASSERT(axon_bdev_multi_writev(&mio, regions, 2, &iov, 1, ut_multi_done, NULL) ==
		  -EINVAL);
	ut_close(1, desc[0], ch[0]);
	ut_close(1, desc[1], ch[1]);
	ut_teardown();
	ut_disk_free(d0);
	ut_disk_free(d1);
}

#include "bdev_data_ut.h"
#include "bdev_qos_ut.h"

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bdev", NULL, NULL);
	CU_add_test(suite, "register_open_close", test_register_open_close);
	CU_add_test(suite, "rw_two_threads", test_rw_two_threads);
	CU_add_test(suite, "io_wait", test_io_wait);
	CU_add_test(suite, "write_zeroes_emulation", test_write_zeroes_emulation);
	CU_add_test(suite, "compare_emulation", test_compare_emulation);
	CU_add_test(suite, "reset_in_flight", test_reset_in_flight);
	CU_add_test(suite, "hot_remove", test_hot_remove);
	CU_add_test(suite, "nomem_requeue", test_nomem_requeue);
	CU_add_test(suite, "multi_region", test_multi_region);
	data_ut_add_tests(suite);
	qos_ut_add_tests(suite);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
