/*
 * Declarative parameter decoding: a handler describes its parameters in a
 * table, and every rejection names the parameter, what was expected and what
 * came ("block_size: expected a power of two between 512 and 65536, got 1000").
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

/* How much of an offending value or key is quoted back. */
#define RPC_QUOTE_MAX 64
#define RPC_EXPECT_MAX 160

/* Show a value as JSON, shortened: "got \"abc\"", "got [1,2,...". */
static void describe_value(const json_t *v, char *buf, size_t size)
{
	json_t *shown = NULL;
	char *text;

	if (json_is_string(v) && json_string_length(v) > RPC_QUOTE_MAX) {
		const char *str = json_string_value(v);
		size_t n = RPC_QUOTE_MAX;

		/* Do not serialize 16 MiB to quote 64 bytes of it; cut between
		 * UTF-8 sequences, not inside one. */
		while (n > 0 && ((unsigned char)str[n] & 0xc0) == 0x80) {
			n--;
		}
		shown = json_stringn(str, n);
	}
	text = json_dumps(shown ? shown : v, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(shown);
	if (text == NULL) {
		snprintf(buf, size, "(unprintable)");
		return;
	}
	if (strlen(text) > RPC_QUOTE_MAX || shown != NULL) {
		snprintf(buf, size, "%.*s...", RPC_QUOTE_MAX, text);
	} else {
		snprintf(buf, size, "%s", text);
	}
	free(text);
}

static bool has_range(const struct axon_rpc_param *p)
{
	return p->min != 0 || p->max != 0;
}

/* The natural range of an integer type, as text and as doubles. */
static void int_type_range(enum axon_rpc_param_type type, char *lo, char *hi, size_t size,
			   double *dlo, double *dhi)
{
	switch (type) {
	case AXON_RPC_PARAM_INT32:
		snprintf(lo, size, "%" PRId32, INT32_MIN);
		snprintf(hi, size, "%" PRId32, INT32_MAX);
		*dlo = INT32_MIN;
		*dhi = INT32_MAX;
		break;
	case AXON_RPC_PARAM_UINT32:
		snprintf(lo, size, "0");
		snprintf(hi, size, "%" PRIu32, UINT32_MAX);
		*dlo = 0;
		*dhi = UINT32_MAX;
		break;
	case AXON_RPC_PARAM_INT64:
		snprintf(lo, size, "%" PRId64, INT64_MIN);
		snprintf(hi, size, "%" PRId64, INT64_MAX);
		*dlo = -0x1p63;
		*dhi = 0x1p63; /* exclusive for doubles; see decode_integer */
		break;
	default:
		snprintf(lo, size, "0");
		snprintf(hi, size, "%" PRIu64, UINT64_MAX);
		*dlo = 0;
		*dhi = 0x1p64;
		break;
	}
}

static void describe_expected(const struct axon_rpc_param *p, char *buf, size_t size)
{
	char lo[32], hi[32];
	double dlo, dhi;

	switch (p->type) {
	case AXON_RPC_PARAM_STRING:
		snprintf(buf, size, "a string");
		break;
	case AXON_RPC_PARAM_BOOL:
		snprintf(buf, size, "true or false");
		break;
	case AXON_RPC_PARAM_INT32:
	case AXON_RPC_PARAM_UINT32:
	case AXON_RPC_PARAM_INT64:
	case AXON_RPC_PARAM_UINT64:
		int_type_range(p->type, lo, hi, sizeof(lo), &dlo, &dhi);
		if (has_range(p)) {
			snprintf(lo, sizeof(lo), "%.0f", p->min);
			snprintf(hi, sizeof(hi), "%.0f", p->max);
		}
		snprintf(buf, size, "an integer between %s and %s", lo, hi);
		break;
	case AXON_RPC_PARAM_DOUBLE:
		if (has_range(p)) {
			snprintf(buf, size, "a number between %g and %g", p->min, p->max);
		} else {
			snprintf(buf, size, "a number");
		}
		break;
	case AXON_RPC_PARAM_UUID:
		snprintf(buf, size, "a UUID such as 01234567-89ab-cdef-0123-456789abcdef");
		break;
	case AXON_RPC_PARAM_STRING_ARRAY:
		snprintf(buf, size, "an array of strings");
		break;
	default:
		snprintf(buf, size, "a valid value");
		break;
	}
}

/* Integers: JSON integers, or reals with no fraction (1e3) from lax clients. */
static bool decode_integer(const struct axon_rpc_param *p, const json_t *v, void *field)
{
	char lo[32], hi[32];
	double dlo, dhi, d;
	long long x;
	bool ok;

	int_type_range(p->type, lo, hi, sizeof(lo), &dlo, &dhi);
	if (json_is_integer(v)) {
		x = json_integer_value(v);
		switch (p->type) {
		case AXON_RPC_PARAM_INT32: ok = x >= INT32_MIN && x <= INT32_MAX; break;
		case AXON_RPC_PARAM_UINT32: ok = x >= 0 && x <= (long long)UINT32_MAX; break;
		case AXON_RPC_PARAM_INT64: ok = true; break;
		default: ok = x >= 0; break;
		}
		if (!ok || (has_range(p) && ((double)x < p->min || (double)x > p->max))) {
			return false;
		}
		switch (p->type) {
		case AXON_RPC_PARAM_INT32: *(int32_t *)field = (int32_t)x; break;
		case AXON_RPC_PARAM_UINT32: *(uint32_t *)field = (uint32_t)x; break;
		case AXON_RPC_PARAM_INT64: *(int64_t *)field = (int64_t)x; break;
		default: *(uint64_t *)field = (uint64_t)x; break;
		}
		return true;
	}
	if (!json_is_real(v)) {
		return false;
	}
	d = json_real_value(v);
	/* The 64-bit upper bounds are powers of two, exclusive as doubles. */
	if (!isfinite(d) || d != trunc(d) || d < dlo || d > dhi ||
	    (dhi >= 0x1p63 && d >= dhi) ||
	    (has_range(p) && (d < p->min || d > p->max))) {
		return false;
	}
	switch (p->type) {
	case AXON_RPC_PARAM_INT32: *(int32_t *)field = (int32_t)d; break;
	case AXON_RPC_PARAM_UINT32: *(uint32_t *)field = (uint32_t)d; break;
	case AXON_RPC_PARAM_INT64: *(int64_t *)field = (int64_t)d; break;
	default: *(uint64_t *)field = (uint64_t)d; break;
	}
	return true;
}

static bool is_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36) {
		return false;
	}
	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static void free_string_array(struct axon_rpc_string_array *a)
{
	size_t i;

	for (i = 0; i < a->count; i++) {
		free(a->items[i]);
	}
	free(a->items);
	a->items = NULL;
	a->count = 0;
}

