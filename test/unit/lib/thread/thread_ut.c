/*
 * Unit tests for lib/thread: threads, messages, pollers, I/O channels and the
 * adaptive-sleep fds, run deterministically on one OS thread with the
 * test/common harness; plus the message ring and the sleep/wake protocol
 * under real concurrency.
 */
#include <CUnit/Basic.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/thread/io_channel.c"
#include "lib/thread/msg.c"
#include "lib/thread/msg_ring.c"
#include "lib/thread/poller.c"
#include "lib/thread/thread.c"
#include "lib/thread/thread_sleep.c"

#include "test/common/ut_threads.h"

/* ---- helpers ------------------------------------------------------------- */

static void msg_count(void *ctx)
{
	(*(int *)ctx)++;
}

/* Readable within timeout_ms? */
static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

/* ---- threads --------------------------------------------------------------- */

static void test_thread_lifecycle(void)
{
	struct axon_thread *t0, *t1;
	uint64_t *ctx;

	CU_ASSERT_FATAL(ut_threads_init_ctx(2, sizeof(uint64_t)) == 0);
	CU_ASSERT(axon_thread_lib_init(NULL, 0) == -EALREADY);
	t0 = ut_thread(0);
	t1 = ut_thread(1);
	CU_ASSERT(axon_thread_get_id(t0) == 1);
	CU_ASSERT(axon_thread_get_id(t1) == 2);
	CU_ASSERT(axon_thread_get_app_thread() == t0);
	CU_ASSERT(axon_thread_get_by_id(2) == t1);
	CU_ASSERT(axon_thread_get_by_id(3) == NULL);
	CU_ASSERT(axon_thread_get_by_id(0) == NULL);
	CU_ASSERT(strcmp(axon_thread_get_name(t1), "ut_thread1") == 0);
	CU_ASSERT(axon_get_thread() == t0);
	CU_ASSERT(strcmp(thread_log_name(), "ut_thread0") == 0);
	CU_ASSERT(axon_thread_is_running(t1));
	CU_ASSERT(!axon_thread_is_exited(t1));

	ctx = axon_thread_get_ctx(t1);
	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT(*ctx == 0);
	CU_ASSERT(((uintptr_t)ctx % MSG_CACHE_LINE) == 0);
	CU_ASSERT(axon_thread_get_from_ctx(ctx) == t1);

	/* A thread with nothing to do exits at its next poll. */
	axon_thread_exit(t1);
	axon_thread_exit(t1);
	CU_ASSERT(!axon_thread_is_running(t1));
	CU_ASSERT(!axon_thread_is_exited(t1));
	ut_poll_thread(1);
	CU_ASSERT(axon_thread_is_exited(t1));
	CU_ASSERT(axon_thread_get_by_id(2) == NULL);
	CU_ASSERT(ut_thread_remove(1) == 0);

	ut_set_thread(-1);
	CU_ASSERT(axon_get_thread() == NULL);
	CU_ASSERT(thread_log_name() == NULL);
	CU_ASSERT(ut_threads_fini() == 0);
	CU_ASSERT(axon_thread_create("late", -1) == NULL); /* library is down */
}

static int g_new_thread_calls;
static int g_new_thread_rc;

static int ut_new_thread(struct axon_thread *thread)
{
	g_new_thread_calls++;
	CU_ASSERT(axon_thread_get_preferred_core(thread) == 3);
	CU_ASSERT(axon_thread_get_id(thread) != 0);
	return g_new_thread_rc;
}

static void test_thread_new_thread_fn(void)
{
	struct axon_thread *thread;

	CU_ASSERT_FATAL(axon_thread_lib_init(ut_new_thread, 0) == 0);
	g_new_thread_rc = -EBUSY;
	CU_ASSERT(axon_thread_create("refused", 3) == NULL);
	CU_ASSERT(axon_thread_get_app_thread() == NULL);
	g_new_thread_rc = 0;
	thread = axon_thread_create(NULL, 3);
	CU_ASSERT_FATAL(thread != NULL);
	CU_ASSERT(g_new_thread_calls == 2);
	CU_ASSERT(axon_thread_get_id(thread) == 2);
	CU_ASSERT(strcmp(axon_thread_get_name(thread), "thread2") == 0);
	CU_ASSERT(axon_thread_get_app_thread() == thread);
	CU_ASSERT(axon_thread_get_ctx(thread) == NULL);

	/* Destroy refuses a live thread. */
	axon_thread_destroy(thread);
	CU_ASSERT(axon_thread_get_by_id(2) == thread);
	axon_thread_exit(thread);
	axon_thread_poll(thread, 0, 0);
	axon_thread_destroy(thread);
	CU_ASSERT(axon_thread_get_app_thread() == NULL);
	axon_thread_lib_fini();
}

/* ---- messages -------------------------------------------------------------- */

static int g_order[8];
static int g_order_len;

static void msg_record(void *ctx)
{
	g_order[g_order_len++] = (int)(uintptr_t)ctx;
}

static void msg_check_on_thread1(void *ctx)
{
	CU_ASSERT(axon_get_thread() == ut_thread(1));
	(*(int *)ctx)++;
}

