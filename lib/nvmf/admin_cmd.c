/*
 * Admin commands of NVMe and discovery controllers: Identify, Get Log Page,
 * Get/Set Features, Keep Alive, Asynchronous Event Request, Abort. They run on
 * the controller's thread (its admin queue pair's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/version.h"
#include "nvmf_internal.h"

#define NVMF_IDENTIFY_SIZE 4096u
#define NVMF_FW_REVISION AXON_VERSION_STRINGIFY(AXON_VERSION_MAJOR) "." \
	AXON_VERSION_STRINGIFY(AXON_VERSION_MINOR) "." AXON_VERSION_STRINGIFY(AXON_VERSION_PATCH)

static void complete_status(struct axon_nvmf_request *req, uint8_t sct, uint8_t sc, bool dnr)
{
	nvmf_request_set_status(req, (uint16_t)(AXON_NVME_STATUS(sct, sc) |
						(dnr ? AXON_NVME_STATUS_DNR : 0)));
	nvmf_request_complete(req);
}

static void invalid_field(struct axon_nvmf_request *req)
{
	complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD, true);
}

/* Copy a whole data structure of len bytes to the host, truncated to what
 * the command asked for; the rest of the host's buffer is left as is. */
static void complete_with_data(struct axon_nvmf_request *req, const void *data, size_t len)
{
	size_t n = AXON_MIN(len, (size_t)req->length);

	nvmf_request_copy_to_iov(req, data, n);
	nvmf_request_complete(req);
}

static void space_pad(char *dst, size_t dst_len, const char *src)
{
	size_t n = strnlen(src, dst_len);

	memset(dst, ' ', dst_len);
	memcpy(dst, src, n);
}

static bool is_discovery(const struct axon_nvmf_ctrlr *ctrlr)
{
	return ctrlr->subsys->subtype == AXON_NVMF_SUBTYPE_DISCOVERY;
}

/* ---- Identify ------------------------------------------------------------------------ */

void nvmf_admin_identify_ctrlr(struct axon_nvmf_ctrlr *ctrlr, struct nvme_id_ctrl *cd)
{
	const struct axon_nvmf_transport_opts *topts = &ctrlr->transport->opts;
	struct axon_nvmf_subsystem *s = ctrlr->subsys;

	memset(cd, 0, sizeof(*cd));
	space_pad(cd->sn, sizeof(cd->sn), s->sn);
	space_pad(cd->mn, sizeof(cd->mn), s->mn);
	space_pad(cd->fr, sizeof(cd->fr), NVMF_FW_REVISION);
	cd->cntlid = ctrlr->cntlid;
	cd->ver = NVMF_VS_VALUE;
	cd->lpa = 1u << 2; /* extended data for Get Log Page (offsets) */
	cd->elpe = NVMF_ERROR_LOG_ENTRIES - 1;
	cd->kas = NVMF_KAS;
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->maxcmd = ctrlr->max_queue_depth;
	cd->mdts = (uint8_t)axon_u32log2(topts->max_io_size / 4096u);
	/* SGLs supported (byte-aligned), keyed SGLs on RDMA, addresses as offsets. */
	cd->sgls = 1u | (1u << 20);
	if (ctrlr->transport->ops->type == NVMF_TRTYPE_RDMA) {
		cd->sgls |= 1u << 2;
	}
	cd->ioccsz = (uint32_t)(sizeof(struct axon_nvme_cmd) + topts->in_capsule_data_size) / 16u;
	cd->iorcsz = sizeof(struct axon_nvme_cpl) / 16u;
	cd->icdoff = 0;
	cd->fcatt = 0; /* dynamic controller model */
	cd->msdbd = 1;
	axon_strscpy(cd->subnqn, s->nqn, sizeof(cd->subnqn));
	if (is_discovery(ctrlr)) {
		cd->cntrltype = NVME_CTRL_CNTRLTYPE_DISCOVERY;
		cd->oaes = NVMF_AEC_DISC_LOG;
		cd->aerl = NVMF_MAX_AER - 1;
		return;
	}
	cd->cntrltype = NVME_CTRL_CNTRLTYPE_IO;
	cd->rab = 6;
	cd->cmic = 1u << 1; /* more than one controller may be attached */
	cd->oaes = NVMF_AEC_NS_ATTR;
	cd->acl = NVMF_ABORT_LIMIT - 1;
	cd->aerl = NVMF_MAX_AER - 1;
	cd->frmw = (1u << 1) | 1u; /* one slot, read-only */
	cd->nn = s->max_nsid;
	cd->mnan = s->max_nsid;
	cd->oncs = (1u << 0) | (1u << 2) | (1u << 3); /* compare, DSM, write zeroes */
	cd->fuses = 1u << 0;                           /* compare and write */
	cd->vwc = 1u;
	cd->wctemp = 0x0157;
	cd->cctemp = 0x0175;
}

