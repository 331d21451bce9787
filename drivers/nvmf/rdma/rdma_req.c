/*
 * NVMe/RDMA requests: one explicit state machine per command.
 *
 *   NEW -(SGL checked)-> READY_TO_EXECUTE                    (no data, in-capsule data)
 *       -> NEED_BUFFER -> TRANSFER_PENDING_HOST_TO_CONTROLLER (writes: ORD and SQ room)
 *                      -> TRANSFERRING_HOST_TO_CONTROLLER (RDMA READs) -> READY_TO_EXECUTE
 *                      -> READY_TO_EXECUTE (reads)
 *   READY_TO_EXECUTE -> EXECUTING (lib/nvmf) -> EXECUTED (receive reposted)
 *       -> READY_TO_COMPLETE (SQ room)
 *       -> TRANSFERRING_CONTROLLER_TO_HOST (RDMA WRITEs chained with the SEND)
 *          or COMPLETING (the SEND alone)
 *       -> COMPLETED (buffers back) -> FREE
 *
 * A bad SGL is found in NEW, before any buffer is taken or work request
 * built: the command goes to lib/nvmf with its status and comes back through
 * req_complete as any other (its response SEND is the only work request it
 * ever posts).
 *
 * Every event (a capsule, buffers freed, send queue or ORD room, a work
 * request's completion, lib/nvmf's completion, the connection's death) calls
 * nvmf_rdma_req_process(), which moves the request as far as it goes. A request
 * whose connection is dead heads for COMPLETED from any state, except that it
 * waits in EXECUTING for lib/nvmf to give it back (lib/nvmf does so before
 * qpair_fini) and in the transferring states for its work requests to come
 * back flushed: the NIC may still touch the buffers until then.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "rdma_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvmf_rdma)

#define STATUS_DNR(sc) ((uint16_t)(AXON_NVME_STATUS(NVME_SCT_GENERIC, (sc)) | AXON_NVME_STATUS_DNR))
#define STATUS_RETRY(sc) AXON_NVME_STATUS(NVME_SCT_GENERIC, (sc))

static const char *const g_req_state_names[RDMA_REQ_NUM_STATES] = {
	[RDMA_REQ_STATE_FREE] = "FREE",
	[RDMA_REQ_STATE_NEW] = "NEW",
	[RDMA_REQ_STATE_NEED_BUFFER] = "NEED_BUFFER",
	[RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER] = "TRANSFER_PENDING_HOST_TO_CONTROLLER",
	[RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER] = "TRANSFERRING_HOST_TO_CONTROLLER",
	[RDMA_REQ_STATE_READY_TO_EXECUTE] = "READY_TO_EXECUTE",
	[RDMA_REQ_STATE_EXECUTING] = "EXECUTING",
	[RDMA_REQ_STATE_EXECUTED] = "EXECUTED",
	[RDMA_REQ_STATE_READY_TO_COMPLETE] = "READY_TO_COMPLETE",
	[RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST] = "TRANSFERRING_CONTROLLER_TO_HOST",
	[RDMA_REQ_STATE_COMPLETING] = "COMPLETING",
	[RDMA_REQ_STATE_COMPLETED] = "COMPLETED",
};

const char *nvmf_rdma_req_state_str(enum rdma_req_state state)
{
	return state < RDMA_REQ_NUM_STATES ? g_req_state_names[state] : "?";
}

/* The one place a request changes state: counted per queue pair and traced. */
static void req_set_state(struct rdma_req *rreq, enum rdma_req_state state)
{
	struct rdma_qpair *rqpair = rreq->rqpair;

	assert(rqpair->state_count[rreq->state] > 0);
	rqpair->state_count[rreq->state]--;
	rqpair->state_count[state]++;
	AXON_DEBUGLOG(nvmf_rdma, "qpair %u req %u cid %u: %s -> %s\n", rqpair->id, rreq->idx,
		      rreq->cid, nvmf_rdma_req_state_str(rreq->state), nvmf_rdma_req_state_str(state));
	rreq->state = state;
}

static struct axon_nvmf_transport *req_transport(const struct rdma_req *rreq)
{
	return &rreq->rqpair->rtransport->base;
}

/* ---- allocation ---------------------------------------------------------------- */