static void test_send_msg(void)
{
	int count = 0;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	CU_ASSERT(axon_thread_send_msg(NULL, msg_count, &count) == -EINVAL);
	CU_ASSERT(axon_thread_send_msg(ut_thread(1), NULL, &count) == -EINVAL);

	CU_ASSERT(axon_thread_send_msg(ut_thread(1), msg_check_on_thread1, &count) == 0);
	ut_poll_thread(0);
	CU_ASSERT(count == 0);
	CU_ASSERT(ut_poll_thread(1) == AXON_POLLER_BUSY);
	CU_ASSERT(count == 1);
	CU_ASSERT(ut_poll_thread(1) == AXON_POLLER_IDLE);
	/* axon_thread_poll restores the caller's current thread. */
	CU_ASSERT(axon_get_thread() == ut_thread(0));

	/* FIFO, and max_msgs bounds one iteration. */
	g_order_len = 0;
	for (int i = 0; i < 5; i++) {
		CU_ASSERT(axon_thread_send_msg(ut_thread(1), msg_record, (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(axon_thread_poll(ut_thread(1), 2, 0) == AXON_POLLER_BUSY);
	CU_ASSERT(g_order_len == 2);
	ut_poll_threads();
	CU_ASSERT_FATAL(g_order_len == 5);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT(g_order[i] == i);
	}
	CU_ASSERT(ut_threads_fini() == 0);
}

static void msg_send_self(void *ctx)
{
	int *count = ctx;

	if (++*count < 3) {
		CU_ASSERT(axon_thread_send_msg(axon_get_thread(), msg_send_self, ctx) == 0);
	}
}

static void test_send_msg_ring_full(void)
{
	int count = 0;
	uint32_t sent = 0;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	while (axon_thread_send_msg(ut_thread(0), msg_count, &count) == 0) {
		sent++;
		if (sent > MSG_RING_SIZE) {
			break;
		}
	}
	CU_ASSERT(sent == MSG_RING_SIZE);
	CU_ASSERT(axon_thread_send_msg(ut_thread(0), msg_count, &count) == -ENOMEM);
	/* One budgeted batch frees room again. */
	CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_BUSY);
	CU_ASSERT(count == (int)THREAD_MSG_BUDGET);
	CU_ASSERT(axon_thread_send_msg(ut_thread(0), msg_count, &count) == 0);
	ut_poll_threads();
	CU_ASSERT(count == (int)MSG_RING_SIZE + 1);

	/* A message may send to its own thread, also right after a full ring. */
	count = 0;
	CU_ASSERT(axon_thread_send_msg(ut_thread(0), msg_send_self, &count) == 0);
	ut_poll_threads();
	CU_ASSERT(count == 3);
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_send_msg_exited(void)
{
	int count = 0;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	axon_thread_exit(ut_thread(1));
	/* Exiting: still delivered. */
	CU_ASSERT(axon_thread_send_msg(ut_thread(1), msg_count, &count) == 0);
	ut_poll_threads();
	CU_ASSERT(count == 1);
	CU_ASSERT(axon_thread_is_exited(ut_thread(1)));
	/* Exited: refused. */
	CU_ASSERT(axon_thread_send_msg(ut_thread(1), msg_count, &count) == -EIO);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- exit ------------------------------------------------------------------ */

static struct axon_poller *g_exit_poller;

static int poller_idle(void *ctx)
{
	if (ctx != NULL) {
		(*(int *)ctx)++;
	}
	return AXON_POLLER_IDLE;
}

static void msg_unregister_exit_poller(void *ctx)
{
	(*(int *)ctx)++;
	axon_poller_unregister(&g_exit_poller);
}

static int ut_create_ok(void *io_device, void *ctx_buf)
{
	(*(int *)io_device)++;
	return 0;
}

static void ut_destroy_count(void *io_device, void *ctx_buf)
{
	(*(int *)io_device)--;
}

static void test_exit_waits(void)
{
	struct axon_io_channel *ch;
	int dev = 0, msgs = 0;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	axon_io_device_register(&dev, ut_create_ok, ut_destroy_count, 8, "exit_dev");
	ut_set_thread(1);
	g_exit_poller = axon_poller_register(poller_idle, NULL, 0);
	ch = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(g_exit_poller != NULL && ch != NULL);
	axon_thread_exit(ut_thread(1));
	/* An exiting thread cannot take new channels. */
	CU_ASSERT(axon_get_io_channel(&dev) == NULL);

	ut_poll_threads();
	CU_ASSERT(!axon_thread_is_exited(ut_thread(1)));
	/* Messages reach it while it drains; this one drops the poller. */
	CU_ASSERT(axon_thread_send_msg(ut_thread(1), msg_unregister_exit_poller, &msgs) == 0);
	ut_poll_threads();
	CU_ASSERT(msgs == 1);
	CU_ASSERT(g_exit_poller == NULL);
	CU_ASSERT(!axon_thread_is_exited(ut_thread(1)));
	/* The deferred destroy of its last channel lets it go. */
	ut_set_thread(1);
	axon_put_io_channel(ch);
	CU_ASSERT(dev == 1);
	CU_ASSERT(!axon_thread_is_exited(ut_thread(1)));
	ut_poll_threads();
	CU_ASSERT(dev == 0);
	CU_ASSERT(axon_thread_is_exited(ut_thread(1)));
	CU_ASSERT(ut_thread_remove(1) == 0);

	ut_set_thread(0);
	axon_io_device_unregister(&dev, NULL);
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_exit_timeout(void)
{
	struct axon_poller *poller;
	struct axon_io_channel *ch;
	int dev = 0;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	axon_io_device_register(&dev, ut_create_ok, ut_destroy_count, 0, "stuck_dev");
	ut_set_thread(1);
	poller = axon_poller_register(poller_idle, NULL, 0);
	ch = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(poller != NULL && ch != NULL);
	axon_thread_exit(ut_thread(1));
	ut_poll_thread(1); /* starts the exit clock */
	ut_ticks_advance(THREAD_EXIT_TIMEOUT_SEC * UT_TICKS_HZ - 1);
	ut_poll_threads();
	CU_ASSERT(!axon_thread_is_exited(ut_thread(1)));
	ut_ticks_advance(1);
	ut_poll_threads();
	CU_ASSERT(axon_thread_is_exited(ut_thread(1)));
	/* Destroy frees the poller and destroys the channel it still held. */
	CU_ASSERT(dev == 1);
	CU_ASSERT(ut_thread_remove(1) == 0);
	CU_ASSERT(dev == 0);

	ut_set_thread(0);
	axon_io_device_unregister(&dev, NULL);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- pollers --------------------------------------------------------------- */

static int poller_busy(void *ctx)
{
	(*(int *)ctx)++;
	return AXON_POLLER_BUSY;
}

static void test_poller_active(void)
{
	struct axon_poller *poller;
	int runs = 0;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	CU_ASSERT(!axon_thread_has_active_pollers(ut_thread(0)));
	poller = axon_poller_register(poller_busy, &runs, 0);
	CU_ASSERT_FATAL(poller != NULL);
	CU_ASSERT(axon_thread_has_active_pollers(ut_thread(0)));
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_BUSY);
	}
	CU_ASSERT(runs == 3);
	CU_ASSERT(poller->run_count == 3 && poller->busy_count == 3);
	axon_poller_unregister(&poller);
	CU_ASSERT(poller == NULL);
	CU_ASSERT(!axon_thread_has_active_pollers(ut_thread(0)));
	CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_IDLE);
	CU_ASSERT(runs == 3);
	axon_poller_unregister(&poller); /* NULL: no-op */
	axon_poller_unregister(NULL);

	CU_ASSERT(axon_poller_register_named(NULL, NULL, 0, "no_fn") == NULL);
	/* Off-thread registration fails. */
	ut_set_thread(-1);
	CU_ASSERT(axon_poller_register(poller_busy, &runs, 0) == NULL);
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_poller_timed_accuracy(void)
{
	struct axon_poller *p100, *p250, *p1;
	int r100 = 0, r250 = 0, r1 = 0;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	ut_ticks_set(1000);
	p100 = axon_poller_register(poller_idle, &r100, 100);
	p250 = axon_poller_register(poller_idle, &r250, 250);
	CU_ASSERT_FATAL(p100 != NULL && p250 != NULL);
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 1100);
	CU_ASSERT(!axon_thread_has_active_pollers(ut_thread(0)));

	ut_ticks_advance(99);
	ut_poll_threads();
	CU_ASSERT(r100 == 0);
	ut_ticks_advance(1);
	CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_IDLE); /* ran, reported idle */
	CU_ASSERT(r100 == 1 && r250 == 0);
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 1200);

	/* Tick by tick over 1000 ticks: exact counts. */
	for (int i = 0; i < 1000; i++) {
		ut_ticks_advance(1);
		ut_poll_thread(0);
	}
	CU_ASSERT(r100 == 11); /* 1100 .. 2100 */
	CU_ASSERT(r250 == 4);  /* 1250, 1500, 1750, 2000 */

	/* A late poll runs a poller once, not once per missed period, and the
	 * next run is a full period after that poll. */
	ut_ticks_advance(1000); /* now 3100 */
	ut_poll_thread(0);
	CU_ASSERT(r100 == 12 && r250 == 5);
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 3200);

	/* Periods below one tick still advance. */
	ut_ticks_set(0);
	CU_ASSERT(poller_us_to_ticks(0) == 1);
	axon_poller_unregister(&p100);
	axon_poller_unregister(&p250);
	ut_ticks_set(5000);
	p1 = axon_poller_register(poller_idle, &r1, 1);
	ut_ticks_advance(10);
	ut_poll_thread(0);
	CU_ASSERT(r1 == 1);
	axon_poller_unregister(&p1);
	CU_ASSERT(ut_threads_fini() == 0);
}

