/*
 * NVMe bdev: one bdev per active namespace of an attached NVMe controller
 * (PCIe or NVMe-oF), named <controller name>n<nsid>.
 *
 * Objects and their threads:
 *  - struct nvme_bdev_ctrlr: an attached controller. It and its lib/nvme
 *    admin queue belong to the thread that attached it (the app thread, as
 *    RPCs run there); an admin poller there drives keep alive, events,
 *    resets and namespace changes. It is also an io_device: each thread's
 *    channel to it (struct nvme_ctrlr_channel) owns that thread's I/O qpair.
 *  - struct nvme_bdev: the bdev of one namespace. Its get_io_channel returns
 *    the controller's channel, so every namespace of a controller shares the
 *    thread's one qpair.
 *  - struct nvme_poll_group: per thread (io_device g_nvme_poll_groups), a
 *    lib/nvme poll group holding the thread's qpairs of every controller, and
 *    one poller reaping them.
 *  - struct nvme_bdev_io: the per-I/O context (bdev_io->driver_ctx).
 */
#ifndef AXON_BDEV_NVME_INTERNAL_H
#define AXON_BDEV_NVME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "axon/bdev_module.h"
#include "axon/nvme.h"
#include "axon/thread.h"

/* ---- options (bdev_nvme_set_options) ------------------------------------------ */

struct nvme_bdev_opts {
	enum axon_nvme_timeout_action action_on_timeout;
	uint64_t timeout_us;
	uint32_t keep_alive_timeout_ms;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	/* Times an I/O aborted by a reset or a lost connection is retried (-1: always). */
	int32_t bdev_retry_count;
};

extern struct nvme_bdev_opts g_nvme_bdev_opts;
/* True once a controller was attached: set_options is refused afterwards. */
extern bool g_nvme_bdev_opts_frozen;

void nvme_bdev_opts_defaults(struct nvme_bdev_opts *opts);
/* "none", "abort", "reset" <-> the enum. Returns 0 or -EINVAL. */
int nvme_bdev_timeout_action_parse(const char *str, enum axon_nvme_timeout_action *action);
const char *nvme_bdev_timeout_action_str(enum axon_nvme_timeout_action action);
/*
 * Check the reconnect settings as SPDK does: loss 0 means no reconnect (delay
 * and fast fail must be 0); loss -1 means forever (delay > 0); otherwise
 * 0 < delay <= loss and fast fail (if set) between delay and loss.
 * Returns NULL, or what was expected, with *param naming the culprit.
 */
const char *nvme_bdev_check_reconnect(int32_t loss, uint32_t delay, uint32_t fast_fail,
				      const char **param);

/* ---- controllers and namespaces ------------------------------------------------ */

enum nvme_bdev_ctrlr_state {
	NVME_BDEV_CTRLR_CONNECTING = 0, /* the init state machine runs (attach) */
	NVME_BDEV_CTRLR_ENABLED,        /* ready; bdevs registered */
	NVME_BDEV_CTRLR_RESETTING,      /* a reset or reconnect runs */
	NVME_BDEV_CTRLR_FAILED,         /* given up (loss timeout): I/O fails */
	NVME_BDEV_CTRLR_DELETING,       /* detaching */
};

/* Steps of a reset we started (bdev_nvme_reset_controller, a bdev reset). */
enum nvme_bdev_reset_step {
	NVME_RESET_STEP_NONE = 0,
	NVME_RESET_STEP_DROP_QPAIRS,  /* each channel frees its qpair, queueing its I/O */
	NVME_RESET_STEP_CTRLR,        /* lib/nvme resets the controller */
	NVME_RESET_STEP_NEW_QPAIRS,   /* each channel reconnects and resubmits */
};

typedef void (*nvme_bdev_done_cb)(void *cb_arg, int rc);

/* Someone waiting for a reset to end. */
struct nvme_reset_waiter {
	nvme_bdev_done_cb cb;
	void *cb_arg;
	TAILQ_ENTRY(nvme_reset_waiter) link;
};

struct nvme_discovery;

/*
 * End of an attach: rc 0 with names, a JSON array of the bdevs created
 * (borrowed), or rc -errno with why, a message naming what failed.
 */
typedef void (*nvme_attach_cb)(void *cb_arg, int rc, json_t *names, const char *why);

