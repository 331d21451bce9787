/*
 * Opening a file or block device for a file-backed bdev (aio, uring):
 * O_DIRECT with a buffered fallback, logical block size detection, size,
 * and whether fallocate can unmap. Shared by drivers/bdev/aio and
 * drivers/bdev/uring (which links libaxon_bdev_aio for it).
 *
 * Errors come back as -errno plus a message that names the problem
 * ("filename: /nope: No such file or directory"), ready for an RPC reply.
 */
#ifndef AXON_BDEV_FILE_H
#define AXON_BDEV_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for an error message built by these helpers. */
#define BDEV_FILE_ERR_LEN 512

struct bdev_file {
	int fd;
	/* Opened with O_DIRECT (false: the filesystem refused it). */
	bool direct;
	/* A block device (else a regular file). */
	bool blockdev;
	/* The smallest block size direct I/O accepts here (512 if unknown). */
	uint32_t min_block_size;
	/* The chosen block size (bdev_file_open's block_size, or min_block_size). */
	uint32_t block_size;
	/* Bytes, at open time (bdev_file_get_size for the current size). */
	uint64_t size;
	/* fallocate(PUNCH_HOLE|KEEP_SIZE) works on it (regular writable files). */
	bool punch_hole;
};

/**
 * Open path for a bdev: read-only or read-write, O_DIRECT unless the
 * filesystem refuses it (then buffered, with a notice). block_size 0 picks the
 * detected logical block size; otherwise it must be a power of two from 512 to
 * 65536 and not smaller than the detected one. Probes punch-hole support if
 * probe_punch (and the file is a writable regular file).
 * Returns 0 and fills f; -ENOENT, -EACCES, ... (open), -EINVAL (bad block size,
 * not a file or block device, smaller than one block), each with err set.
 */
int bdev_file_open(const char *path, bool readonly, uint32_t block_size, bool probe_punch,
		   struct bdev_file *f, char *err, size_t err_len);

/** Close what bdev_file_open opened (fd -1 afterwards). */
void bdev_file_close(struct bdev_file *f);

/** Current size in bytes of f (st_size or BLKGETSIZE64). Returns 0 or -errno. */
int bdev_file_get_size(const struct bdev_file *f, uint64_t *size);

#endif /* AXON_BDEV_FILE_H */
