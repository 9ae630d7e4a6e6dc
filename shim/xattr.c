/* xattr.c - extended attributes by path, in the merged tree.
 *
 * Entry points: the wrappers (symbols.def).
 * A name whose lower entry shows reads the lower entry's attributes (a shadowed file with lower bytes too: they
 * are the file's); a file or directory that lives wholly in the shadow has them on its data file or directory,
 * where they are also set and removed (tar x and cp -a restore them onto what they create). Setting one on a
 * lower entry fails with EROFS - also where the lower tree is writable, since nothing may change it - until
 * records carry attributes of their own. A deleted name is ENOENT.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <sys/xattr.h>

/* Where the attributes of (path) live: 1 and *real_path filled, 0 to pass through, -errno. Guard held. */
static int xattr_place(const char *path, int follow, int writes, char *real_path, size_t sz)
{
	struct ps_shadow *sh;
	struct ps_target t;
	struct ps_file *f;
	char data[PATH_MAX];
	int rc = ps_resolve(AT_FDCWD, path, follow, &t), own;

	if (rc <= 0)
		return rc;
	own = (t.ns.state == PS_NS_DIR && t.ns.opaque) || t.ns.state == PS_NS_SYMLINK || t.ns.state == PS_NS_SPECIAL;
	if (t.ns.state == PS_NS_RECORD) { /* a file with a lower file: that file's, wherever it is now */
		if ((rc = ps_target_lookup(&t, &f)) < 0)
			return rc;
		own = f->lower_fd < 0;
		rc = own || writes ? 0 : ps_file_lower_path(f, real_path, sz);
		ps_file_put(f);
		if (!own)
			return writes ? -EROFS : rc < 0 ? rc : 1;
	} else if (!own && !ps_target_lower_shows(&t)) {
		return -ENOENT;
	}
	if (!own) {
		if (writes)
			return -EROFS;
		snprintf(real_path, sz, "%s", t.path);
		return 1;
	}
	if (!(sh = ps_shadow_get()))
		return -EROFS;
	rc = t.ns.state == PS_NS_SYMLINK ? ps_shadow_path(data, sizeof(data), "meta", ps_cfg.prefix[t.prefix].enc, t.rel)
					 : ps_target_data_path(&t, data, sizeof(data));
	if (rc < 0)
		return rc;
	return snprintf(real_path, sz, "%s/%s", sh->path, data) >= (int)sz ? -ENAMETOOLONG : 1;
}

/* Run call on the attributes' real place: `XATTR(passthrough, path, follow, writes, call using rp)`. */
#define XATTR(passthrough, path, follow, writes, call)                                                             \
	do {                                                                                                       \
		char rp[PATH_MAX * 2];                                                                             \
		int saved_ = errno, rc_;                                                                           \
		if (!ps_enter())                                                                                   \
			return passthrough;                                                                        \
		rc_ = xattr_place(path, follow, writes, rp, sizeof(rp));                                           \
		ps_leave();                                                                                        \
		if (rc_ == 0)                                                                                      \
			return passthrough;                                                                        \
		if (rc_ < 0)                                                                                       \
			return (int)ps_ret(ps_errno_for_program(rc_), saved_);                                     \
		return call;                                                                                       \
	} while (0)

ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	XATTR(REAL(getxattr)(ps_pass(path), name, value, size), path, 1, 0, REAL(getxattr)(rp, name, value, size));
}

ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	XATTR(REAL(lgetxattr)(ps_pass(path), name, value, size), path, 0, 0, REAL(lgetxattr)(rp, name, value, size));
}

ssize_t listxattr(const char *path, char *list, size_t size)
{
	XATTR(REAL(listxattr)(ps_pass(path), list, size), path, 1, 0, REAL(listxattr)(rp, list, size));
}

ssize_t llistxattr(const char *path, char *list, size_t size)
{
	XATTR(REAL(llistxattr)(ps_pass(path), list, size), path, 0, 0, REAL(llistxattr)(rp, list, size));
}

int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	XATTR(REAL(setxattr)(ps_pass(path), name, value, size, flags), path, 1, 1,
	      REAL(setxattr)(rp, name, value, size, flags));
}

int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	XATTR(REAL(lsetxattr)(ps_pass(path), name, value, size, flags), path, 0, 1,
	      REAL(lsetxattr)(rp, name, value, size, flags));
}

int removexattr(const char *path, const char *name)
{
	XATTR(REAL(removexattr)(ps_pass(path), name), path, 1, 1, REAL(removexattr)(rp, name));
}

int lremovexattr(const char *path, const char *name)
{
	XATTR(REAL(lremovexattr)(ps_pass(path), name), path, 0, 1, REAL(lremovexattr)(rp, name));
}
