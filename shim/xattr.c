/* xattr.c - extended attributes by path and by descriptor, in the merged tree.
 *
 * Entry points: the wrappers (symbols.def).
 * A POSIX ACL that says no more than a mode is set as that mode (chmod). A name whose lower entry shows reads
 * the lower entry's attributes (a shadowed file with lower bytes too: they
 * are the file's); a file or directory that lives wholly in the shadow has them on its data file or directory,
 * where they are also set and removed (tar x and cp -a restore them onto what they create). Setting one on a
 * lower entry fails with EROFS - also where the lower tree is writable, since nothing may change it - until
 * records carry attributes of their own. A deleted name is ENOENT.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

/* Where the attributes of (path) live: 1 and *real_path filled, 0 to pass through, -errno; for a change (writes)
 * to a lower entry's, 2 and the lower entry's path. Guard held. */
static int xattr_place(const char *path, int follow, int writes, char *real_path, size_t sz)
{
	struct ps_shadow *sh;
	struct ps_target t;
	struct ps_file *f;
	char data[PATH_MAX];
	int rc = writes ? ps_resolve_outside_links(AT_FDCWD, path, follow, &t) : ps_resolve(AT_FDCWD, path, follow, &t), own;

	if (rc <= 0)
		return rc;
	own = (t.ns.state == PS_NS_DIR && t.ns.opaque) || t.ns.state == PS_NS_SYMLINK || t.ns.state == PS_NS_SPECIAL;
	if (t.ns.state == PS_NS_RECORD) { /* a file with a lower file: that file's, wherever it is now */
		if ((rc = ps_target_lookup(&t, &f)) < 0)
			return rc;
		own = f->lower_fd < 0;
		rc = own ? 0 : ps_file_lower_path(f, real_path, sz);
		ps_file_put(f);
		if (!own)
			return rc < 0 ? rc : writes ? 2 : 1;
	} else if (!own && !ps_target_lower_shows(&t)) {
		return -ENOENT;
	}
	if (!own) {
		snprintf(real_path, sz, "%s", t.path);
		return writes ? 2 : 1;
	}
	if (!(sh = ps_shadow_get()))
		return -EROFS;
	rc = t.ns.state == PS_NS_SYMLINK ? ps_shadow_path(data, sizeof(data), "meta", ps_cfg.prefix[t.prefix].enc, t.rel)
					 : ps_target_data_path(&t, data, sizeof(data));
	if (rc < 0)
		return rc;
	return snprintf(real_path, sz, "%s/%s", sh->path, data) >= (int)sz ? -ENAMETOOLONG : 1;
}

/* A change to a lower entry's attributes: EROFS - nothing may change it - except removing one it does not have,
 * which the kernel answers ENODATA (and libacl's "delete the default ACL", which cp -a makes, takes for done). */
static int lower_change(const char *lower, const char *removed, int follow)
{
	if (removed && (follow ? REAL(getxattr)(lower, removed, NULL, 0) : REAL(lgetxattr)(lower, removed, NULL, 0)) < 0 &&
	    errno == ENODATA)
		return -ENODATA;
	return -EROFS;
}

/* Run call on the attributes' real place: `XATTR(passthrough, path, follow, writes, removed, call using rp)`. */
#define XATTR(passthrough, path, follow, writes, removed, call)                                                    \
	do {                                                                                                       \
		char rp[PATH_MAX * 2];                                                                             \
		int saved_ = errno, rc_;                                                                           \
		if (!ps_enter())                                                                                   \
			return passthrough;                                                                        \
		rc_ = xattr_place(path, follow, writes, rp, sizeof(rp));                                           \
		if (rc_ == 2)                                                                                      \
			rc_ = lower_change(rp, removed, follow);                                                   \
		ps_leave();                                                                                        \
		if (rc_ == 0)                                                                                      \
			return passthrough;                                                                        \
		if (rc_ < 0)                                                                                       \
			return (int)ps_ret(ps_errno_for_program(rc_), saved_);                                     \
		return call;                                                                                       \
	} while (0)

ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	XATTR(REAL(getxattr)(ps_pass(path), name, value, size), path, 1, 0, NULL, REAL(getxattr)(rp, name, value, size));
}

ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	XATTR(REAL(lgetxattr)(ps_pass(path), name, value, size), path, 0, 0, NULL, REAL(lgetxattr)(rp, name, value, size));
}

ssize_t listxattr(const char *path, char *list, size_t size)
{
	XATTR(REAL(listxattr)(ps_pass(path), list, size), path, 1, 0, NULL, REAL(listxattr)(rp, list, size));
}

ssize_t llistxattr(const char *path, char *list, size_t size)
{
	XATTR(REAL(llistxattr)(ps_pass(path), list, size), path, 0, 0, NULL, REAL(llistxattr)(rp, list, size));
}

/* A POSIX ACL with nothing but the owner, group and other entries says what a mode says: cp -a and tar restore
 * one on every file and directory they copy. Its permission bits, or -1 for any other ACL. */
