/*
 * NVMe/RDMA poll groups: one shared CQ per device per poll group, and the SRQ.
 *
 * A poll group reaches a device through a device poller, created when the
 * first connection on that device joins the group: a completion channel (its
 * fd a wake fd of the group's thread), a CQ every connection of the group on
 * that device shares, and, unless no_srq is set or the device has none, a
 * shared receive queue with max_srq_depth receives posted at once. The CQ
 * starts at num_cqe entries and grows (ibv_resize_cq) when the connections'
 * send and receive queues need more: every work request is signaled, so the
 * CQ must hold one entry per work request that may be outstanding.
 *
 * A poll: requests waiting for buffers, then for each device poller the
 * channel's events, up to RDMA_POLL_BUDGET completions, the staged work
 * requests (posted in one call per queue), the draining connections; then
 * lib/nvmf is told of the connections that died. A poll that found nothing
 * arms the CQ and looks once more, so a completion arriving in between is
 * never missed while the thread sleeps.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "rdma_internal.h"

/* Bytes of one receive buffer: the command and the in-capsule data, cache aligned. */
static uint32_t recv_buf_size(const struct rdma_transport *rtransport)
{
	return AXON_ALIGN_UP((uint32_t)sizeof(union axon_nvmf_sqe) +
			     rtransport->base.opts.in_capsule_data_size, 64u);
}

/* ---- the SRQ ---------------------------------------------------------------- */

