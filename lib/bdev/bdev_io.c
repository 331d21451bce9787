/*
 * The I/O path: bdev_io allocation from the per-thread cache, the submit
 * functions, completion (deferred when the backend completes inside
 * submit_request, so that a user's callback never recurses into itself),
 * io_wait, NOMEM requeueing, and data buffers.
 *
 * Per-I/O rule: no malloc, no lock, no system call. Everything touched here
 * belongs to the calling thread (its management channel and bdev channel).
 */
#include <errno.h>
#include <string.h>

#include "axon/dma.h"
#include "bdev_internal.h"

/* Types that need a writable descriptor. */
#define BDEV_WRITE_TYPES                                                            \
	((1u << AXON_BDEV_IO_TYPE_WRITE) | (1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES) | \
	 (1u << AXON_BDEV_IO_TYPE_UNMAP) | (1u << AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE) | \
	 (1u << AXON_BDEV_IO_TYPE_NVME_IO) | (1u << AXON_BDEV_IO_TYPE_NVME_ADMIN))

/* ---- bdev_io allocation ------------------------------------------------------ */

static inline struct axon_bdev_io *io_get(struct bdev_mgmt_channel *mgmt)
{
	struct axon_bdev_io *io = STAILQ_FIRST(&mgmt->io_cache);

	if (axon_likely(io != NULL)) {
		STAILQ_REMOVE_HEAD(&mgmt->io_cache, internal.stailq);
		mgmt->io_cache_count--;
		return io;
	}
	/* Parked submitters go first: a newcomer must not take their bdev_io. */
	if (!TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		return NULL;
	}
	return axon_mempool_get(g_bdev_mgr.io_pool);
}

struct axon_bdev_io *bdev_io_alloc(struct bdev_channel *bch)
{
	struct axon_bdev_io *io = io_get(bch->mgmt);

	if (axon_unlikely(io == NULL)) {
		return NULL;
	}
	bch->held++;
	io->bdev = bch->bdev;
	io->internal.ch = bch;
	io->internal.status = AXON_BDEV_IO_STATUS_PENDING;
	io->internal.in_submit = false;
	io->internal.flags = 0;
	io->internal.buf = NULL;
	io->internal.parent = NULL;
	io->internal.nvme_cdw0 = 0;
	return io;
}

void bdev_mgmt_serve_waiters(struct bdev_mgmt_channel *mgmt)
{
	struct axon_bdev_io_wait_entry *entry;

	while (mgmt->io_cache_count > 0 && (entry = TAILQ_FIRST(&mgmt->io_wait_queue)) != NULL) {
		TAILQ_REMOVE(&mgmt->io_wait_queue, entry, link);
		entry->cb_fn(entry->cb_arg);
	}
	if (!TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		bdev_mgmt_wait_arm(mgmt);
	}
}

void axon_bdev_free_io(struct axon_bdev_io *io)
{
	struct bdev_channel *bch = io->internal.ch;
	struct bdev_mgmt_channel *mgmt = bch->mgmt;

	if (io->internal.buf != NULL) {
		bdev_buf_put(mgmt, io->internal.buf, io->internal.flags & BDEV_IO_F_LARGE_BUF);
		io->internal.buf = NULL;
	}
	if (axon_likely(mgmt->io_cache_count < g_bdev_mgr.opts.bdev_io_cache_size)) {
		STAILQ_INSERT_HEAD(&mgmt->io_cache, io, internal.stailq);
		mgmt->io_cache_count++;
	} else {
		axon_mempool_put(g_bdev_mgr.io_pool, io);
	}
	bch->held--;
	if (axon_unlikely(!TAILQ_EMPTY(&mgmt->io_wait_queue))) {
		bdev_mgmt_serve_waiters(mgmt);
	}
	if (axon_unlikely(bch->defunct)) {
		bdev_channel_maybe_free(bch);
	}
}

int axon_bdev_queue_io_wait(struct axon_bdev *bdev, struct axon_io_channel *ch,
			    struct axon_bdev_io_wait_entry *entry)
{
	struct bdev_channel *bch = bdev_ch_get(ch);

