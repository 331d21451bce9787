/*
 * NVMe bdev I/O path: a per-thread channel to each controller owning one I/O
 * qpair, a per-thread poll group reaping every qpair of the thread, command
 * submission and completion (the NVMe status passed up unchanged), and the
 * reset: I/O is held while a qpair is down and resubmitted once it is back,
 * or failed with Host Pathing Error once the controller is given up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "axon/env.h"
#include "axon/log.h"
#include "bdev_nvme_internal.h"

/* How often a disconnected qpair looks at its controller again (it is resetting). */
#define NVME_RECONNECT_POLL_US 1000
/* Back off this long after a qpair connect itself failed. */
#define NVME_RECONNECT_RETRY_US 100000
/* Held I/O resubmitted per channel per poll. */
#define NVME_RESUBMIT_BUDGET 128

/* Generic command status codes we act on. */
#define NVME_SC_ABORTED_BY_REQUEST 0x07
#define NVME_SC_ABORTED_SQ_DELETION 0x08
#define NVME_SC_TRANSIENT_TRANSPORT 0x22
#define NVME_SCT_GENERIC 0
#define NVME_SCT_PATH 3

static uint64_t now_us(void)
{
	return axon_get_ticks() * 1000000u / axon_get_ticks_hz();
}

static struct nvme_ctrlr_channel *io_channel_of(struct axon_bdev_io *bdev_io)
{
	return axon_io_channel_get_ctx(axon_bdev_io_get_io_channel(bdev_io));
}

/* ---- status decisions ------------------------------------------------------------------- */

bool nvme_io_should_retry(uint16_t status, uint32_t retries, int32_t retry_count,
			  bool ctrlr_failed)
{
	uint8_t sct = AXON_NVME_STATUS_SCT(status), sc = AXON_NVME_STATUS_SC(status);
	bool retriable;

	if (ctrlr_failed || (status & AXON_NVME_STATUS_DNR) != 0) {
		return false;
	}
	retriable = (sct == NVME_SCT_GENERIC && (sc == NVME_SC_ABORTED_SQ_DELETION ||
						 sc == NVME_SC_TRANSIENT_TRANSPORT)) ||
		    sct == NVME_SCT_PATH;
	if (!retriable) {
		return false;
	}
	return retry_count < 0 || retries < (uint32_t)retry_count;
}

/* I/O fails at once rather than wait: the controller is given up, or fast_io_fail passed. */
static bool channel_fails_fast(const struct nvme_ctrlr_channel *cch)
{
	return axon_nvme_ctrlr_is_fast_io_fail(cch->nctrlr->ctrlr);
}

static void io_complete_lost(struct axon_bdev_io *bdev_io)
{
	axon_bdev_io_complete_nvme_status(bdev_io, 0, NVME_BDEV_LOST_SCT, NVME_BDEV_LOST_SC);
}

/* ---- the poll group ------------------------------------------------------------------------ */

static void group_wake(struct nvme_poll_group *pg)
{
	if (pg->paused) {
		pg->paused = false;
		axon_poller_resume(pg->poller);
	}
}

/* Hold bdev_io until the channel's qpair is back (or fail it if that will not happen). */
static void io_hold(struct nvme_ctrlr_channel *cch, struct axon_bdev_io *bdev_io)
{
	if (channel_fails_fast(cch)) {
		io_complete_lost(bdev_io);
		return;
	}
	TAILQ_INSERT_TAIL(&cch->pending, bdev_io, module_link);
	group_wake(cch->group);
}

static void fail_pending(struct nvme_ctrlr_channel *cch)
{
	struct axon_bdev_io *bdev_io;

	while ((bdev_io = TAILQ_FIRST(&cch->pending)) != NULL) {
		TAILQ_REMOVE(&cch->pending, bdev_io, module_link);
		io_complete_lost(bdev_io);
	}
}

static void channel_disconnected(struct nvme_ctrlr_channel *cch)
{
	if (cch->state == NVME_CH_CONNECTED) {
		AXON_NOTICELOG("%s: I/O qpair lost; I/O waits for the controller\n",
			       cch->nctrlr->name);
		cch->state = NVME_CH_DISCONNECTED;
		cch->next_reconnect_us = 0;
	}
}

