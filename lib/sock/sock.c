/*
 * lib/sock: the implementation registry, the public socket calls, and the
 * write queue (coalescing, partial writes, completion order).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/sock.h"
#include "axon/util.h"
#include "sock_internal.h"

AXON_LOG_REGISTER_COMPONENT(sock)

#define SOCK_MAX_IMPLS 8
/*
 * The most iovecs one flush hands to the kernel. A 4 KiB NVMe/TCP read
 * response is 2-3 iovecs, so this covers a queue depth of ~100 per socket
 * per poll while keeping the array on the stack small (4 KiB).
 */
#define SOCK_FLUSH_MAX_IOV 256

static const struct axon_sock_impl *g_impls[SOCK_MAX_IMPLS];
static int g_num_impls;
static const struct axon_sock_impl *g_default_impl;

/* ---- registry ----------------------------------------------------------- */

static const struct axon_sock_impl *impl_find(const char *name)
{
	for (int i = 0; i < g_num_impls; i++) {
		if (strcmp(g_impls[i]->name, name) == 0) {
			return g_impls[i];
		}
	}
	return NULL;
}

void axon_sock_impl_register(const struct axon_sock_impl *impl)
{
	if (impl_find(impl->name) != NULL || g_num_impls == SOCK_MAX_IMPLS) {
		/* Two drivers with one name is a build error, not a runtime one. */
		AXON_ERRLOG("cannot register sock implementation %s\n", impl->name);
		abort();
	}
	g_impls[g_num_impls++] = impl;
	if (g_default_impl == NULL || impl->priority > g_default_impl->priority) {
		g_default_impl = impl;
	}
}

int axon_sock_set_default_impl(const char *name)
{
	const struct axon_sock_impl *impl = impl_find(name);

	if (impl == NULL) {
		return -ENOENT;
	}
	g_default_impl = impl;
	return 0;
}

const struct axon_sock_impl *sock_default_impl(void)
{
	return g_default_impl;
}

/* The implementation for name (NULL: the default); NULL + errno ENOENT. */
static const struct axon_sock_impl *impl_get(const char *name)
{
	const struct axon_sock_impl *impl = name ? impl_find(name) : g_default_impl;

	if (impl == NULL) {
		AXON_ERRLOG("no sock implementation %s\n", name ? name : "registered");
		errno = ENOENT;
	}
	return impl;
}

/* ---- creation ------------------------------------------------------------ */

void axon_sock_opts_init(struct axon_sock_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->nodelay = true;
}

static void sock_init(struct axon_sock *sock, const struct axon_sock_impl *impl,
		      const struct axon_sock_opts *opts)
{
	sock->impl = impl;
	sock->opts = *opts;
	TAILQ_INIT(&sock->queued_reqs);
}

/* Shared by listen and connect: pick the implementation and check the options. */
static const struct axon_sock_impl *sock_prepare(const char *ip, int port, const char *impl_name,
						 const struct axon_sock_opts *opts)
{
	const struct axon_sock_impl *impl;

	if (ip == NULL || port < 0 || port > UINT16_MAX || opts->recv_buf_size < 0 ||
	    opts->send_buf_size < 0 || opts->priority < 0) {
		AXON_ERRLOG("invalid socket address or options (port %d)\n", port);
		errno = EINVAL;
		return NULL;
	}
	impl = impl_get(impl_name);
	if (impl != NULL && opts->zcopy && !impl->zcopy_supported) {
		AXON_ERRLOG("sock implementation %s does not support zero-copy sends\n", impl->name);
		errno = ENOTSUP;
		return NULL;
	}
	return impl;
}

struct axon_sock *axon_sock_listen(const char *ip, int port, const char *impl_name,
				   const struct axon_sock_opts *opts)
{
	struct axon_sock_opts defaults;
	const struct axon_sock_impl *impl;
	struct axon_sock *sock;

	if (opts == NULL) {
		axon_sock_opts_init(&defaults);
		opts = &defaults;
	}
	impl = sock_prepare(ip, port, impl_name, opts);
	if (impl == NULL) {
		return NULL;
	}
	sock = impl->listen(ip, port, opts);
	if (sock == NULL) {
		return NULL;
	}
	sock_init(sock, impl, opts);
	return sock;
}

