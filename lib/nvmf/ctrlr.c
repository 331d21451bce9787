/*
 * Controllers (dynamic model): Connect, property get/set, CC/CSTS, keep alive,
 * asynchronous events, and teardown.
 *
 * Connect crosses threads as a chain of messages with one context:
 *   qpair thread (parse, check the command) -> app thread (find the subsystem,
 *   check host, listener, state; admin: create the controller; I/O: find it)
 *   -> [I/O only] controller thread (enabled? qid free? take it) -> qpair
 *   thread (bind, answer).
 * A controller lives on its admin queue pair's thread. Teardown:
 *   admin qpair detached (or keep-alive timeout, subsystem delete) ->
 *   ctrlr_destruct: disconnect every I/O qpair -> each detaches itself ->
 *   when none is left: app thread unlinks it from the subsystem -> the
 *   controller thread frees it. Messages from the app thread to a controller
 *   are therefore always delivered before its free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "nvmf_internal.h"

/* CAP.TO: how long a host waits for CSTS.RDY, in 500 ms units. */
#define NVMF_CAP_TO 15

struct connect_ctx {
	struct axon_nvmf_request *req;
	struct axon_nvmf_qpair *qpair;
	struct axon_nvmf_connect_data data;
	struct axon_nvmf_trid listen_trid;
	bool have_listen_trid;
	uint16_t qid;
	uint16_t sqsize;
	uint8_t cattr;
	uint32_t kato;
	struct axon_nvmf_subsystem *subsys;
	struct axon_nvmf_ctrlr *ctrlr;
	uint16_t status;
	/* Connect Invalid Parameters: which byte (iattr 0 command, 1 data). */
	uint8_t iattr;
	uint16_t ipo;
	struct axon_thread *qpair_thread;
};

static void connect_done(void *arg);
static void ctrlr_try_free(struct axon_nvmf_ctrlr *ctrlr);
static void ctrlr_destruct(struct axon_nvmf_ctrlr *ctrlr);

static void connect_invalid(struct connect_ctx *ctx, uint8_t iattr, uint16_t ipo)
{
	ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM) |
		      AXON_NVME_STATUS_DNR;
	ctx->iattr = iattr;
	ctx->ipo = ipo;
}

static void connect_reply(struct connect_ctx *ctx)
{
	if (axon_thread_send_msg(ctx->qpair_thread, connect_done, ctx) != 0) {
		AXON_ERRLOG("nvmf: cannot answer a Connect: queue pair thread unreachable\n");
	}
}

/* ---- keep alive ---------------------------------------------------------------------- */

void nvmf_ctrlr_keep_alive(struct axon_nvmf_ctrlr *ctrlr)
{
	ctrlr->last_keep_alive_tick = axon_get_ticks();
}

static int ctrlr_keep_alive_poll(void *arg)
{
	struct axon_nvmf_ctrlr *ctrlr = arg;
	uint64_t limit = (uint64_t)ctrlr->feat.keep_alive_timer * axon_get_ticks_hz() / 1000u;

	if (axon_get_ticks() - ctrlr->last_keep_alive_tick <= limit) {
		return AXON_POLLER_IDLE;
	}
	AXON_NOTICELOG("nvmf: controller %u of %s (host %s): keep alive timeout (%u ms): "
		       "tearing it down\n", ctrlr->cntlid, ctrlr->subsys->nqn, ctrlr->hostnqn,
		       ctrlr->feat.keep_alive_timer);
	ctrlr_destruct(ctrlr);
	return AXON_POLLER_BUSY;
}

void nvmf_ctrlr_arm_keep_alive(struct axon_nvmf_ctrlr *ctrlr)
{
	axon_poller_unregister(&ctrlr->keep_alive_poller);
	nvmf_ctrlr_keep_alive(ctrlr);
	if (ctrlr->feat.keep_alive_timer == 0 || ctrlr->in_destruct) {
		return;
	}
	/* Check at a quarter of the timeout: a late detection stays within 25%. */
	ctrlr->keep_alive_poller = axon_poller_register_named(
		ctrlr_keep_alive_poll, ctrlr, (uint64_t)ctrlr->feat.keep_alive_timer * 250u,
		"nvmf_ctrlr_keep_alive");
	if (ctrlr->keep_alive_poller == NULL) {
		AXON_ERRLOG("nvmf: controller %u: no keep-alive poller\n", ctrlr->cntlid);
	}
}

