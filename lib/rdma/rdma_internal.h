/*
 * lib/rdma private parts: the registration map, the device object and the
 * glue between them. Transports never include this: they get keys through
 * the memory domains.
 */
#ifndef AXON_RDMA_INTERNAL_H
#define AXON_RDMA_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "axon/log.h"
#include "axon/rdma.h"

extern struct axon_log_flag axon_log_flag_rdma;

/* ---- the registration map (rdma_mem_map.c) -------------------------------- */

/* Who registered a range: lib/env memory events and walk, or a caller. */
enum rdma_mem_owner {
	RDMA_MEM_OWNER_ENV,
	RDMA_MEM_OWNER_USER,
};

/*
 * How the map registers memory with a PD. The library uses ibv_reg_mr; unit
 * tests substitute a double that hands out made-up keys.
 * reg returns an opaque handle and the keys, or NULL with a positive errno
 * in *err. dereg releases a handle.
 */
struct rdma_mr_ops {
	void *(*reg)(void *pd, void *addr, size_t len, uint32_t *lkey, uint32_t *rkey, int *err);
	void (*dereg)(void *handle);
};

struct rdma_mem_map;

/* NULL if memory ran out (logged). */
struct rdma_mem_map *rdma_mem_map_create(const struct rdma_mr_ops *ops);
/* Deregister everything and free the map. NULL is ignored. */
void rdma_mem_map_destroy(struct rdma_mem_map *map);

/*
 * Give slot (< AXON_RDMA_MAX_DEVICES) the PD pd: every later registration is
 * made with it too. -EBUSY if the map already holds registrations (their
 * ranges may have holes now, so they could not be registered again as they
 * were), -EEXIST if the slot is taken, -EINVAL for a bad slot or NULL pd.
 */
int rdma_mem_map_add_pd(struct rdma_mem_map *map, uint32_t slot, void *pd);
/* Deregister the slot's memory regions and free the slot. */
void rdma_mem_map_remove_pd(struct rdma_mem_map *map, uint32_t slot);
/* Slot of pd, or -ENODEV. Lock-free. */
int rdma_mem_map_slot_of_pd(struct rdma_mem_map *map, const void *pd);

/* See axon_rdma_mem_register / _unregister for the rules and errnos. */
int rdma_mem_map_register(struct rdma_mem_map *map, void *addr, size_t len,
			  enum rdma_mem_owner owner);
int rdma_mem_map_unregister(struct rdma_mem_map *map, void *addr, size_t len,
			    enum rdma_mem_owner owner);
/* Register what is not registered yet in [addr, addr + len): for the walk of
 * lib/env memory, which may overlap ranges a memory event registered first. */
int rdma_mem_map_register_holes(struct rdma_mem_map *map, void *addr, size_t len,
				enum rdma_mem_owner owner);

/*
 * Keys of slot's registration holding [addr, addr + len). Lock-free.
 * 0; -EINVAL for len 0; -ENODEV if the slot has no PD; -ENOENT if part of the
 * range is not registered; -ERANGE if it crosses two registrations.
 */
int rdma_mem_map_translate(struct rdma_mem_map *map, const void *addr, size_t len, uint32_t slot,
			   uint32_t *lkey, uint32_t *rkey);

void rdma_mem_map_get_stats(struct rdma_mem_map *map, struct axon_rdma_mem_stats *stats);

/* ---- devices (rdma_device.c) ------------------------------------------------ */

struct axon_rdma_device {
	char name[IBV_SYSFS_NAME_MAX];
	struct ibv_context *ctx;
	/* ctx came from ibv_open_device (we close it), not from librdmacm. */
	bool own_ctx;
	struct ibv_pd *pd;
	struct ibv_device_attr attr;
	struct axon_memory_domain *domain;
	/* Index in the device table and the map's PD slot. */
	uint32_t slot;
	/* References (under the library lock): the library's own while present. */
	uint32_t refs;
	atomic_bool removed;
};

/* The library's map; NULL when not initialised. */
struct rdma_mem_map *rdma_get_mem_map(void);

/* ---- memory domains (rdma_domain.c) ------------------------------------------- */

/* Create dev's domain (dev->domain). 0 or a negative errno (logged). */
int rdma_domain_create(struct axon_rdma_device *dev);
void rdma_domain_destroy(struct axon_rdma_device *dev);

#endif /* AXON_RDMA_INTERNAL_H */
