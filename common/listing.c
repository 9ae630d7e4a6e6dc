/* listing.c - merged directory listings (see listing.h). */
#include "listing.h"
#include "ns.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>




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
			struct ps_dirent64 *d = (struct ps_dirent64 *)(buf + off);

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

static unsigned char meta_type(int dirfd, const struct ps_dirent64 *d)
{
	struct stat st;

	if (d->d_type != DT_UNKNOWN)
		return d->d_type;
	if (ps_sys->fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return S_ISLNK(st.st_mode) ? DT_LNK : S_ISDIR(st.st_mode) ? DT_DIR : S_ISFIFO(st.st_mode) ? DT_FIFO : DT_REG;
}

static unsigned char twin_type(int dfd, const char *name)
{
	struct stat st;

	if (dfd < 0 || ps_sys->fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	return S_ISFIFO(st.st_mode) ? DT_FIFO : S_ISSOCK(st.st_mode) ? DT_SOCK : S_ISCHR(st.st_mode) ? DT_CHR
			: S_ISBLK(st.st_mode) ? DT_BLK : DT_UNKNOWN;
}

/* A name the shadow adds is listed with the inode stat reports for it: its data file's or data directory's
 * (a symlink's is its meta entry's own). */
static uint64_t shadow_ino(int dfd, const struct ps_dirent64 *d, unsigned char type)
{
	struct stat st;

	if (type == DT_LNK || dfd < 0 || ps_sys->fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return d->d_ino;
	return (uint64_t)st.st_ino;
}

/* The meta directory's entries, one by one: whiteouts remove names, records and directories add them. */
static int merge_meta(struct ps_dirlist *l, int mfd, int dfd, struct name_index *ix)
{
	char buf[8192];
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = ps_sys->getdents64(mfd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n && rc == 0;) {
			struct ps_dirent64 *d = (struct ps_dirent64 *)(buf + off);
			unsigned char type;
			struct ps_dirent *e;
			size_t free_slot = 0;

			off += d->d_reclen;
			if (is_dot(d->d_name))
				continue;
			type = meta_type(mfd, d);
			if (type == DT_LNK && (rc = ps_ns_is_whiteout(mfd, d->d_name)) != 0)
				type = PS_DIRENT_DELETED;
			else if (type == DT_FIFO) /* the mark of a special file: its data twin's type */
				type = twin_type(dfd, d->d_name);
			else if (type != DT_LNK)
				type = type == DT_DIR ? DT_DIR : DT_REG;
			if (rc < 0)
				return rc;
			rc = 0;
			if ((e = index_find(ix, l, d->d_name, &free_slot)) != NULL) {
				e->type = type;
			} else if (type != PS_DIRENT_DELETED) {
				if ((size_t)(l->count + 1) * 2 > ix->mask + 1) { /* half full: twice the room */
					free(ix->slot);
					if ((rc = index_build(ix, l, l->count)) < 0)
						return rc;
					index_find(ix, l, d->d_name, &free_slot);
				}
				rc = add_entry(l, d->d_name, shadow_ino(dfd, d, type), type);
				ix->slot[free_slot] = (uint32_t)l->count;
			}
		}
	}
	return rc < 0 ? rc : n < 0 ? -errno : 0;
}

int ps_ns_list(struct ps_shadow *sh, const char *enc, const char *rel, int fd, int lower_shows,
	       struct ps_dirlist *out)
{
	char meta[PATH_MAX], data[PATH_MAX];
	struct name_index ix = { 0 };
	int mfd, dfd, rc;

	memset(out, 0, sizeof(*out));
	if (fd >= 0 && (rc = read_real(out, fd, lower_shows)) < 0)
		return rc;
	if ((rc = ps_shadow_path(meta, sizeof(meta), "meta", enc, rel)) < 0 ||
	    (rc = ps_shadow_path(data, sizeof(data), "data", enc, rel)) < 0)
		return rc;
	mfd = ps_sys->openat(sh->dirfd, meta, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
	dfd = ps_sys->openat(sh->dirfd, data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	rc = index_build(&ix, out, 0);
	if (rc == 0)
		rc = merge_meta(out, mfd, dfd, &ix);
	free(ix.slot);
	if (dfd >= 0)
		ps_sys->close(dfd);
	ps_sys->close(mfd);
	return rc;
}

/* Is name in the lower directory lfd a directory? */
static int lower_is_dir(int lfd, const char *name)
{
	struct stat st;

	return lfd >= 0 && ps_sys->fstatat(lfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* What one meta entry changes in the count: +1 a directory where the lower tree has none, -1 a lower directory
 * replaced by anything else or deleted, 0 otherwise. A directory that is not opaque exists only over a lower one. */
static int subdir_change(int mfd, int lfd, int lower_has_subdirs, const struct ps_dirent64 *d)
{
	unsigned char type = meta_type(mfd, d);
	struct stat st;

	if (type == DT_DIR) {
		if (ps_sys->fstatat(mfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !(st.st_mode & S_ISVTX))
			return 0;
		return lower_has_subdirs && lower_is_dir(lfd, d->d_name) ? 0 : 1;
	}
	return lower_has_subdirs && lower_is_dir(lfd, d->d_name) ? -1 : 0;
}

int ps_ns_subdir_change(struct ps_shadow *sh, const char *enc, const char *rel, int lfd, int lower_has_subdirs,
			long *change)
{
	char meta[PATH_MAX], buf[8192];
	ssize_t n;
	int mfd, rc;

	*change = 0;
	if ((rc = ps_shadow_path(meta, sizeof(meta), "meta", enc, rel)) < 0)
		return rc;
	mfd = ps_sys->openat(sh->dirfd, meta, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
	while ((n = ps_sys->getdents64(mfd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			struct ps_dirent64 *d = (struct ps_dirent64 *)(buf + off);

			off += d->d_reclen;
			if (!is_dot(d->d_name))
				*change += subdir_change(mfd, lfd, lower_has_subdirs, d);
		}
	rc = n < 0 ? -errno : 0;
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
		if (l->ents[i].type != PS_DIRENT_DELETED && !is_dot(ent_name(l, &l->ents[i])))
			return 1;
	return 0;
}

long ps_dirlist_fill(const struct ps_dirlist *l, size_t *pos, void *buf, size_t n)
{
	size_t used = 0;

	for (; *pos < l->count; (*pos)++) {
		const struct ps_dirent *e = &l->ents[*pos];
		const char *name = ent_name(l, e);
		size_t len = strlen(name), reclen = (offsetof(struct ps_dirent64, d_name) + len + 1 + 7) & ~(size_t)7;
		struct ps_dirent64 *d = (struct ps_dirent64 *)((char *)buf + used);

		if (e->type == PS_DIRENT_DELETED)
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
