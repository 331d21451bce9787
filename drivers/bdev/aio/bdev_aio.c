/*
 * The aio bdev: a file or block device driven through Linux native AIO.
 *
 * Every thread's channel owns an aio_queue (bdev_aio_queue.c): its own
 * io_context, fixed request array and eventfd. submit_request only queues;
 * the channel's poller submits everything queued since its last run with one
 * io_submit and reaps completions from the ring. When all requests of a
 * channel are taken an I/O completes with NOMEM and the layer retries it as
 * soon as one of the channel's I/Os completes.
 *
 * Flush. IOCB_CMD_FDSYNC (Linux 4.18+) runs fdatasync on a kernel worker, so
 * the reactor keeps polling while it runs. If the kernel rejects it (EINVAL),
 * the bdev remembers that and flushes with fdatasync() in place from then on:
 * correct, but it stalls the thread for the duration.
 *
 * Unmap and write zeroes, offered only with the fallocate option on a file
 * whose filesystem can punch holes: fallocate() runs in place (a metadata
 * operation, usually short). Write zeroes uses ZERO_RANGE, or a punched hole
 * (which reads back as zeroes) where ZERO_RANGE is not supported.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "axon/bdev_module.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "bdev_aio_internal.h"
#include "bdev_file.h"

struct bdev_aio {
	struct bdev_file file;
	char *name;
	char *filename;
	bool readonly;
	bool fallocate;
	/* Block size asked for at creation (0: detected), for save_config. */
	uint32_t user_block_size;
	uint32_t queue_depth;
	/* Set once by whichever thread learns it; read by all (relaxed). */
	bool fdsync_unsupported;
	bool zero_range_unsupported;
	struct axon_bdev bdev;
	TAILQ_ENTRY(bdev_aio) link;
};

struct bdev_aio_channel {
	struct bdev_aio *aio;
	struct aio_queue q;
	struct axon_poller *poller;
};

/* Every aio bdev; app thread only. */
static TAILQ_HEAD(, bdev_aio) g_aio_bdevs = TAILQ_HEAD_INITIALIZER(g_aio_bdevs);

static struct axon_bdev_module g_aio_module = {
	.name = "aio",
};
AXON_BDEV_MODULE_REGISTER(aio, &g_aio_module)

/* ---- I/O ------------------------------------------------------------------ */

static bool flag_get(const bool *flag)
{
	return __atomic_load_n(flag, __ATOMIC_RELAXED);
}

static void flag_set(bool *flag)
{
	__atomic_store_n(flag, true, __ATOMIC_RELAXED);
}

static void aio_flush_sync(struct bdev_aio *aio, struct axon_bdev_io *bdev_io)
{
	int rc = fdatasync(aio->file.fd) == 0 ? 0 : -errno;

	axon_bdev_io_complete_errno(bdev_io, rc);
}

static void aio_request_done(void *cb_arg, int rc)
{
	struct axon_bdev_io *bdev_io = cb_arg;
	struct bdev_aio *aio = bdev_io->bdev->ctxt;

	if (rc == -EINVAL && bdev_io->type == AXON_BDEV_IO_TYPE_FLUSH) {
		if (!flag_get(&aio->fdsync_unsupported)) {
			AXON_NOTICELOG("%s: the kernel has no aio fdsync; flushing with fdatasync",
				       aio->bdev.name);
			flag_set(&aio->fdsync_unsupported);
		}
		aio_flush_sync(aio, bdev_io);
		return;
	}
	axon_bdev_io_complete_errno(bdev_io, rc);
}

static void aio_submit_rw(struct bdev_aio_channel *ch, struct axon_bdev_io *bdev_io, bool write)
{
	uint32_t bl = bdev_io->bdev->blocklen;
	int rc;

	rc = aio_queue_rw(&ch->q, ch->aio->file.fd, write, bdev_io->u.bdev.iovs,
			  bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks * bl,
			  bdev_io->u.bdev.num_blocks * bl, bdev_io);
	if (rc != 0) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
	}
}