static struct axon_poller *g_self_poller;
static struct axon_poller *g_other_poller;
static int g_self_runs;
static int g_other_runs;

static int poller_unregister_self(void *ctx)
{
	g_self_runs++;
	axon_poller_unregister(&g_self_poller);
	CU_ASSERT(g_self_poller == NULL);
	return AXON_POLLER_BUSY;
}

static int poller_unregister_other(void *ctx)
{
	g_self_runs++;
	axon_poller_unregister(&g_other_poller);
	return AXON_POLLER_BUSY;
}

static int poller_other(void *ctx)
{
	g_other_runs++;
	return AXON_POLLER_IDLE;
}

static void test_poller_unregister_self(void)
{
	struct axon_poller *keep;
	int keep_runs = 0;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	/* Active, between two others. */
	keep = axon_poller_register(poller_idle, &keep_runs, 0);
	g_self_runs = 0;
	g_self_poller = axon_poller_register(poller_unregister_self, NULL, 0);
	g_other_poller = axon_poller_register(poller_other, NULL, 0);
	CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_BUSY);
	CU_ASSERT(g_self_runs == 1 && g_other_runs == 1 && keep_runs == 1);
	CU_ASSERT(TAILQ_EMPTY(&ut_thread(0)->dead_pollers)); /* freed after the loop */
	ut_poll_thread(0);
	CU_ASSERT(g_self_runs == 1 && g_other_runs == 2 && keep_runs == 2);
	axon_poller_unregister(&g_other_poller);

	/* Timed. */
	g_self_poller = axon_poller_register(poller_unregister_self, NULL, 10);
	ut_ticks_advance(10);
	ut_poll_thread(0);
	CU_ASSERT(g_self_runs == 2);
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 0);
	ut_ticks_advance(10);
	ut_poll_thread(0);
	CU_ASSERT(g_self_runs == 2);

	/* Unregistering the poller that would run next in the same loop. */
	g_other_runs = 0;
	g_self_poller = axon_poller_register(poller_unregister_other, NULL, 0);
	g_other_poller = axon_poller_register(poller_other, NULL, 0);
	ut_poll_thread(0);
	CU_ASSERT(g_other_runs == 0 && g_other_poller == NULL);
	axon_poller_unregister(&g_self_poller);
	axon_poller_unregister(&keep);
	CU_ASSERT(ut_thread(0)->poller_count == 0);
	CU_ASSERT(ut_threads_fini() == 0);
}

static struct axon_poller *g_pr_poller;
static int g_pr_runs;
static int g_pr_mode; /* 0: pause self, 1: pause and resume self */

static int poller_pause_self(void *ctx)
{
	g_pr_runs++;
	axon_poller_pause(g_pr_poller);
	axon_poller_pause(g_pr_poller); /* twice is harmless */
	if (g_pr_mode == 1) {
		axon_poller_resume(g_pr_poller);
	}
	return AXON_POLLER_BUSY;
}

struct poller_census {
	int active, timed, paused;
	uint64_t runs;
};

static void count_poller(const struct axon_poller_info *info, void *ctx)
{
	struct poller_census *c = ctx;

	if (strcmp(info->state, "active") == 0) {
		c->active++;
		CU_ASSERT(info->period_ticks == 0);
	} else if (strcmp(info->state, "timed") == 0) {
		c->timed++;
		CU_ASSERT(info->period_ticks != 0);
	} else if (strcmp(info->state, "paused") == 0) {
		c->paused++;
	}
	c->runs += info->run_count;
	CU_ASSERT(info->busy_count <= info->run_count);
	CU_ASSERT(info->name != NULL && info->name[0] != '\0');
}

