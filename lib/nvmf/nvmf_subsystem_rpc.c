/*
 * Subsystem JSON-RPC methods (SPDK names, parameters and results):
 * nvmf_create_subsystem, nvmf_delete_subsystem, nvmf_get_subsystems,
 * nvmf_subsystem_add_listener / remove_listener / get_listeners,
 * nvmf_subsystem_add_ns / remove_ns, nvmf_subsystem_add_host / remove_host,
 * nvmf_subsystem_allow_any_host, nvmf_subsystem_get_controllers,
 * nvmf_subsystem_get_qpairs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/rpc.h"
#include "nvmf_internal.h"
#include "nvmf_rpc_internal.h"

/* Find the subsystem named by "nqn" (any type when any_type), or send the error. */
static struct axon_nvmf_subsystem *rpc_find_subsystem(struct axon_rpc_request *req,
						      const char *nqn, bool any_type)
{
	struct axon_nvmf_subsystem *s = axon_nvmf_tgt_find_subsystem(axon_nvmf_get_tgt(), nqn);

	if (s == NULL || s->destroying) {
		axon_rpc_send_param_error(req, "nqn", "no subsystem '%s'", nqn);
		return NULL;
	}
	if (!any_type && s->subtype != AXON_NVMF_SUBTYPE_NVME) {
		axon_rpc_send_param_error(req, "nqn", "'%s' is the discovery subsystem", nqn);
		return NULL;
	}
	return s;
}

/* ---- nvmf_create_subsystem ------------------------------------------------------------- */

struct rpc_create_subsystem {
	char *nqn;
	char *tgt_name;
	char *serial_number;
	char *model_number;
	bool allow_any_host;
	uint32_t max_namespaces;
	bool ana_reporting;
	uint32_t min_cntlid;
	uint32_t max_cntlid;
	uint64_t max_discard_size_kib;
	uint64_t max_write_zeroes_size_kib;
	bool passthrough;
	bool enable_nssr;
};

#define CS(n, t, ...)                                                                    \
	{.name = #n, .type = AXON_RPC_PARAM_##t,                                         \
	 .offset = offsetof(struct rpc_create_subsystem, n), .optional = true, __VA_ARGS__}

static const struct axon_rpc_param g_create_subsystem_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_create_subsystem, nqn)},
	CS(tgt_name, STRING),
	CS(serial_number, STRING),
	CS(model_number, STRING),
	CS(allow_any_host, BOOL),
	CS(max_namespaces, UINT32, .min = 0, .max = 65535),
	CS(ana_reporting, BOOL),
	CS(min_cntlid, UINT32, .min = 1, .max = AXON_NVMF_CNTLID_MAX),
	CS(max_cntlid, UINT32, .min = 1, .max = AXON_NVMF_CNTLID_MAX),
	CS(max_discard_size_kib, UINT64),
	CS(max_write_zeroes_size_kib, UINT64),
	CS(passthrough, BOOL),
	CS(enable_nssr, BOOL),
};

static void create_subsystem_started(struct axon_nvmf_subsystem *s, void *cb_arg, int status)
{
	struct axon_rpc_request *req = cb_arg;

	if (status != 0) {
		axon_rpc_send_errno(req, status, "start subsystem");
		return;
	}
	(void)s;
	axon_rpc_send_bool(req, true);
}

static void create_subsystem_cleanup(void *arg)
{
	(void)arg;
}

