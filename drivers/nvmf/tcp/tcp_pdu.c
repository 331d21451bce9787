/*
 * NVMe/TCP PDUs: the receive state machine and the builders of the PDUs a
 * controller sends.
 *
 * The parser is fed the byte stream of one connection in pieces of any size
 * (a split may fall on any byte). It gathers a PDU's common header and checks
 * it (type allowed now, flags, hlen, pdo, plen) before reading a byte more;
 * then gathers the rest of the header, checks its digest and the type's own
 * fields, and only then asks the connection where the data belongs. Data is
 * copied once, into that place, or read there directly by the caller
 * (tcp_rx_data_iov). Nothing is allocated from a length the host chose.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "axon/util.h"
#include "tcp_internal.h"

#define DGST_LEN AXON_NVME_TCP_DIGEST_LEN

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void tcp_rx_init(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx, uint32_t icd_max,
		 uint32_t maxh2cdata)
{
	memset(rx, 0, sizeof(*rx));
	rx->ops = ops;
	rx->ctx = ctx;
	rx->icd_max = icd_max;
	rx->maxh2cdata = maxh2cdata;
	rx->state = TCP_RX_STATE_CH;
	rx->hdr_need = sizeof(struct axon_nvme_tcp_common_hdr);
}

static int rx_fail(struct tcp_rx *rx, uint16_t fes, uint32_t fei)
{
	rx->err.fes = fes;
	rx->err.fei = fei;
	rx->state = TCP_RX_STATE_ERROR;
	return -EPROTO;
}

static int rx_bad_field(struct tcp_rx *rx, size_t offset)
{
	return rx_fail(rx, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, (uint32_t)offset);
}

/* Result of a handler: an error stops the parser for good. */
static int rx_handler_rc(struct tcp_rx *rx, int rc)
{
	if (rc == 0) {
		return 0;
	}
	rx->state = TCP_RX_STATE_ERROR;
	if (rc == -EPROTO) {
		return -EPROTO;
	}
	return -ECONNABORTED;
}

static void rx_next_pdu(struct tcp_rx *rx)
{
	rx->pdus++;
	rx->state = TCP_RX_STATE_CH;
	rx->hdr_have = 0;
	rx->hdr_need = sizeof(struct axon_nvme_tcp_common_hdr);
	rx->data_len = 0;
	rx->data_left = 0;
	rx->pad_left = 0;
	rx->ddgst_have = 0;
	memset(&rx->dst, 0, sizeof(rx->dst));
}

/* ---- common header ------------------------------------------------------------- */

/* ICReq: fixed size, no digests (they are not negotiated yet), no data. */
static int ch_check_ic_req(struct tcp_rx *rx)
{
	const struct axon_nvme_tcp_common_hdr *ch = &rx->hdr.ch;

	if (ch->flags != 0) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, flags));
	}
	if (ch->hlen != sizeof(struct axon_nvme_tcp_ic_req)) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, hlen));
	}
	if (ch->pdo != 0) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, pdo));
	}
	if (ch->plen != sizeof(struct axon_nvme_tcp_ic_req)) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, plen));
	}
	rx->hdr_need = ch->hlen;
	return 0;
}

/* H2CTermReq: only its header is read (the error data after it is dropped with
 * the connection); hlen and plen are still checked. */
static int ch_check_term_req(struct tcp_rx *rx)
{
	const struct axon_nvme_tcp_common_hdr *ch = &rx->hdr.ch;

	if (ch->hlen != sizeof(struct axon_nvme_tcp_term_req_hdr)) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, hlen));
	}
	if (ch->plen < ch->hlen || ch->plen > AXON_NVME_TCP_TERM_REQ_MAX_PLEN) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, plen));
	}
	rx->hdr_need = ch->hlen;
	return 0;
}

