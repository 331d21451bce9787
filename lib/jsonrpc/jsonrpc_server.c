/*
 * The JSON-RPC listening socket: the lock file that keeps one server per
 * path, accepting clients, and the poll that services every connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "axon/log.h"
#include "jsonrpc_internal.h"

/* Connections accepted per poll. */
#define JSONRPC_ACCEPT_BUDGET 16
/* Socket events collected per poll; the rest are reported by the next one. */
#define JSONRPC_POLL_EVENTS 64
#define JSONRPC_LISTEN_BACKLOG 128
/* Attempts to lock a lock file that its previous owner keeps unlinking. */
#define JSONRPC_LOCK_ATTEMPTS 8

void axon_jsonrpc_server_opts_init(struct axon_jsonrpc_server_opts *opts)
{
	*opts = (struct axon_jsonrpc_server_opts){
		.max_request_size = AXON_JSONRPC_DEFAULT_MAX_REQUEST_SIZE,
		.max_send_queue = AXON_JSONRPC_DEFAULT_MAX_SEND_QUEUE,
		.max_connections = AXON_JSONRPC_DEFAULT_MAX_CONNECTIONS,
	};
}

struct axon_jsonrpc_server *jsonrpc_server_create(const struct axon_jsonrpc_server_opts *opts,
						  axon_jsonrpc_handler handler, void *ctx)
{
	struct axon_jsonrpc_server *server = calloc(1, sizeof(*server));

	if (server == NULL) {
		AXON_ERRLOG("out of memory for the JSON-RPC server");
		return NULL;
	}
	if (opts != NULL) {
		server->opts = *opts;
	} else {
		axon_jsonrpc_server_opts_init(&server->opts);
	}
	server->handler = handler;
	server->handler_ctx = ctx;
	server->listen_fd = -1;
	server->lock_fd = -1;
	TAILQ_INIT(&server->conns);
	server->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (server->epfd < 0) {
		AXON_ERRLOG("epoll_create1: %s", strerror(errno));
		free(server);
		return NULL;
	}
	return server;
}

static long lock_owner_pid(int fd)
{
	char buf[32] = {0};

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0) {
		return 0;
	}
	return strtol(buf, NULL, 10);
}

