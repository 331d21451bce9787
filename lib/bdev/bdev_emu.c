/*
 * Emulation of what a backend lacks, with child reads and writes:
 *   write zeroes       chunks written from a shared zeroed buffer;
 *   compare            chunks read into a layer buffer and compared;
 *   compare-and-write  a compare (native or emulated) then, on a match, the
 *                      write; one at a time per channel, so that two of them
 *                      on the same channel never interleave.
 *
 * A parent runs one child at a time; emu_step says what the parent is doing
 * and emu_continue() issues its next child. A child that cannot get a
 * bdev_io parks the parent on the thread's io_wait queue.
 */
#include <errno.h>
#include <string.h>

#include "bdev_internal.h"

enum emu_step {
	EMU_ZERO_WRITE, /* write zeroes: writing the next chunk of zeroes */
	EMU_CMP_READ,   /* compare (also for compare-and-write): reading the next chunk */
	EMU_CAW_NATIVE_COMPARE, /* compare-and-write: the backend's own compare */
	EMU_CAW_WRITE,  /* compare-and-write: the write after a match */
};

static void emu_continue(struct axon_bdev_io *parent);

static void emu_wait_cb(void *arg)
{
	emu_continue(arg);
}

/* Park the parent until a bdev_io frees up on this thread. */
static void emu_wait(struct axon_bdev_io *parent)
{
	struct bdev_mgmt_channel *mgmt = parent->internal.ch->mgmt;
	struct axon_bdev_io_wait_entry *e = &parent->internal.waitq;

	e->bdev = parent->bdev;
	e->cb_fn = emu_wait_cb;
	e->cb_arg = parent;
	TAILQ_INSERT_TAIL(&mgmt->io_wait_queue, e, link);
	bdev_mgmt_wait_arm(mgmt);
}

static void emu_finish(struct axon_bdev_io *parent, enum axon_bdev_io_status status)
{
	struct bdev_channel *bch = parent->internal.ch;
	bool caw = parent->type == AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE;

	bdev_io_complete_status(parent, status);
	if (caw) {
		bch->caw_busy = false;
		bdev_emu_caw_next(bch);
	}
}

