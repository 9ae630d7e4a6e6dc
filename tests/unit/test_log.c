/* test_log.c - the logger: line format, the debug gate, errno kept, long lines cut (log.h). */
#include "fakes.h"

/* Every test logs into a pipe; drain() returns what came out. */
static int pipefd[2] = { -1, -1 };

static int setup(void **state)
{
	(void)state;
	return pipe(pipefd);
}

static int teardown(void **state)
{
	(void)state;
	close(pipefd[0]);
	close(pipefd[1]);
	t_quiet_log();
	return 0;
}

/* Close the writing end and read what the pipe holds (NUL-terminated, at most n-1 bytes). */
static void drain(char *out, size_t n)
{
	ssize_t r;

	close(pipefd[1]);
	pipefd[1] = -1;
	r = read(pipefd[0], out, n - 1);
	assert_true(r >= 0);
	out[r] = '\0';
}

static void test_error_line_has_progname_pid_and_newline(void **state)
{
	char got[256], want[256];

	(void)state;
	ps_log_init(pipefd[1], 0, "prog");
	ps_error("%s: %d", "disk", 42);
	drain(got, sizeof(got));
	snprintf(want, sizeof(want), "prog[%d]: disk: 42\n", (int)getpid());
	assert_string_equal(got, want);
}

static void test_debug_lines_only_when_enabled(void **state)
{
	char got[256], want[256];

	(void)state;
	ps_log_init(pipefd[1], 0, "prog");
	ps_debug("hidden");
	assert_false(ps_log_debug_enabled());
	ps_log_init(pipefd[1], 1, "prog");
	assert_true(ps_log_debug_enabled());
	ps_debug("shown %d", 1);
	drain(got, sizeof(got));
	snprintf(want, sizeof(want), "prog[%d]: debug: shown 1\n", (int)getpid());
	assert_string_equal(got, want);
}

static void test_log_keeps_errno(void **state)
{
	char got[256];

	(void)state;
	ps_log_init(pipefd[1], 1, "prog");
	errno = EXDEV;
	ps_error("x");
	assert_int_equal(errno, EXDEV);
	/* Also when the write fails. */
	ps_log_init(1000, 1, "prog");
	errno = ENOLCK;
	ps_error("x");
	assert_int_equal(errno, ENOLCK);
	drain(got, sizeof(got));
}

static void test_long_line_is_cut_and_still_ends_in_newline(void **state)
{
	static char got[4096];
	char big[3000];

	(void)state;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ps_log_init(pipefd[1], 0, "prog");
	ps_error("%s", big);
	drain(got, sizeof(got));
	assert_true(strlen(got) < 1024);
	assert_true(strlen(got) > 1000);
	assert_int_equal(got[strlen(got) - 1], '\n');
	assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
}

static void test_negative_fd_means_stderr(void **state)
{
	(void)state;
	ps_log_init(-1, 0, NULL);
	assert_int_equal(ps_log_fd(), 2);
	ps_log_init(pipefd[1], 0, NULL);
	assert_int_equal(ps_log_fd(), pipefd[1]);
}

/* Without a log fd of its own, the log follows fd 2 only while it is the file it was at start-up. */
static int stderr_gets_line_after(int replace)
{
	int saved = dup(2), p[2], q[2];
	char buf[256];
	ssize_t n;

	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_int_equal(dup2(p[1], 2), 2);
	ps_log_init(-1, 0, NULL);
	if (replace)
		assert_int_equal(dup2(q[1], 2), 2); /* the program reuses fd 2 for a file of its own */
	ps_error("a line");
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fcntl(q[0], F_SETFL, O_NONBLOCK);
	assert_true(read(q[0], buf, sizeof(buf)) < 0); /* never a line in the program's own file */
	n = read(p[0], buf, sizeof(buf));
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
	return n > 0;
}

static void test_stderr_kept_since_start_gets_the_line(void **state)
{
	(void)state;
	assert_true(stderr_gets_line_after(0));
}

static void test_stderr_reused_by_the_program_gets_no_line(void **state)
{
	(void)state;
	assert_false(stderr_gets_line_after(1));
}

/* A refusal follows fd 2 to a new pipe (a shell's 2>&1 | tee before the exec), but never into a regular file
 * the program writes without O_APPEND. */
static int refusal_reaches(int use_file)
{
	char path[] = "/tmp/pageshadow-test-log.XXXXXX", buf[256];
	int saved = dup(2), p[2], q[2], file = mkstemp(path);
	ssize_t n;

	assert_true(saved >= 0 && file >= 0);
	unlink(path);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_int_equal(dup2(p[1], 2), 2);
	ps_log_init(-1, 0, NULL);
	assert_int_equal(dup2(use_file ? file : q[1], 2), 2);
	ps_refusal("refusing to run x");
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	fcntl(q[0], F_SETFL, O_NONBLOCK);
	n = use_file ? pread(file, buf, sizeof(buf), 0) : read(q[0], buf, sizeof(buf));
	close(p[0]), close(p[1]), close(q[0]), close(q[1]), close(file);
	return n > 0;
}

static void test_refusal_reaches_a_stderr_redirected_to_a_pipe(void **state)
{
	(void)state;
	assert_true(refusal_reaches(0));
}

static void test_refusal_never_writes_into_a_programs_file(void **state)
{
	(void)state;
	assert_false(refusal_reaches(1));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_error_line_has_progname_pid_and_newline),
		T(test_debug_lines_only_when_enabled),
		T(test_log_keeps_errno),
		T(test_long_line_is_cut_and_still_ends_in_newline),
		T(test_negative_fd_means_stderr),
		T(test_stderr_kept_since_start_gets_the_line),
		T(test_stderr_reused_by_the_program_gets_no_line),
		T(test_refusal_reaches_a_stderr_redirected_to_a_pipe),
		T(test_refusal_never_writes_into_a_programs_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
