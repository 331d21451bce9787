/*
 * NVMe/RDMA work requests: staging, posting, completions, and the death of a
 * connection.
 *
 * Batching. Requests never post: they stage their work requests on their
 * queue pair (sends) and receives go back on their QP or the SRQ; at the end
 * of each poll nvmf_rdma_poller_flush() posts every staged chain with one
 * ibv_post_recv / ibv_post_srq_recv and one ibv_post_send per queue pair,
 * receives first so that a host answering a response finds one posted.
 *
 * Accounting. Every send work request is signaled, so each one posted comes
 * back exactly once, as a success or in error (flushes included); a request
 * counts its own (wrs_outstanding) and the queue pair counts what is on its
 * send queue and receive queue. A staged chain that is never posted (the
 * connection died first, or the post failed part way) is handed back as if
 * flushed. That makes "drained" a plain count: a dead queue pair is freed
 * only when nothing it posted can still come back.
 *
 * Death. Any completion in error (a flush, or the fault that caused it), a
 * malformed capsule, a failed post, a CM disconnect or lib/nvmf's own
 * disconnect moves the QP to the error state: whatever it still had posted
 * flushes. Requests stop where they are and head for FREE, each once its work
 * requests are back; lib/nvmf hears about the connection after the poll.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "axon/log.h"
#include "rdma_internal.h"

/* ---- staging --------------------------------------------------------------------- */

static void qpair_mark_to_post(struct rdma_qpair *rqpair)
{
	if (!rqpair->on_post_list) {
		TAILQ_INSERT_TAIL(&rqpair->poller->to_post, rqpair, post_link);
		rqpair->on_post_list = true;
	}
}

void nvmf_rdma_qpair_stage_send(struct rdma_qpair *rqpair, struct ibv_send_wr *first,
			   struct ibv_send_wr *last, uint32_t n)
{
	assert(!rdma_qpair_is_dead(rqpair) && n > 0);
	last->next = NULL;
	if (rqpair->send_tail != NULL) {
		rqpair->send_tail->next = first;
	} else {
		rqpair->send_head = first;
	}
	rqpair->send_tail = last;
	qpair_mark_to_post(rqpair);
}

void nvmf_rdma_recv_release(struct rdma_recv *recv)
{
	struct rdma_qpair *rqpair = recv->rqpair;
	struct rdma_device_poller *poller = recv->poller;

	assert(!recv->posted);
	recv->wr.next = NULL;
	if (rqpair == NULL) {
		/* The SRQ's: back to the SRQ whatever became of the connection. */
		if (poller->srq_tail != NULL) {
			poller->srq_tail->next = &recv->wr;
		} else {
			poller->srq_head = &recv->wr;
		}
		poller->srq_tail = &recv->wr;
		return;
	}
	/* A dead connection's own receives stay off its QP: it is going away. */
	if (rdma_qpair_is_dead(rqpair)) {
		return;
	}
	if (rqpair->recv_tail != NULL) {
		rqpair->recv_tail->next = &recv->wr;
	} else {
		rqpair->recv_head = &recv->wr;
	}
	rqpair->recv_tail = &recv->wr;
	qpair_mark_to_post(rqpair);
}

/* Receives of a chain that did not reach the queue: they stay unposted. */
static void recv_chain_unpost(struct ibv_recv_wr *wr)
{
	while (wr != NULL) {
		struct ibv_recv_wr *next = wr->next;
		struct rdma_recv *recv = AXON_CONTAINEROF(wr, struct rdma_recv, wr);

		recv->posted = false;
		wr->next = NULL;
		wr = next;
	}
}

