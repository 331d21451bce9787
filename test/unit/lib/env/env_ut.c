/*
 * Unit tests for lib/env over a real EAL: --no-huge, a small memory size and,
 * when this process may use them, two cores (main + one worker).
 *
 * EAL starts once per process, so the tests run in order: argument checks
 * without EAL first, then init, the EAL-backed tests, and fini last.
 * Functions launched on the worker never call CU_ASSERT (CUnit is not
 * thread-safe): they record what they saw and the main core checks it.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/env/env.c"
#include "lib/env/env_args.c"
#include "lib/env/env_memory.c"
#include "lib/env/env_pool.c"

/* ---- lib/log double: records every line ---------------------------------- */

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_log_count[AXON_LOG_DEBUG + 1];
static char g_log_last[AXON_LOG_DEBUG + 1][512];

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
	va_list ap;

	if (level < AXON_LOG_ERROR || level > AXON_LOG_DEBUG) {
		return;
	}
	pthread_mutex_lock(&g_log_lock);
	va_start(ap, fmt);
	vsnprintf(g_log_last[level], sizeof(g_log_last[level]), fmt, ap);
	va_end(ap);
	g_log_count[level]++;
	/* Our own lines are checked by the tests; DPDK's are worth seeing. */
	if (strcmp(file, "dpdk") == 0 && strstr(g_log_last[level], "env_ut probe") == NULL) {
		fprintf(stderr, "  [dpdk] %s", g_log_last[level]);
	}
	pthread_mutex_unlock(&g_log_lock);
}

static int log_count(enum axon_log_level level)
{
	int n;

	pthread_mutex_lock(&g_log_lock);
	n = g_log_count[level];
	pthread_mutex_unlock(&g_log_lock);
	return n;
}

static bool last_log_contains(enum axon_log_level level, const char *text)
{
	bool found;

	pthread_mutex_lock(&g_log_lock);
	found = strstr(g_log_last[level], text) != NULL;
	pthread_mutex_unlock(&g_log_lock);
	return found;
}

/* ---- helpers ---------------------------------------------------------------- */

#define UT_MEM_MB 64
#define UT_NAME "env_ut"

static uint32_t g_main = UINT32_MAX;
static uint32_t g_worker = UINT32_MAX; /* worker core, when we have two */

static bool args_have(const struct env_args *args, const char *arg)
{
	for (int i = 0; i < args->argc; i++) {
		if (strcmp(args->argv[i], arg) == 0) {
			return true;
		}
	}
	return false;
}

/* The argument following `opt`, or NULL. */
static const char *args_value(const struct env_args *args, const char *opt)
{
	for (int i = 0; i + 1 < args->argc; i++) {
		if (strcmp(args->argv[i], opt) == 0) {
			return args->argv[i + 1];
		}
	}
	return NULL;
}

/* The first two cores this process may run on (taskset is honoured). */
static void pick_cores(uint32_t *main_core, uint32_t *worker)
{
	cpu_set_t set;

	*main_core = *worker = UINT32_MAX;
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		return;
	}
	for (uint32_t c = 0; c < AXON_ENV_MAX_CORES && *worker == UINT32_MAX; c++) {
		if (!CPU_ISSET(c, &set)) {
			continue;
		}
		if (*main_core == UINT32_MAX) {
			*main_core = c;
		} else {
			*worker = c;
		}
	}
}

/* ---- core masks and EAL arguments (no EAL) ---------------------------------- */

