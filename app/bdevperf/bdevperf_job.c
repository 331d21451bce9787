/*
 * One bdevperf job on its own thread: keeps queue_depth tasks in flight on
 * one bdev until the run time is up, then drains and releases everything.
 * Nothing here allocates once the job runs: buffers, tasks and the histogram
 * are set up by bdevperf_job_start.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "bdevperf.h"

/* Minimum alignment of task buffers, whatever the bdev asks. */
#define TASK_BUF_ALIGN 4096u
/* Resubmits tried in a row when io_wait says a bdev_io is free after all. */
#define SUBMIT_RETRIES 4

static void task_next(struct bdevperf_task *task);
static void task_submit(struct bdevperf_task *task);
static void job_stop(struct bdevperf_job *job);

/* ---- helpers ------------------------------------------------------------------------- */

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* A well-mixed 64-bit value of x (splitmix64's finaliser). */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* The pattern word at byte offset `byte` of the bdev, for this run and this
 * write generation: a read that returns another run's or an older write's
 * data, or data from another offset, does not match. */
static uint64_t pattern_word(const struct bdevperf_job *job, uint64_t byte, uint32_t generation)
{
	return mix64(job->cfg->seed ^ (byte * 0x9e3779b97f4a7c15ull) ^
		     ((uint64_t)generation << 48));
}

static void pattern_fill(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	uint64_t *w = task->buf, base = task->offset_blocks * job->block_size;
	uint64_t n = job->cfg->io_size / sizeof(uint64_t);

	for (uint64_t i = 0; i < n; i++) {
		w[i] = pattern_word(job, base + i * sizeof(uint64_t), task->generation);
	}
}

static void job_error(struct bdevperf_job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print an error of this job (stderr) and keep the first for the summary. */
static void job_error(struct bdevperf_job *job, const char *fmt, ...)
{
	char msg[sizeof(job->first_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bdevperf: job %s on core %u: %s\n", job->name, job->core, msg);
	if (job->first_error[0] == '\0') {
		memcpy(job->first_error, msg, sizeof(msg));
	}
}

static bool pattern_check(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	const uint64_t *want = task->buf, *got = task->verify_buf;
	uint64_t n = job->cfg->io_size / sizeof(uint64_t), base;

	if (memcmp(want, got, job->cfg->io_size) == 0) {
		return true;
	}
	base = task->offset_blocks * job->block_size;
	for (uint64_t i = 0; i < n; i++) {
		if (want[i] != got[i]) {
			job_error(job, "MISCOMPARE at byte offset %llu (block %llu): expected "
				  "0x%016llx, got 0x%016llx",
				  (unsigned long long)(base + i * sizeof(uint64_t)),
				  (unsigned long long)((base + i * sizeof(uint64_t)) / job->block_size),
				  (unsigned long long)want[i], (unsigned long long)got[i]);
			break;
		}
	}
	return false;
}

/* ---- the I/O cycle ------------------------------------------------------------------ */

static void job_release(struct bdevperf_job *job)
{
	axon_poller_unregister(&job->timer);
	if (job->ch != NULL) {
		axon_put_io_channel(job->ch);
		job->ch = NULL;
	}
	if (job->desc != NULL) {
		axon_bdev_close(job->desc);
		job->desc = NULL;
	}
	axon_dma_free(job->buf_area);
	job->buf_area = NULL;
	free(job->tasks);
	job->tasks = NULL;
	free(job->slot_map);
	job->slot_map = NULL;
	axon_thread_exit(job->thread);
}

static void job_finish(struct bdevperf_job *job)
{
	job->end_tsc = axon_get_ticks();
	job->state = JOB_DONE;
	job_release(job);
	axon_thread_send_msg(axon_thread_get_app_thread(), bdevperf_job_finished, job);
}

static void job_stop(struct bdevperf_job *job)
{
	if (job->state != JOB_RUNNING) {
		return;
	}
	job->state = JOB_DRAINING;
	axon_poller_unregister(&job->timer);
	if (job->in_flight == 0) {
		job_finish(job);
	}
}

static int job_timer(void *ctx)
{
	job_stop(ctx);
	return AXON_POLLER_BUSY;
}

static void task_io_failed(struct bdevperf_task *task, struct axon_bdev_io *bdev_io)
{
	struct bdevperf_job *job = task->job;
	int sct = 0, sc = 0;

	axon_bdev_io_get_nvme_status(bdev_io, NULL, &sct, &sc);
	job->failed++;
	if (job->failed == 1 || !job->cfg->continue_on_failure) {
		job_error(job, "%s of %llu block(s) at block %llu failed (NVMe sct %#x sc %#x)%s",
			  axon_bdev_io_type_name(task->io_type),
			  (unsigned long long)job->io_blocks,
			  (unsigned long long)task->offset_blocks, sct, sc,
			  job->cfg->continue_on_failure ? "; continuing (-f)" : "");
	}
	if (!job->cfg->continue_on_failure) {
		job_stop(job);
	}
}

static void task_done(struct axon_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct bdevperf_task *task = cb_arg;
	struct bdevperf_job *job = task->job;

	hist_add(job->hist, axon_get_ticks() - task->submit_tsc);
	if (!success) {
		task_io_failed(task, bdev_io);
		axon_bdev_free_io(bdev_io);
		task_next(task);
		return;
	}
	axon_bdev_free_io(bdev_io);
	job->ios++;
	job->bytes += job->cfg->io_size;
	if (task->state == TASK_VERIFY_WRITE) {
		task->state = TASK_VERIFY_READ;
		task->io_type = AXON_BDEV_IO_TYPE_READ;
		task_submit(task);
		return;
	}
	if (task->state == TASK_VERIFY_READ && job->check_data && !pattern_check(task)) {
		job->miscompares++;
		if (!job->cfg->continue_on_failure) {
			job_stop(job);
		}
	}
	task_next(task);
}

static void task_retry(void *ctx)
{
	task_submit(ctx);
}

static int task_submit_once(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	void *buf = task->state == TASK_VERIFY_READ ? task->verify_buf : task->buf;

	task->submit_tsc = axon_get_ticks();
	switch (task->io_type) {
	case AXON_BDEV_IO_TYPE_READ:
		return axon_bdev_read_blocks(job->desc, job->ch, buf, task->offset_blocks,
					     job->io_blocks, task_done, task);
	case AXON_BDEV_IO_TYPE_WRITE:
		return axon_bdev_write_blocks(job->desc, job->ch, buf, task->offset_blocks,
					      job->io_blocks, task_done, task);
	case AXON_BDEV_IO_TYPE_UNMAP:
		return axon_bdev_unmap_blocks(job->desc, job->ch, task->offset_blocks,
					      job->io_blocks, task_done, task);
	case AXON_BDEV_IO_TYPE_FLUSH:
		return axon_bdev_flush_blocks(job->desc, job->ch, task->offset_blocks,
					      job->io_blocks, task_done, task);
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return axon_bdev_write_zeroes_blocks(job->desc, job->ch, task->offset_blocks,
						     job->io_blocks, task_done, task);
	default:
		return -ENOTSUP;
	}
}

static void task_submit(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	int rc;

	for (int i = 0; i < SUBMIT_RETRIES; i++) {
		rc = task_submit_once(task);
		if (rc != -ENOMEM) {
			break;
		}
		/* Out of bdev_ios: wait for one instead of failing. */
		task->wait.bdev = axon_bdev_desc_get_bdev(job->desc);
		task->wait.cb_fn = task_retry;
		task->wait.cb_arg = task;
		rc = axon_bdev_queue_io_wait(task->wait.bdev, job->ch, &task->wait);
		if (rc == 0) {
			return;
		}
	}
	if (rc == 0) {
		return;
	}
	job->failed++;
	job_error(job, "cannot submit %s at block %llu: %s", axon_bdev_io_type_name(task->io_type),
		  (unsigned long long)task->offset_blocks, strerror(-rc));
	job_stop(job);
	task->state = TASK_IDLE;
	job->in_flight--;
	if (job->state == JOB_DRAINING && job->in_flight == 0) {
		job_finish(job);
	}
}

static bool slot_test_and_set(uint64_t *map, uint64_t slot)
{
	uint64_t bit = 1ull << (slot % 64u);
	bool was = (map[slot / 64u] & bit) != 0;

	map[slot / 64u] |= bit;
	return was;
}

static void slot_clear(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	uint64_t slot = (task->offset_blocks - job->range_start) / job->io_blocks;

	job->slot_map[slot / 64u] &= ~(1ull << (slot % 64u));
	task->holds_slot = false;
}

/* Verify: the next sequential slot no other task is working on. There is
 * always one: the range holds at least queue_depth slots (checked at start). */
static uint64_t job_pick_verify_offset(struct bdevperf_job *job)
{
	uint64_t slots = job->range_blocks / job->io_blocks, slot;

	for (;;) {
		slot = job->next_offset / job->io_blocks;
		job->next_offset += job->io_blocks;
		if (job->next_offset + job->io_blocks > job->range_blocks) {
			job->next_offset = 0;
		}
		if (!slot_test_and_set(job->slot_map, slot % slots)) {
			return job->range_start + slot * job->io_blocks;
		}
	}
}

static uint64_t job_pick_offset(struct bdevperf_job *job, bool random)
{
	uint64_t slots = job->range_blocks / job->io_blocks, off;

	if (random) {
		return job->range_start + (xorshift64(&job->rng) % slots) * job->io_blocks;
	}
	off = job->next_offset;
	job->next_offset += job->io_blocks;
	if (job->next_offset + job->io_blocks > job->range_blocks) {
		job->next_offset = 0;
	}
	return job->range_start + off;
}

static enum axon_bdev_io_type job_pick_type(struct bdevperf_job *job)
{
	switch (job->cfg->workload) {
	case WL_READ:
	case WL_RANDREAD:
		return AXON_BDEV_IO_TYPE_READ;
	case WL_RW:
	case WL_RANDRW:
		return xorshift64(&job->rng) % 100u < job->cfg->rw_read_pct ?
		       AXON_BDEV_IO_TYPE_READ : AXON_BDEV_IO_TYPE_WRITE;
	case WL_UNMAP:
		return AXON_BDEV_IO_TYPE_UNMAP;
	case WL_FLUSH:
		return AXON_BDEV_IO_TYPE_FLUSH;
	case WL_WRITE_ZEROES:
		return AXON_BDEV_IO_TYPE_WRITE_ZEROES;
	default:
		return AXON_BDEV_IO_TYPE_WRITE;
	}
}

/* The task's next I/O, or rest if the job is no longer running. */
static void task_next(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;
	enum bdevperf_workload wl = job->cfg->workload;

	if (task->holds_slot) {
		slot_clear(task);
	}
	if (job->state != JOB_RUNNING) {
		task->state = TASK_IDLE;
		if (--job->in_flight == 0 && job->state == JOB_DRAINING) {
			job_finish(job);
		}
		return;
	}
	task->io_type = job_pick_type(job);
	if (wl == WL_VERIFY) {
		task->offset_blocks = job_pick_verify_offset(job);
		task->holds_slot = true;
		task->state = TASK_VERIFY_WRITE;
		task->generation++;
		pattern_fill(task);
	} else {
		task->offset_blocks = job_pick_offset(job, wl == WL_RANDREAD ||
							   wl == WL_RANDWRITE || wl == WL_RANDRW);
		task->state = TASK_IO;
	}
	task_submit(task);
}

/* ---- start -------------------------------------------------------------------------- */

static void job_event(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	struct bdevperf_job *job = ctx;

	if (type != AXON_BDEV_EVENT_REMOVE) {
		return;
	}
	job_error(job, "bdev %s was removed", axon_bdev_get_name(bdev));
	job->failed++;
	if (job->state == JOB_RUNNING) {
		job_stop(job);
	}
}

static bool workload_writes(enum bdevperf_workload wl)
{
	return wl != WL_READ && wl != WL_RANDREAD && wl != WL_FLUSH;
}

static enum axon_bdev_io_type workload_needs(enum bdevperf_workload wl)
{
	switch (wl) {
	case WL_UNMAP:
		return AXON_BDEV_IO_TYPE_UNMAP;
	case WL_FLUSH:
		return AXON_BDEV_IO_TYPE_FLUSH;
	case WL_WRITE_ZEROES:
		return AXON_BDEV_IO_TYPE_WRITE_ZEROES;
	default:
		return AXON_BDEV_IO_TYPE_READ;
	}
}

static int job_check_bdev(struct bdevperf_job *job, struct axon_bdev *bdev)
{
	const struct bdevperf_config *cfg = job->cfg;
	enum axon_bdev_io_type need = workload_needs(cfg->workload);

	job->block_size = axon_bdev_get_block_size(bdev);
	if (cfg->io_size % job->block_size != 0) {
		job_error(job, "I/O size %llu is not a multiple of the block size %u",
			  (unsigned long long)cfg->io_size, job->block_size);
		return -EINVAL;
	}
	job->io_blocks = cfg->io_size / job->block_size;
	if (job->range_blocks < job->io_blocks) {
		job_error(job, "the bdev (%llu blocks, %llu for this job) is smaller than one "
			  "I/O of %llu blocks", (unsigned long long)axon_bdev_get_num_blocks(bdev),
			  (unsigned long long)job->range_blocks,
			  (unsigned long long)job->io_blocks);
		return -EINVAL;
	}
	if (cfg->workload == WL_VERIFY && job->range_blocks / job->io_blocks < cfg->queue_depth) {
		job_error(job, "verify needs at least queue depth (%u) I/Os of room; the job's "
			  "share of the bdev holds %llu", cfg->queue_depth,
			  (unsigned long long)(job->range_blocks / job->io_blocks));
		return -EINVAL;
	}
	if (!axon_bdev_io_type_supported(bdev, need)) {
		job_error(job, "the bdev does not support %s", axon_bdev_io_type_name(need));
		return -ENOTSUP;
	}
	if (axon_bdev_get_md_size(bdev) != 0 && !axon_bdev_is_md_interleaved(bdev) &&
	    cfg->workload == WL_VERIFY) {
		fprintf(stderr, "bdevperf: job %s: separate metadata is not written or checked\n",
			job->name);
	}
	return 0;
}

static int job_alloc(struct bdevperf_job *job, struct axon_bdev *bdev)
{
	const struct bdevperf_config *cfg = job->cfg;
	size_t align = axon_bdev_get_buf_align(bdev), per_task;
	uint8_t *p;

	if (align < TASK_BUF_ALIGN) {
		align = TASK_BUF_ALIGN;
	}
	per_task = AXON_ALIGN_UP((size_t)cfg->io_size, align);
	job->tasks = calloc(cfg->queue_depth, sizeof(*job->tasks));
	job->buf_area = axon_dma_zmalloc(per_task * cfg->queue_depth *
					 (cfg->workload == WL_VERIFY ? 2u : 1u), align,
					 AXON_ENV_SOCKET_ID_ANY);
	if (cfg->workload == WL_VERIFY) {
		job->slot_map = calloc(AXON_DIV_ROUND_UP(job->range_blocks / job->io_blocks, 64u),
				       sizeof(uint64_t));
	}
	if (job->tasks == NULL || job->buf_area == NULL ||
	    (cfg->workload == WL_VERIFY && job->slot_map == NULL)) {
		job_error(job, "out of memory for %u buffers of %llu bytes", cfg->queue_depth,
			  (unsigned long long)cfg->io_size);
		return -ENOMEM;
	}
	p = job->buf_area;
	for (uint32_t i = 0; i < cfg->queue_depth; i++) {
		struct bdevperf_task *t = &job->tasks[i];

		t->job = job;
		t->buf = p;
		p += per_task;
		if (cfg->workload == WL_VERIFY) {
			t->verify_buf = p;
			p += per_task;
		}
		/* Recognisable non-zero data for plain writes. */
		memset(t->buf, 0xa5, cfg->io_size);
	}
	return 0;
}

void bdevperf_job_start(void *ctx)
{
	struct bdevperf_job *job = ctx;
	const struct bdevperf_config *cfg = job->cfg;
	struct axon_bdev *bdev;
	int rc;

	rc = axon_bdev_open_ext(job->name, workload_writes(cfg->workload), job_event, job,
				&job->desc);
	if (rc != 0) {
		job_error(job, "cannot open the bdev%s: %s",
			  workload_writes(cfg->workload) ? " for writing" : "", strerror(-rc));
		goto fail;
	}
	bdev = axon_bdev_desc_get_bdev(job->desc);
	rc = job_check_bdev(job, bdev);
	if (rc != 0) {
		goto fail;
	}
	job->ch = axon_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		job_error(job, "no I/O channel to the bdev");
		rc = -ENOMEM;
		goto fail;
	}
	rc = job_alloc(job, bdev);
	if (rc != 0) {
		goto fail;
	}
	/* A null bdev discards writes and reads zeroes: verify then checks that
	 * every I/O completes, not the data. */
	job->check_data = cfg->workload == WL_VERIFY &&
			  strcmp(axon_bdev_get_module_name(bdev), "null") != 0;
	job->rng = mix64(cfg->seed ^ ((uint64_t)job->core << 32) ^ job->range_start) | 1u;
	job->state = JOB_READY;
	job->start_rc = 0;
	axon_thread_send_msg(axon_thread_get_app_thread(), bdevperf_job_started, job);
	return;

fail:
	job->start_rc = rc;
	job->state = JOB_DONE;
	job_release(job);
	axon_thread_send_msg(axon_thread_get_app_thread(), bdevperf_job_started, job);
}

void bdevperf_job_go(void *ctx)
{
	struct bdevperf_job *job = ctx;
	const struct bdevperf_config *cfg = job->cfg;

	job->start_tsc = axon_get_ticks();
	job->state = JOB_RUNNING;
	if (job->first_error[0] != '\0') {
		/* Removed while waiting for the go. */
		job_stop(job);
		return;
	}
	job->timer = axon_poller_register_named(job_timer, job, (uint64_t)cfg->run_time_s * 1000000u,
						"bdevperf_timer");
	if (job->timer == NULL) {
		job_error(job, "cannot register the run timer");
		job->failed++;
		job_stop(job);
		return;
	}
	job->in_flight = cfg->queue_depth;
	for (uint32_t i = 0; i < cfg->queue_depth; i++) {
		task_next(&job->tasks[i]);
	}
}

void bdevperf_job_abandon(void *ctx)
{
	struct bdevperf_job *job = ctx;

	job->start_tsc = job->end_tsc = axon_get_ticks();
	job->state = JOB_DONE;
	job_release(job);
	axon_thread_send_msg(axon_thread_get_app_thread(), bdevperf_job_finished, job);
}
