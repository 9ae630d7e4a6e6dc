/* export.c - pageshadow export [--changed] DEST [PATH]: the merged tree at PATH, written out as a plain tree.
 *
 * The walk is over the merged namespace, as a program under the shim sees it: a directory's names are its
 * merged listing (ps_ns_list), each name is looked up in the shadow (ps_ns_lookup), and what the shadow does not
 * hold comes from the lower tree. Files get their merged bytes, then mode, owner (when run as root) and times; a
 * directory's mode and times are set after what it holds, so a read-only directory can still be filled. Hard
 * links are written as separate files.
 */
#include "pageshadow.h"

#include "listing.h"
#include "merge.h"
#include "ns.h"
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 256

struct export_run {
	struct ps_shadow *sh;
	const struct ps_prefix *prefix;
	int changed;      /* only what the shadow holds */
	uint64_t written; /* entries written (progress) */
	int trouble;
	char *buf;
};

/* One name of the merged tree: its absolute path, the path below the prefix, where it goes. */
struct node {
	const char *abs;
	const char *rel;
	const char *dest;
};

static int node_trouble(struct export_run *x, const struct node *n, const char *what, int err)
{
	complain("%s: %s: %s", n->abs, what, engine_strerror(err));
	x->trouble = 1;
	return -1;
}

