/*
 * NVMe/TCP target transport: private types shared by its files.
 *
 *   tcp_pdu.c        the receive state machine (bytes in, validated PDUs out)
 *                    and the builders of the PDUs the controller sends; pure:
 *                    no sockets, no lib/nvmf, testable with crafted streams
 *   tcp_req.c        the request state machine (capsule -> buffers -> R2T /
 *                    H2CData -> execute -> C2HData / CapsuleResp -> free)
 *   tcp_qpair.c      one connection: ICReq/ICResp, receive loop, fatal errors
 *                    (C2HTermReq), teardown
 *   tcp_transport.c  the ops table, options, listen/accept, poll groups
 *
 * Threads: a queue pair and its requests belong to the thread of their poll
 * group; listeners and the accept poller to the app thread.
 */
#ifndef AXON_NVMF_TCP_INTERNAL_H
#define AXON_NVMF_TCP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "axon/nvme_spec.h"
#include "axon/nvmf_transport.h"
#include "axon/sock.h"
#include "axon/util.h"

/* ---- constants -------------------------------------------------------------- */

/** Bytes one read asks the socket for: many PDUs per system call. */
#define TCP_RX_BUF_SIZE (32 * 1024)
/** Reads per socket per poll, so that one busy connection cannot hog a group. */
#define TCP_RECV_BUDGET 8
/** Sockets handled per sock group poll. */
#define TCP_POLL_EVENTS AXON_SOCK_GROUP_MAX_EVENTS
/** Connections accepted per listener per accept poll. */
#define TCP_ACCEPT_BUDGET 16
/** MAXH2CDATA we announce: bytes per H2CData PDU, and the most one R2T asks for. */
#define TCP_MAXH2CDATA (128u * 1024u)
/** In-capsule data the admin queue accepts whatever in_capsule_data_size says
 *  (NVMe over Fabrics: 8 KiB for the admin queue). */
#define TCP_ADMIN_ICD_SIZE 8192u
/** Most R2Ts outstanding for one command (further limited by the host's MAXR2T). */
#define TCP_MAX_R2T_PER_REQ 4
/** After a fatal error: how long we drain input waiting for the host to close. */
#define TCP_FATAL_LINGER_US (1000u * 1000u)
/** Largest header a host sends (ICReq), plus its digest room. */
#define TCP_PDU_HDR_MAX 128u
/** Room for a C2HData header, its digest and the padding up to HPDA (pdo <= 128). */
#define TCP_C2H_HDR_MAX 128u
/** A response capsule with its header digest. */
#define TCP_RSP_PDU_MAX (sizeof(struct axon_nvme_tcp_rsp) + AXON_NVME_TCP_DIGEST_LEN)
/** An R2T with its header digest. */
#define TCP_R2T_PDU_MAX (sizeof(struct axon_nvme_tcp_r2t_hdr) + AXON_NVME_TCP_DIGEST_LEN)

/* ---- the receive state machine (tcp_pdu.c) ---------------------------------------- */

enum tcp_rx_state {
	/* gathering the 8-byte common header of the next PDU */
	TCP_RX_STATE_CH = 0,
	/* gathering the rest of the header and its digest */
	TCP_RX_STATE_PSH,
	/* skipping the padding between the header and the data (pdo) */
	TCP_RX_STATE_PAD,
	/* data arriving: copied (or read) straight to where the handler said */
	TCP_RX_STATE_DATA,
	/* gathering the data digest */
	TCP_RX_STATE_DDGST,
	/* a fatal error was found (err holds it) or the host terminated: nothing
	 * more is parsed */
	TCP_RX_STATE_ERROR,
};

/** A fatal error: what a C2HTermReq reports. */
struct tcp_rx_err {
	uint16_t fes; /* enum axon_nvme_tcp_fes */
	uint32_t fei; /* byte offset of the bad field for FES 01h/06h, else 0 */
};

/** Where a PDU's data lands: offset bytes into iov[]. iov NULL: digest and drop. */
struct tcp_rx_dst {
	const struct iovec *iov;
	uint32_t iovcnt;
	uint32_t offset;
};

/*
 * What the parser calls once a PDU header passed every check it can make
 * alone (type, flags, hlen, pdo, plen, header digest, ICReq fields, H2CData
 * datal vs plen). Handlers return 0, -EPROTO after filling err (fatal: the
 * connection sends a C2HTermReq), or -ECONNABORTED (stop without a TermReq).
 */
