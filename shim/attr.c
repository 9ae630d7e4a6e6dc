/* attr.c - mode, owner and times in the merged tree: the chmod, chown and utimes families.
 *
 * Entry points: the wrappers (symbols.def).
 * Where a name's attributes live:
 *  - a file or directory that lives wholly in the shadow: on its data file or data directory, changed there by the
 *    real call (the kernel checks permission: the program made it, it owns it);
 *  - a file with a lower file: times on its data file (a regular file under the shim always reports the data
 *    file's times, merge.h), mode and owner in its record (record.h); a lower file that has no record gets one,
 *    which copies nothing. Permission is checked here, against the merged attributes, as the kernel would;
 *  - a symlink made in the shadow: its meta entry (owner and times); a lower symlink becomes one (same target,
 *    owner and times) when its owner or times change;
 *  - a lower directory: its data directory, which takes the lower one's attributes (extended ones too) first (ns.h);
 *  - a lower special file: its own, which nothing may change - a call that would change them fails with EROFS
 *    (also where the lower tree is writable); one that changes nothing succeeds.
 * A deleted name is ENOENT.
 */
#include "shim.h"
#include "log.h"
#include "merge.h"
#include "sys.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum attr_kind { ATTR_MODE, ATTR_OWNER, ATTR_TIMES };

struct attr {
	enum attr_kind kind;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	const struct timespec *times; /* NULL: now */
};

/* Times the kernel lets anyone who may write set: now, or left as they are. */
static int is_now(const struct timespec *times)
{
	for (int i = 0; times && i < 2; i++)
		if (times[i].tv_nsec != UTIME_NOW && times[i].tv_nsec != UTIME_OMIT)
			return 0;
	return 1;
}

/* Would a leave st as it is? */
static int changes_nothing(const struct stat *st, const struct attr *a)
{
	switch (a->kind) {
	case ATTR_MODE:
		return (st->st_mode & 07777) == (a->mode & 07777);
	case ATTR_OWNER:
		return (a->uid == (uid_t)-1 || a->uid == st->st_uid) && (a->gid == (gid_t)-1 || a->gid == st->st_gid);
	default:
		return a->times && a->times[0].tv_nsec == UTIME_OMIT && a->times[1].tv_nsec == UTIME_OMIT;
	}
}

static int in_groups(gid_t gid)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	if (gid == getegid())
		return 1;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* The kernel's rules for changing st's attributes (chmod_common, chown_ok, utimes), for attributes the shim keeps
 * itself. */
static int may_change(const struct stat *st, const struct attr *a)
{
	uid_t me = geteuid();

	if (me == 0)
		return 0;
	switch (a->kind) {
	case ATTR_MODE:
		return st->st_uid == me ? 0 : -EPERM;
	case ATTR_OWNER:
		if (a->uid == (uid_t)-1 && a->gid == (gid_t)-1)
			return 0;
		if ((a->uid != (uid_t)-1 && a->uid != st->st_uid) || st->st_uid != me)
			return -EPERM;
		return a->gid == (gid_t)-1 || a->gid == st->st_gid || in_groups(a->gid) ? 0 : -EPERM;
	default:
		if (st->st_uid == me)
			return 0;
		return is_now(a->times) ? ps_may_access(st, W_OK, 1) : -EPERM;
	}
}

/* The real call on a data file or directory of the shadow (dirfd-relative: the engine's table, which follows no
 * symlink on the way inside the shadow). */
static int apply_real(int dirfd, const char *path, const struct attr *a)
{
	int r;

	switch (a->kind) {
	case ATTR_MODE:
		r = ps_sys->fchmodat(dirfd, path, a->mode, 0);
		break;
	case ATTR_OWNER:
		r = ps_sys->fchownat(dirfd, path, a->uid, a->gid, AT_SYMLINK_NOFOLLOW);
		break;
	default:
		r = ps_sys->utimensat(dirfd, path, a->times, AT_SYMLINK_NOFOLLOW);
		break;
	}
	return r < 0 ? -errno : 0;
}

