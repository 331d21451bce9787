/*
 * lib/bdev private types, shared by its files:
 *   bdev.c          modules, registration, unregistration, lookup, open/close, claims
 *   bdev_subsystem.c  options, pools, per-thread management channels, subsystem, examine
 *   bdev_io.c       submission, completion, io_wait, NOMEM requeue, buffers
 *   bdev_emu.c      write-zeroes, compare and compare-and-write emulation
 *   bdev_channel.c  bdev channels, statistics
 *   bdev_reset.c    the reset state machine
 *   bdev_multi.c    multi-region I/O
 *   bdev_split.c    splitting I/O at boundaries and limits
 *   bdev_bounce.c   staging: bounce buffers, memory-domain pull and push
 *   bdev_qos.c      QoS rate limits (token buckets)
 *   bdev_histogram.c  latency histograms
 *   bdev_rpc.c      layer-wide RPCs (bdev_qos_rpc.c, bdev_histogram_rpc.c)
 */
#ifndef AXON_BDEV_INTERNAL_H
#define AXON_BDEV_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>

#include "axon/bdev.h"
#include "axon/bdev_module.h"
#include "axon/env.h"
#include "axon/log.h"
#include "axon/thread.h"
#include "axon/util.h"

/* Buffers are aligned to this (the largest required_alignment honoured
 * without a bounce). */
#define BDEV_BUF_ALIGN 4096u
/* Per-thread buffer caches. */
#define BDEV_SMALL_BUF_CACHE 128u
#define BDEV_LARGE_BUF_CACHE 16u
/* How often a thread whose waiters found the pools empty looks again (us). */
#define BDEV_WAIT_RETRY_US 100u
/* How often a channel retries NOMEM I/O when none of its I/O is in flight (us). */
#define BDEV_NOMEM_RETRY_US 1000u
/* Memory domains of a backend that the layer remembers. */
#define BDEV_MAX_MEMORY_DOMAINS 8
/* Deferred completions run per poll of the completion poller. */
#define BDEV_DEFERRED_BUDGET 256u

/* bdev_io->internal.flags */
#define BDEV_IO_F_CHILD 0x01        /* issued by the layer for a parent */
#define BDEV_IO_F_EMULATED 0x02     /* a parent whose work the layer does */
#define BDEV_IO_F_RESET_BACKEND 0x04 /* the reset sent to the backend */
#define BDEV_IO_F_LARGE_BUF 0x08    /* internal.buf is from the large pool */
#define BDEV_IO_F_BUF_TO_IOV 0x10   /* attach the buffer to u.bdev.iovs[0] (get_buf) */
#define BDEV_IO_F_STAGED 0x20       /* u.bdev.iovs is a layer buffer; orig_* the user's */
#define BDEV_IO_F_FOREIGN 0x40      /* data in orig_domain, which the backend cannot reach */
#define BDEV_IO_F_SPLIT 0x80        /* a parent split into children */
#define BDEV_IO_F_GATHER 0x100      /* a child staged from its parent's iovs (orig_skip) */
#define BDEV_IO_F_SPLIT_STAGED 0x200 /* a split parent whose children are staged */
/* Largest I/O the layer stages in one buffer. */
#define BDEV_STAGE_MAX_BYTES AXON_BDEV_LARGE_BUF_SIZE
/* Children of one split parent in flight at once. */
#define BDEV_SPLIT_MAX_CHILDREN 32u

/* Types whose completion moves data (they count bytes in statistics). */
#define BDEV_BYTES_TYPES                                                          \
	((1u << AXON_BDEV_IO_TYPE_READ) | (1u << AXON_BDEV_IO_TYPE_WRITE) |        \
	 (1u << AXON_BDEV_IO_TYPE_UNMAP) | (1u << AXON_BDEV_IO_TYPE_WRITE_ZEROES) | \
	 (1u << AXON_BDEV_IO_TYPE_COMPARE) | (1u << AXON_BDEV_IO_TYPE_COMPARE_AND_WRITE))

/* bdev_channel->flags */
#define BDEV_CH_FROZEN 0x01

