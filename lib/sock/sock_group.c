/*
 * lib/sock: sock groups. One implementation group (an epoll set for posix)
 * per group; a poll dispatches one batch of ready sockets, then flushes the
 * queued writes of the group's sockets, one system call per socket.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/sock.h"
#include "axon/util.h"
#include "sock_internal.h"

struct axon_sock_group *axon_sock_group_create(void *ctx)
{
	const struct axon_sock_impl *impl;
	struct axon_sock_group *group;
	int err;

	/* Groups use the default implementation; sockets of others are refused. */
	impl = sock_default_impl();
	if (impl == NULL) {
		AXON_ERRLOG("no sock implementation registered\n");
		errno = ENOENT;
		return NULL;
	}
	group = calloc(1, sizeof(*group));
	if (group == NULL) {
		AXON_ERRLOG("out of memory for a sock group\n");
		errno = ENOMEM;
		return NULL;
	}
	group->gimpl = impl->group_create();
	if (group->gimpl == NULL) {
		err = errno;
		AXON_ERRLOG("cannot create a %s sock group: %s\n", impl->name, strerror(err));
		goto err_free_group;
	}
	group->gimpl->impl = impl;
	group->ctx = ctx;
	TAILQ_INIT(&group->socks);
	TAILQ_INIT(&group->flush_list);
	return group;

err_free_group:
	free(group);
	errno = err;
	return NULL;
}

void *axon_sock_group_get_ctx(struct axon_sock_group *group)
{
	return group->ctx;
}

int axon_sock_group_get_fd(struct axon_sock_group *group)
{
	if (group == NULL) {
		return -EBADF;
	}
	return group->gimpl->impl->group_get_fd(group->gimpl);
}

bool axon_sock_group_has_pending_writes(const struct axon_sock_group *group)
{
	return !TAILQ_EMPTY(&group->flush_list);
}

int axon_sock_group_add_sock(struct axon_sock_group *group, struct axon_sock *sock,
			     axon_sock_cb cb_fn, void *cb_arg)
{
	int rc;

	if (group == NULL || sock == NULL || cb_fn == NULL ||
	    sock->impl != group->gimpl->impl) {
		return -EINVAL;
	}
	if (sock->closed) {
		return -EBADF;
	}
	if (sock->group != NULL) {
		return -EBUSY;
	}
	rc = group->gimpl->impl->group_add_sock(group->gimpl, sock);
	if (rc != 0) {
		return rc;
	}
	sock->group = group;
	sock->cb_fn = cb_fn;
	sock->cb_arg = cb_arg;
	sock->write_armed = false;
	TAILQ_INSERT_TAIL(&group->socks, sock, group_link);
	if (!TAILQ_EMPTY(&sock->queued_reqs)) {
		sock_group_schedule_flush(sock);
	}
	return 0;
}

/* Forget sock in the batch being dispatched, so no later callback runs for it. */
static void group_forget_events(struct axon_sock_group *group, struct axon_sock *sock)
{
	for (int i = 0; i < group->nevents; i++) {
		if (group->events[i].sock == sock) {
			group->events[i].sock = NULL;
		}
	}
}

int axon_sock_group_remove_sock(struct axon_sock_group *group, struct axon_sock *sock)
{
	int rc;

	if (group == NULL || sock == NULL || sock->group != group) {
		return -EINVAL;
	}
	rc = group->gimpl->impl->group_remove_sock(group->gimpl, sock);
	if (rc != 0) {
		/* The fd is gone from the set anyway once closed; keep our state right. */
		AXON_DEBUGLOG(sock, "removing a socket from its epoll set: %d\n", rc);
	}
	if (group->polling) {
		group_forget_events(group, sock);
	}
	if (sock->on_flush_list) {
		TAILQ_REMOVE(&group->flush_list, sock, flush_link);
		sock->on_flush_list = false;
	}
	TAILQ_REMOVE(&group->socks, sock, group_link);
	sock->group = NULL;
	sock->write_armed = false;
	sock->cb_fn = NULL;
	sock->cb_arg = NULL;
	return 0;
}

void sock_group_detach(struct axon_sock *sock)
{
	axon_sock_group_remove_sock(sock->group, sock);
}

