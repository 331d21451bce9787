/*
 * perf: NVMe load generator. Connects to every -r TRID, runs one qpair per
 * core per namespace for -t seconds, and reports IOPS, MiB/s and latency
 * per namespace and in total.
 *
 * Options shared with every Axon program (--no-huge, -s, --file-prefix,
 * --logflag, ...) come from lib/event's parser. perf's own -r (TRID), -c
 * (core mask) and -L (latency) are taken out of argv first, because the
 * common parser gives those letters other meanings.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/event.h"
#include "axon/log.h"
#include "axon/util.h"
#include "perf.h"

/* How often the app thread polls the admin queues (keep alive, events). */
#define PERF_ADMIN_POLL_US 10000

struct perf_config g_cfg = {
	.qd = 32,
	.io_size = 4096,
	.pattern = PERF_RANDREAD,
	.read_pct = -1,
	.time_s = 10,
};
struct perf_ns g_ns[PERF_MAX_NS];
int g_num_ns;

static struct axon_nvme_ctrlr *g_ctrlrs[PERF_MAX_TRIDS];
static struct perf_worker *g_workers[PERF_MAX_CORES];
static uint32_t g_num_workers;
static uint32_t g_workers_done;
static struct axon_poller *g_admin_poller;
static struct axon_poller *g_timer;
static uint64_t g_start_tsc;
static uint64_t g_end_tsc;
static int g_exit_status;
static const char *g_core_mask = "0x1";

enum perf_long_opt {
	OPT_HDGST = AXON_APP_OPT_BASE,
	OPT_DDGST,
};

static void perf_usage(void)
{
	printf(" -r TRID     a controller: 'trtype:TCP adrfam:IPv4 traddr:10.0.0.1 trsvcid:4420\n");
	printf("             subnqn:nqn...' or 'trtype:PCIe traddr:0000:00:04.0'; add 'ns:N' to\n");
	printf("             use only namespace N (repeatable)\n");
	printf(" -c MASK     cores (one qpair per core per namespace); default 0x1\n");
	printf(" -q DEPTH    I/Os in flight per qpair; default 32\n");
	printf(" -o SIZE     I/O size in bytes (4096, 4k, 128k); default 4096\n");
	printf(" -w PATTERN  read, write, randread, randwrite, rw, randrw; default randread\n");
	printf(" -M PCT      reads in percent for rw / randrw\n");
	printf(" -t SECONDS  run time; default 10\n");
	printf(" -L          print the latency histogram of each namespace\n");
	printf(" -H, --hdgst NVMe/TCP header digest\n");
	printf(" -D, --ddgst NVMe/TCP data digest\n");
}

static int parse_pattern(const char *arg)
{
	static const struct {
		const char *name;
		enum perf_pattern p;
	} names[] = {
		{"read", PERF_READ}, {"write", PERF_WRITE}, {"randread", PERF_RANDREAD},
		{"randwrite", PERF_RANDWRITE}, {"rw", PERF_RW}, {"randrw", PERF_RANDRW},
	};
	size_t i;

	for (i = 0; i < AXON_COUNTOF(names); i++) {
		if (strcmp(arg, names[i].name) == 0) {
			g_cfg.pattern = names[i].p;
			return 0;
		}
	}
	fprintf(stderr, "perf: -w %s: expected read, write, randread, randwrite, rw or randrw\n",
		arg);
	return -EINVAL;
}

