/* cwd.c - the working directory in a directory that exists only in the shadow.
 *
 * Entry points: the wrappers (symbols.def).
 * The kernel cannot enter a directory it does not see: chdir into a directory made in the shadow enters its data
 * directory, and getcwd names that by its place in the read-only tree, as resolve.c does for relative paths. A
 * deleted directory cannot be entered (ENOENT), a file neither (ENOTDIR). fchdir needs nothing: a descriptor of a
 * merged directory is a real directory (dir.c).
 */
#include "shim.h"
#include "snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1: handled (*rc); 0: pass through. */
static int chdir_shadowed(const char *path, int *rc)
{
	struct ps_shadow *sh;
	struct ps_target t;
	char data[PATH_MAX], abs[PATH_MAX * 2];
	int r;

	r = ps_enter_resolved(AT_FDCWD, path, 1, &t);
	if (r == 0)
		return 0;
	if (r > 0 && ps_target_lower_shows(&t)) { /* the lower directory is the merged one's real directory */
		r = REAL(chdir)(t.path) < 0 ? -errno : 0;
		ps_leave();
		*rc = r;
		return 1;
	}
	if (r > 0 && (t.ns.state == PS_NS_RECORD || t.ns.state == PS_NS_SPECIAL))
		r = -ENOTDIR;
	else if (r > 0 && t.ns.state != PS_NS_DIR)
		r = -ENOENT;
	else if (r > 0 && !(sh = ps_shadow_get()))
		r = -EROFS;
	else if (r > 0 && (r = ps_target_data_path(&t, data, sizeof(data))) >= 0) {
		snprintf(abs, sizeof(abs), "%s/%s", sh->path, data);
		r = REAL(chdir)(abs) < 0 ? -errno : 0;
	}
	ps_leave();
	*rc = r;
	return 1;
}

int chdir(const char *path)
{
	int saved = errno, rc;

	if (!chdir_shadowed(path, &rc))
		return REAL(chdir)(ps_pass(path));
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

char *getcwd(char *buf, size_t size)
{
	char merged[PATH_MAX];
	char *r = REAL(getcwd)(buf, size);
	size_t len, room;

	if (!r || !ps_cfg.shadow[0] || strncmp(r, ps_cfg.shadow, strlen(ps_cfg.shadow)) != 0 ||
	    strlen(r) >= sizeof(merged))
		return r;
	strcpy(merged, r);
	if (!ps_snapshot_tree_path(ps_cfg.shadow, merged, sizeof(merged)))
		return r; /* somewhere else in the shadow directory: its own name */
	len = strlen(merged);
	room = buf || size ? size : strlen(r) + 1; /* glibc allocates size bytes, or just enough with size 0 */
	if (len >= room) {
		if (buf) {
			errno = ERANGE;
			return NULL;
		}
		char *grown = realloc(r, len + 1);

		if (!grown) {
			free(r);
			return NULL;
		}
		r = grown;
	}
	memcpy(r, merged, len + 1);
	return r;
}
