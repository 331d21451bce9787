/*
 * NVMe over RDMA host transport: types shared by rdma.c (controllers, the
 * RDMA CM connection with its private data, qpair life cycle, the ops
 * table) and rdma_io.c (data mapping into keyed SGLs or in-capsule data,
 * bounce buffers, sends, receives, and the validation of every response).
 *
 * One qpair is one RC queue pair with its own CQ (sends and receives) and
 * its own CM event channel, both polled from qpair_process_completions:
 * lib/nvme connects I/O qpairs synchronously on the caller's thread, which
 * need not be an axon_thread, so nothing here relies on a poller.
 *
 * Memory. A qpair owns one region, registered with every device through
 * lib/rdma when the qpair is created: the command capsules (SQE plus
 * in-capsule data), the response buffers, and the bounce buffers. Its keys,
 * like every key, come from the device's memory domain.
 */
#ifndef AXON_NVME_RDMA_INTERNAL_H
#define AXON_NVME_RDMA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "axon/dma.h"
#include "axon/log.h"
#include "axon/nvme.h"
#include "axon/rdma.h"
#include "axon/util.h"

/* Largest transfer of one command: also the size of a bounce buffer. */
#define RDMA_MAX_XFER_SIZE (128u * 1024u)
/* In-capsule data we use at most, whatever larger IOCCSZ a target offers. */
#define RDMA_MAX_ICD_LEN (8u * 1024u)
/* Bounce buffers of an admin queue (Connect data, identify, log pages). */
#define RDMA_ADMIN_BOUNCE_BUFS 4u
/* Bounce buffers of an I/O queue (at most one per command slot). */
#define RDMA_IO_BOUNCE_BUFS 32u
/* Address and route resolution timeout. */
#define RDMA_RESOLVE_TIMEOUT_MS 2000
/* Work completions taken per ibv_poll_cq, and batches per process_completions. */
#define RDMA_CQ_BATCH 32
#define RDMA_CQ_BATCHES_PER_POLL 8
/* CM events handled per process_completions. */
#define RDMA_CM_EVENT_BUDGET 4
/* Once established, the CM channel is read at most this often (a syscall). */
#define RDMA_CM_CHECK_INTERVAL_MS 4
/* A keyed SGL data block's length field is 24 bits wide. */
#define RDMA_KEYED_SGL_MAX_LEN ((1u << 24) - 1u)
/* Alignment of the registered region (lib/rdma registers whole 4 KiB pages). */
#define RDMA_REGION_ALIGN 4096u
/* Capsule slots are aligned like cache lines. */
#define RDMA_CAPSULE_ALIGN 64u
/* "Data transfer error" (generic status), for a pull or push that failed. */
#define RDMA_SC_DATA_TRANSFER_ERROR 0x04
/* "Aborted, SQ deletion": commands of a disconnected qpair. */
#define RDMA_SC_ABORTED_SQ_DELETION 0x08

/* ---- NVMe-oF RDMA transport binding: the CM private data --------------------------- */

/* RDMA_CM_REQUEST private data of the host (32 bytes). */
struct nvme_rdma_cm_req {
	uint16_t recfmt;  /* record format: 0 */
	uint16_t qid;
	uint16_t hrqsize; /* receive buffers the host posts for responses */
	uint16_t hsqsize; /* submission queue size, 0's based */
	uint16_t cntlid;  /* I/O queues: the controller of the association; else 0 */
	uint8_t rsvd[22];
};
_Static_assert(sizeof(struct nvme_rdma_cm_req) == 32, "CM request private data is 32 bytes");

/* RDMA_CM_ACCEPT private data of the controller (32 bytes). */
struct nvme_rdma_cm_rep {
	uint16_t recfmt;
	uint16_t crqsize; /* receive buffers the controller posted for capsules */
	uint8_t rsvd[28];
};
_Static_assert(sizeof(struct nvme_rdma_cm_rep) == 32, "CM accept private data is 32 bytes");

/* RDMA_CM_REJECT private data of the controller. */
struct nvme_rdma_cm_rej {
	uint16_t recfmt;
	uint16_t sts;
};

