/*
 * bdev_raid_create / bdev_raid_delete / bdev_raid_get_bdevs, with SPDK's
 * names, parameters and result shapes. Only raid_level "raid1" exists here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "axon/rpc.h"
#include "bdev_mirror.h"

/* A list of bdev names: a JSON array of strings, or one string of names
 * separated by white space (as SPDK's rpc.py -b "a b" once sent it). */
struct name_list {
	uint32_t count;
	char *names[MIRROR_MAX_LEGS + 1];
};

static void name_list_free(struct name_list *l)
{
	for (uint32_t i = 0; i < l->count; i++) {
		free(l->names[i]);
	}
	l->count = 0;
}

/* Returns 0, or -E2BIG (too many names) or -ENOMEM. */
static int name_list_add(struct name_list *l, const char *name, size_t len)
{
	if (l->count == AXON_COUNTOF(l->names)) {
		return -E2BIG;
	}
	l->names[l->count] = strndup(name, len);
	if (l->names[l->count] == NULL) {
		return -ENOMEM;
	}
	l->count++;
	return 0;
}

static int name_list_from_json(struct name_list *l, const json_t *v)
{
	size_t i;
	json_t *e;
	int rc;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		while (*s != '\0') {
			size_t n = strcspn(s, " \t\n");

			if (n > 0 && (rc = name_list_add(l, s, n)) != 0) {
				return rc;
			}
			s += n;
			s += strspn(s, " \t\n");
		}
		return 0;
	}
	json_array_foreach(v, i, e) {
		rc = name_list_add(l, json_string_value(e), strlen(json_string_value(e)));
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

static const char *raid_check_names(const void *field)
{
	const json_t *v = *(json_t *const *)field;
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		return NULL;
	}
	if (!json_is_array(v)) {
		return "an array of bdev names, or a string of names separated by spaces";
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			return "an array of bdev names (strings)";
		}
	}
	return NULL;
}

/* ---- bdev_raid_create ------------------------------------------------------- */

struct raid_create_params {
	char *name;
	char *raid_level;
	uint32_t strip_size_kb;
	json_t *base_bdevs;
	char uuid[AXON_UUID_STRING_LEN];
	bool superblock;
	bool delta_bitmap;
	json_t *failed_base_bdevs;
};

static const struct axon_rpc_param g_raid_create_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct raid_create_params, name)},
	{.name = "raid_level", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct raid_create_params, raid_level)},
	{.name = "strip_size_kb", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct raid_create_params, strip_size_kb), .optional = true},
	{.name = "base_bdevs", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct raid_create_params, base_bdevs), .check = raid_check_names},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID,
	 .offset = offsetof(struct raid_create_params, uuid), .optional = true},
	{.name = "superblock", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct raid_create_params, superblock), .optional = true},
	{.name = "delta_bitmap", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct raid_create_params, delta_bitmap), .optional = true},
	/* Axon: legs that start failed (save_config of a degraded mirror). */
	{.name = "failed_base_bdevs", .type = AXON_RPC_PARAM_JSON,
	 .offset = offsetof(struct raid_create_params, failed_base_bdevs), .optional = true,
	 .check = raid_check_names},
};

/* Refuse what a mirror cannot do. Returns 0 or -EINVAL (error sent). */
static int raid_check_create(struct axon_rpc_request *req, const struct raid_create_params *p)
{
	if (strcasecmp(p->raid_level, "raid1") != 0 && strcmp(p->raid_level, "1") != 0) {
		axon_rpc_send_param_error(req, "raid_level",
					  "expected raid1 (Axon has mirrors only: raid0, concat "
					  "and raid5f are not supported), got %s", p->raid_level);
		return -EINVAL;
	}
	if (p->strip_size_kb != 0) {
		axon_rpc_send_param_error(req, "strip_size_kb",
					  "expected 0 or absent for raid1 (a mirror has no "
					  "strips), got %u", p->strip_size_kb);
		return -EINVAL;
	}
	if (p->superblock) {
		axon_rpc_send_param_error(req, "superblock",
					  "expected false (Axon mirrors keep no on-disk "
					  "superblock: save_config recreates them)");
		return -EINVAL;
	}
	if (p->delta_bitmap) {
		axon_rpc_send_param_error(req, "delta_bitmap",
					  "expected false (failed legs are not rebuilt)");
		return -EINVAL;
	}
	return 0;
}

