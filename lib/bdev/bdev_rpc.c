/*
 * Layer-wide JSON-RPC methods, with SPDK's names, parameters and result
 * shapes: bdev_get_bdevs, bdev_get_iostat (also per_channel), bdev_set_options,
 * bdev_wait_for_examine. QoS and histograms: bdev_qos_rpc.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "axon/rpc.h"
#include "bdev_internal.h"

/* How often bdev_get_bdevs looks again for a bdev it was told to wait for. */
#define GET_BDEVS_POLL_US 1000u

/* I/O types SPDK reports that Axon does not have: always false. */
static const char *const g_absent_io_types[] = {
	"abort", "seek_hole", "seek_data", "copy", "nvme_io_md", "zcopy",
	"get_zone_info", "zone_management", "zone_append", "nvme_iov_md",
};

static json_t *bdev_info_json(struct axon_bdev *bdev)
{
	char uuid[AXON_UUID_STRING_LEN];
	const char *const *aliases;
	const char *claimer = NULL;
	json_t *obj, *arr, *types, *driver;
	uint64_t qos[AXON_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	uint32_t n;

	axon_uuid_fmt_lower(uuid, sizeof(uuid), axon_bdev_get_uuid(bdev));
	arr = json_array();
	aliases = axon_bdev_get_aliases(bdev, &n);
	for (uint32_t i = 0; i < n; i++) {
		json_array_append_new(arr, json_string(aliases[i]));
	}
	types = json_object();
	for (int t = AXON_BDEV_IO_TYPE_READ; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		json_object_set_new(types, axon_bdev_io_type_name((enum axon_bdev_io_type)t),
				    json_boolean(axon_bdev_io_type_supported(
					    bdev, (enum axon_bdev_io_type)t)));
	}
	for (size_t i = 0; i < AXON_COUNTOF(g_absent_io_types); i++) {
		json_object_set_new(types, g_absent_io_types[i], json_false());
	}
	axon_bdev_get_qos_rate_limits(bdev, qos);
	driver = json_object();
	if (bdev->fn_table->dump_info_json != NULL) {
		bdev->fn_table->dump_info_json(bdev->ctxt, driver);
	}
	obj = json_pack("{s:s, s:o, s:s, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I}, s:b, s:b, "
			"s:o, s:o}",
			"name", axon_bdev_get_name(bdev), "aliases", arr,
			"product_name", axon_bdev_get_product_name(bdev),
			"block_size", (json_int_t)bdev->blocklen,
			"num_blocks", (json_int_t)bdev->blockcnt, "uuid", uuid,
			"assigned_rate_limits",
			"rw_ios_per_sec", (json_int_t)qos[AXON_BDEV_QOS_RW_IOPS_RATE_LIMIT],
			"rw_mbytes_per_sec", (json_int_t)qos[AXON_BDEV_QOS_RW_BPS_RATE_LIMIT],
			"r_mbytes_per_sec", (json_int_t)qos[AXON_BDEV_QOS_R_BPS_RATE_LIMIT],
			"w_mbytes_per_sec", (json_int_t)qos[AXON_BDEV_QOS_W_BPS_RATE_LIMIT],
			"claimed", axon_bdev_is_claimed(bdev, &claimer), "zoned", 0,
			"supported_io_types", types, "driver_specific", driver);
	if (claimer != NULL) {
		json_object_set_new(obj, "claim_type", json_string("exclusive_write"));
		json_object_set_new(obj, "claimed_by", json_string(claimer));
	}
	json_object_set_new(obj, "module", json_string(axon_bdev_get_module_name(bdev)));
	json_object_set_new(obj, "write_cache", json_boolean(bdev->write_cache));
	json_object_set_new(obj, "required_alignment",
			    json_integer(bdev->required_alignment));
	if (bdev->optimal_io_boundary != 0) {
		json_object_set_new(obj, "optimal_io_boundary",
				    json_integer(bdev->optimal_io_boundary));
	}
	if (bdev->md_len != 0) {
		json_object_set_new(obj, "md_size", json_integer(bdev->md_len));
		json_object_set_new(obj, "md_interleave", json_boolean(bdev->md_interleave));
	}
	return obj;
}

/* ---- bdev_get_bdevs ---------------------------------------------------------- */

struct get_bdevs_params {
	char *name;
	uint64_t timeout;
};

static const struct axon_rpc_param g_get_bdevs_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct get_bdevs_params, name), .optional = true},
	{.name = "timeout", .type = AXON_RPC_PARAM_UINT64,
	 .offset = offsetof(struct get_bdevs_params, timeout), .optional = true},
};

