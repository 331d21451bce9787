/*
 * Axon RPC methods: the registry every module adds its JSON-RPC methods to,
 * declarative parameter decoding, phases, and the server on the app thread.
 *
 * A module defines a handler and registers it right under its definition:
 *
 *   static void rpc_bdev_malloc_delete(struct axon_rpc_request *req, const json_t *params)
 *   {
 *       struct delete_params p = {0};
 *       if (axon_rpc_decode_params(req, params, delete_decoders,
 *                                  AXON_COUNTOF(delete_decoders), &p) != 0) {
 *           return;   // the -32602 error, naming the parameter, was sent
 *       }
 *       ...
 *       axon_rpc_send_bool(req, true);
 *   }
 *   AXON_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, AXON_RPC_RUNTIME)
 *
 * with a table such as (designated initializers: -Wextra rejects partial
 * positional ones):
 *
 *   static const struct axon_rpc_param delete_decoders[] = {
 *       {.name = "name", .type = AXON_RPC_PARAM_STRING,
 *        .offset = offsetof(struct delete_params, name)},
 *       {.name = "block_size", .type = AXON_RPC_PARAM_UINT32,
 *        .offset = offsetof(struct delete_params, block_size), .optional = true,
 *        .min = 512, .max = 65536, .check = check_power_of_two},
 *   };
 *
 * Every request is completed exactly once, with a result or an error, possibly
 * later from a callback (on the app thread).
 */
#ifndef AXON_RPC_H
#define AXON_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "axon/util.h" /* AXON_COUNTOF */

