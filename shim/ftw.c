/* ftw.c - nftw and ftw over trees under a prefix.
 *
 * Entry points: the wrappers (symbols.def).
 * glibc's nftw opens each subdirectory with an openat it inlines (__opendirat): no symbol to hook, so a directory
 * that exists only in the shadow could not be entered. A walk whose root lies under a prefix is therefore done
 * here, with the calls the shim sees (opendir, readdir, lstat, stat, chdir), as glibc does it: entries in the order
 * readdir gives, directories before their contents (after, with FTW_DEPTH), FTW_PHYS, FTW_MOUNT, FTW_CHDIR (the
 * working directory is the entry's directory during its callback, the directory itself for FTW_DP) and
 * FTW_ACTIONRETVAL; a directory met before through a followed symlink is not entered again (loops). The
 * callback gets the path as the program gave it; the walk itself uses absolute names, which FTW_CHDIR cannot
 * invalidate. Any other walk is glibc's own.
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KNOWN_FLAGS (FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH | FTW_ACTIONRETVAL)

struct dir_id { /* a directory met by the walk, which is not entered twice (symlink loops, as glibc) */
	dev_t dev;
	ino_t ino;
};

struct walk {
	__nftw64_func_t fn;
	int flags;
	dev_t root_dev;
	char *path; /* the entry's path as the program gave its root */
	char *abs;  /* the same entry, absolute */
	size_t cap, abs_cap;
	void *seen; /* tsearch tree of struct dir_id, when symlinks are followed */
};

static int step(struct walk *w, size_t len, size_t alen, size_t base, int level);

/* FTW_ACTIONRETVAL's FTW_SKIP_SIBLINGS and FTW_SKIP_SUBTREE end here; anything else nonzero ends the walk. */
static int stop_walk(const struct walk *w, int r)
{
	if (!(w->flags & FTW_ACTIONRETVAL))
		return r != 0;
	return r != FTW_CONTINUE && r != FTW_SKIP_SIBLINGS && r != FTW_SKIP_SUBTREE;
}

static int call(struct walk *w, const struct stat64 *st, int type, size_t base, int level)
{
	struct FTW ftw = { .base = (int)base, .level = level };

	return w->fn(w->path, st, type, &ftw);
}

static int grow(char **buf, size_t *cap, size_t need)
{
	char *p;

	if (need <= *cap)
		return 0;
	if (!(p = realloc(*buf, need * 2)))
		return -1;
	*buf = p;
	*cap = need * 2;
	return 0;
}

