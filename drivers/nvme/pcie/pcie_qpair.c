/*
 * PCIe queue pairs: submission and completion rings in DMA memory, command
 * trackers with their PRP/SGL pages, doorbells, the completion phase tag,
 * and controller health (CSTS.CFS, surprise removal) seen from the poll.
 *
 * Doorbells are batched: a submission only writes its SQE; the poll rings
 * the CQ head doorbell once for everything it reaped, then the SQ tail
 * doorbell once for everything submitted since the last poll (including
 * what the completion callbacks submitted).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_atomic.h>

#include "axon/env.h"

#include "pcie_internal.h"

/* ---- registers ------------------------------------------------------------------ */

uint64_t pcie_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t pcie_read_csts(struct pcie_ctrlr *pctrlr)
{
	uint32_t csts = pcie_mmio_read_4(pcie_reg(pctrlr, AXON_NVME_PROP_CSTS));

	/* A function that left the bus answers every read with all-ones. */
	if (csts == UINT32_MAX && !__atomic_load_n(&pctrlr->removed, __ATOMIC_ACQUIRE)) {
		AXON_ERRLOG("%s: the controller is gone (BAR0 reads all-ones)\n", pctrlr->bdf);
		__atomic_store_n(&pctrlr->removed, true, __ATOMIC_RELEASE);
	}
	return csts;
}

void pcie_write_reg_8(struct pcie_ctrlr *pctrlr, uint32_t offset, uint64_t value)
{
	pcie_mmio_write_4(pcie_reg(pctrlr, offset), (uint32_t)value);
	pcie_mmio_write_4(pcie_reg(pctrlr, offset + 4), (uint32_t)(value >> 32));
}

bool pcie_qpair_check_health(struct pcie_qpair *pq)
{
	struct pcie_ctrlr *pctrlr = pq->pctrlr;
	union axon_nvme_csts csts = {.raw = pcie_read_csts(pctrlr)};

	if (__atomic_load_n(&pctrlr->removed, __ATOMIC_ACQUIRE)) {
		return true;
	}
	if (csts.bits.cfs) {
		AXON_ERRLOG("%s: controller fatal status (CSTS.CFS) seen on queue %u\n",
			    pctrlr->bdf, pq->qid);
		return true;
	}
	return false;
}

/* ---- rings ------------------------------------------------------------------------ */

void pcie_qpair_reset_rings(struct pcie_qpair *pq)
{
	memset((void *)pq->cq, 0, (size_t)pq->depth * sizeof(*pq->cq));
	pq->sq_tail = 0;
	pq->cq_head = 0;
	pq->phase = 1;
	pq->sq_dirty = false;
	pq->num_active = 0;
	pq->idle_polls = 0;
}

void pcie_ring_push(struct pcie_qpair *pq, const struct axon_nvme_cmd *cmd)
{
	pq->sq[pq->sq_tail] = *cmd;
	if (++pq->sq_tail == pq->depth) {
		pq->sq_tail = 0;
	}
	pq->sq_dirty = true;
}

void pcie_ring_flush(struct pcie_qpair *pq)
{
	if (!pq->sq_dirty) {
		return;
	}
	/* The SQEs must be in memory before the device hears of them. */
	rte_wmb();
	pcie_mmio_write_4(pq->sq_tdbl, pq->sq_tail);
	pq->sq_dirty = false;
}

bool pcie_ring_pop(struct pcie_qpair *pq, struct axon_nvme_cpl *cpl)
{
	volatile struct axon_nvme_cpl *entry = &pq->cq[pq->cq_head];

	if ((entry->status & 1u) != pq->phase) {
		return false;
	}
	/* Read the rest of the entry only after its phase tag said it is new. */
	rte_io_rmb();
	cpl->cdw0 = entry->cdw0;
	cpl->cdw1 = entry->cdw1;
	cpl->sqhd = entry->sqhd;
	cpl->sqid = entry->sqid;
	cpl->cid = entry->cid;
	cpl->status = entry->status;
	if (++pq->cq_head == pq->depth) {
		pq->cq_head = 0;
		pq->phase ^= 1u;
	}
	return true;
}

void pcie_ring_cq_doorbell(struct pcie_qpair *pq)
{
	pcie_mmio_write_4(pq->cq_hdbl, pq->cq_head);
}

