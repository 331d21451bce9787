/*
 * A log-linear latency histogram: values below 2^HIST_SUB_BITS have a
 * bucket each; above, every power of two is split into 2^HIST_SUB_BITS
 * equal buckets, so a percentile read from it is within 1/64 (1.6%) of the
 * true value, whatever the scale. Fixed size, allocated once per job: adding
 * a value is a few instructions and never allocates.
 */
#ifndef BDEVPERF_HIST_H
#define BDEVPERF_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
/* Group 0 is linear; groups 1..64-HIST_SUB_BITS cover msb HIST_SUB_BITS..63. */
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 1u) * HIST_SUB_COUNT)

struct bdevperf_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct bdevperf_hist *h);

static inline uint32_t hist_index(uint64_t v)
{
	uint32_t msb, shift;

	if (v < HIST_SUB_COUNT) {
		return (uint32_t)v;
	}
	msb = 63u - (uint32_t)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return (shift + 1u) * HIST_SUB_COUNT + (uint32_t)((v >> shift) & (HIST_SUB_COUNT - 1u));
}

static inline void hist_add(struct bdevperf_hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min) {
		h->min = v;
	}
	if (v > h->max) {
		h->max = v;
	}
}

/** Add src into dst. */
void hist_merge(struct bdevperf_hist *dst, const struct bdevperf_hist *src);

/** The value below which a fraction q (0..1) of the samples fall: the upper
 *  end of the bucket holding that rank, clamped to [min, max]. 0 if empty. */
uint64_t hist_percentile(const struct bdevperf_hist *h, double q);

#endif /* BDEVPERF_HIST_H */
