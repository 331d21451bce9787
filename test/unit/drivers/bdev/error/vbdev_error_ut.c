/*
 * drivers/bdev/error unit tests, over a malloc base bdev and the real bdev
 * layer: creation and claims, pass-through data, failures (generic and with
 * an NVMe status), corruption of reads and writes, held (pending) I/O released
 * by a clear or aborted by a delete, NOMEM retried by the layer, the
 * queue-depth condition, removal of the base, parsing and save_config.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "drivers/bdev/error/vbdev_error.c"
#include "drivers/bdev/malloc/bdev_malloc.h"

#define BS 512u
#define NUM_BLOCKS 64u

struct cpl {
	int count;
	bool success;
	int sct;
	int sc;
};

static void io_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct cpl *c = arg;

	c->count++;
	c->success = success;
	axon_bdev_io_get_nvme_status(io, NULL, &c->sct, &c->sc);
	axon_bdev_free_io(io);
}

static int g_removed;

static void event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	struct axon_bdev_desc **desc = ctx;

	(void)bdev;
	if (type == AXON_BDEV_EVENT_REMOVE) {
		g_removed++;
		if (desc != NULL && *desc != NULL) {
			axon_bdev_close(*desc);
			*desc = NULL;
		}
	}
}

static int g_unreg_rc = 1;

static void unreg_done(void *arg, int rc)
{
	(void)arg;
	g_unreg_rc = rc;
}

/* Per test: thread 0 (app) and thread 1 (I/O), the bdev layer, a malloc
 * bdev "M0" and the error bdev "EE_M0" over it, opened on thread 1. */
static struct axon_bdev *g_base, *g_ee;
static struct axon_bdev_desc *g_desc;
static struct axon_io_channel *g_ch;
static uint8_t g_wbuf[8 * BS], g_rbuf[8 * BS];

static void setup(void)
{
	struct malloc_opts o = {.name = "M0", .num_blocks = NUM_BLOCKS, .block_size = BS};
	const char *param, *why;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	g_ut_mempool_leaked = 0;
	g_removed = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);
	CU_ASSERT_FATAL(malloc_disk_create(&o, &g_base, &param, &why) == 0);
	CU_ASSERT_FATAL(vbdev_error_create("M0", NULL, &g_ee) == 0);
	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_open_ext("EE_M0", true, event_cb, &g_desc, &g_desc) == 0);
	g_ch = axon_bdev_get_io_channel(g_desc);
	CU_ASSERT_FATAL(g_ch != NULL);
	for (size_t i = 0; i < sizeof(g_wbuf); i++) {
		g_wbuf[i] = (uint8_t)(i * 7 + 3);
	}
}

static void teardown(void)
{
	ut_set_thread(1);
	if (g_ch != NULL) {
		axon_put_io_channel(g_ch);
		g_ch = NULL;
	}
	if (g_desc != NULL) {
		axon_bdev_close(g_desc);
		g_desc = NULL;
	}
	ut_poll_threads();
	ut_set_thread(0);
	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_error_disks));
	CU_ASSERT(ut_threads_fini() == 0);
}

static void inject(const char *io_type, enum vbdev_error_type type, uint32_t num)
{
	struct vbdev_error_inject_opts o = {.error_type = type, .num = num};

	CU_ASSERT_FATAL(vbdev_error_parse_io_type(io_type, &o.io_type_mask) == 0);
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_inject("EE_M0", &o) == 0);
	ut_poll_threads();
	ut_set_thread(1);
}

static struct cpl do_io(bool write, void *buf, uint64_t off)
{
	struct cpl c = {0};
	int rc;

	rc = write ? axon_bdev_write_blocks(g_desc, g_ch, buf, off, 8, io_done, &c) :
		     axon_bdev_read_blocks(g_desc, g_ch, buf, off, 8, io_done, &c);
	CU_ASSERT(rc == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1);
	return c;
}

