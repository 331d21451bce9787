/*
 * End-to-end tests of the uring bdev through lib/bdev, on real files in /tmp:
 * thread 0 is the app thread (create, rescan, delete), thread 1 does I/O
 * through a descriptor and channel, like a transport would. Included by
 * bdev_uring_ut.c after uring_queue_ut.h (its file and buffer helpers).
 */
#include <sched.h>

#include "axon/bdev.h"
#include "axon/env.h"
#include "lib/bdev/bdev_internal.h"

#define EUT_IO_THREAD 1
#define EUT_BLOCKS 2048u /* 8 MiB of 4 KiB blocks */
#define EUT_MAX_IOS 64

struct eut_io {
	int done;
	int success;
	int failed;
};

static struct eut_io g_eut;
static int g_eut_resize_events;
static int g_eut_remove_events;
static const char *g_eut_path;

static void eut_io_done(struct axon_bdev_io *bdev_io, bool success, void *cb_arg)
{
	g_eut.done++;
	if (success) {
		g_eut.success++;
	} else {
		g_eut.failed++;
	}
	axon_bdev_free_io(bdev_io);
}

static void eut_event(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	if (type == AXON_BDEV_EVENT_RESIZE) {
		g_eut_resize_events++;
	} else {
		g_eut_remove_events++;
	}
}

/* Poll every thread until n I/Os have completed (5 s at most). */
static bool eut_wait(int n)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (g_eut.done < n) {
		ut_poll_thread(0);
		ut_poll_thread(EUT_IO_THREAD);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5) {
			return false;
		}
	}
	ut_poll_threads();
	return true;
}

static int eut_suite_init(void)
{
	struct axon_env_opts opts;
	struct axon_bdev_opts bopts;
	char mask[32];
	cpu_set_t set;
	int cpu = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) {
			cpu++;
		}
	}
	snprintf(mask, sizeof(mask), "[%d]", cpu);
	axon_env_opts_init(&opts);
	opts.name = "bdev_uring_ut";
	opts.no_huge = true;
	opts.mem_size_mb = 64;
	opts.core_mask = mask;
	if (axon_env_init(&opts) != 0) {
		return -1;
	}
	bopts.size = sizeof(bopts);
	axon_bdev_get_opts(&bopts);
	bopts.bdev_io_pool_size = 1024;
	bopts.bdev_io_cache_size = 64;
	bopts.small_buf_pool_size = 128;
	bopts.large_buf_pool_size = 16;
	if (axon_bdev_set_opts(&bopts) != 0 || ut_threads_init(2) != 0) {
		return -1;
	}
	ut_set_thread(0);
	return bdev_mgr_init();
}

static bool g_eut_fini_done;

static void eut_mgr_fini_done(void)
{
	g_eut_fini_done = true;
}

static int eut_suite_fini(void)
{
	int forced;

	ut_set_thread(0);
	bdev_mgr_fini(eut_mgr_fini_done);
	ut_poll_threads();
	forced = ut_threads_fini();
	axon_env_fini();
	return g_eut_fini_done && forced == 0 ? 0 : -1;
}

/* Create a uring bdev over a fresh file (app thread); NULL on failure. */
static struct axon_bdev *eut_create(const char *name, uint32_t depth)
{
	struct bdev_uring_opts opts = {
		.name = name,
		.queue_depth = depth,
		.block_size = 4096,
	};
	struct axon_bdev *bdev = NULL;
	char err[BDEV_FILE_ERR_LEN];

	g_eut_path = qut_make_file((uint64_t)EUT_BLOCKS * 4096);
	opts.filename = g_eut_path;
	ut_set_thread(0);
	if (g_eut_path == NULL || bdev_uring_create(&opts, &bdev, err, sizeof(err)) != 0) {
		return NULL;
	}
	memset(&g_eut, 0, sizeof(g_eut));
	g_eut_resize_events = 0;
	g_eut_remove_events = 0;
	return bdev;
}

static int g_eut_delete_rc;

static void eut_delete_done(void *cb_arg, int rc)
{
	g_eut_delete_rc = rc;
	*(bool *)cb_arg = true;
}

static void eut_delete(const char *name)
{
	bool done = false;

	ut_set_thread(0);
	g_eut_delete_rc = -1;
	CU_ASSERT(bdev_uring_delete(name, eut_delete_done, &done) == 0);
	ut_poll_threads();
	CU_ASSERT(done && g_eut_delete_rc == 0);
	CU_ASSERT(axon_bdev_get_by_name(name) == NULL);
	unlink(g_eut_path);
}