static void aio_get_buf_done(struct axon_io_channel *_ch, struct axon_bdev_io *bdev_io,
			     bool success)
{
	if (!success) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	aio_submit_rw(axon_io_channel_get_ctx(_ch), bdev_io, false);
}

static void aio_submit_flush(struct bdev_aio_channel *ch, struct axon_bdev_io *bdev_io)
{
	if (flag_get(&ch->aio->fdsync_unsupported)) {
		aio_flush_sync(ch->aio, bdev_io);
		return;
	}
	if (aio_queue_fdsync(&ch->q, ch->aio->file.fd, bdev_io) != 0) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
	}
}

static void aio_submit_fallocate(struct bdev_aio *aio, struct axon_bdev_io *bdev_io)
{
	uint32_t bl = aio->bdev.blocklen;
	off_t offset = (off_t)(bdev_io->u.bdev.offset_blocks * bl);
	off_t len = (off_t)(bdev_io->u.bdev.num_blocks * bl);
	int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int rc;

	if (bdev_io->type == AXON_BDEV_IO_TYPE_WRITE_ZEROES &&
	    !flag_get(&aio->zero_range_unsupported)) {
		rc = fallocate(aio->file.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset,
			       len);
		if (rc == 0 || errno != EOPNOTSUPP) {
			axon_bdev_io_complete_errno(bdev_io, rc == 0 ? 0 : -errno);
			return;
		}
		flag_set(&aio->zero_range_unsupported);
	}
	rc = fallocate(aio->file.fd, mode, offset, len);
	axon_bdev_io_complete_errno(bdev_io, rc == 0 ? 0 : -errno);
}

static bool aio_is_write_type(uint8_t type)
{
	return type == AXON_BDEV_IO_TYPE_WRITE || type == AXON_BDEV_IO_TYPE_UNMAP ||
	       type == AXON_BDEV_IO_TYPE_WRITE_ZEROES;
}

static void bdev_aio_submit_request(struct axon_io_channel *_ch, struct axon_bdev_io *bdev_io)
{
	struct bdev_aio_channel *ch = axon_io_channel_get_ctx(_ch);
	struct bdev_aio *aio = ch->aio;

	if (aio->readonly && aio_is_write_type(bdev_io->type)) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	switch (bdev_io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		if (bdev_io->u.bdev.iovs[0].iov_base == NULL) {
			axon_bdev_io_get_buf(bdev_io, aio_get_buf_done,
					     bdev_io->u.bdev.num_blocks * aio->bdev.blocklen);
			return;
		}
		aio_submit_rw(ch, bdev_io, false);
		return;
	case AXON_BDEV_IO_TYPE_WRITE:
		aio_submit_rw(ch, bdev_io, true);
		return;
	case AXON_BDEV_IO_TYPE_FLUSH:
		aio_submit_flush(ch, bdev_io);
		return;
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		aio_submit_fallocate(aio, bdev_io);
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

static bool bdev_aio_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	struct bdev_aio *aio = ctx;

	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
		return true;
	case AXON_BDEV_IO_TYPE_UNMAP:
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return aio->fallocate && aio->file.punch_hole && !aio->readonly;
	default:
		return false;
	}
}

/* ---- channels ------------------------------------------------------------- */

static int bdev_aio_poll(void *arg)
{
	struct bdev_aio_channel *ch = arg;

	return aio_queue_poll(&ch->q);
}

static int aio_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_aio *aio = io_device;
	struct bdev_aio_channel *ch = ctx_buf;
	int rc;

	ch->aio = aio;
	rc = aio_queue_init(&ch->q, aio->queue_depth, aio_request_done);
	if (rc != 0) {
		return rc;
	}
	rc = axon_thread_add_wake_fd(ch->q.efd, EPOLLIN);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot watch the aio eventfd: %s", aio->bdev.name, strerror(-rc));
		goto err_queue;
	}
	ch->poller = axon_poller_register_named(bdev_aio_poll, ch, 0, "bdev_aio_poll");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_wake_fd;
	}
	return 0;

