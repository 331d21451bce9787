/*
 * bdev_nvme_* JSON-RPC methods, with SPDK's names, parameters and results:
 * set_options, attach_controller, detach_controller, get_controllers,
 * reset_controller, start_discovery, stop_discovery, get_discovery_info.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/rpc.h"
#include "bdev_nvme_internal.h"

/* Reconnect parameters not given (the global options apply). */
#define LOSS_UNSET INT32_MIN
#define SEC_UNSET UINT32_MAX
/* Longest controller name: "<name>n<nsid>" must fit in a bdev name. */
#define NVME_CTRLR_NAME_MAX (AXON_BDEV_MAX_NAME_LEN - 11)

/* ---- transport IDs from parameters ------------------------------------------------------ */

struct trid_params {
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
};

static int copy_field(struct axon_rpc_request *req, const char *param, char *dst, size_t size,
		      const char *value)
{
	if (value[0] == '\0') {
		axon_rpc_send_param_error(req, param, "expected a non-empty string");
		return -EINVAL;
	}
	if (strlen(value) >= size) {
		axon_rpc_send_param_error(req, param, "expected at most %zu characters", size - 1);
		return -EINVAL;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

static int check_nqn(struct axon_rpc_request *req, const char *param, const char *nqn)
{
	if (strncmp(nqn, "nqn.", 4) != 0) {
		axon_rpc_send_param_error(req, param, "expected an NQN (nqn.yyyy-mm.domain:...), got '%s'",
					  nqn);
		return -EINVAL;
	}
	if (strlen(nqn) > AXON_NVMF_NQN_MAX_LEN) {
		axon_rpc_send_param_error(req, param, "expected at most %d characters",
					  AXON_NVMF_NQN_MAX_LEN);
		return -EINVAL;
	}
	return 0;
}

/* A fabrics-only parameter given for PCIe. */
static int reject_for_pcie(struct axon_rpc_request *req, const char *param, const char *value)
{
	if (value != NULL) {
		axon_rpc_send_param_error(req, param, "not used with trtype PCIe (remove it)");
		return -EINVAL;
	}
	return 0;
}

/*
 * Build a transport ID, sending the error (naming the parameter) on bad
 * input. discovery: the discovery NQN is implied; otherwise fabrics need subnqn.
 * Returns 0 or -EINVAL (sent).
 */
static int trid_from_params(struct axon_rpc_request *req, const struct trid_params *p,
			    struct axon_nvme_trid *trid, bool discovery)
{
	memset(trid, 0, sizeof(*trid));
	if (axon_nvme_trtype_parse(p->trtype, &trid->trtype) != 0) {
		axon_rpc_send_param_error(req, "trtype", "expected PCIe, TCP or RDMA, got '%s'",
					  p->trtype);
		return -EINVAL;
	}
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", axon_nvme_trtype_str(trid->trtype));
	if (axon_nvme_transport_get(trid->trstring) == NULL) {
		axon_rpc_send_param_error(req, "trtype", "transport %s is not available in this build",
					  trid->trstring);
		return -EINVAL;
	}
	if (copy_field(req, "traddr", trid->traddr, sizeof(trid->traddr), p->traddr) != 0) {
		return -EINVAL;
	}
	if (trid->trtype == AXON_NVME_TRTYPE_PCIE) {
		if (discovery) {
			axon_rpc_send_param_error(req, "trtype", "expected a fabrics transport (TCP, RDMA)");
			return -EINVAL;
		}
		return reject_for_pcie(req, "adrfam", p->adrfam) ||
		       reject_for_pcie(req, "trsvcid", p->trsvcid) ||
		       reject_for_pcie(req, "subnqn", p->subnqn) ? -EINVAL : 0;
	}
	if (p->adrfam != NULL) {
		if (axon_nvme_adrfam_parse(p->adrfam, &trid->adrfam) != 0) {
			axon_rpc_send_param_error(req, "adrfam", "expected IPv4, IPv6, IB or FC, got '%s'",
						  p->adrfam);
			return -EINVAL;
		}
	} else {
		trid->adrfam = strchr(trid->traddr, ':') != NULL ? AXON_NVME_ADRFAM_IPV6
								 : AXON_NVME_ADRFAM_IPV4;
	}
	if (copy_field(req, "trsvcid", trid->trsvcid, sizeof(trid->trsvcid),
		       p->trsvcid != NULL ? p->trsvcid : AXON_NVME_DEFAULT_TRSVCID) != 0) {
		return -EINVAL;
	}
	if (discovery) {
		snprintf(trid->subnqn, sizeof(trid->subnqn), "%s", AXON_NVME_DISCOVERY_NQN);
		return 0;
	}
	if (p->subnqn == NULL) {
		axon_rpc_send_param_error(req, "subnqn", "required for trtype %s", trid->trstring);
		return -EINVAL;
	}
	if (check_nqn(req, "subnqn", p->subnqn) != 0) {
		return -EINVAL;
	}
	snprintf(trid->subnqn, sizeof(trid->subnqn), "%s", p->subnqn);
	return 0;
}

static int check_ctrlr_name(struct axon_rpc_request *req, const char *name)
{
	if (name[0] == '\0' || strlen(name) > NVME_CTRLR_NAME_MAX) {
		axon_rpc_send_param_error(req, "name", "expected 1 to %d characters",
					  NVME_CTRLR_NAME_MAX);
		return -EINVAL;
	}
	if (nvme_bdev_ctrlr_find(name) != NULL || nvme_discovery_exists(name)) {
		axon_rpc_send_param_error(req, "name", "an NVMe controller or discovery service "
					  "named %s already exists", name);
		return -EINVAL;
	}
	return 0;
}

/* Resolve the reconnect settings (unset ones from the global options) and check them. */
static int resolve_reconnect(struct axon_rpc_request *req, int32_t *loss, uint32_t *delay,
			     uint32_t *fast)
{
	const char *param, *why;

	if (*loss == 0 && *delay == SEC_UNSET) {
		*delay = 0; /* "no reconnect" needs no delay */
	}
	if (*loss == 0 && *fast == SEC_UNSET) {
		*fast = 0;
	}
	if (*loss == LOSS_UNSET) {
		*loss = g_nvme_bdev_opts.ctrlr_loss_timeout_sec;
	}
	if (*delay == SEC_UNSET) {
		*delay = g_nvme_bdev_opts.reconnect_delay_sec;
	}
	if (*fast == SEC_UNSET) {
		*fast = g_nvme_bdev_opts.fast_io_fail_timeout_sec;
	}
	why = nvme_bdev_check_reconnect(*loss, *delay, *fast, &param);
	if (why != NULL) {
		axon_rpc_send_param_error(req, param, "expected %s", why);
		return -EINVAL;
	}
	return 0;
}

#define RECONNECT_PARAMS(TYPE)                                                                 \
	{.name = "ctrlr_loss_timeout_sec", .type = AXON_RPC_PARAM_INT32,                       \
	 .offset = offsetof(TYPE, loss), .optional = true, .min = -1, .max = INT32_MAX},       \
	{.name = "reconnect_delay_sec", .type = AXON_RPC_PARAM_UINT32,                         \
	 .offset = offsetof(TYPE, delay), .optional = true, .min = 0, .max = INT32_MAX},       \
	{.name = "fast_io_fail_timeout_sec", .type = AXON_RPC_PARAM_UINT32,                    \
	 .offset = offsetof(TYPE, fast), .optional = true, .min = 0, .max = INT32_MAX}

/* ---- bdev_nvme_set_options ------------------------------------------------------------------- */

struct set_options_params {
	char *action_on_timeout;
	uint64_t timeout_us;
	uint32_t keep_alive_timeout_ms;
	int32_t loss;
	uint32_t delay;
	uint32_t fast;
	int32_t bdev_retry_count;
};

static const char *check_action(const void *field)
{
	enum axon_nvme_timeout_action action;
	const char *const *str = field;

	return nvme_bdev_timeout_action_parse(*str, &action) == 0 ? NULL
								   : "one of none, abort, reset";
}

static const struct axon_rpc_param g_set_options_params[] = {
	{.name = "action_on_timeout", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct set_options_params, action_on_timeout), .optional = true,
	 .check = check_action},
	{.name = "timeout_us", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct set_options_params, timeout_us), .optional = true},
	{.name = "keep_alive_timeout_ms", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct set_options_params, keep_alive_timeout_ms), .optional = true},
	RECONNECT_PARAMS(struct set_options_params),
	{.name = "bdev_retry_count", .type = AXON_RPC_PARAM_INT32,
	 .offset = offsetof(struct set_options_params, bdev_retry_count), .optional = true,
	 .min = -1, .max = INT32_MAX},
};

