/*
 * NVM I/O commands onto the bdev layer: Read, Write, Flush, Write Zeroes,
 * Dataset Management (deallocate -> unmap), Compare, and fused Compare and
 * Write. Runs on the queue pair's poll group thread.
 *
 * Status: checks here answer with the spec's codes (Invalid Namespace, LBA
 * Out of Range, Data SGL Length Invalid, Invalid Opcode, fused errors); a bdev
 * I/O that failed answers with axon_bdev_io_get_nvme_status(), which carries a
 * backend's own NVMe status unchanged.
 */
#include <errno.h>
#include <string.h>

#include "nvmf_internal.h"

/* DSM ranges per command (NR is 0's based, 8 bits). */
#define NVMF_DSM_MAX_RANGES 256

static void io_submit(struct axon_nvmf_request *req);

static void io_complete(struct axon_nvmf_request *req, uint16_t status)
{
	nvmf_request_set_status(req, status);
	nvmf_request_complete(req);
}

uint16_t nvmf_bdev_io_status(struct axon_bdev_io *bdev_io, uint32_t *cdw0)
{
	int sct = 0, sc = 0;

	axon_bdev_io_get_nvme_status(bdev_io, cdw0, &sct, &sc);
	return AXON_NVME_STATUS(sct, sc);
}

static void io_done(struct axon_bdev_io *bdev_io, bool success, void *arg)
{
	struct axon_nvmf_request *req = arg;
	uint32_t cdw0 = 0;
	uint16_t status = success ? 0 : nvmf_bdev_io_status(bdev_io, &cdw0);

	axon_bdev_free_io(bdev_io);
	req->rsp->nvme.cdw0 = cdw0;
	io_complete(req, status);
}

static void io_retry(void *arg)
{
	struct axon_nvmf_request *req = arg;

	req->qpair->group->stat.pending_bdev_io--;
	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_EXECUTING);
	io_submit(req);
}

/* Handle a submit function's return. */
static void io_submitted(struct axon_nvmf_request *req, struct axon_nvmf_ns *ns,
			 struct axon_io_channel *ch, int rc)
{
	switch (rc) {
	case 0:
		return;
	case -ENOMEM:
		req->bdev_wait.bdev = ns->bdev;
		req->bdev_wait.cb_fn = io_retry;
		req->bdev_wait.cb_arg = req;
		if (axon_bdev_queue_io_wait(ns->bdev, ch, &req->bdev_wait) == 0) {
			nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_BDEV_WAIT);
			req->qpair->group->stat.pending_bdev_io++;
			return;
		}
		/* A bdev_io came free meanwhile: try again now. */
		io_submit(req);
		return;
	case -ENOTSUP:
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) |
				 AXON_NVME_STATUS_DNR);
		return;
	case -EBADF:
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED) |
				 AXON_NVME_STATUS_DNR);
		return;
	case -EINVAL:
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) |
				 AXON_NVME_STATUS_DNR);
		return;
	default:
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INTERNAL));
		return;
	}
}

/* The namespace and this group's channel for the command's nsid, or NULL. */
static struct axon_nvmf_ns *io_ns(struct axon_nvmf_request *req, struct axon_io_channel **ch)
{
	struct axon_nvmf_subsystem *s = req->qpair->ctrlr->subsys;
	struct nvmf_subsystem_pg *sgroup = &req->qpair->group->sgroups[s->id];
	uint32_t nsid = req->cmd->nvme.nsid;
	struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_ns(s, nsid);

	if (ns == NULL || nsid > sgroup->num_ns || sgroup->ns[nsid - 1].ch == NULL) {
		return NULL;
	}
	*ch = sgroup->ns[nsid - 1].ch;
	return ns;
}

static uint64_t cmd_slba(const struct axon_nvme_cmd *cmd)
{
	return ((uint64_t)cmd->cdw11 << 32) | cmd->cdw10;
}

static uint32_t cmd_nlb(const struct axon_nvme_cmd *cmd)
{
	return (cmd->cdw12 & 0xffffu) + 1;
}

/* Checks the range against the namespace and, if data, the data length. */
static uint16_t io_check_range(struct axon_nvmf_request *req, struct axon_nvmf_ns *ns, bool data)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint64_t slba = cmd_slba(cmd);
	uint64_t nlb = cmd_nlb(cmd);
	uint64_t blocks = axon_bdev_get_num_blocks(ns->bdev);

	if (slba >= blocks || nlb > blocks - slba) {
		return AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | AXON_NVME_STATUS_DNR;
	}
	if (data && nlb * axon_bdev_get_block_size(ns->bdev) > req->length) {
		return AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) | AXON_NVME_STATUS_DNR;
	}
	return 0;
}

