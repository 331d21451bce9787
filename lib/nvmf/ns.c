/*
 * Namespaces: add and remove (hot, around a pause of the subsystem), the bdev
 * event callback, and accessors. App thread.
 *
 * Add:    reserve nsid -> open bdev -> [pause] -> publish -> [resume] -> AEN -> done
 * Remove: mark removing -> [pause] -> unpublish -> [resume] -> close bdev -> AEN -> done
 * The bracketed steps are skipped while the subsystem is inactive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

enum ns_op_step {
	NS_OP_PAUSE,   /* pause the subsystem (or skip if inactive) */
	NS_OP_CHANGE,  /* publish / unpublish the namespace */
	NS_OP_RESUME,  /* resume (or skip) */
	NS_OP_FINISH,  /* close the bdev (remove), notify controllers, call back */
};

struct ns_op {
	struct axon_nvmf_subsystem *s;
	struct axon_nvmf_ns *ns;
	bool add;
	bool paused;  /* we paused it, so we resume it */
	int status;
	enum ns_op_step step;
	axon_nvmf_ns_done_cb cb;
	void *cb_arg;
};

static void ns_op_run(struct ns_op *op);

static void ns_free(struct axon_nvmf_ns *ns)
{
	if (ns->desc != NULL) {
		axon_bdev_close(ns->desc);
	}
	free(ns);
}

static void ns_op_state_done(struct axon_nvmf_subsystem *s, void *cb_arg, int status)
{
	struct ns_op *op = cb_arg;

	(void)s;
	if (status != 0 && op->status == 0) {
		op->status = status;
	}
	ns_op_run(op);
}

static bool subsystem_is_serving(const struct axon_nvmf_subsystem *s)
{
	return s->state != AXON_NVMF_SUBSYSTEM_INACTIVE && s->state != AXON_NVMF_SUBSYSTEM_DEACTIVATING;
}

static void ns_op_finish(struct ns_op *op)
{
	struct axon_nvmf_subsystem *s = op->s;
	uint32_t nsid = op->ns->nsid;

	if (op->add) {
		s->nsid_reserved[nsid - 1] = 0;
		if (op->status != 0) {
			ns_free(op->ns);
		}
	} else if (op->status == 0) {
		ns_free(op->ns);
	} else {
		op->ns->removing = false;
	}
	if (op->status == 0) {
		nvmf_subsystem_notify_ns_change(s, nsid);
	}
	if (op->cb != NULL) {
		op->cb(op->cb_arg, nsid, op->status);
	}
	s->ns_ops_pending--;
	free(op);
	nvmf_subsystem_try_free(s);
}

/* The state machine of one add/remove: each case starts one step and either
 * falls into the next or returns to be called back by the state change. */
static void ns_op_run(struct ns_op *op)
{
	struct axon_nvmf_subsystem *s = op->s;
	int rc;

	switch (op->step) {
	case NS_OP_PAUSE:
		op->step = NS_OP_CHANGE;
		if (subsystem_is_serving(s)) {
			op->paused = true;
			rc = axon_nvmf_subsystem_pause(s, ns_op_state_done, op);
			if (rc == 0) {
				return;
			}
			op->paused = false;
			op->status = rc;
		}
		/* fall through */
	case NS_OP_CHANGE:
		op->step = NS_OP_RESUME;
		if (op->status == 0) {
			s->ns[op->ns->nsid - 1] = op->add ? op->ns : NULL;
		}
		/* fall through */
	case NS_OP_RESUME:
		op->step = NS_OP_FINISH;
		if (op->paused) {
			op->paused = false;
			rc = axon_nvmf_subsystem_resume(s, ns_op_state_done, op);
			if (rc == 0) {
				return;
			}
			AXON_ERRLOG("nvmf: %s stays paused: out of memory\n", s->nqn);
		}
		/* fall through */
	case NS_OP_FINISH:
		ns_op_finish(op);
		return;
	}
}

static void ns_bdev_event(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	struct axon_nvmf_ns *ns = ctx;

	(void)bdev;
	switch (type) {
	case AXON_BDEV_EVENT_REMOVE:
		AXON_NOTICELOG("nvmf: bdev %s is going away: removing nsid %u of %s\n",
			       ns->bdev_name, ns->nsid, ns->subsystem->nqn);
		if (!ns->removing) {
			axon_nvmf_subsystem_remove_ns(ns->subsystem, ns->nsid, NULL, NULL);
		}
		break;
	case AXON_BDEV_EVENT_RESIZE:
		nvmf_subsystem_notify_ns_change(ns->subsystem, ns->nsid);
		break;
	}
}

static bool bytes_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

static int ns_pick_nsid(struct axon_nvmf_subsystem *s, uint32_t want, uint32_t *nsid)
{
	if (want != 0) {
		if (want > s->max_nsid || want == NVME_NSID_ALL) {
			return -EINVAL;
		}
		if (s->ns[want - 1] != NULL || s->nsid_reserved[want - 1]) {
			return -EEXIST;
		}
		*nsid = want;
		return 0;
	}
	for (uint32_t i = 0; i < s->max_nsid; i++) {
		if (s->ns[i] == NULL && !s->nsid_reserved[i]) {
			*nsid = i + 1;
			return 0;
		}
	}
	return -ENOSPC;
}

