/* trap.c - system calls made without libc: an inline syscall instruction in a program or a library.
 *
 * Entry points: ps_trap_init (start-up), the pthread_create, sigaction, signal, sigprocmask and pthread_sigmask
 * wrappers (symbols.def), ps_trap_selector (ps_enter).
 * Syscall User Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux 5.11): each thread names one range of code
 * whose system calls the kernel runs as usual - libc's text, where every wrapper and the shim's own real calls
 * live - and a selector byte; a system call from anywhere else, while the byte says "block", is not run but
 * turned into a SIGSYS for the thread. The shim's handler runs a file call's number through the same routing as
 * syscall(2) (syscall.c), so an inline read of a shadowed file gets the merged bytes and an inline write lands in
 * the shadow; any other number it runs for the program as it was asked. A call that cannot be run from inside a
 * signal handler - clone, fork, vfork, rt_sigreturn, restart_syscall - is run natively instead: the handler
 * sets the thread's selector to "allow" and steps back onto the instruction, and the thread's next call into a
 * shim wrapper blocks again (ps_enter). rt_sigprocmask changes the mask the kernel restores after the handler. Calls from ld.so, the vDSO and the audit module's
 * namespace are run as they are.
 * The kernel keeps the setting per thread and clears it on fork and exec: new threads (pthread_create) and fork
 * children set it again, and the next program's shim at its start. A SIGSYS cannot be blocked or handled by the
 * program while a thread can trap - the kernel would kill the thread - so SIGSYS is taken out of the masks the
 * program sets, and the program's own SIGSYS handler is kept aside and called for every SIGSYS that is not a
 * trap (seccomp's, kill's). PAGESHADOW_TRAP=0 turns all of this off.
 */
#include "shim.h"
#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/audit.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/auxv.h>
#include <sys/select.h>
#include <threads.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2 /* si_code of a dispatched system call */
#endif

__thread char ps_trap_selector __attribute__((tls_model("initial-exec")));
/* SIGSYS as the program sees it in this thread: blocked by its masks (the kernel's mask never blocks it), and a
 * SIGSYS that arrived meanwhile, held back until the program unblocks it. */
static __thread char program_blocks_sigsys __attribute__((tls_model("initial-exec")));
static __thread char sigsys_held __attribute__((tls_model("initial-exec")));

struct range {
	uintptr_t lo, hi;
};

static int trap_on;                 /* set once at start-up: threads and fork children turn it on too */
static struct range allowed;        /* the one range whose calls run as usual: libc's text through ld.so's */
static struct range libc_text;
static struct range loader_text;    /* ld.so: its calls are run as they are */
static struct range vdso_text;      /* the vDSO's fallback calls, likewise */
static int vdso_traps;              /* calls the vDSO made outside the allowed range (start-up's clock test) */
static int (*find_object)(void *, struct dl_find_object *); /* ld.so's _dl_find_object (glibc 2.35) */
static struct sigaction program_sigsys; /* what the program asked SIGSYS to do */
static pthread_mutex_t program_sigsys_mutex = PTHREAD_MUTEX_INITIALIZER;

/* program_sigsys is read and written from signal handlers too: every signal stays out while the lock is held
 * (a handler taking it on the same thread would wait forever). Nothing in between can trap. */
static void sigsys_lock(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	REAL(pthread_sigmask)(SIG_BLOCK, &all, saved);
	pthread_mutex_lock(&program_sigsys_mutex);
}

static void sigsys_unlock(const sigset_t *saved)
{
	pthread_mutex_unlock(&program_sigsys_mutex);
	REAL(pthread_sigmask)(SIG_SETMASK, saved, NULL);
}

#if defined(__x86_64__)

static int trap_thread(void);

static int in_range(const struct range *r, uintptr_t a)
{
	return a >= r->lo && a < r->hi;
}

struct text_search {
	uintptr_t libc_addr, loader_addr, loader_base, vdso_base;
};

