/*
 * Test doubles for rdma_ut.c (included there, after the transport): fake
 * verbs (a context whose ops capture sends and receives and hand out work
 * completions), a fake RDMA CM (a scripted event queue), a fake lib/rdma
 * (one device, a table of registrations, the device's memory domain with a
 * translate callback over that table), and two caller memory domains: one
 * the NIC reaches, one it does not.
 */
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- fake verbs: one context, CQ, QP, PD ------------------------------------------ */

#define FV_MAX 256
#define FV_CAPTURE 8192

struct fv_send {
	uint64_t wr_id;
	int num_sge;
	struct ibv_sge sge[2];
	uint8_t bytes[FV_CAPTURE]; /* what the NIC would have read, sge after sge */
	uint32_t len;
};

static struct {
	struct ibv_context ctx;
	struct ibv_cq cq;
	struct ibv_qp qp;
	struct ibv_pd pd;
	struct ibv_wc wcs[FV_MAX];
	int nwc;
	struct fv_send sends[64];
	int nsends;
	uint64_t recvs[FV_MAX]; /* posted receive wr_ids, in order */
	int recv_head, recv_tail;
	int post_send_rc;
	int cq_created, cq_destroyed;
} g_fv;

static int fv_poll_cq(struct ibv_cq *cq, int num, struct ibv_wc *wc)
{
	int n = num < g_fv.nwc ? num : g_fv.nwc;

	memcpy(wc, g_fv.wcs, sizeof(*wc) * (size_t)n);
	memmove(g_fv.wcs, g_fv.wcs + n, sizeof(*wc) * (size_t)(g_fv.nwc - n));
	g_fv.nwc -= n;
	return n;
}

static int fv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fv_send *s;
	int i;

	if (g_fv.post_send_rc != 0) {
		*bad = wr;
		return g_fv.post_send_rc;
	}
	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT_FATAL(g_fv.nsends < 64);
		CU_ASSERT_EQUAL(wr->opcode, IBV_WR_SEND);
		CU_ASSERT(wr->send_flags & IBV_SEND_SIGNALED);
		s = &g_fv.sends[g_fv.nsends++];
		s->wr_id = wr->wr_id;
		s->num_sge = wr->num_sge;
		s->len = 0;
		for (i = 0; i < wr->num_sge && i < 2; i++) {
			s->sge[i] = wr->sg_list[i];
			CU_ASSERT_FATAL(s->len + wr->sg_list[i].length <= FV_CAPTURE);
			memcpy(s->bytes + s->len, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			s->len += wr->sg_list[i].length;
		}
	}
	return 0;
}

static int fv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	for (; wr != NULL; wr = wr->next) {
		CU_ASSERT_EQUAL(wr->num_sge, 1);
		CU_ASSERT_EQUAL(wr->sg_list[0].length, 16);
		g_fv.recvs[g_fv.recv_tail++ % FV_MAX] = wr->wr_id;
	}
	return 0;
}

struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe, void *cq_context,
			     struct ibv_comp_channel *channel, int comp_vector)
{
	g_fv.cq_created++;
	g_fv.cq.context = &g_fv.ctx;
	return &g_fv.cq;
}

int ibv_destroy_cq(struct ibv_cq *cq)
{
	g_fv.cq_destroyed++;
	return 0;
}

static void fv_reset(void)
{
	memset(&g_fv, 0, sizeof(g_fv));
	g_fv.ctx.ops.poll_cq = fv_poll_cq;
	g_fv.ctx.ops.post_send = fv_post_send;
	g_fv.ctx.ops.post_recv = fv_post_recv;
	g_fv.qp.context = &g_fv.ctx;
	g_fv.qp.pd = &g_fv.pd;
	g_fv.cq.context = &g_fv.ctx;
}