static void rpc_bdev_nvme_set_options(struct axon_rpc_request *req, const json_t *params)
{
	const struct nvme_bdev_opts *cur = &g_nvme_bdev_opts;
	struct set_options_params p = {
		.timeout_us = cur->timeout_us,
		.keep_alive_timeout_ms = cur->keep_alive_timeout_ms,
		.loss = LOSS_UNSET, .delay = SEC_UNSET, .fast = SEC_UNSET,
		.bdev_retry_count = cur->bdev_retry_count,
	};
	struct nvme_bdev_opts opts = *cur;

	if (axon_rpc_decode_params(req, params, g_set_options_params,
				   AXON_COUNTOF(g_set_options_params), &p) != 0) {
		return;
	}
	if (g_nvme_bdev_opts_frozen) {
		axon_rpc_send_error(req, -EBUSY, "bdev_nvme_set_options: controllers were attached "
				    "already; set options before the first attach");
		goto out;
	}
	if (resolve_reconnect(req, &p.loss, &p.delay, &p.fast) != 0) {
		goto out;
	}
	if (p.action_on_timeout != NULL) {
		nvme_bdev_timeout_action_parse(p.action_on_timeout, &opts.action_on_timeout);
	}
	opts.timeout_us = p.timeout_us;
	opts.keep_alive_timeout_ms = p.keep_alive_timeout_ms;
	opts.ctrlr_loss_timeout_sec = p.loss;
	opts.reconnect_delay_sec = p.delay;
	opts.fast_io_fail_timeout_sec = p.fast;
	opts.bdev_retry_count = p.bdev_retry_count;
	g_nvme_bdev_opts = opts;
	axon_rpc_send_bool(req, true);
out:
	axon_rpc_free_params(g_set_options_params, AXON_COUNTOF(g_set_options_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_set_options", rpc_bdev_nvme_set_options,
		  AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

/* ---- bdev_nvme_attach_controller --------------------------------------------------------------- */

struct attach_params {
	char *name;
	struct trid_params trid;
	char *hostnqn;
	char *hostaddr;
	char *hostsvcid;
	bool hdgst;
	bool ddgst;
	int32_t loss;
	uint32_t delay;
	uint32_t fast;
};

#define TRID_PARAMS(TYPE)                                                      \
	{.name = "trtype", .type = AXON_RPC_PARAM_STRING,                                      \
	 .offset = offsetof(TYPE, trid.trtype)},                                               \
	{.name = "traddr", .type = AXON_RPC_PARAM_STRING,                                      \
	 .offset = offsetof(TYPE, trid.traddr)},                                               \
	{.name = "adrfam", .type = AXON_RPC_PARAM_STRING,                                      \
	 .offset = offsetof(TYPE, trid.adrfam), .optional = true},                             \
	{.name = "trsvcid", .type = AXON_RPC_PARAM_STRING,                                     \
	 .offset = offsetof(TYPE, trid.trsvcid), .optional = true}

static const struct axon_rpc_param g_attach_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct attach_params, name)},
	TRID_PARAMS(struct attach_params),
	{.name = "subnqn", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct attach_params, trid.subnqn), .optional = true},
	{.name = "hostnqn", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct attach_params, hostnqn), .optional = true},
	{.name = "hostaddr", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct attach_params, hostaddr), .optional = true},
	{.name = "hostsvcid", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct attach_params, hostsvcid), .optional = true},
	{.name = "hdgst", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct attach_params, hdgst), .optional = true},
	{.name = "ddgst", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct attach_params, ddgst), .optional = true},
	RECONNECT_PARAMS(struct attach_params),
};

