/* test_beneath.c - the guard on the shadow directory's paths (beneath.h): a symlink planted in the middle of a
 * path inside the shadow stops every call that changes the tree (EILSEQ), nothing outside changes; paths without
 * one, and calls at other directories, behave as the plain calls. */
#include "beneath.h"
#include "fakes.h"

#include <dirent.h>

struct fx {
	char dir[PATH_MAX];
	char outside[PATH_MAX];
	int shadow_fd;
	const struct ps_sys *g;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char p[PATH_MAX], q[PATH_MAX];

	if (!fx)
		return -1;
	t_quiet_log();
	t_mkdtemp(fx->dir);
	t_join(fx->outside, fx->dir, "outside");
	t_mkdir(fx->outside);
	t_join(p, fx->outside, "victim");
	t_write_file(p, "victim", 6);
	t_join(p, fx->dir, "shadow");
	t_mkdir(p);
	t_join(q, p, "data");
	t_mkdir(q);
	t_join(q, p, "data/ok");
	t_write_file(q, "ok", 2);
	t_join(q, p, "data/evil");
	assert_int_equal(symlink(fx->outside, q), 0); /* planted */
	fx->shadow_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fx->shadow_fd >= 0);
	ps_sys_guard_below(fx->shadow_fd);
	fx->g = ps_sys_guard(&ps_sys_libc);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	ps_sys_guard_below(-1);
	close(fx->shadow_fd);
	t_rm_rf(fx->dir);
	free(fx);
	return 0;
}

static ssize_t read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	assert_true(fd >= 0);
	got = read(fd, buf, n);
	close(fd);
	return got;
}

static void expect_refused(int rc)
{
	assert_int_equal(rc, -1);
	assert_int_equal(errno, EILSEQ);
}

/* Only the victim, unchanged, outside. */
static void expect_outside_untouched(struct fx *fx)
{
	char p[PATH_MAX], buf[16];
	int n = 0;
	DIR *d = opendir(fx->outside);

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	t_join(p, fx->outside, "victim");
	assert_int_equal(read_file(p, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "victim", 6);
}

static void test_changes_through_a_planted_symlink_are_refused(void **state)
{
	struct fx *fx = *state;
	const struct ps_sys *g = fx->g;
	int fd = fx->shadow_fd;
	struct stat st;

	expect_refused(g->openat(fd, "data/evil/new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	expect_refused(g->openat(fd, "data/evil/victim", O_RDWR | O_CLOEXEC));
	expect_refused(g->mkdirat(fd, "data/evil/dir", 0755));
	expect_refused(g->mknodat(fd, "data/evil/fifo", S_IFIFO | 0644, 0));
	expect_refused(g->unlinkat(fd, "data/evil/victim", 0));
	expect_refused(g->symlinkat("x", fd, "data/evil/link"));
	expect_refused(g->fchmodat(fd, "data/evil/victim", 0600, 0));
	expect_refused(g->utimensat(fd, "data/evil/victim", NULL, 0));
	expect_refused(g->renameat(fd, "data/ok", fd, "data/evil/moved"));
	expect_refused(g->renameat2(fd, "data/evil/victim", fd, "data/stolen", 0));
	expect_refused(g->linkat(fd, "data/ok", fd, "data/evil/linked", 0));
	expect_refused(g->linkat(fd, "data/evil/victim", fd, "data/stolen", 0));
	/* chmod follows a last symlink by nature: inside the shadow it must not */
	assert_int_equal(chmod(fx->outside, 0755), 0);
	expect_refused(g->fchmodat(fd, "data/evil", 0700, 0));
	assert_int_equal(stat(fx->outside, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	expect_outside_untouched(fx);
}

static void test_paths_without_a_symlink_work_as_the_plain_calls(void **state)
{
	struct fx *fx = *state;
	const struct ps_sys *g = fx->g;
	int fd = fx->shadow_fd, f;
	struct stat st;

	assert_int_equal(g->mkdirat(fd, "data/sub", 0755), 0);
	f = g->openat(fd, "data/sub/file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(g->renameat(fd, "data/sub/file", fd, "data/sub/renamed"), 0);
	assert_int_equal(g->linkat(fd, "data/sub/renamed", fd, "data/sub/linked", 0), 0);
	assert_int_equal(g->fchmodat(fd, "data/sub/renamed", 0640, 0), 0);
	assert_int_equal(fstatat(fd, "data/sub/renamed", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(g->unlinkat(fd, "data/sub/linked", 0), 0);
	/* the last component may be a symlink: a whiteout is one (O_NOFOLLOW answers ELOOP as ever) */
	assert_int_equal(g->symlinkat("/dev/null/pageshadow-whiteout", fd, "data/sub/gone"), 0);
	assert_int_equal(g->openat(fd, "data/sub/gone", O_RDONLY | O_NOFOLLOW | O_CLOEXEC), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(g->unlinkat(fd, "data/evil", 0), 0); /* the planted link itself can go */
	/* a name at the top of the shadow, and any other directory: no guard needed */
	f = g->openat(fd, "top", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(f >= 0);
	close(f);
	assert_int_equal(g->mkdirat(AT_FDCWD, fx->outside, 0755), -1);
	assert_int_equal(errno, EEXIST);
}

static void test_path_beneath_names_the_object_through_its_guarded_parent(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX + 64], buf[4];
	int pfd;

	pfd = ps_sys_path_beneath(fx->shadow_fd, "data/ok", path, sizeof(path));
	assert_true(pfd >= 0 && pfd != fx->shadow_fd);
	assert_int_equal(read_file(path, buf, sizeof(buf)), 2);
	close(pfd);
	assert_int_equal(ps_sys_path_beneath(fx->shadow_fd, "data/evil/victim", path, sizeof(path)), -EILSEQ);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_changes_through_a_planted_symlink_are_refused),
		T(test_paths_without_a_symlink_work_as_the_plain_calls),
		T(test_path_beneath_names_the_object_through_its_guarded_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
