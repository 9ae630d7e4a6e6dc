/* bitmap.h - the copied-up page bitmap: page N is bit N%8 of byte N/8 (least significant bit first).
 *
 * The bytes usually live in a MAP_SHARED record mapping that other processes read and write at the same time:
 * setting and testing bits are single atomic byte operations, so a reader never sees a torn byte and a setter
 * never loses another process's bit. Callers serialise copy-up themselves (the bit is set only after the page's
 * bytes are in the data file); the bitmap itself never blocks.
 */
#ifndef PS_BITMAP_H
#define PS_BITMAP_H

#include <stdint.h>

static inline int ps_bitmap_test(const uint8_t *map, uint64_t bit)
{
	return (__atomic_load_n(&map[bit >> 3], __ATOMIC_ACQUIRE) >> (bit & 7)) & 1;
}

static inline void ps_bitmap_set(uint8_t *map, uint64_t bit)
{
	__atomic_fetch_or(&map[bit >> 3], (uint8_t)(1u << (bit & 7)), __ATOMIC_RELEASE);
}

/* First bit in [from, to) that is set (want=1) or clear (want=0); to when there is none. */
uint64_t ps_bitmap_find(const uint8_t *map, uint64_t from, uint64_t to, int want);

/* Number of set bits in [0, nbits). */
uint64_t ps_bitmap_count(const uint8_t *map, uint64_t nbits);

#endif
