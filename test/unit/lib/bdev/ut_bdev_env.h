/*
 * Test doubles for lib/bdev unit tests (lib/bdev and drivers/bdev/NAME): lib/env
 * mempools and DMA memory over plain malloc (so no EAL is needed, and a pool
 * really runs dry at its count), and lib/event's subsystem hooks, so a test
 * starts and stops the bdev subsystem by hand:
 *
 *   #include "test/common/ut_threads.h"
 *   #include "test/unit/lib/bdev/ut_bdev_env.h"
 *   ut_threads_init(2);
 *   CU_ASSERT(ut_bdev_subsystem_start() == 0);
 *   ...
 *   ut_bdev_subsystem_stop();
 *
 * Include it in exactly one translation unit.
 */
#ifndef AXON_UT_BDEV_ENV_H
#define AXON_UT_BDEV_ENV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/event.h"

/* ---- mempools ---------------------------------------------------------------- */

struct axon_mempool {
	size_t count;
	size_t avail;
	void **free;  /* a stack of the available objects */
	void **all;   /* every object, for freeing */
};

struct axon_mempool *axon_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, int socket_id)
{
	struct axon_mempool *mp = calloc(1, sizeof(*mp));

	(void)name;
	(void)cache_size;
	(void)socket_id;
	if (mp == NULL) {
		return NULL;
	}
	mp->free = calloc(count, sizeof(void *));
	mp->all = calloc(count, sizeof(void *));
	if (mp->free == NULL || mp->all == NULL) {
		free(mp->free);
		free(mp->all);
		free(mp);
		return NULL;
	}
	elt_size = (elt_size + 63) & ~(size_t)63;
	for (size_t i = 0; i < count; i++) {
		mp->all[i] = aligned_alloc(64, elt_size);
		mp->free[i] = mp->all[i];
	}
	mp->count = count;
	mp->avail = count;
	return mp;
}

void *axon_mempool_get(struct axon_mempool *mp)
{
	return mp->avail > 0 ? mp->free[--mp->avail] : NULL;
}

void axon_mempool_put(struct axon_mempool *mp, void *obj)
{
	if (mp->avail >= mp->count) {
		fprintf(stderr, "ut mempool: more puts than gets\n");
		abort();
	}
	mp->free[mp->avail++] = obj;
}

size_t axon_mempool_count(const struct axon_mempool *mp)
{
	return mp->avail;
}

/* Objects not returned when pools were freed (a test checks it is 0). */
static size_t g_ut_mempool_leaked;

void axon_mempool_free(struct axon_mempool *mp)
{
	if (mp == NULL) {
		return;
	}
	g_ut_mempool_leaked += mp->count - mp->avail;
	for (size_t i = 0; i < mp->count; i++) {
		free(mp->all[i]);
	}
	free(mp->all);
	free(mp->free);
	free(mp);
}

/* ---- DMA memory --------------------------------------------------------------- */

void *axon_dma_malloc(size_t size, size_t align, int socket_id)
{
	(void)socket_id;
	if (align == 0) {
		align = 64;
	}
	return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

void *axon_dma_zmalloc(size_t size, size_t align, int socket_id)
{
	void *p = axon_dma_malloc(size, align, socket_id);

	if (p != NULL) {
		memset(p, 0, size);
	}
	return p;
}

void axon_dma_free(void *buf)
{
	free(buf);
}

/* ---- subsystems ----------------------------------------------------------------- */

#define UT_MAX_SUBSYSTEMS 4
static struct axon_subsystem *g_ut_subsystems[UT_MAX_SUBSYSTEMS];
static int g_ut_subsystem_count;
static int g_ut_init_rc = 1;
static bool g_ut_fini_done;

void axon_subsystem_register(struct axon_subsystem *subsystem)
{
	if (g_ut_subsystem_count < UT_MAX_SUBSYSTEMS) {
		g_ut_subsystems[g_ut_subsystem_count++] = subsystem;
	}
}

void axon_subsystem_add_depend(const char *name, const char *depends_on)
{
	(void)name;
	(void)depends_on;
}

void axon_subsystem_init_next(int rc)
{
	g_ut_init_rc = rc;
}

void axon_subsystem_fini_next(void)
{
	g_ut_fini_done = true;
}

static inline struct axon_subsystem *ut_subsystem(const char *name)
{
	for (int i = 0; i < g_ut_subsystem_count; i++) {
		if (strcmp(g_ut_subsystems[i]->name, name) == 0) {
			return g_ut_subsystems[i];
		}
	}
	return NULL;
}

/* Start the "bdev" subsystem on the current thread; returns its rc. */
static inline int ut_bdev_subsystem_start(void)
{
	struct axon_subsystem *s = ut_subsystem("bdev");

	if (s == NULL) {
		return -ENOENT;
	}
	g_ut_init_rc = 1;
	s->init();
	ut_poll_threads();
	return g_ut_init_rc;
}

/* Stop it (unregistering every bdev); returns true once fini completed. */
static inline bool ut_bdev_subsystem_stop(void)
{
	struct axon_subsystem *s = ut_subsystem("bdev");

	g_ut_fini_done = false;
	s->fini();
	for (int i = 0; i < 100 && !g_ut_fini_done; i++) {
		ut_poll_threads();
		ut_ticks_advance(1000);
	}
	return g_ut_fini_done;
}

#endif /* AXON_UT_BDEV_ENV_H */
