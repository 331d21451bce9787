/*
 * Staging: a read or write whose data the backend cannot use where it is goes
 * through one buffer from the layer's pools.
 *
 *   misaligned  an iovec is not aligned to 2^required_alignment: the data is
 *               copied into the buffer before a write and out of it after a
 *               read (a bounce);
 *   foreign     the data lives in a memory domain the backend does not list
 *               in get_memory_domains: the layer pulls it into the buffer
 *               before a write and pushes it back after a read, with the
 *               domain's own (possibly asynchronous) pull and push.
 *
 * The splitter (bdev_split.c) cuts such I/O to at most BDEV_STAGE_MAX_BYTES,
 * so one buffer always suffices. While staged, u.bdev.iovs points at
 * internal.stage_iov and orig_iovs/orig_iovcnt/orig_skip hold the user's
 * data; bdev_stage_finish() puts them back before the user's callback runs.
 *
 * Per-I/O cost on the common path: none (bdev_io_dispatch only comes here
 * when the channel's rw_check or the I/O's FOREIGN flag says so).
 */
#include <errno.h>
#include <string.h>

#include "axon/dma.h"
#include "bdev_internal.h"

bool bdev_reaches_domain(const struct axon_bdev *bdev, const struct axon_memory_domain *d)
{
	const struct bdev_internal *bi = bdev->internal;

	for (int i = 0; i < bi->domain_count; i++) {
		if (bi->domains[i] == d) {
			return true;
		}
	}
	return false;
}

/* Is every element aligned for the backend? The last one's length is not
 * checked: the I/O's end is a block boundary already. */
static bool iovs_aligned(const struct iovec *iov, int iovcnt, uintptr_t mask)
{
	for (int i = 0; i < iovcnt - 1; i++) {
		if (((uintptr_t)iov[i].iov_base | (uintptr_t)iov[i].iov_len) & mask) {
			return false;
		}
	}
	return iovcnt == 0 || ((uintptr_t)iov[iovcnt - 1].iov_base & mask) == 0;
}

bool bdev_stage_needed(const struct axon_bdev_io *io)
{
	uintptr_t mask = ((uintptr_t)1 << io->bdev->required_alignment) - 1;

	if (io->internal.flags & (BDEV_IO_F_STAGED | BDEV_IO_F_GATHER)) {
		/* Already staged (resubmitted after NOMEM), or a child that
		 * must be. */
		return !(io->internal.flags & BDEV_IO_F_STAGED);
	}
	/* A read without a buffer gets an aligned one from the backend. */
	if (io->u.bdev.iovcnt == 1 && io->u.bdev.iovs[0].iov_base == NULL) {
		return false;
	}
	if (io->internal.flags & BDEV_IO_F_FOREIGN) {
		return true;
	}
	return mask != 0 && !iovs_aligned(io->u.bdev.iovs, io->u.bdev.iovcnt, mask);
}

/* Copy len bytes between buf and iov, starting skip bytes into iov. */
static void iov_copy(const struct iovec *iov, int iovcnt, uint64_t skip, uint8_t *buf,
		     uint64_t len, bool to_buf)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		uint8_t *base = iov[i].iov_base;
		uint64_t n;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		n = AXON_MIN(iov[i].iov_len - skip, len);
		if (to_buf) {
			memcpy(buf, base + skip, n);
		} else {
			memcpy(base + skip, buf, n);
		}
		buf += n;
		len -= n;
		skip = 0;
	}
}

static void stage_fail(struct axon_bdev_io *io)
{
	bdev_io_complete_status(io, AXON_BDEV_IO_STATUS_FAILED);
}

static void stage_pull_done(void *arg, int rc)
{
	struct axon_bdev_io *io = arg;

	if (rc != 0) {
		AXON_ERRLOG("bdev %s: pulling write data from its memory domain failed: %s",
			    axon_bdev_get_name(io->bdev), strerror(-rc));
		stage_fail(io);
		return;
	}
	bdev_io_submit_backend(io);
}

