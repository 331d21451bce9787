/*
 * NVMe/TCP host transport tests, driven by crafted byte streams through a
 * fake socket: the ICReq/ICResp handshake, reads (C2HData into the
 * caller's buffers, SUCCESS flag), writes (in-capsule, R2T + H2CData),
 * digests, and hostile targets (wrong lengths, unknown cids, data beyond
 * the command, digest errors, R2T beyond the command, TermReq). A bad
 * stream must fail the qpair cleanly: an H2CTermReq naming the error,
 * every command completed, nothing written outside the buffers (ASan).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nvme/tcp/tcp.c"
#include "drivers/nvme/tcp/tcp_recv.c"
#include "lib/nvme/nvme_internal.h"

/* ---- the fake socket ---------------------------------------------------------------- */

#define FS_BUF 65536
#define FS_MAX_REQS 64

static struct {
	struct axon_sock sock;
	bool open;
	uint8_t in[FS_BUF];
	size_t in_len, in_off;
	size_t chunk; /* bytes per receive call (0: all there is) */
	uint8_t out[FS_BUF];
	size_t out_len;
	struct axon_sock_request *reqs[FS_MAX_REQS];
	int nreqs;
	bool eof;
} g_fs;

static void fs_reset(void)
{
	memset(&g_fs, 0, sizeof(g_fs));
}

static void fs_feed(const void *buf, size_t len)
{
	CU_ASSERT_FATAL(g_fs.in_len + len <= FS_BUF);
	memcpy(g_fs.in + g_fs.in_len, buf, len);
	g_fs.in_len += len;
}

struct axon_sock *axon_sock_connect(const char *ip, int port, const char *impl_name,
				    const struct axon_sock_opts *opts)
{
	g_fs.open = true;
	return &g_fs.sock;
}

int axon_sock_writev_async(struct axon_sock *sock, struct axon_sock_request *req)
{
	if (g_fs.nreqs == FS_MAX_REQS) {
		return -ENOMEM;
	}
	g_fs.reqs[g_fs.nreqs++] = req;
	return 0;
}

int axon_sock_flush(struct axon_sock *sock)
{
	struct axon_sock_request *req;
	int i, j;

	/* Callbacks may queue more: take the list as it is now. */
	while (g_fs.nreqs > 0) {
		req = g_fs.reqs[0];
		memmove(g_fs.reqs, g_fs.reqs + 1, sizeof(g_fs.reqs[0]) * (size_t)--g_fs.nreqs);
		for (i = 0; i < req->iovcnt; i++) {
			CU_ASSERT_FATAL(g_fs.out_len + req->iov[i].iov_len <= FS_BUF);
			for (j = 0; j < (int)req->iov[i].iov_len; j++) {
				g_fs.out[g_fs.out_len++] = ((uint8_t *)req->iov[i].iov_base)[j];
			}
		}
		req->cb_fn(req->cb_arg, 0);
	}
	return 0;
}

int axon_sock_close(struct axon_sock **psock)
{
	struct axon_sock_request *req;

	while (g_fs.nreqs > 0) {
		req = g_fs.reqs[--g_fs.nreqs];
		req->cb_fn(req->cb_arg, -ECANCELED);
	}
	g_fs.open = false;
	*psock = NULL;
	return 0;
}

static size_t fs_avail(size_t want)
{
	size_t n = g_fs.in_len - g_fs.in_off;

	if (g_fs.chunk != 0 && n > g_fs.chunk) {
		n = g_fs.chunk;
	}
	return n < want ? n : want;
}

ssize_t axon_sock_recv(struct axon_sock *sock, void *buf, size_t len)
{
	size_t n = fs_avail(len);

	if (n == 0) {
		return g_fs.eof ? 0 : -EAGAIN;
	}
	memcpy(buf, g_fs.in + g_fs.in_off, n);
	g_fs.in_off += n;
	return (ssize_t)n;
}

