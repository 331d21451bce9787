/*
 * I/O commands on a namespace: read, write (buffer and iovec), compare,
 * write zeroes, dataset management, flush, and raw passthrough.
 */
#include <errno.h>
#include <stdlib.h>

#include "nvme_internal.h"

/* NLB is 16 bits, 0's based. */
#define NVME_MAX_LBA_COUNT 65536u
#define NVME_MAX_DSM_RANGES 256u

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	return total;
}

/* Check a block range and compute its byte length. */
static int ns_check_range(const struct axon_nvme_ns *ns, uint64_t lba, uint32_t lba_count,
			  uint32_t *len)
{
	uint64_t bytes;

	if (lba_count == 0 || lba_count > NVME_MAX_LBA_COUNT || lba >= ns->num_sectors ||
	    lba_count > ns->num_sectors - lba) {
		return -EINVAL;
	}
	bytes = (uint64_t)lba_count * ns->sector_size;
	if (bytes > UINT32_MAX) {
		return -EINVAL;
	}
	*len = (uint32_t)bytes;
	return 0;
}

static void ns_build_rw(struct axon_nvme_cmd *cmd, const struct axon_nvme_ns *ns, uint8_t opc,
			uint64_t lba, uint32_t lba_count, uint32_t io_flags)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->nsid = ns->id;
	cmd->cdw10 = (uint32_t)lba;
	cmd->cdw11 = (uint32_t)(lba >> 32);
	cmd->cdw12 = (lba_count - 1) | (io_flags & (AXON_NVME_IO_FLAGS_FUA |
						     AXON_NVME_IO_FLAGS_LIMITED_RETRY));
}

static int ns_submit_rw(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, uint8_t opc,
			const struct iovec *iov, int iovcnt, void *buf, uint64_t lba,
			uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	struct axon_nvme_cmd cmd;
	uint32_t len;
	int rc;

	if (qpair == NULL || nvme_qpair_is_admin(qpair) || qpair->ctrlr != ns->ctrlr) {
		return -EINVAL;
	}
	if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
		return -ENXIO;
	}
	rc = ns_check_range(ns, lba, lba_count, &len);
	if (rc != 0) {
		return rc;
	}
	if (len > ns->ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	if (iov != NULL) {
		if (iovcnt < 1 || iovcnt > AXON_NVME_MAX_IOVCNT || iov_total(iov, iovcnt) != len) {
			return -EINVAL;
		}
	} else if (buf == NULL) {
		return -EINVAL;
	}
	ns_build_rw(&cmd, ns, opc, lba, lba_count, io_flags);
	return nvme_qpair_submit_cmd(qpair, &cmd, iov, iovcnt, buf, len, cb, cb_arg, false);
}

int axon_nvme_ns_cmd_read(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			  uint32_t io_flags)
{
	return ns_submit_rw(ns, qpair, nvme_cmd_read, NULL, 0, buf, lba, lba_count, cb, cb_arg,
			    io_flags);
}

int axon_nvme_ns_cmd_write(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			   uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			   uint32_t io_flags)
{
	return ns_submit_rw(ns, qpair, nvme_cmd_write, NULL, 0, buf, lba, lba_count, cb, cb_arg,
			    io_flags);
}

int axon_nvme_ns_cmd_readv(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			   const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			   axon_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return ns_submit_rw(ns, qpair, nvme_cmd_read, iov, iovcnt, NULL, lba, lba_count, cb,
			    cb_arg, io_flags);
}

int axon_nvme_ns_cmd_writev(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			    const struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			    axon_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return ns_submit_rw(ns, qpair, nvme_cmd_write, iov, iovcnt, NULL, lba, lba_count, cb,
			    cb_arg, io_flags);
}

int axon_nvme_ns_cmd_compare(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, void *buf,
			     uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags)
{
	return ns_submit_rw(ns, qpair, nvme_cmd_compare, NULL, 0, buf, lba, lba_count, cb, cb_arg,
			    io_flags);
}

/* A command without data after the qpair checks. */
static int ns_submit_nodata(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			    const struct axon_nvme_cmd *cmd, axon_nvme_cmd_cb cb, void *cb_arg)
{
	if (qpair == NULL || nvme_qpair_is_admin(qpair) || qpair->ctrlr != ns->ctrlr) {
		return -EINVAL;
	}
	if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
		return -ENXIO;
	}
	return nvme_qpair_submit_cmd(qpair, cmd, NULL, 0, NULL, 0, cb, cb_arg, false);
}

int axon_nvme_ns_cmd_write_zeroes(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, axon_nvme_cmd_cb cb,
				  void *cb_arg, uint32_t io_flags)
{
	struct axon_nvme_cmd cmd;
	uint32_t len;
	int rc;

	rc = ns_check_range(ns, lba, lba_count, &len);
	if (rc != 0) {
		return rc;
	}
	ns_build_rw(&cmd, ns, nvme_cmd_write_zeroes, lba, lba_count, io_flags);
	return ns_submit_nodata(ns, qpair, &cmd, cb, cb_arg);
}

int axon_nvme_ns_cmd_flush(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			   axon_nvme_cmd_cb cb, void *cb_arg)
{
	struct axon_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_cmd_flush;
	cmd.nsid = ns->id;
	return ns_submit_nodata(ns, qpair, &cmd, cb, cb_arg);
}

int axon_nvme_ns_cmd_dsm(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair,
			 uint32_t attributes, const struct nvme_dsm_range *ranges,
			 uint16_t num_ranges, axon_nvme_cmd_cb cb, void *cb_arg)
{
	struct axon_nvme_cmd cmd;

	if (ranges == NULL || num_ranges == 0 || num_ranges > NVME_MAX_DSM_RANGES ||
	    qpair == NULL || nvme_qpair_is_admin(qpair) || qpair->ctrlr != ns->ctrlr) {
		return -EINVAL;
	}
	if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
		return -ENXIO;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_cmd_dsm;
	cmd.nsid = ns->id;
	cmd.cdw10 = num_ranges - 1u;
	cmd.cdw11 = attributes;
	/* The ranges travel host to controller; the transport only reads them. */
	return nvme_qpair_submit_cmd(qpair, &cmd, NULL, 0, (void *)ranges,
				     num_ranges * (uint32_t)sizeof(*ranges), cb, cb_arg, false);
}

int axon_nvme_ctrlr_cmd_io_raw(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair,
			       const struct axon_nvme_cmd *cmd, void *buf, uint32_t len,
			       axon_nvme_cmd_cb cb, void *cb_arg)
{
	if (ctrlr == NULL || qpair == NULL || cmd == NULL || qpair->ctrlr != ctrlr ||
	    nvme_qpair_is_admin(qpair) || (len > 0 && buf == NULL) ||
	    len > ctrlr->max_xfer_size ||
	    (len > 0 && axon_nvme_opc_get_data_xfer(cmd->opc) == AXON_NVME_DATA_NONE)) {
		return -EINVAL;
	}
	if (qpair->state != AXON_NVME_QPAIR_ENABLED) {
		return -ENXIO;
	}
	return nvme_qpair_submit_cmd(qpair, cmd, NULL, 0, buf, len, cb, cb_arg, false);
}