static void test_core_mask_parse(void)
{
	struct env_core_set set;

	CU_ASSERT_EQUAL(env_parse_core_mask("0x3", &set), 0);
	CU_ASSERT(env_core_set_has(&set, 0) && env_core_set_has(&set, 1));
	CU_ASSERT(!env_core_set_has(&set, 2));
	CU_ASSERT_EQUAL(env_parse_core_mask("A", &set), 0);
	CU_ASSERT(!env_core_set_has(&set, 0) && env_core_set_has(&set, 1) &&
		  env_core_set_has(&set, 3));
	CU_ASSERT_EQUAL(env_parse_core_mask("[0-1]", &set), 0);
	CU_ASSERT(env_core_set_has(&set, 0) && env_core_set_has(&set, 1));
	CU_ASSERT_EQUAL(env_parse_core_mask("0,1", &set), 0);
	CU_ASSERT(env_core_set_has(&set, 0) && env_core_set_has(&set, 1));
	CU_ASSERT_EQUAL(env_parse_core_mask("0-3,6,127", &set), 0);
	CU_ASSERT(env_core_set_has(&set, 3) && env_core_set_has(&set, 6) &&
		  env_core_set_has(&set, 127) && !env_core_set_has(&set, 4));
	/* Bit 124 is the top digit's lowest bit: the last core we accept. */
	CU_ASSERT_EQUAL(env_parse_core_mask("0x10000000000000000000000000000000", &set), 0);
	CU_ASSERT(env_core_set_has(&set, 124));

	CU_ASSERT_EQUAL(env_parse_core_mask(NULL, &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0x", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0x0", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0xg", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("1-0", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("[0,1", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0,,1", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0,128", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0,-1", &set), -EINVAL);
	CU_ASSERT_EQUAL(env_parse_core_mask("0x100000000000000000000000000000000", &set), -EINVAL);
}

static void test_args_no_huge(void)
{
	struct axon_env_opts opts;
	struct env_args args;
	char prefix[64];
	char expect_mb[16];

	axon_env_opts_init(&opts);
	CU_ASSERT_STRING_EQUAL(opts.name, "axon");
	CU_ASSERT_STRING_EQUAL(opts.core_mask, "0x1");
	CU_ASSERT_EQUAL(opts.main_core, -1);
	CU_ASSERT(opts.no_pci);
	CU_ASSERT(!opts.no_huge);

	opts.name = "./build/bin/" UT_NAME;
	opts.no_huge = true;
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), 0);
	CU_ASSERT(args.no_huge);
	CU_ASSERT_STRING_EQUAL(args.argv[0], opts.name);
	CU_ASSERT_PTR_NULL(args.argv[args.argc]);
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s_%d", UT_NAME, (int)getpid());
	CU_ASSERT(args_have(&args, prefix));
	CU_ASSERT(args_have(&args, "--no-huge"));
	CU_ASSERT(args_have(&args, "--iova-mode=va"));
	CU_ASSERT(args_have(&args, "--no-pci"));
	CU_ASSERT(args_have(&args, "--no-shconf"));
	CU_ASSERT(args_have(&args, "--no-telemetry"));
	CU_ASSERT(args_have(&args, "--main-lcore=0"));
	CU_ASSERT(!args_have(&args, "--huge-unlink"));
	CU_ASSERT_STRING_EQUAL(args_value(&args, "-l"), "0");
	/* 0 MiB without hugepages: the fixed default size. */
	snprintf(expect_mb, sizeof(expect_mb), "%d", AXON_ENV_NO_HUGE_DEFAULT_MB);
	CU_ASSERT_STRING_EQUAL(args_value(&args, "-m"), expect_mb);

	opts.mem_size_mb = 32;
	opts.file_prefix = "mine";
	CU_ASSERT_EQUAL(env_build_args(&opts, false, &args), 0);
	CU_ASSERT_STRING_EQUAL(args_value(&args, "-m"), "32");
	CU_ASSERT(args_have(&args, "--file-prefix=mine"));
}

static void test_args_hugepages(void)
{
	struct axon_env_opts opts;
	struct env_args args;
	int notices;

	axon_env_opts_init(&opts);
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), 0);
	CU_ASSERT(!args.no_huge);
	CU_ASSERT(!args_have(&args, "--no-huge"));
	CU_ASSERT(args_have(&args, "--huge-unlink"));
	CU_ASSERT(args_have(&args, "--match-allocations"));
	CU_ASSERT(!args_have(&args, "-m")); /* grows on demand */
	CU_ASSERT(!args_have(&args, "--iova-mode=va"));

	opts.iova_mode = "pa";
	opts.mem_size_mb = 1024;
	opts.no_pci = false;
	opts.pci_allowed[0] = "0000:01:00.0";
	opts.pci_allowed[1] = "02:1f.7";
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), 0);
	CU_ASSERT(args_have(&args, "--iova-mode=pa"));
	CU_ASSERT_STRING_EQUAL(args_value(&args, "-m"), "1024");
	CU_ASSERT(!args_have(&args, "--no-pci"));
	CU_ASSERT(args_have(&args, "0000:01:00.0"));
	CU_ASSERT(args_have(&args, "02:1f.7"));
	CU_ASSERT_STRING_EQUAL(args_value(&args, "-a"), "0000:01:00.0");

	/* Asked for hugepages, the system has none: fall back with a notice. */
	opts.iova_mode = NULL;
	notices = log_count(AXON_LOG_NOTICE);
	CU_ASSERT_EQUAL(env_build_args(&opts, false, &args), 0);
	CU_ASSERT(args.no_huge);
	CU_ASSERT(args_have(&args, "--no-huge"));
	CU_ASSERT_EQUAL(log_count(AXON_LOG_NOTICE), notices + 1);
	CU_ASSERT(last_log_contains(AXON_LOG_NOTICE, "--no-huge"));
}

