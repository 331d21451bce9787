/*
 * Memory domains: the registry (create, destroy, lookup), getters and setters,
 * and the entry points that dispatch to a domain's callbacks.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"

#include "dma_internal.h"

/* Every domain except the system domain, in creation order. The mutex guards
 * the list only; the data entry points never take it. */
static TAILQ_HEAD(, axon_memory_domain) g_dma_domains = TAILQ_HEAD_INITIALIZER(g_dma_domains);
static pthread_mutex_t g_dma_domains_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
dma_device_type_valid(enum axon_dma_device_type type)
{
	return axon_dma_device_type_name(type) != NULL;
}

const char *
axon_dma_device_type_name(enum axon_dma_device_type type)
{
	/* Through int: a caller may hand us any value cast to the enum. */
	int t = (int)type;

	switch (t) {
	case AXON_DMA_DEVICE_TYPE_RDMA:
		return "RDMA";
	case AXON_DMA_DEVICE_TYPE_DMA:
		return "DMA";
	case AXON_DMA_DEVICE_TYPE_ACCEL:
		return "ACCEL";
	default:
		break;
	}
	if (t >= AXON_DMA_DEVICE_TYPE_VENDOR_START && t <= AXON_DMA_DEVICE_TYPE_VENDOR_END) {
		return "VENDOR";
	}
	return NULL;
}

/* Copy the caller's ctx and user context into domain. */
static int
dma_domain_copy_ctx(struct axon_memory_domain *domain, const struct axon_memory_domain_ctx *ctx)
{
	size_t n;

	if (ctx->size == 0) {
		AXON_ERRLOG("memory domain ctx: size is 0 (set it to sizeof the structure)\n");
		return -EINVAL;
	}
	n = ctx->size < sizeof(domain->ctx) ? ctx->size : sizeof(domain->ctx);
	memcpy(&domain->ctx, ctx, n);
	domain->ctx.size = sizeof(domain->ctx);
	domain->ctx.user_ctx = NULL;
	domain->has_ctx = true;

	/* A caller older than user_ctx_size has neither field: treat as none. */
	if (n < offsetof(struct axon_memory_domain_ctx, user_ctx_size) + sizeof(size_t)) {
		domain->ctx.user_ctx_size = 0;
		return 0;
	}
	if ((ctx->user_ctx == NULL) != (ctx->user_ctx_size == 0)) {
		AXON_ERRLOG("memory domain ctx: user_ctx %p with user_ctx_size %zu\n",
			    ctx->user_ctx, ctx->user_ctx_size);
		return -EINVAL;
	}
	if (ctx->user_ctx_size == 0) {
		return 0;
	}
	domain->ctx.user_ctx = malloc(ctx->user_ctx_size);
	if (domain->ctx.user_ctx == NULL) {
		AXON_ERRLOG("memory domain ctx: cannot allocate %zu bytes of user context\n",
			    ctx->user_ctx_size);
		return -ENOMEM;
	}
	memcpy(domain->ctx.user_ctx, ctx->user_ctx, ctx->user_ctx_size);
	return 0;
}

int
axon_memory_domain_create(struct axon_memory_domain **domain, enum axon_dma_device_type type,
			  const struct axon_memory_domain_ctx *ctx, const char *id)
{
	struct axon_memory_domain *d;
	int rc;

	if (domain == NULL || id == NULL || id[0] == '\0') {
		AXON_ERRLOG("memory domain: a result pointer and a non-empty id are required\n");
		return -EINVAL;
	}
	if (!dma_device_type_valid(type)) {
		AXON_ERRLOG("memory domain %s: invalid DMA device type %d\n", id, (int)type);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		AXON_ERRLOG("memory domain %s: out of memory\n", id);
		return -ENOMEM;
	}
	d->type = type;
	d->id = strdup(id);
	if (d->id == NULL) {
		AXON_ERRLOG("memory domain %s: out of memory\n", id);
		rc = -ENOMEM;
		goto free_domain;
	}
	if (ctx != NULL) {
		rc = dma_domain_copy_ctx(d, ctx);
		if (rc != 0) {
			goto free_id;
		}
	}

	pthread_mutex_lock(&g_dma_domains_lock);
	TAILQ_INSERT_TAIL(&g_dma_domains, d, link);
	pthread_mutex_unlock(&g_dma_domains_lock);
	*domain = d;
	return 0;

free_id:
	free(d->id);
free_domain:
	free(d);
	return rc;
}