static void fv_push_wc(uint64_t wr_id, enum ibv_wc_status status, enum ibv_wc_opcode opcode,
		       uint32_t byte_len, unsigned int flags)
{
	struct ibv_wc *wc;

	CU_ASSERT_FATAL(g_fv.nwc < FV_MAX);
	wc = &g_fv.wcs[g_fv.nwc++];
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = wr_id;
	wc->status = status;
	wc->opcode = opcode;
	wc->byte_len = byte_len;
	wc->wc_flags = flags;
}

/* ---- fake RDMA CM ----------------------------------------------------------------- */

static struct {
	struct rdma_cm_event events[16];
	int nev, evpos;
	int ids_created, ids_destroyed;
	int channels_created, channels_destroyed;
	int acks, disconnects, qps_destroyed;
	int resolve_addr_rc, resolve_route_calls;
	bool connected_called;
	struct nvme_rdma_cm_req priv;
	uint8_t priv_len;
	struct rdma_conn_param param;
	/* private data the target sends with an accept or a reject */
	uint8_t tgt_priv[64];
} g_cm;

struct rdma_event_channel *rdma_create_event_channel(void)
{
	struct rdma_event_channel *ch = calloc(1, sizeof(*ch));

	ch->fd = eventfd(0, 0);
	g_cm.channels_created++;
	return ch;
}

void rdma_destroy_event_channel(struct rdma_event_channel *channel)
{
	close(channel->fd);
	free(channel);
	g_cm.channels_destroyed++;
}

int rdma_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context,
		   enum rdma_port_space ps)
{
	*id = calloc(1, sizeof(**id));
	(*id)->channel = channel;
	(*id)->context = context;
	(*id)->verbs = &g_fv.ctx;
	(*id)->ps = ps;
	g_cm.ids_created++;
	return 0;
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
	CU_ASSERT_PTR_NULL(id->qp);
	free(id);
	g_cm.ids_destroyed++;
	return 0;
}

int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr, struct sockaddr *dst_addr,
		      int timeout_ms)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)dst_addr;

	CU_ASSERT_EQUAL(sin->sin_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(sin->sin_port), 4420);
	if (g_cm.resolve_addr_rc != 0) {
		errno = g_cm.resolve_addr_rc;
		return -1;
	}
	return 0;
}

int rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	g_cm.resolve_route_calls++;
	return 0;
}

int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	CU_ASSERT_PTR_NOT_NULL(id->qp);
	g_cm.connected_called = true;
	g_cm.param = *conn_param;
	g_cm.priv_len = conn_param->private_data_len;
	memcpy(&g_cm.priv, conn_param->private_data, sizeof(g_cm.priv));
	return 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
	g_cm.disconnects++;
	return 0;
}

void rdma_destroy_qp(struct rdma_cm_id *id)
{
	id->qp = NULL;
	g_cm.qps_destroyed++;
}

int rdma_get_cm_event(struct rdma_event_channel *channel, struct rdma_cm_event **event)
{
	if (g_cm.evpos == g_cm.nev) {
		errno = EAGAIN;
		return -1;
	}
	*event = &g_cm.events[g_cm.evpos++];
	return 0;
}

int rdma_ack_cm_event(struct rdma_cm_event *event)
{
	g_cm.acks++;
	return 0;
}

static void cm_reset(void)
{
	memset(&g_cm, 0, sizeof(g_cm));
}

static void cm_push(enum rdma_cm_event_type type, int status, const void *priv, uint8_t len)
{
	struct rdma_cm_event *ev;

	CU_ASSERT_FATAL(g_cm.nev < 16);
	ev = &g_cm.events[g_cm.nev++];
	memset(ev, 0, sizeof(*ev));
	ev->event = type;
	ev->status = status;
	if (priv != NULL) {
		memcpy(g_cm.tgt_priv, priv, len);
		ev->param.conn.private_data = g_cm.tgt_priv;
		ev->param.conn.private_data_len = len;
	}
}

/* ---- fake lib/rdma: one device, a registration table, the device's domain --------- */

#define FR_MAX_REGS 16

