/*
 * Tests for lib/sock over drivers/sock/posix with real loopback sockets,
 * IPv4 and IPv6: connection set-up, groups, coalesced and partial writes,
 * peer resets, callbacks that close sockets, options.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Count the driver's send system calls: one per socket per flush is the contract. */
#include <sys/socket.h>
static int g_sendmsg_calls;
static ssize_t ut_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	g_sendmsg_calls++;
	return sendmsg(fd, msg, flags);
}
#define sendmsg ut_sendmsg
#include "drivers/sock/posix/posix.c"
#undef sendmsg

static const char *const g_addrs[] = {"127.0.0.1", "::1"};

static int sock_fd(struct axon_sock *sock)
{
	return to_posix(sock)->fd;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Listen on addr with an ephemeral port; returns the listener and its port. */
static struct axon_sock *listen_any(const char *addr, const struct axon_sock_opts *opts, uint16_t *port)
{
	struct axon_sock *lsock = axon_sock_listen(addr, 0, NULL, opts);

	CU_ASSERT_PTR_NOT_NULL_FATAL(lsock);
	CU_ASSERT_EQUAL_FATAL(axon_sock_getaddr(lsock, NULL, 0, port, NULL, 0, NULL), 0);
	CU_ASSERT_NOT_EQUAL(*port, 0);
	return lsock;
}

static struct axon_sock *accept_wait(struct axon_sock *lsock)
{
	uint64_t deadline = now_ms() + 2000;
	struct axon_sock *sock;

	while ((sock = axon_sock_accept(lsock)) == NULL && errno == EAGAIN && now_ms() < deadline) {
		usleep(100);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(sock);
	return sock;
}

/* A connected client/server pair on addr, with the given options. */
static void make_pair_opts(const char *addr, const struct axon_sock_opts *opts,
			   struct axon_sock **client, struct axon_sock **server)
{
	struct axon_sock *lsock;
	uint16_t port;

	lsock = listen_any(addr, opts, &port);
	*client = axon_sock_connect(addr, port, NULL, opts);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*client);
	*server = accept_wait(lsock);
	axon_sock_close(&lsock);
}

static void make_pair(const char *addr, struct axon_sock **client, struct axon_sock **server)
{
	make_pair_opts(addr, NULL, client, server);
}

/* Receive exactly len bytes (blocking-ish with a deadline). */
static void recv_all(struct axon_sock *sock, void *buf, size_t len)
{
	uint64_t deadline = now_ms() + 5000;
	size_t got = 0;

	while (got < len && now_ms() < deadline) {
		ssize_t n = axon_sock_recv(sock, (char *)buf + got, len - got);

		if (n == -EAGAIN) {
			usleep(50);
			continue;
		}
		CU_ASSERT_FATAL(n > 0);
		got += (size_t)n;
	}
	CU_ASSERT_EQUAL_FATAL(got, len);
}

static void send_all(struct axon_sock *sock, const void *buf, size_t len)
{
	CU_ASSERT_EQUAL_FATAL(send(sock_fd(sock), buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Wait until poll(fd) reports events (or time out); returns revents. */
static short wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	if (poll(&pfd, 1, timeout_ms) <= 0) {
		return 0;
	}
	return pfd.revents;
}

/* ---- connection set-up ------------------------------------------------------- */

static void test_listen_accept_connect(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		const char *addr = g_addrs[a];
		struct axon_sock *lsock, *client, *server;
		char saddr[64], caddr[64], buf[8];
		uint16_t lport, sport, cport, port2;
		uint64_t deadline = now_ms() + 2000;
		int rc;

		lsock = listen_any(addr, NULL, &lport);
		CU_ASSERT_PTR_NULL(axon_sock_accept(lsock));
		CU_ASSERT_EQUAL(errno, EAGAIN);
		CU_ASSERT_FALSE(axon_sock_is_connected(lsock));
		CU_ASSERT_EQUAL(axon_sock_getaddr(lsock, saddr, sizeof(saddr), &sport, caddr,
						  sizeof(caddr), &cport), 0);
		CU_ASSERT_STRING_EQUAL(saddr, addr);
		CU_ASSERT_STRING_EQUAL(caddr, "");
		CU_ASSERT_EQUAL(cport, 0);

		client = axon_sock_connect(addr, lport, "posix", NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(client);
		CU_ASSERT_STRING_EQUAL(axon_sock_get_impl_name(client), "posix");
		while ((rc = axon_sock_connect_status(client)) == -EINPROGRESS && now_ms() < deadline) {
			usleep(100);
		}
		CU_ASSERT_EQUAL(rc, 0);
		server = accept_wait(lsock);
		CU_ASSERT_EQUAL(axon_sock_connect_status(server), 0);
		CU_ASSERT_TRUE(axon_sock_is_connected(client));
		CU_ASSERT_TRUE(axon_sock_is_connected(server));

		/* Each side's peer is the other's local address. */
		CU_ASSERT_EQUAL(axon_sock_getaddr(server, saddr, sizeof(saddr), &sport, caddr,
						  sizeof(caddr), &cport), 0);
		CU_ASSERT_STRING_EQUAL(saddr, addr);
		CU_ASSERT_STRING_EQUAL(caddr, addr);
		CU_ASSERT_EQUAL(sport, lport);
		CU_ASSERT_EQUAL(axon_sock_getaddr(client, NULL, 0, &port2, NULL, 0, NULL), 0);
		CU_ASSERT_EQUAL(port2, cport);
		CU_ASSERT_EQUAL(axon_sock_getaddr(client, saddr, 2, NULL, NULL, 0, NULL), -ENOSPC);

		/* Data both ways; an empty socket says EAGAIN. */
		CU_ASSERT_EQUAL(axon_sock_recv(server, buf, sizeof(buf)), -EAGAIN);
		send_all(client, "ping", 4);
		recv_all(server, buf, 4);
		CU_ASSERT_EQUAL(memcmp(buf, "ping", 4), 0);
		send_all(server, "pong", 4);
		recv_all(client, buf, 4);
		CU_ASSERT_EQUAL(memcmp(buf, "pong", 4), 0);

		CU_ASSERT_EQUAL(axon_sock_close(&client), 0);
		CU_ASSERT_PTR_NULL(client);
		CU_ASSERT_EQUAL(axon_sock_close(&client), -EBADF);
		axon_sock_close(&server);
		axon_sock_close(&lsock);
	}
}

static void test_bad_args(void)
{
	struct axon_sock_opts opts;

	CU_ASSERT_PTR_NULL(axon_sock_listen("127.0.0.1", 70000, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NULL(axon_sock_listen("127.0.0.1", 0, "nonesuch", NULL));
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT_PTR_NULL(axon_sock_connect("not an address!", 1, NULL, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
	axon_sock_opts_init(&opts);
	opts.zcopy = true;
	CU_ASSERT_PTR_NULL(axon_sock_listen("127.0.0.1", 0, NULL, &opts));
	CU_ASSERT_EQUAL(errno, ENOTSUP);
	CU_ASSERT_PTR_NULL(axon_sock_connect("127.0.0.1", 4420, NULL, &opts));
	CU_ASSERT_EQUAL(errno, ENOTSUP);
	CU_ASSERT_EQUAL(axon_sock_set_default_impl("nonesuch"), -ENOENT);
	CU_ASSERT_EQUAL(axon_sock_set_default_impl("posix"), 0);
}

static void test_connect_refused(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		struct axon_sock *lsock, *client;
		uint64_t deadline = now_ms() + 2000;
		uint16_t port;
		char buf[4];
		int rc;

		/* A port that was just free: nobody listens there now. */
		lsock = listen_any(g_addrs[a], NULL, &port);
		axon_sock_close(&lsock);
		client = axon_sock_connect(g_addrs[a], port, NULL, NULL);
		if (client == NULL) {
			CU_ASSERT_EQUAL(errno, ECONNREFUSED);
			continue;
		}
		while ((rc = axon_sock_connect_status(client)) == -EINPROGRESS && now_ms() < deadline) {
			usleep(100);
		}
		CU_ASSERT_EQUAL(rc, -ECONNREFUSED);
		CU_ASSERT_FALSE(axon_sock_is_connected(client));
		rc = (int)axon_sock_recv(client, buf, sizeof(buf));
		CU_ASSERT_EQUAL(rc, -ECONNREFUSED);
		axon_sock_close(&client);
	}
}

/* ---- groups --------------------------------------------------------------------- */

struct ut_conn {
	struct axon_sock *client;
	struct axon_sock *server;
	int events;      /* read callbacks seen */
	size_t received; /* bytes read by those callbacks */
	struct ut_conn *victims[4]; /* sockets this one's callback closes */
	bool close_self;
};

static void read_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock)
{
	struct ut_conn *conn = arg;
	char buf[4096];
	ssize_t n;

	CU_ASSERT_PTR_EQUAL(sock, conn->server);
	CU_ASSERT_PTR_EQUAL(axon_sock_group_get_ctx(group), (void *)0x1234);
	conn->events++;
	while ((n = axon_sock_recv(sock, buf, sizeof(buf))) > 0) {
		conn->received += (size_t)n;
	}
	for (size_t i = 0; i < AXON_COUNTOF(conn->victims); i++) {
		if (conn->victims[i] != NULL) {
			axon_sock_close(&conn->victims[i]->server);
		}
	}
	if (conn->close_self) {
		axon_sock_close(&conn->server);
	}
}

#define UT_NCONN 4

static void conns_setup(const char *addr, struct axon_sock_group *group, struct ut_conn *conns)
{
	memset(conns, 0, sizeof(*conns) * UT_NCONN);
	for (int i = 0; i < UT_NCONN; i++) {
		make_pair(addr, &conns[i].client, &conns[i].server);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, conns[i].server, read_cb, &conns[i]), 0);
	}
}

static void conns_teardown(struct ut_conn *conns)
{
	for (int i = 0; i < UT_NCONN; i++) {
		axon_sock_close(&conns[i].client);
		if (conns[i].server != NULL) {
			axon_sock_close(&conns[i].server);
		}
	}
}

/* Wait until the group fd reports that every one of the n sockets is readable. */
static void wait_readable(struct ut_conn *conns, int n)
{
	for (int i = 0; i < n; i++) {
		CU_ASSERT(wait_fd(sock_fd(conns[i].server), POLLIN, 2000) & POLLIN);
	}
}

static void test_group_batch(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		struct axon_sock_group *group = axon_sock_group_create((void *)0x1234);
		struct ut_conn conns[UT_NCONN];
		int gfd;

		CU_ASSERT_PTR_NOT_NULL_FATAL(group);
		gfd = axon_sock_group_get_fd(group);
		CU_ASSERT(gfd >= 0);
		conns_setup(g_addrs[a], group, conns);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, conns[0].server, read_cb, &conns[0]), -EBUSY);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, conns[1].client, NULL, NULL), -EINVAL);

		/* Idle: nothing to do, and the group fd is not readable. */
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
		CU_ASSERT_EQUAL(wait_fd(gfd, POLLIN, 0), 0);

		for (int i = 0; i < UT_NCONN; i++) {
			send_all(conns[i].client, "hello", 5);
		}
		wait_readable(conns, UT_NCONN);
		CU_ASSERT(wait_fd(gfd, POLLIN, 0) & POLLIN);

		/* A budget of 2 hands out 2, the next poll the rest, all in one batch each. */
		CU_ASSERT_EQUAL(axon_sock_group_poll_count(group, 2), 2);
		CU_ASSERT_EQUAL(axon_sock_group_poll_count(group, 64), UT_NCONN - 2);
		for (int i = 0; i < UT_NCONN; i++) {
			CU_ASSERT_EQUAL(conns[i].events, 1);
			CU_ASSERT_EQUAL(conns[i].received, 5);
		}
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
		CU_ASSERT_EQUAL(wait_fd(gfd, POLLIN, 0), 0);
		CU_ASSERT_EQUAL(axon_sock_group_poll_count(group, 0), -EINVAL);

		/* Removed sockets are not reported any more. */
		CU_ASSERT_EQUAL(axon_sock_group_remove_sock(group, conns[0].server), 0);
		CU_ASSERT_EQUAL(axon_sock_group_remove_sock(group, conns[0].server), -EINVAL);
		send_all(conns[0].client, "x", 1);
		wait_readable(conns, 1);
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
		CU_ASSERT_EQUAL(conns[0].events, 1);

		CU_ASSERT_EQUAL(axon_sock_group_close(&group), -EBUSY);
		conns_teardown(conns);
		CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
		CU_ASSERT_PTR_NULL(group);
	}
}

