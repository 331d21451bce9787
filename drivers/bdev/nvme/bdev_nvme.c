/*
 * NVMe bdev life cycle: options, attaching a controller (the init state
 * machine polled on the attaching thread), one bdev per active namespace,
 * the admin poller (keep alive, events, namespace changes, resets), and
 * detaching. The I/O path is in bdev_nvme_io.c.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "axon/env.h"
#include "axon/log.h"
#include "bdev_nvme_internal.h"

/* Admin queue polling: often while the controller changes state, rarely once steady. */
#define NVME_ADMIN_POLL_BUSY_US 0
#define NVME_ADMIN_POLL_STEADY_US 10000
/* NLB is 16 bits: the most blocks of one read or write. */
#define NVME_MAX_LBA_COUNT 65536u

struct nvme_bdev_opts g_nvme_bdev_opts;
bool g_nvme_bdev_opts_frozen;
/* The module is stopping: no new controllers. */
static bool g_nvme_bdev_fini;
struct nvme_bdev_ctrlr_list g_nvme_bdev_ctrlrs = TAILQ_HEAD_INITIALIZER(g_nvme_bdev_ctrlrs);
char g_nvme_poll_groups;

static void nvme_bdev_fini_next(void);
static void nvme_ctrlr_detach_continue(void *ctx);

/* ---- options ---------------------------------------------------------------------- */

void nvme_bdev_opts_defaults(struct nvme_bdev_opts *opts)
{
	struct axon_nvme_ctrlr_opts copts;

	axon_nvme_ctrlr_opts_init(&copts);
	memset(opts, 0, sizeof(*opts));
	opts->action_on_timeout = AXON_NVME_TIMEOUT_ACTION_NONE;
	opts->timeout_us = 0;
	opts->keep_alive_timeout_ms = copts.keep_alive_timeout_ms;
	opts->ctrlr_loss_timeout_sec = copts.ctrlr_loss_timeout_sec;
	opts->reconnect_delay_sec = copts.reconnect_delay_sec;
	opts->fast_io_fail_timeout_sec = copts.fast_io_fail_timeout_sec;
	opts->bdev_retry_count = 3;
}

static const char *const g_timeout_actions[] = {
	[AXON_NVME_TIMEOUT_ACTION_NONE] = "none",
	[AXON_NVME_TIMEOUT_ACTION_ABORT] = "abort",
	[AXON_NVME_TIMEOUT_ACTION_RESET] = "reset",
};