/* CapsuleCmd and H2CData: digests as negotiated, data (if any) at pdo. */
static int ch_check_data_pdu(struct tcp_rx *rx, uint32_t hlen, uint8_t allowed_flags)
{
	const struct axon_nvme_tcp_common_hdr *ch = &rx->hdr.ch;
	uint32_t hd = rx->hdgst ? DGST_LEN : 0;
	uint32_t dd = rx->ddgst ? DGST_LEN : 0;
	uint32_t hdr_total = hlen + hd;
	uint32_t max;
	bool has_data;

	if ((ch->flags & ~allowed_flags) != 0 ||
	    !!(ch->flags & AXON_NVME_TCP_FLAG_HDGST) != rx->hdgst) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, flags));
	}
	if (ch->hlen != hlen) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, hlen));
	}
	if (ch->plen < hdr_total) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, plen));
	}
	has_data = ch->plen > hdr_total;
	/* The data digest flag goes with data: set exactly when both are there. */
	if (!!(ch->flags & AXON_NVME_TCP_FLAG_DDGST) != (has_data && rx->ddgst)) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, flags));
	}
	if (!has_data) {
		if (ch->pdo != 0) {
			return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, pdo));
		}
		rx->hdr_need = hdr_total;
		return 0;
	}
	/* We announce CPDA 0: data starts on any dword after the header. */
	if (ch->pdo < hdr_total || (ch->pdo & 3u) != 0) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, pdo));
	}
	if (ch->plen < (uint32_t)ch->pdo + dd + 1) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, plen));
	}
	rx->data_len = ch->plen - ch->pdo - dd;
	max = ch->pdu_type == AXON_NVME_TCP_PDU_CAPSULE_CMD ? rx->icd_max : rx->maxh2cdata;
	if (rx->data_len > max) {
		if (ch->pdu_type == AXON_NVME_TCP_PDU_H2C_DATA) {
			return rx_fail(rx, AXON_NVME_TCP_FES_DATA_LIMIT_EXCEEDED, 0);
		}
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, plen));
	}
	rx->pad_left = ch->pdo - hdr_total;
	rx->hdr_need = hdr_total;
	return 0;
}

static int rx_check_ch(struct tcp_rx *rx)
{
	uint8_t type = rx->hdr.ch.pdu_type;

	/* An ICReq opens the connection, and only once. */
	if (!rx->ic_done && type != AXON_NVME_TCP_PDU_IC_REQ) {
		return rx_fail(rx, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	}
	switch (type) {
	case AXON_NVME_TCP_PDU_IC_REQ:
		if (rx->ic_done) {
			return rx_fail(rx, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
		}
		return ch_check_ic_req(rx);
	case AXON_NVME_TCP_PDU_H2C_TERM_REQ:
		return ch_check_term_req(rx);
	case AXON_NVME_TCP_PDU_CAPSULE_CMD:
		return ch_check_data_pdu(rx, sizeof(struct axon_nvme_tcp_cmd),
					 AXON_NVME_TCP_FLAG_HDGST | AXON_NVME_TCP_FLAG_DDGST);
	case AXON_NVME_TCP_PDU_H2C_DATA:
		return ch_check_data_pdu(rx, sizeof(struct axon_nvme_tcp_data_hdr),
					 AXON_NVME_TCP_FLAG_HDGST | AXON_NVME_TCP_FLAG_DDGST |
						 AXON_NVME_TCP_FLAG_LAST_PDU);
	default:
		/* Controller-to-host PDUs (ICResp, C2HTermReq, CapsuleResp,
		 * C2HData, R2T) and unknown types. */
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_common_hdr, pdu_type));
	}
}

/* ---- whole header ----------------------------------------------------------------- */

static int psh_ic_req(struct tcp_rx *rx)
{
	const struct axon_nvme_tcp_ic_req *ic = &rx->hdr.ic_req;
	int rc;

	if (ic->pfv != AXON_NVME_TCP_PFV_1_0) {
		return rx_fail(rx, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER,
			       offsetof(struct axon_nvme_tcp_ic_req, pfv));
	}
	if (ic->hpda > AXON_NVME_TCP_MAX_PDA) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_ic_req, hpda));
	}
	rc = rx->ops->ic_req(rx->ctx, ic, &rx->err);
	if (rc != 0) {
		return rx_handler_rc(rx, rc);
	}
	rx->ic_done = true;
	rx->hdgst = (ic->dgst & AXON_NVME_TCP_DGST_HDGST_ENABLE) != 0;
	rx->ddgst = (ic->dgst & AXON_NVME_TCP_DGST_DDGST_ENABLE) != 0;
	return 0;
}

static int psh_h2c_data(struct tcp_rx *rx)
{
	const struct axon_nvme_tcp_data_hdr *h2c = &rx->hdr.data;

	if (h2c->datal == 0 || h2c->datal != rx->data_len) {
		return rx_bad_field(rx, offsetof(struct axon_nvme_tcp_data_hdr, datal));
	}
	return rx_handler_rc(rx, rx->ops->h2c_data(rx->ctx, h2c, &rx->dst, &rx->err));
}

/* The destination must hold offset + data_len bytes; a handler bug must not
 * become a buffer overflow. */
