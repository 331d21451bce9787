/*
 * NVMe/TCP transport: the ops table, options, listeners and poll groups.
 *
 * Listening sockets live in one sock group on the app thread, whose fd is a
 * wake fd there: a connection attempt wakes the thread, and the accept poller
 * takes at most TCP_ACCEPT_BUDGET connections per listener per poll, so a
 * flood on one listener delays nothing else. Accepting never runs on a poll
 * group's thread, so a busy poll group cannot hold back new connections;
 * lib/nvmf spreads the queue pairs over the poll groups round-robin.
 *
 * Each poll group owns one sock group (its fd a wake fd of the group's
 * thread). A poll: retry requests waiting for buffers, dispatch the readable
 * sockets (each reads within TCP_RECV_BUDGET), flush every socket's queued
 * PDUs in one writev each (lib/sock does that at the end of its poll), then
 * hand lib/nvmf the connections that ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "axon/log.h"
#include "axon/rpc.h"
#include "axon/thread.h"
#include "axon/util.h"
#include "tcp_internal.h"

/* SPDK's TCP defaults. */
#define TCP_DEFAULT_MAX_QUEUE_DEPTH 128
#define TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR 128
#define TCP_DEFAULT_IN_CAPSULE_DATA_SIZE 4096
#define TCP_DEFAULT_MAX_IO_SIZE 131072
#define TCP_DEFAULT_IO_UNIT_SIZE 131072
#define TCP_DEFAULT_MAX_AQ_DEPTH 128
#define TCP_DEFAULT_NUM_SHARED_BUFFERS 511
#define TCP_DEFAULT_BUF_CACHE_SIZE 32
#define TCP_DEFAULT_ABORT_TIMEOUT_SEC 1
#define TCP_DEFAULT_ACCEPTOR_POLL_RATE 10000
#define TCP_DEFAULT_C2H_SUCCESS true
#define TCP_DEFAULT_SOCK_PRIORITY 0
#define TCP_DEFAULT_CONTROL_MSG_NUM 32
/** Largest in_capsule_data_size: every request of a connection has that much. */
#define TCP_MAX_IN_CAPSULE_DATA_SIZE 131072
/** Transfer tags are 16 bits and name a request. */
#define TCP_MAX_REQS_PER_QPAIR 65535

static struct tcp_poll_group *tgroup_from_base(struct axon_nvmf_transport_poll_group *base)
{
	return AXON_CONTAINEROF(base, struct tcp_poll_group, base);
}

/* ---- options ------------------------------------------------------------------------ */

static void tcp_opts_init(struct axon_nvmf_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_queue_depth = TCP_DEFAULT_MAX_QUEUE_DEPTH;
	opts->max_qpairs_per_ctrlr = TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR;
	opts->in_capsule_data_size = TCP_DEFAULT_IN_CAPSULE_DATA_SIZE;
	opts->max_io_size = TCP_DEFAULT_MAX_IO_SIZE;
	opts->io_unit_size = TCP_DEFAULT_IO_UNIT_SIZE;
	opts->max_aq_depth = TCP_DEFAULT_MAX_AQ_DEPTH;
	opts->num_shared_buffers = TCP_DEFAULT_NUM_SHARED_BUFFERS;
	opts->buf_cache_size = TCP_DEFAULT_BUF_CACHE_SIZE;
	opts->abort_timeout_sec = TCP_DEFAULT_ABORT_TIMEOUT_SEC;
	opts->acceptor_poll_rate = TCP_DEFAULT_ACCEPTOR_POLL_RATE;
}

static void tcp_specific_opts_init(void *buf)
{
	struct tcp_specific_opts *sopts = buf;

	sopts->c2h_success = TCP_DEFAULT_C2H_SUCCESS;
	sopts->sock_priority = TCP_DEFAULT_SOCK_PRIORITY;
	sopts->control_msg_num = TCP_DEFAULT_CONTROL_MSG_NUM;
}

static const struct axon_rpc_param g_tcp_specific_params[] = {
	{.name = "c2h_success", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct tcp_specific_opts, c2h_success), .optional = true},
	{.name = "sock_priority", .type = AXON_RPC_PARAM_INT32,
	 .offset = offsetof(struct tcp_specific_opts, sock_priority), .optional = true,
	 .min = 0, .max = 6},
	{.name = "ack_timeout", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct tcp_specific_opts, ack_timeout), .optional = true},
	{.name = "control_msg_num", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct tcp_specific_opts, control_msg_num), .optional = true,
	 .min = 1, .max = 65535},
};

