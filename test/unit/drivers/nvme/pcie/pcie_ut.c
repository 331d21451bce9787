/*
 * Unit tests of drivers/nvme/pcie without a device: PRP and SGL
 * construction for every iovec shape (IOVAs from a fake axon_vtophys), and
 * the rings (phase tag, doorbell batching, health checks, the shared admin
 * queue and I/O queue creation) over a fake BAR0 made of plain memory.
 */
#define PCIE_MMIO_HOOKS 1

#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "drivers/nvme/pcie/pcie.c"
#include "drivers/nvme/pcie/pcie_payload.c"
#include "drivers/nvme/pcie/pcie_qpair.c"
#include "drivers/nvme/pcie/pcie_admin.c"

/* ---- fake MMIO ----------------------------------------------------------------- */

static uint32_t g_mmio_writes;

/*
 * A minimal controller for one admin queue: when its SQ tail doorbell is
 * written, every new command completes successfully at once.
 */
static struct pcie_qpair *g_fake_aq;
static uint32_t g_fake_sq_head, g_fake_cq_tail;
static uint16_t g_fake_phase;

static void fake_device_run(uint32_t new_tail)
{
	struct pcie_qpair *aq = g_fake_aq;

	while (g_fake_sq_head != new_tail) {
		volatile struct axon_nvme_cpl *e = &aq->cq[g_fake_cq_tail];

		e->cdw0 = 0;
		e->sqid = 0;
		e->sqhd = (uint16_t)g_fake_sq_head;
		e->cid = aq->sq[g_fake_sq_head].cid;
		e->status = g_fake_phase;
		g_fake_sq_head = (g_fake_sq_head + 1) % aq->depth;
		if (++g_fake_cq_tail == aq->depth) {
			g_fake_cq_tail = 0;
			g_fake_phase ^= 1u;
		}
	}
}

uint32_t pcie_mmio_read_4(const volatile uint32_t *addr)
{
	return *addr;
}

void pcie_mmio_write_4(volatile uint32_t *addr, uint32_t value)
{
	g_mmio_writes++;
	*addr = value;
	if (g_fake_aq != NULL && addr == g_fake_aq->sq_tdbl) {
		fake_device_run(value);
	}
}

/* ---- lib/env doubles: identity IOVAs unless a map says otherwise ------------------- */

struct fake_map {
	uint64_t va;
	uint64_t len;
	uint64_t iova;
};

static struct fake_map g_map[8];
static int g_map_count;
static bool g_vtophys_fail;

uint64_t axon_vtophys(const void *buf, uint64_t *size)
{
	uint64_t va = (uint64_t)(uintptr_t)buf;
	int i;

	if (g_vtophys_fail) {
		return AXON_VTOPHYS_ERROR;
	}
	for (i = 0; i < g_map_count; i++) {
		if (va >= g_map[i].va && va < g_map[i].va + g_map[i].len) {
			uint64_t left = g_map[i].va + g_map[i].len - va;

			if (size != NULL && (*size == 0 || *size > left)) {
				*size = left;
			}
			return g_map[i].iova + (va - g_map[i].va);
		}
	}
	return va;
}

void *axon_dma_zmalloc(size_t size, size_t align, int socket_id)
{
	void *buf = aligned_alloc(align, AXON_ALIGN_UP(size, align));

	if (buf != NULL) {
		memset(buf, 0, size);
	}
	return buf;
}

void axon_dma_free(void *buf)
{
	free(buf);
}

bool axon_env_is_initialized(void)
{
	return true;
}

/* ---- lib/nvme doubles ------------------------------------------------------------------ */

static const struct axon_nvme_transport_ops *g_registered;
static struct axon_nvme_trid g_trid;

void axon_nvme_transport_register(const struct axon_nvme_transport_ops *ops)
{
	g_registered = ops;
}

const struct axon_nvme_trid *axon_nvme_ctrlr_get_trid(const struct axon_nvme_ctrlr *ctrlr)
{
	return &g_trid;
}

#define MAX_RECORDED 64

static struct pcie_ctrlr g_pctrlr;
static struct nvme_id_ctrl g_cdata;
static struct axon_nvme_ctrlr_opts g_opts;
static struct axon_nvme_cpl g_done[MAX_RECORDED];
static struct axon_nvme_request *g_done_req[MAX_RECORDED];
static int g_done_count;

void *axon_nvme_ctrlr_get_transport_ctx(const struct axon_nvme_ctrlr *ctrlr)
{
	return &g_pctrlr;
}

const struct nvme_id_ctrl *axon_nvme_ctrlr_get_data(const struct axon_nvme_ctrlr *ctrlr)
{
	return &g_cdata;
}

const struct axon_nvme_ctrlr_opts *axon_nvme_ctrlr_get_opts(const struct axon_nvme_ctrlr *ctrlr)
{
	return &g_opts;
}

void axon_nvme_qpair_complete_request(struct axon_nvme_qpair *qpair,
				      struct axon_nvme_request *req,
				      const struct axon_nvme_cpl *cpl)
{
	CU_ASSERT_FATAL(g_done_count < MAX_RECORDED);
	g_done_req[g_done_count] = req;
	g_done[g_done_count++] = *cpl;
}

/* ---- PRP ---------------------------------------------------------------------------------- */

#define LIST_IOVA 0xabc000u
#define PG 4096u

static uint64_t g_list[PCIE_PRP_LIST_ENTRIES];
static uint64_t g_prp1, g_prp2;

static void reset_fakes(void)
{
	g_map_count = 0;
	g_vtophys_fail = false;
	memset(g_list, 0, sizeof(g_list));
	g_prp1 = g_prp2 = 0xdead;
}

static struct iovec iov_at(uint64_t va, size_t len)
{
	return (struct iovec){.iov_base = (void *)(uintptr_t)va, .iov_len = len};
}

static int prps(const struct iovec *iov, int iovcnt, uint32_t len)
{
	return pcie_build_prps(iov, iovcnt, len, &g_prp1, &g_prp2, g_list, LIST_IOVA);
}

