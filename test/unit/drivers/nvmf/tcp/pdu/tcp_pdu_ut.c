/*
 * The NVMe/TCP receive state machine, driven by crafted byte streams: every
 * PDU type, every length, offset and flag error, splits at every byte, direct
 * reads into place, header and data digests, and the PDU builders.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nvmf/tcp/tcp_pdu.c"

/* ---- a recording handler ------------------------------------------------------ */

#define EV_MAX 64

struct ev {
	char kind; /* I ic_req, C capsule, H h2c, D pdu_done, T term_req */
	uint32_t a, b;
	bool ok;
};

static struct {
	struct ev ev[EV_MAX];
	int n;
	uint8_t data[256 * 1024];
	int fail_kind;   /* handler kind that fails */
	int fail_rc;
	bool discard;
} t;

static void ev_add(char kind, uint32_t a, uint32_t b, bool ok)
{
	if (t.n < EV_MAX) {
		t.ev[t.n++] = (struct ev){.kind = kind, .a = a, .b = b, .ok = ok};
	}
}

static struct iovec g_dst_iov[3];

static void set_dst(struct tcp_rx_dst *dst, uint32_t offset)
{
	/* Three uneven pieces, so that copies cross iovec boundaries. */
	g_dst_iov[0] = (struct iovec){.iov_base = t.data, .iov_len = 1000};
	g_dst_iov[1] = (struct iovec){.iov_base = t.data + 1000, .iov_len = 3};
	g_dst_iov[2] = (struct iovec){.iov_base = t.data + 1003, .iov_len = sizeof(t.data) - 1003};
	dst->iov = t.discard ? NULL : g_dst_iov;
	dst->iovcnt = 3;
	dst->offset = offset;
}

static int t_fail(char kind, struct tcp_rx_err *err)
{
	if (t.fail_kind != kind) {
		return 0;
	}
	err->fes = 0x06;
	err->fei = 77;
	return t.fail_rc;
}

static int t_ic_req(void *ctx, const struct axon_nvme_tcp_ic_req *pdu, struct tcp_rx_err *err)
{
	ev_add('I', pdu->hpda, pdu->dgst, true);
	return t_fail('I', err);
}

static int t_capsule(void *ctx, const struct axon_nvme_tcp_cmd *pdu, uint32_t data_len,
		     struct tcp_rx_dst *dst, struct tcp_rx_err *err)
{
	ev_add('C', pdu->ccsqe.nvme.cid, data_len, true);
	set_dst(dst, 0);
	return t_fail('C', err);
}

static int t_h2c(void *ctx, const struct axon_nvme_tcp_data_hdr *pdu, struct tcp_rx_dst *dst,
		 struct tcp_rx_err *err)
{
	ev_add('H', pdu->datao, pdu->datal, true);
	set_dst(dst, pdu->datao);
	return t_fail('H', err);
}

static int t_done(void *ctx, bool ddgst_ok, struct tcp_rx_err *err)
{
	ev_add('D', 0, 0, ddgst_ok);
	return t_fail('D', err);
}

static void t_term(void *ctx, const struct axon_nvme_tcp_term_req_hdr *pdu)
{
	ev_add('T', pdu->fes, 0, true);
}

static const struct tcp_rx_ops g_ops = {
	.ic_req = t_ic_req,
	.capsule = t_capsule,
	.h2c_data = t_h2c,
	.pdu_done = t_done,
	.term_req = t_term,
};

static struct tcp_rx g_rx;

static void reset(void)
{
	memset(&t.ev, 0, sizeof(t.ev));
	t.n = 0;
	t.fail_kind = 0;
	t.discard = false;
	tcp_rx_init(&g_rx, &g_ops, NULL, 8192, 131072);
}

/* ---- host PDUs -------------------------------------------------------------------- */