static void tcp_dump_opts(struct axon_nvmf_transport *transport, json_t *obj)
{
	struct tcp_transport *ttransport = tcp_transport_from_base(transport);

	json_object_set_new(obj, "c2h_success", json_boolean(ttransport->sopts.c2h_success));
	json_object_set_new(obj, "sock_priority", json_integer(ttransport->sopts.sock_priority));
	json_object_set_new(obj, "ack_timeout", json_integer(ttransport->sopts.ack_timeout));
	json_object_set_new(obj, "control_msg_num", json_integer(ttransport->sopts.control_msg_num));
}

static int tcp_check_opts(const struct axon_nvmf_transport_opts *opts)
{
	if (opts->in_capsule_data_size > TCP_MAX_IN_CAPSULE_DATA_SIZE) {
		AXON_ERRLOG("in_capsule_data_size %u is more than %u\n", opts->in_capsule_data_size,
			    TCP_MAX_IN_CAPSULE_DATA_SIZE);
		return -EINVAL;
	}
	if (opts->in_capsule_data_size % 16 != 0) {
		AXON_ERRLOG("in_capsule_data_size %u is not a multiple of 16\n",
			    opts->in_capsule_data_size);
		return -EINVAL;
	}
	if (opts->max_aq_depth > TCP_MAX_REQS_PER_QPAIR) {
		AXON_ERRLOG("max_aq_depth %u is more than %u\n", opts->max_aq_depth,
			    TCP_MAX_REQS_PER_QPAIR);
		return -EINVAL;
	}
	if (opts->dif_insert_or_strip || opts->zcopy) {
		AXON_ERRLOG("dif_insert_or_strip and zcopy are not supported by TCP\n");
		return -ENOTSUP;
	}
	return 0;
}

/* ---- listeners and accepting (app thread) ------------------------------------------------ */

static void tcp_listener_cb(void *arg, struct axon_sock_group *group, struct axon_sock *lsock)
{
	struct tcp_listener *listener = arg;
	struct tcp_transport *ttransport = listener->ttransport;
	int i;

	for (i = 0; i < TCP_ACCEPT_BUDGET; i++) {
		struct axon_sock *sock = axon_sock_accept(lsock);
		struct tcp_qpair *tqpair;

		if (sock == NULL) {
			if (errno != EAGAIN) {
				AXON_ERRLOG("accept on %s:%s: %s\n", listener->trid.traddr,
					    listener->trid.trsvcid, strerror(errno));
			}
			return;
		}
		tqpair = tcp_qpair_create(ttransport, sock, &listener->trid);
		if (tqpair == NULL) {
			axon_sock_close(&sock);
			continue;
		}
		AXON_DEBUGLOG(nvmf_tcp, "qpair %u: accepted on %s:%s\n", tqpair->id,
			      listener->trid.traddr, listener->trid.trsvcid);
		axon_nvmf_transport_new_qpair(&ttransport->base, &tqpair->qpair);
	}
}