/* Send work requests that were never posted come back as if flushed. */
static void send_chain_unpost(struct ibv_send_wr *wr)
{
	while (wr != NULL) {
		/* The request may be reused once it has its last one back. */
		struct ibv_send_wr *next = wr->next;
		struct rdma_wr_ctx *ctx = (struct rdma_wr_ctx *)(uintptr_t)wr->wr_id;
		struct rdma_req *rreq;

		wr->next = NULL;
		if (ctx->type == RDMA_WR_SEND) {
			rreq = AXON_CONTAINEROF(ctx, struct rdma_req, send_ctx);
		} else {
			rreq = AXON_CONTAINEROF(ctx, struct rdma_req, data_ctx);
		}
		nvmf_rdma_req_on_wr_done(rreq, ctx->type == RDMA_WR_SEND, false);
		wr = next;
	}
}

static uint32_t recv_chain_mark_posted(struct ibv_recv_wr *wr)
{
	uint32_t n = 0;

	for (; wr != NULL; wr = wr->next) {
		AXON_CONTAINEROF(wr, struct rdma_recv, wr)->posted = true;
		n++;
	}
	return n;
}

static uint32_t recv_chain_count_until(struct ibv_recv_wr *wr, struct ibv_recv_wr *stop)
{
	uint32_t n = 0;

	for (; wr != NULL && wr != stop; wr = wr->next) {
		n++;
	}
	return n;
}

static uint32_t send_chain_count_until(struct ibv_send_wr *wr, struct ibv_send_wr *stop)
{
	uint32_t n = 0;

	for (; wr != NULL && wr != stop; wr = wr->next) {
		n++;
	}
	return n;
}

/* ---- posting ---------------------------------------------------------------------- */

static uint32_t poller_flush_srq(struct rdma_device_poller *poller)
{
	struct ibv_recv_wr *head = poller->srq_head, *bad = NULL;
	uint32_t n;
	int rc;

	if (head == NULL) {
		return 0;
	}
	poller->srq_head = poller->srq_tail = NULL;
	n = recv_chain_mark_posted(head);
	rc = nvmf_rdma_verbs_post_srq_recv(poller, head, &bad);
	if (rc != 0) {
		uint32_t ok = recv_chain_count_until(head, bad);

		AXON_ERRLOG("%s: ibv_post_srq_recv failed (%s): %u receives not posted\n",
			    axon_rdma_device_get_name(poller->dev), strerror(rc), n - ok);
		recv_chain_unpost(bad);
		n = ok;
	}
	poller->srq_posted += n;
	poller->stats.recv_wr_posts++;
	return n;
}

static uint32_t qpair_flush_recvs(struct rdma_qpair *rqpair)
{
	struct ibv_recv_wr *head = rqpair->recv_head, *bad = NULL;
	uint32_t n;
	int rc;

	if (head == NULL) {
		return 0;
	}
	rqpair->recv_head = rqpair->recv_tail = NULL;
	n = recv_chain_mark_posted(head);
	rc = nvmf_rdma_verbs_post_recv(rqpair, head, &bad);
	if (rc != 0) {
		n = recv_chain_count_until(head, bad);
		recv_chain_unpost(bad);
		rqpair->recvs_posted += n;
		nvmf_rdma_qpair_set_dead(rqpair, "ibv_post_recv failed");
		return n;
	}
	rqpair->recvs_posted += n;
	rqpair->poller->stats.recv_wr_posts++;
	return n;
}

static uint32_t qpair_flush_sends(struct rdma_qpair *rqpair)
{
	struct ibv_send_wr *head = rqpair->send_head, *bad = NULL;
	uint32_t n;
	int rc;

	if (head == NULL) {
		return 0;
	}
	rqpair->send_head = rqpair->send_tail = NULL;
	rc = nvmf_rdma_verbs_post_send(rqpair, head, &bad);
	if (rc != 0) {
		n = send_chain_count_until(head, bad);
		rqpair->sends_posted += n;
		nvmf_rdma_qpair_set_dead(rqpair, "ibv_post_send failed");
		send_chain_unpost(bad);
		return n;
	}
	n = send_chain_count_until(head, NULL);
	rqpair->sends_posted += n;
	rqpair->poller->stats.send_wr_posts++;
	return n;
}

