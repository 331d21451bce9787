/*
 * lib/nvmf unit tests, driven through a fake transport ("UT") on three
 * deterministic threads (0: app thread, 1 and 2: poll groups) against the
 * malloc bdev: subsystem state machine, connect checks, properties and
 * CC.EN / CC.SHN, admin commands, namespace hot add/remove with the AEN and
 * the Changed Namespace List, I/O command mapping and status codes, the
 * discovery log and its generation counter, keep-alive timeout, teardown.
 */
#include <CUnit/Basic.h>

#include "test/common/ut_threads.h"
#include "test/unit/lib/bdev/ut_bdev_env.h"

#include "drivers/bdev/malloc/bdev_malloc.c"
#include "lib/nvmf/admin_cmd.c"
#include "lib/nvmf/ctrlr.c"
#include "lib/nvmf/discovery.c"
#include "lib/nvmf/io_cmd.c"
#include "lib/nvmf/ns.c"
#include "lib/nvmf/poll_group.c"
#include "lib/nvmf/request.c"
#include "lib/nvmf/subsystem.c"
#include "lib/nvmf/tgt.c"
#include "lib/nvmf/transport.c"

#define NQN1 "nqn.2016-06.io.axon:cnode1"
#define HOST1 "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define HOST2 "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555"
#define BLOCK 512u
#define NBLOCKS 1024u

/* ---- the fake transport -------------------------------------------------------------- */

struct ut_transport {
	struct axon_nvmf_transport base;
	int listens;
};

struct ut_tgroup {
	struct axon_nvmf_transport_poll_group base;
	int qpairs;
};

struct ut_qpair {
	struct axon_nvmf_qpair qpair;
	struct axon_nvmf_trid listen;
	bool added;
	bool fini;
	int completions;
};

struct ut_req {
	struct axon_nvmf_request req;
	union axon_nvmf_sqe cmd;
	union axon_nvmf_cqe rsp;
	uint8_t *data;
	bool done;
};

static void ut_opts_init(struct axon_nvmf_transport_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_queue_depth = 128;
	o->max_qpairs_per_ctrlr = 4;
	o->in_capsule_data_size = 4096;
	o->max_io_size = 131072;
	o->io_unit_size = 8192;
	o->max_aq_depth = 32;
	o->num_shared_buffers = 64;
	o->buf_cache_size = 8;
}

static struct axon_nvmf_transport *ut_create(const struct axon_nvmf_transport_opts *opts,
					     const void *spec)
{
	struct ut_transport *t = calloc(1, sizeof(*t));

	(void)opts;
	(void)spec;
	return t ? &t->base : NULL;
}

static void ut_destroy(struct axon_nvmf_transport *transport, axon_nvmf_transport_destroy_done_cb cb,
		       void *cb_arg)
{
	free(AXON_CONTAINEROF(transport, struct ut_transport, base));
	if (cb != NULL) {
		cb(cb_arg);
	}
}

static int ut_listen(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid)
{
	AXON_CONTAINEROF(transport, struct ut_transport, base)->listens++;
	return strcmp(trid->traddr, "10.0.0.99") == 0 ? -EADDRINUSE : 0;
}

static void ut_stop_listen(struct axon_nvmf_transport *transport, const struct axon_nvmf_trid *trid)
{
	(void)trid;
	AXON_CONTAINEROF(transport, struct ut_transport, base)->listens--;
}

static struct axon_nvmf_transport_poll_group *ut_pg_create(struct axon_nvmf_transport *transport,
							   struct axon_nvmf_poll_group *group)
{
	struct ut_tgroup *g = calloc(1, sizeof(*g));

	(void)transport;
	(void)group;
	return g ? &g->base : NULL;
}

static void ut_pg_destroy(struct axon_nvmf_transport_poll_group *tgroup)
{
	struct ut_tgroup *g = AXON_CONTAINEROF(tgroup, struct ut_tgroup, base);

	CU_ASSERT(g->qpairs == 0);
	free(g);
}

static int ut_pg_add(struct axon_nvmf_transport_poll_group *tgroup, struct axon_nvmf_qpair *qpair)
{
	AXON_CONTAINEROF(tgroup, struct ut_tgroup, base)->qpairs++;
	AXON_CONTAINEROF(qpair, struct ut_qpair, qpair)->added = true;
	return 0;
}

static int ut_pg_remove(struct axon_nvmf_transport_poll_group *tgroup, struct axon_nvmf_qpair *qpair)
{
	(void)qpair;
	AXON_CONTAINEROF(tgroup, struct ut_tgroup, base)->qpairs--;
	return 0;
}

static int ut_pg_poll(struct axon_nvmf_transport_poll_group *tgroup)
{
	(void)tgroup;
	return 0;
}

static int ut_req_complete(struct axon_nvmf_request *req)
{
	struct ut_req *r = AXON_CONTAINEROF(req, struct ut_req, req);

	CU_ASSERT(!r->done);
	r->done = true;
	AXON_CONTAINEROF(req->qpair, struct ut_qpair, qpair)->completions++;
	return 0;
}

static void ut_qpair_fini(struct axon_nvmf_qpair *qpair, axon_nvmf_qpair_fini_cb cb, void *cb_arg)
{
	AXON_CONTAINEROF(qpair, struct ut_qpair, qpair)->fini = true;
	if (cb != NULL) {
		cb(cb_arg);
	}
}

static int ut_listen_trid(struct axon_nvmf_qpair *qpair, struct axon_nvmf_trid *trid)
{
	*trid = AXON_CONTAINEROF(qpair, struct ut_qpair, qpair)->listen;
	return 0;
}

static const struct axon_nvmf_transport_ops g_ut_transport_ops = {
	.name = "UT",
	.type = NVMF_TRTYPE_TCP,
	.opts_init = ut_opts_init,
	.create = ut_create,
	.destroy = ut_destroy,
	.listen = ut_listen,
	.stop_listen = ut_stop_listen,
	.poll_group_create = ut_pg_create,
	.poll_group_destroy = ut_pg_destroy,
	.poll_group_add = ut_pg_add,
	.poll_group_remove = ut_pg_remove,
	.poll_group_poll = ut_pg_poll,
	.req_complete = ut_req_complete,
	.qpair_fini = ut_qpair_fini,
	.qpair_get_listen_trid = ut_listen_trid,
};
AXON_NVMF_TRANSPORT_REGISTER(ut, &g_ut_transport_ops)

/* ---- harness ------------------------------------------------------------------------------- */

static struct axon_nvmf_tgt *g_tgt;
static struct axon_nvmf_transport *g_transport;
static struct axon_nvmf_poll_group *g_pg[2];
static struct axon_bdev *g_bdev;
static struct axon_nvmf_trid g_trid;

static int thread_index(struct axon_thread *t)
{
	for (int i = 0; i < 3; i++) {
		if (ut_thread(i) == t) {
			return i;
		}
	}
	CU_FAIL("unknown thread");
	return 0;
}

static void state_cb(struct axon_nvmf_subsystem *s, void *cb_arg, int status)
{
	(void)s;
	*(int *)cb_arg = status;
}

