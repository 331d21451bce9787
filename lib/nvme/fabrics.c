/*
 * NVMe over Fabrics host commands: Connect, Property Get / Set, and the
 * discovery log read that survives a generation change mid-read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "nvme_internal.h"

/* Discovery log header and entries are 1024 bytes each. */
#define DISC_RECORD_LEN 1024u
/* Bytes of discovery log per Get Log Page. */
#define DISC_CHUNK_LEN (64u * 1024u)

struct connect_ctx {
	struct axon_nvme_qpair *qpair;
	struct axon_nvmf_connect_data data;
};

static void connect_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct connect_ctx *ctx = cb_arg;
	struct axon_nvme_qpair *qpair = ctx->qpair;
	struct axon_nvme_ctrlr *ctrlr = qpair->ctrlr;
	uint16_t status = axon_nvme_cpl_get_status(cpl);

	free(ctx);
	if (axon_nvme_cpl_is_error(cpl)) {
		/* For "invalid parameters", CDW0 says which byte was refused. */
		AXON_ERRLOG("%s: Connect of queue %u to %s refused: sct 0x%x sc 0x%x "
			    "(attribute %u offset %u)\n", ctrlr->trid.traddr, qpair->id,
			    ctrlr->trid.subnqn, AXON_NVME_STATUS_SCT(status),
			    AXON_NVME_STATUS_SC(status), cpl->cdw0 & 0xffu, cpl->cdw0 >> 16);
		qpair->state = AXON_NVME_QPAIR_FAILED;
		qpair->failure_reason = -ECONNREFUSED;
		return;
	}
	if (qpair->state != AXON_NVME_QPAIR_FABRIC_CONNECTING) {
		return; /* disconnected meanwhile */
	}
	if (nvme_qpair_is_admin(qpair)) {
		ctrlr->cntlid = (uint16_t)(cpl->cdw0 & 0xffffu);
	}
	qpair->state = AXON_NVME_QPAIR_ENABLED;
}