/* The executable segment of the objects that hold libc's syscall(), ld.so (AT_BASE) and the vDSO. */
static int find_texts(struct dl_phdr_info *info, size_t size, void *data)
{
	struct text_search *q = data;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct range r = { info->dlpi_addr + ph->p_vaddr, info->dlpi_addr + ph->p_vaddr + ph->p_memsz };

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (in_range(&r, q->libc_addr))
			libc_text = r;
		else if (q->loader_addr ? in_range(&r, q->loader_addr) : q->loader_base && info->dlpi_addr == q->loader_base)
			loader_text = r;
		else if (q->vdso_base && info->dlpi_addr == q->vdso_base)
			vdso_text = r;
	}
	return 0;
}

/* The calls that must not run inside the handler: they make a thread or process that would start in it on
 * another stack (fork-like ones are run in it: forks_like_fork), or replace the very frame the handler returns
 * through. */
static int runs_natively(long nr)
{
	switch (nr) {
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork:
	case SYS_rt_sigreturn:
	case SYS_restart_syscall:
	case SYS_arch_prctl: /* may move the thread pointer the handler's thread-local state hangs on */
		return 1;
	default:
		return 0;
	}
}

/* rt_sigprocmask(how, set, old, size) for the interrupted code: its mask is the one the kernel restores when the
 * handler returns (uc_sigmask), so that is the one to read and change - never blocking SIGSYS. */
static long emulate_sigprocmask(ucontext_t *uc, const long a[6])
{
	const unsigned long sys = 1UL << (SIGSYS - 1), never = 1UL << (SIGKILL - 1) | 1UL << (SIGSTOP - 1) | sys;
	unsigned long *mask = (unsigned long *)&uc->uc_sigmask, cur = *mask | (program_blocks_sigsys ? sys : 0), set;

	if (a[3] != sizeof(unsigned long))
		return -EINVAL;
	if (a[1]) {
		set = *(const unsigned long *)a[1];
		switch (a[0]) {
		case SIG_BLOCK: set |= cur; break;
		case SIG_UNBLOCK: set = cur & ~set; break;
		case SIG_SETMASK: break;
		default: return -EINVAL;
		}
		*mask = set & ~never;
		program_blocks_sigsys = (set & sys) != 0;
	}
	if (a[2])
		*(unsigned long *)a[2] = cur;
	return 0;
}

/* Does the call come from code whose calls the shim must route: the program or a library of its own namespace
 * (not ld.so, the vDSO, or the audit module's libc)? */