/* ---- create ------------------------------------------------------------------------------ */

static struct axon_nvmf_ctrlr *ctrlr_create(struct connect_ctx *ctx)
{
	struct axon_nvmf_subsystem *s = ctx->subsys;
	struct axon_nvmf_transport *transport = ctx->qpair->transport;
	struct axon_nvmf_ctrlr *ctrlr;
	uint16_t cntlid;
	uint32_t nq;

	if (nvmf_subsystem_alloc_cntlid(s, &cntlid) != 0) {
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		return NULL;
	}
	ctrlr->max_qpairs = transport->opts.max_qpairs_per_ctrlr;
	ctrlr->qid_map = axon_bit_array_create(ctrlr->max_qpairs);
	if (ctrlr->qid_map == NULL) {
		free(ctrlr);
		return NULL;
	}
	ctrlr->cntlid = cntlid;
	ctrlr->subsys = s;
	ctrlr->tgt = s->tgt;
	ctrlr->transport = transport;
	ctrlr->thread = ctx->qpair_thread;
	ctrlr->listen_trid = ctx->listen_trid;
	ctrlr->max_queue_depth = transport->opts.max_queue_depth;
	axon_strscpy(ctrlr->hostnqn, ctx->data.hostnqn, sizeof(ctrlr->hostnqn));
	memcpy(ctrlr->hostid, ctx->data.hostid, sizeof(ctrlr->hostid));
	TAILQ_INIT(&ctrlr->io_qpairs);

	ctrlr->cap.bits.mqes = (uint16_t)(transport->opts.max_queue_depth - 1);
	ctrlr->cap.bits.cqr = 1;
	ctrlr->cap.bits.to = NVMF_CAP_TO;
	ctrlr->cap.bits.css = 1; /* NVM command set */
	ctrlr->vs.raw = NVMF_VS_VALUE;

	nq = (uint32_t)ctrlr->max_qpairs - 2; /* 0's based, admin queue excluded */
	ctrlr->feat.number_of_queues = nq | (nq << 16);
	ctrlr->feat.volatile_write_cache = 1;
	ctrlr->feat.temperature_threshold = 0x0157; /* 343 K */
	ctrlr->feat.keep_alive_timer = ctx->kato;
	if (ctrlr->feat.keep_alive_timer != 0) {
		/* Round up to the KAS granularity (100 ms units). */
		ctrlr->feat.keep_alive_timer =
			AXON_DIV_ROUND_UP(ctrlr->feat.keep_alive_timer, NVMF_KAS * 100u) * NVMF_KAS * 100u;
	}
	return ctrlr;
}

/* ---- connect ---------------------------------------------------------------------------- */

static bool nqn_field_ok(const char *field)
{
	return memchr(field, '\0', AXON_NVMF_NQN_FIELD_LEN) != NULL;
}

static void connect_io_on_ctrlr(void *arg)
{
	struct connect_ctx *ctx = arg;
	struct axon_nvmf_ctrlr *ctrlr = ctx->ctrlr;

	if (ctrlr->in_destruct || !ctrlr->cc.bits.en || !ctrlr->csts.bits.rdy ||
	    ctrlr->resetting || ctrlr->shutting_down) {
		AXON_WARNLOG("nvmf: I/O queue connect to controller %u, which is not ready\n",
			     ctrlr->cntlid);
		connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, qid));
	} else if (ctx->qid >= ctrlr->max_qpairs ||
		   axon_bit_array_get(ctrlr->qid_map, ctx->qid)) {
		connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, qid));
	} else if ((uint32_t)ctx->sqsize + 1 > ctrlr->max_queue_depth) {
		connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, sqsize));
	} else {
		axon_bit_array_set(ctrlr->qid_map, ctx->qid);
		ctrlr->num_io_qpairs++;
		TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, ctx->qpair, ctrlr_link);
	}
	connect_reply(ctx);
}

