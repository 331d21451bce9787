/*
 * Admin commands: the public ones (identify, features, log pages, keep
 * alive, abort, raw), asynchronous events with the namespace re-scan they
 * trigger, and the namespace objects.
 */
#include <errno.h>
#include <stdlib.h>

#include "nvme_internal.h"

/* CDW0 of an AER completion. */
#define AER_TYPE(cdw0) ((cdw0) & 0x7u)
#define AER_INFO(cdw0) (((cdw0) >> 8) & 0xffu)
#define AER_LID(cdw0) (((cdw0) >> 16) & 0xffu)
/* Bytes of the Changed Namespace List log page. */
#define CHANGED_NS_LOG_LEN 4096u

int nvme_ctrlr_submit_admin(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
			    void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg)
{
	if (ctrlr->adminq == NULL) {
		return -ENXIO;
	}
	return nvme_qpair_submit_cmd(ctrlr->adminq, cmd, NULL, 0, buf, len, cb, cb_arg, true);
}

/* The gate of every public admin command. */
static int admin_check(struct axon_nvme_ctrlr *ctrlr, void *buf, uint32_t len)
{
	if (ctrlr == NULL || (len > 0 && buf == NULL)) {
		return -EINVAL;
	}
	if (ctrlr->failed || ctrlr->reset_state != NVME_RESET_NONE) {
		return -ENXIO;
	}
	return 0;
}

int axon_nvme_ctrlr_cmd_identify(struct axon_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
				 uint32_t nsid, uint8_t csi, void *buf, uint32_t len,
				 axon_nvme_cmd_cb cb, void *cb_arg)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_identify, .nsid = nsid};
	int rc = admin_check(ctrlr, buf, len);

	if (rc != 0) {
		return rc;
	}
	if (len == 0 || len > NVME_IDENTIFY_DATA_SIZE) {
		return -EINVAL;
	}
	cmd.cdw10 = cns | ((uint32_t)cntid << 16);
	cmd.cdw11 = (uint32_t)csi << 24;
	return nvme_ctrlr_submit_admin(ctrlr, &cmd, buf, len, cb, cb_arg);
}

int axon_nvme_ctrlr_cmd_get_features(struct axon_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				     void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_get_features, .cdw10 = fid, .cdw11 = cdw11};
	int rc = admin_check(ctrlr, buf, len);

	return rc != 0 ? rc : nvme_ctrlr_submit_admin(ctrlr, &cmd, buf, len, cb, cb_arg);
}

int axon_nvme_ctrlr_cmd_set_features(struct axon_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				     uint32_t cdw12, void *buf, uint32_t len, axon_nvme_cmd_cb cb,
				     void *cb_arg)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_set_features,
				    .cdw10 = fid,
				    .cdw11 = cdw11,
				    .cdw12 = cdw12};
	int rc = admin_check(ctrlr, buf, len);

	return rc != 0 ? rc : nvme_ctrlr_submit_admin(ctrlr, &cmd, buf, len, cb, cb_arg);
}

/* Build a Get Log Page (NUMD 0's based dwords split over CDW10/11, offset in CDW12/13). */
static void build_get_log_page(struct axon_nvme_cmd *cmd, uint8_t lid, uint32_t nsid,
			       uint32_t len, uint64_t offset)
{
	uint32_t numd = len / 4 - 1;

	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = nvme_admin_get_log_page;
	cmd->nsid = nsid;
	cmd->cdw10 = lid | ((numd & 0xffffu) << 16);
	cmd->cdw11 = numd >> 16;
	cmd->cdw12 = (uint32_t)offset;
	cmd->cdw13 = (uint32_t)(offset >> 32);
}

int axon_nvme_ctrlr_cmd_get_log_page(struct axon_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				     void *buf, uint32_t len, uint64_t offset, axon_nvme_cmd_cb cb,
				     void *cb_arg)
{
	struct axon_nvme_cmd cmd;
	int rc = admin_check(ctrlr, buf, len);

	if (rc != 0) {
		return rc;
	}
	if (len == 0 || len % 4 != 0 || offset % 4 != 0) {
		return -EINVAL;
	}
	build_get_log_page(&cmd, lid, nsid, len, offset);
	return nvme_ctrlr_submit_admin(ctrlr, &cmd, buf, len, cb, cb_arg);
}

