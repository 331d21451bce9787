/*
 * Target-wide JSON-RPC methods (SPDK names, parameters and results):
 * nvmf_set_max_subsystems, nvmf_set_config, nvmf_create_transport,
 * nvmf_get_transports, nvmf_get_stats, and the discovery referrals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "axon/env.h"
#include "axon/rpc.h"
#include "nvmf_internal.h"
#include "nvmf_rpc_internal.h"

extern struct axon_nvmf_tgt_opts g_nvmf_tgt_opts;

/* ---- helpers shared with nvmf_subsystem_rpc.c ---------------------------------------- */

int nvmf_rpc_check_tgt_name(struct axon_rpc_request *req, const char *tgt_name)
{
	if (tgt_name != NULL && strcmp(tgt_name, NVMF_RPC_TGT_NAME) != 0) {
		axon_rpc_send_param_error(req, "tgt_name", "no target named '%s' (there is only '%s')",
					  tgt_name, NVMF_RPC_TGT_NAME);
		return -EINVAL;
	}
	if (axon_nvmf_get_tgt() == NULL) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
				    "the nvmf target is not running");
		return -ENODEV;
	}
	return 0;
}

static const char *json_str_member(const json_t *obj, const char *key, bool *bad)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		return NULL;
	}
	if (!json_is_string(v)) {
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

int nvmf_rpc_decode_trid(struct axon_rpc_request *req, const char *param, const json_t *obj,
			 struct axon_nvmf_trid *trid)
{
	static const char *const keys[] = {"trtype", "adrfam", "traddr", "trsvcid"};
	const char *trtype, *adrfam, *traddr, *trsvcid;
	const struct axon_nvmf_transport_ops *ops;
	const char *key;
	json_t *value;
	bool bad = false;

	memset(trid, 0, sizeof(*trid));
	if (!json_is_object(obj)) {
		axon_rpc_send_param_error(req, param, "expected an object {trtype, traddr, trsvcid, adrfam}");
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, key, value) {
		bool known = false;

		for (size_t i = 0; i < AXON_COUNTOF(keys); i++) {
			known = known || strcmp(key, keys[i]) == 0;
		}
		if (!known) {
			axon_rpc_send_param_error(req, param, "unknown member '%s'", key);
			return -EINVAL;
		}
	}
	trtype = json_str_member(obj, "trtype", &bad);
	if (bad || trtype == NULL) {
		axon_rpc_send_param_error(req, param, "trtype: expected a transport name such as \"TCP\"");
		return -EINVAL;
	}
	ops = axon_nvmf_transport_ops_find(trtype);
	if (ops == NULL) {
		axon_rpc_send_param_error(req, param, "trtype: unknown transport '%s'", trtype);
		return -EINVAL;
	}
	axon_strscpy(trid->trstring, ops->name, sizeof(trid->trstring));
	trid->trtype = ops->type;
	adrfam = json_str_member(obj, "adrfam", &bad);
	trid->adrfam = NVMF_ADDR_FAMILY_IP4;
	if (bad || (adrfam != NULL && axon_nvmf_adrfam_parse(adrfam, &trid->adrfam) != 0)) {
		axon_rpc_send_param_error(req, param, "adrfam: expected ipv4, ipv6, ib or fc");
		return -EINVAL;
	}
	traddr = json_str_member(obj, "traddr", &bad);
	if (bad || traddr == NULL || traddr[0] == '\0' ||
	    strlen(traddr) > AXON_NVMF_TRADDR_MAX_LEN) {
		axon_rpc_send_param_error(req, param, "traddr: expected an address string");
		return -EINVAL;
	}
	trsvcid = json_str_member(obj, "trsvcid", &bad);
	if (bad || trsvcid == NULL || trsvcid[0] == '\0' ||
	    strlen(trsvcid) > AXON_NVMF_TRSVCID_MAX_LEN) {
		axon_rpc_send_param_error(req, param, "trsvcid: expected a service id such as \"4420\"");
		return -EINVAL;
	}
	axon_strscpy(trid->traddr, traddr, sizeof(trid->traddr));
	axon_strscpy(trid->trsvcid, trsvcid, sizeof(trid->trsvcid));
	return 0;
}

/* ---- nvmf_set_max_subsystems ----------------------------------------------------------- */

struct rpc_max_subsystems {
	uint32_t max_subsystems;
};

static const struct axon_rpc_param g_max_subsystems_params[] = {
	{.name = "max_subsystems", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_max_subsystems, max_subsystems), .min = 1, .max = 65535},
};

