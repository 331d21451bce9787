/*
 * NVMe/TCP host receive path: the state machine over the byte stream and
 * the validation of every PDU the target sends. Every field is checked
 * against the PDU type, the PDU length, the negotiated digests and the
 * command's state before a byte of data is placed anywhere; C2HData goes
 * straight into the command's own buffers. A violation sends an
 * H2CTermReq and fails the qpair; it never touches memory it should not.
 */
#include <errno.h>

#include "tcp_internal.h"

/* Byte offsets of header fields, for the FEI of a TermReq. */
#define FEI_PDU_TYPE 0
#define FEI_FLAGS 1
#define FEI_HLEN 2
#define FEI_PDO 3
#define FEI_PLEN 4
#define FEI_CCCID 8
#define FEI_DATAO 12
#define FEI_DATAL 16
#define FEI_RSP_CID (8 + 12)
#define FEI_IC_PFV 8
#define FEI_IC_CPDA 10
#define FEI_IC_DGST 11
#define FEI_IC_MAXH2CDATA 12

void tcp_recv_reset(struct tcp_qpair *tqpair)
{
	tqpair->rstate = TCP_RECV_CH;
	tqpair->rhdr_got = 0;
	tqpair->rhdr_need = tqpair->phase == TCP_PHASE_RUNNING ? TCP_RUNNING_HDR_LEN : TCP_CH_LEN;
	tqpair->rreq = NULL;
	tqpair->riovcnt = 0;
	tqpair->rdata_left = 0;
}

static void recv_next_pdu(struct tcp_qpair *tqpair)
{
	tqpair->rstate = TCP_RECV_CH;
	tqpair->rhdr_got = 0;
	tqpair->rhdr_need = tqpair->phase == TCP_PHASE_RUNNING ? TCP_RUNNING_HDR_LEN : TCP_CH_LEN;
	tqpair->rreq = NULL;
}

static void recv_invalid(struct tcp_qpair *tqpair, uint32_t fei)
{
	tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, fei, -EPROTO);
}

/* The command a PDU names, if it is one we have in flight. */
static struct tcp_req *recv_lookup(struct tcp_qpair *tqpair, uint16_t cid)
{
	struct tcp_req *treq;

	if (cid >= tqpair->num_reqs) {
		return NULL;
	}
	treq = &tqpair->reqs[cid];
	return treq->active ? treq : NULL;
}

/* ---- the common header: type, lengths and flags for this phase --------------------- */

static uint32_t hd_len(const struct tcp_qpair *tqpair)
{
	return tqpair->hdgst ? TCP_DIGEST_LEN : 0;
}

/* Flags of a PDU without data must carry exactly the negotiated HDGST. */
static bool flags_ok_no_data(const struct tcp_qpair *tqpair, uint8_t flags)
{
	return flags == (tqpair->hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0);
}

/*
 * Check the common header; set rhdr_need to the header, digest and
 * padding bytes to read before the PDU can be handled. Returns 0 or -1
 * (the qpair has failed).
 */