static void group_enqueue_flush(struct axon_sock_group *group, struct axon_sock *sock)
{
	if (sock->on_flush_list) {
		return;
	}
	sock->flush_gen = group->flush_gen;
	sock->on_flush_list = true;
	TAILQ_INSERT_TAIL(&group->flush_list, sock, flush_link);
}

void sock_group_schedule_flush(struct axon_sock *sock)
{
	/* A blocked socket is flushed when its writability is reported. */
	if (!sock->write_armed) {
		group_enqueue_flush(sock->group, sock);
	}
}

void sock_group_set_write_armed(struct axon_sock *sock, bool on)
{
	struct axon_sock_group *group = sock->group;
	int rc;

	if (group == NULL || sock->write_armed == on) {
		return;
	}
	rc = group->gimpl->impl->group_set_write_interest(group->gimpl, sock, on);
	if (rc != 0) {
		/*
		 * Without write interest a blocked socket would only be
		 * retried when the caller queues again: retry every poll.
		 */
		AXON_DEBUGLOG(sock, "write interest %d failed: %d\n", on, rc);
		if (on) {
			sock_group_schedule_flush(sock);
		}
		return;
	}
	sock->write_armed = on;
}

/*
 * Flush every socket that was on the flush list when the pass began.
 * Returns how many were flushed.
 */
static int group_flush(struct axon_sock_group *group)
{
	struct axon_sock *sock;
	uint64_t gen = ++group->flush_gen;
	int count = 0;

	while ((sock = TAILQ_FIRST(&group->flush_list)) != NULL && sock->flush_gen != gen) {
		TAILQ_REMOVE(&group->flush_list, sock, flush_link);
		sock->on_flush_list = false;
		/* Errors reach the requests' callbacks; sock may be gone after this. */
		sock_flush_queued(sock);
		count++;
	}
	return count;
}

/*
 * Writable sockets join this poll's flush. They stay armed until a flush
 * drains their queue, so a congested socket costs no epoll_ctl per poll.
 */
static void group_take_writable(struct axon_sock_group *group)
{
	for (int i = 0; i < group->nevents; i++) {
		struct axon_sock *sock = group->events[i].sock;

		if (!(group->events[i].flags & AXON_SOCK_EV_WRITE) || !sock->write_armed) {
			continue;
		}
		if (TAILQ_EMPTY(&sock->queued_reqs)) {
			sock_group_set_write_armed(sock, false);
		} else {
			group_enqueue_flush(group, sock);
		}
	}
}

static int group_dispatch(struct axon_sock_group *group)
{
	int count = 0;

	for (int i = 0; i < group->nevents; i++) {
		struct axon_sock *sock = group->events[i].sock;

		/* Cleared when a callback earlier in this batch removed or closed it. */
		if (sock == NULL || !(group->events[i].flags & AXON_SOCK_EV_READ)) {
			continue;
		}
		sock->cb_fn(sock->cb_arg, group, sock);
		count++;
	}
	return count;
}

int axon_sock_group_poll_count(struct axon_sock_group *group, int max_events)
{
	int n, count;

	if (group == NULL || max_events < 1) {
		return -EINVAL;
	}
	if (group->polling) {
		return -EBUSY;
	}
	max_events = AXON_MIN(max_events, AXON_SOCK_GROUP_MAX_EVENTS);
	n = group->gimpl->impl->group_poll(group->gimpl, max_events, group->events);
	if (n < 0) {
		return n;
	}
	group->nevents = n;
	/* Held through the flush too: write callbacks may not re-enter or close the group. */
	group->polling = true;
	group_take_writable(group);
	count = group_dispatch(group);
	group->nevents = 0;
	count += group_flush(group);
	group->polling = false;
	return count;
}

int axon_sock_group_poll(struct axon_sock_group *group)
{
	return axon_sock_group_poll_count(group, AXON_SOCK_GROUP_MAX_EVENTS);
}

int axon_sock_group_close(struct axon_sock_group **pgroup)
{
	struct axon_sock_group *group;

	if (pgroup == NULL || *pgroup == NULL) {
		return -EBADF;
	}
	group = *pgroup;
	if (group->polling || !TAILQ_EMPTY(&group->socks)) {
		return -EBUSY;
	}
	group->gimpl->impl->group_close(group->gimpl);
	free(group);
	*pgroup = NULL;
	return 0;
}