static void identify_ns(struct axon_nvmf_ctrlr *ctrlr, uint32_t nsid, struct nvme_id_ns *nsd)
{
	struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_ns(ctrlr->subsys, nsid);
	struct axon_bdev *bdev;
	uint32_t bs;

	memset(nsd, 0, sizeof(*nsd));
	if (ns == NULL) {
		return; /* an inactive nsid: all zeroes */
	}
	bdev = ns->bdev;
	bs = axon_bdev_get_block_size(bdev);
	nsd->nsze = axon_bdev_get_num_blocks(bdev);
	nsd->ncap = nsd->nsze;
	nsd->nuse = nsd->nsze;
	nsd->nlbaf = 0;
	nsd->flbas = 0;
	nsd->lbaf[0].ds = (uint8_t)axon_u32log2(bs);
	nsd->nmic = 1; /* may be shared */
	nsd->noiob = (uint16_t)AXON_MIN(axon_bdev_get_optimal_io_boundary(bdev), (uint32_t)UINT16_MAX);
	memcpy(nsd->nguid, ns->opts.nguid, sizeof(nsd->nguid));
	memcpy(nsd->eui64, ns->opts.eui64, sizeof(nsd->eui64));
}

static size_t identify_ns_list(struct axon_nvmf_ctrlr *ctrlr, uint32_t after, uint32_t *list)
{
	size_t n = 0;

	for (struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_first_ns(ctrlr->subsys);
	     ns != NULL && n < 1024; ns = axon_nvmf_subsystem_get_next_ns(ctrlr->subsys, ns)) {
		if (ns->nsid > after) {
			list[n++] = ns->nsid;
		}
	}
	return n;
}

static size_t add_desc(uint8_t *buf, size_t off, uint8_t type, const void *id, uint8_t len)
{
	struct nvme_ns_id_desc *d = (struct nvme_ns_id_desc *)(buf + off);

	d->nidt = type;
	d->nidl = len;
	memcpy(d->nid, id, len);
	return off + sizeof(*d) + len;
}

static bool nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i]) {
			return true;
		}
	}
	return false;
}

static void identify_ns_descs(struct axon_nvmf_ns *ns, uint8_t *buf)
{
	size_t off = 0;
	uint8_t csi = NVME_CSI_NVM;

	if (nonzero(ns->opts.eui64, sizeof(ns->opts.eui64))) {
		off = add_desc(buf, off, NVME_NIDT_EUI64, ns->opts.eui64, NVME_NIDT_EUI64_LEN);
	}
	if (nonzero(ns->opts.nguid, sizeof(ns->opts.nguid))) {
		off = add_desc(buf, off, NVME_NIDT_NGUID, ns->opts.nguid, NVME_NIDT_NGUID_LEN);
	}
	if (!axon_uuid_is_null(&ns->opts.uuid)) {
		off = add_desc(buf, off, NVME_NIDT_UUID, ns->opts.uuid.u, NVME_NIDT_UUID_LEN);
	}
	add_desc(buf, off, NVME_NIDT_CSI, &csi, NVME_NIDT_CSI_LEN);
}