static void rpc_nvmf_set_max_subsystems(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_max_subsystems p = {0};

	if (axon_rpc_decode_params(req, params, g_max_subsystems_params,
				   AXON_COUNTOF(g_max_subsystems_params), &p) != 0) {
		return;
	}
	g_nvmf_tgt_opts.max_subsystems = p.max_subsystems;
	axon_rpc_send_bool(req, true);
}
AXON_RPC_REGISTER("nvmf_set_max_subsystems", rpc_nvmf_set_max_subsystems, AXON_RPC_STARTUP)

/* ---- nvmf_set_config -------------------------------------------------------------------- */

struct rpc_set_config {
	char *discovery_filter;
	json_t *admin_cmd_passthru;
	char *poll_groups_mask;
	struct axon_rpc_string_array dhchap_digests;
	struct axon_rpc_string_array dhchap_dhgroups;
};

static const struct axon_rpc_param g_set_config_params[] = {
	{.name = "discovery_filter", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_set_config, discovery_filter), .optional = true},
	{.name = "admin_cmd_passthru", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct rpc_set_config, admin_cmd_passthru), .optional = true},
	{.name = "poll_groups_mask", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_set_config, poll_groups_mask), .optional = true},
	{.name = "dhchap_digests", .type = AXON_RPC_PARAM_STRING_ARRAY,
	 .offset = offsetof(struct rpc_set_config, dhchap_digests), .optional = true},
	{.name = "dhchap_dhgroups", .type = AXON_RPC_PARAM_STRING_ARRAY,
	 .offset = offsetof(struct rpc_set_config, dhchap_dhgroups), .optional = true},
};

/* "match_any" or a comma-separated list of transport, address, svcid. */
static int parse_discovery_filter(const char *s, uint32_t *out)
{
	char **fields = NULL;
	uint32_t f = 0;
	int n;

	if (strcmp(s, "match_any") == 0) {
		*out = AXON_NVMF_DISC_FILTER_MATCH_ANY;
		return 0;
	}
	n = axon_strsplit(s, ',', &fields);
	if (n <= 0) {
		axon_strarray_free(fields);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(fields[i], "transport") == 0) {
			f |= AXON_NVMF_DISC_FILTER_TRTYPE;
		} else if (strcmp(fields[i], "address") == 0) {
			f |= AXON_NVMF_DISC_FILTER_TRADDR;
		} else if (strcmp(fields[i], "svcid") == 0) {
			f |= AXON_NVMF_DISC_FILTER_TRSVCID;
		} else {
			axon_strarray_free(fields);
			return -EINVAL;
		}
	}
	axon_strarray_free(fields);
	*out = f;
	return 0;
}

static void rpc_nvmf_set_config(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_set_config p = {0};
	uint32_t filter = g_nvmf_tgt_opts.discovery_filter;

	if (axon_rpc_decode_params(req, params, g_set_config_params,
				   AXON_COUNTOF(g_set_config_params), &p) != 0) {
		return;
	}
	if (p.discovery_filter != NULL && parse_discovery_filter(p.discovery_filter, &filter) != 0) {
		axon_rpc_send_param_error(req, "discovery_filter",
					  "expected match_any or a comma-separated list of transport, "
					  "address, svcid, got '%s'", p.discovery_filter);
		goto out;
	}
	if (p.admin_cmd_passthru != NULL && !json_is_object(p.admin_cmd_passthru)) {
		axon_rpc_send_param_error(req, "admin_cmd_passthru", "expected an object");
		goto out;
	}
	if (p.dhchap_digests.count > 0 || p.dhchap_dhgroups.count > 0) {
		axon_rpc_send_param_error(req, p.dhchap_digests.count ? "dhchap_digests" : "dhchap_dhgroups",
					  "DH-HMAC-CHAP is not supported");
		goto out;
	}
	/* admin_cmd_passthru and poll_groups_mask are accepted for compatibility:
	 * Axon passes no admin commands through and runs a poll group per reactor. */
	g_nvmf_tgt_opts.discovery_filter = filter;
	axon_rpc_send_bool(req, true);
out:
	axon_rpc_free_params(g_set_config_params, AXON_COUNTOF(g_set_config_params), &p);
}
AXON_RPC_REGISTER("nvmf_set_config", rpc_nvmf_set_config, AXON_RPC_STARTUP)

