/*
 * drivers/bdev/malloc unit tests: creation checks, data round trips through
 * the bdev layer (every I/O type the driver has, plus the layer's compare
 * emulation), separate metadata, save_config output and deletion.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "drivers/bdev/malloc/bdev_malloc.c"
#include "drivers/bdev/malloc/bdev_malloc_rpc.c"
#include "lib/bdev/bdev_rpc.c"

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
	(void)type;
	(void)bdev;
	(void)ctx;
}

static int g_unreg_rc = 1;

static void unreg_done(void *arg, int rc)
{
	(void)arg;
	g_unreg_rc = rc;
}

static void setup(void)
{
	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	g_ut_mempool_leaked = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);
}

static void teardown(void)
{
	ut_set_thread(0);
	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_create_checks(void)
{
	struct malloc_opts o = {.num_blocks = 16, .block_size = 1000};
	struct axon_bdev *b, *b2;
	const char *param, *why;
	char uuid[AXON_UUID_STRING_LEN];

	setup();
	CU_ASSERT(malloc_disk_create(&o, &b, &param, &why) == -EINVAL);
	CU_ASSERT(strcmp(param, "block_size") == 0);
	CU_ASSERT(strcmp(why, "a power of two between 512 and 4096") == 0);
	o.block_size = 8192;
	CU_ASSERT(malloc_disk_create(&o, &b, &param, &why) == -EINVAL);
	o.block_size = 4096;
	o.md_size = 7;
	CU_ASSERT(malloc_disk_create(&o, &b, &param, &why) == -EINVAL);
	CU_ASSERT(strcmp(param, "md_size") == 0);
	o.md_size = 0;
	o.num_blocks = 0;
	CU_ASSERT(malloc_disk_create(&o, &b, &param, &why) == -EINVAL);
	CU_ASSERT(strcmp(param, "num_blocks") == 0);

	/* No name: MallocN; a given UUID is kept. */
	o.num_blocks = 16;
	CU_ASSERT(axon_uuid_parse(&o.uuid, "0123456789abcdef0123456789abcdef") != 0);
	CU_ASSERT(axon_uuid_parse(&o.uuid, "01234567-89ab-cdef-0123-456789abcdef") == 0);
	CU_ASSERT_FATAL(malloc_disk_create(&o, &b, &param, &why) == 0);
	CU_ASSERT(strcmp(axon_bdev_get_name(b), "Malloc0") == 0);
	axon_uuid_fmt_lower(uuid, sizeof(uuid), axon_bdev_get_uuid(b));
	CU_ASSERT(strcmp(uuid, "01234567-89ab-cdef-0123-456789abcdef") == 0);
	CU_ASSERT(strcmp(axon_bdev_get_product_name(b), "Malloc disk") == 0);
	CU_ASSERT(axon_bdev_get_num_blocks(b) == 16 && axon_bdev_get_block_size(b) == 4096);
	/* The same UUID again is refused. */
	o.name = "Other";
	CU_ASSERT(malloc_disk_create(&o, &b2, &param, &why) == -EEXIST);
	memset(&o.uuid, 0, sizeof(o.uuid));
	o.name = "Malloc0";
	CU_ASSERT(malloc_disk_create(&o, &b2, &param, &why) == -EEXIST);
	CU_ASSERT(strcmp(param, "name") == 0);
	o.name = NULL;
	CU_ASSERT_FATAL(malloc_disk_create(&o, &b2, &param, &why) == 0);
	CU_ASSERT(strcmp(axon_bdev_get_name(b2), "Malloc1") == 0);

	g_unreg_rc = 1;
	malloc_disk_delete(b, unreg_done, NULL);
	ut_poll_threads();
	CU_ASSERT(g_unreg_rc == 0);
	CU_ASSERT(axon_bdev_get_by_name("Malloc0") == NULL);
	/* Malloc1 is left for the subsystem's shutdown to unregister. */
	teardown();
}

