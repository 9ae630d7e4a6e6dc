/* snapshot.h - a complete copy of a merged file, for the readers that open files themselves.
 *
 * The kernel reads the program it executes, and ld.so the library it maps, with no call the shim sees; when the
 * file still has lower pages showing through, they are given a copy of its merged bytes instead. The copy is made
 * at DIR/exec/<pid>-<random>/<prefix>/<rel> (docs/FORMAT.md: transient, removable at any time), mode 0700: the
 * same place below its own root as the file has in the data tree, so that ld.so's $ORIGIN, mapped back by the
 * audit module, names the file's own directory in the read-only tree. Its owner removes the whole root once the
 * reader has the copy open.
 */
#ifndef PS_SNAPSHOT_H
#define PS_SNAPSHOT_H

#include "file.h"

#include <stddef.h>

/* Write f's merged bytes to a new copy; its absolute name goes to out. 0 or -errno (nothing is left behind on
 * failure). */
int ps_snapshot_make(struct ps_file *f, char *out, size_t outsz);

/* The file to hand a reader that opens files itself, for f's merged bytes: its data file when every byte lives
 * there (and force_copy is not set), else a new copy. Its absolute name goes to out; *is_copy says which (the
 * owner removes a copy with ps_snapshot_remove). $ORIGIN directories are mirrored either way. 0 or -errno. */
int ps_snapshot_file(struct ps_file *f, int force_copy, char *out, size_t outsz, int *is_copy);

/* Remove the copy named copy (an absolute name ps_snapshot_make gave) with its root, if it lies in shadow_dir's
 * exec/ tree; anything else is left alone. */
void ps_snapshot_remove(const char *shadow_dir, const char *copy);

/* A program that runs from its data file or a copy has its $ORIGIN in the shadow's data tree (data/<prefix>/<rel>)
 * or a copy's tree (exec/<root>/<prefix>/<rel>): a path there (abs, absolute) names the file at the same place in
 * the read-only tree. 1 and abs rewritten to that place, or 0 for a path elsewhere. */
int ps_snapshot_tree_path(const char *shadow_dir, char *abs, size_t abssz);

/* For each $ORIGIN entry of f's RUNPATH/RPATH whose directory exists in the read-only tree, make the directory at
 * the same place relative to the file that runs instead (file_rel, relative to the shadow directory: its data
 * file or a copy): ld.so skips a RUNPATH directory that does not exist, so without it the audit module is never
 * asked about the libraries there. Best effort. */
void ps_snapshot_mirror_origin(struct ps_file *f, const char *file_rel);

#endif
