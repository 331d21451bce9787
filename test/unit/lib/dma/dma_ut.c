/*
 * Unit tests of lib/dma: registry, contexts, entry points and their
 * completion contract, and the system domain's scatter-gather copies.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/dma/dma.c"
#include "lib/dma/dma_iov.c"
#include "lib/dma/dma_system.c"

#define AXON_UT_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- test doubles -------------------------------------------------------- */

static int g_log_count;

void
axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	 const char *fmt, ...)
{
	g_log_count++;
}

/* ---- completion tracking ------------------------------------------------- */

struct cpl_rec {
	int calls;
	int rc;
};

static void
cpl_record(void *cb_arg, int rc)
{
	struct cpl_rec *rec = cb_arg;

	rec->calls++;
	rec->rc = rc;
}

/* ---- a test domain whose callbacks record their arguments ---------------- */

enum fake_mode {
	FAKE_FAIL,  /* fail synchronously with -EIO, never complete */
	FAKE_DEFER, /* return 0, complete when the test says so */
};

static struct {
	enum fake_mode mode;
	const char *last_op;
	struct axon_memory_domain *domain, *other_domain;
	void *domain_ctx, *other_ctx;
	const struct iovec *iov, *other_iov;
	uint32_t iovcnt, other_iovcnt;
	struct axon_memory_domain_translation_result *translation;
	axon_memory_domain_data_cpl_cb cpl_cb;
	void *cb_arg;
	int invalidate_calls;
} g_fake;

static void
fake_reset(enum fake_mode mode)
{
	memset(&g_fake, 0, sizeof(g_fake));
	g_fake.mode = mode;
}

static int
fake_start(const char *op, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	g_fake.last_op = op;
	if (g_fake.mode == FAKE_FAIL) {
		return -EIO;
	}
	g_fake.cpl_cb = cpl_cb;
	g_fake.cb_arg = cb_arg;
	return 0;
}

/* Complete the deferred operation, as a device's completion poller would. */
static void
fake_complete(int rc)
{
	axon_memory_domain_data_cpl_cb cb = g_fake.cpl_cb;

	CU_ASSERT_FATAL(cb != NULL);
	g_fake.cpl_cb = NULL;
	cb(g_fake.cb_arg, rc);
}

static int
fake_translate(struct axon_memory_domain *src_domain, void *src_domain_ctx,
	       struct axon_memory_domain *dst_domain,
	       struct axon_memory_domain_translation_ctx *dst_domain_ctx, void *addr, size_t len,
	       struct axon_memory_domain_translation_result *result)
{
	g_fake.last_op = "translate";
	g_fake.domain = src_domain;
	g_fake.domain_ctx = src_domain_ctx;
	g_fake.other_domain = dst_domain;
	g_fake.other_ctx = dst_domain_ctx;
	if (g_fake.mode == FAKE_FAIL) {
		return -EIO;
	}
	result->iov = &result->iov_inline;
	result->iov_inline.iov_base = addr;
	result->iov_inline.iov_len = len;
	result->iovcnt = 1;
	result->rdma.lkey = 0x1234;
	result->rdma.rkey = 0x5678;
	return 0;
}

static void
fake_invalidate(struct axon_memory_domain *domain, void *domain_ctx, const struct iovec *iov,
		uint32_t iovcnt)
{
	g_fake.last_op = "invalidate";
	g_fake.domain = domain;
	g_fake.domain_ctx = domain_ctx;
	g_fake.iov = iov;
	g_fake.iovcnt = iovcnt;
	g_fake.invalidate_calls++;
}

static int
fake_pull(struct axon_memory_domain *src_domain, void *src_domain_ctx,
	  const struct iovec *src_iov, uint32_t src_iovcnt, const struct iovec *dst_iov,
	  uint32_t dst_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	g_fake.domain = src_domain;
	g_fake.domain_ctx = src_domain_ctx;
	g_fake.iov = src_iov;
	g_fake.iovcnt = src_iovcnt;
	g_fake.other_iov = dst_iov;
	g_fake.other_iovcnt = dst_iovcnt;
	return fake_start("pull", cpl_cb, cb_arg);
}

static int
fake_push(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
	  const struct iovec *dst_iov, uint32_t dst_iovcnt, const struct iovec *src_iov,
	  uint32_t src_iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	g_fake.domain = dst_domain;
	g_fake.domain_ctx = dst_domain_ctx;
	g_fake.iov = dst_iov;
	g_fake.iovcnt = dst_iovcnt;
	g_fake.other_iov = src_iov;
	g_fake.other_iovcnt = src_iovcnt;
	return fake_start("push", cpl_cb, cb_arg);
}

static int
fake_transfer(struct axon_memory_domain *dst_domain, void *dst_domain_ctx,
	      const struct iovec *dst_iov, uint32_t dst_iovcnt,
	      struct axon_memory_domain *src_domain, void *src_domain_ctx,
	      const struct iovec *src_iov, uint32_t src_iovcnt,
	      struct axon_memory_domain_translation_result *src_translation,
	      axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	g_fake.domain = dst_domain;
	g_fake.domain_ctx = dst_domain_ctx;
	g_fake.iov = dst_iov;
	g_fake.iovcnt = dst_iovcnt;
	g_fake.other_domain = src_domain;
	g_fake.other_ctx = src_domain_ctx;
	g_fake.other_iov = src_iov;
	g_fake.other_iovcnt = src_iovcnt;
	g_fake.translation = src_translation;
	return fake_start("transfer", cpl_cb, cb_arg);
}

static int
fake_memzero(struct axon_memory_domain *domain, void *domain_ctx, const struct iovec *iov,
	     uint32_t iovcnt, axon_memory_domain_data_cpl_cb cpl_cb, void *cb_arg)
{
	g_fake.domain = domain;
	g_fake.domain_ctx = domain_ctx;
	g_fake.iov = iov;
	g_fake.iovcnt = iovcnt;
	return fake_start("memzero", cpl_cb, cb_arg);
}

