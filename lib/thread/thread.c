/*
 * axon_thread life cycle, the poll loop, statistics and the thread registry
 * (see include/axon/thread.h for the contract).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread_internal.h"

pthread_mutex_t g_thread_lib_lock = PTHREAD_MUTEX_INITIALIZER;
struct thread_list g_threads = TAILQ_HEAD_INITIALIZER(g_threads);
__thread struct axon_thread *g_thread_current;

/* Protected by g_thread_lib_lock. */
static bool g_thread_lib_initialized;
static axon_new_thread_fn g_new_thread_fn;
static size_t g_thread_ctx_sz;
static uint64_t g_thread_next_id = 1;
/* Written under the lock; read without it (any OS thread, e.g. a shutdown
 * path that must not block). */
static _Atomic(struct axon_thread *) g_app_thread;

static const char *thread_log_name(void)
{
	return g_thread_current != NULL ? g_thread_current->name : NULL;
}

int axon_thread_lib_init(axon_new_thread_fn new_thread_fn, size_t ctx_sz)
{
	pthread_mutex_lock(&g_thread_lib_lock);
	if (g_thread_lib_initialized) {
		pthread_mutex_unlock(&g_thread_lib_lock);
		return -EALREADY;
	}
	g_thread_lib_initialized = true;
	g_new_thread_fn = new_thread_fn;
	g_thread_ctx_sz = ctx_sz;
	g_thread_next_id = 1;
	atomic_store_explicit(&g_app_thread, NULL, memory_order_relaxed);
	pthread_mutex_unlock(&g_thread_lib_lock);

	axon_log_set_thread_name_fn(thread_log_name);
	return 0;
}

void axon_thread_lib_fini(void)
{
	struct axon_thread *thread;

	pthread_mutex_lock(&g_thread_lib_lock);
	TAILQ_FOREACH(thread, &g_threads, link) {
		AXON_ERRLOG("thread %s (id %" PRIu64 ") still exists at library teardown",
			    thread->name, thread->id);
	}
	g_thread_lib_initialized = false;
	g_new_thread_fn = NULL;
	atomic_store_explicit(&g_app_thread, NULL, memory_order_relaxed);
	pthread_mutex_unlock(&g_thread_lib_lock);

	io_device_free_all();
	axon_log_set_thread_name_fn(NULL);
}

/* Threads are kept in id order; ids are handed out before new_thread_fn runs,
 * so concurrent creates may finish out of order. */
static void thread_insert_locked(struct axon_thread *thread)
{
	struct axon_thread *it;

	TAILQ_FOREACH_REVERSE(it, &g_threads, thread_list, link) {
		if (it->id < thread->id) {
			TAILQ_INSERT_AFTER(&g_threads, it, thread, link);
			return;
		}
	}
	TAILQ_INSERT_HEAD(&g_threads, thread, link);
}

static struct axon_thread *thread_alloc(const char *name, int preferred_core, size_t ctx_sz)
{
	/* sizeof is a multiple of the cache line, so the ctx that follows
	 * starts on one. */
	size_t size = (sizeof(struct axon_thread) + ctx_sz + MSG_CACHE_LINE - 1) &
		      ~(size_t)(MSG_CACHE_LINE - 1);
	struct axon_thread *thread = aligned_alloc(MSG_CACHE_LINE, size);

	if (thread == NULL) {
		AXON_ERRLOG("cannot allocate thread %s", name != NULL ? name : "");
		return NULL;
	}
	memset(thread, 0, size);
	if (msg_ring_init(&thread->ring, MSG_RING_SIZE) != 0) {
		AXON_ERRLOG("cannot allocate the message ring of thread %s",
			    name != NULL ? name : "");
		goto err_free;
	}
	atomic_init(&thread->state, THREAD_RUNNING);
	atomic_init(&thread->sleeping, false);
	TAILQ_INIT(&thread->active_pollers);
	TAILQ_INIT(&thread->timed_pollers);
	TAILQ_INIT(&thread->paused_pollers);
	TAILQ_INIT(&thread->dead_pollers);
	TAILQ_INIT(&thread->channels);
	thread->preferred_core = preferred_core;
	if (thread_sleep_init(thread) != 0) {
		goto err_ring;
	}
	return thread;

err_ring:
	msg_ring_fini(&thread->ring);
err_free:
	free(thread);
	return NULL;
}