static void admin_identify(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint8_t cns = cmd->cdw10 & 0xff;
	uint8_t csi = (uint8_t)(cmd->cdw11 >> 24);
	uint8_t *buf;

	if (req->length < NVMF_IDENTIFY_SIZE) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA, true);
		return;
	}
	buf = calloc(1, NVMF_IDENTIFY_SIZE);
	if (buf == NULL) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INTERNAL, false);
		return;
	}
	if (is_discovery(ctrlr) && cns != NVME_IDENTIFY_CNS_CTRL) {
		invalid_field(req);
		goto out;
	}
	switch (cns) {
	case NVME_IDENTIFY_CNS_CTRL:
		nvmf_admin_identify_ctrlr(ctrlr, (struct nvme_id_ctrl *)buf);
		break;
	case NVME_IDENTIFY_CNS_NS:
		if (cmd->nsid == 0 || cmd->nsid > ctrlr->subsys->max_nsid) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS, true);
			goto out;
		}
		identify_ns(ctrlr, cmd->nsid, (struct nvme_id_ns *)buf);
		break;
	case NVME_IDENTIFY_CNS_NS_ACTIVE_LIST:
		if (cmd->nsid >= 0xfffffffeu) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS, true);
			goto out;
		}
		identify_ns_list(ctrlr, cmd->nsid, (uint32_t *)buf);
		break;
	case NVME_IDENTIFY_CNS_NS_DESC_LIST: {
		struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_ns(ctrlr->subsys, cmd->nsid);

		if (ns == NULL) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS, true);
			goto out;
		}
		identify_ns_descs(ns, buf);
		break;
	}
	case NVME_IDENTIFY_CNS_CSI_NS:
		/* NVM command set specific namespace data: nothing beyond zeroes. */
		if (csi != NVME_CSI_NVM) {
			invalid_field(req);
			goto out;
		}
		if (axon_nvmf_subsystem_get_ns(ctrlr->subsys, cmd->nsid) == NULL) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_NS, true);
			goto out;
		}
		break;
	case NVME_IDENTIFY_CNS_CSI_CTRL:
		if (csi != NVME_CSI_NVM) {
			invalid_field(req);
			goto out;
		}
		break;
	default:
		invalid_field(req);
		goto out;
	}
	complete_with_data(req, buf, NVMF_IDENTIFY_SIZE);
out:
	free(buf);
}

/* ---- Get Log Page ---------------------------------------------------------------------- */

static void *log_error(struct axon_nvmf_ctrlr *ctrlr, size_t *len)
{
	struct nvme_error_log_page *page = calloc(NVMF_ERROR_LOG_ENTRIES, sizeof(*page));
	uint64_t n = AXON_MIN(ctrlr->error_count, (uint64_t)NVMF_ERROR_LOG_ENTRIES);

	if (page == NULL) {
		return NULL;
	}
	/* Newest first. */
	for (uint64_t i = 0; i < n; i++) {
		page[i] = ctrlr->errors[(ctrlr->error_count - 1 - i) % NVMF_ERROR_LOG_ENTRIES];
	}
	*len = NVMF_ERROR_LOG_ENTRIES * sizeof(*page);
	return page;
}

static void *log_smart(size_t *len)
{
	struct nvme_smart_log *log = calloc(1, sizeof(*log));
	uint16_t temp = 0x013b; /* 315 K */

	if (log == NULL) {
		return NULL;
	}
	memcpy(log->temperature, &temp, sizeof(temp));
	log->avail_spare = 100;
	log->spare_thresh = 10;
	*len = sizeof(*log);
	return log;
}

static void *log_fw_slot(size_t *len)
{
	struct nvme_firmware_slot *log = calloc(1, sizeof(*log));

	if (log == NULL) {
		return NULL;
	}
	log->afi = 1;
	space_pad(log->frs[0], sizeof(log->frs[0]), NVMF_FW_REVISION);
	*len = sizeof(*log);
	return log;
}

