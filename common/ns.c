/* ns.c - the merged namespace: lookups, whiteouts, directories, listings (see ns.h). */
#include "ns.h"
#include "log.h"
#include "sys.h"

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

/* Is the meta symlink at path a whiteout (or a symlink of the merged tree)? 1, 0 or -errno. */
static int is_whiteout(int dirfd, const char *path)
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
			int wh = is_whiteout(sh->dirfd, p);

			if (wh < 0)
				return wh;
			out->state = wh ? (last ? PS_NS_ABSENT : PS_NS_NOPARENT) : PS_NS_SYMLINK;
			out->link_len = (size_t)(end - rel);
			return 0;
		}
		if (!S_ISDIR(st.st_mode)) {
			out->state = last ? PS_NS_RECORD : PS_NS_NOTDIR;
			return 0;
		}
		opaque_above |= (st.st_mode & S_ISVTX) != 0;
		if (last) {
			out->state = PS_NS_DIR;
			out->opaque = opaque_above;
			out->own_attrs = opaque_above || (st.st_mode & S_ISGID);
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
	return ps_sys_remove_tree(sh->dirfd, data);
}

int ps_ns_remove(struct ps_shadow *sh, const char *enc, const char *rel, int whiteout)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
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
			   const char *ddata)
{
	int rc;

	if ((rc = ps_shadow_make_parents(sh, dmeta)) < 0 || (rc = ps_shadow_make_parents(sh, ddata)) < 0)
		return rc;
	ps_sys_remove_tree(sh->dirfd, ddata);
	if (ps_sys->renameat(sh->dirfd, sdata, sh->dirfd, ddata) < 0 && errno != ENOENT) /* a symlink has none */
		return -errno;
	ps_sys_remove_tree(sh->dirfd, NEW_ENTRY);
	if (ps_sys->renameat(sh->dirfd, smeta, sh->dirfd, NEW_ENTRY) < 0) {
		rc = -errno; /* the source keeps both halves */
		ps_sys->renameat(sh->dirfd, ddata, sh->dirfd, sdata);
		return rc;
	}
	if ((rc = install_entry(sh, dmeta)) < 0) {
		ps_sys->renameat(sh->dirfd, NEW_ENTRY, sh->dirfd, smeta);
		ps_sys->renameat(sh->dirfd, ddata, sh->dirfd, sdata);
	}
	return rc;
}