static void ns_cb(void *cb_arg, uint32_t nsid, int status)
{
	int *out = cb_arg;

	out[0] = status;
	out[1] = (int)nsid;
}

static void ut_unreg_done(void *arg, int rc)
{
	*(int *)arg = rc;
}

static void done_flag(void *arg)
{
	*(bool *)arg = true;
}

static void setup(void)
{
	struct axon_nvmf_tgt_opts topts = {.max_subsystems = 8};
	struct axon_nvmf_transport_opts opts;
	struct malloc_opts mo = {.name = "Malloc0", .num_blocks = NBLOCKS, .block_size = BLOCK};
	const char *param, *why;
	char err[128];

	CU_ASSERT_FATAL(ut_threads_init(3) == 0);
	g_ut_mempool_leaked = 0;
	CU_ASSERT_FATAL(ut_bdev_subsystem_start() == 0);
	ut_set_thread(0);
	CU_ASSERT_FATAL(malloc_disk_create(&mo, &g_bdev, &param, &why) == 0);
	g_tgt = axon_nvmf_tgt_create(&topts);
	CU_ASSERT_FATAL(g_tgt != NULL);
	nvmf_tgt_set(g_tgt);
	ut_opts_init(&opts);
	CU_ASSERT_FATAL(nvmf_transport_create(g_tgt, &g_ut_transport_ops, &opts, NULL, &g_transport,
					      err, sizeof(err)) == 0);
	for (int i = 0; i < 2; i++) {
		ut_set_thread(i + 1);
		g_pg[i] = axon_nvmf_poll_group_create(g_tgt);
		CU_ASSERT_FATAL(g_pg[i] != NULL);
	}
	ut_set_thread(0);
	ut_poll_threads();
	CU_ASSERT(axon_nvmf_tgt_get_poll_group_count(g_tgt) == 2);
	memset(&g_trid, 0, sizeof(g_trid));
	strcpy(g_trid.trstring, "UT");
	g_trid.trtype = NVMF_TRTYPE_TCP;
	g_trid.adrfam = NVMF_ADDR_FAMILY_IP4;
	strcpy(g_trid.traddr, "127.0.0.1");
	strcpy(g_trid.trsvcid, "4420");
}

static void teardown(void)
{
	bool done = false;

	for (int i = 0; i < 2; i++) {
		ut_set_thread(i + 1);
		axon_nvmf_poll_group_destroy(g_pg[i], done_flag, &done);
		ut_poll_threads();
		CU_ASSERT(done);
		done = false;
	}
	ut_set_thread(0);
	axon_nvmf_tgt_destroy(g_tgt, done_flag, &done);
	ut_poll_threads();
	CU_ASSERT(done);
	CU_ASSERT(ut_bdev_subsystem_stop());
	CU_ASSERT(g_ut_mempool_leaked == 0);
	CU_ASSERT(ut_threads_fini() == 0);
}

/* An active NVMe subsystem with a listener, allowing HOST1, and one namespace. */
static struct axon_nvmf_subsystem *make_subsystem(bool with_ns)
{
	struct axon_nvmf_subsystem *s;
	int rc = 1, nsr[2] = {1, 0};

	ut_set_thread(0);
	s = axon_nvmf_subsystem_create(g_tgt, NQN1, AXON_NVMF_SUBTYPE_NVME, 4, &rc);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT(axon_nvmf_subsystem_set_sn(s, "AXON0001") == 0);
	CU_ASSERT(axon_nvmf_subsystem_add_host(s, HOST1) == 0);
	CU_ASSERT(axon_nvmf_subsystem_add_listener(s, &g_trid) == 0);
	rc = 1;
	CU_ASSERT(axon_nvmf_subsystem_start(s, state_cb, &rc) == 0);
	ut_poll_threads();
	CU_ASSERT(rc == 0);
	if (with_ns) {
		axon_nvmf_subsystem_add_ns(s, "Malloc0", NULL, ns_cb, nsr);
		ut_poll_threads();
		CU_ASSERT(nsr[0] == 0 && nsr[1] == 1);
	}
	return s;
}

static struct ut_qpair *new_qpair(void)
{
	struct ut_qpair *q = calloc(1, sizeof(*q));

	q->listen = g_trid;
	ut_set_thread(0);
	axon_nvmf_transport_new_qpair(g_transport, &q->qpair);
	ut_poll_threads();
	CU_ASSERT(q->added);
	CU_ASSERT(q->qpair.state == AXON_NVMF_QPAIR_CONNECTING);
	return q;
}

static struct ut_req *new_req(struct ut_qpair *q, size_t data_len)
{
	struct ut_req *r = calloc(1, sizeof(*r));

	r->req.qpair = &q->qpair;
	r->req.cmd = &r->cmd;
	r->req.rsp = &r->rsp;
	if (data_len > 0) {
		r->data = calloc(1, data_len);
		r->req.iov[0].iov_base = r->data;
		r->req.iov[0].iov_len = data_len;
		r->req.iovcnt = 1;
		r->req.length = (uint32_t)data_len;
	}
	return r;
}

static void free_req(struct ut_req *r)
{
	free(r->data);
	free(r);
}

/* Execute on the qpair's thread and run everything; returns the status. */
static uint16_t run(struct ut_req *r)
{
	r->done = false;
	r->req.xfer = axon_nvmf_sqe_get_data_xfer(&r->cmd);
	ut_set_thread(thread_index(r->req.qpair->group->thread));
	axon_nvmf_request_exec(&r->req);
	/* Never completed before exec returns. */
	CU_ASSERT(!r->done);
	ut_poll_threads();
	return axon_nvme_cpl_get_status(&r->rsp.nvme) & 0x7ff;
}

static uint16_t connect(struct ut_qpair *q, const char *subnqn, const char *hostnqn, uint16_t qid,
			uint16_t cntlid, uint32_t kato, union axon_nvmf_cqe *rsp_out)
{
	struct ut_req *r = new_req(q, sizeof(struct axon_nvmf_connect_data));
	struct axon_nvmf_connect_data *d = (void *)r->data;
	uint16_t st;

	r->cmd.connect.opcode = AXON_NVMF_FABRIC_OPCODE;
	r->cmd.connect.fctype = AXON_NVMF_FCTYPE_CONNECT;
	r->cmd.connect.cid = 7;
	r->cmd.connect.qid = qid;
	r->cmd.connect.sqsize = 31;
	r->cmd.connect.kato = kato;
	strcpy(d->subnqn, subnqn);
	strcpy(d->hostnqn, hostnqn);
	d->cntlid = cntlid;
	memset(d->hostid, 0x11, sizeof(d->hostid));
	st = run(r);
	CU_ASSERT(r->rsp.nvme.cid == 7);
	if (rsp_out != NULL) {
		*rsp_out = r->rsp;
	}
	free_req(r);
	return st;
}

