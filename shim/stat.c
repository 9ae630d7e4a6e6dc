/* stat.c - the stat family (both glibc ABIs and statx), statfs/statvfs and the access family.
 *
 * Entry points: the wrappers (symbols.def), ps_may_access.
 * A shadowed file reports the merged view: the data file's size, times and blocks with the lower file's
 * identity and mode (merge.h), identical through stat, fstat and statx. A prefix reports itself writable
 * (no ST_RDONLY), and access(W_OK) answers as a writable copy with the same mode and owner would - unless changes
 * are denied (change.h): then the prefix is what a read-only filesystem is, ST_RDONLY and EROFS.
 */
#include "shim.h"
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "one stat layout (LP64 glibc)");
_Static_assert(sizeof(struct statfs) == sizeof(struct statfs64), "one statfs layout");
_Static_assert(sizeof(struct statvfs) == sizeof(struct statvfs64), "one statvfs layout");

static int in_group(gid_t gid, int effective)
{
	gid_t groups[256];
	int n;

	if (gid == (effective ? getegid() : getgid()))
		return 1;
	n = getgroups(256, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

int ps_may_access(const struct stat *st, int mode, int effective)
{
	uid_t uid = effective ? geteuid() : getuid();
	unsigned bits;

	if (mode == F_OK)
		return 0;
	if (uid == 0) /* root: everything but executing a file nobody may execute */
		return (mode & X_OK) && !S_ISDIR(st->st_mode) && !(st->st_mode & 0111) ? -EACCES : 0;
	if (st->st_uid == uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_group(st->st_gid, effective))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return (bits & (unsigned)mode) == (unsigned)mode ? 0 : -EACCES;
}

static void statx_to_stat(const struct statx *stx, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	st->st_ino = stx->stx_ino;
	st->st_nlink = stx->stx_nlink;
	st->st_mode = stx->stx_mode;
	st->st_uid = stx->stx_uid;
	st->st_gid = stx->stx_gid;
	st->st_rdev = makedev(stx->stx_rdev_major, stx->stx_rdev_minor);
	st->st_size = (off_t)stx->stx_size;
	st->st_blksize = (blksize_t)stx->stx_blksize;
	st->st_blocks = (blkcnt_t)stx->stx_blocks;
	st->st_atim = (struct timespec){ .tv_sec = stx->stx_atime.tv_sec, .tv_nsec = stx->stx_atime.tv_nsec };
	st->st_mtim = (struct timespec){ .tv_sec = stx->stx_mtime.tv_sec, .tv_nsec = stx->stx_mtime.tv_nsec };
	st->st_ctim = (struct timespec){ .tv_sec = stx->stx_ctime.tv_sec, .tv_nsec = stx->stx_ctime.tv_nsec };
}

/* A name outside the prefixes: the kernel's answer, asked with statx so that the mount it reaches is known - a
 * name that leads into a prefix through a symlink outside the tree gets the merged view instead (resolve.c).
 * Into *stx when the caller wants statx's fields (mask: what it asked for), else into *st. 1 answered (errors
 * as the kernel gave them), or the resolving's result: t filled. */
static int stat_outside(int dirfd, const char *path, int flags, unsigned mask, struct stat *st, struct statx *stx,
			struct ps_target *t)
{
	struct statx own, *got = stx ? stx : &own;
	int rc;

	int follow = !(flags & AT_SYMLINK_NOFOLLOW), err;

	if (REAL(statx)(dirfd, path, flags, mask | STATX_MNT_ID, got) < 0) {
		err = errno; /* missing here, but perhaps made in the shadow below a directory reached by a symlink */
		if ((err == ENOSYS || err == EPERM) && !stx) /* no statx (old kernel, a sandbox's filter): as before */
			return REAL(fstatat)(dirfd, path, st, flags) < 0 ? -errno : 2;
		if (err == ENOENT && (rc = ps_resolve_outside(dirfd, path, follow, NULL,
							     PS_OUTSIDE_MISSING | PS_OUTSIDE_CHEAP, t)) != 0)
			return rc;
		return -err;
	}
	if ((rc = ps_resolve_outside(dirfd, path, follow, got, PS_OUTSIDE_CHEAP, t)) != 0)
		return rc;
	if (!stx)
		statx_to_stat(got, st);
	return 2;
}

/* 1: st holds the merged view; 2: the kernel's answer for a name outside (in *stx when given, else *st); 0: pass
 * through; < 0: -errno. Guard held. */
static int stat_shadowed(int dirfd, const char *path, struct stat *st, int flags, unsigned mask, struct statx *stx)
{
	struct ps_target t;
	int rc = ps_resolve(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &t);

	if (rc == 0 && ps_pass(path) == path && (rc = stat_outside(dirfd, path, flags, mask, st, stx, &t)) == 2)
		return 2;
	if (rc <= 0)
		return rc;
	if (t.ns.state == PS_NS_LOWER) /* by its resolved name: the program's may pass through the shadow's part */
		rc = REAL(fstatat)(AT_FDCWD, t.path, st, flags & AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	else
		rc = ps_target_stat(&t, st);
	return rc < 0 ? ps_errno_for_program(rc) : 1;
}

static int fstat_shadowed(int fd, struct stat *st, int *handled)
{
	struct ps_open *o;
	struct ps_target t;
	int rc = 0;

	*handled = 0;
	if (!ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (o && o->file) {
		*handled = 1;
		rc = ps_merge_stat(o->file, st);
	} else if (o && o->kind == PS_OPEN_DIR && (rc = ps_resolve(AT_FDCWD, o->path, 1, &t)) > 0 &&
		   t.ns.state == PS_NS_DIR) { /* a directory of the shadow's, or whose attributes it holds */
		*handled = 1;
		rc = ps_target_stat(&t, st);
	}
	if (o)
		ps_open_put(o);
	ps_leave();
	return *handled ? rc : 0;
}

/* Path forms; AT_EMPTY_PATH with "" is the fd form. 0: pass through, else handled: *rc is 0 or -errno, and the
 * answer is in *st - or in *stx when one is given and 2 is returned. */
static int stat_any(int dirfd, const char *path, struct stat *st, int flags, unsigned mask, struct statx *stx,
		    int *rc)
{
	int handled, r;

	if ((flags & AT_EMPTY_PATH) && path && !*path) {
		*rc = ps_errno_for_program(fstat_shadowed(dirfd, st, &handled));
		return handled;
	}
	if (path && !(flags & AT_SYMLINK_NOFOLLOW) && (r = ps_own_fd_name(path)) >= 0) { /* stat("/dev/stdin") */
		*rc = ps_errno_for_program(fstat_shadowed(r, st, &handled));
		if (handled)
			return handled;
	}
	if (!ps_enter())
		return 0;
	r = stat_shadowed(dirfd, path, st, flags, mask, stx);
	ps_leave();
	*rc = r < 0 ? r : 0;
	return r;
}

#define FSTAT_WRAPPER(passthrough, fd, st)                                                                         \
	do {                                                                                                       \
		int saved_ = errno, handled_;                                                                      \
		int rc_ = fstat_shadowed(fd, (struct stat *)(st), &handled_);                                      \
		if (!handled_)                                                                                     \
			return passthrough;                                                                        \
		return (int)ps_ret(rc_ < 0 ? ps_errno_for_program(rc_) : 0, saved_);                              \
	} while (0)

#define STAT_WRAPPER(passthrough, dirfd, path, st, flags)                                                          \
	do {                                                                                                       \
		int saved_ = errno, rc_;                                                                           \
		if (!stat_any(dirfd, path, (struct stat *)(st), flags, STATX_BASIC_STATS, NULL, &rc_))           \
			return passthrough;                                                                        \
		return (int)ps_ret(rc_, saved_);                                                                   \
	} while (0)

int stat(const char *path, struct stat *st)
{
	STAT_WRAPPER(REAL(stat)(ps_pass(path), st), AT_FDCWD, path, st, 0);
}

int stat64(const char *path, struct stat64 *st)
{
	STAT_WRAPPER(REAL(stat64)(ps_pass(path), st), AT_FDCWD, path, st, 0);
}

int lstat(const char *path, struct stat *st)
{
	STAT_WRAPPER(REAL(lstat)(ps_pass(path), st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

int lstat64(const char *path, struct stat64 *st)
{
	STAT_WRAPPER(REAL(lstat64)(ps_pass(path), st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	STAT_WRAPPER(REAL(fstatat)(ps_pass_dirfd(dirfd, path), ps_pass(path), st, flags), dirfd, path, st, flags);
}

int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	STAT_WRAPPER(REAL(fstatat64)(ps_pass_dirfd(dirfd, path), ps_pass(path), st, flags), dirfd, path, st, flags);
}

int __xstat(int ver, const char *path, struct stat *st)
{
	STAT_WRAPPER(REAL(__xstat)(ver, ps_pass(path), st), AT_FDCWD, path, st, 0);
}

int __xstat64(int ver, const char *path, struct stat64 *st)
{
	STAT_WRAPPER(REAL(__xstat64)(ver, ps_pass(path), st), AT_FDCWD, path, st, 0);
}

int __lxstat(int ver, const char *path, struct stat *st)
{
	STAT_WRAPPER(REAL(__lxstat)(ver, ps_pass(path), st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	STAT_WRAPPER(REAL(__lxstat64)(ver, ps_pass(path), st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	STAT_WRAPPER(REAL(__fxstatat)(ver, ps_pass_dirfd(dirfd, path), ps_pass(path), st, flags), dirfd, path, st, flags);
}

int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	STAT_WRAPPER(REAL(__fxstatat64)(ver, ps_pass_dirfd(dirfd, path), ps_pass(path), st, flags), dirfd, path, st, flags);
}

int fstat(int fd, struct stat *st)
{
	FSTAT_WRAPPER(REAL(fstat)(fd, st), fd, st);
}

int fstat64(int fd, struct stat64 *st)
{
	FSTAT_WRAPPER(REAL(fstat64)(fd, st), fd, st);
}

int __fstat64(int fd, struct stat64 *st)
{
	FSTAT_WRAPPER(REAL(__fstat64)(fd, st), fd, st);
}

int __fxstat(int ver, int fd, struct stat *st)
{
	FSTAT_WRAPPER(REAL(__fxstat)(ver, fd, st), fd, st);
}

int __fxstat64(int ver, int fd, struct stat64 *st)
{
	FSTAT_WRAPPER(REAL(__fxstat64)(ver, fd, st), fd, st);
}

static struct statx_timestamp to_stx_time(struct timespec ts)
{
	return (struct statx_timestamp){ .tv_sec = ts.tv_sec, .tv_nsec = (uint32_t)ts.tv_nsec };
}

/* statx: fill the basic fields from the merged stat; the birth time is not offered. */
static void stat_to_statx(const struct stat *st, struct statx *stx)
{
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = (uint32_t)st->st_blksize;
	stx->stx_nlink = (uint32_t)st->st_nlink;
	stx->stx_uid = st->st_uid;
	stx->stx_gid = st->st_gid;
	stx->stx_mode = (uint16_t)st->st_mode;
	stx->stx_ino = st->st_ino;
	stx->stx_size = (uint64_t)st->st_size;
	stx->stx_blocks = (uint64_t)st->st_blocks;
	stx->stx_atime = to_stx_time(st->st_atim);
	stx->stx_mtime = to_stx_time(st->st_mtim);
	stx->stx_ctime = to_stx_time(st->st_ctim);
	stx->stx_rdev_major = major(st->st_rdev);
	stx->stx_rdev_minor = minor(st->st_rdev);
	stx->stx_dev_major = major(st->st_dev);
	stx->stx_dev_minor = minor(st->st_dev);
}

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	int saved = errno, rc;
	struct stat st;
	int how = stat_any(dirfd, path, &st, flags, mask, stx, &rc);

	if (!how)
		return REAL(statx)(ps_pass_dirfd(dirfd, path), ps_pass(path), flags, mask, stx);
	if (rc >= 0 && how != 2)
		stat_to_statx(&st, stx);
	return (int)ps_ret(rc, saved);
}

/* ---- statfs and statvfs: a prefix is writable (read-only when changes are denied) ---- */

static int path_in_prefix(const char *path)
{
	return ps_path_in_prefix(path, 1) == 1;
}

static int fd_in_prefix(int fd)
{
	struct ps_open *o;

	if (!ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (o)
		ps_open_put(o);
	ps_leave();
	return o != NULL;
}

#define STATFS_WRAPPER(call, in_prefix, buf, field)                                                                \
	do {                                                                                                       \
		int r_, saved_;                                                                                    \
		r_ = call;                                                                                         \
		saved_ = errno;                                                                                    \
		if (r_ == 0 && (in_prefix))                                                                        \
			(buf)->field = ps_change_denied() ? (buf)->field | ST_RDONLY                               \
							  : (buf)->field & ~(__typeof__((buf)->field))ST_RDONLY;   \
		errno = saved_;                                                                                    \
		return r_;                                                                                         \
	} while (0)

int statfs(const char *path, struct statfs *buf)
{
	STATFS_WRAPPER(REAL(statfs)(ps_pass(path), buf), path_in_prefix(path), buf, f_flags);
}

int statfs64(const char *path, struct statfs64 *buf)
{
	STATFS_WRAPPER(REAL(statfs64)(ps_pass(path), buf), path_in_prefix(path), buf, f_flags);
}

int __statfs(const char *path, struct statfs *buf)
{
	STATFS_WRAPPER(REAL(__statfs)(ps_pass(path), buf), path_in_prefix(path), buf, f_flags);
}

int fstatfs(int fd, struct statfs *buf)
{
	STATFS_WRAPPER(REAL(fstatfs)(fd, buf), fd_in_prefix(fd), buf, f_flags);
}

int fstatfs64(int fd, struct statfs64 *buf)
{
	STATFS_WRAPPER(REAL(fstatfs64)(fd, buf), fd_in_prefix(fd), buf, f_flags);
}

int statvfs(const char *path, struct statvfs *buf)
{
	STATFS_WRAPPER(REAL(statvfs)(ps_pass(path), buf), path_in_prefix(path), buf, f_flag);
}

int statvfs64(const char *path, struct statvfs64 *buf)
{
	STATFS_WRAPPER(REAL(statvfs64)(ps_pass(path), buf), path_in_prefix(path), buf, f_flag);
}

int fstatvfs(int fd, struct statvfs *buf)
{
	STATFS_WRAPPER(REAL(fstatvfs)(fd, buf), fd_in_prefix(fd), buf, f_flag);
}

int fstatvfs64(int fd, struct statvfs64 *buf)
{
	STATFS_WRAPPER(REAL(fstatvfs64)(fd, buf), fd_in_prefix(fd), buf, f_flag);
}

/* ---- access: as a writable copy with the same mode and owner would answer ---- */

/* 1: answered (rc in *result); 0: pass through. */
static int access_shadowed(int dirfd, const char *path, int mode, int flags, int *result)
{
	struct ps_target t;
	struct stat st;
	int rc;

	if (!ps_enter())
		return 0;
	rc = (mode & W_OK) ? ps_resolve_outside_links(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &t) /* EROFS? */
			   : ps_resolve(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &t);
	if (rc > 0) {
		rc = ps_target_stat(&t, &st);
		if (rc == 0)
			rc = ps_may_access(&st, mode, (flags & AT_EACCESS) != 0);
		if (rc == 0 && (mode & W_OK) && ps_change_denied() &&
		    (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)))
			rc = -EROFS; /* as the kernel answers on a read-only mount: after the permission bits */
		*result = rc < 0 ? ps_errno_for_program(rc) : 0;
		rc = 1;
	}
	ps_leave();
	if (rc < 0) {
		*result = rc;
		rc = 1;
	}
	return rc;
}

#define ACCESS_WRAPPER(passthrough, dirfd, path, mode, flags)                                                      \
	do {                                                                                                       \
		int saved_ = errno, result_;                                                                       \
		if (!access_shadowed(dirfd, path, mode, flags, &result_))                                          \
			return passthrough;                                                                        \
		return (int)ps_ret(result_, saved_);                                                               \
	} while (0)

int access(const char *path, int mode)
{
	ACCESS_WRAPPER(REAL(access)(ps_pass(path), mode), AT_FDCWD, path, mode, 0);
}

int faccessat(int dirfd, const char *path, int mode, int flags)
{
	ACCESS_WRAPPER(REAL(faccessat)(ps_pass_dirfd(dirfd, path), ps_pass(path), mode, flags), dirfd, path, mode, flags);
}

int eaccess(const char *path, int mode)
{
	ACCESS_WRAPPER(REAL(eaccess)(ps_pass(path), mode), AT_FDCWD, path, mode, AT_EACCESS);
}

int euidaccess(const char *path, int mode)
{
	ACCESS_WRAPPER(REAL(euidaccess)(ps_pass(path), mode), AT_FDCWD, path, mode, AT_EACCESS);
}
