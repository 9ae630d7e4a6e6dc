/* test_sys.c - the looping transfer helpers over short transfers, EINTR, end of file and errors (sys.h). */
#include "fakes.h"

/* A pread/pwrite that moves at most 3 bytes a call and fails every other call with EINTR. */
static int calls;

static ssize_t dribble_pread(int fd, void *buf, size_t n, off_t off)
{
	if (calls++ % 2 == 0) {
		errno = EINTR;
		return -1;
	}
	return pread(fd, buf, n < 3 ? n : 3, off);
}

static ssize_t dribble_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (calls++ % 2 == 0) {
		errno = EINTR;
		return -1;
	}
	return pwrite(fd, buf, n < 3 ? n : 3, off);
}

static struct ps_sys dribble;

static int setup(void **state)
{
	char *dir = malloc(PATH_MAX);

	if (!dir)
		return -1;
	t_mkdtemp(dir);
	dribble = ps_sys_libc;
	dribble.pread = dribble_pread;
	dribble.pwrite = dribble_pwrite;
	calls = 0;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	ps_sys = &ps_sys_libc;
	t_rm_rf(*state);
	free(*state);
	return 0;
}

static int open_file(const char *dir, const char *content)
{
	char p[PATH_MAX];
	int fd;

	t_join(p, dir, "f");
	t_write_file(p, content, strlen(content));
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	return fd;
}

static void test_pread_full_gathers_short_reads_and_retries_eintr(void **state)
{
	int fd = open_file(*state, "0123456789abcdef");
	char buf[16];

	ps_sys = &dribble;
	assert_int_equal(ps_sys_pread_full(fd, buf, 13, 2), 13);
	assert_memory_equal(buf, "23456789abcde", 13);
	close(fd);
}

static void test_pread_full_is_short_only_at_end_of_file(void **state)
{
	int fd = open_file(*state, "0123456789");
	char buf[32];

	ps_sys = &dribble;
	assert_int_equal(ps_sys_pread_full(fd, buf, sizeof(buf), 4), 6);
	assert_memory_equal(buf, "456789", 6);
	assert_int_equal(ps_sys_pread_full(fd, buf, sizeof(buf), 10), 0);
	assert_int_equal(ps_sys_pread_full(fd, buf, 0, 0), 0);
	close(fd);
}

static void test_pread_full_returns_minus_errno(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(ps_sys_pread_full(-1, buf, sizeof(buf), 0), -EBADF);
}

static void test_pwrite_full_gathers_short_writes_and_retries_eintr(void **state)
{
	int fd = open_file(*state, "");
	char buf[32];

	ps_sys = &dribble;
	assert_int_equal(ps_sys_pwrite_full(fd, "hello, world", 12, 5), 12);
	ps_sys = &ps_sys_libc;
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 17);
	assert_memory_equal(buf, "\0\0\0\0\0hello, world", 17);
	close(fd);
}

static void test_pwrite_full_returns_minus_errno(void **state)
{
	int fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ps_sys_pwrite_full(fd, "x", 1, 0), -EBADF);
	close(fd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pread_full_gathers_short_reads_and_retries_eintr),
		T(test_pread_full_is_short_only_at_end_of_file),
		T(test_pread_full_returns_minus_errno),
		T(test_pwrite_full_gathers_short_writes_and_retries_eintr),
		T(test_pwrite_full_returns_minus_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