static void test_callback_closes_sockets(void)
{
	struct axon_sock_group *group = axon_sock_group_create((void *)0x1234);
	struct ut_conn conns[UT_NCONN];
	int total = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(group);
	conns_setup("127.0.0.1", group, conns);
	/*
	 * Whichever callback runs first closes itself and every other socket:
	 * the batch holds all four, and the other three must be skipped.
	 */
	for (int i = 0; i < UT_NCONN; i++) {
		int v = 0;

		conns[i].close_self = true;
		for (int j = 0; j < UT_NCONN; j++) {
			if (j != i) {
				conns[i].victims[v++] = &conns[j];
			}
		}
		send_all(conns[i].client, "bye", 3);
	}
	wait_readable(conns, UT_NCONN);
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	for (int i = 0; i < UT_NCONN; i++) {
		total += conns[i].events;
		CU_ASSERT_PTR_NULL(conns[i].server);
	}
	CU_ASSERT_EQUAL(total, 1);
	conns_teardown(conns);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
}

/* ---- writes ----------------------------------------------------------------------- */

#define UT_NREQ 128

struct ut_wreq {
	struct axon_sock_request req;
	struct iovec iov[3];
	int index;
	int err;
	bool done;
};

static int g_order[4096];
static int g_norder;
static struct axon_sock *g_close_in_cb[2]; /* closed by the first write callback */

