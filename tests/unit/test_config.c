/* test_config.c - prefix list parsing, prefix and shadow validation, longest-match lookup (config.h).
 * Every test gets a fresh temporary directory D and an empty config. */
#include "fakes.h"
#include "config.h"

struct fx {
	char dir[PATH_MAX];
	struct ps_config *cfg;
	char why[512];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->cfg = calloc(1, sizeof(*fx->cfg));
	if (!fx->cfg)
		return -1;
	t_mkdtemp(fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	t_rm_rf(fx->dir);
	free(fx->cfg);
	free(fx);
	return 0;
}

/* D/name as a new directory; its path in out. */
static void make_dir(struct fx *fx, const char *name, char *out)
{
	t_join(out, fx->dir, name);
	t_mkdir(out);
}

static void test_prefix_is_stored_canonical_with_encoding(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX];

	make_dir(fx, "ro", ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(fx->cfg->nprefix, 1);
	assert_string_equal(fx->cfg->prefix[0].path, ro);
	assert_int_equal(fx->cfg->prefix[0].len, strlen(ro));
	/* The encoding is path.h's: every '/' written %2F. */
	assert_non_null(strstr(fx->cfg->prefix[0].enc, "%2Fro"));
	assert_int_equal(strncmp(fx->cfg->prefix[0].enc, "%2F", 3), 0);
}

static void test_prefix_trailing_slash_and_dots_are_canonicalised(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], messy[PATH_MAX + 16];

	make_dir(fx, "ro", ro);
	snprintf(messy, sizeof(messy), "%s/./../ro//", ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, messy, fx->why, sizeof(fx->why)), 0);
	assert_string_equal(fx->cfg->prefix[0].path, ro);
}

static void test_relative_prefix_resolves_against_cwd(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], cwd[PATH_MAX];

	make_dir(fx, "ro", ro);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	assert_int_equal(ps_config_add_prefix(fx->cfg, "ro", fx->why, sizeof(fx->why)), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(fx->cfg->prefix[0].path, ro);
}

static void test_list_skips_empty_items(void **state)
{
	struct fx *fx = *state;
	char a[PATH_MAX], b[PATH_MAX], list[3 * PATH_MAX];

	make_dir(fx, "a", a);
	make_dir(fx, "b", b);
	snprintf(list, sizeof(list), "::%s:::%s:", a, b);
	assert_int_equal(ps_config_add_prefix_list(fx->cfg, list, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(fx->cfg->nprefix, 2);
	assert_string_equal(fx->cfg->prefix[0].path, a);
	assert_string_equal(fx->cfg->prefix[1].path, b);
}

static void test_list_of_only_empty_items_is_refused(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(ps_config_add_prefix_list(fx->cfg, "", fx->why, sizeof(fx->why)), -EINVAL);
	assert_string_equal(fx->why, "no read-only prefix given");
	assert_int_equal(ps_config_add_prefix_list(fx->cfg, ":::", fx->why, sizeof(fx->why)), -EINVAL);
	assert_string_equal(fx->why, "no read-only prefix given");
	assert_int_equal(fx->cfg->nprefix, 0);
}

static void test_empty_prefix_is_refused(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(ps_config_add_prefix(fx->cfg, "", fx->why, sizeof(fx->why)), -EINVAL);
	assert_string_equal(fx->why, "empty read-only prefix");
}

static void test_nonexistent_prefix_names_path_and_cause(void **state)
{
	struct fx *fx = *state;
	char missing[PATH_MAX], want[PATH_MAX + 64];

	t_join(missing, fx->dir, "missing");
	assert_int_equal(ps_config_add_prefix(fx->cfg, missing, fx->why, sizeof(fx->why)), -ENOENT);
	snprintf(want, sizeof(want), "read-only prefix %s: No such file or directory", missing);
	assert_string_equal(fx->why, want);
	assert_int_equal(fx->cfg->nprefix, 0);
}

static void test_nonexistent_prefix_in_list_fails_the_list(void **state)
{
	struct fx *fx = *state;
	char a[PATH_MAX], list[2 * PATH_MAX + 16];

	make_dir(fx, "a", a);
	snprintf(list, sizeof(list), "%s:%s/missing", a, fx->dir);
	assert_int_equal(ps_config_add_prefix_list(fx->cfg, list, fx->why, sizeof(fx->why)), -ENOENT);
	assert_non_null(strstr(fx->why, "/missing: No such file or directory"));
}

static void test_file_prefix_is_not_a_directory(void **state)
{
	struct fx *fx = *state;
	char file[PATH_MAX], want[PATH_MAX + 64];

	t_join(file, fx->dir, "file");
	t_write_file(file, "x", 1);
	assert_int_equal(ps_config_add_prefix(fx->cfg, file, fx->why, sizeof(fx->why)), -ENOTDIR);
	snprintf(want, sizeof(want), "read-only prefix %s: not a directory", file);
	assert_string_equal(fx->why, want);
	assert_int_equal(fx->cfg->nprefix, 0);
}

static void test_prefix_with_colon_is_refused(void **state)
{
	struct fx *fx = *state;
	char odd[PATH_MAX];

	make_dir(fx, "a:b", odd);
	assert_int_equal(ps_config_add_prefix(fx->cfg, odd, fx->why, sizeof(fx->why)), -EINVAL);
	assert_non_null(strstr(fx->why, "contains ':'"));
	assert_non_null(strstr(fx->why, odd));
	assert_int_equal(fx->cfg->nprefix, 0);
}

static void test_symlinked_prefix_is_resolved(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], link[PATH_MAX];

	make_dir(fx, "real", ro);
	t_join(link, fx->dir, "link");
	assert_int_equal(symlink("real", link), 0);
	assert_int_equal(ps_config_add_prefix(fx->cfg, link, fx->why, sizeof(fx->why)), 0);
	assert_string_equal(fx->cfg->prefix[0].path, ro);
}

static void test_too_many_prefixes_is_e2big(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX];

	make_dir(fx, "ro", ro);
	for (int i = 0; i < PS_MAX_PREFIXES; i++)
		assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), -E2BIG);
	assert_int_equal(fx->cfg->nprefix, PS_MAX_PREFIXES);
}

