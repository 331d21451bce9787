/*
 * NVMe/RDMA target transport: private types shared by its files.
 *
 *   rdma_cm_pdata.c     the RDMA CM private data of NVMe over Fabrics: check a
 *                       connect request, build the accept and reject records
 *                       (pure: no verbs, no CM)
 *   rdma_req.c          the request state machine (capsule -> SGL check ->
 *                       buffers -> RDMA READ -> execute -> RDMA WRITE + SEND ->
 *                       free), including every state's way out when the
 *                       connection dies
 *   rdma_io.c           work requests: staging and posting once per poll,
 *                       dispatching completions (flush errors included), and
 *                       the death of a connection
 *   rdma_verbs.c        the few verbs calls the two files above make (post,
 *                       poll, translate, QP to error): unit tests replace it
 *   rdma_qpair.c        one connection: set-up on a poll group, accept, CM
 *                       disconnects, draining and teardown
 *   rdma_poll_group.c   poll groups: one CQ (and SRQ) per device, the poll loop
 *   rdma_transport.c    the ops table, options, listeners, CM events
 *
 * Threads. The CM event channel and the listeners live on the app thread; a
 * queue pair, its requests and its work requests belong to the thread of its
 * poll group (its owner). The app thread never calls a verb on a connection's
 * cm_id once it handed the connection to lib/nvmf: every rdma_accept,
 * rdma_reject, rdma_disconnect and QP call happens on the owner, and the app
 * thread only destroys the cm_id after the owner is done with it. A
 * connection is reference counted (the CM side, the owner side and every
 * message in flight) so that either thread may drop the last reference.
 */
#ifndef AXON_NVMF_RDMA_INTERNAL_H
#define AXON_NVMF_RDMA_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "axon/nvme_spec.h"
#include "axon/nvmf_transport.h"
#include "axon/rdma.h"
#include "axon/util.h"

/* ---- constants -------------------------------------------------------------- */

/** Completions handled per device per poll. */
#define RDMA_POLL_BUDGET 32
/** Most data work requests (RDMA READ or WRITE) one request uses: its buffers
 *  are spread over them max_send_sge at a time. */
#define RDMA_REQ_MAX_DATA_WRS 4
/** Requests per queue pair, per submission queue entry: a response is on its
 *  way (SEND not yet completed) while the host already reuses the entry. */
#define RDMA_REQS_PER_SQ_ENTRY 2
/** Connections accepted on one listener before the CM refuses (SPDK's default). */
#define RDMA_DEFAULT_ACCEPTOR_BACKLOG 100
/** How long a dying queue pair may wait for its flushed work requests. */
#define RDMA_DRAIN_TIMEOUT_US (5u * 1000u * 1000u)
/** Retries of the RNR NAK: 7 means "for ever" (the host reposts its receives). */
#define RDMA_RNR_RETRY_INFINITE 7

/* ---- CM private data (NVMe over Fabrics RDMA transport binding) --------------- */

#define RDMA_CM_RECFMT_1_0 0

/** Reject status (RDMA_CM_REJECT private data STS). */
enum rdma_cm_reject_status {
	RDMA_CM_REJECT_INVALID_LEN = 0x01,
	RDMA_CM_REJECT_INVALID_RECFMT = 0x02,
	RDMA_CM_REJECT_INVALID_QID = 0x03,
	RDMA_CM_REJECT_INVALID_HSQSIZE = 0x04,
	RDMA_CM_REJECT_INVALID_HRQSIZE = 0x05,
	RDMA_CM_REJECT_NO_RESOURCES = 0x06,
	RDMA_CM_REJECT_INVALID_IRD = 0x07,
	RDMA_CM_REJECT_INVALID_ORD = 0x08,
};

