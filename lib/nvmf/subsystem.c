/*
 * Subsystems: attributes, hosts, listeners, controllers list, and the state
 * machine that runs on every poll group. App thread.
 *
 * State machine. One transition function, subsystem_change_next(), takes
 * the oldest queued request (target ACTIVE, PAUSED or INACTIVE), picks the
 * transitional state from the current one, and walks every poll group with
 * axon_for_each_channel(tgt):
 *
 *   INACTIVE --start--> ACTIVATING --> ACTIVE --pause--> PAUSING --> PAUSED
 *      ^                                 ^  |                          |
 *      |                                 |  +--stop--+                 |
 *      +--------- DEACTIVATING <---------|-----------+------stop-------+
 *                                        +------- RESUMING <--resume---+
 *
 * On each poll group: ACTIVATING/RESUMING take channels for the namespaces
 * and release held requests; PAUSING holds new requests and waits for the
 * in-flight ones; DEACTIVATING fails new ones, waits, and puts the channels.
 * Requests arriving during a walk queue behind it, so namespaces only ever
 * change between PAUSED and RESUMING (or while INACTIVE).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

static const char *const g_state_names[] = {
	[AXON_NVMF_SUBSYSTEM_INACTIVE] = "inactive",
	[AXON_NVMF_SUBSYSTEM_ACTIVATING] = "activating",
	[AXON_NVMF_SUBSYSTEM_ACTIVE] = "active",
	[AXON_NVMF_SUBSYSTEM_PAUSING] = "pausing",
	[AXON_NVMF_SUBSYSTEM_PAUSED] = "paused",
	[AXON_NVMF_SUBSYSTEM_RESUMING] = "resuming",
	[AXON_NVMF_SUBSYSTEM_DEACTIVATING] = "deactivating",
};

const char *axon_nvmf_subsystem_state_str(enum axon_nvmf_subsystem_state state)
{
	return (size_t)state < AXON_COUNTOF(g_state_names) ? g_state_names[state] : "invalid";
}

/* ---- NQN, serial and model ---------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n;

		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2) {
			n = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
		} else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4) {
			n = 3;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xc0) != 0x80) {
				return false;
			}
		}
	}
	return true;
}

bool axon_nvmf_nqn_is_valid(const char *nqn)
{
	const char *p;
	size_t len;

	if (nqn == NULL) {
		return false;
	}
	len = strlen(nqn);
	if (len < 12 || len > AXON_NVMF_NQN_MAX_LEN || !utf8_valid(nqn)) {
		return false;
	}
	if (strcmp(nqn, AXON_NVMF_DISCOVERY_NQN) == 0) {
		return true;
	}
	if (strncmp(nqn, "nqn.2014-08.org.nvmexpress:uuid:", 32) == 0) {
		struct axon_uuid u;

		return strlen(nqn + 32) == 36 && axon_uuid_parse(&u, nqn + 32) == 0;
	}
	/* nqn.yyyy-mm.<reverse domain>:<anything> */
	if (strncmp(nqn, "nqn.", 4) != 0) {
		return false;
	}
	p = nqn + 4;
	for (int i = 0; i < 7; i++) {
		bool ok = i == 4 ? p[i] == '-' : (p[i] >= '0' && p[i] <= '9');

		if (!ok) {
			return false;
		}
	}
	if (p[7] != '.') {
		return false;
	}
	p += 8;
	/* Reverse domain: labels of letters, digits and '-', separated by '.'. */
	if (*p == '\0' || *p == '.' || *p == ':' || *p == '-') {
		return false;
	}
	for (; *p != '\0' && *p != ':'; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.')) {
			return false;
		}
		if (c == '.' && (p[1] == '.' || p[1] == '\0' || p[1] == ':')) {
			return false;
		}
	}
	/* The user part after ':' is optional in practice (nqn.2016-06.io.spdk:cnode1 has one). */
	return *p == '\0' || p[1] != '\0';
}

static bool ascii_printable(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return false;
		}
	}
	return true;
}

