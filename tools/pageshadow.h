/* pageshadow.h - what the pageshadow tool's commands share: the parsed command line and the error exits.
 *
 * main (pageshadow.c) parses the options, opens the shadow (setup) and calls one cmd_* with them; each command
 * reports with complain (one line, go on) or fail (one line, exit 2).
 */
#ifndef PS_TOOL_PAGESHADOW_H
#define PS_TOOL_PAGESHADOW_H

#include "config.h"
#include "shadow.h"

#define EXIT_TROUBLE 2

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

/* reset.c: discard what the shadow holds for PATH... (all of the prefixes without one); rebase PATH... */
int cmd_reset(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);
int cmd_rebase(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh);

#endif
