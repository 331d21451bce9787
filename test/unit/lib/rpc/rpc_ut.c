/*
 * lib/rpc: registry and aliases, phases, the declarative decoder, the send
 * helpers, in-process calls, and the server glue (with lib/thread doubles),
 * end to end through lib/jsonrpc.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/jsonrpc/jsonrpc_internal.h"
#include "lib/rpc/rpc.c"
#include "lib/rpc/rpc_params.c"
#include "lib/rpc/rpc_local.c"
#include "lib/rpc/rpc_server.c"

/* ---- test doubles: lib/log and lib/thread ------------------------------------ */

static char g_last_log[1024];

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_last_log, sizeof(g_last_log), fmt, ap);
	va_end(ap);
}

static struct axon_thread *g_thread;     /* what axon_get_thread() returns */
static axon_msg_fn g_msg_fn;
static void *g_msg_ctx;
static int g_msgs;
static axon_poller_fn g_poller_fn;
static void *g_poller_arg;
static int g_wake_fd = -1;
static struct axon_poller *g_fake_poller = (struct axon_poller *)0x1;

struct axon_thread *axon_get_thread(void)
{
	return g_thread;
}

int axon_thread_send_msg(const struct axon_thread *thread, axon_msg_fn fn, void *ctx)
{
	CU_ASSERT(g_msg_fn == NULL);
	g_msg_fn = fn;
	g_msg_ctx = ctx;
	g_msgs++;
	return 0;
}

static void run_msg(void)
{
	axon_msg_fn fn = g_msg_fn;

	g_msg_fn = NULL;
	if (fn != NULL) {
		fn(g_msg_ctx);
	}
}

struct axon_poller *axon_poller_register_named(axon_poller_fn fn, void *arg, uint64_t period_us,
					       const char *name)
{
	CU_ASSERT(period_us == 0);
	g_poller_fn = fn;
	g_poller_arg = arg;
	return g_fake_poller;
}

void axon_poller_unregister(struct axon_poller **ppoller)
{
	CU_ASSERT(*ppoller == g_fake_poller);
	*ppoller = NULL;
	g_poller_fn = NULL;
}

int axon_thread_add_wake_fd(int fd, uint32_t epoll_events)
{
	g_wake_fd = fd;
	return 0;
}

int axon_thread_remove_wake_fd(int fd)
{
	CU_ASSERT(fd == g_wake_fd);
	g_wake_fd = -1;
	return 0;
}

/* ---- methods, registered the way a <mod>_rpc.c does ---------------------------- */

struct demo_create {
	char *name;
	uint32_t block_size;
	uint64_t num_blocks;
	bool readonly;
};

static const char *check_pow2(const void *field)
{
	uint32_t v = *(const uint32_t *)field;

	return (v & (v - 1)) == 0 ? NULL : "a power of two between 512 and 65536";
}

static const struct axon_rpc_param demo_create_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct demo_create, name)},
	{.name = "block_size", .type = AXON_RPC_PARAM_UINT32, .offset = offsetof(struct demo_create, block_size),
	 .min = 512, .max = 65536, .check = check_pow2},
	{.name = "num_blocks", .type = AXON_RPC_PARAM_UINT64, .offset = offsetof(struct demo_create, num_blocks), .min = 1,
	 .max = 1e12},
	{.name = "readonly", .type = AXON_RPC_PARAM_BOOL, .offset = offsetof(struct demo_create, readonly), .optional = true},
};

static void rpc_demo_create(struct axon_rpc_request *req, const json_t *params)
{
	struct demo_create p = {0};

	if (axon_rpc_decode_params(req, params, demo_create_params,
				   AXON_COUNTOF(demo_create_params), &p) != 0) {
		return;
	}
	axon_rpc_send_result(req, json_pack("{s:s,s:i,s:I,s:b}", "name", p.name, "block_size",
					    (int)p.block_size, "num_blocks", (json_int_t)p.num_blocks,
					    "readonly", p.readonly));
	axon_rpc_free_params(demo_create_params, AXON_COUNTOF(demo_create_params), &p);
}
AXON_RPC_REGISTER("demo_create", rpc_demo_create, AXON_RPC_RUNTIME)

