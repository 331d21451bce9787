/*
 * lib/nvmf private types: target, poll groups, subsystems, namespaces,
 * controllers, and the functions the files of lib/nvmf share.
 *
 * Ownership (see axon/nvmf.h): target, subsystems, namespaces, hosts,
 * listeners, referrals: app thread. Poll group and its per-subsystem state:
 * the poll group's thread. Controller: its admin queue pair's thread.
 */
#ifndef AXON_NVMF_INTERNAL_H
#define AXON_NVMF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "axon/bdev.h"
#include "axon/log.h"
#include "axon/nvme_spec.h"
#include "axon/nvmf.h"
#include "axon/nvmf_transport.h"
#include "axon/thread.h"
#include "axon/util.h"

/* NVMe version reported in VS and Identify Controller: 1.4. */
#define NVMF_VS_VALUE 0x00010400u
/* Outstanding AERs per controller (AERL + 1). */
#define NVMF_MAX_AER 4
/* Pending async events kept per controller beyond the parked AERs. */
#define NVMF_MAX_PENDING_EVENTS 16
/* Changed Namespace List log: 1024 entries, then the overflow marker. */
#define NVMF_CHANGED_NS_MAX 1024
/* Error log entries kept per controller (ELPE + 1). */
#define NVMF_ERROR_LOG_ENTRIES 64
/* Abort commands outstanding per controller (ACL + 1). */
#define NVMF_ABORT_LIMIT 4
/* KAS: keep-alive granularity in 100 ms units. */
#define NVMF_KAS 10
/* Asynchronous Event Configuration bits (Set Features 0Bh). */
#define NVMF_AEC_NS_ATTR (1u << 8)
#define NVMF_AEC_DISC_LOG (1u << 31)
/* Completions handed back to the transport per group poll. */
#define NVMF_COMPLETION_BUDGET 256

struct nvmf_host {
	char nqn[AXON_NVMF_NQN_MAX_LEN + 1];
	TAILQ_ENTRY(nvmf_host) link;
};

struct nvmf_subsystem_listener {
	struct axon_nvmf_trid trid;
	TAILQ_ENTRY(nvmf_subsystem_listener) link;
};

/* A target-level listen, shared by the subsystems that use the address. */
struct nvmf_tgt_listener {
	struct axon_nvmf_trid trid;
	struct axon_nvmf_transport *transport;
	uint32_t refcnt;
	TAILQ_ENTRY(nvmf_tgt_listener) link;
};

struct nvmf_referral {
	struct axon_nvmf_trid trid;
	char subnqn[AXON_NVMF_NQN_MAX_LEN + 1];
	bool secure_channel;
	TAILQ_ENTRY(nvmf_referral) link;
};

struct axon_nvmf_ns {
	uint32_t nsid;
	struct axon_nvmf_subsystem *subsystem;
	struct axon_bdev *bdev;
	struct axon_bdev_desc *desc;
	char bdev_name[AXON_BDEV_MAX_NAME_LEN + 1];
	struct axon_nvmf_ns_opts opts;
	bool removing;
};

/* Subsystem state-change request, serialised per subsystem. */
struct nvmf_state_change {
	enum axon_nvmf_subsystem_state target; /* ACTIVE, PAUSED, INACTIVE */
	axon_nvmf_subsystem_state_cb cb;
	void *cb_arg;
	TAILQ_ENTRY(nvmf_state_change) link;
};

