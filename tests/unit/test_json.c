/* test_json.c - JSON strings from file names (json.h): escapes, bytes that are not UTF-8, snprintf's contract. */
#include "fakes.h"

#include "json.h"

static void check(const char *in, const char *want)
{
	char out[256];
	size_t n = ps_json_string(out, sizeof(out), in);

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_plain_name_is_quoted(void **state)
{
	(void)state;
	check("dir/file.txt", "\"dir/file.txt\"");
	check("", "\"\"");
}

static void test_quote_backslash_and_control_bytes_are_escaped(void **state)
{
	(void)state;
	check("a\"b\\c", "\"a\\\"b\\\\c\"");
	check("tab\there\nnl\x01", "\"tab\\u0009here\\u000anl\\u0001\"");
}

static void test_valid_utf8_is_copied(void **state)
{
	(void)state;
	check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

static void test_bytes_outside_utf8_become_their_own_code_points(void **state)
{
	(void)state;
	check("\xff", "\"\\u00ff\"");
	check("\xc3(", "\"\\u00c3(\"");               /* a lead byte without its continuation */
	check("\xc0\xaf", "\"\\u00c0\\u00af\"");      /* overlong "/" */
	check("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""); /* a surrogate */
}

static void test_small_buffer_is_cut_and_terminated_but_the_length_is_whole(void **state)
{
	char out[5];

	(void)state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(ps_json_string(out, sizeof(out), "abcdef"), 8);
	assert_string_equal(out, "\"abc");
	assert_int_equal(ps_json_string(NULL, 0, "\xff"), 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_name_is_quoted),
		cmocka_unit_test(test_quote_backslash_and_control_bytes_are_escaped),
		cmocka_unit_test(test_valid_utf8_is_copied),
		cmocka_unit_test(test_bytes_outside_utf8_become_their_own_code_points),
		cmocka_unit_test(test_small_buffer_is_cut_and_terminated_but_the_length_is_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
