/*
 * pcie_io: drives real (or emulated) PCIe NVMe controllers through lib/nvme
 * and drivers/nvme/pcie, for the VM test (test/vm/tests/test_nvme_pcie.py).
 * Not a unit test: it needs a controller bound to vfio-pci, so it is built
 * outside build/unit.
 *
 *   pcie_io -r 'trtype:PCIe traddr:0000:00:04.0' [-r ...] [-w WORKLOAD] [-t SEC]
 *           [-q DEPTH] [-s FIRST_MIB] [-n MIB] [-N]
 *
 * WORKLOAD: identify (controller and namespace data), verify (patterned
 * writes through single buffers and split iovecs, read back and compared),
 * randread, randwrite (4 KiB, DEPTH outstanding, for SEC seconds). Every
 * write stays in [FIRST_MIB, FIRST_MIB + MIB) of namespace 1. Prints "CHECK"
 * lines; exits non-zero on any failure. -N: no hugepages (EAL --no-huge, 256 MiB).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/nvme.h"

#define MAX_CTRLRS 4
#define IO_SIZE 4096u
#define MAX_DEPTH 256u
#define VERIFY_BLOCKS 64u /* 256 KiB per verify command at 4 KiB blocks */

struct io_ctx {
	struct worker *w;
	void *buf;
	uint64_t lba;
};

struct worker {
	struct axon_nvme_ns *ns;
	struct axon_nvme_qpair *qpair;
	bool write;
	uint64_t first_lba;
	uint64_t num_lbas;
	uint32_t lbas_per_io;
	uint64_t completed;
	uint64_t errors;
	uint32_t outstanding;
	bool stop;
	struct io_ctx ios[MAX_DEPTH];
};

static const char *g_workload = "identify";
static unsigned int g_seconds = 2;
static unsigned int g_depth = 32;
static uint64_t g_first_mib = 64;
static uint64_t g_mib = 64;
static bool g_no_huge;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_str(const char *label, const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0')) {
		len--;
	}
	printf("  %-10s %.*s\n", label, (int)len, s);
}

static void identify(struct axon_nvme_ctrlr *ctrlr)
{
	const struct nvme_id_ctrl *cd = axon_nvme_ctrlr_get_data(ctrlr);
	union axon_nvme_vs vs = axon_nvme_ctrlr_get_vs(ctrlr);
	struct axon_nvme_ns *ns;
	char trid[512];

	axon_nvme_trid_fmt(axon_nvme_ctrlr_get_trid(ctrlr), trid, sizeof(trid));
	printf("controller %s\n", trid);
	printf("  %-10s 0x%04x\n", "vid", cd->vid);
	print_str("serial", cd->sn, sizeof(cd->sn));
	print_str("model", cd->mn, sizeof(cd->mn));
	print_str("firmware", cd->fr, sizeof(cd->fr));
	printf("  %-10s %u.%u\n", "version", vs.bits.mjr, vs.bits.mnr);
	printf("  %-10s 0x%08x\n", "sgls", cd->sgls);
	printf("  %-10s %u\n", "io queues", axon_nvme_ctrlr_get_num_io_queues(ctrlr));
	printf("  %-10s %u\n", "max xfer", axon_nvme_ctrlr_get_max_xfer_size(ctrlr));
	for (ns = axon_nvme_ctrlr_get_next_active_ns(ctrlr, NULL); ns != NULL;
	     ns = axon_nvme_ctrlr_get_next_active_ns(ctrlr, ns)) {
		printf("  namespace %u: %lu blocks of %u bytes\n", axon_nvme_ns_get_id(ns),
		       (unsigned long)axon_nvme_ns_get_num_sectors(ns),
		       axon_nvme_ns_get_sector_size(ns));
	}
}

/* ---- synchronous I/O for verify ------------------------------------------------- */

struct sync_io {
	bool done;
	uint16_t status;
};

static void sync_cb(void *arg, const struct axon_nvme_cpl *cpl)
{
	struct sync_io *io = arg;

	io->done = true;
	io->status = axon_nvme_cpl_get_status(cpl);
}

