/*
 * drivers/bdev/mirror unit tests, through the real lib/bdev: malloc legs for
 * data, claims and deletion; a "flaky" test backend (a RAM disk that fails
 * chosen I/O types on demand and can be hot-removed) for leg failures.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "drivers/bdev/malloc/bdev_malloc.c"
#include "drivers/bdev/malloc/bdev_malloc_rpc.c"
#include "drivers/bdev/mirror/bdev_mirror.c"
#include "drivers/bdev/mirror/bdev_mirror_io.c"
#include "drivers/bdev/mirror/bdev_mirror_rpc.c"
#include "lib/bdev/bdev_rpc.c"

#define BS 512u
#define NBLOCKS 64u

/* ---- the flaky backend ----------------------------------------------------------- */

struct flaky {
	struct axon_bdev bdev;
	uint8_t data[NBLOCKS * BS];
	uint32_t fail_types; /* bit per enum axon_bdev_io_type */
	uint32_t ops[AXON_BDEV_NUM_IO_TYPES];
};

static char g_flaky_dev;
static struct axon_bdev_module g_flaky_module;

static void flaky_copy(struct axon_bdev_io *io, bool to_disk)
{
	struct flaky *f = io->bdev->ctxt;
	uint8_t *p = f->data + io->u.bdev.offset_blocks * BS;

	for (int i = 0; i < io->u.bdev.iovcnt; i++) {
		if (to_disk) {
			memcpy(p, io->u.bdev.iovs[i].iov_base, io->u.bdev.iovs[i].iov_len);
		} else {
			memcpy(io->u.bdev.iovs[i].iov_base, p, io->u.bdev.iovs[i].iov_len);
		}
		p += io->u.bdev.iovs[i].iov_len;
	}
}

static void flaky_submit(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	struct flaky *f = io->bdev->ctxt;

	(void)ch;
	f->ops[io->type]++;
	if ((f->fail_types >> io->type) & 1) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (io->type == AXON_BDEV_IO_TYPE_READ || io->type == AXON_BDEV_IO_TYPE_WRITE) {
		flaky_copy(io, io->type == AXON_BDEV_IO_TYPE_WRITE);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static bool flaky_supported(void *ctx, enum axon_bdev_io_type type)
{
	(void)ctx;
	return type == AXON_BDEV_IO_TYPE_READ || type == AXON_BDEV_IO_TYPE_WRITE ||
	       type == AXON_BDEV_IO_TYPE_FLUSH || type == AXON_BDEV_IO_TYPE_RESET;
}

static struct axon_io_channel *flaky_get_ch(void *ctx)
{
	(void)ctx;
	return axon_get_io_channel(&g_flaky_dev);
}

static int flaky_destruct(void *ctx)
{
	free(ctx);
	return 0;
}

static const struct axon_bdev_fn_table g_flaky_fn = {
	.destruct = flaky_destruct,
	.submit_request = flaky_submit,
	.io_type_supported = flaky_supported,
	.get_io_channel = flaky_get_ch,
};

static int flaky_ch_create(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
	return 0;
}

static void flaky_ch_destroy(void *dev, void *ctx)
{
	(void)dev;
	(void)ctx;
}

static int flaky_init(void)
{
	axon_io_device_register(&g_flaky_dev, flaky_ch_create, flaky_ch_destroy, 0, "flaky");
	return 0;
}

static void flaky_fini(void)
{
	axon_io_device_unregister(&g_flaky_dev, NULL);
}

static struct axon_bdev_module g_flaky_module = {
	.name = "flaky",
	.module_init = flaky_init,
	.module_fini = flaky_fini,
};
AXON_BDEV_MODULE_REGISTER(flaky, &g_flaky_module)

static struct flaky *flaky_create(char *name, uint32_t bs, uint64_t blocks)
{
	struct flaky *f = calloc(1, sizeof(*f));

	f->bdev.ctxt = f;
	f->bdev.name = name;
	f->bdev.product_name = "Flaky disk";
	f->bdev.blocklen = bs;
	f->bdev.blockcnt = blocks;
	f->bdev.fn_table = &g_flaky_fn;
	f->bdev.module = &g_flaky_module;
	CU_ASSERT_FATAL(axon_bdev_register(&f->bdev) == 0);
	return f;
}

/* ---- harness ------------------------------------------------------------------------ */

struct cpl {
	int count;
	bool success;
};

static void io_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct cpl *c = arg;

	c->count++;
	c->success = success;
	axon_bdev_free_io(io);
}

static void event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	struct axon_bdev_desc **descp = ctx;

	(void)bdev;
	if (type == AXON_BDEV_EVENT_REMOVE && descp != NULL && *descp != NULL) {
		axon_bdev_close(*descp);
		*descp = NULL;
	}
}

