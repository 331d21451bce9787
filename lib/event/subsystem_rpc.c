/*
 * JSON-RPC methods over the subsystems and the saved configuration:
 * framework_get_subsystems and framework_get_config (from which SPDK's rpc.py
 * builds save_config on the client), and save_config / load_config, which
 * give and replay the same document in one call.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "axon/event.h"
#include "axon/rpc.h"

#define SUBSYSTEM_DEPENDS_MAX 64

static json_t *subsystem_json(struct axon_subsystem *s)
{
	const char *names[SUBSYSTEM_DEPENDS_MAX];
	uint32_t i, count;
	json_t *obj, *depends;

	depends = json_array();
	if (depends == NULL) {
		return NULL;
	}
	count = axon_subsystem_get_depends(s, names, SUBSYSTEM_DEPENDS_MAX);
	for (i = 0; i < count && i < SUBSYSTEM_DEPENDS_MAX; i++) {
		if (json_array_append_new(depends, json_string(names[i])) != 0) {
			json_decref(depends);
			return NULL;
		}
	}
	obj = json_pack("{s:s, s:O}", "subsystem", s->name, "depends_on", depends);
	json_decref(depends);
	return obj;
}

static void rpc_framework_get_subsystems(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_subsystem *s;
	json_t *list;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	list = json_array();
	if (list == NULL) {
		goto nomem;
	}
	for (s = axon_subsystem_get_next(NULL); s != NULL; s = axon_subsystem_get_next(s)) {
		if (json_array_append_new(list, subsystem_json(s)) != 0) {
			json_decref(list);
			goto nomem;
		}
	}
	axon_rpc_send_result(req, list);
	return;
nomem:
	axon_rpc_send_errno(req, -ENOMEM, "listing subsystems");
}
AXON_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems, AXON_RPC_RUNTIME)

struct get_config_params {
	char *name;
};

static const struct axon_rpc_param get_config_decoders[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct get_config_params, name)},
};

static void rpc_framework_get_config(struct axon_rpc_request *req, const json_t *params)
{
	struct get_config_params p = {0};
	struct axon_subsystem *s;
	json_t *config;

	if (axon_rpc_decode_params(req, params, get_config_decoders,
				   AXON_COUNTOF(get_config_decoders), &p) != 0) {
		return;
	}
	s = axon_subsystem_find(p.name);
	if (s == NULL) {
		axon_rpc_send_param_error(req, "name",
					  "expected a subsystem listed by framework_get_subsystems, "
					  "got \"%s\"", p.name);
		goto out;
	}
	config = s->config_json != NULL ? s->config_json() : json_array();
	if (config == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "building the subsystem's configuration");
		goto out;
	}
	axon_rpc_send_result(req, config);
out:
	axon_rpc_free_params(get_config_decoders, AXON_COUNTOF(get_config_decoders), &p);
}
AXON_RPC_REGISTER("framework_get_config", rpc_framework_get_config, AXON_RPC_RUNTIME)

static void rpc_save_config(struct axon_rpc_request *req, const json_t *params)
{
	json_t *doc;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	doc = axon_app_config_json();
	if (doc == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "building the configuration");
		return;
	}
	axon_rpc_send_result(req, doc);
}
AXON_RPC_REGISTER("save_config", rpc_save_config, AXON_RPC_RUNTIME)

/* ---- load_config ---------------------------------------------------------- */

struct load_config_params {
	json_t *subsystems;
};

static const char *check_subsystems(const void *field)
{
	return json_is_array(*(json_t *const *)field) ? NULL :
	       "an array of {\"subsystem\": NAME, \"config\": [...]}";
}

static const struct axon_rpc_param load_config_decoders[] = {
	{.name = "subsystems", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct load_config_params, subsystems), .check = check_subsystems},
};

struct load_config_ctx {
	struct axon_rpc_request *req;
	json_t *doc;
};

/* One replay at a time: a second would interleave its methods with the first's. */
static struct load_config_ctx g_load;

static void load_config_done(void *arg, int rc)
{
	struct load_config_ctx *ctx = arg;
	struct axon_rpc_request *req = ctx->req;

	json_decref(ctx->doc);
	memset(ctx, 0, sizeof(*ctx));
	if (rc != 0) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_PARAMS,
				    "load_config failed (%s); the daemon's log names the "
				    "subsystem, method and parameter at fault", strerror(-rc));
		return;
	}
	if (axon_app_is_initialized()) {
		axon_rpc_set_state(AXON_RPC_RUNTIME);
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_load_config(struct axon_rpc_request *req, const json_t *params)
{
	struct load_config_params p = {0};

	if (g_load.req != NULL) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
				    "another load_config is still running; retry when it is done");
		return;
	}
	if (axon_rpc_decode_params(req, params, load_config_decoders,
				   AXON_COUNTOF(load_config_decoders), &p) != 0) {
		return;
	}
	g_load.doc = json_pack("{s:O}", "subsystems", p.subsystems);
	axon_rpc_free_params(load_config_decoders, AXON_COUNTOF(load_config_decoders), &p);
	if (g_load.doc == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "loading the configuration");
		return;
	}
	g_load.req = req;
	/* Before framework_start_init this starts the subsystems too, as SPDK's
	 * client-side load_config does; afterwards only the methods are replayed. */
	axon_app_json_config_load(g_load.doc, !axon_app_is_initialized(), load_config_done,
				  &g_load);
}
AXON_RPC_REGISTER("load_config", rpc_load_config, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
