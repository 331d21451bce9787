/*
 * thread_bench: the cost of Axon's threading on two reactors, beside plain
 * DPDK measured in the same run on the same two cores.
 *
 *  1. rte_ring baseline: core A enqueues one pointer at a time on an MP/SC
 *     rte_ring, core B dequeues in bursts of up to 32 (the shape of
 *     axon_thread_send_msg and of the receiving thread's poll).
 *  2. Axon messages: a thread on reactor A sends with axon_thread_send_msg to
 *     a thread on reactor B, from an active poller, as fast as the ring takes
 *     them; reactor B runs each message.
 *  3. One empty poller iteration: a thread alone on reactor B with one active
 *     poller that returns IDLE; wall time / calls (the whole reactor loop).
 *
 * Output: one "name: value unit" line per figure (parsed by thread.sh).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <unistd.h>

#include "axon/env.h"
#include "axon/event.h"
#include "axon/log.h"

#define RING_SIZE 4096
#define DEQUEUE_BURST 32
#define SEND_BUDGET 128
#define DEFAULT_MESSAGES 20000000ULL
#define DEFAULT_POLLER_MS 1000

static uint64_t g_messages = DEFAULT_MESSAGES;
static uint64_t g_poller_ms = DEFAULT_POLLER_MS;
static uint32_t g_core_a, g_core_b;

/* The driver is a plain pthread: it waits without taking a core from the reactors. */
static void wait_done(atomic_int *flag)
{
	while (!atomic_load(flag)) {
		usleep(1000);
	}
}

static double ticks_to_s(uint64_t ticks)
{
	return (double)ticks / (double)axon_get_ticks_hz();
}

/* ---- 1. rte_ring ------------------------------------------------------------- */

struct ring_bench {
	struct rte_ring *ring;
	atomic_int consumer_ready;
	uint64_t start, end;
	atomic_int done;
};

/* Runs on reactor A, blocking it for the duration of the loop. */
static void ring_producer(void *ctx)
{
	struct ring_bench *rb = ctx;
	uint64_t i;

	while (!atomic_load(&rb->consumer_ready)) {
	}
	rb->start = axon_get_ticks();
	for (i = 0; i < g_messages; i++) {
		while (rte_ring_mp_enqueue(rb->ring, rb) != 0) {
		}
	}
}

/* Runs on reactor B, blocking it for the duration of the loop. */
static void ring_consumer(void *ctx)
{
	struct ring_bench *rb = ctx;
	void *objs[DEQUEUE_BURST];
	uint64_t got = 0;

	atomic_store(&rb->consumer_ready, 1);
	while (got < g_messages) {
		got += rte_ring_sc_dequeue_burst(rb->ring, objs, DEQUEUE_BURST, NULL);
	}
	rb->end = axon_get_ticks();
	atomic_store(&rb->done, 1);
}