static void rpc_nvmf_create_subsystem(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_create_subsystem p = {.min_cntlid = 1, .max_cntlid = AXON_NVMF_CNTLID_MAX};
	struct axon_nvmf_subsystem *s;
	int rc;

	if (axon_rpc_decode_params(req, params, g_create_subsystem_params,
				   AXON_COUNTOF(g_create_subsystem_params), &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	if (p.passthrough || p.enable_nssr) {
		axon_rpc_send_param_error(req, p.passthrough ? "passthrough" : "enable_nssr",
					  "not supported");
		goto out;
	}
	if (p.min_cntlid > p.max_cntlid) {
		axon_rpc_send_param_error(req, "min_cntlid", "%u is above max_cntlid %u",
					  p.min_cntlid, p.max_cntlid);
		goto out;
	}
	s = axon_nvmf_subsystem_create(axon_nvmf_get_tgt(), p.nqn, AXON_NVMF_SUBTYPE_NVME,
				       p.max_namespaces, &rc);
	if (s == NULL) {
		if (rc == -EINVAL) {
			axon_rpc_send_param_error(req, "nqn", "'%s' is not a valid NQN", p.nqn);
		} else if (rc == -EEXIST) {
			axon_rpc_send_param_error(req, "nqn", "subsystem '%s' exists already", p.nqn);
		} else if (rc == -ENOSPC) {
			axon_rpc_send_param_error(req, "nqn", "the target has its maximum of %u "
						  "subsystems (nvmf_set_max_subsystems)",
						  axon_nvmf_get_tgt()->max_subsystems);
		} else {
			axon_rpc_send_errno(req, rc, "create subsystem");
		}
		goto out;
	}
	if (p.serial_number != NULL && axon_nvmf_subsystem_set_sn(s, p.serial_number) != 0) {
		axon_rpc_send_param_error(req, "serial_number", "expected 1 to %u printable ASCII "
					  "characters", AXON_NVMF_SN_MAX_LEN);
		goto out_destroy;
	}
	if (p.model_number != NULL && axon_nvmf_subsystem_set_mn(s, p.model_number) != 0) {
		axon_rpc_send_param_error(req, "model_number", "expected 1 to %u printable ASCII "
					  "characters", AXON_NVMF_MN_MAX_LEN);
		goto out_destroy;
	}
	axon_nvmf_subsystem_set_cntlid_range(s, (uint16_t)p.min_cntlid, (uint16_t)p.max_cntlid);
	s->allow_any_host = p.allow_any_host;
	/* ana_reporting and the size limits are accepted and ignored. */
	rc = axon_nvmf_subsystem_start(s, create_subsystem_started, req);
	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "start subsystem");
		goto out_destroy;
	}
	goto out;
out_destroy:
	axon_nvmf_subsystem_destroy(s, create_subsystem_cleanup, NULL);
out:
	axon_rpc_free_params(g_create_subsystem_params, AXON_COUNTOF(g_create_subsystem_params), &p);
}
AXON_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, AXON_RPC_RUNTIME)

/* ---- methods taking nqn (+ tgt_name) ---------------------------------------------------- */

struct rpc_nqn {
	char *nqn;
	char *tgt_name;
};

static const struct axon_rpc_param g_nqn_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_nqn, nqn)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_nqn, tgt_name), .optional = true},
};

/* Decode {nqn, tgt_name} and find the subsystem; NULL if an error was sent. */
static struct axon_nvmf_subsystem *rpc_nqn_subsystem(struct axon_rpc_request *req,
						     const json_t *params, bool any_type)
{
	struct rpc_nqn p = {0};
	struct axon_nvmf_subsystem *s = NULL;

	if (axon_rpc_decode_params(req, params, g_nqn_params, AXON_COUNTOF(g_nqn_params), &p) != 0) {
		return NULL;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) == 0) {
		s = rpc_find_subsystem(req, p.nqn, any_type);
	}
	axon_rpc_free_params(g_nqn_params, AXON_COUNTOF(g_nqn_params), &p);
	return s;
}

static void delete_subsystem_done(void *arg)
{
	axon_rpc_send_bool(arg, true);
}

static void rpc_nvmf_delete_subsystem(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_nvmf_subsystem *s = rpc_nqn_subsystem(req, params, true);

	if (s == NULL) {
		return;
	}
	if (s->subtype == AXON_NVMF_SUBTYPE_DISCOVERY) {
		axon_rpc_send_param_error(req, "nqn", "the discovery subsystem cannot be deleted");
		return;
	}
	if (axon_nvmf_subsystem_destroy(s, delete_subsystem_done, req) != 0) {
		axon_rpc_send_param_error(req, "nqn", "'%s' is being deleted already", s->nqn);
	}
}
AXON_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, AXON_RPC_RUNTIME)

/* ---- nvmf_get_subsystems ------------------------------------------------------------------ */

static json_t *listeners_json(struct axon_nvmf_subsystem *s)
{
	json_t *arr = json_array();

	for (const struct axon_nvmf_trid *t = axon_nvmf_subsystem_get_first_listener(s); t != NULL;
	     t = axon_nvmf_subsystem_get_next_listener(s, t)) {
		json_array_append_new(arr, axon_nvmf_trid_to_json(t));
	}
	return arr;
}

