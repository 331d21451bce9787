/*
 * drivers/nvmf/rdma: CM private data checks, keyed SGL parsing, and the
 * request state machine driven by simulated completions.
 *
 * The transport's request and work request code is included; the verbs it
 * calls (rdma_verbs.c) are replaced by a fake that records what would be
 * posted, and lib/nvmf by doubles that queue executed requests. A test
 * completes work requests by handing completions (success, flush, other
 * errors) to the poller, in whatever order and state it wants.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "drivers/nvmf/rdma/rdma_cm_pdata.c"
#include "drivers/nvmf/rdma/rdma_req.c"
#include "drivers/nvmf/rdma/rdma_io.c"

#define H_NUM_RECVS 32
#define H_ICD 4096
#define H_RECV_SIZE (64 + H_ICD)
#define H_LKEY 0x1234u
#define H_RKEY 0xbeef01u
#define H_MAX_POSTED 256
#define H_QP_NUM 7

struct h_posted {
	struct ibv_send_wr *wr; /* the request's own WR (valid while the request is not reused) */
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	uint64_t remote_addr;
	uint32_t rkey;
	uint32_t invalidate_rkey;
	uint32_t len;
	int num_sge;
	bool chained;            /* more WRs followed in the same post */
};

static struct {
	struct rdma_transport rt;
	struct rdma_poll_group rg;
	struct rdma_device_poller poller;
	struct rdma_qpair rq;
	struct rdma_recv recvs[H_NUM_RECVS];
	uint8_t bufs[H_NUM_RECVS][H_RECV_SIZE] __attribute__((aligned(64)));
	uint32_t next_recv;
	/* the fake verbs */
	struct h_posted posted[H_MAX_POSTED];
	uint32_t num_posted, next_to_complete;
	uint32_t send_posts, recv_posts, srq_posts, srq_wrs;
	int fail_send_at;        /* -1: never; n: the n-th WR of the next post fails */
	bool qp_in_error;
	bool translate_fail;
	/* lib/nvmf */
	TAILQ_HEAD(, axon_nvmf_request) exec;
	uint32_t execs, completes_with_status, disconnects;
	uint16_t last_fail_status;
	int32_t bufs_out;
	bool buf_fail;
} h;