static struct axon_memory_domain *
fake_domain_create(const char *id)
{
	struct axon_memory_domain *d = NULL;

	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_RDMA, NULL, id) == 0);
	axon_memory_domain_set_translation(d, fake_translate);
	axon_memory_domain_set_invalidate(d, fake_invalidate);
	axon_memory_domain_set_pull(d, fake_pull);
	axon_memory_domain_set_push(d, fake_push);
	axon_memory_domain_set_transfer(d, fake_transfer);
	axon_memory_domain_set_memzero(d, fake_memzero);
	return d;
}

static size_t
count_domains(const char *id)
{
	struct axon_memory_domain *d;
	size_t n = 0;

	for (d = axon_memory_domain_get_first(id); d != NULL;
	     d = axon_memory_domain_get_next(d, id)) {
		n++;
	}
	return n;
}

/* ---- creation, contexts, types ------------------------------------------ */

static void
test_create_invalid(void)
{
	struct axon_memory_domain *d = NULL;
	struct axon_memory_domain_ctx ctx = {.size = sizeof(ctx)};
	char user[4] = "abc";

	CU_ASSERT(axon_memory_domain_create(NULL, AXON_DMA_DEVICE_TYPE_DMA, NULL, "x") == -EINVAL);
	CU_ASSERT(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, NULL, NULL) == -EINVAL);
	CU_ASSERT(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, NULL, "") == -EINVAL);

	ctx.size = 0;
	CU_ASSERT(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, &ctx, "x") == -EINVAL);
	ctx.size = sizeof(ctx);
	ctx.user_ctx = user;
	ctx.user_ctx_size = 0;
	CU_ASSERT(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, &ctx, "x") == -EINVAL);
	ctx.user_ctx = NULL;
	ctx.user_ctx_size = 4;
	CU_ASSERT(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, &ctx, "x") == -EINVAL);

	CU_ASSERT(d == NULL);
	CU_ASSERT(count_domains(NULL) == 1);
}

static void
test_device_types(void)
{
	static const int ok[] = {AXON_DMA_DEVICE_TYPE_RDMA, AXON_DMA_DEVICE_TYPE_DMA,
				 AXON_DMA_DEVICE_TYPE_ACCEL, 1000, 1001, 1500, 1998, 1999};
	static const int bad[] = {-1, 3, 4, 500, 999, 2000, 2001, 65536, INT32_MIN, INT32_MAX};
	struct axon_memory_domain *d;
	size_t i;

	for (i = 0; i < AXON_UT_COUNTOF(ok); i++) {
		d = NULL;
		CU_ASSERT(axon_memory_domain_create(&d, (enum axon_dma_device_type)ok[i], NULL,
						    "typed") == 0);
		CU_ASSERT_FATAL(d != NULL);
		CU_ASSERT((int)axon_memory_domain_get_dma_device_type(d) == ok[i]);
		axon_memory_domain_destroy(d);
	}
	for (i = 0; i < AXON_UT_COUNTOF(bad); i++) {
		d = NULL;
		CU_ASSERT(axon_memory_domain_create(&d, (enum axon_dma_device_type)bad[i], NULL,
						    "typed") == -EINVAL);
		CU_ASSERT(d == NULL);
		CU_ASSERT(axon_dma_device_type_name((enum axon_dma_device_type)bad[i]) == NULL);
	}
	CU_ASSERT_STRING_EQUAL(axon_dma_device_type_name(AXON_DMA_DEVICE_TYPE_RDMA), "RDMA");
	CU_ASSERT_STRING_EQUAL(axon_dma_device_type_name(AXON_DMA_DEVICE_TYPE_DMA), "DMA");
	CU_ASSERT_STRING_EQUAL(axon_dma_device_type_name(AXON_DMA_DEVICE_TYPE_ACCEL), "ACCEL");
	CU_ASSERT_STRING_EQUAL(axon_dma_device_type_name((enum axon_dma_device_type)1999), "VENDOR");
	CU_ASSERT(count_domains("typed") == 0);
}

static void
test_ctx_copy(void)
{
	struct axon_memory_domain *d = NULL;
	struct axon_memory_domain_ctx ctx = {.size = sizeof(ctx)}, *got;
	uint8_t user[37];
	void *user_copy;
	size_t size = 99, i;
	int pd;

	for (i = 0; i < sizeof(user); i++) {
		user[i] = (uint8_t)(i * 7 + 1);
	}
	ctx.user_ctx = user;
	ctx.user_ctx_size = sizeof(user);
	ctx.rdma.ibv_pd = &pd;
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_RDMA, &ctx, "rdma0") == 0);

	/* The caller's copies may change or go away after create. */
	memset(user, 0, sizeof(user));
	memset(&ctx, 0, sizeof(ctx));

	user_copy = axon_memory_domain_get_user_context(d, &size);
	CU_ASSERT_FATAL(user_copy != NULL);
	CU_ASSERT(user_copy != (void *)user);
	CU_ASSERT(size == 37);
	for (i = 0; i < 37; i++) {
		CU_ASSERT(((uint8_t *)user_copy)[i] == (uint8_t)(i * 7 + 1));
	}
	CU_ASSERT(axon_memory_domain_get_user_context(d, NULL) == user_copy);

	got = axon_memory_domain_get_context(d);
	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT(got != &ctx);
	CU_ASSERT(got->size == sizeof(*got));
	CU_ASSERT(got->rdma.ibv_pd == &pd);
	CU_ASSERT(got->user_ctx == user_copy);
	CU_ASSERT(got->user_ctx_size == 37);
	CU_ASSERT_STRING_EQUAL(axon_memory_domain_get_dma_device_id(d), "rdma0");
	CU_ASSERT(axon_memory_domain_get_dma_device_type(d) == AXON_DMA_DEVICE_TYPE_RDMA);
	axon_memory_domain_destroy(d);
}