	if (entry == NULL || entry->bdev != bdev || bch->bdev != bdev || entry->cb_fn == NULL) {
		return -EINVAL;
	}
	if (bch->mgmt->io_cache_count > 0) {
		return -EINVAL;
	}
	TAILQ_INSERT_TAIL(&bch->mgmt->io_wait_queue, entry, link);
	bdev_mgmt_wait_arm(bch->mgmt);
	return 0;
}

/* ---- completion -------------------------------------------------------------- */

static inline void io_account(struct bdev_channel *bch, struct axon_bdev_io *io)
{
	uint64_t now = axon_get_ticks();

	bdev_stat_account(bch, io, now);
	if (axon_unlikely(bch->histogram != NULL) &&
	    (bch->histogram_type == 0 || bch->histogram_type == io->type)) {
		bdev_histogram_tally(bch->histogram, now - io->internal.submit_tsc);
	}
}

void bdev_io_finish(struct axon_bdev_io *io)
{
	struct bdev_channel *bch = io->internal.ch;
	uint16_t flags = io->internal.flags;

	if (axon_unlikely(flags & (BDEV_IO_F_RESET_BACKEND | BDEV_IO_F_CHILD | BDEV_IO_F_STAGED))) {
		if (flags & BDEV_IO_F_RESET_BACKEND) {
			bdev_reset_backend_done(io);
			return;
		}
		/* A read's data goes back to the user first (possibly later). */
		if ((flags & BDEV_IO_F_STAGED) && bdev_stage_finish(io)) {
			return;
		}
		if (!(flags & BDEV_IO_F_CHILD)) {
			io_account(bch, io);
		}
	} else {
		io_account(bch, io);
	}
	if (axon_unlikely(!TAILQ_EMPTY(&bch->nomem_io))) {
		bdev_channel_retry_nomem(bch);
	}
	io->internal.cb(io, io->internal.status == AXON_BDEV_IO_STATUS_SUCCESS,
			io->internal.cb_arg);
}

static void io_defer(struct bdev_mgmt_channel *mgmt, struct axon_bdev_io *io)
{
	STAILQ_INSERT_TAIL(&mgmt->deferred, io, internal.stailq);
	if (!mgmt->deferred_active) {
		mgmt->deferred_active = true;
		axon_poller_resume(mgmt->deferred_poller);
	}
}