int axon_nvme_ctrlr_cmd_keep_alive(struct axon_nvme_ctrlr *ctrlr, axon_nvme_cmd_cb cb,
				   void *cb_arg)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_keep_alive};
	int rc = admin_check(ctrlr, NULL, 0);

	return rc != 0 ? rc : nvme_ctrlr_submit_admin(ctrlr, &cmd, NULL, 0, cb, cb_arg);
}

int axon_nvme_ctrlr_cmd_abort(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair,
			      uint16_t cid, axon_nvme_cmd_cb cb, void *cb_arg)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_abort_cmd};
	uint16_t sqid = qpair != NULL ? qpair->id : 0;
	int rc = admin_check(ctrlr, NULL, 0);

	if (rc != 0) {
		return rc;
	}
	cmd.cdw10 = sqid | ((uint32_t)cid << 16);
	return nvme_ctrlr_submit_admin(ctrlr, &cmd, NULL, 0, cb, cb_arg);
}

int axon_nvme_ctrlr_cmd_admin_raw(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
				  void *buf, uint32_t len, axon_nvme_cmd_cb cb, void *cb_arg)
{
	int rc = admin_check(ctrlr, buf, len);

	if (rc != 0) {
		return rc;
	}
	if (cmd == NULL ||
	    (len > 0 && axon_nvme_opc_get_data_xfer(cmd->opc) == AXON_NVME_DATA_NONE)) {
		return -EINVAL;
	}
	return nvme_ctrlr_submit_admin(ctrlr, cmd, buf, len, cb, cb_arg);
}

/* ---- synchronous admin ------------------------------------------------------ */

struct admin_sync {
	bool done;
	struct axon_nvme_cpl cpl;
};

static void admin_sync_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct admin_sync *s = cb_arg;

	s->cpl = *cpl;
	s->done = true;
}

int axon_nvme_ctrlr_cmd_admin_sync(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
				   void *buf, uint32_t len, struct axon_nvme_cpl *cpl)
{
	struct admin_sync s = {.done = false};
	uint64_t deadline;
	int rc;

	rc = axon_nvme_ctrlr_cmd_admin_raw(ctrlr, cmd, buf, len, admin_sync_cb, &s);
	if (rc != 0) {
		return rc;
	}
	deadline = nvme_now_us() + (uint64_t)ctrlr->opts.admin_timeout_ms * 1000u;
	while (!s.done) {
		rc = axon_nvme_ctrlr_process_admin_completions(ctrlr);
		if (rc < 0) {
			break;
		}
		if (nvme_now_us() >= deadline) {
			/* The callback still points at s: take the queue down. */
			nvme_ctrlr_connection_lost(ctrlr);
			nvme_qpair_abort_all(ctrlr->adminq,
					     AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
			return -ETIMEDOUT;
		}
	}
	if (!s.done) {
		return rc;
	}
	*cpl = s.cpl;
	return 0;
}

/* ---- keep alive -------------------------------------------------------------- */

static void keep_alive_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;

	ctrlr->keep_alive_outstanding = false;
	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_WARNLOG("%s: Keep Alive failed (status 0x%x)\n", ctrlr->trid.traddr,
			     axon_nvme_cpl_get_status(cpl));
	}
}

void nvme_ctrlr_keep_alive_poll(struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t now;

	if (ctrlr->opts.keep_alive_timeout_ms == 0 || ctrlr->keep_alive_outstanding) {
		return;
	}
	now = nvme_now_us();
	if (now < ctrlr->next_keep_alive_us) {
		return;
	}
	/* Twice per KATO, so one late answer does not lose the association. */
	ctrlr->next_keep_alive_us = now + ctrlr->opts.keep_alive_timeout_ms * 500u;
	if (axon_nvme_ctrlr_cmd_keep_alive(ctrlr, keep_alive_cb, ctrlr) == 0) {
		ctrlr->keep_alive_outstanding = true;
	}
}

