/*
 * Axon userspace NVMe host driver: transport IDs, controllers, namespaces,
 * admin commands, I/O queue pairs, poll groups and discovery.
 *
 * Threading. A controller and its admin queue belong to the thread that
 * connected it: every axon_nvme_ctrlr_* call (admin commands, admin
 * completions, reset, detach) happens there. An I/O queue pair belongs to
 * the thread that allocated it; submission and completion on it happen only
 * there. Nothing takes a lock.
 *
 * Progress. Nothing happens behind the caller's back: admin commands, keep
 * alive, asynchronous events, timeouts and resets advance in
 * axon_nvme_ctrlr_process_admin_completions(); I/O in
 * axon_nvme_qpair_process_completions() or a poll group's poll. Callbacks
 * run from those calls only, never from a submission function.
 *
 * Status. Functions return 0 or a negative errno. An NVMe completion status
 * travels separately, as the CQE (struct axon_nvme_cpl from nvme_spec.h)
 * handed to the command's callback.
 *
 * The second half of this header is the interface for transports
 * (drivers/nvme/<name>): they fill a struct axon_nvme_transport_ops and
 * register it; lib/nvme never names a transport.
 */
#ifndef AXON_NVME_H
#define AXON_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include <nvme/types.h>

#include "axon/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Transport IDs                                                            */
/* ======================================================================== */

enum axon_nvme_trtype {
	AXON_NVME_TRTYPE_NONE = 0,
	AXON_NVME_TRTYPE_PCIE,
	AXON_NVME_TRTYPE_TCP,
	AXON_NVME_TRTYPE_RDMA,
};

/* Values of the NVMe-oF ADRFAM field (as in discovery log entries). */
enum axon_nvme_adrfam {
	AXON_NVME_ADRFAM_NONE = 0,
	AXON_NVME_ADRFAM_IPV4 = 1,
	AXON_NVME_ADRFAM_IPV6 = 2,
	AXON_NVME_ADRFAM_IB = 3,
	AXON_NVME_ADRFAM_FC = 4,
	AXON_NVME_ADRFAM_INTRA_HOST = 254,
};

#define AXON_NVME_TRADDR_MAX_LEN 256
#define AXON_NVME_TRSVCID_MAX_LEN 32
#define AXON_NVME_TRSTRING_MAX_LEN 32
/** Buffer size that holds any NQN with its NUL. */
#define AXON_NVME_NQN_BUF_LEN (AXON_NVMF_NQN_MAX_LEN + 1)
/** The well-known NQN of discovery controllers. */
#define AXON_NVME_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
/** Default NVMe-oF port. */
#define AXON_NVME_DEFAULT_TRSVCID "4420"

/** Where a controller is: what users type as "trtype:TCP traddr:... ...". */
struct axon_nvme_trid {
	enum axon_nvme_trtype trtype;
	/** The transport's registered name ("TCP", "PCIe", "RDMA"). */
	char trstring[AXON_NVME_TRSTRING_MAX_LEN + 1];
	enum axon_nvme_adrfam adrfam;
	/** IP address, host name, or PCI address (0000:00:04.0). */
	char traddr[AXON_NVME_TRADDR_MAX_LEN + 1];
	/** Port; "" means AXON_NVME_DEFAULT_TRSVCID on fabrics. */
	char trsvcid[AXON_NVME_TRSVCID_MAX_LEN + 1];
	/** Subsystem NQN; "" means the discovery NQN on fabrics. */
	char subnqn[AXON_NVME_NQN_BUF_LEN];
	/** Optional overrides of the controller options' host NQN / host ID. */
	char hostnqn[AXON_NVME_NQN_BUF_LEN];
	char hostid[37]; /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
	/** Optional namespace selector (app/perf "ns:N"); 0 = every namespace. */
	uint32_t nsid;
};

/**
 * Parse a transport ID from "key:value key:value ..." (pairs separated by
 * white space; key and value by ':' or '='). Keys, case-insensitive:
 *   trtype   PCIe | TCP | RDMA (any case)            required
 *   adrfam   IPv4 | IPv6 | IB | FC | intra_host (any case)
 *   traddr   address (a PCI address keeps its colons)  required
 *   trsvcid  port / service id
 *   subnqn   subsystem NQN (checked: "nqn." prefix, <= 223 bytes)
 *   hostnqn  host NQN override
 *   hostid   host ID override (a UUID)
 *   ns       namespace id (>= 1)
 * A key given twice is an error. For TCP and RDMA, adrfam defaults to IPv4
 * (IPv6 if traddr contains ':'), and trsvcid to 4420 when omitted.
 * errbuf (may be NULL) receives a message naming the bad key; when NULL the
 * message is logged instead.
 * Returns 0, or -EINVAL (syntax, an unknown key, a bad value, a missing
 * trtype or traddr, a duplicate key); *trid is unspecified on error.
 */