static int tcp_accept_poll(void *arg)
{
	struct tcp_transport *ttransport = arg;
	int rc;

	rc = axon_sock_group_poll(ttransport->accept_group);
	return rc > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

static struct tcp_listener *tcp_find_listener(struct tcp_transport *ttransport,
					      const struct axon_nvmf_trid *trid)
{
	struct tcp_listener *listener;

	TAILQ_FOREACH(listener, &ttransport->listeners, link) {
		if (strcmp(listener->trid.traddr, trid->traddr) == 0 &&
		    strcmp(listener->trid.trsvcid, trid->trsvcid) == 0) {
			return listener;
		}
	}
	return NULL;
}

static int tcp_parse_port(const char *trsvcid, int *port)
{
	long value;

	if (axon_strtol(trsvcid, 10, &value) != 0 || value < 1 || value > 65535) {
		return -EINVAL;
	}
	*port = (int)value;
	return 0;
}

static int tcp_listen(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid)
{
	struct tcp_transport *ttransport = tcp_transport_from_base(transport);
	struct tcp_listener *listener;
	struct axon_sock_opts opts;
	int port, rc;

	if (trid->adrfam != NVMF_ADDR_FAMILY_IP4 && trid->adrfam != NVMF_ADDR_FAMILY_IP6) {
		AXON_ERRLOG("TCP listens on IPv4 or IPv6 addresses only\n");
		return -EINVAL;
	}
	if (tcp_parse_port(trid->trsvcid, &port) != 0) {
		AXON_ERRLOG("bad TCP port '%s'\n", trid->trsvcid);
		return -EINVAL;
	}
	if (tcp_find_listener(ttransport, trid) != NULL) {
		return -EEXIST;
	}
	listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		return -ENOMEM;
	}
	listener->trid = *trid;
	listener->ttransport = ttransport;
	axon_sock_opts_init(&opts);
	opts.priority = ttransport->sopts.sock_priority;
	opts.ack_timeout_ms = ttransport->sopts.ack_timeout;
	listener->sock = axon_sock_listen(trid->traddr, port, NULL, &opts);
	if (listener->sock == NULL) {
		rc = -errno;
		AXON_ERRLOG("cannot listen on %s:%s: %s\n", trid->traddr, trid->trsvcid,
			    strerror(errno));
		goto err_free;
	}
	rc = axon_sock_group_add_sock(ttransport->accept_group, listener->sock, tcp_listener_cb,
				      listener);
	if (rc != 0) {
		AXON_ERRLOG("cannot watch %s:%s: %s\n", trid->traddr, trid->trsvcid, strerror(-rc));
		goto err_close;
	}
	TAILQ_INSERT_TAIL(&ttransport->listeners, listener, link);
	AXON_NOTICELOG("NVMe/TCP target listening on %s port %s\n", trid->traddr, trid->trsvcid);
	return 0;

err_close:
	axon_sock_close(&listener->sock);
err_free:
	free(listener);
	return rc;
}

static void tcp_listener_free(struct tcp_transport *ttransport, struct tcp_listener *listener)
{
	TAILQ_REMOVE(&ttransport->listeners, listener, link);
	axon_sock_close(&listener->sock);
	free(listener);
}

static void tcp_stop_listen(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid)
{
	struct tcp_transport *ttransport = tcp_transport_from_base(transport);
	struct tcp_listener *listener = tcp_find_listener(ttransport, trid);

	if (listener != NULL) {
		tcp_listener_free(ttransport, listener);
	}
}

static void tcp_listener_discover(struct axon_nvmf_transport *transport,
				  const struct axon_nvmf_trid *trid,
				  struct nvmf_disc_log_entry *entry)
{
	entry->treq = NVMF_TREQ_NOT_REQUIRED | NVMF_TREQ_DISABLE_SQFLOW;
	entry->tsas.tcp.sectype = NVMF_TCP_SECTYPE_NONE;
}

/* ---- create / destroy (app thread) ------------------------------------------------------ */

static struct axon_nvmf_transport *tcp_create(const struct axon_nvmf_transport_opts *opts,
					      const void *specific_opts)
{
	struct tcp_transport *ttransport;
	int fd, rc;

	if (tcp_check_opts(opts) != 0) {
		return NULL;
	}
	ttransport = calloc(1, sizeof(*ttransport));
	if (ttransport == NULL) {
		AXON_ERRLOG("out of memory for the TCP transport\n");
		return NULL;
	}
	if (specific_opts != NULL) {
		ttransport->sopts = *(const struct tcp_specific_opts *)specific_opts;
	} else {
		tcp_specific_opts_init(&ttransport->sopts);
	}
	TAILQ_INIT(&ttransport->listeners);
	ttransport->accept_group = axon_sock_group_create(ttransport);
	if (ttransport->accept_group == NULL) {
		AXON_ERRLOG("cannot create the accept sock group: %s\n", strerror(errno));
		goto err_free;
	}
	fd = axon_sock_group_get_fd(ttransport->accept_group);
	rc = fd < 0 ? fd : axon_thread_add_wake_fd(fd, EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("cannot register the accept wake fd: %s\n", strerror(-rc));
		goto err_close_group;
	}
	ttransport->accept_poller = axon_poller_register_named(tcp_accept_poll, ttransport,
							       opts->acceptor_poll_rate,
							       "nvmf_tcp_accept");
	if (ttransport->accept_poller == NULL) {
		AXON_ERRLOG("cannot register the accept poller\n");
		goto err_remove_fd;
	}
	AXON_NOTICELOG("TCP transport created (in-capsule %u, max I/O %u, io unit %u, "
		       "%u shared buffers)\n", opts->in_capsule_data_size, opts->max_io_size,
		       opts->io_unit_size, opts->num_shared_buffers);
	return &ttransport->base;

err_remove_fd:
	axon_thread_remove_wake_fd(fd);
err_close_group:
	axon_sock_group_close(&ttransport->accept_group);
err_free:
	free(ttransport);
	return NULL;
}

