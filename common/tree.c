/* tree.c - for the tools: default shadow directory, walk over a shadow's records, path resolution (see tree.h). */
#include "tree.h"
#include "ns.h"
#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FNV64_OFFSET 14695981039346656037ull
#define FNV64_PRIME 1099511628211ull

static uint64_t fnv1a64(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV64_PRIME;
	return h;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && home[0] == '/')
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

int ps_default_shadow_dir(const struct ps_config *cfg, char *out, size_t outsz)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home;
	uint64_t h = FNV64_OFFSET;
	int n;

	for (int i = 0; i < cfg->nprefix; i++) {
		if (i > 0)
			h = fnv1a64(h, "\n", 1);
		h = fnv1a64(h, cfg->prefix[i].path, cfg->prefix[i].len);
	}
	if (state && state[0] == '/') {
		n = snprintf(out, outsz, "%s/pageshadow/%016" PRIx64, state, h);
	} else {
		home = home_dir();
		if (!home)
			return -ENOENT;
		n = snprintf(out, outsz, "%s/.local/state/pageshadow/%016" PRIx64, home, h);
	}
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : n;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* The entry names of directory path (relative to dirfd) except "." and "..", sorted, in a malloc'd array.
 * The directory is closed before returning, so a deep walk holds no descriptors. */
static int read_names(int dirfd, const char *path, char ***out, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));

			if (!grown)
				break;
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			break;
		n++;
	}
	if (errno) {
		int rc = -errno;

		closedir(d);
		free_names(names, n);
		return rc;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;
}

struct walk {
	int dirfd;
	ps_tree_fn fn;
	void *arg;
	char meta[PATH_MAX];   /* the path being visited, "meta/<enc>/..." */
	char data[PATH_MAX];
	char prefix[PATH_MAX];
	const char *enc;
	size_t rel_off;        /* where <rel> starts in meta */
};

static int report(struct walk *w, int err, const char *why)
{
	struct ps_tree_entry e = { .err = err, .meta_path = w->meta, .why = why };

	return w->fn(&e, w->arg);
}

static int visit(struct walk *w, enum ps_tree_kind kind, mode_t mode)
{
	struct ps_tree_entry e = {
		.kind = kind, .mode = mode, .meta_path = w->meta, .data_path = w->data, .enc_prefix = w->enc, .prefix = w->prefix,
		.rel = w->meta + w->rel_off,
	};

	memcpy(w->data, "data", 4);
	strcpy(w->data + 4, w->meta + 4);
	return w->fn(&e, w->arg);
}

static int walk_dir(struct walk *w, size_t len);

/* The directory itself, then what it holds. */
static int visit_dir(struct walk *w, size_t len, mode_t mode)
{
	int rc = visit(w, PS_TREE_DIR, mode);

	return rc ? rc : walk_dir(w, len);
}

static int visit_link(struct walk *w, mode_t mode)
{
	int wh = ps_ns_is_whiteout(w->dirfd, w->meta);

	if (wh < 0)
		return report(w, wh, "cannot read symlink");
	return visit(w, wh ? PS_TREE_WHITEOUT : PS_TREE_SYMLINK, mode);
}

/* Visit everything below w->meta (a directory path of len bytes). */
static int walk_dir(struct walk *w, size_t len)
{
	char **names;
	size_t count;
	int rc = read_names(w->dirfd, w->meta, &names, &count);

	if (rc < 0)
		return report(w, rc, "cannot read directory");
	for (size_t i = 0; i < count && rc == 0; i++) {
		size_t nlen = strlen(names[i]);
		struct stat st;

		if (len + 1 + nlen >= sizeof(w->meta)) {
			rc = report(w, -ENAMETOOLONG, "path too long");
			continue;
		}
		w->meta[len] = '/';
		memcpy(w->meta + len + 1, names[i], nlen + 1);
		if (fstatat(w->dirfd, w->meta, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = report(w, -errno, "cannot stat");
		else if (S_ISDIR(st.st_mode))
			rc = visit_dir(w, len + 1 + nlen, st.st_mode);
		else if (S_ISREG(st.st_mode))
			rc = visit(w, PS_TREE_RECORD, st.st_mode);
		else if (S_ISFIFO(st.st_mode))
			rc = visit(w, PS_TREE_SPECIAL, st.st_mode);
		else if (S_ISLNK(st.st_mode))
			rc = visit_link(w, st.st_mode);
		w->meta[len] = '\0';
	}
	free_names(names, count);
	return rc;
}

/* One top-level directory of meta/: its name is an encoded prefix. */
static int walk_prefix(struct walk *w, const char *name)
{
	size_t len = (size_t)snprintf(w->meta, sizeof(w->meta), "meta/%s", name);
	struct stat st;

	if (fstatat(w->dirfd, w->meta, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return report(w, -errno, "cannot stat");
	if (!S_ISDIR(st.st_mode) || ps_path_decode_prefix(name, w->prefix, sizeof(w->prefix)) <= 0)
		return report(w, -EINVAL, "not a prefix directory (its name must be an encoded absolute path)");
	w->enc = name;
	w->rel_off = len + 1;
	return walk_dir(w, len);
}

int ps_tree_walk(int dirfd, ps_tree_fn fn, void *arg)
{
	struct walk *w = calloc(1, sizeof(*w));
	char **names;
	size_t count;
	int rc;

	if (!w)
		return -ENOMEM;
	w->dirfd = dirfd;
	w->fn = fn;
	w->arg = arg;
	strcpy(w->meta, "meta");
	rc = read_names(dirfd, "meta", &names, &count);
	if (rc == -ENOENT) {
		free(w);
		return 0;
	}
	if (rc < 0) {
		rc = report(w, rc, "cannot read directory");
		free(w);
		return rc;
	}
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = walk_prefix(w, names[i]);
	free_names(names, count);
	free(w);
	return rc;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int ps_tree_remove(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

static int add_recorded_prefix(struct ps_config *cfg, int dirfd, const char *name)
{
	struct ps_prefix *p = &cfg->prefix[cfg->nprefix];
	char path[PATH_MAX];
	struct stat st;
	int n;

	n = snprintf(path, sizeof(path), "meta/%s", name);
	if (n < 0 || (size_t)n >= sizeof(path) || strlen(name) >= sizeof(p->enc))
		return 0;
	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	n = ps_path_decode_prefix(name, p->path, sizeof(p->path));
	if (n <= 0 || p->path[0] != '/')
		return 0; /* not ours: ps_tree_walk reports it */
	if (cfg->nprefix >= PS_MAX_PREFIXES)
		return -E2BIG;
	p->len = (size_t)n;
	strcpy(p->enc, name);
	cfg->nprefix++;
	return 0;
}

int ps_tree_prefixes(int dirfd, struct ps_config *cfg)
{
	char **names;
	size_t count;
	int rc = read_names(dirfd, "meta", &names, &count);

	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	for (size_t i = 0; i < count && rc == 0; i++)
		rc = add_recorded_prefix(cfg, dirfd, names[i]);
	free_names(names, count);
	return rc;
}
