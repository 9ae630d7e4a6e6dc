/* fsck.c - pageshadow fsck [--repair]: check a shadow against docs/FORMAT.md and, with --repair, fix what can
 * be fixed without losing anything a program wrote.
 *
 * Checked: every meta entry (a record valid and matching its lower file and its data file; a directory with its
 * data directory; a special file with its node), every data entry (one without a meta entry is the leftover of an
 * interrupted creation), and the transient names at the top (new-record, new-entry, ...: left by a process that
 * died under the creation lock). Repaired, under the creation lock: leftovers removed, a missing data directory
 * made, an interrupted truncation finished (lower_len lowered to the data file's size, as the next open would).
 * Left for the user, with the command that resolves it: a stale record (rebase or reset), a damaged record or a
 * record without its data (reset), a commit that stopped half-way (commit). Run it while no program uses the
 * shadow: a creation in progress looks like a leftover.
 */
#include "pageshadow.h"

#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fsck_run {
	struct ps_shadow *sh;
	int repair;
	uint64_t problems, repaired, seen;
	int trouble;
	uint64_t *inos;   /* the data_ino of every record: a data file with one of them holds written bytes */
	size_t ninos, inos_cap;
};

static struct fsck_run *nftw_run; /* nftw passes no argument */

/* One line per problem; with --repair and a fix, the fix is applied and said. */
static void problem(struct fsck_run *r, const char *where, const char *what, int (*fix)(struct fsck_run *, const char *),
		    const char *arg, const char *advice)
{
	int rc = 0;

	r->problems++;
	if (r->repair && fix && (rc = fix(r, arg)) == 0) {
		r->repaired++;
		printf("%s: %s: repaired\n", where, what);
		return;
	}
	if (rc < 0)
		printf("%s: %s: repair failed: %s\n", where, what, strerror(-rc));
	else
		printf("%s: %s%s%s\n", where, what, advice ? ": " : "", advice ? advice : "");
}

static int fix_remove(struct fsck_run *r, const char *rel_to_shadow)
{
	return ps_sys_remove_tree(r->sh->dirfd, rel_to_shadow);
}

static int fix_mkdir(struct fsck_run *r, const char *data_path)
{
	return mkdirat(r->sh->dirfd, data_path, 0755) < 0 ? -errno : 0;
}