static void rpc_bdev_raid_create(struct axon_rpc_request *req, const json_t *params)
{
	struct raid_create_params p = {0};
	struct name_list legs = {0}, failed = {0};
	struct mirror_create_opts o = {0};
	char err[MIRROR_ERR_LEN];
	struct mirror *m;
	int rc;

	if (axon_rpc_decode_params(req, params, g_raid_create_params, AXON_COUNTOF(g_raid_create_params),
				   &p) != 0) {
		return;
	}
	if (raid_check_create(req, &p) != 0) {
		goto out;
	}
	rc = name_list_from_json(&legs, p.base_bdevs);
	if (rc == 0 && p.failed_base_bdevs != NULL) {
		rc = name_list_from_json(&failed, p.failed_base_bdevs);
	}
	if (rc == -E2BIG) {
		axon_rpc_send_param_error(req, "base_bdevs", "a raid1 needs 2 to %u legs",
					  MIRROR_MAX_LEGS);
		goto out;
	} else if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_raid_create");
		goto out;
	}
	o.name = p.name;
	o.legs = (const char *const *)legs.names;
	o.num_legs = legs.count;
	o.failed_legs = (const char *const *)failed.names;
	o.num_failed_legs = failed.count;
	if (p.uuid[0] != '\0') {
		axon_uuid_parse(&o.uuid, p.uuid);
	}
	rc = mirror_create(&o, &m, err);
	if (rc == -ENOMEM) {
		axon_rpc_send_errno(req, rc, "bdev_raid_create");
	} else if (rc != 0) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_PARAMS, "%s", err);
	} else {
		axon_rpc_send_bool(req, true);
	}
out:
	name_list_free(&legs);
	name_list_free(&failed);
	axon_rpc_free_params(g_raid_create_params, AXON_COUNTOF(g_raid_create_params), &p);
}
AXON_RPC_REGISTER("bdev_raid_create", rpc_bdev_raid_create, AXON_RPC_RUNTIME)

/* ---- bdev_raid_delete -------------------------------------------------------- */

struct raid_delete_params {
	char *name;
};

static const struct axon_rpc_param g_raid_delete_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct raid_delete_params, name)},
};

static void raid_delete_done(void *arg, int rc)
{
	struct axon_rpc_request *req = arg;

	if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_raid_delete");
		return;
	}
	axon_rpc_send_bool(req, true);
}

static void rpc_bdev_raid_delete(struct axon_rpc_request *req, const json_t *params)
{
	struct raid_delete_params p = {0};
	struct axon_bdev *bdev;
	const char *claimer;
	int rc;

	if (axon_rpc_decode_params(req, params, g_raid_delete_params, AXON_COUNTOF(g_raid_delete_params),
				   &p) != 0) {
		return;
	}
	bdev = mirror_find(p.name) != NULL ? axon_bdev_get_by_name(p.name) : NULL;
	if (bdev != NULL && bdev->module == &g_mirror_module &&
	    axon_bdev_is_claimed(bdev, &claimer)) {
		axon_rpc_send_error(req, -EBUSY, "name: bdev %s is in use by module %s", p.name,
				    claimer);
		goto out;
	}
	rc = mirror_delete(p.name, raid_delete_done, req);
	if (rc == -ENODEV) {
		axon_rpc_send_error(req, -ENODEV, "name: raid bdev %s not found", p.name);
	} else if (rc == -EBUSY) {
		axon_rpc_send_error(req, -EBUSY, "name: raid bdev %s is already being deleted",
				    p.name);
	} else if (rc != 0) {
		axon_rpc_send_errno(req, rc, "bdev_raid_delete");
	}
out:
	axon_rpc_free_params(g_raid_delete_params, AXON_COUNTOF(g_raid_delete_params), &p);
}
AXON_RPC_REGISTER("bdev_raid_delete", rpc_bdev_raid_delete, AXON_RPC_RUNTIME)

/* ---- bdev_raid_get_bdevs ------------------------------------------------------ */

struct raid_get_params {
	char *category;
};

static const char *raid_check_category(const void *field)
{
	const char *c = *(char *const *)field;

	if (strcmp(c, "all") == 0 || strcmp(c, "online") == 0 ||
	    strcmp(c, "configuring") == 0 || strcmp(c, "offline") == 0) {
		return NULL;
	}
	return "one of all, online, configuring, offline";
}

static const struct axon_rpc_param g_raid_get_params[] = {
	{.name = "category", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct raid_get_params, category), .check = raid_check_category},
};

static void rpc_bdev_raid_get_bdevs(struct axon_rpc_request *req, const json_t *params)
{
	struct raid_get_params p = {0};
	char uuid[AXON_UUID_STRING_LEN];
	json_t *result;
	struct mirror *m;

	if (axon_rpc_decode_params(req, params, g_raid_get_params, AXON_COUNTOF(g_raid_get_params),
				   &p) != 0) {
		return;
	}
	result = json_array();
	for (m = mirror_first(); m != NULL; m = mirror_next(m)) {
		const char *state = mirror_state_name(mirror_get_state(m));
		json_t *o;

		if (strcmp(p.category, "all") != 0 && strcmp(p.category, state) != 0) {
			continue;
		}
		axon_uuid_fmt_lower(uuid, sizeof(uuid), &m->uuid);
		o = json_pack("{s:s, s:s}", "name", m->name, "uuid", uuid);
		mirror_info_json(m, o);
		json_array_append_new(result, o);
	}
	axon_rpc_send_result(req, result);
	axon_rpc_free_params(g_raid_get_params, AXON_COUNTOF(g_raid_get_params), &p);
}
AXON_RPC_REGISTER("bdev_raid_get_bdevs", rpc_bdev_raid_get_bdevs, AXON_RPC_RUNTIME)