/* ---- doubles ---------------------------------------------------------------------- */

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
	va_list ap;

	if (getenv("H_VERBOSE") == NULL) {
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void axon_log_register_flag(struct axon_log_flag *flag)
{
	flag->enabled = getenv("H_VERBOSE") != NULL;
}

void *axon_dma_zmalloc(size_t size, size_t align, int socket_id)
{
	void *p = NULL;

	if (posix_memalign(&p, align != 0 ? align : 64, size != 0 ? size : 1) != 0) {
		return NULL;
	}
	memset(p, 0, size);
	return p;
}

void axon_dma_free(void *buf)
{
	free(buf);
}

const char *axon_rdma_device_get_name(const struct axon_rdma_device *dev)
{
	return "fake0";
}

int nvmf_rdma_verbs_post_send(struct rdma_qpair *rqpair, struct ibv_send_wr *wr,
			      struct ibv_send_wr **bad_wr)
{
	int i = 0;

	h.send_posts++;
	for (; wr != NULL; wr = wr->next, i++) {
		struct h_posted *p = &h.posted[h.num_posted];
		uint32_t len = 0;
		int s;

		if (i == h.fail_send_at) {
			h.fail_send_at = -1;
			*bad_wr = wr;
			return ENOMEM;
		}
		CU_ASSERT_FATAL(h.num_posted < H_MAX_POSTED);
		CU_ASSERT(wr->send_flags & IBV_SEND_SIGNALED);
		for (s = 0; s < wr->num_sge; s++) {
			len += wr->sg_list[s].length;
			CU_ASSERT(wr->sg_list[s].lkey == H_LKEY);
		}
		p->wr = wr;
		p->wr_id = wr->wr_id;
		p->opcode = wr->opcode;
		p->remote_addr = wr->wr.rdma.remote_addr;
		p->rkey = wr->wr.rdma.rkey;
		p->invalidate_rkey = wr->invalidate_rkey;
		p->len = len;
		p->num_sge = wr->num_sge;
		p->chained = wr->next != NULL;
		h.num_posted++;
	}
	return 0;
}

int nvmf_rdma_verbs_post_recv(struct rdma_qpair *rqpair, struct ibv_recv_wr *wr,
			      struct ibv_recv_wr **bad_wr)
{
	h.recv_posts++;
	return 0;
}

int nvmf_rdma_verbs_post_srq_recv(struct rdma_device_poller *poller, struct ibv_recv_wr *wr,
				  struct ibv_recv_wr **bad_wr)
{
	h.srq_posts++;
	for (; wr != NULL; wr = wr->next) {
		h.srq_wrs++;
	}
	return 0;
}

int nvmf_rdma_verbs_poll_cq(struct rdma_device_poller *poller, int num, struct ibv_wc *wc)
{
	return 0;
}

int nvmf_rdma_verbs_qp_set_error(struct rdma_qpair *rqpair)
{
	h.qp_in_error = true;
	return 0;
}

int nvmf_rdma_verbs_translate(struct axon_rdma_device *dev, void *addr, size_t len, uint32_t *lkey)
{
	if (h.translate_fail) {
		return -ENOENT;
	}
	*lkey = H_LKEY;
	return 0;
}

uint64_t nvmf_rdma_verbs_now_us(void)
{
	return 0;
}

int axon_nvmf_request_get_buffers(struct axon_nvmf_request *req,
				  struct axon_nvmf_transport_poll_group *tgroup,
				  struct axon_nvmf_transport *transport, uint32_t length)
{
	uint32_t unit = transport->opts.io_unit_size;
	uint32_t n = AXON_DIV_ROUND_UP(length, unit), i;

	if (length == 0 || length > transport->opts.max_io_size || n > AXON_NVMF_REQ_MAX_IOVS) {
		return -EINVAL;
	}
	if (h.buf_fail) {
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		req->buffers[i] = malloc(unit);
		CU_ASSERT_FATAL(req->buffers[i] != NULL);
		req->iov[i].iov_base = req->buffers[i];
		req->iov[i].iov_len = AXON_MIN(unit, length - i * unit);
		h.bufs_out++;
	}
	req->num_buffers = n;
	req->iovcnt = n;
	return 0;
}

void axon_nvmf_request_free_buffers(struct axon_nvmf_request *req,
				    struct axon_nvmf_transport_poll_group *tgroup,
				    struct axon_nvmf_transport *transport)
{
	uint32_t i;

	for (i = 0; i < req->num_buffers; i++) {
		free(req->buffers[i]);
		req->buffers[i] = NULL;
		h.bufs_out--;
	}
	req->num_buffers = 0;
	req->iovcnt = 0;
}

void axon_nvmf_request_exec(struct axon_nvmf_request *req)
{
	TAILQ_INSERT_TAIL(&h.exec, req, link);
	h.execs++;
}

void axon_nvmf_request_complete_with_status(struct axon_nvmf_request *req, uint16_t status)
{
	axon_nvme_cpl_set_status(&req->rsp->nvme, status);
	TAILQ_INSERT_TAIL(&h.exec, req, link);
	h.completes_with_status++;
	h.last_fail_status = status;
}

int axon_nvmf_qpair_disconnect(struct axon_nvmf_qpair *qpair, void (*cb)(void *cb_arg), void *cb_arg)
{
	h.disconnects++;
	return 0;
}

/* ---- harness ------------------------------------------------------------------------ */

static void h_setup(bool srq, uint32_t max_send_wr, uint32_t max_reads)
{
	uint32_t i;
	int rc;

	memset(&h, 0, sizeof(h));
	h.fail_send_at = -1;
	TAILQ_INIT(&h.exec);
	h.rt.base.opts.max_io_size = 131072;
	h.rt.base.opts.io_unit_size = 8192;
	h.rt.base.opts.in_capsule_data_size = H_ICD;
	h.rt.base.opts.max_queue_depth = 8;
	h.rg.rtransport = &h.rt;
	TAILQ_INIT(&h.rg.pollers);
	TAILQ_INIT(&h.rg.pending_buf);
	TAILQ_INIT(&h.rg.to_disconnect);
	TAILQ_INIT(&h.rg.finished);
	h.poller.rgroup = &h.rg;
	h.poller.srq = srq ? (struct ibv_srq *)&h.poller : NULL;
	TAILQ_INIT(&h.poller.qpairs);
	TAILQ_INIT(&h.poller.to_post);
	h.rq.qpair.transport = &h.rt.base;
	h.rq.rtransport = &h.rt;
	h.rq.rgroup = &h.rg;
	h.rq.poller = &h.poller;
	h.rq.qp = (struct ibv_qp *)&h.rq;
	h.rq.qp_num = H_QP_NUM;
	h.rq.state = RDMA_CONN_STATE_ACTIVE;
	h.rq.conn.sq_entries = 8;
	h.rq.max_send_wr = max_send_wr;
	h.rq.max_send_sge = 4;
	h.rq.max_reads = max_reads;
	h.rq.can_invalidate = true;
	TAILQ_INSERT_TAIL(&h.poller.qpairs, &h.rq, link);
	rc = nvmf_rdma_reqs_alloc(&h.rq, 16);
	CU_ASSERT_FATAL(rc == 0);
	for (i = 0; i < H_NUM_RECVS; i++) {
		struct rdma_recv *recv = &h.recvs[i];

		recv->ctx.type = RDMA_WR_RECV;
		recv->poller = &h.poller;
		recv->rqpair = srq ? NULL : &h.rq;
		recv->buf = h.bufs[i];
		recv->wr.wr_id = (uintptr_t)&recv->ctx;
		recv->posted = true;
	}
	if (srq) {
		h.poller.srq_posted = H_NUM_RECVS;
	} else {
		h.rq.recvs_posted = H_NUM_RECVS;
	}
}

static void h_teardown(void)
{
	nvmf_rdma_reqs_free(&h.rq);
	CU_ASSERT(h.bufs_out == 0);
}

static struct rdma_req *h_req_of_cid(uint16_t cid)
{
	uint32_t i;

	for (i = 0; i < h.rq.num_reqs; i++) {
		if (h.rq.reqs[i].state != RDMA_REQ_STATE_FREE && h.rq.reqs[i].cid == cid) {
			return &h.rq.reqs[i];
		}
	}
	return NULL;
}

static void h_cmd_rw(union axon_nvmf_sqe *cmd, uint8_t opc, uint16_t cid)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->nvme.opc = opc;
	cmd->nvme.cid = cid;
	cmd->nvme.nsid = 1;
	cmd->nvme.psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
}

static void h_sgl_keyed(union axon_nvmf_sqe *cmd, uint64_t addr, uint32_t len, uint32_t key,
			bool inval)
{
	struct axon_nvme_sgl_desc *sgl = &cmd->nvme.dptr.sgl1;

	sgl->address = addr;
	sgl->keyed.length = len;
	sgl->keyed.key = key;
	sgl->keyed.type = AXON_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
	sgl->keyed.subtype = inval ? AXON_NVME_SGL_SUBTYPE_INVALIDATE_KEY : AXON_NVME_SGL_SUBTYPE_ADDRESS;
}

