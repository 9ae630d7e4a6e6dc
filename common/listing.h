/* listing.h - a merged directory listing: the lower directory's names, minus whiteouts, plus the shadow's.
 *
 * Built once per open directory (and again when rewound) by the shim's getdents64 (shim/dir.c), and by rmdir to
 * tell an empty merged directory; stat counts subdirectories with ps_ns_subdir_change. Entry points: ps_ns_list,
 * ps_dirlist_fill, ps_dirlist_has_names, ps_dirlist_free, ps_ns_subdir_change.
 */
#ifndef PS_LISTING_H
#define PS_LISTING_H

#include "shadow.h"

#include <stddef.h>
#include <stdint.h>

#define PS_DIRENT_DELETED 0xff /* a listing entry removed by a whiteout: skipped */

/* A merged directory listing, built once per open directory (and again when rewound). */
struct ps_dirent {
	uint64_t ino;
	uint32_t name; /* offset into names */
	unsigned char type; /* DT_* */
};

struct ps_dirlist {
	struct ps_dirent *ents;
	size_t count, cap;
	char *names;
	size_t names_len, names_cap;
};

/* Build the listing of rel: the entries read from fd (the real directory the program holds: the lower
 * directory, or the data directory of one that exists only in the shadow; -1 for none) - all of them when
 * lower_shows, else only "." and ".." - merged with the meta directory: whiteouts remove names, records,
 * directories, symlinks and special files add them (once). 0 or -errno; *out is freed by ps_dirlist_free
 * either way. */
int ps_ns_list(struct ps_shadow *sh, const char *enc, const char *rel, int fd, int lower_shows,
	       struct ps_dirlist *out);
void ps_dirlist_free(struct ps_dirlist *l);

/* How the shadow changes the number of subdirectories of the lower directory rel (open at lfd, which has
 * subdirectories at all when lower_has_subdirs): +1 for each directory made where the lower tree has none, -1
 * for each lower directory deleted or replaced. Reads the meta directory only; the lower one is asked about the
 * names found there, and not at all when it has no subdirectories. 0 or -errno. */
int ps_ns_subdir_change(struct ps_shadow *sh, const char *enc, const char *rel, int lfd, int lower_has_subdirs,
			long *change);

/* Copy entries from *pos on into buf as struct linux_dirent64 records (d_off: the index of the next entry),
 * as many as fit; *pos advances. Returns the bytes written: 0 at the end, -EINVAL when not even one fits. */
long ps_dirlist_fill(const struct ps_dirlist *l, size_t *pos, void *buf, size_t n);

/* Does the listing hold a name besides "." and ".."? (rmdir's ENOTEMPTY) */
int ps_dirlist_has_names(const struct ps_dirlist *l);

#endif
