/*
 * Bounded lock-free MPSC ring of messages (see msg_ring.h for the scheme).
 *
 * Memory-ordering pairs, referred to below by label:
 *  [P] producer publishes a slot: store-release of slot->fn, after writing ctx.
 *  [C] consumer reads a slot: load-acquire of slot->fn, then ctx. [C] pairs
 *      with [P], so the consumer sees the ctx written for that fn.
 *  [R] consumer returns slots: store-release of tail, after it has read the
 *      slots and cleared their fn.
 *  [A] producer checks for room: load-acquire of tail. [A] pairs with [R], so
 *      a producer that reuses a slot writes it only after the consumer is done
 *      with the previous lap's contents, and its fn store follows the
 *      consumer's clearing store in the slot's modification order.
 *  [S] the reservation CAS on head is seq_cst: it is the "store" half of the
 *      sleep/wake Dekker pair with axon_thread_prepare_to_sleep (thread_sleep.c).
 */
#include <errno.h>
#include <stdlib.h>

#include "msg_ring.h"

int msg_ring_init(struct msg_ring *ring, uint32_t size)
{
	if (size < 2 || (size & (size - 1)) != 0) {
		return -EINVAL;
	}
	/* calloc: every fn starts NULL (free), and the pages stay untouched
	 * until the ring first wraps through them. */
	ring->slots = calloc(size, sizeof(*ring->slots));
	if (ring->slots == NULL) {
		return -ENOMEM;
	}
	ring->mask = size - 1;
	atomic_init(&ring->head, 0);
	atomic_init(&ring->tail, 0);
	return 0;
}

uint64_t msg_ring_fini(struct msg_ring *ring)
{
	uint64_t left = atomic_load_explicit(&ring->head, memory_order_acquire) -
			atomic_load_explicit(&ring->tail, memory_order_relaxed);

	free(ring->slots);
	ring->slots = NULL;
	return left;
}

int msg_ring_enqueue(struct msg_ring *ring, axon_msg_fn fn, void *ctx)
{
	uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
	struct msg_slot *slot;

	do {
		/* [A] Loading tail after head can only overstate the free room
		 * by a stale (smaller) head, which the CAS then rejects. */
		uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);

		if (head - tail > ring->mask) {
			return -ENOMEM;
		}
		/* [S] seq_cst on success; on x86 every locked CAS is a full
		 * barrier anyway, so this costs nothing extra there. */
	} while (!atomic_compare_exchange_weak_explicit(&ring->head, &head, head + 1,
							memory_order_seq_cst,
							memory_order_relaxed));

	/* The slot at head is ours alone until we publish it. */
	slot = &ring->slots[head & ring->mask];
	slot->ctx = ctx;
	/* [P] */
	atomic_store_explicit(&slot->fn, fn, memory_order_release);
	return 0;
}

/* A message copied out of the ring. */
struct msg_copy {
	axon_msg_fn fn;
	void *ctx;
};

/* Copy up to max published messages out of the ring and give their slots
 * back to the producers. */
static uint32_t msg_ring_take(struct msg_ring *ring, struct msg_copy *out, uint32_t max)
{
	/* Only the consumer writes tail. */
	uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	uint32_t n;

	for (n = 0; n < max; n++) {
		struct msg_slot *slot = &ring->slots[(tail + n) & ring->mask];
		/* [C] */
		axon_msg_fn fn = atomic_load_explicit(&slot->fn, memory_order_acquire);

		/* A reserved but unpublished slot stops the batch: messages
		 * stay in order, and its producer will publish it shortly. */
		if (fn == NULL) {
			break;
		}
		out[n].fn = fn;
		out[n].ctx = slot->ctx;
		/* Ordered before the producers' next fn store by [R]/[A]. */
		atomic_store_explicit(&slot->fn, NULL, memory_order_relaxed);
	}
	if (n > 0) {
		/* [R] */
		atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
	}
	return n;
}

uint32_t msg_ring_run(struct msg_ring *ring, uint32_t budget)
{
	struct msg_copy batch[MSG_RING_BATCH];
	uint32_t done = 0;

	while (done < budget) {
		uint32_t want = budget - done < MSG_RING_BATCH ? budget - done : MSG_RING_BATCH;
		uint32_t n = msg_ring_take(ring, batch, want);

		for (uint32_t i = 0; i < n; i++) {
			batch[i].fn(batch[i].ctx);
		}
		done += n;
		if (n < want) {
			break;
		}
	}
	return done;
}

bool msg_ring_is_empty(struct msg_ring *ring)
{
	/* seq_cst: the "load" half of the Dekker pair in thread_sleep.c,
	 * ordered after the store of the sleeping flag. A reserved but not yet
	 * published slot counts as not empty. */
	return atomic_load_explicit(&ring->head, memory_order_seq_cst) ==
	       atomic_load_explicit(&ring->tail, memory_order_relaxed);
}
