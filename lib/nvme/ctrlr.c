/*
 * Controllers: the initialisation state machine (one step function, one
 * enum, a timeout per step, failures naming their step), admin polling,
 * detach, and the getters.
 *
 * Every register step works the same on PCIe and fabrics: a transport with
 * register ops answers at once; otherwise a Property Get / Set goes out on
 * the admin queue and the step waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "nvme_internal.h"

/* Memory page size lib/nvme configures (CC.MPS = 0). */
#define NVME_HOST_PAGE_SHIFT 12
/* CC.IOSQES / IOCQES: 64-byte SQEs, 16-byte CQEs. */
#define NVME_IOSQES 6
#define NVME_IOCQES 4
/* CAP.TO is in units of 500 ms. */
#define NVME_CAP_TO_UNIT_US 500000u
/* Asynchronous event configuration: SMART warnings we always want. */
#define NVME_AEN_SMART_MASK 0x1fu
#define NVME_AEN_NS_ATTR (1u << 8)

static const char *const g_state_names[] = {
	[AXON_NVME_CTRLR_STATE_INIT] = "init",
	[AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ] = "connect admin queue",
	[AXON_NVME_CTRLR_STATE_READ_VS] = "read VS",
	[AXON_NVME_CTRLR_STATE_READ_CAP] = "read CAP",
	[AXON_NVME_CTRLR_STATE_CHECK_EN] = "check CC.EN",
	[AXON_NVME_CTRLR_STATE_DISABLE] = "disable",
	[AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0] = "wait for not ready",
	[AXON_NVME_CTRLR_STATE_CONFIGURE_ADMINQ] = "configure admin queue",
	[AXON_NVME_CTRLR_STATE_ENABLE] = "enable",
	[AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1] = "wait for ready",
	[AXON_NVME_CTRLR_STATE_IDENTIFY] = "identify controller",
	[AXON_NVME_CTRLR_STATE_SET_NUM_QUEUES] = "set number of queues",
	[AXON_NVME_CTRLR_STATE_CONFIGURE_AER] = "configure async events",
	[AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE] = "set keep alive",
	[AXON_NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS] = "identify active namespaces",
	[AXON_NVME_CTRLR_STATE_IDENTIFY_NS] = "identify namespaces",
	[AXON_NVME_CTRLR_STATE_READY] = "ready",
	[AXON_NVME_CTRLR_STATE_ERROR] = "error",
};

const char *axon_nvme_ctrlr_state_str(enum axon_nvme_ctrlr_state state)
{
	if ((size_t)state >= AXON_COUNTOF(g_state_names)) {
		return "unknown";
	}
	return g_state_names[state];
}

void axon_nvme_ctrlr_opts_init(struct axon_nvme_ctrlr_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->opts_size = sizeof(*opts);
	opts->num_io_queues = NVME_DEFAULT_NUM_IO_QUEUES;
	opts->io_queue_size = NVME_DEFAULT_IO_QUEUE_SIZE;
	opts->admin_queue_size = NVME_DEFAULT_ADMIN_QUEUE_SIZE;
	opts->keep_alive_timeout_ms = NVME_DEFAULT_KATO_MS;
	opts->admin_timeout_ms = NVME_DEFAULT_ADMIN_TIMEOUT_MS;
	opts->timeout_action = AXON_NVME_TIMEOUT_ACTION_NONE;
	opts->ctrlr_loss_timeout_sec = NVME_DEFAULT_CTRLR_LOSS_TIMEOUT_S;
	opts->reconnect_delay_sec = NVME_DEFAULT_RECONNECT_DELAY_S;
}

void nvme_ctrlr_set_state(struct axon_nvme_ctrlr *ctrlr, enum axon_nvme_ctrlr_state state,
			  uint64_t timeout_us)
{
	AXON_DEBUGLOG(nvme, "%s: %s -> %s\n", ctrlr->trid.traddr,
		      axon_nvme_ctrlr_state_str(ctrlr->state), axon_nvme_ctrlr_state_str(state));
	__atomic_store_n(&ctrlr->state, state, __ATOMIC_RELEASE);
	ctrlr->step_waiting = false;
	ctrlr->step_done = false;
	memset(&ctrlr->reg, 0, sizeof(ctrlr->reg));
	ctrlr->next_poll_us = 0;
	ctrlr->state_deadline_us = timeout_us == 0 ? UINT64_MAX : nvme_now_us() + timeout_us;
}

static uint64_t admin_timeout_us(const struct axon_nvme_ctrlr *ctrlr)
{
	return (uint64_t)ctrlr->opts.admin_timeout_ms * 1000u;
}

