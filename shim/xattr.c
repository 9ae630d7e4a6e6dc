/* xattr.c - extended attributes by path and by descriptor, in the merged tree.
 *
 * Entry points: the wrappers (symbols.def).
 * Where a name's attributes live (common/xattr.h): an entry of the shadow's own keeps them on its data file, data
 * directory or meta symlink; a lower entry's are read from the lower entry until the first change, which copies
 * them all into the shadow - onto the file's data file (marked in its record), the directory's data directory
 * (it takes attributes of its own, ns.h) or a symlink made in the shadow - where the change is then made.
 * A POSIX ACL that says no more than a mode is set as that mode (chmod). Any other ACL of a file with a lower
 * file cannot be set (EOPNOTSUPP, as on a filesystem without ACLs): its mode is the record's, which an ACL
 * would have to follow. A lower FIFO or device keeps its own (EROFS). A deleted name is ENOENT.
 */
#include "shim.h"
#include "log.h"
#include "beneath.h"
#include "merge.h"
#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

enum xattr_op { XATTR_GET, XATTR_LIST, XATTR_SET, XATTR_REMOVE };

/* One call of the family, whatever its form. */
struct xattr_call {
	enum xattr_op op;
	const char *name; /* NULL for XATTR_LIST */
	void *value;      /* XATTR_GET; the list for XATTR_LIST */
	const void *in;   /* XATTR_SET */
	size_t size;
	int flags;
};

/* Where the call runs: a path (followed or not) or a descriptor. */
struct xattr_place {
	char path[PATH_MAX * 2];
	int follow;
	int fd;       /* >= 0: the call runs on it */
	int close_fd; /* >= 0: the guarded parent directory path goes through, closed after the call */
};

static int changes(const struct xattr_call *c)
{
	return c->op == XATTR_SET || c->op == XATTR_REMOVE;
}

static enum ps_change_op change_of(const struct xattr_call *c)
{
	return c->op == XATTR_SET ? PS_CHANGE_SETXATTR : PS_CHANGE_REMOVEXATTR;
}

/* A change c makes to path is asked for (change.h): 0 or -EROFS; always 0 for a call that reads. */
static int permit(const struct xattr_call *c, const char *path)
{
	return changes(c) ? ps_change_permit(change_of(c), path, NULL) : 0;
}

/* After a call on path that returned rc: a change that succeeded is logged. rc is passed on. */
static long done(const struct xattr_call *c, const char *path, long rc)
{
	if (changes(c))
		ps_change_done(rc < 0 ? (int)rc : 0, change_of(c), path, NULL);
	return rc;
}

static ssize_t real_call(const struct xattr_place *p, const struct xattr_call *c)
{
	if (p->fd >= 0) {
		switch (c->op) {
		case XATTR_GET:
			return REAL(fgetxattr)(p->fd, c->name, c->value, c->size);
		case XATTR_LIST:
			return REAL(flistxattr)(p->fd, c->value, c->size);
		case XATTR_SET:
			return REAL(fsetxattr)(p->fd, c->name, c->in, c->size, c->flags);
		default:
			return REAL(fremovexattr)(p->fd, c->name);
		}
	}
	switch (c->op) {
	case XATTR_GET:
		return (p->follow ? REAL(getxattr) : REAL(lgetxattr))(p->path, c->name, c->value, c->size);
	case XATTR_LIST:
		return (p->follow ? REAL(listxattr) : REAL(llistxattr))(p->path, c->value, c->size);
	case XATTR_SET:
		return (p->follow ? REAL(setxattr) : REAL(lsetxattr))(p->path, c->name, c->in, c->size, c->flags);
	default:
		return (p->follow ? REAL(removexattr) : REAL(lremovexattr))(p->path, c->name);
	}
}

static int place_path(struct xattr_place *p, const char *path)
{
	p->fd = -1;
	p->follow = 0;
	return snprintf(p->path, sizeof(p->path), "%s", path) >= (int)sizeof(p->path) ? -ENAMETOOLONG : 0;
}

