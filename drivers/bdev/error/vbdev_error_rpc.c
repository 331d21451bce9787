/*
 * bdev_error_create, bdev_error_inject_error, bdev_error_delete: SPDK's names
 * and parameters; "sct"/"sc" (a failure with a chosen NVMe status) are ours.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "axon/rpc.h"
#include "vbdev_error.h"

/* ---- bdev_error_create ----------------------------------------------------------- */

struct rpc_error_create {
	char *base_name;
	char uuid[AXON_UUID_STRING_LEN];
};

static const struct axon_rpc_param g_error_create_params[] = {
	{.name = "base_name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_error_create, base_name)},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID,
	 .offset = offsetof(struct rpc_error_create, uuid), .optional = true},
};

static void rpc_bdev_error_create(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_error_create p = {0};
	struct axon_uuid uuid;
	struct axon_bdev *bdev;
	int rc;

	if (axon_rpc_decode_params(req, params, g_error_create_params,
				   AXON_COUNTOF(g_error_create_params), &p) != 0) {
		return;
	}
	if (p.uuid[0] != '\0' && axon_uuid_parse(&uuid, p.uuid) != 0) {
		axon_rpc_send_param_error(req, "uuid", "expected a UUID, got %s", p.uuid);
		goto out;
	}
	rc = vbdev_error_create(p.base_name, p.uuid[0] != '\0' ? &uuid : NULL, &bdev);
	switch (rc) {
	case 0:
		axon_rpc_send_result(req, json_string(axon_bdev_get_name(bdev)));
		break;
	case -ENODEV:
		axon_rpc_send_param_error(req, "base_name", "no bdev named %s", p.base_name);
		break;
	case -EPERM:
		axon_rpc_send_param_error(req, "base_name",
					  "bdev %s is claimed by another module or open for writing",
					  p.base_name);
		break;
	case -EEXIST:
		axon_rpc_send_param_error(req, p.uuid[0] != '\0' ? "uuid" : "base_name",
					  "an error bdev over %s, or a bdev with that name or "
					  "uuid, already exists", p.base_name);
		break;
	case -EINVAL:
		axon_rpc_send_param_error(req, "base_name", "EE_%s is not a valid bdev name",
					  p.base_name);
		break;
	default:
		axon_rpc_send_errno(req, rc, "bdev_error_create");
		break;
	}
out:
	axon_rpc_free_params(g_error_create_params, AXON_COUNTOF(g_error_create_params), &p);
}
AXON_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, AXON_RPC_RUNTIME)

/* ---- bdev_error_inject_error --------------------------------------------------------- */

struct rpc_error_inject {
	char *name;
	char *io_type;
	char *error_type;
	uint32_t num;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
	int32_t sct;
	int32_t sc;
};

static const struct axon_rpc_param g_error_inject_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_error_inject, name)},
	{.name = "io_type", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_error_inject, io_type)},
	{.name = "error_type", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_error_inject, error_type)},
	{.name = "num", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_error_inject, num), .optional = true},
	{.name = "queue_depth", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_error_inject, queue_depth), .optional = true},
	{.name = "corrupt_offset", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct rpc_error_inject, corrupt_offset), .optional = true},
	{.name = "corrupt_value", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_error_inject, corrupt_value), .optional = true,
	 .min = 0, .max = 255},
	{.name = "sct", .type = AXON_RPC_PARAM_INT32,
	 .offset = offsetof(struct rpc_error_inject, sct), .optional = true, .min = 0, .max = 7},
	{.name = "sc", .type = AXON_RPC_PARAM_INT32,
	 .offset = offsetof(struct rpc_error_inject, sc), .optional = true, .min = 0, .max = 255},
};

