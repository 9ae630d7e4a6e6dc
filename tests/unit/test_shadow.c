/* test_shadow.c - the shadow directory: creation, the FORMAT page, the shared generation, the creation lock,
 * path names (shadow.h). Every test gets a temporary directory D; the shadow is D/sh unless said otherwise. */
#include "fakes.h"
#include "shadow.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/wait.h>

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct ps_shadow sh;
	int open;
	char why[256];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	t_quiet_log();
	t_mkdtemp(fx->dir);
	t_join(fx->path, fx->dir, "sh");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->open)
		ps_shadow_close(&fx->sh);
	t_rm_rf(fx->dir);
	free(fx);
	return 0;
}

static int open_shadow(struct fx *fx, const char *path, int create)
{
	int rc = ps_shadow_open(&fx->sh, path, create, fx->why, sizeof(fx->why));

	fx->open = rc == 0;
	return rc;
}

static void read_text(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	assert_true(fd >= 0);
	r = read(fd, buf, n - 1);
	assert_true(r >= 0);
	buf[r] = '\0';
	close(fd);
}

static void test_create_makes_directory_and_format_page(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], text[128];
	struct stat st;

	t_join(fx->path, fx->dir, "a/b/sh"); /* parents made too */
	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	t_join(p, fx->path, "FORMAT");
	read_text(p, text, sizeof(text));
	assert_string_equal(text, PS_SHADOW_FORMAT_LINE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, PS_SHADOW_STATE_SIZE);
	assert_int_equal(ps_shadow_generation(&fx->sh), 0);
	assert_string_equal(fx->sh.path, fx->path);
}

static void test_create_leaves_nothing_but_format(void **state)
{
	struct fx *fx = *state;
	struct dirent *e;
	DIR *d;
	int n = 0;

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	d = opendir(fx->path);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			assert_string_equal(e->d_name, "FORMAT");
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

static void test_open_without_create_of_missing_dir_is_enoent(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(open_shadow(fx, fx->path, 0), -ENOENT);
	assert_int_equal(access(fx->path, F_OK), -1);
}

static void test_open_of_a_file_is_enotdir(void **state)
{
	struct fx *fx = *state;

	t_write_file(fx->path, "x", 1);
	assert_int_equal(open_shadow(fx, fx->path, 0), -ENOTDIR);
}

static void test_open_without_create_of_dir_without_format_is_enoent(void **state)
{
	struct fx *fx = *state;

	t_mkdir(fx->path);
	assert_int_equal(open_shadow(fx, fx->path, 0), -ENOENT);
	assert_non_null(strstr(fx->why, "FORMAT"));
}

static void test_unknown_format_is_eproto(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];

	t_mkdir(fx->path);
	t_join(p, fx->path, "FORMAT");
	t_write_file(p, "pageshadow shadow format 3\n", 27);
	assert_int_equal(open_shadow(fx, fx->path, 1), -EPROTO);
	assert_string_equal(fx->why, "unknown shadow format \"pageshadow shadow format 3\" "
				     "(this build reads \"pageshadow shadow format 2\")");
	/* The file is left as it was. */
	{
		char text[64];

		read_text(p, text, sizeof(text));
		assert_string_equal(text, "pageshadow shadow format 3\n");
	}
}


static void test_format_file_of_wrong_size_is_eproto(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];

	/* The right line, but not a whole page. */
	t_mkdir(fx->path);
	t_join(p, fx->path, "FORMAT");
	t_write_file(p, PS_SHADOW_FORMAT_LINE, strlen(PS_SHADOW_FORMAT_LINE));
	assert_int_equal(open_shadow(fx, fx->path, 1), -EPROTO);
}

/* A FORMAT page holding first bytes and the rest zero (docs/FORMAT.md: "exactly this line", zero-padded). */
static void write_format_page(struct fx *fx, const char *first)
{
	char p[PATH_MAX], page[PS_SHADOW_STATE_SIZE];

	memset(page, 0, sizeof(page));
	memcpy(page, first, strlen(first));
	t_mkdir(fx->path);
	t_join(p, fx->path, "FORMAT");
	t_write_file(p, page, sizeof(page));
}

/* Format 1 lacks only whiteouts and directories: read as it is, upgraded by the first writer. */
static void test_format_1_is_read_as_is_and_upgraded_by_a_writer(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX], text[64];

	write_format_page(fx, PS_SHADOW_FORMAT_LINE_V1);
	t_join(p, fx->path, "FORMAT");
	assert_int_equal(open_shadow(fx, fx->path, 0), 0);
	ps_shadow_close(&fx->sh);
	read_text(p, text, sizeof(text));
	assert_string_equal(text, PS_SHADOW_FORMAT_LINE_V1);
	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	read_text(p, text, sizeof(text));
	assert_string_equal(text, PS_SHADOW_FORMAT_LINE);
}

static void test_format_page_with_exact_line_is_accepted(void **state)
{
	struct fx *fx = *state;

	write_format_page(fx, PS_SHADOW_FORMAT_LINE);
	assert_int_equal(open_shadow(fx, fx->path, 0), 0);
}

static void test_format_line_followed_by_more_text_is_eproto(void **state)
{
	struct fx *fx = *state;

	write_format_page(fx, PS_SHADOW_FORMAT_LINE "with-feature-x\n");
	assert_int_equal(open_shadow(fx, fx->path, 0), -EPROTO);
}

