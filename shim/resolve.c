/* resolve.c - which calls concern a read-only prefix, and the canonical name of what they name.
 *
 * Entry points: ps_resolve, ps_enter_resolved, ps_path_in_prefix, ps_target_name, ps_target_lookup.
 * Two steps. A lexical test (no system call for an absolute path, one getcwd or readlink for a relative one)
 * sends every path outside the prefixes straight to the real call. Only a path that lexically lies under a
 * prefix is then resolved by the kernel (an O_PATH open and /proc/self/fd), so that "a/../b", symlinks inside
 * the tree and links to another prefix all name one shadow record.
 */
#include "shim.h"
#include "merge.h"
#include "path.h"
#include "snapshot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int ps_merged_name(char *path, size_t pathsz)
{
	return ps_cfg.shadow[0] && ps_snapshot_tree_path(ps_cfg.shadow, path, pathsz);
}

int ps_merged_link_name(char *target, size_t targetsz)
{
	static const char deleted[] = " (deleted)";
	const char *below = ps_cfg.shadow[0] ? ps_path_below(target, ps_cfg.shadow) : NULL;
	int copy = below && strncmp(below, "exec/", 5) == 0;
	size_t n, dn = sizeof(deleted) - 1;

	if (!ps_merged_name(target, targetsz))
		return 0;
	n = strlen(target);
	if (copy && n > dn && strcmp(target + n - dn, deleted) == 0)
		target[n - dn] = '\0';
	return 1;
}

/* The directory relative paths start from, by its merged name; *mapped says it is one of the shadow's. */
static int base_path(int dirfd, char *out, size_t outsz, int *mapped)
{
	char link[64];
	ssize_t n;

	if (dirfd == AT_FDCWD) {
		n = syscall(SYS_getcwd, out, outsz);
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		n = syscall(SYS_readlink, link, out, outsz - 1);
		if (n >= 0)
			out[n] = '\0';
	}
	if (n < 0)
		return -errno;
	if (out[0] != '/')
		return -ENOENT; /* pipes, sockets, anon inodes; an unreachable cwd */
	*mapped = ps_merged_name(out, outsz);
	return 0;
}

int ps_fd_shadow_name(int fd, char *out, size_t outsz)
{
	int mapped;

	return base_path(fd, out, outsz, &mapped) == 0 && mapped;
}

int ps_cwd(char *out, size_t outsz)
{
	int mapped;

	return base_path(AT_FDCWD, out, outsz, &mapped);
}

/* The directory part of path ("." for a bare name) into dir, and its last component: 0, or -ENOENT when path has
 * no last name to create ("", "dir/", ".", ".."). */
static int split_parent(const char *path, char *dir, size_t dirsz, const char **last)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) + 1 : 1;

	*last = slash ? slash + 1 : path;
	if (dlen >= dirsz || !**last || strcmp(*last, ".") == 0 || strcmp(*last, "..") == 0)
		return -ENOENT;
	if (slash)
		memcpy(dir, path, dlen);
	else
		dir[0] = '.';
	dir[dlen] = '\0';
	return 0;
}

/* The kernel's name for the existing directory (dirfd, dir), with the names below given in below appended as
 * they are. 0 or -errno. */
static int kernel_dir_path(int dirfd, const char *dir, const char *below, char *out, size_t outsz)
{
	int fd = REAL(openat)(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC), rc, mapped;

	if (fd < 0)
		return -errno;
	rc = base_path(fd, out, outsz, &mapped);
	REAL(close)(fd);
	if (rc < 0)
		return rc;
	if (strlen(out) + 1 + strlen(below) + 1 > outsz)
		return -ENAMETOOLONG;
	if (strcmp(out, "/") != 0)
		strcat(out, "/");
	strcat(out, below);
	return 0;
}

/* The kernel's name for (dirfd, path): of the file itself (0), or of its parent plus the last component when the
 * file does not exist, or is a symlink the kernel could not follow (1). */
