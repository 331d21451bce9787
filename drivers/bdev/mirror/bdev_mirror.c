/*
 * Mirror life cycle: creation, legs arriving (examine), legs failing or going
 * away (hot-remove), registration, deletion, and what save_config and the
 * RPCs show. The I/O path is in bdev_mirror_io.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "bdev_mirror.h"

static TAILQ_HEAD(, mirror) g_mirrors = TAILQ_HEAD_INITIALIZER(g_mirrors);

struct mirror *mirror_find(const char *name)
{
	struct mirror *m;

	TAILQ_FOREACH(m, &g_mirrors, link) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

struct mirror *mirror_first(void)
{
	return TAILQ_FIRST(&g_mirrors);
}

struct mirror *mirror_next(struct mirror *m)
{
	return TAILQ_NEXT(m, link);
}

static uint32_t popcount64(uint64_t x)
{
	return (uint32_t)__builtin_popcountll(x);
}

/* ---- state ------------------------------------------------------------------ */

bool mirror_leg_is_healthy(const struct mirror_leg *leg)
{
	const struct mirror *m = leg->mirror;
	uint32_t i = (uint32_t)(leg - m->legs);

	return leg->state == MIRROR_LEG_PRESENT &&
	       ((atomic_load(&((struct mirror *)m)->healthy) >> i) & 1);
}

enum mirror_state mirror_get_state(const struct mirror *m)
{
	if (m->reg == MIRROR_UNREGISTERED) {
		return MIRROR_CONFIGURING;
	}
	return atomic_load(&((struct mirror *)m)->healthy) != 0 ? MIRROR_ONLINE : MIRROR_OFFLINE;
}

const char *mirror_state_name(enum mirror_state state)
{
	switch (state) {
	case MIRROR_ONLINE:
		return "online";
	case MIRROR_CONFIGURING:
		return "configuring";
	default:
		return "offline";
	}
}

const char *mirror_leg_state_name(const struct mirror_leg *leg)
{
	switch (leg->state) {
	case MIRROR_LEG_MISSING:
		return leg->start_failed ? "failed" : "missing";
	case MIRROR_LEG_PRESENT:
		return mirror_leg_is_healthy(leg) ? "healthy" : "failed";
	default:
		return "removed";
	}
}

void mirror_leg_fail(struct mirror *m, uint32_t leg, const char *op)
{
	uint64_t bit = UINT64_C(1) << leg;
	uint64_t old = atomic_fetch_and(&m->healthy, ~bit);

	if (old & bit) {
		AXON_ERRLOG("mirror %s: leg %s failed a %s and is dropped from reads and writes "
			    "(healthy legs left: %u; it stays failed: legs are not rebuilt)",
			    m->name, m->legs[leg].name, op, popcount64(old & ~bit));
	}
}

/* ---- legs -------------------------------------------------------------------- */

static void leg_event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx);

/* Close and release an opened leg (app thread). */
static void leg_release(struct mirror_leg *leg)
{
	if (leg->desc == NULL) {
		return;
	}
	axon_bdev_module_release_bdev(leg->bdev);
	axon_bdev_close(leg->desc);
	leg->desc = NULL;
	leg->bdev = NULL;
}

/* The block size of the legs already opened (0: none). */
static uint32_t legs_block_size(const struct mirror *m)
{
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (m->legs[i].desc != NULL) {
			return axon_bdev_get_block_size(m->legs[i].bdev);
		}
	}
	return 0;
}

/* Open and claim leg's bdev, checking it against the other legs. Returns 0,
 * or a negative errno with err saying why. */
