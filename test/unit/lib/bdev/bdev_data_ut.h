/*
 * lib/bdev unit tests of the data path: bounce buffers, splitting at
 * boundaries and limits (with io_wait when the pool runs dry), and
 * memory-domain pull/push through a test domain that completes later.
 * Included by bdev_ut.c (uses its test backend and helpers).
 */
#include "axon/dma.h"

/* A disk with n blocks of a pattern derived from seed. */
static void ut_fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 13 + i / 512);
	}
}

static uint8_t g_aligned_buf[UT_BLOCKLEN] __attribute__((aligned(4096)));

static void test_bounce_misaligned(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	static uint8_t wbuf[310 * UT_BLOCKLEN + 64], rbuf[310 * UT_BLOCKLEN + 64];
	struct iovec riov[2];
	struct ut_cpl c = {0};

	ut_setup(2, 64, 8);
	d->bdev.required_alignment = 12; /* 4 KiB */
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	ut_fill(wbuf, sizeof(wbuf), 1);

	/* One misaligned buffer: written through a bounce buffer. */
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, wbuf + 1, 5, 2, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(memcmp(d->data + 5 * UT_BLOCKLEN, wbuf + 1, 2 * UT_BLOCKLEN) == 0);
	/* Read back into two misaligned pieces. */
	memset(rbuf, 0, sizeof(rbuf));
	riov[0].iov_base = rbuf + 3;
	riov[0].iov_len = 700;
	riov[1].iov_base = rbuf + 3 + 700 + 5;
	riov[1].iov_len = 2 * UT_BLOCKLEN - 700;
	CU_ASSERT(axon_bdev_readv_blocks(desc, ch, riov, 2, 5, 2, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && c.success);
	CU_ASSERT(memcmp(rbuf + 3, wbuf + 1, 700) == 0);
	CU_ASSERT(memcmp(rbuf + 708, wbuf + 701, 2 * UT_BLOCKLEN - 700) == 0);

	/* Longer than one staging buffer (300 blocks = 150 KiB): staged in
	 * pieces, completing later. */
	d->inline_cpl = false;
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, wbuf + 7, 10, 300, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 2);
	{
		struct axon_io_channel *bch = ut_backend_ch();

		while (ut_complete(bch, 1) == 1) {
			ut_poll_threads();
		}
		axon_put_io_channel(bch);
	}
	ut_poll_threads();
	CU_ASSERT(c.count == 3 && c.success);
	CU_ASSERT(memcmp(d->data + 10 * UT_BLOCKLEN, wbuf + 7, 300 * UT_BLOCKLEN) == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 3); /* 2 + 256 + 44 blocks */
	/* Aligned: no bounce, the backend sees the user's buffer. */
	d->inline_cpl = true;
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, g_aligned_buf, 0, 1, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 4 && c.success);
	CU_ASSERT(d->violations == 0);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_split_boundary(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	static uint8_t wbuf[40 * UT_BLOCKLEN], rbuf[40 * UT_BLOCKLEN];
	struct iovec iov[3];
	struct ut_cpl c = {0};
	struct axon_bdev_io_stat stat;

	ut_setup(2, 64, 8);
	d->bdev.optimal_io_boundary = 16;
	d->bdev.split_on_optimal_io_boundary = true;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	ut_fill(wbuf, sizeof(wbuf), 2);
	/* Blocks 10..49 in three iovecs that do not end on a child's edge:
	 * children 10-15, 16-31, 32-47, 48-49. */
	iov[0].iov_base = wbuf;
	iov[0].iov_len = 1000;
	iov[1].iov_base = wbuf + 1000;
	iov[1].iov_len = 7000;
	iov[2].iov_base = wbuf + 8000;
	iov[2].iov_len = sizeof(wbuf) - 8000;
	CU_ASSERT(axon_bdev_writev_blocks(desc, ch, iov, 3, 10, 40, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 4);
	CU_ASSERT(memcmp(d->data + 10 * UT_BLOCKLEN, wbuf, sizeof(wbuf)) == 0);
	/* Within one boundary: not split. */
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, rbuf, 16, 16, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 1);
	/* A read without a buffer, split: one layer buffer for the parent. */
	c.keep = true;
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, NULL, 10, 40, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 3 && c.success && c.io != NULL);
	{
		struct iovec *v;
		int n;

		axon_bdev_io_get_iovec(c.io, &v, &n);
		CU_ASSERT(n == 1 && v[0].iov_len == sizeof(wbuf));
		CU_ASSERT(memcmp(v[0].iov_base, wbuf, sizeof(wbuf)) == 0);
		axon_bdev_free_io(c.io);
	}
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_READ] == 5);
	CU_ASSERT(d->violations == 0);
	/* Statistics count the user's I/O, not the children. */
	axon_bdev_get_io_stat(&d->bdev, ch, &stat);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].ops == 1);
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_WRITE].bytes == sizeof(wbuf));
	CU_ASSERT(stat.type[AXON_BDEV_IO_TYPE_READ].ops == 2);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_split_limits(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	static uint8_t wbuf[24 * UT_BLOCKLEN], rbuf[24 * UT_BLOCKLEN];
	struct iovec iov[16], riov = {rbuf, sizeof(rbuf)};
	struct ut_cpl c = {0};

	ut_setup(2, 64, 8);
	d->bdev.max_rw_size = 8;
	d->bdev.max_segment_size = 1024;
	d->bdev.max_num_segments = 3;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	ut_fill(wbuf, sizeof(wbuf), 3);
	/* 24 blocks in one buffer: children of 3 x 1 KiB segments = 6 blocks. */
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, wbuf, 0, 24, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 4);
	CU_ASSERT(memcmp(d->data, wbuf, sizeof(wbuf)) == 0);
	CU_ASSERT(axon_bdev_readv_blocks(desc, ch, &riov, 1, 0, 24, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && c.success && memcmp(rbuf, wbuf, sizeof(rbuf)) == 0);

	/* One segment per I/O, but every block spread over two 256-byte iovecs:
	 * the children gather through a bounce buffer. */
	d->bdev.max_num_segments = 1;
	d->bdev.max_rw_size = 0;
	for (int i = 0; i < 16; i++) {
		iov[i].iov_base = wbuf + 4096 + i * 256;
		iov[i].iov_len = 256;
	}
	CU_ASSERT(axon_bdev_writev_blocks(desc, ch, iov, 16, 100, 8, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 3 && c.success);
	CU_ASSERT(memcmp(d->data + 100 * UT_BLOCKLEN, wbuf + 4096, 8 * UT_BLOCKLEN) == 0);
	memset(rbuf, 0, sizeof(rbuf));
	for (int i = 0; i < 16; i++) {
		iov[i].iov_base = rbuf + i * 256;
	}
	CU_ASSERT(axon_bdev_readv_blocks(desc, ch, iov, 16, 100, 8, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 4 && c.success);
	CU_ASSERT(memcmp(rbuf, wbuf + 4096, 8 * UT_BLOCKLEN) == 0);
	/* Buffers shorter than the I/O fail it (when the layer cuts it). */
	iov[0].iov_len = 100;
	iov[1].iov_len = 100;
	CU_ASSERT(axon_bdev_readv_blocks(desc, ch, iov, 2, 0, 1, ut_io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 5 && !c.success);
	CU_ASSERT(d->violations == 0);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

/* The I/O waiting in the test backend's channel, oldest first. */
static struct axon_bdev_io *ut_pending(struct axon_io_channel *bch, int i)
{
	struct ut_channel *uch = axon_io_channel_get_ctx(bch);
	struct axon_bdev_io *io = TAILQ_FIRST(&uch->pending);

	while (io != NULL && i-- > 0) {
		io = TAILQ_NEXT(io, module_link);
	}
	return io;
}

static void ut_complete_one(struct axon_io_channel *bch, struct axon_bdev_io *io, int sc)
{
	struct ut_channel *uch = axon_io_channel_get_ctx(bch);

	TAILQ_REMOVE(&uch->pending, io, module_link);
	uch->count--;
	axon_bdev_io_complete_nvme_status(io, 0, 0, sc);
}

static void test_split_first_error(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch, *bch;
	static uint8_t buf[40 * UT_BLOCKLEN];
	struct ut_cpl c = {.keep = true};
	int sct, sc;

	ut_setup(2, 64, 8);
	d->inline_cpl = false;
	d->bdev.max_rw_size = 4;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	bch = ut_backend_ch();
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf, 0, 16, ut_io_done, &c) == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 4);
	/* The third child fails first, then the first: the third's status wins. */
	ut_complete_one(bch, ut_pending(bch, 2), 0x80);
	ut_complete_one(bch, ut_pending(bch, 0), 0x81);
	ut_complete_one(bch, ut_pending(bch, 0), 0);
	CU_ASSERT(c.count == 0);
	ut_complete_one(bch, ut_pending(bch, 0), 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 1 && !c.success);
	axon_bdev_io_get_nvme_status(c.io, NULL, &sct, &sc);
	CU_ASSERT(sct == 0 && sc == 0x80);
	axon_bdev_free_io(c.io);

	/* After a failure, no further child is issued: of 40 children, only
	 * BDEV_SPLIT_MAX_CHILDREN go at once; one fails, the others drain. */
	d->bdev.max_rw_size = 1;
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf, 0, 40, ut_io_done, &c) == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 4 + BDEV_SPLIT_MAX_CHILDREN);
	ut_complete_one(bch, ut_pending(bch, 0), 0x81);
	ut_complete(bch, 100);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && !c.success);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 4 + BDEV_SPLIT_MAX_CHILDREN);
	axon_bdev_free_io(c.io);
	axon_put_io_channel(bch);
	ut_close(1, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

static void test_split_io_wait(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch, *bch;
	static uint8_t buf[12 * UT_BLOCKLEN];
	struct ut_cpl c = {0}, r = {0};

	/* Four bdev_ios in all. */
	ut_setup(1, 4, 2);
	d->inline_cpl = false;
	d->bdev.max_rw_size = 1;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(0, "ut0", &desc, &ch);
	bch = ut_backend_ch();
	ut_fill(buf, sizeof(buf), 4);
	/* Three reads hold three bdev_ios; the parent takes the last one and
	 * finds none for a child: it waits. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(axon_bdev_read_blocks(desc, ch, buf, 100, 1, ut_io_done, &r) == 0);
	}
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf, 0, 12, ut_io_done, &c) == 0);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 0);
	/* A read completes: its bdev_io goes to the waiting parent. */
	CU_ASSERT(ut_complete(bch, 1) == 1);
	CU_ASSERT(r.count == 1 && d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 1);
	for (int i = 0; i < 100 && c.count == 0; i++) {
		ut_complete(bch, 1);
		ut_poll_threads();
	}
	CU_ASSERT(c.count == 1 && c.success && r.count == 3);
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 12);
	CU_ASSERT(memcmp(d->data, buf, sizeof(buf)) == 0);
	axon_put_io_channel(bch);
	ut_close(0, desc, ch);
	ut_teardown();
	ut_disk_free(d);
}

