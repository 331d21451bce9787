/*
 * From received bytes to handler calls and back: split the stream into
 * values, check each is a JSON-RPC 2.0 request or batch, dispatch requests one
 * at a time, and turn completions into responses.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc_internal.h"

/* Requests (or batch elements) one connection dispatches per poll. */
#define JSONRPC_DISPATCH_BUDGET 64

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80) {
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points beyond Unicode. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		return 0;
	}
	return len;
}

json_t *axon_jsonrpc_error_new(int code, const char *message)
{
	size_t n = strlen(message), i = 0, len;
	json_t *msg, *err;
	char *copy;

	msg = json_string(message);
	if (msg == NULL) {
		/* Not UTF-8 (a truncated value, bytes from a client...): mend it. */
		copy = strdup(message);
		if (copy == NULL) {
			return NULL;
		}
		while (i < n) {
			len = utf8_seq_len((unsigned char *)copy + i, n - i);
			if (len == 0) {
				copy[i] = '?';
				len = 1;
			}
			i += len;
		}
		msg = json_string(copy);
		free(copy);
	}
	err = json_object();
	if (msg == NULL || err == NULL || json_object_set_new(err, "code", json_integer(code)) ||
	    json_object_set_new(err, "message", msg)) {
		json_decref(err);
		return NULL;
	}
	return err;
}

