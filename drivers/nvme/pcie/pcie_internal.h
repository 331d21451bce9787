/*
 * NVMe over PCIe (userspace, through VFIO): types shared by
 *   pcie.c          enumeration, VFIO attach/detach, registers, the ops table,
 *   pcie_qpair.c    submission/completion rings, doorbells, trackers, health,
 *   pcie_admin.c    the admin queue shared with I/O threads: internal admin
 *                   commands (create/delete I/O queues) and the I/O queue
 *                   connect state machine,
 *   pcie_payload.c  PRP lists and SGLs (pure functions over axon_vtophys).
 *
 * Threading. The admin queue belongs to the controller's thread, an I/O
 * qpair to its own thread. Creating or deleting an I/O queue needs admin
 * commands, issued from the I/O qpair's thread: those go through
 * pctrlr->admin_lock, which guards the admin rings (never the I/O path).
 * A thread that finds a completion of lib/nvme's own admin commands while
 * it waits for its internal one parks the CQE in the admin qpair's stash;
 * the admin thread delivers it on its next poll.
 */
#ifndef AXON_NVME_PCIE_INTERNAL_H
#define AXON_NVME_PCIE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "axon/log.h"
#include "axon/nvme.h"
#include "axon/util.h"

/* Memory page size lib/nvme configures (CC.MPS = 0): PRP entries describe 4 KiB pages. */
#define PCIE_PAGE_SIZE 4096u
/* One PRP list / SGL segment page per command: 512 PRP entries or 256 SGL descriptors. */
#define PCIE_PRP_LIST_ENTRIES (PCIE_PAGE_SIZE / 8u)
#define PCIE_SGL_LIST_ENTRIES (PCIE_PAGE_SIZE / 16u)
/* Largest transfer: PRP1 plus one full list page (512 pages) covers 2 MiB at any offset. */
#define PCIE_MAX_XFER_SIZE (2u * 1024u * 1024u)
/* Registers: doorbells start at 0x1000, stride 4 << CAP.DSTRD. */
#define PCIE_DOORBELL_BASE 0x1000u
#define PCIE_REG_AQA 0x24u
#define PCIE_REG_ASQ 0x28u
#define PCIE_REG_ACQ 0x30u
/* Admin queue entries AQA can express (12 bits, 0's based). */
#define PCIE_MAX_ADMIN_DEPTH 4096u
/*
 * Idle polls with commands outstanding between two reads of CSTS (a
 * removed device reads all-ones, a failed one sets CFS). The admin queue is
 * polled rarely, so it looks more often.
 */
#define PCIE_IO_HEALTH_CHECK_POLLS 1024u
#define PCIE_ADMIN_HEALTH_CHECK_POLLS 8u
/* Internal admin commands (queue create/delete) in flight at once, all threads. */
#define PCIE_MAX_INTERNAL_CMDS 32u
/* Command ids of internal admin commands: above any tracker's (depth <= 4096). */
#define PCIE_INTERNAL_CID_BASE 0x8000u
/* Waiting for CSTS.SHST after a shutdown notification on detach. */
#define PCIE_SHUTDOWN_TIMEOUT_US (5u * 1000u * 1000u)
#define PCIE_SYSFS_DEVICES "/sys/bus/pci/devices"
/* PCI class code of NVMe controllers: mass storage, NVM, NVMe I/O controller. */
#define PCIE_NVME_CLASS_CODE 0x010802u
/* "dddd:bb:dd.f" and its NUL. */
#define PCIE_BDF_LEN 13

/* Status codes we complete commands with when the queue goes away. */
#define PCIE_SC_ABORTED_SQ_DELETION AXON_NVME_STATUS(0, 0x08)
#define PCIE_SC_INTERNAL_ERROR AXON_NVME_STATUS(0, 0x06)

/*
 * MMIO. Register and doorbell accesses are 32 bits wide and volatile; a
 * unit test defines PCIE_MMIO_HOOKS and its own versions to count writes.
 */
#ifndef PCIE_MMIO_HOOKS
static inline uint32_t pcie_mmio_read_4(const volatile uint32_t *addr)
{
	return *addr;
}

static inline void pcie_mmio_write_4(volatile uint32_t *addr, uint32_t value)
{
	*addr = value;
}
#else
uint32_t pcie_mmio_read_4(const volatile uint32_t *addr);
void pcie_mmio_write_4(volatile uint32_t *addr, uint32_t value);
#endif

/* One command slot of a queue: the cid is its index. */
struct pcie_tracker {
	struct axon_nvme_request *req;
	/* PRP list or SGL segment of this command (one page of DMA memory). */
	void *list;
	uint64_t list_iova;
	uint16_t cid;
	TAILQ_ENTRY(pcie_tracker) link;
};