static int routed_caller(uintptr_t from)
{
	struct dl_find_object found;

	if (in_range(&vdso_text, from)) {
		__atomic_add_fetch(&vdso_traps, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (in_range(&loader_text, from))
		return 0;
	/* _dl_find_object takes no lock and touches no dlerror state (safe in a signal handler); the object is the
	 * program's when it is on the base namespace's list, which _r_debug heads. */
	if (!find_object || find_object((void *)from, &found) != 0)
		return 1;
	for (const struct link_map *m = _r_debug.r_map; m; m = m->l_next)
		if (m == found.dlfo_link_map)
			return 1;
	return 0;
}

/* What the program asked for SIGSYS, for a SIGSYS that is not a trap. */
static void call_program_handler(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction act;
	sigset_t saved;

	if (program_blocks_sigsys) { /* delivered when the program unblocks it (unblocked_sigsys) */
		sigsys_held = 1;
		return;
	}
	sigsys_lock(&saved);
	act = program_sigsys;
	if ((act.sa_flags & SA_RESETHAND) && act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN)
		program_sigsys.sa_handler = SIG_DFL;
	sigsys_unlock(&saved);
	if (act.sa_handler == SIG_IGN)
		return;
	if (act.sa_handler == SIG_DFL) { /* the default action: end the process as the kernel would */
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		REAL(sigaction)(SIGSYS, &dfl, NULL);
		raise(SIGSYS); /* not blocked here (SA_NODEFER) */
		return;
	}
	if (act.sa_flags & SA_SIGINFO)
		act.sa_sigaction(sig, si, ctx);
	else
		act.sa_handler(sig);
}

/* The kernel's struct sigaction, as rt_sigaction takes it. */
struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* rt_sigaction(SIGSYS, act, old, size) made inline: the program's disposition, kept aside like sigaction's. */
static long emulate_sigaction_sigsys(const long a[6])
{
	struct kernel_sigaction act = { 0 }, *old = (struct kernel_sigaction *)a[2];
	struct sigaction prev;
	sigset_t saved;

	if (a[3] != sizeof(unsigned long))
		return -EINVAL;
	if (a[1]) /* read before old is written: they may be the same buffer */
		act = *(const struct kernel_sigaction *)a[1];
	sigsys_lock(&saved);
	prev = program_sigsys;
	if (a[1]) {
		memset(&program_sigsys, 0, sizeof(program_sigsys));
		program_sigsys.sa_handler = (sighandler_t)act.handler;
		program_sigsys.sa_flags = (int)act.flags;
		memcpy(&program_sigsys.sa_mask, &act.mask, sizeof(act.mask));
	}
	sigsys_unlock(&saved);
	if (old) {
		old->handler = (void *)prev.sa_handler;
		old->flags = (unsigned long)prev.sa_flags;
		old->restorer = NULL;
		memcpy(&old->mask, &prev.sa_mask, sizeof(old->mask));
	}
	return 0;
}

/* rt_sigaction of another signal, or rt_sigsuspend, made inline: run with SIGSYS taken out of the mask given. */
static long run_without_sigsys(long nr, const long a[6])
{
	const unsigned long sys = 1UL << (SIGSYS - 1);
	struct kernel_sigaction act;
	unsigned long mask;
	long ret;

	if (nr == SYS_rt_sigsuspend && a[0]) {
		mask = *(const unsigned long *)a[0] & ~sys;
		ret = REAL(syscall)(nr, &mask, a[1]);
	} else if (nr == SYS_rt_sigaction && a[1]) {
		act = *(const struct kernel_sigaction *)a[1];
		act.mask &= ~sys;
		ret = REAL(syscall)(nr, a[0], &act, a[2], a[3]);
	} else {
		ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3]);
	}
	return ret == -1 ? -errno : ret;
}

/* fork, or a clone that copies the memory and keeps the stack (what fork is made of), run inside the handler: the
 * child returns through its own copy of the signal frame, and traps again first (the kernel cleared dispatch). */
static int forks_like_fork(long nr, const long a[6])
{
	return nr == SYS_fork || (nr == SYS_clone && !(a[0] & (CLONE_VM | CLONE_SETTLS)) && a[1] == 0);
}

static long run_fork(long nr, const long a[6])
{
	long ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4]);

	if (ret == 0)
		trap_thread();
	return ret == -1 ? -errno : ret;
}

/* Is the handler running on a small alternate signal stack (a crash handler's)? Routing a call through the shim
 * takes tens of kilobytes; there the call runs as it is. */
