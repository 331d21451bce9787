/*
 * The NVMe-oF transport interface: what a transport (drivers/nvmf/tcp,
 * drivers/nvmf/rdma) implements and what lib/nvmf offers it.
 *
 * A transport is a `const struct axon_nvmf_transport_ops` registered at
 * program start with AXON_NVMF_TRANSPORT_REGISTER. nvmf_create_transport
 * creates one instance per transport type (ops->create). The transport then:
 *
 *  1. listens on the addresses lib/nvmf asks for (ops->listen, app thread) and
 *     accepts connections itself (a poller of its own on the app thread);
 *  2. for each new connection allocates a queue pair (its own structure, with
 *     struct axon_nvmf_qpair embedded), sets qpair->transport, and calls
 *     axon_nvmf_transport_new_qpair(). lib/nvmf picks a poll group and, on
 *     that group's thread, calls ops->poll_group_add(tgroup, qpair);
 *  3. polls its connections in ops->poll_group_poll(tgroup), called by the
 *     poll group's poller on the group's thread;
 *  4. for each command capsule, fills one struct axon_nvmf_request (embedded
 *     in its own request structure), gets data buffers, and, once the command's
 *     host-to-controller data is all in those buffers, calls
 *     axon_nvmf_request_exec(req);
 *  5. gets each request back in ops->req_complete(req), with req->rsp filled
 *     and, for controller-to-host commands, the data in req->iov; it sends the
 *     data and the response and frees the buffers and the request;
 *  6. when a connection dies, or on a fatal protocol error, calls
 *     axon_nvmf_qpair_disconnect(qpair). lib/nvmf (which also disconnects on
 *     keep-alive timeout, controller reset and subsystem removal) waits for
 *     every request it holds to come back through req_complete, detaches the
 *     queue pair from its controller, then calls ops->poll_group_remove and
 *     ops->qpair_fini: the transport closes the connection and frees the queue
 *     pair and every request it still holds.
 *
 * Request ownership. A request belongs to the transport except between
 * axon_nvmf_request_exec() and ops->req_complete(). lib/nvmf never frees a
 * request or a queue pair; it calls req_complete for every request it was
 * given, even on a dying queue pair, exactly once.
 *
 * Read path: the transport gets buffers for req->length bytes
 * (axon_nvmf_request_get_buffers) before exec; the bdev reads straight into
 * req->iov; req_complete then sends them (NVMe/TCP: C2HData PDUs, with the
 * SUCCESS flag when the CQE is plain success and c2h_success is on, else
 * followed by a response capsule; RDMA: RDMA WRITE then SEND).
 * Write path: the data must be in req->iov before exec. Small writes come in
 * the capsule (the transport points req->iov at the in-capsule data); larger
 * ones are fetched by the transport in its own request states (NVMe/TCP:
 * R2T / H2CData; RDMA: RDMA READ). lib/nvmf never asks for data mid-command.
 *
 * Data buffers come from a pool that lib/nvmf creates for each transport
 * (num_shared_buffers buffers of io_unit_size bytes, DMA-safe, 4 KiB aligned)
 * with a cache of buf_cache_size buffers per transport poll group, so that
 * the common path never touches the shared pool.
 *
 * Threads. ops called "app thread" run on the thread of the target (the app
 * thread); the poll group ops, req_complete and qpair_fini run on the thread
 * of the poll group concerned; the transport calls lib/nvmf's functions on
 * the same threads (axon_nvmf_transport_new_qpair on the app thread, the
 * request and queue pair functions on the queue pair's poll group thread).
 * Nothing here locks or allocates on the I/O path.
 */
#ifndef AXON_NVMF_TRANSPORT_H
#define AXON_NVMF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <jansson.h>

#include "axon/bdev.h"
#include "axon/nvme_spec.h"
#include "axon/nvmf.h"
#include "axon/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct axon_memory_domain;
struct axon_mempool;
struct axon_nvmf_transport_poll_group;

/** Most data buffers (iovecs) one request can hold. max_io_size / io_unit_size
 *  must not exceed it (checked at transport creation). */
