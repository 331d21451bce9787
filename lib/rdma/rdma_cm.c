/*
 * The RDMA CM: an event channel polled by a poller of one axon_thread, and
 * queue pairs created on CM ids in the shared PD of their device.
 *
 * The channel's fd is non-blocking and a wake fd of the thread: the poller
 * is active, but a thread with nothing else to do sleeps until an event comes.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <rdma/rdma_cma.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "rdma_internal.h"

/* Events handled per poll: connection set-up is control plane, keep it short. */
#define RDMA_CM_POLL_BUDGET 16

struct axon_rdma_cm {
	struct rdma_event_channel *channel;
	struct axon_poller *poller;
	struct axon_thread *thread;
	struct axon_rdma_cm_handlers handlers;
	void *cb_arg;
	bool wake_fd;
};

const char *
axon_rdma_cm_event_name(int event_type)
{
	return rdma_event_str((enum rdma_cm_event_type)event_type);
}

static axon_rdma_cm_handler
cm_handler_for(const struct axon_rdma_cm_handlers *h, enum rdma_cm_event_type type)
{
	switch (type) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		return h->connect_request;
	case RDMA_CM_EVENT_ESTABLISHED:
		return h->established;
	case RDMA_CM_EVENT_DISCONNECTED:
		return h->disconnected;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return h->device_removal;
	case RDMA_CM_EVENT_ADDR_CHANGE:
		return h->addr_change;
	case RDMA_CM_EVENT_REJECTED:
		return h->rejected;
	case RDMA_CM_EVENT_UNREACHABLE:
		return h->unreachable;
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		return h->addr_resolved;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		return h->route_resolved;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		return h->connect_response;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return h->error;
	case RDMA_CM_EVENT_TIMEWAIT_EXIT:
		return h->timewait_exit;
	default:
		return h->other;
	}
}

/* The device goes away: mark it before anyone handles the event, so that no
 * new user finds it while the present ones drain. */
static void
cm_mark_device_removed(struct rdma_cm_id *id)
{
	struct axon_rdma_device *dev = axon_rdma_device_get_by_context(id->verbs);

	if (dev != NULL) {
		axon_rdma_device_set_removed(dev);
		axon_rdma_device_put(dev);
	}
}

static void
cm_dispatch(struct axon_rdma_cm *cm, struct rdma_cm_event *event)
{
	struct rdma_cm_id *id = event->id;
	enum rdma_cm_event_type type = event->event;
	axon_rdma_cm_handler handler;
	int action = AXON_RDMA_CM_KEEP_ID;

	AXON_DEBUGLOG(rdma, "CM event %s on id %p (status %d)\n", rdma_event_str(type), (void *)id,
		      event->status);
	if (type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
		cm_mark_device_removed(id);
	}
	handler = cm_handler_for(&cm->handlers, type);
	if (handler != NULL) {
		action = handler(id, event, cm->cb_arg);
	}
	/* The id must not be destroyed while one of its events is unacknowledged. */
	if (rdma_ack_cm_event(event) != 0) {
		AXON_ERRLOG("rdma_ack_cm_event(%s) failed: %s\n", rdma_event_str(type),
			    strerror(errno));
	}
	if (action == AXON_RDMA_CM_DESTROY_ID) {
		if (id->qp != NULL) {
			rdma_destroy_qp(id);
		}
		if (rdma_destroy_id(id) != 0) {
			AXON_ERRLOG("rdma_destroy_id failed: %s\n", strerror(errno));
		}
	}
}

uint32_t
axon_rdma_cm_process_events(struct axon_rdma_cm *cm, uint32_t max_events)
{
	struct rdma_cm_event *event;
	uint32_t n;

	if (max_events == 0) {
		max_events = RDMA_CM_POLL_BUDGET;
	}
	for (n = 0; n < max_events; n++) {
		if (rdma_get_cm_event(cm->channel, &event) != 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				AXON_ERRLOG("rdma_get_cm_event failed: %s\n", strerror(errno));
			}
			break;
		}
		cm_dispatch(cm, event);
	}
	return n;
}

static int
rdma_cm_poll(void *arg)
{
	return axon_rdma_cm_process_events(arg, RDMA_CM_POLL_BUDGET) > 0 ? AXON_POLLER_BUSY
									  : AXON_POLLER_IDLE;
}