/* ---- a memory domain that completes later ---------------------------------------- */

struct ut_dma_req {
	bool pull;
	const struct iovec *src, *dst;
	uint32_t src_cnt, dst_cnt;
	axon_memory_domain_data_cpl_cb cpl;
	void *arg;
};

static struct ut_dma_req g_dma_reqs[8];
static int g_dma_count;
static int g_dma_pulls, g_dma_pushes;
static int g_dma_fail; /* the next request completes with -EIO */

static void ut_dma_copy(const struct iovec *dst, uint32_t dcnt, const struct iovec *src,
			uint32_t scnt)
{
	uint32_t di = 0;
	size_t doff = 0;

	for (uint32_t si = 0; si < scnt; si++) {
		size_t soff = 0;

		while (soff < src[si].iov_len && di < dcnt) {
			size_t n = AXON_MIN(src[si].iov_len - soff, dst[di].iov_len - doff);

			memcpy((uint8_t *)dst[di].iov_base + doff,
			       (const uint8_t *)src[si].iov_base + soff, n);
			soff += n;
			doff += n;
			if (doff == dst[di].iov_len) {
				di++;
				doff = 0;
			}
		}
	}
}

static int ut_dma_queue(bool pull, const struct iovec *src, uint32_t scnt,
			const struct iovec *dst, uint32_t dcnt, axon_memory_domain_data_cpl_cb cpl,
			void *arg)
{
	struct ut_dma_req *r;

	if (g_dma_count == (int)AXON_COUNTOF(g_dma_reqs)) {
		return -ENOMEM;
	}
	r = &g_dma_reqs[g_dma_count++];
	*r = (struct ut_dma_req){pull, src, dst, scnt, dcnt, cpl, arg};
	if (pull) {
		g_dma_pulls++;
	} else {
		g_dma_pushes++;
	}
	return 0;
}

