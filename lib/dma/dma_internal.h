/*
 * lib/dma private parts: the domain object, the system domain, and the
 * scatter-gather helpers the system domain copies with.
 */
#ifndef AXON_DMA_INTERNAL_H
#define AXON_DMA_INTERNAL_H

#include <stdbool.h>
#include <sys/queue.h>

#include "axon/dma.h"

struct axon_memory_domain {
	enum axon_dma_device_type type;
	char *id;
	/* The caller's ctx, copied; its user_ctx points at our own copy. */
	struct axon_memory_domain_ctx ctx;
	bool has_ctx;

	axon_memory_domain_translate_cb translate_cb;
	axon_memory_domain_invalidate_cb invalidate_cb;
	axon_memory_domain_pull_cb pull_cb;
	axon_memory_domain_push_cb push_cb;
	axon_memory_domain_transfer_cb transfer_cb;
	axon_memory_domain_memzero_cb memzero_cb;

	/* Link in g_dma_domains (every domain but the system one). */
	TAILQ_ENTRY(axon_memory_domain) link;
};

/* Statically allocated in dma_system.c: exists before any constructor runs
 * and needs no teardown at exit. */
extern struct axon_memory_domain g_dma_system_domain;

/*
 * Sum of the lengths of iov[0..iovcnt) into *total.
 * Returns 0, or -EINVAL if iov is NULL with iovcnt > 0, an element has a NULL
 * base and a non-zero length, or the sum overflows size_t.
 */
int dma_iov_total(const struct iovec *iov, uint32_t iovcnt, size_t *total);

/*
 * Copy min(total of dst, total of src) bytes from the src elements to the dst
 * elements, whose split points may differ. The two sides must not overlap and
 * must have passed dma_iov_total. Returns the number of bytes copied.
 */
size_t dma_iov_copy(const struct iovec *dst, uint32_t dst_iovcnt, const struct iovec *src,
		    uint32_t src_iovcnt);

/* Zero every byte of iov[0..iovcnt) (validated with dma_iov_total). */
void dma_iov_zero(const struct iovec *iov, uint32_t iovcnt);

#endif /* AXON_DMA_INTERNAL_H */