static void group_disconnected_cb(struct axon_nvme_qpair *qpair, void *group_ctx)
{
	struct nvme_poll_group *pg = group_ctx;
	struct nvme_ctrlr_channel *cch;

	TAILQ_FOREACH(cch, &pg->channels, link) {
		if (cch->qpair == qpair) {
			channel_disconnected(cch);
			return;
		}
	}
}

static int io_submit(struct nvme_ctrlr_channel *cch, struct axon_bdev_io *bdev_io);
static void io_dispatch(struct nvme_ctrlr_channel *cch, struct axon_bdev_io *bdev_io);

static void resubmit_pending(struct nvme_ctrlr_channel *cch)
{
	struct axon_bdev_io *bdev_io;
	uint32_t n = 0;

	while (cch->state == NVME_CH_CONNECTED && n++ < NVME_RESUBMIT_BUDGET &&
	       (bdev_io = TAILQ_FIRST(&cch->pending)) != NULL) {
		TAILQ_REMOVE(&cch->pending, bdev_io, module_link);
		io_dispatch(cch, bdev_io);
	}
}

/*
 * Connecting a qpair. lib/nvme connects synchronously (it polls the new
 * qpair until the Connect completes), which on a reactor would stall every
 * thread there, and deadlock outright when the target is in this same
 * process (a bdev_nvme -> nvmf loop). So the qpair is allocated on a short
 * helper pthread and handed to the channel's thread by a message; the
 * channel holds its I/O meanwhile. The qpair is used only by its channel's
 * thread from then on.
 */
struct qpair_connect {
	struct nvme_bdev_ctrlr *nctrlr;
	struct axon_thread *thread;
	struct nvme_ctrlr_channel *cch; /* NULL once the channel is gone */
	struct axon_nvme_qpair *qpair;
};

static void qpair_connect_release(struct qpair_connect *c)
{
	struct nvme_bdev_ctrlr *nctrlr = c->nctrlr;

	free(c);
	if (__atomic_sub_fetch(&nctrlr->qpair_refs, 1, __ATOMIC_ACQ_REL) == 0) {
		axon_thread_send_msg(nctrlr->thread, nvme_ctrlr_qpair_refs_drained, nctrlr);
	}
}

static void qpair_connect_done(void *arg)
{
	struct qpair_connect *c = arg;
	struct nvme_ctrlr_channel *cch = c->cch;
	int rc;

	if (cch == NULL) {
		if (c->qpair != NULL) {
			axon_nvme_ctrlr_free_io_qpair(c->qpair);
		}
		qpair_connect_release(c);
		return;
	}
	cch->connecting = NULL;
	if (c->qpair == NULL) {
		cch->next_reconnect_us = now_us() + NVME_RECONNECT_RETRY_US;
	} else if ((rc = axon_nvme_poll_group_add(cch->group->group, c->qpair)) != 0) {
		AXON_ERRLOG("%s: cannot add a qpair to the poll group: %d\n", cch->nctrlr->name, rc);
		axon_nvme_ctrlr_free_io_qpair(c->qpair);
		cch->next_reconnect_us = now_us() + NVME_RECONNECT_RETRY_US;
	} else {
		cch->qpair = c->qpair;
		if (cch->state == NVME_CH_DISCONNECTED) {
			cch->state = NVME_CH_CONNECTED;
			AXON_INFOLOG("%s: I/O qpair %u connected\n", cch->nctrlr->name,
				     axon_nvme_qpair_get_id(c->qpair));
			resubmit_pending(cch);
		}
	}
	group_wake(cch->group);
	qpair_connect_release(c);
}

static void *qpair_connect_thread(void *arg)
{
	struct qpair_connect *c = arg;

	c->qpair = axon_nvme_ctrlr_alloc_io_qpair(c->nctrlr->ctrlr, NULL);
	if (axon_thread_send_msg(c->thread, qpair_connect_done, c) != 0) {
		/* The channel's thread is gone, and the channel with it. */
		if (c->qpair != NULL) {
			axon_nvme_ctrlr_free_io_qpair(c->qpair);
		}
		qpair_connect_release(c);
	}
	return NULL;
}

/* Start connecting a new qpair for cch. Returns 0, -EAGAIN (the controller is
 * not ready: try later), -ENXIO (given up) or -ENOMEM. */