/* Where an I/O queue is on the controller. */
enum pcie_io_phase {
	PCIE_IO_IDLE = 0,   /* nothing created */
	PCIE_IO_CREATE_CQ,  /* Create I/O CQ to send or in flight */
	PCIE_IO_CREATE_SQ,  /* CQ exists; Create I/O SQ to send or in flight */
	PCIE_IO_LIVE,       /* both exist */
};

struct pcie_ctrlr;

struct pcie_qpair {
	struct axon_nvme_qpair qpair; /* lib/nvme's part, first */
	struct pcie_ctrlr *pctrlr;
	uint16_t qid;
	uint32_t depth;

	/* Rings in DMA memory. The CQ is written by the device: read it volatile. */
	struct axon_nvme_cmd *sq;
	volatile struct axon_nvme_cpl *cq;
	uint64_t sq_iova;
	uint64_t cq_iova;
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	uint32_t sq_tail;
	uint32_t cq_head;
	uint16_t phase;       /* phase tag a new CQE carries */
	bool sq_dirty;        /* SQEs written since the last tail doorbell */
	uint32_t num_active;  /* commands in the rings (trackers and internal) */
	uint32_t idle_polls;  /* polls without a completion while commands are out */
	uint32_t health_interval;

	struct pcie_tracker *trackers;
	void *list_pages;
	TAILQ_HEAD(, pcie_tracker) free_trackers;

	/* SGLs for multi-element payloads of I/O commands (Identify SGLS). */
	bool sgl;
	bool sgl_dword;

	/* I/O queues: life on the controller (pcie_admin.c). */
	enum pcie_io_phase io_phase;
	int icmd;             /* internal command in flight, -1 if none */
	bool cq_created;
	bool sq_created;
	uint32_t generation;  /* pctrlr->generation when created */

	/* Admin queue: completions of lib/nvme commands found by another thread. */
	struct axon_nvme_cpl *stash;
	uint32_t stash_count;
	struct axon_nvme_cpl *scratch;
};

/* An admin command the transport issues itself (not through lib/nvme). */
struct pcie_internal_cmd {
	bool in_use;
	bool done;
	bool orphan; /* its issuer gave up: the completion just frees the slot */
	uint16_t status;
	uint32_t cdw0;
};

struct pcie_ctrlr {
	struct axon_nvme_ctrlr *ctrlr;
	char bdf[PCIE_BDF_LEN];
	int dev_fd;
	volatile uint8_t *regs;       /* BAR0 */
	size_t regs_size;
	uint32_t db_stride;           /* bytes between doorbells */
	bool removed;                 /* BAR0 read all-ones (atomic) */
	/*
	 * Bumped (atomically) whenever the controller loses its I/O queues: CC.EN
	 * written 0, or the admin queue taken down for a reset. An I/O qpair
	 * created under an older value is gone.
	 */
	uint32_t generation;
	pthread_spinlock_t admin_lock;
	struct pcie_qpair *adminq;    /* live admin qpair */
	struct pcie_qpair *retired_adminq; /* destroyed by lib/nvme, freed after shutdown */
	bool admin_live;              /* AQA/ASQ/ACQ programmed (admin_lock) */
	struct pcie_internal_cmd icmds[PCIE_MAX_INTERNAL_CMDS];
};

static inline struct pcie_qpair *pcie_qpair(struct axon_nvme_qpair *qpair)
{
	return AXON_CONTAINEROF(qpair, struct pcie_qpair, qpair);
}

static inline volatile uint32_t *pcie_reg(const struct pcie_ctrlr *pctrlr, uint32_t offset)
{
	return (volatile uint32_t *)(pctrlr->regs + offset);
}

static inline uint32_t pcie_generation(const struct pcie_ctrlr *pctrlr)
{
	return __atomic_load_n(&pctrlr->generation, __ATOMIC_ACQUIRE);
}

static inline void pcie_bump_generation(struct pcie_ctrlr *pctrlr)
{
	__atomic_add_fetch(&pctrlr->generation, 1, __ATOMIC_ACQ_REL);
}

/* ---- pcie.c ------------------------------------------------------------------ */

/*
 * Visit every NVMe controller (class 0x010802) under sysfs_root (normally
 * PCIE_SYSFS_DEVICES): fn(bdf, driver or "" when unbound, ctx); a non-zero
 * return stops the walk. Returns 0, fn's value, or -errno.
 */
typedef int (*pcie_enum_fn)(const char *bdf, const char *driver, void *ctx);
int pcie_enumerate(const char *sysfs_root, pcie_enum_fn fn, void *ctx);
/* "0000:00:04.0" from "0000:00:04.0" or "00:04.0". Returns 0 or -EINVAL. */
int pcie_parse_bdf(const char *str, char *bdf, size_t len);

/* ---- pcie_qpair.c -------------------------------------------------------------- */

/* Read CSTS; marks the controller removed when BAR0 reads all-ones. */
uint32_t pcie_read_csts(struct pcie_ctrlr *pctrlr);
/* Write a 64-bit register as two 32-bit halves (low first). */
void pcie_write_reg_8(struct pcie_ctrlr *pctrlr, uint32_t offset, uint64_t value);
uint64_t pcie_now_us(void);