static int recv_check_ch(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_common_hdr *ch = &tqpair->rhdr.ch;
	uint32_t hd = hd_len(tqpair);
	uint8_t data_flags;

	if (ch->pdu_type == AXON_NVME_TCP_PDU_C2H_TERM_REQ) {
		/* No digest; the error data (if any) follows the 24-byte header. */
		if (ch->hlen != sizeof(struct axon_nvme_tcp_term_req_hdr)) {
			recv_invalid(tqpair, FEI_HLEN);
			return -1;
		}
		if (ch->plen < ch->hlen || ch->plen > AXON_NVME_TCP_TERM_REQ_MAX_PLEN) {
			recv_invalid(tqpair, FEI_PLEN);
			return -1;
		}
		tqpair->rhdr_need = ch->plen;
		return 0;
	}
	if (tqpair->phase == TCP_PHASE_IC) {
		if (ch->pdu_type != AXON_NVME_TCP_PDU_IC_RESP) {
			tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, -EPROTO);
			return -1;
		}
		if (ch->hlen != sizeof(struct axon_nvme_tcp_ic_resp)) {
			recv_invalid(tqpair, FEI_HLEN);
			return -1;
		}
		if (ch->plen != sizeof(struct axon_nvme_tcp_ic_resp)) {
			recv_invalid(tqpair, FEI_PLEN);
			return -1;
		}
		if (ch->flags != 0 || ch->pdo != 0) {
			recv_invalid(tqpair, ch->flags != 0 ? FEI_FLAGS : FEI_PDO);
			return -1;
		}
		tqpair->rhdr_need = ch->plen;
		return 0;
	}
	/* Running: CapsuleResp, R2T and C2HData, all with a 24-byte header. */
	switch (ch->pdu_type) {
	case AXON_NVME_TCP_PDU_CAPSULE_RESP:
	case AXON_NVME_TCP_PDU_R2T:
		if (ch->hlen != TCP_RUNNING_HDR_LEN) {
			recv_invalid(tqpair, FEI_HLEN);
			return -1;
		}
		if (!flags_ok_no_data(tqpair, ch->flags)) {
			recv_invalid(tqpair, FEI_FLAGS);
			return -1;
		}
		if (ch->pdo != 0) {
			recv_invalid(tqpair, FEI_PDO);
			return -1;
		}
		if (ch->plen != ch->hlen + hd) {
			recv_invalid(tqpair, FEI_PLEN);
			return -1;
		}
		tqpair->rhdr_need = ch->plen;
		return 0;
	case AXON_NVME_TCP_PDU_C2H_DATA:
		if (ch->hlen != TCP_RUNNING_HDR_LEN) {
			recv_invalid(tqpair, FEI_HLEN);
			return -1;
		}
		data_flags = ch->flags & (AXON_NVME_TCP_FLAG_HDGST | AXON_NVME_TCP_FLAG_DDGST);
		if (data_flags != ((tqpair->hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				   (tqpair->ddgst ? AXON_NVME_TCP_FLAG_DDGST : 0)) ||
		    (ch->flags & ~(AXON_NVME_TCP_FLAG_HDGST | AXON_NVME_TCP_FLAG_DDGST |
				   AXON_NVME_TCP_FLAG_LAST_PDU | AXON_NVME_TCP_FLAG_SUCCESS))) {
			recv_invalid(tqpair, FEI_FLAGS);
			return -1;
		}
		/* We asked for no alignment (HPDA 0): data follows the header. */
		if (ch->pdo != ch->hlen + hd) {
			recv_invalid(tqpair, FEI_PDO);
			return -1;
		}
		if (ch->plen <= (uint32_t)ch->pdo + (tqpair->ddgst ? TCP_DIGEST_LEN : 0)) {
			recv_invalid(tqpair, FEI_PLEN);
			return -1;
		}
		tqpair->rhdr_need = ch->pdo;
		return 0;
	case AXON_NVME_TCP_PDU_IC_RESP:
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_PDU_TYPE, -EPROTO);
		return -1;
	default:
		recv_invalid(tqpair, FEI_PDU_TYPE);
		return -1;
	}
}

/* ---- complete headers ------------------------------------------------------------ */

static bool recv_hdgst_ok(struct tcp_qpair *tqpair)
{
	uint32_t hlen = tqpair->rhdr.ch.hlen;

	if (!tqpair->hdgst || tqpair->rhdr.ch.pdu_type == AXON_NVME_TCP_PDU_C2H_TERM_REQ ||
	    tqpair->rhdr.ch.pdu_type == AXON_NVME_TCP_PDU_IC_RESP) {
		return true;
	}
	return axon_crc32c(tqpair->rhdr.raw, hlen) == tcp_get_digest(tqpair->rhdr.raw + hlen);
}

