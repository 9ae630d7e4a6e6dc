/* test_filter.c - the supervised program's seccomp filter (filter.h), run by a small interpreter of the classic
 * BPF instructions it uses, for every call of supervised.def and for calls it must let through. */
#include "fakes.h"

#include "filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define THRESHOLD 15904U

static struct sock_filter prog[PS_FILTER_MAX];
static int prog_len;

/* The filter's verdict for one call: only the instructions ps_filter_build emits are known. */
static unsigned run(unsigned arch, unsigned nr, const unsigned long long args[6])
{
	struct seccomp_data d = { .nr = (int)nr, .arch = arch };
	unsigned a = 0;

	memcpy(d.args, args, sizeof(d.args));
	for (int pc = 0; pc < prog_len; pc++) {
		const struct sock_filter *i = &prog[pc];

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(i->k + 4 <= sizeof(d));
			memcpy(&a, (const char *)&d + i->k, 4);
			break;
		case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i->k ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i->k ? i->jt : i->jf; break;
		case BPF_JMP | BPF_JA: pc += (int)i->k; break;
		case BPF_RET | BPF_K: return i->k;
		default: fail_msg("instruction %d: unknown code %#x", pc, i->code);
		}
	}
	fail_msg("the program ran off its end");
	return 0;
}

/* The call with fd as argument argi, and a descriptor that is neither standard nor merged in the others. */
static unsigned run_fd(unsigned nr, int argi, long long fd)
{
	unsigned long long args[6] = { 3, 3, 3, 3, 3, 3 };

	args[argi] = (unsigned long long)fd;
	return run(AUDIT_ARCH_X86_64, nr, args);
}

static int setup(void **state)
{
	(void)state;
	prog_len = ps_filter_build(THRESHOLD, NULL, 0, prog, PS_FILTER_MAX);
	return prog_len > 0 ? 0 : -1;
}

static void test_every_path_attribute_exit_memory_and_range_call_is_sent_to_the_supervisor(void **state)
{
	static const unsigned path_calls[] = {
#define PS_SV_PATH(name) SYS_##name,
#define PS_SV_ATTR(name) SYS_##name,
#define PS_SV_EXIT(name) SYS_##name,
#define PS_SV_MEM(name) SYS_##name,
#define PS_SV_RANGE(name) SYS_##name,
#define PS_SV_FD(name, mask)
#include "supervised.def"
#undef PS_SV_PATH
#undef PS_SV_ATTR
#undef PS_SV_EXIT
#undef PS_SV_MEM
#undef PS_SV_RANGE
#undef PS_SV_FD
	};
	(void)state;
	for (size_t i = 0; i < sizeof(path_calls) / sizeof(path_calls[0]); i++)
		assert_int_equal(run_fd(path_calls[i], 0, 3), SECCOMP_RET_USER_NOTIF);
}

static const struct {
	unsigned nr, mask;
} fd_calls[] = {
#define PS_SV_PATH(name)
#define PS_SV_ATTR(name)
#define PS_SV_EXIT(name)
#define PS_SV_MEM(name)
#define PS_SV_RANGE(name)
#define PS_SV_FD(name, mask) { SYS_##name, mask },
#include "supervised.def"
#undef PS_SV_PATH
#undef PS_SV_ATTR
#undef PS_SV_EXIT
#undef PS_SV_MEM
#undef PS_SV_RANGE
#undef PS_SV_FD
};

static void test_descriptor_calls_are_sent_for_standard_descriptors_and_from_the_threshold_up(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fd_calls) / sizeof(fd_calls[0]); i++) {
		for (int arg = 0; arg < 6; arg++) {
			unsigned want = (fd_calls[i].mask & (1U << arg)) ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW;

			assert_int_equal(run_fd(fd_calls[i].nr, arg, THRESHOLD), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, THRESHOLD + 4095), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 0), want); /* a standard descriptor */
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 2), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, THRESHOLD - 1), SECCOMP_RET_ALLOW);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 3), SECCOMP_RET_ALLOW);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, -100), SECCOMP_RET_ALLOW); /* AT_FDCWD */
		}
	}
}

/* The filter again with the most low numbers it takes: 5, 7, 9 ... (run_fd's other arguments are 3) */
static void build_with_low_numbers(void)
{
	int low[PS_FILTER_LOW_MAX - PS_FILTER_STDIO];

	for (size_t j = 0; j < sizeof(low) / sizeof(low[0]); j++)
		low[j] = 5 + 2 * (int)j;
	prog_len = ps_filter_build(THRESHOLD, low, sizeof(low) / sizeof(low[0]), prog, PS_FILTER_MAX);
	assert_true(prog_len > 0);
}