static void test_args_rejected(void)
{
	struct axon_env_opts opts;
	struct env_args args;
	int errors;

	axon_env_opts_init(&opts);
	opts.main_core = 5;
	errors = log_count(AXON_LOG_ERROR);
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);
	CU_ASSERT_EQUAL(log_count(AXON_LOG_ERROR), errors + 1);
	CU_ASSERT(last_log_contains(AXON_LOG_ERROR, "main core 5"));

	axon_env_opts_init(&opts);
	opts.iova_mode = "pa";
	CU_ASSERT_EQUAL(env_build_args(&opts, false, &args), -EINVAL);
	opts.iova_mode = "xx";
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);

	axon_env_opts_init(&opts);
	opts.file_prefix = "a/b";
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);
	opts.file_prefix = "";
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);

	axon_env_opts_init(&opts);
	opts.name = NULL;
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);

	axon_env_opts_init(&opts);
	opts.no_pci = false;
	opts.pci_allowed[0] = "0000:01:00.0";
	opts.pci_allowed[1] = "01:20.0"; /* device 0x20 > 0x1f */
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);
	CU_ASSERT(last_log_contains(AXON_LOG_ERROR, "01:20.0"));
	opts.pci_allowed[1] = "x1:00.0";
	CU_ASSERT_EQUAL(env_build_args(&opts, true, &args), -EINVAL);
}

static void test_init_bad_core_mask(void)
{
	struct axon_env_opts opts;
	int errors = log_count(AXON_LOG_ERROR);

	axon_env_opts_init(&opts);
	opts.name = UT_NAME;
	opts.no_huge = true;
	opts.core_mask = "0xq3";
	CU_ASSERT_EQUAL(axon_env_init(&opts), -EINVAL);
	CU_ASSERT_EQUAL(log_count(AXON_LOG_ERROR), errors + 1);
	CU_ASSERT(last_log_contains(AXON_LOG_ERROR, "0xq3"));
	CU_ASSERT(!axon_env_is_initialized());

	/* A core this process may not run on (no machine here has 128 CPUs). */
	opts.core_mask = "[127]";
	CU_ASSERT_EQUAL(axon_env_init(&opts), -EINVAL);
	CU_ASSERT(last_log_contains(AXON_LOG_ERROR, "core 127 is not available"));
	CU_ASSERT(!axon_env_is_initialized());
}