struct tcp_rx_ops {
	/** A valid ICReq (the first PDU). */
	int (*ic_req)(void *ctx, const struct axon_nvme_tcp_ic_req *pdu, struct tcp_rx_err *err);
	/** A command capsule with data_len bytes of in-capsule data to follow: set dst. */
	int (*capsule)(void *ctx, const struct axon_nvme_tcp_cmd *pdu, uint32_t data_len,
		       struct tcp_rx_dst *dst, struct tcp_rx_err *err);
	/** An H2CData PDU (datal > 0 and consistent with plen): check it against
	 *  the outstanding R2Ts and set dst. */
	int (*h2c_data)(void *ctx, const struct axon_nvme_tcp_data_hdr *pdu, struct tcp_rx_dst *dst,
			struct tcp_rx_err *err);
	/** The capsule or H2CData PDU whose header came last is complete; ddgst_ok is
	 *  false when its data digest did not match. */
	int (*pdu_done)(void *ctx, bool ddgst_ok, struct tcp_rx_err *err);
	/** The host sent an H2CTermReq: the connection ends. */
	void (*term_req)(void *ctx, const struct axon_nvme_tcp_term_req_hdr *pdu);
};

struct tcp_rx {
	enum tcp_rx_state state;
	const struct tcp_rx_ops *ops;
	void *ctx;
	/* Limits: in-capsule data and H2CData bytes per PDU. */
	uint32_t icd_max;
	uint32_t maxh2cdata;
	/* Negotiated by the ICReq. */
	bool ic_done;
	bool hdgst;
	bool ddgst;
	/* The header being gathered (with its digest). */
	union {
		uint8_t raw[TCP_PDU_HDR_MAX + AXON_NVME_TCP_DIGEST_LEN];
		struct axon_nvme_tcp_common_hdr ch;
		struct axon_nvme_tcp_ic_req ic_req;
		struct axon_nvme_tcp_cmd cmd;
		struct axon_nvme_tcp_data_hdr data;
		struct axon_nvme_tcp_term_req_hdr term;
	} hdr;
	uint32_t hdr_have;
	uint32_t hdr_need; /* hlen plus header digest */
	uint32_t pad_left;
	uint32_t data_len;
	uint32_t data_left;
	/* Data destination: current iovec and offset in it. */
	struct tcp_rx_dst dst;
	uint32_t dst_idx;
	size_t dst_off;
	uint32_t crc;
	uint8_t ddgst_buf[AXON_NVME_TCP_DIGEST_LEN];
	uint32_t ddgst_have;
	struct tcp_rx_err err;
	uint64_t pdus; /* PDUs completely received */
};

/** Start a connection's parser: only an ICReq may come first. */
void tcp_rx_init(struct tcp_rx *rx, const struct tcp_rx_ops *ops, void *ctx, uint32_t icd_max,
		 uint32_t maxh2cdata);

/**
 * Feed len bytes of the stream. Returns len when all were consumed, -EPROTO
 * on a fatal error (rx->err and the gathered header say what, see
 * tcp_rx_build_term_req), or -ECONNABORTED when the host sent a TermReq or a
 * handler stopped the connection. After an error nothing more is consumed.
 */
ssize_t tcp_rx_consume(struct tcp_rx *rx, const void *buf, size_t len);

/**
 * While data of a PDU is due and has a destination, the iovecs (at most max)
 * that the next bytes of the stream belong in, so that the caller can read
 * them from the socket straight into place. Returns their count, or 0.
 */
int tcp_rx_data_iov(const struct tcp_rx *rx, struct iovec *iov, int max);

/**
 * n bytes (at most what tcp_rx_data_iov described) were read straight into
 * place. Returns 0, or a negative errno as tcp_rx_consume.
 */
int tcp_rx_data_received(struct tcp_rx *rx, size_t n);

/** Build the C2HTermReq for rx's fatal error in buf (TCP_PDU_HDR_MAX + 24
 *  bytes); returns its length. */
size_t tcp_rx_build_term_req(const struct tcp_rx *rx, uint8_t *buf);

/* ---- PDUs the controller sends (tcp_pdu.c) ------------------------------------ */