static int channel_start_connect(struct nvme_ctrlr_channel *cch)
{
	struct axon_nvme_ctrlr *ctrlr = cch->nctrlr->ctrlr;
	struct qpair_connect *c;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (cch->connecting != NULL) {
		return 0;
	}
	if (axon_nvme_ctrlr_is_failed(ctrlr)) {
		return -ENXIO;
	}
	/* Checked first so that a resetting controller costs no error message. */
	if (axon_nvme_ctrlr_get_state(ctrlr) != AXON_NVME_CTRLR_STATE_READY) {
		return -EAGAIN;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->nctrlr = cch->nctrlr;
	c->thread = axon_get_thread();
	c->cch = cch;
	__atomic_add_fetch(&cch->nctrlr->qpair_refs, 1, __ATOMIC_ACQ_REL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, qpair_connect_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		AXON_ERRLOG("%s: cannot start a qpair connect thread: %d\n", cch->nctrlr->name, rc);
		qpair_connect_release(c);
		return -ENOMEM;
	}
	cch->connecting = c;
	return 0;
}

/* Bring a disconnected channel back: a fresh qpair replaces the lost one. */
static void channel_reconnect(struct nvme_ctrlr_channel *cch)
{
	int rc;

	if (cch->connecting != NULL) {
		return;
	}
	if (cch->qpair != NULL) {
		/* Not from a completion callback: we run from the poller or a message. */
		axon_nvme_ctrlr_free_io_qpair(cch->qpair);
		cch->qpair = NULL;
	}
	rc = channel_start_connect(cch);
	if (rc != 0) {
		cch->next_reconnect_us = now_us() + (rc == -EAGAIN ? NVME_RECONNECT_POLL_US
								   : NVME_RECONNECT_RETRY_US);
	}
}

/* Returns true if it did anything. */
static bool channel_service(struct nvme_ctrlr_channel *cch)
{
	switch (cch->state) {
	case NVME_CH_CONNECTED:
		if (TAILQ_EMPTY(&cch->pending)) {
			return false;
		}
		resubmit_pending(cch);
		return true;
	case NVME_CH_DISCONNECTED:
		if (channel_fails_fast(cch) && !TAILQ_EMPTY(&cch->pending)) {
			fail_pending(cch);
			return true;
		}
		if (cch->connecting != NULL || now_us() < cch->next_reconnect_us) {
			return false;
		}
		channel_reconnect(cch);
		return false;
	case NVME_CH_RESETTING:
		/* Our reset gives the qpair back; only a lost controller ends the wait early. */
		if (channel_fails_fast(cch) && !TAILQ_EMPTY(&cch->pending)) {
			fail_pending(cch);
			return true;
		}
		return false;
	}
	return false;
}

static bool channel_is_idle(const struct nvme_ctrlr_channel *cch)
{
	return cch->num_outstanding == 0 && TAILQ_EMPTY(&cch->pending);
}


/*
 * Reap completions of every qpair of this thread, then look after the
 * channels whose qpair is down. With no I/O anywhere the poller pauses (the
 * next submission resumes it), so an idle thread can sleep.
 */
static int nvme_poll_group_poll(void *arg)
{
	struct nvme_poll_group *pg = arg;
	struct nvme_ctrlr_channel *cch, *tmp;
	bool busy = false, idle = true;
	int64_t rc;

	rc = axon_nvme_poll_group_process_completions(pg->group, 0, group_disconnected_cb);
	if (rc > 0) {
		busy = true;
	}
	TAILQ_FOREACH_SAFE(cch, &pg->channels, link, tmp) {
		if (cch->state != NVME_CH_CONNECTED || !TAILQ_EMPTY(&cch->pending)) {
			busy |= channel_service(cch);
		}
		idle &= channel_is_idle(cch);
	}
	if (idle) {
		pg->paused = true;
		axon_poller_pause(pg->poller);
		return busy ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
	}
	/*
	 * Commands are in flight: report busy even if none completed now. Our
	 * sockets are not among the thread's wake fds (lib/nvme does not expose
	 * its poll group's fd), so an idle report could let the reactor sleep
	 * through their completions.
	 */
	return AXON_POLLER_BUSY;
}

int nvme_poll_group_create_cb(void *io_device, void *ctx_buf)
{
	struct nvme_poll_group *pg = ctx_buf;

	(void)io_device;
	TAILQ_INIT(&pg->channels);
	pg->group = axon_nvme_poll_group_create(pg);
	if (pg->group == NULL) {
		return -ENOMEM;
	}
	pg->poller = axon_poller_register_named(nvme_poll_group_poll, pg, 0, "nvme_poll_group");
	if (pg->poller == NULL) {
		axon_nvme_poll_group_destroy(pg->group);
		return -ENOMEM;
	}
	return 0;
}

void nvme_poll_group_destroy_cb(void *io_device, void *ctx_buf)
{
	struct nvme_poll_group *pg = ctx_buf;

	(void)io_device;
	axon_poller_unregister(&pg->poller);
	if (axon_nvme_poll_group_destroy(pg->group) != 0) {
		AXON_ERRLOG("NVMe poll group destroyed with qpairs left\n");
	}
}

/* ---- the channel of a controller ------------------------------------------------------------ */

int nvme_ctrlr_channel_create(void *io_device, void *ctx_buf)
{
	struct nvme_ctrlr_channel *cch = ctx_buf;

	cch->nctrlr = io_device;
	TAILQ_INIT(&cch->pending);
	cch->group_ch = axon_get_io_channel(&g_nvme_poll_groups);
	if (cch->group_ch == NULL) {
		AXON_ERRLOG("%s: no NVMe poll group on this thread\n", cch->nctrlr->name);
		return -ENOMEM;
	}
	cch->group = axon_io_channel_get_ctx(cch->group_ch);
	TAILQ_INSERT_TAIL(&cch->group->channels, cch, link);
	/* I/O waits until the qpair is connected (or fails once the controller is lost). */
	cch->state = NVME_CH_DISCONNECTED;
	channel_reconnect(cch);
	return 0;
}

void nvme_ctrlr_channel_destroy(void *io_device, void *ctx_buf)
{
	struct nvme_ctrlr_channel *cch = ctx_buf;
	struct axon_bdev_io *bdev_io;

	(void)io_device;
	cch->destroying = true;
	if (cch->connecting != NULL) {
		cch->connecting->cch = NULL; /* its qpair is freed when it arrives */
		cch->connecting = NULL;
	}
	if (cch->qpair != NULL) {
		axon_nvme_ctrlr_free_io_qpair(cch->qpair);
		cch->qpair = NULL;
	}
	while ((bdev_io = TAILQ_FIRST(&cch->pending)) != NULL) {
		TAILQ_REMOVE(&cch->pending, bdev_io, module_link);
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_ABORTED);
	}
	TAILQ_REMOVE(&cch->group->channels, cch, link);
	axon_put_io_channel(cch->group_ch);
}