struct eut_open {
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
};

static bool eut_open(const char *name, bool write, struct eut_open *o)
{
	ut_set_thread(EUT_IO_THREAD);
	if (axon_bdev_open_ext(name, write, eut_event, NULL, &o->desc) != 0) {
		return false;
	}
	o->ch = axon_bdev_get_io_channel(o->desc);
	return o->ch != NULL;
}

static void eut_close(struct eut_open *o)
{
	ut_set_thread(EUT_IO_THREAD);
	axon_put_io_channel(o->ch);
	axon_bdev_close(o->desc);
	ut_poll_threads();
}

/* The uring channel's counters, as seen from the I/O thread. */
static struct uring_queue_stats eut_stats(struct axon_bdev *bdev)
{
	struct axon_io_channel *ch;
	struct uring_queue_stats st = {0};

	ut_set_thread(EUT_IO_THREAD);
	ch = axon_get_io_channel(bdev->ctxt);
	if (ch != NULL) {
		st = ((struct bdev_uring_channel *)axon_io_channel_get_ctx(ch))->q.stats;
		axon_put_io_channel(ch);
	}
	return st;
}

static void test_bdev_rw_verify(void)
{
	uint8_t *wbuf = qut_buf(EUT_MAX_IOS * 4096, 0), *rbuf = qut_buf(EUT_MAX_IOS * 4096, 0);
	struct axon_bdev *bdev = eut_create("uring0", 0);
	struct uring_queue_stats st;
	struct eut_open o;

	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT(strcmp(axon_bdev_get_module_name(bdev), "uring") == 0);
	CU_ASSERT(axon_bdev_get_block_size(bdev) == 4096);
	CU_ASSERT(axon_bdev_get_num_blocks(bdev) == EUT_BLOCKS);
	CU_ASSERT_FATAL(eut_open("uring0", true, &o));
	for (int i = 0; i < EUT_MAX_IOS; i++) {
		memset(wbuf + i * 4096, 0x40 + i, 4096);
	}
	/* 64 writes queued in one go: one io_uring_submit. */
	for (int i = 0; i < EUT_MAX_IOS; i++) {
		CU_ASSERT(axon_bdev_write_blocks(o.desc, o.ch, wbuf + i * 4096, (uint64_t)i * 7, 1,
						 eut_io_done, NULL) == 0);
	}
	CU_ASSERT(eut_wait(EUT_MAX_IOS));
	CU_ASSERT(g_eut.success == EUT_MAX_IOS);
	st = eut_stats(bdev);
	CU_ASSERT(st.submit_calls == 1);
	CU_ASSERT(st.submitted == EUT_MAX_IOS);
	for (int i = 0; i < EUT_MAX_IOS; i++) {
		CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, rbuf + i * 4096, (uint64_t)i * 7, 1,
						eut_io_done, NULL) == 0);
	}
	CU_ASSERT(eut_wait(2 * EUT_MAX_IOS));
	CU_ASSERT(g_eut.success == 2 * EUT_MAX_IOS);
	CU_ASSERT(memcmp(wbuf, rbuf, EUT_MAX_IOS * 4096) == 0);
	CU_ASSERT(eut_stats(bdev).submit_calls == 2);
	/* Multi-block, and flush. */
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, rbuf, 0, 16, eut_io_done, NULL) == 0);
	CU_ASSERT(axon_bdev_flush_blocks(o.desc, o.ch, 0, EUT_BLOCKS, eut_io_done, NULL) == 0);
	CU_ASSERT(eut_wait(2 * EUT_MAX_IOS + 2));
	CU_ASSERT(g_eut.failed == 0);
	CU_ASSERT(memcmp(rbuf, wbuf, 4096) == 0);
	eut_close(&o);
	eut_delete("uring0");
	free(wbuf);
	free(rbuf);
}

