/* fault.c - stores into the lower pages of shared writable maps: copy the page up, then let the store run.
 *
 * Entry points: ps_fault_arm (maps.c, on the first shared writable map), ps_fault_sigaction (the sigaction and
 * signal wrappers, for SIGSEGV), ps_maps_prefault's callers (the read wrappers).
 * Why faults: the lower pages of a shared writable map are mapped read-only from the lower file (mmap.c), so the
 * first store into one raises SIGSEGV (SEGV_ACCERR). The handler has maps.c copy that page up and map the data
 * file's page over it, writable, and returns: the store runs again and lands in the shadow. Only pages written
 * are copied up - a byte written through a map of a 10 GiB file costs one page, as a pwrite does.
 * The program keeps its own SIGSEGV handler: the shim's is installed once, and the program's sigaction and signal
 * for SIGSEGV read and set the handler the shim calls for every fault that is not a store into such a page (a
 * default disposition is put back, so that the fault repeats and kills as it would have).
 * SIGSEGV is never blocked (sigprocmask, pthread_sigmask and handlers' masks leave it out): a fault while it is
 * blocked kills the thread before any handler runs. Blocking it only ever held back a SIGSEGV sent by kill().
 * The kernel does not fault on its own writes into user memory: a read() into such a page fails EFAULT. The read
 * wrappers copy the pages of their buffer up first (ps_maps_prefault).
 */
#include "shim.h"
#include "log.h"

#include <signal.h>
#include <string.h>

static struct sigaction program_segv; /* what the program set for SIGSEGV; valid once armed */
static int armed;
static pthread_mutex_t arm_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Hand a fault that is not the shim's to the program's handler, or let it kill as it would have. */
static void forward(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction prog = program_segv;

	if (prog.sa_flags & SA_SIGINFO) {
		prog.sa_sigaction(sig, si, ctx);
		return;
	}
	if (prog.sa_handler != SIG_DFL && prog.sa_handler != SIG_IGN) {
		prog.sa_handler(sig);
		return;
	}
	/* The default (a fault cannot be ignored): returning runs the instruction again, which now kills. */
	prog.sa_handler = SIG_DFL;
	prog.sa_flags = 0;
	sigemptyset(&prog.sa_mask);
	REAL(sigaction)(sig, &prog, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;

	if (si->si_code == SEGV_ACCERR && ps_maps_write_fault(si->si_addr)) {
		errno = saved;
		return;
	}
	errno = saved;
	forward(sig, si, ctx);
}

int ps_fault_arm(void)
{
	struct sigaction ours = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART };
	int rc = 0;

	if (__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&arm_mutex);
	if (!armed) {
		sigemptyset(&ours.sa_mask);
		if (REAL(sigaction)(SIGSEGV, &ours, &program_segv) < 0) {
			rc = -errno;
			ps_error("cannot install the handler that copies up pages written through maps: %s",
				 strerror(errno));
		} else {
			__atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&arm_mutex);
	return rc;
}

int ps_fault_owns(int sig)
{
	return sig == SIGSEGV && __atomic_load_n(&armed, __ATOMIC_ACQUIRE);
}

int ps_fault_sigaction(int sig, const struct sigaction *act, struct sigaction *old, int *handled)
{
	struct sigaction prev;

	*handled = ps_fault_owns(sig);
	if (!*handled)
		return 0;
	pthread_mutex_lock(&arm_mutex);
	prev = program_segv;
	if (act)
		program_segv = *act;
	pthread_mutex_unlock(&arm_mutex);
	if (old)
		*old = prev;
	return 0;
}

const sigset_t *ps_fault_unblockable(const sigset_t *set, sigset_t *copy)
{
	if (!set || !sigismember(set, SIGSEGV))
		return set;
	*copy = *set;
	sigdelset(copy, SIGSEGV);
	return copy;
}
