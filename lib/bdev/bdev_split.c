/*
 * Splitting. A read or write is cut into child I/Os when it
 *   - crosses a multiple of optimal_io_boundary (split_on_optimal_io_boundary),
 *   - is longer than max_rw_size blocks,
 *   - has more than max_num_segments iovecs or one longer than max_segment_size,
 *   - must be staged (bdev_bounce.c) and is longer than one staging buffer,
 *     or is foreign and its iovecs are longer than the I/O.
 *
 * Children are bdev_ios from the same per-thread cache as any other (no
 * allocation): each carries up to AXON_BDEV_IO_CHILD_IOVS iovecs of its own,
 * cut from the parent's at a block boundary. A parent keeps at most
 * BDEV_SPLIT_MAX_CHILDREN children in flight; when no bdev_io is free and
 * none of its children is in flight, it parks on the thread's io_wait queue.
 * The parent completes once every child issued has completed; the first
 * child to fail decides its status, and no further child is issued after a
 * failure.
 *
 * A block whose data is spread over more iovecs than a child may carry goes
 * through a bounce buffer instead (a GATHER child, copied from the parent's
 * iovecs); for foreign memory that is impossible and the parent fails.
 */
#include <errno.h>

#include "bdev_internal.h"

#define SPLIT_NO_LIMIT UINT64_MAX

static void split_continue(struct axon_bdev_io *parent);

static bool split_crosses_boundary(const struct axon_bdev *b, uint64_t offset, uint64_t n)
{
	return b->split_on_optimal_io_boundary && b->optimal_io_boundary != 0 &&
	       offset % b->optimal_io_boundary + n > b->optimal_io_boundary;
}

static uint64_t iovs_total(const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	return total;
}

static bool split_segments_exceed(const struct axon_bdev *b, const struct axon_bdev_io *io)
{
	if (b->max_num_segments != 0 && (uint32_t)io->u.bdev.iovcnt > b->max_num_segments) {
		return true;
	}
	if (b->max_segment_size != 0) {
		for (int i = 0; i < io->u.bdev.iovcnt; i++) {
			if (io->u.bdev.iovs[i].iov_len > b->max_segment_size) {
				return true;
			}
		}
	}
	return false;
}

bool bdev_split_needed(struct axon_bdev_io *io)
{
	const struct axon_bdev *b = io->bdev;
	uint64_t bytes = bdev_io_bytes(io);

	/* A staged I/O (resubmitted) or a GATHER child is within every limit. */
	if (io->internal.flags & (BDEV_IO_F_STAGED | BDEV_IO_F_GATHER)) {
		return false;
	}
	if ((b->max_rw_size != 0 && io->u.bdev.num_blocks > b->max_rw_size) ||
	    split_crosses_boundary(b, io->u.bdev.offset_blocks, io->u.bdev.num_blocks)) {
		return true;
	}
	if (io->u.bdev.iovcnt == 1 && io->u.bdev.iovs[0].iov_base == NULL) {
		return false; /* the backend's buffer will be a single aligned one */
	}
	if (split_segments_exceed(b, io)) {
		return true;
	}
	if (!bdev_stage_needed(io)) {
		return false;
	}
	return bytes > BDEV_STAGE_MAX_BYTES ||
	       ((io->internal.flags & BDEV_IO_F_FOREIGN) &&
		iovs_total(io->u.bdev.iovs, io->u.bdev.iovcnt) != bytes);
}

void bdev_io_rw_prepare(struct axon_bdev_io *io)
{
	if (bdev_split_needed(io)) {
		bdev_split_start(io);
	} else if (bdev_stage_needed(io)) {
		bdev_stage_start(io);
	} else {
		bdev_io_submit_backend(io);
	}
}

/* ---- children ------------------------------------------------------------- */

static void split_done(struct axon_bdev_io *parent)
{
	bdev_io_complete_status(parent, (enum axon_bdev_io_status)parent->internal.split_status);
}

