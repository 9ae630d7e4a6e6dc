/* xattr.h - extended attributes of entries that have lower ones: moved into the shadow on their first change.
 *
 * A lower entry's attributes are read from the lower entry until something changes one; then all of them are
 * copied onto the entry's own object in the shadow (a file's data file, a directory's data directory, a symlink
 * made in the shadow), which is their home from then on - as overlayfs copies them up with the file. A file marks
 * the move with PS_ATTR_XATTRS in its record (after the copy); a directory with the mark of a directory that has
 * attributes of its own (ns.h).
 */
#ifndef PS_XATTR_H
#define PS_XATTR_H

#include "file.h"

/* Copy every extended attribute of the entry at from (an absolute path) onto the one at to below to_dirfd (a
 * last symlink is not followed in either; none on the way to the copy: beneath.h). A name in the security
 * namespace that the kernel does not let this process set (an LSM label of the lower filesystem) is left to the
 * shadow's own value; any other failure: -errno. 0 when all are copied. */
int ps_xattr_copy(const char *from, int to_dirfd, const char *to);

/* f, a file with a lower file, takes its attributes on its data file: copied from the lower file once (under the
 * shadow's creation lock, so that two processes do not copy over each other's change), then PS_ATTR_XATTRS is set.
 * 0 or -errno. */
int ps_file_own_xattrs(struct ps_file *f);

/* Whether f's attributes are its data file's (a file without a lower file, or one that took them). */
int ps_file_xattrs_are_data(const struct ps_file *f);

#endif
