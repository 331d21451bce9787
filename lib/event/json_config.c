/*
 * JSON configuration: replaying a save_config document through the RPC
 * methods, and building that document from the subsystems' live state.
 *
 * A document is checked whole before anything runs (shape, every method
 * known, every method able to run in some pass), so that a typo never leaves
 * a half-applied configuration. Then it is replayed in passes:
 *   STARTUP  methods allowed before framework_start_init, in document order;
 *   INIT     the subsystems start (the RPC phase turns to runtime);
 *   RUNTIME  the remaining methods allowed at runtime, in document order.
 * The first failing method stops the replay; its subsystem, name and the
 * method's own error message (which names the parameter) are logged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/rpc.h"
#include "event_internal.h"

enum config_check {
	METHOD_RUNS,    /* runs in this pass */
	METHOD_SKIPPED, /* runs in another pass */
	METHOD_STALE,   /* startup-only, but the framework already started: skipped */
	METHOD_NEVER,   /* cannot run in any requested pass */
};

struct config_load {
	json_t *doc;
	const char *source;
	uint32_t passes;
	uint32_t pass;  /* the pass running now */
	size_t subsystem_idx;
	size_t method_idx;
	void (*cb)(void *ctx, int rc);
	void *cb_ctx;
};

static uint32_t g_loads_in_progress;

bool config_load_in_progress(void)
{
	return g_loads_in_progress > 0;
}

static bool method_state_mask(const char *method, uint32_t *mask)
{
	const char *name = NULL;
	uint32_t m;

	while ((name = axon_rpc_get_next_method(name, &m)) != NULL) {
		if (strcmp(name, method) == 0) {
			*mask = m;
			return true;
		}
	}
	return false;
}

/* Where a method with this state mask runs, given the passes requested. */
static enum config_check method_check(uint32_t mask, uint32_t passes, uint32_t pass)
{
	bool startup = (passes & CONFIG_PASS_STARTUP) != 0;
	bool runtime = (passes & CONFIG_PASS_RUNTIME) != 0;
	bool startup_done = startup || (passes & CONFIG_PASS_AFTER_STARTUP) != 0;

	if (startup && (mask & AXON_RPC_STARTUP)) {
		return pass == CONFIG_PASS_STARTUP ? METHOD_RUNS : METHOD_SKIPPED;
	}
	if (runtime && (mask & AXON_RPC_RUNTIME) && !(startup_done && (mask & AXON_RPC_STARTUP))) {
		return pass == CONFIG_PASS_RUNTIME ? METHOD_RUNS : METHOD_SKIPPED;
	}
	if (startup_done && (mask & AXON_RPC_STARTUP)) {
		return METHOD_SKIPPED; /* ran in an earlier call */
	}
	if ((mask & AXON_RPC_RUNTIME) && (passes & CONFIG_PASS_DEFER_RUNTIME)) {
		return METHOD_SKIPPED; /* the caller runs the runtime pass later */
	}
	if (!startup && (mask & AXON_RPC_STARTUP)) {
		return METHOD_STALE;
	}
	return METHOD_NEVER;
}

static int check_entry(const char *source, const char *subsystem, size_t i, const json_t *entry,
		       uint32_t passes)
{
	const json_t *method = json_object_get(entry, "method");
	const json_t *params = json_object_get(entry, "params");
	uint32_t mask;

	if (!json_is_object(entry) || !json_is_string(method)) {
		AXON_ERRLOG("%s: subsystem %s: config[%zu]: expected an object with a \"method\" string",
			    source, subsystem, i);
		return -EINVAL;
	}
	if (params != NULL && !json_is_object(params) && !json_is_array(params) &&
	    !json_is_null(params)) {
		AXON_ERRLOG("%s: subsystem %s: method %s: \"params\" must be an object or an array",
			    source, subsystem, json_string_value(method));
		return -EINVAL;
	}
	if (!method_state_mask(json_string_value(method), &mask)) {
		AXON_ERRLOG("%s: subsystem %s: unknown method %s", source, subsystem,
			    json_string_value(method));
		return -EINVAL;
	}
	if (method_check(mask, passes, 0) == METHOD_NEVER) {
		AXON_ERRLOG("%s: subsystem %s: method %s can run only after framework_start_init, "
			    "and this load does not start the subsystems", source, subsystem,
			    json_string_value(method));
		return -EINVAL;
	}
	return 0;
}

