/*
 * Log-linear latency histogram (see bdevperf_hist.h).
 */
#include <string.h>

#include "bdevperf_hist.h"

void hist_init(struct bdevperf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_merge(struct bdevperf_hist *dst, const struct bdevperf_hist *src)
{
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		dst->buckets[i] += src->buckets[i];
	}
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min) {
		dst->min = src->min;
	}
	if (src->max > dst->max) {
		dst->max = src->max;
	}
}

/* Largest value that falls in bucket idx. */
static uint64_t bucket_upper(uint32_t idx)
{
	uint32_t group = idx / HIST_SUB_COUNT, sub = idx % HIST_SUB_COUNT, shift;

	if (group == 0) {
		return idx;
	}
	shift = group - 1u;
	/* Bucket holds [(SUB_COUNT + sub) << shift, (SUB_COUNT + sub + 1) << shift). */
	return (((uint64_t)HIST_SUB_COUNT + sub + 1u) << shift) - 1u;
}

uint64_t hist_percentile(const struct bdevperf_hist *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (h->count == 0) {
		return 0;
	}
	/* The sample of rank ceil(q * count), 1-based. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count) {
		rank++;
	}
	if (rank == 0) {
		rank = 1;
	}
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			v = bucket_upper(i);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}
