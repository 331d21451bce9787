/*
 * Reset, as one explicit state machine per bdev, run on the app thread:
 *
 *   IDLE -> FREEZE -> DRAIN (repeated until no I/O is in flight, or the drain
 *   timeout) -> SUBMIT -> WAIT_BACKEND -> THAW -> DONE -> IDLE
 *
 * Each asynchronous step (a walk over the channels, the backend's reset)
 * ends by setting the next state and calling reset_step() again. A reset
 * submitted while one runs joins it and completes with it.
 */
#include <errno.h>

#include "bdev_internal.h"

/* Give up waiting for I/O in flight after this long and reset the backend
 * anyway: its reset is what aborts a hung I/O. */
#define RESET_DRAIN_TIMEOUT_US 1000000u
/* How often DRAIN counts the I/O in flight again. */
#define RESET_DRAIN_RETRY_US 100u

static void reset_step(struct bdev_internal *bi);

static void reset_set_state(struct bdev_internal *bi, enum bdev_reset_state state)
{
	AXON_DEBUGLOG(bdev, "bdev %s: reset state %d -> %d", bi->name, bi->reset.state, state);
	bi->reset.state = state;
}

static void reset_send(struct axon_thread *thread, axon_msg_fn fn, void *ctx, const char *what)
{
	if (axon_thread_send_msg(thread, fn, ctx) != 0) {
		/* A full ring on the reset path cannot be retried sanely. */
		AXON_ERRLOG("bdev reset: cannot send %s", what);
	}
}

/* ---- channel walks ---------------------------------------------------------- */

static void freeze_channel(struct axon_io_channel_iter *i)
{
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));

	bch->flags |= BDEV_CH_FROZEN;
	/* I/O waiting for backend resources waits for the thaw instead. */
	TAILQ_CONCAT(&bch->frozen_io, &bch->nomem_io, internal.link);
	axon_poller_pause(bch->nomem_poller);
	axon_for_each_channel_continue(i, 0);
}

static void freeze_done(struct axon_io_channel_iter *i, int status)
{
	struct bdev_internal *bi = axon_io_channel_iter_get_ctx(i);

	(void)status;
	bi->reset.drain_deadline = axon_get_ticks() +
				   RESET_DRAIN_TIMEOUT_US * axon_get_ticks_hz() / 1000000u;
	reset_set_state(bi, RESET_DRAIN);
	reset_step(bi);
}

static void count_channel(struct axon_io_channel_iter *i)
{
	struct bdev_internal *bi = axon_io_channel_iter_get_ctx(i);
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));

	/* Walks visit one thread at a time: no two writers at once. */
	bi->reset.outstanding += bch->io_outstanding;
	axon_for_each_channel_continue(i, 0);
}

static int drain_retry(void *arg)
{
	struct bdev_internal *bi = arg;

	axon_poller_unregister(&bi->reset.poller);
	reset_step(bi);
	return AXON_POLLER_BUSY;
}

static void count_done(struct axon_io_channel_iter *i, int status)
{
	struct bdev_internal *bi = axon_io_channel_iter_get_ctx(i);
	struct bdev_reset *r = &bi->reset;

	(void)status;
	if (r->outstanding == 0) {
		reset_set_state(bi, RESET_SUBMIT);
	} else if (axon_get_ticks() >= r->drain_deadline) {
		AXON_WARNLOG("bdev %s: reset goes on with %lu I/O still in flight", bi->name,
			     (unsigned long)r->outstanding);
		reset_set_state(bi, RESET_SUBMIT);
	} else {
		r->poller = axon_poller_register(drain_retry, bi, RESET_DRAIN_RETRY_US);
		if (r->poller != NULL) {
			return;
		}
		AXON_ERRLOG("bdev %s: cannot wait for I/O in flight; resetting now", bi->name);
		reset_set_state(bi, RESET_SUBMIT);
	}
	reset_step(bi);
}

static void thaw_channel(struct axon_io_channel_iter *i)
{
	struct bdev_channel *bch = bdev_ch_get(axon_io_channel_iter_get_channel(i));
	struct bdev_io_tailq q = TAILQ_HEAD_INITIALIZER(q);
	struct axon_bdev_io *io;

	bch->flags &= ~BDEV_CH_FROZEN;
	TAILQ_CONCAT(&q, &bch->frozen_io, internal.link);
	while ((io = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, io, internal.link);
		bdev_io_submit(io);
	}
	axon_for_each_channel_continue(i, 0);
}