/* Waiting for CSTS.RDY may take CAP.TO; never less than the admin timeout. */
static uint64_t ready_timeout_us(const struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t to = (uint64_t)ctrlr->cap.bits.to * NVME_CAP_TO_UNIT_US;

	return AXON_MAX(to, admin_timeout_us(ctrlr));
}

static int ctrlr_fail(struct axon_nvme_ctrlr *ctrlr, int rc, const char *why)
{
	ctrlr->failed_step = ctrlr->state;
	ctrlr->init_rc = rc;
	AXON_ERRLOG("%s (%s): controller initialisation failed at step '%s': %s (%d)\n",
		    ctrlr->trid.traddr, ctrlr->trid.subnqn,
		    axon_nvme_ctrlr_state_str(ctrlr->state), why, rc);
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_ERROR, 0);
	return rc;
}

void *nvme_alloc_data(struct axon_nvme_ctrlr *ctrlr, size_t size)
{
	void *buf;

	if (ctrlr->ops->dma_zalloc != NULL) {
		return ctrlr->ops->dma_zalloc(size, 4096);
	}
	buf = aligned_alloc(4096, AXON_ALIGN_UP(size, (size_t)4096));
	if (buf != NULL) {
		memset(buf, 0, size);
	}
	return buf;
}

void nvme_free_data(struct axon_nvme_ctrlr *ctrlr, void *buf)
{
	if (buf == NULL) {
		return;
	}
	if (ctrlr->ops->dma_free != NULL) {
		ctrlr->ops->dma_free(buf);
	} else {
		free(buf);
	}
}

/* ---- register steps --------------------------------------------------------- */

static void reg_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;

	ctrlr->reg.outstanding = false;
	if (axon_nvme_cpl_is_error(cpl)) {
		ctrlr->reg.failed = true;
		return;
	}
	ctrlr->reg.done = true;
	ctrlr->reg.value = (uint64_t)cpl->cdw0 | ((uint64_t)cpl->cdw1 << 32);
}

/*
 * Read a register. Returns 1 with *value once it is known, 0 while a
 * Property Get is outstanding, or -errno.
 */
static int step_reg_read(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			 uint64_t *value)
{
	uint32_t v4;
	int rc;

	if (ctrlr->reg.done) {
		*value = ctrlr->reg.value;
		ctrlr->reg.done = false;
		return 1;
	}
	if (ctrlr->reg.failed) {
		return -EIO;
	}
	if (ctrlr->reg.outstanding) {
		return 0;
	}
	if (ctrlr->ops->ctrlr_get_reg_4 != NULL) {
		if (size == 8) {
			rc = ctrlr->ops->ctrlr_get_reg_8(ctrlr, offset, value);
		} else {
			rc = ctrlr->ops->ctrlr_get_reg_4(ctrlr, offset, &v4);
			*value = v4;
		}
		return rc == 0 ? 1 : rc;
	}
	ctrlr->reg.outstanding = true;
	rc = nvme_fabric_prop_get(ctrlr, offset, size, reg_cb, ctrlr);
	if (rc != 0) {
		ctrlr->reg.outstanding = false;
	}
	return rc;
}

/* Write a register. Returns 1 once written, 0 while waiting, or -errno. */
static int step_reg_write(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			  uint64_t value)
{
	int rc;

	if (ctrlr->reg.done) {
		ctrlr->reg.done = false;
		return 1;
	}
	if (ctrlr->reg.failed) {
		return -EIO;
	}
	if (ctrlr->reg.outstanding) {
		return 0;
	}
	if (ctrlr->ops->ctrlr_set_reg_4 != NULL) {
		rc = size == 8 ? ctrlr->ops->ctrlr_set_reg_8(ctrlr, offset, value)
			       : ctrlr->ops->ctrlr_set_reg_4(ctrlr, offset, (uint32_t)value);
		return rc == 0 ? 1 : rc;
	}
	ctrlr->reg.outstanding = true;
	rc = nvme_fabric_prop_set(ctrlr, offset, size, value, reg_cb, ctrlr);
	if (rc != 0) {
		ctrlr->reg.outstanding = false;
	}
	return rc;
}

/* ---- admin command steps -------------------------------------------------- */

static void step_cmd_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_nvme_ctrlr *ctrlr = cb_arg;

	ctrlr->step_waiting = false;
	if (axon_nvme_cpl_is_error(cpl)) {
		ctrlr->reg.failed = true;
		ctrlr->reg.value = axon_nvme_cpl_get_status(cpl);
		return;
	}
	ctrlr->step_done = true;
	ctrlr->reg.value = cpl->cdw0;
}

