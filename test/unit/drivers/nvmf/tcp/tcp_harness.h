/*
 * A one-connection harness for drivers/nvmf/tcp, shared by tcp_qpair_ut and
 * test/fuzz/fuzz_nvmf_tcp: it includes the transport's receive and request
 * code and replaces what lies around it with doubles:
 *   - the socket: writes are queued and "sent" by h_flush() into h.out;
 *     reads come from h.in (for the receive loop);
 *   - lib/nvmf: exec queues the request, h_complete_all() completes it like a
 *     controller over a 1 MiB RAM disk (NVM read/write by LBA, anything else
 *     succeeds; reads fill a pattern); buffers come from malloc, counted;
 *   - pollers, DMA memory and logging.
 * Include it in exactly one translation unit. Needs lib/util's CRC32C.
 */
#ifndef AXON_TCP_HARNESS_H
#define AXON_TCP_HARNESS_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/nvmf/tcp/tcp_pdu.c"
#include "drivers/nvmf/tcp/tcp_req.c"
#include "drivers/nvmf/tcp/tcp_qpair.c"

#define H_DISK_SIZE (1024 * 1024)
#define H_LBA_SIZE 512

struct h_state {
	struct tcp_transport tt;
	struct tcp_poll_group tg;
	struct axon_sock sock;
	struct tcp_qpair *tq;
	/* writes queued on the socket, and everything "sent" so far */
	TAILQ_HEAD(, axon_sock_request) wq;
	uint8_t *out;
	size_t out_len, out_cap, out_off;
	/* bytes the socket will return to recv/readv */
	const uint8_t *in;
	size_t in_len, in_off;
	bool in_eof;
	uint32_t readv_calls, readv_direct_bytes;
	/* lib/nvmf doubles */
	TAILQ_HEAD(, axon_nvmf_request) exec;
	uint32_t execs, fails, completes_with_status;
	uint16_t last_fail_status;
	uint32_t disconnects;
	int32_t bufs_out;
	bool buf_fail;
	uint16_t next_status;
	/* the linger poller */
	axon_poller_fn poller_fn;
	void *poller_arg;
	bool fini_done;
	/* h_next_out()'s copy of a sent PDU, aligned for casts */
	uint8_t pdu[1024 * 1024 + 256] __attribute__((aligned(8)));
	uint8_t disk[H_DISK_SIZE];
};

static struct h_state h;
static struct axon_poller *const g_h_poller = (struct axon_poller *)&h.poller_fn;

/* ---- doubles ------------------------------------------------------------------ */

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
	if (getenv("H_VERBOSE") != NULL) {
		flag->enabled = true;
	}
}

void *axon_dma_malloc(size_t size, size_t align, int socket_id)
{
	void *p = NULL;

	return posix_memalign(&p, align != 0 ? align : 64, size != 0 ? size : 1) == 0 ? p : NULL;
}

void axon_dma_free(void *buf)
{
	free(buf);
}

struct axon_poller *axon_poller_register_named(axon_poller_fn fn, void *arg, uint64_t period_us,
					       const char *name)
{
	h.poller_fn = fn;
	h.poller_arg = arg;
	return g_h_poller;
}

void axon_poller_unregister(struct axon_poller **ppoller)
{
	if (ppoller != NULL && *ppoller != NULL) {
		h.poller_fn = NULL;
		*ppoller = NULL;
	}
}

int axon_sock_writev_async(struct axon_sock *sock, struct axon_sock_request *req)
{
	TAILQ_INSERT_TAIL(&h.wq, req, internal.link);
	return 0;
}

int axon_sock_close(struct axon_sock **psock)
{
	struct axon_sock_request *req;

	while ((req = TAILQ_FIRST(&h.wq)) != NULL) {
		TAILQ_REMOVE(&h.wq, req, internal.link);
		req->cb_fn(req->cb_arg, -ECANCELED);
	}
	*psock = NULL;
	return 0;
}

int axon_sock_group_remove_sock(struct axon_sock_group *group, struct axon_sock *sock)
{
	return 0;
}

