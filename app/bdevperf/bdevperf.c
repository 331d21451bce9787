/*
 * bdevperf: drive the bdev layer and measure it. The bdevs come from a JSON
 * config (-c) or, with -z, from RPCs followed by perform_tests. One job per
 * core of the core mask per bdev (bdevperf_job.c); this file parses the
 * options, places the jobs, waits for them and prints the results.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "axon/env.h"
#include "axon/event.h"
#include "axon/log.h"
#include "bdevperf.h"
#include "bdevperf_run.h"

#define BDEVPERF_MAX_CORES 256
#define BDEVPERF_RPC_ADDR "/var/tmp/bdevperf.sock"

static struct bdevperf_config g_cfg = {.rw_read_pct = 101};
static bool g_wait_for_tests;
static int g_exit_status;

/* The run in progress (app thread only). */
static struct {
	bool active;
	struct bdevperf_job *jobs;
	uint32_t starting;
	uint32_t running;
	bool start_failed;
	bdevperf_run_cb cb;
	void *cb_ctx;
} g_run;

/* ---- options ------------------------------------------------------------------------- */

static const struct {
	const char *name;
	enum bdevperf_workload wl;
} g_workloads[] = {
	{"read", WL_READ}, {"write", WL_WRITE}, {"randread", WL_RANDREAD},
	{"randwrite", WL_RANDWRITE}, {"rw", WL_RW}, {"randrw", WL_RANDRW},
	{"verify", WL_VERIFY}, {"unmap", WL_UNMAP}, {"flush", WL_FLUSH},
	{"write_zeroes", WL_WRITE_ZEROES},
};

static void bdevperf_usage(void)
{
	printf(" bdevperf options:\n"
	       "  -q DEPTH     I/Os each job keeps in flight (required)\n"
	       "  -o SIZE      I/O size in bytes: 4096, 4k, 128KiB (required)\n"
	       "  -w WORKLOAD  read, write, randread, randwrite, rw, randrw, verify, unmap,\n"
	       "               flush, write_zeroes (required)\n"
	       "  -t SECONDS   run time (required)\n"
	       "  -M PERCENT   reads in rw / randrw (required with them)\n"
	       "  -T BDEV      test only this bdev (default: every bdev no module claimed)\n"
	       "  -f           failed I/O are expected: keep going, exit 0 unless data miscompares\n"
	       "  -z           wait for the perform_tests RPC (socket: -r, default %s)\n"
	       " One job runs per bdev per core of the mask (-m); the jobs of a bdev share it\n"
	       " in disjoint ranges. Exit status 0 only if no I/O failed and nothing miscompared.\n",
	       BDEVPERF_RPC_ADDR);
}

