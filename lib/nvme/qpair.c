/*
 * Queue pairs: the request pool, submission to the transport (queueing when
 * it is full), completion, connecting (transport handshake then fabrics
 * Connect), per-command timeouts, and I/O qpair allocation.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "nvme_internal.h"

bool nvme_qpair_is_admin(const struct axon_nvme_qpair *qpair)
{
	return qpair->id == 0;
}

int nvme_qpair_init(struct axon_nvme_qpair *qpair, struct axon_nvme_ctrlr *ctrlr, uint16_t id,
		    uint32_t depth, uint32_t num_reqs)
{
	uint32_t i;

	qpair->ctrlr = ctrlr;
	qpair->ops = ctrlr->ops;
	qpair->id = id;
	qpair->depth = depth;
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
	TAILQ_INIT(&qpair->free_reqs);
	TAILQ_INIT(&qpair->outstanding);
	TAILQ_INIT(&qpair->queued);
	qpair->reqs = calloc(num_reqs, sizeof(*qpair->reqs));
	if (qpair->reqs == NULL) {
		return -ENOMEM;
	}
	qpair->num_reqs = num_reqs;
	for (i = 0; i < num_reqs; i++) {
		qpair->reqs[i].internal.qpair = qpair;
		TAILQ_INSERT_TAIL(&qpair->free_reqs, &qpair->reqs[i], internal.link);
	}
	return 0;
}

void nvme_qpair_fini(struct axon_nvme_qpair *qpair)
{
	free(qpair->reqs);
	qpair->reqs = NULL;
	qpair->num_reqs = 0;
}

static void qpair_put_req(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	req->internal.cb = NULL;
	req->internal.cb_arg = NULL;
	TAILQ_INSERT_HEAD(&qpair->free_reqs, req, internal.link);
}

void axon_nvme_qpair_complete_request(struct axon_nvme_qpair *qpair,
				      struct axon_nvme_request *req,
				      const struct axon_nvme_cpl *cpl)
{
	axon_nvme_cmd_cb cb = req->internal.cb;
	void *cb_arg = req->internal.cb_arg;

	assert(req->internal.qpair == qpair);
	TAILQ_REMOVE(&qpair->outstanding, req, internal.link);
	qpair->num_outstanding--;
	/* Recycle first: the callback may submit the next command. */
	qpair_put_req(qpair, req);
	if (cb != NULL) {
		cb(cb_arg, cpl);
	}
}

/* Complete a request lib/nvme still holds (queued, never given to the transport). */
static void qpair_complete_queued(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req,
				  uint16_t status)
{
	axon_nvme_cmd_cb cb = req->internal.cb;
	void *cb_arg = req->internal.cb_arg;
	struct axon_nvme_cpl cpl;

	nvme_cpl_init(&cpl, req->cmd.cid, qpair->id, status);
	TAILQ_REMOVE(&qpair->queued, req, internal.link);
	qpair->num_outstanding--;
	qpair_put_req(qpair, req);
	if (cb != NULL) {
		cb(cb_arg, &cpl);
	}
}

void nvme_qpair_abort_all(struct axon_nvme_qpair *qpair, uint16_t status)
{
	struct axon_nvme_request *req;
	struct axon_nvme_cpl cpl;

	while ((req = TAILQ_FIRST(&qpair->queued)) != NULL) {
		qpair_complete_queued(qpair, req, status);
	}
	/* Whatever the transport did not complete in its disconnect. */
	while ((req = TAILQ_FIRST(&qpair->outstanding)) != NULL) {
		nvme_cpl_init(&cpl, req->cmd.cid, qpair->id, status);
		axon_nvme_qpair_complete_request(qpair, req, &cpl);
	}
}

static int qpair_transport_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	int rc;

	req->internal.submit_us = nvme_now_us();
	req->internal.timed_out = false;
	rc = qpair->ops->qpair_submit(qpair, req);
	if (rc == 0) {
		TAILQ_INSERT_TAIL(&qpair->outstanding, req, internal.link);
	}
	return rc;
}