struct get_bdevs_wait {
	struct axon_rpc_request *req;
	char *name;
	uint64_t deadline;
	struct axon_poller *poller;
};

static int get_bdevs_poll(void *arg)
{
	struct get_bdevs_wait *w = arg;
	struct axon_bdev *bdev = axon_bdev_get_by_name(w->name);

	if (bdev == NULL && axon_get_ticks() < w->deadline) {
		return AXON_POLLER_IDLE;
	}
	if (bdev != NULL) {
		axon_rpc_send_result(w->req, json_pack("[o]", bdev_info_json(bdev)));
	} else {
		axon_rpc_send_error(w->req, -ENODEV, "name: no bdev named %s", w->name);
	}
	axon_poller_unregister(&w->poller);
	free(w->name);
	free(w);
	return AXON_POLLER_BUSY;
}

static void rpc_bdev_get_bdevs(struct axon_rpc_request *req, const json_t *params)
{
	struct get_bdevs_params p = {0};
	struct get_bdevs_wait *w;
	struct axon_bdev *bdev;
	json_t *arr;

	if (axon_rpc_decode_params(req, params, g_get_bdevs_params,
				   AXON_COUNTOF(g_get_bdevs_params), &p) != 0) {
		return;
	}
	if (p.name == NULL) {
		arr = json_array();
		for (bdev = axon_bdev_first(); bdev != NULL; bdev = axon_bdev_next(bdev)) {
			json_array_append_new(arr, bdev_info_json(bdev));
		}
		axon_rpc_send_result(req, arr);
		goto out;
	}
	bdev = axon_bdev_get_by_name(p.name);
	if (bdev != NULL) {
		axon_rpc_send_result(req, json_pack("[o]", bdev_info_json(bdev)));
		goto out;
	}
	if (p.timeout == 0) {
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", p.name);
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "bdev_get_bdevs");
		goto out;
	}
	w->req = req;
	w->name = p.name;
	p.name = NULL;
	w->deadline = axon_get_ticks() + p.timeout * axon_get_ticks_hz() / 1000u;
	w->poller = axon_poller_register(get_bdevs_poll, w, GET_BDEVS_POLL_US);
	if (w->poller == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "bdev_get_bdevs");
		free(w->name);
		free(w);
	}
out:
	axon_rpc_free_params(g_get_bdevs_params, AXON_COUNTOF(g_get_bdevs_params), &p);
}
AXON_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, AXON_RPC_RUNTIME)

/* ---- bdev_get_iostat ------------------------------------------------------------ */

struct get_iostat_params {
	char *name;
	bool per_channel;
};

static const struct axon_rpc_param g_get_iostat_params[] = {
	{.name = "name", .type = AXON_RPC_PARAM_STRING,
	 .offset = offsetof(struct get_iostat_params, name), .optional = true},
	{.name = "per_channel", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct get_iostat_params, per_channel), .optional = true},
};

struct iostat_ctx {
	struct axon_rpc_request *req;
	struct axon_bdev_desc **descs;
	uint32_t count;
	uint32_t next;
	struct axon_bdev_io_stat stat;
	json_t *bdevs;
};

