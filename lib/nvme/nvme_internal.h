/*
 * lib/nvme private types: the controller, namespaces, poll groups, and the
 * functions the module's files share.
 */
#ifndef AXON_NVME_INTERNAL_H
#define AXON_NVME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "axon/log.h"
#include "axon/nvme.h"
#include "axon/util.h"

/* Defaults of struct axon_nvme_ctrlr_opts. */
#define NVME_DEFAULT_IO_QUEUE_SIZE 128
#define NVME_DEFAULT_ADMIN_QUEUE_SIZE 32
#define NVME_DEFAULT_NUM_IO_QUEUES 64
#define NVME_DEFAULT_KATO_MS 10000
#define NVME_DEFAULT_ADMIN_TIMEOUT_MS 10000
#define NVME_DEFAULT_RECONNECT_DELAY_S 2
#define NVME_DEFAULT_CTRLR_LOSS_TIMEOUT_S 30
/* Minimum and maximum queue entries lib/nvme accepts. */
#define NVME_MIN_QUEUE_SIZE 2
#define NVME_MAX_QUEUE_SIZE 65536
/* Outstanding Asynchronous Event Requests we keep posted. */
#define NVME_MAX_AERS 4
/* CSTS is re-read at most this often while waiting for RDY. */
#define NVME_READY_POLL_INTERVAL_US 1000
/* A qpair polled without a caller's max completes at most this many per call. */
#define NVME_DEFAULT_COMPLETION_BUDGET 256
/* Entries of one Identify active namespace list. */
#define NVME_NS_LIST_ENTRIES 1024

/* Status codes we synthesise (generic command status, SCT 0). */
#define NVME_SC_ABORTED_SQ_DELETION_CODE 0x08
#define NVME_SC_TRANSIENT_TRANSPORT_CODE 0x22
#define NVME_SC_ABORTED_BY_REQUEST_CODE 0x07

struct axon_nvme_ns {
	struct axon_nvme_ctrlr *ctrlr;
	uint32_t id;
	uint32_t sector_size;
	uint32_t md_size;
	uint64_t num_sectors;
	struct nvme_id_ns data;
	TAILQ_ENTRY(axon_nvme_ns) link; /* ctrlr->active_ns, NSID order */
};

/* The reset / reconnect life cycle, beside the init state machine. */
enum nvme_reset_state {
	NVME_RESET_NONE = 0,     /* not resetting */
	NVME_RESET_DISCONNECT,   /* tear the queues down */
	NVME_RESET_WAIT_DELAY,   /* backoff before the next attempt */
	NVME_RESET_REINIT,       /* the init state machine runs */
};

/* Progress of a namespace scan (Identify active list, then each namespace). */
enum nvme_scan_phase {
	NVME_SCAN_FAILED = -1,
	NVME_SCAN_LIST = 0,       /* reading the active namespace list */
	NVME_SCAN_NAMESPACES = 1, /* identifying the listed namespaces */
	NVME_SCAN_DONE = 2,       /* the namespaces are up to date */
};

/* What a register access step is waiting for (fabrics: a Property Get/Set). */
struct nvme_reg_op {
	bool outstanding;
	bool done;
	bool failed;
	uint64_t value;
};

struct axon_nvme_ctrlr {
	struct axon_nvme_trid trid;
	struct axon_nvme_ctrlr_opts opts;
	const struct axon_nvme_transport_ops *ops;
	void *tctx;
	struct axon_nvme_qpair *adminq;

	/* init state machine */
	enum axon_nvme_ctrlr_state state;
	enum axon_nvme_ctrlr_state failed_step;
	uint64_t state_deadline_us; /* UINT64_MAX: no timeout */
	uint64_t next_poll_us;      /* CSTS re-read time while waiting for RDY */
	bool step_waiting;          /* the current step has a command outstanding */
	bool step_done;             /* ... and it completed successfully */
	int init_rc;
	struct nvme_reg_op reg;

	/* what it learned */
	union axon_nvme_cap cap;
	union axon_nvme_vs vs;
	union axon_nvme_cc cc;
	uint16_t cntlid;
	struct nvme_id_ctrl cdata;
	uint32_t num_io_queues;
	uint32_t max_xfer_size;
	bool is_discovery;
	uint32_t *ns_list;       /* active NSIDs being read (NVME_NS_LIST_ENTRIES) */
	uint32_t ns_list_count;
	uint32_t ns_list_next;   /* index of the next namespace to identify */
	void *ns_data_buf; /* identify data (NVME_IDENTIFY_DATA_SIZE) */
	TAILQ_HEAD(, axon_nvme_ns) active_ns;
	uint32_t num_active_ns;
	enum nvme_scan_phase scan_phase;
	void *changed_ns_log; /* Get Log Page buffer while re-arming the NS event */
	bool ns_rescan_running;
	bool ns_rescan_pending;

	/* I/O qpairs: threads allocate and free theirs concurrently, so the
	 * list and the id map are under this lock (never on the I/O path). */
	pthread_mutex_t qpair_lock;
	TAILQ_HEAD(, axon_nvme_qpair) io_qpairs;
	uint64_t *qid_map; /* bit set: qid in use */
	uint32_t max_qid;

