/*
 * Unit tests of the RDMA registration map. The map only stores the keys a
 * registration gives it, so a test double stands in for ibv_reg_mr and
 * ibv_dereg_mr, and addresses are never touched: any 4 KiB aligned value
 * below 2^48 will do.
 */
#include <CUnit/Basic.h>
#include <pthread.h>

#include "lib/rdma/rdma_mem_map.c"

AXON_LOG_REGISTER_COMPONENT(rdma)

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)
/* A 1 GiB aligned base, well inside the 48-bit space. */
#define BASE 0x7f0000000000ULL

/* ---- the ibv_reg_mr / ibv_dereg_mr double ------------------------------------ */

struct fake_mr {
	void *pd;
	uintptr_t addr;
	size_t len;
	uint32_t lkey, rkey;
};

static struct {
	uint32_t next_key;
	int live;         /* registered, not yet deregistered */
	int regs, deregs;
	int fail_at;      /* fail the fail_at-th registration from now (1-based); 0 = never */
	void *fail_pd;    /* or: fail every registration with this PD */
} g_fake;

static void *
fake_reg(void *pd, void *addr, size_t len, uint32_t *lkey, uint32_t *rkey, int *err)
{
	struct fake_mr *mr;

	if ((g_fake.fail_at > 0 && --g_fake.fail_at == 0) || (pd != NULL && pd == g_fake.fail_pd)) {
		*err = EFAULT;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	CU_ASSERT_FATAL(mr != NULL);
	mr->pd = pd;
	mr->addr = (uintptr_t)addr;
	mr->len = len;
	mr->lkey = ++g_fake.next_key;
	mr->rkey = 0x80000000u | g_fake.next_key;
	*lkey = mr->lkey;
	*rkey = mr->rkey;
	g_fake.live++;
	g_fake.regs++;
	return mr;
}

static void
fake_dereg(void *handle)
{
	free(handle);
	g_fake.live--;
	g_fake.deregs++;
}

static const struct rdma_mr_ops g_fake_ops = {.reg = fake_reg, .dereg = fake_dereg};

static int g_pd0, g_pd1, g_pd3; /* their addresses are the PDs */

static struct rdma_mem_map *
new_map(void)
{
	struct rdma_mem_map *map;

	memset(&g_fake, 0, sizeof(g_fake));
	map = rdma_mem_map_create(&g_fake_ops);
	CU_ASSERT_FATAL(map != NULL);
	CU_ASSERT_EQUAL(rdma_mem_map_add_pd(map, 0, &g_pd0), 0);
	return map;
}

static void
free_map(struct rdma_mem_map *map)
{
	rdma_mem_map_destroy(map);
	CU_ASSERT_EQUAL(g_fake.live, 0);
}

static int
xlate(struct rdma_mem_map *map, uintptr_t addr, size_t len, uint32_t *lkey)
{
	uint32_t l = 0, r = 0;
	int rc = rdma_mem_map_translate(map, (void *)addr, len, 0, &l, &r);

	if (rc == 0) {
		CU_ASSERT_EQUAL(r, 0x80000000u | l);
	}
	if (lkey != NULL) {
		*lkey = l;
	}
	return rc;
}

static int
reg(struct rdma_mem_map *map, uintptr_t addr, size_t len)
{
	return rdma_mem_map_register(map, (void *)addr, len, RDMA_MEM_OWNER_USER);
}

static int
unreg(struct rdma_mem_map *map, uintptr_t addr, size_t len)
{
	return rdma_mem_map_unregister(map, (void *)addr, len, RDMA_MEM_OWNER_USER);
}

/* Every lookup of [start, end) that stays inside gives key; one byte over either end fails. */
static void
check_region(struct rdma_mem_map *map, uintptr_t start, uintptr_t end, uint32_t key)
{
	uint32_t k;
	uintptr_t a;

	CU_ASSERT_EQUAL(xlate(map, start, end - start, &k), 0);
	CU_ASSERT_EQUAL(k, key);
	CU_ASSERT_EQUAL(xlate(map, end - 1, 1, &k), 0);
	CU_ASSERT_EQUAL(k, key);
	/* Every 4 KiB boundary inside, from both sides. */
	for (a = start + 4 * KIB; a < end; a += 4 * KIB) {
		CU_ASSERT_EQUAL(xlate(map, a - 1, 2, &k), 0);
		CU_ASSERT_EQUAL(k, key);
		CU_ASSERT_EQUAL(xlate(map, a, end - a, &k), 0);
		CU_ASSERT_EQUAL(xlate(map, start, a - start, &k), 0);
	}
	CU_ASSERT_NOT_EQUAL(xlate(map, start - 1, 2, NULL), 0);
	CU_ASSERT_NOT_EQUAL(xlate(map, end - 1, 2, NULL), 0);
	CU_ASSERT_NOT_EQUAL(xlate(map, start - 1, end - start + 1, NULL), 0);
	CU_ASSERT_NOT_EQUAL(xlate(map, start, end - start + 1, NULL), 0);
}

/* ---- tests -------------------------------------------------------------------------- */

static void
test_aligned_region_boundaries(void)
{
	struct rdma_mem_map *map = new_map();
	uintptr_t s = BASE + 2 * MIB, e = s + 6 * MIB;
	uint32_t key;

	CU_ASSERT_EQUAL(reg(map, s, e - s), 0);
	CU_ASSERT_EQUAL(g_fake.live, 1);
	CU_ASSERT_EQUAL(xlate(map, s, 1, &key), 0);
	check_region(map, s, e, key);
	/* Across the 2 MiB page boundaries inside. */
	CU_ASSERT_EQUAL(xlate(map, s + 2 * MIB - 8, 16, NULL), 0);
	CU_ASSERT_EQUAL(xlate(map, s + 4 * MIB - 1, 2 * MIB + 1, NULL), 0);
	/* Unregistered memory, just outside. */
	CU_ASSERT_EQUAL(xlate(map, s - 1, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, e, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, e, 4 * KIB, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, s - 4 * KIB, 8 * KIB, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, BASE + 5 * GIB, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, 1ULL << 50, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, UINTPTR_MAX - 4, 16, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, s, 0, NULL), -EINVAL);
	free_map(map);
}

/* A region that is not 2 MiB aligned: its end pages go through level 3. */
static void
test_unaligned_region_boundaries(void)
{
	struct rdma_mem_map *map = new_map();
	uintptr_t s = BASE + GIB - 2 * MIB - 12 * KIB; /* crosses a 1 GiB boundary too */
	uintptr_t e = BASE + GIB + 4 * MIB + 20 * KIB;
	uint32_t key;

	CU_ASSERT_EQUAL(reg(map, s, e - s), 0);
	CU_ASSERT_EQUAL(xlate(map, s, 1, &key), 0);
	check_region(map, s, e, key);
	CU_ASSERT_EQUAL(xlate(map, BASE + GIB - 1, 2, NULL), 0);
	CU_ASSERT_EQUAL(xlate(map, s - 4 * KIB, 4 * KIB, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, e, 4 * KIB, NULL), -ENOENT);
	/* One 4 KiB page alone. */
	CU_ASSERT_EQUAL(reg(map, BASE + 3 * GIB + 4 * KIB, 4 * KIB), 0);
	CU_ASSERT_EQUAL(xlate(map, BASE + 3 * GIB + 4 * KIB, 4 * KIB, &key), 0);
	check_region(map, BASE + 3 * GIB + 4 * KIB, BASE + 3 * GIB + 8 * KIB, key);
	free_map(map);
}

static void
test_adjacent_regions_cross(void)
{
	struct rdma_mem_map *map = new_map();
	uintptr_t a = BASE, b = BASE + 2 * MIB + 8 * KIB, c = BASE + 4 * MIB;
	uint32_t ka, kb, kc;

	/* Grows like lib/env memory events: pieces side by side. */
	CU_ASSERT_EQUAL(reg(map, a, b - a), 0);
	CU_ASSERT_EQUAL(reg(map, b, c - b), 0);
	CU_ASSERT_EQUAL(reg(map, c, 2 * MIB), 0);
	CU_ASSERT_EQUAL(xlate(map, a, 1, &ka), 0);
	CU_ASSERT_EQUAL(xlate(map, b, 1, &kb), 0);
	CU_ASSERT_EQUAL(xlate(map, c, 1, &kc), 0);
	CU_ASSERT(ka != kb && kb != kc && ka != kc);
	check_region(map, b, c, kb);
	/* Each alone is fine; across any boundary is -ERANGE. */
	CU_ASSERT_EQUAL(xlate(map, b - 1, 2, NULL), -ERANGE);
	CU_ASSERT_EQUAL(xlate(map, c - 4 * KIB, 8 * KIB, NULL), -ERANGE);
	CU_ASSERT_EQUAL(xlate(map, a, 6 * MIB, NULL), -ERANGE);
	CU_ASSERT_EQUAL(xlate(map, a, 6 * MIB + 1, NULL), -ENOENT);
	free_map(map);
}

static void
test_register_errors(void)
{
	struct rdma_mem_map *map = new_map();
	struct axon_rdma_mem_stats st;

	CU_ASSERT_EQUAL(reg(map, BASE, 4 * MIB), 0);
	CU_ASSERT_EQUAL(reg(map, BASE, 4 * MIB), -EEXIST);
	CU_ASSERT_EQUAL(reg(map, BASE + 4 * MIB - 4 * KIB, 8 * KIB), -EEXIST);
	CU_ASSERT_EQUAL(reg(map, BASE - 4 * KIB, 8 * KIB), -EEXIST);
	CU_ASSERT_EQUAL(reg(map, BASE - GIB, 2 * GIB), -EEXIST);
	CU_ASSERT_EQUAL(reg(map, BASE + 8 * MIB + 1, 4 * KIB), -EINVAL);
	CU_ASSERT_EQUAL(reg(map, BASE + 8 * MIB, 4 * KIB + 1), -EINVAL);
	CU_ASSERT_EQUAL(reg(map, BASE + 8 * MIB, 0), -EINVAL);
	CU_ASSERT_EQUAL(reg(map, (1ULL << 48) - 4 * KIB, 8 * KIB), -EINVAL);
	CU_ASSERT_EQUAL(reg(map, UINTPTR_MAX - 4 * KIB + 1, 4 * KIB), -EINVAL);
	CU_ASSERT_EQUAL(g_fake.live, 1);
	/* The highest page of the 48-bit space works. */
	CU_ASSERT_EQUAL(reg(map, (1ULL << 48) - 4 * KIB, 4 * KIB), 0);
	CU_ASSERT_EQUAL(xlate(map, (1ULL << 48) - 1, 1, NULL), 0);
	/* A failed ibv_reg_mr leaves nothing behind. */
	g_fake.fail_at = 1;
	CU_ASSERT_EQUAL(reg(map, BASE + 16 * MIB, 4 * MIB), -EFAULT);
	CU_ASSERT_EQUAL(xlate(map, BASE + 16 * MIB, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(reg(map, BASE + 16 * MIB, 4 * MIB), 0);
	rdma_mem_map_get_stats(map, &st);
	CU_ASSERT_EQUAL(st.regions, 3);
	CU_ASSERT_EQUAL(st.total_bytes, 8 * MIB + 4 * KIB);
	CU_ASSERT_EQUAL(st.env_bytes, 0);
	free_map(map);
}

/* Unregistering part of a registration: the rest keeps its keys and its MR. */
static void
test_shrink_middle_prefix_suffix(void)
{
	struct rdma_mem_map *map = new_map();
	uintptr_t s = BASE + 2 * MIB, e = s + 16 * MIB;
	struct axon_rdma_mem_stats st;
	uint32_t key, k;

	CU_ASSERT_EQUAL(reg(map, s, e - s), 0);
	CU_ASSERT_EQUAL(xlate(map, s, 1, &key), 0);
	/* Middle, not 2 MiB aligned: two pieces sharing one MR. */
	CU_ASSERT_EQUAL(unreg(map, s + 5 * MIB + 4 * KIB, 3 * MIB), 0);
	CU_ASSERT_EQUAL(g_fake.deregs, 0);
	check_region(map, s, s + 5 * MIB + 4 * KIB, key);
	check_region(map, s + 8 * MIB + 4 * KIB, e, key);
	CU_ASSERT_EQUAL(xlate(map, s + 6 * MIB, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, s + 5 * MIB + 4 * KIB, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, s + 8 * MIB + 4 * KIB - 1, 1, NULL), -ENOENT);
	/* Both ends registered, a hole between: still an error. */
	CU_ASSERT_EQUAL(xlate(map, s, e - s, NULL), -ERANGE);
	rdma_mem_map_get_stats(map, &st);
	CU_ASSERT_EQUAL(st.regions, 2);
	CU_ASSERT_EQUAL(st.total_bytes, 13 * MIB);
	/* Prefix of the right piece, suffix of the left one. */
	CU_ASSERT_EQUAL(unreg(map, s + 8 * MIB + 4 * KIB, 2 * MIB), 0);
	check_region(map, s + 10 * MIB + 4 * KIB, e, key);
	CU_ASSERT_EQUAL(unreg(map, s + 4 * MIB, 1 * MIB + 4 * KIB), 0);
	check_region(map, s, s + 4 * MIB, key);
	CU_ASSERT_EQUAL(g_fake.deregs, 0);
	/* The memory freed can be registered again, on its own. */
	CU_ASSERT_EQUAL(reg(map, s + 4 * MIB, 2 * MIB), 0);
	CU_ASSERT_EQUAL(xlate(map, s + 4 * MIB, 2 * MIB, &k), 0);
	CU_ASSERT_NOT_EQUAL(k, key);
	CU_ASSERT_EQUAL(xlate(map, s + 4 * MIB - 1, 2, NULL), -ERANGE);
	/* The MR goes with its last piece. */
	CU_ASSERT_EQUAL(unreg(map, s, 4 * MIB), 0);
	CU_ASSERT_EQUAL(g_fake.deregs, 0);
	CU_ASSERT_EQUAL(unreg(map, s + 10 * MIB + 4 * KIB, e - (s + 10 * MIB + 4 * KIB)), 0);
	CU_ASSERT_EQUAL(g_fake.deregs, 1);
	CU_ASSERT_EQUAL(g_fake.live, 1);
	/* An unregister spanning several registrations at once. */
	CU_ASSERT_EQUAL(reg(map, s + 6 * MIB, 2 * MIB), 0);
	CU_ASSERT_EQUAL(reg(map, s + 8 * MIB, 4 * KIB), 0);
	CU_ASSERT_EQUAL(unreg(map, s + 5 * MIB, 3 * MIB), 0);
	CU_ASSERT_EQUAL(xlate(map, s + 4 * MIB, 1 * MIB, NULL), 0);
	CU_ASSERT_EQUAL(xlate(map, s + 5 * MIB, 1, NULL), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, s + 8 * MIB, 4 * KIB, NULL), 0);
	rdma_mem_map_get_stats(map, &st);
	CU_ASSERT_EQUAL(st.regions, 2);
	CU_ASSERT_EQUAL(st.total_bytes, 1 * MIB + 4 * KIB);
	free_map(map);
}

static void
test_unregister_errors(void)
{
	struct rdma_mem_map *map = new_map();

	CU_ASSERT_EQUAL(reg(map, BASE, 4 * MIB), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_register(map, (void *)(BASE + 4 * MIB), 2 * MIB,
					      RDMA_MEM_OWNER_ENV), 0);
	CU_ASSERT_EQUAL(unreg(map, BASE + 8 * MIB, 4 * KIB), -ENOENT);
	/* Partly registered: refused, nothing changes. */
	CU_ASSERT_EQUAL(unreg(map, BASE - 4 * KIB, 8 * KIB), -ENOENT);
	CU_ASSERT_EQUAL(xlate(map, BASE, 4 * MIB, NULL), 0);
	/* lib/env's memory is not the caller's to unregister, and vice versa. */
	CU_ASSERT_EQUAL(unreg(map, BASE + 4 * MIB - 4 * KIB, 8 * KIB), -EPERM);
	CU_ASSERT_EQUAL(rdma_mem_map_unregister(map, (void *)BASE, 4 * KIB, RDMA_MEM_OWNER_ENV),
			-EPERM);
	CU_ASSERT_EQUAL(xlate(map, BASE + 4 * MIB - 4 * KIB, 4 * KIB, NULL), 0);
	CU_ASSERT_EQUAL(unreg(map, BASE + 1, 4 * KIB), -EINVAL);
	CU_ASSERT_EQUAL(unreg(map, BASE, 0), -EINVAL);
	CU_ASSERT_EQUAL(g_fake.deregs, 0);
	free_map(map);
}

/* The init walk fills what memory events registered before it did not. */
static void
test_register_holes(void)
{
	struct rdma_mem_map *map = new_map();
	struct axon_rdma_mem_stats st;
	uint32_t k1, k2;

	CU_ASSERT_EQUAL(rdma_mem_map_register(map, (void *)(BASE + 2 * MIB), 2 * MIB,
					      RDMA_MEM_OWNER_ENV), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_register(map, (void *)(BASE + 8 * MIB), 4 * KIB,
					      RDMA_MEM_OWNER_ENV), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_register_holes(map, (void *)BASE, 16 * MIB,
						    RDMA_MEM_OWNER_ENV), 0);
	rdma_mem_map_get_stats(map, &st);
	CU_ASSERT_EQUAL(st.regions, 5);
	CU_ASSERT_EQUAL(st.total_bytes, 16 * MIB);
	CU_ASSERT_EQUAL(st.env_bytes, 16 * MIB);
	CU_ASSERT_EQUAL(xlate(map, BASE, 2 * MIB, &k1), 0);
	CU_ASSERT_EQUAL(xlate(map, BASE + 4 * MIB, 4 * MIB, &k2), 0);
	CU_ASSERT_NOT_EQUAL(k1, k2);
	CU_ASSERT_EQUAL(xlate(map, BASE + 8 * MIB + 4 * KIB, 8 * MIB - 4 * KIB, NULL), 0);
	/* Everything registered already: nothing to do. */
	CU_ASSERT_EQUAL(rdma_mem_map_register_holes(map, (void *)BASE, 16 * MIB,
						    RDMA_MEM_OWNER_ENV), 0);
	CU_ASSERT_EQUAL(g_fake.regs, 5);
	free_map(map);
}

/* Keys per PD; a PD removed takes its MRs with it. */
static void
test_several_pds(void)
{
	struct rdma_mem_map *map = new_map();
	uint32_t l0, r0, l3, r3;

	CU_ASSERT_EQUAL(rdma_mem_map_add_pd(map, 3, &g_pd3), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_add_pd(map, 3, &g_pd1), -EEXIST);
	CU_ASSERT_EQUAL(rdma_mem_map_add_pd(map, AXON_RDMA_MAX_DEVICES, &g_pd1), -EINVAL);
	CU_ASSERT_EQUAL(rdma_mem_map_slot_of_pd(map, &g_pd3), 3);
	CU_ASSERT_EQUAL(rdma_mem_map_slot_of_pd(map, &g_pd1), -ENODEV);
	CU_ASSERT_EQUAL(rdma_mem_map_slot_of_pd(map, NULL), -ENODEV);
	/* One PD failing fails the whole registration and undoes the others. */
	g_fake.fail_pd = &g_pd3;
	CU_ASSERT_EQUAL(reg(map, BASE, 2 * MIB), -EFAULT);
	CU_ASSERT_EQUAL(g_fake.live, 0);
	g_fake.fail_pd = NULL;
	CU_ASSERT_EQUAL(reg(map, BASE, 2 * MIB), 0);
	CU_ASSERT_EQUAL(g_fake.live, 2);
	CU_ASSERT_EQUAL(rdma_mem_map_add_pd(map, 1, &g_pd1), -EBUSY);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 0, &l0, &r0), 0);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 3, &l3, &r3), 0);
	CU_ASSERT_NOT_EQUAL(l0, l3);
	CU_ASSERT_NOT_EQUAL(r0, r3);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 1, &l3, &r3), -ENODEV);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 99, &l3, &r3), -EINVAL);
	rdma_mem_map_remove_pd(map, 3);
	CU_ASSERT_EQUAL(g_fake.live, 1);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 3, &l3, &r3), -ENODEV);
	CU_ASSERT_EQUAL(rdma_mem_map_translate(map, (void *)BASE, 64, 0, &l3, &r3), 0);
	CU_ASSERT_EQUAL(l3, l0);
	free_map(map);
}