static void h_sgl_icd(union axon_nvmf_sqe *cmd, uint64_t offset, uint32_t len)
{
	struct axon_nvme_sgl_desc *sgl = &cmd->nvme.dptr.sgl1;

	sgl->address = offset;
	sgl->unkeyed.length = len;
	sgl->unkeyed.type = AXON_NVME_SGL_TYPE_DATA_BLOCK;
	sgl->unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_OFFSET;
}

/* A capsule (command plus icd bytes) arrives in the next receive. */
static struct rdma_recv *h_capsule_len(const union axon_nvmf_sqe *cmd, uint32_t icd, uint32_t len,
				       enum ibv_wc_status status)
{
	struct rdma_recv *recv = &h.recvs[h.next_recv++ % H_NUM_RECVS];
	struct ibv_wc wc = {0};

	CU_ASSERT_FATAL(recv->posted);
	memcpy(recv->buf, cmd, sizeof(*cmd));
	memset(recv->buf + 64, 0xa5, icd);
	wc.wr_id = recv->wr.wr_id;
	wc.status = status;
	wc.opcode = IBV_WC_RECV;
	wc.byte_len = len;
	wc.qp_num = H_QP_NUM;
	nvmf_rdma_poller_handle_wc(&h.poller, &wc);
	return recv;
}

static struct rdma_recv *h_capsule(const union axon_nvmf_sqe *cmd, uint32_t icd)
{
	return h_capsule_len(cmd, icd, 64 + icd, IBV_WC_SUCCESS);
}

/* End of a poll: what was staged is posted. */
static void h_flush(void)
{
	nvmf_rdma_poller_flush(&h.poller);
}

/* Complete the oldest posted, not yet completed, work request. */
static void h_complete_next(enum ibv_wc_status status)
{
	struct ibv_wc wc = {0};

	CU_ASSERT_FATAL(h.next_to_complete < h.num_posted);
	wc.wr_id = h.posted[h.next_to_complete++].wr_id;
	wc.status = status;
	wc.qp_num = H_QP_NUM;
	nvmf_rdma_poller_handle_wc(&h.poller, &wc);
}

static void h_complete_all(enum ibv_wc_status status)
{
	while (h.next_to_complete < h.num_posted) {
		h_complete_next(status);
	}
}

/* lib/nvmf finishes the oldest executed request with status. */
static struct axon_nvmf_request *h_nvmf_complete(uint16_t status)
{
	struct axon_nvmf_request *req = TAILQ_FIRST(&h.exec);

	CU_ASSERT_FATAL(req != NULL);
	TAILQ_REMOVE(&h.exec, req, link);
	if (status != 0) {
		axon_nvme_cpl_set_status(&req->rsp->nvme, status);
	}
	CU_ASSERT(nvmf_rdma_req_complete(req) == 0);
	return req;
}

static uint32_t h_free_reqs(void)
{
	return h.rq.state_count[RDMA_REQ_STATE_FREE];
}

/* ---- CM private data ---------------------------------------------------------------------- */

static void test_cm_pdata(void)
{
	struct axon_nvmf_transport_opts opts = {.max_qpairs_per_ctrlr = 4, .max_queue_depth = 128,
						 .max_aq_depth = 32};
	uint8_t buf[56] = {0};
	struct rdma_cm_req_pdata *pd = (struct rdma_cm_req_pdata *)buf;
	struct rdma_cm_conn_req req;
	struct rdma_cm_accept_pdata acc;
	struct rdma_cm_reject_pdata rej;

	/* the kernel host's admin and I/O queue requests */
	pd->qid = 0, pd->hrqsize = 32, pd->hsqsize = 31;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, sizeof(buf), 16, 0, &opts, &req) == 0);
	CU_ASSERT(req.qid == 0 && req.sq_entries == 32 && req.hrqsize == 32);
	CU_ASSERT(req.initiator_depth == 16 && req.responder_resources == 0);
	pd->qid = 3, pd->hrqsize = 128, pd->hsqsize = 127;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) == 0);
	CU_ASSERT(req.qid == 3 && req.sq_entries == 128);

	CU_ASSERT(nvmf_rdma_cm_check_req(NULL, 0, 1, 0, &opts, &req) == RDMA_CM_REJECT_INVALID_LEN);
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 31, 1, 0, &opts, &req) == RDMA_CM_REJECT_INVALID_LEN);
	pd->recfmt = 1;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) ==
		  RDMA_CM_REJECT_INVALID_RECFMT);
	pd->recfmt = 0;
	pd->qid = 4;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) == RDMA_CM_REJECT_INVALID_QID);
	pd->qid = 1;
	pd->hsqsize = 128; /* 129 entries > max_queue_depth */
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) ==
		  RDMA_CM_REJECT_INVALID_HSQSIZE);
	pd->hsqsize = 0;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) ==
		  RDMA_CM_REJECT_INVALID_HSQSIZE);
	pd->qid = 0, pd->hsqsize = 32, pd->hrqsize = 64; /* admin: 33 > max_aq_depth */
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) ==
		  RDMA_CM_REJECT_INVALID_HSQSIZE);
	pd->qid = 1, pd->hsqsize = 63, pd->hrqsize = 62;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) ==
		  RDMA_CM_REJECT_INVALID_HRQSIZE);
	pd->hrqsize = 64;
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 0, 0, &opts, &req) == RDMA_CM_REJECT_INVALID_IRD);
	CU_ASSERT(nvmf_rdma_cm_check_req(buf, 32, 1, 0, &opts, &req) == 0);

	nvmf_rdma_cm_build_accept(&acc, 64);
	CU_ASSERT(acc.recfmt == 0 && acc.crqsize == 64);
	nvmf_rdma_cm_build_reject(&rej, RDMA_CM_REJECT_INVALID_QID);
	CU_ASSERT(rej.recfmt == 0 && rej.sts == 3);
	CU_ASSERT(strcmp(nvmf_rdma_cm_reject_str(RDMA_CM_REJECT_INVALID_HSQSIZE),
			 "invalid host send queue size") == 0);
	CU_ASSERT(strcmp(nvmf_rdma_cm_reject_str(99), "unknown") == 0);
}

