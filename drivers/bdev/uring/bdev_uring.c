/*
 * The uring bdev: a file or block device driven through io_uring.
 *
 * Every thread's channel owns a uring_queue (bdev_uring_queue.c): its own
 * ring with the file registered, fixed request array and eventfd.
 * submit_request only fills SQEs; the channel's poller submits them all with
 * one io_uring_submit and reaps CQEs from the shared ring. When all requests
 * of a channel are taken an I/O completes with NOMEM and the layer retries it
 * as soon as one of the channel's I/Os completes. Flush is IORING_OP_FSYNC
 * with IORING_FSYNC_DATASYNC, run asynchronously by the kernel.
 *
 * Opening the file (O_DIRECT, block size detection) is shared with the aio
 * bdev: drivers/bdev/aio/bdev_file.c, in libaxon_bdev_aio.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "axon/bdev_module.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "../aio/bdev_file.h"
#include "bdev_uring_internal.h"

struct bdev_uring {
	struct bdev_file file;
	char *name;
	char *filename;
	/* Block size asked for at creation (0: detected), for dump_info_json. */
	uint32_t user_block_size;
	uint32_t queue_depth;
	struct axon_bdev bdev;
	TAILQ_ENTRY(bdev_uring) link;
};

struct bdev_uring_channel {
	struct bdev_uring *uring;
	struct uring_queue q;
	struct axon_poller *poller;
};

/* Every uring bdev; app thread only. */
static TAILQ_HEAD(, bdev_uring) g_uring_bdevs = TAILQ_HEAD_INITIALIZER(g_uring_bdevs);

static struct axon_bdev_module g_uring_module = {
	.name = "uring",
};
AXON_BDEV_MODULE_REGISTER(uring, &g_uring_module)

/* ---- I/O ------------------------------------------------------------------ */

static void uring_request_done(void *cb_arg, int rc)
{
	axon_bdev_io_complete_errno(cb_arg, rc);
}

static void uring_submit_rw(struct bdev_uring_channel *ch, struct axon_bdev_io *bdev_io,
			    bool write)
{
	uint32_t bl = bdev_io->bdev->blocklen;

	if (uring_queue_rw(&ch->q, write, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
			   bdev_io->u.bdev.offset_blocks * bl, bdev_io->u.bdev.num_blocks * bl,
			   bdev_io) != 0) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
	}
}

static void uring_get_buf_done(struct axon_io_channel *_ch, struct axon_bdev_io *bdev_io,
			       bool success)
{
	if (!success) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	uring_submit_rw(axon_io_channel_get_ctx(_ch), bdev_io, false);
}

static void bdev_uring_submit_request(struct axon_io_channel *_ch, struct axon_bdev_io *bdev_io)
{
	struct bdev_uring_channel *ch = axon_io_channel_get_ctx(_ch);

	switch (bdev_io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		if (bdev_io->u.bdev.iovs[0].iov_base == NULL) {
			axon_bdev_io_get_buf(bdev_io, uring_get_buf_done,
					     bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
			return;
		}
		uring_submit_rw(ch, bdev_io, false);
		return;
	case AXON_BDEV_IO_TYPE_WRITE:
		uring_submit_rw(ch, bdev_io, true);
		return;
	case AXON_BDEV_IO_TYPE_FLUSH:
		if (uring_queue_fsync(&ch->q, bdev_io) != 0) {
			axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
		}
		return;
	case AXON_BDEV_IO_TYPE_RESET:
		/* The layer resets only once nothing is in flight: nothing to do. */
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	default:
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static bool bdev_uring_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

/* ---- channels ------------------------------------------------------------- */

static int bdev_uring_poll(void *arg)
{
	struct bdev_uring_channel *ch = arg;

	return uring_queue_poll(&ch->q);
}

static int uring_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_uring *uring = io_device;
	struct bdev_uring_channel *ch = ctx_buf;
	int rc;

	ch->uring = uring;
	rc = uring_queue_init(&ch->q, uring->queue_depth, uring->file.fd, uring_request_done);
	if (rc != 0) {
		return rc;
	}
	rc = axon_thread_add_wake_fd(ch->q.efd, EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot watch the ring's eventfd: %s", uring->name, strerror(-rc));
		goto err_queue;
	}
	ch->poller = axon_poller_register_named(bdev_uring_poll, ch, 0, "bdev_uring_poll");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_wake_fd;
	}
	return 0;

err_wake_fd:
	axon_thread_remove_wake_fd(ch->q.efd);
err_queue:
	uring_queue_fini(&ch->q);
	return rc;
}

static void uring_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_uring_channel *ch = ctx_buf;

	axon_poller_unregister(&ch->poller);
	axon_thread_remove_wake_fd(ch->q.efd);
	uring_queue_fini(&ch->q);
}

