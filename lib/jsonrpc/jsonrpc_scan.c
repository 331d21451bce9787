/*
 * Finding the end of each top-level JSON value in a byte stream.
 *
 * Requests arrive with no delimiter, so a value ends where its outermost
 * bracket closes (or its top-level string/literal ends). Tracking only the
 * nesting depth, string and escape state is enough to find that point for
 * valid JSON; for invalid JSON any end will do, because jansson then rejects
 * the span. The state is kept across reads: a multi-MiB request arriving in
 * small pieces is scanned once, never re-parsed from its start.
 */
#include "jsonrpc_internal.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Ends a top-level number or literal such as 12 or true. */
static bool is_delimiter(char c)
{
	return is_blank(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == '"' ||
	       c == ',' || c == ':';
}

void jsonrpc_scanner_reset(struct jsonrpc_scanner *s, size_t start)
{
	*s = (struct jsonrpc_scanner){.start = start, .pos = start};
}

/* Inside a string: returns true when the closing quote is at *p. */
static bool scan_string(struct jsonrpc_scanner *s, const char *buf, size_t len, size_t *p)
{
	for (; *p < len; (*p)++) {
		char c = buf[*p];

		if (s->escape) {
			s->escape = false;
		} else if (c == '\\') {
			s->escape = true;
		} else if (c == '"') {
			s->in_string = false;
			return true;
		}
	}
	return false;
}

enum jsonrpc_scan_result jsonrpc_scan(struct jsonrpc_scanner *s, const char *buf, size_t len)
{
	size_t p;

	for (p = s->pos; p < len; p++) {
		char c = buf[p];

		if (s->in_string) {
			if (!scan_string(s, buf, len, &p)) {
				break;
			}
			if (s->depth == 0) {
				s->pos = p + 1;
				return JSONRPC_SCAN_DONE;
			}
			continue;
		}
		if (s->in_bare) {
			if (is_delimiter(c)) {
				s->pos = p;
				return JSONRPC_SCAN_DONE;
			}
			continue;
		}
		if (!s->started) {
			if (is_blank(c)) {
				s->start = p + 1;
				continue;
			}
			s->started = true;
		}
		switch (c) {
		case '{':
		case '[':
			if (++s->depth > AXON_JSONRPC_MAX_DEPTH) {
				s->pos = p;
				return JSONRPC_SCAN_TOO_DEEP;
			}
			break;
		case '}':
		case ']':
			if (s->depth == 0) {
				s->pos = p;
				return JSONRPC_SCAN_BAD;
			}
			if (--s->depth == 0) {
				s->pos = p + 1;
				return JSONRPC_SCAN_DONE;
			}
			break;
		case '"':
			s->in_string = true;
			break;
		default:
			if (s->depth == 0) {
				if (c == ',' || c == ':') {
					s->pos = p;
					return JSONRPC_SCAN_BAD;
				}
				s->in_bare = true;
			}
			break;
		}
	}
	s->pos = len;
	return JSONRPC_SCAN_MORE;
}

bool jsonrpc_scan_finish(struct jsonrpc_scanner *s, size_t len)
{
	if (s->in_bare && !s->in_string && s->depth == 0) {
		s->pos = len;
		return true;
	}
	return false;
}
