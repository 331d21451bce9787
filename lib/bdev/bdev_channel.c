/*
 * Bdev channels: one per (bdev, thread), wrapping the backend's channel and
 * the thread's management channel, and holding the channel's statistics.
 *
 * A channel can outlive its axon_io_channel: when the user puts it while
 * bdev_ios taken from it are not yet freed, the channel turns defunct and is
 * freed with the last of them, so a completion never touches freed memory.
 * The bdev's live_channels count keeps its unregistration waiting meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

static int nomem_poll(void *arg)
{
	struct bdev_channel *bch = arg;

	bdev_channel_retry_nomem(bch);
	if (TAILQ_EMPTY(&bch->nomem_io) || bch->io_outstanding > 0) {
		/* Completions retry from here on. */
		axon_poller_pause(bch->nomem_poller);
	}
	return AXON_POLLER_BUSY;
}

/* Can a read or write of this bdev need splitting or a bounce? */
static bool channel_needs_rw_check(const struct axon_bdev *bdev)
{
	return bdev->required_alignment != 0 || bdev->max_rw_size != 0 ||
	       bdev->max_segment_size != 0 || bdev->max_num_segments != 0 ||
	       (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0);
}

int bdev_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_internal *bi = io_device;
	struct axon_bdev *bdev = bi->bdev;
	struct bdev_channel *bch = calloc(1, sizeof(*bch));

	if (bch == NULL) {
		return -ENOMEM;
	}
	bch->bdev = bdev;
	bch->thread = axon_get_thread();
	bch->native_types = bi->native_types;
	TAILQ_INIT(&bch->nomem_io);
	TAILQ_INIT(&bch->frozen_io);
	TAILQ_INIT(&bch->caw_waiting);
	axon_bdev_io_stat_init(&bch->stat);
	bch->mgmt = bdev_mgmt_get(&bch->mgmt_ioch);
	if (bch->mgmt == NULL) {
		AXON_ERRLOG("bdev %s: no management channel on this thread", bi->name);
		goto err_free;
	}
	bch->backend_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
	if (bch->backend_ch == NULL) {
		AXON_ERRLOG("bdev %s: the %s module gave no I/O channel", bi->name,
			    bdev->module->name);
		goto err_mgmt;
	}
	bch->nomem_poller = axon_poller_register_named(nomem_poll, bch, BDEV_NOMEM_RETRY_US,
						       "bdev_nomem_retry");
	if (bch->nomem_poller == NULL) {
		goto err_backend;
	}
	axon_poller_pause(bch->nomem_poller);
	if (bdev_qos_channel_init(bch) != 0) {
		goto err_nomem_poller;
	}
	if (atomic_load(&bi->histogram_enabled)) {
		bch->histogram_type = atomic_load(&bi->histogram_type);
		bch->histogram = bdev_histogram_alloc(atomic_load(&bi->histogram_shift));
		if (bch->histogram == NULL) {
			goto err_qos;
		}
	}
	bch->rw_check = channel_needs_rw_check(bdev);
	if (atomic_load(&bi->frozen) > 0) {
		bch->flags |= BDEV_CH_FROZEN;
	}
	atomic_fetch_add(&bi->live_channels, 1);
	*(struct bdev_channel **)ctx_buf = bch;
	return 0;

err_qos:
	bdev_qos_channel_fini(bch);
err_nomem_poller:
	axon_poller_unregister(&bch->nomem_poller);
err_backend:
	axon_put_io_channel(bch->backend_ch);
err_mgmt:
	axon_put_io_channel(bch->mgmt_ioch);
err_free:
	free(bch);
	return -ENOMEM;
}

static void _channel_unregister_resume(void *ctx)
{
	bdev_unregister_resume(ctx);
}

void bdev_channel_maybe_free(struct bdev_channel *bch)
{
	struct bdev_internal *bi = bch->bdev->internal;

	if (!bch->defunct || bch->held > 0) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	axon_bdev_io_stat_add(&bi->stat_gone, &bch->stat);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	axon_poller_unregister(&bch->nomem_poller);
	bdev_qos_channel_fini(bch);
	free(bch->histogram);
	axon_put_io_channel(bch->backend_ch);
	axon_put_io_channel(bch->mgmt_ioch);
	free(bch);
	if (atomic_fetch_sub(&bi->live_channels, 1) == 1 &&
	    axon_thread_send_msg(bi->unreg_thread, _channel_unregister_resume, bi) != 0) {
		AXON_ERRLOG("bdev %s: cannot resume unregistration", bi->name);
	}
}