/* Returns 0, or -EINVAL after sending the error for element i (or the whole). */
static int decode_string_array(struct axon_rpc_request *req, const struct axon_rpc_param *p,
			       const json_t *v, struct axon_rpc_string_array *out)
{
	char got[RPC_QUOTE_MAX + 8];
	size_t i, n;

	if (!json_is_array(v)) {
		describe_value(v, got, sizeof(got));
		axon_rpc_send_param_error(req, p->name, "expected an array of strings, got %s", got);
		return -EINVAL;
	}
	free_string_array(out);
	n = json_array_size(v);
	out->items = calloc(n ? n : 1, sizeof(char *));
	if (out->items == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, p->name);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const json_t *item = json_array_get(v, i);

		if (!json_is_string(item)) {
			describe_value(item, got, sizeof(got));
			axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_PARAMS,
					    "%s[%zu]: expected a string, got %s", p->name, i, got);
			return -EINVAL;
		}
		out->items[i] = strdup(json_string_value(item));
		if (out->items[i] == NULL) {
			axon_rpc_send_errno(req, -ENOMEM, p->name);
			return -EINVAL;
		}
		out->count = i + 1;
	}
	return 0;
}

/* Decode v into field. Returns NULL, or what was expected (into expect). */
static const char *decode_one(const struct axon_rpc_param *p, const json_t *v, void *field,
			      char *expect, size_t size)
{
	const char *what = NULL;
	char *s;

	switch (p->type) {
	case AXON_RPC_PARAM_STRING:
		if (!json_is_string(v) || (s = strdup(json_string_value(v))) == NULL) {
			break;
		}
		free(*(char **)field);
		*(char **)field = s;
		goto checked;
	case AXON_RPC_PARAM_BOOL:
		if (!json_is_boolean(v)) {
			break;
		}
		*(bool *)field = json_is_true(v);
		goto checked;
	case AXON_RPC_PARAM_INT32:
	case AXON_RPC_PARAM_UINT32:
	case AXON_RPC_PARAM_INT64:
	case AXON_RPC_PARAM_UINT64:
		if (!decode_integer(p, v, field)) {
			break;
		}
		goto checked;
	case AXON_RPC_PARAM_DOUBLE:
		if (!json_is_number(v) ||
		    (has_range(p) && (json_number_value(v) < p->min || json_number_value(v) > p->max))) {
			break;
		}
		*(double *)field = json_number_value(v);
		goto checked;
	case AXON_RPC_PARAM_UUID:
		if (!json_is_string(v) || !is_uuid(json_string_value(v))) {
			break;
		}
		memcpy(field, json_string_value(v), 37);
		goto checked;
	case AXON_RPC_PARAM_JSON:
		json_decref(*(json_t **)field);
		/* The decoded value is the caller's own reference. */
		*(json_t **)field = json_incref((json_t *)v);
		goto checked;
	case AXON_RPC_PARAM_CUSTOM:
		if (p->decode_fn == NULL) {
			return "a value (this parameter has no decoder)";
		}
		what = p->decode_fn(v, field);
		if (what != NULL) {
			return what;
		}
		goto checked;
	default:
		return "a value of a known type";
	}
	describe_expected(p, expect, size);
	return expect;
checked:
	return p->check ? p->check(field) : NULL;
}

