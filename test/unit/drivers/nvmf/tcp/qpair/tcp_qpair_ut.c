/*
 * One NVMe/TCP connection end to end, without sockets or lib/nvmf (see
 * ../tcp_harness.h): ICReq/ICResp, in-capsule and R2T writes, reads with and
 * without SUCCESS, several R2Ts, every H2CData error, digest errors, SGL
 * errors, buffer waits and aborts, fatal errors and their TermReq, and
 * teardown with requests in every state (ASan checks nothing leaks and
 * nothing is touched after it is freed).
 */
#include <CUnit/Basic.h>

#include "test/unit/drivers/nvmf/tcp/tcp_harness.h"

static uint8_t g_buf[700 * 1024] __attribute__((aligned(8)));
static uint8_t g_pattern[600 * 1024];

static void fill_pattern(uint32_t seed)
{
	uint32_t i;

	for (i = 0; i < sizeof(g_pattern); i++) {
		g_pattern[i] = (uint8_t)(i * 31 + seed + (i >> 9));
	}
}

static void feed(size_t len)
{
	h_feed(g_buf, len);
}

/* h_setup_opts + ICReq; checks the ICResp. */
static void open_opts(const struct axon_nvmf_transport_opts *opts, bool c2h_success, uint8_t dgst,
		      uint8_t hpda, uint32_t maxr2t)
{
	const struct axon_nvme_tcp_ic_resp *ic;
	uint32_t len;

	h_setup_opts(opts, c2h_success);
	feed(h_ic_req(g_buf, hpda, dgst, maxr2t));
	h_flush();
	ic = (const void *)h_next_out(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ic);
	CU_ASSERT_EQUAL(ic->common.pdu_type, AXON_NVME_TCP_PDU_IC_RESP);
	CU_ASSERT_EQUAL(len, 128);
	CU_ASSERT_EQUAL(ic->pfv, 0);
	CU_ASSERT_EQUAL(ic->cpda, 0);
	CU_ASSERT_EQUAL(ic->dgst, dgst);
	CU_ASSERT_EQUAL(ic->maxh2cdata, TCP_MAXH2CDATA);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_RUNNING);
}

static void open_conn(uint8_t dgst, uint8_t hpda, uint32_t maxr2t)
{
	struct axon_nvmf_transport_opts opts;

	h_default_opts(&opts);
	open_opts(&opts, true, dgst, hpda, maxr2t);
}

static bool hd(void)
{
	return h.tq->hdgst;
}

static bool dd(void)
{
	return h.tq->ddgst;
}

static void make_io_queue(void)
{
	h.tq->qpair.state = AXON_NVMF_QPAIR_ENABLED;
	h.tq->qpair.qid = 1;
}

/* Next PDU: a CapsuleResp for cid with status. */
static void expect_resp(uint16_t cid, uint16_t status)
{
	const struct axon_nvme_tcp_rsp *rsp;
	uint32_t len;

	rsp = (const void *)h_next_out(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rsp);
	CU_ASSERT_EQUAL(rsp->common.pdu_type, AXON_NVME_TCP_PDU_CAPSULE_RESP);
	CU_ASSERT_EQUAL(len, 24u + (hd() ? 4 : 0));
	if (hd()) {
		CU_ASSERT_EQUAL(h_get_le32((const uint8_t *)rsp + 24), axon_crc32c(rsp, 24));
	}
	CU_ASSERT_EQUAL(rsp->rccqe.nvme.cid, cid);
	CU_ASSERT_EQUAL(axon_nvme_cpl_get_status(&rsp->rccqe.nvme), status);
}

/* Next PDU: an R2T; returns its ttag. */
static uint16_t expect_r2t(uint16_t cid, uint32_t r2to, uint32_t r2tl)
{
	const struct axon_nvme_tcp_r2t_hdr *r2t;
	uint32_t len;

	r2t = (const void *)h_next_out(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r2t);
	CU_ASSERT_EQUAL(r2t->common.pdu_type, AXON_NVME_TCP_PDU_R2T);
	CU_ASSERT_EQUAL(r2t->cccid, cid);
	CU_ASSERT_EQUAL(r2t->r2to, r2to);
	CU_ASSERT_EQUAL(r2t->r2tl, r2tl);
	return r2t->ttag;
}

