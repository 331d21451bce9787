/*
 * Unit tests for lib/event reactors with the real lib/thread and lib/env
 * (--no-huge): one app run on up to two cores. A plain pthread (the driver)
 * runs the CUnit tests against the running reactors, then stops the app with
 * SIGTERM; main() checks the exit code and the reverse stop order.
 * lib/rpc is replaced by test doubles (the RPC server is disabled).
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "axon/env.h"
#include "axon/rpc.h"

#include "lib/event/app.c"
#include "lib/event/app_opts.c"
#include "lib/event/json_config.c"
#include "lib/event/reactor.c"
#include "lib/event/subsystem.c"

/* ---- lib/rpc test doubles ---------------------------------------------------- */

static uint32_t g_rpc_state;
void axon_rpc_set_state(uint32_t state)
{
	g_rpc_state = state;
}
uint32_t axon_rpc_get_state(void)
{
	return g_rpc_state;
}
int axon_rpc_server_start(const char *path)
{
	return 0;
}
void axon_rpc_server_stop(void)
{
}
const char *axon_rpc_get_next_method(const char *prev, uint32_t *state_mask)
{
	return NULL;
}
void axon_rpc_call_local(const char *method, const json_t *params, axon_rpc_local_cb cb, void *ctx)
{
	json_t *err = json_pack("{s:i,s:s}", "code", -32601, "message", "no methods in this test");

	cb(ctx, NULL, err);
	json_decref(err);
}

/* ---- subsystems: start order and reverse stop order --------------------------- */

static char g_trace[128];
static void trace(const char *s)
{
	strcat(g_trace, s);
}
static void ut_a_init(void) { trace("+a "); axon_subsystem_init_next(0); }
static void ut_a_fini(void) { trace("-a "); axon_subsystem_fini_next(); }
static void ut_b_init(void) { trace("+b "); axon_subsystem_init_next(0); }
static void ut_b_fini(void) { trace("-b "); axon_subsystem_fini_next(); }
static struct axon_subsystem g_ut_b = {.name = "ut_b", .init = ut_b_init, .fini = ut_b_fini};
static struct axon_subsystem g_ut_a = {.name = "ut_a", .init = ut_a_init, .fini = ut_a_fini};
AXON_SUBSYSTEM_REGISTER(g_ut_b)
AXON_SUBSYSTEM_REGISTER(g_ut_a)
AXON_SUBSYSTEM_DEPEND(ut_b, ut_a)

/* ---- helpers ----------------------------------------------------------------------- */

static uint32_t g_cores[2];
static uint32_t g_ncores;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait up to ms for *flag to become non-zero. */
static bool wait_flag(atomic_int *flag, int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;

	while (atomic_load(flag) == 0) {
		if (now_ns() > deadline) {
			return false;
		}
		usleep(100);
	}
	return true;
}

struct probe {
	atomic_int done;
	int core;
	uint64_t ran_ns;
	struct axon_thread *thread;
};

static void probe_msg(void *ctx)
{
	struct probe *p = ctx;

	p->core = axon_reactor_current_core();
	p->thread = axon_get_thread();
	p->ran_ns = now_ns();
	atomic_store(&p->done, 1);
}

static int core_of(struct axon_thread *t)
{
	struct probe p = {0};

	if (axon_thread_send_msg(t, probe_msg, &p) != 0 || !wait_flag(&p.done, 5000)) {
		return -2;
	}
	return p.core;
}

static struct axon_thread *g_w0, *g_w1;

/* ---- tests --------------------------------------------------------------------------- */

