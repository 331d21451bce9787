/*
 * The request life cycle inside lib/nvmf.
 *
 *   TRANSPORT --exec--> NEW --+--> EXECUTING ------------------> COMPLETING --> TRANSPORT
 *                             |      |  ^  \--> BDEV_WAIT --/      ^ (next group poll:
 *                             |      |  |                          |  ops->req_complete)
 *                             +--> HELD (subsystem paused) --------+ (resume: back to NEW)
 *                             +--> FUSED_WAIT (first of a pair) ---+
 *                             +--> AER_PARKED (until an event) ----+
 *
 * Every transition goes through nvmf_request_set_state(), which checks it
 * against the table below (a wrong one is an internal bug: asserted) and
 * traces it under the "nvmf" log flag.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

static const char *const g_req_state_names[AXON_NVMF_REQ_STATE_COUNT] = {
	[AXON_NVMF_REQ_STATE_TRANSPORT] = "transport",
	[AXON_NVMF_REQ_STATE_NEW] = "new",
	[AXON_NVMF_REQ_STATE_HELD] = "held",
	[AXON_NVMF_REQ_STATE_FUSED_WAIT] = "fused_wait",
	[AXON_NVMF_REQ_STATE_EXECUTING] = "executing",
	[AXON_NVMF_REQ_STATE_BDEV_WAIT] = "bdev_wait",
	[AXON_NVMF_REQ_STATE_AER_PARKED] = "aer_parked",
	[AXON_NVMF_REQ_STATE_COMPLETING] = "completing",
};

#define S(x) (1u << AXON_NVMF_REQ_STATE_##x)
/* Allowed predecessors of each state. */
/* Checked by assert, so only debug builds read it. */
__attribute__((unused)) static const uint32_t g_req_state_from[AXON_NVMF_REQ_STATE_COUNT] = {
	[AXON_NVMF_REQ_STATE_TRANSPORT] = S(COMPLETING),
	[AXON_NVMF_REQ_STATE_NEW] = S(TRANSPORT) | S(HELD),
	[AXON_NVMF_REQ_STATE_HELD] = S(NEW),
	[AXON_NVMF_REQ_STATE_FUSED_WAIT] = S(NEW) | S(EXECUTING),
	[AXON_NVMF_REQ_STATE_EXECUTING] = S(NEW) | S(BDEV_WAIT) | S(FUSED_WAIT),
	[AXON_NVMF_REQ_STATE_BDEV_WAIT] = S(EXECUTING),
	[AXON_NVMF_REQ_STATE_AER_PARKED] = S(EXECUTING),
	[AXON_NVMF_REQ_STATE_COMPLETING] = S(NEW) | S(HELD) | S(FUSED_WAIT) | S(EXECUTING) |
					   S(BDEV_WAIT) | S(AER_PARKED),
};
#undef S

const char *nvmf_request_state_str(enum axon_nvmf_req_state state)
{
	return state < AXON_NVMF_REQ_STATE_COUNT ? g_req_state_names[state] : "invalid";
}

void nvmf_request_set_state(struct axon_nvmf_request *req, enum axon_nvmf_req_state state)
{
	assert(state < AXON_NVMF_REQ_STATE_COUNT);
	assert(g_req_state_from[state] & (1u << req->state));
	AXON_DEBUGLOG(nvmf, "req %p cid %u: %s -> %s\n", (void *)req, req->cmd->nvme.cid,
		      nvmf_request_state_str(req->state), nvmf_request_state_str(state));
	req->state = state;
}

void nvmf_request_set_status(struct axon_nvmf_request *req, uint16_t status)
{
	axon_nvme_cpl_set_status(&req->rsp->nvme, status);
}

/* ---- data copies ---------------------------------------------------------------- */

size_t nvmf_request_copy_to_iov(struct axon_nvmf_request *req, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;

	for (uint32_t i = 0; i < req->iovcnt && done < len; i++) {
		size_t n = AXON_MIN(req->iov[i].iov_len, len - done);

		memcpy(req->iov[i].iov_base, src + done, n);
		done += n;
	}
	return done;
}