static struct poller_census census(void)
{
	struct poller_census c = {0};

	axon_thread_for_each_poller(count_poller, &c);
	return c;
}

static void test_poller_pause_resume(void)
{
	struct axon_poller *active, *timed;
	struct poller_census c;
	int ra = 0, rt = 0;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	active = axon_poller_register(poller_busy, &ra, 0);
	timed = axon_poller_register_named(poller_idle, &rt, 50, "timed50");
	CU_ASSERT_FATAL(active != NULL && timed != NULL);
	CU_ASSERT(strcmp(timed->name, "timed50") == 0);
	CU_ASSERT(strcmp(active->name, "poller_busy") == 0);
	c = census();
	CU_ASSERT(c.active == 1 && c.timed == 1 && c.paused == 0);

	/* From outside. */
	axon_poller_pause(active);
	axon_poller_pause(timed);
	CU_ASSERT(!axon_thread_has_active_pollers(ut_thread(0)));
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 0);
	c = census();
	CU_ASSERT(c.active == 0 && c.timed == 0 && c.paused == 2);
	ut_ticks_advance(100);
	CU_ASSERT(ut_poll_thread(0) == AXON_POLLER_IDLE);
	CU_ASSERT(ra == 0 && rt == 0);
	axon_poller_resume(active);
	axon_poller_resume(timed);
	axon_poller_resume(timed); /* twice is harmless */
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 150);
	ut_poll_thread(0);
	CU_ASSERT(ra == 1 && rt == 0);
	ut_ticks_advance(50);
	ut_poll_thread(0);
	CU_ASSERT(ra == 2 && rt == 1);
	c = census();
	CU_ASSERT(c.runs == 3);
	axon_poller_unregister(&active);
	axon_poller_unregister(&timed);

	/* From its own callback: stays paused until resumed. */
	g_pr_runs = 0;
	g_pr_mode = 0;
	g_pr_poller = axon_poller_register(poller_pause_self, NULL, 0);
	ut_poll_thread(0);
	ut_poll_thread(0);
	CU_ASSERT(g_pr_runs == 1);
	c = census();
	CU_ASSERT(c.paused == 1 && c.active == 0);
	axon_poller_resume(g_pr_poller);
	ut_poll_thread(0);
	CU_ASSERT(g_pr_runs == 2);
	/* Paused and resumed in the same callback: keeps running. */
	axon_poller_resume(g_pr_poller);
	g_pr_mode = 1;
	ut_poll_thread(0);
	ut_poll_thread(0);
	CU_ASSERT(g_pr_runs == 4);
	axon_poller_unregister(&g_pr_poller);

	/* Timed, paused from its own callback. */
	g_pr_mode = 0;
	g_pr_poller = axon_poller_register(poller_pause_self, NULL, 10);
	ut_ticks_advance(10);
	ut_poll_thread(0);
	CU_ASSERT(g_pr_runs == 5);
	CU_ASSERT(axon_thread_next_poller_expiration(ut_thread(0)) == 0);
	ut_ticks_advance(100);
	ut_poll_thread(0);
	CU_ASSERT(g_pr_runs == 5);
	/* A paused poller can be unregistered. */
	axon_poller_unregister(&g_pr_poller);
	c = census();
	CU_ASSERT(c.active + c.timed + c.paused == 0);

	/* Pause from another thread is refused. */
	active = axon_poller_register(poller_busy, &ra, 0);
	ut_thread_add(NULL);
	ut_set_thread(1);
	axon_poller_pause(active);
	axon_poller_unregister(&active);
	CU_ASSERT(active != NULL);
	ut_set_thread(0);
	CU_ASSERT(axon_thread_has_active_pollers(ut_thread(0)));
	axon_poller_unregister(&active);
	CU_ASSERT(ut_threads_fini() == 0);
}