/* ---- nvmf_create_transport ------------------------------------------------------------------ */

struct rpc_create_transport {
	char *trtype;
	char *tgt_name;
	uint32_t max_queue_depth;
	uint32_t max_io_qpairs_per_ctrlr;
	uint32_t max_qpairs_per_ctrlr; /* deprecated form: admin queue included */
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t io_unit_size;
	uint32_t max_aq_depth;
	uint32_t num_shared_buffers;
	uint32_t buf_cache_size;
	uint32_t abort_timeout_sec;
	uint32_t acceptor_poll_rate;
	bool dif_insert_or_strip;
	bool zcopy;
};

#define CT_U32(n, lo, hi)                                                              \
	{.name = #n, .type = AXON_RPC_PARAM_UINT32,                                    \
	 .offset = offsetof(struct rpc_create_transport, n), .optional = true, .min = lo, \
	 .max = hi}

static const struct axon_rpc_param g_create_transport_params[] = {
	{.name = "trtype", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_create_transport, trtype)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_create_transport, tgt_name), .optional = true},
	CT_U32(max_queue_depth, 2, 65535),
	CT_U32(max_io_qpairs_per_ctrlr, 1, 65534),
	CT_U32(max_qpairs_per_ctrlr, 2, 65535),
	CT_U32(in_capsule_data_size, 0, 1u << 20),
	CT_U32(max_io_size, 4096, 1u << 24),
	CT_U32(io_unit_size, 512, 1u << 24),
	CT_U32(max_aq_depth, 2, 4096),
	CT_U32(num_shared_buffers, 1, 1u << 24),
	CT_U32(buf_cache_size, 0, 1u << 24),
	CT_U32(abort_timeout_sec, 0, 3600),
	CT_U32(acceptor_poll_rate, 0, 1000000),
	{.name = "dif_insert_or_strip", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_create_transport, dif_insert_or_strip), .optional = true},
	{.name = "zcopy", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_create_transport, zcopy), .optional = true},
};

static bool is_common_key(const char *key)
{
	for (size_t i = 0; i < AXON_COUNTOF(g_create_transport_params); i++) {
		if (strcmp(g_create_transport_params[i].name, key) == 0) {
			return true;
		}
	}
	return false;
}

