/*
 * The admin queue of a PCIe controller, shared by its owner thread (lib/nvme's
 * admin commands) and by I/O threads creating or deleting their queues.
 *
 * Everything touching the admin rings holds pctrlr->admin_lock, briefly and
 * never across a callback. Completions of lib/nvme's commands are only ever
 * delivered by the admin thread: whoever reaps the CQ puts them in the
 * stash, and the admin poll empties it. Internal commands (command ids from
 * PCIE_INTERNAL_CID_BASE) complete into pctrlr->icmds[], where their issuer
 * finds them on its own poll.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "pcie_internal.h"

static void admin_lock(struct pcie_ctrlr *pctrlr)
{
	pthread_spin_lock(&pctrlr->admin_lock);
}

static void admin_unlock(struct pcie_ctrlr *pctrlr)
{
	pthread_spin_unlock(&pctrlr->admin_lock);
}

static bool ctrlr_removed(const struct pcie_ctrlr *pctrlr)
{
	return __atomic_load_n(&pctrlr->removed, __ATOMIC_ACQUIRE);
}

/* An internal command finished. Returns false for an unknown id. admin_lock held. */
static bool internal_done(struct pcie_ctrlr *pctrlr, const struct axon_nvme_cpl *cpl)
{
	uint32_t slot = cpl->cid - PCIE_INTERNAL_CID_BASE;
	struct pcie_internal_cmd *icmd;

	if (slot >= PCIE_MAX_INTERNAL_CMDS || !pctrlr->icmds[slot].in_use ||
	    pctrlr->icmds[slot].done) {
		AXON_ERRLOG("%s: admin completion for unknown internal id %u ignored\n",
			    pctrlr->bdf, cpl->cid);
		return false;
	}
	icmd = &pctrlr->icmds[slot];
	if (icmd->orphan) {
		memset(icmd, 0, sizeof(*icmd));
		return true;
	}
	icmd->done = true;
	icmd->status = axon_nvme_cpl_get_status(cpl);
	icmd->cdw0 = cpl->cdw0;
	return true;
}

void pcie_admin_fail_internal(struct pcie_ctrlr *pctrlr)
{
	uint32_t i;

	for (i = 0; i < PCIE_MAX_INTERNAL_CMDS; i++) {
		struct pcie_internal_cmd *icmd = &pctrlr->icmds[i];

		if (icmd->orphan) {
			memset(icmd, 0, sizeof(*icmd));
		} else if (icmd->in_use && !icmd->done) {
			icmd->done = true;
			icmd->status = PCIE_SC_ABORTED_SQ_DELETION;
		}
	}
}

/* Take what the device posted: internal results into their slots, the rest to the stash. */
static uint32_t admin_reap_locked(struct pcie_qpair *adminq)
{
	struct axon_nvme_cpl cpl;
	uint32_t n = 0;

	while (adminq->stash_count < adminq->depth && pcie_ring_pop(adminq, &cpl)) {
		n++;
		if (cpl.cid >= PCIE_INTERNAL_CID_BASE) {
			adminq->num_active -= internal_done(adminq->pctrlr, &cpl) ? 1u : 0u;
		} else if (cpl.cid < adminq->depth) {
			/* Checked against its tracker when the admin thread delivers it. */
			adminq->num_active--;
			adminq->stash[adminq->stash_count++] = cpl;
		} else {
			AXON_ERRLOG("%s: admin completion for unknown command id %u ignored\n",
				    adminq->pctrlr->bdf, cpl.cid);
		}
	}
	if (n > 0) {
		pcie_ring_cq_doorbell(adminq);
	}
	return n;
}

/* Move up to max stashed completions to scratch. admin_lock held. */
static uint32_t admin_take_stash(struct pcie_qpair *adminq, uint32_t max)
{
	uint32_t n = AXON_MIN(adminq->stash_count, max);

	memcpy(adminq->scratch, adminq->stash, n * sizeof(*adminq->stash));
	adminq->stash_count -= n;
	memmove(adminq->stash, adminq->stash + n, adminq->stash_count * sizeof(*adminq->stash));
	return n;
}

