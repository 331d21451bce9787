/*
 * NVMe/RDMA transport: the ops table, options, listeners and CM events.
 *
 * One RDMA CM event channel per transport, on the app thread (lib/rdma polls
 * it, its fd a wake fd). Listeners are CM ids bound to an address and port.
 * A connect request is checked (nvmf_rdma_cm_check_req) and refused on the spot
 * with the NVMe-oF reject status when bad; a good one becomes a queue pair
 * handed to lib/nvmf, and the poll group it lands on creates the QP and
 * accepts. Later CM events of a connection (disconnect, device removal,
 * address change, errors) are passed to its poll group's thread: the app
 * thread never calls a verb on a connection it handed over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "axon/event.h"
#include "axon/log.h"
#include "axon/rpc.h"
#include "axon/thread.h"
#include "rdma_internal.h"

/* SPDK's RDMA defaults. */
#define RDMA_DEFAULT_MAX_QUEUE_DEPTH 128
#define RDMA_DEFAULT_MAX_QPAIRS_PER_CTRLR 128
#define RDMA_DEFAULT_IN_CAPSULE_DATA_SIZE 4096
#define RDMA_DEFAULT_MAX_IO_SIZE 131072
#define RDMA_DEFAULT_IO_UNIT_SIZE 8192
#define RDMA_DEFAULT_MAX_AQ_DEPTH 128
#define RDMA_DEFAULT_NUM_SHARED_BUFFERS 4095
#define RDMA_DEFAULT_BUF_CACHE_SIZE 32
#define RDMA_DEFAULT_ABORT_TIMEOUT_SEC 1
#define RDMA_DEFAULT_ACCEPTOR_POLL_RATE 10000
#define RDMA_DEFAULT_MAX_SRQ_DEPTH 4096
#define RDMA_DEFAULT_NUM_CQE 4096
/** Largest in_capsule_data_size: every receive buffer has that much. */
#define RDMA_MAX_IN_CAPSULE_DATA_SIZE 131072
/** Requests of a queue pair are indexed by 16 bits. */
#define RDMA_MAX_QUEUE_ENTRIES (65535 / RDMA_REQS_PER_SQ_ENTRY)

/* ---- options ------------------------------------------------------------------------ */

static void rdma_opts_init(struct axon_nvmf_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_queue_depth = RDMA_DEFAULT_MAX_QUEUE_DEPTH;
	opts->max_qpairs_per_ctrlr = RDMA_DEFAULT_MAX_QPAIRS_PER_CTRLR;
	opts->in_capsule_data_size = RDMA_DEFAULT_IN_CAPSULE_DATA_SIZE;
	opts->max_io_size = RDMA_DEFAULT_MAX_IO_SIZE;
	opts->io_unit_size = RDMA_DEFAULT_IO_UNIT_SIZE;
	opts->max_aq_depth = RDMA_DEFAULT_MAX_AQ_DEPTH;
	opts->num_shared_buffers = RDMA_DEFAULT_NUM_SHARED_BUFFERS;
	opts->buf_cache_size = RDMA_DEFAULT_BUF_CACHE_SIZE;
	opts->abort_timeout_sec = RDMA_DEFAULT_ABORT_TIMEOUT_SEC;
	opts->acceptor_poll_rate = RDMA_DEFAULT_ACCEPTOR_POLL_RATE;
}

static void rdma_specific_opts_init(void *buf)
{
	struct rdma_specific_opts *sopts = buf;

	sopts->max_srq_depth = RDMA_DEFAULT_MAX_SRQ_DEPTH;
	sopts->no_srq = false;
	sopts->num_cqe = RDMA_DEFAULT_NUM_CQE;
	sopts->acceptor_backlog = RDMA_DEFAULT_ACCEPTOR_BACKLOG;
}

static const struct axon_rpc_param g_rdma_specific_params[] = {
	{.name = "max_srq_depth", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rdma_specific_opts, max_srq_depth), .optional = true,
	 .min = 2, .max = 1u << 20},
	{.name = "no_srq", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rdma_specific_opts, no_srq), .optional = true},
	{.name = "num_cqe", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rdma_specific_opts, num_cqe), .optional = true,
	 .min = 16, .max = 1u << 22},
	{.name = "acceptor_backlog", .type = AXON_RPC_PARAM_INT32,
	 .offset = offsetof(struct rdma_specific_opts, acceptor_backlog), .optional = true,
	 .min = 1, .max = 65535},
	{.name = "no_wr_batching", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rdma_specific_opts, no_wr_batching), .optional = true},
	{.name = "data_wr_pool_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rdma_specific_opts, data_wr_pool_size), .optional = true},
};