int axon_nvme_trid_parse(struct axon_nvme_trid *trid, const char *str, char *errbuf,
			 size_t errlen);

/** "trtype:TCP adrfam:IPv4 traddr:... trsvcid:... subnqn:..." Returns its length or -ENOSPC. */
int axon_nvme_trid_fmt(const struct axon_nvme_trid *trid, char *buf, size_t len);

/**
 * Parse a transport type name, case-insensitive: "PCIe", "TCP", "RDMA".
 * Returns 0 or -EINVAL.
 */
int axon_nvme_trtype_parse(const char *str, enum axon_nvme_trtype *trtype);
/** "PCIe", "TCP", "RDMA", or "none". */
const char *axon_nvme_trtype_str(enum axon_nvme_trtype trtype);
/** Parse "IPv4", "IPv6", "IB", "FC", "intra_host" (any case). Returns 0 or -EINVAL. */
int axon_nvme_adrfam_parse(const char *str, enum axon_nvme_adrfam *adrfam);
const char *axon_nvme_adrfam_str(enum axon_nvme_adrfam adrfam);

/** Fill a trid from a discovery log entry (for connecting to what it lists). */
void axon_nvme_trid_from_disc_entry(struct axon_nvme_trid *trid,
				    const struct nvmf_disc_log_entry *entry);

/* ======================================================================== */
/* Controllers                                                              */
/* ======================================================================== */

struct axon_nvme_ctrlr;
struct axon_nvme_ns;
struct axon_nvme_qpair;
struct axon_nvme_poll_group;

/** Command completion: cpl is valid only during the call. */
typedef void (*axon_nvme_cmd_cb)(void *cb_arg, const struct axon_nvme_cpl *cpl);

/** What happens when a command outlives its timeout. */
enum axon_nvme_timeout_action {
	AXON_NVME_TIMEOUT_ACTION_NONE = 0,  /* only the timeout callback, if any */
	AXON_NVME_TIMEOUT_ACTION_ABORT,     /* send an Abort for the command */
	AXON_NVME_TIMEOUT_ACTION_RESET,     /* reset the controller */
};

struct axon_nvme_ctrlr_opts {
	/** Size of the structure, for forward compatibility: sizeof(opts). */
	size_t opts_size;
	/** I/O queues to ask for (Set Features Number of Queues). */
	uint32_t num_io_queues;
	/** Default I/O queue depth (capped by CAP.MQES + 1). */
	uint32_t io_queue_size;
	/** Admin queue depth. */
	uint32_t admin_queue_size;
	/** Keep alive timeout in ms (0: no keep alive). */
	uint32_t keep_alive_timeout_ms;
	/** Timeout of each init step and of admin commands, ms. */
	uint32_t admin_timeout_ms;
	/** I/O command timeout in µs (0: none) and what to do then. */
	uint64_t io_timeout_us;
	enum axon_nvme_timeout_action timeout_action;
	/** Host NQN; "" reads /etc/nvme/hostnqn through libnvme, else generates one. */
	char hostnqn[AXON_NVME_NQN_BUF_LEN];
	/** Host ID; all zero reads /etc/nvme/hostid through libnvme, else a random one. */
	uint8_t hostid[16];
	/** NVMe/TCP header and data digests. */
	bool header_digest;
	bool data_digest;
	/** Socket implementation for TCP (NULL: the default). */
	const char *sock_impl;
	/**
	 * Reconnect after a lost connection (fabrics) or a failed reset:
	 * retry every reconnect_delay_sec; give up after ctrlr_loss_timeout_sec
	 * (-1: never, 0: do not reconnect); fail I/O at once after
	 * fast_io_fail_timeout_sec (0: only when the controller is given up).
	 */
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
};

/** Fill opts with the defaults (opts_size = sizeof(*opts)). */
void axon_nvme_ctrlr_opts_init(struct axon_nvme_ctrlr_opts *opts);

/**
 * Start connecting to the controller at trid: the init state machine runs
 * from the next axon_nvme_ctrlr_connect_poll() calls (see enum
 * axon_nvme_ctrlr_state). opts may be NULL for the defaults; it is copied.
 * Returns the controller, or NULL (logged) for a bad trid, an unknown
 * transport, or no memory.
 */