ssize_t axon_sock_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt)
{
	size_t total = 0, n;
	int i;

	for (i = 0; i < iovcnt; i++) {
		n = fs_avail(iov[i].iov_len);
		if (n == 0) {
			break;
		}
		memcpy(iov[i].iov_base, g_fs.in + g_fs.in_off, n);
		g_fs.in_off += n;
		total += n;
		if (g_fs.chunk != 0) {
			break;
		}
	}
	if (total == 0) {
		return g_fs.eof ? 0 : -EAGAIN;
	}
	return (ssize_t)total;
}

struct axon_sock_group *axon_sock_group_create(void *ctx)
{
	return NULL;
}

int axon_sock_group_add_sock(struct axon_sock_group *group, struct axon_sock *sock,
			     axon_sock_cb cb_fn, void *cb_arg)
{
	return 0;
}

int axon_sock_group_remove_sock(struct axon_sock_group *group, struct axon_sock *sock)
{
	return 0;
}

int axon_sock_group_poll(struct axon_sock_group *group)
{
	return 0;
}

int axon_sock_group_close(struct axon_sock_group **pgroup)
{
	return 0;
}

/* ---- a controller around one qpair ------------------------------------------------------- */

static struct axon_nvme_ctrlr *g_ctrlr;
static struct axon_nvme_qpair *g_qpair;
static struct tcp_qpair *g_tq;

#define UT_DEPTH 8

static void ut_setup(bool hdgst, bool ddgst)
{
	fs_reset();
	g_ctrlr = calloc(1, sizeof(*g_ctrlr));
	axon_nvme_ctrlr_opts_init(&g_ctrlr->opts);
	g_ctrlr->opts.header_digest = hdgst;
	g_ctrlr->opts.data_digest = ddgst;
	g_ctrlr->ops = &g_tcp_ops;
	g_ctrlr->cdata.ioccsz = (64 + 4096) / 16; /* 4 KiB in-capsule */
	snprintf(g_ctrlr->trid.traddr, sizeof(g_ctrlr->trid.traddr), "127.0.0.1");
	g_ctrlr->trid.adrfam = AXON_NVME_ADRFAM_IPV4;
	snprintf(g_ctrlr->trid.trsvcid, sizeof(g_ctrlr->trid.trsvcid), "4420");
	CU_ASSERT_EQUAL_FATAL(tcp_ctrlr_construct(g_ctrlr, &g_ctrlr->tctx), 0);
	g_qpair = tcp_qpair_create(g_ctrlr, 1, UT_DEPTH);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g_qpair);
	CU_ASSERT_EQUAL_FATAL(nvme_qpair_init(g_qpair, g_ctrlr, 1, UT_DEPTH, UT_DEPTH), 0);
	g_tq = tcp_qpair(g_qpair);
}

static void ut_teardown(void)
{
	g_qpair->ops->qpair_disconnect(g_qpair);
	nvme_qpair_abort_all(g_qpair, AXON_NVME_STATUS(0, 8));
	nvme_qpair_fini(g_qpair);
	tcp_qpair_destroy(g_qpair);
	tcp_ctrlr_destruct(g_ctrlr, g_ctrlr->tctx);
	free(g_ctrlr);
}

static void poll_qpair(void)
{
	nvme_qpair_poll_transport(g_qpair, 0);
}

/* An ICResp granting dgst, cpda and maxh2cdata. */
static void feed_ic_resp(uint8_t dgst, uint8_t cpda, uint32_t maxh2cdata, uint16_t pfv)
{
	struct axon_nvme_tcp_ic_resp ic;

	memset(&ic, 0, sizeof(ic));
	ic.common.pdu_type = AXON_NVME_TCP_PDU_IC_RESP;
	ic.common.hlen = sizeof(ic);
	ic.common.plen = sizeof(ic);
	ic.pfv = pfv;
	ic.cpda = cpda;
	ic.dgst = dgst;
	ic.maxh2cdata = maxh2cdata;
	fs_feed(&ic, sizeof(ic));
}

