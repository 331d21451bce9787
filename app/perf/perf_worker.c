/*
 * A perf worker: one axon_thread pinned to a core, one I/O qpair per
 * namespace in one poll group, qd I/Os kept in flight per namespace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/util.h"
#include "perf.h"

/* Completions taken per qpair per poll. */
#define PERF_COMPLETION_BUDGET 64

struct perf_task {
	struct perf_worker_ns *wns;
	void *buf;
	uint64_t submit_tsc;
};

struct perf_worker_ns {
	struct perf_worker *w;
	int idx; /* into g_ns */
	struct axon_nvme_qpair *qpair;
	struct perf_task *tasks;
	uint32_t inflight;
	uint64_t next_block; /* sequential patterns */
	bool dead;
	struct perf_stats stats;
};

struct perf_worker {
	uint32_t core;
	struct axon_thread *thread;
	struct axon_poller *poller;
	struct axon_nvme_poll_group *group;
	struct perf_worker_ns wns[PERF_MAX_NS];
	uint64_t rng;
	uint64_t ns_per_tick_q32; /* nanoseconds per TSC tick, 32.32 fixed point */
	bool stopping;
	bool failed;
	void (*done)(struct perf_worker *w);
};

/* ---- histogram ------------------------------------------------------------------- */

static uint32_t hist_bucket(uint64_t ns)
{
	uint32_t e, sub;

	if (ns < (1u << PERF_HIST_SUB_BITS)) {
		return (uint32_t)ns;
	}
	e = axon_u64log2(ns);
	sub = (uint32_t)(ns >> (e - PERF_HIST_SUB_BITS)) & ((1u << PERF_HIST_SUB_BITS) - 1);
	return ((e - PERF_HIST_SUB_BITS + 1) << PERF_HIST_SUB_BITS) + sub;
}

uint64_t perf_hist_bucket_low(uint32_t b)
{
	uint32_t e = b >> PERF_HIST_SUB_BITS, sub = b & ((1u << PERF_HIST_SUB_BITS) - 1);

	if (e == 0) {
		return sub;
	}
	e += PERF_HIST_SUB_BITS - 1;
	return (UINT64_C(1) << e) + ((uint64_t)sub << (e - PERF_HIST_SUB_BITS));
}

void perf_hist_add(struct perf_stats *s, uint64_t ns)
{
	uint32_t b = hist_bucket(ns);

	s->hist[AXON_MIN(b, (uint32_t)PERF_HIST_BUCKETS - 1)]++;
}

uint64_t perf_hist_percentile(const struct perf_stats *s, double pct)
{
	uint64_t total = 0, target, seen = 0;
	uint32_t b;

	for (b = 0; b < PERF_HIST_BUCKETS; b++) {
		total += s->hist[b];
	}
	if (total == 0) {
		return 0;
	}
	target = (uint64_t)((double)total * pct / 100.0);
	for (b = 0; b < PERF_HIST_BUCKETS; b++) {
		seen += s->hist[b];
		if (seen > target) {
			return perf_hist_bucket_low(b + 1);
		}
	}
	return perf_hist_bucket_low(PERF_HIST_BUCKETS - 1);
}

void perf_stats_merge(struct perf_stats *dst, const struct perf_stats *src)
{
	uint32_t b;

	if (src->ios == 0 && src->errors == 0) {
		return;
	}
	if (dst->ios == 0 || src->lat_min_tsc < dst->lat_min_tsc) {
		dst->lat_min_tsc = src->lat_min_tsc;
	}
	dst->lat_max_tsc = AXON_MAX(dst->lat_max_tsc, src->lat_max_tsc);
	dst->ios += src->ios;
	dst->errors += src->errors;
	dst->lat_sum_tsc += src->lat_sum_tsc;
	for (b = 0; b < PERF_HIST_BUCKETS; b++) {
		dst->hist[b] += src->hist[b];
	}
}

/* ---- I/O ------------------------------------------------------------------------------ */

