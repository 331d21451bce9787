/*
 * Discovery services (bdev_nvme_start_discovery): a persistent connection to
 * a discovery controller whose log is attached in full (one controller per
 * NVM subsystem entry, named <service><N>) and followed: a Discovery Log
 * Page Change event, or a reconnect, re-reads the log; new entries are
 * attached and vanished ones detached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "bdev_nvme_internal.h"

#define DISC_POLL_BUSY_US 0
#define DISC_POLL_STEADY_US 10000
/* Asynchronous Event Configuration: Discovery Log Page Change Notices (bit 31). */
#define DISC_AEC_LOG_CHANGE (1u << 31)
/* Discovery log entry SUBTYPE of an NVM subsystem. */
#define DISC_SUBTYPE_NVME 2

enum disc_state {
	DISC_CONNECTING = 0, /* the discovery controller's init state machine runs */
	DISC_RUNNING,        /* connected; reading the log when log_dirty */
	DISC_LOST,           /* the discovery controller was given up */
	DISC_STOPPING,       /* detaching everything it attached */
};

/* One NVM subsystem port the log lists, and the controller attached for it. */
struct disc_entry {
	struct nvme_discovery *disc;
	struct axon_nvme_trid trid;
	char *ctrlr_name;
	struct nvme_bdev_ctrlr *nctrlr; /* NULL while attaching */
	bool attaching;
	bool seen; /* in the log just read */
	TAILQ_ENTRY(disc_entry) link;
};

struct nvme_discovery {
	char *name;
	char *hostnqn;
	struct axon_nvme_trid trid;
	struct nvme_attach_opts attach;
	bool wait_for_attach;
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_ctrlr_opts opts;
	struct axon_poller *poller;
	uint64_t poll_period_us;
	enum disc_state state;
	bool log_dirty;     /* read the log again */
	bool log_reading;
	bool lib_resetting;
	bool ctrlr_detaching;
	bool aer_outstanding;
	bool ka_outstanding;
	uint64_t next_keep_alive_us;
	bool first_log_done;
	uint32_t next_index;
	uint32_t num_referrals;
	nvme_bdev_done_cb start_cb;
	void *start_cb_arg;
	nvme_bdev_done_cb stop_cb;
	void *stop_cb_arg;
	TAILQ_HEAD(, disc_entry) entries;
	TAILQ_ENTRY(nvme_discovery) link;
};

static uint64_t disc_now_us(void)
{
	return axon_get_ticks() * 1000000u / axon_get_ticks_hz();
}

static TAILQ_HEAD(, nvme_discovery) g_discoveries = TAILQ_HEAD_INITIALIZER(g_discoveries);

static void disc_stop_continue(struct nvme_discovery *disc);
static int disc_poller(void *arg);

static struct nvme_discovery *disc_find(const char *name)
{
	struct nvme_discovery *disc;

	TAILQ_FOREACH(disc, &g_discoveries, link) {
		if (strcmp(disc->name, name) == 0) {
			return disc;
		}
	}
	return NULL;
}

bool nvme_discovery_exists(const char *name)
{
	return disc_find(name) != NULL;
}

static void disc_set_poller(struct nvme_discovery *disc, uint64_t period_us)
{
	if (disc->poller != NULL && disc->poll_period_us == period_us) {
		return;
	}
	axon_poller_unregister(&disc->poller);
	disc->poll_period_us = period_us;
	disc->poller = axon_poller_register_named(disc_poller, disc, period_us, "nvme_discovery");
}

static void disc_start_done(struct nvme_discovery *disc, int rc)
{
	nvme_bdev_done_cb cb = disc->start_cb;

	disc->start_cb = NULL;
	if (cb != NULL) {
		cb(disc->start_cb_arg, rc);
	}
}

static void disc_free(struct nvme_discovery *disc)
{
	free(disc->hostnqn);
	free(disc->name);
	free(disc);
}

static void entry_free(struct disc_entry *entry)
{
	TAILQ_REMOVE(&entry->disc->entries, entry, link);
	free(entry->ctrlr_name);
	free(entry);
}

static uint32_t disc_num_attaching(const struct nvme_discovery *disc)
{
	const struct disc_entry *entry;
	uint32_t n = 0;

	TAILQ_FOREACH(entry, &disc->entries, link) {
		n += entry->attaching;
	}
	return n;
}

