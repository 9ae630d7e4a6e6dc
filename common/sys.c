/* sys.c - the plain-libc ops table and the looping transfer helpers. */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <string.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

const struct ps_sys ps_sys_libc = {
	.openat = openat,
	.close = close,
	.pread = pread,
	.pwrite = pwrite,
	.write = write,
	.fstat = fstat,
	.fstatat = fstatat,
	.ftruncate = ftruncate,
	.fallocate = fallocate,
	.fsync = fsync,
	.fcntl = fcntl,
	.flock = flock,
	.mkdirat = mkdirat,
	.mknodat = mknodat,
	.renameat = renameat,
	.renameat2 = renameat2,
	.symlinkat = symlinkat,
	.readlinkat = readlinkat,
	.getdents64 = getdents64,
	.unlinkat = unlinkat,
	.linkat = linkat,
	.lseek = lseek,
	.futimens = futimens,
	.utimensat = utimensat,
	.fchmodat = fchmodat,
	.fchownat = fchownat,
	.mmap = mmap,
	.munmap = munmap,
	.msync = msync,
	.llistxattr = llistxattr,
	.lgetxattr = lgetxattr,
	.lsetxattr = lsetxattr,
	.fsetxattr = fsetxattr,
	.syscall = syscall,
};

const struct ps_sys *ps_sys = &ps_sys_libc;

int ps_sys_own_description(int *fd, pid_t *owner, int dirfd, const char *path, int flags)
{
	pid_t pid = getpid();

	if (*owner == pid)
		return *fd;
	if (*fd >= 0)
		ps_sys->close(*fd); /* the parent's, inherited: the parent keeps its own */
	*fd = ps_sys->openat(dirfd, path, flags | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	*owner = pid;
	return *fd;
}

int ps_sys_fchmod(int fd, mode_t mode)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return ps_sys->fchmodat(AT_FDCWD, proc, mode, 0) < 0 ? -errno : 0;
}

ssize_t ps_sys_pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = ps_sys->pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t ps_sys_pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = ps_sys->pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* a regular file that accepts nothing: never spin */
		done += (size_t)r;
	}
	return (ssize_t)done;
}


static int remove_tree_at(int dirfd, const char *path, int depth)
{
	char buf[4096];
	long n;
	int fd, rc = 0;

	if (ps_sys->unlinkat(dirfd, path, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR) /* what unlink says of a directory */
		return -errno;
	if (depth > 32)
		return -ELOOP;
	fd = ps_sys->openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (rc == 0 && (n = ps_sys->getdents64(fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n && rc == 0;) {
			struct ps_dirent64 *d = (struct ps_dirent64 *)(buf + off);

			off += d->d_reclen;
			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
				rc = remove_tree_at(fd, d->d_name, depth + 1);
		}
	}
	ps_sys->close(fd);
	if (rc == 0 && ps_sys->unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

int ps_sys_remove_tree(int dirfd, const char *path)
{
	return remove_tree_at(dirfd, path, 0);
}
