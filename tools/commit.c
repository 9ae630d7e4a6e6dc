/* commit.c - pageshadow commit [--dry-run] [PATH...]: write what the shadow holds into the lower tree, now
 * writable, then discard it from the shadow.
 *
 * Two passes over the shadow's entries, in walk order (a directory before what it holds):
 *   1. every record whose lower file is at another name (renamed, linked, moved with its directory) gets all its
 *      pages copied up through the engine, so that its data file is the whole file: the lower file it came from
 *      may be deleted or replaced in pass 2 before its turn comes;
 *   2. each entry is applied, then discarded from the shadow (under the creation lock), so that a commit stopped
 *      half-way can be run again and does only what is left:
 *      - a file whose data file is the whole file (new, fully shadowed, or pass 1's) is written beside its name
 *        and renamed over it: the file changes in one step;
 *      - a file with pages still on its lower file, at its own name, gets only its shadowed pages and what lies
 *        past lower_len written into the lower file, in place (its hard links, owner and inode stay); the record
 *        is marked PS_ATTR_COMMITTING first, so that a commit run again after a crash takes the half-written
 *        lower file as its own again (the same bytes are written, nothing is read from where they go);
 *      - a deleted name removes the lower entry (a directory with everything below it); a symlink or special
 *        file replaces it; a directory made in the shadow (opaque) replaces the lower entry by an empty directory
 *        and then stops being opaque (the lower one is now the same); attributes of a directory are set after
 *        what it holds, on the way back.
 */
#include "pageshadow.h"

#include "bitmap.h"
#include "merge.h"
#include "sys.h"
#include "xattr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

struct dir_attrs {
	char path[PATH_MAX];
	struct stat st;          /* the data directory's: mode, owner, times */
};

struct commit_run {
	struct ps_shadow *sh;
	const struct ps_config *cfg;
	struct scope scope;
	int dry;
	int trouble;
	struct dir_attrs *dirs;  /* directories whose attributes are set at the end, deepest first */
	size_t ndirs, dirs_cap;
	uint64_t files, pages, created, deleted, others, seen;
	char *buf;
};

static int fail_entry(struct commit_run *c, const char *path, const char *what, int err)
{
	complain("%s: %s: %s", path, what, engine_strerror(err));
	c->trouble = 1;
	return -1;
}

/* Forget the shadow's entry for rel: what it held is in the lower tree now. */
static int discard_entry(struct commit_run *c, const struct ps_tree_entry *e)
{
	int rc = ps_shadow_lock_create(c->sh);

	if (rc < 0)
		return rc;
	rc = discard(c->sh, e->enc_prefix, e->rel);
	ps_shadow_bump_generation(c->sh);
	ps_shadow_unlock_create(c->sh);
	return rc;
}

/* A record as commit reads it: header, bitmap, data file - without the engine, which refuses a stale record. */
struct rec_view {
	struct rec_info ri;     /* ri.hdr: the record's header */
	const uint8_t *bitmap;
	size_t map_len;
	void *map;
	int rfd, dfd;
	struct stat dst;        /* the data file */
};

static void view_close(struct rec_view *v)
{
	if (v->map)
		munmap(v->map, v->map_len);
	if (v->rfd >= 0)
		close(v->rfd);
	if (v->dfd >= 0)
		close(v->dfd);
}

/* Is every byte of the file in its data file (nothing of it shows from a lower file)? */
static int whole_in_data(const struct rec_view *v)
{
	if (!v->ri.has_lower || v->ri.lower_len == 0)
		return 1;
	return v->ri.shadowed == v->ri.pages;
}

