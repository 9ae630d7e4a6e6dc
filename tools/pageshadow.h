/* pageshadow.h - what the pageshadow tool's commands share: the parsed command line, the error exits, reading
 * a shadow's records and merged files.
 *
 * main (pageshadow.c) parses the options, opens the shadow (setup) and calls one cmd_* with them; each command
 * reports with complain (one line, go on) or fail (one line, exit 2). inspect.c reads records and merged bytes
 * for every command.
 */
#ifndef PS_TOOL_PAGESHADOW_H
#define PS_TOOL_PAGESHADOW_H

#include "config.h"
#include "file.h"
#include "record.h"
#include "shadow.h"
#include "tree.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#define EXIT_DIFFERENT 1 /* diff: something differs */
#define EXIT_TROUBLE 2

#define COPY_CHUNK (256 * 1024)

struct options {
	const char *shadow;
	int nro;
	const char *ro[PS_MAX_PREFIXES];
	char **args; /* the subcommand and its arguments */
	int nargs;
};

/* "pageshadow: " and the message on stderr; fail then exits with EXIT_TROUBLE. */
void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* A command's own flags: args[1..] scanned for "--NAME" among names (flags[i] set to 1 for names[i]); what is
 * left (the PATHs) is returned in *rest, *nrest. An unknown "--..." or "-..." fails; "--" ends the flags. */
void command_flags(const struct options *o, const char *const *names, int *flags, char ***rest, int *nrest);

/* Which of the shadow's entries a command is about: those of the prefixes (only the -r ones, when given) and,
 * with PATHs, only those at or below one of them. */
struct scope {
	const struct ps_config *cfg;
	int filter;   /* -r given */
	char **paths; /* absolute (resolve_arg), each under a prefix */
	int npaths;
};

/* The command's flags (command_flags) and its PATHs, resolved; a PATH outside the prefixes, or that names nothing
 * in the lower tree or the shadow, fails (exit 2). */
void scope_init(struct scope *sc, const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh,
		const char *const *names, int *flags);
int scope_wants(const struct scope *sc, const char *prefix, const char *path);
/* The prefix alone (the PATHs aside). */
int scope_wants_prefix(const struct scope *sc, const char *prefix);
void scope_free(struct scope *sc);

/* Progress on stderr while a long command runs, only when stderr is a terminal: "VERB N files" at most a few
 * times a second, and the line cleared at the end. */
void progress(const char *verb, uint64_t done);
void progress_done(void);

/* What a record says, for the commands that read records themselves (without the engine). */
struct rec_info {
	int rc;                 /* 0, -ESTALE, -EILSEQ/-EPROTO (unusable), or a system error */
	char why[200];
	int has_lower;
	uint64_t lower_size;
	uint64_t lower_len;
	uint64_t shadowed;      /* pages copied up, below lower_len (counted only when rc is 0) */
	uint64_t pages;         /* pages below lower_len (counted only when rc is 0) */
	uint64_t alloc;         /* bytes the record occupies on disk */
	struct ps_record_disk hdr; /* as read (the fields above are set from it when it is usable or stale) */
	char origin[PS_RECORD_ORIGIN_MAX + 1]; /* where the lower file is, when the file was renamed ("" if not) */
	char lower_path[PATH_MAX]; /* the lower file it shadows (at its own name or at the origin) */
};

/* Read and validate the record at meta_path (relative to dirfd) of the file prefix/rel against its lower file. */
int read_record(int dirfd, const char *meta_path, const char *prefix, const char *rel, struct rec_info *ri);

/* ri's state as ls prints it: "new", "partial N/M[ truncated][ renamed from X]", "stale (why)", "unusable (why)". */
void format_state(const struct rec_info *ri, char *out, size_t outsz);

/* An entry the walk could not read (e->err) of the shadow at shadow: said in one line, *trouble set, 1; else 0. */
int walk_trouble(const struct ps_tree_entry *e, const char *shadow, int *trouble);

/* prefix + "/" + rel ("/" + rel for the prefix "/", prefix alone for rel ""): -ENAMETOOLONG or the length. */
int join_path(char *out, size_t outsz, const char *prefix, const char *rel);

/* PATH made absolute with the symlinks above its last component resolved, not the last one itself: a command on
 * a symlink is about the symlink. Fails (exit 2) on error. */
void resolve_arg(const char *arg, char *out, size_t outsz);

/* The prefix of abs (exit 2 when it lies outside every prefix) and the path below it in *rel. */
const struct ps_prefix *prefix_of(const struct ps_config *cfg, const char *abs, const char *arg, const char **rel);

/* The file object of the record of entry e (the engine's view: what the shim shows), or -errno. */
int open_merged(struct ps_shadow *sh, const struct ps_tree_entry *e, char *path_buf, size_t bufsz,
		struct ps_file **out);

/* Write f's merged bytes to fd, the first len of them (UINT64_MAX: all). 0 or -errno. */
int copy_merged(struct ps_file *f, int fd, uint64_t len);

int write_all(int fd, const void *buf, size_t n);

/* Copy from fd from, as read gives it, to fd to (buf: COPY_CHUNK bytes). 0 or -errno. */
int copy_fd(int from, int to, char *buf);

/* path gets st's mode, owner (when run as root: nobody else can give files away) and times; a symlink its owner
 * and times. 0 or -errno. */
int set_attrs(const char *path, const struct stat *st);

/* The engine's validation codes in words; anything else is the system's. */
const char *engine_strerror(int rc);

int cmd_ls(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_cat(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_diff(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_export(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_commit(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_fsck(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
/* reset.c: discard what the shadow holds for PATH... (all of the prefixes without one); rebase PATH... */
int cmd_reset(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_rebase(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
/* Discard the meta and data entries of rel below the prefix encoded enc (creation lock held). 0 or -errno. */
int discard(struct ps_shadow *sh, const char *enc, const char *rel);

#endif
