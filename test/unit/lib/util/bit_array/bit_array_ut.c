/* Unit tests for lib/util/bit_array.c: word edges, finds, counts, resizing. */
#include <CUnit/Basic.h>
#include <errno.h>

#include "lib/util/bit_array.c"

/* Sizes around every word edge. */
static const uint32_t g_sizes[] = {0, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 1024};

static void test_bitmap_fixed(void)
{
	uint64_t map[AXON_BITMAP_WORDS(130)] = {0};

	CU_ASSERT_EQUAL(AXON_COUNTOF(map), 3);
	CU_ASSERT_EQUAL(AXON_BITMAP_WORDS(0), 0);
	CU_ASSERT_EQUAL(AXON_BITMAP_WORDS(64), 1);
	CU_ASSERT_EQUAL(AXON_BITMAP_WORDS(65), 2);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_set(map, 130, 0), 130);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_clear(map, 130, 0), 0);
	axon_bitmap_set(map, 0);
	axon_bitmap_set(map, 63);
	axon_bitmap_set(map, 64);
	axon_bitmap_set(map, 129);
	CU_ASSERT_TRUE(axon_bitmap_get(map, 63));
	CU_ASSERT_FALSE(axon_bitmap_get(map, 62));
	CU_ASSERT_EQUAL(map[0], UINT64_C(0x8000000000000001));
	CU_ASSERT_EQUAL(map[1], 1);
	CU_ASSERT_EQUAL(axon_bitmap_count_set(map, 130), 4);
	CU_ASSERT_EQUAL(axon_bitmap_count_set(map, 129), 3); /* only the first nbits */
	CU_ASSERT_EQUAL(axon_bitmap_count_set(map, 64), 2);
	CU_ASSERT_EQUAL(axon_bitmap_count_set(map, 0), 0);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_set(map, 130, 1), 63);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_set(map, 130, 65), 129);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_set(map, 129, 65), 129); /* none below nbits */
	CU_ASSERT_EQUAL(axon_bitmap_find_next_set(map, 130, 130), 130);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_clear(map, 130, 0), 1);
	CU_ASSERT_EQUAL(axon_bitmap_find_next_clear(map, 130, 63), 65);
	axon_bitmap_clear(map, 63);
	CU_ASSERT_FALSE(axon_bitmap_get(map, 63));
	CU_ASSERT_EQUAL(axon_bitmap_find_next_clear(map, 130, 63), 63);

	/* A full map has no clear bit, even though the last word has spare bits. */
	for (uint32_t i = 0; i < 130; i++) {
		axon_bitmap_set(map, i);
	}
	CU_ASSERT_EQUAL(axon_bitmap_find_next_clear(map, 130, 0), 130);
	CU_ASSERT_EQUAL(axon_bitmap_count_set(map, 130), 130);
}

static void test_create_edges(void)
{
	for (size_t s = 0; s < AXON_COUNTOF(g_sizes); s++) {
		uint32_t n = g_sizes[s];
		struct axon_bit_array *ba = axon_bit_array_create(n);

		CU_ASSERT_PTR_NOT_NULL_FATAL(ba);
		CU_ASSERT_EQUAL(axon_bit_array_capacity(ba), n);
		CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 0);
		CU_ASSERT_EQUAL(axon_bit_array_count_clear(ba), n);
		CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 0), AXON_BIT_ARRAY_NONE);
		CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, 0),
				n ? 0 : AXON_BIT_ARRAY_NONE);
		/* Out of range. */
		CU_ASSERT_EQUAL(axon_bit_array_set(ba, n), -EINVAL);
		CU_ASSERT_EQUAL(axon_bit_array_clear(ba, n), -EINVAL);
		CU_ASSERT_FALSE(axon_bit_array_get(ba, n));
		CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, n), AXON_BIT_ARRAY_NONE);
		CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, UINT32_MAX), AXON_BIT_ARRAY_NONE);

		/* Each bit alone: set, find from below/at/after, clear. */
		for (uint32_t b = 0; b < n; b++) {
			CU_ASSERT_EQUAL(axon_bit_array_set(ba, b), 0);
			CU_ASSERT_TRUE(axon_bit_array_get(ba, b));
			CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 1);
			CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 0), b);
			CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, b), b);
			CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, b + 1), AXON_BIT_ARRAY_NONE);
			CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, b),
					b + 1 < n ? b + 1 : AXON_BIT_ARRAY_NONE);
			CU_ASSERT_EQUAL(axon_bit_array_clear(ba, b), 0);
			CU_ASSERT_FALSE(axon_bit_array_get(ba, b));
		}

		axon_bit_array_set_all(ba);
		CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), n);
		CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, 0), AXON_BIT_ARRAY_NONE);
		if (n > 0) {
			CU_ASSERT_TRUE(axon_bit_array_get(ba, n - 1));
			CU_ASSERT_EQUAL(axon_bit_array_clear(ba, n - 1), 0);
			CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, 0), n - 1);
		}
		axon_bit_array_clear_all(ba);
		CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 0);
		axon_bit_array_free(&ba);
		CU_ASSERT_PTR_NULL(ba);
	}
	axon_bit_array_free(NULL);
}

