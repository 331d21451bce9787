/*
 * Axon memory domains: which device can reach a buffer, and how data moves in
 * and out of it.
 *
 * A memory domain names a DMA device (by a string id and a type) and carries a
 * set of optional callbacks:
 *
 *   translate   describe a buffer of one domain in the terms of another
 *               (for example: an RDMA lkey/rkey for a registered buffer);
 *   invalidate  drop what an earlier translation set up;
 *   pull        copy data out of the domain into local memory;
 *   push        copy local memory into the domain;
 *   transfer    move data from one domain to another directly;
 *   memzero     fill memory of the domain with zeroes.
 *
 * Each callback has a public entry point (axon_memory_domain_*_data,
 * axon_memory_domain_memzero) that validates its arguments and calls the
 * callback of the right domain. A domain without the needed callback makes the
 * entry point fail with -ENOTSUP.
 *
 * Completion contract of the asynchronous entry points (pull, push, transfer,
 * memzero):
 *  - the completion callback runs exactly once if, and only if, the entry point
 *    returned 0;
 *  - it may run *before* the entry point returns (the system domain always
 *    completes that way), so a caller must not hold a lock the callback takes,
 *    and must not touch its request after a 0 return if the callback may have
 *    released it;
 *  - any other return value means nothing was started and the callback will
 *    never run.
 * Implementations of the callbacks must keep this contract.
 *
 * The system domain (axon_memory_domain_get_system_domain) is plain process
 * memory. It always exists, is never destroyed, and implements pull, push and
 * memzero as synchronous copies between iovec arrays.
 *
 * Threads: create and destroy domains on the control plane (no I/O in flight
 * on them). Iteration and lookup may run on any thread; the domain list is
 * protected by a mutex. The data entry points take no lock and may run on any
 * thread that may use the domain.
 */
#ifndef AXON_DMA_H
#define AXON_DMA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Id of the system memory domain's DMA device. */
#define AXON_DMA_SYSTEM_DEVICE_ID "system"

/** The kind of device that can reach the memory of a domain. */
enum axon_dma_device_type {
	/** Reaches memory through an RDMA protection domain, keys and addresses. */
	AXON_DMA_DEVICE_TYPE_RDMA = 0,
	/** A DMA engine that reaches memory through IOVAs (also: the system domain). */
	AXON_DMA_DEVICE_TYPE_DMA = 1,
	/** An accelerator that moves data between domains itself. */
	AXON_DMA_DEVICE_TYPE_ACCEL = 2,
	/** First and last value reserved for vendor-defined device types. */
	AXON_DMA_DEVICE_TYPE_VENDOR_START = 1000,
	AXON_DMA_DEVICE_TYPE_VENDOR_END = 1999,
};

struct axon_memory_domain;

/** Context of a domain of type RDMA. */
struct axon_memory_domain_rdma_ctx {
	/** The struct ibv_pd * the domain's memory is registered with (a void *
	 *  so that this header does not need the verbs headers). */
	void *ibv_pd;
};

/**
 * Context given to axon_memory_domain_create, copied into the domain.
 *
 * size grows with this structure: a caller sets it to
 * sizeof(struct axon_memory_domain_ctx) as it was compiled; members beyond a
 * caller's size read as zero, and members a newer caller knows but this
 * library does not are ignored.
 */
struct axon_memory_domain_ctx {
	size_t size;
	/** Opaque bytes for the domain's owner, copied (user_ctx_size bytes) at
	 *  creation. NULL with user_ctx_size 0 when there are none. */
	void *user_ctx;
	size_t user_ctx_size;
	/** Type-specific part; which member is valid depends on the domain type. */
	union {
		struct axon_memory_domain_rdma_ctx rdma;
	};
};

/**
 * Ancillary data for a translation, describing the destination side. The
 * caller sets size to sizeof(struct axon_memory_domain_translation_ctx).
 */
struct axon_memory_domain_translation_ctx {
	size_t size;
	union {
		struct {
			/** The struct ibv_qp * the translated buffer will be used on. */
			void *ibv_qp;
		} rdma;
	};
};

