/* ns.c - the merged namespace: lookups, whiteouts, directories, listings (see ns.h). */
#include "ns.h"
#include "listing.h"
#include "log.h"
#include "path.h"
#include "record.h"
#include "sys.h"
#include "xattr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A whiteout is a symlink whose target cannot be a directory: a path through it (meta/<p>/gone/x) fails with
 * ENOTDIR instead of reaching anything. */
#define WHITEOUT_TARGET "/dev/null/pageshadow-whiteout"
/* Where a new whiteout or directory is assembled before it is moved into place (under the creation lock). */
#define NEW_ENTRY "new-entry"
/* Where a record's new name is linked before it replaces what the name held. */
#define NEW_LINK "new-link"

int ps_ns_is_whiteout(int dirfd, const char *path)
{
	char target[sizeof(WHITEOUT_TARGET) + 1];
	ssize_t n = ps_sys->readlinkat(dirfd, path, target, sizeof(target));

	if (n < 0)
		return -errno;
	return n == (ssize_t)strlen(WHITEOUT_TARGET) && memcmp(target, WHITEOUT_TARGET, (size_t)n) == 0;
}

int ps_ns_lookup(struct ps_shadow *sh, const char *enc, const char *rel, struct ps_ns *out)
{
	char p[PATH_MAX];
	int n = ps_shadow_path(p, sizeof(p), "meta", enc, "");
	int opaque_above = 0;

	out->state = PS_NS_LOWER;
	out->opaque = out->own_attrs = 0;
	if (n < 0)
		return n;
	for (const char *c = rel; *c;) {
		const char *end = strchrnul(c, '/');
		int last = *end == '\0' || end[1] == '\0';
		size_t len = (size_t)(end - c);
		struct stat st;

		if ((size_t)n + 1 + len >= sizeof(p))
			return -ENAMETOOLONG;
		p[n++] = '/';
		memcpy(p + n, c, len);
		n += (int)len;
		p[n] = '\0';
		if (ps_sys->fstatat(sh->dirfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			out->state = !opaque_above ? PS_NS_LOWER : last ? PS_NS_ABSENT : PS_NS_NOPARENT;
			return 0;
		}
		if (S_ISLNK(st.st_mode)) {
			int wh = ps_ns_is_whiteout(sh->dirfd, p);

			if (wh < 0)
				return wh;
			out->state = wh ? (last ? PS_NS_ABSENT : PS_NS_NOPARENT) : PS_NS_SYMLINK;
			out->link_len = (size_t)(end - rel);
			return 0;
		}
		if (!S_ISDIR(st.st_mode)) {
			out->state = !last ? PS_NS_NOTDIR : S_ISFIFO(st.st_mode) ? PS_NS_SPECIAL : PS_NS_RECORD;
			out->header_only = st.st_size <= (off_t)PS_RECORD_HEADER_SIZE;
			return 0;
		}
		opaque_above |= (st.st_mode & S_ISVTX) != 0;
		if (last) {
			out->state = PS_NS_DIR;
			out->opaque = opaque_above;
			out->own_attrs = opaque_above || (st.st_mode & S_ISUID);
			return 0;
		}
		c = end + 1;
	}
	return 0; /* the prefix itself: always its lower directory */
}

static int entry_paths(const char *enc, const char *rel, char *meta, char *data)
{
	int rc = ps_shadow_path(meta, PATH_MAX, "meta", enc, rel);

	return rc < 0 ? rc : ps_shadow_path(data, PATH_MAX, "data", enc, rel);
}

/* Put the entry assembled at NEW_ENTRY in place of name, atomically where the filesystem can exchange names:
 * whatever name held (a record, a directory of whiteouts, a whiteout) ends up at NEW_ENTRY and is removed. */
static int install_entry(struct ps_shadow *sh, const char *name)
{
	if (ps_sys->renameat2(sh->dirfd, NEW_ENTRY, sh->dirfd, name, RENAME_EXCHANGE) == 0)
		return ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (errno == ENOENT) /* nothing at name */
		return ps_sys->renameat(sh->dirfd, NEW_ENTRY, sh->dirfd, name) < 0 ? -errno : 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* No RENAME_EXCHANGE on this filesystem: the old entry goes first, a short window in which the lower
	 * entry shows (a crash in it leaves the name undeleted, never half-deleted). */
	ps_sys_remove_tree(sh->dirfd, name);
	return ps_sys->renameat(sh->dirfd, NEW_ENTRY, sh->dirfd, name) < 0 ? -errno : 0;
}

static int remove_locked(struct ps_shadow *sh, const char *meta, const char *data, int whiteout);

int ps_ns_link_locked(struct ps_shadow *sh, const char *from, const char *to)
{
	int rc;

	ps_sys->unlinkat(sh->dirfd, NEW_LINK, 0);
	if (ps_sys->linkat(sh->dirfd, from, sh->dirfd, NEW_LINK, 0) < 0)
		return -errno;
	if (ps_sys->renameat(sh->dirfd, NEW_LINK, sh->dirfd, to) < 0) {
		rc = -errno;
		ps_sys->unlinkat(sh->dirfd, NEW_LINK, 0);
		return rc;
	}
	return 0;
}

int ps_ns_move_leaving_whiteout_locked(struct ps_shadow *sh, const char *from, const char *to)
{
	/* The record (a regular file) takes its new name first, as a hard link: a crash from here on shows it under
	 * both names, never under neither. Then the old name becomes a whiteout in one exchange. */
	int rc = ps_ns_link_locked(sh, from, to);

	return rc < 0 ? rc : remove_locked(sh, from, "", 1);
}

static int remove_locked(struct ps_shadow *sh, const char *meta, const char *data, int whiteout)
{
	int rc;

	if (whiteout) {
		if ((rc = ps_shadow_make_parents(sh, meta)) < 0)
			return rc;
		ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
		if (ps_sys->symlinkat(WHITEOUT_TARGET, sh->dirfd, NEW_ENTRY) < 0)
			return -errno;
		if ((rc = install_entry(sh, meta)) < 0) {
			ps_sys->unlinkat(sh->dirfd, NEW_ENTRY, 0);
			return rc;
		}
	} else if ((rc = ps_sys_remove_tree(sh->dirfd, meta)) < 0) {
		return rc;
	}
	/* The meta entry is gone or replaced: what is left in the data tree means nothing any more. */
	return *data ? ps_sys_remove_tree(sh->dirfd, data) : 0;
}

/* Only whiteouts in the meta directory (a directory whose merged listing the caller found empty stays so). */
static int only_whiteouts(struct ps_shadow *sh, const char *enc, const char *rel)
{
	struct ps_dirlist l;
	int rc = ps_ns_list(sh, enc, rel, -1, 0, &l);

	if (rc == 0)
		rc = ps_dirlist_has_names(&l) ? -ENOTEMPTY : 0;
	ps_dirlist_free(&l);
	return rc;
}

/* Under the creation lock, the name must still be there to be removed: another process may have been first. */
static int still_there(struct ps_shadow *sh, const char *enc, const char *rel, int whiteout)
{
	struct ps_ns ns;
	int rc = ps_ns_lookup(sh, enc, rel, &ns);

	if (rc < 0)
		return rc;
	switch (ns.state) {
	case PS_NS_LOWER:
		return whiteout ? 0 : -ENOENT;
	case PS_NS_DIR:
		return only_whiteouts(sh, enc, rel);
	case PS_NS_NOTDIR:
		return -ENOTDIR;
	case PS_NS_ABSENT:
	case PS_NS_NOPARENT:
		return -ENOENT;
	default:
		return 0;
	}
}

int ps_ns_remove(struct ps_shadow *sh, const char *enc, const char *rel, int whiteout)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = still_there(sh, enc, rel, whiteout);
	if (rc == 0)
		rc = remove_locked(sh, meta, data, whiteout);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: removed from %s/%s%s: %d", rel, sh->path, meta, whiteout ? " (whiteout)" : "", rc);
	return rc;
}