#ifdef __cplusplus
extern "C" {
#endif

/* JSON-RPC 2.0 error codes. */
#define AXON_JSONRPC_ERROR_PARSE_ERROR -32700
#define AXON_JSONRPC_ERROR_INVALID_REQUEST -32600
#define AXON_JSONRPC_ERROR_METHOD_NOT_FOUND -32601
#define AXON_JSONRPC_ERROR_INVALID_PARAMS -32602
#define AXON_JSONRPC_ERROR_INTERNAL_ERROR -32603
/* Method exists but not in this phase (SPDK uses -32604 for this). */
#define AXON_JSONRPC_ERROR_INVALID_STATE -32604

/* When a method may run. */
#define AXON_RPC_STARTUP 0x1 /* before framework_start_init (with --wait-for-rpc) */
#define AXON_RPC_RUNTIME 0x2 /* after the subsystems have started */

struct axon_rpc_request;

typedef void (*axon_rpc_handler)(struct axon_rpc_request *req, const json_t *params);

/** Register a method at program start. Duplicate names abort start-up with a message. */
void axon_rpc_register(const char *method, axon_rpc_handler handler, uint32_t state_mask);
#define AXON_RPC_REGISTER(METHOD, HANDLER, STATE_MASK)                              \
	__attribute__((constructor)) static void axon_rpc_register_##HANDLER(void) \
	{                                                                           \
		axon_rpc_register(METHOD, HANDLER, STATE_MASK);                     \
	}
/** Register another name for an existing method (e.g. spdk_get_version). */
void axon_rpc_register_alias(const char *alias, const char *method);
/* Two levels so that __LINE__ is expanded before it is pasted. */
#define AXON_RPC_CONCAT_(A, B) A##B
#define AXON_RPC_CONCAT(A, B) AXON_RPC_CONCAT_(A, B)
#define AXON_RPC_REGISTER_ALIAS(ALIAS, METHOD)                                      \
	__attribute__((constructor(110))) static void                               \
	AXON_RPC_CONCAT(axon_rpc_alias_, __LINE__)(void)                            \
	{                                                                           \
		axon_rpc_register_alias(ALIAS, METHOD);                             \
	}

/** Current phase: AXON_RPC_STARTUP or AXON_RPC_RUNTIME. */
void axon_rpc_set_state(uint32_t state);
uint32_t axon_rpc_get_state(void);

/** Iterate registered method names (sorted); NULL prev gives the first. */
const char *axon_rpc_get_next_method(const char *prev, uint32_t *state_mask);

/* ---- parameter decoding --------------------------------------------------- */

enum axon_rpc_param_type {
	AXON_RPC_PARAM_STRING,  /* char * (strdup'ed; free with axon_rpc_free_params) */
	AXON_RPC_PARAM_BOOL,    /* bool */
	AXON_RPC_PARAM_INT32,   /* int32_t */
	AXON_RPC_PARAM_UINT32,  /* uint32_t */
	AXON_RPC_PARAM_INT64,   /* int64_t */
	AXON_RPC_PARAM_UINT64,  /* uint64_t */
	AXON_RPC_PARAM_DOUBLE,  /* double */
	AXON_RPC_PARAM_UUID,    /* char[37], validated as a UUID string */
	AXON_RPC_PARAM_JSON,    /* json_t * (new reference; freed by axon_rpc_free_params) */
	AXON_RPC_PARAM_STRING_ARRAY, /* struct axon_rpc_string_array */
	AXON_RPC_PARAM_CUSTOM,  /* decode_fn decides */
};

struct axon_rpc_string_array {
	size_t count;
	char **items;
};

struct axon_rpc_param {
	const char *name;
	enum axon_rpc_param_type type;
	size_t offset;         /* offsetof(struct ..., field) */
	bool optional;
	/* Inclusive range for numeric types (ignored when min == max == 0). */
	double min, max;
	/* Extra check; return NULL if ok, or a static string saying what was
	 * expected ("a power of two between 512 and 65536"). Optional. */
	const char *(*check)(const void *field);
	/* For AXON_RPC_PARAM_CUSTOM: decode value into field; return NULL or
	 * what was expected. */
	const char *(*decode_fn)(const json_t *value, void *field);
};

/**
 * Decode params (an object, or NULL when absent) into out following table.
 * Unknown keys, missing required keys, wrong types and out-of-range values
 * are rejected: the request is completed with -32602 and a message of the
 * form "<name>: expected <what>, got <value>", and -EINVAL is returned.
 * On success returns 0; the caller frees strings with axon_rpc_free_params.
 * Unknown keys are reported first. null for an optional parameter counts as
 * absent; integer types also take integral reals (1e3). Pointer fields
 * (STRING, JSON, STRING_ARRAY) must be NULL or heap-allocated on entry: a
 * decoded value replaces (frees) them, and on failure every one of them is
 * freed and cleared, so the caller just returns.
 */
int axon_rpc_decode_params(struct axon_rpc_request *req, const json_t *params,
			   const struct axon_rpc_param *table, size_t count, void *out);
/** Free what axon_rpc_decode_params allocated in out. */
void axon_rpc_free_params(const struct axon_rpc_param *table, size_t count, void *out);
/** Reject any params at all (for methods that take none). Returns 0 or -EINVAL (error sent). */
int axon_rpc_expect_no_params(struct axon_rpc_request *req, const json_t *params);


/* ---- completing a request ------------------------------------------------- */

/** Complete with result (reference stolen). App thread. */
void axon_rpc_send_result(struct axon_rpc_request *req, json_t *result);
void axon_rpc_send_bool(struct axon_rpc_request *req, bool value);
/** Complete with an error; message is printf-formatted. */
void axon_rpc_send_error(struct axon_rpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Complete with -32602 and "<param>: <message>" built from fmt. */
void axon_rpc_send_param_error(struct axon_rpc_request *req, const char *param,
			       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Complete with an errno as an internal error, prefixed by what failed. */
void axon_rpc_send_errno(struct axon_rpc_request *req, int neg_errno, const char *what);

/* ---- in-process calls and the server -------------------------------------- */

/**
 * Call method in-process, as if a client sent it (config replay). cb runs on
 * the app thread with the result or the error object (borrowed references),
 * exactly once. App thread. On an axon_thread, cb never runs before this
 * function returns (a synchronous completion is delivered by a message), so
 * a caller may chain the next call from cb without recursing.
 */
typedef void (*axon_rpc_local_cb)(void *ctx, const json_t *result, const json_t *error);
void axon_rpc_call_local(const char *method, const json_t *params, axon_rpc_local_cb cb,
			 void *ctx);

/**
 * Listen on the Unix socket path (flock'ed lock file "<path>.lock": a second
 * daemon on the same path is refused with -EADDRINUSE and a clear message).
 * Registers the server's poller on the calling (app) thread.
 */
int axon_rpc_server_start(const char *path);
/** Close the socket and every connection; pending requests are dropped. */
void axon_rpc_server_stop(void);

#ifdef __cplusplus
}
#endif
#endif /* AXON_RPC_H */