int bdev_deferred_poll(void *arg)
{
	struct bdev_mgmt_channel *mgmt = arg;
	STAILQ_HEAD(, axon_bdev_io) batch = STAILQ_HEAD_INITIALIZER(batch);
	struct axon_bdev_io *io;
	uint32_t n = 0;

	/* Only what is queued now: completions their callbacks cause wait for
	 * the next poll, which bounds the work of one call. */
	STAILQ_CONCAT(&batch, &mgmt->deferred);
	while ((io = STAILQ_FIRST(&batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&batch, internal.stailq);
		bdev_io_finish(io);
		n++;
	}
	if (STAILQ_EMPTY(&mgmt->deferred)) {
		mgmt->deferred_active = false;
		axon_poller_pause(mgmt->deferred_poller);
	}
	return n > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

void bdev_io_complete_status(struct axon_bdev_io *io, enum axon_bdev_io_status status)
{
	io->internal.status = (int8_t)status;
	if (axon_unlikely(io->internal.in_submit)) {
		io_defer(io->internal.ch->mgmt, io);
		return;
	}
	bdev_io_finish(io);
}

static void io_requeue_nomem(struct bdev_channel *bch, struct axon_bdev_io *io)
{
	TAILQ_INSERT_TAIL(&bch->nomem_io, io, internal.link);
	if (bch->io_outstanding == 0) {
		/* No completion will come to trigger the retry. */
		axon_poller_resume(bch->nomem_poller);
	}
}

void axon_bdev_io_complete(struct axon_bdev_io *io, enum axon_bdev_io_status status)
{
	struct bdev_channel *bch = io->internal.ch;

	assert(status != AXON_BDEV_IO_STATUS_PENDING);
	assert(bch->io_outstanding > 0);
	bch->io_outstanding--;
	if (axon_unlikely(status == AXON_BDEV_IO_STATUS_NOMEM)) {
		io_requeue_nomem(bch, io);
		return;
	}
	bdev_io_complete_status(io, status);
}

void axon_bdev_io_complete_nvme_status(struct axon_bdev_io *io, uint32_t cdw0, int sct, int sc)
{
	io->internal.nvme_cdw0 = cdw0;
	io->internal.nvme_sct = (uint8_t)sct;
	io->internal.nvme_sc = (uint8_t)sc;
	axon_bdev_io_complete(io, sct == 0 && sc == 0 ? AXON_BDEV_IO_STATUS_SUCCESS
						      : AXON_BDEV_IO_STATUS_NVME_ERROR);
}

void axon_bdev_io_complete_errno(struct axon_bdev_io *io, int neg_errno)
{
	enum axon_bdev_io_status status = AXON_BDEV_IO_STATUS_SUCCESS;

	if (neg_errno == -ENOMEM || neg_errno == -EAGAIN) {
		status = AXON_BDEV_IO_STATUS_NOMEM;
	} else if (neg_errno != 0) {
		status = AXON_BDEV_IO_STATUS_FAILED;
	}
	axon_bdev_io_complete(io, status);
}

/* ---- submission ---------------------------------------------------------------- */

void bdev_io_submit_backend(struct axon_bdev_io *io)
{
	struct bdev_channel *bch = io->internal.ch;

	bch->io_outstanding++;
	io->internal.in_submit = true;
	io->bdev->fn_table->submit_request(bch->backend_ch, io);
	io->internal.in_submit = false;
}

#define BDEV_RW_TYPES ((1u << AXON_BDEV_IO_TYPE_READ) | (1u << AXON_BDEV_IO_TYPE_WRITE))

void bdev_io_submit(struct axon_bdev_io *io)
{
	struct bdev_channel *bch = io->internal.ch;

	io->internal.submit_tsc = axon_get_ticks();
	if (axon_unlikely(bch->flags & BDEV_CH_FROZEN)) {
		TAILQ_INSERT_TAIL(&bch->frozen_io, io, internal.link);
		return;
	}
	/* QoS meters what users submit; the layer's own children ride on
	 * their parent's tokens. */
	if (axon_unlikely(bch->qos != NULL) && !(io->internal.flags & BDEV_IO_F_CHILD) &&
	    !bdev_qos_admit(bch, io)) {
		return;
	}
	bdev_io_dispatch(io);
}

void bdev_io_dispatch(struct axon_bdev_io *io)
{
	struct bdev_channel *bch = io->internal.ch;

	if (axon_likely((bch->native_types >> io->type) & 1)) {
		if (axon_unlikely((bch->rw_check || (io->internal.flags & BDEV_IO_F_FOREIGN)) &&
				  ((BDEV_RW_TYPES >> io->type) & 1))) {
			/* Failures found on the way complete through the
			 * deferred path, never inside the user's submit call. */
			io->internal.in_submit = true;
			bdev_io_rw_prepare(io);
			io->internal.in_submit = false;
			return;
		}
		bdev_io_submit_backend(io);
		return;
	}
	io->internal.in_submit = true;
	io->internal.flags |= BDEV_IO_F_EMULATED;
	bdev_emu_start(io);
	io->internal.in_submit = false;
}

void bdev_channel_retry_nomem(struct bdev_channel *bch)
{
	struct axon_bdev_io *io;

	if (bch->flags & BDEV_CH_FROZEN) {
		return;
	}
	while ((io = TAILQ_FIRST(&bch->nomem_io)) != NULL) {
		TAILQ_REMOVE(&bch->nomem_io, io, internal.link);
		bdev_io_submit_backend(io);
		/* Bounced again at once: the backend is still short. */
		if (TAILQ_LAST(&bch->nomem_io, bdev_io_tailq) == io) {
			break;
		}
	}
}

/* Allocate and fill a bdev_io for a block I/O after the common checks. */
static inline int io_prep(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			  enum axon_bdev_io_type type, uint64_t offset_blocks,
			  uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg,
			  struct axon_bdev_io **iop)
{
	struct axon_bdev *bdev = desc->bdev;
	struct bdev_channel *bch;
	struct axon_bdev_io *io;

	if (axon_unlikely(num_blocks == 0 || cb == NULL ||
			  offset_blocks + num_blocks < offset_blocks ||
			  offset_blocks + num_blocks > bdev->blockcnt)) {
		return -EINVAL;
	}
	if (axon_unlikely(((BDEV_WRITE_TYPES >> type) & 1) && !desc->write)) {
		return -EBADF;
	}
	bch = bdev_ch_get(ch);
	io = bdev_io_alloc(bch);
	if (axon_unlikely(io == NULL)) {
		return -ENOMEM;
	}
	io->type = (uint8_t)type;
	io->internal.desc = desc;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	io->u.bdev.offset_blocks = offset_blocks;
	io->u.bdev.num_blocks = num_blocks;
	io->u.bdev.iovs = NULL;
	io->u.bdev.iovcnt = 0;
	io->u.bdev.fused_iovs = NULL;
	io->u.bdev.fused_iovcnt = 0;
	io->u.bdev.md_buf = NULL;
	io->u.bdev.memory_domain = NULL;
	io->u.bdev.memory_domain_ctx = NULL;
	*iop = io;
	return 0;
}

static inline void io_set_buf(struct axon_bdev_io *io, void *buf)
{
	io->u.bdev.iov.iov_base = buf;
	io->u.bdev.iov.iov_len = bdev_io_bytes(io);
	io->u.bdev.iovs = &io->u.bdev.iov;
	io->u.bdev.iovcnt = 1;
}

/* Apply the _ext options. Returns 0 or a negative errno (io not yet submitted). */
static int io_apply_opts(struct axon_bdev_io *io, const struct axon_bdev_ext_io_opts *opts)
{
	if (opts == NULL) {
		return 0;
	}
	if (opts->size < sizeof(opts->size)) {
		return -EINVAL;
	}
	if (opts->size > offsetof(struct axon_bdev_ext_io_opts, metadata)) {
		io->u.bdev.md_buf = opts->metadata;
	}
	if (opts->size > offsetof(struct axon_bdev_ext_io_opts, memory_domain) &&
	    opts->memory_domain != NULL) {
		struct axon_memory_domain *d = opts->memory_domain;
		void *ctx = NULL;

		if (opts->size > offsetof(struct axon_bdev_ext_io_opts, memory_domain_ctx)) {
			ctx = opts->memory_domain_ctx;
		}
		if (bdev_reaches_domain(io->bdev, d)) {
			io->u.bdev.memory_domain = d;
			io->u.bdev.memory_domain_ctx = ctx;
		} else if (d != axon_memory_domain_get_system_domain()) {
			/* Staged through local buffers (bdev_bounce.c). */
			io->internal.flags |= BDEV_IO_F_FOREIGN;
			io->internal.orig_domain = d;
			io->internal.orig_domain_ctx = ctx;
		}
	}
	return 0;
}

static int submit_rw(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
		     enum axon_bdev_io_type type, void *buf, struct iovec *iov, int iovcnt,
		     uint64_t offset_blocks, uint64_t num_blocks, axon_bdev_io_completion_cb cb,
		     void *cb_arg, const struct axon_bdev_ext_io_opts *opts)
{
	struct axon_bdev_io *io;
	int rc;

	if (axon_unlikely(iov != NULL && iovcnt <= 0)) {
		return -EINVAL;
	}
	rc = io_prep(desc, ch, type, offset_blocks, num_blocks, cb, cb_arg, &io);
	if (axon_unlikely(rc != 0)) {
		return rc;
	}
	if (iov != NULL) {
		io->u.bdev.iovs = iov;
		io->u.bdev.iovcnt = iovcnt;
	} else {
		io_set_buf(io, buf);
	}
	if (axon_unlikely(opts != NULL)) {
		rc = io_apply_opts(io, opts);
		if (rc != 0) {
			axon_bdev_free_io(io);
			return rc;
		}
	}
	bdev_io_submit(io);
	return 0;
}

/* Convert a byte range to blocks; false if it is not block-aligned. */
static inline bool bytes_to_blocks(const struct axon_bdev_desc *desc, uint64_t offset,
				   uint64_t nbytes, uint64_t *offset_blocks, uint64_t *num_blocks)
{
	uint32_t bl = desc->bdev->blocklen;

	*offset_blocks = offset / bl;
	*num_blocks = nbytes / bl;
	return offset % bl == 0 && nbytes % bl == 0;
}

int axon_bdev_read_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_READ, buf, NULL, 0, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_read(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_read_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int axon_bdev_readv_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_READ, NULL, iov, iovcnt, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_readv(struct axon_bdev_desc *desc, struct axon_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
		    void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_readv_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int axon_bdev_readv_blocks_ext(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			       struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			       uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg,
			       const struct axon_bdev_ext_io_opts *opts)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_READ, NULL, iov, iovcnt, offset_blocks,
			 num_blocks, cb, cb_arg, opts);
}

int axon_bdev_write_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_WRITE, buf, NULL, 0, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_write(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
		    uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_write_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int axon_bdev_writev_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_WRITE, NULL, iov, iovcnt, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_writev(struct axon_bdev_desc *desc, struct axon_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
		     void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_writev_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int axon_bdev_writev_blocks_ext(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				struct iovec *iov, int iovcnt, uint64_t offset_blocks,
				uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg,
				const struct axon_bdev_ext_io_opts *opts)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_WRITE, NULL, iov, iovcnt, offset_blocks,
			 num_blocks, cb, cb_arg, opts);
}

/* Write zeroes, unmap, flush: no data. */
static int submit_nodata(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			 enum axon_bdev_io_type type, uint64_t offset_blocks, uint64_t num_blocks,
			 axon_bdev_io_completion_cb cb, void *cb_arg)
{
	struct axon_bdev_io *io;
	int rc;

	if (!axon_bdev_io_type_supported(desc->bdev, type)) {
		return -ENOTSUP;
	}
	rc = io_prep(desc, ch, type, offset_blocks, num_blocks, cb, cb_arg, &io);
	if (rc != 0) {
		return rc;
	}
	bdev_io_submit(io);
	return 0;
}

int axon_bdev_write_zeroes_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks,
				  axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, AXON_BDEV_IO_TYPE_WRITE_ZEROES, offset_blocks, num_blocks,
			     cb, cb_arg);
}