/* Complete every I/O of a layer queue with status aborted. */
static void abort_queue(struct bdev_io_tailq *q)
{
	struct axon_bdev_io *io;

	while ((io = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, io, internal.link);
		bdev_io_complete_status(io, AXON_BDEV_IO_STATUS_ABORTED);
	}
}

void bdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_channel *bch = *(struct bdev_channel **)ctx_buf;

	(void)io_device;
	/* I/O that waits in the layer has no one to resubmit it any more. */
	bdev_qos_channel_abort(bch);
	abort_queue(&bch->frozen_io);
	abort_queue(&bch->nomem_io);
	abort_queue(&bch->caw_waiting);
	bch->defunct = true;
	bdev_channel_maybe_free(bch);
}

/* ---- statistics ---------------------------------------------------------- */

void bdev_stat_account(struct bdev_channel *bch, struct axon_bdev_io *io, uint64_t now)
{
	struct axon_bdev_io_type_stat *t = &bch->stat.type[io->type];
	uint64_t lat;

	if (axon_unlikely(io->internal.status != AXON_BDEV_IO_STATUS_SUCCESS)) {
		t->errors++;
		return;
	}
	lat = now - io->internal.submit_tsc;
	t->ops++;
	if ((BDEV_BYTES_TYPES >> io->type) & 1) {
		t->bytes += bdev_io_bytes(io);
	}
	t->latency_ticks += lat;
	if (lat < t->min_latency_ticks) {
		t->min_latency_ticks = lat;
	}
	if (lat > t->max_latency_ticks) {
		t->max_latency_ticks = lat;
	}
}

void axon_bdev_io_stat_init(struct axon_bdev_io_stat *stat)
{
	memset(stat, 0, sizeof(*stat));
	for (int i = 0; i < AXON_BDEV_NUM_IO_TYPES; i++) {
		stat->type[i].min_latency_ticks = UINT64_MAX;
	}
}

void axon_bdev_io_stat_add(struct axon_bdev_io_stat *dst, const struct axon_bdev_io_stat *src)
{
	for (int i = 0; i < AXON_BDEV_NUM_IO_TYPES; i++) {
		struct axon_bdev_io_type_stat *d = &dst->type[i];
		const struct axon_bdev_io_type_stat *s = &src->type[i];

		d->ops += s->ops;
		d->bytes += s->bytes;
		d->errors += s->errors;
		d->latency_ticks += s->latency_ticks;
		if (s->min_latency_ticks < d->min_latency_ticks) {
			d->min_latency_ticks = s->min_latency_ticks;
		}
		if (s->max_latency_ticks > d->max_latency_ticks) {
			d->max_latency_ticks = s->max_latency_ticks;
		}
	}
}

void axon_bdev_get_io_stat(struct axon_bdev *bdev, struct axon_io_channel *ch,
			   struct axon_bdev_io_stat *stat)
{
	(void)bdev;
	*stat = bdev_ch_get(ch)->stat;
}

struct device_stat_ctx {
	struct axon_bdev *bdev;
	struct axon_bdev_io_stat *stat;
	axon_bdev_get_device_stat_cb cb;
	void *cb_arg;
};

static void device_stat_visit(struct axon_io_channel_iter *i)
{
	struct device_stat_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));

	axon_bdev_io_stat_add(ctx->stat, &bch->stat);
	axon_for_each_channel_continue(i, 0);
}

static void device_stat_done(struct axon_io_channel_iter *i, int status)
{
	struct device_stat_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct bdev_internal *bi = ctx->bdev->internal;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	axon_bdev_io_stat_add(ctx->stat, &bi->stat_gone);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	ctx->cb(ctx->bdev, ctx->stat, ctx->cb_arg, status);
	free(ctx);
}

void axon_bdev_get_device_stat(struct axon_bdev *bdev, struct axon_bdev_io_stat *stat,
			       axon_bdev_get_device_stat_cb cb, void *cb_arg)
{
	struct device_stat_ctx *ctx = calloc(1, sizeof(*ctx));

	axon_bdev_io_stat_init(stat);
	if (ctx == NULL) {
		cb(bdev, stat, cb_arg, -ENOMEM);
		return;
	}
	ctx->bdev = bdev;
	ctx->stat = stat;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	axon_for_each_channel(bdev->internal, device_stat_visit, ctx, device_stat_done);
}
