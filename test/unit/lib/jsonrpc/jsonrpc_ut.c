/*
 * lib/jsonrpc: the value scanner, the connection state machine driven
 * directly (detached connections), and the real Unix socket server polled by
 * hand.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/jsonrpc/jsonrpc_scan.c"
#include "lib/jsonrpc/jsonrpc_conn.c"
#include "lib/jsonrpc/jsonrpc_request.c"
#include "lib/jsonrpc/jsonrpc_server.c"

/* ---- test doubles ---------------------------------------------------------- */

static char g_last_log[1024];

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_last_log, sizeof(g_last_log), fmt, ap);
	va_end(ap);
}

/* Handler: "echo" returns params, "async" waits for the test, "fail" errors,
 * "big" returns a string of params.size bytes. */
#define MAX_PENDING 8
static struct axon_jsonrpc_request *g_pending[MAX_PENDING];
static int g_npending;
static int g_calls;
static char g_methods_seen[4096];

static void test_handler(struct axon_jsonrpc_request *req, const char *method,
			 const json_t *params, void *ctx)
{
	g_calls++;
	if (strlen(g_methods_seen) + strlen(method) + 2 < sizeof(g_methods_seen)) {
		strcat(g_methods_seen, method);
		strcat(g_methods_seen, ";");
	}
	if (strcmp(method, "echo") == 0) {
		axon_jsonrpc_request_complete(req, params ? json_deep_copy(params) : NULL, NULL);
	} else if (strcmp(method, "async") == 0) {
		CU_ASSERT_FATAL(g_npending < MAX_PENDING);
		g_pending[g_npending++] = req;
	} else if (strcmp(method, "big") == 0) {
		size_t n = (size_t)json_integer_value(json_object_get(params, "size"));
		char *s = malloc(n + 1);

		memset(s, 'x', n);
		s[n] = '\0';
		axon_jsonrpc_request_complete(req, json_string(s), NULL);
		free(s);
	} else {
		axon_jsonrpc_request_complete(req, NULL, axon_jsonrpc_error_new(-32601, "nope"));
	}
}

static void reset_handler(void)
{
	g_npending = 0;
	g_calls = 0;
	g_methods_seen[0] = '\0';
}

/* ---- helpers for detached connections -------------------------------------- */

static struct axon_jsonrpc_server *g_server;

static struct jsonrpc_conn *setup_conn(size_t max_request, size_t max_send)
{
	struct axon_jsonrpc_server_opts opts;

	reset_handler();
	axon_jsonrpc_server_opts_init(&opts);
	if (max_request) {
		opts.max_request_size = max_request;
	}
	if (max_send) {
		opts.max_send_queue = max_send;
	}
	g_server = jsonrpc_server_create(&opts, test_handler, NULL);
	CU_ASSERT_FATAL(g_server != NULL);
	return jsonrpc_conn_create(g_server, -1);
}

static void teardown(void)
{
	axon_jsonrpc_server_close(g_server);
	g_server = NULL;
}

/* Every queued response, each checked to be one JSON text ending in "\n". */
static json_t *take_responses(struct jsonrpc_conn *conn)
{
	json_t *all = json_array();
	struct jsonrpc_out *out;
	json_error_t err;

	while ((out = jsonrpc_conn_pop_out(conn)) != NULL) {
		json_t *v;

		CU_ASSERT(out->len > 0 && out->data[out->len - 1] == '\n');
		CU_ASSERT(memchr(out->data, '\n', out->len - 1) == NULL);
		v = json_loadb(out->data, out->len - 1, 0, &err);
		CU_ASSERT(v != NULL);
		if (v != NULL) {
			json_array_append_new(all, v);
		}
		jsonrpc_out_free(out);
	}
	return all;
}

static json_t *feed_all(struct jsonrpc_conn *conn, const char *text)
{
	CU_ASSERT(jsonrpc_conn_feed(conn, text, strlen(text)) == 0);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	return take_responses(conn);
}

static int error_code(const json_t *resp)
{
	return (int)json_integer_value(json_object_get(json_object_get(resp, "error"), "code"));
}

static const char *error_message(const json_t *resp)
{
	return json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
}

/* ---- scanner ----------------------------------------------------------------- */