/* An object of the shadow's (path relative to its directory), reached without following a symlink on the way. */
static int place_shadow(struct xattr_place *p, const struct ps_shadow *sh, const char *path)
{
	int pfd = ps_sys_path_beneath(sh->dirfd, path, p->path, sizeof(p->path));

	if (pfd < 0)
		return pfd;
	p->fd = -1;
	p->follow = 0;
	p->close_fd = pfd != sh->dirfd ? pfd : -1;
	return 0;
}

/* A removal of a name the entry does not have changes nothing: ENODATA, and nothing copied up for it (libacl's
 * "delete the default ACL", which cp -a makes, takes that for done). 0 to go on. */
static int removes_nothing(const struct xattr_place *now, const struct xattr_call *c)
{
	if (c->op != XATTR_REMOVE)
		return 0;
	if (now->fd >= 0 ? REAL(fgetxattr)(now->fd, c->name, NULL, 0) >= 0
			 : REAL(lgetxattr)(now->path, c->name, NULL, 0) >= 0)
		return 0;
	return errno == ENODATA ? -ENODATA : 0;
}

static int is_acl(const char *name)
{
	return strncmp(name, "system.posix_acl_", 17) == 0;
}

/* The kernel's permission rules (xattr_permission, posix_acl_set), against the merged attributes: the real call
 * runs on the shadow's object, which the shim owns, and a lower entry's are copied there before the call - so
 * whoever may not make the change is refused first. */
static int may_use(const struct stat *st, const struct xattr_call *c)
{
	uid_t me = geteuid();

	if (!c->name)
		return 0;
	if (changes(c) && me != 0) {
		if (strncmp(c->name, "trusted.", 8) == 0 || strncmp(c->name, "security.", 9) == 0)
			return -EPERM; /* CAP_SYS_ADMIN, or the LSM's own rules: not a plain user's */
		if (is_acl(c->name) && st->st_uid != me)
			return -EPERM;
	}
	if (strncmp(c->name, "user.", 5) != 0)
		return 0;
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return changes(c) ? -EPERM : -ENODATA;
	if (changes(c) && me != 0 && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && st->st_uid != me)
		return -EPERM; /* a sticky directory's belong to its owner */
	return ps_may_access(st, changes(c) ? W_OK : R_OK, 1);
}

/* A shadowed file's attributes: its data file's, or its lower file's until a change moves them (then the data
 * file's). By descriptor when use_fds (the name may have gone since the open). */
static int file_place(struct ps_file *f, const struct xattr_call *c, int use_fds, struct xattr_place *p)
{
	int rc;

	/* a file whose mode the shim keeps (its lower file's, or the record's) takes no ACL: the ACL would have to
	 * follow that mode, and would set the data file's */
	if (changes(c) && is_acl(c->name) && (f->lower_fd >= 0 || (ps_record_attr_flags(&f->rec) & PS_ATTR_MODE))) {
		int holder = ps_file_xattrs_are_data(f) ? f->data_fd : f->lower_fd;

		return c->op == XATTR_REMOVE && REAL(fgetxattr)(holder, c->name, NULL, 0) < 0 && errno == ENODATA
			       ? -ENODATA
			       : -EOPNOTSUPP;
	}
	if (changes(c) && !ps_file_xattrs_are_data(f)) {
		if (c->op == XATTR_REMOVE && REAL(fgetxattr)(f->lower_fd, c->name, NULL, 0) < 0 && errno == ENODATA)
			return -ENODATA;
		if ((rc = ps_file_own_xattrs(f)) < 0)
			return rc;
	}
	if (use_fds) {
		p->fd = ps_file_xattrs_are_data(f) ? f->data_fd : f->lower_fd;
		return 0;
	}
	if (ps_file_xattrs_are_data(f))
		return place_shadow(p, f->sh, f->data_path);
	p->fd = -1;
	p->follow = 0;
	return ps_file_lower_path(f, p->path, sizeof(p->path));
}

/* A lower directory or symlink moves its attributes into the shadow before a change (a lower file gets a record
 * first: file_place). */
static int lower_entry_place(const struct ps_target *t, const struct stat *st, const struct xattr_call *c,
			     struct xattr_place *p)
{
	struct ps_shadow *sh = ps_shadow_get();
	char rel[PATH_MAX];
	struct ps_file *f;
	int rc;

