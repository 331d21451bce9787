/*
 * drivers/bdev/uring private: the per-channel io_uring engine (uring_queue)
 * and the module's functions called by its RPC file.
 *
 * A uring_queue is one ring with the bdev's file registered at index 0, a
 * fixed array of requests (no allocation per I/O) with a free list, and an
 * eventfd registered with the ring. uring_queue_rw/_fsync only fill SQEs;
 * uring_queue_poll hands everything filled since its last run to the kernel
 * with one io_uring_submit and reaps CQEs straight from the shared CQ ring (no
 * system call). Single-threaded: everything runs on the owning thread.
 */
#ifndef AXON_BDEV_URING_INTERNAL_H
#define AXON_BDEV_URING_INTERNAL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct axon_bdev;

/* Completion of one request: rc is 0, or a negative errno (-EIO for a short
 * transfer). Runs from uring_queue_poll. */
typedef void (*uring_queue_cpl_fn)(void *cb_arg, int rc);

struct uring_req {
	void *cb_arg;
	/* Bytes the kernel must report for success (0 for fsync). */
	uint64_t nbytes;
};

/* Counters for tests and dump_info_json. */
struct uring_queue_stats {
	uint64_t submit_calls;   /* io_uring_submit calls */
	uint64_t submitted;      /* SQEs the kernel consumed */
	uint64_t submit_retry;   /* io_uring_submit failed (-EAGAIN, -EBUSY, ...) */
	uint64_t reaped;         /* CQEs processed */
	uint64_t efd_drains;     /* eventfd reads */
};

struct uring_queue {
	struct io_uring ring;
	int efd;
	/* The file: index 0 of the ring's registered files when fixed_file. */
	int fd;
	bool fixed_file;
	uint32_t depth;
	uring_queue_cpl_fn cpl;

	struct uring_req *reqs;     /* depth of them */
	struct uring_req **free;    /* stack of free requests */
	uint32_t free_cnt;
	uint32_t queued;            /* SQEs filled, not yet consumed by the kernel */
	uint32_t inflight;          /* consumed, CQE not yet reaped */
	/* CQEs were reaped since the eventfd was last drained. */
	bool efd_dirty;
	bool submit_error_logged;

	struct uring_queue_stats stats;
};

/** Set up q: a ring of depth entries (1..4096) over fd. Returns 0, -EINVAL,
 *  -ENOMEM, or the error of io_uring_queue_init / eventfd (logged). */
int uring_queue_init(struct uring_queue *q, uint32_t depth, int fd, uring_queue_cpl_fn cpl);
/** Tear q down. Nothing may be queued or in flight. */
void uring_queue_fini(struct uring_queue *q);

/** Fill an SQE for a read or write of nbytes at offset. Returns 0 (cpl will
 *  run) or -ENOMEM when all depth requests are taken. */
int uring_queue_rw(struct uring_queue *q, bool write, struct iovec *iov, int iovcnt,
		   uint64_t offset, uint64_t nbytes, void *cb_arg);
/** Fill an IORING_OP_FSYNC (data only). Returns 0 or -ENOMEM. */
int uring_queue_fsync(struct uring_queue *q, void *cb_arg);

/** Submit what is filled (one io_uring_submit), reap CQEs (up to a budget),
 *  drain the eventfd when idle. Returns AXON_POLLER_BUSY if anything happened
 *  or is still waiting to be submitted, else AXON_POLLER_IDLE. */
int uring_queue_poll(struct uring_queue *q);

/** Requests filled or in flight. */
static inline uint32_t uring_queue_outstanding(const struct uring_queue *q)
{
	return q->depth - q->free_cnt;
}

/* ---- the module, for bdev_uring_rpc.c ------------------------------------- */

#define BDEV_URING_DEFAULT_QUEUE_DEPTH 128u
#define BDEV_URING_MAX_QUEUE_DEPTH 4096u

struct bdev_uring_opts {
	const char *name;
	const char *filename;
	uint32_t block_size;    /* 0: detect */
	uint32_t queue_depth;   /* per channel; 0: default */
	const char *uuid;       /* NULL: random */
};

/** Create and register a uring bdev. App thread. Returns 0 and sets *bdev,
 *  or a negative errno with err (err_len bytes) naming the problem. */
int bdev_uring_create(const struct bdev_uring_opts *opts, struct axon_bdev **bdev, char *err,
		      size_t err_len);

typedef void (*bdev_uring_delete_cb)(void *cb_arg, int rc);
/** Unregister the uring bdev named name; cb(cb_arg, rc) once it is gone.
 *  Returns 0, -ENODEV (no such bdev) or -EINVAL (not a uring bdev); cb then
 *  never runs. */
int bdev_uring_delete(const char *name, bdev_uring_delete_cb cb, void *cb_arg);

/** Re-read the size of the uring bdev named name and announce a change.
 *  Returns 0; -ENODEV; -EBUSY (shrinking under open descriptors); -errno. */
int bdev_uring_rescan(const char *name, char *err, size_t err_len);

#endif /* AXON_BDEV_URING_INTERNAL_H */
