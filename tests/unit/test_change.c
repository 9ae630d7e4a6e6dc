/* test_change.c - --deny and --log in the engine (change.h): the refusal, the JSON line, appending, a long name. */
#include "fakes.h"

#include "change.h"

#include <sys/wait.h>

static char dir[PATH_MAX], logpath[PATH_MAX + 16];

static int setup(void **state)
{
	(void)state;
	t_mkdtemp(dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	t_quiet_log();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ps_change_init(0, NULL, NULL);
	t_rm_rf(dir);
	return 0;
}

/* The log file's content (NUL-terminated) in a malloc'ed buffer. */
static char *read_log(void)
{
	static char *buf;
	int fd = open(logpath, O_RDONLY);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	free(buf);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	return buf;
}

/* The line without its time, which differs from run to run: everything from "pid" on. */
static const char *after_time(const char *line)
{
	const char *p = strstr(line, ",\"pid\":");

	assert_non_null(p);
	assert_memory_equal(line, "{\"time\":\"", 9);
	return p + 1;
}

static void test_off_by_default_changes_pass_and_nothing_is_logged(void **state)
{
	(void)state;
	assert_int_equal(ps_change_permit(PS_CHANGE_WRITE, "/ro/f", NULL), 0);
	assert_int_equal(ps_change_done(0, PS_CHANGE_WRITE, "/ro/f", NULL), 0);
	assert_int_equal(access(logpath, F_OK), -1);
}

static void test_log_line_names_pid_program_op_and_both_paths(void **state)
{
	char want[256];

	(void)state;
	assert_int_equal(ps_change_init(0, logpath, "prog"), 0);
	assert_int_equal(ps_change_permit(PS_CHANGE_RENAME, "/ro/a", "/ro/b"), 0);
	assert_int_equal(ps_change_done(0, PS_CHANGE_RENAME, "/ro/a", "/ro/b"), 0);
	snprintf(want, sizeof(want), "\"pid\":%d,\"prog\":\"prog\",\"op\":\"rename\",\"path\":\"/ro/a\",\"to\":\"/ro/b\"}\n",
		 (int)getpid());
	assert_string_equal(after_time(read_log()), want);
}

static void test_failed_change_is_not_logged(void **state)
{
	(void)state;
	ps_change_init(0, logpath, "prog");
	assert_int_equal(ps_change_done(-ENOENT, PS_CHANGE_UNLINK, "/ro/x", NULL), -ENOENT);
	assert_int_equal(access(logpath, F_OK), -1);
}

static void test_deny_refuses_with_erofs_and_logs_the_refusal(void **state)
{
	char want[256];
	int saved;

	(void)state;
	ps_change_init(1, logpath, "prog");
	errno = 1234;
	assert_int_equal(ps_change_permit(PS_CHANGE_MKDIR, "/ro/d", NULL), -EROFS);
	saved = errno;
	assert_int_equal(saved, 1234); /* the caller's errno is the caller's to set */
	snprintf(want, sizeof(want), "\"pid\":%d,\"prog\":\"prog\",\"op\":\"mkdir\",\"path\":\"/ro/d\",\"denied\":true}\n",
		 (int)getpid());
	assert_string_equal(after_time(read_log()), want);
}

static void test_relative_log_path_is_refused_and_changes_denied(void **state)
{
	(void)state;
	assert_int_equal(ps_change_init(0, "log.jsonl", "prog"), -EINVAL);
	assert_int_equal(ps_change_permit(PS_CHANGE_CREATE, "/ro/n", NULL), -EROFS);
}

static void test_lines_are_appended_after_what_the_file_held(void **state)
{
	int fd = open(logpath, O_WRONLY | O_CREAT, 0644);
	const char *log;

	(void)state;
	assert_int_equal(write(fd, "earlier\n", 8), 8);
	close(fd);
	ps_change_init(0, logpath, "prog");
	ps_change_log(PS_CHANGE_CREATE, "/ro/1", NULL);
	ps_change_log(PS_CHANGE_UNLINK, "/ro/2", NULL);
	log = read_log();
	assert_memory_equal(log, "earlier\n{", 9);
	assert_non_null(strstr(log, "\"op\":\"create\",\"path\":\"/ro/1\"}\n{"));
	assert_non_null(strstr(log, "\"op\":\"unlink\",\"path\":\"/ro/2\"}\n"));
}

/* A name whose escaped form is far longer than the line buffer on the stack comes out whole. */
static void test_long_escaped_name_is_logged_whole(void **state)
{
	char name[4000], *want;
	const char *log;

	(void)state;
	memset(name, '\x01', sizeof(name) - 1);
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	ps_change_init(0, logpath, "prog");
	ps_change_log(PS_CHANGE_CREATE, name, NULL);
	log = read_log();
	want = malloc(sizeof(name) * 6 + 8);
	assert_non_null(want);
	want[0] = '"';
	want[1] = '/';
	for (size_t i = 1; i < sizeof(name) - 1; i++)
		memcpy(want + 2 + (i - 1) * 6, "\\u0001", 6);
	strcpy(want + 2 + (sizeof(name) - 2) * 6, "\"}\n");
	assert_non_null(strstr(log, want));
	assert_int_equal(strlen(strstr(log, want)), strlen(want));
	free(want);
}

/* Processes appending at once: every line whole, none lost. */
static void test_concurrent_processes_append_whole_lines(void **state)
{
	enum { PROCS = 4, LINES = 200 };
	const char *log, *p;
	int lines = 0;

	(void)state;
	ps_change_init(0, logpath, "prog");
	for (int i = 0; i < PROCS; i++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			for (int j = 0; j < LINES; j++)
				ps_change_log(PS_CHANGE_WRITE, "/ro/some/longer/name/to/make/lines/longer", NULL);
			_exit(0);
		}
	}
	for (int i = 0; i < PROCS; i++)
		wait(NULL);
	log = read_log();
	for (p = log; *p; p = strchr(p, '\n') + 1, lines++) {
		assert_memory_equal(p, "{\"time\":", 8);
		assert_non_null(strstr(p, "\"/ro/some/longer/name/to/make/lines/longer\"}\n"));
	}
	assert_int_equal(lines, PROCS * LINES);
}

static void test_every_op_has_its_word(void **state)
{
	(void)state;
	assert_string_equal(ps_change_word(PS_CHANGE_WRITE), "write");
	assert_string_equal(ps_change_word(PS_CHANGE_REMOVEXATTR), "removexattr");
	assert_string_equal(ps_change_word((enum ps_change_op)999), "?");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_off_by_default_changes_pass_and_nothing_is_logged),
		T(test_log_line_names_pid_program_op_and_both_paths),
		T(test_failed_change_is_not_logged),
		T(test_deny_refuses_with_erofs_and_logs_the_refusal),
		T(test_relative_log_path_is_refused_and_changes_denied),
		T(test_lines_are_appended_after_what_the_file_held),
		T(test_long_escaped_name_is_logged_whole),
		T(test_concurrent_processes_append_whole_lines),
		T(test_every_op_has_its_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
