/*
 * The system memory domain: ordinary process memory, reachable by the CPU.
 * Pull, push and memzero are plain copies that complete before returning.
 */
#include <errno.h>

#include "dma_internal.h"

/* Shared by pull and push: both copy a local-memory src into a local-memory
 * dst, and both refuse a destination too short for the whole source rather
 * than silently truncating the data. */
static int
system_copy(const struct iovec *dst_iov, uint32_t dst_iovcnt, const struct iovec *src_iov,
	    uint32_t src_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	size_t dst_len, src_len;
	int rc;

	rc = dma_iov_total(dst_iov, dst_iovcnt, &dst_len);
	if (rc != 0) {
		return rc;
	}
	rc = dma_iov_total(src_iov, src_iovcnt, &src_len);
	if (rc != 0) {
		return rc;
	}
	if (dst_len < src_len) {
		return -EINVAL;
	}
	dma_iov_copy(dst_iov, dst_iovcnt, src_iov, src_iovcnt);
	cpl_cb(cb_arg, 0);
	return 0;
}

static int
system_pull(struct axon_memory_domain *src_domain, void *src_domain_ctx,
	    const struct iovec *src_iov, uint32_t src_iovcnt, const struct iovec *dst_iov,
	    uint32_t dst_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	return system_copy(dst_iov, dst_iovcnt, src_iov, src_iovcnt, cpl_cb, cb_arg);
}

static int
system_push(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
	    const struct iovec *dst_iov, uint32_t dst_iovcnt, const struct iovec *src_iov,
	    uint32_t src_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	return system_copy(dst_iov, dst_iovcnt, src_iov, src_iovcnt, cpl_cb, cb_arg);
}

static int
system_memzero(struct axon_memory_domain *domain, void *domain_ctx, const struct iovec *iov,
	       uint32_t iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	size_t len;
	int rc;

	rc = dma_iov_total(iov, iovcnt, &len);
	if (rc != 0) {
		return rc;
	}
	dma_iov_zero(iov, iovcnt);
	cpl_cb(cb_arg, 0);
	return 0;
}

static char g_system_id[] = AXON_DMA_SYSTEM_DEVICE_ID;

struct axon_memory_domain g_dma_system_domain = {
	.type = AXON_DMA_DEVICE_TYPE_DMA,
	.id = g_system_id,
	.pull_cb = system_pull,
	.push_cb = system_push,
	.memzero_cb = system_memzero,
};

struct axon_memory_domain *
axon_memory_domain_get_system_domain(void)
{
	return &g_dma_system_domain;
}