static char *g_rpc_result;
static char *g_rpc_error;
static int g_rpc_done;

static void rpc_done(void *ctx, const json_t *result, const json_t *error)
{
	(void)ctx;
	free(g_rpc_result);
	free(g_rpc_error);
	g_rpc_result = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	g_rpc_error = error ? json_dumps(error, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	g_rpc_done++;
}

static void rpc(const char *method, const char *params)
{
	json_t *p = params ? json_loads(params, 0, NULL) : NULL;

	ut_set_thread(0);
	g_rpc_done = 0;
	axon_rpc_call_local(method, p, rpc_done, NULL);
	json_decref(p);
	ut_poll_threads();
	CU_ASSERT(g_rpc_done == 1);
}

static bool error_has(const char *text)
{
	bool ok = g_rpc_error != NULL && strstr(g_rpc_error, text) != NULL;

	if (!ok) {
		fprintf(stderr, "expected error with '%s', got %s\n", text,
			g_rpc_error ? g_rpc_error : "(none)");
	}
	return ok;
}

static bool result_has(const char *text)
{
	bool ok = g_rpc_result != NULL && strstr(g_rpc_result, text) != NULL;

	if (!ok) {
		fprintf(stderr, "expected result with '%s', got %s\n", text,
			g_rpc_result ? g_rpc_result : "(none)");
	}
	return ok;
}

static bool result_is_true(void)
{
	return g_rpc_result != NULL && strcmp(g_rpc_result, "true") == 0;
}

static void setup(void)
{
	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	g_ut_mempool_leaked = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);
	axon_rpc_set_state(AXON_RPC_RUNTIME);
}

static void teardown(void)
{
	ut_set_thread(0);
	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_mirrors));
	CU_ASSERT(ut_threads_fini() == 0);
	free(g_rpc_result);
	free(g_rpc_error);
	g_rpc_result = g_rpc_error = NULL;
}

static void malloc_leg(const char *name, uint32_t bs, uint64_t blocks)
{
	char p[128];

	snprintf(p, sizeof(p), "{\"name\":\"%s\",\"num_blocks\":%" PRIu64 ",\"block_size\":%u}",
		 name, blocks, bs);
	rpc("bdev_malloc_create", p);
	CU_ASSERT_FATAL(g_rpc_result != NULL);
}

/* An open mirror on thread 1. */
struct user {
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
};

static void user_open(struct user *u, const char *name)
{
	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_open_ext(name, true, event_cb, &u->desc, &u->desc) == 0);
	u->ch = axon_bdev_get_io_channel(u->desc);
	CU_ASSERT_FATAL(u->ch != NULL);
}

static void user_close(struct user *u)
{
	ut_set_thread(1);
	axon_put_io_channel(u->ch);
	if (u->desc != NULL) {
		axon_bdev_close(u->desc);
	}
	ut_poll_threads();
	ut_set_thread(0);
}

static bool user_write(struct user *u, void *buf, uint64_t off, uint64_t n)
{
	struct cpl c = {0};

	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_write_blocks(u->desc, u->ch, buf, off, n, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1);
	return c.success;
}

static bool user_read(struct user *u, void *buf, uint64_t off, uint64_t n)
{
	struct cpl c = {0};

	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_read_blocks(u->desc, u->ch, buf, off, n, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1);
	return c.success;
}