static void test_before_init(void)
{
	CU_ASSERT_PTR_NULL(axon_dma_malloc(64, 0, AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_EQUAL(axon_vtophys(&g_worker, NULL), AXON_VTOPHYS_ERROR);
	CU_ASSERT_EQUAL(axon_env_get_core_count(), 0);
	CU_ASSERT_EQUAL(axon_env_get_main_core(), UINT32_MAX);
	CU_ASSERT_EQUAL(axon_env_get_first_core(), UINT32_MAX);
	CU_ASSERT_EQUAL(axon_env_get_current_core(), UINT32_MAX);
	CU_ASSERT_EQUAL(axon_env_launch_on_core(1, NULL, NULL), -ENODEV);
	/* Our own calibration, before EAL measured anything. */
	CU_ASSERT(axon_get_ticks_hz() > 100000000ULL);
}

/* ---- EAL up -------------------------------------------------------------------- */

static void test_init(void)
{
	struct axon_env_opts opts;
	char mask[32];
	uint32_t core, n = 0;

	pick_cores(&g_main, &g_worker);
	CU_ASSERT_FATAL(g_main != UINT32_MAX);
	if (g_worker != UINT32_MAX) {
		snprintf(mask, sizeof(mask), "%u,%u", g_main, g_worker);
	} else {
		snprintf(mask, sizeof(mask), "[%u]", g_main);
		fprintf(stderr, "  only one core available: worker-core tests are skipped\n");
	}
	axon_env_opts_init(&opts);
	opts.name = UT_NAME;
	opts.no_huge = true;
	opts.mem_size_mb = UT_MEM_MB;
	opts.core_mask = mask;
	CU_ASSERT_FATAL(axon_env_init(&opts) == 0);
	CU_ASSERT(axon_env_is_initialized());
	CU_ASSERT_EQUAL(axon_env_get_main_core(), g_main);
	CU_ASSERT_EQUAL(axon_env_get_current_core(), g_main);
	CU_ASSERT_EQUAL(rte_eal_iova_mode(), RTE_IOVA_VA);
	for (core = axon_env_get_first_core(); core != UINT32_MAX; core = axon_env_get_next_core(core)) {
		CU_ASSERT(core == g_main || core == g_worker);
		CU_ASSERT(axon_env_get_socket_id(core) >= 0);
		n++;
	}
	CU_ASSERT_EQUAL(n, axon_env_get_core_count());
	CU_ASSERT_EQUAL(n, g_worker != UINT32_MAX ? 2 : 1);
	CU_ASSERT_EQUAL(axon_env_get_socket_id(AXON_ENV_MAX_CORES - 1), -EINVAL);
	CU_ASSERT_EQUAL(axon_env_get_socket_id(UINT32_MAX), -EINVAL);
	CU_ASSERT_EQUAL(axon_env_get_next_core(UINT32_MAX), UINT32_MAX);
}

static void test_double_init(void)
{
	struct axon_env_opts opts;
	int errors = log_count(AXON_LOG_ERROR);

	axon_env_opts_init(&opts);
	opts.no_huge = true;
	CU_ASSERT_EQUAL(axon_env_init(&opts), -EALREADY);
	CU_ASSERT_EQUAL(log_count(AXON_LOG_ERROR), errors + 1);
	CU_ASSERT(axon_env_is_initialized());
}

/* DPDK's messages reach axon_log at the matching level, one call per line. */
static void test_dpdk_log_routed(void)
{
	int warns = log_count(AXON_LOG_WARN), errors = log_count(AXON_LOG_ERROR);
	int infos = log_count(AXON_LOG_INFO);

	rte_log(RTE_LOG_WARNING, RTE_LOGTYPE_EAL, "env_ut probe one\nenv_ut probe two\n");
	CU_ASSERT_EQUAL(log_count(AXON_LOG_WARN), warns + 2);
	CU_ASSERT(last_log_contains(AXON_LOG_WARN, "env_ut probe two\n"));
	rte_log(RTE_LOG_ERR, RTE_LOGTYPE_EAL, "env_ut probe error\n");
	CU_ASSERT_EQUAL(log_count(AXON_LOG_ERROR), errors + 1);
	/* Below EAL's warning threshold: dropped before it reaches us. */
	rte_log(RTE_LOG_INFO, RTE_LOGTYPE_EAL, "env_ut probe info\n");
	CU_ASSERT_EQUAL(log_count(AXON_LOG_INFO), infos);
}

struct launch_ctx {
	atomic_bool release;
	atomic_uint ran_on;
};

static int record_core(void *arg)
{
	struct launch_ctx *ctx = arg;

	atomic_store(&ctx->ran_on, axon_env_get_current_core());
	while (!atomic_load(&ctx->release)) {
		rte_pause();
	}
	return 0;
}

static void test_launch(void)
{
	struct launch_ctx ctx = {.ran_on = UINT32_MAX};

	CU_ASSERT_EQUAL(axon_env_launch_on_core(g_main, record_core, &ctx), -EINVAL);
	CU_ASSERT_EQUAL(axon_env_launch_on_core(AXON_ENV_MAX_CORES - 1, record_core, &ctx), -EINVAL);
	if (g_worker == UINT32_MAX) {
		return;
	}
	CU_ASSERT_EQUAL(axon_env_launch_on_core(g_worker, NULL, &ctx), -EINVAL);
	CU_ASSERT_FATAL(axon_env_launch_on_core(g_worker, record_core, &ctx) == 0);
	/* Still running: a second launch on that core is refused. */
	CU_ASSERT_EQUAL(axon_env_launch_on_core(g_worker, record_core, &ctx), -EBUSY);
	atomic_store(&ctx.release, true);
	axon_env_wait_all_cores();
	CU_ASSERT_EQUAL(atomic_load(&ctx.ran_on), g_worker);
}

static void test_dma_malloc(void)
{
	static const size_t aligns[] = {0, 8, 64, 4096, 65536};
	uint8_t *buf, *buf2;
	bool all_zero = true;

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		buf = axon_dma_malloc(1000, aligns[i], AXON_ENV_SOCKET_ID_ANY);
		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		CU_ASSERT_EQUAL((uintptr_t)buf % (aligns[i] ? aligns[i] : RTE_CACHE_LINE_SIZE), 0);
		axon_dma_free(buf);
	}
	/* Dirty some memory, free it, and check zmalloc zeroes what it returns. */
	buf = axon_dma_malloc(8192, 4096, axon_env_get_socket_id(g_main));
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	memset(buf, 0xa5, 8192);
	axon_dma_free(buf);
	buf = axon_dma_zmalloc(8192, 4096, axon_env_get_socket_id(g_main));
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	for (size_t i = 0; i < 8192; i++) {
		all_zero = all_zero && buf[i] == 0;
	}
	CU_ASSERT(all_zero);

	memcpy(buf, "axon", 5);
	buf2 = axon_dma_realloc(buf, 3 * 8192, 4096);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf2);
	CU_ASSERT_STRING_EQUAL((char *)buf2, "axon");
	CU_ASSERT_EQUAL((uintptr_t)buf2 % 4096, 0);
	axon_dma_free(buf2);

	CU_ASSERT_PTR_NULL(axon_dma_malloc(64, 3, AXON_ENV_SOCKET_ID_ANY)); /* not a power of 2 */
	CU_ASSERT_PTR_NULL(axon_dma_malloc((size_t)UT_MEM_MB << 21, 0, AXON_ENV_SOCKET_ID_ANY));
	axon_dma_free(NULL);
}