static void test_scan_values(void)
{
	struct jsonrpc_scanner s;
	const char *text = " {\"a\":\"}\\\"]\"}[1,[2]]\"str\"  123 true{}";
	size_t len = strlen(text);

	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(s.start == 1);
	CU_ASSERT(strncmp(text + s.start, "{\"a\":\"}\\\"]\"}", s.pos - s.start) == 0);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(strncmp(text + s.start, "[1,[2]]", s.pos - s.start) == 0);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(s.pos - s.start == 5);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(strncmp(text + s.start, "123", s.pos - s.start) == 0 && s.pos - s.start == 3);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(s.pos - s.start == 4);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_DONE);
	CU_ASSERT(s.pos == len);
	jsonrpc_scanner_reset(&s, s.pos);
	CU_ASSERT(jsonrpc_scan(&s, text, len) == JSONRPC_SCAN_MORE);
	CU_ASSERT(!s.started);

	/* A top-level literal at the end of input ends only at EOF. */
	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, "42", 2) == JSONRPC_SCAN_MORE);
	CU_ASSERT(jsonrpc_scan_finish(&s, 2));
	CU_ASSERT(s.pos == 2);

	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, " }", 2) == JSONRPC_SCAN_BAD);
	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, ",", 1) == JSONRPC_SCAN_BAD);
}

static void test_scan_depth(void)
{
	struct jsonrpc_scanner s;
	char buf[AXON_JSONRPC_MAX_DEPTH + 2];

	memset(buf, '[', sizeof(buf));
	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, buf, AXON_JSONRPC_MAX_DEPTH) == JSONRPC_SCAN_MORE);
	CU_ASSERT(jsonrpc_scan(&s, buf, AXON_JSONRPC_MAX_DEPTH + 1) == JSONRPC_SCAN_TOO_DEEP);
	/* Brackets inside strings do not count. */
	jsonrpc_scanner_reset(&s, 0);
	CU_ASSERT(jsonrpc_scan(&s, "[\"[[[[\"]", 8) == JSONRPC_SCAN_DONE);
}

/* ---- connection state machine ------------------------------------------------ */

static const char *g_stream =
	"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"s\":\"a}\\\"b\\\\\",\"u\":\"\\u00e9\xc3\xa9\","
	"\"n\":[1,2.5,-3e2,{\"x\":null}]},\"id\":1}\n"
	"  [{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[true,false],\"id\":\"two\"},"
	"{\"jsonrpc\":\"2.0\",\"method\":\"note\"}]"
	"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}";

static void test_split_every_byte(void)
{
	size_t len = strlen(g_stream), cut;
	json_t *expect, *got;
	struct jsonrpc_conn *conn;

	conn = setup_conn(0, 0);
	expect = feed_all(conn, g_stream);
	CU_ASSERT(json_array_size(expect) == 3);
	CU_ASSERT(g_calls == 4);
	CU_ASSERT(strcmp(g_methods_seen, "echo;echo;note;echo;") == 0);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(expect, 0), "id")) == 1);
	CU_ASSERT(json_array_size(json_array_get(expect, 1)) == 1); /* the notification is silent */
	CU_ASSERT(json_is_null(json_object_get(json_array_get(expect, 2), "id")));
	teardown();

	for (cut = 1; cut < len; cut++) {
		conn = setup_conn(0, 0);
		CU_ASSERT(jsonrpc_conn_feed(conn, g_stream, cut) == 0);
		while (jsonrpc_conn_process(conn) > 0) {
		}
		CU_ASSERT(jsonrpc_conn_feed(conn, g_stream + cut, len - cut) == 0);
		while (jsonrpc_conn_process(conn) > 0) {
		}
		got = take_responses(conn);
		CU_ASSERT(json_equal(got, expect));
		CU_ASSERT(g_calls == 4);
		json_decref(got);
		teardown();
	}

	/* One byte at a time. */
	conn = setup_conn(0, 0);
	for (cut = 0; cut < len; cut++) {
		CU_ASSERT(jsonrpc_conn_feed(conn, g_stream + cut, 1) == 0);
		while (jsonrpc_conn_process(conn) > 0) {
		}
	}
	got = take_responses(conn);
	CU_ASSERT(json_equal(got, expect));
	json_decref(got);
	teardown();
	json_decref(expect);
}

static void test_two_in_one_read(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r = feed_all(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1}"
				   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[2],\"id\":2}");

	CU_ASSERT(json_array_size(r) == 2);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 0), "id")) == 1);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 1), "id")) == 2);
	CU_ASSERT(json_integer_value(json_array_get(json_object_get(json_array_get(r, 1), "result"), 0)) == 2);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(r, 0), "jsonrpc")), "2.0") == 0);
	json_decref(r);
	teardown();
}