/** Header digest of hlen bytes, stored little-endian right after them. */
void tcp_pdu_set_hdgst(void *hdr, uint32_t hlen);
/** Data digest (final CRC32C) of len bytes of iov. */
uint32_t tcp_pdu_data_digest(const struct iovec *iov, uint32_t iovcnt, uint32_t len);
void tcp_pdu_build_ic_resp(struct axon_nvme_tcp_ic_resp *pdu, uint8_t dgst, uint32_t maxh2cdata);
/** Returns the bytes to send (24, or 28 with a header digest). */
size_t tcp_pdu_build_capsule_resp(uint8_t *buf, const union axon_nvmf_cqe *cqe, bool hdgst);
size_t tcp_pdu_build_r2t(uint8_t *buf, uint16_t cccid, uint16_t ttag, uint32_t r2to,
			 uint32_t r2tl, bool hdgst);
/** C2HData header, digest and zero padding up to the host's HPDA in buf
 *  (TCP_C2H_HDR_MAX bytes); returns pdo, the bytes to send before the data. */
size_t tcp_pdu_build_c2h_data(uint8_t *buf, uint16_t cccid, uint32_t datao, uint32_t datal,
			      uint8_t flags, bool hdgst, bool ddgst, uint8_t hpda);
/** A C2HTermReq carrying up to 128 bytes of the offending header. */
size_t tcp_pdu_build_term_req(uint8_t *buf, uint16_t fes, uint32_t fei, const void *bad_hdr,
			      size_t bad_len);

/* ---- transport, poll groups, queue pairs, requests --------------------------------- */

/** nvmf_create_transport's TCP-specific parameters. */
struct tcp_specific_opts {
	bool c2h_success;     /* C2HData carries SUCCESS: no response capsule for reads */
	int32_t sock_priority; /* SO_PRIORITY of accepted sockets, 0..6 */
	uint32_t ack_timeout;  /* ms unacknowledged data may wait (TCP_USER_TIMEOUT); 0: default */
	/* SPDK sizes a pool of control-message buffers per poll group with it;
	 * ours live in each connection, so it is accepted and reported only. */
	uint32_t control_msg_num;
};

struct tcp_listener {
	struct axon_nvmf_trid trid;
	struct axon_sock *sock;
	struct tcp_transport *ttransport;
	TAILQ_ENTRY(tcp_listener) link;
};

struct tcp_transport {
	struct axon_nvmf_transport base;
	struct tcp_specific_opts sopts;
	TAILQ_HEAD(, tcp_listener) listeners;
	/* Listening sockets, watched on the app thread (its fd is a wake fd). */
	struct axon_sock_group *accept_group;
	struct axon_poller *accept_poller;
	uint32_t next_qpair_id;
};

struct tcp_req;
struct tcp_qpair;

struct tcp_poll_group {
	struct axon_nvmf_transport_poll_group base;
	struct axon_sock_group *sgroup;
	int sgroup_fd;
	TAILQ_HEAD(, tcp_qpair) qpairs;
	/* Requests in NEED_BUFFER, oldest first (fairness across queue pairs). */
	TAILQ_HEAD(, tcp_req) pending_buf;
	/* Queue pairs whose connection ended during this poll: disconnected after it. */
	TAILQ_HEAD(, tcp_qpair) to_disconnect;
	struct {
		uint64_t pdus_received;
		uint64_t fatal_errors;
		uint64_t pending_buf_waits;
	} stats;
};

enum tcp_req_state {
	/* on the queue pair's free list */
	TCP_REQ_STATE_FREE = 0,
	/* capsule header parsed and its SGL checked; in-capsule data arriving */
	TCP_REQ_STATE_NEW,
	/* waiting on the poll group's list for pool buffers */
	TCP_REQ_STATE_NEED_BUFFER,
	/* R2Ts sent, H2CData arriving into the buffers */
	TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER,
	/* all host data in req->iov (or none needed): to be executed */
	TCP_REQ_STATE_READY_TO_EXECUTE,
	/* with lib/nvmf (between exec or complete_with_status and req_complete) */
	TCP_REQ_STATE_EXECUTING,
	/* back from lib/nvmf with its response: C2HData / CapsuleResp to send */
	TCP_REQ_STATE_EXECUTED,
	/* C2HData and/or CapsuleResp queued on the socket */
	TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST,
	/* nothing in flight: buffers and request go back */
	TCP_REQ_STATE_COMPLETED,
	TCP_REQ_NUM_STATES
};

/** One outstanding R2T of a request. */
struct tcp_r2t {
	uint8_t pdu[TCP_R2T_PDU_MAX] __attribute__((aligned(8)));
	struct iovec iov;
	struct axon_sock_request sreq;
	struct tcp_req *treq;
};