static void iostat_event_cb(enum axon_bdev_event_type type, struct axon_bdev *bdev, void *ctx)
{
	/* The descriptor is closed as soon as the bdev's figures are in. */
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void iostat_add_type(json_t *obj, const char *ops_key, const char *bytes_key,
			    const char *lat_key, const struct axon_bdev_io_type_stat *t)
{
	char key[64];

	json_object_set_new(obj, bytes_key, json_integer((json_int_t)t->bytes));
	json_object_set_new(obj, ops_key, json_integer((json_int_t)t->ops));
	json_object_set_new(obj, lat_key, json_integer((json_int_t)t->latency_ticks));
	snprintf(key, sizeof(key), "max_%s", lat_key);
	json_object_set_new(obj, key, json_integer((json_int_t)t->max_latency_ticks));
	snprintf(key, sizeof(key), "min_%s", lat_key);
	json_object_set_new(obj, key,
			    json_integer(t->ops ? (json_int_t)t->min_latency_ticks : 0));
}

static json_t *iostat_json(struct axon_bdev *bdev, const struct axon_bdev_io_stat *s)
{
	static const struct axon_bdev_io_type_stat none = {0};
	json_t *obj = json_object();
	json_t *errors = json_object();
	uint64_t total_errors = 0;

	json_object_set_new(obj, "name", json_string(axon_bdev_get_name(bdev)));
	iostat_add_type(obj, "num_read_ops", "bytes_read", "read_latency_ticks",
			&s->type[AXON_BDEV_IO_TYPE_READ]);
	iostat_add_type(obj, "num_write_ops", "bytes_written", "write_latency_ticks",
			&s->type[AXON_BDEV_IO_TYPE_WRITE]);
	iostat_add_type(obj, "num_unmap_ops", "bytes_unmapped", "unmap_latency_ticks",
			&s->type[AXON_BDEV_IO_TYPE_UNMAP]);
	iostat_add_type(obj, "num_copy_ops", "bytes_copied", "copy_latency_ticks", &none);
	for (int t = AXON_BDEV_IO_TYPE_READ; t < AXON_BDEV_NUM_IO_TYPES; t++) {
		if (s->type[t].errors != 0) {
			json_object_set_new(errors, axon_bdev_io_type_name((enum axon_bdev_io_type)t),
					    json_integer((json_int_t)s->type[t].errors));
			total_errors += s->type[t].errors;
		}
	}
	json_object_set_new(obj, "num_flush_ops",
			    json_integer((json_int_t)s->type[AXON_BDEV_IO_TYPE_FLUSH].ops));
	json_object_set_new(obj, "num_write_zeroes_ops",
			    json_integer((json_int_t)s->type[AXON_BDEV_IO_TYPE_WRITE_ZEROES].ops));
	json_object_set_new(obj, "io_errors", json_integer((json_int_t)total_errors));
	json_object_set_new(obj, "io_error", errors);
	return obj;
}

static void iostat_next(struct iostat_ctx *ctx);

static void iostat_got(struct axon_bdev *bdev, struct axon_bdev_io_stat *stat, void *arg, int rc)
{
	struct iostat_ctx *ctx = arg;

	if (rc == 0) {
		json_array_append_new(ctx->bdevs, iostat_json(bdev, stat));
	}
	axon_bdev_close(ctx->descs[ctx->next - 1]);
	iostat_next(ctx);
}

static void iostat_next(struct iostat_ctx *ctx)
{
	if (ctx->next < ctx->count) {
		struct axon_bdev_desc *desc = ctx->descs[ctx->next++];

		axon_bdev_get_device_stat(axon_bdev_desc_get_bdev(desc), &ctx->stat, iostat_got,
					  ctx);
		return;
	}
	axon_rpc_send_result(ctx->req, json_pack("{s:I, s:I, s:o}",
						 "tick_rate", (json_int_t)axon_get_ticks_hz(),
						 "ticks", (json_int_t)axon_get_ticks(),
						 "bdevs", ctx->bdevs));
	free(ctx->descs);
	free(ctx);
}

/* Open a descriptor on each bdev asked for, so none goes away mid-walk. */
static int iostat_open(struct iostat_ctx *ctx, const char *name)
{
	struct axon_bdev *bdev;
	uint32_t n = 0;

	for (bdev = axon_bdev_first(); bdev != NULL; bdev = axon_bdev_next(bdev)) {
		n++;
	}
	ctx->descs = calloc(n ? n : 1, sizeof(*ctx->descs));
	if (ctx->descs == NULL) {
		return -ENOMEM;
	}
	for (bdev = axon_bdev_first(); bdev != NULL; bdev = axon_bdev_next(bdev)) {
		if (name != NULL && axon_bdev_get_by_name(name) != bdev) {
			continue;
		}
		if (axon_bdev_open_ext(axon_bdev_get_name(bdev), false, iostat_event_cb, NULL,
				       &ctx->descs[ctx->count]) == 0) {
			ctx->count++;
		}
	}
	return 0;
}

/* per_channel: {"tick_rate", "ticks", "name", "channels": [{"thread_id",
 * "thread", and the figures of iostat_json}]}, one entry per live channel. */
struct iostat_ch_ctx {
	struct axon_rpc_request *req;
	struct axon_bdev_desc *desc;
	json_t *channels;
};

static void iostat_ch_visit(struct axon_io_channel_iter *i)
{
	struct iostat_ch_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_io_channel *ch = axon_io_channel_iter_get_channel(i);
	struct axon_bdev *bdev = axon_bdev_desc_get_bdev(ctx->desc);
	struct axon_thread *thread = axon_io_channel_get_thread(ch);
	struct axon_bdev_io_stat stat;
	json_t *obj;

	axon_bdev_get_io_stat(bdev, ch, &stat);
	obj = iostat_json(bdev, &stat);
	json_object_del(obj, "name");
	json_object_set_new(obj, "thread_id", json_integer((json_int_t)axon_thread_get_id(thread)));
	json_object_set_new(obj, "thread", json_string(axon_thread_get_name(thread)));
	/* Channels are visited one thread at a time: no two appends at once. */
	json_array_append_new(ctx->channels, obj);
	axon_for_each_channel_continue(i, 0);
}

static void iostat_ch_done(struct axon_io_channel_iter *i, int status)
{
	struct iostat_ch_ctx *ctx = axon_io_channel_iter_get_ctx(i);
	struct axon_bdev *bdev = axon_bdev_desc_get_bdev(ctx->desc);

	(void)status; /* -ENODEV: no channel */
	axon_rpc_send_result(ctx->req, json_pack("{s:I, s:I, s:s, s:o}",
						 "tick_rate", (json_int_t)axon_get_ticks_hz(),
						 "ticks", (json_int_t)axon_get_ticks(),
						 "name", axon_bdev_get_name(bdev),
						 "channels", ctx->channels));
	axon_bdev_close(ctx->desc);
	free(ctx);
}

static void iostat_per_channel(struct axon_rpc_request *req, const char *name)
{
	struct iostat_ch_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		axon_rpc_send_errno(req, -ENOMEM, "bdev_get_iostat");
		return;
	}
	if (axon_bdev_open_ext(name, false, iostat_event_cb, NULL, &ctx->desc) != 0) {
		free(ctx);
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", name);
		return;
	}
	ctx->req = req;
	ctx->channels = json_array();
	axon_for_each_channel(axon_bdev_get_io_device(axon_bdev_desc_get_bdev(ctx->desc)),
			      iostat_ch_visit, ctx, iostat_ch_done);
}