struct axon_nvme_ctrlr *axon_nvme_ctrlr_connect_async(const struct axon_nvme_trid *trid,
						      const struct axon_nvme_ctrlr_opts *opts);

/**
 * Advance the init state machine. Returns -EAGAIN while it runs, 0 once the
 * controller is ready, or the failure (-ETIMEDOUT for a step that timed
 * out, -EIO for a command that failed, -ECONNREFUSED etc. from the
 * transport); the failed step is logged and named by
 * axon_nvme_ctrlr_get_failed_step(). After a failure, detach the controller.
 */
int axon_nvme_ctrlr_connect_poll(struct axon_nvme_ctrlr *ctrlr);

/**
 * Connect synchronously: connect_async, then poll until it is done.
 * Returns the ready controller or NULL (the failing step is logged).
 */
struct axon_nvme_ctrlr *axon_nvme_ctrlr_connect(const struct axon_nvme_trid *trid,
						const struct axon_nvme_ctrlr_opts *opts);

/**
 * Disconnect and free the controller. Every I/O qpair must have been freed.
 * Commands still outstanding on the admin queue complete with "aborted, SQ
 * deletion". Returns 0 or -EBUSY (I/O qpairs remain).
 */
int axon_nvme_ctrlr_detach(struct axon_nvme_ctrlr *ctrlr);

/**
 * Poll the admin queue: complete admin commands, send keep alives, handle
 * asynchronous events (a namespace change re-scans the namespaces), check
 * command timeouts, and advance a reset. Call it regularly (every few ms).
 * Returns the number of completions, or -ENXIO when the controller has
 * failed (lost beyond its loss timeout, or removed).
 */
int32_t axon_nvme_ctrlr_process_admin_completions(struct axon_nvme_ctrlr *ctrlr);

/**
 * Reset the controller: the admin queue is disconnected and the controller
 * re-initialised (PCIe: the full state machine; fabrics: a new association,
 * retried every reconnect_delay_sec until ctrlr_loss_timeout_sec, after
 * which the controller is failed). Progress happens in
 * process_admin_completions(). A lost admin connection starts the same
 * reconnect by itself.
 * I/O qpairs live on other threads, so a reset never touches them: their
 * owners see -ENXIO from process_completions once the old association is
 * gone (commands complete with "aborted, SQ deletion"), and call
 * axon_nvme_ctrlr_reconnect_io_qpair() from their thread. Submissions to a
 * disconnected qpair fail at once with -ENXIO; a caller that wants to hold
 * I/O during a reset (bdev_nvme) queues it itself until the controller's
 * fast_io_fail / loss timeout.
 * Returns 0 when started, -EBUSY (a reset is already running) or -ENXIO
 * (the controller failed).
 */
int axon_nvme_ctrlr_reset(struct axon_nvme_ctrlr *ctrlr);

/** True while a reset or reconnect is in progress. */
bool axon_nvme_ctrlr_is_resetting(const struct axon_nvme_ctrlr *ctrlr);
/**
 * True once I/O should fail rather than wait for the reconnect: the
 * controller is given up, or a reset has run longer than
 * fast_io_fail_timeout_sec.
 */
bool axon_nvme_ctrlr_is_fast_io_fail(const struct axon_nvme_ctrlr *ctrlr);
/** True once the controller is given up (loss timeout, fatal status). */
bool axon_nvme_ctrlr_is_failed(const struct axon_nvme_ctrlr *ctrlr);
/** True for a discovery controller. */
bool axon_nvme_ctrlr_is_discovery(const struct axon_nvme_ctrlr *ctrlr);

/** The init states, in order. */
enum axon_nvme_ctrlr_state {
	AXON_NVME_CTRLR_STATE_INIT = 0,
	AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ,   /* transport + fabrics Connect */
	AXON_NVME_CTRLR_STATE_READ_VS,
	AXON_NVME_CTRLR_STATE_READ_CAP,
	AXON_NVME_CTRLR_STATE_CHECK_EN,         /* read CC */
	AXON_NVME_CTRLR_STATE_DISABLE,          /* write CC.EN = 0 */
	AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0,
	AXON_NVME_CTRLR_STATE_CONFIGURE_ADMINQ, /* AQA/ASQ/ACQ (PCIe) */
	AXON_NVME_CTRLR_STATE_ENABLE,           /* write CC with EN = 1 */
	AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1,
	AXON_NVME_CTRLR_STATE_IDENTIFY,
	AXON_NVME_CTRLR_STATE_SET_NUM_QUEUES,
	AXON_NVME_CTRLR_STATE_CONFIGURE_AER,
	AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE,
	AXON_NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS,
	AXON_NVME_CTRLR_STATE_IDENTIFY_NS,
	AXON_NVME_CTRLR_STATE_READY,
	AXON_NVME_CTRLR_STATE_ERROR,
};