static int view_open(struct commit_run *c, const struct ps_tree_entry *e, struct rec_view *v)
{
	struct stat rst;

	memset(v, 0, sizeof(*v));
	v->rfd = v->dfd = -1;
	read_record(c->sh->dirfd, e->meta_path, e->prefix, e->rel, &v->ri);
	if (v->ri.rc < 0 && v->ri.rc != -ESTALE)
		return v->ri.rc;
	if ((v->rfd = openat(c->sh->dirfd, e->meta_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (v->dfd = openat(c->sh->dirfd, e->data_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(v->rfd, &rst) < 0 || fstat(v->dfd, &v->dst) < 0)
		return -errno;
	if (v->ri.has_lower && v->ri.lower_len > 0) {
		v->map_len = (size_t)rst.st_size;
		v->map = mmap(NULL, v->map_len, PROT_READ, MAP_SHARED, v->rfd, 0);
		if (v->map == MAP_FAILED) {
			v->map = NULL;
			return -errno;
		}
		v->bitmap = (const uint8_t *)v->map + PS_RECORD_HEADER_SIZE;
		v->ri.pages = (v->ri.lower_len + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;
		v->ri.shadowed = ps_bitmap_count(v->bitmap, v->ri.pages); /* (read_record counts usable ones only) */
	}
	if (v->ri.rc == -ESTALE && !whole_in_data(v) && !(v->ri.hdr.attr_flags & PS_ATTR_COMMITTING))
		return -ESTALE; /* its lower bytes would be the wrong ones */
	return 0;
}

/* The merged file's permission bits, from the record, the lower file or the data file (as ps_merge_stat). */
/* The merged file's permission bits where they are the shadow's (the record's, or a new file's data file's);
 * -1 where they are the lower file's own (then commit leaves them). */
static int shadow_mode(const struct rec_view *v)
{
	if (v->ri.hdr.attr_flags & PS_ATTR_MODE)
		return (int)(v->ri.hdr.mode & 07777);
	return v->ri.has_lower ? -1 : (int)(v->dst.st_mode & 07777);
}

/* The directory entry changed at path is on disk before the shadow forgets it. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int copy_range(int from, int to, uint64_t off, uint64_t len, char *buf)
{
	while (len > 0) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = ps_sys_pread_full(from, buf, want, (off_t)off);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO; /* the data file is shorter than it says */
		if (ps_sys_pwrite_full(to, buf, (size_t)n, (off_t)off) != n)
			return errno ? -errno : -EIO;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* to gets the extended attributes of from, and loses those from lacks (buf: COPY_CHUNK bytes). Where the
 * filesystem has none, or a namespace this process may not change (trusted.*, security.* without the
 * privilege), nothing is done. */
static int copy_xattrs(int from, int to, char *buf)
{
	char names[16384], old[16384];
	ssize_t len = flistxattr(from, names, sizeof(names)), olen = flistxattr(to, old, sizeof(old));

	if (len < 0 || olen < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *name = old; name < old + olen; name += strlen(name) + 1)
		if (fgetxattr(from, name, NULL, 0) < 0 && errno == ENODATA && fremovexattr(to, name) < 0 &&
		    errno != EPERM && errno != ENOTSUP)
			return -errno;
	for (char *name = names; name < names + len; name += strlen(name) + 1) {
		ssize_t n = fgetxattr(from, name, buf, COPY_CHUNK);

		if (n < 0)
			return -errno;
		if (fsetxattr(to, name, buf, (size_t)n, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return -errno;
	}
	return 0;
}

/* Attributes of a committed file: mode, owner (root, where the record changed it), extended attributes (where
 * the record says the data file's replace the lower file's), times (the data file's: the merged times). */
static int finish_file(struct commit_run *c, const struct rec_view *v, int fd)
{
	int mode = shadow_mode(v);

	struct timespec times[2] = { v->dst.st_atim, v->dst.st_mtim };
	if (geteuid() == 0 && (v->ri.hdr.attr_flags & PS_ATTR_OWNER) && fchown(fd, v->ri.hdr.uid, v->ri.hdr.gid) < 0)
		return -errno;
	if (geteuid() == 0 && !v->ri.has_lower && fchown(fd, v->dst.st_uid, v->dst.st_gid) < 0)
		return -errno;
	if (mode >= 0 && fchmod(fd, (mode_t)mode) < 0)
		return -errno;
	if (!v->ri.has_lower || (v->ri.hdr.attr_flags & PS_ATTR_XATTRS)) {
		int rc = copy_xattrs(v->dfd, fd, c->buf);

		if (rc < 0)
			return rc;
	}
	if (futimens(fd, times) < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/* The data file is the whole file: written beside path and renamed over it. */
static int write_whole(struct commit_run *c, struct rec_view *v, const char *path)
{
	char tmp[PATH_MAX + 64];
	const char *slash = strrchr(path, '/');
	struct stat lst;
	uint64_t h = 14695981039346656037ull; /* FNV-1a of the name: a commit run again reuses the same file */
	int fd, rc;

	for (const char *p = slash + 1; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(tmp, sizeof(tmp), "%.*s/.pageshadow-commit-%016" PRIx64, (int)(slash - path), path, h);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return -errno;
	rc = copy_range(v->dfd, fd, 0, (uint64_t)v->dst.st_size, c->buf);
	if (rc == 0 && ftruncate(fd, v->dst.st_size) < 0)
		rc = -errno;
	if (rc == 0)
		rc = finish_file(c, v, fd);
	close(fd);
	if (rc == 0 && lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode))
		rc = ps_tree_remove(path);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc < 0 ? rc : sync_parent(path);
}

/* Set PS_ATTR_COMMITTING on the record, durably, before its lower file is first written. */
static int mark_committing(struct rec_view *v)
{
	uint32_t flags = v->ri.hdr.attr_flags | PS_ATTR_COMMITTING;
	off_t at = (off_t)offsetof(struct ps_record_disk, attr_flags);

	if (v->ri.hdr.attr_flags & PS_ATTR_COMMITTING)
		return 0;
	if (ps_sys_pwrite_full(v->rfd, &flags, sizeof(flags), at) != (ssize_t)sizeof(flags))
		return errno ? -errno : -EIO;
	v->ri.hdr.attr_flags = flags;
	return fsync(v->rfd) < 0 ? -errno : 0;
}

/* Pages on the lower file at the file's own name: only the shadowed pages and the bytes past lower_len are
 * written into it, in place. */
static int write_pages(struct commit_run *c, struct rec_view *v, const char *path)
{
	uint64_t lower_len = v->ri.lower_len, size = (uint64_t)v->dst.st_size;
	int fd, rc;

	if ((rc = mark_committing(v)) < 0)
		return rc;
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	for (uint64_t p = 0; p < v->ri.pages && rc == 0; p++) {
		uint64_t off = p * PS_PAGE_SIZE, end = off + PS_PAGE_SIZE < lower_len ? off + PS_PAGE_SIZE : lower_len;

		if (ps_bitmap_test(v->bitmap, p))
			rc = copy_range(v->dfd, fd, off, end - off, c->buf);
	}
	if (rc == 0 && size > lower_len)
		rc = copy_range(v->dfd, fd, lower_len, size - lower_len, c->buf);
	if (rc == 0 && ftruncate(fd, (off_t)size) < 0)
		rc = -errno;
	if (rc == 0)
		rc = finish_file(c, v, fd);
	close(fd);
	return rc;
}

static const char *view_error(int rc)
{
	return rc == -ESTALE ? "its lower file changed since (rebase or reset it first)" : "its shadow record";
}

static int commit_record(struct commit_run *c, const struct ps_tree_entry *e, const char *path)
{
	struct rec_view v;
	struct stat lst;
	int rc = view_open(c, e, &v), in_place;

	if (rc < 0) {
		view_close(&v);
		return fail_entry(c, path, view_error(rc), rc);
	}
	/* Its own lower file at its name takes the pages in place (inode, links, owner stay); else a new file. */
	in_place = v.ri.has_lower && !v.ri.origin[0] && lstat(path, &lst) == 0 && S_ISREG(lst.st_mode) &&
		   lst.st_nlink == 1;
	if (c->dry) {
		if (!in_place)
			printf("write %s (%" PRIu64 " bytes, whole file)\n", path, (uint64_t)v.dst.st_size);
		else
			printf("write %s (%" PRIu64 " of %" PRIu64 " pages%s)\n", path, v.ri.shadowed, v.ri.pages,
			       (uint64_t)v.dst.st_size != v.ri.lower_len ? ", and its new end" : "");
		view_close(&v);
		return 0;
	}
	rc = in_place ? write_pages(c, &v, path) : write_whole(c, &v, path);
	c->files++;
	c->pages += in_place ? v.ri.shadowed : ((uint64_t)v.dst.st_size + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;
	c->created += !v.ri.has_lower;
	view_close(&v);
	if (rc == 0)
		rc = discard_entry(c, e);
	return rc < 0 ? fail_entry(c, path, "cannot commit", rc) : 0;
}

/* The record at e becomes one of a file made in the shadow (no lower file; FORMAT.md): the data file, already
 * the whole file, is all there is, with the mode (MODE) and - as root - owner the record held. Under the creation
 * lock, through new-record and a rename, as the engine creates records. 0 or -errno. */
static int make_new_record(struct commit_run *c, const struct ps_tree_entry *e, struct rec_view *v)
{
	mode_t mode = (v->ri.hdr.attr_flags & PS_ATTR_MODE) ? v->ri.hdr.mode : v->ri.hdr.lower_mode;
	int rc = ps_shadow_lock_create(c->sh), tfd = -1, dfd = -1;

	if (rc < 0)
		return rc;
	if ((dfd = ps_sys->openat(c->sh->dirfd, e->data_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (geteuid() == 0 && (v->ri.hdr.attr_flags & PS_ATTR_OWNER) && fchown(dfd, v->ri.hdr.uid, v->ri.hdr.gid) < 0) ||
	    fchmod(dfd, (mode & 07777) | 0600) < 0)
		goto fail_errno;
	ps_sys->unlinkat(c->sh->dirfd, "new-record", 0);
	if ((tfd = ps_sys->openat(c->sh->dirfd, "new-record", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		goto fail_errno;
	if ((rc = ps_record_format(tfd, NULL)) < 0 || (rc = ps_record_file_set_mode(tfd, mode)) < 0 ||
	    (rc = ps_record_file_set_data_ino(tfd, (uint64_t)v->dst.st_ino)) < 0)
		goto fail;
	if (fsync(tfd) < 0 || ps_sys->renameat(c->sh->dirfd, "new-record", c->sh->dirfd, e->meta_path) < 0)
		goto fail_errno;
	goto out;
fail_errno:
	rc = -errno;
fail:
	if (tfd >= 0)
		ps_sys->unlinkat(c->sh->dirfd, "new-record", 0);
out:
	if (tfd >= 0)
		close(tfd);
	if (dfd >= 0)
		close(dfd);
	ps_shadow_bump_generation(c->sh);
	ps_shadow_unlock_create(c->sh);
	return rc;
}

/* A record whose bytes will be written whole under its name though they come partly from a lower file elsewhere
 * (renamed, linked) or shared (a lower file with several names) is detached from it: every page is copied up, the
 * lower file's mode, owner and extended attributes become the shadow's, and the record becomes one without a
 * lower file. The merged file stays what it was, times included, but no longer needs the lower file, which commit
 * may delete or rewrite before this one's turn. A record already whole whose lower file is gone (a commit that
 * stopped) goes straight to the last step. */
static int detach(struct commit_run *c, const struct ps_tree_entry *e, struct rec_view *v, const char *path)
{
	char fpath[PATH_MAX];
	struct stat lst, dst;
	struct ps_file *f;
	int rc = open_merged(c->sh, e, fpath, sizeof(fpath), &f);

	if (rc == -ESTALE && whole_in_data(v))
		goto convert;
	if (rc < 0)
		return fail_entry(c, path, "cannot read it", rc);
	if (fstat(f->lower_fd, &lst) < 0 || fstat(f->data_fd, &dst) < 0)
		rc = -errno;
	if (rc == 0)
		rc = ps_merge_prepare_write(f, 0, (size_t)v->ri.lower_len);
	if (rc == 0 && !(ps_record_attr_flags(&f->rec) & PS_ATTR_MODE))
		ps_record_set_mode(&f->rec, lst.st_mode);
	if (rc == 0 && !(ps_record_attr_flags(&f->rec) & PS_ATTR_OWNER))
		ps_record_set_owner(&f->rec, lst.st_uid, lst.st_gid);
	if (rc == 0)
		rc = ps_file_own_xattrs(f);
	if (rc == 0 && futimens(f->data_fd, (struct timespec[2]){ dst.st_atim, dst.st_mtim }) < 0)
		rc = -errno;
	if (rc == 0)
		rc = ps_merge_sync(f);
	ps_file_put(f);
	if (rc < 0)
		return fail_entry(c, path, "cannot copy it up from its lower file", rc);
	if (ps_sys_pread_full(v->rfd, &v->ri.hdr, sizeof(v->ri.hdr), 0) != (ssize_t)sizeof(v->ri.hdr))
		return fail_entry(c, path, "its shadow record", -EIO);
convert:
	rc = make_new_record(c, e, v);
	return rc < 0 ? fail_entry(c, path, "cannot rewrite its shadow record", rc) : 0;
}

/* Does the record need detach? Its lower file is at another name, or has other names. */
static int needs_detach(const struct rec_view *v)
{
	struct stat lst;

	if (!v->ri.has_lower || (v->ri.hdr.attr_flags & PS_ATTR_COMMITTING))
		return 0;
	return v->ri.origin[0] || (stat(v->ri.lower_path, &lst) == 0 && lst.st_nlink > 1);
}

/* Pass 1: every record in scope must be usable before anything is changed; every record of the prefixes in
 * scope, PATH or not, that needs its lower file from elsewhere is detached from it (a PATH's deletions can remove
 * a lower file that a record outside PATH still reads). */
static int prepare_entry(const struct ps_tree_entry *e, void *arg)
{
	struct commit_run *c = arg;
	char path[PATH_MAX];
	struct rec_view v;
	int rc, detaching;

	if (walk_trouble(e, c->sh->path, &c->trouble))
		return 0;
	if (e->kind != PS_TREE_RECORD || join_path(path, sizeof(path), e->prefix, e->rel) < 0 ||
	    !scope_wants_prefix(&c->scope, e->prefix))
		return 0;
	rc = view_open(c, e, &v);
	detaching = rc == 0 && needs_detach(&v);
	if (rc < 0 && scope_wants(&c->scope, e->prefix, path))
		fail_entry(c, path, view_error(rc), rc);
	else if (detaching && !c->dry)
		detach(c, e, &v, path);
	view_close(&v);
	return 0;
}

static int remember_dir_attrs(struct commit_run *c, const char *path, const struct stat *st)
{
	if (c->ndirs == c->dirs_cap) {
		size_t cap = c->dirs_cap ? 2 * c->dirs_cap : 16;
		struct dir_attrs *d = realloc(c->dirs, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		c->dirs = d;
		c->dirs_cap = cap;
	}
	snprintf(c->dirs[c->ndirs].path, sizeof(c->dirs[c->ndirs].path), "%s", path);
	c->dirs[c->ndirs++].st = *st;
	return 0;
}

/* An opaque directory: the lower entry gives way to an empty directory, and the meta directory stops being
 * opaque - from then on the two trees agree on it. Directories with attributes of their own get them at the end. */
static int commit_dir(struct commit_run *c, const struct ps_tree_entry *e, const char *path)
{
	struct stat dst, lst;
	int rc, lower_dir;

	if (!(e->mode & (S_ISVTX | S_ISUID)))
		return 0;
	if (fstatat(c->sh->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_entry(c, path, "its directory in the shadow", -errno);
	lower_dir = lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode);
	if (c->dry) {
		printf("%s %s/ (mode %04o)\n", e->mode & S_ISVTX ? (lower_dir ? "replace" : "mkdir") : "attributes",
		       path, (unsigned)(dst.st_mode & 07777));
		return 0;
	}
	if (e->mode & S_ISVTX) {
		if ((rc = ps_tree_remove(path)) < 0 || (mkdir(path, 0700) < 0 && (rc = -errno) < 0))
			return fail_entry(c, path, "cannot make the directory", rc);
		if ((rc = ps_shadow_lock_create(c->sh)) < 0)
			return fail_entry(c, path, "cannot lock the shadow", rc);
		rc = fchmodat(c->sh->dirfd, e->meta_path, (e->mode & ~S_ISVTX & 07777) | S_ISUID, 0) < 0 ? -errno : 0;
		ps_shadow_bump_generation(c->sh);
		ps_shadow_unlock_create(c->sh);
		if (rc < 0)
			return fail_entry(c, path, "cannot update the shadow", rc);
		c->others++;
	}
	if ((rc = remember_dir_attrs(c, path, &dst)) < 0)
		return fail_entry(c, path, "cannot commit", rc);
	return 0;
}

static int commit_whiteout(struct commit_run *c, const struct ps_tree_entry *e, const char *path)
{
	struct stat lst;
	int rc;

	if (c->dry) {
		if (lstat(path, &lst) == 0)
			printf("delete %s%s\n", path, S_ISDIR(lst.st_mode) ? "/" : "");
		return 0;
	}
	if ((rc = ps_tree_remove(path)) < 0 || (rc = sync_parent(path)) < 0 || (rc = discard_entry(c, e)) < 0)
		return fail_entry(c, path, "cannot delete", rc);
	c->deleted++;
	return 0;
}

static int commit_symlink(struct commit_run *c, const struct ps_tree_entry *e, const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(c->sh->dirfd, e->meta_path, target, sizeof(target) - 1);
	int rc;

	if (n < 0)
		return fail_entry(c, path, "its symlink in the shadow", -errno);
	target[n] = '\0';
	if (c->dry) {
		printf("symlink %s -> %s\n", path, target);
		return 0;
	}
	if ((rc = ps_tree_remove(path)) < 0 || (symlink(target, path) < 0 && (rc = -errno) < 0) ||
	    (rc = sync_parent(path)) < 0 || (rc = discard_entry(c, e)) < 0)
		return fail_entry(c, path, "cannot make the symlink", rc);
	c->others++;
	return 0;
}

static int commit_special(struct commit_run *c, const struct ps_tree_entry *e, const char *path)
{
	struct stat st;
	int rc;

	if (fstatat(c->sh->dirfd, e->data_path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_entry(c, path, "its node in the shadow", -errno);
	if (c->dry) {
		printf("mknod %s\n", path);
		return 0;
	}
	if ((rc = ps_tree_remove(path)) < 0 || (mknod(path, st.st_mode, st.st_rdev) < 0 && (rc = -errno) < 0) ||
	    (chmod(path, st.st_mode & 07777) < 0 && (rc = -errno) < 0) || (rc = sync_parent(path)) < 0 ||
	    (rc = discard_entry(c, e)) < 0)
		return fail_entry(c, path, "cannot make the node", rc);
	c->others++;
	return 0;
}

/* Pass 2. */
static int commit_entry(const struct ps_tree_entry *e, void *arg)
{
	struct commit_run *c = arg;
	char path[PATH_MAX];

	if (walk_trouble(e, c->sh->path, &c->trouble))
		return 0;
	if (join_path(path, sizeof(path), e->prefix, e->rel) < 0 || !scope_wants(&c->scope, e->prefix, path) || !*e->rel)
		return 0;
	progress(c->dry ? "checked" : "committed", ++c->seen);
	switch (e->kind) {
	case PS_TREE_RECORD:
		return commit_record(c, e, path), 0;
	case PS_TREE_DIR:
		return commit_dir(c, e, path), 0;
	case PS_TREE_WHITEOUT:
		return commit_whiteout(c, e, path), 0;
	case PS_TREE_SYMLINK:
		return commit_symlink(c, e, path), 0;
	case PS_TREE_SPECIAL:
		return commit_special(c, e, path), 0;
	}
	return 0;
}

/* A PATH below a directory made in the shadow (opaque, or moved with its lower entries) would be written into
 * the old lower directory that the shadow's hides: the directory must be committed as a whole. */
static void check_not_inside_opaque(const struct commit_run *c)
{
	for (int i = 0; i < c->scope.npaths; i++) {
		const char *rel;
		int idx = ps_config_match(c->cfg, c->scope.paths[i], &rel);
		char meta[PATH_MAX];
		struct stat st;

		for (const char *slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
			char up[PATH_MAX];

			snprintf(up, sizeof(up), "%.*s", (int)(slash - rel), rel);
			if (ps_shadow_path(meta, sizeof(meta), "meta", c->cfg->prefix[idx].enc, up) < 0 ||
			    fstatat(c->sh->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) < 0)
				break;
			if (S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))
				fail("commit: %s lies in %s/%s, a directory made in the shadow: commit that directory",
				     c->scope.paths[i], c->cfg->prefix[idx].path, up);
		}
	}
}

/* A read-only lower filesystem is said once, up front (anything else unwritable: per entry). */
static void check_writable(const struct commit_run *c)
{
	for (int i = 0; i < (c->scope.npaths ? c->scope.npaths : c->cfg->nprefix); i++) {
		const char *p = c->scope.npaths ? c->scope.paths[i] : c->cfg->prefix[i].path;
		struct statvfs vfs;

		if (statvfs(p, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
			fail("commit: %s is on a read-only filesystem: make it writable first", p);
	}
}

/* After a commit without trouble, what is left of the shadow in scope is directories the lower tree now agrees
 * with: discarded. */
static void discard_rest(struct commit_run *c)
{
	for (int i = 0; i < (c->scope.npaths ? c->scope.npaths : c->cfg->nprefix); i++) {
		const char *rel = "", *path = c->scope.npaths ? c->scope.paths[i] : c->cfg->prefix[i].path;
		int idx = ps_config_match(c->cfg, path, &rel), rc;
		struct ps_tree_entry e = { .enc_prefix = c->cfg->prefix[idx].enc, .rel = rel };

		if ((rc = discard_entry(c, &e)) < 0)
			fail_entry(c, path, "cannot reset the shadow", rc);
	}
}

int cmd_commit(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	static const char *const names[] = { "dry-run", NULL };
	int flags[1] = { 0 }, rc;
	struct commit_run c = { .sh = sh, .cfg = cfg };

	scope_init(&c.scope, o, cfg, sh, names, flags);
	c.dry = flags[0];
	check_not_inside_opaque(&c);
	if (!c.dry)
		check_writable(&c);
	if (!(c.buf = malloc(COPY_CHUNK)))
		fail("commit: %s", strerror(ENOMEM));
	rc = ps_tree_walk(sh->dirfd, prepare_entry, &c);
	if (rc == 0 && !c.trouble)
		rc = ps_tree_walk(sh->dirfd, commit_entry, &c);
	else
		complain("commit: nothing was changed");
	for (size_t i = c.ndirs; i-- > 0;) /* deepest first: what a directory holds changed its times */
		if (!c.dry && (rc = set_attrs(c.dirs[i].path, &c.dirs[i].st)) < 0)
			fail_entry(&c, c.dirs[i].path, "cannot set its attributes", rc);
	progress_done();
	if (!c.dry && !c.trouble)
		discard_rest(&c);
	if (!c.dry)
		printf("committed %" PRIu64 " files (%" PRIu64 " pages, %" PRIu64 " new), %" PRIu64 " deletions, %" PRIu64
		       " other entries\n",
		       c.files, c.pages, c.created, c.deleted, c.others);
	scope_free(&c.scope);
	free(c.dirs);
	free(c.buf);
	return c.trouble ? EXIT_TROUBLE : 0;
}