static int poller_advance_ticks(void *ctx)
{
	ut_ticks_advance(10);
	return ctx != NULL ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

static void test_thread_stats(void)
{
	struct axon_thread_stats stats;
	struct axon_poller *poller;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	poller = axon_poller_register(poller_advance_ticks, (void *)1, 0);
	ut_poll_thread(0);
	ut_poll_thread(0);
	axon_poller_unregister(&poller);
	poller = axon_poller_register(poller_advance_ticks, NULL, 0);
	ut_poll_thread(0);
	axon_poller_unregister(&poller);
	CU_ASSERT(axon_thread_get_stats(&stats) == 0);
	CU_ASSERT(stats.busy_tsc == 20);
	CU_ASSERT(stats.idle_tsc == 10);
	CU_ASSERT(axon_thread_get_last_tsc(ut_thread(0)) == 30);
	ut_set_thread(-1);
	CU_ASSERT(axon_thread_get_stats(&stats) == -EINVAL);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- for_each_thread -------------------------------------------------------- */

static uint64_t g_visited[UT_MAX_THREADS];
static int g_visited_len;
static int g_cpl_calls;
static struct axon_thread *g_cpl_thread;

static void visit_thread(void *ctx)
{
	g_visited[g_visited_len++] = axon_thread_get_id(axon_get_thread());
}

static void visit_done(void *ctx)
{
	g_cpl_calls++;
	g_cpl_thread = axon_get_thread();
	CU_ASSERT(ctx == &g_visited_len);
}

static void test_for_each_thread(void)
{
	CU_ASSERT_FATAL(ut_threads_init(4) == 0);
	axon_thread_exit(ut_thread(2)); /* exiting threads are not visited */
	g_visited_len = 0;
	g_cpl_calls = 0;
	ut_set_thread(3);
	axon_for_each_thread(visit_thread, &g_visited_len, visit_done);
	ut_poll_threads();
	CU_ASSERT_FATAL(g_visited_len == 3);
	CU_ASSERT(g_visited[0] == 1 && g_visited[1] == 2 && g_visited[2] == 4);
	CU_ASSERT(g_cpl_calls == 1);
	CU_ASSERT(g_cpl_thread == ut_thread(3));

	ut_set_thread(-1);
	axon_for_each_thread(visit_thread, &g_visited_len, visit_done);
	ut_poll_threads();
	CU_ASSERT(g_cpl_calls == 1);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- I/O channels ------------------------------------------------------------ */

struct ut_dev {
	int creates;
	int destroys;
	int unregisters;
	int destroys_at_unregister;
	int fail_create;
	struct axon_thread *unregister_thread;
};

static int ut_dev_create(void *io_device, void *ctx_buf)
{
	struct ut_dev *dev = io_device;

	if (dev->fail_create) {
		return -EIO;
	}
	dev->creates++;
	*(struct axon_thread **)ctx_buf = axon_get_thread();
	return 0;
}

static void ut_dev_destroy(void *io_device, void *ctx_buf)
{
	struct ut_dev *dev = io_device;

	dev->destroys++;
	CU_ASSERT(*(struct axon_thread **)ctx_buf == axon_get_thread());
}

static void ut_dev_unregistered(void *io_device)
{
	struct ut_dev *dev = io_device;

	dev->unregisters++;
	dev->unregister_thread = axon_get_thread();
	dev->destroys_at_unregister = dev->destroys;
}

static void test_io_channel_refcount(void)
{
	struct ut_dev dev = {0};
	struct axon_io_channel *ch0, *ch0b, *ch1;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	axon_io_device_register(&dev, ut_dev_create, ut_dev_destroy, sizeof(void *), "ut_dev");
	axon_io_device_register(&dev, ut_dev_create, ut_dev_destroy, sizeof(void *), "dup");
	axon_io_device_register(NULL, ut_dev_create, ut_dev_destroy, 0, "null");

	ch0 = axon_get_io_channel(&dev);
	ch0b = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(ch0 != NULL);
	CU_ASSERT(ch0 == ch0b);
	CU_ASSERT(dev.creates == 1);
	CU_ASSERT(axon_io_channel_get_thread(ch0) == ut_thread(0));
	CU_ASSERT(axon_io_channel_get_io_device(ch0) == &dev);
	CU_ASSERT(axon_io_channel_from_ctx(axon_io_channel_get_ctx(ch0)) == ch0);
	CU_ASSERT(*(struct axon_thread **)axon_io_channel_get_ctx(ch0) == ut_thread(0));

	ut_set_thread(1);
	ch1 = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(ch1 != NULL);
	CU_ASSERT(ch1 != ch0);
	CU_ASSERT(dev.creates == 2);
	CU_ASSERT(axon_io_channel_get_thread(ch1) == ut_thread(1));
	/* Wrong thread: refused. */
	axon_put_io_channel(ch0);
	CU_ASSERT(ch0->ref == 2);

	/* The last put defers destroy; a get before it runs revives. */
	axon_put_io_channel(ch1);
	CU_ASSERT(dev.destroys == 0);
	CU_ASSERT(axon_get_io_channel(&dev) == ch1);
	ut_poll_threads();
	CU_ASSERT(dev.destroys == 0);
	CU_ASSERT(dev.creates == 2);
	axon_put_io_channel(ch1);
	ut_poll_threads();
	CU_ASSERT(dev.destroys == 1);

	ut_set_thread(0);
	axon_put_io_channel(ch0);
	axon_put_io_channel(ch0);
	/* Revived and released again before the deferred destroy ran: one
	 * destroy message only. */
	CU_ASSERT(axon_get_io_channel(&dev) == ch0);
	axon_put_io_channel(ch0);
	ut_poll_threads();
	CU_ASSERT(dev.destroys == 2 && dev.creates == 2);

	/* A fresh get creates a new channel. */
	ch0 = axon_get_io_channel(&dev);
	CU_ASSERT(dev.creates == 3);
	axon_put_io_channel(ch0);
	ut_poll_threads();

	/* create_cb failure. */
	dev.fail_create = 1;
	CU_ASSERT(axon_get_io_channel(&dev) == NULL);
	CU_ASSERT(TAILQ_EMPTY(&ut_thread(0)->channels));
	axon_io_device_unregister(&dev, ut_dev_unregistered);
	CU_ASSERT(dev.unregisters == 0); /* always deferred to a message */
	ut_poll_threads();
	CU_ASSERT(dev.unregisters == 1);
	CU_ASSERT(dev.unregister_thread == ut_thread(0));
	CU_ASSERT(dev.destroys_at_unregister == 3 && dev.creates == 3);
	CU_ASSERT(axon_get_io_channel(&dev) == NULL);
	axon_io_device_unregister(&dev, NULL); /* unknown now: logged */
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_io_device_unregister_held(void)
{
	struct ut_dev dev = {0};
	struct axon_io_channel *ch0, *ch1, *ch_new;

	CU_ASSERT_FATAL(ut_threads_init(3) == 0);
	axon_io_device_register(&dev, ut_dev_create, ut_dev_destroy, sizeof(void *), "held");
	ch0 = axon_get_io_channel(&dev);
	ut_set_thread(1);
	ch1 = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(ch0 != NULL && ch1 != NULL);

	ut_set_thread(2);
	axon_io_device_unregister(&dev, ut_dev_unregistered);
	ut_poll_threads();
	CU_ASSERT(dev.unregisters == 0);
	/* No new channels, even on a thread that holds one. */
	CU_ASSERT(axon_get_io_channel(&dev) == NULL);
	ut_set_thread(1);
	CU_ASSERT(axon_get_io_channel(&dev) == NULL);

	/* The same pointer may be registered again while the old one leaves. */
	axon_io_device_register(&dev, ut_dev_create, ut_dev_destroy, sizeof(void *), "again");
	ch_new = axon_get_io_channel(&dev);
	CU_ASSERT_FATAL(ch_new != NULL);
	CU_ASSERT(ch_new != ch1);

	/* Old channels stay usable and go one by one. */
	axon_put_io_channel(ch1);
	ut_poll_threads();
	CU_ASSERT(dev.unregisters == 0);
	ut_set_thread(0);
	axon_put_io_channel(ch0);
	CU_ASSERT(dev.unregisters == 0);
	ut_poll_threads();
	CU_ASSERT(dev.unregisters == 1);
	CU_ASSERT(dev.unregister_thread == ut_thread(2));
	/* Only after both old channels were destroyed. */
	CU_ASSERT(dev.destroys_at_unregister == 2);

	ut_set_thread(1);
	axon_put_io_channel(ch_new);
	axon_io_device_unregister(&dev, NULL);
	ut_poll_threads();
	CU_ASSERT(dev.destroys == 3);
	CU_ASSERT(ut_threads_fini() == 0);
}

static int g_iter_calls;
static uint64_t g_iter_ids[UT_MAX_THREADS];
static int g_iter_stop_at; /* call index that returns an error, or -1 */
static int g_iter_status;
static struct axon_thread *g_iter_cpl_thread;
static struct axon_io_channel_iter *g_iter_pending;

static void iter_fn(struct axon_io_channel_iter *i)
{
	struct axon_io_channel *ch = axon_io_channel_iter_get_channel(i);

	CU_ASSERT(axon_io_channel_get_thread(ch) == axon_get_thread());
	CU_ASSERT(axon_io_channel_iter_get_io_device(i) == axon_io_channel_get_io_device(ch));
	CU_ASSERT(axon_io_channel_iter_get_ctx(i) == &g_iter_calls);
	g_iter_ids[g_iter_calls] = axon_thread_get_id(axon_get_thread());
	axon_for_each_channel_continue(i, g_iter_calls++ == g_iter_stop_at ? -EAGAIN : 0);
}

/* Continues later, from a message: the walk waits. */
static void iter_fn_async(struct axon_io_channel_iter *i)
{
	g_iter_ids[g_iter_calls++] = axon_thread_get_id(axon_get_thread());
	g_iter_pending = i;
}

static void iter_cpl(struct axon_io_channel_iter *i, int status)
{
	g_iter_status = status;
	g_iter_cpl_thread = axon_get_thread();
	CU_ASSERT(axon_io_channel_iter_get_channel(i) == NULL);
}

static void iter_reset(int stop_at)
{
	g_iter_calls = 0;
	g_iter_stop_at = stop_at;
	g_iter_status = 1;
	g_iter_cpl_thread = NULL;
}

static void test_for_each_channel(void)
{
	struct ut_dev dev = {0};
	struct axon_io_channel *ch[4];

	CU_ASSERT_FATAL(ut_threads_init(4) == 0);
	axon_io_device_register(&dev, ut_dev_create, ut_dev_destroy, sizeof(void *), "iter");
	/* Channels on threads 3, 0 and 2 (created out of order); none on 1. */
	for (int t = 3; t >= 0; t--) {
		ut_set_thread(t);
		ch[t] = t == 1 ? NULL : axon_get_io_channel(&dev);
	}

	/* Visits in thread order, completes on the caller. */
	iter_reset(-1);
	ut_set_thread(1);
	axon_for_each_channel(&dev, iter_fn, &g_iter_calls, iter_cpl);
	CU_ASSERT(g_iter_calls == 0); /* nothing runs inline */
	ut_poll_threads();
	CU_ASSERT_FATAL(g_iter_calls == 3);
	CU_ASSERT(g_iter_ids[0] == 1 && g_iter_ids[1] == 3 && g_iter_ids[2] == 4);
	CU_ASSERT(g_iter_status == 0);
	CU_ASSERT(g_iter_cpl_thread == ut_thread(1));

	/* Early stop. */
	iter_reset(1);
	axon_for_each_channel(&dev, iter_fn, &g_iter_calls, iter_cpl);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 2);
	CU_ASSERT(g_iter_status == -EAGAIN);
	CU_ASSERT(g_iter_cpl_thread == ut_thread(1));

	/* One thread at a time: the walk waits for an asynchronous continue. */
	iter_reset(-1);
	axon_for_each_channel(&dev, iter_fn_async, &g_iter_calls, iter_cpl);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 1 && g_iter_pending != NULL);
	ut_set_thread(0);
	axon_for_each_channel_continue(g_iter_pending, 0);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 2);
	ut_set_thread(2);
	axon_for_each_channel_continue(g_iter_pending, 0);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 3);
	ut_set_thread(3);
	axon_for_each_channel_continue(g_iter_pending, 0);
	ut_poll_threads();
	CU_ASSERT(g_iter_status == 0);

	/* A channel released before its turn is skipped, even with its
	 * destroy still pending. */
	iter_reset(-1);
	ut_set_thread(1);
	axon_for_each_channel(&dev, iter_fn, &g_iter_calls, iter_cpl);
	ut_set_thread(2);
	axon_put_io_channel(ch[2]);
	ut_poll_thread(0);
	ut_poll_thread(1);
	ut_poll_thread(2); /* destroyed first, so the visit finds nothing */
	CU_ASSERT(dev.destroys == 1);
	/* Thread 3's visit is queued before its destroy: ref 0 skips it. */
	ut_set_thread(3);
	axon_put_io_channel(ch[3]);
	ut_poll_threads();
	CU_ASSERT(dev.destroys == 2);
	CU_ASSERT(g_iter_calls == 1 && g_iter_ids[0] == 1);
	CU_ASSERT(g_iter_status == 0);

	/* Unknown device: completes with -ENODEV. */
	iter_reset(-1);
	ut_set_thread(0);
	axon_for_each_channel(&g_iter_calls, iter_fn, &g_iter_calls, iter_cpl);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 0 && g_iter_status == -ENODEV);
	CU_ASSERT(g_iter_cpl_thread == ut_thread(0));

	/* A walk keeps an unregistered device's record alive until it ends. */
	iter_reset(-1);
	ut_set_thread(1);
	axon_for_each_channel(&dev, iter_fn_async, &g_iter_calls, iter_cpl);
	ut_poll_threads();
	CU_ASSERT(g_iter_calls == 1);
	ut_set_thread(0);
	axon_put_io_channel(ch[0]);
	axon_io_device_unregister(&dev, ut_dev_unregistered);
	ut_poll_threads();
	CU_ASSERT(dev.unregisters == 1);
	CU_ASSERT(dev.destroys_at_unregister == 3);
	axon_for_each_channel_continue(g_iter_pending, 0); /* the walk resumes on 0 */
	ut_poll_threads();
	CU_ASSERT(g_iter_status == 0 && g_iter_calls == 1);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- adaptive sleep ---------------------------------------------------------- */

