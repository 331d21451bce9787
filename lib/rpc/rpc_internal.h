/*
 * lib/rpc private types: one request, whoever sent it (a socket client or an
 * in-process caller), and the registry functions the tests reach.
 */
#ifndef AXON_RPC_INTERNAL_H
#define AXON_RPC_INTERNAL_H

#include <stdbool.h>

#include "axon/jsonrpc.h"
#include "axon/rpc.h"

struct axon_rpc_request {
	/* The method name as called (for messages). */
	const char *method;
	/* Deliver result or error (stolen; both NULL means a null result) and
	 * free the request. Socket and local requests differ only here. */
	void (*complete)(struct axon_rpc_request *req, json_t *result, json_t *error);

	/* A socket request. */
	struct axon_jsonrpc_request *jreq;

	/* A local call (axon_rpc_call_local). */
	axon_rpc_local_cb cb;
	void *cb_ctx;
	char *method_copy;
	json_t *params;
	bool in_call;      /* the handler has not returned yet */
	bool done;         /* completed while in_call; result/error wait */
	json_t *result;
	json_t *error;
};

/* Look the method up, check the phase, run the handler. The request is
 * completed exactly once, here or later. */
void rpc_dispatch(struct axon_rpc_request *req, const char *method, const json_t *params);

/* The axon_jsonrpc_handler of the server: wraps each socket request. */
void rpc_jsonrpc_handler(struct axon_jsonrpc_request *jreq, const char *method,
			 const json_t *params, void *ctx);

/* Registry, returning errors instead of aborting:
 * -EINVAL (empty name, no handler, no state), -EEXIST, -ENOMEM. */
int rpc_register(const char *method, axon_rpc_handler handler, uint32_t state_mask);
int rpc_register_alias(const char *alias, const char *method);
/* Every alias names a registered method. Returns 0 or -ENOENT (logged). */
int rpc_registry_check(void);
/* Forget every method (tests). */
void rpc_registry_clear(void);

#endif /* AXON_RPC_INTERNAL_H */
