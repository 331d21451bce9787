/*
 * The registration map: which memory is registered with the devices, and the
 * keys each device gave it.
 *
 * Layout. A page table over the 48-bit user address space:
 *
 *   bits 47..30  level 1: 2^18 pointers (2 MiB, allocated with the map) to
 *                level-2 tables, one per 1 GiB region;
 *   bits 29..21  level 2: 512 entries, one per 2 MiB page;
 *   bits 20..12  level 3: 512 entries, one per 4 KiB page, only for the 2 MiB
 *                pages that registrations cover in part.
 *
 * A level-2 entry is 0 (nothing registered), a region pointer (the whole
 * 2 MiB page belongs to that region), or a level-3 table pointer with bit 0
 * set. A lookup is two or three dependent loads whatever the number of
 * registrations. DPDK memory comes in 2 MiB (or larger) pages, so level 3
 * only serves caller-supplied registrations that are not 2 MiB aligned.
 *
 * Regions and their MRs. One registration call registers its range once per
 * PD (struct map_mrs). Unregistering part of a registration splits it into
 * pieces (struct map_region), each a contiguous range, sharing the MRs: the
 * memory still in use keeps the keys it had, so I/O in flight on it is never
 * disturbed; the MRs go when the last piece does. (The pages of the removed
 * part stay pinned by the MR until then. lib/env frees memory exactly as it
 * allocated it, so this only happens with ranges the init walk merged.)
 *
 * A lookup of [addr, addr + len) finds the region of the first and of the
 * last byte: the range is registered, in one region, iff both are the same
 * region, since a region is contiguous.
 *
 * Concurrency. Updates run under map->lock. Lookups take no lock:
 *  - every table and entry is an atomic; a writer fills a new table or region
 *    completely, then publishes its pointer with a release store, which pairs
 *    with the acquire load of the reader (so the reader sees it filled);
 *  - tables are never freed before the map is, so a reader never walks freed
 *    memory; a region is freed only once no entry points to it, and the API
 *    forbids translating memory while it is being unregistered;
 *  - while a split re-points a piece's entries one by one, a reader may see
 *    two different regions for a range that is in fact in one: map->seq is a
 *    sequence count (odd while entries change), and a lookup that failed
 *    retries until it fails with the count even and unchanged (it spins, then
 *    yields, behind a writer that is inside its short, allocation-free
 *    publication step). A success never needs the check: both ends in one
 *    region means that region held the range at that moment.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "axon/log.h"
#include "axon/util.h"
#include "rdma_internal.h"

#define MAP_VA_BITS 48
#define MAP_L1_SHIFT 30
#define MAP_L2_SHIFT 21
#define MAP_L3_SHIFT 12
#define MAP_L1_ENTRIES (1ULL << (MAP_VA_BITS - MAP_L1_SHIFT))
#define MAP_TABLE_ENTRIES 512
#define MAP_PAGE_2M (1ULL << MAP_L2_SHIFT)
#define MAP_PAGE_4K (1ULL << MAP_L3_SHIFT)
#define MAP_REGION_1G (1ULL << MAP_L1_SHIFT)
#define MAP_ENTRY_TABLE 1ULL /* bit 0 of a level-2 entry: a level-3 table */
/* A failed lookup that raced with an update spins this often, then yields. */
#define MAP_SPINS_BEFORE_YIELD 64

struct map_table {
	_Atomic uintptr_t e[MAP_TABLE_ENTRIES];
};

/* The MRs of one registration call, shared by the pieces it was split into. */
struct map_mrs {
	uint32_t pieces;
	void *handle[AXON_RDMA_MAX_DEVICES];
	uint32_t lkey[AXON_RDMA_MAX_DEVICES];
	uint32_t rkey[AXON_RDMA_MAX_DEVICES];
};

struct map_region {
	uintptr_t start, end; /* written and read under the lock only */
	enum rdma_mem_owner owner;
	struct map_mrs *mrs;
	LIST_ENTRY(map_region) link;
};