/* ---- keyed SGL parsing ----------------------------------------------------------------------- */

static void test_sgl_parse(void)
{
	union axon_nvmf_sqe cmd;
	struct rdma_sgl_info info;
	const uint32_t max_io = 131072;

	h_cmd_rw(&cmd, nvme_cmd_write, 1);
	h_sgl_keyed(&cmd, 0x1000, 65536, H_RKEY, false);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.keyed && !info.invalidate && !info.in_capsule);
	CU_ASSERT(info.length == 65536 && info.remote_addr == 0x1000 && info.rkey == H_RKEY);
	CU_ASSERT(info.xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER);

	h_sgl_keyed(&cmd, 0x1000, 4096, H_RKEY, true);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.keyed && info.invalidate);

	/* subtype neither address nor invalidate */
	cmd.nvme.dptr.sgl1.keyed.subtype = AXON_NVME_SGL_SUBTYPE_OFFSET;
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_TYPE));
	/* longer than max_io_size */
	h_sgl_keyed(&cmd, 0x1000, max_io + 1, H_RKEY, false);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_DATA));
	/* data without a key */
	h_sgl_keyed(&cmd, 0x1000, 4096, 0, false);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_INVALID_FIELD));
	/* a null keyed SGL: no data */
	h_sgl_keyed(&cmd, 0, 0, 0, false);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.length == 0 && !info.keyed);

	/* in-capsule data */
	h_sgl_icd(&cmd, 0, 512);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 512, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.in_capsule && info.icd_offset == 0 && info.length == 512);
	h_sgl_icd(&cmd, 16, 496);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 512, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.icd_offset == 16);
	h_sgl_icd(&cmd, 1024, 16); /* offset beyond what came */
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 512, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_OFFSET));
	h_sgl_icd(&cmd, 16, 512); /* runs past what came */
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 512, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_DATA));
	h_sgl_icd(&cmd, 0, H_ICD + 16); /* more than in_capsule_data_size */
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, H_ICD + 16, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_DATA));
	h_cmd_rw(&cmd, nvme_cmd_read, 1); /* in-capsule data for a read */
	h_sgl_icd(&cmd, 0, 512);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 512, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_TYPE));

	/* descriptor types RDMA does not serve */
	cmd.nvme.dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_ADDRESS;
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_TYPE));
	cmd.nvme.dptr.sgl1.generic.type = AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	cmd.nvme.dptr.sgl1.generic.subtype = AXON_NVME_SGL_SUBTYPE_TRANSPORT;
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_TYPE));
	cmd.nvme.dptr.sgl1.generic.type = AXON_NVME_SGL_TYPE_LAST_SEGMENT;
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_SGL_INVALID_TYPE));

	/* no data: the SGL is not looked at */
	h_cmd_rw(&cmd, nvme_cmd_flush, 1);
	cmd.nvme.dptr.sgl1.generic.type = AXON_NVME_SGL_TYPE_VENDOR_SPECIFIC;
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) == 0);
	CU_ASSERT(info.length == 0 && info.xfer == AXON_NVME_DATA_NONE);
	/* bidirectional */
	h_cmd_rw(&cmd, 0x83, 1);
	CU_ASSERT(nvmf_rdma_parse_sgl(&cmd, 0, H_ICD, max_io, &info) ==
		  STATUS_DNR(NVME_SC_INVALID_FIELD));
}

/* ---- the state machine, healthy ---------------------------------------------------------------- */

/* A 64 KiB write: 8 buffers, 2 RDMA READs of 4 SGEs, exec, SEND with invalidate. */
static void test_write_keyed(void)
{
	union axon_nvmf_sqe cmd;
	struct rdma_req *rreq;

	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_write, 10);
	h_sgl_keyed(&cmd, 0x100000, 65536, H_RKEY, true);
	h_capsule(&cmd, 0);
	rreq = h_req_of_cid(10);
	CU_ASSERT_FATAL(rreq != NULL);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	CU_ASSERT(h.num_posted == 0); /* staged until the end of the poll */
	h_flush();
	CU_ASSERT(h.send_posts == 1 && h.num_posted == 2);
	CU_ASSERT(h.posted[0].opcode == IBV_WR_RDMA_READ && h.posted[0].chained);
	CU_ASSERT(h.posted[0].remote_addr == 0x100000 && h.posted[0].rkey == H_RKEY);
	CU_ASSERT(h.posted[0].len == 32768 && h.posted[0].num_sge == 4);
	CU_ASSERT(h.posted[1].opcode == IBV_WR_RDMA_READ && h.posted[1].remote_addr == 0x108000);
	CU_ASSERT(h.rq.reads_used == 2 && h.rq.send_wrs_used == 2);
	h_complete_next(IBV_WC_SUCCESS);
	CU_ASSERT(h.execs == 0);
	h_complete_next(IBV_WC_SUCCESS);
	CU_ASSERT(h.execs == 1 && rreq->state == RDMA_REQ_STATE_EXECUTING);
	CU_ASSERT(h.rq.reads_used == 0);
	CU_ASSERT(rreq->req.length == 65536 && rreq->req.iovcnt == 8);
	h_nvmf_complete(0);
	/* the receive went back to the SRQ before the response */
	CU_ASSERT(h.poller.srq_head != NULL);
	h_flush();
	CU_ASSERT(h.srq_posts == 1 && h.srq_wrs == 1);
	CU_ASSERT(h.num_posted == 3 && h.posted[2].opcode == IBV_WR_SEND_WITH_INV);
	CU_ASSERT(h.posted[2].invalidate_rkey == H_RKEY && h.posted[2].len == 16);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_COMPLETING);
	h_complete_next(IBV_WC_SUCCESS);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_FREE && h_free_reqs() == 16);
	CU_ASSERT(h.bufs_out == 0 && h.rg.buffers_in_use == 0);
	CU_ASSERT(nvmf_rdma_qpair_is_drained(&h.rq) || h.rq.recvs_posted != 0);
	CU_ASSERT(h.disconnects == 0 && !h.qp_in_error);
	h_teardown();
}

