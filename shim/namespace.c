/* namespace.c - unlink and rename, as far as the foundation goes: files that exist only in the shadow.
 *
 * Entry points: the wrappers (symbols.def).
 * A file created under a prefix can be removed, and renamed within the prefixes (over a lower file too: the
 * moved record has no lower file, so it hides the one underneath). This is what save-by-rename needs (sed -i,
 * editors, os.replace). Deleting or renaming a lower file needs whiteouts and fails with EROFS until then; a
 * rename across the prefix boundary fails with EXDEV, as across a mount, so that mv falls back to copy+delete.
 */
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Does a lower file sit at t's path (under a record that was renamed over it)? Removing or renaming that record
 * away would bring the lower file back: until whiteouts exist, EROFS. */
static int hides_lower(const struct ps_target *t)
{
	struct stat st;

	return REAL(fstatat)(AT_FDCWD, t->path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* 1: handled (result in *rc); 0: pass through. */
static int unlink_shadowed(int dirfd, const char *path, int *rc)
{
	struct ps_target t;
	struct ps_file *f;
	int r;

	if (!ps_enter())
		return 0;
	r = ps_resolve(dirfd, path, 0, &t);
	if (r > 0) {
		r = ps_target_lookup(&t, &f);
		if (r == 0) {
			r = f->lower_fd >= 0 || hides_lower(&t) ? -EROFS : ps_file_unlink(f);
			ps_file_put(f);
		} else if (r == -ENOENT) {
			r = 0; /* not shadowed: the real call reports what the lower tree says */
			ps_leave();
			return 0;
		}
		if (r == -EROFS)
			ps_debug("%s: deleting a lower file is not supported yet", t.path);
		*rc = r;
		r = 1;
	} else if (r < 0) {
		*rc = r;
		r = 1;
	}
	ps_leave();
	return r;
}

int unlink(const char *path)
{
	int saved = errno, rc;

	if (!unlink_shadowed(AT_FDCWD, path, &rc))
		return REAL(unlink)(path);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	int saved = errno, rc;

	if ((flags & AT_REMOVEDIR) || !unlink_shadowed(dirfd, path, &rc))
		return REAL(unlinkat)(dirfd, path, flags);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int remove(const char *path)
{
	int saved = errno, rc;

	if (!unlink_shadowed(AT_FDCWD, path, &rc))
		return REAL(remove)(path);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

/* Does t name something in the merged tree (a record or a lower entry)? */
static int target_exists(const struct ps_target *t, struct stat *lst)
{
	struct ps_file *f;

	if (ps_target_lookup(t, &f) == 0) {
		ps_file_put(f);
		lst->st_mode = S_IFREG;
		return 1;
	}
	return REAL(fstatat)(AT_FDCWD, t->path, lst, AT_SYMLINK_NOFOLLOW) == 0;
}

static int rename_both_inside(const struct ps_target *src, const struct ps_target *dst, unsigned int flags)
{
	struct ps_file_name dname;
	struct ps_file *f;
	struct stat dst_st;
	int rc;

	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE and RENAME_WHITEOUT wait for the merged namespace */
	if (strcmp(src->path, dst->path) == 0)
		return 0;
	rc = ps_target_lookup(src, &f);
	if (rc == -ENOENT)
		return REAL(fstatat)(AT_FDCWD, src->path, &dst_st, AT_SYMLINK_NOFOLLOW) == 0 ? -EROFS : -ENOENT;
	if (rc < 0)
		return rc;
	if (f->lower_fd >= 0 || hides_lower(src)) {
		ps_debug("%s: renaming a lower file is not supported yet", src->path);
		rc = -EROFS;
	} else if (target_exists(dst, &dst_st) && ((flags & RENAME_NOREPLACE) || S_ISDIR(dst_st.st_mode))) {
		rc = S_ISDIR(dst_st.st_mode) ? -EISDIR : -EEXIST;
	} else {
		ps_target_name(dst, &dname);
		rc = ps_file_rename(f, &dname);
	}
	ps_file_put(f);
	return rc;
}

/* 1: handled (*rc), 0: pass through (neither side under a prefix). */
static int rename_shadowed(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags,
			   int *rc)
{
	struct ps_target src, dst;
	int rs, rd;

	if (!ps_enter())
		return 0;
	rs = ps_resolve(olddirfd, oldpath, 0, &src);
	rd = ps_resolve(newdirfd, newpath, 0, &dst);
	if (rs == 0 && rd == 0) {
		ps_leave();
		return 0;
	}
	if (rs < 0 || rd < 0)
		*rc = rs < 0 ? rs : rd;
	else if (rs == 0 || rd == 0)
		*rc = -EXDEV; /* across the prefix boundary, as across a mount */
	else
		*rc = rename_both_inside(&src, &dst, flags);
	ps_leave();
	return 1;
}

int rename(const char *oldpath, const char *newpath)
{
	int saved = errno, rc;

	if (!rename_shadowed(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, &rc))
		return REAL(rename)(oldpath, newpath);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	int saved = errno, rc;

	if (!rename_shadowed(olddirfd, oldpath, newdirfd, newpath, 0, &rc))
		return REAL(renameat)(olddirfd, oldpath, newdirfd, newpath);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	int saved = errno, rc;

	if (!rename_shadowed(olddirfd, oldpath, newdirfd, newpath, flags, &rc))
		return REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
	return (int)ps_ret(rc < 0 ? ps_errno_for_program(rc) : 0, saved);
}

/* chmod of a file that exists only in the shadow changes its data file, whose mode is the file's (what a linker
 * needs to make its output executable). A lower file's mode is the lower file's until records carry a mode of
 * their own: EROFS - also where the lower tree is writable, since nothing may change it. 1: handled (result in
 * *rc); 0: pass through. */
static int chmod_shadowed(int dirfd, const char *path, mode_t mode, int flags, int *rc)
{
	struct ps_target t;
	struct ps_file *f;
	int r;

	if (!ps_enter())
		return 0;
	r = ps_resolve(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &t);
	if (r > 0) {
		r = ps_target_lookup(&t, &f);
		if (r == -ENOENT) /* never the lower file, even where the kernel would let it change */
			r = -EROFS;
		if (r == 0) {
			r = f->lower_fd >= 0 ? -EROFS : REAL(fchmod)(f->data_fd, mode) < 0 ? -errno : 0;
			ps_file_put(f);
		}
	} else if (r == 0) {
		ps_leave();
		return 0;
	}
	ps_leave();
	*rc = r;
	return 1;
}

int chmod(const char *path, mode_t mode)
{
	int saved = errno, rc;

	if (!chmod_shadowed(AT_FDCWD, path, mode, 0, &rc))
		return REAL(chmod)(path, mode);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	int saved = errno, rc;

	if (!chmod_shadowed(dirfd, path, mode, flags, &rc))
		return REAL(fchmodat)(dirfd, path, mode, flags);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int fchmod(int fd, mode_t mode)
{
	struct ps_open *o = ps_fd_get(fd);
	int lower_backed;

	if (!o)
		return REAL(fchmod)(fd, mode);
	lower_backed = !o->file || o->file->lower_fd >= 0; /* a plain lower fd, or a file with a lower file */
	ps_open_put(o);
	if (!lower_backed)
		return REAL(fchmod)(fd, mode);
	errno = EROFS;
	return -1;
}