/*
 * Run one admin command as the current step. Returns 1 once it succeeded
 * (*cdw0 set), 0 while it runs, -EIO when it failed, or a submit error.
 */
static int step_admin_cmd(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_cmd *cmd,
			  void *buf, uint32_t len, uint32_t *cdw0)
{
	int rc;

	if (ctrlr->step_done) {
		if (cdw0 != NULL) {
			*cdw0 = (uint32_t)ctrlr->reg.value;
		}
		return 1;
	}
	if (ctrlr->reg.failed) {
		return -EIO;
	}
	if (ctrlr->step_waiting) {
		return 0;
	}
	ctrlr->step_waiting = true;
	rc = nvme_ctrlr_submit_admin(ctrlr, cmd, buf, len, step_cmd_cb, ctrlr);
	if (rc != 0) {
		ctrlr->step_waiting = false;
	}
	return rc;
}

/* ---- the steps --------------------------------------------------------------- */

static int step_connect_adminq(struct axon_nvme_ctrlr *ctrlr)
{
	int rc = nvme_qpair_connect_poll(ctrlr->adminq);

	if (rc == -EAGAIN) {
		return 0;
	}
	if (rc != 0) {
		return ctrlr_fail(ctrlr, rc, "could not connect the admin queue");
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_READ_VS, admin_timeout_us(ctrlr));
	return 0;
}

static int step_read_vs(struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t v;
	int rc = step_reg_read(ctrlr, AXON_NVME_PROP_VS, 4, &v);

	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "VS read failed") : 0;
	}
	ctrlr->vs.raw = (uint32_t)v;
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_READ_CAP, admin_timeout_us(ctrlr));
	return 0;
}

static int step_read_cap(struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t v;
	int rc = step_reg_read(ctrlr, AXON_NVME_PROP_CAP, 8, &v);

	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CAP read failed") : 0;
	}
	ctrlr->cap.raw = v;
	if (!(ctrlr->cap.bits.css & 1u) && !ctrlr->is_discovery) {
		return ctrlr_fail(ctrlr, -ENOTSUP, "CAP.CSS lacks the NVM command set");
	}
	if (ctrlr->cap.bits.mpsmin > 0) {
		return ctrlr_fail(ctrlr, -ENOTSUP, "CAP.MPSMIN above 4 KiB is not supported");
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_CHECK_EN, admin_timeout_us(ctrlr));
	return 0;
}

static int step_check_en(struct axon_nvme_ctrlr *ctrlr)
{
	uint64_t v;
	int rc = step_reg_read(ctrlr, AXON_NVME_PROP_CC, 4, &v);

	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CC read failed") : 0;
	}
	ctrlr->cc.raw = (uint32_t)v;
	if (ctrlr->cc.bits.en) {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_DISABLE, admin_timeout_us(ctrlr));
	} else {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0,
				     ready_timeout_us(ctrlr));
	}
	return 0;
}

static int step_disable(struct axon_nvme_ctrlr *ctrlr)
{
	union axon_nvme_cc cc = ctrlr->cc;
	int rc;

	cc.bits.en = 0;
	rc = step_reg_write(ctrlr, AXON_NVME_PROP_CC, 4, cc.raw);
	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CC write (EN=0) failed") : 0;
	}
	ctrlr->cc = cc;
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0,
			     ready_timeout_us(ctrlr));
	return 0;
}

/*
 * Poll CSTS until RDY == want (re-reading at most every
 * NVME_READY_POLL_INTERVAL_US). Returns 1 when reached, 0 while waiting, or -errno.
 */
static int step_wait_ready(struct axon_nvme_ctrlr *ctrlr, uint32_t want)
{
	union axon_nvme_csts csts;
	uint64_t v, now;
	int rc;

	if (!ctrlr->reg.outstanding && !ctrlr->reg.done) {
		now = nvme_now_us();
		if (now < ctrlr->next_poll_us) {
			return 0;
		}
		ctrlr->next_poll_us = now + NVME_READY_POLL_INTERVAL_US;
	}
	rc = step_reg_read(ctrlr, AXON_NVME_PROP_CSTS, 4, &v);
	if (rc <= 0) {
		return rc;
	}
	csts.raw = (uint32_t)v;
	if (csts.bits.cfs) {
		return -EFAULT;
	}
	return csts.bits.rdy == want ? 1 : 0;
}

