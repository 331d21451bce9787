/*
 * The discovery service: the discovery log page (what a host may reach, and
 * how), its generation counter, and the Discovery Log Page Change event for
 * persistent discovery controllers.
 *
 * The log is built on the app thread (it reads subsystems, hosts, listeners
 * and referrals, which live there) and copied out on the controller's thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nvmf_internal.h"

#define DISC_LOG_HDR_SIZE 1024u

static bool listener_matches(uint32_t filter, const struct axon_nvmf_trid *l,
			     const struct axon_nvmf_trid *asked)
{
	if (asked == NULL) {
		return true;
	}
	if ((filter & AXON_NVMF_DISC_FILTER_TRTYPE) && strcasecmp(l->trstring, asked->trstring) != 0) {
		return false;
	}
	if ((filter & AXON_NVMF_DISC_FILTER_TRADDR) && strcmp(l->traddr, asked->traddr) != 0) {
		return false;
	}
	if ((filter & AXON_NVMF_DISC_FILTER_TRSVCID) && strcmp(l->trsvcid, asked->trsvcid) != 0) {
		return false;
	}
	return true;
}

/* Port ids follow the order of the target's listens, so one address keeps
 * one id whatever subsystem it is listed under. */
static uint16_t port_id(struct axon_nvmf_tgt *tgt, const struct axon_nvmf_trid *trid)
{
	struct nvmf_tgt_listener *l;
	uint16_t id = 0;

	TAILQ_FOREACH(l, &tgt->listeners, link) {
		if (axon_nvmf_trid_equal(&l->trid, trid)) {
			return id;
		}
		id++;
	}
	return id;
}

static void fill_entry(struct axon_nvmf_tgt *tgt, struct nvmf_disc_log_entry *e,
		       const struct axon_nvmf_trid *trid, uint8_t subtype, const char *subnqn)
{
	struct axon_nvmf_transport *transport = nvmf_tgt_find_transport(tgt, trid->trstring);

	memset(e, 0, sizeof(*e));
	e->trtype = trid->trtype;
	e->adrfam = trid->adrfam;
	e->subtype = subtype;
	e->treq = NVMF_TREQ_NOT_SPECIFIED;
	e->portid = port_id(tgt, trid);
	e->cntlid = AXON_NVMF_CNTLID_DYNAMIC;
	e->asqsz = transport ? (uint16_t)transport->opts.max_aq_depth : 32;
	/* Fixed-size fields, not C strings: the entry is zeroed, so copy the
	 * text only (a full-width value carries no terminator). */
	memcpy(e->trsvcid, trid->trsvcid, strnlen(trid->trsvcid, sizeof(e->trsvcid)));
	memcpy(e->traddr, trid->traddr, strnlen(trid->traddr, sizeof(e->traddr)));
	memcpy(e->subnqn, subnqn, strnlen(subnqn, sizeof(e->subnqn)));
	if (transport != NULL && transport->ops->listener_discover != NULL) {
		transport->ops->listener_discover(transport, trid, e);
	}
}

/* Calls fn for every entry; returns the count. fn may be NULL (counting). */
static uint64_t for_each_entry(struct axon_nvmf_tgt *tgt, const char *hostnqn,
			       const struct axon_nvmf_trid *asked, struct nvmf_disc_log_entry *out)
{
	struct axon_nvmf_subsystem *s;
	struct nvmf_referral *r;
	uint64_t n = 0;

	TAILQ_FOREACH(s, &tgt->subsystem_list, link) {
		struct nvmf_subsystem_listener *l;
		bool disc = s->subtype == AXON_NVMF_SUBTYPE_DISCOVERY;

		if (s->destroying || (!disc && !axon_nvmf_subsystem_host_allowed(s, hostnqn))) {
			continue;
		}
		TAILQ_FOREACH(l, &s->listeners, link) {
			if (!listener_matches(tgt->discovery_filter, &l->trid, asked)) {
				continue;
			}
			if (out != NULL) {
				fill_entry(tgt, &out[n], &l->trid, disc ? NVME_NQN_CURR : NVME_NQN_NVME,
					   s->nqn);
			}
			n++;
		}
	}
	TAILQ_FOREACH(r, &tgt->referrals, link) {
		if (out != NULL) {
			bool disc = strcmp(r->subnqn, AXON_NVMF_DISCOVERY_NQN) == 0;

			fill_entry(tgt, &out[n], &r->trid, disc ? NVME_NQN_DISC : NVME_NQN_NVME,
				   r->subnqn);
			out[n].treq = r->secure_channel ? NVMF_TREQ_REQUIRED : NVMF_TREQ_NOT_REQUIRED;
		}
		n++;
	}
	return n;
}