/* put_le32() comes from tcp_pdu.c. */
static size_t ic_req(uint8_t *buf, uint8_t dgst)
{
	struct axon_nvme_tcp_ic_req *ic = (struct axon_nvme_tcp_ic_req *)buf;

	memset(ic, 0, sizeof(*ic));
	ic->common.pdu_type = AXON_NVME_TCP_PDU_IC_REQ;
	ic->common.hlen = 128;
	ic->common.plen = 128;
	ic->hpda = 0;
	ic->dgst = dgst;
	return 128;
}

static size_t capsule(uint8_t *buf, uint16_t cid, uint32_t len, bool hd, bool dd, uint32_t pad)
{
	union {
		struct axon_nvme_tcp_cmd c;
		uint8_t raw[76];
	} hdr;
	struct axon_nvme_tcp_cmd *pdu = &hdr.c;
	size_t hdl = hd ? 4 : 0, ddl = dd && len ? 4 : 0;
	size_t pdo = len ? 72 + hdl + pad : 0;
	uint32_t i;

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_CMD;
	pdu->common.flags = (uint8_t)((hd ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				      (ddl ? AXON_NVME_TCP_FLAG_DDGST : 0));
	pdu->common.hlen = 72;
	pdu->common.pdo = (uint8_t)pdo;
	pdu->common.plen = (uint32_t)(len ? pdo + len + ddl : 72 + hdl);
	pdu->ccsqe.nvme.cid = cid;
	if (hd) {
		tcp_pdu_set_hdgst(pdu, 72);
	}
	memcpy(buf, hdr.raw, 72 + hdl);
	if (len) {
		struct iovec iov;

		memset(buf + 72 + hdl, 0, pad);
		for (i = 0; i < len; i++) {
			buf[pdo + i] = (uint8_t)(i * 13 + cid);
		}
		iov = (struct iovec){.iov_base = buf + pdo, .iov_len = len};
		if (ddl) {
			put_le32(buf + pdo + len, tcp_pdu_data_digest(&iov, 1, len));
		}
	}
	return hdr.c.common.plen;
}

static size_t h2c(uint8_t *buf, uint32_t datao, uint32_t len, bool hd, bool dd, bool last)
{
	union {
		struct axon_nvme_tcp_data_hdr d;
		uint8_t raw[28];
	} hdr;
	struct axon_nvme_tcp_data_hdr *pdu = &hdr.d;
	size_t hdl = hd ? 4 : 0, ddl = dd ? 4 : 0;
	size_t pdo = 24 + hdl;
	uint32_t i;

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_H2C_DATA;
	pdu->common.flags = (uint8_t)((hd ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				      (dd ? AXON_NVME_TCP_FLAG_DDGST : 0) |
				      (last ? AXON_NVME_TCP_FLAG_LAST_PDU : 0));
	pdu->common.hlen = 24;
	pdu->common.pdo = (uint8_t)pdo;
	pdu->common.plen = (uint32_t)(pdo + len + ddl);
	pdu->datao = datao;
	pdu->datal = len;
	if (hd) {
		tcp_pdu_set_hdgst(pdu, 24);
	}
	memcpy(buf, hdr.raw, 24 + hdl);
	for (i = 0; i < len; i++) {
		buf[pdo + i] = (uint8_t)(i + datao);
	}
	if (dd) {
		struct iovec iov = {.iov_base = buf + pdo, .iov_len = len};

		put_le32(buf + pdo + len, tcp_pdu_data_digest(&iov, 1, len));
	}
	return hdr.d.common.plen;
}

static size_t term_req(uint8_t *buf, uint16_t fes, uint32_t extra)
{
	struct axon_nvme_tcp_term_req_hdr *pdu = (struct axon_nvme_tcp_term_req_hdr *)buf;

	memset(buf, 0, 24 + extra);
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_H2C_TERM_REQ;
	pdu->common.hlen = 24;
	pdu->common.plen = 24 + extra;
	pdu->fes = fes;
	return 24 + extra;
}

static ssize_t feed(const void *buf, size_t len)
{
	return tcp_rx_consume(&g_rx, buf, len);
}

/* Feed an ICReq with dgst, expect it accepted. */
static void open_conn(uint8_t dgst)
{
	uint8_t buf[128] __attribute__((aligned(8)));

	CU_ASSERT_EQUAL(feed(buf, ic_req(buf, dgst)), 128);
	CU_ASSERT_TRUE(g_rx.ic_done);
	t.n = 0;
}

/* Expect a fatal error with fes/fei after feeding len bytes. */
static void expect_fatal(const void *buf, size_t len, uint16_t fes, uint32_t fei)
{
	CU_ASSERT_EQUAL(feed(buf, len), -EPROTO);
	CU_ASSERT_EQUAL(g_rx.state, TCP_RX_STATE_ERROR);
	CU_ASSERT_EQUAL(g_rx.err.fes, fes);
	CU_ASSERT_EQUAL(g_rx.err.fei, fei);
	/* Nothing more is parsed after a fatal error. */
	CU_ASSERT_EQUAL(feed(buf, len), -EPROTO);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_ic_req(void)
{
	uint8_t buf[128] __attribute__((aligned(8)));

	reset();
	CU_ASSERT_EQUAL(feed(buf, ic_req(buf, 3)), 128);
	CU_ASSERT_EQUAL(t.n, 1);
	CU_ASSERT_EQUAL(t.ev[0].kind, 'I');
	CU_ASSERT_TRUE(g_rx.hdgst && g_rx.ddgst);
	CU_ASSERT_EQUAL(g_rx.pdus, 1);

	/* A second ICReq is out of sequence. */
	ic_req(buf, 0);
	expect_fatal(buf, 128, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
}

static void test_ic_req_fields(void)
{
	uint8_t buf[128] __attribute__((aligned(8)));
	struct axon_nvme_tcp_ic_req *ic = (struct axon_nvme_tcp_ic_req *)buf;

	reset();
	ic_req(buf, 0);
	ic->pfv = 1;
	expect_fatal(buf, 128, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER, 8);

	reset();
	ic_req(buf, 0);
	ic->hpda = 32;
	expect_fatal(buf, 128, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10);

	reset();
	ic_req(buf, 0);
	ic->common.flags = AXON_NVME_TCP_FLAG_HDGST;
	expect_fatal(buf, 128, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);

	reset();
	ic_req(buf, 0);
	ic->common.hlen = 127;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 2);

	reset();
	ic_req(buf, 0);
	ic->common.pdo = 4;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);

	reset();
	ic_req(buf, 0);
	ic->common.plen = 129;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);
	/* The handler saw nothing: the common header was enough to refuse. */
	CU_ASSERT_EQUAL(t.n, 0);

	/* The TermReq we would send quotes the offending bytes. */
	{
		uint8_t out[256];
		size_t len = tcp_rx_build_term_req(&g_rx, out);
		const struct axon_nvme_tcp_term_req_hdr *tr = (const void *)out;

		CU_ASSERT_EQUAL(len, 24 + 8);
		CU_ASSERT_EQUAL(tr->common.pdu_type, AXON_NVME_TCP_PDU_C2H_TERM_REQ);
		CU_ASSERT_EQUAL(tr->common.hlen, 24);
		CU_ASSERT_EQUAL(tr->common.plen, len);
		CU_ASSERT_EQUAL(tr->fes, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD);
		CU_ASSERT_EQUAL(tr->fei[0], 4);
		CU_ASSERT_EQUAL(memcmp(out + 24, buf, 8), 0);
	}

	/* Handler refusal. */
	reset();
	t.fail_kind = 'I';
	t.fail_rc = -ECONNABORTED;
	CU_ASSERT_EQUAL(feed(buf, ic_req(buf, 0)), -ECONNABORTED);
	CU_ASSERT_FALSE(g_rx.ic_done);
}

static void test_first_pdu_must_be_ic_req(void)
{
	uint8_t buf[256] __attribute__((aligned(8)));
	uint8_t types[] = {0x02, 0x04, 0x06, 0x01, 0x05, 0x07, 0x09, 0xff};
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		reset();
		capsule(buf, 1, 0, false, false, 0);
		buf[0] = types[i];
		expect_fatal(buf, 8, AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	}
}

static void test_controller_pdu_types_rejected(void)
{
	uint8_t buf[256] __attribute__((aligned(8)));
	uint8_t types[] = {0x01, 0x03, 0x05, 0x07, 0x08, 0x09, 0x0a, 0x7f, 0xff};
	size_t i;

	for (i = 0; i < sizeof(types); i++) {
		reset();
		open_conn(0);
		capsule(buf, 1, 0, false, false, 0);
		buf[0] = types[i];
		expect_fatal(buf, 72, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
		CU_ASSERT_EQUAL(t.n, 0);
	}
}

static void test_hlen_per_type(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct axon_nvme_tcp_common_hdr *ch = (struct axon_nvme_tcp_common_hdr *)buf;
	uint8_t bad[] = {0, 8, 23, 25, 71, 73, 128, 255};
	size_t i;

	for (i = 0; i < sizeof(bad); i++) {
		reset();
		open_conn(0);
		capsule(buf, 1, 0, false, false, 0);
		ch->hlen = bad[i];
		if (bad[i] != 72) {
			expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 2);
		}

		reset();
		open_conn(0);
		h2c(buf, 0, 16, false, false, true);
		ch->hlen = bad[i];
		expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 2);

		reset();
		open_conn(0);
		term_req(buf, 1, 0);
		ch->hlen = bad[i];
		expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 2);
	}
}