#define AXON_NVMF_REQ_MAX_IOVS 64

/* ---- options ---------------------------------------------------------------- */

/**
 * Options every transport shares (nvmf_create_transport's common parameters,
 * SPDK names). ops->opts_init gives the transport's defaults; the RPC
 * overrides what the user passed; lib/nvmf checks them (io_unit_size <=
 * max_io_size, max_io_size / io_unit_size <= AXON_NVMF_REQ_MAX_IOVS, depths
 * >= 2, num_shared_buffers >= buf_cache_size * poll groups ...) before create.
 */
struct axon_nvmf_transport_opts {
	uint16_t max_queue_depth;         /* I/O queue entries */
	uint16_t max_qpairs_per_ctrlr;    /* admin queue included (max_io_qpairs_per_ctrlr + 1) */
	uint32_t in_capsule_data_size;    /* bytes of data a command capsule may carry */
	uint32_t max_io_size;             /* largest data transfer of one command (MDTS) */
	uint32_t io_unit_size;            /* size of one pool data buffer */
	uint32_t max_aq_depth;            /* admin queue entries */
	uint32_t num_shared_buffers;      /* buffers in the transport's pool */
	uint32_t buf_cache_size;          /* buffers each poll group keeps for itself */
	uint32_t abort_timeout_sec;       /* how long an Abort may wait (informational) */
	uint32_t acceptor_poll_rate;      /* us between accept polls (0: every poll) */
	bool dif_insert_or_strip;         /* not supported: must stay false */
	bool zcopy;                       /* not supported: must stay false */
};

/* ---- transport instance ------------------------------------------------------- */

/**
 * Base of a transport instance. The transport allocates its own structure with
 * this embedded (AXON_CONTAINEROF to get back), returns it from ops->create,
 * and frees it in ops->destroy. Members marked lib/nvmf are set after create
 * returns and must not be changed by the transport.
 */
struct axon_nvmf_transport {
	const struct axon_nvmf_transport_ops *ops; /* lib/nvmf */
	struct axon_nvmf_transport_opts opts;     /* lib/nvmf: the options it was created with */
	struct axon_nvmf_tgt *tgt;                 /* lib/nvmf */
	struct axon_mempool *data_buf_pool;        /* lib/nvmf: see axon_nvmf_request_get_buffers */
	void *specific_opts;                       /* lib/nvmf: decoded specific options (see ops) */
	TAILQ_ENTRY(axon_nvmf_transport) link;     /* lib/nvmf */
};

/** A cached pool buffer: the link lives in the free buffer itself. */
struct axon_nvmf_transport_pg_cache_buf {
	STAILQ_ENTRY(axon_nvmf_transport_pg_cache_buf) link;
};

/**
 * Base of a transport poll group: one per (transport, poll group). The
 * transport embeds it in its own structure (one sock group / CQ per thread).
 */
struct axon_nvmf_transport_poll_group {
	struct axon_nvmf_transport *transport;   /* lib/nvmf */
	struct axon_nvmf_poll_group *group;      /* lib/nvmf */
	/* lib/nvmf: the per-group buffer cache */
	STAILQ_HEAD(, axon_nvmf_transport_pg_cache_buf) buf_cache;
	uint32_t buf_cache_count;
	uint32_t buf_cache_size;
	TAILQ_ENTRY(axon_nvmf_transport_poll_group) link; /* lib/nvmf */
};

/* ---- queue pairs --------------------------------------------------------------- */

/** Life of a queue pair as lib/nvmf sees it. */
enum axon_nvmf_qpair_state {
	AXON_NVMF_QPAIR_UNINITIALIZED = 0, /* accepted, not yet on a poll group */
	AXON_NVMF_QPAIR_CONNECTING,        /* on a poll group, waiting for Connect */
	AXON_NVMF_QPAIR_ENABLED,           /* connected to a controller */
	AXON_NVMF_QPAIR_DEACTIVATING,      /* disconnecting: draining, then fini */
	AXON_NVMF_QPAIR_ERROR,             /* fini called; the transport frees it */
};

