/* config.h - pageshadow's configuration: the read-only prefixes and the shadow directory.
 *
 * Read from PAGESHADOW_RO (prefixes separated by ':') and PAGESHADOW_DIR by the shim, from the command line by
 * pageshadow-run; both validate through ps_config_check so they refuse the same things with the same words.
 */
#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <limits.h>
#include <stddef.h>

#define PS_MAX_PREFIXES 32

struct ps_prefix {
	char path[PATH_MAX]; /* canonical: absolute, no symlinks, no trailing slash */
	size_t len;
	char enc[NAME_MAX + 1]; /* its directory name inside the shadow (path.h) */
};

struct ps_config {
	int nprefix;
	struct ps_prefix prefix[PS_MAX_PREFIXES];
	char shadow[PATH_MAX];
};

/* Add one prefix (resolved against the working directory, symlinks resolved). 0 or -errno, why set. */
int ps_config_add_prefix(struct ps_config *cfg, const char *path, char *why, size_t whysz);

/* Parse a ':'-separated list of prefixes. */
int ps_config_add_prefix_list(struct ps_config *cfg, const char *list, char *why, size_t whysz);

/* Set the shadow directory (made absolute; it need not exist yet) and check it against the prefixes:
 * refused when inside a prefix or when a prefix lies inside it. */
int ps_config_set_shadow(struct ps_config *cfg, const char *dir, char *why, size_t whysz);

/* path made absolute, with symlinks resolved as far as it exists; a missing tail is kept, normalised. */
int ps_config_resolve(const char *path, char *out, size_t outsz);

/* The prefix that holds abs (normalised absolute path), the longest when they nest; -1 when none.
 * *rel receives the part below it. */
int ps_config_match(const struct ps_config *cfg, const char *abs, const char **rel);

#endif
