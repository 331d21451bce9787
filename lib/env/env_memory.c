/*
 * DMA memory: allocation from EAL's heaps, virtual-to-IOVA translation, and
 * the memory map seen by device registration (memory events and walks).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_fbarray.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "axon/env.h"
#include "axon/log.h"
#include "env_internal.h"

void *axon_dma_malloc(size_t size, size_t align, int socket_id)
{
	/* EAL's heaps do not exist before init; fail rather than crash. */
	if (!axon_env_is_initialized()) {
		return NULL;
	}
	return rte_malloc_socket(NULL, size, (unsigned int)align, socket_id);
}

void *axon_dma_zmalloc(size_t size, size_t align, int socket_id)
{
	if (!axon_env_is_initialized()) {
		return NULL;
	}
	return rte_zmalloc_socket(NULL, size, (unsigned int)align, socket_id);
}

void *axon_dma_realloc(void *buf, size_t size, size_t align)
{
	if (!axon_env_is_initialized()) {
		return NULL;
	}
	return rte_realloc(buf, size, (unsigned int)align);
}

void axon_dma_free(void *buf)
{
	rte_free(buf);
}

/* ---- vtophys --------------------------------------------------------------- */

/*
 * Bytes from offset `off` in segment `ms` that are contiguous in IOVA space,
 * looking no further than `want` (0: no limit). Segments of one list are
 * laid out back to back in virtual memory, so only IOVAs need checking.
 */
static uint64_t iova_contig_len(const struct rte_memseg_list *msl, const struct rte_memseg *ms,
				uint64_t off, uint64_t want)
{
	struct rte_fbarray *arr = (struct rte_fbarray *)&msl->memseg_arr;
	int idx = rte_fbarray_find_idx(arr, ms);
	uint64_t len = ms->len - off;

	if (idx < 0) {
		return len;
	}
	if (rte_eal_iova_mode() == RTE_IOVA_VA && !msl->external) {
		/* IOVA == VA: every run of allocated segments is contiguous. */
		int n = rte_fbarray_find_contig_used(arr, (unsigned int)idx);

		len = (uint64_t)(n > 0 ? n : 1) * msl->page_sz - off;
	} else {
		const struct rte_memseg *prev = ms;

		for (unsigned int i = (unsigned int)idx + 1;
		     (want == 0 || len < want) && i < arr->len && rte_fbarray_is_used(arr, i); i++) {
			const struct rte_memseg *next = rte_fbarray_get(arr, i);

			if (next->iova != prev->iova + prev->len) {
				break;
			}
			len += next->len;
			prev = next;
		}
	}
	return want != 0 && want < len ? want : len;
}

uint64_t axon_vtophys(const void *buf, uint64_t *size)
{
	const struct rte_memseg_list *msl;
	const struct rte_memseg *ms;
	uint64_t off;

	if (buf == NULL || !axon_env_is_initialized()) {
		return AXON_VTOPHYS_ERROR;
	}
	/* rte_mem_virt2iova alone would "translate" any address with IOVA as
	 * VA; looking up the segment rejects memory EAL does not manage. */
	msl = rte_mem_virt2memseg_list(buf);
	ms = msl ? rte_mem_virt2memseg(buf, msl) : NULL;
	if (ms == NULL || ms->iova == RTE_BAD_IOVA) {
		return AXON_VTOPHYS_ERROR;
	}
	off = (uint64_t)((uintptr_t)buf - (uintptr_t)ms->addr);
	if (size != NULL) {
		*size = iova_contig_len(msl, ms, off, *size);
	}
	return ms->iova + off;
}

/* ---- memory events --------------------------------------------------------- */

/* One registration: EAL calls mem_event_trampoline with this as its arg. */
struct mem_event_reg {
	char name[RTE_MEM_EVENT_CALLBACK_NAME_LEN];
	axon_mem_event_cb cb;
	void *arg;
	struct mem_event_reg *next;
};

static pthread_mutex_t g_mem_event_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_event_reg *g_mem_event_regs;

