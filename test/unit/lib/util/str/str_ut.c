/* Unit tests for lib/util/str.c and the inline helpers of util.h. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <limits.h>

#include "lib/util/str.c"

static void test_strtrim(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""}, {"   ", ""}, {"a", "a"}, {"  a", "a"}, {"a  ", "a"},
		{" \t\na b \r\n", "a b"}, {"x y", "x y"},
	};
	char buf[32];

	for (size_t i = 0; i < AXON_COUNTOF(cases); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		CU_ASSERT_PTR_EQUAL(axon_strtrim(buf), buf);
		CU_ASSERT_STRING_EQUAL(buf, cases[i].out);
	}
	CU_ASSERT_PTR_NULL(axon_strtrim(NULL));
}

static void test_strscpy(void)
{
	char buf[6];

	memset(buf, 'z', sizeof(buf));
	CU_ASSERT_EQUAL(axon_strscpy(buf, "abc", sizeof(buf)), 3);
	CU_ASSERT_STRING_EQUAL(buf, "abc");
	CU_ASSERT_EQUAL(axon_strscpy(buf, "abcde", sizeof(buf)), 5); /* exactly fits */
	CU_ASSERT_STRING_EQUAL(buf, "abcde");
	CU_ASSERT_EQUAL(axon_strscpy(buf, "abcdef", sizeof(buf)), -E2BIG);
	CU_ASSERT_STRING_EQUAL(buf, "abcde");
	CU_ASSERT_EQUAL(axon_strscpy(buf, "", sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(axon_strscpy(buf, "a", 1), -E2BIG);
	CU_ASSERT_STRING_EQUAL(buf, "");
	buf[0] = 'q';
	CU_ASSERT_EQUAL(axon_strscpy(buf, "a", 0), -E2BIG);
	CU_ASSERT_EQUAL(buf[0], 'q'); /* nothing written */
}

static void test_strtol(void)
{
	long v = 42;
	char big[64];

	CU_ASSERT_EQUAL(axon_strtol("4096", 10, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(axon_strtol("-17", 10, &v), 0);
	CU_ASSERT_EQUAL(v, -17);
	CU_ASSERT_EQUAL(axon_strtol("+5", 10, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_EQUAL(axon_strtol("0x1000", 0, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(axon_strtol("1000", 16, &v), 0);
	CU_ASSERT_EQUAL(v, 4096);
	CU_ASSERT_EQUAL(axon_strtol("010", 0, &v), 0);
	CU_ASSERT_EQUAL(v, 8);
	snprintf(big, sizeof(big), "%ld", LONG_MAX);
	CU_ASSERT_EQUAL(axon_strtol(big, 10, &v), 0);
	CU_ASSERT_EQUAL(v, LONG_MAX);
	snprintf(big, sizeof(big), "%ld", LONG_MIN);
	CU_ASSERT_EQUAL(axon_strtol(big, 10, &v), 0);
	CU_ASSERT_EQUAL(v, LONG_MIN);

	v = 42;
	CU_ASSERT_EQUAL(axon_strtol("9223372036854775808", 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(axon_strtol("-9223372036854775809", 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(axon_strtol("99999999999999999999999", 0, &v), -ERANGE);
	CU_ASSERT_EQUAL(axon_strtol("", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("-", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol(" 5", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("5 ", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("12a", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("0x", 0, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("abc", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("5", 1, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("5", 37, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol("5", -1, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtol(NULL, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 42); /* untouched on error */
}

static void test_strtoull(void)
{
	unsigned long long v = 42;

	CU_ASSERT_EQUAL(axon_strtoull("18446744073709551615", 10, &v), 0);
	CU_ASSERT_EQUAL(v, ULLONG_MAX);
	CU_ASSERT_EQUAL(axon_strtoull("0xffffffffffffffff", 0, &v), 0);
	CU_ASSERT_EQUAL(v, ULLONG_MAX);
	CU_ASSERT_EQUAL(axon_strtoull("0", 10, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	v = 42;
	CU_ASSERT_EQUAL(axon_strtoull("18446744073709551616", 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(axon_strtoull("0x10000000000000000", 0, &v), -ERANGE);
	/* strtoull would turn "-1" into ULLONG_MAX. */
	CU_ASSERT_EQUAL(axon_strtoull("-1", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtoull("-0", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtoull("1k", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtoull("", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(axon_strtoull("\t1", 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, 42);
}

static void test_parse_size(void)
{
	static const struct {
		const char *in;
		uint64_t out;
	} ok[] = {
		{"0", 0}, {"4096", 4096}, {"0x1000", 4096}, {"0X10", 16}, {"4k", 4096},
		{"4K", 4096}, {"4KB", 4096}, {"4kib", 4096}, {"4KiB", 4096}, {"512M", 512ULL << 20},
		{"512m", 512ULL << 20}, {"1G", 1ULL << 30}, {"1GiB", 1ULL << 30}, {"2t", 2ULL << 40},
		{"1P", 1ULL << 50}, {"100B", 100}, {"100b", 100}, {"010", 10}, {"0x1b", 27},
		{"16383P", 16383ULL << 50}, {"18446744073709551615", UINT64_MAX},
		{"0xffffffffffffffff", UINT64_MAX}, {"17179869183G", 17179869183ULL << 30},
	};
	static const char *const bad[] = {
		"", "k", "-1", "+1", " 1", "1 ", "1.5G", "1X", "1KBB", "1Kb ", "1kk", "1iB", "0x",
		"0xg", "1E", "G1", "1 G", "1GiBs", "0x10z",
	};
	static const char *const range[] = {
		"16384P", "18446744073709551616", "17179869184G", "0x10000000000000000", "99999999999999999999k",
	};
	uint64_t v;

	for (size_t i = 0; i < AXON_COUNTOF(ok); i++) {
		v = 1;
		CU_ASSERT_EQUAL(axon_parse_size(ok[i].in, &v), 0);
		CU_ASSERT_EQUAL(v, ok[i].out);
	}
	for (size_t i = 0; i < AXON_COUNTOF(bad); i++) {
		v = 1;
		CU_ASSERT_EQUAL(axon_parse_size(bad[i], &v), -EINVAL);
		CU_ASSERT_EQUAL(v, 1);
	}
	for (size_t i = 0; i < AXON_COUNTOF(range); i++) {
		CU_ASSERT_EQUAL(axon_parse_size(range[i], &v), -ERANGE);
	}
	CU_ASSERT_EQUAL(axon_parse_size(NULL, &v), -EINVAL);
}

static void test_strsplit(void)
{
	char **f = NULL;

	CU_ASSERT_EQUAL(axon_strsplit("a,b,c", ',', &f), 3);
	CU_ASSERT_STRING_EQUAL(f[0], "a");
	CU_ASSERT_STRING_EQUAL(f[1], "b");
	CU_ASSERT_STRING_EQUAL(f[2], "c");
	CU_ASSERT_PTR_NULL(f[3]);
	axon_strarray_free(f);

	CU_ASSERT_EQUAL(axon_strsplit("a,,b,", ',', &f), 4);
	CU_ASSERT_STRING_EQUAL(f[0], "a");
	CU_ASSERT_STRING_EQUAL(f[1], "");
	CU_ASSERT_STRING_EQUAL(f[2], "b");
	CU_ASSERT_STRING_EQUAL(f[3], "");
	CU_ASSERT_PTR_NULL(f[4]);
	axon_strarray_free(f);

	CU_ASSERT_EQUAL(axon_strsplit("", ':', &f), 1);
	CU_ASSERT_STRING_EQUAL(f[0], "");
	CU_ASSERT_PTR_NULL(f[1]);
	axon_strarray_free(f);

	CU_ASSERT_EQUAL(axon_strsplit("no delim", ',', &f), 1);
	CU_ASSERT_STRING_EQUAL(f[0], "no delim");
	axon_strarray_free(f);

	CU_ASSERT_EQUAL(axon_strsplit("x", '\0', &f), 1);
	CU_ASSERT_STRING_EQUAL(f[0], "x");
	axon_strarray_free(f);

	CU_ASSERT_EQUAL(axon_strsplit(NULL, ',', &f), -EINVAL);
	CU_ASSERT_EQUAL(axon_strsplit("a", ',', NULL), -EINVAL);
	axon_strarray_free(NULL);
}

static void test_sprintf_alloc(void)
{
	char *s = axon_sprintf_alloc("%s-%d-%#x", "nvme", 7, 255);
	char big[3000];

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "nvme-7-0xff");
	free(s);

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = axon_sprintf_alloc("<%s>", big);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(strlen(s), sizeof(big) + 1);
	free(s);

	s = axon_sprintf_alloc("%s", "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
}

struct outer {
	int a;
	double b;
	char member;
};

static void test_helpers(void)
{
	struct outer o;
	int i = 0;
	uint64_t x = 1000;

	CU_ASSERT_PTR_EQUAL(AXON_CONTAINEROF(&o.member, struct outer, member), &o);
	CU_ASSERT_PTR_EQUAL(AXON_CONTAINEROF(&o.a, struct outer, a), &o);
	CU_ASSERT_EQUAL(AXON_MIN(3, -4), -4);
	CU_ASSERT_EQUAL(AXON_MAX(3u, 9u), 9u);
	/* nested: no shadowing warnings (-Wshadow=local is an error here) */
	CU_ASSERT_EQUAL(AXON_MIN(AXON_MIN(5, 2), AXON_MAX(AXON_MAX(1, 7), 3)), 2);
	/* each argument once */
	CU_ASSERT_EQUAL(AXON_MAX(i++, 0), 0);
	CU_ASSERT_EQUAL(i, 1);
	CU_ASSERT_EQUAL(AXON_ALIGN_UP(x, 512), 1024);
	CU_ASSERT_EQUAL(AXON_ALIGN_DOWN(x, 512), 512);
	CU_ASSERT_EQUAL(AXON_ALIGN_UP((uint64_t)1024, 512), 1024);
	CU_ASSERT_EQUAL(AXON_ALIGN_UP((uint64_t)0, 4096), 0);
	CU_ASSERT_EQUAL(AXON_ALIGN_UP((uint64_t)1 << 40 | 1, 4096), ((uint64_t)1 << 40) + 4096);
	CU_ASSERT_EQUAL(AXON_ALIGN_DOWN((uint64_t)1 << 40 | 4095, 4096), (uint64_t)1 << 40);
	CU_ASSERT_TRUE(AXON_IS_ALIGNED((uintptr_t)4096, 4096));
	CU_ASSERT_FALSE(AXON_IS_ALIGNED((uintptr_t)4097, 4096));
	CU_ASSERT_EQUAL(AXON_DIV_ROUND_UP(10u, 3u), 4u);
	CU_ASSERT_EQUAL(AXON_DIV_ROUND_UP(9u, 3u), 3u);
	CU_ASSERT_TRUE(axon_likely(1));
	CU_ASSERT_FALSE(axon_unlikely(0));

	CU_ASSERT_FALSE(axon_is_pow2(0));
	CU_ASSERT_TRUE(axon_is_pow2(1));
	CU_ASSERT_TRUE(axon_is_pow2(4096));
	CU_ASSERT_FALSE(axon_is_pow2(4097));
	CU_ASSERT_TRUE(axon_is_pow2(UINT64_C(1) << 63));
	CU_ASSERT_FALSE(axon_is_pow2(UINT64_MAX));
	CU_ASSERT_EQUAL(axon_u32log2(0), 0);
	CU_ASSERT_EQUAL(axon_u32log2(1), 0);
	CU_ASSERT_EQUAL(axon_u32log2(2), 1);
	CU_ASSERT_EQUAL(axon_u32log2(4095), 11);
	CU_ASSERT_EQUAL(axon_u32log2(4096), 12);
	CU_ASSERT_EQUAL(axon_u32log2(UINT32_MAX), 31);
	CU_ASSERT_EQUAL(axon_u64log2(UINT64_MAX), 63);
	CU_ASSERT_EQUAL(axon_u64log2(UINT64_C(1) << 40), 40);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(0), 1);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(1), 1);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(3), 4);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(4096), 4096);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(4097), 8192);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2(UINT64_C(1) << 63), UINT64_C(1) << 63);
	CU_ASSERT_EQUAL(axon_u64_roundup_pow2((UINT64_C(1) << 63) + 1), 0);
}

struct item {
	int v;
	TAILQ_ENTRY(item) link;
	STAILQ_ENTRY(item) slink;
};

static void test_queue_safe(void)
{
	TAILQ_HEAD(, item) head = TAILQ_HEAD_INITIALIZER(head);
	STAILQ_HEAD(, item) shead = STAILQ_HEAD_INITIALIZER(shead);
	struct item items[5], *it, *tmp;
	int sum = 0;

	for (int i = 0; i < 5; i++) {
		items[i].v = i;
		TAILQ_INSERT_TAIL(&head, &items[i], link);
		STAILQ_INSERT_TAIL(&shead, &items[i], slink);
	}
	/* Removing the current element while iterating. */
	TAILQ_FOREACH_SAFE(it, &head, link, tmp) {
		sum += it->v;
		TAILQ_REMOVE(&head, it, link);
		memset(&it->link, 0xa5, sizeof(it->link));
	}
	CU_ASSERT_EQUAL(sum, 10);
	CU_ASSERT_TRUE(TAILQ_EMPTY(&head));
	sum = 0;
	STAILQ_FOREACH_SAFE(it, &shead, slink, tmp) {
		sum += it->v;
		STAILQ_REMOVE_HEAD(&shead, slink);
		memset(&it->slink, 0xa5, sizeof(it->slink));
	}
	CU_ASSERT_EQUAL(sum, 10);
	CU_ASSERT_TRUE(STAILQ_EMPTY(&shead));
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("str", NULL, NULL);
	CU_ADD_TEST(suite, test_strtrim);
	CU_ADD_TEST(suite, test_strscpy);
	CU_ADD_TEST(suite, test_strtol);
	CU_ADD_TEST(suite, test_strtoull);
	CU_ADD_TEST(suite, test_parse_size);
	CU_ADD_TEST(suite, test_strsplit);
	CU_ADD_TEST(suite, test_sprintf_alloc);
	CU_ADD_TEST(suite, test_helpers);
	CU_ADD_TEST(suite, test_queue_safe);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