/* Next PDU: a C2HTermReq with fes/fei; the connection drains. */
static void expect_term(uint16_t fes, uint32_t fei)
{
	const struct axon_nvme_tcp_term_req_hdr *tr;
	uint32_t len;

	h_flush();
	tr = (const void *)h_next_out(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tr);
	CU_ASSERT_EQUAL(tr->common.pdu_type, AXON_NVME_TCP_PDU_C2H_TERM_REQ);
	CU_ASSERT_EQUAL(tr->common.hlen, 24);
	CU_ASSERT(len >= 24 && len <= 152);
	CU_ASSERT_EQUAL(tr->fes, fes);
	CU_ASSERT_EQUAL(h_get_le32(tr->fei), fei);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_TERMINATING);
	CU_ASSERT_PTR_NOT_NULL(h.poller_fn);
}

/* The teardown lib/nvmf would do, then: nothing left anywhere. */
static void teardown_clean(void)
{
	h_teardown();
	CU_ASSERT_TRUE(h.fini_done);
	CU_ASSERT_EQUAL(h.bufs_out, 0);
	CU_ASSERT_TRUE(TAILQ_EMPTY(&h.tg.pending_buf));
	CU_ASSERT_TRUE(TAILQ_EMPTY(&h.wq));
}

/* Write nlb blocks at slba by R2T: capsule, R2T(s), H2CData of pdu_len each. */
static void write_r2t(uint16_t cid, uint64_t slba, uint32_t nlb, uint32_t pdu_len)
{
	union axon_nvmf_sqe sqe = h_rw_cmd(0x01, cid, slba, nlb, false);
	uint32_t total = nlb * H_LBA_SIZE, off = 0;

	feed(h_capsule(g_buf, &sqe, NULL, 0, hd(), dd(), 0));
	h_flush();
	while (off < total) {
		uint32_t r2t_len = AXON_MIN(total - off, TCP_MAXH2CDATA);
		uint16_t ttag = expect_r2t(cid, off, r2t_len);
		uint32_t r2t_end = off + r2t_len;

		while (off < r2t_end) {
			uint32_t n = AXON_MIN(pdu_len, r2t_end - off);

			feed(h_h2c(g_buf, cid, ttag, off, g_pattern + off, n, off + n == r2t_end, hd(),
				   dd()));
			off += n;
		}
		h_flush();
	}
}

/* Read nlb blocks at slba: checks the C2HData (and response) against g_pattern. */
static void read_check(uint16_t cid, uint64_t slba, uint32_t nlb, bool expect_success_flag)
{
	union axon_nvmf_sqe sqe = h_rw_cmd(0x02, cid, slba, nlb, false);
	const struct axon_nvme_tcp_data_hdr *c2h;
	uint32_t total = nlb * H_LBA_SIZE, len;
	uint32_t align = (h.tq->hpda + 1u) * 4u;

	feed(h_capsule(g_buf, &sqe, NULL, 0, hd(), dd(), 0));
	CU_ASSERT_EQUAL(h_complete_all(), 1);
	h_flush();
	c2h = (const void *)h_next_out(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c2h);
	CU_ASSERT_EQUAL(c2h->common.pdu_type, AXON_NVME_TCP_PDU_C2H_DATA);
	CU_ASSERT_EQUAL(c2h->cccid, cid);
	CU_ASSERT_EQUAL(c2h->datao, 0);
	CU_ASSERT_EQUAL(c2h->datal, total);
	CU_ASSERT_EQUAL(c2h->common.pdo % align, 0);
	CU_ASSERT(c2h->common.pdo >= 24u + (hd() ? 4 : 0));
	CU_ASSERT_EQUAL(len, c2h->common.pdo + total + (dd() ? 4 : 0));
	CU_ASSERT_TRUE(c2h->common.flags & AXON_NVME_TCP_FLAG_LAST_PDU);
	CU_ASSERT_EQUAL(!!(c2h->common.flags & AXON_NVME_TCP_FLAG_SUCCESS), expect_success_flag);
	CU_ASSERT_EQUAL(memcmp((const uint8_t *)c2h + c2h->common.pdo, g_pattern, total), 0);
	if (hd()) {
		CU_ASSERT_EQUAL(h_get_le32((const uint8_t *)c2h + 24), axon_crc32c(c2h, 24));
	}
	if (dd()) {
		CU_ASSERT_EQUAL(h_get_le32((const uint8_t *)c2h + c2h->common.pdo + total),
				axon_crc32c((const uint8_t *)c2h + c2h->common.pdo, total));
	}
	if (!expect_success_flag) {
		expect_resp(cid, 0);
	}
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_ic_req(void)
{
	open_conn(3, 5, 7);
	CU_ASSERT_TRUE(h.tq->hdgst && h.tq->ddgst);
	CU_ASSERT_EQUAL(h.tq->hpda, 5);
	CU_ASSERT_EQUAL(h.tq->max_r2t_per_req, 4);
	CU_ASSERT_EQUAL(h.tq->num_reqs, 16);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_FREE], 16);
	teardown_clean();

	/* MAXR2T is 0's based, and 0xffffffff must not wrap to 0. */
	open_conn(0, 0, 0xffffffffu);
	CU_ASSERT_EQUAL(h.tq->max_r2t_per_req, 4);
	teardown_clean();
	open_conn(0, 0, 0);
	CU_ASSERT_EQUAL(h.tq->max_r2t_per_req, 1);
	teardown_clean();

	/* Anything before the ICReq is fatal, and nothing is allocated. */
	{
		union axon_nvmf_sqe sqe = h_rw_cmd(0x02, 1, 0, 1, false);

		h_setup();
		feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
		expect_term(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
		CU_ASSERT_PTR_NULL(h.tq->reqs);
		teardown_clean();
	}
}