int axon_nvmf_subsystem_set_sn(struct axon_nvmf_subsystem *s, const char *sn)
{
	if (sn == NULL || !ascii_printable(sn, AXON_NVMF_SN_MAX_LEN)) {
		return -EINVAL;
	}
	axon_strscpy(s->sn, sn, sizeof(s->sn));
	return 0;
}

const char *axon_nvmf_subsystem_get_sn(const struct axon_nvmf_subsystem *s)
{
	return s->sn;
}

int axon_nvmf_subsystem_set_mn(struct axon_nvmf_subsystem *s, const char *mn)
{
	if (mn == NULL || !ascii_printable(mn, AXON_NVMF_MN_MAX_LEN)) {
		return -EINVAL;
	}
	axon_strscpy(s->mn, mn, sizeof(s->mn));
	return 0;
}

const char *axon_nvmf_subsystem_get_mn(const struct axon_nvmf_subsystem *s)
{
	return s->mn;
}

int axon_nvmf_subsystem_set_cntlid_range(struct axon_nvmf_subsystem *s, uint16_t min_cntlid,
					 uint16_t max_cntlid)
{
	if (s->state != AXON_NVMF_SUBSYSTEM_INACTIVE) {
		return -EBUSY;
	}
	if (min_cntlid < 1 || min_cntlid > max_cntlid || max_cntlid > AXON_NVMF_CNTLID_MAX) {
		return -EINVAL;
	}
	s->min_cntlid = min_cntlid;
	s->max_cntlid = max_cntlid;
	s->next_cntlid = min_cntlid;
	return 0;
}

uint16_t axon_nvmf_subsystem_get_min_cntlid(const struct axon_nvmf_subsystem *s)
{
	return s->min_cntlid;
}

uint16_t axon_nvmf_subsystem_get_max_cntlid(const struct axon_nvmf_subsystem *s)
{
	return s->max_cntlid;
}

uint32_t axon_nvmf_subsystem_get_max_nsid(const struct axon_nvmf_subsystem *s)
{
	return s->max_nsid;
}

const char *axon_nvmf_subsystem_get_nqn(const struct axon_nvmf_subsystem *s)
{
	return s->nqn;
}

enum axon_nvmf_subtype axon_nvmf_subsystem_get_type(const struct axon_nvmf_subsystem *s)
{
	return s->subtype;
}

enum axon_nvmf_subsystem_state axon_nvmf_subsystem_get_state(const struct axon_nvmf_subsystem *s)
{
	return s->state;
}

/* ---- create / lookup ------------------------------------------------------------------ */

struct axon_nvmf_subsystem *axon_nvmf_subsystem_create(struct axon_nvmf_tgt *tgt, const char *nqn,
						       enum axon_nvmf_subtype subtype,
						       uint32_t max_namespaces, int *rc)
{
	struct axon_nvmf_subsystem *s;
	uint32_t id;

	if (!axon_nvmf_nqn_is_valid(nqn) ||
	    (subtype == AXON_NVMF_SUBTYPE_NVME && strcmp(nqn, AXON_NVMF_DISCOVERY_NQN) == 0)) {
		*rc = -EINVAL;
		return NULL;
	}
	if (axon_nvmf_tgt_find_subsystem(tgt, nqn) != NULL) {
		*rc = -EEXIST;
		return NULL;
	}
	for (id = 0; id < tgt->max_subsystems && tgt->subsystems[id] != NULL; id++) {
	}
	if (id == tgt->max_subsystems) {
		*rc = -ENOSPC;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	if (subtype == AXON_NVMF_SUBTYPE_DISCOVERY) {
		max_namespaces = 0;
	} else if (max_namespaces == 0) {
		max_namespaces = AXON_NVMF_DEFAULT_MAX_NAMESPACES;
	}
	if (max_namespaces > 0) {
		s->ns = calloc(max_namespaces, sizeof(*s->ns));
		s->nsid_reserved = calloc(max_namespaces, 1);
		if (s->ns == NULL || s->nsid_reserved == NULL) {
			free(s->ns);
			free(s->nsid_reserved);
			free(s);
			*rc = -ENOMEM;
			return NULL;
		}
	}
	s->tgt = tgt;
	s->id = id;
	s->subtype = subtype;
	s->max_nsid = max_namespaces;
	s->min_cntlid = 1;
	s->max_cntlid = AXON_NVMF_CNTLID_MAX;
	s->next_cntlid = 1;
	axon_strscpy(s->nqn, nqn, sizeof(s->nqn));
	axon_strscpy(s->sn, "00000000000000000000", sizeof(s->sn));
	axon_strscpy(s->mn, "Axon NVMe-oF Controller", sizeof(s->mn));
	TAILQ_INIT(&s->hosts);
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->ctrlrs);
	TAILQ_INIT(&s->changes);
	tgt->subsystems[id] = s;
	TAILQ_INSERT_TAIL(&tgt->subsystem_list, s, link);
	if (subtype == AXON_NVMF_SUBTYPE_NVME) {
		nvmf_tgt_genctr_bump(tgt);
	}
	*rc = 0;
	return s;
}