struct axon_nvme_qpair *pcie_qpair_create(struct axon_nvme_ctrlr *ctrlr, uint16_t qid,
					  uint32_t depth);
void pcie_qpair_destroy(struct axon_nvme_qpair *qpair);
/* Free the rings and trackers (the controller no longer uses them). */
void pcie_qpair_free(struct pcie_qpair *pq);
int pcie_qpair_connect(struct axon_nvme_qpair *qpair);
void pcie_qpair_disconnect(struct axon_nvme_qpair *qpair);
int pcie_qpair_submit(struct axon_nvme_qpair *qpair, struct axon_nvme_request *req);
int32_t pcie_qpair_process_completions(struct axon_nvme_qpair *qpair, uint32_t max);
/* Empty the rings: indices to 0, phase 1, CQ zeroed. */
void pcie_qpair_reset_rings(struct pcie_qpair *pq);
/* Write an SQE at the tail (there must be room). */
void pcie_ring_push(struct pcie_qpair *pq, const struct axon_nvme_cmd *cmd);
/* Take a tracker, build the payload, write the SQE. Returns 0, -EAGAIN (full) or -EINVAL. */
int pcie_ring_submit_req(struct pcie_qpair *pq, struct axon_nvme_request *req);
/* Ring the SQ tail doorbell if SQEs were written since the last ring. */
void pcie_ring_flush(struct pcie_qpair *pq);
/* Take the next CQE if the device has posted one. Returns true with *cpl. */
bool pcie_ring_pop(struct pcie_qpair *pq, struct axon_nvme_cpl *cpl);
/* Tell the device the CQ head moved. */
void pcie_ring_cq_doorbell(struct pcie_qpair *pq);
/* Complete every tracker with status (the queue is gone). */
void pcie_qpair_abort_trackers(struct pcie_qpair *pq, uint16_t status);
/* Complete the tracker of cpl->cid. Returns false (logged) for an unknown cid. */
bool pcie_qpair_complete_cpl(struct pcie_qpair *pq, const struct axon_nvme_cpl *cpl);
/* CSTS check after idle polls: true when the controller failed or vanished. */
bool pcie_qpair_check_health(struct pcie_qpair *pq);

/* ---- pcie_admin.c -------------------------------------------------------------- */

int32_t pcie_admin_process_completions(struct pcie_qpair *adminq, uint32_t max);
int pcie_admin_submit(struct pcie_qpair *adminq, struct axon_nvme_request *req);
/* Admin queue taken down: fail internal commands, deliver the stash, abort the rest. */
void pcie_admin_disconnect(struct pcie_qpair *adminq);
/* Drive an I/O qpair's Create CQ / Create SQ. Returns 0 or -errno (failed). */
int pcie_io_connect_poll(struct pcie_qpair *pq);
/* Delete the I/O queue on the controller (synchronous, bounded by the admin timeout). */
void pcie_io_delete_queues(struct pcie_qpair *pq);
/* Fail every internal command (the admin queue is gone). admin_lock held. */
void pcie_admin_fail_internal(struct pcie_ctrlr *pctrlr);

/* ---- pcie_payload.c ------------------------------------------------------------ */

/*
 * Describe len bytes over iov[0..iovcnt) with PRPs: *prp1, *prp2 and, for
 * more than two pages, list (capacity PCIE_PRP_LIST_ENTRIES) at list_iova.
 * Shapes PRPs can express: the first element may start anywhere
 * dword-aligned, every later one starts on a page, every element but the
 * last ends on a page (IOVA-wise, also inside an element).
 * Returns 0, or -EINVAL (another shape, not DMA memory, too long, iov
 * shorter than len).
 */
int pcie_build_prps(const struct iovec *iov, int iovcnt, uint32_t len, uint64_t *prp1,
		    uint64_t *prp2, uint64_t *list, uint64_t list_iova);

/*
 * Describe len bytes with SGL data block descriptors: one goes into *sgl1;
 * more go into list (capacity PCIE_SGL_LIST_ENTRIES) at list_iova with a Last
 * Segment descriptor in *sgl1. dword: the controller wants dword-aligned
 * addresses and lengths (SGLS = 10b).
 * Returns 0, or -EINVAL (unaligned with dword, not DMA memory, too many
 * descriptors, iov shorter than len).
 */
int pcie_build_sgl(const struct iovec *iov, int iovcnt, uint32_t len, bool dword,
		   struct axon_nvme_sgl_desc *sgl1, struct axon_nvme_sgl_desc *list,
		   uint64_t list_iova);

/* Fill req->cmd's data pointer for tracker tr: PRPs, or an SGL when allowed and needed. */
int pcie_build_payload(struct pcie_qpair *pq, struct pcie_tracker *tr,
		       struct axon_nvme_request *req);

#endif /* AXON_NVME_PCIE_INTERNAL_H */
