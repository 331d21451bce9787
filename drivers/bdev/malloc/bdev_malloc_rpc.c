/*
 * bdev_malloc_create / bdev_malloc_delete, with SPDK's parameters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/rpc.h"
#include "bdev_malloc.h"

struct create_params {
	char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	char uuid[AXON_UUID_STRING_LEN];
	uint32_t md_size;
	bool md_interleave;
	uint32_t optimal_io_boundary;
};

static const char *check_block_size(const void *field)
{
	return malloc_check_block_size(*(const uint32_t *)field);
}

static const char *check_md_size(const void *field)
{
	return malloc_check_md_size(*(const uint32_t *)field);
}

static const struct axon_rpc_param g_create_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct create_params, name), .optional = true},
	{.name = "num_blocks", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct create_params, num_blocks), .min = 1, .max = 0x1p63},
	{.name = "block_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct create_params, block_size), .check = check_block_size},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID,
	 .offset = offsetof(struct create_params, uuid), .optional = true},
	{.name = "md_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct create_params, md_size), .optional = true,
	 .check = check_md_size},
	{.name = "md_interleave", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct create_params, md_interleave), .optional = true},
	{.name = "optimal_io_boundary", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct create_params, optimal_io_boundary), .optional = true},
};

/* Reject what axon_bdev_register would only log. Returns 0 or -EINVAL (sent). */
static int check_names(struct axon_rpc_request *req, const struct create_params *p)
{
	struct axon_bdev *other;

	if (p->name != NULL && p->name[0] == '\0') {
		axon_rpc_send_param_error(req, "name", "expected a non-empty string");
		return -EINVAL;
	}
	if (p->name != NULL && strlen(p->name) > AXON_BDEV_MAX_NAME_LEN) {
		axon_rpc_send_param_error(req, "name", "expected at most %d characters",
					  AXON_BDEV_MAX_NAME_LEN);
		return -EINVAL;
	}
	if (p->name != NULL && axon_bdev_get_by_name(p->name) != NULL) {
		axon_rpc_send_param_error(req, "name", "a bdev named %s already exists", p->name);
		return -EINVAL;
	}
	if (p->uuid[0] != '\0' && (other = axon_bdev_get_by_name(p->uuid)) != NULL) {
		axon_rpc_send_param_error(req, "uuid", "%s is already used by bdev %s", p->uuid,
					  axon_bdev_get_name(other));
		return -EINVAL;
	}
	return 0;
}

static void rpc_bdev_malloc_create(struct axon_rpc_request *req, const json_t *params)
{
	struct create_params p = {0};
	struct malloc_opts opts = {0};
	struct axon_bdev *bdev;
	const char *param, *why;
	int rc;

	if (axon_rpc_decode_params(req, params, g_create_params, AXON_COUNTOF(g_create_params),
				   &p) != 0) {
		return;
	}
	if (p.md_interleave) {
		axon_rpc_send_param_error(req, "md_interleave",
					  "expected false (interleaved metadata is not supported)");
		goto out;
	}
	if (check_names(req, &p) != 0) {
		goto out;
	}
	opts.name = p.name;
	opts.num_blocks = p.num_blocks;
	opts.block_size = p.block_size;
	opts.md_size = p.md_size;
	opts.optimal_io_boundary = p.optimal_io_boundary;
	if (p.uuid[0] != '\0') {
		axon_uuid_parse(&opts.uuid, p.uuid);
	}
	rc = malloc_disk_create(&opts, &bdev, &param, &why);
	if (rc != 0) {
		if (param != NULL) {
			axon_rpc_send_param_error(req, param, "expected %s", why);
		} else {
			axon_rpc_send_errno(req, rc, "bdev_malloc_create");
		}
		goto out;
	}
	axon_rpc_send_result(req, json_string(axon_bdev_get_name(bdev)));
out:
	axon_rpc_free_params(g_create_params, AXON_COUNTOF(g_create_params), &p);
}
AXON_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, AXON_RPC_RUNTIME)

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
		axon_rpc_send_errno(req, rc, "bdev_malloc_delete");
		return;
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_bdev_malloc_delete(struct axon_rpc_request *req, const json_t *params)
{
	struct delete_params p = {0};
	struct axon_bdev *bdev;
	const char *claimer;

	if (axon_rpc_decode_params(req, params, g_delete_params, AXON_COUNTOF(g_delete_params),
				   &p) != 0) {
		return;
	}
	bdev = axon_bdev_get_by_name(p.name);
	if (bdev == NULL) {
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", p.name);
	} else if (bdev->module != &g_malloc_module) {
		axon_rpc_send_param_error(req, "name", "bdev %s is a %s bdev, not a malloc bdev",
					  p.name, axon_bdev_get_module_name(bdev));
	} else if (axon_bdev_is_claimed(bdev, &claimer)) {
		axon_rpc_send_error(req, -EBUSY, "name: bdev %s is in use by module %s", p.name,
				    claimer);
	} else {
		malloc_disk_delete(bdev, delete_done, req);
	}
	axon_rpc_free_params(g_delete_params, AXON_COUNTOF(g_delete_params), &p);
}
AXON_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, AXON_RPC_RUNTIME)
