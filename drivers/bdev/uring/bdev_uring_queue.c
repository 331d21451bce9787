/*
 * The per-channel io_uring engine: request free list, SQEs batched into one
 * io_uring_submit per poll, CQEs reaped from the shared ring.
 *
 * Reaping. io_uring_for_each_cqe reads the CQ tail with acquire (pairs with
 * the kernel's release store after it wrote the CQE); we copy the CQEs out,
 * then io_uring_cq_advance stores the head with release, so the kernel reuses
 * the slots only after our copies. No system call. The CQ has twice the SQ's
 * entries and at most depth requests are outstanding, so it cannot overflow.
 *
 * Submission. io_uring_submit makes the io_uring_enter call. When the kernel
 * takes only part of the SQ (or fails with -EAGAIN / -EBUSY), the rest stays
 * in the SQ ring and the next poll submits it again. A bad SQE does not fail
 * the call: it consumes the SQE and posts a CQE with the error.
 *
 * The eventfd. It is registered with the ring, so the kernel bumps it with
 * every CQE. It is a wake fd of the thread: once a poll finds the CQ empty we
 * drain it and look at the CQ once more (a CQE posted before the drain is
 * seen then; one posted after makes the fd readable again and wakes the
 * reactor). The same protocol as the aio engine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "bdev_uring_internal.h"

/* CQEs processed per poll; the rest wait for the next one. */
#define URING_QUEUE_REAP_BUDGET 64

/* Test hook: the submit call, so a test can count calls or inject errors
 * around the real one. */
static int (*g_uring_submit_fn)(struct io_uring *) = io_uring_submit;

struct uring_cpl {
	struct uring_req *req;
	int32_t res;
};

static int queue_register(struct uring_queue *q)
{
	int rc;

	rc = io_uring_register_eventfd(&q->ring, q->efd);
	if (rc != 0) {
		AXON_ERRLOG("io_uring_register_eventfd: %s", strerror(-rc));
		return rc;
	}
	/* Registered files spare the kernel a file table lookup and reference
	 * per I/O; without them (old kernels, RLIMIT_NOFILE) plain fds work. */
	rc = io_uring_register_files(&q->ring, &q->fd, 1);
	q->fixed_file = rc == 0;
	if (rc != 0) {
		AXON_NOTICELOG("io_uring_register_files: %s; using plain fds", strerror(-rc));
	}
	return 0;
}

int uring_queue_init(struct uring_queue *q, uint32_t depth, int fd, uring_queue_cpl_fn cpl)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->efd = -1;
	if (depth == 0 || depth > 4096 || cpl == NULL || fd < 0) {
		return -EINVAL;
	}
	q->depth = depth;
	q->fd = fd;
	q->cpl = cpl;
	q->reqs = calloc(depth, sizeof(*q->reqs));
	q->free = calloc(depth, sizeof(*q->free));
	if (q->reqs == NULL || q->free == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	for (uint32_t i = 0; i < depth; i++) {
		q->free[i] = &q->reqs[depth - 1 - i];
	}
	q->free_cnt = depth;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		rc = -errno;
		AXON_ERRLOG("eventfd: %s", strerror(-rc));
		goto err_free;
	}
	rc = io_uring_queue_init(depth, &q->ring, 0);
	if (rc != 0) {
		AXON_ERRLOG("io_uring_queue_init(%u): %s", depth, strerror(-rc));
		goto err_efd;
	}
	rc = queue_register(q);
	if (rc != 0) {
		goto err_ring;
	}
	return 0;

err_ring:
	io_uring_queue_exit(&q->ring);
err_efd:
	close(q->efd);
err_free:
	free(q->free);
	free(q->reqs);
	memset(q, 0, sizeof(*q));
	return rc;
}

void uring_queue_fini(struct uring_queue *q)
{
	if (q->reqs == NULL) {
		return;
	}
	if (uring_queue_outstanding(q) != 0) {
		AXON_ERRLOG("uring queue torn down with %u request(s) outstanding",
			    uring_queue_outstanding(q));
	}
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	free(q->free);
	free(q->reqs);
	memset(q, 0, sizeof(*q));
}

/* A free request and an SQE for it, or NULL. */
static struct io_uring_sqe *queue_get_sqe(struct uring_queue *q, struct uring_req **reqp)
{
	struct io_uring_sqe *sqe;

	if (q->free_cnt == 0) {
		return NULL;
	}
	/* The SQ has at least depth entries and each filled SQE holds a
	 * request, so this only fails on a broken invariant. */
	sqe = io_uring_get_sqe(&q->ring);
	if (sqe == NULL) {
		return NULL;
	}
	*reqp = q->free[--q->free_cnt];
	return sqe;
}

