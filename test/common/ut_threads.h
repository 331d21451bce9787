/*
 * Deterministic multi-thread harness for unit tests.
 *
 * A test creates N axon_threads with no new_thread_fn and polls them by hand
 * from its one OS thread, so every interleaving is chosen by the test. Time
 * is a counter the test advances: the harness defines axon_get_ticks() and
 * axon_get_ticks_hz() (1 tick = 1 microsecond), so the test needs neither
 * lib/env nor DPDK. A test that links lib/env's real clock instead defines
 * UT_THREADS_NO_TICKS before including this file.
 *
 * Include it in exactly one translation unit of a test program:
 *
 *   #include "test/common/ut_threads.h"
 *
 *   ut_threads_init(3);            // threads 0..2, thread 0 current
 *   ut_set_thread(1);              // act as thread 1
 *   ... axon_thread_send_msg(ut_thread(2), fn, ctx) ...
 *   ut_poll_threads();             // run everything until all are idle
 *   ut_ticks_advance(1000);        // 1 ms later: timed pollers may be due
 *   CU_ASSERT(ut_threads_fini() == 0);   // 0: every thread exited cleanly
 *
 * Everything here is static inline, so unused helpers cost nothing.
 */
#ifndef AXON_UT_THREADS_H
#define AXON_UT_THREADS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "axon/thread.h"

#define UT_MAX_THREADS 16
/* Ticks per second of the fake clock: 1 tick = 1 us, so poller periods in
 * microseconds equal periods in ticks. */
#define UT_TICKS_HZ 1000000ull
/* Poll iterations after which ut_poll_threads() decides a test is stuck
 * (e.g. an active poller that always reports BUSY). */
#define UT_POLL_LIMIT 1000000u

static struct axon_thread *g_ut_threads[UT_MAX_THREADS];
static int g_ut_thread_count;
static uint64_t g_ut_ticks;
static bool g_ut_real_ticks;

#ifndef UT_THREADS_NO_TICKS
uint64_t axon_get_ticks(void);
uint64_t axon_get_ticks_hz(void);

uint64_t axon_get_ticks(void)
{
	struct timespec ts;

	if (!g_ut_real_ticks) {
		return g_ut_ticks;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UT_TICKS_HZ + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t axon_get_ticks_hz(void)
{
	return UT_TICKS_HZ;
}
#endif

/* ---- time ---------------------------------------------------------------- */

static inline void ut_ticks_advance(uint64_t ticks)
{
	g_ut_ticks += ticks;
}

static inline void ut_ticks_set(uint64_t ticks)
{
	g_ut_ticks = ticks;
}

/* Use the real monotonic clock (in microseconds) instead of the counter,
 * for tests that involve the kernel (timerfd). */
static inline void ut_ticks_use_real_time(bool real)
{
	g_ut_real_ticks = real;
}

/* ---- threads ------------------------------------------------------------- */

static inline struct axon_thread *ut_thread(int i)
{
	if (i < 0 || i >= UT_MAX_THREADS) {
		fprintf(stderr, "ut_threads: no thread %d\n", i);
		abort();
	}
	return g_ut_threads[i];
}

/* Act as thread i from now on (-1: as no thread). */
static inline void ut_set_thread(int i)
{
	axon_set_thread(i < 0 ? NULL : ut_thread(i));
}

/* Create one more thread (slot = returned index); -1 on failure. */
static inline int ut_thread_add(const char *name)
{
	char buf[32];

	if (g_ut_thread_count >= UT_MAX_THREADS) {
		return -1;
	}
	if (name == NULL) {
		snprintf(buf, sizeof(buf), "ut_thread%d", g_ut_thread_count);
		name = buf;
	}
	g_ut_threads[g_ut_thread_count] = axon_thread_create(name, -1);
	if (g_ut_threads[g_ut_thread_count] == NULL) {
		return -1;
	}
	return g_ut_thread_count++;
}

/* Start the library with ctx_sz bytes of framework context per thread, and
 * create count threads. Thread 0 (the app thread) is current afterwards.
 * Returns 0 or a negative errno. */
static inline int ut_threads_init_ctx(int count, size_t ctx_sz)
{
	int rc;

	g_ut_ticks = 0;
	g_ut_real_ticks = false;
	g_ut_thread_count = 0;
	rc = axon_thread_lib_init(NULL, ctx_sz);
	if (rc != 0) {
		return rc;
	}
	for (int i = 0; i < count; i++) {
		if (ut_thread_add(NULL) < 0) {
			return -ENOMEM;
		}
	}
	ut_set_thread(count > 0 ? 0 : -1);
	return 0;
}

static inline int ut_threads_init(int count)
{
	return ut_threads_init_ctx(count, 0);
}

/* One iteration of thread i; returns AXON_POLLER_BUSY or _IDLE. A destroyed
 * thread is idle. */
static inline int ut_poll_thread(int i)
{
	struct axon_thread *thread = ut_thread(i);

	return thread != NULL ? axon_thread_poll(thread, 0, 0) : AXON_POLLER_IDLE;
}

/* Poll thread i until an iteration finds nothing; returns the busy ones. */
static inline unsigned ut_poll_thread_idle(int i)
{
	unsigned busy = 0;

	while (ut_poll_thread(i) == AXON_POLLER_BUSY) {
		if (++busy >= UT_POLL_LIMIT) {
			fprintf(stderr, "ut_threads: thread %d never goes idle\n", i);
			abort();
		}
	}
	return busy;
}

/* Poll every thread, in index order, until a whole round finds nothing to
 * do. Returns the number of busy iterations (0: everything was idle). */
static inline unsigned ut_poll_threads(void)
{
	unsigned total = 0, round;

	do {
		round = 0;
		for (int i = 0; i < g_ut_thread_count; i++) {
			round += ut_poll_thread_idle(i);
		}
		total += round;
	} while (round != 0);
	return total;
}

/* Exit, poll out and destroy thread i; returns 0 if it exited by itself, 1 if
 * it had to be forced (the fake clock is moved past the exit timeout). */
static inline int ut_thread_remove(int i)
{
	struct axon_thread *thread = ut_thread(i);
	int forced = 0;

	if (thread == NULL) {
		return 0;
	}
	axon_thread_exit(thread);
	ut_poll_threads();
	if (!axon_thread_is_exited(thread)) {
		forced = 1;
		/* Longer than any sane exit timeout. */
		ut_ticks_advance(3600 * UT_TICKS_HZ);
		ut_poll_threads();
	}
	if (axon_get_thread() == thread) {
		axon_set_thread(NULL);
	}
	axon_thread_destroy(thread);
	g_ut_threads[i] = NULL;
	return forced;
}

/* Exit and destroy every thread, then stop the library. Returns how many
 * threads did not exit by themselves (still holding pollers or channels). */
static inline int ut_threads_fini(void)
{
	int forced = 0;

	/* Ask all first: exits may depend on messages between threads. */
	for (int i = 0; i < g_ut_thread_count; i++) {
		if (g_ut_threads[i] != NULL) {
			axon_thread_exit(g_ut_threads[i]);
		}
	}
	for (int i = g_ut_thread_count - 1; i >= 0; i--) {
		forced += ut_thread_remove(i);
	}
	axon_set_thread(NULL);
	axon_thread_lib_fini();
	g_ut_thread_count = 0;
	g_ut_real_ticks = false;
	return forced;
}

#endif /* AXON_UT_THREADS_H */
