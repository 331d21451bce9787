/*
 * Axon NVMe over Fabrics target: the target, its subsystems, namespaces,
 * hosts, listeners and discovery referrals.
 *
 * One target (axon_nvmf_get_tgt()) is created by the "nvmf" event subsystem,
 * with one poll group per reactor (an axon_thread pinned to each core). The
 * target, its subsystems and everything configured on them belong to the app
 * thread: every function here runs there unless it says otherwise. A
 * controller belongs to the thread of its admin queue pair; an I/O queue pair
 * to the thread of its poll group.
 *
 * A subsystem's namespaces change only while the subsystem is paused on every
 * poll group (no request of the subsystem in flight, new ones held back), so
 * poll groups and controllers read them without locks.
 *
 * The transport interface (what NVMe/TCP and NVMe/RDMA implement) is in
 * axon/nvmf_transport.h.
 */
#ifndef AXON_NVMF_H
#define AXON_NVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "axon/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct axon_nvmf_tgt;
struct axon_nvmf_subsystem;
struct axon_nvmf_ns;
struct axon_nvmf_ctrlr;
struct axon_nvmf_qpair;
struct axon_nvmf_transport;
struct axon_nvmf_poll_group;

/** The well-known discovery subsystem NQN. */
#define AXON_NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
/** Serial / model number fields of Identify Controller, without a NUL. */
#define AXON_NVMF_SN_MAX_LEN 20
#define AXON_NVMF_MN_MAX_LEN 40
#define AXON_NVMF_TRSTRING_MAX_LEN 32
#define AXON_NVMF_TRADDR_MAX_LEN 256
#define AXON_NVMF_TRSVCID_MAX_LEN 32
/** Default of nvmf_set_max_subsystems. */
#define AXON_NVMF_DEFAULT_MAX_SUBSYSTEMS 1024
/** Default max_namespaces of a subsystem created with 0. */
#define AXON_NVMF_DEFAULT_MAX_NAMESPACES 32

/* ---- transport ids ---------------------------------------------------- */

/** Where a listener listens, or where a queue pair's peer is. */
struct axon_nvmf_trid {
	uint8_t trtype;   /* enum nvmf_trtype (NVMF_TRTYPE_TCP, NVMF_TRTYPE_RDMA) */
	uint8_t adrfam;   /* NVMF_ADDR_FAMILY_IP4 / _IP6 */
	char trstring[AXON_NVMF_TRSTRING_MAX_LEN + 1]; /* "TCP", "RDMA": the registered name */
	char traddr[AXON_NVMF_TRADDR_MAX_LEN + 1];
	char trsvcid[AXON_NVMF_TRSVCID_MAX_LEN + 1];
};

/** Same transport, family, address and service (strings compared exactly, trstring caselessly). */
bool axon_nvmf_trid_equal(const struct axon_nvmf_trid *a, const struct axon_nvmf_trid *b);
/** "ipv4"/"IPv4" -> NVMF_ADDR_FAMILY_IP4, "ipv6", "ib", "fc". Returns 0 or -EINVAL. */
int axon_nvmf_adrfam_parse(const char *str, uint8_t *adrfam);
/** "IPv4", "IPv6", "IB", "FC"; "unknown" otherwise. */
const char *axon_nvmf_adrfam_str(uint8_t adrfam);
/** {"trtype","adrfam","traddr","trsvcid"} as SPDK prints a listen address (new reference). */
json_t *axon_nvmf_trid_to_json(const struct axon_nvmf_trid *trid);

/* ---- target --------------------------------------------------------------- */

struct axon_nvmf_tgt_opts {
	/** Most subsystems, the discovery subsystem included. */
	uint32_t max_subsystems;
	/** Discovery log filter: a host sees the listeners matching the one it asked
	 *  on by transport / address / service; 0 = match any (SPDK "match_any"). */
	uint32_t discovery_filter;
};
#define AXON_NVMF_DISC_FILTER_MATCH_ANY 0u
#define AXON_NVMF_DISC_FILTER_TRTYPE (1u << 0)
#define AXON_NVMF_DISC_FILTER_TRADDR (1u << 1)
#define AXON_NVMF_DISC_FILTER_TRSVCID (1u << 2)

