/* Unit tests for lib/util/uuid.c: round trips, parsing, and v5 known vectors. */
#include <CUnit/Basic.h>
#include <errno.h>

#include "lib/util/uuid.c"

static void test_generate_round_trip(void)
{
	struct axon_uuid a, b, c;
	char str[AXON_UUID_STRING_LEN];

	axon_uuid_generate(&a);
	axon_uuid_generate(&b);
	CU_ASSERT_FALSE(axon_uuid_is_null(&a));
	CU_ASSERT_NOT_EQUAL(axon_uuid_compare(&a, &b), 0);
	/* version 4, RFC 4122 variant */
	CU_ASSERT_EQUAL(a.u[6] >> 4, 4);
	CU_ASSERT_EQUAL(a.u[8] & 0xc0, 0x80);

	CU_ASSERT_EQUAL(axon_uuid_fmt_lower(str, sizeof(str), &a), 0);
	CU_ASSERT_EQUAL(strlen(str), 36);
	CU_ASSERT_EQUAL(str[8], '-');
	CU_ASSERT_EQUAL(str[23], '-');
	for (int i = 0; i < 36; i++) {
		CU_ASSERT(str[i] == '-' || (str[i] >= '0' && str[i] <= '9') ||
			  (str[i] >= 'a' && str[i] <= 'f'));
	}
	CU_ASSERT_EQUAL(axon_uuid_parse(&c, str), 0);
	CU_ASSERT_EQUAL(axon_uuid_compare(&a, &c), 0);
	CU_ASSERT_EQUAL(axon_uuid_fmt_lower(str, AXON_UUID_STRING_LEN - 1, &a), -EINVAL);
	CU_ASSERT_EQUAL(axon_uuid_fmt_lower(NULL, 64, &a), -EINVAL);
}

static void test_parse(void)
{
	static const char *const bad[] = {
		"", "6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b810-9dad-11d1-80b4-00c04fd430c8x",
		"6ba7b810-9dad-11d1-80b4-00c04fd430cg", "6ba7b8109dad11d180b400c04fd430c8",
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", "6ba7b810-9dad-11d1-80b4_00c04fd430c8",
		" 6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b810-9dad-11d1-80b4-00c04fd430c8 ",
	};
	struct axon_uuid u, orig;
	char str[AXON_UUID_STRING_LEN];

	CU_ASSERT_EQUAL(axon_uuid_parse(&u, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), 0);
	CU_ASSERT_EQUAL(axon_uuid_compare(&u, &axon_uuid_ns_dns), 0);
	CU_ASSERT_EQUAL(axon_uuid_fmt_lower(str, sizeof(str), &u), 0);
	CU_ASSERT_STRING_EQUAL(str, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");

	axon_uuid_generate(&orig);
	for (size_t i = 0; i < AXON_COUNTOF(bad); i++) {
		u = orig;
		CU_ASSERT_EQUAL(axon_uuid_parse(&u, bad[i]), -EINVAL);
		CU_ASSERT_EQUAL(axon_uuid_compare(&u, &orig), 0);
	}
	CU_ASSERT_EQUAL(axon_uuid_parse(&u, NULL), -EINVAL);
}

static void test_null_and_compare(void)
{
	struct axon_uuid z = {{0}}, a = {{0}}, b = {{0}};

	CU_ASSERT_TRUE(axon_uuid_is_null(&z));
	CU_ASSERT_EQUAL(axon_uuid_parse(&a, "00000000-0000-0000-0000-000000000000"), 0);
	CU_ASSERT_TRUE(axon_uuid_is_null(&a));
	a.u[15] = 1;
	CU_ASSERT_FALSE(axon_uuid_is_null(&a));
	b.u[0] = 1;
	/* byte order: the first byte is the most significant */
	CU_ASSERT(axon_uuid_compare(&a, &b) < 0);
	CU_ASSERT(axon_uuid_compare(&b, &a) > 0);
	CU_ASSERT_EQUAL(axon_uuid_compare(&a, &a), 0);
}

/* Version 5 vectors: RFC 9562 appendix A.4, and Python's uuid.uuid5() results. */
static void test_sha1_vectors(void)
{
	static const struct {
		const struct axon_uuid *ns;
		const char *name;
		const char *uuid;
	} vec[] = {
		{&axon_uuid_ns_dns, "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
		{&axon_uuid_ns_dns, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
		{&axon_uuid_ns_url, "http://www.ietf.org/rfc/rfc4122.txt",
		 "d0690b3c-b29d-52e7-81b0-d573b503f2d4"},
	};
	struct axon_uuid u, again;
	char str[AXON_UUID_STRING_LEN];

	for (size_t i = 0; i < AXON_COUNTOF(vec); i++) {
		axon_uuid_generate_sha1(&u, vec[i].ns, vec[i].name, strlen(vec[i].name));
		CU_ASSERT_EQUAL(axon_uuid_fmt_lower(str, sizeof(str), &u), 0);
		CU_ASSERT_STRING_EQUAL(str, vec[i].uuid);
		CU_ASSERT_EQUAL(u.u[6] >> 4, 5);
		/* deterministic */
		axon_uuid_generate_sha1(&again, vec[i].ns, vec[i].name, strlen(vec[i].name));
		CU_ASSERT_EQUAL(axon_uuid_compare(&u, &again), 0);
	}
	/* The name is len bytes: a different length is a different name. */
	axon_uuid_generate_sha1(&again, &axon_uuid_ns_dns, "www.example.com", 3);
	axon_uuid_generate_sha1(&u, &axon_uuid_ns_dns, "www", 3);
	CU_ASSERT_EQUAL(axon_uuid_compare(&u, &again), 0);
	axon_uuid_generate_sha1(&again, &axon_uuid_ns_url, "www", 3);
	CU_ASSERT_NOT_EQUAL(axon_uuid_compare(&u, &again), 0);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("uuid", NULL, NULL);
	CU_ADD_TEST(suite, test_generate_round_trip);
	CU_ADD_TEST(suite, test_parse);
	CU_ADD_TEST(suite, test_null_and_compare);
	CU_ADD_TEST(suite, test_sha1_vectors);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