static void rpc_demo_version(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	axon_rpc_send_result(req, json_string("1.0"));
}
AXON_RPC_REGISTER("demo_version", rpc_demo_version, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)
AXON_RPC_REGISTER_ALIAS("old_demo_version", "demo_version")
AXON_RPC_REGISTER_ALIAS("older_demo_version", "demo_version")

static void rpc_demo_setup(struct axon_rpc_request *req, const json_t *params)
{
	axon_rpc_send_bool(req, true);
}
AXON_RPC_REGISTER("demo_setup", rpc_demo_setup, AXON_RPC_STARTUP)

static struct axon_rpc_request *g_async[8];
static int g_nasync;

static void rpc_demo_async(struct axon_rpc_request *req, const json_t *params)
{
	g_async[g_nasync++] = req;
}
AXON_RPC_REGISTER("demo_async", rpc_demo_async, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

static void rpc_demo_errno(struct axon_rpc_request *req, const json_t *params)
{
	axon_rpc_send_errno(req, -ENOSPC, "cannot grow the pool");
}
AXON_RPC_REGISTER("demo_errno", rpc_demo_errno, AXON_RPC_STARTUP | AXON_RPC_RUNTIME)

/* ---- helpers ------------------------------------------------------------------ */

struct local_result {
	int called;
	json_t *result;
	json_t *error;
};

static void local_cb(void *ctx, const json_t *result, const json_t *error)
{
	struct local_result *r = ctx;

	r->called++;
	r->result = result ? json_deep_copy(result) : NULL;
	r->error = error ? json_deep_copy(error) : NULL;
}

static void local_result_clear(struct local_result *r)
{
	json_decref(r->result);
	json_decref(r->error);
	memset(r, 0, sizeof(*r));
}

static int err_code(const json_t *error)
{
	return (int)json_integer_value(json_object_get(error, "code"));
}

static const char *err_msg(const json_t *error)
{
	return json_string_value(json_object_get(error, "message"));
}

/* Call synchronously (no axon_thread: the callback runs before returning). */
static void call(const char *method, const char *params_text, struct local_result *r)
{
	json_t *params = params_text ? json_loads(params_text, JSON_DECODE_ANY, NULL) : NULL;

	local_result_clear(r);
	CU_ASSERT(params_text == NULL || params != NULL);
	axon_rpc_call_local(method, params, local_cb, r);
	json_decref(params);
	CU_ASSERT(r->called == 1);
}

static void expect_error(const char *method, const char *params, int code, const char *message)
{
	struct local_result r = {0};

	call(method, params, &r);
	CU_ASSERT(r.result == NULL);
	CU_ASSERT(err_code(r.error) == code);
	if (message != NULL && (err_msg(r.error) == NULL || strcmp(err_msg(r.error), message) != 0)) {
		fprintf(stderr, "\n  got \"%s\"\n  expected \"%s\"\n", err_msg(r.error), message);
		CU_FAIL("error message");
	}
	local_result_clear(&r);
}

/* ---- registry, phases ----------------------------------------------------------- */

static void test_registry(void)
{
	const char *names[16], *n = NULL;
	uint32_t mask = 0, masks[16];
	int count = 0, i;

	CU_ASSERT(rpc_registry_check() == 0);
	while ((n = axon_rpc_get_next_method(n, &mask)) != NULL && count < 16) {
		masks[count] = mask;
		names[count++] = n;
	}
	CU_ASSERT(count == 7);
	for (i = 1; i < count; i++) {
		CU_ASSERT(strcmp(names[i - 1], names[i]) < 0);
	}
	CU_ASSERT(strcmp(names[0], "demo_async") == 0);
	CU_ASSERT(strcmp(names[count - 1], "older_demo_version") == 0);
	CU_ASSERT(masks[count - 1] == (AXON_RPC_STARTUP | AXON_RPC_RUNTIME));
	CU_ASSERT(axon_rpc_get_next_method("demo_b", &mask) != NULL &&
		  strcmp(axon_rpc_get_next_method("demo_b", &mask), "demo_create") == 0);
	CU_ASSERT(mask == AXON_RPC_RUNTIME);
	CU_ASSERT(axon_rpc_get_next_method("zzz", NULL) == NULL);

	CU_ASSERT(rpc_register("demo_create", rpc_demo_setup, AXON_RPC_STARTUP) == -EEXIST);
	CU_ASSERT(rpc_register_alias("demo_setup", "demo_create") == -EEXIST);
	CU_ASSERT(rpc_register("", rpc_demo_setup, AXON_RPC_STARTUP) == -EINVAL);
	CU_ASSERT(rpc_register("x", NULL, AXON_RPC_STARTUP) == -EINVAL);
	CU_ASSERT(rpc_register("x", rpc_demo_setup, 0) == -EINVAL);
}

static void test_duplicate_aborts(void)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		/* A duplicate at start-up must stop the program. */
		signal(SIGABRT, SIG_DFL);
		axon_rpc_register("demo_setup", rpc_demo_setup, AXON_RPC_STARTUP);
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void test_phases(void)
{
	struct local_result r = {0};

	CU_ASSERT(axon_rpc_get_state() == AXON_RPC_STARTUP);
	expect_error("demo_create", "{\"name\":\"a\",\"block_size\":512,\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_STATE,
		     "demo_create may only be called after framework_start_init");
	call("demo_setup", NULL, &r);
	CU_ASSERT(json_is_true(r.result));
	call("old_demo_version", NULL, &r);
	CU_ASSERT(strcmp(json_string_value(r.result), "1.0") == 0);

	axon_rpc_set_state(AXON_RPC_RUNTIME);
	expect_error("demo_setup", NULL, AXON_JSONRPC_ERROR_INVALID_STATE,
		     "demo_setup may only be called before framework_start_init "
		     "(start axond with --wait-for-rpc)");
	call("demo_create", "{\"name\":\"a\",\"block_size\":4096,\"num_blocks\":8}", &r);
	CU_ASSERT(r.error == NULL);
	CU_ASSERT(json_integer_value(json_object_get(r.result, "block_size")) == 4096);
	CU_ASSERT(json_is_false(json_object_get(r.result, "readonly")));
	call("older_demo_version", "{}", &r);
	CU_ASSERT(strcmp(json_string_value(r.result), "1.0") == 0);
	local_result_clear(&r);

	expect_error("no_such_method", NULL, AXON_JSONRPC_ERROR_METHOD_NOT_FOUND,
		     "Method not found: no_such_method");
	expect_error("demo_errno", NULL, AXON_JSONRPC_ERROR_INTERNAL_ERROR,
		     "cannot grow the pool: No space left on device");
	expect_error("demo_version", "{\"x\":1}", AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "params: expected no parameters, got {\"x\":1}");
}

/* ---- the decoder -------------------------------------------------------------------- */

struct all {
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
	int mode;
	int32_t small;
};

static const char *decode_mode(const json_t *v, void *field)
{
	if (json_is_string(v) && strcmp(json_string_value(v), "ro") == 0) {
		*(int *)field = 1;
	} else if (json_is_string(v) && strcmp(json_string_value(v), "rw") == 0) {
		*(int *)field = 2;
	} else {
		return "\"ro\" or \"rw\"";
	}
	return NULL;
}

static const struct axon_rpc_param all_params[] = {
	{.name = "s", .type = AXON_RPC_PARAM_STRING, .offset = offsetof(struct all, s), .optional = true},
	{.name = "b", .type = AXON_RPC_PARAM_BOOL, .offset = offsetof(struct all, b), .optional = true},
	{.name = "i32", .type = AXON_RPC_PARAM_INT32, .offset = offsetof(struct all, i32), .optional = true},
	{.name = "u32", .type = AXON_RPC_PARAM_UINT32, .offset = offsetof(struct all, u32), .optional = true},
	{.name = "i64", .type = AXON_RPC_PARAM_INT64, .offset = offsetof(struct all, i64), .optional = true},
	{.name = "u64", .type = AXON_RPC_PARAM_UINT64, .offset = offsetof(struct all, u64), .optional = true},
	{.name = "d", .type = AXON_RPC_PARAM_DOUBLE, .offset = offsetof(struct all, d), .optional = true},
	{.name = "uuid", .type = AXON_RPC_PARAM_UUID, .offset = offsetof(struct all, uuid), .optional = true},
	{.name = "any", .type = AXON_RPC_PARAM_JSON, .offset = offsetof(struct all, any), .optional = true},
	{.name = "list", .type = AXON_RPC_PARAM_STRING_ARRAY, .offset = offsetof(struct all, list), .optional = true},
	{.name = "mode", .type = AXON_RPC_PARAM_CUSTOM, .offset = offsetof(struct all, mode), .optional = true,
	 .decode_fn = decode_mode},
	{.name = "small", .type = AXON_RPC_PARAM_INT32, .offset = offsetof(struct all, small), .optional = true, .min = -5,
	 .max = 5},
};

static json_t *g_res, *g_err;
static int g_completions;

static void capture_complete(struct axon_rpc_request *req, json_t *result, json_t *error)
{
	g_completions++;
	json_decref(g_res);
	json_decref(g_err);
	g_res = result;
	g_err = error;
}

/* Decode text with all_params; returns the decoder's rc, leaves out decoded. */
static int decode(const char *text, struct all *out)
{
	struct axon_rpc_request req = {.complete = capture_complete, .method = "t"};
	json_t *params = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	int rc;

	CU_ASSERT(text == NULL || params != NULL);
	memset(out, 0, sizeof(*out));
	g_completions = 0;
	rc = axon_rpc_decode_params(&req, params, all_params, AXON_COUNTOF(all_params), out);
	json_decref(params);
	CU_ASSERT(rc == 0 ? g_completions == 0 : g_completions == 1);
	return rc;
}

static void expect_reject(const char *text, const char *message)
{
	struct all out;

	CU_ASSERT(decode(text, &out) == -EINVAL);
	CU_ASSERT(err_code(g_err) == AXON_JSONRPC_ERROR_INVALID_PARAMS);
	if (message != NULL && (err_msg(g_err) == NULL || strcmp(err_msg(g_err), message) != 0)) {
		fprintf(stderr, "\n  got \"%s\"\n  expected \"%s\"\n", err_msg(g_err), message);
		CU_FAIL("error message");
	}
	/* Nothing left to free after a rejection. */
	CU_ASSERT(out.s == NULL && out.any == NULL && out.list.items == NULL);
}

static void test_decode_every_type(void)
{
	struct all out;

	CU_ASSERT(decode("{\"s\":\"str\",\"b\":true,\"i32\":-7,\"u32\":4294967295,"
			 "\"i64\":-9000000000,\"u64\":9000000000,\"d\":2.5,"
			 "\"uuid\":\"0123ABCD-89ab-cdef-0123-456789abcdef\",\"any\":{\"k\":[1]},"
			 "\"list\":[\"a\",\"b\"],\"mode\":\"rw\",\"small\":5}", &out) == 0);
	CU_ASSERT(strcmp(out.s, "str") == 0);
	CU_ASSERT(out.b);
	CU_ASSERT(out.i32 == -7);
	CU_ASSERT(out.u32 == UINT32_MAX);
	CU_ASSERT(out.i64 == -9000000000LL);
	CU_ASSERT(out.u64 == 9000000000ULL);
	CU_ASSERT(out.d == 2.5);
	CU_ASSERT(strcmp(out.uuid, "0123ABCD-89ab-cdef-0123-456789abcdef") == 0);
	CU_ASSERT(json_is_array(json_object_get(out.any, "k")));
	CU_ASSERT(out.list.count == 2 && strcmp(out.list.items[1], "b") == 0);
	CU_ASSERT(out.mode == 2);
	CU_ASSERT(out.small == 5);
	axon_rpc_free_params(all_params, AXON_COUNTOF(all_params), &out);
	CU_ASSERT(out.s == NULL && out.any == NULL && out.list.items == NULL && out.list.count == 0);

	/* Absent params, empty object, null for an optional, integral reals. */
	CU_ASSERT(decode(NULL, &out) == 0);
	CU_ASSERT(decode("{}", &out) == 0);
	CU_ASSERT(decode("{\"s\":null,\"u64\":1e3,\"i32\":-2.0,\"list\":[]}", &out) == 0);
	CU_ASSERT(out.s == NULL && out.u64 == 1000 && out.i32 == -2 && out.list.count == 0);
	axon_rpc_free_params(all_params, AXON_COUNTOF(all_params), &out);
}

static void test_decode_wrong_types(void)
{
	expect_reject("{\"s\":5}", "s: expected a string, got 5");
	expect_reject("{\"b\":\"yes\"}", "b: expected true or false, got \"yes\"");
	expect_reject("{\"b\":1}", "b: expected true or false, got 1");
	expect_reject("{\"i32\":\"1\"}", "i32: expected an integer between -2147483648 and 2147483647, got \"1\"");
	expect_reject("{\"i32\":2147483648}", "i32: expected an integer between -2147483648 and 2147483647, got 2147483648");
	expect_reject("{\"u32\":-1}", "u32: expected an integer between 0 and 4294967295, got -1");
	expect_reject("{\"u32\":1.5}", "u32: expected an integer between 0 and 4294967295, got 1.5");
	expect_reject("{\"i64\":true}", "i64: expected an integer between -9223372036854775808 and 9223372036854775807, got true");
	expect_reject("{\"i64\":1e300}", NULL);
	expect_reject("{\"u64\":-5}", "u64: expected an integer between 0 and 18446744073709551615, got -5");
	expect_reject("{\"u64\":[1]}", "u64: expected an integer between 0 and 18446744073709551615, got [1]");
	expect_reject("{\"d\":\"2.5\"}", "d: expected a number, got \"2.5\"");
	expect_reject("{\"uuid\":\"0123abcd-89ab-cdef-0123-456789abcdeg\"}",
		      "uuid: expected a UUID such as 01234567-89ab-cdef-0123-456789abcdef, got \"0123abcd-89ab-cdef-0123-456789abcdeg\"");
	expect_reject("{\"uuid\":7}", NULL);
	expect_reject("{\"list\":\"a\"}", "list: expected an array of strings, got \"a\"");
	expect_reject("{\"list\":[\"a\",2]}", "list[1]: expected a string, got 2");
	expect_reject("{\"mode\":\"rx\"}", "mode: expected \"ro\" or \"rw\", got \"rx\"");
	expect_reject("{\"small\":6}", "small: expected an integer between -5 and 5, got 6");
	expect_reject("{\"small\":-6}", "small: expected an integer between -5 and 5, got -6");
	/* A later failure frees what earlier parameters allocated. */
	expect_reject("{\"s\":\"keep\",\"any\":[1,2],\"list\":[\"x\"],\"small\":9}", NULL);
	expect_reject("{\"zz\":1}", "zz: unknown parameter (expected one of: s, b, i32, u32, i64, "
		      "u64, d, uuid, any, list, mode, small)");
	expect_reject("[1,2]", "params: expected an object, got [1,2]");
}

static void test_decode_messages(void)
{
	struct local_result r = {0};
	char *huge;
	size_t n = 16u << 20;

	axon_rpc_set_state(AXON_RPC_RUNTIME);
	expect_error("demo_create", "{\"name\":\"a\",\"block_size\":1000,\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "block_size: expected a power of two between 512 and 65536, got 1000");
	expect_error("demo_create", "{\"name\":\"a\",\"block_size\":256,\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "block_size: expected an integer between 512 and 65536, got 256");
	expect_error("demo_create", "{\"name\":\"a\",\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "block_size: missing required parameter, expected an integer between 512 and 65536");
	expect_error("demo_create", "{\"name\":\"a\",\"blocksize\":512,\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "blocksize: unknown parameter (expected one of: name, block_size, num_blocks, readonly)");
	expect_error("demo_create", "{\"name\":null,\"block_size\":512,\"num_blocks\":1}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS, "name: expected a string, got null");
	expect_error("demo_create", "{\"name\":\"a\",\"block_size\":512,\"num_blocks\":0}",
		     AXON_JSONRPC_ERROR_INVALID_PARAMS,
		     "num_blocks: expected an integer between 1 and 1000000000000, got 0");

	/* A 16 MiB string where a number belongs: quoted short. */
	huge = malloc(n + 64);
	memset(huge, 'q', n + 64);
	{
		const char *head = "{\"name\":\"a\",\"num_blocks\":1,\"block_size\":\"";

		memcpy(huge, head, strlen(head));
		memcpy(huge + strlen(head) + n, "\"}", 3);
	}
	call("demo_create", huge, &r);
	CU_ASSERT(err_code(r.error) == AXON_JSONRPC_ERROR_INVALID_PARAMS);
	{
		const char *prefix = "block_size: expected an integer between 512 and 65536, got \"qqq";

		CU_ASSERT(strncmp(err_msg(r.error), prefix, strlen(prefix)) == 0);
	}
	CU_ASSERT(strlen(err_msg(r.error)) < 200);
	local_result_clear(&r);
	free(huge);
	axon_rpc_set_state(AXON_RPC_STARTUP);
}

static void test_send_helpers(void)
{
	struct axon_rpc_request req = {.complete = capture_complete, .method = "t"};

	axon_rpc_send_param_error(&req, "bdev_name", "no bdev named %s", "Malloc9");
	CU_ASSERT(err_code(g_err) == AXON_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT(strcmp(err_msg(g_err), "bdev_name: no bdev named Malloc9") == 0);
	axon_rpc_send_error(&req, -32000, "custom %d", 5);
	CU_ASSERT(err_code(g_err) == -32000 && strcmp(err_msg(g_err), "custom 5") == 0);
	axon_rpc_send_errno(&req, -EINVAL, "open");
	CU_ASSERT(strcmp(err_msg(g_err), "open: Invalid argument") == 0);
	axon_rpc_send_result(&req, NULL);
	CU_ASSERT(json_is_null(g_res) && g_err == NULL);
	axon_rpc_send_bool(&req, false);
	CU_ASSERT(json_is_false(g_res));
	json_decref(g_res);
	g_res = NULL;
}

/* ---- in-process calls ------------------------------------------------------------- */

static void test_call_local_deferred(void)
{
	struct local_result r = {0};
	json_t *params = json_pack("{s:i}", "x", 1);

	/* On an axon_thread a synchronous completion arrives by message, so a
	 * caller chaining calls from its callback never recurses. */
	g_thread = (struct axon_thread *)0x1;
	g_msgs = 0;
	axon_rpc_call_local("demo_version", NULL, local_cb, &r);
	CU_ASSERT(r.called == 0 && g_msgs == 1);
	run_msg();
	CU_ASSERT(r.called == 1 && strcmp(json_string_value(r.result), "1.0") == 0);
	local_result_clear(&r);

	/* An asynchronous handler: the callback runs at its completion. */
	g_nasync = 0;
	axon_rpc_call_local("demo_async", params, local_cb, &r);
	json_decref(params);
	CU_ASSERT(r.called == 0 && g_nasync == 1 && g_msg_fn == NULL);
	axon_rpc_send_error(g_async[0], -32000, "failed later");
	CU_ASSERT(r.called == 1 && err_code(r.error) == -32000 && r.result == NULL);
	local_result_clear(&r);
	g_thread = NULL;
}

/* ---- end to end: lib/jsonrpc + lib/rpc ------------------------------------------- */

static json_t *conn_exchange(struct jsonrpc_conn *conn, const char *text)
{
	json_t *all = json_array();
	struct jsonrpc_out *out;

	CU_ASSERT(jsonrpc_conn_feed(conn, text, strlen(text)) == 0);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	while ((out = jsonrpc_conn_pop_out(conn)) != NULL) {
		json_array_append_new(all, json_loadb(out->data, out->len, 0, NULL));
		jsonrpc_out_free(out);
	}
	return all;
}

static void test_jsonrpc_end_to_end(void)
{
	struct axon_jsonrpc_server *server = jsonrpc_server_create(NULL, rpc_jsonrpc_handler, NULL);
	struct jsonrpc_conn *conn = jsonrpc_conn_create(server, -1);
	json_t *r;

	axon_rpc_set_state(AXON_RPC_STARTUP);
	r = conn_exchange(conn,
		"{\"jsonrpc\":\"2.0\",\"method\":\"demo_version\",\"id\":1}"
		"{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2}"
		"{\"jsonrpc\":\"2.0\",\"method\":\"demo_create\",\"params\":{},\"id\":3}"
		"[{\"jsonrpc\":\"2.0\",\"method\":\"demo_setup\",\"id\":4},"
		" {\"jsonrpc\":\"2.0\",\"method\":\"demo_version\",\"params\":[1],\"id\":5}]");
	CU_ASSERT_FATAL(json_array_size(r) == 4);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(r, 0), "result")), "1.0") == 0);
	CU_ASSERT(err_code(json_object_get(json_array_get(r, 1), "error")) == -32601);
	CU_ASSERT(err_code(json_object_get(json_array_get(r, 2), "error")) == -32604);
	CU_ASSERT(json_is_true(json_object_get(json_array_get(json_array_get(r, 3), 0), "result")));
	CU_ASSERT(err_code(json_object_get(json_array_get(json_array_get(r, 3), 1), "error")) == -32602);
	json_decref(r);

	axon_rpc_set_state(AXON_RPC_RUNTIME);
	r = conn_exchange(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"demo_create\",\"id\":\"c\","
				"\"params\":{\"name\":\"m0\",\"block_size\":512,\"num_blocks\":10}}");
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_object_get(json_array_get(r, 0),
								"result"), "name")), "m0") == 0);
	json_decref(r);

	/* Client gone while an async handler runs: its late answer is dropped. */
	g_nasync = 0;
	r = conn_exchange(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"demo_async\",\"id\":9}");
	CU_ASSERT(json_array_size(r) == 0 && g_nasync == 1);
	json_decref(r);
	jsonrpc_conn_close(conn);
	axon_rpc_send_result(g_async[0], json_string("late"));
	axon_jsonrpc_server_close(server);
	axon_rpc_set_state(AXON_RPC_STARTUP);
}