size_t nvmf_request_copy_from_iov(struct axon_nvmf_request *req, void *buf, size_t len,
				  size_t offset)
{
	uint8_t *dst = buf;
	size_t done = 0;

	for (uint32_t i = 0; i < req->iovcnt && done < len; i++) {
		size_t l = req->iov[i].iov_len;
		size_t n;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		n = AXON_MIN(l - offset, len - done);
		memcpy(dst + done, (uint8_t *)req->iov[i].iov_base + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

/* ---- completion ---------------------------------------------------------------- */

static void sgroup_put(struct axon_nvmf_poll_group *group, struct axon_nvmf_request *req)
{
	struct nvmf_subsystem_pg *sgroup;

	if (!req->counted) {
		return;
	}
	req->counted = false;
	sgroup = &group->sgroups[req->subsys_id];
	assert(sgroup->outstanding > 0);
	sgroup->outstanding--;
	if (sgroup->outstanding == 0 && sgroup->drain_iter != NULL) {
		struct axon_io_channel_iter *iter = sgroup->drain_iter;

		sgroup->drain_iter = NULL;
		if (sgroup->release_on_drain) {
			sgroup->release_on_drain = false;
			nvmf_sgroup_release_all(sgroup);
		}
		axon_for_each_channel_continue(iter, 0);
	}
}

void nvmf_request_uncount(struct axon_nvmf_request *req)
{
	sgroup_put(req->qpair->group, req);
}

void nvmf_request_complete(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;
	struct axon_nvme_cpl *cpl = &req->rsp->nvme;

	cpl->cid = req->cmd->nvme.cid;
	cpl->sqid = qpair->qid;
	cpl->sqhd = qpair->sq_head;
	sgroup_put(qpair->group, req);
	if (axon_nvme_cpl_is_error(cpl) && qpair->ctrlr != NULL &&
	    axon_get_thread() == qpair->ctrlr->thread) {
		nvmf_ctrlr_record_error(qpair->ctrlr, req);
	}
	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_COMPLETING);
	TAILQ_INSERT_TAIL(&qpair->group->completed, req, link);
}

int nvmf_poll_group_process_completions(struct axon_nvmf_poll_group *group)
{
	int count = 0;

	while (count < NVMF_COMPLETION_BUDGET && !TAILQ_EMPTY(&group->completed)) {
		struct axon_nvmf_request *req = TAILQ_FIRST(&group->completed);
		struct axon_nvmf_qpair *qpair = req->qpair;
		int rc;

		TAILQ_REMOVE(&group->completed, req, link);
		nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_TRANSPORT);
		if (qpair->qid != 0 && !axon_nvme_cpl_is_error(&req->rsp->nvme)) {
			group->stat.completed_nvme_io++;
		}
		/* The transport may free req (and, never here, the qpair). */
		rc = qpair->transport->ops->req_complete(req);
		if (rc != 0) {
			AXON_ERRLOG("nvmf: transport %s failed to complete a request: %d\n",
				    qpair->transport->ops->name, rc);
		}
		assert(qpair->outstanding > 0);
		qpair->outstanding--;
		count++;
		if (qpair->outstanding == 0 && qpair->disconnect_started) {
			nvmf_qpair_request_done(qpair);
		}
	}
	return count;
}

void axon_nvmf_request_complete_with_status(struct axon_nvmf_request *req, uint16_t status)
{
	req->qpair->outstanding++;
	req->counted = false;
	req->state = AXON_NVMF_REQ_STATE_NEW;
	memset(req->rsp, 0, sizeof(*req->rsp));
	nvmf_request_set_status(req, status);
	nvmf_request_complete(req);
}

/* ---- held requests (subsystem paused) ------------------------------------------- */

void nvmf_sgroup_fail_held(struct nvmf_subsystem_pg *sgroup, uint16_t status)
{
	struct axon_nvmf_request *req, *tmp;

	TAILQ_FOREACH_SAFE(req, &sgroup->held, link, tmp) {
		TAILQ_REMOVE(&sgroup->held, req, link);
		nvmf_request_set_status(req, status);
		nvmf_request_complete(req);
	}
}

void nvmf_sgroup_release_held(struct nvmf_subsystem_pg *sgroup)
{
	TAILQ_HEAD(, axon_nvmf_request) list = TAILQ_HEAD_INITIALIZER(list);
	struct axon_nvmf_request *req;

	/* Move them first: dispatching may hold them again if the state changes. */
	TAILQ_CONCAT(&list, &sgroup->held, link);
	while ((req = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, req, link);
		nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_NEW);
		nvmf_request_dispatch(req);
	}
}