static uint64_t worker_rand(struct perf_worker *w)
{
	/* xorshift64*: fast, and good enough to spread offsets. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * UINT64_C(2685821657736338717);
}

static bool pattern_random(void)
{
	return g_cfg.pattern == PERF_RANDREAD || g_cfg.pattern == PERF_RANDWRITE ||
	       g_cfg.pattern == PERF_RANDRW;
}

static bool task_is_read(struct perf_worker *w)
{
	switch (g_cfg.pattern) {
	case PERF_READ:
	case PERF_RANDREAD:
		return true;
	case PERF_WRITE:
	case PERF_RANDWRITE:
		return false;
	case PERF_RW:
	case PERF_RANDRW:
		return (int)(worker_rand(w) % 100) < g_cfg.read_pct;
	}
	return true;
}

static void task_complete(void *cb_arg, const struct axon_nvme_cpl *cpl);

static int task_submit(struct perf_task *task)
{
	struct perf_worker_ns *wns = task->wns;
	struct perf_worker *w = wns->w;
	struct perf_ns *pns = &g_ns[wns->idx];
	uint64_t block;
	int rc;

	if (pattern_random()) {
		block = worker_rand(w) % pns->num_blocks;
	} else {
		block = wns->next_block++ % pns->num_blocks;
	}
	task->submit_tsc = axon_get_ticks();
	if (task_is_read(w)) {
		rc = axon_nvme_ns_cmd_read(pns->ns, wns->qpair, task->buf, block * pns->lba_per_io,
					   pns->lba_per_io, task_complete, task, 0);
	} else {
		rc = axon_nvme_ns_cmd_write(pns->ns, wns->qpair, task->buf, block * pns->lba_per_io,
					    pns->lba_per_io, task_complete, task, 0);
	}
	if (rc == 0) {
		wns->inflight++;
	}
	return rc;
}

static void task_complete(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct perf_task *task = cb_arg;
	struct perf_worker_ns *wns = task->wns;
	struct perf_worker *w = wns->w;
	uint64_t lat = axon_get_ticks() - task->submit_tsc;

	wns->inflight--;
	if (axon_nvme_cpl_is_error(cpl)) {
		if (wns->stats.errors++ == 0) {
			fprintf(stderr, "perf: %s: I/O error sct 0x%x sc 0x%x\n", g_ns[wns->idx].name,
				AXON_NVME_STATUS_SCT(axon_nvme_cpl_get_status(cpl)),
				AXON_NVME_STATUS_SC(axon_nvme_cpl_get_status(cpl)));
		}
	} else {
		if (wns->stats.ios == 0 || lat < wns->stats.lat_min_tsc) {
			wns->stats.lat_min_tsc = lat;
		}
		wns->stats.lat_max_tsc = AXON_MAX(wns->stats.lat_max_tsc, lat);
		wns->stats.lat_sum_tsc += lat;
		wns->stats.ios++;
		perf_hist_add(&wns->stats, (lat * w->ns_per_tick_q32) >> 32);
	}
	if (!w->stopping && !wns->dead && task_submit(task) != 0) {
		wns->dead = true;
	}
}

/* ---- the worker's thread ------------------------------------------------------------ */

static void worker_disconnected(struct axon_nvme_qpair *qpair, void *ctx)
{
	struct perf_worker *w = ctx;
	int i;

	for (i = 0; i < g_num_ns; i++) {
		if (w->wns[i].qpair == qpair && !w->wns[i].dead) {
			fprintf(stderr, "perf: %s: connection lost on core %u\n", g_ns[i].name,
				w->core);
			w->wns[i].dead = true;
			w->failed = true;
		}
	}
}

static bool worker_drained(struct perf_worker *w)
{
	int i;

	for (i = 0; i < g_num_ns; i++) {
		if (w->wns[i].inflight > 0 && !w->wns[i].dead) {
			return false;
		}
	}
	return true;
}

static void worker_teardown(struct perf_worker *w)
{
	struct perf_worker_ns *wns;
	uint32_t t;
	int i;

	for (i = 0; i < g_num_ns; i++) {
		wns = &w->wns[i];
		if (wns->qpair != NULL) {
			axon_nvme_ctrlr_free_io_qpair(wns->qpair);
			wns->qpair = NULL;
		}
		for (t = 0; wns->tasks != NULL && t < g_cfg.qd; t++) {
			axon_dma_free(wns->tasks[t].buf);
		}
		free(wns->tasks);
		wns->tasks = NULL;
	}
	if (w->group != NULL) {
		axon_nvme_poll_group_destroy(w->group);
		w->group = NULL;
	}
}

static void _worker_done(void *ctx)
{
	struct perf_worker *w = ctx;

	w->done(w);
}

static void worker_finish(struct perf_worker *w)
{
	axon_poller_unregister(&w->poller);
	worker_teardown(w);
	axon_thread_send_msg(axon_thread_get_app_thread(), _worker_done, w);
	axon_thread_exit(w->thread);
}

static int worker_poll(void *ctx)
{
	struct perf_worker *w = ctx;
	int64_t n;

	n = axon_nvme_poll_group_process_completions(w->group, PERF_COMPLETION_BUDGET,
						     worker_disconnected);
	if (n < 0) {
		fprintf(stderr, "perf: core %u: polling failed: %s\n", w->core, strerror((int)-n));
		w->failed = true;
		w->stopping = true;
	}
	if (w->stopping && worker_drained(w)) {
		worker_finish(w);
	}
	return n > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

static int worker_setup_ns(struct perf_worker *w, int i)
{
	struct perf_worker_ns *wns = &w->wns[i];
	struct axon_nvme_io_qpair_opts qopts;
	uint32_t t;

	wns->w = w;
	wns->idx = i;
	axon_nvme_io_qpair_opts_init(&qopts);
	qopts.io_queue_size = g_cfg.qd + 1;
	wns->qpair = axon_nvme_ctrlr_alloc_io_qpair(g_ns[i].ctrlr, &qopts);
	if (wns->qpair == NULL) {
		fprintf(stderr, "perf: %s: no I/O qpair on core %u\n", g_ns[i].name, w->core);
		return -EIO;
	}
	if (axon_nvme_poll_group_add(w->group, wns->qpair) != 0) {
		return -EIO;
	}
	wns->tasks = calloc(g_cfg.qd, sizeof(*wns->tasks));
	if (wns->tasks == NULL) {
		return -ENOMEM;
	}
	for (t = 0; t < g_cfg.qd; t++) {
		wns->tasks[t].wns = wns;
		/* DMA memory: PCIe must translate every buffer to a device address. */
		wns->tasks[t].buf = axon_dma_malloc(AXON_ALIGN_UP(g_cfg.io_size, 4096u), 4096,
						    AXON_ENV_SOCKET_ID_ANY);
		if (wns->tasks[t].buf == NULL) {
			return -ENOMEM;
		}
		memset(wns->tasks[t].buf, (int)(t & 0xff), g_cfg.io_size);
	}
	/* Spread sequential streams of different cores over the namespace. */
	wns->next_block = (g_ns[i].num_blocks / PERF_MAX_CORES) * (w->core % PERF_MAX_CORES);
	return 0;
}

static void _worker_start(void *ctx)
{
	struct perf_worker *w = ctx;
	uint32_t t;
	int i;

	w->ns_per_tick_q32 = (UINT64_C(1000000000) << 32) / axon_get_ticks_hz();
	w->group = axon_nvme_poll_group_create(w);
	if (w->group == NULL) {
		goto err;
	}
	for (i = 0; i < g_num_ns; i++) {
		if (worker_setup_ns(w, i) != 0) {
			goto err;
		}
	}
	for (i = 0; i < g_num_ns; i++) {
		for (t = 0; t < g_cfg.qd; t++) {
			if (task_submit(&w->wns[i].tasks[t]) != 0) {
				fprintf(stderr, "perf: %s: submission failed on core %u\n",
					g_ns[i].name, w->core);
				goto err;
			}
		}
	}
	w->poller = axon_poller_register(worker_poll, w, 0);
	if (w->poller == NULL) {
		goto err;
	}
	return;

err:
	w->failed = true;
	w->stopping = true;
	/* Let what was submitted finish before the qpairs go. */
	w->poller = axon_poller_register(worker_poll, w, 0);
	if (w->poller == NULL) {
		worker_teardown(w);
		axon_thread_send_msg(axon_thread_get_app_thread(), _worker_done, w);
		axon_thread_exit(w->thread);
	}
}

static void _worker_stop(void *ctx)
{
	struct perf_worker *w = ctx;

	w->stopping = true;
}

struct perf_worker *perf_worker_create(uint32_t core)
{
	struct perf_worker *w = calloc(1, sizeof(*w));
	char name[32];

	if (w == NULL) {
		return NULL;
	}
	w->core = core;
	w->rng = axon_get_ticks() ^ ((uint64_t)core << 32) ^ UINT64_C(0x9e3779b97f4a7c15);
	snprintf(name, sizeof(name), "perf_%u", core);
	w->thread = axon_thread_create(name, (int)core);
	if (w->thread == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void perf_worker_start(struct perf_worker *w, void (*done)(struct perf_worker *w))
{
	w->done = done;
	axon_thread_send_msg(w->thread, _worker_start, w);
}

void perf_worker_stop(struct perf_worker *w)
{
	axon_thread_send_msg(w->thread, _worker_stop, w);
}

const struct perf_stats *perf_worker_stats(const struct perf_worker *w, int i)
{
	return &w->wns[i].stats;
}

bool perf_worker_failed(const struct perf_worker *w)
{
	return w->failed;
}

void perf_worker_free(struct perf_worker *w)
{
	free(w);
}
