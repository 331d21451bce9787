/*
 * The RPC server on the app thread: lib/jsonrpc's socket, polled by a
 * poller, with its fd registered to wake the thread from adaptive sleep.
 */
#include <errno.h>
#include <sys/epoll.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "rpc_internal.h"

static struct axon_jsonrpc_server *g_server;
static struct axon_poller *g_poller;

static int rpc_server_poll(void *ctx)
{
	return axon_jsonrpc_server_poll(ctx) > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

int axon_rpc_server_start(const char *path)
{
	struct axon_jsonrpc_server *server;
	struct axon_poller *poller;
	int rc;

	if (g_server != NULL) {
		AXON_ERRLOG("the RPC server is already running");
		return -EALREADY;
	}
	rc = rpc_registry_check();
	if (rc != 0) {
		return rc;
	}
	server = axon_jsonrpc_server_listen(path, NULL, rpc_jsonrpc_handler, NULL, &rc);
	if (server == NULL) {
		return rc;
	}
	poller = axon_poller_register_named(rpc_server_poll, server, 0, "rpc_server");
	if (poller == NULL) {
		AXON_ERRLOG("cannot register the RPC server poller (not on an axon_thread?)");
		rc = -ENOMEM;
		goto err_close;
	}
	rc = axon_thread_add_wake_fd(axon_jsonrpc_server_get_fd(server), EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("cannot watch the RPC socket for adaptive polling: %d", rc);
		goto err_poller;
	}
	g_server = server;
	g_poller = poller;
	return 0;
err_poller:
	axon_poller_unregister(&poller);
err_close:
	axon_jsonrpc_server_close(server);
	return rc;
}

void axon_rpc_server_stop(void)
{
	if (g_server == NULL) {
		return;
	}
	axon_thread_remove_wake_fd(axon_jsonrpc_server_get_fd(g_server));
	axon_poller_unregister(&g_poller);
	/* From inside a handler the close waits for the current poll to end. */
	axon_jsonrpc_server_close(g_server);
	g_server = NULL;
}
