/*
 * The error bdev: a pass-through bdev, "EE_<base>", over a claimed base bdev,
 * that fails, holds, or corrupts chosen I/O on request. It drives the
 * reliability tests (a mirror leg gone bad, bdevperf seeing failures).
 * Private to drivers/bdev/error (its RPC file and unit tests use it).
 */
#ifndef AXON_VBDEV_ERROR_H
#define AXON_VBDEV_ERROR_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/bdev_module.h"

/** What an injection does to the I/O it hits. */
enum vbdev_error_type {
	/** Complete it as failed (or with the chosen NVMe status). */
	VBDEV_ERROR_FAILURE = 1,
	/** Hold it: it completes only when the injection is cleared (then it
	 *  runs normally) or the error bdev is deleted (then it is aborted). */
	VBDEV_ERROR_PENDING,
	/** XOR corrupt_value into the byte at corrupt_offset (modulo the I/O's
	 *  length) of the data: before a write reaches the base (the caller's
	 *  buffer is restored on completion), after a read returns from it. */
	VBDEV_ERROR_CORRUPT_DATA,
	/** Complete it with NOMEM: the layer queues and resubmits it. */
	VBDEV_ERROR_NOMEM,
};

/** A bdev_error_inject_error request. */
struct vbdev_error_inject_opts {
	/** Bit (1 << enum axon_bdev_io_type) per type hit; 0 clears every
	 *  injection (io_type "clear"). */
	uint32_t io_type_mask;
	enum vbdev_error_type error_type;
	/** How many I/Os to hit; 0 turns the injection off. */
	uint32_t num;
	/** Hit only while at least this many I/Os are outstanding on the
	 *  channel, the one being submitted included (0 or 1: always). */
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
	/** FAILURE with an NVMe status (sct, sc) instead of a generic failure. */
	bool nvme_status;
	uint8_t sct;
	uint8_t sc;
};

/**
 * The io_type mask for an RPC io_type name: "read", "write", "unmap",
 * "flush", "write_zeroes", "all" (every type), "clear" (0). Returns 0 or
 * -EINVAL for another name.
 */
int vbdev_error_parse_io_type(const char *name, uint32_t *mask);
/** The error type for "failure", "pending", "corrupt_data", "nomem"; 0 or -EINVAL. */
int vbdev_error_parse_error_type(const char *name, enum vbdev_error_type *type);

/**
 * Create and register "EE_<base_name>" over the bdev base_name, claiming it.
 * uuid may be NULL (generated). App thread. Returns 0 and sets *bdev (may be
 * NULL), or: -ENODEV (no base), -EPERM (the base is claimed or open for
 * writing), -EEXIST (name or uuid taken), -EINVAL (name too long), -ENOMEM.
 */
int vbdev_error_create(const char *base_name, const struct axon_uuid *uuid,
		       struct axon_bdev **bdev);

/**
 * Inject per opts into the error bdev name. Returns 0, -ENODEV (no bdev of
 * that name) or -EINVAL (not an error bdev, or opts inconsistent). App thread.
 */
int vbdev_error_inject(const char *name, const struct vbdev_error_inject_opts *opts);

/**
 * Abort the I/O held by PENDING injections, then unregister the error bdev
 * name; cb as for axon_bdev_unregister. Returns 0, or -ENODEV / -EINVAL (not
 * an error bdev) and cb never runs. App thread.
 */
int vbdev_error_delete(const char *name, axon_bdev_unregister_cb cb, void *cb_arg);

extern struct axon_bdev_module g_error_module;

#endif /* AXON_VBDEV_ERROR_H */
