/*
 * Axon sockets: non-blocking TCP (IPv4 and IPv6) for the NVMe/TCP target and
 * host, with sock groups for polled I/O.
 *
 * Model.
 *  - Every socket is non-blocking. Nothing here ever sleeps or raises SIGPIPE.
 *  - Reads are synchronous and return what is there (axon_sock_recv/readv).
 *  - Writes are asynchronous: axon_sock_writev_async() queues a request that
 *    the caller owns (no allocation per request). A socket in a sock group is
 *    flushed by axon_sock_group_poll(): all requests queued on it since the
 *    last poll leave in one writev/sendmsg. A socket in no group is flushed
 *    only by axon_sock_flush(). A request's callback runs exactly once, in
 *    queue order per socket, when all its bytes were handed to the kernel or
 *    when it failed.
 *  - A sock group is one epoll set per poll group (one per thread). Its poll
 *    hands the ready sockets to their callbacks in a batch, then flushes the
 *    queued writes of all its sockets. Callbacks may close or remove any
 *    socket of the group, including their own: later entries of the batch
 *    that name a removed socket are skipped.
 *
 * Threading: a socket and a group belong to one thread; nothing locks.
 * Errors: functions return 0 or a negative errno; constructors return NULL and
 * set errno.
 *
 * The second half of this header is the interface for socket implementations
 * (drivers/sock/<name>): struct axon_sock_impl and the base structures they
 * embed. Users of sockets never touch those fields.
 */
#ifndef AXON_SOCK_H
#define AXON_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct axon_sock;
struct axon_sock_group;

/* ---- options ------------------------------------------------------------ */

/**
 * Per-socket options, applied at listen/connect (and inherited by accepted
 * sockets). Always start from axon_sock_opts_init(), then change fields.
 */
struct axon_sock_opts {
	/** SO_RCVBUF in bytes; 0 keeps the system default. */
	int recv_buf_size;
	/** SO_SNDBUF in bytes; 0 keeps the system default. */
	int send_buf_size;
	/** SO_PRIORITY (0..6 without CAP_NET_ADMIN); 0 leaves it unset. */
	int priority;
	/** TCP_NODELAY; default true (NVMe/TCP PDUs must not wait for Nagle). */
	bool nodelay;
	/**
	 * MSG_ZEROCOPY for large sends; default false. Only implementations
	 * that set zcopy_supported accept it: elsewhere listen/connect fail
	 * with errno ENOTSUP. (drivers/sock/posix does not support it yet.)
	 */
	bool zcopy;
	/**
	 * TCP_USER_TIMEOUT in milliseconds: how long sent data may stay
	 * unacknowledged before the connection is reset; 0 keeps the default.
	 */
	uint32_t ack_timeout_ms;
};

/** Fill opts with the defaults described above. */
void axon_sock_opts_init(struct axon_sock_opts *opts);

/* ---- sockets ------------------------------------------------------------ */

/**
 * Listen on ip:port. ip is a numeric IPv4 or IPv6 address ("0.0.0.0", "::",
 * "127.0.0.1", "::1"; brackets around an IPv6 address are accepted) or a host
 * name. port 0 picks a free port (see axon_sock_getaddr()). impl_name selects
 * an implementation ("posix"); NULL takes the default one. opts may be NULL
 * for the defaults.
 * Returns the listening socket, or NULL with errno: EINVAL (bad argument or
 * address), ENOENT (no such implementation), ENOTSUP (an option the
 * implementation lacks), EADDRINUSE, ENOMEM, or another socket errno.
 */
struct axon_sock *axon_sock_listen(const char *ip, int port, const char *impl_name,
				   const struct axon_sock_opts *opts);

/**
 * Start a non-blocking connect to ip:port (arguments as for listen). The
 * connection is usually still in progress on return: learn the outcome with
 * axon_sock_connect_status(), or simply queue writes (they leave once the
 * connection is up) and read when the socket turns readable in a group.
 * Returns the socket, or NULL with errno as for listen, or ECONNREFUSED,
 * ENETUNREACH, ... when the connect fails at once.
 */
struct axon_sock *axon_sock_connect(const char *ip, int port, const char *impl_name,
				    const struct axon_sock_opts *opts);

/**
 * Progress of a connect started by axon_sock_connect(); never blocks.
 * Returns 0 once connected (also for accepted sockets), -EINPROGRESS while
 * the handshake is still running, or the connect's error (-ECONNREFUSED,
 * -ETIMEDOUT, -EHOSTUNREACH, ...).
 */