/** "disable", "wait for ready 1", "identify controller", ... */
const char *axon_nvme_ctrlr_state_str(enum axon_nvme_ctrlr_state state);
enum axon_nvme_ctrlr_state axon_nvme_ctrlr_get_state(const struct axon_nvme_ctrlr *ctrlr);
/** The step that failed (valid once connect_poll returned an error). */
enum axon_nvme_ctrlr_state axon_nvme_ctrlr_get_failed_step(const struct axon_nvme_ctrlr *ctrlr);

/** Identify Controller data (valid once ready). */
const struct nvme_id_ctrl *axon_nvme_ctrlr_get_data(const struct axon_nvme_ctrlr *ctrlr);
const struct axon_nvme_trid *axon_nvme_ctrlr_get_trid(const struct axon_nvme_ctrlr *ctrlr);
const struct axon_nvme_ctrlr_opts *axon_nvme_ctrlr_get_opts(const struct axon_nvme_ctrlr *ctrlr);
union axon_nvme_cap axon_nvme_ctrlr_get_cap(const struct axon_nvme_ctrlr *ctrlr);
union axon_nvme_vs axon_nvme_ctrlr_get_vs(const struct axon_nvme_ctrlr *ctrlr);
/** Controller ID (the Connect response's on fabrics). */
uint16_t axon_nvme_ctrlr_get_cntlid(const struct axon_nvme_ctrlr *ctrlr);
/** Largest data transfer of one command, bytes (MDTS and the transport's limit). */
uint32_t axon_nvme_ctrlr_get_max_xfer_size(const struct axon_nvme_ctrlr *ctrlr);
/** I/O queues granted by Set Features Number of Queues. */
uint32_t axon_nvme_ctrlr_get_num_io_queues(const struct axon_nvme_ctrlr *ctrlr);

/* ---- namespaces ---------------------------------------------------------- */

/** Number of active namespaces. */
uint32_t axon_nvme_ctrlr_get_num_active_ns(const struct axon_nvme_ctrlr *ctrlr);
/** Active namespaces in NSID order: NULL prev gives the first; NULL at the end. */
struct axon_nvme_ns *axon_nvme_ctrlr_get_next_active_ns(struct axon_nvme_ctrlr *ctrlr,
							struct axon_nvme_ns *prev);
/** The active namespace nsid, or NULL. */
struct axon_nvme_ns *axon_nvme_ctrlr_get_ns(struct axon_nvme_ctrlr *ctrlr, uint32_t nsid);

uint32_t axon_nvme_ns_get_id(const struct axon_nvme_ns *ns);
const struct nvme_id_ns *axon_nvme_ns_get_data(const struct axon_nvme_ns *ns);
/** Bytes per logical block (data only). */
uint32_t axon_nvme_ns_get_sector_size(const struct axon_nvme_ns *ns);
/** Metadata bytes per logical block. */
uint32_t axon_nvme_ns_get_md_size(const struct axon_nvme_ns *ns);
uint64_t axon_nvme_ns_get_num_sectors(const struct axon_nvme_ns *ns);
struct axon_nvme_ctrlr *axon_nvme_ns_get_ctrlr(const struct axon_nvme_ns *ns);

/* ---- events and timeouts ----------------------------------------------- */

/**
 * Called for every asynchronous event completion (after lib/nvme handled
 * it: for "namespace attribute changed" the namespaces have been re-read
 * when this runs). cpl->cdw0 holds the event type and information.
 */
typedef void (*axon_nvme_aer_cb)(void *cb_arg, const struct axon_nvme_cpl *cpl);
void axon_nvme_ctrlr_register_aer_callback(struct axon_nvme_ctrlr *ctrlr, axon_nvme_aer_cb cb,
					   void *cb_arg);

/**
 * Called when a command passes its timeout (qpair is NULL for the admin
 * queue), before the configured action runs.
 */
typedef void (*axon_nvme_timeout_cb)(void *cb_arg, struct axon_nvme_ctrlr *ctrlr,
				     struct axon_nvme_qpair *qpair, uint16_t cid);
void axon_nvme_ctrlr_register_timeout_callback(struct axon_nvme_ctrlr *ctrlr,
					       axon_nvme_timeout_cb cb, void *cb_arg);

/* ---- admin commands ------------------------------------------------------ */

