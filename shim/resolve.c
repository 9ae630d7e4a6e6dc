/* resolve.c - which calls concern a read-only prefix, and the canonical name of what they name.
 *
 * Entry points: ps_resolve, ps_path_in_prefix, ps_target_name, ps_target_lookup.
 * Two steps. A lexical test (no system call for an absolute path, one getcwd or readlink for a relative one)
 * sends every path outside the prefixes straight to the real call. Only a path that lexically lies under a
 * prefix is then resolved by the kernel (an O_PATH open and /proc/self/fd), so that "a/../b", symlinks inside
 * the tree and links to another prefix all name one shadow record.
 */
#include "shim.h"
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fd_path(int fd, char *out, size_t outsz)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlink, link, out, outsz - 1);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return out[0] == '/' ? 0 : -ENOENT; /* pipes, sockets, anon inodes */
}

static int base_path(int dirfd, char *out, size_t outsz)
{
	if (dirfd != AT_FDCWD)
		return fd_path(dirfd, out, outsz);
	if (syscall(SYS_getcwd, out, outsz) < 0)
		return -errno;
	return out[0] == '/' ? 0 : -ENOENT;
}

/* The kernel's name for (dirfd, path): of the file itself, or of its parent plus the last component when the
 * file does not exist yet. */
static int kernel_path(int dirfd, const char *path, int follow, char *out, size_t outsz)
{
	char dir[PATH_MAX];
	const char *last, *slash;
	int fd, rc;
	size_t dlen;

	fd = REAL(openat)(dirfd, path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd >= 0) {
		rc = fd_path(fd, out, outsz);
		REAL(close)(fd);
		return rc;
	}
	if (errno != ENOENT)
		return -errno;
	slash = strrchr(path, '/');
	last = slash ? slash + 1 : path;
	dlen = slash ? (size_t)(slash - path) + 1 : 1;
	if (dlen >= sizeof(dir) || !*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
		return -ENOENT;
	if (slash)
		memcpy(dir, path, dlen);
	else
		dir[0] = '.';
	dir[dlen] = '\0';
	fd = REAL(openat)(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fd_path(fd, out, outsz);
	REAL(close)(fd);
	if (rc < 0)
		return rc;
	if (strlen(out) + 1 + strlen(last) + 1 > outsz)
		return -ENAMETOOLONG;
	if (strcmp(out, "/") != 0)
		strcat(out, "/");
	strcat(out, last);
	return 0;
}

/* An absolute path with no "//", "." or ".." component is already normal: it can be matched as it is. */
static int already_normal(const char *p)
{
	if (p[0] != '/')
		return 0;
	for (; (p = strchr(p, '/')); p++) {
		if (p[1] == '/')
			return 0;
		if (p[1] == '.' && (p[2] == '/' || !p[2] || (p[2] == '.' && (p[3] == '/' || !p[3]))))
			return 0;
	}
	return 1;
}

int ps_resolve(int dirfd, const char *path, int follow, struct ps_target *t)
{
	char base[PATH_MAX];
	const char *rel;
	int idx, rc;

	if (!path || !*path)
		return 0;
	if (already_normal(path) && ps_config_match(&ps_cfg, path, &rel) < 0)
		return 0; /* the common case, outside every prefix: no copy, no system call */
	if (path[0] != '/' && base_path(dirfd, base, sizeof(base)) < 0)
		return 0; /* a bad dirfd or an unreachable cwd: the real call reports it */
	if (ps_path_normalize(base, path, t->path, sizeof(t->path)) < 0)
		return 0;
	if (ps_config_match(&ps_cfg, t->path, &rel) < 0)
		return 0;
	rc = kernel_path(dirfd, path, follow, t->path, sizeof(t->path));
	if (rc == -EACCES || rc == -ENOTDIR || rc == -ELOOP || rc == -ENAMETOOLONG)
		return 0; /* the real call fails the same way, without touching anything */
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT) /* the parent does not exist either: the lexical name is as good as any */
		ps_path_normalize(base, path, t->path, sizeof(t->path));
	idx = ps_config_match(&ps_cfg, t->path, &rel);
	if (idx < 0)
		return 0;
	if (!ps_cfg.prefix[idx].enc[0])
		return -EROFS; /* a prefix the configuration could not resolve */
	t->prefix = idx;
	t->rel = rel;
	return 1;
}

int ps_path_in_prefix(const char *path, int follow)
{
	struct ps_target t;
	int rc;

	if (!ps_enter())
		return 0;
	rc = ps_resolve(AT_FDCWD, path, follow, &t);
	ps_leave();
	return rc;
}

void ps_target_name(const struct ps_target *t, struct ps_file_name *name)
{
	name->path = t->path;
	name->enc_prefix = ps_cfg.prefix[t->prefix].enc;
	name->rel = t->rel;
}

int ps_target_lookup(const struct ps_target *t, struct ps_file **out)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file_name name;

	if (!sh)
		return -EROFS;
	ps_target_name(t, &name);
	return ps_file_lookup(sh, &name, out);
}