static void test_write_in_capsule(void)
{
	uint8_t dgst;

	fill_pattern(1);
	for (dgst = 0; dgst < 4; dgst++) {
		union axon_nvmf_sqe sqe = h_rw_cmd(0x01, 10 + dgst, 8, 8, true);

		open_conn(dgst, 0, 0);
		make_io_queue();
		feed(h_capsule(g_buf, &sqe, g_pattern, 4096, hd(), dd(), 0));
		CU_ASSERT_EQUAL(h.execs, 1);
		CU_ASSERT_EQUAL(h.bufs_out, 0); /* in-capsule: no pool buffer */
		CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_EXECUTING], 1);
		CU_ASSERT_EQUAL(h_complete_all(), 1);
		h_flush();
		expect_resp(10 + dgst, 0);
		CU_ASSERT_EQUAL(memcmp(h.disk + 8 * 512, g_pattern, 4096), 0);
		CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_FREE], h.tq->num_reqs);
		teardown_clean();
	}
}

static void test_write_read_r2t(void)
{
	uint8_t dgst, hpda;

	for (dgst = 0; dgst < 4; dgst++) {
		for (hpda = 0; hpda < 8; hpda += 3) {
			fill_pattern(dgst * 16u + hpda);
			open_conn(dgst, hpda, 0);
			make_io_queue();
			write_r2t(5, 0, 256, 65536); /* 128 KiB in two H2CData PDUs */
			CU_ASSERT_EQUAL(h.execs, 1);
			CU_ASSERT_EQUAL(h_complete_all(), 1);
			h_flush();
			expect_resp(5, 0);
			CU_ASSERT_EQUAL(memcmp(h.disk, g_pattern, 131072), 0);

			/* 4 KiB and 128 KiB reads: SQ flow control on, so a response follows. */
			read_check(6, 0, 8, false);
			read_check(7, 0, 256, false);
			/* Flow control off: SUCCESS in the C2HData, no response capsule. */
			h.tq->qpair.sq_flow_control = false;
			read_check(8, 0, 256, true);
			CU_ASSERT_EQUAL(h.out_off, h.out_len);
			CU_ASSERT_EQUAL(h.bufs_out, 0);
			teardown_clean();
		}
	}

	/* c2h_success off: always a response. */
	{
		struct axon_nvmf_transport_opts opts;

		h_default_opts(&opts);
		open_opts(&opts, false, 0, 0, 0);
		h.tq->qpair.sq_flow_control = false;
		read_check(9, 0, 8, false);
		teardown_clean();
	}

	/* A failed read sends no data, only the response. */
	open_conn(0, 0, 0);
	{
		union axon_nvmf_sqe sqe = h_rw_cmd(0x02, 3, 0, 8, false);

		h.next_status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL);
		feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
		h_complete_all();
		h_flush();
		expect_resp(3, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		CU_ASSERT_EQUAL(h.out_off, h.out_len);
	}
	teardown_clean();
}

