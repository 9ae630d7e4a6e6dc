/* exec.h - what the kernel would run for a file: a #! script, a dynamic ELF the shim can enter, or not.
 *
 * Shared by the shim's exec and dlopen wrappers (on the merged bytes of a shadowed file) and by pageshadow-run
 * (on the command it is asked to start). Pure: the bytes come through a read callback, so the same code reads a
 * lower file, a merged file or a buffer in a unit test.
 */
#ifndef PS_EXEC_H
#define PS_EXEC_H

#include <limits.h>
#include <sys/types.h>

enum ps_exec_format {
	PS_EXEC_OTHER,       /* neither #! nor ELF: the kernel says ENOEXEC (binfmt_misc aside) */
	PS_EXEC_SCRIPT,      /* #! interpreter [argument] */
	PS_EXEC_DYNAMIC,     /* an ELF program or library of our class and machine that glibc's loader runs */
	PS_EXEC_STATIC,      /* an ELF program without an interpreter: LD_PRELOAD cannot enter it */
	PS_EXEC_FOREIGN,     /* another ELF class or machine, or another loader (musl): the shim cannot enter it */
	PS_EXEC_GO,          /* a Go program, even dynamically linked: its runtime makes the system calls itself */
};

/* The kernel's limit on a #! line (BINPRM_BUF_SIZE). */
#define PS_SHEBANG_MAX 256

struct ps_exec_info {
	enum ps_exec_format format;
	char interp[PATH_MAX];          /* SCRIPT: the interpreter; DYNAMIC, FOREIGN: the ELF interpreter if any */
	char arg[PS_SHEBANG_MAX];       /* SCRIPT: the optional single argument ("" when none) */
	int has_arg;
};

typedef ssize_t (*ps_read_at)(void *ctx, void *buf, size_t n, off_t off);

/* Classify the file read through rd. 0, or -errno from rd (a short file is PS_EXEC_OTHER, not an error). */
int ps_exec_inspect(ps_read_at rd, void *ctx, struct ps_exec_info *info);

/* A read callback over a plain descriptor (ctx points at the int fd). */
ssize_t ps_exec_read_fd(void *ctx, void *buf, size_t n, off_t off);

/* Call each(entry, arg) for every directory in the file's DT_RUNPATH and DT_RPATH (as written: "$ORIGIN/../lib").
 * 0 (also for a file without them, or not ELF of our class), or -errno from rd. */
int ps_exec_runpath(ps_read_at rd, void *ctx, void (*each)(const char *entry, void *arg), void *arg);

/* Human words for a format that the shim cannot enter ("statically linked", ...). */
const char *ps_exec_why_unshimmable(const struct ps_exec_info *info);

#endif