static void test_prp_empty_and_single_page(void)
{
	struct iovec iov = iov_at(0x100000, PG);

	reset_fakes();
	CU_ASSERT(prps(&iov, 1, 0) == 0);
	CU_ASSERT(g_prp1 == 0 && g_prp2 == 0);
	CU_ASSERT(prps(&iov, 1, PG) == 0);
	CU_ASSERT(g_prp1 == 0x100000 && g_prp2 == 0);
	/* Inside one page, at an offset. */
	iov = iov_at(0x100200, 512);
	CU_ASSERT(prps(&iov, 1, 512) == 0);
	CU_ASSERT(g_prp1 == 0x100200 && g_prp2 == 0);
}

static void test_prp_two_pages(void)
{
	struct iovec iov = iov_at(0x100800, PG);

	reset_fakes();
	/* Crossing one boundary: PRP2 is the second page itself, no list. */
	CU_ASSERT(prps(&iov, 1, PG) == 0);
	CU_ASSERT(g_prp1 == 0x100800 && g_prp2 == 0x101000);
	iov = iov_at(0x100000, 2 * PG);
	CU_ASSERT(prps(&iov, 1, 2 * PG) == 0);
	CU_ASSERT(g_prp1 == 0x100000 && g_prp2 == 0x101000);
}

static void test_prp_list(void)
{
	struct iovec iov = iov_at(0x100200, 2 * PG);

	reset_fakes();
	/* Three pages touched: PRP2 points at the list. */
	CU_ASSERT(prps(&iov, 1, 2 * PG) == 0);
	CU_ASSERT(g_prp1 == 0x100200);
	CU_ASSERT(g_prp2 == LIST_IOVA);
	CU_ASSERT(g_list[0] == 0x101000 && g_list[1] == 0x102000);
	/* iov longer than the payload: only len counts. */
	iov = iov_at(0x100000, 16 * PG);
	CU_ASSERT(prps(&iov, 1, 3 * PG) == 0);
	CU_ASSERT(g_prp2 == LIST_IOVA && g_list[1] == 0x102000);
}

static void test_prp_multiple_iovecs(void)
{
	struct iovec iov[3] = {iov_at(0x100200, 0xe00), iov_at(0x200000, 2 * PG),
			       iov_at(0x300000, 0x100)};

	reset_fakes();
	CU_ASSERT(prps(iov, 3, 0xe00 + 2 * PG + 0x100) == 0);
	CU_ASSERT(g_prp1 == 0x100200);
	CU_ASSERT(g_prp2 == LIST_IOVA);
	CU_ASSERT(g_list[0] == 0x200000 && g_list[1] == 0x201000 && g_list[2] == 0x300000);
	/* Two page-aligned iovecs of one page each: PRP1 + PRP2, no list. */
	iov[0] = iov_at(0x400000, PG);
	iov[1] = iov_at(0x800000, PG);
	CU_ASSERT(prps(iov, 2, 2 * PG) == 0);
	CU_ASSERT(g_prp1 == 0x400000 && g_prp2 == 0x800000);
	/* Zero-length elements are skipped. */
	iov[0] = iov_at(0x400000, PG);
	iov[1] = iov_at(0x123456, 0);
	iov[2] = iov_at(0x800000, PG);
	CU_ASSERT(prps(iov, 3, 2 * PG) == 0);
	CU_ASSERT(g_prp1 == 0x400000 && g_prp2 == 0x800000);
}

static void test_prp_rejects(void)
{
	struct iovec iov[2];

	reset_fakes();
	/* A later element not starting on a page. */
	iov[0] = iov_at(0x100000, PG);
	iov[1] = iov_at(0x200200, 512);
	CU_ASSERT(prps(iov, 2, PG + 512) == -EINVAL);
	/* An element other than the last ending inside a page. */
	iov[0] = iov_at(0x100000, 512);
	iov[1] = iov_at(0x200000, PG);
	CU_ASSERT(prps(iov, 2, PG + 512) == -EINVAL);
	/* Not dword-aligned. */
	iov[0] = iov_at(0x100001, 512);
	CU_ASSERT(prps(iov, 1, 512) == -EINVAL);
	/* iov shorter than the payload. */
	iov[0] = iov_at(0x100000, PG);
	CU_ASSERT(prps(iov, 1, 2 * PG) == -EINVAL);
	/* Memory without an IOVA. */
	g_vtophys_fail = true;
	CU_ASSERT(prps(iov, 1, PG) == -EINVAL);
}

static void test_prp_iova_discontiguous(void)
{
	struct iovec iov = iov_at(0x500000, 2 * PG);

	reset_fakes();
	/* One virtual buffer, two IOVA ranges split on a page: fine for PRPs. */
	g_map[0] = (struct fake_map){0x500000, PG, 0x900000};
	g_map[1] = (struct fake_map){0x501000, PG, 0x700000};
	g_map_count = 2;
	CU_ASSERT(prps(&iov, 1, 2 * PG) == 0);
	CU_ASSERT(g_prp1 == 0x900000 && g_prp2 == 0x700000);
	/* Split inside a page: PRPs cannot say that. */
	g_map[0] = (struct fake_map){0x500000, 0x800, 0x900000};
	g_map[1] = (struct fake_map){0x500800, 0x1800, 0x700800};
	CU_ASSERT(prps(&iov, 1, 2 * PG) == -EINVAL);
}

static void test_prp_max_transfer(void)
{
	struct iovec iov = iov_at(0x10000200, PCIE_MAX_XFER_SIZE + PG);

	reset_fakes();
	/* 2 MiB at an offset touches 513 pages: PRP1 and a full list. */
	CU_ASSERT(prps(&iov, 1, PCIE_MAX_XFER_SIZE) == 0);
	CU_ASSERT(g_prp1 == 0x10000200 && g_prp2 == LIST_IOVA);
	CU_ASSERT(g_list[PCIE_PRP_LIST_ENTRIES - 1] == 0x10000000 + PCIE_MAX_XFER_SIZE);
	/* One page more does not fit in one list page. */
	CU_ASSERT(prps(&iov, 1, PCIE_MAX_XFER_SIZE + PG) == -EINVAL);
}