static void
test_ctx_sizes(void)
{
	struct axon_memory_domain *d = NULL;
	struct axon_memory_domain_ctx *got;
	/* A larger structure from a "newer" caller: the tail is ignored. */
	struct {
		struct axon_memory_domain_ctx ctx;
		uint64_t future;
	} big = {.ctx = {.size = sizeof(big)}, .future = 42};
	struct axon_memory_domain_ctx old = {.size = sizeof(size_t)};
	char user = 'u';
	int pd;
	size_t size = 7;

	/* No ctx at all: no context, no user context. */
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, NULL, "n") == 0);
	CU_ASSERT(axon_memory_domain_get_context(d) == NULL);
	CU_ASSERT(axon_memory_domain_get_user_context(d, &size) == NULL);
	CU_ASSERT(size == 0);
	axon_memory_domain_destroy(d);

	big.ctx.user_ctx = &user;
	big.ctx.user_ctx_size = 1;
	big.ctx.rdma.ibv_pd = &pd;
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_RDMA, &big.ctx, "b") == 0);
	got = axon_memory_domain_get_context(d);
	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT(got->size == sizeof(struct axon_memory_domain_ctx));
	CU_ASSERT(got->rdma.ibv_pd == &pd);
	CU_ASSERT(*(char *)axon_memory_domain_get_user_context(d, &size) == 'u');
	CU_ASSERT(size == 1);
	axon_memory_domain_destroy(d);

	/* An "older" caller whose structure ends before user_ctx: everything
	 * beyond its size reads as zero, even if garbage follows in memory. */
	old.user_ctx = &user;
	old.user_ctx_size = 1;
	old.rdma.ibv_pd = &pd;
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_RDMA, &old, "o") == 0);
	got = axon_memory_domain_get_context(d);
	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT(got->user_ctx == NULL);
	CU_ASSERT(got->user_ctx_size == 0);
	CU_ASSERT(got->rdma.ibv_pd == NULL);
	CU_ASSERT(axon_memory_domain_get_user_context(d, &size) == NULL);
	CU_ASSERT(size == 0);
	axon_memory_domain_destroy(d);

	/* Caller's size covers user_ctx_size but not the RDMA part. */
	old.size = offsetof(struct axon_memory_domain_ctx, rdma);
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_RDMA, &old, "o") == 0);
	got = axon_memory_domain_get_context(d);
	CU_ASSERT_FATAL(got != NULL);
	CU_ASSERT(got->user_ctx_size == 1);
	CU_ASSERT(got->rdma.ibv_pd == NULL);
	axon_memory_domain_destroy(d);
}

/* ---- iteration ----------------------------------------------------------- */

static void
test_iteration(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	struct axon_memory_domain *a1, *b, *a2, *d;

	CU_ASSERT(axon_memory_domain_get_first(NULL) == sys);
	CU_ASSERT(axon_memory_domain_get_next(sys, NULL) == NULL);
	CU_ASSERT(axon_memory_domain_get_next(NULL, NULL) == NULL);
	CU_ASSERT(axon_memory_domain_get_first("a") == NULL);

	CU_ASSERT_FATAL(axon_memory_domain_create(&a1, AXON_DMA_DEVICE_TYPE_RDMA, NULL, "a") == 0);
	CU_ASSERT_FATAL(axon_memory_domain_create(&b, AXON_DMA_DEVICE_TYPE_DMA, NULL, "b") == 0);
	CU_ASSERT_FATAL(axon_memory_domain_create(&a2, AXON_DMA_DEVICE_TYPE_ACCEL, NULL, "a") == 0);

	/* All: the system domain, then creation order. */
	d = axon_memory_domain_get_first(NULL);
	CU_ASSERT(d == sys);
	d = axon_memory_domain_get_next(d, NULL);
	CU_ASSERT(d == a1);
	d = axon_memory_domain_get_next(d, NULL);
	CU_ASSERT(d == b);
	d = axon_memory_domain_get_next(d, NULL);
	CU_ASSERT(d == a2);
	CU_ASSERT(axon_memory_domain_get_next(d, NULL) == NULL);

	/* Filtered. */
	CU_ASSERT(axon_memory_domain_get_first("a") == a1);
	CU_ASSERT(axon_memory_domain_get_next(a1, "a") == a2);
	CU_ASSERT(axon_memory_domain_get_next(a2, "a") == NULL);
	CU_ASSERT(axon_memory_domain_get_first("b") == b);
	CU_ASSERT(axon_memory_domain_get_next(b, "b") == NULL);
	CU_ASSERT(axon_memory_domain_get_first("system") == sys);
	CU_ASSERT(axon_memory_domain_get_next(sys, "system") == NULL);
	CU_ASSERT(axon_memory_domain_get_next(sys, "b") == b);
	CU_ASSERT(axon_memory_domain_get_first("nope") == NULL);
	CU_ASSERT(axon_memory_domain_get_first("A") == NULL);
	CU_ASSERT(count_domains(NULL) == 4);
	CU_ASSERT(count_domains("a") == 2);

	axon_memory_domain_destroy(b);
	CU_ASSERT(axon_memory_domain_get_next(a1, NULL) == a2);
	CU_ASSERT(axon_memory_domain_get_first("b") == NULL);
	axon_memory_domain_destroy(a1);
	CU_ASSERT(axon_memory_domain_get_first("a") == a2);
	CU_ASSERT(axon_memory_domain_get_next(sys, NULL) == a2);
	axon_memory_domain_destroy(a2);
	CU_ASSERT(count_domains(NULL) == 1);

	/* Neither NULL nor the system domain can be destroyed. */
	axon_memory_domain_destroy(NULL);
	g_log_count = 0;
	axon_memory_domain_destroy(sys);
	CU_ASSERT(g_log_count == 1);
	CU_ASSERT(axon_memory_domain_get_first(NULL) == sys);
	CU_ASSERT(count_domains(NULL) == 1);
}

#define UT_THREADS 8
#define UT_THREAD_ROUNDS 200

static void *
iterate_thread(void *arg)
{
	char id[32];
	struct axon_memory_domain *d;
	intptr_t bad = 0;
	int i;

	snprintf(id, sizeof(id), "thread%d", (int)(intptr_t)arg);
	for (i = 0; i < UT_THREAD_ROUNDS; i++) {
		if (axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_DMA, NULL, id) != 0) {
			bad++;
			continue;
		}
		if (axon_memory_domain_get_first(id) != d || axon_memory_domain_get_next(d, id) != NULL) {
			bad++;
		}
		if (axon_memory_domain_get_first(NULL) != &g_dma_system_domain) {
			bad++;
		}
		axon_memory_domain_destroy(d);
	}
	return (void *)bad;
}

