/*
 * Axon block devices: the user's side of the generic block layer.
 *
 * A bdev is a named array of fixed-size blocks provided by a backend module
 * (drivers/bdev/<name>/, see axon/bdev_module.h). A user opens a descriptor on it
 * (axon_bdev_open_ext), takes a per-thread I/O channel from the descriptor
 * (axon_bdev_get_io_channel), and submits I/O on that channel. Every submit
 * function either returns 0 and later calls its completion callback exactly
 * once, on the submitting thread, or returns a negative errno and never calls
 * it. The callback never runs before the submit function has returned.
 * The callback owns the axon_bdev_io and must release it with
 * axon_bdev_free_io() (it may first read its status or, for a read that the
 * layer gave a buffer, its data).
 *
 * Bounded in flight. bdev_ios come from a fixed pool with per-thread caches.
 * When none is left a submit function returns -ENOMEM; the caller then parks
 * an axon_bdev_io_wait_entry with axon_bdev_queue_io_wait() and resubmits from
 * its callback, which runs as soon as a bdev_io is freed on that thread.
 *
 * Emulation. The layer offers write zeroes, compare and compare-and-write on
 * every bdev that can read and write, emulating what the backend lacks
 * (axon_bdev_io_type_supported answers for the layer, not the backend).
 *
 * Threading contract: unless a function says otherwise it must be called on
 * an axon_thread. A descriptor belongs to the thread that opened it: its
 * event callback runs there and it must be closed there. A channel belongs to
 * the thread that got it; I/O on a channel is submitted and completed there.
 * Nothing on the I/O path takes a lock, allocates, or makes a system call.
 */
#ifndef AXON_BDEV_H
#define AXON_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "axon/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct axon_bdev;
struct axon_bdev_desc;
struct axon_bdev_io;
struct axon_io_channel;
struct axon_memory_domain;
/* The 64-byte NVMe submission queue entry (include/axon/nvme_spec.h). */
struct axon_nvme_cmd;

/** Longest bdev name or alias, without the NUL. */
#define AXON_BDEV_MAX_NAME_LEN 255

/** What an I/O does. Values are stable (they index statistics arrays). */
enum axon_bdev_io_type {
	AXON_BDEV_IO_TYPE_INVALID = 0,
	AXON_BDEV_IO_TYPE_READ,
	AXON_BDEV_IO_TYPE_WRITE,
	AXON_BDEV_IO_TYPE_UNMAP,
	AXON_BDEV_IO_TYPE_FLUSH,
	AXON_BDEV_IO_TYPE_RESET,
	AXON_BDEV_IO_TYPE_NVME_ADMIN,
	AXON_BDEV_IO_TYPE_NVME_IO,
	AXON_BDEV_IO_TYPE_WRITE_ZEROES,
	AXON_BDEV_IO_TYPE_COMPARE,
	AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE,
	AXON_BDEV_NUM_IO_TYPES
};

/** Name of an I/O type as in bdev_get_bdevs' supported_io_types ("read",
 *  "write_zeroes", "nvme_io", ...); NULL for an invalid value. Any thread. */
const char *axon_bdev_io_type_name(enum axon_bdev_io_type type);

/* ---- layer options ------------------------------------------------------- */

/**
 * Pool sizes, fixed once the bdev subsystem has started (bdev_set_options is
 * a start-up RPC). size grows with the structure: set it to
 * sizeof(struct axon_bdev_opts); members beyond a caller's size keep their
 * current values.
 */
struct axon_bdev_opts {
	size_t size;
	/** bdev_ios in the shared pool (default 65535). */
	uint32_t bdev_io_pool_size;
	/** bdev_ios each thread keeps for itself (default 256). The pool must
	 *  hold at least bdev_io_cache_size * (threads + 1). */
	uint32_t bdev_io_cache_size;
	/** Buffers of AXON_BDEV_SMALL_BUF_SIZE bytes (default 8191). */
	uint32_t small_buf_pool_size;
	/** Buffers of AXON_BDEV_LARGE_BUF_SIZE bytes (default 1023). */
	uint32_t large_buf_pool_size;
	/** Run the examine pass on every new bdev (default true). */
	bool bdev_auto_examine;
};