/* The entries of the directory at w->path (len bytes; absolute: alen), each walked in turn. */
static int walk_dir(struct walk *w, size_t len, size_t alen, int level)
{
	DIR *d = opendir(w->abs);
	struct dirent64 *e;
	int r = 0;

	if (!d)
		return -1;
	while ((e = readdir64(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (grow(&w->path, &w->cap, len + n + 2) < 0 || grow(&w->abs, &w->abs_cap, alen + n + 2) < 0) {
			r = -1;
			break;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, e->d_name, n + 1);
		w->abs[alen] = '/';
		memcpy(w->abs + alen + 1, e->d_name, n + 1);
		r = step(w, len + 1 + n, alen + 1 + n, len + 1, level + 1);
		w->path[len] = '\0';
		w->abs[alen] = '\0';
		if (r == -1 || stop_walk(w, r))
			break;
		if ((w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SIBLINGS) {
			r = 0;
			break;
		}
		r = 0;
	}
	closedir(d);
	return r;
}

/* The directory's contents, in it with FTW_CHDIR, then (FTW_DEPTH) the directory itself, still in it. */
static int walk_contents(struct walk *w, const struct stat64 *st, size_t len, size_t alen, size_t base, int level)
{
	int cwd = -1, r;

	if ((w->flags & FTW_CHDIR) &&
	    ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || chdir(w->abs) < 0)) {
		if (cwd >= 0)
			close(cwd);
		return -1;
	}
	r = walk_dir(w, len, alen, level);
	if (r != -1 && !stop_walk(w, r) && (w->flags & FTW_DEPTH))
		r = call(w, st, FTW_DP, base, level);
	if (cwd >= 0) {
		int saved = errno;

		if (fchdir(cwd) < 0)
			r = -1;
		close(cwd);
		errno = saved;
	}
	return r;
}

/* One entry: w->path (len bytes, its name at base) and w->abs (alen). */
static int by_id(const void *a, const void *b)
{
	const struct dir_id *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Met before? Remembers it otherwise. 1, 0, or -1 (no memory). */
static int seen_before(struct walk *w, const struct stat64 *st)
{
	struct dir_id key = { .dev = st->st_dev, .ino = st->st_ino }, *id;

	if (w->flags & FTW_PHYS)
		return 0; /* no symlink is followed: no loop */
	if (tfind(&key, &w->seen, by_id))
		return 1;
	if (!(id = malloc(sizeof(*id))))
		return -1;
	*id = key;
	if (!tsearch(id, &w->seen, by_id)) {
		free(id);
		return -1;
	}
	return 0;
}

static int step(struct walk *w, size_t len, size_t alen, size_t base, int level)
{
	struct stat64 st;
	int r;

	if ((w->flags & FTW_PHYS ? lstat64(w->abs, &st) : stat64(w->abs, &st)) < 0) {
		if (errno != ENOENT && errno != EACCES)
			return -1;
		if (!(w->flags & FTW_PHYS) && lstat64(w->abs, &st) == 0 && S_ISLNK(st.st_mode))
			return call(w, &st, FTW_SLN, base, level); /* a dangling symlink */
		return level == 0 ? -1 : call(w, &st, FTW_NS, base, level); /* a missing root: no callback */
	}
	if ((w->flags & FTW_MOUNT) && st.st_dev != w->root_dev)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return call(w, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, base, level);
	if ((r = seen_before(w, &st)) != 0)
		return r < 0 ? -1 : 0; /* met before, through a symlink: not again */
	if (access(w->abs, R_OK | X_OK) < 0)
		return call(w, &st, FTW_DNR, base, level);
	if (!(w->flags & FTW_DEPTH)) {
		r = call(w, &st, FTW_D, base, level);
		if ((w->flags & FTW_ACTIONRETVAL) && (r == FTW_SKIP_SUBTREE || r == FTW_SKIP_SIBLINGS))
			return r == FTW_SKIP_SUBTREE ? 0 : r;
		if (stop_walk(w, r))
			return r;
	}
	return walk_contents(w, &st, len, alen, base, level);
}

/* The root's absolute name (the walk's own, which chdir cannot invalidate). */
static int absolute_root(struct walk *w, const char *dir, size_t *alen)
{
	char cwd[PATH_MAX];
	size_t clen;

	if (dir[0] == '/') {
		clen = 0;
		cwd[0] = '\0';
	} else if (!getcwd(cwd, sizeof(cwd))) {
		return -1;
	} else {
		clen = strlen(cwd);
	}
	if (grow(&w->abs, &w->abs_cap, clen + strlen(dir) + 2) < 0)
		return -1;
	*alen = (size_t)sprintf(w->abs, "%s%s%s", cwd, clen && cwd[clen - 1] != '/' && dir[0] != '/' ? "/" : "", dir);
	while (*alen > 1 && w->abs[*alen - 1] == '/')
		w->abs[--*alen] = '\0';
	return 0;
}

static int walk(const char *dir, __nftw64_func_t fn, int flags)
{
	struct walk w = { .fn = fn, .flags = flags };
	struct stat64 st;
	size_t len = strlen(dir), alen = 0, base;
	int r = -1, cwd = -1;

	if (flags & ~KNOWN_FLAGS) {
		errno = EINVAL;
		return -1;
	}
	if (!*dir) {
		errno = ENOENT;
		return -1;
	}
	if (stat64(dir, &st) == 0)
		w.root_dev = st.st_dev;
	if (grow(&w.path, &w.cap, len + 2) < 0 || absolute_root(&w, dir, &alen) < 0)
		goto out;
	memcpy(w.path, dir, len + 1);
	while (len > 1 && w.path[len - 1] == '/') /* glibc keeps the name as given, but without trailing slashes */
		w.path[--len] = '\0';
	base = (size_t)(strrchr(w.path, '/') ? strrchr(w.path, '/') - w.path + 1 : 0);
	if (flags & FTW_CHDIR) { /* the root's callback runs in the root's directory, as glibc's */
		char *slash = strrchr(w.abs, '/');
		char saved_char;

		if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			goto out;
		saved_char = slash[slash == w.abs];
		slash[slash == w.abs] = '\0';
		r = chdir(w.abs);
		slash[slash == w.abs] = saved_char;
		if (r < 0)
			goto out;
	}
	r = step(&w, len, alen, base, 0);
out:
	if (cwd >= 0) {
		int saved = errno;

		if (fchdir(cwd) < 0 && r == 0)
			r = -1;
		close(cwd);
		errno = saved;
	}
	tdestroy(w.seen, free);
	free(w.path);
	free(w.abs);
	return r;
}

/* ftw's callback takes no struct FTW: carried through a thread-local for the adapter. ftw reports no symlinks of
 * its own (it follows them): a dangling one is FTW_NS there. */
static __thread __ftw64_func_t ftw_fn;

static int ftw_adapter(const char *path, const struct stat64 *st, int type, struct FTW *ftw)
{
	(void)ftw;
	return ftw_fn(path, st, type == FTW_SLN ? FTW_NS : type);
}

static int walks_here(const char *dir)
{
	return dir && ps_path_in_prefix(dir, 1) > 0;
}

int nftw(const char *dir, __nftw_func_t fn, int nopenfd, int flags)
{
	if (!walks_here(dir))
		return REAL(nftw)(dir, fn, nopenfd, flags);
	return walk(dir, (__nftw64_func_t)fn, flags);
}

int nftw64(const char *dir, __nftw64_func_t fn, int nopenfd, int flags)
{
	if (!walks_here(dir))
		return REAL(nftw64)(dir, fn, nopenfd, flags);
	return walk(dir, fn, flags);
}

int ftw(const char *dir, __ftw_func_t fn, int nopenfd)
{
	__ftw64_func_t saved = ftw_fn;
	int r;

	if (!walks_here(dir))
		return REAL(ftw)(dir, fn, nopenfd);
	ftw_fn = (__ftw64_func_t)fn;
	r = walk(dir, ftw_adapter, 0);
	ftw_fn = saved;
	return r;
}

int ftw64(const char *dir, __ftw64_func_t fn, int nopenfd)
{
	__ftw64_func_t saved = ftw_fn;
	int r;

	if (!walks_here(dir))
		return REAL(ftw64)(dir, fn, nopenfd);
	ftw_fn = fn;
	r = walk(dir, ftw_adapter, 0);
	ftw_fn = saved;
	return r;
}
