/* sv_fd.c - the supervised program's merged descriptors and the supervisor's own for them (sv.h).
 *
 * A file that needs the merge is installed in the program at a number from the threshold up (ADDFD with SETFD),
 * as a second descriptor of the supervisor's own open file description: offsets, O_APPEND and sharing with the
 * program's forks and dups are the kernel's. The supervisor keeps its descriptor in a slot per number. Numbers
 * are not the program's to choose and a forked child keeps them, so a slot is looked up by number and proved by
 * kcmp(KCMP_FILE) to be the same description in the calling process; a number the supervisor has no slot for
 * (another process's, a slot reused, a descriptor inherited across exec) is fetched with pidfd_getfd and adopted
 * as the shim adopts an inherited one. A slot is only a cache: dropping one costs a fetch later, never a wrong
 * answer.
 */
#include "sv.h"
#include "shim.h"
#include "filter.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif

struct slot {
	int s;        /* the supervisor's descriptor, -1 for none */
	int refs;     /* handlers using s now */
	int dropped;  /* close s when the last handler is done */
};

#define RESERVED (-2) /* a number being installed */

static struct slot slots[PS_FILTER_ROOM];
/* The standard descriptors, when the program moved a merged file onto one (or inherited one): never fetched -
 * an empty slot means the kernel serves the descriptor, as it does for every program that writes a pipe. */
static struct slot std_slots[PS_FILTER_STDIO] = { { -1, 0, 0 }, { -1, 0, 0 }, { -1, 0, 0 } };
static pthread_mutex_t slots_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;
static unsigned next_number;

static void slots_init(void)
{
	for (size_t i = 0; i < PS_FILTER_ROOM; i++)
		slots[i].s = -1;
}

static pid_t self; /* the supervisor's pid (it never forks once serving) */

static int same_file(pid_t pid, int fd, int s)
{
	if (!self)
		self = getpid();
	return syscall(SYS_kcmp, pid, self, KCMP_FILE, fd, s) == 0;
}

static int is_open_in(pid_t pid, int fd)
{
	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, fd) == 0;
}

static struct slot *slot_of(const struct sv_call *c, int fd)
{
	if (fd >= 0 && fd < (int)PS_FILTER_STDIO)
		return &std_slots[fd];
	if (fd < (int)c->threshold || fd >= (int)(c->threshold + PS_FILTER_ROOM))
		return NULL;
	pthread_once(&slots_once, slots_init);
	return &slots[fd - (int)c->threshold];
}

/* Close the supervisor's descriptor through the shim (which forgets it); with slots_mutex held or not. */
static void close_own(int s)
{
	int saved = errno;

	close(s);
	errno = saved;
}

/* The program's fd, fetched and adopted: -1 when it does not need the merge. */
static int fetch(const struct sv_call *c, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0), g;

	if (pidfd < 0)
		return -1;
	g = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (g < 0)
		return -1;
	if (ps_enter()) {
		int kind = ps_fd_adopt(g);

		ps_leave();
		if (kind >= 0 && !sv_fd_kernel_serves(g))
			return g;
	}
	close_own(g);
	return -1;
}

int sv_fd_get(const struct sv_call *c, int fd)
{
	struct slot *sl = slot_of(c, fd);
	int s = -1, old = -1;

	if (!sl)
		return -1;
	pthread_mutex_lock(&slots_mutex);
	if (sl->s >= 0 && !sl->dropped && same_file(c->pid, fd, sl->s)) {
		sl->refs++;
		s = sl->s;
	}
	pthread_mutex_unlock(&slots_mutex);
	if (s >= 0 || fd < (int)PS_FILTER_STDIO || (s = fetch(c, fd)) < 0)
		return s;
	pthread_mutex_lock(&slots_mutex);
	if (sl->refs == 0 && sl->s != RESERVED) { /* take the slot over: its descriptor, if any, is another process's or stale */
		old = sl->s;
		sl->s = s;
		sl->refs = 1;
		sl->dropped = 0;
		s = -1;
	}
	pthread_mutex_unlock(&slots_mutex);
	if (old >= 0)
		close_own(old);
	if (s >= 0) { /* the slot is busy with another description: use this one once */
		ps_debug("supervisor: fd %d of %d served without a slot", fd, (int)c->pid);
		return s | SV_FD_TRANSIENT;
	}
	return sl->s;
}

void sv_fd_put(const struct sv_call *c, int fd, int s)
{
	struct slot *sl = slot_of(c, fd);

	if ((s & SV_FD_TRANSIENT) || !sl) {
		close_own(s & ~SV_FD_TRANSIENT);
		return;
	}
	pthread_mutex_lock(&slots_mutex);
	if (sl->s == s && --sl->refs == 0 && sl->dropped) {
		sl->s = -1;
		sl->dropped = 0;
	} else {
		s = -1;
	}
	pthread_mutex_unlock(&slots_mutex);
	if (s >= 0)
		close_own(s);
}