ssize_t axon_sock_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt)
{
	size_t done = 0;
	int i;

	h.readv_calls++;
	if (h.in_off == h.in_len) {
		return h.in_eof ? 0 : -EAGAIN;
	}
	for (i = 0; i < iovcnt && h.in_off < h.in_len; i++) {
		size_t n = AXON_MIN(iov[i].iov_len, h.in_len - h.in_off);

		memcpy(iov[i].iov_base, h.in + h.in_off, n);
		if (h.tq != NULL && iov[i].iov_base != h.tq->rx_buf) {
			h.readv_direct_bytes += (uint32_t)n;
		}
		h.in_off += n;
		done += n;
	}
	return (ssize_t)done;
}

ssize_t axon_sock_recv(struct axon_sock *sock, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	h.readv_calls--; /* counted as a readv below; recv is not "direct" */
	return axon_sock_readv(sock, &iov, 1);
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
		uint32_t len = AXON_MIN(unit, length - i * unit);

		req->buffers[i] = malloc(unit);
		if (req->buffers[i] == NULL) {
			abort();
		}
		req->iov[i].iov_base = req->buffers[i];
		req->iov[i].iov_len = len;
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
	req->state = AXON_NVMF_REQ_STATE_NEW;
	TAILQ_INSERT_TAIL(&h.exec, req, link);
	h.execs++;
}

void axon_nvmf_request_complete_with_status(struct axon_nvmf_request *req, uint16_t status)
{
	req->state = AXON_NVMF_REQ_STATE_COMPLETING;
	req->rsp->nvme.cid = req->cmd->nvme.cid;
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

/* ---- the RAM disk controller --------------------------------------------------------- */

static inline void h_iov_copy(struct axon_nvmf_request *req, uint8_t *disk, size_t len, bool to_disk)
{
	uint32_t i;

	for (i = 0; i < req->iovcnt && len > 0; i++) {
		size_t n = AXON_MIN(len, req->iov[i].iov_len);

		if (to_disk) {
			memcpy(disk, req->iov[i].iov_base, n);
		} else {
			memcpy(req->iov[i].iov_base, disk, n);
		}
		disk += n;
		len -= n;
	}
}

static inline void h_execute(struct axon_nvmf_request *req)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint64_t off = ((uint64_t)cmd->cdw11 << 32 | cmd->cdw10) * H_LBA_SIZE;
	uint16_t status = h.next_status;
	uint32_t i;

	req->rsp->nvme.cid = cmd->cid;
	if (status == 0 && cmd->opc != AXON_NVMF_FABRIC_OPCODE && cmd->nsid != 0 &&
	    (cmd->opc == 0x01 || cmd->opc == 0x02)) {
		uint64_t len = ((uint64_t)(cmd->cdw12 & 0xffff) + 1) * H_LBA_SIZE;

		if (off >= H_DISK_SIZE || len > H_DISK_SIZE - off || len != req->length) {
			status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE);
		} else {
			h_iov_copy(req, h.disk + off, len, cmd->opc == 0x01);
		}
	} else if (status == 0 && req->xfer == AXON_NVME_DATA_CONTROLLER_TO_HOST) {
		for (i = 0; i < req->iovcnt; i++) {
			memset(req->iov[i].iov_base, 0xa5, req->iov[i].iov_len);
		}
	}
	axon_nvme_cpl_set_status(&req->rsp->nvme, status);
}

/* Complete every request lib/nvmf "holds", as its completions would. */
static inline uint32_t h_complete_all(void)
{
	struct axon_nvmf_request *req;
	uint32_t n = 0;

	while ((req = TAILQ_FIRST(&h.exec)) != NULL) {
		TAILQ_REMOVE(&h.exec, req, link);
		if (req->state == AXON_NVMF_REQ_STATE_NEW) {
			h_execute(req);
		}
		req->state = AXON_NVMF_REQ_STATE_TRANSPORT;
		tcp_req_complete(req);
		n++;
	}
	return n;
}

/* "Send" everything queued: append it to h.out and run the callbacks. */
static inline void h_flush(void)
{
	struct axon_sock_request *req;

	while ((req = TAILQ_FIRST(&h.wq)) != NULL) {
		int i;

		TAILQ_REMOVE(&h.wq, req, internal.link);
		for (i = 0; i < req->iovcnt; i++) {
			size_t n = req->iov[i].iov_len;

			if (h.out_len + n > h.out_cap) {
				h.out_cap = AXON_MAX(h.out_cap * 2, h.out_len + n + 4096);
				h.out = realloc(h.out, h.out_cap);
				if (h.out == NULL) {
					abort();
				}
			}
			memcpy(h.out + h.out_len, req->iov[i].iov_base, n);
			h.out_len += n;
		}
		req->cb_fn(req->cb_arg, 0);
	}
}

