/*
 * lib/nvme tests: transport ID parsing, the controller init state machine
 * against a simulated controller (a fake transport with registers and
 * admin commands; failure injected at every step; timeouts), the fabrics
 * path (Connect, Property Get / Set), the discovery log read with the
 * generation counter changing mid-read, and I/O submission checks.
 *
 * The clock and the host identity (lib/nvme/nvme.c) are replaced here.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/nvme/ctrlr.c"
#include "lib/nvme/ctrlr_cmd.c"
#include "lib/nvme/fabrics.c"
#include "lib/nvme/ns_cmd.c"
#include "lib/nvme/poll_group.c"
#include "lib/nvme/qpair.c"
#include "lib/nvme/reset.c"
#include "lib/nvme/transport.c"
#include "lib/nvme/trid.c"

AXON_LOG_REGISTER_COMPONENT(nvme)

/* ---- replaced clock and identity ----------------------------------------------- */

static uint64_t g_now = 1000000;

uint64_t nvme_now_us(void)
{
	return g_now;
}

int nvme_fill_host_identity(struct axon_nvme_ctrlr_opts *opts)
{
	if (opts->hostnqn[0] == '\0') {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:ut");
	}
	opts->hostid[0] = 0x42;
	return 0;
}

/* ---- the simulated controller ------------------------------------------------------- */

#define SIM_MAX_PENDING 64
#define SIM_NUM_NS 2
#define SIM_DISC_MAX 8

/* Which operation of the controller fails (one per init step). */
enum sim_fail {
	SIM_FAIL_NONE,
	SIM_FAIL_CONNECT,
	SIM_FAIL_READ_VS,
	SIM_FAIL_READ_CAP,
	SIM_FAIL_READ_CC,
	SIM_FAIL_WRITE_CC_DISABLE,
	SIM_FAIL_READ_CSTS_0,
	SIM_FAIL_ADMINQ,
	SIM_FAIL_WRITE_CC_ENABLE,
	SIM_FAIL_CFS_AFTER_ENABLE,
	SIM_FAIL_IDENTIFY_CTRLR,
	SIM_FAIL_NUM_QUEUES,
	SIM_FAIL_AER_CONFIG,
	SIM_FAIL_KATO,
	SIM_FAIL_NS_LIST,
	SIM_FAIL_IDENTIFY_NS,
	/* not failures of one step */
	SIM_HANG_READY,    /* CSTS.RDY never rises */
	SIM_HANG_IDENTIFY, /* Identify Controller never completes */
};

struct sim_qpair {
	struct axon_nvme_qpair qpair;
	struct axon_nvme_request *pending[SIM_MAX_PENDING];
	int num_pending;
};

static struct {
	bool fabrics;
	enum sim_fail fail;
	union axon_nvme_cc cc;
	union axon_nvme_csts csts;
	uint64_t ready_at_us; /* CSTS.RDY follows CC.EN at this time */
	int aers_held;
	struct axon_nvme_request *aer[8];
	uint16_t cntlid;
	uint32_t connects;
	uint32_t prop_gets;
	uint32_t prop_sets;
	char last_connect_subnqn[256];
	char last_connect_hostnqn[256];
	/* discovery */
	bool discovery;
	uint64_t genctr;
	uint64_t numrec;
	uint32_t disc_reads;    /* Get Log Pages seen */
	uint32_t change_at_read; /* bump genctr (and add an entry) after this read; 0 never */
	bool always_change;
	uint64_t claim_numrec;   /* if non-zero, the header claims this many */
	uint32_t ns_removed;     /* nsid no longer active (0: none) */
	bool host_enabled;       /* the host wrote CC.EN = 1 */
} g_sim;

static struct sim_qpair *to_sim(struct axon_nvme_qpair *qpair)
{
	return AXON_CONTAINEROF(qpair, struct sim_qpair, qpair);
}

static void sim_reset(void)
{
	memset(&g_sim, 0, sizeof(g_sim));
	/* Start enabled and ready, so init must disable first. */
	g_sim.cc.bits.en = 1;
	g_sim.csts.bits.rdy = 1;
	g_sim.cntlid = 7;
}

static void sim_update_ready(void)
{
	if (g_sim.fail == SIM_HANG_READY && g_sim.cc.bits.en) {
		return;
	}
	if (g_now >= g_sim.ready_at_us) {
		g_sim.csts.bits.rdy = g_sim.cc.bits.en;
	}
	if (g_sim.fail == SIM_FAIL_CFS_AFTER_ENABLE && g_sim.host_enabled) {
		g_sim.csts.bits.cfs = 1;
	}
}

static int sim_get_reg(uint32_t offset, uint64_t *value)
{
	union axon_nvme_cap cap = {.raw = 0};
	union axon_nvme_vs vs = {.raw = 0};

	sim_update_ready();
	switch (offset) {
	case AXON_NVME_PROP_VS:
		if (g_sim.fail == SIM_FAIL_READ_VS) {
			return -EIO;
		}
		vs.bits.mjr = 1;
		vs.bits.mnr = 4;
		*value = vs.raw;
		return 0;
	case AXON_NVME_PROP_CAP:
		if (g_sim.fail == SIM_FAIL_READ_CAP) {
			return -EIO;
		}
		cap.bits.mqes = 127;
		cap.bits.to = 2; /* 1 s */
		cap.bits.css = 1;
		*value = cap.raw;
		return 0;
	case AXON_NVME_PROP_CC:
		if (g_sim.fail == SIM_FAIL_READ_CC) {
			return -EIO;
		}
		*value = g_sim.cc.raw;
		return 0;
	case AXON_NVME_PROP_CSTS:
		if (g_sim.fail == SIM_FAIL_READ_CSTS_0 && !g_sim.cc.bits.en) {
			return -EIO;
		}
		*value = g_sim.csts.raw;
		return 0;
	default:
		return -EINVAL;
	}
}