int nvmf_rdma_reqs_alloc(struct rdma_qpair *rqpair, uint32_t num_reqs)
{
	size_t rsp_size = (size_t)num_reqs * sizeof(union axon_nvmf_cqe);
	uint32_t i;
	int rc;

	rqpair->reqs = calloc(num_reqs, sizeof(*rqpair->reqs));
	if (rqpair->reqs == NULL) {
		return -ENOMEM;
	}
	/* Responses leave by SEND from registered memory. */
	rqpair->rsps = axon_dma_zmalloc(rsp_size, 64, AXON_ENV_SOCKET_ID_ANY);
	if (rqpair->rsps == NULL) {
		rc = -ENOMEM;
		goto free_reqs;
	}
	rc = nvmf_rdma_verbs_translate(rqpair->dev, rqpair->rsps, rsp_size, &rqpair->rsp_lkey);
	if (rc != 0) {
		AXON_ERRLOG("qpair %u: response buffers not registered: %s\n", rqpair->id,
			    strerror(-rc));
		goto free_rsps;
	}
	rqpair->num_reqs = num_reqs;
	TAILQ_INIT(&rqpair->free_reqs);
	TAILQ_INIT(&rqpair->pending_read);
	TAILQ_INIT(&rqpair->pending_complete);
	for (i = 0; i < num_reqs; i++) {
		struct rdma_req *rreq = &rqpair->reqs[i];

		rreq->rqpair = rqpair;
		rreq->idx = (uint16_t)i;
		rreq->state = RDMA_REQ_STATE_FREE;
		rreq->rsp = &rqpair->rsps[i];
		rreq->data_ctx.type = RDMA_WR_DATA;
		rreq->send_ctx.type = RDMA_WR_SEND;
		TAILQ_INSERT_TAIL(&rqpair->free_reqs, rreq, link);
	}
	rqpair->state_count[RDMA_REQ_STATE_FREE] = num_reqs;
	return 0;

free_rsps:
	axon_dma_free(rqpair->rsps);
	rqpair->rsps = NULL;
free_reqs:
	free(rqpair->reqs);
	rqpair->reqs = NULL;
	return rc;
}

void nvmf_rdma_reqs_free(struct rdma_qpair *rqpair)
{
	assert(rqpair->reqs == NULL ||
	       rqpair->state_count[RDMA_REQ_STATE_FREE] == rqpair->num_reqs);
	axon_dma_free(rqpair->rsps);
	free(rqpair->reqs);
	rqpair->rsps = NULL;
	rqpair->reqs = NULL;
	rqpair->num_reqs = 0;
}

uint32_t nvmf_rdma_reqs_in_use(const struct rdma_qpair *rqpair)
{
	return rqpair->num_reqs - rqpair->state_count[RDMA_REQ_STATE_FREE];
}

static void req_reset(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;

	memset(&rreq->req, 0, sizeof(rreq->req));
	memset(&rreq->sgl, 0, sizeof(rreq->sgl));
	rreq->recv = NULL;
	rreq->recv_len = 0;
	rreq->status = 0;
	rreq->wrs_outstanding = 0;
	rreq->reads = 0;
	rreq->wr_error = false;
	rreq->num_data_wrs = 0;
	TAILQ_INSERT_HEAD(&rqpair->free_reqs, rreq, link);
}

/* ---- SGL checks ---------------------------------------------------------------- */

static uint16_t parse_in_capsule(const struct axon_nvme_sgl_desc *sgl, uint32_t icd_received,
				 uint32_t icd_max, struct rdma_sgl_info *info)
{
	uint64_t end = sgl->address + (uint64_t)sgl->unkeyed.length;

	/* Only host-to-controller data can travel in the capsule. */
	if (info->xfer != AXON_NVME_DATA_HOST_TO_CONTROLLER) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
	}
	if (sgl->address > icd_received || sgl->address > icd_max) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_OFFSET);
	}
	if (end > icd_received || end > icd_max) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_DATA);
	}
	info->in_capsule = true;
	info->icd_offset = (uint32_t)sgl->address;
	info->length = sgl->unkeyed.length;
	return 0;
}