static void ext_opts(struct axon_nvmf_request *req, struct axon_bdev_ext_io_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->memory_domain = req->memory_domain;
	o->memory_domain_ctx = req->memory_domain_ctx;
}

/* ---- Dataset Management ------------------------------------------------------------- */

/* Ranges are deallocated one after another; sub_outstanding is the index of
 * the range in flight and sub_status the first failure. */
static void dsm_next(struct axon_nvmf_request *req);

static void dsm_done(struct axon_bdev_io *bdev_io, bool success, void *arg)
{
	struct axon_nvmf_request *req = arg;

	if (!success && req->sub_status == 0) {
		req->sub_status = nvmf_bdev_io_status(bdev_io, NULL);
	}
	axon_bdev_free_io(bdev_io);
	req->sub_outstanding++;
	dsm_next(req);
}

static void dsm_next(struct axon_nvmf_request *req)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint32_t nr = (cmd->cdw10 & 0xff) + 1;
	struct axon_io_channel *ch;
	struct axon_nvmf_ns *ns = io_ns(req, &ch);
	struct nvme_dsm_range range;
	uint64_t blocks;
	int rc;

	if (ns == NULL) {
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) |
				 AXON_NVME_STATUS_DNR);
		return;
	}
	blocks = axon_bdev_get_num_blocks(ns->bdev);
	while (req->sub_outstanding < nr && req->sub_status == 0) {
		nvmf_request_copy_from_iov(req, &range, sizeof(range),
					   (size_t)req->sub_outstanding * sizeof(range));
		if (range.nlb == 0) {
			req->sub_outstanding++;
			continue;
		}
		if (range.slba >= blocks || range.nlb > blocks - range.slba) {
			req->sub_status = AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) |
					  AXON_NVME_STATUS_DNR;
			break;
		}
		rc = axon_bdev_unmap_blocks(ns->desc, ch, range.slba, range.nlb, dsm_done, req);
		if (rc == -ENOTSUP) {
			/* Deallocation is advisory: a bdev that cannot unmap keeps its data. */
			break;
		}
		io_submitted(req, ns, ch, rc);
		return;
	}
	io_complete(req, req->sub_status);
}

static void io_dsm(struct axon_nvmf_request *req, struct axon_nvmf_ns *ns)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	uint32_t nr = (cmd->cdw10 & 0xff) + 1;

	(void)ns;
	if (!(cmd->cdw11 & NVME_DSMGMT_AD)) {
		io_complete(req, 0); /* only hints: nothing to do */
		return;
	}
	if (req->length < nr * sizeof(struct nvme_dsm_range)) {
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA) |
				 AXON_NVME_STATUS_DNR);
		return;
	}
	dsm_next(req);
}

/* ---- fused Compare and Write -------------------------------------------------------- */

static void fused_done(struct axon_bdev_io *bdev_io, bool success, void *arg)
{
	struct axon_nvmf_request *write = arg;
	struct axon_nvmf_request *compare = write->fused_partner;
	uint16_t status = success ? 0 : nvmf_bdev_io_status(bdev_io, NULL);

	axon_bdev_free_io(bdev_io);
	write->fused_partner = NULL;
	compare->fused_partner = NULL;
	if (status == 0) {
		io_complete(compare, 0);
		io_complete(write, 0);
		return;
	}
	/* The compare carries the failure (Compare Failure or the error); the
	 * write was not executed because its partner failed. */
	io_complete(compare, status);
	io_complete(write, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_FUSED_FAIL));
}

void nvmf_io_fused_abort(struct axon_nvmf_qpair *qpair)
{
	struct axon_nvmf_request *first = qpair->first_fused;

	if (first != NULL) {
		qpair->first_fused = NULL;
		io_complete(first, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORT_QUEUE));
	}
}

static void fused_missing(struct axon_nvmf_request *req)
{
	io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_FUSED_MISSING) |
			 AXON_NVME_STATUS_DNR);
}

/* Returns true if it took care of req (fused handling), false to go on. */
static bool io_fused(struct axon_nvmf_request *req)
{
	struct axon_nvmf_qpair *qpair = req->qpair;
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	struct axon_nvmf_request *first = qpair->first_fused;

	if (cmd->fuse == AXON_NVME_FUSE_FIRST) {
		if (first != NULL) {
			qpair->first_fused = NULL;
			fused_missing(first);
		}
		if (cmd->opc != nvme_cmd_compare) {
			io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) |
					 AXON_NVME_STATUS_DNR);
			return true;
		}
		/* Waiting for the second half does not hold a pause of the subsystem. */
		nvmf_request_uncount(req);
		nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_FUSED_WAIT);
		qpair->first_fused = req;
		return true;
	}
	if (cmd->fuse == AXON_NVME_FUSE_SECOND) {
		const struct axon_nvme_cmd *fc = first ? &first->cmd->nvme : NULL;

		qpair->first_fused = NULL;
		if (fc == NULL || cmd->opc != nvme_cmd_write || fc->nsid != cmd->nsid ||
		    cmd_slba(fc) != cmd_slba(cmd) || cmd_nlb(fc) != cmd_nlb(cmd)) {
			if (first != NULL) {
				fused_missing(first);
			}
			fused_missing(req);
			return true;
		}
		nvmf_request_set_state(first, AXON_NVMF_REQ_STATE_EXECUTING);
		first->fused_partner = req;
		req->fused_partner = first;
		return false;
	}
	if (first != NULL) {
		/* The second half never came. */
		qpair->first_fused = NULL;
		fused_missing(first);
	}
	return false;
}