static int step_wait_ready_0(struct axon_nvme_ctrlr *ctrlr)
{
	int rc = step_wait_ready(ctrlr, 0);

	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CSTS read failed or CSTS.CFS set") : 0;
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_CONFIGURE_ADMINQ, admin_timeout_us(ctrlr));
	return 0;
}

static int step_configure_adminq(struct axon_nvme_ctrlr *ctrlr)
{
	int rc;

	if (ctrlr->ops->ctrlr_enable_adminq != NULL) {
		rc = ctrlr->ops->ctrlr_enable_adminq(ctrlr, ctrlr->adminq);
		if (rc != 0) {
			return ctrlr_fail(ctrlr, rc, "programming the admin queue failed");
		}
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_ENABLE, admin_timeout_us(ctrlr));
	return 0;
}

static int step_enable(struct axon_nvme_ctrlr *ctrlr)
{
	union axon_nvme_cc cc = {.raw = 0};
	int rc;

	cc.bits.en = 1;
	cc.bits.css = 0;
	cc.bits.mps = NVME_HOST_PAGE_SHIFT - 12;
	cc.bits.ams = 0;
	cc.bits.shn = AXON_NVME_SHN_NONE;
	cc.bits.iosqes = NVME_IOSQES;
	cc.bits.iocqes = NVME_IOCQES;
	rc = step_reg_write(ctrlr, AXON_NVME_PROP_CC, 4, cc.raw);
	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CC write (EN=1) failed") : 0;
	}
	ctrlr->cc = cc;
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1,
			     ready_timeout_us(ctrlr));
	return 0;
}

static int step_wait_ready_1(struct axon_nvme_ctrlr *ctrlr)
{
	int rc = step_wait_ready(ctrlr, 1);

	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "CSTS read failed or CSTS.CFS set") : 0;
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_IDENTIFY, admin_timeout_us(ctrlr));
	return 0;
}

static void ctrlr_apply_identify(struct axon_nvme_ctrlr *ctrlr, const struct nvme_id_ctrl *cdata)
{
	uint32_t max = ctrlr->ops->ctrlr_get_max_xfer_size(ctrlr);

	ctrlr->cdata = *cdata;
	if (cdata->mdts != 0 && cdata->mdts < 20) {
		max = AXON_MIN(max, (uint32_t)1 << (NVME_HOST_PAGE_SHIFT + cdata->mdts));
	}
	ctrlr->max_xfer_size = max;
	if (cdata->cntrltype == NVME_CTRL_CNTRLTYPE_DISCOVERY) {
		ctrlr->is_discovery = true;
	}
}

static int step_identify(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_identify, .cdw10 = NVME_IDENTIFY_CNS_CTRL};
	void *buf;
	int rc;

	buf = ctrlr->ns_data_buf;
	rc = step_admin_cmd(ctrlr, &cmd, buf, NVME_IDENTIFY_DATA_SIZE, NULL);
	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "Identify Controller failed") : 0;
	}
	ctrlr_apply_identify(ctrlr, buf);
	if (ctrlr->is_discovery) {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE,
				     admin_timeout_us(ctrlr));
	} else {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_SET_NUM_QUEUES,
				     admin_timeout_us(ctrlr));
	}
	return 0;
}

static int ctrlr_alloc_qid_map(struct axon_nvme_ctrlr *ctrlr, uint32_t num_io_queues)
{
	if (ctrlr->qid_map != NULL) {
		/* A reset: keep the map (qpairs hold their ids) unless it shrank. */
		if (num_io_queues >= ctrlr->max_qid) {
			return 0;
		}
		return -ERANGE;
	}
	ctrlr->qid_map = calloc(AXON_BITMAP_WORDS(num_io_queues + 1), sizeof(uint64_t));
	if (ctrlr->qid_map == NULL) {
		return -ENOMEM;
	}
	ctrlr->max_qid = num_io_queues;
	axon_bitmap_set(ctrlr->qid_map, 0);
	return 0;
}

static int step_set_num_queues(struct axon_nvme_ctrlr *ctrlr)
{
	uint32_t n = AXON_MAX(ctrlr->opts.num_io_queues, 1u), cdw0 = 0, nsqa, ncqa;
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_set_features,
				    .cdw10 = NVME_FEAT_FID_NUM_QUEUES,
				    .cdw11 = (n - 1) | ((n - 1) << 16)};
	int rc;

	rc = step_admin_cmd(ctrlr, &cmd, NULL, 0, &cdw0);
	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc, "Set Features (Number of Queues) failed") : 0;
	}
	nsqa = (cdw0 & 0xffffu) + 1;
	ncqa = (cdw0 >> 16) + 1;
	ctrlr->num_io_queues = AXON_MIN(n, AXON_MIN(nsqa, ncqa));
	rc = ctrlr_alloc_qid_map(ctrlr, ctrlr->num_io_queues);
	if (rc != 0) {
		return ctrlr_fail(ctrlr, rc, "the controller now grants fewer queues");
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_CONFIGURE_AER, admin_timeout_us(ctrlr));
	return 0;
}