int nvme_fabric_qpair_connect(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_ctrlr *ctrlr = qpair->ctrlr;
	union axon_nvmf_sqe sqe;
	struct connect_ctx *ctx;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->qpair = qpair;
	memset(&sqe, 0, sizeof(sqe));
	sqe.connect.opcode = AXON_NVMF_FABRIC_OPCODE;
	sqe.connect.fctype = AXON_NVMF_FCTYPE_CONNECT;
	sqe.connect.recfmt = 0;
	sqe.connect.qid = qpair->id;
	sqe.connect.sqsize = (uint16_t)(qpair->depth - 1);
	sqe.connect.kato = nvme_qpair_is_admin(qpair) ? ctrlr->opts.keep_alive_timeout_ms : 0;
	memcpy(ctx->data.hostid, ctrlr->opts.hostid, sizeof(ctx->data.hostid));
	ctx->data.cntlid = nvme_qpair_is_admin(qpair) ? AXON_NVMF_CNTLID_DYNAMIC : ctrlr->cntlid;
	snprintf(ctx->data.subnqn, sizeof(ctx->data.subnqn), "%s", ctrlr->trid.subnqn);
	snprintf(ctx->data.hostnqn, sizeof(ctx->data.hostnqn), "%s", ctrlr->opts.hostnqn);
	rc = nvme_qpair_submit_cmd(qpair, &sqe.nvme, NULL, 0, &ctx->data, sizeof(ctx->data),
				   connect_cb, ctx, true);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

int nvme_fabric_prop_get(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			 axon_nvme_cmd_cb cb, void *cb_arg)
{
	union axon_nvmf_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.prop_get.opcode = AXON_NVMF_FABRIC_OPCODE;
	sqe.prop_get.fctype = AXON_NVMF_FCTYPE_PROPERTY_GET;
	sqe.prop_get.attrib = size == 8 ? AXON_NVMF_PROP_SIZE_8 : AXON_NVMF_PROP_SIZE_4;
	sqe.prop_get.ofst = offset;
	return nvme_ctrlr_submit_admin(ctrlr, &sqe.nvme, NULL, 0, cb, cb_arg);
}

int nvme_fabric_prop_set(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			 uint64_t value, axon_nvme_cmd_cb cb, void *cb_arg)
{
	union axon_nvmf_sqe sqe;

	memset(&sqe, 0, sizeof(sqe));
	sqe.prop_set.opcode = AXON_NVMF_FABRIC_OPCODE;
	sqe.prop_set.fctype = AXON_NVMF_FCTYPE_PROPERTY_SET;
	sqe.prop_set.attrib = size == 8 ? AXON_NVMF_PROP_SIZE_8 : AXON_NVMF_PROP_SIZE_4;
	sqe.prop_set.ofst = offset;
	sqe.prop_set.value = size == 8 ? value : (uint32_t)value;
	return nvme_ctrlr_submit_admin(ctrlr, &sqe.nvme, NULL, 0, cb, cb_arg);
}

/* ---- discovery log ------------------------------------------------------------ */

/* The read: header, entries, header again; start over if genctr moved. */
enum disc_state {
	DISC_READ_HEADER,  /* first header: genctr and numrec */
	DISC_READ_ENTRIES, /* entries, chunk by chunk */
	DISC_RECHECK,      /* header again: genctr must not have moved */
};

struct disc_ctx {
	struct axon_nvme_ctrlr *ctrlr;
	axon_nvme_discovery_cb cb;
	void *cb_arg;
	enum disc_state state;
	struct nvmf_discovery_log *hdr; /* DISC_RECORD_LEN bytes */
	struct nvmf_discovery_log *log; /* header + numrec entries */
	uint64_t genctr;
	uint64_t numrec;
	uint64_t offset; /* bytes of entries read */
	uint32_t chunk;  /* bytes of the Get Log Page in flight */
	uint32_t retries;
};

static void disc_done(struct disc_ctx *ctx, int rc)
{
	struct nvmf_discovery_log *log = NULL;

	if (rc == 0) {
		log = ctx->log;
		ctx->log = NULL;
	}
	nvme_free_data(ctx->ctrlr, ctx->hdr);
	free(ctx->log);
	ctx->cb(ctx->cb_arg, rc, log);
	free(ctx);
}

static void disc_cb(void *cb_arg, const struct axon_nvme_cpl *cpl);

static int disc_read(struct disc_ctx *ctx, void *buf, uint32_t len, uint64_t offset)
{
	struct axon_nvme_cmd cmd;
	uint32_t numd = len / 4 - 1;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = nvme_admin_get_log_page;
	cmd.cdw10 = NVME_LOG_LID_DISCOVER | ((numd & 0xffffu) << 16);
	cmd.cdw11 = numd >> 16;
	cmd.cdw12 = (uint32_t)offset;
	cmd.cdw13 = (uint32_t)(offset >> 32);
	return nvme_ctrlr_submit_admin(ctx->ctrlr, &cmd, buf, len, disc_cb, ctx);
}

static uint64_t disc_total_entries_len(const struct disc_ctx *ctx)
{
	return ctx->numrec * DISC_RECORD_LEN;
}

/* Read the next chunk of entries, or move on to the re-check. */
static int disc_next(struct disc_ctx *ctx)
{
	uint64_t left = disc_total_entries_len(ctx) - ctx->offset;
	uint32_t chunk;

	if (left == 0) {
		ctx->state = DISC_RECHECK;
		return disc_read(ctx, ctx->hdr, DISC_RECORD_LEN, 0);
	}
	chunk = (uint32_t)AXON_MIN(left, (uint64_t)DISC_CHUNK_LEN);
	chunk = AXON_MIN(chunk, AXON_ALIGN_DOWN(ctx->ctrlr->max_xfer_size, DISC_RECORD_LEN));
	ctx->chunk = chunk;
	return disc_read(ctx, (uint8_t *)ctx->log + DISC_RECORD_LEN + ctx->offset, chunk,
			 DISC_RECORD_LEN + ctx->offset);
}

static int disc_start_round(struct disc_ctx *ctx)
{
	free(ctx->log);
	ctx->log = NULL;
	ctx->offset = 0;
	ctx->state = DISC_READ_HEADER;
	return disc_read(ctx, ctx->hdr, DISC_RECORD_LEN, 0);
}

static int disc_header_read(struct disc_ctx *ctx)
{
	ctx->genctr = ctx->hdr->genctr;
	ctx->numrec = ctx->hdr->numrec;
	if (ctx->numrec > AXON_NVME_DISCOVERY_MAX_ENTRIES) {
		AXON_ERRLOG("%s: discovery log claims %llu entries\n", ctx->ctrlr->trid.traddr,
			    (unsigned long long)ctx->numrec);
		return -EPROTO;
	}
	ctx->log = calloc(1, DISC_RECORD_LEN + disc_total_entries_len(ctx));
	if (ctx->log == NULL) {
		return -ENOMEM;
	}
	ctx->state = DISC_READ_ENTRIES;
	return disc_next(ctx);
}

static int disc_recheck(struct disc_ctx *ctx)
{
	if (ctx->hdr->genctr != ctx->genctr) {
		if (++ctx->retries > AXON_NVME_DISCOVERY_MAX_RETRIES) {
			AXON_ERRLOG("%s: discovery log keeps changing\n", ctx->ctrlr->trid.traddr);
			return -EAGAIN;
		}
		AXON_DEBUGLOG(nvme, "discovery log changed while read (genctr %llu -> %llu)\n",
			      (unsigned long long)ctx->genctr,
			      (unsigned long long)ctx->hdr->genctr);
		return disc_start_round(ctx);
	}
	memcpy(ctx->log, ctx->hdr, DISC_RECORD_LEN);
	ctx->log->numrec = ctx->numrec;
	disc_done(ctx, 0);
	return 1;
}

static void disc_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct disc_ctx *ctx = cb_arg;
	int rc = 0;

	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_ERRLOG("%s: Get Log Page (discovery) failed (status 0x%x)\n",
			    ctx->ctrlr->trid.traddr, axon_nvme_cpl_get_status(cpl));
		disc_done(ctx, -EIO);
		return;
	}
	switch (ctx->state) {
	case DISC_READ_HEADER:
		rc = disc_header_read(ctx);
		break;
	case DISC_READ_ENTRIES:
		ctx->offset += ctx->chunk;
		rc = disc_next(ctx);
		break;
	case DISC_RECHECK:
		rc = disc_recheck(ctx);
		if (rc == 1) {
			return; /* done, ctx freed */
		}
		break;
	}
	if (rc != 0) {
		disc_done(ctx, rc);
	}
}