static struct axon_io_channel *bdev_uring_get_io_channel(void *ctx)
{
	return axon_get_io_channel(ctx);
}

/* ---- lifecycle and JSON --------------------------------------------------- */

static void uring_free(struct bdev_uring *uring)
{
	bdev_file_close(&uring->file);
	free(uring->name);
	free(uring->filename);
	free(uring);
}

static int bdev_uring_destruct(void *ctx)
{
	struct bdev_uring *uring = ctx;

	TAILQ_REMOVE(&g_uring_bdevs, uring, link);
	/* Every channel is gone already: the device finishes without us. */
	axon_io_device_unregister(uring, NULL);
	uring_free(uring);
	return 0;
}

static int bdev_uring_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct bdev_uring *uring = ctx;
	json_t *o;

	o = json_pack("{s:s, s:b, s:b, s:i}", "filename", uring->filename,
		      "block_size_override", uring->user_block_size != 0, "direct",
		      uring->file.direct, "queue_depth", (json_int_t)uring->queue_depth);
	if (o == NULL || json_object_set_new(driver_specific, "uring", o) != 0) {
		return -ENOMEM;
	}
	return 0;
}

static void bdev_uring_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	struct bdev_uring *uring = bdev->ctxt;
	char uuid[AXON_UUID_STRING_LEN];
	json_t *o;

	axon_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid);
	o = json_pack("{s:s, s:{s:s, s:s, s:i, s:i, s:s}}", "method", "bdev_uring_create",
		      "params", "name", uring->name, "filename", uring->filename, "block_size",
		      (json_int_t)bdev->blocklen, "queue_depth", (json_int_t)uring->queue_depth,
		      "uuid", uuid);
	if (o != NULL) {
		json_array_append_new(array, o);
	}
}

static const struct axon_bdev_fn_table g_uring_fn_table = {
	.destruct = bdev_uring_destruct,
	.submit_request = bdev_uring_submit_request,
	.io_type_supported = bdev_uring_io_type_supported,
	.get_io_channel = bdev_uring_get_io_channel,
	.dump_info_json = bdev_uring_dump_info_json,
	.write_config_json = bdev_uring_write_config_json,
};

static struct bdev_uring *uring_find(const char *name)
{
	struct bdev_uring *uring;

	TAILQ_FOREACH(uring, &g_uring_bdevs, link) {
		if (strcmp(uring->name, name) == 0) {
			return uring;
		}
	}
	return NULL;
}

static int uring_check_opts(const struct bdev_uring_opts *opts, struct axon_uuid *uuid,
			    char *err, size_t err_len)
{
	if (opts->name == NULL || opts->name[0] == '\0' ||
	    strlen(opts->name) > AXON_BDEV_MAX_NAME_LEN) {
		snprintf(err, err_len, "name: expected 1 to %d characters",
			 AXON_BDEV_MAX_NAME_LEN);
		return -EINVAL;
	}
	if (axon_bdev_get_by_name(opts->name) != NULL) {
		snprintf(err, err_len, "name: a bdev named %s already exists", opts->name);
		return -EEXIST;
	}
	if (opts->filename == NULL || opts->filename[0] == '\0') {
		snprintf(err, err_len, "filename: expected a path");
		return -EINVAL;
	}
	if (opts->queue_depth > BDEV_URING_MAX_QUEUE_DEPTH) {
		snprintf(err, err_len, "queue_depth: expected 1 to %u, got %" PRIu32,
			 BDEV_URING_MAX_QUEUE_DEPTH, opts->queue_depth);
		return -EINVAL;
	}
	memset(uuid, 0, sizeof(*uuid));
	if (opts->uuid != NULL && axon_uuid_parse(uuid, opts->uuid) != 0) {
		snprintf(err, err_len, "uuid: expected a UUID, got %s", opts->uuid);
		return -EINVAL;
	}
	return 0;
}