static void test_batches(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r, *batch;

	r = feed_all(conn, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":1},\"id\":\"a\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"note\"},"
			   "1,"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"other\",\"id\":7}]");
	CU_ASSERT(json_array_size(r) == 1);
	batch = json_array_get(r, 0);
	CU_ASSERT(json_array_size(batch) == 3);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(batch, 0), "id")), "a") == 0);
	CU_ASSERT(error_code(json_array_get(batch, 1)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(batch, 1), "id")));
	CU_ASSERT(error_code(json_array_get(batch, 2)) == -32601);
	json_decref(r);

	/* All notifications: no response at all. */
	r = feed_all(conn, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]");
	CU_ASSERT(json_array_size(r) == 0);
	json_decref(r);

	/* Empty batch: a single error, not an array. */
	r = feed_all(conn, "[]");
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(json_is_object(json_array_get(r, 0)));
	CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
	json_decref(r);
	CU_ASSERT(conn->state == JSONRPC_CONN_OPEN);
	teardown();
}

static void test_batch_async(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r;

	r = feed_all(conn, "[{\"jsonrpc\":\"2.0\",\"method\":\"async\",\"id\":1},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}]");
	/* One at a time: the second waits for the first. */
	CU_ASSERT(json_array_size(r) == 0);
	CU_ASSERT(g_calls == 1 && g_npending == 1);
	json_decref(r);
	axon_jsonrpc_request_complete(g_pending[0], json_string("late"), NULL);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(json_array_size(json_array_get(r, 0)) == 2);
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(json_array_get(r, 0), 0),
							  "result")), "late") == 0);
	json_decref(r);
	teardown();
}

static void test_invalid_requests(void)
{
	static const char *bad[] = {
		"{\"method\":\"echo\",\"id\":1}",                          /* no jsonrpc */
		"{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"x\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":3,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":[1]}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}",
		"\"a string\"",
		"17 ",
		"null ",
	};
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	size_t i;
	json_t *r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = feed_all(conn, bad[i]);
		CU_ASSERT(json_array_size(r) == 1);
		CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
		if (i < 6) {
			CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 0), "id")) == 1);
		} else {
			CU_ASSERT(json_is_null(json_object_get(json_array_get(r, 0), "id")));
		}
		json_decref(r);
	}
	CU_ASSERT(g_calls == 0);
	CU_ASSERT(conn->state == JSONRPC_CONN_OPEN);
	teardown();
}

static void test_ids(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r;

	r = feed_all(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"abc\"}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":-12}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1.5}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":9}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":null,\"id\":10}");
	CU_ASSERT(json_array_size(r) == 6);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(r, 5), "result")));
	CU_ASSERT(strcmp(json_string_value(json_object_get(json_array_get(r, 0), "id")), "abc") == 0);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 1), "id")) == -12);
	CU_ASSERT(json_real_value(json_object_get(json_array_get(r, 2), "id")) == 1.5);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(r, 3), "id")));
	CU_ASSERT(json_object_get(json_array_get(r, 3), "result") != NULL);
	CU_ASSERT(error_code(json_array_get(r, 4)) == -32601);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 4), "id")) == 9);
	CU_ASSERT(g_calls == 8);
	json_decref(r);
	teardown();
}

static void expect_fatal(const char *input, size_t len, int code, const char *words)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r;

	CU_ASSERT(jsonrpc_conn_feed(conn, input, len) == 0);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(error_code(json_array_get(r, 0)) == code);
	CU_ASSERT(json_is_null(json_object_get(json_array_get(r, 0), "id")));
	if (words != NULL) {
		CU_ASSERT(error_message(json_array_get(r, 0)) != NULL &&
			  strstr(error_message(json_array_get(r, 0)), words) != NULL);
	}
	/* The connection takes nothing more and is ready to be closed. */
	CU_ASSERT(conn->state == JSONRPC_CONN_DRAIN);
	CU_ASSERT(jsonrpc_conn_done(conn));
	CU_ASSERT(jsonrpc_conn_feed(conn, "{}", 2) == 0);
	CU_ASSERT(jsonrpc_conn_process(conn) == 0);
	CU_ASSERT(jsonrpc_conn_pop_out(conn) == NULL);
	json_decref(r);
	teardown();
}