static void
test_threads(void)
{
	pthread_t t[UT_THREADS];
	void *bad;
	intptr_t i;

	for (i = 0; i < UT_THREADS; i++) {
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, iterate_thread, (void *)i) == 0);
	}
	for (i = 0; i < UT_THREADS; i++) {
		CU_ASSERT(pthread_join(t[i], &bad) == 0);
		CU_ASSERT(bad == NULL);
	}
	CU_ASSERT(count_domains(NULL) == 1);
}

/* ---- system domain ------------------------------------------------------- */

static int
never_translate(struct axon_memory_domain *s, void *sc, struct axon_memory_domain *d,
		struct axon_memory_domain_translation_ctx *dc, void *addr, size_t len,
		struct axon_memory_domain_translation_result *r)
{
	return 0;
}

static void
test_system_domain(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	struct axon_memory_domain_translation_result result = {.size = sizeof(result)};
	struct cpl_rec rec = {0};
	char buf[8] = "1234567", out[8] = {0};
	struct iovec src = {buf, 8}, dst = {out, 8};
	size_t size = 5;

	CU_ASSERT_FATAL(sys != NULL);
	CU_ASSERT(sys == axon_memory_domain_get_system_domain());
	CU_ASSERT(axon_memory_domain_get_dma_device_type(sys) == AXON_DMA_DEVICE_TYPE_DMA);
	CU_ASSERT_STRING_EQUAL(axon_memory_domain_get_dma_device_id(sys), AXON_DMA_SYSTEM_DEVICE_ID);
	CU_ASSERT_STRING_EQUAL(axon_memory_domain_get_dma_device_id(sys), "system");
	CU_ASSERT(axon_memory_domain_get_context(sys) == NULL);
	CU_ASSERT(axon_memory_domain_get_user_context(sys, &size) == NULL);
	CU_ASSERT(size == 0);

	/* Its callbacks cannot be replaced or removed. */
	fake_reset(FAKE_DEFER);
	g_log_count = 0;
	axon_memory_domain_set_pull(sys, NULL);
	axon_memory_domain_set_push(sys, NULL);
	axon_memory_domain_set_memzero(sys, NULL);
	axon_memory_domain_set_translation(sys, never_translate);
	axon_memory_domain_set_invalidate(sys, fake_invalidate);
	axon_memory_domain_set_transfer(sys, fake_transfer);
	CU_ASSERT(g_log_count == 6);
	CU_ASSERT(axon_memory_domain_pull_data(sys, NULL, &src, 1, &dst, 1, cpl_record, &rec) == 0);
	CU_ASSERT(rec.calls == 1 && rec.rc == 0);
	CU_ASSERT(memcmp(out, buf, 8) == 0);

	/* What it does not implement. */
	CU_ASSERT(axon_memory_domain_translate_data(sys, NULL, sys, NULL, buf, 8, &result) ==
		  -ENOTSUP);
	CU_ASSERT(axon_memory_domain_invalidate_data(sys, NULL, &src, 1) == -ENOTSUP);
	CU_ASSERT(axon_memory_domain_transfer_data(sys, NULL, &dst, 1, sys, NULL, &src, 1, NULL,
						   cpl_record, &rec) == -ENOTSUP);
	CU_ASSERT(g_fake.last_op == NULL);
	CU_ASSERT(g_fake.invalidate_calls == 0);
	CU_ASSERT(rec.calls == 1);

	/* Setters on NULL are ignored. */
	axon_memory_domain_set_pull(NULL, fake_pull);
	CU_ASSERT(axon_memory_domain_get_dma_device_id(NULL) == NULL);
	CU_ASSERT(axon_memory_domain_get_context(NULL) == NULL);
}

/* ---- entry points: arguments, -ENOTSUP, completion contract -------------- */

enum op {
	OP_PULL,
	OP_PUSH,
	OP_TRANSFER,
	OP_MEMZERO,
	OP_COUNT,
};

static const char *const g_op_names[OP_COUNT] = {"pull", "push", "transfer", "memzero"};

/* Start op on domain d with valid arguments. */
static int
start_op(enum op op, struct axon_memory_domain *d, struct cpl_rec *rec)
{
	static char a[16], b[16];
	static struct iovec ia = {a, sizeof(a)}, ib = {b, sizeof(b)};

	switch (op) {
	case OP_PULL:
		return axon_memory_domain_pull_data(d, (void *)0x11, &ia, 1, &ib, 1, cpl_record, rec);
	case OP_PUSH:
		return axon_memory_domain_push_data(d, (void *)0x11, &ia, 1, &ib, 1, cpl_record, rec);
	case OP_TRANSFER:
		return axon_memory_domain_transfer_data(d, (void *)0x11, &ia, 1, d, (void *)0x22,
							&ib, 1, NULL, cpl_record, rec);
	case OP_MEMZERO:
		return axon_memory_domain_memzero(d, (void *)0x11, &ia, 1, cpl_record, rec);
	default:
		CU_FAIL("unknown op");
		return -EINVAL;
	}
}