static uint16_t parse_keyed(const struct axon_nvme_sgl_desc *sgl, uint32_t max_io,
			    struct rdma_sgl_info *info)
{
	if (sgl->keyed.subtype != AXON_NVME_SGL_SUBTYPE_ADDRESS &&
	    sgl->keyed.subtype != AXON_NVME_SGL_SUBTYPE_INVALIDATE_KEY) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
	}
	if (sgl->keyed.length > max_io) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_DATA);
	}
	/* Host memory without a key cannot be reached: no work request may name it. */
	if (sgl->keyed.length != 0 && sgl->keyed.key == 0) {
		return STATUS_DNR(NVME_SC_INVALID_FIELD);
	}
	info->keyed = sgl->keyed.length != 0;
	info->length = (uint32_t)sgl->keyed.length;
	info->remote_addr = sgl->address;
	info->rkey = (uint32_t)sgl->keyed.key;
	info->invalidate = info->keyed && sgl->keyed.subtype == AXON_NVME_SGL_SUBTYPE_INVALIDATE_KEY;
	return 0;
}

uint16_t nvmf_rdma_parse_sgl(const union axon_nvmf_sqe *cmd, uint32_t icd_received, uint32_t icd_max,
			uint32_t max_io, struct rdma_sgl_info *info)
{
	const struct axon_nvme_sgl_desc *sgl = &cmd->nvme.dptr.sgl1;

	memset(info, 0, sizeof(*info));
	info->xfer = axon_nvmf_sqe_get_data_xfer(cmd);
	switch (info->xfer) {
	case AXON_NVME_DATA_NONE:
		/* No data moves whatever the SGL says (hosts send a null keyed SGL). */
		return 0;
	case AXON_NVME_DATA_BIDIRECTIONAL:
		info->xfer = AXON_NVME_DATA_NONE;
		return STATUS_DNR(NVME_SC_INVALID_FIELD);
	default:
		break;
	}
	if (sgl->generic.type == AXON_NVME_SGL_TYPE_KEYED_DATA_BLOCK) {
		return parse_keyed(sgl, max_io, info);
	}
	if (sgl->generic.type == AXON_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl->generic.subtype == AXON_NVME_SGL_SUBTYPE_OFFSET) {
		return parse_in_capsule(sgl, icd_received, icd_max, info);
	}
	return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
}

/* ---- data work requests ---------------------------------------------------------------- */

