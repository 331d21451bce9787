/*
 * Mempools and rings: thin, typed wrappers over rte_mempool and rte_ring.
 * struct axon_mempool and struct axon_ring are never defined: the pointers
 * are DPDK's own objects, so the wrappers cost nothing on the I/O path.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "axon/env.h"
#include "axon/log.h"
#include "env_internal.h"

/* Largest ring rte_ring accepts: count + 1 rounded up to a power of two must
 * not exceed RTE_RING_SZ_MASK. */
#define RING_MAX_COUNT ((1u << 30) - 1)

static inline struct rte_mempool *to_rte_mempool(struct axon_mempool *mp)
{
	return (struct rte_mempool *)mp;
}

static inline struct rte_ring *to_rte_ring(struct axon_ring *ring)
{
	return (struct rte_ring *)ring;
}

/* rte_mempool's own rule: the flush threshold, 1.5 * cache_size, fits in the pool. */
static bool mempool_cache_size_ok(size_t count, size_t cache_size)
{
	return cache_size <= RTE_MEMPOOL_CACHE_MAX_SIZE && cache_size * 3 / 2 <= count;
}

struct axon_mempool *axon_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, int socket_id)
{
	struct rte_mempool *mp;

	if (!axon_env_is_initialized()) {
		AXON_ERRLOG("mempool: the environment is not initialised\n");
		return NULL;
	}
	if (name == NULL || name[0] == '\0' || strlen(name) >= RTE_MEMPOOL_NAMESIZE) {
		AXON_ERRLOG("mempool name '%s': 1 to %d characters\n", name ? name : "(null)",
			    (int)RTE_MEMPOOL_NAMESIZE - 1);
		return NULL;
	}
	if (count == 0 || count > UINT_MAX || elt_size == 0 || elt_size > UINT_MAX) {
		AXON_ERRLOG("mempool %s: bad count %zu or element size %zu\n", name, count, elt_size);
		return NULL;
	}
	if (!mempool_cache_size_ok(count, cache_size)) {
		AXON_ERRLOG("mempool %s: cache size %zu must be at most %d and count / 1.5 (%zu)\n",
			    name, cache_size, RTE_MEMPOOL_CACHE_MAX_SIZE, count * 2 / 3);
		return NULL;
	}
	/* Flags 0: multi-producer, multi-consumer ring driver ("ring_mp_mc"). */
	mp = rte_mempool_create(name, (unsigned int)count, (unsigned int)elt_size,
				(unsigned int)cache_size, 0, NULL, NULL, NULL, NULL, socket_id, 0);
	if (mp == NULL) {
		AXON_ERRLOG("mempool %s (%zu x %zu bytes): %s\n", name, count, elt_size,
			    rte_strerror(rte_errno));
		return NULL;
	}
	return (struct axon_mempool *)mp;
}

void *axon_mempool_get(struct axon_mempool *mp)
{
	void *obj;

	return rte_mempool_get(to_rte_mempool(mp), &obj) == 0 ? obj : NULL;
}

int axon_mempool_get_bulk(struct axon_mempool *mp, void **objs, size_t n)
{
	if (n > UINT_MAX) {
		return -ENOENT;
	}
	return rte_mempool_get_bulk(to_rte_mempool(mp), objs, (unsigned int)n) == 0 ? 0 : -ENOENT;
}

void axon_mempool_put(struct axon_mempool *mp, void *obj)
{
	rte_mempool_put(to_rte_mempool(mp), obj);
}

void axon_mempool_put_bulk(struct axon_mempool *mp, void **objs, size_t n)
{
	/* More than UINT_MAX objects cannot have come from one pool. */
	rte_mempool_put_bulk(to_rte_mempool(mp), objs, (unsigned int)n);
}

size_t axon_mempool_count(const struct axon_mempool *mp)
{
	return rte_mempool_avail_count((const struct rte_mempool *)mp);
}

void axon_mempool_free(struct axon_mempool *mp)
{
	rte_mempool_free(to_rte_mempool(mp));
}

struct axon_mempool *axon_mempool_lookup(const char *name)
{
	if (!axon_env_is_initialized() || name == NULL) {
		return NULL;
	}
	return (struct axon_mempool *)rte_mempool_lookup(name);
}

/* ---- rings ----------------------------------------------------------------- */

/* rte_ring needs a unique name; Axon's rings are anonymous. */
static atomic_uint g_ring_seq;

static int ring_flags(enum axon_ring_type type)
{
	switch (type) {
	case AXON_RING_TYPE_SP_SC:
		return RING_F_SP_ENQ | RING_F_SC_DEQ;
	case AXON_RING_TYPE_MP_SC:
		return RING_F_SC_DEQ;
	case AXON_RING_TYPE_MP_MC:
		return 0;
	}
	return -1;
}

struct axon_ring *axon_ring_create(enum axon_ring_type type, size_t count, int socket_id)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *ring;
	int flags = ring_flags(type);

	if (!axon_env_is_initialized()) {
		AXON_ERRLOG("ring: the environment is not initialised\n");
		return NULL;
	}
	if (flags < 0) {
		AXON_ERRLOG("ring: unknown type %d\n", (int)type);
		return NULL;
	}
	if (count == 0 || count > RING_MAX_COUNT) {
		AXON_ERRLOG("ring: count %zu is not within 1 to %u\n", count, RING_MAX_COUNT);
		return NULL;
	}
	snprintf(name, sizeof(name), "axon_ring_%u", atomic_fetch_add(&g_ring_seq, 1));
	/* EXACT_SZ: the ring holds `count` objects, not a power of two minus one. */
	ring = rte_ring_create(name, (unsigned int)count, socket_id,
			       (unsigned int)flags | RING_F_EXACT_SZ);
	if (ring == NULL) {
		AXON_ERRLOG("ring of %zu: %s\n", count, rte_strerror(rte_errno));
		return NULL;
	}
	return (struct axon_ring *)ring;
}

size_t axon_ring_enqueue(struct axon_ring *ring, void **objs, size_t count, size_t *free_space)
{
	unsigned int room = 0;
	unsigned int n;

	if (count > UINT_MAX) {
		n = 0;
		room = rte_ring_free_count(to_rte_ring(ring));
	} else {
		n = rte_ring_enqueue_bulk(to_rte_ring(ring), objs, (unsigned int)count, &room);
	}
	if (free_space != NULL) {
		*free_space = room;
	}
	return n;
}

size_t axon_ring_dequeue(struct axon_ring *ring, void **objs, size_t count)
{
	unsigned int n = count > UINT_MAX ? UINT_MAX : (unsigned int)count;

	return rte_ring_dequeue_burst(to_rte_ring(ring), objs, n, NULL);
}

size_t axon_ring_count(struct axon_ring *ring)
{
	return rte_ring_count(to_rte_ring(ring));
}

void axon_ring_free(struct axon_ring *ring)
{
	rte_ring_free(to_rte_ring(ring));
}
