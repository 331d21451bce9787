/*
 * The target: subsystems table, transports, shared listens, referrals and
 * the discovery generation counter. App thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nvmf_internal.h"

AXON_LOG_REGISTER_COMPONENT(nvmf)

static struct axon_nvmf_tgt *g_tgt;

struct axon_nvmf_tgt *axon_nvmf_get_tgt(void)
{
	return g_tgt;
}

void nvmf_tgt_set(struct axon_nvmf_tgt *tgt)
{
	g_tgt = tgt;
}

/* ---- transport ids ------------------------------------------------------------ */

bool axon_nvmf_trid_equal(const struct axon_nvmf_trid *a, const struct axon_nvmf_trid *b)
{
	return strcasecmp(a->trstring, b->trstring) == 0 && a->adrfam == b->adrfam &&
	       strcmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

static const struct {
	const char *name;
	uint8_t value;
} g_adrfams[] = {
	{"IPv4", NVMF_ADDR_FAMILY_IP4},
	{"IPv6", NVMF_ADDR_FAMILY_IP6},
	{"IB", NVMF_ADDR_FAMILY_IB},
	{"FC", NVMF_ADDR_FAMILY_FC},
};

int axon_nvmf_adrfam_parse(const char *str, uint8_t *adrfam)
{
	for (size_t i = 0; str != NULL && i < AXON_COUNTOF(g_adrfams); i++) {
		if (strcasecmp(str, g_adrfams[i].name) == 0) {
			*adrfam = g_adrfams[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

const char *axon_nvmf_adrfam_str(uint8_t adrfam)
{
	for (size_t i = 0; i < AXON_COUNTOF(g_adrfams); i++) {
		if (g_adrfams[i].value == adrfam) {
			return g_adrfams[i].name;
		}
	}
	return "unknown";
}

json_t *axon_nvmf_trid_to_json(const struct axon_nvmf_trid *trid)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "trtype", trid->trstring, "adrfam",
			 axon_nvmf_adrfam_str(trid->adrfam), "traddr", trid->traddr, "trsvcid",
			 trid->trsvcid);
}

/* ---- target --------------------------------------------------------------------- */

struct axon_nvmf_tgt *axon_nvmf_tgt_create(const struct axon_nvmf_tgt_opts *opts)
{
	struct axon_nvmf_tgt *tgt;
	int rc;

	if (opts == NULL || opts->max_subsystems == 0) {
		AXON_ERRLOG("nvmf: max_subsystems must be at least 1\n");
		return NULL;
	}
	tgt = calloc(1, sizeof(*tgt));
	if (tgt == NULL) {
		AXON_ERRLOG("nvmf: out of memory creating the target\n");
		return NULL;
	}
	tgt->max_subsystems = opts->max_subsystems;
	tgt->discovery_filter = opts->discovery_filter;
	tgt->thread = axon_get_thread();
	tgt->discovery_genctr = 1;
	TAILQ_INIT(&tgt->subsystem_list);
	TAILQ_INIT(&tgt->transports);
	TAILQ_INIT(&tgt->listeners);
	TAILQ_INIT(&tgt->referrals);
	TAILQ_INIT(&tgt->poll_groups);
	tgt->subsystems = calloc(opts->max_subsystems, sizeof(*tgt->subsystems));
	if (tgt->subsystems == NULL) {
		AXON_ERRLOG("nvmf: out of memory creating the target\n");
		goto err_tgt;
	}
	tgt->discovery = axon_nvmf_subsystem_create(tgt, AXON_NVMF_DISCOVERY_NQN,
						    AXON_NVMF_SUBTYPE_DISCOVERY, 0, &rc);
	if (tgt->discovery == NULL) {
		AXON_ERRLOG("nvmf: cannot create the discovery subsystem: %d\n", rc);
		goto err_subsystems;
	}
	/* The discovery subsystem has no namespaces: it is active from the start. */
	tgt->discovery->state = AXON_NVMF_SUBSYSTEM_ACTIVE;
	tgt->discovery->allow_any_host = true;
	nvmf_tgt_register_io_device(tgt);
	return tgt;

err_subsystems:
	free(tgt->subsystems);
err_tgt:
	free(tgt);
	return NULL;
}

uint32_t axon_nvmf_tgt_get_poll_group_count(const struct axon_nvmf_tgt *tgt)
{
	return tgt->num_poll_groups;
}

/* Destroy: subsystems one by one, then transports one by one, then the device. */
struct tgt_destroy_ctx {
	struct axon_nvmf_tgt *tgt;
	void (*cb)(void *cb_arg);
	void *cb_arg;
};

static void tgt_destroy_step(void *arg);

static void tgt_destroy_unregistered(void *io_device)
{
	(void)io_device;
}

static void tgt_destroy_step(void *arg)
{
	struct tgt_destroy_ctx *ctx = arg;
	struct axon_nvmf_tgt *tgt = ctx->tgt;
	struct axon_nvmf_subsystem *s;
	struct axon_nvmf_transport *transport;
	struct nvmf_tgt_listener *l;
	struct nvmf_referral *r;

	TAILQ_FOREACH(s, &tgt->subsystem_list, link) {
		if (!s->destroying) {
			nvmf_subsystem_destroy_internal(s, tgt_destroy_step, ctx);
			return; /* called back once it is gone */
		}
	}
	if (!TAILQ_EMPTY(&tgt->subsystem_list)) {
		/* Someone else's destroy (an RPC) still runs: look again shortly. */
		if (axon_thread_send_msg(axon_get_thread(), tgt_destroy_step, ctx) != 0) {
			AXON_ERRLOG("nvmf: cannot continue destroying the target\n");
		}
		return;
	}
	while ((l = TAILQ_FIRST(&tgt->listeners)) != NULL) {
		TAILQ_REMOVE(&tgt->listeners, l, link);
		l->transport->ops->stop_listen(l->transport, &l->trid);
		free(l);
	}
	transport = TAILQ_FIRST(&tgt->transports);
	if (transport != NULL) {
		nvmf_transport_destroy(transport, tgt_destroy_step, ctx);
		return;
	}
	while ((r = TAILQ_FIRST(&tgt->referrals)) != NULL) {
		TAILQ_REMOVE(&tgt->referrals, r, link);
		free(r);
	}
	axon_io_device_unregister(tgt, tgt_destroy_unregistered);
	free(tgt->subsystems);
	if (g_tgt == tgt) {
		g_tgt = NULL;
	}
	free(tgt);
	if (ctx->cb != NULL) {
		ctx->cb(ctx->cb_arg);
	}
	free(ctx);
}

void axon_nvmf_tgt_destroy(struct axon_nvmf_tgt *tgt, void (*cb)(void *cb_arg), void *cb_arg)
{
	struct tgt_destroy_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		AXON_ERRLOG("nvmf: out of memory destroying the target\n");
		return;
	}
	tgt->destroying = true;
	ctx->tgt = tgt;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	tgt_destroy_step(ctx);
}

struct axon_nvmf_transport *nvmf_tgt_find_transport(struct axon_nvmf_tgt *tgt, const char *name)
{
	struct axon_nvmf_transport *transport;

	TAILQ_FOREACH(transport, &tgt->transports, link) {
		if (strcasecmp(transport->ops->name, name) == 0) {
			return transport;
		}
	}
	return NULL;
}

/* ---- shared listens ---------------------------------------------------------------- */

static struct nvmf_tgt_listener *tgt_find_listener(struct axon_nvmf_tgt *tgt,
						   const struct axon_nvmf_trid *trid)
{
	struct nvmf_tgt_listener *l;

	TAILQ_FOREACH(l, &tgt->listeners, link) {
		if (axon_nvmf_trid_equal(&l->trid, trid)) {
			return l;
		}
	}
	return NULL;
}

bool nvmf_tgt_is_listening(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid)
{
	return tgt_find_listener(tgt, trid) != NULL;
}

int nvmf_tgt_listen(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid)
{
	struct nvmf_tgt_listener *l = tgt_find_listener(tgt, trid);
	struct axon_nvmf_transport *transport;
	int rc;

	if (l != NULL) {
		l->refcnt++;
		return 0;
	}
	transport = nvmf_tgt_find_transport(tgt, trid->trstring);
	if (transport == NULL) {
		return -ENODEV;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	rc = transport->ops->listen(transport, trid);
	if (rc != 0) {
		free(l);
		return rc;
	}
	l->trid = *trid;
	l->transport = transport;
	l->refcnt = 1;
	TAILQ_INSERT_TAIL(&tgt->listeners, l, link);
	return 0;
}

void nvmf_tgt_stop_listen(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid)
{
	struct nvmf_tgt_listener *l = tgt_find_listener(tgt, trid);

	if (l == NULL || --l->refcnt > 0) {
		return;
	}
	TAILQ_REMOVE(&tgt->listeners, l, link);
	l->transport->ops->stop_listen(l->transport, &l->trid);
	free(l);
}

/* ---- referrals and the generation counter ----------------------------------------------- */

void nvmf_tgt_genctr_bump(struct axon_nvmf_tgt *tgt)
{
	tgt->discovery_genctr++;
	nvmf_discovery_notify(tgt);
}

uint64_t axon_nvmf_tgt_get_discovery_genctr(const struct axon_nvmf_tgt *tgt)
{
	return tgt->discovery_genctr;
}

static struct nvmf_referral *tgt_find_referral(struct axon_nvmf_tgt *tgt,
					       const struct axon_nvmf_trid *trid, const char *subnqn)
{
	struct nvmf_referral *r;

	TAILQ_FOREACH(r, &tgt->referrals, link) {
		if (axon_nvmf_trid_equal(&r->trid, trid) && strcmp(r->subnqn, subnqn) == 0) {
			return r;
		}
	}
	return NULL;
}

int axon_nvmf_tgt_add_referral(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid,
			       const char *subnqn, bool secure_channel)
{
	struct nvmf_referral *r;

	if (subnqn == NULL) {
		subnqn = AXON_NVMF_DISCOVERY_NQN;
	}
	if (!axon_nvmf_nqn_is_valid(subnqn)) {
		return -EINVAL;
	}
	if (tgt_find_referral(tgt, trid, subnqn) != NULL) {
		return -EEXIST;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->trid = *trid;
	axon_strscpy(r->subnqn, subnqn, sizeof(r->subnqn));
	r->secure_channel = secure_channel;
	TAILQ_INSERT_TAIL(&tgt->referrals, r, link);
	nvmf_tgt_genctr_bump(tgt);
	return 0;
}

int axon_nvmf_tgt_remove_referral(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid,
				  const char *subnqn)
{
	struct nvmf_referral *r;

	r = tgt_find_referral(tgt, trid, subnqn ? subnqn : AXON_NVMF_DISCOVERY_NQN);
	if (r == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&tgt->referrals, r, link);
	free(r);
	nvmf_tgt_genctr_bump(tgt);
	return 0;
}