static void attach_done(void *cb_arg, int rc, json_t *names, const char *why)
{
	struct axon_rpc_request *req = cb_arg;

	if (rc != 0) {
		axon_rpc_send_error(req, rc, "bdev_nvme_attach_controller: %s",
				    why != NULL ? why : "failed");
		return;
	}
	axon_rpc_send_result(req, json_incref(names));
}

static int check_attach_host(struct axon_rpc_request *req, const struct attach_params *p)
{
	if (p->hostaddr != NULL || p->hostsvcid != NULL) {
		axon_rpc_send_param_error(req, p->hostaddr != NULL ? "hostaddr" : "hostsvcid",
					  "not supported: the kernel chooses the source address");
		return -EINVAL;
	}
	if (p->hostnqn != NULL && check_nqn(req, "hostnqn", p->hostnqn) != 0) {
		return -EINVAL;
	}
	return 0;
}

static void rpc_bdev_nvme_attach_controller(struct axon_rpc_request *req, const json_t *params)
{
	struct attach_params p = {.loss = LOSS_UNSET, .delay = SEC_UNSET, .fast = SEC_UNSET};
	struct nvme_attach_opts opts;
	int rc;

	if (axon_rpc_decode_params(req, params, g_attach_params, AXON_COUNTOF(g_attach_params),
				   &p) != 0) {
		return;
	}
	nvme_attach_opts_init(&opts);
	if (check_ctrlr_name(req, p.name) != 0 ||
	    trid_from_params(req, &p.trid, &opts.trid, false) != 0 ||
	    check_attach_host(req, &p) != 0 ||
	    resolve_reconnect(req, &p.loss, &p.delay, &p.fast) != 0) {
		goto out;
	}
	if (opts.trid.trtype == AXON_NVME_TRTYPE_PCIE && (p.hdgst || p.ddgst)) {
		axon_rpc_send_param_error(req, p.hdgst ? "hdgst" : "ddgst",
					  "digests exist only on NVMe/TCP");
		goto out;
	}
	opts.name = p.name;
	opts.hostnqn = p.hostnqn;
	opts.hdgst = p.hdgst;
	opts.ddgst = p.ddgst;
	opts.ctrlr_loss_timeout_sec = p.loss;
	opts.reconnect_delay_sec = p.delay;
	opts.fast_io_fail_timeout_sec = p.fast;
	rc = nvme_bdev_ctrlr_attach(&opts, attach_done, req);
	if (rc != 0) {
		axon_rpc_send_error(req, rc, "bdev_nvme_attach_controller: cannot start connecting "
				    "to %s (see the log)", opts.trid.traddr);
	}
out:
	axon_rpc_free_params(g_attach_params, AXON_COUNTOF(g_attach_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller,
		  AXON_RPC_RUNTIME)

/* ---- detach, reset ------------------------------------------------------------------------------ */

struct name_params {
	char *name;
};

static const struct axon_rpc_param g_name_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct name_params, name)},
};