static void write_cb(void *arg, int err)
{
	struct ut_wreq *w = arg;

	CU_ASSERT_FALSE(w->done);
	w->done = true;
	w->err = err;
	if (g_norder < (int)AXON_COUNTOF(g_order)) {
		g_order[g_norder++] = w->index;
	}
	for (size_t i = 0; i < AXON_COUNTOF(g_close_in_cb); i++) {
		if (g_close_in_cb[i] != NULL) {
			axon_sock_close(&g_close_in_cb[i]);
		}
	}
}

/* Request i carries bytes of pattern starting at *off, split over 1-3 iovecs. */
static void wreq_init(struct ut_wreq *w, int i, const uint8_t *pattern, size_t *off, size_t len)
{
	int cnt = 1 + i % 3;
	size_t part = len / (size_t)cnt;

	memset(w, 0, sizeof(*w));
	w->index = i;
	for (int k = 0; k < cnt; k++) {
		w->iov[k].iov_base = (void *)(pattern + *off);
		w->iov[k].iov_len = k == cnt - 1 ? len - part * (size_t)(cnt - 1) : part;
		*off += w->iov[k].iov_len;
	}
	w->req.iov = w->iov;
	w->req.iovcnt = cnt;
	w->req.cb_fn = write_cb;
	w->req.cb_arg = w;
}