/* Does iov, from byte off on, hold the len bytes at buf? */
static bool iov_equal(const struct iovec *iov, int iovcnt, uint64_t off, const uint8_t *buf,
		      uint64_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		uint64_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = AXON_MIN(iov[i].iov_len - off, len);
		if (memcmp((const uint8_t *)iov[i].iov_base + off, buf, n) != 0) {
			return false;
		}
		buf += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

static void emu_child_done(struct axon_bdev_io *child, bool success, void *arg)
{
	struct axon_bdev_io *parent = arg;
	uint64_t nblocks = child->u.bdev.num_blocks;
	uint64_t bytes = nblocks * parent->bdev->blocklen;
	enum axon_bdev_io_status status = (enum axon_bdev_io_status)child->internal.status;

	if (!success) {
		/* Keep the exact NVMe status for the user. */
		parent->internal.nvme_sct = child->internal.nvme_sct;
		parent->internal.nvme_sc = child->internal.nvme_sc;
		axon_bdev_free_io(child);
		emu_finish(parent, status);
		return;
	}
	axon_bdev_free_io(child);
	switch ((enum emu_step)parent->internal.emu_step) {
	case EMU_CMP_READ:
		if (!iov_equal(parent->u.bdev.iovs, parent->u.bdev.iovcnt,
			       parent->internal.emu_done_bytes, bdev_io_buf_ptr(parent), bytes)) {
			emu_finish(parent, AXON_BDEV_IO_STATUS_MISCOMPARE);
			return;
		}
		break;
	case EMU_CAW_NATIVE_COMPARE:
		parent->internal.emu_step = EMU_CAW_WRITE;
		emu_continue(parent);
		return;
	case EMU_CAW_WRITE:
		emu_finish(parent, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	case EMU_ZERO_WRITE:
		break;
	}
	parent->internal.emu_offset += nblocks;
	parent->internal.emu_remaining -= nblocks;
	parent->internal.emu_done_bytes += bytes;
	if (parent->internal.emu_remaining > 0) {
		emu_continue(parent);
	} else if (parent->type == AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE) {
		parent->internal.emu_step = EMU_CAW_WRITE;
		emu_continue(parent);
	} else {
		emu_finish(parent, AXON_BDEV_IO_STATUS_SUCCESS);
	}
}

/* Blocks per chunk: what fits in a large buffer. */
static uint64_t emu_chunk_blocks(const struct axon_bdev_io *parent)
{
	uint64_t max = AXON_BDEV_LARGE_BUF_SIZE / parent->bdev->blocklen;

	return AXON_MIN(parent->internal.emu_remaining, max);
}

static void emu_continue(struct axon_bdev_io *parent)
{
	struct axon_bdev_io *child = bdev_io_alloc(parent->internal.ch);
	enum emu_step step = (enum emu_step)parent->internal.emu_step;

	if (child == NULL) {
		emu_wait(parent);
		return;
	}
	child->internal.flags = BDEV_IO_F_CHILD;
	child->internal.desc = parent->internal.desc;
	child->internal.cb = emu_child_done;
	child->internal.cb_arg = parent;
	child->internal.parent = parent;
	child->u.bdev = parent->u.bdev;
	child->u.bdev.md_buf = NULL;
	child->u.bdev.fused_iovs = NULL;
	child->u.bdev.fused_iovcnt = 0;
	switch (step) {
	case EMU_ZERO_WRITE:
	case EMU_CMP_READ:
		child->type = step == EMU_ZERO_WRITE ? AXON_BDEV_IO_TYPE_WRITE
						     : AXON_BDEV_IO_TYPE_READ;
		child->u.bdev.offset_blocks = parent->internal.emu_offset;
		child->u.bdev.num_blocks = emu_chunk_blocks(parent);
		child->u.bdev.iov.iov_base = step == EMU_ZERO_WRITE ? g_bdev_mgr.zero_buf
								    : bdev_io_buf_ptr(parent);
		child->u.bdev.iov.iov_len = child->u.bdev.num_blocks * parent->bdev->blocklen;
		child->u.bdev.iovs = &child->u.bdev.iov;
		child->u.bdev.iovcnt = 1;
		child->u.bdev.memory_domain = NULL;
		child->u.bdev.memory_domain_ctx = NULL;
		break;
	case EMU_CAW_NATIVE_COMPARE:
		child->type = AXON_BDEV_IO_TYPE_COMPARE;
		break;
	case EMU_CAW_WRITE:
		child->type = AXON_BDEV_IO_TYPE_WRITE;
		child->u.bdev.iovs = parent->u.bdev.fused_iovs;
		child->u.bdev.iovcnt = parent->u.bdev.fused_iovcnt;
		break;
	}
	bdev_io_submit(child);
}

static void emu_cmp_buf_ready(struct axon_io_channel *ch, struct axon_bdev_io *parent,
			      bool success)
{
	(void)ch;
	if (!success) {
		emu_finish(parent, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	emu_continue(parent);
}

/* Start a compare by reads (for COMPARE, or the first half of CAW). */
static void emu_start_compare(struct axon_bdev_io *parent)
{
	parent->internal.emu_step = EMU_CMP_READ;
	bdev_io_buf_alloc(parent, emu_chunk_blocks(parent) * parent->bdev->blocklen,
			  emu_cmp_buf_ready);
}

static void emu_start_caw(struct axon_bdev_io *parent)
{
	struct bdev_channel *bch = parent->internal.ch;

	if (bch->caw_busy) {
		TAILQ_INSERT_TAIL(&bch->caw_waiting, parent, internal.link);
		return;
	}
	bch->caw_busy = true;
	if ((bch->native_types >> AXON_BDEV_IO_TYPE_COMPARE) & 1) {
		parent->internal.emu_step = EMU_CAW_NATIVE_COMPARE;
		emu_continue(parent);
	} else {
		emu_start_compare(parent);
	}
}

void bdev_emu_caw_next(struct bdev_channel *bch)
{
	struct axon_bdev_io *io = TAILQ_FIRST(&bch->caw_waiting);

	if (io != NULL && !bch->caw_busy) {
		TAILQ_REMOVE(&bch->caw_waiting, io, internal.link);
		emu_start_caw(io);
	}
}

void bdev_emu_start(struct axon_bdev_io *io)
{
	io->internal.emu_offset = io->u.bdev.offset_blocks;
	io->internal.emu_remaining = io->u.bdev.num_blocks;
	io->internal.emu_done_bytes = 0;
	io->internal.emu_failed = false;
	switch (io->type) {
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		io->internal.emu_step = EMU_ZERO_WRITE;
		emu_continue(io);
		break;
	case AXON_BDEV_IO_TYPE_COMPARE:
		emu_start_compare(io);
		break;
	case AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		emu_start_caw(io);
		break;
	default:
		/* Checked at submission: only the types above get here. */
		bdev_io_complete_status(io, AXON_BDEV_IO_STATUS_FAILED);
		break;
	}
}
