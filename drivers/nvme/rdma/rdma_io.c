/*
 * NVMe over RDMA host I/O: mapping a command's data, posting capsules,
 * and handling what comes back.
 *
 * Data. Keys only ever come from a memory domain translation into the
 * device's domain. A buffer that translates as one registered region (one
 * iovec, or several that are adjacent in one registration) goes out as a
 * keyed SGL data block, or for a small write as a second SGE of the
 * capsule: the NIC moves it, nothing is copied. Anything else goes through
 * a registered bounce buffer (or the capsule itself): copied with memcpy
 * for process memory, or pulled/pushed through the buffer's memory domain.
 * The target's RDMA READs and WRITEs of those buffers need nothing from us.
 *
 * Responses. Every receive is checked before it is believed: its status,
 * opcode and length, the cid against the commands in flight, and the
 * command's state. Anything a broken or hostile target can get wrong fails
 * this qpair only; a command completes once both its send and its response
 * are done, so no buffer is released while the NIC may still read it.
 */
#include <errno.h>

#include "rdma_internal.h"

struct nvme_rdma_stats g_nvme_rdma_stats;

static void stats_count_copy(size_t bytes)
{
	__atomic_fetch_add(&g_nvme_rdma_stats.copies, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&g_nvme_rdma_stats.copy_bytes, bytes, __ATOMIC_RELAXED);
}

static void stats_count_zero_copy(void)
{
	__atomic_fetch_add(&g_nvme_rdma_stats.zero_copy, 1, __ATOMIC_RELAXED);
}

/* ---- layout ------------------------------------------------------------------------ */

static size_t capsule_stride(const struct nvme_rdma_qpair *rqpair)
{
	return AXON_ALIGN_UP(sizeof(struct axon_nvme_cmd) + (size_t)rqpair->icd_alloc,
			     (size_t)RDMA_CAPSULE_ALIGN);
}

void nvme_rdma_qpair_layout(struct nvme_rdma_qpair *rqpair)
{
	uint8_t *p = rqpair->region;
	size_t stride = capsule_stride(rqpair);
	uint32_t i;

	TAILQ_INIT(&rqpair->free_reqs);
	TAILQ_INIT(&rqpair->done_reqs);
	for (i = 0; i < rqpair->num_reqs; i++) {
		struct nvme_rdma_req *rreq = &rqpair->reqs[i];

		rreq->wr.type = RDMA_WR_SEND;
		rreq->rqpair = rqpair;
		rreq->cid = (uint16_t)i;
		rreq->state = RDMA_REQ_FREE;
		rreq->capsule = (struct axon_nvme_cmd *)(void *)(p + i * stride);
		TAILQ_INSERT_TAIL(&rqpair->free_reqs, rreq, link);
	}
	p += rqpair->num_reqs * stride;
	for (i = 0; i < rqpair->num_recvs; i++) {
		rqpair->recvs[i].wr.type = RDMA_WR_RECV;
		rqpair->recvs[i].cpl = (struct axon_nvme_cpl *)(void *)(p + i * sizeof(struct axon_nvme_cpl));
	}
	p = (uint8_t *)rqpair->region + rqpair->region_len -
	    (size_t)rqpair->num_bounce * RDMA_MAX_XFER_SIZE;
	for (i = 0; i < rqpair->num_bounce; i++) {
		rqpair->bounce_free[i] = p + (size_t)i * RDMA_MAX_XFER_SIZE;
	}
	rqpair->bounce_avail = rqpair->num_bounce;
}

/* ---- slots and bounce buffers ----------------------------------------------------------- */

static struct nvme_rdma_req *req_get(struct nvme_rdma_qpair *rqpair)
{
	struct nvme_rdma_req *rreq = TAILQ_FIRST(&rqpair->free_reqs);

	if (rreq == NULL || rqpair->num_active >= rqpair->max_active) {
		return NULL;
	}
	TAILQ_REMOVE(&rqpair->free_reqs, rreq, link);
	rqpair->num_active++;
	rreq->send_done = false;
	rreq->rsp_received = false;
	rreq->path = RDMA_DATA_NONE;
	rreq->bounce = NULL;
	rreq->xlated.iov_base = NULL;
	rreq->xlated.iov_len = 0;
	memset(&rreq->cpl, 0, sizeof(rreq->cpl));
	return rreq;
}

