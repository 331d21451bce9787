/*
 * JSON-RPC methods of the log module: levels and component flags, with SPDK's
 * names and shapes (levels are reported as "ERROR", "WARNING", "NOTICE",
 * "INFO", "DEBUG"; any case is accepted when setting one).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "axon/log.h"
#include "axon/rpc.h"

#define LOG_LEVEL_EXPECTED "one of ERROR, WARNING, NOTICE, INFO, DEBUG"

struct level_params {
	char *level;
};

/* The level names SPDK clients expect to read back. */
static const char *level_name(enum axon_log_level level)
{
	switch (level) {
	case AXON_LOG_DISABLED:
		return "DISABLED";
	case AXON_LOG_ERROR:
		return "ERROR";
	case AXON_LOG_WARN:
		return "WARNING";
	case AXON_LOG_NOTICE:
		return "NOTICE";
	case AXON_LOG_INFO:
		return "INFO";
	case AXON_LOG_DEBUG:
		return "DEBUG";
	}
	return "UNKNOWN";
}

static const char *check_level(const void *field)
{
	const char *str = *(char *const *)field;
	enum axon_log_level level;

	if (axon_log_level_from_str(str, &level) != 0 || level == AXON_LOG_DISABLED) {
		return LOG_LEVEL_EXPECTED;
	}
	return NULL;
}

static const struct axon_rpc_param level_decoders[] = {
	{.name = "level", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct level_params, level), .check = check_level},
};

static void set_level(struct axon_rpc_request *req, const json_t *params,
		      void (*setter)(enum axon_log_level))
{
	struct level_params p = {0};
	enum axon_log_level level;

	if (axon_rpc_decode_params(req, params, level_decoders, AXON_COUNTOF(level_decoders),
				   &p) != 0) {
		return;
	}
	/* check_level accepted it, so this cannot fail. */
	axon_log_level_from_str(p.level, &level);
	setter(level);
	axon_rpc_free_params(level_decoders, AXON_COUNTOF(level_decoders), &p);
	axon_rpc_send_bool(req, true);
}

static void get_level(struct axon_rpc_request *req, const json_t *params,
		      enum axon_log_level (*getter)(void))
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	axon_rpc_send_result(req, json_string(level_name(getter())));
}

static void rpc_log_set_level(struct axon_rpc_request *req, const json_t *params)
{
	set_level(req, params, axon_log_set_level);
}
AXON_RPC_REGISTER("log_set_level", rpc_log_set_level, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_log_get_level(struct axon_rpc_request *req, const json_t *params)
{
	get_level(req, params, axon_log_get_level);
}
AXON_RPC_REGISTER("log_get_level", rpc_log_get_level, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_log_set_print_level(struct axon_rpc_request *req, const json_t *params)
{
	set_level(req, params, axon_log_set_print_level);
}
AXON_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_log_get_print_level(struct axon_rpc_request *req, const json_t *params)
{
	get_level(req, params, axon_log_get_print_level);
}
AXON_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

struct flag_params {
	char *flag;
};

static const struct axon_rpc_param flag_decoders[] = {
	{.name = "flag", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct flag_params, flag)},
};

static void change_flag(struct axon_rpc_request *req, const json_t *params,
			int (*change)(const char *name))
{
	struct flag_params p = {0};

	if (axon_rpc_decode_params(req, params, flag_decoders, AXON_COUNTOF(flag_decoders),
				   &p) != 0) {
		return;
	}
	if (change(p.flag) != 0) {
		axon_rpc_send_param_error(req, "flag",
					  "expected a log flag listed by log_get_flags, or \"all\", "
					  "got \"%s\"", p.flag);
	} else {
		axon_rpc_send_bool(req, true);
	}
	axon_rpc_free_params(flag_decoders, AXON_COUNTOF(flag_decoders), &p);
}

static void rpc_log_set_flag(struct axon_rpc_request *req, const json_t *params)
{
	change_flag(req, params, axon_log_set_flag);
}
AXON_RPC_REGISTER("log_set_flag", rpc_log_set_flag, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_log_clear_flag(struct axon_rpc_request *req, const json_t *params)
{
	change_flag(req, params, axon_log_clear_flag);
}
AXON_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_log_get_flags(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_log_flag *flag;
	json_t *result;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	result = json_object();
	if (result == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "listing log flags");
		return;
	}
	for (flag = axon_log_get_next_flag(NULL); flag != NULL; flag = axon_log_get_next_flag(flag)) {
		if (json_object_set_new(result, flag->name, json_boolean(flag->enabled)) != 0) {
			json_decref(result);
			axon_rpc_send_errno(req, -ENOMEM, "listing log flags");
			return;
		}
	}
	axon_rpc_send_result(req, result);
}
AXON_RPC_REGISTER("log_get_flags", rpc_log_get_flags, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