static void *log_changed_ns(struct axon_nvmf_ctrlr *ctrlr, bool rae, size_t *len)
{
	uint32_t *list = calloc(NVMF_CHANGED_NS_MAX, sizeof(uint32_t));

	if (list == NULL) {
		return NULL;
	}
	if (ctrlr->changed_ns_overflow) {
		list[0] = 0xffffffffu;
	} else {
		memcpy(list, ctrlr->changed_ns, ctrlr->num_changed_ns * sizeof(uint32_t));
	}
	if (!rae) {
		ctrlr->num_changed_ns = 0;
		ctrlr->changed_ns_overflow = false;
		ctrlr->ns_attr_aen_masked = false;
	}
	*len = NVMF_CHANGED_NS_MAX * sizeof(uint32_t);
	return list;
}

void nvmf_log_page_complete(struct axon_nvmf_request *req, uint8_t *page, size_t len,
			    uint64_t offset, uint64_t want)
{
	uint8_t *out;
	size_t n;

	if (page == NULL) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INTERNAL, false);
		return;
	}
	if (offset > len) {
		free(page);
		invalid_field(req);
		return;
	}
	/* Bytes beyond the end of the page read as zeroes. */
	out = calloc(1, want);
	if (out == NULL) {
		free(page);
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_INTERNAL, false);
		return;
	}
	n = (size_t)AXON_MIN((uint64_t)len - offset, want);
	memcpy(out, page + offset, n);
	nvmf_request_copy_to_iov(req, out, want);
	free(out);
	free(page);
	nvmf_request_complete(req);
}

static void admin_get_log_page(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint8_t lid = cmd->cdw10 & 0xff;
	bool rae = (cmd->cdw10 >> 15) & 1;
	uint64_t numd = ((((uint64_t)cmd->cdw11 & 0xffff) << 16) | (cmd->cdw10 >> 16)) + 1;
	uint64_t offset = ((uint64_t)cmd->cdw13 << 32) | cmd->cdw12;
	uint64_t want = numd * 4;
	size_t len = 0;
	uint8_t *page = NULL;

	if (want > req->length) {
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA, true);
		return;
	}
	if (offset & 3) {
		invalid_field(req);
		return;
	}
	if (is_discovery(ctrlr)) {
		if (lid != NVME_LOG_LID_DISCOVER) {
			complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE, true);
			return;
		}
		nvmf_discovery_get_log(req, ctrlr, offset, want, rae);
		return;
	}
	switch (lid) {
	case NVME_LOG_LID_ERROR:
		page = log_error(ctrlr, &len);
		break;
	case NVME_LOG_LID_SMART:
		page = log_smart(&len);
		break;
	case NVME_LOG_LID_FW_SLOT:
		page = log_fw_slot(&len);
		break;
	case NVME_LOG_LID_CHANGED_NS:
		page = log_changed_ns(ctrlr, rae, &len);
		break;
	default:
		complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE, true);
		return;
	}
	nvmf_log_page_complete(req, page, len, offset, want);
}

/* ---- Features -------------------------------------------------------------------------- */

