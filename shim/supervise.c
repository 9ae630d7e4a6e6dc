/* supervise.c - starting a program the shim cannot enter under a supervisor (sv.h).
 *
 * Entry points: ps_sv_prepare_exec (the exec wrapper, for a static or Go program), ps_sv_supervised (start-up).
 * Just before the exec, the process forks its supervisor (twice, so that the supervisor is nobody's child and the
 * program never sees it exit), puts itself under the filter with a new listener, hands the listener over a
 * socket and waits until the supervisor has it. The program keeps its pid, parent and descriptors; the filter
 * is inherited by everything it starts. The supervisor is a copy of this shimmed process: same configuration,
 * same guard. It keeps none of the program's descriptors - a pipe it held open would keep the program's reader
 * waiting for an end of file that comes only after the supervisor's own end.
 */
#include "sv.h"
#include "shim.h"
#include "filter.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int ps_sv_supervised(void)
{
	int saved = errno, supervised = prctl(PS_FILTER_PROBE_OPTION, 0, 0, 0, 0) < 0 && errno == PS_FILTER_PROBE_ERRNO;

	errno = saved; /* (asked at start-up: the program's errno is its own) */
	return supervised;
}

/* What the program hands its supervisor: the threshold, and the merged descriptors it will start with - at 0-2 (a
 * shell's `prog >/ro/f` or `prog </ro/f`) or above (`exec 3<>/ro/f; prog`) - whose copies follow the listener. */
struct handover {
	unsigned threshold;
	unsigned n;
	int numbers[PS_FILTER_LOW_MAX];
};

#define HANDOVER_FDS (1 + PS_FILTER_LOW_MAX)

static int send_handover(int sock, const struct handover *h, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * HANDOVER_FDS)] = { 0 };
	struct iovec iov = { (void *)h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The listener, or -1; the copies of the merged descriptors into fds[0..h->n). */
static int receive_handover(int sock, struct handover *h, int fds[PS_FILTER_LOW_MAX])
{
	char control[CMSG_SPACE(sizeof(int) * HANDOVER_FDS)];
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *cm;
	int got[HANDOVER_FDS], n;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*h) || !(cm = CMSG_FIRSTHDR(&msg)) ||
	    cm->cmsg_type != SCM_RIGHTS)
		return -1;
	n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	if (n < 1 || n > (int)HANDOVER_FDS || h->n != (unsigned)n - 1)
		return -1;
	memcpy(got, CMSG_DATA(cm), sizeof(int) * (size_t)n);
	memcpy(fds, got + 1, sizeof(int) * h->n);
	return got[0];
}

/* The merged descriptors found so far (merged_inherited). */
struct inherited {
	struct handover *h;
	int *fds;
	unsigned above;
	int rc;
};

static void keep_if_merged(int fd, void *arg)
{
	struct inherited *in = arg;
	int flags = (int)REAL(fcntl)(fd, F_GETFD);

	if (in->rc < 0 || flags < 0 || (fd >= (int)PS_FILTER_STDIO && (flags & FD_CLOEXEC)))
		return;
	if (fd >= (int)in->h->threshold)
		return; /* (the filter sends it; the supervisor fetches it) */
	if (ps_fd_table_is_ours() ? ps_fd_kernel_serves(fd) : !ps_fd_inherited_needs_merge(fd))
		return;
	if (fd >= (int)PS_FILTER_STDIO && ++in->above > PS_FILTER_LOW_MAX - PS_FILTER_STDIO) {
		in->rc = -E2BIG;
		return;
	}
	in->h->numbers[in->h->n] = fd;
	in->fds[in->h->n++] = fd;
}

/* The merged descriptors this process keeps across the exec, into h->numbers (and fds, the same numbers: the
 * kernel copies them into the message). 0, or -E2BIG when those above 2 are more than the filter can send. A
 * vfork child's table is its parent's (Python's subprocess moved a merged file onto 0 after the vfork): there the
 * child's own descriptors are read, as a new shim reads them at start-up. */
static int merged_inherited(struct handover *h, int *fds)
{
	struct inherited in = { .h = h, .fds = fds };

	h->n = 0;
	if (!ps_enter())
		return 0;
	if (ps_fd_table_is_ours())
		for (int fd = ps_fd_next(-1); fd >= 0; fd = ps_fd_next(fd))
			keep_if_merged(fd, &in);
	else
		ps_fd_each_open(keep_if_merged, &in);
	ps_leave();
	return in.rc;
}

/* The numbers above 2 among the merged descriptors, for the filter. */
static size_t low_numbers(const struct handover *h, int *low)
{
	size_t n = 0;

	for (unsigned i = 0; i < h->n; i++)
		if (h->numbers[i] >= (int)PS_FILTER_STDIO)
			low[n++] = h->numbers[i];
	return n;
}

/* The supervisor's standard descriptors: nothing to read, nothing to say on stdout, and the program's stderr only
 * when it is a terminal or a file (a pipe's reader would wait for the supervisor to end). */
static void standard_descriptors(void)
{
	struct stat st;
	int keep_stderr = fstat(2, &st) == 0 && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		_exit(1);
	dup2(null, 0);
	dup2(null, 1);
	if (!keep_stderr)
		dup2(null, 2);
	if (null > 2)
		close(null);
}