static void test_io(void)
{
	struct malloc_opts o = {.name = "M0", .num_blocks = 64, .block_size = 512, .md_size = 8};
	static uint8_t wbuf[8 * 512], rbuf[8 * 512];
	uint8_t wmd[8 * 8], rmd[8 * 8];
	struct iovec wiov = {wbuf, sizeof(wbuf)}, riov = {rbuf, sizeof(rbuf)};
	struct axon_bdev_ext_io_opts ext = {.size = sizeof(ext)};
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	struct axon_bdev *b;
	const char *param, *why;
	struct cpl c = {0};
	json_t *cfg;

	setup();
	CU_ASSERT_FATAL(malloc_disk_create(&o, &b, &param, &why) == 0);
	ut_set_thread(1);
	CU_ASSERT_FATAL(axon_bdev_open_ext("M0", true, event_cb, NULL, &desc) == 0);
	ch = axon_bdev_get_io_channel(desc);
	CU_ASSERT_FATAL(ch != NULL);

	for (size_t i = 0; i < sizeof(wbuf); i++) {
		wbuf[i] = (uint8_t)(i * 3 + 1 + i / 512);
	}
	memset(wmd, 0x5c, sizeof(wmd));
	ext.metadata = wmd;
	CU_ASSERT(axon_bdev_writev_blocks_ext(desc, ch, &wiov, 1, 10, 8, io_done, &c, &ext) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 1 && c.success);
	ext.metadata = rmd;
	memset(rmd, 0, sizeof(rmd));
	CU_ASSERT(axon_bdev_readv_blocks_ext(desc, ch, &riov, 1, 10, 8, io_done, &c, &ext) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 2 && c.success);
	CU_ASSERT(memcmp(rbuf, wbuf, sizeof(wbuf)) == 0);
	CU_ASSERT(memcmp(rmd, wmd, sizeof(wmd)) == 0);

	/* Compare is emulated with a read, except with separate metadata. */
	CU_ASSERT(!axon_bdev_io_type_supported(b, AXON_BDEV_IO_TYPE_COMPARE));
	CU_ASSERT(axon_bdev_compare_blocks(desc, ch, wbuf, 10, 8, io_done, &c) == -ENOTSUP);
	{
		struct malloc_opts o1 = {.name = "M1", .num_blocks = 64, .block_size = 512};
		struct axon_bdev_desc *d1;
		struct axon_io_channel *ch1;
		struct axon_bdev *b1;
		struct cpl c1 = {0};

		ut_set_thread(0);
		CU_ASSERT_FATAL(malloc_disk_create(&o1, &b1, &param, &why) == 0);
		ut_set_thread(1);
		CU_ASSERT_FATAL(axon_bdev_open_ext("M1", true, event_cb, NULL, &d1) == 0);
		ch1 = axon_bdev_get_io_channel(d1);
		CU_ASSERT(axon_bdev_write_blocks(d1, ch1, wbuf, 10, 8, io_done, &c1) == 0);
		ut_poll_threads();
		CU_ASSERT(axon_bdev_compare_blocks(d1, ch1, wbuf, 10, 8, io_done, &c1) == 0);
		ut_poll_threads();
		CU_ASSERT(c1.count == 2 && c1.success);
		CU_ASSERT(axon_bdev_compare_blocks(d1, ch1, wbuf, 11, 7, io_done, &c1) == 0);
		ut_poll_threads();
		CU_ASSERT(c1.count == 3 && !c1.success);
		axon_put_io_channel(ch1);
		axon_bdev_close(d1);
		ut_poll_threads();
	}

	/* Unmap and write zeroes read back as zeroes; flush and reset succeed. */
	CU_ASSERT(axon_bdev_unmap_blocks(desc, ch, 10, 2, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_write_zeroes_blocks(desc, ch, 16, 2, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_flush_blocks(desc, ch, 0, 64, io_done, &c) == 0);
	CU_ASSERT(axon_bdev_reset(desc, ch, io_done, &c) == 0);
	ut_poll_threads();
	CU_ASSERT(c.count == 6 && c.success);
	CU_ASSERT(axon_bdev_read_blocks(desc, ch, rbuf, 10, 8, io_done, &c) == 0);
	ut_poll_threads();
	for (int i = 0; i < 8; i++) {
		bool zero = i < 2 || i >= 6;

		CU_ASSERT(zero ? rbuf[i * 512] == 0 && rbuf[i * 512 + 511] == 0
			       : memcmp(rbuf + i * 512, wbuf + i * 512, 512) == 0);
	}

	/* save_config entry. */
	cfg = json_array();
	b->fn_table->write_config_json(b, cfg);
	CU_ASSERT(json_array_size(cfg) == 1);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(cfg, 0), "method")),
			 "bdev_malloc_create") == 0);
	CU_ASSERT(json_integer_value(json_object_get(
			  json_object_get(json_array_get(cfg, 0), "params"), "md_size")) == 8);
	json_decref(cfg);

	axon_put_io_channel(ch);
	axon_bdev_close(desc);
	ut_poll_threads();
	teardown();
}

/* ---- RPCs, called in-process ------------------------------------------------- */

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

/* Call method with params (JSON text, or NULL) and run it to completion. */
static void rpc(const char *method, const char *params)
{
	json_t *p = params ? json_loads(params, 0, NULL) : NULL;

	g_rpc_done = 0;
	axon_rpc_call_local(method, p, rpc_done, NULL);
	json_decref(p);
	ut_poll_threads();
	CU_ASSERT(g_rpc_done == 1);
}

static bool error_has(const char *text)
{
	return g_rpc_error != NULL && strstr(g_rpc_error, text) != NULL;
}

static bool result_has(const char *text)
{
	return g_rpc_result != NULL && strstr(g_rpc_result, text) != NULL;
}