static void recv_ic_resp(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_ic_resp *ic = &tqpair->rhdr.ic_resp;
	uint8_t asked = tqpair->icreq.dgst;

	if (ic->pfv != AXON_NVME_TCP_PFV_1_0) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER, FEI_IC_PFV, -EPROTO);
		return;
	}
	if (ic->cpda > AXON_NVME_TCP_MAX_PDA) {
		recv_invalid(tqpair, FEI_IC_CPDA);
		return;
	}
	/* The controller may turn a digest off, never on. */
	if (ic->dgst & ~asked) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER, FEI_IC_DGST,
				-EPROTO);
		return;
	}
	if (ic->maxh2cdata < AXON_NVME_TCP_MIN_MAXH2CDATA || ic->maxh2cdata % 4 != 0) {
		recv_invalid(tqpair, FEI_IC_MAXH2CDATA);
		return;
	}
	tqpair->hdgst = (ic->dgst & AXON_NVME_TCP_DGST_HDGST_ENABLE) != 0;
	tqpair->ddgst = (ic->dgst & AXON_NVME_TCP_DGST_DDGST_ENABLE) != 0;
	tqpair->cpda_align = (ic->cpda + 1u) * 4u;
	tqpair->maxh2cdata = ic->maxh2cdata;
	tqpair->phase = TCP_PHASE_RUNNING;
	tqpair->qpair.state = AXON_NVME_QPAIR_TRANSPORT_READY;
	AXON_DEBUGLOG(nvme_tcp, "qpair %u: ICResp hdgst %d ddgst %d cpda %u maxh2cdata %u\n",
		      tqpair->qpair.id, tqpair->hdgst, tqpair->ddgst, ic->cpda, ic->maxh2cdata);
	recv_next_pdu(tqpair);
}

static void recv_capsule_resp(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_cpl *cpl = &tqpair->rhdr.rsp.rccqe.nvme;
	struct tcp_req *treq = recv_lookup(tqpair, cpl->cid);
	bool ok = !axon_nvme_cpl_is_error(cpl);

	if (treq == NULL) {
		recv_invalid(tqpair, FEI_RSP_CID);
		return;
	}
	if (treq->rsp_received) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_RSP_CID, -EPROTO);
		return;
	}
	/* Success means every byte moved; a short transfer is a broken target. */
	if (ok && treq->xfer == AXON_NVME_DATA_CONTROLLER_TO_HOST &&
	    treq->c2h_offset != treq->req->payload_size) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_RSP_CID, -EPROTO);
		return;
	}
	if (ok && treq->xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER && !treq->in_capsule &&
	    treq->h2c_offset != treq->req->payload_size) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_RSP_CID, -EPROTO);
		return;
	}
	treq->cpl = *cpl;
	treq->cpl.sqid = tqpair->qpair.id;
	treq->rsp_received = true;
	recv_next_pdu(tqpair);
	tcp_req_try_complete(tqpair, treq);
}

static void recv_r2t(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_r2t_hdr *r2t = &tqpair->rhdr.r2t;
	struct tcp_req *treq = recv_lookup(tqpair, r2t->cccid);

	if (treq == NULL) {
		recv_invalid(tqpair, FEI_CCCID);
		return;
	}
	if (treq->xfer != AXON_NVME_DATA_HOST_TO_CONTROLLER || treq->in_capsule ||
	    treq->rsp_received || treq->send_pending) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_CCCID, -EPROTO);
		return;
	}
	if (treq->r2t_active) {
		/* We allowed one outstanding R2T per command (MAXR2T 0). */
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_DATA_LIMIT_EXCEEDED, FEI_CCCID, -EPROTO);
		return;
	}
	if (r2t->r2tl == 0) {
		recv_invalid(tqpair, FEI_DATAL);
		return;
	}
	if (r2t->r2to != treq->h2c_offset || r2t->r2tl > treq->req->payload_size - r2t->r2to) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, FEI_DATAO, -EPROTO);
		return;
	}
	treq->ttag = r2t->ttag;
	treq->r2t_end = r2t->r2to + r2t->r2tl;
	treq->r2t_active = true;
	recv_next_pdu(tqpair);
	if (tcp_send_h2c(tqpair, treq) != 0) {
		tcp_qpair_fail(tqpair, -EIO);
	}
}

