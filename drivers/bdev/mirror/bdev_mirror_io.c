/*
 * The mirror's I/O path. Writes go to every healthy leg at once through the
 * multi-region service; reads go to one healthy leg, chosen round-robin per
 * channel, and move on to the next healthy leg when one fails. Write zeroes,
 * unmap, flush and reset fan out to every healthy leg by hand (the
 * multi-region service only moves data).
 *
 * When a leg fails an I/O that another leg completed, the legs no longer
 * hold the same data: the failed one is dropped (mirror_leg_fail). When every
 * leg fails the same I/O they still agree, so none is dropped and the I/O
 * fails: a transient error must not take the whole mirror down.
 */
#include <errno.h>
#include <string.h>

#include "axon/log.h"
#include "bdev_mirror.h"

struct mirror_channel {
	struct mirror *m;
	/* The leg to try first for the next read. */
	uint32_t rr;
	/* This thread's channel to each leg (NULL: not healthy when the
	 * channel was made, or dropped since). */
	struct axon_io_channel *leg_ch[MIRROR_MAX_LEGS];
};

/* Per-I/O context (bdev_io->driver_ctx). */
struct mirror_io {
	struct axon_bdev_multi_io mio;
	struct axon_bdev_region regions[MIRROR_MAX_LEGS];
	uint8_t region_leg[MIRROR_MAX_LEGS];
	uint32_t num_regions;
	/* Fan-out: next region to submit, submitted and not completed. */
	uint32_t next;
	uint32_t outstanding;
	bool submitting;
	/* Legs that failed this I/O (bit per leg). */
	uint64_t failed_legs;
	/* Regions that failed (fan-out; bit per region). */
	uint64_t error_regions;
	struct axon_bdev_io_wait_entry wait;
};

size_t mirror_channel_size(void)
{
	return sizeof(struct mirror_channel);
}

int mirror_io_ctx_size(void)
{
	return (int)sizeof(struct mirror_io);
}

/* ---- channels ----------------------------------------------------------- */

int mirror_channel_create(void *io_device, void *ctx)
{
	struct mirror *m = io_device;
	struct mirror_channel *mch = ctx;
	uint64_t healthy = atomic_load(&m->healthy);

	mch->m = m;
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if (!((healthy >> i) & 1) || m->legs[i].desc == NULL) {
			continue;
		}
		mch->leg_ch[i] = axon_bdev_get_io_channel(m->legs[i].desc);
		if (mch->leg_ch[i] == NULL) {
			AXON_ERRLOG("mirror %s: no I/O channel to leg %s on this thread", m->name,
				    m->legs[i].name);
		} else if (!((atomic_load(&m->healthy) >> i) & 1)) {
			/* Removed meanwhile: the removal's channel walk may have
			 * missed this channel. */
			axon_put_io_channel(mch->leg_ch[i]);
			mch->leg_ch[i] = NULL;
		}
	}
	return 0;
}

void mirror_channel_destroy(void *io_device, void *ctx)
{
	struct mirror_channel *mch = ctx;

	(void)io_device;
	for (uint32_t i = 0; i < MIRROR_MAX_LEGS; i++) {
		if (mch->leg_ch[i] != NULL) {
			axon_put_io_channel(mch->leg_ch[i]);
			mch->leg_ch[i] = NULL;
		}
	}
}

void mirror_channel_drop_leg(struct axon_io_channel *ch, uint32_t leg)
{
	struct mirror_channel *mch = axon_io_channel_get_ctx(ch);

	if (mch->leg_ch[leg] != NULL) {
		axon_put_io_channel(mch->leg_ch[leg]);
		mch->leg_ch[leg] = NULL;
	}
}

struct axon_io_channel *mirror_get_io_channel(void *ctx)
{
	return axon_get_io_channel(ctx);
}

/* Legs this channel can use now. */
static uint64_t usable_legs(const struct mirror_channel *mch)
{
	uint64_t mask = atomic_load_explicit(&mch->m->healthy, memory_order_acquire);
	uint64_t usable = 0;

	for (uint32_t i = 0; i < mch->m->num_legs; i++) {
		if (((mask >> i) & 1) && mch->leg_ch[i] != NULL) {
			usable |= UINT64_C(1) << i;
		}
	}
	return usable;
}