static void test_several_r2ts(void)
{
	struct axon_nvmf_transport_opts opts;
	union axon_nvmf_sqe sqe;
	uint16_t t1, t2, t3;

	fill_pattern(7);
	h_default_opts(&opts);
	opts.max_io_size = 512 * 1024;
	opts.io_unit_size = 128 * 1024;

	/* MAXR2T 1: two R2Ts per command at a time, each of MAXH2CDATA. */
	open_opts(&opts, true, 3, 0, 1);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 1, 0, 1024, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, hd(), dd(), 0));
	h_flush();
	t1 = expect_r2t(1, 0, 131072);
	t2 = expect_r2t(1, 131072, 131072);
	CU_ASSERT_EQUAL(t1, t2); /* one ttag per command; offsets tell R2Ts apart */
	CU_ASSERT_PTR_NULL(h_next_out(&(uint32_t){0}));
	feed(h_h2c(g_buf, 1, t1, 0, g_pattern, 131072, true, hd(), dd()));
	h_flush();
	t3 = expect_r2t(1, 262144, 131072);
	CU_ASSERT_EQUAL(t3, t1);
	/* Data for the second R2T in pieces; LAST on the piece that ends it. */
	feed(h_h2c(g_buf, 1, t1, 131072, g_pattern + 131072, 100000, false, hd(), dd()));
	feed(h_h2c(g_buf, 1, t1, 231072, g_pattern + 231072, 31072, true, hd(), dd()));
	h_flush();
	expect_r2t(1, 393216, 131072);
	feed(h_h2c(g_buf, 1, t1, 262144, g_pattern + 262144, 131072, true, hd(), dd()));
	CU_ASSERT_EQUAL(h.execs, 0);
	feed(h_h2c(g_buf, 1, t1, 393216, g_pattern + 393216, 131072, true, hd(), dd()));
	CU_ASSERT_EQUAL(h.execs, 1);
	h_complete_all();
	h_flush();
	expect_resp(1, 0);
	CU_ASSERT_EQUAL(memcmp(h.disk, g_pattern, 512 * 1024), 0);
	teardown_clean();

	/* Two commands with R2Ts outstanding at once, their data interleaved. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 21, 0, 16, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
	sqe = h_rw_cmd(0x01, 22, 16, 16, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
	h_flush();
	t1 = expect_r2t(21, 0, 8192);
	t2 = expect_r2t(22, 0, 8192);
	CU_ASSERT_NOT_EQUAL(t1, t2);
	feed(h_h2c(g_buf, 22, t2, 0, g_pattern + 8192, 4096, false, false, false));
	feed(h_h2c(g_buf, 21, t1, 0, g_pattern, 4096, false, false, false));
	feed(h_h2c(g_buf, 21, t1, 4096, g_pattern + 4096, 4096, true, false, false));
	feed(h_h2c(g_buf, 22, t2, 4096, g_pattern + 12288, 4096, true, false, false));
	CU_ASSERT_EQUAL(h_complete_all(), 2);
	h_flush();
	expect_resp(21, 0);
	expect_resp(22, 0);
	CU_ASSERT_EQUAL(memcmp(h.disk, g_pattern, 16384), 0);
	teardown_clean();
}

/* A fresh connection with one 8 KiB write waiting for its data; returns the ttag. */
static uint16_t pending_write(uint8_t dgst)
{
	union axon_nvmf_sqe sqe = h_rw_cmd(0x01, 3, 0, 16, false);

	open_conn(dgst, 0, 0);
	make_io_queue();
	feed(h_capsule(g_buf, &sqe, NULL, 0, hd(), dd(), 0));
	h_flush();
	return expect_r2t(3, 0, 8192);
}