struct tcp_req {
	struct axon_nvmf_request req; /* lib/nvmf's part */
	struct tcp_qpair *tqpair;
	enum tcp_req_state state;
	uint16_t ttag;      /* our index in the queue pair, the R2Ts' transfer tag */
	union axon_nvmf_sqe cmd;
	union axon_nvmf_cqe rsp;
	/* Command-level outcome found before exec (bad SGL, data digest error). */
	uint16_t status;
	bool capsule_done;  /* the capsule PDU (and its data) fully received */
	bool in_capsule;    /* req->iov points at in-capsule data */
	bool ddgst_error;   /* a data digest did not match: transient transport error */
	uint8_t *icd_buf;   /* in_capsule_data_size bytes of this request */
	/* Host-to-controller transfer: bytes received, and bytes asked for by R2Ts. */
	uint32_t h2c_offset;
	uint32_t r2t_offset;
	/* Ends of the outstanding R2Ts, oldest first (a ring of r2t_count). */
	uint32_t r2t_end[TCP_MAX_R2T_PER_REQ];
	uint32_t r2t_head;
	uint32_t r2t_count;
	struct tcp_r2t r2t[TCP_MAX_R2T_PER_REQ];
	uint32_t r2t_slot; /* next r2t[] to use */
	/* Controller-to-host PDUs: writes queued on the socket not yet done. */
	uint32_t writes_pending;
	uint8_t c2h_hdr[TCP_C2H_HDR_MAX] __attribute__((aligned(8)));
	uint8_t ddgst[AXON_NVME_TCP_DIGEST_LEN];
	uint8_t rsp_pdu[TCP_RSP_PDU_MAX] __attribute__((aligned(8)));
	struct iovec tx_iov[AXON_NVMF_REQ_MAX_IOVS + 3];
	struct axon_sock_request tx_sreq;
	TAILQ_ENTRY(tcp_req) link; /* free list, or the group's pending_buf */
};

enum tcp_conn_state {
	/* accepted; the first PDU must be an ICReq */
	TCP_CONN_STATE_AWAIT_IC_REQ = 0,
	/* ICResp sent: capsules flow */
	TCP_CONN_STATE_RUNNING,
	/* fatal error: C2HTermReq sent, input drained and dropped until the host
	 * closes or the linger time ends */
	TCP_CONN_STATE_TERMINATING,
	/* the connection is over: out of the sock group, disconnect asked for */
	TCP_CONN_STATE_DISCONNECTING,
	/* socket closed (qpair_fini) */
	TCP_CONN_STATE_CLOSED,
};

struct tcp_qpair {
	struct axon_nvmf_qpair qpair; /* lib/nvmf's part */
	struct tcp_transport *ttransport;
	struct tcp_poll_group *tgroup; /* NULL until poll_group_add */
	struct axon_sock *sock;
	enum tcp_conn_state state;
	uint32_t id; /* for logs */
	struct axon_nvmf_trid listen_trid;
	struct tcp_rx rx;
	uint8_t *rx_buf; /* TCP_RX_BUF_SIZE bytes */
	/* Negotiated by the ICReq. */
	bool hdgst;
	bool ddgst;
	uint8_t hpda;
	uint32_t max_r2t_per_req;
	/* Requests (allocated at the ICReq). */
	struct tcp_req *reqs;
	uint32_t num_reqs;
	uint8_t *icd_bufs;
	uint32_t icd_size; /* bytes of each request's in-capsule buffer */
	TAILQ_HEAD(, tcp_req) free_reqs;
	uint32_t state_count[TCP_REQ_NUM_STATES];
	/* The request whose capsule or H2CData PDU is being received. */
	struct tcp_req *rx_req;
	/* The connection's own PDUs: ICResp, and the C2HTermReq of a fatal error
	 * (separate: a TermReq may follow an ICResp still queued). */
	struct axon_nvme_tcp_ic_resp ic_resp;
	struct iovec ic_resp_iov;
	struct axon_sock_request ic_resp_sreq;
	uint8_t term_req[sizeof(struct axon_nvme_tcp_term_req_hdr) + AXON_NVME_TCP_TERM_REQ_MAX_DATA]
		__attribute__((aligned(8)));
	struct iovec term_req_iov;
	struct axon_sock_request term_req_sreq;
	uint32_t ctrl_writes; /* ICResp / TermReq writes queued */
	struct axon_poller *linger_poller;
	bool on_disconnect_list;
	bool fini_pending;
	axon_nvmf_qpair_fini_cb fini_cb;
	void *fini_cb_arg;
	TAILQ_ENTRY(tcp_qpair) link;            /* tgroup->qpairs */
	TAILQ_ENTRY(tcp_qpair) disconnect_link; /* tgroup->to_disconnect */
};