int axon_nvmf_subsystem_add_ns(struct axon_nvmf_subsystem *s, const char *bdev_name,
			       const struct axon_nvmf_ns_opts *opts, axon_nvmf_ns_done_cb cb,
			       void *cb_arg)
{
	struct axon_nvmf_ns_opts defaults = {0};
	struct axon_nvmf_ns *ns;
	struct ns_op *op;
	uint32_t nsid = 0;
	int rc;

	if (s == NULL || bdev_name == NULL) {
		return -EINVAL;
	}
	if (opts == NULL) {
		opts = &defaults;
	}
	if (s->subtype != AXON_NVMF_SUBTYPE_NVME || s->destroying) {
		rc = -EINVAL;
		goto done;
	}
	rc = ns_pick_nsid(s, opts->nsid, &nsid);
	if (rc != 0) {
		goto done;
	}
	ns = calloc(1, sizeof(*ns));
	op = calloc(1, sizeof(*op));
	if (ns == NULL || op == NULL) {
		free(ns);
		free(op);
		rc = -ENOMEM;
		goto done;
	}
	ns->nsid = nsid;
	ns->subsystem = s;
	ns->opts = *opts;
	ns->opts.nsid = nsid;
	axon_strscpy(ns->bdev_name, bdev_name, sizeof(ns->bdev_name));
	rc = axon_bdev_open_ext(bdev_name, true, ns_bdev_event, ns, &ns->desc);
	if (rc != 0) {
		free(ns);
		free(op);
		goto done;
	}
	ns->bdev = axon_bdev_desc_get_bdev(ns->desc);
	/* Keep the bdev's canonical name, whatever alias the user gave. */
	axon_strscpy(ns->bdev_name, axon_bdev_get_name(ns->bdev), sizeof(ns->bdev_name));
	if (axon_uuid_is_null(&ns->opts.uuid)) {
		ns->opts.uuid = *axon_bdev_get_uuid(ns->bdev);
	}
	if (bytes_zero(ns->opts.nguid, sizeof(ns->opts.nguid))) {
		memcpy(ns->opts.nguid, ns->opts.uuid.u, sizeof(ns->opts.nguid));
	}
	s->nsid_reserved[nsid - 1] = 1;
	s->ns_ops_pending++;
	op->s = s;
	op->ns = ns;
	op->add = true;
	op->cb = cb;
	op->cb_arg = cb_arg;
	op->step = NS_OP_PAUSE;
	ns_op_run(op);
	return 0;

done:
	if (cb != NULL) {
		cb(cb_arg, nsid, rc);
	}
	return 0;
}

int axon_nvmf_subsystem_remove_ns(struct axon_nvmf_subsystem *s, uint32_t nsid,
				  axon_nvmf_ns_done_cb cb, void *cb_arg)
{
	struct axon_nvmf_ns *ns;
	struct ns_op *op;

	if (s == NULL) {
		return -EINVAL;
	}
	ns = axon_nvmf_subsystem_get_ns(s, nsid);
	if (ns == NULL || ns->removing) {
		if (cb != NULL) {
			cb(cb_arg, nsid, -ENOENT);
		}
		return 0;
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		if (cb != NULL) {
			cb(cb_arg, nsid, -ENOMEM);
		}
		return 0;
	}
	ns->removing = true;
	s->ns_ops_pending++;
	op->s = s;
	op->ns = ns;
	op->cb = cb;
	op->cb_arg = cb_arg;
	op->step = NS_OP_PAUSE;
	ns_op_run(op);
	return 0;
}

void nvmf_subsystem_free_all_ns(struct axon_nvmf_subsystem *s)
{
	for (uint32_t i = 0; i < s->max_nsid; i++) {
		if (s->ns[i] != NULL) {
			ns_free(s->ns[i]);
			s->ns[i] = NULL;
		}
	}
}

bool nvmf_subsystem_ns_visible(struct axon_nvmf_subsystem *s, uint32_t nsid)
{
	return nsid >= 1 && nsid <= s->max_nsid && s->ns[nsid - 1] != NULL;
}

struct axon_nvmf_ns *axon_nvmf_subsystem_get_ns(struct axon_nvmf_subsystem *s, uint32_t nsid)
{
	return nvmf_subsystem_ns_visible(s, nsid) ? s->ns[nsid - 1] : NULL;
}

struct axon_nvmf_ns *axon_nvmf_subsystem_get_first_ns(struct axon_nvmf_subsystem *s)
{
	for (uint32_t i = 0; i < s->max_nsid; i++) {
		if (s->ns[i] != NULL) {
			return s->ns[i];
		}
	}
	return NULL;
}

struct axon_nvmf_ns *axon_nvmf_subsystem_get_next_ns(struct axon_nvmf_subsystem *s,
						     struct axon_nvmf_ns *prev)
{
	for (uint32_t i = prev->nsid; i < s->max_nsid; i++) {
		if (s->ns[i] != NULL) {
			return s->ns[i];
		}
	}
	return NULL;
}

uint32_t axon_nvmf_ns_get_id(const struct axon_nvmf_ns *ns)
{
	return ns->nsid;
}

const char *axon_nvmf_ns_get_bdev_name(const struct axon_nvmf_ns *ns)
{
	return ns->bdev_name;
}

const struct axon_nvmf_ns_opts *axon_nvmf_ns_get_opts(const struct axon_nvmf_ns *ns)
{
	return &ns->opts;
}
