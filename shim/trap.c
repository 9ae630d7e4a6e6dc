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
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
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

struct range {
	uintptr_t lo, hi;
};

static int trap_on;                 /* set once at start-up: threads and fork children turn it on too */
static struct range libc_text;      /* the one range whose calls run as usual */
static struct range loader_text;    /* ld.so: its calls are run as they are */
static struct range vdso_text;      /* the vDSO's fallback calls, likewise */
static struct sigaction program_sigsys; /* what the program asked SIGSYS to do */
static pthread_mutex_t program_sigsys_mutex = PTHREAD_MUTEX_INITIALIZER;

#if defined(__x86_64__)

static int in_range(const struct range *r, uintptr_t a)
{
	return a >= r->lo && a < r->hi;
}

struct text_search {
	uintptr_t libc_addr, loader_base, vdso_base;
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
		else if (info->dlpi_addr == q->loader_base)
			loader_text = r;
		else if (q->vdso_base && info->dlpi_addr == q->vdso_base)
			vdso_text = r;
	}
	return 0;
}

/* The calls that must not run inside the handler: they make a thread or process that would start in it, or
 * replace the very frame the handler returns through. */
static int runs_natively(long nr)
{
	switch (nr) {
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork:
	case SYS_rt_sigreturn:
	case SYS_restart_syscall:
		return 1;
	default:
		return 0;
	}
}

/* rt_sigprocmask(how, set, old, size) for the interrupted code: its mask is the one the kernel restores when the
 * handler returns (uc_sigmask), so that is the one to read and change - never blocking SIGSYS. */
static long emulate_sigprocmask(ucontext_t *uc, const long a[6])
{
	unsigned long *mask = (unsigned long *)&uc->uc_sigmask, cur = *mask, set;
	const unsigned long never = 1UL << (SIGKILL - 1) | 1UL << (SIGSTOP - 1) | 1UL << (SIGSYS - 1);

	if (a[3] != sizeof(unsigned long))
		return -EINVAL;
	if (a[1]) {
		set = *(const unsigned long *)a[1];
		switch (a[0]) {
		case SIG_BLOCK: *mask = cur | (set & ~never); break;
		case SIG_UNBLOCK: *mask = cur & ~set; break;
		case SIG_SETMASK: *mask = set & ~never; break;
		default: return -EINVAL;
		}
	}
	if (a[2])
		*(unsigned long *)a[2] = cur;
	return 0;
}

/* Does the call come from code whose calls the shim must route: the program or a library of its own namespace
 * (not ld.so, the vDSO, or the audit module's libc)? */
static int routed_caller(uintptr_t from)
{
	struct link_map *map = NULL;
	Dl_info info;
	Lmid_t ns = LM_ID_BASE;

	if (in_range(&loader_text, from) || in_range(&vdso_text, from))
		return 0;
	if (dladdr1((void *)from, &info, (void **)&map, RTLD_DL_LINKMAP) && map && dlinfo(map, RTLD_DI_LMID, &ns) == 0)
		return ns == LM_ID_BASE;
	return 1;
}

/* What the program asked for SIGSYS, for a SIGSYS that is not a trap. */
static void call_program_handler(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction act;

	pthread_mutex_lock(&program_sigsys_mutex);
	act = program_sigsys;
	if ((act.sa_flags & SA_RESETHAND) && act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN)
		program_sigsys.sa_handler = SIG_DFL;
	pthread_mutex_unlock(&program_sigsys_mutex);
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
	if (runs_natively(nr)) { /* once more, natively: back onto the 2-byte syscall instruction */
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
	if (nr == SYS_rt_sigprocmask) {
		r[REG_RAX] = emulate_sigprocmask(ctx, a);
		errno = saved;
		return;
	}
	if (!routed_caller((uintptr_t)si->si_call_addr) || !ps_syscall_route(nr, a, &ret))
		ret = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	r[REG_RAX] = ret == -1 ? -errno : ret;
	errno = saved;
}

/* Turn dispatch on for the calling thread. */
static int trap_thread(void)
{
	ps_trap_selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, libc_text.lo, libc_text.hi - libc_text.lo,
		     &ps_trap_selector);
}

static void trap_fork_child(void)
{
	if (trap_on)
		trap_thread();
}

void ps_trap_init(void)
{
	struct text_search q = { (uintptr_t)REAL(syscall), getauxval(AT_BASE), getauxval(AT_SYSINFO_EHDR) };
	const char *env = getenv("PAGESHADOW_TRAP");
	/* Nothing blocked while the handler runs a call for the program (a read that waits must still take ^C), and
	 * SA_NODEFER: a handler that runs meanwhile may trap too. */
	struct sigaction act = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART };

	if (env && strcmp(env, "0") == 0)
		return;
	dl_iterate_phdr(find_texts, &q);
	if (!libc_text.lo || !loader_text.lo) {
		ps_debug("inline system calls are not trapped: libc's or ld.so's text not found");
		return;
	}
	REAL(sigaction)(SIGSYS, NULL, &program_sigsys);
	sigemptyset(&act.sa_mask);
	if (REAL(sigaction)(SIGSYS, &act, NULL) < 0)
		return;
	if (trap_thread() < 0) {
		ps_debug("inline system calls are not trapped: %s", strerror(errno));
		REAL(sigaction)(SIGSYS, &program_sigsys, NULL);
		return;
	}
	__atomic_store_n(&trap_on, 1, __ATOMIC_RELEASE);
	pthread_atfork(NULL, NULL, trap_fork_child);
}

#else

void ps_trap_init(void)
{
	ps_debug("inline system calls are not trapped on this architecture");
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
};

static void *trapped_start(void *p)
{
	struct thread_start s = *(struct thread_start *)p;

	free(p);
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
	rc = REAL(pthread_create)(thread, attr, trapped_start, s);
	if (rc != 0)
		free(s);
	return rc;
}

/* A copy of set without SIGSYS, in *out; the original when there is nothing to take out. (Also traps again after
 * a call that ran natively, as ps_enter does.) */
static const sigset_t *without_sigsys(const sigset_t *set, sigset_t *out)
{
	ps_trap_selector = 1;
	if (!set || !__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE) || !sigismember(set, SIGSYS))
		return set;
	*out = *set;
	sigdelset(out, SIGSYS);
	return out;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction copy;

	if (!__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return REAL(sigaction)(sig, act, old);
	ps_trap_selector = 1;
	if (sig != SIGSYS) {
		if (act) {
			copy = *act;
			act = &copy;
			sigdelset(&copy.sa_mask, SIGSYS);
		}
		return REAL(sigaction)(sig, act, old);
	}
	pthread_mutex_lock(&program_sigsys_mutex);
	if (old)
		*old = program_sigsys;
	if (act)
		program_sigsys = *act;
	pthread_mutex_unlock(&program_sigsys_mutex);
	return 0;
}

sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act = { .sa_handler = handler, .sa_flags = SA_RESTART }, old;

	if (sig != SIGSYS || !__atomic_load_n(&trap_on, __ATOMIC_ACQUIRE))
		return REAL(signal)(sig, handler);
	sigaction(sig, &act, &old);
	return old.sa_handler;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;

	return REAL(sigprocmask)(how, how == SIG_UNBLOCK ? set : without_sigsys(set, &copy), old);
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;

	return REAL(pthread_sigmask)(how, how == SIG_UNBLOCK ? set : without_sigsys(set, &copy), old);
}
