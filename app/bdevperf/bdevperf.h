/*
 * bdevperf private: the run configuration, the jobs and their tasks.
 *
 * A job is one bdev on one core: an axon_thread on that core's reactor with
 * its own descriptor and channel, keeping queue_depth tasks in flight. A task
 * is one I/O slot with its own DMA buffer; in verify mode it writes a
 * pattern, reads it back into a second buffer and compares.
 */
#ifndef BDEVPERF_H
#define BDEVPERF_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/bdev.h"
#include "bdevperf_hist.h"

enum bdevperf_workload {
	WL_READ,
	WL_WRITE,
	WL_RANDREAD,
	WL_RANDWRITE,
	WL_RW,
	WL_RANDRW,
	WL_VERIFY,
	WL_UNMAP,
	WL_FLUSH,
	WL_WRITE_ZEROES,
};

struct bdevperf_config {
	enum bdevperf_workload workload;
	const char *workload_name;
	uint32_t queue_depth;
	uint64_t io_size;         /* bytes */
	uint32_t run_time_s;
	uint32_t rw_read_pct;     /* -M, for rw / randrw */
	bool continue_on_failure; /* -f: failures are expected */
	const char *bdev_filter;  /* -T: only this bdev */
	uint64_t seed;            /* verify pattern seed, per run */
};

/* Where a task is in its cycle. */
enum task_state {
	TASK_IDLE,         /* not in flight (time is up, or the job stopped) */
	TASK_IO,           /* a plain I/O of the workload is in flight */
	TASK_VERIFY_WRITE, /* verify: writing the pattern */
	TASK_VERIFY_READ,  /* verify: reading it back */
};

struct bdevperf_job;

struct bdevperf_task {
	struct bdevperf_job *job;
	enum task_state state;
	/* What to submit next (also what a resubmission after -ENOMEM repeats). */
	enum axon_bdev_io_type io_type;
	uint64_t offset_blocks;
	uint64_t submit_tsc;
	uint32_t generation; /* verify: bumps per write so a stale read is caught */
	bool holds_slot;     /* verify: offset_blocks is marked in the job's slot map */
	void *buf;           /* io_size bytes, DMA-safe */
	void *verify_buf;    /* verify: where the read-back lands */
	struct axon_bdev_io_wait_entry wait;
};

enum job_state {
	JOB_STARTING, /* on its thread: opening, allocating */
	JOB_READY,    /* waiting for the go */
	JOB_RUNNING,
	JOB_DRAINING, /* time is up or an error stopped it: waiting for in-flight I/O */
	JOB_DONE,     /* resources released, thread exiting */
};

struct bdevperf_job {
	char name[AXON_BDEV_MAX_NAME_LEN + 1];
	uint32_t core;
	const struct bdevperf_config *cfg;
	struct axon_thread *thread;
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	struct axon_poller *timer;
	struct bdevperf_task *tasks;
	void *buf_area;
	enum job_state state;
	int start_rc;
	bool check_data;      /* verify compares data (not on a bdev that discards it) */
	uint32_t block_size;
	uint64_t io_blocks;
	/* This job's share of the bdev: [range_start, range_start + range_blocks). */
	uint64_t range_start;
	uint64_t range_blocks;
	uint64_t next_offset; /* sequential cursor, relative to range_start */
	/* verify: one bit per I/O-sized slot of the range, set while a task
	 * works on it, so that no two tasks ever verify the same blocks at once. */
	uint64_t *slot_map;
	uint64_t rng;
	uint32_t in_flight;
	uint64_t start_tsc;
	uint64_t end_tsc;
	/* Results. */
	uint64_t ios;
	uint64_t bytes;
	uint64_t failed;
	uint64_t miscompares;
	char first_error[256];
	struct bdevperf_hist *hist;
	struct bdevperf_job *next;
};

/* ---- bdevperf_job.c (runs on the job's thread) ---------------------------------- */

/** Message: open the bdev, take a channel, allocate buffers; then report to
 *  the app thread with bdevperf_job_started(job) (job->start_rc set). */
void bdevperf_job_start(void *job);
/** Message: start submitting; the job stops itself after cfg->run_time_s. */
void bdevperf_job_go(void *job);
/** Message: release a job that never ran (start failed elsewhere). */
void bdevperf_job_abandon(void *job);

/* ---- bdevperf.c (app thread) -------------------------------------------------------- */

void bdevperf_job_started(void *job);
void bdevperf_job_finished(void *job);

#endif /* BDEVPERF_H */