int nvme_bdev_timeout_action_parse(const char *str, enum axon_nvme_timeout_action *action)
{
	size_t i;

	for (i = 0; i < AXON_COUNTOF(g_timeout_actions); i++) {
		if (strcasecmp(str, g_timeout_actions[i]) == 0) {
			*action = (enum axon_nvme_timeout_action)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *nvme_bdev_timeout_action_str(enum axon_nvme_timeout_action action)
{
	return (size_t)action < AXON_COUNTOF(g_timeout_actions) ? g_timeout_actions[action] : "none";
}

const char *nvme_bdev_check_reconnect(int32_t loss, uint32_t delay, uint32_t fast_fail,
				      const char **param)
{
	*param = "ctrlr_loss_timeout_sec";
	if (loss < -1) {
		return "-1 (reconnect forever), 0 (never reconnect) or a number of seconds";
	}
	if (loss == 0) {
		*param = delay != 0 ? "reconnect_delay_sec" : "fast_io_fail_timeout_sec";
		return delay != 0 || fast_fail != 0
			       ? "0 when ctrlr_loss_timeout_sec is 0 (no reconnect)"
			       : NULL;
	}
	*param = "reconnect_delay_sec";
	if (delay == 0) {
		return "a delay > 0 when ctrlr_loss_timeout_sec is not 0";
	}
	if (loss > 0 && delay > (uint32_t)loss) {
		return "at most ctrlr_loss_timeout_sec";
	}
	*param = "fast_io_fail_timeout_sec";
	if (fast_fail != 0 && fast_fail < delay) {
		return "0 or at least reconnect_delay_sec";
	}
	if (fast_fail != 0 && loss > 0 && fast_fail > (uint32_t)loss) {
		return "at most ctrlr_loss_timeout_sec";
	}
	*param = NULL;
	return NULL;
}

/* ---- names and JSON --------------------------------------------------------------- */

char *nvme_bdev_name(const char *ctrlr_name, uint32_t nsid)
{
	return axon_sprintf_alloc("%sn%" PRIu32, ctrlr_name, nsid);
}

json_t *nvme_trid_to_json(const struct axon_nvme_trid *trid)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "trtype", json_string(axon_nvme_trtype_str(trid->trtype)));
	if (trid->trtype != AXON_NVME_TRTYPE_PCIE) {
		json_object_set_new(obj, "adrfam", json_string(axon_nvme_adrfam_str(trid->adrfam)));
	}
	json_object_set_new(obj, "traddr", json_string(trid->traddr));
	if (trid->trsvcid[0] != '\0') {
		json_object_set_new(obj, "trsvcid", json_string(trid->trsvcid));
	}
	if (trid->subnqn[0] != '\0') {
		json_object_set_new(obj, "subnqn", json_string(trid->subnqn));
	}
	return obj;
}

const char *nvme_bdev_ctrlr_state_str(enum nvme_bdev_ctrlr_state state)
{
	switch (state) {
	case NVME_BDEV_CTRLR_CONNECTING:
		return "connecting";
	case NVME_BDEV_CTRLR_ENABLED:
		return "enabled";
	case NVME_BDEV_CTRLR_RESETTING:
		return "resetting";
	case NVME_BDEV_CTRLR_FAILED:
		return "failed";
	case NVME_BDEV_CTRLR_DELETING:
		return "deleting";
	}
	return "unknown";
}

struct nvme_bdev_ctrlr *nvme_bdev_ctrlr_find(const char *name)
{
	struct nvme_bdev_ctrlr *nctrlr;

	TAILQ_FOREACH(nctrlr, &g_nvme_bdev_ctrlrs, link) {
		if (strcmp(nctrlr->name, name) == 0) {
			return nctrlr;
		}
	}
	return NULL;
}

/* ---- the bdev of a namespace --------------------------------------------------------- */

static int nvme_bdev_destruct(void *ctx);

static struct axon_io_channel *nvme_bdev_get_io_channel(void *ctx)
{
	struct nvme_bdev *nbdev = ctx;

	return axon_get_io_channel(nbdev->nctrlr);
}

static int nvme_bdev_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct nvme_bdev *nbdev = ctx;
	struct nvme_bdev_ctrlr *nctrlr = nbdev->nctrlr;
	const struct nvme_id_ctrl *cdata = axon_nvme_ctrlr_get_data(nctrlr->ctrlr);
	json_t *info;

	info = json_pack("{s:s, s:o, s:{s:i, s:s%, s:s%, s:s%, s:s}, s:{s:i}}", "ctrlr_name",
			 nctrlr->name, "trid", nvme_trid_to_json(&nctrlr->trid), "ctrlr_data",
			 "cntlid", axon_nvme_ctrlr_get_cntlid(nctrlr->ctrlr), "model_number",
			 cdata->mn, strnlen(cdata->mn, sizeof(cdata->mn)), "serial_number",
			 cdata->sn, strnlen(cdata->sn, sizeof(cdata->sn)), "firmware_revision",
			 cdata->fr, strnlen(cdata->fr, sizeof(cdata->fr)), "subnqn",
			 nctrlr->trid.subnqn, "ns_data", "id", nbdev->nsid);
	if (info == NULL) {
		return -ENOMEM;
	}
	json_object_set_new(driver_specific, "nvme", json_pack("[o]", info));
	return 0;
}

static const struct axon_bdev_fn_table g_nvme_fn_table = {
	.destruct = nvme_bdev_destruct,
	.submit_request = nvme_bdev_submit_request,
	.io_type_supported = nvme_bdev_io_type_supported,
	.get_io_channel = nvme_bdev_get_io_channel,
	.dump_info_json = nvme_bdev_dump_info_json,
	/* No write_config_json: the module's config_json re-attaches the controller. */
};

static bool uuid_is_null(const struct axon_uuid *uuid)
{
	static const struct axon_uuid null_uuid;

	return memcmp(uuid, &null_uuid, sizeof(*uuid)) == 0;
}

/*
 * The bdev's UUID is the namespace's NGUID, so the same disk keeps its
 * identity across hosts. When that UUID is already in use here (a loop back
 * to a target of this process exports a bdev under its own UUID) a random
 * one avoids refusing the namespace.
 */