enum bdev_state {
	BDEV_STATE_ACTIVE,
	BDEV_STATE_UNREGISTERING,
};

/* Steps of unregistration (bdev.c: unregister_step). */
enum bdev_unreg_step {
	UNREG_NOTIFY,       /* tell every descriptor; refuse new opens */
	UNREG_WAIT_CLOSE,   /* until the last descriptor closed */
	UNREG_CHANNELS,     /* unregister the io_device: waits for every channel */
	UNREG_WAIT_IO,      /* until channels that outlived their put drained their I/O */
	UNREG_DESTRUCT,     /* the backend's destruct */
	UNREG_WAIT_DESTRUCT, /* an async destruct */
	UNREG_DONE,         /* unlink, free, report */
};

/* Steps of a reset (bdev_reset.c: reset_step). */
enum bdev_reset_state {
	RESET_IDLE,         /* no reset running */
	RESET_FREEZE,       /* mark every channel frozen: new I/O waits in the layer */
	RESET_DRAIN,        /* count I/O in flight on every channel; wait until 0 */
	RESET_SUBMIT,       /* send the reset to the backend (on the leader's thread) */
	RESET_WAIT_BACKEND, /* until the backend completed it */
	RESET_THAW,         /* unfreeze every channel, resubmitting what waited */
	RESET_DONE,         /* complete the leader and every reset that joined it */
};

TAILQ_HEAD(bdev_io_tailq, axon_bdev_io);

#define BDEV_QOS_NUM_LIMITS AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES

struct bdev_qos;

struct bdev_reset {
	enum bdev_reset_state state;
	struct axon_bdev_io *leader;
	struct bdev_io_tailq joined; /* resets that arrived meanwhile */
	uint64_t outstanding;              /* sum of one DRAIN pass */
	uint64_t drain_deadline;           /* ticks */
	struct axon_poller *poller;        /* DRAIN retry, on the app thread */
	int8_t backend_status;
};

struct axon_bdev_desc {
	struct axon_bdev *bdev;
	struct axon_thread *thread;
	axon_bdev_event_cb event_cb;
	void *event_ctx;
	bool write;
	bool closed;
	uint32_t refs; /* pending event messages (under g_bdev_mgr.lock) */
	TAILQ_ENTRY(axon_bdev_desc) link;
};

struct bdev_internal {
	struct axon_bdev *bdev;
	char *name;
	char *product_name;
	char **aliases;
	uint32_t alias_count;
	char uuid_str[AXON_UUID_STRING_LEN];
	enum bdev_state state;
	/* Native I/O types, one bit per enum axon_bdev_io_type. */
	uint32_t native_types;
	/* Memory domains the backend reaches (get_memory_domains), at most
	 * BDEV_MAX_MEMORY_DOMAINS of them. */
	struct axon_memory_domain *domains[BDEV_MAX_MEMORY_DOMAINS];
	int domain_count;
	TAILQ_HEAD(, axon_bdev_desc) open_descs;
	struct axon_bdev_module *claim_module;
	TAILQ_ENTRY(bdev_internal) link;

	/* Examine: modules yet to answer for this bdev (app thread). */
	uint32_t examine_pending;

	/* Unregistration (app thread). */
	enum bdev_unreg_step unreg_step;
	struct axon_thread *unreg_thread;
	axon_bdev_unregister_cb unreg_cb;
	void *unreg_cb_arg;
	int unreg_rc;
	/* One reference per live bdev_channel plus one for the registration. */
	atomic_uint live_channels;

	/* Statistics of channels that are gone (under g_bdev_mgr.lock). */
	struct axon_bdev_io_stat stat_gone;

	/* Channels are frozen while > 0 (new channels start frozen). */
	atomic_uint frozen;
	struct bdev_reset reset;

	/* QoS (bdev_qos.c): the shared buckets channels draw from (NULL: no
	 * limit), the limits as set (app thread), a change in progress. */
	_Atomic(struct bdev_qos *) qos;
	uint64_t qos_limits[BDEV_QOS_NUM_LIMITS];
	bool qos_busy;
	/* Latency histograms (bdev_histogram.c): on for new channels. */
	atomic_bool histogram_enabled;
	bool histogram_busy;
	/* Layout and I/O type (0: all) of the histograms, set before a walk. */
	_Atomic uint32_t histogram_shift;
	_Atomic uint8_t histogram_type;
};

