/* ftw.c - nftw and ftw over trees under a prefix.
 *
 * Entry points: the wrappers (symbols.def).
 * glibc's nftw opens each subdirectory with an openat it inlines (__opendirat): no symbol to hook, so a directory
 * that exists only in the shadow could not be entered. A walk whose root lies under a prefix is therefore done
 * here, with the calls the shim sees (opendir, readdir, lstat, stat, chdir), as POSIX describes it: entries in
 * the order readdir gives, directories before their contents (after, with FTW_DEPTH), FTW_PHYS, FTW_MOUNT,
 * FTW_CHDIR and glibc's FTW_ACTIONRETVAL. Any other walk is glibc's own.
 */
#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct walk {
	__nftw64_func_t fn;
	int flags;
	dev_t root_dev;
	char *path; /* grows: the entry's full path */
	size_t cap;
};

static int step(struct walk *w, size_t len, size_t base, int level);

/* FTW_ACTIONRETVAL's FTW_SKIP_SIBLINGS and FTW_SKIP_SUBTREE end here; anything else nonzero ends the walk. */
static int stop_walk(const struct walk *w, int r)
{
	if (!(w->flags & FTW_ACTIONRETVAL))
		return r != 0;
	return r == FTW_STOP;
}

static int call(struct walk *w, const struct stat64 *st, int type, size_t base, int level)
{
	struct FTW ftw = { .base = (int)base, .level = level };

	return w->fn(w->path, st, type, &ftw);
}

static int grow(struct walk *w, size_t need)
{
	char *p;

	if (need <= w->cap)
		return 0;
	if (!(p = realloc(w->path, need * 2)))
		return -1;
	w->path = p;
	w->cap = need * 2;
	return 0;
}

/* The entries of the directory at w->path (len bytes), each walked in turn. */
static int walk_dir(struct walk *w, size_t len, int level)
{
	DIR *d = opendir(w->path);
	struct dirent64 *e;
	int r = 0;

	if (!d)
		return -1;
	while ((e = readdir64(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (grow(w, len + n + 2) < 0) {
			r = -1;
			break;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, e->d_name, n + 1);
		r = step(w, len + 1 + n, len + 1, level + 1);
		w->path[len] = '\0';
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

/* Enter the directory (FTW_CHDIR) and come back. */
static int in_dir(struct walk *w, size_t len, int level, int *r)
{
	int cwd = -1;

	if ((w->flags & FTW_CHDIR) && ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || chdir(w->path) < 0)) {
		if (cwd >= 0)
			close(cwd);
		return -1;
	}
	*r = walk_dir(w, len, level);
	if (cwd >= 0) {
		int saved = errno;

		if (fchdir(cwd) < 0)
			*r = -1;
		close(cwd);
		errno = saved;
	}
	return 0;
}

/* One entry: w->path (len bytes), its name at base. */
static int step(struct walk *w, size_t len, size_t base, int level)
{
	struct stat64 st;
	int r = 0, type, readable;

	if ((w->flags & FTW_PHYS ? lstat64(w->path, &st) : stat64(w->path, &st)) < 0) {
		if (!(w->flags & FTW_PHYS) && lstat64(w->path, &st) == 0 && S_ISLNK(st.st_mode))
			return call(w, &st, FTW_SLN, base, level); /* a dangling symlink */
		return call(w, &st, FTW_NS, base, level);
	}
	if ((w->flags & FTW_MOUNT) && st.st_dev != w->root_dev)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return call(w, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, base, level);
	readable = access(w->path, R_OK | X_OK) == 0;
	type = !readable ? FTW_DNR : (w->flags & FTW_DEPTH) ? FTW_DP : FTW_D;
	if (!(w->flags & FTW_DEPTH) || !readable) {
		r = call(w, &st, type, base, level);
		if (!readable || stop_walk(w, r) || ((w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SUBTREE))
			return (w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SUBTREE ? 0 : r;
		if ((w->flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SIBLINGS)
			return r;
	}
	if (in_dir(w, len, level, &r) < 0 || r == -1)
		return -1;
	if (stop_walk(w, r))
		return r;
	return (w->flags & FTW_DEPTH) ? call(w, &st, FTW_DP, base, level) : 0;
}

static int walk(const char *dir, __nftw64_func_t fn, int flags)
{
	struct walk w = { .fn = fn, .flags = flags };
	struct stat64 st;
	size_t len = strlen(dir), base;
	int r;

	if (!*dir) {
		errno = ENOENT;
		return -1;
	}
	if (stat64(dir, &st) == 0)
		w.root_dev = st.st_dev;
	if (grow(&w, len + 2) < 0)
		return -1;
	memcpy(w.path, dir, len + 1);
	while (len > 1 && w.path[len - 1] == '/') /* glibc keeps the name as given, but without trailing slashes */
		w.path[--len] = '\0';
	base = (size_t)(strrchr(w.path, '/') ? strrchr(w.path, '/') - w.path + 1 : 0);
	r = step(&w, len, base, 0);
	free(w.path);
	return r;
}

/* ftw's callback takes no struct FTW: carried through a thread-local for the adapter. */
static __thread __ftw64_func_t ftw_fn;

static int ftw_adapter(const char *path, const struct stat64 *st, int type, struct FTW *ftw)
{
	(void)ftw;
	return ftw_fn(path, st, type);
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