static void check_order(int n)
{
	CU_ASSERT_EQUAL(g_norder, n);
	for (int i = 0; i < g_norder; i++) {
		CU_ASSERT_EQUAL(g_order[i], i);
	}
}

static void noop_read_cb(void *arg, struct axon_sock_group *group, struct axon_sock *sock)
{
	(*(int *)arg)++;
}

static void test_writev_coalesced(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		static struct ut_wreq w[UT_NREQ];
		static uint8_t pattern[UT_NREQ * 40], got[UT_NREQ * 40];
		struct axon_sock_group *group = axon_sock_group_create(NULL);
		struct axon_sock *client, *server;
		struct iovec bad = {.iov_base = NULL, .iov_len = 1};
		size_t off = 0;
		int reads = 0;

		for (size_t i = 0; i < sizeof(pattern); i++) {
			pattern[i] = (uint8_t)(i * 7 + 3);
		}
		make_pair(g_addrs[a], &client, &server);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, server, noop_read_cb, &reads), 0);
		g_norder = 0;
		for (int i = 0; i < UT_NREQ; i++) {
			wreq_init(&w[i], i, pattern, &off, 10 + (size_t)i % 31);
			CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w[i].req), 0);
		}
		w[0].req.iov = &bad;
		CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w[0].req), -EINVAL);
		w[0].req.iov = w[0].iov;
		CU_ASSERT_TRUE(axon_sock_group_has_pending_writes(group));
		CU_ASSERT_EQUAL(g_norder, 0); /* nothing completes before the poll */

		g_sendmsg_calls = 0;
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
		CU_ASSERT_EQUAL(g_sendmsg_calls, 1);
		check_order(UT_NREQ);
		CU_ASSERT_FALSE(axon_sock_group_has_pending_writes(group));
		recv_all(client, got, off);
		CU_ASSERT_EQUAL(memcmp(got, pattern, off), 0);

		/* Outside a group, axon_sock_flush is the one system call. */
		CU_ASSERT_EQUAL(axon_sock_group_remove_sock(group, server), 0);
		g_norder = 0;
		off = 0;
		for (int i = 0; i < UT_NREQ; i++) {
			wreq_init(&w[i], i, pattern, &off, 10 + (size_t)i % 31);
			CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w[i].req), 0);
		}
		g_sendmsg_calls = 0;
		CU_ASSERT_EQUAL(axon_sock_flush(server), 0);
		CU_ASSERT_EQUAL(g_sendmsg_calls, 1);
		check_order(UT_NREQ);
		recv_all(client, got, off);
		CU_ASSERT_EQUAL(memcmp(got, pattern, off), 0);
		CU_ASSERT_EQUAL(axon_sock_flush(server), 0);
		CU_ASSERT_EQUAL(g_sendmsg_calls, 1); /* empty queue: no system call */
		CU_ASSERT_EQUAL(reads, 0);

		axon_sock_close(&client);
		axon_sock_close(&server);
		CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
	}
}