static void
test_enotsup(void)
{
	struct axon_memory_domain *d = NULL;
	struct axon_memory_domain_translation_result result = {.size = sizeof(result)};
	struct cpl_rec rec = {0};
	char buf[4];
	struct iovec iov = {buf, 4};
	int op;

	/* A fresh domain has no callbacks. */
	CU_ASSERT_FATAL(axon_memory_domain_create(&d, AXON_DMA_DEVICE_TYPE_ACCEL, NULL, "bare") == 0);
	for (op = 0; op < OP_COUNT; op++) {
		CU_ASSERT(start_op((enum op)op, d, &rec) == -ENOTSUP);
	}
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 4, &result) == -ENOTSUP);
	CU_ASSERT(axon_memory_domain_invalidate_data(d, NULL, &iov, 1) == -ENOTSUP);
	CU_ASSERT(rec.calls == 0);
	axon_memory_domain_destroy(d);

	/* Set, then removed again with NULL. */
	d = fake_domain_create("removed");
	axon_memory_domain_set_translation(d, NULL);
	axon_memory_domain_set_invalidate(d, NULL);
	axon_memory_domain_set_pull(d, NULL);
	axon_memory_domain_set_push(d, NULL);
	axon_memory_domain_set_transfer(d, NULL);
	axon_memory_domain_set_memzero(d, NULL);
	fake_reset(FAKE_DEFER);
	for (op = 0; op < OP_COUNT; op++) {
		CU_ASSERT(start_op((enum op)op, d, &rec) == -ENOTSUP);
	}
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 4, &result) == -ENOTSUP);
	CU_ASSERT(axon_memory_domain_invalidate_data(d, NULL, &iov, 1) == -ENOTSUP);
	CU_ASSERT(g_fake.last_op == NULL);
	CU_ASSERT(rec.calls == 0);
	axon_memory_domain_destroy(d);
}