/** Data buffer sizes of the layer's two pools (each 4 KiB aligned). */
#define AXON_BDEV_SMALL_BUF_SIZE (8u * 1024u)
#define AXON_BDEV_LARGE_BUF_SIZE (128u * 1024u)

/** Copy the current options into opts (opts->size must be set). Any thread. */
void axon_bdev_get_opts(struct axon_bdev_opts *opts);

/**
 * Replace the options. Returns 0; -EINVAL if opts->size is 0, a pool is
 * empty, or bdev_io_pool_size < bdev_io_cache_size (logged with the reason);
 * -EBUSY once the bdev subsystem has started.
 */
int axon_bdev_set_opts(const struct axon_bdev_opts *opts);

/* ---- finding bdevs --------------------------------------------------------- */

/**
 * The bdev whose name, alias, or UUID (in its 36-character form) is name, or
 * NULL. The pointer is valid until the bdev is unregistered: use it on the
 * app thread, or open a descriptor to hold the bdev. Any thread.
 */
struct axon_bdev *axon_bdev_get_by_name(const char *name);

/** Every registered bdev in registration order: NULL-terminated iteration. App thread. */
struct axon_bdev *axon_bdev_first(void);
struct axon_bdev *axon_bdev_next(struct axon_bdev *prev);
/** The same over bdevs no module has claimed (the tops of the stacks). */
struct axon_bdev *axon_bdev_first_leaf(void);
struct axon_bdev *axon_bdev_next_leaf(struct axon_bdev *prev);

/* ---- descriptors ---------------------------------------------------------- */

enum axon_bdev_event_type {
	/** The bdev is being unregistered. Stop submitting, put the channels,
	 *  close the descriptor: unregistration waits for every close. I/O in
	 *  flight still completes (success or error) on its own. */
	AXON_BDEV_EVENT_REMOVE,
	/** The block count changed (axon_bdev_get_num_blocks has the new one). */
	AXON_BDEV_EVENT_RESIZE,
};

/** Runs on the descriptor's thread; event_ctx is open_ext's event_ctx. */
typedef void (*axon_bdev_event_cb)(enum axon_bdev_event_type type, struct axon_bdev *bdev,
				   void *event_ctx);

/**
 * Open the bdev named name (name, alias or UUID) on the calling thread.
 * write: the descriptor may submit writes, write zeroes, unmap, compare and
 * write, and NVMe passthrough. event_cb is required.
 * Returns 0 and sets *desc; -EINVAL (NULL name, desc or event_cb, or called
 * off an axon_thread); -ENODEV (no such bdev, or it is being unregistered);
 * -EPERM (write requested but a module holds a write claim on the bdev);
 * -ENOMEM.
 */
int axon_bdev_open_ext(const char *name, bool write, axon_bdev_event_cb event_cb,
		       void *event_ctx, struct axon_bdev_desc **desc);

/**
 * Close a descriptor on the thread that opened it. Every channel taken from it
 * should be put first; I/O still in flight on them completes normally.
 * No event callback runs after this returns.
 */
void axon_bdev_close(struct axon_bdev_desc *desc);

struct axon_bdev *axon_bdev_desc_get_bdev(struct axon_bdev_desc *desc);
bool axon_bdev_desc_is_writable(const struct axon_bdev_desc *desc);

/**
 * This thread's I/O channel to the descriptor's bdev (created on first use,
 * referenced afterwards; release it with axon_put_io_channel). The channel
 * wraps the backend's own channel. Returns NULL if the backend could not give
 * a channel (logged), or the bdev's last descriptor was closed meanwhile.
 */
struct axon_io_channel *axon_bdev_get_io_channel(struct axon_bdev_desc *desc);

/* ---- properties (any thread while the bdev is held open) ---------------- */