static uint16_t prop_set_cc_val(struct ut_qpair *q, uint32_t cc)
{
	struct ut_req *r = new_req(q, 0);
	uint16_t st;

	r->cmd.prop_set.opcode = AXON_NVMF_FABRIC_OPCODE;
	r->cmd.prop_set.fctype = AXON_NVMF_FCTYPE_PROPERTY_SET;
	r->cmd.prop_set.attrib = AXON_NVMF_PROP_SIZE_4;
	r->cmd.prop_set.ofst = AXON_NVME_PROP_CC;
	r->cmd.prop_set.value = cc;
	st = run(r);
	free_req(r);
	return st;
}

static uint64_t ut_prop_get(struct ut_qpair *q, uint32_t ofst, uint8_t size, uint16_t *st)
{
	struct ut_req *r = new_req(q, 0);
	uint64_t v;

	r->cmd.prop_get.opcode = AXON_NVMF_FABRIC_OPCODE;
	r->cmd.prop_get.fctype = AXON_NVMF_FCTYPE_PROPERTY_GET;
	r->cmd.prop_get.attrib = size;
	r->cmd.prop_get.ofst = ofst;
	*st = run(r);
	v = r->rsp.prop_get_rsp.value;
	free_req(r);
	return v;
}

#define CC_ENABLE (1u | (6u << 16) | (4u << 20))

/* Connected and enabled admin queue of HOST1 on s; returns the qpair. */
static struct ut_qpair *admin_connect(const char *subnqn, uint32_t kato, uint16_t *cntlid)
{
	struct ut_qpair *q = new_qpair();
	union axon_nvmf_cqe rsp;

	CU_ASSERT_FATAL(connect(q, subnqn, HOST1, 0, 0xffff, kato, &rsp) == 0);
	*cntlid = rsp.connect_rsp.status_code_specific.success.cntlid;
	CU_ASSERT(prop_set_cc_val(q, CC_ENABLE) == 0);
	return q;
}

static void disconnect(struct ut_qpair *q)
{
	bool done = false;

	ut_set_thread(thread_index(q->qpair.group->thread));
	CU_ASSERT(axon_nvmf_qpair_disconnect(&q->qpair, done_flag, &done) == 0);
	ut_poll_threads();
	CU_ASSERT(done);
	CU_ASSERT(q->fini);
	free(q);
}

static uint16_t admin_cmd(struct ut_qpair *q, uint8_t opc, uint32_t nsid, uint32_t cdw10,
			  uint32_t cdw11, void *buf, size_t len, uint32_t *cdw0)
{
	struct ut_req *r = new_req(q, len);
	uint16_t st;

	r->cmd.nvme.opc = opc;
	r->cmd.nvme.cid = 42;
	r->cmd.nvme.nsid = nsid;
	r->cmd.nvme.cdw10 = cdw10;
	r->cmd.nvme.cdw11 = cdw11;
	st = run(r);
	if (buf != NULL) {
		memcpy(buf, r->data, len);
	}
	if (cdw0 != NULL) {
		*cdw0 = r->rsp.nvme.cdw0;
	}
	free_req(r);
	return st;
}

#define ST(sct, sc) AXON_NVME_STATUS(sct, sc)

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_nqn(void)
{
	CU_ASSERT(axon_nvmf_nqn_is_valid(NQN1));
	CU_ASSERT(axon_nvmf_nqn_is_valid(AXON_NVMF_DISCOVERY_NQN));
	CU_ASSERT(axon_nvmf_nqn_is_valid(HOST1));
	CU_ASSERT(!axon_nvmf_nqn_is_valid("nqn.2014-08.org.nvmexpress:uuid:1234"));
	CU_ASSERT(!axon_nvmf_nqn_is_valid("iqn.2016-06.io.axon:x"));
	CU_ASSERT(!axon_nvmf_nqn_is_valid("nqn.16-06.io.axon:x"));
	CU_ASSERT(!axon_nvmf_nqn_is_valid("nqn.2016-06..axon:x"));
	CU_ASSERT(!axon_nvmf_nqn_is_valid("nqn.2016-06.io.axon:"));
	CU_ASSERT(!axon_nvmf_nqn_is_valid(NULL));
	{
		char big[300];

		memset(big, 'a', sizeof(big));
		memcpy(big, "nqn.2016-06.io.axon:", 20);
		big[224] = '\0';
		CU_ASSERT(!axon_nvmf_nqn_is_valid(big));
		big[223] = '\0';
		CU_ASSERT(axon_nvmf_nqn_is_valid(big));
	}
}

static void test_subsystem_state_machine(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q, *ioq;
	struct ut_req *r;
	uint16_t cntlid;
	int rc, rc2;

	setup();
	s = make_subsystem(true);
	CU_ASSERT(axon_nvmf_subsystem_get_state(s) == AXON_NVMF_SUBSYSTEM_ACTIVE);
	CU_ASSERT(g_pg[0]->sgroups[s->id].state == AXON_NVMF_SUBSYSTEM_ACTIVE);
	CU_ASSERT(g_pg[1]->sgroups[s->id].ns[0].ch != NULL);
	/* Forbidden transitions answer -EINVAL and change nothing. */
	CU_ASSERT(axon_nvmf_subsystem_set_cntlid_range(s, 1, 10) == -EBUSY);

	q = admin_connect(NQN1, 0, &cntlid);
	ioq = new_qpair();
	CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) == 0);

	/* Pause: a new read is held, completes after resume. */
	rc = 1;
	axon_nvmf_subsystem_pause(s, state_cb, &rc);
	ut_poll_threads();
	CU_ASSERT(rc == 0);
	CU_ASSERT(axon_nvmf_subsystem_get_state(s) == AXON_NVMF_SUBSYSTEM_PAUSED);
	r = new_req(ioq, BLOCK);
	r->cmd.nvme.opc = nvme_cmd_read;
	r->cmd.nvme.nsid = 1;
	r->req.xfer = AXON_NVME_DATA_CONTROLLER_TO_HOST;
	ut_set_thread(thread_index(ioq->qpair.group->thread));
	axon_nvmf_request_exec(&r->req);
	ut_poll_threads();
	CU_ASSERT(!r->done);
	CU_ASSERT(r->req.state == AXON_NVMF_REQ_STATE_HELD);
	/* A pause while paused is a no-op; two queued changes run in order. */
	rc = rc2 = 1;
	ut_set_thread(0);
	axon_nvmf_subsystem_pause(s, state_cb, &rc);
	axon_nvmf_subsystem_resume(s, state_cb, &rc2);
	ut_poll_threads();
	CU_ASSERT(rc == 0 && rc2 == 0);
	CU_ASSERT(r->done);
	CU_ASSERT(axon_nvme_cpl_get_status(&r->rsp.nvme) == 0);
	free_req(r);
	/* Resume of an active subsystem: nothing to do. Stop then pause: -EINVAL. */
	rc = 1;
	ut_set_thread(0);
	axon_nvmf_subsystem_stop(s, state_cb, &rc);
	ut_poll_threads();
	CU_ASSERT(rc == 0);
	CU_ASSERT(axon_nvmf_subsystem_get_state(s) == AXON_NVMF_SUBSYSTEM_INACTIVE);
	CU_ASSERT(g_pg[0]->sgroups[s->id].ns == NULL);
	rc = 1;
	axon_nvmf_subsystem_pause(s, state_cb, &rc);
	ut_poll_threads();
	CU_ASSERT(rc == -EINVAL);
	/* I/O to a stopped subsystem fails (retryable). */
	r = new_req(ioq, BLOCK);
	r->cmd.nvme.opc = nvme_cmd_read;
	r->cmd.nvme.nsid = 1;
	CU_ASSERT(run(r) == ST(NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY));
	free_req(r);
	rc = 1;
	ut_set_thread(0);
	axon_nvmf_subsystem_start(s, state_cb, &rc);
	ut_poll_threads();
	CU_ASSERT(rc == 0);
	disconnect(ioq);
	disconnect(q);
	teardown();
}