/** The target of this process, or NULL before the nvmf subsystem started. Any thread. */
struct axon_nvmf_tgt *axon_nvmf_get_tgt(void);

/**
 * Create a target with its discovery subsystem. Poll groups are added by
 * calling axon_nvmf_poll_group_create() on each thread that should run one.
 * Returns NULL (logged) on -ENOMEM or bad opts.
 */
struct axon_nvmf_tgt *axon_nvmf_tgt_create(const struct axon_nvmf_tgt_opts *opts);

/**
 * Destroy the target: every subsystem is deleted (controllers torn down),
 * every transport destroyed. Poll groups must have been destroyed first.
 * cb(cb_arg) runs on the calling thread when done.
 */
void axon_nvmf_tgt_destroy(struct axon_nvmf_tgt *tgt, void (*cb)(void *cb_arg), void *cb_arg);

/** Poll groups of the target, in creation order (any thread that does not race a create). */
uint32_t axon_nvmf_tgt_get_poll_group_count(const struct axon_nvmf_tgt *tgt);

/**
 * Create a poll group on the calling thread: it registers the group's poller
 * and creates a transport poll group for every transport of the target (and
 * for transports added later). Returns NULL on failure (logged).
 */
struct axon_nvmf_poll_group *axon_nvmf_poll_group_create(struct axon_nvmf_tgt *tgt);

/**
 * Destroy a poll group on its thread: every queue pair on it is disconnected,
 * then the transport poll groups are destroyed. cb(cb_arg) runs on this thread.
 */
void axon_nvmf_poll_group_destroy(struct axon_nvmf_poll_group *group,
				  void (*cb)(void *cb_arg), void *cb_arg);

/* ---- subsystems ------------------------------------------------------------ */

enum axon_nvmf_subtype {
	AXON_NVMF_SUBTYPE_DISCOVERY = 1, /* NVME_NQN_DISC */
	AXON_NVMF_SUBTYPE_NVME = 2,      /* NVME_NQN_NVME */
};

/**
 * Subsystem states. Transitions run on every poll group in turn and are
 * serialised per subsystem (a change asked for while one runs waits its turn).
 */
enum axon_nvmf_subsystem_state {
	AXON_NVMF_SUBSYSTEM_INACTIVE = 0, /* created or stopped: no I/O, connects refused */
	AXON_NVMF_SUBSYSTEM_ACTIVATING,   /* poll groups taking namespace channels */
	AXON_NVMF_SUBSYSTEM_ACTIVE,       /* serving */
	AXON_NVMF_SUBSYSTEM_PAUSING,      /* poll groups draining in-flight requests */
	AXON_NVMF_SUBSYSTEM_PAUSED,       /* nothing in flight; new requests held back */
	AXON_NVMF_SUBSYSTEM_RESUMING,     /* poll groups syncing namespaces, releasing held requests */
	AXON_NVMF_SUBSYSTEM_DEACTIVATING, /* poll groups dropping channels */
};

const char *axon_nvmf_subsystem_state_str(enum axon_nvmf_subsystem_state state);

/** True for a well-formed NQN (NVMe Base 4.5: "nqn.yyyy-mm.reverse-domain:..." or
 *  "nqn.2014-08.org.nvmexpress:uuid:<uuid>", at most 223 bytes, valid UTF-8). */
bool axon_nvmf_nqn_is_valid(const char *nqn);

/**
 * Create an inactive subsystem. Returns NULL and sets *rc: -EINVAL (bad NQN,
 * or the discovery NQN for an NVMe subsystem), -EEXIST (NQN taken), -ENOSPC
 * (max_subsystems reached), -ENOMEM. max_namespaces 0 means the default.
 */
struct axon_nvmf_subsystem *axon_nvmf_subsystem_create(struct axon_nvmf_tgt *tgt, const char *nqn,
						       enum axon_nvmf_subtype subtype,
						       uint32_t max_namespaces, int *rc);

typedef void (*axon_nvmf_subsystem_state_cb)(struct axon_nvmf_subsystem *subsystem, void *cb_arg,
					     int status);

/** Start / stop / pause / resume. cb(subsystem, cb_arg, status) runs on the app
 *  thread when the subsystem reached the state (status 0) or could not
 *  (-EINVAL for a transition from the wrong state, -ENOMEM). Returns 0 or -ENOMEM. */