static void rpc_bdev_get_iostat(struct axon_rpc_request *req, const json_t *params)
{
	struct get_iostat_params p = {0};
	struct iostat_ctx *ctx;

	if (axon_rpc_decode_params(req, params, g_get_iostat_params,
				   AXON_COUNTOF(g_get_iostat_params), &p) != 0) {
		return;
	}
	if (p.name != NULL && axon_bdev_get_by_name(p.name) == NULL) {
		axon_rpc_send_error(req, -ENODEV, "name: no bdev named %s", p.name);
		goto out;
	}
	if (p.per_channel) {
		if (p.name == NULL) {
			axon_rpc_send_param_error(req, "per_channel", "needs name: the "
						  "channels of one bdev are listed");
		} else {
			iostat_per_channel(req, p.name);
		}
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || iostat_open(ctx, p.name) != 0) {
		free(ctx);
		axon_rpc_send_errno(req, -ENOMEM, "bdev_get_iostat");
		goto out;
	}
	ctx->req = req;
	ctx->bdevs = json_array();
	iostat_next(ctx);
out:
	axon_rpc_free_params(g_get_iostat_params, AXON_COUNTOF(g_get_iostat_params), &p);
}
AXON_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, AXON_RPC_RUNTIME)

/* ---- bdev_set_options -------------------------------------------------------------- */