static void req_put(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	if (rreq->bounce != NULL) {
		rqpair->bounce_free[rqpair->bounce_avail++] = rreq->bounce;
		rreq->bounce = NULL;
	}
	rreq->req = NULL;
	rreq->state = RDMA_REQ_FREE;
	rqpair->num_active--;
	TAILQ_INSERT_HEAD(&rqpair->free_reqs, rreq, link);
}

static void *bounce_get(struct nvme_rdma_qpair *rqpair)
{
	return rqpair->bounce_avail > 0 ? rqpair->bounce_free[--rqpair->bounce_avail] : NULL;
}

/* The command is finished (its cpl is final): complete it from the done list. */
static void req_finish(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	rreq->state = RDMA_REQ_DONE;
	TAILQ_INSERT_TAIL(&rqpair->done_reqs, rreq, link);
}

static void req_set_error(struct nvme_rdma_req *rreq, uint8_t sc)
{
	if (!axon_nvme_cpl_is_error(&rreq->cpl)) {
		axon_nvme_cpl_set_status(&rreq->cpl, AXON_NVME_STATUS(0, sc));
	}
}

/* ---- SGL descriptors ---------------------------------------------------------------- */

static void sgl_set_keyed(struct axon_nvme_cmd *cmd, uint64_t addr, uint32_t len, uint32_t rkey)
{
	memset(&cmd->dptr, 0, sizeof(cmd->dptr));
	cmd->psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
	cmd->dptr.sgl1.address = addr;
	cmd->dptr.sgl1.keyed.length = len;
	cmd->dptr.sgl1.keyed.key = rkey;
	cmd->dptr.sgl1.keyed.subtype = AXON_NVME_SGL_SUBTYPE_ADDRESS;
	cmd->dptr.sgl1.keyed.type = AXON_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
}

/* In-capsule data right after the SQE (offset 0: we use ICD only with ICDOFF 0). */
static void sgl_set_icd(struct axon_nvme_cmd *cmd, uint32_t len)
{
	memset(&cmd->dptr, 0, sizeof(cmd->dptr));
	cmd->psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
	cmd->dptr.sgl1.address = 0;
	cmd->dptr.sgl1.unkeyed.length = len;
	cmd->dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_OFFSET;
	cmd->dptr.sgl1.unkeyed.type = AXON_NVME_SGL_TYPE_DATA_BLOCK;
}

/* ---- data mapping -------------------------------------------------------------------- */

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	return total;
}

/* The payload as one virtually contiguous span starting at *addr, if it is one. */
static bool payload_contiguous(const struct nvme_rdma_payload *payload, void **addr)
{
	uint8_t *start = NULL, *end = NULL;
	int i;

	for (i = 0; i < payload->iovcnt; i++) {
		if (payload->iov[i].iov_len == 0) {
			continue;
		}
		if (start == NULL) {
			start = payload->iov[i].iov_base;
		} else if ((uint8_t *)payload->iov[i].iov_base != end) {
			return false;
		}
		end = (uint8_t *)payload->iov[i].iov_base + payload->iov[i].iov_len;
	}
	if (start == NULL || (size_t)(end - start) < payload->len) {
		return false;
	}
	*addr = start;
	return true;
}

/*
 * Keys for the whole payload as one region of the device, through the
 * payload's domain (or the device's own for process memory). Returns 0 with
 * *res filled, or a negative errno: the caller then bounces.
 */
static int payload_translate(struct nvme_rdma_qpair *rqpair,
			     const struct nvme_rdma_payload *payload,
			     struct axon_memory_domain_translation_result *res)
{
	struct axon_memory_domain_translation_ctx ctx = {.size = sizeof(ctx)};
	struct axon_memory_domain *src;
	void *addr;
	int rc;