static void test_shadow_outside_prefixes_is_accepted(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], sh[PATH_MAX];

	make_dir(fx, "ro", ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	/* "robot" shares the prefix's first characters but is a sibling; it need not exist. */
	t_join(sh, fx->dir, "robot/shadow");
	assert_int_equal(ps_config_set_shadow(fx->cfg, sh, fx->why, sizeof(fx->why)), 0);
	assert_string_equal(fx->cfg->shadow, sh);
}

static void test_relative_shadow_is_made_absolute(void **state)
{
	struct fx *fx = *state;
	char cwd[PATH_MAX], want[PATH_MAX];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	assert_int_equal(ps_config_set_shadow(fx->cfg, "sub/./sh/", fx->why, sizeof(fx->why)), 0);
	assert_int_equal(chdir(cwd), 0);
	t_join(want, fx->dir, "sub/sh");
	assert_string_equal(fx->cfg->shadow, want);
}

static void test_shadow_inside_prefix_is_refused(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], sh[PATH_MAX];

	make_dir(fx, "ro", ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	t_join(sh, ro, "deep/shadow");
	assert_int_equal(ps_config_set_shadow(fx->cfg, sh, fx->why, sizeof(fx->why)), -EINVAL);
	assert_non_null(strstr(fx->why, "lies inside the read-only prefix"));
	/* The prefix itself as the shadow is refused too. */
	assert_int_equal(ps_config_set_shadow(fx->cfg, ro, fx->why, sizeof(fx->why)), -EINVAL);
}

static void test_shadow_inside_prefix_through_symlink_is_refused(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], link[PATH_MAX], sh[PATH_MAX];

	make_dir(fx, "ro", ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	t_join(link, fx->dir, "link");
	assert_int_equal(symlink(ro, link), 0);
	t_join(sh, link, "not-yet/shadow");
	assert_int_equal(ps_config_set_shadow(fx->cfg, sh, fx->why, sizeof(fx->why)), -EINVAL);
	assert_non_null(strstr(fx->why, "lies inside the read-only prefix"));
}

