/*
 * Reactors: one pinned OS thread per core of the mask, each running the
 * axon_threads placed on it.
 *
 * Placement. axon_thread_create() calls reactor_schedule_thread() from any OS
 * thread; it picks a reactor (the preferred core, else round robin) and pushes
 * the thread's context onto that reactor's lock-free hand-off stack, then
 * kicks the reactor's eventfd. Only the reactor itself takes entries off the
 * stack, so the thread list needs no lock on the polling path.
 *
 * Adaptive polling. When every thread of a reactor has been idle for
 * idle_sleep_us and none of them must spin, the reactor sleeps in epoll_wait
 * on an epoll set holding each thread's interrupt fd and its own eventfd.
 *
 * Which threads must spin: a thread with an active poller and no wake fd.
 * An active poller that polls memory (an NVMe PCIe completion queue, a ring
 * fed by another core without a message) has nothing to wake it, so its
 * thread keeps the reactor polling. A thread that registered wake fds (the
 * JSON-RPC listener and its connections, a socket poll group, an aio eventfd)
 * declares by doing so that its active pollers find work only after one of
 * those fds turned ready, a message arrived, or a timed poller ran; it may
 * sleep. Drivers that poll memory must therefore not register wake fds on
 * the same thread while they have outstanding work, or must pause their
 * poller when they have none.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "axon/env.h"
#include "axon/log.h"
#include "event_internal.h"

/* Messages each thread may run per reactor iteration (fairness between threads). */
#define REACTOR_MSG_BUDGET 64
/* epoll events taken per wake-up: only "someone is ready" matters. */
#define REACTOR_EPOLL_EVENTS 16
/* Upper bound on one sleep: a safety net against a lost wake-up. */
#define REACTOR_MAX_SLEEP_MS 1000

static struct reactor *g_reactors;
static uint32_t g_reactor_count;
static struct reactor *g_main_reactor;
static struct reactor_opts g_reactor_opts;
static uint64_t g_idle_sleep_ticks;
static atomic_uint g_next_reactor;
static __thread struct reactor *tls_reactor;

atomic_bool g_reactor_shutdown_pending;

static int reactor_setup(struct reactor *r, uint32_t core)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int rc;

	r->core = core;
	TAILQ_INIT(&r->threads);
	atomic_init(&r->handoff, NULL);
	pthread_mutex_init(&r->list_lock, NULL);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		rc = -errno;
		AXON_ERRLOG("reactor %u: epoll_create1: %s", core, strerror(-rc));
		return rc;
	}
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->evfd < 0) {
		rc = -errno;
		AXON_ERRLOG("reactor %u: eventfd: %s", core, strerror(-rc));
		return rc;
	}
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0) {
		rc = -errno;
		AXON_ERRLOG("reactor %u: epoll_ctl: %s", core, strerror(-rc));
		return rc;
	}
	return 0;
}

static void reactor_teardown(struct reactor *r)
{
	if (r->evfd >= 0) {
		close(r->evfd);
	}
	if (r->epfd >= 0) {
		close(r->epfd);
	}
	pthread_mutex_destroy(&r->list_lock);
}

int reactors_init(const struct reactor_opts *opts)
{
	uint32_t count = axon_env_get_core_count();
	uint32_t core, i = 0;
	int rc;

	if (count == 0) {
		AXON_ERRLOG("the environment has no cores");
		return -ENODEV;
	}
	g_reactors = calloc(count, sizeof(*g_reactors));
	if (g_reactors == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		g_reactors[i].epfd = -1;
		g_reactors[i].evfd = -1;
	}
	g_reactor_count = count;
	g_reactor_opts = *opts;
	g_idle_sleep_ticks = opts->idle_sleep_us * axon_get_ticks_hz() / 1000000;
	atomic_store(&g_next_reactor, 0);

	i = 0;
	for (core = axon_env_get_first_core(); core != UINT32_MAX && i < count;
	     core = axon_env_get_next_core(core)) {
		rc = reactor_setup(&g_reactors[i], core);
		if (rc != 0) {
			reactors_fini();
			return rc;
		}
		if (core == axon_env_get_main_core()) {
			g_main_reactor = &g_reactors[i];
		}
		i++;
	}
	if (g_main_reactor == NULL) {
		AXON_ERRLOG("main core %u has no reactor", axon_env_get_main_core());
		reactors_fini();
		return -EINVAL;
	}
	AXON_NOTICELOG("%u reactor(s), adaptive polling %s (idle %" PRIu64 " us before sleeping)",
		       count, opts->adaptive_polling ? "on" : "off", opts->idle_sleep_us);
	return 0;
}