static void test_sleep_wake(void)
{
	struct axon_thread *t1;
	int count = 0, efd, fd;

	CU_ASSERT_FATAL(ut_threads_init(2) == 0);
	t1 = ut_thread(1);
	fd = axon_thread_get_interrupt_fd(t1);
	CU_ASSERT(fd >= 0);

	CU_ASSERT(axon_thread_prepare_to_sleep(t1));
	CU_ASSERT(!fd_readable(fd, 0));
	/* A message to a sleeping thread makes the fd readable. */
	CU_ASSERT(axon_thread_send_msg(t1, msg_count, &count) == 0);
	CU_ASSERT(fd_readable(fd, 0));
	axon_thread_wake_up(t1);
	CU_ASSERT(!fd_readable(fd, 0));
	ut_poll_threads();
	CU_ASSERT(count == 1);

	/* Awake: senders never touch the eventfd. */
	CU_ASSERT(axon_thread_send_msg(t1, msg_count, &count) == 0);
	CU_ASSERT(!fd_readable(fd, 0));
	/* A queued message forbids sleeping. */
	CU_ASSERT(!axon_thread_prepare_to_sleep(t1));
	CU_ASSERT(!atomic_load(&t1->sleeping));
	ut_poll_threads();
	CU_ASSERT(count == 2);

	/* Wake fds: registered on the calling thread. */
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CU_ASSERT_FATAL(efd >= 0);
	ut_set_thread(1);
	CU_ASSERT(!axon_thread_has_wake_fds(t1));
	CU_ASSERT(axon_thread_add_wake_fd(efd, EPOLLIN) == 0);
	CU_ASSERT(axon_thread_add_wake_fd(efd, EPOLLIN) == -EEXIST);
	CU_ASSERT(axon_thread_has_wake_fds(t1));
	CU_ASSERT(axon_thread_prepare_to_sleep(t1));
	CU_ASSERT(!fd_readable(fd, 0));
	CU_ASSERT(eventfd_write(efd, 1) == 0);
	CU_ASSERT(fd_readable(fd, 0));
	axon_thread_wake_up(t1);
	/* Nothing drains it but its owner. */
	CU_ASSERT(fd_readable(fd, 0));
	CU_ASSERT(axon_thread_remove_wake_fd(efd) == 0);
	CU_ASSERT(!fd_readable(fd, 0));
	CU_ASSERT(axon_thread_remove_wake_fd(efd) == -ENOENT);
	CU_ASSERT(axon_thread_remove_wake_fd(t1->msg_fd) == -ENOENT);
	CU_ASSERT(!axon_thread_has_wake_fds(t1));
	close(efd);
	ut_set_thread(-1);
	CU_ASSERT(axon_thread_add_wake_fd(0, EPOLLIN) == -EINVAL);
	CU_ASSERT(axon_thread_remove_wake_fd(0) == -EINVAL);
	CU_ASSERT(ut_threads_fini() == 0);
}

