/*
 * The mirror (RAID-1) bdev: the same data on two or more legs. Private to
 * drivers/bdev/mirror (its RPC file, its I/O file and the unit tests).
 *
 * Life of a mirror. bdev_raid_create names its legs; legs that exist are
 * opened and claimed at once, the others when they appear (the examine pass).
 * Until every leg expected to be healthy is there the mirror is CONFIGURING
 * and has no bdev; then its bdev registers (ONLINE), sized by its smallest
 * leg. A leg that fails an I/O which another leg completed is marked failed
 * and no longer read or written; a leg whose bdev goes away is released
 * (removed). With no healthy leg left the mirror is OFFLINE and fails all
 * I/O. A failed or removed leg stays so: there is no rebuild.
 *
 * Threads. Everything but the I/O path runs on the app thread. The only
 * state I/O threads share is the atomic mask of healthy legs.
 */
#ifndef AXON_BDEV_MIRROR_H
#define AXON_BDEV_MIRROR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "axon/bdev_module.h"

/* Most legs per mirror: each I/O's context holds one region per leg. */
#define MIRROR_MAX_LEGS 8

/* Where a leg is in its life (app thread). */
enum mirror_leg_state {
	/* Named, not opened yet: its bdev does not exist (yet). */
	MIRROR_LEG_MISSING,
	/* Opened and claimed; healthy or failed per the healthy mask. */
	MIRROR_LEG_PRESENT,
	/* Its bdev is going away: every channel is putting the leg's channel. */
	MIRROR_LEG_REMOVING,
	/* Released after its bdev went away; it does not come back. */
	MIRROR_LEG_REMOVED,
};

enum mirror_state {
	MIRROR_CONFIGURING, /* waiting for legs; no bdev */
	MIRROR_ONLINE,      /* registered, at least one healthy leg */
	MIRROR_OFFLINE,     /* registered, no healthy leg: I/O fails */
};

/* The mirror's bdev (app thread). */
enum mirror_reg {
	MIRROR_UNREGISTERED, /* configuring: no bdev yet */
	MIRROR_REGISTERED,
	MIRROR_DELETING,     /* bdev_raid_delete (or shutdown) is unregistering it */
};

struct mirror;

struct mirror_leg {
	struct mirror *mirror;
	char *name;
	enum mirror_leg_state state;
	/* Listed as failed at creation (a saved degraded mirror): claimed when it
	 * shows up but never read or written, and not waited for. */
	bool start_failed;
	struct axon_bdev *bdev;      /* while PRESENT or REMOVING */
	struct axon_bdev_desc *desc; /* the same */
	struct axon_uuid uuid;       /* known once it was opened */
	uint64_t num_blocks;         /* its size when opened */
};

struct mirror {
	struct axon_bdev bdev;       /* valid once registered */
	char *name;
	struct axon_uuid uuid;
	enum mirror_reg reg;
	uint32_t num_legs;
	struct mirror_leg legs[MIRROR_MAX_LEGS];
	/* Bit i: leg i is read and written. Cleared by any thread on a failure. */
	_Atomic uint64_t healthy;
	/* Set once the "no healthy leg" error was logged. */
	atomic_bool offline_logged;
	/* Leg removals whose channel walk has not finished (app thread). */
	uint32_t removals;
	/* The io_device is gone after unregistration: free when removals is 0. */
	bool device_gone;
	TAILQ_ENTRY(mirror) link;
};

struct mirror_create_opts {
	const char *name;
	const char *const *legs;
	uint32_t num_legs;
	/* Legs (a subset of legs) that start failed; see start_failed. */
	const char *const *failed_legs;
	uint32_t num_failed_legs;
	struct axon_uuid uuid; /* null: generated */
};

/* A message saying why an operation was refused. */
#define MIRROR_ERR_LEN 320

/*
 * Create a mirror: open and claim the legs that exist, register its bdev if
 * every expected leg is there, else leave it CONFIGURING. App thread.
 * Returns 0 and sets *mp, or a negative errno with err (MIRROR_ERR_LEN bytes)
 * saying why, naming the leg at fault: -EINVAL (too few or many legs, a leg
 * listed twice, a failed leg not among the legs, a block size differing from
 * the other legs'), -EEXIST (name or uuid taken), -EPERM (a leg is claimed
 * by another module or open for writing), -ENOMEM.
 */
int mirror_create(const struct mirror_create_opts *opts, struct mirror **mp, char *err);

/*
 * Delete the mirror named name: unregister its bdev (cb when it is gone) or,
 * while configuring, release its legs (cb before returning). App thread.
 * Returns 0 (cb will run), -ENODEV (no such mirror) or -EBUSY (being deleted).
 */
int mirror_delete(const char *name, axon_bdev_unregister_cb cb, void *cb_arg);

struct mirror *mirror_find(const char *name);
struct mirror *mirror_first(void);
struct mirror *mirror_next(struct mirror *m);

enum mirror_state mirror_get_state(const struct mirror *m);
/* "online", "configuring", "offline". */
const char *mirror_state_name(enum mirror_state state);
/* "healthy", "failed", "removed", "missing". */
const char *mirror_leg_state_name(const struct mirror_leg *leg);
bool mirror_leg_is_healthy(const struct mirror_leg *leg);

/* Fill obj with the bdev_raid_get_bdevs fields of m (not name and uuid). */
void mirror_info_json(const struct mirror *m, json_t *obj);

/* Mark leg failed (any thread): it is no longer read or written. op names
 * what failed, for the log. */
void mirror_leg_fail(struct mirror *m, uint32_t leg, const char *op);

/* bdev_mirror_io.c: channels and the I/O path. */
int mirror_channel_create(void *io_device, void *ctx);
void mirror_channel_destroy(void *io_device, void *ctx);
size_t mirror_channel_size(void);
int mirror_io_ctx_size(void);
void mirror_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *io);
bool mirror_io_type_supported(void *ctx, enum axon_bdev_io_type type);
struct axon_io_channel *mirror_get_io_channel(void *ctx);
/* Put leg's channel on the calling thread's mirror channel ch. */
void mirror_channel_drop_leg(struct axon_io_channel *ch, uint32_t leg);

extern struct axon_bdev_module g_mirror_module;

#endif /* AXON_BDEV_MIRROR_H */
