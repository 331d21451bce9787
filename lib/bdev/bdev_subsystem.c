/*
 * The bdev subsystem: options, the shared pools (bdev_ios, small and large
 * data buffers), the per-thread management channels that cache them, module
 * start and stop, and the subsystem's part of save_config.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "axon/event.h"
#include "bdev_internal.h"

/* ---- options --------------------------------------------------------------- */

void axon_bdev_get_opts(struct axon_bdev_opts *opts)
{
	size_t size = opts->size;

	if (size == 0) {
		return;
	}
	if (size > sizeof(*opts)) {
		size = sizeof(*opts);
	}
	memcpy((char *)opts + sizeof(opts->size), (char *)&g_bdev_mgr.opts + sizeof(opts->size),
	       size - sizeof(opts->size));
}

int axon_bdev_set_opts(const struct axon_bdev_opts *opts)
{
	struct axon_bdev_opts o = g_bdev_mgr.opts;
	size_t size = opts->size;

	if (size == 0 || size < sizeof(opts->size)) {
		return -EINVAL;
	}
	if (g_bdev_mgr.running) {
		AXON_ERRLOG("bdev options can only be set before the bdev subsystem starts");
		return -EBUSY;
	}
	if (size > sizeof(o)) {
		size = sizeof(o);
	}
	memcpy((char *)&o + sizeof(o.size), (const char *)opts + sizeof(o.size),
	       size - sizeof(o.size));
	if (o.bdev_io_pool_size == 0 || o.small_buf_pool_size == 0 ||
	    o.large_buf_pool_size == 0) {
		AXON_ERRLOG("bdev options: pool sizes must be > 0");
		return -EINVAL;
	}
	if (o.bdev_io_pool_size < o.bdev_io_cache_size) {
		AXON_ERRLOG("bdev options: bdev_io_pool_size %u is below bdev_io_cache_size %u",
			    o.bdev_io_pool_size, o.bdev_io_cache_size);
		return -EINVAL;
	}
	o.size = sizeof(o);
	g_bdev_mgr.opts = o;
	return 0;
}

/* ---- management channels ----------------------------------------------------- */

static int mgmt_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;

	(void)io_device;
	STAILQ_INIT(&mgmt->io_cache);
	TAILQ_INIT(&mgmt->io_wait_queue);
	STAILQ_INIT(&mgmt->deferred);
	STAILQ_INIT(&mgmt->small_cache);
	STAILQ_INIT(&mgmt->large_cache);
	TAILQ_INIT(&mgmt->need_small);
	TAILQ_INIT(&mgmt->need_large);
	mgmt->deferred_poller = axon_poller_register_named(bdev_deferred_poll, mgmt, 0,
							   "bdev_deferred_cpl");
	mgmt->wait_poller = axon_poller_register_named(bdev_wait_poll, mgmt, BDEV_WAIT_RETRY_US,
						       "bdev_io_wait");
	if (mgmt->deferred_poller == NULL || mgmt->wait_poller == NULL) {
		axon_poller_unregister(&mgmt->deferred_poller);
		axon_poller_unregister(&mgmt->wait_poller);
		return -ENOMEM;
	}
	axon_poller_pause(mgmt->deferred_poller);
	axon_poller_pause(mgmt->wait_poller);
	return 0;
}

static void mgmt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;
	struct axon_bdev_io *io;
	struct bdev_buf *buf;

	(void)io_device;
	assert(STAILQ_EMPTY(&mgmt->deferred));
	if (!TAILQ_EMPTY(&mgmt->io_wait_queue) || !TAILQ_EMPTY(&mgmt->need_small) ||
	    !TAILQ_EMPTY(&mgmt->need_large)) {
		AXON_ERRLOG("bdev management channel destroyed with waiters queued");
	}
	while ((io = STAILQ_FIRST(&mgmt->io_cache)) != NULL) {
		STAILQ_REMOVE_HEAD(&mgmt->io_cache, internal.stailq);
		axon_mempool_put(g_bdev_mgr.io_pool, io);
	}
	while ((buf = STAILQ_FIRST(&mgmt->small_cache)) != NULL) {
		STAILQ_REMOVE_HEAD(&mgmt->small_cache, link);
		axon_mempool_put(g_bdev_mgr.small_pool, buf);
	}
	while ((buf = STAILQ_FIRST(&mgmt->large_cache)) != NULL) {
		STAILQ_REMOVE_HEAD(&mgmt->large_cache, link);
		axon_mempool_put(g_bdev_mgr.large_pool, buf);
	}
	axon_poller_unregister(&mgmt->deferred_poller);
	axon_poller_unregister(&mgmt->wait_poller);
}

