/* dir.c - merged directory listings: getdents64, and the dirent calls that keep a listing's position.
 *
 * Entry points: the wrappers (symbols.def), ps_dir_open, ps_dir_lseek.
 * A directory under a prefix is opened as a real directory - the lower one, or for a directory that exists only
 * in the shadow its data directory - and tracked as PS_OPEN_DIR with its merged name. Its entries come from the
 * listing ns.c builds (lower names, minus whiteouts, plus the shadow's), made at the first read and again after
 * a rewind, and handed out with d_off = the index of the next entry, so telldir/seekdir round-trip.
 * glibc opens, reads and closes directories with internal calls (__open64_nocancel, getdents64,
 * __close_nocancel) whose entries patch.c points at the shim: opendir, scandir, nftw, glob and fts open a merged
 * directory through the shim (one that exists only in the shadow has no lower name) and read the listing. It
 * rewinds and seeks with an lseek no wrapper sees: rewinddir and seekdir are wrapped to move the listing too.
 */
#include "shim.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ps_dir_open(const struct ps_target *t, int flags)
{
	struct ps_shadow *sh = ps_shadow_get();
	char data[PATH_MAX];
	int fd, rc;

	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)) == O_TRUNC ||
	    ((flags & O_CREAT) && !(flags & O_EXCL)))
		return -EISDIR; /* as the kernel says of a directory opened to write, truncate or create */
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return -EEXIST;
	flags &= ~(O_CREAT | O_EXCL);
	if (ps_target_lower_shows(t)) {
		fd = REAL(openat)(AT_FDCWD, t->path, flags);
	} else {
		if (!sh)
			return -EROFS;
		if ((rc = ps_target_data_path(t, data, sizeof(data))) < 0)
			return rc;
		fd = ps_shadow_openat(sh, data, flags | O_NOFOLLOW, 0);
	}
	if (fd < 0)
		return -errno;
	if (flags & O_PATH)
		return fd; /* a dirfd for *at calls only: its name says everything (resolve.c) */
	return ps_fd_track(fd, PS_OPEN_DIR, flags, NULL, t->path) < 0 ? -ENOMEM : fd;
}

/* The descriptor's directory listing, built on first need. o->mutex held. */
static int listing(struct ps_open *o, int fd)
{
	struct ps_shadow *sh = ps_shadow_get();
	char name[PATH_MAX];
	struct ps_target t;
	int rc;

	if (o->dir)
		return 0;
	if (!sh)
		return -EROFS;
	/* A directory of the shadow's is found by its descriptor (it may have been renamed since); a lower one by
	 * the name it was opened with. */
	if ((rc = ps_resolve(AT_FDCWD, ps_fd_shadow_name(fd, name, sizeof(name)) ? name : o->path, 1, &t)) <= 0)
		return rc < 0 ? rc : -ENOENT;
	if (!(o->dir = calloc(1, sizeof(*o->dir))))
		return -ENOMEM;
	rc = ps_ns_list(sh, ps_cfg.prefix[t.prefix].enc, t.rel, fd, ps_target_lower_shows(&t), o->dir);
	if (rc < 0) {
		ps_dirlist_free(o->dir);
		free(o->dir);
		o->dir = NULL;
	}
	return rc;
}

/* The tracked directory behind fd, with a reference and the guard held; NULL (guard released) otherwise. */
static struct ps_open *dir_get(int fd)
{
	struct ps_open *o;

	if (!ps_enter())
		return NULL;
	o = ps_fd_get(fd);
	if (o && o->kind == PS_OPEN_DIR)
		return o;
	if (o)
		ps_open_put(o);
	ps_leave();
	return NULL;
}

ssize_t getdents64(int fd, void *buf, size_t n)
{
	int saved = errno;
	struct ps_open *o = dir_get(fd);
	long rc;

	if (!o)
		return REAL(getdents64)(fd, buf, n);
	pthread_mutex_lock(&o->mutex);
	rc = listing(o, fd);
	if (rc == 0)
		rc = ps_dirlist_fill(o->dir, &o->dir_pos, buf, n);
	pthread_mutex_unlock(&o->mutex);
	return ps_fd_done(o, rc, saved);
}

/* Move o's listing to pos; back to the start it is built again (a rewound directory shows what changed). */
static void dir_seek(struct ps_open *o, size_t pos)
{
	pthread_mutex_lock(&o->mutex);
	if (pos == 0 && o->dir) {
		ps_dirlist_free(o->dir);
		free(o->dir);
		o->dir = NULL;
	}
	o->dir_pos = pos;
	pthread_mutex_unlock(&o->mutex);
}

int ps_dir_lseek(int fd, off_t off, int whence, off_t *result)
{
	struct ps_open *o = dir_get(fd);
	off_t pos;

	if (!o)
		return 0;
	pthread_mutex_lock(&o->mutex);
	pos = whence == SEEK_SET ? off : whence == SEEK_CUR ? (off_t)o->dir_pos + off : -1;
	pthread_mutex_unlock(&o->mutex);
	if (pos < 0) {
		*result = -EINVAL;
	} else {
		dir_seek(o, (size_t)pos);
		*result = pos;
	}
	ps_open_put(o);
	ps_leave();
	return 1;
}

void rewinddir(DIR *d)
{
	struct ps_open *o = dir_get(dirfd(d));

	REAL(rewinddir)(d);
	if (!o)
		return;
	dir_seek(o, 0);
	ps_open_put(o);
	ps_leave();
}

void seekdir(DIR *d, long pos)
{
	struct ps_open *o = dir_get(dirfd(d));

	REAL(seekdir)(d, pos);
	if (!o)
		return;
	if (pos >= 0)
		dir_seek(o, (size_t)pos);
	ps_open_put(o);
	ps_leave();
}
