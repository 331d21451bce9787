/*
 * drivers/bdev/null unit tests: writes vanish, reads return zeroes (into the
 * caller's buffer or a layer buffer), resize with its events and limits.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "drivers/bdev/null/bdev_null.c"

struct cpl {
	int count;
	bool success;
	bool keep;
	struct axon_bdev_io *io;
};

static void io_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct cpl *c = arg;

	c->count++;
	c->success = success;
	if (c->keep) {
		c->io = io;
		return;
	}
	axon_bdev_free_io(io);
}

static int g_resize_events;

static void event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type == AXON_BDEV_EVENT_RESIZE) {
		g_resize_events++;
	}
}

static void test_null(void)
{
	struct null_opts o = {.name = "Null0", .num_blocks = 256, .block_size = 4096};
	static uint8_t buf[2 * 4096];
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	struct axon_bdev *b;
	const char *param, *why;
	struct cpl c = {0};
	struct iovec *iov;
	int iovcnt;
	bool zero = true;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	g_ut_mempool_leaked = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);

	o.block_size = 1000;
	CU_ASSERT(null_disk_create(&o, &b, &param, &why) == -EINVAL);
	CU_ASSERT(strcmp(param, "block_size") == 0);
	o.block_size = 4096;
	o.name = NULL;
	CU_ASSERT(null_disk_create(&o, &b, &param, &why) == -EINVAL);
	CU_ASSERT(strcmp(param, "name") == 0);
	o.name = "Null0";
	CU_ASSERT_FATAL(null_disk_create(&o, &b, &param, &why) == 0);
	CU_ASSERT(null_disk_create(&o, &b, &param, &why) == -EEXIST);

	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_open_ext("Null0", true, event_cb, NULL, &desc) == 0);
	ch = axon_bdev_get_io_channel(desc);
	memset(buf, 0xee, sizeof(buf));
	CU_ASSERT(axon_bdev_write_blocks(desc, ch, buf, 0, 2, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, buf, 0, 2, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && c.success);
	for (size_t i = 0; i < sizeof(buf); i++) {
		zero = zero && buf[i] == 0;
	}
	CU_ASSERT(zero);
	/* A read without a buffer gets zeroes in a layer buffer. */
	c.keep = true;
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, NULL, 4, 1, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 3 && c.io != NULL);
	axon_bdev_io_get_iovec(c.io, &iov, &iovcnt);
	CU_ASSERT(iovcnt == 1 && iov[0].iov_len == 4096 && ((uint8_t *)iov[0].iov_base)[4095] == 0);
	/* It is the shared zero buffer: no pool buffer, no memset per read. */
	CU_ASSERT(iov[0].iov_base == (void *)g_null_zero_buf);
	CU_ASSERT(c.io->internal.buf == NULL);
	axon_bdev_free_io(c.io);
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, NULL, 8, 32, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 4 && c.success && c.io != NULL);
	axon_bdev_io_get_iovec(c.io, &iov, &iovcnt);
	CU_ASSERT(iov[0].iov_base == (void *)g_null_zero_buf && iov[0].iov_len == 32 * 4096);
	axon_bdev_free_io(c.io);
	/* Longer than the zero buffer: the layer cannot supply it either. */
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, NULL, 8, 33, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT_FATAL(c.count == 5 && !c.success && c.io != NULL);
	axon_bdev_free_io(c.io);
	c.keep = false;

	/* Resize: 1 MiB -> 2 MiB grows (and tells the descriptor); shrinking
	 * while open is refused; a size that is not whole blocks too. */
	ut_set_thread(0);
	g_resize_events = 0;
	CU_ASSERT(null_disk_resize(b, 2) == 0);
	CU_ASSERT(axon_bdev_get_num_blocks(b) == 512);
	ut_poll_threads();
	CU_ASSERT(g_resize_events == 1);
	CU_ASSERT(null_disk_resize(b, 1) == -EBUSY);
	CU_ASSERT(null_disk_resize(b, 0) == -EINVAL);

	ut_set_thread(1);
	axon_put_io_channel(ch);
	axon_bdev_close(desc);
	ut_poll_threads();
	ut_set_thread(0);
	CU_ASSERT(null_disk_resize(b, 1) == 0);
	CU_ASSERT(axon_bdev_get_num_blocks(b) == 256);

	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(axon_bdev_get_by_name("Null0") == NULL);
	CU_ASSERT(ut_threads_fini() == 0);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bdev_null", NULL, NULL);
	CU_add_test(suite, "null", test_null);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
