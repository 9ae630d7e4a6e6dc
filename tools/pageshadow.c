/* pageshadow.c - look into a shadow directory: list the shadowed files, print a file's merged bytes (reset.c
 * changes it).
 *
 * main: parse_args -> setup (prefixes, shadow, ps_shadow_open) -> cmd_ls | cmd_cat | cmd_reset | cmd_rebase.
 * Records are read without the engine for listing (read_record: header check, bit count over a read-only
 * mapping) and through the engine for cat (ps_file_lookup, ps_merge_pread), so cat shows what the shim shows.
 * Errors are one line, "pageshadow: PATH: cause", and exit status 2.
 */
#include "bitmap.h"
#include "config.h"
#include "file.h"
#include "log.h"
#include "merge.h"
#include "ns.h"
#include "record.h"
#include "beneath.h"
#include "shadow.h"
#include "tree.h"
#include "version.h"
#include "pageshadow.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (256 * 1024)

/* What a record says, as far as ls and cat need it. */
struct rec_info {
	int rc;                 /* 0, -ESTALE, -EILSEQ/-EPROTO (unusable), or a system error */
	char why[200];
	int has_lower;
	uint64_t lower_size;
	uint64_t lower_len;
	uint64_t shadowed;      /* pages copied up, below lower_len */
	uint64_t pages;         /* pages below lower_len */
	uint64_t alloc;         /* bytes the record occupies on disk */
	char origin[PS_RECORD_ORIGIN_MAX + 1]; /* where the lower file is, when the file was renamed ("" if not) */
};

struct ls_totals {
	int filter;             /* list only the prefixes given with -r */
	const struct ps_config *cfg;
	int dirfd;
	uint64_t files, size, shadow, copyup;
	int trouble;
};

static void usage(void)
{
	fputs("Usage: pageshadow [-s DIR | -r PREFIX...] COMMAND\n"
	      "Look into a pageshadow shadow directory, or throw away what it holds.\n"
	      "\n"
	      "  -s, --shadow DIR    the shadow directory\n"
	      "  -r, --ro PREFIX     a read-only prefix (repeatable); without -s the shadow is the one\n"
	      "                      pageshadow-run uses for the same prefixes (see pageshadow-run --help)\n"
	      "  -h, --help          print this help and exit\n"
	      "      --version       print the version and exit\n"
	      "With neither -s nor -r the prefix is the current directory, as for pageshadow-run.\n"
	      "\n"
	      "Commands:\n"
	      "  ls          one line per shadowed file, fields separated by one tab:\n"
	      "                STATE SIZE SHADOW_BYTES COPYUP_BYTES PATH\n"
	      "              STATE: 'new' (created in the shadow, no lower file); 'partial N/M' (N of the M\n"
	      "              pages of the lower file still visible are shadowed), followed by ' truncated' when\n"
	      "              the file was cut below its lower size; 'stale (why)' when the lower file changed\n"
	      "              since; 'unusable (why)' for a damaged record.\n"
	      "              SIZE: the file's logical size. SHADOW_BYTES: disk space the shadow uses for it (data\n"
	      "              file and record). COPYUP_BYTES: what a whole-file copy-up would hold (= SIZE).\n"
	      "              PATH: the original absolute path. Sorted by prefix, then path. Last line:\n"
	      "                total SIZE SHADOW_BYTES COPYUP_BYTES N files\n"
	      "              With -r, only files under the given prefixes are listed.\n"
	      "  cat PATH    write the file's merged content (what a program under pageshadow-run reads) to\n"
	      "              stdout; a file without a record is copied from the lower tree.\n"
	      "  reset [PATH...]\n"
	      "              throw away what the shadow holds for each PATH (a file: its written pages; a\n"
	      "              directory: everything below it; a deleted name: the deletion), or without PATH for\n"
	      "              every prefix (with -r, the given ones): the lower tree shows through again.\n"
	      "              Running programs see it at their next look at the path.\n"
	      "  rebase PATH...\n"
	      "              a stale file (its lower file changed since it was shadowed, same size) shadows\n"
	      "              the lower file as it is now: its written pages stay, every other page shows the\n"
	      "              new lower bytes. For a lower file whose size changed: reset.\n"
	      "\n"
	      "Exit status: 0 on success, 2 on any error (one line on stderr).\n",
	      stdout);
}

static void vcomplain(const char *fmt, va_list ap)
{
	char line[PATH_MAX + 512];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "pageshadow: %s\n", line);
}

void complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcomplain(fmt, ap);
	va_end(ap);
}

void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcomplain(fmt, ap);
	va_end(ap);
	exit(EXIT_TROUBLE);
}