/* ---- namespaces ----------------------------------------------------------------- */

static void ns_apply_data(struct axon_nvme_ns *ns, const struct nvme_id_ns *data)
{
	uint8_t fmt = data->flbas & NVME_NS_FLBAS_LOWER_MASK;
	uint8_t lbads;

	/* Formats 16..63 use FLBAS bits 6:5 as the high bits. */
	fmt |= (uint8_t)(((data->flbas & NVME_NS_FLBAS_HIGHER_MASK) >> 5) << 4);
	ns->data = *data;
	lbads = fmt < AXON_COUNTOF(data->lbaf) ? data->lbaf[fmt].ds : 0;
	ns->sector_size = lbads >= 9 && lbads < 32 ? 1u << lbads : 512u;
	ns->md_size = fmt < AXON_COUNTOF(data->lbaf) ? data->lbaf[fmt].ms : 0;
	ns->num_sectors = data->nsze;
}

int nvme_ns_update(struct axon_nvme_ctrlr *ctrlr, uint32_t nsid, const struct nvme_id_ns *data)
{
	struct axon_nvme_ns *ns, *pos;

	ns = axon_nvme_ctrlr_get_ns(ctrlr, nsid);
	if (ns != NULL) {
		ns_apply_data(ns, data);
		return 0;
	}
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL) {
		return -ENOMEM;
	}
	ns->ctrlr = ctrlr;
	ns->id = nsid;
	ns_apply_data(ns, data);
	TAILQ_FOREACH(pos, &ctrlr->active_ns, link) {
		if (pos->id > nsid) {
			TAILQ_INSERT_BEFORE(pos, ns, link);
			ctrlr->num_active_ns++;
			return 0;
		}
	}
	TAILQ_INSERT_TAIL(&ctrlr->active_ns, ns, link);
	ctrlr->num_active_ns++;
	return 0;
}

static void ns_remove(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_ns *ns)
{
	TAILQ_REMOVE(&ctrlr->active_ns, ns, link);
	ctrlr->num_active_ns--;
	free(ns);
}

void nvme_ns_remove_absent(struct axon_nvme_ctrlr *ctrlr, const uint32_t *list, uint32_t count)
{
	struct axon_nvme_ns *ns, *tmp;
	uint32_t i;

	TAILQ_FOREACH_SAFE(ns, &ctrlr->active_ns, link, tmp) {
		for (i = 0; i < count && list[i] != ns->id; i++) {
		}
		if (i == count) {
			ns_remove(ctrlr, ns);
		}
	}
}

void nvme_ctrlr_free_namespaces(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_ns *ns;

	while ((ns = TAILQ_FIRST(&ctrlr->active_ns)) != NULL) {
		ns_remove(ctrlr, ns);
	}
}

/* ---- the namespace scan -------------------------------------------------------- */

static void scan_identify_next(struct axon_nvme_ctrlr *ctrlr);
static int scan_read_list(struct axon_nvme_ctrlr *ctrlr, uint32_t start_nsid);

static void scan_finish(struct axon_nvme_ctrlr *ctrlr, enum nvme_scan_phase phase)
{
	ctrlr->scan_phase = phase;
	ctrlr->ns_rescan_running = false;
	if (phase == NVME_SCAN_DONE) {
		nvme_ns_remove_absent(ctrlr, ctrlr->ns_list, ctrlr->ns_list_count);
	}
	/* An event arrived while we were reading: read again. */
	if (ctrlr->ns_rescan_pending && ctrlr->state == AXON_NVME_CTRLR_STATE_READY) {
		ctrlr->ns_rescan_pending = false;
		nvme_ctrlr_rescan_namespaces(ctrlr);
	}
}

static void scan_ns_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;
	uint32_t nsid = ctrlr->ns_list[ctrlr->ns_list_next];

	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_ERRLOG("%s: Identify Namespace %u failed (status 0x%x)\n", ctrlr->trid.traddr,
			    nsid, axon_nvme_cpl_get_status(cpl));
		scan_finish(ctrlr, NVME_SCAN_FAILED);
		return;
	}
	if (nvme_ns_update(ctrlr, nsid, ctrlr->ns_data_buf) != 0) {
		scan_finish(ctrlr, NVME_SCAN_FAILED);
		return;
	}
	ctrlr->ns_list_next++;
	scan_identify_next(ctrlr);
}