#define UT_BIG_NREQ 64
#define UT_BIG_LEN (64 * 1024 + 17)

static uint8_t g_big_pattern[UT_BIG_NREQ * UT_BIG_LEN];
static uint8_t g_big_got[UT_BIG_NREQ * UT_BIG_LEN];
static struct ut_wreq g_big_w[UT_BIG_NREQ];

static void queue_big(struct axon_sock *sock)
{
	size_t off = 0;

	for (size_t i = 0; i < sizeof(g_big_pattern); i++) {
		g_big_pattern[i] = (uint8_t)(i % 251);
	}
	g_norder = 0;
	for (int i = 0; i < UT_BIG_NREQ; i++) {
		wreq_init(&g_big_w[i], i, g_big_pattern, &off, UT_BIG_LEN);
		CU_ASSERT_EQUAL(axon_sock_writev_async(sock, &g_big_w[i].req), 0);
	}
}

static void test_partial_writes(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		struct axon_sock_group *group = axon_sock_group_create(NULL);
		struct axon_sock_opts opts;
		struct axon_sock *client, *server;
		uint64_t deadline = now_ms() + 10000;
		size_t got = 0;
		int reads = 0, polls = 0, min_done;

		axon_sock_opts_init(&opts);
		opts.send_buf_size = 16 * 1024;
		opts.recv_buf_size = 16 * 1024;
		make_pair_opts(g_addrs[a], &opts, &client, &server);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, server, noop_read_cb, &reads), 0);
		queue_big(server);

		/* The peer does not read: the first flush is short and waits for room. */
		axon_sock_group_poll(group);
		CU_ASSERT(g_norder < UT_BIG_NREQ);
		CU_ASSERT_TRUE(server->write_armed);
		min_done = g_norder;
		g_sendmsg_calls = 0;
		CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0); /* blocked: no busy retry */
		CU_ASSERT_EQUAL(g_sendmsg_calls, 0);
		/* Data written but not accepted by the peer may not complete requests. */
		CU_ASSERT_EQUAL(g_norder, min_done);

		/* Drain slowly; writability resumes the queue exactly where it stopped. */
		while (got < sizeof(g_big_got) && now_ms() < deadline) {
			ssize_t n = axon_sock_recv(client, g_big_got + got,
						   AXON_MIN(sizeof(g_big_got) - got, (size_t)8192));

			if (n > 0) {
				got += (size_t)n;
			}
			axon_sock_group_poll(group);
			polls++;
			/* Completed requests never exceed what the peer could hold. */
			CU_ASSERT((size_t)g_norder * UT_BIG_LEN <= got + 4 * 1024 * 1024);
		}
		CU_ASSERT_EQUAL(got, sizeof(g_big_got));
		CU_ASSERT_EQUAL(memcmp(g_big_got, g_big_pattern, sizeof(g_big_got)), 0);
		check_order(UT_BIG_NREQ);
		for (int i = 0; i < UT_BIG_NREQ; i++) {
			CU_ASSERT_EQUAL(g_big_w[i].err, 0);
		}
		CU_ASSERT_FALSE(server->write_armed);
		CU_ASSERT(polls > 1);
		CU_ASSERT_EQUAL(reads, 0);
		axon_sock_close(&client);
		axon_sock_close(&server);
		CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
	}
}

