/* filter.c - the seccomp filter of a supervised program (filter.h).
 *
 * The filter runs on every system call of the program, so it is a binary search on the call number, not a
 * chain of comparisons: about seven comparisons for any call, then, for a descriptor call, two or three for its
 * descriptor. Calls from another architecture (int 0x80 in an x86-64 program) and x32 numbers could name files
 * by numbers the table does not know: they fail with ENOSYS.
 */
#include "filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; glibc 2.36 does not name it */
#endif
#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

#if defined(__x86_64__)
#define PS_AUDIT_ARCH AUDIT_ARCH_X86_64
#define PS_FOREIGN_NR 0x40000000U /* __X32_SYSCALL_BIT */
#elif defined(__aarch64__)
#define PS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define PS_FOREIGN_NR 0xffffffffU
#else
#error "pageshadow's supervisor knows x86-64 and aarch64"
#endif

enum entry_kind { ENTRY_PATH, ENTRY_FD, ENTRY_PROBE, ENTRY_ENOSYS };

struct entry {
	unsigned nr;
	enum entry_kind kind;
	unsigned argmask;
};

static const struct entry table[] = {
#define PS_SV_PATH(name) { SYS_##name, ENTRY_PATH, 0 },
#define PS_SV_ATTR(name) { SYS_##name, ENTRY_PATH, 0 },
#define PS_SV_EXIT(name) { SYS_##name, ENTRY_PATH, 0 },
#define PS_SV_MEM(name) { SYS_##name, ENTRY_PATH, 0 },
#define PS_SV_RANGE(name) { SYS_##name, ENTRY_PATH, 0 },
#define PS_SV_FD(name, mask) { SYS_##name, ENTRY_FD, mask },
#include "supervised.def"
#undef PS_SV_PATH
#undef PS_SV_ATTR
#undef PS_SV_EXIT
#undef PS_SV_MEM
#undef PS_SV_RANGE
#undef PS_SV_FD
	{ SYS_prctl, ENTRY_PROBE, 0 },
	/* A ring reads and writes files with no call the supervisor sees; every io_uring user falls back to plain
	 * calls. The guard's own filter says the same, but a second filter would run on every call too (DESIGN.md
	 * "Programs the shim cannot enter"): pageshadow-run leaves it out when the supervisor's carries this. */
	{ SYS_io_uring_setup, ENTRY_ENOSYS, 0 },
	{ SYS_io_setup, ENTRY_ENOSYS, 0 }, /* (Linux AIO: io_submit is a ring of its own) */
};
#define NENTRY (sizeof(table) / sizeof(table[0]))

#define ARG_LO(i) ((unsigned)(offsetof(struct seccomp_data, args) + 8 * (i)))

struct out {
	struct sock_filter *prog;
	size_t cap, n;
	unsigned threshold;
	const int *low; /* numbers between 2 and the threshold that are sent too */
	size_t nlow;
};

static int emit(struct out *o, struct sock_filter insn)
{
	if (o->n >= o->cap)
		return -ENOSPC;
	o->prog[o->n++] = insn;
	return 0;
}

#define EMIT(o, insn)                                                                                              \
	do {                                                                                                       \
		if (emit(o, (struct sock_filter)insn) < 0)                                                                             \
			return -ENOSPC;                                                                            \
	} while (0)

/* One descriptor argument's test: five instructions, and with low numbers one more each and a jump over the
 * answer. */
static size_t arg_len(const struct out *o)
{
	return 5 + o->nlow + (o->nlow > 0);
}

static size_t block_len(const struct out *o, const struct entry *e)
{
	switch (e->kind) {
	case ENTRY_PATH: return 1;
	case ENTRY_ENOSYS: return 1;
	case ENTRY_PROBE: return 4;
	case ENTRY_FD: return arg_len(o) * (size_t)__builtin_popcount(e->argmask) + 1;
	}
	return 0;
}

/* The test of argument i: sent for 0-2, the low numbers, and from the threshold up to INT_MAX (AT_FDCWD and -1
 * are negative); else on to what follows. An int argument: its low word. */
static int emit_fd_arg(struct out *o, unsigned i)
{
	size_t k = o->nlow, send = 4 + k + (k > 0), next = send + 1;

	EMIT(o, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i)));
	EMIT(o, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, o->threshold, 1, 0));
	EMIT(o, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, PS_FILTER_STDIO, (unsigned char)((k ? 4 : next) - 3),
			 (unsigned char)(send - 3)));
	EMIT(o, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000U, (unsigned char)(next - 4), (unsigned char)(send - 4)));
	for (size_t j = 0; j < k; j++)
		EMIT(o, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)o->low[j], (unsigned char)(send - (5 + j)), 0));
	if (k)
		EMIT(o, BPF_STMT(BPF_JMP | BPF_JA, 1));
	EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
	return 0;
}

/* What follows the match of e's number: the block ends in a return. */
static int emit_block(struct out *o, const struct entry *e)
{
	switch (e->kind) {
	case ENTRY_PATH:
		EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
		return 0;
	case ENTRY_ENOSYS:
		EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
		return 0;
	case ENTRY_PROBE:
		EMIT(o, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)));
		EMIT(o, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)PS_FILTER_PROBE_OPTION, 0, 1));
		EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | PS_FILTER_PROBE_ERRNO));
		EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
		return 0;
	case ENTRY_FD:
		for (unsigned i = 0; i < 6; i++)
			if ((e->argmask & (1U << i)) && emit_fd_arg(o, i) < 0)
				return -ENOSPC;
		EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
		return 0;
	}
	return 0;
}