int32_t pcie_admin_process_completions(struct pcie_qpair *adminq, uint32_t max)
{
	struct pcie_ctrlr *pctrlr = adminq->pctrlr;
	bool failed = false;
	uint32_t reaped, n, i;

	admin_lock(pctrlr);
	if (!pctrlr->admin_live) {
		/* Not programmed yet (init is disabling or enabling the controller). */
		admin_unlock(pctrlr);
		return 0;
	}
	reaped = admin_reap_locked(adminq);
	n = admin_take_stash(adminq, max);
	pcie_ring_flush(adminq);
	if (reaped > 0) {
		adminq->idle_polls = 0;
	} else if (adminq->num_active > 0 && ++adminq->idle_polls >= adminq->health_interval) {
		adminq->idle_polls = 0;
		failed = pcie_qpair_check_health(adminq);
	}
	admin_unlock(pctrlr);

	for (i = 0; i < n; i++) {
		pcie_qpair_complete_cpl(adminq, &adminq->scratch[i]);
	}
	if (failed || ctrlr_removed(pctrlr)) {
		adminq->qpair.state = AXON_NVME_QPAIR_FAILED;
		adminq->qpair.failure_reason = -ENXIO;
		return -ENXIO;
	}
	return (int32_t)n;
}

int pcie_admin_submit(struct pcie_qpair *adminq, struct axon_nvme_request *req)
{
	struct pcie_ctrlr *pctrlr = adminq->pctrlr;
	int rc;

	admin_lock(pctrlr);
	rc = pctrlr->admin_live ? pcie_ring_submit_req(adminq, req) : -ENXIO;
	admin_unlock(pctrlr);
	return rc;
}

void pcie_admin_disconnect(struct pcie_qpair *adminq)
{
	struct pcie_ctrlr *pctrlr = adminq->pctrlr;
	uint32_t n, i;

	admin_lock(pctrlr);
	pctrlr->admin_live = false;
	/* A reset follows (or a detach): every I/O queue of this association dies. */
	pcie_bump_generation(pctrlr);
	pcie_admin_fail_internal(pctrlr);
	n = admin_take_stash(adminq, adminq->depth);
	adminq->num_active = 0;
	adminq->sq_dirty = false;
	admin_unlock(pctrlr);

	/* Completions already reaped carry their real status. */
	for (i = 0; i < n; i++) {
		pcie_qpair_complete_cpl(adminq, &adminq->scratch[i]);
	}
	pcie_qpair_abort_trackers(adminq, PCIE_SC_ABORTED_SQ_DELETION);
}

/* ---- internal commands -------------------------------------------------------------- */

/*
 * Send cmd as an internal command, doorbell rung at once. Returns its slot,
 * -EAGAIN (admin queue or slots full: try again), or -ENXIO (no admin queue).
 */
static int internal_submit(struct pcie_ctrlr *pctrlr, const struct axon_nvme_cmd *cmd)
{
	struct pcie_qpair *adminq;
	struct axon_nvme_cmd sqe = *cmd;
	int rc = -EAGAIN;
	uint32_t slot;

	admin_lock(pctrlr);
	adminq = pctrlr->adminq;
	if (!pctrlr->admin_live || adminq == NULL || ctrlr_removed(pctrlr)) {
		rc = -ENXIO;
	} else if (adminq->num_active < adminq->depth - 1) {
		for (slot = 0; slot < PCIE_MAX_INTERNAL_CMDS; slot++) {
			if (!pctrlr->icmds[slot].in_use) {
				break;
			}
		}
		if (slot < PCIE_MAX_INTERNAL_CMDS) {
			memset(&pctrlr->icmds[slot], 0, sizeof(pctrlr->icmds[slot]));
			pctrlr->icmds[slot].in_use = true;
			sqe.cid = (uint16_t)(PCIE_INTERNAL_CID_BASE + slot);
			sqe.psdt = AXON_NVME_PSDT_PRP;
			pcie_ring_push(adminq, &sqe);
			adminq->num_active++;
			pcie_ring_flush(adminq);
			rc = (int)slot;
		}
	}
	admin_unlock(pctrlr);
	return rc;
}

