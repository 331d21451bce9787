/*
 * Tests of the io_uring engine (drivers/bdev/uring/bdev_uring_queue.c) on
 * real files in /tmp: data round trips, batching into one io_uring_submit,
 * queue-full and submit-retry handling, short reads, fsync, and the eventfd.
 * Included by bdev_uring_ut.c, which already included the sources under test.
 */
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#define QUT_FILE_SIZE (4u << 20)
#define QUT_BLOCK 4096u
#define QUT_MAX_IOS 64

struct qut_ctx {
	int done;
	int rc[QUT_MAX_IOS];
};

static struct qut_ctx g_qut;

static void qut_cpl(void *cb_arg, int rc)
{
	g_qut.rc[(uintptr_t)cb_arg] = rc;
	g_qut.done++;
}

static const char *qut_make_file(uint64_t size)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/axon_uring_ut.XXXXXX");
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

static bool qut_wait(struct uring_queue *q, int n)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (g_qut.done < n) {
		uring_queue_poll(q);
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
	struct uring_queue q;
};

static bool qut_setup(struct qut_env *e, uint32_t depth)
{
	char err[BDEV_FILE_ERR_LEN];

	memset(&g_qut, 0, sizeof(g_qut));
	e->path = qut_make_file(QUT_FILE_SIZE);
	if (e->path == NULL ||
	    bdev_file_open(e->path, false, 0, false, &e->file, err, sizeof(err)) != 0) {
		return false;
	}
	return uring_queue_init(&e->q, depth, e->file.fd, qut_cpl) == 0;
}

static void qut_teardown(struct qut_env *e)
{
	uring_queue_fini(&e->q);
	bdev_file_close(&e->file);
	unlink(e->path);
	g_uring_submit_fn = io_uring_submit;
}

static void test_queue_rw(void)
{
	struct iovec iov[QUT_MAX_IOS];
	void *wbuf[16], *rbuf[16];
	struct qut_env e;

	CU_ASSERT_FATAL(qut_setup(&e, 32));
	CU_ASSERT(e.file.direct);
	CU_ASSERT(e.q.fixed_file);
	for (int i = 0; i < 16; i++) {
		wbuf[i] = qut_buf(QUT_BLOCK, 0x20 + i);
		rbuf[i] = qut_buf(QUT_BLOCK, 0);
		iov[i] = (struct iovec){wbuf[i], QUT_BLOCK};
		CU_ASSERT(uring_queue_rw(&e.q, true, &iov[i], 1, (uint64_t)i * 5 * QUT_BLOCK,
					 QUT_BLOCK, (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(qut_wait(&e.q, 16));
	g_qut.done = 0;
	for (int i = 0; i < 16; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
		iov[i] = (struct iovec){rbuf[i], QUT_BLOCK};
		CU_ASSERT(uring_queue_rw(&e.q, false, &iov[i], 1, (uint64_t)i * 5 * QUT_BLOCK,
					 QUT_BLOCK, (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(qut_wait(&e.q, 16));
	for (int i = 0; i < 16; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
		CU_ASSERT(memcmp(wbuf[i], rbuf[i], QUT_BLOCK) == 0);
		free(wbuf[i]);
		free(rbuf[i]);
	}
	CU_ASSERT(e.q.stats.reaped == 32);
	CU_ASSERT(uring_queue_outstanding(&e.q) == 0);
	qut_teardown(&e);
}

static void test_queue_vectored(void)
{
	struct iovec wiov[2], riov;
	uint8_t *a, *b, *r;
	struct qut_env e;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	a = qut_buf(QUT_BLOCK, 0xaa);
	b = qut_buf(2 * QUT_BLOCK, 0xbb);
	r = qut_buf(3 * QUT_BLOCK, 0);
	wiov[0] = (struct iovec){a, QUT_BLOCK};
	wiov[1] = (struct iovec){b, 2 * QUT_BLOCK};
	CU_ASSERT(uring_queue_rw(&e.q, true, wiov, 2, 8192, 3 * QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1) && g_qut.rc[0] == 0);
	riov = (struct iovec){r, 3 * QUT_BLOCK};
	CU_ASSERT(uring_queue_rw(&e.q, false, &riov, 1, 8192, 3 * QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 2) && g_qut.rc[0] == 0);
	CU_ASSERT(memcmp(r, a, QUT_BLOCK) == 0);
	CU_ASSERT(memcmp(r + QUT_BLOCK, b, 2 * QUT_BLOCK) == 0);
	free(a);
	free(b);
	free(r);
	qut_teardown(&e);
}

static void test_queue_batching(void)
{
	struct qut_env e;
	struct iovec iov;
	void *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 64));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	for (int i = 0; i < 48; i++) {
		CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, (uint64_t)i * QUT_BLOCK,
					 QUT_BLOCK, (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(e.q.stats.submit_calls == 0);
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.stats.submit_calls == 1);
	CU_ASSERT(e.q.stats.submitted == 48);
	CU_ASSERT(e.q.queued == 0);
	CU_ASSERT(qut_wait(&e.q, 48));
	uring_queue_poll(&e.q);
	CU_ASSERT(e.q.stats.submit_calls == 1);
	free(buf);
	qut_teardown(&e);
}

static void test_queue_full(void)
{
	struct qut_env e;
	struct iovec iov;
	void *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 4));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, 0, QUT_BLOCK,
					 (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, 0, QUT_BLOCK, NULL) == -ENOMEM);
	CU_ASSERT(uring_queue_fsync(&e.q, NULL) == -ENOMEM);
	CU_ASSERT(qut_wait(&e.q, 4));
	CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 5));
	CU_ASSERT(uring_queue_outstanding(&e.q) == 0);
	free(buf);
	qut_teardown(&e);
}

static int g_qut_fail_left;

static int qut_submit_busy(struct io_uring *ring)
{
	if (g_qut_fail_left > 0) {
		g_qut_fail_left--;
		return -EBUSY;
	}
	return io_uring_submit(ring);
}

static void test_queue_submit_retry(void)
{
	struct qut_env e;
	struct iovec iov;
	void *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	g_uring_submit_fn = qut_submit_busy;
	g_qut_fail_left = 2;
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, 0, QUT_BLOCK,
					 (void *)(uintptr_t)i) == 0);
	}
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.queued == 3 && e.q.stats.submit_retry == 1);
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.queued == 3 && e.q.stats.submit_retry == 2);
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(e.q.queued == 0 && e.q.stats.submitted == 3);
	CU_ASSERT(qut_wait(&e.q, 3));
	for (int i = 0; i < 3; i++) {
		CU_ASSERT(g_qut.rc[i] == 0);
	}
	free(buf);
	qut_teardown(&e);
}