struct bdev_mgmt_channel *bdev_mgmt_get(struct axon_io_channel **ioch)
{
	*ioch = axon_get_io_channel(&g_bdev_mgr.mgmt_io_device);
	return *ioch != NULL ? axon_io_channel_get_ctx(*ioch) : NULL;
}

void bdev_mgmt_wait_arm(struct bdev_mgmt_channel *mgmt)
{
	if (!mgmt->wait_active) {
		mgmt->wait_active = true;
		axon_poller_resume(mgmt->wait_poller);
	}
}

/* ---- start and stop --------------------------------------------------------------- */

static size_t bdev_module_ctx_size(void)
{
	struct axon_bdev_module *m;
	size_t max = 0;

	TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
		if (m->get_ctx_size != NULL && (size_t)m->get_ctx_size() > max) {
			max = (size_t)m->get_ctx_size();
		}
	}
	return max;
}

static void bdev_pools_free(void)
{
	axon_mempool_free(g_bdev_mgr.io_pool);
	axon_mempool_free(g_bdev_mgr.small_pool);
	axon_mempool_free(g_bdev_mgr.large_pool);
	axon_dma_free(g_bdev_mgr.zero_buf);
	g_bdev_mgr.io_pool = NULL;
	g_bdev_mgr.small_pool = NULL;
	g_bdev_mgr.large_pool = NULL;
	g_bdev_mgr.zero_buf = NULL;
}

static int bdev_pools_create(void)
{
	const struct axon_bdev_opts *o = &g_bdev_mgr.opts;

	g_bdev_mgr.io_size = AXON_ALIGN_UP(sizeof(struct axon_bdev_io) + bdev_module_ctx_size(),
					   (size_t)64);
	g_bdev_mgr.io_pool = axon_mempool_create("axon_bdev_io", o->bdev_io_pool_size,
						 g_bdev_mgr.io_size, 0,
						 AXON_ENV_SOCKET_ID_ANY);
	/* Room to align each buffer to BDEV_BUF_ALIGN inside its element. */
	g_bdev_mgr.small_pool = axon_mempool_create("axon_bdev_small_buf",
						    o->small_buf_pool_size,
						    AXON_BDEV_SMALL_BUF_SIZE + BDEV_BUF_ALIGN, 0,
						    AXON_ENV_SOCKET_ID_ANY);
	g_bdev_mgr.large_pool = axon_mempool_create("axon_bdev_large_buf",
						    o->large_buf_pool_size,
						    AXON_BDEV_LARGE_BUF_SIZE + BDEV_BUF_ALIGN, 0,
						    AXON_ENV_SOCKET_ID_ANY);
	g_bdev_mgr.zero_buf = axon_dma_zmalloc(AXON_BDEV_LARGE_BUF_SIZE, BDEV_BUF_ALIGN,
					       AXON_ENV_SOCKET_ID_ANY);
	if (g_bdev_mgr.io_pool == NULL || g_bdev_mgr.small_pool == NULL ||
	    g_bdev_mgr.large_pool == NULL || g_bdev_mgr.zero_buf == NULL) {
		AXON_ERRLOG("bdev: cannot allocate the bdev_io and buffer pools "
			    "(bdev_io_pool_size %u, small %u, large %u)",
			    o->bdev_io_pool_size, o->small_buf_pool_size, o->large_buf_pool_size);
		bdev_pools_free();
		return -ENOMEM;
	}
	return 0;
}

int bdev_mgr_init(void)
{
	struct axon_bdev_module *m, *failed = NULL;
	int rc;

	if (g_bdev_mgr.running) {
		return -EALREADY;
	}
	rc = bdev_pools_create();
	if (rc != 0) {
		return rc;
	}
	axon_io_device_register(&g_bdev_mgr.mgmt_io_device, mgmt_channel_create,
				mgmt_channel_destroy, sizeof(struct bdev_mgmt_channel),
				"bdev_mgmt");
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
		rc = m->module_init != NULL ? m->module_init() : 0;
		if (rc != 0) {
			AXON_ERRLOG("bdev module %s failed to start: %s", m->name, strerror(-rc));
			failed = m;
			break;
		}
	}
	if (failed != NULL) {
		/* Stop the modules that started, synchronously: none has bdevs yet. */
		TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
			if (m == failed) {
				break;
			}
			if (m->module_fini != NULL && !m->async_fini) {
				m->module_fini();
			}
		}
		axon_io_device_unregister(&g_bdev_mgr.mgmt_io_device, NULL);
		bdev_pools_free();
		return rc;
	}
	g_bdev_mgr.running = true;
	return 0;
}

