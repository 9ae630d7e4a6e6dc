/* namespace.c - unlink, rmdir, mkdir, rename, link and mknod in the merged tree.
 *
 * Entry points: the wrappers (symbols.def).
 * Names change in the shadow's meta tree (ns.h): deleting a name that has a lower entry leaves a whiteout,
 * mkdir makes an opaque directory, rmdir removes a directory whose merged listing is empty. rename moves the
 * shadow's entry: a regular file (a lower one gets a record first) moves with its record, which says where its
 * lower file is, so nothing is copied; a directory made in the shadow moves whole; a directory with lower entries
 * moves by its names (ns.h: a record per lower file, no bytes). Across the prefix boundary or between prefixes,
 * EXDEV, as across a mount, so that mv copies. link hard-links record and data file.
 */
#include "shim.h"
#include "log.h"
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Is there a lower entry at t's path (shown or hidden)? Taking its name away needs a whiteout. */
static int lower_exists(const struct ps_target *t, struct stat *st)
{
	struct stat ignored;

	return REAL(fstatat)(AT_FDCWD, t->path, st ? st : &ignored, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The merged stat of t's directory (the prefix's parent for a prefix's own entries). */
static int parent_stat(const struct ps_target *t, struct stat *st)
{
	struct ps_target parent;
	char *slash;
	int rc = ps_target_parent(t, &parent);

	if (rc < 0)
		return rc;
	if (rc > 0)
		return ps_target_stat(&parent, st);
	strcpy(parent.path, t->path); /* a prefix itself, or its entries: the prefix directory is a lower one */
	slash = strrchr(parent.path, '/');
	if (slash)
		slash[slash == parent.path] = '\0';
	return REAL(fstatat)(AT_FDCWD, parent.path, st, 0) < 0 ? -errno : 0;
}

/* The parent's stat for a change of its entries: 0, or -ENOENT / -ENOTDIR. */
static int changeable_parent(const struct ps_target *t, struct stat *st)
{
	int rc = parent_stat(t, st);

	return rc < 0 ? rc : !S_ISDIR(st->st_mode) ? -ENOTDIR : 0;
}

int ps_may_change_parent(const struct ps_target *t)
{
	struct stat st;
	int rc = changeable_parent(t, &st);

	return rc < 0 ? rc : ps_may_access(&st, W_OK | X_OK, 1);
}

int ps_may_add_name(const struct ps_target *t, enum ps_change_op op, const char *path, const char *to)
{
	struct stat st;
	int rc;

	if ((rc = changeable_parent(t, &st)) < 0 || (rc = ps_change_permit(op, path, to)) < 0)
		return rc;
	return ps_may_access(&st, W_OK | X_OK, 1);
}

/* May the program take t's name away (unlink, rmdir, rename from or over it)? Its directory's write permission,
 * and in a sticky directory (/tmp-like) ownership of the entry or the directory. */
static int may_remove(const struct ps_target *t)
{
	struct stat dir, entry;
	uid_t me = geteuid();
	int rc = ps_may_change_parent(t);

	if (rc < 0 || me == 0 || parent_stat(t, &dir) < 0 || !(dir.st_mode & S_ISVTX) || dir.st_uid == me)
		return rc;
	if ((rc = ps_target_stat(t, &entry)) < 0)
		return rc == -ENOENT ? 0 : rc;
	return entry.st_uid == me ? 0 : -EPERM;
}

static const char *target_enc(const struct ps_target *t)
{
	return ps_cfg.prefix[t->prefix].enc;
}

/* Remove t's name from the merged tree (a whiteout where a lower entry is). */
static int remove_name(const struct ps_target *t, enum ps_change_op op)
{
	struct ps_shadow *sh = ps_shadow_get();
	int rc;

	if (!sh)
		return -EROFS;
	if (!*t->rel)
		return -EBUSY;
	if ((rc = may_remove(t)) < 0)
		return rc;
	return ps_change_done(ps_ns_remove(sh, target_enc(t), t->rel, lower_exists(t, NULL)), op, t->path, NULL);
}

/* The merged listing of directory t has a name in it. 1, 0 or -errno. */
static int dir_has_names(const struct ps_target *t)
{
	struct ps_dirlist l;
	int rc = ps_target_list(t, &l);

	if (rc == 0)
		rc = ps_dirlist_has_names(&l);
	ps_dirlist_free(&l);
	return rc;
}

static int unlink_target(const struct ps_target *t)
{
	struct stat st;

	switch (t->ns.state) {
	case PS_NS_RECORD:
	case PS_NS_SYMLINK:
	case PS_NS_SPECIAL:
		return remove_name(t, PS_CHANGE_UNLINK);
	case PS_NS_DIR:
		return -EISDIR;
	case PS_NS_LOWER:
		if (!lower_exists(t, &st))
			return -ENOENT;
		return S_ISDIR(st.st_mode) ? -EISDIR : remove_name(t, PS_CHANGE_UNLINK);
	default:
		return -ENOENT;
	}
}

static int rmdir_target(const struct ps_target *t)
{
	struct stat st;
	int rc;

	if (t->ns.state == PS_NS_RECORD || t->ns.state == PS_NS_SYMLINK || t->ns.state == PS_NS_SPECIAL)
		return -ENOTDIR;
	if (t->ns.state == PS_NS_LOWER && !lower_exists(t, &st))
		return -ENOENT;
	if (t->ns.state == PS_NS_LOWER && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (t->ns.state != PS_NS_LOWER && t->ns.state != PS_NS_DIR)
		return -ENOENT;
	if ((rc = dir_has_names(t)) != 0)
		return rc < 0 ? rc : -ENOTEMPTY;
	return remove_name(t, PS_CHANGE_RMDIR);
}

/* rmdir of a path ending in "." or "..": what the kernel says (EINVAL, ENOTEMPTY), or 0 for another path. */
static int rmdir_dot_error(const char *path)
{
	const char *last = strrchr(path, '/');

	last = last ? last + 1 : path;
	return strcmp(last, ".") == 0 ? -EINVAL : strcmp(last, "..") == 0 ? -ENOTEMPTY : 0;
}

/* Resolve (dirfd, path) without following a final symlink and run op on it. 1: handled (*rc); 0: pass through. */
static int on_target(int dirfd, const char *path, int (*op)(const struct ps_target *), int *rc)
{
	struct ps_target t;
	int r, dot, denied;

	r = ps_enter_resolved(dirfd, path, 0, &t);
	if (r == 0)
		return 0;
	if (r > 0 && op == rmdir_target && (dot = rmdir_dot_error(path)) < 0)
		r = dot;
	/* before the name is looked at: a read-only filesystem says EROFS even for a missing one */
	if (r > 0 && (denied = ps_change_permit(op == rmdir_target ? PS_CHANGE_RMDIR : PS_CHANGE_UNLINK, t.path, NULL)))
		r = denied;
	*rc = r < 0 ? r : op(&t);
	ps_debug("%s %s: %d", op == rmdir_target ? "rmdir" : "unlink", path, *rc); /* (remove: unlink first) */
	ps_leave();
	return 1;
}

int unlink(const char *path)
{
	int saved = errno, rc;

	if (!on_target(AT_FDCWD, path, unlink_target, &rc))
		return REAL(unlink)(ps_pass(path));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int rmdir(const char *path)
{
	int saved = errno, rc;

	if (!on_target(AT_FDCWD, path, rmdir_target, &rc))
		return REAL(rmdir)(ps_pass(path));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	int saved = errno, rc;

	if (!on_target(dirfd, path, (flags & AT_REMOVEDIR) ? rmdir_target : unlink_target, &rc))
		return REAL(unlinkat)(ps_pass_dirfd(dirfd, path), ps_pass(path), flags);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int remove(const char *path)
{
	int saved = errno, rc;

	if (!on_target(AT_FDCWD, path, unlink_target, &rc))
		return REAL(remove)(ps_pass(path));
	if (rc == -EISDIR) /* as glibc's remove: a directory is removed with rmdir */
		on_target(AT_FDCWD, path, rmdir_target, &rc);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

/* 1: handled (*rc); 0: pass through. */
static int mkdir_shadowed(int dirfd, const char *path, mode_t mode, int *rc)
{
	struct ps_shadow *sh;
	struct ps_target t;
	int r;

	r = ps_enter_resolved(dirfd, path, 0, &t);
	if (r == 0)
		return 0;
	if (r > 0 && (r = ps_target_free(&t)) == 0 && !(sh = ps_shadow_get()))
		r = -EROFS;
	else if (r == 0 && (r = ps_may_add_name(&t, PS_CHANGE_MKDIR, t.path, NULL)) == 0)
		r = ps_change_done(ps_ns_mkdir(sh, target_enc(&t), t.rel, mode), PS_CHANGE_MKDIR, t.path, NULL);
	ps_debug("mkdir %s: %d", path, r);
	ps_leave();
	*rc = r;
	return 1;
}

int mkdir(const char *path, mode_t mode)
{
	int saved = errno, rc;

	if (!mkdir_shadowed(AT_FDCWD, path, mode, &rc))
		return REAL(mkdir)(ps_pass(path), mode);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	int saved = errno, rc;

	if (!mkdir_shadowed(dirfd, path, mode, &rc))
		return REAL(mkdirat)(ps_pass_dirfd(dirfd, path), ps_pass(path), mode);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

/* What rename may put at dst: 0 when dst is free or a file a file may replace, else -errno. */
static int rename_dst_free(const struct ps_target *dst, int src_is_dir)
{
	struct stat st;
	int rc;

	if ((rc = ps_target_stat(dst, &st)) == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (S_ISDIR(st.st_mode))
		return !src_is_dir ? -EISDIR : dir_has_names(dst) != 0 ? -ENOTEMPTY : 0;
	return src_is_dir ? -ENOTDIR : 0;
}

/* Make the entry at t one of the shadow's own, so that it can change names: a record (a lower regular file gets
 * one, which copies nothing: its origin will say where its lower file is), an opaque directory or a symlink of
 * the shadow's. A directory with lower entries, a lower symlink or device: EXDEV, as across a mount - mv copies
 * them and deletes the original. *f gets the record's file (NULL for the others). */
static int own_entry(const struct ps_target *t, const struct stat *st, struct ps_file **f)
{
	*f = NULL;
	if (t->ns.state == PS_NS_RECORD)
		return ps_target_lookup(t, f);
	if (t->ns.state == PS_NS_SYMLINK || t->ns.state == PS_NS_SPECIAL || (t->ns.state == PS_NS_DIR && t->ns.opaque))
		return 0;
	if (t->ns.state != PS_NS_LOWER || !S_ISREG(st->st_mode))
		return -EXDEV;
	return ps_target_shadow_lower(t, st, f);
}

static int rename_move(const struct ps_target *src, const struct ps_target *dst, const struct stat *st,
		       int noreplace)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file_name dname;
	struct ps_file *f;
	int rc, hide;

	if ((rc = rename_dst_free(dst, S_ISDIR(st->st_mode))) < 0 || (rc = may_remove(dst)) < 0 ||
	    (rc = may_remove(src)) < 0)
		return rc;
	if (S_ISDIR(st->st_mode) && ps_target_lower_shows(src)) /* one record per lower file: nothing copied */
		return ps_ns_move_copying_names(sh, target_enc(src), src->rel, dst->rel, noreplace);
	if ((rc = own_entry(src, st, &f)) < 0)
		return rc;
	hide = lower_exists(src, NULL); /* a lower entry stays behind at the old name: hidden in the same step */
	if (f) {
		ps_target_name(dst, &dname);
		rc = ps_file_rename(f, &dname, noreplace, hide);
		ps_file_put(f);
	} else {
		rc = ps_ns_move(sh, target_enc(src), src->rel, target_enc(dst), dst->rel, noreplace, hide);
	}
	return rc;
}

/* RENAME_EXCHANGE: both names exist and become the shadow's own, then swap. */
static int rename_exchange(const struct ps_target *a, const struct ps_target *b, const struct stat *ast)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file *fa = NULL, *fb = NULL;
	struct stat bst;
	int rc;

	if ((rc = ps_target_stat(b, &bst)) < 0 || (rc = ps_may_change_parent(a)) < 0 ||
	    (rc = ps_may_change_parent(b)) < 0)
		return rc;
	if ((S_ISDIR(ast->st_mode) && ps_path_below(b->path, a->path)) ||
	    (S_ISDIR(bst.st_mode) && ps_path_below(a->path, b->path)))
		return -EINVAL; /* one inside the other */
	if ((rc = own_entry(a, ast, &fa)) == 0 && (rc = own_entry(b, &bst, &fb)) == 0 &&
	    (!fa || (rc = ps_file_keep_origin(fa)) == 0) && (!fb || (rc = ps_file_keep_origin(fb)) == 0))
		rc = ps_ns_exchange(sh, target_enc(a), a->rel, b->rel);
	if (fa)
		ps_file_put(fa);
	if (fb)
		ps_file_put(fb);
	return rc;
}

/* Renames inside the prefixes change the meta tree (ns.h): what moves is the shadow's own entry, the lower file
 * stays where it is. A rename between two prefixes is EXDEV, as between two mounts. */
static int rename_both_inside(const struct ps_target *src, const struct ps_target *dst, unsigned int flags)
{
	struct stat st, dst_st;
	int rc;

	if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)) == (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL; /* RENAME_WHITEOUT is the kernel's for overlayfs */
	if ((rc = ps_change_permit(PS_CHANGE_RENAME, src->path, dst->path)) < 0)
		return rc; /* before the names are looked at, as a read-only filesystem says it */
	if (!ps_shadow_get())
		return -EROFS;
	if ((rc = ps_target_stat(src, &st)) < 0)
		return rc;
	if (src->prefix != dst->prefix)
		return -EXDEV;
	if (strcmp(src->path, dst->path) == 0)
		return 0;
	if (S_ISDIR(st.st_mode) && ps_path_below(dst->path, src->path))
		return -EINVAL; /* into itself */
	if (flags & RENAME_EXCHANGE)
		return ps_change_done(rename_exchange(src, dst, &st), PS_CHANGE_RENAME, src->path, dst->path);
	if ((flags & RENAME_NOREPLACE) && (rc = ps_target_free(dst)) < 0)
		return rc;
	if (!(flags & RENAME_NOREPLACE) && ps_target_stat(dst, &dst_st) == 0 && !S_ISDIR(st.st_mode) &&
	    dst_st.st_dev == st.st_dev && dst_st.st_ino == st.st_ino)
		return 0; /* two names of one file: rename does nothing */
	return ps_change_done(rename_move(src, dst, &st, (flags & RENAME_NOREPLACE) != 0), PS_CHANGE_RENAME,
			      src->path, dst->path);
}

/* Both names of a rename or a link: 0 pass through (neither under a prefix); 1 answered (*rc: a resolution error,
 * or EXDEV across the prefix boundary, as across a mount); 2 both under a prefix (src, dst filled). The guard is
 * held unless 0 is returned. */
static int resolve_both(int olddirfd, const char *oldpath, int follow_old, int newdirfd, const char *newpath,
			struct ps_target *src, struct ps_target *dst, int *rc)
{
	int rs, rd;

	if (!ps_enter())
		return 0;
	rs = ps_resolve_outside_links(olddirfd, oldpath, follow_old, src);
	rd = ps_resolve_outside_links(newdirfd, newpath, 0, dst);
	if (rs == 0 && rd == 0) {
		ps_leave();
		return 0;
	}
	if (rs > 0 && rd > 0)
		return 2;
	*rc = rs < 0 ? rs : rd < 0 ? rd : -EXDEV;
	return 1;
}

static int ends_in_slash(const char *path)
{
	size_t n = strlen(path);

	return n > 1 && path[n - 1] == '/';
}

/* "name/" names a directory: a file cannot be renamed to or from one (ENOTDIR), and a link or symlink cannot be
 * made by one (ENOENT; EEXIST when the name is taken), as the kernel says before anything else. */
static int rename_slash_error(const char *oldpath, const char *newpath, const struct ps_target *src,
			      const struct ps_target *dst, unsigned int flags)
{
	struct stat st;

	if (!ends_in_slash(oldpath) && !ends_in_slash(newpath))
		return 0;
	if ((flags & RENAME_NOREPLACE) && ps_target_free(dst) < 0)
		return 0; /* EEXIST comes first */
	return ps_target_stat(src, &st) == 0 && !S_ISDIR(st.st_mode) ? -ENOTDIR : 0;
}

static int create_slash_error(const char *newpath, const struct ps_target *dst)
{
	if (!ends_in_slash(newpath))
		return 0;
	return ps_target_free(dst) < 0 ? -EEXIST : -ENOENT;
}

/* 1: handled (*rc), 0: pass through (neither side under a prefix). */
static int rename_shadowed(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags,
			   int *rc)
{
	struct ps_target src, dst;
	int r = resolve_both(olddirfd, oldpath, 0, newdirfd, newpath, &src, &dst, rc);

	if (r == 0)
		return 0;
	if (r == 2 && !(*rc = rename_slash_error(oldpath, newpath, &src, &dst, flags)))
		*rc = rename_both_inside(&src, &dst, flags);
	ps_debug("rename %s %s: %d", oldpath, newpath, *rc);
	ps_leave();
	return 1;
}

int rename(const char *oldpath, const char *newpath)
{
	int saved = errno, rc;

	if (!rename_shadowed(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, &rc))
		return REAL(rename)(ps_pass(oldpath), ps_pass(newpath));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	int saved = errno, rc;

	if (!rename_shadowed(olddirfd, oldpath, newdirfd, newpath, 0, &rc))
		return REAL(renameat)(ps_pass_dirfd(olddirfd, oldpath), ps_pass(oldpath), ps_pass_dirfd(newdirfd, newpath),
				      ps_pass(newpath));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)
{
	int saved = errno, rc;

	if (!rename_shadowed(olddirfd, oldpath, newdirfd, newpath, flags, &rc))
		return REAL(renameat2)(ps_pass_dirfd(olddirfd, oldpath), ps_pass(oldpath), ps_pass_dirfd(newdirfd, newpath),
				       ps_pass(newpath), flags);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

/* A symlink of the shadow's is "linked" by a copy: symlinks hold nothing but their target. */
static int link_symlink(const struct ps_target *src, const struct ps_target *dst)
{
	struct ps_shadow *sh = ps_shadow_get();
	char target[PATH_MAX];
	int rc = sh ? ps_ns_readlink(sh, target_enc(src), src->rel, target, sizeof(target)) : -EROFS;

	return rc < 0 ? rc : ps_ns_symlink(sh, target_enc(dst), dst->rel, target);
}

/* A hard link links the file's record and data file (file.h): one file under two names, each finding its lower
 * file through the record's origin. A lower file gets its record first, which copies nothing. */
static int link_both_inside(const struct ps_target *src, const struct ps_target *dst)
{
	struct ps_file_name dname;
	struct ps_file *f;
	struct stat st;
	int rc;

	if ((rc = ps_target_stat(src, &st)) < 0)
		return rc;
	if (S_ISDIR(st.st_mode))
		return -EPERM;
	if (src->prefix != dst->prefix)
		return -EXDEV;
	if ((rc = ps_target_free(dst)) < 0)
		return rc;
	if ((rc = ps_target_stat(src, &st)) < 0 || (rc = ps_may_add_name(dst, PS_CHANGE_LINK, src->path, dst->path)) < 0 ||
	    (rc = own_entry(src, &st, &f)) < 0)
		return rc;
	if (!f) /* a symlink of the shadow's: another with the same target */
		rc = src->ns.state == PS_NS_SYMLINK ? link_symlink(src, dst) : -EXDEV;
	else {
		ps_target_name(dst, &dname);
		rc = ps_file_link(f, &dname);
		ps_file_put(f);
	}
	return ps_change_done(rc, PS_CHANGE_LINK, src->path, dst->path);
}

/* The source of a link given by descriptor: the file it names in the merged tree (a data file's own name, a lower
 * file's), linked as a link by name would be; one not under a prefix cannot be linked into one (EXDEV). */
static int link_by_name(int fd, const struct ps_target *dst)
{
	struct ps_target src;
	struct ps_open *o = ps_fd_get(fd);
	char name[PATH_MAX];
	int rc;

	if (o) { /* the shim's own descriptor: the name it was opened by */
		snprintf(name, sizeof(name), "%s", o->path);
		ps_open_put(o);
	} else if (!ps_fd_shadow_name(fd, name, sizeof(name))) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = REAL(readlinkat)(AT_FDCWD, link, name, sizeof(name) - 1)) < 0)
			return -EBADF;
		name[n] = '\0';
	}
	if ((rc = ps_resolve(AT_FDCWD, name, 0, &src)) <= 0)
		return rc < 0 ? rc : -EXDEV;
	return link_both_inside(&src, dst);
}

/* linkat(fd, "", dirfd, name, AT_EMPTY_PATH) of an O_TMPFILE file made under a prefix (open.c: an unnamed file
 * of the data tree) gives it a name. 1: handled (*rc), 0: not such a call. */
static int link_unnamed(int fd, int newdirfd, const char *newpath, int *rc)
{
	char link[64], where[PATH_MAX], data_root[PATH_MAX + 8];
	struct ps_shadow *sh;
	struct ps_file_name name;
	struct ps_target dst;
	struct stat st;
	ssize_t n;
	int r;

	if (!ps_enter())
		return 0;
	if ((r = ps_resolve_outside_links(newdirfd, newpath, 0, &dst)) <= 0) {
		ps_leave();
		if (r == 0)
			return 0; /* to a name outside the prefixes: the kernel's business */
		*rc = r;
		return 1;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	snprintf(data_root, sizeof(data_root), "%s/data/", ps_cfg.shadow);
	n = REAL(readlinkat)(AT_FDCWD, link, where, sizeof(where) - 1);
	if (n >= 0)
		where[n] = '\0';
	if (n < 0 || REAL(fstat)(fd, &st) < 0)
		r = -EBADF;
	else if ((r = create_slash_error(newpath, &dst)) < 0 || (r = ps_target_free(&dst)) < 0)
		; /* the new name is looked at first, as the kernel does */
	else if (st.st_nlink != 0) /* a file with a name: linked by the name it has */
		r = link_by_name(fd, &dst);
	else if (strncmp(where, data_root, strlen(data_root)) != 0 || !(sh = ps_shadow_get()))
		r = -EXDEV; /* an unnamed file of another filesystem */
	else if ((r = ps_may_add_name(&dst, PS_CHANGE_CREATE, dst.path, NULL)) == 0) {
		ps_target_name(&dst, &name);
		r = ps_change_done(ps_file_adopt(sh, &name, fd), PS_CHANGE_CREATE, dst.path, NULL);
	}
	ps_leave();
	*rc = r;
	return 1;
}

/* 1: handled (*rc), 0: pass through. */
static int link_shadowed(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags, int *rc)
{
	struct ps_target src, dst;
	int r, fd;

	if ((flags & AT_EMPTY_PATH) && !*oldpath)
		return link_unnamed(olddirfd, newdirfd, newpath, rc);
	if ((flags & AT_SYMLINK_FOLLOW) && (fd = ps_own_fd_name(oldpath)) >= 0) /* the other way open(2) names */
		return link_unnamed(fd, newdirfd, newpath, rc);
	r = resolve_both(olddirfd, oldpath, (flags & AT_SYMLINK_FOLLOW) != 0, newdirfd, newpath, &src, &dst, rc);

	if (r == 0)
		return 0;
	if (r == 2 && !(*rc = create_slash_error(newpath, &dst)))
		*rc = link_both_inside(&src, &dst);
	ps_debug("link %s %s: %d", oldpath, newpath, *rc);
	ps_leave();
	return 1;
}

int link(const char *oldpath, const char *newpath)
{
	int saved = errno, rc;

	if (!link_shadowed(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, &rc))
		return REAL(link)(ps_pass(oldpath), ps_pass(newpath));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	int saved = errno, rc;

	if (!link_shadowed(olddirfd, oldpath, newdirfd, newpath, flags, &rc))
		return REAL(linkat)(ps_pass_dirfd(olddirfd, oldpath), ps_pass(oldpath), ps_pass_dirfd(newdirfd, newpath),
				    ps_pass(newpath), flags);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

/* mknod of a regular file (tar --xattrs makes each file so, to give it its attributes before its bytes): an empty
 * new file, as open(O_CREAT | O_EXCL) makes it. */
static int make_empty_file(const struct ps_target *t, mode_t mode)
{
	int fd = ps_open_target(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	struct ps_open *o;

	if (fd < 0)
		return fd;
	if ((o = ps_fd_forget(fd)))
		ps_open_put(o);
	REAL(close)(fd);
	return 0;
}

/* mknod and mkfifo: a FIFO, socket or device made in the shadow (ns.h). 1: handled (*rc); 0: pass through. */
static int mknod_shadowed(int dirfd, const char *path, mode_t mode, dev_t dev, int *rc)
{
	struct ps_shadow *sh = NULL;
	struct ps_target t;
	int r;

	r = ps_enter_resolved(dirfd, path, 0, &t);
	if (r == 0)
		return 0;
	if (r > 0 && (r = ps_target_free(&t)) == 0 && path[strlen(path) - 1] == '/')
		r = -ENOENT; /* "x/" names a directory, which mknod does not make */
	else if (r == 0 && (S_ISREG(mode) || (mode & S_IFMT) == 0))
		r = make_empty_file(&t, mode);
	else if (r == 0 && S_ISDIR(mode))
		r = -EPERM;
	else if (r == 0 && !(sh = ps_shadow_get()))
		r = -EROFS;
	else if (r == 0 && (r = ps_may_add_name(&t, PS_CHANGE_MKNOD, t.path, NULL)) == 0)
		r = ps_change_done(ps_ns_mknod(sh, target_enc(&t), t.rel, mode, dev), PS_CHANGE_MKNOD, t.path, NULL);
	ps_debug("mknod %s 0%o: %d", path, (unsigned)mode, r);
	ps_leave();
	*rc = r;
	return 1;
}

int mknod(const char *path, mode_t mode, dev_t dev)
{
	int saved = errno, rc;

	if (!mknod_shadowed(AT_FDCWD, path, mode, dev, &rc))
		return REAL(mknod)(ps_pass(path), mode, dev);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	int saved = errno, rc;

	if (!mknod_shadowed(dirfd, path, mode, dev, &rc))
		return REAL(mknodat)(ps_pass_dirfd(dirfd, path), ps_pass(path), mode, dev);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int mkfifo(const char *path, mode_t mode)
{
	int saved = errno, rc;

	if (!mknod_shadowed(AT_FDCWD, path, S_IFIFO | (mode & 07777), 0, &rc))
		return REAL(mkfifo)(ps_pass(path), mode);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	int saved = errno, rc;

	if (!mknod_shadowed(dirfd, path, S_IFIFO | (mode & 07777), 0, &rc))
		return REAL(mkfifoat)(ps_pass_dirfd(dirfd, path), ps_pass(path), mode);
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}