typedef void (*axon_nvmf_qpair_fini_cb)(void *cb_arg);

/**
 * Base of a queue pair. The transport embeds it in its connection structure
 * and sets transport (and nothing else) before axon_nvmf_transport_new_qpair();
 * the rest belongs to lib/nvmf. Read-only for the transport: qid, sq_size,
 * ctrlr (NULL until Connect succeeded), state, group, tgroup.
 */
struct axon_nvmf_qpair {
	struct axon_nvmf_transport *transport;     /* transport, before new_qpair */

	enum axon_nvmf_qpair_state state;
	uint16_t qid;
	uint16_t sq_size;       /* entries, from Connect's sqsize + 1 */
	uint16_t sq_head;       /* reported in every CQE's sqhd */
	bool sq_flow_control;   /* false when the host disabled it at Connect */
	struct axon_nvmf_ctrlr *ctrlr;
	struct axon_nvmf_poll_group *group;
	struct axon_nvmf_transport_poll_group *tgroup;
	/* Requests between exec and req_complete. */
	uint32_t outstanding;
	/* First half of a fused pair waiting for its second half. */
	struct axon_nvmf_request *first_fused;
	/* Disconnect: who to tell when the queue pair is gone. */
	bool disconnect_started;
	bool connect_pending;
	void (*disconnect_cb)(void *cb_arg);
	void *disconnect_cb_arg;
	TAILQ_ENTRY(axon_nvmf_qpair) link;         /* in the poll group's list */
	TAILQ_ENTRY(axon_nvmf_qpair) ctrlr_link;   /* in the controller's list (its thread) */
};

/* ---- requests ----------------------------------------------------------------------- */

/**
 * lib/nvmf's part of a request's life (the transport keeps its own states for
 * buffers and data transfer around these).
 */
enum axon_nvmf_req_state {
	AXON_NVMF_REQ_STATE_TRANSPORT = 0,  /* owned by the transport */
	AXON_NVMF_REQ_STATE_NEW,            /* given to axon_nvmf_request_exec */
	AXON_NVMF_REQ_STATE_HELD,           /* held back: its subsystem is paused on this group */
	AXON_NVMF_REQ_STATE_FUSED_WAIT,     /* first half of a fused pair, waiting for the second */
	AXON_NVMF_REQ_STATE_EXECUTING,      /* in a handler (bdev I/O, controller thread) */
	AXON_NVMF_REQ_STATE_BDEV_WAIT,      /* bdev had no bdev_io: waiting for one */
	AXON_NVMF_REQ_STATE_AER_PARKED,     /* an Asynchronous Event Request waiting for an event */
	AXON_NVMF_REQ_STATE_COMPLETING,     /* response built; going back to the transport */
	AXON_NVMF_REQ_STATE_COUNT
};

/**
 * One command. The transport embeds it in its own request structure (its
 * private area) and fills the members marked "transport" before
 * axon_nvmf_request_exec(). lib/nvmf fills rsp; the rest is lib/nvmf's.
 */
struct axon_nvmf_request {
	/* transport: the queue pair the command arrived on */
	struct axon_nvmf_qpair *qpair;
	/* transport: the 64-byte command (typically inside the received PDU/buffer;
	 * must stay valid until req_complete) */
	union axon_nvmf_sqe *cmd;
	/* transport: where lib/nvmf writes the 16-byte response (cid, sqhd, sqid,
	 * status, cdw0/cdw1 are all filled by lib/nvmf) */
	union axon_nvmf_cqe *rsp;
	/* transport: bytes of data the command carries, from its SGL (0: none) */
	uint32_t length;
	/* transport: direction of that data (axon_nvmf_sqe_get_data_xfer(cmd)) */
	enum axon_nvme_data_xfer xfer;
	/* transport: the data, length bytes in all (set by get_buffers, or
	 * pointing at in-capsule data); for a write already filled */
	struct iovec iov[AXON_NVMF_REQ_MAX_IOVS];
	uint32_t iovcnt;
	/* transport, optional: the domain of the data buffers (NULL: local
	 * memory) and its context, passed to the bdev layer untouched */
	struct axon_memory_domain *memory_domain;
	void *memory_domain_ctx;