static void rpc_nvmf_create_transport(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_create_transport p = {0};
	struct axon_nvmf_transport_opts opts;
	const struct axon_nvmf_transport_ops *ops;
	struct axon_nvmf_transport *transport = NULL;
	json_t *common = NULL, *specific = NULL, *value;
	void *spec = NULL;
	const char *key, *trtype;
	char err[256];
	int rc;

	if (!json_is_object(params)) {
		axon_rpc_send_param_error(req, "trtype", "expected parameters {\"trtype\": ...}");
		return;
	}
	trtype = json_string_value(json_object_get(params, "trtype"));
	ops = trtype ? axon_nvmf_transport_ops_find(trtype) : NULL;
	if (trtype == NULL) {
		axon_rpc_send_param_error(req, "trtype", "expected a transport name such as \"TCP\"");
		return;
	}
	if (ops == NULL) {
		axon_rpc_send_param_error(req, "trtype", "unknown transport '%s'", trtype);
		return;
	}
	common = json_object();
	specific = json_object();
	if (common == NULL || specific == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "nvmf_create_transport");
		goto out;
	}
	json_object_foreach((json_t *)params, key, value) {
		json_object_set(is_common_key(key) ? common : specific, key, value);
	}
	ops->opts_init(&opts);
	p.max_queue_depth = opts.max_queue_depth;
	p.max_io_qpairs_per_ctrlr = opts.max_qpairs_per_ctrlr - 1u;
	p.in_capsule_data_size = opts.in_capsule_data_size;
	p.max_io_size = opts.max_io_size;
	p.io_unit_size = opts.io_unit_size;
	p.max_aq_depth = opts.max_aq_depth;
	p.num_shared_buffers = opts.num_shared_buffers;
	p.buf_cache_size = opts.buf_cache_size;
	p.abort_timeout_sec = opts.abort_timeout_sec;
	p.acceptor_poll_rate = opts.acceptor_poll_rate;
	if (axon_rpc_decode_params(req, common, g_create_transport_params,
				   AXON_COUNTOF(g_create_transport_params), &p) != 0) {
		goto out;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out_params;
	}
	opts.max_queue_depth = (uint16_t)p.max_queue_depth;
	opts.max_qpairs_per_ctrlr = (uint16_t)(p.max_io_qpairs_per_ctrlr + 1);
	if (json_object_get(common, "max_qpairs_per_ctrlr") != NULL &&
	    json_object_get(common, "max_io_qpairs_per_ctrlr") == NULL) {
		opts.max_qpairs_per_ctrlr = (uint16_t)p.max_qpairs_per_ctrlr;
	}
	opts.in_capsule_data_size = p.in_capsule_data_size;
	opts.max_io_size = p.max_io_size;
	opts.io_unit_size = p.io_unit_size;
	opts.max_aq_depth = p.max_aq_depth;
	opts.num_shared_buffers = p.num_shared_buffers;
	opts.buf_cache_size = p.buf_cache_size;
	opts.abort_timeout_sec = p.abort_timeout_sec;
	opts.acceptor_poll_rate = p.acceptor_poll_rate;
	opts.dif_insert_or_strip = p.dif_insert_or_strip;
	opts.zcopy = p.zcopy;

	if (ops->specific_opts_size > 0) {
		spec = calloc(1, ops->specific_opts_size);
		if (spec == NULL) {
			axon_rpc_send_errno(req, -ENOMEM, "nvmf_create_transport");
			goto out_params;
		}
		if (ops->specific_opts_init != NULL) {
			ops->specific_opts_init(spec);
		}
		if (axon_rpc_decode_params(req, specific, ops->specific_params,
					   ops->num_specific_params, spec) != 0) {
			free(spec);
			goto out_params;
		}
	} else if (json_object_size(specific) > 0) {
		json_object_foreach(specific, key, value) {
			axon_rpc_send_param_error(req, key, "unknown parameter for transport %s",
						  ops->name);
			break;
		}
		goto out_params;
	}
	rc = nvmf_transport_create(axon_nvmf_get_tgt(), ops, &opts, spec, &transport, err, sizeof(err));
	if (rc != 0) {
		const char *colon = strchr(err, ':');
		char pname[64] = "trtype";

		if (colon != NULL && (size_t)(colon - err) < sizeof(pname)) {
			memcpy(pname, err, (size_t)(colon - err));
			pname[colon - err] = '\0';
			axon_rpc_send_param_error(req, pname, "%s", colon + 2);
		} else {
			axon_rpc_send_param_error(req, pname, "%s", err);
		}
		if (spec != NULL) {
			axon_rpc_free_params(ops->specific_params, ops->num_specific_params, spec);
			free(spec);
		}
		goto out_params;
	}
	nvmf_rpc_transport_added(transport, req);
out_params:
	axon_rpc_free_params(g_create_transport_params, AXON_COUNTOF(g_create_transport_params), &p);
out:
	json_decref(common);
	json_decref(specific);
}
AXON_RPC_REGISTER("nvmf_create_transport", rpc_nvmf_create_transport, AXON_RPC_RUNTIME)

struct transport_added_ctx {
	struct axon_nvmf_transport *transport;
	struct axon_rpc_request *req;
};

/* A new transport gets its part of every poll group, on their threads. */
static void transport_add_group(struct axon_io_channel_iter *i)
{
	struct transport_added_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_nvmf_poll_group *group =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));

	axon_for_each_channel_continue(i, nvmf_poll_group_add_transport(group, ctx->transport));
}

static void transport_remove_group(struct axon_io_channel_iter *i)
{
	struct transport_added_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_nvmf_poll_group *group =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));

	nvmf_poll_group_remove_transport(group, ctx->transport);
	axon_for_each_channel_continue(i, 0);
}

static void transport_failed_destroyed(void *arg)
{
	struct transport_added_ctx *ctx = arg;

	free(ctx);
}

static void transport_rollback_done(struct axon_io_channel_iter *i, int status)
{
	struct transport_added_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status;
	nvmf_transport_destroy(ctx->transport, transport_failed_destroyed, ctx);
}