struct rdma_mem_map {
	pthread_mutex_t lock;
	const struct rdma_mr_ops *ops;
	_Atomic(void *) pd[AXON_RDMA_MAX_DEVICES];
	_Atomic uint64_t seq;
	_Atomic(struct map_table *) *l1;
	LIST_HEAD(, map_region) regions;
	/* Every table ever allocated, to free them with the map. */
	struct map_table **tables;
	size_t table_count, table_cap;
};

struct rdma_mem_map *
rdma_mem_map_create(const struct rdma_mr_ops *ops)
{
	struct rdma_mem_map *map;

	map = calloc(1, sizeof(*map));
	if (map == NULL) {
		goto nomem;
	}
	map->l1 = calloc(MAP_L1_ENTRIES, sizeof(*map->l1));
	if (map->l1 == NULL) {
		goto free_map;
	}
	pthread_mutex_init(&map->lock, NULL);
	map->ops = ops;
	LIST_INIT(&map->regions);
	return map;

free_map:
	free(map);
nomem:
	AXON_ERRLOG("out of memory for the RDMA registration map\n");
	return NULL;
}

/* ---- lookups (lock-free) --------------------------------------------------- */

static struct map_table *
l2_table(struct rdma_mem_map *map, uintptr_t a)
{
	return atomic_load_explicit(&map->l1[a >> MAP_L1_SHIFT], memory_order_acquire);
}

static _Atomic uintptr_t *
l2_entry(struct map_table *l2, uintptr_t a)
{
	return &l2->e[(a >> MAP_L2_SHIFT) & (MAP_TABLE_ENTRIES - 1)];
}

static _Atomic uintptr_t *
l3_entry(uintptr_t l2e, uintptr_t a)
{
	struct map_table *l3 = (struct map_table *)(l2e & ~MAP_ENTRY_TABLE);

	return &l3->e[(a >> MAP_L3_SHIFT) & (MAP_TABLE_ENTRIES - 1)];
}

/*
 * Region holding byte a, or NULL. When next is not NULL, *next is set to the
 * end of the block that has the same answer for sure (the end of the 1 GiB
 * region, 2 MiB page or 4 KiB page the answer came from).
 */
static struct map_region *
map_find(struct rdma_mem_map *map, uintptr_t a, uintptr_t *next)
{
	struct map_table *l2;
	uintptr_t e;

	if (next != NULL) {
		*next = AXON_ALIGN_DOWN(a, MAP_REGION_1G) + MAP_REGION_1G;
	}
	if ((a >> MAP_VA_BITS) != 0) {
		return NULL;
	}
	l2 = l2_table(map, a);
	if (l2 == NULL) {
		return NULL;
	}
	if (next != NULL) {
		*next = AXON_ALIGN_DOWN(a, MAP_PAGE_2M) + MAP_PAGE_2M;
	}
	e = atomic_load_explicit(l2_entry(l2, a), memory_order_acquire);
	if ((e & MAP_ENTRY_TABLE) != 0) {
		if (next != NULL) {
			*next = AXON_ALIGN_DOWN(a, MAP_PAGE_4K) + MAP_PAGE_4K;
		}
		e = atomic_load_explicit(l3_entry(e, a), memory_order_acquire);
	}
	return (struct map_region *)e;
}

int
rdma_mem_map_slot_of_pd(struct rdma_mem_map *map, const void *pd)
{
	uint32_t i;

	if (pd == NULL) {
		return -ENODEV;
	}
	for (i = 0; i < AXON_RDMA_MAX_DEVICES; i++) {
		if (atomic_load_explicit(&map->pd[i], memory_order_acquire) == pd) {
			return (int)i;
		}
	}
	return -ENODEV;
}

