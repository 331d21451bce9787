/*
 * The per-channel Linux AIO engine: request free list, batched io_submit,
 * completions reaped from the kernel's ring without a system call.
 *
 * The completion ring. io_setup() maps a ring into our address space and
 * returns its address as the io_context_t. Its layout is kernel ABI (fs/aio.c,
 * unchanged since 2.6.x), which we rely on only after checking it:
 *
 *   offset  0  u32 id                  kernel's index of the context
 *           4  u32 nr                  number of io_event slots
 *           8  u32 head                next slot to consume (written by the consumer)
 *          12  u32 tail                next slot the kernel fills
 *          16  u32 magic               0xa10a10a1
 *          20  u32 compat_features     1
 *          24  u32 incompat_features   0 (anything else: a layout we do not know)
 *          28  u32 header_length       32 (= offset of the events)
 *          32  struct io_event[nr]     {u64 data, u64 obj, s64 res, s64 res2}
 *
 * The kernel writes an event, then (smp_wmb) publishes tail; we load tail
 * with acquire, so the events before it are visible. We copy the events out,
 * then store head with release, so the copies are done before the kernel may
 * reuse those slots (it learns of freed slots by reading head when it runs
 * out of request slots). We are the ring's only consumer: io_getevents is not
 * called on a context whose ring we read. With another magic or incompat
 * value we fall back to io_getevents with a zero timeout.
 *
 * The eventfd. Every iocb carries IOCB_FLAG_RESFD, so the kernel bumps the
 * eventfd after publishing each completion. The eventfd is a wake fd of the
 * thread: while it is readable the reactor cannot sleep, so once a poll finds
 * the ring empty we drain it, then look at the ring once more: a completion
 * published before the drain is seen by that second look; one published after
 * it makes the eventfd readable again and wakes the reactor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "axon/log.h"
#include "axon/thread.h"
#include "axon/util.h"
#include "bdev_aio_internal.h"

#define AIO_RING_MAGIC 0xa10a10a1u
#define AIO_RING_INCOMPAT_FEATURES 0u
/* Completions processed per poll; the rest wait for the next one. */
#define AIO_QUEUE_REAP_BUDGET 64
/* io_submit calls per poll when the kernel keeps taking only part of a batch
 * (each call either takes at least one iocb or rejects the first). */
#define AIO_QUEUE_SUBMIT_BUDGET 8

struct aio_ring_hdr {
	uint32_t id;
	uint32_t nr;
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
	struct io_event events[];
};
AXON_STATIC_ASSERT(sizeof(struct aio_ring_hdr) == 32, "aio ring header is 32 bytes");
AXON_STATIC_ASSERT(sizeof(struct io_event) == 32, "io_event is 32 bytes");

/* Test hooks: the system calls, so that a test can count them or inject
 * -EAGAIN around the real ones; and a switch to refuse the ring. */
static int (*g_aio_submit_fn)(io_context_t, long, struct iocb **) = io_submit;
static bool g_aio_ring_disabled;

static struct aio_ring_hdr *ring_check(io_context_t ctx)
{
	struct aio_ring_hdr *ring = (struct aio_ring_hdr *)ctx;

	if (g_aio_ring_disabled || ring == NULL || ring->magic != AIO_RING_MAGIC ||
	    ring->incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    ring->header_length != sizeof(*ring) || ring->nr == 0) {
		return NULL;
	}
	return ring;
}