static void thread_free(struct axon_thread *thread)
{
	uint64_t dropped;

	thread_sleep_fini(thread);
	dropped = msg_ring_fini(&thread->ring);
	if (dropped != 0) {
		AXON_WARNLOG("thread %s: dropped %" PRIu64 " queued messages", thread->name, dropped);
	}
	free(thread);
}

struct axon_thread *axon_thread_create(const char *name, int preferred_core)
{
	struct axon_thread *thread;
	axon_new_thread_fn new_thread_fn;
	size_t ctx_sz;
	int rc;

	pthread_mutex_lock(&g_thread_lib_lock);
	if (!g_thread_lib_initialized) {
		pthread_mutex_unlock(&g_thread_lib_lock);
		AXON_ERRLOG("thread library not initialised");
		return NULL;
	}
	new_thread_fn = g_new_thread_fn;
	ctx_sz = g_thread_ctx_sz;
	pthread_mutex_unlock(&g_thread_lib_lock);

	thread = thread_alloc(name, preferred_core, ctx_sz);
	if (thread == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	thread->id = g_thread_next_id++;
	pthread_mutex_unlock(&g_thread_lib_lock);
	if (name != NULL) {
		snprintf(thread->name, sizeof(thread->name), "%s", name);
	} else {
		snprintf(thread->name, sizeof(thread->name), "thread%" PRIu64, thread->id);
	}

	/* Published only once the framework accepted it, so nobody can send
	 * to a thread that is about to be freed again. */
	if (new_thread_fn != NULL) {
		rc = new_thread_fn(thread);
		if (rc != 0) {
			AXON_ERRLOG("cannot schedule thread %s: %s", thread->name, strerror(-rc));
			thread_free(thread);
			return NULL;
		}
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	thread_insert_locked(thread);
	if (atomic_load_explicit(&g_app_thread, memory_order_relaxed) == NULL) {
		/* Release: a reader that sees the pointer sees the thread. */
		atomic_store_explicit(&g_app_thread, thread, memory_order_release);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
	return thread;
}

void axon_thread_exit(struct axon_thread *thread)
{
	int expected = THREAD_RUNNING;

	if (thread == NULL) {
		return;
	}
	/* The owner starts the exit timeout at its next poll, so this is safe
	 * from any OS thread. */
	atomic_compare_exchange_strong_explicit(&thread->state, &expected, THREAD_EXITING,
						memory_order_relaxed, memory_order_relaxed);
}

bool axon_thread_is_running(struct axon_thread *thread)
{
	return thread_get_state(thread) == THREAD_RUNNING;
}

bool axon_thread_is_exited(struct axon_thread *thread)
{
	return thread_get_state(thread) == THREAD_EXITED;
}

void axon_thread_destroy(struct axon_thread *thread)
{
	struct axon_thread *orig = g_thread_current;

	if (thread == NULL) {
		return;
	}
	if (thread_get_state(thread) != THREAD_EXITED) {
		AXON_ERRLOG("thread %s destroyed before it exited; not freed", thread->name);
		return;
	}
	pthread_mutex_lock(&g_thread_lib_lock);
	TAILQ_REMOVE(&g_threads, thread, link);
	if (atomic_load_explicit(&g_app_thread, memory_order_relaxed) == thread) {
		atomic_store_explicit(&g_app_thread, NULL, memory_order_relaxed);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);

	/* Only a forced exit leaves pollers or channels behind. Their destroy
	 * callbacks run as if on the thread. Channels go first: a channel's
	 * destroy callback may unregister its own pollers, which must still exist. */
	g_thread_current = thread;
	io_channel_free_all(thread);
	poller_free_all(thread);
	g_thread_current = orig;
	thread_free(thread);
}

static void thread_force_exit(struct axon_thread *thread)
{
	char pollers[256] = "";
	char channels[256] = "";

	poller_describe(thread, pollers, sizeof(pollers));
	io_channel_describe(thread, channels, sizeof(channels));
	AXON_ERRLOG("thread %s did not exit within %d s; forcing it out "
		    "(pollers: [%s], channels: [%s])",
		    thread->name, THREAD_EXIT_TIMEOUT_SEC, pollers, channels);
	atomic_store_explicit(&thread->state, THREAD_EXITED, memory_order_relaxed);
}

static void thread_try_exit(struct axon_thread *thread, uint64_t now)
{
	if (thread_get_state(thread) != THREAD_EXITING) {
		return;
	}
	if (thread->exit_deadline == 0) {
		thread->exit_deadline = now + THREAD_EXIT_TIMEOUT_SEC * axon_get_ticks_hz();
	}
	if (thread->poller_count == 0 && TAILQ_EMPTY(&thread->channels) &&
	    msg_ring_is_empty(&thread->ring)) {
		atomic_store_explicit(&thread->state, THREAD_EXITED, memory_order_relaxed);
		return;
	}
	if (now >= thread->exit_deadline) {
		thread_force_exit(thread);
	}
}

int axon_thread_poll(struct axon_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct axon_thread *orig = g_thread_current;
	struct axon_poller *first;
	bool busy;
	uint64_t end;

	g_thread_current = thread;
	if (now == 0) {
		now = axon_get_ticks();
	}
	busy = msg_ring_run(&thread->ring, max_msgs != 0 ? max_msgs : THREAD_MSG_BUDGET) != 0;
	if (!TAILQ_EMPTY(&thread->active_pollers)) {
		busy |= poller_run_active(thread);
	}
	first = TAILQ_FIRST(&thread->timed_pollers);
	if (first != NULL && first->next_run <= now) {
		busy |= poller_run_timed(thread, now);
	}
	if (!TAILQ_EMPTY(&thread->dead_pollers)) {
		poller_free_dead(thread);
	}
	if (thread_get_state(thread) != THREAD_RUNNING) {
		thread_try_exit(thread, now);
	}

	end = axon_get_ticks();
	if (end > now) {
		if (busy) {
			thread->stats.busy_tsc += end - now;
		} else {
			thread->stats.idle_tsc += end - now;
		}
	}
	thread->last_tsc = end;
	g_thread_current = orig;
	return busy ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

bool axon_thread_has_active_pollers(struct axon_thread *thread)
{
	return !TAILQ_EMPTY(&thread->active_pollers);
}

uint64_t axon_thread_next_poller_expiration(struct axon_thread *thread)
{
	struct axon_poller *first = TAILQ_FIRST(&thread->timed_pollers);

	return first != NULL ? first->next_run : 0;
}

struct axon_thread *axon_get_thread(void)
{
	return g_thread_current;
}

void axon_set_thread(struct axon_thread *thread)
{
	g_thread_current = thread;
}

struct axon_thread *axon_thread_get_app_thread(void)
{
	return atomic_load_explicit(&g_app_thread, memory_order_acquire);
}

const char *axon_thread_get_name(const struct axon_thread *thread)
{
	return thread->name;
}

uint64_t axon_thread_get_id(const struct axon_thread *thread)
{
	return thread->id;
}

int axon_thread_get_preferred_core(const struct axon_thread *thread)
{
	return thread->preferred_core;
}

void *axon_thread_get_ctx(struct axon_thread *thread)
{
	if (g_thread_ctx_sz == 0) {
		return NULL;
	}
	return (uint8_t *)thread + sizeof(*thread);
}

struct axon_thread *axon_thread_get_from_ctx(void *ctx)
{
	if (ctx == NULL) {
		return NULL;
	}
	return (struct axon_thread *)((uint8_t *)ctx - sizeof(struct axon_thread));
}

struct axon_thread *thread_next_live_locked(uint64_t after_id)
{
	struct axon_thread *thread;

	TAILQ_FOREACH(thread, &g_threads, link) {
		if (thread->id > after_id && thread_get_state(thread) != THREAD_EXITED) {
			return thread;
		}
	}
	return NULL;
}

struct axon_thread *thread_get_live_locked(uint64_t id)
{
	struct axon_thread *thread = id != 0 ? thread_next_live_locked(id - 1) : NULL;

	return thread != NULL && thread->id == id ? thread : NULL;
}

struct axon_thread *axon_thread_get_by_id(uint64_t id)
{
	struct axon_thread *thread;

	pthread_mutex_lock(&g_thread_lib_lock);
	thread = thread_get_live_locked(id);
	pthread_mutex_unlock(&g_thread_lib_lock);
	return thread;
}

int axon_thread_get_stats(struct axon_thread_stats *stats)
{
	if (g_thread_current == NULL) {
		return -EINVAL;
	}
	*stats = g_thread_current->stats;
	return 0;
}

uint64_t axon_thread_get_last_tsc(struct axon_thread *thread)
{
	return thread->last_tsc;
}
