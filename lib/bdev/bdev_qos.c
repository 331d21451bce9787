/*
 * QoS: per-bdev limits on I/Os and bytes per second, enforced with token
 * buckets and no lock.
 *
 * Design. SPDK funnels every I/O of a limited bdev through one QoS thread.
 * Axon instead lets each channel admit its own I/O: the bdev has one bucket
 * per limit (struct bdev_qos), shared by all its channels and touched only
 * with atomics.
 *   - Admitting an I/O reads each bucket it is metered by; if every one holds
 *     a positive balance, it subtracts the I/O's cost from each (one I/O for
 *     the IOPS bucket, its bytes for the byte buckets) and the I/O goes on.
 *     A balance may go negative: a large I/O is admitted on any credit and
 *     its debt delays the next ones, so the long-run rate is exact.
 *   - Refill is lazy: whoever admits computes the tokens earned since the
 *     bucket's last refill (elapsed ticks x rate), and one of them wins a CAS
 *     on last_tsc to add them, capped at BDEV_QOS_BURST_US of tokens. The
 *     ticks that earned no whole token are carried to the next refill.
 *   - I/O that finds a bucket empty waits in its channel's qos_queue, in
 *     order; new I/O queues behind it. The channel's timed poller retries
 *     every BDEV_QOS_SLICE_US and pauses when the queue empties. A poll
 *     run admits at most its share of what the buckets hold (divided by
 *     the number of channels that wait), so channels share the rate.
 * Two channels can race past an almost empty bucket together: the excess is
 * at most one I/O per channel, repaid at once as debt. The burst cap bounds
 * what an idle bdev saves up (10 ms of traffic), far below 10% of a 10 s
 * window.
 *
 * Metered: every data-moving type (read, write, write zeroes, unmap,
 * compare, compare-and-write) counts one I/O; reads count their bytes
 * against the read and read-write byte limits, writes against the write and
 * read-write ones. Flush, reset and NVMe passthrough are not limited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

/* What a bucket may save up while idle, in microseconds of its rate. */
#define BDEV_QOS_BURST_US 10000u
/* Refill no more often than this (us): fewer CASes under load. */
#define BDEV_QOS_REFILL_MIN_US 50u
/* I/O the channel poller admits per call. */
#define BDEV_QOS_POLL_BUDGET 4096u
#define BDEV_QOS_MIB (1024u * 1024u)

#define QOS_IOPS_TYPES                                                                 \
	((1u << AXON_BDEV_IO_TYPE_READ) | (1u << AXON_BDEV_IO_TYPE_WRITE) |             \
	 (1u << AXON_BDEV_IO_TYPE_UNMAP) | (1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES) |     \
	 (1u << AXON_BDEV_IO_TYPE_COMPARE) | (1u << AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE))

struct bdev_qos_bucket {
	_Atomic int64_t tokens;
	_Atomic uint64_t last_tsc;
	/* Tokens per second (0: no limit) and the cap, set on the app thread. */
	_Atomic uint64_t rate;
	_Atomic int64_t cap;
};

struct bdev_qos {
	struct bdev_qos_bucket bucket[BDEV_QOS_NUM_LIMITS];
	/* Channels whose qos_queue is not empty: each poll run takes its
	 * share of the tokens, so that no thread's poller, by running first
	 * after a refill, starves the others. */
	atomic_uint waiters;
};

/* ---- buckets -------------------------------------------------------------- */

static void qos_refill(struct bdev_qos_bucket *b, uint64_t rate, uint64_t now)
{
	uint64_t hz = axon_get_ticks_hz();
	uint64_t last = atomic_load_explicit(&b->last_tsc, memory_order_relaxed);
	int64_t cap = atomic_load_explicit(&b->cap, memory_order_relaxed);
	unsigned __int128 add;
	uint64_t next_tsc;
	int64_t cur, next;

	if (now <= last || now - last < hz / 1000000u * BDEV_QOS_REFILL_MIN_US) {
		return;
	}
	add = (unsigned __int128)(now - last) * rate / hz;
	if (add == 0) {
		return;
	}
	cur = atomic_load_explicit(&b->tokens, memory_order_relaxed);
	if (cur >= cap || add >= (unsigned __int128)(cap - cur)) {
		/* Saved up to the cap: what else was earned is lost. */
		add = cur >= cap ? 0 : (unsigned __int128)(cap - cur);
		next_tsc = now;
	} else {
		/* Keep the ticks that earned no whole token. */
		next_tsc = last + (uint64_t)(add * hz / rate);
	}
	if (!atomic_compare_exchange_strong(&b->last_tsc, &last, next_tsc)) {
		return; /* another channel refilled */
	}
	cur = atomic_load_explicit(&b->tokens, memory_order_relaxed);
	do {
		next = cur + (int64_t)add;
		if (next > cap) {
			next = cap;
		}
	} while (!atomic_compare_exchange_weak(&b->tokens, &cur, next));
}

