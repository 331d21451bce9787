/*
 * Multi-region I/O: one buffer written to several (bdev, offset, length)
 * regions, or read from one, completing once with a bitmap of the regions
 * that failed. The caller owns the state (struct axon_bdev_multi_io), so
 * nothing is allocated; a region that finds no bdev_io free parks the whole
 * I/O on the thread's io_wait queue and resumes from that region.
 */
#include <errno.h>

#include "bdev_internal.h"

static void multi_submit(struct axon_bdev_multi_io *mio);

static void multi_maybe_done(struct axon_bdev_multi_io *mio)
{
	if (mio->outstanding == 0 && mio->next == mio->num_regions && !mio->submitting) {
		mio->cb(mio->error_bits, mio->cb_arg);
	}
}

static void multi_region_done(struct axon_bdev_io *io, bool success, void *arg)
{
	struct axon_bdev_multi_io *mio = arg;
	uint32_t i;

	/* Which region: the first pending one this I/O matches. */
	for (i = 0; i < mio->num_regions; i++) {
		const struct axon_bdev_region *r = &mio->regions[i];

		if (((mio->pending_bits >> i) & 1) && r->desc == io->internal.desc &&
		    r->offset_blocks == io->u.bdev.offset_blocks) {
			break;
		}
	}
	assert(i < mio->num_regions);
	mio->pending_bits &= ~(UINT64_C(1) << i);
	if (!success) {
		mio->error_bits |= UINT64_C(1) << i;
	}
	axon_bdev_free_io(io);
	mio->outstanding--;
	multi_maybe_done(mio);
}

static void multi_wait_cb(void *arg)
{
	multi_submit(arg);
}

static void multi_submit(struct axon_bdev_multi_io *mio)
{
	mio->submitting = true;
	while (mio->next < mio->num_regions) {
		const struct axon_bdev_region *r = &mio->regions[mio->next];
		uint64_t bit = UINT64_C(1) << mio->next;
		int rc;

		if (mio->write) {
			rc = axon_bdev_writev_blocks(r->desc, r->ch, mio->iov, mio->iovcnt,
						     r->offset_blocks, r->num_blocks,
						     multi_region_done, mio);
		} else {
			rc = axon_bdev_readv_blocks(r->desc, r->ch, mio->iov, mio->iovcnt,
						    r->offset_blocks, r->num_blocks,
						    multi_region_done, mio);
		}
		if (rc == -ENOMEM) {
			mio->wait.bdev = axon_bdev_desc_get_bdev(r->desc);
			mio->wait.cb_fn = multi_wait_cb;
			mio->wait.cb_arg = mio;
			if (axon_bdev_queue_io_wait(mio->wait.bdev, r->ch, &mio->wait) == 0) {
				mio->submitting = false;
				return;
			}
			continue; /* a bdev_io freed up meanwhile: try again */
		}
		if (rc != 0) {
			mio->error_bits |= bit;
		} else {
			mio->pending_bits |= bit;
			mio->outstanding++;
		}
		mio->next++;
	}
	mio->submitting = false;
	multi_maybe_done(mio);
}

static int multi_start(struct axon_bdev_multi_io *mio, const struct axon_bdev_region *regions,
		       uint32_t num_regions, bool write, struct iovec *iov, int iovcnt,
		       axon_bdev_multi_cb cb, void *cb_arg)
{
	uint64_t bytes;

	if (mio == NULL || regions == NULL || iov == NULL || iovcnt <= 0 || cb == NULL ||
	    num_regions == 0 || num_regions > AXON_BDEV_MULTI_MAX_REGIONS) {
		return -EINVAL;
	}
	for (uint32_t i = 0; i < num_regions; i++) {
		if (regions[i].desc == NULL || regions[i].ch == NULL) {
			return -EINVAL;
		}
	}
	bytes = regions[0].num_blocks * axon_bdev_desc_get_bdev(regions[0].desc)->blocklen;
	for (uint32_t i = 1; i < num_regions; i++) {
		if (regions[i].num_blocks * axon_bdev_desc_get_bdev(regions[i].desc)->blocklen !=
		    bytes) {
			return -EINVAL;
		}
	}
	mio->regions = regions;
	mio->num_regions = num_regions;
	mio->next = 0;
	mio->outstanding = 0;
	mio->pending_bits = 0;
	mio->error_bits = 0;
	mio->write = write;
	mio->submitting = false;
	mio->iov = iov;
	mio->iovcnt = iovcnt;
	mio->cb = cb;
	mio->cb_arg = cb_arg;
	multi_submit(mio);
	return 0;
}

int axon_bdev_multi_writev(struct axon_bdev_multi_io *mio, const struct axon_bdev_region *regions,
			   uint32_t num_regions, struct iovec *iov, int iovcnt,
			   axon_bdev_multi_cb cb, void *cb_arg)
{
	return multi_start(mio, regions, num_regions, true, iov, iovcnt, cb, cb_arg);
}

int axon_bdev_multi_readv(struct axon_bdev_multi_io *mio, const struct axon_bdev_region *region,
			  struct iovec *iov, int iovcnt, axon_bdev_multi_cb cb, void *cb_arg)
{
	return multi_start(mio, region, 1, false, iov, iovcnt, cb, cb_arg);
}