/** RDMA_CM_REQUEST private data, host to controller. */
struct rdma_cm_req_pdata {
	uint16_t recfmt;
	uint16_t qid;
	uint16_t hrqsize; /* receives the host posted: responses we may send */
	uint16_t hsqsize; /* 0's based submission queue size */
	uint8_t rsvd[24];
};
_Static_assert(sizeof(struct rdma_cm_req_pdata) == 32, "CM request private data is 32 bytes");

/** RDMA_CM_ACCEPT private data, controller to host. */
struct rdma_cm_accept_pdata {
	uint16_t recfmt;
	uint16_t crqsize; /* receives the controller posted for the queue */
	uint8_t rsvd[28];
};
_Static_assert(sizeof(struct rdma_cm_accept_pdata) == 32, "CM accept private data is 32 bytes");

/** RDMA_CM_REJECT private data, controller to host. */
struct rdma_cm_reject_pdata {
	uint16_t recfmt;
	uint16_t sts;
};
_Static_assert(sizeof(struct rdma_cm_reject_pdata) == 4, "CM reject private data is 4 bytes");

/** What a valid connect request asks for. */
struct rdma_cm_conn_req {
	uint16_t qid;
	uint16_t sq_entries; /* hsqsize + 1 */
	uint16_t hrqsize;
	/* From the CM's connection parameters, which it gives from our side:
	 * the RDMA READs we may have outstanding (the host's IRD) and the host's
	 * READs we would serve (its ORD; NVMe hosts issue none). */
	uint8_t initiator_depth;
	uint8_t responder_resources;
};

/**
 * Check the private data of a connect request against the transport's
 * options. Returns 0 with req filled, or the enum rdma_cm_reject_status to
 * send back.
 */
uint16_t nvmf_rdma_cm_check_req(const void *pdata, size_t len, uint8_t initiator_depth,
				uint8_t responder_resources,
				const struct axon_nvmf_transport_opts *opts,
				struct rdma_cm_conn_req *req);
void nvmf_rdma_cm_build_accept(struct rdma_cm_accept_pdata *pd, uint16_t crqsize);
void nvmf_rdma_cm_build_reject(struct rdma_cm_reject_pdata *pd, uint16_t status);
const char *nvmf_rdma_cm_reject_str(uint16_t status);

/* ---- keyed SGL parsing (rdma_req.c) ---------------------------------------------- */

/** Where a command's data is, once its SGL passed every check. */
struct rdma_sgl_info {
	enum axon_nvme_data_xfer xfer;
	uint32_t length;
	bool in_capsule;     /* data at icd_offset in the capsule's in-capsule data */
	uint32_t icd_offset;
	bool keyed;          /* data in host memory: RDMA READ / WRITE */
	uint64_t remote_addr;
	uint32_t rkey;
	bool invalidate;     /* the host asked for remote invalidation of rkey */
};

/**
 * Check the SGL of cmd. icd_received is the in-capsule data the capsule
 * carried (bytes after the 64-byte command), icd_max what the queue accepts,
 * max_io the transport's max_io_size. Returns 0 (info filled) or the NVMe
 * status (AXON_NVME_STATUS form, with DNR) to complete the command with.
 */
uint16_t nvmf_rdma_parse_sgl(const union axon_nvmf_sqe *cmd, uint32_t icd_received, uint32_t icd_max,
			uint32_t max_io, struct rdma_sgl_info *info);

/* ---- transport ------------------------------------------------------------------------ */

/** nvmf_create_transport's RDMA-specific parameters (SPDK names). */
struct rdma_specific_opts {
	uint32_t max_srq_depth;   /* receives of a poll group's SRQ, per device */
	bool no_srq;              /* one receive queue per connection instead */
	uint32_t num_cqe;         /* first size of a poll group's CQ (grown on demand) */
	int32_t acceptor_backlog; /* rdma_listen backlog */
	/* SPDK's; accepted and reported only: work requests are always posted
	 * once per poll, and each request carries its own. */
	bool no_wr_batching;
	uint32_t data_wr_pool_size;
};