static inline struct tcp_transport *tcp_transport_from_base(struct axon_nvmf_transport *t)
{
	return AXON_CONTAINEROF(t, struct tcp_transport, base);
}

static inline struct tcp_qpair *tcp_qpair_from_base(struct axon_nvmf_qpair *q)
{
	return AXON_CONTAINEROF(q, struct tcp_qpair, qpair);
}

static inline struct tcp_req *tcp_req_from_base(struct axon_nvmf_request *r)
{
	return AXON_CONTAINEROF(r, struct tcp_req, req);
}

/* ---- tcp_req.c ---------------------------------------------------------------- */

const char *tcp_req_state_str(enum tcp_req_state state);
/** Allocate num_reqs requests (and their in-capsule buffers) for tqpair. 0 or -ENOMEM. */
int tcp_reqs_alloc(struct tcp_qpair *tqpair, uint32_t num_reqs, uint32_t icd_size);
/** Free the request arrays; every request must be FREE or forced back (tcp_reqs_abandon). */
void tcp_reqs_free(struct tcp_qpair *tqpair);
/** The connection is gone: give back every request still in a transport state. */
void tcp_reqs_abandon(struct tcp_qpair *tqpair);
/** Drive a request as far as it goes now. */
void tcp_req_process(struct tcp_req *treq);
/** Receive-side handlers (called by the parser through tcp_qpair.c). */
int tcp_req_on_capsule(struct tcp_qpair *tqpair, const struct axon_nvme_tcp_cmd *pdu,
		       uint32_t data_len, struct tcp_rx_dst *dst, struct tcp_rx_err *err);
int tcp_req_on_h2c_data(struct tcp_qpair *tqpair, const struct axon_nvme_tcp_data_hdr *pdu,
			struct tcp_rx_dst *dst, struct tcp_rx_err *err);
int tcp_req_on_pdu_done(struct tcp_qpair *tqpair, bool ddgst_ok);
/** Retry the group's NEED_BUFFER requests; returns how many got buffers. */
int tcp_group_process_pending_buf(struct tcp_poll_group *tgroup);
/** ops->req_complete. */
int tcp_req_complete(struct axon_nvmf_request *req);
/** ops->qpair_abort_request. */
bool tcp_qpair_abort_request(struct axon_nvmf_qpair *qpair, uint16_t cid);

/* ---- tcp_qpair.c ------------------------------------------------------------- */

/** A freshly accepted connection (app thread); NULL on -ENOMEM (logged). */
struct tcp_qpair *tcp_qpair_create(struct tcp_transport *ttransport, struct axon_sock *sock,
				   const struct axon_nvmf_trid *listen_trid);
/** Free a queue pair that never reached a poll group, closing its socket. */
void tcp_qpair_destroy(struct tcp_qpair *tqpair);
/** Feed received bytes through the parser (the receive path, also for fuzzing). */
void tcp_qpair_rx_bytes(struct tcp_qpair *tqpair, const uint8_t *buf, size_t len);
/** The sock group callback: read and parse within TCP_RECV_BUDGET. */
void tcp_qpair_sock_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock);
/** The connection is over (peer gone, fatal error done): leave the sock group and
 *  get disconnected after this poll. */
void tcp_qpair_conn_lost(struct tcp_qpair *tqpair);
/** Tell lib/nvmf about every connection lost during the poll. */
int tcp_group_disconnect_lost(struct tcp_poll_group *tgroup);
/** ops->qpair_fini. */
void tcp_qpair_fini(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb_fn, void *cb_arg);
/** Queue a write on the connection; 0, or -ENOTCONN once it is over. */
int tcp_qpair_write(struct tcp_qpair *tqpair, struct axon_sock_request *sreq);
/** True once responses can no longer reach the host. */
static inline bool tcp_qpair_is_dead(const struct tcp_qpair *tqpair)
{
	return tqpair->state >= TCP_CONN_STATE_TERMINATING;
}

#endif /* AXON_NVMF_TCP_INTERNAL_H */