static void connect_on_app(void *arg)
{
	struct connect_ctx *ctx = arg;
	struct axon_nvmf_tgt *tgt = ctx->qpair->transport->tgt;
	struct axon_nvmf_subsystem *s;
	struct axon_nvmf_ctrlr *ctrlr;

	if (!nqn_field_ok(ctx->data.subnqn)) {
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, subnqn));
		goto reply;
	}
	if (!nqn_field_ok(ctx->data.hostnqn) || !axon_nvmf_nqn_is_valid(ctx->data.hostnqn)) {
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, hostnqn));
		goto reply;
	}
	s = axon_nvmf_tgt_find_subsystem(tgt, ctx->data.subnqn);
	if (s == NULL || s->destroying) {
		AXON_NOTICELOG("nvmf: connect to unknown subsystem %s\n", ctx->data.subnqn);
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, subnqn));
		goto reply;
	}
	ctx->subsys = s;
	if (!axon_nvmf_subsystem_host_allowed(s, ctx->data.hostnqn)) {
		AXON_NOTICELOG("nvmf: host %s is not allowed on %s\n", ctx->data.hostnqn, s->nqn);
		ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST) |
			      AXON_NVME_STATUS_DNR;
		ctx->iattr = 1;
		ctx->ipo = offsetof(struct axon_nvmf_connect_data, hostnqn);
		goto reply;
	}
	if (s->subtype == AXON_NVMF_SUBTYPE_NVME &&
	    (!ctx->have_listen_trid || !axon_nvmf_subsystem_listener_allowed(s, &ctx->listen_trid))) {
		AXON_NOTICELOG("nvmf: %s is not reachable through %s:%s\n", s->nqn,
			       ctx->listen_trid.traddr, ctx->listen_trid.trsvcid);
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, subnqn));
		goto reply;
	}
	if (s->state == AXON_NVMF_SUBSYSTEM_INACTIVE || s->state == AXON_NVMF_SUBSYSTEM_DEACTIVATING ||
	    s->state == AXON_NVMF_SUBSYSTEM_ACTIVATING) {
		ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY);
		goto reply;
	}
	if (ctx->qid == 0) {
		if (ctx->data.cntlid != AXON_NVMF_CNTLID_DYNAMIC) {
			connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, cntlid));
			goto reply;
		}
		if ((uint32_t)ctx->sqsize + 1 > ctx->qpair->transport->opts.max_aq_depth) {
			connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, sqsize));
			goto reply;
		}
		ctrlr = ctrlr_create(ctx);
		if (ctrlr == NULL) {
			ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY);
			goto reply;
		}
		ctx->ctrlr = ctrlr;
		TAILQ_INSERT_TAIL(&s->ctrlrs, ctrlr, link);
		goto reply;
	}
	if (s->subtype == AXON_NVMF_SUBTYPE_DISCOVERY) {
		connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, qid));
		goto reply;
	}
	ctrlr = nvmf_subsystem_find_ctrlr(s, ctx->data.cntlid);
	if (ctrlr == NULL) {
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, cntlid));
		goto reply;
	}
	if (strcmp(ctrlr->hostnqn, ctx->data.hostnqn) != 0) {
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, hostnqn));
		goto reply;
	}
	if (memcmp(ctrlr->hostid, ctx->data.hostid, sizeof(ctrlr->hostid)) != 0) {
		connect_invalid(ctx, 1, offsetof(struct axon_nvmf_connect_data, hostid));
		goto reply;
	}
	ctx->ctrlr = ctrlr;
	if (axon_thread_send_msg(ctrlr->thread, connect_io_on_ctrlr, ctx) == 0) {
		return;
	}
	ctx->ctrlr = NULL;
	ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY);
reply:
	if (ctx->status != 0) {
		ctx->ctrlr = NULL;
	}
	connect_reply(ctx);
}

