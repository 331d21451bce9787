/*
 * Scatter-gather helpers: copy and zero across iovec arrays.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dma_internal.h"

int
dma_iov_total(const struct iovec *iov, uint32_t iovcnt, size_t *total)
{
	size_t sum = 0;
	uint32_t i;

	if (iov == NULL && iovcnt > 0) {
		return -EINVAL;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len > 0) {
			return -EINVAL;
		}
		if (iov[i].iov_len > SIZE_MAX - sum) {
			return -EINVAL;
		}
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

size_t
dma_iov_copy(const struct iovec *dst, uint32_t dst_iovcnt, const struct iovec *src,
	     uint32_t src_iovcnt)
{
	/* Two cursors, one per side: each step copies the largest run that is
	 * contiguous on both sides, then advances whichever side(s) it used up.
	 * Zero-length elements are skipped by the same rule. */
	uint32_t d = 0, s = 0;
	size_t d_off = 0, s_off = 0, copied = 0;

	while (d < dst_iovcnt && s < src_iovcnt) {
		size_t d_left = dst[d].iov_len - d_off;
		size_t s_left = src[s].iov_len - s_off;
		size_t run = d_left < s_left ? d_left : s_left;

		if (run > 0) {
			memcpy((uint8_t *)dst[d].iov_base + d_off,
			       (const uint8_t *)src[s].iov_base + s_off, run);
			copied += run;
		}
		d_off += run;
		s_off += run;
		if (d_off == dst[d].iov_len) {
			d++;
			d_off = 0;
		}
		if (s_off == src[s].iov_len) {
			s++;
			s_off = 0;
		}
	}
	return copied;
}

void
dma_iov_zero(const struct iovec *iov, uint32_t iovcnt)
{
	uint32_t i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0) {
			memset(iov[i].iov_base, 0, iov[i].iov_len);
		}
	}
}