static void tcp_destroy(struct axon_nvmf_transport *transport,
			axon_nvmf_transport_destroy_done_cb cb_fn, void *cb_arg)
{
	struct tcp_transport *ttransport = tcp_transport_from_base(transport);
	struct tcp_listener *listener;

	axon_poller_unregister(&ttransport->accept_poller);
	while ((listener = TAILQ_FIRST(&ttransport->listeners)) != NULL) {
		tcp_listener_free(ttransport, listener);
	}
	axon_thread_remove_wake_fd(axon_sock_group_get_fd(ttransport->accept_group));
	axon_sock_group_close(&ttransport->accept_group);
	free(ttransport);
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
}

/* ---- poll groups (their threads) ---------------------------------------------------------- */

static struct axon_nvmf_transport_poll_group *tcp_poll_group_create(
	struct axon_nvmf_transport *transport, struct axon_nvmf_poll_group *group)
{
	struct tcp_poll_group *tgroup;
	int rc;

	tgroup = calloc(1, sizeof(*tgroup));
	if (tgroup == NULL) {
		AXON_ERRLOG("out of memory for a TCP poll group\n");
		return NULL;
	}
	TAILQ_INIT(&tgroup->qpairs);
	TAILQ_INIT(&tgroup->pending_buf);
	TAILQ_INIT(&tgroup->to_disconnect);
	tgroup->sgroup = axon_sock_group_create(tgroup);
	if (tgroup->sgroup == NULL) {
		AXON_ERRLOG("cannot create a sock group: %s\n", strerror(errno));
		goto err_free;
	}
	tgroup->sgroup_fd = axon_sock_group_get_fd(tgroup->sgroup);
	rc = tgroup->sgroup_fd < 0 ? tgroup->sgroup_fd : axon_thread_add_wake_fd(tgroup->sgroup_fd,
										   EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("cannot register the sock group's wake fd: %s\n", strerror(-rc));
		goto err_close;
	}
	return &tgroup->base;

err_close:
	axon_sock_group_close(&tgroup->sgroup);
err_free:
	free(tgroup);
	return NULL;
}

static void tcp_poll_group_destroy(struct axon_nvmf_transport_poll_group *base)
{
	struct tcp_poll_group *tgroup = tgroup_from_base(base);

	axon_thread_remove_wake_fd(tgroup->sgroup_fd);
	if (axon_sock_group_close(&tgroup->sgroup) != 0) {
		AXON_ERRLOG("TCP poll group destroyed with sockets in it\n");
	}
	free(tgroup);
}

static int tcp_poll_group_add(struct axon_nvmf_transport_poll_group *base,
			      struct axon_nvmf_qpair *qpair)
{
	struct tcp_poll_group *tgroup = tgroup_from_base(base);
	struct tcp_qpair *tqpair = tcp_qpair_from_base(qpair);
	int rc;

	rc = axon_sock_group_add_sock(tgroup->sgroup, tqpair->sock, tcp_qpair_sock_cb, tqpair);
	if (rc != 0) {
		AXON_ERRLOG("qpair %u: cannot join the sock group: %s\n", tqpair->id, strerror(-rc));
		return rc;
	}
	tqpair->tgroup = tgroup;
	TAILQ_INSERT_TAIL(&tgroup->qpairs, tqpair, link);
	return 0;
}

static int tcp_poll_group_remove(struct axon_nvmf_transport_poll_group *base,
				 struct axon_nvmf_qpair *qpair)
{
	struct tcp_poll_group *tgroup = tgroup_from_base(base);
	struct tcp_qpair *tqpair = tcp_qpair_from_base(qpair);

	if (tqpair->tgroup != tgroup) {
		return -EINVAL;
	}
	if (tqpair->state < TCP_CONN_STATE_DISCONNECTING && tqpair->sock != NULL) {
		axon_sock_group_remove_sock(tgroup->sgroup, tqpair->sock);
	}
	TAILQ_REMOVE(&tgroup->qpairs, tqpair, link);
	/* tgroup stays set: requests still give their buffers back to its cache. */
	return 0;
}