/* Threads never taken off a hand-off stack (created while reactors stopped)
 * are run here until they exit, so that nothing is leaked. */
static void reactor_drain_orphans(struct reactor *r)
{
	struct reactor_thread *rt = atomic_exchange(&r->handoff, NULL);

	while (rt != NULL) {
		struct reactor_thread *next = rt->handoff_next;
		struct axon_thread *t = axon_thread_get_from_ctx(rt);

		AXON_WARNLOG("thread %s was created after reactor %u stopped",
			     axon_thread_get_name(t), r->core);
		axon_set_thread(t);
		axon_thread_exit(t);
		axon_set_thread(NULL);
		while (!axon_thread_is_exited(t)) {
			axon_thread_poll(t, 0, 0);
		}
		axon_thread_destroy(t);
		rt = next;
	}
}

void reactors_fini(void)
{
	uint32_t i;

	for (i = 0; i < g_reactor_count; i++) {
		reactor_drain_orphans(&g_reactors[i]);
		reactor_teardown(&g_reactors[i]);
	}
	free(g_reactors);
	g_reactors = NULL;
	g_reactor_count = 0;
	g_main_reactor = NULL;
}

struct reactor *reactor_get(uint32_t core)
{
	uint32_t i;

	for (i = 0; i < g_reactor_count; i++) {
		if (g_reactors[i].core == core) {
			return &g_reactors[i];
		}
	}
	return NULL;
}

static void reactor_kick(struct reactor *r)
{
	uint64_t one = 1;
	ssize_t n;

	/* A full counter (EAGAIN) already means "wake up". */
	n = write(r->evfd, &one, sizeof(one));
	(void)n;
}

void reactor_kick_main(void)
{
	if (g_main_reactor != NULL) {
		reactor_kick(g_main_reactor);
	}
}

/* The thread lib keeps the preferred_core given to axon_thread_create(). */
static struct reactor *reactor_pick(struct axon_thread *thread)
{
	int core = axon_thread_get_preferred_core(thread);
	struct reactor *r;

	if (core >= 0) {
		r = reactor_get((uint32_t)core);
		if (r != NULL) {
			return r;
		}
	}
	return &g_reactors[atomic_fetch_add(&g_next_reactor, 1) % g_reactor_count];
}

int reactor_schedule_thread(struct axon_thread *thread)
{
	struct reactor_thread *rt = axon_thread_get_ctx(thread);
	struct reactor_thread *head;
	struct reactor *r;

	if (g_reactor_count == 0) {
		AXON_ERRLOG("no reactors to run thread %s", axon_thread_get_name(thread));
		return -ENODEV;
	}
	r = reactor_pick(thread);
	rt->reactor = r;
	head = atomic_load(&r->handoff);
	do {
		rt->handoff_next = head;
	} while (!atomic_compare_exchange_weak(&r->handoff, &head, rt));
	/* Always kick: creating a thread is rare, and a kick can never be lost
	 * this way whatever state the reactor is in. */
	reactor_kick(r);
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static struct axon_thread *rt_thread(struct reactor_thread *rt)
{
	return axon_thread_get_from_ctx(rt);
}

static void reactor_exit_thread(struct reactor_thread *rt)
{
	struct axon_thread *t = rt_thread(rt);

	if (rt->exit_requested) {
		return;
	}
	rt->exit_requested = true;
	/* axon_thread_exit() acts on the thread it is called on. */
	axon_set_thread(t);
	axon_thread_exit(t);
	axon_set_thread(NULL);
}

static void reactor_add_thread(struct reactor *r, struct reactor_thread *rt)
{
	struct axon_thread *t = rt_thread(rt);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = rt};

	rt->handoff_next = NULL;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, axon_thread_get_interrupt_fd(t), &ev) != 0) {
		/* Without its interrupt fd in the set, a sleeping reactor would
		 * miss this thread's work: mark it so that the reactor never sleeps. */
		AXON_ERRLOG("reactor %u: cannot watch thread %s: %s; adaptive polling is off "
			    "for this reactor while it lives", r->core, axon_thread_get_name(t),
			    strerror(errno));
		rt->no_sleep = true;
	}
	pthread_mutex_lock(&r->list_lock);
	TAILQ_INSERT_TAIL(&r->threads, rt, link);
	r->thread_count++;
	pthread_mutex_unlock(&r->list_lock);
	if (r->stopping) {
		reactor_exit_thread(rt);
	}
}

