/*
 * NVMe over RDMA host transport: controllers, the RDMA CM connection of
 * each qpair (address and route resolution, QP set-up, the NVMe-oF RDMA
 * private data of the connect request, the accept and the reject), its
 * teardown, and the ops table. The data path is in rdma_io.c.
 *
 * Connecting runs as CM events arrive on the qpair's own non-blocking
 * event channel, read from qpair_process_completions:
 *
 *   IDLE -> ADDR (rdma_resolve_addr) -> ROUTE (rdma_resolve_route)
 *        -> CONNECT (CQ, QP, receives, rdma_connect) -> ESTABLISHED
 *
 * after which lib/nvme sends the fabrics Connect. Any failure, a reject, a
 * DISCONNECTED or a DEVICE_REMOVAL makes the qpair DEAD and FAILED; lib/nvme
 * then disconnects it (and reset.c reconnects the controller).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rdma_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvme_rdma)

static uint64_t now_ms(void)
{
	struct timespec ts;

	/* Coarse: read in the I/O path only to rate-limit the CM channel. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void nvme_rdma_qpair_fail(struct nvme_rdma_qpair *rqpair, int rc)
{
	rqpair->phase = RDMA_CONN_DEAD;
	if (rqpair->qpair.state != AXON_NVME_QPAIR_DISCONNECTED) {
		rqpair->qpair.state = AXON_NVME_QPAIR_FAILED;
		if (rqpair->qpair.failure_reason == 0) {
			rqpair->qpair.failure_reason = rc;
		}
	}
}

/* ---- the CM private data ------------------------------------------------------------- */

static void cm_req_build(struct nvme_rdma_cm_req *priv, uint16_t qid, uint32_t depth,
			 uint16_t cntlid)
{
	memset(priv, 0, sizeof(*priv));
	priv->recfmt = 0;
	priv->qid = qid;
	/* One receive per queue entry; the SQ size is 0's based. */
	priv->hrqsize = (uint16_t)depth;
	priv->hsqsize = (uint16_t)(depth - 1);
	priv->cntlid = qid != 0 ? cntlid : 0;
}

static const char *cm_reject_status_str(uint16_t sts)
{
	switch (sts) {
	case NVME_RDMA_CM_INVALID_LEN:
		return "invalid private data length";
	case NVME_RDMA_CM_INVALID_RECFMT:
		return "invalid record format";
	case NVME_RDMA_CM_INVALID_QID:
		return "invalid queue id";
	case NVME_RDMA_CM_INVALID_HSQSIZE:
		return "invalid host SQ size";
	case NVME_RDMA_CM_INVALID_HRQSIZE:
		return "invalid host RQ size";
	case NVME_RDMA_CM_NO_RSC:
		return "no resources";
	case NVME_RDMA_CM_INVALID_IRD:
		return "invalid IRD";
	case NVME_RDMA_CM_INVALID_ORD:
		return "invalid ORD";
	case NVME_RDMA_CM_INVALID_CNTLID:
		return "invalid controller id";
	default:
		return "unknown status";
	}
}

/*
 * The controller's reason for a reject, from its private data if it sent
 * the NVMe-oF one. Returns the status (0 if there was none) for the log
 * and the tests.
 */
static uint16_t cm_reject_status(const void *data, uint8_t len)
{
	struct nvme_rdma_cm_rej rej;

	if (data == NULL || len < sizeof(rej)) {
		return 0;
	}
	memcpy(&rej, data, sizeof(rej));
	return rej.recfmt == 0 ? rej.sts : 0;
}

/*
 * Check the accept's private data: record format 0 and a controller receive
 * queue size; commands in flight are kept within it. Returns 0 or -EPROTO.
 */
static int cm_check_accept(struct nvme_rdma_qpair *rqpair, const void *data, uint8_t len)
{
	struct nvme_rdma_cm_rep rep;

	if (data == NULL || len < 4) {
		AXON_ERRLOG("qpair %u: the target accepted without NVMe-oF private data\n",
			    rqpair->qpair.id);
		return -EPROTO;
	}
	memset(&rep, 0, sizeof(rep));
	memcpy(&rep, data, AXON_MIN((size_t)len, sizeof(rep)));
	if (rep.recfmt != 0 || rep.crqsize == 0) {
		AXON_ERRLOG("qpair %u: bad accept private data (recfmt %u, crqsize %u)\n",
			    rqpair->qpair.id, rep.recfmt, rep.crqsize);
		return -EPROTO;
	}
	rqpair->max_active = AXON_MIN(rqpair->num_reqs, (uint32_t)rep.crqsize);
	return 0;
}