static int on_small_stack(void)
{
	stack_t ss;
	char here;

	if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK))
		return 0;
	return (uintptr_t)&here - (uintptr_t)ss.ss_sp < 64 * 1024;
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	greg_t *r = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	long nr, ret, a[6];
	int saved = errno;

	if (si->si_code != SYS_USER_DISPATCH) {
		call_program_handler(sig, si, ctx);
		errno = saved;
		return;
	}
	nr = r[REG_RAX];
	/* Another ABI (int $0x80, x32) or a call that cannot run in here: once more, natively - back onto the 2-byte
	 * instruction, with the selector letting it through. */
	if (si->si_arch != AUDIT_ARCH_X86_64 || (nr & 0x40000000) || runs_natively(nr)) {
		ps_trap_selector = SYSCALL_DISPATCH_FILTER_ALLOW;
		r[REG_RIP] -= 2;
		errno = saved;
		return;
	}
	a[0] = r[REG_RDI];
	a[1] = r[REG_RSI];
	a[2] = r[REG_RDX];
	a[3] = r[REG_R10];
	a[4] = r[REG_R8];
	a[5] = r[REG_R9];
	if (forks_like_fork(nr, a)) {
		ret = run_fork(nr, a);
	} else if (nr == SYS_rt_sigprocmask) {
		ret = emulate_sigprocmask(ctx, a);
		if (!program_blocks_sigsys && sigsys_held) { /* unblocked: what arrived meanwhile, now */
			sigsys_held = 0;
			raise(SIGSYS);
		}
	} else if (nr == SYS_rt_sigaction && a[0] == SIGSYS) {
		ret = emulate_sigaction_sigsys(a);
	} else if (nr == SYS_rt_sigaction || nr == SYS_rt_sigsuspend) {
		ret = run_without_sigsys(nr, a);
	} else {
		if (!routed_caller((uintptr_t)si->si_call_addr) || on_small_stack() || !ps_syscall_route(nr, a, &ret))
			ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		ret = ret == -1 ? -errno : ret; /* libc's convention to the kernel's */
	}
	r[REG_RAX] = ret;
	errno = saved;
}

/* Turn dispatch on for the calling thread. */
static int trap_thread(void)
{
	ps_trap_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, allowed.lo, allowed.hi - allowed.lo,
		     &ps_trap_selector);
}

static void trap_fork_child(void)
{
	if (trap_on)
		trap_thread();
}

/* The allowed range: libc's text, stretched to ld.so's when ld.so lies close above it (as the kernel places them:
 * ld.so, the vDSO and the libraries loaded at start-up sit together), so that ld.so's own calls - every dlopen -
 * never trap. The libraries between are allowed too; those loaded later, and the program, are not. */
static void choose_range(void)
{
	uintptr_t program_entry = getauxval(AT_ENTRY); /* the program's, also when ld.so mapped it (ld.so PROGRAM) */

	allowed = libc_text;
	if (loader_text.lo > libc_text.hi && loader_text.hi - libc_text.lo < (1UL << 30))
		allowed.hi = loader_text.hi;
	if (in_range(&allowed, program_entry)) /* ld.so PROGRAM maps the program beside the libraries */
		allowed = libc_text;
}

/* Does the vDSO fall back to system calls for the clock here (a clock source it cannot read)? Then every
 * clock_gettime would trap: leave dispatch off. Run with dispatch on, right after it is turned on. */
static int vdso_makes_calls(void)
{
	struct timespec ts;
	struct timeval tv;

	if (!vdso_text.lo || (vdso_text.lo >= allowed.lo && vdso_text.hi <= allowed.hi))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	clock_gettime(CLOCK_REALTIME, &ts);
	gettimeofday(&tv, NULL);
	return __atomic_load_n(&vdso_traps, __ATOMIC_RELAXED) > 0;
}

/* SIGSYS blocked across exec by the parent: blocked in the program's view from now on, unblocked in the kernel's (a
 * trap while it is blocked would kill the thread); one already pending is held for the program. */
static void take_over_inherited_block(void)
{
	sigset_t cur, sys;

	if (REAL(pthread_sigmask)(SIG_BLOCK, NULL, &cur) != 0 || !sigismember(&cur, SIGSYS))
		return;
	program_blocks_sigsys = 1;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	REAL(pthread_sigmask)(SIG_UNBLOCK, &sys, NULL);
}

/* Where the process cannot be trapped: valgrind runs the program on its own system calls, which would all trap. */
static const char *cannot_trap(void)
{
	const char *pre = getenv("LD_PRELOAD");

	if (pre && strstr(pre, "vgpreload"))
		return "the program runs under valgrind";
	if (!libc_text.lo || !loader_text.lo)
		return "libc's or ld.so's text not found";
	return NULL;
}

/* The shim's SIGSYS handler, as the kernel's disposition. Nothing blocked while it runs a call for the program (a
 * read that waits must still take ^C), and SA_NODEFER: a handler that runs meanwhile may trap too. */