/* A 20 KiB read: WRITEs chained in front of the SEND, one post. */
static void test_read_keyed(void)
{
	union axon_nvmf_sqe cmd;
	struct rdma_req *rreq;

	h_setup(true, 64, 4);
	h.rq.can_invalidate = false;
	h_cmd_rw(&cmd, nvme_cmd_read, 11);
	h_sgl_keyed(&cmd, 0x200000, 20480, H_RKEY, true);
	h_capsule(&cmd, 0);
	rreq = h_req_of_cid(11);
	CU_ASSERT_FATAL(rreq != NULL);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_EXECUTING && h.execs == 1);
	CU_ASSERT(rreq->req.iovcnt == 3 && h.rg.buffers_in_use == 3);
	h_flush();
	CU_ASSERT(h.num_posted == 0);
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h.send_posts == 1 && h.num_posted == 2);
	CU_ASSERT(h.posted[0].opcode == IBV_WR_RDMA_WRITE && h.posted[0].chained);
	CU_ASSERT(h.posted[0].len == 20480 && h.posted[0].num_sge == 3);
	CU_ASSERT(h.posted[0].remote_addr == 0x200000);
	/* the device cannot invalidate: plain SEND, the host invalidates itself */
	CU_ASSERT(h.posted[1].opcode == IBV_WR_SEND && !h.posted[1].chained);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST);
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_FREE && h.bufs_out == 0);

	/* a read that failed sends no data: the response only */
	h_cmd_rw(&cmd, nvme_cmd_read, 12);
	h_sgl_keyed(&cmd, 0x200000, 4096, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_nvmf_complete(AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
	h_flush();
	CU_ASSERT(h.num_posted == 3 && h.posted[2].opcode == IBV_WR_SEND);
	h_complete_all(IBV_WC_SUCCESS);

	/* a result shorter than the SGL (a short log page): only that much is written */
	h_cmd_rw(&cmd, nvme_cmd_read, 13);
	h_sgl_keyed(&cmd, 0x300000, 16384, H_RKEY, false);
	h_capsule(&cmd, 0);
	rreq = h_req_of_cid(13);
	rreq->req.length = 5000;
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h.num_posted == 5 && h.posted[3].opcode == IBV_WR_RDMA_WRITE);
	CU_ASSERT(h.posted[3].len == 5000 && h.posted[3].num_sge == 1);
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16 && h.bufs_out == 0);
	h_teardown();
}

static void test_in_capsule_and_no_data(void)
{
	union axon_nvmf_sqe cmd;
	struct rdma_req *rreq;
	struct rdma_recv *recv;

	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_write, 20);
	h_sgl_icd(&cmd, 0, 2048);
	recv = h_capsule(&cmd, 2048);
	rreq = h_req_of_cid(20);
	CU_ASSERT_FATAL(rreq != NULL);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_EXECUTING && h.bufs_out == 0);
	CU_ASSERT(rreq->req.iov[0].iov_base == recv->buf + 64 && rreq->req.iov[0].iov_len == 2048);
	CU_ASSERT(rreq->req.xfer == AXON_NVME_DATA_HOST_TO_CONTROLLER);
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h.num_posted == 1 && h.posted[0].opcode == IBV_WR_SEND);
	h_complete_all(IBV_WC_SUCCESS);

	h_cmd_rw(&cmd, nvme_cmd_flush, 21);
	h_sgl_keyed(&cmd, 0, 0, 0, false);
	h_capsule(&cmd, 0);
	rreq = h_req_of_cid(21);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_EXECUTING && rreq->req.length == 0);
	CU_ASSERT(rreq->req.xfer == AXON_NVME_DATA_NONE);
	h_nvmf_complete(0);
	h_flush();
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16);
	h_teardown();
}

/* A bad SGL: completed with its status, and the response is the only WR ever posted. */
static void test_bad_sgl_posts_nothing(void)
{
	static const struct {
		uint8_t opc;
		int kind; /* 0 keyed, 1 in-capsule, 2 transport block */
		uint64_t addr;
		uint32_t len, key, icd;
		uint16_t status;
	} cases[] = {
		{nvme_cmd_write, 0, 0x1000, 131072 + 4096, H_RKEY, 0, NVME_SC_SGL_INVALID_DATA},
		{nvme_cmd_read, 0, 0x1000, 4096, 0, 0, NVME_SC_INVALID_FIELD},
		{nvme_cmd_write, 1, 8192, 16, 0, 512, NVME_SC_SGL_INVALID_OFFSET},
		{nvme_cmd_write, 1, 0, 1024, 0, 512, NVME_SC_SGL_INVALID_DATA},
		{nvme_cmd_read, 1, 0, 512, 0, 512, NVME_SC_SGL_INVALID_TYPE},
		{nvme_cmd_write, 2, 0, 512, 0, 0, NVME_SC_SGL_INVALID_TYPE},
	};
	union axon_nvmf_sqe cmd;
	uint32_t i;

	h_setup(true, 64, 4);
	for (i = 0; i < AXON_COUNTOF(cases); i++) {
		uint32_t before = h.num_posted;

		h_cmd_rw(&cmd, cases[i].opc, (uint16_t)(30 + i));
		if (cases[i].kind == 0) {
			h_sgl_keyed(&cmd, cases[i].addr, cases[i].len, cases[i].key, false);
		} else if (cases[i].kind == 1) {
			h_sgl_icd(&cmd, cases[i].addr, cases[i].len);
		} else {
			cmd.nvme.dptr.sgl1.generic.type = AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
			cmd.nvme.dptr.sgl1.generic.subtype = AXON_NVME_SGL_SUBTYPE_TRANSPORT;
		}
		h_capsule(&cmd, cases[i].icd);
		CU_ASSERT(h.completes_with_status == i + 1);
		CU_ASSERT(h.last_fail_status == STATUS_DNR(cases[i].status));
		CU_ASSERT(h.execs == 0 && h.bufs_out == 0 && h.rq.reads_used == 0);
		h_flush();
		CU_ASSERT(h.num_posted == before);
		h_nvmf_complete(0);
		h_flush();
		CU_ASSERT(h.num_posted == before + 1 && h.posted[before].opcode == IBV_WR_SEND);
		h_complete_all(IBV_WC_SUCCESS);
	}
	CU_ASSERT(h_free_reqs() == 16 && h.disconnects == 0);
	h_teardown();
}