/* A depth of 2: the rest come back NOMEM and the layer retries them. */
static void test_bdev_queue_full(void)
{
	uint8_t *buf = qut_buf(32 * 4096, 0x5a), *rbuf = qut_buf(32 * 4096, 0);
	struct axon_bdev *bdev = eut_create("uring_small", 2);
	struct eut_open o;

	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT_FATAL(eut_open("uring_small", true, &o));
	for (int i = 0; i < 32; i++) {
		CU_ASSERT(axon_bdev_write_blocks(o.desc, o.ch, buf + i * 4096, (uint64_t)i, 1,
						 eut_io_done, NULL) == 0);
	}
	CU_ASSERT(eut_wait(32));
	CU_ASSERT(g_eut.success == 32);
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, rbuf, 0, 32, eut_io_done, NULL) == 0);
	CU_ASSERT(eut_wait(33));
	CU_ASSERT(g_eut.success == 33);
	CU_ASSERT(memcmp(buf, rbuf, 32 * 4096) == 0);
	eut_close(&o);
	eut_delete("uring_small");
	free(buf);
	free(rbuf);
}

/* The layer checks ranges and bounces misaligned buffers. */
static void test_bdev_range_and_alignment(void)
{
	uint8_t *buf = qut_buf(3 * 4096, 0x33), *rbuf = qut_buf(3 * 4096, 0);
	struct axon_bdev *bdev = eut_create("uring_align", 0);
	struct eut_open o;

	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT_FATAL(eut_open("uring_align", true, &o));
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, buf, EUT_BLOCKS, 1, eut_io_done, NULL) ==
		  -EINVAL);
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, buf, EUT_BLOCKS - 1, 2, eut_io_done,
					NULL) == -EINVAL);
	CU_ASSERT(axon_bdev_write(o.desc, o.ch, buf, 100, 4096, eut_io_done, NULL) == -EINVAL);
	/* buf + 1 is not 512-aligned: O_DIRECT would refuse it. */
	CU_ASSERT(axon_bdev_write_blocks(o.desc, o.ch, buf + 1, 5, 2, eut_io_done, NULL) == 0);
	CU_ASSERT(eut_wait(1) && g_eut.success == 1);
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, rbuf + 1, 5, 2, eut_io_done, NULL) == 0);
	CU_ASSERT(eut_wait(2) && g_eut.success == 2);
	CU_ASSERT(memcmp(buf + 1, rbuf + 1, 2 * 4096) == 0);
	/* Last block. */
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, rbuf, EUT_BLOCKS - 1, 1, eut_io_done,
					NULL) == 0);
	CU_ASSERT(eut_wait(3) && g_eut.success == 3);
	eut_close(&o);
	eut_delete("uring_align");
	free(buf);
	free(rbuf);
}

static void test_bdev_rescan(void)
{
	struct axon_bdev *bdev = eut_create("uring_resize", 0);
	char err[BDEV_FILE_ERR_LEN];
	struct eut_open o;

	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT_FATAL(eut_open("uring_resize", true, &o));
	ut_set_thread(0);
	CU_ASSERT(bdev_uring_rescan("uring_resize", err, sizeof(err)) == 0);
	ut_poll_threads();
	CU_ASSERT(g_eut_resize_events == 0);
	CU_ASSERT(truncate(g_eut_path, (off_t)EUT_BLOCKS * 2 * 4096) == 0);
	CU_ASSERT(bdev_uring_rescan("uring_resize", err, sizeof(err)) == 0);
	ut_poll_threads();
	CU_ASSERT(g_eut_resize_events == 1);
	CU_ASSERT(axon_bdev_get_num_blocks(bdev) == 2 * EUT_BLOCKS);
	/* The new blocks are usable at once. */
	ut_set_thread(EUT_IO_THREAD);
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, NULL, 2 * EUT_BLOCKS - 1, 1, eut_io_done,
					NULL) == 0);
	CU_ASSERT(eut_wait(1) && g_eut.success == 1);
	/* Shrinking under an open descriptor is refused, and said so. */
	CU_ASSERT(truncate(g_eut_path, (off_t)EUT_BLOCKS * 4096) == 0);
	ut_set_thread(0);
	CU_ASSERT(bdev_uring_rescan("uring_resize", err, sizeof(err)) == -EBUSY);
	CU_ASSERT(strstr(err, "shrank while open") != NULL);
	eut_close(&o);
	ut_set_thread(0);
	CU_ASSERT(bdev_uring_rescan("uring_resize", err, sizeof(err)) == 0);
	CU_ASSERT(axon_bdev_get_num_blocks(bdev) == EUT_BLOCKS);
	CU_ASSERT(bdev_uring_rescan("nope", err, sizeof(err)) == -ENODEV);
	eut_delete("uring_resize");
}

