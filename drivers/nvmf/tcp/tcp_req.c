/*
 * NVMe/TCP requests: one explicit state machine per command.
 *
 *   NEW -> (in-capsule data or none) -> READY_TO_EXECUTE
 *       -> NEED_BUFFER -> TRANSFERRING_HOST_TO_CONTROLLER (R2T / H2CData) -> READY_TO_EXECUTE
 *                      -> READY_TO_EXECUTE (reads)
 *   READY_TO_EXECUTE -> EXECUTING (lib/nvmf) -> EXECUTED
 *       -> TRANSFERRING_CONTROLLER_TO_HOST (C2HData / CapsuleResp) -> COMPLETED -> FREE
 *
 * Every event (capsule or data received, buffers freed, a write done,
 * lib/nvmf's completion, the connection's end) calls tcp_req_process(), which
 * moves the request as far as it can go. A request whose connection is gone
 * heads for COMPLETED from whatever state it is in, except EXECUTING: lib/nvmf
 * hands it back through req_complete first (it does so before qpair_fini).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/util.h"
#include "tcp_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvmf_tcp)

#define STATUS_DNR(sc) ((uint16_t)(AXON_NVME_STATUS(NVME_SCT_GENERIC, (sc)) | AXON_NVME_STATUS_DNR))
#define STATUS_RETRY(sc) AXON_NVME_STATUS(NVME_SCT_GENERIC, (sc))

static const char *const g_req_state_names[TCP_REQ_NUM_STATES] = {
	[TCP_REQ_STATE_FREE] = "FREE",
	[TCP_REQ_STATE_NEW] = "NEW",
	[TCP_REQ_STATE_NEED_BUFFER] = "NEED_BUFFER",
	[TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER] = "TRANSFERRING_HOST_TO_CONTROLLER",
	[TCP_REQ_STATE_READY_TO_EXECUTE] = "READY_TO_EXECUTE",
	[TCP_REQ_STATE_EXECUTING] = "EXECUTING",
	[TCP_REQ_STATE_EXECUTED] = "EXECUTED",
	[TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST] = "TRANSFERRING_CONTROLLER_TO_HOST",
	[TCP_REQ_STATE_COMPLETED] = "COMPLETED",
};

const char *tcp_req_state_str(enum tcp_req_state state)
{
	return state < TCP_REQ_NUM_STATES ? g_req_state_names[state] : "?";
}

/* The one place a request changes state: counted per queue pair and traced. */
static void req_set_state(struct tcp_req *treq, enum tcp_req_state state)
{
	struct tcp_qpair *tqpair = treq->tqpair;

	assert(tqpair->state_count[treq->state] > 0);
	tqpair->state_count[treq->state]--;
	tqpair->state_count[state]++;
	AXON_DEBUGLOG(nvmf_tcp, "qpair %u ttag %u cid %u: %s -> %s\n", tqpair->id, treq->ttag,
		      treq->cmd.nvme.cid, tcp_req_state_str(treq->state), tcp_req_state_str(state));
	treq->state = state;
}

static struct axon_nvmf_transport *req_transport(const struct tcp_req *treq)
{
	return &treq->tqpair->ttransport->base;
}

/* ---- allocation ---------------------------------------------------------------- */