/* Status of a CM reject. */
enum nvme_rdma_cm_status {
	NVME_RDMA_CM_INVALID_LEN = 0x01,
	NVME_RDMA_CM_INVALID_RECFMT = 0x02,
	NVME_RDMA_CM_INVALID_QID = 0x03,
	NVME_RDMA_CM_INVALID_HSQSIZE = 0x04,
	NVME_RDMA_CM_INVALID_HRQSIZE = 0x05,
	NVME_RDMA_CM_NO_RSC = 0x06,
	NVME_RDMA_CM_INVALID_IRD = 0x07,
	NVME_RDMA_CM_INVALID_ORD = 0x08,
	NVME_RDMA_CM_INVALID_CNTLID = 0x09,
};

/* ---- requests ------------------------------------------------------------------------ */

/* What a work request id points at: the tag says which structure holds it. */
enum nvme_rdma_wr_type {
	RDMA_WR_SEND = 1,
	RDMA_WR_RECV = 2,
};

struct nvme_rdma_wr {
	enum nvme_rdma_wr_type type;
};

/* Life of a command slot (the cid is its index). */
enum nvme_rdma_req_state {
	RDMA_REQ_FREE = 0,  /* on the free list */
	RDMA_REQ_PULLING,   /* the domain copies write data in; the capsule waits */
	RDMA_REQ_SUBMITTED, /* capsule posted: waiting for its send completion and response */
	RDMA_REQ_PUSHING,   /* the domain copies read data out of the bounce buffer */
	RDMA_REQ_DONE,      /* on the done list: completes in this or the next poll */
	RDMA_REQ_ORPHANED,  /* completed by a disconnect while a pull/push ran: waits for it */
};

/* Where a command's data travels. */
enum nvme_rdma_data_path {
	RDMA_DATA_NONE = 0, /* no data */
	RDMA_DATA_KEYED,    /* keyed SGL on the caller's buffer: no copy */
	RDMA_DATA_ICD_SGE,  /* in-capsule, sent straight from the caller's buffer: no copy */
	RDMA_DATA_ICD_COPY, /* in-capsule, copied into the capsule */
	RDMA_DATA_BOUNCE,   /* keyed SGL on a bounce buffer, copied in (write) or out (read) */
};

/* A command's data as the transport sees it. */
struct nvme_rdma_payload {
	const struct iovec *iov;
	int iovcnt;
	uint32_t len;
	/* NULL: process memory (translated through the device's own domain). */
	struct axon_memory_domain *domain;
	void *domain_ctx;
};

struct nvme_rdma_qpair;

struct nvme_rdma_req {
	struct nvme_rdma_wr wr;           /* the send's wr_id points here */
	struct nvme_rdma_qpair *rqpair;
	struct axon_nvme_request *req;
	uint16_t cid;
	enum nvme_rdma_req_state state;
	enum nvme_rdma_data_path path;
	enum axon_nvme_data_xfer xfer;
	bool send_done;                   /* the capsule's send completed */
	bool rsp_received;                /* cpl holds the response */
	struct nvme_rdma_payload payload;
	struct axon_nvme_cmd *capsule;    /* in the region: SQE, then in-capsule data */
	void *bounce;                     /* with RDMA_DATA_BOUNCE */
	struct iovec xlated;              /* zero copy from a domain: what was translated */
	struct axon_nvme_cpl cpl;
	struct ibv_sge sge[2];
	struct ibv_send_wr send_wr;
	TAILQ_ENTRY(nvme_rdma_req) link;  /* free list or done list */
};

/* One posted receive for a response capsule. */
struct nvme_rdma_recv {
	struct nvme_rdma_wr wr;
	struct axon_nvme_cpl *cpl; /* in the region */
	struct ibv_sge sge;
	struct ibv_recv_wr recv_wr;
};

/* ---- qpairs and controllers -------------------------------------------------------------- */

/* The connection's progress through the RDMA CM. */
enum nvme_rdma_conn_phase {
	RDMA_CONN_IDLE = 0,    /* no CM id */
	RDMA_CONN_ADDR,        /* resolving the address */
	RDMA_CONN_ROUTE,       /* resolving the route */
	RDMA_CONN_CONNECT,     /* QP created, receives posted, connect request sent */
	RDMA_CONN_ESTABLISHED, /* capsules flow */
	RDMA_CONN_DEAD,        /* failed: nothing is posted any more */
};