static void nvme_bdev_set_uuid(struct nvme_bdev *nbdev, const struct nvme_id_ns *nsdata)
{
	char str[AXON_UUID_STRING_LEN];

	memcpy(nbdev->bdev.uuid.u, nsdata->nguid, sizeof(nbdev->bdev.uuid.u));
	if (uuid_is_null(&nbdev->bdev.uuid)) {
		return;
	}
	axon_uuid_fmt_lower(str, sizeof(str), &nbdev->bdev.uuid);
	if (axon_bdev_get_by_name(str) != NULL) {
		AXON_NOTICELOG("%s: NGUID %s is already used by bdev %s; using a random UUID\n",
			       nbdev->bdev.name, str, axon_bdev_get_name(axon_bdev_get_by_name(str)));
		memset(&nbdev->bdev.uuid, 0, sizeof(nbdev->bdev.uuid));
	}
}

static void nvme_bdev_set_geometry(struct nvme_bdev *nbdev, struct axon_nvme_ns *ns)
{
	struct nvme_bdev_ctrlr *nctrlr = nbdev->nctrlr;
	const struct nvme_id_ns *nsdata = axon_nvme_ns_get_data(ns);
	const struct nvme_id_ctrl *cdata = axon_nvme_ctrlr_get_data(nctrlr->ctrlr);
	uint32_t max_blocks;

	nbdev->bdev.blocklen = axon_nvme_ns_get_sector_size(ns);
	nbdev->bdev.blockcnt = axon_nvme_ns_get_num_sectors(ns);
	nbdev->bdev.write_cache = (cdata->vwc & 1) != 0;
	max_blocks = axon_nvme_ctrlr_get_max_xfer_size(nctrlr->ctrlr) / nbdev->bdev.blocklen;
	nbdev->bdev.max_rw_size = AXON_MAX(AXON_MIN(max_blocks, NVME_MAX_LBA_COUNT), 1u);
	nbdev->bdev.max_num_segments = AXON_NVME_MAX_IOVCNT;
	if (nsdata->noiob != 0) {
		nbdev->bdev.optimal_io_boundary = nsdata->noiob;
		nbdev->bdev.split_on_optimal_io_boundary = true;
	}
	/* PRP entries need dword-aligned buffers; TCP takes any. */
	if (nctrlr->trid.trtype == AXON_NVME_TRTYPE_PCIE) {
		nbdev->bdev.required_alignment = 2;
	}
	nvme_bdev_set_uuid(nbdev, nsdata);
}

static int nvme_bdev_create(struct nvme_bdev_ctrlr *nctrlr, struct axon_nvme_ns *ns,
			    json_t *names)
{
	struct nvme_bdev *nbdev;
	uint32_t nsid = axon_nvme_ns_get_id(ns);
	int rc;

	if (axon_nvme_ns_get_md_size(ns) != 0) {
		AXON_WARNLOG("%s: namespace %u has metadata (%u bytes per block): not exposed\n",
			     nctrlr->name, nsid, axon_nvme_ns_get_md_size(ns));
		return -ENOTSUP;
	}
	if (axon_nvme_ns_get_num_sectors(ns) == 0) {
		return -EINVAL;
	}
	nbdev = calloc(1, sizeof(*nbdev));
	if (nbdev == NULL) {
		return -ENOMEM;
	}
	nbdev->nctrlr = nctrlr;
	nbdev->ns = ns;
	nbdev->nsid = nsid;
	nbdev->bdev.name = nvme_bdev_name(nctrlr->name, nsid);
	if (nbdev->bdev.name == NULL) {
		free(nbdev);
		return -ENOMEM;
	}
	nbdev->bdev.ctxt = nbdev;
	nbdev->bdev.product_name = "NVMe disk";
	nbdev->bdev.fn_table = &g_nvme_fn_table;
	nbdev->bdev.module = &g_nvme_bdev_module;
	nvme_bdev_set_geometry(nbdev, ns);
	rc = axon_bdev_register(&nbdev->bdev);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot register bdev %s: %d\n", nctrlr->name, nbdev->bdev.name, rc);
		free(nbdev->bdev.name);
		free(nbdev);
		return rc;
	}
	TAILQ_INSERT_TAIL(&nctrlr->bdevs, nbdev, link);
	nctrlr->num_bdevs++;
	if (names != NULL) {
		json_array_append_new(names, json_string(nbdev->bdev.name));
	}
	AXON_NOTICELOG("%s: namespace %u is bdev %s (%" PRIu64 " blocks of %u bytes)\n",
		       nctrlr->name, nsid, nbdev->bdev.name, nbdev->bdev.blockcnt,
		       nbdev->bdev.blocklen);
	return 0;
}