static void test_h2c_errors(void)
{
	union axon_nvmf_sqe sqe;
	uint16_t ttag;

	fill_pattern(3);
	/* Wrong ttag (a free request), and one out of range. */
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag + 1, 0, g_pattern, 4096, false, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10);
	teardown_clean();
	pending_write(0);
	feed(h_h2c(g_buf, 3, 999, 0, g_pattern, 4096, false, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10);
	teardown_clean();

	/* Right ttag, wrong command id. */
	ttag = pending_write(1);
	feed(h_h2c(g_buf, 4, ttag, 0, g_pattern, 4096, false, true, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 8);
	teardown_clean();

	/* Not the expected offset. */
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 512, g_pattern, 4096, false, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 12);
	teardown_clean();
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 4096, false, false, false));
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 4096, true, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 12);
	teardown_clean();

	/* Data beyond the command. */
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 8192 + 512, true, false, false));
	expect_term(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
	teardown_clean();
	ttag = pending_write(2);
	feed(h_h2c(g_buf, 3, ttag, 4096, g_pattern, 8192, true, false, true));
	expect_term(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
	teardown_clean();

	/* LAST_PDU missing at the end, or set before it. */
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 8192, false, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	teardown_clean();
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 4096, true, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 1);
	teardown_clean();

	/* H2CData with no R2T outstanding at all. */
	open_conn(0, 0, 0);
	feed(h_h2c(g_buf, 1, 0, 0, g_pattern, 512, true, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10);
	teardown_clean();

	/* H2CData after the command's data is complete (R2T done). */
	ttag = pending_write(0);
	feed(h_h2c(g_buf, 3, ttag, 0, g_pattern, 8192, true, false, false));
	CU_ASSERT_EQUAL(h.execs, 1);
	feed(h_h2c(g_buf, 3, ttag, 8192, g_pattern, 512, true, false, false));
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 10);
	/* lib/nvmf still holds the write: it hands it back, then fini. */
	CU_ASSERT_EQUAL(h_teardown(), 1);
	CU_ASSERT_EQUAL(h.bufs_out, 0);

	/* Within the command but past the R2T being served. */
	{
		struct axon_nvmf_transport_opts opts;

		h_default_opts(&opts);
		opts.max_io_size = 512 * 1024;
		open_opts(&opts, true, 0, 0, 1);
		make_io_queue();
		sqe = h_rw_cmd(0x01, 1, 0, 512, false);
		feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
		h_flush();
		ttag = expect_r2t(1, 0, 131072);
		expect_r2t(1, 131072, 131072);
		feed(h_h2c(g_buf, 1, ttag, 0, g_pattern, 65536, false, false, false));
		feed(h_h2c(g_buf, 1, ttag, 65536, g_pattern, 131072, true, false, false));
		expect_term(AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE, 0);
		/* Later input is dropped. */
		feed(h_h2c(g_buf, 1, ttag, 65536, g_pattern, 65536, true, false, false));
		CU_ASSERT_EQUAL(h.execs, 0);
		teardown_clean();
	}
}

static void test_data_digest_errors(void)
{
	union axon_nvmf_sqe sqe;
	uint16_t ttag;
	size_t len;

	fill_pattern(5);
	/* In-capsule data with a bad digest: transient transport error, no exec. */
	open_conn(2, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 1, 0, 8, true);
	len = h_capsule(g_buf, &sqe, g_pattern, 4096, false, true, 0);
	g_buf[len - 1] ^= 0x5a;
	feed(len);
	CU_ASSERT_EQUAL(h.execs, 0);
	CU_ASSERT_EQUAL(h.completes_with_status, 1);
	h_complete_all();
	h_flush();
	expect_resp(1, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRAN_TPORT_ERROR));
	/* The connection goes on. */
	sqe = h_rw_cmd(0x01, 2, 0, 8, true);
	feed(h_capsule(g_buf, &sqe, g_pattern, 4096, false, true, 0));
	CU_ASSERT_EQUAL(h.execs, 1);
	h_complete_all();
	h_flush();
	expect_resp(2, 0);
	teardown_clean();

	/* H2CData with a bad digest: the rest of the data is taken, then the error. */
	ttag = pending_write(3);
	len = h_h2c(g_buf, 3, ttag, 0, g_pattern, 4096, false, true, true);
	g_buf[40] ^= 1;
	feed(len);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_RUNNING);
	CU_ASSERT_EQUAL(h.completes_with_status, 0);
	feed(h_h2c(g_buf, 3, ttag, 4096, g_pattern, 4096, true, true, true));
	CU_ASSERT_EQUAL(h.execs, 0);
	CU_ASSERT_EQUAL(h.completes_with_status, 1);
	h_complete_all();
	h_flush();
	expect_resp(3, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_TRAN_TPORT_ERROR));
	teardown_clean();
}

/* A capsule whose SGL the transport refuses: the command fails with status,
 * its in-capsule data is dropped, and the next command works. */