static int rx_check_dst(struct tcp_rx *rx)
{
	uint64_t room = 0;
	uint32_t i;

	if (rx->dst.iov == NULL) {
		return 0;
	}
	for (i = 0; i < rx->dst.iovcnt; i++) {
		room += rx->dst.iov[i].iov_len;
	}
	if (room < (uint64_t)rx->dst.offset + rx->data_len) {
		assert(false);
		return rx_fail(rx, AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
	}
	/* Skip to the iovec holding offset. */
	rx->dst_idx = 0;
	rx->dst_off = rx->dst.offset;
	while (rx->dst_idx < rx->dst.iovcnt && rx->dst_off >= rx->dst.iov[rx->dst_idx].iov_len) {
		rx->dst_off -= rx->dst.iov[rx->dst_idx].iov_len;
		rx->dst_idx++;
	}
	return 0;
}

static int rx_pdu_done(struct tcp_rx *rx, bool ddgst_ok)
{
	int rc;

	rc = rx->ops->pdu_done(rx->ctx, ddgst_ok, &rx->err);
	if (rc != 0) {
		return rx_handler_rc(rx, rc);
	}
	rx_next_pdu(rx);
	return 0;
}

/* The header (and its digest) is complete: check and dispatch it. */
static int rx_handle_psh(struct tcp_rx *rx)
{
	uint8_t type = rx->hdr.ch.pdu_type;
	uint32_t hlen = rx->hdr.ch.hlen;
	int rc;

	if (rx->hdgst && (type == AXON_NVME_TCP_PDU_CAPSULE_CMD || type == AXON_NVME_TCP_PDU_H2C_DATA)) {
		uint32_t crc = axon_crc32c_update(rx->hdr.raw, hlen, AXON_CRC32C_INIT) ^
			       AXON_CRC32C_XOROUT;

		if (crc != get_le32(&rx->hdr.raw[hlen])) {
			return rx_fail(rx, AXON_NVME_TCP_FES_HDGST_ERROR, 0);
		}
	}
	switch (type) {
	case AXON_NVME_TCP_PDU_IC_REQ:
		rc = psh_ic_req(rx);
		if (rc == 0) {
			rx_next_pdu(rx);
		}
		return rc;
	case AXON_NVME_TCP_PDU_H2C_TERM_REQ:
		rx->ops->term_req(rx->ctx, &rx->hdr.term);
		rx->state = TCP_RX_STATE_ERROR;
		return -ECONNABORTED;
	case AXON_NVME_TCP_PDU_CAPSULE_CMD:
		rc = rx_handler_rc(rx, rx->ops->capsule(rx->ctx, &rx->hdr.cmd, rx->data_len, &rx->dst,
							&rx->err));
		break;
	default:
		rc = psh_h2c_data(rx);
		break;
	}
	if (rc != 0) {
		return rc;
	}
	if (rx->data_len == 0) {
		return rx_pdu_done(rx, true);
	}
	rc = rx_check_dst(rx);
	if (rc != 0) {
		return rc;
	}
	rx->data_left = rx->data_len;
	rx->crc = AXON_CRC32C_INIT;
	rx->state = rx->pad_left != 0 ? TCP_RX_STATE_PAD : TCP_RX_STATE_DATA;
	return 0;
}

/* ---- data ----------------------------------------------------------------------- */

static int rx_data_finished(struct tcp_rx *rx)
{
	if (rx->ddgst) {
		rx->state = TCP_RX_STATE_DDGST;
		return 0;
	}
	return rx_pdu_done(rx, true);
}

/* n bytes of data are in place at the current destination position (or were
 * dropped): digest them and move on. */
static void rx_data_advance(struct tcp_rx *rx, const uint8_t *bytes, size_t n)
{
	if (rx->ddgst) {
		rx->crc = axon_crc32c_update(bytes, n, rx->crc);
	}
	rx->data_left -= (uint32_t)n;
}

static size_t rx_copy_data(struct tcp_rx *rx, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	len = AXON_MIN(len, (size_t)rx->data_left);
	if (rx->dst.iov == NULL) {
		rx_data_advance(rx, buf, len);
		return len;
	}
	while (done < len) {
		const struct iovec *iov = &rx->dst.iov[rx->dst_idx];
		size_t n = AXON_MIN(len - done, iov->iov_len - rx->dst_off);
		uint8_t *to = (uint8_t *)iov->iov_base + rx->dst_off;

		memcpy(to, buf + done, n);
		rx_data_advance(rx, to, n);
		done += n;
		rx->dst_off += n;
		if (rx->dst_off == iov->iov_len) {
			rx->dst_idx++;
			rx->dst_off = 0;
		}
	}
	return done;
}

int tcp_rx_data_iov(const struct tcp_rx *rx, struct iovec *iov, int max)
{
	uint32_t idx = rx->dst_idx;
	size_t off = rx->dst_off;
	size_t left = rx->data_left;
	int n = 0;

	if (rx->state != TCP_RX_STATE_DATA || rx->dst.iov == NULL) {
		return 0;
	}
	while (left > 0 && n < max && idx < rx->dst.iovcnt) {
		size_t len = AXON_MIN(left, rx->dst.iov[idx].iov_len - off);

		iov[n].iov_base = (uint8_t *)rx->dst.iov[idx].iov_base + off;
		iov[n].iov_len = len;
		left -= len;
		n++;
		idx++;
		off = 0;
	}
	return n;
}

int tcp_rx_data_received(struct tcp_rx *rx, size_t n)
{
	assert(rx->state == TCP_RX_STATE_DATA && rx->dst.iov != NULL && n <= rx->data_left);
	while (n > 0) {
		const struct iovec *iov = &rx->dst.iov[rx->dst_idx];
		size_t chunk = AXON_MIN(n, iov->iov_len - rx->dst_off);

		rx_data_advance(rx, (uint8_t *)iov->iov_base + rx->dst_off, chunk);
		n -= chunk;
		rx->dst_off += chunk;
		if (rx->dst_off == iov->iov_len) {
			rx->dst_idx++;
			rx->dst_off = 0;
		}
	}
	if (rx->data_left == 0) {
		return rx_data_finished(rx);
	}
	return 0;
}

/* ---- the driver -------------------------------------------------------------------- */

static size_t rx_gather(uint8_t *to, uint32_t *have, uint32_t need, const uint8_t *buf, size_t len)
{
	size_t n = AXON_MIN(len, (size_t)(need - *have));

	memcpy(to + *have, buf, n);
	*have += (uint32_t)n;
	return n;
}

/* One step: consume some of buf. Returns bytes consumed or a negative errno. */
static ssize_t rx_step(struct tcp_rx *rx, const uint8_t *buf, size_t len)
{
	size_t n;
	int rc = 0;

	switch (rx->state) {
	case TCP_RX_STATE_CH:
		n = rx_gather(rx->hdr.raw, &rx->hdr_have, rx->hdr_need, buf, len);
		if (rx->hdr_have == rx->hdr_need) {
			rc = rx_check_ch(rx);
			if (rc == 0) {
				rx->state = TCP_RX_STATE_PSH;
			}
		}
		break;
	case TCP_RX_STATE_PSH:
		n = rx_gather(rx->hdr.raw, &rx->hdr_have, rx->hdr_need, buf, len);
		if (rx->hdr_have == rx->hdr_need) {
			rc = rx_handle_psh(rx);
		}
		break;
	case TCP_RX_STATE_PAD:
		n = AXON_MIN(len, (size_t)rx->pad_left);
		rx->pad_left -= (uint32_t)n;
		if (rx->pad_left == 0) {
			rx->state = TCP_RX_STATE_DATA;
		}
		break;
	case TCP_RX_STATE_DATA:
		n = rx_copy_data(rx, buf, len);
		if (rx->data_left == 0) {
			rc = rx_data_finished(rx);
		}
		break;
	case TCP_RX_STATE_DDGST:
		n = rx_gather(rx->ddgst_buf, &rx->ddgst_have, DGST_LEN, buf, len);
		if (rx->ddgst_have == DGST_LEN) {
			rc = rx_pdu_done(rx, get_le32(rx->ddgst_buf) == (rx->crc ^ AXON_CRC32C_XOROUT));
		}
		break;
	default:
		return rx->err.fes != 0 ? -EPROTO : -ECONNABORTED;
	}
	return rc != 0 ? rc : (ssize_t)n;
}

ssize_t tcp_rx_consume(struct tcp_rx *rx, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;

	/* Every step consumes at least one byte or fails, so this ends. */
	while (done < len) {
		ssize_t n = rx_step(rx, p + done, len - done);

		if (n < 0) {
			return n;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

size_t tcp_rx_build_term_req(const struct tcp_rx *rx, uint8_t *buf)
{
	return tcp_pdu_build_term_req(buf, rx->err.fes, rx->err.fei, rx->hdr.raw, rx->hdr_have);
}

/* ---- builders ------------------------------------------------------------------------ */

void tcp_pdu_set_hdgst(void *hdr, uint32_t hlen)
{
	uint32_t crc = axon_crc32c_update(hdr, hlen, AXON_CRC32C_INIT) ^ AXON_CRC32C_XOROUT;

	put_le32((uint8_t *)hdr + hlen, crc);
}

uint32_t tcp_pdu_data_digest(const struct iovec *iov, uint32_t iovcnt, uint32_t len)
{
	uint32_t crc = AXON_CRC32C_INIT;
	uint32_t i;

	for (i = 0; i < iovcnt && len > 0; i++) {
		size_t n = AXON_MIN((size_t)len, iov[i].iov_len);

		crc = axon_crc32c_update(iov[i].iov_base, n, crc);
		len -= (uint32_t)n;
	}
	return crc ^ AXON_CRC32C_XOROUT;
}

void tcp_pdu_build_ic_resp(struct axon_nvme_tcp_ic_resp *pdu, uint8_t dgst, uint32_t maxh2cdata)
{
	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_IC_RESP;
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.plen = sizeof(*pdu);
	pdu->pfv = AXON_NVME_TCP_PFV_1_0;
	pdu->cpda = 0;
	pdu->dgst = dgst;
	pdu->maxh2cdata = maxh2cdata;
}

size_t tcp_pdu_build_capsule_resp(uint8_t *buf, const union axon_nvmf_cqe *cqe, bool hdgst)
{
	struct axon_nvme_tcp_rsp *pdu = (struct axon_nvme_tcp_rsp *)buf;
	size_t len = sizeof(*pdu) + (hdgst ? DGST_LEN : 0);

	memset(&pdu->common, 0, sizeof(pdu->common));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_RESP;
	pdu->common.flags = hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0;
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.plen = (uint32_t)len;
	memcpy(&pdu->rccqe, cqe, sizeof(*cqe));
	if (hdgst) {
		tcp_pdu_set_hdgst(pdu, sizeof(*pdu));
	}
	return len;
}

size_t tcp_pdu_build_r2t(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t r2to,
			 uint32_t r2tl, bool hdgst)
{
	struct axon_nvme_tcp_r2t_hdr *pdu = (struct axon_nvme_tcp_r2t_hdr *)buf;
	size_t len = sizeof(*pdu) + (hdgst ? DGST_LEN : 0);

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_R2T;
	pdu->common.flags = hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0;
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.plen = (uint32_t)len;
	pdu->cccid = cccid;
	pdu->ttag = ttag;
	pdu->r2to = r2to;
	pdu->r2tl = r2tl;
	if (hdgst) {
		tcp_pdu_set_hdgst(pdu, sizeof(*pdu));
	}
	return len;
}

size_t tcp_pdu_build_c2h_data(uint8_t *buf, uint16_t cccid, uint32_t datao, uint32_t datal,
			      uint8_t flags, bool hdgst, bool ddgst, uint8_t hpda)
{
	struct axon_nvme_tcp_data_hdr *pdu = (struct axon_nvme_tcp_data_hdr *)buf;
	size_t hdr_total = sizeof(*pdu) + (hdgst ? DGST_LEN : 0);
	size_t pdo = hdr_total;

	/* The host asked for its data to start on a multiple of (HPDA + 1)
	 * dwords (not necessarily a power of two). */
	if (hpda != 0) {
		size_t align = (size_t)(hpda + 1u) * 4u;

		pdo = AXON_DIV_ROUND_UP(hdr_total, align) * align;
	}
	assert(pdo <= TCP_C2H_HDR_MAX);
	memset(buf, 0, pdo);
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_C2H_DATA;
	pdu->common.flags = (uint8_t)(flags | (hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				      (ddgst ? AXON_NVME_TCP_FLAG_DDGST : 0));
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.pdo = (uint8_t)pdo;
	pdu->common.plen = (uint32_t)pdo + datal + (ddgst ? DGST_LEN : 0);
	pdu->cccid = cccid;
	pdu->datao = datao;
	pdu->datal = datal;
	if (hdgst) {
		tcp_pdu_set_hdgst(pdu, sizeof(*pdu));
	}
	return pdo;
}

size_t tcp_pdu_build_term_req(uint8_t *buf, uint16_t fes, uint32_t fei, const void *bad_hdr,
			      size_t bad_len)
{
	struct axon_nvme_tcp_term_req_hdr *pdu = (struct axon_nvme_tcp_term_req_hdr *)buf;
	size_t copy = AXON_MIN(bad_len, (size_t)AXON_NVME_TCP_TERM_REQ_MAX_DATA);

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_C2H_TERM_REQ;
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.plen = (uint32_t)(sizeof(*pdu) + copy);
	pdu->fes = fes;
	put_le32(pdu->fei, fei);
	if (copy != 0) {
		memcpy(buf + sizeof(*pdu), bad_hdr, copy);
	}
	return sizeof(*pdu) + copy;
}