/* ---- trackers ----------------------------------------------------------------------- */

int pcie_ring_submit_req(struct pcie_qpair *pq, struct axon_nvme_request *req)
{
	struct pcie_tracker *tr;
	int rc;

	if (pq->num_active >= pq->depth - 1) {
		return -EAGAIN;
	}
	tr = TAILQ_FIRST(&pq->free_trackers);
	if (tr == NULL) {
		return -EAGAIN;
	}
	rc = pcie_build_payload(pq, tr, req);
	if (rc != 0) {
		return rc;
	}
	TAILQ_REMOVE(&pq->free_trackers, tr, link);
	tr->req = req;
	req->cmd.cid = tr->cid;
	pq->num_active++;
	pcie_ring_push(pq, &req->cmd);
	return 0;
}

int pcie_qpair_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	struct pcie_qpair *pq = pcie_qpair(qpair);

	if (__atomic_load_n(&pq->pctrlr->removed, __ATOMIC_ACQUIRE)) {
		return -ENXIO;
	}
	if (pq->qid == 0) {
		return pcie_admin_submit(pq, req);
	}
	if (pq->io_phase != PCIE_IO_LIVE) {
		return -ENXIO;
	}
	return pcie_ring_submit_req(pq, req);
}

bool pcie_qpair_complete_cpl(struct pcie_qpair *pq, const struct axon_nvme_cpl *cpl)
{
	struct pcie_tracker *tr;
	struct axon_nvme_request *req;

	if (cpl->cid >= pq->depth || pq->trackers[cpl->cid].req == NULL) {
		AXON_ERRLOG("%s: queue %u: completion for unknown command id %u ignored\n",
			    pq->pctrlr->bdf, pq->qid, cpl->cid);
		return false;
	}
	tr = &pq->trackers[cpl->cid];
	req = tr->req;
	tr->req = NULL;
	/* Free the slot first: the callback may submit the next command. */
	TAILQ_INSERT_HEAD(&pq->free_trackers, tr, link);
	axon_nvme_qpair_complete_request(&pq->qpair, req, cpl);
	return true;
}

void pcie_qpair_abort_trackers(struct pcie_qpair *pq, uint16_t status)
{
	struct axon_nvme_cpl cpl;
	uint32_t i;

	for (i = 0; i < pq->depth; i++) {
		if (pq->trackers[i].req == NULL) {
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		cpl.cid = (uint16_t)i;
		cpl.sqid = pq->qid;
		axon_nvme_cpl_set_status(&cpl, status);
		pcie_qpair_complete_cpl(pq, &cpl);
	}
}

/* ---- polling ------------------------------------------------------------------------- */

static int32_t qpair_fail(struct pcie_qpair *pq, int reason)
{
	pq->qpair.state = AXON_NVME_QPAIR_FAILED;
	pq->qpair.failure_reason = reason;
	return reason;
}

static int32_t io_process_completions(struct pcie_qpair *pq, uint32_t max)
{
	struct axon_nvme_cpl cpl;
	uint32_t n = 0, reaped = 0;

	if (pq->generation != pcie_generation(pq->pctrlr) ||
	    __atomic_load_n(&pq->pctrlr->removed, __ATOMIC_ACQUIRE)) {
		return qpair_fail(pq, -ENXIO);
	}
	while (n < max && pcie_ring_pop(pq, &cpl)) {
		reaped++;
		/* A bogus command id from a broken device frees no slot. */
		if (pcie_qpair_complete_cpl(pq, &cpl)) {
			pq->num_active--;
			n++;
		}
	}
	if (reaped > 0) {
		pq->idle_polls = 0;
		pcie_ring_cq_doorbell(pq);
	} else if (pq->num_active > 0 && ++pq->idle_polls >= pq->health_interval) {
		pq->idle_polls = 0;
		if (pcie_qpair_check_health(pq)) {
			return qpair_fail(pq, -ENXIO);
		}
	}
	pcie_ring_flush(pq);
	return (int32_t)n;
}

int32_t pcie_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max)
{
	struct pcie_qpair *pq = pcie_qpair(qpair);
	int rc;

	/* lib/nvme passes 0 for "no limit" while connecting; a queue holds at most depth. */
	if (max == 0 || max > pq->depth) {
		max = pq->depth;
	}
	if (pq->qid == 0) {
		return pcie_admin_process_completions(pq, max);
	}
	switch (qpair->state) {
	case AXON_NVME_QPAIR_CONNECTING:
		rc = pcie_io_connect_poll(pq);
		return rc != 0 ? qpair_fail(pq, rc) : 0;
	case AXON_NVME_QPAIR_ENABLED:
	case AXON_NVME_QPAIR_TRANSPORT_READY:
	case AXON_NVME_QPAIR_FABRIC_CONNECTING:
		return io_process_completions(pq, max);
	case AXON_NVME_QPAIR_FAILED:
	case AXON_NVME_QPAIR_DISCONNECTED:
		break;
	}
	return -ENXIO;
}

