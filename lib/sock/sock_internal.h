/* lib/sock private: the group structure and the calls between sock.c and sock_group.c. */
#ifndef AXON_SOCK_INTERNAL_H
#define AXON_SOCK_INTERNAL_H

#include "axon/sock.h"

TAILQ_HEAD(sock_req_list, axon_sock_request);

struct axon_sock_group {
	struct axon_sock_group_impl *gimpl;
	void *ctx;
	TAILQ_HEAD(, axon_sock) socks;
	/* Sockets with queued writes, in the order they queued them. */
	TAILQ_HEAD(, axon_sock) flush_list;
	/*
	 * Incremented at the start of each flush pass; a socket queued during
	 * the pass carries the new value and waits for the next poll, so a
	 * write callback that queues again cannot keep one poll going forever.
	 */
	uint64_t flush_gen;
	/*
	 * The batch being dispatched. A socket removed from the group while
	 * polling has its entries cleared, so later callbacks never see it.
	 */
	struct axon_sock_event events[AXON_SOCK_GROUP_MAX_EVENTS];
	int nevents;
	bool polling;
};

/* The default implementation, or NULL if none is registered (sock.c). */
const struct axon_sock_impl *sock_default_impl(void);

/*
 * Send the socket's queue once and complete what left (sock.c). Returns as
 * axon_sock_flush(). May run callbacks that close the socket: the caller
 * must not touch sock afterwards.
 */
int sock_flush_queued(struct axon_sock *sock);

/* Put sock on its group's flush list unless it is there or blocked (sock_group.c). */
void sock_group_schedule_flush(struct axon_sock *sock);

/* Take sock out of its group, from close (sock_group.c). */
void sock_group_detach(struct axon_sock *sock);

/* Ask or stop asking the group to report writability (sock_group.c). */
void sock_group_set_write_armed(struct axon_sock *sock, bool on);

#endif /* AXON_SOCK_INTERNAL_H */