/* getopt_long returned ':' or '?': name the option as the user wrote it ("--name" or "-c"). */
static void __attribute__((noreturn)) bad_option(int opt, char **argv)
{
	const char *what = opt == ':' ? "option needs an argument" : "unknown option";
	const char *arg = argv[optind - 1];

	if (strncmp(arg, "--", 2) == 0 || !optopt)
		fail("%s: %.*s (see --help)", what, (int)strcspn(arg, "="), arg);
	fail("%s: -%c (see --help)", what, optopt);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_VERSION = 256 };
	static const struct option longopts[] = {
		{ "shadow", required_argument, NULL, 's' }, { "ro", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:r:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			o->shadow = optarg;
			break;
		case 'r':
			if (o->nro >= PS_MAX_PREFIXES)
				fail("too many read-only prefixes (at most %d)", PS_MAX_PREFIXES);
			o->ro[o->nro++] = optarg;
			break;
		case 'h':
			usage();
			exit(0);
		case OPT_VERSION:
			puts("pageshadow " PS_VERSION);
			exit(0);
		default:
			bad_option(opt, argv);
		}
	}
	if (optind >= argc)
		fail("no command given (see --help)");
	o->args = argv + optind;
	o->nargs = argc - optind;
}

/* Prefixes and shadow as pageshadow-run would choose them; with -s alone, the prefixes the shadow records. */
static void setup(const struct options *o, struct ps_config *cfg, struct ps_shadow *sh, int writes)
{
	char why[PATH_MAX + 256] = "", dir[PATH_MAX];
	int rc;

	for (int i = 0; i < o->nro; i++)
		if (ps_config_add_prefix(cfg, o->ro[i], why, sizeof(why)) < 0)
			fail("%s", why);
	if (!o->shadow && o->nro == 0 && ps_config_add_prefix(cfg, ".", why, sizeof(why)) < 0)
		fail("%s", why);
	if (o->shadow) {
		snprintf(dir, sizeof(dir), "%s", o->shadow);
	} else if ((rc = ps_default_shadow_dir(cfg, dir, sizeof(dir))) < 0) {
		fail("cannot choose a default shadow directory: %s (use -s DIR)",
		     rc == -ENOENT ? "no home directory" : strerror(-rc));
	}
	if (ps_config_set_shadow(cfg, dir, why, sizeof(why)) < 0)
		fail("%s", why);
	rc = ps_shadow_open(sh, cfg->shadow, 0, why, sizeof(why));
	if (rc == 0 && writes) { /* only a directory that is a shadow already: a command never makes one */
		ps_shadow_close(sh);
		rc = ps_shadow_open(sh, cfg->shadow, 1, why, sizeof(why));
	}
	if (rc < 0)
		fail("shadow directory %s: %s", cfg->shadow, *why ? why : strerror(-rc));
	if (o->nro == 0 && o->shadow && (rc = ps_tree_prefixes(sh->dirfd, cfg)) < 0)
		fail("shadow directory %s: cannot read its prefixes: %s", cfg->shadow, strerror(-rc));
}

