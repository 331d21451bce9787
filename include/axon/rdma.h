/*
 * Axon RDMA: devices, memory registration, memory domains and the RDMA CM,
 * over rdma-core (libibverbs, librdmacm).
 *
 * Devices. axon_rdma_init() enumerates the RDMA devices of the host
 * (ibv_get_device_list) and gives each one verbs context and ONE protection
 * domain, shared by every user in the process. The context is the one
 * librdmacm uses for the same device (rdma_get_devices), so the PD can carry
 * queue pairs of RDMA CM ids: a cm_id's id->verbs finds its device with
 * axon_rdma_device_get_by_context(). Devices are reference counted; a removed
 * device (RDMA_CM_EVENT_DEVICE_REMOVAL) is marked gone, lookups stop finding
 * it, and it is torn down when its last user drops its reference.
 *
 * Memory. All DMA memory of lib/env is registered with every device (walked
 * at init; followed through memory events when it grows and shrinks with
 * hugepages), with local write, remote read and remote write access. Other
 * memory can be registered with axon_rdma_mem_register(). Users get keys
 * only through each device's memory domain (lib/dma, type RDMA, id
 * "rdma:<device name>"):
 *
 *   struct axon_memory_domain *d = axon_rdma_device_get_memory_domain(dev);
 *   struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
 *   rc = axon_memory_domain_translate_data(d, NULL, d, NULL, buf, len, &res);
 *   // res.rdma.lkey / res.rdma.rkey, res.iov[0] = {buf, len}
 *
 * The destination domain decides which device's keys come back (the buffer is
 * registered with all of them); any domain of type RDMA whose ctx.rdma.ibv_pd
 * is the PD of one of our devices works as a destination. Translation takes
 * no lock and may run on any thread. It fails with -ENOENT for memory that is
 * not registered and -ERANGE for a buffer whose two ends are registered but
 * not in one registration (it crosses two of them, or a hole between two;
 * lib/env's DMA allocations never do).
 *
 * The RDMA CM. struct axon_rdma_cm is an event channel polled by a poller of
 * the axon_thread that created it, with the channel's fd as a wake fd (the
 * thread may sleep between events). Each event goes to the callback for its
 * type in struct axon_rdma_cm_handlers.
 *
 * Threads: init, fini, registration and device lookups are control-plane
 * calls (any thread, serialised by a mutex); translation is data path.
 */
#ifndef AXON_RDMA_H
#define AXON_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ibv_context;
struct ibv_cq;
struct ibv_device_attr;
struct ibv_pd;
struct ibv_srq;
struct rdma_cm_event;
struct rdma_cm_id;
struct rdma_event_channel;
struct axon_memory_domain;

/** Most devices the library handles; more are ignored with a warning. */
#define AXON_RDMA_MAX_DEVICES 16
/** Prefix of a device's memory domain id: "rdma:" followed by the device name. */
#define AXON_RDMA_DOMAIN_ID_PREFIX "rdma:"

/* ---- library ------------------------------------------------------------ */

/**
 * Take a reference on the library; the first one enumerates the devices,
 * opens them, allocates their PDs and memory domains, and registers lib/env's
 * DMA memory (when lib/env is initialised) with every device. A device that
 * cannot be opened is skipped with an error logged. A host without RDMA
 * devices (or without kernel support) initialises with no devices.
 * @return 0; -ENOMEM; or the negative errno of a failed registration of
 *         lib/env memory (nothing is then left initialised).
 */
int axon_rdma_init(void);

/**
 * Drop a reference taken by axon_rdma_init(); the last one releases every
 * device, registration and domain. Every device reference and every QP,
 * CQ and SRQ created on a device's PD must have been released first.
 */
void axon_rdma_fini(void);

/** True between the first axon_rdma_init() and the last axon_rdma_fini(). */
bool axon_rdma_is_initialized(void);

/* ---- devices ------------------------------------------------------------ */

struct axon_rdma_device;

/**
 * The device named name ("mlx5_0", "rxe0"), with a new reference, or NULL if
 * there is none, it was removed, or the library is not initialised.
 */
struct axon_rdma_device *axon_rdma_device_get_by_name(const char *name);

/**
 * The device a verbs context belongs to (our own context, or one of another
 * library for the same device, e.g. a cm_id's id->verbs), with a new
 * reference; NULL if none or removed.
 */
struct axon_rdma_device *axon_rdma_device_get_by_context(struct ibv_context *ctx);