static void test_plen_bounds(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct axon_nvme_tcp_common_hdr *ch = (struct axon_nvme_tcp_common_hdr *)buf;

	/* Shorter than the header. */
	reset();
	open_conn(0);
	capsule(buf, 1, 0, false, false, 0);
	ch->plen = 71;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);

	/* Huge: refused from the common header, nothing allocated or awaited. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->plen = 0xffffffffu;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);
	CU_ASSERT_EQUAL(t.n, 0);

	/* One byte more in-capsule data than icd_max. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->plen = 72 + 8192 + 1;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);

	/* Exactly icd_max is fine. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->plen = 72 + 8192;
	CU_ASSERT_EQUAL(feed(buf, 72), 72);
	CU_ASSERT_EQUAL(g_rx.state, TCP_RX_STATE_DATA);
	CU_ASSERT_EQUAL(t.ev[0].b, 8192);

	/* H2CData beyond MAXH2CDATA. */
	reset();
	open_conn(0);
	h2c(buf, 0, 16, false, false, true);
	ch->plen = 24 + 131072 + 1;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_DATA_LIMIT_EXCEEDED, 0);

	/* TermReq longer than 152. */
	reset();
	open_conn(0);
	term_req(buf, 1, 0);
	ch->plen = 153;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);

	/* H2CData whose datal disagrees with plen, or is 0. */
	reset();
	open_conn(0);
	h2c(buf, 0, 16, false, false, true);
	((struct axon_nvme_tcp_data_hdr *)buf)->datal = 15;
	expect_fatal(buf, 24, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 16);
	/* No data: pdo must then be 0, and with pdo 0 datal 0 is refused. */
	reset();
	open_conn(0);
	h2c(buf, 0, 0, false, false, true);
	expect_fatal(buf, 24, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);
	reset();
	open_conn(0);
	h2c(buf, 0, 0, false, false, true);
	ch->pdo = 0;
	expect_fatal(buf, 24, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 16);
}