static int sim_set_reg(uint32_t offset, uint64_t value)
{
	union axon_nvme_cc cc = {.raw = (uint32_t)value};

	if (offset != AXON_NVME_PROP_CC) {
		return -EINVAL;
	}
	if ((g_sim.fail == SIM_FAIL_WRITE_CC_DISABLE && !cc.bits.en) ||
	    (g_sim.fail == SIM_FAIL_WRITE_CC_ENABLE && cc.bits.en)) {
		return -EIO;
	}
	if (cc.bits.en && (cc.bits.iosqes != 6 || cc.bits.iocqes != 4)) {
		return -EINVAL;
	}
	g_sim.cc = cc;
	g_sim.host_enabled = cc.bits.en;
	g_sim.ready_at_us = g_now + 3000; /* RDY follows 3 ms later */
	return 0;
}

static int sim_get_reg_4(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t *value)
{
	uint64_t v;
	int rc = sim_get_reg(offset, &v);

	*value = (uint32_t)v;
	return rc;
}

static int sim_get_reg_8(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t *value)
{
	return sim_get_reg(offset, value);
}

static int sim_set_reg_4(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value)
{
	return sim_set_reg(offset, value);
}

static int sim_set_reg_8(struct axon_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value)
{
	return sim_set_reg(offset, value);
}

static int sim_enable_adminq(struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *adminq)
{
	return g_sim.fail == SIM_FAIL_ADMINQ ? -EIO : 0;
}

static int sim_ctrlr_construct(struct axon_nvme_ctrlr *ctrlr, void **tctx)
{
	*tctx = NULL;
	return 0;
}

static void sim_ctrlr_destruct(struct axon_nvme_ctrlr *ctrlr, void *tctx)
{
}

static uint32_t sim_max_xfer(struct axon_nvme_ctrlr *ctrlr)
{
	return 128 * 1024;
}

static struct axon_nvme_qpair *sim_qpair_create(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
						uint32_t depth)
{
	struct sim_qpair *sq = calloc(1, sizeof(*sq));

	return sq != NULL ? &sq->qpair : NULL;
}

static void sim_complete_all(struct axon_nvme_qpair *qpair, uint16_t status);

static void sim_qpair_destroy(struct axon_nvme_qpair *qpair)
{
	free(to_sim(qpair));
}

static int sim_qpair_connect(struct axon_nvme_qpair *qpair)
{
	if (g_sim.fail == SIM_FAIL_CONNECT) {
		return -ECONNREFUSED;
	}
	qpair->state = AXON_NVME_QPAIR_TRANSPORT_READY;
	return 0;
}

static void sim_qpair_disconnect(struct axon_nvme_qpair *qpair)
{
	sim_complete_all(qpair, AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
	g_sim.aers_held = 0;
	qpair->state = AXON_NVME_QPAIR_DISCONNECTED;
}

static int sim_qpair_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req)
{
	struct sim_qpair *sq = to_sim(qpair);

	if (sq->num_pending == SIM_MAX_PENDING) {
		return -EAGAIN;
	}
	req->cmd.cid = (uint16_t)(100 + sq->num_pending);
	sq->pending[sq->num_pending++] = req;
	return 0;
}

static void sim_fill_ns(struct nvme_id_ns *ns, uint32_t nsid)
{
	memset(ns, 0, sizeof(*ns));
	ns->nsze = 1000 * nsid;
	ns->ncap = ns->nsze;
	ns->nlbaf = 0;
	ns->flbas = 0;
	ns->lbaf[0].ds = 9;
}

static void sim_fill_disc(struct axon_nvme_request *req, uint64_t offset)
{
	uint8_t image[1024 * (SIM_DISC_MAX + 1)];
	struct nvmf_discovery_log *log = (void *)image;
	uint32_t len = req->payload_size, i;

	memset(image, 0, sizeof(image));
	log->genctr = g_sim.genctr;
	log->numrec = g_sim.claim_numrec != 0 ? g_sim.claim_numrec : g_sim.numrec;
	for (i = 0; i < g_sim.numrec && i < SIM_DISC_MAX; i++) {
		log->entries[i].trtype = NVMF_TRTYPE_TCP;
		log->entries[i].adrfam = NVMF_ADDR_FAMILY_IP4;
		log->entries[i].subtype = NVME_NQN_NVME;
		snprintf(log->entries[i].trsvcid, sizeof(log->entries[i].trsvcid), "4420");
		snprintf(log->entries[i].traddr, sizeof(log->entries[i].traddr), "10.0.0.%u", i + 1);
		snprintf(log->entries[i].subnqn, sizeof(log->entries[i].subnqn),
			 "nqn.2024-01.io.axon:gen%llu-%u", (unsigned long long)g_sim.genctr, i);
	}
	if (offset + len > sizeof(image)) {
		len = offset < sizeof(image) ? (uint32_t)(sizeof(image) - offset) : 0;
	}
	memcpy(req->iov[0].iov_base, image + offset, len);
	g_sim.disc_reads++;
	if (g_sim.always_change || (g_sim.change_at_read != 0 &&
				    g_sim.disc_reads == g_sim.change_at_read)) {
		g_sim.genctr++;
		if (g_sim.numrec < SIM_DISC_MAX) {
			g_sim.numrec++;
		}
	}
}

/* Execute one command; returns false to leave it pending (AERs, hangs). */
static bool sim_exec(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req,
		     struct axon_nvme_cpl *cpl)
{
	const union axon_nvmf_sqe *sqe = (const void *)&req->cmd;
	const struct axon_nvmf_connect_data *cd;
	uint32_t cns = req->cmd.cdw10 & 0xff, *list, nsid, fid = req->cmd.cdw10 & 0xff;
	struct nvme_id_ctrl *cdata;
	uint64_t v;
	int i = 0;