/* Read blocks of the bdev name directly (a claimed bdev opens read-only). */
static void leg_read(const char *name, void *buf, uint64_t off, uint64_t n)
{
	struct axon_bdev_desc *d;
	struct axon_io_channel *ch;
	struct cpl c = {0};

	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_open_ext(name, false, event_cb, NULL, &d) == 0);
	ch = axon_bdev_get_io_channel(d);
	CU_ASSERT(axon_bdev_read_blocks(d, ch, buf, off, n, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	axon_put_io_channel(ch);
	axon_bdev_close(d);
	ut_poll_threads();
}

static uint64_t g_stat_reads;

static void stat_done(struct axon_bdev *bdev, struct axon_bdev_io_stat *stat, void *arg, int rc)
{
	(void)bdev;
	(void)arg;
	CU_ASSERT(rc == 0);
	g_stat_reads = stat->type[AXON_BDEV_IO_TYPE_READ].ops;
}

static uint64_t leg_reads(const char *name)
{
	static struct axon_bdev_io_stat stat;

	ut_set_thread(0);
	g_stat_reads = UINT64_MAX;
	axon_bdev_get_device_stat(axon_bdev_get_by_name(name), &stat, stat_done, NULL);
	ut_poll_threads();
	return g_stat_reads;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(i * 7 + seed + i / BS);
	}
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_create_errors(void)
{
	setup();
	malloc_leg("A", BS, NBLOCKS);
	malloc_leg("B", BS, NBLOCKS);
	malloc_leg("C4k", 4096, NBLOCKS);

	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid0\",\"base_bdevs\":[\"A\",\"B\"]}");
	CU_ASSERT(error_has("raid_level: expected raid1"));
	CU_ASSERT(error_has("got raid0"));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"strip_size_kb\":64,"
	    "\"base_bdevs\":[\"A\",\"B\"]}");
	CU_ASSERT(error_has("strip_size_kb: expected 0 or absent for raid1"));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\",\"C4k\"]}");
	CU_ASSERT(error_has("leg C4k has 4096-byte blocks but the other legs have 512-byte blocks"));
	/* Nothing stays claimed after a refused create. */
	CU_ASSERT(!axon_bdev_is_claimed(axon_bdev_get_by_name("A"), NULL));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\"]}");
	CU_ASSERT(error_has("base_bdevs: a raid1 needs 2 to 8 legs, got 1"));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\",\"A\"]}");
	CU_ASSERT(error_has("base_bdevs: leg A is listed twice"));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":42}");
	CU_ASSERT(error_has("base_bdevs: expected an array of bdev names"));
	rpc("bdev_raid_create", "{\"name\":\"A\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"B\",\"C4k\"]}");
	CU_ASSERT(error_has("name: a bdev named A already exists"));
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\",\"B\"],"
	    "\"superblock\":true}");
	CU_ASSERT(error_has("superblock: expected false"));

	/* A space-separated string works; a second mirror cannot take the legs. */
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"raid1\",\"base_bdevs\":\"A B\"}");
	CU_ASSERT(result_is_true());
	rpc("bdev_raid_create", "{\"name\":\"r\",\"raid_level\":\"1\",\"base_bdevs\":[\"A\",\"B\"]}");
	CU_ASSERT(error_has("name: a bdev named r already exists"));
	rpc("bdev_raid_create", "{\"name\":\"r2\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"B\",\"X\"]}");
	CU_ASSERT(error_has("leg B is already claimed by module raid"));

	/* An unknown leg: configuring until it appears (SPDK's behaviour). */
	rpc("bdev_raid_create", "{\"name\":\"late\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"C4k\",\"D\"],"
	    "\"uuid\":\"01234567-89ab-cdef-0123-456789abcdef\"}");
	CU_ASSERT(result_is_true());
	CU_ASSERT(axon_bdev_get_by_name("late") == NULL);
	CU_ASSERT(axon_bdev_is_claimed(axon_bdev_get_by_name("C4k"), NULL));
	rpc("bdev_raid_get_bdevs", "{\"category\":\"configuring\"}");
	CU_ASSERT(result_has("\"name\":\"late\""));
	CU_ASSERT(result_has("\"state\":\"configuring\""));
	CU_ASSERT(result_has("\"num_base_bdevs_discovered\":1"));
	CU_ASSERT(result_has("\"name\":\"D\",\"is_configured\":false"));
	rpc("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	CU_ASSERT(result_has("\"name\":\"r\"") && strstr(g_rpc_result, "\"late\"") == NULL);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"bogus\"}");
	CU_ASSERT(error_has("category: expected one of all, online, configuring, offline"));
	/* save_config: the configuring mirror comes from the module, before bdevs. */
	{
		json_t *cfg = ut_subsystem("bdev")->config_json();
		const char *m1 = json_string_value(json_object_get(json_array_get(cfg, 1), "method"));
		char *text = json_dumps(cfg, JSON_COMPACT);

		CU_ASSERT(m1 != NULL && strcmp(m1, "bdev_raid_create") == 0);
		CU_ASSERT(strstr(text, "\"base_bdevs\":[\"C4k\",\"D\"]") != NULL);
		/* r comes after A and B. */
		CU_ASSERT(strstr(text, "\"name\":\"r\"") > strstr(text, "\"name\":\"B\""));
		free(text);
		json_decref(cfg);
	}
	malloc_leg("D", 4096, NBLOCKS / 2);
	CU_ASSERT(axon_bdev_get_by_name("late") != NULL);
	CU_ASSERT(axon_bdev_get_num_blocks(axon_bdev_get_by_name("late")) == NBLOCKS / 2);
	CU_ASSERT(axon_bdev_get_block_size(axon_bdev_get_by_name("late")) == 4096);
	rpc("bdev_get_bdevs", "{\"name\":\"late\"}");
	CU_ASSERT(result_has("\"driver_specific\":{\"raid\":"));
	CU_ASSERT(result_has("\"uuid\":\"01234567-89ab-cdef-0123-456789abcdef\""));
	CU_ASSERT(result_has("\"state\":\"online\""));
	CU_ASSERT(result_has("\"module\":\"raid\""));

	/* Delete: configuring mirrors at once; unknown names refused. */
	rpc("bdev_raid_create", "{\"name\":\"cfg\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"Y\",\"Z\"]}");
	CU_ASSERT(result_is_true());
	rpc("bdev_raid_delete", "{\"name\":\"cfg\"}");
	CU_ASSERT(result_is_true());
	rpc("bdev_raid_delete", "{\"name\":\"cfg\"}");
	CU_ASSERT(error_has("name: raid bdev cfg not found"));
	rpc("bdev_raid_delete", "{\"name\":\"r\"}");
	CU_ASSERT(result_is_true());
	CU_ASSERT(axon_bdev_get_by_name("r") == NULL);
	CU_ASSERT(!axon_bdev_is_claimed(axon_bdev_get_by_name("A"), NULL));
	/* "late" is left for shutdown. */
	teardown();
}

