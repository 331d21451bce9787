/*
 * Axon block devices: the backend's side of the generic block layer.
 *
 * A backend (drivers/bdev/<name>/) is a module: a `struct axon_bdev_module`
 * registered at program start with AXON_BDEV_MODULE_REGISTER. It creates
 * bdevs by filling a `struct axon_bdev` (the members marked "backend" below)
 * with a `const struct axon_bdev_fn_table` and calling axon_bdev_register().
 *
 * The layer calls fn_table->submit_request(ch, bdev_io) on the thread of the
 * backend channel ch (obtained through fn_table->get_io_channel on that
 * thread). The backend completes each bdev_io exactly once, on that same
 * thread, with axon_bdev_io_complete() (or one of its variants); it may do so
 * from inside submit_request: the layer then defers the user's callback.
 *
 * What the layer does for the backend: range and permission checks, per-I/O
 * context (module->get_ctx_size bytes at bdev_io->driver_ctx), data buffers
 * for reads that came without one (axon_bdev_io_get_buf), requeueing of I/O
 * completed with AXON_BDEV_IO_STATUS_NOMEM, reset sequencing, write-zeroes and
 * compare emulation, statistics.
 *
 * Threading contract: registration, unregistration and claims run on the app
 * thread (RPC handlers run there). The I/O functions run on the I/O's thread.
 */
#ifndef AXON_BDEV_MODULE_H
#define AXON_BDEV_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <jansson.h>

#include "axon/bdev.h"
#include "axon/thread.h"
#include "axon/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- modules ------------------------------------------------------------- */

struct axon_bdev_module {
	/** Module name: the "module" of bdev_get_bdevs ("malloc", "null", ...).
	 *  Required. */
	const char *name;

	/** Set up the module when the bdev subsystem starts. Returns 0 or a
	 *  negative errno, which fails start-up. Optional. */
	int (*module_init)(void);

	/** Tear down, after every bdev has been unregistered. Optional. When
	 *  async_fini is set the module calls axon_bdev_module_fini_done() once
	 *  it has finished (possibly later); otherwise it is done on return. */
	void (*module_fini)(void);
	bool async_fini;

	/** Look at a new bdev from the configuration alone (no I/O), possibly
	 *  claiming it. Must call axon_bdev_module_examine_done(module) exactly
	 *  once, before returning. Optional. */
	void (*examine_config)(struct axon_bdev *bdev);

	/** Look at a new bdev by reading it (e.g. for a superblock), possibly
	 *  claiming it; runs after every module's examine_config, and only for
	 *  the claiming module if the bdev got claimed there. Must call
	 *  axon_bdev_module_examine_done(module) exactly once, possibly later.
	 *  Optional. */
	void (*examine_disk)(struct axon_bdev *bdev);

	/** Bytes of per-I/O context the module needs at bdev_io->driver_ctx
	 *  (8-byte aligned, not zeroed). Optional: none. */
	int (*get_ctx_size)(void);

	/** Append to array the {"method","params"} objects that recreate the
	 *  module's global settings (not its bdevs: see write_config_json). Runs
	 *  in save_config, before any bdev's entry. Optional. */
	void (*config_json)(json_t *array);

	/* Owned by lib/bdev. */
	uint32_t internal_examine_in_progress;
	TAILQ_ENTRY(axon_bdev_module) internal_link;
};

void axon_bdev_module_list_add(struct axon_bdev_module *module);
#define AXON_BDEV_MODULE_REGISTER(NAME, MODULE)                                         \
	__attribute__((constructor)) static void axon_bdev_module_register_##NAME(void) \
	{                                                                               \
		axon_bdev_module_list_add(MODULE);                                      \
	}

/** The registered module named name, or NULL. */
struct axon_bdev_module *axon_bdev_module_find(const char *name);

/** End one examine_config or examine_disk call (see above). */
void axon_bdev_module_examine_done(struct axon_bdev_module *module);
/** End an async_fini module's module_fini. */
void axon_bdev_module_fini_done(void);

