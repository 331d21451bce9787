/*
 * Poll groups: one per thread that serves queue pairs. A poll group is the
 * target's I/O channel on that thread (the target is the io_device), so that
 * axon_for_each_channel(tgt) visits every poll group on its own thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "nvmf_internal.h"

static uint32_t g_poll_group_seq;

struct nvmf_subsystem_pg *nvmf_poll_group_sgroup(struct axon_nvmf_poll_group *group,
						 const struct axon_nvmf_subsystem *s)
{
	return &group->sgroups[s->id];
}

static int poll_group_poll(void *arg)
{
	struct axon_nvmf_poll_group *group = arg;
	struct axon_nvmf_transport_poll_group *tgroup;
	int count;

	count = nvmf_poll_group_process_completions(group);
	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		int rc = tgroup->transport->ops->poll_group_poll(tgroup);

		if (rc > 0) {
			count += rc;
		}
	}
	/* Commands executed during the transport poll completed into the list:
	 * stay busy so they leave on the next iteration rather than after a sleep. */
	if (!TAILQ_EMPTY(&group->completed)) {
		count++;
	}
	/* With no transport there is nothing to poll, and an active poller
	 * without a wake fd would keep the reactor from ever sleeping: pause
	 * until a transport joins (nvmf_poll_group_add_transport resumes). */
	if (TAILQ_EMPTY(&group->tgroups) && TAILQ_EMPTY(&group->completed)) {
		axon_poller_pause(group->poller);
	}
	return count > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

/* ---- transports on a group ---------------------------------------------------- */

int nvmf_poll_group_add_transport(struct axon_nvmf_poll_group *group,
				  struct axon_nvmf_transport *transport)
{
	struct axon_nvmf_transport_poll_group *tgroup;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->transport == transport) {
			return 0;
		}
	}
	tgroup = transport->ops->poll_group_create(transport, group);
	if (tgroup == NULL) {
		AXON_ERRLOG("nvmf: %s could not create its part of poll group %s\n",
			    transport->ops->name, group->name);
		return -ENOMEM;
	}
	tgroup->transport = transport;
	tgroup->group = group;
	STAILQ_INIT(&tgroup->buf_cache);
	tgroup->buf_cache_count = 0;
	tgroup->buf_cache_size = transport->opts.buf_cache_size;
	TAILQ_INSERT_TAIL(&group->tgroups, tgroup, link);
	axon_poller_resume(group->poller);
	return 0;
}

static void tgroup_destroy(struct axon_nvmf_poll_group *group,
			   struct axon_nvmf_transport_poll_group *tgroup)
{
	struct axon_nvmf_transport *transport = tgroup->transport;

	TAILQ_REMOVE(&group->tgroups, tgroup, link);
	while (!STAILQ_EMPTY(&tgroup->buf_cache)) {
		struct axon_nvmf_transport_pg_cache_buf *buf = STAILQ_FIRST(&tgroup->buf_cache);

		STAILQ_REMOVE_HEAD(&tgroup->buf_cache, link);
		axon_mempool_put(transport->data_buf_pool, buf);
	}
	tgroup->buf_cache_count = 0;
	transport->ops->poll_group_destroy(tgroup);
}

void nvmf_poll_group_remove_transport(struct axon_nvmf_poll_group *group,
				      struct axon_nvmf_transport *transport)
{
	struct axon_nvmf_transport_poll_group *tgroup;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->transport == transport) {
			tgroup_destroy(group, tgroup);
			return;
		}
	}
}

/* ---- per-subsystem state on a group ---------------------------------------------- */

/*
 * Make the group's channels match the subsystem's namespaces. Runs while the
 * subsystem is paused or being activated on this group, so nothing is in
 * flight on the channels being put.
 */
void nvmf_poll_group_sync_subsystem(struct axon_nvmf_poll_group *group,
				    struct axon_nvmf_subsystem *s)
{
	struct nvmf_subsystem_pg *sgroup = &group->sgroups[s->id];

	if (sgroup->ns == NULL && s->max_nsid > 0) {
		sgroup->ns = calloc(s->max_nsid, sizeof(*sgroup->ns));
		if (sgroup->ns == NULL) {
			AXON_ERRLOG("nvmf: out of memory syncing %s on %s\n", s->nqn, group->name);
			return;
		}
		sgroup->num_ns = s->max_nsid;
	}
	for (uint32_t i = 0; i < sgroup->num_ns; i++) {
		struct axon_nvmf_ns *ns = s->ns[i];
		struct nvmf_ns_pg *nspg = &sgroup->ns[i];

		if (nspg->ch != NULL && (ns == NULL || ns->desc != nspg->desc)) {
			axon_put_io_channel(nspg->ch);
			nspg->ch = NULL;
			nspg->desc = NULL;
		}
		if (ns != NULL && nspg->ch == NULL) {
			nspg->ch = axon_bdev_get_io_channel(ns->desc);
			if (nspg->ch == NULL) {
				AXON_ERRLOG("nvmf: no channel to bdev %s on %s: nsid %u fails I/O\n",
					    ns->bdev_name, group->name, ns->nsid);
				continue;
			}
			nspg->desc = ns->desc;
		}
	}
}