int axon_nvmf_subsystem_start(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			      void *cb_arg);
int axon_nvmf_subsystem_stop(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			     void *cb_arg);
int axon_nvmf_subsystem_pause(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			      void *cb_arg);
int axon_nvmf_subsystem_resume(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			       void *cb_arg);

/**
 * Stop the subsystem, tear down its controllers, close its namespaces and free
 * it. cb(cb_arg) runs on the app thread when it is gone. Returns 0, -EINVAL
 * (the discovery subsystem), or -EALREADY (being destroyed).
 */
int axon_nvmf_subsystem_destroy(struct axon_nvmf_subsystem *s, void (*cb)(void *cb_arg),
				void *cb_arg);

struct axon_nvmf_subsystem *axon_nvmf_tgt_find_subsystem(struct axon_nvmf_tgt *tgt, const char *nqn);
/** Subsystems in creation order (the discovery subsystem first); NULL ends. */
struct axon_nvmf_subsystem *axon_nvmf_subsystem_get_first(struct axon_nvmf_tgt *tgt);
struct axon_nvmf_subsystem *axon_nvmf_subsystem_get_next(struct axon_nvmf_subsystem *prev);

const char *axon_nvmf_subsystem_get_nqn(const struct axon_nvmf_subsystem *s);
enum axon_nvmf_subtype axon_nvmf_subsystem_get_type(const struct axon_nvmf_subsystem *s);
enum axon_nvmf_subsystem_state axon_nvmf_subsystem_get_state(const struct axon_nvmf_subsystem *s);

/** Serial number: ASCII printable, 1..20 bytes. Returns 0 or -EINVAL. */
int axon_nvmf_subsystem_set_sn(struct axon_nvmf_subsystem *s, const char *sn);
const char *axon_nvmf_subsystem_get_sn(const struct axon_nvmf_subsystem *s);
/** Model number: ASCII printable, 1..40 bytes. Returns 0 or -EINVAL. */
int axon_nvmf_subsystem_set_mn(struct axon_nvmf_subsystem *s, const char *mn);
const char *axon_nvmf_subsystem_get_mn(const struct axon_nvmf_subsystem *s);
/** Controller ids handed out: 1 <= min <= max <= 0xffef. Only while inactive:
 *  returns 0, -EINVAL, or -EBUSY. */
int axon_nvmf_subsystem_set_cntlid_range(struct axon_nvmf_subsystem *s, uint16_t min_cntlid,
					 uint16_t max_cntlid);
uint16_t axon_nvmf_subsystem_get_min_cntlid(const struct axon_nvmf_subsystem *s);
uint16_t axon_nvmf_subsystem_get_max_cntlid(const struct axon_nvmf_subsystem *s);
uint32_t axon_nvmf_subsystem_get_max_nsid(const struct axon_nvmf_subsystem *s);

/* ---- hosts ------------------------------------------------------------------ */

/** Let any host connect (true) or only the listed ones. */
void axon_nvmf_subsystem_set_allow_any_host(struct axon_nvmf_subsystem *s, bool allow);
bool axon_nvmf_subsystem_get_allow_any_host(const struct axon_nvmf_subsystem *s);
/** Returns 0, -EINVAL (bad NQN), -EEXIST, -ENOMEM. */
int axon_nvmf_subsystem_add_host(struct axon_nvmf_subsystem *s, const char *hostnqn);
/** Returns 0 or -ENOENT. Connected controllers of that host stay connected. */
int axon_nvmf_subsystem_remove_host(struct axon_nvmf_subsystem *s, const char *hostnqn);
/** True if hostnqn may connect (allow_any_host or listed). */
bool axon_nvmf_subsystem_host_allowed(const struct axon_nvmf_subsystem *s, const char *hostnqn);
/** Hosts in the order added; NULL ends. */
const char *axon_nvmf_subsystem_get_first_host(const struct axon_nvmf_subsystem *s);
const char *axon_nvmf_subsystem_get_next_host(const struct axon_nvmf_subsystem *s,
					      const char *prev);

/* ---- listeners ---------------------------------------------------------------- */