/**
 * Result of a translation. The caller sets size to
 * sizeof(struct axon_memory_domain_translation_result) before the call; a
 * translate callback never writes beyond size bytes. Only valid after the
 * translation returned 0.
 */
struct axon_memory_domain_translation_result {
	size_t size;
	/** The buffer as the destination domain addresses it. */
	struct iovec *iov;
	uint32_t iovcnt;
	/** Storage a translator may point iov at when one element is enough. */
	struct iovec iov_inline;
	union {
		struct {
			uint32_t lkey;
			uint32_t rkey;
		} rdma;
	};
};

/**
 * Completion of pull, push, transfer and memzero.
 * @param cb_arg the argument given with the callback.
 * @param rc 0, or a negative errno saying why the data did not move.
 */
typedef void (*axon_memory_domain_data_cpl_cb)(void *cb_arg, int rc);

/**
 * Translate addr/len of src_domain into a description dst_domain can use. No
 * data moves. Synchronous. Returns 0 and fills result, or a negative errno.
 */
typedef int (*axon_memory_domain_translate_cb)(
	struct axon_memory_domain *src_domain, void *src_domain_ctx,
	struct axon_memory_domain *dst_domain,
	struct axon_memory_domain_translation_ctx *dst_domain_ctx, void *addr, size_t len,
	struct axon_memory_domain_translation_result *result);

/** Drop what a translation of iov set up in domain. Synchronous, cannot fail. */
typedef void (*axon_memory_domain_invalidate_cb)(struct axon_memory_domain *domain,
						  void *domain_ctx, const struct iovec *iov,
						  uint32_t iovcnt);

/**
 * Copy the data of src_iov (in src_domain) into dst_iov (local memory).
 * Returns 0 and later (or already) calls cpl_cb once, or a negative errno and
 * never calls it.
 */