static void connect_done(void *arg)
{
	struct connect_ctx *ctx = arg;
	struct axon_nvmf_request *req = ctx->req;
	struct axon_nvmf_qpair *qpair = ctx->qpair;
	struct axon_nvmf_connect_rsp *rsp = &req->rsp->connect_rsp;
	struct axon_nvmf_ctrlr *ctrlr = ctx->ctrlr;

	qpair->connect_pending = false;
	if (ctx->status != 0 || ctrlr == NULL) {
		nvmf_request_set_status(req, ctx->status);
		if (AXON_NVME_STATUS_SC(ctx->status) == NVME_SC_CONNECT_INVALID_PARAM ||
		    AXON_NVME_STATUS_SC(ctx->status) == NVME_SC_CONNECT_INVALID_HOST) {
			rsp->status_code_specific.invalid.iattr = ctx->iattr;
			rsp->status_code_specific.invalid.ipo = ctx->ipo;
		}
		goto done;
	}
	qpair->ctrlr = ctrlr;
	qpair->qid = ctx->qid;
	qpair->sq_size = (uint16_t)(ctx->sqsize + 1);
	qpair->sq_head = 0;
	qpair->sq_flow_control = !(ctx->cattr & AXON_NVMF_CONNECT_CATTR_DISABLE_SQFLOW);
	if (qpair->state == AXON_NVMF_QPAIR_CONNECTING) {
		qpair->state = AXON_NVMF_QPAIR_ENABLED;
	}
	if (ctx->qid == 0) {
		ctrlr->admin_qpair = qpair;
		qpair->group->stat.admin_qpairs++;
		qpair->group->stat.current_admin_qpairs++;
		nvmf_ctrlr_arm_keep_alive(ctrlr);
	} else {
		qpair->group->stat.io_qpairs++;
		qpair->group->stat.current_io_qpairs++;
	}
	rsp->status_code_specific.success.cntlid = ctrlr->cntlid;
	AXON_INFOLOG("nvmf: host %s connected queue %u of controller %u on %s\n",
		     ctrlr->hostnqn, ctx->qid, ctrlr->cntlid, ctrlr->subsys->nqn);
done:
	free(ctx);
	nvmf_request_complete(req);
}

void nvmf_ctrlr_handle_connect(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;
	const struct axon_nvmf_connect_cmd *cmd = &req->cmd->connect;
	struct connect_ctx *ctx;
	uint16_t status = 0;

	if (qpair->state != AXON_NVMF_QPAIR_CONNECTING || qpair->connect_pending ||
	    qpair->ctrlr != NULL) {
		status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) | AXON_NVME_STATUS_DNR;
	} else if (cmd->recfmt != 0) {
		status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_FORMAT) |
			 AXON_NVME_STATUS_DNR;
	} else if (req->length < sizeof(struct axon_nvmf_connect_data)) {
		status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) |
			 AXON_NVME_STATUS_DNR;
	}
	if (status != 0) {
		nvmf_request_set_status(req, status);
		nvmf_request_complete(req);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC,
							      NVME_SC_CONNECT_CTRL_BUSY));
		nvmf_request_complete(req);
		return;
	}
	ctx->req = req;
	ctx->qpair = qpair;
	ctx->qid = cmd->qid;
	ctx->sqsize = cmd->sqsize;
	ctx->cattr = cmd->cattr;
	ctx->kato = cmd->kato;
	ctx->qpair_thread = axon_get_thread();
	nvmf_request_copy_from_iov(req, &ctx->data, sizeof(ctx->data), 0);
	ctx->have_listen_trid =
		qpair->transport->ops->qpair_get_listen_trid(qpair, &ctx->listen_trid) == 0;
	if (ctx->sqsize == 0) {
		connect_invalid(ctx, 0, offsetof(struct axon_nvmf_connect_cmd, sqsize));
		connect_done(ctx);
		return;
	}
	qpair->connect_pending = true;
	if (axon_thread_send_msg(qpair->transport->tgt->thread, connect_on_app, ctx) != 0) {
		ctx->status = AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_CTRL_BUSY);
		connect_done(ctx);
	}
}

/* ---- properties ------------------------------------------------------------------------- */

static void ctrlr_io_qpairs_disconnect(struct axon_nvmf_ctrlr *ctrlr);