static int step_configure_aer(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_set_features,
				    .cdw10 = NVME_FEAT_FID_ASYNC_EVENT,
				    .cdw11 = NVME_AEN_SMART_MASK |
					     (ctrlr->cdata.oaes & NVME_AEN_NS_ATTR)};
	int rc;

	rc = step_admin_cmd(ctrlr, &cmd, NULL, 0, NULL);
	if (rc <= 0) {
		return rc < 0 ? ctrlr_fail(ctrlr, rc,
					   "Set Features (Asynchronous Event Configuration) failed")
			       : 0;
	}
	rc = nvme_ctrlr_post_aers(ctrlr);
	if (rc != 0) {
		return ctrlr_fail(ctrlr, rc, "could not post Asynchronous Event Requests");
	}
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE, admin_timeout_us(ctrlr));
	return 0;
}

static void ctrlr_keep_alive_armed(struct axon_nvme_ctrlr *ctrlr)
{
	ctrlr->next_keep_alive_us = nvme_now_us() + ctrlr->opts.keep_alive_timeout_ms * 500u;
}

static int step_set_keep_alive(struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_set_features,
				    .cdw10 = NVME_FEAT_FID_KATO,
				    .cdw11 = ctrlr->opts.keep_alive_timeout_ms};
	int rc;

	/* On fabrics KATO travelled in the Connect command already. */
	if (ctrlr->opts.keep_alive_timeout_ms != 0 && !ctrlr->ops->fabrics) {
		if (ctrlr->cdata.kas == 0) {
			ctrlr->opts.keep_alive_timeout_ms = 0;
		} else {
			rc = step_admin_cmd(ctrlr, &cmd, NULL, 0, NULL);
			if (rc <= 0) {
				return rc < 0 ? ctrlr_fail(ctrlr, rc,
							   "Set Features (Keep Alive Timer) failed")
					       : 0;
			}
		}
	}
	if (ctrlr->opts.keep_alive_timeout_ms != 0) {
		ctrlr_keep_alive_armed(ctrlr);
	}
	if (ctrlr->is_discovery) {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_READY, 0);
	} else {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS,
				     admin_timeout_us(ctrlr));
	}
	return 0;
}

/* The namespace scan (ctrlr_cmd.c) runs both steps; each waits for its phase. */
static int step_identify_active_ns(struct axon_nvme_ctrlr *ctrlr)
{
	if (!ctrlr->step_waiting) {
		ctrlr->step_waiting = true;
		nvme_ctrlr_rescan_namespaces(ctrlr);
	}
	if (ctrlr->scan_phase == NVME_SCAN_FAILED) {
		return ctrlr_fail(ctrlr, -EIO, "Identify (active namespace list) failed");
	}
	if (ctrlr->scan_phase >= NVME_SCAN_NAMESPACES) {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_IDENTIFY_NS,
				     admin_timeout_us(ctrlr));
	}
	return 0;
}

static int step_identify_ns(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->scan_phase == NVME_SCAN_FAILED) {
		return ctrlr_fail(ctrlr, -EIO, "Identify Namespace failed");
	}
	if (ctrlr->scan_phase == NVME_SCAN_DONE) {
		nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_READY, 0);
	}
	return 0;
}

