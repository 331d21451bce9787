/*
 * drivers/sock/posix: the sock implementation over Linux TCP sockets and
 * epoll. Every fd is non-blocking; sends use MSG_NOSIGNAL so a vanished peer
 * is an error value, never a signal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "axon/log.h"
#include "axon/sock.h"
#include "axon/util.h"

#define POSIX_LISTEN_BACKLOG 512
/* Longest host name or address we accept, plus brackets and NUL. */
#define POSIX_HOST_MAX 256

struct posix_sock {
	struct axon_sock base; /* first: lib/sock's part */
	int fd;
	bool listening;
	bool connected;  /* handshake known to be complete */
	int connect_err; /* -errno once a connect is known to have failed */
};

struct posix_group {
	struct axon_sock_group_impl base; /* first: lib/sock's part */
	int epfd;
};

static inline struct posix_sock *to_posix(struct axon_sock *sock)
{
	return AXON_CONTAINEROF(sock, struct posix_sock, base);
}

static inline struct posix_group *to_posix_group(struct axon_sock_group_impl *gimpl)
{
	return AXON_CONTAINEROF(gimpl, struct posix_group, base);
}

/* A read or write result: bytes, or -errno with "try later" folded into -EAGAIN. */
static ssize_t posix_io_rc(ssize_t n)
{
	if (n >= 0) {
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		return -EAGAIN;
	}
	return -errno;
}

/* ---- addresses and options ---------------------------------------------------- */

/* Resolve ip:port; "[::1]" loses its brackets. Returns 0 or -EINVAL (logged). */
static int posix_resolve(const char *ip, int port, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	char host[POSIX_HOST_MAX];
	char service[8];
	size_t len = strlen(ip);
	int rc;

	if (len >= sizeof(host)) {
		AXON_ERRLOG("address too long: %.32s...\n", ip);
		return -EINVAL;
	}
	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
		memcpy(host, ip + 1, len - 2);
		host[len - 2] = '\0';
	} else {
		memcpy(host, ip, len + 1);
	}
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, res);
	if (rc != 0) {
		AXON_ERRLOG("cannot resolve %s port %d: %s\n", ip, port, gai_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

static int posix_setsockopt_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) != 0) {
		int err = errno;

		AXON_ERRLOG("cannot set %s to %d: %s\n", what, val, strerror(err));
		return -err;
	}
	return 0;
}

static int posix_apply_opts(int fd, const struct axon_sock_opts *opts)
{
	int rc = 0;

	if (opts->recv_buf_size > 0) {
		rc = posix_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, opts->recv_buf_size, "SO_RCVBUF");
	}
	if (rc == 0 && opts->send_buf_size > 0) {
		rc = posix_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, opts->send_buf_size, "SO_SNDBUF");
	}
	if (rc == 0 && opts->priority > 0) {
		rc = posix_setsockopt_int(fd, SOL_SOCKET, SO_PRIORITY, opts->priority, "SO_PRIORITY");
	}
	if (rc == 0 && opts->nodelay) {
		rc = posix_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
	}
	if (rc == 0 && opts->ack_timeout_ms > 0) {
		rc = posix_setsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
					  (int)AXON_MIN(opts->ack_timeout_ms, (uint32_t)INT32_MAX),
					  "TCP_USER_TIMEOUT");
	}
	return rc;
}

/* Write sa as a numeric string (IPv4-mapped IPv6 as IPv4) and its port. */
static int posix_format_addr(const struct sockaddr_storage *sa, char *buf, size_t len,
			     uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const void *addr;
	int family = sa->ss_family;

	if (family == AF_INET) {
		addr = &sin->sin_addr;
		if (port) {
			*port = ntohs(sin->sin_port);
		}
	} else if (family == AF_INET6) {
		addr = &sin6->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			addr = &sin6->sin6_addr.s6_addr[12];
		}
		if (port) {
			*port = ntohs(sin6->sin6_port);
		}
	} else {
		return -EAFNOSUPPORT;
	}
	if (buf != NULL && inet_ntop(family, addr, buf, (socklen_t)AXON_MIN(len, (size_t)INT32_MAX)) == NULL) {
		return -errno;
	}
	return 0;
}

/* ---- creation ------------------------------------------------------------------ */

static struct posix_sock *posix_sock_alloc(int fd)
{
	struct posix_sock *psock = calloc(1, sizeof(*psock));

	if (psock == NULL) {
		AXON_ERRLOG("out of memory for a socket\n");
		errno = ENOMEM;
		return NULL;
	}
	psock->fd = fd;
	return psock;
}

/* A configured, non-blocking socket for ai; returns the fd or -errno. */
static int posix_socket(const struct addrinfo *ai, const struct axon_sock_opts *opts, bool listening)
{
	int fd, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		return -errno;
	}
	if (listening) {
		rc = posix_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
		if (rc != 0) {
			goto err_close;
		}
	}
	/* Before listen/connect, so that the window scale fits the buffer sizes. */
	rc = posix_apply_opts(fd, opts);
	if (rc != 0) {
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return rc;
}