/* ---- connecting ---------------------------------------------------------------------- */

/* Route resolved: the device is known. CQ, QP, keys, receives. */
static int cm_setup_verbs(struct nvme_rdma_qpair *rqpair)
{
	struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
	struct axon_memory_domain_translation_ctx ctx = {.size = sizeof(ctx)};
	struct axon_rdma_qp_opts opts;
	struct rdma_cm_id *id = rqpair->cm_id;
	int rc;

	rqpair->dev = axon_rdma_device_get_by_context(id->verbs);
	if (rqpair->dev == NULL) {
		AXON_ERRLOG("qpair %u: the route's RDMA device is not one of ours\n",
			    rqpair->qpair.id);
		return -ENODEV;
	}
	rqpair->dev_domain = axon_rdma_device_get_memory_domain(rqpair->dev);
	rqpair->cq = ibv_create_cq(id->verbs, (int)(rqpair->num_reqs + rqpair->num_recvs), rqpair,
				   NULL, 0);
	if (rqpair->cq == NULL) {
		rc = errno != 0 ? -errno : -ENOMEM;
		AXON_ERRLOG("qpair %u: ibv_create_cq failed: %d\n", rqpair->qpair.id, rc);
		return rc;
	}
	memset(&opts, 0, sizeof(opts));
	opts.send_cq = rqpair->cq;
	opts.recv_cq = rqpair->cq;
	opts.max_send_wr = rqpair->num_reqs;
	opts.max_recv_wr = rqpair->num_recvs;
	opts.max_send_sge = 2; /* SQE + in-capsule data straight from the caller */
	opts.max_recv_sge = 1;
	opts.qp_context = rqpair;
	rc = axon_rdma_qp_create(id, &opts);
	if (rc != 0) {
		return rc;
	}
	if (opts.max_send_wr < rqpair->num_reqs || opts.max_recv_wr < rqpair->num_recvs ||
	    opts.max_send_sge < 2) {
		AXON_ERRLOG("qpair %u: the device cannot hold %u sends and %u receives\n",
			    rqpair->qpair.id, rqpair->num_reqs, rqpair->num_recvs);
		return -ENOSPC;
	}
	ctx.rdma.ibv_qp = id->qp;
	rc = axon_memory_domain_translate_data(rqpair->dev_domain, NULL, rqpair->dev_domain, &ctx,
					       rqpair->region, rqpair->region_len, &res);
	if (rc != 0) {
		AXON_ERRLOG("qpair %u: no keys for the qpair's buffers: %d\n", rqpair->qpair.id, rc);
		return rc;
	}
	rqpair->lkey = res.rdma.lkey;
	rqpair->rkey = res.rdma.rkey;
	return nvme_rdma_post_recvs(rqpair);
}

static int cm_send_connect(struct nvme_rdma_qpair *rqpair)
{
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(rqpair->dev);
	struct rdma_conn_param param;
	struct nvme_rdma_cm_req priv;

	cm_req_build(&priv, rqpair->qpair.id, rqpair->qpair.depth,
		     axon_nvme_ctrlr_get_cntlid(rqpair->qpair.ctrlr));
	memset(&param, 0, sizeof(param));
	param.private_data = &priv;
	param.private_data_len = sizeof(priv);
	/* The target reads our write data: let it have as many reads as we can answer. */
	param.responder_resources = (uint8_t)AXON_MIN(AXON_MAX(attr->max_qp_rd_atom, 0), 255);
	param.initiator_depth = 0;
	param.flow_control = 1;
	param.retry_count = 7;
	param.rnr_retry_count = 7;
	if (rdma_connect(rqpair->cm_id, &param) != 0) {
		return errno != 0 ? -errno : -EIO;
	}
	return 0;
}

static void cm_on_addr_resolved(struct nvme_rdma_qpair *rqpair)
{
	if (rqpair->phase != RDMA_CONN_ADDR) {
		nvme_rdma_qpair_fail(rqpair, -EPROTO);
		return;
	}
	if (rdma_resolve_route(rqpair->cm_id, RDMA_RESOLVE_TIMEOUT_MS) != 0) {
		nvme_rdma_qpair_fail(rqpair, errno != 0 ? -errno : -EIO);
		return;
	}
	rqpair->phase = RDMA_CONN_ROUTE;
}