static void split_fail(struct axon_bdev_io *parent, enum axon_bdev_io_status status)
{
	if (parent->internal.split_status == AXON_BDEV_IO_STATUS_SUCCESS) {
		parent->internal.split_status = (int8_t)status;
	}
}

static void split_child_done(struct axon_bdev_io *child, bool success, void *arg)
{
	struct axon_bdev_io *parent = arg;

	if (!success && parent->internal.split_status == AXON_BDEV_IO_STATUS_SUCCESS) {
		/* The first failure wins, with its exact NVMe status. */
		parent->internal.split_status = child->internal.status;
		parent->internal.nvme_cdw0 = child->internal.nvme_cdw0;
		parent->internal.nvme_sct = child->internal.nvme_sct;
		parent->internal.nvme_sc = child->internal.nvme_sc;
	}
	axon_bdev_free_io(child);
	parent->internal.split_outstanding--;
	if (parent->internal.split_remaining > 0 &&
	    parent->internal.split_status == AXON_BDEV_IO_STATUS_SUCCESS) {
		split_continue(parent);
	} else if (parent->internal.split_outstanding == 0) {
		split_done(parent);
	}
}

/* Move (idx, off) forward by bytes over iov. */
static void iov_cursor_advance(const struct iovec *iov, int iovcnt, int *idx, uint64_t *off,
			       uint64_t bytes)
{
	while (bytes > 0 && *idx < iovcnt) {
		uint64_t n = AXON_MIN(iov[*idx].iov_len - *off, bytes);

		bytes -= n;
		*off += n;
		if (*off == iov[*idx].iov_len) {
			(*idx)++;
			*off = 0;
		}
	}
}

/* Shorten child's iovecs to keep bytes; returns their new count. */
static int iov_trim(struct iovec *iov, int cnt, uint64_t keep)
{
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len >= keep) {
			iov[i].iov_len = keep;
			return keep > 0 ? i + 1 : i;
		}
		keep -= iov[i].iov_len;
	}
	return cnt;
}

/* Blocks the next child may carry, by the bdev's limits. */
static uint64_t split_child_blocks(const struct axon_bdev_io *parent)
{
	const struct axon_bdev *b = parent->bdev;
	uint64_t n = parent->internal.split_remaining;
	uint64_t off = parent->internal.split_offset;

	if (b->max_rw_size != 0) {
		n = AXON_MIN(n, (uint64_t)b->max_rw_size);
	}
	if (b->split_on_optimal_io_boundary && b->optimal_io_boundary != 0) {
		n = AXON_MIN(n, b->optimal_io_boundary - off % b->optimal_io_boundary);
	}
	if (parent->internal.flags & BDEV_IO_F_SPLIT_STAGED) {
		n = AXON_MIN(n, (uint64_t)(BDEV_STAGE_MAX_BYTES / b->blocklen));
	}
	return n;
}

/*
 * Cut the child's iovecs from the parent's cursor: *n blocks wanted, fewer
 * if the child runs out of iovecs first. Returns the child's iovec count, 0
 * when not even one block fits (the child must gather), or -1 when the
 * parent's iovecs are too short.
 */
static int split_cut_iovs(struct axon_bdev_io *parent, struct axon_bdev_io *child, uint64_t *n)
{
	const struct axon_bdev *b = parent->bdev;
	const struct iovec *piov = parent->u.bdev.iovs;
	struct iovec *civ = child->internal.child_iov;
	uint64_t max_seg = b->max_segment_size ? b->max_segment_size : SPLIT_NO_LIMIT;
	uint64_t want = *n * b->blocklen, got = 0, off = parent->internal.split_iov_off;
	int max_cnt = AXON_BDEV_IO_CHILD_IOVS, cnt = 0, idx = parent->internal.split_iov_idx;

	if (b->max_num_segments != 0 && b->max_num_segments < (uint32_t)max_cnt) {
		max_cnt = (int)b->max_num_segments;
	}
	while (got < want && cnt < max_cnt && idx < parent->u.bdev.iovcnt) {
		uint64_t take = AXON_MIN(AXON_MIN(piov[idx].iov_len - off, want - got), max_seg);

		if (take > 0) {
			civ[cnt].iov_base = (uint8_t *)piov[idx].iov_base + off;
			civ[cnt].iov_len = take;
			cnt++;
			got += take;
			off += take;
		}
		if (off == piov[idx].iov_len) {
			idx++;
			off = 0;
		}
	}
	if (got < want) {
		if (idx >= parent->u.bdev.iovcnt) {
			return -1;
		}
		got -= got % b->blocklen;
		cnt = iov_trim(civ, cnt, got);
		*n = got / b->blocklen;
	}
	return cnt;
}