/*
 * Each returns 0 when submitted (cb runs later from
 * process_admin_completions), or -EINVAL (bad argument), -ENOMEM (no free
 * admin request), -ENXIO (the controller failed or is resetting).
 * Buffers belong to the caller until cb runs. For PCIe they must be DMA
 * memory (axon_dma_malloc).
 */

int axon_nvme_ctrlr_cmd_identify(struct axon_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
				 uint32_t nsid, uint8_t csi, void *buf, uint32_t len,
				 axon_nvme_cmd_cb cb, void *cb_arg);
int axon_nvme_ctrlr_cmd_get_features(struct axon_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				     void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg);
int axon_nvme_ctrlr_cmd_set_features(struct axon_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				     uint32_t cdw12, void *buf, uint32_t len, axon_nvme_cmd_cb cb,
				     void *cb_arg);
/** Get Log Page lid for nsid (0xffffffff for the controller), len bytes from offset. */
int axon_nvme_ctrlr_cmd_get_log_page(struct axon_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				     void *buf, uint32_t len, uint64_t offset, axon_nvme_cmd_cb cb,
				     void *cb_arg);
int axon_nvme_ctrlr_cmd_keep_alive(struct axon_nvme_ctrlr *ctrlr, axon_nvme_cmd_cb cb,
				   void *cb_arg);
/** Abort command cid of qpair (NULL: the admin queue). */
int axon_nvme_ctrlr_cmd_abort(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair,
			      uint16_t cid, axon_nvme_cmd_cb cb, void *cb_arg);
/**
 * Any admin command: cmd is copied (its cid is replaced); buf/len is the
 * data in the direction the opcode says.
 */
int axon_nvme_ctrlr_cmd_admin_raw(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
				  void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg);

/**
 * Run an admin command to completion: submit with the function above, then
 * poll the admin queue until it completes or admin_timeout_ms passes.
 * Fills *cpl. Returns 0 (look at cpl's status), -ETIMEDOUT, or the submit error.
 */
int axon_nvme_ctrlr_cmd_admin_sync(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
				   void *buf, uint32_t len, struct axon_nvme_cpl *cpl);

/* ---- discovery ------------------------------------------------------------ */

/**
 * Called with the whole discovery log (header and numrec entries, owned by
 * the callee: free() it) or NULL and a negative errno.
 */
typedef void (*axon_nvme_discovery_cb)(void *cb_arg, int rc, struct nvmf_discovery_log *log);

/**
 * Read the complete discovery log of a discovery controller: the header,
 * every entry, then the header again; if the generation counter changed
 * meanwhile, start over (at most AXON_NVME_DISCOVERY_MAX_RETRIES times,
 * then -EAGAIN). Other errors: -EIO (a Get Log Page failed), -ENOMEM,
 * -EPROTO (numrec beyond AXON_NVME_DISCOVERY_MAX_ENTRIES). Returns 0 when
 * started (cb runs later) or a submit error.
 */
#define AXON_NVME_DISCOVERY_MAX_RETRIES 10
#define AXON_NVME_DISCOVERY_MAX_ENTRIES 4096
int axon_nvme_ctrlr_read_discovery_log(struct axon_nvme_ctrlr *ctrlr, axon_nvme_discovery_cb cb,
				       void *cb_arg);
/** The same, polling the admin queue until done. Returns 0 and *log, or the error. */
int axon_nvme_ctrlr_read_discovery_log_sync(struct axon_nvme_ctrlr *ctrlr,
					    struct nvmf_discovery_log **log);

/* ======================================================================== */
/* I/O queue pairs                                                          */
/* ======================================================================== */

struct axon_nvme_io_qpair_opts {
	size_t opts_size;
	/** Queue depth (capped by CAP.MQES + 1); 0 = the controller's io_queue_size. */
	uint32_t io_queue_size;
	/** Requests preallocated (commands that may be outstanding); 0 = io_queue_size. */
	uint32_t io_queue_requests;
};

void axon_nvme_io_qpair_opts_init(struct axon_nvme_io_qpair_opts *opts);

/**
 * Allocate an I/O qpair on the calling thread and connect it (on fabrics
 * this sends a Connect and polls this qpair until it completes or
 * admin_timeout_ms passes). opts may be NULL.
 * Returns the qpair or NULL (logged): no free queue id, no memory, or the
 * connect failed.
 */
struct axon_nvme_qpair *axon_nvme_ctrlr_alloc_io_qpair(struct axon_nvme_ctrlr *ctrlr,
						       const struct axon_nvme_io_qpair_opts *opts);

/**
 * Disconnect and free an I/O qpair (removing it from its poll group).
 * Outstanding commands complete with "aborted, SQ deletion" first.
 * Returns 0 or -EINVAL (NULL).
 */