static int create_dest(const char *dest)
{
	int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

static int export_lower_file(struct export_run *x, const struct node *n, const struct stat *st)
{
	int in = open(n->abs, O_RDONLY | O_CLOEXEC), out, rc;

	if (in < 0)
		return node_trouble(x, n, "cannot read", -errno);
	if ((out = create_dest(n->dest)) < 0) {
		close(in);
		return node_trouble(x, n, n->dest, out);
	}
	rc = copy_fd(in, out, x->buf);
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = set_attrs(n->dest, st);
	return rc < 0 ? node_trouble(x, n, n->dest, rc) : 0;
}

static int export_record(struct export_run *x, const struct node *n)
{
	struct ps_file_name name = { .path = n->abs, .enc_prefix = x->prefix->enc, .rel = n->rel };
	struct ps_file *f;
	struct stat st;
	int out, rc = ps_file_lookup(x->sh, &name, &f);

	if (rc < 0)
		return node_trouble(x, n, "cannot read its shadow", rc);
	if ((rc = ps_merge_stat(f, &st)) < 0 || (out = rc = create_dest(n->dest)) < 0) {
		ps_file_put(f);
		return node_trouble(x, n, n->dest, rc);
	}
	rc = copy_merged(f, out, UINT64_MAX);
	ps_file_put(f);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = set_attrs(n->dest, &st);
	return rc < 0 ? node_trouble(x, n, n->dest, rc) : 0;
}

static int export_symlink(struct export_run *x, const struct node *n, const char *target, const struct stat *st)
{
	if (symlink(target, n->dest) < 0)
		return node_trouble(x, n, n->dest, -errno);
	if (st) {
		int rc = set_attrs(n->dest, st);

		if (rc < 0)
			return node_trouble(x, n, n->dest, rc);
	}
	return 0;
}

static int export_special(struct export_run *x, const struct node *n, const struct stat *st)
{
	int rc = mknod(n->dest, st->st_mode, st->st_rdev) < 0 ? -errno : set_attrs(n->dest, st);

	return rc < 0 ? node_trouble(x, n, n->dest, rc) : 0;
}

static int export_node(struct export_run *x, const struct node *n, int depth);

/* Each name of the merged directory n (lower directory open at lfd, or -1), below dest. */
static int export_children(struct export_run *x, const struct node *n, int lfd, int lower_shows, int depth)
{
	struct ps_dirlist l;
	int rc = ps_ns_list(x->sh, x->prefix->enc, n->rel, lfd, lower_shows, &l);

	if (rc < 0) {
		ps_dirlist_free(&l);
		return node_trouble(x, n, "cannot list", rc);
	}
	for (size_t i = 0; i < l.count; i++) {
		const char *name = l.names + l.ents[i].name;
		char abs[PATH_MAX], dest[PATH_MAX], rel[PATH_MAX];
		struct node c = { .abs = abs, .rel = rel, .dest = dest };

		if (l.ents[i].type == PS_DIRENT_DELETED || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (join_path(abs, sizeof(abs), n->abs, name) < 0 || join_path(dest, sizeof(dest), n->dest, name) < 0 ||
		    (*n->rel ? join_path(rel, sizeof(rel), n->rel, name) : join_path(rel, sizeof(rel), name, "")) < 0) {
			complain("%s/%s: %s", n->abs, name, strerror(ENAMETOOLONG));
			x->trouble = 1;
			continue;
		}
		export_node(x, &c, depth + 1);
	}
	ps_dirlist_free(&l);
	return 0;
}

/* A directory: made, filled, then given its attributes (the shadow's own, or the lower one's). With --changed,
 * a directory that holds nothing of the shadow's and ends up empty is removed again. */
static int export_dir(struct export_run *x, const struct node *n, const struct ps_ns *ns, int depth)
{
	char data[PATH_MAX];
	struct stat st;
	int lfd = -1, rc, lower_shows = ps_ns_lower_shows(ns), own = ns->state == PS_NS_DIR && ns->own_attrs;

	if (own && (ps_shadow_path(data, sizeof(data), "data", x->prefix->enc, n->rel) < 0 ||
		    fstatat(x->sh->dirfd, data, &st, AT_SYMLINK_NOFOLLOW) < 0))
		return node_trouble(x, n, "its directory in the shadow", -errno);
	if (lower_shows && (lfd = open(n->abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return node_trouble(x, n, "cannot open", -errno);
	if (!own && fstat(lfd, &st) < 0) {
		rc = -errno;
		close(lfd);
		return node_trouble(x, n, "cannot stat", rc);
	}
	if (mkdir(n->dest, 0700) < 0) {
		rc = -errno;
		if (lfd >= 0)
			close(lfd);
		return node_trouble(x, n, n->dest, rc);
	}
	export_children(x, n, lfd, lower_shows, depth);
	if (lfd >= 0)
		close(lfd);
	if (x->changed && !(ns->state == PS_NS_DIR && (ns->opaque || ns->own_attrs)) && rmdir(n->dest) == 0)
		return 0; /* nothing of the shadow's below it */
	if ((rc = set_attrs(n->dest, &st)) < 0)
		return node_trouble(x, n, n->dest, rc);
	return 0;
}

/* The prefix itself: a lower directory, merged with the shadow's entries when it has any. */
static int prefix_ns(struct export_run *x, struct ps_ns *ns)
{
	char meta[PATH_MAX];
	struct stat st;

	*ns = (struct ps_ns){ .state = PS_NS_LOWER };
	if (ps_shadow_path(meta, sizeof(meta), "meta", x->prefix->enc, "") < 0)
		return -ENAMETOOLONG;
	if (fstatat(x->sh->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		ns->state = PS_NS_DIR;
	return 0;
}

static int export_node(struct export_run *x, const struct node *n, int depth)
{
	struct ps_ns ns;
	struct stat st;
	char target[PATH_MAX], data[PATH_MAX];
	int rc = *n->rel ? ps_ns_lookup(x->sh, x->prefix->enc, n->rel, &ns) : prefix_ns(x, &ns);

	if (rc < 0)
		return node_trouble(x, n, "its shadow entry", rc);
	if (depth > MAX_DEPTH)
		return node_trouble(x, n, "too deep", -ELOOP);
	progress("exported", ++x->written);
	switch (ns.state) {
	case PS_NS_RECORD:
		return export_record(x, n);
	case PS_NS_DIR:
		return export_dir(x, n, &ns, depth);
	case PS_NS_SYMLINK:
		if ((rc = ps_ns_readlink(x->sh, x->prefix->enc, n->rel, target, sizeof(target))) < 0)
			return node_trouble(x, n, "its symlink in the shadow", rc);
		return export_symlink(x, n, target, NULL);
	case PS_NS_SPECIAL:
		if (ps_shadow_path(data, sizeof(data), "data", x->prefix->enc, n->rel) < 0 ||
		    fstatat(x->sh->dirfd, data, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return node_trouble(x, n, "its node in the shadow", -errno);
		return export_special(x, n, &st);
	case PS_NS_LOWER:
		break;
	default:
		return node_trouble(x, n, "not in the merged tree", -ENOENT);
	}
	if (lstat(n->abs, &st) < 0)
		return node_trouble(x, n, "cannot stat", -errno);
	if (S_ISDIR(st.st_mode))
		return export_dir(x, n, &ns, depth);
	if (x->changed)
		return 0;
	if (S_ISREG(st.st_mode))
		return export_lower_file(x, n, &st);
	if (S_ISLNK(st.st_mode)) {
		ssize_t len = readlink(n->abs, target, sizeof(target) - 1);

		if (len < 0)
			return node_trouble(x, n, "cannot read symlink", -errno);
		target[len] = '\0';
		return export_symlink(x, n, target, &st);
	}
	return export_special(x, n, &st);
}

/* DEST must be new, or an empty directory (then a directory is exported into it). */
static void check_dest(const char *dest, const char *src)
{
	struct stat st;
	char abs[PATH_MAX];

	resolve_arg(dest, abs, sizeof(abs));
	if (ps_path_below(abs, src))
		fail("export: %s lies inside %s, the tree to export", dest, src);
	if (lstat(dest, &st) < 0) {
		if (errno != ENOENT)
			fail("export: %s: %s", dest, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode) || rmdir(dest) < 0) /* rmdir: empty, and it is made again with the right mode */
		fail("export: %s exists and is not an empty directory", dest);
}

int cmd_export(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	static const char *const names[] = { "changed", NULL };
	int flags[1] = { 0 }, nrest;
	char **rest, abs[PATH_MAX];
	const char *rel;
	struct export_run x = { .sh = sh };
	struct node top;

	command_flags(o, names, flags, &rest, &nrest);
	x.changed = flags[0];
	if (nrest < 1 || nrest > 2)
		fail("export takes DEST and at most one PATH (see --help)");
	if (nrest == 2) {
		resolve_arg(rest[1], abs, sizeof(abs));
		x.prefix = prefix_of(cfg, abs, rest[1], &rel);
	} else if (cfg->nprefix == 1) {
		snprintf(abs, sizeof(abs), "%s", cfg->prefix[0].path);
		x.prefix = &cfg->prefix[0];
		rel = "";
	} else {
		fail("export: %s; name the PATH to export", cfg->nprefix ? "this shadow has several prefixes"
									  : "this shadow holds nothing yet");
	}
	check_dest(rest[0], abs);
	if (!(x.buf = malloc(COPY_CHUNK)))
		fail("export: %s", strerror(ENOMEM));
	top = (struct node){ .abs = abs, .rel = rel, .dest = rest[0] };
	export_node(&x, &top, 0);
	progress_done();
	free(x.buf);
	free(rest);
	return x.trouble ? EXIT_TROUBLE : 0;
}
