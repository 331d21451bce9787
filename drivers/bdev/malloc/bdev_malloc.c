/*
 * Malloc bdev: a RAM disk in DMA-safe memory. Every I/O is a memcpy done
 * inside submit_request (the layer defers the user's callback).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/env.h"
#include "axon/log.h"
#include "bdev_malloc.h"

#define MALLOC_MIN_BLOCK_SIZE 512u
#define MALLOC_MAX_BLOCK_SIZE 4096u
/* Data is allocated aligned to this, so any block is aligned to its size. */
#define MALLOC_BUF_ALIGN 4096u

struct malloc_disk {
	struct axon_bdev bdev;
	uint8_t *data;
	uint8_t *md;     /* separate metadata, md_len bytes per block, or NULL */
};

static uint32_t g_malloc_next_index;

/* The module's channels carry nothing: every copy is synchronous. */
static char g_malloc_io_device;

const char *malloc_check_block_size(uint32_t block_size)
{
	if (block_size < MALLOC_MIN_BLOCK_SIZE || block_size > MALLOC_MAX_BLOCK_SIZE ||
	    !axon_is_pow2(block_size)) {
		return "a power of two between 512 and 4096";
	}
	return NULL;
}

const char *malloc_check_md_size(uint32_t md_size)
{
	switch (md_size) {
	case 0:
	case 8:
	case 16:
	case 32:
	case 64:
	case 128:
		return NULL;
	default:
		return "one of 0, 8, 16, 32, 64, 128";
	}
}

/* ---- data movement ---------------------------------------------------------- */