static const struct axon_rpc_param g_set_options_params[] = {
	{.name = "bdev_io_pool_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct axon_bdev_opts, bdev_io_pool_size), .optional = true,
	 .min = 1, .max = UINT32_MAX},
	{.name = "bdev_io_cache_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct axon_bdev_opts, bdev_io_cache_size), .optional = true},
	{.name = "small_buf_pool_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct axon_bdev_opts, small_buf_pool_size), .optional = true,
	 .min = 1, .max = UINT32_MAX},
	{.name = "large_buf_pool_size", .type = AXON_RPC_PARAM_UINT32,
	 .offset = offsetof(struct axon_bdev_opts, large_buf_pool_size), .optional = true,
	 .min = 1, .max = UINT32_MAX},
	{.name = "bdev_auto_examine", .type = AXON_RPC_PARAM_BOOL,
	 .offset = offsetof(struct axon_bdev_opts, bdev_auto_examine), .optional = true},
};

static void rpc_bdev_set_options(struct axon_rpc_request *req, const json_t *params)
{
	struct axon_bdev_opts o = {.size = sizeof(o)};

	axon_bdev_get_opts(&o);
	if (axon_rpc_decode_params(req, params, g_set_options_params,
				   AXON_COUNTOF(g_set_options_params), &o) != 0) {
		return;
	}
	if (o.bdev_io_pool_size < o.bdev_io_cache_size) {
		axon_rpc_send_param_error(req, "bdev_io_pool_size",
					  "expected at least bdev_io_cache_size (%u), got %u",
					  o.bdev_io_cache_size, o.bdev_io_pool_size);
		return;
	}
	if (axon_bdev_set_opts(&o) != 0) {
		axon_rpc_send_error(req, AXON_JSONRPC_ERROR_INVALID_STATE,
				    "bdev options can only be set before the subsystems start");
		return;
	}
	axon_rpc_send_bool(req, true);
}
AXON_RPC_REGISTER("bdev_set_options", rpc_bdev_set_options, AXON_RPC_STARTUP)

/* ---- bdev_wait_for_examine ------------------------------------------------------------ */

static void wait_for_examine_done(void *arg)
{
	axon_rpc_send_bool(arg, true);
}

static void rpc_bdev_wait_for_examine(struct axon_rpc_request *req, const json_t *params)
{
	if (axon_rpc_expect_no_params(req, params) != 0) {
		return;
	}
	if (axon_bdev_wait_for_examine(wait_for_examine_done, req) != 0) {
		axon_rpc_send_errno(req, -ENOMEM, "bdev_wait_for_examine");
	}
}
AXON_RPC_REGISTER("bdev_wait_for_examine", rpc_bdev_wait_for_examine, AXON_RPC_RUNTIME)