static void reactor_remove_thread(struct reactor *r, struct reactor_thread *rt)
{
	struct axon_thread *t = rt_thread(rt);

	epoll_ctl(r->epfd, EPOLL_CTL_DEL, axon_thread_get_interrupt_fd(t), NULL);
	pthread_mutex_lock(&r->list_lock);
	TAILQ_REMOVE(&r->threads, rt, link);
	r->thread_count--;
	pthread_mutex_unlock(&r->list_lock);
	axon_thread_destroy(t);
}

/* The hand-off stack is LIFO: reverse it so threads run in creation order. */
static void reactor_take_new_threads(struct reactor *r)
{
	struct reactor_thread *rt, *next, *fifo = NULL;

	if (atomic_load_explicit(&r->handoff, memory_order_relaxed) == NULL) {
		return;
	}
	for (rt = atomic_exchange(&r->handoff, NULL); rt != NULL; rt = next) {
		next = rt->handoff_next;
		rt->handoff_next = fifo;
		fifo = rt;
	}
	for (rt = fifo; rt != NULL; rt = next) {
		next = rt->handoff_next;
		reactor_add_thread(r, rt);
	}
}

static void reactor_begin_stop(struct reactor *r)
{
	struct reactor_thread *rt;

	r->stopping = true;
	TAILQ_FOREACH(rt, &r->threads, link) {
		reactor_exit_thread(rt);
	}
}

/* Single writer (the reactor), many readers: a plain load and store, no
 * locked read-modify-write on the polling path. */
static inline void stat_add(_Atomic uint64_t *stat, uint64_t delta)
{
	atomic_store_explicit(stat, atomic_load_explicit(stat, memory_order_relaxed) + delta,
			      memory_order_relaxed);
}

/* One pass over every thread; returns true if any of them did work.
 * *end receives the tick count at the end of the pass. */
static bool reactor_iterate(struct reactor *r, uint64_t *end)
{
	struct reactor_thread *rt, *next;
	uint64_t start, now;
	bool busy = false;

	reactor_take_new_threads(r);
	start = now = axon_get_ticks();
	for (rt = TAILQ_FIRST(&r->threads); rt != NULL; rt = next) {
		struct axon_thread *t = rt_thread(rt);

		next = TAILQ_NEXT(rt, link);
		if (axon_thread_poll(t, REACTOR_MSG_BUDGET, now) == AXON_POLLER_BUSY) {
			busy = true;
		}
		now = axon_get_ticks();
		if (axon_thread_is_exited(t)) {
			reactor_remove_thread(r, rt);
		}
	}
	if (busy) {
		stat_add(&r->busy_tsc, now - start);
		r->last_busy_tsc = now;
	} else {
		stat_add(&r->idle_tsc, now - start);
	}
	*end = now;
	return busy;
}

static bool thread_must_spin(struct reactor_thread *rt)
{
	struct axon_thread *t = rt_thread(rt);

	if (rt->no_sleep) {
		return true;
	}
	return axon_thread_has_active_pollers(t) && !axon_thread_has_wake_fds(t);
}

/* Milliseconds until the earliest timed poller (next: ticks, 0 = none). */
static int reactor_sleep_timeout_ms(uint64_t next)
{
	uint64_t now = axon_get_ticks();
	uint64_t hz = axon_get_ticks_hz();
	uint64_t ms;

	if (next == 0) {
		return REACTOR_MAX_SLEEP_MS;
	}
	if (next <= now) {
		return 0;
	}
	/* Round up: the thread's own timerfd fires on time; this is the backstop. */
	ms = ((next - now) * 1000 + hz - 1) / hz;
	return ms > REACTOR_MAX_SLEEP_MS ? REACTOR_MAX_SLEEP_MS : (int)ms;
}

static void reactor_drain_evfd(struct reactor *r)
{
	uint64_t count;
	ssize_t n;

	n = read(r->evfd, &count, sizeof(count));
	(void)n;
}

static void reactor_wait(struct reactor *r, int timeout_ms)
{
	struct epoll_event events[REACTOR_EPOLL_EVENTS];
	uint64_t start = axon_get_ticks();
	int n, i;

	atomic_store(&r->in_interrupt, true);
	stat_add(&r->sleep_count, 1);
	n = epoll_wait(r->epfd, events, REACTOR_EPOLL_EVENTS, timeout_ms);
	atomic_store(&r->in_interrupt, false);
	/* The eventfd is drained only after waking and before the next check of
	 * the hand-off stack and the stop flag, so no kick can be lost. */
	for (i = 0; i < n; i++) {
		if (events[i].data.ptr == NULL) {
			reactor_drain_evfd(r);
		}
	}
	stat_add(&r->idle_tsc, axon_get_ticks() - start);
}