struct rdma_transport;

struct rdma_listener {
	struct axon_nvmf_trid trid;
	struct rdma_cm_id *id; /* NULL once its device went away */
	struct rdma_transport *rtransport;
	TAILQ_ENTRY(rdma_listener) link;
};

struct rdma_qpair;

struct rdma_transport {
	struct axon_nvmf_transport base;
	struct rdma_specific_opts sopts;
	struct axon_rdma_cm *cm;        /* the event channel, on the app thread */
	struct axon_thread *app_thread;
	TAILQ_HEAD(, rdma_listener) listeners;
	/* Connections whose cm_id is alive (app thread). */
	TAILQ_HEAD(, rdma_qpair) conns;
	uint32_t next_qpair_id;
};

static inline struct rdma_transport *rdma_transport_from_base(struct axon_nvmf_transport *t)
{
	return AXON_CONTAINEROF(t, struct rdma_transport, base);
}

/* ---- work request contexts ----------------------------------------------------------- */

enum rdma_wr_type {
	RDMA_WR_RECV = 1,
	RDMA_WR_DATA, /* RDMA READ or WRITE of a request */
	RDMA_WR_SEND, /* the response capsule of a request */
};

/** First member of what a wr_id points to: tells the completion what it is. */
struct rdma_wr_ctx {
	enum rdma_wr_type type;
};

struct rdma_device_poller;

/** One receive buffer: a command capsule and up to in_capsule_data_size of data. */
struct rdma_recv {
	struct rdma_wr_ctx ctx;
	struct ibv_recv_wr wr;
	struct ibv_sge sge;
	uint8_t *buf;
	/* Without SRQ: the connection it belongs to; with SRQ: NULL. */
	struct rdma_qpair *rqpair;
	struct rdma_device_poller *poller;
	bool posted;
};

/* ---- requests ---------------------------------------------------------------------------- */

enum rdma_req_state {
	/* on the queue pair's free list */
	RDMA_REQ_STATE_FREE = 0,
	/* a capsule arrived: its SGL is checked next */
	RDMA_REQ_STATE_NEW,
	/* waiting on the poll group's list for pool buffers */
	RDMA_REQ_STATE_NEED_BUFFER,
	/* buffers in hand, waiting on the queue pair's list for RDMA READ room
	 * (the negotiated ORD and the send queue) */
	RDMA_REQ_STATE_TRANSFER_PENDING_HOST_TO_CONTROLLER,
	/* RDMA READs staged or posted: waiting for their completions */
	RDMA_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER,
	/* all host data in req->iov (or none needed): to be executed */
	RDMA_REQ_STATE_READY_TO_EXECUTE,
	/* with lib/nvmf (between exec or complete_with_status and req_complete) */
	RDMA_REQ_STATE_EXECUTING,
	/* back from lib/nvmf with its response; the receive goes back */
	RDMA_REQ_STATE_EXECUTED,
	/* waiting on the queue pair's list for send queue room */
	RDMA_REQ_STATE_READY_TO_COMPLETE,
	/* RDMA WRITEs chained with the response SEND staged or posted */
	RDMA_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST,
	/* the response SEND alone staged or posted */
	RDMA_REQ_STATE_COMPLETING,
	/* nothing in flight: buffers and request go back */
	RDMA_REQ_STATE_COMPLETED,
	RDMA_REQ_NUM_STATES
};