typedef int (*axon_memory_domain_pull_cb)(struct axon_memory_domain *src_domain,
					  void *src_domain_ctx, const struct iovec *src_iov,
					  uint32_t src_iovcnt, const struct iovec *dst_iov,
					  uint32_t dst_iovcnt,
					  axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/** Copy local src_iov into dst_iov (in dst_domain). Completion as for pull. */
typedef int (*axon_memory_domain_push_cb)(struct axon_memory_domain *dst_domain,
					  void *dst_domain_ctx, const struct iovec *dst_iov,
					  uint32_t dst_iovcnt, const struct iovec *src_iov,
					  uint32_t src_iovcnt,
					  axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/**
 * Move src_iov (in src_domain) to dst_iov (in dst_domain), using
 * src_translation when the caller has one (may be NULL). Completion as for pull.
 */
typedef int (*axon_memory_domain_transfer_cb)(
	struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
	const struct iovec *dst_iov, uint32_t dst_iovcnt,
	struct axon_memory_domain *src_domain, void *src_domain_ctx,
	const struct iovec *src_iov, uint32_t src_iovcnt,
	struct axon_memory_domain_translation_result *src_translation,
	axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/** Fill iov (in domain) with zeroes. Completion as for pull. */
typedef int (*axon_memory_domain_memzero_cb)(struct axon_memory_domain *domain,
					     void *domain_ctx, const struct iovec *iov,
					     uint32_t iovcnt,
					     axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/* ---- creation, lookup, destruction (control plane) ----------------------- */

/**
 * Create a memory domain and add it to the list of domains.
 *
 * @param domain where the new domain is stored on success.
 * @param type AXON_DMA_DEVICE_TYPE_RDMA, _DMA, _ACCEL, or a value in
 *        AXON_DMA_DEVICE_TYPE_VENDOR_START..AXON_DMA_DEVICE_TYPE_VENDOR_END.
 * @param ctx optional (NULL for none); copied, together with the user_ctx_size
 *        bytes at ctx->user_ctx, so neither needs to outlive this call.
 * @param id the DMA device's id, a non-empty string (copied). Ids need not be
 *        unique: several domains may belong to one device.
 * @return 0 on success;
 *         -EINVAL if domain or id is NULL, id is empty, type is not one of the
 *         above, ctx->size is 0, or exactly one of ctx->user_ctx and
 *         ctx->user_ctx_size is zero/NULL;
 *         -ENOMEM if memory ran out.
 * The new domain has no callbacks: set them before using it for data.
 */
int axon_memory_domain_create(struct axon_memory_domain **domain, enum axon_dma_device_type type,
			      const struct axon_memory_domain_ctx *ctx, const char *id);

/**
 * Remove domain from the list and free it. NULL is ignored; the system domain
 * is never destroyed (logged and ignored). Nobody may use the domain, or hold
 * it as an iteration cursor, during or after this call.
 */
void axon_memory_domain_destroy(struct axon_memory_domain *domain);

/**
 * First domain in the list whose id equals id, or the first domain if id is
 * NULL. The system domain comes first, then the others in creation order.
 * @return the domain, or NULL if none matches.
 */
struct axon_memory_domain *axon_memory_domain_get_first(const char *id);

/**
 * Next domain after prev whose id equals id (any domain if id is NULL).
 * @param prev a domain returned by get_first/get_next; NULL gives NULL.
 * @return the domain, or NULL at the end of the list.
 */
struct axon_memory_domain *axon_memory_domain_get_next(struct axon_memory_domain *prev,
						       const char *id);

/** The system domain: never NULL, valid for the whole life of the process. */
struct axon_memory_domain *axon_memory_domain_get_system_domain(void);

/* ---- getters ------------------------------------------------------------- */

/** Type of the domain's DMA device. domain must not be NULL. */
enum axon_dma_device_type axon_memory_domain_get_dma_device_type(
	const struct axon_memory_domain *domain);

/** Id of the domain's DMA device (owned by the domain). NULL if domain is NULL. */
const char *axon_memory_domain_get_dma_device_id(const struct axon_memory_domain *domain);

/**
 * The domain's copy of the ctx given at creation (its user_ctx points to the
 * domain's copy of the user context; its size is the full size of this
 * library's structure). NULL if the domain was created without ctx, or if
 * domain is NULL.
 */
struct axon_memory_domain_ctx *axon_memory_domain_get_context(struct axon_memory_domain *domain);

/**
 * The domain's copy of the user context, and its size in *ctx_size (when
 * ctx_size is not NULL). Returns NULL and a size of 0 when there is none.
 */
void *axon_memory_domain_get_user_context(struct axon_memory_domain *domain, size_t *ctx_size);

/* ---- setters (control plane, before the domain carries I/O) -------------- */

/*
 * Each setter replaces the domain's callback; NULL removes it (the entry point
 * then fails with -ENOTSUP). A NULL domain is ignored; the system domain's
 * callbacks cannot be changed (logged and ignored).
 */
void axon_memory_domain_set_translation(struct axon_memory_domain *domain,
					axon_memory_domain_translate_cb translate_cb);
void axon_memory_domain_set_invalidate(struct axon_memory_domain *domain,
				       axon_memory_domain_invalidate_cb invalidate_cb);
void axon_memory_domain_set_pull(struct axon_memory_domain *domain,
				 axon_memory_domain_pull_cb pull_cb);
void axon_memory_domain_set_push(struct axon_memory_domain *domain,
				 axon_memory_domain_push_cb push_cb);
void axon_memory_domain_set_transfer(struct axon_memory_domain *domain,
				     axon_memory_domain_transfer_cb transfer_cb);
void axon_memory_domain_set_memzero(struct axon_memory_domain *domain,
				    axon_memory_domain_memzero_cb memzero_cb);

/* ---- data entry points (any thread, no lock) ----------------------------- */

/*
 * In all of them an iovec array may be NULL only when its count is 0, and the
 * per-domain contexts (src_domain_ctx, ...) are opaque: they are passed to the
 * callback unchanged and may be NULL.
 */

/**
 * Translate addr/len, located in src_domain, into a description usable in
 * dst_domain, with src_domain's translate callback. No data moves.
 *
 * @param dst_domain_ctx optional; if given, its size must be set.
 * @param result filled on success; its size must be set by the caller.
 * @return 0 with result filled;
 *         -EINVAL if src_domain, dst_domain or result is NULL, result->size or
 *         dst_domain_ctx->size is 0, or len is 0;
 *         -ENOTSUP if src_domain has no translate callback;
 *         otherwise the callback's negative errno.
 */
int axon_memory_domain_translate_data(struct axon_memory_domain *src_domain,
				      void *src_domain_ctx,
				      struct axon_memory_domain *dst_domain,
				      struct axon_memory_domain_translation_ctx *dst_domain_ctx,
				      void *addr, size_t len,
				      struct axon_memory_domain_translation_result *result);

/**
 * Invalidate iov (a translation result) in domain, with its invalidate callback.
 * @return 0 once the callback ran;
 *         -EINVAL if domain is NULL, or iov is NULL with iovcnt > 0;
 *         -ENOTSUP if domain has no invalidate callback.
 */
int axon_memory_domain_invalidate_data(struct axon_memory_domain *domain, void *domain_ctx,
				       const struct iovec *iov, uint32_t iovcnt);

/**
 * Pull the data of src_iov (in src_domain) into dst_iov (local memory), with
 * src_domain's pull callback. dst_iov must hold at least as many bytes as
 * src_iov; src_iov's bytes land at the start of dst_iov.
 *
 * @return 0: cpl_cb runs once, possibly before this returns;
 *         -EINVAL if src_domain or cpl_cb is NULL, or an iovec array is NULL
 *         with a count > 0 (and, from the system domain, if dst_iov is shorter
 *         than src_iov, an element has a NULL base and a non-zero length, or a
 *         total length overflows size_t);
 *         -ENOTSUP if src_domain has no pull callback;
 *         otherwise the callback's negative errno.
 *         On any error cpl_cb never runs.
 */
int axon_memory_domain_pull_data(struct axon_memory_domain *src_domain, void *src_domain_ctx,
				 const struct iovec *src_iov, uint32_t src_iovcnt,
				 const struct iovec *dst_iov, uint32_t dst_iovcnt,
				 axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/**
 * Push local src_iov into dst_iov (in dst_domain), with dst_domain's push
 * callback. Sizes, completion and errors as for axon_memory_domain_pull_data
 * (-ENOTSUP if dst_domain has no push callback).
 */
int axon_memory_domain_push_data(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
				 const struct iovec *dst_iov, uint32_t dst_iovcnt,
				 const struct iovec *src_iov, uint32_t src_iovcnt,
				 axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/**
 * Transfer src_iov (in src_domain) to dst_iov (in dst_domain), with
 * dst_domain's transfer callback; src_translation (optional) is a translation
 * of the source the caller already has.
 *
 * @return 0: cpl_cb runs once, possibly before this returns;
 *         -EINVAL if dst_domain, src_domain or cpl_cb is NULL, or an iovec
 *         array is NULL with a count > 0;
 *         -ENOTSUP if dst_domain has no transfer callback;
 *         otherwise the callback's negative errno (cpl_cb then never runs).
 */
int axon_memory_domain_transfer_data(struct axon_memory_domain *dst_domain,
				     void *dst_domain_ctx, const struct iovec *dst_iov,
				     uint32_t dst_iovcnt, struct axon_memory_domain *src_domain,
				     void *src_domain_ctx, const struct iovec *src_iov,
				     uint32_t src_iovcnt,
				     struct axon_memory_domain_translation_result *src_translation,
				     axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/**
 * Fill iov (in domain) with zeroes, with domain's memzero callback.
 * @return 0: cpl_cb runs once, possibly before this returns;
 *         -EINVAL if domain or cpl_cb is NULL, or iov is NULL with iovcnt > 0
 *         (and, in the system domain, if an element has a NULL base and a
 *         non-zero length);
 *         -ENOTSUP if domain has no memzero callback;
 *         otherwise the callback's negative errno (cpl_cb then never runs).
 */
int axon_memory_domain_memzero(struct axon_memory_domain *domain, void *domain_ctx,
			       const struct iovec *iov, uint32_t iovcnt,
			       axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg);

/**
 * Name of a device type for humans and JSON: "RDMA", "DMA", "ACCEL", or
 * "VENDOR" for the vendor range. NULL for a value outside every range.
 */
const char *axon_dma_device_type_name(enum axon_dma_device_type type);

#ifdef __cplusplus
}
#endif
#endif /* AXON_DMA_H */
