/*
 * The "nvmf" event subsystem: creates the target and one poll group thread
 * per reactor at start, tears them down at stop, and writes the nvmf part of
 * save_config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/event.h"
#include "nvmf_internal.h"
#include "nvmf_rpc_internal.h"

struct axon_nvmf_tgt_opts g_nvmf_tgt_opts = {
	.max_subsystems = AXON_NVMF_DEFAULT_MAX_SUBSYSTEMS,
	.discovery_filter = AXON_NVMF_DISC_FILTER_MATCH_ANY,
};

#define NVMF_MAX_PG_THREADS 128
static struct axon_thread *g_pg_threads[NVMF_MAX_PG_THREADS];
static struct axon_nvmf_poll_group *g_pgs[NVMF_MAX_PG_THREADS];
static uint32_t g_num_pg_threads;
static uint32_t g_pg_pending;
static struct axon_thread *g_app_thread;

/* ---- start ------------------------------------------------------------------------ */

static void pg_created(void *arg)
{
	(void)arg;
	if (--g_pg_pending == 0) {
		AXON_NOTICELOG("nvmf: target started with %u poll groups\n", g_num_pg_threads);
		axon_subsystem_init_next(0);
	}
}

static void pg_create_on_thread(void *arg)
{
	uintptr_t idx = (uintptr_t)arg;

	g_pgs[idx] = axon_nvmf_poll_group_create(axon_nvmf_get_tgt());
	if (g_pgs[idx] == NULL) {
		AXON_ERRLOG("nvmf: poll group %u could not be created\n", (unsigned)idx);
	}
	axon_thread_send_msg(g_app_thread, pg_created, NULL);
}

static void nvmf_subsystem_init(void)
{
	uint32_t cores[NVMF_MAX_PG_THREADS];
	uint32_t n = axon_reactor_get_cores(cores, NVMF_MAX_PG_THREADS);
	struct axon_nvmf_tgt *tgt;

	g_app_thread = axon_get_thread();
	tgt = axon_nvmf_tgt_create(&g_nvmf_tgt_opts);
	if (tgt == NULL) {
		axon_subsystem_init_next(-ENOMEM);
		return;
	}
	nvmf_tgt_set(tgt);
	if (n == 0) {
		n = 1; /* no reactors (tools, tests): one poll group on a thread of its own */
		cores[0] = 0;
	}
	g_num_pg_threads = 0;
	g_pg_pending = n;
	for (uint32_t i = 0; i < n; i++) {
		char name[48];
		struct axon_thread *t;

		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%u", i);
		t = axon_thread_create(name, (int)cores[i]);
		if (t == NULL) {
			AXON_ERRLOG("nvmf: cannot create thread %s\n", name);
			axon_subsystem_init_next(-ENOMEM);
			return;
		}
		g_pg_threads[g_num_pg_threads++] = t;
		if (axon_thread_send_msg(t, pg_create_on_thread, (void *)(uintptr_t)i) != 0) {
			axon_subsystem_init_next(-EIO);
			return;
		}
	}
}

/* ---- stop ---------------------------------------------------------------------------- */

static void fini_threads_exit(void *arg)
{
	(void)arg;
	axon_thread_exit(axon_get_thread());
}

static void fini_tgt_destroyed(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < g_num_pg_threads; i++) {
		axon_thread_send_msg(g_pg_threads[i], fini_threads_exit, NULL);
		g_pg_threads[i] = NULL;
		g_pgs[i] = NULL;
	}
	g_num_pg_threads = 0;
	axon_subsystem_fini_next();
}

static void fini_pg_destroyed(void *arg)
{
	(void)arg;
	if (--g_pg_pending > 0) {
		return;
	}
	axon_nvmf_tgt_destroy(axon_nvmf_get_tgt(), fini_tgt_destroyed, NULL);
}

static void fini_pg_destroyed_msg(void *arg)
{
	axon_thread_send_msg(g_app_thread, fini_pg_destroyed, arg);
}

static void fini_pg_on_thread(void *arg)
{
	struct axon_nvmf_poll_group *group = arg;

	axon_nvmf_poll_group_destroy(group, fini_pg_destroyed_msg, NULL);
}

static void nvmf_subsystem_fini(void)
{
	if (axon_nvmf_get_tgt() == NULL) {
		axon_subsystem_fini_next();
		return;
	}
	g_pg_pending = 1; /* held by us until every destroy was sent */
	for (uint32_t i = 0; i < g_num_pg_threads; i++) {
		if (g_pgs[i] != NULL &&
		    axon_thread_send_msg(g_pg_threads[i], fini_pg_on_thread, g_pgs[i]) == 0) {
			g_pg_pending++;
		}
	}
	fini_pg_destroyed(NULL);
}

/* ---- save_config ------------------------------------------------------------------------- */

static void add_method(json_t *array, const char *method, json_t *params)
{
	json_array_append_new(array, json_pack("{s:s, s:o}", "method", method, "params", params));
}

/* The discovery filter as nvmf_set_config takes it. */
static const char *filter_str(uint32_t f, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{AXON_NVMF_DISC_FILTER_TRTYPE, "transport"},
		{AXON_NVMF_DISC_FILTER_TRADDR, "address"},
		{AXON_NVMF_DISC_FILTER_TRSVCID, "svcid"},
	};

	if (f == AXON_NVMF_DISC_FILTER_MATCH_ANY) {
		return "match_any";
	}
	buf[0] = '\0';
	for (size_t i = 0; i < AXON_COUNTOF(names); i++) {
		if (f & names[i].bit) {
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "," : "",
				 names[i].name);
		}
	}
	return buf;
}