err_wake_fd:
	axon_thread_remove_wake_fd(ch->q.efd);
err_queue:
	aio_queue_fini(&ch->q);
	return rc;
}

static void aio_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_aio_channel *ch = ctx_buf;

	axon_poller_unregister(&ch->poller);
	axon_thread_remove_wake_fd(ch->q.efd);
	aio_queue_fini(&ch->q);
}

static struct axon_io_channel *bdev_aio_get_io_channel(void *ctx)
{
	return axon_get_io_channel(ctx);
}

/* ---- lifecycle and JSON --------------------------------------------------- */

static void aio_free(struct bdev_aio *aio)
{
	bdev_file_close(&aio->file);
	free(aio->name);
	free(aio->filename);
	free(aio);
}

static int bdev_aio_destruct(void *ctx)
{
	struct bdev_aio *aio = ctx;

	TAILQ_REMOVE(&g_aio_bdevs, aio, link);
	/* Every channel is gone already: the device finishes without us. */
	axon_io_device_unregister(aio, NULL);
	aio_free(aio);
	return 0;
}

static int bdev_aio_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct bdev_aio *aio = ctx;
	json_t *o;

	o = json_pack("{s:s, s:b, s:b, s:b, s:b, s:i}", "filename", aio->filename,
		      "block_size_override", aio->user_block_size != 0, "readonly",
		      aio->readonly, "fallocate", aio->fallocate, "direct", aio->file.direct,
		      "queue_depth", (json_int_t)aio->queue_depth);
	if (o == NULL || json_object_set_new(driver_specific, "aio", o) != 0) {
		return -ENOMEM;
	}
	return 0;
}

static void bdev_aio_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	struct bdev_aio *aio = bdev->ctxt;
	char uuid[AXON_UUID_STRING_LEN];
	json_t *o;

	axon_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid);
	o = json_pack("{s:s, s:{s:s, s:s, s:i, s:b, s:b, s:i, s:s}}", "method", "bdev_aio_create",
		      "params", "name", bdev->name, "filename", aio->filename, "block_size",
		      (json_int_t)bdev->blocklen, "readonly", aio->readonly, "fallocate",
		      aio->fallocate, "queue_depth", (json_int_t)aio->queue_depth, "uuid", uuid);
	if (o != NULL) {
		json_array_append_new(array, o);
	}
}

static const struct axon_bdev_fn_table g_aio_fn_table = {
	.destruct = bdev_aio_destruct,
	.submit_request = bdev_aio_submit_request,
	.io_type_supported = bdev_aio_io_type_supported,
	.get_io_channel = bdev_aio_get_io_channel,
	.dump_info_json = bdev_aio_dump_info_json,
	.write_config_json = bdev_aio_write_config_json,
};

static struct bdev_aio *aio_find(const char *name)
{
	struct bdev_aio *aio;

	TAILQ_FOREACH(aio, &g_aio_bdevs, link) {
		if (strcmp(aio->name, name) == 0) {
			return aio;
		}
	}
	return NULL;
}

static int aio_check_opts(const struct bdev_aio_opts *opts, struct axon_uuid *uuid, char *err,
			  size_t err_len)
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
	if (opts->queue_depth > BDEV_AIO_MAX_QUEUE_DEPTH) {
		snprintf(err, err_len, "queue_depth: expected 1 to %u, got %" PRIu32,
			 BDEV_AIO_MAX_QUEUE_DEPTH, opts->queue_depth);
		return -EINVAL;
	}
	memset(uuid, 0, sizeof(*uuid));
	if (opts->uuid != NULL && axon_uuid_parse(uuid, opts->uuid) != 0) {
		snprintf(err, err_len, "uuid: expected a UUID, got %s", opts->uuid);
		return -EINVAL;
	}
	return 0;
}

