/*
 * lib/thread private types, shared by thread.c, msg.c, poller.c, io_channel.c
 * and thread_sleep.c. Nothing here is part of the public API.
 *
 * Locking: g_thread_lib_lock protects the thread list, the io_device
 * registry and every thread's channel list (changed only by the owning
 * thread, under the lock, so that axon_for_each_channel can look at other
 * threads' lists). Nothing on the I/O path takes it: messages and pollers
 * are lock-free; getting and destroying channels and registering devices
 * (set-up work) take it.
 *
 * Static names differ across the files of lib/thread so that a unit test can
 * #include them all into one translation unit.
 */
#ifndef AXON_THREAD_INTERNAL_H
#define AXON_THREAD_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/thread.h"

#include "msg_ring.h"

#define THREAD_NAME_LEN 64
#define POLLER_NAME_LEN 64
#define IO_DEVICE_NAME_LEN 64

/* Messages run per axon_thread_poll() when the caller passes max_msgs = 0. */
#define THREAD_MSG_BUDGET 128u

/* An exiting thread still holding pollers or channels after this long is
 * forced out (and what it holds is named in the log). */
#define THREAD_EXIT_TIMEOUT_SEC 5

enum thread_state {
	THREAD_RUNNING, /* normal operation */
	THREAD_EXITING, /* axon_thread_exit() called: draining pollers and channels */
	THREAD_EXITED,  /* done (or forced out); messages are refused with -EIO */
};

enum poller_state {
	POLLER_WAITING,      /* on the active or timed list, runs when due */
	POLLER_PAUSING,      /* paused from its own callback; parked when it returns */
	POLLER_PAUSED,       /* on the paused list */
	POLLER_UNREGISTERED, /* on the dead list (or still running), freed after the loop */
};

struct axon_poller {
	TAILQ_ENTRY(axon_poller) link;
	axon_poller_fn fn;
	void *arg;
	struct axon_thread *thread;
	enum poller_state state;
	uint64_t period_ticks; /* 0: active poller */
	uint64_t next_run;     /* timed pollers: tick when due */
	uint64_t run_count;
	uint64_t busy_count;
	char name[POLLER_NAME_LEN];
};
TAILQ_HEAD(poller_list, axon_poller);

struct io_device {
	void *io_device;
	axon_io_channel_create_cb create_cb;
	axon_io_channel_destroy_cb destroy_cb;
	axon_io_device_unregister_cb unregister_cb;
	uint32_t ctx_size;
	/* The rest is protected by g_thread_lib_lock. */
	uint32_t channel_count;  /* channels that exist, destroy pending included */
	uint32_t iter_count;     /* axon_for_each_channel walks in flight */
	bool unregistered;       /* off the registry; freed when nothing refers to it */
	bool unregister_done;    /* unregister_cb has run */
	uint64_t unregister_thread_id; /* by id: looked up when it is time */
	TAILQ_ENTRY(io_device) link;
	char name[IO_DEVICE_NAME_LEN];
};

struct axon_io_channel {
	struct io_device *dev;
	struct axon_thread *thread;
	uint32_t ref;          /* owner thread only */
	bool destroy_pending;  /* a deferred destroy message is queued */
	TAILQ_ENTRY(axon_io_channel) link; /* in thread->channels, under the lock */
} __attribute__((aligned(MSG_CACHE_LINE)));
TAILQ_HEAD(channel_list, axon_io_channel);

struct axon_thread {
	struct msg_ring ring;

	/* Read by senders on every message, written rarely by the owner. */
	alignas(MSG_CACHE_LINE) _Atomic int state; /* enum thread_state */
	atomic_bool sleeping;
	int msg_fd; /* eventfd written by senders while the thread sleeps */

	/* Owner only from here on, unless noted. */
	alignas(MSG_CACHE_LINE) uint64_t id;
	struct poller_list active_pollers;
	struct poller_list timed_pollers; /* sorted by next_run */
	struct poller_list paused_pollers;
	struct poller_list dead_pollers;
	struct axon_poller *current_poller; /* whose callback is running */
	uint32_t poller_count;              /* registered, paused included */
	struct channel_list channels;       /* changed under g_thread_lib_lock */
	struct axon_thread_stats stats;
	uint64_t last_tsc;
	uint64_t exit_deadline;
	int timer_fd;
	int epoll_fd;
	bool timer_armed;
	uint32_t wake_fd_count; /* fds added with axon_thread_add_wake_fd */
	int preferred_core;
	TAILQ_ENTRY(axon_thread) link; /* g_threads, under g_thread_lib_lock */
	char name[THREAD_NAME_LEN];
	/* The framework context (ctx_sz bytes) follows at sizeof(struct axon_thread). */
};
TAILQ_HEAD(thread_list, axon_thread);

/* thread.c */
extern pthread_mutex_t g_thread_lib_lock;
extern struct thread_list g_threads; /* in id order */
extern __thread struct axon_thread *g_thread_current;
static inline enum thread_state
thread_get_state(const struct axon_thread *thread)
{
	return (enum thread_state)atomic_load_explicit(&thread->state, memory_order_relaxed);
}
/* With g_thread_lib_lock held: the first thread after after_id that has not
 * exited, or the thread numbered id if it has not exited; else NULL. */
struct axon_thread *thread_next_live_locked(uint64_t after_id);
struct axon_thread *thread_get_live_locked(uint64_t id);

/* poller.c */
uint64_t poller_us_to_ticks(uint64_t us);
bool poller_run_active(struct axon_thread *thread);
bool poller_run_timed(struct axon_thread *thread, uint64_t now);
void poller_free_dead(struct axon_thread *thread);
/* Free every poller (thread destroy); names leftovers in the log. */
void poller_free_all(struct axon_thread *thread);
/* Append "name, name, ..." of the registered pollers to buf. */
void poller_describe(struct axon_thread *thread, char *buf, size_t len);

/* io_channel.c */
/* Destroy every channel the (exited) thread still holds, naming each. */
void io_channel_free_all(struct axon_thread *thread);
void io_channel_describe(struct axon_thread *thread, char *buf, size_t len);
/* Free devices still registered at library teardown. */
void io_device_free_all(void);

/* thread_sleep.c */
int thread_sleep_init(struct axon_thread *thread);
void thread_sleep_fini(struct axon_thread *thread);
/* Write the thread's eventfd. */
void thread_sleep_signal(struct axon_thread *thread);

/* After a successful enqueue: wake the thread if it sleeps. The seq_cst load
 * is the sender's half of the Dekker pair described in thread_sleep.c; it
 * follows the seq_cst reservation CAS in msg_ring_enqueue(). */
static inline void thread_sleep_kick(struct axon_thread *thread)
{
	if (atomic_load_explicit(&thread->sleeping, memory_order_seq_cst)) {
		thread_sleep_signal(thread);
	}
}

#endif /* AXON_THREAD_INTERNAL_H */
