/*
 * JSON-RPC methods of the app framework: start-up phases, the method list,
 * the version, and shutdown. SPDK's names and result shapes, so that SPDK's
 * own rpc.py works against Axon programs.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "axon/event.h"
#include "axon/log.h"
#include "axon/rpc.h"
#include "axon/thread.h"
#include "axon/version.h"
#include "event_internal.h"

/* ---- framework_start_init / framework_wait_init --------------------------- */

/*
 * framework_wait_init requests parked until the subsystems have started.
 * Static storage: the server owns the requests and may drop them at shutdown,
 * so nothing here is allocated that could outlive it.
 */
#define WAIT_INIT_MAX 64
#define WAIT_INIT_POLL_US 10000

static struct axon_rpc_request *g_init_waiters[WAIT_INIT_MAX];
static uint32_t g_init_waiter_count;
static struct axon_poller *g_init_poller;
static struct axon_rpc_request *g_start_init_req;

/* Answer every parked framework_wait_init: true, or an error if the app stops first. */
static void complete_init_waiters(bool initialized)
{
	uint32_t i;

	for (i = 0; i < g_init_waiter_count; i++) {
		if (initialized) {
			axon_rpc_send_bool(g_init_waiters[i], true);
		} else {
			axon_rpc_send_error(g_init_waiters[i], AXON_JSONRPC_ERROR_INTERNAL_ERROR,
					    "the application is shutting down before its "
					    "subsystems started");
		}
		g_init_waiters[i] = NULL;
	}
	g_init_waiter_count = 0;
	axon_poller_unregister(&g_init_poller);
}

/* Catches every way the subsystems may start (framework_start_init, load_config,
 * axond -c), so waiters need no hook in each of them. Runs only while someone
 * waits, and lets go once shutdown begins: the app thread's exit would
 * otherwise wait for this poller. */
static int init_wait_poll(void *ctx)
{
	if (axon_app_is_initialized()) {
		complete_init_waiters(true);
		return AXON_POLLER_BUSY;
	}
	if (app_shutdown_requested() || !axon_thread_is_running(axon_get_thread())) {
		complete_init_waiters(false);
		return AXON_POLLER_BUSY;
	}
	return AXON_POLLER_IDLE;
}

static void rpc_framework_wait_init(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	if (axon_app_is_initialized()) {
		axon_rpc_send_bool(req, true);
		return;
	}
	if (g_init_waiter_count == WAIT_INIT_MAX) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INTERNAL_ERROR,
				    "too many framework_wait_init calls are already waiting "
				    "(at most %d); retry later", WAIT_INIT_MAX);
		return;
	}
	if (g_init_poller == NULL) {
		g_init_poller = axon_poller_register_named(init_wait_poll, NULL, WAIT_INIT_POLL_US,
							   "framework_wait_init");
		if (g_init_poller == NULL) {
			axon_rpc_send_errno(req, -ENOMEM, "waiting for the subsystems");
			return;
		}
	}
	g_init_waiters[g_init_waiter_count++] = req;
}
AXON_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void start_init_done(void *ctx, int rc)
{
	struct axon_rpc_request *req = g_start_init_req;

	g_start_init_req = NULL;
	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "starting the subsystems");
		return;
	}
	axon_rpc_set_state(AXON_RPC_RUNTIME);
	axon_rpc_send_bool(req, true);
	complete_init_waiters(true);
}

static void rpc_framework_start_init(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	if (g_start_init_req != NULL) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
				    "framework_start_init is already running; call "
				    "framework_wait_init to wait for it");
		return;
	}
	g_start_init_req = req;
	axon_app_start_subsystems(start_init_done, NULL);
}
AXON_RPC_REGISTER("framework_start_init", rpc_framework_start_init, AXON_RPC_STARTUP)

/* ---- rpc_get_methods ------------------------------------------------------ */

struct get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct axon_rpc_param get_methods_decoders[] = {
	{.name = "current", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct get_methods_params, current), .optional = true},
	{.name = "include_aliases", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct get_methods_params, include_aliases), .optional = true},
};