/* Retry queued requests in order while the transport takes them. */
static void qpair_resubmit_queued(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_request *req;
	int rc;

	while ((req = TAILQ_FIRST(&qpair->queued)) != NULL &&
	       (qpair->state == AXON_NVME_QPAIR_ENABLED ||
		qpair->state == AXON_NVME_QPAIR_FABRIC_CONNECTING)) {
		TAILQ_REMOVE(&qpair->queued, req, internal.link);
		rc = qpair_transport_submit(qpair, req);
		if (rc == -EAGAIN) {
			TAILQ_INSERT_HEAD(&qpair->queued, req, internal.link);
			return;
		}
		if (rc != 0) {
			TAILQ_INSERT_HEAD(&qpair->queued, req, internal.link);
			qpair_complete_queued(qpair, req,
					      AXON_NVME_STATUS(0, NVME_SC_TRANSIENT_TRANSPORT_CODE));
		}
	}
}

int nvme_qpair_submit_cmd(struct axon_nvme_qpair *qpair, const struct axon_nvme_cmd *cmd,
			  const struct iovec *iov, int iovcnt, void *buf, uint32_t len,
			  axon_nvme_cmd_cb cb, void *cb_arg, bool internal)
{
	struct axon_nvme_request *req;
	int rc;

	if (qpair->state != AXON_NVME_QPAIR_ENABLED &&
	    qpair->state != AXON_NVME_QPAIR_FABRIC_CONNECTING) {
		return -ENXIO;
	}
	if (iovcnt < 0 || iovcnt > AXON_NVME_MAX_IOVCNT || (len > 0 && buf == NULL && iov == NULL)) {
		return -EINVAL;
	}
	req = TAILQ_FIRST(&qpair->free_reqs);
	if (req == NULL) {
		return -ENOMEM;
	}
	TAILQ_REMOVE(&qpair->free_reqs, req, internal.link);
	req->cmd = *cmd;
	req->payload_size = len;
	if (iov != NULL) {
		req->iov = iov;
		req->iovcnt = iovcnt;
	} else {
		req->internal.single_iov.iov_base = buf;
		req->internal.single_iov.iov_len = len;
		req->iov = &req->internal.single_iov;
		req->iovcnt = len > 0 ? 1 : 0;
	}
	req->internal.cb = cb;
	req->internal.cb_arg = cb_arg;
	qpair->num_outstanding++;
	if (!TAILQ_EMPTY(&qpair->queued)) {
		TAILQ_INSERT_TAIL(&qpair->queued, req, internal.link);
		return 0;
	}
	rc = qpair_transport_submit(qpair, req);
	if (rc == -EAGAIN) {
		TAILQ_INSERT_TAIL(&qpair->queued, req, internal.link);
		return 0;
	}
	if (rc != 0) {
		qpair->num_outstanding--;
		qpair_put_req(qpair, req);
	}
	return rc;
}

/* ---- timeouts -------------------------------------------------------------- */

static uint64_t qpair_timeout_us(const struct axon_nvme_qpair *qpair)
{
	const struct axon_nvme_ctrlr *ctrlr = qpair->ctrlr;

	if (nvme_qpair_is_admin(qpair)) {
		return (uint64_t)ctrlr->opts.admin_timeout_ms * 1000u;
	}
	return ctrlr->opts.io_timeout_us;
}

static void qpair_abort_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_WARNLOG("Abort of a timed-out command failed (status 0x%x)\n",
			     axon_nvme_cpl_get_status(cpl));
	}
}

