/* link.c - symbolic links in the merged tree: symlink, symlinkat, readlink, readlinkat, realpath,
 * __realpath_chk, canonicalize_file_name.
 *
 * Entry points: the wrappers (symbols.def).
 * A symlink made under a prefix is an entry of the shadow's meta tree (ns.h) with the program's target; resolve.c
 * follows it as the kernel would follow a real one. readlink answers for it, passes through for a lower symlink
 * that shows, and says ENOENT for a deleted name, EINVAL for anything that is not a symlink.
 */
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

/* 1: handled (*rc); 0: pass through. */
static int symlink_shadowed(const char *target, int dirfd, const char *path, int *rc)
{
	struct ps_shadow *sh = NULL;
	struct ps_target t;
	int r;

	r = ps_enter_resolved(dirfd, path, 0, &t);
	if (r == 0)
		return 0;
	if (r > 0 && (r = ps_target_free(&t)) == 0 && path[strlen(path) - 1] == '/')
		r = -ENOENT; /* "x/" names a directory, which symlink does not make */
	else if (r == 0 && !(sh = ps_shadow_get()))
		r = -EROFS;
	else if (r == 0 && !*target)
		r = -ENOENT; /* as the kernel says of an empty target */
	else if (r == 0 && (r = ps_may_add_name(&t, PS_CHANGE_SYMLINK, t.path, NULL)) == 0)
		r = ps_change_done(ps_ns_symlink(sh, ps_cfg.prefix[t.prefix].enc, t.rel, target), PS_CHANGE_SYMLINK,
				   t.path, NULL);
	ps_debug("symlink %s -> %s: %d", path, target, r);
	ps_leave();
	*rc = r;
	return 1;
}

int symlink(const char *target, const char *path)
{
	int saved = errno, rc;

	if (!symlink_shadowed(target, AT_FDCWD, path, &rc))
		return REAL(symlink)(target, ps_pass(path));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
	int saved = errno, rc;

	if (!symlink_shadowed(target, dirfd, path, &rc))
		return REAL(symlinkat)(target, ps_pass_dirfd(dirfd, path), ps_pass(path));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

/* Is (dirfd, path) a name in /proc (or /dev/fd, which leads there)? */
static int in_proc(int dirfd, const char *path)
{
	struct statfs sfs;

	if (path[0] == '/')
		return strncmp(path, "/proc/", 6) == 0 || strncmp(path, "/dev/fd/", 8) == 0;
	return REAL(fstatfs)(dirfd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
}

/* A link of /proc that names a file or directory by where the kernel holds it (/proc/self/fd/N of a merged
 * descriptor, /proc/self/exe of a program run from its data file, /proc/self/cwd of a directory made in the
 * shadow) names it by its place in the read-only tree: the program never sees the shadow's own paths, which it
 * could open past the merge. 1 and *n when path is such a link; 0: not one (pass through: the kernel's answer,
 * its errors - a size of 0 or past INT_MAX is EINVAL - included). */
static int readlink_proc(int dirfd, const char *path, char *buf, size_t size, ssize_t *n)
{
	char target[PATH_MAX + 16];
	ssize_t len;

	if (!ps_cfg.shadow[0] || size == 0 || size > INT_MAX || !in_proc(dirfd, path))
		return 0;
	len = REAL(readlinkat)(dirfd, path, target, sizeof(target) - 1);
	if (len < 0 || target[0] != '/')
		return 0; /* (asked again: the kernel's errno, a pipe's name) */
	target[len] = '\0';
	if (!ps_merged_link_name(target, sizeof(target)))
		return 0;
	len = (ssize_t)strlen(target);
	*n = (size_t)len < size ? len : (ssize_t)size; /* truncated, without a NUL, as readlink does */
	memcpy(buf, target, (size_t)*n);
	return 1;
}

/* 1: handled (*n: the length or -errno); 0: pass through. */
static int readlink_shadowed(int dirfd, const char *path, char *buf, size_t size, ssize_t *n)
{
	struct ps_shadow *sh;
	char target[PATH_MAX];
	struct ps_target t;
	int r;

	if (!ps_enter())
		return 0;
	if (readlink_proc(dirfd, path, buf, size, n)) {
		ps_leave();
		return 1;
	}
	sh = ps_shadow_get();
	r = ps_resolve(dirfd, path, 0, &t);
	if (r == 0) {
		ps_leave();
		return 0;
	}
	if (r > 0 && ps_target_lower_shows(&t))
		r = (int)(*n = REAL(readlinkat)(AT_FDCWD, t.path, buf, size)) < 0 ? -errno : 1;
	else if (r > 0 && t.ns.state != PS_NS_SYMLINK)
		r = t.ns.state == PS_NS_ABSENT ? -ENOENT : -EINVAL;
	else if (r > 0 && !sh)
		r = -EROFS;
	else if (r > 0 && (r = ps_ns_readlink(sh, ps_cfg.prefix[t.prefix].enc, t.rel, target, sizeof(target))) >= 0) {
		*n = (size_t)r < size ? r : (ssize_t)size; /* truncated, without a NUL, as readlink does */
		memcpy(buf, target, (size_t)*n);
		r = 1;
	}
	if (r < 0)
		*n = r;
	ps_leave();
	return 1;
}

#define READLINK_RETURN(handled, passthrough, n)                                                                   \
	do {                                                                                                       \
		int saved_ = errno;                                                                                \
		if (!(handled))                                                                                    \
			return passthrough;                                                                        \
		return (ssize_t)ps_ret((n) < 0 ? ps_errno_for_program((int)(n)) : (n), saved_);                   \
	} while (0)

ssize_t readlink(const char *path, char *buf, size_t size)
{
	ssize_t n;

	READLINK_RETURN(readlink_shadowed(AT_FDCWD, path, buf, size, &n), REAL(readlink)(ps_pass(path), buf, size), n);
}

ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	ssize_t n;

	READLINK_RETURN(readlink_shadowed(dirfd, path, buf, size, &n),
			REAL(readlinkat)(ps_pass_dirfd(dirfd, path), ps_pass(path), buf, size), n);
}

ssize_t __readlink_chk(const char *path, char *buf, size_t size, size_t buflen)
{
	ssize_t n;

	if (size > buflen)
		return REAL(__readlink_chk)(path, buf, size, buflen); /* glibc reports the overflow */
	READLINK_RETURN(readlink_shadowed(AT_FDCWD, path, buf, size, &n),
			REAL(__readlink_chk)(ps_pass(path), buf, size, buflen), n);
}

ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t size, size_t buflen)
{
	ssize_t n;

	if (size > buflen)
		return REAL(__readlinkat_chk)(dirfd, path, buf, size, buflen);
	READLINK_RETURN(readlink_shadowed(dirfd, path, buf, size, &n),
			REAL(__readlinkat_chk)(ps_pass_dirfd(dirfd, path), ps_pass(path), buf, size, buflen), n);
}

