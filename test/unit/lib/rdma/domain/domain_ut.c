/*
 * Unit tests of the RDMA memory domain: translation through lib/dma's entry
 * point with fake devices (a PD is any distinct pointer, ibv_reg_mr a double
 * that makes up keys), and pull/push/memzero as copies.
 */
#include <CUnit/Basic.h>

#include "lib/rdma/rdma_domain.c"
#include "lib/rdma/rdma_mem_map.c"

AXON_LOG_REGISTER_COMPONENT(rdma)

#define MIB (1024 * 1024ULL)
#define BASE 0x7e0000000000ULL

static struct rdma_mem_map *g_map;
static uint32_t g_next_key;
static int g_live_mrs;

/* The map of the library: here, the test's. */
struct rdma_mem_map *
rdma_get_mem_map(void)
{
	return g_map;
}

static void *
fake_reg(void *pd, void *addr, size_t len, uint32_t *lkey, uint32_t *rkey, int *err)
{
	*lkey = ++g_next_key;
	*rkey = 0x1000 + g_next_key;
	g_live_mrs++;
	return (void *)(uintptr_t)*lkey;
}

static void
fake_dereg(void *handle)
{
	g_live_mrs--;
}

static const struct rdma_mr_ops g_fake_ops = {.reg = fake_reg, .dereg = fake_dereg};

static struct ibv_pd g_pd[2];
static struct axon_rdma_device g_dev[2];

static int
setup(void)
{
	uint32_t i;

	g_map = rdma_mem_map_create(&g_fake_ops);
	if (g_map == NULL) {
		return 1;
	}
	for (i = 0; i < 2; i++) {
		snprintf(g_dev[i].name, sizeof(g_dev[i].name), "fake%u", i);
		g_dev[i].pd = &g_pd[i];
		g_dev[i].slot = i;
		if (rdma_mem_map_add_pd(g_map, i, &g_pd[i]) != 0 || rdma_domain_create(&g_dev[i]) != 0) {
			return 1;
		}
	}
	return rdma_mem_map_register(g_map, (void *)BASE, 8 * MIB, RDMA_MEM_OWNER_USER) ?:
	       rdma_mem_map_register(g_map, (void *)(BASE + 8 * MIB), 2 * MIB, RDMA_MEM_OWNER_USER);
}

static int
teardown(void)
{
	rdma_domain_destroy(&g_dev[0]);
	rdma_domain_destroy(&g_dev[1]);
	rdma_mem_map_destroy(g_map);
	g_map = NULL;
	return g_live_mrs != 0;
}

static int
translate(struct axon_memory_domain *dst, struct axon_memory_domain_translation_ctx *dctx,
	  uintptr_t addr, size_t len, struct axon_memory_domain_translation_result *res)
{
	memset(res, 0, sizeof(*res));
	res->size = sizeof(*res);
	return axon_memory_domain_translate_data(g_dev[0].domain, NULL, dst, dctx, (void *)addr,
						 len, res);
}

static void
test_domain_identity(void)
{
	struct axon_memory_domain_ctx *ctx = axon_memory_domain_get_context(g_dev[1].domain);

	CU_ASSERT_STRING_EQUAL(axon_memory_domain_get_dma_device_id(g_dev[0].domain), "rdma:fake0");
	CU_ASSERT_STRING_EQUAL(axon_memory_domain_get_dma_device_id(g_dev[1].domain), "rdma:fake1");
	CU_ASSERT_EQUAL(axon_memory_domain_get_dma_device_type(g_dev[0].domain),
			AXON_DMA_DEVICE_TYPE_RDMA);
	CU_ASSERT_FATAL(ctx != NULL);
	CU_ASSERT_PTR_EQUAL(ctx->rdma.ibv_pd, &g_pd[1]);
	CU_ASSERT_PTR_EQUAL(axon_memory_domain_get_first("rdma:fake1"), g_dev[1].domain);
}

static void
test_translate_keys_per_device(void)
{
	struct axon_memory_domain_translation_result res;
	uint32_t lkey, rkey;

	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE + 4096, 65536, &res), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(g_map, (void *)BASE, 1, 0, &lkey, &rkey), 0);
	CU_ASSERT_EQUAL(res.rdma.lkey, lkey);
	CU_ASSERT_EQUAL(res.rdma.rkey, rkey);
	CU_ASSERT_EQUAL(res.iovcnt, 1);
	CU_ASSERT_PTR_EQUAL(res.iov, &res.iov_inline);
	CU_ASSERT_EQUAL((uintptr_t)res.iov[0].iov_base, BASE + 4096);
	CU_ASSERT_EQUAL(res.iov[0].iov_len, 65536);
	/* The destination decides whose keys come back. */
	CU_ASSERT_EQUAL(translate(g_dev[1].domain, NULL, BASE + 4096, 65536, &res), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(g_map, (void *)BASE, 1, 1, &lkey, &rkey), 0);
	CU_ASSERT_EQUAL(res.rdma.lkey, lkey);
	CU_ASSERT_EQUAL(res.rdma.rkey, rkey);
	/* Whole region, and its last byte. */
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE, 8 * MIB, &res), 0);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE + 8 * MIB - 1, 1, &res), 0);
}