static int leg_open(struct mirror *m, struct mirror_leg *leg, char *err)
{
	uint32_t bs = legs_block_size(m);
	struct axon_bdev_desc *desc;
	struct axon_bdev *bdev;
	const char *holder;
	int rc;

	rc = axon_bdev_open_ext(leg->name, false, leg_event_cb, leg, &desc);
	if (rc != 0) {
		snprintf(err, MIRROR_ERR_LEN, "leg %s cannot be opened: %s", leg->name,
			 strerror(-rc));
		return rc;
	}
	bdev = axon_bdev_desc_get_bdev(desc);
	if (bs != 0 && axon_bdev_get_block_size(bdev) != bs) {
		snprintf(err, MIRROR_ERR_LEN,
			 "leg %s has %u-byte blocks but the other legs have %u-byte blocks",
			 leg->name, axon_bdev_get_block_size(bdev), bs);
		rc = -EINVAL;
		goto err_close;
	}
	if (axon_bdev_get_md_size(bdev) != 0 && axon_bdev_is_md_interleaved(bdev)) {
		snprintf(err, MIRROR_ERR_LEN, "leg %s has interleaved metadata (not supported)",
			 leg->name);
		rc = -EINVAL;
		goto err_close;
	}
	if (axon_bdev_is_claimed(bdev, &holder)) {
		snprintf(err, MIRROR_ERR_LEN, "leg %s is already claimed by module %s", leg->name,
			 holder);
		rc = -EPERM;
		goto err_close;
	}
	rc = axon_bdev_module_claim_bdev(bdev, desc, &g_mirror_module);
	if (rc != 0) {
		snprintf(err, MIRROR_ERR_LEN, "leg %s cannot be claimed: it is open for writing",
			 leg->name);
		goto err_close;
	}
	leg->desc = desc;
	leg->bdev = bdev;
	leg->uuid = *axon_bdev_get_uuid(bdev);
	leg->num_blocks = axon_bdev_get_num_blocks(bdev);
	leg->state = MIRROR_LEG_PRESENT;
	if (!leg->start_failed) {
		atomic_fetch_or(&m->healthy, UINT64_C(1) << (leg - m->legs));
	}
	return 0;
err_close:
	axon_bdev_close(desc);
	return rc;
}

/* Every leg expected healthy is there. */
static bool legs_complete(const struct mirror *m)
{
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (!m->legs[i].start_failed && m->legs[i].state != MIRROR_LEG_PRESENT) {
			return false;
		}
	}
	return true;
}

/* ---- the bdev ------------------------------------------------------------------ */

static void mirror_free(struct mirror *m)
{
	for (uint32_t i = 0; i < m->num_legs; i++) {
		free(m->legs[i].name);
	}
	free(m->name);
	free(m);
}

/* The mirror's channels are all gone (after unregistration) and no leg
 * removal is walking them: release the legs and free it. */
static void mirror_finish(struct mirror *m)
{
	if (!m->device_gone || m->removals > 0) {
		return;
	}
	for (uint32_t i = 0; i < m->num_legs; i++) {
		leg_release(&m->legs[i]);
	}
	TAILQ_REMOVE(&g_mirrors, m, link);
	/* Reads m->bdev.internal: before the free. */
	axon_bdev_destruct_done(&m->bdev, 0);
	mirror_free(m);
}

static void mirror_device_gone(void *io_device)
{
	struct mirror *m = io_device;

	m->device_gone = true;
	mirror_finish(m);
}

static int mirror_destruct(void *ctx)
{
	struct mirror *m = ctx;

	m->reg = MIRROR_DELETING;
	/* Channels may still be on their way out (destroy is deferred). */
	axon_io_device_unregister(m, mirror_device_gone);
	return 1;
}

static int mirror_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct mirror *m = ctx;
	json_t *raid = json_object();
	char uuid[AXON_UUID_STRING_LEN];

	if (raid == NULL) {
		return -ENOMEM;
	}
	axon_uuid_fmt_lower(uuid, sizeof(uuid), &m->uuid);
	json_object_set_new(raid, "uuid", json_string(uuid));
	mirror_info_json(m, raid);
	json_object_set_new(driver_specific, "raid", raid);
	return 0;
}

/* The bdev_raid_create that recreates m. Legs that are failed or removed are
 * listed in failed_base_bdevs (an Axon addition) so that a restart does not
 * read stale data from them. */