struct axon_sock *axon_sock_connect(const char *ip, int port, const char *impl_name,
				    const struct axon_sock_opts *opts)
{
	struct axon_sock_opts defaults;
	const struct axon_sock_impl *impl;
	struct axon_sock *sock;

	if (opts == NULL) {
		axon_sock_opts_init(&defaults);
		opts = &defaults;
	}
	impl = sock_prepare(ip, port, impl_name, opts);
	if (impl == NULL) {
		return NULL;
	}
	sock = impl->connect(ip, port, opts);
	if (sock == NULL) {
		return NULL;
	}
	sock_init(sock, impl, opts);
	return sock;
}

struct axon_sock *axon_sock_accept(struct axon_sock *lsock)
{
	struct axon_sock *sock;

	if (lsock == NULL || lsock->closed) {
		errno = EINVAL;
		return NULL;
	}
	sock = lsock->impl->accept(lsock);
	if (sock == NULL) {
		return NULL;
	}
	sock_init(sock, lsock->impl, &lsock->opts);
	return sock;
}

/* ---- completion and teardown ---------------------------------------------- */

/* Drop a hold taken around callbacks; the last one frees a closed socket. */
static void sock_put(struct axon_sock *sock)
{
	assert(sock->busy > 0);
	if (--sock->busy == 0 && sock->closed) {
		sock->impl->close(sock);
	}
}

/*
 * Run the callbacks of the requests on done, in order. The socket is held so
 * that a callback may close it; other requests are already off its queue, so
 * a callback that queues or flushes sees a consistent socket.
 */
static void sock_complete_list(struct axon_sock *sock, struct sock_req_list *done, int err)
{
	struct axon_sock_request *req;

	sock->busy++;
	while ((req = TAILQ_FIRST(done)) != NULL) {
		TAILQ_REMOVE(done, req, internal.link);
		req->cb_fn(req->cb_arg, err);
	}
	sock_put(sock);
}

/* Complete every queued request with err. */
static void sock_fail_all(struct axon_sock *sock, int err)
{
	struct sock_req_list done = TAILQ_HEAD_INITIALIZER(done);

	if (TAILQ_EMPTY(&sock->queued_reqs)) {
		return;
	}
	TAILQ_CONCAT(&done, &sock->queued_reqs, internal.link);
	sock_complete_list(sock, &done, err);
}

int axon_sock_close(struct axon_sock **psock)
{
	struct axon_sock *sock;

	if (psock == NULL || *psock == NULL) {
		return -EBADF;
	}
	sock = *psock;
	*psock = NULL;
	if (sock->closed) {
		return -EBADF;
	}
	sock->busy++;
	sock->closed = true;
	if (sock->group != NULL) {
		sock_group_detach(sock);
	}
	sock_fail_all(sock, -ECANCELED);
	sock_put(sock);
	return 0;
}

/* ---- reading and status ------------------------------------------------------- */

ssize_t axon_sock_recv(struct axon_sock *sock, void *buf, size_t len)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	if (len == 0) {
		return 0;
	}
	return sock->impl->recv(sock, buf, len);
}

ssize_t axon_sock_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && iov == NULL)) {
		return -EINVAL;
	}
	if (iovcnt == 0) {
		return 0;
	}
	return sock->impl->readv(sock, iov, iovcnt);
}

int axon_sock_getaddr(struct axon_sock *sock, char *saddr, size_t slen, uint16_t *sport,
		      char *caddr, size_t clen, uint16_t *cport)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	return sock->impl->getaddr(sock, saddr, slen, sport, caddr, clen, cport);
}

int axon_sock_set_recvlowat(struct axon_sock *sock, int nbytes)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	if (nbytes < 1) {
		return -EINVAL;
	}
	return sock->impl->set_recvlowat(sock, nbytes);
}

int axon_sock_connect_status(struct axon_sock *sock)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	return sock->impl->connect_status(sock);
}

bool axon_sock_is_connected(struct axon_sock *sock)
{
	if (sock == NULL || sock->closed) {
		return false;
	}
	return sock->impl->is_connected(sock);
}

const struct axon_sock_opts *axon_sock_get_opts(const struct axon_sock *sock)
{
	return &sock->opts;
}

const char *axon_sock_get_impl_name(const struct axon_sock *sock)
{
	return sock->impl->name;
}

/* ---- writing ------------------------------------------------------------------ */