/* The real call on a data file's descriptor (the file itself, whatever its name is now). */
static int apply_fd(int fd, const struct attr *a)
{
	int r;

	switch (a->kind) {
	case ATTR_MODE:
		r = REAL(fchmod)(fd, a->mode);
		break;
	case ATTR_OWNER:
		r = REAL(fchown)(fd, a->uid, a->gid);
		break;
	default:
		r = REAL(futimens)(fd, a->times);
		break;
	}
	return r < 0 ? -errno : 0;
}

/* A new file (no lower file): its data file's attributes, but a mode without owner read and write - which the
 * data file cannot take, every process must open it O_RDWR - goes into the record, and stays there once it has. */
static int apply_new_file(struct ps_file *f, const struct attr *a)
{
	int recorded = (ps_record_attr_flags(&f->rec) & PS_ATTR_MODE) != 0, rc;
	struct attr data = *a;
	struct stat st;

	if (!recorded && (a->kind != ATTR_MODE || (a->mode & 0600) == 0600))
		return apply_fd(f->data_fd, a);
	if ((rc = ps_merge_stat(f, &st)) < 0 || (rc = may_change(&st, a)) < 0)
		return rc;
	if (a->kind == ATTR_MODE)
		data.mode |= 0600;
	if ((rc = apply_fd(f->data_fd, &data)) < 0)
		return rc;
	if (a->kind == ATTR_MODE) /* as chmod: set-group-ID goes unless the caller is in the file's group (or root) */
		ps_record_set_mode(&f->rec, geteuid() == 0 || in_groups(st.st_gid) ? a->mode : a->mode & ~(mode_t)S_ISGID);
	else if (a->kind == ATTR_OWNER && (st.st_mode & (S_ISUID | S_ISGID))) /* as chown does to a file */
		ps_record_set_mode(&f->rec, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
	return 0;
}

/* A shadowed regular file. */
static int apply_file(struct ps_file *f, const struct attr *a)
{
	struct stat st;
	int rc;

	if (f->lower_fd < 0)
		return apply_new_file(f, a);
	if ((rc = ps_merge_stat(f, &st)) < 0 || (rc = may_change(&st, a)) < 0)
		return rc;
	switch (a->kind) {
	case ATTR_MODE: /* as chmod: set-group-ID goes unless the caller is in the file's group (or root) */
		ps_record_set_mode(&f->rec, geteuid() == 0 || in_groups(st.st_gid) ? a->mode : a->mode & ~(mode_t)S_ISGID);
		return 0;
	case ATTR_OWNER:
		ps_record_set_owner(&f->rec, a->uid == (uid_t)-1 ? st.st_uid : a->uid,
				    a->gid == (gid_t)-1 ? st.st_gid : a->gid);
		if (st.st_mode & (S_ISUID | S_ISGID)) /* as chown does to a file: set-ID bits go */
			ps_record_set_mode(&f->rec, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
		return 0;
	default:
		return apply_fd(f->data_fd, a);
	}
}

/* A lower regular file gets a record (nothing is copied) to hold what changes. */
static int apply_lower_file(const struct ps_target *t, const struct stat *st, const struct attr *a)
{
	struct ps_file *f;
	int rc;

	if ((rc = may_change(st, a)) < 0 || (rc = ps_target_shadow_lower(t, st, &f)) < 0)
		return rc;
	rc = apply_file(f, a);
	ps_file_put(f);
	return rc;
}

/* A lower directory (merged or not) gets attributes of its own, on its data directory (ns.h). */
static int apply_lower_dir(const struct ps_target *t, const struct stat *st, const struct attr *a)
{
	struct ps_shadow *sh = ps_shadow_get();
	char data[PATH_MAX];
	int rc;

	if (!sh)
		return -EROFS;
	if ((rc = may_change(st, a)) < 0 || (rc = ps_target_data_path(t, data, sizeof(data))) < 0)
		return rc;
	if (!t->ns.own_attrs && (rc = ps_ns_dir_own_attrs(sh, ps_cfg.prefix[t->prefix].enc, t->rel, st)) < 0)
		return rc;
	return apply_real(sh->dirfd, data, a);
}

/* A lower symlink gets attributes of its own by becoming a symlink of the shadow's with the same target, owner,
 * times and extended attributes - all there is to a symlink. */
int ps_lower_symlink_own(const struct ps_target *t, const struct stat *st, char *meta, size_t metasz)
{
	struct ps_shadow *sh = ps_shadow_get();
	const char *enc = ps_cfg.prefix[t->prefix].enc;
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	char target[PATH_MAX];
	ssize_t n;
	int rc;

	if (!sh)
		return -EROFS;
	if ((rc = ps_shadow_path(meta, metasz, "meta", enc, t->rel)) < 0)
		return rc;
	if ((n = REAL(readlinkat)(AT_FDCWD, t->path, target, sizeof(target) - 1)) < 0)
		return -errno;
	target[n] = '\0';
	if ((rc = ps_ns_symlink(sh, enc, t->rel, target)) < 0)
		return rc;
	/* the lower link's owner where the kernel lets us (it does for its owner and root), and its times */
	ps_sys->fchownat(sh->dirfd, meta, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
	ps_sys->utimensat(sh->dirfd, meta, times, AT_SYMLINK_NOFOLLOW);
	return ps_xattr_copy(t->path, sh->dirfd, meta);
}

/* A lower symlink takes the change once it is the shadow's. A symlink has no mode to change. */
static int apply_lower_symlink(const struct ps_target *t, const struct stat *st, const struct attr *a)
{
	char meta[PATH_MAX];
	int rc;

	if (a->kind == ATTR_MODE)
		return -EOPNOTSUPP;
	if ((rc = may_change(st, a)) < 0 || (rc = ps_lower_symlink_own(t, st, meta, sizeof(meta))) < 0)
		return rc;
	return apply_real(ps_shadow_get()->dirfd, meta, a);
}

static enum ps_change_op change_of(const struct attr *a)
{
	return a->kind == ATTR_MODE ? PS_CHANGE_CHMOD : a->kind == ATTR_OWNER ? PS_CHANGE_CHOWN : PS_CHANGE_UTIMES;
}

/* t, which shows st in the merged tree. */
static int change_target(const struct ps_target *t, const struct stat *st, const struct attr *a)
{
	struct ps_shadow *sh = ps_shadow_get();
	char data[PATH_MAX];
	struct ps_file *f;
	int rc;

	if (t->ns.state == PS_NS_RECORD) {
		if ((rc = ps_target_lookup(t, &f)) < 0)
			return rc;
		rc = apply_file(f, a);
		ps_file_put(f);
		return rc;
	}
	if (t->ns.state == PS_NS_SYMLINK) { /* the link itself: a symlink has no mode of its own to change */
		if (a->kind == ATTR_MODE)
			return -EOPNOTSUPP;
		if (!sh)
			return -EROFS;
		if ((rc = ps_shadow_path(data, sizeof(data), "meta", ps_cfg.prefix[t->prefix].enc, t->rel)) < 0)
			return rc;
		return apply_real(sh->dirfd, data, a);
	}
	if ((t->ns.state == PS_NS_DIR && t->ns.opaque) || t->ns.state == PS_NS_SPECIAL) {
		if (!sh)
			return -EROFS;
		if ((rc = ps_target_data_path(t, data, sizeof(data))) < 0)
			return rc;
		return apply_real(sh->dirfd, data, a);
	}
	if (changes_nothing(st, a))
		return may_change(st, a);
	if (S_ISREG(st->st_mode))
		return apply_lower_file(t, st, a);
	if (S_ISDIR(st->st_mode))
		return apply_lower_dir(t, st, a);
	if (S_ISLNK(st->st_mode))
		return apply_lower_symlink(t, st, a);
	ps_debug("%s: attributes of a lower device or FIFO cannot change", t->path);
	return may_change(st, a) < 0 ? may_change(st, a) : -EROFS;
}

static int apply_target(const struct ps_target *t, const struct attr *a)
{
	struct stat st;
	int rc;

	if ((rc = ps_target_stat(t, &st)) < 0 || (rc = ps_change_permit(change_of(a), t->path, NULL)) < 0)
		return rc;
	return ps_change_done(change_target(t, &st, a), change_of(a), t->path, NULL);
}

/* 1: handled (*rc); 0: pass through. */
static int path_attr(int dirfd, const char *path, int follow, const struct attr *a, int *rc)
{
	struct ps_target t;
	int r;

	r = ps_enter_resolved(dirfd, path, follow, &t);
	if (r == 0)
		return 0;
	*rc = r < 0 ? r : apply_target(&t, a);
	ps_leave();
	return 1;
}

/* The fd forms. 1: handled (*rc); 0: pass through (not the shim's). */
static int fd_attr(int fd, const struct attr *a, int *rc)
{
	struct ps_open *o;
	struct ps_target t;

	if (!ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (!o) {
		ps_leave();
		return 0;
	}
	if (o->kind == PS_OPEN_DIR)
		*rc = (*rc = ps_resolve(AT_FDCWD, o->path, 1, &t)) > 0 ? apply_target(&t, a) : *rc < 0 ? *rc : -ENOENT;
	else if ((*rc = ps_change_permit(change_of(a), o->path, NULL)) == 0 && (*rc = ps_open_attach_record(o)) == 0)
		*rc = ps_change_done(apply_file(o->file, a), change_of(a), o->path, NULL);
	ps_open_put(o);
	ps_leave();
	return 1;
}

/* glibc declares the path arguments nonnull, the kernel takes NULL for "the descriptor itself": tested out of the
 * compiler's sight. */
static __attribute__((noinline)) int is_null(const char *p)
{
	return p == NULL;
}

#define ATTR_RETURN(handled, passthrough, rc)                                                                      \
	do {                                                                                                       \
		int saved_ = errno;                                                                                \
		if (!(handled))                                                                                    \
			return passthrough;                                                                        \
		return (int)ps_ret(ps_errno_for_program(rc), saved_);                                              \
	} while (0)

int chmod(const char *path, mode_t mode)
{
	struct attr a = { .kind = ATTR_MODE, .mode = mode };
	int rc;

	ATTR_RETURN(path_attr(AT_FDCWD, path, 1, &a, &rc), REAL(chmod)(ps_pass(path), mode), rc);
}

int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	struct attr a = { .kind = ATTR_MODE, .mode = mode };
	int rc;

	ATTR_RETURN(path_attr(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &a, &rc),
		    REAL(fchmodat)(ps_pass_dirfd(dirfd, path), ps_pass(path), mode, flags), rc);
}

/* glibc's lchmod is a fchmodat it makes internally. */
int lchmod(const char *path, mode_t mode)
{
	return fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW);
}

int fchmod(int fd, mode_t mode)
{
	struct attr a = { .kind = ATTR_MODE, .mode = mode };
	int rc;

	ATTR_RETURN(fd_attr(fd, &a, &rc), REAL(fchmod)(fd, mode), rc);
}

int chown(const char *path, uid_t uid, gid_t gid)
{
	struct attr a = { .kind = ATTR_OWNER, .uid = uid, .gid = gid };
	int rc;

	ATTR_RETURN(path_attr(AT_FDCWD, path, 1, &a, &rc), REAL(chown)(ps_pass(path), uid, gid), rc);
}

int lchown(const char *path, uid_t uid, gid_t gid)
{
	struct attr a = { .kind = ATTR_OWNER, .uid = uid, .gid = gid };
	int rc;

	ATTR_RETURN(path_attr(AT_FDCWD, path, 0, &a, &rc), REAL(lchown)(ps_pass(path), uid, gid), rc);
}

int fchown(int fd, uid_t uid, gid_t gid)
{
	struct attr a = { .kind = ATTR_OWNER, .uid = uid, .gid = gid };
	int rc;

	ATTR_RETURN(fd_attr(fd, &a, &rc), REAL(fchown)(fd, uid, gid), rc);
}

int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	struct attr a = { .kind = ATTR_OWNER, .uid = uid, .gid = gid };
	int rc;

	if ((flags & AT_EMPTY_PATH) && (is_null(path) || !*path))
		ATTR_RETURN(fd_attr(dirfd, &a, &rc), REAL(fchownat)(ps_pass_dirfd(dirfd, path), ps_pass(path), uid, gid, flags), rc);
	ATTR_RETURN(path_attr(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &a, &rc),
		    REAL(fchownat)(ps_pass_dirfd(dirfd, path), ps_pass(path), uid, gid, flags), rc);
}

int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	struct attr a = { .kind = ATTR_TIMES, .times = times };
	int rc;

	if (times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT)
		return REAL(utimensat)(dirfd, path, times, flags); /* nothing to change: the kernel looks nothing up */

	if (is_null(path) || ((flags & AT_EMPTY_PATH) && !*path)) /* the descriptor's own file */
		ATTR_RETURN(fd_attr(dirfd, &a, &rc), REAL(utimensat)(ps_pass_dirfd(dirfd, path), ps_pass(path), times, flags), rc);
	ATTR_RETURN(path_attr(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), &a, &rc),
		    REAL(utimensat)(ps_pass_dirfd(dirfd, path), ps_pass(path), times, flags), rc);
}

