/*
 * Axon threads, messages, pollers, and per-thread I/O channels.
 *
 * An axon_thread is a lightweight, cooperatively scheduled context. A reactor
 * (lib/event) runs many of them on one pinned core by calling axon_thread_poll().
 * Every object belongs to exactly one axon_thread; other threads reach it only
 * by sending a message. Nothing here takes a lock on the I/O path.
 *
 * An I/O device is any pointer registered with axon_io_device_register(). Each
 * thread that wants to use the device asks for its own I/O channel; the first
 * request on a thread runs the device's create callback, later ones take a
 * reference to the same channel. The last put runs the destroy callback.
 *
 * Threading contract: unless a function says otherwise it must be called on an
 * axon_thread (axon_get_thread() != NULL) and acts on that thread.
 */
#ifndef AXON_THREAD_H
#define AXON_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct axon_thread;
struct axon_poller;
struct axon_io_channel;
struct axon_io_channel_iter;

/** A poller returns one of these: did it find work? */
#define AXON_POLLER_IDLE 0
#define AXON_POLLER_BUSY 1

typedef void (*axon_msg_fn)(void *ctx);
typedef int (*axon_poller_fn)(void *ctx);

/**
 * Called by axon_thread_create() so the framework (lib/event) can place the new
 * thread on a reactor. Returns 0 or a negative errno, which fails the create.
 */
typedef int (*axon_new_thread_fn)(struct axon_thread *thread);

/* ---- library ----------------------------------------------------------- */

/**
 * Initialise the thread library. new_thread_fn may be NULL, in which case the
 * caller polls threads itself (unit tests, simple tools). ctx_sz bytes of
 * zeroed framework context are allocated with every thread
 * (axon_thread_get_ctx()). Returns 0, -EALREADY, or -ENOMEM.
 */
int axon_thread_lib_init(axon_new_thread_fn new_thread_fn, size_t ctx_sz);

/** Tear down the library. Every thread must have been destroyed. */
void axon_thread_lib_fini(void);

/* ---- threads ----------------------------------------------------------- */

/**
 * Create a thread. May be called from any OS thread. The first thread
 * created is the app thread (axon_thread_get_app_thread()).
 * preferred_core is a hint for new_thread_fn: a core id, or -1 for any.
 * Returns NULL (and logs why) on failure.
 */
struct axon_thread *axon_thread_create(const char *name, int preferred_core);

/**
 * Ask the calling thread to exit. The thread keeps running its messages and
 * pollers until every poller is unregistered and every I/O channel it holds
 * is released; then axon_thread_is_exited() turns true. A thread that does not
 * finish within a few seconds is forced out with an error naming what it still
 * holds. Calling it twice is harmless; any OS thread may call it.
 */
void axon_thread_exit(struct axon_thread *thread);
bool axon_thread_is_running(struct axon_thread *thread);
bool axon_thread_is_exited(struct axon_thread *thread);

/**
 * Free an exited thread. Called by its owner (the reactor), not on the thread.
 * Messages still queued for it are dropped with a warning.
 */
void axon_thread_destroy(struct axon_thread *thread);

/**
 * Run one iteration of the thread: up to max_msgs messages (0 = a default
 * budget), then each active poller once, then every timed poller whose time
 * has come. now is the current tick count (0 = read it). Sets the calling OS
 * thread's current axon_thread for the duration. Returns AXON_POLLER_BUSY if
 * anything did work, else AXON_POLLER_IDLE. Called by the owner only.
 */
int axon_thread_poll(struct axon_thread *thread, uint32_t max_msgs, uint64_t now);

/** Tick at which the earliest timed poller is due, or 0 if there is none. */
uint64_t axon_thread_next_poller_expiration(struct axon_thread *thread);

/** True if the thread has at least one active (non-timed, unpaused) poller. */
bool axon_thread_has_active_pollers(struct axon_thread *thread);

/**
 * True if the thread registered wake fds (axon_thread_add_wake_fd): its active
 * pollers then promise that every piece of work they wait for makes one of
 * those fds ready, so the reactor may sleep even though they are active.
 */
