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
 * The program may close the number: close is sent for it and answered without closing; close_range (sent always)
 * goes on, and the descriptor is given back at the thread's next call - its first relative name at the latest; an
 * exec that follows a close_range(CLOSE_RANGE_CLOEXEC) gets it back before it goes on.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int used; /* a working directory was ever kept: before, no call pays for the look-up */

int sv_cwd_open(const struct sv_call *c)
{
	char link[64];
	int d;

	if (!__atomic_load_n(&used, __ATOMIC_ACQUIRE))
		return -1;
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)c->pid, SV_CWD_NUMBER(c->threshold));
	d = (int)REAL(syscall)(SYS_openat, AT_FDCWD, link, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d >= 0 && !sv_valid(c)) { /* the pid was reused */
		REAL(close)(d);
		return -1;
	}
	return d;
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

/* ---- a close_range that takes the number ---- */

#define TAKEN_MAX 16

static struct taken {
	pid_t tid;
	int dir; /* the supervisor's descriptor of the directory; -1: a free slot */
} taken[TAKEN_MAX] = { [0 ... TAKEN_MAX - 1] = { 0, -1 } };
static int ntaken;
static pthread_mutex_t taken_mutex = PTHREAD_MUTEX_INITIALIZER;

void sv_cwd_range_closing(const struct sv_call *c, unsigned first, unsigned last, unsigned flags)
{
	unsigned number = (unsigned)SV_CWD_NUMBER(c->threshold);
	int d, old = -1, i;

	if ((flags & CLOSE_RANGE_CLOEXEC) || number < first || number > last || (d = sv_cwd_open(c)) < 0)
		return; /* (close-on-exec: sv_cwd_keep before the exec) */
	pthread_mutex_lock(&taken_mutex);
	for (i = 0; i < TAKEN_MAX - 1 && taken[i].dir >= 0 && taken[i].tid != c->pid; i++)
		;
	old = taken[i].dir; /* the thread's own earlier one, or the last slot's (a thread that never called again) */
	taken[i].tid = c->pid;
	taken[i].dir = d;
	if (old < 0)
		ntaken++;
	pthread_mutex_unlock(&taken_mutex);
	if (old >= 0)
		REAL(close)(old);
}

void sv_cwd_before(const struct sv_call *c)
{
	int d = -1;

	if (!__atomic_load_n(&ntaken, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&taken_mutex);
	for (int i = 0; i < TAKEN_MAX; i++) {
		if (taken[i].dir < 0 || taken[i].tid != c->pid)
			continue;
		d = taken[i].dir;
		taken[i].dir = -1;
		ntaken--;
		break;
	}
	pthread_mutex_unlock(&taken_mutex);
	if (d < 0)
		return;
	place(c, d);
	REAL(close)(d);
}