struct nvme_bdev_ctrlr {
	char *name;
	struct axon_nvme_trid trid;
	struct axon_nvme_ctrlr_opts opts;
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_thread *thread;
	struct axon_poller *poller; /* connect, then admin */
	enum nvme_bdev_ctrlr_state state;
	bool io_device_registered;
	/* Attached by a discovery service: not in save_config. */
	struct nvme_discovery *discovery;

	/* bdevs registered and not yet destructed */
	TAILQ_HEAD(, nvme_bdev) bdevs;
	uint32_t num_bdevs;

	/* attach: the caller's callback, with the bdev names created */
	nvme_attach_cb attach_cb;
	void *attach_cb_arg;
	/* The hostnqn parameter as given (NULL: the default), for save_config. */
	char *hostnqn_param;
	uint64_t poll_period_us;
	bool detach_continued;

	/* detach */
	nvme_bdev_done_cb detach_cb;
	void *detach_cb_arg;

	/* 1 (the controller's own) + qpair connects running on helper threads:
	 * the controller is detached only when it drops to 0. */
	uint32_t qpair_refs;

	/* reset */
	enum nvme_bdev_reset_step reset_step;
	bool lib_resetting;   /* lib/nvme's reset was running at the last poll */
	int reset_rc;
	TAILQ_HEAD(, nvme_reset_waiter) reset_waiters;

	TAILQ_ENTRY(nvme_bdev_ctrlr) link;
};

struct nvme_bdev {
	struct axon_bdev bdev;
	struct nvme_bdev_ctrlr *nctrlr;
	/* NULL once the namespace is gone: I/O then fails with Invalid Namespace. */
	struct axon_nvme_ns *ns;
	uint32_t nsid;
	bool unregistering;
	TAILQ_ENTRY(nvme_bdev) link;
};

extern struct axon_bdev_module g_nvme_bdev_module;
extern TAILQ_HEAD(nvme_bdev_ctrlr_list, nvme_bdev_ctrlr) g_nvme_bdev_ctrlrs;

struct nvme_bdev_ctrlr *nvme_bdev_ctrlr_find(const char *name);

/* Parameters of an attach, from the RPC or a discovery log entry. */
struct nvme_attach_opts {
	const char *name;
	struct axon_nvme_trid trid;
	const char *hostnqn;     /* NULL: the default host NQN */
	bool hdgst, ddgst;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	struct nvme_discovery *discovery;
};

/* Zero opts and fill its reconnect fields from the global options. */
void nvme_attach_opts_init(struct nvme_attach_opts *opts);

/*
 * Start attaching; cb (see nvme_attach_cb) runs later, never from here. App thread.
 * Returns 0 (cb will run), -EEXIST (name taken), -ENODEV (transport not
 * built in), -EINVAL (the connect was refused at once; logged), -ENOMEM,
 * -ESHUTDOWN (the module is stopping).
 */
int nvme_bdev_ctrlr_attach(const struct nvme_attach_opts *opts, nvme_attach_cb cb, void *cb_arg);

/* Unregister the bdevs, free the qpairs, detach. cb(cb_arg, 0) at the end
 * (may run before this returns). Not for a controller still connecting. */
void nvme_bdev_ctrlr_detach(struct nvme_bdev_ctrlr *nctrlr, nvme_bdev_done_cb cb, void *cb_arg);

/* "connecting", "enabled", "resetting", "failed", "deleting" */
const char *nvme_bdev_ctrlr_state_str(enum nvme_bdev_ctrlr_state state);

/* Name of the bdev of namespace nsid: "<ctrlr>n<nsid>" (malloc'ed, NULL if out of memory). */
char *nvme_bdev_name(const char *ctrlr_name, uint32_t nsid);

/* {"trtype":..., "adrfam":..., "traddr":..., "trsvcid":..., "subnqn":...} */
json_t *nvme_trid_to_json(const struct axon_nvme_trid *trid);

/* ---- I/O path (bdev_nvme_io.c) ---------------------------------------------------- */

/* A thread's qpair to one controller. */
enum nvme_channel_state {
	NVME_CH_CONNECTED = 0,
	NVME_CH_DISCONNECTED, /* lost: reconnect when the controller is ready */
	NVME_CH_RESETTING,    /* our reset dropped the qpair: wait for its new one */
};

struct nvme_poll_group;
struct qpair_connect;