	memset(cpl, 0, sizeof(*cpl));
	cpl->cid = req->cmd.cid;
	switch (req->cmd.opc) {
	case AXON_NVMF_FABRIC_OPCODE:
		if (sqe->fabric.fctype == AXON_NVMF_FCTYPE_CONNECT) {
			cd = req->iov[0].iov_base;
			g_sim.connects++;
			snprintf(g_sim.last_connect_subnqn, 256, "%s", cd->subnqn);
			snprintf(g_sim.last_connect_hostnqn, 256, "%s", cd->hostnqn);
			if (g_sim.fail == SIM_FAIL_CONNECT || req->payload_size != 1024 ||
			    sqe->connect.qid != qpair->id) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(1, 0x80));
				return true;
			}
			cpl->cdw0 = g_sim.cntlid;
		} else if (sqe->fabric.fctype == AXON_NVMF_FCTYPE_PROPERTY_GET) {
			g_sim.prop_gets++;
			if (sim_get_reg(sqe->prop_get.ofst, &v) != 0) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x02));
			}
			cpl->cdw0 = (uint32_t)v;
			cpl->cdw1 = (uint32_t)(v >> 32);
		} else if (sqe->fabric.fctype == AXON_NVMF_FCTYPE_PROPERTY_SET) {
			g_sim.prop_sets++;
			if (sim_set_reg(sqe->prop_set.ofst, sqe->prop_set.value) != 0) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x02));
			}
		}
		return true;
	case nvme_admin_identify:
		if (cns == NVME_IDENTIFY_CNS_CTRL) {
			if (g_sim.fail == SIM_HANG_IDENTIFY) {
				return false;
			}
			if (g_sim.fail == SIM_FAIL_IDENTIFY_CTRLR) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x02));
				return true;
			}
			cdata = req->iov[0].iov_base;
			memset(cdata, 0, sizeof(*cdata));
			memcpy(cdata->mn, "Axon simulated ctrlr                    ", 40);
			cdata->nn = 16;
			cdata->aerl = 3;
			cdata->mdts = 4; /* 64 KiB */
			cdata->oaes = 0x100;
			cdata->kas = 1;
			cdata->ioccsz = 4;
			cdata->cntrltype = g_sim.discovery ? NVME_CTRL_CNTRLTYPE_DISCOVERY : 1;
		} else if (cns == NVME_IDENTIFY_CNS_NS_ACTIVE_LIST) {
			if (g_sim.fail == SIM_FAIL_NS_LIST) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x02));
				return true;
			}
			list = req->iov[0].iov_base;
			memset(list, 0, 4096);
			for (nsid = 1; nsid <= SIM_NUM_NS; nsid++) {
				if (nsid > req->cmd.nsid && nsid != g_sim.ns_removed) {
					list[i++] = nsid;
				}
			}
		} else if (cns == NVME_IDENTIFY_CNS_NS) {
			if (g_sim.fail == SIM_FAIL_IDENTIFY_NS) {
				axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x0b));
				return true;
			}
			sim_fill_ns(req->iov[0].iov_base, req->cmd.nsid);
		}
		return true;
	case nvme_admin_set_features:
		if ((fid == NVME_FEAT_FID_NUM_QUEUES && g_sim.fail == SIM_FAIL_NUM_QUEUES) ||
		    (fid == NVME_FEAT_FID_ASYNC_EVENT && g_sim.fail == SIM_FAIL_AER_CONFIG) ||
		    (fid == NVME_FEAT_FID_KATO && g_sim.fail == SIM_FAIL_KATO)) {
			axon_nvme_cpl_set_status(cpl, AXON_NVME_STATUS(0, 0x02));
			return true;
		}
		if (fid == NVME_FEAT_FID_NUM_QUEUES) {
			cpl->cdw0 = (3u << 16) | 3u; /* 4 queues each way */
		}
		return true;
	case nvme_admin_async_event:
		g_sim.aer[g_sim.aers_held++] = req;
		return false;
	case nvme_admin_get_log_page:
		if ((req->cmd.cdw10 & 0xff) == NVME_LOG_LID_DISCOVER) {
			sim_fill_disc(req, req->cmd.cdw12 | ((uint64_t)req->cmd.cdw13 << 32));
		}
		return true;
	default:
		return true;
	}
}

static void sim_complete_all(struct axon_nvme_qpair *qpair, uint16_t status)
{
	struct sim_qpair *sq = to_sim(qpair);
	struct axon_nvme_cpl cpl;
	struct axon_nvme_request *req;

	while (sq->num_pending > 0) {
		req = sq->pending[--sq->num_pending];
		nvme_cpl_init(&cpl, req->cmd.cid, qpair->id, status);
		axon_nvme_qpair_complete_request(qpair, req, &cpl);
	}
}

static int32_t sim_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max)
{
	struct sim_qpair *sq = to_sim(qpair);
	struct axon_nvme_request *batch[SIM_MAX_PENDING], *keep[SIM_MAX_PENDING];
	struct axon_nvme_cpl cpl;
	int n = sq->num_pending, i, nkeep = 0, done = 0;

	g_now += 100; /* time passes with every poll */
	memcpy(batch, sq->pending, sizeof(batch[0]) * (size_t)n);
	sq->num_pending = 0;
	for (i = 0; i < n; i++) {
		if (!sim_exec(qpair, batch[i], &cpl)) {
			if (batch[i]->cmd.opc != nvme_admin_async_event) {
				keep[nkeep++] = batch[i];
			}
			continue;
		}
		axon_nvme_qpair_complete_request(qpair, batch[i], &cpl);
		done++;
	}
	for (i = 0; i < nkeep; i++) {
		sq->pending[sq->num_pending++] = keep[i];
	}
	return done;
}

