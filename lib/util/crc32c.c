/*
 * CRC32C (Castagnoli). Three interchangeable implementations of the raw
 * register update (no initial value, no final inversion; see util.h):
 *   - ISA-L's crc32_iscsi(), when built with ISA-L (fastest on large buffers);
 *   - the SSE4.2 crc32 instruction, eight bytes at a time;
 *   - a slicing-by-8 table, for CPUs without SSE4.2.
 * The first call picks the best one the build and the CPU offer.
 */
#include "axon/util.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#ifdef AXON_CONFIG_ISAL
#include <isa-l/crc.h>
#endif

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HAVE_SSE42 1
#endif

/* CRC32C's polynomial 0x1EDC6F41, bit-reversed for the LSB-first register. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

typedef uint32_t (*crc32c_fn)(const uint8_t *buf, size_t len, uint32_t crc);

/* ---- table --------------------------------------------------------------- */

/* g_table[k][b]: the register change for byte b followed by k zero bytes. */
static uint32_t g_table[8][256];

static void crc32c_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int bit = 0; bit < 8; bit++) {
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		}
		g_table[0][i] = c;
	}
	for (int k = 1; k < 8; k++) {
		for (int i = 0; i < 256; i++) {
			uint32_t prev = g_table[k - 1][i];

			g_table[k][i] = (prev >> 8) ^ g_table[0][prev & 0xff];
		}
	}
}

static uint32_t crc32c_update_table(const uint8_t *p, size_t len, uint32_t crc)
{
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo, hi;

		/* memcpy: p may be unaligned. The lanes assume a little-endian load. */
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = g_table[7][lo & 0xff] ^ g_table[6][(lo >> 8) & 0xff] ^
		      g_table[5][(lo >> 16) & 0xff] ^ g_table[4][lo >> 24] ^
		      g_table[3][hi & 0xff] ^ g_table[2][(hi >> 8) & 0xff] ^
		      g_table[1][(hi >> 16) & 0xff] ^ g_table[0][hi >> 24];
	}
	while (len--) {
		crc = g_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	}
	return crc;
}

/* ---- SSE4.2 -------------------------------------------------------------- */

#ifdef CRC32C_HAVE_SSE42
/* The target attribute lets this file build without -msse4.2 globally. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_update_sse42(const uint8_t *p,
								      size_t len, uint32_t crc)
{
	uint64_t c = crc;

	/* Reach 8-byte alignment, then eat words: aligned loads never split a line. */
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
	}
	while (len--) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
	}
	return (uint32_t)c;
}
#endif

/* ---- ISA-L --------------------------------------------------------------- */

#ifdef AXON_CONFIG_ISAL
/* crc32_iscsi() takes an int length: feed it in chunks well below INT_MAX. */
#ifndef CRC32C_ISAL_CHUNK
#define CRC32C_ISAL_CHUNK (1u << 30)
#endif

static uint32_t crc32c_update_isal(const uint8_t *p, size_t len, uint32_t crc)
{
	while (len > 0) {
		size_t n = AXON_MIN(len, (size_t)CRC32C_ISAL_CHUNK);

		/* ISA-L's prototype lacks const; it only reads the buffer. */
		crc = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, crc);
		p += n;
		len -= n;
	}
	return crc;
}
#endif

/* ---- selection ----------------------------------------------------------- */

static pthread_once_t g_select_once = PTHREAD_ONCE_INIT;
static crc32c_fn g_impl;
static const char *g_impl_name;

static bool cpu_has_sse42(void)
{
#ifdef CRC32C_HAVE_SSE42
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
#else
	return false;
#endif
}

static void crc32c_select(void)
{
	crc32c_table_init();
	g_impl = crc32c_update_table;
	g_impl_name = "table";
#ifdef AXON_CONFIG_ISAL
	g_impl = crc32c_update_isal;
	g_impl_name = "isa-l";
	return;
#endif
#ifdef CRC32C_HAVE_SSE42
	if (cpu_has_sse42()) {
		g_impl = crc32c_update_sse42;
		g_impl_name = "sse4.2";
	}
#endif
}

static crc32c_fn crc32c_impl(void)
{
	pthread_once(&g_select_once, crc32c_select);
	return g_impl;
}

uint32_t axon_crc32c_update(const void *buf, size_t len, uint32_t crc)
{
	return crc32c_impl()(buf, len, crc);
}

uint32_t axon_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc)
{
	crc32c_fn fn = crc32c_impl();

	for (int i = 0; i < iovcnt; i++) {
		crc = fn(iov[i].iov_base, iov[i].iov_len, crc);
	}
	return crc;
}

uint32_t axon_crc32c(const void *buf, size_t len)
{
	return axon_crc32c_update(buf, len, AXON_CRC32C_INIT) ^ AXON_CRC32C_XOROUT;
}

const char *axon_crc32c_impl_name(void)
{
	crc32c_impl();
	return g_impl_name;
}