/* Connect and finish the handshake; leaves the qpair ENABLED, output cleared. */
static void ut_connect(bool hdgst, bool ddgst, uint32_t maxh2cdata)
{
	const struct axon_nvme_tcp_ic_req *req;

	ut_setup(hdgst, ddgst);
	CU_ASSERT_EQUAL_FATAL(nvme_qpair_connect_start(g_qpair), 0);
	feed_ic_resp((hdgst ? 1 : 0) | (ddgst ? 2 : 0), 0, maxh2cdata, 0);
	poll_qpair();
	CU_ASSERT_EQUAL_FATAL(g_qpair->state, AXON_NVME_QPAIR_TRANSPORT_READY);
	CU_ASSERT_EQUAL_FATAL(g_fs.out_len, 128);
	req = (const void *)g_fs.out;
	CU_ASSERT_EQUAL(req->common.pdu_type, AXON_NVME_TCP_PDU_IC_REQ);
	CU_ASSERT_EQUAL(req->common.hlen, 128);
	CU_ASSERT_EQUAL(req->common.plen, 128);
	CU_ASSERT_EQUAL(req->pfv, 0);
	CU_ASSERT_EQUAL(req->maxr2t, 0);
	CU_ASSERT_EQUAL(req->dgst, (hdgst ? 1 : 0) | (ddgst ? 2 : 0));
	g_qpair->state = AXON_NVME_QPAIR_ENABLED; /* as after the fabrics Connect */
	g_fs.out_len = 0;
}

static int g_status;
static int g_ncpl;

static void cmd_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	g_status = axon_nvme_cpl_get_status(cpl);
	g_ncpl++;
}