static void sim_fail_aers(struct axon_nvme_qpair *qpair)
{
	struct axon_nvme_cpl cpl;

	while (g_sim.aers_held > 0) {
		struct axon_nvme_request *req = g_sim.aer[--g_sim.aers_held];

		nvme_cpl_init(&cpl, req->cmd.cid, 0,
			      AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
		axon_nvme_qpair_complete_request(qpair, req, &cpl);
	}
}

static const struct axon_nvme_transport_ops g_sim_pcie_ops = {
	.name = "SIMPCIE",
	.trtype = AXON_NVME_TRTYPE_PCIE,
	.fabrics = false,
	.ctrlr_construct = sim_ctrlr_construct,
	.ctrlr_destruct = sim_ctrlr_destruct,
	.ctrlr_get_reg_4 = sim_get_reg_4,
	.ctrlr_get_reg_8 = sim_get_reg_8,
	.ctrlr_set_reg_4 = sim_set_reg_4,
	.ctrlr_set_reg_8 = sim_set_reg_8,
	.ctrlr_enable_adminq = sim_enable_adminq,
	.ctrlr_get_max_xfer_size = sim_max_xfer,
	.qpair_create = sim_qpair_create,
	.qpair_destroy = sim_qpair_destroy,
	.qpair_connect = sim_qpair_connect,
	.qpair_disconnect = sim_qpair_disconnect,
	.qpair_submit = sim_qpair_submit,
	.qpair_process_completions = sim_qpair_process_completions,
};

static const struct axon_nvme_transport_ops g_sim_fabrics_ops = {
	.name = "SIMFABRICS",
	.trtype = AXON_NVME_TRTYPE_TCP,
	.fabrics = true,
	.ctrlr_construct = sim_ctrlr_construct,
	.ctrlr_destruct = sim_ctrlr_destruct,
	.ctrlr_get_max_xfer_size = sim_max_xfer,
	.qpair_create = sim_qpair_create,
	.qpair_destroy = sim_qpair_destroy,
	.qpair_connect = sim_qpair_connect,
	.qpair_disconnect = sim_qpair_disconnect,
	.qpair_submit = sim_qpair_submit,
	.qpair_process_completions = sim_qpair_process_completions,
};

AXON_NVME_TRANSPORT_REGISTER(simpcie, &g_sim_pcie_ops)
AXON_NVME_TRANSPORT_REGISTER(simfabrics, &g_sim_fabrics_ops)

static void sim_trid(struct axon_nvme_trid *trid, const char *name, const char *subnqn)
{
	memset(trid, 0, sizeof(*trid));
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", name);
	trid->adrfam = AXON_NVME_ADRFAM_IPV4;
	snprintf(trid->traddr, sizeof(trid->traddr), "sim");
	snprintf(trid->subnqn, sizeof(trid->subnqn), "%s", subnqn);
}

/* Run connect_poll until done; returns its result. */
static int run_init(struct axon_nvme_ctrlr *ctrlr)
{
	int rc, polls = 0;

	do {
		rc = axon_nvme_ctrlr_connect_poll(ctrlr);
		g_now += 100;
	} while (rc == -EAGAIN && ++polls < 1000000);
	return rc;
}

static void detach(struct axon_nvme_ctrlr *ctrlr)
{
	sim_fail_aers(ctrlr->adminq);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_detach(ctrlr), 0);
}

/* ---- TRID parsing ---------------------------------------------------------------------- */