static void sgl_case(union axon_nvmf_sqe *sqe, uint32_t icd_len, uint16_t sc)
{
	union axon_nvmf_sqe next = h_rw_cmd(0x01, 99, 0, 1, true);

	feed(h_capsule(g_buf, sqe, g_pattern, icd_len, false, false, 0));
	CU_ASSERT_EQUAL(h.execs, 0);
	CU_ASSERT_EQUAL(h.completes_with_status, 1);
	h_complete_all();
	h_flush();
	expect_resp(sqe->nvme.cid, (uint16_t)(AXON_NVME_STATUS(NVME_SCT_GENERIC, sc) |
					      (sc == NVME_SC_CMD_INTERRUPTED ? 0 : AXON_NVME_STATUS_DNR)));
	feed(h_capsule(g_buf, &next, g_pattern, 512, false, false, 0));
	CU_ASSERT_EQUAL(h.execs, 1);
	h_complete_all();
	h_flush();
	expect_resp(99, 0);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_FREE], h.tq->num_reqs);
	teardown_clean();
}

static void test_sgl_errors(void)
{
	union axon_nvmf_sqe sqe;

	fill_pattern(9);
	/* Keyed (RDMA) SGL. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 1, 0, 8, false);
	sqe.nvme.dptr.sgl1.generic.type = AXON_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
	sgl_case(&sqe, 0, NVME_SC_SGL_INVALID_TYPE);

	/* More than max_io_size. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x02, 2, 0, 257, false);
	sgl_case(&sqe, 0, NVME_SC_SGL_INVALID_DATA);

	/* In-capsule SGL on a read. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x02, 3, 0, 1, true);
	sgl_case(&sqe, 512, NVME_SC_SGL_INVALID_TYPE);

	/* In-capsule offset past the data, and length past it. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 4, 0, 1, true);
	sqe.nvme.dptr.sgl1.address = 1024;
	sgl_case(&sqe, 512, NVME_SC_SGL_INVALID_OFFSET);
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 5, 0, 2, true);
	sgl_case(&sqe, 512, NVME_SC_SGL_INVALID_DATA);

	/* Data in the capsule although the SGL says the transport brings it. */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 6, 0, 1, false);
	sgl_case(&sqe, 512, NVME_SC_SGL_INVALID_TYPE);

	/* Data with a command that has none (flush). */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x00, 7, 0, 1, true);
	sgl_case(&sqe, 512, NVME_SC_SGL_INVALID_DATA);

	/* 8 KiB in the capsule: too much for an I/O queue (in_capsule_data_size 4 KiB)... */
	open_conn(0, 0, 0);
	make_io_queue();
	sqe = h_rw_cmd(0x01, 8, 0, 16, true);
	sgl_case(&sqe, 8192, NVME_SC_SGL_INVALID_DATA);

	/* ...but fine on the admin queue, in pool buffers. */
	open_conn(0, 0, 0);
	sqe = h_rw_cmd(0x01, 9, 0, 16, true);
	feed(h_capsule(g_buf, &sqe, g_pattern, 8192, false, false, 0));
	CU_ASSERT_EQUAL(h.execs, 1);
	CU_ASSERT_EQUAL(h.bufs_out, 1);
	h_complete_all();
	CU_ASSERT_EQUAL(memcmp(h.disk, g_pattern, 8192), 0);
	h_flush();
	expect_resp(9, 0);
	CU_ASSERT_EQUAL(h.bufs_out, 0);
	/* When the pool is empty the command is interrupted (retryable). */
	h.buf_fail = true;
	sqe = h_rw_cmd(0x01, 10, 0, 16, true);
	h.completes_with_status = 0;
	h.execs = 0;
	sgl_case(&sqe, 8192, NVME_SC_CMD_INTERRUPTED);
}

static void test_buffer_wait_and_abort(void)
{
	union axon_nvmf_sqe sqe;
	int i;

	fill_pattern(11);
	open_conn(0, 0, 0);
	make_io_queue();
	h.buf_fail = true;
	for (i = 0; i < 3; i++) {
		sqe = h_rw_cmd(0x02, (uint16_t)(40 + i), 0, 8, false);
		feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
	}
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_NEED_BUFFER], 3);
	CU_ASSERT_EQUAL(tcp_group_process_pending_buf(&h.tg), 0);
	CU_ASSERT_EQUAL(h.execs, 0);
	/* Abort the middle one. */
	CU_ASSERT_TRUE(tcp_qpair_abort_request(&h.tq->qpair, 41));
	CU_ASSERT_FALSE(tcp_qpair_abort_request(&h.tq->qpair, 41));
	CU_ASSERT_EQUAL(h.last_fail_status, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ));
	h_complete_all();
	h_flush();
	expect_resp(41, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ));
	/* Buffers back: the others go, oldest first. */
	h.buf_fail = false;
	CU_ASSERT_EQUAL(tcp_group_process_pending_buf(&h.tg), 2);
	CU_ASSERT_EQUAL(h.execs, 2);
	CU_ASSERT_EQUAL(TAILQ_FIRST(&h.exec)->cmd->nvme.cid, 40);
	h_complete_all();
	h_flush();
	teardown_clean();
}