bool axon_thread_has_wake_fds(struct axon_thread *thread);

/** The preferred_core given to axon_thread_create(), or -1. */
int axon_thread_get_preferred_core(const struct axon_thread *thread);

/* Adaptive polling. Each thread owns an epoll fd that turns readable when the
 * thread has work: a message was sent to it while it was asleep, a wake fd
 * registered on it is ready, or its timerfd (armed for the next timed poller)
 * fires. A reactor nests these fds in its own epoll set. */

/** The thread's epoll fd. Never blocks; owned by the thread. */
int axon_thread_get_interrupt_fd(struct axon_thread *thread);

/**
 * Announce that the owner is about to sleep on the interrupt fd. Arms the
 * timerfd for the next timed poller and marks the thread asleep so that
 * senders write its eventfd. Returns false, and leaves the thread awake, if a
 * message is already queued: the caller must poll instead of sleeping.
 */
bool axon_thread_prepare_to_sleep(struct axon_thread *thread);

/** The owner woke up (or decided not to sleep): back to polled mode. */
void axon_thread_wake_up(struct axon_thread *thread);

/**
 * Register an fd whose readiness (epoll_events, e.g. EPOLLIN) should wake the
 * calling thread from adaptive sleep. Nothing is dispatched on it: waking just
 * resumes polling, and the poller that owns the fd drains it.
 * Returns 0, -EEXIST, -EINVAL when called on no axon_thread, or another
 * negative errno from epoll_ctl.
 */
int axon_thread_add_wake_fd(int fd, uint32_t epoll_events);
/** Returns 0, -ENOENT, or -EINVAL when called on no axon_thread. */
int axon_thread_remove_wake_fd(int fd);

/** The axon_thread running on the calling OS thread, or NULL. */
struct axon_thread *axon_get_thread(void);
/** Make thread current on this OS thread (reactors and tests); NULL clears. */
void axon_set_thread(struct axon_thread *thread);
/** The first thread ever created (the JSON-RPC server and app framework run there). */
struct axon_thread *axon_thread_get_app_thread(void);

const char *axon_thread_get_name(const struct axon_thread *thread);
uint64_t axon_thread_get_id(const struct axon_thread *thread);
/** The framework context of ctx_sz bytes given to axon_thread_lib_init(). */
void *axon_thread_get_ctx(struct axon_thread *thread);
/** The thread owning a framework context (inverse of axon_thread_get_ctx). */
struct axon_thread *axon_thread_get_from_ctx(void *ctx);
/** Look up a live thread by id; NULL if none or exited. Any OS thread. */
struct axon_thread *axon_thread_get_by_id(uint64_t id);

struct axon_thread_stats {
	uint64_t busy_tsc;  /* ticks spent in iterations that did work */
	uint64_t idle_tsc;  /* ticks spent in iterations that found nothing */
};
/** Statistics of the calling thread. Returns 0 or -EINVAL off-thread. */
int axon_thread_get_stats(struct axon_thread_stats *stats);
/** Ticks of the most recent axon_thread_poll() of the calling thread. */
uint64_t axon_thread_get_last_tsc(struct axon_thread *thread);

/* ---- messages ---------------------------------------------------------- */

/**
 * Queue fn(ctx) to run on thread. Any OS thread may call it; it never blocks
 * and never allocates. Returns 0, -EINVAL (thread or fn NULL), -EIO (thread has
 * exited), or -ENOMEM (the thread's ring is full; the message was not sent).
 */
int axon_thread_send_msg(const struct axon_thread *thread, axon_msg_fn fn, void *ctx);

/**
 * Run fn(ctx) on every running thread, one after another, then cpl(ctx) on the
 * calling thread. Threads created meanwhile may or may not be visited.
 */
void axon_for_each_thread(axon_msg_fn fn, void *ctx, axon_msg_fn cpl);

/* ---- pollers ----------------------------------------------------------- */

/**
 * Register fn(arg) on the calling thread. period_us == 0 makes it active (run
 * on every iteration), else timed (run once every period_us). name appears in
 * thread_get_pollers. Returns NULL if off-thread or out of memory.
 */