	if (!payload_contiguous(payload, &addr)) {
		return -ERANGE;
	}
	src = payload->domain != NULL ? payload->domain : rqpair->dev_domain;
	ctx.rdma.ibv_qp = rqpair->cm_id != NULL ? rqpair->cm_id->qp : NULL;
	memset(res, 0, sizeof(*res));
	res->size = sizeof(*res);
	rc = axon_memory_domain_translate_data(src, payload->domain_ctx, rqpair->dev_domain, &ctx,
					       addr, payload->len, res);
	if (rc != 0) {
		return rc;
	}
	/* One keyed SGL describes one region: anything else is no use to us. */
	if (res->iovcnt != 1 || res->iov == NULL || res->iov[0].iov_len < payload->len) {
		return -ERANGE;
	}
	return 0;
}

static void copy_from_iov(void *dst, const struct iovec *iov, int iovcnt, size_t len)
{
	uint8_t *d = dst;
	size_t n;
	int i;

	for (i = 0; i < iovcnt && len > 0; i++) {
		n = AXON_MIN(iov[i].iov_len, len);
		memcpy(d, iov[i].iov_base, n);
		d += n;
		len -= n;
	}
}

static void copy_to_iov(const struct iovec *iov, int iovcnt, const void *src, size_t len)
{
	const uint8_t *s = src;
	size_t n;
	int i;

	for (i = 0; i < iovcnt && len > 0; i++) {
		n = AXON_MIN(iov[i].iov_len, len);
		memcpy(iov[i].iov_base, s, n);
		s += n;
		len -= n;
	}
}

static int post_send(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	struct ibv_send_wr *bad = NULL;
	int rc;

	rreq->state = RDMA_REQ_SUBMITTED;
	rc = ibv_post_send(rqpair->cm_id->qp, &rreq->send_wr, &bad);
	return rc != 0 ? -rc : 0;
}

static void pull_done(void *cb_arg, int rc);

/*
 * Copy write data into dst (a bounce buffer or the capsule). Returns 0 when
 * copied, 1 when a pull runs (pull_done posts the capsule), or -errno.
 */
static int req_copy_in(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq, void *dst)
{
	const struct nvme_rdma_payload *p = &rreq->payload;
	struct iovec dst_iov = {.iov_base = dst, .iov_len = p->len};
	int rc;

	if (p->domain == NULL) {
		copy_from_iov(dst, p->iov, p->iovcnt, p->len);
		stats_count_copy(p->len);
		return 0;
	}
	rreq->state = RDMA_REQ_PULLING;
	rqpair->domain_ops++;
	rc = axon_memory_domain_pull_data(p->domain, p->domain_ctx, p->iov, (uint32_t)p->iovcnt,
					  &dst_iov, 1, pull_done, rreq);
	if (rc != 0) {
		rqpair->domain_ops--;
		return rc;
	}
	return 1;
}

/* The capsule's send: the SQE, and the in-capsule data if any. */
static void req_build_send(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq,
			   uint32_t icd_len, const struct ibv_sge *icd_sge)
{
	rreq->sge[0].addr = (uintptr_t)rreq->capsule;
	rreq->sge[0].length = (uint32_t)sizeof(struct axon_nvme_cmd);
	rreq->sge[0].lkey = rqpair->lkey;
	memset(&rreq->send_wr, 0, sizeof(rreq->send_wr));
	rreq->send_wr.wr_id = (uintptr_t)&rreq->wr;
	rreq->send_wr.sg_list = rreq->sge;
	rreq->send_wr.num_sge = 1;
	rreq->send_wr.opcode = IBV_WR_SEND;
	rreq->send_wr.send_flags = IBV_SEND_SIGNALED;
	if (icd_sge != NULL) {
		rreq->sge[1] = *icd_sge;
		rreq->send_wr.num_sge = 2;
	} else {
		rreq->sge[0].length += icd_len;
	}
}

/*
 * Decide where the data goes and describe it in the SQE and the send.
 * Returns 0 (post now), 1 (a pull runs and posts), -EAGAIN (no bounce
 * buffer free) or -errno.
 */