static void test_format_line_without_newline_is_eproto(void **state)
{
	struct fx *fx = *state;

	write_format_page(fx, "pageshadow shadow format 1");
	assert_int_equal(open_shadow(fx, fx->path, 0), -EPROTO);
}

static void test_empty_format_file_is_eproto(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];

	t_mkdir(fx->path);
	t_join(p, fx->path, "FORMAT");
	t_write_file(p, "", 0);
	assert_int_equal(open_shadow(fx, fx->path, 1), -EPROTO);
}

static void test_generation_is_shared_and_persistent(void **state)
{
	struct fx *fx = *state;
	struct ps_shadow other, ro;
	char p[PATH_MAX];
	uint64_t on_disk = 0;
	int fd;

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	assert_int_equal(ps_shadow_open(&other, fx->path, 1, fx->why, sizeof(fx->why)), 0);
	ps_shadow_bump_generation(&fx->sh);
	ps_shadow_bump_generation(&other);
	assert_int_equal(ps_shadow_generation(&fx->sh), 2);
	assert_int_equal(ps_shadow_generation(&other), 2);
	ps_shadow_close(&other);
	/* In the file, at offset 64, little-endian (docs/FORMAT.md). */
	t_join(p, fx->path, "FORMAT");
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &on_disk, 8, 64), 8);
	close(fd);
	assert_int_equal(on_disk, 2);
	/* A read-only open sees it too. */
	assert_int_equal(ps_shadow_open(&ro, fx->path, 0, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(ps_shadow_generation(&ro), 2);
	ps_shadow_close(&ro);
}

static void test_read_only_open_writes_nothing(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];
	struct stat before, after;

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	ps_shadow_close(&fx->sh);
	fx->open = 0;
	t_join(p, fx->path, "FORMAT");
	assert_int_equal(chmod(p, 0444), 0);
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(open_shadow(fx, fx->path, 0), 0);
	assert_int_equal(ps_shadow_generation(&fx->sh), 0);
	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(after.st_size, before.st_size);
}

static void test_creation_lock_excludes_other_processes(void **state)
{
	struct fx *fx = *state;
	pid_t pid;
	int status;

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	assert_int_equal(ps_shadow_lock_create(&fx->sh), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ps_shadow mine;
		char why[256];
		int busy;

		if (ps_shadow_open(&mine, fx->path, 0, why, sizeof(why)) != 0)
			_exit(2);
		busy = flock(mine.statefd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		_exit(busy ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ps_shadow_unlock_create(&fx->sh);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ps_shadow mine;
		char why[256];

		if (ps_shadow_open(&mine, fx->path, 0, why, sizeof(why)) != 0)
			_exit(2);
		_exit(flock(mine.statefd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_path_joins_tree_prefix_and_rel(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(ps_shadow_path(out, sizeof(out), "data", "%2Fro", "a/b"), 14);
	assert_string_equal(out, "data/%2Fro/a/b");
	assert_int_equal(ps_shadow_path(out, sizeof(out), "meta", "%2Fro", ""), 10);
	assert_string_equal(out, "meta/%2Fro");
	assert_int_equal(ps_shadow_path(out, 10, "meta", "%2Fro", ""), -ENAMETOOLONG);
	assert_int_equal(ps_shadow_path(out, 11, "meta", "%2Fro", ""), 10);
}

static void test_make_parents_creates_each_directory(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	assert_int_equal(ps_shadow_make_parents(&fx->sh, "data/pfx/a/b/file"), 0);
	t_join(p, fx->path, "data/pfx/a/b");
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	t_join(p, fx->path, "data/pfx/a/b/file");
	assert_int_equal(access(p, F_OK), -1);
	/* Again (all exist) and for a name without a directory. */
	assert_int_equal(ps_shadow_make_parents(&fx->sh, "data/pfx/a/b/file"), 0);
	assert_int_equal(ps_shadow_make_parents(&fx->sh, "file"), 0);
}

static void test_make_parents_through_a_file_fails(void **state)
{
	struct fx *fx = *state;
	char p[PATH_MAX];

	assert_int_equal(open_shadow(fx, fx->path, 1), 0);
	t_join(p, fx->path, "data");
	t_write_file(p, "x", 1);
	assert_int_equal(ps_shadow_make_parents(&fx->sh, "data/pfx/file"), -ENOTDIR);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_makes_directory_and_format_page),
		T(test_create_leaves_nothing_but_format),
		T(test_open_without_create_of_missing_dir_is_enoent),
		T(test_open_of_a_file_is_enotdir),
		T(test_open_without_create_of_dir_without_format_is_enoent),
		T(test_unknown_format_is_eproto),
		T(test_format_1_is_read_as_is_and_upgraded_by_a_writer),
		T(test_format_file_of_wrong_size_is_eproto),
		T(test_format_page_with_exact_line_is_accepted),
		T(test_format_line_followed_by_more_text_is_eproto),
		T(test_format_line_without_newline_is_eproto),
		T(test_empty_format_file_is_eproto),
		T(test_generation_is_shared_and_persistent),
		T(test_read_only_open_writes_nothing),
		T(test_creation_lock_excludes_other_processes),
		cmocka_unit_test(test_path_joins_tree_prefix_and_rel),
		T(test_make_parents_creates_each_directory),
		T(test_make_parents_through_a_file_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
