/* diff.c - pageshadow diff [--text] [PATH...]: how the merged tree differs from the lower tree, path by path.
 *
 * The shadow's entries are the only places where the trees can differ, so the walk goes over them, not over the
 * lower tree. A file whose lower file is at its own name can differ only in its shadowed pages and past lower_len:
 * only those are read. Any other file (renamed, new over a lower file) is compared byte for byte.
 */
#include "pageshadow.h"

#include "merge.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct diff_run {
	struct ps_shadow *sh;
	struct scope scope;
	int text;
	int differs;
	int trouble;
	char *a, *b; /* COPY_CHUNK buffers */
};

#define RANGES_SHOWN 8 /* a line names this many ranges, then counts the rest */

/* Byte ranges, merged as they come (they come in order). */
struct ranges {
	char line[RANGES_SHOWN * 48];
	size_t len;
	uint64_t start, end; /* the open range [start, end), empty when start == end */
	uint64_t count, bytes;
	int any;
};

static void ranges_flush(struct ranges *r)
{
	if (r->start == r->end)
		return;
	if (r->count < RANGES_SHOWN)
		r->len += (size_t)snprintf(r->line + r->len, sizeof(r->line) - r->len, "%s%" PRIu64 "-%" PRIu64,
					   r->any ? ", " : "", r->start, r->end - 1);
	r->count++;
	r->bytes += r->end - r->start;
	r->any = 1;
	r->start = r->end;
}

static void ranges_add(struct ranges *r, uint64_t start, uint64_t end)
{
	if (start == r->end && r->start != r->end) {
		r->end = end;
		return;
	}
	ranges_flush(r);
	r->start = start;
	r->end = end;
}

/* The bytes of a and b that differ, at offset off, into r. */
static void compare_bytes(struct ranges *r, const char *a, const char *b, size_t n, uint64_t off)
{
	size_t i = 0;

	while (i < n) {
		size_t j;

		if (a[i] == b[i]) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && a[j] != b[j]; j++)
			;
		ranges_add(r, off + i, off + j);
		i = j;
	}
}

/* Does any shadowed page lie in [off, off + n)? (Below lower_len only: beyond it every byte is the data file's.) */
static int chunk_shadowed(struct ps_file *f, uint64_t off, size_t n)
{
	uint64_t lower_len = ps_record_lower_len(&f->rec);

	if (off + n > lower_len)
		return 1;
	for (uint64_t p = off / PS_PAGE_SIZE; p <= (off + n - 1) / PS_PAGE_SIZE; p++)
		if (ps_record_page_is_shadowed(&f->rec, p))
			return 1;
	return 0;
}

/* The ranges where f's merged bytes differ from base's (open at bfd, size bsize); only_shadowed: base is f's own
 * lower file, whose bytes show wherever f has none. */
static int compare_file(struct diff_run *d, struct ps_file *f, int bfd, uint64_t bsize, int only_shadowed,
			struct ranges *r)
{
	uint64_t size = (uint64_t)ps_merge_size(f), common = size < bsize ? size : bsize;

	for (uint64_t off = 0; off < common; off += COPY_CHUNK) {
		size_t n = common - off < COPY_CHUNK ? (size_t)(common - off) : COPY_CHUNK;
		ssize_t got;

		if (only_shadowed && !chunk_shadowed(f, off, n))
			continue;
		if ((got = ps_merge_pread(f, d->a, n, (off_t)off)) < 0)
			return (int)got;
		if ((size_t)got != n)
			return -EIO; /* the file shrank meanwhile */
		if ((got = ps_sys_pread_full(bfd, d->b, n, (off_t)off)) < 0)
			return (int)got;
		if ((size_t)got != n)
			return -EIO;
		compare_bytes(r, d->a, d->b, n, off);
	}
	if (size != bsize)
		ranges_add(r, common, size > bsize ? size : bsize);
	ranges_flush(r);
	return 0;
}

/* diff -u of lower (or /dev/null) and the merged bytes of f (or /dev/null), labelled a/REL_A and b/REL_B. */
static int unified(const char *rel_a, const char *rel_b, const char *lower, struct ps_file *f)
{
	char la[PATH_MAX + 8], lb[PATH_MAX + 8], merged[64];
	const char *argv[] = { "diff", "-u", "--label", la, "--label", lb, lower ? lower : "/dev/null", merged, NULL };
	int mfd = -1, status, rc = 0;
	pid_t pid;

	snprintf(la, sizeof(la), lower ? "a/%s" : "/dev/null", rel_a);
	snprintf(lb, sizeof(lb), f ? "b/%s" : "/dev/null", rel_b);
	snprintf(merged, sizeof(merged), "/dev/null");
	if (f) {
		if ((mfd = memfd_create("pageshadow-diff", 0)) < 0)
			return -errno;
		if ((rc = copy_merged(f, mfd, UINT64_MAX)) < 0) {
			close(mfd);
			return rc;
		}
		snprintf(merged, sizeof(merged), "/dev/fd/%d", mfd);
	}
	fflush(stdout);
	rc = posix_spawnp(&pid, "diff", NULL, NULL, (char *const *)argv, environ);
	if (rc == 0 && waitpid(pid, &status, 0) < 0)
		rc = errno;
	if (mfd >= 0)
		close(mfd);
	if (rc)
		return -rc;
	return WIFEXITED(status) && WEXITSTATUS(status) <= 1 ? 0 : -EIO;
}