static struct {
	int init_refs;
	uint32_t devices;
	int dev_refs;
	int removed;
	struct ibv_device_attr attr;
	struct {
		uintptr_t start, end;
	} regs[FR_MAX_REGS];
	int register_rc;
	uint32_t qp_max_send_wr; /* 0: grant what is asked */
	struct axon_memory_domain *domain;
} g_fr;

static char g_fake_dev;

int axon_rdma_init(void)
{
	g_fr.init_refs++;
	return 0;
}

void axon_rdma_fini(void)
{
	g_fr.init_refs--;
}

uint32_t axon_rdma_device_count(void)
{
	return g_fr.devices;
}

int axon_rdma_mem_register(void *addr, size_t len)
{
	int i;

	if (g_fr.register_rc != 0) {
		return g_fr.register_rc;
	}
	for (i = 0; i < FR_MAX_REGS; i++) {
		if (g_fr.regs[i].start == 0) {
			g_fr.regs[i].start = (uintptr_t)addr;
			g_fr.regs[i].end = (uintptr_t)addr + len;
			return 0;
		}
	}
	return -ENOMEM;
}

int axon_rdma_mem_unregister(void *addr, size_t len)
{
	int i;

	for (i = 0; i < FR_MAX_REGS; i++) {
		if (g_fr.regs[i].start == (uintptr_t)addr) {
			CU_ASSERT_EQUAL(g_fr.regs[i].end, (uintptr_t)addr + len);
			g_fr.regs[i].start = 0;
			return 0;
		}
	}
	CU_FAIL("unregistering what was not registered");
	return -ENOENT;
}

struct axon_rdma_device *axon_rdma_device_get_by_context(struct ibv_context *ctx)
{
	if (ctx != &g_fv.ctx) {
		return NULL;
	}
	g_fr.dev_refs++;
	return (struct axon_rdma_device *)(void *)&g_fake_dev;
}

void axon_rdma_device_put(struct axon_rdma_device *dev)
{
	if (dev != NULL) {
		g_fr.dev_refs--;
	}
}

struct axon_memory_domain *axon_rdma_device_get_memory_domain(const struct axon_rdma_device *dev)
{
	return g_fr.domain;
}

const struct ibv_device_attr *axon_rdma_device_get_attr(const struct axon_rdma_device *dev)
{
	return &g_fr.attr;
}

void axon_rdma_device_set_removed(struct axon_rdma_device *dev)
{
	g_fr.removed++;
}

int axon_rdma_qp_create(struct rdma_cm_id *id, struct axon_rdma_qp_opts *opts)
{
	CU_ASSERT_PTR_EQUAL(opts->send_cq, &g_fv.cq);
	CU_ASSERT_PTR_EQUAL(opts->recv_cq, &g_fv.cq);
	if (g_fr.qp_max_send_wr != 0) {
		opts->max_send_wr = g_fr.qp_max_send_wr;
	}
	id->qp = &g_fv.qp;
	return 0;
}

/* Keys of the registration holding [addr, addr + len): lkey 0x100 + slot, rkey 0x200 + slot. */
static int fr_lookup(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	int i;

	for (i = 0; i < FR_MAX_REGS; i++) {
		if (g_fr.regs[i].start != 0 && a >= g_fr.regs[i].start && a < g_fr.regs[i].end) {
			return a + len <= g_fr.regs[i].end ? i : -ERANGE;
		}
	}
	return -ENOENT;
}

static int fr_translate(struct axon_memory_domain *src, void *src_ctx,
			struct axon_memory_domain *dst,
			struct axon_memory_domain_translation_ctx *dst_ctx, void *addr, size_t len,
			struct axon_memory_domain_translation_result *res)
{
	int slot = fr_lookup(addr, len);

	CU_ASSERT_PTR_EQUAL(dst, g_fr.domain);
	if (slot < 0) {
		return slot;
	}
	res->iov_inline.iov_base = addr;
	res->iov_inline.iov_len = len;
	res->iov = &res->iov_inline;
	res->iovcnt = 1;
	res->rdma.lkey = 0x100u + (uint32_t)slot;
	res->rdma.rkey = 0x200u + (uint32_t)slot;
	return 0;
}