	if ((rc = place_path(p, t->path)) < 0 || !changes(c) || (rc = removes_nothing(p, c)) < 0)
		return rc;
	if (!sh)
		return -EROFS;
	if (S_ISREG(st->st_mode)) {
		if ((rc = ps_target_shadow_lower(t, st, &f)) < 0)
			return rc;
		rc = file_place(f, c, 0, p);
		ps_file_put(f);
		return rc;
	}
	if (S_ISDIR(st->st_mode) && !*t->rel) {
		ps_debug("%s: the prefix itself has no place in the shadow for attributes of its own", t->path);
		return -EROFS;
	}
	if (S_ISDIR(st->st_mode)) {
		if ((rc = ps_ns_dir_own_attrs(sh, ps_cfg.prefix[t->prefix].enc, t->rel, st)) < 0 ||
		    (rc = ps_target_data_path(t, rel, sizeof(rel))) < 0)
			return rc;
		return place_shadow(p, sh, rel);
	}
	if (S_ISLNK(st->st_mode)) {
		if ((rc = ps_lower_symlink_own(t, st, rel, sizeof(rel))) < 0)
			return rc;
		return place_shadow(p, sh, rel);
	}
	ps_debug("%s: extended attributes of a lower device or FIFO cannot change", t->path);
	return -EROFS;
}

/* Where t's attributes live for call c (a change first moves a lower entry's into the shadow). 0 or -errno. */
static int target_place(const struct ps_target *t, const struct xattr_call *c, struct xattr_place *p)
{
	struct ps_shadow *sh = ps_shadow_get();
	char rel[PATH_MAX];
	struct ps_file *f;
	struct stat st;
	int rc;

	if ((rc = ps_target_stat(t, &st)) < 0 || (rc = permit(c, t->path)) < 0 || (rc = may_use(&st, c)) < 0)
		return rc;
	if (t->ns.state == PS_NS_RECORD) {
		if ((rc = ps_target_lookup(t, &f)) < 0)
			return rc;
		rc = file_place(f, c, 0, p);
		ps_file_put(f);
		return rc;
	}
	if (t->ns.state == PS_NS_SYMLINK || t->ns.state == PS_NS_SPECIAL ||
	    (t->ns.state == PS_NS_DIR && (t->ns.opaque || t->ns.own_attrs))) {
		if (!sh)
			return -EROFS;
		rc = t->ns.state == PS_NS_SYMLINK ? ps_shadow_path(rel, sizeof(rel), "meta", ps_cfg.prefix[t->prefix].enc, t->rel)
						  : ps_target_data_path(t, rel, sizeof(rel));
		return rc < 0 ? rc : place_shadow(p, sh, rel);
	}
	return lower_entry_place(t, &st, c, p);
}

/* Run c where p says: its result, or -errno. */
static long run(const struct xattr_place *p, const struct xattr_call *c)
{
	ssize_t n = real_call(p, c);

	return n < 0 ? -errno : n;
}

static void place_done(struct xattr_place *p)
{
	if (p->close_fd >= 0)
		REAL(close)(p->close_fd);
	p->close_fd = -1;
}

/* By path: the call's return value, errno set. */
static long path_xattr(const char *path, int follow, const struct xattr_call *c)
{
	struct xattr_place p = { .fd = -1, .follow = follow, .close_fd = -1 };
	struct ps_target t;
	int saved = errno;
	long rc;

	if (!ps_enter()) {
		snprintf(p.path, sizeof(p.path), "%s", path);
		return real_call(&p, c);
	}
	rc = changes(c) ? ps_resolve_outside_links(AT_FDCWD, path, follow, &t) : ps_resolve(AT_FDCWD, path, follow, &t);
	if (rc == 0) {
		snprintf(p.path, sizeof(p.path), "%s", ps_pass(path));
		ps_leave();
		return real_call(&p, c);
	}
	if (rc > 0 && (rc = target_place(&t, c, &p)) == 0)
		rc = done(c, t.path, run(&p, c));
	place_done(&p);
	ps_leave();
	return ps_ret(rc < 0 ? ps_errno_for_program((int)rc) : rc, saved);
}