void nvmf_sgroup_release_all(struct nvmf_subsystem_pg *sgroup)
{
	for (uint32_t i = 0; i < sgroup->num_ns; i++) {
		if (sgroup->ns[i].ch != NULL) {
			axon_put_io_channel(sgroup->ns[i].ch);
		}
	}
	free(sgroup->ns);
	sgroup->ns = NULL;
	sgroup->num_ns = 0;
}

/* ---- create / destroy ------------------------------------------------------------- */

static int poll_group_channel_create(void *io_device, void *ctx_buf)
{
	struct axon_nvmf_tgt *tgt = io_device;
	struct axon_nvmf_poll_group *group = ctx_buf;

	group->tgt = tgt;
	group->thread = axon_get_thread();
	snprintf(group->name, sizeof(group->name), "nvmf_tgt_poll_group_%u", g_poll_group_seq++);
	TAILQ_INIT(&group->tgroups);
	TAILQ_INIT(&group->qpairs);
	TAILQ_INIT(&group->completed);
	group->sgroups = calloc(tgt->max_subsystems, sizeof(*group->sgroups));
	if (group->sgroups == NULL) {
		return -ENOMEM;
	}
	group->num_sgroups = tgt->max_subsystems;
	for (uint32_t i = 0; i < group->num_sgroups; i++) {
		TAILQ_INIT(&group->sgroups[i].held);
		group->sgroups[i].state = AXON_NVMF_SUBSYSTEM_INACTIVE;
	}
	group->poller = axon_poller_register_named(poll_group_poll, group, 0, group->name);
	if (group->poller == NULL) {
		free(group->sgroups);
		return -ENOMEM;
	}
	return 0;
}

static void poll_group_channel_destroy(void *io_device, void *ctx_buf)
{
	struct axon_nvmf_poll_group *group = ctx_buf;

	axon_poller_unregister(&group->poller);
	for (uint32_t i = 0; i < group->num_sgroups; i++) {
		nvmf_sgroup_release_all(&group->sgroups[i]);
	}
	free(group->sgroups);
	group->sgroups = NULL;
}

void nvmf_tgt_register_io_device(struct axon_nvmf_tgt *tgt)
{
	axon_io_device_register(tgt, poll_group_channel_create, poll_group_channel_destroy,
				sizeof(struct axon_nvmf_poll_group), "nvmf_tgt");
}

struct pg_list_msg {
	struct axon_nvmf_poll_group *group;
	struct axon_io_channel *ch;
	bool add;
	void (*cb)(void *);
	void *cb_arg;
	struct axon_thread *reply_thread;
};

/* Back on the group's thread, once the app thread no longer links the group. */
static void pg_list_reply(void *arg)
{
	struct pg_list_msg *m = arg;

	axon_put_io_channel(m->ch);
	if (m->cb != NULL) {
		m->cb(m->cb_arg);
	}
	free(m);
}

/* On the app thread: keep tgt->poll_groups in step. */
static void pg_list_update(void *arg)
{
	struct pg_list_msg *m = arg;
	struct axon_nvmf_tgt *tgt = m->group->tgt;

	if (m->add) {
		TAILQ_INSERT_TAIL(&tgt->poll_groups, m->group, link);
		tgt->num_poll_groups++;
		free(m);
		return;
	}
	if (tgt->next_pg == m->group) {
		tgt->next_pg = NULL;
	}
	TAILQ_REMOVE(&tgt->poll_groups, m->group, link);
	tgt->num_poll_groups--;
	if (axon_thread_send_msg(m->reply_thread, pg_list_reply, m) != 0) {
		AXON_ERRLOG("nvmf: cannot reply to poll group thread\n");
		free(m);
	}
}

struct axon_nvmf_poll_group *axon_nvmf_poll_group_create(struct axon_nvmf_tgt *tgt)
{
	struct axon_io_channel *ch;
	struct axon_nvmf_poll_group *group;
	struct axon_nvmf_transport *transport;
	struct axon_nvmf_subsystem *s;
	struct pg_list_msg *m;

	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	ch = axon_get_io_channel(tgt);
	if (ch == NULL) {
		AXON_ERRLOG("nvmf: cannot create a poll group on thread %s\n",
			    axon_thread_get_name(axon_get_thread()));
		free(m);
		return NULL;
	}
	group = axon_io_channel_get_ctx(ch);
	/* Transports and subsystems are created on the app thread after the poll
	 * groups (the nvmf subsystem starts them first); those that already exist
	 * are only read here. */
	TAILQ_FOREACH(transport, &tgt->transports, link) {
		nvmf_poll_group_add_transport(group, transport);
	}
	TAILQ_FOREACH(s, &tgt->subsystem_list, link) {
		if (s->state == AXON_NVMF_SUBSYSTEM_ACTIVE) {
			nvmf_poll_group_sync_subsystem(group, s);
			group->sgroups[s->id].state = AXON_NVMF_SUBSYSTEM_ACTIVE;
		}
	}
	m->group = group;
	m->add = true;
	if (axon_thread_send_msg(tgt->thread, pg_list_update, m) != 0) {
		AXON_ERRLOG("nvmf: cannot register poll group %s\n", group->name);
		free(m);
	}
	return group;
}

