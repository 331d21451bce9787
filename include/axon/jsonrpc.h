/*
 * Axon JSON-RPC 2.0 server: the transport under lib/rpc.
 *
 * A Unix stream socket receives a stream of JSON values with no delimiter.
 * Each connection finds where every top-level value ends incrementally (a
 * request may be split across reads, many may arrive in one read), parses it
 * with jansson, checks it is a JSON-RPC request or batch, and hands each
 * request to the server's handler. Each response is one compact JSON object
 * (or array, for a batch) followed by "\n".
 *
 * Requests of one connection are handled one after another: the next request
 * (or batch element) is dispatched only once the previous one has completed.
 * A client piping a script of calls therefore sees them run in order, and
 * gets its responses in order. Different connections never wait for each other.
 *
 * The server owns no thread: its owner calls axon_jsonrpc_server_poll() (a
 * budgeted, never-blocking step) and may sleep on axon_jsonrpc_server_get_fd().
 * Everything here runs on that one thread.
 */
#ifndef AXON_JSONRPC_H
#define AXON_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of struct axon_jsonrpc_server_opts. */
#define AXON_JSONRPC_DEFAULT_MAX_REQUEST_SIZE (32u << 20)
#define AXON_JSONRPC_DEFAULT_MAX_SEND_QUEUE (64u << 20)
#define AXON_JSONRPC_DEFAULT_MAX_CONNECTIONS 1024u
/* Deepest nesting of arrays and objects accepted in a request. jansson parses
 * recursively; this keeps a hostile request far from the stack limit. */
#define AXON_JSONRPC_MAX_DEPTH 128u

struct axon_jsonrpc_server;
struct axon_jsonrpc_request;

/**
 * Called for every valid request. method is a string; params is NULL when
 * absent, else an object or an array. Both stay valid until the request is
 * completed. The handler must eventually call axon_jsonrpc_request_complete()
 * exactly once, before returning or later on the server's thread.
 */
typedef void (*axon_jsonrpc_handler)(struct axon_jsonrpc_request *req, const char *method,
				     const json_t *params, void *ctx);

struct axon_jsonrpc_server_opts {
	/* Largest request (one top-level JSON value), in bytes. */
	size_t max_request_size;
	/* Most response bytes queued for one connection. A response that would
	 * go beyond it is replaced by an error saying so. */
	size_t max_send_queue;
	/* Connections beyond this are accepted and closed at once. */
	uint32_t max_connections;
};

/** Fill opts with the defaults above. */
void axon_jsonrpc_server_opts_init(struct axon_jsonrpc_server_opts *opts);

/**
 * Listen on the Unix socket path. A lock file "<path>.lock" is held with
 * flock() for the server's lifetime, so a second server on the same path is
 * refused; a socket file left by a dead server is removed. opts may be NULL
 * (defaults). Returns the server, or NULL with *rc set to:
 *   -EADDRINUSE    another live process serves path (its pid is logged)
 *   -ENAMETOOLONG  path does not fit in sockaddr_un
 *   -EINVAL        path empty or handler NULL
 *   -ENOMEM, or another negative errno from open/socket/bind/listen/epoll.
 */
struct axon_jsonrpc_server *axon_jsonrpc_server_listen(const char *path,
						       const struct axon_jsonrpc_server_opts *opts,
						       axon_jsonrpc_handler handler, void *ctx,
						       int *rc);

/**
 * Do a bounded amount of work: accept connections, read, parse, dispatch,
 * write. Never blocks. Returns the number of things done (0 when idle).
 */
int axon_jsonrpc_server_poll(struct axon_jsonrpc_server *server);

/**
 * An fd (epoll) that turns readable when a poll would find socket work.
 * Work that does not come from a socket (a request completed asynchronously)
 * is reported by a non-zero return of the poll that follows it.
 */
int axon_jsonrpc_server_get_fd(const struct axon_jsonrpc_server *server);

/**
 * Close the listening socket (removing the socket and lock files) and every
 * connection, then free the server. Requests still being handled are
 * dropped: their later completion frees them quietly. Safe to call from a
 * handler; then the close happens when the current poll returns.
 */
void axon_jsonrpc_server_close(struct axon_jsonrpc_server *server);

/** The request's id (string, number or null); NULL for a notification. */
const json_t *axon_jsonrpc_request_get_id(const struct axon_jsonrpc_request *req);
bool axon_jsonrpc_request_is_notification(const struct axon_jsonrpc_request *req);

/**
 * Complete req with either result or error (both references are stolen; the
 * other must be NULL; result NULL and error NULL means a null result). error
 * is an object {"code":..., "message":...} (see axon_jsonrpc_error_new).
 * Notifications send nothing; a request whose connection has gone is freed
 * quietly. After this call req must not be used.
 */
void axon_jsonrpc_request_complete(struct axon_jsonrpc_request *req, json_t *result,
				   json_t *error);

/**
 * A new error object {"code": code, "message": message}. Bytes of message
 * that are not valid UTF-8 are replaced by '?'. Returns NULL on ENOMEM.
 */
json_t *axon_jsonrpc_error_new(int code, const char *message);

#ifdef __cplusplus
}
#endif
#endif /* AXON_JSONRPC_H */
