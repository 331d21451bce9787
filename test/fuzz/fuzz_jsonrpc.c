/*
 * libFuzzer target: arbitrary bytes into one JSON-RPC connection's receive
 * path, in chunks, through the parser, the request checks, lib/rpc's
 * dispatch and parameter decoder, and back out as responses.
 *
 * Input: byte 0 = flags, byte 1 = chunk size (0: all at once), then the
 * stream. Flags:
 *   bit 0  the RPC phase is runtime (else start-up)
 *   bit 1  close the connection while an asynchronous request is pending
 *   bit 2  the peer shuts its side after the last chunk
 *   bit 3  complete asynchronous requests only at the end of each chunk
 *
 * Every response must be one JSON object or array followed by "\n", and
 * every request must be completed (LeakSanitizer checks).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonrpc/jsonrpc_internal.h"
#include "lib/rpc/rpc_internal.h"
#include "axon/log.h"

#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "check failed: %s (%s:%d)\n", #cond,    \
				__FILE__, __LINE__);                            \
			abort();                                                \
		}                                                               \
	} while (0)

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
}

/* ---- methods -------------------------------------------------------------- */

static void rpc_fuzz_echo(struct axon_rpc_request *req, const json_t *params)
{
	axon_rpc_send_result(req, params ? json_deep_copy(params) : NULL);
}
AXON_RPC_REGISTER("echo", rpc_fuzz_echo, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
AXON_RPC_REGISTER_ALIAS("old_echo", "echo")

struct fuzz_params {
	char *s;
	bool b;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	double d;
	char uuid[37];
	json_t *any;
	struct axon_rpc_string_array list;
	int custom;
	uint32_t pow2;
};

static const char *fuzz_decode_custom(const json_t *v, void *field)
{
	if (!json_is_string(v) || strcmp(json_string_value(v), "on") != 0) {
		return "\"on\"";
	}
	*(int *)field = 1;
	return NULL;
}

static const char *fuzz_check_pow2(const void *field)
{
	uint32_t v = *(const uint32_t *)field;

	return (v & (v - 1)) == 0 ? NULL : "a power of two between 512 and 65536";
}

static const struct axon_rpc_param fuzz_table[] = {
	{.name = "s", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct fuzz_params, s)},
	{.name = "b", .type = AXON_RPC_PARAM_BOOL, .offset = offsetof(struct fuzz_params, b),
	 .optional = true},
	{.name = "i32", .type = AXON_RPC_PARAM_INT32, .offset = offsetof(struct fuzz_params, i32),
	 .optional = true, .min = -100, .max = 100},
	{.name = "u32", .type = AXON_RPC_PARAM_UINT32, .offset = offsetof(struct fuzz_params, u32),
	 .optional = true},
	{.name = "i64", .type = AXON_RPC_PARAM_INT64, .offset = offsetof(struct fuzz_params, i64),
	 .optional = true},
	{.name = "u64", .type = AXON_RPC_PARAM_UINT64, .offset = offsetof(struct fuzz_params, u64),
	 .optional = true},
	{.name = "d", .type = AXON_RPC_PARAM_DOUBLE, .offset = offsetof(struct fuzz_params, d),
	 .optional = true, .min = -1.5, .max = 1e9},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID, .offset = offsetof(struct fuzz_params, uuid),
	 .optional = true},
	{.name = "any", .type = AXON_RPC_PARAM_JSON, .offset = offsetof(struct fuzz_params, any),
	 .optional = true},
	{.name = "list", .type = AXON_RPC_PARAM_STRING_ARRAY,
	 .offset = offsetof(struct fuzz_params, list), .optional = true},
	{.name = "custom", .type = AXON_RPC_PARAM_CUSTOM,
	 .offset = offsetof(struct fuzz_params, custom), .optional = true,
	 .decode_fn = fuzz_decode_custom},
	{.name = "pow2", .type = AXON_RPC_PARAM_UINT32, .offset = offsetof(struct fuzz_params, pow2),
	 .optional = true, .min = 512, .max = 65536, .check = fuzz_check_pow2},
};

static void rpc_fuzz_decode(struct axon_rpc_request *req, const json_t *params)
{
	struct fuzz_params p = {0};

	if (axon_rpc_decode_params(req, params, fuzz_table, AXON_COUNTOF(fuzz_table), &p) != 0) {
		return;
	}
	axon_rpc_send_result(req, json_pack("{s:s,s:b,s:I,s:f,s:i}", "s", p.s, "b", p.b,
					    "i64", (json_int_t)p.i64, "d", p.d, "list",
					    (int)p.list.count));
	axon_rpc_free_params(fuzz_table, AXON_COUNTOF(fuzz_table), &p);
}
AXON_RPC_REGISTER("decode", rpc_fuzz_decode, AXON_RPC_RUNTIME)