/* ---- set-up and teardown ------------------------------------------------------------ */

static inline void h_default_opts(struct axon_nvmf_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_queue_depth = 16;
	opts->max_qpairs_per_ctrlr = 4;
	opts->in_capsule_data_size = 4096;
	opts->max_io_size = 131072;
	opts->io_unit_size = 131072;
	opts->max_aq_depth = 16;
	opts->num_shared_buffers = 64;
	opts->buf_cache_size = 0;
}

static inline void h_setup_opts(const struct axon_nvmf_transport_opts *opts, bool c2h_success)
{
	free(h.out);
	memset(&h, 0, offsetof(struct h_state, pdu));
	TAILQ_INIT(&h.wq);
	TAILQ_INIT(&h.exec);
	h.tt.base.opts = *opts;
	h.tt.sopts.c2h_success = c2h_success;
	TAILQ_INIT(&h.tg.qpairs);
	TAILQ_INIT(&h.tg.pending_buf);
	TAILQ_INIT(&h.tg.to_disconnect);
	h.tq = tcp_qpair_create(&h.tt, &h.sock, NULL);
	if (h.tq == NULL) {
		abort();
	}
	h.tq->tgroup = &h.tg;
	h.tq->qpair.sq_flow_control = true;
	TAILQ_INSERT_TAIL(&h.tg.qpairs, h.tq, link);
}

static inline void h_setup(void)
{
	struct axon_nvmf_transport_opts opts;

	h_default_opts(&opts);
	h_setup_opts(&opts, true);
}

static inline void h_fini_done(void *arg)
{
	h.fini_done = true;
}

/* What lib/nvmf does to a queue pair at the end: hand back what it holds,
 * then fini. Returns the requests it had to complete. */
static inline uint32_t h_teardown(void)
{
	uint32_t n;

	if (h.tq == NULL) {
		return 0;
	}
	n = h_complete_all();
	TAILQ_REMOVE(&h.tg.qpairs, h.tq, link);
	tcp_qpair_fini(&h.tq->qpair, h_fini_done, NULL);
	h.tq = NULL;
	free(h.out);
	h.out = NULL;
	h.out_len = h.out_cap = h.out_off = 0;
	return n;
}

static inline void h_feed(const void *buf, size_t len)
{
	tcp_qpair_rx_bytes(h.tq, buf, len);
}

/* ---- a host's PDUs ---------------------------------------------------------------------- */

static inline void h_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t h_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline size_t h_ic_req(uint8_t *buf, uint8_t hpda, uint8_t dgst, uint32_t maxr2t)
{
	struct axon_nvme_tcp_ic_req icb, *ic = &icb;

	memset(ic, 0, sizeof(*ic));
	ic->common.pdu_type = AXON_NVME_TCP_PDU_IC_REQ;
	ic->common.hlen = sizeof(*ic);
	ic->common.plen = sizeof(*ic);
	ic->pfv = 0;
	ic->hpda = hpda;
	ic->dgst = dgst;
	ic->maxr2t = maxr2t;
	memcpy(buf, ic, sizeof(*ic));
	return sizeof(*ic);
}

/* A command capsule with len bytes of in-capsule data (data may be NULL for a
 * pattern), pad bytes between header and data. */