/* Reap the admin CQ and look at slot. Returns 1 (done: *status, slot freed) or 0. */
static int internal_poll(struct pcie_ctrlr *pctrlr, int slot, uint16_t *status)
{
	struct pcie_internal_cmd *icmd = &pctrlr->icmds[slot];
	int rc = 0;

	admin_lock(pctrlr);
	if (pctrlr->admin_live && pctrlr->adminq != NULL) {
		admin_reap_locked(pctrlr->adminq);
	}
	if (icmd->done) {
		*status = icmd->status;
		memset(icmd, 0, sizeof(*icmd));
		rc = 1;
	}
	admin_unlock(pctrlr);
	return rc;
}

/* Give up on slot: its completion, if it ever comes, frees it. */
static void internal_orphan(struct pcie_ctrlr *pctrlr, int slot)
{
	admin_lock(pctrlr);
	if (pctrlr->icmds[slot].done) {
		memset(&pctrlr->icmds[slot], 0, sizeof(pctrlr->icmds[slot]));
	} else {
		pctrlr->icmds[slot].orphan = true;
	}
	admin_unlock(pctrlr);
}

static uint64_t admin_timeout_us(const struct pcie_ctrlr *pctrlr)
{
	return (uint64_t)axon_nvme_ctrlr_get_opts(pctrlr->ctrlr)->admin_timeout_ms * 1000u;
}

/* Wait for slot until deadline. Returns 0 (*status set) or -ETIMEDOUT (slot orphaned). */
static int internal_wait(struct pcie_ctrlr *pctrlr, int slot, uint64_t deadline,
			 uint16_t *status)
{
	while (internal_poll(pctrlr, slot, status) == 0) {
		if (pcie_now_us() >= deadline || ctrlr_removed(pctrlr)) {
			internal_orphan(pctrlr, slot);
			return -ETIMEDOUT;
		}
		sched_yield();
	}
	return 0;
}

/* Run cmd to completion. Returns 0, -EIO (error status), -ETIMEDOUT or -ENXIO. */
static int internal_sync(struct pcie_ctrlr *pctrlr, const struct axon_nvme_cmd *cmd,
			 uint64_t deadline)
{
	uint16_t status;
	int slot, rc;

	while ((slot = internal_submit(pctrlr, cmd)) == -EAGAIN) {
		if (pcie_now_us() >= deadline) {
			return -ETIMEDOUT;
		}
		sched_yield();
	}
	if (slot < 0) {
		return slot;
	}
	rc = internal_wait(pctrlr, slot, deadline, &status);
	if (rc != 0) {
		return rc;
	}
	if ((status & 0x7ffu) != 0) {
		AXON_ERRLOG("%s: admin opcode 0x%x for queue %u failed: status 0x%x\n",
			    pctrlr->bdf, cmd->opc, cmd->cdw10 & 0xffffu, status);
		return -EIO;
	}
	return 0;
}

/* ---- I/O queue creation and deletion ----------------------------------------------- */

static void build_create_cmd(const struct pcie_qpair *pq, struct axon_nvme_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->cdw10 = ((pq->depth - 1) << 16) | pq->qid;
	if (pq->io_phase == PCIE_IO_CREATE_CQ) {
		/* Physically contiguous, interrupts off: we poll. */
		cmd->opc = nvme_admin_create_cq;
		cmd->dptr.prp.prp1 = pq->cq_iova;
		cmd->cdw11 = 1u;
	} else {
		cmd->opc = nvme_admin_create_sq;
		cmd->dptr.prp.prp1 = pq->sq_iova;
		cmd->cdw11 = ((uint32_t)pq->qid << 16) | 1u;
	}
}