struct rdma_req {
	struct axon_nvmf_request req; /* lib/nvmf's part */
	struct rdma_qpair *rqpair;
	enum rdma_req_state state;
	uint16_t idx;
	uint16_t cid;             /* for logs once the capsule is gone */
	struct rdma_recv *recv;   /* the capsule, until EXECUTED */
	uint32_t recv_len;        /* bytes the capsule carried */
	union axon_nvmf_cqe *rsp; /* in the queue pair's registered array */
	uint16_t status;          /* failure found before exec */
	struct rdma_sgl_info sgl;
	/* Work requests staged or posted and not completed yet. */
	uint32_t wrs_outstanding;
	uint32_t reads;           /* of those, RDMA READs (counted against the ORD) */
	bool wr_error;            /* one of them completed in error */
	struct rdma_wr_ctx data_ctx;
	struct rdma_wr_ctx send_ctx;
	struct ibv_send_wr data_wr[RDMA_REQ_MAX_DATA_WRS];
	uint32_t num_data_wrs;
	struct ibv_sge data_sge[AXON_NVMF_REQ_MAX_IOVS];
	struct ibv_send_wr send_wr;
	struct ibv_sge send_sge;
	bool on_list; /* on pending_buf, pending_read or pending_complete */
	TAILQ_ENTRY(rdma_req) link;
};

static inline struct rdma_req *rdma_req_from_base(struct axon_nvmf_request *r)
{
	return AXON_CONTAINEROF(r, struct rdma_req, req);
}

/* ---- queue pairs ------------------------------------------------------------------------- */

enum rdma_conn_state {
	/* connect request accepted by us, waiting for a poll group (app thread) */
	RDMA_CONN_STATE_NEW = 0,
	/* on a poll group: QP created, receives posted, accepted */
	RDMA_CONN_STATE_ACTIVE,
	/* dead (CM disconnect, work request error, lib/nvmf's disconnect): the
	 * QP is in the error state and work requests are flushing */
	RDMA_CONN_STATE_ERROR,
	/* qpair_fini: waiting for the last flushed work request */
	RDMA_CONN_STATE_DRAINING,
	/* QP destroyed; the cm_id goes next (app thread) */
	RDMA_CONN_STATE_CLOSED,
};

struct rdma_poll_group;

struct rdma_qpair {
	struct axon_nvmf_qpair qpair; /* lib/nvmf's part */
	struct rdma_transport *rtransport;
	struct rdma_cm_id *cm_id;
	struct axon_rdma_device *dev;         /* a reference */
	struct rdma_poll_group *rgroup;       /* NULL until poll_group_add */
	struct rdma_device_poller *poller;    /* the CQ (and SRQ) it uses */
	struct ibv_qp *qp;
	uint32_t qp_num;
	enum rdma_conn_state state;
	uint32_t id;                          /* for logs */
	struct axon_nvmf_trid listen_trid;
	struct rdma_cm_conn_req conn;         /* what the host asked for */
	/* Negotiated: RDMA READs we may have outstanding (our ORD), and the
	 * host's READs we serve (our IRD). */
	uint32_t max_reads;
	uint8_t responder_resources;
	bool can_invalidate;                  /* the device does SEND with invalidate */
	bool accepted;
	bool disconnect_sent;                 /* rdma_disconnect called */

	/* Cross-thread part. */
	atomic_int refs;
	atomic_bool cm_disconnected;           /* the CM said the peer is gone */
	_Atomic(struct axon_thread *) owner;   /* the poll group's thread, once added */
	struct axon_thread *fini_thread;       /* where qpair_fini ran */

	/* Requests. */
	struct rdma_req *reqs;
	uint32_t num_reqs;
	union axon_nvmf_cqe *rsps;            /* DMA memory, one per request */
	uint32_t rsp_lkey;
	TAILQ_HEAD(, rdma_req) free_reqs;
	uint32_t state_count[RDMA_REQ_NUM_STATES];
	TAILQ_HEAD(, rdma_req) pending_read;     /* TRANSFER_PENDING_HOST_TO_CONTROLLER */
	TAILQ_HEAD(, rdma_req) pending_complete; /* READY_TO_COMPLETE */

	/* Own receives (no SRQ). */
	struct rdma_recv *recvs;
	uint8_t *recv_bufs;
	uint32_t num_recvs;
	uint32_t recvs_posted;   /* on the QP, not completed */