static int posix_try_listen(const struct addrinfo *ai, const struct axon_sock_opts *opts)
{
	int fd = posix_socket(ai, opts, true);

	if (fd < 0) {
		return fd;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, POSIX_LISTEN_BACKLOG) != 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/* Connected or connecting fd; *done says whether the handshake is over. */
static int posix_try_connect(const struct addrinfo *ai, const struct axon_sock_opts *opts, bool *done)
{
	int fd = posix_socket(ai, opts, false);

	if (fd < 0) {
		return fd;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		*done = true;
		return fd;
	}
	if (errno == EINPROGRESS) {
		*done = false;
		return fd;
	}
	{
		int err = errno;

		close(fd);
		return -err;
	}
}

/* Listen or connect on the first address of ip:port that works. */
static struct axon_sock *posix_create(const char *ip, int port, const struct axon_sock_opts *opts,
				      bool listening)
{
	struct addrinfo *res, *ai;
	struct posix_sock *psock;
	bool done = false;
	int fd = -EINVAL, rc;

	rc = posix_resolve(ip, port, listening, &res);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = listening ? posix_try_listen(ai, opts) : posix_try_connect(ai, opts, &done);
		if (fd >= 0) {
			break;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		AXON_ERRLOG("cannot %s %s port %d: %s\n", listening ? "listen on" : "connect to",
			    ip, port, strerror(-fd));
		errno = -fd;
		return NULL;
	}
	psock = posix_sock_alloc(fd);
	if (psock == NULL) {
		close(fd);
		return NULL;
	}
	psock->listening = listening;
	psock->connected = done;
	return &psock->base;
}

static struct axon_sock *posix_listen(const char *ip, int port, const struct axon_sock_opts *opts)
{
	return posix_create(ip, port, opts, true);
}

static struct axon_sock *posix_connect(const char *ip, int port, const struct axon_sock_opts *opts)
{
	return posix_create(ip, port, opts, false);
}

static struct axon_sock *posix_accept(struct axon_sock *lsock)
{
	struct posix_sock *lpsock = to_posix(lsock), *psock;
	int fd, rc;

	if (!lpsock->listening) {
		errno = EINVAL;
		return NULL;
	}
	fd = accept4(lpsock->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		/* A connection reset before we took it is just "nothing pending". */
		if (errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR) {
			errno = EAGAIN;
		}
		return NULL;
	}
	/* Linux does not carry every option from the listener (TCP_NODELAY). */
	rc = posix_apply_opts(fd, &lsock->opts);
	if (rc != 0) {
		goto err_close;
	}
	psock = posix_sock_alloc(fd);
	if (psock == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	psock->connected = true;
	return &psock->base;

err_close:
	close(fd);
	errno = -rc;
	return NULL;
}

static void posix_close(struct axon_sock *sock)
{
	struct posix_sock *psock = to_posix(sock);

	close(psock->fd);
	free(psock);
}

/* ---- data ------------------------------------------------------------------- */

/*
 * Reading SO_ERROR (connect_status) clears the socket's error, after which
 * a failed connect reads as end of stream: report the failure instead.
 */
static ssize_t posix_recv(struct axon_sock *sock, void *buf, size_t len)
{
	struct posix_sock *psock = to_posix(sock);

	if (axon_unlikely(psock->connect_err != 0)) {
		return psock->connect_err;
	}
	return posix_io_rc(recv(psock->fd, buf, len, MSG_DONTWAIT));
}

static ssize_t posix_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt)
{
	struct posix_sock *psock = to_posix(sock);

	if (axon_unlikely(psock->connect_err != 0)) {
		return psock->connect_err;
	}
	return posix_io_rc(readv(psock->fd, iov, iovcnt));
}

static ssize_t posix_writev(struct axon_sock *sock, const struct iovec *iov, int iovcnt)
{
	struct posix_sock *psock = to_posix(sock);
	struct msghdr msg = {
		.msg_iov = (struct iovec *)iov,
		.msg_iovlen = (size_t)iovcnt,
	};

	if (axon_unlikely(psock->connect_err != 0)) {
		return psock->connect_err;
	}
	return posix_io_rc(sendmsg(psock->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* ---- status --------------------------------------------------------------------- */

static int posix_getaddr(struct axon_sock *sock, char *saddr, size_t slen, uint16_t *sport,
			 char *caddr, size_t clen, uint16_t *cport)
{
	struct posix_sock *psock = to_posix(sock);
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	int rc;

	if (getsockname(psock->fd, (struct sockaddr *)&sa, &salen) != 0) {
		return -errno;
	}
	rc = posix_format_addr(&sa, saddr, slen, sport);
	if (rc != 0) {
		return rc;
	}
	salen = sizeof(sa);
	if (getpeername(psock->fd, (struct sockaddr *)&sa, &salen) != 0) {
		if (errno != ENOTCONN) {
			return -errno;
		}
		if (caddr != NULL && clen > 0) {
			caddr[0] = '\0';
		}
		if (cport != NULL) {
			*cport = 0;
		}
		return 0;
	}
	return posix_format_addr(&sa, caddr, clen, cport);
}

static int posix_set_recvlowat(struct axon_sock *sock, int nbytes)
{
	return posix_setsockopt_int(to_posix(sock)->fd, SOL_SOCKET, SO_RCVLOWAT, nbytes, "SO_RCVLOWAT");
}

static int posix_connect_status(struct axon_sock *sock)
{
	struct posix_sock *psock = to_posix(sock);
	struct pollfd pfd = {.fd = psock->fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0;

	if (psock->connected) {
		return 0;
	}
	if (psock->connect_err != 0) {
		return psock->connect_err;
	}
	if (psock->listening) {
		return -ENOTCONN;
	}
	if (poll(&pfd, 1, 0) < 0) {
		return errno == EINTR ? -EINPROGRESS : -errno;
	}
	if (pfd.revents == 0) {
		return -EINPROGRESS;
	}
	if (getsockopt(psock->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		return -errno;
	}
	if (err != 0) {
		psock->connect_err = -err;
		return -err;
	}
	psock->connected = true;
	return 0;
}

static bool posix_is_connected(struct axon_sock *sock)
{
	struct posix_sock *psock = to_posix(sock);
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (psock->listening) {
		return false;
	}
	/* TCP_INFO, unlike a peeking recv, leaves a pending socket error for recv to report. */
	if (getsockopt(psock->fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
		return false;
	}
	if (info.tcpi_state != TCP_ESTABLISHED) {
		return false;
	}
	psock->connected = true;
	return true;
}

/* ---- groups ---------------------------------------------------------------------- */

static struct axon_sock_group_impl *posix_group_create(void)
{
	struct posix_group *pgroup = calloc(1, sizeof(*pgroup));

	if (pgroup == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pgroup->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pgroup->epfd < 0) {
		int err = errno;

		free(pgroup);
		errno = err;
		return NULL;
	}
	return &pgroup->base;
}

static void posix_group_close(struct axon_sock_group_impl *gimpl)
{
	struct posix_group *pgroup = to_posix_group(gimpl);

	close(pgroup->epfd);
	free(pgroup);
}

static int posix_group_ctl(struct axon_sock_group_impl *gimpl, struct axon_sock *sock, int op,
			   uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = sock};

	if (epoll_ctl(to_posix_group(gimpl)->epfd, op, to_posix(sock)->fd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

static int posix_group_add_sock(struct axon_sock_group_impl *gimpl, struct axon_sock *sock)
{
	return posix_group_ctl(gimpl, sock, EPOLL_CTL_ADD, EPOLLIN);
}

static int posix_group_remove_sock(struct axon_sock_group_impl *gimpl, struct axon_sock *sock)
{
	return posix_group_ctl(gimpl, sock, EPOLL_CTL_DEL, 0);
}

static int posix_group_set_write_interest(struct axon_sock_group_impl *gimpl,
					  struct axon_sock *sock, bool on)
{
	return posix_group_ctl(gimpl, sock, EPOLL_CTL_MOD, EPOLLIN | (on ? EPOLLOUT : 0));
}

static int posix_group_poll(struct axon_sock_group_impl *gimpl, int max_events,
			    struct axon_sock_event *events)
{
	struct epoll_event evs[AXON_SOCK_GROUP_MAX_EVENTS];
	int n;

	n = epoll_wait(to_posix_group(gimpl)->epfd, evs, AXON_MIN(max_events, (int)AXON_COUNTOF(evs)), 0);
	if (n < 0) {
		return errno == EINTR ? 0 : -errno;
	}
	for (int i = 0; i < n; i++) {
		uint32_t e = evs[i].events;

		events[i].sock = evs[i].data.ptr;
		events[i].flags = 0;
		/* Errors and hang-ups go both ways: the reader learns, the queue fails. */
		if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
			events[i].flags |= AXON_SOCK_EV_READ;
		}
		if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			events[i].flags |= AXON_SOCK_EV_WRITE;
		}
	}
	return n;
}

static int posix_group_get_fd(struct axon_sock_group_impl *gimpl)
{
	return to_posix_group(gimpl)->epfd;
}

static const struct axon_sock_impl g_posix_impl = {
	.name = "posix",
	.priority = 0,
	.zcopy_supported = false,
	.listen = posix_listen,
	.connect = posix_connect,
	.accept = posix_accept,
	.close = posix_close,
	.recv = posix_recv,
	.readv = posix_readv,
	.writev = posix_writev,
	.getaddr = posix_getaddr,
	.set_recvlowat = posix_set_recvlowat,
	.connect_status = posix_connect_status,
	.is_connected = posix_is_connected,
	.group_create = posix_group_create,
	.group_close = posix_group_close,
	.group_add_sock = posix_group_add_sock,
	.group_remove_sock = posix_group_remove_sock,
	.group_set_write_interest = posix_group_set_write_interest,
	.group_poll = posix_group_poll,
	.group_get_fd = posix_group_get_fd,
};

AXON_SOCK_IMPL_REGISTER(posix, &g_posix_impl)