static void test_parse_errors(void)
{
	static const char nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"e\0cho\",\"id\":1}";
	char *deep;
	size_t i, n = 200000;

	expect_fatal("{\"jsonrpc\":\"2.0\",,}", 19, AXON_JSONRPC_ERROR_PARSE_ERROR, "Parse error");
	expect_fatal("}", 1, AXON_JSONRPC_ERROR_PARSE_ERROR, "'}'");
	expect_fatal("nonsense ", 9, AXON_JSONRPC_ERROR_PARSE_ERROR, NULL);
	/* Invalid UTF-8 in a string, and an overlong encoding. */
	expect_fatal("{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"id\":1}", 38,
		     AXON_JSONRPC_ERROR_PARSE_ERROR, NULL);
	expect_fatal("{\"jsonrpc\":\"2.0\",\"method\":\"\xc0\xaf\",\"id\":1}", 38,
		     AXON_JSONRPC_ERROR_PARSE_ERROR, NULL);
	expect_fatal(nul, sizeof(nul) - 1, AXON_JSONRPC_ERROR_PARSE_ERROR, NULL);
	expect_fatal("{\"a\":\"\\u0000\"}", 14, AXON_JSONRPC_ERROR_PARSE_ERROR, NULL);

	/* Deep nesting: a clean error, no stack overflow, however deep. */
	deep = malloc(n);
	memset(deep, '[', n);
	expect_fatal(deep, n, AXON_JSONRPC_ERROR_PARSE_ERROR, "nested deeper");
	for (i = 0; i < n; i++) {
		deep[i] = i % 2 ? '[' : '{';
	}
	expect_fatal(deep, n, AXON_JSONRPC_ERROR_PARSE_ERROR, "nested deeper");
	free(deep);
}

static void test_depth_limit_exact(void)
{
	/* params nested to exactly the limit (with the request object itself). */
	char buf[4 * AXON_JSONRPC_MAX_DEPTH + 128];
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	uint32_t i, levels = AXON_JSONRPC_MAX_DEPTH - 1;
	size_t off;
	json_t *r;

	off = (size_t)sprintf(buf, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":");
	for (i = 0; i < levels; i++) {
		buf[off++] = '[';
	}
	for (i = 0; i < levels; i++) {
		buf[off++] = ']';
	}
	buf[off++] = '}';
	buf[off] = '\0';
	r = feed_all(conn, buf);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(json_object_get(json_array_get(r, 0), "result") != NULL);
	json_decref(r);
	teardown();
}

static void test_oversized(void)
{
	struct jsonrpc_conn *conn = setup_conn(1024, 0);
	char chunk[100];
	json_t *r;
	int i;

	memset(chunk, ' ', sizeof(chunk));
	chunk[0] = '{';
	chunk[1] = '"';
	/* Arriving in small pieces: refused once it passes the limit. */
	for (i = 0; i < 20 && conn->state == JSONRPC_CONN_OPEN; i++) {
		CU_ASSERT(jsonrpc_conn_feed(conn, i ? chunk + 2 : chunk, i ? 98 : 100) == 0);
		jsonrpc_conn_process(conn);
	}
	CU_ASSERT(i <= 12);
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
	CU_ASSERT(strstr(error_message(json_array_get(r, 0)), "1024 bytes") != NULL);
	CU_ASSERT(conn->state == JSONRPC_CONN_DRAIN);
	json_decref(r);
	teardown();

	/* Complete in one read but too big. */
	{
		char big[2048];

		conn = setup_conn(1024, 0);
		memset(big, ' ', sizeof(big));
		memcpy(big, "{\"a\":\"", 6);
		memcpy(big + sizeof(big) - 2, "\"}", 2);
		CU_ASSERT(jsonrpc_conn_feed(conn, big, sizeof(big)) == 0);
		jsonrpc_conn_process(conn);
		r = take_responses(conn);
		CU_ASSERT(json_array_size(r) == 1);
		CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
		CU_ASSERT(g_calls == 0);
		json_decref(r);
		teardown();
	}
}