static uint16_t submit_rw(uint8_t opc, void *buf, uint32_t len)
{
	struct axon_nvme_cmd cmd = {.opc = opc, .nsid = 1, .cdw12 = len / 512 - 1};
	struct axon_nvme_request *req;

	g_status = -1;
	CU_ASSERT_EQUAL_FATAL(nvme_qpair_submit_cmd(g_qpair, &cmd, NULL, 0, buf, len, cmd_cb, NULL,
						    false), 0);
	TAILQ_FOREACH(req, &g_qpair->outstanding, internal.link) {
		if (TAILQ_NEXT(req, internal.link) == NULL) {
			break;
		}
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	return req->cmd.cid;
}

static void put_hdgst(void *hdr, size_t hlen, uint8_t *dst)
{
	tcp_put_digest(dst, axon_crc32c(hdr, hlen));
}

static void feed_rsp(uint16_t cid, uint16_t status, bool hdgst)
{
	uint8_t pdu[28];
	struct axon_nvme_tcp_rsp *rsp = (void *)pdu;

	memset(pdu, 0, sizeof(pdu));
	rsp->common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_RESP;
	rsp->common.flags = hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0;
	rsp->common.hlen = 24;
	rsp->common.plen = 24 + (hdgst ? 4 : 0);
	rsp->rccqe.nvme.cid = cid;
	axon_nvme_cpl_set_status(&rsp->rccqe.nvme, status);
	if (hdgst) {
		put_hdgst(pdu, 24, pdu + 24);
	}
	fs_feed(pdu, rsp->common.plen);
}

static void feed_c2h(uint16_t cid, uint32_t datao, const void *data, uint32_t datal,
		     uint8_t extra_flags, bool hdgst, bool ddgst)
{
	uint8_t pdu[28];
	struct axon_nvme_tcp_data_hdr *d = (void *)pdu;
	uint32_t hd = hdgst ? 4 : 0;
	uint8_t dd[4];

	memset(pdu, 0, sizeof(pdu));
	d->common.pdu_type = AXON_NVME_TCP_PDU_C2H_DATA;
	d->common.flags = (hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
			  (ddgst ? AXON_NVME_TCP_FLAG_DDGST : 0) | extra_flags;
	d->common.hlen = 24;
	d->common.pdo = (uint8_t)(24 + hd);
	d->common.plen = 24 + hd + datal + (ddgst ? 4 : 0);
	d->cccid = cid;
	d->datao = datao;
	d->datal = datal;
	if (hdgst) {
		put_hdgst(pdu, 24, pdu + 24);
	}
	fs_feed(pdu, 24 + hd);
	fs_feed(data, datal);
	if (ddgst) {
		tcp_put_digest(dd, axon_crc32c(data, datal));
		fs_feed(dd, 4);
	}
}

static void feed_r2t(uint16_t cid, uint16_t ttag, uint32_t r2to, uint32_t r2tl, bool hdgst)
{
	uint8_t pdu[28];
	struct axon_nvme_tcp_r2t_hdr *r = (void *)pdu;

	memset(pdu, 0, sizeof(pdu));
	r->common.pdu_type = AXON_NVME_TCP_PDU_R2T;
	r->common.flags = hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0;
	r->common.hlen = 24;
	r->common.plen = 24 + (hdgst ? 4 : 0);
	r->cccid = cid;
	r->ttag = ttag;
	r->r2to = r2to;
	r->r2tl = r2tl;
	if (hdgst) {
		put_hdgst(pdu, 24, pdu + 24);
	}
	fs_feed(pdu, r->common.plen);
}

/* The qpair failed with an H2CTermReq carrying fes/fei; commands aborted. */
static void expect_fatal(uint16_t fes, uint32_t fei)
{
	const struct axon_nvme_tcp_term_req_hdr *t;
	size_t off = g_fs.out_len;

	CU_ASSERT_EQUAL(g_qpair->state, AXON_NVME_QPAIR_FAILED);
	/* Find the TermReq: it is the last PDU written. */
	CU_ASSERT_FATAL(off >= 24);
	t = NULL;
	for (off = 0; off + 24 <= g_fs.out_len;) {
		const struct axon_nvme_tcp_common_hdr *ch = (const void *)(g_fs.out + off);

		if (ch->pdu_type == AXON_NVME_TCP_PDU_H2C_TERM_REQ) {
			t = (const void *)ch;
			break;
		}
		if (ch->plen == 0) {
			break;
		}
		off += ch->plen;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(t->common.hlen, 24);
	CU_ASSERT(t->common.plen >= 24 && t->common.plen <= 152);
	CU_ASSERT_EQUAL(t->fes, fes);
	CU_ASSERT_EQUAL(tcp_get_digest(t->fei), fei);
	/* lib/nvme's handling: disconnect, commands complete aborted. */
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(g_qpair, 0), -ENXIO);
	CU_ASSERT_EQUAL(g_qpair->num_outstanding, 0);
	CU_ASSERT_FALSE(g_fs.open);
}

/* ---- good paths ---------------------------------------------------------------------------- */

static void test_read_c2h_into_buffer(void)
{
	static const bool variants[][3] = {
		{false, false, false}, {true, true, false}, {true, true, true}, {false, true, true},
	};
	uint8_t data[8192], buf[8192];
	const struct axon_nvme_tcp_cmd *cmd;
	size_t v;
	uint16_t cid;
	uint32_t i;

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7);
	}
	for (v = 0; v < AXON_COUNTOF(variants); v++) {
		bool hd = variants[v][0], dd = variants[v][1];

		ut_connect(hd, dd, 65536);
		g_fs.chunk = variants[v][2] ? 1 : 0; /* byte-by-byte stream */
		memset(buf, 0, sizeof(buf));
		cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
		poll_qpair();
		cmd = (const void *)g_fs.out;
		CU_ASSERT_EQUAL(cmd->common.pdu_type, AXON_NVME_TCP_PDU_CAPSULE_CMD);
		CU_ASSERT_EQUAL(cmd->common.plen, 72 + (hd ? 4 : 0));
		CU_ASSERT_EQUAL(cmd->ccsqe.nvme.dptr.sgl1.unkeyed.type,
				AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK);
		CU_ASSERT_EQUAL(cmd->ccsqe.nvme.dptr.sgl1.unkeyed.length, sizeof(buf));
		if (hd) {
			CU_ASSERT_EQUAL(tcp_get_digest(g_fs.out + 72), axon_crc32c(g_fs.out, 72));
		}
		feed_c2h(cid, 0, data, 4096, 0, hd, dd);
		feed_c2h(cid, 4096, data + 4096, 4096, AXON_NVME_TCP_FLAG_LAST_PDU, hd, dd);
		feed_rsp(cid, 0, hd);
		while (g_fs.in_off < g_fs.in_len && g_status == -1) {
			poll_qpair();
		}
		CU_ASSERT_EQUAL(g_status, 0);
		CU_ASSERT_EQUAL(memcmp(buf, data, sizeof(buf)), 0);
		CU_ASSERT_EQUAL(g_qpair->state, AXON_NVME_QPAIR_ENABLED);
		CU_ASSERT_EQUAL(g_qpair->num_outstanding, 0);
		ut_teardown();
	}
}