/* Abort the peer's connection with a reset (RST) instead of FIN. */
static void close_with_reset(struct axon_sock **sock)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	CU_ASSERT_EQUAL(setsockopt(sock_fd(*sock), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	axon_sock_close(sock);
}

static void test_peer_reset_during_writes(void)
{
	for (size_t a = 0; a < AXON_COUNTOF(g_addrs); a++) {
		struct axon_sock_group *group = axon_sock_group_create(NULL);
		struct axon_sock_opts opts;
		struct axon_sock *client, *server;
		uint64_t deadline = now_ms() + 5000;
		struct ut_wreq extra;
		size_t off = 0;
		char buf[16];
		int reads = 0;

		axon_sock_opts_init(&opts);
		opts.send_buf_size = 16 * 1024;
		make_pair_opts(g_addrs[a], &opts, &client, &server);
		CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, server, noop_read_cb, &reads), 0);
		queue_big(server);
		axon_sock_group_poll(group);
		CU_ASSERT(g_norder < UT_BIG_NREQ);

		close_with_reset(&client);
		while (g_norder < UT_BIG_NREQ && now_ms() < deadline) {
			axon_sock_group_poll(group);
		}
		check_order(UT_BIG_NREQ);
		CU_ASSERT(g_big_w[UT_BIG_NREQ - 1].err == -ECONNRESET || g_big_w[UT_BIG_NREQ - 1].err == -EPIPE);
		CU_ASSERT(reads >= 1); /* the reader hears about the reset too */
		CU_ASSERT_FALSE(axon_sock_is_connected(server));

		/* The error sticks: a later request fails on the next poll, no send. */
		g_norder = 0;
		wreq_init(&extra, 0, g_big_pattern, &off, 10);
		CU_ASSERT_EQUAL(axon_sock_writev_async(server, &extra.req), 0);
		g_sendmsg_calls = 0;
		axon_sock_group_poll(group);
		CU_ASSERT_TRUE(extra.done);
		CU_ASSERT(extra.err < 0);
		CU_ASSERT_EQUAL(g_sendmsg_calls, 0);
		CU_ASSERT(axon_sock_recv(server, buf, sizeof(buf)) < 0 ||
			  axon_sock_recv(server, buf, sizeof(buf)) == 0);
		axon_sock_close(&server);
		CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
	}
}

static void test_close_with_queued_writes(void)
{
	struct axon_sock *client, *server;
	struct ut_wreq w[4];
	size_t off = 0;

	for (size_t i = 0; i < sizeof(g_big_pattern); i++) {
		g_big_pattern[i] = (uint8_t)i;
	}
	make_pair("::1", &client, &server);
	g_norder = 0;
	for (int i = 0; i < 4; i++) {
		wreq_init(&w[i], i, g_big_pattern, &off, 100);
		CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w[i].req), 0);
	}
	axon_sock_close(&server);
	check_order(4);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(w[i].err, -ECANCELED);
	}
	CU_ASSERT_EQUAL(axon_sock_writev_async(client, NULL), -EINVAL);
	axon_sock_close(&client);
}

