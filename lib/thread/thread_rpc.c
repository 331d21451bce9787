/*
 * JSON-RPC methods of the thread module: per-thread statistics and pollers,
 * gathered on each thread in turn with axon_for_each_thread() and answered
 * from the app thread, in SPDK's shapes.
 */
#include <errno.h>
#include <stdlib.h>

#include "axon/env.h"
#include "axon/rpc.h"
#include "axon/thread.h"

/* What a walk over the threads collects; touched by one thread at a time. */
struct thread_walk {
	struct axon_rpc_request *req;
	json_t *threads; /* one object per thread */
	int rc;          /* first failure; later threads are skipped */
	const char *what;
};

struct poller_lists {
	json_t *active;
	json_t *timed;
	json_t *paused;
	int rc;
};

struct poller_counts {
	uint64_t active;
	uint64_t timed;
	uint64_t paused;
};

static struct thread_walk *walk_alloc(struct axon_rpc_request *req, const char *what)
{
	struct thread_walk *walk = calloc(1, sizeof(*walk));

	if (walk == NULL) {
		return NULL;
	}
	walk->threads = json_array();
	if (walk->threads == NULL) {
		free(walk);
		return NULL;
	}
	walk->req = req;
	walk->what = what;
	return walk;
}

/* Runs on the app thread once every thread was visited. */
static void walk_done(void *arg)
{
	struct thread_walk *walk = arg;
	json_t *result;

	if (walk->rc != 0) {
		json_decref(walk->threads);
		axon_rpc_send_errno(walk->req, walk->rc, walk->what);
		free(walk);
		return;
	}
	result = json_pack("{s:I, s:O}", "tick_rate", (json_int_t)axon_get_ticks_hz(),
			   "threads", walk->threads);
	json_decref(walk->threads);
	if (result == NULL) {
		axon_rpc_send_errno(walk->req, -ENOMEM, walk->what);
	} else {
		axon_rpc_send_result(walk->req, result);
	}
	free(walk);
}

static void walk_start(struct axon_rpc_request *req, const json_t *params, const char *what,
		       axon_msg_fn visit)
{
	struct thread_walk *walk;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	walk = walk_alloc(req, what);
	if (walk == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, what);
		return;
	}
	axon_for_each_thread(visit, walk, walk_done);
}

static void walk_append(struct thread_walk *walk, json_t *obj)
{
	if (obj == NULL || json_array_append_new(walk->threads, obj) != 0) {
		walk->rc = -ENOMEM;
	}
}

static void count_poller(const struct axon_poller_info *info, void *arg)
{
	struct poller_counts *counts = arg;

	if (info->state[0] == 'p') {
		counts->paused++;
	} else if (info->state[0] == 't') {
		counts->timed++;
	} else {
		counts->active++;
	}
}

static void visit_thread_stats(void *arg)
{
	struct thread_walk *walk = arg;
	struct axon_thread *thread = axon_get_thread();
	struct axon_thread_stats stats;
	struct poller_counts counts = {0};
	int rc;

	if (walk->rc != 0) {
		return;
	}
	rc = axon_thread_get_stats(&stats);
	if (rc != 0) {
		walk->rc = rc;
		return;
	}
	axon_thread_for_each_poller(count_poller, &counts);
	walk_append(walk, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
				    "name", axon_thread_get_name(thread),
				    "id", (json_int_t)axon_thread_get_id(thread),
				    "busy", (json_int_t)stats.busy_tsc,
				    "idle", (json_int_t)stats.idle_tsc,
				    "active_pollers_count", (json_int_t)counts.active,
				    "timed_pollers_count", (json_int_t)counts.timed,
				    "paused_pollers_count", (json_int_t)counts.paused));
}

static void rpc_thread_get_stats(struct axon_rpc_request *req, const json_t *params)
{
	walk_start(req, params, "collecting thread statistics", visit_thread_stats);
}
AXON_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, AXON_RPC_RUNTIME)

static void list_poller(const struct axon_poller_info *info, void *arg)
{
	struct poller_lists *lists = arg;
	json_t *list, *obj;

	if (lists->rc != 0) {
		return;
	}
	if (info->state[0] == 'p') {
		list = lists->paused;
	} else if (info->state[0] == 't') {
		list = lists->timed;
	} else {
		list = lists->active;
	}
	obj = json_pack("{s:s, s:s, s:I, s:I, s:I}", "name", info->name, "state", info->state,
			"run_count", (json_int_t)info->run_count,
			"busy_count", (json_int_t)info->busy_count,
			"period_ticks", (json_int_t)info->period_ticks);
	if (obj == NULL || json_array_append_new(list, obj) != 0) {
		lists->rc = -ENOMEM;
	}
}

static void visit_thread_pollers(void *arg)
{
	struct thread_walk *walk = arg;
	struct axon_thread *thread = axon_get_thread();
	struct poller_lists lists = {
		.active = json_array(), .timed = json_array(), .paused = json_array(),
	};

	if (walk->rc != 0 || lists.active == NULL || lists.timed == NULL || lists.paused == NULL) {
		walk->rc = walk->rc ? walk->rc : -ENOMEM;
		goto out;
	}
	axon_thread_for_each_poller(list_poller, &lists);
	if (lists.rc != 0) {
		walk->rc = lists.rc;
		goto out;
	}
	walk_append(walk, json_pack("{s:s, s:I, s:O, s:O, s:O}",
				    "name", axon_thread_get_name(thread),
				    "id", (json_int_t)axon_thread_get_id(thread),
				    "active_pollers", lists.active, "timed_pollers", lists.timed,
				    "paused_pollers", lists.paused));
out:
	json_decref(lists.active);
	json_decref(lists.timed);
	json_decref(lists.paused);
}

static void rpc_thread_get_pollers(struct axon_rpc_request *req, const json_t *params)
{
	walk_start(req, params, "listing pollers", visit_thread_pollers);
}
AXON_RPC_REGISTER("thread_get_pollers", rpc_thread_get_pollers, AXON_RPC_RUNTIME)