static void report_mode(struct diff_run *d, const char *path, mode_t was, mode_t now)
{
	if ((was & 07777) == (now & 07777))
		return;
	printf("mode %s: %04o -> %04o\n", path, (unsigned)(was & 07777), (unsigned)(now & 07777));
	d->differs = 1;
}

/* The file f against base (a regular file of the lower tree, bst its stat): changed ranges and mode. */
static int compare_with(struct diff_run *d, struct ps_file *f, const char *path, const char *base,
			const struct stat *bst, int only_shadowed, const char *rel_base, const char *rel)
{
	struct ranges r = { .len = 0 };
	struct stat mst;
	int bfd = open(base, O_RDONLY | O_CLOEXEC), rc;

	if (bfd < 0)
		return -errno;
	rc = compare_file(d, f, bfd, (uint64_t)bst->st_size, only_shadowed, &r);
	close(bfd);
	if (rc < 0)
		return rc;
	if (r.any && d->text) {
		rc = unified(rel_base, rel, base, f);
	} else if (r.any) {
		uint64_t size = (uint64_t)ps_merge_size(f);

		printf("changed %s: %s", path, r.line);
		if (r.count > RANGES_SHOWN)
			printf(", ... (%" PRIu64 " ranges, %" PRIu64 " bytes)", r.count, r.bytes);
		if (size != (uint64_t)bst->st_size)
			printf(", size %" PRIu64 " -> %" PRIu64, (uint64_t)bst->st_size, size);
		putchar('\n');
	}
	d->differs |= r.any;
	if (rc == 0 && (rc = ps_merge_stat(f, &mst)) == 0)
		report_mode(d, path, bst->st_mode, mst.st_mode);
	return rc;
}

/* A file whose name the lower tree does not have as a regular file: new, replacing another kind of entry, or
 * renamed from its lower file (then compared with it). */
static int diff_moved_or_new(struct diff_run *d, struct ps_file *f, const char *path, const struct rec_info *ri,
			     int had, const char *rel)
{
	struct stat ost;

	d->differs = 1;
	if (ri->origin[0] && stat(ri->lower_path, &ost) == 0 && S_ISREG(ost.st_mode)) {
		printf("renamed %s -> %s\n", ri->lower_path, path);
		return compare_with(d, f, path, ri->lower_path, &ost, 1, ri->origin, rel);
	}
	printf("%s %s\n", had ? "replaced" : "new", path);
	return d->text && !had ? unified(rel, rel, NULL, f) : 0;
}

static int diff_record(struct diff_run *d, const struct ps_tree_entry *e, const char *path)
{
	char fpath[PATH_MAX];
	const char *rel = e->rel;
	struct rec_info ri;
	struct ps_file *f;
	struct stat bst;
	int rc, have;

	if (read_record(d->sh->dirfd, e->meta_path, e->prefix, e->rel, &ri) < 0) {
		complain("%s: %s shadow record: %s", path, ri.rc == -ESTALE ? "stale" : "unusable", ri.why);
		return -1;
	}
	if ((rc = open_merged(d->sh, e, fpath, sizeof(fpath), &f)) < 0) {
		complain("%s: %s", path, engine_strerror(rc));
		return -1;
	}
	have = lstat(path, &bst) == 0;
	if (!have && errno != ENOENT)
		rc = -errno;
	else if (!have || !S_ISREG(bst.st_mode))
		rc = diff_moved_or_new(d, f, path, &ri, have, rel);
	else /* the lower file at its name: where it is f's own lower file, only f's shadowed pages can differ */
		rc = compare_with(d, f, path, path, &bst, ri.has_lower && !ri.origin[0], rel, rel);
	ps_file_put(f);
	if (rc < 0)
		complain("%s: %s", path, engine_strerror(rc));
	return rc < 0 ? -1 : 0;
}