static int ut_dma_pull(struct axon_memory_domain *d, void *ctx, const struct iovec *src,
		       uint32_t scnt, const struct iovec *dst, uint32_t dcnt,
		       axon_memory_domain_data_cpl_cb cpl, void *arg)
{
	(void)d;
	CU_ASSERT(ctx == &g_dma_reqs);
	return ut_dma_queue(true, src, scnt, dst, dcnt, cpl, arg);
}

static int ut_dma_push(struct axon_memory_domain *d, void *ctx, const struct iovec *dst,
		       uint32_t dcnt, const struct iovec *src, uint32_t scnt,
		       axon_memory_domain_data_cpl_cb cpl, void *arg)
{
	(void)d;
	CU_ASSERT(ctx == &g_dma_reqs);
	return ut_dma_queue(false, src, scnt, dst, dcnt, cpl, arg);
}

/* Complete every queued pull and push (and those they cause); returns how many. */
static int ut_dma_complete_all(void)
{
	int n = 0;

	while (g_dma_count > 0) {
		struct ut_dma_req r = g_dma_reqs[0];
		int rc = 0;

		memmove(&g_dma_reqs[0], &g_dma_reqs[1], --g_dma_count * sizeof(r));
		if (g_dma_fail > 0) {
			g_dma_fail--;
			rc = -EIO;
		} else {
			ut_dma_copy(r.dst, r.dst_cnt, r.src, r.src_cnt);
		}
		r.cpl(r.arg, rc);
		n++;
		ut_poll_threads();
	}
	return n;
}