/* Fail the requests of one qpair held by any subsystem of its group. */
static void qpair_fail_held(struct axon_nvmf_qpair *qpair)
{
	struct axon_nvmf_poll_group *group = qpair->group;

	for (uint32_t i = 0; i < group->num_sgroups; i++) {
		struct axon_nvmf_request *req, *tmp;

		TAILQ_FOREACH_SAFE(req, &group->sgroups[i].held, link, tmp) {
			if (req->qpair != qpair) {
				continue;
			}
			TAILQ_REMOVE(&group->sgroups[i].held, req, link);
			nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC,
								      NVME_SC_ABORT_QUEUE));
			nvmf_request_complete(req);
		}
	}
}

bool nvmf_qpair_abort_cid(struct axon_nvmf_qpair *qpair, uint16_t cid)
{
	struct axon_nvmf_poll_group *group = qpair->group;
	const uint16_t status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ);

	for (uint32_t i = 0; i < group->num_sgroups; i++) {
		struct axon_nvmf_request *req;

		TAILQ_FOREACH(req, &group->sgroups[i].held, link) {
			if (req->qpair == qpair && req->cmd->nvme.cid == cid) {
				TAILQ_REMOVE(&group->sgroups[i].held, req, link);
				nvmf_request_set_status(req, status);
				nvmf_request_complete(req);
				return true;
			}
		}
	}
	if (qpair->first_fused != NULL && qpair->first_fused->cmd->nvme.cid == cid) {
		struct axon_nvmf_request *req = qpair->first_fused;

		qpair->first_fused = NULL;
		nvmf_request_set_status(req, status);
		nvmf_request_complete(req);
		return true;
	}
	if (qpair->transport->ops->qpair_abort_request != NULL) {
		return qpair->transport->ops->qpair_abort_request(qpair, cid);
	}
	return false;
}

/* ---- execution -------------------------------------------------------------------- */

void nvmf_request_dispatch(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;
	struct axon_nvmf_ctrlr *ctrlr = qpair->ctrlr;
	struct nvmf_subsystem_pg *sgroup;

	if (qpair->state != AXON_NVMF_QPAIR_ENABLED || ctrlr == NULL) {
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE));
		nvmf_request_complete(req);
		return;
	}
	sgroup = &qpair->group->sgroups[ctrlr->subsys->id];
	switch (sgroup->state) {
	case AXON_NVMF_SUBSYSTEM_ACTIVE:
		break;
	case AXON_NVMF_SUBSYSTEM_PAUSED:
		nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_HELD);
		TAILQ_INSERT_TAIL(&sgroup->held, req, link);
		return;
	default:
		/* Being stopped: the host may retry on another path. */
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY));
		nvmf_request_complete(req);
		return;
	}
	req->subsys_id = ctrlr->subsys->id;
	req->counted = true;
	sgroup->outstanding++;
	if (qpair->qid == 0) {
		nvmf_admin_cmd_exec(req);
	} else {
		nvmf_io_cmd_exec(req);
	}
}

void axon_nvmf_request_exec(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;

	qpair->outstanding++;
	req->state = AXON_NVMF_REQ_STATE_TRANSPORT;
	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_NEW);
	req->counted = false;
	req->fused_partner = NULL;
	req->sub_outstanding = 0;
	req->sub_status = 0;
	memset(req->rsp, 0, sizeof(*req->rsp));

	if (qpair->state != AXON_NVMF_QPAIR_ENABLED && qpair->state != AXON_NVMF_QPAIR_CONNECTING) {
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE));
		nvmf_request_complete(req);
		return;
	}
	if (qpair->sq_size != 0 && ++qpair->sq_head == qpair->sq_size) {
		qpair->sq_head = 0;
	}
	if (req->cmd->fabric.opcode == AXON_NVMF_FABRIC_OPCODE) {
		if (req->cmd->fabric.fctype == AXON_NVMF_FCTYPE_CONNECT) {
			nvmf_ctrlr_handle_connect(req);
		} else {
			nvmf_ctrlr_handle_fabric(req);
		}
		return;
	}
	if (qpair->state != AXON_NVMF_QPAIR_ENABLED) {
		/* Anything but Connect before Connect. */
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) |
					     AXON_NVME_STATUS_DNR);
		nvmf_request_complete(req);
		return;
	}
	nvmf_request_dispatch(req);
}

