/*
 * RDMA devices: enumeration, one context and one PD per device for the whole
 * process, reference counts and removal; and the library's life cycle, which
 * also starts the registration of lib/env memory.
 *
 * The context of a device is librdmacm's own (rdma_get_devices) whenever
 * librdmacm knows the device: rdma_create_qp() accepts only a PD allocated on
 * the cm_id's id->verbs, which is that context. A device librdmacm does not
 * know (no rdma_ucm module) is opened with ibv_open_device instead: usable
 * for verbs, not for CM ids.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "axon/env.h"
#include "axon/log.h"
#include "rdma_internal.h"

AXON_LOG_REGISTER_COMPONENT(rdma)

/* Name and arg of our lib/env memory event registration. */
#define RDMA_MEM_EVENT_NAME "axon_rdma"

static struct {
	pthread_mutex_t lock;
	uint32_t init_refs;
	/* Present and removed-but-referenced devices, by slot. */
	struct axon_rdma_device *devs[AXON_RDMA_MAX_DEVICES];
	/* librdmacm's contexts (rdma_get_devices), released at fini. */
	struct ibv_context **cm_ctxs;
	_Atomic(struct rdma_mem_map *) map;
	bool mem_events;
} g_rdma = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- memory registration with verbs ------------------------------------------------ */

static void *
verbs_reg(void *pd, void *addr, size_t len, uint32_t *lkey, uint32_t *rkey, int *err)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(pd, addr, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	if (mr == NULL) {
		*err = errno != 0 ? errno : EIO;
		return NULL;
	}
	*lkey = mr->lkey;
	*rkey = mr->rkey;
	return mr;
}

static void
verbs_dereg(void *handle)
{
	int rc = ibv_dereg_mr(handle);

	if (rc != 0) {
		AXON_ERRLOG("ibv_dereg_mr failed: %s\n", strerror(rc));
	}
}

static const struct rdma_mr_ops g_verbs_mr_ops = {
	.reg = verbs_reg,
	.dereg = verbs_dereg,
};

struct rdma_mem_map *
rdma_get_mem_map(void)
{
	return atomic_load_explicit(&g_rdma.map, memory_order_acquire);
}

/* ---- devices ----------------------------------------------------------------------- */

static struct ibv_context *
cm_context_of(const char *name)
{
	struct ibv_context **ctx;

	for (ctx = g_rdma.cm_ctxs; ctx != NULL && *ctx != NULL; ctx++) {
		if (strcmp(ibv_get_device_name((*ctx)->device), name) == 0) {
			return *ctx;
		}
	}
	return NULL;
}

/* Release everything dev holds, in reverse order of device_open. Under the lock. */
static void
device_free(struct axon_rdma_device *dev)
{
	struct rdma_mem_map *map = rdma_get_mem_map();
	int rc;

	if (dev->domain != NULL) {
		rdma_domain_destroy(dev);
	}
	if (map != NULL) {
		rdma_mem_map_remove_pd(map, dev->slot);
	}
	if (dev->pd != NULL) {
		rc = ibv_dealloc_pd(dev->pd);
		if (rc != 0) {
			/* A user still has a QP, CQ or MR in it: keep going, it leaks. */
			AXON_ERRLOG("%s: ibv_dealloc_pd failed: %s\n", dev->name, strerror(rc));
		}
	}
	if (dev->own_ctx && dev->ctx != NULL) {
		ibv_close_device(dev->ctx);
	}
	g_rdma.devs[dev->slot] = NULL;
	free(dev);
}