static void test_send_limit(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 4096);
	json_t *r;

	r = feed_all(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"size\":10000},\"id\":3}");
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INTERNAL_ERROR);
	CU_ASSERT(strstr(error_message(json_array_get(r, 0)), "exceeds") != NULL);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 0), "id")) == 3);
	json_decref(r);

	/* Below the limit, but above the high-water mark: later requests wait. */
	{
		const char *two = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"size\":3000},\"id\":4}"
				  "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"size\":3000},\"id\":5}";

		CU_ASSERT(jsonrpc_conn_feed(conn, two, strlen(two)) == 0);
	}
	while (jsonrpc_conn_process(conn) > 0) {
	}
	CU_ASSERT(g_calls == 2);
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	json_decref(r);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	CU_ASSERT(g_calls == 3);
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(json_integer_value(json_object_get(json_array_get(r, 0), "id")) == 5);
	json_decref(r);
	teardown();
}

static void test_eof(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r;

	/* Requests before EOF are all answered, then the connection is done. */
	CU_ASSERT(jsonrpc_conn_feed(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1} ", 41) == 0);
	jsonrpc_conn_feed_eof(conn);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(jsonrpc_conn_done(conn));
	json_decref(r);
	teardown();

	/* Input ending inside a value. */
	conn = setup_conn(0, 0);
	CU_ASSERT(jsonrpc_conn_feed(conn, "{\"jsonrpc\":", 11) == 0);
	jsonrpc_conn_feed_eof(conn);
	while (jsonrpc_conn_process(conn) > 0) {
	}
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_PARSE_ERROR);
	CU_ASSERT(jsonrpc_conn_done(conn));
	json_decref(r);
	teardown();

	/* A bare number at EOF is a complete (invalid) request. */
	conn = setup_conn(0, 0);
	r = feed_all(conn, "5");
	CU_ASSERT(json_array_size(r) == 0);
	json_decref(r);
	jsonrpc_conn_feed_eof(conn);
	jsonrpc_conn_process(conn);
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(error_code(json_array_get(r, 0)) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
	json_decref(r);
	teardown();
}

static void test_close_while_in_flight(void)
{
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	json_t *r;

	r = feed_all(conn, "{\"jsonrpc\":\"2.0\",\"method\":\"async\",\"params\":{\"big\":[1,2,3]},\"id\":1}"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
	CU_ASSERT(json_array_size(r) == 0);
	CU_ASSERT(g_npending == 1);
	json_decref(r);
	jsonrpc_conn_close(conn);
	CU_ASSERT(g_server->nconns == 0);
	/* Completed after the client left: freed quietly (ASan checks). */
	axon_jsonrpc_request_complete(g_pending[0], json_string("too late"), NULL);
	CU_ASSERT(g_calls == 1);
	teardown();

	/* Same inside a batch, and the server itself closed first. */
	conn = setup_conn(0, 0);
	r = feed_all(conn, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"async\",\"id\":2}]");
	json_decref(r);
	CU_ASSERT(g_npending == 1);
	teardown();
	axon_jsonrpc_request_complete(g_pending[0], NULL,
				      axon_jsonrpc_error_new(-32603, "gone"));
}

static void test_error_new_utf8(void)
{
	json_t *e = axon_jsonrpc_error_new(-1, "bad \xff byte \xe2\x82 cut \xc3\xa9 ok");

	CU_ASSERT_FATAL(e != NULL);
	CU_ASSERT(strcmp(json_string_value(json_object_get(e, "message")),
			 "bad ? byte ?? cut \xc3\xa9 ok") == 0);
	json_decref(e);
}

/* ---- the real socket ----------------------------------------------------------- */

static char g_path[108];

static int client_connect(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Send all of buf, polling the server while the socket is full. */
static void client_send(struct axon_jsonrpc_server *server, int fd, const char *buf, size_t len)
{
	size_t off = 0;
	int spins = 0;

	while (off < len && spins < 1000000) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
		} else {
			axon_jsonrpc_server_poll(server);
			spins++;
		}
	}
	CU_ASSERT(off == len);
}

/* Read one response line, polling the server meanwhile. NULL on EOF/timeout. */
static json_t *client_recv(struct axon_jsonrpc_server *server, int fd, bool *eof)
{
	static char buf[16 << 20];
	static size_t have;
	static int have_fd = -1;
	json_error_t err;
	char *nl;
	int spins;

	if (have_fd != fd) {
		have = 0;
		have_fd = fd;
	}
	*eof = false;
	for (spins = 0; spins < 200000; spins++) {
		nl = memchr(buf, '\n', have);
		if (nl != NULL) {
			json_t *v = json_loadb(buf, (size_t)(nl - buf), 0, &err);

			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
			return v;
		}
		ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);

		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0) {
			*eof = true;
			return NULL;
		}
		if (server != NULL) {
			axon_jsonrpc_server_poll(server);
		}
	}
	return NULL;
}