/* ---- submission and completion ---------------------------------------------------------------- */

static void io_done(void *cb_arg, const struct axon_nvme_cpl *cpl)
{
	struct axon_bdev_io *bdev_io = cb_arg;
	struct nvme_bdev_io *nio = axon_bdev_io_get_driver_ctx(bdev_io);
	struct nvme_ctrlr_channel *cch = io_channel_of(bdev_io);
	uint16_t status = axon_nvme_cpl_get_status(cpl);

	cch->num_outstanding--;
	if (!axon_nvme_cpl_is_error(cpl)) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	if (!cch->destroying) {
		/* Aborted because our own reset dropped the qpair: always resubmitted. */
		if (cch->state == NVME_CH_RESETTING &&
		    status == AXON_NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_ABORTED_SQ_DELETION)) {
			io_hold(cch, bdev_io);
			return;
		}
		if (nvme_io_should_retry(status, nio->retries, g_nvme_bdev_opts.bdev_retry_count,
					 axon_nvme_ctrlr_is_failed(cch->nctrlr->ctrlr))) {
			nio->retries++;
			io_hold(cch, bdev_io);
			return;
		}
	}
	axon_bdev_io_complete_nvme_status(bdev_io, cpl->cdw0, AXON_NVME_STATUS_SCT(status),
					  AXON_NVME_STATUS_SC(status));
}

static int io_submit_unmap(struct axon_nvme_ns *ns, struct nvme_ctrlr_channel *cch,
			   struct axon_bdev_io *bdev_io)
{
	struct nvme_bdev_io *nio = axon_bdev_io_get_driver_ctx(bdev_io);