/* With wait_for_attach, the start RPC ends once the first log is attached. */
static void disc_check_first_attach(struct nvme_discovery *disc)
{
	if (disc->first_log_done && disc_num_attaching(disc) == 0) {
		disc_start_done(disc, 0);
	}
}

/* ---- attaching and detaching what the log lists ------------------------------------------ */

static void entry_attach_done(void *cb_arg, int rc, json_t *names, const char *why)
{
	struct disc_entry *entry = cb_arg;
	struct nvme_discovery *disc = entry->disc;

	(void)names;
	entry->attaching = false;
	if (rc != 0) {
		AXON_ERRLOG("discovery %s: attaching %s (%s) failed: %s\n", disc->name,
			    entry->trid.subnqn, entry->trid.traddr, why != NULL ? why : "");
		entry_free(entry);
	} else {
		entry->nctrlr = nvme_bdev_ctrlr_find(entry->ctrlr_name);
	}
	if (disc->state == DISC_STOPPING) {
		disc_stop_continue(disc);
		return;
	}
	disc_check_first_attach(disc);
}

static bool trid_same_path(const struct axon_nvme_trid *a, const struct axon_nvme_trid *b)
{
	return a->trtype == b->trtype && strcmp(a->traddr, b->traddr) == 0 &&
	       strcmp(a->trsvcid, b->trsvcid) == 0 && strcmp(a->subnqn, b->subnqn) == 0;
}

static void disc_attach_entry(struct nvme_discovery *disc, const struct axon_nvme_trid *trid)
{
	struct nvme_attach_opts opts = disc->attach;
	struct disc_entry *entry;
	int rc;

	entry = calloc(1, sizeof(*entry));
	if (entry == NULL) {
		return;
	}
	entry->disc = disc;
	entry->trid = *trid;
	entry->seen = true;
	do {
		free(entry->ctrlr_name);
		entry->ctrlr_name = axon_sprintf_alloc("%s%u", disc->name, disc->next_index++);
	} while (entry->ctrlr_name != NULL && nvme_bdev_ctrlr_find(entry->ctrlr_name) != NULL);
	if (entry->ctrlr_name == NULL) {
		free(entry);
		return;
	}
	TAILQ_INSERT_TAIL(&disc->entries, entry, link);
	opts.name = entry->ctrlr_name;
	opts.trid = *trid;
	opts.discovery = disc;
	entry->attaching = true;
	rc = nvme_bdev_ctrlr_attach(&opts, entry_attach_done, entry);
	if (rc != 0) {
		AXON_ERRLOG("discovery %s: cannot attach %s: %d\n", disc->name, trid->subnqn, rc);
		entry_free(entry);
		return;
	}
	AXON_NOTICELOG("discovery %s: attaching %s at %s:%s as %s\n", disc->name, trid->subnqn,
		       trid->traddr, trid->trsvcid, opts.name);
}

static struct disc_entry *disc_find_entry(struct nvme_discovery *disc,
					  const struct axon_nvme_trid *trid)
{
	struct disc_entry *entry;

	TAILQ_FOREACH(entry, &disc->entries, link) {
		if (trid_same_path(&entry->trid, trid)) {
			return entry;
		}
	}
	return NULL;
}

static void disc_detach_entry(struct nvme_discovery *disc, struct disc_entry *entry)
{
	AXON_NOTICELOG("discovery %s: %s left the log; detaching %s\n", disc->name,
		       entry->trid.subnqn, entry->ctrlr_name);
	if (entry->nctrlr->state != NVME_BDEV_CTRLR_DELETING) {
		/* nvme_discovery_ctrlr_gone() frees the entry when it is done. */
		nvme_bdev_ctrlr_detach(entry->nctrlr, NULL, NULL);
	}
}