/* Read 8 blocks at off from the base directly (on thread 1). */
static void base_read(void *buf, uint64_t off)
{
	struct axon_bdev_desc *d;
	struct axon_io_channel *ch;
	struct cpl c = {0};

	CU_ASSERT_FATAL(axon_bdev_open_ext("M0", false, event_cb, NULL, &d) == 0);
	ch = axon_bdev_get_io_channel(d);
	CU_ASSERT_FATAL(ch != NULL);
	CU_ASSERT(axon_bdev_read_blocks(d, ch, buf, off, 8, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	axon_put_io_channel(ch);
	axon_bdev_close(d);
	ut_poll_threads();
}

static void test_parse(void)
{
	uint32_t mask;
	enum vbdev_error_type t;

	CU_ASSERT(vbdev_error_parse_io_type("read", &mask) == 0 &&
		  mask == 1u << AXON_BDEV_IO_TYPE_READ);
	CU_ASSERT(vbdev_error_parse_io_type("write_zeroes", &mask) == 0 &&
		  mask == 1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES);
	CU_ASSERT(vbdev_error_parse_io_type("clear", &mask) == 0 && mask == 0);
	CU_ASSERT(vbdev_error_parse_io_type("all", &mask) == 0 &&
		  (mask & (1u << AXON_BDEV_IO_TYPE_FLUSH)) != 0 && (mask & 1u) == 0);
	CU_ASSERT(vbdev_error_parse_io_type("reset2", &mask) == -EINVAL);
	CU_ASSERT(vbdev_error_parse_error_type("corrupt_data", &t) == 0 &&
		  t == VBDEV_ERROR_CORRUPT_DATA);
	CU_ASSERT(vbdev_error_parse_error_type("nomem", &t) == 0 && t == VBDEV_ERROR_NOMEM);
	CU_ASSERT(vbdev_error_parse_error_type("", &t) == -EINVAL);
}

static void test_create_claim_delete(void)
{
	struct axon_bdev_desc *d;
	const char *claimer = NULL;
	json_t *arr;

	setup();
	ut_set_thread(0);
	CU_ASSERT(strcmp(axon_bdev_get_name(g_ee), "EE_M0") == 0);
	CU_ASSERT(axon_bdev_get_num_blocks(g_ee) == NUM_BLOCKS);
	CU_ASSERT(axon_bdev_get_block_size(g_ee) == BS);
	CU_ASSERT(strcmp(axon_bdev_get_module_name(g_ee), "error") == 0);
	CU_ASSERT(axon_bdev_is_claimed(g_base, &claimer) && strcmp(claimer, "error") == 0);
	CU_ASSERT(axon_bdev_open_ext("M0", true, event_cb, NULL, &d) == -EPERM);
	CU_ASSERT(vbdev_error_create("M0", NULL, NULL) == -EPERM);
	CU_ASSERT(vbdev_error_create("Nope", NULL, NULL) == -ENODEV);
	CU_ASSERT(vbdev_error_inject("Nope", &(struct vbdev_error_inject_opts){0}) == -ENODEV);
	CU_ASSERT(vbdev_error_inject("M0", &(struct vbdev_error_inject_opts){0}) == -EINVAL);
	CU_ASSERT(vbdev_error_delete("M0", NULL, NULL) == -EINVAL);
	/* corrupt_data needs a value. */
	CU_ASSERT(vbdev_error_inject("EE_M0", &(struct vbdev_error_inject_opts){
		.io_type_mask = 2, .error_type = VBDEV_ERROR_CORRUPT_DATA, .num = 1}) == -EINVAL);

	/* save_config recreates it from its base. */
	arr = json_array();
	g_ee->fn_table->write_config_json(g_ee, arr);
	CU_ASSERT(json_array_size(arr) == 1);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(arr, 0), "method")),
			 "bdev_error_create") == 0);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_object_get(
			 json_array_get(arr, 0), "params"), "base_name")), "M0") == 0);
	json_decref(arr);

	/* Delete: the open descriptor hears REMOVE, the base is free again. */
	g_unreg_rc = 1;
	ut_set_thread(1);
	axon_put_io_channel(g_ch);
	g_ch = NULL;
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_delete("EE_M0", unreg_done, NULL) == 0);
	ut_poll_threads();
	CU_ASSERT(g_removed == 1 && g_desc == NULL);
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(axon_bdev_get_by_name("EE_M0") == NULL);
	CU_ASSERT(!axon_bdev_is_claimed(g_base, NULL));
	CU_ASSERT(axon_bdev_open_ext("M0", true, event_cb, NULL, &d) == 0);
	axon_bdev_close(d);
	teardown();
}