json_t *jsonrpc_response_new(const json_t *id, json_t *result, json_t *error)
{
	json_t *resp = json_object();

	/* jansson's setters take json_t *; the id is only referenced, not changed. */
	if (resp == NULL ||
	    json_object_set_new(resp, "jsonrpc", json_string("2.0")) ||
	    json_object_set(resp, "id", id ? (json_t *)id : json_null()) ||
	    (error ? json_object_set_new(resp, "error", error)
		   : json_object_set_new(resp, "result", result ? result : json_null()))) {
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* Answer within the current value: into the batch, or straight to the queue. */
static void conn_respond(struct jsonrpc_conn *conn, const json_t *id, json_t *result,
			 json_t *error)
{
	json_t *resp = jsonrpc_response_new(id, result, error);

	if (conn->batch_resp != NULL) {
		if (resp == NULL || json_array_append_new(conn->batch_resp, resp) != 0) {
			/* ENOMEM: the batch cannot be answered faithfully; give up on it. */
			json_decref(conn->batch_resp);
			conn->batch_resp = NULL;
			jsonrpc_conn_discard_input(conn);
			conn->state = JSONRPC_CONN_DRAIN;
			conn->linger = false;
		}
		return;
	}
	jsonrpc_conn_queue(conn, resp, id);
}

static void conn_respond_error(struct jsonrpc_conn *conn, const json_t *id, int code,
			       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void conn_respond_error(struct jsonrpc_conn *conn, const json_t *id, int code,
			       const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_respond(conn, id, NULL, axon_jsonrpc_error_new(code, msg));
}

/* A stream error: answer with id null, take no more requests, close once the
 * answer is out and the peer has closed. */
static void conn_fatal(struct jsonrpc_conn *conn, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_fatal(struct jsonrpc_conn *conn, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jsonrpc_conn_stop_input(conn);
	jsonrpc_conn_queue(conn, jsonrpc_response_new(NULL, NULL,
						      axon_jsonrpc_error_new(code, msg)), NULL);
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Take the next complete top-level value from the buffer. Returns true if
 * something was done (a value taken, or an error answered), false if more
 * input is needed or none will come. */
static bool conn_next_value(struct jsonrpc_conn *conn)
{
	struct jsonrpc_scanner *s = &conn->scan;
	size_t max = conn->server->opts.max_request_size;
	enum jsonrpc_scan_result res;
	json_error_t err;
	json_t *value;

	res = conn->rbuf ? jsonrpc_scan(s, conn->rbuf, conn->rlen) : JSONRPC_SCAN_MORE;
	switch (res) {
	case JSONRPC_SCAN_MORE:
		if (conn->rlen - s->start > max) {
			conn_fatal(conn, AXON_JSONRPC_ERROR_INVALID_REQUEST,
				   "Invalid request: larger than the limit of %zu bytes", max);
			return true;
		}
		if (!conn->eof) {
			conn->want_input = true;
			return false;
		}
		if (jsonrpc_scan_finish(s, conn->rlen)) {
			break;
		}
		if (s->started) {
			conn_fatal(conn, AXON_JSONRPC_ERROR_PARSE_ERROR,
				   "Parse error: the input ended inside a JSON value");
			return true;
		}
		/* Clean end of input: nothing to linger for. */
		jsonrpc_conn_discard_input(conn);
		conn->state = JSONRPC_CONN_DRAIN;
		return false;
	case JSONRPC_SCAN_TOO_DEEP:
		conn_fatal(conn, AXON_JSONRPC_ERROR_PARSE_ERROR,
			   "Parse error: arrays and objects nested deeper than %u levels",
			   AXON_JSONRPC_MAX_DEPTH);
		return true;
	case JSONRPC_SCAN_BAD:
		conn_fatal(conn, AXON_JSONRPC_ERROR_PARSE_ERROR,
			   "Parse error: '%c' where a JSON value should start", conn->rbuf[s->pos]);
		return true;
	case JSONRPC_SCAN_DONE:
		break;
	}
	if (s->pos - s->start > max) {
		conn_fatal(conn, AXON_JSONRPC_ERROR_INVALID_REQUEST,
			   "Invalid request: larger than the limit of %zu bytes", max);
		return true;
	}
	value = json_loadb(conn->rbuf + s->start, s->pos - s->start, JSON_DECODE_ANY, &err);
	jsonrpc_scanner_reset(s, s->pos);
	conn->want_input = false;
	if (value == NULL) {
		conn_fatal(conn, AXON_JSONRPC_ERROR_PARSE_ERROR, "Parse error: %s (line %d, column %d)",
			   err.text, err.line, err.column);
		return true;
	}
	if (json_is_array(value) && json_array_size(value) == 0) {
		conn_respond_error(conn, NULL, AXON_JSONRPC_ERROR_INVALID_REQUEST,
				   "Invalid request: empty batch");
		json_decref(value);
	} else if (json_is_array(value)) {
		conn->batch_resp = json_array();
		if (conn->batch_resp == NULL) {
			json_decref(value);
			conn_fatal(conn, AXON_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
			return true;
		}
		conn->value = value;
		conn->batch_next = 0;
	} else if (json_is_object(value)) {
		conn->value = value;
		conn->batch_next = 0;
	} else {
		conn_respond_error(conn, NULL, AXON_JSONRPC_ERROR_INVALID_REQUEST,
				   "Invalid request: expected an object or an array of objects, got %s",
				   json_type_name(value));
		json_decref(value);
	}
	return true;
}

/* Check one request object. Returns NULL if it is valid, else what is wrong.
 * *id is the id to answer with (NULL means null). */
static const char *request_check(const json_t *obj, const char **method, const json_t **params,
				 const json_t **id, bool *notification)
{
	const json_t *v;

	*id = NULL;
	*notification = false;
	if (!json_is_object(obj)) {
		return "Invalid request: a batch element must be an object";
	}
	v = json_object_get(obj, "id");
	if (v == NULL) {
		*notification = true;
	} else if (json_is_string(v) || json_is_number(v) || json_is_null(v)) {
		*id = v;
	} else {
		return "Invalid request: \"id\" must be a string, a number or null";
	}
	v = json_object_get(obj, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		return "Invalid request: \"jsonrpc\" must be \"2.0\"";
	}
	v = json_object_get(obj, "method");
	if (!json_is_string(v)) {
		return "Invalid request: \"method\" must be a string";
	}
	*method = json_string_value(v);
	*params = json_object_get(obj, "params");
	if (json_is_null(*params)) {
		*params = NULL; /* some clients spell "no params" this way */
	}
	if (*params != NULL && !json_is_object(*params) && !json_is_array(*params)) {
		return "Invalid request: \"params\" must be an object or an array";
	}
	return NULL;
}

/* The current value is fully answered: send a batch's responses, drop it. */
static void conn_finish_value(struct jsonrpc_conn *conn)
{
	json_t *batch = conn->batch_resp;

	conn->batch_resp = NULL;
	if (batch != NULL && json_array_size(batch) > 0) {
		jsonrpc_conn_queue(conn, batch, NULL);
	} else {
		json_decref(batch);
	}
	json_decref(conn->value);
	conn->value = NULL;
}

/* Dispatch the next request of the current value, or finish the value. */
static void conn_dispatch(struct jsonrpc_conn *conn)
{
	struct axon_jsonrpc_server *server = conn->server;
	const json_t *obj, *params = NULL, *id;
	const char *method = NULL, *bad;
	bool notification;
	size_t count = json_is_array(conn->value) ? json_array_size(conn->value) : 1;

	if (conn->batch_next == count) {
		conn_finish_value(conn);
		return;
	}
	obj = json_is_array(conn->value) ? json_array_get(conn->value, conn->batch_next)
					 : conn->value;
	conn->batch_next++;
	bad = request_check(obj, &method, &params, &id, &notification);
	if (bad != NULL) {
		/* Even without an id: the client must learn its request was not run. */
		conn_respond_error(conn, id, AXON_JSONRPC_ERROR_INVALID_REQUEST, "%s", bad);
		return;
	}
	conn->req = (struct axon_jsonrpc_request){
		.conn = conn, .id = id, .notification = notification,
	};
	conn->in_flight = true;
	server->handler(&conn->req, method, params, server->handler_ctx);
}

int jsonrpc_conn_process(struct jsonrpc_conn *conn)
{
	int budget = JSONRPC_DISPATCH_BUDGET;
	int work = 0;

	conn->kick = false;
	while (conn->state != JSONRPC_CONN_CLOSED && !conn->in_flight &&
	       conn->out_bytes < jsonrpc_conn_high_water(conn)) {
		if (budget-- == 0) {
			conn->kick = true;
			break;
		}
		if (conn->value != NULL) {
			conn_dispatch(conn);
		} else if (conn->state != JSONRPC_CONN_OPEN || !conn_next_value(conn)) {
			break;
		}
		work++;
	}
	return work;
}

const json_t *axon_jsonrpc_request_get_id(const struct axon_jsonrpc_request *req)
{
	return req->notification ? NULL : (req->id ? req->id : json_null());
}

bool axon_jsonrpc_request_is_notification(const struct axon_jsonrpc_request *req)
{
	return req->notification;
}

void axon_jsonrpc_request_complete(struct axon_jsonrpc_request *req, json_t *result,
				   json_t *error)
{
	struct jsonrpc_conn *conn = req->conn;

	assert(conn->in_flight);
	assert(result == NULL || error == NULL);
	conn->in_flight = false;
	if (conn->state == JSONRPC_CONN_CLOSED) {
		/* The client left while the handler worked: nobody to answer. */
		json_decref(result);
		json_decref(error);
		jsonrpc_conn_free(conn);
		return;
	}
	if (req->notification) {
		json_decref(result);
		json_decref(error);
	} else {
		conn_respond(conn, req->id, result, error);
	}
	/* The next request may go, and a response may be waiting to be sent. */
	conn->kick = true;
}