static void test_pdo(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct axon_nvme_tcp_common_hdr *ch = (struct axon_nvme_tcp_common_hdr *)buf;

	/* Data inside the header. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->pdo = 68;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);

	/* Not dword aligned. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->pdo = 74;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);

	/* With a header digest, the data starts after it. */
	reset();
	open_conn(1);
	capsule(buf, 1, 16, true, false, 0);
	ch->pdo = 72;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);

	/* pdo set without data. */
	reset();
	open_conn(0);
	capsule(buf, 1, 0, false, false, 0);
	ch->pdo = 72;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 3);

	/* pdo past the end of the PDU. */
	reset();
	open_conn(0);
	capsule(buf, 1, 16, false, false, 0);
	ch->pdo = 92;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);

	/* Padding before the data is skipped. */
	reset();
	open_conn(0);
	{
		size_t len = capsule(buf, 9, 40, false, false, 24);

		CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
		CU_ASSERT_EQUAL(t.n, 2);
		CU_ASSERT_EQUAL(memcmp(t.data, buf + 96, 40), 0);
	}
}

static void test_flags(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct axon_nvme_tcp_common_hdr *ch = (struct axon_nvme_tcp_common_hdr *)buf;

	/* HDGST without negotiation. */
	reset();
	open_conn(0);
	capsule(buf, 1, 0, true, false, 0);
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);

	/* No HDGST although negotiated. */
	reset();
	open_conn(1);
	capsule(buf, 1, 0, false, false, 0);
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);

	/* DDGST on a PDU without data. */
	reset();
	open_conn(2);
	capsule(buf, 1, 0, false, false, 0);
	ch->flags = AXON_NVME_TCP_FLAG_DDGST;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);

	/* No DDGST on data although negotiated. */
	reset();
	open_conn(2);
	capsule(buf, 1, 16, false, false, 0);
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);

	/* LAST_PDU / SUCCESS / unknown bits on a capsule. */
	reset();
	open_conn(0);
	capsule(buf, 1, 0, false, false, 0);
	ch->flags = AXON_NVME_TCP_FLAG_LAST_PDU;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	reset();
	open_conn(0);
	h2c(buf, 0, 16, false, false, true);
	ch->flags |= AXON_NVME_TCP_FLAG_SUCCESS;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	reset();
	open_conn(0);
	h2c(buf, 0, 16, false, false, true);
	ch->flags |= 0x80;
	expect_fatal(buf, 8, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
}