static json_t *subsystem_json(struct axon_nvmf_subsystem *s)
{
	json_t *hosts = json_array();
	json_t *obj;

	for (const char *h = axon_nvmf_subsystem_get_first_host(s); h != NULL;
	     h = axon_nvmf_subsystem_get_next_host(s, h)) {
		json_array_append_new(hosts, json_pack("{s:s}", "nqn", h));
	}
	obj = json_pack("{s:s, s:s, s:o, s:b, s:o}", "nqn", s->nqn, "subtype",
			s->subtype == AXON_NVMF_SUBTYPE_DISCOVERY ? "Discovery" : "NVMe",
			"listen_addresses", listeners_json(s), "allow_any_host", s->allow_any_host,
			"hosts", hosts);
	if (s->subtype == AXON_NVMF_SUBTYPE_NVME) {
		json_t *nss = json_array();

		for (struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_first_ns(s); ns != NULL;
		     ns = axon_nvmf_subsystem_get_next_ns(s, ns)) {
			json_array_append_new(nss, nvmf_ns_to_json(ns, false));
		}
		json_object_set_new(obj, "serial_number", json_string(s->sn));
		json_object_set_new(obj, "model_number", json_string(s->mn));
		json_object_set_new(obj, "max_namespaces", json_integer(s->max_nsid));
		json_object_set_new(obj, "min_cntlid", json_integer(s->min_cntlid));
		json_object_set_new(obj, "max_cntlid", json_integer(s->max_cntlid));
		json_object_set_new(obj, "namespaces", nss);
	}
	json_object_set_new(obj, "state", json_string(axon_nvmf_subsystem_state_str(s->state)));
	return obj;
}

static const struct axon_rpc_param g_get_subsystems_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_nqn, nqn),
	 .optional = true},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_nqn, tgt_name), .optional = true},
};

static void rpc_nvmf_get_subsystems(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_nqn p = {0};
	struct axon_nvmf_subsystem *s;
	json_t *arr;

	if (axon_rpc_decode_params(req, params, g_get_subsystems_params,
				   AXON_COUNTOF(g_get_subsystems_params), &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	if (p.nqn != NULL) {
		s = rpc_find_subsystem(req, p.nqn, true);
		if (s != NULL) {
			arr = json_array();
			json_array_append_new(arr, subsystem_json(s));
			axon_rpc_send_result(req, arr);
		}
		goto out;
	}
	arr = json_array();
	TAILQ_FOREACH(s, &axon_nvmf_get_tgt()->subsystem_list, link) {
		if (!s->destroying) {
			json_array_append_new(arr, subsystem_json(s));
		}
	}
	axon_rpc_send_result(req, arr);
out:
	axon_rpc_free_params(g_get_subsystems_params, AXON_COUNTOF(g_get_subsystems_params), &p);
}
AXON_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, AXON_RPC_RUNTIME)

/* ---- listeners ------------------------------------------------------------------------------ */

struct rpc_listener {
	char *nqn;
	json_t *listen_address;
	char *tgt_name;
	bool secure_channel;
	char *ana_state;
	char *sock_impl;
};

static const struct axon_rpc_param g_listener_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_listener, nqn)},
	{.name = "listen_address", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct rpc_listener, listen_address)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_listener, tgt_name), .optional = true},
	/* add_listener only: */
	{.name = "secure_channel", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_listener, secure_channel), .optional = true},
	{.name = "ana_state", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_listener, ana_state), .optional = true},
	{.name = "sock_impl", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_listener, sock_impl), .optional = true},
};
#define REMOVE_LISTENER_PARAMS 3