static void test_trid_every_key(void)
{
	struct axon_nvme_trid trid;
	char err[256] = "";
	int rc;

	rc = axon_nvme_trid_parse(&trid,
				  "trtype:TCP adrfam:IPv4 traddr:10.0.0.1 trsvcid:4421 "
				  "subnqn:nqn.2016-06.io.spdk:cnode1 hostnqn:nqn.2014-08.org:host "
				  "hostid:0ad7b4fa-1c3b-4e8f-9c2d-4a3c5d6e7f80 ns:3",
				  err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(trid.trtype, AXON_NVME_TRTYPE_TCP);
	CU_ASSERT_STRING_EQUAL(trid.trstring, "TCP");
	CU_ASSERT_EQUAL(trid.adrfam, AXON_NVME_ADRFAM_IPV4);
	CU_ASSERT_STRING_EQUAL(trid.traddr, "10.0.0.1");
	CU_ASSERT_STRING_EQUAL(trid.trsvcid, "4421");
	CU_ASSERT_STRING_EQUAL(trid.subnqn, "nqn.2016-06.io.spdk:cnode1");
	CU_ASSERT_STRING_EQUAL(trid.hostnqn, "nqn.2014-08.org:host");
	CU_ASSERT_STRING_EQUAL(trid.hostid, "0ad7b4fa-1c3b-4e8f-9c2d-4a3c5d6e7f80");
	CU_ASSERT_EQUAL(trid.nsid, 3);

	/* PCIe: the address keeps its colons; '=' works as separator too. */
	rc = axon_nvme_trid_parse(&trid, "  trtype=PCIe\ttraddr:0000:00:04.0  ", err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(trid.trtype, AXON_NVME_TRTYPE_PCIE);
	CU_ASSERT_STRING_EQUAL(trid.traddr, "0000:00:04.0");
	CU_ASSERT_STRING_EQUAL(trid.trsvcid, "");

	/* Defaults: port 4420, discovery NQN, IPv6 from the address. */
	rc = axon_nvme_trid_parse(&trid, "trtype:RDMA traddr:fe80::1", err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(trid.adrfam, AXON_NVME_ADRFAM_IPV6);
	CU_ASSERT_STRING_EQUAL(trid.trsvcid, "4420");
	CU_ASSERT_STRING_EQUAL(trid.subnqn, AXON_NVME_DISCOVERY_NQN);
}

static void test_trid_case_insensitive(void)
{
	static const char *const forms[] = {
		"trtype:tcp adrfam:ipv4 traddr:1.2.3.4",
		"TRTYPE:Tcp ADRFAM:IPV4 TRADDR:1.2.3.4",
		"trType:tCp adrFam:iPv4 trAddr:1.2.3.4",
	};
	struct axon_nvme_trid trid;
	size_t i;

	for (i = 0; i < AXON_COUNTOF(forms); i++) {
		CU_ASSERT_EQUAL_FATAL(axon_nvme_trid_parse(&trid, forms[i], NULL, 0), 0);
		CU_ASSERT_EQUAL(trid.trtype, AXON_NVME_TRTYPE_TCP);
		CU_ASSERT_STRING_EQUAL(trid.trstring, "TCP");
		CU_ASSERT_EQUAL(trid.adrfam, AXON_NVME_ADRFAM_IPV4);
	}
	CU_ASSERT_EQUAL(axon_nvme_trid_parse(&trid, "trtype:pcie traddr:0000:01:00.0", NULL, 0), 0);
	CU_ASSERT_STRING_EQUAL(trid.trstring, "PCIe");
	CU_ASSERT_EQUAL(axon_nvme_trid_parse(&trid, "trtype:RdMa adrfam:IPV6 traddr:::1", NULL, 0),
			0);
	CU_ASSERT_EQUAL(trid.adrfam, AXON_NVME_ADRFAM_IPV6);
}

/* Every bad input fails and its message names the key at fault. */
static void test_trid_errors_name_key(void)
{
	static const struct {
		const char *str;
		const char *key;
	} bad[] = {
		{"trtype:FC9 traddr:1.2.3.4", "trtype"},
		{"trtype:TCP adrfam:IPv5 traddr:1.2.3.4", "adrfam"},
		{"trtype:TCP traddr:", "traddr"},
		{"trtype:TCP traddr:1.2.3.4 trsvcid:", "trsvcid"},
		{"trtype:TCP traddr:1.2.3.4 subnqn:foo", "subnqn"},
		{"trtype:TCP traddr:1.2.3.4 hostnqn:bar", "hostnqn"},
		{"trtype:TCP traddr:1.2.3.4 hostid:not-a-uuid", "hostid"},
		{"trtype:TCP traddr:1.2.3.4 ns:0", "ns"},
		{"trtype:TCP traddr:1.2.3.4 ns:x", "ns"},
		{"trtype:TCP traddr:1.2.3.4 colour:blue", "colour"},
		{"trtype:TCP traddr:1.2.3.4 trtype:RDMA", "trtype"},
		{"traddr:1.2.3.4", "trtype"},
		{"trtype:TCP", "traddr"},
		{"trtype:PCIe traddr:0000:00:04.0 subnqn:nqn.x", "subnqn"},
		{"trtype:TCP traddr:1.2.3.4 junk", "junk"},
	};
	struct axon_nvme_trid trid;
	char err[256];
	size_t i;

	for (i = 0; i < AXON_COUNTOF(bad); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(axon_nvme_trid_parse(&trid, bad[i].str, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].key) == NULL) {
			fprintf(stderr, "'%s': message '%s' does not name '%s'\n", bad[i].str, err,
				bad[i].key);
			CU_FAIL("error message does not name the key");
		}
	}
	CU_ASSERT_EQUAL(axon_nvme_trid_parse(NULL, "x", NULL, 0), -EINVAL);
}

static void test_trid_fmt(void)
{
	struct axon_nvme_trid trid, back;
	char buf[1024];

	CU_ASSERT_EQUAL_FATAL(axon_nvme_trid_parse(&trid, "trtype:tcp traddr:10.1.1.1 "
						   "subnqn:nqn.2024-01.io.axon:a", NULL, 0), 0);
	CU_ASSERT(axon_nvme_trid_fmt(&trid, buf, sizeof(buf)) > 0);
	CU_ASSERT_STRING_EQUAL(buf, "trtype:TCP adrfam:IPv4 traddr:10.1.1.1 trsvcid:4420 "
				    "subnqn:nqn.2024-01.io.axon:a");
	CU_ASSERT_EQUAL(axon_nvme_trid_parse(&back, buf, NULL, 0), 0);
	CU_ASSERT_STRING_EQUAL(back.subnqn, trid.subnqn);
	CU_ASSERT_EQUAL(axon_nvme_trid_fmt(&trid, buf, 10), -ENOSPC);
}

/* ---- init state machine ------------------------------------------------------------------- */

static struct axon_nvme_ctrlr *sim_connect(const char *transport, const char *subnqn)
{
	struct axon_nvme_trid trid;
	struct axon_nvme_ctrlr_opts opts;

	sim_trid(&trid, transport, subnqn);
	axon_nvme_ctrlr_opts_init(&opts);
	opts.num_io_queues = 8;
	opts.admin_timeout_ms = 500;
	return axon_nvme_ctrlr_connect_async(&trid, &opts);
}

static void test_init_pcie_like(void)
{
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_ns *ns;

	sim_reset();
	ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctrlr);
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_state(ctrlr), AXON_NVME_CTRLR_STATE_READY);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_vs(ctrlr).bits.mnr, 4);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_cap(ctrlr).bits.mqes, 127);
	CU_ASSERT(g_sim.cc.bits.en == 1 && g_sim.csts.bits.rdy == 1);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_num_io_queues(ctrlr), 4);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_max_xfer_size(ctrlr), 64 * 1024);
	CU_ASSERT_EQUAL(g_sim.aers_held, 4);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_num_active_ns(ctrlr), SIM_NUM_NS);
	ns = axon_nvme_ctrlr_get_ns(ctrlr, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	CU_ASSERT_EQUAL(axon_nvme_ns_get_sector_size(ns), 512);
	CU_ASSERT_EQUAL(axon_nvme_ns_get_num_sectors(ns), 2000);
	CU_ASSERT_EQUAL(g_sim.prop_gets, 0); /* registers, not properties */
	detach(ctrlr);
}

static void test_init_fabrics(void)
{
	struct axon_nvme_ctrlr *ctrlr;

	sim_reset();
	g_sim.cc.bits.en = 0;
	g_sim.csts.bits.rdy = 0;
	ctrlr = sim_connect("simfabrics", "nqn.2024-01.io.axon:fab");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctrlr);
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	CU_ASSERT_EQUAL(g_sim.connects, 1);
	CU_ASSERT_STRING_EQUAL(g_sim.last_connect_subnqn, "nqn.2024-01.io.axon:fab");
	CU_ASSERT_STRING_EQUAL(g_sim.last_connect_hostnqn, "nqn.2014-08.org.nvmexpress:uuid:ut");
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_cntlid(ctrlr), 7);
	CU_ASSERT(g_sim.prop_gets >= 4);  /* VS, CAP, CC, CSTS... */
	CU_ASSERT_EQUAL(g_sim.prop_sets, 1); /* only the enable: it started disabled */
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_num_active_ns(ctrlr), SIM_NUM_NS);
	detach(ctrlr);
}

