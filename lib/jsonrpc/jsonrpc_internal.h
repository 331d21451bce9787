/*
 * lib/jsonrpc private types: the value scanner, connections, the server.
 * Unit tests and the fuzzer drive connections through these directly.
 */
#ifndef AXON_JSONRPC_INTERNAL_H
#define AXON_JSONRPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "axon/jsonrpc.h"
#include "axon/rpc.h" /* the JSON-RPC error codes */

/* ---- scanner: where does the next top-level JSON value end? -------------- */

/*
 * The scanner follows nesting, strings and escapes only; jansson validates
 * the span afterwards. Its state survives between reads so that every byte is
 * looked at once, however small the chunks a large request arrives in.
 */
struct jsonrpc_scanner {
	size_t start;     /* offset of the value's first byte (leading blanks skipped) */
	size_t pos;       /* bytes before pos have been scanned */
	uint32_t depth;   /* open arrays and objects */
	bool started;     /* a non-blank byte of the value has been seen */
	bool in_string;
	bool escape;      /* the previous byte in the string was a backslash */
	bool in_bare;     /* a top-level number or literal (true, null, ...) */
};

enum jsonrpc_scan_result {
	JSONRPC_SCAN_MORE,     /* the value is not complete yet */
	JSONRPC_SCAN_DONE,     /* the value is [start, pos) */
	JSONRPC_SCAN_TOO_DEEP, /* nesting beyond AXON_JSONRPC_MAX_DEPTH */
	JSONRPC_SCAN_BAD,      /* a byte that cannot start a value ('}' ...) */
};

void jsonrpc_scanner_reset(struct jsonrpc_scanner *s, size_t start);
enum jsonrpc_scan_result jsonrpc_scan(struct jsonrpc_scanner *s, const char *buf, size_t len);
/* At end of input: a pending top-level number/literal ends there. */
bool jsonrpc_scan_finish(struct jsonrpc_scanner *s, size_t len);

/* ---- connections ---------------------------------------------------------- */

struct axon_jsonrpc_request {
	struct jsonrpc_conn *conn;
	const json_t *id;   /* borrowed from conn->value; NULL for a notification */
	bool notification;
};

/* One queued response: "<json>\n". */
struct jsonrpc_out {
	STAILQ_ENTRY(jsonrpc_out) link;
	char *data;
	size_t len;
	size_t sent;
};

/*
 * A connection's life:
 *  OPEN    reading, parsing, dispatching, writing.
 *  DRAIN   no more requests (peer shut its side, or a fatal error was
 *          answered): finish the value in progress, flush the responses,
 *          then close (after a fatal error, once the peer has closed too).
 *  CLOSED  socket gone, off the server's list; lives only until its
 *          in-flight request completes, then is freed.
 */
enum jsonrpc_conn_state {
	JSONRPC_CONN_OPEN,
	JSONRPC_CONN_DRAIN,
	JSONRPC_CONN_CLOSED,
};

struct jsonrpc_conn {
	struct axon_jsonrpc_server *server; /* NULL once closed */
	TAILQ_ENTRY(jsonrpc_conn) link;
	int fd;                             /* -1: detached (tests, fuzzer) */
	enum jsonrpc_conn_state state;

	/* Received bytes; the unconsumed ones are [scan.start, rlen). */
	char *rbuf;
	size_t rcap;
	size_t rlen;
	struct jsonrpc_scanner scan;
	bool want_input;   /* the next value is incomplete: read more */
	bool eof;          /* the peer will send nothing more */
	/* After a fatal error: input is read and dropped until the peer closes,
	 * so that a client still sending gets to read the error, not EPIPE. */
	bool linger;
	bool shut_wr;      /* our side is shut: the peer has seen the end */
	size_t discarded;

	/* The top-level value being dispatched (an object or a batch array). */
	json_t *value;
	size_t batch_next;  /* next batch element to dispatch */
	json_t *batch_resp; /* responses gathered for the batch */
	struct axon_jsonrpc_request req;
	bool in_flight;     /* req is with the handler */

	STAILQ_HEAD(, jsonrpc_out) outq;
	size_t out_bytes;   /* bytes queued, not yet sent */
	bool write_blocked; /* the socket said EAGAIN: wait for EPOLLOUT */
	bool kick;          /* work to do that no socket event will announce */
	uint32_t revents;   /* epoll events from the current poll */
	uint32_t events;    /* epoll events registered */
};

struct axon_jsonrpc_server {
	struct axon_jsonrpc_server_opts opts;
	axon_jsonrpc_handler handler;
	void *handler_ctx;
	int listen_fd;
	int lock_fd;
	int epfd;
	char *path;
	char *lock_path;
	TAILQ_HEAD(, jsonrpc_conn) conns;
	uint32_t nconns;
	bool in_poll;
	bool close_pending;
};

/* A server without a socket (tests, fuzzer): connections are added by hand. */
struct axon_jsonrpc_server *jsonrpc_server_create(const struct axon_jsonrpc_server_opts *opts,
						  axon_jsonrpc_handler handler, void *ctx);
/* Adopt a connected, non-blocking fd (or -1 for a detached connection). */
struct jsonrpc_conn *jsonrpc_conn_create(struct axon_jsonrpc_server *server, int fd);
/* Close now; the connection is freed at once or when its request completes. */
void jsonrpc_conn_close(struct jsonrpc_conn *conn);
/* Append received bytes (as a read would). Returns 0 or -ENOMEM. */
int jsonrpc_conn_feed(struct jsonrpc_conn *conn, const char *data, size_t len);
/* The peer shut its sending side. */
void jsonrpc_conn_feed_eof(struct jsonrpc_conn *conn);
/* Parse and dispatch within budget; returns the number of things done. */
int jsonrpc_conn_process(struct jsonrpc_conn *conn);
/* Socket I/O: read what is wanted, write what is queued. Return work done. */
int jsonrpc_conn_read(struct jsonrpc_conn *conn);
int jsonrpc_conn_flush(struct jsonrpc_conn *conn);
/* True when a DRAIN connection has nothing left to do and may be closed. */
bool jsonrpc_conn_done(const struct jsonrpc_conn *conn);
/* Take the oldest queued response (detached connections); NULL if none. */
struct jsonrpc_out *jsonrpc_conn_pop_out(struct jsonrpc_conn *conn);
void jsonrpc_out_free(struct jsonrpc_out *out);

/* Between jsonrpc_conn.c and jsonrpc_request.c. */
/* Serialize resp (stolen) and queue it; id (borrowed, may be NULL) is used
 * if the response has to be replaced by a "too large" error. */
void jsonrpc_conn_queue(struct jsonrpc_conn *conn, json_t *resp, const json_t *id);
/* Drop every received byte not yet consumed, and stop reading. */
void jsonrpc_conn_discard_input(struct jsonrpc_conn *conn);
/* Take no more requests: answered by an error, the stream cannot go on. */
void jsonrpc_conn_stop_input(struct jsonrpc_conn *conn);
/* Free a connection that is closed (or never opened) and has nothing in flight. */
void jsonrpc_conn_free(struct jsonrpc_conn *conn);
/* A response object {"jsonrpc":"2.0","id":...,"result"|"error":...}; steals
 * result and error. NULL on ENOMEM. */
json_t *jsonrpc_response_new(const json_t *id, json_t *result, json_t *error);
/* The send queue level above which no new request is dispatched. */
size_t jsonrpc_conn_high_water(const struct jsonrpc_conn *conn);

#endif /* AXON_JSONRPC_INTERNAL_H */