/* ---- the backend's function table ---------------------------------------- */

struct axon_bdev_fn_table {
	/**
	 * Free the backend's bdev (ctx is bdev->ctxt). Runs once, after the last
	 * descriptor closed, every channel was released and every I/O completed.
	 * Returns 0 when done, > 0 when it will call axon_bdev_destruct_done()
	 * later, or a negative errno (logged; the bdev is gone all the same).
	 * Required.
	 */
	int (*destruct)(void *ctx);

	/**
	 * Start bdev_io on ch, the backend channel of the calling thread (from
	 * get_io_channel). Never fails directly: completes the I/O with a
	 * status instead, possibly before returning. Required.
	 */
	void (*submit_request)(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io);

	/** True if submit_request handles type. READ and WRITE must be
	 *  supported. Required. */
	bool (*io_type_supported)(void *ctx, enum axon_bdev_io_type type);

	/** The calling thread's backend channel (a reference the layer puts when
	 *  the bdev channel goes away). NULL fails the bdev channel. Required. */
	struct axon_io_channel *(*get_io_channel)(void *ctx);

	/** Fill driver_specific (an object bdev_get_bdevs shows under
	 *  "driver_specific") with backend details, e.g. {"malloc": {...}}.
	 *  Returns 0 or a negative errno. Optional. */
	int (*dump_info_json)(void *ctx, json_t *driver_specific);

	/** Append to array the {"method","params"} object that recreates this
	 *  bdev (e.g. bdev_malloc_create with name, uuid, sizes). Optional: a
	 *  bdev without it is not saved. */
	void (*write_config_json)(struct axon_bdev *bdev, json_t *array);

	/** Memory domains the backend reaches directly: store up to array_size
	 *  of them in domains (may be NULL when array_size is 0) and return how
	 *  many there are in all (0: only local memory), or a negative errno.
	 *  Optional. */
	int (*get_memory_domains)(void *ctx, struct axon_memory_domain **domains,
				  int array_size);
};

/* ---- the bdev ------------------------------------------------------------ */

/* Layer-private state of a bdev. */
struct bdev_internal;

struct axon_bdev {
	/** Backend: context handed to every fn_table callback. */
	void *ctxt;
	/** Backend: unique name, at most AXON_BDEV_MAX_NAME_LEN characters.
	 *  The layer copies it at registration. Required. */
	char *name;
	/** Backend: human-readable kind ("Malloc disk", "Null disk"). The layer
	 *  copies it. Required. */
	char *product_name;
	/** Backend: bytes per block, a multiple of 512 (data only). Required. */
	uint32_t blocklen;
	/** Backend: number of blocks (> 0). Required. */
	uint64_t blockcnt;
	/** Backend: a volatile write cache exists (flush matters). Optional. */
	bool write_cache;
	/** Backend: preferred boundary in blocks (0: none). Optional. */
	uint32_t optimal_io_boundary;
	/** Backend: have the layer split I/O that crosses optimal_io_boundary
	 *  (otherwise it is only a hint). Optional. */
	bool split_on_optimal_io_boundary;
	/** Backend: writes must be multiples of this many blocks, aligned to it
	 *  (0 or 1: any). Optional. */
	uint32_t write_unit_size;
	/** Backend: data buffers must be aligned to 2^required_alignment bytes
	 *  (0: no requirement; e.g. 9 for 512 bytes, 12 for 4 KiB). The layer
	 *  bounces buffers that are not. Optional. */
	uint8_t required_alignment;
	/** Backend: most bytes in one iovec element (0: unlimited). Optional. */
	uint32_t max_segment_size;
	/** Backend: most iovec elements per I/O (0: unlimited). Optional. */
	uint32_t max_num_segments;
	/** Backend: most blocks per read or write (0: unlimited). Optional. */
	uint32_t max_rw_size;
	/** Backend: metadata bytes per block (0: none). Optional. */
	uint32_t md_len;
	/** Backend: metadata is interleaved with each block's data (else it is
	 *  in a separate buffer, axon_bdev_io_get_md_buf). Optional. */
	bool md_interleave;
	/** Backend: identity. A null UUID gets a random one at registration.
	 *  Optional. */
	struct axon_uuid uuid;
	/** Backend: callbacks. Required. */
	const struct axon_bdev_fn_table *fn_table;
	/** Backend: the module that owns the bdev. Required. */
	struct axon_bdev_module *module;