int
rdma_mem_map_translate(struct rdma_mem_map *map, const void *addr, size_t len, uint32_t slot,
		       uint32_t *lkey, uint32_t *rkey)
{
	uintptr_t first = (uintptr_t)addr, last;
	struct map_region *r1, *r2;
	uint64_t seq1, seq2;
	uint32_t spins;
	int rc;

	if (len == 0 || slot >= AXON_RDMA_MAX_DEVICES) {
		return -EINVAL;
	}
	if (atomic_load_explicit(&map->pd[slot], memory_order_acquire) == NULL) {
		return -ENODEV;
	}
	if (__builtin_add_overflow(first, len - 1, &last)) {
		return -ENOENT;
	}
	for (spins = 0;; spins++) {
		seq1 = atomic_load_explicit(&map->seq, memory_order_acquire);
		r1 = map_find(map, first, NULL);
		r2 = map_find(map, last, NULL);
		if (r1 != NULL && r1 == r2) {
			*lkey = r1->mrs->lkey[slot];
			*rkey = r1->mrs->rkey[slot];
			return 0;
		}
		rc = (r1 == NULL || r2 == NULL) ? -ENOENT : -ERANGE;
		/* Pairs with the release increments of map_publish_begin/end. */
		atomic_thread_fence(memory_order_acquire);
		seq2 = atomic_load_explicit(&map->seq, memory_order_relaxed);
		if (seq1 == seq2 && (seq1 & 1) == 0) {
			return rc;
		}
		if (spins >= MAP_SPINS_BEFORE_YIELD) {
			/* The writer was preempted inside its (short) update. */
			sched_yield();
		}
	}
}

/* ---- table maintenance (under the lock) -------------------------------------- */