/* realpath of a name under a prefix is what resolving it gave (glibc's own walk reads links with calls no
 * wrapper sees, and finds nothing of the shadow's). 1: handled (*out, or NULL and errno); 0: pass through. */
static int realpath_shadowed(const char *path, char *resolved, char **out)
{
	struct ps_target t;
	struct stat st;
	int saved = errno, rc;

	if (!ps_enter())
		return 0;
	rc = ps_resolve(AT_FDCWD, path, 1, &t);
	if (rc == 0) {
		ps_leave();
		return 0;
	}
	if (rc > 0)
		rc = ps_target_stat(&t, &st);
	ps_leave();
	*out = NULL;
	if (rc < 0) {
		errno = -ps_errno_for_program(rc);
		return 1;
	}
	*out = resolved ? strcpy(resolved, t.path) : strdup(t.path);
	if (*out)
		errno = saved;
	return 1;
}

/* The kernel's realpath of a name through /proc or /dev (/dev/stdin, /proc/self/fd/N) that ends in the shadow: the
 * file's place in the tree, as readlink_proc says (a shorter name: it fits where the other was). */
static char *realpath_proc(const char *path, char *out)
{
	if (out && ps_cfg.shadow[0] && (strncmp(path, "/proc/", 6) == 0 || strncmp(path, "/dev/", 5) == 0))
		ps_merged_link_name(out, strlen(out) + 1);
	return out;
}

char *realpath(const char *path, char *resolved)
{
	char *out;

	if (!path)
		return REAL(realpath)(path, resolved);
	if (!realpath_shadowed(path, resolved, &out))
		return realpath_proc(path, REAL(realpath)(ps_pass(path), resolved));
	return out;
}

/* What realpath becomes under _FORTIFY_SOURCE when the buffer's size is known (make, cp, tar, sed, find ...). */
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	char *out;

	if (!path || resolvedlen < PATH_MAX) /* glibc reports the overflow */
		return REAL(__realpath_chk)(path, resolved, resolvedlen);
	if (!realpath_shadowed(path, resolved, &out))
		return realpath_proc(path, REAL(__realpath_chk)(ps_pass(path), resolved, resolvedlen));
	return out;
}

char *canonicalize_file_name(const char *path)
{
	char *out;

	if (!path)
		return REAL(canonicalize_file_name)(path);
	if (!realpath_shadowed(path, NULL, &out))
		return realpath_proc(path, REAL(canonicalize_file_name)(ps_pass(path)));
	return out;
}