static void test_write_read(void)
{
	static uint8_t w[8 * BS], r[8 * BS], z[2 * BS];
	struct user u = {0};
	struct cpl c = {0};

	setup();
	malloc_leg("A", BS, NBLOCKS);
	malloc_leg("B", BS, NBLOCKS + 16);
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\",\"B\"]}");
	CU_ASSERT_FATAL(result_is_true());
	CU_ASSERT(axon_bdev_get_num_blocks(axon_bdev_get_by_name("m")) == NBLOCKS);
	user_open(&u, "m");

	/* A write lands on every leg. */
	fill(w, sizeof(w), 3);
	CU_ASSERT(user_write(&u, w, 8, 8));
	memset(r, 0, sizeof(r));
	leg_read("A", r, 8, 8);
	CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	memset(r, 0, sizeof(r));
	leg_read("B", r, 8, 8);
	CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);

	/* Reads alternate between the legs. */
	CU_ASSERT(leg_reads("A") == 1 && leg_reads("B") == 1);
	for (int i = 0; i < 4; i++) {
		memset(r, 0, sizeof(r));
		CU_ASSERT(user_read(&u, r, 8, 8));
		CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	}
	CU_ASSERT(leg_reads("A") == 3 && leg_reads("B") == 3);
	/* A read without a buffer gets one from the layer. */
	ut_set_thread(1);
	CU_ASSERT(axon_bdev_read_blocks(u.desc, u.ch, NULL, 8, 1, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);

	/* Write zeroes, unmap and flush go to every leg. */
	c.count = 0;
	ut_set_thread(1);
	CU_ASSERT(axon_bdev_write_zeroes_blocks(u.desc, u.ch, 8, 1, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_unmap_blocks(u.desc, u.ch, 9, 1, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_flush_blocks(u.desc, u.ch, 0, NBLOCKS, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_reset(u.desc, u.ch, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 4 && c.success);
	memset(z, 0xff, sizeof(z));
	leg_read("A", z, 8, 2);
	CU_ASSERT(z[0] == 0 && z[BS - 1] == 0 && z[BS] == 0 && z[2 * BS - 1] == 0);
	memset(z, 0xff, sizeof(z));
	leg_read("B", z, 8, 2);
	CU_ASSERT(z[0] == 0 && z[BS - 1] == 0 && z[BS] == 0 && z[2 * BS - 1] == 0);

	/* Claims: the legs cannot be deleted or opened for writing. */
	rpc("bdev_malloc_delete", "{\"name\":\"A\"}");
	CU_ASSERT(error_has("name: bdev A is in use by module raid"));
	{
		struct axon_bdev_desc *d;

		ut_set_thread(0);
		CU_ASSERT(axon_bdev_open_ext("B", true, event_cb, NULL, &d) == -EPERM);
	}
	rpc("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	CU_ASSERT(result_has("\"num_base_bdevs\":2"));
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":2"));
	CU_ASSERT(result_has("\"name\":\"A\",\"is_configured\":true"));
	CU_ASSERT(result_has("\"state\":\"healthy\""));
	CU_ASSERT(result_has("\"raid_level\":\"raid1\""));
	CU_ASSERT(result_has("\"data_size\":64"));

	user_close(&u);
	rpc("bdev_raid_delete", "{\"name\":\"m\"}");
	CU_ASSERT(result_is_true());
	rpc("bdev_malloc_delete", "{\"name\":\"A\"}");
	CU_ASSERT(result_is_true());
	teardown();
}

static void test_leg_fails_write(void)
{
	static uint8_t w[4 * BS], r[4 * BS];
	struct user u = {0};
	struct flaky *f;
	json_t *cfg;
	char *text;

	setup();
	malloc_leg("A", BS, NBLOCKS);
	f = flaky_create("F", BS, NBLOCKS);
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"F\",\"A\"]}");
	CU_ASSERT_FATAL(result_is_true());
	user_open(&u, "m");

	f->fail_types = 1u << AXON_BDEV_IO_TYPE_WRITE;
	fill(w, sizeof(w), 9);
	CU_ASSERT(user_write(&u, w, 0, 4));
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_WRITE] == 1);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":1"));
	CU_ASSERT(result_has("\"name\":\"F\",\"is_configured\":true"));
	CU_ASSERT(result_has("\"state\":\"failed\""));
	rpc("bdev_get_bdevs", "{\"name\":\"m\"}");
	CU_ASSERT(result_has("\"state\":\"failed\""));

	/* The failed leg is no longer written or read. */
	f->fail_types = 0;
	CU_ASSERT(user_write(&u, w, 4, 4));
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_WRITE] == 1);
	for (int i = 0; i < 3; i++) {
		memset(r, 0, sizeof(r));
		CU_ASSERT(user_read(&u, r, 4, 4));
		CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	}
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_READ] == 0);

	/* save_config keeps it failed. */
	cfg = json_array();
	axon_bdev_get_by_name("m")->fn_table->write_config_json(axon_bdev_get_by_name("m"), cfg);
	text = json_dumps(cfg, JSON_COMPACT);
	CU_ASSERT(strstr(text, "\"failed_base_bdevs\":[\"F\"]") != NULL);
	CU_ASSERT(strstr(text, "\"base_bdevs\":[\"F\",\"A\"]") != NULL);
	free(text);
	json_decref(cfg);

	user_close(&u);
	rpc("bdev_raid_delete", "{\"name\":\"m\"}");
	CU_ASSERT(result_is_true());

	/* Replaying it: F starts failed, the mirror is online without it. */
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"F\",\"A\"],"
	    "\"failed_base_bdevs\":[\"F\"]}");
	CU_ASSERT(result_is_true());
	rpc("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":1"));
	rpc("bdev_raid_create", "{\"name\":\"m2\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"P\",\"Q\"],"
	    "\"failed_base_bdevs\":[\"R\"]}");
	CU_ASSERT(error_has("failed_base_bdevs: R is not one of base_bdevs"));
	teardown();
}