struct axon_rdma_cm *
axon_rdma_cm_create(const struct axon_rdma_cm_handlers *handlers, void *cb_arg)
{
	struct axon_rdma_cm *cm;
	int flags, rc;

	if (axon_get_thread() == NULL) {
		AXON_ERRLOG("an RDMA CM channel must be created on an axon_thread\n");
		return NULL;
	}
	cm = calloc(1, sizeof(*cm));
	if (cm == NULL) {
		AXON_ERRLOG("out of memory for an RDMA CM channel\n");
		return NULL;
	}
	if (handlers != NULL) {
		cm->handlers = *handlers;
	}
	cm->cb_arg = cb_arg;
	cm->thread = axon_get_thread();
	cm->channel = rdma_create_event_channel();
	if (cm->channel == NULL) {
		AXON_ERRLOG("cannot create an RDMA CM event channel: %s\n", strerror(errno));
		goto free_cm;
	}
	flags = fcntl(cm->channel->fd, F_GETFL);
	if (flags < 0 || fcntl(cm->channel->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		AXON_ERRLOG("cannot make the RDMA CM channel non-blocking: %s\n", strerror(errno));
		goto destroy_channel;
	}
	cm->poller = axon_poller_register(rdma_cm_poll, cm, 0);
	if (cm->poller == NULL) {
		AXON_ERRLOG("cannot register the RDMA CM poller\n");
		goto destroy_channel;
	}
	rc = axon_thread_add_wake_fd(cm->channel->fd, EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("cannot add the RDMA CM fd as a wake fd: %s\n", strerror(-rc));
		goto unregister_poller;
	}
	cm->wake_fd = true;
	return cm;

unregister_poller:
	axon_poller_unregister(&cm->poller);
destroy_channel:
	rdma_destroy_event_channel(cm->channel);
free_cm:
	free(cm);
	return NULL;
}

struct rdma_event_channel *
axon_rdma_cm_get_channel(struct axon_rdma_cm *cm)
{
	return cm->channel;
}

void
axon_rdma_cm_destroy(struct axon_rdma_cm *cm)
{
	if (cm == NULL) {
		return;
	}
	assert(axon_get_thread() == cm->thread);
	if (cm->wake_fd) {
		axon_thread_remove_wake_fd(cm->channel->fd);
	}
	axon_poller_unregister(&cm->poller);
	rdma_destroy_event_channel(cm->channel);
	free(cm);
}

/* ---- queue pairs ----------------------------------------------------------------------- */

static uint32_t
clamp_cap(const char *what, uint32_t want, int limit)
{
	if (limit > 0 && want > (uint32_t)limit) {
		AXON_NOTICELOG("QP %s %u lowered to the device's limit %d\n", what, want, limit);
		return (uint32_t)limit;
	}
	return want;
}

static void
qp_init_attr_fill(struct ibv_qp_init_attr *attr, const struct axon_rdma_qp_opts *opts,
		  const struct ibv_device_attr *dattr)
{
	memset(attr, 0, sizeof(*attr));
	attr->qp_type = IBV_QPT_RC;
	attr->qp_context = opts->qp_context;
	attr->send_cq = opts->send_cq;
	attr->recv_cq = opts->recv_cq;
	attr->srq = opts->srq;
	attr->cap.max_send_wr = clamp_cap("max_send_wr", opts->max_send_wr, dattr->max_qp_wr);
	attr->cap.max_send_sge = clamp_cap("max_send_sge", opts->max_send_sge, dattr->max_sge);
	attr->cap.max_inline_data = opts->max_inline_data;
	if (opts->srq == NULL) {
		attr->cap.max_recv_wr = clamp_cap("max_recv_wr", opts->max_recv_wr,
						  dattr->max_qp_wr);
		attr->cap.max_recv_sge = clamp_cap("max_recv_sge", opts->max_recv_sge,
						   dattr->max_sge);
	}
}

int
axon_rdma_qp_create(struct rdma_cm_id *id, struct axon_rdma_qp_opts *opts)
{
	struct ibv_qp_init_attr attr;
	struct axon_rdma_device *dev;
	int rc = 0;

	if (id == NULL || opts == NULL || opts->send_cq == NULL || opts->recv_cq == NULL ||
	    opts->max_send_wr == 0 || opts->max_send_sge == 0 ||
	    (opts->srq == NULL && (opts->max_recv_wr == 0 || opts->max_recv_sge == 0))) {
		return -EINVAL;
	}
	dev = axon_rdma_device_get_by_context(id->verbs);
	if (dev == NULL) {
		return -ENODEV;
	}
	if (dev->ctx != id->verbs) {
		/* Only librdmacm's context takes CM QPs; this device was opened without it. */
		AXON_ERRLOG("%s: its PD is not on the RDMA CM's context\n", dev->name);
		rc = -ENODEV;
		goto put;
	}
	qp_init_attr_fill(&attr, opts, &dev->attr);
	if (rdma_create_qp(id, dev->pd, &attr) != 0) {
		rc = errno != 0 ? -errno : -EIO;
		AXON_ERRLOG("%s: rdma_create_qp failed: %s\n", dev->name, strerror(-rc));
		goto put;
	}
	opts->max_send_wr = attr.cap.max_send_wr;
	opts->max_send_sge = attr.cap.max_send_sge;
	opts->max_inline_data = attr.cap.max_inline_data;
	if (opts->srq == NULL) {
		opts->max_recv_wr = attr.cap.max_recv_wr;
		opts->max_recv_sge = attr.cap.max_recv_sge;
	}
put:
	axon_rdma_device_put(dev);
	return rc;
}