static void scan_identify_next(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_identify, .cdw10 = NVME_IDENTIFY_CNS_NS};

	if (ctrlr->ns_list_next == ctrlr->ns_list_count) {
		scan_finish(ctrlr, NVME_SCAN_DONE);
		return;
	}
	cmd.nsid = ctrlr->ns_list[ctrlr->ns_list_next];
	if (nvme_ctrlr_submit_admin(ctrlr, &cmd, ctrlr->ns_data_buf, NVME_IDENTIFY_DATA_SIZE,
				    scan_ns_cb, ctrlr) != 0) {
		scan_finish(ctrlr, NVME_SCAN_FAILED);
	}
}

static void scan_list_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;
	const uint32_t *page = ctrlr->ns_data_buf;
	uint32_t *grown, i, n = 0, last = 0;

	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_ERRLOG("%s: Identify active namespace list failed (status 0x%x)\n",
			    ctrlr->trid.traddr, axon_nvme_cpl_get_status(cpl));
		scan_finish(ctrlr, NVME_SCAN_FAILED);
		return;
	}
	/* The list is increasing and ends at the first 0; refuse anything else. */
	while (n < NVME_NS_LIST_ENTRIES && page[n] != 0) {
		if (page[n] <= last || page[n] == 0xffffffffu) {
			AXON_ERRLOG("%s: malformed active namespace list\n", ctrlr->trid.traddr);
			scan_finish(ctrlr, NVME_SCAN_FAILED);
			return;
		}
		last = page[n++];
	}
	grown = realloc(ctrlr->ns_list, (ctrlr->ns_list_count + n + 1) * sizeof(uint32_t));
	if (grown == NULL) {
		scan_finish(ctrlr, NVME_SCAN_FAILED);
		return;
	}
	ctrlr->ns_list = grown;
	for (i = 0; i < n; i++) {
		ctrlr->ns_list[ctrlr->ns_list_count++] = page[i];
	}
	if (n == NVME_NS_LIST_ENTRIES) {
		if (scan_read_list(ctrlr, last) != 0) {
			scan_finish(ctrlr, NVME_SCAN_FAILED);
		}
		return;
	}
	ctrlr->scan_phase = NVME_SCAN_NAMESPACES;
	ctrlr->ns_list_next = 0;
	scan_identify_next(ctrlr);
}

static int scan_read_list(struct axon_nvme_ctrlr *ctrlr, uint32_t start_nsid)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_identify,
				    .nsid = start_nsid,
				    .cdw10 = NVME_IDENTIFY_CNS_NS_ACTIVE_LIST};

	return nvme_ctrlr_submit_admin(ctrlr, &cmd, ctrlr->ns_data_buf, NVME_IDENTIFY_DATA_SIZE,
				       scan_list_cb, ctrlr);
}

void nvme_ctrlr_rescan_namespaces(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->ns_rescan_running) {
		ctrlr->ns_rescan_pending = true;
		return;
	}
	ctrlr->ns_rescan_running = true;
	ctrlr->scan_phase = NVME_SCAN_LIST;
	ctrlr->ns_list_count = 0;
	ctrlr->ns_list_next = 0;
	if (scan_read_list(ctrlr, 0) != 0) {
		scan_finish(ctrlr, NVME_SCAN_FAILED);
	}
}

/* ---- asynchronous events ------------------------------------------------------ */

static int aer_submit(struct axon_nvme_ctrlr *ctrlr);

static void changed_ns_log_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;

	/* Whatever the log said, the full scan below is the truth. */
	free(ctrlr->changed_ns_log);
	ctrlr->changed_ns_log = NULL;
	nvme_ctrlr_rescan_namespaces(ctrlr);
}