/* ---- life cycle ----------------------------------------------------------------------- */

/* IOVA of a DMA buffer that must be contiguous over len bytes, or AXON_VTOPHYS_ERROR. */
static uint64_t contiguous_iova(const void *buf, uint64_t len)
{
	uint64_t sz = len, iova = axon_vtophys(buf, &sz);

	return iova != AXON_VTOPHYS_ERROR && sz >= len ? iova : AXON_VTOPHYS_ERROR;
}

static int qpair_alloc_trackers(struct pcie_qpair *pq)
{
	uint32_t i;

	pq->trackers = calloc(pq->depth, sizeof(*pq->trackers));
	pq->list_pages = axon_dma_zmalloc((size_t)pq->depth * PCIE_PAGE_SIZE, PCIE_PAGE_SIZE,
					  AXON_ENV_SOCKET_ID_ANY);
	if (pq->trackers == NULL || pq->list_pages == NULL) {
		return -ENOMEM;
	}
	TAILQ_INIT(&pq->free_trackers);
	for (i = 0; i < pq->depth; i++) {
		struct pcie_tracker *tr = &pq->trackers[i];

		tr->cid = (uint16_t)i;
		tr->list = (uint8_t *)pq->list_pages + (size_t)i * PCIE_PAGE_SIZE;
		tr->list_iova = contiguous_iova(tr->list, PCIE_PAGE_SIZE);
		if (tr->list_iova == AXON_VTOPHYS_ERROR) {
			return -EFAULT;
		}
		TAILQ_INSERT_TAIL(&pq->free_trackers, tr, link);
	}
	return 0;
}

static int qpair_alloc_rings(struct pcie_qpair *pq)
{
	size_t sq_len = (size_t)pq->depth * sizeof(struct axon_nvme_cmd);
	size_t cq_len = (size_t)pq->depth * sizeof(struct axon_nvme_cpl);

	pq->sq = axon_dma_zmalloc(sq_len, PCIE_PAGE_SIZE, AXON_ENV_SOCKET_ID_ANY);
	pq->cq = axon_dma_zmalloc(cq_len, PCIE_PAGE_SIZE, AXON_ENV_SOCKET_ID_ANY);
	if (pq->sq == NULL || pq->cq == NULL) {
		return -ENOMEM;
	}
	/* Queues are created physically contiguous (PC = 1): one IOVA range each. */
	pq->sq_iova = contiguous_iova(pq->sq, sq_len);
	pq->cq_iova = contiguous_iova((const void *)pq->cq, cq_len);
	if (pq->sq_iova == AXON_VTOPHYS_ERROR || pq->cq_iova == AXON_VTOPHYS_ERROR) {
		return -EFAULT;
	}
	return 0;
}

void pcie_qpair_free(struct pcie_qpair *pq)
{
	if (pq == NULL) {
		return;
	}
	axon_dma_free(pq->list_pages);
	free(pq->trackers);
	axon_dma_free((void *)pq->cq);
	axon_dma_free(pq->sq);
	free(pq->stash);
	free(pq->scratch);
	free(pq);
}