static void qpair_timeout_action(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	struct axon_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int rc = 0;

	AXON_WARNLOG("command cid %u opc 0x%x on qpair %u timed out\n", req->cmd.cid,
		     req->cmd.opc, qpair->id);
	if (ctrlr->timeout_cb != NULL) {
		ctrlr->timeout_cb(ctrlr->timeout_cb_arg, ctrlr,
				  nvme_qpair_is_admin(qpair) ? NULL : qpair, req->cmd.cid);
	}
	switch (ctrlr->opts.timeout_action) {
	case AXON_NVME_TIMEOUT_ACTION_NONE:
		break;
	case AXON_NVME_TIMEOUT_ACTION_ABORT:
		/* An I/O qpair lives on another thread than the admin queue:
		 * only the admin thread may submit the Abort. */
		if (nvme_qpair_is_admin(qpair)) {
			rc = axon_nvme_ctrlr_cmd_abort(ctrlr, NULL, req->cmd.cid, qpair_abort_cb,
						       NULL);
		}
		break;
	case AXON_NVME_TIMEOUT_ACTION_RESET:
		if (nvme_qpair_is_admin(qpair)) {
			rc = axon_nvme_ctrlr_reset(ctrlr);
		} else {
			/* Drop the connection: the owner reconnects it. */
			qpair->state = AXON_NVME_QPAIR_FAILED;
			qpair->failure_reason = -ETIMEDOUT;
		}
		break;
	}
	if (rc != 0 && rc != -EBUSY) {
		AXON_WARNLOG("timeout action for cid %u failed: %d\n", req->cmd.cid, rc);
	}
}

void nvme_qpair_check_timeouts(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_request *req, *tmp;
	uint64_t timeout = qpair_timeout_us(qpair);
	uint64_t now;

	if (timeout == 0 || TAILQ_EMPTY(&qpair->outstanding)) {
		return;
	}
	now = nvme_now_us();
	TAILQ_FOREACH_SAFE(req, &qpair->outstanding, internal.link, tmp) {
		if (req->cmd.opc == nvme_admin_async_event && nvme_qpair_is_admin(qpair)) {
			continue; /* AERs wait for events, possibly forever */
		}
		if (req->internal.submit_us + timeout > now) {
			break; /* submission order: the rest are younger */
		}
		if (!req->internal.timed_out) {
			req->internal.timed_out = true;
			qpair_timeout_action(qpair, req);
			if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
				break;
			}
		}
	}
}

/* ---- polling ------------------------------------------------------------ */

int32_t nvme_qpair_poll_transport(struct axon_nvme_qpair *qpair, uint32_t max)
{
	int32_t rc;

	rc = qpair->ops->qpair_process_completions(qpair, max);
	if (!TAILQ_EMPTY(&qpair->queued)) {
		qpair_resubmit_queued(qpair);
	}
	return rc;
}

/* The transport saw the connection die: fail every command. */
static void qpair_handle_failure(struct axon_nvme_qpair *qpair)
{
	qpair->ops->qpair_disconnect(qpair);
	nvme_qpair_abort_all(qpair, AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
}

int32_t nvme_qpair_after_poll(struct axon_nvme_qpair *qpair)
{
	if (qpair->state == AXON_NVME_QPAIR_ENABLED) {
		if (!TAILQ_EMPTY(&qpair->queued)) {
			qpair_resubmit_queued(qpair);
		}
		nvme_qpair_check_timeouts(qpair);
	}
	if (qpair->state == AXON_NVME_QPAIR_FAILED) {
		AXON_ERRLOG("qpair %u of %s lost its connection (%d)\n", qpair->id,
			    qpair->ctrlr->trid.traddr, qpair->failure_reason);
		qpair_handle_failure(qpair);
	}
	return qpair->state == AXON_NVME_QPAIR_ENABLED ? 0 : -ENXIO;
}

int32_t axon_nvme_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max)
{
	int32_t rc;

	if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
		if (qpair->state == AXON_NVME_QPAIR_FAILED) {
			qpair_handle_failure(qpair);
		}
		return -ENXIO;
	}
	rc = nvme_qpair_poll_transport(qpair, max != 0 ? max : NVME_DEFAULT_COMPLETION_BUDGET);
	if (nvme_qpair_after_poll(qpair) != 0) {
		return -ENXIO;
	}
	return rc;
}

/* ---- connecting ------------------------------------------------------------- */

int nvme_qpair_connect_start(struct axon_nvme_qpair *qpair)
{
	int rc;

	qpair->connect_deadline_us =
		nvme_now_us() + (uint64_t)qpair->ctrlr->opts.admin_timeout_ms * 1000u;
	qpair->failure_reason = 0;
	qpair->state = AXON_NVME_QPAIR_CONNECTING;
	rc = qpair->ops->qpair_connect(qpair);
	if (rc != 0) {
		qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
	}
	return rc;
}