static void rpc_rpc_get_methods(struct axon_rpc_request *req, const json_t *params)
{
	struct get_methods_params p = {0};
	const char *name;
	uint32_t mask;
	json_t *list;

	if (axon_rpc_decode_params(req, params, get_methods_decoders,
				   AXON_COUNTOF(get_methods_decoders), &p) != 0) {
		return;
	}
	list = json_array();
	if (list == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "listing methods");
		return;
	}
	/* Aliases are real registry entries too; they are all listed, so a client
	 * checking for a name it knows finds it with or without include_aliases. */
	for (name = axon_rpc_get_next_method(NULL, &mask); name != NULL;
	     name = axon_rpc_get_next_method(name, &mask)) {
		if (p.current && (mask & axon_rpc_get_state()) == 0) {
			continue;
		}
		if (json_array_append_new(list, json_string(name)) != 0) {
			json_decref(list);
			axon_rpc_send_errno(req, -ENOMEM, "listing methods");
			return;
		}
	}
	axon_rpc_send_result(req, list);
}
AXON_RPC_REGISTER("rpc_get_methods", rpc_rpc_get_methods, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

/* ---- versions ------------------------------------------------------------- */

static void send_version(struct axon_rpc_request *req, const json_t *params)
{
	json_t *result;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	result = json_pack("{s:s, s:{s:i, s:i, s:i, s:s}}", "version", AXON_VERSION_STRING,
			   "fields", "major", AXON_VERSION_MAJOR, "minor", AXON_VERSION_MINOR,
			   "patch", AXON_VERSION_PATCH, "suffix", AXON_VERSION_SUFFIX);
	if (result == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "reporting the version");
		return;
	}
	axon_rpc_send_result(req, result);
}

static void rpc_axon_get_version(struct axon_rpc_request *req, const json_t *params)
{
	send_version(req, params);
}
AXON_RPC_REGISTER("axon_get_version", rpc_axon_get_version, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

/* A method of its own rather than an alias: SPDK clients expect to find it in
 * rpc_get_methods without include_aliases. */
static void rpc_spdk_get_version(struct axon_rpc_request *req, const json_t *params)
{
	send_version(req, params);
}
AXON_RPC_REGISTER("spdk_get_version", rpc_spdk_get_version, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

/* ---- kill_instance -------------------------------------------------------- */

struct kill_params {
	char *sig_name;
};

#define SIG_EXPECTED "SIGTERM, SIGINT or SIGKILL"

static int signal_from_name(const char *name)
{
	if (strcmp(name, "SIGTERM") == 0) {
		return SIGTERM;
	}
	if (strcmp(name, "SIGINT") == 0) {
		return SIGINT;
	}
	if (strcmp(name, "SIGKILL") == 0) {
		return SIGKILL;
	}
	return -1;
}

static const char *check_sig_name(const void *field)
{
	return signal_from_name(*(char *const *)field) < 0 ? SIG_EXPECTED : NULL;
}

static const struct axon_rpc_param kill_decoders[] = {
	{.name = "sig_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct kill_params, sig_name), .check = check_sig_name},
};

static void kill_instance(struct axon_rpc_request *req, const json_t *params)
{
	struct kill_params p = {0};
	int sig;

	if (axon_rpc_decode_params(req, params, kill_decoders, AXON_COUNTOF(kill_decoders),
				   &p) != 0) {
		return;
	}
	sig = signal_from_name(p.sig_name);
	axon_rpc_free_params(kill_decoders, AXON_COUNTOF(kill_decoders), &p);
	/* Answer first: an orderly shutdown still flushes it; SIGKILL may not. */
	axon_rpc_send_bool(req, true);
	if (sig == SIGKILL) {
		AXON_WARNLOG("killing the process on request (SIGKILL)");
		kill(getpid(), SIGKILL);
		return;
	}
	AXON_NOTICELOG("shutting down on request (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	axon_app_start_shutdown();
}

static void rpc_axon_kill_instance(struct axon_rpc_request *req, const json_t *params)
{
	kill_instance(req, params);
}
AXON_RPC_REGISTER("axon_kill_instance", rpc_axon_kill_instance,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_spdk_kill_instance(struct axon_rpc_request *req, const json_t *params)
{
	kill_instance(req, params);
}
AXON_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
