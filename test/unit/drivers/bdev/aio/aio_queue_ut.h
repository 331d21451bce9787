/*
 * Tests of the aio engine (drivers/bdev/aio/bdev_aio_queue.c) and the file
 * helpers (bdev_file.c) on real files in /tmp: batching, the user-space ring
 * and the io_getevents fallback, queue-full and -EAGAIN handling, submission
 * errors, short reads, fdsync, and the eventfd. Included by bdev_aio_ut.c,
 * which already included the sources under test.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define QUT_FILE_SIZE (4u << 20)
#define QUT_BLOCK 4096u
#define QUT_MAX_IOS 64

struct qut_ctx {
	int done;
	int rc[QUT_MAX_IOS];
	int order[QUT_MAX_IOS];
};

static struct qut_ctx g_qut;

static void qut_cpl(void *cb_arg, int rc)
{
	int idx = (int)(uintptr_t)cb_arg;

	g_qut.rc[idx] = rc;
	g_qut.order[g_qut.done++] = idx;
}

/* A scratch file of size bytes in /tmp; returns its path (static). */
static const char *qut_make_file(uint64_t size)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/axon_aio_ut.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		return NULL;
	}
	close(fd);
	return path;
}

static void *qut_buf(size_t len, int pattern)
{
	void *buf = NULL;

	if (posix_memalign(&buf, 4096, len) != 0) {
		return NULL;
	}
	memset(buf, pattern, len);
	return buf;
}

/* Poll q until n completions have arrived (or 5 s passed). */
static bool qut_wait(struct aio_queue *q, int n)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (g_qut.done < n) {
		aio_queue_poll(q);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5) {
			return false;
		}
	}
	return true;
}

static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

struct qut_env {
	const char *path;
	struct bdev_file file;
	struct aio_queue q;
};

static bool qut_setup(struct qut_env *e, uint32_t depth, bool readonly)
{
	char err[BDEV_FILE_ERR_LEN];

	memset(&g_qut, 0, sizeof(g_qut));
	e->path = qut_make_file(QUT_FILE_SIZE);
	if (e->path == NULL ||
	    bdev_file_open(e->path, readonly, 0, true, &e->file, err, sizeof(err)) != 0) {
		return false;
	}
	return aio_queue_init(&e->q, depth, qut_cpl) == 0;
}

static void qut_teardown(struct qut_env *e)
{
	aio_queue_fini(&e->q);
	bdev_file_close(&e->file);
	unlink(e->path);
	g_aio_submit_fn = io_submit;
	g_aio_ring_disabled = false;
}