/* Each failure stops init at the step it belongs to, and names it. */
static void test_init_fails_at_every_step(void)
{
	static const struct {
		enum sim_fail fail;
		enum axon_nvme_ctrlr_state step;
	} cases[] = {
		{SIM_FAIL_CONNECT, AXON_NVME_CTRLR_STATE_CONNECT_ADMINQ},
		{SIM_FAIL_READ_VS, AXON_NVME_CTRLR_STATE_READ_VS},
		{SIM_FAIL_READ_CAP, AXON_NVME_CTRLR_STATE_READ_CAP},
		{SIM_FAIL_READ_CC, AXON_NVME_CTRLR_STATE_CHECK_EN},
		{SIM_FAIL_WRITE_CC_DISABLE, AXON_NVME_CTRLR_STATE_DISABLE},
		{SIM_FAIL_READ_CSTS_0, AXON_NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0},
		{SIM_FAIL_ADMINQ, AXON_NVME_CTRLR_STATE_CONFIGURE_ADMINQ},
		{SIM_FAIL_WRITE_CC_ENABLE, AXON_NVME_CTRLR_STATE_ENABLE},
		{SIM_FAIL_CFS_AFTER_ENABLE, AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1},
		{SIM_FAIL_IDENTIFY_CTRLR, AXON_NVME_CTRLR_STATE_IDENTIFY},
		{SIM_FAIL_NUM_QUEUES, AXON_NVME_CTRLR_STATE_SET_NUM_QUEUES},
		{SIM_FAIL_AER_CONFIG, AXON_NVME_CTRLR_STATE_CONFIGURE_AER},
		{SIM_FAIL_KATO, AXON_NVME_CTRLR_STATE_SET_KEEP_ALIVE},
		{SIM_FAIL_NS_LIST, AXON_NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS},
		{SIM_FAIL_IDENTIFY_NS, AXON_NVME_CTRLR_STATE_IDENTIFY_NS},
	};
	struct axon_nvme_ctrlr *ctrlr;
	size_t i;
	int rc;

	for (i = 0; i < AXON_COUNTOF(cases); i++) {
		sim_reset();
		g_sim.fail = cases[i].fail;
		ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
		CU_ASSERT_PTR_NOT_NULL_FATAL(ctrlr);
		rc = run_init(ctrlr);
		CU_ASSERT(rc != 0 && rc != -EAGAIN && rc != -ETIMEDOUT);
		CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_state(ctrlr), AXON_NVME_CTRLR_STATE_ERROR);
		if (axon_nvme_ctrlr_get_failed_step(ctrlr) != cases[i].step) {
			fprintf(stderr, "case %zu: failed at '%s', expected '%s'\n", i,
				axon_nvme_ctrlr_state_str(axon_nvme_ctrlr_get_failed_step(ctrlr)),
				axon_nvme_ctrlr_state_str(cases[i].step));
			CU_FAIL("wrong failed step");
		}
		detach(ctrlr);
	}
	/* The same through properties (fabrics) for the register steps. */
	for (i = 1; i <= 5; i++) {
		sim_reset();
		g_sim.fail = cases[i].fail;
		ctrlr = sim_connect("SIMFABRICS", "nqn.2024-01.io.axon:fab");
		CU_ASSERT_PTR_NOT_NULL_FATAL(ctrlr);
		CU_ASSERT(run_init(ctrlr) != 0);
		CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_failed_step(ctrlr), cases[i].step);
		detach(ctrlr);
	}
	/* A refused fabrics Connect. */
	sim_reset();
	ctrlr = sim_connect("SIMFABRICS", "nqn.2024-01.io.axon:fab");
	g_sim.fail = SIM_FAIL_CONNECT;
	ctrlr->ops = &g_sim_fabrics_ops;
	CU_ASSERT(run_init(ctrlr) != 0);
	detach(ctrlr);
}

static void test_init_timeouts(void)
{
	struct axon_nvme_ctrlr *ctrlr;

	/* RDY never rises: the wait-for-ready step times out (CAP.TO 1 s). */
	sim_reset();
	g_sim.fail = SIM_HANG_READY;
	ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
	CU_ASSERT_EQUAL(run_init(ctrlr), -ETIMEDOUT);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_failed_step(ctrlr),
			AXON_NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1);
	CU_ASSERT(g_now > 1000000u); /* it waited */
	detach(ctrlr);

	/* Identify never answers: its step times out after admin_timeout_ms. */
	sim_reset();
	g_sim.fail = SIM_HANG_IDENTIFY;
	ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
	CU_ASSERT_EQUAL(run_init(ctrlr), -ETIMEDOUT);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_failed_step(ctrlr), AXON_NVME_CTRLR_STATE_IDENTIFY);
	detach(ctrlr);
}

/* A namespace change AER re-reads the namespaces; a vanished one goes. */
static void test_aer_ns_rescan(void)
{
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_request *aer;
	struct axon_nvme_cpl cpl;
	int i;

	sim_reset();
	ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_num_active_ns(ctrlr), 2);
	g_sim.ns_removed = 2;
	aer = g_sim.aer[--g_sim.aers_held];
	memset(&cpl, 0, sizeof(cpl));
	cpl.cid = aer->cmd.cid;
	cpl.cdw0 = NVME_AER_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
		   ((uint32_t)NVME_LOG_LID_CHANGED_NS << 16);
	axon_nvme_qpair_complete_request(ctrlr->adminq, aer, &cpl);
	for (i = 0; i < 20; i++) {
		axon_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_num_active_ns(ctrlr), 1);
	CU_ASSERT_PTR_NULL(axon_nvme_ctrlr_get_ns(ctrlr, 2));
	CU_ASSERT_EQUAL(g_sim.aers_held, 4); /* reposted */
	detach(ctrlr);
}

/* ---- discovery ----------------------------------------------------------------------------- */