	/* Send queue. */
	uint32_t max_send_wr;
	uint32_t max_send_sge;
	uint32_t send_wrs_used;  /* staged + posted, not completed */
	uint32_t reads_used;     /* RDMA READs staged + posted, not completed */
	struct ibv_send_wr *send_head, *send_tail;  /* staged, posted at the end of the poll */
	struct ibv_recv_wr *recv_head, *recv_tail;  /* staged own receives */
	uint32_t sends_posted;   /* on the QP, not completed */
	bool on_post_list;
	bool on_disconnect_list;
	bool in_poller;          /* on poller->qpairs */
	uint64_t drain_deadline;

	axon_nvmf_qpair_fini_cb fini_cb;
	void *fini_cb_arg;
	bool fini_called;

	TAILQ_ENTRY(rdma_qpair) link;            /* poller->qpairs */
	TAILQ_ENTRY(rdma_qpair) post_link;       /* poller->to_post */
	TAILQ_ENTRY(rdma_qpair) disconnect_link; /* rgroup->to_disconnect, then ->finished */
	TAILQ_ENTRY(rdma_qpair) conn_link;       /* rtransport->conns (app thread) */
};

static inline struct rdma_qpair *rdma_qpair_from_base(struct axon_nvmf_qpair *q)
{
	return AXON_CONTAINEROF(q, struct rdma_qpair, qpair);
}

/** True once nothing more may be sent to the host. */
static inline bool rdma_qpair_is_dead(const struct rdma_qpair *rqpair)
{
	return rqpair->state >= RDMA_CONN_STATE_ERROR;
}

/* ---- poll groups ------------------------------------------------------------------------- */

/** A poll group's resources on one device: the shared CQ, and the SRQ. */
struct rdma_device_poller {
	struct rdma_poll_group *rgroup;
	struct axon_rdma_device *dev;          /* a reference */
	struct ibv_comp_channel *channel;
	struct ibv_cq *cq;
	uint32_t cq_size;
	uint32_t cq_reserved;                  /* completions the QPs and SRQ may produce */
	bool cq_armed;
	/* SRQ and its receives (NULL without one). */
	struct ibv_srq *srq;
	struct rdma_recv *srq_recvs;
	uint8_t *srq_bufs;
	uint32_t srq_depth;
	uint32_t srq_posted;
	struct ibv_recv_wr *srq_head, *srq_tail; /* staged, posted at the end of the poll */
	TAILQ_HEAD(, rdma_qpair) qpairs;          /* live and draining */
	TAILQ_HEAD(, rdma_qpair) to_post;         /* with staged work requests */
	TAILQ_ENTRY(rdma_device_poller) link;
	struct {
		uint64_t polls;
		uint64_t idle_polls;
		uint64_t completions;
		uint64_t requests;
		uint64_t recv_wr_posts;
		uint64_t send_wr_posts;
		uint64_t flush_errors;
	} stats;
};

struct rdma_poll_group {
	struct axon_nvmf_transport_poll_group base;
	struct rdma_transport *rtransport;
	TAILQ_HEAD(, rdma_device_poller) pollers;
	/* Requests in NEED_BUFFER, oldest first (fairness across queue pairs). */
	TAILQ_HEAD(, rdma_req) pending_buf;
	/* Queue pairs that died during this poll: lib/nvmf hears of them after it. */
	TAILQ_HEAD(, rdma_qpair) to_disconnect;
	/* Queue pairs closed whose fini callback is due (nvmf_rdma_group_run_finished). */
	TAILQ_HEAD(, rdma_qpair) finished;
	/* Dying queue pairs whose fini waits for their flushes (any poller). */
	uint32_t draining;
	/* Pool buffers held by this group's requests. */
	uint32_t buffers_in_use;
	uint64_t pending_buf_waits;
};

static inline struct rdma_poll_group *rdma_group_from_base(struct axon_nvmf_transport_poll_group *b)
{
	return AXON_CONTAINEROF(b, struct rdma_poll_group, base);
}