/* Write n blocks with distinct patterns, read them back, compare. */
static void qut_write_read_verify(struct qut_env *e, int n)
{
	struct iovec iov[QUT_MAX_IOS];
	void *wbuf[QUT_MAX_IOS], *rbuf[QUT_MAX_IOS];

	for (int i = 0; i < n; i++) {
		wbuf[i] = qut_buf(QUT_BLOCK, 0x10 + i);
		rbuf[i] = qut_buf(QUT_BLOCK, 0);
		iov[i] = (struct iovec){wbuf[i], QUT_BLOCK};
		CU_ASSERT(aio_queue_rw(&e->q, e->file.fd, true, &iov[i], 1,
				       (uint64_t)i * 3 * QUT_BLOCK, QUT_BLOCK,
				       (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(qut_wait(&e->q, n));
	for (int i = 0; i < n; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
	}
	g_qut.done = 0;
	for (int i = 0; i < n; i++) {
		iov[i] = (struct iovec){rbuf[i], QUT_BLOCK};
		CU_ASSERT(aio_queue_rw(&e->q, e->file.fd, false, &iov[i], 1,
				       (uint64_t)i * 3 * QUT_BLOCK, QUT_BLOCK,
				       (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(qut_wait(&e->q, n));
	for (int i = 0; i < n; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
		CU_ASSERT(memcmp(wbuf[i], rbuf[i], QUT_BLOCK) == 0);
		free(wbuf[i]);
		free(rbuf[i]);
	}
	CU_ASSERT(aio_queue_outstanding(&e->q) == 0);
}

static void test_queue_rw_ring(void)
{
	struct qut_env e;

	CU_ASSERT_FATAL(qut_setup(&e, 32, false));
	CU_ASSERT(e.file.direct);
	/* The kernel's ring is the layout we know: no io_getevents at all. */
	CU_ASSERT(e.q.ring != NULL);
	qut_write_read_verify(&e, 16);
	CU_ASSERT(e.q.stats.getevents_calls == 0);
	CU_ASSERT(e.q.stats.reaped == 32);
	qut_teardown(&e);
}

static void test_queue_rw_getevents(void)
{
	struct qut_env e;

	g_aio_ring_disabled = true;
	CU_ASSERT_FATAL(qut_setup(&e, 32, false));
	CU_ASSERT(e.q.ring == NULL);
	qut_write_read_verify(&e, 16);
	CU_ASSERT(e.q.stats.getevents_calls > 0);
	qut_teardown(&e);
}

static void test_queue_vectored(void)
{
	struct qut_env e;
	uint8_t *a, *b, *r;
	struct iovec wiov[2], riov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	a = qut_buf(QUT_BLOCK, 0xaa);
	b = qut_buf(2 * QUT_BLOCK, 0xbb);
	r = qut_buf(3 * QUT_BLOCK, 0);
	wiov[0] = (struct iovec){a, QUT_BLOCK};
	wiov[1] = (struct iovec){b, 2 * QUT_BLOCK};
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, true, wiov, 2, 8192, 3 * QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1) && g_qut.rc[0] == 0);
	riov = (struct iovec){r, 3 * QUT_BLOCK};
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &riov, 1, 8192, 3 * QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 2) && g_qut.rc[0] == 0);
	CU_ASSERT(memcmp(r, a, QUT_BLOCK) == 0);
	CU_ASSERT(memcmp(r + QUT_BLOCK, b, 2 * QUT_BLOCK) == 0);
	free(a);
	free(b);
	free(r);
	qut_teardown(&e);
}

/* Many iocbs queued before one poll go down in one io_submit. */
static void test_queue_batching(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 64, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	for (int i = 0; i < 48; i++) {
		CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, (uint64_t)i * QUT_BLOCK,
				       QUT_BLOCK, (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(e.q.stats.submit_calls == 0);
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.stats.submit_calls == 1);
	CU_ASSERT(e.q.stats.submitted == 48);
	CU_ASSERT(e.q.pending_cnt == 0);
	CU_ASSERT(qut_wait(&e.q, 48));
	CU_ASSERT(e.q.stats.submit_calls == 1);
	/* Polls with nothing queued make no io_submit. */
	aio_queue_poll(&e.q);
	CU_ASSERT(e.q.stats.submit_calls == 1);
	free(buf);
	qut_teardown(&e);
}

/* All requests taken: -ENOMEM until one completes. */
static void test_queue_full(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 4, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK,
				       (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK, NULL) == -ENOMEM);
	CU_ASSERT(aio_queue_fdsync(&e.q, e.file.fd, NULL) == -ENOMEM);
	CU_ASSERT(qut_wait(&e.q, 4));
	CU_ASSERT(aio_queue_outstanding(&e.q) == 0);
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 5));
	free(buf);
	qut_teardown(&e);
}

/* Test doubles around the real io_submit. */
static int g_qut_eagain_left;
static int g_qut_submit_max;

static int qut_submit_eagain(io_context_t ctx, long nr, struct iocb **iocbs)
{
	if (g_qut_eagain_left > 0) {
		g_qut_eagain_left--;
		return -EAGAIN;
	}
	return io_submit(ctx, nr, iocbs);
}

/* The kernel takes at most g_qut_submit_max per call. */
static int qut_submit_partial(io_context_t ctx, long nr, struct iocb **iocbs)
{
	return io_submit(ctx, nr < g_qut_submit_max ? nr : g_qut_submit_max, iocbs);
}

static void test_queue_eagain(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	g_aio_submit_fn = qut_submit_eagain;
	g_qut_eagain_left = 2;
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK,
				       (void *)(uintptr_t)i) == 0);
	}
	/* Busy while iocbs wait: the reactor must not sleep on them. */
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.pending_cnt == 3 && e.q.stats.eagain == 1);
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.pending_cnt == 3 && e.q.stats.eagain == 2);
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.pending_cnt == 0 && e.q.stats.submitted == 3);
	CU_ASSERT(qut_wait(&e.q, 3));
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
	}
	free(buf);
	qut_teardown(&e);
}

static void test_queue_partial_submit(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 16, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	g_aio_submit_fn = qut_submit_partial;
	g_qut_submit_max = 4;
	for (int i = 0; i < 10; i++) {
		CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK,
				       (void *)(uintptr_t)i) == 0);
	}
	aio_queue_poll(&e.q);
	/* 4 + 4 + 2, in order, nothing lost or doubled. */
	CU_ASSERT(e.q.stats.submit_calls == 3);
	CU_ASSERT(e.q.stats.submitted == 10);
	CU_ASSERT(e.q.pending_cnt == 0);
	CU_ASSERT(qut_wait(&e.q, 10));
	CU_ASSERT(aio_queue_outstanding(&e.q) == 0);
	free(buf);
	qut_teardown(&e);
}

/* An iocb the kernel rejects fails alone; the rest of the batch goes on. */
static void test_queue_submit_error(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK, (void *)0) == 0);
	CU_ASSERT(aio_queue_rw(&e.q, 1000, false, &iov, 1, 0, QUT_BLOCK, (void *)1) == 0);
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK, (void *)2) == 0);
	CU_ASSERT(qut_wait(&e.q, 3));
	CU_ASSERT(g_qut.rc[0] == 0);
	CU_ASSERT(g_qut.rc[1] == -EBADF);
	CU_ASSERT(g_qut.rc[2] == 0);
	CU_ASSERT(aio_queue_outstanding(&e.q) == 0);
	free(buf);
	qut_teardown(&e);
}

