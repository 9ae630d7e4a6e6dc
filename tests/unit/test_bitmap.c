/* test_bitmap.c - bit order, find set/clear across byte boundaries, empty ranges, count (bitmap.h). */
#include "fakes.h"
#include "bitmap.h"

static void test_set_uses_lsb_first_order(void **state)
{
	uint8_t map[2] = { 0, 0 };

	(void)state;
	ps_bitmap_set(map, 0);
	ps_bitmap_set(map, 9);
	assert_int_equal(map[0], 0x01);
	assert_int_equal(map[1], 0x02);
	assert_true(ps_bitmap_test(map, 0));
	assert_false(ps_bitmap_test(map, 1));
	assert_true(ps_bitmap_test(map, 9));
	assert_false(ps_bitmap_test(map, 8));
}

static void test_set_keeps_other_bits(void **state)
{
	uint8_t map[1] = { 0x81 };

	(void)state;
	ps_bitmap_set(map, 3);
	ps_bitmap_set(map, 3);
	assert_int_equal(map[0], 0x89);
}

static void test_find_set_crosses_byte_boundaries(void **state)
{
	uint8_t map[8] = { 0 };

	(void)state;
	ps_bitmap_set(map, 13);
	ps_bitmap_set(map, 40);
	assert_int_equal(ps_bitmap_find(map, 0, 64, 1), 13);
	assert_int_equal(ps_bitmap_find(map, 13, 64, 1), 13);
	assert_int_equal(ps_bitmap_find(map, 14, 64, 1), 40);
	assert_int_equal(ps_bitmap_find(map, 3, 64, 1), 13);
	assert_int_equal(ps_bitmap_find(map, 41, 64, 1), 64);
}

static void test_find_clear_crosses_byte_boundaries(void **state)
{
	uint8_t map[8];

	(void)state;
	memset(map, 0xff, sizeof(map));
	map[2] &= (uint8_t)~(1u << 1); /* bit 17 */
	map[6] &= (uint8_t)~(1u << 7); /* bit 55 */
	assert_int_equal(ps_bitmap_find(map, 0, 64, 0), 17);
	assert_int_equal(ps_bitmap_find(map, 18, 64, 0), 55);
	assert_int_equal(ps_bitmap_find(map, 56, 64, 0), 64);
}

static void test_find_returns_to_when_range_is_empty(void **state)
{
	uint8_t map[2] = { 0xff, 0xff };

	(void)state;
	assert_int_equal(ps_bitmap_find(map, 5, 5, 1), 5);
	assert_int_equal(ps_bitmap_find(map, 0, 0, 1), 0);
	assert_int_equal(ps_bitmap_find(map, 9, 9, 0), 9);
}

static void test_find_ignores_bits_at_or_past_to(void **state)
{
	uint8_t map[4] = { 0x80, 0x00, 0x01, 0x00 }; /* bits 7 and 16 */

	(void)state;
	assert_int_equal(ps_bitmap_find(map, 0, 7, 1), 7);
	assert_int_equal(ps_bitmap_find(map, 0, 8, 1), 7);
	assert_int_equal(ps_bitmap_find(map, 8, 16, 1), 16);
	assert_int_equal(ps_bitmap_find(map, 8, 17, 1), 16);
	assert_int_equal(ps_bitmap_find(map, 8, 32, 1), 16);
}

static void test_find_ignores_bits_before_from(void **state)
{
	uint8_t map[2] = { 0xff, 0x00 };

	(void)state;
	/* All of byte 0 is set, but from lies past it. */
	assert_int_equal(ps_bitmap_find(map, 8, 16, 1), 16);
	/* An unaligned from inside a full byte. */
	map[0] = 0x0f;
	assert_int_equal(ps_bitmap_find(map, 4, 16, 1), 16);
	assert_int_equal(ps_bitmap_find(map, 4, 16, 0), 4);
}

static void test_find_scans_long_maps(void **state)
{
	static uint8_t map[8192];

	(void)state;
	memset(map, 0, sizeof(map));
	ps_bitmap_set(map, 65535);
	assert_int_equal(ps_bitmap_find(map, 0, 65536, 1), 65535);
	assert_int_equal(ps_bitmap_find(map, 1, 65535, 1), 65535);
	memset(map, 0xff, sizeof(map));
	assert_int_equal(ps_bitmap_find(map, 0, 65536, 0), 65536);
}

static void test_count_counts_set_bits_below_nbits(void **state)
{
	uint8_t map[3] = { 0xff, 0x0f, 0xff };

	(void)state;
	assert_int_equal(ps_bitmap_count(map, 0), 0);
	assert_int_equal(ps_bitmap_count(map, 3), 3);
	assert_int_equal(ps_bitmap_count(map, 8), 8);
	assert_int_equal(ps_bitmap_count(map, 12), 12);
	assert_int_equal(ps_bitmap_count(map, 16), 12);
	assert_int_equal(ps_bitmap_count(map, 17), 13);
	assert_int_equal(ps_bitmap_count(map, 24), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_uses_lsb_first_order),
		cmocka_unit_test(test_set_keeps_other_bits),
		cmocka_unit_test(test_find_set_crosses_byte_boundaries),
		cmocka_unit_test(test_find_clear_crosses_byte_boundaries),
		cmocka_unit_test(test_find_returns_to_when_range_is_empty),
		cmocka_unit_test(test_find_ignores_bits_at_or_past_to),
		cmocka_unit_test(test_find_ignores_bits_before_from),
		cmocka_unit_test(test_find_scans_long_maps),
		cmocka_unit_test(test_count_counts_set_bits_below_nbits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