static struct axon_nvme_ctrlr *disc_connect(void)
{
	struct axon_nvme_ctrlr *ctrlr;

	sim_reset();
	g_sim.discovery = true;
	g_sim.genctr = 5;
	g_sim.numrec = 2;
	ctrlr = sim_connect("SIMFABRICS", AXON_NVME_DISCOVERY_NQN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ctrlr);
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	CU_ASSERT(axon_nvme_ctrlr_is_discovery(ctrlr));
	return ctrlr;
}

static void test_discovery_plain(void)
{
	struct axon_nvme_ctrlr *ctrlr = disc_connect();
	struct nvmf_discovery_log *log = NULL;
	struct axon_nvme_trid trid;

	CU_ASSERT_EQUAL_FATAL(axon_nvme_ctrlr_read_discovery_log_sync(ctrlr, &log), 0);
	CU_ASSERT_EQUAL(log->genctr, 5);
	CU_ASSERT_EQUAL(log->numrec, 2);
	axon_nvme_trid_from_disc_entry(&trid, &log->entries[1]);
	CU_ASSERT_STRING_EQUAL(trid.traddr, "10.0.0.2");
	CU_ASSERT_STRING_EQUAL(trid.trsvcid, "4420");
	CU_ASSERT_STRING_EQUAL(trid.subnqn, "nqn.2024-01.io.axon:gen5-1");
	CU_ASSERT_EQUAL(trid.trtype, AXON_NVME_TRTYPE_TCP);
	CU_ASSERT_EQUAL(g_sim.disc_reads, 3); /* header, entries, header */
	free(log);
	detach(ctrlr);
}

/* The log changes between the first header and the re-check: read again. */
static void test_discovery_genctr_changes(void)
{
	struct axon_nvme_ctrlr *ctrlr = disc_connect();
	struct nvmf_discovery_log *log = NULL;
	uint64_t i;

	g_sim.change_at_read = 2; /* right after the entries were read */
	CU_ASSERT_EQUAL_FATAL(axon_nvme_ctrlr_read_discovery_log_sync(ctrlr, &log), 0);
	CU_ASSERT_EQUAL(log->genctr, 6);
	CU_ASSERT_EQUAL(log->numrec, 3);
	for (i = 0; i < log->numrec; i++) {
		CU_ASSERT(strncmp(log->entries[i].subnqn, "nqn.2024-01.io.axon:gen6-", 25) == 0);
	}
	CU_ASSERT_EQUAL(g_sim.disc_reads, 6);
	free(log);

	/* A log that never holds still gives up with -EAGAIN. */
	g_sim.always_change = true;
	log = NULL;
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_read_discovery_log_sync(ctrlr, &log), -EAGAIN);
	CU_ASSERT_PTR_NULL(log);
	g_sim.always_change = false;

	/* An absurd record count is refused before any allocation. */
	g_sim.claim_numrec = 1u << 30;
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_read_discovery_log_sync(ctrlr, &log), -EPROTO);
	detach(ctrlr);
}

/* ---- I/O submission checks ------------------------------------------------------------------- */

static void io_cb(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	int *status = cb_arg;

	*status = axon_nvme_cpl_get_status(cpl);
}

static void test_io_submit(void)
{
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_qpair *qpair;
	struct axon_nvme_ns *ns;
	uint8_t buf[4096];
	struct iovec iov[2] = {{buf, 1024}, {buf + 1024, 1024}};
	struct nvme_dsm_range range = {.nlb = 8, .slba = 0};
	int status = -1;

	sim_reset();
	ctrlr = sim_connect("SIMFABRICS", "nqn.2024-01.io.axon:fab");
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	qpair = axon_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(qpair);
	CU_ASSERT_EQUAL(axon_nvme_qpair_get_id(qpair), 1);
	CU_ASSERT_EQUAL(g_sim.connects, 2);
	ns = axon_nvme_ctrlr_get_ns(ctrlr, 1);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, qpair, buf, 0, 8, io_cb, &status, 0), 0);
	CU_ASSERT_EQUAL(axon_nvme_qpair_get_num_outstanding(qpair), 1);
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(qpair, 0), 1);
	CU_ASSERT_EQUAL(status, 0);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_writev(ns, qpair, iov, 2, 8, 4, io_cb, &status, 0), 0);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_write_zeroes(ns, qpair, 0, 100, io_cb, &status, 0), 0);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_flush(ns, qpair, io_cb, &status), 0);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_dsm(ns, qpair, 4, &range, 1, io_cb, &status), 0);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_compare(ns, qpair, buf, 0, 1, io_cb, &status, 0), 0);
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(qpair, 0), 5);
	/* Bad arguments. */
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, qpair, buf, 999, 2, io_cb, &status, 0), -EINVAL);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, qpair, buf, 0, 0, io_cb, &status, 0), -EINVAL);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_writev(ns, qpair, iov, 2, 0, 3, io_cb, &status, 0),
			-EINVAL); /* 3 blocks != 2048 bytes */
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, ctrlr->adminq, buf, 0, 1, io_cb, &status, 0),
			-EINVAL);
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_dsm(ns, qpair, 4, &range, 0, io_cb, &status), -EINVAL);
	/* Disconnected: fail fast, and outstanding commands complete aborted. */
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, qpair, buf, 0, 1, io_cb, &status, 0), 0);
	qpair->state = AXON_NVME_QPAIR_FAILED;
	CU_ASSERT_EQUAL(axon_nvme_qpair_process_completions(qpair, 0), -ENXIO);
	CU_ASSERT_EQUAL(status, AXON_NVME_STATUS(0, NVME_SC_ABORTED_SQ_DELETION_CODE));
	CU_ASSERT_EQUAL(axon_nvme_ns_cmd_read(ns, qpair, buf, 0, 1, io_cb, &status, 0), -ENXIO);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_reconnect_io_qpair(qpair), 0);
	CU_ASSERT(axon_nvme_qpair_is_connected(qpair));
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_detach(ctrlr), -EBUSY);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_free_io_qpair(qpair), 0);
	detach(ctrlr);
}