static void rdma_dump_opts(struct axon_nvmf_transport *transport, json_t *obj)
{
	struct rdma_transport *rtransport = rdma_transport_from_base(transport);

	json_object_set_new(obj, "max_srq_depth", json_integer(rtransport->sopts.max_srq_depth));
	json_object_set_new(obj, "no_srq", json_boolean(rtransport->sopts.no_srq));
	json_object_set_new(obj, "num_cqe", json_integer(rtransport->sopts.num_cqe));
	json_object_set_new(obj, "acceptor_backlog", json_integer(rtransport->sopts.acceptor_backlog));
	json_object_set_new(obj, "no_wr_batching", json_boolean(rtransport->sopts.no_wr_batching));
	json_object_set_new(obj, "data_wr_pool_size", json_integer(rtransport->sopts.data_wr_pool_size));
}

static int rdma_check_opts(const struct axon_nvmf_transport_opts *opts)
{
	if (opts->in_capsule_data_size > RDMA_MAX_IN_CAPSULE_DATA_SIZE ||
	    opts->in_capsule_data_size % 16 != 0) {
		AXON_ERRLOG("in_capsule_data_size %u: expected a multiple of 16 up to %u\n",
			    opts->in_capsule_data_size, RDMA_MAX_IN_CAPSULE_DATA_SIZE);
		return -EINVAL;
	}
	if (opts->max_queue_depth > RDMA_MAX_QUEUE_ENTRIES ||
	    opts->max_aq_depth > RDMA_MAX_QUEUE_ENTRIES) {
		AXON_ERRLOG("max_queue_depth and max_aq_depth are limited to %u\n",
			    RDMA_MAX_QUEUE_ENTRIES);
		return -EINVAL;
	}
	/* A keyed SGL's length is 24 bits. */
	if (opts->max_io_size > (1u << 24) - 1) {
		AXON_ERRLOG("max_io_size %u is more than a keyed SGL carries\n", opts->max_io_size);
		return -EINVAL;
	}
	if (opts->dif_insert_or_strip || opts->zcopy) {
		AXON_ERRLOG("dif_insert_or_strip and zcopy are not supported by RDMA\n");
		return -ENOTSUP;
	}
	return 0;
}

/* ---- CM events (app thread) ------------------------------------------------------------ */

static void cm_reject(struct rdma_cm_id *id, uint16_t status)
{
	struct rdma_cm_reject_pdata pd;

	nvmf_rdma_cm_build_reject(&pd, status);
	if (rdma_reject(id, &pd, sizeof(pd)) != 0) {
		AXON_ERRLOG("rdma_reject failed: %s\n", strerror(errno));
	}
}

static int cm_connect_request(struct rdma_cm_id *id, struct rdma_cm_event *event, void *arg)
{
	struct rdma_transport *rtransport = arg;
	struct rdma_listener *listener = event->listen_id->context;
	const struct rdma_conn_param *param = &event->param.conn;
	struct rdma_cm_conn_req conn;
	struct rdma_qpair *rqpair;
	uint16_t status;

	status = nvmf_rdma_cm_check_req(param->private_data, param->private_data_len,
				   param->initiator_depth, param->responder_resources,
				   &rtransport->base.opts, &conn);
	if (status != 0) {
		AXON_WARNLOG("rejecting a connect request on %s:%s: %s\n", listener->trid.traddr,
			     listener->trid.trsvcid, nvmf_rdma_cm_reject_str(status));
		cm_reject(id, status);
		return AXON_RDMA_CM_DESTROY_ID;
	}
	rqpair = nvmf_rdma_qpair_create(rtransport, id, &conn, &listener->trid);
	if (rqpair == NULL) {
		cm_reject(id, RDMA_CM_REJECT_NO_RESOURCES);
		return AXON_RDMA_CM_DESTROY_ID;
	}
	AXON_DEBUGLOG(nvmf_rdma, "qpair %u: connect request qid %u hsqsize %u hrqsize %u\n",
		      rqpair->id, conn.qid, conn.sq_entries - 1u, conn.hrqsize);
	axon_nvmf_transport_new_qpair(&rtransport->base, &rqpair->qpair);
	return AXON_RDMA_CM_KEEP_ID;
}