int axon_nvme_ctrlr_free_io_qpair(struct axon_nvme_qpair *qpair);

/**
 * Complete up to max commands (0: no limit beyond a budget of the queue
 * depth) and check timeouts. Returns the number completed, or -ENXIO when
 * the qpair is disconnected or failed (its commands have then completed
 * with an abort status).
 */
int32_t axon_nvme_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max);

/**
 * Reconnect a disconnected I/O qpair to the controller's current
 * association (after a reset), on the qpair's thread; synchronous like
 * alloc. Returns 0 (connected), -EAGAIN (the controller is still
 * resetting: try later), -ENXIO (the controller failed), or the connect
 * error.
 */
int axon_nvme_ctrlr_reconnect_io_qpair(struct axon_nvme_qpair *qpair);

/** True while commands can be submitted. */
bool axon_nvme_qpair_is_connected(const struct axon_nvme_qpair *qpair);

/** Queue id (0: admin). */
uint16_t axon_nvme_qpair_get_id(const struct axon_nvme_qpair *qpair);
/** Commands submitted and not yet completed. */
uint32_t axon_nvme_qpair_get_num_outstanding(const struct axon_nvme_qpair *qpair);

/* ---- I/O commands --------------------------------------------------------- */

/* io_flags: bits of CDW12 (FUA 1<<30, LR 1<<31). */
#define AXON_NVME_IO_FLAGS_FUA (1u << 30)
#define AXON_NVME_IO_FLAGS_LIMITED_RETRY (1u << 31)
/** Most iovec elements a command takes. */
#define AXON_NVME_MAX_IOVCNT 64

/*
 * Each returns 0 when submitted, or:
 *   -EINVAL  bad argument (count 0 or beyond 65536 blocks, LBA range past
 *            the end, length not the blocks' size, too many iovecs,
 *            transfer beyond the controller's maximum),
 *   -ENOMEM  no free request on the qpair (wait for completions),
 *   -ENXIO   the qpair is disconnected or failed.
 * cb runs from a later process_completions of the qpair.
 */
int axon_nvme_ns_cmd_read(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			  uint32_t io_flags);
int axon_nvme_ns_cmd_write(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			   uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			   uint32_t io_flags);
/** iov (iovcnt <= AXON_NVME_MAX_IOVCNT) must stay valid until cb runs. */
int axon_nvme_ns_cmd_readv(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			   const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			   axon_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags);
int axon_nvme_ns_cmd_writev(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			    const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			    axon_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags);
int axon_nvme_ns_cmd_compare(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			     uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags);
int axon_nvme_ns_cmd_write_zeroes(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb,
				  void *cb_arg, uint32_t io_flags);
/** DSM with num_ranges (1..256) ranges; attributes: cdw11 (bit 2: deallocate). */
int axon_nvme_ns_cmd_dsm(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			 uint32_t attributes, const struct nvme_dsm_range *ranges,
			 uint16_t num_ranges, axon_nvme_cmd_cb cb, void *cb_arg);
int axon_nvme_ns_cmd_flush(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			   axon_nvme_cmd_cb cb, void *cb_arg);
/**
 * Any I/O command: cmd is copied (cid replaced); buf/len is its data in the
 * direction of the opcode.
 */
int axon_nvme_ctrlr_cmd_io_raw(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair,
			       const struct axon_nvme_cmd *cmd, void *buf, uint32_t len,
			       axon_nvme_cmd_cb cb, void *cb_arg);

/* ---- poll groups -------------------------------------------------------------- */

/**
 * A set of qpairs of one thread polled together (for TCP: their sockets in
 * one sock group, one epoll_wait per poll). ctx is the caller's.
 * Returns NULL (logged) if memory is short.
 */
struct axon_nvme_poll_group *axon_nvme_poll_group_create(void *ctx);
void *axon_nvme_poll_group_get_ctx(struct axon_nvme_poll_group *group);
/** Add a connected qpair. Returns 0, -EBUSY (already in a group) or -errno. */
int axon_nvme_poll_group_add(struct axon_nvme_poll_group *group, struct axon_nvme_qpair *qpair);
/** Remove qpair from its group. Returns 0 or -EINVAL. */
int axon_nvme_poll_group_remove(struct axon_nvme_poll_group *group, struct axon_nvme_qpair *qpair);
/** Called by poll for a qpair that was found disconnected. */
typedef void (*axon_nvme_disconnected_qpair_cb)(struct axon_nvme_qpair *qpair, void *group_ctx);
/**
 * Poll every qpair of the group (at most completions_per_qpair each, 0: a
 * budget). Returns the completions, or -errno from the transport.
 */