struct axon_nvmf_subsystem *axon_nvmf_tgt_find_subsystem(struct axon_nvmf_tgt *tgt, const char *nqn)
{
	struct axon_nvmf_subsystem *s;

	if (nqn == NULL) {
		return NULL;
	}
	TAILQ_FOREACH(s, &tgt->subsystem_list, link) {
		if (strcmp(s->nqn, nqn) == 0) {
			return s;
		}
	}
	return NULL;
}

struct axon_nvmf_subsystem *axon_nvmf_subsystem_get_first(struct axon_nvmf_tgt *tgt)
{
	return TAILQ_FIRST(&tgt->subsystem_list);
}

struct axon_nvmf_subsystem *axon_nvmf_subsystem_get_next(struct axon_nvmf_subsystem *prev)
{
	return TAILQ_NEXT(prev, link);
}

/* ---- hosts ---------------------------------------------------------------------------- */

static struct nvmf_host *find_host(const struct axon_nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h;

	TAILQ_FOREACH(h, &s->hosts, link) {
		if (strcmp(h->nqn, hostnqn) == 0) {
			return h;
		}
	}
	return NULL;
}

void axon_nvmf_subsystem_set_allow_any_host(struct axon_nvmf_subsystem *s, bool allow)
{
	if (s->allow_any_host != allow) {
		s->allow_any_host = allow;
		nvmf_tgt_genctr_bump(s->tgt);
	}
}

bool axon_nvmf_subsystem_get_allow_any_host(const struct axon_nvmf_subsystem *s)
{
	return s->allow_any_host;
}

int axon_nvmf_subsystem_add_host(struct axon_nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h;

	if (!axon_nvmf_nqn_is_valid(hostnqn)) {
		return -EINVAL;
	}
	if (find_host(s, hostnqn) != NULL) {
		return -EEXIST;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		return -ENOMEM;
	}
	axon_strscpy(h->nqn, hostnqn, sizeof(h->nqn));
	TAILQ_INSERT_TAIL(&s->hosts, h, link);
	nvmf_tgt_genctr_bump(s->tgt);
	return 0;
}

int axon_nvmf_subsystem_remove_host(struct axon_nvmf_subsystem *s, const char *hostnqn)
{
	struct nvmf_host *h = hostnqn ? find_host(s, hostnqn) : NULL;

	if (h == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&s->hosts, h, link);
	free(h);
	nvmf_tgt_genctr_bump(s->tgt);
	return 0;
}

bool axon_nvmf_subsystem_host_allowed(const struct axon_nvmf_subsystem *s, const char *hostnqn)
{
	return s->allow_any_host || (hostnqn != NULL && find_host(s, hostnqn) != NULL);
}

const char *axon_nvmf_subsystem_get_first_host(const struct axon_nvmf_subsystem *s)
{
	struct nvmf_host *h = TAILQ_FIRST(&s->hosts);

	return h ? h->nqn : NULL;
}

