/* sys.h - the engine's only way to reach the OS.
 *
 * common/ never calls libc's file functions directly: the shim fills this table with the real (un-interposed)
 * functions so the engine cannot recurse into the wrappers; the tools fill it with plain libc; the unit tests
 * fill it with fakes that inject faults (ENOSPC on the third pwrite, a short read, ...).
 * Every entry follows the libc contract (-1 and errno); the engine converts to -errno at once.
 */
#ifndef PS_SYS_H
#define PS_SYS_H

#include <sys/types.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdint.h>

struct ps_sys {
	int (*openat)(int dirfd, const char *path, int flags, ...);
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fstat)(int fd, struct stat *st);
	int (*fstatat)(int dirfd, const char *path, struct stat *st, int flags);
	int (*ftruncate)(int fd, off_t len);
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
	int (*fsync)(int fd);
	int (*fcntl)(int fd, int cmd, ...);
	int (*flock)(int fd, int op);
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
	int (*mknodat)(int dirfd, const char *path, mode_t mode, dev_t dev);
	int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
	int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
	int (*symlinkat)(const char *target, int dirfd, const char *path);
	ssize_t (*readlinkat)(int dirfd, const char *path, char *buf, size_t n);
	ssize_t (*getdents64)(int fd, void *buf, size_t n);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*linkat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);
	off_t (*lseek)(int fd, off_t off, int whence);
	int (*futimens)(int fd, const struct timespec times[2]);
	int (*utimensat)(int dirfd, const char *path, const struct timespec times[2], int flags);
	int (*fchmodat)(int dirfd, const char *path, mode_t mode, int flags);
	int (*fchownat)(int dirfd, const char *path, uid_t uid, gid_t gid, int flags);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	int (*msync)(void *addr, size_t len, int flags);
	ssize_t (*llistxattr)(const char *path, char *list, size_t size);
	ssize_t (*lgetxattr)(const char *path, const char *name, void *value, size_t size);
	int (*lsetxattr)(const char *path, const char *name, const void *value, size_t size, int flags);
	int (*fsetxattr)(int fd, const char *name, const void *value, size_t size, int flags);
	long (*syscall)(long nr, ...);
};

/* One record of getdents64's buffer (struct linux_dirent64). */
struct ps_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The table every engine call uses; the shim, tools and tests set it before the first call. */
extern const struct ps_sys *ps_sys;

/* The plain-libc table (for tools and tests). */
extern const struct ps_sys ps_sys_libc;

/* A descriptor of this process's own for locks that belong to an open file description (OFD locks, flock): a
 * forked child shares its parent's descriptions, and would "hold" the parent's lock. *fd is (re)opened from
 * (dirfd, path) when *owner is not this process. Returns the fd or -errno. */
int ps_sys_own_description(int *fd, pid_t *owner, int dirfd, const char *path, int flags);

/* A descriptor the engine holds moved from one number to another (the shim makes room where a program dup2s onto
 * one of its numbers): each holder of the number updates its copy with this. */
static inline void ps_sys_renumbered(int *held, int from, int to)
{
	if (__atomic_load_n(held, __ATOMIC_ACQUIRE) == from)
		__atomic_store_n(held, to, __ATOMIC_RELEASE);
}

/* fchmod, which the table does not carry: through the descriptor's /proc name. 0 or -errno. */
int ps_sys_fchmod(int fd, mode_t mode);

/* rm -r of (dirfd, path): a directory tree the engine made itself (a merged copy's). 0 or -errno. */
int ps_sys_remove_tree(int dirfd, const char *path);

/* pread/pwrite that loop over short transfers and EINTR; return bytes moved (short only at EOF) or -errno. */
ssize_t ps_sys_pread_full(int fd, void *buf, size_t n, off_t off);
ssize_t ps_sys_pwrite_full(int fd, const void *buf, size_t n, off_t off);

#endif