/* The cost of io against each limit (0: not metered by it). */
static void qos_costs(const struct axon_bdev_io *io, int64_t cost[BDEV_QOS_NUM_LIMITS])
{
	int64_t bytes = 0;

	memset(cost, 0, sizeof(cost[0]) * BDEV_QOS_NUM_LIMITS);
	if ((QOS_IOPS_TYPES >> io->type) & 1) {
		cost[AXON_BDEV_QOS_RW_IOPS_RATE_LIMIT] = 1;
	}
	if (io->type == AXON_BDEV_IO_TYPE_READ || io->type == AXON_BDEV_IO_TYPE_WRITE) {
		bytes = (int64_t)bdev_io_bytes(io);
		cost[AXON_BDEV_QOS_RW_BPS_RATE_LIMIT] = bytes;
		cost[io->type == AXON_BDEV_IO_TYPE_READ ? AXON_BDEV_QOS_R_BPS_RATE_LIMIT
							: AXON_BDEV_QOS_W_BPS_RATE_LIMIT] = bytes;
	}
}

/* Take io's tokens from every bucket that meters it, or none. */
static bool qos_take(struct bdev_qos *qos, const struct axon_bdev_io *io)
{
	int64_t cost[BDEV_QOS_NUM_LIMITS];
	uint64_t now = axon_get_ticks();
	bool metered[BDEV_QOS_NUM_LIMITS];

	qos_costs(io, cost);
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		struct bdev_qos_bucket *b = &qos->bucket[i];
		uint64_t rate = atomic_load_explicit(&b->rate, memory_order_relaxed);

		metered[i] = rate != 0 && cost[i] != 0;
		if (!metered[i]) {
			continue;
		}
		qos_refill(b, rate, now);
		if (atomic_load_explicit(&b->tokens, memory_order_relaxed) <= 0) {
			return false;
		}
	}
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		if (metered[i]) {
			atomic_fetch_sub_explicit(&qos->bucket[i].tokens, cost[i],
						  memory_order_relaxed);
		}
	}
	return true;
}

/* ---- channels --------------------------------------------------------------- */

/* How many I/O like io the buckets would admit now, after a refill (at
 * least 1). */
static uint64_t qos_estimate(struct bdev_qos *qos, const struct axon_bdev_io *io)
{
	int64_t cost[BDEV_QOS_NUM_LIMITS];
	uint64_t est = UINT64_MAX, now = axon_get_ticks();

	qos_costs(io, cost);
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		uint64_t rate = atomic_load_explicit(&qos->bucket[i].rate, memory_order_relaxed);
		int64_t t;

		if (cost[i] == 0 || rate == 0) {
			continue;
		}
		qos_refill(&qos->bucket[i], rate, now);
		t = atomic_load_explicit(&qos->bucket[i].tokens, memory_order_relaxed);
		/* A positive balance admits one more I/O than it covers. */
		est = AXON_MIN(est, t > 0 ? (uint64_t)(t + cost[i] - 1) / (uint64_t)cost[i] : 0);
	}
	return AXON_MAX(est, (uint64_t)1);
}

static void qos_queue_emptied(struct bdev_channel *bch)
{
	if (bch->qos != NULL) {
		atomic_fetch_sub(&bch->qos->waiters, 1);
	}
}

/* Send what waits in the queue on: admitted ones (qos != NULL), or all of
 * them once QoS is off. Returns how many went. */