static void
test_translate_errors(void)
{
	struct axon_memory_domain_translation_result res;
	struct axon_memory_domain *foreign, *dma;
	struct axon_memory_domain_ctx fctx = {.size = sizeof(fctx)};
	struct ibv_pd other_pd;

	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE - 1, 2, &res), -ENOENT);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE + 10 * MIB, 1, &res), -ENOENT);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE + 8 * MIB - 8, 16, &res), -ERANGE);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE, 0, &res), -EINVAL);
	/* A result too small to hold the keys. */
	memset(&res, 0, sizeof(res));
	res.size = offsetof(struct axon_memory_domain_translation_result, rdma);
	CU_ASSERT_EQUAL(axon_memory_domain_translate_data(g_dev[0].domain, NULL, g_dev[0].domain,
							  NULL, (void *)BASE, 1, &res), -EINVAL);
	/* An RDMA domain over a PD that is none of ours. */
	fctx.rdma.ibv_pd = &other_pd;
	CU_ASSERT_EQUAL(axon_memory_domain_create(&foreign, AXON_DMA_DEVICE_TYPE_RDMA, &fctx,
						  "rdma:other"), 0);
	CU_ASSERT_EQUAL(translate(foreign, NULL, BASE, 1, &res), -ENODEV);
	axon_memory_domain_destroy(foreign);
	/* A non-RDMA destination other than the system domain. */
	CU_ASSERT_EQUAL(axon_memory_domain_create(&dma, AXON_DMA_DEVICE_TYPE_DMA, NULL, "dma0"), 0);
	CU_ASSERT_EQUAL(translate(dma, NULL, BASE, 1, &res), -ENOTSUP);
	axon_memory_domain_destroy(dma);
}

static void
test_translate_to_system_and_with_qp(void)
{
	struct axon_memory_domain_translation_result res;
	struct axon_memory_domain_translation_ctx dctx = {.size = sizeof(dctx)};
	struct ibv_qp qp = {0};

	/* To the system domain: the buffer as it is, even unregistered. */
	CU_ASSERT_EQUAL(translate(axon_memory_domain_get_system_domain(), NULL, 0x1000, 10, &res), 0);
	CU_ASSERT_EQUAL((uintptr_t)res.iov[0].iov_base, 0x1000);
	CU_ASSERT_EQUAL(res.iov[0].iov_len, 10);
	/* A QP of the destination's PD is fine; one of another PD is not. */
	qp.pd = &g_pd[1];
	dctx.rdma.ibv_qp = &qp;
	CU_ASSERT_EQUAL(translate(g_dev[1].domain, &dctx, BASE, 512, &res), 0);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, &dctx, BASE, 512, &res), -EINVAL);
}

static void
cpl(void *arg, int rc)
{
	*(int *)arg = rc + 1;
}

static void
test_pull_push_memzero(void)
{
	char a[32], b[32];
	struct iovec ia = {a, sizeof(a)}, ib = {b, sizeof(b)};
	int done = 0;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	CU_ASSERT_EQUAL(axon_memory_domain_pull_data(g_dev[0].domain, NULL, &ia, 1, &ib, 1, cpl,
						     &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT(memcmp(a, b, sizeof(a)) == 0);
	memset(b, 'c', sizeof(b));
	done = 0;
	CU_ASSERT_EQUAL(axon_memory_domain_push_data(g_dev[0].domain, NULL, &ia, 1, &ib, 1, cpl,
						     &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(a[31], 'c');
	done = 0;
	CU_ASSERT_EQUAL(axon_memory_domain_memzero(g_dev[0].domain, NULL, &ia, 1, cpl, &done), 0);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(a[0], 0);
	CU_ASSERT_EQUAL(axon_memory_domain_invalidate_data(g_dev[0].domain, NULL, &ia, 1), 0);
}

/* Runs last: the device goes away, its translations stop. */
static void
test_removed_device_and_no_library(void)
{
	struct axon_memory_domain_translation_result res;
	struct rdma_mem_map *map = g_map;

	rdma_mem_map_remove_pd(g_map, 1);
	CU_ASSERT_EQUAL(translate(g_dev[1].domain, NULL, BASE, 1, &res), -ENODEV);
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE, 1, &res), 0);
	g_map = NULL;
	CU_ASSERT_EQUAL(translate(g_dev[0].domain, NULL, BASE, 1, &res), -ENODEV);
	g_map = map;
}

int
main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("rdma_domain", setup, teardown);
	CU_ADD_TEST(suite, test_domain_identity);
	CU_ADD_TEST(suite, test_translate_keys_per_device);
	CU_ADD_TEST(suite, test_translate_errors);
	CU_ADD_TEST(suite, test_translate_to_system_and_with_qp);
	CU_ADD_TEST(suite, test_pull_push_memzero);
	CU_ADD_TEST(suite, test_removed_device_and_no_library);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}