int axon_sock_connect_status(struct axon_sock *sock);

/**
 * Accept one pending connection on a listening socket; never blocks.
 * The new socket inherits the listener's options and implementation.
 * Returns it, or NULL with errno EAGAIN when no connection is pending, or
 * another errno (EMFILE, ENOMEM, EINVAL for a socket that is not listening).
 */
struct axon_sock *axon_sock_accept(struct axon_sock *lsock);

/**
 * Close *psock and set *psock to NULL. The socket leaves its group, and
 * every write request still queued completes with -ECANCELED (in queue
 * order, before this returns). Safe inside any callback, including one
 * running for this socket: the memory is released once that callback
 * returns. Returns 0, or -EBADF if *psock is NULL.
 */
int axon_sock_close(struct axon_sock **psock);

/**
 * Receive up to len bytes into buf; never blocks.
 * Returns the number of bytes received (> 0);
 *   0            the peer closed its sending side (orderly end of stream;
 *                nothing more will ever arrive), or len was 0;
 *   -EAGAIN      no data available now (also while a connect is still in
 *                progress);
 *   -ECONNRESET  the peer reset the connection (also -ETIMEDOUT,
 *                -EHOSTUNREACH ... for other fatal connection errors;
 *                -ECONNREFUSED when the connect failed);
 *   -ENOTCONN    a listening socket;
 *   -EBADF       the socket is being closed.
 */
ssize_t axon_sock_recv(struct axon_sock *sock, void *buf, size_t len);

/** As axon_sock_recv(), scattering into iovcnt (<= IOV_MAX) buffers. */
ssize_t axon_sock_readv(struct axon_sock *sock, struct iovec *iov, int iovcnt);

/** Called once per write request: err is 0 (all bytes sent) or a negative errno. */
typedef void (*axon_sock_request_cb)(void *cb_arg, int err);

/**
 * An asynchronous write. The caller owns the request and the memory its
 * iovecs point to until cb_fn runs; neither is copied. Fill the first four
 * fields; `internal` belongs to lib/sock while the request is queued.
 */
struct axon_sock_request {
	const struct iovec *iov;
	int iovcnt;
	axon_sock_request_cb cb_fn;
	void *cb_arg;
	struct {
		TAILQ_ENTRY(axon_sock_request) link;
		size_t len;    /* total bytes of iov[] */
		size_t offset; /* bytes already handed to the kernel */
	} internal;
};

/**
 * Queue req behind the socket's earlier requests. It is sent by the next
 * group poll (socket in a group) or axon_sock_flush() (any socket).
 * Returns 0 when queued (cb_fn will run exactly once, never from inside this
 * call), -EINVAL (NULL or bad iovecs, iovcnt < 0), or -EBADF (the socket is
 * being closed); on error cb_fn is not called.
 */
int axon_sock_writev_async(struct axon_sock *sock, struct axon_sock_request *req);

/**
 * Send what is queued now, in one system call; never blocks. Completed
 * requests' callbacks run before it returns.
 * Returns 0 when the queue is empty afterwards, -EAGAIN when bytes remain
 * (the socket buffer is full: try again later; a group does this by itself
 * when the socket becomes writable), or the socket's error (-ECONNRESET,
 * -EPIPE, ...), with which every queued request was completed. After such
 * an error every later request fails the same way.
 */
int axon_sock_flush(struct axon_sock *sock);

/**
 * Local (saddr, sport) and peer (caddr, cport) addresses as numeric strings
 * ("127.0.0.1", "::1"; an IPv4-mapped IPv6 address is shown as IPv4). Any
 * pointer may be NULL to skip that item; a listening socket has no peer
 * (caddr "" and cport 0). Returns 0, -ENOSPC (a buffer is too small; 46
 * bytes always suffice), or -errno from getsockname/getpeername.
 */
int axon_sock_getaddr(struct axon_sock *sock, char *saddr, size_t slen, uint16_t *sport,
		      char *caddr, size_t clen, uint16_t *cport);

/**
 * Do not report the socket readable (in a group) until at least nbytes are
 * queued for receive (SO_RCVLOWAT); nbytes >= 1. Returns 0, -EINVAL, or
 * -errno from setsockopt.
 */
int axon_sock_set_recvlowat(struct axon_sock *sock, int nbytes);

/**
 * True while the connection is up: connected, and the peer has neither
 * closed nor reset it as far as the socket knows now. False for listening
 * sockets and connects in progress or failed.
 */
bool axon_sock_is_connected(struct axon_sock *sock);