/* lower_len past the data file's end: a truncation stopped between its two steps; finish it. */
static int fix_lower_len(struct fsck_run *r, const char *meta_path)
{
	char data[PATH_MAX];
	struct stat dst;
	uint64_t len;
	int fd, rc = 0;

	snprintf(data, sizeof(data), "data%s", meta_path + 4);
	if (fstatat(r->sh->dirfd, data, &dst, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((fd = openat(r->sh->dirfd, meta_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	len = (uint64_t)dst.st_size;
	if (ps_sys_pwrite_full(fd, &len, sizeof(len), (off_t)offsetof(struct ps_record_disk, lower_len)) !=
		    (ssize_t)sizeof(len) ||
	    fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	return rc;
}

static void remember_ino(struct fsck_run *r, uint64_t ino)
{
	if (r->ninos == r->inos_cap) {
		size_t cap = r->inos_cap ? 2 * r->inos_cap : 64;
		uint64_t *grown = realloc(r->inos, cap * sizeof(*grown));

		if (!grown)
			fail("fsck: %s", strerror(ENOMEM));
		r->inos = grown;
		r->inos_cap = cap;
	}
	r->inos[r->ninos++] = ino;
}

static int cmp_ino(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int recorded_ino(const struct fsck_run *r, uint64_t ino)
{
	return r->ninos && bsearch(&ino, r->inos, r->ninos, sizeof(ino), cmp_ino) != NULL;
}

/* Does anything at or below path (relative to the shadow) have the inode a record names as its data file? */
static int holds_recorded(const struct fsck_run *r, int at, const char *path, int depth)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd, found = 0;

	if (fstatat(at, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) && recorded_ino(r, (uint64_t)st.st_ino);
	if (depth > 64 || (fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(fd)))
		return 1; /* cannot tell: keep it */
	while (!found && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			found = holds_recorded(r, dirfd(d), de->d_name, depth + 1);
	closedir(d);
	return found;
}

static void check_record(struct fsck_run *r, const struct ps_tree_entry *e, const char *path)
{
	struct rec_info ri;
	const struct ps_record_disk *hdr = &ri.hdr;
	struct stat dst;
	char what[400];

	read_record(r->sh->dirfd, e->meta_path, e->prefix, e->rel, &ri);
	if (hdr->data_ino)
		remember_ino(r, hdr->data_ino);
	if (ri.rc < 0 && ri.rc != -ESTALE && ri.rc != -EILSEQ && ri.rc != -EPROTO) {
		complain("%s: cannot read its record: %s", path, ri.why);
		r->trouble = 1;
		return;
	}
	if (fstatat(r->sh->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(dst.st_mode)) {
		problem(r, path, "its data file is missing", NULL, NULL,
			"reset it, unless a line below finds its data at another name");
		return;
	}
	if (ri.rc == -ESTALE && (hdr->attr_flags & PS_ATTR_COMMITTING)) {
		problem(r, path, "a commit stopped while writing it", NULL, NULL, "run pageshadow commit again");
		return;
	}
	if (ri.rc < 0) {
		snprintf(what, sizeof(what), "%s record: %s", ri.rc == -ESTALE ? "stale" : "unusable", ri.why);
		problem(r, path, what, NULL, NULL, ri.rc == -ESTALE ? "rebase or reset it" : "reset it");
		return;
	}
	if (hdr->data_ino && hdr->data_ino != (uint64_t)dst.st_ino)
		problem(r, path, "its record belongs to another data file (inode differs)", NULL, NULL, "reset it");
	if (hdr->attr_flags & PS_ATTR_COMMITTING)
		problem(r, path, "a commit stopped while writing it", NULL, NULL, "run pageshadow commit again");
	if (hdr->lower_len > (uint64_t)dst.st_size)
		problem(r, path, "a truncation stopped half-way (lower_len past the end)", fix_lower_len, e->meta_path,
			NULL);
}

static int fsck_entry(const struct ps_tree_entry *e, void *arg)
{
	struct fsck_run *r = arg;
	char path[PATH_MAX];
	struct stat dst;

	if (e->err) {
		problem(r, e->meta_path, e->why, NULL, NULL, strerror(-e->err));
		return 0;
	}
	if (join_path(path, sizeof(path), e->prefix, e->rel) < 0)
		return 0;
	progress("checked", ++r->seen);
	switch (e->kind) {
	case PS_TREE_RECORD:
		check_record(r, e, path);
		break;
	case PS_TREE_DIR:
		if (fstatat(r->sh->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(dst.st_mode))
			problem(r, path, "its data directory is missing", e->mode & (S_ISVTX | S_ISUID) ? NULL : fix_mkdir,
				e->data_path, "its mode and times are lost; reset it");
		break;
	case PS_TREE_SPECIAL:
		if (fstatat(r->sh->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) < 0)
			problem(r, path, "its node in the data tree is missing", NULL, NULL, "reset it");
		break;
	case PS_TREE_WHITEOUT:
	case PS_TREE_SYMLINK:
		break;
	}
	return 0;
}

/* A data entry without its meta entry: the leftover of an interrupted creation (FORMAT.md: ignored). */
static int data_entry(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
	struct fsck_run *r = nftw_run;
	const char *rel = fpath + strlen(r->sh->path) + 1; /* "data/<enc>/..." */
	char meta[PATH_MAX];
	struct stat mst;

	(void)st;
	(void)type;
	if (ftw->level < 1)
		return FTW_CONTINUE;
	snprintf(meta, sizeof(meta), "meta%s", rel + 4);
	if (fstatat(r->sh->dirfd, meta, &mst, AT_SYMLINK_NOFOLLOW) == 0)
		return FTW_CONTINUE;
	if (holds_recorded(r, r->sh->dirfd, rel, 0))
		problem(r, rel, "the data of a record at another name (a rename stopped half-way)", NULL, NULL,
			"move it back to the record's name, or reset the record");
	else
		problem(r, rel, "left over from an interrupted creation (no meta entry)", fix_remove, rel, NULL);
	return FTW_SKIP_SUBTREE; /* (a directory: reported once, with all below it) */
}

/* Names at the top that only exist while a process holds the creation lock. */
static void check_transient(struct fsck_run *r)
{
	static const char *const names[] = { "new-record", "new-entry", "new-link", "new-dir-meta", "new-dir-data" };
	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (fstatat(r->sh->dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			problem(r, names[i], "left by a process that stopped while changing the shadow", fix_remove,
				names[i], NULL);
}

int cmd_fsck(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	static const char *const names[] = { "repair", NULL };
	int flags[1] = { 0 }, nrest, rc;
	char **rest, data[PATH_MAX + 8];
	struct fsck_run r = { .sh = sh };

	(void)cfg;
	command_flags(o, names, flags, &rest, &nrest);
	free(rest);
	if (nrest)
		fail("fsck takes no PATH (see --help)");
	r.repair = flags[0];
	if (r.repair && (rc = ps_shadow_lock_create(sh)) < 0)
		fail("shadow directory %s: cannot take its lock: %s", sh->path, strerror(-rc));
	check_transient(&r);
	rc = ps_tree_walk(sh->dirfd, fsck_entry, &r);
	snprintf(data, sizeof(data), "%s/data", sh->path);
	if (r.ninos)
		qsort(r.inos, r.ninos, sizeof(*r.inos), cmp_ino);
	nftw_run = &r;
	if (rc == 0 && faccessat(sh->dirfd, "data", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    nftw(data, data_entry, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0)
		rc = -errno;
	if (r.repair) {
		ps_shadow_bump_generation(sh);
		ps_shadow_unlock_create(sh);
	}
	progress_done();
	free(r.inos);
	printf("%" PRIu64 " entries checked, %" PRIu64 " problems, %" PRIu64 " repaired\n", r.seen, r.problems,
	       r.repaired);
	if (rc < 0 || r.trouble) {
		if (rc < 0)
			complain("%s: %s", sh->path, strerror(-rc));
		return EXIT_TROUBLE;
	}
	return r.problems > r.repaired ? 1 : 0;
}