static uint32_t qos_drain(struct bdev_channel *bch, uint32_t budget)
{
	struct axon_bdev_io *io;
	uint32_t n = 0;

	while (n < budget && (io = TAILQ_FIRST(&bch->qos_queue)) != NULL) {
		if (bch->flags & BDEV_CH_FROZEN) {
			/* A reset runs: the thaw resubmits these from the start. */
			TAILQ_REMOVE(&bch->qos_queue, io, internal.link);
			TAILQ_INSERT_TAIL(&bch->frozen_io, io, internal.link);
			continue;
		}
		if (bch->qos != NULL && !qos_take(bch->qos, io)) {
			break;
		}
		TAILQ_REMOVE(&bch->qos_queue, io, internal.link);
		bdev_io_dispatch(io);
		n++;
	}
	return n;
}

static int qos_poll(void *arg)
{
	struct bdev_channel *bch = arg;
	struct axon_bdev_io *head = TAILQ_FIRST(&bch->qos_queue);
	uint64_t share = BDEV_QOS_POLL_BUDGET;
	uint32_t n;

	if (head != NULL && bch->qos != NULL) {
		uint64_t w = AXON_MAX(atomic_load(&bch->qos->waiters), 1u);

		share = (qos_estimate(bch->qos, head) + w - 1) / w;
		share = AXON_MIN(share, (uint64_t)BDEV_QOS_POLL_BUDGET);
	}
	n = qos_drain(bch, (uint32_t)share);
	if (TAILQ_EMPTY(&bch->qos_queue)) {
		qos_queue_emptied(bch);
		axon_poller_pause(bch->qos_poller);
	}
	return n > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

bool bdev_qos_admit(struct bdev_channel *bch, struct axon_bdev_io *io)
{
	if (axon_likely(TAILQ_EMPTY(&bch->qos_queue)) && qos_take(bch->qos, io)) {
		return true;
	}
	if (TAILQ_EMPTY(&bch->qos_queue)) {
		atomic_fetch_add(&bch->qos->waiters, 1);
		axon_poller_resume(bch->qos_poller);
	}
	TAILQ_INSERT_TAIL(&bch->qos_queue, io, internal.link);
	return false;
}

int bdev_qos_channel_init(struct bdev_channel *bch)
{
	TAILQ_INIT(&bch->qos_queue);
	bch->qos_poller = axon_poller_register_named(qos_poll, bch, BDEV_QOS_SLICE_US,
						     "bdev_qos");
	if (bch->qos_poller == NULL) {
		return -ENOMEM;
	}
	axon_poller_pause(bch->qos_poller);
	bch->qos = atomic_load(&bch->bdev->internal->qos);
	return 0;
}

void bdev_qos_channel_abort(struct bdev_channel *bch)
{
	struct axon_bdev_io *io;

	if (!TAILQ_EMPTY(&bch->qos_queue)) {
		qos_queue_emptied(bch);
	}
	bch->qos = NULL;
	axon_poller_pause(bch->qos_poller);
	while ((io = TAILQ_FIRST(&bch->qos_queue)) != NULL) {
		TAILQ_REMOVE(&bch->qos_queue, io, internal.link);
		bdev_io_complete_status(io, AXON_BDEV_IO_STATUS_ABORTED);
	}
}

void bdev_qos_channel_fini(struct bdev_channel *bch)
{
	axon_poller_unregister(&bch->qos_poller);
}

/* ---- setting limits (app thread) ----------------------------------------------- */

struct qos_set_ctx {
	struct bdev_internal *bi;
	struct bdev_qos *qos;       /* published (on) or to free (off) */
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
};

static void qos_bucket_set(struct bdev_qos_bucket *b, uint64_t limit, uint64_t unit)
{
	uint64_t rate = limit * unit;
	int64_t cap = (int64_t)AXON_MAX(rate / (1000000u / BDEV_QOS_BURST_US), (uint64_t)1);
	uint64_t old = atomic_load(&b->rate);

	atomic_store(&b->cap, cap);
	if (old == 0 && rate != 0) {
		/* A new limit starts with a full bucket, from now. */
		atomic_store(&b->tokens, cap);
		atomic_store(&b->last_tsc, axon_get_ticks());
	}
	atomic_store(&b->rate, rate);
}

static void qos_apply_rates(struct bdev_qos *qos, const uint64_t *limits)
{
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		qos_bucket_set(&qos->bucket[i], limits[i],
			       i == AXON_BDEV_QOS_RW_IOPS_RATE_LIMIT ? 1u : BDEV_QOS_MIB);
	}
}