/* ---- SGL ---------------------------------------------------------------------------------- */

static struct axon_nvme_sgl_desc g_sgl1, g_sgl_list[PCIE_SGL_LIST_ENTRIES];

static int sgl(const struct iovec *iov, int iovcnt, uint32_t len, bool dword)
{
	return pcie_build_sgl(iov, iovcnt, len, dword, &g_sgl1, g_sgl_list, LIST_IOVA);
}

static void test_sgl_single(void)
{
	struct iovec iov = iov_at(0x100200, 3 * PG);

	reset_fakes();
	CU_ASSERT(sgl(&iov, 1, 3 * PG, false) == 0);
	CU_ASSERT(g_sgl1.address == 0x100200);
	CU_ASSERT(g_sgl1.unkeyed.length == 3 * PG);
	CU_ASSERT(g_sgl1.unkeyed.type == AXON_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT(g_sgl1.unkeyed.subtype == AXON_NVME_SGL_SUBTYPE_ADDRESS);
}

static void test_sgl_segment(void)
{
	/* Shapes PRPs cannot express: odd starts and ends everywhere. */
	struct iovec iov[3] = {iov_at(0x100200, 0x200), iov_at(0x300010, 0x400),
			       iov_at(0x500000, 0x10)};

	reset_fakes();
	CU_ASSERT(prps(iov, 3, 0x610) == -EINVAL);
	CU_ASSERT(sgl(iov, 3, 0x610, false) == 0);
	CU_ASSERT(g_sgl1.unkeyed.type == AXON_NVME_SGL_TYPE_LAST_SEGMENT);
	CU_ASSERT(g_sgl1.address == LIST_IOVA);
	CU_ASSERT(g_sgl1.unkeyed.length == 3 * sizeof(struct axon_nvme_sgl_desc));
	CU_ASSERT(g_sgl_list[0].address == 0x100200 && g_sgl_list[0].unkeyed.length == 0x200);
	CU_ASSERT(g_sgl_list[1].address == 0x300010 && g_sgl_list[1].unkeyed.length == 0x400);
	CU_ASSERT(g_sgl_list[2].address == 0x500000 && g_sgl_list[2].unkeyed.length == 0x10);
	CU_ASSERT(g_sgl_list[2].unkeyed.type == AXON_NVME_SGL_TYPE_DATA_BLOCK);
	/* The last iovec is cut to the payload length. */
	CU_ASSERT(sgl(iov, 3, 0x608, false) == 0);
	CU_ASSERT(g_sgl_list[2].unkeyed.length == 0x8);
}

static void test_sgl_merge_and_limits(void)
{
	static struct iovec many[PCIE_SGL_LIST_ENTRIES + 1];
	struct iovec iov[2] = {iov_at(0x100000, 0x300), iov_at(0x100300, 0x500)};
	int i;

	reset_fakes();
	/* IOVA-contiguous neighbours become one descriptor. */
	CU_ASSERT(sgl(iov, 2, 0x800, false) == 0);
	CU_ASSERT(g_sgl1.unkeyed.type == AXON_NVME_SGL_TYPE_DATA_BLOCK);
	CU_ASSERT(g_sgl1.unkeyed.length == 0x800);
	/* Dword alignment when the controller asks for it (SGLS = 10b). */
	iov[0] = iov_at(0x100002, 0x200);
	CU_ASSERT(sgl(iov, 1, 0x200, true) == -EINVAL);
	CU_ASSERT(sgl(iov, 1, 0x200, false) == 0);
	/* More descriptors than one segment page holds. */
	for (i = 0; i < (int)AXON_COUNTOF(many); i++) {
		many[i] = iov_at(0x1000000 + (uint64_t)i * 2 * PG, 512);
	}
	CU_ASSERT(sgl(many, PCIE_SGL_LIST_ENTRIES, PCIE_SGL_LIST_ENTRIES * 512, false) == 0);
	CU_ASSERT(sgl(many, AXON_COUNTOF(many), AXON_COUNTOF(many) * 512, false) == -EINVAL);
	g_vtophys_fail = true;
	CU_ASSERT(sgl(iov, 1, 0x200, false) == -EINVAL);
}

/* ---- rings over a fake BAR0 -------------------------------------------------------------- */

#define BAR_SIZE 0x2000u
#define DB_STRIDE 4u

static struct axon_nvme_ctrlr *const g_ctrlr = (struct axon_nvme_ctrlr *)&g_pctrlr;
static uint8_t *g_bar;

static void opts_setup(void)
{
	memset(&g_opts, 0, sizeof(g_opts));
	/* Deleting queues waits for answers this long when none come. */
	g_opts.admin_timeout_ms = 100;
}

static void ctrlr_setup(void)
{
	reset_fakes();
	memset(&g_pctrlr, 0, sizeof(g_pctrlr));
	memset(&g_cdata, 0, sizeof(g_cdata));
	g_bar = calloc(1, BAR_SIZE);
	CU_ASSERT_FATAL(g_bar != NULL);
	g_pctrlr.regs = g_bar;
	g_pctrlr.regs_size = BAR_SIZE;
	g_pctrlr.db_stride = DB_STRIDE;
	snprintf(g_pctrlr.bdf, sizeof(g_pctrlr.bdf), "0000:00:04.0");
	pthread_spin_init(&g_pctrlr.admin_lock, PTHREAD_PROCESS_PRIVATE);
	opts_setup();
	g_done_count = 0;
	g_mmio_writes = 0;
}

static void ctrlr_teardown(void)
{
	pthread_spin_destroy(&g_pctrlr.admin_lock);
	free(g_bar);
}

static uint32_t doorbell(uint16_t qid, bool cq)
{
	uint32_t v;

	memcpy(&v, g_bar + PCIE_DOORBELL_BASE + (2u * qid + (cq ? 1u : 0u)) * DB_STRIDE, 4);
	return v;
}

static void set_csts(uint32_t v)
{
	memcpy(g_bar + AXON_NVME_PROP_CSTS, &v, 4);
}

/* An I/O qpair as lib/nvme leaves it after a successful connect. */
static struct pcie_qpair *live_io_qpair(uint16_t qid, uint32_t depth)
{
	struct axon_nvme_qpair *qpair = pcie_qpair_create(g_ctrlr, qid, depth);
	struct pcie_qpair *pq;

	CU_ASSERT_FATAL(qpair != NULL);
	pq = pcie_qpair(qpair);
	pq->io_phase = PCIE_IO_LIVE;
	pq->generation = pcie_generation(&g_pctrlr);
	qpair->state = AXON_NVME_QPAIR_ENABLED;
	return pq;
}

static void free_io_qpair(struct pcie_qpair *pq)
{
	pq->io_phase = PCIE_IO_IDLE;
	pcie_qpair_destroy(&pq->qpair);
}

static void make_req(struct axon_nvme_request *req, void *buf, uint32_t len)
{
	memset(req, 0, sizeof(*req));
	req->cmd.opc = nvme_cmd_read;
	req->cmd.nsid = 1;
	req->internal.single_iov = (struct iovec){.iov_base = buf, .iov_len = len};
	req->iov = &req->internal.single_iov;
	req->iovcnt = len > 0 ? 1 : 0;
	req->payload_size = len;
}

/* The device posts a completion for cid at CQ slot idx with phase tag phase. */
static void post_cqe(struct pcie_qpair *pq, uint32_t idx, uint16_t cid, uint16_t phase,
		     uint16_t status)
{
	volatile struct axon_nvme_cpl *e = &pq->cq[idx];

	e->cdw0 = 0;
	e->cid = cid;
	e->sqid = pq->qid;
	e->status = (uint16_t)((status << 1) | phase);
}

static void test_ring_doorbell_batching(void)
{
	static uint8_t buf[4][4096] __attribute__((aligned(4096)));
	struct axon_nvme_request reqs[5];
	struct pcie_qpair *pq;
	int i;

	ctrlr_setup();
	pq = live_io_qpair(1, 4);
	for (i = 0; i < 3; i++) {
		make_req(&reqs[i], buf[i], 4096);
		CU_ASSERT(pcie_qpair_submit(&pq->qpair, &reqs[i]) == 0);
		CU_ASSERT(reqs[i].cmd.cid == pq->sq[i].cid);
		CU_ASSERT(pq->sq[i].dptr.prp.prp1 == (uint64_t)(uintptr_t)buf[i]);
	}
	/* depth 4 holds 3 commands. */
	make_req(&reqs[3], buf[3], 4096);
	CU_ASSERT(pcie_qpair_submit(&pq->qpair, &reqs[3]) == -EAGAIN);
	/* Submitting never touches a doorbell. */
	CU_ASSERT(g_mmio_writes == 0);
	CU_ASSERT(doorbell(1, false) == 0);

	/* One poll: one SQ tail write for all three. */
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
	CU_ASSERT(g_mmio_writes == 1);
	CU_ASSERT(doorbell(1, false) == 3);
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
	CU_ASSERT(g_mmio_writes == 1);

	/* Two completions, out of order: one CQ head write. */
	post_cqe(pq, 0, reqs[1].cmd.cid, 1, 0);
	post_cqe(pq, 1, reqs[0].cmd.cid, 1, 0);
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 2);
	CU_ASSERT(g_done_count == 2);
	CU_ASSERT(g_done_req[0] == &reqs[1] && g_done_req[1] == &reqs[0]);
	CU_ASSERT(doorbell(1, true) == 2);
	CU_ASSERT(g_mmio_writes == 2);

	/* max limits the completions taken in one poll. */
	post_cqe(pq, 2, reqs[2].cmd.cid, 1, 0);
	g_mmio_writes = 0;
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 1) == 1);
	CU_ASSERT(g_mmio_writes == 1 && doorbell(1, true) == 3);
	free_io_qpair(pq);
	ctrlr_teardown();
}