static void test_resize(void)
{
	struct axon_bit_array *ba = axon_bit_array_create(0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(ba);
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 64), 0);
	CU_ASSERT_EQUAL(axon_bit_array_set(ba, 63), 0);
	CU_ASSERT_EQUAL(axon_bit_array_set(ba, 64), -EINVAL);
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 200), 0);
	CU_ASSERT_TRUE(axon_bit_array_get(ba, 63));
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 1);
	CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 64), AXON_BIT_ARRAY_NONE);
	CU_ASSERT_EQUAL(axon_bit_array_set(ba, 199), 0);
	CU_ASSERT_EQUAL(axon_bit_array_set(ba, 130), 0);

	/* Shrinking to 131 drops bit 199 and keeps 130. */
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 131), 0);
	CU_ASSERT_EQUAL(axon_bit_array_capacity(ba), 131);
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 2);
	CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 64), 130);

	/* Shrinking inside a word clears the dropped bits for good. */
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 130), 0);
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 1);
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 300), 0);
	CU_ASSERT_FALSE(axon_bit_array_get(ba, 130));
	CU_ASSERT_FALSE(axon_bit_array_get(ba, 199));
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 1);
	CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 64), AXON_BIT_ARRAY_NONE);

	/* Down to nothing and back. */
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 0), 0);
	CU_ASSERT_EQUAL(axon_bit_array_capacity(ba), 0);
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 0);
	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, 65), 0);
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), 0);
	CU_ASSERT_EQUAL(axon_bit_array_set(ba, 64), 0);
	CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, 0), 64);

	CU_ASSERT_EQUAL(axon_bit_array_resize(ba, UINT32_MAX), -EINVAL);
	CU_ASSERT_EQUAL(axon_bit_array_capacity(ba), 65);
	CU_ASSERT_PTR_NULL(axon_bit_array_create(UINT32_MAX));
	axon_bit_array_free(&ba);
}

/* Compare finds and counts against a plain bool array on a pseudo-random pattern. */
static void test_random_pattern(void)
{
	enum { N = 777 };
	struct axon_bit_array *ba = axon_bit_array_create(N);
	bool ref[N];
	uint32_t seed = 12345, count = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ba);
	for (uint32_t i = 0; i < N; i++) {
		seed = seed * 1103515245 + 12345;
		ref[i] = (seed >> 16) % 3 == 0;
		if (ref[i]) {
			axon_bit_array_set(ba, i);
			count++;
		}
	}
	CU_ASSERT_EQUAL(axon_bit_array_count_set(ba), count);
	for (uint32_t start = 0; start <= N; start++) {
		uint32_t want_set = AXON_BIT_ARRAY_NONE, want_clear = AXON_BIT_ARRAY_NONE;

		for (uint32_t i = start; i < N; i++) {
			if (ref[i] && want_set == AXON_BIT_ARRAY_NONE) {
				want_set = i;
			}
			if (!ref[i] && want_clear == AXON_BIT_ARRAY_NONE) {
				want_clear = i;
			}
		}
		CU_ASSERT_EQUAL(axon_bit_array_find_first_set(ba, start), want_set);
		CU_ASSERT_EQUAL(axon_bit_array_find_first_clear(ba, start), want_clear);
	}
	axon_bit_array_free(&ba);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("bit_array", NULL, NULL);
	CU_ADD_TEST(suite, test_bitmap_fixed);
	CU_ADD_TEST(suite, test_create_edges);
	CU_ADD_TEST(suite, test_resize);
	CU_ADD_TEST(suite, test_random_pattern);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
