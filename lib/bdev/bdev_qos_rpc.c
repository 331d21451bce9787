/*
 * JSON-RPC methods for QoS and latency histograms, with SPDK's names,
 * parameters and result shapes: bdev_set_qos_limit, bdev_enable_histogram,
 * bdev_get_histogram.
 *
 * bdev_get_histogram returns {"histogram": <base64 of the bucket counts, each
 * a little-endian uint64, in the layout of struct axon_bdev_histogram>,
 * "bucket_shift": s, "granularity": s, "tsc_rate": ticks per second}:
 * SPDK's scripts/histogram.py reads it as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "axon/rpc.h"
#include "bdev_internal.h"

/* Each RPC holds a descriptor while it walks the bdev's channels, so the
 * bdev cannot go away under it. */
struct bdev_rpc_ctx {
	struct axon_rpc_request *req;
	struct axon_bdev_desc *desc;
};

static void bdev_rpc_event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

/* Open name for an RPC; on failure the request is answered and NULL returned. */
static struct bdev_rpc_ctx *bdev_rpc_open(struct axon_rpc_request *req, const char *name)
{
	struct bdev_rpc_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "bdev RPC");
		return NULL;
	}
	rc = axon_bdev_open_ext(name, false, bdev_rpc_event_cb, NULL, &ctx->desc);
	if (rc != 0) {
		free(ctx);
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", name);
		return NULL;
	}
	ctx->req = req;
	return ctx;
}

static void bdev_rpc_done(void *arg, int status)
{
	struct bdev_rpc_ctx *ctx = arg;

	if (status == 0) {
		axon_rpc_send_bool(ctx->req, true);
	} else if (status == -EBUSY) {
		axon_rpc_send_error(ctx->req, status, "a previous change of this bdev is still "
				    "being applied; retry");
	} else {
		axon_rpc_send_errno(ctx->req, status, "bdev RPC");
	}
	axon_bdev_close(ctx->desc);
	free(ctx);
}

/* ---- bdev_set_qos_limit ---------------------------------------------------------- */

struct set_qos_params {
	char *name;
	uint64_t limits[AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
};

#define QOS_PARAM(n, i)                                                                    \
	{.name = n, .type = AXON_RPC_PARAM_UINT64,                                         \
	 .offset = offsetof(struct set_qos_params, limits) + (i) * sizeof(uint64_t),       \
	 .optional = true, .min = 0, .max = (double)(UINT64_MAX / (1024u * 1024u))}

static const struct axon_rpc_param g_set_qos_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct set_qos_params, name)},
	QOS_PARAM("rw_ios_per_sec", AXON_BDEV_QOS_RW_IOPS_RATE_LIMIT),
	QOS_PARAM("rw_mbytes_per_sec", AXON_BDEV_QOS_RW_BPS_RATE_LIMIT),
	QOS_PARAM("r_mbytes_per_sec", AXON_BDEV_QOS_R_BPS_RATE_LIMIT),
	QOS_PARAM("w_mbytes_per_sec", AXON_BDEV_QOS_W_BPS_RATE_LIMIT),
};

static void rpc_bdev_set_qos_limit(struct axon_rpc_request *req, const json_t *params)
{
	struct set_qos_params p = {0};
	struct bdev_rpc_ctx *ctx;
	bool any = false;

	for (int i = 0; i < AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		p.limits[i] = AXON_BDEV_QOS_LIMIT_NOT_DEFINED;
	}
	if (axon_rpc_decode_params(req, params, g_set_qos_params, AXON_COUNTOF(g_set_qos_params),
				   &p) != 0) {
		return;
	}
	for (int i = 0; i < AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		any = any || p.limits[i] != AXON_BDEV_QOS_LIMIT_NOT_DEFINED;
	}
	if (!any) {
		axon_rpc_send_param_error(req, "rw_ios_per_sec",
					  "expected at least one of rw_ios_per_sec, "
					  "rw_mbytes_per_sec, r_mbytes_per_sec, w_mbytes_per_sec");
		goto out;
	}
	ctx = bdev_rpc_open(req, p.name);
	if (ctx != NULL) {
		axon_bdev_set_qos_rate_limits(axon_bdev_desc_get_bdev(ctx->desc), p.limits,
					      bdev_rpc_done, ctx);
	}
out:
	axon_rpc_free_params(g_set_qos_params, AXON_COUNTOF(g_set_qos_params), &p);
}
AXON_RPC_REGISTER("bdev_set_qos_limit", rpc_bdev_set_qos_limit, AXON_RPC_RUNTIME)

/* ---- bdev_enable_histogram ---------------------------------------------------------- */

struct enable_histogram_params {
	char *name;
	bool enable;
	char *opc;
	uint32_t granularity;
	uint64_t min_nsec;
	uint64_t max_nsec;
};

static const struct axon_rpc_param g_enable_histogram_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct enable_histogram_params, name)},
	{.name = "enable", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct enable_histogram_params, enable)},
	{.name = "opc", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct enable_histogram_params, opc), .optional = true},
	{.name = "granularity", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct enable_histogram_params, granularity), .optional = true,
	 .min = 1, .max = BDEV_HISTOGRAM_MAX_SHIFT},
	{.name = "min_nsec", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct enable_histogram_params, min_nsec), .optional = true},
	{.name = "max_nsec", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct enable_histogram_params, max_nsec), .optional = true},
};