static int sync_wait(struct axon_nvme_qpair *qpair, struct sync_io *io, int rc)
{
	if (rc != 0) {
		return rc;
	}
	while (!io->done) {
		rc = axon_nvme_qpair_process_completions(qpair, 0);
		if (rc < 0) {
			return rc;
		}
	}
	return (io->status & 0x7ffu) != 0 ? -EIO : 0;
}

static void fill_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = seed * 0x9e3779b97f4a7c15ull + i;

		memcpy(buf + i, &v, 8);
	}
}

/*
 * Write a pattern, read it back, with contiguous buffers and with split
 * iovecs whose inner boundaries are page-aligned (PRP-expressible) and
 * not (SGL only).
 */
static int verify(struct axon_nvme_ns *ns, struct axon_nvme_qpair *qpair, uint64_t lba,
		  uint32_t blocks)
{
	uint32_t bs = axon_nvme_ns_get_sector_size(ns), len = blocks * bs;
	uint8_t *wbuf = axon_dma_zmalloc(len + 4096, 4096, -1);
	uint8_t *rbuf = axon_dma_zmalloc(len + 4096, 4096, -1);
	struct iovec wiov[3], riov[3];
	struct sync_io io;
	int rc = -ENOMEM, pass;

	if (wbuf == NULL || rbuf == NULL) {
		goto out;
	}
	for (pass = 0; pass < 3; pass++) {
		fill_pattern(wbuf, len, lba + (uint64_t)pass * 7919u);
		memset(rbuf, 0, len);
		/* pass 0: one buffer; 1: three page-aligned pieces; 2: sector-sized odd pieces */
		uint32_t a = pass == 1 ? 8192u : bs, b = pass == 1 ? 3u * 4096u : 3u * bs;

		wiov[0] = (struct iovec){wbuf, a};
		wiov[1] = (struct iovec){wbuf + a, b};
		wiov[2] = (struct iovec){wbuf + a + b, len - a - b};
		riov[0] = (struct iovec){rbuf, a};
		riov[1] = (struct iovec){rbuf + a, b};
		riov[2] = (struct iovec){rbuf + a + b, len - a - b};
		io = (struct sync_io){0};
		rc = pass == 0 ? axon_nvme_ns_cmd_write(ns, qpair, wbuf, lba, blocks, sync_cb, &io, 0)
			       : axon_nvme_ns_cmd_writev(ns, qpair, wiov, 3, lba, blocks, sync_cb,
							 &io, 0);
		rc = sync_wait(qpair, &io, rc);
		if (rc != 0) {
			fprintf(stderr, "verify pass %d: write failed: %d\n", pass, rc);
			goto out;
		}
		io = (struct sync_io){0};
		rc = pass == 0 ? axon_nvme_ns_cmd_read(ns, qpair, rbuf, lba, blocks, sync_cb, &io, 0)
			       : axon_nvme_ns_cmd_readv(ns, qpair, riov, 3, lba, blocks, sync_cb,
							&io, 0);
		rc = sync_wait(qpair, &io, rc);
		if (rc != 0) {
			fprintf(stderr, "verify pass %d: read failed: %d\n", pass, rc);
			goto out;
		}
		if (memcmp(wbuf, rbuf, len) != 0) {
			fprintf(stderr, "verify pass %d: data mismatch at lba %lu\n", pass,
				(unsigned long)lba);
			rc = -EIO;
			goto out;
		}
	}
	rc = 0;
out:
	axon_dma_free(wbuf);
	axon_dma_free(rbuf);
	return rc;
}

/* ---- random I/O -------------------------------------------------------------------- */

static int submit_io(struct io_ctx *io);

static void io_done(void *arg, const struct axon_nvme_cpl *cpl)
{
	struct io_ctx *io = arg;
	struct worker *w = io->w;

	w->outstanding--;
	if (axon_nvme_cpl_is_error(cpl)) {
		w->errors++;
	} else {
		w->completed++;
	}
	if (!w->stop && submit_io(io) != 0) {
		w->errors++;
	}
}

