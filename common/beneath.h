/* beneath.h - paths inside the shadow directory resolved without following a symlink on the way.
 *
 * The engine never makes a symlink inside the shadow that a path of its own goes through: whiteouts and the
 * program's symlinks are always the last component. A shadow directory someone else got to write (a CI cache
 * restored from anywhere) may hold one in the middle, leading out: the engine's writes would follow it out of the
 * shadow. So every call that changes the tree at (shadow dirfd, "a/b/name") first opens "a/b" with openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS and works on "name" from there; a symlink on the way is refused with
 * EILSEQ (a corrupt shadow: EIO for the program) and one line naming the path. Reads are not guarded: they can
 * only read, and what a tampered shadow says is refused where it matters (records are validated).
 * Cost: one openat2 and one close more per such call (not per read or write of a file's bytes).
 */
#ifndef PS_BENEATH_H
#define PS_BENEATH_H

#include "sys.h"

/* A table that does what inner does, with the guard on calls at the shadow's dirfd (ps_sys_guard_below). */
const struct ps_sys *ps_sys_guard(const struct ps_sys *inner);

/* The shadow directory's descriptor (-1: none). */
void ps_sys_guard_below(int dirfd);

/* The shadow's descriptor moved (ps_sys_renumbered). */
void ps_sys_guard_renumber(int from, int to);

/* The directory path's last component lies in, opened (O_PATH) beneath dirfd without following a symlink, and
 * the last component in *base: the descriptor (dirfd itself when path has no '/': close it only when it is not
 * dirfd), or -errno (-EILSEQ: a symlink on the way, logged). Before Linux 5.6 (no openat2) unguarded. */
int ps_sys_parent_beneath(int dirfd, const char *path, const char **base);

/* open_at (an openat of the caller's: the shim's hands the program a descriptor of its own) of path below dirfd,
 * guarded when dirfd is the shadow's: the descriptor, or -1 and errno. */
int ps_sys_open_beneath(int (*open_at)(int, const char *, int, ...), int dirfd, const char *path, int flags,
			mode_t mode);

/* "/proc/self/fd/N/name" for calls that take only a path (the xattr family): N the guarded parent of path below
 * dirfd, returned for the caller to close when it is not dirfd. Or -errno. */
int ps_sys_path_beneath(int dirfd, const char *path, char *out, size_t outsz);

#endif