/* Fill the local side of the data: one SGE per buffer, keyed by the device. */
static int req_map_buffers(struct rdma_req *rreq)
{
	uint32_t i;
	int rc;

	for (i = 0; i < rreq->req.iovcnt; i++) {
		struct ibv_sge *sge = &rreq->data_sge[i];

		sge->addr = (uintptr_t)rreq->req.iov[i].iov_base;
		sge->length = (uint32_t)rreq->req.iov[i].iov_len;
		rc = nvmf_rdma_verbs_translate(rreq->rqpair->dev, rreq->req.iov[i].iov_base,
					  rreq->req.iov[i].iov_len, &sge->lkey);
		if (rc != 0) {
			AXON_ERRLOG("qpair %u cid %u: data buffer %p not registered: %s\n",
				    rreq->rqpair->id, rreq->cid, rreq->req.iov[i].iov_base,
				    strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/*
 * Build the RDMA READs or WRITEs moving the first length bytes between the
 * buffers and [remote_addr, + length) of the host, max_send_sge buffers per
 * work request, chained. Returns their number.
 */
static uint32_t req_build_data_wrs(struct rdma_req *rreq, enum ibv_wr_opcode opcode,
				   uint32_t length)
{
	uint32_t max_sge = rreq->rqpair->max_send_sge;
	uint32_t left = length, idx = 0, n = 0;
	uint64_t offset = 0;

	while (left > 0 && n < RDMA_REQ_MAX_DATA_WRS) {
		struct ibv_send_wr *wr = &rreq->data_wr[n];
		uint32_t wr_len = 0;

		memset(wr, 0, sizeof(*wr));
		wr->wr_id = (uintptr_t)&rreq->data_ctx;
		wr->opcode = opcode;
		wr->send_flags = IBV_SEND_SIGNALED;
		wr->sg_list = &rreq->data_sge[idx];
		wr->wr.rdma.remote_addr = rreq->sgl.remote_addr + offset;
		wr->wr.rdma.rkey = rreq->sgl.rkey;
		while (left > 0 && (uint32_t)wr->num_sge < max_sge && idx < rreq->req.iovcnt) {
			uint32_t len = AXON_MIN(left, (uint32_t)rreq->req.iov[idx].iov_len);

			rreq->data_sge[idx].length = len;
			wr->num_sge++;
			wr_len += len;
			left -= len;
			idx++;
		}
		offset += wr_len;
		if (n > 0) {
			rreq->data_wr[n - 1].next = wr;
		}
		n++;
	}
	assert(left == 0);
	rreq->num_data_wrs = n;
	return n;
}

static uint32_t req_data_wrs_needed(const struct rdma_req *rreq)
{
	return AXON_DIV_ROUND_UP(rreq->req.iovcnt, rreq->rqpair->max_send_sge);
}

/* ---- the state machine --------------------------------------------------------------- */

static struct rdma_poll_group *req_group(const struct rdma_req *rreq)
{
	return rreq->rqpair->rgroup;
}

/* Fail a command before exec: lib/nvmf completes it with status, and the
 * response goes back like any other. */
static void req_fail(struct rdma_req *rreq, uint16_t status)
{
	if (rdma_qpair_is_dead(rreq->rqpair)) {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	rreq->req.length = 0;
	rreq->req.xfer = AXON_NVME_DATA_NONE;
	req_set_state(rreq, RDMA_REQ_STATE_EXECUTING);
	axon_nvmf_request_complete_with_status(&rreq->req, status);
}

static void req_state_new(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;
	const struct axon_nvmf_transport_opts *opts = &req_transport(rreq)->opts;
	uint32_t icd_received = rreq->recv_len - (uint32_t)sizeof(union axon_nvmf_sqe);
	uint16_t status;

	if (rdma_qpair_is_dead(rqpair)) {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	status = nvmf_rdma_parse_sgl(rreq->req.cmd, icd_received, opts->in_capsule_data_size,
				opts->max_io_size, &rreq->sgl);
	rreq->req.xfer = rreq->sgl.xfer;
	rreq->req.length = rreq->sgl.length;
	if (status != 0) {
		AXON_DEBUGLOG(nvmf_rdma, "qpair %u cid %u: bad SGL, status %#x\n", rqpair->id,
			      rreq->cid, status);
		req_fail(rreq, status);
		return;
	}
	if (rreq->req.length == 0) {
		rreq->req.xfer = AXON_NVME_DATA_NONE;
		req_set_state(rreq, RDMA_REQ_STATE_READY_TO_EXECUTE);
		return;
	}
	if (rreq->sgl.in_capsule) {
		rreq->req.iov[0].iov_base = rreq->recv->buf + sizeof(union axon_nvmf_sqe) +
					    rreq->sgl.icd_offset;
		rreq->req.iov[0].iov_len = rreq->req.length;
		rreq->req.iovcnt = 1;
		req_set_state(rreq, RDMA_REQ_STATE_READY_TO_EXECUTE);
		return;
	}
	TAILQ_INSERT_TAIL(&req_group(rreq)->pending_buf, rreq, link);
	rreq->on_list = true;
	req_set_state(rreq, RDMA_REQ_STATE_NEED_BUFFER);
}

static void req_state_need_buffer(struct rdma_req *rreq)
{
	struct rdma_poll_group *rgroup = req_group(rreq);
	struct rdma_qpair *rqpair = rreq->rqpair;
	int rc;

	if (rdma_qpair_is_dead(rqpair)) {
		TAILQ_REMOVE(&rgroup->pending_buf, rreq, link);
		rreq->on_list = false;
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	/* First come, first served across the group's queue pairs. */
	if (rreq != TAILQ_FIRST(&rgroup->pending_buf)) {
		return;
	}
	rc = axon_nvmf_request_get_buffers(&rreq->req, &rgroup->base, req_transport(rreq),
					   rreq->req.length);
	if (rc == -ENOMEM) {
		rgroup->pending_buf_waits++;
		return;
	}
	TAILQ_REMOVE(&rgroup->pending_buf, rreq, link);
	rreq->on_list = false;
	if (rc != 0) {
		req_fail(rreq, STATUS_DNR(NVME_SC_SGL_INVALID_DATA));
		return;
	}
	rgroup->buffers_in_use += rreq->req.num_buffers;
	if (req_map_buffers(rreq) != 0 || req_data_wrs_needed(rreq) > RDMA_REQ_MAX_DATA_WRS) {
		req_fail(rreq, STATUS_DNR(NVME_SC_INTERNAL));
		return;
	}
	if (rreq->req.xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER) {
		TAILQ_INSERT_TAIL(&rqpair->pending_read, rreq, link);
		rreq->on_list = true;
		req_set_state(rreq, RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER);
	} else {
		req_set_state(rreq, RDMA_REQ_STATE_READY_TO_EXECUTE);
	}
}

/* Pull the host's data once the ORD and the send queue have room for all of
 * this request's READs (a request needing more READs than the ORD goes alone:
 * the QP paces READs beyond its max_rd_atomic itself). */
static void req_state_pending_read(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;
	uint32_t n;

	if (rdma_qpair_is_dead(rqpair)) {
		TAILQ_REMOVE(&rqpair->pending_read, rreq, link);
		rreq->on_list = false;
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	if (rreq != TAILQ_FIRST(&rqpair->pending_read)) {
		return;
	}
	n = req_data_wrs_needed(rreq);
	if ((rqpair->reads_used != 0 && rqpair->reads_used + n > rqpair->max_reads) ||
	    rqpair->send_wrs_used + n > rqpair->max_send_wr) {
		return;
	}
	TAILQ_REMOVE(&rqpair->pending_read, rreq, link);
	rreq->on_list = false;
	n = req_build_data_wrs(rreq, IBV_WR_RDMA_READ, rreq->req.length);
	rreq->wrs_outstanding = n;
	rreq->reads = n;
	rqpair->reads_used += n;
	rqpair->send_wrs_used += n;
	req_set_state(rreq, RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	nvmf_rdma_qpair_stage_send(rqpair, &rreq->data_wr[0], &rreq->data_wr[n - 1], n);
}

static void req_state_transferring_h2c(struct rdma_req *rreq)
{
	if (rreq->wrs_outstanding != 0) {
		return;
	}
	/* A READ in error took the connection down with it. */
	if (rreq->wr_error || rdma_qpair_is_dead(rreq->rqpair)) {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	req_set_state(rreq, RDMA_REQ_STATE_READY_TO_EXECUTE);
}

static void req_state_ready_to_execute(struct rdma_req *rreq)
{
	if (rdma_qpair_is_dead(rreq->rqpair)) {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	req_set_state(rreq, RDMA_REQ_STATE_EXECUTING);
	axon_nvmf_request_exec(&rreq->req);
}

/* The capsule (command and in-capsule data) is no longer needed: its receive
 * goes back before the response leaves, so that the host finds it posted when
 * the response lets it send the next command. */
static void req_release_recv(struct rdma_req *rreq)
{
	if (rreq->recv != NULL) {
		nvmf_rdma_recv_release(rreq->recv);
		rreq->recv = NULL;
		rreq->req.cmd = NULL;
	}
}

static void req_state_executed(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;

	req_release_recv(rreq);
	if (rdma_qpair_is_dead(rqpair)) {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	TAILQ_INSERT_TAIL(&rqpair->pending_complete, rreq, link);
	rreq->on_list = true;
	req_set_state(rreq, RDMA_REQ_STATE_READY_TO_COMPLETE);
}

static void req_build_send(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;
	struct ibv_send_wr *wr = &rreq->send_wr;

	rreq->send_sge.addr = (uintptr_t)rreq->rsp;
	rreq->send_sge.length = sizeof(*rreq->rsp);
	rreq->send_sge.lkey = rqpair->rsp_lkey;
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = (uintptr_t)&rreq->send_ctx;
	wr->sg_list = &rreq->send_sge;
	wr->num_sge = 1;
	wr->send_flags = IBV_SEND_SIGNALED;
	/* The host registered its buffer for this command alone and asked us to
	 * invalidate the key with the response (saving it a local invalidate). */
	if (rreq->sgl.invalidate && rqpair->can_invalidate) {
		wr->opcode = IBV_WR_SEND_WITH_INV;
		wr->invalidate_rkey = rreq->sgl.rkey;
	} else {
		wr->opcode = IBV_WR_SEND;
	}
}

/* RDMA WRITEs of a successful read's data, chained in front of the response
 * SEND: one post, and the SEND (ordered after them) tells the host all is there. */
static void req_state_ready_to_complete(struct rdma_req *rreq)
{
	struct rdma_qpair *rqpair = rreq->rqpair;
	uint32_t writes = 0;

	if (rdma_qpair_is_dead(rqpair)) {
		TAILQ_REMOVE(&rqpair->pending_complete, rreq, link);
		rreq->on_list = false;
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
		return;
	}
	if (rreq != TAILQ_FIRST(&rqpair->pending_complete)) {
		return;
	}
	if (rreq->req.xfer == AXON_NVME_DATA_CONTROLLER_TO_HOST && rreq->req.length != 0 &&
	    rreq->sgl.keyed && !axon_nvme_cpl_is_error(&rreq->rsp->nvme)) {
		writes = AXON_DIV_ROUND_UP(rreq->req.iovcnt, rqpair->max_send_sge);
	}
	if (rqpair->send_wrs_used + writes + 1 > rqpair->max_send_wr) {
		return;
	}
	TAILQ_REMOVE(&rqpair->pending_complete, rreq, link);
	rreq->on_list = false;
	if (writes != 0) {
		/* lib/nvmf may have shortened the data (a short log page). */
		writes = req_build_data_wrs(rreq, IBV_WR_RDMA_WRITE,
					    AXON_MIN(rreq->req.length, rreq->sgl.length));
	}
	req_build_send(rreq);
	rreq->wrs_outstanding = writes + 1;
	rqpair->send_wrs_used += writes + 1;
	if (writes != 0) {
		rreq->data_wr[writes - 1].next = &rreq->send_wr;
		req_set_state(rreq, RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST);
		nvmf_rdma_qpair_stage_send(rqpair, &rreq->data_wr[0], &rreq->send_wr, writes + 1);
	} else {
		req_set_state(rreq, RDMA_REQ_STATE_COMPLETING);
		nvmf_rdma_qpair_stage_send(rqpair, &rreq->send_wr, &rreq->send_wr, 1);
	}
}

static void req_state_completed(struct rdma_req *rreq)
{
	struct rdma_poll_group *rgroup = req_group(rreq);

	/* The NIC may touch the buffers until every work request came back. */
	if (rreq->wrs_outstanding != 0) {
		return;
	}
	req_release_recv(rreq);
	if (rreq->req.num_buffers != 0) {
		assert(rgroup->buffers_in_use >= rreq->req.num_buffers);
		rgroup->buffers_in_use -= rreq->req.num_buffers;
		axon_nvmf_request_free_buffers(&rreq->req, &rgroup->base, req_transport(rreq));
	}
	req_set_state(rreq, RDMA_REQ_STATE_FREE);
	req_reset(rreq);
}

void nvmf_rdma_req_process(struct rdma_req *rreq)
{
	enum rdma_req_state prev;

	do {
		prev = rreq->state;
		switch (rreq->state) {
		case RDMA_REQ_STATE_NEW:
			req_state_new(rreq);
			break;
		case RDMA_REQ_STATE_NEED_BUFFER:
			req_state_need_buffer(rreq);
			break;
		case RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER:
			req_state_pending_read(rreq);
			break;
		case RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER:
			req_state_transferring_h2c(rreq);
			break;
		case RDMA_REQ_STATE_READY_TO_EXECUTE:
			req_state_ready_to_execute(rreq);
			break;
		case RDMA_REQ_STATE_EXECUTING:
			/* lib/nvmf has it: req_complete moves it on. */
			break;
		case RDMA_REQ_STATE_EXECUTED:
			req_state_executed(rreq);
			break;
		case RDMA_REQ_STATE_READY_TO_COMPLETE:
			req_state_ready_to_complete(rreq);
			break;
		case RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST:
		case RDMA_REQ_STATE_COMPLETING:
			if (rreq->wrs_outstanding == 0) {
				req_set_state(rreq, RDMA_REQ_STATE_COMPLETED);
			}
			break;
		case RDMA_REQ_STATE_COMPLETED:
			req_state_completed(rreq);
			break;
		case RDMA_REQ_STATE_FREE:
		default:
			break;
		}
	} while (rreq->state != prev);
}

/* ---- entry points ---------------------------------------------------------------- */

int nvmf_rdma_req_on_capsule(struct rdma_qpair *rqpair, struct rdma_recv *recv, uint32_t len)
{
	struct rdma_req *rreq = TAILQ_FIRST(&rqpair->free_reqs);

	/* More commands than the queue has entries: the host broke SQ flow control. */
	if (rreq == NULL) {
		AXON_ERRLOG("qpair %u: command capsule with all %u requests in use\n", rqpair->id,
			    rqpair->num_reqs);
		return -EPROTO;
	}
	assert(len >= sizeof(union axon_nvmf_sqe));
	TAILQ_REMOVE(&rqpair->free_reqs, rreq, link);
	rreq->recv = recv;
	rreq->recv_len = len;
	rreq->req.qpair = &rqpair->qpair;
	rreq->req.cmd = (union axon_nvmf_sqe *)recv->buf;
	rreq->req.rsp = rreq->rsp;
	memset(rreq->rsp, 0, sizeof(*rreq->rsp));
	rreq->cid = rreq->req.cmd->nvme.cid;
	req_set_state(rreq, RDMA_REQ_STATE_NEW);
	nvmf_rdma_req_process(rreq);
	return 0;
}

void nvmf_rdma_req_on_wr_done(struct rdma_req *rreq, bool is_send, bool ok)
{
	struct rdma_qpair *rqpair = rreq->rqpair;

	assert(rreq->wrs_outstanding > 0 && rqpair->send_wrs_used > 0);
	rreq->wrs_outstanding--;
	rqpair->send_wrs_used--;
	/* The opcode of a completion in error is undefined: the state says what
	 * the data work requests were. */
	if (!is_send && rreq->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER) {
		assert(rreq->reads > 0 && rqpair->reads_used > 0);
		rreq->reads--;
		rqpair->reads_used--;
	}
	if (!ok) {
		rreq->wr_error = true;
	}
	nvmf_rdma_req_process(rreq);
	nvmf_rdma_qpair_process_pending(rqpair);
}

void nvmf_rdma_qpair_process_pending(struct rdma_qpair *rqpair)
{
	struct rdma_req *rreq;

	/* Responses first: they free what new commands need. */
	while ((rreq = TAILQ_FIRST(&rqpair->pending_complete)) != NULL) {
		nvmf_rdma_req_process(rreq);
		if (rreq == TAILQ_FIRST(&rqpair->pending_complete)) {
			break;
		}
	}
	while ((rreq = TAILQ_FIRST(&rqpair->pending_read)) != NULL) {
		nvmf_rdma_req_process(rreq);
		if (rreq == TAILQ_FIRST(&rqpair->pending_read)) {
			break;
		}
	}
}

int nvmf_rdma_req_complete(struct axon_nvmf_request *req)
{
	struct rdma_req *rreq = rdma_req_from_base(req);

	if (rreq->state != RDMA_REQ_STATE_EXECUTING) {
		AXON_ERRLOG("qpair %u cid %u completed in state %s\n", rreq->rqpair->id, rreq->cid,
			    nvmf_rdma_req_state_str(rreq->state));
		return -EINVAL;
	}
	req_set_state(rreq, RDMA_REQ_STATE_EXECUTED);
	nvmf_rdma_req_process(rreq);
	return 0;
}

int nvmf_rdma_group_process_pending_buf(struct rdma_poll_group *rgroup)
{
	struct rdma_req *rreq;
	int count = 0;

	while ((rreq = TAILQ_FIRST(&rgroup->pending_buf)) != NULL) {
		nvmf_rdma_req_process(rreq);
		if (rreq == TAILQ_FIRST(&rgroup->pending_buf)) {
			break; /* still no buffers */
		}
		count++;
	}
	return count;
}

bool nvmf_rdma_qpair_abort_request(struct axon_nvmf_qpair *qpair, uint16_t cid)
{
	struct rdma_qpair *rqpair = rdma_qpair_from_base(qpair);
	uint32_t i;

	for (i = 0; i < rqpair->num_reqs; i++) {
		struct rdma_req *rreq = &rqpair->reqs[i];

		if (rreq->cid != cid) {
			continue;
		}
		/* Only a request that has not touched host memory yet can go. */
		if (rreq->state == RDMA_REQ_STATE_NEED_BUFFER) {
			TAILQ_REMOVE(&rqpair->rgroup->pending_buf, rreq, link);
		} else if (rreq->state == RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER) {
			TAILQ_REMOVE(&rqpair->pending_read, rreq, link);
		} else {
			continue;
		}
		rreq->on_list = false;
		req_fail(rreq, STATUS_RETRY(NVME_SC_ABORT_REQ));
		nvmf_rdma_req_process(rreq);
		return true;
	}
	return false;
}

void nvmf_rdma_reqs_abandon(struct rdma_qpair *rqpair)
{
	uint32_t i;

	assert(rdma_qpair_is_dead(rqpair));
	for (i = 0; i < rqpair->num_reqs; i++) {
		struct rdma_req *rreq = &rqpair->reqs[i];

		if (rreq->state != RDMA_REQ_STATE_FREE && rreq->state != RDMA_REQ_STATE_EXECUTING) {
			nvmf_rdma_req_process(rreq);
		}
	}
}