static char *hex_str(const uint8_t *b, size_t n, char *buf)
{
	for (size_t i = 0; i < n; i++) {
		sprintf(buf + 2 * i, "%02X", b[i]);
	}
	buf[2 * n] = '\0';
	return buf;
}

json_t *nvmf_ns_to_json(const struct axon_nvmf_ns *ns, bool for_config)
{
	char uuid[AXON_UUID_STRING_LEN];
	char hex[33];
	json_t *o = json_object();
	bool eui = false;

	for (size_t i = 0; i < sizeof(ns->opts.eui64); i++) {
		eui = eui || ns->opts.eui64[i];
	}
	json_object_set_new(o, "nsid", json_integer(ns->nsid));
	json_object_set_new(o, "bdev_name", json_string(ns->bdev_name));
	if (!for_config) {
		json_object_set_new(o, "name", json_string(ns->bdev_name));
	}
	json_object_set_new(o, "nguid", json_string(hex_str(ns->opts.nguid, 16, hex)));
	axon_uuid_fmt_lower(uuid, sizeof(uuid), &ns->opts.uuid);
	json_object_set_new(o, "uuid", json_string(uuid));
	if (eui) {
		json_object_set_new(o, "eui64", json_string(hex_str(ns->opts.eui64, 8, hex)));
	}
	return o;
}

static void subsystem_config(struct axon_nvmf_subsystem *s, json_t *array)
{
	const struct axon_nvmf_trid *trid;

	if (s->subtype == AXON_NVMF_SUBTYPE_NVME) {
		add_method(array, "nvmf_create_subsystem",
			   json_pack("{s:s, s:b, s:s, s:s, s:I, s:i, s:i, s:b}", "nqn", s->nqn,
				     "allow_any_host", s->allow_any_host, "serial_number", s->sn,
				     "model_number", s->mn, "max_namespaces", (json_int_t)s->max_nsid,
				     "min_cntlid", s->min_cntlid, "max_cntlid", s->max_cntlid,
				     "ana_reporting", 0));
	}
	for (trid = axon_nvmf_subsystem_get_first_listener(s); trid != NULL;
	     trid = axon_nvmf_subsystem_get_next_listener(s, trid)) {
		add_method(array, "nvmf_subsystem_add_listener",
			   json_pack("{s:s, s:o}", "nqn", s->nqn, "listen_address",
				     axon_nvmf_trid_to_json(trid)));
	}
	if (s->subtype != AXON_NVMF_SUBTYPE_NVME) {
		return;
	}
	for (const char *h = axon_nvmf_subsystem_get_first_host(s); h != NULL;
	     h = axon_nvmf_subsystem_get_next_host(s, h)) {
		add_method(array, "nvmf_subsystem_add_host",
			   json_pack("{s:s, s:s}", "nqn", s->nqn, "host", h));
	}
	for (struct axon_nvmf_ns *ns = axon_nvmf_subsystem_get_first_ns(s); ns != NULL;
	     ns = axon_nvmf_subsystem_get_next_ns(s, ns)) {
		add_method(array, "nvmf_subsystem_add_ns",
			   json_pack("{s:s, s:o}", "nqn", s->nqn, "namespace", nvmf_ns_to_json(ns, true)));
	}
}

static json_t *nvmf_subsystem_config_json(void)
{
	struct axon_nvmf_tgt *tgt = axon_nvmf_get_tgt();
	json_t *array = json_array();
	struct axon_nvmf_transport *transport;
	struct axon_nvmf_subsystem *s;
	struct nvmf_referral *r;
	char filter[64];

	add_method(array, "nvmf_set_max_subsystems",
		   json_pack("{s:I}", "max_subsystems", (json_int_t)g_nvmf_tgt_opts.max_subsystems));
	add_method(array, "nvmf_set_config",
		   json_pack("{s:s, s:{s:b}}", "discovery_filter",
			     filter_str(g_nvmf_tgt_opts.discovery_filter, filter, sizeof(filter)), "admin_cmd_passthru",
			     "identify_ctrlr", 0));
	if (tgt == NULL) {
		return array;
	}
	TAILQ_FOREACH(transport, &tgt->transports, link) {
		add_method(array, "nvmf_create_transport", nvmf_transport_opts_json(transport));
	}
	TAILQ_FOREACH(r, &tgt->referrals, link) {
		json_t *p = json_pack("{s:o, s:b}", "address", axon_nvmf_trid_to_json(&r->trid),
				      "secure_channel", r->secure_channel);

		if (strcmp(r->subnqn, AXON_NVMF_DISCOVERY_NQN) != 0) {
			json_object_set_new(p, "subnqn", json_string(r->subnqn));
		}
		add_method(array, "nvmf_discovery_add_referral", p);
	}
	TAILQ_FOREACH(s, &tgt->subsystem_list, link) {
		if (!s->destroying) {
			subsystem_config(s, array);
		}
	}
	return array;
}

static struct axon_subsystem g_nvmf_subsystem = {
	.name = "nvmf",
	.init = nvmf_subsystem_init,
	.fini = nvmf_subsystem_fini,
	.config_json = nvmf_subsystem_config_json,
};
AXON_SUBSYSTEM_REGISTER(g_nvmf_subsystem)
AXON_SUBSYSTEM_DEPEND(nvmf, bdev)
