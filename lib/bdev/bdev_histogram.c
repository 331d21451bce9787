/*
 * Latency histograms: each bdev channel counts the latency of the I/O it
 * completes (ticks from submission to completion, as in the statistics) into
 * its own histogram, so the I/O path takes no lock and shares no cache line.
 * axon_bdev_histogram_get() merges the channels' histograms with a channel
 * walk. The layout is SPDK's (see struct axon_bdev_histogram), so that tools
 * reading bdev_get_histogram's base64 blob work unchanged. Histograms are
 * allocated and freed on the channels' threads by the walks of enable and
 * disable, never on the I/O path. A channel that goes away takes its counts
 * with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

static uint32_t histogram_num_buckets(uint32_t shift)
{
	return (64u - shift + 1u) << shift;
}

struct axon_bdev_histogram *bdev_histogram_alloc(uint32_t shift)
{
	uint32_t n = histogram_num_buckets(shift);
	struct axon_bdev_histogram *h = calloc(1, sizeof(*h) + n * sizeof(uint64_t));

	if (h != NULL) {
		h->bucket_shift = shift;
		h->num_buckets = n;
	}
	return h;
}

void bdev_histogram_tally(struct axon_bdev_histogram *h, uint64_t value)
{
	uint32_t shift = h->bucket_shift;
	uint32_t bits = value != 0 ? 64u - (uint32_t)__builtin_clzll(value) : 0;
	uint32_t range = bits > shift ? bits - shift : 0;
	uint64_t index = (value >> (range > 0 ? range - 1 : 0)) & ((UINT64_C(1) << shift) - 1);

	h->bucket[((uint64_t)range << shift) + index]++;
}

void bdev_histogram_merge(struct axon_bdev_histogram *dst, const struct axon_bdev_histogram *src)
{
	for (uint32_t i = 0; i < dst->num_buckets; i++) {
		dst->bucket[i] += src->bucket[i];
	}
}

bool axon_bdev_histogram_is_enabled(const struct axon_bdev *bdev)
{
	return atomic_load(&bdev->internal->histogram_enabled);
}

/* ---- enable / disable --------------------------------------------------------- */

struct histogram_set_ctx {
	struct bdev_internal *bi;
	bool enable;
	uint32_t shift;
	uint8_t type;
	int status;
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
};

static void histogram_set_channel(struct axon_io_channel_iter *i)
{
	struct histogram_set_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));

	if (!ctx->enable || (bch->histogram != NULL &&
			     (bch->histogram->bucket_shift != ctx->shift ||
			      bch->histogram_type != ctx->type))) {
		free(bch->histogram);
		bch->histogram = NULL;
	}
	if (ctx->enable && bch->histogram == NULL) {
		bch->histogram_type = ctx->type;
		bch->histogram = bdev_histogram_alloc(ctx->shift);
		if (bch->histogram == NULL) {
			ctx->status = -ENOMEM;
		}
	}
	axon_for_each_channel_continue(i, 0);
}

static void histogram_set_done(struct axon_io_channel_iter *i, int status)
{
	struct histogram_set_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status; /* -ENODEV: no channel to change */
	ctx->bi->histogram_busy = false;
	ctx->cb(ctx->cb_arg, ctx->status);
	free(ctx);
}

void axon_bdev_histogram_enable(struct axon_bdev *bdev, bool enable,
				void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	axon_bdev_histogram_enable_ext(bdev, enable, BDEV_HISTOGRAM_SHIFT,
				       AXON_BDEV_IO_TYPE_INVALID, cb, cb_arg);
}

void axon_bdev_histogram_enable_ext(struct axon_bdev *bdev, bool enable, uint32_t bucket_shift,
				    enum axon_bdev_io_type type,
				    void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct bdev_internal *bi = bdev->internal;
	struct histogram_set_ctx *ctx;

	if (bucket_shift < 1 || bucket_shift > BDEV_HISTOGRAM_MAX_SHIFT ||
	    type < AXON_BDEV_IO_TYPE_INVALID || type >= AXON_BDEV_NUM_IO_TYPES) {
		cb(cb_arg, -EINVAL);
		return;
	}
	if (bi->histogram_busy) {
		cb(cb_arg, -EBUSY);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		cb(cb_arg, -ENOMEM);
		return;
	}
	ctx->bi = bi;
	ctx->enable = enable;
	ctx->shift = bucket_shift;
	ctx->type = (uint8_t)type;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	/* Before the walk: channels created meanwhile start with a histogram. */
	atomic_store(&bi->histogram_shift, bucket_shift);
	atomic_store(&bi->histogram_type, (uint8_t)type);
	atomic_store(&bi->histogram_enabled, enable);
	bi->histogram_busy = true;
	axon_for_each_channel(bi, histogram_set_channel, ctx, histogram_set_done);
}

/* ---- merging ---------------------------------------------------------------------- */

struct histogram_get_ctx {
	struct axon_bdev_histogram *merged;
	axon_bdev_histogram_cb cb;
	void *cb_arg;
};

static void histogram_get_channel(struct axon_io_channel_iter *i)
{
	struct histogram_get_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));

	if (bch->histogram != NULL && bch->histogram->bucket_shift == ctx->merged->bucket_shift) {
		bdev_histogram_merge(ctx->merged, bch->histogram);
	}
	axon_for_each_channel_continue(i, 0);
}

static void histogram_get_done(struct axon_io_channel_iter *i, int status)
{
	struct histogram_get_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status; /* -ENODEV: no channel, an empty histogram */
	ctx->cb(ctx->cb_arg, 0, ctx->merged);
	free(ctx);
}

void axon_bdev_histogram_get(struct axon_bdev *bdev, axon_bdev_histogram_cb cb, void *cb_arg)
{
	struct histogram_get_ctx *ctx;

	if (!axon_bdev_histogram_is_enabled(bdev)) {
		cb(cb_arg, -EINVAL, NULL);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || (ctx->merged = bdev_histogram_alloc(
				    atomic_load(&bdev->internal->histogram_shift))) == NULL) {
		free(ctx);
		cb(cb_arg, -ENOMEM, NULL);
		return;
	}
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	axon_for_each_channel(bdev->internal, histogram_get_channel, ctx, histogram_get_done);
}