/* Check the whole document before running any of it. */
static int config_check_doc(const json_t *doc, const char *source, uint32_t passes)
{
	const json_t *subsystems = json_object_get(doc, "subsystems");
	const json_t *item, *config, *entry;
	size_t i, j;
	int rc;

	if (!json_is_object(doc) || !json_is_array(subsystems)) {
		AXON_ERRLOG("%s: expected an object with a \"subsystems\" array", source);
		return -EINVAL;
	}
	json_array_foreach(subsystems, i, item) {
		const json_t *name = json_object_get(item, "subsystem");

		if (!json_is_object(item) || !json_is_string(name)) {
			AXON_ERRLOG("%s: subsystems[%zu]: expected an object with a \"subsystem\" string",
				    source, i);
			return -EINVAL;
		}
		config = json_object_get(item, "config");
		if (config == NULL || json_is_null(config)) {
			continue;
		}
		if (!json_is_array(config)) {
			AXON_ERRLOG("%s: subsystem %s: \"config\" must be an array", source,
				    json_string_value(name));
			return -EINVAL;
		}
		json_array_foreach(config, j, entry) {
			rc = check_entry(source, json_string_value(name), j, entry, passes);
			if (rc != 0) {
				return rc;
			}
		}
	}
	return 0;
}

static void config_finish(struct config_load *load, int rc)
{
	void (*cb)(void *ctx, int rc) = load->cb;
	void *cb_ctx = load->cb_ctx;

	free(load);
	g_loads_in_progress--;
	cb(cb_ctx, rc);
	app_resume_shutdown();
}

static void config_step(void *ctx);

static void config_schedule(struct config_load *load)
{
	if (axon_thread_send_msg(axon_thread_get_app_thread(), config_step, load) != 0) {
		AXON_ERRLOG("%s: cannot queue the next configuration step", load->source);
		config_finish(load, -ENOMEM);
	}
}

static void config_init_done(void *ctx, int rc)
{
	struct config_load *load = ctx;

	if (rc != 0 && rc != -EALREADY) {
		AXON_ERRLOG("%s: the subsystems failed to start", load->source);
		config_finish(load, rc);
		return;
	}
	load->pass = CONFIG_PASS_RUNTIME;
	load->subsystem_idx = 0;
	load->method_idx = 0;
	config_schedule(load);
}

static const char *config_subsystem_name(struct config_load *load)
{
	const json_t *item = json_array_get(json_object_get(load->doc, "subsystems"),
					    load->subsystem_idx);

	return json_string_value(json_object_get(item, "subsystem"));
}

static void config_method_done(void *ctx, const json_t *result, const json_t *error)
{
	struct config_load *load = ctx;
	const json_t *item = json_array_get(json_object_get(load->doc, "subsystems"),
					    load->subsystem_idx);
	const json_t *entry = json_array_get(json_object_get(item, "config"), load->method_idx);

	if (error != NULL) {
		const char *msg = json_string_value(json_object_get(error, "message"));

		AXON_ERRLOG("%s: subsystem %s: method %s failed: %s (code %lld)", load->source,
			    config_subsystem_name(load),
			    json_string_value(json_object_get(entry, "method")),
			    msg != NULL ? msg : "(no message)",
			    (long long)json_integer_value(json_object_get(error, "code")));
		config_finish(load, -EINVAL);
		return;
	}
	load->method_idx++;
	config_schedule(load);
}

/* The entry at the cursor, advancing over finished subsystems; NULL at the end. */
static const json_t *config_cursor(struct config_load *load)
{
	const json_t *subsystems = json_object_get(load->doc, "subsystems");
	const json_t *config;

	while (load->subsystem_idx < json_array_size(subsystems)) {
		config = json_object_get(json_array_get(subsystems, load->subsystem_idx), "config");
		if (load->method_idx < json_array_size(config)) {
			return json_array_get(config, load->method_idx);
		}
		load->subsystem_idx++;
		load->method_idx = 0;
	}
	return NULL;
}

