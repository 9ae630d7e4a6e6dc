/* size.c - truncate, ftruncate, fallocate, posix_fallocate, fsync, fdatasync, syncfs, ioctl.
 *
 * Entry points: the wrappers (symbols.def).
 * Size changes go through the engine so that lower_len follows a shrink (merge.h); fsync orders data before the
 * record; the clone and extent-map ioctls fail with EOPNOTSUPP on a shadowed fd so that cp falls back to copying
 * bytes instead of cloning or mapping the raw data file.
 */
#include "shim.h"
#include "log.h"
#include "merge.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* truncate(path) of a regular file under a prefix is a write: the file gets a record if it has none. */
static int truncate_target(const struct ps_target *t, off_t len)
{
	struct ps_open *o;
	int rc, fd;

	if ((rc = ps_change_permit(PS_CHANGE_TRUNCATE, t->path, NULL)) < 0)
		return rc;
	if ((fd = ps_open_target(t, O_WRONLY | O_CLOEXEC, 0)) < 0)
		return fd;
	o = ps_fd_forget(fd);
	rc = o && o->file ? ps_merge_truncate(o->file, len) : -EIO;
	if (o)
		ps_open_put(o);
	REAL(close)(fd);
	return ps_change_done(rc, PS_CHANGE_TRUNCATE, t->path, NULL);
}

/* 1: handled (*rc), 0: pass through. */
static int truncate_shadowed(const char *path, off_t len, int *rc)
{
	struct ps_target t;
	struct stat st;
	int r;

	r = ps_enter_resolved(AT_FDCWD, path, 1, &t);
	if (r == 0)
		return 0;
	if (r > 0) /* the kernel's answers in its order - EINVAL, ENOENT, EISDIR, EINVAL, then EROFS - and no FIFO opened */
		r = len < 0 ? -EINVAL : ps_target_stat(&t, &st);
	if (r == 0 && !S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if (r == 0)
		r = truncate_target(&t, len);
	*rc = r;
	ps_leave();
	return 1;
}

int truncate(const char *path, off_t len)
{
	int saved = errno, rc;

	if (!truncate_shadowed(path, len, &rc))
		return REAL(truncate)(ps_pass(path), len);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int truncate64(const char *path, off64_t len)
{
	int saved = errno, rc;

	if (!truncate_shadowed(path, len, &rc))
		return REAL(truncate64)(ps_pass(path), len);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

static int writable_data(const struct ps_open *o)
{
	return o->kind == PS_OPEN_DATA && (o->flags & O_ACCMODE) != O_RDONLY;
}

/* ftruncate and the fallocate family on a merged descriptor: not_writable when o cannot write, else the change
 * asked for (change.h) and made by the engine (mode -1: truncate to len). */
static int resize(struct ps_open *o, int mode, off_t off, off_t len, int not_writable)
{
	int rc;

	if (!writable_data(o))
		return not_writable;
	if ((rc = ps_open_change(o)) < 0)
		return rc;
	rc = mode < 0 ? ps_merge_truncate(o->file, len) : ps_merge_fallocate(o->file, mode, off, len);
	ps_open_changed(o, rc == 0);
	return rc;
}

int ftruncate(int fd, off_t len)
{
	int saved = errno;
	struct ps_open *o = ps_fd_merged(fd);

	if (o == PS_OPEN_REFUSED)
		return (int)ps_fd_refused(fd);
	if (!o)
		return REAL(ftruncate)(fd, len);
	return (int)ps_fd_done(o, resize(o, -1, 0, len, -EINVAL), saved);
}

int ftruncate64(int fd, off64_t len)
{
	return ftruncate(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	int saved = errno;
	struct ps_open *o = ps_fd_merged(fd);

	if (o == PS_OPEN_REFUSED)
		return (int)ps_fd_refused(fd);
	if (!o)
		return REAL(fallocate)(fd, mode, off, len);
	return (int)ps_fd_done(o, resize(o, mode, off, len, -EBADF), saved);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, off, len);
}

/* posix_fallocate returns the error number instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
	struct ps_open *o = ps_fd_merged(fd);
	int rc;

	if (o == PS_OPEN_REFUSED) {
		int saved = errno; /* posix_fallocate answers with the number and leaves errno alone */

		ps_fd_refused(fd);
		errno = saved;
		return EIO;
	}
	if (!o)
		return REAL(posix_fallocate)(fd, off, len);
	rc = resize(o, 0, off, len, -EBADF);
	ps_open_put(o);
	ps_leave();
	return -rc;
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, off, len);
}

static int sync_impl(int fd, int (*passthrough)(int))
{
	int saved = errno, rc = 0;
	struct ps_open *o = ps_fd_merged(fd);

	if (o == PS_OPEN_REFUSED)
		return (int)ps_fd_refused(fd);
	if (!o)
		return passthrough(fd);
	/* A data-file descriptor syncs the data itself; a merged lower fd needs the engine to sync the data file. */
	if (o->kind == PS_OPEN_DATA ? passthrough(fd) < 0 : ps_sys->fsync(o->file->data_fd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = ps_merge_sync_record(o->file);
	return (int)ps_fd_done(o, rc, saved);
}

int fsync(int fd)
{
	return sync_impl(fd, REAL(fsync));
}

int fdatasync(int fd)
{
	return sync_impl(fd, REAL(fdatasync));
}

/* syncfs on a shadowed fd flushes the filesystem of the shadow too, where its data and record live. */
int syncfs(int fd)
{
	int saved = errno, rc = 0;
	struct ps_open *o = ps_fd_merged(fd);

	if (o == PS_OPEN_REFUSED)
		return (int)ps_fd_refused(fd);
	if (!o)
		return REAL(syncfs)(fd);
	if (REAL(syncfs)(fd) < 0 || REAL(syncfs)(o->file->sh->dirfd) < 0)
		rc = -errno;
	return (int)ps_fd_done(o, rc, saved);
}

/* Requests refused on shadowed fds (EOPNOTSUPP, as by a filesystem without them): clone and extent-map requests
 * would expose the data file's raw layout; chattr's would set the flags of the lower file itself (a read-only
 * descriptor suffices) or of the data file, where the merged file does not keep them. */
static int refused_request(int fd, unsigned long req, void *arg)
{
	int layout = req == FICLONE || req == FICLONERANGE || req == FS_IOC_FIEMAP || req == FIDEDUPERANGE;
	int flags = req == FS_IOC_SETFLAGS || req == FS_IOC32_SETFLAGS || req == FS_IOC_FSSETXATTR ||
		    req == FS_IOC_SETVERSION;
	struct ps_open *o;
	int shadowed = 0;

	if ((!layout && !flags) || !ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (!o && req == FICLONE)
		o = ps_fd_get((int)(intptr_t)arg);
	if (!o && req == FICLONERANGE && arg)
		o = ps_fd_get((int)((struct file_clone_range *)arg)->src_fd);
	if (o) {
		ps_debug("%s: ioctl 0x%lx refused on a shadowed file: EOPNOTSUPP", o->path, req);
		shadowed = 1;
		ps_open_put(o);
	}
	ps_leave();
	return shadowed;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (refused_request(fd, req, arg)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return REAL(ioctl)(fd, req, arg);
}