static void test_connect_checks(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q;
	union axon_nvmf_cqe rsp;
	uint16_t cntlid;

	setup();
	s = make_subsystem(true);
	q = new_qpair();
	/* Host not on the list. */
	CU_ASSERT(connect(q, NQN1, HOST2, 0, 0xffff, 0, &rsp) ==
		  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST));
	CU_ASSERT(rsp.connect_rsp.status_code_specific.invalid.iattr == 1);
	CU_ASSERT(rsp.connect_rsp.status_code_specific.invalid.ipo == 512);
	CU_ASSERT(axon_nvme_cpl_get_status(&rsp.nvme) & AXON_NVME_STATUS_DNR);
	/* Unknown subsystem. */
	CU_ASSERT(connect(q, "nqn.2016-06.io.axon:nothere", HOST1, 0, 0xffff, 0, &rsp) ==
		  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
	CU_ASSERT(rsp.connect_rsp.status_code_specific.invalid.ipo == 256);
	/* A static cntlid on the admin queue. */
	CU_ASSERT(connect(q, NQN1, HOST1, 0, 5, 0, &rsp) ==
		  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
	CU_ASSERT(rsp.connect_rsp.status_code_specific.invalid.ipo == 16);
	/* Through an address that is not a listener of the subsystem. */
	strcpy(q->listen.trsvcid, "4421");
	CU_ASSERT(connect(q, NQN1, HOST1, 0, 0xffff, 0, &rsp) ==
		  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
	q->listen = g_trid;
	/* Allowed once the host is added... and allow_any_host lets HOST2 in. */
	ut_set_thread(0);
	axon_nvmf_subsystem_set_allow_any_host(s, true);
	CU_ASSERT(connect(q, NQN1, HOST2, 0, 0xffff, 0, &rsp) == 0);
	cntlid = rsp.connect_rsp.status_code_specific.success.cntlid;
	CU_ASSERT(cntlid == 1);
	CU_ASSERT(q->qpair.state == AXON_NVMF_QPAIR_ENABLED);
	/* A second Connect on the same queue is a sequence error. */
	CU_ASSERT(connect(q, NQN1, HOST2, 0, 0xffff, 0, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
	{
		struct ut_qpair *ioq = new_qpair();

		/* I/O queue before CC.EN = 1. */
		CU_ASSERT(connect(ioq, NQN1, HOST2, 1, cntlid, 0, &rsp) ==
			  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
		CU_ASSERT(rsp.connect_rsp.status_code_specific.invalid.ipo == 42);
		CU_ASSERT(prop_set_cc_val(q, CC_ENABLE) == 0);
		/* Wrong host for the controller, wrong cntlid, then right. */
		CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) ==
			  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
		CU_ASSERT(connect(ioq, NQN1, HOST2, 1, cntlid + 7, 0, NULL) ==
			  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
		/* qid beyond max_qpairs_per_ctrlr (4). */
		CU_ASSERT(connect(ioq, NQN1, HOST2, 4, cntlid, 0, NULL) ==
			  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
		CU_ASSERT(connect(ioq, NQN1, HOST2, 1, cntlid, 0, NULL) == 0);
		CU_ASSERT(ioq->qpair.qid == 1);
		/* Anything before Connect on a new queue. */
		{
			struct ut_qpair *q3 = new_qpair();

			CU_ASSERT(admin_cmd(q3, nvme_admin_keep_alive, 0, 0, 0, NULL, 0, NULL) ==
				  ST(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
			/* Same qid twice. */
			CU_ASSERT(connect(q3, NQN1, HOST2, 1, cntlid, 0, NULL) ==
				  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
			disconnect(q3);
		}
		/* The admin queue going away takes the I/O queue down. */
		disconnect(q);
		CU_ASSERT(ioq->fini);
		CU_ASSERT(TAILQ_EMPTY(&s->ctrlrs));
		free(ioq);
	}
	teardown();
}

static void test_properties(void)
{
	struct ut_qpair *q, *ioq;
	union axon_nvme_cap cap;
	union axon_nvme_csts csts;
	uint16_t st, cntlid;
	union axon_nvmf_cqe rsp;

	setup();
	make_subsystem(false);
	q = new_qpair();
	CU_ASSERT(connect(q, NQN1, HOST1, 0, 0xffff, 0, &rsp) == 0);
	cntlid = rsp.connect_rsp.status_code_specific.success.cntlid;
	cap.raw = ut_prop_get(q, AXON_NVME_PROP_CAP, AXON_NVMF_PROP_SIZE_8, &st);
	CU_ASSERT(st == 0);
	CU_ASSERT(cap.bits.mqes == 127);
	CU_ASSERT(cap.bits.css & 1);
	CU_ASSERT(ut_prop_get(q, AXON_NVME_PROP_VS, AXON_NVMF_PROP_SIZE_4, &st) == 0x10400);
	/* Wrong size, unknown offset, read-only register. */
	ut_prop_get(q, AXON_NVME_PROP_CAP, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(st == ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
	ut_prop_get(q, 0x40, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(st != 0);
	csts.raw = (uint32_t)ut_prop_get(q, AXON_NVME_PROP_CSTS, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(csts.bits.rdy == 0);
	/* Admin commands before enabling: sequence error. */
	CU_ASSERT(admin_cmd(q, nvme_admin_keep_alive, 0, 0, 0, NULL, 0, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR));
	CU_ASSERT(prop_set_cc_val(q, CC_ENABLE) == 0);
	csts.raw = (uint32_t)ut_prop_get(q, AXON_NVME_PROP_CSTS, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(csts.bits.rdy == 1);
	CU_ASSERT(ut_prop_get(q, AXON_NVME_PROP_CC, AXON_NVMF_PROP_SIZE_4, &st) == CC_ENABLE);
	/* Reset: EN 1 -> 0 takes the I/O queues down, then RDY clears. */
	ioq = new_qpair();
	CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) == 0);
	CU_ASSERT(prop_set_cc_val(q, 0) == 0);
	ut_poll_threads();
	CU_ASSERT(ioq->fini);
	free(ioq);
	csts.raw = (uint32_t)ut_prop_get(q, AXON_NVME_PROP_CSTS, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(csts.bits.rdy == 0);
	/* Enable again, then a normal shutdown: SHST goes to complete. */
	CU_ASSERT(prop_set_cc_val(q, CC_ENABLE) == 0);
	CU_ASSERT(prop_set_cc_val(q, CC_ENABLE | (AXON_NVME_SHN_NORMAL << 14)) == 0);
	ut_poll_threads();
	csts.raw = (uint32_t)ut_prop_get(q, AXON_NVME_PROP_CSTS, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(csts.bits.shst == AXON_NVME_SHST_COMPLETE);
	/* Bad queue entry sizes: CFS, never ready. */
	CU_ASSERT(prop_set_cc_val(q, 0) == 0);
	CU_ASSERT(prop_set_cc_val(q, 1) == 0);
	csts.raw = (uint32_t)ut_prop_get(q, AXON_NVME_PROP_CSTS, AXON_NVMF_PROP_SIZE_4, &st);
	CU_ASSERT(csts.bits.rdy == 0 && csts.bits.cfs == 1);
	disconnect(q);
	teardown();
}

static void test_admin_commands(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q;
	uint8_t buf[4096];
	struct nvme_id_ctrl *cd = (void *)buf;
	struct nvme_id_ns *nsd = (void *)buf;
	uint32_t cdw0;
	uint16_t cntlid;

	setup();
	s = make_subsystem(true);
	q = admin_connect(NQN1, 0, &cntlid);

	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 0, NVME_IDENTIFY_CNS_CTRL, 0, buf, 4096, NULL) == 0);
	CU_ASSERT(memcmp(cd->sn, "AXON0001            ", 20) == 0);
	CU_ASSERT(cd->cntlid == cntlid);
	CU_ASSERT(strcmp(cd->subnqn, NQN1) == 0);
	CU_ASSERT(cd->nn == 4);
	CU_ASSERT(cd->mdts == 5); /* 128 KiB / 4 KiB = 2^5 */
	CU_ASSERT(cd->ioccsz == (64 + 4096) / 16);
	CU_ASSERT(cd->cntrltype == NVME_CTRL_CNTRLTYPE_IO);
	CU_ASSERT(cd->oncs & 1);
	CU_ASSERT(cd->fuses & 1);
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 1, NVME_IDENTIFY_CNS_NS, 0, buf, 4096, NULL) == 0);
	CU_ASSERT(nsd->nsze == NBLOCKS);
	CU_ASSERT(nsd->lbaf[0].ds == 9);
	/* An inactive nsid: zeroes; beyond nn: invalid namespace. */
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 2, NVME_IDENTIFY_CNS_NS, 0, buf, 4096, NULL) == 0);
	CU_ASSERT(nsd->nsze == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 9, NVME_IDENTIFY_CNS_NS, 0, buf, 4096, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 0, NVME_IDENTIFY_CNS_NS_ACTIVE_LIST, 0, buf, 4096,
			    NULL) == 0);
	CU_ASSERT(((uint32_t *)buf)[0] == 1 && ((uint32_t *)buf)[1] == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 1, NVME_IDENTIFY_CNS_NS_DESC_LIST, 0, buf, 4096,
			    NULL) == 0);
	{
		/* NGUID first (no EUI64), then the UUID equal to the bdev's. */
		struct nvme_ns_id_desc *d = (void *)buf;

		CU_ASSERT(d->nidt == NVME_NIDT_NGUID && d->nidl == 16);
		d = (void *)(buf + 4 + 16);
		CU_ASSERT(d->nidt == NVME_NIDT_UUID && d->nidl == 16);
		CU_ASSERT(memcmp(d->nid, axon_bdev_get_uuid(g_bdev)->u, 16) == 0);
	}
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 0, 0x55, 0, buf, 4096, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	/* Log pages: SMART, firmware slot, error (with the failures so far). */
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0xffffffff,
			    NVME_LOG_LID_SMART | ((512 / 4 - 1) << 16), 0, buf, 512, NULL) == 0);
	CU_ASSERT(((struct nvme_smart_log *)buf)->avail_spare == 100);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_FW_SLOT | ((512 / 4 - 1) << 16),
			    0, buf, 512, NULL) == 0);
	CU_ASSERT(((struct nvme_firmware_slot *)buf)->afi == 1);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_ERROR | ((64 / 4 - 1) << 16), 0,
			    buf, 64, NULL) == 0);
	CU_ASSERT(((struct nvme_error_log_page *)buf)->error_count == 2);
	CU_ASSERT(((struct nvme_error_log_page *)buf)->cmdid == 42);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, 0x7f | (3u << 16), 0, buf, 16, NULL) ==
		  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE));
	/* Features. */
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_NUM_QUEUES, 0x00070007, NULL, 0,
			    &cdw0) == 0);
	CU_ASSERT(cdw0 == 0x00020002); /* 3 I/O queues, 0's based */
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_NUM_QUEUES, 0, NULL, 0, &cdw0) == 0);
	CU_ASSERT(cdw0 == 0x00020002);
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_KATO, 1500, NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_KATO, 0, NULL, 0, &cdw0) == 0);
	CU_ASSERT(cdw0 == 2000); /* rounded up to KAS (1 s) */
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_KATO, 0, NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_VOLATILE_WC, 0, NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_VOLATILE_WC, 0, NULL, 0, &cdw0) == 0);
	CU_ASSERT(cdw0 == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_ARBITRATION, 3, NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_ARBITRATION, 0, NULL, 0, &cdw0) == 0);
	CU_ASSERT(cdw0 == 3);
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_POWER_MGMT, 1, NULL, 0, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_ASYNC_EVENT, NVMF_AEC_NS_ATTR,
			    NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_HOST_ID, 1, buf, 16, NULL) == 0);
	CU_ASSERT(buf[0] == 0x11 && buf[15] == 0x11);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_features, 0, NVME_FEAT_FID_HOST_ID, 0, buf, 16, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_ARBITRATION | (1u << 31), 0,
			    NULL, 0, NULL) == ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE));
	/* Keep alive; an unknown opcode. */
	CU_ASSERT(admin_cmd(q, nvme_admin_keep_alive, 0, 0, 0, NULL, 0, NULL) == 0);
	CU_ASSERT(admin_cmd(q, 0xc5, 0, 0, 0, NULL, 0, NULL) == ST(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	/* Abort a parked AER. */
	{
		struct ut_req *aer = new_req(q, 0);

		aer->cmd.nvme.opc = nvme_admin_async_event;
		aer->cmd.nvme.cid = 77;
		run(aer);
		CU_ASSERT(!aer->done);
		CU_ASSERT(admin_cmd(q, nvme_admin_abort_cmd, 0, 77u << 16, 0, NULL, 0, &cdw0) == 0);
		CU_ASSERT(cdw0 == 0);
		CU_ASSERT(aer->done);
		CU_ASSERT(axon_nvme_cpl_get_status(&aer->rsp.nvme) == ST(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ));
		free_req(aer);
		CU_ASSERT(admin_cmd(q, nvme_admin_abort_cmd, 0, 78u << 16, 0, NULL, 0, &cdw0) == 0);
		CU_ASSERT(cdw0 == 1);
	}
	(void)s;
	disconnect(q);
	teardown();
}

static void test_ns_hotplug_aen(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q;
	struct ut_req *aer;
	uint32_t list[1024];
	uint16_t cntlid;
	int nsr[2];
	const uint32_t event = NVME_AER_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
			       (NVME_LOG_LID_CHANGED_NS << 16);

	setup();
	s = make_subsystem(false);
	q = admin_connect(NQN1, 0, &cntlid);
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_ASYNC_EVENT, NVMF_AEC_NS_ATTR,
			    NULL, 0, NULL) == 0);
	aer = new_req(q, 0);
	aer->cmd.nvme.opc = nvme_admin_async_event;
	run(aer);
	CU_ASSERT(!aer->done);

	/* Hot add with an explicit nsid. */
	{
		struct axon_nvmf_ns_opts o = {.nsid = 3};

		ut_set_thread(0);
		axon_nvmf_subsystem_add_ns(s, "Malloc0", &o, ns_cb, nsr);
		ut_poll_threads();
		CU_ASSERT(nsr[0] == 0 && nsr[1] == 3);
	}
	CU_ASSERT(aer->done);
	CU_ASSERT(aer->rsp.nvme.cdw0 == event);
	/* Another change before the log was read: no new event, but listed. */
	aer->done = false;
	run(aer);
	ut_set_thread(0);
	CU_ASSERT(axon_nvmf_subsystem_remove_ns(s, 3, ns_cb, nsr) == 0);
	ut_poll_threads();
	CU_ASSERT(nsr[0] == 0);
	CU_ASSERT(!aer->done);
	CU_ASSERT(axon_nvmf_subsystem_get_ns(s, 3) == NULL);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_CHANGED_NS | (1023u << 16), 0,
			    list, sizeof(list), NULL) == 0);
	CU_ASSERT(list[0] == 3 && list[1] == 0);
	/* Reading it (RAE clear) clears it and unmasks the event. */
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_CHANGED_NS | (1023u << 16), 0,
			    list, sizeof(list), NULL) == 0);
	CU_ASSERT(list[0] == 0);
	ut_set_thread(0);
	axon_nvmf_subsystem_add_ns(s, "Malloc0", NULL, ns_cb, nsr);
	ut_poll_threads();
	CU_ASSERT(nsr[0] == 0 && nsr[1] == 1);
	CU_ASSERT(aer->done);
	/* Errors: nsid in use, beyond max, unknown bdev, unknown nsid on remove. */
	{
		struct axon_nvmf_ns_opts o = {.nsid = 1};

		ut_set_thread(0);
		axon_nvmf_subsystem_add_ns(s, "Malloc0", &o, ns_cb, nsr);
		CU_ASSERT(nsr[0] == -EEXIST);
		o.nsid = 5;
		axon_nvmf_subsystem_add_ns(s, "Malloc0", &o, ns_cb, nsr);
		CU_ASSERT(nsr[0] == -EINVAL);
		axon_nvmf_subsystem_add_ns(s, "NoSuchBdev", NULL, ns_cb, nsr);
		CU_ASSERT(nsr[0] == -ENODEV);
		axon_nvmf_subsystem_remove_ns(s, 4, ns_cb, nsr);
		CU_ASSERT(nsr[0] == -ENOENT);
	}
	/* Bdev hot remove removes the namespace. */
	{
		int unreg_rc = 1;

		ut_set_thread(0);
		malloc_disk_delete(g_bdev, ut_unreg_done, &unreg_rc);
		ut_poll_threads();
		CU_ASSERT(unreg_rc == 0);
		CU_ASSERT(axon_nvmf_subsystem_get_ns(s, 1) == NULL);
		g_bdev = NULL;
	}
	free_req(aer);
	disconnect(q);
	teardown();
}