static void test_prefix_inside_shadow_is_refused(void **state)
{
	struct fx *fx = *state;
	char ro[PATH_MAX], outer[PATH_MAX];

	make_dir(fx, "outer", outer);
	t_join(ro, outer, "ro");
	t_mkdir(ro);
	assert_int_equal(ps_config_add_prefix(fx->cfg, ro, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(ps_config_set_shadow(fx->cfg, outer, fx->why, sizeof(fx->why)), -EINVAL);
	assert_non_null(strstr(fx->why, "lies inside the shadow directory"));
}

static void test_shadow_with_colon_is_refused(void **state)
{
	struct fx *fx = *state;
	char sh[PATH_MAX];

	t_join(sh, fx->dir, "a:b");
	assert_int_equal(ps_config_set_shadow(fx->cfg, sh, fx->why, sizeof(fx->why)), -EINVAL);
	assert_non_null(strstr(fx->why, "contains ':'"));
}

static void test_empty_shadow_is_refused(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(ps_config_set_shadow(fx->cfg, "", fx->why, sizeof(fx->why)), -EINVAL);
	assert_string_equal(fx->why, "no shadow directory given");
}

static void test_match_picks_longest_nested_prefix(void **state)
{
	struct fx *fx = *state;
	char a[PATH_MAX], ab[PATH_MAX], p[PATH_MAX + 32];
	const char *rel = NULL;

	make_dir(fx, "a", a);
	t_join(ab, a, "b");
	t_mkdir(ab);
	/* Inner first, then outer: order must not matter. */
	assert_int_equal(ps_config_add_prefix(fx->cfg, ab, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(ps_config_add_prefix(fx->cfg, a, fx->why, sizeof(fx->why)), 0);

	snprintf(p, sizeof(p), "%s/c/d", ab);
	assert_int_equal(ps_config_match(fx->cfg, p, &rel), 0);
	assert_string_equal(rel, "c/d");

	snprintf(p, sizeof(p), "%s/x", a);
	assert_int_equal(ps_config_match(fx->cfg, p, &rel), 1);
	assert_string_equal(rel, "x");

	assert_int_equal(ps_config_match(fx->cfg, ab, &rel), 0);
	assert_string_equal(rel, "");

	/* "a/bc" is below a, not below a/b. */
	snprintf(p, sizeof(p), "%s/bc", a);
	assert_int_equal(ps_config_match(fx->cfg, p, &rel), 1);
	assert_string_equal(rel, "bc");
}

static void test_match_outside_every_prefix_is_minus_one(void **state)
{
	struct fx *fx = *state;
	char a[PATH_MAX], p[PATH_MAX + 32];
	const char *rel = NULL;

	make_dir(fx, "a", a);
	assert_int_equal(ps_config_add_prefix(fx->cfg, a, fx->why, sizeof(fx->why)), 0);
	snprintf(p, sizeof(p), "%sa/x", a);
	assert_int_equal(ps_config_match(fx->cfg, p, &rel), -1);
	assert_int_equal(ps_config_match(fx->cfg, "/", &rel), -1);
	assert_int_equal(ps_config_match(fx->cfg, fx->dir, &rel), -1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_prefix_is_stored_canonical_with_encoding),
		T(test_prefix_trailing_slash_and_dots_are_canonicalised),
		T(test_relative_prefix_resolves_against_cwd),
		T(test_list_skips_empty_items),
		T(test_list_of_only_empty_items_is_refused),
		T(test_empty_prefix_is_refused),
		T(test_nonexistent_prefix_names_path_and_cause),
		T(test_nonexistent_prefix_in_list_fails_the_list),
		T(test_file_prefix_is_not_a_directory),
		T(test_prefix_with_colon_is_refused),
		T(test_symlinked_prefix_is_resolved),
		T(test_too_many_prefixes_is_e2big),
		T(test_shadow_outside_prefixes_is_accepted),
		T(test_relative_shadow_is_made_absolute),
		T(test_shadow_inside_prefix_is_refused),
		T(test_shadow_inside_prefix_through_symlink_is_refused),
		T(test_prefix_inside_shadow_is_refused),
		T(test_shadow_with_colon_is_refused),
		T(test_empty_shadow_is_refused),
		T(test_match_picks_longest_nested_prefix),
		T(test_match_outside_every_prefix_is_minus_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