static void test_header_digest(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	size_t len;

	reset();
	open_conn(1);
	len = capsule(buf, 5, 32, true, false, 0);
	CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_EQUAL(t.ev[0].kind, 'C');
	CU_ASSERT_EQUAL(t.ev[0].a, 5);

	len = capsule(buf, 6, 32, true, false, 0);
	buf[72] ^= 1;
	expect_fatal(buf, len, AXON_NVME_TCP_FES_HDGST_ERROR, 0);
	CU_ASSERT_EQUAL(t.n, 2); /* the bad header reached no handler */

	reset();
	open_conn(1);
	len = h2c(buf, 0, 32, true, false, true);
	buf[10] ^= 0x40; /* ttag */
	expect_fatal(buf, len, AXON_NVME_TCP_FES_HDGST_ERROR, 0);
}

static void test_data_digest(void)
{
	uint8_t buf[4096] __attribute__((aligned(8)));
	size_t len, len2;

	reset();
	open_conn(2);
	len = capsule(buf, 5, 1000, false, true, 0);
	CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_TRUE(t.ev[1].ok);

	/* A wrong data digest is not fatal: the PDU is done with ddgst_ok false. */
	len = capsule(buf, 6, 1000, false, true, 0);
	buf[100] ^= 0xff;
	len2 = h2c(buf + len, 0, 64, false, true, true);
	CU_ASSERT_EQUAL(feed(buf, len + len2), (ssize_t)(len + len2));
	CU_ASSERT_EQUAL(t.n, 6);
	CU_ASSERT_EQUAL(t.ev[3].kind, 'D');
	CU_ASSERT_FALSE(t.ev[3].ok);
	CU_ASSERT_EQUAL(t.ev[5].kind, 'D');
	CU_ASSERT_TRUE(t.ev[5].ok);

	/* Both digests, discarded data: still digested. */
	reset();
	open_conn(3);
	t.discard = true;
	len = capsule(buf, 7, 512, true, true, 0);
	CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
	CU_ASSERT_TRUE(t.ev[1].ok);
	len = capsule(buf, 8, 512, true, true, 0);
	buf[len - 1] ^= 1;
	CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
	CU_ASSERT_FALSE(t.ev[3].ok);
}