static json_t *mirror_create_json(const struct mirror *m)
{
	char uuid[AXON_UUID_STRING_LEN];
	json_t *legs = json_array(), *failed = json_array(), *params;

	for (uint32_t i = 0; i < m->num_legs; i++) {
		const struct mirror_leg *leg = &m->legs[i];

		json_array_append_new(legs, json_string(leg->name));
		if (leg->start_failed ||
		    (m->reg != MIRROR_UNREGISTERED && !mirror_leg_is_healthy(leg))) {
			json_array_append_new(failed, json_string(leg->name));
		}
	}
	axon_uuid_fmt_lower(uuid, sizeof(uuid), &m->uuid);
	params = json_pack("{s:s, s:s, s:i, s:s, s:o, s:b}", "name", m->name, "raid_level",
			   "raid1", "strip_size_kb", 0, "uuid", uuid, "base_bdevs", legs,
			   "superblock", 0);
	if (json_array_size(failed) > 0) {
		json_object_set_new(params, "failed_base_bdevs", failed);
	} else {
		json_decref(failed);
	}
	return json_pack("{s:s, s:o}", "method", "bdev_raid_create", "params", params);
}

static void mirror_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	json_array_append_new(array, mirror_create_json(bdev->ctxt));
}

static const struct axon_bdev_fn_table g_mirror_fn_table = {
	.destruct = mirror_destruct,
	.submit_request = mirror_submit_request,
	.io_type_supported = mirror_io_type_supported,
	.get_io_channel = mirror_get_io_channel,
	.dump_info_json = mirror_dump_info_json,
	.write_config_json = mirror_write_config_json,
};

/* Register m's bdev: every expected leg is open. Returns 0 or a negative
 * errno with err saying why. */
static int mirror_register(struct mirror *m, char *err)
{
	uint64_t blocks = UINT64_MAX;
	int rc;

	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (m->legs[i].state == MIRROR_LEG_PRESENT) {
			blocks = AXON_MIN(blocks, m->legs[i].num_blocks);
		}
	}
	m->bdev.ctxt = m;
	m->bdev.name = m->name;
	m->bdev.product_name = "Raid Volume";
	m->bdev.blocklen = legs_block_size(m);
	m->bdev.blockcnt = blocks;
	m->bdev.uuid = m->uuid;
	m->bdev.write_cache = false;
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (m->legs[i].bdev != NULL) {
			m->bdev.required_alignment = AXON_MAX(
				m->bdev.required_alignment,
				(uint8_t)axon_u64log2(axon_bdev_get_buf_align(m->legs[i].bdev)));
		}
	}
	m->bdev.fn_table = &g_mirror_fn_table;
	m->bdev.module = &g_mirror_module;
	axon_io_device_register(m, mirror_channel_create, mirror_channel_destroy,
				(uint32_t)mirror_channel_size(), m->name);
	m->reg = MIRROR_REGISTERED;
	rc = axon_bdev_register(&m->bdev);
	if (rc != 0) {
		m->reg = MIRROR_UNREGISTERED;
		axon_io_device_unregister(m, NULL);
		snprintf(err, MIRROR_ERR_LEN, "mirror %s cannot be registered: %s", m->name,
			 rc == -EEXIST ? "its name or uuid is taken by another bdev" :
			 strerror(-rc));
		return rc;
	}
	AXON_NOTICELOG("mirror %s online: %u legs, %" PRIu64 " blocks of %u bytes", m->name,
		       m->num_legs, blocks, m->bdev.blocklen);
	return 0;
}

/* ---- hot-remove of a leg --------------------------------------------------------- */

static void remove_put_channel(struct axon_io_channel_iter *i)
{
	struct mirror_leg *leg = axon_io_channel_iter_get_ctx(i);

	mirror_channel_drop_leg(axon_io_channel_iter_get_channel(i),
				(uint32_t)(leg - leg->mirror->legs));
	axon_for_each_channel_continue(i, 0);
}

static void remove_channels_done(struct axon_io_channel_iter *i, int status)
{
	struct mirror_leg *leg = axon_io_channel_iter_get_ctx(i);
	struct mirror *m = leg->mirror;

	(void)status;
	leg_release(leg);
	leg->state = MIRROR_LEG_REMOVED;
	m->removals--;
	mirror_finish(m);
}

