/*
 * The null bdev: discards writes, reads back zeroes. Private to
 * drivers/bdev/null (the RPC file and unit tests use it).
 */
#ifndef AXON_BDEV_NULL_H
#define AXON_BDEV_NULL_H

#include <stdint.h>

#include "axon/bdev_module.h"

struct null_opts {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;   /* a multiple of 512, up to 131072 */
	struct axon_uuid uuid; /* null: generated */
	uint32_t md_size;      /* separate metadata bytes per block (not stored) */
};

/* Why block_size is wrong (the text after "expected"), or NULL. */
const char *null_check_block_size(uint32_t block_size);

/* Create and register. Returns 0 and sets *bdev, or a negative errno with
 * *param and *why naming the culprit (as malloc_disk_create). */
int null_disk_create(const struct null_opts *opts, struct axon_bdev **bdev, const char **param,
		     const char **why);

/* Change the size to new_size_mib MiB. Returns 0; -EINVAL (not a whole number
 * of blocks, or 0); -EBUSY (shrinking while open). */
int null_disk_resize(struct axon_bdev *bdev, uint64_t new_size_mib);

extern struct axon_bdev_module g_null_module;

#endif /* AXON_BDEV_NULL_H */
