/*
 * Axon utilities: small macros, CPU sets (core masks and lists), bit arrays,
 * string and number parsing, UUIDs, and CRC32C.
 *
 * Nothing here logs: functions report errors as negative errno values and
 * leave the wording to the caller. Nothing here takes a lock; an object is
 * used by one thread at a time unless a function says otherwise.
 *
 * Lists: use glibc's <sys/queue.h> (TAILQ_*, STAILQ_*, LIST_*), included
 * below. glibc lacks the *_FOREACH_SAFE forms (iterate while removing the
 * current element); they are added here when no other header defined them.
 */
#ifndef AXON_UTIL_H
#define AXON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- small helpers ------------------------------------------------------ */

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                                     \
	for ((var) = TAILQ_FIRST(head); (var) && ((tvar) = TAILQ_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif
#ifndef STAILQ_FOREACH_SAFE
#define STAILQ_FOREACH_SAFE(var, head, field, tvar)                                      \
	for ((var) = STAILQ_FIRST(head); (var) && ((tvar) = STAILQ_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)                                     \
	for ((var) = LIST_FIRST(head); (var) && ((tvar) = LIST_NEXT(var, field), 1); \
	     (var) = (tvar))
#endif

/** The structure of type TYPE that holds PTR in its member MEMBER. */
#define AXON_CONTAINEROF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define AXON_CONCAT_(a, b) a##b
#define AXON_CONCAT(a, b) AXON_CONCAT_(a, b)

/*
 * Minimum and maximum; each argument is evaluated once. The temporaries get
 * unique names so that nested uses do not shadow each other.
 */
#define AXON_MIN(a, b) \
	AXON_MIN_(a, b, AXON_CONCAT(axon_min_a_, __COUNTER__), AXON_CONCAT(axon_min_b_, __COUNTER__))
#define AXON_MAX(a, b) \
	AXON_MAX_(a, b, AXON_CONCAT(axon_max_a_, __COUNTER__), AXON_CONCAT(axon_max_b_, __COUNTER__))
#define AXON_MIN_(a, b, ta, tb) \
	__extension__({ __typeof__(a) ta = (a); __typeof__(b) tb = (b); ta < tb ? ta : tb; })
#define AXON_MAX_(a, b, ta, tb) \
	__extension__({ __typeof__(a) ta = (a); __typeof__(b) tb = (b); ta > tb ? ta : tb; })

/** Round X up / down to a multiple of A, which must be a power of two. */
#define AXON_ALIGN_UP(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define AXON_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define AXON_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)

/** Ceiling of N / D for unsigned N, D (D > 0). */
#define AXON_DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

/** Number of elements of an array (not a pointer). */
#define AXON_COUNTOF(arr) (sizeof(arr) / sizeof((arr)[0]))

/** Branch hints for hot paths. */
#define axon_likely(x) __builtin_expect(!!(x), 1)
#define axon_unlikely(x) __builtin_expect(!!(x), 0)

#define AXON_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

/** True if x is a power of two (0 is not). */
static inline bool axon_is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/** floor(log2(x)); 0 for x == 0. */
static inline uint32_t axon_u32log2(uint32_t x)
{
	return x == 0 ? 0 : 31 - (uint32_t)__builtin_clz(x);
}

static inline uint32_t axon_u64log2(uint64_t x)
{
	return x == 0 ? 0 : 63 - (uint32_t)__builtin_clzll(x);
}

/** The smallest power of two >= x; 1 for x == 0, 0 if it does not fit. */
static inline uint64_t axon_u64_roundup_pow2(uint64_t x)
{
	if (x <= 1) {
		return 1;
	}
	if (x > (UINT64_C(1) << 63)) {
		return 0;
	}
	return UINT64_C(1) << (64 - __builtin_clzll(x - 1));
}

/* ---- bitmaps over caller memory ----------------------------------------- */

/*
 * A fixed-capacity bit map is an array of uint64_t words that the caller owns
 * (a struct member, a stack array): AXON_BITMAP_WORDS(nbits) words, bit i in
 * word i / 64 at position i % 64. Indexes must be < nbits; bits past nbits in
 * the last word must stay clear.
 */
#define AXON_BITMAP_WORDS(nbits) AXON_DIV_ROUND_UP((size_t)(nbits), 64)

static inline void axon_bitmap_set(uint64_t *map, uint32_t bit)
{
	map[bit / 64] |= UINT64_C(1) << (bit % 64);
}

static inline void axon_bitmap_clear(uint64_t *map, uint32_t bit)
{
	map[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
}

static inline bool axon_bitmap_get(const uint64_t *map, uint32_t bit)
{
	return (map[bit / 64] >> (bit % 64)) & 1;
}

/** Index of the first set bit at or after start, or nbits if none. */
uint32_t axon_bitmap_find_next_set(const uint64_t *map, uint32_t nbits, uint32_t start);
/** Index of the first clear bit at or after start, or nbits if none. */
uint32_t axon_bitmap_find_next_clear(const uint64_t *map, uint32_t nbits, uint32_t start);
/** Number of set bits among the first nbits. */
uint32_t axon_bitmap_count_set(const uint64_t *map, uint32_t nbits);

/* ---- resizable bit arrays ----------------------------------------------- */

/** Returned by the find functions when no bit matches. */
#define AXON_BIT_ARRAY_NONE UINT32_MAX
/** The largest capacity (AXON_BIT_ARRAY_NONE is never a valid index). */
#define AXON_BIT_ARRAY_MAX_BITS (UINT32_MAX - 1)

struct axon_bit_array;

/**
 * Allocate a bit array of num_bits bits (0 is allowed), all clear.
 * Returns NULL if num_bits > AXON_BIT_ARRAY_MAX_BITS or memory is short.
 */
struct axon_bit_array *axon_bit_array_create(uint32_t num_bits);
/** Free *ba (NULL is fine) and set *ba to NULL. */
void axon_bit_array_free(struct axon_bit_array **ba);
/**
 * Change the capacity. New bits are clear; bits past the new end are lost.
 * The handle stays valid. Returns 0, -EINVAL (num_bits too large) or -ENOMEM
 * (the array is then unchanged).
 */
int axon_bit_array_resize(struct axon_bit_array *ba, uint32_t num_bits);
uint32_t axon_bit_array_capacity(const struct axon_bit_array *ba);
/** Set / clear one bit. Returns 0, or -EINVAL if bit >= capacity. */
int axon_bit_array_set(struct axon_bit_array *ba, uint32_t bit);
int axon_bit_array_clear(struct axon_bit_array *ba, uint32_t bit);
/** false for a bit past the end. */
bool axon_bit_array_get(const struct axon_bit_array *ba, uint32_t bit);
/** First set / clear bit at or after start, or AXON_BIT_ARRAY_NONE. */
uint32_t axon_bit_array_find_first_set(const struct axon_bit_array *ba, uint32_t start);
uint32_t axon_bit_array_find_first_clear(const struct axon_bit_array *ba, uint32_t start);
uint32_t axon_bit_array_count_set(const struct axon_bit_array *ba);
uint32_t axon_bit_array_count_clear(const struct axon_bit_array *ba);
void axon_bit_array_set_all(struct axon_bit_array *ba);
void axon_bit_array_clear_all(struct axon_bit_array *ba);

/* ---- CPU sets ----------------------------------------------------------- */

/** Cores 0 .. AXON_CPUSET_SIZE - 1 can be named. */
#define AXON_CPUSET_SIZE 1024
/** Buffer size for axon_cpuset_fmt(): "0x", 256 hex digits, NUL. */
#define AXON_CPUSET_STR_MAX (2 + AXON_CPUSET_SIZE / 4 + 1)

struct axon_cpuset {
	uint64_t bits[AXON_CPUSET_SIZE / 64];
};

/** Iterate cpu (an int) over the members of set, in increasing order. */
#define AXON_CPUSET_FOREACH(cpu, set) \
	for ((cpu) = axon_cpuset_first(set); (cpu) >= 0; (cpu) = axon_cpuset_next(set, cpu))

void axon_cpuset_zero(struct axon_cpuset *set);
/** cpu must be < AXON_CPUSET_SIZE (asserted; ignored in release builds). */
void axon_cpuset_set(struct axon_cpuset *set, uint32_t cpu);
void axon_cpuset_clear(struct axon_cpuset *set, uint32_t cpu);
/** false for cpu >= AXON_CPUSET_SIZE. */
bool axon_cpuset_test(const struct axon_cpuset *set, uint32_t cpu);
uint32_t axon_cpuset_count(const struct axon_cpuset *set);
/** The lowest member, or -1 if the set is empty. */
int axon_cpuset_first(const struct axon_cpuset *set);
/** The lowest member greater than prev, or -1. */
int axon_cpuset_next(const struct axon_cpuset *set, int prev);
/** dst &= src; dst |= src. */
void axon_cpuset_and(struct axon_cpuset *dst, const struct axon_cpuset *src);
void axon_cpuset_or(struct axon_cpuset *dst, const struct axon_cpuset *src);
bool axon_cpuset_equal(const struct axon_cpuset *a, const struct axon_cpuset *b);

/**
 * Parse a core mask or a core list into *set.
 *   mask: hexadecimal, with or without "0x"/"0X": "0x3", "3", "ff00". Bit n is
 *         core n. A bare number is always a mask ("10" is core 4); write
 *         "[10]" for core 10. "0x0" parses to an empty set.
 *   list: decimal cores and inclusive ranges separated by commas, optionally
 *         in brackets: "[0-1]", "[0,2-3]", "0,1", "0-3", "[5]". Spaces
 *         around items are allowed. A range's end must not be below its start.
 * Leading and trailing white space is ignored.
 * Returns 0, or -EINVAL (syntax, a core >= AXON_CPUSET_SIZE, NULL); *set is
 * left unchanged on error.
 */
int axon_cpuset_parse(struct axon_cpuset *set, const char *str);

/**
 * Write set as a hex mask without leading zeros ("0x3", "0x0" when empty).
 * Returns the length written (without the NUL), or -ENOSPC if size is too
 * small (AXON_CPUSET_STR_MAX always suffices).
 */
int axon_cpuset_fmt(const struct axon_cpuset *set, char *buf, size_t size);

/* ---- strings and numbers ------------------------------------------------ */

/** Remove leading and trailing white space in place (moving the text to s). Returns s. */
char *axon_strtrim(char *s);

/**
 * Copy src into dst of size bytes, always NUL-terminated when size > 0.
 * Returns the length copied (without the NUL), or -E2BIG if src did not fit
 * (dst then holds the truncated prefix).
 */
ssize_t axon_strscpy(char *dst, const char *src, size_t size);

/**
 * Parse the whole of str as an integer in base (2..36, or 0 for C rules:
 * "0x" hex, "0" octal). No white space or trailing characters are allowed.
 * Returns 0, -EINVAL (empty, not a number, trailing junk, bad base, a '-'
 * for the unsigned form) or -ERANGE (does not fit). *out is set only on success.
 */
int axon_strtol(const char *str, int base, long *out);
int axon_strtoull(const char *str, int base, unsigned long long *out);

/**
 * Parse a size: a decimal or "0x" hex number, then an optional binary unit,
 * case-insensitive: B, K/KB/KiB (2^10), M.. (2^20), G.. (2^30), T.. (2^40),
 * P.. (2^50). "4096", "0x1000", "4k", "512M", "1GiB". (With hex, "b" is a
 * digit: "0x1b" is 27.) Returns 0, -EINVAL (syntax) or -ERANGE (overflow).
 */
int axon_parse_size(const char *str, uint64_t *out);

/**
 * Split str at every delim into a NULL-terminated array of new strings.
 * Empty fields are kept: "a,,b" gives 3 fields and "" gives one empty field.
 * Returns the number of fields, or -EINVAL (NULL argument) or -ENOMEM.
 * Free the array with axon_strarray_free().
 */
int axon_strsplit(const char *str, char delim, char ***fields);
/** Free an array from axon_strsplit() (NULL is fine). */
void axon_strarray_free(char **array);

/** printf into a new buffer (free() it). Returns NULL if memory is short. */
char *axon_sprintf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *axon_vsprintf_alloc(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ---- UUIDs --------------------------------------------------------------- */

/** "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" plus the NUL. */
#define AXON_UUID_STRING_LEN 37

/** A UUID in its RFC 4122 byte order (as on the wire and in NVMe NGUID/UUID fields). */
struct axon_uuid {
	uint8_t u[16];
};

/** Well-known namespaces of RFC 4122 appendix C, for axon_uuid_generate_sha1(). */
extern const struct axon_uuid axon_uuid_ns_dns;
extern const struct axon_uuid axon_uuid_ns_url;
extern const struct axon_uuid axon_uuid_ns_oid;
extern const struct axon_uuid axon_uuid_ns_x500;

/** A random (version 4) UUID. */
void axon_uuid_generate(struct axon_uuid *uuid);
/**
 * A name-based version 5 (SHA-1) UUID: the same namespace and name always give
 * the same UUID. name is len bytes (need not be NUL-terminated).
 */
void axon_uuid_generate_sha1(struct axon_uuid *uuid, const struct axon_uuid *ns,
			     const void *name, size_t len);
/** Parse the 36-character form (either case). Returns 0 or -EINVAL; *uuid unchanged on error. */
int axon_uuid_parse(struct axon_uuid *uuid, const char *str);
/** Write the lower-case 36-character form. Returns 0, or -EINVAL if size < AXON_UUID_STRING_LEN. */
int axon_uuid_fmt_lower(char *buf, size_t size, const struct axon_uuid *uuid);
/** memcmp order: <0, 0, >0. */
int axon_uuid_compare(const struct axon_uuid *a, const struct axon_uuid *b);
/** True for the all-zero UUID. */
bool axon_uuid_is_null(const struct axon_uuid *uuid);

/* ---- CRC32C -------------------------------------------------------------- */

/*
 * CRC32C (Castagnoli; reflected polynomial 0x82F63B78), as used by iSCSI,
 * NVMe/TCP header and data digests, ext4 and btrfs.
 *
 * The standard CRC32C of a message starts the register at 0xFFFFFFFF and
 * inverts it at the end; axon_crc32c("123456789", 9) == 0xE3069283.
 * axon_crc32c_update() does neither: it only advances the register, so a
 * message in pieces is checksummed by chaining:
 *
 *	uint32_t crc = AXON_CRC32C_INIT;
 *	crc = axon_crc32c_update(hdr, hdr_len, crc);
 *	crc = axon_crc32c_update(data, data_len, crc);
 *	digest = crc ^ AXON_CRC32C_XOROUT;    (NVMe/TCP sends it little-endian)
 *
 * ISA-L's crc32_iscsi() is used when built with it, else the SSE4.2 crc32
 * instruction when the CPU has it, else a table; all give the same results.
 */
#define AXON_CRC32C_INIT 0xFFFFFFFFu
#define AXON_CRC32C_XOROUT 0xFFFFFFFFu

/** Advance the raw CRC32C register crc over len bytes of buf. */
uint32_t axon_crc32c_update(const void *buf, size_t len, uint32_t crc);
/** The same over the iovcnt buffers of iov, in order. */
uint32_t axon_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc);
/** The standard CRC32C of one buffer (INIT, update, XOROUT). */
uint32_t axon_crc32c(const void *buf, size_t len);
/** Which implementation runs: "isa-l", "sse4.2" or "table". */
const char *axon_crc32c_impl_name(void);

#ifdef __cplusplus
}
#endif
#endif /* AXON_UTIL_H */