/* RDMA READs stay within the ORD; responses within the send queue. */
static void test_ord_and_send_queue_limits(void)
{
	union axon_nvmf_sqe cmd;
	uint16_t cid;

	h_setup(true, 3, 2);
	for (cid = 40; cid < 43; cid++) {
		h_cmd_rw(&cmd, nvme_cmd_write, cid);
		h_sgl_keyed(&cmd, 0x10000ull * cid, 8192, H_RKEY, false);
		h_capsule(&cmd, 0);
	}
	h_flush();
	CU_ASSERT(h.num_posted == 2 && h.rq.reads_used == 2);
	CU_ASSERT(h_req_of_cid(42)->state == RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER);
	h_complete_next(IBV_WC_SUCCESS); /* cid 40's READ */
	h_flush();
	CU_ASSERT(h.num_posted == 3 && h.posted[2].remote_addr == 0x10000ull * 42);
	CU_ASSERT(h_req_of_cid(42)->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	/* cid 40 executed; its SEND waits: the send queue (3) holds two READs */
	h_nvmf_complete(0);
	CU_ASSERT(h_req_of_cid(40)->state == RDMA_REQ_STATE_COMPLETING ||
		  h_req_of_cid(40)->state == RDMA_REQ_STATE_READY_TO_COMPLETE);
	CU_ASSERT(h.rq.send_wrs_used <= 3);
	h_complete_all(IBV_WC_SUCCESS);
	h_flush();
	while (!TAILQ_EMPTY(&h.exec)) {
		h_nvmf_complete(0);
		h_flush();
		h_complete_all(IBV_WC_SUCCESS);
		h_flush();
	}
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16 && h.bufs_out == 0 && h.rq.send_wrs_used == 0);
	h_teardown();
}

static void test_buffer_wait_and_abort(void)
{
	union axon_nvmf_sqe cmd;
	struct rdma_req *rreq;

	h_setup(true, 64, 4);
	h.buf_fail = true;
	h_cmd_rw(&cmd, nvme_cmd_write, 50);
	h_sgl_keyed(&cmd, 0x1000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	rreq = h_req_of_cid(50);
	CU_ASSERT(rreq->state == RDMA_REQ_STATE_NEED_BUFFER && h.rg.pending_buf_waits == 1);
	CU_ASSERT(nvmf_rdma_group_process_pending_buf(&h.rg) == 0);
	CU_ASSERT(!nvmf_rdma_qpair_abort_request(&h.rq.qpair, 99));
	CU_ASSERT(nvmf_rdma_qpair_abort_request(&h.rq.qpair, 50));
	CU_ASSERT(TAILQ_EMPTY(&h.rg.pending_buf));
	CU_ASSERT(h.last_fail_status == STATUS_RETRY(NVME_SC_ABORT_REQ));
	h_nvmf_complete(0);
	h_flush();
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16);

	/* buffers come back: the waiting request goes on */
	h_cmd_rw(&cmd, nvme_cmd_read, 51);
	h_sgl_keyed(&cmd, 0x1000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	h.buf_fail = false;
	CU_ASSERT(nvmf_rdma_group_process_pending_buf(&h.rg) == 1);
	CU_ASSERT(h_req_of_cid(51)->state == RDMA_REQ_STATE_EXECUTING);
	h_nvmf_complete(0);
	h_flush();
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16 && h.bufs_out == 0);

	/* unregistered data buffers: the command fails, nothing is posted but the response */
	h.translate_fail = true;
	h_cmd_rw(&cmd, nvme_cmd_write, 52);
	h_sgl_keyed(&cmd, 0x1000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	CU_ASSERT(h.last_fail_status == STATUS_DNR(NVME_SC_INTERNAL));
	h.translate_fail = false;
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h.posted[h.num_posted - 1].opcode == IBV_WR_SEND);
	h_complete_all(IBV_WC_SUCCESS);
	CU_ASSERT(h_free_reqs() == 16 && h.bufs_out == 0);
	h_teardown();
}

/* ---- the state machine, dying ------------------------------------------------------------ */

static void h_check_dead_and_clean(void)
{
	CU_ASSERT(h.qp_in_error && rdma_qpair_is_dead(&h.rq));
	CU_ASSERT(h.rq.on_disconnect_list);
	CU_ASSERT(nvmf_rdma_group_disconnect_dead(&h.rg) == 1 && h.disconnects == 1);
	CU_ASSERT(h_free_reqs() == 16);
	CU_ASSERT(h.bufs_out == 0 && h.rg.buffers_in_use == 0);
	CU_ASSERT(h.rq.send_wrs_used == 0 && h.rq.reads_used == 0 && h.rq.sends_posted == 0);
	CU_ASSERT(h.rq.send_head == NULL && !h.rq.on_post_list);
}

