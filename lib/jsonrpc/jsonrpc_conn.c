/*
 * One JSON-RPC connection: its receive buffer, its queue of responses, the
 * socket I/O that fills and drains them, and its life cycle.
 * Parsing and dispatching live in jsonrpc_request.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "axon/log.h"
#include "jsonrpc_internal.h"

/* Free space offered to each recv(). */
#define JSONRPC_READ_CHUNK (64u << 10)
/* Bytes read from one connection per poll, so that a fast sender cannot
 * starve the others. */
#define JSONRPC_READ_BUDGET (1u << 20)
/* Bytes written to one connection per poll. */
#define JSONRPC_WRITE_BUDGET (4u << 20)
/* Responses gathered into one sendmsg(). */
#define JSONRPC_WRITE_IOV 64
/* While this much output (or a quarter of the connection's limit, if less)
 * is queued, no new request is dispatched (and so no more input is read): a
 * client that does not read its responses stalls only itself, and the limit
 * is reached only by a single huge response. */
#define JSONRPC_SEND_HIGH_WATER (4u << 20)
/* Bytes dropped after a fatal error before giving up on a peer that keeps
 * sending. */
#define JSONRPC_LINGER_MAX (64u << 20)
/* An idle connection gives back a receive buffer larger than this. */
#define JSONRPC_RBUF_KEEP (256u << 10)

struct jsonrpc_conn *jsonrpc_conn_create(struct axon_jsonrpc_server *server, int fd)
{
	struct jsonrpc_conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL) {
		AXON_ERRLOG("out of memory for a JSON-RPC connection");
		return NULL;
	}
	conn->server = server;
	conn->fd = fd;
	conn->state = JSONRPC_CONN_OPEN;
	conn->want_input = true;
	STAILQ_INIT(&conn->outq);
	if (fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = conn};

		if (epoll_ctl(server->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			AXON_ERRLOG("cannot watch JSON-RPC connection: %s", strerror(errno));
			free(conn);
			return NULL;
		}
		conn->events = EPOLLIN;
	}
	TAILQ_INSERT_TAIL(&server->conns, conn, link);
	server->nconns++;
	return conn;
}

void jsonrpc_out_free(struct jsonrpc_out *out)
{
	if (out != NULL) {
		free(out->data);
		free(out);
	}
}

static void conn_free_output(struct jsonrpc_conn *conn)
{
	struct jsonrpc_out *out;

	while ((out = STAILQ_FIRST(&conn->outq)) != NULL) {
		STAILQ_REMOVE_HEAD(&conn->outq, link);
		jsonrpc_out_free(out);
	}
	conn->out_bytes = 0;
}

void jsonrpc_conn_free(struct jsonrpc_conn *conn)
{
	json_decref(conn->value);
	json_decref(conn->batch_resp);
	conn_free_output(conn);
	free(conn->rbuf);
	free(conn);
}

