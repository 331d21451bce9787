/*
 * Axon environment: the one place that talks to DPDK's EAL.
 *
 * lib/env brings up EAL from Axon's own options (never from argv), and wraps
 * what the rest of Axon needs from it: cores and their EAL threads, the TSC,
 * DMA-safe memory and its IOVA, mempools, rings, and memory hotplug events.
 *
 * Memory modes.
 *  - Hugepages are used when the system has free ones and a hugetlbfs mount;
 *    otherwise (or when no_huge is set) EAL runs with --no-huge: memory is
 *    ordinary anonymous memory reserved at start (mem_size_mb, default
 *    AXON_ENV_NO_HUGE_DEFAULT_MB) and never grows.
 *  - IOVA mode. With --no-huge EAL is forced to IOVA-as-VA: an IOVA equals the
 *    virtual address. That is right for software transports and for RDMA
 *    (which registers virtual addresses), but no device can DMA into such
 *    memory without an IOMMU. With hugepages EAL chooses: VA when VFIO with an
 *    IOMMU is available, PA (physical addresses, root only) otherwise, unless
 *    opts.iova_mode forces one. axon_vtophys() returns whatever EAL uses.
 *
 * Threads. EAL starts one thread per core of the core mask besides the main
 * core's (the caller of axon_env_init). Those are "EAL threads"; reactors run
 * on them. Mempool per-core caches exist only on EAL threads: a get or put
 * from any other thread goes straight to the shared pool (still thread-safe,
 * just slower).
 *
 * Unless stated otherwise, functions may be called from any thread once
 * axon_env_init() has returned 0.
 */
#ifndef AXON_ENV_H
#define AXON_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AXON_ENV_SOCKET_ID_ANY (-1)
#define AXON_VTOPHYS_ERROR UINT64_MAX
#define AXON_ENV_MAX_PCI_ALLOWED 32
/** Memory reserved with --no-huge when the caller asks for 0 MiB. */
#define AXON_ENV_NO_HUGE_DEFAULT_MB 1024
/** Highest core id + 1 that EAL can use (DPDK's RTE_MAX_LCORE). */
#define AXON_ENV_MAX_CORES 128

/* ---- initialisation ------------------------------------------------------ */

struct axon_env_opts {
	/* Program name: EAL's argv[0] and the default file prefix. */
	const char *name;
	/* "0x3" or "3" (hex mask), "[0-1]", "0,1", "0-3,6" (core lists). */
	const char *core_mask;
	/* Core that runs the caller of axon_env_init; -1 = lowest core of the mask. */
	int main_core;
	/* Hugepages: MiB reserved at start (0 = none, memory grows on demand).
	 * --no-huge: the fixed memory size (0 = AXON_ENV_NO_HUGE_DEFAULT_MB). */
	size_t mem_size_mb;
	/* Never use hugepages, even if the system has some. */
	bool no_huge;
	/* Do not scan the PCI bus (the default). */
	bool no_pci;
	/* Names hugepage files and EAL's runtime directory; NULL = "<name>_<pid>",
	 * so that several instances run side by side. */
	const char *file_prefix;
	/* PCI addresses ("0000:01:00.0" or "01:00.0") to probe when !no_pci;
	 * a NULL entry ends the list; an empty list probes every device. */
	const char *pci_allowed[AXON_ENV_MAX_PCI_ALLOWED];
	/* "va", "pa", or NULL to let EAL choose (forced to "va" with --no-huge). */
	const char *iova_mode;
};

/**
 * Fill opts with defaults: name "axon", core_mask "0x1", main_core -1,
 * mem_size_mb 0, no_huge false (hugepages when the system has them),
 * no_pci true, file_prefix NULL, no PCI allow list, iova_mode NULL.
 */
void axon_env_opts_init(struct axon_env_opts *opts);

/**
 * Initialise EAL. Call once per process, from the thread that is to become
 * the main core's thread; it is pinned to that core on return. opts may be
 * NULL for the defaults of axon_env_opts_init().
 * Returns 0, or:
 *   -EINVAL   a bad option (core mask, main core, PCI address, IOVA mode),
 *             or EAL refused its arguments;
 *   -EALREADY the environment was already initialised (or initialised and
 *             finished: EAL cannot start twice in one process);
 *   -ENOMEM, -EACCES, -EPROTO, ... as EAL reports (its rte_errno).
 * Every failure is logged with the reason.
 */