/* Per-thread state shared by every bdev channel of the thread. */
struct bdev_mgmt_channel {
	STAILQ_HEAD(, axon_bdev_io) io_cache;
	uint32_t io_cache_count;
	TAILQ_HEAD(, axon_bdev_io_wait_entry) io_wait_queue;

	STAILQ_HEAD(, axon_bdev_io) deferred;
	struct axon_poller *deferred_poller;
	bool deferred_active;

	/* Buffer caches: free buffers linked through their first bytes. */
	STAILQ_HEAD(, bdev_buf) small_cache;
	STAILQ_HEAD(, bdev_buf) large_cache;
	uint32_t small_count;
	uint32_t large_count;
	struct bdev_io_tailq need_small;
	struct bdev_io_tailq need_large;

	/* Retries the shared pools for waiters when nothing frees locally. */
	struct axon_poller *wait_poller;
	bool wait_active;
};

struct bdev_buf {
	STAILQ_ENTRY(bdev_buf) link;
};

struct bdev_channel {
	struct axon_bdev *bdev;
	struct axon_io_channel *backend_ch;
	struct axon_io_channel *mgmt_ioch;
	struct bdev_mgmt_channel *mgmt;
	struct axon_thread *thread;
	uint32_t flags;
	uint32_t native_types; /* copy of the bdev's, for the submit path */
	bool defunct;        /* its axon_io_channel is gone; freed when held == 0 */
	uint64_t held;       /* bdev_ios taken and not yet freed */
	uint64_t io_outstanding; /* submitted to the backend, not completed */
	struct bdev_io_tailq nomem_io;
	struct bdev_io_tailq frozen_io;
	struct axon_poller *nomem_poller;
	/* An emulated compare-and-write runs; others wait (atomicity per channel). */
	bool caw_busy;
	struct bdev_io_tailq caw_waiting;
	struct axon_bdev_io_stat stat;
	/* READ/WRITE may need splitting or staging: check each one. */
	bool rw_check;
	/* QoS: the bdev's buckets (NULL: no limit) and the I/O waiting for
	 * tokens, retried by qos_poller every BDEV_QOS_SLICE_US. */
	struct bdev_qos *qos;
	struct bdev_io_tailq qos_queue;
	struct axon_poller *qos_poller;
	/* Latency histogram of this channel's completions (NULL: off), and
	 * the one I/O type it counts (0: every type). */
	struct axon_bdev_histogram *histogram;
	uint8_t histogram_type;
};

struct bdev_mgr {
	pthread_mutex_t lock; /* bdev list, descs, claims, aliases (control path) */
	TAILQ_HEAD(bdev_internal_list_head, bdev_internal) bdevs;
	TAILQ_HEAD(axon_bdev_module_list_head, axon_bdev_module) modules;
	struct axon_bdev_opts opts;
	bool running;
	struct axon_mempool *io_pool;
	struct axon_mempool *small_pool;
	struct axon_mempool *large_pool;
	size_t io_size;
	void *zero_buf; /* AXON_BDEV_LARGE_BUF_SIZE zeroes, for write-zeroes emulation */
	uint32_t examine_in_progress;
	/* Anchor of the per-thread management channels' io_device. */
	char mgmt_io_device;
};

extern struct bdev_mgr g_bdev_mgr;

static inline struct bdev_channel *bdev_ch_get(struct axon_io_channel *ch)
{
	return *(struct bdev_channel **)axon_io_channel_get_ctx(ch);
}

static inline uint64_t bdev_io_bytes(const struct axon_bdev_io *io)
{
	return io->u.bdev.num_blocks * io->bdev->blocklen;
}

/* bdev.c */
void bdev_unregister_resume(struct bdev_internal *bi);
void bdev_unregister_all(void (*cb)(void));
void bdev_examine(struct axon_bdev *bdev);
void bdev_module_fini_all(void (*cb)(void));