static double bench_rte_ring(struct axon_thread *producer, struct axon_thread *consumer)
{
	struct ring_bench rb = {0};

	rb.ring = rte_ring_create("bench_ring", RING_SIZE, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (rb.ring == NULL) {
		fprintf(stderr, "rte_ring_create: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	axon_thread_send_msg(consumer, ring_consumer, &rb);
	axon_thread_send_msg(producer, ring_producer, &rb);
	wait_done(&rb.done);
	rte_ring_free(rb.ring);
	return (double)g_messages / ticks_to_s(rb.end - rb.start);
}

/* ---- 2. axon messages ---------------------------------------------------------- */

struct msg_bench {
	struct axon_thread *rx;
	struct axon_poller *poller;
	uint64_t sent;
	uint64_t received; /* on rx only */
	uint64_t start, end;
	atomic_int done;
};

static void msg_count(void *ctx)
{
	struct msg_bench *mb = ctx;

	if (++mb->received == g_messages) {
		mb->end = axon_get_ticks();
		atomic_store(&mb->done, 1);
	}
}

static int msg_send_poll(void *ctx)
{
	struct msg_bench *mb = ctx;
	uint32_t i;

	for (i = 0; i < SEND_BUDGET && mb->sent < g_messages; i++) {
		if (axon_thread_send_msg(mb->rx, msg_count, mb) != 0) {
			break; /* ring full: let the receiver catch up */
		}
		mb->sent++;
	}
	if (mb->sent == g_messages) {
		axon_poller_unregister(&mb->poller);
	}
	return i > 0 ? AXON_POLLER_BUSY : AXON_POLLER_IDLE;
}

static void msg_start(void *ctx)
{
	struct msg_bench *mb = ctx;

	mb->start = axon_get_ticks();
	mb->poller = axon_poller_register(msg_send_poll, mb, 0);
}

static double bench_messages(struct axon_thread *tx, struct axon_thread *rx)
{
	struct msg_bench mb = {.rx = rx};

	axon_thread_send_msg(tx, msg_start, &mb);
	wait_done(&mb.done);
	return (double)g_messages / ticks_to_s(mb.end - mb.start);
}

/* ---- 3. empty poller ------------------------------------------------------------ */

struct poller_bench {
	struct axon_poller *poller;
	uint64_t calls;
	uint64_t start, end, stop_at;
	uint64_t cpu_start_ns, cpu_end_ns; /* the reactor's own CPU time */
	atomic_int done;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int empty_poll(void *ctx)
{
	struct poller_bench *pb = ctx;

	/* Read the clock only every 4096 calls to keep the poller empty. */
	if ((++pb->calls & 4095) == 0) {
		uint64_t now = axon_get_ticks();

		if (now >= pb->stop_at) {
			pb->end = now;
			pb->cpu_end_ns = thread_cpu_ns();
			axon_poller_unregister(&pb->poller);
			atomic_store(&pb->done, 1);
		}
	}
	return AXON_POLLER_IDLE;
}

static void poller_start(void *ctx)
{
	struct poller_bench *pb = ctx;

	pb->cpu_start_ns = thread_cpu_ns();
	pb->start = axon_get_ticks();
	pb->stop_at = pb->start + g_poller_ms * axon_get_ticks_hz() / 1000;
	pb->poller = axon_poller_register(empty_poll, pb, 0);
}

/* Returns ns per iteration of wall time; *cpu_ns gets it in the reactor's CPU
 * time, which does not count time the host scheduler gave to others. */
static double bench_empty_poller(struct axon_thread *t, double *cpu_ns)
{
	struct poller_bench pb = {0};

	axon_thread_send_msg(t, poller_start, &pb);
	wait_done(&pb.done);
	*cpu_ns = (double)(pb.cpu_end_ns - pb.cpu_start_ns) / (double)pb.calls;
	return ticks_to_s(pb.end - pb.start) * 1e9 / (double)pb.calls;
}

/* ---- driver ------------------------------------------------------------------------ */

static void exit_msg(void *ctx)
{
	axon_thread_exit(axon_get_thread());
}

/* The driver is a plain pthread that only starts each run and waits: every
 * measured loop runs on reactors A and B. */
static void *driver(void *arg)
{
	struct axon_thread *tx = axon_thread_create("bench_tx", (int)g_core_a);
	struct axon_thread *rx = axon_thread_create("bench_rx", (int)g_core_b);
	double ring_rate, msg_rate, poll_ns, poll_cpu_ns;

	if (tx == NULL || rx == NULL) {
		axon_app_stop(-ENOMEM);
		return NULL;
	}
	ring_rate = bench_rte_ring(tx, rx);
	msg_rate = bench_messages(tx, rx);
	poll_ns = bench_empty_poller(rx, &poll_cpu_ns);
	printf("cores: %u -> %u\n", g_core_a, g_core_b);
	printf("rte_ring_mp_sc: %.2f Mmsg/s\n", ring_rate / 1e6);
	printf("axon_send_msg: %.2f Mmsg/s\n", msg_rate / 1e6);
	printf("empty_poller_iteration: %.1f ns\n", poll_ns);
	printf("empty_poller_iteration_cpu: %.1f ns\n", poll_cpu_ns);
	fflush(stdout);
	axon_thread_send_msg(tx, exit_msg, NULL);
	axon_thread_send_msg(rx, exit_msg, NULL);
	axon_app_start_shutdown();
	return NULL;
}

static pthread_t g_driver;

static void bench_start(void *ctx)
{
	uint32_t cores[2];

	if (axon_reactor_get_cores(cores, 2) != 2) {
		fprintf(stderr, "thread_bench needs two cores (-m 0x3)\n");
		axon_app_stop(-EINVAL);
		return;
	}
	g_core_a = cores[0];
	g_core_b = cores[1];
	pthread_create(&g_driver, NULL, driver, NULL);
}

static int bench_parse_arg(int ch, const char *arg)
{
	char *end;

	switch (ch) {
	case 'n':
		g_messages = strtoull(arg, &end, 10);
		if (*end != '\0' || g_messages == 0) {
			fprintf(stderr, "thread_bench: -n %s: expected a message count\n", arg);
			return -EINVAL;
		}
		return 0;
	case 't':
		g_poller_ms = strtoull(arg, &end, 10);
		if (*end != '\0' || g_poller_ms == 0) {
			fprintf(stderr, "thread_bench: -t %s: expected milliseconds\n", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static void bench_usage(void)
{
	printf(" -n COUNT   messages per throughput run (default %llu)\n", DEFAULT_MESSAGES);
	printf(" -t MS      empty-poller run length (default %d)\n", DEFAULT_POLLER_MS);
}

int main(int argc, char **argv)
{
	struct axon_app_opts opts;
	int rc;

	axon_app_opts_init(&opts, "thread_bench");
	opts.reactor_mask = "0x3";
	opts.rpc_addr = NULL;
	opts.print_level = AXON_LOG_WARN;
	rc = axon_app_parse_args(argc, argv, &opts, "n:t:", NULL, bench_parse_arg, bench_usage);
	if (rc != 0) {
		return rc == 1 ? 0 : 1;
	}
	rc = axon_app_start(&opts, bench_start, NULL);
	if (g_driver) {
		pthread_join(g_driver, NULL);
	}
	axon_app_fini();
	return rc == 0 ? 0 : 1;
}
