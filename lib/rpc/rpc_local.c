/*
 * In-process calls (config replay): the same dispatch as a socket request,
 * with a callback where the connection would be.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "rpc_internal.h"

static void local_finish(struct axon_rpc_request *req, json_t *result, json_t *error)
{
	if (result == NULL && error == NULL) {
		result = json_null();
	}
	req->cb(req->cb_ctx, error ? NULL : result, error);
	json_decref(result);
	json_decref(error);
	json_decref(req->params);
	free(req->method_copy);
	free(req);
}

static void _local_deliver(void *ctx)
{
	struct axon_rpc_request *req = ctx;

	local_finish(req, req->result, req->error);
}

static void local_complete(struct axon_rpc_request *req, json_t *result, json_t *error)
{
	if (req->in_call) {
		/* Still inside axon_rpc_call_local: keep it for a message, so that
		 * a caller chaining calls from its callback never recurses. */
		req->result = result;
		req->error = error;
		req->done = true;
		return;
	}
	local_finish(req, result, error);
}

void axon_rpc_call_local(const char *method, const json_t *params, axon_rpc_local_cb cb,
			 void *ctx)
{
	struct axon_rpc_request *req = calloc(1, sizeof(*req));
	struct axon_thread *thread;
	json_t *err;

	if (req == NULL || (req->method_copy = strdup(method)) == NULL) {
		free(req);
		err = axon_jsonrpc_error_new(AXON_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		cb(ctx, NULL, err);
		json_decref(err);
		return;
	}
	req->complete = local_complete;
	req->cb = cb;
	req->cb_ctx = ctx;
	/* Held until completion: an asynchronous handler may keep using params. */
	req->params = params ? json_incref((json_t *)params) : NULL;
	req->in_call = true;
	rpc_dispatch(req, req->method_copy, req->params);
	req->in_call = false;
	if (!req->done) {
		return; /* completes later, from whatever the handler waits for */
	}
	thread = axon_get_thread();
	if (thread == NULL || axon_thread_send_msg(thread, _local_deliver, req) != 0) {
		/* Off any axon_thread, or its ring is full: deliver right here. */
		local_finish(req, req->result, req->error);
	}
}