	/* lib/nvmf: pool buffers behind iov (get_buffers / free_buffers) */
	void *buffers[AXON_NVMF_REQ_MAX_IOVS];
	uint32_t num_buffers;

	/* lib/nvmf private from here on. */
	enum axon_nvmf_req_state state;
	uint32_t subsys_id;                      /* whose pause counter this request holds */
	bool counted;                            /* holds a subsystem pause count */
	struct axon_nvmf_request *fused_partner; /* the other half of a fused pair */
	struct axon_bdev_io_wait_entry bdev_wait;
	struct axon_io_channel *bdev_ch;
	struct axon_bdev_desc *bdev_desc;
	uint32_t sub_outstanding;                /* bdev I/Os of a multi-range command */
	uint16_t sub_status;                     /* first failure among them */
	TAILQ_ENTRY(axon_nvmf_request) link;      /* held / completed lists */
};

/* ---- the ops table ---------------------------------------------------------------- */

/** Completion of ops->destroy. */
typedef void (*axon_nvmf_transport_destroy_done_cb)(void *cb_arg);

struct axon_nvmf_transport_ops {
	/** Transport name as users type it (compared caselessly): "TCP", "RDMA".
	 *  Required. */
	const char *name;

	/** enum nvmf_trtype: NVMF_TRTYPE_TCP, NVMF_TRTYPE_RDMA. Required. */
	uint8_t type;

	/** Fill opts with this transport's defaults. Required. */
	void (*opts_init)(struct axon_nvmf_transport_opts *opts);

	/**
	 * Transport-specific parameters of nvmf_create_transport (e.g. TCP's
	 * c2h_success, sock_priority). nvmf_create_transport decodes the common
	 * parameters itself and everything else with this table (rpc.h decoder:
	 * unknown keys and bad values are rejected naming the parameter) into a
	 * zeroed buffer of specific_opts_size bytes, after specific_opts_init
	 * filled in defaults. That buffer is passed to create and kept in
	 * transport->specific_opts; lib/nvmf frees it (axon_rpc_free_params,
	 * then free) right after calling destroy, so create must copy what the
	 * instance needs. All three optional (no specific parameters).
	 */
	const struct axon_rpc_param *specific_params;
	size_t num_specific_params;
	size_t specific_opts_size;
	/** Defaults of the specific options (buffer zeroed first). Optional. */
	void (*specific_opts_init)(void *specific_opts);

	/**
	 * Create an instance (app thread). opts are checked already;
	 * specific_opts is the decoded buffer above (NULL if the transport has
	 * no specific parameters). Returns the embedded base, or NULL (log why).
	 * Required.
	 */
	struct axon_nvmf_transport *(*create)(const struct axon_nvmf_transport_opts *opts,
					      const void *specific_opts);

	/**
	 * Add the specific options to obj (a JSON object already holding the
	 * common ones), with the same names create's table decodes, for
	 * nvmf_get_transports and save_config. Optional.
	 */
	void (*dump_opts)(struct axon_nvmf_transport *transport, json_t *obj);

	/**
	 * Destroy the instance (app thread) after every poll group of it was
	 * destroyed and every listen stopped: free it, then cb_fn(cb_arg)
	 * (possibly later). Required.
	 */
	void (*destroy)(struct axon_nvmf_transport *transport,
			axon_nvmf_transport_destroy_done_cb cb_fn, void *cb_arg);

	/**
	 * Start listening on trid (app thread). lib/nvmf calls it once per
	 * address however many subsystems use it. Returns 0 or a negative errno
	 * (-EADDRINUSE, -EINVAL for an address the transport cannot parse ...).
	 * Required.
	 */
	int (*listen)(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid);

	/**
	 * Stop listening on trid (app thread). Connections accepted through it
	 * stay. Required.
	 */
	void (*stop_listen)(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid);

