/*
 * The RDMA CM private data of NVMe over Fabrics: a host's connect request
 * carries the record format, the queue id and the queue sizes; we accept with
 * our receive queue size or reject with a status saying which field was bad.
 *
 * Every check happens here, before a QP or a byte of memory is set aside for
 * the connection.
 */
#include <string.h>

#include "rdma_internal.h"

static const char *const g_reject_str[] = {
	[RDMA_CM_REJECT_INVALID_LEN] = "invalid private data length",
	[RDMA_CM_REJECT_INVALID_RECFMT] = "invalid record format",
	[RDMA_CM_REJECT_INVALID_QID] = "invalid queue id",
	[RDMA_CM_REJECT_INVALID_HSQSIZE] = "invalid host send queue size",
	[RDMA_CM_REJECT_INVALID_HRQSIZE] = "invalid host receive queue size",
	[RDMA_CM_REJECT_NO_RESOURCES] = "no resources",
	[RDMA_CM_REJECT_INVALID_IRD] = "invalid IRD",
	[RDMA_CM_REJECT_INVALID_ORD] = "invalid ORD",
};

const char *nvmf_rdma_cm_reject_str(uint16_t status)
{
	if (status < AXON_COUNTOF(g_reject_str) && g_reject_str[status] != NULL) {
		return g_reject_str[status];
	}
	return "unknown";
}

uint16_t nvmf_rdma_cm_check_req(const void *pdata, size_t len, uint8_t initiator_depth,
				uint8_t responder_resources,
				const struct axon_nvmf_transport_opts *opts,
				struct rdma_cm_conn_req *req)
{
	struct rdma_cm_req_pdata pd;
	uint32_t max_entries;

	/* The CM pads private data (56 bytes on IB/RoCE): at least ours must be there. */
	if (pdata == NULL || len < sizeof(pd)) {
		return RDMA_CM_REJECT_INVALID_LEN;
	}
	memcpy(&pd, pdata, sizeof(pd));
	if (pd.recfmt != RDMA_CM_RECFMT_1_0) {
		return RDMA_CM_REJECT_INVALID_RECFMT;
	}
	/* Queue ids run from 0 (admin) to max_qpairs_per_ctrlr - 1. */
	if (pd.qid >= opts->max_qpairs_per_ctrlr) {
		return RDMA_CM_REJECT_INVALID_QID;
	}
	max_entries = pd.qid == 0 ? opts->max_aq_depth : opts->max_queue_depth;
	/* hsqsize is 0's based; a queue needs two entries to hold one command. */
	if (pd.hsqsize == 0 || (uint32_t)pd.hsqsize + 1 > max_entries) {
		return RDMA_CM_REJECT_INVALID_HSQSIZE;
	}
	/* Every command outstanding (at most hsqsize of them) gets one response
	 * SEND: the host must have a receive posted for each. */
	if (pd.hrqsize < pd.hsqsize) {
		return RDMA_CM_REJECT_INVALID_HRQSIZE;
	}
	/* Host data of writes is pulled with RDMA READ: the host must serve some
	 * (the CM gives the host's IRD as the initiator depth open to us). */
	if (initiator_depth == 0) {
		return RDMA_CM_REJECT_INVALID_IRD;
	}
	req->qid = pd.qid;
	req->sq_entries = (uint16_t)(pd.hsqsize + 1);
	req->hrqsize = pd.hrqsize;
	req->initiator_depth = initiator_depth;
	req->responder_resources = responder_resources;
	return 0;
}

void nvmf_rdma_cm_build_accept(struct rdma_cm_accept_pdata *pd, uint16_t crqsize)
{
	memset(pd, 0, sizeof(*pd));
	pd->recfmt = RDMA_CM_RECFMT_1_0;
	pd->crqsize = crqsize;
}

void nvmf_rdma_cm_build_reject(struct rdma_cm_reject_pdata *pd, uint16_t status)
{
	memset(pd, 0, sizeof(*pd));
	pd->recfmt = RDMA_CM_RECFMT_1_0;
	pd->sts = status;
}