static void test_memory_domain_pull_push(void)
{
	struct ut_disk *d = ut_disk_new("ut0", UT_TYPES_ALL);
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	struct axon_memory_domain *dom = NULL;
	static uint8_t wbuf[300 * UT_BLOCKLEN], rbuf[300 * UT_BLOCKLEN];
	struct iovec wiov[2], riov;
	struct axon_bdev_ext_io_opts opts = {.size = sizeof(opts), .memory_domain_ctx = &g_dma_reqs};
	struct ut_cpl c = {0};

	ut_setup(2, 64, 8);
	CU_ASSERT_FATAL(axon_memory_domain_create(&dom, AXON_DMA_DEVICE_TYPE_DMA, NULL,
						  "ut_dma") == 0);
	axon_memory_domain_set_pull(dom, ut_dma_pull);
	axon_memory_domain_set_push(dom, ut_dma_push);
	opts.memory_domain = dom;
	g_dma_count = g_dma_pulls = g_dma_pushes = g_dma_fail = 0;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	ut_fill(wbuf, sizeof(wbuf), 5);

	/* Write: pulled into a layer buffer first; the backend waits for it. */
	wiov[0].iov_base = wbuf;
	wiov[0].iov_len = 1536;
	wiov[1].iov_base = wbuf + 1536;
	wiov[1].iov_len = 2560;
	CU_ASSERT(axon_bdev_writev_blocks_ext(desc, ch, wiov, 2, 4, 8, ut_io_done, &c, &opts) ==
		  0);
	ut_poll_threads();
	CU_ASSERT(g_dma_pulls == 1 && d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 0);
	CU_ASSERT(ut_dma_complete_all() == 1);
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(memcmp(d->data + 4 * UT_BLOCKLEN, wbuf, 8 * UT_BLOCKLEN) == 0);

	/* Read: the user's callback waits for the push. */
	memset(rbuf, 0, sizeof(rbuf));
	riov.iov_base = rbuf;
	riov.iov_len = 8 * UT_BLOCKLEN;
	CU_ASSERT(axon_bdev_readv_blocks_ext(desc, ch, &riov, 1, 4, 8, ut_io_done, &c, &opts) ==
		  0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && g_dma_pushes == 1);
	CU_ASSERT(ut_dma_complete_all() == 1);
	CU_ASSERT(c.count == 2 && c.success);
	CU_ASSERT(memcmp(rbuf, wbuf, 8 * UT_BLOCKLEN) == 0);

	/* Longer than a staging buffer: each child pulls its own part. */
	riov.iov_base = wbuf;
	riov.iov_len = sizeof(wbuf);
	CU_ASSERT(axon_bdev_writev_blocks_ext(desc, ch, &riov, 1, 0, 300, ut_io_done, &c,
					      &opts) == 0);
	ut_poll_threads();
	CU_ASSERT(ut_dma_complete_all() == 2);
	CU_ASSERT(c.count == 3 && c.success);
	CU_ASSERT(memcmp(d->data, wbuf, sizeof(wbuf)) == 0);

	/* A failed pull fails the write, which never reaches the backend. */
	g_dma_fail = 1;
	riov.iov_len = UT_BLOCKLEN;
	CU_ASSERT(axon_bdev_writev_blocks_ext(desc, ch, &riov, 1, 0, 1, ut_io_done, &c, &opts) ==
		  0);
	ut_poll_threads();
	CU_ASSERT(d->submitted[AXON_BDEV_IO_TYPE_WRITE] == 3);
	ut_dma_complete_all();
	CU_ASSERT(c.count == 4 && !c.success);
	ut_close(1, desc, ch);

	/* A backend that reaches the domain gets the I/O as it is. */
	d->domain = dom;
	CU_ASSERT_FATAL(axon_bdev_unregister_by_name("ut0", &g_ut_module, NULL, NULL) == 0);
	ut_poll_threads();
	d->destructed = false;
	CU_ASSERT_FATAL(axon_bdev_register(&d->bdev) == 0);
	ut_open(1, "ut0", &desc, &ch);
	riov.iov_len = 2 * UT_BLOCKLEN;
	CU_ASSERT(axon_bdev_readv_blocks_ext(desc, ch, &riov, 1, 0, 2, ut_io_done, &c, &opts) ==
		  0);
	ut_poll_threads();
	CU_ASSERT(c.count == 5 && c.success && g_dma_count == 0);
	CU_ASSERT(g_dma_pulls == 4 && g_dma_pushes == 1);
	CU_ASSERT(d->violations == 0);
	ut_close(1, desc, ch);
	ut_teardown();
	axon_memory_domain_destroy(dom);
	ut_disk_free(d);
}

static void data_ut_add_tests(CU_pSuite suite)
{
	CU_add_test(suite, "bounce_misaligned", test_bounce_misaligned);
	CU_add_test(suite, "split_boundary", test_split_boundary);
	CU_add_test(suite, "split_limits", test_split_limits);
	CU_add_test(suite, "split_first_error", test_split_first_error);
	CU_add_test(suite, "split_io_wait", test_split_io_wait);
	CU_add_test(suite, "memory_domain_pull_push", test_memory_domain_pull_push);
}