	/**
	 * Fill the transport-specific parts of a discovery log entry for a
	 * listener (treq, tsas; lib/nvmf fills trtype, adrfam, subtype, portid,
	 * cntlid, asqsz, trsvcid, traddr, subnqn). Optional (treq "not
	 * specified", tsas zero).
	 */
	void (*listener_discover)(struct axon_nvmf_transport *transport,
				  const struct axon_nvmf_trid *trid,
				  struct nvmf_disc_log_entry *entry);

	/**
	 * Create this transport's part of a poll group, on the group's thread.
	 * Register wake fds (axon_thread_add_wake_fd) here so the thread wakes
	 * from adaptive sleep. Returns the embedded base or NULL. Required.
	 */
	struct axon_nvmf_transport_poll_group *(*poll_group_create)(
		struct axon_nvmf_transport *transport, struct axon_nvmf_poll_group *group);

	/**
	 * Pick the poll group for a new queue pair (app thread), e.g. to keep
	 * the queue pairs of one NIC queue together. NULL or absent: lib/nvmf
	 * assigns round-robin. Optional.
	 */
	struct axon_nvmf_poll_group *(*get_optimal_poll_group)(struct axon_nvmf_qpair *qpair);

	/** Destroy a poll group part, on its thread, once no queue pair is in it. Required. */
	void (*poll_group_destroy)(struct axon_nvmf_transport_poll_group *tgroup);

	/**
	 * Take qpair into tgroup, on tgroup's thread (e.g. add its socket to the
	 * sock group). Returns 0, or a negative errno: lib/nvmf then calls
	 * qpair_fini. Required.
	 */
	int (*poll_group_add)(struct axon_nvmf_transport_poll_group *tgroup,
			      struct axon_nvmf_qpair *qpair);

	/** Take qpair out of tgroup (its thread), before qpair_fini. Optional. */
	int (*poll_group_remove)(struct axon_nvmf_transport_poll_group *tgroup,
				 struct axon_nvmf_qpair *qpair);

	/**
	 * Do a bounded amount of work for every queue pair of tgroup: receive,
	 * execute, send. Returns the number of things done (> 0 means busy), or
	 * a negative errno. Required.
	 */
	int (*poll_group_poll)(struct axon_nvmf_transport_poll_group *tgroup);

	/**
	 * Take back a request lib/nvmf finished (its thread): req->rsp is
	 * complete; for a controller-to-host command with success status the
	 * data is in req->iov (req->length bytes; for a shorter result, e.g. a
	 * log page, req->length was lowered accordingly). Send, then free the
	 * buffers (axon_nvmf_request_free_buffers) and the request. On a queue
	 * pair whose connection is gone, just free. Returns 0 or a negative
	 * errno (logged; the request is still the transport's). Required.
	 */
	int (*req_complete)(struct axon_nvmf_request *req);

	/**
	 * Close the connection and free qpair and every request the transport
	 * still holds for it (its thread). lib/nvmf holds none of them. Call
	 * cb_fn(cb_arg) once done (possibly later); after that lib/nvmf never
	 * touches qpair. Required.
	 */
	void (*qpair_fini)(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb_fn,
			   void *cb_arg);

	/**
	 * The peer's address, our local address, and the listener it came
	 * through (for the listener check at Connect, discovery filtering and
	 * nvmf_subsystem_get_qpairs). Return 0 or a negative errno. Required:
	 * qpair_get_listen_trid; the other two optional.
	 */
	int (*qpair_get_peer_trid)(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid);
	int (*qpair_get_local_trid)(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid);
	int (*qpair_get_listen_trid)(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid);

	/**
	 * Abort the command with command id cid, which the transport holds
	 * (e.g. waiting for data or a buffer; lib/nvmf found it in none of its
	 * own states), on qpair's thread: if it can, it completes that request
	 * with AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ) itself and
	 * returns true; false if it cannot (the Abort then reports "not
	 * aborted"). Optional.
	 */
	bool (*qpair_abort_request)(struct axon_nvmf_qpair *qpair, uint16_t cid);