/* The I/O type named name ("read", "write", ...), or INVALID. */
static enum axon_bdev_io_type io_type_by_name(const char *name)
{
	for (int t = AXON_BDEV_IO_TYPE_READ; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		if (strcmp(axon_bdev_io_type_name((enum axon_bdev_io_type)t), name) == 0) {
			return (enum axon_bdev_io_type)t;
		}
	}
	return AXON_BDEV_IO_TYPE_INVALID;
}

static void rpc_bdev_enable_histogram(struct axon_rpc_request *req, const json_t *params)
{
	struct enable_histogram_params p = {.granularity = BDEV_HISTOGRAM_SHIFT};
	enum axon_bdev_io_type type = AXON_BDEV_IO_TYPE_INVALID;
	struct bdev_rpc_ctx *ctx;

	if (axon_rpc_decode_params(req, params, g_enable_histogram_params,
				   AXON_COUNTOF(g_enable_histogram_params), &p) != 0) {
		return;
	}
	if (p.min_nsec != 0 || p.max_nsec != 0) {
		axon_rpc_send_param_error(req, p.min_nsec != 0 ? "min_nsec" : "max_nsec",
					  "a bounded histogram range is not supported: every "
					  "latency is counted");
		goto out;
	}
	if (p.opc != NULL) {
		type = io_type_by_name(p.opc);
		if (type == AXON_BDEV_IO_TYPE_INVALID) {
			axon_rpc_send_param_error(req, "opc", "expected an I/O type such as "
						  "\"read\" or \"write\", got \"%s\"", p.opc);
			goto out;
		}
	}
	ctx = bdev_rpc_open(req, p.name);
	if (ctx != NULL) {
		axon_bdev_histogram_enable_ext(axon_bdev_desc_get_bdev(ctx->desc), p.enable,
					       p.granularity, type, bdev_rpc_done, ctx);
	}
out:
	axon_rpc_free_params(g_enable_histogram_params, AXON_COUNTOF(g_enable_histogram_params),
			     &p);
}
AXON_RPC_REGISTER("bdev_enable_histogram", rpc_bdev_enable_histogram, AXON_RPC_RUNTIME)

/* ---- bdev_get_histogram ------------------------------------------------------------------ */

static const char g_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 (RFC 4648, padded) of len bytes; NULL without memory. */
static char *base64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		v |= i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0;
		v |= i + 2 < len ? in[i + 2] : 0;
		*o++ = g_b64[(v >> 18) & 63];
		*o++ = g_b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? g_b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? g_b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void get_histogram_done(void *arg, int status, struct axon_bdev_histogram *h)
{
	struct bdev_rpc_ctx *ctx = arg;
	uint8_t *bytes;
	char *b64 = NULL;

	if (status == -EINVAL) {
		axon_rpc_send_error(ctx->req, -EINVAL, "name: histograms are not enabled on %s "
				    "(bdev_enable_histogram)",
				    axon_bdev_get_name(axon_bdev_desc_get_bdev(ctx->desc)));
		goto out;
	}
	if (status == 0) {
		/* Little-endian counts, whatever the host. */
		bytes = (uint8_t *)h->bucket;
		for (uint32_t i = 0; i < h->num_buckets; i++) {
			uint64_t v = h->bucket[i];

			for (int b = 0; b < 8; b++) {
				bytes[i * 8 + b] = (uint8_t)(v >> (8 * b));
			}
		}
		b64 = base64_encode(bytes, (size_t)h->num_buckets * 8);
	}
	if (b64 == NULL) {
		axon_rpc_send_errno(ctx->req, status != 0 ? status : -ENOMEM, "bdev_get_histogram");
		goto out;
	}
	axon_rpc_send_result(ctx->req, json_pack("{s:s, s:I, s:I, s:I}", "histogram", b64,
						 "bucket_shift", (json_int_t)h->bucket_shift,
						 "granularity", (json_int_t)h->bucket_shift,
						 "tsc_rate", (json_int_t)axon_get_ticks_hz()));
	free(b64);
out:
	free(h);
	axon_bdev_close(ctx->desc);
	free(ctx);
}

struct get_histogram_params {
	char *name;
};

static const struct axon_rpc_param g_get_histogram_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct get_histogram_params, name)},
};

static void rpc_bdev_get_histogram(struct axon_rpc_request *req, const json_t *params)
{
	struct get_histogram_params p = {0};
	struct bdev_rpc_ctx *ctx;

	if (axon_rpc_decode_params(req, params, g_get_histogram_params,
				   AXON_COUNTOF(g_get_histogram_params), &p) != 0) {
		return;
	}
	ctx = bdev_rpc_open(req, p.name);
	if (ctx != NULL) {
		axon_bdev_histogram_get(axon_bdev_desc_get_bdev(ctx->desc), get_histogram_done, ctx);
	}
	axon_rpc_free_params(g_get_histogram_params, AXON_COUNTOF(g_get_histogram_params), &p);
}
AXON_RPC_REGISTER("bdev_get_histogram", rpc_bdev_get_histogram, AXON_RPC_RUNTIME)