/* Run the current step once. Returns 0 or the failure (state is then ERROR). */
static int ctrlr_step(struct axon_nvme_ctrlr *ctrlr)
{
	switch (ctrlr->state) {
	case AXON_NVME_CTRLR_STATE_INIT:
		return ctrlr_fail(ctrlr, -EINVAL, "not started");
	case AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ:
		return step_connect_adminq(ctrlr);
	case AXON_NVME_CTRLR_STATE_READ_VS:
		return step_read_vs(ctrlr);
	case AXON_NVME_CTRLR_STATE_READ_CAP:
		return step_read_cap(ctrlr);
	case AXON_NVME_CTRLR_STATE_CHECK_EN:
		return step_check_en(ctrlr);
	case AXON_NVME_CTRLR_STATE_DISABLE:
		return step_disable(ctrlr);
	case AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0:
		return step_wait_ready_0(ctrlr);
	case AXON_NVME_CTRLR_STATE_CONFIGURE_ADMINQ:
		return step_configure_adminq(ctrlr);
	case AXON_NVME_CTRLR_STATE_ENABLE:
		return step_enable(ctrlr);
	case AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1:
		return step_wait_ready_1(ctrlr);
	case AXON_NVME_CTRLR_STATE_IDENTIFY:
		return step_identify(ctrlr);
	case AXON_NVME_CTRLR_STATE_SET_NUM_QUEUES:
		return step_set_num_queues(ctrlr);
	case AXON_NVME_CTRLR_STATE_CONFIGURE_AER:
		return step_configure_aer(ctrlr);
	case AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE:
		return step_set_keep_alive(ctrlr);
	case AXON_NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS:
		return step_identify_active_ns(ctrlr);
	case AXON_NVME_CTRLR_STATE_IDENTIFY_NS:
		return step_identify_ns(ctrlr);
	case AXON_NVME_CTRLR_STATE_READY:
		return 0;
	case AXON_NVME_CTRLR_STATE_ERROR:
		return ctrlr->init_rc != 0 ? ctrlr->init_rc : -EIO;
	}
	return -EINVAL;
}

/* Create the admin qpair and start connecting it. */
int nvme_ctrlr_start_init(struct axon_nvme_ctrlr *ctrlr)
{
	uint32_t depth = AXON_MAX(ctrlr->opts.admin_queue_size, (uint32_t)NVME_MIN_QUEUE_SIZE);
	int rc;

	ctrlr->init_rc = 0;
	nvme_ctrlr_set_state(ctrlr, AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ, admin_timeout_us(ctrlr));
	if (ctrlr->adminq == NULL) {
		ctrlr->adminq = ctrlr->ops->qpair_create(ctrlr, 0, depth);
		if (ctrlr->adminq == NULL) {
			return ctrlr_fail(ctrlr, -ENOMEM, "transport could not create the admin qpair");
		}
		rc = nvme_qpair_init(ctrlr->adminq, ctrlr, 0, depth, depth);
		if (rc != 0) {
			ctrlr->ops->qpair_destroy(ctrlr->adminq);
			ctrlr->adminq = NULL;
			return ctrlr_fail(ctrlr, rc, "no memory for the admin qpair");
		}
	}
	rc = nvme_qpair_connect_start(ctrlr->adminq);
	if (rc != 0) {
		return ctrlr_fail(ctrlr, rc, "could not start connecting the admin queue");
	}
	return 0;
}

/*
 * Advance the init state machine as far as it goes without waiting.
 * Returns 0 (ready), -EAGAIN (waiting) or the failure.
 */
int nvme_ctrlr_init_poll(struct axon_nvme_ctrlr *ctrlr)
{
	enum axon_nvme_ctrlr_state prev;
	int rc;

	if (ctrlr->state != AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ &&
	    ctrlr->state != AXON_NVME_CTRLR_STATE_ERROR &&
	    ctrlr->adminq->state == AXON_NVME_QPAIR_ENABLED) {
		nvme_qpair_poll_transport(ctrlr->adminq, 0);
		nvme_qpair_after_poll(ctrlr->adminq);
	}
	do {
		prev = ctrlr->state;
		if (ctrlr->state != AXON_NVME_CTRLR_STATE_READY &&
		    ctrlr->state != AXON_NVME_CTRLR_STATE_ERROR &&
		    nvme_now_us() >= ctrlr->state_deadline_us) {
			return ctrlr_fail(ctrlr, -ETIMEDOUT, "timed out");
		}
		if (ctrlr->state != AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ &&
		    ctrlr->state != AXON_NVME_CTRLR_STATE_ERROR &&
		    ctrlr->adminq->state != AXON_NVME_QPAIR_ENABLED) {
			return ctrlr_fail(ctrlr, -ECONNRESET, "the admin queue lost its connection");
		}
		rc = ctrlr_step(ctrlr);
		if (rc != 0) {
			return rc;
		}
	} while (ctrlr->state != prev);
	return ctrlr->state == AXON_NVME_CTRLR_STATE_READY ? 0 : -EAGAIN;
}

/* ---- construction --------------------------------------------------------------- */

static int ctrlr_check_opts(struct axon_nvme_ctrlr_opts *opts)
{
	if (opts->io_queue_size < NVME_MIN_QUEUE_SIZE || opts->io_queue_size > NVME_MAX_QUEUE_SIZE ||
	    opts->admin_queue_size < NVME_MIN_QUEUE_SIZE ||
	    opts->admin_queue_size > NVME_MAX_QUEUE_SIZE || opts->admin_timeout_ms == 0) {
		return -EINVAL;
	}
	return 0;
}