static void uring_fill_bdev(struct bdev_uring *uring)
{
	struct axon_bdev *bdev = &uring->bdev;

	bdev->ctxt = uring;
	bdev->name = uring->name;
	bdev->product_name = "URING bdev";
	bdev->blocklen = uring->file.block_size;
	bdev->blockcnt = uring->file.size / uring->file.block_size;
	bdev->write_cache = true;
	bdev->required_alignment =
		uring->file.direct ? (uint8_t)axon_u32log2(uring->file.min_block_size) : 0;
	bdev->max_num_segments = IOV_MAX;
	bdev->fn_table = &g_uring_fn_table;
	bdev->module = &g_uring_module;
}

int bdev_uring_create(const struct bdev_uring_opts *opts, struct axon_bdev **bdev_out, char *err,
		      size_t err_len)
{
	struct bdev_uring *uring;
	struct axon_uuid uuid;
	int rc;

	rc = uring_check_opts(opts, &uuid, err, err_len);
	if (rc != 0) {
		return rc;
	}
	uring = calloc(1, sizeof(*uring));
	if (uring == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	uring->file.fd = -1;
	uring->name = strdup(opts->name);
	uring->filename = strdup(opts->filename);
	if (uring->name == NULL || uring->filename == NULL) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free;
	}
	rc = bdev_file_open(opts->filename, false, opts->block_size, false, &uring->file, err,
			    err_len);
	if (rc != 0) {
		goto err_free;
	}
	uring->user_block_size = opts->block_size;
	uring->queue_depth =
		opts->queue_depth ? opts->queue_depth : BDEV_URING_DEFAULT_QUEUE_DEPTH;
	uring_fill_bdev(uring);
	uring->bdev.uuid = uuid;

	axon_io_device_register(uring, uring_channel_create, uring_channel_destroy,
				sizeof(struct bdev_uring_channel), opts->name);
	rc = axon_bdev_register(&uring->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot register the bdev: %s", opts->name,
			 strerror(-rc));
		goto err_unregister;
	}
	TAILQ_INSERT_TAIL(&g_uring_bdevs, uring, link);
	*bdev_out = &uring->bdev;
	return 0;

err_unregister:
	axon_io_device_unregister(uring, NULL);
err_free:
	uring_free(uring);
	return rc;
}

int bdev_uring_delete(const char *name, bdev_uring_delete_cb cb, void *cb_arg)
{
	return axon_bdev_unregister_by_name(name, &g_uring_module, cb, cb_arg);
}

int bdev_uring_rescan(const char *name, char *err, size_t err_len)
{
	struct bdev_uring *uring = uring_find(name);
	uint64_t size, blockcnt;
	int rc;

	if (uring == NULL) {
		snprintf(err, err_len, "name: no uring bdev named %s", name);
		return -ENODEV;
	}
	rc = bdev_file_get_size(&uring->file, &size);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot get the size of %s: %s", name,
			 uring->filename, strerror(-rc));
		return rc;
	}
	blockcnt = size / uring->bdev.blocklen;
	if (blockcnt == uring->bdev.blockcnt) {
		return 0;
	}
	rc = axon_bdev_notify_blockcnt_change(&uring->bdev, blockcnt);
	if (rc != 0) {
		snprintf(err, err_len,
			 "%s: cannot change the size from %" PRIu64 " to %" PRIu64 " blocks: %s",
			 name, uring->bdev.blockcnt, blockcnt,
			 rc == -EBUSY ? "it shrank while open" : strerror(-rc));
		return rc;
	}
	AXON_NOTICELOG("%s: %s now has %" PRIu64 " blocks", name, uring->filename, blockcnt);
	return 0;
}