static int
device_open(struct ibv_device *ibdev, uint32_t slot, struct rdma_mem_map *map)
{
	struct axon_rdma_device *dev;
	int rc;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", ibv_get_device_name(ibdev));
	dev->slot = slot;
	g_rdma.devs[slot] = dev;
	dev->ctx = cm_context_of(dev->name);
	if (dev->ctx == NULL) {
		dev->ctx = ibv_open_device(ibdev);
		dev->own_ctx = true;
		if (dev->ctx == NULL) {
			rc = errno != 0 ? -errno : -ENODEV;
			AXON_ERRLOG("%s: cannot open: %s\n", dev->name, strerror(-rc));
			goto free_dev;
		}
	}
	rc = ibv_query_device(dev->ctx, &dev->attr);
	if (rc != 0) {
		AXON_ERRLOG("%s: ibv_query_device failed: %s\n", dev->name, strerror(rc));
		rc = -rc;
		goto free_dev;
	}
	dev->pd = ibv_alloc_pd(dev->ctx);
	if (dev->pd == NULL) {
		rc = errno != 0 ? -errno : -ENOMEM;
		AXON_ERRLOG("%s: cannot allocate a protection domain: %s\n", dev->name,
			    strerror(-rc));
		goto free_dev;
	}
	rc = rdma_mem_map_add_pd(map, slot, dev->pd);
	rc = rc ?: rdma_domain_create(dev);
	if (rc != 0) {
		goto free_dev;
	}
	dev->refs = 1;
	AXON_INFOLOG("RDMA device %s: %s context, %u port(s)\n", dev->name,
		     dev->own_ctx ? "verbs-only" : "RDMA CM", dev->attr.phys_port_cnt);
	return 0;

free_dev:
	device_free(dev);
	return rc;
}