	/** Owned by lib/bdev: allocated at registration, freed after destruct. */
	struct bdev_internal *internal;
};

/**
 * Register bdev: copies name and product_name, generates a UUID if it is
 * null, validates the geometry, then runs the examine pass (unless turned off
 * by bdev_auto_examine). App thread.
 * Returns 0; -EINVAL for a missing required member or bad geometry (logged
 * with the member and why); -EEXIST if the name, or the UUID, is taken by a
 * name, alias or UUID of another bdev (logged); -ENOMEM; -ENODEV if the bdev
 * subsystem is not running.
 */
int axon_bdev_register(struct axon_bdev *bdev);

typedef void (*axon_bdev_unregister_cb)(void *cb_arg, int rc);

/**
 * Unregister bdev asynchronously: new opens fail with -ENODEV, every open
 * descriptor gets AXON_BDEV_EVENT_REMOVE; once the last one closed, every
 * channel is gone and every I/O completed, fn_table->destruct runs and then
 * cb(cb_arg, rc) (rc 0, or destruct's error) on the calling thread. cb may be
 * NULL. Unregistering twice completes the second call with -EBUSY; a NULL bdev
 * with -ENODEV.
 */
void axon_bdev_unregister(struct axon_bdev *bdev, axon_bdev_unregister_cb cb, void *cb_arg);

/** Unregister the bdev named name if module owns it: cb as above. Returns 0;
 *  -ENODEV (no such bdev), or -EINVAL (owned by another module); cb then
 *  never runs. */
int axon_bdev_unregister_by_name(const char *name, struct axon_bdev_module *module,
				 axon_bdev_unregister_cb cb, void *cb_arg);

/** An async destruct (returned > 0) has finished with rc. Any thread. */
void axon_bdev_destruct_done(struct axon_bdev *bdev, int rc);

/**
 * Claim bdev for module: it may be stacked on (e.g. a mirror leg). Other
 * descriptors cannot open it for writing while it is claimed. desc, if not
 * NULL, is the claimer's own descriptor and is upgraded to writable.
 * Returns 0; -EPERM if another module holds a claim (logged with its name) or
 * another descriptor is open for writing. App thread.
 */
int axon_bdev_module_claim_bdev(struct axon_bdev *bdev, struct axon_bdev_desc *desc,
				struct axon_bdev_module *module);
/** Drop module's claim. */
void axon_bdev_module_release_bdev(struct axon_bdev *bdev);

/** Add or remove an alias (as unique as a name). Return 0, -EEXIST, -EINVAL
 *  (empty, too long), -ENOENT (remove: no such alias) or -ENOMEM. App thread. */
int axon_bdev_alias_add(struct axon_bdev *bdev, const char *alias);
int axon_bdev_alias_del(struct axon_bdev *bdev, const char *alias);

/**
 * The backend's block count changed to blockcnt. Open descriptors get
 * AXON_BDEV_EVENT_RESIZE. Returns 0; -EBUSY when shrinking a bdev that has
 * open descriptors; -EINVAL for 0. App thread.
 */
int axon_bdev_notify_blockcnt_change(struct axon_bdev *bdev, uint64_t blockcnt);

/** The bdev behind an io_device pointer the layer registered (for tests). */
void *axon_bdev_get_io_device(struct axon_bdev *bdev);

/* ---- the I/O as the backend sees it ---------------------------------------- */