static void test_read_success_flag(void)
{
	uint8_t data[4096], buf[4096];
	uint16_t cid;

	memset(data, 0xa5, sizeof(data));
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_c2h(cid, 0, data, sizeof(data),
		 AXON_NVME_TCP_FLAG_LAST_PDU | AXON_NVME_TCP_FLAG_SUCCESS, false, false);
	poll_qpair();
	CU_ASSERT_EQUAL(g_status, 0);
	CU_ASSERT_EQUAL(memcmp(buf, data, sizeof(buf)), 0);
	/* No response capsule follows: the next one for this cid is a violation. */
	CU_ASSERT_EQUAL(g_qpair->num_outstanding, 0);
	ut_teardown();
}

static void test_write_in_capsule(void)
{
	uint8_t buf[2048];
	const struct axon_nvme_tcp_cmd *cmd;
	uint16_t cid;

	memset(buf, 0x3c, sizeof(buf));
	ut_connect(true, true, 65536);
	cid = submit_rw(nvme_cmd_write, buf, sizeof(buf));
	poll_qpair();
	cmd = (const void *)g_fs.out;
	CU_ASSERT_EQUAL(cmd->ccsqe.nvme.dptr.sgl1.unkeyed.type, AXON_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT_EQUAL(cmd->ccsqe.nvme.dptr.sgl1.unkeyed.subtype, AXON_NVME_SGL_SUBTYPE_OFFSET);
	CU_ASSERT_EQUAL(cmd->common.flags, AXON_NVME_TCP_FLAG_HDGST | AXON_NVME_TCP_FLAG_DDGST);
	CU_ASSERT_EQUAL(cmd->common.pdo, 76);
	CU_ASSERT_EQUAL(cmd->common.plen, 76 + sizeof(buf) + 4);
	CU_ASSERT_EQUAL_FATAL(g_fs.out_len, 76 + sizeof(buf) + 4);
	CU_ASSERT_EQUAL(memcmp(g_fs.out + 76, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(tcp_get_digest(g_fs.out + 76 + sizeof(buf)), axon_crc32c(buf, sizeof(buf)));
	feed_rsp(cid, 0, true);
	poll_qpair();
	CU_ASSERT_EQUAL(g_status, 0);
	ut_teardown();
}

static void test_write_r2t_h2c(void)
{
	uint8_t buf[16384];
	const struct axon_nvme_tcp_data_hdr *h2c;
	size_t off;
	uint32_t i, expect_off = 0;
	uint16_t cid;
	int pdus = 0;

	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i ^ (i >> 8));
	}
	ut_connect(false, true, 4096); /* maxh2cdata 4 KiB: 2 PDUs per 8 KiB R2T */
	cid = submit_rw(nvme_cmd_write, buf, sizeof(buf));
	poll_qpair();
	CU_ASSERT_EQUAL(g_fs.out_len, 72); /* no data in the capsule */
	g_fs.out_len = 0;
	feed_r2t(cid, 0x55, 0, 8192, false);
	poll_qpair();
	feed_r2t(cid, 0x56, 8192, 8192, false);
	poll_qpair();
	for (off = 0; off < g_fs.out_len; off += h2c->common.plen, pdus++) {
		h2c = (const void *)(g_fs.out + off);
		CU_ASSERT_EQUAL_FATAL(h2c->common.pdu_type, AXON_NVME_TCP_PDU_H2C_DATA);
		CU_ASSERT_EQUAL(h2c->cccid, cid);
		CU_ASSERT_EQUAL(h2c->ttag, expect_off < 8192 ? 0x55 : 0x56);
		CU_ASSERT_EQUAL(h2c->datao, expect_off);
		CU_ASSERT_EQUAL(h2c->datal, 4096);
		CU_ASSERT_EQUAL(!!(h2c->common.flags & AXON_NVME_TCP_FLAG_LAST_PDU),
				(expect_off + 4096) % 8192 == 0);
		CU_ASSERT_EQUAL(memcmp(g_fs.out + off + h2c->common.pdo, buf + expect_off, 4096), 0);
		CU_ASSERT_EQUAL(tcp_get_digest(g_fs.out + off + h2c->common.pdo + 4096),
				axon_crc32c(buf + expect_off, 4096));
		expect_off += 4096;
	}
	CU_ASSERT_EQUAL(pdus, 4);
	feed_rsp(cid, 0, false);
	poll_qpair();
	CU_ASSERT_EQUAL(g_status, 0);
	ut_teardown();
}

/* A data digest error fails the command only, with a transient transport error. */
static void test_data_digest_error(void)
{
	uint8_t data[4096], buf[4096];
	uint16_t cid;

	memset(data, 1, sizeof(data));
	ut_connect(false, true, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_c2h(cid, 0, data, sizeof(data), AXON_NVME_TCP_FLAG_LAST_PDU, false, true);
	g_fs.in[g_fs.in_len - 1] ^= 0xff; /* corrupt the digest */
	feed_rsp(cid, 0, false);
	poll_qpair();
	CU_ASSERT_EQUAL(g_status, AXON_NVME_STATUS(0, 0x22));
	CU_ASSERT_EQUAL(g_qpair->state, AXON_NVME_QPAIR_ENABLED);
	ut_teardown();
}

/* ---- hostile targets ------------------------------------------------------------------------- */

static void test_c2h_unknown_cid(void)
{
	uint8_t data[512], buf[4096];
	uint16_t cid;

	memset(buf, 0x77, sizeof(buf));
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_c2h((uint16_t)(cid + 3), 0, data, sizeof(data), 0, false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 8);
	CU_ASSERT_EQUAL(g_status, AXON_NVME_STATUS(0, 8));
	CU_ASSERT_EQUAL(buf[0], 0x77); /* nothing landed */
	/* A cid beyond every slot. */
	ut_teardown();
	ut_connect(false, false, 65536);
	submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_c2h(0xfffe, 0, data, sizeof(data), 0, false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 8);
	ut_teardown();
}

static void test_c2h_beyond_command(void)
{
	uint8_t data[8192], buf[4096 + 64];
	uint16_t cid;

	memset(buf, 0, sizeof(buf));
	memset(data, 0xee, sizeof(data));
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, 4096);
	poll_qpair();
	feed_c2h(cid, 0, data, 4096 + 512, 0, false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 12);
	CU_ASSERT_EQUAL(buf[4096], 0); /* the guard bytes are untouched */
	ut_teardown();

	/* Out of order: datao skips ahead. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, 4096);
	poll_qpair();
	feed_c2h(cid, 1024, data, 1024, 0, false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 12);
	ut_teardown();

	/* C2HData for a write command. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_write, buf, 512);
	poll_qpair();
	feed_c2h(cid, 0, data, 512, 0, false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 8);
	ut_teardown();

	/* SUCCESS before the last byte. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, 4096);
	poll_qpair();
	feed_c2h(cid, 0, data, 1024, AXON_NVME_TCP_FLAG_LAST_PDU | AXON_NVME_TCP_FLAG_SUCCESS,
		 false, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	ut_teardown();

	/* A success response before all data arrived. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, 4096);
	poll_qpair();
	feed_c2h(cid, 0, data, 1024, 0, false, false);
	feed_rsp(cid, 0, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 20);
	ut_teardown();
}

static void test_wrong_lengths(void)
{
	struct axon_nvme_tcp_rsp rsp;
	uint8_t buf[4096];
	uint16_t cid;

	/* CapsuleResp with a wrong hlen. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	memset(&rsp, 0, sizeof(rsp));
	rsp.common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_RESP;
	rsp.common.hlen = 16;
	rsp.common.plen = 24;
	rsp.rccqe.nvme.cid = cid;
	fs_feed(&rsp, sizeof(rsp));
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 2);
	ut_teardown();

	/* CapsuleResp claiming a huge plen. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	rsp.common.hlen = 24;
	rsp.common.plen = 0x7fffffff;
	fs_feed(&rsp, sizeof(rsp));
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);
	ut_teardown();

	/* C2HData whose datal disagrees with plen. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	{
		struct axon_nvme_tcp_data_hdr d;

		memset(&d, 0, sizeof(d));
		d.common.pdu_type = AXON_NVME_TCP_PDU_C2H_DATA;
		d.common.hlen = 24;
		d.common.pdo = 24;
		d.common.plen = 24 + 100;
		d.cccid = cid;
		d.datal = 4096;
		fs_feed(&d, sizeof(d));
	}
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 16);
	ut_teardown();

	/* An unknown PDU type; and an H2C type from the controller. */
	ut_connect(false, false, 65536);
	memset(&rsp, 0, sizeof(rsp));
	rsp.common.pdu_type = 0x42;
	rsp.common.hlen = 24;
	rsp.common.plen = 24;
	fs_feed(&rsp, sizeof(rsp));
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
	ut_teardown();
	ut_connect(false, false, 65536);
	rsp.common.pdu_type = AXON_NVME_TCP_PDU_H2C_DATA;
	fs_feed(&rsp, sizeof(rsp));
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
	ut_teardown();

	/* Digest flag missing when header digests were negotiated. */
	ut_connect(true, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_rsp(cid, 0, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	ut_teardown();
}

static void test_header_digest_error(void)
{
	uint8_t buf[4096];
	uint16_t cid;

	ut_connect(true, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_rsp(cid, 0, true);
	g_fs.in[g_fs.in_len - 2] ^= 0x10;
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_HDGST_ERROR, 0);
	ut_teardown();
}

static void test_r2t_hostile(void)
{
	uint8_t buf[16384];
	uint16_t cid;

	/* Beyond the command. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_write, buf, 8192);
	poll_qpair();
	feed_r2t(cid, 1, 4096, 8192, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 12);
	ut_teardown();

	/* For a read. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, 8192);
	poll_qpair();
	feed_r2t(cid, 1, 0, 4096, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 8);
	ut_teardown();

	/* For an in-capsule write (its data is already there). */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_write, buf, 1024);
	poll_qpair();
	feed_r2t(cid, 1, 0, 1024, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 8);
	ut_teardown();

	/* A second R2T before the data of the first was sent: we allowed one (MAXR2T 0). */
	ut_connect(false, false, 4096);
	cid = submit_rw(nvme_cmd_write, buf, 16384);
	poll_qpair();
	feed_r2t(cid, 1, 0, 8192, false);
	feed_r2t(cid, 2, 8192, 8192, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_DATA_LIMIT_EXCEEDED, 8);
	ut_teardown();

	/* Zero length. */
	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_write, buf, 16384);
	poll_qpair();
	feed_r2t(cid, 1, 0, 0, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 16);
	ut_teardown();
}

static void test_term_req_from_target(void)
{
	uint8_t pdu[24 + 8], buf[4096];
	struct axon_nvme_tcp_term_req_hdr *t = (void *)pdu;
	size_t out_before;

	ut_connect(false, false, 65536);
	submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	out_before = g_fs.out_len;
	memset(pdu, 0, sizeof(pdu));
	t->common.pdu_type = AXON_NVME_TCP_PDU_C2H_TERM_REQ;
	t->common.hlen = 24;
	t->common.plen = sizeof(pdu);
	t->fes = AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR;
	fs_feed(pdu, sizeof(pdu));
	g_fs.chunk = 5;
	while (g_qpair->state == AXON_NVME_QPAIR_ENABLED && g_fs.in_off < g_fs.in_len) {
		poll_qpair();
	}
	CU_ASSERT_EQUAL(g_qpair->state, AXON_NVME_QPAIR_FAILED);
	CU_ASSERT_EQUAL(g_qpair->failure_reason, -ECONNRESET);
	CU_ASSERT_EQUAL(g_fs.out_len, out_before); /* no TermReq answers a TermReq */
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(g_qpair, 0), -ENXIO);
	CU_ASSERT_EQUAL(g_status, AXON_NVME_STATUS(0, 8));
	ut_teardown();

	/* A TermReq with an absurd length is itself a violation. */
	ut_connect(false, false, 65536);
	t->common.plen = 4000;
	fs_feed(pdu, 24);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 4);
	ut_teardown();
}