/* Fill opts from p; on a bad value send the error and return -EINVAL. */
static int rpc_error_inject_opts(struct axon_rpc_request *req, const struct rpc_error_inject *p,
				 struct vbdev_error_inject_opts *opts)
{
	if (vbdev_error_parse_io_type(p->io_type, &opts->io_type_mask) != 0) {
		axon_rpc_send_param_error(req, "io_type",
					  "expected one of clear, read, write, unmap, flush, "
					  "write_zeroes, all, got %s", p->io_type);
		return -EINVAL;
	}
	if (vbdev_error_parse_error_type(p->error_type, &opts->error_type) != 0) {
		axon_rpc_send_param_error(req, "error_type",
					  "expected one of failure, pending, corrupt_data, nomem, "
					  "got %s", p->error_type);
		return -EINVAL;
	}
	if (opts->error_type == VBDEV_ERROR_CORRUPT_DATA && p->corrupt_value == 0) {
		axon_rpc_send_param_error(req, "corrupt_value",
					  "expected 1..255 with error_type corrupt_data");
		return -EINVAL;
	}
	if ((p->sct >= 0) != (p->sc >= 0)) {
		axon_rpc_send_param_error(req, p->sct >= 0 ? "sc" : "sct",
					  "expected sct and sc together");
		return -EINVAL;
	}
	if (p->sct >= 0 && opts->error_type != VBDEV_ERROR_FAILURE) {
		axon_rpc_send_param_error(req, "sct", "expected only with error_type failure");
		return -EINVAL;
	}
	opts->num = p->num;
	opts->queue_depth = p->queue_depth;
	opts->corrupt_offset = p->corrupt_offset;
	opts->corrupt_value = (uint8_t)p->corrupt_value;
	opts->nvme_status = p->sct >= 0;
	opts->sct = (uint8_t)(p->sct >= 0 ? p->sct : 0);
	opts->sc = (uint8_t)(p->sc >= 0 ? p->sc : 0);
	return 0;
}

static void rpc_bdev_error_inject_error(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_error_inject p = {.num = 1, .sct = -1, .sc = -1};
	struct vbdev_error_inject_opts opts = {0};
	int rc;

	if (axon_rpc_decode_params(req, params, g_error_inject_params,
				   AXON_COUNTOF(g_error_inject_params), &p) != 0) {
		return;
	}
	if (rpc_error_inject_opts(req, &p, &opts) != 0) {
		goto out;
	}
	rc = vbdev_error_inject(p.name, &opts);
	if (rc == 0) {
		axon_rpc_send_bool(req, true);
	} else if (rc == -ENODEV) {
		axon_rpc_send_param_error(req, "name", "no bdev named %s", p.name);
	} else if (rc == -EINVAL) {
		axon_rpc_send_param_error(req, "name", "%s is not an error bdev", p.name);
	} else {
		axon_rpc_send_errno(req, rc, "bdev_error_inject_error");
	}
out:
	axon_rpc_free_params(g_error_inject_params, AXON_COUNTOF(g_error_inject_params), &p);
}
AXON_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, AXON_RPC_RUNTIME)

/* ---- bdev_error_delete --------------------------------------------------------------- */

struct rpc_error_delete {
	char *name;
};

static const struct axon_rpc_param g_error_delete_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_error_delete, name)},
};

static void rpc_error_delete_done(void *cb_arg, int rc)
{
	struct axon_rpc_request *req = cb_arg;

	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_error_delete");
		return;
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_bdev_error_delete(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_error_delete p = {0};
	int rc;

	if (axon_rpc_decode_params(req, params, g_error_delete_params,
				   AXON_COUNTOF(g_error_delete_params), &p) != 0) {
		return;
	}
	rc = vbdev_error_delete(p.name, rpc_error_delete_done, req);
	if (rc == -ENODEV) {
		axon_rpc_send_param_error(req, "name", "no bdev named %s", p.name);
	} else if (rc != 0) {
		axon_rpc_send_param_error(req, "name", "%s is not an error bdev", p.name);
	}
	axon_rpc_free_params(g_error_delete_params, AXON_COUNTOF(g_error_delete_params), &p);
}
AXON_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, AXON_RPC_RUNTIME)
