/*
 * The RDMA memory domain of each device: the only way users get keys.
 *
 * The memory of an RDMA domain is process memory registered with the
 * device's PD, so translation asks the registration map for the keys of the
 * destination domain's device, and pull, push and memzero are plain copies
 * (the system domain's).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "axon/dma.h"
#include "axon/log.h"
#include "rdma_internal.h"

/* Bytes of a translation result up to and including the RDMA keys. */
#define RDMA_RESULT_MIN_SIZE                                                     \
	(offsetof(struct axon_memory_domain_translation_result, rdma) +          \
	 sizeof(((struct axon_memory_domain_translation_result *)0)->rdma))
#define RDMA_TRANSLATION_CTX_MIN_SIZE                                            \
	(offsetof(struct axon_memory_domain_translation_ctx, rdma) +             \
	 sizeof(((struct axon_memory_domain_translation_ctx *)0)->rdma))

static void
result_set_iov(struct axon_memory_domain_translation_result *result, void *addr, size_t len)
{
	result->iov_inline.iov_base = addr;
	result->iov_inline.iov_len = len;
	result->iov = &result->iov_inline;
	result->iovcnt = 1;
}

/*
 * The destination's PD decides the device; a QP the caller names must belong
 * to it, or the keys would be useless on it.
 */
static int
rdma_domain_translate(struct axon_memory_domain *src_domain, void *src_domain_ctx,
		      struct axon_memory_domain *dst_domain,
		      struct axon_memory_domain_translation_ctx *dst_domain_ctx, void *addr,
		      size_t len, struct axon_memory_domain_translation_result *result)
{
	struct rdma_mem_map *map = rdma_get_mem_map();
	struct axon_memory_domain_ctx *dst_ctx;
	struct ibv_qp *qp = NULL;
	uint32_t lkey, rkey;
	int slot, rc;

	if (result->size < RDMA_RESULT_MIN_SIZE) {
		return -EINVAL;
	}
	if (dst_domain == axon_memory_domain_get_system_domain()) {
		/* Registered memory is plain process memory to the system domain. */
		result_set_iov(result, addr, len);
		return 0;
	}
	if (axon_memory_domain_get_dma_device_type(dst_domain) != AXON_DMA_DEVICE_TYPE_RDMA) {
		return -ENOTSUP;
	}
	dst_ctx = axon_memory_domain_get_context(dst_domain);
	if (map == NULL || dst_ctx == NULL) {
		return -ENODEV;
	}
	slot = rdma_mem_map_slot_of_pd(map, dst_ctx->rdma.ibv_pd);
	if (slot < 0) {
		return slot;
	}
	if (dst_domain_ctx != NULL && dst_domain_ctx->size >= RDMA_TRANSLATION_CTX_MIN_SIZE) {
		qp = dst_domain_ctx->rdma.ibv_qp;
	}
	if (qp != NULL && qp->pd != dst_ctx->rdma.ibv_pd) {
		return -EINVAL;
	}
	rc = rdma_mem_map_translate(map, addr, len, (uint32_t)slot, &lkey, &rkey);
	if (rc != 0) {
		return rc;
	}
	result_set_iov(result, addr, len);
	result->rdma.lkey = lkey;
	result->rdma.rkey = rkey;
	return 0;
}

/* Keys stay valid as long as the memory is registered: nothing to drop. */
static void
rdma_domain_invalidate(struct axon_memory_domain *domain, void *domain_ctx,
		       const struct iovec *iov, uint32_t iovcnt)
{
}

static int
rdma_domain_pull(struct axon_memory_domain *src_domain, void *src_domain_ctx,
		 const struct iovec *src_iov, uint32_t src_iovcnt, const struct iovec *dst_iov,
		 uint32_t dst_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	return axon_memory_domain_pull_data(axon_memory_domain_get_system_domain(), NULL, src_iov,
					    src_iovcnt, dst_iov, dst_iovcnt, cpl_cb, cb_arg);
}

static int
rdma_domain_push(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
		 const struct iovec *dst_iov, uint32_t dst_iovcnt, const struct iovec *src_iov,
		 uint32_t src_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	return axon_memory_domain_push_data(axon_memory_domain_get_system_domain(), NULL, dst_iov,
					    dst_iovcnt, src_iov, src_iovcnt, cpl_cb, cb_arg);
}

static int
rdma_domain_memzero(struct axon_memory_domain *domain, void *domain_ctx, const struct iovec *iov,
		    uint32_t iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	return axon_memory_domain_memzero(axon_memory_domain_get_system_domain(), NULL, iov, iovcnt,
					  cpl_cb, cb_arg);
}

int
rdma_domain_create(struct axon_rdma_device *dev)
{
	struct axon_memory_domain_ctx ctx = {.size = sizeof(ctx), .rdma.ibv_pd = dev->pd};
	char id[sizeof(AXON_RDMA_DOMAIN_ID_PREFIX) + sizeof(dev->name)];
	int rc;

	snprintf(id, sizeof(id), "%s%s", AXON_RDMA_DOMAIN_ID_PREFIX, dev->name);
	rc = axon_memory_domain_create(&dev->domain, AXON_DMA_DEVICE_TYPE_RDMA, &ctx, id);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot create its memory domain: %s\n", dev->name, strerror(-rc));
		return rc;
	}
	axon_memory_domain_set_translation(dev->domain, rdma_domain_translate);
	axon_memory_domain_set_invalidate(dev->domain, rdma_domain_invalidate);
	axon_memory_domain_set_pull(dev->domain, rdma_domain_pull);
	axon_memory_domain_set_push(dev->domain, rdma_domain_push);
	axon_memory_domain_set_memzero(dev->domain, rdma_domain_memzero);
	return 0;
}

void
rdma_domain_destroy(struct axon_rdma_device *dev)
{
	axon_memory_domain_destroy(dev->domain);
	dev->domain = NULL;
}