static int poller_srq_create(struct rdma_device_poller *poller)
{
	struct rdma_transport *rtransport = poller->rgroup->rtransport;
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(poller->dev);
	struct ibv_srq_init_attr init = {0};
	uint32_t size = recv_buf_size(rtransport), i;
	uint32_t lkey;
	int rc;

	poller->srq_depth = AXON_MIN(rtransport->sopts.max_srq_depth, (uint32_t)attr->max_srq_wr);
	init.attr.max_wr = poller->srq_depth;
	init.attr.max_sge = 1;
	poller->srq = ibv_create_srq(axon_rdma_device_get_pd(poller->dev), &init);
	if (poller->srq == NULL) {
		rc = errno != 0 ? -errno : -EIO;
		AXON_ERRLOG("%s: cannot create an SRQ of %u: %s\n",
			    axon_rdma_device_get_name(poller->dev), poller->srq_depth, strerror(-rc));
		return rc;
	}
	poller->srq_recvs = calloc(poller->srq_depth, sizeof(*poller->srq_recvs));
	poller->srq_bufs = axon_dma_malloc((size_t)poller->srq_depth * size, 4096,
					   AXON_ENV_SOCKET_ID_ANY);
	if (poller->srq_recvs == NULL || poller->srq_bufs == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = nvmf_rdma_verbs_translate(poller->dev, poller->srq_bufs, (size_t)poller->srq_depth * size,
				  &lkey);
	if (rc != 0) {
		AXON_ERRLOG("SRQ receive buffers are not registered: %s\n", strerror(-rc));
		goto err;
	}
	rc = nvmf_rdma_poller_reserve_cqes(poller, poller->srq_depth);
	if (rc != 0) {
		goto err;
	}
	for (i = 0; i < poller->srq_depth; i++) {
		struct rdma_recv *recv = &poller->srq_recvs[i];

		recv->ctx.type = RDMA_WR_RECV;
		recv->poller = poller;
		recv->buf = poller->srq_bufs + (size_t)i * size;
		recv->sge.addr = (uintptr_t)recv->buf;
		recv->sge.length = size;
		recv->sge.lkey = lkey;
		recv->wr.wr_id = (uintptr_t)&recv->ctx;
		recv->wr.sg_list = &recv->sge;
		recv->wr.num_sge = 1;
		nvmf_rdma_recv_release(recv);
	}
	nvmf_rdma_poller_flush(poller);
	return 0;

err:
	ibv_destroy_srq(poller->srq);
	poller->srq = NULL;
	free(poller->srq_recvs);
	poller->srq_recvs = NULL;
	axon_dma_free(poller->srq_bufs);
	poller->srq_bufs = NULL;
	return rc;
}

/* ---- device pollers ------------------------------------------------------------ */

int nvmf_rdma_poller_reserve_cqes(struct rdma_device_poller *poller, uint32_t n)
{
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(poller->dev);
	uint32_t need = poller->cq_reserved + n;
	uint32_t size;

	if (need > poller->cq_size) {
		size = AXON_MAX(need, poller->cq_size * 2);
		size = AXON_MIN(size, (uint32_t)attr->max_cqe);
		if (size < need || ibv_resize_cq(poller->cq, (int)size) != 0) {
			AXON_ERRLOG("%s: the CQ cannot grow to %u entries\n",
				    axon_rdma_device_get_name(poller->dev), need);
			return -ENOMEM;
		}
		poller->cq_size = size;
	}
	poller->cq_reserved = need;
	return 0;
}

void nvmf_rdma_poller_release_cqes(struct rdma_device_poller *poller, uint32_t n)
{
	assert(poller->cq_reserved >= n);
	poller->cq_reserved -= n;
}

static void poller_destroy(struct rdma_device_poller *poller)
{
	assert(TAILQ_EMPTY(&poller->qpairs));
	TAILQ_REMOVE(&poller->rgroup->pollers, poller, link);
	/* An SRQ's posted receives vanish with it; nothing completes them. */
	if (poller->srq != NULL) {
		ibv_destroy_srq(poller->srq);
	}
	if (poller->cq != NULL) {
		ibv_destroy_cq(poller->cq);
	}
	if (poller->channel != NULL) {
		axon_thread_remove_wake_fd(poller->channel->fd);
		ibv_destroy_comp_channel(poller->channel);
	}
	free(poller->srq_recvs);
	axon_dma_free(poller->srq_bufs);
	axon_rdma_device_put(poller->dev);
	free(poller);
}

static struct rdma_device_poller *poller_create(struct rdma_poll_group *rgroup,
						struct axon_rdma_device *dev)
{
	struct rdma_transport *rtransport = rgroup->rtransport;
	const struct ibv_device_attr *attr = axon_rdma_device_get_attr(dev);
	struct ibv_context *ctx = axon_rdma_device_get_context(dev);
	struct rdma_device_poller *poller;
	int flags, rc;

	poller = calloc(1, sizeof(*poller));
	if (poller == NULL) {
		return NULL;
	}
	axon_rdma_device_get(dev);
	poller->dev = dev;
	poller->rgroup = rgroup;
	TAILQ_INIT(&poller->qpairs);
	TAILQ_INIT(&poller->to_post);
	TAILQ_INSERT_TAIL(&rgroup->pollers, poller, link);
	poller->channel = ibv_create_comp_channel(ctx);
	if (poller->channel == NULL) {
		AXON_ERRLOG("%s: cannot create a completion channel\n", axon_rdma_device_get_name(dev));
		goto err;
	}
	flags = fcntl(poller->channel->fd, F_GETFL);
	if (flags < 0 || fcntl(poller->channel->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		goto err_channel;
	}
	rc = axon_thread_add_wake_fd(poller->channel->fd, EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("cannot add the completion channel as a wake fd: %s\n", strerror(-rc));
		goto err_channel;
	}
	poller->cq_size = AXON_MIN(rtransport->sopts.num_cqe, (uint32_t)attr->max_cqe);
	poller->cq = ibv_create_cq(ctx, (int)poller->cq_size, poller, poller->channel, 0);
	if (poller->cq == NULL) {
		AXON_ERRLOG("%s: cannot create a CQ of %u entries\n", axon_rdma_device_get_name(dev),
			    poller->cq_size);
		goto err;
	}
	if (!rtransport->sopts.no_srq && attr->max_srq > 0 && poller_srq_create(poller) != 0) {
		goto err;
	}
	AXON_NOTICELOG("%s: poll group %s uses a CQ of %u%s\n", axon_rdma_device_get_name(dev),
		       axon_nvmf_poll_group_get_name(rgroup->base.group), poller->cq_size,
		       poller->srq != NULL ? " and an SRQ" : " (no SRQ)");
	return poller;

err_channel:
	ibv_destroy_comp_channel(poller->channel);
	poller->channel = NULL;
err:
	poller_destroy(poller);
	return NULL;
}

struct rdma_device_poller *nvmf_rdma_group_get_poller(struct rdma_poll_group *rgroup,
						 struct axon_rdma_device *dev)
{
	struct rdma_device_poller *poller;

	TAILQ_FOREACH(poller, &rgroup->pollers, link) {
		if (poller->dev == dev) {
			return poller;
		}
	}
	return poller_create(rgroup, dev);
}

/* Take what the channel reported (it only wakes the thread) and acknowledge it. */
static void poller_drain_channel(struct rdma_device_poller *poller)
{
	struct ibv_cq *cq;
	void *ctx;

	while (ibv_get_cq_event(poller->channel, &cq, &ctx) == 0) {
		ibv_ack_cq_events(cq, 1);
		poller->cq_armed = false;
	}
}

static int poller_poll(struct rdma_device_poller *poller)
{
	int n;

	poller->stats.polls++;
	poller_drain_channel(poller);
	n = nvmf_rdma_poller_poll_cq(poller);
	if (n == 0 && !poller->cq_armed) {
		/* About to look idle: arm, then look again for what came meanwhile. */
		if (ibv_req_notify_cq(poller->cq, 0) == 0) {
			poller->cq_armed = true;
		}
		n = nvmf_rdma_poller_poll_cq(poller);
	}
	nvmf_rdma_poller_flush(poller);
	n += nvmf_rdma_poller_check_draining(poller);
	if (n <= 0) {
		poller->stats.idle_polls++;
	}
	return n < 0 ? 0 : n;
}

/* ---- ops ---------------------------------------------------------------------------- */

struct axon_nvmf_transport_poll_group *nvmf_rdma_poll_group_create(
	struct axon_nvmf_transport *transport, struct axon_nvmf_poll_group *group)
{
	struct rdma_poll_group *rgroup;

	rgroup = calloc(1, sizeof(*rgroup));
	if (rgroup == NULL) {
		AXON_ERRLOG("out of memory for an RDMA poll group\n");
		return NULL;
	}
	rgroup->rtransport = rdma_transport_from_base(transport);
	TAILQ_INIT(&rgroup->pollers);
	TAILQ_INIT(&rgroup->pending_buf);
	TAILQ_INIT(&rgroup->to_disconnect);
	TAILQ_INIT(&rgroup->finished);
	return &rgroup->base;
}

/* lib/nvmf destroys a group once its queue pairs are gone from its view; some
 * may still wait for flushed work requests. Wait for them here, bounded: the
 * CQ they use must outlive them. */
static bool poller_drain_sync(struct rdma_device_poller *poller)
{
	uint64_t deadline = nvmf_rdma_verbs_now_us() + RDMA_DRAIN_TIMEOUT_US;

	while (!TAILQ_EMPTY(&poller->qpairs) && nvmf_rdma_verbs_now_us() < deadline) {
		nvmf_rdma_poller_poll_cq(poller);
		nvmf_rdma_poller_flush(poller);
		nvmf_rdma_poller_check_draining(poller);
	}
	return TAILQ_EMPTY(&poller->qpairs);
}

void nvmf_rdma_poll_group_destroy(struct axon_nvmf_transport_poll_group *base)
{
	struct rdma_poll_group *rgroup = rdma_group_from_base(base);
	struct rdma_device_poller *poller, *tmp;
	bool leak = false;

	TAILQ_FOREACH_SAFE(poller, &rgroup->pollers, link, tmp) {
		bool drained = poller_drain_sync(poller);

		/* lib/nvmf is done with this group: its callbacks cannot re-enter it. */
		nvmf_rdma_group_run_finished(rgroup);
		if (!drained) {
			AXON_ERRLOG("%s: queue pairs still draining at poll group destroy; "
				    "leaving its CQ\n", axon_rdma_device_get_name(poller->dev));
			leak = true;
			continue;
		}
		poller_destroy(poller);
	}
	if (!leak) {
		free(rgroup);
	}
}

int nvmf_rdma_poll_group_add(struct axon_nvmf_transport_poll_group *base,
			       struct axon_nvmf_qpair *qpair)
{
	struct rdma_poll_group *rgroup = rdma_group_from_base(base);
	struct rdma_qpair *rqpair = rdma_qpair_from_base(qpair);
	struct rdma_device_poller *poller;

	/* Pairs with nvmf_rdma_qpair_cm_disconnected(): either it sees the owner and
	 * sends it a message, or we see its flag here (or both). */
	atomic_store(&rqpair->owner, axon_get_thread());
	if (atomic_load(&rqpair->cm_disconnected)) {
		return -ENOTCONN;
	}
	if (axon_rdma_device_is_removed(rqpair->dev)) {
		return -ENODEV;
	}
	poller = nvmf_rdma_group_get_poller(rgroup, rqpair->dev);
	if (poller == NULL) {
		return -ENOMEM;
	}
	rqpair->rgroup = rgroup;
	return nvmf_rdma_qpair_setup(rqpair, poller);
}

int nvmf_rdma_poll_group_remove(struct axon_nvmf_transport_poll_group *base,
				  struct axon_nvmf_qpair *qpair)
{
	/* The queue pair stays on its device poller until its work requests are
	 * back (qpair_fini); nothing to do here. */
	return rdma_qpair_from_base(qpair)->rgroup == rdma_group_from_base(base) ? 0 : -EINVAL;
}

int nvmf_rdma_poll_group_poll(struct axon_nvmf_transport_poll_group *base)
{
	struct rdma_poll_group *rgroup = rdma_group_from_base(base);
	struct rdma_device_poller *poller, *tmp;
	int count;

	count = nvmf_rdma_group_process_pending_buf(rgroup);
	TAILQ_FOREACH_SAFE(poller, &rgroup->pollers, link, tmp) {
		count += poller_poll(poller);
		if (TAILQ_EMPTY(&poller->qpairs) && axon_rdma_device_is_removed(poller->dev)) {
			AXON_NOTICELOG("%s was removed: releasing poll group %s's CQ\n",
				       axon_rdma_device_get_name(poller->dev),
				       axon_nvmf_poll_group_get_name(base->group));
			poller_destroy(poller);
		}
	}
	count += nvmf_rdma_group_disconnect_dead(rgroup);
	/* Buffers freed on other threads and drain deadlines wake no fd: stay busy. */
	if (!TAILQ_EMPTY(&rgroup->pending_buf) || rgroup->draining != 0) {
		count++;
	}
	count += !TAILQ_EMPTY(&rgroup->finished);
	nvmf_rdma_group_run_finished(rgroup); /* last: may destroy the group */
	return count;
}

void nvmf_rdma_poll_group_dump_stat(struct axon_nvmf_transport_poll_group *base, json_t *obj)
{
	struct rdma_poll_group *rgroup = rdma_group_from_base(base);
	struct rdma_device_poller *poller;
	json_t *devices = json_array();
	json_int_t qpairs = 0, reqs = 0;

	TAILQ_FOREACH(poller, &rgroup->pollers, link) {
		struct rdma_qpair *rqpair;
		json_t *d;

		TAILQ_FOREACH(rqpair, &poller->qpairs, link) {
			qpairs++;
			reqs += nvmf_rdma_reqs_in_use(rqpair);
		}
		d = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
			      "name", axon_rdma_device_get_name(poller->dev),
			      "polls", (json_int_t)poller->stats.polls,
			      "idle_polls", (json_int_t)poller->stats.idle_polls,
			      "completions", (json_int_t)poller->stats.completions,
			      "requests", (json_int_t)poller->stats.requests,
			      "recv_doorbell_updates", (json_int_t)poller->stats.recv_wr_posts,
			      "send_doorbell_updates", (json_int_t)poller->stats.send_wr_posts,
			      "flush_errors", (json_int_t)poller->stats.flush_errors,
			      "cq_size", (json_int_t)poller->cq_size, "srq", poller->srq != NULL);
		json_array_append_new(devices, d);
	}
	json_object_set_new(obj, "qpairs", json_integer(qpairs));
	json_object_set_new(obj, "draining_qpairs", json_integer(rgroup->draining));
	json_object_set_new(obj, "requests_in_use", json_integer(reqs));
	json_object_set_new(obj, "buffers_in_use", json_integer(rgroup->buffers_in_use));
	json_object_set_new(obj, "pending_buf_waits", json_integer((json_int_t)rgroup->pending_buf_waits));
	json_object_set_new(obj, "devices", devices);
}
