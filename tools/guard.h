/* guard.h - the kernel's guard for pageshadow-run: whatever escapes the shim cannot write the lower tree.
 *
 * A Landlock ruleset refuses every write, truncation, creation, removal and rename under the read-only prefixes
 * to the whole process tree, whatever path a program takes (a static program, an inline syscall); the shim is
 * unaffected because it writes only to the shadow. A seccomp filter makes io_uring_setup fail with ENOSYS, since
 * a ring does I/O no wrapper sees. Both last until the process tree exits and cannot be lifted by it.
 */
#ifndef PS_GUARD_H
#define PS_GUARD_H

#include "config.h"

#include <stddef.h>

/* What the guard can leave out. */
enum ps_guard_part {
	/* The command runs under a supervisor whose filter fails io_uring_setup itself (filter.h) and is inherited
	 * by everything it starts: a second filter would only cost every call of the command (DESIGN.md "Programs
	 * the shim cannot enter"). */
	PS_GUARD_WITHOUT_IO_URING_FILTER = 1,
};

/* Apply both (less the parts in without) to this process (before it forks the command). 0 applied; 1 Landlock
 * is not available (why says so, seccomp applied where possible); -errno when it failed (why says how). */
int ps_guard_apply(const struct ps_config *cfg, unsigned without, char *why, size_t whysz);

#endif