int pcie_io_connect_poll(struct pcie_qpair *pq)
{
	struct pcie_ctrlr *pctrlr = pq->pctrlr;
	struct axon_nvme_cmd cmd;
	uint16_t status;
	int rc;

	if (pq->generation != pcie_generation(pctrlr) || ctrlr_removed(pctrlr)) {
		return -ENXIO;
	}
	if (pq->icmd < 0) {
		build_create_cmd(pq, &cmd);
		rc = internal_submit(pctrlr, &cmd);
		if (rc == -EAGAIN) {
			return 0;
		}
		if (rc < 0) {
			return rc;
		}
		pq->icmd = rc;
		return 0;
	}
	if (internal_poll(pctrlr, pq->icmd, &status) == 0) {
		return 0;
	}
	pq->icmd = -1;
	if ((status & 0x7ffu) != 0) {
		AXON_ERRLOG("%s: Create I/O %s %u (%u entries) failed: status 0x%x\n", pctrlr->bdf,
			    pq->io_phase == PCIE_IO_CREATE_CQ ? "CQ" : "SQ", pq->qid, pq->depth,
			    status);
		return -EIO;
	}
	if (pq->io_phase == PCIE_IO_CREATE_CQ) {
		pq->cq_created = true;
		pq->io_phase = PCIE_IO_CREATE_SQ;
	} else {
		pq->sq_created = true;
		pq->io_phase = PCIE_IO_LIVE;
		pq->qpair.state = AXON_NVME_QPAIR_TRANSPORT_READY;
		AXON_DEBUGLOG(nvme_pcie, "%s: I/O queue %u created (%u entries, %s)\n",
			      pctrlr->bdf, pq->qid, pq->depth, pq->sgl ? "PRP/SGL" : "PRP");
	}
	return 0;
}

static int delete_queue(struct pcie_qpair *pq, uint8_t opc, uint64_t deadline)
{
	struct axon_nvme_cmd cmd = {.opc = opc, .cdw10 = pq->qid};

	return internal_sync(pq->pctrlr, &cmd, deadline);
}

void pcie_io_delete_queues(struct pcie_qpair *pq)
{
	struct pcie_ctrlr *pctrlr = pq->pctrlr;
	uint64_t deadline = pcie_now_us() + admin_timeout_us(pctrlr);
	uint16_t status;

	/* A create still in flight may yet succeed: learn its outcome first. */
	if (pq->icmd >= 0) {
		if (internal_wait(pctrlr, pq->icmd, deadline, &status) != 0) {
			pq->icmd = -1;
			AXON_ERRLOG("%s: queue %u: creation never completed\n", pctrlr->bdf, pq->qid);
			return;
		}
		pq->icmd = -1;
		if ((status & 0x7ffu) == 0) {
			*(pq->io_phase == PCIE_IO_CREATE_CQ ? &pq->cq_created : &pq->sq_created) = true;
		}
	}
	if (pq->generation != pcie_generation(pctrlr) || ctrlr_removed(pctrlr)) {
		/* The controller was reset or is gone: the queues went with it. */
		pq->sq_created = false;
		pq->cq_created = false;
	}
	if (pq->sq_created && delete_queue(pq, nvme_admin_delete_sq, deadline) == 0) {
		pq->sq_created = false;
	}
	if (!pq->sq_created && pq->cq_created &&
	    delete_queue(pq, nvme_admin_delete_cq, deadline) == 0) {
		pq->cq_created = false;
	}
	if (pq->sq_created || pq->cq_created) {
		AXON_ERRLOG("%s: queue %u could not be deleted\n", pctrlr->bdf, pq->qid);
		return;
	}
	pq->io_phase = PCIE_IO_IDLE;
	AXON_DEBUGLOG(nvme_pcie, "%s: I/O queue %u deleted\n", pctrlr->bdf, pq->qid);
}