static void aio_fill_bdev(struct bdev_aio *aio)
{
	struct axon_bdev *bdev = &aio->bdev;

	bdev->ctxt = aio;
	bdev->name = aio->name;
	bdev->product_name = "AIO disk";
	bdev->blocklen = aio->file.block_size;
	bdev->blockcnt = aio->file.size / aio->file.block_size;
	bdev->write_cache = true;
	/* O_DIRECT buffers: aligned to the device's logical block. */
	bdev->required_alignment =
		aio->file.direct ? (uint8_t)axon_u32log2(aio->file.min_block_size) : 0;
	bdev->max_num_segments = IOV_MAX;
	bdev->fn_table = &g_aio_fn_table;
	bdev->module = &g_aio_module;
}

int bdev_aio_create(const struct bdev_aio_opts *opts, struct axon_bdev **bdev_out, char *err,
		    size_t err_len)
{
	struct bdev_aio *aio;
	struct axon_uuid uuid;
	int rc;

	rc = aio_check_opts(opts, &uuid, err, err_len);
	if (rc != 0) {
		return rc;
	}
	aio = calloc(1, sizeof(*aio));
	if (aio == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	aio->file.fd = -1;
	aio->name = strdup(opts->name);
	aio->filename = strdup(opts->filename);
	if (aio->name == NULL || aio->filename == NULL) {
		snprintf(err, err_len, "out of memory");
		rc = -ENOMEM;
		goto err_free;
	}
	rc = bdev_file_open(opts->filename, opts->readonly, opts->block_size, opts->fallocate,
			    &aio->file, err, err_len);
	if (rc != 0) {
		goto err_free;
	}
	if (opts->fallocate && !opts->readonly && !aio->file.punch_hole) {
		AXON_NOTICELOG("%s: fallocate cannot punch holes here: no unmap or write zeroes",
			       opts->filename);
	}
	aio->readonly = opts->readonly;
	aio->fallocate = opts->fallocate;
	aio->user_block_size = opts->block_size;
	aio->queue_depth = opts->queue_depth ? opts->queue_depth : BDEV_AIO_DEFAULT_QUEUE_DEPTH;
	aio_fill_bdev(aio);
	aio->bdev.uuid = uuid;

	axon_io_device_register(aio, aio_channel_create, aio_channel_destroy,
				sizeof(struct bdev_aio_channel), opts->name);
	rc = axon_bdev_register(&aio->bdev);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot register the bdev: %s", opts->name,
			 strerror(-rc));
		goto err_unregister;
	}
	TAILQ_INSERT_TAIL(&g_aio_bdevs, aio, link);
	*bdev_out = &aio->bdev;
	return 0;

err_unregister:
	axon_io_device_unregister(aio, NULL);
err_free:
	aio_free(aio);
	return rc;
}

int bdev_aio_delete(const char *name, bdev_aio_delete_cb cb, void *cb_arg)
{
	return axon_bdev_unregister_by_name(name, &g_aio_module, cb, cb_arg);
}

int bdev_aio_rescan(const char *name, char *err, size_t err_len)
{
	struct bdev_aio *aio = aio_find(name);
	uint64_t size, blockcnt;
	int rc;

	if (aio == NULL) {
		snprintf(err, err_len, "name: no aio bdev named %s", name);
		return -ENODEV;
	}
	rc = bdev_file_get_size(&aio->file, &size);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot get the size of %s: %s", name, aio->filename,
			 strerror(-rc));
		return rc;
	}
	blockcnt = size / aio->bdev.blocklen;
	if (blockcnt == aio->bdev.blockcnt) {
		return 0;
	}
	rc = axon_bdev_notify_blockcnt_change(&aio->bdev, blockcnt);
	if (rc != 0) {
		snprintf(err, err_len, "%s: cannot change the size from %" PRIu64 " to %" PRIu64
			 " blocks: %s", name, aio->bdev.blockcnt, blockcnt,
			 rc == -EBUSY ? "it shrank while open" : strerror(-rc));
		return rc;
	}
	AXON_NOTICELOG("%s: %s now has %" PRIu64 " blocks", name, aio->filename, blockcnt);
	return 0;
}