static void test_rpc(void)
{
	setup();
	axon_rpc_set_state(AXON_RPC_RUNTIME);
	rpc("bdev_malloc_create", "{\"name\":\"R0\",\"num_blocks\":16,\"block_size\":1000}");
	CU_ASSERT(error_has("block_size: expected a power of two between 512 and 4096, got 1000"));
	rpc("bdev_malloc_create", "{\"name\":\"R0\",\"num_blocks\":16,\"block_size\":512,"
	    "\"md_size\":3}");
	CU_ASSERT(error_has("md_size: expected one of 0, 8, 16, 32, 64, 128, got 3"));
	rpc("bdev_malloc_create", "{\"num_blocks\":16,\"block_size\":512,\"bogus\":1}");
	CU_ASSERT(error_has("bogus: unknown parameter"));
	rpc("bdev_malloc_create", "{\"name\":\"R0\",\"num_blocks\":16,\"block_size\":512,"
	    "\"uuid\":\"01234567-89ab-cdef-0123-456789abcdef\"}");
	CU_ASSERT(g_rpc_result != NULL && strcmp(g_rpc_result, "\"R0\"") == 0);
	rpc("bdev_malloc_create", "{\"name\":\"R0\",\"num_blocks\":16,\"block_size\":512}");
	CU_ASSERT(error_has("name: a bdev named R0 already exists"));
	rpc("bdev_malloc_create", "{\"name\":\"R1\",\"num_blocks\":16,\"block_size\":512,"
	    "\"uuid\":\"01234567-89ab-cdef-0123-456789abcdef\"}");
	CU_ASSERT(error_has("uuid: 01234567-89ab-cdef-0123-456789abcdef is already used by bdev R0"));

	rpc("bdev_get_bdevs", "{\"name\":\"R0\"}");
	CU_ASSERT(result_has("\"name\":\"R0\""));
	CU_ASSERT(result_has("\"block_size\":512"));
	CU_ASSERT(result_has("\"num_blocks\":16"));
	CU_ASSERT(result_has("\"uuid\":\"01234567-89ab-cdef-0123-456789abcdef\""));
	CU_ASSERT(result_has("\"claimed\":false"));
	CU_ASSERT(result_has("\"product_name\":\"Malloc disk\""));
	CU_ASSERT(result_has("\"write_zeroes\":true"));
	CU_ASSERT(result_has("\"assigned_rate_limits\""));
	rpc("bdev_get_bdevs", "{\"name\":\"nope\"}");
	CU_ASSERT(error_has("name: no bdev named nope"));
	rpc("bdev_get_bdevs", NULL);
	CU_ASSERT(result_has("\"name\":\"R0\""));
	rpc("bdev_get_iostat", "{\"name\":\"R0\"}");
	CU_ASSERT(result_has("\"tick_rate\""));
	CU_ASSERT(result_has("\"num_read_ops\":0"));
	rpc("bdev_wait_for_examine", NULL);
	CU_ASSERT(g_rpc_result != NULL && strcmp(g_rpc_result, "true") == 0);
	rpc("bdev_set_options", "{\"bdev_io_pool_size\":1024}");
	CU_ASSERT(g_rpc_error != NULL);

	/* A claimed bdev is not deleted, and the error says who holds it. */
	{
		static struct axon_bdev_module holder = {.name = "raid"};

		CU_ASSERT(axon_bdev_module_claim_bdev(axon_bdev_get_by_name("R0"), NULL,
						      &holder) == 0);
		rpc("bdev_malloc_delete", "{\"name\":\"R0\"}");
		CU_ASSERT(error_has("name: bdev R0 is in use by module raid"));
		axon_bdev_module_release_bdev(axon_bdev_get_by_name("R0"));
	}
	rpc("bdev_malloc_delete", "{\"name\":\"R0\"}");
	CU_ASSERT(g_rpc_result != NULL && strcmp(g_rpc_result, "true") == 0);
	rpc("bdev_malloc_delete", "{\"name\":\"R0\"}");
	CU_ASSERT(error_has("name: no bdev named R0"));

	/* save_config: options, the bdevs, then wait_for_examine. */
	rpc("bdev_malloc_create", "{\"name\":\"R2\",\"num_blocks\":8,\"block_size\":4096}");
	{
		json_t *cfg = ut_subsystem("bdev")->config_json();
		char *text = json_dumps(cfg, JSON_COMPACT);
		size_t n = json_array_size(cfg);

		CU_ASSERT(n == 3);
		CU_ASSERT(strstr(text, "\"bdev_set_options\"") != NULL);
		CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(cfg, 1),
								   "method")),
				 "bdev_malloc_create") == 0);
		CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(cfg, n - 1),
								   "method")),
				 "bdev_wait_for_examine") == 0);
		free(text);
		json_decref(cfg);
	}
	free(g_rpc_result);
	free(g_rpc_error);
	g_rpc_result = g_rpc_error = NULL;
	teardown();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bdev_malloc", NULL, NULL);
	CU_add_test(suite, "create_checks", test_create_checks);
	CU_add_test(suite, "io", test_io);
	CU_add_test(suite, "rpc", test_rpc);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
