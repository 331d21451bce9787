/*
 * Unit tests for lib/util/crc32c.c: published vectors, and the ISA-L, SSE4.2
 * and table implementations against a bitwise reference and each other on
 * every length 0..4096 at every misalignment.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>

/* A small chunk makes the ISA-L path split even short buffers. */
#define CRC32C_ISAL_CHUNK 1000u
#include "lib/util/crc32c.c"

#define MAX_LEN 4096
#define MAX_MISALIGN 64

/* The definition itself, one bit at a time. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len, uint32_t crc)
{
	while (len--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++) {
			crc = (crc & 1) ? (crc >> 1) ^ CRC32C_POLY_REFLECTED : crc >> 1;
		}
	}
	return crc;
}

struct impl {
	const char *name;
	crc32c_fn fn;
};

static struct impl g_impls[3];
static int g_nimpls;
static uint8_t *g_buf; /* MAX_LEN + MAX_MISALIGN random bytes, 64-byte aligned */

static int suite_init(void)
{
	crc32c_impl(); /* builds the table */
	g_impls[g_nimpls++] = (struct impl){"table", crc32c_update_table};
#ifdef CRC32C_HAVE_SSE42
	if (cpu_has_sse42()) {
		g_impls[g_nimpls++] = (struct impl){"sse4.2", crc32c_update_sse42};
	} else {
		printf("\n  (no SSE4.2 on this CPU: not testing that implementation)\n");
	}
#endif
#ifdef AXON_CONFIG_ISAL
	g_impls[g_nimpls++] = (struct impl){"isa-l", crc32c_update_isal};
#endif
	if (posix_memalign((void **)&g_buf, 64, MAX_LEN + MAX_MISALIGN) != 0) {
		return 1;
	}
	srand(0xc0ffee);
	for (size_t i = 0; i < MAX_LEN + MAX_MISALIGN; i++) {
		g_buf[i] = (uint8_t)rand();
	}
	return 0;
}

static int suite_fini(void)
{
	free(g_buf);
	return 0;
}

static void test_vectors(void)
{
	static const struct {
		uint8_t fill; /* 0, 0xff, 1 = ascending, 2 = descending */
		uint32_t crc;
	} rfc3720[] = {{0, 0x8A9136AA}, {0xff, 0x62A8AB43}, {1, 0x46DD794E}, {2, 0x113FDB5C}};
	uint8_t buf[32];

	CU_ASSERT_EQUAL(axon_crc32c("123456789", 9), 0xE3069283);
	CU_ASSERT_EQUAL(axon_crc32c("", 0), 0);
	for (size_t v = 0; v < AXON_COUNTOF(rfc3720); v++) {
		for (int i = 0; i < 32; i++) {
			buf[i] = rfc3720[v].fill == 1 ? i : rfc3720[v].fill == 2 ? 31 - i : rfc3720[v].fill;
		}
		CU_ASSERT_EQUAL(axon_crc32c(buf, sizeof(buf)), rfc3720[v].crc);
		for (int k = 0; k < g_nimpls; k++) {
			CU_ASSERT_EQUAL(g_impls[k].fn(buf, sizeof(buf), AXON_CRC32C_INIT) ^
						AXON_CRC32C_XOROUT,
					rfc3720[v].crc);
		}
		CU_ASSERT_EQUAL(crc32c_bitwise(buf, sizeof(buf), AXON_CRC32C_INIT) ^ AXON_CRC32C_XOROUT,
				rfc3720[v].crc);
	}
	for (int k = 0; k < g_nimpls; k++) {
		CU_ASSERT_EQUAL(g_impls[k].fn((const uint8_t *)"123456789", 9, ~0u) ^ ~0u,
				0xE3069283);
		/* no bytes: the register is unchanged */
		CU_ASSERT_EQUAL(g_impls[k].fn(g_buf, 0, 0x12345678), 0x12345678);
	}
}