/* By descriptor: a directory by its name; a shadowed file by its data or lower file's descriptor; a plain lower
 * descriptor reads its own, and gets a record for a change; anything else (a data file that is the whole file, a
 * descriptor outside the tree) passes through. */
static long fd_xattr(int fd, const struct xattr_call *c)
{
	struct xattr_place p = { .fd = fd, .close_fd = -1 };
	struct ps_open *o;
	struct ps_target t;
	int saved = errno;
	long rc = 0;

	if (!ps_enter())
		return real_call(&p, c);
	if (!(o = ps_fd_get(fd))) {
		ps_leave();
		return real_call(&p, c);
	}
	if (o->kind == PS_OPEN_DIR) {
		rc = ps_resolve(AT_FDCWD, o->path, 1, &t);
		rc = rc > 0 ? target_place(&t, c, &p) : rc < 0 ? rc : -ENOENT;
	} else if (!o->file && !changes(c)) {
		p.fd = fd;
	} else if ((rc = permit(c, o->path)) == 0 && (rc = ps_open_attach_record(o)) == 0) {
		struct stat st;

		if ((rc = ps_merge_stat(o->file, &st)) == 0 && (rc = may_use(&st, c)) == 0)
			rc = file_place(o->file, c, 1, &p);
	}
	if (rc == 0)
		rc = done(c, o->path, run(&p, c));
	place_done(&p);
	return ps_fd_done(o, rc, saved);
}

ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	return path_xattr(path, 1, &(struct xattr_call){ .op = XATTR_GET, .name = name, .value = value, .size = size });
}

ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	return path_xattr(path, 0, &(struct xattr_call){ .op = XATTR_GET, .name = name, .value = value, .size = size });
}

ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	return fd_xattr(fd, &(struct xattr_call){ .op = XATTR_GET, .name = name, .value = value, .size = size });
}

ssize_t listxattr(const char *path, char *list, size_t size)
{
	return path_xattr(path, 1, &(struct xattr_call){ .op = XATTR_LIST, .value = list, .size = size });
}

ssize_t llistxattr(const char *path, char *list, size_t size)
{
	return path_xattr(path, 0, &(struct xattr_call){ .op = XATTR_LIST, .value = list, .size = size });
}

ssize_t flistxattr(int fd, char *list, size_t size)
{
	return fd_xattr(fd, &(struct xattr_call){ .op = XATTR_LIST, .value = list, .size = size });
}

int removexattr(const char *path, const char *name)
{
	return (int)path_xattr(path, 1, &(struct xattr_call){ .op = XATTR_REMOVE, .name = name });
}

int lremovexattr(const char *path, const char *name)
{
	return (int)path_xattr(path, 0, &(struct xattr_call){ .op = XATTR_REMOVE, .name = name });
}

int fremovexattr(int fd, const char *name)
{
	return (int)fd_xattr(fd, &(struct xattr_call){ .op = XATTR_REMOVE, .name = name });
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
	return (int)path_xattr(path, 1,
			       &(struct xattr_call){ .op = XATTR_SET, .name = name, .in = value, .size = size, .flags = flags });
}

int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	int rc;

	if (acl_as_chmod(path, name, value, size, 0, &rc))
		return rc;
	return (int)path_xattr(path, 0,
			       &(struct xattr_call){ .op = XATTR_SET, .name = name, .in = value, .size = size, .flags = flags });
}

/* cp -p and cp -a set a file's mode as a trivial ACL through its descriptor: a chmod, which the shim keeps for a
 * file with a lower file too. */
int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	int perm = trivial_acl_mode(name, value, size);
	struct ps_open *o;
	struct stat st;

	if (perm >= 0 && ps_enter()) {
		o = ps_fd_get(fd);
		ps_leave();
		if (o) {
			ps_open_put(o);
			return fstat(fd, &st) < 0 ? -1 : fchmod(fd, (st.st_mode & 07000) | (mode_t)perm);
		}
	}
	return (int)fd_xattr(fd,
			     &(struct xattr_call){ .op = XATTR_SET, .name = name, .in = value, .size = size, .flags = flags });
}