/* Attach what is new in the log, detach what left it. */
static void disc_apply_log(struct nvme_discovery *disc, const struct nvmf_discovery_log *log)
{
	struct disc_entry *entry, *tmp;
	struct axon_nvme_trid trid;
	uint64_t i;

	disc->num_referrals = 0;
	TAILQ_FOREACH(entry, &disc->entries, link) {
		entry->seen = false;
	}
	for (i = 0; i < log->numrec; i++) {
		if (log->entries[i].subtype != DISC_SUBTYPE_NVME) {
			disc->num_referrals++;
			continue;
		}
		axon_nvme_trid_from_disc_entry(&trid, &log->entries[i]);
		if (trid.trtype == AXON_NVME_TRTYPE_NONE ||
		    axon_nvme_transport_get(trid.trstring) == NULL) {
			continue; /* a transport this build cannot reach */
		}
		entry = disc_find_entry(disc, &trid);
		if (entry != NULL) {
			entry->seen = true;
		} else {
			disc_attach_entry(disc, &trid);
		}
	}
	TAILQ_FOREACH_SAFE(entry, &disc->entries, link, tmp) {
		if (!entry->seen && !entry->attaching && entry->nctrlr != NULL) {
			disc_detach_entry(disc, entry);
		}
	}
}

void nvme_discovery_ctrlr_gone(struct nvme_discovery *disc, struct nvme_bdev_ctrlr *nctrlr)
{
	struct disc_entry *entry;

	TAILQ_FOREACH(entry, &disc->entries, link) {
		if (entry->nctrlr == nctrlr) {
			entry_free(entry);
			break;
		}
	}
	if (disc->state == DISC_STOPPING) {
		disc_stop_continue(disc);
	}
}

/* ---- the discovery controller --------------------------------------------------------------- */

static void disc_read_log(struct nvme_discovery *disc);

static void disc_log_cb(void *cb_arg, int rc, struct nvmf_discovery_log *log)
{
	struct nvme_discovery *disc = cb_arg;

	disc->log_reading = false;
	if (disc->state == DISC_STOPPING) {
		free(log);
		if (!disc->ctrlr_detaching) {
			disc_stop_continue(disc);
		}
		return;
	}
	if (rc != 0) {
		AXON_ERRLOG("discovery %s: reading the discovery log failed: %d\n", disc->name, rc);
		if (!disc->first_log_done) {
			disc->first_log_done = true;
			disc_start_done(disc, rc);
		}
		return;
	}
	AXON_INFOLOG("discovery %s: log generation %llu with %llu entries\n", disc->name,
		     (unsigned long long)log->genctr, (unsigned long long)log->numrec);
	disc_apply_log(disc, log);
	free(log);
	if (!disc->first_log_done) {
		disc->first_log_done = true;
		if (disc->wait_for_attach) {
			disc_check_first_attach(disc);
		}
	}
	if (disc->log_dirty) {
		disc_read_log(disc);
	}
}

static void disc_read_log(struct nvme_discovery *disc)
{
	int rc;

	disc->log_dirty = false;
	disc->log_reading = true;
	rc = axon_nvme_ctrlr_read_discovery_log(disc->ctrlr, disc_log_cb, disc);
	if (rc != 0) {
		/* Retried on the next poll. */
		disc->log_reading = false;
		disc->log_dirty = true;
	}
}

static void disc_aec_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct nvme_discovery *disc = cb_arg;

	if (axon_nvme_cpl_is_error(cpl)) {
		AXON_WARNLOG("discovery %s: the controller refuses a Set Features (status 0x%x): "
			     "changes of its log may go unseen\n", disc->name,
			     axon_nvme_cpl_get_status(cpl));
	}
}

static void disc_post_aer(struct nvme_discovery *disc);

static void disc_aer_done(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct nvme_discovery *disc = cb_arg;
	uint32_t type = cpl->cdw0 & 0x7u, info = (cpl->cdw0 >> 8) & 0xffu;

	disc->aer_outstanding = false;
	if (axon_nvme_cpl_is_error(cpl)) {
		return; /* aborted by a disconnect: posted again once reconnected */
	}
	if (type == NVME_AER_NOTICE && info == NVME_AER_NOTICE_DISC_CHANGED) {
		AXON_INFOLOG("discovery %s: the discovery log changed\n", disc->name);
		disc->log_dirty = true;
	}
	if (disc->state == DISC_RUNNING) {
		disc_post_aer(disc);
	}
}

/*
 * lib/nvme posts Asynchronous Event Requests for I/O controllers only, so
 * the discovery service keeps one of its own outstanding.
 */