void jsonrpc_conn_close(struct jsonrpc_conn *conn)
{
	struct axon_jsonrpc_server *server = conn->server;

	if (conn->state == JSONRPC_CONN_CLOSED) {
		return;
	}
	if (conn->fd >= 0) {
		epoll_ctl(server->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
		close(conn->fd);
		conn->fd = -1;
	}
	TAILQ_REMOVE(&server->conns, conn, link);
	server->nconns--;
	conn->server = NULL;
	conn->state = JSONRPC_CONN_CLOSED;
	free(conn->rbuf);
	conn->rbuf = NULL;
	conn->rcap = conn->rlen = 0;
	conn_free_output(conn);
	/* A handler still holds conn->req: the completion frees the rest. */
	if (!conn->in_flight) {
		jsonrpc_conn_free(conn);
	}
}

void jsonrpc_conn_discard_input(struct jsonrpc_conn *conn)
{
	free(conn->rbuf);
	conn->rbuf = NULL;
	conn->rcap = conn->rlen = 0;
	jsonrpc_scanner_reset(&conn->scan, 0);
	conn->want_input = false;
}

void jsonrpc_conn_stop_input(struct jsonrpc_conn *conn)
{
	jsonrpc_conn_discard_input(conn);
	conn->state = JSONRPC_CONN_DRAIN;
	conn->linger = true;
}

/* Lingering after a fatal error: read and drop until EOF. */
static int conn_read_discard(struct jsonrpc_conn *conn)
{
	char scratch[16384];
	size_t total = 0;
	ssize_t n;

	while (!conn->eof && total < JSONRPC_READ_BUDGET) {
		n = recv(conn->fd, scratch, sizeof(scratch), 0);
		if (n > 0) {
			total += (size_t)n;
			conn->discarded += (size_t)n;
			if (conn->discarded > JSONRPC_LINGER_MAX) {
				jsonrpc_conn_close(conn);
				return 1;
			}
		} else if (n == 0) {
			conn->eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			jsonrpc_conn_close(conn);
			return 1;
		}
	}
	return total > 0 || conn->eof;
}

/* Make room for need more bytes, first moving the unconsumed bytes to the
 * front. Only a partial value is ever left when more input is wanted, so the
 * move is small or rare. */
static int conn_reserve(struct jsonrpc_conn *conn, size_t need)
{
	size_t start = conn->scan.start;
	size_t used = conn->rlen - start;
	size_t cap;
	char *buf;

	if (used == 0) {
		/* Nothing pending, so the scanner has not started either. */
		if (conn->rcap > JSONRPC_RBUF_KEEP) {
			free(conn->rbuf);
			conn->rbuf = NULL;
			conn->rcap = 0;
		}
		conn->rlen = 0;
		jsonrpc_scanner_reset(&conn->scan, 0);
	} else if (start > 0) {
		memmove(conn->rbuf, conn->rbuf + start, used);
		conn->rlen = used;
		conn->scan.pos -= start;
		conn->scan.start = 0;
	}
	if (conn->rcap - conn->rlen >= need) {
		return 0;
	}
	cap = conn->rcap ? conn->rcap : JSONRPC_READ_CHUNK;
	while (cap - conn->rlen < need) {
		cap *= 2;
	}
	buf = realloc(conn->rbuf, cap);
	if (buf == NULL) {
		return -ENOMEM;
	}
	conn->rbuf = buf;
	conn->rcap = cap;
	return 0;
}

int jsonrpc_conn_feed(struct jsonrpc_conn *conn, const char *data, size_t len)
{
	if (conn->state != JSONRPC_CONN_OPEN || conn->eof) {
		return 0;
	}
	if (conn_reserve(conn, len) != 0) {
		return -ENOMEM;
	}
	memcpy(conn->rbuf + conn->rlen, data, len);
	conn->rlen += len;
	return 0;
}

void jsonrpc_conn_feed_eof(struct jsonrpc_conn *conn)
{
	conn->eof = true;
}

int jsonrpc_conn_read(struct jsonrpc_conn *conn)
{
	size_t total = 0;
	ssize_t n;

	if (conn->linger && conn->fd >= 0) {
		return conn_read_discard(conn);
	}
	while (conn->fd >= 0 && conn->state == JSONRPC_CONN_OPEN && conn->want_input &&
	       !conn->eof && total < JSONRPC_READ_BUDGET) {
		if (conn_reserve(conn, JSONRPC_READ_CHUNK) != 0) {
			AXON_ERRLOG("out of memory for a JSON-RPC request; closing the connection");
			jsonrpc_conn_close(conn);
			return 1;
		}
		n = recv(conn->fd, conn->rbuf + conn->rlen, conn->rcap - conn->rlen, 0);
		if (n > 0) {
			conn->rlen += (size_t)n;
			total += (size_t)n;
		} else if (n == 0) {
			conn->eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			/* ECONNRESET and the like: nobody is left to answer. */
			jsonrpc_conn_close(conn);
			return 1;
		}
	}
	if (total >= JSONRPC_READ_BUDGET) {
		conn->kick = true;
	}
	return total > 0 || conn->eof;
}

size_t jsonrpc_conn_high_water(const struct jsonrpc_conn *conn)
{
	size_t quarter = conn->server->opts.max_send_queue / 4;

	return quarter < JSONRPC_SEND_HIGH_WATER ? quarter : JSONRPC_SEND_HIGH_WATER;
}

static char *dump_with_newline(json_t *resp, size_t *len)
{
	char *text = json_dumps(resp, JSON_COMPACT);

	if (text == NULL) {
		return NULL;
	}
	/* json_dumps left room for its NUL: the newline takes its place. */
	*len = strlen(text);
	text[(*len)++] = '\n';
	return text;
}

void jsonrpc_conn_queue(struct jsonrpc_conn *conn, json_t *resp, const json_t *id)
{
	size_t max = conn->server->opts.max_send_queue;
	struct jsonrpc_out *out;
	size_t len = 0;
	char *text;

	text = resp ? dump_with_newline(resp, &len) : NULL;
	json_decref(resp);
	if (text != NULL && conn->out_bytes + len > max) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "response of %zu bytes exceeds the %zu bytes this connection may queue; "
			 "read responses before sending more, or ask for less", len, max);
		free(text);
		resp = jsonrpc_response_new(id, NULL,
					    axon_jsonrpc_error_new(AXON_JSONRPC_ERROR_INTERNAL_ERROR, msg));
		text = resp ? dump_with_newline(resp, &len) : NULL;
		json_decref(resp);
	}
	out = text ? malloc(sizeof(*out)) : NULL;
	if (out == NULL) {
		/* A response lost to ENOMEM would leave the client waiting forever. */
		AXON_ERRLOG("out of memory for a JSON-RPC response; closing the connection");
		free(text);
		jsonrpc_conn_discard_input(conn);
		conn->state = JSONRPC_CONN_DRAIN;
		conn->linger = false;
		return;
	}
	*out = (struct jsonrpc_out){.data = text, .len = len};
	STAILQ_INSERT_TAIL(&conn->outq, out, link);
	conn->out_bytes += len;
}