static void admin_get_features(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint8_t fid = cmd->cdw10 & 0xff;
	uint8_t sel = (cmd->cdw10 >> 8) & 0x7;
	uint32_t *cdw0 = &req->rsp->nvme.cdw0;
	const struct nvmf_ctrlr_features *f = &ctrlr->feat;

	if (sel == 3) {
		/* Capabilities: nothing is saveable or per-namespace; all changeable. */
		*cdw0 = 1u << 2;
		nvmf_request_complete(req);
		return;
	}
	if (sel > 3) {
		invalid_field(req);
		return;
	}
	if (is_discovery(ctrlr) && fid != NVME_FEAT_FID_KATO && fid != NVME_FEAT_FID_ASYNC_EVENT) {
		invalid_field(req);
		return;
	}
	switch (fid) {
	case NVME_FEAT_FID_ARBITRATION:
		*cdw0 = f->arbitration;
		break;
	case NVME_FEAT_FID_POWER_MGMT:
		*cdw0 = f->power_management;
		break;
	case NVME_FEAT_FID_TEMP_THRESH:
		*cdw0 = f->temperature_threshold;
		break;
	case NVME_FEAT_FID_ERR_RECOVERY:
		*cdw0 = f->error_recovery;
		break;
	case NVME_FEAT_FID_VOLATILE_WC:
		*cdw0 = f->volatile_write_cache;
		break;
	case NVME_FEAT_FID_NUM_QUEUES:
		*cdw0 = f->number_of_queues;
		break;
	case NVME_FEAT_FID_WRITE_ATOMIC:
		*cdw0 = f->write_atomicity;
		break;
	case NVME_FEAT_FID_ASYNC_EVENT:
		*cdw0 = f->async_event_config;
		break;
	case NVME_FEAT_FID_KATO:
		*cdw0 = f->keep_alive_timer;
		break;
	case NVME_FEAT_FID_HOST_ID:
		/* EXHID must be set: fabrics use the 128-bit host identifier. */
		if (!(cmd->cdw11 & 1)) {
			invalid_field(req);
			return;
		}
		if (req->length < sizeof(ctrlr->hostid)) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA, true);
			return;
		}
		nvmf_request_copy_to_iov(req, ctrlr->hostid, sizeof(ctrlr->hostid));
		break;
	default:
		invalid_field(req);
		return;
	}
	nvmf_request_complete(req);
}

static void admin_set_features(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint8_t fid = cmd->cdw10 & 0xff;
	bool save = cmd->cdw10 >> 31;
	uint32_t v = cmd->cdw11;
	struct nvmf_ctrlr_features *f = &ctrlr->feat;

	if (save) {
		complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE, true);
		return;
	}
	if (is_discovery(ctrlr) && fid != NVME_FEAT_FID_KATO && fid != NVME_FEAT_FID_ASYNC_EVENT) {
		invalid_field(req);
		return;
	}
	switch (fid) {
	case NVME_FEAT_FID_ARBITRATION:
		f->arbitration = v;
		break;
	case NVME_FEAT_FID_POWER_MGMT:
		if ((v & 0x1f) != 0) {
			invalid_field(req); /* power state 0 is the only one */
			return;
		}
		f->power_management = v;
		break;
	case NVME_FEAT_FID_TEMP_THRESH:
		f->temperature_threshold = v;
		break;
	case NVME_FEAT_FID_ERR_RECOVERY:
		f->error_recovery = v;
		break;
	case NVME_FEAT_FID_VOLATILE_WC:
		f->volatile_write_cache = v & 1;
		req->rsp->nvme.cdw0 = f->volatile_write_cache;
		break;
	case NVME_FEAT_FID_NUM_QUEUES:
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
			invalid_field(req);
			return;
		}
		if (ctrlr->num_io_qpairs > 0) {
			complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR, true);
			return;
		}
		/* We grant what the transport allows, whatever was asked (the spec lets
		 * the controller allocate a different number). */
		f->number_of_queues_set = true;
		req->rsp->nvme.cdw0 = f->number_of_queues;
		break;
	case NVME_FEAT_FID_WRITE_ATOMIC:
		f->write_atomicity = v & 1;
		break;
	case NVME_FEAT_FID_ASYNC_EVENT:
		f->async_event_config = v;
		break;
	case NVME_FEAT_FID_KATO:
		/* 0 disables the timer: the host asked for it. */
		f->keep_alive_timer = v == 0 ? 0 :
			AXON_DIV_ROUND_UP(v, NVMF_KAS * 100u) * NVMF_KAS * 100u;
		nvmf_ctrlr_arm_keep_alive(ctrlr);
		break;
	case NVME_FEAT_FID_HOST_ID:
		/* Fabrics hosts give their identifier at Connect. */
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR, true);
		return;
	default:
		invalid_field(req);
		return;
	}
	nvmf_request_complete(req);
}

/* ---- Abort ------------------------------------------------------------------------------ */

struct abort_ctx {
	struct axon_nvmf_request *req;   /* the Abort command */
	struct axon_nvmf_qpair *qpair;   /* where the victim is */
	uint16_t cid;
	bool aborted;
	struct axon_thread *ctrlr_thread;
};