/* One request in each state when the connection dies: flushes bring every
 * work request back, every request ends FREE, every buffer goes back. */
static void test_flush_in_every_state(void)
{
	union axon_nvmf_sqe cmd;
	uint32_t posted_at_death;

	h_setup(true, 8, 2);
	/* cid 60: COMPLETING (its SEND posted) */
	h_cmd_rw(&cmd, nvme_cmd_flush, 60);
	h_capsule(&cmd, 0);
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h_req_of_cid(60)->state == RDMA_REQ_STATE_COMPLETING);
	/* cid 61: TRANSFERRING_CONTROLLER_TO_HOST (WRITE + SEND posted) */
	h_cmd_rw(&cmd, nvme_cmd_read, 61);
	h_sgl_keyed(&cmd, 0x1000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h_req_of_cid(61)->state == RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST);
	/* cid 62: TRANSFERRING_HOST_TO_CONTROLLER (READ posted) */
	h_cmd_rw(&cmd, nvme_cmd_write, 62);
	h_sgl_keyed(&cmd, 0x2000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_flush();
	CU_ASSERT(h_req_of_cid(62)->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	/* cid 67: TRANSFERRING_HOST_TO_CONTROLLER, its READ staged, never posted */
	h_cmd_rw(&cmd, nvme_cmd_write, 67);
	h_sgl_keyed(&cmd, 0x7000, 4096, H_RKEY, false);
	h_capsule(&cmd, 0);
	CU_ASSERT(h_req_of_cid(67)->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	CU_ASSERT(h.rq.send_head != NULL);
	/* cid 63: TRANSFER_PENDING_HOST_TO_CONTROLLER (the ORD of 2 is used) */
	h_cmd_rw(&cmd, nvme_cmd_write, 63);
	h_sgl_keyed(&cmd, 0x3000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	CU_ASSERT(h_req_of_cid(63)->state == RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER);
	/* cid 64: EXECUTING */
	h_cmd_rw(&cmd, nvme_cmd_read, 64);
	h_sgl_keyed(&cmd, 0x4000, 4096, H_RKEY, false);
	h_capsule(&cmd, 0);
	CU_ASSERT(h_req_of_cid(64)->state == RDMA_REQ_STATE_EXECUTING);
	/* cid 65: READY_TO_COMPLETE: 16 buffers need 4 WRITEs and a SEND, the
	 * send queue of 8 has 5 in use */
	h_cmd_rw(&cmd, nvme_cmd_read, 65);
	h_sgl_keyed(&cmd, 0x5000, 131072, H_RKEY, false);
	h_capsule(&cmd, 0);
	{
		struct axon_nvmf_request *r64 = TAILQ_FIRST(&h.exec);

		TAILQ_REMOVE(&h.exec, r64, link);
		CU_ASSERT(TAILQ_FIRST(&h.exec) == &h_req_of_cid(65)->req);
		h_nvmf_complete(0);
		TAILQ_INSERT_HEAD(&h.exec, r64, link);
	}
	CU_ASSERT(h_req_of_cid(65)->state == RDMA_REQ_STATE_READY_TO_COMPLETE);
	/* cid 66: NEED_BUFFER */
	h.buf_fail = true;
	h_cmd_rw(&cmd, nvme_cmd_write, 66);
	h_sgl_keyed(&cmd, 0x6000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	CU_ASSERT(h_req_of_cid(66)->state == RDMA_REQ_STATE_NEED_BUFFER);
	CU_ASSERT(h.bufs_out == 1 + 1 + 1 + 1 + 1 + 16);
	posted_at_death = h.num_posted;

	/* The host goes away. */
	nvmf_rdma_qpair_set_dead(&h.rq, "test");
	CU_ASSERT(h.qp_in_error);
	/* what holds no work request is back at once; EXECUTING waits for lib/nvmf */
	CU_ASSERT(h_req_of_cid(63) == NULL && h_req_of_cid(65) == NULL && h_req_of_cid(66) == NULL);
	CU_ASSERT(h_req_of_cid(67) == NULL);
	CU_ASSERT(TAILQ_EMPTY(&h.rg.pending_buf) && TAILQ_EMPTY(&h.rq.pending_read));
	CU_ASSERT(TAILQ_EMPTY(&h.rq.pending_complete));
	CU_ASSERT(h_req_of_cid(64)->state == RDMA_REQ_STATE_EXECUTING);
	CU_ASSERT(h_req_of_cid(60)->state == RDMA_REQ_STATE_COMPLETING);
	CU_ASSERT(h_req_of_cid(61)->state == RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST);
	CU_ASSERT(h_req_of_cid(62)->state == RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER);
	CU_ASSERT(!nvmf_rdma_qpair_is_drained(&h.rq));
	/* a capsule still in flight is dropped, its receive reposted */
	h_cmd_rw(&cmd, nvme_cmd_flush, 68);
	h_capsule(&cmd, 0);
	CU_ASSERT(h_req_of_cid(68) == NULL);
	/* lib/nvmf hands back what it held: no response leaves */
	h_nvmf_complete(0);
	CU_ASSERT(h_req_of_cid(64) == NULL);
	h_flush();
	CU_ASSERT(h.num_posted == posted_at_death);
	/* every posted work request comes back flushed */
	h_complete_all(IBV_WC_WR_FLUSH_ERR);
	CU_ASSERT(h.poller.stats.flush_errors == h.num_posted);
	CU_ASSERT(nvmf_rdma_qpair_is_drained(&h.rq));
	h_check_dead_and_clean();
	/* the SRQ got every receive back */
	h_flush();
	CU_ASSERT(h.poller.srq_posted == H_NUM_RECVS);
	h_teardown();
}

/* A READ fails on a live connection (bad rkey): the connection dies with it. */
static void test_read_error_kills_qpair(void)
{
	union axon_nvmf_sqe cmd;

	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_write, 70);
	h_sgl_keyed(&cmd, 0x1000, 16384, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_cmd_rw(&cmd, nvme_cmd_read, 71);
	h_sgl_keyed(&cmd, 0x9000, 4096, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_nvmf_complete(0);
	h_flush();
	CU_ASSERT(h.num_posted == 3);
	h_complete_next(IBV_WC_REM_ACCESS_ERR);
	CU_ASSERT(h.qp_in_error && h.execs == 1);
	h_complete_all(IBV_WC_WR_FLUSH_ERR);
	CU_ASSERT(h.execs == 1); /* the write never executes */
	h_check_dead_and_clean();
	h_teardown();
}

/* A SEND in error, a receive in error, a failed post, a short capsule, too many commands. */
static void test_other_deaths(void)
{
	union axon_nvmf_sqe cmd;
	uint32_t i;

	/* SEND completes in error */
	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_flush, 80);
	h_capsule(&cmd, 0);
	h_nvmf_complete(0);
	h_flush();
	h_complete_next(IBV_WC_RETRY_EXC_ERR);
	h_check_dead_and_clean();
	h_teardown();

	/* an SRQ receive flushes: the connection is dead, the receive goes back */
	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_flush, 81);
	h_capsule_len(&cmd, 0, 0, IBV_WC_WR_FLUSH_ERR);
	CU_ASSERT(h.poller.srq_head != NULL);
	h_check_dead_and_clean();
	h_teardown();

	/* the post fails at the second WR of a chain: the rest counts as flushed */
	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_read, 82);
	h_sgl_keyed(&cmd, 0x1000, 8192, H_RKEY, false);
	h_capsule(&cmd, 0);
	h_nvmf_complete(0);
	h.fail_send_at = 1;
	h_flush();
	CU_ASSERT(h.num_posted == 1 && h.rq.sends_posted == 1 && rdma_qpair_is_dead(&h.rq));
	CU_ASSERT(h_req_of_cid(82) != NULL);
	h_complete_all(IBV_WC_WR_FLUSH_ERR);
	h_check_dead_and_clean();
	h_teardown();

	/* a capsule shorter than a command */
	h_setup(true, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_flush, 83);
	h_capsule_len(&cmd, 0, 40, IBV_WC_SUCCESS);
	CU_ASSERT(h.execs == 0);
	h_check_dead_and_clean();
	h_teardown();

	/* more commands than requests */
	h_setup(true, 64, 4);
	for (i = 0; i < 17; i++) {
		h_cmd_rw(&cmd, nvme_cmd_flush, (uint16_t)(100 + i));
		h_capsule(&cmd, 0);
	}
	CU_ASSERT(h.execs == 16 && rdma_qpair_is_dead(&h.rq));
	while (!TAILQ_EMPTY(&h.exec)) {
		h_nvmf_complete(0);
	}
	h_flush();
	CU_ASSERT(h.num_posted == 0);
	h_check_dead_and_clean();
	h_teardown();
}

/* Own receive queue (no SRQ): receives go back on the QP, never on a dead one. */
static void test_no_srq_receives(void)
{
	union axon_nvmf_sqe cmd;

	h_setup(false, 64, 4);
	h_cmd_rw(&cmd, nvme_cmd_flush, 90);
	h_capsule(&cmd, 0);
	CU_ASSERT(h.rq.recvs_posted == H_NUM_RECVS - 1);
	h_nvmf_complete(0);
	CU_ASSERT(h.rq.recv_head != NULL);
	h_flush();
	CU_ASSERT(h.recv_posts == 1 && h.rq.recvs_posted == H_NUM_RECVS);
	h_complete_all(IBV_WC_SUCCESS);

	h_cmd_rw(&cmd, nvme_cmd_flush, 91);
	h_capsule(&cmd, 0);
	nvmf_rdma_qpair_set_dead(&h.rq, "test");
	h_nvmf_complete(0);
	CU_ASSERT(h.rq.recv_head == NULL);
	h_flush();
	CU_ASSERT(h.recv_posts == 1);
	/* the QP flushes its receives */
	while (h.rq.recvs_posted > 0) {
		struct ibv_wc wc = {0};
		uint32_t i;

		for (i = 0; i < H_NUM_RECVS && !h.recvs[i].posted; i++) {
		}
		CU_ASSERT_FATAL(i < H_NUM_RECVS);
		wc.wr_id = h.recvs[i].wr.wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.qp_num = H_QP_NUM;
		nvmf_rdma_poller_handle_wc(&h.poller, &wc);
	}
	CU_ASSERT(h.rq.recv_head == NULL && nvmf_rdma_qpair_is_drained(&h.rq));
	h_check_dead_and_clean();
	h_teardown();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvmf_rdma", NULL, NULL);
	CU_ADD_TEST(suite, test_cm_pdata);
	CU_ADD_TEST(suite, test_sgl_parse);
	CU_ADD_TEST(suite, test_write_keyed);
	CU_ADD_TEST(suite, test_read_keyed);
	CU_ADD_TEST(suite, test_in_capsule_and_no_data);
	CU_ADD_TEST(suite, test_bad_sgl_posts_nothing);
	CU_ADD_TEST(suite, test_ord_and_send_queue_limits);
	CU_ADD_TEST(suite, test_buffer_wait_and_abort);
	CU_ADD_TEST(suite, test_flush_in_every_state);
	CU_ADD_TEST(suite, test_read_error_kills_qpair);
	CU_ADD_TEST(suite, test_other_deaths);
	CU_ADD_TEST(suite, test_no_srq_receives);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