/* The trid's host NQN / ID override the options'. */
static int ctrlr_apply_trid_host(struct axon_nvme_ctrlr_opts *opts,
				 const struct axon_nvme_trid *trid)
{
	struct axon_uuid uuid;

	if (trid->hostnqn[0] != '\0') {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", trid->hostnqn);
	}
	if (trid->hostid[0] != '\0') {
		if (axon_uuid_parse(&uuid, trid->hostid) != 0) {
			return -EINVAL;
		}
		memcpy(opts->hostid, uuid.u, sizeof(opts->hostid));
	}
	return 0;
}

struct axon_nvme_ctrlr *axon_nvme_ctrlr_connect_async(const struct axon_nvme_trid *trid,
						      const struct axon_nvme_ctrlr_opts *opts)
{
	const struct axon_nvme_transport_ops *ops;
	struct axon_nvme_ctrlr *ctrlr;

	if (trid == NULL) {
		AXON_ERRLOG("no transport ID\n");
		return NULL;
	}
	ops = axon_nvme_transport_get(trid->trstring[0] != '\0' ? trid->trstring
							       : axon_nvme_trtype_str(trid->trtype));
	if (ops == NULL) {
		AXON_ERRLOG("no NVMe transport '%s' is built in\n", trid->trstring);
		return NULL;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		AXON_ERRLOG("no memory for a controller\n");
		return NULL;
	}
	ctrlr->trid = *trid;
	ctrlr->ops = ops;
	TAILQ_INIT(&ctrlr->active_ns);
	TAILQ_INIT(&ctrlr->io_qpairs);
	pthread_mutex_init(&ctrlr->qpair_lock, NULL);
	if (opts != NULL) {
		ctrlr->opts = *opts;
	} else {
		axon_nvme_ctrlr_opts_init(&ctrlr->opts);
	}
	ctrlr->opts.opts_size = sizeof(ctrlr->opts);
	if (ctrlr_check_opts(&ctrlr->opts) != 0 || ctrlr_apply_trid_host(&ctrlr->opts, trid) != 0) {
		AXON_ERRLOG("%s: bad controller options\n", trid->traddr);
		goto err_free;
	}
	if (ops->fabrics && trid->subnqn[0] == '\0') {
		snprintf(ctrlr->trid.subnqn, sizeof(ctrlr->trid.subnqn), "%s",
			 AXON_NVME_DISCOVERY_NQN);
	}
	ctrlr->is_discovery = strcmp(ctrlr->trid.subnqn, AXON_NVME_DISCOVERY_NQN) == 0;
	if (ctrlr->is_discovery) {
		ctrlr->opts.keep_alive_timeout_ms = 0; /* no keep alive for a one-shot read */
	}
	if (nvme_fill_host_identity(&ctrlr->opts) != 0) {
		AXON_ERRLOG("%s: no host NQN\n", trid->traddr);
		goto err_free;
	}
	ctrlr->ns_data_buf = nvme_alloc_data(ctrlr, NVME_IDENTIFY_DATA_SIZE);
	if (ctrlr->ns_data_buf == NULL) {
		AXON_ERRLOG("no memory for identify data\n");
		goto err_free;
	}
	if (ops->ctrlr_construct(ctrlr, &ctrlr->tctx) != 0) {
		AXON_ERRLOG("%s: transport %s could not set up the controller\n", trid->traddr,
			    ops->name);
		goto err_buf;
	}
	nvme_ctrlr_start_init(ctrlr);
	return ctrlr;

err_buf:
	nvme_free_data(ctrlr, ctrlr->ns_data_buf);
err_free:
	pthread_mutex_destroy(&ctrlr->qpair_lock);
	free(ctrlr);
	return NULL;
}

int axon_nvme_ctrlr_connect_poll(struct axon_nvme_ctrlr *ctrlr)
{
	return nvme_ctrlr_init_poll(ctrlr);
}

struct axon_nvme_ctrlr *axon_nvme_ctrlr_connect(const struct axon_nvme_trid *trid,
						const struct axon_nvme_ctrlr_opts *opts)
{
	struct axon_nvme_ctrlr *ctrlr = axon_nvme_ctrlr_connect_async(trid, opts);
	int rc;

	if (ctrlr == NULL) {
		return NULL;
	}
	do {
		rc = axon_nvme_ctrlr_connect_poll(ctrlr);
	} while (rc == -EAGAIN);
	if (rc != 0) {
		axon_nvme_ctrlr_detach(ctrlr);
		return NULL;
	}
	return ctrlr;
}

