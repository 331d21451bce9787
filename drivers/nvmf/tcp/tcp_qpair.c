/*
 * NVMe/TCP connections: the receive loop, ICReq/ICResp, fatal errors and
 * teardown.
 *
 * Receiving. A readable socket is read in large chunks into the connection's
 * buffer and every PDU in it is parsed at once. While the parser waits for the
 * data of a PDU whose destination is known (a request's buffer), the read
 * scatters straight into that destination, with the connection's buffer last
 * to catch the PDUs behind it: bulk data is never copied in user space.
 *
 * Ending. A fatal protocol error queues a C2HTermReq and drains (drops) input
 * until the host closes or TCP_FATAL_LINGER_US passes: closing at once with
 * unread input would reset the connection and could lose the TermReq. Then,
 * as when the peer closes or resets, the socket leaves the sock group and the
 * queue pair is put on its group's list; after the poll lib/nvmf is asked to
 * disconnect it. lib/nvmf hands back every request it holds and calls
 * qpair_fini, which closes the socket (cancelling queued writes), takes back
 * every request still in a transport state and frees the queue pair.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "tcp_internal.h"

static struct tcp_qpair *ctx_qpair(void *ctx)
{
	return ctx;
}

/* ---- parser handlers ------------------------------------------------------------- */

static void ic_resp_write_done(void *cb_arg, int err)
{
	struct tcp_qpair *tqpair = cb_arg;

	assert(tqpair->ctrl_writes > 0);
	tqpair->ctrl_writes--;
}

static int qpair_on_ic_req(void *ctx, const struct axon_nvme_tcp_ic_req *pdu, struct tcp_rx_err *err)
{
	struct tcp_qpair *tqpair = ctx_qpair(ctx);
	const struct axon_nvmf_transport_opts *opts = &tqpair->ttransport->base.opts;
	uint32_t num_reqs = AXON_MAX((uint32_t)opts->max_queue_depth, opts->max_aq_depth);
	uint8_t dgst = pdu->dgst & (AXON_NVME_TCP_DGST_HDGST_ENABLE | AXON_NVME_TCP_DGST_DDGST_ENABLE);
	int rc;

	/* Requests only now: a connection that never says ICReq costs little. */
	rc = tcp_reqs_alloc(tqpair, num_reqs, opts->in_capsule_data_size);
	if (rc != 0) {
		AXON_ERRLOG("qpair %u: no memory for %u requests\n", tqpair->id, num_reqs);
		return -ECONNABORTED;
	}
	tqpair->hpda = pdu->hpda;
	tqpair->hdgst = (dgst & AXON_NVME_TCP_DGST_HDGST_ENABLE) != 0;
	tqpair->ddgst = (dgst & AXON_NVME_TCP_DGST_DDGST_ENABLE) != 0;
	/* MAXR2T is 0's based; the host's limit and ours both apply. */
	tqpair->max_r2t_per_req = (uint32_t)AXON_MIN((uint64_t)pdu->maxr2t + 1, (uint64_t)TCP_MAX_R2T_PER_REQ);

	tcp_pdu_build_ic_resp(&tqpair->ic_resp, dgst, TCP_MAXH2CDATA);
	tqpair->ic_resp_iov.iov_base = &tqpair->ic_resp;
	tqpair->ic_resp_iov.iov_len = sizeof(tqpair->ic_resp);
	tqpair->ic_resp_sreq.iov = &tqpair->ic_resp_iov;
	tqpair->ic_resp_sreq.iovcnt = 1;
	tqpair->ic_resp_sreq.cb_fn = ic_resp_write_done;
	tqpair->ic_resp_sreq.cb_arg = tqpair;
	tqpair->ctrl_writes++;
	if (tcp_qpair_write(tqpair, &tqpair->ic_resp_sreq) != 0) {
		tqpair->ctrl_writes--;
		return -ECONNABORTED;
	}
	AXON_DEBUGLOG(nvmf_tcp, "qpair %u: ICReq hpda %u dgst %#x maxr2t %u\n", tqpair->id,
		      pdu->hpda, pdu->dgst, pdu->maxr2t);
	tqpair->state = TCP_CONN_STATE_RUNNING;
	return 0;
}