static inline size_t h_capsule(uint8_t *buf, const union axon_nvmf_sqe *sqe, const void *data, uint32_t len,
			bool hdgst, bool ddgst, uint32_t pad)
{
	union {
		struct axon_nvme_tcp_cmd c;
		uint8_t raw[sizeof(struct axon_nvme_tcp_cmd) + 4];
	} hdr;
	struct axon_nvme_tcp_cmd *pdu = &hdr.c;
	size_t hd = hdgst ? 4 : 0, dd = ddgst && len ? 4 : 0;
	size_t pdo = len ? sizeof(*pdu) + hd + pad : 0;
	size_t total = len ? pdo + len + dd : sizeof(*pdu) + hd;

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_CAPSULE_CMD;
	pdu->common.flags = (uint8_t)((hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				      (dd ? AXON_NVME_TCP_FLAG_DDGST : 0));
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.pdo = (uint8_t)pdo;
	pdu->common.plen = (uint32_t)total;
	pdu->ccsqe = *sqe;
	if (hdgst) {
		tcp_pdu_set_hdgst(pdu, sizeof(*pdu));
	}
	memcpy(buf, hdr.raw, sizeof(*pdu) + hd);
	if (len) {
		memset(buf + sizeof(*pdu) + hd, 0, pad);
		if (data != NULL) {
			memcpy(buf + pdo, data, len);
		} else {
			uint32_t i;

			for (i = 0; i < len; i++) {
				buf[pdo + i] = (uint8_t)(i * 7 + 3);
			}
		}
		if (dd) {
			struct iovec iov = {.iov_base = buf + pdo, .iov_len = len};

			h_put_le32(buf + pdo + len, tcp_pdu_data_digest(&iov, 1, len));
		}
	}
	return total;
}

static inline size_t h_h2c(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t datao, const void *data,
		    uint32_t len, bool last, bool hdgst, bool ddgst)
{
	union {
		struct axon_nvme_tcp_data_hdr d;
		uint8_t raw[sizeof(struct axon_nvme_tcp_data_hdr) + 4];
	} hdr;
	struct axon_nvme_tcp_data_hdr *pdu = &hdr.d;
	size_t hd = hdgst ? 4 : 0, dd = ddgst ? 4 : 0;
	size_t pdo = sizeof(*pdu) + hd;

	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = AXON_NVME_TCP_PDU_H2C_DATA;
	pdu->common.flags = (uint8_t)((hdgst ? AXON_NVME_TCP_FLAG_HDGST : 0) |
				      (ddgst ? AXON_NVME_TCP_FLAG_DDGST : 0) |
				      (last ? AXON_NVME_TCP_FLAG_LAST_PDU : 0));
	pdu->common.hlen = sizeof(*pdu);
	pdu->common.pdo = (uint8_t)pdo;
	pdu->common.plen = (uint32_t)(pdo + len + dd);
	pdu->cccid = cccid;
	pdu->ttag = ttag;
	pdu->datao = datao;
	pdu->datal = len;
	if (hdgst) {
		tcp_pdu_set_hdgst(pdu, sizeof(*pdu));
	}
	memcpy(buf, hdr.raw, pdo);
	memcpy(buf + pdo, data, len);
	if (ddgst) {
		struct iovec iov = {.iov_base = buf + pdo, .iov_len = len};

		h_put_le32(buf + pdo + len, tcp_pdu_data_digest(&iov, 1, len));
	}
	return pdo + len + dd;
}

/* NVM read (opc 2) / write (opc 1) of nlb 512-byte blocks at slba. */
static inline union axon_nvmf_sqe h_rw_cmd(uint8_t opc, uint16_t cid, uint64_t slba, uint32_t nlb,
				    bool in_capsule)
{
	union axon_nvmf_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.nvme.opc = opc;
	sqe.nvme.cid = cid;
	sqe.nvme.nsid = 1;
	sqe.nvme.psdt = AXON_NVME_PSDT_SGL_MPTR_CONTIG;
	sqe.nvme.cdw10 = (uint32_t)slba;
	sqe.nvme.cdw11 = (uint32_t)(slba >> 32);
	sqe.nvme.cdw12 = nlb - 1;
	sqe.nvme.dptr.sgl1.unkeyed.length = nlb * H_LBA_SIZE;
	if (in_capsule) {
		sqe.nvme.dptr.sgl1.unkeyed.type = AXON_NVME_SGL_TYPE_DATA_BLOCK;
		sqe.nvme.dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		sqe.nvme.dptr.sgl1.unkeyed.type = AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sqe.nvme.dptr.sgl1.unkeyed.subtype = AXON_NVME_SGL_SUBTYPE_TRANSPORT;
	}
	return sqe;
}

/* A copy of the next PDU the controller sent, or NULL; *len is its plen. */
static inline const uint8_t *h_next_out(uint32_t *len)
{
	uint32_t plen;

	if (h.out_len - h.out_off < sizeof(struct axon_nvme_tcp_common_hdr)) {
		return NULL;
	}
	plen = h_get_le32(h.out + h.out_off + 4);
	if (plen < 8 || plen > sizeof(h.pdu) || h.out_len - h.out_off < plen) {
		return NULL;
	}
	memcpy(h.pdu, h.out + h.out_off, plen);
	h.out_off += plen;
	*len = plen;
	return h.pdu;
}

#endif /* AXON_TCP_HARNESS_H */