static void test_vtophys(void)
{
	uint8_t *buf = axon_dma_malloc(3 * 4096, 4096, AXON_ENV_SOCKET_ID_ANY);
	int on_stack = 0;
	void *heap = malloc(64);
	uint64_t iova, size;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	size = 3 * 4096;
	iova = axon_vtophys(buf, &size);
	CU_ASSERT_NOT_EQUAL(iova, AXON_VTOPHYS_ERROR);
	CU_ASSERT_EQUAL(iova, (uintptr_t)buf); /* IOVA as VA */
	CU_ASSERT_EQUAL(size, 3 * 4096);
	/* Inside the buffer, crossing a page: the offset carries over. */
	size = 4096;
	CU_ASSERT_EQUAL(axon_vtophys(buf + 4000, &size), iova + 4000);
	CU_ASSERT_EQUAL(size, 4096);
	/* 0 asks for the whole contiguous run: at least to the buffer's end. */
	size = 0;
	CU_ASSERT_EQUAL(axon_vtophys(buf + 100, &size), iova + 100);
	CU_ASSERT(size >= 3 * 4096 - 100);
	CU_ASSERT(size <= (uint64_t)UT_MEM_MB << 20);
	CU_ASSERT_EQUAL(axon_vtophys(buf, NULL), iova);

	size = 77;
	CU_ASSERT_EQUAL(axon_vtophys(&on_stack, &size), AXON_VTOPHYS_ERROR);
	CU_ASSERT_EQUAL(size, 77);
	CU_ASSERT_EQUAL(axon_vtophys(heap, NULL), AXON_VTOPHYS_ERROR);
	CU_ASSERT_EQUAL(axon_vtophys(NULL, NULL), AXON_VTOPHYS_ERROR);
	free(heap);
	axon_dma_free(buf);
}

/* ---- mempools ---------------------------------------------------------------- */

#define POOL_COUNT 63
#define POOL_ELT 128
#define POOL_CACHE 8

struct pool_ctx {
	struct axon_mempool *mp;
	uint32_t core;
	size_t got;      /* objects taken one by one */
	bool distinct;   /* no object handed out twice */
	bool extra_null; /* one more get failed */
	bool bulk_ok;
};

/* Take every object, check they differ, try one more, give all back. */
static int drain_pool(void *arg)
{
	struct pool_ctx *ctx = arg;
	void *objs[POOL_COUNT];

	ctx->core = axon_env_get_current_core();
	ctx->distinct = true;
	for (ctx->got = 0; ctx->got < POOL_COUNT; ctx->got++) {
		objs[ctx->got] = axon_mempool_get(ctx->mp);
		if (objs[ctx->got] == NULL) {
			break;
		}
		for (size_t j = 0; j < ctx->got; j++) {
			ctx->distinct = ctx->distinct && objs[j] != objs[ctx->got];
		}
	}
	ctx->extra_null = axon_mempool_get(ctx->mp) == NULL;
	axon_mempool_put_bulk(ctx->mp, objs, ctx->got);
	ctx->bulk_ok = axon_mempool_get_bulk(ctx->mp, objs, 5) == 0;
	if (ctx->bulk_ok) {
		axon_mempool_put_bulk(ctx->mp, objs, 5);
	}
	return 0;
}

static void *drain_pool_thread(void *arg)
{
	drain_pool(arg);
	return NULL;
}

static void test_mempool_main(void)
{
	struct axon_mempool *mp;
	void *objs[POOL_COUNT + 1];
	void *one;

	mp = axon_mempool_create("ut_pool", POOL_COUNT, POOL_ELT, POOL_CACHE, AXON_ENV_SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mp);
	CU_ASSERT_PTR_EQUAL(axon_mempool_lookup("ut_pool"), mp);
	CU_ASSERT_PTR_NULL(axon_mempool_lookup("no_such_pool"));
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);

	one = axon_mempool_get(mp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(one);
	CU_ASSERT_EQUAL((uintptr_t)one % RTE_CACHE_LINE_SIZE, 0);
	CU_ASSERT_NOT_EQUAL(axon_vtophys(one, NULL), AXON_VTOPHYS_ERROR);
	memset(one, 0x5a, POOL_ELT);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT - 1);
	/* All or nothing: 63 are asked, 62 are there. */
	CU_ASSERT_EQUAL(axon_mempool_get_bulk(mp, objs, POOL_COUNT), -ENOENT);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT - 1);
	CU_ASSERT_EQUAL(axon_mempool_get_bulk(mp, objs, POOL_COUNT - 1), 0);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), 0);
	CU_ASSERT_PTR_NULL(axon_mempool_get(mp));
	CU_ASSERT_EQUAL(axon_mempool_get_bulk(mp, objs, 1), -ENOENT);
	axon_mempool_put_bulk(mp, objs, POOL_COUNT - 1);
	axon_mempool_put(mp, one);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);
}