/* ---- rdma_verbs.c: the doubled interface -------------------------------------------------- */

int nvmf_rdma_verbs_post_send(struct rdma_qpair *rqpair, struct ibv_send_wr *wr,
			 struct ibv_send_wr **bad_wr);
int nvmf_rdma_verbs_post_recv(struct rdma_qpair *rqpair, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr);
int nvmf_rdma_verbs_post_srq_recv(struct rdma_device_poller *poller, struct ibv_recv_wr *wr,
			     struct ibv_recv_wr **bad_wr);
int nvmf_rdma_verbs_poll_cq(struct rdma_device_poller *poller, int num, struct ibv_wc *wc);
/** Move the QP to the error state: every posted work request flushes. */
int nvmf_rdma_verbs_qp_set_error(struct rdma_qpair *rqpair);
/** The lkey of [addr, addr + len) on dev, through the device's memory domain. */
int nvmf_rdma_verbs_translate(struct axon_rdma_device *dev, void *addr, size_t len, uint32_t *lkey);
/** Microseconds on a monotonic clock (drain deadlines). */
uint64_t nvmf_rdma_verbs_now_us(void);

/* ---- rdma_req.c ----------------------------------------------------------------------------- */

const char *nvmf_rdma_req_state_str(enum rdma_req_state state);
/** Allocate the requests of rqpair (and their registered responses). 0 or -ENOMEM/-errno. */
int nvmf_rdma_reqs_alloc(struct rdma_qpair *rqpair, uint32_t num_reqs);
/** Free them; every request must be FREE. */
void nvmf_rdma_reqs_free(struct rdma_qpair *rqpair);
/** A capsule arrived in recv (len bytes) for rqpair. 0, or -EPROTO (no free request). */
int nvmf_rdma_req_on_capsule(struct rdma_qpair *rqpair, struct rdma_recv *recv, uint32_t len);
/** Drive a request as far as it goes now. */
void nvmf_rdma_req_process(struct rdma_req *rreq);
/** A work request of rreq completed: its response SEND (is_send) or one of its
 *  data work requests; ok false: in error, flushes included. */
void nvmf_rdma_req_on_wr_done(struct rdma_req *rreq, bool is_send, bool ok);
/** Retry the group's NEED_BUFFER requests; returns how many got buffers. */
int nvmf_rdma_group_process_pending_buf(struct rdma_poll_group *rgroup);
/** Let the requests waiting for send queue room or ORD go, in order. */
void nvmf_rdma_qpair_process_pending(struct rdma_qpair *rqpair);
/** The connection is dead: every request not with lib/nvmf and not waiting
 *  for a work request heads for FREE now. */
void nvmf_rdma_reqs_abandon(struct rdma_qpair *rqpair);
/** Requests not FREE. */
uint32_t nvmf_rdma_reqs_in_use(const struct rdma_qpair *rqpair);
/** ops->req_complete. */
int nvmf_rdma_req_complete(struct axon_nvmf_request *req);
/** ops->qpair_abort_request. */
bool nvmf_rdma_qpair_abort_request(struct axon_nvmf_qpair *qpair, uint16_t cid);

/* ---- rdma_io.c -------------------------------------------------------------------------- */

/** Stage a chain of n send work requests (first..last) of rqpair. */
void nvmf_rdma_qpair_stage_send(struct rdma_qpair *rqpair, struct ibv_send_wr *first,
			   struct ibv_send_wr *last, uint32_t n);