static void test_ring_phase_wrap(void)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	struct axon_nvme_request reqs[8];
	struct pcie_qpair *pq;
	uint32_t i, lap = 0;

	ctrlr_setup();
	pq = live_io_qpair(2, 4);
	/* Three laps around a 4-entry CQ, three commands at a time. */
	for (i = 0; i < 12; i++) {
		uint32_t slot = i % 4;
		struct axon_nvme_request *req = &reqs[i % 3];

		make_req(req, buf, 512);
		CU_ASSERT_FATAL(pcie_qpair_submit(&pq->qpair, req) == 0);
		CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
		CU_ASSERT(doorbell(2, false) == (i + 1) % 4);
		/* A stale entry of the previous lap in the next slot is not taken. */
		post_cqe(pq, slot, req->cmd.cid, (uint16_t)((lap + 1) & 1u), 0);
		CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 1);
		CU_ASSERT(g_done_req[g_done_count - 1] == req);
		CU_ASSERT(doorbell(2, true) == (i + 1) % 4);
		if (slot == 3) {
			lap++;
		}
		CU_ASSERT(pq->phase == (uint16_t)((lap + 1) & 1u));
	}
	CU_ASSERT(g_done_count == 12);
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
	free_io_qpair(pq);
	ctrlr_teardown();
}

static void test_ring_error_status_passes_through(void)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	struct axon_nvme_request req;
	struct pcie_qpair *pq;

	ctrlr_setup();
	pq = live_io_qpair(1, 8);
	make_req(&req, buf, 4096);
	CU_ASSERT(pcie_qpair_submit(&pq->qpair, &req) == 0);
	post_cqe(pq, 0, req.cmd.cid, 1, AXON_NVME_STATUS(0, 0x80));
	/* An unknown cid is ignored, not trusted. */
	post_cqe(pq, 1, 7, 1, 0);
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == 1);
	CU_ASSERT(pq->num_active == 0 && doorbell(1, true) == 2);
	CU_ASSERT(g_done_count == 1);
	CU_ASSERT(axon_nvme_cpl_get_status(&g_done[0]) == AXON_NVME_STATUS(0, 0x80));
	/* A payload that is not DMA memory is refused at submission. */
	g_vtophys_fail = true;
	CU_ASSERT(pcie_qpair_submit(&pq->qpair, &req) == -EINVAL);
	free_io_qpair(pq);
	ctrlr_teardown();
}

