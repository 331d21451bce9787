/*
 * Null bdev: writes are dropped, reads return zeroes. It is the layer's pure
 * per-I/O overhead path, so it does nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "bdev_null.h"

#define NULL_MAX_BLOCK_SIZE (128u * 1024u)
/* Reads that come without a buffer get this one (never written: a user
 * must treat a read's layer-supplied buffer as read-only). */
#define NULL_ZERO_BUF_SIZE (128u * 1024u)
static const uint8_t g_null_zero_buf[NULL_ZERO_BUF_SIZE] __attribute__((aligned(4096)));

struct null_disk {
	struct axon_bdev bdev;
};

static char g_null_io_device;

const char *null_check_block_size(uint32_t block_size)
{
	if (block_size == 0 || block_size % 512 != 0 || block_size > NULL_MAX_BLOCK_SIZE) {
		return "a multiple of 512 between 512 and 131072";
	}
	return NULL;
}

static void null_zero_read(struct axon_bdev_io *io)
{
	uint64_t len = io->u.bdev.num_blocks * io->bdev->blocklen;

	for (int i = 0; i < io->u.bdev.iovcnt && len > 0; i++) {
		uint64_t n = AXON_MIN((uint64_t)io->u.bdev.iovs[i].iov_len, len);

		memset(io->u.bdev.iovs[i].iov_base, 0, n);
		len -= n;
	}
	if (io->u.bdev.md_buf != NULL && io->bdev->md_len != 0) {
		memset(io->u.bdev.md_buf, 0, io->u.bdev.num_blocks * io->bdev->md_len);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void null_read_buf_cb(struct axon_io_channel *ch, struct axon_bdev_io *io, bool success)
{
	(void)ch;
	if (!success) {
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	null_zero_read(io);
}

/* A read without a buffer: point it at the shared zeroes, no copy. */
static void null_read_nobuf(struct axon_bdev_io *io)
{
	uint64_t len = io->u.bdev.num_blocks * io->bdev->blocklen;

	if (axon_unlikely(len > NULL_ZERO_BUF_SIZE)) {
		axon_bdev_io_get_buf(io, null_read_buf_cb, len);
		return;
	}
	io->u.bdev.iovs[0].iov_base = (void *)g_null_zero_buf;
	io->u.bdev.iovs[0].iov_len = len;
	if (io->u.bdev.md_buf != NULL && io->bdev->md_len != 0) {
		memset(io->u.bdev.md_buf, 0, io->u.bdev.num_blocks * io->bdev->md_len);
	}
	axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
}

static void null_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *io)
{
	(void)ch;
	switch (io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		if (io->u.bdev.iovs[0].iov_base == NULL) {
			null_read_nobuf(io);
			return;
		}
		null_zero_read(io);
		return;
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		axon_bdev_io_complete(io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static bool null_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	(void)ctx;
	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct axon_io_channel *null_get_io_channel(void *ctx)
{
	(void)ctx;
	return axon_get_io_channel(&g_null_io_device);
}

static int null_destruct(void *ctx)
{
	struct null_disk *d = ctx;

	free(d->bdev.name);
	free(d);
	return 0;
}

static void null_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	char uuid[AXON_UUID_STRING_LEN];
	json_t *params;

	axon_uuid_fmt_lower(uuid, sizeof(uuid), axon_bdev_get_uuid(bdev));
	params = json_pack("{s:s, s:I, s:I, s:s}", "name", axon_bdev_get_name(bdev),
			   "num_blocks", (json_int_t)bdev->blockcnt,
			   "block_size", (json_int_t)bdev->blocklen, "uuid", uuid);
	if (bdev->md_len != 0) {
		json_object_set_new(params, "md_size", json_integer(bdev->md_len));
	}
	json_array_append_new(array, json_pack("{s:s, s:o}", "method", "bdev_null_create",
					       "params", params));
}

static const struct axon_bdev_fn_table g_null_fn_table = {
	.destruct = null_destruct,
	.submit_request = null_submit_request,
	.io_type_supported = null_io_type_supported,
	.get_io_channel = null_get_io_channel,
	.write_config_json = null_write_config_json,
};

int null_disk_create(const struct null_opts *opts, struct axon_bdev **bdev, const char **param,
		     const char **why)
{
	struct null_disk *d;
	int rc;

	*param = NULL;
	*why = NULL;
	if (opts->name == NULL || opts->name[0] == '\0') {
		*param = "name";
		*why = "a non-empty string";
		return -EINVAL;
	}
	if ((*why = null_check_block_size(opts->block_size)) != NULL) {
		*param = "block_size";
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
	d->bdev.name = strdup(opts->name);
	if (d->bdev.name == NULL) {
		free(d);
		return -ENOMEM;
	}
	d->bdev.ctxt = d;
	d->bdev.product_name = "Null disk";
	d->bdev.blocklen = opts->block_size;
	d->bdev.blockcnt = opts->num_blocks;
	d->bdev.md_len = opts->md_size;
	d->bdev.uuid = opts->uuid;
	d->bdev.fn_table = &g_null_fn_table;
	d->bdev.module = &g_null_module;
	rc = axon_bdev_register(&d->bdev);
	if (rc != 0) {
		if (rc == -EEXIST) {
			*param = "name";
			*why = "a name and uuid no other bdev uses";
		}
		free(d->bdev.name);
		free(d);
		return rc;
	}
	*bdev = &d->bdev;
	return 0;
}

int null_disk_resize(struct axon_bdev *bdev, uint64_t new_size_mib)
{
	uint64_t bytes = new_size_mib * 1024u * 1024u;

	if (new_size_mib == 0 || bytes / (1024u * 1024u) != new_size_mib ||
	    bytes % bdev->blocklen != 0) {
		return -EINVAL;
	}
	return axon_bdev_notify_blockcnt_change(bdev, bytes / bdev->blocklen);
}

static int null_channel_create(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
	return 0;
}

static void null_channel_destroy(void *io_device, void *ctx)
{
	(void)io_device;
	(void)ctx;
}

static int null_module_init(void)
{
	axon_io_device_register(&g_null_io_device, null_channel_create, null_channel_destroy, 0,
				"bdev_null");
	return 0;
}

static void null_module_fini(void)
{
	axon_io_device_unregister(&g_null_io_device, NULL);
}

struct axon_bdev_module g_null_module = {
	.name = "null",
	.module_init = null_module_init,
	.module_fini = null_module_fini,
};
AXON_BDEV_MODULE_REGISTER(null, &g_null_module)