/* ---- queue pair disconnect ------------------------------------------------------------ */

struct qpair_fini_ctx {
	struct axon_nvmf_poll_group *group;
	void (*cb)(void *cb_arg);
	void *cb_arg;
};

static void poll_group_check_destroy(struct axon_nvmf_poll_group *group);

static void qpair_fini_done(void *arg)
{
	struct qpair_fini_ctx *ctx = arg;
	struct axon_nvmf_poll_group *group = ctx->group;

	if (ctx->cb != NULL) {
		ctx->cb(ctx->cb_arg);
	}
	free(ctx);
	poll_group_check_destroy(group);
}

static void qpair_detached(void *arg)
{
	struct axon_nvmf_qpair *qpair = arg;
	struct axon_nvmf_poll_group *group = qpair->group;
	struct qpair_fini_ctx *ctx = calloc(1, sizeof(*ctx));

	if (qpair->tgroup != NULL && qpair->transport->ops->poll_group_remove != NULL) {
		qpair->transport->ops->poll_group_remove(qpair->tgroup, qpair);
	}
	TAILQ_REMOVE(&group->qpairs, qpair, link);
	if (qpair->ctrlr != NULL) {
		if (qpair->qid == 0) {
			group->stat.current_admin_qpairs--;
		} else {
			group->stat.current_io_qpairs--;
		}
	}
	qpair->ctrlr = NULL;
	qpair->state = AXON_NVMF_QPAIR_ERROR;
	if (ctx == NULL) {
		/* Out of memory on teardown: finish without telling the caller. */
		AXON_ERRLOG("nvmf: out of memory finishing a queue pair\n");
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		poll_group_check_destroy(group);
		return;
	}
	ctx->group = group;
	ctx->cb = qpair->disconnect_cb;
	ctx->cb_arg = qpair->disconnect_cb_arg;
	qpair->transport->ops->qpair_fini(qpair, qpair_fini_done, ctx);
}

void nvmf_qpair_request_done(struct axon_nvmf_qpair *qpair)
{
	if (qpair->state != AXON_NVMF_QPAIR_DEACTIVATING || qpair->outstanding != 0) {
		return;
	}
	/* Detaching happens once: ERROR-bound from here. */
	qpair->state = AXON_NVMF_QPAIR_ERROR;
	if (qpair->ctrlr != NULL) {
		nvmf_ctrlr_qpair_detach(qpair, qpair_detached, qpair);
	} else {
		qpair_detached(qpair);
	}
}

int axon_nvmf_qpair_disconnect(struct axon_nvmf_qpair *qpair, void (*cb)(void *cb_arg),
			       void *cb_arg)
{
	if (qpair->disconnect_started) {
		return -EINPROGRESS;
	}
	qpair->disconnect_started = true;
	qpair->disconnect_cb = cb;
	qpair->disconnect_cb_arg = cb_arg;
	qpair->state = AXON_NVMF_QPAIR_DEACTIVATING;
	AXON_DEBUGLOG(nvmf, "qpair %p (qid %u) disconnecting, %u outstanding\n", (void *)qpair,
		      qpair->qid, qpair->outstanding);

	/* Finish what lib/nvmf holds without a handler running. */
	qpair_fail_held(qpair);
	if (qpair->first_fused != NULL) {
		nvmf_io_fused_abort(qpair);
	}
	if (qpair->qid == 0 && qpair->ctrlr != NULL) {
		nvmf_ctrlr_abort_aers(qpair->ctrlr);
	}
	if (qpair->outstanding == 0) {
		nvmf_qpair_request_done(qpair);
	}
	return 0;
}

/* ---- poll group teardown hook ------------------------------------------------------ */

static void poll_group_check_destroy(struct axon_nvmf_poll_group *group)
{
	if (group->destroying && TAILQ_EMPTY(&group->qpairs)) {
		nvmf_poll_group_destroy_continue(group);
	}
}