	/* admin life */
	uint64_t next_keep_alive_us;
	bool keep_alive_outstanding;
	uint32_t num_aers;
	struct axon_nvme_cpl aer_cpl[NVME_MAX_AERS];
	axon_nvme_aer_cb aer_cb;
	void *aer_cb_arg;
	axon_nvme_timeout_cb timeout_cb;
	void *timeout_cb_arg;

	/* reset */
	enum nvme_reset_state reset_state;
	uint64_t reset_start_us;
	uint64_t reconnect_at_us;
	bool failed;
	bool fast_io_fail;
	bool detaching;
};

struct axon_nvme_poll_group {
	void *ctx;
	TAILQ_HEAD(, axon_nvme_transport_poll_group) tgroups;
	TAILQ_HEAD(, axon_nvme_qpair) qpairs; /* every qpair of the group */
};

/* nvme.c: clock and host identity (replaced by unit tests). */
uint64_t nvme_now_us(void);
/* Fill opts->hostnqn / hostid when empty. Returns 0 or -errno. */
int nvme_fill_host_identity(struct axon_nvme_ctrlr_opts *opts);

/* ctrlr.c */
int nvme_ctrlr_start_init(struct axon_nvme_ctrlr *ctrlr);
int nvme_ctrlr_init_poll(struct axon_nvme_ctrlr *ctrlr);
void nvme_ctrlr_set_state(struct axon_nvme_ctrlr *ctrlr, enum axon_nvme_ctrlr_state state,
			  uint64_t timeout_us);
void nvme_ctrlr_fail_io(struct axon_nvme_ctrlr *ctrlr);
/* Free every namespace object. */
void nvme_ctrlr_free_namespaces(struct axon_nvme_ctrlr *ctrlr);
void *nvme_alloc_data(struct axon_nvme_ctrlr *ctrlr, size_t size);
void nvme_free_data(struct axon_nvme_ctrlr *ctrlr, void *buf);

/* ctrlr_cmd.c */
int nvme_ctrlr_submit_admin(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
			    void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg);
int nvme_ctrlr_post_aers(struct axon_nvme_ctrlr *ctrlr);
void nvme_ctrlr_keep_alive_poll(struct axon_nvme_ctrlr *ctrlr);
/* Start reading the active namespaces again (after a namespace change). */
void nvme_ctrlr_rescan_namespaces(struct axon_nvme_ctrlr *ctrlr);
int nvme_ns_update(struct axon_nvme_ctrlr *ctrlr, uint32_t nsid, const struct nvme_id_ns *data);
void nvme_ns_remove_absent(struct axon_nvme_ctrlr *ctrlr, const uint32_t *list, uint32_t count);

/* qpair.c */
int nvme_qpair_init(struct axon_nvme_qpair *qpair, struct axon_nvme_ctrlr *ctrlr, uint16_t id,
		    uint32_t depth, uint32_t num_reqs);
void nvme_qpair_fini(struct axon_nvme_qpair *qpair);
/* Build and submit one request. Returns 0 or -errno. */
int nvme_qpair_submit_cmd(struct axon_nvme_qpair *qpair, const struct axon_nvme_cmd *cmd,
			  const struct iovec *iov, int iovcnt, void *buf, uint32_t len,
			  axon_nvme_cmd_cb cb, void *cb_arg, bool internal);
/* Complete every outstanding and queued request with status. */
void nvme_qpair_abort_all(struct axon_nvme_qpair *qpair, uint16_t status);
/* Start (or restart) connecting: transport connect, then fabrics Connect. */
int nvme_qpair_connect_start(struct axon_nvme_qpair *qpair);
/*
 * Drive a connecting qpair one step. Returns 0 once ENABLED, -EAGAIN while
 * connecting, or the failure.
 */
int nvme_qpair_connect_poll(struct axon_nvme_qpair *qpair);
void nvme_qpair_check_timeouts(struct axon_nvme_qpair *qpair);
bool nvme_qpair_is_admin(const struct axon_nvme_qpair *qpair);
/*
 * After a transport group polled qpair: resubmit queued commands, check
 * timeouts, handle a failure. Returns 0 or -ENXIO (disconnected).
 */
int32_t nvme_qpair_after_poll(struct axon_nvme_qpair *qpair);
/* Process completions without the ENABLED check (used while connecting). */
int32_t nvme_qpair_poll_transport(struct axon_nvme_qpair *qpair, uint32_t max);

/* fabrics.c */
int nvme_fabric_qpair_connect(struct axon_nvme_qpair *qpair);
int nvme_fabric_prop_get(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			 axon_nvme_cmd_cb cb, void *cb_arg);
int nvme_fabric_prop_set(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			 uint64_t value, axon_nvme_cmd_cb cb, void *cb_arg);

/* reset.c */
void nvme_ctrlr_reset_poll(struct axon_nvme_ctrlr *ctrlr);
/* The admin connection failed: start reconnecting (or fail the controller). */
void nvme_ctrlr_connection_lost(struct axon_nvme_ctrlr *ctrlr);

/* status helpers */
static inline void nvme_cpl_init(struct axon_nvme_cpl *cpl, uint16_t cid, uint16_t sqid,
				 uint16_t status)
{
	memset(cpl, 0, sizeof(*cpl));
	cpl->cid = cid;
	cpl->sqid = sqid;
	axon_nvme_cpl_set_status(cpl, status);
}

#endif /* AXON_NVME_INTERNAL_H */