struct axon_nvme_qpair *pcie_qpair_create(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
					  uint32_t depth)
{
	struct pcie_ctrlr *pctrlr = axon_nvme_ctrlr_get_transport_ctx(ctrlr);
	uint32_t db = PCIE_DOORBELL_BASE + 2u * qid * pctrlr->db_stride;
	struct pcie_qpair *pq;
	int rc;

	if (depth < 2 || depth > 65536 || (qid == 0 && depth > PCIE_MAX_ADMIN_DEPTH)) {
		AXON_ERRLOG("%s: queue %u: depth %u out of range\n", pctrlr->bdf, qid, depth);
		errno = EINVAL;
		return NULL;
	}
	if ((size_t)db + 2u * pctrlr->db_stride > pctrlr->regs_size) {
		AXON_ERRLOG("%s: queue %u: its doorbells lie beyond BAR0 (%zu bytes)\n", pctrlr->bdf,
			    qid, pctrlr->regs_size);
		errno = ERANGE;
		return NULL;
	}
	pq = calloc(1, sizeof(*pq));
	if (pq == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pq->pctrlr = pctrlr;
	pq->qid = qid;
	pq->depth = depth;
	pq->icmd = -1;
	pq->sq_tdbl = pcie_reg(pctrlr, db);
	pq->cq_hdbl = pcie_reg(pctrlr, db + pctrlr->db_stride);
	rc = qpair_alloc_rings(pq);
	rc = rc ?: qpair_alloc_trackers(pq);
	if (rc == 0 && qid == 0) {
		pq->health_interval = PCIE_ADMIN_HEALTH_CHECK_POLLS;
		pq->stash = calloc(depth, sizeof(*pq->stash));
		pq->scratch = calloc(depth, sizeof(*pq->scratch));
		rc = pq->stash != NULL && pq->scratch != NULL ? 0 : -ENOMEM;
	} else if (rc == 0) {
		uint32_t sgls = axon_nvme_ctrlr_get_data(ctrlr)->sgls & 0x3u;

		pq->health_interval = PCIE_IO_HEALTH_CHECK_POLLS;
		/* SGLS bits 1:0: 01b any alignment, 10b dword alignment. */
		pq->sgl = sgls == 1u || sgls == 2u;
		pq->sgl_dword = sgls == 2u;
	}
	if (rc != 0) {
		AXON_ERRLOG("%s: queue %u: no DMA memory for %u entries (%d)\n", pctrlr->bdf, qid,
			    depth, rc);
		pcie_qpair_free(pq);
		errno = -rc;
		return NULL;
	}
	pcie_qpair_reset_rings(pq);
	if (qid == 0) {
		pctrlr->adminq = pq;
	}
	return &pq->qpair;
}

void pcie_qpair_destroy(struct axon_nvme_qpair *qpair)
{
	struct pcie_qpair *pq = pcie_qpair(qpair);
	struct pcie_ctrlr *pctrlr = pq->pctrlr;

	if (pq->qid == 0) {
		/* The controller may still post to the admin CQ until it is shut down. */
		pctrlr->adminq = NULL;
		pcie_qpair_free(pctrlr->retired_adminq);
		pctrlr->retired_adminq = pq;
		return;
	}
	if (pq->io_phase != PCIE_IO_IDLE || pq->icmd >= 0) {
		AXON_ERRLOG("%s: queue %u could not be deleted: its memory is left to the device\n",
			    pctrlr->bdf, pq->qid);
		return;
	}
	pcie_qpair_free(pq);
}

int pcie_qpair_connect(struct axon_nvme_qpair *qpair)
{
	struct pcie_qpair *pq = pcie_qpair(qpair);
	struct pcie_ctrlr *pctrlr = pq->pctrlr;

	if (__atomic_load_n(&pctrlr->removed, __ATOMIC_ACQUIRE)) {
		return -ENXIO;
	}
	if (pq->qid == 0) {
		/* The rings are programmed by ctrlr_enable_adminq once the controller is disabled. */
		qpair->state = AXON_NVME_QPAIR_TRANSPORT_READY;
		return 0;
	}
	if (pq->io_phase != PCIE_IO_IDLE) {
		return -EBUSY;
	}
	pcie_qpair_reset_rings(pq);
	pq->generation = pcie_generation(pctrlr);
	pq->io_phase = PCIE_IO_CREATE_CQ;
	return 0;
}

void pcie_qpair_disconnect(struct axon_nvme_qpair *qpair)
{
	struct pcie_qpair *pq = pcie_qpair(qpair);

	/* First, so that callbacks of aborted commands cannot submit again. */
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
	if (pq->qid == 0) {
		pcie_admin_disconnect(pq);
		return;
	}
	pcie_io_delete_queues(pq);
	pcie_qpair_abort_trackers(pq, PCIE_SC_ABORTED_SQ_DELETION);
	pq->num_active = 0;
	pq->sq_dirty = false;
}
