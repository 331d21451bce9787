/*
 * perf: the NVMe load generator. Shared types of perf.c (options, setup,
 * report) and perf_worker.c (one axon_thread per core driving its qpairs).
 */
#ifndef AXON_PERF_H
#define AXON_PERF_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/nvme.h"
#include "axon/thread.h"

#define PERF_MAX_TRIDS 16
#define PERF_MAX_NS 64
#define PERF_MAX_CORES 128
/* Latency histogram: 2^PERF_HIST_SUB buckets per power of two of nanoseconds. */
#define PERF_HIST_SUB_BITS 4
#define PERF_HIST_BUCKETS (64 << PERF_HIST_SUB_BITS)

enum perf_pattern { PERF_READ, PERF_WRITE, PERF_RANDREAD, PERF_RANDWRITE, PERF_RW, PERF_RANDRW };

struct perf_config {
	struct axon_nvme_trid trids[PERF_MAX_TRIDS];
	int num_trids;
	uint32_t qd;
	uint32_t io_size;
	enum perf_pattern pattern;
	int read_pct; /* -M: reads in percent for rw / randrw */
	uint32_t time_s;
	int latency_level; /* -L: 1 summary, 2 histogram too */
	bool hdgst;
	bool ddgst;
};

/* A namespace under test, across all cores. */
struct perf_ns {
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_ns *ns;
	char name[320];
	uint64_t num_blocks; /* of io_size */
	uint32_t lba_per_io;
};

/* Counters of one (worker, namespace) pair, or of a sum of them. */
struct perf_stats {
	uint64_t ios;
	uint64_t errors;
	uint64_t lat_sum_tsc;
	uint64_t lat_min_tsc;
	uint64_t lat_max_tsc;
	uint64_t hist[PERF_HIST_BUCKETS]; /* by nanoseconds */
};

struct perf_worker;

/* Set by perf.c, read by workers. */
extern struct perf_config g_cfg;
extern struct perf_ns g_ns[PERF_MAX_NS];
extern int g_num_ns;

/* perf_worker.c */
struct perf_worker *perf_worker_create(uint32_t core);
/* Start the worker on its thread; done(worker) runs on the app thread when it has drained. */
void perf_worker_start(struct perf_worker *w, void (*done)(struct perf_worker *w));
/* Ask a worker to stop (from the app thread). */
void perf_worker_stop(struct perf_worker *w);
/* Stats of namespace i on this worker (after done). */
const struct perf_stats *perf_worker_stats(const struct perf_worker *w, int i);
bool perf_worker_failed(const struct perf_worker *w);
void perf_worker_free(struct perf_worker *w);

void perf_stats_merge(struct perf_stats *dst, const struct perf_stats *src);
void perf_hist_add(struct perf_stats *s, uint64_t ns);
/* Latency (ns) below which pct percent of the I/Os completed. */
uint64_t perf_hist_percentile(const struct perf_stats *s, double pct);
uint64_t perf_hist_bucket_low(uint32_t b);

#endif /* AXON_PERF_H */