int axon_sock_writev_async(struct axon_sock *sock, struct axon_sock_request *req)
{
	size_t len = 0;

	if (sock == NULL || req == NULL || req->cb_fn == NULL || req->iovcnt < 0 ||
	    (req->iovcnt > 0 && req->iov == NULL)) {
		return -EINVAL;
	}
	if (sock->closed) {
		return -EBADF;
	}
	for (int i = 0; i < req->iovcnt; i++) {
		if (req->iov[i].iov_base == NULL && req->iov[i].iov_len != 0) {
			return -EINVAL;
		}
		len += req->iov[i].iov_len;
	}
	req->internal.len = len;
	req->internal.offset = 0;
	TAILQ_INSERT_TAIL(&sock->queued_reqs, req, internal.link);
	if (sock->group != NULL) {
		sock_group_schedule_flush(sock);
	}
	return 0;
}

/*
 * Gather the unsent bytes of the queue into iov[], at most max entries: the
 * first request from its offset, the rest whole. Returns the entry count
 * and sets *bytes to their total.
 */
static int sock_prep_iovs(struct axon_sock *sock, struct iovec *iov, int max, size_t *bytes)
{
	struct axon_sock_request *req;
	int n = 0;

	*bytes = 0;

	TAILQ_FOREACH(req, &sock->queued_reqs, internal.link) {
		size_t skip = req->internal.offset;

		for (int i = 0; i < req->iovcnt; i++) {
			const struct iovec *src = &req->iov[i];

			if (skip >= src->iov_len) {
				skip -= src->iov_len;
				continue;
			}
			if (n == max) {
				return n;
			}
			iov[n].iov_base = (char *)src->iov_base + skip;
			iov[n].iov_len = src->iov_len - skip;
			*bytes += iov[n].iov_len;
			skip = 0;
			n++;
		}
	}
	return n;
}

/*
 * Account for sent bytes written: requests wholly sent move to done in
 * order; the first one not wholly sent records how far it got.
 */
static void sock_retire_bytes(struct axon_sock *sock, size_t sent, struct sock_req_list *done)
{
	struct axon_sock_request *req;

	while ((req = TAILQ_FIRST(&sock->queued_reqs)) != NULL) {
		size_t left = req->internal.len - req->internal.offset;

		if (sent < left) {
			req->internal.offset += sent;
			return;
		}
		sent -= left;
		TAILQ_REMOVE(&sock->queued_reqs, req, internal.link);
		TAILQ_INSERT_TAIL(done, req, internal.link);
	}
	assert(sent == 0);
}

int sock_flush_queued(struct axon_sock *sock)
{
	struct sock_req_list done = TAILQ_HEAD_INITIALIZER(done);
	struct iovec iov[SOCK_FLUSH_MAX_IOV];
	size_t offered;
	ssize_t sent = 0;
	int iovcnt, rc;

	if (TAILQ_EMPTY(&sock->queued_reqs)) {
		return 0;
	}
	if (sock->write_err != 0) {
		rc = sock->write_err;
		sock_fail_all(sock, rc);
		return rc;
	}
	iovcnt = sock_prep_iovs(sock, iov, SOCK_FLUSH_MAX_IOV, &offered);
	if (iovcnt > 0) {
		sent = sock->impl->writev(sock, iov, iovcnt);
	}
	if (sent == -EAGAIN) {
		sock_group_set_write_armed(sock, true);
		return -EAGAIN;
	}
	if (sent < 0) {
		AXON_DEBUGLOG(sock, "send failed: %s\n", strerror((int)-sent));
		sock->write_err = (int)sent;
		sock_group_set_write_armed(sock, false);
		sock_fail_all(sock, (int)sent);
		return (int)sent;
	}
	sock_retire_bytes(sock, (size_t)sent, &done);
	rc = TAILQ_EMPTY(&sock->queued_reqs) ? 0 : -EAGAIN;
	/*
	 * Decide before the callbacks run: one of them may close the socket.
	 * A short write means the send buffer is full: wait for writability.
	 * A full write that left requests (more than SOCK_FLUSH_MAX_IOV
	 * iovecs) goes on with the next poll.
	 */
	if (rc == 0 || (size_t)sent < offered) {
		sock_group_set_write_armed(sock, rc != 0);
	} else if (sock->group != NULL) {
		sock_group_schedule_flush(sock);
	}
	if (!TAILQ_EMPTY(&done)) {
		sock_complete_list(sock, &done, 0);
	}
	return rc;
}

int axon_sock_flush(struct axon_sock *sock)
{
	if (sock == NULL || sock->closed) {
		return -EBADF;
	}
	return sock_flush_queued(sock);
}