/** The options the socket was created with (accepted: the listener's). */
const struct axon_sock_opts *axon_sock_get_opts(const struct axon_sock *sock);

/** The implementation's name ("posix"). */
const char *axon_sock_get_impl_name(const struct axon_sock *sock);

/* ---- sock groups -------------------------------------------------------- */

/** Called when a socket of the group is readable, hung up, or in error. */
typedef void (*axon_sock_cb)(void *cb_arg, struct axon_sock_group *group, struct axon_sock *sock);

/** The most sockets one poll dispatches (axon_sock_group_poll_count's cap). */
#define AXON_SOCK_GROUP_MAX_EVENTS 64

/**
 * Create a group with the default implementation; ctx is the caller's (see
 * axon_sock_group_get_ctx). Returns NULL with errno ENOENT (no
 * implementation), ENOMEM, or an errno from epoll_create1.
 */
struct axon_sock_group *axon_sock_group_create(void *ctx);

void *axon_sock_group_get_ctx(struct axon_sock_group *group);

/**
 * Add sock to the group: cb_fn(cb_arg, group, sock) runs from the group's
 * polls while the socket is readable (level-triggered: it runs again on the
 * next poll if data is left), or on hang-up or error. Requests already queued
 * on the socket leave with the next poll.
 * Returns 0, -EINVAL (NULL cb_fn, or an implementation other than the
 * group's), -EBUSY (already in a group), -EBADF (closing), or -errno from
 * epoll_ctl.
 */
int axon_sock_group_add_sock(struct axon_sock_group *group, struct axon_sock *sock,
			     axon_sock_cb cb_fn, void *cb_arg);

/**
 * Take sock out of the group; its queued requests stay queued (flush them
 * with axon_sock_flush() or by adding it to another group). Safe inside the
 * group's callbacks. Returns 0 or -EINVAL (not in this group).
 */
int axon_sock_group_remove_sock(struct axon_sock_group *group, struct axon_sock *sock);

/**
 * Poll once without blocking: take up to max_events ready sockets (capped at
 * AXON_SOCK_GROUP_MAX_EVENTS) from one epoll_wait, run their callbacks, then
 * flush the queued writes of every socket of the group in one system call
 * each. Requests queued by write callbacks during that flush wait for the
 * next poll.
 * Returns the number of sockets handled (callbacks run plus sockets flushed;
 * > 0 means busy, 0 idle), -EINVAL (max_events < 1), -EBUSY (called from
 * inside this group's poll), or -errno from epoll_wait.
 */
int axon_sock_group_poll_count(struct axon_sock_group *group, int max_events);
int axon_sock_group_poll(struct axon_sock_group *group);

/**
 * True if the group has writes waiting for its next poll (the group fd does
 * not report those): an adaptive poller must not sleep while this holds.
 */
bool axon_sock_group_has_pending_writes(const struct axon_sock_group *group);

/**
 * The group's epoll fd: readable when a socket of the group is readable, or
 * writable while blocked on a full send buffer. Register it with
 * axon_thread_add_wake_fd(fd, EPOLLIN) for adaptive polling. Never read or
 * close it. Returns the fd or a negative errno.
 */
int axon_sock_group_get_fd(struct axon_sock_group *group);

/**
 * Destroy *pgroup and set it to NULL. Returns 0, -EBADF (*pgroup NULL), or
 * -EBUSY (sockets remain in it, or called from inside its poll).
 */
int axon_sock_group_close(struct axon_sock_group **pgroup);

/* ======================================================================== */
/* Interface for socket implementations (drivers/sock/<name>).             */
/* ======================================================================== */

/**
 * The part of every socket that lib/sock owns. An implementation allocates
 * its own socket structure with this as its first member, zeroed; lib/sock
 * fills it in after listen/connect/accept return.
 */
struct axon_sock {
	const struct axon_sock_impl *impl;
	struct axon_sock_opts opts;
	struct axon_sock_group *group;
	axon_sock_cb cb_fn;
	void *cb_arg;
	TAILQ_HEAD(, axon_sock_request) queued_reqs;
	TAILQ_ENTRY(axon_sock) group_link; /* group->socks */
	TAILQ_ENTRY(axon_sock) flush_link; /* group->flush_list while on_flush_list */
	uint64_t flush_gen;                /* group flush pass that queued it */
	int write_err;                     /* sticky send error, 0 if none */
	uint32_t busy;                     /* callbacks running: defer free */
	bool on_flush_list;
	bool write_armed; /* waiting for writability in the group's epoll set */
	bool closed;
};

