/*
 * NVMe/TCP host transport: one socket per qpair, the ICReq handshake with
 * digest negotiation, command capsules (write data in-capsule when it
 * fits), H2CData in answer to R2Ts, sock-group polling, and the ops table.
 * Receiving and validating what the target sends is in tcp_recv.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "tcp_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvme_tcp)

static const uint8_t g_zero_pad[TCP_MAX_PAD];

/* ---- small helpers ---------------------------------------------------------- */

void tcp_put_digest(uint8_t *dst, uint32_t crc)
{
	dst[0] = (uint8_t)crc;
	dst[1] = (uint8_t)(crc >> 8);
	dst[2] = (uint8_t)(crc >> 16);
	dst[3] = (uint8_t)(crc >> 24);
}

uint32_t tcp_get_digest(const uint8_t *src)
{
	return (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) |
	       ((uint32_t)src[3] << 24);
}

int tcp_iov_slice(const struct iovec *iov, int cnt, size_t off, size_t len, struct iovec *dst,
		  int max)
{
	int i, n = 0;
	size_t take;

	for (i = 0; i < cnt && len > 0; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (n == max) {
			return -1;
		}
		take = AXON_MIN(iov[i].iov_len - off, len);
		dst[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return len == 0 ? n : -1;
}

static uint32_t tcp_hdgst_len(const struct tcp_qpair *tqpair)
{
	return tqpair->hdgst ? TCP_DIGEST_LEN : 0;
}

/* Start of data after a header of hlen bytes, aligned as the controller asked. */
static uint32_t tcp_data_offset(const struct tcp_qpair *tqpair, uint32_t hlen)
{
	uint32_t off = hlen + tcp_hdgst_len(tqpair);

	return AXON_DIV_ROUND_UP(off, tqpair->cpda_align) * tqpair->cpda_align;
}

/* ---- failure ------------------------------------------------------------------ */

void tcp_qpair_fail(struct tcp_qpair *tqpair, int rc)
{
	tqpair->phase = TCP_PHASE_DEAD;
	tqpair->rstate = TCP_RECV_ERROR;
	if (tqpair->qpair.state != AXON_NVME_QPAIR_DISCONNECTED) {
		tqpair->qpair.state = AXON_NVME_QPAIR_FAILED;
		if (tqpair->qpair.failure_reason == 0) {
			tqpair->qpair.failure_reason = rc;
		}
	}
}

static void tcp_term_sent_cb(void *cb_arg, int err)
{
	(void)cb_arg;
	(void)err;
}

void tcp_qpair_fatal(struct tcp_qpair *tqpair, uint16_t fes, uint32_t fei, int rc)
{
	struct axon_nvme_tcp_term_req_hdr *term = (void *)tqpair->term_buf;
	uint32_t copy = AXON_MIN(tqpair->rhdr_got, (uint32_t)AXON_NVME_TCP_TERM_REQ_MAX_DATA);

	AXON_ERRLOG("%s qpair %u: protocol error from the target (fes 0x%x, field %u); "
		    "closing the connection\n", tqpair->qpair.ctrlr != NULL ?
		    axon_nvme_ctrlr_get_trid(tqpair->qpair.ctrlr)->traddr : "?",
		    tqpair->qpair.id, fes, fei);
	if (tqpair->sock != NULL && !tqpair->term_sent) {
		memset(term, 0, sizeof(*term));
		term->common.pdu_type = AXON_NVME_TCP_PDU_H2C_TERM_REQ;
		term->common.hlen = sizeof(*term);
		term->common.plen = (uint32_t)sizeof(*term) + copy;
		term->fes = fes;
		term->fei[0] = (uint8_t)fei;
		term->fei[1] = (uint8_t)(fei >> 8);
		term->fei[2] = (uint8_t)(fei >> 16);
		term->fei[3] = (uint8_t)(fei >> 24);
		/* The offending header, as far as we read it. */
		memcpy(tqpair->term_buf + sizeof(*term), tqpair->rhdr.raw, copy);
		tqpair->term_iov.iov_base = tqpair->term_buf;
		tqpair->term_iov.iov_len = term->common.plen;
		tqpair->term_sreq.iov = &tqpair->term_iov;
		tqpair->term_sreq.iovcnt = 1;
		tqpair->term_sreq.cb_fn = tcp_term_sent_cb;
		tqpair->term_sreq.cb_arg = tqpair;
		if (axon_sock_writev_async(tqpair->sock, &tqpair->term_sreq) == 0) {
			tqpair->term_sent = true;
			/* Best effort: the connection closes right after. */
			axon_sock_flush(tqpair->sock);
		}
	}
	tcp_qpair_fail(tqpair, rc);
}

/* ---- command slots ----------------------------------------------------------- */

static struct tcp_req *tcp_req_get(struct tcp_qpair *tqpair)
{
	struct tcp_req *treq = TAILQ_FIRST(&tqpair->free_reqs);

	if (treq == NULL) {
		return NULL;
	}
	TAILQ_REMOVE(&tqpair->free_reqs, treq, link);
	treq->active = true;
	treq->send_pending = false;
	treq->h2c_pending = false;
	treq->rsp_received = false;
	treq->ddgst_error = false;
	treq->in_capsule = false;
	treq->r2t_active = false;
	treq->c2h_offset = 0;
	treq->h2c_offset = 0;
	treq->r2t_end = 0;
	return treq;
}

static void tcp_req_put(struct tcp_qpair *tqpair, struct tcp_req *treq)
{
	treq->active = false;
	treq->req = NULL;
	TAILQ_INSERT_HEAD(&tqpair->free_reqs, treq, link);
}

void tcp_req_try_complete(struct tcp_qpair *tqpair, struct tcp_req *treq)
{
	struct axon_nvme_request *req = treq->req;
	struct axon_nvme_cpl cpl;

	if (!treq->rsp_received || treq->send_pending || treq->h2c_pending) {
		return;
	}
	cpl = treq->cpl;
	if (treq->ddgst_error && !axon_nvme_cpl_is_error(&cpl)) {
		axon_nvme_cpl_set_status(&cpl, AXON_NVME_STATUS(0, 0x22)); /* transient transport */
	}
	tcp_req_put(tqpair, treq);
	tqpair->completions++;
	axon_nvme_qpair_complete_request(&tqpair->qpair, req, &cpl);
}

/* ---- sending ----------------------------------------------------------------- */

static void tcp_cmd_sent_cb(void *cb_arg, int err)
{
	struct tcp_req *treq = cb_arg;
	struct tcp_qpair *tqpair = treq->tqpair;

	treq->send_pending = false;
	if (err != 0) {
		if (!tqpair->closing) {
			tcp_qpair_fail(tqpair, err);
		}
		return;
	}
	if (treq->in_capsule) {
		treq->h2c_offset = treq->req->payload_size;
	}
	tcp_req_try_complete(tqpair, treq);
}

static void tcp_h2c_sent_cb(void *cb_arg, int err)
{
	struct tcp_req *treq = cb_arg;
	struct tcp_qpair *tqpair = treq->tqpair;

	treq->h2c_pending = false;
	if (err != 0) {
		if (!tqpair->closing) {
			tcp_qpair_fail(tqpair, err);
		}
		return;
	}
	if (treq->h2c_offset == treq->r2t_end) {
		treq->r2t_active = false;
	} else if (!treq->rsp_received && tqpair->phase == TCP_PHASE_RUNNING) {
		if (tcp_send_h2c(tqpair, treq) != 0) {
			tcp_qpair_fail(tqpair, -EIO);
		}
		return;
	}
	tcp_req_try_complete(tqpair, treq);
}

/* Lay out header, header digest, padding, data and data digest as iovecs. */
static int tcp_build_pdu_iov(struct tcp_qpair *tqpair, struct tcp_req *treq, uint32_t hlen,
			     uint32_t pdo, size_t data_off, uint32_t data_len)
{
	struct axon_nvme_request *req = treq->req;
	uint32_t pad;
	int n = 0, d;

	treq->iov[n].iov_base = treq->hdr.raw;
	treq->iov[n++].iov_len = hlen;
	if (tqpair->hdgst) {
		tcp_put_digest(treq->hdgst, axon_crc32c(treq->hdr.raw, hlen));
		treq->iov[n].iov_base = treq->hdgst;
		treq->iov[n++].iov_len = TCP_DIGEST_LEN;
	}
	if (data_len == 0) {
		return n;
	}
	pad = pdo - hlen - tcp_hdgst_len(tqpair);
	if (pad > 0) {
		treq->iov[n].iov_base = (void *)g_zero_pad;
		treq->iov[n++].iov_len = pad;
	}
	d = tcp_iov_slice(req->iov, req->iovcnt, data_off, data_len, &treq->iov[n],
			  TCP_MAX_PDU_IOV - n - 1);
	if (d < 0) {
		return -EINVAL;
	}
	if (tqpair->ddgst) {
		tcp_put_digest(treq->ddgst,
			       axon_crc32c_iov_update(&treq->iov[n], d, AXON_CRC32C_INIT) ^
				       AXON_CRC32C_XOROUT);
		treq->iov[n + d].iov_base = treq->ddgst;
		treq->iov[n + d].iov_len = TCP_DIGEST_LEN;
		d++;
	}
	return n + d;
}

static int tcp_queue_pdu(struct tcp_qpair *tqpair, struct tcp_req *treq, int iovcnt,
			 axon_sock_request_cb cb)
{
	treq->sreq.iov = treq->iov;
	treq->sreq.iovcnt = iovcnt;
	treq->sreq.cb_fn = cb;
	treq->sreq.cb_arg = treq;
	return axon_sock_writev_async(tqpair->sock, &treq->sreq);
}

int tcp_send_h2c(struct tcp_qpair *tqpair, struct tcp_req *treq)
{
	struct axon_nvme_tcp_data_hdr *h2c = &treq->hdr.h2c;
	uint32_t datal = AXON_MIN(treq->r2t_end - treq->h2c_offset, tqpair->maxh2cdata);
	uint32_t pdo = tcp_data_offset(tqpair, sizeof(*h2c));
	int n, rc;

	memset(h2c, 0, sizeof(*h2c));
	h2c->common.pdu_type = AXON_NVME_TCP_PDU_H2C_DATA;
	h2c->common.flags = (tqpair->hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
			    (tqpair->ddgst ? AXON_NVME_TCP_FLAG_DDGST : 0);
	if (treq->h2c_offset + datal == treq->r2t_end) {
		h2c->common.flags |= AXON_NVME_TCP_FLAG_LAST_PDU;
	}
	h2c->common.hlen = sizeof(*h2c);
	h2c->common.pdo = (uint8_t)pdo;
	h2c->common.plen = pdo + datal + (tqpair->ddgst ? TCP_DIGEST_LEN : 0);
	h2c->cccid = treq->cid;
	h2c->ttag = treq->ttag;
	h2c->datao = treq->h2c_offset;
	h2c->datal = datal;
	n = tcp_build_pdu_iov(tqpair, treq, sizeof(*h2c), pdo, treq->h2c_offset, datal);
	if (n < 0) {
		return n;
	}
	rc = tcp_queue_pdu(tqpair, treq, n, tcp_h2c_sent_cb);
	if (rc != 0) {
		return rc;
	}
	treq->h2c_pending = true;
	treq->h2c_offset += datal;
	return 0;
}

/* The SGL of the capsule: in-capsule data, data by the transport, or none. */
static void tcp_set_sgl(struct axon_nvme_cmd *cmd, bool in_capsule, uint32_t len)
{
	memset(&cmd->dptr, 0, sizeof(cmd->dptr));
	cmd->psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
	cmd->dptr.sgl1.unkeyed.length = len;
	if (in_capsule) {
		cmd->dptr.sgl1.unkeyed.type = AXON_NVME_SGL_TYPE_DATA_BLOCK;
		cmd->dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		cmd->dptr.sgl1.unkeyed.type = AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		cmd->dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_TRANSPORT;
	}
}

static int tcp_qpair_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	struct tcp_qpair *tqpair = tcp_qpair(qpair);
	struct axon_nvme_tcp_cmd *pdu;
	struct tcp_req *treq;
	uint32_t len = req->payload_size, pdo = 0, plen;
	int n, rc;

	if (tqpair->phase != TCP_PHASE_RUNNING) {
		return -ENXIO;
	}
	treq = tcp_req_get(tqpair);
	if (treq == NULL) {
		return -EAGAIN;
	}
	treq->req = req;
	treq->xfer = axon_nvmf_sqe_get_data_xfer((const union axon_nvmf_sqe *)&req->cmd);
	if (treq->xfer == AXON_NVME_DATA_BIDIRECTIONAL ||
	    (len > 0 && treq->xfer == AXON_NVME_DATA_NONE)) {
		tcp_req_put(tqpair, treq);
		return -EINVAL;
	}
	if (len == 0) {
		treq->xfer = AXON_NVME_DATA_NONE;
	}
	treq->in_capsule = treq->xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER && len <= tqpair->icd_len;
	req->cmd.cid = treq->cid;
	tcp_set_sgl(&req->cmd, treq->in_capsule, len);

	pdu = &treq->hdr.cmd;
	memset(&pdu->common, 0, sizeof(pdu->common));
	memcpy(&pdu->ccsqe, &req->cmd, sizeof(pdu->ccsqe));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_CMD;
	pdu->common.hlen = sizeof(*pdu);
	plen = sizeof(*pdu) + tcp_hdgst_len(tqpair);
	if (tqpair->hdgst) {
		pdu->common.flags |= AXON_NVME_TCP_FLAG_HDGST;
	}
	if (treq->in_capsule && len > 0) {
		pdo = tcp_data_offset(tqpair, sizeof(*pdu));
		pdu->common.pdo = (uint8_t)pdo;
		plen = pdo + len;
		if (tqpair->ddgst) {
			pdu->common.flags |= AXON_NVME_TCP_FLAG_DDGST;
			plen += TCP_DIGEST_LEN;
		}
	}
	pdu->common.plen = plen;
	n = tcp_build_pdu_iov(tqpair, treq, sizeof(*pdu), pdo, 0, treq->in_capsule ? len : 0);
	if (n < 0) {
		tcp_req_put(tqpair, treq);
		return n;
	}
	rc = tcp_queue_pdu(tqpair, treq, n, tcp_cmd_sent_cb);
	if (rc != 0) {
		tcp_req_put(tqpair, treq);
		return rc == -EBADF ? -ENXIO : rc;
	}
	treq->send_pending = true;
	return 0;
}

/* ---- connection --------------------------------------------------------------- */

struct tcp_ctrlr {
	char traddr[AXON_NVME_TRADDR_MAX_LEN + 1];
	int port;
};

static int tcp_ctrlr_construct(struct axon_nvme_ctrlr *ctrlr, void **tctx)
{
	const struct axon_nvme_trid *trid = axon_nvme_ctrlr_get_trid(ctrlr);
	struct tcp_ctrlr *tctrlr;
	long port;

	if (trid->adrfam != AXON_NVME_ADRFAM_IPV4 && trid->adrfam != AXON_NVME_ADRFAM_IPV6) {
		AXON_ERRLOG("NVMe/TCP: address family %s is not IPv4 or IPv6\n",
			    axon_nvme_adrfam_str(trid->adrfam));
		return -EINVAL;
	}
	if (axon_strtol(trid->trsvcid[0] != '\0' ? trid->trsvcid : AXON_NVME_DEFAULT_TRSVCID, 10,
			&port) != 0 || port < 1 || port > 65535) {
		AXON_ERRLOG("NVMe/TCP: trsvcid '%s' is not a port\n", trid->trsvcid);
		return -EINVAL;
	}
	tctrlr = calloc(1, sizeof(*tctrlr));
	if (tctrlr == NULL) {
		return -ENOMEM;
	}
	snprintf(tctrlr->traddr, sizeof(tctrlr->traddr), "%s", trid->traddr);
	tctrlr->port = (int)port;
	*tctx = tctrlr;
	return 0;
}

static void tcp_ctrlr_destruct(struct axon_nvme_ctrlr *ctrlr, void *tctx)
{
	free(tctx);
}

static uint32_t tcp_ctrlr_get_max_xfer_size(struct axon_nvme_ctrlr *ctrlr)
{
	return TCP_MAX_XFER_SIZE;
}

static struct axon_nvme_qpair *tcp_qpair_create(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
						uint32_t depth)
{
	struct tcp_qpair *tqpair;
	uint32_t i;

	tqpair = calloc(1, sizeof(*tqpair));
	if (tqpair == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	/* The queue holds depth entries; at most depth - 1 commands are in flight. */
	tqpair->num_reqs = depth - 1;
	tqpair->reqs = calloc(tqpair->num_reqs, sizeof(*tqpair->reqs));
	if (tqpair->reqs == NULL) {
		free(tqpair);
		errno = ENOMEM;
		return NULL;
	}
	TAILQ_INIT(&tqpair->free_reqs);
	for (i = 0; i < tqpair->num_reqs; i++) {
		tqpair->reqs[i].tqpair = tqpair;
		tqpair->reqs[i].cid = (uint16_t)i;
		TAILQ_INSERT_TAIL(&tqpair->free_reqs, &tqpair->reqs[i], link);
	}
	tqpair->phase = TCP_PHASE_IDLE;
	return &tqpair->qpair;
}

static void tcp_qpair_disconnect(struct axon_nvme_qpair *qpair);

static void tcp_qpair_destroy(struct axon_nvme_qpair *qpair)
{
	struct tcp_qpair *tqpair = tcp_qpair(qpair);

	tcp_qpair_disconnect(qpair);
	free(tqpair->reqs);
	free(tqpair);
}

static void tcp_ic_sent_cb(void *cb_arg, int err)
{
	struct tcp_qpair *tqpair = cb_arg;

	if (err != 0 && !tqpair->closing) {
		tcp_qpair_fail(tqpair, err);
	}
}

static void tcp_sock_cb(void *cb_arg, struct axon_sock_group *group, struct axon_sock *sock);

static int tcp_qpair_connect(struct axon_nvme_qpair *qpair)
{
	struct tcp_qpair *tqpair = tcp_qpair(qpair);
	const struct axon_nvme_ctrlr_opts *opts = axon_nvme_ctrlr_get_opts(qpair->ctrlr);
	struct tcp_ctrlr *tctrlr = axon_nvme_ctrlr_get_transport_ctx(qpair->ctrlr);
	int rc;

	tqpair->sock = axon_sock_connect(tctrlr->traddr, tctrlr->port, opts->sock_impl, NULL);
	if (tqpair->sock == NULL) {
		rc = -errno;
		AXON_ERRLOG("NVMe/TCP: connect to %s:%d failed: %d\n", tctrlr->traddr, tctrlr->port,
			    rc);
		return rc;
	}
	tqpair->term_sent = false;
	tqpair->hdgst = false;
	tqpair->ddgst = false;
	tqpair->cpda_align = 4;
	tqpair->icd_len = qpair->id == 0 ? TCP_ADMIN_ICD_LEN
					 : axon_nvme_ctrlr_get_ioccsz_bytes(qpair->ctrlr);
	tcp_recv_reset(tqpair);

	memset(&tqpair->icreq, 0, sizeof(tqpair->icreq));
	tqpair->icreq.common.pdu_type = AXON_NVME_TCP_PDU_IC_REQ;
	tqpair->icreq.common.hlen = sizeof(tqpair->icreq);
	tqpair->icreq.common.plen = sizeof(tqpair->icreq);
	tqpair->icreq.pfv = AXON_NVME_TCP_PFV_1_0;
	tqpair->icreq.hpda = 0;
	tqpair->icreq.maxr2t = 0; /* one R2T outstanding per command */
	tqpair->icreq.dgst = (opts->header_digest ? AXON_NVME_TCP_DGST_HDGST_ENABLE : 0) |
			     (opts->data_digest ? AXON_NVME_TCP_DGST_DDGST_ENABLE : 0);
	tqpair->ic_iov.iov_base = &tqpair->icreq;
	tqpair->ic_iov.iov_len = sizeof(tqpair->icreq);
	tqpair->ic_sreq.iov = &tqpair->ic_iov;
	tqpair->ic_sreq.iovcnt = 1;
	tqpair->ic_sreq.cb_fn = tcp_ic_sent_cb;
	tqpair->ic_sreq.cb_arg = tqpair;
	/* Queued now; it leaves as soon as the connection is up. */
	rc = axon_sock_writev_async(tqpair->sock, &tqpair->ic_sreq);
	if (rc != 0) {
		goto err_close;
	}
	if (tqpair->group != NULL) {
		rc = axon_sock_group_add_sock(tqpair->group->sgroup, tqpair->sock, tcp_sock_cb,
					      tqpair);
		if (rc != 0) {
			goto err_close;
		}
	}
	tqpair->phase = TCP_PHASE_IC;
	return 0;

err_close:
	tqpair->closing = true;
	axon_sock_close(&tqpair->sock);
	tqpair->closing = false;
	return rc;
}

static void tcp_qpair_disconnect(struct axon_nvme_qpair *qpair)
{
	struct tcp_qpair *tqpair = tcp_qpair(qpair);
	struct axon_nvme_cpl cpl;
	struct tcp_req *treq;
	uint32_t i;

	tqpair->closing = true;
	if (tqpair->sock != NULL) {
		if (tqpair->group != NULL) {
			axon_sock_group_remove_sock(tqpair->group->sgroup, tqpair->sock);
		}
		/* Queued writes complete here with -ECANCELED. */
		axon_sock_close(&tqpair->sock);
	}
	for (i = 0; i < tqpair->num_reqs; i++) {
		treq = &tqpair->reqs[i];
		if (!treq->active) {
			continue;
		}
		memset(&cpl, 0, sizeof(cpl));
		cpl.cid = treq->cid;
		cpl.sqid = qpair->id;
		axon_nvme_cpl_set_status(&cpl, AXON_NVME_STATUS(0, 0x08)); /* aborted, SQ deleted */
		treq->send_pending = false;
		treq->h2c_pending = false;
		treq->cpl = cpl;
		treq->rsp_received = true;
		treq->ddgst_error = false;
		tcp_req_try_complete(tqpair, treq);
	}
	tcp_recv_reset(tqpair);
	tqpair->phase = TCP_PHASE_IDLE;
	tqpair->closing = false;
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
}

static int32_t tcp_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max)
{
	struct tcp_qpair *tqpair = tcp_qpair(qpair);
	int32_t rc;

	if (tqpair->sock == NULL || tqpair->phase == TCP_PHASE_DEAD ||
	    tqpair->phase == TCP_PHASE_IDLE) {
		return -ENXIO;
	}
	tqpair->completions = 0;
	tqpair->max_completions = max != 0 ? max : UINT32_MAX;
	/* Also for a socket in a group: connecting polls the qpair alone. */
	rc = axon_sock_flush(tqpair->sock);
	if (rc != 0 && rc != -EAGAIN) {
		tcp_qpair_fail(tqpair, rc);
		return rc;
	}
	rc = tcp_qpair_recv(tqpair);
	if (rc < 0) {
		return rc;
	}
	if (tqpair->sock != NULL) {
		/* Send what the completions queued (H2CData, new commands). */
		rc = axon_sock_flush(tqpair->sock);
		if (rc != 0 && rc != -EAGAIN) {
			tcp_qpair_fail(tqpair, rc);
			return rc;
		}
	}
	return (int32_t)tqpair->completions;
}

/* ---- poll groups --------------------------------------------------------------- */

static void tcp_sock_cb(void *cb_arg, struct axon_sock_group *group, struct axon_sock *sock)
{
	struct tcp_qpair *tqpair = cb_arg;

	tqpair->max_completions = tqpair->group->completions_per_qpair != 0
					  ? tqpair->group->completions_per_qpair
					  : UINT32_MAX;
	tcp_qpair_recv(tqpair);
}

static struct axon_nvme_transport_poll_group *tcp_poll_group_create(void)
{
	struct tcp_poll_group *group = calloc(1, sizeof(*group));

	if (group == NULL) {
		return NULL;
	}
	group->sgroup = axon_sock_group_create(group);
	if (group->sgroup == NULL) {
		free(group);
		return NULL;
	}
	TAILQ_INIT(&group->qpairs);
	return &group->base;
}

static int tcp_poll_group_add(struct axon_nvme_transport_poll_group *tgroup,
			      struct axon_nvme_qpair *qpair)
{
	struct tcp_poll_group *group = AXON_CONTAINEROF(tgroup, struct tcp_poll_group, base);
	struct tcp_qpair *tqpair = tcp_qpair(qpair);
	int rc;

	if (tqpair->sock != NULL) {
		rc = axon_sock_group_add_sock(group->sgroup, tqpair->sock, tcp_sock_cb, tqpair);
		if (rc != 0) {
			return rc;
		}
	}
	tqpair->group = group;
	TAILQ_INSERT_TAIL(&group->qpairs, tqpair, group_link);
	return 0;
}

static int tcp_poll_group_remove(struct axon_nvme_transport_poll_group *tgroup,
				 struct axon_nvme_qpair *qpair)
{
	struct tcp_poll_group *group = AXON_CONTAINEROF(tgroup, struct tcp_poll_group, base);
	struct tcp_qpair *tqpair = tcp_qpair(qpair);

	if (tqpair->sock != NULL) {
		axon_sock_group_remove_sock(group->sgroup, tqpair->sock);
	}
	TAILQ_REMOVE(&group->qpairs, tqpair, group_link);
	tqpair->group = NULL;
	return 0;
}

static int64_t tcp_poll_group_process_completions(struct axon_nvme_transport_poll_group *tgroup,
						  uint32_t completions_per_qpair)
{
	struct tcp_poll_group *group = AXON_CONTAINEROF(tgroup, struct tcp_poll_group, base);
	struct tcp_qpair *tqpair;
	int64_t total = 0;
	int rc;

	TAILQ_FOREACH(tqpair, &group->qpairs, group_link) {
		tqpair->completions = 0;
	}
	group->completions_per_qpair = completions_per_qpair;
	rc = axon_sock_group_poll(group->sgroup);
	if (rc < 0) {
		return rc;
	}
	TAILQ_FOREACH(tqpair, &group->qpairs, group_link) {
		total += tqpair->completions;
	}
	return total;
}

static void tcp_poll_group_destroy(struct axon_nvme_transport_poll_group *tgroup)
{
	struct tcp_poll_group *group = AXON_CONTAINEROF(tgroup, struct tcp_poll_group, base);

	axon_sock_group_close(&group->sgroup);
	free(group);
}

static const struct axon_nvme_transport_ops g_tcp_ops = {
	.name = "TCP",
	.trtype = AXON_NVME_TRTYPE_TCP,
	.fabrics = true,
	.ctrlr_construct = tcp_ctrlr_construct,
	.ctrlr_destruct = tcp_ctrlr_destruct,
	.ctrlr_get_max_xfer_size = tcp_ctrlr_get_max_xfer_size,
	.qpair_create = tcp_qpair_create,
	.qpair_destroy = tcp_qpair_destroy,
	.qpair_connect = tcp_qpair_connect,
	.qpair_disconnect = tcp_qpair_disconnect,
	.qpair_submit = tcp_qpair_submit,
	.qpair_process_completions = tcp_qpair_process_completions,
	.poll_group_create = tcp_poll_group_create,
	.poll_group_add = tcp_poll_group_add,
	.poll_group_remove = tcp_poll_group_remove,
	.poll_group_process_completions = tcp_poll_group_process_completions,
	.poll_group_destroy = tcp_poll_group_destroy,
};

AXON_NVME_TRANSPORT_REGISTER(tcp, &g_tcp_ops)