int64_t axon_nvme_poll_group_process_completions(struct axon_nvme_poll_group *group,
						 uint32_t completions_per_qpair,
						 axon_nvme_disconnected_qpair_cb disconnected_cb);
/** Destroy an empty group. Returns 0, -EBUSY (qpairs remain) or -EINVAL. */
int axon_nvme_poll_group_destroy(struct axon_nvme_poll_group *group);

/* ======================================================================== */
/* Interface for transports (drivers/nvme/<name>)                           */
/* ======================================================================== */

/** Largest in-capsule / admin transfer lib/nvme itself issues. */
#define AXON_NVME_IDENTIFY_LEN NVME_IDENTIFY_DATA_SIZE

/** A command as lib/nvme hands it to a transport. */
struct axon_nvme_request {
	/** The SQE; the transport sets cmd.cid, and the data pointer fields it uses. */
	struct axon_nvme_cmd cmd;
	/** The data: payload_size bytes over iov[0..iovcnt). */
	const struct iovec *iov;
	int iovcnt;
	uint32_t payload_size;
	/** Private to lib/nvme. */
	struct {
		struct iovec single_iov;
		axon_nvme_cmd_cb cb;
		void *cb_arg;
		struct axon_nvme_qpair *qpair;
		uint64_t submit_us;
		bool timed_out;
		TAILQ_ENTRY(axon_nvme_request) link;
	} internal;
};

/** Connection state of a qpair; transports move it along the arrows marked T. */
enum axon_nvme_qpair_state {
	AXON_NVME_QPAIR_DISCONNECTED = 0,
	AXON_NVME_QPAIR_CONNECTING,     /* T: transport handshake running */
	AXON_NVME_QPAIR_TRANSPORT_READY, /* T: handshake done; lib/nvme sends Connect (fabrics) */
	AXON_NVME_QPAIR_FABRIC_CONNECTING,
	AXON_NVME_QPAIR_ENABLED,        /* commands flow */
	AXON_NVME_QPAIR_FAILED,         /* T: connection lost or protocol error */
};

struct axon_nvme_transport_poll_group;

/**
 * The part of every qpair that lib/nvme owns. A transport allocates its own
 * qpair structure with this first, zeroed; lib/nvme fills the fields in
 * after qpair_create returns. Transports read id, depth, ctrlr and state,
 * and write state as marked above.
 */
struct axon_nvme_qpair {
	const struct axon_nvme_transport_ops *ops;
	struct axon_nvme_ctrlr *ctrlr;
	uint16_t id;
	uint32_t depth; /* entries; the transport accepts at most depth - 1 commands at once */
	enum axon_nvme_qpair_state state;
	int failure_reason; /* -errno the transport saw, with FAILED */
	struct axon_nvme_poll_group *group;
	struct axon_nvme_transport_poll_group *tgroup;
	/* lib/nvme's bookkeeping */
	struct axon_nvme_request *reqs;
	uint32_t num_reqs;
	uint32_t num_outstanding;
	TAILQ_HEAD(, axon_nvme_request) free_reqs;
	TAILQ_HEAD(, axon_nvme_request) outstanding; /* in submission order */
	TAILQ_HEAD(, axon_nvme_request) queued;      /* waiting for a transport slot */
	TAILQ_ENTRY(axon_nvme_qpair) ctrlr_link;
	TAILQ_ENTRY(axon_nvme_qpair) group_link;
	uint64_t connect_deadline_us;
};

/** The part of every transport poll group lib/nvme owns; embed it first. */
struct axon_nvme_transport_poll_group {
	const struct axon_nvme_transport_ops *ops;
	struct axon_nvme_poll_group *group;
	TAILQ_ENTRY(axon_nvme_transport_poll_group) link;
};

/**
 * A transport. Members are required unless marked optional; "returns -errno"
 * means a negative errno. No member blocks.
 */
struct axon_nvme_transport_ops {
	/** Registered name matched (case-insensitively) against trid.trstring. */
	const char *name;
	enum axon_nvme_trtype trtype;
	/** True for NVMe-oF: registers are properties and qpairs need a Connect. */
	bool fabrics;

	/**
	 * Prepare a controller: resolve the address, allocate the transport's
	 * state (returned in *tctx, freed by ctrlr_destruct). Returns 0 or -errno.
	 */
	int (*ctrlr_construct)(struct axon_nvme_ctrlr *ctrlr, void **tctx);
	void (*ctrlr_destruct)(struct axon_nvme_ctrlr *ctrlr, void *tctx);