void
axon_memory_domain_destroy(struct axon_memory_domain *domain)
{
	if (domain == NULL) {
		return;
	}
	if (domain == &g_dma_system_domain) {
		AXON_ERRLOG("the system memory domain cannot be destroyed\n");
		return;
	}
	pthread_mutex_lock(&g_dma_domains_lock);
	TAILQ_REMOVE(&g_dma_domains, domain, link);
	pthread_mutex_unlock(&g_dma_domains_lock);

	free(domain->ctx.user_ctx);
	free(domain->id);
	free(domain);
}

static bool
dma_domain_matches(const struct axon_memory_domain *domain, const char *id)
{
	return id == NULL || strcmp(domain->id, id) == 0;
}

/* First matching domain at or after d in the list. Lock held. */
static struct axon_memory_domain *
dma_domain_find_from(struct axon_memory_domain *d, const char *id)
{
	while (d != NULL && !dma_domain_matches(d, id)) {
		d = TAILQ_NEXT(d, link);
	}
	return d;
}

struct axon_memory_domain *
axon_memory_domain_get_first(const char *id)
{
	struct axon_memory_domain *d;

	/* The system domain heads every walk without being in the list, so it
	 * needs no constructor and is never freed. */
	if (dma_domain_matches(&g_dma_system_domain, id)) {
		return &g_dma_system_domain;
	}
	pthread_mutex_lock(&g_dma_domains_lock);
	d = dma_domain_find_from(TAILQ_FIRST(&g_dma_domains), id);
	pthread_mutex_unlock(&g_dma_domains_lock);
	return d;
}

struct axon_memory_domain *
axon_memory_domain_get_next(struct axon_memory_domain *prev, const char *id)
{
	struct axon_memory_domain *d;

	if (prev == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_dma_domains_lock);
	if (prev == &g_dma_system_domain) {
		d = TAILQ_FIRST(&g_dma_domains);
	} else {
		d = TAILQ_NEXT(prev, link);
	}
	d = dma_domain_find_from(d, id);
	pthread_mutex_unlock(&g_dma_domains_lock);
	return d;
}

/* ---- getters ------------------------------------------------------------- */

enum axon_dma_device_type
axon_memory_domain_get_dma_device_type(const struct axon_memory_domain *domain)
{
	assert(domain != NULL);
	return domain->type;
}

const char *
axon_memory_domain_get_dma_device_id(const struct axon_memory_domain *domain)
{
	return domain != NULL ? domain->id : NULL;
}

struct axon_memory_domain_ctx *
axon_memory_domain_get_context(struct axon_memory_domain *domain)
{
	if (domain == NULL || !domain->has_ctx) {
		return NULL;
	}
	return &domain->ctx;
}

void *
axon_memory_domain_get_user_context(struct axon_memory_domain *domain, size_t *ctx_size)
{
	void *user_ctx = NULL;
	size_t size = 0;

	if (domain != NULL) {
		user_ctx = domain->ctx.user_ctx;
		size = domain->ctx.user_ctx_size;
	}
	if (ctx_size != NULL) {
		*ctx_size = size;
	}
	return user_ctx;
}

/* ---- setters ------------------------------------------------------------- */

/* The system domain's callbacks are fixed: a caller replacing them would
 * break every other user of the process-wide domain. */
static bool
dma_domain_settable(const struct axon_memory_domain *domain, const char *what)
{
	if (domain == NULL) {
		return false;
	}
	if (domain == &g_dma_system_domain) {
		AXON_ERRLOG("the system memory domain's %s callback cannot be changed\n", what);
		return false;
	}
	return true;
}

void
axon_memory_domain_set_translation(struct axon_memory_domain *domain,
				   axon_memory_domain_translate_cb translate_cb)
{
	if (dma_domain_settable(domain, "translate")) {
		domain->translate_cb = translate_cb;
	}
}

void
axon_memory_domain_set_invalidate(struct axon_memory_domain *domain,
				  axon_memory_domain_invalidate_cb invalidate_cb)
{
	if (dma_domain_settable(domain, "invalidate")) {
		domain->invalidate_cb = invalidate_cb;
	}
}

void
axon_memory_domain_set_pull(struct axon_memory_domain *domain, axon_memory_domain_pull_cb pull_cb)
{
	if (dma_domain_settable(domain, "pull")) {
		domain->pull_cb = pull_cb;
	}
}

void
axon_memory_domain_set_push(struct axon_memory_domain *domain, axon_memory_domain_push_cb push_cb)
{
	if (dma_domain_settable(domain, "push")) {
		domain->push_cb = push_cb;
	}
}

void
axon_memory_domain_set_transfer(struct axon_memory_domain *domain,
				axon_memory_domain_transfer_cb transfer_cb)
{
	if (dma_domain_settable(domain, "transfer")) {
		domain->transfer_cb = transfer_cb;
	}
}