void sv_fd_closed(const struct sv_call *c, int fd)
{
	struct slot *sl = slot_of(c, fd);
	int s = -1;

	if (!sl)
		return;
	pthread_mutex_lock(&slots_mutex);
	if (sl->s >= 0 && !sl->dropped && same_file(c->pid, fd, sl->s)) {
		if (sl->refs == 0) {
			s = sl->s;
			sl->s = -1;
		} else {
			sl->dropped = 1;
		}
	}
	pthread_mutex_unlock(&slots_mutex);
	if (s >= 0)
		close_own(s);
}

int sv_fd_kernel_serves(int s)
{
	int serves = 1;

	if (ps_enter()) {
		serves = ps_fd_kernel_serves(s);
		ps_leave();
	}
	return serves;
}

static long add_fd(const struct sv_call *c, int s, int number, int cloexec)
{
	struct seccomp_notif_addfd add = {
		.id = c->n->id,
		.flags = SECCOMP_ADDFD_FLAG_SEND | (number >= 0 ? SECCOMP_ADDFD_FLAG_SETFD : 0),
		.srcfd = (unsigned)s,
		.newfd = number >= 0 ? (unsigned)number : 0,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};

	if (ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0)
		return errno == ENOENT ? SV_ANSWERED : -errno; /* ENOENT: the caller is gone */
	return SV_ANSWERED;
}

/* A number from the threshold up that is free in the program and in the slots. */
static int free_number(const struct sv_call *c, int *old)
{
	pthread_once(&slots_once, slots_init);
	for (unsigned tries = 0; tries < PS_FILTER_ROOM; tries++) {
		unsigned i = __atomic_fetch_add(&next_number, 1, __ATOMIC_RELAXED) % PS_FILTER_ROOM;
		int fd = (int)(c->threshold + i);

		pthread_mutex_lock(&slots_mutex);
		if (slots[i].refs == 0 && slots[i].s != RESERVED && !is_open_in(c->pid, fd)) {
			*old = slots[i].s; /* stale: another process's, or closed by an exec */
			slots[i].s = RESERVED;
			slots[i].dropped = 0;
			pthread_mutex_unlock(&slots_mutex);
			return fd;
		}
		pthread_mutex_unlock(&slots_mutex);
	}
	return -1;
}

long sv_fd_install_at(const struct sv_call *c, int s, int number, int cloexec)
{
	struct slot *sl = slot_of(c, number);
	long rc;
	int old;

	if (!sl) {
		close_own(s);
		return -EBADF;
	}
	pthread_mutex_lock(&slots_mutex);
	if (sl->refs > 0) { /* another handler works on the descriptor the program replaces: let it finish */
		sl->dropped = 1;
		pthread_mutex_unlock(&slots_mutex);
		rc = add_fd(c, s, number, cloexec);
		close_own(s);
		return rc;
	}
	old = sl->s;
	sl->s = s;
	sl->dropped = 0;
	pthread_mutex_unlock(&slots_mutex);
	if (old >= 0)
		close_own(old);
	return add_fd(c, s, number, cloexec);
}

long sv_fd_install(const struct sv_call *c, int s, int cloexec)
{
	int number, old = -1;
	long rc;

	if (sv_fd_kernel_serves(s)) {
		rc = add_fd(c, s, -1, cloexec);
		ps_debug("supervisor: process %d: %s installed as it is: %ld", (int)c->pid, "descriptor", rc);
		close_own(s);
		return rc;
	}
	number = free_number(c, &old);
	if (old >= 0)
		close_own(old);
	if (number < 0) {
		close_own(s);
		ps_error("supervisor: no free descriptor number from %u up in process %d", c->threshold, (int)c->pid);
		return -EMFILE;
	}
	/* in the slot before the answer: the program's next call on the number may reach another worker first */
	pthread_mutex_lock(&slots_mutex);
	slots[number - (int)c->threshold].s = s;
	pthread_mutex_unlock(&slots_mutex);
	rc = add_fd(c, s, number, cloexec);
	ps_debug("supervisor: process %d: merged descriptor %d: %ld", (int)c->pid, number, rc);
	if (rc != SV_ANSWERED) {
		pthread_mutex_lock(&slots_mutex);
		if (slots[number - (int)c->threshold].refs == 0) {
			slots[number - (int)c->threshold].s = -1;
			close_own(s);
		} else {
			slots[number - (int)c->threshold].dropped = 1;
		}
		pthread_mutex_unlock(&slots_mutex);
	}
	return rc;
}

void sv_fd_inherited(int fd, int s)
{
	if (fd >= 0 && fd < (int)PS_FILTER_STDIO && ps_enter()) {
		ps_fd_adopt(s);
		ps_leave();
		std_slots[fd].s = s;
		return;
	}
	close_own(s);
}