const char *axon_nvmf_subsystem_get_next_host(const struct axon_nvmf_subsystem *s,
					      const char *prev)
{
	struct nvmf_host *h = AXON_CONTAINEROF(prev, struct nvmf_host, nqn);

	(void)s;
	h = TAILQ_NEXT(h, link);
	return h ? h->nqn : NULL;
}

/* ---- listeners ---------------------------------------------------------------------------- */

static struct nvmf_subsystem_listener *find_listener(const struct axon_nvmf_subsystem *s,
						     const struct axon_nvmf_trid *trid)
{
	struct nvmf_subsystem_listener *l;

	TAILQ_FOREACH(l, &s->listeners, link) {
		if (axon_nvmf_trid_equal(&l->trid, trid)) {
			return l;
		}
	}
	return NULL;
}

int axon_nvmf_subsystem_add_listener(struct axon_nvmf_subsystem *s, const struct axon_nvmf_trid *trid)
{
	struct nvmf_subsystem_listener *l;
	int rc;

	if (find_listener(s, trid) != NULL) {
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	rc = nvmf_tgt_listen(s->tgt, trid);
	if (rc != 0) {
		free(l);
		return rc;
	}
	l->trid = *trid;
	/* Store the transport's own spelling ("TCP") whatever the user typed. */
	{
		const struct axon_nvmf_transport_ops *ops = axon_nvmf_transport_ops_find(trid->trstring);

		if (ops != NULL) {
			axon_strscpy(l->trid.trstring, ops->name, sizeof(l->trid.trstring));
			l->trid.trtype = ops->type;
		}
	}
	TAILQ_INSERT_TAIL(&s->listeners, l, link);
	nvmf_tgt_genctr_bump(s->tgt);
	return 0;
}

int axon_nvmf_subsystem_remove_listener(struct axon_nvmf_subsystem *s,
					const struct axon_nvmf_trid *trid)
{
	struct nvmf_subsystem_listener *l = find_listener(s, trid);

	if (l == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&s->listeners, l, link);
	nvmf_tgt_stop_listen(s->tgt, &l->trid);
	free(l);
	nvmf_tgt_genctr_bump(s->tgt);
	return 0;
}

bool axon_nvmf_subsystem_listener_allowed(const struct axon_nvmf_subsystem *s,
					  const struct axon_nvmf_trid *trid)
{
	return find_listener(s, trid) != NULL;
}

const struct axon_nvmf_trid *axon_nvmf_subsystem_get_first_listener(const struct axon_nvmf_subsystem *s)
{
	struct nvmf_subsystem_listener *l = TAILQ_FIRST(&s->listeners);

	return l ? &l->trid : NULL;
}

const struct axon_nvmf_trid *axon_nvmf_subsystem_get_next_listener(const struct axon_nvmf_subsystem *s,
								  const struct axon_nvmf_trid *prev)
{
	struct nvmf_subsystem_listener *l = AXON_CONTAINEROF(prev, struct nvmf_subsystem_listener, trid);

	(void)s;
	l = TAILQ_NEXT(l, link);
	return l ? &l->trid : NULL;
}

/* ---- controllers ------------------------------------------------------------------------ */

struct axon_nvmf_ctrlr *nvmf_subsystem_find_ctrlr(struct axon_nvmf_subsystem *s, uint16_t cntlid)
{
	struct axon_nvmf_ctrlr *c;

	TAILQ_FOREACH(c, &s->ctrlrs, link) {
		if (c->cntlid == cntlid) {
			return c;
		}
	}
	return NULL;
}

int nvmf_subsystem_alloc_cntlid(struct axon_nvmf_subsystem *s, uint16_t *cntlid)
{
	uint32_t range = (uint32_t)s->max_cntlid - s->min_cntlid + 1;

	for (uint32_t i = 0; i < range; i++) {
		uint16_t id = s->next_cntlid;

		s->next_cntlid = id >= s->max_cntlid ? s->min_cntlid : (uint16_t)(id + 1);
		if (nvmf_subsystem_find_ctrlr(s, id) == NULL) {
			*cntlid = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static void ctrlr_disconnect_msg(void *arg)
{
	nvmf_ctrlr_disconnect(arg);
}

void nvmf_subsystem_disconnect_ctrlr(struct axon_nvmf_ctrlr *ctrlr)
{
	/* The controller stays in s->ctrlrs until its thread asks us to unlink
	 * it, which is queued behind this message: it is alive when this runs. */
	if (axon_thread_send_msg(ctrlr->thread, ctrlr_disconnect_msg, ctrlr) != 0) {
		AXON_ERRLOG("nvmf: cannot reach controller %u's thread\n", ctrlr->cntlid);
	}
}

struct ns_change_msg {
	struct axon_nvmf_ctrlr *ctrlr;
	uint32_t nsid;
};

static void ns_change_msg(void *arg)
{
	struct ns_change_msg *m = arg;

	nvmf_ctrlr_ns_changed(m->ctrlr, m->nsid);
	free(m);
}

void nvmf_subsystem_notify_ns_change(struct axon_nvmf_subsystem *s, uint32_t nsid)
{
	struct axon_nvmf_ctrlr *c;

	TAILQ_FOREACH(c, &s->ctrlrs, link) {
		struct ns_change_msg *m = calloc(1, sizeof(*m));

		if (m == NULL) {
			AXON_ERRLOG("nvmf: out of memory: controller %u misses a namespace event\n",
				    c->cntlid);
			continue;
		}
		m->ctrlr = c;
		m->nsid = nsid;
		if (axon_thread_send_msg(c->thread, ns_change_msg, m) != 0) {
			free(m);
		}
	}
}

/* ---- state machine ------------------------------------------------------------------------ */

static void subsystem_change_next(struct axon_nvmf_subsystem *s);

static void state_walk_group(struct axon_io_channel_iter *i)
{
	struct axon_nvmf_subsystem *s = axon_io_channel_iter_get_ctx(i);
	struct axon_nvmf_poll_group *group =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));
	struct nvmf_subsystem_pg *sgroup = &group->sgroups[s->id];

	switch (s->state) {
	case AXON_NVMF_SUBSYSTEM_ACTIVATING:
	case AXON_NVMF_SUBSYSTEM_RESUMING:
		nvmf_poll_group_sync_subsystem(group, s);
		sgroup->state = AXON_NVMF_SUBSYSTEM_ACTIVE;
		nvmf_sgroup_release_held(sgroup);
		break;
	case AXON_NVMF_SUBSYSTEM_PAUSING:
		sgroup->state = AXON_NVMF_SUBSYSTEM_PAUSED;
		if (sgroup->outstanding > 0) {
			sgroup->drain_iter = i; /* request.c continues the walk */
			return;
		}
		break;
	case AXON_NVMF_SUBSYSTEM_DEACTIVATING:
		sgroup->state = AXON_NVMF_SUBSYSTEM_INACTIVE;
		nvmf_sgroup_fail_held(sgroup, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE));
		if (sgroup->outstanding > 0) {
			sgroup->release_on_drain = true;
			sgroup->drain_iter = i;
			return;
		}
		nvmf_sgroup_release_all(sgroup);
		break;
	default:
		break;
	}
	axon_for_each_channel_continue(i, 0);
}

static void state_walk_done(struct axon_io_channel_iter *i, int status)
{
	struct axon_nvmf_subsystem *s = axon_io_channel_iter_get_ctx(i);
	struct nvmf_state_change *c = TAILQ_FIRST(&s->changes);

	switch (s->state) {
	case AXON_NVMF_SUBSYSTEM_ACTIVATING:
	case AXON_NVMF_SUBSYSTEM_RESUMING:
		s->state = AXON_NVMF_SUBSYSTEM_ACTIVE;
		break;
	case AXON_NVMF_SUBSYSTEM_PAUSING:
		s->state = AXON_NVMF_SUBSYSTEM_PAUSED;
		break;
	case AXON_NVMF_SUBSYSTEM_DEACTIVATING:
		s->state = AXON_NVMF_SUBSYSTEM_INACTIVE;
		break;
	default:
		break;
	}
	AXON_DEBUGLOG(nvmf, "%s: now %s\n", s->nqn, axon_nvmf_subsystem_state_str(s->state));
	TAILQ_REMOVE(&s->changes, c, link);
	s->change_running = false;
	if (c->cb != NULL) {
		c->cb(s, c->cb_arg, status);
	}
	free(c);
	subsystem_change_next(s);
}

/* Returns the transitional state for going from cur to target, cur itself if
 * there is nothing to do, or INACTIVE with *bad set for a forbidden change. */
static enum axon_nvmf_subsystem_state transition_for(enum axon_nvmf_subsystem_state cur,
						     enum axon_nvmf_subsystem_state target, bool *bad)
{
	*bad = false;
	if (cur == target) {
		return cur;
	}
	switch (target) {
	case AXON_NVMF_SUBSYSTEM_ACTIVE:
		if (cur == AXON_NVMF_SUBSYSTEM_INACTIVE) {
			return AXON_NVMF_SUBSYSTEM_ACTIVATING;
		}
		if (cur == AXON_NVMF_SUBSYSTEM_PAUSED) {
			return AXON_NVMF_SUBSYSTEM_RESUMING;
		}
		break;
	case AXON_NVMF_SUBSYSTEM_PAUSED:
		if (cur == AXON_NVMF_SUBSYSTEM_ACTIVE) {
			return AXON_NVMF_SUBSYSTEM_PAUSING;
		}
		break;
	case AXON_NVMF_SUBSYSTEM_INACTIVE:
		if (cur == AXON_NVMF_SUBSYSTEM_ACTIVE || cur == AXON_NVMF_SUBSYSTEM_PAUSED) {
			return AXON_NVMF_SUBSYSTEM_DEACTIVATING;
		}
		break;
	default:
		break;
	}
	*bad = true;
	return cur;
}

static void subsystem_change_next(struct axon_nvmf_subsystem *s)
{
	struct nvmf_state_change *c;

	while (!s->change_running && (c = TAILQ_FIRST(&s->changes)) != NULL) {
		bool bad;
		enum axon_nvmf_subsystem_state next = transition_for(s->state, c->target, &bad);

		if (bad || next == s->state) {
			/* Nothing to walk: answer now. */
			TAILQ_REMOVE(&s->changes, c, link);
			if (c->cb != NULL) {
				c->cb(s, c->cb_arg, bad ? -EINVAL : 0);
			}
			free(c);
			continue;
		}
		s->change_running = true;
		s->state = next;
		AXON_DEBUGLOG(nvmf, "%s: %s\n", s->nqn, axon_nvmf_subsystem_state_str(next));
		axon_for_each_channel(s->tgt, state_walk_group, s, state_walk_done);
	}
}

int nvmf_subsystem_change_state(struct axon_nvmf_subsystem *s,
				enum axon_nvmf_subsystem_state target,
				axon_nvmf_subsystem_state_cb cb, void *cb_arg)
{
	struct nvmf_state_change *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return -ENOMEM;
	}
	c->target = target;
	c->cb = cb;
	c->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&s->changes, c, link);
	subsystem_change_next(s);
	return 0;
}

