/* ls.c - pageshadow ls [--json] [PATH...]: one line (or one JSON object) per entry of the shadow - a shadowed or
 * new file, a deleted name, a directory or symlink made in the shadow - with its state and what it costs.
 */
#include "pageshadow.h"

#include "json.h"
#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ls_run {
	const struct ps_config *cfg;
	struct scope scope;
	int json;
	int dirfd;
	uint64_t files, size, shadow, copyup;
	int entries;            /* JSON objects written so far (for the commas) */
	int trouble;
};

/* One listed entry, text or JSON. kind: what it is ("file", "directory", "deleted", "symlink", "fifo", ...). */
struct ls_line {
	const char *path;
	const char *kind;
	const char *state;      /* "new", "partial", "stale", "unusable", "deleted", "replaced", "attributes" */
	const char *text_state; /* the whole state as the text listing shows it */
	const struct rec_info *ri; /* files only */
	const char *target;     /* symlinks only */
	uint64_t size, shadow;
};

/* s as a JSON string on stdout (json.h). */
static void json_string(const char *s)
{
	size_t n = ps_json_string(NULL, 0, s);
	char *buf = malloc(n + 1);

	if (!buf) {
		fputs("null", stdout); /* the listing stays valid JSON; the total still counts the entry */
		return;
	}
	ps_json_string(buf, n + 1, s);
	fputs(buf, stdout);
	free(buf);
}

static void json_file_fields(const struct rec_info *ri)
{
	printf(", \"pages_shadowed\": %" PRIu64 ", \"pages\": %" PRIu64 ", \"truncated\": %s, \"renamed_from\": ",
	       ri->shadowed, ri->pages, ri->rc == 0 && ri->lower_len < ri->lower_size ? "true" : "false");
	if (ri->origin[0])
		json_string(ri->lower_path);
	else
		fputs("null", stdout);
	if (ri->rc < 0) {
		fputs(", \"why\": ", stdout);
		json_string(ri->why);
	}
}

static void print_line(struct ls_run *r, const struct ls_line *l)
{
	uint64_t copyup = l->ri ? l->size : 0;

	if (!r->json) {
		printf("%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n", l->text_state, l->size, l->shadow, copyup,
		       l->path);
	} else {
		printf("%s\n    {\"path\": ", r->entries++ ? "," : "");
		json_string(l->path);
		printf(", \"kind\": \"%s\", \"state\": \"%s\", \"size\": %" PRIu64 ", \"shadow_bytes\": %" PRIu64
		       ", \"copyup_bytes\": %" PRIu64,
		       l->kind, l->state, l->size, l->shadow, copyup);
		if (l->ri)
			json_file_fields(l->ri);
		if (l->target) {
			fputs(", \"target\": ", stdout);
			json_string(l->target);
		}
		putchar('}');
	}
	r->size += l->size;
	r->shadow += l->shadow;
	r->copyup += copyup;
}

static const char *record_state(const struct rec_info *ri)
{
	if (ri->rc == -ESTALE)
		return "stale";
	if (ri->rc < 0)
		return "unusable";
	return ri->has_lower ? "partial" : "new";
}

