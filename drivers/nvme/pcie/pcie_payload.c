/*
 * Data pointers of PCIe commands: PRP entries and lists, SGL data block
 * descriptors and segments. Pure functions of the iovecs and of
 * axon_vtophys(), so that unit tests can feed them any IOVA layout.
 */
#include <errno.h>
#include <string.h>

#include "axon/env.h"

#include "pcie_internal.h"

#define PAGE_MASK ((uint64_t)PCIE_PAGE_SIZE - 1)

/* Where the next PRP entry goes: PRP1 first, then the list. */
struct prp_state {
	uint64_t *prp1;
	uint64_t *list;
	uint32_t count;
};

static int prp_add(struct prp_state *st, uint64_t page)
{
	if (st->count == 0) {
		*st->prp1 = page;
	} else {
		if (st->count - 1 >= PCIE_PRP_LIST_ENTRIES) {
			return -EINVAL;
		}
		st->list[st->count - 1] = page;
	}
	st->count++;
	return 0;
}

/*
 * One IOVA-contiguous chunk [iova, iova + len). Only the first chunk of the
 * payload may start inside a page; only the last may end inside one.
 */
static int prp_add_chunk(struct prp_state *st, uint64_t iova, uint64_t len, bool last)
{
	uint64_t page = iova, end = iova + len;
	int rc;

	if (st->count == 0 ? (iova & 3u) != 0 : (iova & PAGE_MASK) != 0) {
		return -EINVAL;
	}
	if (!last && (end & PAGE_MASK) != 0) {
		return -EINVAL;
	}
	while (page < end) {
		rc = prp_add(st, page);
		if (rc != 0) {
			return rc;
		}
		page = AXON_ALIGN_DOWN(page, (uint64_t)PCIE_PAGE_SIZE) + PCIE_PAGE_SIZE;
	}
	return 0;
}

/*
 * Walk len bytes of iov in IOVA-contiguous chunks: fn(ctx, iova, chunk
 * length, last chunk of the payload). Returns 0, fn's error, or -EINVAL
 * (memory without an IOVA, iov shorter than len).
 */
typedef int (*chunk_fn)(void *ctx, uint64_t iova, uint64_t len, bool last);

static int walk_chunks(const struct iovec *iov, int iovcnt, uint32_t len, chunk_fn fn, void *ctx)
{
	uint64_t remaining = len, ilen, sz, iova;
	const uint8_t *va;
	int i, rc;

	for (i = 0; i < iovcnt && remaining > 0; i++) {
		va = iov[i].iov_base;
		ilen = AXON_MIN((uint64_t)iov[i].iov_len, remaining);
		remaining -= ilen;
		while (ilen > 0) {
			sz = ilen;
			iova = axon_vtophys(va, &sz);
			if (iova == AXON_VTOPHYS_ERROR || sz == 0) {
				AXON_ERRLOG("buffer %p is not DMA memory (axon_dma_malloc)\n",
					    (const void *)va);
				return -EINVAL;
			}
			sz = AXON_MIN(sz, ilen);
			va += sz;
			ilen -= sz;
			rc = fn(ctx, iova, sz, ilen == 0 && remaining == 0);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return remaining == 0 ? 0 : -EINVAL;
}

static int prp_chunk(void *ctx, uint64_t iova, uint64_t len, bool last)
{
	return prp_add_chunk(ctx, iova, len, last);
}

int pcie_build_prps(const struct iovec *iov, int iovcnt, uint32_t len, uint64_t *prp1,
		    uint64_t *prp2, uint64_t *list, uint64_t list_iova)
{
	struct prp_state st = {.prp1 = prp1, .list = list};
	int rc;

	*prp1 = 0;
	*prp2 = 0;
	if (len == 0) {
		return 0;
	}
	rc = walk_chunks(iov, iovcnt, len, prp_chunk, &st);
	if (rc != 0) {
		return rc;
	}
	if (st.count == 2) {
		*prp2 = list[0];
	} else if (st.count > 2) {
		*prp2 = list_iova;
	}
	return 0;
}

/* ---- SGL ------------------------------------------------------------------------ */

struct sgl_state {
	struct axon_nvme_sgl_desc *list;
	uint32_t count;
	bool dword;
};

static void sgl_data_block(struct axon_nvme_sgl_desc *desc, uint64_t iova, uint32_t len)
{
	memset(desc, 0, sizeof(*desc));
	desc->address = iova;
	desc->unkeyed.length = len;
	desc->unkeyed.type = AXON_NVME_SGL_TYPE_DATA_BLOCK;
	desc->unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_ADDRESS;
}

static int sgl_chunk(void *ctx, uint64_t iova, uint64_t len, bool last)
{
	struct sgl_state *st = ctx;
	struct axon_nvme_sgl_desc *prev = st->count > 0 ? &st->list[st->count - 1] : NULL;

	if (st->dword && ((iova | len) & 3u) != 0) {
		return -EINVAL;
	}
	/* IOVA-contiguous neighbours (split iovecs of one buffer) share a descriptor. */
	if (prev != NULL && prev->address + prev->unkeyed.length == iova &&
	    (uint64_t)prev->unkeyed.length + len <= UINT32_MAX) {
		prev->unkeyed.length += (uint32_t)len;
		return 0;
	}
	if (st->count >= PCIE_SGL_LIST_ENTRIES) {
		return -EINVAL;
	}
	sgl_data_block(&st->list[st->count++], iova, (uint32_t)len);
	return 0;
}

int pcie_build_sgl(const struct iovec *iov, int iovcnt, uint32_t len, bool dword,
		   struct axon_nvme_sgl_desc *sgl1, struct axon_nvme_sgl_desc *list,
		   uint64_t list_iova)
{
	struct sgl_state st = {.list = list, .dword = dword};
	int rc;

	memset(sgl1, 0, sizeof(*sgl1));
	rc = walk_chunks(iov, iovcnt, len, sgl_chunk, &st);
	if (rc != 0) {
		return rc;
	}
	if (st.count == 1) {
		*sgl1 = list[0];
		return 0;
	}
	sgl1->address = list_iova;
	sgl1->unkeyed.length = st.count * (uint32_t)sizeof(*list);
	sgl1->unkeyed.type = AXON_NVME_SGL_TYPE_LAST_SEGMENT;
	sgl1->unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_ADDRESS;
	return 0;
}

/*
 * PRPs are what every controller takes, and admin commands over PCIe take
 * nothing else. An I/O command with several iovecs uses an SGL when the
 * controller supports them (any shape, one descriptor per element); a
 * shape PRPs cannot express falls back to an SGL too.
 */
int pcie_build_payload(struct pcie_qpair *pq, struct pcie_tracker *tr,
		       struct axon_nvme_request *req)
{
	struct axon_nvme_cmd *cmd = &req->cmd;
	bool sgl_ok = pq->sgl && pq->qid != 0 && req->payload_size > 0;
	int rc = -EINVAL;

	if (!sgl_ok || req->iovcnt == 1) {
		cmd->psdt = AXON_NVME_PSDT_PRP;
		rc = pcie_build_prps(req->iov, req->iovcnt, req->payload_size, &cmd->dptr.prp.prp1,
				     &cmd->dptr.prp.prp2, tr->list, tr->list_iova);
	}
	if (rc == -EINVAL && sgl_ok) {
		cmd->psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
		rc = pcie_build_sgl(req->iov, req->iovcnt, req->payload_size, pq->sgl_dword,
				    &cmd->dptr.sgl1, tr->list, tr->list_iova);
	}
	return rc;
}