static void transport_add_done(struct axon_io_channel_iter *i, int status)
{
	struct transport_added_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	if (status == 0) {
		axon_rpc_send_bool(ctx->req, true);
		free(ctx);
		return;
	}
	axon_rpc_send_param_error(ctx->req, "trtype", "the %s transport could not join every poll "
				  "group: %d", ctx->transport->ops->name, status);
	axon_for_each_channel(ctx->transport->tgt, transport_remove_group, ctx,
			      transport_rollback_done);
}

void nvmf_rpc_transport_added(struct axon_nvmf_transport *transport, struct axon_rpc_request *req)
{
	struct transport_added_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "nvmf_create_transport");
		return;
	}
	ctx->transport = transport;
	ctx->req = req;
	axon_for_each_channel(transport->tgt, transport_add_group, ctx, transport_add_done);
}

/* ---- nvmf_get_transports ----------------------------------------------------------------- */

struct rpc_get_transports {
	char *trtype;
	char *tgt_name;
};

static const struct axon_rpc_param g_get_transports_params[] = {
	{.name = "trtype", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_get_transports, trtype), .optional = true},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_get_transports, tgt_name), .optional = true},
};

static void rpc_nvmf_get_transports(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_get_transports p = {0};
	struct axon_nvmf_transport *transport;
	json_t *arr;

	if (axon_rpc_decode_params(req, params, g_get_transports_params,
				   AXON_COUNTOF(g_get_transports_params), &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	if (p.trtype != NULL && nvmf_tgt_find_transport(axon_nvmf_get_tgt(), p.trtype) == NULL) {
		axon_rpc_send_param_error(req, "trtype", "no %s transport", p.trtype);
		goto out;
	}
	arr = json_array();
	TAILQ_FOREACH(transport, &axon_nvmf_get_tgt()->transports, link) {
		if (p.trtype == NULL || strcasecmp(p.trtype, transport->ops->name) == 0) {
			json_array_append_new(arr, nvmf_transport_opts_json(transport));
		}
	}
	axon_rpc_send_result(req, arr);
out:
	axon_rpc_free_params(g_get_transports_params, AXON_COUNTOF(g_get_transports_params), &p);
}
AXON_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, AXON_RPC_RUNTIME)

/* ---- nvmf_get_stats ------------------------------------------------------------------------- */

static const struct axon_rpc_param g_tgt_only_params[] = {
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING, .offset = 0, .optional = true},
};

struct stats_ctx {
	struct axon_rpc_request *req;
	json_t *groups;
};

static void stats_group(struct axon_io_channel_iter *i)
{
	struct stats_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_nvmf_poll_group *group =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));
	struct axon_nvmf_transport_poll_group *tgroup;
	const struct nvmf_poll_group_stat *st = &group->stat;
	json_t *transports = json_array();
	json_t *g;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		json_t *t = json_pack("{s:s}", "trtype", tgroup->transport->ops->name);

		if (tgroup->transport->ops->poll_group_dump_stat != NULL) {
			tgroup->transport->ops->poll_group_dump_stat(tgroup, t);
		}
		json_array_append_new(transports, t);
	}
	g = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "name", group->name,
		      "admin_qpairs", (json_int_t)st->admin_qpairs, "io_qpairs",
		      (json_int_t)st->io_qpairs, "current_admin_qpairs",
		      (json_int_t)st->current_admin_qpairs, "current_io_qpairs",
		      (json_int_t)st->current_io_qpairs, "pending_bdev_io",
		      (json_int_t)st->pending_bdev_io, "completed_nvme_io",
		      (json_int_t)st->completed_nvme_io, "transports", transports);
	json_array_append_new(ctx->groups, g);
	axon_for_each_channel_continue(i, 0);
}

static void stats_done(struct axon_io_channel_iter *i, int status)
{
	struct stats_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status;
	axon_rpc_send_result(ctx->req, json_pack("{s:I, s:o}", "tick_rate",
						 (json_int_t)axon_get_ticks_hz(), "poll_groups",
						 ctx->groups));
	free(ctx);
}

