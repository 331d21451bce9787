/* Unit tests for lib/util/cpuset.c: every accepted syntax and the malformed ones. */
#include <CUnit/Basic.h>
#include <errno.h>

#include "lib/util/cpuset.c"

/* Parse str and check the members equal cpus[0..n). */
static void expect_cpus(const char *str, const uint32_t *cpus, uint32_t n)
{
	struct axon_cpuset set, want;
	int rc;

	axon_cpuset_zero(&want);
	for (uint32_t i = 0; i < n; i++) {
		axon_cpuset_set(&want, cpus[i]);
	}
	rc = axon_cpuset_parse(&set, str);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "\nrejected: '%s'\n", str);
		return;
	}
	CU_ASSERT_TRUE(axon_cpuset_equal(&set, &want));
	CU_ASSERT_EQUAL(axon_cpuset_count(&set), n);
}

#define EXPECT(str, ...)                                                   \
	do {                                                               \
		const uint32_t _c[] = {__VA_ARGS__};                       \
		expect_cpus(str, _c, (uint32_t)AXON_COUNTOF(_c));          \
	} while (0)

static void test_masks(void)
{
	EXPECT("0x3", 0, 1);
	EXPECT("0X3", 0, 1);
	EXPECT("3", 0, 1);
	EXPECT("10", 4);
	EXPECT("0x1", 0);
	EXPECT("0xf0", 4, 5, 6, 7);
	EXPECT("0xF0", 4, 5, 6, 7);
	EXPECT("Ab", 0, 1, 3, 5, 7);
	EXPECT("  0x5\n", 0, 2);
	EXPECT("0x8000000000000000", 63);
	EXPECT("0x10000000000000000", 64);
	EXPECT("0x00000000000000000000000000000000000003", 0, 1);
	expect_cpus("0x0", NULL, 0);
	expect_cpus("0", NULL, 0);
}

static void test_mask_limits(void)
{
	struct axon_cpuset set;
	char buf[600];

	/* 256 digits: cores 1020..1023 via the top digit. */
	memset(buf, '0', 256);
	buf[0] = 'f';
	buf[256] = '\0';
	EXPECT(buf, 1020, 1021, 1022, 1023);

	/* 257 digits with a non-zero top digit: core 1024 does not exist. */
	memset(buf, '0', 257);
	buf[0] = '1';
	buf[257] = '\0';
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, buf), -EINVAL);

	/* Leading zeros beyond 1024 bits are harmless. */
	memset(buf, '0', 500);
	buf[499] = '1';
	buf[500] = '\0';
	EXPECT(buf, 0);

	/* All 1024 cores. */
	buf[0] = '0';
	buf[1] = 'x';
	memset(buf + 2, 'f', 256);
	buf[258] = '\0';
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, buf), 0);
	CU_ASSERT_EQUAL(axon_cpuset_count(&set), 1024);
}

static void test_lists(void)
{
	EXPECT("[0-1]", 0, 1);
	EXPECT("[0,2-3]", 0, 2, 3);
	EXPECT("0,1", 0, 1);
	EXPECT("0-3", 0, 1, 2, 3);
	EXPECT("[5]", 5);
	EXPECT("[10]", 10);
	EXPECT("[1023]", 1023);
	EXPECT("[3-3]", 3);
	EXPECT("[0, 2 - 3 ,7]", 0, 2, 3, 7);
	EXPECT("1,1,1", 1);
	EXPECT("[0-2,1-3]", 0, 1, 2, 3);
	EXPECT("63,64,127,128", 63, 64, 127, 128);
	EXPECT(" [4,5] ", 4, 5);
	EXPECT("007,8", 7, 8);
}

static void test_full_range(void)
{
	struct axon_cpuset set;

	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, "[0-1023]"), 0);
	CU_ASSERT_EQUAL(axon_cpuset_count(&set), 1024);
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, "0-1024"), -EINVAL);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"", " ", "0x", "0X", "0xg", "0x3g", "g", "0x-1", "-1", "x3", "0x 3", "3 3",
		"[", "]", "[]", "[ ]", "[0", "0]", "[0]]", "[[0]]", "[0-]", "[-1]", "[0--1]",
		"[1-0]", "[3-2]", "[0,]", "[,0]", "0,", ",0", "0,,1", "0-", "-", "0-1-2",
		"[1024]", "1024,0", "[99999999999999999999]", "[0x3]", "[a]", "1.5", "0,1x",
		"[0] 1", "[0],[1]", "0-3,", "+1,2", "1,+2", "0x3,4", "0x1 ",
	};
	struct axon_cpuset set, orig;

	axon_cpuset_zero(&orig);
	axon_cpuset_set(&orig, 9);
	for (size_t i = 0; i < AXON_COUNTOF(bad); i++) {
		set = orig;
		int rc = axon_cpuset_parse(&set, bad[i]);

		/* "0x1 " is fine (trailing space); everything else must fail. */
		if (strcmp(bad[i], "0x1 ") == 0) {
			CU_ASSERT_EQUAL(rc, 0);
			continue;
		}
		CU_ASSERT_EQUAL(rc, -EINVAL);
		if (rc != -EINVAL) {
			fprintf(stderr, "\naccepted: '%s'\n", bad[i]);
		}
		/* The set is untouched on error. */
		CU_ASSERT_TRUE(axon_cpuset_equal(&set, &orig));
	}
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, NULL), -EINVAL);
	CU_ASSERT_EQUAL(axon_cpuset_parse(NULL, "0x1"), -EINVAL);
}

