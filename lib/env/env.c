/*
 * EAL start and stop, cores and their threads, and the TSC.
 *
 * Sanitizers: EAL runs as is in an ASan + UBSan binary, with --no-huge or
 * hugepages; it needs no ASAN_OPTIONS, no --base-virtaddr and no
 * --legacy-mem. (Under ASan EAL's preferred base address is taken by shadow
 * memory, so EAL maps elsewhere; it says so only at debug level.) Everything
 * EAL allocates stays reachable, so LeakSanitizer reports nothing, with or
 * without rte_eal_cleanup.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_pause.h>

#include "axon/env.h"
#include "axon/log.h"
#include "env_internal.h"

#define TSC_CALIBRATION_NS 10000000L /* 10 ms: within 0.1% of EAL's figure */
#define NS_PER_SEC 1000000000ULL
#define US_PER_SEC 1000000ULL

enum env_state {
	ENV_STATE_NONE,    /* EAL not started */
	ENV_STATE_RUNNING, /* axon_env_init succeeded */
	ENV_STATE_DONE,    /* EAL cleaned up: it cannot start again in this process */
};

static pthread_mutex_t g_env_lock = PTHREAD_MUTEX_INITIALIZER;
static enum env_state g_env_state = ENV_STATE_NONE;
/* Read on fast paths (DMA allocation) without the lock. */
static atomic_bool g_env_running;
/* EAL keeps pointers into argv for its lifetime (and permutes it). */
static struct env_args g_env_args;
static FILE *g_env_log_stream;
static char g_env_runtime_dir[4096];

void axon_env_opts_init(struct axon_env_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = "axon";
	opts->core_mask = "0x1";
	opts->main_core = -1;
	opts->no_pci = true;
}

bool axon_env_is_initialized(void)
{
	return atomic_load_explicit(&g_env_running, memory_order_acquire);
}

static enum axon_log_level dpdk_level_to_axon(uint32_t level)
{
	switch (level) {
	case RTE_LOG_EMERG:
	case RTE_LOG_ALERT:
	case RTE_LOG_CRIT:
	case RTE_LOG_ERR:
		return AXON_LOG_ERROR;
	case RTE_LOG_WARNING:
		return AXON_LOG_WARN;
	case RTE_LOG_NOTICE:
		return AXON_LOG_NOTICE;
	case RTE_LOG_INFO:
		return AXON_LOG_INFO;
	default:
		return AXON_LOG_DEBUG;
	}
}

/* DPDK's log stream: every line goes to axon_log at the matching level, so
 * EAL messages carry Axon's prefix and reach syslog like ours. */
static ssize_t dpdk_log_write(void *cookie, const char *buf, size_t size)
{
	enum axon_log_level level = dpdk_level_to_axon(rte_log_cur_msg_loglevel());
	size_t start = 0;

	while (start < size) {
		const char *nl = memchr(buf + start, '\n', size - start);
		size_t len = nl ? (size_t)(nl - (buf + start)) : size - start;

		if (len > 0) {
			axon_log(level, "dpdk", 0, "dpdk", "%.*s\n", (int)len, buf + start);
		}
		start += len + 1;
	}
	return (ssize_t)size;
}

static int open_dpdk_log(void)
{
	cookie_io_functions_t io = {.write = dpdk_log_write};

	g_env_log_stream = fopencookie(NULL, "w", io);
	if (g_env_log_stream == NULL) {
		AXON_ERRLOG("cannot open the DPDK log stream: %s\n", strerror(errno));
		return -ENOMEM;
	}
	/* One write per line: a line is one axon_log call. */
	setvbuf(g_env_log_stream, NULL, _IOLBF, 0);
	rte_openlog_stream(g_env_log_stream);
	return 0;
}

static void close_dpdk_log(void)
{
	rte_openlog_stream(NULL);
	if (g_env_log_stream != NULL) {
		fclose(g_env_log_stream);
		g_env_log_stream = NULL;
	}
}

static void remove_runtime_dir(const char *dir)
{
	/* With --no-shconf EAL leaves only its empty runtime directory. */
	if (dir[0] != '\0' && rmdir(dir) != 0 && errno != ENOENT) {
		AXON_WARNLOG("cannot remove %s: %s\n", dir, strerror(errno));
	}
}

static void log_eal_args(const struct env_args *args)
{
	char line[1024];
	size_t used = 0;

	for (int i = 0; i < args->argc && used < sizeof(line); i++) {
		used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s", i ? " " : "",
					 args->argv[i]);
	}
	AXON_INFOLOG("EAL arguments: %s\n", line);
}

static int start_eal(const struct axon_env_opts *opts)
{
	int rc;

	rc = env_build_args(opts, !opts->no_huge && env_system_has_hugepages(), &g_env_args);
	if (rc == 0) {
		rc = env_check_cores_available(opts->core_mask, &g_env_args.cores);
	}
	if (rc != 0) {
		return rc;
	}
	log_eal_args(&g_env_args);
	rc = open_dpdk_log();
	if (rc != 0) {
		return rc;
	}
	if (rte_eal_init(g_env_args.argc, g_env_args.argv) < 0) {
		rc = rte_errno > 0 ? -rte_errno : -EINVAL;
		AXON_ERRLOG("DPDK EAL initialisation failed: %s\n", rte_strerror(-rc));
		close_dpdk_log();
		remove_runtime_dir(rte_eal_get_runtime_dir());
		return rc;
	}
	snprintf(g_env_runtime_dir, sizeof(g_env_runtime_dir), "%s", rte_eal_get_runtime_dir());
	AXON_INFOLOG("EAL up: %u cores, main core %u, %s, IOVA as %s\n", rte_lcore_count(),
		     rte_get_main_lcore(), g_env_args.no_huge ? "no hugepages" : "hugepages",
		     rte_eal_iova_mode() == RTE_IOVA_PA ? "PA" : "VA");
	return 0;
}