static void test_server_start_stop(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"demo_version\",\"id\":1}";
	char path[108], buf[256];
	int fd, i, rc;
	ssize_t n = 0;

	snprintf(path, sizeof(path), "/tmp/axon_rpc_ut.%d.sock", (int)getpid());
	CU_ASSERT_FATAL(axon_rpc_server_start(path) == 0);
	CU_ASSERT(g_poller_fn != NULL && g_wake_fd >= 0);
	CU_ASSERT(axon_rpc_server_start(path) == -EALREADY);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CU_ASSERT(send(fd, req, strlen(req), 0) == (ssize_t)strlen(req));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 1000; i++) {
		rc = g_poller_fn(g_poller_arg);
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			break;
		}
	}
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT(strcmp(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"1.0\"}\n") == 0);
	/* Nothing to do: the poller says idle, so the reactor may sleep. */
	rc = g_poller_fn(g_poller_arg);
	CU_ASSERT(rc == AXON_POLLER_IDLE);
	close(fd);

	axon_rpc_server_stop();
	CU_ASSERT(g_poller_fn == NULL && g_wake_fd == -1);
	CU_ASSERT(access(path, F_OK) != 0);
	axon_rpc_server_stop(); /* harmless twice */
	CU_ASSERT(axon_rpc_server_start("") == -EINVAL);
	CU_ASSERT(g_poller_fn == NULL);
}