/* Peer half-closes: reads say 0 (end of stream), writes still go through. */
static void test_half_close_and_sigpipe(void)
{
	struct axon_sock *client, *server;
	struct ut_wreq w;
	size_t off = 0;
	char buf[16];
	ssize_t n;
	uint64_t deadline = now_ms() + 2000;

	make_pair("127.0.0.1", &client, &server);
	CU_ASSERT_EQUAL(shutdown(sock_fd(client), SHUT_WR), 0);
	while ((n = axon_sock_recv(server, buf, sizeof(buf))) == -EAGAIN && now_ms() < deadline) {
		usleep(100);
	}
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_FALSE(axon_sock_is_connected(server)); /* the peer closed its side */
	g_norder = 0;
	wreq_init(&w, 0, (const uint8_t *)"abcdefgh", &off, 8);
	CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w.req), 0);
	CU_ASSERT_EQUAL(axon_sock_flush(server), 0);
	CU_ASSERT_EQUAL(w.err, 0);
	recv_all(client, buf, 8);
	CU_ASSERT_EQUAL(memcmp(buf, "abcdefgh", 8), 0);

	/* The peer vanishes; sending must give an error, not SIGPIPE. */
	close_with_reset(&client);
	usleep(10000);
	for (int i = 0; i < 3 && !(w.err < 0); i++) {
		w.done = false;
		w.err = 0;
		off = 0;
		wreq_init(&w, 0, (const uint8_t *)"abcdefgh", &off, 8);
		CU_ASSERT_EQUAL(axon_sock_writev_async(server, &w.req), 0);
		axon_sock_flush(server);
		CU_ASSERT_TRUE(w.done);
	}
	CU_ASSERT(w.err == -EPIPE || w.err == -ECONNRESET);
	axon_sock_close(&server);
}

/* A write callback closes its own socket and another with queued writes in one flush. */
static void test_write_cb_closes_sockets(void)
{
	struct axon_sock_group *group = axon_sock_group_create(NULL);
	struct axon_sock *c1, *s1, *c2, *s2;
	struct ut_wreq w1[3], w2[3];
	size_t off = 0;
	int reads = 0;

	make_pair("127.0.0.1", &c1, &s1);
	make_pair("127.0.0.1", &c2, &s2);
	CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, s1, noop_read_cb, &reads), 0);
	CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, s2, noop_read_cb, &reads), 0);
	for (int i = 0; i < 3; i++) {
		wreq_init(&w1[i], i, g_big_pattern, &off, 10);
		wreq_init(&w2[i], 10 + i, g_big_pattern, &off, 10);
		CU_ASSERT_EQUAL(axon_sock_writev_async(s1, &w1[i].req), 0);
		CU_ASSERT_EQUAL(axon_sock_writev_async(s2, &w2[i].req), 0);
	}
	g_norder = 0;
	g_close_in_cb[0] = s1;
	g_close_in_cb[1] = s2;
	axon_sock_group_poll(group);
	/* s1's writes were sent (0); s2 was closed before its flush (-ECANCELED). */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_TRUE(w1[i].done);
		CU_ASSERT_EQUAL(w1[i].err, 0);
		CU_ASSERT_TRUE(w2[i].done);
		CU_ASSERT_EQUAL(w2[i].err, -ECANCELED);
	}
	CU_ASSERT_EQUAL(g_norder, 6);
	CU_ASSERT_PTR_NULL(g_close_in_cb[0]);
	CU_ASSERT_PTR_NULL(g_close_in_cb[1]);
	CU_ASSERT_FALSE(axon_sock_group_has_pending_writes(group));
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
	axon_sock_close(&c1);
	axon_sock_close(&c2);
}

/* ---- options ----------------------------------------------------------------------- */

static int getopt_int(struct axon_sock *sock, int level, int name)
{
	int val = -1;
	socklen_t len = sizeof(val);

	CU_ASSERT_EQUAL(getsockopt(sock_fd(sock), level, name, &val, &len), 0);
	return val;
}