struct jsonrpc_out *jsonrpc_conn_pop_out(struct jsonrpc_conn *conn)
{
	struct jsonrpc_out *out = STAILQ_FIRST(&conn->outq);

	if (out != NULL) {
		STAILQ_REMOVE_HEAD(&conn->outq, link);
		conn->out_bytes -= out->len - out->sent;
	}
	return out;
}

/* Account for n bytes written from the head of the queue. */
static void conn_consume_output(struct jsonrpc_conn *conn, size_t n)
{
	struct jsonrpc_out *out;

	conn->out_bytes -= n;
	while (n > 0 && (out = STAILQ_FIRST(&conn->outq)) != NULL) {
		size_t left = out->len - out->sent;

		if (n < left) {
			out->sent += n;
			return;
		}
		n -= left;
		STAILQ_REMOVE_HEAD(&conn->outq, link);
		jsonrpc_out_free(out);
	}
}

int jsonrpc_conn_flush(struct jsonrpc_conn *conn)
{
	struct iovec iov[JSONRPC_WRITE_IOV];
	struct jsonrpc_out *out;
	size_t total = 0;
	ssize_t n;
	int cnt;

	while (conn->fd >= 0 && !conn->write_blocked && !STAILQ_EMPTY(&conn->outq) &&
	       total < JSONRPC_WRITE_BUDGET) {
		struct msghdr msg = {.msg_iov = iov};

		cnt = 0;
		STAILQ_FOREACH(out, &conn->outq, link) {
			if (cnt == JSONRPC_WRITE_IOV) {
				break;
			}
			iov[cnt].iov_base = out->data + out->sent;
			iov[cnt++].iov_len = out->len - out->sent;
		}
		msg.msg_iovlen = (size_t)cnt;
		/* MSG_NOSIGNAL: a client that went away must not kill the daemon. */
		n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			conn_consume_output(conn, (size_t)n);
			total += (size_t)n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			conn->write_blocked = true;
		} else if (errno != EINTR) {
			jsonrpc_conn_close(conn);
			return 1;
		}
	}
	if (total > 0) {
		/* Output went out: requests held back by the high-water mark may go on. */
		conn->kick = true;
	}
	if (conn->linger && conn->fd >= 0 && !conn->shut_wr && STAILQ_EMPTY(&conn->outq) &&
	    !conn->in_flight && conn->value == NULL) {
		/* The error is out: show the peer the end, and wait for its close. */
		shutdown(conn->fd, SHUT_WR);
		conn->shut_wr = true;
	}
	return total > 0;
}

bool jsonrpc_conn_done(const struct jsonrpc_conn *conn)
{
	return conn->state == JSONRPC_CONN_DRAIN && !conn->in_flight && conn->value == NULL &&
	       STAILQ_EMPTY(&conn->outq) && (!conn->linger || conn->eof || conn->fd < 0);
}