static void test_too_many_commands(void)
{
	union axon_nvmf_sqe sqe;
	uint16_t i;

	open_conn(0, 0, 0);
	make_io_queue();
	h.buf_fail = true;
	for (i = 0; i < 16; i++) {
		sqe = h_rw_cmd(0x02, i, 0, 8, false);
		feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
	}
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_RUNNING);
	sqe = h_rw_cmd(0x02, 16, 0, 8, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, false, false, 0));
	expect_term(AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0);
	teardown_clean();
}

/* A host that vanishes with requests in every state; lib/nvmf's completions
 * arrive after the connection is gone. */
static size_t build_every_state(void)
{
	union axon_nvmf_sqe sqe;
	uint16_t ttag;
	size_t len;

	fill_pattern(13);
	open_conn(3, 0, 0);
	make_io_queue();
	/* TRANSFERRING_HOST_TO_CONTROLLER: R2T sent, half the data in. */
	sqe = h_rw_cmd(0x01, 1, 0, 16, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, true, true, 0));
	h_flush();
	ttag = expect_r2t(1, 0, 8192);
	feed(h_h2c(g_buf, 1, ttag, 0, g_pattern, 4096, false, true, true));
	/* TRANSFERRING_CONTROLLER_TO_HOST: a read's data queued, not sent. */
	sqe = h_rw_cmd(0x02, 2, 0, 8, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, true, true, 0));
	h_complete_all();
	/* EXECUTING: a write with lib/nvmf. */
	sqe = h_rw_cmd(0x01, 3, 0, 8, true);
	feed(h_capsule(g_buf, &sqe, g_pattern, 4096, true, true, 0));
	/* NEED_BUFFER. */
	h.buf_fail = true;
	sqe = h_rw_cmd(0x02, 4, 0, 8, false);
	feed(h_capsule(g_buf, &sqe, NULL, 0, true, true, 0));
	/* NEW: a capsule whose in-capsule data is half there. */
	sqe = h_rw_cmd(0x01, 5, 0, 8, true);
	len = h_capsule(g_buf, &sqe, g_pattern, 4096, true, true, 0);
	feed(len / 2);

	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER], 1);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST], 1);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_EXECUTING], 1);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_NEED_BUFFER], 1);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_NEW], 1);
	CU_ASSERT(h.bufs_out >= 2);
	return len;
}

static void test_teardown_every_state(void)
{
	/* The host closes: we disconnect; the write completes later. */
	build_every_state();
	tcp_qpair_conn_lost(h.tq);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_DISCONNECTING);
	CU_ASSERT_EQUAL(tcp_group_disconnect_lost(&h.tg), 1);
	CU_ASSERT_EQUAL(h.disconnects, 1);
	/* Only what lib/nvmf holds and what is queued on the socket remain. */
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_NEW], 0);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_NEED_BUFFER], 0);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER], 0);
	CU_ASSERT_TRUE(TAILQ_EMPTY(&h.tg.pending_buf));
	CU_ASSERT_EQUAL(h_complete_all(), 1);
	CU_ASSERT_EQUAL(h.tq->state_count[TCP_REQ_STATE_EXECUTING], 0);
	CU_ASSERT_EQUAL(h.out_len, h.out_off); /* nothing new was sent */
	teardown_clean();

	/* lib/nvmf tears down a live connection (keep-alive timeout). */
	build_every_state();
	teardown_clean();

	/* A fatal error with all of them in flight. */
	{
		size_t len = build_every_state();

		/* The half capsule completes (one more executing), then a bad PDU. */
		h_feed(g_buf + len / 2, len - len / 2);
		h_flush();
		h.out_off = h.out_len;
		g_buf[0] = AXON_NVME_TCP_PDU_R2T;
		feed(8);
	}
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
	/* The linger time ends: disconnect. */
	h.poller_fn(h.poller_arg);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_DISCONNECTING);
	CU_ASSERT_EQUAL(tcp_group_disconnect_lost(&h.tg), 1);
	teardown_clean();
}