static void qos_set_channel(struct axon_io_channel_iter *i)
{
	struct qos_set_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));
	bool on = atomic_load(&ctx->bi->qos) != NULL;

	if (!on) {
		/* No limit any more: what waited goes now. */
		bch->qos = NULL;
		qos_drain(bch, UINT32_MAX);
		axon_poller_pause(bch->qos_poller);
	}
	bch->qos = on ? ctx->qos : NULL;
	axon_for_each_channel_continue(i, 0);
}

static void qos_set_done(struct axon_io_channel_iter *i, int status)
{
	struct qos_set_ctx *ctx = axon_io_channel_iter_get_ctx(i);

	(void)status; /* -ENODEV: no channel left to change */
	if (atomic_load(&ctx->bi->qos) == NULL) {
		/* Every channel has let go of the buckets. */
		free(ctx->qos);
	}
	ctx->bi->qos_busy = false;
	ctx->cb(ctx->cb_arg, 0);
	free(ctx);
}

void axon_bdev_set_qos_rate_limits(struct axon_bdev *bdev, const uint64_t *limits,
				   void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct bdev_internal *bi = bdev->internal;
	struct bdev_qos *qos = atomic_load(&bi->qos);
	uint64_t next[BDEV_QOS_NUM_LIMITS];
	struct qos_set_ctx *ctx;
	bool any = false;

	if (bi->qos_busy) {
		cb(cb_arg, -EBUSY);
		return;
	}
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		next[i] = limits[i] == AXON_BDEV_QOS_LIMIT_NOT_DEFINED ? bi->qos_limits[i]
								     : limits[i];
		any = any || next[i] != 0;
	}
	if ((qos != NULL) == any) {
		/* On and staying on (channels see the new rates at once), or
		 * off and staying off. */
		memcpy(bi->qos_limits, next, sizeof(next));
		if (qos != NULL) {
			qos_apply_rates(qos, next);
		}
		cb(cb_arg, 0);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || (any && (qos = calloc(1, sizeof(*qos))) == NULL)) {
		free(ctx);
		cb(cb_arg, -ENOMEM);
		return;
	}
	memcpy(bi->qos_limits, next, sizeof(next));
	ctx->bi = bi;
	ctx->qos = qos;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	if (any) {
		qos_apply_rates(qos, next);
	}
	/* Published before the walk: channels created meanwhile read it. */
	atomic_store(&bi->qos, any ? qos : NULL);
	bi->qos_busy = true;
	axon_for_each_channel(bi, qos_set_channel, ctx, qos_set_done);
}

void axon_bdev_get_qos_rate_limits(struct axon_bdev *bdev, uint64_t *limits)
{
	memcpy(limits, bdev->internal->qos_limits, sizeof(bdev->internal->qos_limits));
}

void bdev_qos_free(struct bdev_internal *bi)
{
	free(atomic_load(&bi->qos));
	atomic_store(&bi->qos, NULL);
}

void bdev_qos_config_json(struct axon_bdev *bdev, json_t *array)
{
	const uint64_t *l = bdev->internal->qos_limits;
	static const char *const names[BDEV_QOS_NUM_LIMITS] = {
		"rw_ios_per_sec", "rw_mbytes_per_sec", "r_mbytes_per_sec", "w_mbytes_per_sec",
	};
	json_t *params;

	if (atomic_load(&bdev->internal->qos) == NULL) {
		return;
	}
	params = json_pack("{s:s}", "name", axon_bdev_get_name(bdev));
	for (int i = 0; i < BDEV_QOS_NUM_LIMITS; i++) {
		json_object_set_new(params, names[i], json_integer((json_int_t)l[i]));
	}
	json_array_append_new(array, json_pack("{s:s, s:o}", "method", "bdev_set_qos_limit",
					       "params", params));
}