int nvme_qpair_connect_poll(struct axon_nvme_qpair *qpair)
{
	int rc;

	switch (qpair->state) {
	case AXON_NVME_QPAIR_ENABLED:
		return 0;
	case AXON_NVME_QPAIR_CONNECTING:
	case AXON_NVME_QPAIR_FABRIC_CONNECTING:
		rc = nvme_qpair_poll_transport(qpair, 0);
		if (rc < 0 && qpair->state != AXON_NVME_QPAIR_FAILED) {
			qpair->state = AXON_NVME_QPAIR_FAILED;
			qpair->failure_reason = rc;
		}
		break;
	case AXON_NVME_QPAIR_TRANSPORT_READY:
		if (!qpair->ops->fabrics) {
			qpair->state = AXON_NVME_QPAIR_ENABLED;
			return 0;
		}
		qpair->state = AXON_NVME_QPAIR_FABRIC_CONNECTING;
		rc = nvme_fabric_qpair_connect(qpair);
		if (rc != 0) {
			qpair->state = AXON_NVME_QPAIR_FAILED;
			qpair->failure_reason = rc;
		}
		break;
	case AXON_NVME_QPAIR_FAILED:
	case AXON_NVME_QPAIR_DISCONNECTED:
		break;
	}
	if (qpair->state == AXON_NVME_QPAIR_ENABLED) {
		return 0;
	}
	if (qpair->state == AXON_NVME_QPAIR_FAILED || qpair->state == AXON_NVME_QPAIR_DISCONNECTED) {
		rc = qpair->failure_reason != 0 ? qpair->failure_reason : -ECONNRESET;
		qpair_handle_failure(qpair);
		return rc;
	}
	if (nvme_now_us() >= qpair->connect_deadline_us) {
		qpair_handle_failure(qpair);
		return -ETIMEDOUT;
	}
	return -EAGAIN;
}

/* Connect and poll until done (I/O qpairs, on their own thread). */
static int qpair_connect_sync(struct axon_nvme_qpair *qpair)
{
	int rc;

	rc = nvme_qpair_connect_start(qpair);
	if (rc != 0) {
		return rc;
	}
	do {
		rc = nvme_qpair_connect_poll(qpair);
	} while (rc == -EAGAIN);
	return rc;
}

/* ---- I/O qpairs ----------------------------------------------------------------- */

void axon_nvme_io_qpair_opts_init(struct axon_nvme_io_qpair_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->opts_size = sizeof(*opts);
}

static int qpair_alloc_qid(struct axon_nvme_ctrlr *ctrlr)
{
	uint32_t qid;

	pthread_mutex_lock(&ctrlr->qpair_lock);
	qid = axon_bitmap_find_next_clear(ctrlr->qid_map, ctrlr->max_qid + 1, 1);
	if (qid > ctrlr->max_qid) {
		pthread_mutex_unlock(&ctrlr->qpair_lock);
		return -EBUSY;
	}
	axon_bitmap_set(ctrlr->qid_map, qid);
	pthread_mutex_unlock(&ctrlr->qpair_lock);
	return (int)qid;
}

static void qpair_free_qid(struct axon_nvme_ctrlr *ctrlr, uint16_t qid)
{
	pthread_mutex_lock(&ctrlr->qpair_lock);
	axon_bitmap_clear(ctrlr->qid_map, qid);
	pthread_mutex_unlock(&ctrlr->qpair_lock);
}

static uint32_t qpair_io_depth(const struct axon_nvme_ctrlr *ctrlr,
			       const struct axon_nvme_io_qpair_opts *opts)
{
	uint32_t depth = opts != NULL && opts->io_queue_size != 0 ? opts->io_queue_size
								     : ctrlr->opts.io_queue_size;

	depth = AXON_MIN(depth, (uint32_t)ctrlr->cap.bits.mqes + 1);
	return AXON_MAX(depth, (uint32_t)NVME_MIN_QUEUE_SIZE);
}