struct axon_nvmf_subsystem {
	struct axon_nvmf_tgt *tgt;
	uint32_t id; /* index in tgt->subsystems and in every poll group's sgroups */
	char nqn[AXON_NVMF_NQN_MAX_LEN + 1];
	enum axon_nvmf_subtype subtype;
	enum axon_nvmf_subsystem_state state;
	char sn[AXON_NVMF_SN_MAX_LEN + 1];
	char mn[AXON_NVMF_MN_MAX_LEN + 1];
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	uint16_t next_cntlid;
	bool allow_any_host;
	bool destroying;
	bool free_scheduled;
	uint32_t ns_ops_pending;  /* add/remove namespace flows running */
	uint32_t max_nsid;
	uint8_t *nsid_reserved;   /* [max_nsid]: taken by an add in progress */
	struct axon_nvmf_ns **ns; /* [max_nsid], index nsid - 1 */
	TAILQ_HEAD(, nvmf_host) hosts;
	TAILQ_HEAD(, nvmf_subsystem_listener) listeners;
	TAILQ_HEAD(, axon_nvmf_ctrlr) ctrlrs;
	/* state machine */
	TAILQ_HEAD(, nvmf_state_change) changes; /* first one is running */
	bool change_running;
	/* destroy */
	void (*destroy_cb)(void *cb_arg);
	void *destroy_cb_arg;
	TAILQ_ENTRY(axon_nvmf_subsystem) link;
};

/* One namespace as one poll group sees it. */
struct nvmf_ns_pg {
	struct axon_io_channel *ch;
	struct axon_bdev_desc *desc; /* the desc ch was taken from */
};

/* One subsystem as one poll group sees it. */
struct nvmf_subsystem_pg {
	enum axon_nvmf_subsystem_state state; /* INACTIVE, ACTIVE or PAUSED */
	uint64_t outstanding;                 /* requests dispatched, not completed */
	TAILQ_HEAD(, axon_nvmf_request) held; /* waiting for resume */
	struct nvmf_ns_pg *ns;                /* [num_ns] */
	uint32_t num_ns;
	struct axon_io_channel_iter *drain_iter; /* pause/stop waiting for outstanding == 0 */
	bool release_on_drain;                   /* stop: put the channels once drained */
};

struct nvmf_poll_group_stat {
	uint64_t admin_qpairs;
	uint64_t io_qpairs;
	uint64_t current_admin_qpairs;
	uint64_t current_io_qpairs;
	uint64_t pending_bdev_io;
	uint64_t completed_nvme_io;
};

struct axon_nvmf_poll_group {
	struct axon_nvmf_tgt *tgt;
	struct axon_thread *thread;
	char name[48];
	struct axon_poller *poller;
	TAILQ_HEAD(, axon_nvmf_transport_poll_group) tgroups;
	TAILQ_HEAD(, axon_nvmf_qpair) qpairs;
	/* requests completed, waiting to go back to the transport */
	TAILQ_HEAD(, axon_nvmf_request) completed;
	struct nvmf_subsystem_pg *sgroups; /* [tgt->max_subsystems] */
	uint32_t num_sgroups;
	struct nvmf_poll_group_stat stat;
	bool destroying;
	void (*destroy_cb)(void *cb_arg);
	void *destroy_cb_arg;
	TAILQ_ENTRY(axon_nvmf_poll_group) link; /* tgt->poll_groups (app thread) */
};

struct axon_nvmf_tgt {
	uint32_t max_subsystems;
	uint32_t discovery_filter;
	struct axon_nvmf_subsystem **subsystems; /* [max_subsystems] */
	TAILQ_HEAD(, axon_nvmf_subsystem) subsystem_list;
	struct axon_nvmf_subsystem *discovery;
	TAILQ_HEAD(, axon_nvmf_transport) transports;
	TAILQ_HEAD(, nvmf_tgt_listener) listeners;
	TAILQ_HEAD(, nvmf_referral) referrals;
	TAILQ_HEAD(, axon_nvmf_poll_group) poll_groups; /* touched on the app thread only */
	uint32_t num_poll_groups;
	struct axon_nvmf_poll_group *next_pg; /* round-robin cursor */
	uint64_t discovery_genctr;
	struct axon_thread *thread; /* the app thread */
	bool destroying;
};