static int install_handler(void)
{
	struct sigaction act = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART };

	sigemptyset(&act.sa_mask);
	return REAL(sigaction)(SIGSYS, &act, NULL);
}

void ps_trap_init(void)
{
	/* ld.so by a function only it defines (AT_BASE is 0 when ld.so was run as a program - ldd, ld.so PROGRAM -
	 * and so is a non-PIE program's own base; ld.so then also gives AT_ENTRY the program's), else by AT_BASE. */
	struct text_search q = { (uintptr_t)REAL(syscall), (uintptr_t)dlsym(RTLD_DEFAULT, "__tls_get_addr"),
				 getauxval(AT_BASE), getauxval(AT_SYSINFO_EHDR) };
	const char *env = getenv("PAGESHADOW_TRAP"), *why;

	if (env && strcmp(env, "0") == 0)
		return;
	find_object = (int (*)(void *, struct dl_find_object *))dlsym(RTLD_DEFAULT, "_dl_find_object");
	dl_iterate_phdr(find_texts, &q);
	if ((why = cannot_trap())) {
		ps_debug("inline system calls are not trapped: %s", why);
		return;
	}
	choose_range();
	REAL(sigaction)(SIGSYS, NULL, &program_sigsys);
	if (install_handler() < 0)
		return;
	take_over_inherited_block();
	if (trap_thread() < 0 || vdso_makes_calls()) {
		ps_debug("inline system calls are not trapped: %s",
			 vdso_traps ? "the vDSO makes system calls for the clock here" : strerror(errno));
		prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
		REAL(sigaction)(SIGSYS, &program_sigsys, NULL);
		return;
	}
	__atomic_store_n(&trap_on, 1, __ATOMIC_RELEASE);
	pthread_atfork(NULL, NULL, trap_fork_child);
}

/* exec keeps an ignored or blocked signal: give the new program what this one asked for SIGSYS. */
void ps_trap_before_exec(void)
{
	sigset_t sys;

	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	if (program_sigsys.sa_handler == SIG_IGN)
		REAL(sigaction)(SIGSYS, &program_sigsys, NULL);
	if (program_blocks_sigsys)
		REAL(pthread_sigmask)(SIG_BLOCK, &sys, NULL);
}

/* The exec failed: this program goes on, trapped. */
void ps_trap_after_exec_failed(void)
{
	sigset_t sys;

	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	REAL(pthread_sigmask)(SIG_UNBLOCK, &sys, NULL);
	install_handler();
}

#else

void ps_trap_init(void)
{
	ps_debug("inline system calls are not trapped on this architecture");
}

void ps_trap_before_exec(void)
{
}

void ps_trap_after_exec_failed(void)
{
}

static int trap_thread(void)
{
	return 0;
}

#endif

/* ---- the wrappers that keep it working ---- */

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	char blocks_sigsys; /* a new thread starts with its creator's mask */
};

static void *trapped_start(void *p)
{
	struct thread_start s = *(struct thread_start *)p;

	free(p);
	program_blocks_sigsys = s.blocks_sigsys;
	trap_thread();
	return s.fn(s.arg);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	struct thread_start *s;
	int rc;

	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE) || !(s = malloc(sizeof(*s))))
		return REAL(pthread_create)(thread, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->blocks_sigsys = program_blocks_sigsys;
	rc = REAL(pthread_create)(thread, attr, trapped_start, s);
	if (rc != 0)
		free(s);
	return rc;
}

/* mask without SIGSYS (in *copy) while inline calls are trapped; mask itself otherwise. */
static const sigset_t *without_sigsys(const sigset_t *mask, sigset_t *copy)
{
	if (!mask || !__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE) || !sigismember(mask, SIGSYS))
		return mask;
	*copy = *mask;
	sigdelset(copy, SIGSYS);
	return copy;
}

/* A mask change as the program means it: SIGSYS stays out of the kernel's mask (a trap while it is blocked would
 * kill the thread) and is blocked in the program's view instead - shown in *old, held back when it arrives
 * (call_program_handler) and delivered when unblocked. Also traps again after a call that ran natively. */