static void test_options(void)
{
	struct axon_sock_opts opts;
	struct axon_sock *client, *server;

	axon_sock_opts_init(&opts);
	CU_ASSERT_TRUE(opts.nodelay);
	CU_ASSERT_FALSE(opts.zcopy);
	opts.recv_buf_size = 96 * 1024;
	opts.send_buf_size = 80 * 1024;
	opts.priority = 3;
	opts.ack_timeout_ms = 5000;
	make_pair_opts("::1", &opts, &client, &server);
	/* Both the connected and the accepted side carry every option. */
	struct axon_sock *socks[] = {client, server};
	for (int i = 0; i < 2; i++) {
		/* Linux reports twice the size asked for (bookkeeping overhead). */
		CU_ASSERT(getopt_int(socks[i], SOL_SOCKET, SO_RCVBUF) >= 96 * 1024);
		CU_ASSERT(getopt_int(socks[i], SOL_SOCKET, SO_SNDBUF) >= 80 * 1024);
		CU_ASSERT_EQUAL(getopt_int(socks[i], SOL_SOCKET, SO_PRIORITY), 3);
		CU_ASSERT_NOT_EQUAL(getopt_int(socks[i], IPPROTO_TCP, TCP_NODELAY), 0);
		CU_ASSERT_EQUAL(getopt_int(socks[i], IPPROTO_TCP, TCP_USER_TIMEOUT), 5000);
		CU_ASSERT_EQUAL(axon_sock_get_opts(socks[i])->priority, 3);
	}
	CU_ASSERT_EQUAL(axon_sock_set_recvlowat(server, 512), 0);
	CU_ASSERT_EQUAL(getopt_int(server, SOL_SOCKET, SO_RCVLOWAT), 512);
	CU_ASSERT_EQUAL(axon_sock_set_recvlowat(server, 0), -EINVAL);
	axon_sock_close(&client);
	axon_sock_close(&server);

	axon_sock_opts_init(&opts);
	opts.nodelay = false;
	make_pair_opts("127.0.0.1", &opts, &client, &server);
	CU_ASSERT_EQUAL(getopt_int(server, IPPROTO_TCP, TCP_NODELAY), 0);
	CU_ASSERT_EQUAL(getopt_int(client, IPPROTO_TCP, TCP_NODELAY), 0);
	axon_sock_close(&client);
	axon_sock_close(&server);
}

/* recvlowat holds readiness back until enough bytes are there. */
static void test_recvlowat_readiness(void)
{
	struct axon_sock_group *group = axon_sock_group_create(NULL);
	struct axon_sock *client, *server;
	int reads = 0;

	make_pair("127.0.0.1", &client, &server);
	CU_ASSERT_EQUAL(axon_sock_set_recvlowat(server, 8), 0);
	CU_ASSERT_EQUAL(axon_sock_group_add_sock(group, server, noop_read_cb, &reads), 0);
	send_all(client, "1234", 4);
	usleep(10000);
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 0);
	send_all(client, "5678", 4);
	CU_ASSERT(wait_fd(axon_sock_group_get_fd(group), POLLIN, 2000) & POLLIN);
	CU_ASSERT_EQUAL(axon_sock_group_poll(group), 1);
	CU_ASSERT_EQUAL(reads, 1);
	axon_sock_close(&server);
	axon_sock_close(&client);
	CU_ASSERT_EQUAL(axon_sock_group_close(&group), 0);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("sock_posix", NULL, NULL);
	CU_ADD_TEST(suite, test_listen_accept_connect);
	CU_ADD_TEST(suite, test_bad_args);
	CU_ADD_TEST(suite, test_connect_refused);
	CU_ADD_TEST(suite, test_group_batch);
	CU_ADD_TEST(suite, test_callback_closes_sockets);
	CU_ADD_TEST(suite, test_writev_coalesced);
	CU_ADD_TEST(suite, test_partial_writes);
	CU_ADD_TEST(suite, test_peer_reset_during_writes);
	CU_ADD_TEST(suite, test_close_with_queued_writes);
	CU_ADD_TEST(suite, test_half_close_and_sigpipe);
	CU_ADD_TEST(suite, test_write_cb_closes_sockets);
	CU_ADD_TEST(suite, test_options);
	CU_ADD_TEST(suite, test_recvlowat_readiness);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