static void disc_post_aer(struct nvme_discovery *disc)
{
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_async_event};
	int rc;

	if (disc->aer_outstanding) {
		return;
	}
	rc = axon_nvme_ctrlr_cmd_admin_raw(disc->ctrlr, &cmd, NULL, 0, disc_aer_done, disc);
	if (rc != 0) {
		AXON_WARNLOG("discovery %s: cannot post an Asynchronous Event Request: %d\n",
			     disc->name, rc);
		return;
	}
	disc->aer_outstanding = true;
}

static void disc_ka_done(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct nvme_discovery *disc = cb_arg;

	disc->ka_outstanding = false;
	if (axon_nvme_cpl_is_error(cpl) && disc->state == DISC_RUNNING) {
		AXON_WARNLOG("discovery %s: Keep Alive failed (status 0x%x)\n", disc->name,
			     axon_nvme_cpl_get_status(cpl));
	}
}

/*
 * lib/nvme treats a discovery controller as a one-shot read: no keep alive
 * timer, so the target will not send it change events (those go to
 * persistent discovery controllers only). The service sets the timer with
 * Set Features and sends the Keep Alives itself, at half the timeout.
 */
static void disc_keep_alive_poll(struct nvme_discovery *disc)
{
	uint64_t now = disc_now_us();

	if (g_nvme_bdev_opts.keep_alive_timeout_ms == 0 || disc->ka_outstanding ||
	    now < disc->next_keep_alive_us) {
		return;
	}
	if (axon_nvme_ctrlr_cmd_keep_alive(disc->ctrlr, disc_ka_done, disc) == 0) {
		disc->ka_outstanding = true;
	}
	disc->next_keep_alive_us = now + g_nvme_bdev_opts.keep_alive_timeout_ms * 500ull;
}

/* Connected (first time or after a reconnect): become a persistent discovery
 * controller (keep alive, change events), then read the log. */
static void disc_connected(struct nvme_discovery *disc)
{
	uint32_t kato = g_nvme_bdev_opts.keep_alive_timeout_ms;
	int rc;

	if (kato != 0) {
		rc = axon_nvme_ctrlr_cmd_set_features(disc->ctrlr, NVME_FEAT_FID_KATO, kato, 0,
						      NULL, 0, disc_aec_cb, disc);
		if (rc != 0) {
			AXON_WARNLOG("discovery %s: cannot set the keep alive timer: %d\n",
				     disc->name, rc);
		}
		disc->ka_outstanding = false;
		disc->next_keep_alive_us = disc_now_us() + kato * 500ull;
	}

	/* lib/nvme configures events for I/O controllers only: ask the
	 * discovery controller for log change notices ourselves. */
	rc = axon_nvme_ctrlr_cmd_set_features(disc->ctrlr, NVME_FEAT_FID_ASYNC_EVENT,
					      DISC_AEC_LOG_CHANGE, 0, NULL, 0, disc_aec_cb, disc);
	if (rc != 0) {
		AXON_WARNLOG("discovery %s: cannot enable log change events: %d\n", disc->name,
			     rc);
	}
	disc->aer_outstanding = false; /* a reconnect aborted the old one */
	disc_post_aer(disc);
	disc->log_dirty = true;
}

static int disc_poll_connecting(struct nvme_discovery *disc)
{
	int rc = axon_nvme_ctrlr_connect_poll(disc->ctrlr);

	if (rc == -EAGAIN) {
		return AXON_POLLER_BUSY;
	}
	if (rc != 0) {
		AXON_ERRLOG("discovery %s: connecting to %s:%s failed at step '%s': %d\n",
			    disc->name, disc->trid.traddr, disc->trid.trsvcid,
			    axon_nvme_ctrlr_state_str(axon_nvme_ctrlr_get_failed_step(disc->ctrlr)),
			    rc);
		axon_poller_unregister(&disc->poller);
		TAILQ_REMOVE(&g_discoveries, disc, link);
		axon_nvme_ctrlr_detach(disc->ctrlr);
		disc_start_done(disc, rc);
		disc_free(disc);
		return AXON_POLLER_BUSY;
	}
	AXON_NOTICELOG("discovery %s: connected to %s:%s\n", disc->name, disc->trid.traddr,
		       disc->trid.trsvcid);
	disc->state = DISC_RUNNING;
	disc_connected(disc);
	if (!disc->wait_for_attach) {
		disc_start_done(disc, 0);
	}
	disc_set_poller(disc, DISC_POLL_STEADY_US);
	return AXON_POLLER_BUSY;
}