/* Sleep until a thread has work, if every thread agrees to. */
static void reactor_sleep(struct reactor *r)
{
	struct reactor_thread *rt, *refused = NULL;
	uint64_t next = 0, exp;
	int timeout;

	TAILQ_FOREACH(rt, &r->threads, link) {
		if (thread_must_spin(rt)) {
			return;
		}
	}
	TAILQ_FOREACH(rt, &r->threads, link) {
		if (!axon_thread_prepare_to_sleep(rt_thread(rt))) {
			refused = rt;
			break;
		}
		exp = axon_thread_next_poller_expiration(rt_thread(rt));
		if (exp != 0 && (next == 0 || exp < next)) {
			next = exp;
		}
	}
	if (refused == NULL) {
		timeout = reactor_sleep_timeout_ms(next);
		if (timeout != 0) {
			reactor_wait(r, timeout);
		}
	}
	/* A thread that refused stayed awake; wake only those before it. */
	TAILQ_FOREACH(rt, &r->threads, link) {
		if (rt == refused) {
			break;
		}
		axon_thread_wake_up(rt_thread(rt));
	}
}

static bool reactor_done(struct reactor *r)
{
	return r->stopping && TAILQ_EMPTY(&r->threads) &&
	       atomic_load(&r->handoff) == NULL;
}

int reactor_run(void *arg)
{
	struct reactor *r = arg;
	uint64_t now;
	bool busy;

	tls_reactor = r;
	r->last_busy_tsc = axon_get_ticks();
	AXON_INFOLOG("reactor %u running", r->core);
	while (!reactor_done(r)) {
		if (r == g_main_reactor &&
		    atomic_load_explicit(&g_reactor_shutdown_pending, memory_order_relaxed) &&
		    atomic_exchange(&g_reactor_shutdown_pending, false)) {
			app_handle_shutdown_request();
		}
		if (!r->stopping && atomic_load_explicit(&r->stop_requested, memory_order_relaxed)) {
			reactor_begin_stop(r);
		}
		busy = reactor_iterate(r, &now);
		/* A stopping reactor spins: exiting threads wait on timers and
		 * other threads, and stopping lasts milliseconds. */
		if (!busy && !r->stopping && g_reactor_opts.adaptive_polling &&
		    now - r->last_busy_tsc >= g_idle_sleep_ticks) {
			reactor_sleep(r);
		}
	}
	AXON_INFOLOG("reactor %u stopped", r->core);
	tls_reactor = NULL;
	return 0;
}

void reactors_stop(void)
{
	uint32_t i;

	for (i = 0; i < g_reactor_count; i++) {
		atomic_store(&g_reactors[i].stop_requested, true);
		reactor_kick(&g_reactors[i]);
	}
}

/* ---- public queries ------------------------------------------------------ */

uint32_t axon_reactor_count(void)
{
	return g_reactor_count;
}

int axon_reactor_current_core(void)
{
	return tls_reactor != NULL ? (int)tls_reactor->core : -1;
}

uint32_t axon_reactor_get_cores(uint32_t *cores, uint32_t max)
{
	uint32_t i;

	for (i = 0; i < g_reactor_count && i < max; i++) {
		cores[i] = g_reactors[i].core;
	}
	return i;
}

int axon_reactor_get_info(uint32_t core, struct axon_reactor_info *info)
{
	struct reactor *r = reactor_get(core);
	struct reactor_thread *rt;
	uint32_t n = 0;

	if (r == NULL) {
		return -ENOENT;
	}
	memset(info, 0, sizeof(*info));
	info->core = r->core;
	info->busy_tsc = atomic_load_explicit(&r->busy_tsc, memory_order_relaxed);
	info->idle_tsc = atomic_load_explicit(&r->idle_tsc, memory_order_relaxed);
	info->sleep_count = atomic_load_explicit(&r->sleep_count, memory_order_relaxed);
	info->in_interrupt = atomic_load(&r->in_interrupt);
	pthread_mutex_lock(&r->list_lock);
	info->thread_count = r->thread_count;
	TAILQ_FOREACH(rt, &r->threads, link) {
		struct axon_thread *t = rt_thread(rt);

		if (n == sizeof(info->thread_ids) / sizeof(info->thread_ids[0])) {
			break;
		}
		info->thread_ids[n] = axon_thread_get_id(t);
		snprintf(info->thread_names[n], sizeof(info->thread_names[n]), "%s",
			 axon_thread_get_name(t));
		n++;
	}
	pthread_mutex_unlock(&r->list_lock);
	return 0;
}