static int req_map_data(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	const struct nvme_rdma_payload *p = &rreq->payload;
	struct axon_memory_domain_translation_result res;
	struct axon_nvme_cmd *cmd = rreq->capsule;
	struct ibv_sge sge;
	bool zero_copy;

	if (p->len == 0) {
		/* No data: a keyed SGL of length 0 and key 0. */
		sgl_set_keyed(cmd, 0, 0, 0);
		req_build_send(rqpair, rreq, 0, NULL);
		return 0;
	}
	zero_copy = payload_translate(rqpair, p, &res) == 0;
	if (rreq->xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER && p->len <= rqpair->icd_len) {
		sgl_set_icd(cmd, p->len);
		if (zero_copy) {
			sge.addr = (uintptr_t)res.iov[0].iov_base;
			sge.length = p->len;
			sge.lkey = res.rdma.lkey;
			rreq->path = RDMA_DATA_ICD_SGE;
			rreq->xlated = res.iov[0];
			req_build_send(rqpair, rreq, 0, &sge);
			stats_count_zero_copy();
			return 0;
		}
		rreq->path = RDMA_DATA_ICD_COPY;
		req_build_send(rqpair, rreq, p->len, NULL);
		return req_copy_in(rqpair, rreq, cmd + 1);
	}
	if (zero_copy && p->len <= RDMA_KEYED_SGL_MAX_LEN) {
		rreq->path = RDMA_DATA_KEYED;
		rreq->xlated = res.iov[0];
		sgl_set_keyed(cmd, (uintptr_t)res.iov[0].iov_base, p->len, res.rdma.rkey);
		req_build_send(rqpair, rreq, 0, NULL);
		stats_count_zero_copy();
		return 0;
	}
	if (p->len > RDMA_MAX_XFER_SIZE) {
		return -EINVAL;
	}
	rreq->bounce = bounce_get(rqpair);
	if (rreq->bounce == NULL) {
		return -EAGAIN;
	}
	rreq->path = RDMA_DATA_BOUNCE;
	sgl_set_keyed(cmd, (uintptr_t)rreq->bounce, p->len, rqpair->rkey);
	req_build_send(rqpair, rreq, 0, NULL);
	if (rreq->xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER) {
		return req_copy_in(rqpair, rreq, rreq->bounce);
	}
	return 0;
}

static void pull_done(void *cb_arg, int rc)
{
	struct nvme_rdma_req *rreq = cb_arg;
	struct nvme_rdma_qpair *rqpair = rreq->rqpair;

	rqpair->domain_ops--;
	if (rreq->state == RDMA_REQ_ORPHANED) {
		req_put(rqpair, rreq);
		if (rqpair->destroyed && rqpair->domain_ops == 0) {
			nvme_rdma_qpair_free(rqpair);
		}
		return;
	}
	if (rc != 0) {
		AXON_ERRLOG("qpair %u cid %u: pulling write data from its memory domain failed: %d\n",
			    rqpair->qpair.id, rreq->cid, rc);
		req_set_error(rreq, RDMA_SC_DATA_TRANSFER_ERROR);
		req_finish(rqpair, rreq);
		return;
	}
	stats_count_copy(rreq->payload.len);
	if (rqpair->phase != RDMA_CONN_ESTABLISHED) {
		/* Never posted: the disconnect aborts it with the others. */
		rreq->state = RDMA_REQ_SUBMITTED;
		return;
	}
	rc = post_send(rqpair, rreq);
	if (rc != 0) {
		nvme_rdma_qpair_fail(rqpair, rc);
	}
}