int axon_nvme_ctrlr_detach(struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr == NULL) {
		return -EINVAL;
	}
	if (!TAILQ_EMPTY(&ctrlr->io_qpairs)) {
		return -EBUSY;
	}
	ctrlr->detaching = true;
	if (ctrlr->adminq != NULL) {
		ctrlr->ops->qpair_disconnect(ctrlr->adminq);
		nvme_qpair_abort_all(ctrlr->adminq,
				     AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
		nvme_qpair_fini(ctrlr->adminq);
		ctrlr->ops->qpair_destroy(ctrlr->adminq);
	}
	ctrlr->ops->ctrlr_destruct(ctrlr, ctrlr->tctx);
	nvme_ctrlr_free_namespaces(ctrlr);
	free(ctrlr->ns_list);
	free(ctrlr->qid_map);
	nvme_free_data(ctrlr, ctrlr->ns_data_buf);
	pthread_mutex_destroy(&ctrlr->qpair_lock);
	free(ctrlr);
	return 0;
}

int32_t axon_nvme_ctrlr_process_admin_completions(struct axon_nvme_ctrlr *ctrlr)
{
	int32_t rc;

	if (ctrlr->failed) {
		return -ENXIO;
	}
	if (ctrlr->reset_state != NVME_RESET_NONE) {
		nvme_ctrlr_reset_poll(ctrlr);
		return ctrlr->failed ? -ENXIO : 0;
	}
	if (ctrlr->state != AXON_NVME_CTRLR_STATE_READY) {
		rc = nvme_ctrlr_init_poll(ctrlr);
		return rc == -EAGAIN ? 0 : rc;
	}
	rc = axon_nvme_qpair_process_completions(ctrlr->adminq, 0);
	if (rc == -ENXIO) {
		nvme_ctrlr_connection_lost(ctrlr);
		return ctrlr->failed ? -ENXIO : 0;
	}
	nvme_ctrlr_keep_alive_poll(ctrlr);
	return rc;
}

/* ---- getters ------------------------------------------------------------------- */

enum axon_nvme_ctrlr_state axon_nvme_ctrlr_get_state(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->state;
}

enum axon_nvme_ctrlr_state axon_nvme_ctrlr_get_failed_step(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->failed_step;
}

const struct nvme_id_ctrl *axon_nvme_ctrlr_get_data(const struct axon_nvme_ctrlr *ctrlr)
{
	return &ctrlr->cdata;
}

const struct axon_nvme_trid *axon_nvme_ctrlr_get_trid(const struct axon_nvme_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

const struct axon_nvme_ctrlr_opts *axon_nvme_ctrlr_get_opts(const struct axon_nvme_ctrlr *ctrlr)
{
	return &ctrlr->opts;
}

union axon_nvme_cap axon_nvme_ctrlr_get_cap(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->cap;
}

union axon_nvme_vs axon_nvme_ctrlr_get_vs(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

uint16_t axon_nvme_ctrlr_get_cntlid(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->ops->fabrics ? ctrlr->cntlid : ctrlr->cdata.cntlid;
}

uint32_t axon_nvme_ctrlr_get_max_xfer_size(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

uint32_t axon_nvme_ctrlr_get_num_io_queues(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

bool axon_nvme_ctrlr_is_resetting(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->reset_state != NVME_RESET_NONE;
}

bool axon_nvme_ctrlr_is_failed(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->failed;
}

bool axon_nvme_ctrlr_is_discovery(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->is_discovery;
}

void *axon_nvme_ctrlr_get_transport_ctx(const struct axon_nvme_ctrlr *ctrlr)
{
	return ctrlr->tctx;
}

uint32_t axon_nvme_ctrlr_get_ioccsz_bytes(const struct axon_nvme_ctrlr *ctrlr)
{
	if (ctrlr->cdata.ioccsz < 4) {
		return 0;
	}
	return ctrlr->cdata.ioccsz * 16u - 64u;
}

void axon_nvme_ctrlr_register_aer_callback(struct axon_nvme_ctrlr *ctrlr, axon_nvme_aer_cb cb,
					   void *cb_arg)
{
	ctrlr->aer_cb = cb;
	ctrlr->aer_cb_arg = cb_arg;
}

void axon_nvme_ctrlr_register_timeout_callback(struct axon_nvme_ctrlr *ctrlr,
					       axon_nvme_timeout_cb cb, void *cb_arg)
{
	ctrlr->timeout_cb = cb;
	ctrlr->timeout_cb_arg = cb_arg;
}