int axon_env_init(const struct axon_env_opts *opts)
{
	struct axon_env_opts defaults;
	int rc;

	if (opts == NULL) {
		axon_env_opts_init(&defaults);
		opts = &defaults;
	}
	pthread_mutex_lock(&g_env_lock);
	if (g_env_state != ENV_STATE_NONE) {
		AXON_ERRLOG(g_env_state == ENV_STATE_RUNNING
				    ? "the environment is already initialised\n"
				    : "EAL was stopped in this process and cannot start again\n");
		rc = -EALREADY;
		goto unlock;
	}
	rc = start_eal(opts);
	if (rc == 0) {
		g_env_state = ENV_STATE_RUNNING;
		atomic_store_explicit(&g_env_running, true, memory_order_release);
	}
unlock:
	pthread_mutex_unlock(&g_env_lock);
	return rc;
}

void axon_env_fini(void)
{
	pthread_mutex_lock(&g_env_lock);
	if (g_env_state != ENV_STATE_RUNNING) {
		goto unlock;
	}
	/* Workers may still touch EAL memory until they return. */
	rte_eal_mp_wait_lcore();
	atomic_store_explicit(&g_env_running, false, memory_order_release);
	env_mem_event_fini();
	if (rte_eal_cleanup() != 0) {
		AXON_ERRLOG("DPDK EAL cleanup failed: %s\n", rte_strerror(rte_errno));
	}
	close_dpdk_log();
	remove_runtime_dir(g_env_runtime_dir);
	g_env_state = ENV_STATE_DONE;
unlock:
	pthread_mutex_unlock(&g_env_lock);
}

/* ---- cores --------------------------------------------------------------- */

static bool is_env_core(uint32_t core)
{
	return axon_env_is_initialized() && core < RTE_MAX_LCORE && rte_lcore_is_enabled(core);
}

int axon_env_launch_on_core(uint32_t core, int (*fn)(void *arg), void *arg)
{
	int rc;

	if (!axon_env_is_initialized()) {
		return -ENODEV;
	}
	if (fn == NULL || !is_env_core(core) || core == rte_get_main_lcore()) {
		AXON_ERRLOG("core %u is not a worker core\n", core);
		return -EINVAL;
	}
	rc = rte_eal_remote_launch(fn, arg, core);
	if (rc != 0) {
		AXON_ERRLOG("cannot launch on core %u: %s\n", core, strerror(-rc));
	}
	return rc;
}

void axon_env_wait_all_cores(void)
{
	if (axon_env_is_initialized()) {
		rte_eal_mp_wait_lcore();
	}
}

uint32_t axon_env_get_current_core(void)
{
	/* rte_lcore_id() is LCORE_ID_ANY (UINT32_MAX) off an EAL thread. */
	return rte_lcore_id();
}

uint32_t axon_env_get_main_core(void)
{
	return axon_env_is_initialized() ? rte_get_main_lcore() : UINT32_MAX;
}

uint32_t axon_env_get_core_count(void)
{
	return axon_env_is_initialized() ? rte_lcore_count() : 0;
}

static uint32_t next_core(uint32_t from)
{
	uint32_t core;

	if (!axon_env_is_initialized()) {
		return UINT32_MAX;
	}
	/* rte_get_next_lcore starts at from + 1; UINT32_MAX + 1 wraps to 0. */
	core = rte_get_next_lcore(from, 0, 0);
	return core < RTE_MAX_LCORE ? core : UINT32_MAX;
}

uint32_t axon_env_get_first_core(void)
{
	return next_core(UINT32_MAX);
}

uint32_t axon_env_get_next_core(uint32_t prev)
{
	return prev < RTE_MAX_LCORE ? next_core(prev) : UINT32_MAX;
}

int axon_env_get_socket_id(uint32_t core)
{
	return is_env_core(core) ? (int)rte_lcore_to_socket_id(core) : -EINVAL;
}

/* ---- time ---------------------------------------------------------------- */

static _Atomic uint64_t g_env_calibrated_hz;

uint64_t axon_get_ticks(void)
{
	return rte_get_tsc_cycles();
}

static uint64_t calibrate_tsc_hz(void)
{
	struct timespec t0, t1, pause = {.tv_nsec = TSC_CALIBRATION_NS};
	uint64_t c0, c1, ns;

	clock_gettime(CLOCK_MONOTONIC_RAW, &t0);
	c0 = rte_get_tsc_cycles();
	nanosleep(&pause, NULL);
	clock_gettime(CLOCK_MONOTONIC_RAW, &t1);
	c1 = rte_get_tsc_cycles();
	ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * NS_PER_SEC + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	return ns ? (c1 - c0) * NS_PER_SEC / ns : 0;
}

uint64_t axon_get_ticks_hz(void)
{
	uint64_t hz;

	/* EAL measures the TSC at start; before that, measure it ourselves. */
	if (axon_env_is_initialized()) {
		return rte_get_tsc_hz();
	}
	hz = atomic_load_explicit(&g_env_calibrated_hz, memory_order_relaxed);
	if (hz == 0) {
		hz = calibrate_tsc_hz();
		atomic_store_explicit(&g_env_calibrated_hz, hz, memory_order_relaxed);
	}
	return hz;
}

void axon_delay_us(unsigned int us)
{
	uint64_t start = axon_get_ticks();
	uint64_t wait = axon_get_ticks_hz() * us / US_PER_SEC;

	while (axon_get_ticks() - start < wait) {
		rte_pause();
	}
}