/* Describe the next child. Returns false if the parent cannot go on. */
static bool split_fill_child(struct axon_bdev_io *parent, struct axon_bdev_io *child)
{
	const struct axon_bdev *b = parent->bdev;
	uint64_t done = (parent->internal.split_offset - parent->u.bdev.offset_blocks) * b->blocklen;
	uint64_t n = split_child_blocks(parent);
	int cnt = split_cut_iovs(parent, child, &n);

	if (cnt == 0) {
		/* The bounce buffer is one iovec: it obeys max_segment_size. */
		n = AXON_MIN(split_child_blocks(parent),
			     (uint64_t)(BDEV_STAGE_MAX_BYTES / b->blocklen));
		if (b->max_segment_size != 0) {
			n = AXON_MIN(n, AXON_MAX((uint64_t)(b->max_segment_size / b->blocklen),
						 (uint64_t)1));
		}
		if (iovs_total(parent->u.bdev.iovs, parent->u.bdev.iovcnt) - done <
		    n * b->blocklen) {
			cnt = -1;
		}
	}
	if (cnt < 0) {
		AXON_ERRLOG("bdev %s: the data buffers are shorter than the I/O",
			    axon_bdev_get_name(parent->bdev));
		return false;
	}
	child->internal.flags = BDEV_IO_F_CHILD | (parent->internal.flags & BDEV_IO_F_FOREIGN);
	if (cnt == 0) {
		/* One block spans more iovecs than a child may carry: copy it. */
		if (parent->internal.flags & BDEV_IO_F_FOREIGN) {
			AXON_ERRLOG("bdev %s: a block of foreign memory spans more than %d iovecs",
				    axon_bdev_get_name(parent->bdev), AXON_BDEV_IO_CHILD_IOVS);
			return false;
		}
		child->internal.flags |= BDEV_IO_F_GATHER;
		child->internal.orig_iovs = parent->u.bdev.iovs;
		child->internal.orig_iovcnt = parent->u.bdev.iovcnt;
		child->internal.orig_skip = done;
		child->u.bdev.iovs = NULL;
		child->u.bdev.iovcnt = 0;
	} else {
		child->u.bdev.iovs = child->internal.child_iov;
		child->u.bdev.iovcnt = cnt;
	}
	iov_cursor_advance(parent->u.bdev.iovs, parent->u.bdev.iovcnt,
			   &parent->internal.split_iov_idx, &parent->internal.split_iov_off,
			   n * b->blocklen);
	child->type = parent->type;
	child->internal.desc = parent->internal.desc;
	child->internal.cb = split_child_done;
	child->internal.cb_arg = parent;
	child->internal.parent = parent;
	child->internal.orig_domain = parent->internal.orig_domain;
	child->internal.orig_domain_ctx = parent->internal.orig_domain_ctx;
	child->u.bdev.offset_blocks = parent->internal.split_offset;
	child->u.bdev.num_blocks = n;
	child->u.bdev.fused_iovs = NULL;
	child->u.bdev.fused_iovcnt = 0;
	child->u.bdev.md_buf = NULL;
	if (parent->u.bdev.md_buf != NULL && !b->md_interleave) {
		child->u.bdev.md_buf = (uint8_t *)parent->u.bdev.md_buf +
				       (parent->internal.split_offset - parent->u.bdev.offset_blocks) *
					       b->md_len;
	}
	child->u.bdev.memory_domain = parent->u.bdev.memory_domain;
	child->u.bdev.memory_domain_ctx = parent->u.bdev.memory_domain_ctx;
	parent->internal.split_offset += n;
	parent->internal.split_remaining -= n;
	return true;
}

