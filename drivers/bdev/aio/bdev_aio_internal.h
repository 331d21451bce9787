/*
 * drivers/bdev/aio private: the per-channel Linux AIO engine (aio_queue) and
 * the module's functions called by its RPC file.
 *
 * An aio_queue is one io_context with a fixed array of requests (no
 * allocation per I/O), a free list, a list of iocbs queued but not yet
 * submitted, and an eventfd every completion signals. Requests are queued by
 * aio_queue_rw/_fdsync and go to the kernel in one io_submit from
 * aio_queue_poll, which also reaps completions, from the io_context's ring
 * in user space when the kernel's ring layout is the one we know.
 * Single-threaded: everything runs on the owning thread.
 */
#ifndef AXON_BDEV_AIO_INTERNAL_H
#define AXON_BDEV_AIO_INTERNAL_H

#include <libaio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct axon_bdev;

/* Completion of one request: rc is 0, or a negative errno (-EIO for a short
 * transfer). Runs from aio_queue_poll. */
typedef void (*aio_queue_cpl_fn)(void *cb_arg, int rc);

struct aio_req {
	struct iocb iocb;
	void *cb_arg;
	/* Bytes the kernel must report for success (0 for fdsync). */
	uint64_t nbytes;
};

/* Counters for tests and dump_info_json. */
struct aio_queue_stats {
	uint64_t submit_calls;     /* io_submit system calls */
	uint64_t submitted;        /* iocbs the kernel accepted */
	uint64_t eagain;           /* io_submit returned -EAGAIN */
	uint64_t getevents_calls;  /* io_getevents system calls (ring unusable) */
	uint64_t reaped;           /* completions processed */
	uint64_t efd_drains;       /* eventfd reads */
};

struct aio_queue {
	io_context_t ctx;
	/* The kernel's completion ring at ctx, or NULL: reap with io_getevents. */
	struct aio_ring_hdr *ring;
	int efd;
	uint32_t depth;
	aio_queue_cpl_fn cpl;

	struct aio_req *reqs;          /* depth of them */
	struct aio_req **free;         /* stack of free requests */
	uint32_t free_cnt;
	struct iocb **pending;         /* queued, not yet accepted by io_submit */
	uint32_t pending_cnt;
	uint32_t inflight;             /* accepted, not yet reaped */
	/* Completions were reaped since the eventfd was last drained. */
	bool efd_dirty;

	struct aio_queue_stats stats;
};

/** Set up q with room for depth requests in flight (1..65536). Returns 0,
 *  -EINVAL, -ENOMEM, or io_setup's/eventfd's error (logged). */
int aio_queue_init(struct aio_queue *q, uint32_t depth, aio_queue_cpl_fn cpl);
/** Tear q down. Nothing may be queued or in flight. */
void aio_queue_fini(struct aio_queue *q);

/** Queue a read or write of nbytes at offset. Returns 0 (cpl will run) or
 *  -ENOMEM when all depth requests are taken. */
int aio_queue_rw(struct aio_queue *q, int fd, bool write, struct iovec *iov, int iovcnt,
		 uint64_t offset, uint64_t nbytes, void *cb_arg);
/** Queue an IOCB_CMD_FDSYNC. Returns 0 or -ENOMEM. The kernel may reject it
 *  (cpl with -EINVAL on kernels before 4.18). */
int aio_queue_fdsync(struct aio_queue *q, int fd, void *cb_arg);

/** Submit what is queued (one io_submit, retried on a partial submit), reap
 *  completions (up to a budget), drain the eventfd when idle. Returns
 *  AXON_POLLER_BUSY if anything happened or is still waiting to be submitted,
 *  else AXON_POLLER_IDLE. */
int aio_queue_poll(struct aio_queue *q);

/** Requests queued or in flight. */
static inline uint32_t aio_queue_outstanding(const struct aio_queue *q)
{
	return q->depth - q->free_cnt;
}

/* ---- the module, for bdev_aio_rpc.c -------------------------------------- */

#define BDEV_AIO_DEFAULT_QUEUE_DEPTH 128u
#define BDEV_AIO_MAX_QUEUE_DEPTH 4096u

struct bdev_aio_opts {
	const char *name;
	const char *filename;
	uint32_t block_size;    /* 0: detect */
	bool readonly;
	bool fallocate;         /* offer unmap/write_zeroes through fallocate */
	uint32_t queue_depth;   /* per channel; 0: default */
	const char *uuid;       /* NULL: random */
};

/** Create and register an aio bdev. App thread. Returns 0 and sets *bdev, or
 *  a negative errno with err (err_len bytes) naming the problem. */
int bdev_aio_create(const struct bdev_aio_opts *opts, struct axon_bdev **bdev, char *err,
		    size_t err_len);

typedef void (*bdev_aio_delete_cb)(void *cb_arg, int rc);
/** Unregister the aio bdev named name; cb(cb_arg, rc) when it is gone.
 *  Returns 0, -ENODEV (no such bdev) or -EINVAL (not an aio bdev); cb then
 *  never runs. */
int bdev_aio_delete(const char *name, bdev_aio_delete_cb cb, void *cb_arg);

/** Re-read the size of the aio bdev named name and announce a change to its
 *  open descriptors. Returns 0; -ENODEV (no such aio bdev); -EBUSY (shrinking
 *  under open descriptors), -errno from the size query; err says which. */
int bdev_aio_rescan(const char *name, char *err, size_t err_len);

#endif /* AXON_BDEV_AIO_INTERNAL_H */