/* Reading the Changed Namespace List re-arms the event on the controller. */
static void aer_ns_changed(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->changed_ns_log != NULL) {
		ctrlr->ns_rescan_pending = true;
		return;
	}
	ctrlr->changed_ns_log = nvme_alloc_data(ctrlr, CHANGED_NS_LOG_LEN);
	if (ctrlr->changed_ns_log == NULL ||
	    axon_nvme_ctrlr_cmd_get_log_page(ctrlr, NVME_LOG_LID_CHANGED_NS, 0xffffffffu,
					     ctrlr->changed_ns_log, CHANGED_NS_LOG_LEN, 0,
					     changed_ns_log_cb, ctrlr) != 0) {
		nvme_free_data(ctrlr, ctrlr->changed_ns_log);
		ctrlr->changed_ns_log = NULL;
		nvme_ctrlr_rescan_namespaces(ctrlr);
	}
}

static void aer_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;

	ctrlr->num_aers--;
	if (axon_nvme_cpl_is_error(cpl)) {
		/* Aborted by a disconnect, or the controller refuses more: do not repost. */
		return;
	}
	AXON_INFOLOG("%s: asynchronous event type %u info 0x%x log 0x%x\n", ctrlr->trid.traddr,
		     AER_TYPE(cpl->cdw0), AER_INFO(cpl->cdw0), AER_LID(cpl->cdw0));
	if (AER_TYPE(cpl->cdw0) == NVME_AER_NOTICE &&
	    AER_INFO(cpl->cdw0) == NVME_AER_NOTICE_NS_CHANGED) {
		aer_ns_changed(ctrlr);
	}
	if (ctrlr->aer_cb != NULL) {
		ctrlr->aer_cb(ctrlr->aer_cb_arg, cpl);
	}
	if (aer_submit(ctrlr) != 0) {
		AXON_WARNLOG("%s: could not repost an Asynchronous Event Request\n",
			     ctrlr->trid.traddr);
	}
}

static int aer_submit(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_async_event};
	int rc;

	rc = nvme_ctrlr_submit_admin(ctrlr, &cmd, NULL, 0, aer_cb, ctrlr);
	if (rc == 0) {
		ctrlr->num_aers++;
	}
	return rc;
}

int nvme_ctrlr_post_aers(struct axon_nvme_ctrlr *ctrlr)
{
	uint32_t want = AXON_MIN((uint32_t)ctrlr->cdata.aerl + 1, (uint32_t)NVME_MAX_AERS);
	int rc;

	/* Leave room on a small admin queue for everything else. */
	want = AXON_MIN(want, ctrlr->adminq->depth / 4);
	while (ctrlr->num_aers < want) {
		rc = aer_submit(ctrlr);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* ---- namespace getters -------------------------------------------------------- */

uint32_t axon_nvme_ctrlr_get_num_active_ns(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_active_ns;
}

struct axon_nvme_ns *axon_nvme_ctrlr_get_next_active_ns(struct axon_nvme_ctrlr *ctrlr,
							struct axon_nvme_ns *prev)
{
	return prev == NULL ? TAILQ_FIRST(&ctrlr->active_ns) : TAILQ_NEXT(prev, link);
}

struct axon_nvme_ns *axon_nvme_ctrlr_get_ns(struct axon_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	struct axon_nvme_ns *ns;

	TAILQ_FOREACH(ns, &ctrlr->active_ns, link) {
		if (ns->id == nsid) {
			return ns;
		}
	}
	return NULL;
}

uint32_t axon_nvme_ns_get_id(const struct axon_nvme_ns *ns)
{
	return ns->id;
}

const struct nvme_id_ns *axon_nvme_ns_get_data(const struct axon_nvme_ns *ns)
{
	return &ns->data;
}

uint32_t axon_nvme_ns_get_sector_size(const struct axon_nvme_ns *ns)
{
	return ns->sector_size;
}

uint32_t axon_nvme_ns_get_md_size(const struct axon_nvme_ns *ns)
{
	return ns->md_size;
}

uint64_t axon_nvme_ns_get_num_sectors(const struct axon_nvme_ns *ns)
{
	return ns->num_sectors;
}

struct axon_nvme_ctrlr *axon_nvme_ns_get_ctrlr(const struct axon_nvme_ns *ns)
{
	return ns->ctrlr;
}