int axon_bdev_write_zeroes(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
			   void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_write_zeroes_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int axon_bdev_unmap_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, AXON_BDEV_IO_TYPE_UNMAP, offset_blocks, num_blocks, cb,
			     cb_arg);
}

int axon_bdev_unmap(struct axon_bdev_desc *desc, struct axon_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_unmap_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int axon_bdev_flush_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, AXON_BDEV_IO_TYPE_FLUSH, offset_blocks, num_blocks, cb,
			     cb_arg);
}

int axon_bdev_flush(struct axon_bdev_desc *desc, struct axon_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return axon_bdev_flush_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int axon_bdev_comparev_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	if (!axon_bdev_io_type_supported(desc->bdev, AXON_BDEV_IO_TYPE_COMPARE)) {
		return -ENOTSUP;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_COMPARE, NULL, iov, iovcnt, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_compare_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     axon_bdev_io_completion_cb cb, void *cb_arg)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	if (!axon_bdev_io_type_supported(desc->bdev, AXON_BDEV_IO_TYPE_COMPARE)) {
		return -ENOTSUP;
	}
	return submit_rw(desc, ch, AXON_BDEV_IO_TYPE_COMPARE, buf, NULL, 0, offset_blocks,
			 num_blocks, cb, cb_arg, NULL);
}