static void split_wait_cb(void *arg)
{
	split_continue(arg);
}

/* Park the parent until a bdev_io frees up on this thread. */
static void split_wait(struct axon_bdev_io *parent)
{
	struct bdev_mgmt_channel *mgmt = parent->internal.ch->mgmt;
	struct axon_bdev_io_wait_entry *e = &parent->internal.waitq;

	e->bdev = parent->bdev;
	e->cb_fn = split_wait_cb;
	e->cb_arg = parent;
	TAILQ_INSERT_TAIL(&mgmt->io_wait_queue, e, link);
	bdev_mgmt_wait_arm(mgmt);
}

static void split_continue(struct axon_bdev_io *parent)
{
	struct axon_bdev_io *child;

	while (parent->internal.split_remaining > 0 &&
	       parent->internal.split_status == AXON_BDEV_IO_STATUS_SUCCESS &&
	       parent->internal.split_outstanding < BDEV_SPLIT_MAX_CHILDREN) {
		child = bdev_io_alloc(parent->internal.ch);
		if (child == NULL) {
			if (parent->internal.split_outstanding == 0) {
				split_wait(parent);
			}
			return; /* a child's completion continues */
		}
		if (!split_fill_child(parent, child)) {
			axon_bdev_free_io(child);
			split_fail(parent, AXON_BDEV_IO_STATUS_FAILED);
			break;
		}
		parent->internal.split_outstanding++;
		/* Children never complete inside this call (bdev_io_dispatch
		 * defers them), so the loop's state stays valid. */
		bdev_io_submit(child);
	}
	if (parent->internal.split_outstanding == 0) {
		split_done(parent);
	}
}

static void split_buf_ready(struct axon_io_channel *ch, struct axon_bdev_io *parent,
			    bool success)
{
	(void)ch;
	if (!success) {
		split_fail(parent, AXON_BDEV_IO_STATUS_FAILED);
		split_done(parent);
		return;
	}
	split_continue(parent);
}

void bdev_split_start(struct axon_bdev_io *parent)
{
	uint64_t bytes = bdev_io_bytes(parent);

	parent->internal.flags |= BDEV_IO_F_SPLIT;
	parent->internal.split_offset = parent->u.bdev.offset_blocks;
	parent->internal.split_remaining = parent->u.bdev.num_blocks;
	parent->internal.split_outstanding = 0;
	parent->internal.split_status = AXON_BDEV_IO_STATUS_SUCCESS;
	parent->internal.split_iov_idx = 0;
	parent->internal.split_iov_off = 0;
	if (parent->u.bdev.iovcnt == 1 && parent->u.bdev.iovs[0].iov_base == NULL) {
		/* A read without a buffer: the children read into one buffer
		 * that the user gets with the parent. */
		if (bytes > AXON_BDEV_LARGE_BUF_SIZE) {
			AXON_ERRLOG("bdev %s: a read of %lu bytes without a buffer is above %u",
				    axon_bdev_get_name(parent->bdev), (unsigned long)bytes,
				    AXON_BDEV_LARGE_BUF_SIZE);
			split_fail(parent, AXON_BDEV_IO_STATUS_FAILED);
			split_done(parent);
			return;
		}
		parent->internal.flags |= BDEV_IO_F_BUF_TO_IOV;
		bdev_io_buf_alloc(parent, bytes, split_buf_ready);
		return;
	}
	if (bdev_stage_needed(parent)) {
		parent->internal.flags |= BDEV_IO_F_SPLIT_STAGED;
	}
	split_continue(parent);
}