/* Reading past the end returns less than asked: that is an error. */
static void test_queue_short_read(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	buf = qut_buf(2 * QUT_BLOCK, 0);
	iov = (struct iovec){buf, 2 * QUT_BLOCK};
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, QUT_FILE_SIZE - QUT_BLOCK,
			       2 * QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	CU_ASSERT(g_qut.rc[0] == -EIO);
	free(buf);
	qut_teardown(&e);
}

static void test_queue_fdsync(void)
{
	struct qut_env e;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	CU_ASSERT(aio_queue_fdsync(&e.q, e.file.fd, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	/* Linux >= 4.18 runs it; older kernels say -EINVAL (the bdev then
	 * falls back to fdatasync). */
	CU_ASSERT(g_qut.rc[0] == 0 || g_qut.rc[0] == -EINVAL);
	qut_teardown(&e);
}

static void test_queue_readonly(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, true));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, true, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	CU_ASSERT(g_qut.rc[0] == -EBADF);
	free(buf);
	qut_teardown(&e);
}

/* A completion makes the eventfd readable; the idle poll drains it. */
static void test_queue_eventfd(void)
{
	struct qut_env e;
	void *buf;
	struct iovec iov;

	CU_ASSERT_FATAL(qut_setup(&e, 8, false));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	CU_ASSERT(!fd_readable(e.q.efd, 0));
	CU_ASSERT(aio_queue_rw(&e.q, e.file.fd, false, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	/* Like a sleeping reactor: wait on the fd, not by polling. */
	CU_ASSERT(fd_readable(e.q.efd, 2000));
	/* The submitting poll may have reaped it already. */
	if (g_qut.done == 0) {
		CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_BUSY);
	}
	CU_ASSERT(g_qut.done == 1);
	CU_ASSERT(e.q.stats.efd_drains == 0);
	/* Still readable until an idle poll drains it... */
	CU_ASSERT(fd_readable(e.q.efd, 0));
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_IDLE);
	CU_ASSERT(e.q.stats.efd_drains == 1);
	/* ...after which the reactor may sleep. */
	CU_ASSERT(!fd_readable(e.q.efd, 0));
	CU_ASSERT(aio_queue_poll(&e.q) == AXON_POLLER_IDLE);
	CU_ASSERT(e.q.stats.efd_drains == 1);
	free(buf);
	qut_teardown(&e);
}

static void test_file_open_errors(void)
{
	char err[BDEV_FILE_ERR_LEN];
	struct bdev_file f;
	const char *path;

	CU_ASSERT(bdev_file_open("/nope", false, 0, false, &f, err, sizeof(err)) == -ENOENT);
	CU_ASSERT(strcmp(err, "filename: /nope: No such file or directory") == 0);
	CU_ASSERT(bdev_file_open("/tmp", false, 0, false, &f, err, sizeof(err)) != 0);
	CU_ASSERT(strstr(err, "filename: /tmp") == err);

	path = qut_make_file(QUT_FILE_SIZE);
	CU_ASSERT_FATAL(path != NULL);
	CU_ASSERT(bdev_file_open(path, false, 1000, false, &f, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "block_size: expected a power of two") == err);
	CU_ASSERT(bdev_file_open(path, false, 256, false, &f, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(bdev_file_open(path, false, 4096, false, &f, err, sizeof(err)) == 0);
	CU_ASSERT(f.block_size == 4096 && f.size == QUT_FILE_SIZE && !f.blockdev);
	CU_ASSERT(f.min_block_size >= 512 && f.min_block_size <= 4096);
	bdev_file_close(&f);
	CU_ASSERT(f.fd == -1);
	CU_ASSERT(bdev_file_open(path, false, 0, true, &f, err, sizeof(err)) == 0);
	CU_ASSERT(f.block_size == f.min_block_size);
	/* /tmp here is ext4, which punches holes. */
	CU_ASSERT(f.punch_hole);
	bdev_file_close(&f);
	/* Smaller than one block. */
	CU_ASSERT(truncate(path, 100) == 0);
	CU_ASSERT(bdev_file_open(path, false, 0, false, &f, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "smaller than one block") != NULL);
	unlink(path);
}

static void qut_add_tests(CU_pSuite s)
{
	CU_add_test(s, "queue_rw_ring", test_queue_rw_ring);
	CU_add_test(s, "queue_rw_getevents", test_queue_rw_getevents);
	CU_add_test(s, "queue_vectored", test_queue_vectored);
	CU_add_test(s, "queue_batching", test_queue_batching);
	CU_add_test(s, "queue_full", test_queue_full);
	CU_add_test(s, "queue_eagain", test_queue_eagain);
	CU_add_test(s, "queue_partial_submit", test_queue_partial_submit);
	CU_add_test(s, "queue_submit_error", test_queue_submit_error);
	CU_add_test(s, "queue_short_read", test_queue_short_read);
	CU_add_test(s, "queue_fdsync", test_queue_fdsync);
	CU_add_test(s, "queue_readonly", test_queue_readonly);
	CU_add_test(s, "queue_eventfd", test_queue_eventfd);
	CU_add_test(s, "file_open_errors", test_file_open_errors);
}