int axon_bdev_comparev_and_writev_blocks(struct axon_bdev_desc *desc,
					 struct axon_io_channel *ch, struct iovec *compare_iov,
					 int compare_iovcnt, struct iovec *write_iov,
					 int write_iovcnt, uint64_t offset_blocks,
					 uint64_t num_blocks, axon_bdev_io_completion_cb cb,
					 void *cb_arg)
{
	struct axon_bdev_io *io;
	int rc;

	if (compare_iov == NULL || write_iov == NULL || compare_iovcnt <= 0 ||
	    write_iovcnt <= 0) {
		return -EINVAL;
	}
	if (!axon_bdev_io_type_supported(desc->bdev, AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE)) {
		return -ENOTSUP;
	}
	rc = io_prep(desc, ch, AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE, offset_blocks, num_blocks,
		     cb, cb_arg, &io);
	if (rc != 0) {
		return rc;
	}
	io->u.bdev.iovs = compare_iov;
	io->u.bdev.iovcnt = compare_iovcnt;
	io->u.bdev.fused_iovs = write_iov;
	io->u.bdev.fused_iovcnt = write_iovcnt;
	bdev_io_submit(io);
	return 0;
}

static int submit_passthru(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   enum axon_bdev_io_type type, const struct axon_nvme_cmd *cmd,
			   void *buf, size_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg)
{
	struct bdev_channel *bch;
	struct axon_bdev_io *io;

	if (cmd == NULL || cb == NULL || (buf == NULL && nbytes != 0)) {
		return -EINVAL;
	}
	if (!desc->write) {
		return -EBADF;
	}
	if (!axon_bdev_io_type_supported_native(desc->bdev, type)) {
		return -ENOTSUP;
	}
	bch = bdev_ch_get(ch);
	io = bdev_io_alloc(bch);
	if (io == NULL) {
		return -ENOMEM;
	}
	io->type = (uint8_t)type;
	io->internal.desc = desc;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	io->u.nvme_passthru.cmd = cmd;
	io->u.nvme_passthru.buf = buf;
	io->u.nvme_passthru.nbytes = nbytes;
	bdev_io_submit(io);
	return 0;
}