/** Take another reference. dev must not be NULL. */
void axon_rdma_device_get(struct axon_rdma_device *dev);

/** Drop a reference; a removed device is torn down with its last one. NULL is ignored. */
void axon_rdma_device_put(struct axon_rdma_device *dev);

/**
 * Call fn(dev, arg) for each present device, in enumeration order, with the
 * library lock held: fn must not call other axon_rdma_* functions that take
 * it (get/put/lookups/registration). fn returns 0 to go on; a non-zero value
 * stops the walk and is returned. Returns 0 after a full walk.
 */
int axon_rdma_device_foreach(int (*fn)(struct axon_rdma_device *dev, void *arg), void *arg);

/** Number of present (not removed) devices. */
uint32_t axon_rdma_device_count(void);

/** Accessors; dev must not be NULL. Valid while a reference is held. */
const char *axon_rdma_device_get_name(const struct axon_rdma_device *dev);
struct ibv_context *axon_rdma_device_get_context(const struct axon_rdma_device *dev);
struct ibv_pd *axon_rdma_device_get_pd(const struct axon_rdma_device *dev);
/** The attributes queried at init (ibv_query_device). */
const struct ibv_device_attr *axon_rdma_device_get_attr(const struct axon_rdma_device *dev);
/** The device's memory domain (type RDMA, id "rdma:<name>"). */
struct axon_memory_domain *axon_rdma_device_get_memory_domain(const struct axon_rdma_device *dev);
/** True once the device was reported removed. */
bool axon_rdma_device_is_removed(const struct axon_rdma_device *dev);

/**
 * Mark dev removed: lookups stop returning it, translations for it fail with
 * -ENODEV, and the library drops its own reference (users drain theirs).
 * The CM poller calls this on RDMA_CM_EVENT_DEVICE_REMOVAL before the
 * handler runs. Calling it again does nothing.
 */
void axon_rdma_device_set_removed(struct axon_rdma_device *dev);

/* ---- memory registration -------------------------------------------------- */

/**
 * Register [addr, addr + len) with every device (caller-supplied memory, not
 * from lib/env). addr and len must be multiples of 4 KiB.
 * @return 0; -EINVAL for a bad alignment, len 0 or an address beyond the
 *         48-bit user address space; -EEXIST if part of the range is already
 *         registered; -ENODEV if the library is not initialised; -ENOMEM; or
 *         the negative errno of ibv_reg_mr (nothing is registered then).
 */
int axon_rdma_mem_register(void *addr, size_t len);

/**
 * Unregister [addr, addr + len): the whole range or a part of an earlier
 * axon_rdma_mem_register() (the rest stays registered). No I/O may use the
 * range any more, and no thread may translate a buffer inside it.
 * @return 0; -EINVAL for a bad alignment or len 0; -ENOENT if part of the
 *         range is not registered; -EPERM if part of it is lib/env memory
 *         (which only lib/env's memory events unregister); -ENODEV if the
 *         library is not initialised; -ENOMEM.
 */
int axon_rdma_mem_unregister(void *addr, size_t len);

struct axon_rdma_mem_stats {
	uint64_t total_bytes; /* bytes registered */
	uint64_t regions;     /* registered ranges (each one key pair per device) */
	uint64_t env_bytes;   /* of total_bytes: lib/env DMA memory */
};

/** Fill stats. Returns 0, or -ENODEV if the library is not initialised. */
int axon_rdma_mem_get_stats(struct axon_rdma_mem_stats *stats);

/* ---- the RDMA CM ---------------------------------------------------------- */

/** A handler's return value: keep the cm_id (0) or have the poller destroy it. */
#define AXON_RDMA_CM_KEEP_ID 0
#define AXON_RDMA_CM_DESTROY_ID 1

/**
 * Handler of one event type. id is event->id (for a connect request: the new
 * id; event->listen_id is the listener). Runs on the CM's thread. The event is
 * acknowledged after the handler returns, so the handler must not destroy id
 * itself: it returns AXON_RDMA_CM_DESTROY_ID and the poller destroys id (after
 * destroying its QP, if it still has one) once the event is acknowledged.
 * Anything else returned is treated as AXON_RDMA_CM_KEEP_ID.
 */
typedef int (*axon_rdma_cm_handler)(struct rdma_cm_id *id, struct rdma_cm_event *event,
				    void *cb_arg);