static void ctrlr_check_reset_done(struct axon_nvmf_ctrlr *ctrlr)
{
	if (!TAILQ_EMPTY(&ctrlr->io_qpairs)) {
		return;
	}
	if (ctrlr->resetting) {
		ctrlr->resetting = false;
		ctrlr->csts.bits.rdy = 0;
		ctrlr->feat.number_of_queues_set = false;
		AXON_INFOLOG("nvmf: controller %u disabled\n", ctrlr->cntlid);
	}
	if (ctrlr->shutting_down) {
		ctrlr->shutting_down = false;
		ctrlr->csts.bits.shst = AXON_NVME_SHST_COMPLETE;
		AXON_INFOLOG("nvmf: controller %u shut down\n", ctrlr->cntlid);
	}
}

static uint16_t prop_set_cc(struct axon_nvmf_ctrlr *ctrlr, uint32_t value)
{
	union axon_nvme_cc old = ctrlr->cc;
	union axon_nvme_cc cc = {.raw = value};

	ctrlr->cc = cc;
	if (cc.bits.en && !old.bits.en) {
		if (cc.bits.iosqes != 6 || cc.bits.iocqes != 4) {
			/* Leave RDY clear: the host times out (CAP.TO) and reports it. */
			AXON_WARNLOG("nvmf: controller %u enabled with IOSQES %u / IOCQES %u\n",
				     ctrlr->cntlid, cc.bits.iosqes, cc.bits.iocqes);
			ctrlr->csts.bits.cfs = 1;
		} else {
			ctrlr->csts.bits.rdy = 1;
			ctrlr->csts.bits.shst = AXON_NVME_SHST_NORMAL;
		}
	} else if (!cc.bits.en && old.bits.en) {
		ctrlr->resetting = true;
		ctrlr_io_qpairs_disconnect(ctrlr);
	}
	if (cc.bits.shn != AXON_NVME_SHN_NONE && old.bits.shn == AXON_NVME_SHN_NONE) {
		ctrlr->shutting_down = true;
		ctrlr->csts.bits.shst = AXON_NVME_SHST_OCCURRING;
		ctrlr_io_qpairs_disconnect(ctrlr);
	} else if (cc.bits.shn == AXON_NVME_SHN_NONE && old.bits.shn != AXON_NVME_SHN_NONE) {
		ctrlr->csts.bits.shst = AXON_NVME_SHST_NORMAL;
	}
	ctrlr_check_reset_done(ctrlr);
	return 0;
}

static void prop_get(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvmf_prop_get_cmd *cmd = &req->cmd->prop_get;
	struct axon_nvmf_prop_get_rsp *rsp = &req->rsp->prop_get_rsp;
	uint8_t size = cmd->attrib & 0x7;
	uint16_t status = 0;

	switch (cmd->ofst) {
	case AXON_NVME_PROP_CAP:
		if (size != AXON_NVMF_PROP_SIZE_8) {
			goto invalid;
		}
		rsp->value = ctrlr->cap.raw;
		break;
	case AXON_NVME_PROP_VS:
		if (size != AXON_NVMF_PROP_SIZE_4) {
			goto invalid;
		}
		rsp->value = ctrlr->vs.raw;
		break;
	case AXON_NVME_PROP_CC:
		if (size != AXON_NVMF_PROP_SIZE_4) {
			goto invalid;
		}
		rsp->value = ctrlr->cc.raw;
		break;
	case AXON_NVME_PROP_CSTS:
		if (size != AXON_NVMF_PROP_SIZE_4) {
			goto invalid;
		}
		rsp->value = ctrlr->csts.raw;
		break;
	default:
		goto invalid;
	}
	nvmf_request_set_status(req, status);
	nvmf_request_complete(req);
	return;
invalid:
	nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC,
						      NVME_SC_CONNECT_INVALID_PARAM) |
				     AXON_NVME_STATUS_DNR);
	nvmf_request_complete(req);
}