/** How an I/O ended. Negative values are failures. */
enum axon_bdev_io_status {
	/** Compare found a difference (NVMe 2h/85h). */
	AXON_BDEV_IO_STATUS_MISCOMPARE = -5,
	/** Aborted (by a reset or hot-remove; NVMe 0h/07h). */
	AXON_BDEV_IO_STATUS_ABORTED = -4,
	/** The backend ran out of a resource: the layer resubmits the I/O later
	 *  (when another I/O of the channel completes, or after a short delay);
	 *  the user never sees this status. */
	AXON_BDEV_IO_STATUS_NOMEM = -3,
	/** Failed with an NVMe status (axon_bdev_io_complete_nvme_status). */
	AXON_BDEV_IO_STATUS_NVME_ERROR = -2,
	/** Failed (NVMe 0h/06h). */
	AXON_BDEV_IO_STATUS_FAILED = -1,
	/** Not completed yet. */
	AXON_BDEV_IO_STATUS_PENDING = 0,
	AXON_BDEV_IO_STATUS_SUCCESS = 1,
};

typedef void (*axon_bdev_io_get_buf_cb)(struct axon_io_channel *ch,
					struct axon_bdev_io *bdev_io, bool success);

/* Layer-private per-channel state. */
struct bdev_channel;

/** iovecs a child of a split I/O carries (a child that would need more is
 *  cut short at a block boundary). */
#define AXON_BDEV_IO_CHILD_IOVS 16

struct axon_bdev_io {
	/** The bdev the I/O targets. */
	struct axon_bdev *bdev;
	/** enum axon_bdev_io_type. */
	uint8_t type;

	/** Arguments, by type. */
	union {
		/** READ, WRITE, WRITE_ZEROES, UNMAP, FLUSH, COMPARE, COMPARE_AND_WRITE. */
		struct {
			/** Data (READ, WRITE, COMPARE: the compare data; COMPARE_AND_WRITE:
			 *  the compare data). NULL/0 for types without data. */
			struct iovec *iovs;
			int iovcnt;
			/** COMPARE_AND_WRITE: the data to write if the compare matched. */
			struct iovec *fused_iovs;
			int fused_iovcnt;
			/** Separate metadata buffer (md_len bytes per block), or NULL. */
			void *md_buf;
			uint64_t offset_blocks;
			uint64_t num_blocks;
			/** The domain iovs live in (NULL: local memory). Set only when
			 *  the backend listed it in get_memory_domains. */
			struct axon_memory_domain *memory_domain;
			void *memory_domain_ctx;
			/** Storage that iovs / fused_iovs point at for one-buffer I/O. */
			struct iovec iov;
			struct iovec fused_iov;
		} bdev;
		/** NVME_IO, NVME_ADMIN. */
		struct {
			const struct axon_nvme_cmd *cmd;
			void *buf;
			size_t nbytes;
		} nvme_passthru;
	} u;

	/** Free for the backend while it owns the I/O (its own queues). */
	TAILQ_ENTRY(axon_bdev_io) module_link;

	/** Owned by lib/bdev: backends must not touch. */
	struct {
		struct bdev_channel *ch;
		struct axon_bdev_desc *desc;
		axon_bdev_io_completion_cb cb;
		void *cb_arg;
		uint64_t submit_tsc;
		int8_t status;
		bool in_submit;
		uint16_t flags;
		uint8_t nvme_sct;
		uint8_t nvme_sc;
		uint32_t nvme_cdw0;
		STAILQ_ENTRY(axon_bdev_io) stailq;
		TAILQ_ENTRY(axon_bdev_io) link;
		/* Pool buffer given by axon_bdev_io_get_buf (element, length). */
		void *buf;
		uint64_t buf_len;
		axon_bdev_io_get_buf_cb get_buf_cb;
		/* Emulation and splitting: the parent of a child I/O, and the
		 * parent's own progress. */
		struct axon_bdev_io *parent;
		uint64_t emu_offset;
		uint64_t emu_remaining;
		uint64_t emu_done_bytes;
		uint32_t emu_outstanding;
		uint8_t emu_step;
		bool emu_failed;
		struct iovec emu_iov;
		struct axon_bdev_io_wait_entry waitq;
		TAILQ_ENTRY(axon_bdev_io) range_link;
		/* Staging (bounce buffer, memory-domain pull/push): where the
		 * user's data is while u.bdev.iovs points at a layer buffer. */
		struct iovec *orig_iovs;
		int orig_iovcnt;
		uint64_t orig_skip;
		struct axon_memory_domain *orig_domain;
		void *orig_domain_ctx;
		struct iovec stage_iov;
		/* Splitting: a parent's progress (next block, blocks left,
		 * children in flight, first failure, cursor in its iovs). */
		uint64_t split_offset;
		uint64_t split_remaining;
		uint32_t split_outstanding;
		int8_t split_status;
		int split_iov_idx;
		uint64_t split_iov_off;
		/* A split child's own iovecs. */
		struct iovec child_iov[AXON_BDEV_IO_CHILD_IOVS];
	} internal;

