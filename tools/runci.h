/* runci.h - what pageshadow-run does for CI jobs: a shadow that lives as long as the command (--ephemeral,
 * --keep) and the summary of what the command left in it (--report). */
#ifndef PS_TOOL_RUNCI_H
#define PS_TOOL_RUNCI_H

#include <stddef.h>

/* Make a new empty directory for the shadow in $TMPDIR (or /tmp): its path in out. 0 or -errno. */
int ephemeral_make(char *out, size_t outsz);

/* Remove the shadow directory dir with everything in it. 0 or -errno. */
int ephemeral_remove(const char *dir);

/* "pageshadow-run: report: ..." on stderr: what the shadow dir holds. */
void report_shadow(const char *dir);

#endif