/* Outstanding I/O and a controller that stopped answering: fail, then abort everything. */
static void check_failure_aborts(uint32_t csts, bool removed)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	struct axon_nvme_request reqs[2];
	struct pcie_qpair *pq;
	uint32_t i;

	ctrlr_setup();
	pq = live_io_qpair(1, 8);
	for (i = 0; i < 2; i++) {
		make_req(&reqs[i], buf, 4096);
		CU_ASSERT(pcie_qpair_submit(&pq->qpair, &reqs[i]) == 0);
	}
	set_csts(csts);
	for (i = 0; i < PCIE_IO_HEALTH_CHECK_POLLS - 1; i++) {
		CU_ASSERT_FATAL(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
	}
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == -ENXIO);
	CU_ASSERT(pq->qpair.state == AXON_NVME_QPAIR_FAILED);
	CU_ASSERT(pq->qpair.failure_reason == -ENXIO);
	CU_ASSERT(g_pctrlr.removed == removed);
	/* lib/nvme then disconnects: every command completes with an abort status. */
	pcie_qpair_disconnect(&pq->qpair);
	CU_ASSERT(g_done_count == 2);
	for (i = 0; i < 2; i++) {
		CU_ASSERT(axon_nvme_cpl_get_status(&g_done[i]) == PCIE_SC_ABORTED_SQ_DELETION);
	}
	CU_ASSERT(pq->qpair.state == AXON_NVME_QPAIR_DISCONNECTED);
	CU_ASSERT(pcie_qpair_submit(&pq->qpair, &reqs[0]) == -ENXIO || removed);
	pcie_qpair_destroy(&pq->qpair);
	ctrlr_teardown();
}

static void test_health_surprise_removal(void)
{
	check_failure_aborts(UINT32_MAX, true);
}

static void test_health_cfs(void)
{
	union axon_nvme_csts csts = {.raw = 0};

	csts.bits.rdy = 1;
	csts.bits.cfs = 1;
	check_failure_aborts(csts.raw, false);
}

static void test_health_idle_queue_not_polled(void)
{
	struct pcie_qpair *pq;
	uint32_t i;

	ctrlr_setup();
	pq = live_io_qpair(1, 8);
	/* Nothing outstanding: no register reads, no failure even if the device is gone. */
	set_csts(UINT32_MAX);
	for (i = 0; i < 2 * PCIE_IO_HEALTH_CHECK_POLLS; i++) {
		CU_ASSERT_FATAL(pcie_qpair_process_completions(&pq->qpair, 0) == 0);
	}
	CU_ASSERT(!g_pctrlr.removed);
	/* A controller reset (CC.EN = 0) ends the queue at the next poll. */
	pcie_bump_generation(&g_pctrlr);
	CU_ASSERT(pcie_qpair_process_completions(&pq->qpair, 0) == -ENXIO);
	pcie_qpair_disconnect(&pq->qpair);
	CU_ASSERT(pq->io_phase == PCIE_IO_IDLE);
	pcie_qpair_destroy(&pq->qpair);
	ctrlr_teardown();
}

/* ---- the shared admin queue and I/O queue creation ----------------------------------------- */

static struct pcie_qpair *live_adminq(uint32_t depth)
{
	struct axon_nvme_qpair *qpair = pcie_qpair_create(g_ctrlr, 0, depth);

	CU_ASSERT_FATAL(qpair != NULL);
	qpair->state = AXON_NVME_QPAIR_ENABLED;
	g_pctrlr.admin_live = true;
	return pcie_qpair(qpair);
}

static void test_io_queue_create_and_delete(void)
{
	static uint8_t idbuf[4096] __attribute__((aligned(4096)));
	struct axon_nvme_request admin_req;
	struct pcie_qpair *aq, *pq;
	struct axon_nvme_qpair *qpair;

	ctrlr_setup();
	aq = live_adminq(8);
	qpair = pcie_qpair_create(g_ctrlr, 3, 16);
	CU_ASSERT_FATAL(qpair != NULL);
	pq = pcie_qpair(qpair);

	/* lib/nvme's own admin command, not rung yet. */
	make_req(&admin_req, idbuf, 4096);
	admin_req.cmd.opc = nvme_admin_identify;
	CU_ASSERT(pcie_qpair_submit(&aq->qpair, &admin_req) == 0);
	CU_ASSERT(doorbell(0, false) == 0);

	/* The I/O thread connects: Create I/O CQ goes out at once. */
	CU_ASSERT(pcie_qpair_connect(qpair) == 0);
	qpair->state = AXON_NVME_QPAIR_CONNECTING;
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(doorbell(0, false) == 2);
	CU_ASSERT(aq->sq[1].opc == nvme_admin_create_cq);
	CU_ASSERT(aq->sq[1].cid == PCIE_INTERNAL_CID_BASE);
	CU_ASSERT(aq->sq[1].cdw10 == ((15u << 16) | 3u));
	CU_ASSERT(aq->sq[1].cdw11 == 1u);
	CU_ASSERT(aq->sq[1].dptr.prp.prp1 == pq->cq_iova);

	/* Both complete; the I/O thread reaps both but delivers only its own. */
	post_cqe(aq, 0, admin_req.cmd.cid, 1, 0);
	post_cqe(aq, 1, PCIE_INTERNAL_CID_BASE, 1, 0);
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(pq->cq_created && pq->io_phase == PCIE_IO_CREATE_SQ);
	CU_ASSERT(g_done_count == 0);
	CU_ASSERT(aq->stash_count == 1);
	CU_ASSERT(doorbell(0, true) == 2);
	/* The admin thread delivers the stashed completion. */
	CU_ASSERT(pcie_qpair_process_completions(&aq->qpair, 0) == 1);
	CU_ASSERT(g_done_count == 1 && g_done_req[0] == &admin_req);

	/* Create I/O SQ, bound to CQ 3. */
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(aq->sq[2].opc == nvme_admin_create_sq);
	CU_ASSERT(aq->sq[2].cdw11 == ((3u << 16) | 1u));
	CU_ASSERT(aq->sq[2].dptr.prp.prp1 == pq->sq_iova);
	post_cqe(aq, 2, aq->sq[2].cid, 1, 0);
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(pq->io_phase == PCIE_IO_LIVE);
	CU_ASSERT(qpair->state == AXON_NVME_QPAIR_TRANSPORT_READY);

	/* Disconnect deletes SQ then CQ; a fake device answers from now on. */
	g_fake_aq = aq;
	g_fake_sq_head = 3;
	g_fake_cq_tail = 3;
	g_fake_phase = 1;
	pcie_qpair_disconnect(qpair);
	g_fake_aq = NULL;
	CU_ASSERT(aq->sq[3].opc == nvme_admin_delete_sq && aq->sq[3].cdw10 == 3u);
	CU_ASSERT(aq->sq[4].opc == nvme_admin_delete_cq && aq->sq[4].cdw10 == 3u);
	CU_ASSERT(pq->io_phase == PCIE_IO_IDLE);
	pcie_qpair_destroy(qpair);
	pcie_qpair_disconnect(&aq->qpair);
	pcie_qpair_destroy(&aq->qpair);
	pcie_qpair_free(g_pctrlr.retired_adminq);
	ctrlr_teardown();
}