/* Per-command timeout with the abort action sends an Abort naming the command. */
static uint16_t g_timed_out_cid = 0xffff;

static void timeout_cb(void *cb_arg, struct axon_nvme_ctrlr *ctrlr, struct axon_nvme_qpair *qpair,
		       uint16_t cid)
{
	g_timed_out_cid = cid;
}

static void test_admin_timeout_abort(void)
{
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_cmd cmd = {.opc = nvme_admin_identify, .cdw10 = NVME_IDENTIFY_CNS_CTRL};
	uint8_t buf[4096];
	int status = -1, i;

	sim_reset();
	ctrlr = sim_connect("SIMPCIE", "nqn.2024-01.io.axon:sim");
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	ctrlr->opts.timeout_action = AXON_NVME_TIMEOUT_ACTION_ABORT;
	axon_nvme_ctrlr_register_timeout_callback(ctrlr, timeout_cb, NULL);
	g_sim.fail = SIM_HANG_IDENTIFY;
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, buf, sizeof(buf), io_cb,
						      &status), 0);
	for (i = 0; i < 20; i++) {
		axon_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	CU_ASSERT_EQUAL(g_timed_out_cid, 0xffff); /* not yet */
	g_now += 600 * 1000;
	axon_nvme_ctrlr_process_admin_completions(ctrlr);
	CU_ASSERT_NOT_EQUAL(g_timed_out_cid, 0xffff);
	CU_ASSERT_EQUAL(status, -1); /* still outstanding; the Abort went out */
	g_sim.fail = SIM_FAIL_NONE;
	axon_nvme_ctrlr_process_admin_completions(ctrlr);
	CU_ASSERT_EQUAL(status, 0);
	detach(ctrlr);
}

/* A lost admin connection reconnects with backoff; past the loss timeout the controller fails. */
static void test_reconnect_and_loss_timeout(void)
{
	struct axon_nvme_ctrlr *ctrlr;
	uint64_t start;
	int i;

	sim_reset();
	ctrlr = sim_connect("SIMFABRICS", "nqn.2024-01.io.axon:fab");
	ctrlr->opts.reconnect_delay_sec = 1;
	ctrlr->opts.ctrlr_loss_timeout_sec = 5;
	CU_ASSERT_EQUAL_FATAL(run_init(ctrlr), 0);
	CU_ASSERT_EQUAL(g_sim.connects, 1);

	/* The target goes away for two attempts, then comes back. */
	g_sim.fail = SIM_FAIL_CONNECT;
	ctrlr->adminq->state = AXON_NVME_QPAIR_FAILED;
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_process_admin_completions(ctrlr), 0);
	CU_ASSERT(axon_nvme_ctrlr_is_resetting(ctrlr));
	start = g_now;
	for (i = 0; i < 100000 && g_now - start < 1500000; i++) {
		axon_nvme_ctrlr_process_admin_completions(ctrlr);
		g_now += 100;
	}
	CU_ASSERT(axon_nvme_ctrlr_is_resetting(ctrlr));
	CU_ASSERT_FALSE(axon_nvme_ctrlr_is_failed(ctrlr));
	g_sim.fail = SIM_FAIL_NONE;
	for (i = 0; i < 100000 && axon_nvme_ctrlr_is_resetting(ctrlr); i++) {
		axon_nvme_ctrlr_process_admin_completions(ctrlr);
		g_now += 100;
	}
	CU_ASSERT_FALSE(axon_nvme_ctrlr_is_resetting(ctrlr));
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_get_state(ctrlr), AXON_NVME_CTRLR_STATE_READY);
	CU_ASSERT(g_sim.connects >= 2);
	CU_ASSERT(g_now - start >= 1000000); /* it waited reconnect_delay_sec */

	/* Gone for good: failed after ctrlr_loss_timeout_sec, admin commands refused. */
	g_sim.fail = SIM_FAIL_CONNECT;
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_reset(ctrlr), 0);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_reset(ctrlr), -EBUSY);
	start = g_now;
	for (i = 0; i < 1000000 && !axon_nvme_ctrlr_is_failed(ctrlr); i++) {
		axon_nvme_ctrlr_process_admin_completions(ctrlr);
		g_now += 1000;
	}
	CU_ASSERT(axon_nvme_ctrlr_is_failed(ctrlr));
	CU_ASSERT(g_now - start >= 5000000);
	CU_ASSERT(g_now - start < 7000000);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_process_admin_completions(ctrlr), -ENXIO);
	CU_ASSERT_EQUAL(axon_nvme_ctrlr_cmd_keep_alive(ctrlr, io_cb, NULL), -ENXIO);
	detach(ctrlr);
}

int main(void)
{
	CU_pSuite s;
	unsigned int n;

	axon_log_set_print_level(AXON_LOG_DISABLED);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	s = CU_add_suite("nvme_trid", NULL, NULL);
	CU_ADD_TEST(s, test_trid_every_key);
	CU_ADD_TEST(s, test_trid_case_insensitive);
	CU_ADD_TEST(s, test_trid_errors_name_key);
	CU_ADD_TEST(s, test_trid_fmt);
	s = CU_add_suite("nvme_ctrlr_init", NULL, NULL);
	CU_ADD_TEST(s, test_init_pcie_like);
	CU_ADD_TEST(s, test_init_fabrics);
	CU_ADD_TEST(s, test_init_fails_at_every_step);
	CU_ADD_TEST(s, test_init_timeouts);
	CU_ADD_TEST(s, test_aer_ns_rescan);
	s = CU_add_suite("nvme_discovery", NULL, NULL);
	CU_ADD_TEST(s, test_discovery_plain);
	CU_ADD_TEST(s, test_discovery_genctr_changes);
	s = CU_add_suite("nvme_io", NULL, NULL);
	CU_ADD_TEST(s, test_io_submit);
	CU_ADD_TEST(s, test_admin_timeout_abort);
	CU_ADD_TEST(s, test_reconnect_and_loss_timeout);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
