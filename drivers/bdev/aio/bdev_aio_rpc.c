/*
 * JSON-RPC methods of the aio bdev: bdev_aio_create, bdev_aio_delete,
 * bdev_aio_rescan (SPDK's names and parameters; queue_depth is ours).
 *
 * (axon/bdev.h is not included: its axon/util.h and axon/rpc.h both define
 * AXON_COUNTOF.)
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "axon/rpc.h"
#include "bdev_aio_internal.h"
#include "bdev_file.h"

/* -ENOMEM is our failure; anything else is about what the caller asked. */
static void rpc_aio_send_err(struct axon_rpc_request *req, int rc, const char *err)
{
	axon_rpc_send_error(req,
			    rc == -ENOMEM ? AXON_JSONRPC_ERROR_INTERNAL_ERROR
					  : AXON_JSONRPC_ERROR_INVALID_PARAMS,
			    "%s", err);
}

/* ---- bdev_aio_create --------------------------------------------------------- */

struct rpc_aio_create {
	char *name;
	char *filename;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
	uint32_t queue_depth;
	char uuid[37]; /* AXON_RPC_PARAM_UUID: 36 characters and a NUL */
};

static const struct axon_rpc_param g_aio_create_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_aio_create, name)},
	{.name = "filename", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_aio_create, filename)},
	{.name = "block_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_aio_create, block_size), .optional = true},
	{.name = "readonly", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_aio_create, readonly), .optional = true},
	{.name = "fallocate", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct rpc_aio_create, fallocate), .optional = true},
	{.name = "queue_depth", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct rpc_aio_create, queue_depth), .optional = true,
	 .min = 1, .max = BDEV_AIO_MAX_QUEUE_DEPTH},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID,
	 .offset = offsetof(struct rpc_aio_create, uuid), .optional = true},
};

static void rpc_bdev_aio_create(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_aio_create p = {0};
	struct bdev_aio_opts opts;
	struct axon_bdev *bdev;
	char err[BDEV_FILE_ERR_LEN];
	int rc;

	if (axon_rpc_decode_params(req, params, g_aio_create_params,
				   AXON_COUNTOF(g_aio_create_params), &p) != 0) {
		return;
	}
	opts = (struct bdev_aio_opts){
		.name = p.name,
		.filename = p.filename,
		.block_size = p.block_size,
		.readonly = p.readonly,
		.fallocate = p.fallocate,
		.queue_depth = p.queue_depth,
		.uuid = p.uuid[0] != '\0' ? p.uuid : NULL,
	};
	rc = bdev_aio_create(&opts, &bdev, err, sizeof(err));
	if (rc != 0) {
		rpc_aio_send_err(req, rc, err);
	} else {
		axon_rpc_send_result(req, json_string(p.name));
	}
	axon_rpc_free_params(g_aio_create_params, AXON_COUNTOF(g_aio_create_params), &p);
}
AXON_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, AXON_RPC_RUNTIME)

/* ---- bdev_aio_delete ------------------------------------------------------------ */

struct rpc_aio_name {
	char *name;
};

static const struct axon_rpc_param g_aio_name_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct rpc_aio_name, name)},
};

static void rpc_aio_delete_done(void *cb_arg, int rc)
{
	struct axon_rpc_request *req = cb_arg;

	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_aio_delete");
		return;
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_bdev_aio_delete(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_aio_name p = {0};
	int rc;

	if (axon_rpc_decode_params(req, params, g_aio_name_params,
				   AXON_COUNTOF(g_aio_name_params), &p) != 0) {
		return;
	}
	rc = bdev_aio_delete(p.name, rpc_aio_delete_done, req);
	if (rc == -ENODEV) {
		axon_rpc_send_param_error(req, "name", "no bdev named %s", p.name);
	} else if (rc != 0) {
		axon_rpc_send_param_error(req, "name", "%s is not an aio bdev", p.name);
	}
	axon_rpc_free_params(g_aio_name_params, AXON_COUNTOF(g_aio_name_params), &p);
}
AXON_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, AXON_RPC_RUNTIME)

/* ---- bdev_aio_rescan ------------------------------------------------------------ */

static void rpc_bdev_aio_rescan(struct axon_rpc_request *req, const json_t *params)
{
	struct rpc_aio_name p = {0};
	char err[BDEV_FILE_ERR_LEN];
	int rc;

	if (axon_rpc_decode_params(req, params, g_aio_name_params,
				   AXON_COUNTOF(g_aio_name_params), &p) != 0) {
		return;
	}
	rc = bdev_aio_rescan(p.name, err, sizeof(err));
	if (rc != 0) {
		rpc_aio_send_err(req, rc, err);
	} else {
		axon_rpc_send_bool(req, true);
	}
	axon_rpc_free_params(g_aio_name_params, AXON_COUNTOF(g_aio_name_params), &p);
}
AXON_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, AXON_RPC_RUNTIME)