const char *axon_bdev_get_name(const struct axon_bdev *bdev);
const char *axon_bdev_get_product_name(const struct axon_bdev *bdev);
const char *axon_bdev_get_module_name(const struct axon_bdev *bdev);
/** Aliases in the order added: *count receives their number; the array is the
 *  layer's and valid until the next alias change. */
const char *const *axon_bdev_get_aliases(const struct axon_bdev *bdev, uint32_t *count);
const struct axon_uuid *axon_bdev_get_uuid(const struct axon_bdev *bdev);
/** Bytes per block (the data part, without separate metadata). */
uint32_t axon_bdev_get_block_size(const struct axon_bdev *bdev);
uint64_t axon_bdev_get_num_blocks(const struct axon_bdev *bdev);
/** Blocks; I/O should not cross a multiple of it (0 = no preference). */
uint32_t axon_bdev_get_optimal_io_boundary(const struct axon_bdev *bdev);
/** Blocks; writes must be a multiple of it, aligned to it (1 = any). */
uint32_t axon_bdev_get_write_unit_size(const struct axon_bdev *bdev);
/** Bytes; data buffers aligned to this need no bounce (1 = any). */
size_t axon_bdev_get_buf_align(const struct axon_bdev *bdev);
/** Metadata bytes per block (0 = none). */
uint32_t axon_bdev_get_md_size(const struct axon_bdev *bdev);
/** True if metadata is interleaved with the data of each block. */
bool axon_bdev_is_md_interleaved(const struct axon_bdev *bdev);
/** True if a module holds a claim on the bdev; *module_name (may be NULL)
 *  receives the claiming module's name. */
bool axon_bdev_is_claimed(const struct axon_bdev *bdev, const char **module_name);
/** True if I/O of type can be submitted, natively or emulated by the layer. */
bool axon_bdev_io_type_supported(struct axon_bdev *bdev, enum axon_bdev_io_type type);
/**
 * Memory domains the bdev's backend reaches directly: stores up to array_size
 * of them in domains (NULL when array_size is 0) and returns how many there
 * are in all (0: local memory only). A buffer of any other domain is pulled
 * or pushed by the layer. Returns -EINVAL for a negative array_size.
 */
int axon_bdev_get_memory_domains(struct axon_bdev *bdev, struct axon_memory_domain **domains,
				 int array_size);
/** True if the backend itself handles type (no emulation). */
bool axon_bdev_io_type_supported_native(struct axon_bdev *bdev, enum axon_bdev_io_type type);

/* ---- I/O ------------------------------------------------------------------- */

/**
 * Completion of one I/O, on the submitting thread. success is true only for
 * status success; the details are in the bdev_io (axon_bdev_io_get_nvme_status).
 * The callee must eventually call axon_bdev_free_io(bdev_io).
 */
typedef void (*axon_bdev_io_completion_cb)(struct axon_bdev_io *bdev_io, bool success,
					   void *cb_arg);

/** Give a completed bdev_io back to the layer (on its thread). */
void axon_bdev_free_io(struct axon_bdev_io *bdev_io);

/**
 * Extra arguments of the _ext forms. size grows with the structure: set it to
 * sizeof(struct axon_bdev_ext_io_opts); members beyond size read as zero.
 * The structure need not outlive the submit call; what it points to must
 * outlive the I/O.
 */
struct axon_bdev_ext_io_opts {
	size_t size;
	/** Domain the data buffers live in (NULL: plain local memory). If the
	 *  backend cannot reach it, the layer pulls the data into local buffers
	 *  before a write and pushes it back after a read. */
	struct axon_memory_domain *memory_domain;
	/** Opaque context handed to the domain's callbacks with the buffers. */
	void *memory_domain_ctx;
	/** Separate metadata buffer, md_size bytes per block (NULL: none). */
	void *metadata;
};