int nvme_rdma_submit_payload(struct nvme_rdma_qpair *rqpair, struct axon_nvme_request *req,
			     const struct nvme_rdma_payload *payload)
{
	struct nvme_rdma_req *rreq;
	enum axon_nvme_data_xfer xfer;
	int rc;

	if (rqpair->phase != RDMA_CONN_ESTABLISHED) {
		return -ENXIO;
	}
	xfer = axon_nvmf_sqe_get_data_xfer((const union axon_nvmf_sqe *)&req->cmd);
	if (xfer == AXON_NVME_DATA_BIDIRECTIONAL ||
	    (payload->len > 0 && xfer == AXON_NVME_DATA_NONE) ||
	    (payload->len > 0 && (payload->iov == NULL || payload->iovcnt <= 0)) ||
	    iov_total(payload->iov, payload->iovcnt) < payload->len ||
	    (payload->domain != NULL && iov_total(payload->iov, payload->iovcnt) != payload->len)) {
		return -EINVAL;
	}
	rreq = req_get(rqpair);
	if (rreq == NULL) {
		return -EAGAIN;
	}
	rreq->req = req;
	rreq->payload = *payload;
	rreq->xfer = payload->len == 0 ? AXON_NVME_DATA_NONE : xfer;
	rreq->state = RDMA_REQ_SUBMITTED;
	req->cmd.cid = rreq->cid;
	/* The SQE first: the data mapping fills in its SGL. */
	memcpy(rreq->capsule, &req->cmd, sizeof(req->cmd));
	rc = req_map_data(rqpair, rreq);
	if (rc < 0) {
		req_put(rqpair, rreq);
		return rc;
	}
	if (rc == 1) {
		return 0; /* pull_done posts it (or already did) */
	}
	rc = post_send(rqpair, rreq);
	if (rc != 0) {
		req_put(rqpair, rreq);
		nvme_rdma_qpair_fail(rqpair, rc);
		return -ENXIO;
	}
	return 0;
}

/* ---- receives ---------------------------------------------------------------------------- */

static int post_recv(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_recv *recv)
{
	struct ibv_recv_wr *bad = NULL;
	int rc;

	recv->sge.addr = (uintptr_t)recv->cpl;
	recv->sge.length = (uint32_t)sizeof(*recv->cpl);
	recv->sge.lkey = rqpair->lkey;
	memset(&recv->recv_wr, 0, sizeof(recv->recv_wr));
	recv->recv_wr.wr_id = (uintptr_t)&recv->wr;
	recv->recv_wr.sg_list = &recv->sge;
	recv->recv_wr.num_sge = 1;
	rc = ibv_post_recv(rqpair->cm_id->qp, &recv->recv_wr, &bad);
	return rc != 0 ? -rc : 0;
}

