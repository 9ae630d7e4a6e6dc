/* pageshadow.c - the pageshadow tool's command line: options, the shadow it works on, the command table.
 *
 * main: parse_args -> setup (prefixes, shadow, ps_shadow_open) -> one cmd_* (ls.c, cat.c, diff.c, export.c,
 * commit.c, fsck.c, reset.c). Records are read without the engine where a command reports on them (inspect.c:
 * header check, bit count over a read-only mapping) and through the engine where it needs the bytes
 * (ps_file_lookup, ps_merge_pread), so what it shows is what the shim shows.
 * Errors are one line, "pageshadow: PATH: cause", and exit status 2.
 */
#include "config.h"
#include "log.h"
#include "beneath.h"
#include "shadow.h"
#include "version.h"
#include "pageshadow.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fputs("Usage: pageshadow [-s DIR | -r PREFIX...] COMMAND [ARG...]\n"
	      "See, keep or throw away what programs under pageshadow-run wrote: the shadow directory.\n"
	      "\n"
	      "  -s, --shadow DIR    the shadow directory\n"
	      "  -r, --ro PREFIX     a read-only prefix (repeatable); without -s the shadow is the one\n"
	      "                      pageshadow-run uses for the same prefixes (see pageshadow-run --help)\n"
	      "  -h, --help          print this help and exit\n"
	      "      --version       print the version and exit\n"
	      "With neither -s nor -r the prefix is the current directory, as for pageshadow-run. With -s and\n"
	      "-r, commands look only at the given prefixes.\n"
	      "\n"
	      "Commands (a PATH limits a command to what lies at or below it):\n"
	      "  ls [--json] [PATH...]\n"
	      "      one line per entry of the shadow, fields separated by one tab:\n"
	      "        STATE SIZE SHADOW_BYTES COPYUP_BYTES PATH\n"
	      "      STATE of a file: 'new' (no lower file); 'partial N/M' (N of the M pages of the lower file\n"
	      "      still visible are shadowed), with ' truncated' when it was cut below its lower size (or\n"
	      "      copied up whole: a static program's dup of it to a low number), ' renamed from LOWER'\n"
	      "      when its lower file is at another name; 'stale (why)' when the\n"
	      "      lower file changed since; 'unusable (why)' for a damaged record. Other entries: 'deleted',\n"
	      "      'new directory', 'replaced directory' (deleted, then made again), 'directory attributes\n"
	      "      changed', 'symlink -> TARGET', 'new fifo' (socket, char device, block device).\n"
	      "      SIZE: a file's logical size. SHADOW_BYTES: disk space the shadow uses for it (data file\n"
	      "      and record). COPYUP_BYTES: what a whole-file copy-up would hold (= SIZE). Sorted by\n"
	      "      prefix, then path. Last line: total SIZE SHADOW_BYTES COPYUP_BYTES N files.\n"
	      "      --json: one JSON object, {\"entries\": [...], \"total\": {...}} (see the manual page).\n"
	      "  cat PATH\n"
	      "      write the file's merged content (what a program under pageshadow-run reads) to stdout.\n"
	      "  diff [--text] [PATH...]\n"
	      "      what differs from the lower tree, one line per path:\n"
	      "        changed PATH: RANGES      byte ranges START-END (inclusive) that differ, and\n"
	      "                                  'size A -> B' when the size changed\n"
	      "        new PATH                  (file, directory, symlink, ...) the lower tree lacks\n"
	      "        deleted PATH              a lower entry deleted\n"
	      "        replaced PATH             a lower entry replaced by another kind of entry\n"
	      "        mode PATH: OLD -> NEW     permission bits changed\n"
	      "      --text: a unified diff (diff -u) of changed, new and deleted regular files instead of\n"
	      "      the ranges (patch -p1 in the prefix applies it where names did not change).\n"
	      "      Exit status 0 when nothing differs, 1 when something does, 2 on trouble.\n"
	      "  export [--changed] DEST [PATH]\n"
	      "      write the merged tree at PATH (default: the prefix, when there is one) to DEST, which\n"
	      "      must not exist or be an empty directory: files with their merged bytes, directories,\n"
	      "      symlinks, modes and times. --changed: only what the shadow holds (and the directories\n"
	      "      leading to it).\n"
	      "  commit [--dry-run] [PATH...]\n"
	      "      write what the shadow holds into the lower tree, which must have become writable: only\n"
	      "      the pages that were written, new files, deletions, renames, directories, symlinks, modes;\n"
	      "      then reset what was committed. --dry-run: say what would be done, change nothing.\n"
	      "  reset [PATH...]\n"
	      "      throw away what the shadow holds (a file: its written pages; a directory: everything\n"
	      "      below it; a deleted name: the deletion): the lower tree shows through again.\n"
	      "  rebase PATH...\n"
	      "      a stale file (its lower file changed since, same size) shadows the lower file as it is\n"
	      "      now: its written pages stay, every other page shows the new lower bytes.\n"
	      "  fsck [--repair]\n"
	      "      check every record against its data file and lower file, and the shadow's layout; with\n"
	      "      --repair, fix what can be fixed without losing written data. One line per problem.\n"
	      "      Exit status 0 when all is well (or was repaired), 1 when problems remain, 2 on trouble.\n"
	      "\n"
	      "Exit status: 0 on success, 2 on any error (one line on stderr); diff and fsck as above.\n"
	      "Running programs see reset, rebase and commit at their next look at a path.\n",
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
		int writes;             /* changes the shadow ... */
		const char *write_flag; /* ... or does with this flag */
	} commands[] = {
		{ "ls", cmd_ls, 0, NULL },         { "cat", cmd_cat, 0, NULL },       { "diff", cmd_diff, 0, NULL },
		{ "export", cmd_export, 0, NULL }, { "commit", cmd_commit, 1, NULL }, { "reset", cmd_reset, 1, NULL },
		{ "rebase", cmd_rebase, 1, NULL }, { "fsck", cmd_fsck, 0, "--repair" },
	};
	const struct command *c = NULL;
	int writes;

	ps_sys = ps_sys_guard(&ps_sys_libc); /* the shadow's paths never lead out of it (beneath.h) */
	init_log();
	parse_args(argc, argv, &o);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(o.args[0], commands[i].name) == 0)
			c = &commands[i];
	if (!c)
		fail("unknown command: %s (see --help)", o.args[0]);
	writes = c->writes;
	for (int i = 1; i < o.nargs && c->write_flag && !writes; i++)
		writes = strcmp(o.args[i], c->write_flag) == 0;
	setup(&o, &cfg, &sh, writes);
	status = c->run(&o, &cfg, &sh);
	ps_shadow_close(&sh);
	return status;
}