static void leg_remove(struct mirror_leg *leg)
{
	struct mirror *m = leg->mirror;
	uint32_t idx = (uint32_t)(leg - m->legs);
	uint64_t old;

	if (leg->state != MIRROR_LEG_PRESENT) {
		return;
	}
	if (m->reg == MIRROR_UNREGISTERED) {
		/* Configuring: no channel holds it; wait for it again. */
		atomic_fetch_and(&m->healthy, ~(UINT64_C(1) << idx));
		leg_release(leg);
		leg->state = MIRROR_LEG_MISSING;
		AXON_NOTICELOG("mirror %s: leg %s went away before the mirror came online",
			       m->name, leg->name);
		return;
	}
	old = atomic_fetch_and(&m->healthy, ~(UINT64_C(1) << idx));
	AXON_ERRLOG("mirror %s: leg %s was removed (healthy legs left: %u; it is not rebuilt)",
		    m->name, leg->name, popcount64(old & ~(UINT64_C(1) << idx)));
	leg->state = MIRROR_LEG_REMOVING;
	m->removals++;
	/* Every channel drops the leg's channel, then the leg is closed. */
	axon_for_each_channel(m, remove_put_channel, leg, remove_channels_done);
}

static void leg_event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	(void)bdev;
	if (type == AXON_BDEV_EVENT_REMOVE) {
		leg_remove(ctx);
	}
}

/* ---- create and delete --------------------------------------------------------------- */

static int mirror_check_opts(const struct mirror_create_opts *o, char *err)
{
	if (o->num_legs < 2 || o->num_legs > MIRROR_MAX_LEGS) {
		snprintf(err, MIRROR_ERR_LEN, "base_bdevs: a raid1 needs 2 to %u legs, got %u",
			 MIRROR_MAX_LEGS, o->num_legs);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < o->num_legs; i++) {
		if (o->legs[i][0] == '\0') {
			snprintf(err, MIRROR_ERR_LEN, "base_bdevs: a leg name is empty");
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(o->legs[i], o->legs[j]) == 0) {
				snprintf(err, MIRROR_ERR_LEN, "base_bdevs: leg %s is listed twice",
					 o->legs[i]);
				return -EINVAL;
			}
		}
		if (strcmp(o->legs[i], o->name) == 0) {
			snprintf(err, MIRROR_ERR_LEN, "base_bdevs: leg %s is the mirror itself",
				 o->legs[i]);
			return -EINVAL;
		}
	}
	for (uint32_t f = 0; f < o->num_failed_legs; f++) {
		uint32_t i;

		for (i = 0; i < o->num_legs && strcmp(o->failed_legs[f], o->legs[i]) != 0; i++) {
		}
		if (i == o->num_legs) {
			snprintf(err, MIRROR_ERR_LEN,
				 "failed_base_bdevs: %s is not one of base_bdevs", o->failed_legs[f]);
			return -EINVAL;
		}
	}
	if (o->num_failed_legs >= o->num_legs) {
		snprintf(err, MIRROR_ERR_LEN, "failed_base_bdevs: at least one leg must be healthy");
		return -EINVAL;
	}
	return 0;
}

/* Is name used by a bdev, or by a mirror (configuring ones have no bdev)? */
static int mirror_check_names(const struct mirror_create_opts *o, char *err)
{
	char uuid[AXON_UUID_STRING_LEN];
	struct mirror *other;

	if (strlen(o->name) == 0 || strlen(o->name) > AXON_BDEV_MAX_NAME_LEN) {
		snprintf(err, MIRROR_ERR_LEN, "name: expected 1 to %d characters",
			 AXON_BDEV_MAX_NAME_LEN);
		return -EINVAL;
	}
	if (mirror_find(o->name) != NULL || axon_bdev_get_by_name(o->name) != NULL) {
		snprintf(err, MIRROR_ERR_LEN, "name: a bdev named %s already exists", o->name);
		return -EEXIST;
	}
	if (axon_uuid_is_null(&o->uuid)) {
		return 0;
	}
	axon_uuid_fmt_lower(uuid, sizeof(uuid), &o->uuid);
	TAILQ_FOREACH(other, &g_mirrors, link) {
		if (memcmp(&other->uuid, &o->uuid, sizeof(o->uuid)) == 0) {
			break;
		}
	}
	if (other != NULL || axon_bdev_get_by_name(uuid) != NULL) {
		snprintf(err, MIRROR_ERR_LEN, "uuid: %s is already used by bdev %s", uuid,
			 other != NULL ? other->name :
			 axon_bdev_get_name(axon_bdev_get_by_name(uuid)));
		return -EEXIST;
	}
	return 0;
}

