/*
 * framework_get_reactors: each reactor's busy/idle ticks, whether it is asleep
 * in epoll (adaptive polling), and the threads it runs, in SPDK's shape.
 */
#include <errno.h>
#include <stdio.h>

#include "axon/env.h"
#include "axon/event.h"
#include "axon/rpc.h"

#define REACTORS_MAX 1024

static json_t *threads_json(const struct axon_reactor_info *info)
{
	char cpumask[24];
	uint32_t i;
	json_t *list = json_array();

	if (list == NULL) {
		return NULL;
	}
	/* A thread stays on the reactor it was placed on: its mask is that core. */
	snprintf(cpumask, sizeof(cpumask), "%llx",
		 info->core < 64 ? 1ULL << info->core : 0ULL);
	for (i = 0; i < info->thread_count && i < AXON_COUNTOF(info->thread_ids); i++) {
		if (json_array_append_new(list, json_pack("{s:s, s:I, s:s}",
				"name", info->thread_names[i],
				"id", (json_int_t)info->thread_ids[i],
				"cpumask", cpumask)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static json_t *reactor_json(uint32_t core)
{
	struct axon_reactor_info info;
	json_t *threads, *obj;

	if (axon_reactor_get_info(core, &info) != 0) {
		return NULL;
	}
	threads = threads_json(&info);
	if (threads == NULL) {
		return NULL;
	}
	obj = json_pack("{s:i, s:I, s:I, s:b, s:I, s:O}", "lcore", (int)info.core,
			"busy", (json_int_t)info.busy_tsc, "idle", (json_int_t)info.idle_tsc,
			"in_interrupt", info.in_interrupt,
			"sleep_count", (json_int_t)info.sleep_count, "lw_threads", threads);
	json_decref(threads);
	return obj;
}

static void rpc_framework_get_reactors(struct axon_rpc_request *req, const json_t *params)
{
	static uint32_t cores[REACTORS_MAX];
	uint32_t i, count;
	json_t *list, *result;

	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	list = json_array();
	if (list == NULL) {
		goto nomem;
	}
	count = axon_reactor_get_cores(cores, REACTORS_MAX);
	for (i = 0; i < count; i++) {
		if (json_array_append_new(list, reactor_json(cores[i])) != 0) {
			json_decref(list);
			goto nomem;
		}
	}
	result = json_pack("{s:I, s:O}", "tick_rate", (json_int_t)axon_get_ticks_hz(),
			   "reactors", list);
	json_decref(list);
	if (result == NULL) {
		goto nomem;
	}
	axon_rpc_send_result(req, result);
	return;
nomem:
	axon_rpc_send_errno(req, -ENOMEM, "listing reactors");
}
AXON_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, AXON_RPC_RUNTIME)
