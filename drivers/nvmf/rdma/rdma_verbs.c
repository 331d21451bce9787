/*
 * The verbs the request and work request code uses, behind one small
 * interface: unit tests link their own versions instead of this file and
 * drive the state machine with completions of their choosing.
 */
#include <errno.h>
#include <time.h>

#include "axon/dma.h"
#include "rdma_internal.h"

int nvmf_rdma_verbs_post_send(struct rdma_qpair *rqpair, struct ibv_send_wr *wr,
			 struct ibv_send_wr **bad_wr)
{
	return ibv_post_send(rqpair->qp, wr, bad_wr);
}

int nvmf_rdma_verbs_post_recv(struct rdma_qpair *rqpair, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr)
{
	return ibv_post_recv(rqpair->qp, wr, bad_wr);
}

int nvmf_rdma_verbs_post_srq_recv(struct rdma_device_poller *poller, struct ibv_recv_wr *wr,
			     struct ibv_recv_wr **bad_wr)
{
	return ibv_post_srq_recv(poller->srq, wr, bad_wr);
}

int nvmf_rdma_verbs_poll_cq(struct rdma_device_poller *poller, int num, struct ibv_wc *wc)
{
	int n = ibv_poll_cq(poller->cq, num, wc);

	return n < 0 ? -EIO : n;
}

int nvmf_rdma_verbs_qp_set_error(struct rdma_qpair *rqpair)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};

	return -ibv_modify_qp(rqpair->qp, &attr, IBV_QP_STATE);
}

int nvmf_rdma_verbs_translate(struct axon_rdma_device *dev, void *addr, size_t len, uint32_t *lkey)
{
	struct axon_memory_domain *domain = axon_rdma_device_get_memory_domain(dev);
	struct axon_memory_domain_translation_result res = {.size = sizeof(res)};
	int rc;

	rc = axon_memory_domain_translate_data(domain, NULL, domain, NULL, addr, len, &res);
	if (rc == 0) {
		*lkey = res.rdma.lkey;
	}
	return rc;
}

uint64_t nvmf_rdma_verbs_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