static void queue_fill(struct uring_queue *q, struct io_uring_sqe *sqe, struct uring_req *req,
		       void *cb_arg, uint64_t nbytes)
{
	if (q->fixed_file) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	req->cb_arg = cb_arg;
	req->nbytes = nbytes;
	io_uring_sqe_set_data(sqe, req);
	q->queued++;
}

int uring_queue_rw(struct uring_queue *q, bool write, struct iovec *iov, int iovcnt,
		   uint64_t offset, uint64_t nbytes, void *cb_arg)
{
	struct uring_req *req;
	struct io_uring_sqe *sqe = queue_get_sqe(q, &req);
	int fd = q->fixed_file ? 0 : q->fd;

	if (sqe == NULL) {
		return -ENOMEM;
	}
	if (iovcnt == 1) {
		if (write) {
			io_uring_prep_write(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					    offset);
		} else {
			io_uring_prep_read(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len,
					   offset);
		}
	} else if (write) {
		io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, offset);
	} else {
		io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, offset);
	}
	queue_fill(q, sqe, req, cb_arg, nbytes);
	return 0;
}

int uring_queue_fsync(struct uring_queue *q, void *cb_arg)
{
	struct uring_req *req;
	struct io_uring_sqe *sqe = queue_get_sqe(q, &req);

	if (sqe == NULL) {
		return -ENOMEM;
	}
	io_uring_prep_fsync(sqe, q->fixed_file ? 0 : q->fd, IORING_FSYNC_DATASYNC);
	queue_fill(q, sqe, req, cb_arg, 0);
	return 0;
}

static uint32_t queue_submit(struct uring_queue *q)
{
	int rc;

	q->stats.submit_calls++;
	rc = g_uring_submit_fn(&q->ring);
	if (rc < 0) {
		/* Nothing was consumed; the SQEs wait for the next poll. */
		q->stats.submit_retry++;
		if (rc != -EAGAIN && rc != -EBUSY && rc != -EINTR && !q->submit_error_logged) {
			AXON_ERRLOG("io_uring_submit: %s", strerror(-rc));
			q->submit_error_logged = true;
		}
		return 0;
	}
	if ((uint32_t)rc > q->queued) {
		rc = (int)q->queued;
	}
	q->queued -= (uint32_t)rc;
	q->inflight += (uint32_t)rc;
	q->stats.submitted += (uint64_t)rc;
	return (uint32_t)rc;
}

static int cpl_result(const struct uring_cpl *c)
{
	if (c->res < 0) {
		return c->res;
	}
	/* A short transfer means the file ended or filled up under us. */
	return (uint64_t)c->res == c->req->nbytes ? 0 : -EIO;
}

static int queue_reap(struct uring_queue *q)
{
	struct uring_cpl cpls[URING_QUEUE_REAP_BUDGET];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	if (q->inflight == 0) {
		return 0;
	}
	io_uring_for_each_cqe(&q->ring, head, cqe) {
		cpls[n].req = io_uring_cqe_get_data(cqe);
		cpls[n].res = cqe->res;
		if (++n == URING_QUEUE_REAP_BUDGET) {
			break;
		}
	}
	if (n == 0) {
		return 0;
	}
	io_uring_cq_advance(&q->ring, n);
	q->inflight -= n;
	q->stats.reaped += n;
	q->efd_dirty = true;
	/* Callbacks last: they may fill new SQEs. */
	for (unsigned i = 0; i < n; i++) {
		void *cb_arg = cpls[i].req->cb_arg;

		q->free[q->free_cnt++] = cpls[i].req;
		q->cpl(cb_arg, cpl_result(&cpls[i]));
	}
	return (int)n;
}

static void queue_drain_efd(struct uring_queue *q)
{
	uint64_t count;

	q->efd_dirty = false;
	q->stats.efd_drains++;
	if (read(q->efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		AXON_ERRLOG("uring eventfd read: %s", strerror(errno));
	}
}

int uring_queue_poll(struct uring_queue *q)
{
	uint32_t work = 0;

	if (q->queued != 0) {
		work += queue_submit(q);
	}
	work += (uint32_t)queue_reap(q);
	if (work == 0 && q->efd_dirty) {
		queue_drain_efd(q);
		work += (uint32_t)queue_reap(q);
	}
	/* Unsubmitted SQEs have no eventfd to wake us. */
	return work != 0 || q->queued != 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}