static uint16_t io(struct ut_qpair *q, uint8_t opc, uint64_t slba, uint32_t nlb, void *buf,
		   size_t len, uint32_t nsid)
{
	struct ut_req *r = new_req(q, len);
	uint16_t st;

	r->cmd.nvme.opc = opc;
	r->cmd.nvme.nsid = nsid;
	r->cmd.nvme.cdw10 = (uint32_t)slba;
	r->cmd.nvme.cdw11 = (uint32_t)(slba >> 32);
	r->cmd.nvme.cdw12 = nlb - 1;
	if (buf != NULL && opc != nvme_cmd_read) {
		memcpy(r->data, buf, len);
	}
	st = run(r);
	if (buf != NULL && opc == nvme_cmd_read) {
		memcpy(buf, r->data, len);
	}
	free_req(r);
	return st;
}

static void test_io_commands(void)
{
	struct ut_qpair *q, *ioq;
	uint8_t wbuf[4 * BLOCK], rbuf[4 * BLOCK];
	uint16_t cntlid;

	setup();
	make_subsystem(true);
	q = admin_connect(NQN1, 0, &cntlid);
	ioq = new_qpair();
	CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) == 0);

	for (size_t i = 0; i < sizeof(wbuf); i++) {
		wbuf[i] = (uint8_t)(i * 7 + 3);
	}
	CU_ASSERT(io(ioq, nvme_cmd_write, 8, 4, wbuf, sizeof(wbuf), 1) == 0);
	memset(rbuf, 0, sizeof(rbuf));
	CU_ASSERT(io(ioq, nvme_cmd_read, 8, 4, rbuf, sizeof(rbuf), 1) == 0);
	CU_ASSERT(memcmp(wbuf, rbuf, sizeof(wbuf)) == 0);
	CU_ASSERT(io(ioq, nvme_cmd_flush, 0, 1, NULL, 0, 1) == 0);
	/* Compare: equal, then different (media error Compare Failure). */
	CU_ASSERT(io(ioq, nvme_cmd_compare, 8, 4, wbuf, sizeof(wbuf), 1) == 0);
	wbuf[5] ^= 0xff;
	CU_ASSERT(io(ioq, nvme_cmd_compare, 8, 4, wbuf, sizeof(wbuf), 1) ==
		  ST(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
	wbuf[5] ^= 0xff;
	/* Write zeroes. */
	CU_ASSERT(io(ioq, nvme_cmd_write_zeroes, 9, 1, NULL, 0, 1) == 0);
	CU_ASSERT(io(ioq, nvme_cmd_read, 8, 4, rbuf, sizeof(rbuf), 1) == 0);
	CU_ASSERT(rbuf[BLOCK] == 0 && rbuf[2 * BLOCK - 1] == 0 && rbuf[0] == wbuf[0]);
	/* Status mapping of the checks. */
	CU_ASSERT(io(ioq, nvme_cmd_read, NBLOCKS - 1, 2, rbuf, 2 * BLOCK, 1) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE));
	CU_ASSERT(io(ioq, nvme_cmd_read, 0, 4, rbuf, BLOCK, 1) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA));
	CU_ASSERT(io(ioq, nvme_cmd_read, 0, 1, rbuf, BLOCK, 2) == ST(NVME_SCT_GENERIC, NVME_SC_INVALID_NS));
	CU_ASSERT(io(ioq, 0x7e, 0, 1, NULL, 0, 1) == ST(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE));
	/* Dataset management: deallocate two ranges (one beyond the end fails). */
	{
		struct ut_req *r = new_req(ioq, 2 * sizeof(struct nvme_dsm_range));
		struct nvme_dsm_range *rg = (void *)r->data;

		rg[0].slba = 0;
		rg[0].nlb = 2;
		rg[1].slba = 100;
		rg[1].nlb = 1;
		r->cmd.nvme.opc = nvme_cmd_dsm;
		r->cmd.nvme.nsid = 1;
		r->cmd.nvme.cdw10 = 1;
		r->cmd.nvme.cdw11 = NVME_DSMGMT_AD;
		CU_ASSERT(run(r) == 0);
		rg[1].slba = NBLOCKS;
		CU_ASSERT(run(r) == ST(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE));
		free_req(r);
	}
	/* Fused compare and write: match, then mismatch, then a missing half. */
	{
		struct ut_req *c = new_req(ioq, BLOCK), *w = new_req(ioq, BLOCK);

		CU_ASSERT(io(ioq, nvme_cmd_read, 8, 1, rbuf, BLOCK, 1) == 0);
		memcpy(c->data, rbuf, BLOCK);
		memset(w->data, 0x5a, BLOCK);
		c->cmd.nvme.opc = nvme_cmd_compare;
		c->cmd.nvme.fuse = AXON_NVME_FUSE_FIRST;
		w->cmd.nvme.opc = nvme_cmd_write;
		w->cmd.nvme.fuse = AXON_NVME_FUSE_SECOND;
		c->cmd.nvme.nsid = w->cmd.nvme.nsid = 1;
		c->cmd.nvme.cdw10 = w->cmd.nvme.cdw10 = 8;
		run(c);
		CU_ASSERT(!c->done);
		CU_ASSERT(run(w) == 0);
		CU_ASSERT(c->done && axon_nvme_cpl_get_status(&c->rsp.nvme) == 0);
		CU_ASSERT(io(ioq, nvme_cmd_read, 8, 1, rbuf, BLOCK, 1) == 0);
		CU_ASSERT(rbuf[0] == 0x5a && rbuf[BLOCK - 1] == 0x5a);
		/* Again with the old contents: miscompare, write not done. */
		memset(w->data, 0x77, BLOCK);
		run(c);
		CU_ASSERT(run(w) == ST(NVME_SCT_GENERIC, NVME_SC_FUSED_FAIL));
		CU_ASSERT((axon_nvme_cpl_get_status(&c->rsp.nvme) & 0x7ff) ==
			  ST(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED));
		CU_ASSERT(io(ioq, nvme_cmd_read, 8, 1, rbuf, BLOCK, 1) == 0);
		CU_ASSERT(rbuf[0] == 0x5a);
		/* First half followed by a plain read. */
		run(c);
		CU_ASSERT(io(ioq, nvme_cmd_read, 8, 1, rbuf, BLOCK, 1) == 0);
		CU_ASSERT(c->done);
		CU_ASSERT((axon_nvme_cpl_get_status(&c->rsp.nvme) & 0x7ff) ==
			  ST(NVME_SCT_GENERIC, NVME_SC_FUSED_MISSING));
		/* Second half alone. */
		CU_ASSERT(run(w) == ST(NVME_SCT_GENERIC, NVME_SC_FUSED_MISSING));
		free_req(c);
		free_req(w);
	}
	/* sqhd moves with every command and wraps at the queue size (32). */
	CU_ASSERT(ioq->qpair.sq_size == 32);
	/* Stats: I/O counted on the group of the I/O queue. */
	CU_ASSERT(ioq->qpair.group->stat.completed_nvme_io > 5);
	disconnect(ioq);
	disconnect(q);
	teardown();
}