static void
test_einval(void)
{
	struct axon_memory_domain *d = fake_domain_create("args");
	struct axon_memory_domain_translation_result result = {.size = sizeof(result)};
	struct axon_memory_domain_translation_ctx tctx = {.size = 0};
	struct cpl_rec rec = {0};
	char buf[4];
	struct iovec iov = {buf, 4};

	fake_reset(FAKE_DEFER);
	/* NULL domain(s). */
	CU_ASSERT(axon_memory_domain_pull_data(NULL, NULL, &iov, 1, &iov, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(NULL, NULL, &iov, 1, &iov, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_transfer_data(NULL, NULL, &iov, 1, d, NULL, &iov, 1, NULL,
						   cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_transfer_data(d, NULL, &iov, 1, NULL, NULL, &iov, 1, NULL,
						   cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_memzero(NULL, NULL, &iov, 1, cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_invalidate_data(NULL, NULL, &iov, 1) == -EINVAL);
	CU_ASSERT(axon_memory_domain_translate_data(NULL, NULL, d, NULL, buf, 4, &result) == -EINVAL);
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, NULL, NULL, buf, 4, &result) == -EINVAL);

	/* No completion callback. */
	CU_ASSERT(axon_memory_domain_pull_data(d, NULL, &iov, 1, &iov, 1, NULL, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(d, NULL, &iov, 1, &iov, 1, NULL, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_transfer_data(d, NULL, &iov, 1, d, NULL, &iov, 1, NULL, NULL,
						   &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_memzero(d, NULL, &iov, 1, NULL, &rec) == -EINVAL);

	/* NULL arrays with a count. */
	CU_ASSERT(axon_memory_domain_pull_data(d, NULL, NULL, 1, &iov, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_pull_data(d, NULL, &iov, 1, NULL, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(d, NULL, NULL, 1, &iov, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(d, NULL, &iov, 1, NULL, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_transfer_data(d, NULL, NULL, 1, d, NULL, &iov, 1, NULL,
						   cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_transfer_data(d, NULL, &iov, 1, d, NULL, NULL, 1, NULL,
						   cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_memzero(d, NULL, NULL, 1, cpl_record, &rec) == -EINVAL);
	CU_ASSERT(axon_memory_domain_invalidate_data(d, NULL, NULL, 1) == -EINVAL);

	/* Translation: result, sizes, length. */
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 4, NULL) == -EINVAL);
	result.size = 0;
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 4, &result) == -EINVAL);
	result.size = sizeof(result);
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, &tctx, buf, 4, &result) == -EINVAL);
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 0, &result) == -EINVAL);

	CU_ASSERT(g_fake.last_op == NULL);
	CU_ASSERT(g_fake.invalidate_calls == 0);
	CU_ASSERT(rec.calls == 0);

	/* Empty arrays are fine: NULL with a count of 0. */
	CU_ASSERT(axon_memory_domain_pull_data(d, NULL, NULL, 0, NULL, 0, cpl_record, &rec) == 0);
	fake_complete(0);
	CU_ASSERT(axon_memory_domain_invalidate_data(d, NULL, NULL, 0) == 0);
	CU_ASSERT(rec.calls == 1);
	axon_memory_domain_destroy(d);
}

/* A callback that fails synchronously: the error comes back, no completion. */
static void
test_contract_sync_failure(void)
{
	struct axon_memory_domain *d = fake_domain_create("failing");
	struct axon_memory_domain_translation_result result = {.size = sizeof(result)};
	struct cpl_rec rec = {0};
	char buf[4];
	int op;

	for (op = 0; op < OP_COUNT; op++) {
		fake_reset(FAKE_FAIL);
		CU_ASSERT(start_op((enum op)op, d, &rec) == -EIO);
		CU_ASSERT_STRING_EQUAL(g_fake.last_op, g_op_names[op]);
		CU_ASSERT(g_fake.cpl_cb == NULL);
	}
	fake_reset(FAKE_FAIL);
	CU_ASSERT(axon_memory_domain_translate_data(d, NULL, d, NULL, buf, 4, &result) == -EIO);
	CU_ASSERT(rec.calls == 0);
	axon_memory_domain_destroy(d);
}

/* A callback that completes later: 0 now, exactly one completion later, with
 * the arguments forwarded unchanged. */
static void
test_contract_deferred(void)
{
	struct axon_memory_domain *d = fake_domain_create("deferred");
	struct cpl_rec rec;
	int op;

	for (op = 0; op < OP_COUNT; op++) {
		memset(&rec, 0, sizeof(rec));
		fake_reset(FAKE_DEFER);
		CU_ASSERT(start_op((enum op)op, d, &rec) == 0);
		CU_ASSERT_STRING_EQUAL(g_fake.last_op, g_op_names[op]);
		CU_ASSERT(rec.calls == 0);
		CU_ASSERT(g_fake.domain == d);
		CU_ASSERT(g_fake.domain_ctx == (void *)0x11);
		CU_ASSERT(g_fake.iov != NULL && g_fake.iovcnt == 1);
		CU_ASSERT(g_fake.cb_arg == &rec);
		fake_complete(op == OP_MEMZERO ? -ENOSPC : 0);
		CU_ASSERT(rec.calls == 1);
		CU_ASSERT(rec.rc == (op == OP_MEMZERO ? -ENOSPC : 0));
	}
	axon_memory_domain_destroy(d);
}

static void
test_forwarding(void)
{
	struct axon_memory_domain *src = fake_domain_create("src");
	struct axon_memory_domain *dst = fake_domain_create("dst");
	struct axon_memory_domain_translation_result result = {.size = sizeof(result)};
	struct axon_memory_domain_translation_ctx tctx = {.size = sizeof(tctx)};
	struct cpl_rec rec = {0};
	char a[8], b[8];
	struct iovec ia[2] = {{a, 3}, {a + 3, 5}}, ib[3] = {{b, 1}, {b + 1, 1}, {b + 2, 6}};

	/* translate: the source domain's callback, every argument passed on. */
	fake_reset(FAKE_DEFER);
	CU_ASSERT(axon_memory_domain_translate_data(src, (void *)0x5, dst, &tctx, a, 8, &result) == 0);
	CU_ASSERT(g_fake.domain == src && g_fake.domain_ctx == (void *)0x5);
	CU_ASSERT(g_fake.other_domain == dst && g_fake.other_ctx == (void *)&tctx);
	CU_ASSERT(result.iovcnt == 1 && result.iov == &result.iov_inline);
	CU_ASSERT(result.iov[0].iov_base == a && result.iov[0].iov_len == 8);
	CU_ASSERT(result.rdma.lkey == 0x1234 && result.rdma.rkey == 0x5678);

	/* invalidate: synchronous, the domain's callback. */
	CU_ASSERT(axon_memory_domain_invalidate_data(dst, (void *)0x6, result.iov, result.iovcnt) ==
		  0);
	CU_ASSERT(g_fake.invalidate_calls == 1);
	CU_ASSERT(g_fake.domain == dst && g_fake.domain_ctx == (void *)0x6);
	CU_ASSERT(g_fake.iov == result.iov && g_fake.iovcnt == 1);

	/* pull: source domain's callback, src then dst arrays. */
	fake_reset(FAKE_DEFER);
	CU_ASSERT(axon_memory_domain_pull_data(src, (void *)0x7, ia, 2, ib, 3, cpl_record, &rec) == 0);
	CU_ASSERT(g_fake.domain == src && g_fake.domain_ctx == (void *)0x7);
	CU_ASSERT(g_fake.iov == ia && g_fake.iovcnt == 2);
	CU_ASSERT(g_fake.other_iov == ib && g_fake.other_iovcnt == 3);
	fake_complete(0);

	/* push: destination domain's callback, dst then src arrays. */
	fake_reset(FAKE_DEFER);
	CU_ASSERT(axon_memory_domain_push_data(dst, (void *)0x8, ib, 3, ia, 2, cpl_record, &rec) == 0);
	CU_ASSERT(g_fake.domain == dst && g_fake.domain_ctx == (void *)0x8);
	CU_ASSERT(g_fake.iov == ib && g_fake.iovcnt == 3);
	CU_ASSERT(g_fake.other_iov == ia && g_fake.other_iovcnt == 2);
	fake_complete(0);

	/* transfer: the destination domain's callback, with the translation. */
	fake_reset(FAKE_DEFER);
	CU_ASSERT(axon_memory_domain_transfer_data(dst, (void *)0x9, ib, 3, src, (void *)0xa, ia, 2,
						   &result, cpl_record, &rec) == 0);
	CU_ASSERT(g_fake.domain == dst && g_fake.domain_ctx == (void *)0x9);
	CU_ASSERT(g_fake.iov == ib && g_fake.iovcnt == 3);
	CU_ASSERT(g_fake.other_domain == src && g_fake.other_ctx == (void *)0xa);
	CU_ASSERT(g_fake.other_iov == ia && g_fake.other_iovcnt == 2);
	CU_ASSERT(g_fake.translation == &result);
	fake_complete(0);

	/* A transfer into a domain without the callback fails even if the source
	 * has one: the destination decides. */
	axon_memory_domain_set_transfer(dst, NULL);
	fake_reset(FAKE_DEFER);
	CU_ASSERT(axon_memory_domain_transfer_data(dst, NULL, ib, 3, src, NULL, ia, 2, NULL,
						   cpl_record, &rec) == -ENOTSUP);
	CU_ASSERT(g_fake.last_op == NULL);

	CU_ASSERT(rec.calls == 3);
	axon_memory_domain_destroy(src);
	axon_memory_domain_destroy(dst);
}

/* ---- system domain copies across iovec splits ---------------------------- */

#define SPLIT_MAX_BYTES 16
#define SPLIT_MAX_PIECES 4
/* Each piece gets its own slot in an arena, with guard bytes around it, so a
 * write past a piece's end shows up as a changed guard byte. */
#define SLOT 32
#define ARENA (SLOT * (SPLIT_MAX_PIECES + 1))
#define GUARD_DST 0xEE
#define GUARD_SRC 0x5A

struct split {
	bool started;
	uint32_t count;
	size_t len[SPLIT_MAX_PIECES];
};

/*
 * Step s (zero-initialised to start) to the next way of splitting total bytes
 * into at most SPLIT_MAX_PIECES pieces, zero-length pieces included: 0 bytes
 * may also be 0 pieces; then 1 piece, then every split into 2, 3 and 4 pieces
 * in lexicographic order. Returns false when there is none left.
 */
static bool
split_next(struct split *s, size_t total)
{
	size_t used;
	int i, j;

	if (!s->started) {
		s->started = true;
		s->count = total == 0 ? 0 : 1;
		s->len[0] = total;
		return true;
	}
	/* The last piece always takes what the others leave; step the others
	 * like an odometer whose digits may not sum past total. */
	for (i = (int)s->count - 2; i >= 0; i--) {
		used = 0;
		for (j = 0; j <= i; j++) {
			used += s->len[j];
		}
		if (used < total) {
			s->len[i]++;
			for (j = i + 1; j < (int)s->count - 1; j++) {
				s->len[j] = 0;
			}
			s->len[s->count - 1] = total - used - 1;
			return true;
		}
	}
	if (s->count == SPLIT_MAX_PIECES) {
		return false;
	}
	s->count++;
	memset(s->len, 0, sizeof(s->len));
	s->len[s->count - 1] = total;
	return true;
}

/* Point iov at the pieces of s, piece i at slot i + 1 of arena. */
static void
split_iov(const struct split *s, uint8_t *arena, struct iovec *iov)
{
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		iov[i].iov_base = arena + SLOT * (i + 1);
		iov[i].iov_len = s->len[i];
	}
}

static uint8_t
pattern(size_t pos)
{
	return (uint8_t)(pos * 13 + 7);
}

/* Fill the source pieces with pattern() in order; everything else GUARD_SRC. */
static void
fill_src(const struct iovec *iov, uint32_t cnt, uint8_t *arena)
{
	size_t pos = 0, k;
	uint32_t i;

	memset(arena, GUARD_SRC, ARENA);
	for (i = 0; i < cnt; i++) {
		for (k = 0; k < iov[i].iov_len; k++) {
			((uint8_t *)iov[i].iov_base)[k] = pattern(pos++);
		}
	}
}

/* Check the first n bytes of dst carry pattern(), the rest of its pieces and
 * all of the arena outside them still hold GUARD_DST. Returns mismatches. */
static int
check_dst(const struct iovec *iov, uint32_t cnt, const uint8_t *arena, size_t n)
{
	uint8_t expect[ARENA];
	size_t pos = 0, k;
	uint32_t i;

	memset(expect, GUARD_DST, sizeof(expect));
	for (i = 0; i < cnt; i++) {
		size_t off = (size_t)((const uint8_t *)iov[i].iov_base - arena);

		for (k = 0; k < iov[i].iov_len && pos < n; k++) {
			expect[off + k] = pattern(pos++);
		}
	}
	return memcmp(expect, arena, ARENA) != 0 || pos != n;
}

/* Count the splits the iterator yields, to be sure it is exhaustive. */
static size_t
count_splits(size_t total)
{
	struct split s = {0};
	size_t n = 0;

	while (split_next(&s, total)) {
		n++;
	}
	return n;
}

static void
test_split_enumeration(void)
{
	/* Weak compositions of n into k parts: C(n + k - 1, k - 1), k = 1..4. */
	size_t n;

	for (n = 0; n <= SPLIT_MAX_BYTES; n++) {
		size_t expect = 1 + (n + 1) + (n + 2) * (n + 1) / 2 + (n + 3) * (n + 2) * (n + 1) / 6;

		if (n == 0) {
			expect++; /* 0 bytes as 0 pieces */
		}

		CU_ASSERT(count_splits(n) == expect);
	}
}

static void
test_system_copy_splits(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	uint8_t src_arena[ARENA], dst_arena[ARENA];
	struct iovec src_iov[SPLIT_MAX_PIECES], dst_iov[SPLIT_MAX_PIECES];
	struct split ss, ds;
	unsigned long cases = 0, bad = 0;
	size_t n;
	int push;

	for (n = 0; n <= SPLIT_MAX_BYTES; n++) {
		memset(&ss, 0, sizeof(ss));
		while (split_next(&ss, n)) {
			split_iov(&ss, src_arena, src_iov);
			memset(&ds, 0, sizeof(ds));
			while (split_next(&ds, n)) {
				split_iov(&ds, dst_arena, dst_iov);
				for (push = 0; push <= 1; push++) {
					struct cpl_rec rec = {0};
					int rc;

					fill_src(src_iov, ss.count, src_arena);
					memset(dst_arena, GUARD_DST, ARENA);
					if (push) {
						rc = axon_memory_domain_push_data(
							sys, NULL, dst_iov, ds.count, src_iov,
							ss.count, cpl_record, &rec);
					} else {
						rc = axon_memory_domain_pull_data(
							sys, NULL, src_iov, ss.count, dst_iov,
							ds.count, cpl_record, &rec);
					}
					/* Completed before returning, exactly once. */
					if (rc != 0 || rec.calls != 1 || rec.rc != 0 ||
					    check_dst(dst_iov, ds.count, dst_arena, n) != 0) {
						bad++;
					}
					cases++;
				}
			}
		}
	}
	CU_ASSERT(bad == 0);
	CU_ASSERT(cases > 100000);
}

static void
test_system_copy_lengths(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	uint8_t src_arena[ARENA], dst_arena[ARENA];
	struct iovec src_iov[SPLIT_MAX_PIECES], dst_iov[SPLIT_MAX_PIECES];
	struct split ss = {0}, ds;
	struct cpl_rec rec = {0};
	unsigned long bad = 0, refused = 0;
	size_t dst_len;

	/* Source of 9 bytes (every split) into destinations of 9..16 bytes: the
	 * source lands at the start, the tail of the destination is untouched.
	 * Shorter destinations are refused and left untouched. */
	while (split_next(&ss, 9)) {
		split_iov(&ss, src_arena, src_iov);
		for (dst_len = 0; dst_len <= SPLIT_MAX_BYTES; dst_len++) {
			memset(&ds, 0, sizeof(ds));
			while (split_next(&ds, dst_len)) {
				int rc, push;

				split_iov(&ds, dst_arena, dst_iov);
				for (push = 0; push <= 1; push++) {
					fill_src(src_iov, ss.count, src_arena);
					memset(dst_arena, GUARD_DST, ARENA);
					memset(&rec, 0, sizeof(rec));
					rc = push ? axon_memory_domain_push_data(
							    sys, NULL, dst_iov, ds.count, src_iov,
							    ss.count, cpl_record, &rec)
						  : axon_memory_domain_pull_data(
							    sys, NULL, src_iov, ss.count, dst_iov,
							    ds.count, cpl_record, &rec);
					if (dst_len < 9) {
						bad += rc != -EINVAL || rec.calls != 0 ||
						       check_dst(dst_iov, ds.count, dst_arena, 0) != 0;
						refused++;
					} else {
						bad += rc != 0 || rec.calls != 1 ||
						       check_dst(dst_iov, ds.count, dst_arena, 9) != 0;
					}
				}
			}
		}
	}
	CU_ASSERT(bad == 0);
	CU_ASSERT(refused > 0);
}

static void
test_system_invalid_iov(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	struct cpl_rec rec = {0};
	char buf[8] = {0};
	struct iovec ok = {buf, 8};
	struct iovec null_base[2] = {{buf, 4}, {NULL, 4}};
	struct iovec null_empty[2] = {{buf, 8}, {NULL, 0}};
	struct iovec huge[2] = {{buf, SIZE_MAX}, {buf, 2}};

	CU_ASSERT(axon_memory_domain_pull_data(sys, NULL, null_base, 2, &ok, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(sys, NULL, null_base, 2, &ok, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_memzero(sys, NULL, null_base, 2, cpl_record, &rec) == -EINVAL);
	/* Lengths that overflow size_t are caught before any byte moves. */
	CU_ASSERT(axon_memory_domain_pull_data(sys, NULL, huge, 2, &ok, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_push_data(sys, NULL, huge, 2, &ok, 1, cpl_record, &rec) ==
		  -EINVAL);
	CU_ASSERT(axon_memory_domain_memzero(sys, NULL, huge, 2, cpl_record, &rec) == -EINVAL);
	CU_ASSERT(rec.calls == 0);

	/* A NULL base is fine when its length is 0. */
	CU_ASSERT(axon_memory_domain_push_data(sys, NULL, null_empty, 2, &ok, 1, cpl_record, &rec) ==
		  0);
	CU_ASSERT(axon_memory_domain_memzero(sys, NULL, null_empty, 2, cpl_record, &rec) == 0);
	CU_ASSERT(axon_memory_domain_memzero(sys, NULL, NULL, 0, cpl_record, &rec) == 0);
	CU_ASSERT(rec.calls == 3);
}

static void
test_system_memzero_splits(void)
{
	struct axon_memory_domain *sys = axon_memory_domain_get_system_domain();
	uint8_t arena[ARENA], expect[ARENA];
	struct iovec iov[SPLIT_MAX_PIECES];
	struct split s;
	unsigned long bad = 0, cases = 0;
	size_t n, k;
	uint32_t i;

	for (n = 0; n <= SPLIT_MAX_BYTES; n++) {
		memset(&s, 0, sizeof(s));
		while (split_next(&s, n)) {
			struct cpl_rec rec = {0};

			split_iov(&s, arena, iov);
			memset(arena, 0xAA, ARENA);
			memset(expect, 0xAA, ARENA);
			for (i = 0; i < s.count; i++) {
				for (k = 0; k < iov[i].iov_len; k++) {
					expect[SLOT * (i + 1) + k] = 0;
				}
			}
			if (axon_memory_domain_memzero(sys, NULL, iov, s.count, cpl_record, &rec) !=
				    0 ||
			    rec.calls != 1 || rec.rc != 0 || memcmp(arena, expect, ARENA) != 0) {
				bad++;
			}
			cases++;
		}
	}
	CU_ASSERT(bad == 0);
	for (n = 0; n <= SPLIT_MAX_BYTES; n++) {
		cases -= count_splits(n);
	}
	CU_ASSERT(cases == 0);
}

/* The helper itself copies min(total) bytes whichever side is shorter. */
static void
test_iov_copy_min(void)
{
	uint8_t src[10], dst[10];
	struct iovec s[3] = {{src, 2}, {src + 2, 0}, {src + 2, 8}};
	struct iovec d[2] = {{dst, 3}, {dst + 3, 3}};
	size_t total = 0, i;

	for (i = 0; i < sizeof(src); i++) {
		src[i] = (uint8_t)(100 + i);
	}
	memset(dst, 0, sizeof(dst));
	CU_ASSERT(dma_iov_total(s, 3, &total) == 0 && total == 10);
	CU_ASSERT(dma_iov_total(d, 2, &total) == 0 && total == 6);
	CU_ASSERT(dma_iov_total(NULL, 0, &total) == 0 && total == 0);
	CU_ASSERT(dma_iov_total(NULL, 1, &total) == -EINVAL);

	CU_ASSERT(dma_iov_copy(d, 2, s, 3) == 6);
	CU_ASSERT(memcmp(dst, src, 6) == 0);
	CU_ASSERT(dst[6] == 0);

	memset(src, 0, sizeof(src));
	CU_ASSERT(dma_iov_copy(s, 3, d, 2) == 6);
	CU_ASSERT(src[0] == 100 && src[5] == 105 && src[6] == 0);
	CU_ASSERT(dma_iov_copy(s, 3, d, 0) == 0);
	CU_ASSERT(dma_iov_copy(s, 0, d, 2) == 0);
}

/* ---- runner -------------------------------------------------------------- */

int
main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("dma", NULL, NULL);
	if (suite == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	CU_ADD_TEST(suite, test_create_invalid);
	CU_ADD_TEST(suite, test_device_types);
	CU_ADD_TEST(suite, test_ctx_copy);
	CU_ADD_TEST(suite, test_ctx_sizes);
	CU_ADD_TEST(suite, test_iteration);
	CU_ADD_TEST(suite, test_threads);
	CU_ADD_TEST(suite, test_system_domain);
	CU_ADD_TEST(suite, test_enotsup);
	CU_ADD_TEST(suite, test_einval);
	CU_ADD_TEST(suite, test_contract_sync_failure);
	CU_ADD_TEST(suite, test_contract_deferred);
	CU_ADD_TEST(suite, test_forwarding);
	CU_ADD_TEST(suite, test_split_enumeration);
	CU_ADD_TEST(suite, test_system_copy_splits);
	CU_ADD_TEST(suite, test_system_copy_lengths);
	CU_ADD_TEST(suite, test_system_invalid_iov);
	CU_ADD_TEST(suite, test_system_memzero_splits);
	CU_ADD_TEST(suite, test_iov_copy_min);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