/** Give a receive back: staged on its QP or the SRQ, posted at the end of the poll. */
void nvmf_rdma_recv_release(struct rdma_recv *recv);
/** Post every staged work request of the poller (receives first). Returns WRs posted. */
uint32_t nvmf_rdma_poller_flush(struct rdma_device_poller *poller);
/** Handle one completion. */
void nvmf_rdma_poller_handle_wc(struct rdma_device_poller *poller, const struct ibv_wc *wc);
/** Poll the CQ (up to RDMA_POLL_BUDGET) and handle what came. Returns completions. */
int nvmf_rdma_poller_poll_cq(struct rdma_device_poller *poller);
/**
 * The connection is dead (reason for the log): QP to error, staged work
 * requests dropped, requests abandoned, and lib/nvmf told after the poll.
 */
void nvmf_rdma_qpair_set_dead(struct rdma_qpair *rqpair, const char *reason);
/** True once every work request of a dead qpair has completed. */
bool nvmf_rdma_qpair_is_drained(const struct rdma_qpair *rqpair);
/** Tell lib/nvmf of every connection that died during the poll. */
int nvmf_rdma_group_disconnect_dead(struct rdma_poll_group *rgroup);

/* ---- rdma_qpair.c ---------------------------------------------------------------------- */

/** A connect request that passed the checks (app thread); NULL on -ENOMEM (logged). */
struct rdma_qpair *nvmf_rdma_qpair_create(struct rdma_transport *rtransport, struct rdma_cm_id *id,
				     const struct rdma_cm_conn_req *conn,
				     const struct axon_nvmf_trid *listen_trid);
/** Drop a reference; the last one frees the structure. */
void nvmf_rdma_qpair_put(struct rdma_qpair *rqpair);
/** ops->poll_group_add's work: QP, receives, requests, accept. */
int nvmf_rdma_qpair_setup(struct rdma_qpair *rqpair, struct rdma_device_poller *poller);
/** The CM reported the peer gone (app thread, from the event handler). */
void nvmf_rdma_qpair_cm_disconnected(struct rdma_qpair *rqpair);
/** ops->qpair_fini. */
void nvmf_rdma_qpair_fini(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb_fn, void *cb_arg);
/** A draining qpair's last work request completed (or its time ran out): finish it. */
void nvmf_rdma_qpair_drain_done(struct rdma_qpair *rqpair);
/** Call the fini callbacks of the group's closed queue pairs and drop their
 *  references. Must be the caller's last use of rgroup: a callback may destroy it. */
void nvmf_rdma_group_run_finished(struct rdma_poll_group *rgroup);
/** Check the draining queue pairs of a poller for completion or timeout. */
int nvmf_rdma_poller_check_draining(struct rdma_device_poller *poller);

/* ---- rdma_poll_group.c ----------------------------------------------------------------- */

/** The group's poller for dev, created on first use; NULL on failure (logged). */
struct rdma_device_poller *nvmf_rdma_group_get_poller(struct rdma_poll_group *rgroup,
						 struct axon_rdma_device *dev);
/** Reserve n completions on the poller's CQ (growing it if needed). 0 or -errno. */
int nvmf_rdma_poller_reserve_cqes(struct rdma_device_poller *poller, uint32_t n);
void nvmf_rdma_poller_release_cqes(struct rdma_device_poller *poller, uint32_t n);
/* The poll group ops. */
struct axon_nvmf_transport_poll_group *nvmf_rdma_poll_group_create(struct axon_nvmf_transport *transport,
							      struct axon_nvmf_poll_group *group);
void nvmf_rdma_poll_group_destroy(struct axon_nvmf_transport_poll_group *base);
int nvmf_rdma_poll_group_add(struct axon_nvmf_transport_poll_group *base, struct axon_nvmf_qpair *qpair);
int nvmf_rdma_poll_group_remove(struct axon_nvmf_transport_poll_group *base,
			   struct axon_nvmf_qpair *qpair);
int nvmf_rdma_poll_group_poll(struct axon_nvmf_transport_poll_group *base);
void nvmf_rdma_poll_group_dump_stat(struct axon_nvmf_transport_poll_group *base, json_t *obj);

#endif /* AXON_NVMF_RDMA_INTERNAL_H */