static bool name_in(const char *name, const char *const *list, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(name, list[i]) == 0) {
			return true;
		}
	}
	return false;
}

static struct mirror *mirror_alloc(const struct mirror_create_opts *o)
{
	struct mirror *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		return NULL;
	}
	m->name = strdup(o->name);
	m->num_legs = o->num_legs;
	for (uint32_t i = 0; i < o->num_legs; i++) {
		m->legs[i].mirror = m;
		m->legs[i].name = strdup(o->legs[i]);
		m->legs[i].start_failed = name_in(o->legs[i], o->failed_legs, o->num_failed_legs);
		if (m->legs[i].name == NULL) {
			mirror_free(m);
			return NULL;
		}
	}
	if (m->name == NULL) {
		mirror_free(m);
		return NULL;
	}
	m->uuid = o->uuid;
	if (axon_uuid_is_null(&m->uuid)) {
		axon_uuid_generate(&m->uuid);
	}
	atomic_init(&m->healthy, 0);
	atomic_init(&m->offline_logged, false);
	return m;
}

/* Release every opened leg of a mirror that never registered. */
static void mirror_release_legs(struct mirror *m)
{
	for (uint32_t i = 0; i < m->num_legs; i++) {
		leg_release(&m->legs[i]);
		m->legs[i].state = MIRROR_LEG_MISSING;
	}
	atomic_store(&m->healthy, 0);
}