static void test_ops(void)
{
	struct axon_cpuset a, b, c;
	int cpu, n = 0;

	axon_cpuset_zero(&a);
	CU_ASSERT_EQUAL(axon_cpuset_first(&a), -1);
	CU_ASSERT_EQUAL(axon_cpuset_count(&a), 0);
	axon_cpuset_set(&a, 0);
	axon_cpuset_set(&a, 63);
	axon_cpuset_set(&a, 64);
	axon_cpuset_set(&a, 1023);
	CU_ASSERT_TRUE(axon_cpuset_test(&a, 63));
	CU_ASSERT_FALSE(axon_cpuset_test(&a, 62));
	CU_ASSERT_FALSE(axon_cpuset_test(&a, 1024));
	CU_ASSERT_FALSE(axon_cpuset_test(&a, UINT32_MAX));
	CU_ASSERT_EQUAL(axon_cpuset_count(&a), 4);
	CU_ASSERT_EQUAL(axon_cpuset_first(&a), 0);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, 0), 63);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, 63), 64);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, 64), 1023);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, 1023), -1);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, 5000), -1);
	CU_ASSERT_EQUAL(axon_cpuset_next(&a, -7), -1);
	AXON_CPUSET_FOREACH(cpu, &a) {
		n++;
	}
	CU_ASSERT_EQUAL(n, 4);

	axon_cpuset_clear(&a, 63);
	CU_ASSERT_FALSE(axon_cpuset_test(&a, 63));
	CU_ASSERT_EQUAL(axon_cpuset_count(&a), 3);

	CU_ASSERT_EQUAL(axon_cpuset_parse(&b, "[0-3]"), 0);
	c = a;
	axon_cpuset_and(&c, &b);
	CU_ASSERT_EQUAL(axon_cpuset_count(&c), 1);
	CU_ASSERT_TRUE(axon_cpuset_test(&c, 0));
	c = a;
	axon_cpuset_or(&c, &b);
	CU_ASSERT_EQUAL(axon_cpuset_count(&c), 6);
	CU_ASSERT_FALSE(axon_cpuset_equal(&a, &c));
	c = a;
	CU_ASSERT_TRUE(axon_cpuset_equal(&a, &c));
}

static void test_fmt(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"0x3", "0x3"}, {"3", "0x3"}, {"[0,2-3]", "0xd"}, {"0x0", "0x0"},
		{"0x000f0", "0xf0"}, {"[64]", "0x10000000000000000"}, {"[4-7]", "0xf0"},
	};
	struct axon_cpuset set, back;
	char buf[AXON_CPUSET_STR_MAX];

	for (size_t i = 0; i < AXON_COUNTOF(cases); i++) {
		CU_ASSERT_EQUAL_FATAL(axon_cpuset_parse(&set, cases[i].in), 0);
		CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, sizeof(buf)), (int)strlen(cases[i].out));
		CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
		CU_ASSERT_EQUAL(axon_cpuset_parse(&back, buf), 0);
		CU_ASSERT_TRUE(axon_cpuset_equal(&set, &back));
	}

	/* Largest: every core, 256 digits. */
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, "[0-1023]"), 0);
	CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, sizeof(buf)), AXON_CPUSET_STR_MAX - 1);
	CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, sizeof(buf) - 1), -ENOSPC);
	CU_ASSERT_EQUAL(axon_cpuset_parse(&back, buf), 0);
	CU_ASSERT_TRUE(axon_cpuset_equal(&set, &back));

	/* Size checks: "0x3" needs 4 bytes. */
	CU_ASSERT_EQUAL(axon_cpuset_parse(&set, "0x3"), 0);
	CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, 4), 3);
	CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, 3), -ENOSPC);
	CU_ASSERT_EQUAL(axon_cpuset_fmt(&set, buf, 0), -ENOSPC);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("cpuset", NULL, NULL);
	CU_ADD_TEST(suite, test_masks);
	CU_ADD_TEST(suite, test_mask_limits);
	CU_ADD_TEST(suite, test_lists);
	CU_ADD_TEST(suite, test_full_range);
	CU_ADD_TEST(suite, test_malformed);
	CU_ADD_TEST(suite, test_ops);
	CU_ADD_TEST(suite, test_fmt);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