static void test_term_req_from_host(void)
{
	uint8_t buf[256] __attribute__((aligned(8)));

	reset();
	open_conn(0);
	CU_ASSERT_EQUAL(feed(buf, term_req(buf, 2, 32)), -ECONNABORTED);
	CU_ASSERT_EQUAL(t.n, 1);
	CU_ASSERT_EQUAL(t.ev[0].kind, 'T');
	CU_ASSERT_EQUAL(t.ev[0].a, 2);
	CU_ASSERT_EQUAL(feed(buf, 8), -ECONNABORTED);
}

static void test_handler_errors(void)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	size_t len;

	reset();
	open_conn(0);
	t.fail_kind = 'C';
	t.fail_rc = -EPROTO;
	len = capsule(buf, 1, 16, false, false, 0);
	CU_ASSERT_EQUAL(feed(buf, len), -EPROTO);
	CU_ASSERT_EQUAL(g_rx.err.fes, 6);
	CU_ASSERT_EQUAL(g_rx.err.fei, 77);

	reset();
	open_conn(0);
	t.fail_kind = 'D';
	t.fail_rc = -ECONNABORTED;
	len = capsule(buf, 1, 16, false, false, 0);
	CU_ASSERT_EQUAL(feed(buf, len), -ECONNABORTED);
}

/* ICReq, capsules with and without data (one padded), H2CData, with the
 * digests dgst asks for. */
static size_t build_session(uint8_t *buf, uint8_t dgst)
{
	bool hd = dgst & 1, dd = (dgst & 2) != 0;
	size_t len = ic_req(buf, dgst);

	len += capsule(buf + len, 1, 0, hd, dd, 0);
	len += capsule(buf + len, 2, 300, hd, dd, 0);
	len += capsule(buf + len, 3, 17, hd, dd, 8);
	len += h2c(buf + len, 0, 1500, hd, dd, false);
	len += h2c(buf + len, 1500, 9, hd, dd, true);
	len += capsule(buf + len, 4, 0, hd, dd, 0);
	return len;
}

static void test_split_at_every_byte(void)
{
	static uint8_t buf[8192] __attribute__((aligned(8)));
	struct ev ref[EV_MAX];
	uint8_t ref_data[2048];
	int ref_n;
	uint8_t dgst;

	for (dgst = 0; dgst < 4; dgst++) {
		size_t len = build_session(buf, dgst), k, i;

		reset();
		CU_ASSERT_EQUAL(feed(buf, len), (ssize_t)len);
		CU_ASSERT_EQUAL(g_rx.pdus, 7);
		ref_n = t.n;
		memcpy(ref, t.ev, sizeof(ref));
		memcpy(ref_data, t.data, sizeof(ref_data));
		CU_ASSERT_EQUAL(ref_n, 1 + 2 + 2 + 2 + 2 + 2 + 2);

		for (k = 0; k <= len; k++) {
			reset();
			memset(t.data, 0, sizeof(ref_data));
			CU_ASSERT_EQUAL(feed(buf, k), (ssize_t)k);
			CU_ASSERT_EQUAL(feed(buf + k, len - k), (ssize_t)(len - k));
			CU_ASSERT_EQUAL(t.n, ref_n);
			CU_ASSERT_EQUAL(memcmp(t.ev, ref, sizeof(ref)), 0);
			CU_ASSERT_EQUAL(memcmp(t.data, ref_data, sizeof(ref_data)), 0);
		}
		/* One byte at a time. */
		reset();
		memset(t.data, 0, sizeof(ref_data));
		for (i = 0; i < len; i++) {
			CU_ASSERT_EQUAL(feed(buf + i, 1), 1);
		}
		CU_ASSERT_EQUAL(memcmp(t.ev, ref, sizeof(ref)), 0);
		CU_ASSERT_EQUAL(memcmp(t.data, ref_data, sizeof(ref_data)), 0);
	}
}

