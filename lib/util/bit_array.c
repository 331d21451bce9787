/* Bit maps over caller memory, and heap bit arrays that can be resized. */
#include "axon/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bits at or above `bit` within its word (bit % 64 .. 63). */
static inline uint64_t mask_from(uint32_t bit)
{
	return ~UINT64_C(0) << (bit % 64);
}

/*
 * Shared by the two finders: invert == 0 looks for set bits, invert == ~0
 * for clear ones (each word is complemented before the scan).
 */
static uint32_t bitmap_find(const uint64_t *map, uint32_t nbits, uint32_t start, uint64_t invert)
{
	uint32_t w, nwords;
	uint64_t word;

	if (start >= nbits) {
		return nbits;
	}
	nwords = (uint32_t)AXON_BITMAP_WORDS(nbits);
	w = start / 64;
	word = (map[w] ^ invert) & mask_from(start);
	while (word == 0) {
		if (++w == nwords) {
			return nbits;
		}
		word = map[w] ^ invert;
	}
	start = w * 64 + (uint32_t)__builtin_ctzll(word);
	/* An inverted last word has ones past nbits: clamp them away. */
	return start < nbits ? start : nbits;
}

uint32_t axon_bitmap_find_next_set(const uint64_t *map, uint32_t nbits, uint32_t start)
{
	return bitmap_find(map, nbits, start, 0);
}

uint32_t axon_bitmap_find_next_clear(const uint64_t *map, uint32_t nbits, uint32_t start)
{
	return bitmap_find(map, nbits, start, ~UINT64_C(0));
}

uint32_t axon_bitmap_count_set(const uint64_t *map, uint32_t nbits)
{
	uint32_t full = nbits / 64, count = 0;

	for (uint32_t w = 0; w < full; w++) {
		count += (uint32_t)__builtin_popcountll(map[w]);
	}
	if (nbits % 64) {
		count += (uint32_t)__builtin_popcountll(map[full] & ~mask_from(nbits));
	}
	return count;
}

/* ---- resizable bit arrays ----------------------------------------------- */

struct axon_bit_array {
	uint32_t num_bits;
	uint64_t *words; /* AXON_BITMAP_WORDS(num_bits); NULL when num_bits == 0 */
};

struct axon_bit_array *axon_bit_array_create(uint32_t num_bits)
{
	struct axon_bit_array *ba = calloc(1, sizeof(*ba));

	if (ba == NULL) {
		return NULL;
	}
	if (axon_bit_array_resize(ba, num_bits) != 0) {
		free(ba);
		return NULL;
	}
	return ba;
}

void axon_bit_array_free(struct axon_bit_array **ba)
{
	if (ba == NULL || *ba == NULL) {
		return;
	}
	free((*ba)->words);
	free(*ba);
	*ba = NULL;
}

int axon_bit_array_resize(struct axon_bit_array *ba, uint32_t num_bits)
{
	size_t old_words = AXON_BITMAP_WORDS(ba->num_bits);
	size_t new_words = AXON_BITMAP_WORDS(num_bits);
	uint64_t *words;

	if (num_bits > AXON_BIT_ARRAY_MAX_BITS) {
		return -EINVAL;
	}
	if (new_words == 0) {
		free(ba->words);
		ba->words = NULL;
		ba->num_bits = 0;
		return 0;
	}
	words = realloc(ba->words, new_words * sizeof(uint64_t));
	if (words == NULL) {
		return -ENOMEM;
	}
	if (new_words > old_words) {
		memset(words + old_words, 0, (new_words - old_words) * sizeof(uint64_t));
	}
	/* Keep the bits past the end clear, so growing later exposes zeros. */
	if (num_bits < ba->num_bits && num_bits % 64) {
		words[new_words - 1] &= ~mask_from(num_bits);
	}
	ba->words = words;
	ba->num_bits = num_bits;
	return 0;
}

uint32_t axon_bit_array_capacity(const struct axon_bit_array *ba)
{
	return ba->num_bits;
}

int axon_bit_array_set(struct axon_bit_array *ba, uint32_t bit)
{
	if (bit >= ba->num_bits) {
		return -EINVAL;
	}
	axon_bitmap_set(ba->words, bit);
	return 0;
}

int axon_bit_array_clear(struct axon_bit_array *ba, uint32_t bit)
{
	if (bit >= ba->num_bits) {
		return -EINVAL;
	}
	axon_bitmap_clear(ba->words, bit);
	return 0;
}

bool axon_bit_array_get(const struct axon_bit_array *ba, uint32_t bit)
{
	return bit < ba->num_bits && axon_bitmap_get(ba->words, bit);
}

static uint32_t none_if_end(const struct axon_bit_array *ba, uint32_t idx)
{
	return idx >= ba->num_bits ? AXON_BIT_ARRAY_NONE : idx;
}

uint32_t axon_bit_array_find_first_set(const struct axon_bit_array *ba, uint32_t start)
{
	return none_if_end(ba, axon_bitmap_find_next_set(ba->words, ba->num_bits, start));
}

uint32_t axon_bit_array_find_first_clear(const struct axon_bit_array *ba, uint32_t start)
{
	return none_if_end(ba, axon_bitmap_find_next_clear(ba->words, ba->num_bits, start));
}

uint32_t axon_bit_array_count_set(const struct axon_bit_array *ba)
{
	return axon_bitmap_count_set(ba->words, ba->num_bits);
}

uint32_t axon_bit_array_count_clear(const struct axon_bit_array *ba)
{
	return ba->num_bits - axon_bit_array_count_set(ba);
}

void axon_bit_array_set_all(struct axon_bit_array *ba)
{
	size_t nwords = AXON_BITMAP_WORDS(ba->num_bits);

	if (nwords == 0) {
		return;
	}
	memset(ba->words, 0xff, nwords * sizeof(uint64_t));
	if (ba->num_bits % 64) {
		ba->words[nwords - 1] &= ~mask_from(ba->num_bits);
	}
}

void axon_bit_array_clear_all(struct axon_bit_array *ba)
{
	if (ba->words != NULL) {
		memset(ba->words, 0, AXON_BITMAP_WORDS(ba->num_bits) * sizeof(uint64_t));
	}
}
