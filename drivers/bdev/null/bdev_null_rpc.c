/*
 * bdev_null_create / bdev_null_delete / bdev_null_resize, with SPDK's
 * parameters (new_size in MiB).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/rpc.h"
#include "bdev_null.h"

struct create_params {
	char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	char uuid[AXON_UUID_STRING_LEN];
	uint32_t md_size;
};

static const char *check_block_size(const void *field)
{
	return null_check_block_size(*(const uint32_t *)field);
}

static const struct axon_rpc_param g_create_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct create_params, name)},
	{.name = "num_blocks", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct create_params, num_blocks), .min = 1, .max = 0x1p63},
	{.name = "block_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct create_params, block_size), .check = check_block_size},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID,
	 .offset = offsetof(struct create_params, uuid), .optional = true},
	{.name = "md_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct create_params, md_size), .optional = true, .max = 128},
};

static void rpc_bdev_null_create(struct axon_rpc_request *req, const json_t *params)
{
	struct create_params p = {0};
	struct null_opts opts = {0};
	struct axon_bdev *bdev, *other;
	const char *param, *why;
	int rc;

	if (axon_rpc_decode_params(req, params, g_create_params, AXON_COUNTOF(g_create_params),
				   &p) != 0) {
		return;
	}
	if (p.name[0] == '\0' || strlen(p.name) > AXON_BDEV_MAX_NAME_LEN) {
		axon_rpc_send_param_error(req, "name", "expected 1 to %d characters",
					  AXON_BDEV_MAX_NAME_LEN);
		goto out;
	}
	if (axon_bdev_get_by_name(p.name) != NULL) {
		axon_rpc_send_param_error(req, "name", "a bdev named %s already exists", p.name);
		goto out;
	}
	if (p.uuid[0] != '\0' && (other = axon_bdev_get_by_name(p.uuid)) != NULL) {
		axon_rpc_send_param_error(req, "uuid", "%s is already used by bdev %s", p.uuid,
					  axon_bdev_get_name(other));
		goto out;
	}
	opts.name = p.name;
	opts.num_blocks = p.num_blocks;
	opts.block_size = p.block_size;
	opts.md_size = p.md_size;
	if (p.uuid[0] != '\0') {
		axon_uuid_parse(&opts.uuid, p.uuid);
	}
	rc = null_disk_create(&opts, &bdev, &param, &why);
	if (rc != 0) {
		if (param != NULL) {
			axon_rpc_send_param_error(req, param, "expected %s", why);
		} else {
			axon_rpc_send_errno(req, rc, "bdev_null_create");
		}
		goto out;
	}
	axon_rpc_send_result(req, json_string(axon_bdev_get_name(bdev)));
out:
	axon_rpc_free_params(g_create_params, AXON_COUNTOF(g_create_params), &p);
}
AXON_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, AXON_RPC_RUNTIME)

/* Find name as a null bdev, or send the error and return NULL. */
static struct axon_bdev *find_null_bdev(struct axon_rpc_request *req, const char *name)
{
	struct axon_bdev *bdev = axon_bdev_get_by_name(name);

	if (bdev == NULL) {
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", name);
		return NULL;
	}
	if (bdev->module != &g_null_module) {
		axon_rpc_send_param_error(req, "name", "bdev %s is a %s bdev, not a null bdev",
					  name, axon_bdev_get_module_name(bdev));
		return NULL;
	}
	return bdev;
}

struct delete_params {
	char *name;
};

static const struct axon_rpc_param g_delete_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct delete_params, name)},
};

static void delete_done(void *arg, int rc)
{
	struct axon_rpc_request *req = arg;

	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_null_delete");
		return;
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_bdev_null_delete(struct axon_rpc_request *req, const json_t *params)
{
	struct delete_params p = {0};
	struct axon_bdev *bdev;
	const char *claimer;

	if (axon_rpc_decode_params(req, params, g_delete_params, AXON_COUNTOF(g_delete_params),
				   &p) != 0) {
		return;
	}
	bdev = find_null_bdev(req, p.name);
	if (bdev != NULL) {
		if (axon_bdev_is_claimed(bdev, &claimer)) {
			axon_rpc_send_error(req, -EBUSY, "name: bdev %s is in use by module %s",
					    p.name, claimer);
		} else {
			axon_bdev_unregister(bdev, delete_done, req);
		}
	}
	axon_rpc_free_params(g_delete_params, AXON_COUNTOF(g_delete_params), &p);
}
AXON_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, AXON_RPC_RUNTIME)

struct resize_params {
	char *name;
	uint64_t new_size;
};

static const struct axon_rpc_param g_resize_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct resize_params, name)},
	{.name = "new_size", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct resize_params, new_size), .min = 1, .max = 0x1p43},
};

static void rpc_bdev_null_resize(struct axon_rpc_request *req, const json_t *params)
{
	struct resize_params p = {0};
	struct axon_bdev *bdev;
	int rc;

	if (axon_rpc_decode_params(req, params, g_resize_params, AXON_COUNTOF(g_resize_params),
				   &p) != 0) {
		return;
	}
	bdev = find_null_bdev(req, p.name);
	if (bdev == NULL) {
		goto out;
	}
	rc = null_disk_resize(bdev, p.new_size);
	if (rc == -EBUSY) {
		axon_rpc_send_param_error(req, "new_size", "cannot shrink %s (%lu blocks) while "
					  "it is open", p.name, (unsigned long)bdev->blockcnt);
	} else if (rc != 0) {
		axon_rpc_send_param_error(req, "new_size",
					  "expected a size in MiB that is a whole number of "
					  "%u-byte blocks, got %lu", bdev->blocklen,
					  (unsigned long)p.new_size);
	} else {
		axon_rpc_send_bool(req, true);
	}
out:
	axon_rpc_free_params(g_resize_params, AXON_COUNTOF(g_resize_params), &p);
}
AXON_RPC_REGISTER("bdev_null_resize", rpc_bdev_null_resize, AXON_RPC_RUNTIME)