struct nvme_ctrlr_channel {
	struct nvme_bdev_ctrlr *nctrlr;
	struct axon_nvme_qpair *qpair;
	struct qpair_connect *connecting; /* a new qpair is being connected */
	struct nvme_poll_group *group;
	struct axon_io_channel *group_ch;
	enum nvme_channel_state state;
	uint64_t next_reconnect_us;
	/* I/O held while disconnected or resetting, resubmitted in order. */
	TAILQ_HEAD(, axon_bdev_io) pending;
	uint32_t num_outstanding; /* submitted to lib/nvme, not completed */
	bool destroying;          /* aborted I/O completes instead of waiting */
	TAILQ_ENTRY(nvme_ctrlr_channel) link;
};

struct nvme_poll_group {
	struct axon_nvme_poll_group *group;
	struct axon_poller *poller;
	bool paused;
	TAILQ_HEAD(, nvme_ctrlr_channel) channels;
};

struct nvme_bdev_io {
	struct nvme_dsm_range range;
	uint32_t retries;
};

extern char g_nvme_poll_groups; /* io_device of the per-thread poll groups */

/* io_device callbacks of a controller. */
int nvme_ctrlr_channel_create(void *io_device, void *ctx_buf);
void nvme_ctrlr_channel_destroy(void *io_device, void *ctx_buf);
int nvme_poll_group_create_cb(void *io_device, void *ctx_buf);
void nvme_poll_group_destroy_cb(void *io_device, void *ctx_buf);

void nvme_bdev_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io);
bool nvme_bdev_io_type_supported(void *ctx, enum axon_bdev_io_type type);
int nvme_bdev_get_ctx_size(void);

/*
 * True if an I/O that completed with status should be tried again after the
 * qpair comes back: it was aborted by a reset or a lost connection, and it
 * has retries left.
 */
bool nvme_io_should_retry(uint16_t status, uint32_t retries, int32_t retry_count,
			  bool ctrlr_failed);

/*
 * Reset the controller as a bdev user sees it: drop every thread's qpair
 * (their I/O waits), reset, reconnect the qpairs and resubmit. cb(cb_arg, rc)
 * on the controller's thread. A reset while one runs joins it.
 */
void nvme_bdev_ctrlr_reset(struct nvme_bdev_ctrlr *nctrlr, nvme_bdev_done_cb cb, void *cb_arg);
/* Called on the controller's thread once its last qpair connect ended. */
void nvme_ctrlr_qpair_refs_drained(void *ctx);
/* The admin poller saw lib/nvme finish a reset (rc 0) or give up (-ENXIO). */
void nvme_bdev_ctrlr_lib_reset_done(struct nvme_bdev_ctrlr *nctrlr, int rc);

/* The status I/O fails with once the controller is lost: path-related, Host Pathing Error. */
#define NVME_BDEV_LOST_SCT 3
#define NVME_BDEV_LOST_SC 0x71
/* Generic: Invalid Namespace or Format, for a namespace that went away. */
#define NVME_BDEV_NS_GONE_SC 0x0b

/* ---- discovery (bdev_nvme_discovery.c) ----------------------------------------------- */

struct nvme_discovery_opts {
	const char *name;
	struct axon_nvme_trid trid;
	const char *hostnqn;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	bool wait_for_attach;
};

/* Start a discovery service; cb(cb_arg, rc) once the first log was attached
 * (wait_for_attach) or the discovery controller is connected. App thread. */
int nvme_discovery_start(const struct nvme_discovery_opts *opts, nvme_bdev_done_cb cb,
			 void *cb_arg);
/* Stop it and detach what it attached. Returns 0 or -ENOENT. */
int nvme_discovery_stop(const char *name, nvme_bdev_done_cb cb, void *cb_arg);
/* Append the discovery services' info (bdev_nvme_get_discovery_info) to array. */
void nvme_discovery_info_json(json_t *array);
/* Append bdev_nvme_start_discovery entries for save_config. */
void nvme_discovery_config_json(json_t *array);
/* A controller it attached went away (detached or failed to attach). */
void nvme_discovery_ctrlr_gone(struct nvme_discovery *disc, struct nvme_bdev_ctrlr *nctrlr);
/* True if a discovery service named name runs. */
bool nvme_discovery_exists(const char *name);
/* Stop every service (module fini); cb when all are gone. */
void nvme_discovery_stop_all(void (*cb)(void));

#endif /* AXON_BDEV_NVME_INTERNAL_H */