static void test_receive_loop(void)
{
	union axon_nvmf_sqe sqe;
	static uint8_t stream[300 * 1024] __attribute__((aligned(8)));
	size_t len;
	uint16_t ttag;

	fill_pattern(17);
	h_setup();
	len = h_ic_req(stream, 0, 2, 0);
	sqe = h_rw_cmd(0x01, 1, 0, 256, false);
	len += h_capsule(stream + len, &sqe, NULL, 0, false, true, 0);
	h.in = stream;
	h.in_len = len;
	tcp_qpair_sock_cb(h.tq, NULL, NULL);
	make_io_queue();
	h_flush();
	CU_ASSERT_PTR_NOT_NULL(h_next_out(&(uint32_t){0})); /* ICResp */
	ttag = expect_r2t(1, 0, 131072);

	/* 128 KiB of H2CData and a read capsule behind it. */
	len = h_h2c(stream, 1, ttag, 0, g_pattern, 131072, true, false, true);
	sqe = h_rw_cmd(0x02, 2, 0, 8, false);
	len += h_capsule(stream + len, &sqe, NULL, 0, false, true, 0);
	h.in = stream;
	h.in_len = len;
	h.in_off = 0;
	h.readv_direct_bytes = 0;
	tcp_qpair_sock_cb(h.tq, NULL, NULL);
	CU_ASSERT_EQUAL(h.in_off, len);
	/* All but the first buffer-full of data went straight into place. */
	CU_ASSERT(h.readv_direct_bytes >= 131072 - TCP_RX_BUF_SIZE);
	CU_ASSERT_EQUAL(h.execs, 2);
	h_complete_all();
	CU_ASSERT_EQUAL(memcmp(h.disk, g_pattern, 131072), 0);

	/* The peer closes. */
	h.in_eof = true;
	tcp_qpair_sock_cb(h.tq, NULL, NULL);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_DISCONNECTING);
	CU_ASSERT_EQUAL(tcp_group_disconnect_lost(&h.tg), 1);
	teardown_clean();

	/* Input after a fatal error is read and dropped until the peer closes. */
	open_conn(0, 0, 0);
	g_buf[0] = 0x42;
	feed(72);
	expect_term(AXON_NVME_TCP_FES_INVALID_HEADER_FIELD, 0);
	h.in = stream;
	h.in_len = 100000;
	tcp_qpair_sock_cb(h.tq, NULL, NULL);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_TERMINATING);
	CU_ASSERT_EQUAL(h.execs, 0);
	h.in_eof = true;
	h.in_off = h.in_len;
	tcp_qpair_sock_cb(h.tq, NULL, NULL);
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_DISCONNECTING);
	CU_ASSERT_PTR_NULL(h.poller_fn);
	teardown_clean();
}

static void test_term_req_from_host(void)
{
	struct axon_nvme_tcp_term_req_hdr tr;

	open_conn(0, 0, 0);
	memset(&tr, 0, sizeof(tr));
	tr.common.pdu_type = AXON_NVME_TCP_PDU_H2C_TERM_REQ;
	tr.common.hlen = 24;
	tr.common.plen = 24;
	tr.fes = AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR;
	memcpy(g_buf, &tr, sizeof(tr));
	feed(24);
	h_flush();
	CU_ASSERT_EQUAL(h.out_off, h.out_len); /* no TermReq back */
	CU_ASSERT_EQUAL(h.tq->state, TCP_CONN_STATE_DISCONNECTING);
	CU_ASSERT_EQUAL(tcp_group_disconnect_lost(&h.tg), 1);
	teardown_clean();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvmf_tcp_qpair", NULL, NULL);
	CU_ADD_TEST(suite, test_ic_req);
	CU_ADD_TEST(suite, test_write_in_capsule);
	CU_ADD_TEST(suite, test_write_read_r2t);
	CU_ADD_TEST(suite, test_several_r2ts);
	CU_ADD_TEST(suite, test_h2c_errors);
	CU_ADD_TEST(suite, test_data_digest_errors);
	CU_ADD_TEST(suite, test_sgl_errors);
	CU_ADD_TEST(suite, test_buffer_wait_and_abort);
	CU_ADD_TEST(suite, test_too_many_commands);
	CU_ADD_TEST(suite, test_teardown_every_state);
	CU_ADD_TEST(suite, test_receive_loop);
	CU_ADD_TEST(suite, test_term_req_from_host);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	free(h.out);
	return failures ? 1 : 0;
}