static void test_io_queue_create_fails(void)
{
	struct pcie_qpair *aq, *pq;
	struct axon_nvme_qpair *qpair;

	ctrlr_setup();
	aq = live_adminq(4);
	qpair = pcie_qpair_create(g_ctrlr, 1, 8);
	CU_ASSERT_FATAL(qpair != NULL);
	pq = pcie_qpair(qpair);
	CU_ASSERT(pcie_qpair_connect(qpair) == 0);
	qpair->state = AXON_NVME_QPAIR_CONNECTING;
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	/* Invalid queue size. */
	post_cqe(aq, 0, PCIE_INTERNAL_CID_BASE, 1, AXON_NVME_STATUS(1, 0x02));
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == -EIO);
	CU_ASSERT(qpair->state == AXON_NVME_QPAIR_FAILED);
	pcie_qpair_disconnect(qpair);
	CU_ASSERT(pq->io_phase == PCIE_IO_IDLE);
	pcie_qpair_destroy(qpair);
	pcie_qpair_disconnect(&aq->qpair);
	pcie_qpair_destroy(&aq->qpair);
	pcie_qpair_free(g_pctrlr.retired_adminq);
	ctrlr_teardown();
}

static void test_admin_disconnect(void)
{
	static uint8_t idbuf[2][4096] __attribute__((aligned(4096)));
	struct axon_nvme_request reqs[2];
	struct pcie_qpair *aq, *pq;
	struct axon_nvme_qpair *qpair;
	uint32_t gen;
	int i;

	ctrlr_setup();
	aq = live_adminq(8);
	for (i = 0; i < 2; i++) {
		make_req(&reqs[i], idbuf[i], 4096);
		reqs[i].cmd.opc = nvme_admin_identify;
		CU_ASSERT(pcie_qpair_submit(&aq->qpair, &reqs[i]) == 0);
	}
	/* An I/O thread's Create CQ is in flight and has reaped the first admin answer. */
	qpair = pcie_qpair_create(g_ctrlr, 1, 8);
	CU_ASSERT_FATAL(qpair != NULL);
	pq = pcie_qpair(qpair);
	CU_ASSERT(pcie_qpair_connect(qpair) == 0);
	qpair->state = AXON_NVME_QPAIR_CONNECTING;
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	post_cqe(aq, 0, reqs[0].cmd.cid, 1, 0);
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == 0);
	CU_ASSERT(aq->stash_count == 1);

	/* A reset takes the admin queue down. */
	gen = pcie_generation(&g_pctrlr);
	pcie_qpair_disconnect(&aq->qpair);
	CU_ASSERT(pcie_generation(&g_pctrlr) != gen);
	CU_ASSERT(!g_pctrlr.admin_live);
	CU_ASSERT(g_done_count == 2);
	CU_ASSERT(g_done_req[0] == &reqs[0] && axon_nvme_cpl_get_status(&g_done[0]) == 0);
	CU_ASSERT(g_done_req[1] == &reqs[1]);
	CU_ASSERT(axon_nvme_cpl_get_status(&g_done[1]) == PCIE_SC_ABORTED_SQ_DELETION);
	/* The I/O thread learns its queue is gone; nothing is left to delete. */
	CU_ASSERT(pcie_qpair_process_completions(qpair, 0) == -ENXIO);
	pcie_qpair_disconnect(qpair);
	CU_ASSERT(pq->io_phase == PCIE_IO_IDLE && pq->icmd == -1);
	CU_ASSERT(!g_pctrlr.icmds[0].in_use);
	/* Submissions to a dead admin queue fail. */
	CU_ASSERT(pcie_qpair_submit(&aq->qpair, &reqs[0]) == -ENXIO);
	pcie_qpair_destroy(qpair);
	pcie_qpair_destroy(&aq->qpair);
	pcie_qpair_free(g_pctrlr.retired_adminq);
	ctrlr_teardown();
}