/* Many regions all over the address space, each with its own keys. */
static void
test_many_regions(void)
{
	struct rdma_mem_map *map = new_map();
	enum { N = 2000 };
	static uintptr_t addr[N];
	static size_t len[N];
	static uint32_t key[N];
	struct axon_rdma_mem_stats st;
	uint64_t seed = 12345;
	uint32_t k;
	int i;

	for (i = 0; i < N; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Slots 64 MiB apart, spread over 125 GiB; a random offset and size. */
		addr[i] = BASE + (uint64_t)i * 64 * MIB + ((seed >> 33) % 4096) * 4 * KIB;
		len[i] = (1 + (seed >> 20) % 2048) * 4 * KIB;
		CU_ASSERT_EQUAL_FATAL(reg(map, addr[i], len[i]), 0);
	}
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(xlate(map, addr[i], len[i], &key[i]), 0);
		CU_ASSERT_EQUAL(xlate(map, addr[i] + len[i] - 1, 1, &k), 0);
		CU_ASSERT_EQUAL(k, key[i]);
		CU_ASSERT_EQUAL(xlate(map, addr[i] - 1, 1, NULL), -ENOENT);
		CU_ASSERT_EQUAL(xlate(map, addr[i] + len[i], 1, NULL), -ENOENT);
		if (i > 0) {
			CU_ASSERT_NOT_EQUAL(key[i], key[i - 1]);
		}
	}
	for (i = 0; i < N; i += 2) {
		CU_ASSERT_EQUAL(unreg(map, addr[i], len[i]), 0);
	}
	for (i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(xlate(map, addr[i], len[i], &k), i % 2 == 0 ? -ENOENT : 0);
		if (i % 2 == 1) {
			CU_ASSERT_EQUAL(k, key[i]);
		}
	}
	rdma_mem_map_get_stats(map, &st);
	CU_ASSERT_EQUAL(st.regions, N / 2);
	CU_ASSERT_EQUAL(g_fake.live, N / 2);
	free_map(map);
}