/* Controller features (Get/Set Features). */
struct nvmf_ctrlr_features {
	uint32_t arbitration;
	uint32_t power_management;
	uint32_t temperature_threshold;
	uint32_t error_recovery;
	uint32_t volatile_write_cache;
	uint32_t number_of_queues;
	uint32_t write_atomicity;
	uint32_t async_event_config;
	uint32_t keep_alive_timer; /* ms */
	bool number_of_queues_set;
};

struct axon_nvmf_ctrlr {
	uint16_t cntlid;
	struct axon_nvmf_subsystem *subsys;
	struct axon_nvmf_tgt *tgt;
	struct axon_thread *thread;
	struct axon_nvmf_qpair *admin_qpair;
	struct axon_nvmf_transport *transport;
	struct axon_nvmf_trid listen_trid;
	char hostnqn[AXON_NVMF_NQN_MAX_LEN + 1];
	uint8_t hostid[16];
	uint16_t max_qpairs;    /* admin included */
	uint16_t max_queue_depth;

	/* registers */
	union axon_nvme_cap cap;
	union axon_nvme_vs vs;
	union axon_nvme_cc cc;
	union axon_nvme_csts csts;

	struct nvmf_ctrlr_features feat;
	uint64_t last_keep_alive_tick;
	struct axon_poller *keep_alive_poller;

	/* I/O queue pairs (ctrlr thread) */
	TAILQ_HEAD(, axon_nvmf_qpair) io_qpairs;
	uint32_t num_io_qpairs;
	struct axon_bit_array *qid_map;
	/* I/O queue pairs being torn down for a reset/shutdown */
	bool resetting;
	bool shutting_down;

	/* asynchronous events */
	struct axon_nvmf_request *aer_reqs[NVMF_MAX_AER];
	uint32_t num_aer;
	uint32_t pending_events[NVMF_MAX_PENDING_EVENTS];
	uint32_t num_pending_events;
	bool ns_attr_aen_masked;   /* until the Changed NS List log is read */
	bool disc_aen_masked;      /* until the discovery log is read */
	uint32_t changed_ns[NVMF_CHANGED_NS_MAX];
	uint32_t num_changed_ns;
	bool changed_ns_overflow;

	/* error log */
	struct nvme_error_log_page errors[NVMF_ERROR_LOG_ENTRIES];
	uint64_t error_count;

	uint32_t num_aborts;

	bool in_destruct;
	bool unlink_sent;
	TAILQ_ENTRY(axon_nvmf_ctrlr) link; /* subsys->ctrlrs (app thread) */
};

/* ---- logging -------------------------------------------------------------- */
extern struct axon_log_flag axon_log_flag_nvmf;

/* ---- tgt.c / poll_group.c ------------------------------------------------- */
void nvmf_tgt_set(struct axon_nvmf_tgt *tgt);
struct axon_nvmf_poll_group *nvmf_tgt_next_poll_group(struct axon_nvmf_tgt *tgt);
void nvmf_tgt_genctr_bump(struct axon_nvmf_tgt *tgt);
int nvmf_tgt_listen(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid);
void nvmf_tgt_stop_listen(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid);
bool nvmf_tgt_is_listening(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid);
struct axon_nvmf_transport *nvmf_tgt_find_transport(struct axon_nvmf_tgt *tgt, const char *name);

/* poll groups */
/** Make the target the io_device whose channels are the poll groups. */
void nvmf_tgt_register_io_device(struct axon_nvmf_tgt *tgt);
void nvmf_poll_group_sync_subsystem(struct axon_nvmf_poll_group *group,
				    struct axon_nvmf_subsystem *s);
int nvmf_poll_group_add_transport(struct axon_nvmf_poll_group *group,
				  struct axon_nvmf_transport *transport);
void nvmf_poll_group_remove_transport(struct axon_nvmf_poll_group *group,
				      struct axon_nvmf_transport *transport);
void nvmf_sgroup_release_all(struct nvmf_subsystem_pg *sgroup);
void nvmf_poll_group_destroy_continue(struct axon_nvmf_poll_group *group);
struct nvmf_subsystem_pg *nvmf_poll_group_sgroup(struct axon_nvmf_poll_group *group,
						 const struct axon_nvmf_subsystem *s);