int axon_bdev_nvme_io_passthru(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			       const struct axon_nvme_cmd *cmd, void *buf, size_t nbytes,
			       axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_passthru(desc, ch, AXON_BDEV_IO_TYPE_NVME_IO, cmd, buf, nbytes, cb, cb_arg);
}

int axon_bdev_nvme_admin_passthru(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				  const struct axon_nvme_cmd *cmd, void *buf, size_t nbytes,
				  axon_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_passthru(desc, ch, AXON_BDEV_IO_TYPE_NVME_ADMIN, cmd, buf, nbytes, cb,
			       cb_arg);
}

int axon_bdev_reset(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
		    axon_bdev_io_completion_cb cb, void *cb_arg)
{
	struct bdev_channel *bch;
	struct axon_bdev_io *io;

	if (cb == NULL) {
		return -EINVAL;
	}
	bch = bdev_ch_get(ch);
	io = bdev_io_alloc(bch);
	if (io == NULL) {
		return -ENOMEM;
	}
	io->type = AXON_BDEV_IO_TYPE_RESET;
	io->internal.desc = desc;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	io->internal.submit_tsc = axon_get_ticks();
	memset(&io->u.bdev, 0, sizeof(io->u.bdev));
	bdev_reset_start(io);
	return 0;
}

/* ---- completed I/O -------------------------------------------------------------- */

void axon_bdev_io_get_nvme_status(const struct axon_bdev_io *io, uint32_t *cdw0, int *sct,
				  int *sc)
{
	int t = 0, c = 0;

	switch (io->internal.status) {
	case AXON_BDEV_IO_STATUS_SUCCESS:
		break;
	case AXON_BDEV_IO_STATUS_NVME_ERROR:
		t = io->internal.nvme_sct;
		c = io->internal.nvme_sc;
		break;
	case AXON_BDEV_IO_STATUS_ABORTED:
		c = 0x07; /* Command Abort Requested */
		break;
	case AXON_BDEV_IO_STATUS_MISCOMPARE:
		t = 0x2;  /* Media and Data Integrity Errors */
		c = 0x85; /* Compare Failure */
		break;
	default:
		c = 0x06; /* Internal Device Error */
		break;
	}
	if (cdw0 != NULL) {
		*cdw0 = io->internal.nvme_cdw0;
	}
	if (sct != NULL) {
		*sct = t;
	}
	if (sc != NULL) {
		*sc = c;
	}
}