static void test_passthrough_and_failures(void)
{
	struct vbdev_error_inject_opts o = {.error_type = VBDEV_ERROR_FAILURE, .num = 1,
					    .nvme_status = true, .sct = 2, .sc = 0x81};
	struct cpl c;

	setup();
	c = do_io(true, g_wbuf, 8);
	CU_ASSERT(c.success);
	c = do_io(false, g_rbuf, 8);
	CU_ASSERT(c.success && memcmp(g_wbuf, g_rbuf, sizeof(g_wbuf)) == 0);

	inject("read", VBDEV_ERROR_FAILURE, 2);
	for (int i = 0; i < 2; i++) {
		c = do_io(false, g_rbuf, 8);
		CU_ASSERT(!c.success && c.sct == 0 && c.sc == 0x06);
	}
	c = do_io(false, g_rbuf, 8);
	CU_ASSERT(c.success);
	/* Writes were never hit. */
	c = do_io(true, g_wbuf, 0);
	CU_ASSERT(c.success);

	/* A chosen NVMe status, on every type ("all"): each type counts apart. */
	CU_ASSERT(vbdev_error_parse_io_type("all", &o.io_type_mask) == 0);
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_inject("EE_M0", &o) == 0);
	ut_set_thread(1);
	c = do_io(true, g_wbuf, 0);
	CU_ASSERT(!c.success && c.sct == 2 && c.sc == 0x81);
	c = do_io(false, g_rbuf, 0);
	CU_ASSERT(!c.success && c.sct == 2 && c.sc == 0x81);
	CU_ASSERT(do_io(true, g_wbuf, 0).success);
	CU_ASSERT(do_io(false, g_rbuf, 0).success);

	/* num 0 and "clear" turn injections off. */
	inject("write", VBDEV_ERROR_FAILURE, 5);
	inject("write", VBDEV_ERROR_FAILURE, 0);
	CU_ASSERT(do_io(true, g_wbuf, 0).success);
	inject("write", VBDEV_ERROR_FAILURE, 5);
	inject("clear", VBDEV_ERROR_FAILURE, 1);
	CU_ASSERT(do_io(true, g_wbuf, 0).success);
	teardown();
}

static void test_corruption(void)
{
	struct vbdev_error_inject_opts o = {.error_type = VBDEV_ERROR_CORRUPT_DATA, .num = 1,
					    .corrupt_offset = 100, .corrupt_value = 0x10};
	static uint8_t want[8 * BS], on_base[8 * BS];

	setup();
	memcpy(want, g_wbuf, sizeof(want));
	/* A write: the stored data is corrupted, the caller's buffer is not. */
	CU_ASSERT(vbdev_error_parse_io_type("write", &o.io_type_mask) == 0);
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_inject("EE_M0", &o) == 0);
	ut_set_thread(1);
	CU_ASSERT(do_io(true, g_wbuf, 16).success);
	CU_ASSERT(memcmp(g_wbuf, want, sizeof(want)) == 0);
	base_read(on_base, 16);
	CU_ASSERT(on_base[100] == (uint8_t)(want[100] ^ 0x10));
	on_base[100] ^= 0x10;
	CU_ASSERT(memcmp(on_base, want, sizeof(want)) == 0);

	/* A read: the returned data is corrupted, the stored data is not. The
	 * offset wraps at the I/O's length. */
	CU_ASSERT(do_io(true, g_wbuf, 16).success);
	o.io_type_mask = 1u << AXON_BDEV_IO_TYPE_READ;
	o.corrupt_offset = sizeof(want) + 5;
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_inject("EE_M0", &o) == 0);
	ut_set_thread(1);
	CU_ASSERT(do_io(false, g_rbuf, 16).success);
	CU_ASSERT(g_rbuf[5] == (uint8_t)(want[5] ^ 0x10));
	CU_ASSERT(do_io(false, g_rbuf, 16).success);
	CU_ASSERT(memcmp(g_rbuf, want, sizeof(want)) == 0);
	teardown();
}