/* bdev_subsystem.c */
int bdev_mgr_init(void);
void bdev_mgr_fini(void (*cb)(void));
struct bdev_mgmt_channel *bdev_mgmt_get(struct axon_io_channel **ioch);
void bdev_mgmt_wait_arm(struct bdev_mgmt_channel *mgmt);

/* bdev_io.c */
struct axon_bdev_io *bdev_io_alloc(struct bdev_channel *bch);
void bdev_io_submit(struct axon_bdev_io *io);
void bdev_io_submit_backend(struct axon_bdev_io *io);
void bdev_io_finish(struct axon_bdev_io *io);
void bdev_io_deferred_poll_start(struct bdev_mgmt_channel *mgmt);
int bdev_deferred_poll(void *arg);
int bdev_wait_poll(void *arg);
void bdev_mgmt_serve_waiters(struct bdev_mgmt_channel *mgmt);
void bdev_buf_put(struct bdev_mgmt_channel *mgmt, void *buf, bool large);
void bdev_io_buf_alloc(struct axon_bdev_io *io, uint64_t len, axon_bdev_io_get_buf_cb cb);
void bdev_channel_retry_nomem(struct bdev_channel *bch);
void bdev_io_complete_status(struct axon_bdev_io *io, enum axon_bdev_io_status status);
void bdev_io_buf_attach(struct axon_bdev_io *io, void *buf, bool large);
static inline void *bdev_io_buf_ptr(const struct axon_bdev_io *io)
{
	return (void *)AXON_ALIGN_UP((uintptr_t)io->internal.buf, (uintptr_t)BDEV_BUF_ALIGN);
}

/* bdev_emu.c */
void bdev_emu_start(struct axon_bdev_io *io);
void bdev_emu_caw_next(struct bdev_channel *bch);

/* bdev_channel.c */
int bdev_channel_create(void *io_device, void *ctx_buf);
void bdev_channel_destroy(void *io_device, void *ctx_buf);
void bdev_channel_maybe_free(struct bdev_channel *bch);
void bdev_stat_account(struct bdev_channel *bch, struct axon_bdev_io *io, uint64_t now);

/* bdev_split.c */
bool bdev_split_needed(struct axon_bdev_io *io);
void bdev_split_start(struct axon_bdev_io *io);
void bdev_io_rw_prepare(struct axon_bdev_io *io);

/* bdev_bounce.c */
bool bdev_stage_needed(const struct axon_bdev_io *io);
void bdev_stage_start(struct axon_bdev_io *io);
bool bdev_stage_finish(struct axon_bdev_io *io);
bool bdev_reaches_domain(const struct axon_bdev *bdev, const struct axon_memory_domain *d);

/* bdev_qos.c */
#define BDEV_QOS_SLICE_US 1000u
bool bdev_qos_admit(struct bdev_channel *bch, struct axon_bdev_io *io);
int bdev_qos_channel_init(struct bdev_channel *bch);
void bdev_qos_channel_abort(struct bdev_channel *bch);
void bdev_qos_channel_fini(struct bdev_channel *bch);
void bdev_qos_free(struct bdev_internal *bi);

void bdev_qos_config_json(struct axon_bdev *bdev, json_t *array);

/* bdev_histogram.c */
#define BDEV_HISTOGRAM_SHIFT 7u
#define BDEV_HISTOGRAM_MAX_SHIFT 15u
void bdev_histogram_tally(struct axon_bdev_histogram *h, uint64_t value);
struct axon_bdev_histogram *bdev_histogram_alloc(uint32_t shift);
void bdev_histogram_merge(struct axon_bdev_histogram *dst, const struct axon_bdev_histogram *src);

/* bdev_io.c: route an I/O that passed freeze and QoS. */
void bdev_io_dispatch(struct axon_bdev_io *io);

/* bdev_reset.c */
void bdev_reset_start(struct axon_bdev_io *io);
void bdev_reset_backend_done(struct axon_bdev_io *io);

#endif /* AXON_BDEV_INTERNAL_H */