void nvmf_poll_group_destroy_continue(struct axon_nvmf_poll_group *group)
{
	struct axon_nvmf_transport_poll_group *tgroup;
	struct pg_list_msg *m;

	if (!group->destroying || !TAILQ_EMPTY(&group->qpairs)) {
		return;
	}
	group->destroying = false; /* run once */
	while ((tgroup = TAILQ_FIRST(&group->tgroups)) != NULL) {
		tgroup_destroy(group, tgroup);
	}
	m = calloc(1, sizeof(*m));
	if (m != NULL) {
		m->group = group;
		m->add = false;
		m->cb = group->destroy_cb;
		m->cb_arg = group->destroy_cb_arg;
		m->reply_thread = axon_get_thread();
		m->ch = axon_io_channel_from_ctx(group);
		if (axon_thread_send_msg(group->tgt->thread, pg_list_update, m) == 0) {
			return;
		}
		free(m);
	}
	AXON_ERRLOG("nvmf: could not unlink poll group %s\n", group->name);
}

void axon_nvmf_poll_group_destroy(struct axon_nvmf_poll_group *group,
				  void (*cb)(void *cb_arg), void *cb_arg)
{
	struct axon_nvmf_qpair *qpair, *tmp;

	group->destroying = true;
	group->destroy_cb = cb;
	group->destroy_cb_arg = cb_arg;
	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp) {
		axon_nvmf_qpair_disconnect(qpair, NULL, NULL);
	}
	nvmf_poll_group_destroy_continue(group);
}

struct axon_thread *axon_nvmf_poll_group_get_thread(const struct axon_nvmf_poll_group *group)
{
	return group->thread;
}

const char *axon_nvmf_poll_group_get_name(const struct axon_nvmf_poll_group *group)
{
	return group->name;
}

/* ---- new queue pairs ----------------------------------------------------------------- */

struct axon_nvmf_poll_group *nvmf_tgt_next_poll_group(struct axon_nvmf_tgt *tgt)
{
	struct axon_nvmf_poll_group *group = tgt->next_pg;

	if (group == NULL) {
		group = TAILQ_FIRST(&tgt->poll_groups);
	}
	if (group == NULL) {
		return NULL;
	}
	tgt->next_pg = TAILQ_NEXT(group, link);
	return group;
}

static void qpair_fini_nocb(struct axon_nvmf_qpair *qpair)
{
	qpair->state = AXON_NVMF_QPAIR_ERROR;
	qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
}

void nvmf_qpair_add_to_group(void *ctx)
{
	struct axon_nvmf_qpair *qpair = ctx;
	struct axon_nvmf_poll_group *group = qpair->group;
	struct axon_nvmf_transport_poll_group *tgroup;

	if (group->destroying) {
		qpair_fini_nocb(qpair);
		return;
	}
	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->transport == qpair->transport) {
			break;
		}
	}
	if (tgroup == NULL) {
		AXON_ERRLOG("nvmf: poll group %s has no %s part\n", group->name,
			    qpair->transport->ops->name);
		qpair_fini_nocb(qpair);
		return;
	}
	qpair->tgroup = tgroup;
	qpair->state = AXON_NVMF_QPAIR_CONNECTING;
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, link);
	if (qpair->transport->ops->poll_group_add(tgroup, qpair) != 0) {
		TAILQ_REMOVE(&group->qpairs, qpair, link);
		qpair->tgroup = NULL;
		qpair_fini_nocb(qpair);
	}
}

void axon_nvmf_transport_new_qpair(struct axon_nvmf_transport *transport,
				   struct axon_nvmf_qpair *qpair)
{
	struct axon_nvmf_tgt *tgt = transport->tgt;
	struct axon_nvmf_poll_group *group = NULL;

	qpair->transport = transport;
	qpair->state = AXON_NVMF_QPAIR_UNINITIALIZED;
	if (!tgt->destroying) {
		if (transport->ops->get_optimal_poll_group != NULL) {
			group = transport->ops->get_optimal_poll_group(qpair);
		}
		if (group == NULL) {
			group = nvmf_tgt_next_poll_group(tgt);
		}
	}
	if (group == NULL) {
		AXON_WARNLOG("nvmf: no poll group for a new %s connection\n", transport->ops->name);
		qpair_fini_nocb(qpair);
		return;
	}
	qpair->group = group;
	if (axon_thread_send_msg(group->thread, nvmf_qpair_add_to_group, qpair) != 0) {
		AXON_ERRLOG("nvmf: cannot hand a connection to %s\n", group->name);
		qpair_fini_nocb(qpair);
	}
}
