/* CPU sets: core masks ("0x3") and core lists ("[0,2-3]"). */
#include "axon/util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <string.h>

#define CPUSET_WORDS (AXON_CPUSET_SIZE / 64)

void axon_cpuset_zero(struct axon_cpuset *set)
{
	memset(set, 0, sizeof(*set));
}

void axon_cpuset_set(struct axon_cpuset *set, uint32_t cpu)
{
	assert(cpu < AXON_CPUSET_SIZE);
	if (cpu < AXON_CPUSET_SIZE) {
		axon_bitmap_set(set->bits, cpu);
	}
}

void axon_cpuset_clear(struct axon_cpuset *set, uint32_t cpu)
{
	assert(cpu < AXON_CPUSET_SIZE);
	if (cpu < AXON_CPUSET_SIZE) {
		axon_bitmap_clear(set->bits, cpu);
	}
}

bool axon_cpuset_test(const struct axon_cpuset *set, uint32_t cpu)
{
	return cpu < AXON_CPUSET_SIZE && axon_bitmap_get(set->bits, cpu);
}

uint32_t axon_cpuset_count(const struct axon_cpuset *set)
{
	return axon_bitmap_count_set(set->bits, AXON_CPUSET_SIZE);
}

int axon_cpuset_first(const struct axon_cpuset *set)
{
	return axon_cpuset_next(set, -1);
}

int axon_cpuset_next(const struct axon_cpuset *set, int prev)
{
	uint32_t cpu;

	if (prev < -1 || prev >= AXON_CPUSET_SIZE - 1) {
		return -1;
	}
	cpu = axon_bitmap_find_next_set(set->bits, AXON_CPUSET_SIZE, (uint32_t)(prev + 1));
	return cpu < AXON_CPUSET_SIZE ? (int)cpu : -1;
}

void axon_cpuset_and(struct axon_cpuset *dst, const struct axon_cpuset *src)
{
	for (int i = 0; i < CPUSET_WORDS; i++) {
		dst->bits[i] &= src->bits[i];
	}
}

void axon_cpuset_or(struct axon_cpuset *dst, const struct axon_cpuset *src)
{
	for (int i = 0; i < CPUSET_WORDS; i++) {
		dst->bits[i] |= src->bits[i];
	}
}

bool axon_cpuset_equal(const struct axon_cpuset *a, const struct axon_cpuset *b)
{
	return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

/* ---- parsing ------------------------------------------------------------- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = (char)tolower((unsigned char)c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* A hex mask of len characters, "0x" already stripped. */
static int parse_mask(struct axon_cpuset *set, const char *s, size_t len)
{
	uint32_t bit = 0;

	if (len == 0) {
		return -EINVAL;
	}
	/* Least significant digit last: walk backwards, four cores per digit. */
	for (size_t i = len; i-- > 0; bit += 4) {
		int v = hex_value(s[i]);

		if (v < 0) {
			return -EINVAL;
		}
		for (int b = 0; b < 4 && v != 0; b++) {
			if (!(v & (1 << b))) {
				continue;
			}
			if (bit + b >= AXON_CPUSET_SIZE) {
				return -EINVAL; /* leading zeros past the end are fine */
			}
			axon_cpuset_set(set, bit + (uint32_t)b);
		}
		if (bit >= AXON_CPUSET_SIZE) {
			bit = AXON_CPUSET_SIZE; /* stop counting up, avoid overflow */
		}
	}
	return 0;
}

static const char *skip_spaces(const char *s, const char *end)
{
	while (s < end && isspace((unsigned char)*s)) {
		s++;
	}
	return s;
}

/* A decimal core number at *s; advances *s. */
static int parse_core(const char **s, const char *end, uint32_t *core)
{
	uint32_t v = 0;
	const char *p = *s;

	if (p == end || !isdigit((unsigned char)*p)) {
		return -EINVAL;
	}
	for (; p < end && isdigit((unsigned char)*p); p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v >= AXON_CPUSET_SIZE) {
			return -EINVAL;
		}
	}
	*s = p;
	*core = v;
	return 0;
}

/* "item[,item...]" where item is "N" or "N-M", spaces allowed around items. */
static int parse_list(struct axon_cpuset *set, const char *s, const char *end)
{
	for (;;) {
		uint32_t first, last;

		s = skip_spaces(s, end);
		if (parse_core(&s, end, &first) != 0) {
			return -EINVAL;
		}
		last = first;
		s = skip_spaces(s, end);
		if (s < end && *s == '-') {
			s = skip_spaces(s + 1, end);
			if (parse_core(&s, end, &last) != 0 || last < first) {
				return -EINVAL;
			}
			s = skip_spaces(s, end);
		}
		for (uint32_t c = first; c <= last; c++) {
			axon_cpuset_set(set, c);
		}
		if (s == end) {
			return 0;
		}
		if (*s != ',') {
			return -EINVAL;
		}
		s++;
	}
}

int axon_cpuset_parse(struct axon_cpuset *set, const char *str)
{
	struct axon_cpuset tmp;
	const char *s, *end;
	int rc;

	if (set == NULL || str == NULL) {
		return -EINVAL;
	}
	axon_cpuset_zero(&tmp);
	end = str + strlen(str);
	s = skip_spaces(str, end);
	while (end > s && isspace((unsigned char)end[-1])) {
		end--;
	}
	if (s == end) {
		return -EINVAL;
	}
	if (*s == '[') {
		if (end[-1] != ']') {
			return -EINVAL;
		}
		rc = parse_list(&tmp, s + 1, end - 1);
	} else if (memchr(s, ',', (size_t)(end - s)) || memchr(s, '-', (size_t)(end - s))) {
		rc = parse_list(&tmp, s, end);
	} else if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		rc = parse_mask(&tmp, s + 2, (size_t)(end - s - 2));
	} else {
		rc = parse_mask(&tmp, s, (size_t)(end - s));
	}
	if (rc == 0) {
		*set = tmp;
	}
	return rc;
}

int axon_cpuset_fmt(const struct axon_cpuset *set, char *buf, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	int top = AXON_CPUSET_SIZE / 4 - 1; /* index of the most significant digit */
	size_t len = 2;

	while (top > 0 && ((set->bits[top / 16] >> (top % 16 * 4)) & 0xf) == 0) {
		top--;
	}
	if (size < (size_t)top + 1 + 3) {
		return -ENOSPC;
	}
	buf[0] = '0';
	buf[1] = 'x';
	for (int d = top; d >= 0; d--) {
		buf[len++] = digits[(set->bits[d / 16] >> (d % 16 * 4)) & 0xf];
	}
	buf[len] = '\0';
	return (int)len;
}