static int submit_io(struct io_ctx *io)
{
	struct worker *w = io->w;
	uint64_t slot = (uint64_t)rand() % (w->num_lbas / w->lbas_per_io);
	int rc;

	io->lba = w->first_lba + slot * w->lbas_per_io;
	rc = w->write ? axon_nvme_ns_cmd_write(w->ns, w->qpair, io->buf, io->lba, w->lbas_per_io,
					       io_done, io, 0)
		      : axon_nvme_ns_cmd_read(w->ns, w->qpair, io->buf, io->lba, w->lbas_per_io,
					      io_done, io, 0);
	if (rc == 0) {
		w->outstanding++;
	}
	return rc;
}

static int run_random(struct worker *workers, int n, bool write)
{
	double start, end;
	int i, rc = 0;
	uint32_t d;

	for (i = 0; i < n; i++) {
		workers[i].write = write;
		workers[i].stop = false;
		workers[i].completed = workers[i].errors = 0;
		for (d = 0; d < g_depth; d++) {
			if (submit_io(&workers[i].ios[d]) != 0) {
				return -EIO;
			}
		}
	}
	start = now_s();
	end = start + g_seconds;
	for (;;) {
		bool busy = false;

		for (i = 0; i < n; i++) {
			if (now_s() >= end) {
				workers[i].stop = true;
			}
			if (workers[i].outstanding > 0) {
				busy = true;
				if (axon_nvme_qpair_process_completions(workers[i].qpair, 0) < 0) {
					return -ENXIO;
				}
			}
		}
		if (!busy) {
			break;
		}
	}
	for (i = 0; i < n; i++) {
		double secs = now_s() - start;
		const struct axon_nvme_trid *trid =
			axon_nvme_ctrlr_get_trid(axon_nvme_ns_get_ctrlr(workers[i].ns));

		printf("%s %s ns %u: %.0f IOPS %.2f MiB/s errors %lu (emulated: functional only)\n",
		       write ? "randwrite" : "randread", trid->traddr,
		       axon_nvme_ns_get_id(workers[i].ns), (double)workers[i].completed / secs,
		       (double)workers[i].completed * IO_SIZE / secs / 1048576.0,
		       (unsigned long)workers[i].errors);
		if (workers[i].errors != 0 || workers[i].completed == 0) {
			rc = -EIO;
		}
	}
	return rc;
}

static int setup_worker(struct worker *w, struct axon_nvme_ctrlr *ctrlr)
{
	struct axon_nvme_io_qpair_opts qopts;
	uint32_t bs, d;

	w->ns = axon_nvme_ctrlr_get_ns(ctrlr, 1);
	if (w->ns == NULL) {
		fprintf(stderr, "no namespace 1\n");
		return -ENODEV;
	}
	bs = axon_nvme_ns_get_sector_size(w->ns);
	w->lbas_per_io = IO_SIZE / bs;
	w->first_lba = g_first_mib * 1048576u / bs;
	w->num_lbas = g_mib * 1048576u / bs;
	if (w->first_lba + w->num_lbas > axon_nvme_ns_get_num_sectors(w->ns)) {
		fprintf(stderr, "namespace too small for the region\n");
		return -ERANGE;
	}
	axon_nvme_io_qpair_opts_init(&qopts);
	qopts.io_queue_size = g_depth + 1;
	w->qpair = axon_nvme_ctrlr_alloc_io_qpair(ctrlr, &qopts);
	if (w->qpair == NULL) {
		return -EIO;
	}
	for (d = 0; d < g_depth; d++) {
		w->ios[d].w = w;
		w->ios[d].buf = axon_dma_zmalloc(IO_SIZE, 4096, -1);
		if (w->ios[d].buf == NULL) {
			return -ENOMEM;
		}
		fill_pattern(w->ios[d].buf, IO_SIZE, d);
	}
	return 0;
}

static void free_worker(struct worker *w)
{
	uint32_t d;

	for (d = 0; d < MAX_DEPTH; d++) {
		axon_dma_free(w->ios[d].buf);
	}
	if (w->qpair != NULL) {
		axon_nvme_ctrlr_free_io_qpair(w->qpair);
	}
}