static void test_pending_clear_and_delete(void)
{
	struct cpl c1 = {0}, c2 = {0};

	setup();
	CU_ASSERT(do_io(true, g_wbuf, 0).success);
	inject("read", VBDEV_ERROR_PENDING, 1);
	CU_ASSERT(axon_bdev_read_blocks(g_desc, g_ch, g_rbuf, 0, 8, io_done, &c1) == 0);
	ut_poll_threads();
	CU_ASSERT(c1.count == 0);
	/* Clear: the held read goes on to the base. */
	inject("clear", VBDEV_ERROR_FAILURE, 1);
	CU_ASSERT(c1.count == 1 && c1.success);
	CU_ASSERT(memcmp(g_wbuf, g_rbuf, sizeof(g_wbuf)) == 0);

	/* Delete with a held read: it is aborted, the bdev goes away. */
	inject("read", VBDEV_ERROR_PENDING, 1);
	CU_ASSERT(axon_bdev_read_blocks(g_desc, g_ch, g_rbuf, 0, 8, io_done, &c2) == 0);
	ut_poll_threads();
	CU_ASSERT(c2.count == 0);
	g_unreg_rc = 1;
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_delete("EE_M0", unreg_done, NULL) == 0);
	ut_poll_threads();
	CU_ASSERT(c2.count == 1 && !c2.success && c2.sc == 0x07);
	/* The descriptor was closed by event_cb; the channel still holds it. */
	CU_ASSERT(g_removed == 1);
	ut_set_thread(1);
	axon_put_io_channel(g_ch);
	g_ch = NULL;
	ut_poll_threads();
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(axon_bdev_get_by_name("EE_M0") == NULL);
	teardown();
}

static void test_nomem_is_retried(void)
{
	struct cpl c = {0};

	setup();
	CU_ASSERT(do_io(true, g_wbuf, 0).success);
	inject("read", VBDEV_ERROR_NOMEM, 3);
	CU_ASSERT(axon_bdev_read_blocks(g_desc, g_ch, g_rbuf, 0, 8, io_done, &c) == 0);
	for (int i = 0; i < 100 && c.count == 0; i++) {
		ut_poll_threads();
		ut_ticks_advance(1000);
	}
	CU_ASSERT(c.count == 1 && c.success);
	CU_ASSERT(atomic_load(&((struct error_disk *)g_ee->ctxt)->inject[1].num) == 0);
	CU_ASSERT(memcmp(g_wbuf, g_rbuf, sizeof(g_wbuf)) == 0);
	teardown();
}

static void test_queue_depth_condition(void)
{
	struct vbdev_error_inject_opts o = {.io_type_mask = 1u << AXON_BDEV_IO_TYPE_READ,
					    .error_type = VBDEV_ERROR_FAILURE, .num = 1,
					    .queue_depth = 2};
	static uint8_t b2[8 * BS];
	struct cpl c1 = {0}, c2 = {0};

	setup();
	ut_set_thread(0);
	CU_ASSERT(vbdev_error_inject("EE_M0", &o) == 0);
	ut_set_thread(1);
	/* Alone, a read is below the depth: not hit. */
	CU_ASSERT(do_io(false, g_rbuf, 0).success);
	/* Two at once: the second reaches depth 2 and fails. */
	CU_ASSERT(axon_bdev_read_blocks(g_desc, g_ch, g_rbuf, 0, 8, io_done, &c1) == 0);
	CU_ASSERT(axon_bdev_read_blocks(g_desc, g_ch, b2, 8, 8, io_done, &c2) == 0);
	ut_poll_threads();
	CU_ASSERT(c1.count == 1 && c1.success);
	CU_ASSERT(c2.count == 1 && !c2.success);
	teardown();
}

static void test_base_removed(void)
{
	setup();
	ut_set_thread(1);
	axon_put_io_channel(g_ch);
	g_ch = NULL;
	ut_set_thread(0);
	g_unreg_rc = 1;
	malloc_disk_delete(g_base, unreg_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_removed == 1);
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(axon_bdev_get_by_name("EE_M0") == NULL);
	CU_ASSERT(axon_bdev_get_by_name("M0") == NULL);
	teardown();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("vbdev_error", NULL, NULL);
	CU_ADD_TEST(suite, test_parse);
	CU_ADD_TEST(suite, test_create_claim_delete);
	CU_ADD_TEST(suite, test_passthrough_and_failures);
	CU_ADD_TEST(suite, test_corruption);
	CU_ADD_TEST(suite, test_pending_clear_and_delete);
	CU_ADD_TEST(suite, test_nomem_is_retried);
	CU_ADD_TEST(suite, test_queue_depth_condition);
	CU_ADD_TEST(suite, test_base_removed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}