static void rpc_listener(struct axon_rpc_request *req, const json_t *params, bool add)
{
	struct rpc_listener p = {0};
	size_t n = add ? AXON_COUNTOF(g_listener_params) : REMOVE_LISTENER_PARAMS;
	struct axon_nvmf_subsystem *s;
	struct axon_nvmf_trid trid;
	int rc;

	if (axon_rpc_decode_params(req, params, g_listener_params, n, &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	s = rpc_find_subsystem(req, p.nqn, true);
	if (s == NULL || nvmf_rpc_decode_trid(req, "listen_address", p.listen_address, &trid) != 0) {
		goto out;
	}
	if (p.secure_channel) {
		axon_rpc_send_param_error(req, "secure_channel", "TLS is not supported");
		goto out;
	}
	if (p.ana_state != NULL && strcmp(p.ana_state, "optimized") != 0) {
		axon_rpc_send_param_error(req, "ana_state", "ANA is not supported: only \"optimized\"");
		goto out;
	}
	if (p.sock_impl != NULL && strcmp(p.sock_impl, "posix") != 0) {
		axon_rpc_send_param_error(req, "sock_impl", "only \"posix\" is available");
		goto out;
	}
	if (add) {
		rc = axon_nvmf_subsystem_add_listener(s, &trid);
	} else {
		rc = axon_nvmf_subsystem_remove_listener(s, &trid);
	}
	switch (rc) {
	case 0:
		axon_rpc_send_bool(req, true);
		break;
	case -EEXIST:
		axon_rpc_send_param_error(req, "listen_address", "%s:%s is a listener of %s already",
					  trid.traddr, trid.trsvcid, s->nqn);
		break;
	case -ENOENT:
		axon_rpc_send_param_error(req, "listen_address", "%s:%s is not a listener of %s",
					  trid.traddr, trid.trsvcid, s->nqn);
		break;
	case -ENODEV:
		axon_rpc_send_param_error(req, "listen_address", "trtype: no %s transport: create it "
					  "with nvmf_create_transport first", trid.trstring);
		break;
	default:
		axon_rpc_send_param_error(req, "listen_address", "cannot listen on %s:%s: %s",
					  trid.traddr, trid.trsvcid, strerror(-rc));
		break;
	}
out:
	axon_rpc_free_params(g_listener_params, n, &p);
}

static void rpc_nvmf_subsystem_add_listener(struct axon_rpc_request *req, const json_t *params)
{
	rpc_listener(req, params, true);
}
AXON_RPC_REGISTER("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener, AXON_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_listener(struct axon_rpc_request *req, const json_t *params)
{
	rpc_listener(req, params, false);
}
AXON_RPC_REGISTER("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener,
		  AXON_RPC_RUNTIME)

static void rpc_nvmf_subsystem_get_listeners(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_nvmf_subsystem *s = rpc_nqn_subsystem(req, params, true);
	json_t *arr;

	if (s == NULL) {
		return;
	}
	arr = json_array();
	for (const struct axon_nvmf_trid *t = axon_nvmf_subsystem_get_first_listener(s); t != NULL;
	     t = axon_nvmf_subsystem_get_next_listener(s, t)) {
		json_array_append_new(arr, json_pack("{s:o, s:[{s:i, s:s}]}", "address",
						     axon_nvmf_trid_to_json(t), "ana_states",
						     "ana_group", 1, "ana_state", "optimized"));
	}
	axon_rpc_send_result(req, arr);
}
AXON_RPC_REGISTER("nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners, AXON_RPC_RUNTIME)

/* ---- namespaces ---------------------------------------------------------------------------- */

struct rpc_ns_params {
	char *bdev_name;
	uint32_t nsid;
	char *nguid;
	char *eui64;
	char *uuid;
	char *ptpl_file;
	uint32_t anagrpid;
	bool no_auto_visible;
	bool hide_metadata;
};

#define NSP(n, t, ...)                                                                   \
	{.name = #n, .type = AXON_RPC_PARAM_##t,                                         \
	 .offset = offsetof(struct rpc_ns_params, n), .optional = true, __VA_ARGS__}

static const struct axon_rpc_param g_ns_params[] = {
	{.name = "bdev_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_ns_params, bdev_name)},
	NSP(nsid, UINT32, .min = 1, .max = 0xfffffffe),
	NSP(nguid, STRING),
	NSP(eui64, STRING),
	NSP(uuid, STRING),
	NSP(ptpl_file, STRING),
	NSP(anagrpid, UINT32),
	NSP(no_auto_visible, BOOL),
	NSP(hide_metadata, BOOL),
};

struct rpc_add_ns {
	char *nqn;
	json_t *namespace;
	char *tgt_name;
};

static const struct axon_rpc_param g_add_ns_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_add_ns, nqn)},
	{.name = "namespace", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct rpc_add_ns, namespace)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_add_ns, tgt_name), .optional = true},
};

/* Hex string (dashes allowed, as SPDK prints NGUIDs in UUID form) into n bytes. */
static int parse_hex_id(const char *s, uint8_t *out, size_t n)
{
	size_t i = 0;

	for (; *s != '\0'; s++) {
		unsigned v;
		char c = *s;

		if (c == '-') {
			continue;
		}
		if (i >= 2 * n) {
			return -EINVAL;
		}
		if (c >= '0' && c <= '9') {
			v = (unsigned)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			v = (unsigned)(c - 'a' + 10);
		} else if (c >= 'A' && c <= 'F') {
			v = (unsigned)(c - 'A' + 10);
		} else {
			return -EINVAL;
		}
		out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : (v << 4));
		i++;
	}
	return i == 2 * n ? 0 : -EINVAL;
}