static void cm_on_route_resolved(struct nvme_rdma_qpair *rqpair)
{
	int rc;

	if (rqpair->phase != RDMA_CONN_ROUTE) {
		nvme_rdma_qpair_fail(rqpair, -EPROTO);
		return;
	}
	rc = cm_setup_verbs(rqpair);
	if (rc == 0) {
		rc = cm_send_connect(rqpair);
	}
	if (rc != 0) {
		nvme_rdma_qpair_fail(rqpair, rc);
		return;
	}
	rqpair->phase = RDMA_CONN_CONNECT;
	rqpair->cm_connected = true;
}

static void cm_on_established(struct nvme_rdma_qpair *rqpair, const struct rdma_cm_event *ev)
{
	int rc;

	if (rqpair->phase != RDMA_CONN_CONNECT) {
		nvme_rdma_qpair_fail(rqpair, -EPROTO);
		return;
	}
	rc = cm_check_accept(rqpair, ev->param.conn.private_data, ev->param.conn.private_data_len);
	if (rc != 0) {
		nvme_rdma_qpair_fail(rqpair, rc);
		return;
	}
	rqpair->phase = RDMA_CONN_ESTABLISHED;
	rqpair->qpair.state = AXON_NVME_QPAIR_TRANSPORT_READY;
	AXON_DEBUGLOG(nvme_rdma, "qpair %u: connected (%u commands in flight at most)\n",
		      rqpair->qpair.id, rqpair->max_active);
}

static void cm_on_rejected(struct nvme_rdma_qpair *rqpair, const struct rdma_cm_event *ev)
{
	uint16_t sts = cm_reject_status(ev->param.conn.private_data,
					ev->param.conn.private_data_len);

	if (sts != 0) {
		AXON_ERRLOG("qpair %u: the target rejected the connection: %s (0x%x)\n",
			    rqpair->qpair.id, cm_reject_status_str(sts), sts);
	} else {
		AXON_ERRLOG("qpair %u: connection rejected (reason %d)\n", rqpair->qpair.id,
			    ev->status);
	}
	rqpair->cm_connected = false;
	nvme_rdma_qpair_fail(rqpair, -ECONNREFUSED);
}

static void cm_handle_event(struct nvme_rdma_qpair *rqpair, const struct rdma_cm_event *ev)
{
	AXON_DEBUGLOG(nvme_rdma, "qpair %u: CM event %s (status %d)\n", rqpair->qpair.id,
		      rdma_event_str(ev->event), ev->status);
	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		cm_on_addr_resolved(rqpair);
		return;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		cm_on_route_resolved(rqpair);
		return;
	case RDMA_CM_EVENT_ESTABLISHED:
		cm_on_established(rqpair, ev);
		return;
	case RDMA_CM_EVENT_REJECTED:
		cm_on_rejected(rqpair, ev);
		return;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		AXON_ERRLOG("qpair %u: %s (status %d)\n", rqpair->qpair.id,
			    rdma_event_str(ev->event), ev->status);
		rqpair->cm_connected = false;
		nvme_rdma_qpair_fail(rqpair, -EHOSTUNREACH);
		return;
	case RDMA_CM_EVENT_DISCONNECTED:
		/* The CM leaves our side to us: move the QP to error and answer. */
		if (rqpair->cm_connected) {
			rdma_disconnect(rqpair->cm_id);
			rqpair->cm_connected = false;
		}
		AXON_NOTICELOG("qpair %u: the target disconnected\n", rqpair->qpair.id);
		nvme_rdma_qpair_fail(rqpair, -ECONNRESET);
		return;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		AXON_ERRLOG("qpair %u: RDMA device removed\n", rqpair->qpair.id);
		if (rqpair->dev != NULL) {
			axon_rdma_device_set_removed(rqpair->dev);
		}
		nvme_rdma_qpair_fail(rqpair, -ENODEV);
		return;
	case RDMA_CM_EVENT_ADDR_CHANGE:
		AXON_WARNLOG("qpair %u: local address changed\n", rqpair->qpair.id);
		nvme_rdma_qpair_fail(rqpair, -ENETRESET);
		return;
	default:
		return; /* TIMEWAIT_EXIT and the like: nothing to do */
	}
}

