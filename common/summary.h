/* summary.h - for the tools only: what a shadow holds, counted (pageshadow-run --report).
 *
 * One walk over the meta tree (tree.h); records are read for their flags and bitmaps only (no lower file is
 * opened, so a stale record is counted like any other). Entry point: ps_summary_collect.
 */
#ifndef PS_SUMMARY_H
#define PS_SUMMARY_H

#include <stdint.h>

struct ps_summary {
	uint64_t changed;      /* records of files with a lower file */
	uint64_t created;      /* records of files made in the shadow */
	uint64_t deleted;      /* whiteouts (a deleted directory counts once) */
	uint64_t dirs;         /* directories made in the shadow (opaque) */
	uint64_t links;        /* symlinks and special files made in the shadow */
	uint64_t pages;        /* pages copied up (shadowed pages below lower_len) */
	uint64_t shadow_bytes; /* disk space of records and data files */
	uint64_t copyup_bytes; /* what whole-file copy-up would hold: the logical sizes of the files */
	uint64_t unreadable;   /* entries that could not be read (counted nowhere else) */
};

/* The pages shadowed below lower_len in the record open at fd (record_size bytes), counted over a read-only
 * mapping (the record is shared and live). 0 or -errno (-EILSEQ: the file is too short for its bitmap). */
int ps_summary_shadowed_pages(int fd, uint64_t record_size, uint64_t lower_len, uint64_t *pages);

/* Count what the shadow open at dirfd holds. 0 or -errno of the walk. */
int ps_summary_collect(int dirfd, struct ps_summary *out);

#endif