int axon_nvmf_subsystem_start(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			      void *cb_arg)
{
	return nvmf_subsystem_change_state(s, AXON_NVMF_SUBSYSTEM_ACTIVE, cb, cb_arg);
}

int axon_nvmf_subsystem_stop(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			     void *cb_arg)
{
	return nvmf_subsystem_change_state(s, AXON_NVMF_SUBSYSTEM_INACTIVE, cb, cb_arg);
}

int axon_nvmf_subsystem_pause(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			      void *cb_arg)
{
	return nvmf_subsystem_change_state(s, AXON_NVMF_SUBSYSTEM_PAUSED, cb, cb_arg);
}

int axon_nvmf_subsystem_resume(struct axon_nvmf_subsystem *s, axon_nvmf_subsystem_state_cb cb,
			       void *cb_arg)
{
	return nvmf_subsystem_change_state(s, AXON_NVMF_SUBSYSTEM_ACTIVE, cb, cb_arg);
}

/* ---- destroy ------------------------------------------------------------------------------ */

static void subsystem_free(struct axon_nvmf_subsystem *s)
{
	struct axon_nvmf_tgt *tgt = s->tgt;
	struct nvmf_host *h;
	struct nvmf_subsystem_listener *l;
	void (*cb)(void *) = s->destroy_cb;
	void *cb_arg = s->destroy_cb_arg;

	nvmf_subsystem_free_all_ns(s);
	while ((h = TAILQ_FIRST(&s->hosts)) != NULL) {
		TAILQ_REMOVE(&s->hosts, h, link);
		free(h);
	}
	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, link);
		nvmf_tgt_stop_listen(tgt, &l->trid);
		free(l);
	}
	TAILQ_REMOVE(&tgt->subsystem_list, s, link);
	tgt->subsystems[s->id] = NULL;
	if (tgt->discovery == s) {
		tgt->discovery = NULL;
	}
	free(s->ns);
	free(s->nsid_reserved);
	free(s);
	nvmf_tgt_genctr_bump(tgt);
	if (cb != NULL) {
		cb(cb_arg);
	}
}