/* ---- request.c -------------------------------------------------------------- */
/** Finish req: fill cid/sqid/sqhd, release its subsystem count, queue it for
 *  ops->req_complete (next group poll). */
void nvmf_request_complete(struct axon_nvmf_request *req);
void nvmf_request_set_status(struct axon_nvmf_request *req, uint16_t status);
/** Release the subsystem pause count req holds (a parked AER). */
void nvmf_request_uncount(struct axon_nvmf_request *req);
void nvmf_request_set_state(struct axon_nvmf_request *req, enum axon_nvmf_req_state state);
const char *nvmf_request_state_str(enum axon_nvmf_req_state state);
/** Dispatch a request to its handler (after the subsystem check). */
void nvmf_request_dispatch(struct axon_nvmf_request *req);
/** Hand every queued completion of group to its transport. Returns the count. */
int nvmf_poll_group_process_completions(struct axon_nvmf_poll_group *group);
/** Copy len bytes of buf into req->iov from byte offset 0; returns bytes copied. */
size_t nvmf_request_copy_to_iov(struct axon_nvmf_request *req, const void *buf, size_t len);
size_t nvmf_request_copy_from_iov(struct axon_nvmf_request *req, void *buf, size_t len,
				  size_t offset);
/** Drain done on qpair: continue its disconnect. */
void nvmf_qpair_request_done(struct axon_nvmf_qpair *qpair);
/** Fail every request held back for sgroup with status. */
void nvmf_sgroup_fail_held(struct nvmf_subsystem_pg *sgroup, uint16_t status);
void nvmf_sgroup_release_held(struct nvmf_subsystem_pg *sgroup);
/** Abort command cid of qpair if lib/nvmf or the transport holds it idle. Its thread. */
bool nvmf_qpair_abort_cid(struct axon_nvmf_qpair *qpair, uint16_t cid);

/* ---- qpair.c ------------------------------------------------------------------ */
void nvmf_qpair_add_to_group(void *ctx);

/* ---- subsystem.c -------------------------------------------------------------- */
int nvmf_subsystem_change_state(struct axon_nvmf_subsystem *s,
				enum axon_nvmf_subsystem_state target,
				axon_nvmf_subsystem_state_cb cb, void *cb_arg);
void nvmf_subsystem_ctrlr_removed(struct axon_nvmf_subsystem *s);
void nvmf_subsystem_try_free(struct axon_nvmf_subsystem *s);
/** Destroy any subsystem (the discovery one too). cb runs on the app thread. */
void nvmf_subsystem_destroy_internal(struct axon_nvmf_subsystem *s, void (*cb)(void *cb_arg),
				     void *cb_arg);
/** Ask the controller's thread to take it down. App thread. */
void nvmf_subsystem_disconnect_ctrlr(struct axon_nvmf_ctrlr *ctrlr);
struct axon_nvmf_ctrlr *nvmf_subsystem_find_ctrlr(struct axon_nvmf_subsystem *s, uint16_t cntlid);
int nvmf_subsystem_alloc_cntlid(struct axon_nvmf_subsystem *s, uint16_t *cntlid);
void nvmf_subsystem_free_all_ns(struct axon_nvmf_subsystem *s);
/** Tell every controller of s (on its thread) that nsid changed. */
void nvmf_subsystem_notify_ns_change(struct axon_nvmf_subsystem *s, uint32_t nsid);
bool nvmf_subsystem_ns_visible(struct axon_nvmf_subsystem *s, uint32_t nsid);