static void rpc_nvmf_get_stats(struct axon_rpc_request *req, const json_t *params)
{
	char *tgt_name = NULL;
	struct stats_ctx *ctx;

	if (axon_rpc_decode_params(req, params, g_tgt_only_params, AXON_COUNTOF(g_tgt_only_params),
				   &tgt_name) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, tgt_name) != 0) {
		free(tgt_name);
		return;
	}
	free(tgt_name);
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "nvmf_get_stats");
		return;
	}
	ctx->req = req;
	ctx->groups = json_array();
	axon_for_each_channel(axon_nvmf_get_tgt(), stats_group, ctx, stats_done);
}
AXON_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, AXON_RPC_RUNTIME)

/* ---- discovery referrals ----------------------------------------------------------------------- */

struct rpc_referral {
	json_t *address;
	char *subnqn;
	char *tgt_name;
	bool secure_channel;
};

static const struct axon_rpc_param g_add_referral_params[] = {
	{.name = "address", .type = AXON_RPC_PARAM_JSON, .offset = offsetof(struct rpc_referral, address)},
	{.name = "subnqn", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_referral, subnqn), .optional = true},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_referral, tgt_name), .optional = true},
	{.name = "secure_channel", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_referral, secure_channel), .optional = true},
};

/* nvmf_discovery_remove_referral takes the same minus secure_channel. */
#define REMOVE_REFERRAL_PARAMS 3

static void rpc_referral(struct axon_rpc_request *req, const json_t *params, bool add)
{
	struct rpc_referral p = {0};
	struct axon_nvmf_trid trid;
	size_t n = add ? AXON_COUNTOF(g_add_referral_params) : REMOVE_REFERRAL_PARAMS;
	int rc;

	if (axon_rpc_decode_params(req, params, g_add_referral_params, n, &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0 ||
	    nvmf_rpc_decode_trid(req, "address", p.address, &trid) != 0) {
		goto out;
	}
	if (p.subnqn != NULL && !axon_nvmf_nqn_is_valid(p.subnqn)) {
		axon_rpc_send_param_error(req, "subnqn", "'%s' is not a valid NQN", p.subnqn);
		goto out;
	}
	rc = add ? axon_nvmf_tgt_add_referral(axon_nvmf_get_tgt(), &trid, p.subnqn, p.secure_channel)
		 : axon_nvmf_tgt_remove_referral(axon_nvmf_get_tgt(), &trid, p.subnqn);
	if (rc == -EEXIST) {
		axon_rpc_send_param_error(req, "address", "this referral exists already");
	} else if (rc == -ENOENT) {
		axon_rpc_send_param_error(req, "address", "no such referral");
	} else if (rc != 0) {
		axon_rpc_send_errno(req, rc, add ? "add referral" : "remove referral");
	} else {
		axon_rpc_send_bool(req, true);
	}
out:
	axon_rpc_free_params(g_add_referral_params, n, &p);
}

static void rpc_nvmf_discovery_add_referral(struct axon_rpc_request *req, const json_t *params)
{
	rpc_referral(req, params, true);
}
AXON_RPC_REGISTER("nvmf_discovery_add_referral", rpc_nvmf_discovery_add_referral, AXON_RPC_RUNTIME)

static void rpc_nvmf_discovery_remove_referral(struct axon_rpc_request *req, const json_t *params)
{
	rpc_referral(req, params, false);
}
AXON_RPC_REGISTER("nvmf_discovery_remove_referral", rpc_nvmf_discovery_remove_referral,
		  AXON_RPC_RUNTIME)

static void rpc_nvmf_discovery_get_referrals(struct axon_rpc_request *req, const json_t *params)
{
	char *tgt_name = NULL;
	struct nvmf_referral *r;
	json_t *arr;

	if (axon_rpc_decode_params(req, params, g_tgt_only_params, AXON_COUNTOF(g_tgt_only_params),
				   &tgt_name) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, tgt_name) != 0) {
		free(tgt_name);
		return;
	}
	free(tgt_name);
	arr = json_array();
	TAILQ_FOREACH(r, &axon_nvmf_get_tgt()->referrals, link) {
		json_array_append_new(arr, json_pack("{s:o, s:b, s:s}", "address",
						     axon_nvmf_trid_to_json(&r->trid),
						     "secure_channel", r->secure_channel, "subnqn",
						     r->subnqn));
	}
	axon_rpc_send_result(req, arr);
}
AXON_RPC_REGISTER("nvmf_discovery_get_referrals", rpc_nvmf_discovery_get_referrals,
		  AXON_RPC_RUNTIME)