static const struct axon_rpc_param g_opt_name_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct name_params, name), .optional = true},
};

static void done_send_bool(void *cb_arg, int rc)
{
	struct axon_rpc_request *req = cb_arg;

	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "NVMe controller");
		return;
	}
	axon_rpc_send_bool(req, true);
}

/* The controller named by params, or NULL (error sent). */
static struct nvme_bdev_ctrlr *find_ctrlr(struct axon_rpc_request *req, const char *name)
{
	struct nvme_bdev_ctrlr *nctrlr = nvme_bdev_ctrlr_find(name);

	if (nctrlr == NULL) {
		axon_rpc_send_error(req, -ENODEV, "name: no NVMe controller named %s", name);
		return NULL;
	}
	if (nctrlr->state == NVME_BDEV_CTRLR_CONNECTING ||
	    nctrlr->state == NVME_BDEV_CTRLR_DELETING) {
		axon_rpc_send_error(req, -EBUSY, "name: controller %s is %s", name,
				    nvme_bdev_ctrlr_state_str(nctrlr->state));
		return NULL;
	}
	return nctrlr;
}

static void rpc_bdev_nvme_detach_controller(struct axon_rpc_request *req, const json_t *params)
{
	struct name_params p = {0};
	struct nvme_bdev_ctrlr *nctrlr;

	if (axon_rpc_decode_params(req, params, g_name_params, AXON_COUNTOF(g_name_params),
				   &p) != 0) {
		return;
	}
	nctrlr = find_ctrlr(req, p.name);
	if (nctrlr != NULL) {
		nvme_bdev_ctrlr_detach(nctrlr, done_send_bool, req);
	}
	axon_rpc_free_params(g_name_params, AXON_COUNTOF(g_name_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller,
		  AXON_RPC_RUNTIME)

static void rpc_bdev_nvme_reset_controller(struct axon_rpc_request *req, const json_t *params)
{
	struct name_params p = {0};
	struct nvme_bdev_ctrlr *nctrlr;

	if (axon_rpc_decode_params(req, params, g_name_params, AXON_COUNTOF(g_name_params),
				   &p) != 0) {
		return;
	}
	nctrlr = find_ctrlr(req, p.name);
	if (nctrlr != NULL) {
		nvme_bdev_ctrlr_reset(nctrlr, done_send_bool, req);
	}
	axon_rpc_free_params(g_name_params, AXON_COUNTOF(g_name_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_reset_controller", rpc_bdev_nvme_reset_controller,
		  AXON_RPC_RUNTIME)

/* ---- bdev_nvme_get_controllers ------------------------------------------------------------------ */

static json_t *ctrlr_json(const struct nvme_bdev_ctrlr *nctrlr)
{
	const struct axon_nvme_ctrlr_opts *opts = axon_nvme_ctrlr_get_opts(nctrlr->ctrlr);
	bool ready = nctrlr->state != NVME_BDEV_CTRLR_CONNECTING;
	json_t *path;

	path = json_pack("{s:s, s:o, s:i, s:{s:s, s:s, s:s}}", "state",
			 nvme_bdev_ctrlr_state_str(nctrlr->state), "trid",
			 nvme_trid_to_json(&nctrlr->trid), "cntlid",
			 ready ? axon_nvme_ctrlr_get_cntlid(nctrlr->ctrlr) : 0, "host", "nqn",
			 opts->hostnqn, "addr", "", "svcid", "");
	return json_pack("{s:s, s:[o]}", "name", nctrlr->name, "ctrlrs", path);
}

static void rpc_bdev_nvme_get_controllers(struct axon_rpc_request *req, const json_t *params)
{
	struct name_params p = {0};
	struct nvme_bdev_ctrlr *nctrlr;
	json_t *result;

	if (axon_rpc_decode_params(req, params, g_opt_name_params,
				   AXON_COUNTOF(g_opt_name_params), &p) != 0) {
		return;
	}
	result = json_array();
	TAILQ_FOREACH(nctrlr, &g_nvme_bdev_ctrlrs, link) {
		if (p.name == NULL || strcmp(p.name, nctrlr->name) == 0) {
			json_array_append_new(result, ctrlr_json(nctrlr));
		}
	}
	if (p.name != NULL && json_array_size(result) == 0) {
		json_decref(result);
		axon_rpc_send_error(req, -ENODEV, "name: no NVMe controller named %s", p.name);
	} else {
		axon_rpc_send_result(req, result);
	}
	axon_rpc_free_params(g_opt_name_params, AXON_COUNTOF(g_opt_name_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, AXON_RPC_RUNTIME)

/* ---- discovery ---------------------------------------------------------------------------------- */

struct start_discovery_params {
	char *name;
	struct trid_params trid;
	char *hostnqn;
	bool wait_for_attach;
	int32_t loss;
	uint32_t delay;
	uint32_t fast;
};

static const struct axon_rpc_param g_start_discovery_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct start_discovery_params, name)},
	TRID_PARAMS(struct start_discovery_params),
	{.name = "hostnqn", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct start_discovery_params, hostnqn), .optional = true},
	{.name = "wait_for_attach", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct start_discovery_params, wait_for_attach), .optional = true},
	RECONNECT_PARAMS(struct start_discovery_params),
};

static void rpc_bdev_nvme_start_discovery(struct axon_rpc_request *req, const json_t *params)
{
	struct start_discovery_params p = {.loss = LOSS_UNSET, .delay = SEC_UNSET,
					   .fast = SEC_UNSET};
	struct nvme_discovery_opts opts = {0};
	int rc;

	if (axon_rpc_decode_params(req, params, g_start_discovery_params,
				   AXON_COUNTOF(g_start_discovery_params), &p) != 0) {
		return;
	}
	if (check_ctrlr_name(req, p.name) != 0 ||
	    trid_from_params(req, &p.trid, &opts.trid, true) != 0 ||
	    (p.hostnqn != NULL && check_nqn(req, "hostnqn", p.hostnqn) != 0) ||
	    resolve_reconnect(req, &p.loss, &p.delay, &p.fast) != 0) {
		goto out;
	}
	opts.name = p.name;
	opts.hostnqn = p.hostnqn;
	opts.wait_for_attach = p.wait_for_attach;
	opts.ctrlr_loss_timeout_sec = p.loss;
	opts.reconnect_delay_sec = p.delay;
	opts.fast_io_fail_timeout_sec = p.fast;
	rc = nvme_discovery_start(&opts, done_send_bool, req);
	if (rc != 0) {
		axon_rpc_send_error(req, rc, "bdev_nvme_start_discovery: cannot start connecting "
				    "to %s (see the log)", opts.trid.traddr);
	}
out:
	axon_rpc_free_params(g_start_discovery_params, AXON_COUNTOF(g_start_discovery_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_start_discovery", rpc_bdev_nvme_start_discovery, AXON_RPC_RUNTIME)

static void rpc_bdev_nvme_stop_discovery(struct axon_rpc_request *req, const json_t *params)
{
	struct name_params p = {0};

	if (axon_rpc_decode_params(req, params, g_name_params, AXON_COUNTOF(g_name_params),
				   &p) != 0) {
		return;
	}
	if (nvme_discovery_stop(p.name, done_send_bool, req) != 0) {
		axon_rpc_send_error(req, -ENODEV, "name: no discovery service named %s", p.name);
	}
	axon_rpc_free_params(g_name_params, AXON_COUNTOF(g_name_params), &p);
}
AXON_RPC_REGISTER("bdev_nvme_stop_discovery", rpc_bdev_nvme_stop_discovery, AXON_RPC_RUNTIME)

static void rpc_bdev_nvme_get_discovery_info(struct axon_rpc_request *req, const json_t *params)
{
	json_t *result;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	result = json_array();
	nvme_discovery_info_json(result);
	axon_rpc_send_result(req, result);
}
AXON_RPC_REGISTER("bdev_nvme_get_discovery_info", rpc_bdev_nvme_get_discovery_info,
		  AXON_RPC_RUNTIME)