/*
 * Submit functions. Common parameters and returns:
 *   desc, ch      a descriptor and a channel taken from it on this thread;
 *   offset_blocks, num_blocks  the range, in blocks (num_blocks > 0);
 *   offset, nbytes  the same in bytes: both multiples of the block size;
 *   buf / iov, iovcnt  the data: at least num_blocks * block size bytes;
 *                 a read may pass buf NULL (or iov[0].iov_base NULL with
 *                 iovcnt 1) to have the layer supply a buffer, readable from
 *                 the completion callback with axon_bdev_io_get_iovec();
 *   cb, cb_arg    completion (cb is required).
 * Return 0 (cb will run), or:
 *   -EINVAL   the range is empty, beyond the end, or not block-aligned
 *             (byte forms), or a required argument is NULL;
 *   -EBADF    a write-type I/O on a read-only descriptor;
 *   -ENOTSUP  the bdev cannot do this type (axon_bdev_io_type_supported);
 *   -ENOMEM   no bdev_io is free on this thread: see axon_bdev_queue_io_wait.
 * iov arrays are used in place: they must stay valid until completion.
 */
int axon_bdev_read(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_read_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_readv(struct axon_bdev_desc *desc, struct axon_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
		    void *cb_arg);
int axon_bdev_readv_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg);
/** opts may be NULL (same as readv_blocks). Also -EINVAL for a bad opts->size. */
int axon_bdev_readv_blocks_ext(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			       struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			       uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg,
			       const struct axon_bdev_ext_io_opts *opts);

int axon_bdev_write(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
		    uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_write_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_writev(struct axon_bdev_desc *desc, struct axon_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
		     void *cb_arg);
int axon_bdev_writev_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_writev_blocks_ext(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				struct iovec *iov, int iovcnt, uint64_t offset_blocks,
				uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg,
				const struct axon_bdev_ext_io_opts *opts);

/** Zero the range (emulated with writes of a zeroed buffer if the backend lacks it). */
int axon_bdev_write_zeroes(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset, uint64_t nbytes, axon_bdev_io_completion_cb cb,
			   void *cb_arg);
int axon_bdev_write_zeroes_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks,
				  axon_bdev_io_completion_cb cb, void *cb_arg);

/** Deallocate the range (its contents become undefined). Native only. */
int axon_bdev_unmap(struct axon_bdev_desc *desc, struct axon_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_unmap_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg);

/** Make completed writes in the range durable. Native only. Allowed on a
 *  read-only descriptor. */