uint32_t nvmf_rdma_poller_flush(struct rdma_device_poller *poller)
{
	struct rdma_qpair *rqpair;
	uint32_t n = poller_flush_srq(poller);

	while ((rqpair = TAILQ_FIRST(&poller->to_post)) != NULL) {
		TAILQ_REMOVE(&poller->to_post, rqpair, post_link);
		rqpair->on_post_list = false;
		if (rdma_qpair_is_dead(rqpair)) {
			continue; /* set_dead handed its chains back already */
		}
		n += qpair_flush_recvs(rqpair);
		if (!rdma_qpair_is_dead(rqpair)) {
			n += qpair_flush_sends(rqpair);
		}
	}
	return n;
}

/* ---- death ------------------------------------------------------------------------------ */

static void qpair_drop_staged(struct rdma_qpair *rqpair)
{
	struct ibv_send_wr *sends = rqpair->send_head;
	struct ibv_recv_wr *recvs = rqpair->recv_head;

	rqpair->send_head = rqpair->send_tail = NULL;
	rqpair->recv_head = rqpair->recv_tail = NULL;
	if (rqpair->on_post_list) {
		TAILQ_REMOVE(&rqpair->poller->to_post, rqpair, post_link);
		rqpair->on_post_list = false;
	}
	recv_chain_unpost(recvs);
	send_chain_unpost(sends);
}

void nvmf_rdma_qpair_set_dead(struct rdma_qpair *rqpair, const char *reason)
{
	if (rdma_qpair_is_dead(rqpair)) {
		return;
	}
	AXON_NOTICELOG("qpair %u (qid %u): connection ends: %s\n", rqpair->id, rqpair->conn.qid,
		       reason);
	rqpair->state = RDMA_CONN_STATE_ERROR;
	if (rqpair->qp != NULL) {
		int rc = nvmf_rdma_verbs_qp_set_error(rqpair);

		if (rc != 0) {
			AXON_ERRLOG("qpair %u: cannot move the QP to the error state: %s\n",
				    rqpair->id, strerror(-rc));
		}
	}
	if (rqpair->poller != NULL) {
		qpair_drop_staged(rqpair);
	}
	nvmf_rdma_reqs_abandon(rqpair);
	if (!rqpair->fini_called && rqpair->rgroup != NULL && !rqpair->on_disconnect_list) {
		TAILQ_INSERT_TAIL(&rqpair->rgroup->to_disconnect, rqpair, disconnect_link);
		rqpair->on_disconnect_list = true;
	}
}

bool nvmf_rdma_qpair_is_drained(const struct rdma_qpair *rqpair)
{
	return rqpair->sends_posted == 0 && rqpair->recvs_posted == 0 &&
	       rqpair->send_head == NULL && nvmf_rdma_reqs_in_use(rqpair) == 0;
}

int nvmf_rdma_group_disconnect_dead(struct rdma_poll_group *rgroup)
{
	struct rdma_qpair *rqpair;
	int count = 0;

	while ((rqpair = TAILQ_FIRST(&rgroup->to_disconnect)) != NULL) {
		TAILQ_REMOVE(&rgroup->to_disconnect, rqpair, disconnect_link);
		rqpair->on_disconnect_list = false;
		/* May finish (qpair_fini) before it returns: rqpair is not touched after. */
		axon_nvmf_qpair_disconnect(&rqpair->qpair, NULL, NULL);
		count++;
	}
	return count;
}

/* ---- completions -------------------------------------------------------------------------- */

/* The connection an SRQ receive came in on (the SRQ's receives name none). */
static struct rdma_qpair *poller_find_qpair(struct rdma_device_poller *poller, uint32_t qp_num)
{
	struct rdma_qpair *rqpair;

	TAILQ_FOREACH(rqpair, &poller->qpairs, link) {
		if (rqpair->qp_num == qp_num && rqpair->qp != NULL) {
			return rqpair;
		}
	}
	return NULL;
}