static int qpair_on_capsule(void *ctx, const struct axon_nvme_tcp_cmd *pdu, uint32_t data_len,
			    struct tcp_rx_dst *dst, struct tcp_rx_err *err)
{
	return tcp_req_on_capsule(ctx_qpair(ctx), pdu, data_len, dst, err);
}

static int qpair_on_h2c_data(void *ctx, const struct axon_nvme_tcp_data_hdr *pdu,
			     struct tcp_rx_dst *dst, struct tcp_rx_err *err)
{
	return tcp_req_on_h2c_data(ctx_qpair(ctx), pdu, dst, err);
}

static int qpair_on_pdu_done(void *ctx, bool ddgst_ok, struct tcp_rx_err *err)
{
	struct tcp_qpair *tqpair = ctx_qpair(ctx);

	if (tqpair->tgroup != NULL) {
		tqpair->tgroup->stats.pdus_received++;
	}
	return tcp_req_on_pdu_done(tqpair, ddgst_ok);
}

static void qpair_on_term_req(void *ctx, const struct axon_nvme_tcp_term_req_hdr *pdu)
{
	struct tcp_qpair *tqpair = ctx_qpair(ctx);
	uint32_t fei = (uint32_t)pdu->fei[0] | (uint32_t)pdu->fei[1] << 8 |
		       (uint32_t)pdu->fei[2] << 16 | (uint32_t)pdu->fei[3] << 24;

	AXON_NOTICELOG("qpair %u: host terminated the connection (H2CTermReq FES %#x FEI %#x)\n",
		       tqpair->id, pdu->fes, fei);
}

static const struct tcp_rx_ops g_rx_ops = {
	.ic_req = qpair_on_ic_req,
	.capsule = qpair_on_capsule,
	.h2c_data = qpair_on_h2c_data,
	.pdu_done = qpair_on_pdu_done,
	.term_req = qpair_on_term_req,
};

/* ---- life ----------------------------------------------------------------------------- */

struct tcp_qpair *tcp_qpair_create(struct tcp_transport *ttransport, struct axon_sock *sock,
				   const struct axon_nvmf_trid *listen_trid)
{
	struct tcp_qpair *tqpair;
	uint32_t icd = ttransport->base.opts.in_capsule_data_size;

	tqpair = calloc(1, sizeof(*tqpair));
	if (tqpair == NULL) {
		AXON_ERRLOG("out of memory for a queue pair\n");
		return NULL;
	}
	tqpair->rx_buf = malloc(TCP_RX_BUF_SIZE);
	if (tqpair->rx_buf == NULL) {
		AXON_ERRLOG("out of memory for a queue pair's receive buffer\n");
		free(tqpair);
		return NULL;
	}
	tqpair->qpair.transport = &ttransport->base;
	tqpair->ttransport = ttransport;
	tqpair->sock = sock;
	tqpair->id = ++ttransport->next_qpair_id;
	tqpair->state = TCP_CONN_STATE_AWAIT_IC_REQ;
	if (listen_trid != NULL) {
		tqpair->listen_trid = *listen_trid;
	}
	TAILQ_INIT(&tqpair->free_reqs);
	tcp_rx_init(&tqpair->rx, &g_rx_ops, tqpair, AXON_MAX(icd, TCP_ADMIN_ICD_SIZE), TCP_MAXH2CDATA);
	return tqpair;
}

static void qpair_free(struct tcp_qpair *tqpair)
{
	tcp_reqs_free(tqpair);
	free(tqpair->rx_buf);
	free(tqpair);
}

void tcp_qpair_destroy(struct tcp_qpair *tqpair)
{
	tqpair->state = TCP_CONN_STATE_CLOSED;
	if (tqpair->sock != NULL) {
		axon_sock_close(&tqpair->sock);
	}
	tcp_reqs_abandon(tqpair);
	qpair_free(tqpair);
}

int tcp_qpair_write(struct tcp_qpair *tqpair, struct axon_sock_request *sreq)
{
	if (tqpair->state >= TCP_CONN_STATE_DISCONNECTING || tqpair->sock == NULL) {
		return -ENOTCONN;
	}
	return axon_sock_writev_async(tqpair->sock, sreq) == 0 ? 0 : -ENOTCONN;
}