int futimens(int fd, const struct timespec times[2])
{
	struct attr a = { .kind = ATTR_TIMES, .times = times };
	int rc;

	ATTR_RETURN(fd_attr(fd, &a, &rc), REAL(futimens)(fd, times), rc);
}

/* The timeval and utimbuf forms, as timespecs (NULL stays NULL: now). */
static const struct timespec *from_timeval(const struct timeval tv[2], struct timespec ts[2])
{
	if (!tv)
		return NULL;
	for (int i = 0; i < 2; i++)
		ts[i] = (struct timespec){ .tv_sec = tv[i].tv_sec, .tv_nsec = tv[i].tv_usec * 1000 };
	return ts;
}

int utimes(const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	struct attr a = { .kind = ATTR_TIMES, .times = from_timeval(tv, ts) };
	int rc;

	ATTR_RETURN(path_attr(AT_FDCWD, path, 1, &a, &rc), REAL(utimes)(ps_pass(path), tv), rc);
}

int lutimes(const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	struct attr a = { .kind = ATTR_TIMES, .times = from_timeval(tv, ts) };
	int rc;

	ATTR_RETURN(path_attr(AT_FDCWD, path, 0, &a, &rc), REAL(lutimes)(ps_pass(path), tv), rc);
}

int futimes(int fd, const struct timeval tv[2])
{
	struct timespec ts[2];
	struct attr a = { .kind = ATTR_TIMES, .times = from_timeval(tv, ts) };
	int rc;

	ATTR_RETURN(fd_attr(fd, &a, &rc), REAL(futimes)(fd, tv), rc);
}

int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	struct attr a = { .kind = ATTR_TIMES, .times = from_timeval(tv, ts) };
	int rc;

	ATTR_RETURN(path_attr(dirfd, path, 1, &a, &rc), REAL(futimesat)(ps_pass_dirfd(dirfd, path), ps_pass(path), tv), rc);
}

int utime(const char *path, const struct utimbuf *buf)
{
	struct timespec ts[2];
	struct attr a = { .kind = ATTR_TIMES, .times = NULL };
	int rc;

	if (buf) {
		ts[0] = (struct timespec){ .tv_sec = buf->actime };
		ts[1] = (struct timespec){ .tv_sec = buf->modtime };
		a.times = ts;
	}
	ATTR_RETURN(path_attr(AT_FDCWD, path, 1, &a, &rc), REAL(utime)(ps_pass(path), buf), rc);
}