static struct nvme_bdev *nvme_bdev_find(struct nvme_bdev_ctrlr *nctrlr, uint32_t nsid)
{
	struct nvme_bdev *nbdev;

	TAILQ_FOREACH(nbdev, &nctrlr->bdevs, link) {
		if (nbdev->nsid == nsid && !nbdev->unregistering) {
			return nbdev;
		}
	}
	return NULL;
}

static int nvme_bdev_destruct(void *ctx)
{
	struct nvme_bdev *nbdev = ctx;
	struct nvme_bdev_ctrlr *nctrlr = nbdev->nctrlr;

	TAILQ_REMOVE(&nctrlr->bdevs, nbdev, link);
	nctrlr->num_bdevs--;
	free(nbdev->bdev.name);
	free(nbdev);
	if (nctrlr->state == NVME_BDEV_CTRLR_DELETING && nctrlr->num_bdevs == 0) {
		/* Not from inside the layer's destruct path: continue from a message. */
		axon_thread_send_msg(nctrlr->thread, nvme_ctrlr_detach_continue, nctrlr);
	}
	return 0;
}

static void nvme_bdev_unregister(struct nvme_bdev *nbdev)
{
	if (nbdev->unregistering) {
		return;
	}
	nbdev->unregistering = true;
	axon_bdev_unregister(&nbdev->bdev, NULL, NULL);
}

/*
 * Bring the bdevs in line with the active namespaces (after an event, or a
 * reconnect): new namespaces get a bdev, vanished ones are unregistered (I/O
 * in flight completes; new I/O fails with Invalid Namespace), resized ones
 * announce their new size.
 */
static void nvme_bdev_sync_namespaces(struct nvme_bdev_ctrlr *nctrlr)
{
	struct axon_nvme_ns *ns = NULL;
	struct nvme_bdev *nbdev, *tmp;

	TAILQ_FOREACH_SAFE(nbdev, &nctrlr->bdevs, link, tmp) {
		ns = axon_nvme_ctrlr_get_ns(nctrlr->ctrlr, nbdev->nsid);
		if (ns != nbdev->ns) {
			__atomic_store_n(&nbdev->ns, NULL, __ATOMIC_RELEASE);
			if (!nbdev->unregistering) {
				AXON_NOTICELOG("%s: namespace %u was removed; unregistering %s\n",
					       nctrlr->name, nbdev->nsid, nbdev->bdev.name);
				nvme_bdev_unregister(nbdev);
			}
			continue;
		}
		if (nbdev->unregistering) {
			continue;
		}
		if (axon_nvme_ns_get_num_sectors(ns) != nbdev->bdev.blockcnt &&
		    axon_bdev_notify_blockcnt_change(&nbdev->bdev,
						     axon_nvme_ns_get_num_sectors(ns)) == 0) {
			AXON_NOTICELOG("%s: namespace %u resized to %" PRIu64 " blocks\n",
				       nctrlr->name, nbdev->nsid, nbdev->bdev.blockcnt);
		}
	}
	for (ns = axon_nvme_ctrlr_get_next_active_ns(nctrlr->ctrlr, NULL); ns != NULL;
	     ns = axon_nvme_ctrlr_get_next_active_ns(nctrlr->ctrlr, ns)) {
		if (nvme_bdev_find(nctrlr, axon_nvme_ns_get_id(ns)) == NULL) {
			nvme_bdev_create(nctrlr, ns, NULL);
		}
	}
}

/* ---- attaching -------------------------------------------------------------------------- */

void nvme_attach_opts_init(struct nvme_attach_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->ctrlr_loss_timeout_sec = g_nvme_bdev_opts.ctrlr_loss_timeout_sec;
	opts->reconnect_delay_sec = g_nvme_bdev_opts.reconnect_delay_sec;
	opts->fast_io_fail_timeout_sec = g_nvme_bdev_opts.fast_io_fail_timeout_sec;
}

static int nvme_ctrlr_admin_poller(void *arg);