static void test_read_retry(void)
{
	static uint8_t w[2 * BS], r[2 * BS];
	struct user u = {0};
	struct flaky *f;

	setup();
	f = flaky_create("F", BS, NBLOCKS);
	malloc_leg("A", BS, NBLOCKS);
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"F\",\"A\"]}");
	CU_ASSERT_FATAL(result_is_true());
	user_open(&u, "m");
	fill(w, sizeof(w), 1);
	CU_ASSERT(user_write(&u, w, 2, 2));

	/* The first read goes to F (leg 0), fails there, and A serves it. */
	f->fail_types = 1u << AXON_BDEV_IO_TYPE_READ;
	memset(r, 0, sizeof(r));
	CU_ASSERT(user_read(&u, r, 2, 2));
	CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_READ] == 1);
	CU_ASSERT(leg_reads("A") == 1);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":1"));
	/* And F is read no more. */
	CU_ASSERT(user_read(&u, r, 2, 2));
	CU_ASSERT(user_read(&u, r, 2, 2));
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_READ] == 1);
	user_close(&u);
	teardown();
}

static void test_last_leg(void)
{
	static uint8_t w[BS];
	struct user u = {0};
	struct flaky *f, *g;

	setup();
	f = flaky_create("F", BS, NBLOCKS);
	g = flaky_create("G", BS, NBLOCKS);
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"F\",\"G\"]}");
	CU_ASSERT_FATAL(result_is_true());
	user_open(&u, "m");

	/* Both legs fail the same write: it fails, they still agree. */
	f->fail_types = g->fail_types = 1u << AXON_BDEV_IO_TYPE_WRITE;
	CU_ASSERT(!user_write(&u, w, 0, 1));
	rpc("bdev_raid_get_bdevs", "{\"category\":\"all\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":2"));
	/* F fails alone: dropped. Then G, the last leg, fails: the I/O fails. */
	g->fail_types = 0;
	CU_ASSERT(user_write(&u, w, 0, 1));
	g->fail_types = 1u << AXON_BDEV_IO_TYPE_WRITE | 1u << AXON_BDEV_IO_TYPE_READ;
	CU_ASSERT(!user_write(&u, w, 0, 1));
	CU_ASSERT(!user_read(&u, w, 0, 1));
	CU_ASSERT(f->ops[AXON_BDEV_IO_TYPE_READ] == 0);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":1"));
	g->fail_types = 0;
	CU_ASSERT(user_write(&u, w, 0, 1));

	/* Hot-remove the last healthy leg, I/O channel open: offline, I/O fails. */
	ut_set_thread(0);
	axon_bdev_unregister(&g->bdev, NULL, NULL);
	ut_poll_threads();
	CU_ASSERT(axon_bdev_get_by_name("G") == NULL);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"offline\"}");
	CU_ASSERT(result_has("\"name\":\"m\""));
	CU_ASSERT(result_has("\"name\":\"G\",\"is_configured\":false"));
	CU_ASSERT(result_has("\"state\":\"removed\""));
	CU_ASSERT(!user_write(&u, w, 0, 1));
	CU_ASSERT(!user_read(&u, w, 0, 1));
	user_close(&u);
	teardown();
}

