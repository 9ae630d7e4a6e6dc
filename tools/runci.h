/* runci.h - what pageshadow-run does for CI jobs: a shadow that lives as long as the command (--ephemeral,
 * --keep) and the summary of what the command left in it (--report). */
#ifndef PS_TOOL_RUNCI_H
#define PS_TOOL_RUNCI_H

#include <stddef.h>
#include <sys/types.h>

/* Make a new empty directory for the shadow in $TMPDIR (or /tmp): its path in out. 0 or -errno. */
int ephemeral_make(char *out, size_t outsz);

/* Start the process that removes dir with everything in it once the descriptor in *wfd is closed (by
 * pageshadow-run's exit, however it comes - a SIGKILL too). It runs outside the guard, which is applied after it
 * starts: the guard may forbid removing a directory above a prefix, as $TMPDIR can be. 0 or -errno. */
int ephemeral_cleaner(const char *dir, int *wfd, pid_t *pid);

/* "pageshadow-run: report: ..." on stderr: what the shadow dir holds. */
void report_shadow(const char *dir);

#endif