static void handle_recv_wc(struct rdma_device_poller *poller, const struct ibv_wc *wc)
{
	struct rdma_recv *recv = AXON_CONTAINEROF((struct rdma_wr_ctx *)(uintptr_t)wc->wr_id,
						  struct rdma_recv, ctx);
	struct rdma_qpair *rqpair = recv->rqpair;

	recv->posted = false;
	if (rqpair != NULL) {
		assert(rqpair->recvs_posted > 0);
		rqpair->recvs_posted--;
	} else {
		assert(poller->srq_posted > 0);
		poller->srq_posted--;
		rqpair = poller_find_qpair(poller, wc->qp_num);
	}
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status == IBV_WC_WR_FLUSH_ERR) {
			poller->stats.flush_errors++;
		}
		if (rqpair != NULL) {
			nvmf_rdma_qpair_set_dead(rqpair, ibv_wc_status_str(wc->status));
		}
		nvmf_rdma_recv_release(recv);
		return;
	}
	/* A capsule for a connection that is gone or not yet ours: dropped. */
	if (rqpair == NULL || rqpair->state != RDMA_CONN_STATE_ACTIVE) {
		nvmf_rdma_recv_release(recv);
		return;
	}
	poller->stats.requests++;
	if (wc->byte_len < sizeof(union axon_nvmf_sqe)) {
		nvmf_rdma_recv_release(recv);
		nvmf_rdma_qpair_set_dead(rqpair, "capsule shorter than a command");
		return;
	}
	if (nvmf_rdma_req_on_capsule(rqpair, recv, wc->byte_len) != 0) {
		nvmf_rdma_recv_release(recv);
		nvmf_rdma_qpair_set_dead(rqpair, "more commands than queue entries");
	}
}

static void handle_send_wc(struct rdma_device_poller *poller, const struct ibv_wc *wc,
			   struct rdma_wr_ctx *ctx)
{
	bool is_send = ctx->type == RDMA_WR_SEND;
	struct rdma_req *rreq = is_send ? AXON_CONTAINEROF(ctx, struct rdma_req, send_ctx)
					: AXON_CONTAINEROF(ctx, struct rdma_req, data_ctx);
	struct rdma_qpair *rqpair = rreq->rqpair;
	bool ok = wc->status == IBV_WC_SUCCESS;

	assert(rqpair->sends_posted > 0);
	rqpair->sends_posted--;
	if (!ok) {
		if (wc->status == IBV_WC_WR_FLUSH_ERR) {
			poller->stats.flush_errors++;
		}
		nvmf_rdma_qpair_set_dead(rqpair, ibv_wc_status_str(wc->status));
	}
	nvmf_rdma_req_on_wr_done(rreq, is_send, ok);
}

void nvmf_rdma_poller_handle_wc(struct rdma_device_poller *poller, const struct ibv_wc *wc)
{
	struct rdma_wr_ctx *ctx = (struct rdma_wr_ctx *)(uintptr_t)wc->wr_id;

	poller->stats.completions++;
	switch (ctx->type) {
	case RDMA_WR_RECV:
		handle_recv_wc(poller, wc);
		break;
	case RDMA_WR_DATA:
	case RDMA_WR_SEND:
		handle_send_wc(poller, wc, ctx);
		break;
	default:
		AXON_ERRLOG("completion with an unknown work request context %p\n", (void *)ctx);
		break;
	}
}

int nvmf_rdma_poller_poll_cq(struct rdma_device_poller *poller)
{
	struct ibv_wc wc[RDMA_POLL_BUDGET];
	int n, i;

	n = nvmf_rdma_verbs_poll_cq(poller, RDMA_POLL_BUDGET, wc);
	if (n < 0) {
		AXON_ERRLOG("%s: ibv_poll_cq failed: %s\n", axon_rdma_device_get_name(poller->dev),
			    strerror(-n));
		return n;
	}
	for (i = 0; i < n; i++) {
		nvmf_rdma_poller_handle_wc(poller, &wc[i]);
	}
	return n;
}
