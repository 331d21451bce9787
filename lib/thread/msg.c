/*
 * Sending messages between threads, and axon_for_each_thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "thread_internal.h"

int axon_thread_send_msg(const struct axon_thread *thread, axon_msg_fn fn, void *ctx)
{
	/* The ring and the sleep flag are the mutable part of a thread that
	 * any sender may touch; the const in the contract is the caller's. */
	struct axon_thread *target = (struct axon_thread *)thread;
	int rc;

	if (target == NULL || fn == NULL) {
		return -EINVAL;
	}
	if (thread_get_state(target) == THREAD_EXITED) {
		return -EIO;
	}
	rc = msg_ring_enqueue(&target->ring, fn, ctx);
	if (rc != 0) {
		return rc;
	}
	thread_sleep_kick(target);
	return 0;
}

struct thread_iter {
	axon_msg_fn fn;
	void *ctx;
	axon_msg_fn cpl;
	uint64_t orig_id; /* by id: the caller may be gone by the end */
	uint64_t cur_id;
};

static void _thread_iter_visit(void *arg);

static void _thread_iter_done(void *arg)
{
	struct thread_iter *it = arg;

	if (it->cpl != NULL) {
		it->cpl(it->ctx);
	}
	free(it);
}

/* Send the walk to the next running thread after it->cur_id, or finish it on
 * the caller. Sends are made under the lock so that the target cannot be
 * destroyed in between. */
static void thread_iter_next(struct thread_iter *it)
{
	struct axon_thread *thread;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_thread_lib_lock);
	for (thread = thread_next_live_locked(it->cur_id); thread != NULL;
	     thread = TAILQ_NEXT(thread, link)) {
		if (thread_get_state(thread) != THREAD_RUNNING) {
			continue;
		}
		it->cur_id = thread->id;
		if (axon_thread_send_msg(thread, _thread_iter_visit, it) == 0) {
			pthread_mutex_unlock(&g_thread_lib_lock);
			return;
		}
		/* Exited meanwhile, or its ring is full: skip it. */
	}
	thread = thread_get_live_locked(it->orig_id);
	if (thread != NULL) {
		rc = axon_thread_send_msg(thread, _thread_iter_done, it);
	}
	pthread_mutex_unlock(&g_thread_lib_lock);
	if (rc != 0) {
		AXON_ERRLOG("for_each_thread: cannot complete on thread %" PRIu64 ": %d", it->orig_id, rc);
		free(it);
	}
}

static void _thread_iter_visit(void *arg)
{
	struct thread_iter *it = arg;

	it->fn(it->ctx);
	thread_iter_next(it);
}

void axon_for_each_thread(axon_msg_fn fn, void *ctx, axon_msg_fn cpl)
{
	struct axon_thread *orig = axon_get_thread();
	struct thread_iter *it;

	if (orig == NULL) {
		AXON_ERRLOG("for_each_thread called off any axon_thread");
		return;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		AXON_ERRLOG("for_each_thread: out of memory");
		return;
	}
	it->fn = fn;
	it->ctx = ctx;
	it->cpl = cpl;
	it->orig_id = orig->id;
	thread_iter_next(it);
}