int ps_ns_move(struct ps_shadow *sh, const char *src_enc, const char *src_rel, const char *dst_enc,
		   const char *dst_rel)
{
	char smeta[PATH_MAX], sdata[PATH_MAX], dmeta[PATH_MAX], ddata[PATH_MAX];
	int rc = entry_paths(src_enc, src_rel, smeta, sdata);

	if (rc < 0 || (rc = entry_paths(dst_enc, dst_rel, dmeta, ddata)) < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = move_locked(sh, smeta, sdata, dmeta, ddata);
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: moved to %s: %d", src_rel, dst_rel, rc);
	return rc;
}

static int own_attrs_locked(struct ps_shadow *sh, const char *meta, const char *data, const struct stat *lower)
{
	struct timespec times[2] = { lower->st_atim, lower->st_mtim };
	struct stat st;
	int rc;

	if (ps_sys->fstatat(sh->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & (S_ISGID | S_ISVTX)))
		return 0; /* done before */
	if ((rc = ps_shadow_make_parents(sh, meta)) < 0 || (rc = ps_shadow_make_parents(sh, data)) < 0)
		return rc;
	if ((ps_sys->mkdirat(sh->dirfd, meta, 0755) < 0 && errno != EEXIST) ||
	    (ps_sys->mkdirat(sh->dirfd, data, 0700) < 0 && errno != EEXIST))
		return -errno;
	if (geteuid() == 0 && ps_sys->fchownat(sh->dirfd, data, lower->st_uid, lower->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (ps_sys->fchmodat(sh->dirfd, data, lower->st_mode & 07777, 0) < 0 ||
	    ps_sys->utimensat(sh->dirfd, data, times, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* The mark last: a marked directory's data directory is complete. */
	return ps_sys->fchmodat(sh->dirfd, meta, 0755 | S_ISGID, 0) < 0 ? -errno : 0;
}

int ps_ns_dir_own_attrs(struct ps_shadow *sh, const char *enc, const char *rel, const struct stat *lower)
{
	char meta[PATH_MAX], data[PATH_MAX];
	int rc = entry_paths(enc, rel, meta, data);

	if (rc < 0)
		return rc;
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		return rc;
	rc = own_attrs_locked(sh, meta, data, lower);
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
	if (rc == 0)
		ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	ps_debug("%s and %s exchanged: %d", a_rel, b_rel, rc);
	return rc;
}

/* ---- listings ---- */

struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define DELETED 0xff /* a listing entry removed by a whiteout */

static const char *ent_name(const struct ps_dirlist *l, const struct ps_dirent *e)
{
	return l->names + e->name;
}

static int add_entry(struct ps_dirlist *l, const char *name, uint64_t ino, unsigned char type)
{
	size_t len = strlen(name) + 1;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct ps_dirent *e = realloc(l->ents, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->ents = e;
		l->cap = cap;
	}
	if (l->names_len + len > l->names_cap) {
		size_t cap = l->names_cap ? l->names_cap * 2 : 4096;
		char *n;

		while (cap < l->names_len + len)
			cap *= 2;
		if (!(n = realloc(l->names, cap)))
			return -ENOMEM;
		l->names = n;
		l->names_cap = cap;
	}
	memcpy(l->names + l->names_len, name, len);
	l->ents[l->count++] = (struct ps_dirent){ .ino = ino, .name = (uint32_t)l->names_len, .type = type };
	l->names_len += len;
	return 0;
}

static int is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* Every entry of the directory fd, from its start; only "." and ".." unless all. */
static int read_real(struct ps_dirlist *l, int fd, int all)
{
	char buf[8192];
	ssize_t n;
	int rc = 0;

	if (ps_sys->lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	while (rc == 0 && (n = ps_sys->getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n && rc == 0;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);

			off += d->d_reclen;
			if (all || is_dot(d->d_name))
				rc = add_entry(l, d->d_name, d->d_ino, d->d_type);
		}
	}
	return rc < 0 ? rc : n < 0 ? -errno : 0;
}

/* Names already listed, for the meta entries to find: open addressing over indices + 1 (0 is empty). */
struct name_index {
	uint32_t *slot;
	size_t mask;
};

static size_t name_hash(const char *s)
{
	size_t h = 14695981039346656037ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int index_build(struct name_index *ix, const struct ps_dirlist *l, size_t extra)
{
	size_t size = 64;

	while (size < 2 * (l->count + extra))
		size *= 2;
	if (!(ix->slot = calloc(size, sizeof(*ix->slot))))
		return -ENOMEM;
	ix->mask = size - 1;
	for (size_t i = 0; i < l->count; i++) {
		size_t h = name_hash(ent_name(l, &l->ents[i])) & ix->mask;

		while (ix->slot[h])
			h = (h + 1) & ix->mask;
		ix->slot[h] = (uint32_t)i + 1;
	}
	return 0;
}

/* The listed entry called name, or NULL; *free_slot gets where a new one would go. */
static struct ps_dirent *index_find(const struct name_index *ix, struct ps_dirlist *l, const char *name,
				    size_t *free_slot)
{
	size_t h = name_hash(name) & ix->mask;

	for (; ix->slot[h]; h = (h + 1) & ix->mask)
		if (strcmp(ent_name(l, &l->ents[ix->slot[h] - 1]), name) == 0)
			return &l->ents[ix->slot[h] - 1];
	*free_slot = h;
	return NULL;
}

static unsigned char meta_type(int dirfd, const struct dirent64_raw *d)
{
	struct stat st;

	if (d->d_type != DT_UNKNOWN)
		return d->d_type;
	if (ps_sys->fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return S_ISLNK(st.st_mode) ? DT_LNK : S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
}

/* The meta directory's entries, one by one: whiteouts remove names, records and directories add them. */
static int merge_meta(struct ps_dirlist *l, int mfd, struct name_index *ix)
{
	char buf[8192];
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = ps_sys->getdents64(mfd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n && rc == 0;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
			unsigned char type;
			struct ps_dirent *e;
			size_t free_slot = 0;

			off += d->d_reclen;
			if (is_dot(d->d_name))
				continue;
			type = meta_type(mfd, d);
			if (type == DT_LNK && (rc = is_whiteout(mfd, d->d_name)) != 0)
				type = DELETED;
			else if (type != DT_LNK)
				type = type == DT_DIR ? DT_DIR : DT_REG;
			if (rc < 0)
				return rc;
			rc = 0;
			if ((e = index_find(ix, l, d->d_name, &free_slot)) != NULL) {
				e->type = type;
			} else if (type != DELETED) {
				if ((size_t)(l->count + 1) * 2 > ix->mask + 1)
					return -EOVERFLOW; /* sized for every meta entry: cannot happen */
				rc = add_entry(l, d->d_name, d->d_ino, type);
				ix->slot[free_slot] = (uint32_t)l->count;
			}
		}
	}
	return rc < 0 ? rc : n < 0 ? -errno : 0;
}

/* Meta entries in the directory, for sizing the index: one more pass over a directory that is usually small. */
static int count_entries(int mfd, size_t *count)
{
	char buf[8192];
	ssize_t n;

	*count = 0;
	while ((n = ps_sys->getdents64(mfd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n; off += ((struct dirent64_raw *)(buf + off))->d_reclen)
			(*count)++;
	if (n < 0)
		return -errno;
	return ps_sys->lseek(mfd, 0, SEEK_SET) < 0 ? -errno : 0;
}

int ps_ns_list(struct ps_shadow *sh, const char *enc, const char *rel, int fd, int lower_shows,
	       struct ps_dirlist *out)
{
	char meta[PATH_MAX];
	struct name_index ix = { 0 };
	size_t nmeta;
	int mfd, rc;

	memset(out, 0, sizeof(*out));
	if (fd >= 0 && (rc = read_real(out, fd, lower_shows)) < 0)
		return rc;
	if ((rc = ps_shadow_path(meta, sizeof(meta), "meta", enc, rel)) < 0)
		return rc;
	mfd = ps_sys->openat(sh->dirfd, meta, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
	rc = count_entries(mfd, &nmeta);
	if (rc == 0)
		rc = index_build(&ix, out, nmeta);
	if (rc == 0)
		rc = merge_meta(out, mfd, &ix);
	free(ix.slot);
	ps_sys->close(mfd);
	return rc;
}

void ps_dirlist_free(struct ps_dirlist *l)
{
	free(l->ents);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

int ps_dirlist_has_names(const struct ps_dirlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->ents[i].type != DELETED && !is_dot(ent_name(l, &l->ents[i])))
			return 1;
	return 0;
}

long ps_dirlist_fill(const struct ps_dirlist *l, size_t *pos, void *buf, size_t n)
{
	size_t used = 0;

	for (; *pos < l->count; (*pos)++) {
		const struct ps_dirent *e = &l->ents[*pos];
		const char *name = ent_name(l, e);
		size_t len = strlen(name), reclen = (offsetof(struct dirent64_raw, d_name) + len + 1 + 7) & ~(size_t)7;
		struct dirent64_raw *d = (struct dirent64_raw *)((char *)buf + used);

		if (e->type == DELETED)
			continue;
		if (used + reclen > n)
			break;
		d->d_ino = e->ino;
		d->d_off = (int64_t)*pos + 1;
		d->d_reclen = (unsigned short)reclen;
		d->d_type = e->type;
		memcpy(d->d_name, name, len + 1);
		used += reclen;
	}
	if (used == 0 && *pos < l->count)
		return -EINVAL;
	return (long)used;
}