int axon_env_init(const struct axon_env_opts *opts);

/**
 * Release EAL (rte_eal_cleanup) and remove its runtime directory. Waits
 * first for every launched worker function to return. Every pool, ring and
 * DMA buffer must have been freed. Drops memory event registrations left
 * (with a warning). Does nothing if the environment is not initialised.
 */
void axon_env_fini(void);

bool axon_env_is_initialized(void);

/* ---- cores ----------------------------------------------------------------- */

/**
 * Run fn(arg) on the EAL thread of worker core `core`, asynchronously.
 * Returns 0; -EINVAL if core is not a worker core of the mask (the main core
 * is not a worker); -EBUSY if that core is still running an earlier fn;
 * -ENODEV if the environment is not initialised.
 */
int axon_env_launch_on_core(uint32_t core, int (*fn)(void *arg), void *arg);

/** Wait until every launched worker function has returned. Main core only. */
void axon_env_wait_all_cores(void);

/** Core of the calling EAL thread; UINT32_MAX on any other thread. */
uint32_t axon_env_get_current_core(void);
/** Main core; UINT32_MAX if not initialised. */
uint32_t axon_env_get_main_core(void);
/** Number of cores in the mask, main included; 0 if not initialised. */
uint32_t axon_env_get_core_count(void);
/** Cores of the mask in increasing order, main included; UINT32_MAX at the end. */
uint32_t axon_env_get_first_core(void);
uint32_t axon_env_get_next_core(uint32_t prev);
/** NUMA socket of a core of the mask (>= 0), or -EINVAL for any other core. */
int axon_env_get_socket_id(uint32_t core);

/* ---- time ---------------------------------------------------------------- */

/** The TSC. Valid before axon_env_init too. */
uint64_t axon_get_ticks(void);
/** TSC ticks per second: EAL's figure once initialised, before that our own
 * short calibration against CLOCK_MONOTONIC_RAW (measured once). */
uint64_t axon_get_ticks_hz(void);
/** Busy-wait for `us` microseconds (spins: for short waits only). */
void axon_delay_us(unsigned int us);

/* ---- DMA memory ------------------------------------------------------------ */

/**
 * DMA-safe memory from EAL's heaps: pinned, with a stable IOVA.
 * align: a power of two, or 0 for a cache line. socket_id: a NUMA socket or
 * AXON_ENV_SOCKET_ID_ANY. Returns NULL if not initialised, if align is not a
 * power of two, or if memory is exhausted (not logged: callers decide).
 */
void *axon_dma_malloc(size_t size, size_t align, int socket_id);
/** As axon_dma_malloc, zero-filled. */
void *axon_dma_zmalloc(size_t size, size_t align, int socket_id);
/** Resize keeping contents (and socket); NULL buf allocates. NULL on failure,
 * in which case buf is left untouched. */
void *axon_dma_realloc(void *buf, size_t size, size_t align);
/** Free; NULL is a no-op. */
void axon_dma_free(void *buf);

/**
 * Translate a virtual address inside EAL memory to the IOVA a device uses.
 * size may be NULL. Otherwise on input *size is the length wanted (0: as much
 * as possible) and on output the length, from buf, that is contiguous in IOVA
 * space (at most the input length when that was non-zero).
 * Returns AXON_VTOPHYS_ERROR for memory EAL does not manage (stack, malloc)
 * or that has no IOVA; *size is then untouched.
 */
uint64_t axon_vtophys(const void *buf, uint64_t *size);

/* ---- mempools ------------------------------------------------------------ */

struct axon_mempool;

/**
 * A fixed-size object pool in DMA memory. name: unique, at most 25
 * characters. count: objects (2^n - 1 is the most memory-efficient), each
 * elt_size bytes and cache-line aligned.
 * cache_size: objects each EAL core keeps for itself (0 = none; at most 512
 * and at most count / 1.5). A core's cache can hold up to 1.5 * cache_size
 * objects that other cores cannot get: size count accordingly.
 * Returns NULL (and logs why) on bad arguments, a duplicate name or ENOMEM.
 */