	/**
	 * Register access, synchronous (PCIe). Optional: fabrics transports
	 * leave them NULL and lib/nvme issues Property Get / Set.
	 */
	int (*ctrlr_get_reg_4)(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t *value);
	int (*ctrlr_get_reg_8)(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t *value);
	int (*ctrlr_set_reg_4)(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value);
	int (*ctrlr_set_reg_8)(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value);
	/** Optional: program AQA/ASQ/ACQ for the admin qpair (PCIe). */
	int (*ctrlr_enable_adminq)(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *adminq);

	/** Largest transfer of one command, bytes (before MDTS). */
	uint32_t (*ctrlr_get_max_xfer_size)(struct axon_nvme_ctrlr *ctrlr);

	/**
	 * Allocate a qpair (not connected) with queue id qid and depth entries.
	 * Returns it or NULL with errno set. For an I/O queue of PCIe this
	 * also creates the CQ/SQ pair on the controller (from connect).
	 */
	struct axon_nvme_qpair *(*qpair_create)(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
						uint32_t depth);
	/** Free a disconnected qpair. */
	void (*qpair_destroy)(struct axon_nvme_qpair *qpair);
	/**
	 * Start connecting: state becomes CONNECTING, then TRANSPORT_READY (or
	 * FAILED) from later qpair_process_completions calls. Returns 0 or -errno.
	 */
	int (*qpair_connect)(struct axon_nvme_qpair *qpair);
	/**
	 * Disconnect: close the connection; every command the transport holds
	 * is completed through axon_nvme_qpair_complete_request() with "aborted,
	 * SQ deletion". State becomes DISCONNECTED. Idempotent: also called on a
	 * qpair that is already disconnected, and before qpair_destroy.
	 */
	void (*qpair_disconnect)(struct axon_nvme_qpair *qpair);
	/**
	 * Send req (cmd built, payload described). Returns 0, -EAGAIN (no free
	 * slot: lib/nvme queues it and retries after completions), or -errno.
	 */
	int (*qpair_submit)(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req);
	/**
	 * Complete up to max commands, calling axon_nvme_qpair_complete_request()
	 * for each. Returns the number completed or -errno (-ENXIO when failed).
	 */
	int32_t (*qpair_process_completions)(struct axon_nvme_qpair *qpair, uint32_t max);

	/** Optional poll groups; without them a group polls each qpair alone. */
	struct axon_nvme_transport_poll_group *(*poll_group_create)(void);
	int (*poll_group_add)(struct axon_nvme_transport_poll_group *tgroup,
			      struct axon_nvme_qpair *qpair);
	int (*poll_group_remove)(struct axon_nvme_transport_poll_group *tgroup,
				 struct axon_nvme_qpair *qpair);
	/** Poll the group; returns completions or -errno. */
	int64_t (*poll_group_process_completions)(struct axon_nvme_transport_poll_group *tgroup,
						  uint32_t completions_per_qpair);
	void (*poll_group_destroy)(struct axon_nvme_transport_poll_group *tgroup);

	/** Optional: memory for lib/nvme's own data buffers (PCIe: DMA memory). */
	void *(*dma_zalloc)(size_t size, size_t align);
	void (*dma_free)(void *buf);
};

/** Register a transport (from a constructor). The name must be unique. */
void axon_nvme_transport_register(const struct axon_nvme_transport_ops *ops);
/** The transport called name (case-insensitive), or NULL. */
const struct axon_nvme_transport_ops *axon_nvme_transport_get(const char *name);

#define AXON_NVME_TRANSPORT_REGISTER(NAME, OPS)                                         \
	__attribute__((constructor)) static void axon_nvme_transport_register_##NAME(void) \
	{                                                                               \
		axon_nvme_transport_register(OPS);                                      \
	}

/**
 * Called by a transport for each finished command: runs the command's
 * callback (after which req must not be touched).
 */
void axon_nvme_qpair_complete_request(struct axon_nvme_qpair *qpair,
				      struct axon_nvme_request *req,
				      const struct axon_nvme_cpl *cpl);

/** The transport's ctrlr state from ctrlr_construct. */
void *axon_nvme_ctrlr_get_transport_ctx(const struct axon_nvme_ctrlr *ctrlr);
/** In-capsule data bytes of I/O queues (IOCCSZ * 16 - 64), 0 before identify. */
uint32_t axon_nvme_ctrlr_get_ioccsz_bytes(const struct axon_nvme_ctrlr *ctrlr);

#ifdef __cplusplus
}
#endif
#endif /* AXON_NVME_H */