static int diff_whiteout(struct diff_run *d, const char *path, const char *rel)
{
	struct stat bst;

	if (lstat(path, &bst) < 0)
		return 0; /* the lower entry went away by itself */
	d->differs = 1;
	printf("deleted %s%s\n", path, S_ISDIR(bst.st_mode) ? "/" : "");
	if (d->text && S_ISREG(bst.st_mode) && unified(rel, rel, path, NULL) < 0) {
		complain("%s: cannot run diff", path);
		return -1;
	}
	return 0;
}

/* Does the meta directory (meta_path) of an opaque directory hold name? */
static int meta_has(struct diff_run *d, const char *meta_path, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", meta_path, name);
	return fstatat(d->sh->dirfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* An opaque directory over a lower one: every lower name it does not hold again was deleted. */
static int deleted_below(struct diff_run *d, const struct ps_tree_entry *e, const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;

	if (!dir) {
		complain("%s: cannot read the lower directory: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir))) {
		char child[PATH_MAX * 2 + 256];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || meta_has(d, e->meta_path, de->d_name))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		d->differs = 1;
		printf("deleted %s%s\n", child, de->d_type == DT_DIR ? "/" : "");
	}
	closedir(dir);
	return 0;
}

static int diff_dir(struct diff_run *d, const struct ps_tree_entry *e, const char *path)
{
	struct stat bst, dst;

	if (!(e->mode & (S_ISVTX | S_ISUID)))
		return 0; /* only the parent of other entries */
	if (lstat(path, &bst) < 0) {
		d->differs = 1;
		printf("new %s/\n", path);
		return 0;
	}
	if (!S_ISDIR(bst.st_mode)) {
		d->differs = 1;
		printf("replaced %s/\n", path);
		return 0;
	}
	if (fstatat(d->sh->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) == 0)
		report_mode(d, path, bst.st_mode, dst.st_mode);
	return e->mode & S_ISVTX ? deleted_below(d, e, path) : 0;
}

static int diff_symlink(struct diff_run *d, const struct ps_tree_entry *e, const char *path)
{
	char now[PATH_MAX], was[PATH_MAX];
	ssize_t n = readlinkat(d->sh->dirfd, e->meta_path, now, sizeof(now) - 1), m;
	struct stat bst;

	if (n < 0) {
		complain("%s: cannot read its symlink in the shadow: %s", path, strerror(errno));
		return -1;
	}
	now[n] = '\0';
	if (lstat(path, &bst) < 0) {
		printf("new %s -> %s\n", path, now);
	} else if (!S_ISLNK(bst.st_mode)) {
		printf("replaced %s -> %s\n", path, now);
	} else {
		if ((m = readlink(path, was, sizeof(was) - 1)) < 0)
			m = 0;
		was[m] = '\0';
		if (strcmp(was, now) == 0)
			return 0;
		printf("changed %s: symlink %s -> %s\n", path, was, now);
	}
	d->differs = 1;
	return 0;
}

static int diff_entry(const struct ps_tree_entry *e, void *arg)
{
	struct diff_run *d = arg;
	char path[PATH_MAX * 2];
	struct stat bst;
	int rc = 0;

	if (walk_trouble(e, d->sh->path, &d->trouble))
		return 0;
	if (join_path(path, sizeof(path), e->prefix, e->rel) < 0 || !scope_wants(&d->scope, e->prefix, path))
		return 0;
	switch (e->kind) {
	case PS_TREE_RECORD:
		rc = diff_record(d, e, path);
		break;
	case PS_TREE_DIR:
		rc = diff_dir(d, e, path);
		break;
	case PS_TREE_WHITEOUT:
		rc = diff_whiteout(d, path, e->rel);
		break;
	case PS_TREE_SYMLINK:
		rc = diff_symlink(d, e, path);
		break;
	case PS_TREE_SPECIAL:
		d->differs = 1;
		printf("%s %s\n", lstat(path, &bst) == 0 ? "replaced" : "new", path);
		break;
	}
	if (rc < 0)
		d->trouble = 1;
	return 0;
}

int cmd_diff(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	static const char *const names[] = { "text", NULL };
	int flags[1] = { 0 }, rc;
	struct diff_run d = { .sh = sh };

	scope_init(&d.scope, o, cfg, sh, names, flags);
	d.text = flags[0];
	d.a = malloc(COPY_CHUNK);
	d.b = malloc(COPY_CHUNK);
	if (!d.a || !d.b)
		fail("diff: %s", strerror(ENOMEM));
	rc = ps_tree_walk(sh->dirfd, diff_entry, &d);
	if (fflush(stdout) != 0)
		fail("stdout: %s", strerror(errno));
	scope_free(&d.scope);
	free(d.a);
	free(d.b);
	if (rc < 0 || d.trouble)
		return EXIT_TROUBLE;
	return d.differs ? EXIT_DIFFERENT : 0;
}