/* Reading data straight into place, as the receive loop does. */
static void test_direct_data(void)
{
	static uint8_t buf[8192] __attribute__((aligned(8)));
	struct iovec iov[4];
	size_t len, hdr;
	int n;

	reset();
	open_conn(3);
	len = h2c(buf, 0, 2000, true, true, true);
	hdr = 28;
	CU_ASSERT_EQUAL(feed(buf, hdr + 10), (ssize_t)(hdr + 10));
	n = tcp_rx_data_iov(&g_rx, iov, 4);
	/* 990 left in the first piece, 3 in the second, 997 in the third. */
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(iov[0].iov_len, 990);
	CU_ASSERT_EQUAL(iov[1].iov_len, 3);
	CU_ASSERT_EQUAL(iov[2].iov_len, 997);
	CU_ASSERT_EQUAL(tcp_rx_data_iov(&g_rx, iov, 2), 2);
	/* The caller reads 500 bytes into place... */
	memcpy(iov[0].iov_base, buf + hdr + 10, 500);
	CU_ASSERT_EQUAL(tcp_rx_data_received(&g_rx, 500), 0);
	n = tcp_rx_data_iov(&g_rx, iov, 4);
	CU_ASSERT_EQUAL(n, 3);
	/* ...then the rest of the data... */
	memcpy(iov[0].iov_base, buf + hdr + 510, iov[0].iov_len);
	memcpy(iov[1].iov_base, buf + hdr + 1000, 3);
	memcpy(iov[2].iov_base, buf + hdr + 1003, 997);
	CU_ASSERT_EQUAL(tcp_rx_data_received(&g_rx, 1490), 0);
	CU_ASSERT_EQUAL(g_rx.state, TCP_RX_STATE_DDGST);
	CU_ASSERT_EQUAL(tcp_rx_data_iov(&g_rx, iov, 4), 0);
	/* ...and the digest comes through the buffer. */
	CU_ASSERT_EQUAL(feed(buf + hdr + 2000, 4), 4);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_TRUE(t.ev[1].ok);
	CU_ASSERT_EQUAL(memcmp(t.data, buf + hdr, 2000), 0);
	CU_ASSERT_EQUAL(len, hdr + 2004);

	/* Discarded data is never offered for direct reads. */
	reset();
	open_conn(0);
	t.discard = true;
	len = capsule(buf, 1, 100, false, false, 0);
	CU_ASSERT_EQUAL(feed(buf, 72), 72);
	CU_ASSERT_EQUAL(tcp_rx_data_iov(&g_rx, iov, 4), 0);
	CU_ASSERT_EQUAL(feed(buf + 72, len - 72), (ssize_t)(len - 72));
}