static void nvme_ctrlr_set_poller(struct nvme_bdev_ctrlr *nctrlr, axon_poller_fn fn,
				  uint64_t period_us, const char *name)
{
	axon_poller_unregister(&nctrlr->poller);
	nctrlr->poll_period_us = period_us;
	nctrlr->poller = axon_poller_register_named(fn, nctrlr, period_us, name);
}

/* Poll the admin queue often while the controller changes state. */
static void nvme_ctrlr_admin_poll_rate(struct nvme_bdev_ctrlr *nctrlr, bool busy)
{
	uint64_t period = busy ? NVME_ADMIN_POLL_BUSY_US : NVME_ADMIN_POLL_STEADY_US;

	if (nctrlr->poller == NULL || nctrlr->poll_period_us != period) {
		nvme_ctrlr_set_poller(nctrlr, nvme_ctrlr_admin_poller, period, "nvme_ctrlr_admin");
	}
}

static void nvme_ctrlr_free(struct nvme_bdev_ctrlr *nctrlr)
{
	free(nctrlr->hostnqn_param);
	free(nctrlr->name);
	free(nctrlr);
}

static void nvme_ctrlr_attach_failed(struct nvme_bdev_ctrlr *nctrlr, int rc, const char *why)
{
	axon_poller_unregister(&nctrlr->poller);
	TAILQ_REMOVE(&g_nvme_bdev_ctrlrs, nctrlr, link);
	axon_nvme_ctrlr_detach(nctrlr->ctrlr);
	nctrlr->attach_cb(nctrlr->attach_cb_arg, rc, NULL, why);
	nvme_ctrlr_free(nctrlr);
}

static void nvme_ctrlr_attach_ready(struct nvme_bdev_ctrlr *nctrlr)
{
	struct axon_nvme_ns *ns;
	json_t *names = json_array();

	axon_io_device_register(nctrlr, nvme_ctrlr_channel_create, nvme_ctrlr_channel_destroy,
				sizeof(struct nvme_ctrlr_channel), nctrlr->name);
	nctrlr->io_device_registered = true;
	nctrlr->state = NVME_BDEV_CTRLR_ENABLED;
	for (ns = axon_nvme_ctrlr_get_next_active_ns(nctrlr->ctrlr, NULL); ns != NULL;
	     ns = axon_nvme_ctrlr_get_next_active_ns(nctrlr->ctrlr, ns)) {
		nvme_bdev_create(nctrlr, ns, names);
	}
	AXON_NOTICELOG("%s: attached %s %s (cntlid %u, %zu bdevs)\n", nctrlr->name,
		       axon_nvme_trtype_str(nctrlr->trid.trtype), nctrlr->trid.traddr,
		       axon_nvme_ctrlr_get_cntlid(nctrlr->ctrlr), json_array_size(names));
	nvme_ctrlr_admin_poll_rate(nctrlr, false);
	nctrlr->attach_cb(nctrlr->attach_cb_arg, 0, names, NULL);
	json_decref(names);
}

static int nvme_ctrlr_connect_poller(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;
	char why[512];
	int rc;

	rc = axon_nvme_ctrlr_connect_poll(nctrlr->ctrlr);
	if (rc == -EAGAIN) {
		return AXON_POLLER_BUSY;
	}
	if (rc != 0) {
		snprintf(why, sizeof(why), "connecting to %s %s failed at step '%s': %s",
			 axon_nvme_trtype_str(nctrlr->trid.trtype), nctrlr->trid.traddr,
			 axon_nvme_ctrlr_state_str(axon_nvme_ctrlr_get_failed_step(nctrlr->ctrlr)),
			 strerror(-rc));
		AXON_ERRLOG("%s: %s\n", nctrlr->name, why);
		nvme_ctrlr_attach_failed(nctrlr, rc, why);
		return AXON_POLLER_BUSY;
	}
	nvme_ctrlr_attach_ready(nctrlr);
	return AXON_POLLER_BUSY;
}

static void nvme_ctrlr_fill_opts(struct nvme_bdev_ctrlr *nctrlr, const struct nvme_attach_opts *o)
{
	struct axon_nvme_ctrlr_opts *opts = &nctrlr->opts;

	axon_nvme_ctrlr_opts_init(opts);
	opts->keep_alive_timeout_ms = g_nvme_bdev_opts.keep_alive_timeout_ms;
	opts->io_timeout_us = g_nvme_bdev_opts.timeout_us;
	opts->timeout_action = g_nvme_bdev_opts.action_on_timeout;
	opts->header_digest = o->hdgst;
	opts->data_digest = o->ddgst;
	opts->ctrlr_loss_timeout_sec = o->ctrlr_loss_timeout_sec;
	opts->reconnect_delay_sec = o->reconnect_delay_sec;
	opts->fast_io_fail_timeout_sec = o->fast_io_fail_timeout_sec;
	if (o->hostnqn != NULL) {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", o->hostnqn);
	}
}