/* Stop modules newest first; an async_fini module resumes the walk. */
static struct axon_bdev_module *g_fini_module;
static void (*g_fini_cb)(void);

static void module_fini_next(void)
{
	struct axon_bdev_module *m;

	while ((m = g_fini_module) != NULL) {
		g_fini_module = TAILQ_PREV(m, axon_bdev_module_list_head, internal_link);
		if (m->module_fini == NULL) {
			continue;
		}
		m->module_fini();
		if (m->async_fini) {
			return; /* axon_bdev_module_fini_done() continues */
		}
	}
	g_fini_cb();
}

void axon_bdev_module_fini_done(void)
{
	module_fini_next();
}

void bdev_module_fini_all(void (*cb)(void))
{
	g_fini_cb = cb;
	g_fini_module = TAILQ_LAST(&g_bdev_mgr.modules, axon_bdev_module_list_head);
	module_fini_next();
}

static void (*g_mgr_fini_cb)(void);

static void mgr_fini_mgmt_gone(void *io_device)
{
	(void)io_device;
	bdev_pools_free();
	g_mgr_fini_cb();
}

static void mgr_fini_modules_done(void)
{
	axon_io_device_unregister(&g_bdev_mgr.mgmt_io_device, mgr_fini_mgmt_gone);
}

static void mgr_fini_bdevs_gone(void)
{
	g_bdev_mgr.running = false;
	bdev_module_fini_all(mgr_fini_modules_done);
}

void bdev_mgr_fini(void (*cb)(void))
{
	g_mgr_fini_cb = cb;
	if (!g_bdev_mgr.running) {
		cb();
		return;
	}
	bdev_unregister_all(mgr_fini_bdevs_gone);
}

/* ---- the subsystem ------------------------------------------------------------------ */

static void bdev_subsystem_init(void)
{
	axon_subsystem_init_next(bdev_mgr_init());
}

static void bdev_subsystem_fini(void)
{
	bdev_mgr_fini(axon_subsystem_fini_next);
}

static json_t *bdev_config_method(const char *method, json_t *params)
{
	json_t *obj = json_object();

	json_object_set_new(obj, "method", json_string(method));
	if (params != NULL) {
		json_object_set_new(obj, "params", params);
	}
	return obj;
}

static json_t *bdev_subsystem_config_json(void)
{
	const struct axon_bdev_opts *o = &g_bdev_mgr.opts;
	struct axon_bdev_module *m;
	struct axon_bdev *bdev;
	json_t *array = json_array();

	json_array_append_new(array, bdev_config_method("bdev_set_options",
		json_pack("{s:I, s:I, s:I, s:I, s:b}",
			  "bdev_io_pool_size", (json_int_t)o->bdev_io_pool_size,
			  "bdev_io_cache_size", (json_int_t)o->bdev_io_cache_size,
			  "small_buf_pool_size", (json_int_t)o->small_buf_pool_size,
			  "large_buf_pool_size", (json_int_t)o->large_buf_pool_size,
			  "bdev_auto_examine", o->bdev_auto_examine)));
	TAILQ_FOREACH(m, &g_bdev_mgr.modules, internal_link) {
		if (m->config_json != NULL) {
			m->config_json(array);
		}
	}
	for (bdev = axon_bdev_first(); bdev != NULL; bdev = axon_bdev_next(bdev)) {
		if (bdev->fn_table->write_config_json != NULL) {
			bdev->fn_table->write_config_json(bdev, array);
		}
	}
	/* After every bdev: limits on a stacked bdev need it to exist. */
	for (bdev = axon_bdev_first(); bdev != NULL; bdev = axon_bdev_next(bdev)) {
		bdev_qos_config_json(bdev, array);
	}
	json_array_append_new(array, bdev_config_method("bdev_wait_for_examine", NULL));
	return array;
}

static struct axon_subsystem g_bdev_subsystem = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.config_json = bdev_subsystem_config_json,
};
AXON_SUBSYSTEM_REGISTER(g_bdev_subsystem)
