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
	return prctl(PS_FILTER_PROBE_OPTION, 0, 0, 0, 0) < 0 && errno == PS_FILTER_PROBE_ERRNO;
}

static int send_fd(int sock, int fd, unsigned thr)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &thr, sizeof(thr) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int receive_fd(int sock, unsigned *thr)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { thr, sizeof(*thr) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*thr) || !(cm = CMSG_FIRSTHDR(&msg)) ||
	    cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The supervisor's standard error: the program's when it is a terminal or a file, else nothing (a pipe's reader
 * would wait for the supervisor to end). */
static void quiet_stderr(void)
{
	struct stat st;
	int null;

	if (fstat(2, &st) == 0 && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return;
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
}

static void __attribute__((noreturn)) supervisor(int sock)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	unsigned thr = 0;
	sigset_t none;
	int listener;

	setsid(); /* the terminal's signals are for the program */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	quiet_stderr();
	/* every descriptor but the socket and stderr goes (the shim's own stay: it skips them) */
	if (sock > 3)
		close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	dup2(2, 1);
	close(0);
	listener = receive_fd(sock, &thr);
	if (listener < 0 || write(sock, "", 1) != 1)
		_exit(1);
	close(sock);
	ps_sv_serve(listener, thr);
}

/* Fork the supervisor (which is reparented at once); 0, or -errno. */
static int start_supervisor(int sock_program, int sock_supervisor)
{
	int status;
	pid_t mid = fork();

	if (mid < 0)
		return -errno;
	if (mid == 0) {
		close(sock_program);
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

/* WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has taken a call, a signal no longer interrupts the
 * program's wait for the answer. Without it a signal handler (Go preempts its threads with SIGURG all the time)
 * makes the kernel restart the call while the supervisor is still carrying it out: a read would be done twice
 * and the program would lose the bytes of the first. */
#define FILTER_FLAGS (SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)

static int install_filter(unsigned thr)
{
	struct sock_filter insns[PS_FILTER_MAX];
	struct sock_fprog prog;
	int n = ps_filter_build(thr, insns, PS_FILTER_MAX), fd;

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
	int sock[2], listener, rc;
	unsigned thr;

	if (ps_filter_probe(why, sizeof(why)) < 0) {
		ps_refusal("cannot run %s under a supervisor: the kernel lacks %s", path, why);
		return -EACCES;
	}
	if (!(thr = raise_fd_limit())) {
		ps_refusal("cannot run %s under a supervisor: the hard limit on open files leaves no room for its "
			   "descriptors (ulimit -Hn: at least %u)", path, 2 * PS_FILTER_ROOM);
		return -EACCES;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0)
		return -errno;
	if ((rc = start_supervisor(sock[0], sock[1])) < 0) {
		close(sock[0]);
		close(sock[1]);
		return rc;
	}
	close(sock[1]);
	if ((listener = install_filter(thr)) < 0) {
		close(sock[0]);
		ps_refusal("cannot run %s under a supervisor: seccomp: %s", path, strerror(-listener));
		return -EACCES;
	}
	/* From here on this thread's file calls go to the supervisor: the shim stands aside (an exec that fails
	 * returns to a supervised process). */
	ps_sv_became_supervised();
	rc = send_fd(sock[0], listener, thr);
	close(listener);
	if (rc == 0 && read(sock[0], &ack, 1) != 1)
		rc = -ECHILD;
	close(sock[0]);
	if (rc < 0)
		ps_error("the supervisor for %s did not start: %s", path, strerror(-rc));
	return rc;
}