static struct axon_jsonrpc_server *start_server_opts(const struct axon_jsonrpc_server_opts *opts)
{
	struct axon_jsonrpc_server *server;
	int rc = 0;

	reset_handler();
	snprintf(g_path, sizeof(g_path), "/tmp/axon_jsonrpc_ut.%d.sock", (int)getpid());
	server = axon_jsonrpc_server_listen(g_path, opts, test_handler, NULL, &rc);
	CU_ASSERT_FATAL(server != NULL);
	CU_ASSERT(rc == 0);
	return server;
}

static struct axon_jsonrpc_server *start_server(void)
{
	return start_server_opts(NULL);
}

static void test_socket_basic(void)
{
	struct axon_jsonrpc_server *server = start_server();
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"hi\"],\"id\":1}";
	bool eof;
	json_t *r;
	int fd, fd2;

	fd = client_connect();
	/* Split in two sends with polls between. */
	client_send(server, fd, req, 20);
	axon_jsonrpc_server_poll(server);
	axon_jsonrpc_server_poll(server);
	client_send(server, fd, req + 20, strlen(req) - 20);
	r = client_recv(server, fd, &eof);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(strcmp(json_string_value(json_array_get(json_object_get(r, "result"), 0)), "hi") == 0);
	json_decref(r);

	/* A stuck client (half a request) does not delay another one. */
	fd2 = client_connect();
	client_send(server, fd2, req, 30);
	client_send(server, fd, req, strlen(req));
	r = client_recv(server, fd, &eof);
	CU_ASSERT(r != NULL);
	json_decref(r);
	CU_ASSERT(server->nconns == 2);

	/* A parse error is answered, then the connection is closed. */
	client_send(server, fd, "{]", 2);
	r = client_recv(server, fd, &eof);
	CU_ASSERT(r != NULL && error_code(r) == AXON_JSONRPC_ERROR_PARSE_ERROR);
	json_decref(r);
	r = client_recv(server, fd, &eof);
	CU_ASSERT(r == NULL && eof);
	close(fd);

	/* Shut the sending side: the answer still comes, then EOF. */
	client_send(server, fd2, req + 30, strlen(req) - 30);
	shutdown(fd2, SHUT_WR);
	r = client_recv(server, fd2, &eof);
	CU_ASSERT(r != NULL && json_object_get(r, "result") != NULL);
	json_decref(r);
	r = client_recv(server, fd2, &eof);
	CU_ASSERT(r == NULL && eof);
	close(fd2);
	axon_jsonrpc_server_poll(server);
	CU_ASSERT(server->nconns == 0);

	axon_jsonrpc_server_close(server);
	CU_ASSERT(access(g_path, F_OK) != 0);
}

static void test_socket_large(void)
{
	struct axon_jsonrpc_server *server = start_server();
	size_t n = 12u << 20, len;
	char *req = malloc(n + 128);
	bool eof;
	json_t *r;
	int fd = client_connect();

	/* A 12 MiB request echoed back as a 12 MiB response. */
	len = (size_t)sprintf(req, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":[\"");
	memset(req + len, 'y', n);
	len += n;
	len += (size_t)sprintf(req + len, "\"]}");
	client_send(server, fd, req, len);
	r = client_recv(server, fd, &eof);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(json_string_length(json_array_get(json_object_get(r, "result"), 0)) == n);
	json_decref(r);
	free(req);

	/* Many requests at once, responses read only afterwards. */
	{
		const char *small = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"params\":{\"size\":100000},\"id\":2}";
		int i, got = 0;

		for (i = 0; i < 100; i++) {
			client_send(server, fd, small, strlen(small));
		}
		for (i = 0; i < 100; i++) {
			r = client_recv(server, fd, &eof);
			got += r != NULL;
			json_decref(r);
		}
		CU_ASSERT(got == 100);
	}
	close(fd);
	axon_jsonrpc_server_close(server);
}