static void test_sleep_timerfd(void)
{
	struct axon_poller *poller;
	struct axon_thread *t0;
	uint64_t start;
	int runs = 0, fd;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	ut_ticks_use_real_time(true);
	t0 = ut_thread(0);
	fd = axon_thread_get_interrupt_fd(t0);
	start = axon_get_ticks();
	poller = axon_poller_register(poller_idle, &runs, 2000); /* 2 ms */
	CU_ASSERT_FATAL(poller != NULL);

	CU_ASSERT(axon_thread_prepare_to_sleep(t0));
	CU_ASSERT(!fd_readable(fd, 0));
	CU_ASSERT(fd_readable(fd, 1000));
	CU_ASSERT(axon_get_ticks() - start >= 2000);
	axon_thread_wake_up(t0);
	CU_ASSERT(!fd_readable(fd, 0));
	ut_poll_thread(0);
	CU_ASSERT(runs == 1);

	/* Without timed pollers the timer is disarmed. */
	axon_poller_unregister(&poller);
	ut_poll_thread(0);
	CU_ASSERT(axon_thread_prepare_to_sleep(t0));
	CU_ASSERT(!t0->timer_armed);
	CU_ASSERT(!fd_readable(fd, 5));
	axon_thread_wake_up(t0);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* ---- real concurrency -------------------------------------------------------- */

#define MPSC_PRODUCERS 3
#define MPSC_PER_PRODUCER 200000u
#define MPSC_RING_SIZE 256u

struct mpsc_state {
	uint32_t next[MPSC_PRODUCERS]; /* consumer only */
	uint64_t received;
	uint64_t errors;
};

static struct mpsc_state g_mpsc;

/* ctx = producer << 32 | sequence. */
static void mpsc_receive(void *ctx)
{
	uint64_t v = (uint64_t)(uintptr_t)ctx;
	uint32_t producer = (uint32_t)(v >> 32), seq = (uint32_t)v;

	if (producer >= MPSC_PRODUCERS || seq != g_mpsc.next[producer]) {
		g_mpsc.errors++;
		return;
	}
	g_mpsc.next[producer]++;
	g_mpsc.received++;
}

struct mpsc_producer {
	pthread_t tid;
	uint32_t id;
	struct msg_ring *ring;       /* either a bare ring ... */
	struct axon_thread *thread;  /* ... or a thread */
	uint64_t full;
};

static void *mpsc_produce(void *arg)
{
	struct mpsc_producer *p = arg;

	for (uint32_t seq = 0; seq < MPSC_PER_PRODUCER; seq++) {
		void *ctx = (void *)(uintptr_t)((uint64_t)p->id << 32 | seq);
		int rc;

		for (;;) {
			rc = p->ring != NULL ? msg_ring_enqueue(p->ring, mpsc_receive, ctx)
					     : axon_thread_send_msg(p->thread, mpsc_receive, ctx);
			if (rc != -ENOMEM) {
				break;
			}
			p->full++;
			sched_yield();
		}
		if (rc != 0) {
			return (void *)1;
		}
	}
	return NULL;
}

static void mpsc_start(struct mpsc_producer *p, struct msg_ring *ring,
		       struct axon_thread *thread)
{
	memset(&g_mpsc, 0, sizeof(g_mpsc));
	for (uint32_t i = 0; i < MPSC_PRODUCERS; i++) {
		p[i].id = i;
		p[i].ring = ring;
		p[i].thread = thread;
		p[i].full = 0;
		CU_ASSERT_FATAL(pthread_create(&p[i].tid, NULL, mpsc_produce, &p[i]) == 0);
	}
}

static void mpsc_join(struct mpsc_producer *p)
{
	for (uint32_t i = 0; i < MPSC_PRODUCERS; i++) {
		void *ret;

		CU_ASSERT(pthread_join(p[i].tid, &ret) == 0);
		CU_ASSERT(ret == NULL);
	}
	CU_ASSERT(g_mpsc.errors == 0);
	CU_ASSERT(g_mpsc.received == (uint64_t)MPSC_PRODUCERS * MPSC_PER_PRODUCER);
	for (uint32_t i = 0; i < MPSC_PRODUCERS; i++) {
		CU_ASSERT(g_mpsc.next[i] == MPSC_PER_PRODUCER);
	}
}

static void test_msg_ring_basic(void)
{
	struct msg_ring ring;
	int count = 0;

	CU_ASSERT(msg_ring_init(&ring, 3) == -EINVAL);
	CU_ASSERT(msg_ring_init(&ring, 1) == -EINVAL);
	CU_ASSERT_FATAL(msg_ring_init(&ring, 4) == 0);
	CU_ASSERT(msg_ring_is_empty(&ring));
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(msg_ring_enqueue(&ring, msg_count, &count) == 0);
	}
	CU_ASSERT(msg_ring_enqueue(&ring, msg_count, &count) == -ENOMEM);
	CU_ASSERT(!msg_ring_is_empty(&ring));
	CU_ASSERT(msg_ring_run(&ring, 3) == 3);
	/* Wrap around several times. */
	for (int i = 0; i < 10; i++) {
		CU_ASSERT(msg_ring_enqueue(&ring, msg_count, &count) == 0);
		CU_ASSERT(msg_ring_enqueue(&ring, msg_count, &count) == 0);
		CU_ASSERT(msg_ring_run(&ring, 2) == 2);
	}
	CU_ASSERT(msg_ring_run(&ring, 100) == 1);
	CU_ASSERT(count == 24);
	CU_ASSERT(msg_ring_is_empty(&ring));
	CU_ASSERT(msg_ring_enqueue(&ring, msg_count, &count) == 0);
	CU_ASSERT(msg_ring_fini(&ring) == 1);
}