int nvme_bdev_ctrlr_attach(const struct nvme_attach_opts *opts, nvme_attach_cb cb, void *cb_arg)
{
	struct nvme_bdev_ctrlr *nctrlr;

	if (g_nvme_bdev_fini) {
		return -ESHUTDOWN;
	}
	if (nvme_bdev_ctrlr_find(opts->name) != NULL) {
		return -EEXIST;
	}
	if (axon_nvme_transport_get(axon_nvme_trtype_str(opts->trid.trtype)) == NULL) {
		return -ENODEV;
	}
	nctrlr = calloc(1, sizeof(*nctrlr));
	if (nctrlr == NULL) {
		return -ENOMEM;
	}
	nctrlr->name = strdup(opts->name);
	nctrlr->hostnqn_param = opts->hostnqn != NULL ? strdup(opts->hostnqn) : NULL;
	if (nctrlr->name == NULL || (opts->hostnqn != NULL && nctrlr->hostnqn_param == NULL)) {
		nvme_ctrlr_free(nctrlr);
		return -ENOMEM;
	}
	nctrlr->trid = opts->trid;
	nvme_ctrlr_fill_opts(nctrlr, opts);
	nctrlr->ctrlr = axon_nvme_ctrlr_connect_async(&nctrlr->trid, &nctrlr->opts);
	if (nctrlr->ctrlr == NULL) {
		nvme_ctrlr_free(nctrlr);
		return -EINVAL;
	}
	nctrlr->thread = axon_get_thread();
	nctrlr->state = NVME_BDEV_CTRLR_CONNECTING;
	nctrlr->discovery = opts->discovery;
	nctrlr->attach_cb = cb;
	nctrlr->attach_cb_arg = cb_arg;
	nctrlr->qpair_refs = 1;
	TAILQ_INIT(&nctrlr->bdevs);
	TAILQ_INIT(&nctrlr->reset_waiters);
	TAILQ_INSERT_TAIL(&g_nvme_bdev_ctrlrs, nctrlr, link);
	nvme_ctrlr_set_poller(nctrlr, nvme_ctrlr_connect_poller, 0, "nvme_ctrlr_connect");
	g_nvme_bdev_opts_frozen = true;
	return 0;
}

/* ---- the admin poller --------------------------------------------------------------------- */

static void nvme_ctrlr_lost(struct nvme_bdev_ctrlr *nctrlr)
{
	bool was_resetting = nctrlr->lib_resetting;

	AXON_ERRLOG("%s: controller %s failed: its I/O now fails (host pathing error)\n",
		    nctrlr->name, nctrlr->trid.traddr);
	nctrlr->state = NVME_BDEV_CTRLR_FAILED;
	nctrlr->lib_resetting = false;
	nvme_ctrlr_admin_poll_rate(nctrlr, false);
	if (was_resetting || nctrlr->reset_step != NVME_RESET_STEP_NONE) {
		nvme_bdev_ctrlr_lib_reset_done(nctrlr, -ENXIO);
	}
}