static void test_payload_policy(void)
{
	static uint8_t buf[3][4096] __attribute__((aligned(4096)));
	struct iovec iov[2] = {{buf[0], 4096}, {buf[1] + 512, 512}};
	struct axon_nvme_request req;
	struct pcie_qpair *pq;

	ctrlr_setup();
	g_cdata.sgls = 1;
	pq = live_io_qpair(1, 8);
	CU_ASSERT(pq->sgl && !pq->sgl_dword);
	/* One element: PRPs. */
	make_req(&req, buf[2], 4096);
	CU_ASSERT(pcie_build_payload(pq, &pq->trackers[0], &req) == 0);
	CU_ASSERT(req.cmd.psdt == AXON_NVME_PSDT_PRP);
	/* Several: an SGL. */
	req.iov = iov;
	req.iovcnt = 2;
	req.payload_size = 4608;
	CU_ASSERT(pcie_build_payload(pq, &pq->trackers[0], &req) == 0);
	CU_ASSERT(req.cmd.psdt == AXON_NVME_PSDT_SGL_MPTR_CONTIG);
	CU_ASSERT(req.cmd.dptr.sgl1.unkeyed.type == AXON_NVME_SGL_TYPE_LAST_SEGMENT);
	/* Without SGL support the same shape cannot be sent. */
	pq->sgl = false;
	CU_ASSERT(pcie_build_payload(pq, &pq->trackers[0], &req) == -EINVAL);
	free_io_qpair(pq);
	ctrlr_teardown();
}

/* ---- sysfs and registers (pcie.c) ------------------------------------------------------ */

static void test_parse_bdf(void)
{
	char bdf[PCIE_BDF_LEN];

	CU_ASSERT(pcie_parse_bdf("0000:00:04.0", bdf, sizeof(bdf)) == 0);
	CU_ASSERT_STRING_EQUAL(bdf, "0000:00:04.0");
	CU_ASSERT(pcie_parse_bdf("00:05.1", bdf, sizeof(bdf)) == 0);
	CU_ASSERT_STRING_EQUAL(bdf, "0000:00:05.1");
	CU_ASSERT(pcie_parse_bdf("0001:0A:1F.7", bdf, sizeof(bdf)) == 0);
	CU_ASSERT_STRING_EQUAL(bdf, "0001:0a:1f.7");
	CU_ASSERT(pcie_parse_bdf("0000:00:04.0x", bdf, sizeof(bdf)) == -EINVAL);
	CU_ASSERT(pcie_parse_bdf("00:20.0", bdf, sizeof(bdf)) == -EINVAL);
	CU_ASSERT(pcie_parse_bdf("00:04.8", bdf, sizeof(bdf)) == -EINVAL);
	CU_ASSERT(pcie_parse_bdf("10.0.0.1", bdf, sizeof(bdf)) == -EINVAL);
	CU_ASSERT(pcie_parse_bdf("", bdf, sizeof(bdf)) == -EINVAL);
}

static void make_fake_device(const char *root, const char *bdf, const char *class_code,
			     const char *driver)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, bdf);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/%s/class", root, bdf);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "%s\n", class_code);
	fclose(f);
	if (driver != NULL) {
		char target[256];

		snprintf(path, sizeof(path), "%s/%s/driver", root, bdf);
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
		CU_ASSERT_FATAL(symlink(target, path) == 0);
	}
}

struct seen {
	char list[4][64];
	int count;
	int stop_after;
};

static int collect(const char *bdf, const char *driver, void *ctx)
{
	struct seen *seen = ctx;

	if (seen->count < 4) {
		snprintf(seen->list[seen->count], sizeof(seen->list[0]), "%s=%s", bdf, driver);
	}
	seen->count++;
	return seen->count == seen->stop_after ? 42 : 0;
}