static struct map_table *
map_table_alloc(struct rdma_mem_map *map)
{
	struct map_table *t, **tables;
	size_t cap;

	if (map->table_count == map->table_cap) {
		cap = map->table_cap == 0 ? 64 : map->table_cap * 2;
		tables = realloc(map->tables, cap * sizeof(*tables));
		if (tables == NULL) {
			return NULL;
		}
		map->tables = tables;
		map->table_cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (t != NULL) {
		map->tables[map->table_count++] = t;
	}
	return t;
}

/* Give the 2 MiB page of a a level-3 table holding what its entry held. */
static int
map_split_page(struct rdma_mem_map *map, struct map_table *l2, uintptr_t a)
{
	_Atomic uintptr_t *e2 = l2_entry(l2, a);
	uintptr_t old = atomic_load_explicit(e2, memory_order_relaxed);
	struct map_table *l3;
	uint32_t i;

	if ((old & MAP_ENTRY_TABLE) != 0) {
		return 0;
	}
	l3 = map_table_alloc(map);
	if (l3 == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < MAP_TABLE_ENTRIES; i++) {
		atomic_store_explicit(&l3->e[i], old, memory_order_relaxed);
	}
	/* Readers see the old entry or the filled table: the same answer. */
	atomic_store_explicit(e2, (uintptr_t)l3 | MAP_ENTRY_TABLE, memory_order_release);
	return 0;
}

/*
 * Make sure every table that setting the entries of [start, end) needs
 * exists: level-2 tables, and level-3 tables for the 2 MiB pages the range
 * covers in part. Tables made here stay if a later step fails: harmless.
 */
static int
map_prepare(struct rdma_mem_map *map, uintptr_t start, uintptr_t end)
{
	uintptr_t a, page_end;
	struct map_table *l2;
	int rc;

	for (a = start; a < end; a = page_end) {
		page_end = AXON_ALIGN_DOWN(a, MAP_PAGE_2M) + MAP_PAGE_2M;
		l2 = l2_table(map, a);
		if (l2 == NULL) {
			l2 = map_table_alloc(map);
			if (l2 == NULL) {
				return -ENOMEM;
			}
			atomic_store_explicit(&map->l1[a >> MAP_L1_SHIFT], l2, memory_order_release);
		}
		if (!AXON_IS_ALIGNED(a, MAP_PAGE_2M) || end < page_end) {
			rc = map_split_page(map, l2, a);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}

/* Point every entry of [start, end) at r (NULL clears). Tables must exist. */
static void
map_set(struct rdma_mem_map *map, uintptr_t start, uintptr_t end, struct map_region *r)
{
	uintptr_t a, e, stop;
	_Atomic uintptr_t *e2;

	for (a = start; a < end;) {
		e2 = l2_entry(l2_table(map, a), a);
		e = atomic_load_explicit(e2, memory_order_relaxed);
		stop = AXON_ALIGN_DOWN(a, MAP_PAGE_2M) + MAP_PAGE_2M;
		if ((e & MAP_ENTRY_TABLE) == 0) {
			assert(AXON_IS_ALIGNED(a, MAP_PAGE_2M) && stop <= end);
			atomic_store_explicit(e2, (uintptr_t)r, memory_order_release);
			a = stop;
			continue;
		}
		stop = stop < end ? stop : end;
		for (; a < stop; a += MAP_PAGE_4K) {
			atomic_store_explicit(l3_entry(e, a), (uintptr_t)r, memory_order_release);
		}
	}
}

static void
map_publish_begin(struct rdma_mem_map *map)
{
	atomic_fetch_add_explicit(&map->seq, 1, memory_order_relaxed);
	/* The odd count is visible before any entry changes. */
	atomic_thread_fence(memory_order_release);
}

static void
map_publish_end(struct rdma_mem_map *map)
{
	atomic_fetch_add_explicit(&map->seq, 1, memory_order_release);
}

/* ---- registration ------------------------------------------------------------ */

static int
map_check_range(const void *addr, size_t len, uintptr_t *start, uintptr_t *end)
{
	*start = (uintptr_t)addr;
	if (len == 0 || !AXON_IS_ALIGNED(*start, MAP_PAGE_4K) || !AXON_IS_ALIGNED(len, MAP_PAGE_4K) ||
	    __builtin_add_overflow(*start, len, end) || (*end - 1) >> MAP_VA_BITS != 0) {
		return -EINVAL;
	}
	return 0;
}

static void
map_mrs_release(struct rdma_mem_map *map, struct map_mrs *mrs)
{
	uint32_t i;

	for (i = 0; i < AXON_RDMA_MAX_DEVICES; i++) {
		if (mrs->handle[i] != NULL) {
			map->ops->dereg(mrs->handle[i]);
		}
	}
	free(mrs);
}

/* Register [start, end) with every PD. NULL and *rc set on failure. */
static struct map_mrs *
map_mrs_create(struct rdma_mem_map *map, uintptr_t start, uintptr_t end, int *rc)
{
	struct map_mrs *mrs;
	void *pd;
	uint32_t i;
	int err = 0;

	mrs = calloc(1, sizeof(*mrs));
	if (mrs == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < AXON_RDMA_MAX_DEVICES; i++) {
		pd = atomic_load_explicit(&map->pd[i], memory_order_relaxed);
		if (pd == NULL) {
			continue;
		}
		mrs->handle[i] = map->ops->reg(pd, (void *)start, end - start, &mrs->lkey[i],
					       &mrs->rkey[i], &err);
		if (mrs->handle[i] == NULL) {
			AXON_ERRLOG("cannot register 0x%" PRIxPTR "-0x%" PRIxPTR " with RDMA PD slot %u: %s\n",
				    start, end, i, strerror(err));
			map_mrs_release(map, mrs);
			*rc = err > 0 ? -err : -EIO;
			return NULL;
		}
	}
	return mrs;
}

/* Under the lock: the range has no registered byte yet. */
static int
map_register_locked(struct rdma_mem_map *map, uintptr_t start, uintptr_t end,
		    enum rdma_mem_owner owner)
{
	struct map_region *r;
	uintptr_t a, next;
	int rc;

	for (a = start; a < end; a = next) {
		if (map_find(map, a, &next) != NULL) {
			return -EEXIST;
		}
	}
	rc = map_prepare(map, start, end);
	if (rc != 0) {
		return rc;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->mrs = map_mrs_create(map, start, end, &rc);
	if (r->mrs == NULL) {
		free(r);
		return rc;
	}
	r->mrs->pieces = 1;
	r->start = start;
	r->end = end;
	r->owner = owner;
	LIST_INSERT_HEAD(&map->regions, r, link);
	/* The region is complete before the release stores publish it. */
	map_publish_begin(map);
	map_set(map, start, end, r);
	map_publish_end(map);
	AXON_DEBUGLOG(rdma, "registered 0x%" PRIxPTR "-0x%" PRIxPTR "\n", start, end);
	return 0;
}

int
rdma_mem_map_register(struct rdma_mem_map *map, void *addr, size_t len, enum rdma_mem_owner owner)
{
	uintptr_t start, end;
	int rc;

	rc = map_check_range(addr, len, &start, &end);
	if (rc != 0) {
		return rc;
	}
	pthread_mutex_lock(&map->lock);
	rc = map_register_locked(map, start, end, owner);
	pthread_mutex_unlock(&map->lock);
	return rc;
}

int
rdma_mem_map_register_holes(struct rdma_mem_map *map, void *addr, size_t len,
			    enum rdma_mem_owner owner)
{
	uintptr_t start, end, a, hole, next;
	int rc;

	rc = map_check_range(addr, len, &start, &end);
	if (rc != 0) {
		return rc;
	}
	pthread_mutex_lock(&map->lock);
	for (a = start; a < end && rc == 0;) {
		/* Skip what is registered, then take the hole up to the next registered byte. */
		if (map_find(map, a, &next) != NULL) {
			a = next;
			continue;
		}
		hole = a;
		while (a < end && map_find(map, a, &next) == NULL) {
			a = next < end ? next : end;
		}
		rc = map_register_locked(map, hole, a, owner);
	}
	pthread_mutex_unlock(&map->lock);
	return rc;
}

/* ---- unregistration ------------------------------------------------------------ */

/* Under the lock: 0 if [start, end) is registered, all of it by owner. */
static int
map_check_owned(struct rdma_mem_map *map, uintptr_t start, uintptr_t end,
		enum rdma_mem_owner owner)
{
	struct map_region *r;
	uintptr_t a;

	for (a = start; a < end; a = r->end) {
		r = map_find(map, a, NULL);
		if (r == NULL) {
			return -ENOENT;
		}
		if (r->owner != owner) {
			return -EPERM;
		}
	}
	return 0;
}

/*
 * Remove [cut_start, cut_end) from r. What stays on the left keeps r (its
 * entries do not change); what stays on the right gets spare if there is a
 * left part too, else r. Returns true if spare was used; *gone is r when the
 * whole region went (to be freed once published).
 */
static bool
map_cut(struct rdma_mem_map *map, struct map_region *r, uintptr_t cut_start, uintptr_t cut_end,
	struct map_region *spare, struct map_region **gone)
{
	bool left = r->start < cut_start, right = cut_end < r->end;

	map_set(map, cut_start, cut_end, NULL);
	if (left && right) {
		*spare = *r;
		spare->start = cut_end;
		r->end = cut_start;
		r->mrs->pieces++;
		LIST_INSERT_HEAD(&map->regions, spare, link);
		map_set(map, spare->start, spare->end, spare);
		return true;
	}
	if (left) {
		r->end = cut_start;
	} else if (right) {
		r->start = cut_end;
	} else {
		LIST_REMOVE(r, link);
		*gone = r;
	}
	return false;
}

static void
map_region_free(struct rdma_mem_map *map, struct map_region *r)
{
	if (--r->mrs->pieces == 0) {
		map_mrs_release(map, r->mrs);
	}
	free(r);
}

int
rdma_mem_map_unregister(struct rdma_mem_map *map, void *addr, size_t len,
			enum rdma_mem_owner owner)
{
	struct map_region *r, *spare, *gone;
	uintptr_t start, end, a, cut_end;
	int rc;

	rc = map_check_range(addr, len, &start, &end);
	if (rc != 0) {
		return rc;
	}
	/* At most one region is split in two (the one holding both ends). */
	spare = calloc(1, sizeof(*spare));
	if (spare == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&map->lock);
	rc = map_check_owned(map, start, end, owner);
	rc = rc ?: map_prepare(map, start, end);
	if (rc != 0) {
		goto unlock;
	}
	for (a = start; a < end; a = cut_end) {
		r = map_find(map, a, NULL);
		cut_end = r->end < end ? r->end : end;
		gone = NULL;
		map_publish_begin(map);
		if (map_cut(map, r, a, cut_end, spare, &gone)) {
			spare = NULL;
		}
		map_publish_end(map);
		if (gone != NULL) {
			map_region_free(map, gone);
		}
	}
	AXON_DEBUGLOG(rdma, "unregistered 0x%" PRIxPTR "-0x%" PRIxPTR "\n", start, end);
unlock:
	pthread_mutex_unlock(&map->lock);
	free(spare);
	return rc;
}

/* ---- PDs, stats, teardown --------------------------------------------------------- */

int
rdma_mem_map_add_pd(struct rdma_mem_map *map, uint32_t slot, void *pd)
{
	int rc = 0;

	if (slot >= AXON_RDMA_MAX_DEVICES || pd == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&map->lock);
	if (!LIST_EMPTY(&map->regions)) {
		rc = -EBUSY;
	} else if (atomic_load_explicit(&map->pd[slot], memory_order_relaxed) != NULL) {
		rc = -EEXIST;
	} else {
		atomic_store_explicit(&map->pd[slot], pd, memory_order_release);
	}
	pthread_mutex_unlock(&map->lock);
	return rc;
}

void
rdma_mem_map_remove_pd(struct rdma_mem_map *map, uint32_t slot)
{
	struct map_region *r;
	struct map_mrs *mrs;

	if (slot >= AXON_RDMA_MAX_DEVICES) {
		return;
	}
	pthread_mutex_lock(&map->lock);
	/* Translations for the slot fail from here on; then its MRs can go. */
	atomic_store_explicit(&map->pd[slot], NULL, memory_order_release);
	LIST_FOREACH(r, &map->regions, link) {
		mrs = r->mrs;
		if (mrs->handle[slot] != NULL) {
			map->ops->dereg(mrs->handle[slot]);
			mrs->handle[slot] = NULL;
		}
	}
	pthread_mutex_unlock(&map->lock);
}

void
rdma_mem_map_get_stats(struct rdma_mem_map *map, struct axon_rdma_mem_stats *stats)
{
	struct map_region *r;

	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&map->lock);
	LIST_FOREACH(r, &map->regions, link) {
		stats->total_bytes += r->end - r->start;
		stats->regions++;
		if (r->owner == RDMA_MEM_OWNER_ENV) {
			stats->env_bytes += r->end - r->start;
		}
	}
	pthread_mutex_unlock(&map->lock);
}

void
rdma_mem_map_destroy(struct rdma_mem_map *map)
{
	struct map_region *r;
	size_t i;

	if (map == NULL) {
		return;
	}
	while ((r = LIST_FIRST(&map->regions)) != NULL) {
		LIST_REMOVE(r, link);
		map_region_free(map, r);
	}
	for (i = 0; i < map->table_count; i++) {
		free(map->tables[i]);
	}
	free(map->tables);
	free(map->l1);
	pthread_mutex_destroy(&map->lock);
	free(map);
}