static int kernel_path(int dirfd, const char *path, int follow, char *out, size_t outsz)
{
	char dir[PATH_MAX];
	const char *last;
	int fd, rc, mapped;

	fd = REAL(openat)(dirfd, path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd >= 0) {
		rc = base_path(fd, out, outsz, &mapped);
		REAL(close)(fd);
		return rc;
	}
	if (errno != ENOENT)
		return -errno;
	if ((rc = split_parent(path, dir, sizeof(dir), &last)) < 0)
		return rc;
	if ((rc = kernel_dir_path(dirfd, dir, last, out, outsz)) < 0)
		return rc;
	return 1; /* the parent's name, and the last component as given */
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

/* What the shadow says about t's name: a record, a directory, a deleted name. A name below a deleted directory
 * is ENOENT, below a file ENOTDIR, for every call. 0 or -errno. */
static int target_ns(struct ps_target *t)
{
	struct ps_shadow *sh = ps_shadow_get();
	int rc;

	t->ns.state = PS_NS_LOWER;
	t->ns.opaque = 0;
	if (!sh)
		return 0; /* writes fail with EROFS; the lower tree is all there is to read */
	if ((rc = ps_ns_lookup(sh, ps_cfg.prefix[t->prefix].enc, t->rel, &t->ns)) < 0)
		return rc;
	if (t->ns.state == PS_NS_NOPARENT)
		return -ENOENT;
	return t->ns.state == PS_NS_NOTDIR ? -ENOTDIR : 0;
}

/* t->path is set: match it to its prefix and ask the shadow. 1, 0 (no prefix) or -errno. */
static int target_place(struct ps_target *t)
{
	const char *rel;
	int idx = ps_config_match(&ps_cfg, t->path, &rel), rc;

	if (idx < 0)
		return 0;
	if (!ps_cfg.prefix[idx].enc[0])
		return -EROFS; /* a prefix the configuration could not resolve */
	t->prefix = idx;
	t->rel = rel;
	return (rc = target_ns(t)) < 0 ? rc : 1;
}

/* The first lower symlink on the way to rel that the kernel could not resolve (a dangling one, or one that leads
 * to a name only the shadow has): the length of rel up to and including it, or 0. The last component counts
 * only when followed; with last_only the directories above are known to be resolved. */
static size_t unresolved_lower_link(const struct ps_target *t, int follow, int last_only)
{
	char upto[PATH_MAX];
	struct stat st;

	if (last_only) {
		if (!follow || !*t->rel || REAL(fstatat)(AT_FDCWD, t->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		return S_ISLNK(st.st_mode) ? strlen(t->rel) : 0;
	}
	for (const char *c = t->rel; *c;) {
		const char *end = strchrnul(c, '/');
		int last = !*end;

		memcpy(upto, t->path, (size_t)(end - t->path));
		upto[end - t->path] = '\0';
		if (REAL(fstatat)(AT_FDCWD, upto, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0;
		if (S_ISLNK(st.st_mode))
			return last && !follow ? 0 : (size_t)(end - t->rel);
		if (last || !S_ISDIR(st.st_mode))
			return 0;
		c = end + 1;
	}
	return 0;
}

static int resolve_once(int dirfd, const char *path, int follow, struct ps_target *t)
{
	char base[PATH_MAX], lexical[PATH_MAX];
	const char *rel;
	int rc, mapped = 0, missing_last;

	t->mapped = 0;
	t->lower_link = 0;
	if (!path || !*path)
		return 0;
	if (already_normal(path) && ps_config_match(&ps_cfg, path, &rel) < 0)
		return 0; /* the common case, outside every prefix: no copy, no system call */
	if (path[0] != '/' && base_path(dirfd, base, sizeof(base), &mapped) < 0)
		return 0; /* a bad dirfd or an unreachable cwd: the real call reports it */
	if (ps_path_normalize(base, path, lexical, sizeof(lexical)) < 0)
		return 0;
	strcpy(t->path, lexical);
	t->mapped = mapped;
	if ((rc = target_place(t)) <= 0 || t->ns.state != PS_NS_LOWER)
		return rc; /* a name with a meta entry has only directories above it: no symlink to follow */
	/* Lower entries may be, or lie below, symlinks: the kernel resolves them in the lower tree. */
	if (mapped) /* from a directory of the shadow's, the kernel would look in the data tree */
		rc = kernel_path(AT_FDCWD, lexical, follow, t->path, sizeof(t->path));
	else
		rc = kernel_path(dirfd, path, follow, t->path, sizeof(t->path));
	if (rc < 0 && rc != -ENOENT)
		return rc; /* EACCES, ENOTDIR, ELOOP...: what the real call would say, without its reaching the tree */
	if (rc == -ENOENT) { /* not in the lower tree: perhaps through a lower symlink to the shadow's part */
		strcpy(t->path, lexical);
		t->lower_link = unresolved_lower_link(t, follow, 0);
		return 1;
	}
	missing_last = rc == 1;
	if (strcmp(t->path, lexical) != 0 && (rc = target_place(t)) <= 0)
		return rc; /* through a lower symlink, perhaps out of the tree */
	if (missing_last && t->ns.state == PS_NS_LOWER) /* a dangling symlink to follow? */
		t->lower_link = unresolved_lower_link(t, follow, 1);
	return 1;
}

/* t lies at or below a lower symlink the kernel could not follow: the path with it replaced by its target. */
static int through_lower_link(const struct ps_target *t, char *out, size_t outsz)
{
	char link[PATH_MAX], target[PATH_MAX];
	size_t link_end = (size_t)(t->rel - t->path) + t->lower_link, dir_len = link_end;
	ssize_t n;
	int len;

	memcpy(link, t->path, link_end);
	link[link_end] = '\0';
	if ((n = REAL(readlinkat)(AT_FDCWD, link, target, sizeof(target) - 1)) < 0)
		return -errno;
	target[n] = '\0';
	while (dir_len > 0 && t->path[dir_len - 1] != '/')
		dir_len--;
	if (target[0] == '/')
		len = snprintf(out, outsz, "%s%s", target, t->path + link_end);
	else
		len = snprintf(out, outsz, "%.*s%s%s", (int)dir_len, t->path, target, t->path + link_end);
	return len < 0 || (size_t)len >= outsz ? -ENAMETOOLONG : 0;
}

/* t lies at or below a symlink of the shadow's: the path with the link replaced by its target, into out. */
static int through_shadow_link(const struct ps_target *t, char *out, size_t outsz)
{
	struct ps_shadow *sh = ps_shadow_get();
	char link_rel[PATH_MAX], target[PATH_MAX];
	const char *rest = t->rel + t->ns.link_len;
	size_t dir_len;
	int rc, n;

	if (!sh)
		return -EROFS;
	memcpy(link_rel, t->rel, t->ns.link_len);
	link_rel[t->ns.link_len] = '\0';
	if ((rc = ps_ns_readlink(sh, ps_cfg.prefix[t->prefix].enc, link_rel, target, sizeof(target))) < 0)
		return rc;
	if (target[0] == '/')
		n = snprintf(out, outsz, "%s%s", target, rest);
	else {
		dir_len = (size_t)(t->rel - t->path) + t->ns.link_len; /* the link's own path ... */
		while (dir_len > 0 && t->path[dir_len - 1] != '/')
			dir_len--; /* ... up to its directory */
		n = snprintf(out, outsz, "%.*s%s%s", (int)dir_len, t->path, target, rest);
	}
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* The names the real call must be given instead of the program's, for this wrapper call (reset by ps_enter): a
 * path through a symlink made in the shadow, which the kernel cannot see. The buffers are allocated on first
 * need and freed when the thread ends: static TLS is scarce for a library that may load beside an audit module. */
struct redirect {
	const char *path;
	char *abs; /* PATH_MAX bytes */
};

static __thread struct redirect redirects[2] __attribute__((tls_model("initial-exec")));
static pthread_key_t redirect_key;
static pthread_once_t redirect_once = PTHREAD_ONCE_INIT;

static void redirect_free(void *slots)
{
	struct redirect *r = slots;

	free(r[0].abs);
	free(r[1].abs);
	r[0].abs = r[1].abs = NULL;
}

static void redirect_key_init(void)
{
	pthread_key_create(&redirect_key, redirect_free);
}

void ps_redirect_reset(void)
{
	redirects[0].path = redirects[1].path = NULL;
}

static void redirect(const char *path, const char *abs)
{
	int i = redirects[0].path && redirects[0].path != path;

	if (!redirects[i].abs) {
		pthread_once(&redirect_once, redirect_key_init);
		if (!(redirects[i].abs = malloc(PATH_MAX)))
			return; /* the program's name goes to the kernel, which fails it */
		pthread_setspecific(redirect_key, redirects);
	}
	redirects[i].path = path;
	snprintf(redirects[i].abs, PATH_MAX, "%s", abs);
}

const char *ps_pass(const char *path)
{
	for (int i = 0; i < 2; i++)
		if (path && redirects[i].path == path)
			return redirects[i].abs;
	return path;
}

int ps_pass_dirfd(int dirfd, const char *path)
{
	return ps_pass(path) != path ? AT_FDCWD : dirfd;
}

/* The loop of ps_resolve: apply ".." where the kernel would, resolve, follow what the kernel cannot (symlinks of
 * the shadow's, lower symlinks into the shadow's part), resolve again. */
/* Where the first ".." of path that follows a name starts (a leading one applies to the base directory, which is
 * canonical), or -1. */
static ssize_t first_dotdot(const char *path)
{
	int after_name = 0;

	for (const char *p = path; *p;) {
		const char *end;

		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.') {
			if (after_name)
				return p - path;
		} else if (end > p && !(end - p == 1 && p[0] == '.')) {
			after_name = 1;
		}
		p = end;
	}
	return -1;
}

static int resolve_following(int dirfd, const char *path, int follow, struct ps_target *t);
static int resolve_links(int dirfd, const char *path, const char *program_path, int follow, struct ps_target *t,
			 int rewritten);

/* "name/..": the kernel applies ".." to where name leads - through symlinks, the shadow's too - not lexically to
 * name's own directory. The first such ".." is applied to name's resolved, canonical place: 1 and the rest of the
 * path after it in out, 0 when path has none or name lies outside the prefixes (the kernel's business), -errno. */
static int apply_first_dotdot(int dirfd, const char *path, char *out, size_t outsz)
{
	ssize_t at = first_dotdot(path);
	struct ps_target head_t;
	char head[PATH_MAX];
	struct stat st;
	size_t hlen;
	char *slash;
	int rc, n;

	if (at < 0 || (size_t)at >= sizeof(head))
		return 0;
	memcpy(head, path, (size_t)at);
	for (hlen = (size_t)at; hlen > 1 && head[hlen - 1] == '/'; hlen--)
		;
	head[hlen] = '\0';
	if ((rc = resolve_following(dirfd, head, 1, &head_t)) <= 0)
		return rc;
	if ((rc = ps_target_stat(&head_t, &st)) < 0)
		return rc;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR; /* "file/.." */
	slash = strrchr(head_t.path, '/');
	if (slash)
		slash[slash == head_t.path] = '\0'; /* its parent ("/" stays "/") */
	n = snprintf(out, outsz, "%s%s", head_t.path, path + at + 2);
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 1;
}

/* Every ".." after a name applied to where the name leads (apply_first_dotdot), into *out (allocated; only paths
 * with such a ".." enter this frame, and its buffers). 1 and *out, 0 for none, -errno. */
static __attribute__((noinline)) int apply_dotdots(int dirfd, const char *path, char **out)
{
	char buf[2][PATH_MAX];
	int rc = 0, k;

	*out = NULL;
	for (k = 0; k < 64 && (rc = apply_first_dotdot(dirfd, path, buf[k & 1], PATH_MAX)) > 0; k++) {
		path = buf[k & 1];
		dirfd = AT_FDCWD;
	}
	if (rc < 0 || k == 0)
		return rc;
	return (*out = strdup(path)) ? 1 : -ENOMEM;
}

static int resolve_following(int dirfd, const char *path, int follow, struct ps_target *t)
{
	char *rewritten = NULL;
	int rc = path && first_dotdot(path) >= 0 ? apply_dotdots(dirfd, path, &rewritten) : 0;

	if (rc < 0)
		return rc;
	rc = rewritten ? resolve_links(AT_FDCWD, rewritten, path, follow, t, 1)
		       : resolve_links(dirfd, path, path, follow, t, 0);
	free(rewritten);
	return rc;
}

/* A link's target joined to its directory ("nd/sub/" + "../../../out/f"): its ".." after a name are applied where
 * the name leads, here - the kernel, given the joined name, would have to walk through directories only the shadow
 * has, and say ENOENT. 0 or -errno. */
static int dotdots_in_target(char *through, size_t size)
{
	char *applied;
	int rc;

	if (first_dotdot(through) < 0 || (rc = apply_dotdots(AT_FDCWD, through, &applied)) == 0)
		return 0;
	if (rc < 0)
		return rc;
	rc = (size_t)snprintf(through, size, "%s", applied) >= size ? -ENAMETOOLONG : 0;
	free(applied);
	return rc;
}

/* "name/" names a directory: 1 when t is one (or nothing yet: mkdir "name/"), -ENOTDIR when it is a file. */
static int only_a_directory(const struct ps_target *t)
{
	struct stat st;

	if (t->ns.state == PS_NS_RECORD || t->ns.state == PS_NS_SPECIAL)
		return -ENOTDIR;
	if (t->ns.state == PS_NS_LOWER && REAL(fstatat)(AT_FDCWD, t->path, &st, 0) == 0 && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 1;
}

/* Resolve path, following what the kernel cannot follow; program_path is the name the program gave. */
static int resolve_links(int dirfd, const char *path, const char *program_path, int follow, struct ps_target *t,
			 int rewritten)
{
	size_t len = program_path ? strlen(program_path) : 0;
	int must_be_dir = len > 0 && program_path[len - 1] == '/'; /* "name/": a directory, through any symlink */
	char through[PATH_MAX];
	int rc;

	follow |= must_be_dir;
	for (int links = 0;; links++) {
		rc = resolve_once(dirfd, path, follow, t);
		if ((links > 0 || rewritten || t->mapped) && (rc == 0 || (rc > 0 && t->ns.state == PS_NS_LOWER)))
			redirect(program_path, rc == 0 && (links > 0 || rewritten) ? path : t->path); /* not the kernel's */
		if (rc <= 0)
			return rc;
		if (t->lower_link)
			rc = through_lower_link(t, through, sizeof(through));
		else if (t->ns.state == PS_NS_SYMLINK && (follow || t->rel[t->ns.link_len]))
			rc = through_shadow_link(t, through, sizeof(through));
		else
			return must_be_dir ? only_a_directory(t) : 1;
		if (rc < 0)
			return rc;
		if (links == 40)
			return -ELOOP;
		if ((rc = dotdots_in_target(through, sizeof(through))) < 0)
			return rc;
		path = through; /* absolute */
		dirfd = AT_FDCWD;
	}
}

int ps_resolve(int dirfd, const char *path, int follow, struct ps_target *t)
{
	int saved = errno; /* the probes' ENOENT must not outlive a call that passes through and succeeds */
	int rc = resolve_following(dirfd, path, follow, t);

	errno = saved;
	return rc;
}

/* ---- Names outside the prefixes that lead into one through a symlink outside the tree (/tmp/link -> /ro/f) ----
 * The lexical test cannot see them, and resolving every outside name would cost the common case. Instead a
 * name is looked at again only when what it reaches lies on a prefix's mount: the same device and mount ID
 * (statx) as a prefix's directory. Where a prefix is a mount of its own (a read-only bind mount, a read-only
 * filesystem) nothing outside it ever matches; where it is a plain directory, outside names on its mount pay for
 * one kernel resolution each. */

struct prefix_mount {
	dev_t dev;
	uint64_t mnt_id; /* 0: unknown (no STATX_MNT_ID), the device alone decides */
	int known;       /* the prefix's directory could be looked at */
	int own;         /* the prefix is the root of a mount: nothing outside it lies on that mount */
};

static struct prefix_mount prefix_mounts[PS_MAX_PREFIXES];
static int prefix_mounts_known, own_prefix_mounts;

/* Once per process; two threads racing here store the same values. */
static void learn_prefix_mounts(void)
{
	struct statx stx;

	for (int i = 0; i < ps_cfg.nprefix; i++) {
		if (REAL(statx)(AT_FDCWD, ps_cfg.prefix[i].path, 0, STATX_MNT_ID, &stx) < 0)
			continue;
		prefix_mounts[i].dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
		prefix_mounts[i].mnt_id = (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0;
		prefix_mounts[i].own = prefix_mounts[i].mnt_id && (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
				       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
		prefix_mounts[i].known = 1;
		own_prefix_mounts |= prefix_mounts[i].own;
	}
	__atomic_store_n(&prefix_mounts_known, 1, __ATOMIC_RELEASE);
}

static void know_prefix_mounts(void)
{
	if (!__atomic_load_n(&prefix_mounts_known, __ATOMIC_ACQUIRE))
		learn_prefix_mounts();
}

enum { ON_NO_PREFIX_MOUNT, ON_OWN_PREFIX_MOUNT, ON_SHARED_PREFIX_MOUNT };

/* Does a statx result lie on a prefix's mount - one of its own (a match means it lies in the prefix), or the
 * mount a plain prefix directory shares with names outside it? */
static int prefix_mount_of(const struct statx *stx)
{
	dev_t dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	int where = ON_NO_PREFIX_MOUNT;

	know_prefix_mounts();
	for (int i = 0; i < ps_cfg.nprefix; i++) {
		const struct prefix_mount *m = &prefix_mounts[i];

		if (!m->known || m->dev != dev)
			continue;
		if (m->own && (stx->stx_mask & STATX_MNT_ID) && m->mnt_id == stx->stx_mnt_id)
			return ON_OWN_PREFIX_MOUNT;
		if (!m->own && (!m->mnt_id || !(stx->stx_mask & STATX_MNT_ID) || m->mnt_id == stx->stx_mnt_id))
			where = ON_SHARED_PREFIX_MOUNT;
	}
	return where;
}

/* The longest leading part of path that exists, into dir: its length in path (0: none). What follows it is made
 * of names the kernel does not know (they may exist in the shadow). */
static size_t existing_ancestor(int dirfd, const char *path, char *dir, size_t dirsz, struct statx *stx)
{
	size_t len = strlen(path);

	if (len >= dirsz)
		return 0;
	memcpy(dir, path, len + 1);
	for (int up = 0; up < 64; up++) {
		while (len > 0 && dir[len - 1] == '/')
			len--; /* "a/b/" -> "a/b" */
		while (len > 0 && dir[len - 1] != '/')
			len--; /* "a/b" -> "a/" */
		if (len == 0)
			return 0; /* up to the dirfd or working directory: resolving matched that already */
		dir[len] = '\0';
		if (REAL(statx)(dirfd, dir, 0, STATX_MNT_ID, stx) == 0)
			return len;
		if (errno != ENOENT)
			return 0;
	}
	return 0;
}

/* Reaching name takes no symlink (so its lexical place, outside every prefix, is its real one)? Two system calls,
 * where naming it (kernel_dir_path) takes three and a /proc lookup. */
static int symlink_free(int dirfd, const char *name, int follow)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), .resolve = RESOLVE_NO_SYMLINKS };
	long fd = REAL(syscall)(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0)
		return 0;
	REAL(close)((int)fd);
	return 1;
}

int ps_resolve_outside(int dirfd, const char *path, int follow, const struct statx *reached, int how,
		       struct ps_target *t)
{
	char canon[PATH_MAX], dir[PATH_MAX];
	const char *name = path, *rel;
	struct statx own;
	int saved = errno, rc = 0, where, named, probe_follow = follow;
	size_t ancestor = 0; /* the name is missing: the length of the part of it that exists */

	if (!path || !*path || ps_pass(path) != path)
		return 0; /* resolving already chose the name the kernel gets */
	know_prefix_mounts();
	if ((how & PS_OUTSIDE_CHEAP) && !own_prefix_mounts)
		return 0;
	if (!reached && !(how & PS_OUTSIDE_MISSING) &&
	    REAL(statx)(dirfd, path, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &own) == 0)
		reached = &own;
	if (!reached && errno == ENOENT && (ancestor = existing_ancestor(dirfd, path, dir, sizeof(dir), &own))) {
		reached = &own; /* where a missing name would be made */
		name = dir;
		probe_follow = 1;
	}
	where = reached ? prefix_mount_of(reached) : ON_NO_PREFIX_MOUNT;
	if (where == ON_NO_PREFIX_MOUNT || (where == ON_SHARED_PREFIX_MOUNT && (how & PS_OUTSIDE_CHEAP)) ||
	    (where == ON_SHARED_PREFIX_MOUNT && !(how & PS_OUTSIDE_LINKED) && symlink_free(dirfd, name, probe_follow)))
		goto out;
	named = ancestor ? kernel_dir_path(dirfd, dir, path + ancestor, canon, sizeof(canon))
			 : kernel_path(dirfd, path, follow, canon, sizeof(canon));
	if (named >= 0 && ps_config_match(&ps_cfg, canon, &rel) >= 0)
		rc = resolve_links(AT_FDCWD, canon, path, follow, t, 1);
out:
	errno = saved;
	return rc;
}

int ps_resolve_outside_links(int dirfd, const char *path, int follow, struct ps_target *t)
{
	int rc = ps_resolve(dirfd, path, follow, t);

	return rc == 0 ? ps_resolve_outside(dirfd, path, follow, NULL, 0, t) : rc;
}

int ps_enter_resolved(int dirfd, const char *path, int follow, struct ps_target *t)
{
	int rc;

	if (!ps_enter())
		return 0;
	if ((rc = ps_resolve_outside_links(dirfd, path, follow, t)) == 0)
		ps_leave();
	return rc;
}

int ps_path_in_prefix(const char *path, int follow)
{
	struct ps_target t;
	int rc = ps_enter_resolved(AT_FDCWD, path, follow, &t);

	if (rc != 0)
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
	if (t->ns.state != PS_NS_RECORD)
		return -ENOENT; /* resolving asked the meta tree already */
	ps_target_name(t, &name);
	return ps_file_lookup(sh, &name, out);
}

int ps_target_data_path(const struct ps_target *t, char *out, size_t outsz)
{
	return ps_shadow_path(out, outsz, "data", ps_cfg.prefix[t->prefix].enc, t->rel);
}

/* A directory or special file of the shadow's own (mkdir, mknod): its data twin, whose mode and times are its
 * own. */
static int shadow_dir_stat(const struct ps_target *t, struct stat *st)
{
	struct ps_shadow *sh = ps_shadow_get();
	char data[PATH_MAX];
	int rc;

	if (!sh)
		return -EROFS;
	if ((rc = ps_target_data_path(t, data, sizeof(data))) < 0)
		return rc;
	return REAL(fstatat)(sh->dirfd, data, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int ps_target_list(const struct ps_target *t, struct ps_dirlist *l)
{
	struct ps_shadow *sh = ps_shadow_get();
	int fd = -1, rc;

	memset(l, 0, sizeof(*l));
	if (!sh)
		return -EROFS;
	if (ps_target_lower_shows(t) && (fd = REAL(openat)(AT_FDCWD, t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 &&
	    errno != ENOENT)
		return -errno;
	rc = ps_ns_list(sh, ps_cfg.prefix[t->prefix].enc, t->rel, fd, fd >= 0, l);
	if (fd >= 0)
		REAL(close)(fd);
	return rc;
}

/* A directory's link count is 2 plus its subdirectories on the file systems that keep it so (the lower one's is 2
 * or more): the merged directory's counts the merged subdirectories - find's and fts's leaf optimisation trust
 * it. The lower count, changed by what the shadow's entries make or hide (one read of the meta directory; the
 * lower directory is asked about those names only when it has subdirectories). */
static void merged_nlink(const struct ps_target *t, struct stat *st)
{
	struct ps_shadow *sh = ps_shadow_get();
	int lower_has_subdirs = st->st_nlink > 2, lfd = -1;
	long change;

	if (!sh || st->st_nlink < 2)
		return;
	if (lower_has_subdirs && (lfd = REAL(openat)(AT_FDCWD, t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (ps_ns_subdir_change(sh, ps_cfg.prefix[t->prefix].enc, t->rel, lfd, lower_has_subdirs, &change) == 0 &&
	    (long)st->st_nlink + change >= 2)
		st->st_nlink = (nlink_t)((long)st->st_nlink + change);
	if (lfd >= 0)
		REAL(close)(lfd);
}

/* A lower directory with shadow entries: its identity always, and its mode, owner and times from the data
 * directory once they were changed (ns.h). Until then its times are the lower directory's, or the meta
 * directory's when those are later: an entry made or deleted in it moves them, as on a real directory (Python's
 * import cache, make and find -newer look). */
static int merged_dir_stat(const struct ps_target *t, struct stat *st)
{
	struct ps_shadow *sh = ps_shadow_get();
	char meta[PATH_MAX];
	struct stat own;
	int rc;

	if (REAL(fstatat)(AT_FDCWD, t->path, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	merged_nlink(t, st);
	if (!t->ns.own_attrs) {
		if (sh && ps_shadow_path(meta, sizeof(meta), "meta", ps_cfg.prefix[t->prefix].enc, t->rel) >= 0 &&
		    REAL(fstatat)(sh->dirfd, meta, &own, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (own.st_mtim.tv_sec > st->st_mtim.tv_sec ||
		     (own.st_mtim.tv_sec == st->st_mtim.tv_sec && own.st_mtim.tv_nsec > st->st_mtim.tv_nsec))) {
			st->st_mtim = own.st_mtim;
			st->st_ctim = own.st_ctim;
		}
		return 0;
	}
	if ((rc = shadow_dir_stat(t, &own)) < 0)
		return rc;
	st->st_mode = own.st_mode;
	st->st_uid = own.st_uid;
	st->st_gid = own.st_gid;
	st->st_atim = own.st_atim;
	st->st_mtim = own.st_mtim;
	st->st_ctim = own.st_ctim;
	return 0;
}

/* A file that lives wholly in the shadow is its data file, as its record's header says: stat needs neither the
 * record's mapping nor a file object (four system calls where loading the file takes about twenty). 0 and *st
 * filled, or 1: not such a file or not sure (being made, renamed, a torn pair): load it. */
static int stat_shadow_only(const struct ps_target *t, struct stat *st)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_record_disk hdr;
	char meta[PATH_MAX], data[PATH_MAX];
	int fd, rc;

	if (!t->ns.header_only || !sh ||
	    ps_shadow_path(meta, sizeof(meta), "meta", ps_cfg.prefix[t->prefix].enc, t->rel) < 0 ||
	    ps_target_data_path(t, data, sizeof(data)) < 0)
		return 1;
	if ((fd = REAL(openat)(sh->dirfd, meta, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 1;
	rc = ps_record_peek(fd, &hdr);
	REAL(close)(fd);
	if (rc != 0 || REAL(fstatat)(sh->dirfd, data, st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st->st_mode))
		return 1;
	if (hdr.attr_flags & PS_ATTR_MODE) /* a mode the data file cannot carry (file.c) */
		st->st_mode = S_IFREG | (hdr.mode & 07777);
	return hdr.data_ino && hdr.data_ino != (uint64_t)st->st_ino;
}

int ps_target_stat(const struct ps_target *t, struct stat *st)
{
	struct ps_shadow *sh = ps_shadow_get();
	char meta[PATH_MAX];
	struct ps_file *f;
	int rc;

	switch (t->ns.state) {
	case PS_NS_RECORD:
		if (stat_shadow_only(t, st) == 0)
			return 0;
		if ((rc = ps_target_lookup(t, &f)) < 0)
			return rc;
		rc = ps_merge_stat(f, st);
		ps_file_put(f);
		return rc;
	case PS_NS_DIR:
		if (t->ns.opaque)
			return shadow_dir_stat(t, st);
		return merged_dir_stat(t, st);
	case PS_NS_LOWER:
		return REAL(fstatat)(AT_FDCWD, t->path, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	case PS_NS_SPECIAL: /* its data twin is the real node */
		return shadow_dir_stat(t, st);
	case PS_NS_SYMLINK: /* the link itself (resolving followed it otherwise) */
		if (!sh)
			return -EROFS;
		if ((rc = ps_shadow_path(meta, sizeof(meta), "meta", ps_cfg.prefix[t->prefix].enc, t->rel)) < 0)
			return rc;
		return REAL(fstatat)(sh->dirfd, meta, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	case PS_NS_NOTDIR:
		return -ENOTDIR;
	default:
		return -ENOENT;
	}
}

int ps_target_free(const struct ps_target *t)
{
	struct stat st;

	return ps_target_stat(t, &st) == -ENOENT ? 0 : -EEXIST;
}

int ps_target_shadow_lower(const struct ps_target *t, const struct stat *lower, struct ps_file **out)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file_name name;

	if (!sh)
		return -EROFS;
	ps_target_name(t, &name);
	return ps_file_create(sh, &name, lower, 0, 0, out);
}

int ps_target_parent(const struct ps_target *t, struct ps_target *parent)
{
	char *slash;

	strcpy(parent->path, t->path);
	slash = strrchr(parent->path, '/');
	if (!*t->rel || !slash)
		return 0; /* the prefix itself: its parent is outside */
	*slash = '\0';
	return target_place(parent);
}
