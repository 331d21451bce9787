/*
 * libFuzzer target: arbitrary bytes into one NVMe/TCP connection's receive
 * path (drivers/nvmf/tcp: the PDU parser, the request state machine, R2T and
 * H2CData bookkeeping, responses), with lib/nvmf and the socket replaced by
 * the doubles of test/unit/drivers/nvmf/tcp/tcp_harness.h (a RAM-disk
 * controller, buffers from malloc).
 *
 * Input: byte 0 = flags, byte 1 = chunk-size seed, then the host's stream.
 * Flags:
 *   bit 0  c2h_success on
 *   bit 1  the host disabled SQ flow control (C2HData may carry SUCCESS)
 *   bit 2  the queue pair is an I/O queue (in-capsule limit 4 KiB, else 8 KiB)
 *   bit 3  the buffer pool runs dry on every other chunk
 *   bit 4  requests complete only at the end (else after every chunk)
 *   bit 5  bytes come through the socket receive loop (direct reads)
 *   bit 6  the connection drops before lib/nvmf tears it down
 *   bit 7  small I/O units: 4 KiB buffers, 64 KiB max I/O (multi-iovec data)
 *
 * Checked: no crash, no sanitizer report, no leak (LeakSanitizer), and every
 * pool buffer back when the queue pair is gone.
 */
#include <stddef.h>
#include <stdint.h>

#include "test/unit/drivers/nvmf/tcp/tcp_harness.h"

#define FUZZ_CHECK(cond)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "check failed: %s (%s:%d)\n", #cond,    \
				__FILE__, __LINE__);                            \
			abort();                                                \
		}                                                               \
	} while (0)

static uint32_t next_chunk(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return 1 + ((*seed >> 16) % 4096u);
}

static void fuzz_step_io(uint8_t flags, bool odd)
{
	if (flags & 0x08) {
		h.buf_fail = odd;
		tcp_group_process_pending_buf(&h.tg);
	}
	h_flush();
	h.out_len = h.out_off = 0; /* what was sent is not inspected here */
	if (!(flags & 0x10)) {
		h_complete_all();
		h_flush();
		h.out_len = h.out_off = 0;
	}
	tcp_group_disconnect_lost(&h.tg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct axon_nvmf_transport_opts opts;
	uint8_t flags;
	uint32_t seed;
	size_t off = 2;
	bool odd = false;

	if (size < 2) {
		return 0;
	}
	flags = data[0];
	seed = data[1];
	h_default_opts(&opts);
	if (flags & 0x80) {
		opts.io_unit_size = 4096;
		opts.max_io_size = 65536;
	}
	h_setup_opts(&opts, (flags & 0x01) != 0);
	h.tq->qpair.sq_flow_control = (flags & 0x02) == 0;
	if (flags & 0x04) {
		h.tq->qpair.state = AXON_NVMF_QPAIR_ENABLED;
		h.tq->qpair.qid = 1;
	}
	while (off < size && h.tq->state < TCP_CONN_STATE_DISCONNECTING) {
		size_t n = AXON_MIN((size_t)next_chunk(&seed), size - off);

		if (flags & 0x20) {
			h.in = data + off;
			h.in_len = n;
			h.in_off = 0;
			tcp_qpair_sock_cb(h.tq, NULL, NULL);
			FUZZ_CHECK(h.in_off == n || h.tq->state >= TCP_CONN_STATE_DISCONNECTING);
		} else {
			h_feed(data + off, n);
		}
		off += n;
		odd = !odd;
		fuzz_step_io(flags, odd);
	}
	h.buf_fail = false;
	tcp_group_process_pending_buf(&h.tg);
	if (flags & 0x40) {
		tcp_qpair_conn_lost(h.tq);
		tcp_group_disconnect_lost(&h.tg);
	}
	h_teardown();
	FUZZ_CHECK(h.fini_done);
	FUZZ_CHECK(h.bufs_out == 0);
	FUZZ_CHECK(TAILQ_EMPTY(&h.tg.pending_buf));
	FUZZ_CHECK(TAILQ_EMPTY(&h.wq));
	return 0;
}