static bool seen_has(const struct seen *seen, const char *entry)
{
	int i;

	for (i = 0; i < seen->count && i < 4; i++) {
		if (strcmp(seen->list[i], entry) == 0) {
			return true;
		}
	}
	return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void test_enumerate(void)
{
	char root[] = "/tmp/pcie_ut.XXXXXX";
	struct seen seen = {0};

	CU_ASSERT_FATAL(mkdtemp(root) != NULL);
	make_fake_device(root, "0000:00:04.0", "0x010802", "vfio-pci");
	make_fake_device(root, "0000:00:05.0", "0x010802", NULL);
	make_fake_device(root, "0000:00:06.0", "0x020000", "e1000e");
	make_fake_device(root, "0000:00:07.0", "0x010802", "nvme");
	CU_ASSERT(pcie_enumerate(root, collect, &seen) == 0);
	CU_ASSERT(seen.count == 3);
	CU_ASSERT(seen_has(&seen, "0000:00:04.0=vfio-pci"));
	CU_ASSERT(seen_has(&seen, "0000:00:05.0="));
	CU_ASSERT(seen_has(&seen, "0000:00:07.0=nvme"));
	/* The callback stops the walk with its value. */
	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 1;
	CU_ASSERT(pcie_enumerate(root, collect, &seen) == 42);
	CU_ASSERT(seen.count == 1);
	CU_ASSERT(nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
	CU_ASSERT(pcie_enumerate(root, collect, &seen) == -ENOENT);
}

static void set_reg(uint32_t offset, uint32_t v)
{
	memcpy(g_bar + offset, &v, 4);
}

static uint32_t get_reg(uint32_t offset)
{
	uint32_t v;

	memcpy(&v, g_bar + offset, 4);
	return v;
}

static void test_registers(void)
{
	const struct axon_nvme_transport_ops *ops = g_registered;
	uint32_t v4, gen;
	uint64_t v8;

	ctrlr_setup();
	CU_ASSERT_FATAL(ops != NULL);
	CU_ASSERT_STRING_EQUAL(ops->name, "PCIe");
	CU_ASSERT(!ops->fabrics && ops->ctrlr_get_max_xfer_size(g_ctrlr) == PCIE_MAX_XFER_SIZE);
	set_reg(AXON_NVME_PROP_VS, 0x10400);
	set_reg(AXON_NVME_PROP_CAP, 0x0f0107ff);
	set_reg(AXON_NVME_PROP_CAP + 4, 0x20);
	CU_ASSERT(ops->ctrlr_get_reg_4(g_ctrlr, AXON_NVME_PROP_VS, &v4) == 0 && v4 == 0x10400);
	CU_ASSERT(ops->ctrlr_get_reg_8(g_ctrlr, AXON_NVME_PROP_CAP, &v8) == 0);
	CU_ASSERT(v8 == 0x000000200f0107ffull);
	CU_ASSERT(ops->ctrlr_set_reg_8(g_ctrlr, PCIE_REG_ASQ, 0x1234567000ull) == 0);
	CU_ASSERT(get_reg(PCIE_REG_ASQ) == 0x34567000u && get_reg(PCIE_REG_ASQ + 4) == 0x12u);
	/* Doorbells are not registers lib/nvme may touch. */
	CU_ASSERT(ops->ctrlr_set_reg_4(g_ctrlr, PCIE_DOORBELL_BASE, 1) == -EINVAL);
	/* CC.EN = 0: every I/O queue is gone. */
	gen = pcie_generation(&g_pctrlr);
	CU_ASSERT(ops->ctrlr_set_reg_4(g_ctrlr, AXON_NVME_PROP_CC, 0x00460001) == 0);
	CU_ASSERT(pcie_generation(&g_pctrlr) == gen);
	CU_ASSERT(ops->ctrlr_set_reg_4(g_ctrlr, AXON_NVME_PROP_CC, 0x00460000) == 0);
	CU_ASSERT(pcie_generation(&g_pctrlr) != gen);
	CU_ASSERT(get_reg(AXON_NVME_PROP_CC) == 0x00460000);
	/* All-ones: the device left; nothing is read or written any more. */
	set_reg(AXON_NVME_PROP_CSTS, UINT32_MAX);
	CU_ASSERT(ops->ctrlr_get_reg_4(g_ctrlr, AXON_NVME_PROP_CSTS, &v4) == -ENODEV);
	CU_ASSERT(g_pctrlr.removed);
	CU_ASSERT(ops->ctrlr_get_reg_4(g_ctrlr, AXON_NVME_PROP_VS, &v4) == -ENODEV);
	CU_ASSERT(ops->ctrlr_set_reg_4(g_ctrlr, AXON_NVME_PROP_CC, 1) == -ENODEV);
	ctrlr_teardown();
}

static void test_enable_adminq(void)
{
	const struct axon_nvme_transport_ops *ops = g_registered;
	struct axon_nvme_qpair *qpair;
	struct pcie_qpair *aq;

	ctrlr_setup();
	qpair = ops->qpair_create(g_ctrlr, 0, 32);
	CU_ASSERT_FATAL(qpair != NULL);
	aq = pcie_qpair(qpair);
	CU_ASSERT(ops->qpair_connect(qpair) == 0);
	CU_ASSERT(qpair->state == AXON_NVME_QPAIR_TRANSPORT_READY);
	/* Before the admin queue is programmed, polling does nothing. */
	qpair->state = AXON_NVME_QPAIR_ENABLED;
	CU_ASSERT(ops->qpair_process_completions(qpair, 0) == 0);
	aq->cq[0].status = 1; /* stale entry of an earlier life */
	CU_ASSERT(ops->ctrlr_enable_adminq(g_ctrlr, qpair) == 0);
	CU_ASSERT(get_reg(PCIE_REG_AQA) == ((31u << 16) | 31u));
	CU_ASSERT(get_reg(PCIE_REG_ASQ) == (uint32_t)aq->sq_iova);
	CU_ASSERT(get_reg(PCIE_REG_ASQ + 4) == (uint32_t)(aq->sq_iova >> 32));
	CU_ASSERT(get_reg(PCIE_REG_ACQ) == (uint32_t)aq->cq_iova);
	CU_ASSERT(g_pctrlr.admin_live);
	CU_ASSERT(aq->cq[0].status == 0 && aq->phase == 1);
	CU_ASSERT(ops->qpair_process_completions(qpair, 0) == 0);
	/* Queues whose doorbells lie beyond BAR0, or absurd depths, are refused. */
	CU_ASSERT(ops->qpair_create(g_ctrlr, (BAR_SIZE - PCIE_DOORBELL_BASE) / 8, 8) == NULL);
	CU_ASSERT(ops->qpair_create(g_ctrlr, 1, 1) == NULL);
	CU_ASSERT(ops->qpair_create(g_ctrlr, 0, PCIE_MAX_ADMIN_DEPTH + 1) == NULL);
	ops->qpair_disconnect(qpair);
	ops->qpair_destroy(qpair);
	pcie_qpair_free(g_pctrlr.retired_adminq);
	ctrlr_teardown();
}

int main(void)
{
	CU_pSuite s;
	int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	s = CU_add_suite("pcie_payload", NULL, NULL);
	CU_ADD_TEST(s, test_prp_empty_and_single_page);
	CU_ADD_TEST(s, test_prp_two_pages);
	CU_ADD_TEST(s, test_prp_list);
	CU_ADD_TEST(s, test_prp_multiple_iovecs);
	CU_ADD_TEST(s, test_prp_rejects);
	CU_ADD_TEST(s, test_prp_iova_discontiguous);
	CU_ADD_TEST(s, test_prp_max_transfer);
	CU_ADD_TEST(s, test_sgl_single);
	CU_ADD_TEST(s, test_sgl_segment);
	CU_ADD_TEST(s, test_sgl_merge_and_limits);
	CU_ADD_TEST(s, test_payload_policy);
	s = CU_add_suite("pcie_qpair", NULL, NULL);
	CU_ADD_TEST(s, test_ring_doorbell_batching);
	CU_ADD_TEST(s, test_ring_phase_wrap);
	CU_ADD_TEST(s, test_ring_error_status_passes_through);
	CU_ADD_TEST(s, test_health_surprise_removal);
	CU_ADD_TEST(s, test_health_cfs);
	CU_ADD_TEST(s, test_health_idle_queue_not_polled);
	CU_ADD_TEST(s, test_io_queue_create_and_delete);
	CU_ADD_TEST(s, test_io_queue_create_fails);
	CU_ADD_TEST(s, test_admin_disconnect);
	s = CU_add_suite("pcie_ctrlr", NULL, NULL);
	CU_ADD_TEST(s, test_parse_bdf);
	CU_ADD_TEST(s, test_enumerate);
	CU_ADD_TEST(s, test_registers);
	CU_ADD_TEST(s, test_enable_adminq);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = (int)CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
