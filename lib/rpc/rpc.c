/*
 * The RPC method registry, phases, dispatch, and completing requests.
 *
 * Methods register from constructors, before main(), so the registry is a
 * plain array sorted on first lookup. Aliases are resolved at lookup time:
 * their constructors may run before the method they name has registered.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "rpc_internal.h"

/* Longest method name quoted back in an error message. */
#define RPC_NAME_IN_MESSAGE 128

struct rpc_method {
	char *name;
	axon_rpc_handler handler; /* NULL for an alias */
	uint32_t state_mask;
	char *alias_of;
};

static struct rpc_method *g_methods;
static size_t g_count;
static size_t g_cap;
static bool g_sorted;
static uint32_t g_state = AXON_RPC_STARTUP;

static int method_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rpc_method *)a)->name, ((const struct rpc_method *)b)->name);
}

static void registry_sort(void)
{
	if (!g_sorted) {
		if (g_count > 1) {
			qsort(g_methods, g_count, sizeof(*g_methods), method_cmp);
		}
		g_sorted = true;
	}
}

static struct rpc_method *registry_find(const char *name)
{
	struct rpc_method key = {.name = (char *)name};

	registry_sort();
	if (g_count == 0) {
		return NULL;
	}
	return bsearch(&key, g_methods, g_count, sizeof(*g_methods), method_cmp);
}

/* The method an entry stands for: itself, or the method its alias names. */
static struct rpc_method *registry_resolve(struct rpc_method *m)
{
	if (m != NULL && m->alias_of != NULL) {
		m = registry_find(m->alias_of);
		if (m != NULL && m->alias_of != NULL) {
			return NULL; /* aliases of aliases are not followed */
		}
	}
	return m;
}

static int registry_add(const char *name, axon_rpc_handler handler, uint32_t state_mask,
			const char *alias_of)
{
	struct rpc_method *m;
	size_t i;

	for (i = 0; i < g_count; i++) {
		if (strcmp(g_methods[i].name, name) == 0) {
			return -EEXIST;
		}
	}
	if (g_count == g_cap) {
		size_t cap = g_cap ? g_cap * 2 : 64;

		m = realloc(g_methods, cap * sizeof(*m));
		if (m == NULL) {
			return -ENOMEM;
		}
		g_methods = m;
		g_cap = cap;
	}
	m = &g_methods[g_count];
	*m = (struct rpc_method){.handler = handler, .state_mask = state_mask};
	m->name = strdup(name);
	m->alias_of = alias_of ? strdup(alias_of) : NULL;
	if (m->name == NULL || (alias_of != NULL && m->alias_of == NULL)) {
		free(m->name);
		free(m->alias_of);
		return -ENOMEM;
	}
	g_count++;
	g_sorted = false;
	return 0;
}

int rpc_register(const char *method, axon_rpc_handler handler, uint32_t state_mask)
{
	if (method == NULL || method[0] == '\0' || handler == NULL ||
	    (state_mask & (AXON_RPC_STARTUP | AXON_RPC_RUNTIME)) == 0) {
		return -EINVAL;
	}
	return registry_add(method, handler, state_mask, NULL);
}

int rpc_register_alias(const char *alias, const char *method)
{
	if (alias == NULL || alias[0] == '\0' || method == NULL || method[0] == '\0') {
		return -EINVAL;
	}
	return registry_add(alias, NULL, 0, method);
}

void axon_rpc_register(const char *method, axon_rpc_handler handler, uint32_t state_mask)
{
	int rc = rpc_register(method, handler, state_mask);

	if (rc != 0) {
		/* A programming error in the build: refuse to start half-wired. */
		AXON_ERRLOG("cannot register RPC method %s: %s", method ? method : "(null)",
			    rc == -EEXIST ? "the name is registered twice" : strerror(-rc));
		abort();
	}
}

void axon_rpc_register_alias(const char *alias, const char *method)
{
	int rc = rpc_register_alias(alias, method);

	if (rc != 0) {
		AXON_ERRLOG("cannot register RPC alias %s of %s: %s", alias ? alias : "(null)",
			    method ? method : "(null)",
			    rc == -EEXIST ? "the name is registered twice" : strerror(-rc));
		abort();
	}
}

int rpc_registry_check(void)
{
	int rc = 0;
	size_t i;

	registry_sort(); /* before the walk: a lookup would sort under it */
	for (i = 0; i < g_count; i++) {
		if (g_methods[i].alias_of != NULL && registry_resolve(&g_methods[i]) == NULL) {
			AXON_ERRLOG("RPC alias %s names %s, which is not a registered method",
				    g_methods[i].name, g_methods[i].alias_of);
			rc = -ENOENT;
		}
	}
	return rc;
}