static void add_ns_done(void *cb_arg, uint32_t nsid, int status)
{
	struct axon_rpc_request *req = cb_arg;

	switch (status) {
	case 0:
		axon_rpc_send_result(req, json_integer(nsid));
		return;
	case -ENODEV:
		axon_rpc_send_param_error(req, "namespace", "bdev_name: no such bdev");
		return;
	case -EEXIST:
		axon_rpc_send_param_error(req, "namespace", "nsid: %u is in use", nsid);
		return;
	case -EINVAL:
		axon_rpc_send_param_error(req, "namespace", "nsid: beyond the subsystem's "
					  "max_namespaces");
		return;
	case -ENOSPC:
		axon_rpc_send_param_error(req, "namespace", "the subsystem has no free nsid "
					  "(max_namespaces)");
		return;
	case -EPERM:
		axon_rpc_send_param_error(req, "namespace", "bdev_name: the bdev is claimed by a module");
		return;
	default:
		axon_rpc_send_errno(req, status, "add namespace");
		return;
	}
}

static void rpc_nvmf_subsystem_add_ns(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_add_ns p = {0};
	struct rpc_ns_params nsp = {0};
	struct axon_nvmf_ns_opts opts = {0};
	struct axon_nvmf_subsystem *s;
	bool nsp_decoded = false;

	if (axon_rpc_decode_params(req, params, g_add_ns_params, AXON_COUNTOF(g_add_ns_params), &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	s = rpc_find_subsystem(req, p.nqn, false);
	if (s == NULL) {
		goto out;
	}
	if (!json_is_object(p.namespace)) {
		axon_rpc_send_param_error(req, "namespace", "expected an object {bdev_name, nsid, ...}");
		goto out;
	}
	/* The nested object is decoded with the same table machinery; its errors
	 * name the member ("bdev_name: ..."). */
	if (axon_rpc_decode_params(req, p.namespace, g_ns_params, AXON_COUNTOF(g_ns_params), &nsp) != 0) {
		goto out;
	}
	nsp_decoded = true;
	opts.nsid = nsp.nsid;
	if (nsp.nguid != NULL && parse_hex_id(nsp.nguid, opts.nguid, sizeof(opts.nguid)) != 0) {
		axon_rpc_send_param_error(req, "namespace", "nguid: expected 32 hex digits");
		goto out;
	}
	if (nsp.eui64 != NULL && parse_hex_id(nsp.eui64, opts.eui64, sizeof(opts.eui64)) != 0) {
		axon_rpc_send_param_error(req, "namespace", "eui64: expected 16 hex digits");
		goto out;
	}
	if (nsp.uuid != NULL && axon_uuid_parse(&opts.uuid, nsp.uuid) != 0) {
		axon_rpc_send_param_error(req, "namespace", "uuid: expected a UUID, got '%s'", nsp.uuid);
		goto out;
	}
	if (nsp.ptpl_file != NULL || nsp.no_auto_visible || nsp.hide_metadata ||
	    (nsp.anagrpid != 0 && nsp.anagrpid != 1)) {
		axon_rpc_send_param_error(req, "namespace", "%s: not supported",
					  nsp.ptpl_file ? "ptpl_file" :
					  nsp.no_auto_visible ? "no_auto_visible" :
					  nsp.hide_metadata ? "hide_metadata" : "anagrpid");
		goto out;
	}
	axon_nvmf_subsystem_add_ns(s, nsp.bdev_name, &opts, add_ns_done, req);
out:
	if (nsp_decoded) {
		axon_rpc_free_params(g_ns_params, AXON_COUNTOF(g_ns_params), &nsp);
	}
	axon_rpc_free_params(g_add_ns_params, AXON_COUNTOF(g_add_ns_params), &p);
}
AXON_RPC_REGISTER("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns, AXON_RPC_RUNTIME)

struct rpc_remove_ns {
	char *nqn;
	uint32_t nsid;
	char *tgt_name;
};

static const struct axon_rpc_param g_remove_ns_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_remove_ns, nqn)},
	{.name = "nsid", .type = AXON_RPC_PARAM_UINT32, .offset = offsetof(struct rpc_remove_ns, nsid),
	 .min = 1, .max = 0xfffffffe},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_remove_ns, tgt_name), .optional = true},
};