int axon_bdev_flush(struct axon_bdev_desc *desc, struct axon_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_flush_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   axon_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Reset the bdev: every channel is frozen (new I/O waits in the layer), the
 * layer waits for the I/O in flight, resets the backend, then thaws and
 * resubmits what waited. Resets that arrive while one runs complete with it.
 * Returns 0, -ENOMEM, or -EINVAL (cb NULL).
 */
int axon_bdev_reset(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
		    axon_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Compare the range with buf: success if equal, else the I/O fails with
 * status miscompare (NVMe SCT 2h / SC 85h). Emulated with a read when the
 * backend lacks it. Allowed on a read-only descriptor.
 */
int axon_bdev_compare_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch, void *buf,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_comparev_blocks(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, axon_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Compare the range with compare_iov and, only if equal, write write_iov to
 * it. When the backend lacks the operation the layer runs a compare then a
 * write; such emulated compare-and-writes are serialised per channel, so they
 * are atomic only against others submitted on the same channel.
 */
int axon_bdev_comparev_and_writev_blocks(struct axon_bdev_desc *desc,
					 struct axon_io_channel *ch, struct iovec *compare_iov,
					 int compare_iovcnt, struct iovec *write_iov,
					 int write_iovcnt, uint64_t offset_blocks,
					 uint64_t num_blocks, axon_bdev_io_completion_cb cb,
					 void *cb_arg);

/**
 * Pass an NVMe command straight to a backend that supports it
 * (AXON_BDEV_IO_TYPE_NVME_IO / _NVME_ADMIN). cmd, buf (nbytes of data, may be
 * NULL with 0) must stay valid until completion: the layer keeps pointers.
 * The result is axon_bdev_io_get_nvme_status(). Needs a writable descriptor.
 */
int axon_bdev_nvme_io_passthru(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
			       const struct axon_nvme_cmd *cmd, void *buf, size_t nbytes,
			       axon_bdev_io_completion_cb cb, void *cb_arg);
int axon_bdev_nvme_admin_passthru(struct axon_bdev_desc *desc, struct axon_io_channel *ch,
				  const struct axon_nvme_cmd *cmd, void *buf, size_t nbytes,
				  axon_bdev_io_completion_cb cb, void *cb_arg);

/* ---- waiting for a bdev_io ----------------------------------------------- */

typedef void (*axon_bdev_io_wait_cb)(void *cb_arg);

/**
 * A parked submitter. The caller owns the memory (embed it in its request)
 * and sets bdev, cb_fn and cb_arg; link belongs to the layer while queued.
 */
struct axon_bdev_io_wait_entry {
	struct axon_bdev *bdev;
	axon_bdev_io_wait_cb cb_fn;
	void *cb_arg;
	TAILQ_ENTRY(axon_bdev_io_wait_entry) link;
};

/**
 * After a submit on ch returned -ENOMEM: run entry->cb_fn(entry->cb_arg) on
 * this thread once a bdev_io is free here (entries are served in order). The
 * callback should resubmit; if that fails with -ENOMEM again it may queue again.
 * Returns 0; -EINVAL if entry->bdev is not ch's bdev or cb_fn is NULL, or if a
 * bdev_io is free on this thread right now (submit instead).
 */
int axon_bdev_queue_io_wait(struct axon_bdev *bdev, struct axon_io_channel *ch,
			    struct axon_bdev_io_wait_entry *entry);

/* ---- completed I/O ---------------------------------------------------------- */

/**
 * The NVMe completion of an I/O: for a backend that reported an NVMe error,
 * its exact status; otherwise the layer's mapping of the generic status
 * (success 0/0; failed and out of memory: generic/Internal Device Error 06h;
 * aborted: generic/Command Abort Requested 07h; miscompare: media/Compare
 * Failure 85h). cdw0, sct and sc may each be NULL.
 */
void axon_bdev_io_get_nvme_status(const struct axon_bdev_io *bdev_io, uint32_t *cdw0, int *sct,
				  int *sc);

/** The data buffers of an I/O (e.g. the buffer the layer supplied to a read). */
void axon_bdev_io_get_iovec(struct axon_bdev_io *bdev_io, struct iovec **iovp, int *iovcntp);

/** The I/O's type, and the bdev it targeted. */
enum axon_bdev_io_type axon_bdev_io_get_type(const struct axon_bdev_io *bdev_io);
struct axon_bdev *axon_bdev_io_get_bdev(const struct axon_bdev_io *bdev_io);

/* ---- multi-region I/O ------------------------------------------------------ */

/** At most this many regions per multi-region I/O (one bit each in error_bits). */
#define AXON_BDEV_MULTI_MAX_REGIONS 64

/** One place to read from or write to: an open descriptor, a channel taken
 *  from it on this thread, and a range of that bdev. */
struct axon_bdev_region {
	struct axon_bdev_desc *desc;
	struct axon_io_channel *ch;
	uint64_t offset_blocks;
	uint64_t num_blocks;
};

/** Completion: bit i of error_bits is set if region i failed. */
typedef void (*axon_bdev_multi_cb)(uint64_t error_bits, void *cb_arg);

/** Caller-owned state of one multi-region I/O (embed it in a request: no
 *  allocation happens). Members are the layer's while the I/O runs. */
struct axon_bdev_multi_io {
	const struct axon_bdev_region *regions;
	uint32_t num_regions;
	uint32_t next;          /* first region not yet submitted */
	uint32_t outstanding;   /* submitted, not completed */
	uint64_t pending_bits;  /* regions submitted, not completed */
	bool write;
	bool submitting;
	uint64_t error_bits;
	struct iovec *iov;
	int iovcnt;
	axon_bdev_multi_cb cb;
	void *cb_arg;
	struct axon_bdev_io_wait_entry wait;
};

/**
 * Write the same data (iov: num_blocks blocks of each region, which must all
 * be the same length in bytes) to every region. Regions that cannot get a
 * bdev_io wait for one (no -ENOMEM). cb runs once, after every region
 * completed, with the per-region error bitmap. regions and iov must stay valid
 * until then. A region whose submission is rejected (e.g. a read-only
 * descriptor) counts as failed; when every region is rejected cb runs before
 * this returns. Returns 0; -EINVAL for 0 or more than
 * AXON_BDEV_MULTI_MAX_REGIONS regions, unequal lengths, or a NULL argument
 * (cb then never runs).
 */
int axon_bdev_multi_writev(struct axon_bdev_multi_io *mio, const struct axon_bdev_region *regions,
			   uint32_t num_regions, struct iovec *iov, int iovcnt,
			   axon_bdev_multi_cb cb, void *cb_arg);
/** Read one region into iov; cb gets bit 0 set on failure. As above. */
int axon_bdev_multi_readv(struct axon_bdev_multi_io *mio, const struct axon_bdev_region *region,
			  struct iovec *iov, int iovcnt, axon_bdev_multi_cb cb, void *cb_arg);

/* ---- statistics ------------------------------------------------------------ */

/** Counters of one I/O type. Latencies are in ticks (axon_get_ticks_hz per
 *  second), from submission by the user to completion by the backend. */
struct axon_bdev_io_type_stat {
	uint64_t ops;                /* completed successfully */
	uint64_t bytes;              /* of successful ops (0 for flush/reset) */
	uint64_t errors;             /* completed with any other status */
	uint64_t latency_ticks;      /* sum over successful ops */
	uint64_t min_latency_ticks;  /* UINT64_MAX while ops == 0 */
	uint64_t max_latency_ticks;
};

struct axon_bdev_io_stat {
	struct axon_bdev_io_type_stat type[AXON_BDEV_NUM_IO_TYPES];
};

/** Zero a stat (min latencies to UINT64_MAX). Any thread. */
void axon_bdev_io_stat_init(struct axon_bdev_io_stat *stat);
/** Add src into dst (sums, and min/max merged). Any thread. */
void axon_bdev_io_stat_add(struct axon_bdev_io_stat *dst, const struct axon_bdev_io_stat *src);

/** Copy the statistics of one channel (on its thread). */
void axon_bdev_get_io_stat(struct axon_bdev *bdev, struct axon_io_channel *ch,
			   struct axon_bdev_io_stat *stat);

typedef void (*axon_bdev_get_device_stat_cb)(struct axon_bdev *bdev,
					     struct axon_bdev_io_stat *stat, void *cb_arg,
					     int rc);
/**
 * Gather the bdev's statistics over all its channels, past and present, into
 * stat (caller memory, valid until cb), visiting each channel on its thread.
 * cb(bdev, stat, cb_arg, rc) runs on the calling thread (possibly before this
 * returns); rc is 0, or -ENOMEM (stat then holds nothing). The caller must hold
 * a descriptor, or call on the app thread and not unregister meanwhile.
 */
void axon_bdev_get_device_stat(struct axon_bdev *bdev, struct axon_bdev_io_stat *stat,
			       axon_bdev_get_device_stat_cb cb, void *cb_arg);

/* ---- QoS ------------------------------------------------------------------ */

/** The limits of axon_bdev_set_qos_rate_limits, in the order of the
 *  bdev_set_qos_limit RPC's parameters. */
enum axon_bdev_qos_rate_limit_type {
	/** Reads and writes (and the other data-moving types) per second. */
	AXON_BDEV_QOS_RW_IOPS_RATE_LIMIT,
	/** Read plus write MiB (2^20 bytes) per second. */
	AXON_BDEV_QOS_RW_BPS_RATE_LIMIT,
	/** Read MiB per second. */
	AXON_BDEV_QOS_R_BPS_RATE_LIMIT,
	/** Write MiB per second. */
	AXON_BDEV_QOS_W_BPS_RATE_LIMIT,
	AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES
};

/** A limit that axon_bdev_set_qos_rate_limits leaves as it is. */
#define AXON_BDEV_QOS_LIMIT_NOT_DEFINED UINT64_MAX

/**
 * Set the bdev's QoS limits: limits[type] (AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES
 * values) in I/Os or MiB per second; 0 turns a limit off,
 * AXON_BDEV_QOS_LIMIT_NOT_DEFINED keeps it. I/O beyond a limit waits in the
 * layer (no error). Enforcement: every channel draws tokens from buckets the
 * bdev's channels share (atomics, no lock), refilled from the elapsed time;
 * a channel whose I/O waits retries every millisecond. cb(cb_arg, status)
 * runs on the calling thread once every channel applies the change (status
 * 0, -ENOMEM, or -EBUSY while a previous change is still being applied).
 * App thread; the caller must hold the bdev open (or not unregister it) meanwhile.
 */
void axon_bdev_set_qos_rate_limits(struct axon_bdev *bdev, const uint64_t *limits,
				   void (*cb)(void *cb_arg, int status), void *cb_arg);

/** The bdev's current limits (0: off), as set. App thread. */
void axon_bdev_get_qos_rate_limits(struct axon_bdev *bdev, uint64_t *limits);

/* ---- latency histograms ------------------------------------------------------ */

/**
 * Start (enable) or stop counting completion latencies into a histogram per
 * channel (stopping drops the counts). cb(cb_arg, status) runs on the calling
 * thread once every channel applied it (status 0, -ENOMEM, or -EBUSY while a
 * previous change is being applied). App thread.
 */
void axon_bdev_histogram_enable(struct axon_bdev *bdev, bool enable,
				void (*cb)(void *cb_arg, int status), void *cb_arg);

/**
 * As axon_bdev_histogram_enable, choosing the layout and what is counted:
 * bucket_shift 1 to 15 (SPDK's "granularity"; axon_bdev_histogram_enable
 * uses 7), and type, the only I/O type counted (AXON_BDEV_IO_TYPE_INVALID:
 * every type). Enabling again with other values restarts the counts.
 * cb's status is also -EINVAL for a bucket_shift out of range.
 */
void axon_bdev_histogram_enable_ext(struct axon_bdev *bdev, bool enable, uint32_t bucket_shift,
				    enum axon_bdev_io_type type,
				    void (*cb)(void *cb_arg, int status), void *cb_arg);

/** True if latency histograms are on for the bdev. */
bool axon_bdev_histogram_is_enabled(const struct axon_bdev *bdev);

/**
 * A latency histogram, in ticks (axon_get_ticks_hz per second), in the layout
 * of SPDK's histograms: 65 - bucket_shift ranges of 2^bucket_shift buckets
 * each. Range 0 counts latencies 0 .. 2^bucket_shift - 1, one value per
 * bucket; range r >= 1 counts 2^(bucket_shift+r-1) .. 2^(bucket_shift+r) - 1,
 * 2^(r-1) values per bucket. bucket[(r << bucket_shift) + i].
 */
struct axon_bdev_histogram {
	uint32_t bucket_shift;
	uint32_t num_buckets;
	uint64_t bucket[];
};

typedef void (*axon_bdev_histogram_cb)(void *cb_arg, int status,
				       struct axon_bdev_histogram *histogram);

/**
 * Merge the histograms of every channel of the bdev into one (allocated
 * here, freed with free() by the callee of cb). cb runs on the calling
 * thread with status 0, -EINVAL (histograms are off: histogram NULL) or
 * -ENOMEM. App thread.
 */
void axon_bdev_histogram_get(struct axon_bdev *bdev, axon_bdev_histogram_cb cb, void *cb_arg);

/* ---- waiting for examine ---------------------------------------------------- */

/**
 * Run cb(cb_arg) on the calling thread once no examine is in progress (now, if
 * none is). Returns 0 or -ENOMEM. App thread.
 */
int axon_bdev_wait_for_examine(void (*cb)(void *cb_arg), void *cb_arg);

#ifdef __cplusplus
}
#endif
#endif /* AXON_BDEV_H */