struct nvme_rdma_ctrlr {
	struct sockaddr_storage dst;
	char desc[AXON_NVME_TRADDR_MAX_LEN + AXON_NVME_TRSVCID_MAX_LEN + 2]; /* addr:port */
};

struct nvme_rdma_qpair {
	struct axon_nvme_qpair qpair; /* first: lib/nvme's part */
	enum nvme_rdma_conn_phase phase;
	bool cm_connected;            /* rdma_disconnect still owed */
	struct rdma_event_channel *channel;
	struct rdma_cm_id *cm_id;
	struct ibv_cq *cq;
	struct axon_rdma_device *dev; /* a reference while connected */
	struct axon_memory_domain *dev_domain;
	uint64_t next_cm_check_ms;

	/* the registered region and its keys (from dev_domain) */
	void *region;
	size_t region_len;
	bool region_registered;
	uint32_t lkey;
	uint32_t rkey;

	/* command slots */
	uint32_t icd_alloc;  /* in-capsule bytes each capsule slot holds */
	uint32_t icd_len;    /* in-capsule bytes used on this connection */
	uint32_t num_reqs;
	uint32_t max_active; /* min(num_reqs, the controller's CRQSIZE) */
	uint32_t num_active;
	struct nvme_rdma_req *reqs;
	TAILQ_HEAD(, nvme_rdma_req) free_reqs;
	TAILQ_HEAD(, nvme_rdma_req) done_reqs;

	/* receives */
	uint32_t num_recvs;
	struct nvme_rdma_recv *recvs;

	/* bounce buffers: a stack of free ones */
	uint32_t num_bounce;
	uint32_t bounce_avail;
	void **bounce_free;

	/* the current poll */
	uint32_t completions;
	uint32_t max_completions;

	/* pulls and pushes in flight; destroy waits for them */
	uint32_t domain_ops;
	bool destroyed;
};

static inline struct nvme_rdma_qpair *nvme_rdma_qpair(struct axon_nvme_qpair *qpair)
{
	return AXON_CONTAINEROF(qpair, struct nvme_rdma_qpair, qpair);
}

/* Copies made to move data, and transfers made without one (for tests and stats). */
struct nvme_rdma_stats {
	uint64_t copies;     /* memcpy, pull or push through a bounce buffer or capsule */
	uint64_t copy_bytes;
	uint64_t zero_copy;  /* commands whose data the NIC moved from/to the caller's buffer */
};
extern struct nvme_rdma_stats g_nvme_rdma_stats;

/*
 * The data of a request. lib/nvme's requests carry no memory domain yet:
 * their buffers are process memory. Once struct axon_nvme_request has
 * memory_domain / memory_domain_ctx, they go into payload->domain here.
 */
static inline void nvme_rdma_req_payload(const struct axon_nvme_request *req,
					 struct nvme_rdma_payload *payload)
{
	payload->iov = req->iov;
	payload->iovcnt = req->iovcnt;
	payload->len = req->payload_size;
	payload->domain = NULL;
	payload->domain_ctx = NULL;
}

/* rdma.c */
/* The connection is unusable: stop posting; lib/nvme disconnects the qpair. */
void nvme_rdma_qpair_fail(struct nvme_rdma_qpair *rqpair, int rc);
/* Free a destroyed qpair once its last pull/push has called back. */
void nvme_rdma_qpair_free(struct nvme_rdma_qpair *rqpair);

/* rdma_io.c */
/* Point the slots and receives at their parts of the region. */
void nvme_rdma_qpair_layout(struct nvme_rdma_qpair *rqpair);
/* Post every receive buffer. Returns 0 or -errno. */
int nvme_rdma_post_recvs(struct nvme_rdma_qpair *rqpair);
/* Submit a command with its data described by payload. Returns 0, -EAGAIN, -errno. */
int nvme_rdma_submit_payload(struct nvme_rdma_qpair *rqpair, struct axon_nvme_request *req,
			     const struct nvme_rdma_payload *payload);
/* Poll the CQ and complete what is done. Returns completions or -errno. */
int32_t nvme_rdma_poll_cq(struct nvme_rdma_qpair *rqpair);
/* Complete every command the qpair holds (the QP is gone): "aborted, SQ deletion". */
void nvme_rdma_abort_reqs(struct nvme_rdma_qpair *rqpair);

#endif /* AXON_NVME_RDMA_INTERNAL_H */