static void prop_set(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvmf_prop_set_cmd *cmd = &req->cmd->prop_set;
	uint8_t size = cmd->attrib & 0x7;

	if (cmd->ofst != AXON_NVME_PROP_CC || size != AXON_NVMF_PROP_SIZE_4) {
		/* CAP, VS and CSTS are read-only; the rest does not exist on fabrics. */
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC,
							      NVME_SC_CONNECT_INVALID_PARAM) |
					     AXON_NVME_STATUS_DNR);
		nvmf_request_complete(req);
		return;
	}
	nvmf_request_set_status(req, prop_set_cc(ctrlr, (uint32_t)cmd->value));
	nvmf_request_complete(req);
}

void nvmf_ctrlr_handle_fabric(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;
	struct axon_nvmf_ctrlr *ctrlr = qpair->ctrlr;

	if (qpair->state != AXON_NVMF_QPAIR_ENABLED || ctrlr == NULL) {
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR) |
					     AXON_NVME_STATUS_DNR);
		nvmf_request_complete(req);
		return;
	}
	switch (req->cmd->fabric.fctype) {
	case AXON_NVMF_FCTYPE_PROPERTY_GET:
	case AXON_NVMF_FCTYPE_PROPERTY_SET:
		if (qpair->qid != 0) {
			break;
		}
		nvmf_ctrlr_keep_alive(ctrlr);
		if (req->cmd->fabric.fctype == AXON_NVMF_FCTYPE_PROPERTY_GET) {
			prop_get(req, ctrlr);
		} else {
			prop_set(req, ctrlr);
		}
		return;
	case AXON_NVMF_FCTYPE_DISCONNECT:
		/* The host will close the connection; nothing to release before. */
		nvmf_request_complete(req);
		return;
	default:
		break;
	}
	nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) |
				     AXON_NVME_STATUS_DNR);
	nvmf_request_complete(req);
}

/* ---- asynchronous events ------------------------------------------------------------------- */

void nvmf_ctrlr_queue_event(struct axon_nvmf_ctrlr *ctrlr, uint32_t event)
{
	if (ctrlr->num_aer > 0) {
		struct axon_nvmf_request *req = ctrlr->aer_reqs[0];

		ctrlr->num_aer--;
		memmove(&ctrlr->aer_reqs[0], &ctrlr->aer_reqs[1],
			ctrlr->num_aer * sizeof(ctrlr->aer_reqs[0]));
		req->rsp->nvme.cdw0 = event;
		nvmf_request_complete(req);
		return;
	}
	if (ctrlr->num_pending_events == NVMF_MAX_PENDING_EVENTS) {
		AXON_WARNLOG("nvmf: controller %u: async event 0x%x dropped\n", ctrlr->cntlid, event);
		return;
	}
	ctrlr->pending_events[ctrlr->num_pending_events++] = event;
}

void nvmf_ctrlr_aer(struct axon_nvmf_request *req)
{
	struct axon_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;

	if (ctrlr->num_pending_events > 0) {
		req->rsp->nvme.cdw0 = ctrlr->pending_events[0];
		ctrlr->num_pending_events--;
		memmove(&ctrlr->pending_events[0], &ctrlr->pending_events[1],
			ctrlr->num_pending_events * sizeof(ctrlr->pending_events[0]));
		nvmf_request_complete(req);
		return;
	}
	if (ctrlr->num_aer == NVMF_MAX_AER) {
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT) |
					     AXON_NVME_STATUS_DNR);
		nvmf_request_complete(req);
		return;
	}
	/* A parked AER does not hold its subsystem's pause. */
	nvmf_request_uncount(req);
	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_AER_PARKED);
	ctrlr->aer_reqs[ctrlr->num_aer++] = req;
}

void nvmf_ctrlr_abort_aers(struct axon_nvmf_ctrlr *ctrlr)
{
	while (ctrlr->num_aer > 0) {
		struct axon_nvmf_request *req = ctrlr->aer_reqs[--ctrlr->num_aer];

		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE));
		nvmf_request_complete(req);
	}
}