static void test_dispatch(void)
{
	const char *name = axon_crc32c_impl_name();

#ifdef AXON_CONFIG_ISAL
	CU_ASSERT_STRING_EQUAL(name, "isa-l");
#else
	CU_ASSERT(strcmp(name, "sse4.2") == 0 || strcmp(name, "table") == 0);
#endif
	printf("(%s) ", name);
	CU_ASSERT_EQUAL(axon_crc32c_update(g_buf, 100, 7), crc32c_bitwise(g_buf, 100, 7));
}

/* Every length 0..MAX_LEN at every misalignment 0..63: all implementations agree. */
static void test_all_lengths(void)
{
	unsigned int mismatches = 0;

	for (size_t off = 0; off < MAX_MISALIGN; off++) {
		for (size_t len = 0; len <= MAX_LEN; len++) {
			uint32_t want = g_impls[0].fn(g_buf + off, len, AXON_CRC32C_INIT);

			for (int k = 1; k < g_nimpls; k++) {
				mismatches += g_impls[k].fn(g_buf + off, len, AXON_CRC32C_INIT) != want;
			}
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

/* Every misalignment 0..63 on short and odd lengths, against the bitwise reference. */
static void test_misalignment(void)
{
	static const size_t lens[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 127,
				      255, 256, 257, 511, 999, 1000, 1001, 2049, 4000};
	unsigned int mismatches = 0;

	for (size_t off = 0; off < MAX_MISALIGN; off++) {
		for (size_t l = 0; l < AXON_COUNTOF(lens); l++) {
			uint32_t want = crc32c_bitwise(g_buf + off, lens[l], 0xdeadbeef);

			for (int k = 0; k < g_nimpls; k++) {
				mismatches += g_impls[k].fn(g_buf + off, lens[l], 0xdeadbeef) != want;
			}
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

/* Chaining pieces gives the same as one call, at every split point. */
static void test_chaining(void)
{
	const size_t len = 300;
	uint32_t whole = axon_crc32c_update(g_buf, len, AXON_CRC32C_INIT);
	unsigned int mismatches = 0;

	for (size_t split = 0; split <= len; split++) {
		for (int k = 0; k < g_nimpls; k++) {
			uint32_t c = g_impls[k].fn(g_buf, split, AXON_CRC32C_INIT);

			c = g_impls[k].fn(g_buf + split, len - split, c);
			mismatches += c != whole;
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

static void test_iov(void)
{
	struct iovec iov[8];
	uint32_t want = axon_crc32c_update(g_buf, MAX_LEN, AXON_CRC32C_INIT);
	size_t pos = 0;
	int n = 0;

	/* Uneven pieces, one of them empty. */
	static const size_t sizes[] = {1, 0, 511, 8, 1000, 3, 2573};
	for (size_t i = 0; i < AXON_COUNTOF(sizes); i++) {
		iov[n].iov_base = g_buf + pos;
		iov[n].iov_len = sizes[i];
		pos += sizes[i];
		n++;
	}
	CU_ASSERT_EQUAL_FATAL(pos, MAX_LEN);
	CU_ASSERT_EQUAL(axon_crc32c_iov_update(iov, n, AXON_CRC32C_INIT), want);
	CU_ASSERT_EQUAL(axon_crc32c_iov_update(iov, 0, 0x1234), 0x1234);
	CU_ASSERT_EQUAL(axon_crc32c_iov_update(iov, 1, AXON_CRC32C_INIT),
			axon_crc32c_update(g_buf, 1, AXON_CRC32C_INIT));
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("crc32c", suite_init, suite_fini);
	CU_ADD_TEST(suite, test_vectors);
	CU_ADD_TEST(suite, test_dispatch);
	CU_ADD_TEST(suite, test_all_lengths);
	CU_ADD_TEST(suite, test_misalignment);
	CU_ADD_TEST(suite, test_chaining);
	CU_ADD_TEST(suite, test_iov);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