static void abort_done(void *arg)
{
	struct abort_ctx *ctx = arg;
	struct axon_nvmf_ctrlr *ctrlr = ctx->req->qpair->ctrlr;

	/* CDW0 bit 0: 1 means "not aborted". */
	ctx->req->rsp->nvme.cdw0 = ctx->aborted ? 0 : 1;
	if (ctrlr != NULL) {
		ctrlr->num_aborts--;
	}
	nvmf_request_complete(ctx->req);
	free(ctx);
}

static void abort_on_qpair(void *arg)
{
	struct abort_ctx *ctx = arg;

	ctx->aborted = nvmf_qpair_abort_cid(ctx->qpair, ctx->cid);
	if (axon_thread_send_msg(ctx->ctrlr_thread, abort_done, ctx) != 0) {
		AXON_ERRLOG("nvmf: cannot answer an Abort\n");
	}
}

static void admin_abort(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr)
{
	uint16_t sqid = req->cmd->nvme.cdw10 & 0xffff;
	uint16_t cid = (uint16_t)(req->cmd->nvme.cdw10 >> 16);
	struct axon_nvmf_qpair *qpair;
	struct abort_ctx *ctx;

	if (ctrlr->num_aborts >= NVMF_ABORT_LIMIT) {
		complete_status(req, NVME_SCT_CMD_SPECIFIC, NVME_SC_ABORT_LIMIT, true);
		return;
	}
	if (sqid == 0) {
		req->rsp->nvme.cdw0 = nvmf_ctrlr_abort_aer(ctrlr, cid) ? 0 : 1;
		nvmf_request_complete(req);
		return;
	}
	TAILQ_FOREACH(qpair, &ctrlr->io_qpairs, ctrlr_link) {
		if (qpair->qid == sqid) {
			break;
		}
	}
	if (qpair == NULL) {
		invalid_field(req);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		req->rsp->nvme.cdw0 = 1;
		nvmf_request_complete(req);
		return;
	}
	ctx->req = req;
	ctx->qpair = qpair;
	ctx->cid = cid;
	ctx->ctrlr_thread = axon_get_thread();
	ctrlr->num_aborts++;
	/* qpair stays on io_qpairs until it detaches through this thread, which
	 * is queued behind our message if it happens: it is alive then. */
	if (axon_thread_send_msg(qpair->group->thread, abort_on_qpair, ctx) != 0) {
		ctrlr->num_aborts--;
		free(ctx);
		req->rsp->nvme.cdw0 = 1;
		nvmf_request_complete(req);
	}
}

/* ---- dispatch ------------------------------------------------------------------------------ */

void nvmf_admin_cmd_exec(struct axon_nvmf_request *req)
{
	struct axon_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;

	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_EXECUTING);
	/* Any admin command counts as keep-alive traffic. */
	nvmf_ctrlr_keep_alive(ctrlr);
	if (cmd->fuse != AXON_NVME_FUSE_NONE) {
		invalid_field(req);
		return;
	}
	if (!ctrlr->cc.bits.en || !ctrlr->csts.bits.rdy) {
		/* Only fabrics commands before the controller is enabled. */
		complete_status(req, NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR, true);
		return;
	}
	switch (cmd->opc) {
	case nvme_admin_identify:
		admin_identify(req, ctrlr);
		return;
	case nvme_admin_get_log_page:
		admin_get_log_page(req, ctrlr);
		return;
	case nvme_admin_get_features:
		admin_get_features(req, ctrlr);
		return;
	case nvme_admin_set_features:
		admin_set_features(req, ctrlr);
		return;
	case nvme_admin_keep_alive:
		nvmf_request_complete(req);
		return;
	case nvme_admin_async_event:
		nvmf_ctrlr_aer(req);
		return;
	case nvme_admin_abort_cmd:
		if (is_discovery(ctrlr)) {
			break;
		}
		admin_abort(req, ctrlr);
		return;
	default:
		break;
	}
	complete_status(req, NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE, true);
}