int axon_nvme_ctrlr_read_discovery_log(struct axon_nvme_ctrlr *ctrlr, axon_nvme_discovery_cb cb,
				       void *cb_arg)
{
	struct disc_ctx *ctx;
	int rc;

	if (ctrlr == NULL || cb == NULL) {
		return -EINVAL;
	}
	if (ctrlr->failed || ctrlr->state != AXON_NVME_CTRLR_STATE_READY) {
		return -ENXIO;
	}
	if (ctrlr->max_xfer_size < DISC_RECORD_LEN) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->ctrlr = ctrlr;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	ctx->hdr = nvme_alloc_data(ctrlr, DISC_RECORD_LEN);
	if (ctx->hdr == NULL) {
		free(ctx);
		return -ENOMEM;
	}
	rc = disc_start_round(ctx);
	if (rc != 0) {
		nvme_free_data(ctrlr, ctx->hdr);
		free(ctx);
	}
	return rc;
}

struct disc_sync {
	bool done;
	int rc;
	struct nvmf_discovery_log *log;
};

static void disc_sync_cb(void *cb_arg, int rc, struct nvmf_discovery_log *log)
{
	struct disc_sync *s = cb_arg;

	s->done = true;
	s->rc = rc;
	s->log = log;
}

int axon_nvme_ctrlr_read_discovery_log_sync(struct axon_nvme_ctrlr *ctrlr,
					    struct nvmf_discovery_log **log)
{
	struct disc_sync s = {.done = false};
	int rc;

	rc = axon_nvme_ctrlr_read_discovery_log(ctrlr, disc_sync_cb, &s);
	if (rc != 0) {
		return rc;
	}
	while (!s.done) {
		rc = axon_nvme_ctrlr_process_admin_completions(ctrlr);
		if (rc < 0) {
			/* The admin queue died: its commands completed with an abort. */
			if (!s.done) {
				return rc;
			}
		}
	}
	if (s.rc == 0) {
		*log = s.log;
	}
	return s.rc;
}