	/** Backend: module->get_ctx_size() bytes of per-I/O context. */
	uint8_t driver_ctx[] __attribute__((aligned(8)));
};

/**
 * Complete bdev_io with status (not PENDING). The user's callback runs now, or
 * later if the backend is still inside submit_request. NOMEM requeues (see
 * above). On the I/O's thread.
 */
void axon_bdev_io_complete(struct axon_bdev_io *bdev_io, enum axon_bdev_io_status status);

/** Complete with an NVMe completion: success if sct == 0 and sc == 0, else
 *  status NVME_ERROR with the given cdw0/sct/sc kept for the user. */
void axon_bdev_io_complete_nvme_status(struct axon_bdev_io *bdev_io, uint32_t cdw0, int sct,
				       int sc);

/** Complete from an errno-style result (aio, io_uring): 0 success, -ENOMEM
 *  and -EAGAIN NOMEM (requeued), anything else FAILED. */
void axon_bdev_io_complete_errno(struct axon_bdev_io *bdev_io, int neg_errno);

/**
 * Make sure a read has a data buffer of len bytes (len <=
 * AXON_BDEV_LARGE_BUF_SIZE), aligned for the bdev. If the user gave one,
 * cb(ch, bdev_io, true) runs at once; otherwise a buffer from the layer's
 * pools is attached to u.bdev.iovs[0] (now, or when one frees up) and cb
 * runs then; cb(.., false) if len is too large. The buffer goes back to the
 * pool with the bdev_io. ch is the backend channel given to submit_request.
 */
void axon_bdev_io_get_buf(struct axon_bdev_io *bdev_io, axon_bdev_io_get_buf_cb cb, uint64_t len);

/* Accessors (static inline: they cost nothing on the I/O path). */

static inline void *axon_bdev_io_get_driver_ctx(struct axon_bdev_io *bdev_io)
{
	return bdev_io->driver_ctx;
}

/** The bdev_io whose driver_ctx is ctx. */
static inline struct axon_bdev_io *axon_bdev_io_from_ctx(void *ctx)
{
	return AXON_CONTAINEROF(ctx, struct axon_bdev_io, driver_ctx);
}

static inline uint64_t axon_bdev_io_get_offset_blocks(const struct axon_bdev_io *bdev_io)
{
	return bdev_io->u.bdev.offset_blocks;
}

static inline uint64_t axon_bdev_io_get_num_blocks(const struct axon_bdev_io *bdev_io)
{
	return bdev_io->u.bdev.num_blocks;
}

static inline void *axon_bdev_io_get_md_buf(const struct axon_bdev_io *bdev_io)
{
	return bdev_io->u.bdev.md_buf;
}

/** The thread the I/O was submitted on (where it must complete). */
struct axon_thread *axon_bdev_io_get_thread(struct axon_bdev_io *bdev_io);
/** The backend channel the I/O was submitted to. */
struct axon_io_channel *axon_bdev_io_get_io_channel(struct axon_bdev_io *bdev_io);

#ifdef __cplusplus
}
#endif
#endif /* AXON_BDEV_MODULE_H */