static void rpc_fuzz_setup(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) == 0) {
		axon_rpc_send_bool(req, true);
	}
}
AXON_RPC_REGISTER("setup", rpc_fuzz_setup, AXON_RPC_STARTUP)

static void rpc_fuzz_fail(struct axon_rpc_request *req, const json_t *params)
{
	axon_rpc_send_errno(req, -EIO, "fuzz failure");
}
AXON_RPC_REGISTER("fail", rpc_fuzz_fail, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

#define FUZZ_MAX_PENDING 16
static struct axon_rpc_request *g_pending[FUZZ_MAX_PENDING];
static int g_npending;

static void rpc_fuzz_async(struct axon_rpc_request *req, const json_t *params)
{
	if (g_npending == FUZZ_MAX_PENDING) {
		axon_rpc_send_error(req, -32000, "too many pending");
		return;
	}
	g_pending[g_npending++] = req;
}
AXON_RPC_REGISTER("async", rpc_fuzz_async, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void complete_pending(void)
{
	while (g_npending > 0) {
		struct axon_rpc_request *req = g_pending[--g_npending];

		if (g_npending % 2) {
			axon_rpc_send_result(req, json_string("done later"));
		} else {
			axon_rpc_send_param_error(req, "later", "failed after %d", g_npending);
		}
	}
}

/* ---- the driver -------------------------------------------------------------- */

static void check_response(const struct jsonrpc_out *out)
{
	json_error_t err;
	json_t *v, *one;
	size_t i;

	FUZZ_CHECK(out->len >= 3 && out->data[out->len - 1] == '\n');
	FUZZ_CHECK(memchr(out->data, '\n', out->len - 1) == NULL);
	v = json_loadb(out->data, out->len - 1, 0, &err);
	FUZZ_CHECK(v != NULL);
	FUZZ_CHECK(json_is_object(v) || (json_is_array(v) && json_array_size(v) > 0));
	for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1); i++) {
		one = json_is_array(v) ? json_array_get(v, i) : v;
		FUZZ_CHECK(json_is_object(one));
		FUZZ_CHECK(json_is_string(json_object_get(one, "jsonrpc")) &&
			   strcmp(json_string_value(json_object_get(one, "jsonrpc")), "2.0") == 0);
		FUZZ_CHECK(json_object_get(one, "id") != NULL);
		FUZZ_CHECK((json_object_get(one, "result") != NULL) !=
			   (json_object_get(one, "error") != NULL));
	}
	json_decref(v);
}

static void drain(struct jsonrpc_conn *conn, bool complete_async)
{
	struct jsonrpc_out *out;
	int rounds;

	for (rounds = 0; rounds < 100000; rounds++) {
		int work = jsonrpc_conn_process(conn);
		bool had_out = false;

		while ((out = jsonrpc_conn_pop_out(conn)) != NULL) {
			check_response(out);
			jsonrpc_out_free(out);
			had_out = true;
		}
		if (complete_async && g_npending > 0) {
			complete_pending();
			continue;
		}
		if (work == 0 && !had_out) {
			return;
		}
	}
	FUZZ_CHECK(!"connection never settles");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct axon_jsonrpc_server_opts opts;
	struct axon_jsonrpc_server *server;
	struct jsonrpc_conn *conn;
	uint8_t flags, chunk;
	size_t off;

	if (size < 2) {
		return 0;
	}
	flags = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;

	axon_rpc_set_state((flags & 1) ? AXON_RPC_RUNTIME : AXON_RPC_STARTUP);
	axon_jsonrpc_server_opts_init(&opts);
	/* Small limits, so that inputs of fuzzer size reach them. */
	opts.max_request_size = 4096;
	opts.max_send_queue = 16384;
	server = jsonrpc_server_create(&opts, rpc_jsonrpc_handler, NULL);
	FUZZ_CHECK(server != NULL);
	conn = jsonrpc_conn_create(server, -1);
	FUZZ_CHECK(conn != NULL);

	for (off = 0; off < size && conn->state != JSONRPC_CONN_CLOSED;) {
		size_t n = chunk ? chunk : size;

		if (n > size - off) {
			n = size - off;
		}
		FUZZ_CHECK(jsonrpc_conn_feed(conn, (const char *)data + off, n) == 0);
		off += n;
		drain(conn, !(flags & 8));
		if (flags & 8) {
			complete_pending();
			drain(conn, false);
		}
		if ((flags & 2) && g_npending > 0) {
			/* The client leaves while a handler still works. */
			jsonrpc_conn_close(conn);
			complete_pending();
			axon_jsonrpc_server_close(server);
			return 0;
		}
	}
	if (flags & 4) {
		jsonrpc_conn_feed_eof(conn);
	}
	drain(conn, true);
	FUZZ_CHECK(g_npending == 0);
	FUZZ_CHECK(!conn->in_flight);
	if (flags & 4) {
		FUZZ_CHECK(jsonrpc_conn_done(conn));
	}
	axon_jsonrpc_server_close(server);
	return 0;
}