bool nvmf_ctrlr_abort_aer(struct axon_nvmf_ctrlr *ctrlr, uint16_t cid)
{
	for (uint32_t i = 0; i < ctrlr->num_aer; i++) {
		struct axon_nvmf_request *req = ctrlr->aer_reqs[i];

		if (req->cmd->nvme.cid != cid) {
			continue;
		}
		ctrlr->num_aer--;
		memmove(&ctrlr->aer_reqs[i], &ctrlr->aer_reqs[i + 1],
			(ctrlr->num_aer - i) * sizeof(ctrlr->aer_reqs[0]));
		nvmf_request_set_status(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ));
		nvmf_request_complete(req);
		return true;
	}
	return false;
}

void nvmf_ctrlr_ns_changed(struct axon_nvmf_ctrlr *ctrlr, uint32_t nsid)
{
	if (ctrlr->in_destruct) {
		return;
	}
	if (!ctrlr->changed_ns_overflow) {
		bool found = false;

		for (uint32_t i = 0; i < ctrlr->num_changed_ns; i++) {
			found = found || ctrlr->changed_ns[i] == nsid;
		}
		if (!found && ctrlr->num_changed_ns == NVMF_CHANGED_NS_MAX) {
			ctrlr->changed_ns_overflow = true;
		} else if (!found) {
			ctrlr->changed_ns[ctrlr->num_changed_ns++] = nsid;
		}
	}
	if ((ctrlr->feat.async_event_config & NVMF_AEC_NS_ATTR) && !ctrlr->ns_attr_aen_masked) {
		ctrlr->ns_attr_aen_masked = true;
		nvmf_ctrlr_queue_event(ctrlr, NVME_AER_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
						      ((uint32_t)NVME_LOG_LID_CHANGED_NS << 16));
	}
}

void nvmf_ctrlr_discovery_changed(struct axon_nvmf_ctrlr *ctrlr)
{
	if (ctrlr->in_destruct || ctrlr->feat.keep_alive_timer == 0) {
		return; /* only persistent discovery controllers get the event */
	}
	if ((ctrlr->feat.async_event_config & NVMF_AEC_DISC_LOG) && !ctrlr->disc_aen_masked) {
		ctrlr->disc_aen_masked = true;
		nvmf_ctrlr_queue_event(ctrlr, NVME_AER_NOTICE | (NVME_AER_NOTICE_DISC_CHANGED << 8) |
						      ((uint32_t)NVME_LOG_LID_DISCOVER << 16));
	}
}

void nvmf_ctrlr_record_error(struct axon_nvmf_ctrlr *ctrlr, struct axon_nvmf_request *req)
{
	struct nvme_error_log_page *e;

	ctrlr->error_count++;
	e = &ctrlr->errors[(ctrlr->error_count - 1) % NVMF_ERROR_LOG_ENTRIES];
	memset(e, 0, sizeof(*e));
	e->error_count = ctrlr->error_count;
	e->sqid = req->qpair->qid;
	e->cmdid = req->cmd->nvme.cid;
	e->status_field = req->rsp->nvme.status;
	e->parm_error_location = 0xffff;
	e->nsid = req->cmd->fabric.opcode == AXON_NVMF_FABRIC_OPCODE ? 0 : req->cmd->nvme.nsid;
	e->trtype = ctrlr->transport->ops->type;
}

/* ---- teardown -------------------------------------------------------------------------------- */

static void qpair_disconnect_msg(void *arg)
{
	axon_nvmf_qpair_disconnect(arg, NULL, NULL);
}

static void ctrlr_io_qpairs_disconnect(struct axon_nvmf_ctrlr *ctrlr)
{
	struct axon_nvmf_qpair *qpair;

	/* Each one stays on the list until it detaches itself through us, so it
	 * is alive when this message reaches its thread. */
	TAILQ_FOREACH(qpair, &ctrlr->io_qpairs, ctrlr_link) {
		if (axon_thread_send_msg(qpair->group->thread, qpair_disconnect_msg, qpair) != 0) {
			AXON_ERRLOG("nvmf: cannot reach queue pair %u of controller %u\n", qpair->qid,
				    ctrlr->cntlid);
		}
	}
}