static void test_placement(void)
{
	struct axon_thread *t[4];
	int on_first = 0, i;

	CU_ASSERT_EQUAL(axon_reactor_count(), g_ncores);
	g_w0 = axon_thread_create("w0", (int)g_cores[0]);
	g_w1 = axon_thread_create("w1", (int)g_cores[g_ncores - 1]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_w0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_w1);
	CU_ASSERT_EQUAL(core_of(g_w0), (int)g_cores[0]);
	CU_ASSERT_EQUAL(core_of(g_w1), (int)g_cores[g_ncores - 1]);
	/* Without a preference, threads are spread round robin. */
	for (i = 0; i < 4; i++) {
		t[i] = axon_thread_create("rr", -1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(t[i]);
		on_first += core_of(t[i]) == (int)g_cores[0];
	}
	CU_ASSERT_EQUAL(on_first, g_ncores == 2 ? 2 : 4);
	for (i = 0; i < 4; i++) {
		axon_thread_send_msg(t[i], (axon_msg_fn)axon_thread_exit, t[i]);
	}
}

struct pingpong {
	atomic_int done;
	int remaining;
};

static void pong(void *ctx);
static void ping(void *ctx)
{
	struct pingpong *pp = ctx;

	if (--pp->remaining == 0) {
		atomic_store(&pp->done, 1);
		return;
	}
	axon_thread_send_msg(g_w1, pong, pp);
}
static void pong(void *ctx)
{
	axon_thread_send_msg(g_w0, ping, ctx);
}

/* Round trips between two reactors: each hop may find the other reactor asleep. */
static void test_pingpong(void)
{
	struct pingpong pp = {.remaining = 20000};

	axon_thread_send_msg(g_w1, pong, &pp);
	CU_ASSERT_TRUE(wait_flag(&pp.done, 20000));
}

static bool reactor_asleep(uint32_t core, int ms)
{
	struct axon_reactor_info info;
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;

	do {
		if (axon_reactor_get_info(core, &info) == 0 && info.in_interrupt) {
			return true;
		}
		usleep(200);
	} while (now_ns() < deadline);
	return false;
}

/* An idle reactor sleeps; a message from any OS thread wakes it at once. */
static void test_sleep_and_wake(void)
{
	uint32_t core = g_cores[g_ncores - 1];
	struct axon_reactor_info before, after;
	struct probe p = {0};
	uint64_t sent, worst = 0;
	int i;

	for (i = 0; i < 5; i++) {
		CU_ASSERT_TRUE_FATAL(reactor_asleep(core, 2000));
		CU_ASSERT_EQUAL(axon_reactor_get_info(core, &before), 0);
		atomic_store(&p.done, 0);
		sent = now_ns();
		CU_ASSERT_EQUAL(axon_thread_send_msg(g_w1, probe_msg, &p), 0);
		CU_ASSERT_TRUE(wait_flag(&p.done, 2000));
		if (p.ran_ns - sent > worst) {
			worst = p.ran_ns - sent;
		}
		CU_ASSERT_EQUAL(axon_reactor_get_info(core, &after), 0);
		CU_ASSERT_TRUE(after.sleep_count >= before.sleep_count);
	}
	printf("(worst wake-up %.1f us) ", worst / 1000.0);
	/* Far below the 1 s safety-net timeout: the eventfd woke it. */
	CU_ASSERT(worst < 100u * 1000000u);
}

struct timed {
	atomic_int runs;
	atomic_int done;
	struct axon_poller *poller;
	int efd;
	atomic_int efd_seen;
};

static int timed_fn(void *ctx)
{
	struct timed *t = ctx;

	atomic_fetch_add(&t->runs, 1);
	return AXON_POLLER_IDLE;
}
static void timed_register(void *ctx)
{
	struct timed *t = ctx;

	t->poller = axon_poller_register(timed_fn, t, 20000);
	atomic_store(&t->done, 1);
}
static void poller_unregister_msg(void *ctx)
{
	struct timed *t = ctx;

	axon_poller_unregister(&t->poller);
	atomic_store(&t->done, 1);
}

/* A timed poller runs on time while the reactor sleeps between its runs. */
static void test_timed_poller_sleeps(void)
{
	uint32_t core = g_cores[g_ncores - 1];
	struct axon_reactor_info before, after;
	struct timed t = {0};
	int runs;

	axon_thread_send_msg(g_w1, timed_register, &t);
	CU_ASSERT_TRUE_FATAL(wait_flag(&t.done, 2000));
	axon_reactor_get_info(core, &before);
	atomic_store(&t.runs, 0);
	usleep(500000);
	runs = atomic_load(&t.runs);
	axon_reactor_get_info(core, &after);
	printf("(%d runs of a 20 ms poller in 500 ms, %lu sleeps) ", runs,
	       (unsigned long)(after.sleep_count - before.sleep_count));
	/* Loose bounds for a loaded host; without the timerfd wake-up it would run
	 * about once (the 1 s safety-net timeout). */
	CU_ASSERT(runs >= 5 && runs <= 30);
	CU_ASSERT(after.sleep_count - before.sleep_count >= (uint64_t)runs / 2);
	atomic_store(&t.done, 0);
	axon_thread_send_msg(g_w1, poller_unregister_msg, &t);
	CU_ASSERT_TRUE(wait_flag(&t.done, 2000));
}

static int active_fn(void *ctx)
{
	struct timed *t = ctx;
	uint64_t v;

	atomic_fetch_add(&t->runs, 1);
	if (t->efd >= 0 && read(t->efd, &v, sizeof(v)) == sizeof(v)) {
		atomic_store(&t->efd_seen, 1);
		return AXON_POLLER_BUSY;
	}
	return AXON_POLLER_IDLE;
}
static void active_register(void *ctx)
{
	struct timed *t = ctx;

	t->poller = axon_poller_register(active_fn, t, 0);
	atomic_store(&t->done, 1);
}
static void wake_fd_add(void *ctx)
{
	struct timed *t = ctx;

	CU_ASSERT_EQUAL(axon_thread_add_wake_fd(t->efd, EPOLLIN), 0);
	atomic_store(&t->done, 1);
}
static void wake_fd_remove(void *ctx)
{
	struct timed *t = ctx;

	axon_thread_remove_wake_fd(t->efd);
	axon_poller_unregister(&t->poller);
	atomic_store(&t->done, 1);
}
static void has_wake_fds_msg(void *ctx)
{
	struct probe *p = ctx;

	p->core = axon_thread_has_wake_fds(axon_get_thread());
	atomic_store(&p->done, 1);
}

/* An active poller without a wake fd keeps its reactor polling; with one,
 * the reactor sleeps and the fd wakes it. */
static void test_active_poller_rule(void)
{
	uint32_t core = g_cores[g_ncores - 1];
	struct axon_reactor_info before, after;
	struct timed t = {.efd = -1};
	struct probe p = {0};
	uint64_t one = 1;

	axon_thread_send_msg(g_w1, has_wake_fds_msg, &p);
	CU_ASSERT_TRUE_FATAL(wait_flag(&p.done, 2000));
	axon_thread_send_msg(g_w1, active_register, &t);
	CU_ASSERT_TRUE_FATAL(wait_flag(&t.done, 2000));
	CU_ASSERT_FALSE(p.core); /* no wake fd registered yet */
	usleep(20000);
	axon_reactor_get_info(core, &before);
	usleep(200000);
	axon_reactor_get_info(core, &after);
	CU_ASSERT_EQUAL(after.sleep_count, before.sleep_count);
	CU_ASSERT_FALSE(after.in_interrupt);
	t.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(t.efd >= 0);
	atomic_store(&t.done, 0);
	axon_thread_send_msg(g_w1, wake_fd_add, &t);
	CU_ASSERT_TRUE_FATAL(wait_flag(&t.done, 2000));
	CU_ASSERT_TRUE(reactor_asleep(core, 2000));
	CU_ASSERT_EQUAL(write(t.efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	CU_ASSERT_TRUE(wait_flag(&t.efd_seen, 2000));
	atomic_store(&t.done, 0);
	axon_thread_send_msg(g_w1, wake_fd_remove, &t);
	CU_ASSERT_TRUE(wait_flag(&t.done, 2000));
	close(t.efd);
}

static void test_info(void)
{
	struct axon_reactor_info info;
	uint32_t cores[4], i;
	bool found = false;

	CU_ASSERT_EQUAL(axon_reactor_get_cores(cores, 4), g_ncores);
	CU_ASSERT_EQUAL(cores[0], g_cores[0]);
	CU_ASSERT_EQUAL(axon_reactor_get_info(9999, &info), -ENOENT);
	CU_ASSERT_EQUAL(axon_reactor_get_info(axon_env_get_main_core(), &info), 0);
	for (i = 0; i < info.thread_count && i < 64; i++) {
		found |= strcmp(info.thread_names[i], "app_thread") == 0;
	}
	CU_ASSERT_TRUE(found);
	CU_ASSERT(info.busy_tsc > 0);
	CU_ASSERT(info.idle_tsc > 0);
	CU_ASSERT_EQUAL(axon_reactor_current_core(), -1); /* the driver is no reactor */
	CU_ASSERT_TRUE(axon_app_is_initialized());
	CU_ASSERT_STRING_EQUAL(g_trace, "+a +b ");
}

static void exit_msg(void *ctx)
{
	axon_thread_exit(axon_get_thread());
}

/* Exited threads are destroyed by their reactor. */
static void test_thread_exit(void)
{
	struct axon_reactor_info info;
	uint32_t core = g_cores[g_ncores - 1];
	int i;

	axon_thread_send_msg(g_w0, exit_msg, NULL);
	axon_thread_send_msg(g_w1, exit_msg, NULL);
	for (i = 0; i < 2000; i++) {
		axon_reactor_get_info(core, &info);
		if (info.thread_count == (g_ncores == 2 ? 0u : 1u)) {
			break;
		}
		usleep(1000);
	}
	CU_ASSERT_EQUAL(info.thread_count, g_ncores == 2 ? 0u : 1u);
}

/* ---- driver ------------------------------------------------------------------------------ */

static unsigned int g_failures;

static void *driver(void *arg)
{
	CU_pSuite suite;

	suite = CU_add_suite("reactor", NULL, NULL);
	CU_ADD_TEST(suite, test_placement);
	CU_ADD_TEST(suite, test_pingpong);
	CU_ADD_TEST(suite, test_sleep_and_wake);
	CU_ADD_TEST(suite, test_timed_poller_sleeps);
	CU_ADD_TEST(suite, test_active_poller_rule);
	CU_ADD_TEST(suite, test_info);
	CU_ADD_TEST(suite, test_thread_exit);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	g_failures = CU_get_number_of_failures();
	/* The signal path: SIGTERM -> orderly shutdown -> axon_app_start returns 0. */
	kill(getpid(), SIGTERM);
	return NULL;
}

static pthread_t g_driver;
static void start_fn(void *ctx)
{
	pthread_create(&g_driver, NULL, driver, NULL);
}

/* Up to two cores this process may run on. */
static void pick_cores(char *mask, size_t len)
{
	cpu_set_t set;
	uint32_t c, bits = 0;

	sched_getaffinity(0, sizeof(set), &set);
	for (c = 0; c < 64 && g_ncores < 2; c++) {
		if (CPU_ISSET(c, &set)) {
			g_cores[g_ncores++] = c;
			bits |= 1u << c;
		}
	}
	snprintf(mask, len, "0x%x", bits);
}

int main(void)
{
	struct axon_app_opts opts;
	char mask[32];
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	pick_cores(mask, sizeof(mask));
	axon_app_opts_init(&opts, "reactor_ut");
	opts.reactor_mask = mask;
	opts.no_huge = true;
	opts.mem_size_mb = 64;
	opts.rpc_addr = NULL;
	opts.print_level = AXON_LOG_WARN;
	rc = axon_app_start(&opts, start_fn, NULL);
	pthread_join(g_driver, NULL);
	axon_app_fini();
	printf("\napp exit code %d, stop order '%s'\n", rc, g_trace);
	if (rc != 0 || strcmp(g_trace, "+a +b -b -a ") != 0) {
		g_failures++;
	}
	CU_cleanup_registry();
	return g_failures ? 1 : 0;
}
