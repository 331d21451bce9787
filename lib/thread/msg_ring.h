/*
 * The message ring of an axon_thread: a bounded, lock-free, multi-producer
 * single-consumer queue of (fn, ctx) pairs held by value, so that sending a
 * message never allocates.
 *
 * Scheme: producers reserve a position by compare-and-swap on `head`, write
 * the slot, and publish it by storing fn last (a slot with fn == NULL is not
 * ready). The consumer reads slots in order from `tail`, clears each fn, and
 * returns the consumed slots to the producers with one store of `tail` per
 * batch. A producer that is preempted (or interrupted by a signal handler that
 * itself sends) between reservation and publication delays only the consumer,
 * never another producer: no producer ever waits for another.
 */
#ifndef AXON_MSG_RING_H
#define AXON_MSG_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "axon/thread.h"

#define MSG_CACHE_LINE 64

/* Entries in every thread's ring (a power of two). 64 Ki entries of 16 bytes
 * = 1 MiB of mostly untouched virtual memory per thread. */
#define MSG_RING_SIZE (64u * 1024u)

/* Messages copied out of the ring per hand-back of slots to producers: large
 * enough that the consumer writes `tail` rarely, small enough for the stack. */
#define MSG_RING_BATCH 32u

struct msg_slot {
	_Atomic(axon_msg_fn) fn; /* NULL: free or not yet published */
	void *ctx;
};

struct msg_ring {
	/* Next position to reserve. Written by every producer. */
	alignas(MSG_CACHE_LINE) _Atomic uint64_t head;
	/* Next position to consume; everything below it is free for producers.
	 * Written by the consumer once per batch, read by producers. */
	alignas(MSG_CACHE_LINE) _Atomic uint64_t tail;
	/* Read-only after init, read by everyone. */
	alignas(MSG_CACHE_LINE) struct msg_slot *slots;
	uint64_t mask;
};

/* size must be a power of two >= 2. Returns 0, -EINVAL or -ENOMEM. */
int msg_ring_init(struct msg_ring *ring, uint32_t size);
/* Free the ring; returns how many messages were still queued (dropped). No
 * producer may use the ring any more. */
uint64_t msg_ring_fini(struct msg_ring *ring);

/* Any OS thread. Returns 0 or -ENOMEM if the ring is full. */
int msg_ring_enqueue(struct msg_ring *ring, axon_msg_fn fn, void *ctx);

/* Consumer only: run up to budget published messages in order; returns how
 * many ran. Slots are copied out and handed back to producers in chunks of
 * MSG_RING_BATCH before the messages run, so fn may send to this same ring. */
uint32_t msg_ring_run(struct msg_ring *ring, uint32_t budget);

/* Consumer only: true if nothing is reserved or published. Sequentially
 * consistent, so it can close a Dekker pair (see thread_sleep.c). */
bool msg_ring_is_empty(struct msg_ring *ring);

#endif /* AXON_MSG_RING_H */