static void stage_buf_ready(struct axon_io_channel *ch, struct axon_bdev_io *io, bool success)
{
	uint64_t len = bdev_io_bytes(io);
	int rc;

	(void)ch;
	if (!success) {
		stage_fail(io);
		return;
	}
	io->internal.stage_iov.iov_base = bdev_io_buf_ptr(io);
	io->internal.stage_iov.iov_len = len;
	io->u.bdev.iovs = &io->internal.stage_iov;
	io->u.bdev.iovcnt = 1;
	io->internal.flags |= BDEV_IO_F_STAGED;
	if (io->type != AXON_BDEV_IO_TYPE_WRITE) {
		bdev_io_submit_backend(io);
		return;
	}
	if (io->internal.flags & BDEV_IO_F_FOREIGN) {
		rc = axon_memory_domain_pull_data(io->internal.orig_domain,
						  io->internal.orig_domain_ctx,
						  io->internal.orig_iovs,
						  (uint32_t)io->internal.orig_iovcnt,
						  &io->internal.stage_iov, 1, stage_pull_done, io);
		if (rc != 0) {
			stage_pull_done(io, rc);
		}
		return;
	}
	iov_copy(io->internal.orig_iovs, io->internal.orig_iovcnt, io->internal.orig_skip,
		 io->internal.stage_iov.iov_base, len, true);
	bdev_io_submit_backend(io);
}

void bdev_stage_start(struct axon_bdev_io *io)
{
	uint64_t len = bdev_io_bytes(io);

	assert(io->internal.buf == NULL);
	if (len > BDEV_STAGE_MAX_BYTES) {
		/* The splitter cuts staged I/O below this: not reached. */
		stage_fail(io);
		return;
	}
	if (!(io->internal.flags & BDEV_IO_F_GATHER)) {
		io->internal.orig_iovs = io->u.bdev.iovs;
		io->internal.orig_iovcnt = io->u.bdev.iovcnt;
		io->internal.orig_skip = 0;
	}
	bdev_io_buf_alloc(io, len, stage_buf_ready);
}

/* Give the buffer back and the user's iovecs to the I/O. */
static void stage_release(struct axon_bdev_io *io)
{
	struct bdev_mgmt_channel *mgmt = io->internal.ch->mgmt;
	void *buf = io->internal.buf;
	bool large = io->internal.flags & BDEV_IO_F_LARGE_BUF;

	if (io->internal.flags & BDEV_IO_F_GATHER) {
		io->u.bdev.iovs = NULL;
		io->u.bdev.iovcnt = 0;
	} else {
		io->u.bdev.iovs = io->internal.orig_iovs;
		io->u.bdev.iovcnt = io->internal.orig_iovcnt;
	}
	io->internal.flags &= (uint16_t)~(BDEV_IO_F_STAGED | BDEV_IO_F_LARGE_BUF);
	io->internal.buf = NULL;
	/* Last: the buffer may go straight to a waiter, which runs now. */
	bdev_buf_put(mgmt, buf, large);
}

static void stage_push_done(void *arg, int rc)
{
	struct axon_bdev_io *io = arg;

	if (rc != 0) {
		AXON_ERRLOG("bdev %s: pushing read data to its memory domain failed: %s",
			    axon_bdev_get_name(io->bdev), strerror(-rc));
		io->internal.status = AXON_BDEV_IO_STATUS_FAILED;
	}
	stage_release(io);
	bdev_io_finish(io);
}

bool bdev_stage_finish(struct axon_bdev_io *io)
{
	int rc;

	if (io->type == AXON_BDEV_IO_TYPE_READ &&
	    io->internal.status == AXON_BDEV_IO_STATUS_SUCCESS) {
		if (io->internal.flags & BDEV_IO_F_FOREIGN) {
			rc = axon_memory_domain_push_data(io->internal.orig_domain,
							  io->internal.orig_domain_ctx,
							  io->internal.orig_iovs,
							  (uint32_t)io->internal.orig_iovcnt,
							  &io->internal.stage_iov, 1,
							  stage_push_done, io);
			if (rc == 0) {
				return true; /* stage_push_done finishes the I/O */
			}
			AXON_ERRLOG("bdev %s: cannot push read data to its memory domain: %s",
				    axon_bdev_get_name(io->bdev), strerror(-rc));
			io->internal.status = AXON_BDEV_IO_STATUS_FAILED;
		} else {
			iov_copy(io->internal.orig_iovs, io->internal.orig_iovcnt,
				 io->internal.orig_skip, io->internal.stage_iov.iov_base,
				 bdev_io_bytes(io), false);
		}
	}
	stage_release(io);
	return false;
}