static int qpair_linger_expired(void *arg)
{
	struct tcp_qpair *tqpair = arg;

	axon_poller_unregister(&tqpair->linger_poller);
	AXON_NOTICELOG("qpair %u: host did not close after our TermReq; closing\n", tqpair->id);
	tcp_qpair_conn_lost(tqpair);
	return AXON_POLLER_BUSY;
}

void tcp_qpair_conn_lost(struct tcp_qpair *tqpair)
{
	if (tqpair->state >= TCP_CONN_STATE_DISCONNECTING) {
		return;
	}
	tqpair->state = TCP_CONN_STATE_DISCONNECTING;
	axon_poller_unregister(&tqpair->linger_poller);
	if (tqpair->tgroup == NULL) {
		return;
	}
	/* Out of the group now: a closed socket stays readable and would call
	 * us on every poll. Queued writes stay queued until the close. */
	if (tqpair->sock != NULL) {
		axon_sock_group_remove_sock(tqpair->tgroup->sgroup, tqpair->sock);
	}
	/* Requests waiting for data or buffers that can never come go back now. */
	tcp_reqs_abandon(tqpair);
	TAILQ_INSERT_TAIL(&tqpair->tgroup->to_disconnect, tqpair, disconnect_link);
	tqpair->on_disconnect_list = true;
}

int tcp_group_disconnect_lost(struct tcp_poll_group *tgroup)
{
	struct tcp_qpair *tqpair;
	int count = 0;

	while ((tqpair = TAILQ_FIRST(&tgroup->to_disconnect)) != NULL) {
		TAILQ_REMOVE(&tgroup->to_disconnect, tqpair, disconnect_link);
		tqpair->on_disconnect_list = false;
		/* May finish (qpair_fini) before it returns: tqpair is not touched after. */
		axon_nvmf_qpair_disconnect(&tqpair->qpair, NULL, NULL);
		count++;
	}
	return count;
}

/* A fatal protocol error: TermReq, then drain until the host closes. */
static void qpair_fatal(struct tcp_qpair *tqpair)
{
	size_t len;

	AXON_ERRLOG("qpair %u: fatal protocol error (FES %#x FEI %u), sending C2HTermReq\n",
		    tqpair->id, tqpair->rx.err.fes, tqpair->rx.err.fei);
	if (tqpair->tgroup != NULL) {
		tqpair->tgroup->stats.fatal_errors++;
	}
	len = tcp_rx_build_term_req(&tqpair->rx, tqpair->term_req);
	tqpair->term_req_iov.iov_base = tqpair->term_req;
	tqpair->term_req_iov.iov_len = len;
	tqpair->term_req_sreq.iov = &tqpair->term_req_iov;
	tqpair->term_req_sreq.iovcnt = 1;
	tqpair->term_req_sreq.cb_fn = ic_resp_write_done;
	tqpair->term_req_sreq.cb_arg = tqpair;
	tqpair->ctrl_writes++;
	if (tcp_qpair_write(tqpair, &tqpair->term_req_sreq) != 0) {
		tqpair->ctrl_writes--;
		tcp_qpair_conn_lost(tqpair);
		return;
	}
	tqpair->state = TCP_CONN_STATE_TERMINATING;
	tqpair->linger_poller = axon_poller_register(qpair_linger_expired, tqpair,
						     TCP_FATAL_LINGER_US);
	if (tqpair->linger_poller == NULL) {
		tcp_qpair_conn_lost(tqpair);
	}
}

static void qpair_rx_result(struct tcp_qpair *tqpair, ssize_t rc)
{
	if (rc >= 0) {
		return;
	}
	if (rc == -EPROTO) {
		qpair_fatal(tqpair);
	} else {
		tcp_qpair_conn_lost(tqpair);
	}
}

void tcp_qpair_rx_bytes(struct tcp_qpair *tqpair, const uint8_t *buf, size_t len)
{
	if (tqpair->state >= TCP_CONN_STATE_TERMINATING || len == 0) {
		return;
	}
	qpair_rx_result(tqpair, tcp_rx_consume(&tqpair->rx, buf, len));
}