/* A few numbers compared one by one, then allowed. */
static int emit_leaf(struct out *o, const struct entry *const *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EMIT(o, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, e[i]->nr, 0, (unsigned char)block_len(o, e[i])));
		if (emit_block(o, e[i]) < 0)
			return -ENOSPC;
	}
	EMIT(o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
	return 0;
}

/* The numbers e[0..n) (sorted), with A holding the call's number: split at the middle one, the upper half first
 * and the lower half after it, reached by a long jump. */
static int emit_tree(struct out *o, const struct entry *const *e, size_t n)
{
	size_t mid = n / 2, at;

	if (n <= 3)
		return emit_leaf(o, e, n);
	EMIT(o, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, e[mid]->nr, 1, 0));
	at = o->n;
	EMIT(o, BPF_STMT(BPF_JMP | BPF_JA, 0));
	if (emit_tree(o, e + mid, n - mid) < 0)
		return -ENOSPC;
	o->prog[at].k = (unsigned)(o->n - at - 1);
	return emit_tree(o, e, mid);
}

static int by_number(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;

	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

int ps_filter_build(unsigned threshold, const int *low, size_t nlow, struct sock_filter *prog, size_t cap)
{
	const struct entry *sorted[NENTRY];
	struct out o = { .prog = prog, .cap = cap, .n = 0, .threshold = threshold, .low = low, .nlow = nlow };

	if (nlow > PS_FILTER_LOW_MAX - PS_FILTER_STDIO)
		return -E2BIG;
	for (size_t j = 0; j < nlow; j++)
		if (low[j] < (int)PS_FILTER_STDIO || (unsigned)low[j] >= threshold)
			return -EINVAL;

	for (size_t i = 0; i < NENTRY; i++)
		sorted[i] = &table[i];
	qsort(sorted, NENTRY, sizeof(sorted[0]), by_number);
	EMIT(&o, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
	EMIT(&o, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PS_AUDIT_ARCH, 1, 0));
	EMIT(&o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
	EMIT(&o, BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
	EMIT(&o, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, PS_FOREIGN_NR, 0, 1));
	EMIT(&o, BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
	if (emit_tree(&o, sorted, NENTRY) < 0)
		return -ENOSPC;
	return (int)o.n;
}

#define ROOM PS_FILTER_ROOM
#define THRESHOLD_MAX 65536U /* the kernel's descriptor table grows to the highest number: keep it small */

unsigned ps_filter_threshold(unsigned long hard_limit)
{
	if (hard_limit < 2 * ROOM)
		return 0;
	if (hard_limit - ROOM > THRESHOLD_MAX)
		return THRESHOLD_MAX;
	return (unsigned)(hard_limit - ROOM);
}

/* Linux "major.minor" at least (major, minor)? */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

/* Yama's ptrace_scope (0 when Yama is not there), or -1. */
static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &scope) != 1)
		scope = -1;
	fclose(f);
	return scope;
}

/* Has this process CAP_SYS_PTRACE in its effective set? */
static int has_sys_ptrace(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned long long eff = 0;
	char line[256];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> 19) & 1; /* CAP_SYS_PTRACE */
}

int ps_filter_probe(char *why, size_t whysz)
{
	int scope;

	unsigned action = SECCOMP_RET_USER_NOTIF;
	struct iovec none = { 0 };

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0) {
		snprintf(why, whysz, "seccomp user notification (Linux 5.0): %s", strerror(errno));
		return -1;
	}
	if (!kernel_at_least(5, 19)) { /* ADDFD_FLAG_SEND (5.14), FILTER_FLAG_WAIT_KILLABLE_RECV (5.19) */
		snprintf(why, whysz, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19)");
		return -1;
	}
	if (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS) {
		snprintf(why, whysz, "pidfd_getfd (Linux 5.6)");
		return -1;
	}
	if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0) < 0 && errno == ENOSYS) {
		snprintf(why, whysz, "kcmp (a kernel built with CONFIG_KCMP)");
		return -1;
	}
	if (syscall(SYS_process_vm_readv, getpid(), &none, 1, &none, 1, 0) < 0 && errno == ENOSYS) {
		snprintf(why, whysz, "process_vm_readv (a kernel built with CONFIG_CROSS_MEMORY_ATTACH)");
		return -1;
	}
	/* The supervisor reads and writes the memory of a program it did not start (it is not the program's
	 * ancestor): Yama's scope 1 allows that only with CAP_SYS_PTRACE, scope 2 only to it, scope 3 never. */
	if ((scope = yama_scope()) != 0 && (scope < 0 || scope >= 3 || !has_sys_ptrace())) {
		snprintf(why, whysz,
			 "access to the memory of a program its supervisor did not start (Yama's ptrace_scope is %d: "
			 "sysctl kernel.yama.ptrace_scope=0, or CAP_SYS_PTRACE, allows it)",
			 scope);
		return -1;
	}
	return 0;
}