static void test_bdev_create_errors(void)
{
	struct bdev_uring_opts opts = {.name = "uring_err", .filename = "/nope"};
	struct axon_bdev *bdev, *b2;
	char err[BDEV_FILE_ERR_LEN];

	ut_set_thread(0);
	CU_ASSERT(bdev_uring_create(&opts, &bdev, err, sizeof(err)) == -ENOENT);
	CU_ASSERT(strcmp(err, "filename: /nope: No such file or directory") == 0);
	bdev = eut_create("uring_dup", 0);
	CU_ASSERT_FATAL(bdev != NULL);
	opts.name = "uring_dup";
	opts.filename = g_eut_path;
	CU_ASSERT(bdev_uring_create(&opts, &b2, err, sizeof(err)) == -EEXIST);
	CU_ASSERT(strcmp(err, "name: a bdev named uring_dup already exists") == 0);
	opts.name = "uring_bs";
	opts.block_size = 1000;
	CU_ASSERT(bdev_uring_create(&opts, &b2, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "block_size:") == err);
	opts.block_size = 0;
	opts.queue_depth = 100000;
	CU_ASSERT(bdev_uring_create(&opts, &b2, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "queue_depth:") == err);
	opts.queue_depth = 0;
	opts.uuid = "not-a-uuid";
	CU_ASSERT(bdev_uring_create(&opts, &b2, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "uuid:") == err);
	CU_ASSERT(bdev_uring_delete("nope", eut_delete_done, NULL) == -ENODEV);
	eut_delete("uring_dup");
}

/* An I/O in flight wakes a sleeping I/O thread: the ring's eventfd is one
 * of its wake fds. */
static void test_bdev_wakes_thread(void)
{
	uint8_t *buf = qut_buf(4096, 0);
	struct axon_bdev *bdev = eut_create("uring_wake", 0);
	struct eut_open o;
	int efd;

	CU_ASSERT_FATAL(bdev != NULL);
	CU_ASSERT_FATAL(eut_open("uring_wake", false, &o));
	ut_poll_threads();
	efd = axon_thread_get_interrupt_fd(ut_thread(EUT_IO_THREAD));
	CU_ASSERT(!fd_readable(efd, 0));
	CU_ASSERT(axon_bdev_read_blocks(o.desc, o.ch, buf, 0, 1, eut_io_done, NULL) == 0);
	/* One iteration submits it; then the thread "sleeps" on its fd. */
	ut_poll_thread(EUT_IO_THREAD);
	CU_ASSERT(fd_readable(efd, 2000));
	CU_ASSERT(eut_wait(1) && g_eut.success == 1);
	/* Idle again: the eventfd is drained, nothing keeps the thread awake. */
	ut_poll_threads();
	CU_ASSERT(!fd_readable(efd, 0));
	eut_close(&o);
	eut_delete("uring_wake");
	free(buf);
}

static void test_bdev_config_json(void)
{
	struct axon_bdev *bdev = eut_create("uring_cfg", 16);
	json_t *array = json_array(), *params;

	CU_ASSERT_FATAL(bdev != NULL);
	bdev->fn_table->write_config_json(bdev, array);
	CU_ASSERT_FATAL(json_array_size(array) == 1);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(array, 0), "method")),
			 "bdev_uring_create") == 0);
	params = json_object_get(json_array_get(array, 0), "params");
	CU_ASSERT(strcmp(json_string_value(json_object_get(params, "name")), "uring_cfg") == 0);
	CU_ASSERT(strcmp(json_string_value(json_object_get(params, "filename")), g_eut_path) == 0);
	CU_ASSERT(json_integer_value(json_object_get(params, "block_size")) == 4096);
	CU_ASSERT(json_integer_value(json_object_get(params, "queue_depth")) == 16);
	CU_ASSERT(json_string_length(json_object_get(params, "uuid")) == 36);
	json_decref(array);
	eut_delete("uring_cfg");
}

static void eut_add_tests(CU_pSuite s)
{
	CU_add_test(s, "bdev_rw_verify", test_bdev_rw_verify);
	CU_add_test(s, "bdev_queue_full", test_bdev_queue_full);
	CU_add_test(s, "bdev_range_and_alignment", test_bdev_range_and_alignment);
	CU_add_test(s, "bdev_rescan", test_bdev_rescan);
	CU_add_test(s, "bdev_create_errors", test_bdev_create_errors);
	CU_add_test(s, "bdev_wakes_thread", test_bdev_wakes_thread);
	CU_add_test(s, "bdev_config_json", test_bdev_config_json);
}