static int mkdir_locked(struct ps_shadow *sh, const char *enc, const char *rel, const char *meta, const char *data,
			mode_t mode)
{
	struct ps_ns ns;
	int rc;

	if ((rc = ps_ns_lookup(sh, enc, rel, &ns)) < 0)
		return rc;
	if (ns.state == PS_NS_RECORD || ns.state == PS_NS_DIR)
		return -EEXIST;
	if (ns.state == PS_NS_NOPARENT)
		return -ENOENT;
	if (ns.state == PS_NS_NOTDIR)
		return -ENOTDIR;
	if ((rc = ps_shadow_make_parents(sh, meta)) < 0 || (rc = ps_shadow_make_parents(sh, data)) < 0)
		return rc;
	/* Data first (a leftover there is meaningless without a meta entry), then the entry that gives it meaning.
	 * The program needs to use the directory it made: owner rwx always. */
	ps_sys_remove_tree(sh->dirfd, data);
	if (ps_sys->mkdirat(sh->dirfd, data, (mode & 07777) | 0700) < 0)
		return -errno;
	ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (ps_sys->mkdirat(sh->dirfd, NEW_ENTRY, 0755 | S_ISVTX) < 0)
		return -errno;
	if ((rc = install_entry(sh, meta)) < 0)
		ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	return rc;
}