/* Last: it leaves a broken alias in the registry. */
static void test_alias_to_nothing(void)
{
	CU_ASSERT(rpc_register_alias("ghost", "no_such_method") == 0);
	CU_ASSERT(rpc_registry_check() == -ENOENT);
	CU_ASSERT(strstr(g_last_log, "ghost") != NULL);
	CU_ASSERT(axon_rpc_server_start("/tmp/never.sock") == -ENOENT);
	expect_error("ghost", NULL, AXON_JSONRPC_ERROR_METHOD_NOT_FOUND, NULL);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("rpc", NULL, NULL);
	CU_ADD_TEST(suite, test_registry);
	CU_ADD_TEST(suite, test_duplicate_aborts);
	CU_ADD_TEST(suite, test_phases);
	CU_ADD_TEST(suite, test_decode_every_type);
	CU_ADD_TEST(suite, test_decode_wrong_types);
	CU_ADD_TEST(suite, test_decode_messages);
	CU_ADD_TEST(suite, test_send_helpers);
	CU_ADD_TEST(suite, test_call_local_deferred);
	CU_ADD_TEST(suite, test_jsonrpc_end_to_end);
	CU_ADD_TEST(suite, test_server_start_stop);
	CU_ADD_TEST(suite, test_alias_to_nothing);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	rpc_registry_clear();
	return n ? 1 : 0;
}