/* Read the CM channel: always while connecting, now and then once established. */
static void cm_poll(struct nvme_rdma_qpair *rqpair)
{
	struct rdma_cm_event *ev;
	uint64_t now;
	int i;

	if (rqpair->phase == RDMA_CONN_ESTABLISHED) {
		now = now_ms();
		if (now < rqpair->next_cm_check_ms) {
			return;
		}
		rqpair->next_cm_check_ms = now + RDMA_CM_CHECK_INTERVAL_MS;
	}
	for (i = 0; i < RDMA_CM_EVENT_BUDGET && rqpair->channel != NULL; i++) {
		if (rdma_get_cm_event(rqpair->channel, &ev) != 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				nvme_rdma_qpair_fail(rqpair, -errno);
			}
			return;
		}
		/* Handlers never destroy the id: the ack comes first. */
		cm_handle_event(rqpair, ev);
		rdma_ack_cm_event(ev);
	}
}

/* ---- qpairs ----------------------------------------------------------------------------- */

static int nvme_rdma_qpair_connect(struct axon_nvme_qpair *qpair)
{
	struct nvme_rdma_qpair *rqpair = nvme_rdma_qpair(qpair);
	struct nvme_rdma_ctrlr *rctrlr = axon_nvme_ctrlr_get_transport_ctx(qpair->ctrlr);
	const struct nvme_id_ctrl *cdata = axon_nvme_ctrlr_get_data(qpair->ctrlr);
	int flags, rc;

	if (rqpair->phase != RDMA_CONN_IDLE) {
		return -EBUSY;
	}
	/* ICD only for I/O queues, right after the SQE (ICDOFF 0), within what we hold. */
	rqpair->icd_len = 0;
	if (qpair->id != 0 && cdata != NULL && cdata->icdoff == 0) {
		rqpair->icd_len = AXON_MIN(rqpair->icd_alloc,
					   axon_nvme_ctrlr_get_ioccsz_bytes(qpair->ctrlr));
	}
	rqpair->max_active = rqpair->num_reqs;
	rqpair->next_cm_check_ms = 0;
	rqpair->channel = rdma_create_event_channel();
	if (rqpair->channel == NULL) {
		rc = errno != 0 ? -errno : -ENOMEM;
		AXON_ERRLOG("NVMe/RDMA: cannot create a CM event channel: %d\n", rc);
		return rc;
	}
	flags = fcntl(rqpair->channel->fd, F_GETFL);
	if (flags < 0 || fcntl(rqpair->channel->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		rc = -errno;
		goto err_channel;
	}
	if (rdma_create_id(rqpair->channel, &rqpair->cm_id, rqpair, RDMA_PS_TCP) != 0) {
		rc = errno != 0 ? -errno : -ENOMEM;
		goto err_channel;
	}
	if (rdma_resolve_addr(rqpair->cm_id, NULL, (struct sockaddr *)&rctrlr->dst,
			      RDMA_RESOLVE_TIMEOUT_MS) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		AXON_ERRLOG("NVMe/RDMA: cannot resolve %s: %d\n", rctrlr->desc, rc);
		goto err_id;
	}
	rqpair->phase = RDMA_CONN_ADDR;
	return 0;

err_id:
	rdma_destroy_id(rqpair->cm_id);
	rqpair->cm_id = NULL;
err_channel:
	rdma_destroy_event_channel(rqpair->channel);
	rqpair->channel = NULL;
	return rc;
}

/* Release the connection's verbs and CM objects, in reverse order of set-up. */
static void qpair_teardown(struct nvme_rdma_qpair *rqpair)
{
	if (rqpair->cm_id != NULL) {
		if (rqpair->cm_connected) {
			/* Moves the QP to error: the target can no longer touch our buffers. */
			rdma_disconnect(rqpair->cm_id);
			rqpair->cm_connected = false;
		}
		if (rqpair->cm_id->qp != NULL) {
			rdma_destroy_qp(rqpair->cm_id);
		}
	}
	if (rqpair->cq != NULL) {
		ibv_destroy_cq(rqpair->cq);
		rqpair->cq = NULL;
	}
	if (rqpair->cm_id != NULL) {
		rdma_destroy_id(rqpair->cm_id);
		rqpair->cm_id = NULL;
	}
	if (rqpair->channel != NULL) {
		rdma_destroy_event_channel(rqpair->channel);
		rqpair->channel = NULL;
	}
	axon_rdma_device_put(rqpair->dev);
	rqpair->dev = NULL;
	rqpair->dev_domain = NULL;
}

static void nvme_rdma_qpair_disconnect(struct axon_nvme_qpair *qpair)
{
	struct nvme_rdma_qpair *rqpair = nvme_rdma_qpair(qpair);

	/* No more posting; then the QP goes before any buffer is given back. */
	rqpair->phase = RDMA_CONN_DEAD;
	qpair_teardown(rqpair);
	nvme_rdma_abort_reqs(rqpair);
	rqpair->phase = RDMA_CONN_IDLE;
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
}

static int32_t nvme_rdma_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max)
{
	struct nvme_rdma_qpair *rqpair = nvme_rdma_qpair(qpair);

	if (rqpair->phase == RDMA_CONN_IDLE) {
		return -ENXIO;
	}
	if (rqpair->phase != RDMA_CONN_DEAD) {
		cm_poll(rqpair);
	}
	if (rqpair->phase == RDMA_CONN_DEAD) {
		return qpair->failure_reason != 0 ? qpair->failure_reason : -ENXIO;
	}
	if (rqpair->phase != RDMA_CONN_ESTABLISHED) {
		return 0;
	}
	rqpair->completions = 0;
	rqpair->max_completions = max != 0 ? max : UINT32_MAX;
	return nvme_rdma_poll_cq(rqpair);
}