static void test_pool_buffers(void)
{
	struct ut_qpair *q;
	struct axon_nvmf_request req;
	struct axon_nvmf_transport_poll_group *tg;
	uint16_t cntlid;

	setup();
	make_subsystem(false);
	q = admin_connect(NQN1, 0, &cntlid);
	tg = q->qpair.tgroup;
	memset(&req, 0, sizeof(req));
	ut_set_thread(thread_index(q->qpair.group->thread));
	CU_ASSERT(axon_nvmf_request_get_buffers(&req, tg, g_transport, 0) == -EINVAL);
	CU_ASSERT(axon_nvmf_request_get_buffers(&req, tg, g_transport, 131073) == -EINVAL);
	CU_ASSERT(axon_nvmf_request_get_buffers(&req, tg, g_transport, 20000) == 0);
	CU_ASSERT(req.iovcnt == 3);
	CU_ASSERT(req.iov[0].iov_len == 8192 && req.iov[2].iov_len == 20000 - 16384);
	CU_ASSERT(((uintptr_t)req.iov[1].iov_base & 4095) == 0);
	axon_nvmf_request_free_buffers(&req, tg, g_transport);
	CU_ASSERT(req.iovcnt == 0);
	CU_ASSERT(tg->buf_cache_count == 3);
	disconnect(q);
	teardown();
}