static void remove_ns_done(void *cb_arg, uint32_t nsid, int status)
{
	struct axon_rpc_request *req = cb_arg;

	if (status == -ENOENT) {
		axon_rpc_send_param_error(req, "nsid", "no namespace %u", nsid);
	} else if (status != 0) {
		axon_rpc_send_errno(req, status, "remove namespace");
	} else {
		axon_rpc_send_bool(req, true);
	}
}

static void rpc_nvmf_subsystem_remove_ns(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_remove_ns p = {0};
	struct axon_nvmf_subsystem *s;

	if (axon_rpc_decode_params(req, params, g_remove_ns_params, AXON_COUNTOF(g_remove_ns_params),
				   &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) == 0) {
		s = rpc_find_subsystem(req, p.nqn, false);
		if (s != NULL) {
			axon_nvmf_subsystem_remove_ns(s, p.nsid, remove_ns_done, req);
		}
	}
	axon_rpc_free_params(g_remove_ns_params, AXON_COUNTOF(g_remove_ns_params), &p);
}
AXON_RPC_REGISTER("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns, AXON_RPC_RUNTIME)

/* ---- hosts ------------------------------------------------------------------------------------ */

struct rpc_host {
	char *nqn;
	char *host;
	char *tgt_name;
	char *psk;
	char *dhchap_key;
	char *dhchap_ctrlr_key;
};

static const struct axon_rpc_param g_host_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_host, nqn)},
	{.name = "host", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_host, host)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_host, tgt_name), .optional = true},
	/* add_host only: */
	{.name = "psk", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_host, psk),
	 .optional = true},
	{.name = "dhchap_key", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_host, dhchap_key), .optional = true},
	{.name = "dhchap_ctrlr_key", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_host, dhchap_ctrlr_key), .optional = true},
};
#define REMOVE_HOST_PARAMS 3

static void rpc_host(struct axon_rpc_request *req, const json_t *params, bool add)
{
	struct rpc_host p = {0};
	size_t n = add ? AXON_COUNTOF(g_host_params) : REMOVE_HOST_PARAMS;
	struct axon_nvmf_subsystem *s;
	int rc;

	if (axon_rpc_decode_params(req, params, g_host_params, n, &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) != 0) {
		goto out;
	}
	s = rpc_find_subsystem(req, p.nqn, false);
	if (s == NULL) {
		goto out;
	}
	if (p.psk != NULL || p.dhchap_key != NULL || p.dhchap_ctrlr_key != NULL) {
		axon_rpc_send_param_error(req, p.psk ? "psk" : p.dhchap_key ? "dhchap_key" :
					  "dhchap_ctrlr_key", "authentication is not supported");
		goto out;
	}
	rc = add ? axon_nvmf_subsystem_add_host(s, p.host) : axon_nvmf_subsystem_remove_host(s, p.host);
	if (rc == -EINVAL) {
		axon_rpc_send_param_error(req, "host", "'%s' is not a valid NQN", p.host);
	} else if (rc == -EEXIST) {
		axon_rpc_send_param_error(req, "host", "'%s' is allowed already", p.host);
	} else if (rc == -ENOENT) {
		axon_rpc_send_param_error(req, "host", "'%s' is not in the host list", p.host);
	} else if (rc != 0) {
		axon_rpc_send_errno(req, rc, add ? "add host" : "remove host");
	} else {
		axon_rpc_send_bool(req, true);
	}
out:
	axon_rpc_free_params(g_host_params, n, &p);
}