	/* One DSM range holds 2^32 - 1 blocks; the layer's unmaps stay well below. */
	if (bdev_io->u.bdev.num_blocks > UINT32_MAX) {
		return -EINVAL;
	}
	nio->range.cattr = 0;
	nio->range.nlb = (uint32_t)bdev_io->u.bdev.num_blocks;
	nio->range.slba = bdev_io->u.bdev.offset_blocks;
	return axon_nvme_ns_cmd_dsm(ns, cch->qpair, NVME_DSMGMT_AD, &nio->range, 1, io_done,
				    bdev_io);
}

static int io_submit_passthru(struct axon_nvme_ns *ns, struct nvme_ctrlr_channel *cch,
			      struct axon_bdev_io *bdev_io)
{
	struct axon_nvme_cmd cmd = *bdev_io->u.nvme_passthru.cmd;

	if (bdev_io->u.nvme_passthru.nbytes > UINT32_MAX) {
		return -EINVAL;
	}
	/* The bdev is one namespace: the command goes to that namespace. */
	cmd.nsid = axon_nvme_ns_get_id(ns);
	return axon_nvme_ctrlr_cmd_io_raw(cch->nctrlr->ctrlr, cch->qpair, &cmd,
					  bdev_io->u.nvme_passthru.buf,
					  (uint32_t)bdev_io->u.nvme_passthru.nbytes, io_done, bdev_io);
}

/*
 * Hand bdev_io to lib/nvme. Returns 0 when submitted, -ENODEV when the
 * namespace is gone, or the submit error.
 */
static int io_submit(struct nvme_ctrlr_channel *cch, struct axon_bdev_io *bdev_io)
{
	struct nvme_bdev *nbdev = bdev_io->bdev->ctxt;
	struct axon_nvme_ns *ns = __atomic_load_n(&nbdev->ns, __ATOMIC_ACQUIRE);
	uint64_t lba = bdev_io->u.bdev.offset_blocks;
	uint32_t count = (uint32_t)bdev_io->u.bdev.num_blocks;

	if (ns == NULL) {
		return -ENODEV;
	}
	switch (bdev_io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		return axon_nvme_ns_cmd_readv(ns, cch->qpair, bdev_io->u.bdev.iovs,
					      bdev_io->u.bdev.iovcnt, lba, count, io_done, bdev_io,
					      0);
	case AXON_BDEV_IO_TYPE_WRITE:
		return axon_nvme_ns_cmd_writev(ns, cch->qpair, bdev_io->u.bdev.iovs,
					       bdev_io->u.bdev.iovcnt, lba, count, io_done,
					       bdev_io, 0);
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return axon_nvme_ns_cmd_write_zeroes(ns, cch->qpair, lba, count, io_done, bdev_io,
						     0);
	case AXON_BDEV_IO_TYPE_UNMAP:
		return io_submit_unmap(ns, cch, bdev_io);
	case AXON_BDEV_IO_TYPE_FLUSH:
		return axon_nvme_ns_cmd_flush(ns, cch->qpair, io_done, bdev_io);
	case AXON_BDEV_IO_TYPE_NVME_IO:
		return io_submit_passthru(ns, cch, bdev_io);
	default:
		return -ENOTSUP;
	}
}

/* Submit now, hold, or complete with the reason it cannot go. */
static void io_dispatch(struct nvme_ctrlr_channel *cch, struct axon_bdev_io *bdev_io)
{
	int rc;

	if (cch->state != NVME_CH_CONNECTED) {
		io_hold(cch, bdev_io);
		return;
	}
	rc = io_submit(cch, bdev_io);
	switch (rc) {
	case 0:
		cch->num_outstanding++;
		group_wake(cch->group);
		return;
	case -ENXIO:
		channel_disconnected(cch);
		io_hold(cch, bdev_io);
		return;
	case -ENOMEM:
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_NOMEM);
		return;
	case -ENODEV:
		axon_bdev_io_complete_nvme_status(bdev_io, 0, NVME_SCT_GENERIC,
						  NVME_BDEV_NS_GONE_SC);
		return;
	default:
		AXON_ERRLOG("%s: cannot submit I/O type %u: %d\n", cch->nctrlr->name,
			    bdev_io->type, rc);
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
}

static void read_buf_cb(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io, bool success)
{
	if (!success) {
		axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_FAILED);
		return;
	}
	io_dispatch(axon_io_channel_get_ctx(ch), bdev_io);
}

/* ---- a bdev reset: reset the controller ------------------------------------------------------- */