/* ---- ctrlr.c ------------------------------------------------------------------ */
void nvmf_ctrlr_handle_connect(struct axon_nvmf_request *req);
void nvmf_ctrlr_handle_fabric(struct axon_nvmf_request *req);
/** The queue pair is going away: detach it from its controller, then cb. */
void nvmf_ctrlr_qpair_detach(struct axon_nvmf_qpair *qpair, void (*cb)(void *), void *cb_arg);
/** Queue an async event (cdw0 of the AER completion) on the controller's thread. */
void nvmf_ctrlr_queue_event(struct axon_nvmf_ctrlr *ctrlr, uint32_t event);
void nvmf_ctrlr_ns_changed(struct axon_nvmf_ctrlr *ctrlr, uint32_t nsid);
void nvmf_ctrlr_discovery_changed(struct axon_nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_abort_aers(struct axon_nvmf_ctrlr *ctrlr);
/** Park an AER, or answer it with an event that waited. Ctrlr thread. */
void nvmf_ctrlr_aer(struct axon_nvmf_request *req);
/** Abort the parked AER with command id cid. Returns true if found. */
bool nvmf_ctrlr_abort_aer(struct axon_nvmf_ctrlr *ctrlr, uint16_t cid);
/** (Re)arm the keep-alive poller for the current KATO. Ctrlr thread. */
void nvmf_ctrlr_arm_keep_alive(struct axon_nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_keep_alive(struct axon_nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_record_error(struct axon_nvmf_ctrlr *ctrlr, struct axon_nvmf_request *req);
/** Disconnect the controller's admin queue pair (which takes the controller down). Ctrlr thread. */
void nvmf_ctrlr_disconnect(struct axon_nvmf_ctrlr *ctrlr);

/* ---- admin_cmd.c --------------------------------------------------------------- */
void nvmf_admin_cmd_exec(struct axon_nvmf_request *req);
/** Answer a log page: bytes [offset, offset + want) of page (len bytes, freed here). */
void nvmf_log_page_complete(struct axon_nvmf_request *req, uint8_t *page, size_t len,
			    uint64_t offset, uint64_t want);
void nvmf_admin_identify_ctrlr(struct axon_nvmf_ctrlr *ctrlr, struct nvme_id_ctrl *cdata);

/* ---- io_cmd.c ------------------------------------------------------------------ */
void nvmf_io_cmd_exec(struct axon_nvmf_request *req);
void nvmf_io_fused_abort(struct axon_nvmf_qpair *qpair);
uint16_t nvmf_bdev_io_status(struct axon_bdev_io *bdev_io, uint32_t *cdw0);

/* ---- discovery.c ---------------------------------------------------------------- */
/** The discovery log as hostnqn sees it through listen_trid: a new buffer of
 *  *len bytes, or NULL on ENOMEM. App thread. */
void *nvmf_discovery_log_build(struct axon_nvmf_tgt *tgt, const char *hostnqn,
			       const struct axon_nvmf_trid *listen_trid, size_t *len);
/** Get Log Page (discovery) for a discovery controller: built on the app
 *  thread, copied and completed back on the controller's. */
void nvmf_discovery_get_log(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr,
			    uint64_t offset, uint64_t want, bool rae);
/** genctr changed: notify persistent discovery controllers. App thread. */
void nvmf_discovery_notify(struct axon_nvmf_tgt *tgt);

/* ---- transport.c ----------------------------------------------------------------- */
int nvmf_transport_create(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_transport_ops *ops,
			  const struct axon_nvmf_transport_opts *opts, void *specific_opts,
			  struct axon_nvmf_transport **out, char *err, size_t errlen);
void nvmf_transport_destroy(struct axon_nvmf_transport *transport, void (*cb)(void *), void *cb_arg);
const struct axon_nvmf_transport_ops *nvmf_transport_ops_first(void);
const struct axon_nvmf_transport_ops *nvmf_transport_ops_next(const struct axon_nvmf_transport_ops *prev);
/** Common options as JSON (nvmf_get_transports / save_config). */
json_t *nvmf_transport_opts_json(struct axon_nvmf_transport *transport);

#endif /* AXON_NVMF_INTERNAL_H */
