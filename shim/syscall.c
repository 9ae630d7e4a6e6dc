/* syscall.c - syscall(2) called directly with a file call's number, and io_uring.
 *
 * Entry points: the wrapper (symbols.def).
 * A program (or a library: liburing before 2.2, Rust's and Go's cgo paths) may call syscall(SYS_openat, ...)
 * instead of openat(): each file call's number is routed to the shim's own wrapper for it, so it gets the same
 * merged view; every other number goes to glibc's syscall unchanged. io_uring_setup fails with ENOSYS: the ring
 * would read and write files with no call the shim can see, and every user of io_uring falls back to plain calls
 * on ENOSYS. (A library that issues the syscall instruction itself is stopped by pageshadow-run's seccomp filter.)
 */
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#define A(i, type) ((type)a[i])

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; glibc 2.36 does not name it */
#endif

/* Does (dirfd, path) name something under a prefix (or cannot be told)? */
static int under_prefix(int dirfd, const char *path)
{
	struct ps_target t;
	int rc;

	if (!ps_enter())
		return 0;
	rc = ps_resolve(dirfd, path, 1, &t);
	ps_leave();
	return rc != 0;
}

int ps_syscall_route(long number, const long a[6], long *ret)
{
	switch (number) {
	case SYS_read: *ret = read(A(0, int), A(1, void *), A(2, size_t)); return 1;
	case SYS_write: *ret = write(A(0, int), A(1, const void *), A(2, size_t)); return 1;
	case SYS_pread64: *ret = pread(A(0, int), A(1, void *), A(2, size_t), A(3, off_t)); return 1;
	case SYS_pwrite64: *ret = pwrite(A(0, int), A(1, const void *), A(2, size_t), A(3, off_t)); return 1;
	case SYS_readv: *ret = readv(A(0, int), A(1, const struct iovec *), A(2, int)); return 1;
	case SYS_writev: *ret = writev(A(0, int), A(1, const struct iovec *), A(2, int)); return 1;
	case SYS_preadv: *ret = preadv(A(0, int), A(1, const struct iovec *), A(2, int), A(3, off_t)); return 1;
	case SYS_pwritev: *ret = pwritev(A(0, int), A(1, const struct iovec *), A(2, int), A(3, off_t)); return 1;
	case SYS_preadv2:
		*ret = preadv2(A(0, int), A(1, const struct iovec *), A(2, int), A(3, off_t), A(5, int));
		return 1;
	case SYS_pwritev2:
		*ret = pwritev2(A(0, int), A(1, const struct iovec *), A(2, int), A(3, off_t), A(5, int));
		return 1;
#ifdef SYS_open
	case SYS_open: *ret = open(A(0, const char *), A(1, int), A(2, mode_t)); return 1;
	case SYS_creat: *ret = creat(A(0, const char *), A(1, mode_t)); return 1;
	case SYS_stat: *ret = stat(A(0, const char *), A(1, struct stat *)); return 1;
	case SYS_lstat: *ret = lstat(A(0, const char *), A(1, struct stat *)); return 1;
	case SYS_access: *ret = access(A(0, const char *), A(1, int)); return 1;
	case SYS_unlink: *ret = unlink(A(0, const char *)); return 1;
	case SYS_rename: *ret = rename(A(0, const char *), A(1, const char *)); return 1;
	case SYS_chmod: *ret = chmod(A(0, const char *), A(1, mode_t)); return 1;
	case SYS_mkdir: *ret = mkdir(A(0, const char *), A(1, mode_t)); return 1;
	case SYS_rmdir: *ret = rmdir(A(0, const char *)); return 1;
	case SYS_mknod: *ret = mknod(A(0, const char *), A(1, mode_t), A(2, dev_t)); return 1;
	case SYS_chown: *ret = chown(A(0, const char *), A(1, uid_t), A(2, gid_t)); return 1;
	case SYS_lchown: *ret = lchown(A(0, const char *), A(1, uid_t), A(2, gid_t)); return 1;
	case SYS_symlink: *ret = symlink(A(0, const char *), A(1, const char *)); return 1;
	case SYS_readlink: *ret = readlink(A(0, const char *), A(1, char *), A(2, size_t)); return 1;
	case SYS_link: *ret = link(A(0, const char *), A(1, const char *)); return 1;
	case SYS_utime: *ret = utime(A(0, const char *), A(1, const struct utimbuf *)); return 1;
	case SYS_utimes: *ret = utimes(A(0, const char *), A(1, const struct timeval *)); return 1;
	case SYS_futimesat:
		*ret = futimesat(A(0, int), A(1, const char *), A(2, const struct timeval *));
		return 1;
	case SYS_dup2: *ret = dup2(A(0, int), A(1, int)); return 1;
#endif
	case SYS_openat: *ret = openat(A(0, int), A(1, const char *), A(2, int), A(3, mode_t)); return 1;
	case SYS_close: *ret = close(A(0, int)); return 1;
	case SYS_lseek: *ret = lseek(A(0, int), A(1, off_t), A(2, int)); return 1;
	case SYS_fstat: *ret = fstat(A(0, int), A(1, struct stat *)); return 1;
	case SYS_newfstatat:
		*ret = fstatat(A(0, int), A(1, const char *), A(2, struct stat *), A(3, int));
		return 1;
	case SYS_statx:
		*ret = statx(A(0, int), A(1, const char *), A(2, int), A(3, unsigned), A(4, struct statx *));
		return 1;
	case SYS_truncate: *ret = truncate(A(0, const char *), A(1, off_t)); return 1;
	case SYS_ftruncate: *ret = ftruncate(A(0, int), A(1, off_t)); return 1;
	case SYS_fallocate: *ret = fallocate(A(0, int), A(1, int), A(2, off_t), A(3, off_t)); return 1;
	case SYS_fsync: *ret = fsync(A(0, int)); return 1;
	case SYS_fdatasync: *ret = fdatasync(A(0, int)); return 1;
	case SYS_faccessat: *ret = faccessat(A(0, int), A(1, const char *), A(2, int), 0); return 1;
	case SYS_faccessat2: *ret = faccessat(A(0, int), A(1, const char *), A(2, int), A(3, int)); return 1;
	case SYS_mknodat: *ret = mknodat(A(0, int), A(1, const char *), A(2, mode_t), A(3, dev_t)); return 1;
	case SYS_mkdirat: *ret = mkdirat(A(0, int), A(1, const char *), A(2, mode_t)); return 1;
	case SYS_getdents64: *ret = getdents64(A(0, int), A(1, void *), A(2, size_t)); return 1;
	case SYS_linkat:
		*ret = linkat(A(0, int), A(1, const char *), A(2, int), A(3, const char *), A(4, int));
		return 1;
	case SYS_symlinkat: *ret = symlinkat(A(0, const char *), A(1, int), A(2, const char *)); return 1;
	case SYS_readlinkat: *ret = readlinkat(A(0, int), A(1, const char *), A(2, char *), A(3, size_t)); return 1;
	case SYS_chdir: *ret = chdir(A(0, const char *)); return 1;
	case SYS_unlinkat: *ret = unlinkat(A(0, int), A(1, const char *), A(2, int)); return 1;
	case SYS_renameat:
		*ret = renameat(A(0, int), A(1, const char *), A(2, int), A(3, const char *));
		return 1;
	case SYS_renameat2:
		*ret = renameat2(A(0, int), A(1, const char *), A(2, int), A(3, const char *), A(4, unsigned));
		return 1;
	case SYS_fchmodat: *ret = fchmodat(A(0, int), A(1, const char *), A(2, mode_t), 0); return 1;
	case SYS_fchmod: *ret = fchmod(A(0, int), A(1, mode_t)); return 1;
	case SYS_fchown: *ret = fchown(A(0, int), A(1, uid_t), A(2, gid_t)); return 1;
	case SYS_fchownat:
		*ret = fchownat(A(0, int), A(1, const char *), A(2, uid_t), A(3, gid_t), A(4, int));
		return 1;
	case SYS_utimensat:
		*ret = utimensat(A(0, int), A(1, const char *), A(2, const struct timespec *), A(3, int));
		return 1;
	case SYS_fchmodat2: *ret = fchmodat(A(0, int), A(1, const char *), A(2, mode_t), A(3, int)); return 1;
	case SYS_setxattr:
		*ret = setxattr(A(0, const char *), A(1, const char *), A(2, const void *), A(3, size_t), A(4, int));
		return 1;
	case SYS_lsetxattr:
		*ret = lsetxattr(A(0, const char *), A(1, const char *), A(2, const void *), A(3, size_t), A(4, int));
		return 1;
	case SYS_fsetxattr:
		*ret = fsetxattr(A(0, int), A(1, const char *), A(2, const void *), A(3, size_t), A(4, int));
		return 1;
	case SYS_removexattr: *ret = removexattr(A(0, const char *), A(1, const char *)); return 1;
	case SYS_lremovexattr: *ret = lremovexattr(A(0, const char *), A(1, const char *)); return 1;
	case SYS_fremovexattr: *ret = fremovexattr(A(0, int), A(1, const char *)); return 1;
	case SYS_getxattr:
		*ret = getxattr(A(0, const char *), A(1, const char *), A(2, void *), A(3, size_t));
		return 1;
	case SYS_lgetxattr:
		*ret = lgetxattr(A(0, const char *), A(1, const char *), A(2, void *), A(3, size_t));
		return 1;
	case SYS_fgetxattr: *ret = fgetxattr(A(0, int), A(1, const char *), A(2, void *), A(3, size_t)); return 1;
	case SYS_listxattr: *ret = listxattr(A(0, const char *), A(1, char *), A(2, size_t)); return 1;
	case SYS_llistxattr: *ret = llistxattr(A(0, const char *), A(1, char *), A(2, size_t)); return 1;
	case SYS_flistxattr: *ret = flistxattr(A(0, int), A(1, char *), A(2, size_t)); return 1;
	case SYS_ioctl: *ret = ioctl(A(0, int), A(1, unsigned long), a[2]); return 1;
	case SYS_dup: *ret = dup(A(0, int)); return 1;
	case SYS_dup3: *ret = dup3(A(0, int), A(1, int), A(2, int)); return 1;
	case SYS_fcntl: *ret = fcntl(A(0, int), A(1, int), a[2]); return 1;
	case SYS_flock: *ret = flock(A(0, int), A(1, int)); return 1;
	case SYS_close_range: *ret = close_range(A(0, unsigned), A(1, unsigned), A(2, int)); return 1;
	case SYS_mmap:
		*ret = (long)mmap(A(0, void *), A(1, size_t), A(2, int), A(3, int), A(4, int), A(5, off_t));
		return 1;
	case SYS_copy_file_range:
		*ret = copy_file_range(A(0, int), A(1, off64_t *), A(2, int), A(3, off64_t *), A(4, size_t),
				       A(5, unsigned));
		return 1;
	case SYS_sendfile: *ret = sendfile(A(0, int), A(1, int), A(2, off_t *), A(3, size_t)); return 1;
	case SYS_splice:
		*ret = splice(A(0, int), A(1, off64_t *), A(2, int), A(3, off64_t *), A(4, size_t), A(5, unsigned));
		return 1;
	case SYS_execve: *ret = execve(A(0, const char *), A(1, char *const *), A(2, char *const *)); return 1;
	case SYS_execveat:
		*ret = execveat(A(0, int), A(1, const char *), A(2, char *const *), A(3, char *const *), A(4, int));
		return 1;
	case SYS_openat2: {
		const struct open_how *how = A(2, const struct open_how *);

		if (how && how->resolve == 0) { /* plain openat semantics */
			*ret = openat(A(0, int), A(1, const char *), (int)how->flags, (mode_t)how->mode);
			return 1;
		}
		if (under_prefix(A(0, int), A(1, const char *))) { /* RESOLVE_* under a prefix: let it fall back */
			ps_debug("openat2 with resolve flags under a prefix: ENOSYS");
			errno = ENOSYS;
			*ret = -1;
			return 1;
		}
		return 0;
	}
	case SYS_io_uring_setup:
	case SYS_io_setup: /* (Linux AIO: io_submit reads and writes the data file directly, as a ring would) */
		ps_debug("%s: ENOSYS under the shim", number == SYS_io_setup ? "io_setup" : "io_uring_setup");
		errno = ENOSYS;
		*ret = -1;
		return 1;
	default:
		return 0;
	}
}

long syscall(long number, ...)
{
	long a[6], ret;
	va_list ap;

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (ps_enter()) { /* only a configured shim routes, and never its own calls */
		ps_leave();
		if (ps_syscall_route(number, a, &ret))
			return ret;
	}
	return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
