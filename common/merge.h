/* merge.h - the page merge: read the merged file, copy pages up before a write, truncate, punch, seek, stat.
 *
 * The rule everything here follows (the lower_len rule):
 *   byte b of the file comes from the lower file when b < lower_len and page b/4096 is not shadowed;
 *   otherwise it comes from the data file, whose size is the file's logical size.
 * So a write past the page where the lower bytes end, an append there, O_TRUNC and growth need no bitmap work,
 * and a write below that point first copies the untouched pages it covers up into the data file (only their
 * bytes below lower_len), once, under the file's lock, and sets their bits after the bytes are there. A truncate
 * that cuts inside a page of lower bytes copies that page up too. So every page is wholly the lower file's or
 * wholly the data file's (bytes past the end read as zeros in both), which a memory map needs (shim/mmap.c).
 *
 * Locking: the copy-up lock is f->lock (threads) plus an OFD write lock on one byte of the data file far past
 * any real data (processes). Readers take no lock: a bit is set only after its page is complete.
 * All functions return a length, 0 or -errno.
 */
#ifndef PS_MERGE_H
#define PS_MERGE_H

#include "file.h"

#include <sys/stat.h>
#include <sys/types.h>

/* The OFD lock byte on the data file that serialises copy-up between processes. */
#define PS_COPYUP_LOCK_OFFSET ((off_t)1 << 62)

/* Do f's bytes still come partly from the lower file (so reading it needs the engine)? When not, the data file
 * is the whole file. */
static inline int ps_merge_shows_lower(const struct ps_file *f)
{
	return f && f->lower_fd >= 0 && ps_record_lower_len(&f->rec) > 0;
}

ssize_t ps_merge_pread(struct ps_file *f, void *buf, size_t n, off_t off);

/* Called after pages of f changed hands in this process (copied up, cut off), with no lock held: the shim lays
 * its memory maps of f out again before the call that did it returns. NULL when nothing maps files. */
extern void (*ps_merge_changed)(struct ps_file *f);

/* ps_merge_pread for a reader that takes the file as an opaque context (exec.h's ps_read_at). */
static inline ssize_t ps_merge_read_at(void *f, void *buf, size_t n, off_t off)
{
	return ps_merge_pread(f, buf, n, off);
}

/* Make [off, off+n) writable in the data file: copy up every untouched page below lower_len that it covers. */
int ps_merge_prepare_write(struct ps_file *f, off_t off, size_t n);

/* Write through the engine: prepare, then pwrite to fd (a descriptor of the data file). */
ssize_t ps_merge_pwrite(struct ps_file *f, int fd, const void *buf, size_t n, off_t off);

int ps_merge_truncate(struct ps_file *f, off_t len);

/* Make the data file the whole file: copy up every page still read from the lower file (the one whole-file copy
 * pageshadow makes: for a descriptor the kernel must serve alone, shim/sv_calls.c). */
int ps_merge_copy_up_whole(struct ps_file *f);

/* fallocate on the merged file (PUNCH_HOLE and ZERO_RANGE shadow the zeroed pages; COLLAPSE/INSERT fail). */
int ps_merge_fallocate(struct ps_file *f, int mode, off_t off, off_t len);

/* SEEK_DATA / SEEK_HOLE over the merged file. */
off_t ps_merge_seek_hole_data(struct ps_file *f, off_t off, int whence);

/* The logical size (the data file's size). */
off_t ps_merge_size(struct ps_file *f);

/* Fill st for the merged file: the data file's size, times and blocks, the lower file's identity and mode. */
int ps_merge_stat(struct ps_file *f, struct stat *st);

/* fsync and fdatasync: the data file first, then the record that points at it. */
int ps_merge_sync(struct ps_file *f);
/* The record half alone, for a caller that has synced the data file itself. A file without a lower file has a
 * record that never changes after its creation: nothing to do. */
int ps_merge_sync_record(struct ps_file *f);

#endif