static void test_socket_oversized(void)
{
	struct axon_jsonrpc_server_opts opts;
	struct axon_jsonrpc_server *server;
	size_t n = 1u << 20;
	char *req = malloc(n);
	bool eof;
	json_t *r;
	int fd;

	/* The client is still sending when the limit is hit: it must get to
	 * read the error, then EOF, rather than a broken pipe. */
	axon_jsonrpc_server_opts_init(&opts);
	opts.max_request_size = 64u << 10;
	server = start_server_opts(&opts);
	fd = client_connect();
	memset(req, ' ', n);
	memcpy(req, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"", 45);
	client_send(server, fd, req, n);
	r = client_recv(server, fd, &eof);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(error_code(r) == AXON_JSONRPC_ERROR_INVALID_REQUEST);
	CU_ASSERT(strstr(error_message(r), "65536 bytes") != NULL);
	json_decref(r);
	r = client_recv(server, fd, &eof);
	CU_ASSERT(r == NULL && eof);
	CU_ASSERT(server->nconns == 1); /* lingering until the client closes */
	close(fd);
	axon_jsonrpc_server_poll(server);
	CU_ASSERT(server->nconns == 0);
	free(req);
	axon_jsonrpc_server_close(server);
}

static void test_large_in_small_chunks(void)
{
	/* 16 MiB arriving 4 KiB at a time: scanned once, not re-parsed per read. */
	size_t n = 16u << 20, len, off;
	struct jsonrpc_conn *conn = setup_conn(0, 0);
	char *req = malloc(n + 128);
	json_t *r;

	len = (size_t)sprintf(req, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":[\"");
	memset(req + len, 'z', n);
	len += n;
	len += (size_t)sprintf(req + len, "\"]}");
	for (off = 0; off < len; off += 4096) {
		CU_ASSERT(jsonrpc_conn_feed(conn, req + off, len - off < 4096 ? len - off : 4096) == 0);
		jsonrpc_conn_process(conn);
	}
	r = take_responses(conn);
	CU_ASSERT(json_array_size(r) == 1);
	CU_ASSERT(json_string_length(json_array_get(json_object_get(json_array_get(r, 0), "result"), 0)) == n);
	json_decref(r);
	free(req);
	teardown();
}

static void test_socket_close_in_flight(void)
{
	struct axon_jsonrpc_server *server = start_server();
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"async\",\"id\":1}";
	int fd = client_connect(), i;

	client_send(server, fd, req, strlen(req));
	for (i = 0; i < 10 && g_npending == 0; i++) {
		axon_jsonrpc_server_poll(server);
	}
	CU_ASSERT_FATAL(g_npending == 1);
	close(fd);
	for (i = 0; i < 10; i++) {
		axon_jsonrpc_server_poll(server);
	}
	CU_ASSERT(server->nconns == 0);
	axon_jsonrpc_request_complete(g_pending[0], json_true(), NULL);
	axon_jsonrpc_server_close(server);
}

static void close_from_handler(struct axon_jsonrpc_request *req, const char *method,
			       const json_t *params, void *ctx)
{
	axon_jsonrpc_request_complete(req, NULL, NULL);
	axon_jsonrpc_server_close(*(struct axon_jsonrpc_server **)ctx);
}

static void test_socket_close_from_handler(void)
{
	struct axon_jsonrpc_server *server;
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"stop\",\"id\":1}";
	int rc, fd, i;

	snprintf(g_path, sizeof(g_path), "/tmp/axon_jsonrpc_ut.%d.sock", (int)getpid());
	server = axon_jsonrpc_server_listen(g_path, NULL, close_from_handler, &server, &rc);
	CU_ASSERT_FATAL(server != NULL);
	fd = client_connect();
	CU_ASSERT(send(fd, req, strlen(req), 0) == (ssize_t)strlen(req));
	for (i = 0; i < 10 && access(g_path, F_OK) == 0; i++) {
		axon_jsonrpc_server_poll(server);
	}
	CU_ASSERT(access(g_path, F_OK) != 0); /* closed and freed by the poll */
	close(fd);
}

static void test_socket_lock(void)
{
	struct axon_jsonrpc_server *server = start_server(), *second;
	char pid[32];
	int rc = 0, fd;

	second = axon_jsonrpc_server_listen(g_path, NULL, test_handler, NULL, &rc);
	CU_ASSERT(second == NULL);
	CU_ASSERT(rc == -EADDRINUSE);
	snprintf(pid, sizeof(pid), "(pid %d)", (int)getpid());
	CU_ASSERT(strstr(g_last_log, "is serving") != NULL);
	CU_ASSERT(strstr(g_last_log, pid) != NULL);
	CU_ASSERT(strstr(g_last_log, g_path) != NULL);
	/* The refused one left the running server's files alone. */
	CU_ASSERT(access(g_path, F_OK) == 0);
	fd = client_connect();
	close(fd);
	axon_jsonrpc_server_close(server);
	CU_ASSERT(access(g_path, F_OK) != 0);
}