/*
 * Lock-free lookups during splits. The writer keeps cutting pieces off a
 * region, which re-points the entries of the part after the cut at a new
 * region one by one; a reader translating a buffer in that part must never
 * see an error.
 */
struct reader_ctx {
	struct rdma_mem_map *map;
	atomic_bool stop;
	_Atomic uint64_t lookups;
	uint64_t failures;
};

static void *
reader_main(void *arg)
{
	struct reader_ctx *c = arg;
	uint32_t l, r;

	while (!atomic_load(&c->stop)) {
		/* 6 MiB across three 2 MiB pages near the end of the region. */
		if (rdma_mem_map_translate(c->map, (void *)(BASE + 56 * MIB + 4 * KIB), 6 * MIB, 0,
					   &l, &r) != 0) {
			c->failures++;
		}
		c->lookups++;
	}
	return NULL;
}

static void
test_concurrent_lookups_during_splits(void)
{
	struct reader_ctx c;
	pthread_t reader;
	uint64_t seen;
	int round, i;

	for (round = 0; round < 4; round++) {
		memset(&c, 0, sizeof(c));
		c.map = new_map();
		CU_ASSERT_EQUAL_FATAL(reg(c.map, BASE, 64 * MIB), 0);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&reader, NULL, reader_main, &c), 0);
		/* Each cut splits the piece holding the reader's buffer: the part
		 * after the cut (the reader's included) moves to a new region. */
		for (i = 1; i <= 250; i++) {
			seen = atomic_load(&c.lookups);
			while (atomic_load(&c.lookups) < seen + 20) {
				sched_yield();
			}
			CU_ASSERT_EQUAL(unreg(c.map, BASE + 54 * MIB + 8 * KIB * i, 4 * KIB), 0);
		}
		atomic_store(&c.stop, true);
		pthread_join(reader, NULL);
		CU_ASSERT(c.lookups > 0);
		CU_ASSERT_EQUAL(c.failures, 0);
		free_map(c.map);
	}
}

int
main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("rdma_mem_map", NULL, NULL);
	CU_ADD_TEST(suite, test_aligned_region_boundaries);
	CU_ADD_TEST(suite, test_unaligned_region_boundaries);
	CU_ADD_TEST(suite, test_adjacent_regions_cross);
	CU_ADD_TEST(suite, test_register_errors);
	CU_ADD_TEST(suite, test_shrink_middle_prefix_suffix);
	CU_ADD_TEST(suite, test_unregister_errors);
	CU_ADD_TEST(suite, test_register_holes);
	CU_ADD_TEST(suite, test_several_pds);
	CU_ADD_TEST(suite, test_many_regions);
	CU_ADD_TEST(suite, test_concurrent_lookups_during_splits);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0 ? 1 : 0;
}