static int trivial_acl_mode(const char *name, const void *value, size_t size)
{
	const unsigned char *v = value;
	int mode = 0, seen = 0;

	/* version 2 (32 bits), then exactly the three entries - tag (2 bytes), perm (2), id (4) - each once */
	if (strcmp(name, "system.posix_acl_access") != 0 || size != 4 + 3 * 8 || v[0] != 2 || v[1] || v[2] || v[3])
		return -1;
	for (size_t off = 4; off < size; off += 8) {
		unsigned tag = v[off] | (unsigned)v[off + 1] << 8, perm = v[off + 2] | (unsigned)v[off + 3] << 8;
		int shift = tag == 0x01 ? 6 : tag == 0x04 ? 3 : tag == 0x20 ? 0 : -1; /* USER_OBJ, GROUP_OBJ, OTHER */

		if (shift < 0 || perm > 7 || (seen & (1 << shift)))
			return -1;
		seen |= 1 << shift;
		mode |= (int)perm << shift;
	}
	return mode;
}

/* setxattr of a trivial ACL under a prefix is a chmod (which the shim keeps for lower files and directories too).
 * 1: done (*rc), 0: not such a call. */
static int acl_as_chmod(const char *path, const char *name, const void *value, size_t size, int follow, int *rc)
{
	int perm = trivial_acl_mode(name, value, size);
	struct stat st;

	if (perm < 0 || ps_path_in_prefix(path, follow) <= 0)
		return 0;
	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
		*rc = -1;
	else if (S_ISLNK(st.st_mode))
		return 0;
	else
		*rc = chmod(path, (st.st_mode & 07000) | (mode_t)perm);
	return 1;
}

int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	int rc;

	if (acl_as_chmod(path, name, value, size, 1, &rc))
		return rc;
	XATTR(REAL(setxattr)(ps_pass(path), name, value, size, flags), path, 1, 1, NULL,
	      REAL(setxattr)(rp, name, value, size, flags));
}

int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	int rc;

	if (acl_as_chmod(path, name, value, size, 0, &rc))
		return rc;
	XATTR(REAL(lsetxattr)(ps_pass(path), name, value, size, flags), path, 0, 1, NULL,
	      REAL(lsetxattr)(rp, name, value, size, flags));
}

int removexattr(const char *path, const char *name)
{
	XATTR(REAL(removexattr)(ps_pass(path), name), path, 1, 1, name, REAL(removexattr)(rp, name));
}

int lremovexattr(const char *path, const char *name)
{
	XATTR(REAL(lremovexattr)(ps_pass(path), name), path, 0, 1, name, REAL(lremovexattr)(rp, name));
}

/* The lower file behind fd when its attributes are that file's (a plain lower fd, or a merged file with a lower
 * file), else -1. */
static int attrs_lower_fd(const struct ps_open *o)
{
	if (o->kind == PS_OPEN_LOWER && !o->file)
		return -2; /* the descriptor itself */
	return o->file ? o->file->lower_fd : -1;
}

/* By descriptor: run call with lfd, the lower file's descriptor, where the attributes are a lower file's; any
 * other descriptor passes. `FXATTR(passthrough, fd, writes, removed, call using lfd)`. */
#define FXATTR(passthrough, fd, writes, removed, call)                                                             \
	do {                                                                                                       \
		struct ps_open *o_;                                                                                \
		long rc_;                                                                                          \
		int saved_ = errno, lfd;                                                                           \
		if (!ps_enter())                                                                                   \
			return passthrough;                                                                        \
		o_ = ps_fd_get(fd);                                                                                \
		lfd = o_ ? attrs_lower_fd(o_) : -1;                                                                \
		if (lfd == -1) {                                                                                   \
			if (o_)                                                                                    \
				ps_open_put(o_);                                                                   \
			ps_leave();                                                                                \
			return passthrough;                                                                        \
		}                                                                                                  \
		if (lfd == -2)                                                                                     \
			lfd = fd;                                                                                  \
		if (writes)                                                                                        \
			rc_ = (removed) && REAL(fgetxattr)(lfd, removed, NULL, 0) < 0 && errno == ENODATA ? -ENODATA \
									       : -EROFS;    \
		else if ((rc_ = (call)) < 0)                                                                       \
			rc_ = -errno;                                                                              \
		ps_open_put(o_);                                                                                   \
		ps_leave();                                                                                        \
		return ps_ret(rc_ < 0 ? ps_errno_for_program((int)rc_) : rc_, saved_);                             \
	} while (0)

ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	FXATTR(REAL(fgetxattr)(fd, name, value, size), fd, 0, NULL, REAL(fgetxattr)(lfd, name, value, size));
}

ssize_t flistxattr(int fd, char *list, size_t size)
{
	FXATTR(REAL(flistxattr)(fd, list, size), fd, 0, NULL, REAL(flistxattr)(lfd, list, size));
}

int fremovexattr(int fd, const char *name)
{
	FXATTR(REAL(fremovexattr)(fd, name), fd, 1, name, 0);
}

/* cp -p and cp -a set a file's mode as a trivial ACL through its descriptor: a chmod, which the shim keeps for a
 * file with a lower file too. Any other attribute of such a file is its lower file's, which nothing may change. */
int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	int perm = trivial_acl_mode(name, value, size);
	struct ps_open *o;
	struct stat st;

	if (perm < 0)
		FXATTR(REAL(fsetxattr)(fd, name, value, size, flags), fd, 1, NULL, 0);
	if (!ps_enter())
		return REAL(fsetxattr)(fd, name, value, size, flags);
	o = ps_fd_get(fd);
	ps_leave();
	if (!o)
		return REAL(fsetxattr)(fd, name, value, size, flags);
	ps_open_put(o);
	if (fstat(fd, &st) < 0)
		return -1;
	return fchmod(fd, (st.st_mode & 07000) | (mode_t)perm);
}