static void reset_io_complete(void *arg)
{
	struct axon_bdev_io *bdev_io = arg;
	struct nvme_bdev_io *nio = axon_bdev_io_get_driver_ctx(bdev_io);

	axon_bdev_io_complete(bdev_io, nio->retries == 0 ? AXON_BDEV_IO_STATUS_SUCCESS
							 : AXON_BDEV_IO_STATUS_FAILED);
}

static void reset_io_done(void *cb_arg, int rc)
{
	struct axon_bdev_io *bdev_io = cb_arg;
	struct nvme_bdev_io *nio = axon_bdev_io_get_driver_ctx(bdev_io);

	/* retries carries the outcome back to the I/O's thread. */
	nio->retries = rc == 0 ? 0 : 1;
	axon_thread_send_msg(axon_bdev_io_get_thread(bdev_io), reset_io_complete, bdev_io);
}

static void reset_io_start(void *arg)
{
	struct axon_bdev_io *bdev_io = arg;
	struct nvme_bdev *nbdev = bdev_io->bdev->ctxt;

	nvme_bdev_ctrlr_reset(nbdev->nctrlr, reset_io_done, bdev_io);
}

void nvme_bdev_submit_request(struct axon_io_channel *ch, struct axon_bdev_io *bdev_io)
{
	struct nvme_ctrlr_channel *cch = axon_io_channel_get_ctx(ch);
	struct nvme_bdev_io *nio = axon_bdev_io_get_driver_ctx(bdev_io);

	nio->retries = 0;
	switch (bdev_io->type) {
	case AXON_BDEV_IO_TYPE_READ:
		if (bdev_io->u.bdev.iovs[0].iov_base == NULL) {
			axon_bdev_io_get_buf(bdev_io, read_buf_cb,
					     bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
			return;
		}
		break;
	case AXON_BDEV_IO_TYPE_FLUSH:
		if (!bdev_io->bdev->write_cache) {
			axon_bdev_io_complete(bdev_io, AXON_BDEV_IO_STATUS_SUCCESS);
			return;
		}
		break;
	case AXON_BDEV_IO_TYPE_RESET:
		axon_thread_send_msg(cch->nctrlr->thread, reset_io_start, bdev_io);
		return;
	default:
		break;
	}
	/* Behind I/O already held, so that order is kept. */
	if (!TAILQ_EMPTY(&cch->pending)) {
		io_hold(cch, bdev_io);
		return;
	}
	io_dispatch(cch, bdev_io);
}

bool nvme_bdev_io_type_supported(void *ctx, enum axon_bdev_io_type type)
{
	struct nvme_bdev *nbdev = ctx;
	const struct nvme_id_ctrl *cdata = axon_nvme_ctrlr_get_data(nbdev->nctrlr->ctrlr);

	switch (type) {
	case AXON_BDEV_IO_TYPE_READ:
	case AXON_BDEV_IO_TYPE_WRITE:
	case AXON_BDEV_IO_TYPE_FLUSH:
	case AXON_BDEV_IO_TYPE_RESET:
	case AXON_BDEV_IO_TYPE_NVME_IO:
		return true;
	case AXON_BDEV_IO_TYPE_UNMAP:
		return (cdata->oncs & NVME_CTRL_ONCS_DSM) != 0;
	case AXON_BDEV_IO_TYPE_WRITE_ZEROES:
		return (cdata->oncs & NVME_CTRL_ONCS_WRITE_ZEROES) != 0;
	default:
		return false;
	}
}

int nvme_bdev_get_ctx_size(void)
{
	return (int)sizeof(struct nvme_bdev_io);
}

/* ---- controller reset as bdev users see it ------------------------------------------------------ */

static void reset_finish(struct nvme_bdev_ctrlr *nctrlr)
{
	struct nvme_reset_waiter *w;
	TAILQ_HEAD(, nvme_reset_waiter) done = TAILQ_HEAD_INITIALIZER(done);

	nctrlr->reset_step = NVME_RESET_STEP_NONE;
	TAILQ_CONCAT(&done, &nctrlr->reset_waiters, link);
	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, link);
		w->cb(w->cb_arg, nctrlr->reset_rc);
		free(w);
	}
}