static void test_bad_ic_resp(void)
{
	static const struct {
		uint8_t dgst;
		uint8_t cpda;
		uint32_t maxh2cdata;
		uint16_t pfv;
		uint16_t fes;
		uint32_t fei;
	} bad[] = {
		{0, 0, 65536, 1, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER, 8},
		{0, 32, 65536, 0, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10},
		{3, 0, 65536, 0, AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER, 11}, /* we asked none */
		{0, 0, 1024, 0, AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 12},
	};
	size_t i;

	for (i = 0; i < AXON_COUNTOF(bad); i++) {
		ut_setup(false, false);
		CU_ASSERT_EQUAL_FATAL(nvme_qpair_connect_start(g_qpair), 0);
		feed_ic_resp(bad[i].dgst, bad[i].cpda, bad[i].maxh2cdata, bad[i].pfv);
		poll_qpair();
		expect_fatal(bad[i].fes, bad[i].fei);
		ut_teardown();
	}
	/* A CapsuleResp before the ICResp. */
	ut_setup(false, false);
	CU_ASSERT_EQUAL_FATAL(nvme_qpair_connect_start(g_qpair), 0);
	feed_rsp(0, 0, false);
	poll_qpair();
	expect_fatal(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	ut_teardown();
}

static void test_connection_closed(void)
{
	uint8_t buf[4096];
	uint16_t cid;

	ut_connect(false, false, 65536);
	cid = submit_rw(nvme_cmd_read, buf, sizeof(buf));
	poll_qpair();
	feed_c2h(cid, 0, buf, 100, 0, false, false);
	g_fs.in_len -= 50; /* cut in the middle of the data */
	g_fs.eof = true;
	poll_qpair();
	CU_ASSERT_EQUAL(g_qpair->state, AXON_NVME_QPAIR_FAILED);
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(g_qpair, 0), -ENXIO);
	CU_ASSERT_EQUAL(g_status, AXON_NVME_STATUS(0, 8));
	ut_teardown();
}

int main(void)
{
	CU_pSuite s;
	unsigned int n;

	axon_log_set_print_level(AXON_LOG_DISABLED);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	s = CU_add_suite("nvme_tcp_host", NULL, NULL);
	CU_ADD_TEST(s, test_read_c2h_into_buffer);
	CU_ADD_TEST(s, test_read_success_flag);
	CU_ADD_TEST(s, test_write_in_capsule);
	CU_ADD_TEST(s, test_write_r2t_h2c);
	CU_ADD_TEST(s, test_data_digest_error);
	s = CU_add_suite("nvme_tcp_host_hostile", NULL, NULL);
	CU_ADD_TEST(s, test_c2h_unknown_cid);
	CU_ADD_TEST(s, test_c2h_beyond_command);
	CU_ADD_TEST(s, test_wrong_lengths);
	CU_ADD_TEST(s, test_header_digest_error);
	CU_ADD_TEST(s, test_r2t_hostile);
	CU_ADD_TEST(s, test_term_req_from_target);
	CU_ADD_TEST(s, test_bad_ic_resp);
	CU_ADD_TEST(s, test_connection_closed);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