static void test_discovery(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q;
	uint8_t *buf = calloc(1, 8192);
	struct nvmf_discovery_log *log = (void *)buf;
	struct ut_req *aer;
	uint64_t gen;
	uint16_t cntlid;
	const uint32_t numd = 8192 / 4 - 1;

	setup();
	s = make_subsystem(true);
	/* Discovery through the listener of the NVMe subsystem, persistent (KATO). */
	q = admin_connect(AXON_NVMF_DISCOVERY_NQN, 10000, &cntlid);
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 0, NVME_IDENTIFY_CNS_CTRL, 0, buf, 4096, NULL) == 0);
	CU_ASSERT(((struct nvme_id_ctrl *)buf)->cntrltype == NVME_CTRL_CNTRLTYPE_DISCOVERY);
	CU_ASSERT(admin_cmd(q, nvme_admin_identify, 1, NVME_IDENTIFY_CNS_NS, 0, buf, 4096, NULL) ==
		  ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD));
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_DISCOVER | (numd << 16), 0, buf,
			    8192, NULL) == 0);
	CU_ASSERT(log->numrec == 1);
	CU_ASSERT(log->entries[0].subtype == NVME_NQN_NVME);
	CU_ASSERT(strcmp(log->entries[0].subnqn, NQN1) == 0);
	CU_ASSERT(strcmp(log->entries[0].traddr, "127.0.0.1") == 0);
	CU_ASSERT(strcmp(log->entries[0].trsvcid, "4420") == 0);
	CU_ASSERT(log->entries[0].cntlid == 0xffff);
	CU_ASSERT(log->entries[0].asqsz == 32);
	gen = log->genctr;
	CU_ASSERT(gen == axon_nvmf_tgt_get_discovery_genctr(g_tgt));
	/* Discovery log change event for a persistent discovery controller. */
	CU_ASSERT(admin_cmd(q, nvme_admin_set_features, 0, NVME_FEAT_FID_ASYNC_EVENT, NVMF_AEC_DISC_LOG,
			    NULL, 0, NULL) == 0);
	aer = new_req(q, 0);
	aer->cmd.nvme.opc = nvme_admin_async_event;
	run(aer);
	CU_ASSERT(!aer->done);
	/* A referral and a second listener: generation moves, entries appear. */
	{
		struct axon_nvmf_trid ref = g_trid, l2 = g_trid;

		strcpy(ref.traddr, "10.0.0.2");
		strcpy(ref.trsvcid, "8009");
		strcpy(l2.trsvcid, "4421");
		ut_set_thread(0);
		CU_ASSERT(axon_nvmf_tgt_add_referral(g_tgt, &ref, NULL, false) == 0);
		CU_ASSERT(axon_nvmf_tgt_add_referral(g_tgt, &ref, NULL, false) == -EEXIST);
		CU_ASSERT(axon_nvmf_subsystem_add_listener(s, &l2) == 0);
		CU_ASSERT(axon_nvmf_subsystem_add_listener(s, &l2) == -EEXIST);
		strcpy(l2.traddr, "10.0.0.99");
		CU_ASSERT(axon_nvmf_subsystem_add_listener(s, &l2) == -EADDRINUSE);
		ut_poll_threads();
	}
	CU_ASSERT(aer->done);
	CU_ASSERT(aer->rsp.nvme.cdw0 == (NVME_AER_NOTICE | (NVME_AER_NOTICE_DISC_CHANGED << 8) |
					 (NVME_LOG_LID_DISCOVER << 16)));
	free_req(aer);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_DISCOVER | (numd << 16), 0, buf,
			    8192, NULL) == 0);
	CU_ASSERT(log->genctr > gen);
	CU_ASSERT(log->numrec == 3);
	CU_ASSERT(log->entries[2].subtype == NVME_NQN_DISC);
	CU_ASSERT(strcmp(log->entries[2].subnqn, AXON_NVMF_DISCOVERY_NQN) == 0);
	CU_ASSERT(log->entries[1].portid != log->entries[0].portid);
	/* Partial read at an offset: the second entry only. */
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_DISCOVER | ((1024 / 4 - 1) << 16),
			    0, buf, 1024, NULL) == 0);
	{
		struct ut_req *r = new_req(q, 1024);

		r->cmd.nvme.opc = nvme_admin_get_log_page;
		r->cmd.nvme.cdw10 = NVME_LOG_LID_DISCOVER | ((1024 / 4 - 1) << 16);
		r->cmd.nvme.cdw12 = 1024 + 1024;
		CU_ASSERT(run(r) == 0);
		CU_ASSERT(strcmp(((struct nvmf_disc_log_entry *)r->data)->trsvcid, "4421") == 0);
		free_req(r);
	}
	/* A host that is not allowed sees nothing of the subsystem. */
	ut_set_thread(0);
	CU_ASSERT(axon_nvmf_subsystem_remove_host(s, HOST1) == 0);
	CU_ASSERT(admin_cmd(q, nvme_admin_get_log_page, 0, NVME_LOG_LID_DISCOVER | (numd << 16), 0, buf,
			    8192, NULL) == 0);
	CU_ASSERT(log->numrec == 1);
	/* I/O queues cannot be created on a discovery controller. */
	{
		struct ut_qpair *ioq = new_qpair();

		CU_ASSERT(connect(ioq, AXON_NVMF_DISCOVERY_NQN, HOST1, 1, cntlid, 0, NULL) ==
			  ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_PARAM));
		disconnect(ioq);
	}
	free(buf);
	disconnect(q);
	teardown();
}

