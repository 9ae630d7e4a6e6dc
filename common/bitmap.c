/* bitmap.c - scans over the page bitmap (see bitmap.h). */
#include "bitmap.h"

uint64_t ps_bitmap_find(const uint8_t *map, uint64_t from, uint64_t to, int want)
{
	uint8_t skip = want ? 0x00 : 0xff; /* a byte that cannot hold the bit we want */
	uint64_t bit = from;

	while (bit < to) {
		if ((bit & 7) == 0 && to - bit >= 8 && __atomic_load_n(&map[bit >> 3], __ATOMIC_ACQUIRE) == skip) {
			bit += 8;
			continue;
		}
		if (ps_bitmap_test(map, bit) == want)
			return bit;
		bit++;
	}
	return to;
}

uint64_t ps_bitmap_count(const uint8_t *map, uint64_t nbits)
{
	uint64_t n = 0;
	uint64_t full = nbits >> 3;

	for (uint64_t i = 0; i < full; i++)
		n += (uint64_t)__builtin_popcount(__atomic_load_n(&map[i], __ATOMIC_ACQUIRE));
	for (uint64_t bit = full << 3; bit < nbits; bit++)
		n += (uint64_t)ps_bitmap_test(map, bit);
	return n;
}