int ps_ns_mkdir(struct ps_shadow *sh, const char *enc, const char *rel, mode_t mode)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if (!*rel)
		return -EEXIST;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = mkdir_locked(sh, enc, rel, meta, data, mode);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: directory made in the shadow: %d", rel, rc);
	return rc;
}

static int move_locked(struct ps_shadow *sh, const char *smeta, const char *sdata, const char *dmeta,
			   const char *ddata, int whiteout_src)
{
	int rc;

	if ((rc = ps_shadow_make_parents(sh, dmeta)) < 0 || (rc = ps_shadow_make_parents(sh, ddata)) < 0)
		return rc;
	ps_sys_remove_tree(sh->dirfd, ddata);
	if (ps_sys->renameat(sh->dirfd, sdata, sh->dirfd, ddata) < 0 && errno != ENOENT) /* a symlink has none */
		return -errno;
	/* The meta entry straight to its new name - exchanged with what the name held, which then goes - never
	 * parked under a name of the shadow's own, where a crash would leave it under neither. */
	if (ps_sys->renameat2(sh->dirfd, smeta, sh->dirfd, dmeta, RENAME_NOREPLACE) == 0)
		rc = 0;
	else if (errno == EEXIST && ps_sys->renameat2(sh->dirfd, smeta, sh->dirfd, dmeta, RENAME_EXCHANGE) == 0)
		rc = ps_sys_remove_tree(sh->dirfd, smeta); /* what dst held: a whiteout, or whiteouts */
	else if ((errno == EINVAL || errno == ENOSYS) && ps_sys->renameat(sh->dirfd, smeta, sh->dirfd, dmeta) == 0)
		rc = 0; /* no renameat2 here: a plain rename (over an empty directory, or a whiteout it cannot replace) */
	else
		rc = -errno;
	if (rc < 0) {
		ps_sys->renameat(sh->dirfd, ddata, sh->dirfd, sdata); /* the source keeps both halves */
		return rc;
	}
	return whiteout_src ? remove_locked(sh, smeta, "", 1) : 0; /* the lower entry left at the old name */
}

int ps_ns_name_free_locked(struct ps_shadow *sh, const char *enc, const char *rel)
{
	struct ps_ns ns;
	int rc = ps_ns_lookup(sh, enc, rel, &ns);

	if (rc < 0)
		return rc;
	switch (ns.state) {
	case PS_NS_LOWER:
	case PS_NS_ABSENT:
		return 0;
	case PS_NS_NOPARENT:
		return -ENOENT;
	case PS_NS_NOTDIR:
		return -ENOTDIR;
	default:
		return -EEXIST;
	}
}