static void test_keep_alive_timeout(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q, *ioq;
	uint16_t cntlid;

	setup();
	s = make_subsystem(true);
	q = admin_connect(NQN1, 1000, &cntlid);
	ioq = new_qpair();
	CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) == 0);
	/* Keep alives keep it up. */
	for (int i = 0; i < 4; i++) {
		ut_ticks_advance(600000);
		ut_poll_threads();
		CU_ASSERT(admin_cmd(q, nvme_admin_keep_alive, 0, 0, 0, NULL, 0, NULL) == 0);
	}
	CU_ASSERT(!q->fini);
	/* Silence for longer than KATO tears both queues and the controller down. */
	for (int i = 0; i < 10; i++) {
		ut_ticks_advance(300000);
		ut_poll_threads();
	}
	CU_ASSERT(q->fini);
	CU_ASSERT(ioq->fini);
	CU_ASSERT(TAILQ_EMPTY(&s->ctrlrs));
	free(q);
	free(ioq);
	teardown();
}

static void test_teardown_with_io_in_flight(void)
{
	struct axon_nvmf_subsystem *s;
	struct ut_qpair *q, *ioq;
	struct ut_req *r[4];
	bool done = false;
	uint16_t cntlid;

	setup();
	s = make_subsystem(true);
	q = admin_connect(NQN1, 0, &cntlid);
	ioq = new_qpair();
	CU_ASSERT(connect(ioq, NQN1, HOST1, 1, cntlid, 0, NULL) == 0);
	ut_set_thread(thread_index(ioq->qpair.group->thread));
	for (int i = 0; i < 4; i++) {
		r[i] = new_req(ioq, BLOCK);
		r[i]->cmd.nvme.opc = nvme_cmd_read;
		r[i]->cmd.nvme.nsid = 1;
		r[i]->cmd.nvme.cdw10 = (uint32_t)i;
		axon_nvmf_request_exec(&r[i]->req);
	}
	/* The host disappears with 4 reads in flight. */
	CU_ASSERT(ioq->qpair.outstanding == 4);
	CU_ASSERT(axon_nvmf_qpair_disconnect(&ioq->qpair, done_flag, &done) == 0);
	CU_ASSERT(axon_nvmf_qpair_disconnect(&ioq->qpair, NULL, NULL) == -EINPROGRESS);
	CU_ASSERT(!ioq->fini);
	ut_poll_threads();
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(r[i]->done);
		free_req(r[i]);
	}
	CU_ASSERT(done && ioq->fini);
	free(ioq);
	/* Deleting the subsystem takes the controller down. */
	done = false;
	ut_set_thread(0);
	CU_ASSERT(axon_nvmf_subsystem_destroy(s, done_flag, &done) == 0);
	CU_ASSERT(axon_nvmf_subsystem_destroy(g_tgt->discovery, done_flag, &done) == -EINVAL);
	ut_poll_threads();
	CU_ASSERT(done);
	CU_ASSERT(q->fini);
	CU_ASSERT(axon_nvmf_tgt_find_subsystem(g_tgt, NQN1) == NULL);
	free(q);
	teardown();
}

int main(void)
{
	CU_pSuite suite;
	unsigned n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("nvmf", NULL, NULL);
	CU_ADD_TEST(suite, test_nqn);
	CU_ADD_TEST(suite, test_subsystem_state_machine);
	CU_ADD_TEST(suite, test_connect_checks);
	CU_ADD_TEST(suite, test_properties);
	CU_ADD_TEST(suite, test_admin_commands);
	CU_ADD_TEST(suite, test_ns_hotplug_aen);
	CU_ADD_TEST(suite, test_io_commands);
	CU_ADD_TEST(suite, test_pool_buffers);
	CU_ADD_TEST(suite, test_discovery);
	CU_ADD_TEST(suite, test_keep_alive_timeout);
	CU_ADD_TEST(suite, test_teardown_with_io_in_flight);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
