/*
 * The malloc bdev: RAM-backed, DMA-safe. Private to drivers/bdev/malloc (the
 * RPC file and unit tests use it).
 */
#ifndef AXON_BDEV_MALLOC_H
#define AXON_BDEV_MALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "axon/bdev_module.h"

struct malloc_opts {
	const char *name;          /* NULL: the next free "MallocN" */
	uint64_t num_blocks;
	uint32_t block_size;       /* a power of two, 512 to 4096 */
	struct axon_uuid uuid;     /* null: generated */
	uint32_t md_size;          /* 0, 8, 16, 32, 64 or 128: separate metadata */
	uint32_t optimal_io_boundary;
};

/* Why block_size / md_size are wrong (the text after "expected"), or NULL. */
const char *malloc_check_block_size(uint32_t block_size);
const char *malloc_check_md_size(uint32_t md_size);

/*
 * Create and register a malloc bdev. Returns 0 and sets *bdev, or a negative
 * errno with *param naming the culprit parameter and *why (static text)
 * saying why: -EINVAL, -EEXIST (name or uuid taken), -ENOMEM.
 */
int malloc_disk_create(const struct malloc_opts *opts, struct axon_bdev **bdev,
		       const char **param, const char **why);

/* Unregister a malloc bdev; cb as for axon_bdev_unregister. */
void malloc_disk_delete(struct axon_bdev *bdev, axon_bdev_unregister_cb cb, void *cb_arg);

extern struct axon_bdev_module g_malloc_module;

#endif /* AXON_BDEV_MALLOC_H */