static struct rdma_listener *find_listener_by_id(struct rdma_transport *rtransport,
						 const struct rdma_cm_id *id)
{
	struct rdma_listener *listener;

	TAILQ_FOREACH(listener, &rtransport->listeners, link) {
		if (listener->id == id) {
			return listener;
		}
	}
	return NULL;
}

/* The connection is over (or its device or address is): its poll group hears. */
static int cm_conn_gone(struct rdma_cm_id *id, struct rdma_cm_event *event, void *arg)
{
	struct rdma_transport *rtransport = arg;
	struct rdma_listener *listener = find_listener_by_id(rtransport, id);

	if (listener != NULL) {
		if (event->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
			AXON_WARNLOG("RDMA device of %s:%s removed: listener stopped\n",
				     listener->trid.traddr, listener->trid.trsvcid);
			listener->id = NULL;
			return AXON_RDMA_CM_DESTROY_ID;
		}
		return AXON_RDMA_CM_KEEP_ID;
	}
	if (id->context != NULL) {
		AXON_DEBUGLOG(nvmf_rdma, "qpair %u: CM event %s\n",
			      ((struct rdma_qpair *)id->context)->id,
			      axon_rdma_cm_event_name(event->event));
		nvmf_rdma_qpair_cm_disconnected(id->context);
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static int cm_established(struct rdma_cm_id *id, struct rdma_cm_event *event, void *arg)
{
	if (id->context != NULL) {
		AXON_DEBUGLOG(nvmf_rdma, "qpair %u: established\n",
			      ((struct rdma_qpair *)id->context)->id);
	}
	return AXON_RDMA_CM_KEEP_ID;
}

static const struct axon_rdma_cm_handlers g_cm_handlers = {
	.connect_request = cm_connect_request,
	.established = cm_established,
	.disconnected = cm_conn_gone,
	.device_removal = cm_conn_gone,
	.addr_change = cm_conn_gone,
	.rejected = cm_conn_gone,
	.unreachable = cm_conn_gone,
	.error = cm_conn_gone,
};

/* ---- listeners (app thread) ----------------------------------------------------------------- */

static struct rdma_listener *find_listener(struct rdma_transport *rtransport,
					   const struct axon_nvmf_trid *trid)
{
	struct rdma_listener *listener;

	TAILQ_FOREACH(listener, &rtransport->listeners, link) {
		if (strcmp(listener->trid.traddr, trid->traddr) == 0 &&
		    strcmp(listener->trid.trsvcid, trid->trsvcid) == 0) {
			return listener;
		}
	}
	return NULL;
}

static int resolve_addr(const struct axon_nvmf_trid *trid, struct sockaddr_storage *ss)
{
	struct addrinfo hints = {0}, *res = NULL;
	long port;
	int rc;

	if (axon_strtol(trid->trsvcid, 10, &port) != 0 || port < 1 || port > 65535) {
		return -EINVAL;
	}
	hints.ai_family = trid->adrfam == NVMF_ADDR_FAMILY_IP6 ? AF_INET6 : AF_INET;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(trid->traddr, trid->trsvcid, &hints, &res);
	if (rc != 0 || res == NULL) {
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static int rdma_transport_listen(struct axon_nvmf_transport *transport,
				 const struct axon_nvmf_trid *trid)
{
	struct rdma_transport *rtransport = rdma_transport_from_base(transport);
	struct rdma_listener *listener;
	struct sockaddr_storage ss;
	int rc;

	if (trid->adrfam != NVMF_ADDR_FAMILY_IP4 && trid->adrfam != NVMF_ADDR_FAMILY_IP6) {
		AXON_ERRLOG("RDMA listens on IPv4 or IPv6 addresses only\n");
		return -EINVAL;
	}
	if (resolve_addr(trid, &ss) != 0) {
		AXON_ERRLOG("bad RDMA listen address %s:%s\n", trid->traddr, trid->trsvcid);
		return -EINVAL;
	}
	if (find_listener(rtransport, trid) != NULL) {
		return -EEXIST;
	}
	listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		return -ENOMEM;
	}
	listener->trid = *trid;
	listener->rtransport = rtransport;
	if (rdma_create_id(axon_rdma_cm_get_channel(rtransport->cm), &listener->id, listener,
			   RDMA_PS_TCP) != 0) {
		rc = -errno;
		AXON_ERRLOG("rdma_create_id: %s\n", strerror(errno));
		goto err_free;
	}
	if (rdma_bind_addr(listener->id, (struct sockaddr *)&ss) != 0) {
		rc = -errno;
		AXON_ERRLOG("cannot bind to %s:%s: %s\n", trid->traddr, trid->trsvcid, strerror(errno));
		goto err_destroy;
	}
	if (rdma_listen(listener->id, rtransport->sopts.acceptor_backlog) != 0) {
		rc = -errno;
		AXON_ERRLOG("cannot listen on %s:%s: %s\n", trid->traddr, trid->trsvcid,
			    strerror(errno));
		goto err_destroy;
	}
	TAILQ_INSERT_TAIL(&rtransport->listeners, listener, link);
	AXON_NOTICELOG("NVMe/RDMA target listening on %s port %s\n", trid->traddr, trid->trsvcid);
	return 0;

err_destroy:
	rdma_destroy_id(listener->id);
err_free:
	free(listener);
	return rc;
}

static void listener_free(struct rdma_transport *rtransport, struct rdma_listener *listener)
{
	TAILQ_REMOVE(&rtransport->listeners, listener, link);
	if (listener->id != NULL) {
		rdma_destroy_id(listener->id);
	}
	free(listener);
}

static void rdma_transport_stop_listen(struct axon_nvmf_transport *transport,
				       const struct axon_nvmf_trid *trid)
{
	struct rdma_transport *rtransport = rdma_transport_from_base(transport);
	struct rdma_listener *listener = find_listener(rtransport, trid);

	if (listener != NULL) {
		listener_free(rtransport, listener);
	}
}

static void rdma_listener_discover(struct axon_nvmf_transport *transport,
				   const struct axon_nvmf_trid *trid,
				   struct nvmf_disc_log_entry *entry)
{
	entry->treq = NVMF_TREQ_NOT_REQUIRED;
	entry->tsas.rdma.qptype = NVMF_RDMA_QPTYPE_CONNECTED;
	entry->tsas.rdma.prtype = NVMF_RDMA_PRTYPE_NOT_SPECIFIED;
	entry->tsas.rdma.cms = NVMF_RDMA_CMS_RDMA_CM;
}

/* ---- create / destroy (app thread) ------------------------------------------------------ */

static struct axon_nvmf_transport *rdma_create(const struct axon_nvmf_transport_opts *opts,
					       const void *specific_opts)
{
	struct rdma_transport *rtransport;

	if (rdma_check_opts(opts) != 0) {
		return NULL;
	}
	if (!axon_rdma_is_initialized() || axon_rdma_device_count() == 0) {
		AXON_ERRLOG("no RDMA device: the RDMA transport needs one (see rdma_get_devices)\n");
		return NULL;
	}
	rtransport = calloc(1, sizeof(*rtransport));
	if (rtransport == NULL) {
		AXON_ERRLOG("out of memory for the RDMA transport\n");
		return NULL;
	}
	if (specific_opts != NULL) {
		rtransport->sopts = *(const struct rdma_specific_opts *)specific_opts;
	} else {
		rdma_specific_opts_init(&rtransport->sopts);
	}
	/* create is handed the options only now; the CM handlers need them at once. */
	rtransport->base.opts = *opts;
	rtransport->app_thread = axon_get_thread();
	TAILQ_INIT(&rtransport->listeners);
	TAILQ_INIT(&rtransport->conns);
	rtransport->cm = axon_rdma_cm_create(&g_cm_handlers, rtransport);
	if (rtransport->cm == NULL) {
		free(rtransport);
		return NULL;
	}
	AXON_NOTICELOG("RDMA transport created (in-capsule %u, max I/O %u, io unit %u, %u shared "
		       "buffers, %s)\n", opts->in_capsule_data_size, opts->max_io_size,
		       opts->io_unit_size, opts->num_shared_buffers,
		       rtransport->sopts.no_srq ? "no SRQ" : "SRQ when the device has one");
	return &rtransport->base;
}

static void rdma_destroy(struct axon_nvmf_transport *transport,
			 axon_nvmf_transport_destroy_done_cb cb_fn, void *cb_arg)
{
	struct rdma_transport *rtransport = rdma_transport_from_base(transport);
	struct rdma_listener *listener;

	while ((listener = TAILQ_FIRST(&rtransport->listeners)) != NULL) {
		listener_free(rtransport, listener);
	}
	if (TAILQ_EMPTY(&rtransport->conns)) {
		axon_rdma_cm_destroy(rtransport->cm);
		free(rtransport);
	} else {
		/* Their cm_ids live on the channel: keep both rather than crash. */
		AXON_ERRLOG("RDMA transport destroyed with connections left; leaking them\n");
	}
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
}

/* ---- queue pair addresses ---------------------------------------------------------------- */

static int fill_trid(struct rdma_qpair *rqpair, struct axon_nvmf_trid *trid, bool peer)
{
	struct sockaddr *sa;
	char addr[INET6_ADDRSTRLEN] = "";
	uint16_t port;

	if (rqpair->cm_id == NULL) {
		return -ENOTCONN;
	}
	sa = peer ? rdma_get_peer_addr(rqpair->cm_id) : rdma_get_local_addr(rqpair->cm_id);
	memset(trid, 0, sizeof(*trid));
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		trid->adrfam = NVMF_ADDR_FAMILY_IP4;
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		trid->adrfam = NVMF_ADDR_FAMILY_IP6;
	} else {
		return -EAFNOSUPPORT;
	}
	port = peer ? rdma_get_dst_port(rqpair->cm_id) : rdma_get_src_port(rqpair->cm_id);
	trid->trtype = NVMF_TRTYPE_RDMA;
	snprintf(trid->trstring, sizeof(trid->trstring), "RDMA");
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", addr);
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%u", ntohs(port));
	return 0;
}

static int rdma_qpair_get_peer_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	return fill_trid(rdma_qpair_from_base(qpair), trid, true);
}

static int rdma_qpair_get_local_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	return fill_trid(rdma_qpair_from_base(qpair), trid, false);
}