struct axon_mempool *axon_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, int socket_id);
/** One object, or NULL when the pool (and this core's cache) is empty. */
void *axon_mempool_get(struct axon_mempool *mp);
/** n objects or none: returns 0, or -ENOENT leaving objs untouched. */
int axon_mempool_get_bulk(struct axon_mempool *mp, void **objs, size_t n);
void axon_mempool_put(struct axon_mempool *mp, void *obj);
void axon_mempool_put_bulk(struct axon_mempool *mp, void **objs, size_t n);
/** Objects available: in the pool and in every core's cache. */
size_t axon_mempool_count(const struct axon_mempool *mp);
/** Free the pool; every object must be back. NULL is a no-op. */
void axon_mempool_free(struct axon_mempool *mp);
/** The pool created under name, or NULL. */
struct axon_mempool *axon_mempool_lookup(const char *name);

/* ---- rings ----------------------------------------------------------------- */

struct axon_ring;

enum axon_ring_type {
	AXON_RING_TYPE_SP_SC, /* one producer thread, one consumer thread */
	AXON_RING_TYPE_MP_SC, /* any producers, one consumer thread */
	AXON_RING_TYPE_MP_MC, /* any producers, any consumers */
};

/**
 * A lock-free ring of pointers holding exactly `count` objects (1 to
 * 2^30 - 1), in DMA memory. Returns NULL (and logs why) on bad arguments or ENOMEM.
 */
struct axon_ring *axon_ring_create(enum axon_ring_type type, size_t count, int socket_id);
/**
 * Enqueue all `count` objects or none. Returns count or 0. free_space, if not
 * NULL, receives the room left after the operation.
 */
size_t axon_ring_enqueue(struct axon_ring *ring, void **objs, size_t count, size_t *free_space);
/** Dequeue up to count objects; returns how many. */
size_t axon_ring_dequeue(struct axon_ring *ring, void **objs, size_t count);
/** Objects in the ring (a snapshot when others are enqueueing). */
size_t axon_ring_count(struct axon_ring *ring);
/** Free the ring; NULL is a no-op. */
void axon_ring_free(struct axon_ring *ring);

/* ---- memory map (for registration with devices, e.g. RDMA) ------------------ */

enum axon_mem_event {
	AXON_MEM_EVENT_ALLOC, /* [addr, addr + len) was added to EAL memory */
	AXON_MEM_EVENT_FREE,  /* [addr, addr + len) is about to be returned to the system */
};

/**
 * Called while EAL's memory hotplug lock is held for writing: it must not
 * allocate DMA memory nor call axon_env_mem_walk().
 */
typedef void (*axon_mem_event_cb)(enum axon_mem_event type, const void *addr, size_t len,
				  void *arg);

/**
 * Have cb told whenever EAL memory grows or shrinks. name: at most 63
 * characters; (name, arg) identifies the registration.
 * Returns 0; -ENOTSUP when memory cannot change (--no-huge, or legacy memory
 * mode): one axon_env_mem_walk() then sees all memory there will ever be;
 * -EEXIST for a duplicate (name, arg); -EINVAL; -ENOMEM; -ENODEV if the
 * environment is not initialised.
 */
int axon_env_register_mem_event_cb(const char *name, axon_mem_event_cb cb, void *arg);
/** Returns 0 or -ENOENT. */
int axon_env_unregister_mem_event_cb(const char *name, void *arg);

/**
 * Visit each virtually contiguous area of EAL memory: fn(addr, len, iova, arg)
 * where iova is that of addr (with IOVA as PA the area need not be contiguous
 * in IOVA space: use axon_vtophys). fn returns 0 to go on, anything else to
 * stop the walk, which then returns that value. Returns 0 after a full walk,
 * or -ENODEV if the environment is not initialised. Must not be called from
 * an axon_mem_event_cb.
 */
typedef int (*axon_env_mem_walk_fn)(void *addr, size_t len, uint64_t iova, void *arg);
int axon_env_mem_walk(axon_env_mem_walk_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* AXON_ENV_H */
