/* change.h - what happens to each change a program makes under the prefixes: pageshadow-run --deny and --log.
 *
 * The shim asks before every change (ps_change_permit) and reports every change that succeeded (ps_change_done).
 * With deny set, every change is refused with EROFS before anything is made, as on a read-only filesystem, and
 * said on stderr; with a log file, each change (and each refusal) is one JSON line appended to it:
 *   {"time":"2026-12-07T03:40:25.123Z","pid":42,"prog":"sed","op":"rename","path":"/ro/a","to":"/ro/b"}
 * ("denied":true on a refusal). A file's bytes changing through one open file description is one "write", the
 * first time it happens. Both are off unless configured: then each call costs one load.
 * Read from PAGESHADOW_DENY ("1") and PAGESHADOW_LOG (an absolute path) by the shim; docs/DESIGN.md says why
 * the checks sit where they do.
 */
#ifndef PS_CHANGE_H
#define PS_CHANGE_H

#define PS_CHANGE_OPS(X)                                                                                           \
	X(WRITE, "write")             /* a file's bytes or size, through an open file description */               \
	X(TRUNCATE, "truncate")       /* truncate(2) by name, O_TRUNC */                                           \
	X(CREATE, "create")           /* a new regular file (open O_CREAT, an O_TMPFILE file given a name) */      \
	X(MKDIR, "mkdir")                                                                                          \
	X(MKNOD, "mknod")             /* FIFOs, sockets, devices */                                                \
	X(SYMLINK, "symlink")                                                                                      \
	X(LINK, "link")               /* path: the existing name, to: the new one */                               \
	X(UNLINK, "unlink")                                                                                        \
	X(RMDIR, "rmdir")                                                                                          \
	X(RENAME, "rename")           /* path -> to (RENAME_EXCHANGE: both ways) */                                \
	X(CHMOD, "chmod")                                                                                          \
	X(CHOWN, "chown")                                                                                          \
	X(UTIMES, "utimes")                                                                                        \
	X(SETXATTR, "setxattr")                                                                                    \
	X(REMOVEXATTR, "removexattr")

enum ps_change_op {
#define PS_CHANGE_ENUM(name, word) PS_CHANGE_##name,
	PS_CHANGE_OPS(PS_CHANGE_ENUM)
#undef PS_CHANGE_ENUM
};

#define PS_CHANGE_DENY 1u
#define PS_CHANGE_LOG 2u
extern unsigned ps_change_mode;

/* Configure: deny, and the log file (NULL or "": none; it must be an absolute path). prog names the program in
 * log lines. 0, or -EINVAL and a line on stderr for a relative log path (changes are then denied: the user asked
 * for a record and would get none). */
int ps_change_init(int deny, const char *log_path, const char *prog);

/* The word for op in log lines ("write", ...). */
const char *ps_change_word(enum ps_change_op op);

/* Refuse op (with deny): the refusal logged, -EROFS. */
int ps_change_refuse(enum ps_change_op op, const char *path, const char *to);
/* One log line for op that happened. */
void ps_change_log(enum ps_change_op op, const char *path, const char *to);

/* Are changes denied (--deny)? */
static inline int ps_change_denied(void)
{
	return (__atomic_load_n(&ps_change_mode, __ATOMIC_RELAXED) & PS_CHANGE_DENY) != 0;
}

/* Before a change under a prefix: 0 to go on, -EROFS when changes are denied. to: the second name, or NULL. */
static inline int ps_change_permit(enum ps_change_op op, const char *path, const char *to)
{
	return ps_change_denied() ? ps_change_refuse(op, path, to) : 0;
}

/* After it: rc is passed on; a change that succeeded (rc >= 0) is logged. */
static inline int ps_change_done(int rc, enum ps_change_op op, const char *path, const char *to)
{
	if (rc >= 0 && (__atomic_load_n(&ps_change_mode, __ATOMIC_RELAXED) & PS_CHANGE_LOG))
		ps_change_log(op, path, to);
	return rc;
}

#endif