/* Open every device in a free slot; a device that fails is skipped. */
static void
devices_open(struct rdma_mem_map *map)
{
	struct ibv_device **list;
	uint32_t slot = 0;
	int i, n = 0;

	g_rdma.cm_ctxs = rdma_get_devices(NULL);
	list = ibv_get_device_list(&n);
	if (list == NULL) {
		AXON_INFOLOG("no RDMA devices (%s)\n", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++) {
		if (slot == AXON_RDMA_MAX_DEVICES) {
			AXON_WARNLOG("more than %u RDMA devices: %s and later ones ignored\n",
				     AXON_RDMA_MAX_DEVICES, ibv_get_device_name(list[i]));
			break;
		}
		if (device_open(list[i], slot, map) == 0) {
			slot++;
		}
	}
	ibv_free_device_list(list);
}

static void
devices_close(void)
{
	struct axon_rdma_device *dev;
	uint32_t i;

	for (i = 0; i < AXON_RDMA_MAX_DEVICES; i++) {
		dev = g_rdma.devs[i];
		if (dev == NULL) {
			continue;
		}
		if (dev->refs > (atomic_load(&dev->removed) ? 0u : 1u)) {
			AXON_ERRLOG("%s: still referenced by its users at RDMA fini\n", dev->name);
		}
		device_free(dev);
	}
	if (g_rdma.cm_ctxs != NULL) {
		rdma_free_devices(g_rdma.cm_ctxs);
		g_rdma.cm_ctxs = NULL;
	}
}

/* ---- lib/env memory ---------------------------------------------------------------- */

static void
mem_event_cb(enum axon_mem_event type, const void *addr, size_t len, void *arg)
{
	struct rdma_mem_map *map = arg;
	int rc;

	if (type == AXON_MEM_EVENT_ALLOC) {
		rc = rdma_mem_map_register(map, (void *)addr, len, RDMA_MEM_OWNER_ENV);
	} else {
		rc = rdma_mem_map_unregister(map, (void *)addr, len, RDMA_MEM_OWNER_ENV);
	}
	if (rc != 0) {
		/* Unregistered memory fails translation cleanly later. */
		AXON_ERRLOG("RDMA registration of DMA memory %p+%zu (%s) failed: %s\n", addr, len,
			    type == AXON_MEM_EVENT_ALLOC ? "added" : "removed", strerror(-rc));
	}
}

static int
mem_walk_cb(void *addr, size_t len, uint64_t iova, void *arg)
{
	return rdma_mem_map_register_holes(arg, addr, len, RDMA_MEM_OWNER_ENV);
}

/*
 * Follow first, then walk: memory added between the two is registered by the
 * event and skipped by the walk (which only fills holes); the walk runs under
 * EAL's memory lock, so no event interleaves with it.
 */
static int
env_memory_start(struct rdma_mem_map *map)
{
	int rc;

	if (!axon_env_is_initialized()) {
		AXON_DEBUGLOG(rdma, "lib/env not initialised: no DMA memory to register\n");
		return 0;
	}
	rc = axon_env_register_mem_event_cb(RDMA_MEM_EVENT_NAME, mem_event_cb, map);
	if (rc != 0 && rc != -ENOTSUP) {
		AXON_ERRLOG("cannot follow DMA memory events: %s\n", strerror(-rc));
		return rc;
	}
	g_rdma.mem_events = rc == 0;
	rc = axon_env_mem_walk(mem_walk_cb, map);
	if (rc != 0) {
		AXON_ERRLOG("cannot register DMA memory with the RDMA devices: %s\n", strerror(-rc));
		return rc;
	}
	return 0;
}

static void
env_memory_stop(struct rdma_mem_map *map)
{
	if (g_rdma.mem_events) {
		axon_env_unregister_mem_event_cb(RDMA_MEM_EVENT_NAME, map);
		g_rdma.mem_events = false;
	}
}

/* ---- library life cycle ------------------------------------------------------------- */

static void
library_teardown(struct rdma_mem_map *map)
{
	env_memory_stop(map);
	devices_close();
	atomic_store_explicit(&g_rdma.map, NULL, memory_order_release);
	rdma_mem_map_destroy(map);
}

int
axon_rdma_init(void)
{
	struct rdma_mem_map *map;
	int rc = 0;

	pthread_mutex_lock(&g_rdma.lock);
	if (g_rdma.init_refs > 0) {
		g_rdma.init_refs++;
		goto unlock;
	}
	map = rdma_mem_map_create(&g_verbs_mr_ops);
	if (map == NULL) {
		rc = -ENOMEM;
		goto unlock;
	}
	atomic_store_explicit(&g_rdma.map, map, memory_order_release);
	devices_open(map);
	rc = env_memory_start(map);
	if (rc != 0) {
		library_teardown(map);
		goto unlock;
	}
	g_rdma.init_refs = 1;
unlock:
	pthread_mutex_unlock(&g_rdma.lock);
	return rc;
}

void
axon_rdma_fini(void)
{
	pthread_mutex_lock(&g_rdma.lock);
	if (g_rdma.init_refs > 0 && --g_rdma.init_refs == 0) {
		library_teardown(rdma_get_mem_map());
	}
	pthread_mutex_unlock(&g_rdma.lock);
}

bool
axon_rdma_is_initialized(void)
{
	return rdma_get_mem_map() != NULL;
}

/* ---- lookups and references ----------------------------------------------------------- */

static bool
device_is_present(const struct axon_rdma_device *dev)
{
	return dev != NULL && !atomic_load(&dev->removed);
}

struct axon_rdma_device *
axon_rdma_device_get_by_name(const char *name)
{
	struct axon_rdma_device *dev, *found = NULL;
	uint32_t i;

	if (name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_rdma.lock);
	for (i = 0; i < AXON_RDMA_MAX_DEVICES && found == NULL; i++) {
		dev = g_rdma.devs[i];
		if (device_is_present(dev) && strcmp(dev->name, name) == 0) {
			dev->refs++;
			found = dev;
		}
	}
	pthread_mutex_unlock(&g_rdma.lock);
	return found;
}

struct axon_rdma_device *
axon_rdma_device_get_by_context(struct ibv_context *ctx)
{
	struct axon_rdma_device *dev, *found = NULL;
	const char *name;
	uint32_t i;

	if (ctx == NULL) {
		return NULL;
	}
	/* Another library's context for the same device has the same name. */
	name = ibv_get_device_name(ctx->device);
	pthread_mutex_lock(&g_rdma.lock);
	for (i = 0; i < AXON_RDMA_MAX_DEVICES && found == NULL; i++) {
		dev = g_rdma.devs[i];
		if (device_is_present(dev) &&
		    (dev->ctx == ctx || (name != NULL && strcmp(dev->name, name) == 0))) {
			dev->refs++;
			found = dev;
		}
	}
	pthread_mutex_unlock(&g_rdma.lock);
	return found;
}

void
axon_rdma_device_get(struct axon_rdma_device *dev)
{
	pthread_mutex_lock(&g_rdma.lock);
	assert(dev->refs > 0);
	dev->refs++;
	pthread_mutex_unlock(&g_rdma.lock);
}

static void
device_unref_locked(struct axon_rdma_device *dev)
{
	assert(dev->refs > 0);
	if (--dev->refs == 0) {
		AXON_NOTICELOG("RDMA device %s released\n", dev->name);
		device_free(dev);
	}
}

void
axon_rdma_device_put(struct axon_rdma_device *dev)
{
	if (dev == NULL) {
		return;
	}
	pthread_mutex_lock(&g_rdma.lock);
	device_unref_locked(dev);
	pthread_mutex_unlock(&g_rdma.lock);
}

void
axon_rdma_device_set_removed(struct axon_rdma_device *dev)
{
	pthread_mutex_lock(&g_rdma.lock);
	if (!atomic_exchange(&dev->removed, true)) {
		AXON_NOTICELOG("RDMA device %s removed: released once its users let go\n", dev->name);
		device_unref_locked(dev);
	}
	pthread_mutex_unlock(&g_rdma.lock);
}

int
axon_rdma_device_foreach(int (*fn)(struct axon_rdma_device *dev, void *arg), void *arg)
{
	uint32_t i;
	int rc = 0;

	pthread_mutex_lock(&g_rdma.lock);
	for (i = 0; i < AXON_RDMA_MAX_DEVICES && rc == 0; i++) {
		if (device_is_present(g_rdma.devs[i])) {
			rc = fn(g_rdma.devs[i], arg);
		}
	}
	pthread_mutex_unlock(&g_rdma.lock);
	return rc;
}

uint32_t
axon_rdma_device_count(void)
{
	uint32_t i, n = 0;

	pthread_mutex_lock(&g_rdma.lock);
	for (i = 0; i < AXON_RDMA_MAX_DEVICES; i++) {
		n += device_is_present(g_rdma.devs[i]) ? 1 : 0;
	}
	pthread_mutex_unlock(&g_rdma.lock);
	return n;
}

const char *
axon_rdma_device_get_name(const struct axon_rdma_device *dev)
{
	return dev->name;
}

struct ibv_context *
axon_rdma_device_get_context(const struct axon_rdma_device *dev)
{
	return dev->ctx;
}

struct ibv_pd *
axon_rdma_device_get_pd(const struct axon_rdma_device *dev)
{
	return dev->pd;
}

const struct ibv_device_attr *
axon_rdma_device_get_attr(const struct axon_rdma_device *dev)
{
	return &dev->attr;
}

struct axon_memory_domain *
axon_rdma_device_get_memory_domain(const struct axon_rdma_device *dev)
{
	return dev->domain;
}

bool
axon_rdma_device_is_removed(const struct axon_rdma_device *dev)
{
	return atomic_load(&dev->removed);
}

/* ---- memory registration API ---------------------------------------------------------- */

int
axon_rdma_mem_register(void *addr, size_t len)
{
	struct rdma_mem_map *map = rdma_get_mem_map();

	return map != NULL ? rdma_mem_map_register(map, addr, len, RDMA_MEM_OWNER_USER) : -ENODEV;
}

int
axon_rdma_mem_unregister(void *addr, size_t len)
{
	struct rdma_mem_map *map = rdma_get_mem_map();

	return map != NULL ? rdma_mem_map_unregister(map, addr, len, RDMA_MEM_OWNER_USER) : -ENODEV;
}

int
axon_rdma_mem_get_stats(struct axon_rdma_mem_stats *stats)
{
	struct rdma_mem_map *map = rdma_get_mem_map();

	if (map == NULL) {
		return -ENODEV;
	}
	rdma_mem_map_get_stats(map, stats);
	return 0;
}