int mirror_create(const struct mirror_create_opts *o, struct mirror **mp, char *err)
{
	char why[MIRROR_ERR_LEN];
	struct mirror *m;
	int rc;

	err[0] = '\0';
	rc = mirror_check_opts(o, err);
	if (rc == 0) {
		rc = mirror_check_names(o, err);
	}
	if (rc != 0) {
		return rc;
	}
	m = mirror_alloc(o);
	if (m == NULL) {
		snprintf(err, MIRROR_ERR_LEN, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (axon_bdev_get_by_name(m->legs[i].name) == NULL) {
			continue; /* claimed when it appears */
		}
		rc = leg_open(m, &m->legs[i], why);
		if (rc != 0) {
			snprintf(err, MIRROR_ERR_LEN, "base_bdevs: %.300s", why);
			goto err_release;
		}
	}
	if (legs_complete(m)) {
		rc = mirror_register(m, err);
		if (rc != 0) {
			goto err_release;
		}
	} else {
		AXON_NOTICELOG("mirror %s is configuring: waiting for its missing legs", m->name);
	}
	TAILQ_INSERT_TAIL(&g_mirrors, m, link);
	*mp = m;
	return 0;
err_release:
	mirror_release_legs(m);
	mirror_free(m);
	return rc;
}

int mirror_delete(const char *name, axon_bdev_unregister_cb cb, void *cb_arg)
{
	struct mirror *m = mirror_find(name);

	if (m == NULL) {
		return -ENODEV;
	}
	if (m->reg == MIRROR_DELETING) {
		return -EBUSY;
	}
	if (m->reg == MIRROR_UNREGISTERED) {
		TAILQ_REMOVE(&g_mirrors, m, link);
		mirror_release_legs(m);
		mirror_free(m);
		if (cb != NULL) {
			cb(cb_arg, 0);
		}
		return 0;
	}
	m->reg = MIRROR_DELETING;
	axon_bdev_unregister(&m->bdev, cb, cb_arg);
	return 0;
}

/* ---- what the RPCs show ------------------------------------------------------------ */

void mirror_info_json(const struct mirror *m, json_t *obj)
{
	json_t *list = json_array();
	uint32_t discovered = 0, operational = 0;

	for (uint32_t i = 0; i < m->num_legs; i++) {
		const struct mirror_leg *leg = &m->legs[i];
		bool present = leg->state == MIRROR_LEG_PRESENT;
		char uuid[AXON_UUID_STRING_LEN];
		json_t *o;

		discovered += present;
		operational += mirror_leg_is_healthy(leg);
		o = json_pack("{s:s, s:b, s:I, s:I, s:s}", "name", leg->name, "is_configured",
			      present, "data_offset", (json_int_t)0, "data_size",
			      (json_int_t)(present ? (m->reg != MIRROR_UNREGISTERED ?
						      m->bdev.blockcnt : leg->num_blocks) : 0),
			      "state", mirror_leg_state_name(leg));
		if (present) {
			axon_uuid_fmt_lower(uuid, sizeof(uuid), &leg->uuid);
			json_object_set_new(o, "uuid", json_string(uuid));
		} else {
			json_object_set_new(o, "uuid", json_null());
		}
		json_array_append_new(list, o);
	}
	json_object_set_new(obj, "strip_size_kb", json_integer(0));
	json_object_set_new(obj, "state", json_string(mirror_state_name(mirror_get_state(m))));
	json_object_set_new(obj, "raid_level", json_string("raid1"));
	json_object_set_new(obj, "superblock", json_false());
	json_object_set_new(obj, "num_base_bdevs", json_integer(m->num_legs));
	json_object_set_new(obj, "num_base_bdevs_discovered", json_integer(discovered));
	json_object_set_new(obj, "num_base_bdevs_operational", json_integer(operational));
	json_object_set_new(obj, "rebuild", json_string("not supported: a failed or removed "
							"leg stays out until the mirror is "
							"recreated"));
	json_object_set_new(obj, "base_bdevs_list", list);
}

/* ---- the module ------------------------------------------------------------------- */

/* A leg of a configuring mirror appeared: claim it, and register the mirror
 * once every expected leg is there. */
static void mirror_examine_config(struct axon_bdev *bdev)
{
	const char *name = axon_bdev_get_name(bdev);
	char err[MIRROR_ERR_LEN];
	struct mirror *m;

	TAILQ_FOREACH(m, &g_mirrors, link) {
		if (m->reg != MIRROR_UNREGISTERED) {
			continue;
		}
		for (uint32_t i = 0; i < m->num_legs; i++) {
			struct mirror_leg *leg = &m->legs[i];

			if (leg->state != MIRROR_LEG_MISSING || strcmp(leg->name, name) != 0) {
				continue;
			}
			if (leg_open(m, leg, err) != 0) {
				AXON_ERRLOG("mirror %s: %s", m->name, err);
				continue;
			}
			if (legs_complete(m) && mirror_register(m, err) != 0) {
				AXON_ERRLOG("%s", err);
			}
		}
	}
	axon_bdev_module_examine_done(&g_mirror_module);
}

/* Mirrors still configuring have no bdev to save them: save them here, before
 * every bdev, so that replay creates them first and claims their legs as the
 * legs appear. */
static void mirror_config_json(json_t *array)
{
	struct mirror *m;

	TAILQ_FOREACH(m, &g_mirrors, link) {
		if (m->reg == MIRROR_UNREGISTERED) {
			json_array_append_new(array, mirror_create_json(m));
		}
	}
}

static void mirror_module_fini(void)
{
	struct mirror *m;

	/* Registered mirrors were unregistered with every bdev; what is left
	 * never came online. */
	while ((m = TAILQ_FIRST(&g_mirrors)) != NULL) {
		TAILQ_REMOVE(&g_mirrors, m, link);
		mirror_release_legs(m);
		mirror_free(m);
	}
}

struct axon_bdev_module g_mirror_module = {
	.name = "raid",
	.module_fini = mirror_module_fini,
	.examine_config = mirror_examine_config,
	.get_ctx_size = mirror_io_ctx_size,
	.config_json = mirror_config_json,
};
AXON_BDEV_MODULE_REGISTER(mirror, &g_mirror_module)
