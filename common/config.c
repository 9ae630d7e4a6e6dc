/* config.c - prefixes and shadow directory: parse and validate (see config.h). */
#include "config.h"
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Does path have a ".." component? Then only the kernel knows where it leads (through a symlink, not where the
 * text says). */
static int has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return 1;
	return 0;
}

/* An absolute path without ".." that the kernel resolves without meeting a symlink is, once normalised, the
 * kernel's own name for the file: openat2 with RESOLVE_NO_SYMLINKS says so in one call, where asking /proc costs
 * a fresh process tens of microseconds (its /proc entries are made on first use). Raw system calls: the shim's
 * start-up runs this, and its wrappers' frames are large. 0, or -1 when the slow way must decide. */
static int canonical_without_links(const char *path, char *out, size_t outsz, struct stat *st)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
	int fd, n;

	if (path[0] != '/' || has_dotdot(path) || (n = ps_path_normalize("/", path, out, outsz)) < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, out, &how, sizeof(how));
	if (fd < 0)
		return -1;
	n = (int)syscall(SYS_fstat, fd, st);
	syscall(SYS_close, fd);
	return n;
}

/* The kernel's name for an existing path (an O_PATH open and its /proc/self/fd link: three system calls where
 * realpath takes one per component, and every process start pays it), with realpath where /proc is missing. */
static int canonical_path(const char *path, char *out, size_t outsz, struct stat *st)
{
	char link[64];
	ssize_t n = -1;
	int fd;

	if (canonical_without_links(path, out, outsz, st) == 0)
		return 0;
	if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, st) == 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, out, outsz - 1);
	}
	close(fd);
	if (n > 0 && out[0] == '/') {
		out[n] = '\0';
		return 0;
	}
	return realpath(path, out) && stat(out, st) == 0 ? 0 : -1;
}

int ps_config_add_prefix(struct ps_config *cfg, const char *path, char *why, size_t whysz)
{
	struct ps_prefix *p;
	struct stat st;
	char real[PATH_MAX];

	if (!*path) {
		snprintf(why, whysz, "empty read-only prefix");
		return -EINVAL;
	}
	if (cfg->nprefix >= PS_MAX_PREFIXES) {
		snprintf(why, whysz, "too many read-only prefixes (at most %d)", PS_MAX_PREFIXES);
		return -E2BIG;
	}
	if (canonical_path(path, real, sizeof(real), &st) < 0) {
		int e = errno;

		snprintf(why, whysz, "read-only prefix %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whysz, "read-only prefix %s: not a directory", path);
		return -ENOTDIR;
	}
	if (strchr(real, ':')) {
		snprintf(why, whysz, "read-only prefix %s contains ':', which PAGESHADOW_RO cannot express", real);
		return -EINVAL;
	}
	p = &cfg->prefix[cfg->nprefix];
	if (ps_path_encode_prefix(real, p->enc, sizeof(p->enc)) < 0) {
		snprintf(why, whysz, "read-only prefix %s: path too long", real);
		return -ENAMETOOLONG;
	}
	strcpy(p->path, real);
	p->len = strlen(real);
	cfg->nprefix++;
	return 0;
}

int ps_config_add_prefix_list(struct ps_config *cfg, const char *list, char *why, size_t whysz)
{
	char item[PATH_MAX];

	for (const char *p = list;;) {
		const char *end = strchrnul(p, ':');
		size_t n = (size_t)(end - p);
		int rc;

		if (n >= sizeof(item)) {
			snprintf(why, whysz, "read-only prefix too long");
			return -ENAMETOOLONG;
		}
		if (n > 0) {
			memcpy(item, p, n);
			item[n] = '\0';
			rc = ps_config_add_prefix(cfg, item, why, whysz);
			if (rc < 0)
				return rc;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	if (cfg->nprefix == 0) {
		snprintf(why, whysz, "no read-only prefix given");
		return -EINVAL;
	}
	return 0;
}

int ps_config_resolve(const char *path, char *out, size_t outsz)
{
	char cwd[PATH_MAX], abs[PATH_MAX], real[PATH_MAX];
	struct stat st;
	size_t head;
	int n;

	if (canonical_path(path, real, sizeof(real), &st) == 0) {
		n = snprintf(out, outsz, "%s", real);
		return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	n = ps_path_normalize(cwd, path, abs, sizeof(abs));
	if (n < 0)
		return n;
	/* Resolve the longest existing ancestor, then put the missing tail back. */
	for (head = (size_t)n;;) {
		char saved = abs[head];

		abs[head] = '\0';
		if (realpath(head ? abs : "/", real)) {
			abs[head] = saved;
			n = snprintf(out, outsz, "%s%s", strcmp(real, "/") == 0 && saved ? "" : real, abs + head);
			return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
		}
		abs[head] = saved;
		while (head > 0 && abs[--head] != '/')
			;
	}
}

int ps_config_set_shadow(struct ps_config *cfg, const char *dir, char *why, size_t whysz)
{
	int rc;

	if (!dir || !*dir) {
		snprintf(why, whysz, "no shadow directory given");
		return -EINVAL;
	}
	if (strchr(dir, ':')) {
		snprintf(why, whysz, "shadow directory %s contains ':'", dir);
		return -EINVAL;
	}
	rc = ps_config_resolve(dir, cfg->shadow, sizeof(cfg->shadow));
	if (rc < 0) {
		snprintf(why, whysz, "shadow directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < cfg->nprefix; i++) {
		if (ps_path_below(cfg->shadow, cfg->prefix[i].path)) {
			snprintf(why, whysz, "shadow directory %s lies inside the read-only prefix %s", cfg->shadow,
				 cfg->prefix[i].path);
			return -EINVAL;
		}
		if (ps_path_below(cfg->prefix[i].path, cfg->shadow)) {
			snprintf(why, whysz, "read-only prefix %s lies inside the shadow directory %s",
				 cfg->prefix[i].path, cfg->shadow);
			return -EINVAL;
		}
	}
	return 0;
}

int ps_config_match(const struct ps_config *cfg, const char *abs, const char **rel)
{
	int best = -1;

	for (int i = 0; i < cfg->nprefix; i++) {
		const char *r = ps_path_below(abs, cfg->prefix[i].path);

		if (r && (best < 0 || cfg->prefix[i].len > cfg->prefix[best].len)) {
			best = i;
			*rel = r;
		}
	}
	return best;
}