static void __attribute__((noreturn)) supervisor(int sock)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct handover h = { 0 };
	int listener, merged[PS_FILTER_LOW_MAX];
	sigset_t none;

	int moved = fcntl(sock, F_DUPFD_CLOEXEC, 3); /* off 0-2, which are about to be replaced */

	if (moved < 0)
		_exit(1);
	close(sock);
	sock = moved;
	setsid(); /* the terminal's signals are for the program */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	standard_descriptors();
	/* every other descriptor but the socket goes (the shim's own stay: it skips them) */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	listener = receive_handover(sock, &h, merged);
	if (listener < 0 || write(sock, "", 1) != 1)
		_exit(1);
	close(sock);
	for (unsigned i = 0; i < h.n; i++)
		sv_fd_inherited(h.numbers[i], merged[i]);
	ps_sv_serve(listener, h.threshold);
}

/* Fork the supervisor (which is reparented at once); 0, or -errno. */
static int start_supervisor(int sock_program, int sock_supervisor)
{
	int status;
	pid_t mid = fork();

	if (mid < 0)
		return -errno;
	if (mid == 0) {
		REAL(close)(sock_program);
		if (fork() == 0)
			supervisor(sock_supervisor);
		_exit(0);
	}
	while (waitpid(mid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* The soft limit on open files up to the supervisor's numbers (the program inherits it). The threshold, or 0. */
static unsigned raise_fd_limit(void)
{
	struct rlimit rl;
	unsigned thr;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || !(thr = ps_filter_threshold(rl.rlim_max)))
		return 0;
	if (rl.rlim_cur < thr + PS_FILTER_ROOM) {
		rl.rlim_cur = thr + PS_FILTER_ROOM;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 0;
	}
	return thr;
}

/* /dev/null on every closed standard descriptor: which ones. */
static unsigned fill_standard_holes(void)
{
	unsigned holes = 0;

	for (int fd = 0; fd < (int)PS_FILTER_STDIO; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) == fd)
			holes |= 1U << fd;
	}
	return holes;
}

/* WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has taken a call, a signal no longer interrupts the
 * program's wait for the answer. Without it a signal handler (Go preempts its threads with SIGURG all the time)
 * makes the kernel restart the call while the supervisor is still carrying it out: a read would be done twice
 * and the program would lose the bytes of the first. */
#define FILTER_FLAGS (SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)

static int install_filter(const struct handover *h)
{
	struct sock_filter insns[PS_FILTER_MAX];
	struct sock_fprog prog;
	int low[PS_FILTER_LOW_MAX];
	int n = ps_filter_build(h->threshold, low, low_numbers(h, low), insns, PS_FILTER_MAX), fd;

	if (n < 0)
		return n;
	prog.len = (unsigned short)n;
	prog.filter = insns;
	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, FILTER_FLAGS, &prog);
	if (fd < 0 && errno == EACCES) { /* without CAP_SYS_ADMIN a filter needs no_new_privs */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return -errno;
		fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, FILTER_FLAGS, &prog);
	}
	return fd < 0 ? -errno : fd;
}

int ps_sv_prepare_exec(const char *path)
{
	char why[256], ack;
	int sock[2], listener, rc, fds[HANDOVER_FDS];
	struct handover h;
	unsigned holes;

	if (ps_filter_probe(why, sizeof(why)) < 0) {
		ps_refusal("cannot run %s under a supervisor: the kernel lacks %s", path, why);
		return -EACCES;
	}
	if (!(h.threshold = raise_fd_limit())) {
		ps_refusal("cannot run %s under a supervisor: the hard limit on open files leaves no room for its "
			   "descriptors (ulimit -Hn: at least %u)", path, 2 * PS_FILTER_ROOM);
		return -EACCES;
	}
	/* before the filter: looking at them makes calls on them, which the filter would send to a supervisor
	 * still waiting for the listener */
	if (merged_inherited(&h, fds + 1) < 0) {
		ps_refusal("cannot run %s under a supervisor: it would inherit more than %u descriptors of partly "
			   "shadowed files above 2 (close some, or mark them close-on-exec)", path,
			   PS_FILTER_LOW_MAX - PS_FILTER_STDIO);
		return -EMFILE;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0)
		return -errno;
	/* The socket's numbers are the shim's own to the end: REAL calls, as a vfork child's table is its parent's,
	 * where a number the child reused may stand for a merged file (Python's subprocess after an mmap). */
	if ((rc = start_supervisor(sock[0], sock[1])) < 0) {
		REAL(close)(sock[0]);
		REAL(close)(sock[1]);
		return rc;
	}
	REAL(close)(sock[1]);
	/* a closed standard descriptor would receive the listener, and closing it then would wait for a supervisor
	 * that waits for the listener: /dev/null holds the place until the supervisor serves */
	holes = fill_standard_holes();
	if ((listener = install_filter(&h)) < 0) {
		for (int fd = 0; fd < (int)PS_FILTER_STDIO; fd++)
			if (holes & (1U << fd))
				close(fd);
		REAL(close)(sock[0]);
		ps_refusal("cannot run %s under a supervisor: seccomp: %s", path, strerror(-listener));
		return -EACCES;
	}
	/* From here on this thread's file calls go to the supervisor: the shim stands aside (an exec that fails
	 * returns to a supervised process). */
	fds[0] = listener;
	ps_sv_became_supervised();
	rc = send_handover(sock[0], &h, fds, 1 + (int)h.n);
	REAL(close)(listener);
	if (rc == 0 && REAL(read)(sock[0], &ack, 1) != 1)
		rc = -ECHILD;
	REAL(close)(sock[0]);
	for (int fd = 0; fd < (int)PS_FILTER_STDIO; fd++)
		if (holes & (1U << fd))
			close(fd); /* (a call the supervisor answers now) */
	if (rc < 0)
		ps_error("the supervisor for %s did not start: %s", path, strerror(-rc));
	return rc;
}