static int perf_parse_arg(int ch, const char *arg)
{
	uint64_t v;
	long l;

	switch (ch) {
	case 'q':
		if (axon_strtol(arg, 10, &l) != 0 || l < 1 || l > 65535) {
			fprintf(stderr, "perf: -q %s: expected a depth from 1 to 65535\n", arg);
			return -EINVAL;
		}
		g_cfg.qd = (uint32_t)l;
		return 0;
	case 'o':
		if (axon_parse_size(arg, &v) != 0 || v == 0 || v > (64u << 20)) {
			fprintf(stderr, "perf: -o %s: expected a size from 1 byte to 64 MiB\n", arg);
			return -EINVAL;
		}
		g_cfg.io_size = (uint32_t)v;
		return 0;
	case 'w':
		return parse_pattern(arg);
	case 'M':
		if (axon_strtol(arg, 10, &l) != 0 || l < 0 || l > 100) {
			fprintf(stderr, "perf: -M %s: expected a percentage from 0 to 100\n", arg);
			return -EINVAL;
		}
		g_cfg.read_pct = (int)l;
		return 0;
	case 't':
		if (axon_strtol(arg, 10, &l) != 0 || l < 1 || l > 86400) {
			fprintf(stderr, "perf: -t %s: expected seconds from 1 to 86400\n", arg);
			return -EINVAL;
		}
		g_cfg.time_s = (uint32_t)l;
		return 0;
	case 'H':
	case OPT_HDGST:
		g_cfg.hdgst = true;
		return 0;
	case 'D':
	case OPT_DDGST:
		g_cfg.ddgst = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The value of a perf-only short option: "-rVALUE" or "-r VALUE". */
static const char *take_value(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0') {
		return argv[*i] + 2;
	}
	if (*i + 1 >= argc) {
		return NULL;
	}
	return argv[++*i];
}

static int add_trid(const char *str)
{
	char err[300];

	if (g_cfg.num_trids == PERF_MAX_TRIDS) {
		fprintf(stderr, "perf: at most %d -r options\n", PERF_MAX_TRIDS);
		return -EINVAL;
	}
	if (axon_nvme_trid_parse(&g_cfg.trids[g_cfg.num_trids], str, err, sizeof(err)) != 0) {
		fprintf(stderr, "perf: -r '%s': %s\n", str, err);
		return -EINVAL;
	}
	g_cfg.num_trids++;
	return 0;
}

/*
 * Take -r, -c and -L out of argv (into g_cfg) and leave the rest, in order,
 * for axon_app_parse_args. Returns the new argc or -EINVAL.
 */
static int extract_perf_options(int argc, char **argv, char **rest)
{
	const char *v;
	int i, n = 0;

	rest[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '-' || a[1] == '\0') {
			rest[n++] = argv[i];
			continue;
		}
		if (a[1] == 'r' || a[1] == 'c') {
			v = take_value(argc, argv, &i);
			if (v == NULL) {
				fprintf(stderr, "perf: option -%c needs a value\n", a[1]);
				return -EINVAL;
			}
			if (a[1] == 'r' && add_trid(v) != 0) {
				return -EINVAL;
			}
			if (a[1] == 'c') {
				g_core_mask = v;
			}
			continue;
		}
		if (a[1] == 'L' && strspn(a + 1, "L") == strlen(a + 1)) {
			g_cfg.latency_level += (int)strlen(a + 1);
			continue;
		}
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

static int check_config(void)
{
	struct axon_cpuset set;

	if (axon_cpuset_parse(&set, g_core_mask) != 0 || axon_cpuset_count(&set) == 0) {
		fprintf(stderr, "perf: -c %s: expected a core mask (0x3) or list ([0-1])\n",
			g_core_mask);
		return -EINVAL;
	}
	if (g_cfg.num_trids == 0) {
		fprintf(stderr, "perf: at least one -r TRID is required\n");
		return -EINVAL;
	}
	if (g_cfg.pattern == PERF_RW || g_cfg.pattern == PERF_RANDRW) {
		if (g_cfg.read_pct < 0) {
			fprintf(stderr, "perf: -w rw / randrw needs -M (the read percentage)\n");
			return -EINVAL;
		}
	} else if (g_cfg.read_pct >= 0) {
		fprintf(stderr, "perf: -M applies only to -w rw and randrw\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- setup ---------------------------------------------------------------------------- */

static int add_namespaces(struct axon_nvme_ctrlr *ctrlr, const struct axon_nvme_trid *trid)
{
	struct axon_nvme_ns *ns = NULL;
	struct perf_ns *pns;
	uint32_t ss;

	while ((ns = axon_nvme_ctrlr_get_next_active_ns(ctrlr, ns)) != NULL) {
		if (trid->nsid != 0 && axon_nvme_ns_get_id(ns) != trid->nsid) {
			continue;
		}
		ss = axon_nvme_ns_get_sector_size(ns);
		if (g_cfg.io_size % ss != 0 || g_cfg.io_size > axon_nvme_ctrlr_get_max_xfer_size(ctrlr)) {
			fprintf(stderr, "perf: %s nsid %u: -o %u is not a multiple of the %u-byte "
				"sector or exceeds the transfer limit\n", trid->traddr,
				axon_nvme_ns_get_id(ns), g_cfg.io_size, ss);
			return -EINVAL;
		}
		if (g_num_ns == PERF_MAX_NS) {
			fprintf(stderr, "perf: at most %d namespaces\n", PERF_MAX_NS);
			return -E2BIG;
		}
		pns = &g_ns[g_num_ns++];
		pns->ctrlr = ctrlr;
		pns->ns = ns;
		pns->lba_per_io = g_cfg.io_size / ss;
		pns->num_blocks = axon_nvme_ns_get_num_sectors(ns) / pns->lba_per_io;
		if (pns->num_blocks == 0) {
			fprintf(stderr, "perf: namespace %u is smaller than one I/O\n",
				axon_nvme_ns_get_id(ns));
			return -EINVAL;
		}
		snprintf(pns->name, sizeof(pns->name), "%s %s:%s NSID %u",
			 axon_nvme_trtype_str(trid->trtype), trid->traddr, trid->trsvcid,
			 axon_nvme_ns_get_id(ns));
	}
	return 0;
}

static int connect_all(uint32_t ncores)
{
	struct axon_nvme_ctrlr_opts opts;
	int i, rc;

	for (i = 0; i < g_cfg.num_trids; i++) {
		axon_nvme_ctrlr_opts_init(&opts);
		opts.header_digest = g_cfg.hdgst;
		opts.data_digest = g_cfg.ddgst;
		opts.num_io_queues = ncores * PERF_MAX_NS;
		opts.io_queue_size = AXON_MAX(g_cfg.qd + 1, 2u);
		g_ctrlrs[i] = axon_nvme_ctrlr_connect(&g_cfg.trids[i], &opts);
		if (g_ctrlrs[i] == NULL) {
			fprintf(stderr, "perf: cannot connect to %s\n", g_cfg.trids[i].traddr);
			return -EIO;
		}
		rc = add_namespaces(g_ctrlrs[i], &g_cfg.trids[i]);
		if (rc != 0) {
			return rc;
		}
	}
	if (g_num_ns == 0) {
		fprintf(stderr, "perf: no namespaces to test\n");
		return -ENODEV;
	}
	return 0;
}

static void detach_all(void)
{
	int i;

	for (i = 0; i < g_cfg.num_trids; i++) {
		if (g_ctrlrs[i] != NULL) {
			axon_nvme_ctrlr_detach(g_ctrlrs[i]);
			g_ctrlrs[i] = NULL;
		}
	}
}

/* ---- report ---------------------------------------------------------------------------- */

static double tsc_to_us(uint64_t tsc)
{
	return (double)tsc * 1e6 / (double)axon_get_ticks_hz();
}

static void print_row(const char *name, const struct perf_stats *s, double secs)
{
	double iops = (double)s->ios / secs;
	double mibs = iops * g_cfg.io_size / (1024.0 * 1024.0);
	double avg = s->ios != 0 ? tsc_to_us(s->lat_sum_tsc) / (double)s->ios : 0;

	printf("%-44s %11.2f %9.2f %9.2f %9.2f %10.2f %9.2f %9.2f %9.2f\n", name, iops, mibs, avg,
	       tsc_to_us(s->lat_min_tsc), tsc_to_us(s->lat_max_tsc),
	       (double)perf_hist_percentile(s, 50.0) / 1000.0,
	       (double)perf_hist_percentile(s, 99.0) / 1000.0,
	       (double)perf_hist_percentile(s, 99.9) / 1000.0);
}

static void print_histogram(const char *name, const struct perf_stats *s)
{
	uint64_t total = s->ios, seen = 0;
	uint32_t b;

	if (total == 0) {
		return;
	}
	printf("\nLatency histogram for %s\n", name);
	printf("%14s %14s %12s %10s\n", "from (us)", "to (us)", "count", "cumulative");
	for (b = 0; b < PERF_HIST_BUCKETS; b++) {
		if (s->hist[b] == 0) {
			continue;
		}
		seen += s->hist[b];
		printf("%14.3f %14.3f %12" PRIu64 " %9.4f%%\n",
		       (double)perf_hist_bucket_low(b) / 1000.0,
		       (double)perf_hist_bucket_low(b + 1) / 1000.0, s->hist[b],
		       100.0 * (double)seen / (double)total);
	}
}

static void report(void)
{
	static struct perf_stats per_ns[PERF_MAX_NS], total;
	double secs = (double)(g_end_tsc - g_start_tsc) / (double)axon_get_ticks_hz();
	uint64_t errors = 0;
	uint32_t w;
	int i;

	for (i = 0; i < g_num_ns; i++) {
		for (w = 0; w < g_num_workers; w++) {
			perf_stats_merge(&per_ns[i], perf_worker_stats(g_workers[w], i));
		}
		perf_stats_merge(&total, &per_ns[i]);
		errors += per_ns[i].errors;
	}
	printf("%-44s %11s %9s %9s %9s %10s %9s %9s %9s\n", "Device", "IOPS", "MiB/s", "Avg(us)",
	       "Min(us)", "Max(us)", "p50(us)", "p99(us)", "p99.9(us)");
	for (i = 0; i < g_num_ns; i++) {
		print_row(g_ns[i].name, &per_ns[i], secs);
	}
	print_row("Total", &total, secs);
	if (errors != 0) {
		printf("I/O errors: %" PRIu64 "\n", errors);
	}
	if (g_cfg.latency_level >= 1) {
		for (i = 0; i < g_num_ns; i++) {
			print_histogram(g_ns[i].name, &per_ns[i]);
		}
	}
	fflush(stdout);
	if (errors != 0 || total.ios == 0) {
		g_exit_status = 1;
	}
}

/* ---- the run ----------------------------------------------------------------------------- */

static void finish(void)
{
	uint32_t w;

	axon_poller_unregister(&g_admin_poller);
	axon_poller_unregister(&g_timer);
	for (w = 0; w < g_num_workers; w++) {
		if (perf_worker_failed(g_workers[w])) {
			g_exit_status = 1;
		}
	}
	report();
	for (w = 0; w < g_num_workers; w++) {
		perf_worker_free(g_workers[w]);
	}
	detach_all();
	axon_app_stop(g_exit_status);
}

static void worker_done(struct perf_worker *w)
{
	(void)w;
	if (++g_workers_done == g_num_workers) {
		g_end_tsc = axon_get_ticks();
		finish();
	}
}

static int admin_poll(void *ctx)
{
	int i;

	(void)ctx;
	for (i = 0; i < g_cfg.num_trids; i++) {
		if (g_ctrlrs[i] != NULL && axon_nvme_ctrlr_process_admin_completions(g_ctrlrs[i]) < 0) {
			fprintf(stderr, "perf: controller %s failed\n", g_cfg.trids[i].traddr);
		}
	}
	return AXON_POLLER_BUSY;
}

static int timer_poll(void *ctx)
{
	uint32_t w;

	(void)ctx;
	if (axon_get_ticks() - g_start_tsc < (uint64_t)g_cfg.time_s * axon_get_ticks_hz()) {
		return AXON_POLLER_IDLE;
	}
	axon_poller_unregister(&g_timer);
	for (w = 0; w < g_num_workers; w++) {
		perf_worker_stop(g_workers[w]);
	}
	return AXON_POLLER_BUSY;
}

static void perf_start(void *ctx)
{
	uint32_t cores[PERF_MAX_CORES], ncores, i;

	(void)ctx;
	ncores = axon_reactor_get_cores(cores, PERF_MAX_CORES);
	if (connect_all(ncores) != 0) {
		detach_all();
		axon_app_stop(1);
		return;
	}
	g_admin_poller = axon_poller_register(admin_poll, NULL, PERF_ADMIN_POLL_US);
	printf("perf: %d namespace(s), %u core(s), qd %u, io size %u, %u s\n", g_num_ns, ncores,
	       g_cfg.qd, g_cfg.io_size, g_cfg.time_s);
	fflush(stdout);
	for (i = 0; i < ncores; i++) {
		g_workers[i] = perf_worker_create(cores[i]);
		if (g_workers[i] == NULL) {
			fprintf(stderr, "perf: cannot create a thread on core %u\n", cores[i]);
			break;
		}
		g_num_workers++;
	}
	g_start_tsc = axon_get_ticks();
	g_timer = axon_poller_register(timer_poll, NULL, 100000);
	if (g_num_workers == 0) {
		g_exit_status = 1;
		finish();
		return;
	}
	for (i = 0; i < g_num_workers; i++) {
		perf_worker_start(g_workers[i], worker_done);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"hdgst", no_argument, NULL, OPT_HDGST},
		{"ddgst", no_argument, NULL, OPT_DDGST},
		{NULL, 0, NULL, 0},
	};
	struct axon_app_opts opts;
	char **rest;
	int n, rc;

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (rest == NULL) {
		return 1;
	}
	axon_app_opts_init(&opts, "perf");
	opts.rpc_addr = NULL;
	n = extract_perf_options(argc, argv, rest);
	if (n < 0) {
		free(rest);
		return 1;
	}
	rc = axon_app_parse_args(n, rest, &opts, "q:o:w:M:t:HD", longopts, perf_parse_arg,
				 perf_usage);
	free(rest);
	if (rc != 0) {
		return rc == 1 ? 0 : 1;
	}
	if (check_config() != 0) {
		return 1;
	}
	opts.reactor_mask = g_core_mask;
	rc = axon_app_start(&opts, perf_start, NULL);
	axon_app_fini();
	if (rc != 0) {
		fprintf(stderr, "perf: exiting after an error (%d)\n", rc);
		return 1;
	}
	return g_exit_status;
}
