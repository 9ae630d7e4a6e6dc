/* sys.c - the plain-libc ops table and the looping transfer helpers. */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
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
	.renameat = renameat,
	.unlinkat = unlinkat,
	.linkat = linkat,
	.lseek = lseek,
	.futimens = futimens,
	.mmap = mmap,
	.munmap = munmap,
	.msync = msync,
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