void *nvmf_discovery_log_build(struct axon_nvmf_tgt *tgt, const char *hostnqn,
			       const struct axon_nvmf_trid *listen_trid, size_t *len)
{
	uint64_t n = for_each_entry(tgt, hostnqn, listen_trid, NULL);
	size_t size = DISC_LOG_HDR_SIZE + n * sizeof(struct nvmf_disc_log_entry);
	struct nvmf_discovery_log *log = calloc(1, size);

	if (log == NULL) {
		return NULL;
	}
	log->genctr = tgt->discovery_genctr;
	log->numrec = n;
	log->recfmt = 0;
	for_each_entry(tgt, hostnqn, listen_trid, log->entries);
	*len = size;
	return log;
}

/* ---- Get Log Page through a discovery controller ------------------------------------ */

struct disc_log_ctx {
	struct axon_nvmf_request *req;
	struct axon_nvmf_ctrlr *ctrlr;
	struct axon_nvmf_tgt *tgt;
	uint64_t offset;
	uint64_t want;
	bool rae;
	uint8_t *page;
	size_t len;
	struct axon_thread *ctrlr_thread;
};

static void disc_log_done(void *arg)
{
	struct disc_log_ctx *ctx = arg;

	if (ctx->page != NULL && !ctx->rae) {
		ctx->ctrlr->disc_aen_masked = false;
	}
	nvmf_log_page_complete(ctx->req, ctx->page, ctx->len, ctx->offset, ctx->want);
	free(ctx);
}

static void disc_log_on_app(void *arg)
{
	struct disc_log_ctx *ctx = arg;

	/* hostnqn and listen_trid never change after Connect: safe to read here. */
	ctx->page = nvmf_discovery_log_build(ctx->tgt, ctx->ctrlr->hostnqn, &ctx->ctrlr->listen_trid,
					     &ctx->len);
	if (axon_thread_send_msg(ctx->ctrlr_thread, disc_log_done, ctx) != 0) {
		AXON_ERRLOG("nvmf: cannot return a discovery log\n");
	}
}

void nvmf_discovery_get_log(struct axon_nvmf_request *req, struct axon_nvmf_ctrlr *ctrlr,
			    uint64_t offset, uint64_t want, bool rae)
{
	struct disc_log_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		nvmf_log_page_complete(req, NULL, 0, offset, want);
		return;
	}
	ctx->req = req;
	ctx->ctrlr = ctrlr;
	ctx->tgt = ctrlr->tgt;
	ctx->offset = offset;
	ctx->want = want;
	ctx->rae = rae;
	ctx->ctrlr_thread = axon_get_thread();
	if (axon_thread_send_msg(ctrlr->tgt->thread, disc_log_on_app, ctx) != 0) {
		free(ctx);
		nvmf_log_page_complete(req, NULL, 0, offset, want);
	}
}

/* ---- change events ---------------------------------------------------------------------- */

static void disc_changed_msg(void *arg)
{
	nvmf_ctrlr_discovery_changed(arg);
}

void nvmf_discovery_notify(struct axon_nvmf_tgt *tgt)
{
	struct axon_nvmf_ctrlr *c;

	if (tgt->discovery == NULL) {
		return;
	}
	TAILQ_FOREACH(c, &tgt->discovery->ctrlrs, link) {
		if (axon_thread_send_msg(c->thread, disc_changed_msg, c) != 0) {
			AXON_ERRLOG("nvmf: discovery controller %u misses a change event\n", c->cntlid);
		}
	}
}
