/*
 * lib/event private types: reactors, the subsystem sequencer and the
 * configuration loader share these. Nothing here is part of the public API.
 */
#ifndef AXON_EVENT_INTERNAL_H
#define AXON_EVENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "axon/event.h"
#include "axon/thread.h"

/* Per-axon_thread framework context (axon_thread_lib_init ctx_sz). */
struct reactor_thread {
	/* Link in the target reactor's lock-free hand-off stack. */
	struct reactor_thread *handoff_next;
	TAILQ_ENTRY(reactor_thread) link;
	struct reactor *reactor;
	bool exit_requested;
	bool no_sleep; /* its interrupt fd is not watched: never sleep */
};

TAILQ_HEAD(reactor_thread_list, reactor_thread);

struct reactor {
	uint32_t core;
	int epfd;  /* every thread's interrupt fd, plus evfd */
	int evfd;  /* kicked on hand-off, stop and shutdown requests */

	/* New threads pushed by any OS thread (Treiber stack, taken whole). */
	_Atomic(struct reactor_thread *) handoff;
	atomic_bool stop_requested;

	/* Owned by the reactor's OS thread; list changes also take list_lock
	 * so that axon_reactor_get_info() can read a consistent snapshot. */
	struct reactor_thread_list threads;
	uint32_t thread_count;
	pthread_mutex_t list_lock;
	bool stopping;
	uint64_t last_busy_tsc;

	/* Statistics: written by the reactor, read by anyone (relaxed). */
	_Atomic uint64_t busy_tsc;
	_Atomic uint64_t idle_tsc;
	_Atomic uint64_t sleep_count;
	atomic_bool in_interrupt;
};

struct reactor_opts {
	bool adaptive_polling;
	uint64_t idle_sleep_us;
};

/* reactor.c */
/* Allocate one reactor per EAL core; main_core runs on the calling OS thread. */
int reactors_init(const struct reactor_opts *opts);
void reactors_fini(void);
/* axon_new_thread_fn for axon_thread_lib_init(). */
int reactor_schedule_thread(struct axon_thread *thread);
/* Run the reactor of the calling core until it stops (every thread exited). */
int reactor_run(void *arg);
struct reactor *reactor_get(uint32_t core);
/* Ask every reactor to exit its threads and stop. Any OS thread. */
void reactors_stop(void);
/* Wake the main reactor (signal-safe). */
void reactor_kick_main(void);
/* Hook polled by the main reactor: true once if a shutdown was requested. */
extern atomic_bool g_reactor_shutdown_pending;
void app_handle_shutdown_request(void);

/* subsystem.c */
/* Compute the start order; logs and returns -EINVAL on a cycle or unknown name. */
int subsystem_sort(void);
/* Stop the started subsystems in reverse order, then cb() on the app thread. */
void subsystem_fini_all(void (*cb)(void));
/* Release the sort result (the registry itself is static). */
void subsystem_reset(void);
bool subsystem_init_in_progress(void);

/* json_config.c */
enum config_pass_mask {
	CONFIG_PASS_STARTUP = 0x1, /* methods allowed before framework_start_init */
	CONFIG_PASS_INIT = 0x2,    /* start the subsystems */
	CONFIG_PASS_RUNTIME = 0x4, /* methods allowed afterwards */
	/* Modifiers. AFTER_STARTUP: an earlier call ran this document's startup
	 * pass (skip those methods now). DEFER_RUNTIME: runtime-only methods are
	 * left for a later call instead of being rejected. */
	CONFIG_PASS_AFTER_STARTUP = 0x8,
	CONFIG_PASS_DEFER_RUNTIME = 0x10,
};
/* Replay doc in the given passes; source names the document in error messages. */
void config_load(json_t *doc, uint32_t passes, const char *source,
		 void (*cb)(void *ctx, int rc), void *ctx);

bool config_load_in_progress(void);

/* app.c */
/* True once shutdown has begun: long start-up sequences stop early. */
bool app_shutdown_requested(void);
/* A start-up sequence ended: go on with a shutdown that waited for it. */
void app_resume_shutdown(void);
/* Called when the subsystems finished starting (from axon_app_start_subsystems). */
void app_subsystems_started(void);

#endif /* AXON_EVENT_INTERNAL_H */
