/* test_snapshot.c - a complete copy of a merged file (snapshot.h): its bytes, its name and mode, and that a
 * failure leaves nothing behind. */
#include "fakes.h"
#include "merge.h"
#include "snapshot.h"

#include <dirent.h>

#define PG 4096u
#define LOWER_LEN (3 * PG + 100)

static int setup(void **state)
{
	struct t_sfx *s = calloc(1, sizeof(*s));
	uint8_t lower[LOWER_LEN];

	if (!s)
		return -1;
	t_quiet_log();
	t_sfx_init(s);
	for (size_t i = 0; i < sizeof(lower); i++)
		lower[i] = (uint8_t)(i * 7 + i / PG);
	t_write_file(s->lower, lower, sizeof(lower));
	t_sfx_create(s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct t_sfx *s = *state;

	t_fake_remove();
	t_sfx_release(s);
	free(s);
	return 0;
}

static size_t entries_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_snapshot_holds_merged_bytes_of_partly_shadowed_file(void **state)
{
	struct t_sfx *s = *state;
	char path[PATH_MAX], exec_dir[PATH_MAX];
	uint8_t want[LOWER_LEN + 10], got[LOWER_LEN + 20];
	struct stat st;
	int fd;

	assert_int_equal(ps_merge_pread(s->f, want, LOWER_LEN, 0), LOWER_LEN);
	memcpy(want + PG + 5, "SHADOWED", 8);
	memcpy(want + LOWER_LEN, "0123456789", 10);
	assert_int_equal(ps_merge_pwrite(s->f, s->f->data_fd, "SHADOWED", 8, PG + 5), 8);
	assert_int_equal(ps_merge_pwrite(s->f, s->f->data_fd, "0123456789", 10, LOWER_LEN), 10);
	assert_int_equal(ps_snapshot_make(s->f, path, sizeof(path)), 0);
	t_join(exec_dir, s->shadow, "exec");
	assert_int_equal(strncmp(path, exec_dir, strlen(exec_dir)), 0);
	/* the same place below its own root as in the data tree: exec/<root>/pfx/file */
	assert_string_equal(path + strlen(path) - strlen("/pfx/file"), "/pfx/file");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_size, sizeof(want));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got)), sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	close(fd);
}

static void test_two_snapshots_get_two_names(void **state)
{
	struct t_sfx *s = *state;
	char a[PATH_MAX], b[PATH_MAX];

	assert_int_equal(ps_snapshot_make(s->f, a, sizeof(a)), 0);
	assert_int_equal(ps_snapshot_make(s->f, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_removing_a_snapshot_removes_its_whole_root(void **state)
{
	struct t_sfx *s = *state;
	char path[PATH_MAX], exec_dir[PATH_MAX], outside[PATH_MAX];

	assert_int_equal(ps_snapshot_make(s->f, path, sizeof(path)), 0);
	t_join(exec_dir, s->shadow, "exec");
	assert_int_equal(entries_in(exec_dir), 1);
	ps_snapshot_remove(s->shadow, path);
	assert_int_equal(entries_in(exec_dir), 0);
	ps_snapshot_remove(s->shadow, s->lower); /* not a copy: left alone */
	assert_int_equal(access(s->lower, F_OK), 0);
	t_join(outside, s->shadow, "data/pfx/file");
	ps_snapshot_remove(s->shadow, outside);
	assert_int_equal(access(outside, F_OK), 0);
}

static void test_failed_snapshot_leaves_no_file(void **state)
{
	struct t_sfx *s = *state;
	char path[PATH_MAX], exec_dir[PATH_MAX];

	t_fake_install();
	t_fake.pwrite_fail_at = 1;
	t_fake.pwrite_errno = ENOSPC;
	assert_int_equal(ps_snapshot_make(s->f, path, sizeof(path)), -ENOSPC);
	t_fake_remove();
	t_join(exec_dir, s->shadow, "exec");
	assert_int_equal(entries_in(exec_dir), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_snapshot_holds_merged_bytes_of_partly_shadowed_file),
		T(test_two_snapshots_get_two_names),
		T(test_removing_a_snapshot_removes_its_whole_root),
		T(test_failed_snapshot_leaves_no_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