/**
 * Let hosts reach the subsystem through trid. The target listens on trid with
 * the transport named trid->trstring (a listen shared by several subsystems is
 * made once). Returns 0, -EEXIST (already a listener of s), -ENODEV (no such
 * transport: create it first), or the transport's listen error (-EADDRINUSE ...).
 */
int axon_nvmf_subsystem_add_listener(struct axon_nvmf_subsystem *s, const struct axon_nvmf_trid *trid);
/** Returns 0 or -ENOENT. Queue pairs already connected through it stay. */
int axon_nvmf_subsystem_remove_listener(struct axon_nvmf_subsystem *s,
					const struct axon_nvmf_trid *trid);
/** True if trid is a listener of s. */
bool axon_nvmf_subsystem_listener_allowed(const struct axon_nvmf_subsystem *s,
					  const struct axon_nvmf_trid *trid);
/** Listeners in the order added; NULL ends. */
const struct axon_nvmf_trid *axon_nvmf_subsystem_get_first_listener(const struct axon_nvmf_subsystem *s);
const struct axon_nvmf_trid *axon_nvmf_subsystem_get_next_listener(const struct axon_nvmf_subsystem *s,
								  const struct axon_nvmf_trid *prev);

/* ---- namespaces --------------------------------------------------------------- */

struct axon_nvmf_ns_opts {
	/** 0: the lowest free nsid. */
	uint32_t nsid;
	/** Identifiers; all-zero means: UUID from the bdev's, NGUID = UUID, no EUI64. */
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct axon_uuid uuid;
};

typedef void (*axon_nvmf_ns_done_cb)(void *cb_arg, uint32_t nsid, int status);

/**
 * Add a namespace on bdev_name. The bdev is opened here (writable); a bdev
 * removal later removes the namespace. If the subsystem is active it is
 * paused, changed, and resumed, and connected controllers get a Namespace
 * Attribute Changed event. cb(cb_arg, nsid, status) runs on the app thread:
 * status 0, -ENODEV (no such bdev), -EEXIST (nsid in use), -EINVAL (nsid
 * beyond max_namespaces), -ENOSPC (no free nsid), -ENOMEM, or a bdev open error.
 * Returns 0 (cb will run) or -EINVAL (NULL argument).
 */
int axon_nvmf_subsystem_add_ns(struct axon_nvmf_subsystem *s, const char *bdev_name,
			       const struct axon_nvmf_ns_opts *opts, axon_nvmf_ns_done_cb cb,
			       void *cb_arg);

/** Remove namespace nsid (pausing around it as above). cb status: 0 or -ENOENT. */
int axon_nvmf_subsystem_remove_ns(struct axon_nvmf_subsystem *s, uint32_t nsid,
				  axon_nvmf_ns_done_cb cb, void *cb_arg);

struct axon_nvmf_ns *axon_nvmf_subsystem_get_ns(struct axon_nvmf_subsystem *s, uint32_t nsid);
/** Namespaces by increasing nsid; NULL ends. */
struct axon_nvmf_ns *axon_nvmf_subsystem_get_first_ns(struct axon_nvmf_subsystem *s);
struct axon_nvmf_ns *axon_nvmf_subsystem_get_next_ns(struct axon_nvmf_subsystem *s,
						     struct axon_nvmf_ns *prev);
uint32_t axon_nvmf_ns_get_id(const struct axon_nvmf_ns *ns);
const char *axon_nvmf_ns_get_bdev_name(const struct axon_nvmf_ns *ns);
const struct axon_nvmf_ns_opts *axon_nvmf_ns_get_opts(const struct axon_nvmf_ns *ns);

/* ---- discovery referrals -------------------------------------------------------- */

/** Add a referral to another discovery service. Returns 0, -EEXIST, -ENOMEM. */
int axon_nvmf_tgt_add_referral(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid,
			       const char *subnqn, bool secure_channel);
/** Returns 0 or -ENOENT. */
int axon_nvmf_tgt_remove_referral(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid,
				  const char *subnqn);

/** The discovery generation counter: changes on every change a discovery log shows. */
uint64_t axon_nvmf_tgt_get_discovery_genctr(const struct axon_nvmf_tgt *tgt);

#ifdef __cplusplus
}
#endif
#endif /* AXON_NVMF_H */
