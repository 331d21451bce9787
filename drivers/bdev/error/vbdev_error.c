/*
 * The error bdev. Each I/O passes through to the base bdev unless the
 * injection armed for its type hits it. Injections are armed on the app
 * thread (RPC) and consumed on I/O threads: the remaining count is an atomic
 * that each hit decrements, so exactly `num` I/Os are hit across all
 * threads. The other fields of an injection are written before its count is
 * published (release) and read after it is seen (acquire).
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "vbdev_error.h"

#define ERROR_NAME_PREFIX "EE_"

struct error_inject {
	atomic_uint num; /* I/Os still to hit; 0: off */
	enum vbdev_error_type type;
	uint32_t queue_depth;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
	bool nvme_status;
	uint8_t sct;
	uint8_t sc;
};

struct error_disk {
	struct axon_bdev bdev;
	struct axon_bdev *base;
	struct axon_bdev_desc *base_desc;
	struct error_inject inject[AXON_BDEV_NUM_IO_TYPES];
	bool deleting;
	TAILQ_ENTRY(error_disk) link;
};

struct error_channel {
	struct error_disk *disk;
	struct axon_io_channel *base_ch;
	/* I/Os submitted to us and not completed (held ones included). */
	uint32_t outstanding;
	/* I/Os held by a PENDING injection. */
	TAILQ_HEAD(, axon_bdev_io) pending;
};

/* Per-I/O context (driver_ctx). */
struct error_io {
	struct error_channel *ech;
	/* XOR to apply after a read, or to undo after a write. */
	bool corrupt_read;
	bool restore_write;
	uint8_t corrupt_value;
	uint64_t corrupt_offset;
};

/* A pass over every channel letting held I/O go: resubmitted (abort false)
 * or aborted; then, for a delete, the unregistration. */
struct error_release_ctx {
	bool abort;
	bool unregister;
	axon_bdev_unregister_cb cb;
	void *cb_arg;
};

static TAILQ_HEAD(, error_disk) g_error_disks = TAILQ_HEAD_INITIALIZER(g_error_disks);

static const struct axon_bdev_fn_table g_error_fn_table;

/* ---- parsing ------------------------------------------------------------------ */

int vbdev_error_parse_io_type(const char *name, uint32_t *mask)
{
	static const struct {
		const char *name;
		uint32_t mask;
	} types[] = {
		{"read", 1u << AXON_BDEV_IO_TYPE_READ},
		{"write", 1u << AXON_BDEV_IO_TYPE_WRITE},
		{"unmap", 1u << AXON_BDEV_IO_TYPE_UNMAP},
		{"flush", 1u << AXON_BDEV_IO_TYPE_FLUSH},
		{"write_zeroes", 1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES},
		{"all", ((1u << AXON_BDEV_NUM_IO_TYPES) - 1) & ~1u},
		{"clear", 0},
	};

	for (size_t i = 0; i < AXON_COUNTOF(types); i++) {
		if (strcmp(name, types[i].name) == 0) {
			*mask = types[i].mask;
			return 0;
		}
	}
	return -EINVAL;
}