static void test_mempool_rejected(void)
{
	int errors = log_count(AXON_LOG_ERROR);

	/* Duplicate name, cache too large for the pool, zero count, long name. */
	CU_ASSERT_PTR_NULL(axon_mempool_create("ut_pool", 7, 64, 0, AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_PTR_NULL(axon_mempool_create("ut_pool2", 63, 64, 64, AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_PTR_NULL(axon_mempool_create("ut_pool3", 0, 64, 0, AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_PTR_NULL(axon_mempool_create("a_name_that_is_much_too_long_for_dpdk", 7, 64, 0,
					       AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_EQUAL(log_count(AXON_LOG_ERROR), errors + 4);
}

/* Objects sitting in the caches of cores other than `core`: out of its reach. */
static size_t cached_elsewhere(struct axon_mempool *mp, uint32_t core)
{
	size_t n = 0;

	for (uint32_t c = axon_env_get_first_core(); c != UINT32_MAX; c = axon_env_get_next_core(c)) {
		struct rte_mempool_cache *cache = rte_mempool_default_cache((struct rte_mempool *)mp, c);

		n += c != core && cache != NULL ? cache->len : 0;
	}
	return n;
}

static void check_drained(const struct pool_ctx *ctx, uint32_t core)
{
	CU_ASSERT_EQUAL(ctx->core, core);
	CU_ASSERT_EQUAL(ctx->got, POOL_COUNT - cached_elsewhere(ctx->mp, core));
	CU_ASSERT(ctx->distinct);
	CU_ASSERT(ctx->extra_null);
	CU_ASSERT(ctx->bulk_ok);
}

static void test_mempool_cores(void)
{
	struct axon_mempool *mp = axon_mempool_lookup("ut_pool");
	struct pool_ctx ctx = {.mp = mp};
	void *objs[POOL_COUNT];
	pthread_t thread;
	size_t got = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mp);
	/* Main core, then a thread EAL does not know (no cache), then the worker. */
	drain_pool(&ctx);
	check_drained(&ctx, g_main);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);

	memset(&ctx, 0, sizeof(ctx));
	ctx.mp = mp;
	CU_ASSERT_FATAL(pthread_create(&thread, NULL, drain_pool_thread, &ctx) == 0);
	pthread_join(thread, NULL);
	check_drained(&ctx, UINT32_MAX);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);

	if (g_worker == UINT32_MAX) {
		return;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.mp = mp;
	CU_ASSERT_FATAL(axon_env_launch_on_core(g_worker, drain_pool, &ctx) == 0);
	axon_env_wait_all_cores();
	check_drained(&ctx, g_worker);
	/* The count includes what the worker's cache kept... */
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);
	CU_ASSERT(cached_elsewhere(mp, g_main) > 0);
	/* ...which the main core cannot get. */
	while (got < POOL_COUNT && (objs[got] = axon_mempool_get(mp)) != NULL) {
		got++;
	}
	CU_ASSERT_EQUAL(got, POOL_COUNT - cached_elsewhere(mp, g_main));
	axon_mempool_put_bulk(mp, objs, got);
	CU_ASSERT_EQUAL(axon_mempool_count(mp), POOL_COUNT);
	axon_mempool_free(mp);
	CU_ASSERT_PTR_NULL(axon_mempool_lookup("ut_pool"));
	axon_mempool_free(NULL);
}

/* ---- rings ------------------------------------------------------------------- */

#define RING_SIZE 64
#define RING_ITEMS_PER_PRODUCER 100000
#define RING_BURST 16
/* Item: producer id in bit 32, a sequence number from 1 below it. */
#define RING_ITEM(producer, seq) ((void *)(((uintptr_t)(producer) << 32) | (seq)))

struct ring_ctx {
	struct axon_ring *ring;
	uint32_t producer;
};

static int produce(void *arg)
{
	struct ring_ctx *ctx = arg;

	for (uint32_t seq = 1; seq <= RING_ITEMS_PER_PRODUCER; seq++) {
		void *item = RING_ITEM(ctx->producer, seq);

		while (axon_ring_enqueue(ctx->ring, &item, 1, NULL) == 0) {
			rte_pause();
		}
	}
	return 0;
}

static void test_ring_basic(void)
{
	struct axon_ring *ring = axon_ring_create(AXON_RING_TYPE_SP_SC, 5, AXON_ENV_SOCKET_ID_ANY);
	void *in[6] = {RING_ITEM(0, 1), RING_ITEM(0, 2), RING_ITEM(0, 3),
		       RING_ITEM(0, 4), RING_ITEM(0, 5), RING_ITEM(0, 6)};
	void *out[6] = {NULL};
	size_t room = 99;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ring);
	/* Exactly the size asked for, and all or nothing. */
	CU_ASSERT_EQUAL(axon_ring_enqueue(ring, in, 6, &room), 0);
	CU_ASSERT_EQUAL(room, 5);
	CU_ASSERT_EQUAL(axon_ring_enqueue(ring, in, 3, &room), 3);
	CU_ASSERT_EQUAL(room, 2);
	CU_ASSERT_EQUAL(axon_ring_enqueue(ring, in + 3, 3, NULL), 0);
	CU_ASSERT_EQUAL(axon_ring_enqueue(ring, in + 3, 2, NULL), 2);
	CU_ASSERT_EQUAL(axon_ring_count(ring), 5);
	CU_ASSERT_EQUAL(axon_ring_dequeue(ring, out, 6), 5);
	CU_ASSERT(memcmp(in, out, 5 * sizeof(void *)) == 0);
	CU_ASSERT_EQUAL(axon_ring_dequeue(ring, out, 6), 0);
	axon_ring_free(ring);
	axon_ring_free(NULL);

	ring = axon_ring_create(AXON_RING_TYPE_MP_MC, 1000, axon_env_get_socket_id(g_main));
	CU_ASSERT_PTR_NOT_NULL(ring);
	axon_ring_free(ring);
	CU_ASSERT_PTR_NULL(axon_ring_create(AXON_RING_TYPE_MP_SC, 0, AXON_ENV_SOCKET_ID_ANY));
	CU_ASSERT_PTR_NULL(axon_ring_create((enum axon_ring_type)7, 8, AXON_ENV_SOCKET_ID_ANY));
}

/* Check per-producer order; returns false on a duplicate, gap or stranger. */
static bool consume(struct axon_ring *ring, uint32_t next_seq[2], size_t *received)
{
	void *items[RING_BURST];
	size_t n = axon_ring_dequeue(ring, items, RING_BURST);

	for (size_t i = 0; i < n; i++) {
		uintptr_t v = (uintptr_t)items[i];
		uint32_t producer = (uint32_t)(v >> 32);

		if (producer > 1 || (uint32_t)v != next_seq[producer]) {
			return false;
		}
		next_seq[producer]++;
	}
	*received += n;
	return true;
}

static void test_ring_mp_sc(void)
{
	struct ring_ctx worker = {.producer = 1};
	uint32_t next_seq[2] = {1, 1};
	size_t received = 0, expected = RING_ITEMS_PER_PRODUCER;
	uint32_t sent = 0;
	bool in_order = true;

	worker.ring = axon_ring_create(AXON_RING_TYPE_MP_SC, RING_SIZE, AXON_ENV_SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(worker.ring);
	if (g_worker != UINT32_MAX) {
		CU_ASSERT_FATAL(axon_env_launch_on_core(g_worker, produce, &worker) == 0);
		expected *= 2;
	}
	/* The main core produces as producer 0 and is the only consumer. */
	while (in_order && received < expected) {
		if (sent < RING_ITEMS_PER_PRODUCER) {
			void *item = RING_ITEM(0, sent + 1);

			sent += (uint32_t)axon_ring_enqueue(worker.ring, &item, 1, NULL);
		}
		in_order = consume(worker.ring, next_seq, &received);
	}
	axon_env_wait_all_cores();
	CU_ASSERT(in_order);
	CU_ASSERT_EQUAL(received, expected);
	CU_ASSERT_EQUAL(next_seq[0], RING_ITEMS_PER_PRODUCER + 1);
	if (g_worker != UINT32_MAX) {
		CU_ASSERT_EQUAL(next_seq[1], RING_ITEMS_PER_PRODUCER + 1);
	}
	CU_ASSERT_EQUAL(axon_ring_count(worker.ring), 0);
	axon_ring_free(worker.ring);
}

/* ---- time ---------------------------------------------------------------------- */

static void test_ticks(void)
{
	uint64_t hz = axon_get_ticks_hz();
	uint64_t prev = axon_get_ticks(), start, elapsed;
	bool monotonic = true;

	CU_ASSERT(hz > 100000000ULL && hz < 10000000000ULL);
	/* EAL's figure and our pre-init calibration agree (5%: loaded CI hosts). */
	CU_ASSERT(g_env_calibrated_hz > hz - hz / 20 && g_env_calibrated_hz < hz + hz / 20);
	for (int i = 0; i < 100000; i++) {
		uint64_t now = axon_get_ticks();

		monotonic = monotonic && now >= prev;
		prev = now;
	}
	CU_ASSERT(monotonic);
	start = axon_get_ticks();
	axon_delay_us(2000);
	elapsed = axon_get_ticks() - start;
	CU_ASSERT(elapsed >= hz * 2 / 1000);
	CU_ASSERT(elapsed < hz); /* not a whole second */
}

/* ---- memory map -------------------------------------------------------------- */

struct walk_ctx {
	int regions;
	uint64_t total;
	const void *find;
	bool found;
	int stop_with;
};

static int walk_region(void *addr, size_t len, uint64_t iova, void *arg)
{
	struct walk_ctx *ctx = arg;

	ctx->regions++;
	ctx->total += len;
	if ((uintptr_t)ctx->find >= (uintptr_t)addr && (uintptr_t)ctx->find < (uintptr_t)addr + len) {
		ctx->found = iova == (uintptr_t)addr;
	}
	return ctx->stop_with;
}

static void mem_event(enum axon_mem_event type, const void *addr, size_t len, void *arg)
{
}

static void test_mem_map(void)
{
	void *buf = axon_dma_malloc(4096, 0, AXON_ENV_SOCKET_ID_ANY);
	struct walk_ctx ctx = {.find = buf};

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_EQUAL(axon_env_mem_walk(walk_region, &ctx), 0);
	CU_ASSERT(ctx.regions >= 1);
	CU_ASSERT(ctx.total >= (uint64_t)UT_MEM_MB << 20);
	CU_ASSERT(ctx.found);
	memset(&ctx, 0, sizeof(ctx));
	ctx.stop_with = 7;
	CU_ASSERT_EQUAL(axon_env_mem_walk(walk_region, &ctx), 7);
	CU_ASSERT_EQUAL(ctx.regions, 1);

	/* --no-huge memory never changes: EAL has no events to give. */
	CU_ASSERT_EQUAL(axon_env_register_mem_event_cb("ut", mem_event, &ctx), -ENOTSUP);
	CU_ASSERT_EQUAL(axon_env_register_mem_event_cb(NULL, mem_event, &ctx), -EINVAL);
	CU_ASSERT_EQUAL(axon_env_unregister_mem_event_cb("ut", &ctx), -ENOENT);
	axon_dma_free(buf);
}

static void test_fini(void)
{
	char runtime_dir[sizeof(g_env_runtime_dir)];
	struct axon_env_opts opts;

	snprintf(runtime_dir, sizeof(runtime_dir), "%s", g_env_runtime_dir);
	CU_ASSERT(runtime_dir[0] != '\0');
	CU_ASSERT_EQUAL(access(runtime_dir, F_OK), 0);
	axon_env_fini();
	CU_ASSERT(!axon_env_is_initialized());
	CU_ASSERT(access(runtime_dir, F_OK) != 0);
	CU_ASSERT_EQUAL(axon_env_get_core_count(), 0);
	CU_ASSERT_PTR_NULL(axon_dma_malloc(64, 0, AXON_ENV_SOCKET_ID_ANY));
	axon_env_fini(); /* harmless */
	/* EAL cannot start twice in one process. */
	axon_env_opts_init(&opts);
	opts.no_huge = true;
	CU_ASSERT_EQUAL(axon_env_init(&opts), -EALREADY);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return CU_get_error();
	}
	suite = CU_add_suite("env", NULL, NULL);
	CU_ADD_TEST(suite, test_core_mask_parse);
	CU_ADD_TEST(suite, test_args_no_huge);
	CU_ADD_TEST(suite, test_args_hugepages);
	CU_ADD_TEST(suite, test_args_rejected);
	CU_ADD_TEST(suite, test_init_bad_core_mask);
	CU_ADD_TEST(suite, test_before_init);
	CU_ADD_TEST(suite, test_init);
	CU_ADD_TEST(suite, test_double_init);
	CU_ADD_TEST(suite, test_dpdk_log_routed);
	CU_ADD_TEST(suite, test_launch);
	CU_ADD_TEST(suite, test_dma_malloc);
	CU_ADD_TEST(suite, test_vtophys);
	CU_ADD_TEST(suite, test_mempool_main);
	CU_ADD_TEST(suite, test_mempool_rejected);
	CU_ADD_TEST(suite, test_mempool_cores);
	CU_ADD_TEST(suite, test_ring_basic);
	CU_ADD_TEST(suite, test_ring_mp_sc);
	CU_ADD_TEST(suite, test_ticks);
	CU_ADD_TEST(suite, test_mem_map);
	CU_ADD_TEST(suite, test_fini);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