int tcp_reqs_alloc(struct tcp_qpair *tqpair, uint32_t num_reqs, uint32_t icd_size)
{
	uint32_t i;

	tqpair->reqs = calloc(num_reqs, sizeof(*tqpair->reqs));
	if (tqpair->reqs == NULL) {
		return -ENOMEM;
	}
	if (icd_size != 0) {
		/* Bdevs may DMA straight from in-capsule data: DMA-safe memory. */
		tqpair->icd_bufs = axon_dma_malloc((size_t)num_reqs * icd_size, 4096,
						   AXON_ENV_SOCKET_ID_ANY);
		if (tqpair->icd_bufs == NULL) {
			free(tqpair->reqs);
			tqpair->reqs = NULL;
			return -ENOMEM;
		}
	}
	tqpair->num_reqs = num_reqs;
	tqpair->icd_size = icd_size;
	TAILQ_INIT(&tqpair->free_reqs);
	for (i = 0; i < num_reqs; i++) {
		struct tcp_req *treq = &tqpair->reqs[i];
		uint32_t s;

		treq->tqpair = tqpair;
		treq->ttag = (uint16_t)i;
		treq->state = TCP_REQ_STATE_FREE;
		treq->icd_buf = icd_size != 0 ? tqpair->icd_bufs + (size_t)i * icd_size : NULL;
		for (s = 0; s < TCP_MAX_R2T_PER_REQ; s++) {
			treq->r2t[s].treq = treq;
		}
		TAILQ_INSERT_TAIL(&tqpair->free_reqs, treq, link);
	}
	tqpair->state_count[TCP_REQ_STATE_FREE] = num_reqs;
	return 0;
}

void tcp_reqs_free(struct tcp_qpair *tqpair)
{
	assert(tqpair->reqs == NULL || tqpair->state_count[TCP_REQ_STATE_FREE] == tqpair->num_reqs);
	axon_dma_free(tqpair->icd_bufs);
	free(tqpair->reqs);
	tqpair->icd_bufs = NULL;
	tqpair->reqs = NULL;
	tqpair->num_reqs = 0;
}

static void req_reset(struct tcp_req *treq)
{
	struct tcp_qpair *tqpair = treq->tqpair;

	memset(&treq->req, 0, sizeof(treq->req));
	treq->status = 0;
	treq->capsule_done = false;
	treq->in_capsule = false;
	treq->ddgst_error = false;
	treq->h2c_offset = 0;
	treq->r2t_offset = 0;
	treq->r2t_head = 0;
	treq->r2t_count = 0;
	treq->r2t_slot = 0;
	TAILQ_INSERT_HEAD(&tqpair->free_reqs, treq, link);
}

/* ---- capsules: SGL checks before a byte of data lands ---------------------------- */

/* In-capsule data the queue accepts: 8 KiB on the admin queue (and before
 * Connect told us which queue this is), in_capsule_data_size on I/O queues. */
static uint32_t qpair_icd_limit(const struct tcp_qpair *tqpair)
{
	uint32_t icd = tqpair->ttransport->base.opts.in_capsule_data_size;

	if (tqpair->qpair.state == AXON_NVMF_QPAIR_ENABLED && tqpair->qpair.qid != 0) {
		return icd;
	}
	return AXON_MAX(icd, TCP_ADMIN_ICD_SIZE);
}

/* In-capsule data: data_len bytes land in the request's buffer; the command's
 * data is the SGL's [offset, offset + length) of them. */
static uint16_t req_map_in_capsule(struct tcp_req *treq, const struct axon_nvme_sgl_desc *sgl,
				   uint32_t data_len, struct tcp_rx_dst *dst)
{
	struct tcp_qpair *tqpair = treq->tqpair;
	uint32_t len = sgl->unkeyed.length;
	int rc;

	if (treq->req.xfer != AXON_NVME_DATA_HOST_TO_CONTROLLER) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
	}
	if (sgl->address > data_len) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_OFFSET);
	}
	if (len > data_len - sgl->address || data_len > qpair_icd_limit(tqpair)) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_DATA);
	}
	treq->req.length = len;
	treq->in_capsule = true;
	if (data_len == 0) {
		return 0;
	}
	if (data_len <= tqpair->icd_size) {
		treq->req.iov[0].iov_base = treq->icd_buf + sgl->address;
		treq->req.iov[0].iov_len = len;
		treq->req.iovcnt = 1;
		treq->tx_iov[0].iov_base = treq->icd_buf;
		treq->tx_iov[0].iov_len = data_len;
		dst->iov = &treq->tx_iov[0];
		dst->iovcnt = 1;
		return 0;
	}
	/* More than a request's own buffer (admin queue only): pool buffers. */
	if (sgl->address != 0) {
		return STATUS_DNR(NVME_SC_SGL_INVALID_OFFSET);
	}
	rc = axon_nvmf_request_get_buffers(&treq->req, &tqpair->tgroup->base,
					   req_transport(treq), data_len);
	if (rc != 0) {
		return STATUS_RETRY(NVME_SC_CMD_INTERRUPTED);
	}
	dst->iov = treq->req.iov;
	dst->iovcnt = treq->req.iovcnt;
	return 0;
}