static uint64_t pages_for(uint64_t bytes)
{
	return (bytes + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;
}

/* Count the shadowed pages below lower_len over a read-only mapping (the record is shared and live). */
static int count_shadowed(int fd, uint64_t file_size, struct rec_info *ri)
{
	void *map;

	ri->pages = pages_for(ri->lower_len);
	if (ri->pages == 0)
		return 0;
	map = mmap(NULL, (size_t)file_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ri->shadowed = ps_bitmap_count((const uint8_t *)map + PS_RECORD_HEADER_SIZE, ri->pages);
	munmap(map, (size_t)file_size);
	return 0;
}

/* prefix/rel names the file; its lower file is there, or at prefix/<origin> once it was renamed. */
static int check_record(int fd, const char *prefix, const char *rel, struct rec_info *ri)
{
	struct ps_record_disk hdr;
	struct stat st, lst;
	const struct stat *lower;
	char lower_path[PATH_MAX * 2];
	int n;

	memset(&hdr, 0, sizeof(hdr));
	if (fstat(fd, &st) < 0)
		return -errno;
	ri->alloc = (uint64_t)st.st_blocks * 512;
	if (pread(fd, &hdr, sizeof(hdr), 0) < 0)
		return -errno;
	if ((n = ps_record_read_origin(fd, ri->origin, sizeof(ri->origin))) < 0)
		return n;
	snprintf(lower_path, sizeof(lower_path), "%s%s%s", prefix, strcmp(prefix, "/") == 0 ? "" : "/",
		 n > 0 ? ri->origin : rel);
	lower = stat(lower_path, &lst) == 0 ? &lst : NULL;
	ri->rc = ps_record_check_header(&hdr, (uint64_t)st.st_size, lower, ri->why, sizeof(ri->why));
	if (ri->rc < 0)
		return ri->rc;
	ri->has_lower = (hdr.flags & PS_REC_HAS_LOWER) != 0;
	ri->lower_size = hdr.lower_size;
	ri->lower_len = hdr.lower_len;
	return ri->has_lower ? count_shadowed(fd, (uint64_t)st.st_size, ri) : 0;
}

/* Read and validate the record at meta_path (relative to dirfd) of the file prefix/rel against its lower file. */
static int read_record(int dirfd, const char *meta_path, const char *prefix, const char *rel, struct rec_info *ri)
{
	int fd = openat(dirfd, meta_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	memset(ri, 0, sizeof(*ri));
	if (fd < 0)
		ri->rc = -errno;
	else
		ri->rc = check_record(fd, prefix, rel, ri);
	if (fd >= 0)
		close(fd);
	if (ri->rc < 0 && !ri->why[0])
		snprintf(ri->why, sizeof(ri->why), "%s", strerror(-ri->rc));
	return ri->rc;
}

static void format_state(const struct rec_info *ri, char *out, size_t outsz)
{
	if (ri->rc == -ESTALE)
		snprintf(out, outsz, "stale (%s)", ri->why);
	else if (ri->rc < 0)
		snprintf(out, outsz, "unusable (%s)", ri->why);
	else if (!ri->has_lower)
		snprintf(out, outsz, "new");
	else
		snprintf(out, outsz, "partial %" PRIu64 "/%" PRIu64 "%s%s%s", ri->shadowed, ri->pages,
			 ri->lower_len < ri->lower_size ? " truncated" : "", ri->origin[0] ? " renamed from " : "",
			 ri->origin);
}

static int wanted(const struct ls_totals *t, const char *prefix)
{
	if (!t->filter)
		return 1;
	for (int i = 0; i < t->cfg->nprefix; i++)
		if (strcmp(t->cfg->prefix[i].path, prefix) == 0)
			return 1;
	return 0;
}

static int ls_entry(const struct ps_tree_entry *e, void *arg)
{
	struct ls_totals *t = arg;
	char path[PATH_MAX * 2], state[PS_RECORD_ORIGIN_MAX + 300];
	struct rec_info ri;
	struct stat dst;
	uint64_t size = 0, shadow;

	if (e->err) {
		complain("%s/%s: %s: %s", t->cfg->shadow, e->meta_path, e->why, strerror(-e->err));
		t->trouble = 1;
		return 0;
	}
	if (!wanted(t, e->prefix))
		return 0;
	snprintf(path, sizeof(path), "%s%s%s", e->prefix, strcmp(e->prefix, "/") == 0 ? "" : "/", e->rel);
	read_record(t->dirfd, e->meta_path, e->prefix, e->rel, &ri);
	shadow = ri.alloc;
	if (fstatat(t->dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(dst.st_mode)) {
		size = (uint64_t)dst.st_size;
		shadow += (uint64_t)dst.st_blocks * 512;
	} else if (ri.rc == 0) {
		ri.rc = -EILSEQ;
		snprintf(ri.why, sizeof(ri.why), "data file missing");
	}
	format_state(&ri, state, sizeof(state));
	printf("%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n", state, size, shadow, size, path);
	t->files++;
	t->size += size;
	t->shadow += shadow;
	t->copyup += size;
	return 0;
}

static int cmd_ls(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	struct ls_totals t = { .filter = o->nro > 0, .cfg = cfg, .dirfd = sh->dirfd };
	int rc;

	if (o->nargs != 1)
		fail("ls takes no arguments (see --help)");
	rc = ps_tree_walk(sh->dirfd, ls_entry, &t);
	printf("total\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 " files\n", t.size, t.shadow, t.copyup,
	       t.files);
	if (fflush(stdout) != 0)
		fail("stdout: %s", strerror(errno));
	return rc < 0 || t.trouble ? EXIT_TROUBLE : 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The engine's validation codes in words; anything else is the system's. */
static const char *engine_strerror(int rc)
{
	switch (rc) {
	case -ESTALE:
		return "stale shadow record (the lower file changed)";
	case -EILSEQ:
		return "corrupt shadow record";
	case -EPROTO:
		return "shadow record of an unknown version";
	default:
		return strerror(-rc);
	}
}

/* Copy the merged bytes of f to stdout. */
static int cat_record(struct ps_file *f, char *buf)
{
	off_t off = 0;

	for (;;) {
		ssize_t n = ps_merge_pread(f, buf, COPY_CHUNK, off);
		int rc;

		if (n <= 0)
			return (int)n;
		rc = write_all(1, buf, (size_t)n);
		if (rc < 0)
			return rc;
		off += n;
	}
}

/* A file with no record is what the lower tree holds. */
static int cat_lower(const char *path, char *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		rc = write_all(1, buf, (size_t)n);
		if (rc < 0)
			break;
	}
	close(fd);
	return rc;
}

/* Through the engine, after checking the record ourselves so that a stale one gets a one-line reason. */
static int cat_shadowed(struct ps_shadow *sh, const struct ps_file_name *name, const char *prefix, const char *meta,
			char *buf, const char *arg)
{
	struct rec_info ri;
	struct ps_file *f;
	int rc;

	if (read_record(sh->dirfd, meta, prefix, name->rel, &ri) < 0)
		fail("%s: %s shadow record %s/%s: %s", arg, ri.rc == -ESTALE ? "stale" : "unusable", sh->path, meta,
		     ri.why);
	rc = ps_file_lookup(sh, name, &f);
	if (rc < 0)
		return rc;
	rc = cat_record(f, buf);
	ps_file_put(f);
	return rc;
}

static int cmd_cat(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	char abs[PATH_MAX], meta[PATH_MAX];
	const char *arg, *rel = NULL;
	struct ps_ns ns;
	char *buf;
	int idx, rc;

	if (o->nargs != 2)
		fail("cat takes one PATH (see --help)");
	arg = o->args[1];
	rc = ps_config_resolve(arg, abs, sizeof(abs));
	if (rc < 0)
		fail("%s: %s", arg, strerror(-rc));
	buf = malloc(COPY_CHUNK);
	if (!buf)
		fail("%s: %s", arg, strerror(ENOMEM));
	idx = ps_config_match(cfg, abs, &rel);
	if (idx >= 0 && *rel && (rc = ps_ns_lookup(sh, cfg->prefix[idx].enc, rel, &ns)) < 0)
		fail("%s: %s", arg, strerror(-rc));
	if (idx < 0 || !*rel || ns.state == PS_NS_LOWER) {
		rc = cat_lower(abs, buf);
	} else if (ns.state == PS_NS_RECORD && ps_shadow_path(meta, sizeof(meta), "meta", cfg->prefix[idx].enc, rel) >= 0) {
		struct ps_file_name name = { .path = abs, .enc_prefix = cfg->prefix[idx].enc, .rel = rel };

		rc = cat_shadowed(sh, &name, cfg->prefix[idx].path, meta, buf, arg);
	} else {
		rc = ns.state == PS_NS_DIR ? -EISDIR : ns.state == PS_NS_NOTDIR ? -ENOTDIR
			: ns.state == PS_NS_SYMLINK ? -ELOOP : -ENOENT; /* deleted in the shadow */
	}
	free(buf);
	if (rc < 0)
		fail("%s: %s", arg, engine_strerror(rc));
	return 0;
}

/* PAGESHADOW_DEBUG as the shim reads it: unset, "" or "0" off; "1" debug lines on stderr; else a log file. */
static void init_log(void)
{
	const char *dbg = getenv("PAGESHADOW_DEBUG");
	int on = dbg && *dbg && strcmp(dbg, "0") != 0;
	int fd = -1;

	if (on && strcmp(dbg, "1") != 0)
		fd = open(dbg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	ps_log_init(fd, on, "pageshadow");
}

int main(int argc, char **argv)
{
	static struct ps_config cfg; /* large: keep it off the stack */
	struct options o = { .nro = 0 };
	struct ps_shadow sh;
	int status;
	static const struct command {
		const char *name;
		int (*run)(const struct options *, const struct ps_config *, struct ps_shadow *);
		int writes;
	} commands[] = {
		{ "ls", cmd_ls, 0 }, { "cat", cmd_cat, 0 }, { "reset", cmd_reset, 1 }, { "rebase", cmd_rebase, 1 },
	};
	const struct command *c = NULL;

	ps_sys = ps_sys_guard(&ps_sys_libc); /* the shadow's paths never lead out of it (beneath.h) */
	init_log();
	parse_args(argc, argv, &o);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(o.args[0], commands[i].name) == 0)
			c = &commands[i];
	if (!c)
		fail("unknown command: %s (see --help)", o.args[0]);
	setup(&o, &cfg, &sh, c->writes);
	status = c->run(&o, &cfg, &sh);
	ps_shadow_close(&sh);
	return status;
}