static void ctrlr_destruct(struct axon_nvmf_ctrlr *ctrlr)
{
	if (ctrlr->in_destruct) {
		return;
	}
	ctrlr->in_destruct = true;
	axon_poller_unregister(&ctrlr->keep_alive_poller);
	ctrlr_io_qpairs_disconnect(ctrlr);
	if (ctrlr->admin_qpair != NULL) {
		axon_nvmf_qpair_disconnect(ctrlr->admin_qpair, NULL, NULL);
	}
	ctrlr_try_free(ctrlr);
}

void nvmf_ctrlr_disconnect(struct axon_nvmf_ctrlr *ctrlr)
{
	ctrlr_destruct(ctrlr);
}

static void ctrlr_free_msg(void *arg)
{
	struct axon_nvmf_ctrlr *ctrlr = arg;

	axon_bit_array_free(&ctrlr->qid_map);
	free(ctrlr);
}

static void ctrlr_unlink_on_app(void *arg)
{
	struct axon_nvmf_ctrlr *ctrlr = arg;
	struct axon_nvmf_subsystem *s = ctrlr->subsys;

	TAILQ_REMOVE(&s->ctrlrs, ctrlr, link);
	if (axon_thread_send_msg(ctrlr->thread, ctrlr_free_msg, ctrlr) != 0) {
		AXON_ERRLOG("nvmf: controller %u leaked: its thread is gone\n", ctrlr->cntlid);
	}
	nvmf_subsystem_ctrlr_removed(s);
}

static void ctrlr_try_free(struct axon_nvmf_ctrlr *ctrlr)
{
	if (!ctrlr->in_destruct || ctrlr->admin_qpair != NULL || !TAILQ_EMPTY(&ctrlr->io_qpairs) ||
	    ctrlr->unlink_sent) {
		return;
	}
	ctrlr->unlink_sent = true;
	AXON_INFOLOG("nvmf: controller %u of %s destroyed\n", ctrlr->cntlid, ctrlr->subsys->nqn);
	if (axon_thread_send_msg(ctrlr->tgt->thread, ctrlr_unlink_on_app, ctrlr) != 0) {
		AXON_ERRLOG("nvmf: controller %u leaked: app thread unreachable\n", ctrlr->cntlid);
	}
}

struct detach_ctx {
	struct axon_nvmf_qpair *qpair;
	struct axon_nvmf_ctrlr *ctrlr;
	void (*cb)(void *);
	void *cb_arg;
	struct axon_thread *reply_thread;
};

static void detach_reply(void *arg)
{
	struct detach_ctx *ctx = arg;

	ctx->cb(ctx->cb_arg);
	free(ctx);
}

static void detach_on_ctrlr(void *arg)
{
	struct detach_ctx *ctx = arg;
	struct axon_nvmf_ctrlr *ctrlr = ctx->ctrlr;
	struct axon_nvmf_qpair *qpair = ctx->qpair;

	if (qpair->qid == 0 && ctrlr->admin_qpair == qpair) {
		ctrlr->admin_qpair = NULL;
		ctrlr_destruct(ctrlr);
	} else if (qpair->qid != 0) {
		TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, ctrlr_link);
		axon_bit_array_clear(ctrlr->qid_map, qpair->qid);
		ctrlr->num_io_qpairs--;
		ctrlr_check_reset_done(ctrlr);
	}
	/* Reply before a possible free: both go to threads in order. */
	if (axon_thread_send_msg(ctx->reply_thread, detach_reply, ctx) != 0) {
		AXON_ERRLOG("nvmf: cannot finish detaching queue pair %u\n", qpair->qid);
		free(ctx);
	}
	ctrlr_try_free(ctrlr);
}

void nvmf_ctrlr_qpair_detach(struct axon_nvmf_qpair *qpair, void (*cb)(void *), void *cb_arg)
{
	struct detach_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		AXON_ERRLOG("nvmf: out of memory detaching queue pair %u\n", qpair->qid);
		cb(cb_arg);
		return;
	}
	ctx->qpair = qpair;
	ctx->ctrlr = qpair->ctrlr;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	ctx->reply_thread = axon_get_thread();
	if (axon_thread_send_msg(ctx->ctrlr->thread, detach_on_ctrlr, ctx) != 0) {
		free(ctx);
		cb(cb_arg);
	}
}