static int rdma_qpair_get_listen_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	*trid = rdma_qpair_from_base(qpair)->listen_trid;
	return 0;
}

static const struct axon_nvmf_transport_ops g_rdma_ops = {
	.name = "RDMA",
	.type = NVMF_TRTYPE_RDMA,
	.opts_init = rdma_opts_init,
	.specific_params = g_rdma_specific_params,
	.num_specific_params = AXON_COUNTOF(g_rdma_specific_params),
	.specific_opts_size = sizeof(struct rdma_specific_opts),
	.specific_opts_init = rdma_specific_opts_init,
	.create = rdma_create,
	.dump_opts = rdma_dump_opts,
	.destroy = rdma_destroy,
	.listen = rdma_transport_listen,
	.stop_listen = rdma_transport_stop_listen,
	.listener_discover = rdma_listener_discover,
	.poll_group_create = nvmf_rdma_poll_group_create,
	.poll_group_destroy = nvmf_rdma_poll_group_destroy,
	.poll_group_add = nvmf_rdma_poll_group_add,
	.poll_group_remove = nvmf_rdma_poll_group_remove,
	.poll_group_poll = nvmf_rdma_poll_group_poll,
	.req_complete = nvmf_rdma_req_complete,
	.qpair_fini = nvmf_rdma_qpair_fini,
	.qpair_get_peer_trid = rdma_qpair_get_peer_trid,
	.qpair_get_local_trid = rdma_qpair_get_local_trid,
	.qpair_get_listen_trid = rdma_qpair_get_listen_trid,
	.qpair_abort_request = nvmf_rdma_qpair_abort_request,
	.poll_group_dump_stat = nvmf_rdma_poll_group_dump_stat,
};
AXON_NVMF_TRANSPORT_REGISTER(rdma, &g_rdma_ops)
/* Our poll groups hold devices, CQs and QPs: the target must stop before lib/rdma. */
AXON_SUBSYSTEM_DEPEND(nvmf, rdma)