static void test_descriptor_calls_are_sent_for_inherited_merged_numbers_below_the_threshold(void **state)
{
	int last = 5 + 2 * (int)(PS_FILTER_LOW_MAX - PS_FILTER_STDIO - 1);

	build_with_low_numbers();
	for (size_t i = 0; i < sizeof(fd_calls) / sizeof(fd_calls[0]); i++) {
		for (int arg = 0; arg < 6; arg++) {
			unsigned want = (fd_calls[i].mask & (1U << arg)) ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW;

			assert_int_equal(run_fd(fd_calls[i].nr, arg, 5), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 9), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, last), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 1), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, THRESHOLD + 7), want);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 3), SECCOMP_RET_ALLOW);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, 6), SECCOMP_RET_ALLOW);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, last + 1), SECCOMP_RET_ALLOW);
			assert_int_equal(run_fd(fd_calls[i].nr, arg, -100), SECCOMP_RET_ALLOW);
		}
	}
	setup(state);
}

static void test_low_numbers_out_of_range_or_too_many_are_refused(void **state)
{
	int low[PS_FILTER_LOW_MAX] = { 3 };

	(void)state;
	assert_int_equal(ps_filter_build(THRESHOLD, low, PS_FILTER_LOW_MAX, prog, PS_FILTER_MAX), -E2BIG);
	low[0] = 2;
	assert_int_equal(ps_filter_build(THRESHOLD, low, 1, prog, PS_FILTER_MAX), -EINVAL);
	low[0] = (int)THRESHOLD;
	assert_int_equal(ps_filter_build(THRESHOLD, low, 1, prog, PS_FILTER_MAX), -EINVAL);
	setup(state);
}

static void test_other_calls_run_untouched(void **state)
{
	static const unsigned others[] = { SYS_futex, SYS_getpid, SYS_clone, SYS_mprotect, SYS_brk, SYS_getuid,
					   SYS_epoll_wait, SYS_socket, SYS_pipe2, 1000 };
	(void)state;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		assert_int_equal(run_fd(others[i], 0, THRESHOLD + 1), SECCOMP_RET_ALLOW);
}

static void test_probe_answers_without_a_notification(void **state)
{
	(void)state;
	assert_int_equal(run_fd(SYS_prctl, 0, (long long)PS_FILTER_PROBE_OPTION),
			 SECCOMP_RET_ERRNO | PS_FILTER_PROBE_ERRNO);
	assert_int_equal(run_fd(SYS_prctl, 0, 15 /* PR_SET_NAME */), SECCOMP_RET_ALLOW);
}

static void test_io_uring_and_linux_aio_setup_fail_with_enosys(void **state)
{
	(void)state;
	assert_int_equal(run_fd(SYS_io_uring_setup, 0, 4), SECCOMP_RET_ERRNO | ENOSYS);
	assert_int_equal(run_fd(SYS_io_setup, 0, 4), SECCOMP_RET_ERRNO | ENOSYS);
	assert_int_equal(run_fd(SYS_io_uring_enter, 0, 4), SECCOMP_RET_ALLOW);
}

static void test_foreign_architecture_and_x32_calls_fail(void **state)
{
	unsigned long long args[6] = { 0 };

	(void)state;
	assert_int_equal(run(AUDIT_ARCH_I386, 5 /* i386 open */, args), SECCOMP_RET_ERRNO | ENOSYS);
	assert_int_equal(run(AUDIT_ARCH_X86_64, 0x40000000U | SYS_openat, args), SECCOMP_RET_ERRNO | ENOSYS);
}

static void test_threshold_leaves_room_below_the_hard_limit(void **state)
{
	(void)state;
	assert_int_equal(ps_filter_threshold(20000), 20000 - PS_FILTER_ROOM);
	assert_int_equal(ps_filter_threshold(1048576), 65536);
	assert_int_equal(ps_filter_threshold(4096), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_path_attribute_exit_memory_and_range_call_is_sent_to_the_supervisor),
		cmocka_unit_test(test_descriptor_calls_are_sent_for_standard_descriptors_and_from_the_threshold_up),
		cmocka_unit_test(test_descriptor_calls_are_sent_for_inherited_merged_numbers_below_the_threshold),
		cmocka_unit_test(test_low_numbers_out_of_range_or_too_many_are_refused),
		cmocka_unit_test(test_other_calls_run_untouched),
		cmocka_unit_test(test_probe_answers_without_a_notification),
		cmocka_unit_test(test_io_uring_and_linux_aio_setup_fail_with_enosys),
		cmocka_unit_test(test_foreign_architecture_and_x32_calls_fail),
		cmocka_unit_test(test_threshold_leaves_room_below_the_hard_limit),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