static void rpc_nvmf_subsystem_add_host(struct axon_rpc_request *req, const json_t *params)
{
	rpc_host(req, params, true);
}
AXON_RPC_REGISTER("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host, AXON_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_host(struct axon_rpc_request *req, const json_t *params)
{
	rpc_host(req, params, false);
}
AXON_RPC_REGISTER("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host, AXON_RPC_RUNTIME)

struct rpc_allow_any {
	char *nqn;
	bool allow_any_host;
	char *tgt_name;
};

static const struct axon_rpc_param g_allow_any_params[] = {
	{.name = "nqn", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct rpc_allow_any, nqn)},
	{.name = "allow_any_host", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_allow_any, allow_any_host)},
	{.name = "tgt_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_allow_any, tgt_name), .optional = true},
};

static void rpc_nvmf_subsystem_allow_any_host(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_allow_any p = {0};
	struct axon_nvmf_subsystem *s;

	if (axon_rpc_decode_params(req, params, g_allow_any_params, AXON_COUNTOF(g_allow_any_params),
				   &p) != 0) {
		return;
	}
	if (nvmf_rpc_check_tgt_name(req, p.tgt_name) == 0) {
		s = rpc_find_subsystem(req, p.nqn, false);
		if (s != NULL) {
			axon_nvmf_subsystem_set_allow_any_host(s, p.allow_any_host);
			axon_rpc_send_bool(req, true);
		}
	}
	axon_rpc_free_params(g_allow_any_params, AXON_COUNTOF(g_allow_any_params), &p);
}
AXON_RPC_REGISTER("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host,
		  AXON_RPC_RUNTIME)

/* ---- controllers and queue pairs ----------------------------------------------------------- */

static void rpc_nvmf_subsystem_get_controllers(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_nvmf_subsystem *s = rpc_nqn_subsystem(req, params, true);
	struct axon_nvmf_ctrlr *c;
	json_t *arr;

	if (s == NULL) {
		return;
	}
	arr = json_array();
	TAILQ_FOREACH(c, &s->ctrlrs, link) {
		char hostid[AXON_UUID_STRING_LEN];
		struct axon_uuid u;

		memcpy(u.u, c->hostid, sizeof(u.u));
		axon_uuid_fmt_lower(hostid, sizeof(hostid), &u);
		/* num_io_qpairs belongs to the controller's thread: a snapshot. */
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:i}", "cntlid", c->cntlid,
						     "hostnqn", c->hostnqn, "hostid", hostid,
						     "num_io_qpairs", (int)c->num_io_qpairs));
	}
	axon_rpc_send_result(req, arr);
}
AXON_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		  AXON_RPC_RUNTIME)

struct qpairs_ctx {
	struct axon_rpc_request *req;
	struct axon_nvmf_subsystem *s;
	json_t *arr;
};

static const char *qpair_state_str(enum axon_nvmf_qpair_state state)
{
	switch (state) {
	case AXON_NVMF_QPAIR_ENABLED:
		return "active";
	case AXON_NVMF_QPAIR_CONNECTING:
	case AXON_NVMF_QPAIR_UNINITIALIZED:
		return "uninitialized";
	case AXON_NVMF_QPAIR_DEACTIVATING:
		return "deactivating";
	default:
		return "error";
	}
}

static void qpairs_group(struct axon_io_channel_iter *i)
{
	struct qpairs_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_nvmf_poll_group *group =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));
	struct axon_nvmf_qpair *qpair;

	TAILQ_FOREACH(qpair, &group->qpairs, link) {
		struct axon_nvmf_trid trid;
		const struct axon_nvmf_transport_ops *ops = qpair->transport->ops;
		json_t *o;

		if (qpair->ctrlr == NULL || qpair->ctrlr->subsys != ctx->s) {
			continue;
		}
		o = json_pack("{s:i, s:i, s:s, s:s}", "cntlid", qpair->ctrlr->cntlid, "qid",
			      qpair->qid, "state", qpair_state_str(qpair->state), "thread", group->name);
		if (ops->qpair_get_listen_trid(qpair, &trid) == 0) {
			json_object_set_new(o, "listen_address", axon_nvmf_trid_to_json(&trid));
		}
		if (ops->qpair_get_peer_trid != NULL && ops->qpair_get_peer_trid(qpair, &trid) == 0) {
			json_object_set_new(o, "peer_address", axon_nvmf_trid_to_json(&trid));
		}
		json_array_append_new(ctx->arr, o);
	}
	axon_for_each_channel_continue(i, 0);
}

static void qpairs_done(struct axon_io_channel_iter *i, int status)
{
	struct qpairs_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status;
	axon_rpc_send_result(ctx->req, ctx->arr);
	free(ctx);
}

static void rpc_nvmf_subsystem_get_qpairs(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_nvmf_subsystem *s = rpc_nqn_subsystem(req, params, true);
	struct qpairs_ctx *ctx;

	if (s == NULL) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "nvmf_subsystem_get_qpairs");
		return;
	}
	ctx->req = req;
	ctx->s = s;
	ctx->arr = json_array();
	axon_for_each_channel(s->tgt, qpairs_group, ctx, qpairs_done);
}
AXON_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, AXON_RPC_RUNTIME)
