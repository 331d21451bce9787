/*
 * NVMe/RDMA connections: set-up on a poll group, accept, CM disconnects,
 * draining and teardown.
 *
 * Life of a connection:
 *   app thread   CONNECT_REQUEST passes nvmf_rdma_cm_check_req -> nvmf_rdma_qpair_create
 *                -> axon_nvmf_transport_new_qpair
 *   owner        poll_group_add -> nvmf_rdma_qpair_setup: QP on the group's CQ (and
 *                SRQ), requests, own receives posted, rdma_accept
 *   owner        ... commands ...
 *   either       the peer leaves (CM event on the app thread, passed to the
 *                owner by message), a work request fails, or lib/nvmf
 *                disconnects: nvmf_rdma_qpair_set_dead moves the QP to error
 *   owner        qpair_fini: rdma_disconnect, DRAINING until every posted work
 *                request came back flushed, then the QP is destroyed, the
 *                memory freed and lib/nvmf told
 *   app thread   the cm_id is destroyed (no CM event can name the connection
 *                after that), then the last reference frees the structure
 *
 * References: one for the CM side (dropped after rdma_destroy_id), one for
 * lib/nvmf's side (dropped after qpair_fini finished), one per message in
 * flight between the threads.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "rdma_internal.h"

/* ---- references -------------------------------------------------------------------- */

static void qpair_get(struct rdma_qpair *rqpair)
{
	atomic_fetch_add(&rqpair->refs, 1);
}

void nvmf_rdma_qpair_put(struct rdma_qpair *rqpair)
{
	if (atomic_fetch_sub(&rqpair->refs, 1) != 1) {
		return;
	}
	axon_rdma_device_put(rqpair->dev);
	free(rqpair);
}

struct rdma_qpair *nvmf_rdma_qpair_create(struct rdma_transport *rtransport, struct rdma_cm_id *id,
				     const struct rdma_cm_conn_req *conn,
				     const struct axon_nvmf_trid *listen_trid)
{
	struct rdma_qpair *rqpair;
	struct axon_rdma_device *dev;

	dev = axon_rdma_device_get_by_context(id->verbs);
	if (dev == NULL) {
		AXON_ERRLOG("connect request on a device Axon does not handle\n");
		return NULL;
	}
	rqpair = calloc(1, sizeof(*rqpair));
	if (rqpair == NULL) {
		AXON_ERRLOG("out of memory for a queue pair\n");
		axon_rdma_device_put(dev);
		return NULL;
	}
	rqpair->qpair.transport = &rtransport->base;
	rqpair->rtransport = rtransport;
	rqpair->cm_id = id;
	rqpair->dev = dev;
	rqpair->conn = *conn;
	rqpair->id = ++rtransport->next_qpair_id;
	rqpair->state = RDMA_CONN_STATE_NEW;
	if (listen_trid != NULL) {
		rqpair->listen_trid = *listen_trid;
	}
	atomic_init(&rqpair->refs, 2);
	atomic_init(&rqpair->cm_disconnected, false);
	atomic_init(&rqpair->owner, NULL);
	TAILQ_INIT(&rqpair->free_reqs);
	TAILQ_INIT(&rqpair->pending_read);
	TAILQ_INIT(&rqpair->pending_complete);
	id->context = rqpair;
	TAILQ_INSERT_TAIL(&rtransport->conns, rqpair, conn_link);
	return rqpair;
}

/* ---- set-up (owner) ------------------------------------------------------------------ */