static void mem_event_trampoline(enum rte_mem_event type, const void *addr, size_t len,
				 void *arg)
{
	struct mem_event_reg *reg = arg;

	reg->cb(type == RTE_MEM_EVENT_ALLOC ? AXON_MEM_EVENT_ALLOC : AXON_MEM_EVENT_FREE, addr,
		len, reg->arg);
}

/* Called with g_mem_event_lock held; returns the link pointing at the match. */
static struct mem_event_reg **mem_event_find(const char *name, void *arg)
{
	struct mem_event_reg **link;

	for (link = &g_mem_event_regs; *link != NULL; link = &(*link)->next) {
		if ((*link)->arg == arg && strcmp((*link)->name, name) == 0) {
			return link;
		}
	}
	return NULL;
}

int axon_env_register_mem_event_cb(const char *name, axon_mem_event_cb cb, void *arg)
{
	struct mem_event_reg *reg;
	int rc = 0;

	if (!axon_env_is_initialized()) {
		return -ENODEV;
	}
	if (name == NULL || cb == NULL || strlen(name) >= RTE_MEM_EVENT_CALLBACK_NAME_LEN) {
		AXON_ERRLOG("memory event callback: bad name or callback\n");
		return -EINVAL;
	}
	pthread_mutex_lock(&g_mem_event_lock);
	if (mem_event_find(name, arg) != NULL) {
		rc = -EEXIST;
		goto unlock;
	}
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL) {
		rc = -ENOMEM;
		goto unlock;
	}
	snprintf(reg->name, sizeof(reg->name), "%s", name);
	reg->cb = cb;
	reg->arg = arg;
	if (rte_mem_event_callback_register(name, mem_event_trampoline, reg) != 0) {
		/* ENOTSUP is expected (legacy memory, --no-huge): not an error to log. */
		rc = -rte_errno;
		goto free_reg;
	}
	reg->next = g_mem_event_regs;
	g_mem_event_regs = reg;
	goto unlock;
free_reg:
	free(reg);
unlock:
	pthread_mutex_unlock(&g_mem_event_lock);
	return rc;
}

static void mem_event_unregister(struct mem_event_reg **link)
{
	struct mem_event_reg *reg = *link;

	if (rte_mem_event_callback_unregister(reg->name, reg) != 0) {
		AXON_ERRLOG("cannot unregister memory event callback '%s': %s\n", reg->name,
			    rte_strerror(rte_errno));
	}
	*link = reg->next;
	free(reg);
}

int axon_env_unregister_mem_event_cb(const char *name, void *arg)
{
	struct mem_event_reg **link;
	int rc = -ENOENT;

	if (name == NULL) {
		return -ENOENT;
	}
	pthread_mutex_lock(&g_mem_event_lock);
	link = mem_event_find(name, arg);
	if (link != NULL) {
		mem_event_unregister(link);
		rc = 0;
	}
	pthread_mutex_unlock(&g_mem_event_lock);
	return rc;
}

void env_mem_event_fini(void)
{
	pthread_mutex_lock(&g_mem_event_lock);
	while (g_mem_event_regs != NULL) {
		AXON_WARNLOG("memory event callback '%s' still registered at exit\n",
			     g_mem_event_regs->name);
		mem_event_unregister(&g_mem_event_regs);
	}
	pthread_mutex_unlock(&g_mem_event_lock);
}

/* ---- memory walk ----------------------------------------------------------- */

struct mem_walk_ctx {
	axon_env_mem_walk_fn fn;
	void *arg;
	int rc;
};

static int mem_walk_one(const struct rte_memseg_list *msl, const struct rte_memseg *ms,
			size_t len, void *arg)
{
	struct mem_walk_ctx *ctx = arg;

	ctx->rc = ctx->fn(ms->addr, len, ms->iova, ctx->arg);
	return ctx->rc != 0 ? 1 : 0;
}

int axon_env_mem_walk(axon_env_mem_walk_fn fn, void *arg)
{
	struct mem_walk_ctx ctx = {.fn = fn, .arg = arg};

	if (!axon_env_is_initialized()) {
		return -ENODEV;
	}
	rte_memseg_contig_walk(mem_walk_one, &ctx);
	return ctx.rc;
}