/* Validate a C2HData header against its command, then aim the read at its buffers. */
static void recv_c2h_data_hdr(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_data_hdr *d = &tqpair->rhdr.data;
	uint32_t dd = tqpair->ddgst ? TCP_DIGEST_LEN : 0;
	struct tcp_req *treq = recv_lookup(tqpair, d->cccid);
	int n;

	if (treq == NULL) {
		recv_invalid(tqpair, FEI_CCCID);
		return;
	}
	if (treq->xfer != AXON_NVME_DATA_CONTROLLER_TO_HOST || treq->rsp_received) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, FEI_CCCID, -EPROTO);
		return;
	}
	if (d->datal == 0 || d->datal != d->common.plen - d->common.pdo - dd) {
		recv_invalid(tqpair, FEI_DATAL);
		return;
	}
	/* In order, and never past the command's buffer. */
	if (d->datao != treq->c2h_offset || d->datal > treq->req->payload_size - d->datao) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, FEI_DATAO, -EPROTO);
		return;
	}
	if ((d->common.flags & AXON_NVME_TCP_FLAG_SUCCESS) &&
	    (!(d->common.flags & AXON_NVME_TCP_FLAG_LAST_PDU) ||
	     d->datao + d->datal != treq->req->payload_size)) {
		recv_invalid(tqpair, FEI_FLAGS);
		return;
	}
	n = tcp_iov_slice(treq->req->iov, treq->req->iovcnt, d->datao, d->datal, tqpair->riov,
			  TCP_MAX_PDU_IOV - 1);
	if (n < 0) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, FEI_DATAO, -EPROTO);
		return;
	}
	if (tqpair->ddgst) {
		tqpair->riov[n].iov_base = tqpair->rddgst;
		tqpair->riov[n++].iov_len = TCP_DIGEST_LEN;
	}
	tqpair->riovcnt = n;
	tqpair->rdata_left = d->datal + dd;
	tqpair->rreq = treq;
	tqpair->rstate = TCP_RECV_DATA;
}

static void recv_c2h_data_done(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_data_hdr *d = &tqpair->rhdr.data;
	struct tcp_req *treq = tqpair->rreq;
	struct iovec iov[TCP_MAX_PDU_IOV];
	uint32_t crc;
	int n;

	if (tqpair->ddgst) {
		n = tcp_iov_slice(treq->req->iov, treq->req->iovcnt, d->datao, d->datal, iov,
				  TCP_MAX_PDU_IOV);
		crc = axon_crc32c_iov_update(iov, n, AXON_CRC32C_INIT) ^ AXON_CRC32C_XOROUT;
		if (crc != tcp_get_digest(tqpair->rddgst)) {
			/* The data is bad, the stream is not: fail only this command. */
			AXON_ERRLOG("qpair %u cid %u: C2HData data digest error\n", tqpair->qpair.id,
				    treq->cid);
			treq->ddgst_error = true;
		}
	}
	treq->c2h_offset += d->datal;
	recv_next_pdu(tqpair);
	if (d->common.flags & AXON_NVME_TCP_FLAG_SUCCESS) {
		memset(&treq->cpl, 0, sizeof(treq->cpl));
		treq->cpl.cid = treq->cid;
		treq->cpl.sqid = tqpair->qpair.id;
		treq->rsp_received = true;
		tcp_req_try_complete(tqpair, treq);
	}
}

static void recv_term_req(struct tcp_qpair *tqpair)
{
	const struct axon_nvme_tcp_term_req_hdr *t = &tqpair->rhdr.term;
	uint32_t fei = tcp_get_digest(t->fei);

	AXON_ERRLOG("qpair %u: the target terminated the connection (C2HTermReq fes 0x%x "
		    "fei 0x%x)\n", tqpair->qpair.id, t->fes, fei);
	tcp_qpair_fail(tqpair, -ECONNRESET);
}

/* A whole header (and its digest) is in rhdr: handle it. */
static void recv_handle_header(struct tcp_qpair *tqpair)
{
	if (!recv_hdgst_ok(tqpair)) {
		tcp_qpair_fatal(tqpair, AXON_NVME_TCP_FES_HDGST_ERROR, 0, -EPROTO);
		return;
	}
	switch (tqpair->rhdr.ch.pdu_type) {
	case AXON_NVME_TCP_PDU_IC_RESP:
		recv_ic_resp(tqpair);
		return;
	case AXON_NVME_TCP_PDU_CAPSULE_RESP:
		recv_capsule_resp(tqpair);
		return;
	case AXON_NVME_TCP_PDU_R2T:
		recv_r2t(tqpair);
		return;
	case AXON_NVME_TCP_PDU_C2H_DATA:
		recv_c2h_data_hdr(tqpair);
		return;
	case AXON_NVME_TCP_PDU_C2H_TERM_REQ:
		recv_term_req(tqpair);
		return;
	default:
		recv_invalid(tqpair, FEI_PDU_TYPE);
		return;
	}
}