static int qpair_recvs_alloc(struct rdma_qpair *rqpair, uint32_t num)
{
	uint32_t size = AXON_ALIGN_UP((uint32_t)sizeof(union axon_nvmf_sqe) +
				      rqpair->rtransport->base.opts.in_capsule_data_size, 64u);
	uint32_t lkey, i;
	int rc;

	rqpair->recvs = calloc(num, sizeof(*rqpair->recvs));
	rqpair->recv_bufs = axon_dma_malloc((size_t)num * size, 4096, AXON_ENV_SOCKET_ID_ANY);
	if (rqpair->recvs == NULL || rqpair->recv_bufs == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = nvmf_rdma_verbs_translate(rqpair->dev, rqpair->recv_bufs, (size_t)num * size, &lkey);
	if (rc != 0) {
		goto err;
	}
	rqpair->num_recvs = num;
	for (i = 0; i < num; i++) {
		struct rdma_recv *recv = &rqpair->recvs[i];

		recv->ctx.type = RDMA_WR_RECV;
		recv->rqpair = rqpair;
		recv->poller = rqpair->poller;
		recv->buf = rqpair->recv_bufs + (size_t)i * size;
		recv->sge.addr = (uintptr_t)recv->buf;
		recv->sge.length = size;
		recv->sge.lkey = lkey;
		recv->wr.wr_id = (uintptr_t)&recv->ctx;
		recv->wr.sg_list = &recv->sge;
		recv->wr.num_sge = 1;
		nvmf_rdma_recv_release(recv);
	}
	return 0;

err:
	free(rqpair->recvs);
	axon_dma_free(rqpair->recv_bufs);
	rqpair->recvs = NULL;
	rqpair->recv_bufs = NULL;
	return rc;
}

static void qpair_recvs_free(struct rdma_qpair *rqpair)
{
	free(rqpair->recvs);
	axon_dma_free(rqpair->recv_bufs);
	rqpair->recvs = NULL;
	rqpair->recv_bufs = NULL;
	rqpair->num_recvs = 0;
}

/* Completions the QP may produce at once: its send queue and own receives. */
static uint32_t qpair_cqes(const struct rdma_qpair *rqpair)
{
	return rqpair->max_send_wr + (rqpair->poller->srq == NULL ? rqpair->conn.sq_entries : 0);
}

static int qpair_create_qp(struct rdma_qpair *rqpair)
{
	const struct axon_nvmf_transport_opts *opts = &rqpair->rtransport->base.opts;
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(rqpair->dev);
	struct rdma_device_poller *poller = rqpair->poller;
	uint32_t max_iovs = AXON_DIV_ROUND_UP(opts->max_io_size, opts->io_unit_size);
	uint32_t sge = AXON_MIN((uint32_t)attr->max_sge, (uint32_t)AXON_NVMF_REQ_MAX_IOVS);
	uint32_t wrs_per_req = AXON_DIV_ROUND_UP(max_iovs, AXON_MAX(sge, 1u)) + 1;
	struct axon_rdma_qp_opts qopts = {0};
	int rc;

	qopts.send_cq = poller->cq;
	qopts.recv_cq = poller->cq;
	qopts.srq = poller->srq;
	qopts.max_send_wr = (uint32_t)rqpair->conn.sq_entries * wrs_per_req;
	qopts.max_recv_wr = rqpair->conn.sq_entries;
	qopts.max_send_sge = AXON_MAX(sge, 1u);
	qopts.max_recv_sge = 1;
	qopts.qp_context = rqpair;
	rqpair->max_send_wr = qopts.max_send_wr;
	rc = nvmf_rdma_poller_reserve_cqes(poller, qpair_cqes(rqpair));
	if (rc != 0) {
		return rc;
	}
	rc = axon_rdma_qp_create(rqpair->cm_id, &qopts);
	if (rc != 0) {
		nvmf_rdma_poller_release_cqes(poller, qpair_cqes(rqpair));
		return rc;
	}
	rqpair->qp = rqpair->cm_id->qp;
	rqpair->qp_num = rqpair->qp->qp_num;
	/* The device may have given less; keep the CQ reservation as asked. */
	rqpair->max_send_sge = qopts.max_send_sge;
	if (qopts.max_send_wr < rqpair->max_send_wr) {
		rqpair->max_send_wr = qopts.max_send_wr;
	}
	if (rqpair->max_send_sge * RDMA_REQ_MAX_DATA_WRS < max_iovs || rqpair->max_send_wr < 2) {
		AXON_ERRLOG("qpair %u: %u SGEs and %u send WRs cannot carry %u buffers\n",
			    rqpair->id, rqpair->max_send_sge, rqpair->max_send_wr, max_iovs);
		return -EINVAL;
	}
	return 0;
}

static void qpair_destroy_qp(struct rdma_qpair *rqpair)
{
	if (rqpair->qp == NULL) {
		return;
	}
	rdma_destroy_qp(rqpair->cm_id);
	rqpair->qp = NULL;
	nvmf_rdma_poller_release_cqes(rqpair->poller, qpair_cqes(rqpair));
}

static int qpair_accept(struct rdma_qpair *rqpair)
{
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(rqpair->dev);
	struct rdma_cm_accept_pdata pd;
	struct rdma_conn_param param = {0};

	/* Our ORD: RDMA READs we issue at once, within what the host serves. */
	rqpair->max_reads = AXON_MIN((uint32_t)rqpair->conn.initiator_depth,
				     (uint32_t)attr->max_qp_init_rd_atom);
	rqpair->max_reads = AXON_MAX(rqpair->max_reads, 1u);
	/* Our IRD: the host's READs we serve (we expose no memory, but stay fair). */
	rqpair->responder_resources = (uint8_t)AXON_MIN((uint32_t)rqpair->conn.responder_resources,
							(uint32_t)attr->max_qp_rd_atom);
	nvmf_rdma_cm_build_accept(&pd, rqpair->conn.sq_entries);
	param.private_data = &pd;
	param.private_data_len = sizeof(pd);
	param.responder_resources = rqpair->responder_resources;
	param.initiator_depth = (uint8_t)rqpair->max_reads;
	param.rnr_retry_count = RDMA_RNR_RETRY_INFINITE;
	param.retry_count = 7;
	if (rdma_accept(rqpair->cm_id, &param) != 0) {
		int rc = errno != 0 ? -errno : -EIO;

		AXON_ERRLOG("qpair %u: rdma_accept failed: %s\n", rqpair->id, strerror(-rc));
		return rc;
	}
	rqpair->accepted = true;
	return 0;
}

int nvmf_rdma_qpair_setup(struct rdma_qpair *rqpair, struct rdma_device_poller *poller)
{
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(rqpair->dev);
	int rc;

	rqpair->poller = poller;
	rqpair->can_invalidate = (attr->device_cap_flags & IBV_DEVICE_MEM_MGT_EXTENSIONS) != 0;
	rc = qpair_create_qp(rqpair);
	if (rc != 0) {
		goto err_qp;
	}
	rc = nvmf_rdma_reqs_alloc(rqpair, (uint32_t)rqpair->conn.sq_entries * RDMA_REQS_PER_SQ_ENTRY);
	if (rc != 0) {
		goto err_qp;
	}
	if (poller->srq == NULL) {
		rc = qpair_recvs_alloc(rqpair, rqpair->conn.sq_entries);
		if (rc != 0) {
			goto err_reqs;
		}
	}
	rqpair->state = RDMA_CONN_STATE_ACTIVE;
	TAILQ_INSERT_TAIL(&poller->qpairs, rqpair, link);
	rqpair->in_poller = true;
	/* Receives go up before the accept: the host may send at once. */
	nvmf_rdma_poller_flush(poller);
	if (rdma_qpair_is_dead(rqpair)) {
		rc = -EIO;
		goto err_unlink;
	}
	rc = qpair_accept(rqpair);
	if (rc != 0) {
		goto err_unlink;
	}
	AXON_NOTICELOG("qpair %u: qid %u accepted on %s: %u entries, %u requests, ORD %u, %s\n",
		       rqpair->id, rqpair->conn.qid, axon_rdma_device_get_name(rqpair->dev),
		       rqpair->conn.sq_entries, rqpair->num_reqs, rqpair->max_reads,
		       poller->srq != NULL ? "SRQ" : "own receive queue");
	return 0;

err_unlink:
	/* Nothing of ours went to the host; posted receives flush with the QP. */
	rqpair->state = RDMA_CONN_STATE_NEW;
	TAILQ_REMOVE(&poller->qpairs, rqpair, link);
	rqpair->in_poller = false;
	if (rqpair->on_post_list) {
		TAILQ_REMOVE(&poller->to_post, rqpair, post_link);
		rqpair->on_post_list = false;
	}
	rqpair->recv_head = rqpair->recv_tail = NULL;
	qpair_destroy_qp(rqpair);
	qpair_recvs_free(rqpair);
err_reqs:
	nvmf_rdma_reqs_free(rqpair);
err_qp:
	qpair_destroy_qp(rqpair);
	rqpair->poller = NULL;
	return rc;
}

/* ---- CM disconnects ---------------------------------------------------------------------- */

static void qpair_disconnect_cm(struct rdma_qpair *rqpair)
{
	if (rqpair->accepted && !rqpair->disconnect_sent) {
		rqpair->disconnect_sent = true;
		/* Also answers the host's DREQ; an error only means it is done already. */
		rdma_disconnect(rqpair->cm_id);
	}
}

static void _qpair_cm_disconnected(void *arg)
{
	struct rdma_qpair *rqpair = arg;

	if (rqpair->state == RDMA_CONN_STATE_ACTIVE) {
		nvmf_rdma_qpair_set_dead(rqpair, "the host disconnected");
		qpair_disconnect_cm(rqpair);
	}
	nvmf_rdma_qpair_put(rqpair);
}

void nvmf_rdma_qpair_cm_disconnected(struct rdma_qpair *rqpair)
{
	struct axon_thread *owner;

	if (atomic_exchange(&rqpair->cm_disconnected, true)) {
		return;
	}
	/* Pairs with nvmf_rdma_poll_group_add(): see the comment there. */
	owner = atomic_load(&rqpair->owner);
	if (owner == NULL) {
		return;
	}
	qpair_get(rqpair);
	if (axon_thread_send_msg(owner, _qpair_cm_disconnected, rqpair) != 0) {
		AXON_ERRLOG("qpair %u: cannot tell its poll group about the disconnect\n", rqpair->id);
		nvmf_rdma_qpair_put(rqpair);
	}
}

/* ---- teardown ------------------------------------------------------------------------------ */

/* App thread: the owner is done with the cm_id. */
static void _qpair_cm_release(void *arg)
{
	struct rdma_qpair *rqpair = arg;

	TAILQ_REMOVE(&rqpair->rtransport->conns, rqpair, conn_link);
	rqpair->cm_id->context = NULL;
	if (rdma_destroy_id(rqpair->cm_id) != 0) {
		AXON_ERRLOG("qpair %u: rdma_destroy_id failed: %s\n", rqpair->id, strerror(errno));
	}
	rqpair->cm_id = NULL;
	nvmf_rdma_qpair_put(rqpair);
}

/* Owner: everything of the connection is released but the cm_id and the
 * structure. lib/nvmf hears of it from nvmf_rdma_group_run_finished(). */
static void qpair_finish(struct rdma_qpair *rqpair)
{
	rqpair->state = RDMA_CONN_STATE_CLOSED;
	if (axon_thread_send_msg(rqpair->rtransport->app_thread, _qpair_cm_release, rqpair) != 0) {
		AXON_ERRLOG("qpair %u: cannot hand its cm_id back; leaking it\n", rqpair->id);
	}
	if (rqpair->rgroup != NULL) {
		TAILQ_INSERT_TAIL(&rqpair->rgroup->finished, rqpair, disconnect_link);
		return;
	}
	/* Never on a poll group: nothing of ours runs around this call. */
	if (rqpair->fini_cb != NULL) {
		rqpair->fini_cb(rqpair->fini_cb_arg);
	}
	nvmf_rdma_qpair_put(rqpair);
}

void nvmf_rdma_group_run_finished(struct rdma_poll_group *rgroup)
{
	TAILQ_HEAD(, rdma_qpair) done = TAILQ_HEAD_INITIALIZER(done);
	struct rdma_qpair *rqpair;

	/* A callback may destroy the group (lib/nvmf's teardown): from here on
	 * only the local list and the queue pairs are touched. */
	TAILQ_CONCAT(&done, &rgroup->finished, disconnect_link);
	while ((rqpair = TAILQ_FIRST(&done)) != NULL) {
		axon_nvmf_qpair_fini_cb cb = rqpair->fini_cb;
		void *cb_arg = rqpair->fini_cb_arg;

		TAILQ_REMOVE(&done, rqpair, disconnect_link);
		nvmf_rdma_qpair_put(rqpair);
		if (cb != NULL) {
			cb(cb_arg);
		}
	}
}

void nvmf_rdma_qpair_drain_done(struct rdma_qpair *rqpair)
{
	bool drained = nvmf_rdma_qpair_is_drained(rqpair);

	assert(rqpair->state == RDMA_CONN_STATE_DRAINING);
	TAILQ_REMOVE(&rqpair->poller->qpairs, rqpair, link);
	rqpair->in_poller = false;
	rqpair->rgroup->draining--;
	qpair_destroy_qp(rqpair);
	if (!drained) {
		/* A completion may still name its requests: keep their memory. */
		AXON_ERRLOG("qpair %u: %u sends, %u receives, %u requests still out after %u ms; "
			    "leaking them\n", rqpair->id, rqpair->sends_posted, rqpair->recvs_posted,
			    nvmf_rdma_reqs_in_use(rqpair), RDMA_DRAIN_TIMEOUT_US / 1000u);
		qpair_get(rqpair);
	} else {
		nvmf_rdma_reqs_free(rqpair);
		qpair_recvs_free(rqpair);
	}
	AXON_DEBUGLOG(nvmf_rdma, "qpair %u: drained and closed\n", rqpair->id);
	qpair_finish(rqpair);
}

int nvmf_rdma_poller_check_draining(struct rdma_device_poller *poller)
{
	struct rdma_qpair *rqpair, *tmp;
	uint64_t now = 0;
	int count = 0;

	if (poller->rgroup->draining == 0) {
		return 0;
	}
	TAILQ_FOREACH_SAFE(rqpair, &poller->qpairs, link, tmp) {
		if (rqpair->state != RDMA_CONN_STATE_DRAINING) {
			continue;
		}
		if (!nvmf_rdma_qpair_is_drained(rqpair)) {
			now = now != 0 ? now : nvmf_rdma_verbs_now_us();
			if (now < rqpair->drain_deadline) {
				continue;
			}
		}
		nvmf_rdma_qpair_drain_done(rqpair);
		count++;
	}
	return count;
}

void nvmf_rdma_qpair_fini(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb_fn, void *cb_arg)
{
	struct rdma_qpair *rqpair = rdma_qpair_from_base(qpair);

	assert(!rqpair->fini_called);
	rqpair->fini_called = true;
	rqpair->fini_cb = cb_fn;
	rqpair->fini_cb_arg = cb_arg;
	if (rqpair->on_disconnect_list) {
		TAILQ_REMOVE(&rqpair->rgroup->to_disconnect, rqpair, disconnect_link);
		rqpair->on_disconnect_list = false;
	}
	if (rqpair->state == RDMA_CONN_STATE_NEW) {
		/* Never set up (no poll group, or set-up failed): refuse the host. */
		struct rdma_poll_group *rgroup = rqpair->rgroup;
		struct rdma_cm_reject_pdata pd;

		nvmf_rdma_cm_build_reject(&pd, RDMA_CM_REJECT_NO_RESOURCES);
		rdma_reject(rqpair->cm_id, &pd, sizeof(pd));
		qpair_finish(rqpair);
		if (rgroup != NULL) {
			nvmf_rdma_group_run_finished(rgroup);
		}
		return;
	}
	nvmf_rdma_qpair_set_dead(rqpair, "disconnected by the target");
	qpair_disconnect_cm(rqpair);
	rqpair->state = RDMA_CONN_STATE_DRAINING;
	rqpair->drain_deadline = nvmf_rdma_verbs_now_us() + RDMA_DRAIN_TIMEOUT_US;
	rqpair->rgroup->draining++;
	if (nvmf_rdma_qpair_is_drained(rqpair)) {
		struct rdma_poll_group *rgroup = rqpair->rgroup;

		nvmf_rdma_qpair_drain_done(rqpair);
		nvmf_rdma_group_run_finished(rgroup);
	}
}