void
axon_memory_domain_set_memzero(struct axon_memory_domain *domain,
			       axon_memory_domain_memzero_cb memzero_cb)
{
	if (dma_domain_settable(domain, "memzero")) {
		domain->memzero_cb = memzero_cb;
	}
}

/* ---- data entry points --------------------------------------------------- */

/* No logging here: these run on the data path, and every failure is reported
 * to the caller as a return value. */

static bool
dma_iov_arg_valid(const struct iovec *iov, uint32_t iovcnt)
{
	return iov != NULL || iovcnt == 0;
}

int
axon_memory_domain_translate_data(struct axon_memory_domain *src_domain, void *src_domain_ctx,
				  struct axon_memory_domain *dst_domain,
				  struct axon_memory_domain_translation_ctx *dst_domain_ctx,
				  void *addr, size_t len,
				  struct axon_memory_domain_translation_result *result)
{
	if (src_domain == NULL || dst_domain == NULL || result == NULL || result->size == 0 ||
	    len == 0 || (dst_domain_ctx != NULL && dst_domain_ctx->size == 0)) {
		return -EINVAL;
	}
	if (src_domain->translate_cb == NULL) {
		return -ENOTSUP;
	}
	return src_domain->translate_cb(src_domain, src_domain_ctx, dst_domain, dst_domain_ctx,
					addr, len, result);
}

int
axon_memory_domain_invalidate_data(struct axon_memory_domain *domain, void *domain_ctx,
				   const struct iovec *iov, uint32_t iovcnt)
{
	if (domain == NULL || !dma_iov_arg_valid(iov, iovcnt)) {
		return -EINVAL;
	}
	if (domain->invalidate_cb == NULL) {
		return -ENOTSUP;
	}
	domain->invalidate_cb(domain, domain_ctx, iov, iovcnt);
	return 0;
}

int
axon_memory_domain_pull_data(struct axon_memory_domain *src_domain, void *src_domain_ctx,
			     const struct iovec *src_iov, uint32_t src_iovcnt,
			     const struct iovec *dst_iov, uint32_t dst_iovcnt,
			     axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	if (src_domain == NULL || cpl_cb == NULL || !dma_iov_arg_valid(src_iov, src_iovcnt) ||
	    !dma_iov_arg_valid(dst_iov, dst_iovcnt)) {
		return -EINVAL;
	}
	if (src_domain->pull_cb == NULL) {
		return -ENOTSUP;
	}
	return src_domain->pull_cb(src_domain, src_domain_ctx, src_iov, src_iovcnt, dst_iov,
				   dst_iovcnt, cpl_cb, cb_arg);
}

int
axon_memory_domain_push_data(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
			     const struct iovec *dst_iov, uint32_t dst_iovcnt,
			     const struct iovec *src_iov, uint32_t src_iovcnt,
			     axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	if (dst_domain == NULL || cpl_cb == NULL || !dma_iov_arg_valid(src_iov, src_iovcnt) ||
	    !dma_iov_arg_valid(dst_iov, dst_iovcnt)) {
		return -EINVAL;
	}
	if (dst_domain->push_cb == NULL) {
		return -ENOTSUP;
	}
	return dst_domain->push_cb(dst_domain, dst_domain_ctx, dst_iov, dst_iovcnt, src_iov,
				   src_iovcnt, cpl_cb, cb_arg);
}

int
axon_memory_domain_transfer_data(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
				 const struct iovec *dst_iov, uint32_t dst_iovcnt,
				 struct axon_memory_domain *src_domain, void *src_domain_ctx,
				 const struct iovec *src_iov, uint32_t src_iovcnt,
				 struct axon_memory_domain_translation_result *src_translation,
				 axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	if (dst_domain == NULL || src_domain == NULL || cpl_cb == NULL ||
	    !dma_iov_arg_valid(src_iov, src_iovcnt) || !dma_iov_arg_valid(dst_iov, dst_iovcnt)) {
		return -EINVAL;
	}
	if (dst_domain->transfer_cb == NULL) {
		return -ENOTSUP;
	}
	return dst_domain->transfer_cb(dst_domain, dst_domain_ctx, dst_iov, dst_iovcnt,
				       src_domain, src_domain_ctx, src_iov, src_iovcnt,
				       src_translation, cpl_cb, cb_arg);
}

int
axon_memory_domain_memzero(struct axon_memory_domain *domain, void *domain_ctx,
			   const struct iovec *iov, uint32_t iovcnt,
			   axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	if (domain == NULL || cpl_cb == NULL || !dma_iov_arg_valid(iov, iovcnt)) {
		return -EINVAL;
	}
	if (domain->memzero_cb == NULL) {
		return -ENOTSUP;
	}
	return domain->memzero_cb(domain, domain_ctx, iov, iovcnt, cpl_cb, cb_arg);
}