/* ---- reading ----------------------------------------------------------------------- */

/* Map a receive result: > 0 bytes, 0 nothing now, -1 the qpair failed. */
static ssize_t recv_result(struct tcp_qpair *tqpair, ssize_t n)
{
	if (n > 0) {
		return n;
	}
	if (n == -EAGAIN) {
		return 0;
	}
	AXON_ERRLOG("qpair %u: connection closed by the target (%zd)\n", tqpair->qpair.id, n);
	tcp_qpair_fail(tqpair, n == 0 ? -ECONNRESET : (int)n);
	return -1;
}

/* Read into rhdr up to rhdr_need. Returns 1 when complete, 0 for later, -1 failed. */
static int recv_hdr_bytes(struct tcp_qpair *tqpair)
{
	ssize_t n;

	while (tqpair->rhdr_got < tqpair->rhdr_need) {
		n = axon_sock_recv(tqpair->sock, tqpair->rhdr.raw + tqpair->rhdr_got,
				   tqpair->rhdr_need - tqpair->rhdr_got);
		n = recv_result(tqpair, n);
		if (n <= 0) {
			return (int)n;
		}
		tqpair->rhdr_got += (uint32_t)n;
	}
	return 1;
}

static void iov_advance(struct iovec *iov, int *cnt, size_t n)
{
	int i = 0, j;

	while (i < *cnt && n >= iov[i].iov_len) {
		n -= iov[i].iov_len;
		i++;
	}
	if (i < *cnt) {
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + n;
		iov[i].iov_len -= n;
	}
	for (j = 0; i + j < *cnt; j++) {
		iov[j] = iov[i + j];
	}
	*cnt -= i;
}

/* Read C2HData payload and digest. Returns 1 when complete, 0 for later, -1 failed. */
static int recv_data_bytes(struct tcp_qpair *tqpair)
{
	ssize_t n;

	while (tqpair->rdata_left > 0) {
		n = axon_sock_readv(tqpair->sock, tqpair->riov, tqpair->riovcnt);
		n = recv_result(tqpair, n);
		if (n <= 0) {
			return (int)n;
		}
		tqpair->rdata_left -= (uint32_t)n;
		iov_advance(tqpair->riov, &tqpair->riovcnt, (size_t)n);
	}
	return 1;
}

/* One step of the state machine. Returns 1 to go on, 0 to stop for now. */
static int recv_step(struct tcp_qpair *tqpair)
{
	int rc;

	switch (tqpair->rstate) {
	case TCP_RECV_CH:
		rc = recv_hdr_bytes(tqpair);
		if (rc <= 0) {
			return 0;
		}
		if (recv_check_ch(tqpair) != 0) {
			return 0;
		}
		tqpair->rstate = tqpair->rhdr.ch.pdu_type == AXON_NVME_TCP_PDU_C2H_TERM_REQ &&
						 tqpair->rhdr_need > tqpair->rhdr_got
					 ? TCP_RECV_TERM_DATA
					 : TCP_RECV_PSH;
		return 1;
	case TCP_RECV_PSH:
	case TCP_RECV_TERM_DATA:
		rc = recv_hdr_bytes(tqpair);
		if (rc <= 0) {
			return 0;
		}
		recv_handle_header(tqpair);
		return 1;
	case TCP_RECV_DATA:
		rc = recv_data_bytes(tqpair);
		if (rc <= 0) {
			return 0;
		}
		recv_c2h_data_done(tqpair);
		return 1;
	case TCP_RECV_ERROR:
		return 0;
	}
	return 0;
}

int32_t tcp_qpair_recv(struct tcp_qpair *tqpair)
{
	/* A PDU takes at most three steps (header, rest of header, data). */
	int steps = 0;

	while (steps < 3 * TCP_RECV_BUDGET_PDUS && tqpair->sock != NULL &&
	       tqpair->completions < tqpair->max_completions && recv_step(tqpair)) {
		steps++;
	}
	if (tqpair->phase == TCP_PHASE_DEAD) {
		return tqpair->qpair.failure_reason != 0 ? tqpair->qpair.failure_reason : -EPROTO;
	}
	return (int32_t)tqpair->completions;
}