void axon_bdev_io_get_iovec(struct axon_bdev_io *io, struct iovec **iovp, int *iovcntp)
{
	bool data = io->type == AXON_BDEV_IO_TYPE_READ || io->type == AXON_BDEV_IO_TYPE_WRITE ||
		    io->type == AXON_BDEV_IO_TYPE_COMPARE ||
		    io->type == AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE;

	if (iovp != NULL) {
		*iovp = data ? io->u.bdev.iovs : NULL;
	}
	if (iovcntp != NULL) {
		*iovcntp = data ? io->u.bdev.iovcnt : 0;
	}
}

enum axon_bdev_io_type axon_bdev_io_get_type(const struct axon_bdev_io *io)
{
	return (enum axon_bdev_io_type)io->type;
}

struct axon_bdev *axon_bdev_io_get_bdev(const struct axon_bdev_io *io)
{
	return io->bdev;
}

struct axon_thread *axon_bdev_io_get_thread(struct axon_bdev_io *io)
{
	return io->internal.ch->thread;
}

struct axon_io_channel *axon_bdev_io_get_io_channel(struct axon_bdev_io *io)
{
	return io->internal.ch->backend_ch;
}

/* ---- data buffers ------------------------------------------------------------------- */

void bdev_io_buf_attach(struct axon_bdev_io *io, void *buf, bool large)
{
	struct bdev_channel *bch = io->internal.ch;

	io->internal.buf = buf;
	if (large) {
		io->internal.flags |= BDEV_IO_F_LARGE_BUF;
	}
	if (io->internal.flags & BDEV_IO_F_BUF_TO_IOV) {
		if (io->u.bdev.iovs == NULL) {
			io->u.bdev.iovs = &io->u.bdev.iov;
			io->u.bdev.iovcnt = 1;
		}
		io->u.bdev.iovs[0].iov_base = bdev_io_buf_ptr(io);
		io->u.bdev.iovs[0].iov_len = io->internal.buf_len;
	}
	io->internal.get_buf_cb(bch->backend_ch, io, true);
}

void bdev_buf_put(struct bdev_mgmt_channel *mgmt, void *buf, bool large)
{
	struct axon_bdev_io *waiter;
	struct bdev_buf *b = buf;

	if (large) {
		waiter = TAILQ_FIRST(&mgmt->need_large);
		if (waiter != NULL) {
			TAILQ_REMOVE(&mgmt->need_large, waiter, internal.link);
			bdev_io_buf_attach(waiter, buf, true);
		} else if (mgmt->large_count < BDEV_LARGE_BUF_CACHE) {
			STAILQ_INSERT_HEAD(&mgmt->large_cache, b, link);
			mgmt->large_count++;
		} else {
			axon_mempool_put(g_bdev_mgr.large_pool, buf);
		}
		return;
	}
	waiter = TAILQ_FIRST(&mgmt->need_small);
	if (waiter != NULL) {
		TAILQ_REMOVE(&mgmt->need_small, waiter, internal.link);
		bdev_io_buf_attach(waiter, buf, false);
	} else if (mgmt->small_count < BDEV_SMALL_BUF_CACHE) {
		STAILQ_INSERT_HEAD(&mgmt->small_cache, b, link);
		mgmt->small_count++;
	} else {
		axon_mempool_put(g_bdev_mgr.small_pool, buf);
	}
}

static void *buf_get(struct bdev_mgmt_channel *mgmt, bool large)
{
	struct bdev_buf *b;

	if (large) {
		b = STAILQ_FIRST(&mgmt->large_cache);
		if (b != NULL) {
			STAILQ_REMOVE_HEAD(&mgmt->large_cache, link);
			mgmt->large_count--;
			return b;
		}
		return TAILQ_EMPTY(&mgmt->need_large) ? axon_mempool_get(g_bdev_mgr.large_pool)
						      : NULL;
	}
	b = STAILQ_FIRST(&mgmt->small_cache);
	if (b != NULL) {
		STAILQ_REMOVE_HEAD(&mgmt->small_cache, link);
		mgmt->small_count--;
		return b;
	}
	return TAILQ_EMPTY(&mgmt->need_small) ? axon_mempool_get(g_bdev_mgr.small_pool) : NULL;
}