static void copy_to_iovs(const struct iovec *iov, int iovcnt, const uint8_t *src, uint64_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		uint64_t n = AXON_MIN((uint64_t)iov[i].iov_len, len);

		memcpy(iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

static void copy_from_iovs(uint8_t *dst, const struct iovec *iov, int iovcnt, uint64_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		uint64_t n = AXON_MIN((uint64_t)iov[i].iov_len, len);

		memcpy(dst, iov[i].iov_base, n);
		dst += n;
		len -= n;
	}
}

static void malloc_do_read(struct malloc_disk *d, struct axon_bdev_io *io)
{
	uint64_t off = io->u.bdev.offset_blocks * d->bdev.blocklen;
	uint64_t len = io->u.bdev.num_blocks * d->bdev.blocklen;

	copy_to_iovs(io->u.bdev.iovs, io->u.bdev.iovcnt, d->data + off, len);
	if (d->md != NULL && io->u.bdev.md_buf != NULL) {
		memcpy(io->u.bdev.md_buf, d->md + io->u.bdev.offset_blocks * d->bdev.md_len,
		       io->u.bdev.num_blocks * d->bdev.md_len);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void malloc_read_buf_cb(struct axon_io_channel *ch, struct axon_bdev_io *io, bool success)
{
	(void)ch;
	if (!success) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	malloc_do_read(io->bdev->ctxt, io);
}

static void malloc_do_write(struct malloc_disk *d, struct axon_bdev_io *io)
{
	uint64_t off = io->u.bdev.offset_blocks * d->bdev.blocklen;
	uint64_t len = io->u.bdev.num_blocks * d->bdev.blocklen;

	copy_from_iovs(d->data + off, io->u.bdev.iovs, io->u.bdev.iovcnt, len);
	if (d->md != NULL && io->u.bdev.md_buf != NULL) {
		memcpy(d->md + io->u.bdev.offset_blocks * d->bdev.md_len, io->u.bdev.md_buf,
		       io->u.bdev.num_blocks * d->bdev.md_len);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void malloc_do_zero(struct malloc_disk *d, struct axon_bdev_io *io)
{
	memset(d->data + io->u.bdev.offset_blocks * d->bdev.blocklen, 0,
	       io->u.bdev.num_blocks * d->bdev.blocklen);
	if (d->md != NULL) {
		memset(d->md + io->u.bdev.offset_blocks * d->bdev.md_len, 0,
		       io->u.bdev.num_blocks * d->bdev.md_len);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void malloc_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	struct malloc_disk *d = io->bdev->ctxt;

	(void)ch;
	switch (io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		if (io->u.bdev.iovs[0].iov_base == NULL) {
			axon_bdev_io_get_buf(io, malloc_read_buf_cb,
					     io->u.bdev.num_blocks * d->bdev.blocklen);
			return;
		}
		malloc_do_read(d, io);
		return;
	case AXON_BDEV_IO_TYPE_WRITE:
		malloc_do_write(d, io);
		return;
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		/* Unmapped blocks read back as zeroes, as on a thin device. */
		malloc_do_zero(d, io);
		return;
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static bool malloc_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	(void)ctx;
	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct axon_io_channel *malloc_get_io_channel(void *ctx)
{
	(void)ctx;
	return axon_get_io_channel(&g_malloc_io_device);
}

/* ---- life cycle --------------------------------------------------------------- */

static void malloc_disk_free(struct malloc_disk *d)
{
	axon_dma_free(d->data);
	axon_dma_free(d->md);
	free(d->bdev.name);
	free(d);
}

static int malloc_destruct(void *ctx)
{
	malloc_disk_free(ctx);
	return 0;
}

static void malloc_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	char uuid[AXON_UUID_STRING_LEN];
	json_t *params;

	axon_uuid_fmt_lower(uuid, sizeof(uuid), axon_bdev_get_uuid(bdev));
	params = json_pack("{s:s, s:I, s:I, s:s}", "name", axon_bdev_get_name(bdev),
			   "num_blocks", (json_int_t)bdev->blockcnt,
			   "block_size", (json_int_t)bdev->blocklen, "uuid", uuid);
	if (bdev->optimal_io_boundary != 0) {
		json_object_set_new(params, "optimal_io_boundary",
				    json_integer(bdev->optimal_io_boundary));
	}
	if (bdev->md_len != 0) {
		json_object_set_new(params, "md_size", json_integer(bdev->md_len));
	}
	json_array_append_new(array, json_pack("{s:s, s:o}", "method", "bdev_malloc_create",
					       "params", params));
}

static const struct axon_bdev_fn_table g_malloc_fn_table = {
	.destruct = malloc_destruct,
	.submit_request = malloc_submit_request,
	.io_type_supported = malloc_io_type_supported,
	.get_io_channel = malloc_get_io_channel,
	.write_config_json = malloc_write_config_json,
};

/* The first "MallocN" not taken. */
static char *malloc_default_name(void)
{
	char *name;

	for (;;) {
		name = axon_sprintf_alloc("Malloc%u", g_malloc_next_index++);
		if (name == NULL || axon_bdev_get_by_name(name) == NULL) {
			return name;
		}
		free(name);
	}
}

static int malloc_alloc_memory(struct malloc_disk *d, const struct malloc_opts *opts)
{
	uint64_t size;

	if (opts->num_blocks > UINT64_MAX / opts->block_size) {
		return -EINVAL;
	}
	size = opts->num_blocks * opts->block_size;
	d->data = axon_dma_zmalloc(size, MALLOC_BUF_ALIGN, AXON_ENV_SOCKET_ID_ANY);
	if (d->data == NULL) {
		return -ENOMEM;
	}
	if (opts->md_size != 0) {
		d->md = axon_dma_zmalloc(opts->num_blocks * opts->md_size, 0,
					 AXON_ENV_SOCKET_ID_ANY);
		if (d->md == NULL) {
			return -ENOMEM;
		}
	}
	return 0;
}

int malloc_disk_create(const struct malloc_opts *opts, struct axon_bdev **bdev,
		       const char **param, const char **why)
{
	struct malloc_disk *d;
	int rc;

	*param = NULL;
	*why = NULL;
	if ((*why = malloc_check_block_size(opts->block_size)) != NULL) {
		*param = "block_size";
		return -EINVAL;
	}
	if ((*why = malloc_check_md_size(opts->md_size)) != NULL) {
		*param = "md_size";
		return -EINVAL;
	}
	if (opts->num_blocks == 0) {
		*param = "num_blocks";
		*why = "at least 1 block";
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	d->bdev.name = opts->name != NULL ? strdup(opts->name) : malloc_default_name();
	if (d->bdev.name == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = malloc_alloc_memory(d, opts);
	if (rc != 0) {
		*param = "num_blocks";
		*why = "a size that fits in the DMA memory left";
		goto err;
	}
	d->bdev.ctxt = d;
	d->bdev.product_name = "Malloc disk";
	d->bdev.blocklen = opts->block_size;
	d->bdev.blockcnt = opts->num_blocks;
	d->bdev.optimal_io_boundary = opts->optimal_io_boundary;
	d->bdev.split_on_optimal_io_boundary = opts->optimal_io_boundary != 0;
	d->bdev.md_len = opts->md_size;
	d->bdev.uuid = opts->uuid;
	d->bdev.fn_table = &g_malloc_fn_table;
	d->bdev.module = &g_malloc_module;
	rc = axon_bdev_register(&d->bdev);
	if (rc != 0) {
		*param = rc == -EEXIST ? "name" : NULL;
		*why = rc == -EEXIST ? "a name and uuid no other bdev uses" : NULL;
		goto err;
	}
	*bdev = &d->bdev;
	return 0;
err:
	malloc_disk_free(d);
	return rc;
}

void malloc_disk_delete(struct axon_bdev *bdev, axon_bdev_unregister_cb cb, void *cb_arg)
{
	axon_bdev_unregister(bdev, cb, cb_arg);
}

/* ---- the module -------------------------------------------------------------------- */

static int malloc_channel_create(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
	return 0;
}

static void malloc_channel_destroy(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
}

static int malloc_module_init(void)
{
	axon_io_device_register(&g_malloc_io_device, malloc_channel_create,
				malloc_channel_destroy, 0, "bdev_malloc");
	return 0;
}

static void malloc_module_fini(void)
{
	axon_io_device_unregister(&g_malloc_io_device, NULL);
}

struct axon_bdev_module g_malloc_module = {
	.name = "malloc",
	.module_init = malloc_module_init,
	.module_fini = malloc_module_fini,
};
AXON_BDEV_MODULE_REGISTER(malloc, &g_malloc_module)