static void fail_no_leg(struct mirror *m, struct axon_bdev_io *io)
{
	if (!atomic_exchange(&m->offline_logged, true)) {
		AXON_ERRLOG("mirror %s: no healthy leg left; every I/O fails (delete the mirror: "
			    "failed legs are not rebuilt)", m->name);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
}

static void region_set(struct mirror_io *x, struct mirror_channel *mch, uint32_t r,
		       uint32_t leg, const struct axon_bdev_io *io)
{
	x->regions[r].desc = mch->m->legs[leg].desc;
	x->regions[r].ch = mch->leg_ch[leg];
	x->regions[r].offset_blocks = io->u.bdev.offset_blocks;
	x->regions[r].num_blocks = io->u.bdev.num_blocks;
	x->region_leg[r] = (uint8_t)leg;
}

/* Fill one region per usable leg; returns how many. */
static uint32_t regions_all(struct mirror_io *x, struct mirror_channel *mch,
			    const struct axon_bdev_io *io)
{
	uint64_t usable = usable_legs(mch);
	uint32_t n = 0;

	for (uint32_t i = 0; i < mch->m->num_legs; i++) {
		if ((usable >> i) & 1) {
			region_set(x, mch, n++, i, io);
		}
	}
	x->num_regions = n;
	return n;
}

/* Mark failed every leg of legs (another leg completed the I/O). */
static void fail_legs(struct mirror *m, uint64_t legs, const char *op)
{
	for (uint32_t i = 0; i < m->num_legs; i++) {
		if ((legs >> i) & 1) {
			mirror_leg_fail(m, i, op);
		}
	}
}

/* ---- reads ---------------------------------------------------------------- */

static void read_next(struct axon_bdev_io *io);

static void read_done(uint64_t error_bits, void *arg)
{
	struct mirror_io *x = arg;
	struct axon_bdev_io *io = axon_bdev_io_from_ctx(x);
	struct mirror *m = io->bdev->ctxt;

	if (error_bits == 0) {
		fail_legs(m, x->failed_legs, "read");
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	x->failed_legs |= UINT64_C(1) << x->region_leg[0];
	read_next(io);
}

/* Read from the next usable leg this I/O has not tried. */
static void read_next(struct axon_bdev_io *io)
{
	struct mirror_io *x = (struct mirror_io *)io->driver_ctx;
	struct mirror_channel *mch = axon_io_channel_get_ctx(axon_bdev_io_get_io_channel(io));
	struct mirror *m = mch->m;
	uint64_t candidates = usable_legs(mch) & ~x->failed_legs;
	uint32_t leg = 0;

	if (candidates == 0) {
		if (x->failed_legs == 0) {
			fail_no_leg(m, io);
		} else {
			/* Every leg failed it: they agree, none is dropped. */
			axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		}
		return;
	}
	for (uint32_t k = 0; k < m->num_legs; k++) {
		leg = (mch->rr + k) % m->num_legs;
		if ((candidates >> leg) & 1) {
			break;
		}
	}
	if (x->failed_legs == 0) {
		mch->rr = (leg + 1) % m->num_legs;
	}
	region_set(x, mch, 0, leg, io);
	x->num_regions = 1;
	if (axon_bdev_multi_readv(&x->mio, &x->regions[0], io->u.bdev.iovs, io->u.bdev.iovcnt,
				  read_done, x) != 0) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
	}
}

static void read_buf_cb(struct axon_io_channel *ch, struct axon_bdev_io *io, bool success)
{
	(void)ch;
	if (!success) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	read_next(io);
}

static void read_start(struct axon_bdev_io *io)
{
	struct mirror_io *x = (struct mirror_io *)io->driver_ctx;

	x->failed_legs = 0;
	if (io->u.bdev.iovs[0].iov_base == NULL) {
		axon_bdev_io_get_buf(io, read_buf_cb, io->u.bdev.num_blocks * io->bdev->blocklen);
		return;
	}
	read_next(io);
}

/* ---- writes ---------------------------------------------------------------- */

/* How a fan-out (write or other) ended, from the failed regions. */
static void fanout_finish(struct mirror_io *x, uint64_t error_regions, const char *op,
			  bool drop_failed)
{
	struct axon_bdev_io *io = axon_bdev_io_from_ctx(x);
	struct mirror *m = io->bdev->ctxt;
	uint64_t all = x->num_regions == 64 ? UINT64_MAX : (UINT64_C(1) << x->num_regions) - 1;
	uint64_t legs = 0;

	if ((error_regions & all) == all) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	for (uint32_t r = 0; r < x->num_regions; r++) {
		if ((error_regions >> r) & 1) {
			legs |= UINT64_C(1) << x->region_leg[r];
		}
	}
	if (drop_failed) {
		fail_legs(m, legs, op);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void write_done(uint64_t error_bits, void *arg)
{
	fanout_finish(arg, error_bits, "write", true);
}

static void write_start(struct axon_bdev_io *io, struct mirror_channel *mch)
{
	struct mirror_io *x = (struct mirror_io *)io->driver_ctx;

	if (regions_all(x, mch, io) == 0) {
		fail_no_leg(mch->m, io);
		return;
	}
	if (axon_bdev_multi_writev(&x->mio, x->regions, x->num_regions, io->u.bdev.iovs,
				   io->u.bdev.iovcnt, write_done, x) != 0) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
	}
}

/* ---- write zeroes, unmap, flush, reset: a fan-out by hand ------------------- */

static const char *type_op(uint8_t type)
{
	const char *name = axon_bdev_io_type_name((enum axon_bdev_io_type)type);

	return name != NULL ? name : "I/O";
}

static void fanout_submit(struct mirror_io *x);

static void fanout_maybe_done(struct mirror_io *x)
{
	struct axon_bdev_io *io = axon_bdev_io_from_ctx(x);

	if (x->outstanding == 0 && x->next == x->num_regions && !x->submitting) {
		/* A leg's failed reset loses no data: it is not dropped for it. */
		fanout_finish(x, x->error_regions, type_op(io->type),
			      io->type != AXON_BDEV_IO_TYPE_RESET);
	}
}

static void fanout_region_done(struct axon_bdev_io *leg_io, bool success, void *arg)
{
	struct mirror_io *x = arg;
	struct axon_bdev *leg_bdev = axon_bdev_io_get_bdev(leg_io);

	axon_bdev_free_io(leg_io);
	for (uint32_t r = 0; r < x->num_regions; r++) {
		if (axon_bdev_desc_get_bdev(x->regions[r].desc) == leg_bdev) {
			if (!success) {
				x->error_regions |= UINT64_C(1) << r;
			}
			break;
		}
	}
	x->outstanding--;
	fanout_maybe_done(x);
}

static int fanout_submit_one(struct mirror_io *x, const struct axon_bdev_region *r)
{
	struct axon_bdev_io *io = axon_bdev_io_from_ctx(x);

	switch (io->type) {
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return axon_bdev_write_zeroes_blocks(r->desc, r->ch, r->offset_blocks,
						     r->num_blocks, fanout_region_done, x);
	case AXON_BDEV_IO_TYPE_UNMAP:
		return axon_bdev_unmap_blocks(r->desc, r->ch, r->offset_blocks, r->num_blocks,
					      fanout_region_done, x);
	case AXON_BDEV_IO_TYPE_FLUSH:
		return axon_bdev_flush_blocks(r->desc, r->ch, r->offset_blocks, r->num_blocks,
					      fanout_region_done, x);
	case AXON_BDEV_IO_TYPE_RESET:
		return axon_bdev_reset(r->desc, r->ch, fanout_region_done, x);
	default:
		return -ENOTSUP;
	}
}

static void fanout_wait_cb(void *arg)
{
	fanout_submit(arg);
}

static void fanout_submit(struct mirror_io *x)
{
	x->submitting = true;
	while (x->next < x->num_regions) {
		const struct axon_bdev_region *r = &x->regions[x->next];
		int rc = fanout_submit_one(x, r);

		if (rc == -ENOMEM) {
			x->wait.bdev = axon_bdev_desc_get_bdev(r->desc);
			x->wait.cb_fn = fanout_wait_cb;
			x->wait.cb_arg = x;
			if (axon_bdev_queue_io_wait(x->wait.bdev, r->ch, &x->wait) == 0) {
				x->submitting = false;
				return;
			}
			continue; /* a bdev_io freed up meanwhile */
		}
		if (rc != 0) {
			x->error_regions |= UINT64_C(1) << x->next;
		} else {
			x->outstanding++;
		}
		x->next++;
	}
	x->submitting = false;
	fanout_maybe_done(x);
}

static void fanout_start(struct axon_bdev_io *io, struct mirror_channel *mch)
{
	struct mirror_io *x = (struct mirror_io *)io->driver_ctx;

	if (regions_all(x, mch, io) == 0) {
		fail_no_leg(mch->m, io);
		return;
	}
	x->next = 0;
	x->outstanding = 0;
	x->error_regions = 0;
	x->submitting = false;
	fanout_submit(x);
}

/* ---- the backend's entry points -------------------------------------------- */

void mirror_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	struct mirror_channel *mch = axon_io_channel_get_ctx(ch);

	switch (io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		read_start(io);
		return;
	case AXON_BDEV_IO_TYPE_WRITE:
		write_start(io, mch);
		return;
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		fanout_start(io, mch);
		return;
	default:
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
}

/* Every leg must do type (natively, or emulated by the layer where the
 * layer offers that) for the mirror to offer it. */
bool mirror_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	struct mirror *m = ctx;

	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_RESET:
		return true;
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_FLUSH:
		for (uint32_t i = 0; i < m->num_legs; i++) {
			if (m->legs[i].bdev != NULL &&
			    !axon_bdev_io_type_supported(m->legs[i].bdev, type)) {
				return false;
			}
		}
		return true;
	default:
		return false;
	}
}