void rpc_registry_clear(void)
{
	size_t i;

	for (i = 0; i < g_count; i++) {
		free(g_methods[i].name);
		free(g_methods[i].alias_of);
	}
	free(g_methods);
	g_methods = NULL;
	g_count = g_cap = 0;
	g_sorted = false;
}

void axon_rpc_set_state(uint32_t state)
{
	g_state = state;
}

uint32_t axon_rpc_get_state(void)
{
	return g_state;
}

const char *axon_rpc_get_next_method(const char *prev, uint32_t *state_mask)
{
	struct rpc_method *target;
	size_t lo = 0, hi, mid;

	registry_sort();
	if (prev != NULL) {
		/* The first name after prev. */
		hi = g_count;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(g_methods[mid].name, prev) <= 0) {
				lo = mid + 1;
			} else {
				hi = mid;
			}
		}
	}
	for (; lo < g_count; lo++) {
		target = registry_resolve(&g_methods[lo]);
		if (target != NULL) {
			if (state_mask != NULL) {
				*state_mask = target->state_mask;
			}
			return g_methods[lo].name;
		}
	}
	return NULL;
}

void rpc_dispatch(struct axon_rpc_request *req, const char *method, const json_t *params)
{
	struct rpc_method *m = registry_resolve(registry_find(method));

	req->method = method;
	if (m == NULL) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_METHOD_NOT_FOUND,
				    "Method not found: %.*s", RPC_NAME_IN_MESSAGE, method);
		return;
	}
	if ((m->state_mask & g_state) == 0) {
		if (m->state_mask & AXON_RPC_RUNTIME) {
			axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
					    "%.*s may only be called after framework_start_init",
					    RPC_NAME_IN_MESSAGE, method);
		} else {
			axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
					    "%.*s may only be called before framework_start_init "
					    "(start axond with --wait-for-rpc)",
					    RPC_NAME_IN_MESSAGE, method);
		}
		return;
	}
	m->handler(req, params);
}

static void rpc_complete_jsonrpc(struct axon_rpc_request *req, json_t *result, json_t *error)
{
	struct axon_jsonrpc_request *jreq = req->jreq;

	free(req);
	axon_jsonrpc_request_complete(jreq, result, error);
}

void rpc_jsonrpc_handler(struct axon_jsonrpc_request *jreq, const char *method,
			 const json_t *params, void *ctx)
{
	struct axon_rpc_request *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		axon_jsonrpc_request_complete(jreq, NULL,
					      axon_jsonrpc_error_new(AXON_JSONRPC_ERROR_INTERNAL_ERROR,
								     "Out of memory"));
		return;
	}
	req->jreq = jreq;
	req->complete = rpc_complete_jsonrpc;
	rpc_dispatch(req, method, params);
}

/* ---- completing a request ------------------------------------------------ */

void axon_rpc_send_result(struct axon_rpc_request *req, json_t *result)
{
	req->complete(req, result ? result : json_null(), NULL);
}

void axon_rpc_send_bool(struct axon_rpc_request *req, bool value)
{
	axon_rpc_send_result(req, json_boolean(value));
}

static void send_verror(struct axon_rpc_request *req, int code, const char *prefix,
			const char *fmt, va_list ap)
{
	char *msg = NULL, *full = NULL;
	json_t *err = NULL;

	if (vasprintf(&msg, fmt, ap) < 0) {
		msg = NULL;
	} else if (prefix != NULL && asprintf(&full, "%.128s: %s", prefix, msg) < 0) {
		full = NULL;
	}
	if (msg != NULL && (prefix == NULL || full != NULL)) {
		err = axon_jsonrpc_error_new(code, full ? full : msg);
	}
	if (err == NULL) {
		err = axon_jsonrpc_error_new(code, "Out of memory while reporting an error");
	}
	free(full);
	free(msg);
	req->complete(req, NULL, err);
}

void axon_rpc_send_error(struct axon_rpc_request *req, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_verror(req, code, NULL, fmt, ap);
	va_end(ap);
}

void axon_rpc_send_param_error(struct axon_rpc_request *req, const char *param,
			       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_verror(req, AXON_JSONRPC_ERROR_INVALID_PARAMS, param, fmt, ap);
	va_end(ap);
}

void axon_rpc_send_errno(struct axon_rpc_request *req, int neg_errno, const char *what)
{
	char buf[128];
	int err = neg_errno < 0 ? -neg_errno : neg_errno;

	axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INTERNAL_ERROR, "%s: %s", what,
			    strerror_r(err, buf, sizeof(buf)));
}