/* ---- submission ----------------------------------------------------------------------- */

static void io_submit(struct axon_nvmf_request *req)
{
	const struct axon_nvme_cmd *cmd = &req->cmd->nvme;
	struct axon_bdev_ext_io_opts opts;
	struct axon_io_channel *ch = NULL;
	struct axon_nvmf_ns *ns = io_ns(req, &ch);
	uint16_t status;
	int rc;

	if (ns == NULL) {
		if (req->fused_partner != NULL) {
			struct axon_nvmf_request *first = req->fused_partner;

			req->fused_partner = NULL;
			first->fused_partner = NULL;
			io_complete(first, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) |
					   AXON_NVME_STATUS_DNR);
		}
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) |
				 AXON_NVME_STATUS_DNR);
		return;
	}
	switch (cmd->opc) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
		status = io_check_range(req, ns, true);
		if (status == 0 && req->fused_partner != NULL) {
			status = io_check_range(req->fused_partner, ns, true);
		}
		if (status != 0) {
			if (req->fused_partner != NULL) {
				struct axon_nvmf_request *first = req->fused_partner;

				req->fused_partner = NULL;
				first->fused_partner = NULL;
				io_complete(first, status);
			}
			io_complete(req, status);
			return;
		}
		break;
	case nvme_cmd_write_zeroes:
		status = io_check_range(req, ns, false);
		if (status != 0) {
			io_complete(req, status);
			return;
		}
		break;
	default:
		break;
	}
	ext_opts(req, &opts);
	switch (cmd->opc) {
	case nvme_cmd_read:
		rc = axon_bdev_readv_blocks_ext(ns->desc, ch, req->iov, (int)req->iovcnt, cmd_slba(cmd),
						cmd_nlb(cmd), io_done, req, &opts);
		break;
	case nvme_cmd_write:
		if (req->fused_partner != NULL) {
			struct axon_nvmf_request *first = req->fused_partner;

			rc = axon_bdev_comparev_and_writev_blocks(ns->desc, ch, first->iov,
								  (int)first->iovcnt, req->iov,
								  (int)req->iovcnt, cmd_slba(cmd),
								  cmd_nlb(cmd), fused_done, req);
			if (rc != 0 && rc != -ENOMEM) {
				req->fused_partner = NULL;
				first->fused_partner = NULL;
				io_complete(first, AXON_NVME_STATUS(NVME_SCT_GENERIC,
								    NVME_SC_FUSED_FAIL));
			}
			break;
		}
		rc = axon_bdev_writev_blocks_ext(ns->desc, ch, req->iov, (int)req->iovcnt,
						 cmd_slba(cmd), cmd_nlb(cmd), io_done, req, &opts);
		break;
	case nvme_cmd_compare:
		rc = axon_bdev_comparev_blocks(ns->desc, ch, req->iov, (int)req->iovcnt, cmd_slba(cmd),
					       cmd_nlb(cmd), io_done, req);
		break;
	case nvme_cmd_write_zeroes:
		rc = axon_bdev_write_zeroes_blocks(ns->desc, ch, cmd_slba(cmd), cmd_nlb(cmd), io_done,
						   req);
		break;
	case nvme_cmd_flush:
		if (!axon_bdev_io_type_supported(ns->bdev, AXON_BDEV_IO_TYPE_FLUSH)) {
			io_complete(req, 0); /* nothing volatile below us */
			return;
		}
		rc = axon_bdev_flush_blocks(ns->desc, ch, 0, axon_bdev_get_num_blocks(ns->bdev),
					    io_done, req);
		break;
	case nvme_cmd_dsm:
		io_dsm(req, ns);
		return;
	default:
		io_complete(req, AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) |
				 AXON_NVME_STATUS_DNR);
		return;
	}
	io_submitted(req, ns, ch, rc);
}

void nvmf_io_cmd_exec(struct axon_nvmf_request *req)
{
	nvmf_request_set_state(req, AXON_NVMF_REQ_STATE_EXECUTING);
	if (io_fused(req)) {
		return;
	}
	io_submit(req);
}