	/** Add this group's statistics to obj (nvmf_get_stats, its thread). Optional. */
	void (*poll_group_dump_stat)(struct axon_nvmf_transport_poll_group *tgroup, json_t *obj);
};

/**
 * Register a transport type at program start. Duplicate names abort start-up
 * with a message. Use the macro right under the ops table.
 */
void axon_nvmf_transport_register(const struct axon_nvmf_transport_ops *ops);
#define AXON_NVMF_TRANSPORT_REGISTER(NAME, OPS)                                              \
	__attribute__((constructor)) static void axon_nvmf_transport_register_##NAME(void) \
	{                                                                                  \
		axon_nvmf_transport_register(OPS);                                         \
	}

/** The registered ops whose name is name (caseless), or NULL. Any thread. */
const struct axon_nvmf_transport_ops *axon_nvmf_transport_ops_find(const char *name);

/* ---- what lib/nvmf offers the transport ------------------------------------------ */

/**
 * Hand a new connection to the target (app thread). qpair->transport must be
 * set. lib/nvmf picks a poll group and calls ops->poll_group_add there (or
 * ops->qpair_fini if that fails or the target is shutting down). Always
 * succeeds from the caller's point of view.
 */
void axon_nvmf_transport_new_qpair(struct axon_nvmf_transport *transport,
				   struct axon_nvmf_qpair *qpair);

/**
 * Execute a command whose host-to-controller data (if any) is in req->iov
 * (qpair's thread). req->qpair, cmd, rsp, length, xfer, iov, iovcnt must be
 * set. ops->req_complete(req) runs later, never before this returns.
 */
void axon_nvmf_request_exec(struct axon_nvmf_request *req);

/**
 * Fill req->iov / req->iovcnt with pool buffers covering length bytes, in
 * io_unit_size pieces, from tgroup's cache first and then the transport's
 * shared pool. Returns 0, -EINVAL (length 0 or more than max_io_size), or
 * -ENOMEM: no buffer now (nothing taken); retry later (a completion frees
 * some). The transport sets req->length itself.
 */
int axon_nvmf_request_get_buffers(struct axon_nvmf_request *req,
				  struct axon_nvmf_transport_poll_group *tgroup,
				  struct axon_nvmf_transport *transport, uint32_t length);

/** Give req's pool buffers back (to tgroup's cache while it has room) and clear req->iov. */
void axon_nvmf_request_free_buffers(struct axon_nvmf_request *req,
				    struct axon_nvmf_transport_poll_group *tgroup,
				    struct axon_nvmf_transport *transport);

/**
 * Disconnect qpair (its thread): no new command is executed (exec completes
 * them with Command Aborted due to SQ Deletion), requests lib/nvmf holds are
 * finished, the controller is told (an admin queue pair takes its controller
 * and every I/O queue pair of it down), then poll_group_remove and
 * qpair_fini run. cb(cb_arg) (may be NULL) runs on this thread after
 * qpair_fini's completion. Calling it again while it runs only adds nothing
 * (cb of the later call is ignored) and returns -EINPROGRESS; else 0.
 */
int axon_nvmf_qpair_disconnect(struct axon_nvmf_qpair *qpair, void (*cb)(void *cb_arg),
			       void *cb_arg);

/** Fill rsp of req with status (AXON_NVME_STATUS form) and complete it:
 *  for a transport that must fail a command before exec (e.g. an SGL it
 *  cannot serve). Counts like exec; req_complete runs later. */
void axon_nvmf_request_complete_with_status(struct axon_nvmf_request *req, uint16_t status);

/** The poll group's thread and name ("nvmf_tgt_poll_group_0"). Any thread. */
struct axon_thread *axon_nvmf_poll_group_get_thread(const struct axon_nvmf_poll_group *group);
const char *axon_nvmf_poll_group_get_name(const struct axon_nvmf_poll_group *group);

#ifdef __cplusplus
}
#endif
#endif /* AXON_NVMF_TRANSPORT_H */