static int change_mask(int (*call)(int, const sigset_t *, sigset_t *), int how, const sigset_t *set, sigset_t *old)
{
	int was = program_blocks_sigsys, rc;
	sigset_t copy, no_segv;

	if (how != SIG_UNBLOCK)
		set = ps_fault_unblockable(set, &no_segv);
	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return call(how, set, old);
	ps_trap_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	if (how != SIG_UNBLOCK)
		set = without_sigsys(set, &copy);
	if ((rc = call(how, set, old)) != 0)
		return rc;
	if (set && (how == SIG_BLOCK || how == SIG_SETMASK))
		program_blocks_sigsys = set == &copy || (how == SIG_BLOCK && was);
	else if (set && how == SIG_UNBLOCK && sigismember(set, SIGSYS))
		program_blocks_sigsys = 0;
	if (old && was)
		sigaddset(old, SIGSYS);
	if (!program_blocks_sigsys && sigsys_held) {
		sigsys_held = 0;
		raise(SIGSYS);
	}
	return 0;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int rc = change_mask(REAL(pthread_sigmask), how, set, old);

	if (rc == 0)
		return 0;
	errno = rc;
	return -1;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return change_mask(REAL(pthread_sigmask), how, set, old);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction copy, prev;
	sigset_t saved;
	int handled, rc = ps_fault_sigaction(sig, act, old, &handled);

	if (handled)
		return rc;
	if (act && sigismember(&act->sa_mask, SIGSEGV)) { /* a store in the handler may need the shim's fault */
		copy = *act;
		sigdelset(&copy.sa_mask, SIGSEGV);
		act = &copy;
	}
	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return REAL(sigaction)(sig, act, old);
	ps_trap_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	if (sig != SIGSYS) { /* a handler's mask must not block SIGSYS either */
		if (act) {
			copy = *act;
			act = &copy;
			sigdelset(&copy.sa_mask, SIGSYS);
		}
		return REAL(sigaction)(sig, act, old);
	}
	if (act) /* read before old is written: they may be the same buffer */
		copy = *act;
	sigsys_lock(&saved);
	prev = program_sigsys;
	if (act)
		program_sigsys = copy;
	sigsys_unlock(&saved);
	if (old)
		*old = prev;
	return 0;
}

sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act = { .sa_handler = handler, .sa_flags = SA_RESTART }, old;

	if ((sig != SIGSYS || !__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE)) && !ps_fault_owns(sig))
		return REAL(signal)(sig, handler);
	sigaction(sig, &act, &old);
	return old.sa_handler;
}

/* The calls that wait with a mask of their own: SIGSYS stays out of it too. */
int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;

	return REAL(sigsuspend)(without_sigsys(mask, &copy));
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *mask)
{
	sigset_t copy;

	return REAL(ppoll)(fds, nfds, timeout, without_sigsys(mask, &copy));
}

int pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout,
	    const sigset_t *mask)
{
	sigset_t copy;

	return REAL(pselect)(nfds, readfds, writefds, exceptfds, timeout, without_sigsys(mask, &copy));
}

/* C11 threads start through glibc's own pthread_create, which the wrapper above never sees. */
struct thrd_start_args {
	thrd_start_t fn;
	void *arg;
	char blocks_sigsys;
};

static int trapped_thrd_start(void *p)
{
	struct thrd_start_args s = *(struct thrd_start_args *)p;

	free(p);
	program_blocks_sigsys = s.blocks_sigsys;
	trap_thread();
	return s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	struct thrd_start_args *s;
	int rc;

	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE) || !(s = malloc(sizeof(*s))))
		return REAL(thrd_create)(thr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	s->blocks_sigsys = program_blocks_sigsys;
	rc = REAL(thrd_create)(thr, trapped_thrd_start, s);
	if (rc != thrd_success)
		free(s);
	return rc;
}