static void thaw_done(struct axon_io_channel_iter *i, int status)
{
	struct bdev_internal *bi = axon_io_channel_iter_get_ctx(i);

	(void)status;
	reset_set_state(bi, RESET_DONE);
	reset_step(bi);
}

/* ---- the backend's reset --------------------------------------------------- */

static void _reset_submit_backend(void *ctx)
{
	struct axon_bdev_io *io = ctx;

	io->internal.flags |= BDEV_IO_F_RESET_BACKEND;
	bdev_io_submit_backend(io);
}

static void _reset_backend_done(void *ctx)
{
	struct axon_bdev_io *io = ctx;
	struct bdev_internal *bi = io->bdev->internal;

	bi->reset.backend_status = io->internal.status;
	reset_set_state(bi, RESET_THAW);
	reset_step(bi);
}

void bdev_reset_backend_done(struct axon_bdev_io *io)
{
	io->internal.flags &= ~BDEV_IO_F_RESET_BACKEND;
	reset_send(axon_thread_get_app_thread(), _reset_backend_done, io, "the backend's result");
}

/* ---- completion ---------------------------------------------------------------- */

static void _reset_complete(void *ctx)
{
	struct axon_bdev_io *io = ctx;

	bdev_io_complete_status(io, (enum axon_bdev_io_status)io->internal.status);
}

static void reset_complete(struct axon_bdev_io *io, int8_t status)
{
	io->internal.status = status;
	reset_send(io->internal.ch->thread, _reset_complete, io, "a reset completion");
}

static void reset_finish(struct bdev_internal *bi)
{
	struct bdev_reset *r = &bi->reset;
	struct axon_bdev_io *io;

	reset_complete(r->leader, r->backend_status);
	r->leader = NULL;
	while ((io = TAILQ_FIRST(&r->joined)) != NULL) {
		TAILQ_REMOVE(&r->joined, io, internal.link);
		reset_complete(io, r->backend_status);
	}
	reset_set_state(bi, RESET_IDLE);
}

/* ---- the state machine ------------------------------------------------------------ */

static void reset_step(struct bdev_internal *bi)
{
	struct bdev_reset *r = &bi->reset;

	for (;;) {
		switch (r->state) {
		case RESET_IDLE:
		case RESET_WAIT_BACKEND:
			return;
		case RESET_FREEZE:
			atomic_fetch_add(&bi->frozen, 1);
			axon_for_each_channel(bi, freeze_channel, bi, freeze_done);
			return;
		case RESET_DRAIN:
			r->outstanding = 0;
			axon_for_each_channel(bi, count_channel, bi, count_done);
			return;
		case RESET_SUBMIT:
			if (!axon_bdev_io_type_supported_native(bi->bdev, AXON_BDEV_IO_TYPE_RESET)) {
				/* Nothing to reset below: the drain was the reset. */
				r->backend_status = AXON_BDEV_IO_STATUS_SUCCESS;
				reset_set_state(bi, RESET_THAW);
				continue;
			}
			reset_set_state(bi, RESET_WAIT_BACKEND);
			reset_send(r->leader->internal.ch->thread, _reset_submit_backend, r->leader,
				   "the reset to the backend");
			return;
		case RESET_THAW:
			atomic_fetch_sub(&bi->frozen, 1);
			axon_for_each_channel(bi, thaw_channel, bi, thaw_done);
			return;
		case RESET_DONE:
			reset_finish(bi);
			return;
		}
	}
}

static void _reset_request(void *ctx)
{
	struct axon_bdev_io *io = ctx;
	struct bdev_internal *bi = io->bdev->internal;
	struct bdev_reset *r = &bi->reset;

	if (r->state != RESET_IDLE) {
		TAILQ_INSERT_TAIL(&r->joined, io, internal.link);
		return;
	}
	r->leader = io;
	reset_set_state(bi, RESET_FREEZE);
	reset_step(bi);
}

void bdev_reset_start(struct axon_bdev_io *io)
{
	reset_send(axon_thread_get_app_thread(), _reset_request, io, "a reset request");
}