/**
 * Callbacks per event type. Every member is optional: an event without a
 * handler is acknowledged and logged at debug level (with the id kept).
 */
struct axon_rdma_cm_handlers {
	axon_rdma_cm_handler connect_request;  /* RDMA_CM_EVENT_CONNECT_REQUEST */
	axon_rdma_cm_handler established;      /* RDMA_CM_EVENT_ESTABLISHED */
	axon_rdma_cm_handler disconnected;     /* RDMA_CM_EVENT_DISCONNECTED */
	axon_rdma_cm_handler device_removal;   /* RDMA_CM_EVENT_DEVICE_REMOVAL */
	axon_rdma_cm_handler addr_change;      /* RDMA_CM_EVENT_ADDR_CHANGE */
	axon_rdma_cm_handler rejected;         /* RDMA_CM_EVENT_REJECTED */
	axon_rdma_cm_handler unreachable;      /* RDMA_CM_EVENT_UNREACHABLE */
	/* Host side. */
	axon_rdma_cm_handler addr_resolved;    /* RDMA_CM_EVENT_ADDR_RESOLVED */
	axon_rdma_cm_handler route_resolved;   /* RDMA_CM_EVENT_ROUTE_RESOLVED */
	axon_rdma_cm_handler connect_response; /* RDMA_CM_EVENT_CONNECT_RESPONSE */
	/* ADDR_ERROR, ROUTE_ERROR, CONNECT_ERROR: something failed before the
	 * connection was established. */
	axon_rdma_cm_handler error;
	axon_rdma_cm_handler timewait_exit;    /* RDMA_CM_EVENT_TIMEWAIT_EXIT */
	/* Any other event type. */
	axon_rdma_cm_handler other;
};

struct axon_rdma_cm;

/**
 * Create an event channel with a poller on the calling axon_thread (the
 * channel's fd non-blocking and registered as a wake fd). handlers is
 * copied. Returns NULL (and logs why) off an axon_thread, or when the
 * channel, the poller or memory cannot be had.
 */
struct axon_rdma_cm *axon_rdma_cm_create(const struct axon_rdma_cm_handlers *handlers,
					 void *cb_arg);

/** The channel, for rdma_create_id(). */
struct rdma_event_channel *axon_rdma_cm_get_channel(struct axon_rdma_cm *cm);

/**
 * Handle up to max_events pending events now (0 = the poller's budget) and
 * return how many were handled. The poller does this by itself; this is for
 * callers that wait for an event outside a poll loop. On the CM's thread.
 */
uint32_t axon_rdma_cm_process_events(struct axon_rdma_cm *cm, uint32_t max_events);

/**
 * Unregister the poller and destroy the channel. Every cm_id created on the
 * channel must have been destroyed. On the CM's thread. NULL is ignored.
 */
void axon_rdma_cm_destroy(struct axon_rdma_cm *cm);

/** Name of an RDMA CM event type (rdma_event_str). */
const char *axon_rdma_cm_event_name(int event_type);

/* ---- queue pairs ----------------------------------------------------------- */

/** Options of axon_rdma_qp_create(); the capacities are updated to what the QP got. */
struct axon_rdma_qp_opts {
	struct ibv_cq *send_cq;  /* required */
	struct ibv_cq *recv_cq;  /* required */
	struct ibv_srq *srq;     /* optional: receives come from it */
	uint32_t max_send_wr;    /* >= 1 */
	uint32_t max_recv_wr;    /* >= 1 without srq; ignored with one */
	uint32_t max_send_sge;   /* >= 1 */
	uint32_t max_recv_sge;   /* >= 1 without srq; ignored with one */
	uint32_t max_inline_data;
	void *qp_context;        /* the QP's qp_context */
};

/**
 * Create an RC queue pair on id, in the shared PD of id's device. Work request
 * and SGE counts above the device's limits are lowered to them (with a notice).
 * Destroy it with rdma_destroy_qp(id). The caller keeps a reference on the
 * device (axon_rdma_device_get_by_context(id->verbs)) while the QP exists.
 * @return 0 (opts' capacities now hold the QP's); -EINVAL for a NULL argument,
 *         a missing CQ or a zero count; -ENODEV if id has no device yet or its
 *         device is not one of ours (or was removed); or rdma_create_qp's
 *         negative errno.
 */
int axon_rdma_qp_create(struct rdma_cm_id *id, struct axon_rdma_qp_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* AXON_RDMA_H */