struct axon_nvme_qpair *axon_nvme_ctrlr_alloc_io_qpair(struct axon_nvme_ctrlr *ctrlr,
						       const struct axon_nvme_io_qpair_opts *opts)
{
	struct axon_nvme_qpair *qpair;
	uint32_t depth, num_reqs;
	int qid, rc;

	if (ctrlr->state != AXON_NVME_CTRLR_STATE_READY || ctrlr->failed || ctrlr->is_discovery) {
		AXON_ERRLOG("%s: cannot allocate an I/O qpair: controller not ready\n",
			    ctrlr->trid.traddr);
		return NULL;
	}
	depth = qpair_io_depth(ctrlr, opts);
	num_reqs = opts != NULL && opts->io_queue_requests != 0 ? opts->io_queue_requests : depth;
	qid = qpair_alloc_qid(ctrlr);
	if (qid < 0) {
		AXON_ERRLOG("%s: all %u I/O queues are in use\n", ctrlr->trid.traddr,
			    ctrlr->max_qid);
		return NULL;
	}
	qpair = ctrlr->ops->qpair_create(ctrlr, (uint16_t)qid, depth);
	if (qpair == NULL) {
		AXON_ERRLOG("%s: transport could not create qpair %d\n", ctrlr->trid.traddr, qid);
		goto err_qid;
	}
	if (nvme_qpair_init(qpair, ctrlr, (uint16_t)qid, depth, num_reqs) != 0) {
		AXON_ERRLOG("%s: no memory for qpair %d\n", ctrlr->trid.traddr, qid);
		goto err_destroy;
	}
	rc = qpair_connect_sync(qpair);
	if (rc != 0) {
		AXON_ERRLOG("%s: connecting I/O qpair %d failed: %d\n", ctrlr->trid.traddr, qid, rc);
		goto err_fini;
	}
	pthread_mutex_lock(&ctrlr->qpair_lock);
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, qpair, ctrlr_link);
	pthread_mutex_unlock(&ctrlr->qpair_lock);
	return qpair;

err_fini:
	nvme_qpair_fini(qpair);
err_destroy:
	ctrlr->ops->qpair_destroy(qpair);
err_qid:
	qpair_free_qid(ctrlr, (uint16_t)qid);
	return NULL;
}

int axon_nvme_ctrlr_reconnect_io_qpair(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_ctrlr *ctrlr;

	if (qpair == NULL || nvme_qpair_is_admin(qpair)) {
		return -EINVAL;
	}
	ctrlr = qpair->ctrlr;
	if (qpair->state == AXON_NVME_QPAIR_ENABLED) {
		return 0;
	}
	if (__atomic_load_n(&ctrlr->failed, __ATOMIC_ACQUIRE)) {
		return -ENXIO;
	}
	if (__atomic_load_n(&ctrlr->state, __ATOMIC_ACQUIRE) != AXON_NVME_CTRLR_STATE_READY) {
		return -EAGAIN;
	}
	if (qpair->state != AXON_NVME_QPAIR_DISCONNECTED) {
		qpair_handle_failure(qpair);
	}
	return qpair_connect_sync(qpair);
}

int axon_nvme_ctrlr_free_io_qpair(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_ctrlr *ctrlr;

	if (qpair == NULL) {
		return -EINVAL;
	}
	ctrlr = qpair->ctrlr;
	if (qpair->group != NULL) {
		axon_nvme_poll_group_remove(qpair->group, qpair);
	}
	if (qpair->state != AXON_NVME_QPAIR_DISCONNECTED) {
		qpair_handle_failure(qpair);
	}
	nvme_qpair_abort_all(qpair, AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
	pthread_mutex_lock(&ctrlr->qpair_lock);
	TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, ctrlr_link);
	pthread_mutex_unlock(&ctrlr->qpair_lock);
	qpair_free_qid(ctrlr, qpair->id);
	nvme_qpair_fini(qpair);
	ctrlr->ops->qpair_destroy(qpair);
	return 0;
}

uint16_t axon_nvme_qpair_get_id(const struct axon_nvme_qpair *qpair)
{
	return qpair->id;
}

uint32_t axon_nvme_qpair_get_num_outstanding(const struct axon_nvme_qpair *qpair)
{
	return qpair->num_outstanding;
}

bool axon_nvme_qpair_is_connected(const struct axon_nvme_qpair *qpair)
{
	return qpair->state == AXON_NVME_QPAIR_ENABLED;
}