int nvme_rdma_post_recvs(struct nvme_rdma_qpair *rqpair)
{
	uint32_t i;
	int rc;

	for (i = 0; i < rqpair->num_recvs; i++) {
		rc = post_recv(rqpair, &rqpair->recvs[i]);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* ---- completions --------------------------------------------------------------------------- */

static void push_done(void *cb_arg, int rc)
{
	struct nvme_rdma_req *rreq = cb_arg;
	struct nvme_rdma_qpair *rqpair = rreq->rqpair;

	rqpair->domain_ops--;
	if (rreq->state == RDMA_REQ_ORPHANED) {
		req_put(rqpair, rreq);
		if (rqpair->destroyed && rqpair->domain_ops == 0) {
			nvme_rdma_qpair_free(rqpair);
		}
		return;
	}
	if (rc != 0) {
		AXON_ERRLOG("qpair %u cid %u: pushing read data into its memory domain failed: %d\n",
			    rqpair->qpair.id, rreq->cid, rc);
		req_set_error(rreq, RDMA_SC_DATA_TRANSFER_ERROR);
	} else {
		stats_count_copy(rreq->payload.len);
	}
	req_finish(rqpair, rreq);
}

/* Read data of a bounced command back into the caller's buffers. */
static void req_copy_out(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	const struct nvme_rdma_payload *p = &rreq->payload;
	struct iovec src = {.iov_base = rreq->bounce, .iov_len = p->len};
	int rc;

	if (p->domain == NULL) {
		copy_to_iov(p->iov, p->iovcnt, rreq->bounce, p->len);
		stats_count_copy(p->len);
		req_finish(rqpair, rreq);
		return;
	}
	rreq->state = RDMA_REQ_PUSHING;
	rqpair->domain_ops++;
	rc = axon_memory_domain_push_data(p->domain, p->domain_ctx, p->iov, (uint32_t)p->iovcnt,
					  &src, 1, push_done, rreq);
	if (rc != 0) {
		rqpair->domain_ops--;
		AXON_ERRLOG("qpair %u cid %u: cannot push read data into its memory domain: %d\n",
			    rqpair->qpair.id, rreq->cid, rc);
		req_set_error(rreq, RDMA_SC_DATA_TRANSFER_ERROR);
		req_finish(rqpair, rreq);
	}
}

/* Both halves are in: the send (our buffers are free) and the response. */
static void req_try_complete(struct nvme_rdma_qpair *rqpair, struct nvme_rdma_req *rreq)
{
	if (!rreq->send_done || !rreq->rsp_received) {
		return;
	}
	if (rreq->path == RDMA_DATA_BOUNCE && rreq->xfer == AXON_NVME_DATA_CONTROLLER_TO_HOST &&
	    !axon_nvme_cpl_is_error(&rreq->cpl)) {
		req_copy_out(rqpair, rreq);
		return;
	}
	req_finish(rqpair, rreq);
}

/* Hand finished commands to lib/nvme, within the poll's budget. */
static void drain_done(struct nvme_rdma_qpair *rqpair)
{
	struct axon_nvme_request *req;
	struct nvme_rdma_req *rreq;
	struct axon_nvme_cpl cpl;

	while (rqpair->completions < rqpair->max_completions &&
	       (rreq = TAILQ_FIRST(&rqpair->done_reqs)) != NULL) {
		TAILQ_REMOVE(&rqpair->done_reqs, rreq, link);
		req = rreq->req;
		cpl = rreq->cpl;
		if (rreq->payload.domain != NULL && rreq->xlated.iov_len != 0) {
			/* Domains without an invalidate callback need none (-ENOTSUP). */
			axon_memory_domain_invalidate_data(rreq->payload.domain,
							   rreq->payload.domain_ctx, &rreq->xlated, 1);
		}
		req_put(rqpair, rreq);
		rqpair->completions++;
		axon_nvme_qpair_complete_request(&rqpair->qpair, req, &cpl);
	}
}

/* The command a response names, if it is one we have in flight. */
static struct nvme_rdma_req *lookup_cid(struct nvme_rdma_qpair *rqpair, uint16_t cid)
{
	if (cid >= rqpair->num_reqs) {
		return NULL;
	}
	return &rqpair->reqs[cid];
}

static void handle_recv(struct nvme_rdma_qpair *rqpair, const struct ibv_wc *wc)
{
	struct nvme_rdma_wr *wr = (struct nvme_rdma_wr *)(uintptr_t)wc->wr_id;
	struct nvme_rdma_recv *recv = AXON_CONTAINEROF(wr, struct nvme_rdma_recv, wr);
	struct nvme_rdma_req *rreq;
	struct axon_nvme_cpl cpl;
	int rc;

	if (wc->opcode != IBV_WC_RECV || (wc->wc_flags & IBV_WC_WITH_INV) ||
	    wc->byte_len != sizeof(cpl)) {
		/* We never asked for an invalidation, and a response is one CQE. */
		AXON_ERRLOG("qpair %u: malformed response from the target (opcode %d, flags 0x%x, "
			    "%u bytes)\n", rqpair->qpair.id, (int)wc->opcode, wc->wc_flags,
			    wc->byte_len);
		nvme_rdma_qpair_fail(rqpair, -EPROTO);
		return;
	}
	cpl = *recv->cpl;
	rc = post_recv(rqpair, recv);
	if (rc != 0) {
		nvme_rdma_qpair_fail(rqpair, rc);
		return;
	}
	rreq = lookup_cid(rqpair, cpl.cid);
	if (rreq == NULL || rreq->state != RDMA_REQ_SUBMITTED || rreq->rsp_received) {
		AXON_ERRLOG("qpair %u: response for cid %u, which is not outstanding\n",
			    rqpair->qpair.id, cpl.cid);
		nvme_rdma_qpair_fail(rqpair, -EPROTO);
		return;
	}
	rreq->cpl = cpl;
	rreq->cpl.sqid = rqpair->qpair.id;
	rreq->rsp_received = true;
	req_try_complete(rqpair, rreq);
}

static void handle_send(struct nvme_rdma_qpair *rqpair, const struct ibv_wc *wc)
{
	struct nvme_rdma_wr *wr = (struct nvme_rdma_wr *)(uintptr_t)wc->wr_id;
	struct nvme_rdma_req *rreq = AXON_CONTAINEROF(wr, struct nvme_rdma_req, wr);

	if (rreq->state != RDMA_REQ_SUBMITTED || rreq->send_done) {
		AXON_ERRLOG("qpair %u: send completion for cid %u in state %d\n", rqpair->qpair.id,
			    rreq->cid, (int)rreq->state);
		nvme_rdma_qpair_fail(rqpair, -EIO);
		return;
	}
	rreq->send_done = true;
	req_try_complete(rqpair, rreq);
}

static void handle_wc(struct nvme_rdma_qpair *rqpair, const struct ibv_wc *wc)
{
	const struct nvme_rdma_wr *wr = (const struct nvme_rdma_wr *)(uintptr_t)wc->wr_id;

	if (wc->status != IBV_WC_SUCCESS) {
		/* The QP is in error: every later completion is a flush. */
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			AXON_ERRLOG("qpair %u: %s completion failed: %s\n", rqpair->qpair.id,
				    wr->type == RDMA_WR_SEND ? "send" : "receive",
				    ibv_wc_status_str(wc->status));
		}
		nvme_rdma_qpair_fail(rqpair, wc->status == IBV_WC_REM_INV_REQ_ERR ? -EPROTO : -EIO);
		return;
	}
	switch (wr->type) {
	case RDMA_WR_SEND:
		handle_send(rqpair, wc);
		return;
	case RDMA_WR_RECV:
		handle_recv(rqpair, wc);
		return;
	}
	nvme_rdma_qpair_fail(rqpair, -EIO);
}

int32_t nvme_rdma_poll_cq(struct nvme_rdma_qpair *rqpair)
{
	struct ibv_wc wc[RDMA_CQ_BATCH];
	int batch, n, i;

	drain_done(rqpair);
	for (batch = 0; batch < RDMA_CQ_BATCHES_PER_POLL &&
			rqpair->completions < rqpair->max_completions;
	     batch++) {
		n = ibv_poll_cq(rqpair->cq, RDMA_CQ_BATCH, wc);
		if (n < 0) {
			nvme_rdma_qpair_fail(rqpair, -EIO);
			break;
		}
		for (i = 0; i < n && rqpair->phase == RDMA_CONN_ESTABLISHED; i++) {
			handle_wc(rqpair, &wc[i]);
		}
		if (rqpair->phase != RDMA_CONN_ESTABLISHED) {
			break;
		}
		drain_done(rqpair);
		if (n < RDMA_CQ_BATCH) {
			break;
		}
	}
	if (rqpair->phase == RDMA_CONN_DEAD) {
		return rqpair->qpair.failure_reason != 0 ? rqpair->qpair.failure_reason : -EIO;
	}
	return (int32_t)rqpair->completions;
}

void nvme_rdma_abort_reqs(struct nvme_rdma_qpair *rqpair)
{
	struct axon_nvme_request *req;
	struct nvme_rdma_req *rreq;
	struct axon_nvme_cpl cpl;
	uint32_t i;

	for (i = 0; i < rqpair->num_reqs; i++) {
		rreq = &rqpair->reqs[i];
		if (rreq->state == RDMA_REQ_FREE || rreq->state == RDMA_REQ_ORPHANED) {
			continue;
		}
		req = rreq->req;
		if (rreq->state == RDMA_REQ_DONE) {
			/* Finished before the connection went: it keeps its own status. */
			TAILQ_REMOVE(&rqpair->done_reqs, rreq, link);
			cpl = rreq->cpl;
		} else {
			memset(&cpl, 0, sizeof(cpl));
			cpl.cid = rreq->cid;
			cpl.sqid = rqpair->qpair.id;
			axon_nvme_cpl_set_status(&cpl, AXON_NVME_STATUS(0, RDMA_SC_ABORTED_SQ_DELETION));
		}
		if (rreq->state == RDMA_REQ_PULLING || rreq->state == RDMA_REQ_PUSHING) {
			/* The domain still owns the slot's buffer until its callback. */
			rreq->state = RDMA_REQ_ORPHANED;
			rreq->req = NULL;
		} else {
			req_put(rqpair, rreq);
		}
		axon_nvme_qpair_complete_request(&rqpair->qpair, req, &cpl);
	}
}