static void test_hot_remove(void)
{
	static uint8_t w[4 * BS], r[4 * BS];
	struct user u = {0};
	struct flaky *f;

	setup();
	malloc_leg("A", BS, NBLOCKS);
	f = flaky_create("F", BS, NBLOCKS);
	rpc("bdev_raid_create", "{\"name\":\"m\",\"raid_level\":\"raid1\",\"base_bdevs\":[\"A\",\"F\"]}");
	CU_ASSERT_FATAL(result_is_true());
	user_open(&u, "m");
	fill(w, sizeof(w), 5);
	CU_ASSERT(user_write(&u, w, 0, 4));

	/* F goes away while the mirror's channel holds a channel to it. */
	ut_set_thread(0);
	axon_bdev_unregister(&f->bdev, NULL, NULL);
	ut_poll_threads();
	CU_ASSERT(axon_bdev_get_by_name("F") == NULL);
	rpc("bdev_raid_get_bdevs", "{\"category\":\"online\"}");
	CU_ASSERT(result_has("\"num_base_bdevs_discovered\":1"));
	CU_ASSERT(result_has("\"num_base_bdevs_operational\":1"));
	CU_ASSERT(result_has("\"state\":\"removed\""));
	for (int i = 0; i < 3; i++) {
		memset(r, 0, sizeof(r));
		CU_ASSERT(user_read(&u, r, 0, 4));
		CU_ASSERT(memcmp(r, w, sizeof(w)) == 0);
	}
	CU_ASSERT(user_write(&u, w, 4, 4));
	/* A flaky leg with the same name does not rejoin (no rebuild). */
	f = flaky_create("F", BS, NBLOCKS);
	CU_ASSERT(!axon_bdev_is_claimed(&f->bdev, NULL));
	user_close(&u);
	rpc("bdev_raid_delete", "{\"name\":\"m\"}");
	CU_ASSERT(result_is_true());
	teardown();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bdev_mirror", NULL, NULL);
	CU_add_test(suite, "create_errors", test_create_errors);
	CU_add_test(suite, "write_read", test_write_read);
	CU_add_test(suite, "leg_fails_write", test_leg_fails_write);
	CU_add_test(suite, "read_retry", test_read_retry);
	CU_add_test(suite, "last_leg", test_last_leg);
	CU_add_test(suite, "hot_remove", test_hot_remove);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
