/*
 * perform_tests: with -z, bdevperf waits for this RPC (after the bdevs were
 * created by RPC) and answers it with the results once the run is over.
 */
#include <errno.h>

#include "axon/rpc.h"
#include "bdevperf_run.h"

static void perform_tests_done(void *ctx, int rc, json_t *results)
{
	struct axon_rpc_request *req = ctx;

	if (rc != 0) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INTERNAL_ERROR,
				    "bdevperf run failed: %s (see bdevperf's output)",
				    rc == -EIO ? "I/O errors or miscompares" : "jobs could not start");
		return;
	}
	axon_rpc_send_result(req, json_incref(results));
}

static void rpc_perform_tests(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	if (bdevperf_run(perform_tests_done, req) != 0) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_REQUEST,
				    "a bdevperf run is already in progress");
	}
}
AXON_RPC_REGISTER("perform_tests", rpc_perform_tests, AXON_RPC_RUNTIME)