int ps_ns_move(struct ps_shadow *sh, const char *src_enc, const char *src_rel, const char *dst_enc,
		   const char *dst_rel, int noreplace, int whiteout_src)
{
	char smeta[PATH_MAX], sdata[PATH_MAX], dmeta[PATH_MAX], ddata[PATH_MAX];
	int rc = entry_paths(src_enc, src_rel, smeta, sdata);

	if (rc < 0 || (rc = entry_paths(dst_enc, dst_rel, dmeta, ddata)) < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = noreplace ? ps_ns_name_free_locked(sh, dst_enc, dst_rel) : 0;
	if (rc == 0)
		rc = move_locked(sh, smeta, sdata, dmeta, ddata, whiteout_src);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: moved to %s: %d", src_rel, dst_rel, rc);
	return rc;
}

/* path, a place in the shadow directory, as an absolute path (for the calls that take no directory fd). */
static int shadow_abs(const struct ps_shadow *sh, const char *path, char *out, size_t outsz)
{
	return snprintf(out, outsz, "%s/%s", sh->path, path) >= (int)outsz ? -ENAMETOOLONG : 0;
}

/* The lower entry rel of the prefix enc, as an absolute path. */
static int lower_abs(const char *enc, const char *rel, char *out, size_t outsz)
{
	char prefix[PATH_MAX];
	int rc = ps_path_decode_prefix(enc, prefix, sizeof(prefix));

	if (rc < 0)
		return rc;
	return snprintf(out, outsz, "%s/%s", strcmp(prefix, "/") == 0 ? "" : prefix, rel) >= (int)outsz ? -ENAMETOOLONG
													    : 0;
}

static int own_attrs_locked(struct ps_shadow *sh, const char *enc, const char *rel, const char *meta,
			    const char *data, const struct stat *lower)
{
	struct timespec times[2] = { lower->st_atim, lower->st_mtim };
	char lower_path[PATH_MAX * 2];
	struct stat st;
	int rc;

	if (ps_sys->fstatat(sh->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & (S_ISUID | S_ISVTX)))
		return 0; /* done before */
	if ((rc = lower_abs(enc, rel, lower_path, sizeof(lower_path))) < 0)
		return rc;
	if ((rc = ps_shadow_make_parents(sh, meta)) < 0 || (rc = ps_shadow_make_parents(sh, data)) < 0)
		return rc;
	if ((ps_sys->mkdirat(sh->dirfd, meta, 0755) < 0 && errno != EEXIST) ||
	    (ps_sys->mkdirat(sh->dirfd, data, 0700) < 0 && errno != EEXIST))
		return -errno;
	if (geteuid() == 0 && ps_sys->fchownat(sh->dirfd, data, lower->st_uid, lower->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* the attributes before the mode: an ACL among them sets permission bits, the mode then sets them right */
	if ((rc = ps_xattr_copy(lower_path, sh->dirfd, data)) < 0)
		return rc;
	if (ps_sys->fchmodat(sh->dirfd, data, lower->st_mode & 07777, 0) < 0 ||
	    ps_sys->utimensat(sh->dirfd, data, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* The mark last: a marked directory's data directory is complete. */
	return ps_sys->fchmodat(sh->dirfd, meta, 0755 | S_ISUID, 0) < 0 ? -errno : 0;
}

int ps_ns_dir_own_attrs(struct ps_shadow *sh, const char *enc, const char *rel, const struct stat *lower)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = own_attrs_locked(sh, enc, rel, meta, data, lower);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: the lower directory's attributes now live in the shadow: %d", rel, rc);
	return rc;
}

int ps_ns_readlink(struct ps_shadow *sh, const char *enc, const char *rel, char *buf, size_t bufsz)
{
	char meta[PATH_MAX];
	ssize_t n;
	int rc = ps_shadow_path(meta, sizeof(meta), "meta", enc, rel);

	if (rc < 0)
		return rc;
	if (bufsz == 0)
		return -ERANGE;
	if ((n = ps_sys->readlinkat(sh->dirfd, meta, buf, bufsz - 1)) < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

static int symlink_locked(struct ps_shadow *sh, const char *enc, const char *rel, const char *meta,
			  const char *target)
{
	struct ps_ns ns;
	int rc;

	if ((rc = ps_ns_lookup(sh, enc, rel, &ns)) < 0)
		return rc;
	if (ns.state != PS_NS_LOWER && ns.state != PS_NS_ABSENT)
		return ns.state == PS_NS_NOPARENT ? -ENOENT : ns.state == PS_NS_NOTDIR ? -ENOTDIR : -EEXIST;
	if ((rc = ps_shadow_make_parents(sh, meta)) < 0)
		return rc;
	ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (ps_sys->symlinkat(target, sh->dirfd, NEW_ENTRY) < 0)
		return -errno;
	if ((rc = install_entry(sh, meta)) < 0)
		ps_sys->unlinkat(sh->dirfd, NEW_ENTRY, 0);
	return rc;
}

static int mknod_locked(struct ps_shadow *sh, const char *enc, const char *rel, const char *meta, const char *data,
			mode_t mode, dev_t dev)
{
	int rc = ps_ns_name_free_locked(sh, enc, rel);

	if (rc < 0 || (rc = ps_shadow_make_parents(sh, meta)) < 0 || (rc = ps_shadow_make_parents(sh, data)) < 0)
		return rc;
	ps_sys_remove_tree(sh->dirfd, data); /* a leftover means nothing without its meta entry */
	if (ps_sys->mknodat(sh->dirfd, data, mode, dev) < 0)
		return -errno;
	ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (ps_sys->mknodat(sh->dirfd, NEW_ENTRY, S_IFIFO | 0644, 0) < 0 || (rc = install_entry(sh, meta)) < 0) {
		rc = rc < 0 ? rc : -errno;
		ps_sys->unlinkat(sh->dirfd, NEW_ENTRY, 0);
		ps_sys->unlinkat(sh->dirfd, data, 0);
	}
	return rc;
}

int ps_ns_mknod(struct ps_shadow *sh, const char *enc, const char *rel, mode_t mode, dev_t dev)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = mknod_locked(sh, enc, rel, meta, data, mode, dev);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: special file 0%o made in the shadow: %d", rel, (unsigned)mode, rc);
	return rc;
}

int ps_ns_symlink(struct ps_shadow *sh, const char *enc, const char *rel, const char *target)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if (strcmp(target, WHITEOUT_TARGET) == 0)
		return -EINVAL; /* the one target the shadow keeps for itself */
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = symlink_locked(sh, enc, rel, meta, target);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: symlink to %s made in the shadow: %d", rel, target, rc);
	return rc;
}

static int exchange_locked(struct ps_shadow *sh, const char *ameta, const char *adata, const char *bmeta,
			   const char *bdata)
{
	struct stat st;
	int a_data = ps_sys->fstatat(sh->dirfd, adata, &st, AT_SYMLINK_NOFOLLOW) == 0;
	int b_data = ps_sys->fstatat(sh->dirfd, bdata, &st, AT_SYMLINK_NOFOLLOW) == 0;
	int r;

	/* a symlink has no data entry, and its directory perhaps no data directory: the other's data goes there */
	if ((r = ps_shadow_make_parents(sh, adata)) < 0 || (r = ps_shadow_make_parents(sh, bdata)) < 0)
		return r;

	if (a_data && b_data)
		r = ps_sys->renameat2(sh->dirfd, adata, sh->dirfd, bdata, RENAME_EXCHANGE);
	else if (a_data || b_data)
		r = a_data ? ps_sys->renameat(sh->dirfd, adata, sh->dirfd, bdata)
			   : ps_sys->renameat(sh->dirfd, bdata, sh->dirfd, adata);
	else
		r = 0;
	if (r < 0)
		return -errno;
	if (ps_sys->renameat2(sh->dirfd, ameta, sh->dirfd, bmeta, RENAME_EXCHANGE) == 0)
		return 0;
	r = -errno; /* put the data back as it was */
	if (a_data && b_data)
		ps_sys->renameat2(sh->dirfd, adata, sh->dirfd, bdata, RENAME_EXCHANGE);
	else if (a_data || b_data)
		ps_sys->renameat(sh->dirfd, a_data ? bdata : adata, sh->dirfd, a_data ? adata : bdata);
	return r;
}

int ps_ns_exchange(struct ps_shadow *sh, const char *enc, const char *a_rel, const char *b_rel)
{
	char ameta[PATH_MAX], adata[PATH_MAX], bmeta[PATH_MAX], bdata[PATH_MAX];
	int rc = entry_paths(enc, a_rel, ameta, adata);

	if (rc < 0 || (rc = entry_paths(enc, b_rel, bmeta, bdata)) < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = exchange_locked(sh, ameta, adata, bmeta, bdata);
	if (rc == 0 && (ps_path_names_library(a_rel) || ps_path_names_library(b_rel)))
		ps_shadow_set_flags(sh, PS_SHADOW_HAS_LIBRARIES); /* a library under either name now (shadow.h) */
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s and %s exchanged: %d", a_rel, b_rel, rc);
	return rc;
}

/* ---- moving a directory that has lower entries ---- */

/* Where the copy of a directory's names is assembled, under the creation lock, before it is moved into place. */
#define STAGE_META "new-dir-meta"
#define STAGE_DATA "new-dir-data"
#define MAX_DEPTH 256

/* One directory being copied: its shadow entries (src_meta, src_data), its lower directory (lower_fd, -1 when it
 * shows none) at origin below the prefix, and where its copy goes (dst_meta, dst_data). All paths are relative to
 * the shadow directory and are extended in place for the entries. */
struct name_copy {
	struct ps_shadow *sh;
	const char *enc;
	char src_meta[PATH_MAX], src_data[PATH_MAX], dst_meta[PATH_MAX], dst_data[PATH_MAX], origin[PATH_MAX];
};

/* Append "/name" to each of the five paths (their old lengths in len[]); -ENAMETOOLONG. */
static int push(struct name_copy *c, const char *name, size_t len[5])
{
	char *paths[5] = { c->src_meta, c->src_data, c->dst_meta, c->dst_data, c->origin };

	for (int i = 0; i < 5; i++) {
		len[i] = strlen(paths[i]);
		if (len[i] + 1 + strlen(name) >= PATH_MAX)
			return -ENAMETOOLONG;
	}
	for (int i = 0; i < 5; i++)
		sprintf(paths[i] + len[i], "/%s", name);
	return 0;
}

static void pop(struct name_copy *c, const size_t len[5])
{
	char *paths[5] = { c->src_meta, c->src_data, c->dst_meta, c->dst_data, c->origin };

	for (int i = 0; i < 5; i++)
		paths[i][len[i]] = '\0';
}

/* A lower regular file: a new record that points at it (nothing copied) and a sparse data file of its size. */
/* A file named like a shared library gets a record: from now on ld.so asks the audit module about every
 * library it loads (shadow.h). */
static void note_library(struct name_copy *c)
{
	if (ps_path_names_library(c->origin))
		ps_shadow_set_flags(c->sh, PS_SHADOW_HAS_LIBRARIES);
}

static int copy_lower_file(struct name_copy *c, const struct stat *lst)
{
	struct timespec times[2] = { lst->st_atim, lst->st_mtim };
	struct stat st;
	int fd, rc;

	fd = ps_sys->openat(c->sh->dirfd, c->dst_data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (lst->st_mode & 07777) | 0600);
	if (fd < 0)
		return -errno;
	rc = ps_sys->ftruncate(fd, lst->st_size) < 0 || ps_sys->futimens(fd, times) < 0 ? -errno : 0;
	ps_sys->close(fd);
	if (rc < 0)
		return rc;
	if (ps_sys->fstatat(c->sh->dirfd, c->dst_data, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((fd = ps_sys->openat(c->sh->dirfd, c->dst_meta, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if ((rc = ps_record_format(fd, lst)) == 0 && (rc = ps_record_file_set_data_ino(fd, (uint64_t)st.st_ino)) == 0)
		rc = ps_record_file_keep_origin(fd, c->origin);
	ps_sys->close(fd);
	if (rc == 0)
		note_library(c);
	return rc;
}

/* A record: it keeps its inode under the new name (a hard link, as a rename would), after saying where its lower
 * file is. */
static int copy_record(struct name_copy *c)
{
	int fd = ps_sys->openat(c->sh->dirfd, c->src_meta, O_RDWR | O_CLOEXEC | O_NOFOLLOW), rc;

	if (fd < 0)
		return -errno;
	rc = ps_record_file_keep_origin(fd, c->origin);
	ps_sys->close(fd);
	if (rc < 0)
		return rc;
	if (ps_sys->linkat(c->sh->dirfd, c->src_data, c->sh->dirfd, c->dst_data, 0) < 0 ||
	    ps_sys->linkat(c->sh->dirfd, c->src_meta, c->sh->dirfd, c->dst_meta, 0) < 0)
		return -errno;
	return 0;
}

static int copy_symlink(struct name_copy *c, int dirfd, const char *path)
{
	char target[PATH_MAX];
	ssize_t n = ps_sys->readlinkat(dirfd, path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = '\0';
	return ps_sys->symlinkat(target, c->sh->dirfd, c->dst_meta) < 0 ? -errno : 0;
}

static int copy_dir(struct name_copy *c, int lower_fd, int depth);

/* One name of the directory being copied (the paths already name it). */
static int copy_entry(struct name_copy *c, int lower_fd, const char *name, int depth)
{
	struct stat st;
	int sub_fd, rc;

	if (ps_sys->fstatat(c->sh->dirfd, c->src_meta, &st, AT_SYMLINK_NOFOLLOW) == 0) { /* the shadow's entry */
		if (S_ISREG(st.st_mode))
			return copy_record(c);
		if (S_ISFIFO(st.st_mode)) /* a special file: its node and its mark, linked */
			return ps_sys->linkat(c->sh->dirfd, c->src_data, c->sh->dirfd, c->dst_data, 0) < 0 ||
					       ps_sys->linkat(c->sh->dirfd, c->src_meta, c->sh->dirfd, c->dst_meta, 0) < 0
				       ? -errno
				       : 0;
		if (S_ISLNK(st.st_mode))
			return copy_symlink(c, c->sh->dirfd, c->src_meta);
		sub_fd = lower_fd >= 0 && !(st.st_mode & S_ISVTX)
				 ? ps_sys->openat(lower_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				 : -1;
	} else if (errno != ENOENT) {
		return -errno;
	} else if (ps_sys->fstatat(lower_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		return -errno;
	} else if (S_ISREG(st.st_mode)) {
		return copy_lower_file(c, &st);
	} else if (S_ISLNK(st.st_mode)) {
		return copy_symlink(c, lower_fd, name);
	} else if (!S_ISDIR(st.st_mode)) { /* a lower FIFO, socket or device: made anew, with its mark */
		return ps_sys->mknodat(c->sh->dirfd, c->dst_data, st.st_mode, st.st_rdev) < 0 ||
				       ps_sys->mknodat(c->sh->dirfd, c->dst_meta, S_IFIFO | 0644, 0) < 0
			       ? -errno
			       : 0;
	} else if ((sub_fd = ps_sys->openat(lower_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		return -errno;
	}
	rc = copy_dir(c, sub_fd, depth + 1);
	if (sub_fd >= 0)
		ps_sys->close(sub_fd);
	return rc;
}

/* The attributes the directory shows: its own data directory's when it has them, else the lower one's - in *st,
 * and where its extended attributes are (an absolute path) in xattrs. */
static int dir_attrs(struct name_copy *c, int lower_fd, struct stat *st, char *xattrs, size_t xattrs_sz)
{
	struct stat meta;

	if (ps_sys->fstatat(c->sh->dirfd, c->src_meta, &meta, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(meta.st_mode) &&
	    (meta.st_mode & (S_ISUID | S_ISVTX))) {
		if (ps_sys->fstatat(c->sh->dirfd, c->src_data, st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		return shadow_abs(c->sh, c->src_data, xattrs, xattrs_sz);
	}
	if (ps_sys->fstat(lower_fd, st) < 0)
		return -errno;
	snprintf(xattrs, xattrs_sz, "/proc/self/fd/%d/.", lower_fd); /* "/." reaches the directory itself */
	return 0;
}

/* The directory's names, from its merged listing, into a new opaque directory with the same attributes. */
static int copy_dir(struct name_copy *c, int lower_fd, int depth)
{
	char xattrs[PATH_MAX * 2];
	struct timespec times[2];
	struct ps_dirlist l;
	struct stat st;
	int rc;

	if (depth > MAX_DEPTH)
		return -EXDEV;
	if ((rc = dir_attrs(c, lower_fd, &st, xattrs, sizeof(xattrs))) < 0)
		return rc;
	if (ps_sys->mkdirat(c->sh->dirfd, c->dst_meta, 0755 | S_ISVTX) < 0 ||
	    ps_sys->mkdirat(c->sh->dirfd, c->dst_data, 0700) < 0)
		return -errno;
	/* the directory's meta entry is at its lower name (no directory is redirected): origin names both */
	if ((rc = ps_ns_list(c->sh, c->enc, c->origin, lower_fd, lower_fd >= 0, &l)) < 0) {
		ps_dirlist_free(&l);
		return rc;
	}
	for (size_t pos = 0; rc == 0 && pos < l.count; pos++) {
		const char *name = l.names + l.ents[pos].name;
		size_t len[5];

		if (l.ents[pos].type == PS_DIRENT_DELETED || (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))))
			continue;
		if ((rc = push(c, name, len)) == 0)
			rc = copy_entry(c, lower_fd, name, depth);
		pop(c, len);
	}
	ps_dirlist_free(&l);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	if (rc == 0)
		rc = ps_xattr_copy(xattrs, c->sh->dirfd, c->dst_data);
	if (rc == 0 && (ps_sys->fchmodat(c->sh->dirfd, c->dst_data, st.st_mode & 07777, 0) < 0 ||
			ps_sys->utimensat(c->sh->dirfd, c->dst_data, times, AT_SYMLINK_NOFOLLOW) < 0))
		rc = -errno;
	return rc;
}

static int move_copying_locked(struct ps_shadow *sh, const char *enc, const char *src_rel, const char *dst_rel)
{
	struct name_copy *c = calloc(1, sizeof(*c));
	char lower[PATH_MAX * 2], dmeta[PATH_MAX], ddata[PATH_MAX];
	int lower_fd, rc;

	if (!c)
		return -ENOMEM;
	c->sh = sh;
	c->enc = enc;
	if ((rc = lower_abs(enc, src_rel, lower, sizeof(lower))) < 0 ||
	    (rc = entry_paths(enc, src_rel, c->src_meta, c->src_data)) < 0 ||
	    (rc = entry_paths(enc, dst_rel, dmeta, ddata)) < 0)
		goto out;
	snprintf(c->dst_meta, sizeof(c->dst_meta), STAGE_META);
	snprintf(c->dst_data, sizeof(c->dst_data), STAGE_DATA);
	snprintf(c->origin, sizeof(c->origin), "%s", src_rel);
	if ((lower_fd = ps_sys->openat(AT_FDCWD, lower, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	ps_sys_remove_tree(sh->dirfd, STAGE_META);
	ps_sys_remove_tree(sh->dirfd, STAGE_DATA);
	rc = copy_dir(c, lower_fd, 0);
	ps_sys->close(lower_fd);
	/* Data first, then the entry that gives it meaning, then the old name goes (a whiteout: its lower directory
	 * stays). A crash in between shows the directory under both names, never under neither. */
	if (rc == 0 && ((rc = ps_shadow_make_parents(sh, dmeta)) < 0 || (rc = ps_shadow_make_parents(sh, ddata)) < 0))
		goto out;
	if (rc == 0)
		ps_sys_remove_tree(sh->dirfd, ddata);
	if (rc == 0 && ps_sys->renameat(sh->dirfd, STAGE_DATA, sh->dirfd, ddata) < 0)
		rc = -errno;
	if (rc == 0)
		ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (rc == 0 && ps_sys->renameat(sh->dirfd, STAGE_META, sh->dirfd, NEW_ENTRY) < 0)
		rc = -errno;
	if (rc == 0 && (rc = install_entry(sh, dmeta)) == 0)
		rc = remove_locked(sh, c->src_meta, c->src_data, 1);
out:
	ps_sys_remove_tree(sh->dirfd, STAGE_META);
	ps_sys_remove_tree(sh->dirfd, STAGE_DATA);
	free(c);
	return rc;
}

int ps_ns_move_copying_names(struct ps_shadow *sh, const char *enc, const char *src_rel, const char *dst_rel,
			     int noreplace)
{
	int rc;

	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = noreplace ? ps_ns_name_free_locked(sh, enc, dst_rel) : 0;
	if (rc == 0)
		rc = move_copying_locked(sh, enc, src_rel, dst_rel);
	ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: directory with lower entries moved to %s by its names: %d", src_rel, dst_rel, rc);
	return rc;
}