/* Hold "<path>.lock" so that a second server on path is refused. */
static int server_lock(struct axon_jsonrpc_server *server)
{
	struct stat held, named;
	char pid[24];
	int attempt, fd, rc;

	for (attempt = 0; attempt < JSONRPC_LOCK_ATTEMPTS; attempt++) {
		fd = open(server->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			AXON_ERRLOG("cannot open lock file %s: %s", server->lock_path, strerror(errno));
			return rc;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			rc = -errno;
			if (errno == EWOULDBLOCK) {
				long owner = lock_owner_pid(fd);

				AXON_ERRLOG("another %s is serving %s (pid %ld); stop it or choose another "
					    "socket with -r", program_invocation_short_name,
					    server->path, owner);
				rc = -EADDRINUSE;
			} else {
				AXON_ERRLOG("cannot lock %s: %s", server->lock_path, strerror(-rc));
			}
			close(fd);
			return rc;
		}
		/* The previous owner unlinks the file as it exits: a lock on an
		 * unlinked file protects nothing, so make sure ours is the named one. */
		if (fstat(fd, &held) == 0 && stat(server->lock_path, &named) == 0 &&
		    held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
			snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
				AXON_WARNLOG("cannot write pid to %s: %s", server->lock_path,
					     strerror(errno));
			}
			server->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	AXON_ERRLOG("cannot lock %s: it keeps being replaced", server->lock_path);
	return -EAGAIN;
}

/* Under the lock, a socket file at path is a leftover of a dead server. */
static int server_remove_stale(struct axon_jsonrpc_server *server)
{
	struct stat st;

	if (lstat(server->path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		AXON_ERRLOG("%s exists and is not a socket; not replacing it", server->path);
		return -EEXIST;
	}
	if (unlink(server->path) != 0 && errno != ENOENT) {
		int rc = -errno;

		AXON_ERRLOG("cannot remove stale socket %s: %s", server->path, strerror(errno));
		return rc;
	}
	AXON_NOTICELOG("removed stale socket %s", server->path);
	return 0;
}

static int server_bind(struct axon_jsonrpc_server *server)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	int fd, rc;

	memcpy(addr.sun_path, server->path, strlen(server->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		AXON_ERRLOG("socket: %s", strerror(errno));
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = -errno;
		AXON_ERRLOG("cannot bind %s: %s", server->path, strerror(errno));
		goto err_close;
	}
	server->listen_fd = fd;
	if (listen(fd, JSONRPC_LISTEN_BACKLOG) != 0 ||
	    epoll_ctl(server->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		rc = -errno;
		AXON_ERRLOG("cannot listen on %s: %s", server->path, strerror(errno));
		return rc; /* the caller's close unlinks the bound path */
	}
	return 0;
err_close:
	close(fd);
	return rc;
}

struct axon_jsonrpc_server *axon_jsonrpc_server_listen(const char *path,
						       const struct axon_jsonrpc_server_opts *opts,
						       axon_jsonrpc_handler handler, void *ctx,
						       int *rc)
{
	struct axon_jsonrpc_server *server;

	if (path == NULL || path[0] == '\0' || handler == NULL) {
		AXON_ERRLOG("JSON-RPC server needs a socket path and a handler");
		*rc = -EINVAL;
		return NULL;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		AXON_ERRLOG("socket path %s is longer than %zu bytes", path,
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	server = jsonrpc_server_create(opts, handler, ctx);
	if (server == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	server->path = strdup(path);
	if (server->path == NULL || asprintf(&server->lock_path, "%s.lock", path) < 0) {
		server->lock_path = NULL;
		*rc = -ENOMEM;
		goto err;
	}
	*rc = server_lock(server);
	if (*rc != 0) {
		goto err;
	}
	*rc = server_remove_stale(server);
	if (*rc != 0) {
		goto err;
	}
	*rc = server_bind(server);
	if (*rc != 0) {
		goto err;
	}
	AXON_INFOLOG("JSON-RPC server listening on %s", path);
	return server;
err:
	axon_jsonrpc_server_close(server);
	return NULL;
}

int axon_jsonrpc_server_get_fd(const struct axon_jsonrpc_server *server)
{
	return server->epfd;
}

static int server_accept(struct axon_jsonrpc_server *server)
{
	int i, fd, work = 0;

	for (i = 0; i < JSONRPC_ACCEPT_BUDGET; i++) {
		fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				AXON_ERRLOG("accept on %s: %s", server->path, strerror(errno));
			}
			break;
		}
		work++;
		if (server->nconns >= server->opts.max_connections) {
			AXON_WARNLOG("refusing a JSON-RPC client: %u connections already open",
				     server->nconns);
			close(fd);
			continue;
		}
		if (jsonrpc_conn_create(server, fd) == NULL) {
			close(fd);
		}
	}
	return work;
}

/* Register the epoll events the connection waits for now. */
static void conn_update_events(struct jsonrpc_conn *conn)
{
	struct epoll_event ev = {.data.ptr = conn};

	if (!conn->eof && (conn->linger ||
			   (conn->state == JSONRPC_CONN_OPEN && conn->want_input))) {
		ev.events |= EPOLLIN;
	}
	if (conn->write_blocked) {
		ev.events |= EPOLLOUT;
	}
	if (conn->fd >= 0 && ev.events != conn->events &&
	    epoll_ctl(conn->server->epfd, EPOLL_CTL_MOD, conn->fd, &ev) == 0) {
		conn->events = ev.events;
	}
}

static int conn_service(struct jsonrpc_conn *conn)
{
	uint32_t revents = conn->revents;
	int work = 0;

	conn->revents = 0;
	if (revents & (EPOLLHUP | EPOLLERR)) {
		/* The peer is gone both ways: nobody would read an answer. */
		jsonrpc_conn_close(conn);
		return 1;
	}
	if (revents & EPOLLOUT) {
		conn->write_blocked = false;
	}
	if (revents & EPOLLIN) {
		work += jsonrpc_conn_read(conn);
		if (conn->state == JSONRPC_CONN_CLOSED) {
			return work;
		}
	}
	work += jsonrpc_conn_process(conn);
	work += jsonrpc_conn_flush(conn);
	if (conn->state == JSONRPC_CONN_CLOSED) {
		return work;
	}
	if (jsonrpc_conn_done(conn)) {
		jsonrpc_conn_close(conn);
		return work + 1;
	}
	conn_update_events(conn);
	return work;
}

static void server_destroy(struct axon_jsonrpc_server *server)
{
	struct jsonrpc_conn *conn;

	while ((conn = TAILQ_FIRST(&server->conns)) != NULL) {
		jsonrpc_conn_close(conn);
	}
	if (server->listen_fd >= 0) {
		unlink(server->path);
		close(server->listen_fd);
	}
	if (server->lock_fd >= 0) {
		/* Unlinked while still locked; see server_lock. */
		unlink(server->lock_path);
		close(server->lock_fd);
	}
	close(server->epfd);
	free(server->lock_path);
	free(server->path);
	free(server);
}

int axon_jsonrpc_server_poll(struct axon_jsonrpc_server *server)
{
	struct epoll_event events[JSONRPC_POLL_EVENTS];
	struct jsonrpc_conn *conn, *tmp;
	bool accept_ready = false;
	int i, n, work = 0;

	server->in_poll = true;
	n = epoll_wait(server->epfd, events, JSONRPC_POLL_EVENTS, 0);
	for (i = 0; i < n; i++) {
		if (events[i].data.ptr == NULL) {
			accept_ready = true;
		} else {
			conn = events[i].data.ptr;
			conn->revents |= events[i].events;
		}
	}
	if (accept_ready) {
		work += server_accept(server);
	}
	for (conn = TAILQ_FIRST(&server->conns); conn != NULL; conn = tmp) {
		tmp = TAILQ_NEXT(conn, link);
		if (server->close_pending) {
			break;
		}
		if (conn->revents != 0 || conn->kick ||
		    (!conn->write_blocked && !STAILQ_EMPTY(&conn->outq))) {
			work += conn_service(conn);
		}
	}
	server->in_poll = false;
	if (server->close_pending) {
		server_destroy(server);
	}
	return work;
}

void axon_jsonrpc_server_close(struct axon_jsonrpc_server *server)
{
	if (server == NULL) {
		return;
	}
	if (server->in_poll) {
		/* Called from a handler: conns are being walked; finish first. */
		server->close_pending = true;
		return;
	}
	server_destroy(server);
}