static int tcp_poll_group_poll(struct axon_nvmf_transport_poll_group *base)
{
	struct tcp_poll_group *tgroup = tgroup_from_base(base);
	int count, rc;

	count = tcp_group_process_pending_buf(tgroup);
	rc = axon_sock_group_poll_count(tgroup->sgroup, TCP_POLL_EVENTS);
	if (rc < 0) {
		AXON_ERRLOG("sock group poll: %s\n", strerror(-rc));
		return rc;
	}
	count += rc;
	count += tcp_group_disconnect_lost(tgroup);
	/* Writes queued after the flush (by write callbacks) leave next poll:
	 * the group's fd will not wake us for them, so stay busy. */
	if (axon_sock_group_has_pending_writes(tgroup->sgroup)) {
		count++;
	}
	return count;
}

static void tcp_poll_group_dump_stat(struct axon_nvmf_transport_poll_group *base, json_t *obj)
{
	struct tcp_poll_group *tgroup = tgroup_from_base(base);
	struct tcp_qpair *tqpair;
	json_int_t qpairs = 0;

	TAILQ_FOREACH(tqpair, &tgroup->qpairs, link) {
		qpairs++;
	}
	json_object_set_new(obj, "qpairs", json_integer(qpairs));
	json_object_set_new(obj, "pdus_received", json_integer((json_int_t)tgroup->stats.pdus_received));
	json_object_set_new(obj, "fatal_errors", json_integer((json_int_t)tgroup->stats.fatal_errors));
	json_object_set_new(obj, "pending_buf_waits",
			    json_integer((json_int_t)tgroup->stats.pending_buf_waits));
}

/* ---- queue pair addresses -------------------------------------------------------------- */

static int tcp_fill_trid(struct tcp_qpair *tqpair, struct axon_nvmf_trid *trid, bool peer)
{
	char addr[64];
	uint16_t port;
	int rc;

	if (tqpair->sock == NULL) {
		return -ENOTCONN;
	}
	if (peer) {
		rc = axon_sock_getaddr(tqpair->sock, NULL, 0, NULL, addr, sizeof(addr), &port);
	} else {
		rc = axon_sock_getaddr(tqpair->sock, addr, sizeof(addr), &port, NULL, 0, NULL);
	}
	if (rc != 0) {
		return rc;
	}
	memset(trid, 0, sizeof(*trid));
	trid->trtype = NVMF_TRTYPE_TCP;
	trid->adrfam = strchr(addr, ':') != NULL ? NVMF_ADDR_FAMILY_IP6 : NVMF_ADDR_FAMILY_IP4;
	snprintf(trid->trstring, sizeof(trid->trstring), "TCP");
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", addr);
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%u", port);
	return 0;
}

static int tcp_qpair_get_peer_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	return tcp_fill_trid(tcp_qpair_from_base(qpair), trid, true);
}

static int tcp_qpair_get_local_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	return tcp_fill_trid(tcp_qpair_from_base(qpair), trid, false);
}

static int tcp_qpair_get_listen_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	*trid = tcp_qpair_from_base(qpair)->listen_trid;
	return 0;
}

static const struct axon_nvmf_transport_ops g_tcp_ops = {
	.name = "TCP",
	.type = NVMF_TRTYPE_TCP,
	.opts_init = tcp_opts_init,
	.specific_params = g_tcp_specific_params,
	.num_specific_params = AXON_COUNTOF(g_tcp_specific_params),
	.specific_opts_size = sizeof(struct tcp_specific_opts),
	.specific_opts_init = tcp_specific_opts_init,
	.create = tcp_create,
	.dump_opts = tcp_dump_opts,
	.destroy = tcp_destroy,
	.listen = tcp_listen,
	.stop_listen = tcp_stop_listen,
	.listener_discover = tcp_listener_discover,
	.poll_group_create = tcp_poll_group_create,
	.poll_group_destroy = tcp_poll_group_destroy,
	.poll_group_add = tcp_poll_group_add,
	.poll_group_remove = tcp_poll_group_remove,
	.poll_group_poll = tcp_poll_group_poll,
	.req_complete = tcp_req_complete,
	.qpair_fini = tcp_qpair_fini,
	.qpair_get_peer_trid = tcp_qpair_get_peer_trid,
	.qpair_get_local_trid = tcp_qpair_get_local_trid,
	.qpair_get_listen_trid = tcp_qpair_get_listen_trid,
	.qpair_abort_request = tcp_qpair_abort_request,
	.poll_group_dump_stat = tcp_poll_group_dump_stat,
};
AXON_NVMF_TRANSPORT_REGISTER(tcp, &g_tcp_ops)