static int parse_u32(const char *opt, const char *arg, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	unsigned long long v;

	if (axon_strtoull(arg, 10, &v) != 0 || v < min || v > max) {
		fprintf(stderr, "bdevperf: %s: expected an integer from %u to %u, got '%s'\n", opt,
			min, max, arg);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_workload(const char *arg)
{
	for (size_t i = 0; i < AXON_COUNTOF(g_workloads); i++) {
		if (strcmp(arg, g_workloads[i].name) == 0) {
			g_cfg.workload = g_workloads[i].wl;
			g_cfg.workload_name = g_workloads[i].name;
			return 0;
		}
	}
	fprintf(stderr, "bdevperf: -w: unknown workload '%s' (expected read, write, randread, "
		"randwrite, rw, randrw, verify, unmap, flush or write_zeroes)\n", arg);
	return -EINVAL;
}

static int bdevperf_parse_arg(int ch, const char *arg)
{
	uint64_t size;

	switch (ch) {
	case 'q':
		return parse_u32("-q", arg, 1, 65536, &g_cfg.queue_depth);
	case 'o':
		if (axon_parse_size(arg, &size) != 0 || size == 0 || size % 512 != 0 ||
		    size > (1ull << 30)) {
			fprintf(stderr, "bdevperf: -o: expected an I/O size that is a multiple of "
				"512 bytes up to 1 GiB (4096, 4k, 128KiB), got '%s'\n", arg);
			return -EINVAL;
		}
		g_cfg.io_size = size;
		return 0;
	case 'w':
		return parse_workload(arg);
	case 't':
		return parse_u32("-t", arg, 1, 86400, &g_cfg.run_time_s);
	case 'M':
		return parse_u32("-M", arg, 0, 100, &g_cfg.rw_read_pct);
	case 'T':
		g_cfg.bdev_filter = arg;
		return 0;
	case 'f':
		g_cfg.continue_on_failure = true;
		return 0;
	case 'z':
		g_wait_for_tests = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int bdevperf_check_config(void)
{
	const char *missing = g_cfg.queue_depth == 0 ? "-q (queue depth)" :
			      g_cfg.io_size == 0 ? "-o (I/O size)" :
			      g_cfg.workload_name == NULL ? "-w (workload)" :
			      g_cfg.run_time_s == 0 ? "-t (run time in seconds)" : NULL;
	bool mixed = g_cfg.workload == WL_RW || g_cfg.workload == WL_RANDRW;

	if (missing != NULL) {
		fprintf(stderr, "bdevperf: %s is required. Try 'bdevperf --help'.\n", missing);
		return -EINVAL;
	}
	if (mixed && g_cfg.rw_read_pct > 100) {
		fprintf(stderr, "bdevperf: -w %s needs -M (the percentage of reads)\n",
			g_cfg.workload_name);
		return -EINVAL;
	}
	if (!mixed && g_cfg.rw_read_pct <= 100) {
		fprintf(stderr, "bdevperf: -M applies only to -w rw and -w randrw\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- results ------------------------------------------------------------------------- */

struct job_result {
	double iops, mibps, avg_us, min_us, max_us, p50_us, p99_us, p999_us;
	uint64_t failed, miscompares;
};

static double ticks_to_us(uint64_t ticks)
{
	return (double)ticks * 1e6 / (double)axon_get_ticks_hz();
}

static void result_latency(struct job_result *r, const struct bdevperf_hist *h)
{
	r->avg_us = h->count != 0 ? ticks_to_us(h->sum) / (double)h->count : 0.0;
	r->min_us = h->count != 0 ? ticks_to_us(h->min) : 0.0;
	r->max_us = ticks_to_us(h->max);
	r->p50_us = ticks_to_us(hist_percentile(h, 0.50));
	r->p99_us = ticks_to_us(hist_percentile(h, 0.99));
	r->p999_us = ticks_to_us(hist_percentile(h, 0.999));
}

static void print_row(const char *name, const char *core, const struct job_result *r)
{
	printf("%-24s %5s %12.2f %10.2f %8llu %7llu %9.2f %9.2f %10.2f %9.2f %9.2f %9.2f\n",
	       name, core, r->iops, r->mibps, (unsigned long long)r->failed,
	       (unsigned long long)r->miscompares, r->avg_us, r->min_us, r->max_us, r->p50_us,
	       r->p99_us, r->p999_us);
}

static json_t *result_json(const char *name, int core, const struct job_result *r)
{
	json_t *o = json_pack("{s:s, s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}",
			      "name", name, "iops", r->iops, "mibps", r->mibps,
			      "io_failed", (json_int_t)r->failed,
			      "miscompares", (json_int_t)r->miscompares,
			      "avg_latency_us", r->avg_us, "min_latency_us", r->min_us,
			      "max_latency_us", r->max_us, "p50_latency_us", r->p50_us,
			      "p99_latency_us", r->p99_us, "p99_9_latency_us", r->p999_us);

	if (o != NULL && core >= 0) {
		json_object_set_new(o, "core", json_integer(core));
	}
	return o;
}

/* Print the table; returns {"results": [...], "total": {...}} and sets *failed. */
static json_t *bdevperf_report(bool *failed)
{
	struct bdevperf_hist *total_hist = calloc(1, sizeof(*total_hist));
	struct job_result total = {0}, r;
	json_t *results = json_array(), *doc;
	struct bdevperf_job *job;
	char core[16];

	*failed = false;
	printf("\nbdevperf: workload %s, queue depth %u, I/O size %llu bytes, %u s, seed 0x%llx\n",
	       g_cfg.workload_name, g_cfg.queue_depth, (unsigned long long)g_cfg.io_size,
	       g_cfg.run_time_s, (unsigned long long)g_cfg.seed);
	printf("%-24s %5s %12s %10s %8s %7s %9s %9s %10s %9s %9s %9s\n", "Job", "core", "IOPS",
	       "MiB/s", "failed", "miscmp", "avg_us", "min_us", "max_us", "p50_us", "p99_us",
	       "p99.9_us");
	if (total_hist != NULL) {
		hist_init(total_hist);
	}
	for (job = g_run.jobs; job != NULL; job = job->next) {
		double secs = (double)(job->end_tsc - job->start_tsc) / (double)axon_get_ticks_hz();

		r = (struct job_result){.failed = job->failed, .miscompares = job->miscompares};
		if (secs > 0) {
			r.iops = (double)job->ios / secs;
			r.mibps = (double)job->bytes / secs / (1024.0 * 1024.0);
		}
		result_latency(&r, job->hist);
		snprintf(core, sizeof(core), "%u", job->core);
		print_row(job->name, core, &r);
		json_array_append_new(results, result_json(job->name, (int)job->core, &r));
		total.iops += r.iops;
		total.mibps += r.mibps;
		total.failed += r.failed;
		total.miscompares += r.miscompares;
		if (total_hist != NULL) {
			hist_merge(total_hist, job->hist);
		}
	}
	if (total_hist != NULL) {
		result_latency(&total, total_hist);
	}
	print_row("Total", "", &total);
	for (job = g_run.jobs; job != NULL; job = job->next) {
		if (g_cfg.workload == WL_VERIFY && !job->check_data && job->core == g_run.jobs->core) {
			printf("note: %s discards data (null bdev): verify checked that every I/O "
			       "completed, not the data\n", job->name);
		}
		if (job->first_error[0] != '\0') {
			printf("error: job %s on core %u: %s\n", job->name, job->core,
			       job->first_error);
		}
	}
	if (total.miscompares != 0 || (total.failed != 0 && !g_cfg.continue_on_failure)) {
		*failed = true;
		printf("bdevperf: FAILED: %llu I/O failed, %llu miscompare(s)\n",
		       (unsigned long long)total.failed, (unsigned long long)total.miscompares);
	} else if (total.failed != 0) {
		printf("bdevperf: %llu I/O failed, as allowed by -f\n",
		       (unsigned long long)total.failed);
	}
	fflush(stdout);
	doc = json_pack("{s:o, s:o}", "results", results, "total", result_json("Total", -1, &total));
	free(total_hist);
	return doc;
}

/* ---- the run ------------------------------------------------------------------------- */

static void run_free_jobs(void)
{
	struct bdevperf_job *job;

	while ((job = g_run.jobs) != NULL) {
		g_run.jobs = job->next;
		free(job->hist);
		free(job);
	}
}

static void run_end(int rc)
{
	bdevperf_run_cb cb = g_run.cb;
	void *ctx = g_run.cb_ctx;
	bool failed = false;
	json_t *doc = NULL;

	if (g_run.jobs != NULL && !g_run.start_failed) {
		doc = bdevperf_report(&failed);
	}
	if (rc == 0 && failed) {
		rc = -EIO;
	}
	run_free_jobs();
	g_run.active = false;
	cb(ctx, rc, doc);
	json_decref(doc);
}

void bdevperf_job_finished(void *ctx)
{
	(void)ctx;
	assert(g_run.running > 0);
	if (--g_run.running == 0) {
		run_end(g_run.start_failed ? -EINVAL : 0);
	}
}

void bdevperf_job_started(void *ctx)
{
	struct bdevperf_job *job = ctx, *j;

	if (job->start_rc != 0) {
		g_run.start_failed = true;
		g_run.running--; /* it released itself */
	}
	if (--g_run.starting != 0) {
		return;
	}
	for (j = g_run.jobs; j != NULL; j = j->next) {
		if (j->state != JOB_READY) {
			continue;
		}
		axon_thread_send_msg(j->thread, g_run.start_failed ? bdevperf_job_abandon :
					      bdevperf_job_go, j);
	}
	if (g_run.running == 0) {
		run_end(-EINVAL);
	}
}

static struct bdevperf_job *job_new(struct axon_bdev *bdev, uint32_t core, uint32_t index,
				    uint32_t count)
{
	struct bdevperf_job *job = calloc(1, sizeof(*job));
	uint32_t bs = axon_bdev_get_block_size(bdev);
	uint64_t io_blocks = g_cfg.io_size / bs != 0 ? g_cfg.io_size / bs : 1;
	uint64_t per = axon_bdev_get_num_blocks(bdev) / io_blocks / count;
	char tname[64];

	if (job == NULL) {
		return NULL;
	}
	job->hist = calloc(1, sizeof(*job->hist));
	if (job->hist == NULL) {
		free(job);
		return NULL;
	}
	hist_init(job->hist);
	axon_strscpy(job->name, axon_bdev_get_name(bdev), sizeof(job->name));
	job->core = core;
	job->cfg = &g_cfg;
	job->range_start = index * per * io_blocks;
	job->range_blocks = per * io_blocks;
	snprintf(tname, sizeof(tname), "bdevperf_%u_%.40s", core, job->name);
	job->thread = axon_thread_create(tname, (int)core);
	if (job->thread == NULL) {
		free(job->hist);
		free(job);
		return NULL;
	}
	return job;
}

static int run_add_bdev(struct axon_bdev *bdev, const uint32_t *cores, uint32_t ncores)
{
	for (uint32_t k = 0; k < ncores; k++) {
		struct bdevperf_job *job = job_new(bdev, cores[k], k, ncores);

		if (job == NULL) {
			fprintf(stderr, "bdevperf: cannot create a job for %s on core %u\n",
				axon_bdev_get_name(bdev), cores[k]);
			return -ENOMEM;
		}
		job->next = g_run.jobs;
		g_run.jobs = job;
	}
	return 0;
}

static int run_place_jobs(void)
{
	static uint32_t cores[BDEVPERF_MAX_CORES];
	uint32_t ncores = axon_reactor_get_cores(cores, BDEVPERF_MAX_CORES);
	struct axon_bdev *bdev;
	int rc = 0;

	if (g_cfg.bdev_filter != NULL) {
		bdev = axon_bdev_get_by_name(g_cfg.bdev_filter);
		if (bdev == NULL) {
			fprintf(stderr, "bdevperf: -T: no bdev named %s\n", g_cfg.bdev_filter);
			return -ENODEV;
		}
		return run_add_bdev(bdev, cores, ncores);
	}
	for (bdev = axon_bdev_first_leaf(); bdev != NULL && rc == 0;
	     bdev = axon_bdev_next_leaf(bdev)) {
		rc = run_add_bdev(bdev, cores, ncores);
	}
	if (rc == 0 && g_run.jobs == NULL) {
		fprintf(stderr, "bdevperf: no bdevs to test: create some with -c CONFIG.json%s\n",
			g_wait_for_tests ? " or by RPC before perform_tests" : "");
		return -ENODEV;
	}
	return rc;
}

static void _thread_exit(void *thread)
{
	axon_thread_exit(thread);
}

static void run_examined(void *ctx)
{
	struct bdevperf_job *job;
	int rc;

	(void)ctx;
	rc = run_place_jobs();
	if (rc != 0) {
		/* Threads made so far have nothing to do: let them go. */
		for (job = g_run.jobs; job != NULL; job = job->next) {
			axon_thread_send_msg(job->thread, _thread_exit, job->thread);
		}
		run_free_jobs();
		g_run.start_failed = true;
		run_end(rc);
		return;
	}
	g_run.start_failed = false;
	for (job = g_run.jobs; job != NULL; job = job->next) {
		g_run.starting++;
		g_run.running++;
	}
	/* Reverse the list to creation order for the report, then start. */
	{
		struct bdevperf_job *prev = NULL, *next;

		for (job = g_run.jobs; job != NULL; job = next) {
			next = job->next;
			job->next = prev;
			prev = job;
		}
		g_run.jobs = prev;
	}
	for (job = g_run.jobs; job != NULL; job = job->next) {
		axon_thread_send_msg(job->thread, bdevperf_job_start, job);
	}
}

int bdevperf_run(bdevperf_run_cb cb, void *ctx)
{
	int rc;

	if (g_run.active) {
		return -EBUSY;
	}
	memset(&g_run, 0, sizeof(g_run));
	g_run.active = true;
	g_run.cb = cb;
	g_run.cb_ctx = ctx;
	rc = axon_bdev_wait_for_examine(run_examined, NULL);
	if (rc != 0) {
		g_run.active = false;
	}
	return rc;
}

/* ---- main ---------------------------------------------------------------------------- */

static void standalone_done(void *ctx, int rc, json_t *results)
{
	(void)ctx;
	(void)results;
	g_exit_status = rc == 0 ? 0 : 1;
	axon_app_start_shutdown();
}

static void bdevperf_started(void *ctx)
{
	(void)ctx;
	if (g_wait_for_tests) {
		printf("bdevperf: waiting for the perform_tests RPC\n");
		fflush(stdout);
		return;
	}
	if (bdevperf_run(standalone_done, NULL) != 0) {
		g_exit_status = 1;
		axon_app_start_shutdown();
	}
}

int main(int argc, char **argv)
{
	struct axon_app_opts opts;
	int rc;

	axon_app_opts_init(&opts, "bdevperf");
	/* No RPC server unless -z asks for one: runs side by side must not
	 * fight over a socket. */
	opts.rpc_addr = NULL;
	rc = axon_app_parse_args(argc, argv, &opts, "q:o:w:t:M:T:fz", NULL, bdevperf_parse_arg,
				 bdevperf_usage);
	if (rc != 0) {
		return rc == 1 ? 0 : 1;
	}
	if (bdevperf_check_config() != 0) {
		return 1;
	}
	if (g_wait_for_tests && opts.rpc_addr == NULL) {
		opts.rpc_addr = BDEVPERF_RPC_ADDR;
	}
	g_cfg.seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
		     ((uint64_t)clock() << 40);
	rc = axon_app_start(&opts, bdevperf_started, NULL);
	axon_app_fini();
	if (rc != 0) {
		fprintf(stderr, "bdevperf: exiting after an error: %s\n",
			strerror(rc < 0 ? -rc : rc));
		return 1;
	}
	return g_exit_status;
}