static int nvme_ctrlr_admin_poller(void *arg)
{
	struct nvme_bdev_ctrlr *nctrlr = arg;
	bool resetting;
	int32_t rc;

	rc = axon_nvme_ctrlr_process_admin_completions(nctrlr->ctrlr);
	if (rc == -ENXIO) {
		if (nctrlr->state != NVME_BDEV_CTRLR_FAILED &&
		    nctrlr->state != NVME_BDEV_CTRLR_DELETING) {
			nvme_ctrlr_lost(nctrlr);
		}
		return AXON_POLLER_IDLE;
	}
	resetting = axon_nvme_ctrlr_is_resetting(nctrlr->ctrlr);
	if (resetting && !nctrlr->lib_resetting) {
		nctrlr->lib_resetting = true;
		if (nctrlr->state == NVME_BDEV_CTRLR_ENABLED) {
			nctrlr->state = NVME_BDEV_CTRLR_RESETTING;
		}
		nvme_ctrlr_admin_poll_rate(nctrlr, true);
	} else if (!resetting && nctrlr->lib_resetting) {
		nctrlr->lib_resetting = false;
		if (nctrlr->state == NVME_BDEV_CTRLR_RESETTING) {
			nctrlr->state = NVME_BDEV_CTRLR_ENABLED;
		}
		nvme_ctrlr_admin_poll_rate(nctrlr, nctrlr->reset_step != NVME_RESET_STEP_NONE);
		nvme_bdev_ctrlr_lib_reset_done(nctrlr, 0);
	}
	if (!resetting && nctrlr->state == NVME_BDEV_CTRLR_ENABLED) {
		nvme_bdev_sync_namespaces(nctrlr);
	}
	return rc > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

/* ---- detaching ------------------------------------------------------------------------------ */

static void nvme_ctrlr_finish_detach(struct nvme_bdev_ctrlr *nctrlr)
{
	struct nvme_reset_waiter *w;
	int rc;

	axon_poller_unregister(&nctrlr->poller);
	TAILQ_REMOVE(&g_nvme_bdev_ctrlrs, nctrlr, link);
	rc = axon_nvme_ctrlr_detach(nctrlr->ctrlr);
	if (rc != 0) {
		AXON_ERRLOG("%s: detaching the controller failed: %d\n", nctrlr->name, rc);
	}
	while ((w = TAILQ_FIRST(&nctrlr->reset_waiters)) != NULL) {
		TAILQ_REMOVE(&nctrlr->reset_waiters, w, link);
		w->cb(w->cb_arg, -ENXIO);
		free(w);
	}
	if (nctrlr->discovery != NULL) {
		nvme_discovery_ctrlr_gone(nctrlr->discovery, nctrlr);
	}
	AXON_NOTICELOG("%s: detached\n", nctrlr->name);
	if (nctrlr->detach_cb != NULL) {
		nctrlr->detach_cb(nctrlr->detach_cb_arg, 0);
	}
	nvme_ctrlr_free(nctrlr);
}

void nvme_ctrlr_qpair_refs_drained(void *ctx)
{
	nvme_ctrlr_finish_detach(ctx);
}

/* Every channel is gone; qpair connects still running hold the controller. */
static void nvme_ctrlr_io_device_gone(void *io_device)
{
	struct nvme_bdev_ctrlr *nctrlr = io_device;

	if (__atomic_sub_fetch(&nctrlr->qpair_refs, 1, __ATOMIC_ACQ_REL) == 0) {
		nvme_ctrlr_finish_detach(nctrlr);
	}
}

/* Every bdev is gone: release the io_device (its channels free their qpairs). */
static void nvme_ctrlr_detach_continue(void *ctx)
{
	struct nvme_bdev_ctrlr *nctrlr = ctx;

	if (nctrlr->num_bdevs != 0 || nctrlr->detach_continued) {
		return;
	}
	nctrlr->detach_continued = true;
	if (nctrlr->io_device_registered) {
		nctrlr->io_device_registered = false;
		axon_io_device_unregister(nctrlr, nvme_ctrlr_io_device_gone);
		return;
	}
	nvme_ctrlr_io_device_gone(nctrlr);
}

void nvme_bdev_ctrlr_detach(struct nvme_bdev_ctrlr *nctrlr, nvme_bdev_done_cb cb, void *cb_arg)
{
	struct nvme_bdev *nbdev, *tmp;

	assert(nctrlr->state != NVME_BDEV_CTRLR_CONNECTING);
	nctrlr->state = NVME_BDEV_CTRLR_DELETING;
	nctrlr->detach_cb = cb;
	nctrlr->detach_cb_arg = cb_arg;
	if (nctrlr->num_bdevs == 0) {
		nvme_ctrlr_detach_continue(nctrlr);
		return;
	}
	TAILQ_FOREACH_SAFE(nbdev, &nctrlr->bdevs, link, tmp) {
		nvme_bdev_unregister(nbdev);
	}
}

/* ---- the module --------------------------------------------------------------------------- */

__attribute__((constructor)) static void nvme_bdev_opts_ctor(void)
{
	nvme_bdev_opts_defaults(&g_nvme_bdev_opts);
}

static int nvme_bdev_module_init(void)
{
	axon_io_device_register(&g_nvme_poll_groups, nvme_poll_group_create_cb,
				nvme_poll_group_destroy_cb, sizeof(struct nvme_poll_group),
				"nvme_poll_groups");
	return 0;
}

static void nvme_bdev_fini_ctrlr_done(void *cb_arg, int rc)
{
	(void)cb_arg;
	(void)rc;
	nvme_bdev_fini_next();
}

static void nvme_bdev_fini_next(void)
{
	struct nvme_bdev_ctrlr *nctrlr;

	while ((nctrlr = TAILQ_FIRST(&g_nvme_bdev_ctrlrs)) != NULL) {
		if (nctrlr->state == NVME_BDEV_CTRLR_CONNECTING) {
			nvme_ctrlr_attach_failed(nctrlr, -ECANCELED, "the application is stopping");
			continue;
		}
		if (nctrlr->state != NVME_BDEV_CTRLR_DELETING) {
			nvme_bdev_ctrlr_detach(nctrlr, nvme_bdev_fini_ctrlr_done, NULL);
		}
		/* A detach in progress ends in nvme_ctrlr_io_device_gone, which calls back. */
		return;
	}
	axon_io_device_unregister(&g_nvme_poll_groups, NULL);
	axon_bdev_module_fini_done();
}

static void nvme_bdev_module_fini(void)
{
	g_nvme_bdev_fini = true;
	nvme_discovery_stop_all(nvme_bdev_fini_next);
}

static void nvme_bdev_config_json(json_t *array)
{
	const struct nvme_bdev_opts *o = &g_nvme_bdev_opts;
	struct nvme_bdev_ctrlr *nctrlr;
	json_t *params;

	params = json_pack("{s:s, s:I, s:I, s:i, s:I, s:I, s:i}", "action_on_timeout",
			   nvme_bdev_timeout_action_str(o->action_on_timeout), "timeout_us",
			   (json_int_t)o->timeout_us, "keep_alive_timeout_ms",
			   (json_int_t)o->keep_alive_timeout_ms, "ctrlr_loss_timeout_sec",
			   o->ctrlr_loss_timeout_sec, "reconnect_delay_sec",
			   (json_int_t)o->reconnect_delay_sec, "fast_io_fail_timeout_sec",
			   (json_int_t)o->fast_io_fail_timeout_sec, "bdev_retry_count",
			   o->bdev_retry_count);
	json_array_append_new(array, json_pack("{s:s, s:o}", "method", "bdev_nvme_set_options",
					       "params", params));
	TAILQ_FOREACH(nctrlr, &g_nvme_bdev_ctrlrs, link) {
		if (nctrlr->discovery != NULL || nctrlr->state == NVME_BDEV_CTRLR_CONNECTING ||
		    nctrlr->state == NVME_BDEV_CTRLR_DELETING) {
			continue;
		}
		params = nvme_trid_to_json(&nctrlr->trid);
		json_object_set_new(params, "name", json_string(nctrlr->name));
		if (nctrlr->hostnqn_param != NULL) {
			json_object_set_new(params, "hostnqn", json_string(nctrlr->hostnqn_param));
		}
		if (nctrlr->trid.trtype != AXON_NVME_TRTYPE_PCIE) {
			json_object_set_new(params, "hdgst", json_boolean(nctrlr->opts.header_digest));
			json_object_set_new(params, "ddgst", json_boolean(nctrlr->opts.data_digest));
		}
		json_object_set_new(params, "ctrlr_loss_timeout_sec",
				    json_integer(nctrlr->opts.ctrlr_loss_timeout_sec));
		json_object_set_new(params, "reconnect_delay_sec",
				    json_integer(nctrlr->opts.reconnect_delay_sec));
		json_object_set_new(params, "fast_io_fail_timeout_sec",
				    json_integer(nctrlr->opts.fast_io_fail_timeout_sec));
		json_array_append_new(array, json_pack("{s:s, s:o}", "method",
						       "bdev_nvme_attach_controller", "params",
						       params));
	}
	nvme_discovery_config_json(array);
}

struct axon_bdev_module g_nvme_bdev_module = {
	.name = "nvme",
	.module_init = nvme_bdev_module_init,
	.module_fini = nvme_bdev_module_fini,
	.async_fini = true,
	.get_ctx_size = nvme_bdev_get_ctx_size,
	.config_json = nvme_bdev_config_json,
};
AXON_BDEV_MODULE_REGISTER(nvme, &g_nvme_bdev_module)