/* Decide where the command's data comes from; returns an NVMe status. */
static uint16_t req_map_sgl(struct tcp_req *treq, uint32_t data_len, struct tcp_rx_dst *dst)
{
	const struct axon_nvme_sgl_desc *sgl = &treq->cmd.nvme.dptr.sgl1;
	uint32_t max_io = req_transport(treq)->opts.max_io_size;

	treq->req.xfer = axon_nvmf_sqe_get_data_xfer(&treq->cmd);
	switch (treq->req.xfer) {
	case AXON_NVME_DATA_NONE:
		return data_len == 0 ? 0 : STATUS_DNR(NVME_SC_SGL_INVALID_DATA);
	case AXON_NVME_DATA_BIDIRECTIONAL:
		return STATUS_DNR(NVME_SC_INVALID_FIELD);
	default:
		break;
	}
	if (sgl->generic.type == AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK &&
	    sgl->generic.subtype == AXON_NVME_SGL_SUBTYPE_TRANSPORT) {
		if (data_len != 0) {
			return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
		}
		if (sgl->unkeyed.length > max_io) {
			return STATUS_DNR(NVME_SC_SGL_INVALID_DATA);
		}
		treq->req.length = sgl->unkeyed.length;
		return 0;
	}
	if (sgl->generic.type == AXON_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl->generic.subtype == AXON_NVME_SGL_SUBTYPE_OFFSET) {
		return req_map_in_capsule(treq, sgl, data_len, dst);
	}
	return STATUS_DNR(NVME_SC_SGL_INVALID_TYPE);
}

int tcp_req_on_capsule(struct tcp_qpair *tqpair, const struct axon_nvme_tcp_cmd *pdu,
		       uint32_t data_len, struct tcp_rx_dst *dst, struct tcp_rx_err *err)
{
	struct tcp_req *treq = TAILQ_FIRST(&tqpair->free_reqs);

	/* More commands than the queue has entries: the host broke SQ flow control. */
	if (treq == NULL) {
		AXON_ERRLOG("qpair %u: command capsule with all %u requests in use\n", tqpair->id,
			    tqpair->num_reqs);
		err->fes = AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR;
		err->fei = 0;
		return -EPROTO;
	}
	TAILQ_REMOVE(&tqpair->free_reqs, treq, link);
	memcpy(&treq->cmd, &pdu->ccsqe, sizeof(treq->cmd));
	memset(&treq->rsp, 0, sizeof(treq->rsp));
	treq->req.qpair = &tqpair->qpair;
	treq->req.cmd = &treq->cmd;
	treq->req.rsp = &treq->rsp;
	req_set_state(treq, TCP_REQ_STATE_NEW);
	dst->iov = NULL;
	treq->status = req_map_sgl(treq, data_len, dst);
	if (treq->status != 0) {
		/* Drop the data (dst NULL): the command fails, the stream goes on. */
		dst->iov = NULL;
		treq->req.length = 0;
		treq->req.xfer = AXON_NVME_DATA_NONE;
	}
	tqpair->rx_req = treq;
	return 0;
}

/* ---- H2CData: each PDU against the R2Ts we sent ----------------------------------------- */

static int h2c_fail(struct tcp_rx_err *err, uint16_t fes, uint32_t fei)
{
	err->fes = fes;
	err->fei = fei;
	return -EPROTO;
}

int tcp_req_on_h2c_data(struct tcp_qpair *tqpair, const struct axon_nvme_tcp_data_hdr *pdu,
			struct tcp_rx_dst *dst, struct tcp_rx_err *err)
{
	struct tcp_req *treq;
	uint64_t end = (uint64_t)pdu->datao + pdu->datal;
	uint32_t r2t_end;
	bool last;