/* Any key the table does not know is a mistake worth naming (a typo). */
static int reject_unknown_keys(struct axon_rpc_request *req, const json_t *params,
			       const struct axon_rpc_param *table, size_t count)
{
	char accepted[256] = "";
	const char *key;
	const json_t *v;
	size_t i, off = 0;

	json_object_foreach((json_t *)params, key, v) {
		for (i = 0; i < count; i++) {
			if (strcmp(table[i].name, key) == 0) {
				break;
			}
		}
		if (i < count) {
			continue;
		}
		for (i = 0; i < count && off < sizeof(accepted); i++) {
			off += (size_t)snprintf(accepted + off, sizeof(accepted) - off, "%s%s",
						i ? ", " : "", table[i].name);
		}
		if (count == 0) {
			axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_PARAMS,
					    "%.*s: unknown parameter (this method takes none)",
					    RPC_QUOTE_MAX, key);
		} else {
			axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_PARAMS,
					    "%.*s: unknown parameter (expected one of: %s)",
					    RPC_QUOTE_MAX, key, accepted);
		}
		return -EINVAL;
	}
	return 0;
}

int axon_rpc_decode_params(struct axon_rpc_request *req, const json_t *params,
			   const struct axon_rpc_param *table, size_t count, void *out)
{
	char expect[RPC_EXPECT_MAX], got[RPC_QUOTE_MAX + 8];
	const struct axon_rpc_param *p;
	const char *what;
	const json_t *v;
	size_t i;

	if (params != NULL && !json_is_object(params)) {
		describe_value(params, got, sizeof(got));
		axon_rpc_send_param_error(req, "params", "expected an object, got %s", got);
		return -EINVAL;
	}
	if (params != NULL && reject_unknown_keys(req, params, table, count) != 0) {
		return -EINVAL;
	}
	for (i = 0; i < count; i++) {
		p = &table[i];
		v = params ? json_object_get(params, p->name) : NULL;
		if (v == NULL || (json_is_null(v) && p->optional)) {
			if (p->optional) {
				continue;
			}
			if (p->type == AXON_RPC_PARAM_CUSTOM || p->type == AXON_RPC_PARAM_JSON) {
				axon_rpc_send_param_error(req, p->name, "missing required parameter");
			} else {
				describe_expected(p, expect, sizeof(expect));
				axon_rpc_send_param_error(req, p->name,
							  "missing required parameter, expected %s",
							  expect);
			}
			goto err;
		}
		if (p->type == AXON_RPC_PARAM_STRING_ARRAY) {
			if (decode_string_array(req, p, v, (void *)((char *)out + p->offset)) != 0) {
				goto err;
			}
			what = p->check ? p->check((char *)out + p->offset) : NULL;
		} else {
			what = decode_one(p, v, (char *)out + p->offset, expect, sizeof(expect));
		}
		if (what != NULL) {
			describe_value(v, got, sizeof(got));
			axon_rpc_send_param_error(req, p->name, "expected %s, got %s", what, got);
			goto err;
		}
	}
	return 0;
err:
	axon_rpc_free_params(table, count, out);
	return -EINVAL;
}

void axon_rpc_free_params(const struct axon_rpc_param *table, size_t count, void *out)
{
	size_t i;

	for (i = 0; i < count; i++) {
		void *field = (char *)out + table[i].offset;

		switch (table[i].type) {
		case AXON_RPC_PARAM_STRING:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case AXON_RPC_PARAM_JSON:
			json_decref(*(json_t **)field);
			*(json_t **)field = NULL;
			break;
		case AXON_RPC_PARAM_STRING_ARRAY:
			free_string_array(field);
			break;
		default:
			break;
		}
	}
}

int axon_rpc_expect_no_params(struct axon_rpc_request *req, const json_t *params)
{
	char got[RPC_QUOTE_MAX + 8];

	if (params == NULL || json_is_null(params) ||
	    ((json_is_object(params) || json_is_array(params)) && json_object_size(params) == 0 &&
	     json_array_size(params) == 0)) {
		return 0;
	}
	describe_value(params, got, sizeof(got));
	axon_rpc_send_param_error(req, "params", "expected no parameters, got %s", got);
	return -EINVAL;
}