/** A readiness event an implementation's group_poll reports. */
struct axon_sock_event {
	struct axon_sock *sock;
	uint32_t flags; /* AXON_SOCK_EV_* */
};
#define AXON_SOCK_EV_READ 0x1  /* readable, hung up or in error: run the callback */
#define AXON_SOCK_EV_WRITE 0x2 /* writable (or in error): flush the queue */

/** The part of every group an implementation owns; embed it first. */
struct axon_sock_group_impl {
	const struct axon_sock_impl *impl;
};

/**
 * A socket implementation. All members are required unless marked optional.
 * "Returns -errno" means a negative errno and nothing else. No member blocks.
 */
struct axon_sock_impl {
	/** Unique name users pass as impl_name. */
	const char *name;
	/** The registered implementation with the highest priority is the default. */
	int priority;
	/** True if opts.zcopy works; otherwise lib/sock rejects it with ENOTSUP. */
	bool zcopy_supported;

	/** Create a listening socket; NULL + errno on failure. opts never NULL. */
	struct axon_sock *(*listen)(const char *ip, int port, const struct axon_sock_opts *opts);
	/** Start a non-blocking connect; NULL + errno on failure. opts never NULL. */
	struct axon_sock *(*connect)(const char *ip, int port, const struct axon_sock_opts *opts);
	/** Accept one connection; NULL + errno (EAGAIN when none). lsock->opts apply. */
	struct axon_sock *(*accept)(struct axon_sock *lsock);
	/** Release the OS socket and the memory. The socket is in no group. */
	void (*close)(struct axon_sock *sock);

	/** Semantics of axon_sock_recv / axon_sock_readv. */
	ssize_t (*recv)(struct axon_sock *sock, void *buf, size_t len);
	ssize_t (*readv)(struct axon_sock *sock, struct iovec *iov, int iovcnt);
	/**
	 * One non-blocking gather write of iovcnt (1..IOV_MAX) buffers, which
	 * must never raise SIGPIPE. Returns bytes written (> 0), -EAGAIN when
	 * nothing could be written, or the socket's -errno.
	 */
	ssize_t (*writev)(struct axon_sock *sock, const struct iovec *iov, int iovcnt);

	/** Semantics of the public functions of the same names. */
	int (*getaddr)(struct axon_sock *sock, char *saddr, size_t slen, uint16_t *sport,
		       char *caddr, size_t clen, uint16_t *cport);
	int (*set_recvlowat)(struct axon_sock *sock, int nbytes);
	int (*connect_status)(struct axon_sock *sock);
	bool (*is_connected)(struct axon_sock *sock);

	/** A new empty group; NULL + errno. */
	struct axon_sock_group_impl *(*group_create)(void);
	/** Free an empty group. */
	void (*group_close)(struct axon_sock_group_impl *gimpl);
	/** Start watching sock for readability; returns 0 or -errno. */
	int (*group_add_sock)(struct axon_sock_group_impl *gimpl, struct axon_sock *sock);
	/** Stop watching sock (read and write interest); returns 0 or -errno. */
	int (*group_remove_sock)(struct axon_sock_group_impl *gimpl, struct axon_sock *sock);
	/** Also watch (on) or stop watching (off) writability; returns 0 or -errno. */
	int (*group_set_write_interest)(struct axon_sock_group_impl *gimpl, struct axon_sock *sock,
					bool on);
	/**
	 * Fill up to max_events events without blocking; at most one per socket.
	 * Returns their number (0 if none) or -errno.
	 */
	int (*group_poll)(struct axon_sock_group_impl *gimpl, int max_events,
			  struct axon_sock_event *events);
	/** The fd that becomes readable when group_poll would find events. */
	int (*group_get_fd)(struct axon_sock_group_impl *gimpl);
};

/** Register an implementation (from a constructor). The name must be unique. */
void axon_sock_impl_register(const struct axon_sock_impl *impl);

/** Register IMPL (a struct axon_sock_impl) at program start. */
#define AXON_SOCK_IMPL_REGISTER(NAME, IMPL)                                          \
	__attribute__((constructor)) static void axon_sock_impl_register_##NAME(void) \
	{                                                                            \
		axon_sock_impl_register(IMPL);                                       \
	}

/**
 * Make the implementation called name the default one (for listen/connect
 * with impl_name NULL and for new groups). Returns 0 or -ENOENT.
 */
int axon_sock_set_default_impl(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* AXON_SOCK_H */