static void ls_record(struct ls_run *r, const struct ps_tree_entry *e, const char *path)
{
	char state[PS_RECORD_ORIGIN_MAX + PATH_MAX + 300];
	struct rec_info ri;
	struct stat dst;
	struct ls_line l = { .path = path, .kind = "file", .ri = &ri };

	read_record(r->dirfd, e->meta_path, e->prefix, e->rel, &ri);
	l.shadow = ri.alloc;
	if (fstatat(r->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(dst.st_mode)) {
		l.size = (uint64_t)dst.st_size;
		l.shadow += (uint64_t)dst.st_blocks * 512;
	} else if (ri.rc == 0) {
		ri.rc = -EILSEQ;
		snprintf(ri.why, sizeof(ri.why), "data file missing");
	}
	format_state(&ri, state, sizeof(state));
	l.state = record_state(&ri);
	l.text_state = state;
	print_line(r, &l);
	r->files++;
}

/* A directory of the meta tree is listed when it is more than the parent of other entries. */
static void ls_dir(struct ls_run *r, const struct ps_tree_entry *e, const char *path)
{
	struct ls_line l = { .path = path, .kind = "directory" };
	struct stat lst;

	if (e->mode & S_ISVTX) {
		l.state = lstat(path, &lst) == 0 ? "replaced" : "new";
		l.text_state = l.state[0] == 'n' ? "new directory" : "replaced directory";
	} else if (e->mode & S_ISUID) {
		l.state = "attributes";
		l.text_state = "directory attributes changed";
	} else {
		return;
	}
	print_line(r, &l);
}

static void ls_symlink(struct ls_run *r, const struct ps_tree_entry *e, const char *path)
{
	char target[PATH_MAX], state[PATH_MAX + 16];
	ssize_t n = readlinkat(r->dirfd, e->meta_path, target, sizeof(target) - 1);
	struct ls_line l = { .path = path, .kind = "symlink", .state = "new", .text_state = state, .target = target };

	if (n < 0) {
		complain("%s: cannot read its symlink in the shadow: %s", path, strerror(errno));
		r->trouble = 1;
		return;
	}
	target[n] = '\0';
	snprintf(state, sizeof(state), "symlink -> %s", target);
	print_line(r, &l);
}

static const char *special_kind(mode_t mode)
{
	return S_ISFIFO(mode) ? "fifo" : S_ISSOCK(mode) ? "socket" : S_ISCHR(mode) ? "char device"
		: S_ISBLK(mode) ? "block device" : "special file";
}

static void ls_special(struct ls_run *r, const struct ps_tree_entry *e, const char *path)
{
	char state[64];
	struct stat dst;
	struct ls_line l = { .path = path, .state = "new", .text_state = state };

	l.kind = fstatat(r->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) == 0 ? special_kind(dst.st_mode)
										 : "special file";
	snprintf(state, sizeof(state), "new %s", l.kind);
	print_line(r, &l);
}

static int ls_entry(const struct ps_tree_entry *e, void *arg)
{
	struct ls_run *r = arg;
	char path[PATH_MAX * 2];

	if (walk_trouble(e, r->cfg->shadow, &r->trouble))
		return 0;
	if (join_path(path, sizeof(path), e->prefix, e->rel) < 0 || !scope_wants(&r->scope, e->prefix, path))
		return 0;
	switch (e->kind) {
	case PS_TREE_RECORD:
		ls_record(r, e, path);
		break;
	case PS_TREE_DIR:
		ls_dir(r, e, path);
		break;
	case PS_TREE_WHITEOUT: {
		struct ls_line l = { .path = path, .kind = "deleted", .state = "deleted", .text_state = "deleted" };

		print_line(r, &l);
		break;
	}
	case PS_TREE_SYMLINK:
		ls_symlink(r, e, path);
		break;
	case PS_TREE_SPECIAL:
		ls_special(r, e, path);
		break;
	}
	return 0;
}

int cmd_ls(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	static const char *const names[] = { "json", NULL };
	int flags[1] = { 0 }, rc;
	struct ls_run r = { .cfg = cfg, .dirfd = sh->dirfd };

	scope_init(&r.scope, o, cfg, sh, names, flags);
	r.json = flags[0];
	if (r.json)
		fputs("{\"entries\": [", stdout);
	rc = ps_tree_walk(sh->dirfd, ls_entry, &r);
	if (r.json)
		printf("%s],\n \"total\": {\"files\": %" PRIu64 ", \"size\": %" PRIu64 ", \"shadow_bytes\": %" PRIu64
		       ", \"copyup_bytes\": %" PRIu64 "}}\n",
		       r.entries ? "\n   " : "", r.files, r.size, r.shadow, r.copyup);
	else
		printf("total\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 " files\n", r.size, r.shadow,
		       r.copyup, r.files);
	if (fflush(stdout) != 0)
		fail("stdout: %s", strerror(errno));
	scope_free(&r.scope);
	return rc < 0 || r.trouble ? EXIT_TROUBLE : 0;
}