	if (pdu->ttag >= tqpair->num_reqs) {
		return h2c_fail(err, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct axon_nvme_tcp_data_hdr, ttag));
	}
	treq = &tqpair->reqs[pdu->ttag];
	if (treq->state != TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER || treq->r2t_count == 0) {
		return h2c_fail(err, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct axon_nvme_tcp_data_hdr, ttag));
	}
	if (pdu->cccid != treq->cmd.nvme.cid) {
		return h2c_fail(err, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct axon_nvme_tcp_data_hdr, cccid));
	}
	if (end > treq->req.length) {
		return h2c_fail(err, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
	}
	if (pdu->datao != treq->h2c_offset) {
		return h2c_fail(err, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct axon_nvme_tcp_data_hdr, datao));
	}
	r2t_end = treq->r2t_end[treq->r2t_head];
	if (end > r2t_end) {
		return h2c_fail(err, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
	}
	/* LAST_PDU marks the PDU that ends the R2T's data, and only that one. */
	last = (pdu->common.flags & AXON_NVME_TCP_FLAG_LAST_PDU) != 0;
	if (last != (end == r2t_end)) {
		return h2c_fail(err, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct axon_nvme_tcp_common_hdr, flags));
	}
	dst->iov = treq->req.iov;
	dst->iovcnt = treq->req.iovcnt;
	dst->offset = pdu->datao;
	tqpair->rx_req = treq;
	return 0;
}

