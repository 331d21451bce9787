/*
 * Poll groups: the qpairs of one thread polled together, one transport
 * poll group per transport (TCP: one sock group, one epoll_wait per poll).
 */
#include <errno.h>
#include <stdlib.h>

#include "nvme_internal.h"

struct axon_nvme_poll_group *axon_nvme_poll_group_create(void *ctx)
{
	struct axon_nvme_poll_group *group = calloc(1, sizeof(*group));

	if (group == NULL) {
		AXON_ERRLOG("no memory for an NVMe poll group\n");
		return NULL;
	}
	group->ctx = ctx;
	TAILQ_INIT(&group->tgroups);
	TAILQ_INIT(&group->qpairs);
	return group;
}

void *axon_nvme_poll_group_get_ctx(struct axon_nvme_poll_group *group)
{
	return group->ctx;
}

static struct axon_nvme_transport_poll_group *
group_get_tgroup(struct axon_nvme_poll_group *group, const struct axon_nvme_transport_ops *ops)
{
	struct axon_nvme_transport_poll_group *tgroup;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->ops == ops) {
			return tgroup;
		}
	}
	tgroup = ops->poll_group_create();
	if (tgroup == NULL) {
		return NULL;
	}
	tgroup->ops = ops;
	tgroup->group = group;
	TAILQ_INSERT_TAIL(&group->tgroups, tgroup, link);
	return tgroup;
}

int axon_nvme_poll_group_add(struct axon_nvme_poll_group *group, struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_transport_poll_group *tgroup;
	int rc;

	if (group == NULL || qpair == NULL) {
		return -EINVAL;
	}
	if (qpair->group != NULL) {
		return -EBUSY;
	}
	if (qpair->ops->poll_group_create != NULL) {
		tgroup = group_get_tgroup(group, qpair->ops);
		if (tgroup == NULL) {
			return -ENOMEM;
		}
		rc = qpair->ops->poll_group_add(tgroup, qpair);
		if (rc != 0) {
			return rc;
		}
		qpair->tgroup = tgroup;
	}
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, group_link);
	qpair->group = group;
	return 0;
}

int axon_nvme_poll_group_remove(struct axon_nvme_poll_group *group, struct axon_nvme_qpair *qpair)
{
	int rc = 0;

	if (group == NULL || qpair == NULL || qpair->group != group) {
		return -EINVAL;
	}
	if (qpair->tgroup != NULL) {
		rc = qpair->ops->poll_group_remove(qpair->tgroup, qpair);
	}
	TAILQ_REMOVE(&group->qpairs, qpair, group_link);
	qpair->group = NULL;
	qpair->tgroup = NULL;
	return rc;
}

int64_t axon_nvme_poll_group_process_completions(struct axon_nvme_poll_group *group,
						 uint32_t completions_per_qpair,
						 axon_nvme_disconnected_qpair_cb disconnected_cb)
{
	struct axon_nvme_transport_poll_group *tgroup;
	struct axon_nvme_qpair *qpair, *tmp;
	int64_t total = 0, rc;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		rc = tgroup->ops->poll_group_process_completions(tgroup, completions_per_qpair);
		if (rc < 0) {
			return rc;
		}
		total += rc;
	}
	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, group_link, tmp) {
		if (qpair->tgroup != NULL) {
			/* The transport group polled it: only lib/nvme's part is left. */
			rc = nvme_qpair_after_poll(qpair);
		} else {
			rc = axon_nvme_qpair_process_completions(qpair, completions_per_qpair);
		}
		if (rc == -ENXIO) {
			if (disconnected_cb != NULL) {
				disconnected_cb(qpair, group->ctx);
			}
		} else if (rc > 0) {
			total += rc;
		}
	}
	return total;
}

int axon_nvme_poll_group_destroy(struct axon_nvme_poll_group *group)
{
	struct axon_nvme_transport_poll_group *tgroup;

	if (group == NULL) {
		return -EINVAL;
	}
	if (!TAILQ_EMPTY(&group->qpairs)) {
		return -EBUSY;
	}
	while ((tgroup = TAILQ_FIRST(&group->tgroups)) != NULL) {
		TAILQ_REMOVE(&group->tgroups, tgroup, link);
		tgroup->ops->poll_group_destroy(tgroup);
	}
	free(group);
	return 0;
}