static void reset_new_qpair(struct axon_io_channel_iter *i)
{
	struct nvme_bdev_ctrlr *nctrlr = axon_io_channel_iter_get_ctx(i);
	struct nvme_ctrlr_channel *cch =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));

	cch->state = NVME_CH_DISCONNECTED;
	cch->next_reconnect_us = 0;
	if (nctrlr->reset_rc != 0) {
		fail_pending(cch);
	} else {
		channel_reconnect(cch);
	}
	group_wake(cch->group);
	axon_for_each_channel_continue(i, 0);
}

static void reset_new_qpairs_done(struct axon_io_channel_iter *i, int status)
{
	struct nvme_bdev_ctrlr *nctrlr = axon_io_channel_iter_get_ctx(i);

	(void)status;
	AXON_NOTICELOG("%s: reset %s\n", nctrlr->name,
		       nctrlr->reset_rc == 0 ? "done" : "failed: the controller is lost");
	reset_finish(nctrlr);
}

void nvme_bdev_ctrlr_lib_reset_done(struct nvme_bdev_ctrlr *nctrlr, int rc)
{
	if (nctrlr->reset_step != NVME_RESET_STEP_CTRLR) {
		/* lib/nvme reconnected on its own: each channel reconnects by itself. */
		return;
	}
	nctrlr->reset_rc = rc;
	nctrlr->reset_step = NVME_RESET_STEP_NEW_QPAIRS;
	axon_for_each_channel(nctrlr, reset_new_qpair, nctrlr, reset_new_qpairs_done);
}

static void reset_drop_qpair(struct axon_io_channel_iter *i)
{
	struct nvme_ctrlr_channel *cch =
		axon_io_channel_get_ctx(axon_io_channel_iter_get_channel(i));
	struct axon_nvme_qpair *qpair = cch->qpair;

	/* Set first: the I/O the free aborts is then held, not failed. */
	cch->state = NVME_CH_RESETTING;
	if (cch->connecting != NULL) {
		/* A qpair of the old association: dropped when it arrives. */
		cch->connecting->cch = NULL;
		cch->connecting = NULL;
	}
	if (qpair != NULL) {
		cch->qpair = NULL;
		axon_nvme_ctrlr_free_io_qpair(qpair);
	}
	axon_for_each_channel_continue(i, 0);
}

static void reset_qpairs_dropped(struct axon_io_channel_iter *i, int status)
{
	struct nvme_bdev_ctrlr *nctrlr = axon_io_channel_iter_get_ctx(i);
	int rc;

	(void)status;
	nctrlr->reset_step = NVME_RESET_STEP_CTRLR;
	rc = axon_nvme_ctrlr_reset(nctrlr->ctrlr);
	if (rc == -ENXIO) {
		nvme_bdev_ctrlr_lib_reset_done(nctrlr, -ENXIO);
		return;
	}
	/* 0, or -EBUSY when lib/nvme is already reconnecting: either way the admin
	 * poller sees the reset end and calls nvme_bdev_ctrlr_lib_reset_done(). */
	if (!axon_nvme_ctrlr_is_resetting(nctrlr->ctrlr)) {
		/* Nothing to wait for: go on at once. */
		nvme_bdev_ctrlr_lib_reset_done(nctrlr, 0);
	}
}

void nvme_bdev_ctrlr_reset(struct nvme_bdev_ctrlr *nctrlr, nvme_bdev_done_cb cb, void *cb_arg)
{
	struct nvme_reset_waiter *w;

	if (nctrlr->state == NVME_BDEV_CTRLR_FAILED || nctrlr->state == NVME_BDEV_CTRLR_DELETING ||
	    nctrlr->state == NVME_BDEV_CTRLR_CONNECTING) {
		cb(cb_arg, nctrlr->state == NVME_BDEV_CTRLR_CONNECTING ? -EBUSY : -ENXIO);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		cb(cb_arg, -ENOMEM);
		return;
	}
	w->cb = cb;
	w->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&nctrlr->reset_waiters, w, link);
	if (nctrlr->reset_step != NVME_RESET_STEP_NONE) {
		return; /* joins the reset that runs */
	}
	AXON_NOTICELOG("%s: resetting the controller\n", nctrlr->name);
	nctrlr->reset_step = NVME_RESET_STEP_DROP_QPAIRS;
	nctrlr->reset_rc = 0;
	axon_for_each_channel(nctrlr, reset_drop_qpair, nctrlr, reset_qpairs_dropped);
}