/* ---- the receive loop ------------------------------------------------------------------- */

/* One read. Returns what recv returned; *drained is set when the socket gave
 * less than asked (nothing more is waiting now). */
static ssize_t qpair_recv_once(struct tcp_qpair *tqpair, bool *drained)
{
	struct iovec iov[AXON_NVMF_REQ_MAX_IOVS + 1];
	size_t want = 0;
	ssize_t rc;
	int n, i;

	if (tqpair->state == TCP_CONN_STATE_TERMINATING) {
		rc = axon_sock_recv(tqpair->sock, tqpair->rx_buf, TCP_RX_BUF_SIZE);
		*drained = rc < TCP_RX_BUF_SIZE;
		return rc;
	}
	n = tcp_rx_data_iov(&tqpair->rx, iov, AXON_NVMF_REQ_MAX_IOVS);
	if (n == 0) {
		rc = axon_sock_recv(tqpair->sock, tqpair->rx_buf, TCP_RX_BUF_SIZE);
		*drained = rc < TCP_RX_BUF_SIZE;
		if (rc > 0) {
			tcp_qpair_rx_bytes(tqpair, tqpair->rx_buf, (size_t)rc);
		}
		return rc;
	}
	for (i = 0; i < n; i++) {
		want += iov[i].iov_len;
	}
	iov[n].iov_base = tqpair->rx_buf;
	iov[n].iov_len = TCP_RX_BUF_SIZE;
	rc = axon_sock_readv(tqpair->sock, iov, n + 1);
	*drained = rc < (ssize_t)(want + TCP_RX_BUF_SIZE);
	if (rc <= 0) {
		return rc;
	}
	qpair_rx_result(tqpair, tcp_rx_data_received(&tqpair->rx, AXON_MIN((size_t)rc, want)));
	if ((size_t)rc > want) {
		tcp_qpair_rx_bytes(tqpair, tqpair->rx_buf, (size_t)rc - want);
	}
	return rc;
}

void tcp_qpair_sock_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock)
{
	struct tcp_qpair *tqpair = arg;
	bool drained = false;
	int i;

	for (i = 0; i < TCP_RECV_BUDGET && !drained; i++) {
		ssize_t rc;

		if (tqpair->state >= TCP_CONN_STATE_DISCONNECTING) {
			return;
		}
		rc = qpair_recv_once(tqpair, &drained);
		if (rc == -EAGAIN) {
			return;
		}
		if (rc <= 0) {
			if (rc < 0 && tqpair->state != TCP_CONN_STATE_TERMINATING) {
				AXON_NOTICELOG("qpair %u: connection lost: %s\n", tqpair->id,
					       strerror((int)-rc));
			}
			tcp_qpair_conn_lost(tqpair);
			return;
		}
	}
}

/* ---- qpair_fini ----------------------------------------------------------------------- */

void tcp_qpair_fini(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb_fn, void *cb_arg)
{
	struct tcp_qpair *tqpair = tcp_qpair_from_base(qpair);
	uint32_t i;

	if (tqpair->on_disconnect_list) {
		TAILQ_REMOVE(&tqpair->tgroup->to_disconnect, tqpair, disconnect_link);
		tqpair->on_disconnect_list = false;
	}
	axon_poller_unregister(&tqpair->linger_poller);
	tqpair->state = TCP_CONN_STATE_CLOSED;
	/* Cancels every queued write: their callbacks run now and release what
	 * they point into. */
	if (tqpair->sock != NULL) {
		axon_sock_close(&tqpair->sock);
	}
	tcp_reqs_abandon(tqpair);
	for (i = 0; i < tqpair->num_reqs; i++) {
		if (tqpair->reqs[i].state != TCP_REQ_STATE_FREE) {
			/* Freeing would leave lib/nvmf a dangling request: leak instead. */
			AXON_ERRLOG("qpair %u: request %u in state %s at fini; not freeing\n",
				    tqpair->id, i, tcp_req_state_str(tqpair->reqs[i].state));
			goto done;
		}
	}
	assert(tqpair->ctrl_writes == 0);
	qpair_free(tqpair);
done:
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
}