static int disc_poller(void *arg)
{
	struct nvme_discovery *disc = arg;
	bool resetting;
	int32_t rc;

	if (disc->state == DISC_CONNECTING) {
		return disc_poll_connecting(disc);
	}
	rc = axon_nvme_ctrlr_process_admin_completions(disc->ctrlr);
	if (rc == -ENXIO) {
		if (disc->state == DISC_RUNNING) {
			AXON_ERRLOG("discovery %s: discovery controller lost; its controllers stay "
				    "attached\n", disc->name);
			disc->state = DISC_LOST;
			disc_set_poller(disc, DISC_POLL_STEADY_US);
		}
		return AXON_POLLER_IDLE;
	}
	resetting = axon_nvme_ctrlr_is_resetting(disc->ctrlr);
	if (resetting != disc->lib_resetting) {
		disc->lib_resetting = resetting;
		disc_set_poller(disc, resetting ? DISC_POLL_BUSY_US : DISC_POLL_STEADY_US);
		if (!resetting) {
			disc_connected(disc); /* the log may have changed while we were away */
		}
	}
	if (!resetting) {
		disc_keep_alive_poll(disc);
	}
	if (!resetting && disc->log_dirty && !disc->log_reading) {
		disc_read_log(disc);
	}
	return rc > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

int nvme_discovery_start(const struct nvme_discovery_opts *opts, nvme_bdev_done_cb cb,
			 void *cb_arg)
{
	struct nvme_discovery *disc;

	disc = calloc(1, sizeof(*disc));
	if (disc == NULL) {
		return -ENOMEM;
	}
	TAILQ_INIT(&disc->entries);
	disc->name = strdup(opts->name);
	disc->hostnqn = opts->hostnqn != NULL ? strdup(opts->hostnqn) : NULL;
	if (disc->name == NULL || (opts->hostnqn != NULL && disc->hostnqn == NULL)) {
		disc_free(disc);
		return -ENOMEM;
	}
	disc->trid = opts->trid;
	disc->wait_for_attach = opts->wait_for_attach;
	nvme_attach_opts_init(&disc->attach);
	disc->attach.hostnqn = disc->hostnqn;
	disc->attach.ctrlr_loss_timeout_sec = opts->ctrlr_loss_timeout_sec;
	disc->attach.reconnect_delay_sec = opts->reconnect_delay_sec;
	disc->attach.fast_io_fail_timeout_sec = opts->fast_io_fail_timeout_sec;
	axon_nvme_ctrlr_opts_init(&disc->opts);
	disc->opts.keep_alive_timeout_ms = g_nvme_bdev_opts.keep_alive_timeout_ms;
	disc->opts.ctrlr_loss_timeout_sec = opts->ctrlr_loss_timeout_sec;
	disc->opts.reconnect_delay_sec = opts->reconnect_delay_sec;
	if (disc->hostnqn != NULL) {
		snprintf(disc->opts.hostnqn, sizeof(disc->opts.hostnqn), "%s", disc->hostnqn);
	}
	disc->ctrlr = axon_nvme_ctrlr_connect_async(&disc->trid, &disc->opts);
	if (disc->ctrlr == NULL) {
		disc_free(disc);
		return -EINVAL;
	}
	disc->start_cb = cb;
	disc->start_cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&g_discoveries, disc, link);
	disc_set_poller(disc, DISC_POLL_BUSY_US);
	g_nvme_bdev_opts_frozen = true;
	return 0;
}

/* ---- stopping ---------------------------------------------------------------------------------- */

