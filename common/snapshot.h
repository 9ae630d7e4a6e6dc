/* snapshot.h - a complete copy of a merged file, for the readers that open files themselves.
 *
 * The kernel reads the program it executes, and ld.so the library it maps, with no call the shim sees; when the
 * file still has lower pages showing through, they are given a copy of its merged bytes instead. The copy is made
 * in DIR/exec/ (docs/FORMAT.md: transient, removable at any time) under a name no other process uses, mode 0700,
 * and its owner removes it once the reader has it open.
 */
#ifndef PS_SNAPSHOT_H
#define PS_SNAPSHOT_H

#include "file.h"

#include <stddef.h>

/* Write f's merged bytes to DIR/exec/<pid>-<random><suffix>; its absolute name goes to out. 0 or -errno (nothing
 * is left behind on failure). */
int ps_snapshot_make(struct ps_file *f, const char *suffix, char *out, size_t outsz);

#endif