int aio_queue_init(struct aio_queue *q, uint32_t depth, aio_queue_cpl_fn cpl)
{
	int rc;

	memset(q, 0, sizeof(*q));
	if (depth == 0 || depth > 65536 || cpl == NULL) {
		return -EINVAL;
	}
	q->depth = depth;
	q->cpl = cpl;
	q->reqs = calloc(depth, sizeof(*q->reqs));
	q->free = calloc(depth, sizeof(*q->free));
	q->pending = calloc(depth, sizeof(*q->pending));
	if (q->reqs == NULL || q->free == NULL || q->pending == NULL) {
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
	rc = io_setup((int)depth, &q->ctx);
	if (rc != 0) {
		AXON_ERRLOG("io_setup(%u): %s (see /proc/sys/fs/aio-max-nr)", depth,
			    strerror(-rc));
		goto err_efd;
	}
	q->ring = ring_check(q->ctx);
	return 0;

err_efd:
	close(q->efd);
err_free:
	free(q->pending);
	free(q->free);
	free(q->reqs);
	memset(q, 0, sizeof(*q));
	return rc;
}

void aio_queue_fini(struct aio_queue *q)
{
	if (q->reqs == NULL) {
		return;
	}
	if (aio_queue_outstanding(q) != 0) {
		AXON_ERRLOG("aio queue torn down with %u request(s) outstanding",
			    aio_queue_outstanding(q));
	}
	io_destroy(q->ctx);
	close(q->efd);
	free(q->pending);
	free(q->free);
	free(q->reqs);
	memset(q, 0, sizeof(*q));
}

static struct aio_req *queue_get_req(struct aio_queue *q)
{
	if (q->free_cnt == 0) {
		return NULL;
	}
	return q->free[--q->free_cnt];
}

static void queue_push(struct aio_queue *q, struct aio_req *req, void *cb_arg, uint64_t nbytes)
{
	io_set_eventfd(&req->iocb, q->efd);
	req->cb_arg = cb_arg;
	req->nbytes = nbytes;
	q->pending[q->pending_cnt++] = &req->iocb;
}

int aio_queue_rw(struct aio_queue *q, int fd, bool write, struct iovec *iov, int iovcnt,
		 uint64_t offset, uint64_t nbytes, void *cb_arg)
{
	struct aio_req *req = queue_get_req(q);

	if (req == NULL) {
		return -ENOMEM;
	}
	/* One buffer: the plain opcodes spare the kernel an iovec import. */
	if (iovcnt == 1) {
		if (write) {
			io_prep_pwrite(&req->iocb, fd, iov[0].iov_base, iov[0].iov_len,
				       (long long)offset);
		} else {
			io_prep_pread(&req->iocb, fd, iov[0].iov_base, iov[0].iov_len,
				      (long long)offset);
		}
	} else if (write) {
		io_prep_pwritev(&req->iocb, fd, iov, iovcnt, (long long)offset);
	} else {
		io_prep_preadv(&req->iocb, fd, iov, iovcnt, (long long)offset);
	}
	queue_push(q, req, cb_arg, nbytes);
	return 0;
}

int aio_queue_fdsync(struct aio_queue *q, int fd, void *cb_arg)
{
	struct aio_req *req = queue_get_req(q);

	if (req == NULL) {
		return -ENOMEM;
	}
	io_prep_fdsync(&req->iocb, fd);
	queue_push(q, req, cb_arg, 0);
	return 0;
}

/* Give req back and tell its owner (the owner may queue more meanwhile). */
static void queue_complete(struct aio_queue *q, struct aio_req *req, int rc)
{
	void *cb_arg = req->cb_arg;

	q->free[q->free_cnt++] = req;
	q->cpl(cb_arg, rc);
}

/* Returns how many iocbs left the pending list. */
static uint32_t queue_submit(struct aio_queue *q)
{
	uint32_t done = 0, calls = 0, failed = 0;
	struct aio_req *failures[AIO_QUEUE_SUBMIT_BUDGET];
	int failure_rc[AIO_QUEUE_SUBMIT_BUDGET];
	int rc;

	while (done < q->pending_cnt && calls++ < AIO_QUEUE_SUBMIT_BUDGET) {
		q->stats.submit_calls++;
		rc = g_aio_submit_fn(q->ctx, (long)(q->pending_cnt - done), q->pending + done);
		if (rc > 0) {
			done += (uint32_t)rc;
			q->inflight += (uint32_t)rc;
			q->stats.submitted += (uint64_t)rc;
			continue;
		}
		if (rc == -EAGAIN || rc == 0) {
			/* The kernel is out of resources: retry at the next poll. */
			q->stats.eagain++;
			break;
		}
		/* io_submit reports the error of the first iocb it rejected. */
		failures[failed] = AXON_CONTAINEROF(q->pending[done], struct aio_req, iocb);
		failure_rc[failed++] = rc;
		done++;
	}
	q->pending_cnt -= done;
	memmove(q->pending, q->pending + done, q->pending_cnt * sizeof(*q->pending));
	/* Completions last: their callbacks may queue new iocbs. */
	for (uint32_t i = 0; i < failed; i++) {
		queue_complete(q, failures[i], failure_rc[i]);
	}
	return done;
}

static int event_result(const struct aio_req *req, const struct io_event *ev)
{
	long long res = (long long)ev->res;

	if (res < 0) {
		return (int)res;
	}
	/* A short transfer means the file ended or filled up under us. */
	return (uint64_t)res == req->nbytes ? 0 : -EIO;
}

/* Copy up to max events out of the ring; returns how many. */
static int ring_take(struct aio_ring_hdr *ring, struct io_event *events, int max)
{
	uint32_t head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	/* Acquire: pairs with the kernel's write barrier before it stores tail. */
	uint32_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	uint32_t nr = ring->nr;
	int n = 0;

	if (head >= nr || tail >= nr) {
		return -EIO;
	}
	while (head != tail && n < max) {
		events[n++] = ring->events[head];
		head = head + 1 == nr ? 0 : head + 1;
	}
	/* Release: our copies are done before the kernel may refill the slots. */
	__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	return n;
}

static int queue_take_events(struct aio_queue *q, struct io_event *events, int max)
{
	struct timespec zero = {0, 0};
	int n;

	if (q->inflight == 0) {
		return 0;
	}
	if (q->ring != NULL) {
		n = ring_take(q->ring, events, max);
		if (n >= 0) {
			return n;
		}
		AXON_ERRLOG("aio ring indices out of range; reaping with io_getevents");
		q->ring = NULL;
	}
	q->stats.getevents_calls++;
	n = io_getevents(q->ctx, 0, max, events, &zero);
	if (n < 0 && n != -EINTR) {
		AXON_ERRLOG("io_getevents: %s", strerror(-n));
	}
	return n < 0 ? 0 : n;
}

static int queue_reap(struct aio_queue *q)
{
	struct io_event events[AIO_QUEUE_REAP_BUDGET];
	int n = queue_take_events(q, events, AIO_QUEUE_REAP_BUDGET);

	for (int i = 0; i < n; i++) {
		struct aio_req *req = AXON_CONTAINEROF(events[i].obj, struct aio_req, iocb);

		q->inflight--;
		queue_complete(q, req, event_result(req, &events[i]));
	}
	if (n > 0) {
		q->stats.reaped += (uint64_t)n;
		q->efd_dirty = true;
	}
	return n;
}

static void queue_drain_efd(struct aio_queue *q)
{
	uint64_t count;

	q->efd_dirty = false;
	q->stats.efd_drains++;
	if (read(q->efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		AXON_ERRLOG("aio eventfd read: %s", strerror(errno));
	}
}

int aio_queue_poll(struct aio_queue *q)
{
	uint32_t work = 0;

	if (q->pending_cnt != 0) {
		work += queue_submit(q);
	}
	work += (uint32_t)queue_reap(q);
	if (work == 0 && q->efd_dirty) {
		queue_drain_efd(q);
		work += (uint32_t)queue_reap(q);
	}
	/* Unsubmitted iocbs (after -EAGAIN) have no eventfd to wake us. */
	return work != 0 || q->pending_cnt != 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}