static void test_socket_stale_and_bad_paths(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct axon_jsonrpc_server *server;
	char longpath[200];
	int rc = 0, fd;

	/* A socket file from a dead server. */
	snprintf(g_path, sizeof(g_path), "/tmp/axon_jsonrpc_ut.%d.sock", (int)getpid());
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	close(fd);
	CU_ASSERT(access(g_path, F_OK) == 0);
	server = axon_jsonrpc_server_listen(g_path, NULL, test_handler, NULL, &rc);
	CU_ASSERT(server != NULL && rc == 0);
	fd = client_connect();
	close(fd);
	axon_jsonrpc_server_close(server);

	/* Not a socket: left alone. */
	fd = open(g_path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	server = axon_jsonrpc_server_listen(g_path, NULL, test_handler, NULL, &rc);
	CU_ASSERT(server == NULL && rc == -EEXIST);
	CU_ASSERT(access(g_path, F_OK) == 0);
	unlink(g_path);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	server = axon_jsonrpc_server_listen(longpath, NULL, test_handler, NULL, &rc);
	CU_ASSERT(server == NULL && rc == -ENAMETOOLONG);
	server = axon_jsonrpc_server_listen("/nonexistent-dir/x.sock", NULL, test_handler, NULL, &rc);
	CU_ASSERT(server == NULL && rc == -ENOENT);
	server = axon_jsonrpc_server_listen("", NULL, test_handler, NULL, &rc);
	CU_ASSERT(server == NULL && rc == -EINVAL);
}

static void test_socket_many_clients(void)
{
	struct axon_jsonrpc_server *server = start_server();
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1}";
	int fds[64], i, ok = 0;
	bool eof;
	json_t *r;

	for (i = 0; i < 64; i++) {
		fds[i] = client_connect();
		client_send(server, fds[i], req, strlen(req));
	}
	for (i = 0; i < 64; i++) {
		r = client_recv(server, fds[i], &eof);
		ok += r != NULL && json_object_get(r, "result") != NULL;
		json_decref(r);
		close(fds[i]);
	}
	CU_ASSERT(ok == 64);
	for (i = 0; i < 10; i++) {
		axon_jsonrpc_server_poll(server);
	}
	CU_ASSERT(server->nconns == 0);
	CU_ASSERT(axon_jsonrpc_server_poll(server) == 0); /* idle */
	axon_jsonrpc_server_close(server);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("jsonrpc", NULL, NULL);
	CU_ADD_TEST(suite, test_scan_values);
	CU_ADD_TEST(suite, test_scan_depth);
	CU_ADD_TEST(suite, test_split_every_byte);
	CU_ADD_TEST(suite, test_two_in_one_read);
	CU_ADD_TEST(suite, test_batches);
	CU_ADD_TEST(suite, test_batch_async);
	CU_ADD_TEST(suite, test_invalid_requests);
	CU_ADD_TEST(suite, test_ids);
	CU_ADD_TEST(suite, test_parse_errors);
	CU_ADD_TEST(suite, test_depth_limit_exact);
	CU_ADD_TEST(suite, test_oversized);
	CU_ADD_TEST(suite, test_send_limit);
	CU_ADD_TEST(suite, test_eof);
	CU_ADD_TEST(suite, test_close_while_in_flight);
	CU_ADD_TEST(suite, test_error_new_utf8);
	CU_ADD_TEST(suite, test_socket_basic);
	CU_ADD_TEST(suite, test_socket_large);
	CU_ADD_TEST(suite, test_socket_oversized);
	CU_ADD_TEST(suite, test_large_in_small_chunks);
	CU_ADD_TEST(suite, test_socket_close_in_flight);
	CU_ADD_TEST(suite, test_socket_close_from_handler);
	CU_ADD_TEST(suite, test_socket_lock);
	CU_ADD_TEST(suite, test_socket_stale_and_bad_paths);
	CU_ADD_TEST(suite, test_socket_many_clients);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