static void config_next_pass(struct config_load *load)
{
	if (load->pass == CONFIG_PASS_STARTUP && (load->passes & CONFIG_PASS_INIT)) {
		load->pass = CONFIG_PASS_INIT;
		axon_app_start_subsystems(config_init_done, load);
		return;
	}
	if (load->pass == CONFIG_PASS_STARTUP && (load->passes & CONFIG_PASS_RUNTIME)) {
		config_init_done(load, 0);
		return;
	}
	config_finish(load, 0);
}

static void config_step(void *ctx)
{
	struct config_load *load = ctx;
	const json_t *entry;
	const char *method;
	uint32_t mask = 0;

	if (app_shutdown_requested()) {
		AXON_NOTICELOG("%s: shutdown requested: configuration not completed", load->source);
		config_finish(load, -ECANCELED);
		return;
	}
	while ((entry = config_cursor(load)) != NULL) {
		method = json_string_value(json_object_get(entry, "method"));
		method_state_mask(method, &mask);
		switch (method_check(mask, load->passes, load->pass)) {
		case METHOD_RUNS:
			AXON_INFOLOG("%s: %s", load->source, method);
			axon_rpc_call_local(method, json_object_get(entry, "params"),
					    config_method_done, load);
			return;
		case METHOD_STALE:
			if (load->pass == CONFIG_PASS_RUNTIME) {
				AXON_WARNLOG("%s: subsystem %s: skipping %s: it can run only before "
					     "framework_start_init", load->source,
					     config_subsystem_name(load), method);
			}
			break;
		case METHOD_SKIPPED:
		case METHOD_NEVER:
			break;
		}
		load->method_idx++;
	}
	config_next_pass(load);
}

void config_load(json_t *doc, uint32_t passes, const char *source,
		 void (*cb)(void *ctx, int rc), void *ctx)
{
	struct config_load *load;
	int rc;

	rc = config_check_doc(doc, source, passes);
	if (rc != 0) {
		cb(ctx, rc);
		return;
	}
	load = calloc(1, sizeof(*load));
	if (load == NULL) {
		cb(ctx, -ENOMEM);
		return;
	}
	load->doc = doc;
	load->source = source;
	load->passes = passes;
	load->pass = (passes & CONFIG_PASS_STARTUP) ? CONFIG_PASS_STARTUP : CONFIG_PASS_RUNTIME;
	load->cb = cb;
	load->cb_ctx = ctx;
	g_loads_in_progress++;
	config_schedule(load);
}

void axon_app_json_config_load(json_t *doc, bool init_subsystems,
			       void (*cb)(void *ctx, int rc), void *ctx)
{
	uint32_t passes;

	if (axon_rpc_get_state() == AXON_RPC_STARTUP) {
		passes = CONFIG_PASS_STARTUP;
		if (init_subsystems) {
			passes |= CONFIG_PASS_INIT | CONFIG_PASS_RUNTIME;
		}
	} else {
		passes = CONFIG_PASS_RUNTIME;
	}
	config_load(doc, passes, "config", cb, ctx);
}

/* ---- save ------------------------------------------------------------------ */

json_t *axon_app_config_json(void)
{
	struct axon_subsystem *s;
	json_t *doc, *list, *item, *config;

	doc = json_object();
	list = json_array();
	if (doc == NULL || list == NULL || json_object_set_new(doc, "subsystems", list) != 0) {
		json_decref(doc);
		return NULL;
	}
	for (s = axon_subsystem_get_next(NULL); s != NULL; s = axon_subsystem_get_next(s)) {
		config = s->config_json != NULL ? s->config_json() : json_array();
		if (config == NULL) {
			AXON_ERRLOG("subsystem %s: cannot build its configuration", s->name);
			json_decref(doc);
			return NULL;
		}
		item = json_pack("{s:s, s:o}", "subsystem", s->name, "config", config);
		if (item == NULL || json_array_append_new(list, item) != 0) {
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}