static void test_msg_ring_concurrent(void)
{
	struct mpsc_producer p[MPSC_PRODUCERS];
	struct msg_ring ring;
	uint64_t full = 0;

	CU_ASSERT_FATAL(msg_ring_init(&ring, MPSC_RING_SIZE) == 0);
	mpsc_start(p, &ring, NULL);
	while (g_mpsc.received + g_mpsc.errors < (uint64_t)MPSC_PRODUCERS * MPSC_PER_PRODUCER) {
		if (msg_ring_run(&ring, 64) == 0) {
			sched_yield();
		}
	}
	mpsc_join(p);
	for (uint32_t i = 0; i < MPSC_PRODUCERS; i++) {
		full += p[i].full;
	}
	CU_ASSERT(msg_ring_is_empty(&ring));
	CU_ASSERT(msg_ring_fini(&ring) == 0);
	printf("(ring full %lu times) ", full);
}

/* Producers send to a thread whose owner sleeps on its interrupt fd whenever
 * it is idle: a lost wake-up shows as a 5 s epoll timeout with messages
 * still owed. */
static void test_sleep_wake_concurrent(void)
{
	struct mpsc_producer p[MPSC_PRODUCERS];
	struct axon_thread *thread;
	uint64_t sleeps = 0, timeouts = 0;
	int ep;

	CU_ASSERT_FATAL(ut_threads_init(1) == 0);
	thread = ut_thread(0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	CU_ASSERT_FATAL(ep >= 0);
	{
		struct epoll_event ev = {.events = EPOLLIN};

		CU_ASSERT_FATAL(epoll_ctl(ep, EPOLL_CTL_ADD, axon_thread_get_interrupt_fd(thread),
					  &ev) == 0);
	}
	mpsc_start(p, NULL, thread);
	while (g_mpsc.received + g_mpsc.errors < (uint64_t)MPSC_PRODUCERS * MPSC_PER_PRODUCER) {
		struct epoll_event ev;

		if (ut_poll_thread(0) == AXON_POLLER_BUSY) {
			continue;
		}
		if (!axon_thread_prepare_to_sleep(thread)) {
			continue;
		}
		sleeps++;
		if (epoll_wait(ep, &ev, 1, 5000) == 0) {
			timeouts++;
		}
		axon_thread_wake_up(thread);
		if (timeouts != 0) {
			break;
		}
	}
	CU_ASSERT(timeouts == 0);
	if (timeouts == 0) {
		mpsc_join(p);
	}
	printf("(slept %lu times) ", sleeps);
	close(ep);
	CU_ASSERT(ut_threads_fini() == 0);
}

int main(void)
{
	CU_pSuite suite;
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("thread", NULL, NULL);
	CU_ADD_TEST(suite, test_thread_lifecycle);
	CU_ADD_TEST(suite, test_thread_new_thread_fn);
	CU_ADD_TEST(suite, test_send_msg);
	CU_ADD_TEST(suite, test_send_msg_ring_full);
	CU_ADD_TEST(suite, test_send_msg_exited);
	CU_ADD_TEST(suite, test_exit_waits);
	CU_ADD_TEST(suite, test_exit_timeout);
	CU_ADD_TEST(suite, test_poller_active);
	CU_ADD_TEST(suite, test_poller_timed_accuracy);
	CU_ADD_TEST(suite, test_poller_unregister_self);
	CU_ADD_TEST(suite, test_poller_pause_resume);
	CU_ADD_TEST(suite, test_thread_stats);
	CU_ADD_TEST(suite, test_for_each_thread);
	CU_ADD_TEST(suite, test_io_channel_refcount);
	CU_ADD_TEST(suite, test_io_device_unregister_held);
	CU_ADD_TEST(suite, test_for_each_channel);
	CU_ADD_TEST(suite, test_sleep_wake);
	CU_ADD_TEST(suite, test_sleep_timerfd);
	CU_ADD_TEST(suite, test_msg_ring_basic);
	CU_ADD_TEST(suite, test_msg_ring_concurrent);
	CU_ADD_TEST(suite, test_sleep_wake_concurrent);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}