static void subsystem_free_msg(void *arg)
{
	subsystem_free(arg);
}

static void subsystem_try_free(struct axon_nvmf_subsystem *s)
{
	if (!s->destroying || s->free_scheduled || s->state != AXON_NVMF_SUBSYSTEM_INACTIVE ||
	    s->change_running || !TAILQ_EMPTY(&s->changes) || !TAILQ_EMPTY(&s->ctrlrs) ||
	    s->ns_ops_pending > 0) {
		return;
	}
	s->free_scheduled = true;
	/* Deferred: callers up the stack may still hold s. */
	if (axon_thread_send_msg(axon_get_thread(), subsystem_free_msg, s) != 0) {
		subsystem_free(s);
	}
}

void nvmf_subsystem_try_free(struct axon_nvmf_subsystem *s)
{
	subsystem_try_free(s);
}

void nvmf_subsystem_ctrlr_removed(struct axon_nvmf_subsystem *s)
{
	subsystem_try_free(s);
}

static void destroy_stopped(struct axon_nvmf_subsystem *s, void *cb_arg, int status)
{
	(void)cb_arg;
	if (status != 0) {
		AXON_ERRLOG("nvmf: stopping %s failed: %d\n", s->nqn, status);
	}
	subsystem_try_free(s);
}

void nvmf_subsystem_destroy_internal(struct axon_nvmf_subsystem *s, void (*cb)(void *cb_arg),
				     void *cb_arg)
{
	struct axon_nvmf_ctrlr *c;

	s->destroying = true;
	s->destroy_cb = cb;
	s->destroy_cb_arg = cb_arg;
	TAILQ_FOREACH(c, &s->ctrlrs, link) {
		nvmf_subsystem_disconnect_ctrlr(c);
	}
	if (nvmf_subsystem_change_state(s, AXON_NVMF_SUBSYSTEM_INACTIVE, destroy_stopped, NULL) != 0) {
		AXON_ERRLOG("nvmf: out of memory stopping %s\n", s->nqn);
	}
}

int axon_nvmf_subsystem_destroy(struct axon_nvmf_subsystem *s, void (*cb)(void *cb_arg),
				void *cb_arg)
{
	if (s->subtype == AXON_NVMF_SUBTYPE_DISCOVERY) {
		return -EINVAL;
	}
	if (s->destroying) {
		return -EALREADY;
	}
	nvmf_subsystem_destroy_internal(s, cb, cb_arg);
	return 0;
}