void bdev_io_buf_alloc(struct axon_bdev_io *io, uint64_t len, axon_bdev_io_get_buf_cb cb)
{
	struct bdev_mgmt_channel *mgmt = io->internal.ch->mgmt;
	bool large = len > AXON_BDEV_SMALL_BUF_SIZE;
	void *buf;

	assert(len <= AXON_BDEV_LARGE_BUF_SIZE);
	io->internal.get_buf_cb = cb;
	io->internal.buf_len = len;
	buf = buf_get(mgmt, large);
	if (buf == NULL) {
		TAILQ_INSERT_TAIL(large ? &mgmt->need_large : &mgmt->need_small, io,
				  internal.link);
		bdev_mgmt_wait_arm(mgmt);
		return;
	}
	bdev_io_buf_attach(io, buf, large);
}

void axon_bdev_io_get_buf(struct axon_bdev_io *io, axon_bdev_io_get_buf_cb cb, uint64_t len)
{
	struct iovec *iov = io->u.bdev.iovs;

	if (iov != NULL && iov[0].iov_base != NULL) {
		cb(io->internal.ch->backend_ch, io, true);
		return;
	}
	if (len > AXON_BDEV_LARGE_BUF_SIZE || io->internal.buf != NULL) {
		cb(io->internal.ch->backend_ch, io, false);
		return;
	}
	io->internal.flags |= BDEV_IO_F_BUF_TO_IOV;
	bdev_io_buf_alloc(io, len, cb);
}

/* The management channel's timed poller: look at the shared pools for
 * waiters that no local free served. */
int bdev_wait_poll(void *arg)
{
	struct bdev_mgmt_channel *mgmt = arg;
	struct axon_bdev_io *io;
	void *buf;
	int busy = AXON_POLLER_IDLE;

	if (!TAILQ_EMPTY(&mgmt->io_wait_queue) && mgmt->io_cache_count == 0) {
		io = axon_mempool_get(g_bdev_mgr.io_pool);
		if (io != NULL) {
			STAILQ_INSERT_HEAD(&mgmt->io_cache, io, internal.stailq);
			mgmt->io_cache_count++;
			busy = AXON_POLLER_BUSY;
		}
	}
	while (mgmt->io_cache_count > 0 && !TAILQ_EMPTY(&mgmt->io_wait_queue)) {
		struct axon_bdev_io_wait_entry *e = TAILQ_FIRST(&mgmt->io_wait_queue);

		TAILQ_REMOVE(&mgmt->io_wait_queue, e, link);
		e->cb_fn(e->cb_arg);
		busy = AXON_POLLER_BUSY;
	}
	while ((io = TAILQ_FIRST(&mgmt->need_small)) != NULL &&
	       (buf = axon_mempool_get(g_bdev_mgr.small_pool)) != NULL) {
		TAILQ_REMOVE(&mgmt->need_small, io, internal.link);
		bdev_io_buf_attach(io, buf, false);
		busy = AXON_POLLER_BUSY;
	}
	while ((io = TAILQ_FIRST(&mgmt->need_large)) != NULL &&
	       (buf = axon_mempool_get(g_bdev_mgr.large_pool)) != NULL) {
		TAILQ_REMOVE(&mgmt->need_large, io, internal.link);
		bdev_io_buf_attach(io, buf, true);
		busy = AXON_POLLER_BUSY;
	}
	if (TAILQ_EMPTY(&mgmt->io_wait_queue) && TAILQ_EMPTY(&mgmt->need_small) &&
	    TAILQ_EMPTY(&mgmt->need_large)) {
		mgmt->wait_active = false;
		axon_poller_pause(mgmt->wait_poller);
	}
	return busy;
}