static void disc_stop_continue(struct nvme_discovery *disc)
{
	struct disc_entry *entry, *tmp;
	nvme_bdev_done_cb cb;
	void *cb_arg;

	if (disc->log_reading) {
		return; /* its callback comes back here */
	}
	TAILQ_FOREACH_SAFE(entry, &disc->entries, link, tmp) {
		if (entry->attaching) {
			continue; /* entry_attach_done comes back here */
		}
		if (entry->nctrlr == NULL) {
			entry_free(entry);
			continue;
		}
		if (entry->nctrlr->state != NVME_BDEV_CTRLR_DELETING) {
			/* May complete at once and free the entry (through ctrlr_gone). */
			nvme_bdev_ctrlr_detach(entry->nctrlr, NULL, NULL);
			return;
		}
	}
	if (!TAILQ_EMPTY(&disc->entries)) {
		return;
	}
	TAILQ_REMOVE(&g_discoveries, disc, link);
	AXON_NOTICELOG("discovery %s: stopped\n", disc->name);
	cb = disc->stop_cb;
	cb_arg = disc->stop_cb_arg;
	disc_free(disc);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void disc_stop(struct nvme_discovery *disc, nvme_bdev_done_cb cb, void *cb_arg)
{
	disc->stop_cb = cb;
	disc->stop_cb_arg = cb_arg;
	if (disc->state == DISC_STOPPING) {
		return;
	}
	disc->state = DISC_STOPPING;
	axon_poller_unregister(&disc->poller);
	/* Aborts a log read in progress: its callback sees DISC_STOPPING and
	 * ctrlr_detaching, and leaves the rest to us. */
	disc->ctrlr_detaching = true;
	axon_nvme_ctrlr_detach(disc->ctrlr);
	disc->ctrlr_detaching = false;
	disc->ctrlr = NULL;
	disc->log_reading = false;
	disc_start_done(disc, -ECANCELED);
	disc_stop_continue(disc);
}

int nvme_discovery_stop(const char *name, nvme_bdev_done_cb cb, void *cb_arg)
{
	struct nvme_discovery *disc = disc_find(name);

	if (disc == NULL || disc->state == DISC_STOPPING) {
		return -ENOENT;
	}
	disc_stop(disc, cb, cb_arg);
	return 0;
}

static void (*g_stop_all_cb)(void);

static void stop_all_next(void *cb_arg, int rc)
{
	struct nvme_discovery *disc;

	(void)cb_arg;
	(void)rc;
	TAILQ_FOREACH(disc, &g_discoveries, link) {
		if (disc->state != DISC_STOPPING) {
			disc_stop(disc, stop_all_next, NULL);
			return;
		}
	}
	if (TAILQ_EMPTY(&g_discoveries)) {
		g_stop_all_cb();
	}
}

void nvme_discovery_stop_all(void (*cb)(void))
{
	g_stop_all_cb = cb;
	stop_all_next(NULL, 0);
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

void nvme_discovery_info_json(json_t *array)
{
	struct nvme_discovery *disc;
	struct disc_entry *entry;
	json_t *ctrlrs;

	TAILQ_FOREACH(disc, &g_discoveries, link) {
		ctrlrs = json_array();
		TAILQ_FOREACH(entry, &disc->entries, link) {
			json_array_append_new(ctrlrs, json_pack("{s:s, s:o}", "name",
								entry->ctrlr_name, "trid",
								nvme_trid_to_json(&entry->trid)));
		}
		json_array_append_new(array, json_pack("{s:s, s:o, s:[], s:o}", "name", disc->name,
						       "trid", nvme_trid_to_json(&disc->trid),
						       "referrals", "ctrlrs", ctrlrs));
	}
}

void nvme_discovery_config_json(json_t *array)
{
	struct nvme_discovery *disc;
	json_t *params;

	TAILQ_FOREACH(disc, &g_discoveries, link) {
		if (disc->state == DISC_STOPPING) {
			continue;
		}
		params = nvme_trid_to_json(&disc->trid);
		json_object_del(params, "subnqn");
		json_object_set_new(params, "name", json_string(disc->name));
		if (disc->hostnqn != NULL) {
			json_object_set_new(params, "hostnqn", json_string(disc->hostnqn));
		}
		json_object_set_new(params, "wait_for_attach", json_true());
		json_object_set_new(params, "ctrlr_loss_timeout_sec",
				    json_integer(disc->attach.ctrlr_loss_timeout_sec));
		json_object_set_new(params, "reconnect_delay_sec",
				    json_integer(disc->attach.reconnect_delay_sec));
		json_object_set_new(params, "fast_io_fail_timeout_sec",
				    json_integer(disc->attach.fast_io_fail_timeout_sec));
		json_array_append_new(array, json_pack("{s:s, s:o}", "method",
						       "bdev_nvme_start_discovery", "params",
						       params));
	}
}