static void test_builders(void)
{
	uint8_t buf[256] __attribute__((aligned(8)));
	union axon_nvmf_cqe cqe;
	struct axon_nvme_tcp_ic_resp ic;
	const struct axon_nvme_tcp_data_hdr *c2h = (const void *)buf;
	const struct axon_nvme_tcp_r2t_hdr *r2t = (const void *)buf;
	size_t len;
	uint8_t hpda;

	tcp_pdu_build_ic_resp(&ic, 3, 131072);
	CU_ASSERT_EQUAL(ic.common.pdu_type, AXON_NVME_TCP_PDU_IC_RESP);
	CU_ASSERT_EQUAL(ic.common.plen, 128);
	CU_ASSERT_EQUAL(ic.dgst, 3);
	CU_ASSERT_EQUAL(ic.maxh2cdata, 131072);
	CU_ASSERT_EQUAL(ic.cpda, 0);

	memset(&cqe, 0, sizeof(cqe));
	cqe.nvme.cid = 77;
	len = tcp_pdu_build_capsule_resp(buf, &cqe, true);
	CU_ASSERT_EQUAL(len, 28);
	CU_ASSERT_EQUAL(buf[0], AXON_NVME_TCP_PDU_CAPSULE_RESP);
	CU_ASSERT_EQUAL(((struct axon_nvme_tcp_rsp *)buf)->rccqe.nvme.cid, 77);
	CU_ASSERT_EQUAL(axon_crc32c(buf, 24), (uint32_t)buf[24] | (uint32_t)buf[25] << 8 |
						       (uint32_t)buf[26] << 16 | (uint32_t)buf[27] << 24);

	len = tcp_pdu_build_r2t(buf, 3, 9, 4096, 8192, false);
	CU_ASSERT_EQUAL(len, 24);
	CU_ASSERT_EQUAL(r2t->common.pdu_type, AXON_NVME_TCP_PDU_R2T);
	CU_ASSERT_EQUAL(r2t->ttag, 9);
	CU_ASSERT_EQUAL(r2t->r2to, 4096);
	CU_ASSERT_EQUAL(r2t->r2tl, 8192);

	/* C2HData honours HPDA: data at a multiple of (hpda + 1) * 4. */
	for (hpda = 0; hpda <= 31; hpda++) {
		size_t pdo = tcp_pdu_build_c2h_data(buf, 1, 0, 4096, AXON_NVME_TCP_FLAG_LAST_PDU,
						    true, true, hpda);
		size_t i;

		CU_ASSERT(pdo >= 28);
		CU_ASSERT(pdo <= TCP_C2H_HDR_MAX);
		CU_ASSERT_EQUAL(pdo % ((hpda + 1u) * 4u), 0);
		CU_ASSERT_EQUAL(c2h->common.pdo, pdo);
		CU_ASSERT_EQUAL(c2h->common.plen, pdo + 4096 + 4);
		CU_ASSERT_EQUAL(c2h->common.flags, AXON_NVME_TCP_FLAG_LAST_PDU |
						   AXON_NVME_TCP_FLAG_HDGST |
						   AXON_NVME_TCP_FLAG_DDGST);
		for (i = 28; i < pdo; i++) {
			CU_ASSERT_EQUAL(buf[i], 0);
		}
	}
	len = tcp_pdu_build_c2h_data(buf, 1, 0, 10, 0, false, false, 0);
	CU_ASSERT_EQUAL(len, 24);

	/* TermReq: at most 128 bytes of the bad PDU. */
	{
		uint8_t out[200], bad[200];

		memset(bad, 0xee, sizeof(bad));
		len = tcp_pdu_build_term_req(out, 5, 0x01020304, bad, sizeof(bad));
		CU_ASSERT_EQUAL(len, 152);
		CU_ASSERT_EQUAL(out[10], 4);
		CU_ASSERT_EQUAL(out[13], 1);
		CU_ASSERT_EQUAL(out[151], 0xee);
	}
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvmf_tcp_pdu", NULL, NULL);
	CU_ADD_TEST(suite, test_ic_req);
	CU_ADD_TEST(suite, test_ic_req_fields);
	CU_ADD_TEST(suite, test_first_pdu_must_be_ic_req);
	CU_ADD_TEST(suite, test_controller_pdu_types_rejected);
	CU_ADD_TEST(suite, test_hlen_per_type);
	CU_ADD_TEST(suite, test_plen_bounds);
	CU_ADD_TEST(suite, test_pdo);
	CU_ADD_TEST(suite, test_flags);
	CU_ADD_TEST(suite, test_header_digest);
	CU_ADD_TEST(suite, test_data_digest);
	CU_ADD_TEST(suite, test_term_req_from_host);
	CU_ADD_TEST(suite, test_handler_errors);
	CU_ADD_TEST(suite, test_split_at_every_byte);
	CU_ADD_TEST(suite, test_direct_data);
	CU_ADD_TEST(suite, test_builders);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