static int nvme_rdma_qpair_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	struct nvme_rdma_payload payload;

	nvme_rdma_req_payload(req, &payload);
	return nvme_rdma_submit_payload(nvme_rdma_qpair(qpair), req, &payload);
}

void nvme_rdma_qpair_free(struct nvme_rdma_qpair *rqpair)
{
	if (rqpair->region_registered) {
		axon_rdma_mem_unregister(rqpair->region, rqpair->region_len);
	}
	free(rqpair->region);
	free(rqpair->bounce_free);
	free(rqpair->recvs);
	free(rqpair->reqs);
	free(rqpair);
}

static struct axon_nvme_qpair *nvme_rdma_qpair_create(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
						      uint32_t depth)
{
	struct nvme_rdma_qpair *rqpair;
	size_t ctrl_len;
	int rc = -ENOMEM;

	if (depth < 2 || depth > UINT16_MAX) {
		errno = EINVAL;
		return NULL;
	}
	rqpair = calloc(1, sizeof(*rqpair));
	if (rqpair == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	/* The queue holds depth entries; at most depth - 1 commands are in flight. */
	rqpair->num_reqs = depth - 1;
	rqpair->num_recvs = depth;
	rqpair->num_bounce = qid == 0 ? RDMA_ADMIN_BOUNCE_BUFS
				      : AXON_MIN(rqpair->num_reqs, RDMA_IO_BOUNCE_BUFS);
	rqpair->icd_alloc = qid == 0 ? 0
				     : AXON_MIN(axon_nvme_ctrlr_get_ioccsz_bytes(ctrlr),
						RDMA_MAX_ICD_LEN);
	rqpair->reqs = calloc(rqpair->num_reqs, sizeof(*rqpair->reqs));
	rqpair->recvs = calloc(rqpair->num_recvs, sizeof(*rqpair->recvs));
	rqpair->bounce_free = calloc(rqpair->num_bounce, sizeof(*rqpair->bounce_free));
	if (rqpair->reqs == NULL || rqpair->recvs == NULL || rqpair->bounce_free == NULL) {
		goto err_free;
	}
	ctrl_len = rqpair->num_reqs *
			   AXON_ALIGN_UP(sizeof(struct axon_nvme_cmd) + (size_t)rqpair->icd_alloc,
					 (size_t)RDMA_CAPSULE_ALIGN) +
		   rqpair->num_recvs * sizeof(struct axon_nvme_cpl);
	rqpair->region_len = AXON_ALIGN_UP(ctrl_len, (size_t)RDMA_REGION_ALIGN) +
			     (size_t)rqpair->num_bounce * RDMA_MAX_XFER_SIZE;
	rqpair->region = aligned_alloc(RDMA_REGION_ALIGN, rqpair->region_len);
	if (rqpair->region == NULL) {
		goto err_free;
	}
	memset(rqpair->region, 0, rqpair->region_len);
	rc = axon_rdma_mem_register(rqpair->region, rqpair->region_len);
	if (rc != 0) {
		AXON_ERRLOG("NVMe/RDMA: cannot register qpair %u's buffers: %d\n", qid, rc);
		goto err_free;
	}
	rqpair->region_registered = true;
	nvme_rdma_qpair_layout(rqpair);
	rqpair->phase = RDMA_CONN_IDLE;
	return &rqpair->qpair;

err_free:
	nvme_rdma_qpair_free(rqpair);
	errno = -rc;
	return NULL;
}

static void nvme_rdma_qpair_destroy(struct axon_nvme_qpair *qpair)
{
	struct nvme_rdma_qpair *rqpair = nvme_rdma_qpair(qpair);

	nvme_rdma_qpair_disconnect(qpair);
	if (rqpair->domain_ops > 0) {
		/* A pull or push still writes into the region: its callback frees us. */
		rqpair->destroyed = true;
		return;
	}
	nvme_rdma_qpair_free(rqpair);
}

/* ---- controllers --------------------------------------------------------------------------- */

static int resolve_dst(const struct axon_nvme_trid *trid, struct nvme_rdma_ctrlr *rctrlr)
{
	const char *svc = trid->trsvcid[0] != '\0' ? trid->trsvcid : AXON_NVME_DEFAULT_TRSVCID;
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = trid->adrfam == AXON_NVME_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	/* RDMA addresses are IP addresses: never block on a name service here. */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(trid->traddr, svc, &hints, &res);
	if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(rctrlr->dst)) {
		AXON_ERRLOG("NVMe/RDMA: cannot resolve %s port %s: %s\n", trid->traddr, svc,
			    rc != 0 ? gai_strerror(rc) : "no address");
		if (res != NULL) {
			freeaddrinfo(res);
		}
		return -EINVAL;
	}
	memcpy(&rctrlr->dst, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	snprintf(rctrlr->desc, sizeof(rctrlr->desc), "%s:%s", trid->traddr, svc);
	return 0;
}

static int nvme_rdma_ctrlr_construct(struct axon_nvme_ctrlr *ctrlr, void **tctx)
{
	const struct axon_nvme_trid *trid = axon_nvme_ctrlr_get_trid(ctrlr);
	struct nvme_rdma_ctrlr *rctrlr;
	int rc;

	if (trid->adrfam != AXON_NVME_ADRFAM_IPV4 && trid->adrfam != AXON_NVME_ADRFAM_IPV6) {
		AXON_ERRLOG("NVMe/RDMA: address family %s is not IPv4 or IPv6\n",
			    axon_nvme_adrfam_str(trid->adrfam));
		return -EINVAL;
	}
	rctrlr = calloc(1, sizeof(*rctrlr));
	if (rctrlr == NULL) {
		return -ENOMEM;
	}
	rc = resolve_dst(trid, rctrlr);
	if (rc != 0) {
		goto err_free;
	}
	/* Devices, PDs and the registration of DMA memory: one reference per controller. */
	rc = axon_rdma_init();
	if (rc != 0) {
		AXON_ERRLOG("NVMe/RDMA: cannot initialise RDMA: %d\n", rc);
		goto err_free;
	}
	if (axon_rdma_device_count() == 0) {
		AXON_ERRLOG("NVMe/RDMA: no RDMA device on this host\n");
		rc = -ENODEV;
		goto err_fini;
	}
	*tctx = rctrlr;
	return 0;

err_fini:
	axon_rdma_fini();
err_free:
	free(rctrlr);
	return rc;
}

static void nvme_rdma_ctrlr_destruct(struct axon_nvme_ctrlr *ctrlr, void *tctx)
{
	if (tctx == NULL) {
		return;
	}
	free(tctx);
	axon_rdma_fini();
}

static uint32_t nvme_rdma_ctrlr_get_max_xfer_size(struct axon_nvme_ctrlr *ctrlr)
{
	return RDMA_MAX_XFER_SIZE;
}

static const struct axon_nvme_transport_ops g_nvme_rdma_ops = {
	.name = "RDMA",
	.trtype = AXON_NVME_TRTYPE_RDMA,
	.fabrics = true,
	.ctrlr_construct = nvme_rdma_ctrlr_construct,
	.ctrlr_destruct = nvme_rdma_ctrlr_destruct,
	.ctrlr_get_max_xfer_size = nvme_rdma_ctrlr_get_max_xfer_size,
	.qpair_create = nvme_rdma_qpair_create,
	.qpair_destroy = nvme_rdma_qpair_destroy,
	.qpair_connect = nvme_rdma_qpair_connect,
	.qpair_disconnect = nvme_rdma_qpair_disconnect,
	.qpair_submit = nvme_rdma_qpair_submit,
	.qpair_process_completions = nvme_rdma_qpair_process_completions,
};

AXON_NVME_TRANSPORT_REGISTER(rdma, &g_nvme_rdma_ops)
