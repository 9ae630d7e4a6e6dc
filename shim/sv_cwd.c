/* sv_cwd.c - the working directory of a supervised program where the kernel cannot put it (sv.h).
 *
 * The kernel changes a program's working directory only to what the program's own string names in the kernel's
 * tree, and a user notification can neither change the string (the program reads it again: busybox sh sets PWD
 * from it after the chdir) nor make another process call fchdir. A directory made in the shadow is not in that
 * tree, and a relative name from a directory of the shadow's data tree would be resolved by the kernel there.
 * So the supervisor keeps such a working directory itself: a descriptor of it in the program, at a number of its
 * own from the threshold up (SV_CWD_NUMBER), not close-on-exec - forks and execs inherit it as they inherit the
 * working directory. While it is there, every call with a relative name is answered from it (sv_calls.c: every
 * call that names a path is sent), getcwd names it, and the kernel's own working directory is not used. A chdir
 * or fchdir the kernel can make itself goes on and puts a non-directory (/dev/null) at the number: the kernel's
 * working directory is the program's again.
 *
 * The program may close the number - a loop over /proc/self/fd closing all (glibc's closefrom, Python's
 * subprocess), close_range (sent always): the close goes on, and the directory is put back at the first call of
 * that file table that needs it (a relative name, getcwd, chdir, exec), not before - the loop would find the
 * number again, and again. An exec puts it back not close-on-exec (close_range(CLOSE_RANGE_CLOEXEC), F_SETFD).
 * A child forked between the close and that call starts from the kernel's directory.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CLOSED_MAX 64

static int used; /* a working directory was ever kept: before, no call pays for the look-up */

/* Kept directories whose number the program closed, until the first call of that file table that needs one. */
static struct closed {
	pid_t tid; /* the thread that closed it (its own file table after CLOSE_RANGE_UNSHARE) ... */
	pid_t tgid; /* ... and its process, whose table it is otherwise (the thread may be gone) */
	int pidfd; /* the process: a pid reused since is not it */
	int dir;   /* the supervisor's descriptor of the directory; -1: a free slot */
} closed[CLOSED_MAX] = { [0 ... CLOSED_MAX - 1] = { .dir = -1 } };
static int nclosed;
static pthread_mutex_t closed_mutex = PTHREAD_MUTEX_INITIALIZER;

static void closed_free(struct closed *k)
{
	REAL(close)(k->dir);
	if (k->pidfd >= 0)
		REAL(close)(k->pidfd);
	k->dir = -1;
	nclosed--;
}

static int closed_alive(const struct closed *k)
{
	struct pollfd p = { .fd = k->pidfd, .events = POLLIN };

	return k->pidfd >= 0 && poll(&p, 1, 0) == 0; /* (a pidfd polls readable once its process has exited) */
}

/* The directory c's file table closed the number of, taken; or -1. */
static int closed_take(const struct sv_call *c)
{
	int dir = -1;

	if (!__atomic_load_n(&nclosed, __ATOMIC_ACQUIRE))
		return -1;
	pthread_mutex_lock(&closed_mutex);
	for (int i = 0; i < CLOSED_MAX && dir < 0; i++) {
		struct closed *k = &closed[i];

		if (k->dir < 0)
			continue;
		if (!closed_alive(k)) {
			closed_free(k);
		} else if (syscall(SYS_kcmp, c->pid, k->tid, KCMP_FILES, 0, 0) == 0 ||
			   syscall(SYS_kcmp, c->pid, k->tgid, KCMP_FILES, 0, 0) == 0) {
			dir = k->dir;
			k->dir = -1;
			REAL(close)(k->pidfd);
			nclosed--;
		}
	}
	pthread_mutex_unlock(&closed_mutex);
	return dir;
}

static int place(const struct sv_call *c, int dir);

int sv_cwd_open(const struct sv_call *c)
{
	char link[64];
	int d, dir;

	if (!__atomic_load_n(&used, __ATOMIC_ACQUIRE))
		return -1;
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)c->pid, SV_CWD_NUMBER(c->threshold));
	d = (int)REAL(syscall)(SYS_openat, AT_FDCWD, link, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d < 0 && (dir = closed_take(c)) >= 0) { /* put back, now that it is needed */
		if (place(c, dir) == 0)
			d = (int)REAL(syscall)(SYS_fcntl, dir, F_DUPFD_CLOEXEC, 0);
		REAL(close)(dir);
	}
	if (d >= 0 && !sv_valid(c)) { /* the pid was reused */
		REAL(close)(d);
		return -1;
	}
	return d;
}

void sv_cwd_closing(const struct sv_call *c, unsigned first, unsigned last, unsigned flags)
{
	unsigned number = (unsigned)SV_CWD_NUMBER(c->threshold);
	pid_t tgid;
	int d, i;

	if ((flags & CLOSE_RANGE_CLOEXEC) || number < first || number > last || (d = sv_cwd_open(c)) < 0)
		return;
	tgid = sv_tgid_of(c->pid);
	pthread_mutex_lock(&closed_mutex);
	for (i = 0; i < CLOSED_MAX && closed[i].dir >= 0 && closed_alive(&closed[i]); i++)
		;
	if (i == CLOSED_MAX) {
		i = 0; /* (the first, which a process that never needed it again holds longest) */
		ps_debug("supervisor: more than %d closed working directories waiting: one is lost", CLOSED_MAX);
	}
	if (closed[i].dir >= 0)
		closed_free(&closed[i]);
	closed[i] = (struct closed){ .tid = c->pid, .tgid = tgid, .dir = d,
				     .pidfd = (int)syscall(SYS_pidfd_open, tgid, 0) };
	nclosed++;
	pthread_mutex_unlock(&closed_mutex);
}

void sv_cwd_process_exits(const struct sv_call *c)
{
	if (!__atomic_load_n(&nclosed, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&closed_mutex);
	for (int i = 0; i < CLOSED_MAX; i++) /* (exit_group: every thread of the process goes) */
		if (closed[i].dir >= 0 && syscall(SYS_kcmp, c->pid, closed[i].tgid, KCMP_FILES, 0, 0) == 0)
			closed_free(&closed[i]);
	pthread_mutex_unlock(&closed_mutex);
}

/* Put dir at the program's number: a readable descriptor (ADDFD installs no O_PATH one). 0 or -errno. */
static int place(const struct sv_call *c, int dir)
{
	char self[32];
	int r, rc;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", dir);
	r = (int)REAL(syscall)(SYS_openat, AT_FDCWD, self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r < 0) {
		rc = -errno;
		ps_refusal("supervisor: process %d cannot keep its working directory (it cannot be opened to be handed "
			   "over): %s", (int)c->pid, strerror(-rc));
		return rc;
	}
	rc = sv_fd_place(c, r, SV_CWD_NUMBER(c->threshold), 0);
	REAL(close)(r);
	return rc < 0 ? rc : 0;
}

int sv_cwd_set(const struct sv_call *c, int dir)
{
	__atomic_store_n(&used, 1, __ATOMIC_RELEASE);
	return place(c, dir);
}

void sv_cwd_clear(const struct sv_call *c)
{
	int d = sv_cwd_open(c), none;

	if (d < 0)
		return;
	REAL(close)(d);
	none = (int)REAL(syscall)(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	if (none < 0)
		return;
	sv_fd_place(c, none, SV_CWD_NUMBER(c->threshold), 0);
	REAL(close)(none);
}

void sv_cwd_keep(const struct sv_call *c)
{
	int d = sv_cwd_open(c);

	if (d < 0)
		return;
	place(c, d); /* again, not close-on-exec */
	REAL(close)(d);
}