static int run_workload(const char *w, struct axon_nvme_ctrlr **ctrlrs, struct worker *workers,
			int n)
{
	int i, rc = 0;

	if (strcmp(w, "identify") == 0) {
		return 0;
	}
	if (strcmp(w, "verify") == 0) {
		for (i = 0; i < n && rc == 0; i++) {
			uint32_t bs = axon_nvme_ns_get_sector_size(workers[i].ns);

			rc = verify(workers[i].ns, workers[i].qpair, workers[i].first_lba,
				    (VERIFY_BLOCKS * 4096u) / bs);
			if (rc == 0) {
				printf("CHECK verify %s\n", axon_nvme_ctrlr_get_trid(ctrlrs[i])->traddr);
			}
		}
		return rc;
	}
	if (strcmp(w, "randread") != 0 && strcmp(w, "randwrite") != 0) {
		fprintf(stderr, "unknown workload '%s'\n", w);
		return -EINVAL;
	}
	rc = run_random(workers, n, strcmp(w, "randwrite") == 0);
	if (rc == 0) {
		printf("CHECK %s %d controllers\n", w, n);
	}
	return rc;
}

static int run(const char **trids, int n)
{
	struct axon_nvme_ctrlr *ctrlrs[MAX_CTRLRS] = {0};
	static struct worker workers[MAX_CTRLRS];
	struct axon_nvme_trid trid;
	char err[256], list[128], *w, *save = NULL;
	int i, rc = 0;

	snprintf(list, sizeof(list), "%s", g_workload);
	for (i = 0; i < n && rc == 0; i++) {
		if (axon_nvme_trid_parse(&trid, trids[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			rc = -EINVAL;
			break;
		}
		ctrlrs[i] = axon_nvme_ctrlr_connect(&trid, NULL);
		if (ctrlrs[i] == NULL) {
			rc = -EIO;
			break;
		}
		identify(ctrlrs[i]);
		printf("CHECK identify %s\n", trid.traddr);
		if (strcmp(g_workload, "identify") != 0) {
			rc = setup_worker(&workers[i], ctrlrs[i]);
		}
	}
	/* g_workload: one workload or a comma-separated sequence. */
	for (w = strtok_r(list, ",", &save); rc == 0 && w != NULL; w = strtok_r(NULL, ",", &save)) {
		rc = run_workload(w, ctrlrs, workers, n);
	}
	for (i = 0; i < n; i++) {
		free_worker(&workers[i]);
		if (ctrlrs[i] != NULL) {
			axon_nvme_ctrlr_detach(ctrlrs[i]);
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *trids[MAX_CTRLRS];
	struct axon_env_opts opts;
	int n = 0, c, rc;

	while ((c = getopt(argc, argv, "r:w:t:q:s:n:N")) != -1) {
		switch (c) {
		case 'r':
			if (n == MAX_CTRLRS) {
				return 2;
			}
			trids[n++] = optarg;
			break;
		case 'w':
			g_workload = optarg;
			break;
		case 't':
			g_seconds = (unsigned int)atoi(optarg);
			break;
		case 'q':
			g_depth = (unsigned int)atoi(optarg);
			break;
		case 's':
			g_first_mib = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			g_mib = strtoull(optarg, NULL, 0);
			break;
		case 'N':
			g_no_huge = true;
			break;
		default:
			return 2;
		}
	}
	if (n == 0 || g_depth == 0 || g_depth > MAX_DEPTH) {
		fprintf(stderr, "usage: %s -r TRID [-r TRID] [-w identify|verify|randread|randwrite] "
				"[-t SEC] [-q DEPTH<=%u] [-s FIRST_MIB] [-n MIB] [-N]\n",
			argv[0], MAX_DEPTH);
		return 2;
	}
	axon_env_opts_init(&opts);
	opts.name = "pcie_io";
	opts.iova_mode = "va";
	if (g_no_huge) {
		opts.no_huge = true;
		opts.mem_size_mb = 256;
	}
	rc = axon_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "env init failed: %d\n", rc);
		return 1;
	}
	rc = run(trids, n);
	axon_env_fini();
	printf("%s\n", rc == 0 ? "CHECK pcie_io ok" : "pcie_io FAILED");
	return rc == 0 ? 0 : 1;
}
