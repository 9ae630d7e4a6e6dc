/* beneath.c - the shadow directory's paths resolved without following a symlink on the way (beneath.h). */
#include "beneath.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct ps_sys *inner = &ps_sys_libc;
static struct ps_sys guarded;
static int shadow_fd = -1;

void ps_sys_guard_below(int dirfd)
{
	__atomic_store_n(&shadow_fd, dirfd, __ATOMIC_RELEASE);
}

void ps_sys_guard_renumber(int from, int to)
{
	ps_sys_renumbered(&shadow_fd, from, to);
}

static int shadow_at(int dirfd)
{
	return dirfd >= 0 && dirfd == __atomic_load_n(&shadow_fd, __ATOMIC_ACQUIRE);
}

static int guarded_at(int dirfd, const char *path)
{
	return shadow_at(dirfd) && strchr(path, '/');
}

int ps_sys_parent_beneath(int dirfd, const char *path, const char **base)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	long fd;

	if (!slash) {
		*base = path;
		return dirfd;
	}
	if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*base = slash + 1;
	fd = inner->syscall(SYS_openat2, dirfd, dir, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno == ENOSYS || errno == EPERM) /* no openat2 (or a sandbox that forbids it): as before, unguarded */
		fd = inner->openat(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return (int)fd;
	if (errno == ELOOP || errno == EXDEV) {
		ps_error("%s: a symbolic link on the way inside the shadow directory (tampered with?): refused", dir);
		return -EILSEQ;
	}
	return -errno;
}

int ps_sys_path_beneath(int dirfd, const char *path, char *out, size_t outsz)
{
	const char *base;
	int pfd = ps_sys_parent_beneath(dirfd, path, &base);

	if (pfd < 0)
		return pfd;
	if (snprintf(out, outsz, "/proc/self/fd/%d/%s", pfd, base) >= (int)outsz) {
		if (pfd != dirfd)
			inner->close(pfd);
		return -ENAMETOOLONG;
	}
	return pfd;
}

/* Run call with (pfd, base) in place of (dirfd, path) when the guard applies; keeps the call's errno. */
#define BENEATH(dirfd, path, call)                                                                                  \
	do {                                                                                                       \
		const char *base;                                                                                  \
		int pfd, rc, saved;                                                                                \
		if (!guarded_at(dirfd, path)) {                                                                    \
			pfd = dirfd;                                                                               \
			base = path;                                                                               \
			return call;                                                                               \
		}                                                                                                  \
		if ((pfd = ps_sys_parent_beneath(dirfd, path, &base)) < 0) {                                       \
			errno = -pfd;                                                                              \
			return -1;                                                                                 \
		}                                                                                                  \
		rc = call;                                                                                         \
		saved = errno;                                                                                     \
		inner->close(pfd);                                                                                 \
		errno = saved;                                                                                     \
		return rc;                                                                                         \
	} while (0)

int ps_sys_open_beneath(int (*open_at)(int, const char *, int, ...), int dirfd, const char *path, int flags,
			mode_t mode)
{
	BENEATH(dirfd, path, open_at(pfd, base, flags, mode));
}

static int g_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return ps_sys_open_beneath(inner->openat, dirfd, path, flags, mode);
}

static int g_mkdirat(int dirfd, const char *path, mode_t mode)
{
	BENEATH(dirfd, path, inner->mkdirat(pfd, base, mode));
}

static int g_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	BENEATH(dirfd, path, inner->mknodat(pfd, base, mode, dev));
}

static int g_unlinkat(int dirfd, const char *path, int flags)
{
	BENEATH(dirfd, path, inner->unlinkat(pfd, base, flags));
}

static int g_symlinkat(const char *target, int dirfd, const char *path)
{
	BENEATH(dirfd, path, inner->symlinkat(target, pfd, base));
}

static int g_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	BENEATH(dirfd, path, inner->utimensat(pfd, base, times, flags));
}

/* fchmodat follows a last symlink (AT_SYMLINK_NOFOLLOW is not there before fchmodat2): inside the shadow the
 * object is opened without following one and changed through its descriptor's /proc name. */
static int chmod_nofollow(int dirfd, const char *name, mode_t mode)
{
	struct stat st;
	int fd = inner->openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	if (inner->fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
		ps_error("%s: a symbolic link inside the shadow directory where a file was expected: refused", name);
		rc = -EILSEQ;
	} else {
		rc = ps_sys_fchmod(fd, mode);
	}
	inner->close(fd);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static int g_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	if (!shadow_at(dirfd))
		return inner->fchmodat(dirfd, path, mode, flags);
	BENEATH(dirfd, path, chmod_nofollow(pfd, base, mode));
}

static int g_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	BENEATH(dirfd, path, inner->fchownat(pfd, base, uid, gid, flags));
}

/* Two paths: the second guarded inside the first's guarded call. */
static int renameat2_dst(int odfd, const char *opath, int ndirfd, const char *npath, unsigned int flags)
{
	BENEATH(ndirfd, npath, flags ? inner->renameat2(odfd, opath, pfd, base, flags) : inner->renameat(odfd, opath, pfd, base));
}

static int g_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	BENEATH(olddirfd, oldpath, renameat2_dst(pfd, base, newdirfd, newpath, flags));
}

static int g_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return g_renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

static int linkat_dst(int odfd, const char *opath, int ndirfd, const char *npath, int flags)
{
	BENEATH(ndirfd, npath, inner->linkat(odfd, opath, pfd, base, flags));
}

static int g_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	BENEATH(olddirfd, oldpath, linkat_dst(pfd, base, newdirfd, newpath, flags));
}

const struct ps_sys *ps_sys_guard(const struct ps_sys *table)
{
	inner = table;
	guarded = *table;
	guarded.openat = g_openat;
	guarded.mkdirat = g_mkdirat;
	guarded.mknodat = g_mknodat;
	guarded.unlinkat = g_unlinkat;
	guarded.symlinkat = g_symlinkat;
	guarded.utimensat = g_utimensat;
	guarded.fchmodat = g_fchmodat;
	guarded.fchownat = g_fchownat;
	guarded.renameat = g_renameat;
	guarded.renameat2 = g_renameat2;
	guarded.linkat = g_linkat;
	return &guarded;
}