static void fr_reset(void)
{
	memset(&g_fr, 0, sizeof(g_fr));
	g_fr.devices = 1;
	g_fr.attr.max_qp_rd_atom = 16;
}

/* ---- caller domains: one the NIC reaches, one it does not ------------------------- */

static struct {
	struct axon_memory_domain *reach;   /* RDMA domain: translates to keys */
	struct axon_memory_domain *far;     /* no translation: pull and push */
	int translations, invalidations, pulls, pushes;
	bool async;                         /* far: complete later */
	int fail_rc;                        /* far: returned / reported error */
	bool fail_in_cb;
	axon_memory_domain_data_cpl_cb pending_cb;
	void *pending_arg;
	uint8_t far_src[16384];             /* "device memory" of the far domain */
} g_dom;

static int reach_translate(struct axon_memory_domain *src, void *src_ctx,
			   struct axon_memory_domain *dst,
			   struct axon_memory_domain_translation_ctx *dst_ctx, void *addr,
			   size_t len, struct axon_memory_domain_translation_result *res)
{
	CU_ASSERT_PTR_EQUAL(src_ctx, (void *)0x5eed);
	CU_ASSERT_PTR_EQUAL(dst_ctx->rdma.ibv_qp, &g_fv.qp);
	g_dom.translations++;
	res->iov_inline.iov_base = (uint8_t *)addr + 0x1000; /* the domain's own addressing */
	res->iov_inline.iov_len = len;
	res->iov = &res->iov_inline;
	res->iovcnt = 1;
	res->rdma.lkey = 0xabc;
	res->rdma.rkey = 0xdef;
	return 0;
}

static void reach_invalidate(struct axon_memory_domain *d, void *ctx, const struct iovec *iov,
			     uint32_t iovcnt)
{
	g_dom.invalidations++;
}

static void copy_iovs(const struct iovec *dst, uint32_t dcnt, const struct iovec *src,
		      uint32_t scnt)
{
	uint8_t tmp[16384];
	size_t n = 0;
	uint32_t i;

	for (i = 0; i < scnt; i++) {
		memcpy(tmp + n, src[i].iov_base, src[i].iov_len);
		n += src[i].iov_len;
	}
	n = 0;
	for (i = 0; i < dcnt; i++) {
		memcpy(dst[i].iov_base, tmp + n, dst[i].iov_len);
		n += dst[i].iov_len;
	}
}

static int far_finish(axon_memory_domain_data_cpl_cb cb, void *arg)
{
	if (g_dom.fail_rc != 0 && !g_dom.fail_in_cb) {
		return g_dom.fail_rc;
	}
	if (g_dom.async) {
		g_dom.pending_cb = cb;
		g_dom.pending_arg = arg;
		return 0;
	}
	cb(arg, g_dom.fail_in_cb ? g_dom.fail_rc : 0);
	return 0;
}

static int far_pull(struct axon_memory_domain *d, void *ctx, const struct iovec *src,
		    uint32_t scnt, const struct iovec *dst, uint32_t dcnt,
		    axon_memory_domain_data_cpl_cb cb, void *arg)
{
	g_dom.pulls++;
	if (g_dom.fail_rc == 0) {
		copy_iovs(dst, dcnt, src, scnt);
	}
	return far_finish(cb, arg);
}

static int far_push(struct axon_memory_domain *d, void *ctx, const struct iovec *dst,
		    uint32_t dcnt, const struct iovec *src, uint32_t scnt,
		    axon_memory_domain_data_cpl_cb cb, void *arg)
{
	g_dom.pushes++;
	if (g_dom.fail_rc == 0) {
		copy_iovs(dst, dcnt, src, scnt);
	}
	return far_finish(cb, arg);
}

static void dom_run_pending(int rc)
{
	axon_memory_domain_data_cpl_cb cb = g_dom.pending_cb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(cb);
	g_dom.pending_cb = NULL;
	cb(g_dom.pending_arg, rc);
}