int tcp_req_on_pdu_done(struct tcp_qpair *tqpair, bool ddgst_ok)
{
	struct tcp_req *treq = tqpair->rx_req;

	assert(treq != NULL);
	tqpair->rx_req = NULL;
	if (!ddgst_ok) {
		AXON_ERRLOG("qpair %u cid %u: data digest error\n", tqpair->id, treq->cmd.nvme.cid);
		treq->ddgst_error = true;
	}
	if (treq->state == TCP_REQ_STATE_NEW) {
		treq->capsule_done = true;
	} else {
		assert(treq->state == TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
		treq->h2c_offset += tqpair->rx.data_len;
		if (treq->h2c_offset == treq->r2t_end[treq->r2t_head]) {
			treq->r2t_head = (treq->r2t_head + 1) % TCP_MAX_R2T_PER_REQ;
			treq->r2t_count--;
		}
	}
	tcp_req_process(treq);
	return 0;
}

/* ---- sending --------------------------------------------------------------------------- */

static void r2t_write_done(void *cb_arg, int err)
{
	struct tcp_r2t *r2t = cb_arg;
	struct tcp_req *treq = r2t->treq;

	r2t->iov.iov_len = 0; /* slot free again */
	assert(treq->writes_pending > 0);
	treq->writes_pending--;
	tcp_req_process(treq);
}

/* Ask for the next pieces of the data, MAXH2CDATA at most each, keeping up to
 * max_r2t_per_req R2Ts outstanding. */
static void req_send_r2ts(struct tcp_req *treq)
{
	struct tcp_qpair *tqpair = treq->tqpair;

	while (treq->r2t_count < tqpair->max_r2t_per_req && treq->r2t_offset < treq->req.length) {
		struct tcp_r2t *r2t = &treq->r2t[treq->r2t_slot];
		uint32_t len = AXON_MIN(treq->req.length - treq->r2t_offset, TCP_MAXH2CDATA);
		uint32_t idx = (treq->r2t_head + treq->r2t_count) % TCP_MAX_R2T_PER_REQ;

		/* A host that answers an R2T before it left (guessing the ttag)
		 * must not make us reuse a slot still queued on the socket. */
		if (r2t->iov.iov_len != 0) {
			return;
		}
		r2t->iov.iov_base = r2t->pdu;
		r2t->iov.iov_len = tcp_pdu_build_r2t(r2t->pdu, treq->cmd.nvme.cid, treq->ttag,
						     treq->r2t_offset, len, tqpair->hdgst);
		r2t->sreq.iov = &r2t->iov;
		r2t->sreq.iovcnt = 1;
		r2t->sreq.cb_fn = r2t_write_done;
		r2t->sreq.cb_arg = r2t;
		treq->r2t_end[idx] = treq->r2t_offset + len;
		treq->r2t_count++;
		treq->r2t_offset += len;
		treq->r2t_slot = (treq->r2t_slot + 1) % TCP_MAX_R2T_PER_REQ;
		treq->writes_pending++;
		if (tcp_qpair_write(tqpair, &r2t->sreq) != 0) {
			r2t->iov.iov_len = 0;
			treq->writes_pending--;
			return;
		}
	}
}

static void tx_write_done(void *cb_arg, int err)
{
	struct tcp_req *treq = cb_arg;

	assert(treq->writes_pending > 0);
	treq->writes_pending--;
	tcp_req_process(treq);
}

/* The data of a successful controller-to-host command as one C2HData PDU;
 * returns the iovecs used and whether it carries SUCCESS. */
static uint32_t req_build_c2h(struct tcp_req *treq, bool *success_flag)
{
	struct tcp_qpair *tqpair = treq->tqpair;
	const struct axon_nvme_cpl *cpl = &treq->rsp.nvme;
	uint32_t left = treq->req.length;
	uint32_t n = 0, i;
	uint8_t flags = AXON_NVME_TCP_FLAG_LAST_PDU;
	size_t pdo;

	/* SUCCESS replaces the response capsule, which also reports SQHD: only
	 * when the host turned SQ flow control off, and nothing else is in the CQE. */
	*success_flag = tqpair->ttransport->sopts.c2h_success && !tqpair->qpair.sq_flow_control &&
			cpl->cdw0 == 0 && cpl->cdw1 == 0;
	if (*success_flag) {
		flags |= AXON_NVME_TCP_FLAG_SUCCESS;
	}
	pdo = tcp_pdu_build_c2h_data(treq->c2h_hdr, cpl->cid, 0, treq->req.length, flags,
				     tqpair->hdgst, tqpair->ddgst, tqpair->hpda);
	treq->tx_iov[n].iov_base = treq->c2h_hdr;
	treq->tx_iov[n++].iov_len = pdo;
	for (i = 0; i < treq->req.iovcnt && left > 0; i++) {
		size_t len = AXON_MIN((size_t)left, treq->req.iov[i].iov_len);

		treq->tx_iov[n].iov_base = treq->req.iov[i].iov_base;
		treq->tx_iov[n++].iov_len = len;
		left -= (uint32_t)len;
	}
	if (tqpair->ddgst) {
		uint32_t crc = tcp_pdu_data_digest(treq->req.iov, treq->req.iovcnt, treq->req.length);

		memcpy(treq->ddgst, &crc, sizeof(crc)); /* little-endian host */
		treq->tx_iov[n].iov_base = treq->ddgst;
		treq->tx_iov[n++].iov_len = sizeof(treq->ddgst);
	}
	return n;
}

/* Queue the C2HData (for a read that succeeded) and/or the response capsule
 * in one write. Returns 0, or -ENOTCONN when the connection is over. */
static int req_send_response(struct tcp_req *treq)
{
	struct tcp_qpair *tqpair = treq->tqpair;
	bool success_flag = false;
	uint32_t n = 0;
	int rc;

	if (treq->req.xfer == AXON_NVME_DATA_CONTROLLER_TO_HOST && treq->req.length != 0 &&
	    !axon_nvme_cpl_is_error(&treq->rsp.nvme)) {
		n = req_build_c2h(treq, &success_flag);
	}
	if (!success_flag) {
		treq->tx_iov[n].iov_base = treq->rsp_pdu;
		treq->tx_iov[n++].iov_len = tcp_pdu_build_capsule_resp(treq->rsp_pdu, &treq->rsp,
								       tqpair->hdgst);
	}
	treq->tx_sreq.iov = treq->tx_iov;
	treq->tx_sreq.iovcnt = (int)n;
	treq->tx_sreq.cb_fn = tx_write_done;
	treq->tx_sreq.cb_arg = treq;
	treq->writes_pending++;
	rc = tcp_qpair_write(tqpair, &treq->tx_sreq);
	if (rc != 0) {
		treq->writes_pending--;
	}
	return rc;
}

/* ---- the state machine --------------------------------------------------------------- */

/* Fail a command before exec: lib/nvmf completes it with status. */
static void req_fail(struct tcp_req *treq, uint16_t status)
{
	if (tcp_qpair_is_dead(treq->tqpair)) {
		req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		return;
	}
	treq->req.length = 0;
	treq->req.xfer = AXON_NVME_DATA_NONE;
	req_set_state(treq, TCP_REQ_STATE_EXECUTING);
	axon_nvmf_request_complete_with_status(&treq->req, status);
}

static void req_state_new(struct tcp_req *treq)
{
	struct tcp_qpair *tqpair = treq->tqpair;

	if (!treq->capsule_done) {
		if (tcp_qpair_is_dead(tqpair)) {
			req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		}
		return;
	}
	if (treq->ddgst_error) {
		req_fail(treq, STATUS_RETRY(NVME_SC_TRAN_TPORT_ERROR));
	} else if (treq->status != 0) {
		req_fail(treq, treq->status);
	} else if (treq->in_capsule || treq->req.length == 0) {
		req_set_state(treq, TCP_REQ_STATE_READY_TO_EXECUTE);
	} else {
		TAILQ_INSERT_TAIL(&tqpair->tgroup->pending_buf, treq, link);
		req_set_state(treq, TCP_REQ_STATE_NEED_BUFFER);
	}
}

static void req_state_need_buffer(struct tcp_req *treq)
{
	struct tcp_poll_group *tgroup = treq->tqpair->tgroup;
	int rc;

	if (tcp_qpair_is_dead(treq->tqpair)) {
		TAILQ_REMOVE(&tgroup->pending_buf, treq, link);
		req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		return;
	}
	/* First come, first served across the group's queue pairs. */
	if (treq != TAILQ_FIRST(&tgroup->pending_buf)) {
		return;
	}
	rc = axon_nvmf_request_get_buffers(&treq->req, &tgroup->base, req_transport(treq),
					   treq->req.length);
	if (rc == -ENOMEM) {
		tgroup->stats.pending_buf_waits++;
		return;
	}
	TAILQ_REMOVE(&tgroup->pending_buf, treq, link);
	if (rc != 0) {
		req_fail(treq, STATUS_DNR(NVME_SC_SGL_INVALID_DATA));
		return;
	}
	if (treq->req.xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER) {
		req_set_state(treq, TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
		req_send_r2ts(treq);
	} else {
		req_set_state(treq, TCP_REQ_STATE_READY_TO_EXECUTE);
	}
}

static void req_state_h2c(struct tcp_req *treq)
{
	if (tcp_qpair_is_dead(treq->tqpair)) {
		if (treq->writes_pending == 0) {
			req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		}
		return;
	}
	if (treq->h2c_offset < treq->req.length) {
		req_send_r2ts(treq);
		return;
	}
	if (treq->ddgst_error) {
		req_fail(treq, STATUS_RETRY(NVME_SC_TRAN_TPORT_ERROR));
		return;
	}
	req_set_state(treq, TCP_REQ_STATE_READY_TO_EXECUTE);
}

static void req_state_ready(struct tcp_req *treq)
{
	if (tcp_qpair_is_dead(treq->tqpair)) {
		req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		return;
	}
	req_set_state(treq, TCP_REQ_STATE_EXECUTING);
	axon_nvmf_request_exec(&treq->req);
}

static void req_state_executed(struct tcp_req *treq)
{
	if (tcp_qpair_is_dead(treq->tqpair) || req_send_response(treq) != 0) {
		req_set_state(treq, TCP_REQ_STATE_COMPLETED);
		return;
	}
	req_set_state(treq, TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST);
}

static void req_state_completed(struct tcp_req *treq)
{
	struct tcp_qpair *tqpair = treq->tqpair;

	/* A write still queued points into this request: wait for its callback
	 * (closing the socket runs them all). */
	if (treq->writes_pending != 0) {
		return;
	}
	if (treq->req.num_buffers != 0) {
		axon_nvmf_request_free_buffers(&treq->req, &tqpair->tgroup->base,
					       req_transport(treq));
	}
	req_set_state(treq, TCP_REQ_STATE_FREE);
	req_reset(treq);
}

void tcp_req_process(struct tcp_req *treq)
{
	enum tcp_req_state prev;

	do {
		prev = treq->state;
		switch (treq->state) {
		case TCP_REQ_STATE_NEW:
			req_state_new(treq);
			break;
		case TCP_REQ_STATE_NEED_BUFFER:
			req_state_need_buffer(treq);
			break;
		case TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER:
			req_state_h2c(treq);
			break;
		case TCP_REQ_STATE_READY_TO_EXECUTE:
			req_state_ready(treq);
			break;
		case TCP_REQ_STATE_EXECUTING:
			/* lib/nvmf has it: req_complete moves it on. */
			break;
		case TCP_REQ_STATE_EXECUTED:
			req_state_executed(treq);
			break;
		case TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST:
			if (treq->writes_pending == 0) {
				req_set_state(treq, TCP_REQ_STATE_COMPLETED);
			}
			break;
		case TCP_REQ_STATE_COMPLETED:
			req_state_completed(treq);
			break;
		case TCP_REQ_STATE_FREE:
		default:
			break;
		}
	} while (treq->state != prev);
}

/* ---- entry points ---------------------------------------------------------------- */

int tcp_req_complete(struct axon_nvmf_request *req)
{
	struct tcp_req *treq = tcp_req_from_base(req);

	if (treq->state != TCP_REQ_STATE_EXECUTING) {
		AXON_ERRLOG("qpair %u cid %u completed in state %s\n", treq->tqpair->id,
			    treq->cmd.nvme.cid, tcp_req_state_str(treq->state));
		return -EINVAL;
	}
	req_set_state(treq, TCP_REQ_STATE_EXECUTED);
	tcp_req_process(treq);
	return 0;
}

int tcp_group_process_pending_buf(struct tcp_poll_group *tgroup)
{
	struct tcp_req *treq;
	int count = 0;

	while ((treq = TAILQ_FIRST(&tgroup->pending_buf)) != NULL) {
		tcp_req_process(treq);
		if (treq == TAILQ_FIRST(&tgroup->pending_buf)) {
			break; /* still no buffers */
		}
		count++;
	}
	return count;
}

bool tcp_qpair_abort_request(struct axon_nvmf_qpair *qpair, uint16_t cid)
{
	struct tcp_qpair *tqpair = tcp_qpair_from_base(qpair);
	uint32_t i;

	for (i = 0; i < tqpair->num_reqs; i++) {
		struct tcp_req *treq = &tqpair->reqs[i];

		/* Only a request waiting for buffers can go without touching data
		 * the host is sending. */
		if (treq->state == TCP_REQ_STATE_NEED_BUFFER && treq->cmd.nvme.cid == cid) {
			TAILQ_REMOVE(&tqpair->tgroup->pending_buf, treq, link);
			req_fail(treq, STATUS_RETRY(NVME_SC_ABORT_REQ));
			tcp_req_process(treq);
			return true;
		}
	}
	return false;
}

void tcp_reqs_abandon(struct tcp_qpair *tqpair)
{
	uint32_t i;

	assert(tcp_qpair_is_dead(tqpair));
	tqpair->rx_req = NULL;
	for (i = 0; i < tqpair->num_reqs; i++) {
		struct tcp_req *treq = &tqpair->reqs[i];

		if (treq->state == TCP_REQ_STATE_EXECUTING) {
			/* Normal when the connection is lost: lib/nvmf still owns
			 * it (an outstanding AER, or bdev I/O) and completes it into
			 * the dead qpair later. None remain by qpair_fini. */
			AXON_DEBUGLOG(nvmf_tcp, "qpair %u: request cid %u still executing at teardown\n",
				      tqpair->id, treq->cmd.nvme.cid);
			continue;
		}
		tcp_req_process(treq);
	}
}