struct axon_poller *axon_poller_register_named(axon_poller_fn fn, void *arg,
					       uint64_t period_us, const char *name);
#define axon_poller_register(fn, arg, period_us) \
	axon_poller_register_named(fn, arg, period_us, #fn)

/**
 * Unregister *ppoller and set *ppoller to NULL. Safe from inside the poller's
 * own callback; the poller is freed later by its thread, never under a caller.
 * Must be called on the poller's thread. NULL or *ppoller == NULL is a no-op.
 */
void axon_poller_unregister(struct axon_poller **ppoller);

/** Stop running the poller until resumed. Safe from its own callback. */
void axon_poller_pause(struct axon_poller *poller);
void axon_poller_resume(struct axon_poller *poller);

struct axon_poller_info {
	const char *name;
	const char *state;       /* "active", "timed", "paused" */
	uint64_t period_ticks;   /* 0 for active pollers */
	uint64_t run_count;      /* times fn was called */
	uint64_t busy_count;     /* times fn returned BUSY */
};
/** Visit every poller of the calling thread. */
void axon_thread_for_each_poller(void (*fn)(const struct axon_poller_info *info, void *ctx),
				 void *ctx);

/* ---- I/O devices and channels ----------------------------------------- */

typedef int (*axon_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*axon_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*axon_io_device_unregister_cb)(void *io_device);

/**
 * Register io_device. Any OS thread. Registering the same pointer twice logs
 * an error and does nothing. name appears in logs (may be NULL).
 */
void axon_io_device_register(void *io_device, axon_io_channel_create_cb create_cb,
			     axon_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			     const char *name);

/**
 * Unregister io_device. No new channels can be obtained afterwards. Channels
 * still held stay valid; unregister_cb (may be NULL) runs on the calling
 * thread once the last of them is released.
 */
void axon_io_device_unregister(void *io_device, axon_io_device_unregister_cb unregister_cb);

/**
 * This thread's channel to io_device: created on first use (create_cb runs
 * here with a zeroed ctx of ctx_size bytes), referenced afterwards. Returns
 * NULL if the device is unknown or unregistering, create_cb failed, or the
 * calling thread is exiting.
 */
struct axon_io_channel *axon_get_io_channel(void *io_device);

/**
 * Drop a reference. On the last one destroy_cb runs, deferred to a message on
 * this thread so that a caller in the middle of using the channel is safe; a
 * get before then revives the same channel. Must be called on the channel's thread.
 */
void axon_put_io_channel(struct axon_io_channel *ch);

void *axon_io_channel_get_ctx(struct axon_io_channel *ch);
struct axon_io_channel *axon_io_channel_from_ctx(void *ctx);
struct axon_thread *axon_io_channel_get_thread(struct axon_io_channel *ch);
void *axon_io_channel_get_io_device(struct axon_io_channel *ch);

typedef void (*axon_channel_msg)(struct axon_io_channel_iter *i);
typedef void (*axon_channel_for_each_cpl)(struct axon_io_channel_iter *i, int status);

/**
 * Visit io_device's channels: fn(i) runs on each channel's thread, one thread
 * at a time, and must end with axon_for_each_channel_continue(i, status). A
 * non-zero status stops the walk. cpl(i, status) then runs on the calling
 * thread. Channels released before their turn are skipped. An unknown or
 * unregistered device completes at once with cpl(i, -ENODEV).
 */
void axon_for_each_channel(void *io_device, axon_channel_msg fn, void *ctx,
			   axon_channel_for_each_cpl cpl);
void axon_for_each_channel_continue(struct axon_io_channel_iter *i, int status);
void *axon_io_channel_iter_get_io_device(struct axon_io_channel_iter *i);
struct axon_io_channel *axon_io_channel_iter_get_channel(struct axon_io_channel_iter *i);
void *axon_io_channel_iter_get_ctx(struct axon_io_channel_iter *i);

#ifdef __cplusplus
}
#endif
#endif /* AXON_THREAD_H */
