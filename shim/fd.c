/* fd.c - descriptor bookkeeping (close, close_range, closefrom, dup, fcntl) and locks.
 *
 * Entry points: the wrappers (symbols.def), ps_lock_fcntl, ps_lock_release_posix.
 * Locks: a write lock cannot be taken on the read-only lower file, and a lock on a data file would not conflict
 * with one on the lower file, so every lock on a file under a prefix is routed to one shadow-side inode, the
 * file's record: POSIX (process) locks through the process's record fd, OFD locks and flock through a record fd
 * of the open file description's own. Offsets are made absolute first (SEEK_CUR and SEEK_END mean the program's
 * position and the merged size, not the record's).
 */
#include "shim.h"

#include <sys/syscall.h>
#include "log.h"
#include "merge.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <unistd.h>

/* The shim's own descriptors are not the program's: as if they were not open (close, dup and fcntl say EBADF). */
static int is_shims(int fd)
{
	if (!ps_fd_is_shims(fd))
		return 0;
	errno = EBADF;
	return 1;
}

void ps_lock_release_posix(struct ps_open *o)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

	if (o->file)
		REAL(fcntl)(o->file->rec.fd, F_SETLK, &fl);
}

/* A new read-write description of o's record (it has one). */
static int record_open(const struct ps_open *o)
{
	return ps_sys->openat(o->file->sh->dirfd, o->file->meta_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
}

/* The record fd of o's own open file description (OFD locks, flock). */
static int description_lock_fd(struct ps_open *o)
{
	int rc = 0;

	pthread_mutex_lock(&o->mutex);
	if (o->lock_fd < 0) {
		o->lock_fd = record_open(o);
		if (o->lock_fd < 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&o->mutex);
	return rc < 0 ? rc : o->lock_fd;
}

static int lock_access_ok(const struct ps_open *o, short type)
{
	int acc = o->flags & O_ACCMODE;

	if (type == F_WRLCK && acc == O_RDONLY)
		return 0;
	if (type == F_RDLCK && acc == O_WRONLY)
		return 0;
	return 1;
}

static int is_ofd(int cmd)
{
	return cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK;
}

/* Locks live on the record (DESIGN.md); a file without one gets one first - but not under --deny, which leaves
 * the shadow alone: there no process can write, so a lower file that has no record keeps none, and every process
 * of the run locks the lower file itself. */
static int locks_on_lower(const struct ps_open *o)
{
	return !o->file && ps_change_denied();
}

int ps_lock_record_open(struct ps_open *o)
{
	int rc = ps_open_attach_record(o), fd;

	if (rc < 0)
		return rc;
	fd = record_open(o);
	return fd < 0 ? -errno : fd;
}

/* A POSIX lock command as the OFD one (on a description that stands for a process). */
static int as_ofd(int cmd)
{
	return cmd == F_SETLK ? F_OFD_SETLK : cmd == F_SETLKW ? F_OFD_SETLKW : cmd == F_GETLK ? F_OFD_GETLK : cmd;
}

int ps_lock_fcntl(struct ps_open *o, int fd, int cmd, struct flock *fl)
{
	return ps_lock_fcntl_as(o, fd, cmd, fl, -1);
}

int ps_lock_fcntl_as(struct ps_open *o, int fd, int cmd, struct flock *fl, int owner)
{
	struct flock abs = *fl;
	off_t base = 0;
	int lfd, rc;

	if (locks_on_lower(o))
		return REAL(fcntl)(fd, cmd, fl) < 0 ? -errno : 0;
	if (!o->file && (rc = ps_open_attach_record(o)) < 0)
		return rc;
	if (cmd != F_GETLK && cmd != F_OFD_GETLK && !lock_access_ok(o, fl->l_type))
		return -EBADF;
	if (fl->l_whence == SEEK_CUR)
		base = REAL(lseek)(fd, 0, SEEK_CUR);
	else if (fl->l_whence == SEEK_END)
		base = ps_merge_size(o->file);
	else if (fl->l_whence != SEEK_SET)
		return -EINVAL;
	if (base < 0)
		return (int)base;
	abs.l_whence = SEEK_SET;
	abs.l_start = fl->l_start + base;
	if (is_ofd(cmd))
		lfd = description_lock_fd(o);
	else if ((lfd = owner) >= 0)
		cmd = as_ofd(cmd), abs.l_pid = 0; /* (an OFD lock's l_pid must be 0) */
	else
		lfd = o->file->rec.fd;
	if (lfd < 0)
		return lfd;
	if (REAL(fcntl)(lfd, cmd, &abs) < 0)
		return -errno;
	if ((cmd == F_GETLK || cmd == F_OFD_GETLK) && abs.l_type == F_UNLCK)
		fl->l_type = F_UNLCK; /* (nothing in the way: the kernel leaves the rest as the caller gave it) */
	else if (cmd == F_GETLK || cmd == F_OFD_GETLK)
		*fl = abs;
	return 0;
}

int close(int fd)
{
	struct ps_open *o;

	if (is_shims(fd))
		return -1;
	if (!ps_enter())
		return REAL(close)(fd);
	o = ps_fd_forget(fd);
	if (o) {
		ps_lock_release_posix(o);
		ps_open_put(o);
	}
	ps_leave();
	return REAL(close)(fd);
}

int __close(int fd)
{
	return close(fd);
}

/* glibc's own closes (closedir, and files it opened for itself): the descriptor may be one the shim tracks (a
 * directory glibc's opendir opened through ps_open_nocancel); no cancellation point, as the original. */
int ps_close_nocancel(int fd)
{
	struct ps_open *o;

	if (ps_enter()) {
		o = ps_fd_forget(fd);
		if (o) {
			ps_lock_release_posix(o);
			ps_open_put(o);
		}
		ps_leave();
	}
	return (int)REAL(syscall)(SYS_close, fd);
}

/* close_range around the shim's own descriptors: the gaps between them, in order. Marking close-on-exec needs no
 * gaps (the shim's are close-on-exec already). */
static int close_range_around_shims(unsigned int first, unsigned int last, int flags)
{
	int to = last > (unsigned)INT_MAX ? INT_MAX : (int)last;
	int own;

	if ((flags & CLOSE_RANGE_CLOEXEC) || first > (unsigned)INT_MAX)
		return REAL(close_range)(first, last, flags);
	while ((own = ps_fd_next_shims((int)first, to)) >= 0) {
		if ((unsigned)own > first && REAL(close_range)(first, (unsigned)own - 1, flags) < 0)
			return -1;
		first = (unsigned)own + 1;
	}
	return first <= last ? REAL(close_range)(first, last, flags) : 0;
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	if (ps_enter()) {
		if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last)
			ps_fd_forget_range(first, last);
		ps_leave();
	}
	return close_range_around_shims(first, last, flags);
}

void closefrom(int lowfd)
{
	if (ps_enter()) {
		if (lowfd >= 0)
			ps_fd_forget_range((unsigned)lowfd, ~0u);
		ps_leave();
	}
	if (lowfd < 0 || close_range_around_shims((unsigned)lowfd, ~0u, 0) < 0)
		REAL(closefrom)(lowfd); /* no close_range: glibc's loop (which closes the shim's too) */
}

/* After a successful dup onto newfd: newfd's old description is gone, and newfd shares fd's. */
static int after_dup(int fd, int newfd)
{
	int saved = errno;
	struct ps_open *old, *o;

	if (newfd < 0 || fd == newfd || !ps_enter())
		return newfd;
	old = ps_fd_forget(newfd);
	if (old) {
		ps_lock_release_posix(old);
		ps_open_put(old);
	}
	o = ps_fd_get(fd);
	if (o) {
		ps_fd_share(newfd, o);
		if (newfd <= 2 && ps_merge_shows_lower(o->file))
			ps_stdio_replace_std(newfd);
		ps_open_put(o);
	}
	ps_leave();
	errno = saved;
	return newfd;
}

int dup(int fd)
{
	return is_shims(fd) ? -1 : after_dup(fd, REAL(dup)(fd));
}

/* dup2/dup3 onto a number the shim holds: the shim's moves out of the way first. Should the dup then fail, the
 * number is closed again, as the program believed it was. */
static int dup_onto(int (*real_dup)(int, int, int), int fd, int newfd, int flags)
{
	int moved, r, saved;

	if (is_shims(fd))
		return -1;
	moved = ps_fd_is_shims(newfd);
	if (moved && ps_fd_make_room(newfd) < 0)
		return -1;
	r = real_dup(fd, newfd, flags);
	if (r < 0 && moved) {
		saved = errno;
		REAL(close)(newfd);
		errno = saved;
	}
	return after_dup(fd, r);
}

static int real_dup2(int fd, int newfd, int flags)
{
	(void)flags;
	return REAL(dup2)(fd, newfd);
}

static int real___dup2(int fd, int newfd, int flags)
{
	(void)flags;
	return REAL(__dup2)(fd, newfd);
}

static int real_dup3(int fd, int newfd, int flags)
{
	return REAL(dup3)(fd, newfd, flags);
}

int dup2(int fd, int newfd)
{
	return dup_onto(real_dup2, fd, newfd, 0);
}

int __dup2(int fd, int newfd)
{
	return dup_onto(real___dup2, fd, newfd, 0);
}

int dup3(int fd, int newfd, int flags)
{
	return dup_onto(real_dup3, fd, newfd, flags);
}

int ps_lock_cmd(int cmd)
{
	return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK || is_ofd(cmd);
}

#define SETFL_FLAGS (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK)

static int fcntl_impl(int (*passthrough)(int, int, ...), int fd, int cmd, void *arg)
{
	int saved = errno;
	struct ps_open *o;
	int r;

	if (is_shims(fd))
		return -1;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return after_dup(fd, passthrough(fd, cmd, arg));
	if (!ps_lock_cmd(cmd) && cmd != F_SETFL)
		return passthrough(fd, cmd, arg);
	if (!ps_enter())
		return passthrough(fd, cmd, arg);
	o = ps_fd_get(fd);
	if (!o) {
		ps_leave();
		return passthrough(fd, cmd, arg);
	}
	if (cmd == F_SETFL) {
		r = passthrough(fd, cmd, arg);
		if (r == 0)
			o->flags = (o->flags & ~SETFL_FLAGS) | ((int)(intptr_t)arg & SETFL_FLAGS);
		saved = errno;
		ps_open_put(o);
		ps_leave();
		errno = saved;
		return r;
	}
	return (int)ps_fd_done(o, ps_lock_fcntl(o, fd, cmd, arg), saved);
}

#define FCNTL_WRAPPER(passthrough)                                                                                 \
	do {                                                                                                       \
		va_list ap;                                                                                        \
		void *arg;                                                                                         \
		va_start(ap, cmd);                                                                                 \
		arg = va_arg(ap, void *);                                                                          \
		va_end(ap);                                                                                        \
		return fcntl_impl(passthrough, fd, cmd, arg);                                                      \
	} while (0)

int fcntl(int fd, int cmd, ...)
{
	FCNTL_WRAPPER(REAL(fcntl));
}

int fcntl64(int fd, int cmd, ...)
{
	FCNTL_WRAPPER(REAL(fcntl64));
}

int __fcntl(int fd, int cmd, ...)
{
	FCNTL_WRAPPER(REAL(__fcntl));
}

/* lockf is fcntl on [position, position+len) (glibc's calls its fcntl internally, out of our sight). */
static int lockf_impl(int fd, int cmd, off_t len, int *handled)
{
	struct flock fl = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
	struct ps_open *o;
	int rc;

	*handled = 0;
	if (!ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (!o) {
		ps_leave();
		return 0;
	}
	*handled = 1;
	switch (cmd) {
	case F_ULOCK:
		fl.l_type = F_UNLCK;
		rc = ps_lock_fcntl(o, fd, F_SETLK, &fl);
		break;
	case F_LOCK:
	case F_TLOCK:
		fl.l_type = F_WRLCK;
		rc = ps_lock_fcntl(o, fd, cmd == F_LOCK ? F_SETLKW : F_SETLK, &fl);
		break;
	case F_TEST:
		fl.l_type = F_WRLCK;
		rc = ps_lock_fcntl(o, fd, F_GETLK, &fl);
		if (rc == 0 && fl.l_type != F_UNLCK && fl.l_pid != getpid())
			rc = -EACCES;
		break;
	default:
		rc = -EINVAL;
	}
	ps_open_put(o);
	ps_leave();
	return rc;
}

int lockf(int fd, int cmd, off_t len)
{
	int saved = errno, handled;
	int rc = lockf_impl(fd, cmd, len, &handled);

	if (!handled)
		return REAL(lockf)(fd, cmd, len);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int lockf64(int fd, int cmd, off64_t len)
{
	int saved = errno, handled;
	int rc = lockf_impl(fd, cmd, len, &handled);

	if (!handled)
		return REAL(lockf64)(fd, cmd, len);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int ps_lock_flock(struct ps_open *o, int op)
{
	int rc = ps_open_attach_record(o), lfd;

	if (rc < 0)
		return rc;
	lfd = description_lock_fd(o);
	return lfd < 0 ? lfd : REAL(flock)(lfd, op) < 0 ? -errno : 0;
}

int flock(int fd, int op)
{
	int saved = errno;
	struct ps_open *o;

	if (!ps_enter())
		return REAL(flock)(fd, op);
	o = ps_fd_get(fd);
	if (!o) {
		ps_leave();
		return REAL(flock)(fd, op);
	}
	if (locks_on_lower(o)) {
		ps_open_put(o);
		ps_leave();
		return REAL(flock)(fd, op);
	}
	return (int)ps_fd_done(o, ps_lock_flock(o, op), saved);
}
