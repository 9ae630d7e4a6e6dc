/* test_path.c - lexical normalisation, prefix matching and the prefix directory-name encoding (path.h). */
#include "fakes.h"
#include "path.h"

/* Normalise path onto base and check the result and its returned length. */
static void check_norm(const char *base, const char *path, const char *want)
{
	char out[PATH_MAX];
	int n = ps_path_normalize(base, path, out, sizeof(out));

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

/* All candidates of a PATH search, joined with '|'. */
static void search_all(const char *search, const char *file, size_t outsz, char *joined, size_t joinedsz)
{
	const char *cursor = NULL;
	char out[64];

	joined[0] = '\0';
	while (ps_path_search_next(search, &cursor, file, out, outsz < sizeof(out) ? outsz : sizeof(out))) {
		if (joined[0])
			strncat(joined, "|", joinedsz - strlen(joined) - 1);
		strncat(joined, out, joinedsz - strlen(joined) - 1);
	}
	assert_int_equal(ps_path_search_next(search, &cursor, file, out, sizeof(out)), 0); /* stays at the end */
}

static void test_path_search_gives_execvp_candidates(void **state)
{
	char got[256];

	(void)state;
	search_all("/a:/b/c", "prog", 64, got, sizeof(got));
	assert_string_equal(got, "/a/prog|/b/c/prog");
	search_all(":/a::", "prog", 64, got, sizeof(got)); /* empty entries are the working directory */
	assert_string_equal(got, "./prog|/a/prog|./prog|./prog");
	search_all(NULL, "sh", 64, got, sizeof(got)); /* glibc's default */
	assert_string_equal(got, "/bin/sh|/usr/bin/sh");
	search_all("/a-long-directory:/b", "prog", 10, got, sizeof(got)); /* too long for the buffer: skipped */
	assert_string_equal(got, "/b/prog");
	search_all("", "prog", 64, got, sizeof(got));
	assert_string_equal(got, "./prog");
}

static void test_names_library_by_so_suffix_or_version(void **state)
{
	(void)state;
	assert_true(ps_path_names_library("lib/libfoo.so"));
	assert_true(ps_path_names_library("/usr/lib/libz.so.1.2.13"));
	assert_true(ps_path_names_library("mod.cpython-311-x86_64-linux-gnu.so"));
	assert_false(ps_path_names_library("notes.so.txt.d/readme"));
	assert_false(ps_path_names_library("lib/.so"));
	assert_false(ps_path_names_library("src/also.c"));
	assert_false(ps_path_names_library("dir.so/file"));
}

static void test_normalize_absolute_path_is_kept(void **state)
{
	(void)state;
	check_norm(NULL, "/srv/ro/file", "/srv/ro/file");
	check_norm("/ignored", "/srv/ro", "/srv/ro");
}

static void test_normalize_relative_path_joins_onto_base(void **state)
{
	(void)state;
	check_norm("/home/u", "src/a.c", "/home/u/src/a.c");
	check_norm("/", "x", "/x");
	check_norm("/home/u/", "x", "/home/u/x");
}

static void test_normalize_drops_dot_components(void **state)
{
	(void)state;
	check_norm(NULL, "/a/./b/.", "/a/b");
	check_norm("/base", ".", "/base");
	check_norm("/base", "./x/./y", "/base/x/y");
}

static void test_normalize_dotdot_removes_previous_component(void **state)
{
	(void)state;
	check_norm(NULL, "/a/b/../c", "/a/c");
	check_norm("/", "a/./b//../c", "/a/c");
}

static void test_normalize_dotdot_in_relative_path_climbs_base(void **state)
{
	(void)state;
	check_norm("/home/u/src", "../lib/x", "/home/u/lib/x");
	check_norm("/home/u", "../../..", "/");
}

static void test_normalize_dotdot_above_root_stays_root(void **state)
{
	(void)state;
	check_norm(NULL, "/..", "/");
	check_norm(NULL, "/../../a", "/a");
	check_norm(NULL, "/a/../../..", "/");
}

static void test_normalize_collapses_repeated_slashes(void **state)
{
	(void)state;
	check_norm(NULL, "//", "/");
	check_norm(NULL, "///a//b///c", "/a/b/c");
	check_norm("//base//", "x//y", "/base/x/y");
}

static void test_normalize_drops_trailing_slash(void **state)
{
	(void)state;
	check_norm(NULL, "/a/b/", "/a/b");
	check_norm(NULL, "/a/b//", "/a/b");
	check_norm(NULL, "/", "/");
}

static void test_normalize_keeps_dotted_names(void **state)
{
	(void)state;
	check_norm(NULL, "/a/.hidden/...", "/a/.hidden/...");
	check_norm(NULL, "/a/..b/c..", "/a/..b/c..");
}

static void test_normalize_exact_fit_succeeds(void **state)
{
	char out[5];

	(void)state;
	assert_int_equal(ps_path_normalize(NULL, "/abc", out, sizeof(out)), 4);
	assert_string_equal(out, "/abc");
}

static void test_normalize_too_long_is_enametoolong(void **state)
{
	char out[PATH_MAX];
	char *longp = malloc(PATH_MAX + 100);

	(void)state;
	assert_int_equal(ps_path_normalize(NULL, "/abc", out, 4), -ENAMETOOLONG);
	assert_int_equal(ps_path_normalize(NULL, "/abc/def", out, 6), -ENAMETOOLONG);
	assert_int_equal(ps_path_normalize("/abcdef", "x", out, 8), -ENAMETOOLONG);
	assert_non_null(longp);
	longp[0] = '/';
	memset(longp + 1, 'a', PATH_MAX + 50);
	longp[PATH_MAX + 51] = '\0';
	assert_int_equal(ps_path_normalize(NULL, longp, out, sizeof(out)), -ENAMETOOLONG);
	free(longp);
}

static void test_normalize_empty_path_is_einval(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(ps_path_normalize("/base", "", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_normalize("/base", NULL, out, sizeof(out)), -EINVAL);
}

static void test_normalize_relative_without_absolute_base_is_einval(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(ps_path_normalize(NULL, "x", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_normalize("rel/base", "x", out, sizeof(out)), -EINVAL);
}

static void test_below_prefix_itself_is_empty(void **state)
{
	const char *r;

	(void)state;
	r = ps_path_below("/srv/ro", "/srv/ro");
	assert_non_null(r);
	assert_string_equal(r, "");
}

static void test_below_path_under_prefix_is_rest(void **state)
{
	(void)state;
	assert_string_equal(ps_path_below("/srv/ro/a/b", "/srv/ro"), "a/b");
	assert_string_equal(ps_path_below("/srv/ro/x", "/srv/ro"), "x");
}

static void test_below_does_not_match_sibling_with_common_start(void **state)
{
	(void)state;
	assert_null(ps_path_below("/robot", "/ro"));
	assert_null(ps_path_below("/robot/x", "/ro"));
	assert_null(ps_path_below("/r", "/ro"));
	assert_null(ps_path_below("/srv", "/srv/ro"));
}

static void test_below_root_prefix_matches_everything(void **state)
{
	(void)state;
	assert_string_equal(ps_path_below("/", "/"), "");
	assert_string_equal(ps_path_below("/a/b", "/"), "a/b");
}

static void check_encode(const char *prefix, const char *want)
{
	char enc[NAME_MAX + 1], dec[PATH_MAX];

	assert_int_equal(ps_path_encode_prefix(prefix, enc, sizeof(enc)), (int)strlen(want));
	assert_string_equal(enc, want);
	assert_int_equal(ps_path_decode_prefix(enc, dec, sizeof(dec)), (int)strlen(prefix));
	assert_string_equal(dec, prefix);
}

static void test_encode_escapes_slash_and_round_trips(void **state)
{
	(void)state;
	check_encode("/srv/ro", "%2Fsrv%2Fro");
	check_encode("/", "%2F");
}

static void test_encode_escapes_percent_and_round_trips(void **state)
{
	(void)state;
	check_encode("/a%b", "%2Fa%25b");
	check_encode("/%2F/%25", "%2F%252F%2F%2525");
}

static void test_encode_keeps_other_bytes(void **state)
{
	(void)state;
	check_encode("/a b/ü.x-y_z", "%2Fa b%2Fü.x-y_z");
}

static void test_encode_past_name_max_is_enametoolong(void **state)
{
	char prefix[200], enc[1024];

	(void)state;
	/* 100 slashes encode to 300 bytes: more than NAME_MAX even with room in the buffer. */
	memset(prefix, '/', 100);
	prefix[100] = '\0';
	assert_int_equal(ps_path_encode_prefix(prefix, enc, sizeof(enc)), -ENAMETOOLONG);
	/* And a buffer too small for a short one. */
	assert_int_equal(ps_path_encode_prefix("/abc", enc, 6), -ENAMETOOLONG);
	assert_int_equal(ps_path_encode_prefix("/abc", enc, 7), 6);
}

static void test_decode_rejects_bad_escapes(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(ps_path_decode_prefix("%", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_decode_prefix("%2", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_decode_prefix("%2Fa%", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_decode_prefix("%2G", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_decode_prefix("%41", out, sizeof(out)), -EINVAL);
	assert_int_equal(ps_path_decode_prefix("%2f", out, sizeof(out)), -EINVAL);
}

static void test_decode_rejects_raw_slash(void **state)
{
	char out[PATH_MAX];

	(void)state;
	assert_int_equal(ps_path_decode_prefix("%2Fsrv/ro", out, sizeof(out)), -EINVAL);
}

static void test_decode_small_buffer_is_enametoolong(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(ps_path_decode_prefix("%2Fabc", out, sizeof(out)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_library_by_so_suffix_or_version),
		cmocka_unit_test(test_path_search_gives_execvp_candidates),
		cmocka_unit_test(test_normalize_absolute_path_is_kept),
		cmocka_unit_test(test_normalize_relative_path_joins_onto_base),
		cmocka_unit_test(test_normalize_drops_dot_components),
		cmocka_unit_test(test_normalize_dotdot_removes_previous_component),
		cmocka_unit_test(test_normalize_dotdot_in_relative_path_climbs_base),
		cmocka_unit_test(test_normalize_dotdot_above_root_stays_root),
		cmocka_unit_test(test_normalize_collapses_repeated_slashes),
		cmocka_unit_test(test_normalize_drops_trailing_slash),
		cmocka_unit_test(test_normalize_keeps_dotted_names),
		cmocka_unit_test(test_normalize_exact_fit_succeeds),
		cmocka_unit_test(test_normalize_too_long_is_enametoolong),
		cmocka_unit_test(test_normalize_empty_path_is_einval),
		cmocka_unit_test(test_normalize_relative_without_absolute_base_is_einval),
		cmocka_unit_test(test_below_prefix_itself_is_empty),
		cmocka_unit_test(test_below_path_under_prefix_is_rest),
		cmocka_unit_test(test_below_does_not_match_sibling_with_common_start),
		cmocka_unit_test(test_below_root_prefix_matches_everything),
		cmocka_unit_test(test_encode_escapes_slash_and_round_trips),
		cmocka_unit_test(test_encode_escapes_percent_and_round_trips),
		cmocka_unit_test(test_encode_keeps_other_bytes),
		cmocka_unit_test(test_encode_past_name_max_is_enametoolong),
		cmocka_unit_test(test_decode_rejects_bad_escapes),
		cmocka_unit_test(test_decode_rejects_raw_slash),
		cmocka_unit_test(test_decode_small_buffer_is_enametoolong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