int vbdev_error_parse_error_type(const char *name, enum vbdev_error_type *type)
{
	static const char *const names[] = {
		[VBDEV_ERROR_FAILURE] = "failure",
		[VBDEV_ERROR_PENDING] = "pending",
		[VBDEV_ERROR_CORRUPT_DATA] = "corrupt_data",
		[VBDEV_ERROR_NOMEM] = "nomem",
	};

	for (size_t i = VBDEV_ERROR_FAILURE; i < AXON_COUNTOF(names); i++) {
		if (strcmp(name, names[i]) == 0) {
			*type = (enum vbdev_error_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *error_type_name(enum vbdev_error_type type)
{
	switch (type) {
	case VBDEV_ERROR_FAILURE:
		return "failure";
	case VBDEV_ERROR_PENDING:
		return "pending";
	case VBDEV_ERROR_CORRUPT_DATA:
		return "corrupt_data";
	case VBDEV_ERROR_NOMEM:
		return "nomem";
	}
	return "?";
}

/* ---- the I/O path ------------------------------------------------------------- */

/* Take one hit from inj if it is armed and the depth condition holds. */
static bool inject_take(struct error_inject *inj, uint32_t outstanding)
{
	unsigned int n = atomic_load_explicit(&inj->num, memory_order_acquire);

	if (n == 0 || outstanding < inj->queue_depth) {
		return false;
	}
	while (n != 0) {
		if (atomic_compare_exchange_weak_explicit(&inj->num, &n, n - 1,
							  memory_order_acq_rel,
							  memory_order_acquire)) {
			return true;
		}
	}
	return false;
}

/* XOR value into byte offset (modulo the data length) of iov. */
static void iov_xor_byte(struct iovec *iov, int iovcnt, uint64_t offset, uint8_t value)
{
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
	}
	if (total == 0) {
		return;
	}
	offset %= total;
	for (int i = 0; i < iovcnt; i++) {
		if (offset < iov[i].iov_len) {
			((uint8_t *)iov[i].iov_base)[offset] ^= value;
			return;
		}
		offset -= iov[i].iov_len;
	}
}

static void error_io_done(struct axon_bdev_io *bdev_io, enum axon_bdev_io_status status)
{
	struct error_io *eio = axon_bdev_io_get_driver_ctx(bdev_io);

	eio->ech->outstanding--;
	axon_bdev_io_complete(bdev_io, status);
}

static void base_io_done(struct axon_bdev_io *base_io, bool success, void *cb_arg)
{
	struct axon_bdev_io *bdev_io = cb_arg;
	struct error_io *eio = axon_bdev_io_get_driver_ctx(bdev_io);
	uint32_t cdw0 = 0;
	int sct = 0, sc = 0;

	if (!success) {
		axon_bdev_io_get_nvme_status(base_io, &cdw0, &sct, &sc);
	}
	axon_bdev_free_io(base_io);
	if (eio->restore_write) {
		iov_xor_byte(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, eio->corrupt_offset,
			     eio->corrupt_value);
	}
	if (success && eio->corrupt_read) {
		iov_xor_byte(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, eio->corrupt_offset,
			     eio->corrupt_value);
	}
	eio->ech->outstanding--;
	if (success) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_SUCCESS);
	} else {
		axon_bdev_io_complete_nvme_status(bdev_io, cdw0, sct, sc);
	}
}

static int base_submit_rw(struct error_channel *ech, struct axon_bdev_io *bdev_io)
{
	struct error_disk *disk = ech->disk;
	struct axon_bdev_ext_io_opts opts = {
		.size = sizeof(opts),
		.memory_domain = bdev_io->u.bdev.memory_domain,
		.memory_domain_ctx = bdev_io->u.bdev.memory_domain_ctx,
		.metadata = bdev_io->u.bdev.md_buf,
	};

	if (bdev_io->type == AXON_BDEV_IO_TYPE_READ) {
		return axon_bdev_readv_blocks_ext(disk->base_desc, ech->base_ch,
						  bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
						  bdev_io->u.bdev.offset_blocks,
						  bdev_io->u.bdev.num_blocks, base_io_done, bdev_io,
						  &opts);
	}
	return axon_bdev_writev_blocks_ext(disk->base_desc, ech->base_ch, bdev_io->u.bdev.iovs,
					   bdev_io->u.bdev.iovcnt, bdev_io->u.bdev.offset_blocks,
					   bdev_io->u.bdev.num_blocks, base_io_done, bdev_io, &opts);
}

static int base_submit(struct error_channel *ech, struct axon_bdev_io *bdev_io)
{
	struct axon_bdev_desc *d = ech->disk->base_desc;
	struct axon_io_channel *ch = ech->base_ch;
	uint64_t off = bdev_io->u.bdev.offset_blocks, num = bdev_io->u.bdev.num_blocks;

	switch (bdev_io->type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
		return base_submit_rw(ech, bdev_io);
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return axon_bdev_write_zeroes_blocks(d, ch, off, num, base_io_done, bdev_io);
	case AXON_BDEV_IO_TYPE_UNMAP:
		return axon_bdev_unmap_blocks(d, ch, off, num, base_io_done, bdev_io);
	case AXON_BDEV_IO_TYPE_FLUSH:
		return axon_bdev_flush_blocks(d, ch, off, num, base_io_done, bdev_io);
	case AXON_BDEV_IO_TYPE_RESET:
		return axon_bdev_reset(d, ch, base_io_done, bdev_io);
	case AXON_BDEV_IO_TYPE_COMPARE:
		return axon_bdev_comparev_blocks(d, ch, bdev_io->u.bdev.iovs,
						 bdev_io->u.bdev.iovcnt, off, num, base_io_done,
						 bdev_io);
	case AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		return axon_bdev_comparev_and_writev_blocks(
			d, ch, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt,
			bdev_io->u.bdev.fused_iovs, bdev_io->u.bdev.fused_iovcnt, off, num,
			base_io_done, bdev_io);
	default:
		return -ENOTSUP;
	}
}

static void error_pass_through(struct error_channel *ech, struct axon_bdev_io *bdev_io)
{
	int rc = base_submit(ech, bdev_io);

	if (rc == 0) {
		return;
	}
	if (rc == -ENOMEM) {
		/* The layer resubmits NOMEM I/O once resources free up. */
		error_io_done(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
		return;
	}
	AXON_ERRLOG("%s: submitting %s to %s failed: %s", axon_bdev_get_name(&ech->disk->bdev),
		    axon_bdev_io_type_name(bdev_io->type), axon_bdev_get_name(ech->disk->base),
		    strerror(-rc));
	error_io_done(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
}

/* Apply a corruption hit: a write is corrupted now, a read on completion.
 * Data in another memory domain cannot be touched here: left alone. */
static void error_arm_corruption(struct axon_bdev_io *bdev_io, const struct error_inject *inj)
{
	struct error_io *eio = axon_bdev_io_get_driver_ctx(bdev_io);

	if (bdev_io->u.bdev.memory_domain != NULL || inj->corrupt_value == 0) {
		return;
	}
	eio->corrupt_offset = inj->corrupt_offset;
	eio->corrupt_value = inj->corrupt_value;
	if (bdev_io->type == AXON_BDEV_IO_TYPE_READ) {
		eio->corrupt_read = true;
	} else if (bdev_io->type == AXON_BDEV_IO_TYPE_WRITE) {
		iov_xor_byte(bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, eio->corrupt_offset,
			     eio->corrupt_value);
		eio->restore_write = true;
	}
}

static void error_submit_checked(struct error_channel *ech, struct axon_bdev_io *bdev_io)
{
	struct error_inject *inj = &ech->disk->inject[bdev_io->type];

	if (!inject_take(inj, ech->outstanding)) {
		error_pass_through(ech, bdev_io);
		return;
	}
	switch (inj->type) {
	case VBDEV_ERROR_FAILURE:
		if (inj->nvme_status) {
			ech->outstanding--;
			axon_bdev_io_complete_nvme_status(bdev_io, 0, inj->sct, inj->sc);
		} else {
			error_io_done(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		}
		return;
	case VBDEV_ERROR_NOMEM:
		error_io_done(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
		return;
	case VBDEV_ERROR_PENDING:
		TAILQ_INSERT_TAIL(&ech->pending, bdev_io, module_link);
		return;
	case VBDEV_ERROR_CORRUPT_DATA:
		error_arm_corruption(bdev_io, inj);
		break;
	}
	error_pass_through(ech, bdev_io);
}

static void error_read_buf_ready(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io,
				 bool success)
{
	struct error_channel *ech = axon_io_channel_get_ctx(ch);

	if (!success) {
		error_io_done(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	error_submit_checked(ech, bdev_io);
}

static void error_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io)
{
	struct error_channel *ech = axon_io_channel_get_ctx(ch);
	struct error_io *eio = axon_bdev_io_get_driver_ctx(bdev_io);

	*eio = (struct error_io){.ech = ech};
	ech->outstanding++;
	if (bdev_io->type == AXON_BDEV_IO_TYPE_READ) {
		/* A read without a buffer gets one here, so that the data outlives
		 * the base's bdev_io (and can be corrupted). */
		axon_bdev_io_get_buf(bdev_io, error_read_buf_ready,
				     bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	error_submit_checked(ech, bdev_io);
}

/* ---- channels ------------------------------------------------------------------ */

static int error_channel_create(void *io_device, void *ctx_buf)
{
	struct error_disk *disk = io_device;
	struct error_channel *ech = ctx_buf;

	ech->disk = disk;
	ech->outstanding = 0;
	TAILQ_INIT(&ech->pending);
	ech->base_ch = axon_bdev_get_io_channel(disk->base_desc);
	if (ech->base_ch == NULL) {
		AXON_ERRLOG("%s: no I/O channel to base bdev %s", disk->bdev.name,
			    axon_bdev_get_name(disk->base));
		return -ENOMEM;
	}
	return 0;
}

static void error_channel_destroy(void *io_device, void *ctx_buf)
{
	struct error_channel *ech = ctx_buf;

	assert(TAILQ_EMPTY(&ech->pending));
	axon_put_io_channel(ech->base_ch);
}

static struct axon_io_channel *error_get_io_channel(void *ctx)
{
	return axon_get_io_channel(ctx);
}

/* Held I/O leave the channel: resubmitted, or aborted (see error_release_ctx). */
static void error_channel_release_pending(struct axon_io_channel_iter *i)
{
	struct error_channel *ech =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));
	const struct error_release_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_bdev_io *bdev_io;

	while ((bdev_io = TAILQ_FIRST(&ech->pending)) != NULL) {
		TAILQ_REMOVE(&ech->pending, bdev_io, module_link);
		if (ctx->abort) {
			error_io_done(bdev_io, AXON_BDEV_IO_STATUS_ABORTED);
		} else {
			error_pass_through(ech, bdev_io);
		}
	}
	axon_for_each_channel_continue(i, 0);
}

/* ---- the bdev ---------------------------------------------------------------- */

static bool error_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	struct error_disk *disk = ctx;

	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
		return true;
	case AXON_BDEV_IO_TYPE_NVME_IO:
	case AXON_BDEV_IO_TYPE_NVME_ADMIN:
		return false;
	default:
		return axon_bdev_io_type_supported_native(disk->base, type);
	}
}

static int error_get_memory_domains(void *ctx, struct axon_memory_domain **domains,
				    int array_size)
{
	struct error_disk *disk = ctx;

	return axon_bdev_get_memory_domains(disk->base, domains, array_size);
}

static void error_disk_free(struct error_disk *disk)
{
	free(disk->bdev.name);
	free(disk);
}

static void error_io_device_gone(void *io_device)
{
	struct error_disk *disk = io_device;

	axon_bdev_destruct_done(&disk->bdev, 0);
	error_disk_free(disk);
}

static int error_destruct(void *ctx)
{
	struct error_disk *disk = ctx;

	TAILQ_REMOVE(&g_error_disks, disk, link);
	axon_bdev_module_release_bdev(disk->base);
	axon_bdev_close(disk->base_desc);
	axon_io_device_unregister(disk, error_io_device_gone);
	return 1;
}

static int error_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct error_disk *disk = ctx;
	json_t *info = json_object(), *injections = json_array();

	for (int t = 0; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		struct error_inject *inj = &disk->inject[t];
		unsigned int num = atomic_load(&inj->num);

		if (num == 0) {
			continue;
		}
		json_array_append_new(injections,
				      json_pack("{s:s, s:s, s:I}", "io_type",
						axon_bdev_io_type_name((enum axon_bdev_io_type)t),
						"error_type", error_type_name(inj->type), "num",
						(json_int_t)num));
	}
	json_object_set_new(info, "base_bdev", json_string(axon_bdev_get_name(disk->base)));
	json_object_set_new(info, "injections", injections);
	json_object_set_new(driver_specific, "error_disk", info);
	return 0;
}

static void error_write_config_json(struct axon_bdev *bdev, json_t *array)
{
	struct error_disk *disk = bdev->ctxt;
	char uuid[AXON_UUID_STRING_LEN];

	axon_uuid_fmt_lower(uuid, sizeof(uuid), &bdev->uuid);
	json_array_append_new(array,
			      json_pack("{s:s, s:{s:s, s:s}}", "method", "bdev_error_create",
					"params", "base_name", axon_bdev_get_name(disk->base),
					"uuid", uuid));
}

static const struct axon_bdev_fn_table g_error_fn_table = {
	.destruct = error_destruct,
	.submit_request = error_submit_request,
	.io_type_supported = error_io_type_supported,
	.get_io_channel = error_get_io_channel,
	.dump_info_json = error_dump_info_json,
	.write_config_json = error_write_config_json,
	.get_memory_domains = error_get_memory_domains,
};

/* ---- create, inject, delete -------------------------------------------------- */

static struct error_disk *error_disk_find(const char *name, int *rc)
{
	struct axon_bdev *bdev = axon_bdev_get_by_name(name);

	if (bdev == NULL) {
		*rc = -ENODEV;
		return NULL;
	}
	if (bdev->module != &g_error_module) {
		*rc = -EINVAL;
		return NULL;
	}
	return bdev->ctxt;
}

static void error_delete_now(struct error_disk *disk, axon_bdev_unregister_cb cb, void *cb_arg);

static void error_base_event(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	struct error_disk *disk = ctx;
	int rc;

	switch (type) {
	case AXON_BDEV_EVENT_REMOVE:
		if (!disk->deleting) {
			AXON_NOTICELOG("base bdev %s is going away: deleting %s",
				       axon_bdev_get_name(bdev), disk->bdev.name);
			error_delete_now(disk, NULL, NULL);
		}
		break;
	case AXON_BDEV_EVENT_RESIZE:
		rc = axon_bdev_notify_blockcnt_change(&disk->bdev, axon_bdev_get_num_blocks(bdev));
		if (rc != 0) {
			AXON_ERRLOG("%s: cannot follow the resize of %s: %s", disk->bdev.name,
				    axon_bdev_get_name(bdev), strerror(-rc));
		}
		break;
	}
}

static void error_disk_set_geometry(struct error_disk *disk, const struct axon_uuid *uuid)
{
	struct axon_bdev *b = &disk->bdev, *base = disk->base;
	size_t align = axon_bdev_get_buf_align(base);

	b->ctxt = disk;
	b->product_name = "Error disk";
	b->blocklen = axon_bdev_get_block_size(base);
	b->blockcnt = axon_bdev_get_num_blocks(base);
	b->write_cache = base->write_cache;
	b->optimal_io_boundary = axon_bdev_get_optimal_io_boundary(base);
	b->split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	b->write_unit_size = axon_bdev_get_write_unit_size(base);
	b->required_alignment = align > 1 ? (uint8_t)__builtin_ctzll(align) : 0;
	b->md_len = axon_bdev_get_md_size(base);
	b->md_interleave = axon_bdev_is_md_interleaved(base);
	if (uuid != NULL) {
		b->uuid = *uuid;
	}
	b->fn_table = &g_error_fn_table;
	b->module = &g_error_module;
}

static void error_io_device_free(void *io_device)
{
	error_disk_free(io_device);
}

int vbdev_error_create(const char *base_name, const struct axon_uuid *uuid,
		       struct axon_bdev **bdev)
{
	struct error_disk *disk = calloc(1, sizeof(*disk));
	int rc;

	if (disk == NULL) {
		return -ENOMEM;
	}
	rc = axon_bdev_open_ext(base_name, false, error_base_event, disk, &disk->base_desc);
	if (rc != 0) {
		AXON_ERRLOG("cannot open base bdev %s: %s", base_name, strerror(-rc));
		goto err_free;
	}
	disk->base = axon_bdev_desc_get_bdev(disk->base_desc);
	disk->bdev.name = axon_sprintf_alloc(ERROR_NAME_PREFIX "%s", axon_bdev_get_name(disk->base));
	if (disk->bdev.name == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	if (strlen(disk->bdev.name) > AXON_BDEV_MAX_NAME_LEN) {
		AXON_ERRLOG("error bdev name %s is too long", disk->bdev.name);
		rc = -EINVAL;
		goto err_close;
	}
	rc = axon_bdev_module_claim_bdev(disk->base, disk->base_desc, &g_error_module);
	if (rc != 0) {
		goto err_close;
	}
	error_disk_set_geometry(disk, uuid);
	axon_io_device_register(disk, error_channel_create, error_channel_destroy,
				sizeof(struct error_channel), disk->bdev.name);
	rc = axon_bdev_register(&disk->bdev);
	if (rc != 0) {
		axon_bdev_module_release_bdev(disk->base);
		axon_bdev_close(disk->base_desc);
		/* The io_device key is disk: free it once the unregistration is done. */
		axon_io_device_unregister(disk, error_io_device_free);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_error_disks, disk, link);
	if (bdev != NULL) {
		*bdev = &disk->bdev;
	}
	return 0;

err_close:
	axon_bdev_close(disk->base_desc);
err_free:
	error_disk_free(disk);
	return rc;
}

static void error_release_done(struct axon_io_channel_iter *i, int status)
{
	struct error_release_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct error_disk *disk = axon_io_channel_iter_get_io_device(i);

	(void)status;
	if (ctx->unregister) {
		axon_bdev_unregister(&disk->bdev, ctx->cb, ctx->cb_arg);
	}
	free(ctx);
}

static int error_release_pending(struct error_disk *disk, bool abort, bool unregister,
				 axon_bdev_unregister_cb cb, void *cb_arg)
{
	struct error_release_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		return -ENOMEM;
	}
	*ctx = (struct error_release_ctx){.abort = abort, .unregister = unregister,
					  .cb = cb, .cb_arg = cb_arg};
	axon_for_each_channel(disk, error_channel_release_pending, ctx, error_release_done);
	return 0;
}

int vbdev_error_inject(const char *name, const struct vbdev_error_inject_opts *opts)
{
	struct error_disk *disk;
	bool release = false;
	int rc = 0;

	disk = error_disk_find(name, &rc);
	if (disk == NULL) {
		return rc;
	}
	if (opts->error_type == VBDEV_ERROR_CORRUPT_DATA && opts->corrupt_value == 0 &&
	    opts->io_type_mask != 0 && opts->num != 0) {
		return -EINVAL;
	}
	for (int t = 1; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		struct error_inject *inj = &disk->inject[t];
		bool hit = opts->io_type_mask == 0 || (opts->io_type_mask & (1u << t)) != 0;

		if (!hit) {
			continue;
		}
		/* Off first, so that no I/O sees a half-written injection. */
		atomic_store_explicit(&inj->num, 0, memory_order_release);
		release |= inj->type == VBDEV_ERROR_PENDING;
		if (opts->io_type_mask == 0 || opts->num == 0) {
			continue;
		}
		inj->type = opts->error_type;
		inj->queue_depth = opts->queue_depth;
		inj->corrupt_offset = opts->corrupt_offset;
		inj->corrupt_value = opts->corrupt_value;
		inj->nvme_status = opts->nvme_status;
		inj->sct = opts->sct;
		inj->sc = opts->sc;
		atomic_store_explicit(&inj->num, opts->num, memory_order_release);
	}
	if (release) {
		return error_release_pending(disk, false, false, NULL, NULL);
	}
	return 0;
}

static void error_delete_now(struct error_disk *disk, axon_bdev_unregister_cb cb, void *cb_arg)
{
	disk->deleting = true;
	/* Nothing new is held from here on. */
	for (int t = 0; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		atomic_store(&disk->inject[t].num, 0);
	}
	if (error_release_pending(disk, true, true, cb, cb_arg) != 0) {
		/* No memory for the pass: held I/O (if any) keep the unregistration
		 * waiting, which is still better than losing them. */
		axon_bdev_unregister(&disk->bdev, cb, cb_arg);
	}
}

int vbdev_error_delete(const char *name, axon_bdev_unregister_cb cb, void *cb_arg)
{
	struct error_disk *disk;
	int rc = 0;

	disk = error_disk_find(name, &rc);
	if (disk == NULL) {
		return rc;
	}
	error_delete_now(disk, cb, cb_arg);
	return 0;
}

/* ---- the module ---------------------------------------------------------------- */

static int error_get_ctx_size(void)
{
	return (int)sizeof(struct error_io);
}

struct axon_bdev_module g_error_module = {
	.name = "error",
	.get_ctx_size = error_get_ctx_size,
};
AXON_BDEV_MODULE_REGISTER(error, &g_error_module)