static void test_queue_short_read(void)
{
	struct qut_env e;
	struct iovec iov;
	void *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	buf = qut_buf(2 * QUT_BLOCK, 0);
	iov = (struct iovec){buf, 2 * QUT_BLOCK};
	CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, QUT_FILE_SIZE - QUT_BLOCK, 2 * QUT_BLOCK,
				 NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	CU_ASSERT(g_qut.rc[0] == -EIO);
	free(buf);
	qut_teardown(&e);
}

/* A write from an unmapped buffer: the kernel's error comes back as is. */
static void test_queue_io_error(void)
{
	struct qut_env e;
	struct iovec iov;
	uint8_t *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	buf = qut_buf(2 * QUT_BLOCK, 0);
	iov = (struct iovec){(void *)(uintptr_t)4096, QUT_BLOCK};
	CU_ASSERT(uring_queue_rw(&e.q, true, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	CU_ASSERT(g_qut.rc[0] == -EFAULT);
	free(buf);
	qut_teardown(&e);
}

static void test_queue_fsync(void)
{
	struct qut_env e;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	CU_ASSERT(uring_queue_fsync(&e.q, NULL) == 0);
	CU_ASSERT(qut_wait(&e.q, 1));
	CU_ASSERT(g_qut.rc[0] == 0);
	qut_teardown(&e);
}

static void test_queue_eventfd(void)
{
	struct qut_env e;
	struct iovec iov;
	void *buf;

	CU_ASSERT_FATAL(qut_setup(&e, 8));
	buf = qut_buf(QUT_BLOCK, 0);
	iov = (struct iovec){buf, QUT_BLOCK};
	CU_ASSERT(!fd_readable(e.q.efd, 0));
	CU_ASSERT(uring_queue_rw(&e.q, false, &iov, 1, 0, QUT_BLOCK, NULL) == 0);
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	CU_ASSERT(fd_readable(e.q.efd, 2000));
	if (g_qut.done == 0) {
		CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_BUSY);
	}
	CU_ASSERT(g_qut.done == 1);
	CU_ASSERT(fd_readable(e.q.efd, 0));
	CU_ASSERT(uring_queue_poll(&e.q) == AXON_POLLER_IDLE);
	CU_ASSERT(e.q.stats.efd_drains == 1);
	CU_ASSERT(!fd_readable(e.q.efd, 0));
	free(buf);
	qut_teardown(&e);
}

static void qut_add_tests(CU_pSuite s)
{
	CU_add_test(s, "queue_rw", test_queue_rw);
	CU_add_test(s, "queue_vectored", test_queue_vectored);
	CU_add_test(s, "queue_batching", test_queue_batching);
	CU_add_test(s, "queue_full", test_queue_full);
	CU_add_test(s, "queue_submit_retry", test_queue_submit_retry);
	CU_add_test(s, "queue_short_read", test_queue_short_read);
	CU_add_test(s, "queue_io_error", test_queue_io_error);
	CU_add_test(s, "queue_fsync", test_queue_fsync);
	CU_add_test(s, "queue_eventfd", test_queue_eventfd);
}
