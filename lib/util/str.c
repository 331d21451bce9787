/* String helpers and strict number parsing. */
#include "axon/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *axon_strtrim(char *s)
{
	size_t start = 0, len;

	if (s == NULL) {
		return NULL;
	}
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1])) {
		len--;
	}
	while (start < len && isspace((unsigned char)s[start])) {
		start++;
	}
	/* Move rather than return s + start, so the caller can still free(s). */
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
	return s;
}

ssize_t axon_strscpy(char *dst, const char *src, size_t size)
{
	size_t len;

	if (size == 0) {
		return -E2BIG;
	}
	len = strnlen(src, size);
	if (len == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, len + 1);
	return (ssize_t)len;
}

/*
 * strtol() and friends skip leading white space and accept a sign; we take
 * only what the caller's string is, all of it.
 */
static int number_prefix_ok(const char *str, int base, bool allow_minus)
{
	if (str == NULL || base < 0 || base == 1 || base > 36) {
		return -EINVAL;
	}
	if (*str == '-' && !allow_minus) {
		return -EINVAL;
	}
	if (*str == '-' || *str == '+') {
		str++;
	}
	return isalnum((unsigned char)*str) ? 0 : -EINVAL;
}

int axon_strtol(const char *str, int base, long *out)
{
	char *end;
	long v;

	if (number_prefix_ok(str, base, true) != 0) {
		return -EINVAL;
	}
	errno = 0;
	v = strtol(str, &end, base);
	if (end == str || *end != '\0') {
		return -EINVAL;
	}
	if (errno == ERANGE) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int axon_strtoull(const char *str, int base, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (number_prefix_ok(str, base, false) != 0) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(str, &end, base);
	if (end == str || *end != '\0') {
		return -EINVAL;
	}
	if (errno == ERANGE) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

static const struct {
	char letter;
	unsigned int shift;
} g_size_units[] = {
	{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}, {'p', 50},
};

/* The unit after the number: "", "B", or a letter followed by "", "B" or "iB". */
static int size_unit_shift(const char *unit, unsigned int *shift)
{
	*shift = 0;
	if (*unit == '\0' || strcasecmp(unit, "b") == 0) {
		return 0;
	}
	for (size_t i = 0; i < AXON_COUNTOF(g_size_units); i++) {
		if (tolower((unsigned char)unit[0]) != g_size_units[i].letter) {
			continue;
		}
		if (unit[1] == '\0' || strcasecmp(unit + 1, "b") == 0 ||
		    strcasecmp(unit + 1, "ib") == 0) {
			*shift = g_size_units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

int axon_parse_size(const char *str, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift;
	int base = 10;
	char *end;

	if (str == NULL || !isdigit((unsigned char)*str)) {
		return -EINVAL;
	}
	/* Decimal or 0x hex only: "010" is ten, not octal eight. */
	if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		base = 16;
		if (!isxdigit((unsigned char)str[2])) {
			return -EINVAL;
		}
	}
	errno = 0;
	v = strtoull(str, &end, base);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	if (size_unit_shift(end, &shift) != 0) {
		return -EINVAL;
	}
	if (shift != 0 && v > (UINT64_MAX >> shift)) {
		return -ERANGE;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

void axon_strarray_free(char **array)
{
	if (array == NULL) {
		return;
	}
	for (char **p = array; *p != NULL; p++) {
		free(*p);
	}
	free(array);
}

int axon_strsplit(const char *str, char delim, char ***fields)
{
	size_t n = 1, i = 0;
	const char *p, *next;
	char **array;

	if (str == NULL || fields == NULL) {
		return -EINVAL;
	}
	for (p = str; *p; p++) {
		n += *p == delim;
	}
	if (n > INT_MAX) {
		return -EINVAL;
	}
	array = calloc(n + 1, sizeof(char *));
	if (array == NULL) {
		return -ENOMEM;
	}
	for (p = str; i < n; p = next + 1) {
		next = strchr(p, delim);
		if (next == NULL || delim == '\0') {
			next = p + strlen(p);
		}
		array[i] = strndup(p, (size_t)(next - p));
		if (array[i] == NULL) {
			axon_strarray_free(array);
			return -ENOMEM;
		}
		i++;
	}
	*fields = array;
	return (int)n;
}

char *axon_vsprintf_alloc(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0) {
		return NULL;
	}
	return s;
}

char *axon_sprintf_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = axon_vsprintf_alloc(fmt, ap);
	va_end(ap);
	return s;
}
