/* merge.c - merged reads and page-granular copy-up (see merge.h for the lower_len rule).
 *
 * Why copy-up copies only the bytes below lower_len: the page that straddles lower_len holds lower bytes
 * before it and data-file bytes after it (appended, or zeros after a truncate and regrow). Copying the whole
 * lower page would bring truncated bytes back or overwrite appended ones.
 * Why the bit is set after the copy: a reader that sees the bit reads the data file and must find the page
 * complete there; a reader that does not see it reads the lower page, which is still the right content
 * because nobody has written the page yet (the writer waits for the copy before writing).
 */
#include "merge.h"
#include "bitmap.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t page_of(uint64_t off)
{
	return off >> PS_PAGE_SHIFT;
}

static uint64_t round_up_page(uint64_t off)
{
	return (off + PS_PAGE_SIZE - 1) & ~(uint64_t)(PS_PAGE_SIZE - 1);
}

/* The copy-up lock is taken on a description of the data file this process opened itself (sys.h). */
static int copyup_lock_fd_locked(struct ps_file *f)
{
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", f->data_fd);
	return ps_sys_own_description(&f->lock_fd, &f->lock_pid, AT_FDCWD, self, O_RDWR);
}

/* Take the copy-up lock; *gen gets backing_gen as it is then (copyup_unlock tells whether it moved). */
static int copyup_lock(struct ps_file *f, uint64_t *gen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = PS_COPYUP_LOCK_OFFSET, .l_len = 1 };
	int fd;

	pthread_mutex_lock(&f->lock);
	fd = copyup_lock_fd_locked(f);
	if (fd < 0) {
		pthread_mutex_unlock(&f->lock);
		return fd;
	}
	while (ps_sys->fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			int rc = -errno;

			pthread_mutex_unlock(&f->lock);
			return rc;
		}
	}
	*gen = f->lower_fd >= 0 ? ps_record_backing_gen(&f->rec) : 0;
	return 0;
}

void (*ps_merge_changed)(struct ps_file *f);

/* Unlock, and tell ps_merge_changed when a page changed hands since gen (copyup_lock's). */
static void copyup_unlock(struct ps_file *f, uint64_t gen)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = PS_COPYUP_LOCK_OFFSET, .l_len = 1 };
	void (*changed)(struct ps_file *) = __atomic_load_n(&ps_merge_changed, __ATOMIC_ACQUIRE);

	ps_sys->fcntl(f->lock_fd, F_OFD_SETLK, &fl);
	pthread_mutex_unlock(&f->lock);
	if (changed && f->lower_fd >= 0 && ps_record_backing_gen(&f->rec) != gen)
		changed(f);
}

/* Is any page in [first, last] below lower_len still untouched? (No lock: a hint re-checked under the lock.) */
static int range_needs_copyup(struct ps_file *f, uint64_t first, uint64_t last)
{
	return ps_bitmap_find(f->rec.bitmap, first, last + 1, 0) <= last;
}

/* The end of the run of pages from pos that share page pos's state (shadowed or not), capped at limit. */
static uint64_t run_end(struct ps_file *f, uint64_t pos, uint64_t limit, int shadowed)
{
	uint64_t next = ps_bitmap_find(f->rec.bitmap, page_of(pos) + 1, page_of(limit - 1) + 1, !shadowed);
	uint64_t end = next << PS_PAGE_SHIFT;

	return end < limit ? end : limit;
}

/* Overlay the shadowed pages of [off, end) (all below lower_len) from the data file onto buf, which holds the lower
 * bytes of that range. Returns the bytes of the range that are valid: all of them, or fewer when the data file
 * ended early (a concurrent truncation). */
static ssize_t overlay_shadowed(struct ps_file *f, char *buf, uint64_t off, uint64_t end)
{
	uint64_t pos = off;

	while (pos < end) {
		uint64_t first = ps_bitmap_find(f->rec.bitmap, page_of(pos), page_of(end - 1) + 1, 1);
		uint64_t stop;
		ssize_t r;

		if ((first << PS_PAGE_SHIFT) >= end)
			break;
		if ((first << PS_PAGE_SHIFT) > pos)
			pos = first << PS_PAGE_SHIFT;
		stop = run_end(f, pos, end, 1);
		r = ps_sys_pread_full(f->data_fd, buf + (pos - off), stop - pos, (off_t)pos);
		if (r < 0) /* the bytes before the failing run are good: a short read, as a real file's */
			return pos > off ? (ssize_t)(pos - off) : r;
		if ((uint64_t)r < stop - pos)
			return (ssize_t)(pos + (uint64_t)r - off);
		pos = stop;
	}
	return (ssize_t)(end - off);
}

/* The lower bytes of the range first, in one read, then the shadowed pages over them: the order matters. A bit is
 * set only once its page is complete in the data file, so a page seen shadowed is read whole from there; a page
 * seen unshadowed keeps the lower bytes already read, which are still its content because a writer waits for the
 * copy-up before writing. (Reading the data file first and testing the bits after would show the hole of a page
 * copied up in between.) One lower read plus one per shadowed run, whatever the mix. */
ssize_t ps_merge_pread(struct ps_file *f, void *buf, size_t n, off_t off)
{
	uint64_t lower_len, below_end, pos = (uint64_t)off, end = (uint64_t)off + n;
	ssize_t r;

	if (off < 0)
		return -EINVAL;
	if (n == 0)
		return 0;
	lower_len = f->lower_fd >= 0 ? ps_record_lower_len(&f->rec) : 0;
	below_end = end < lower_len ? end : lower_len;
	if (pos < below_end) {
		if (range_needs_copyup(f, page_of(pos), page_of(below_end - 1))) {
			r = ps_sys_pread_full(f->lower_fd, buf, below_end - pos, off);
			if (r < 0)
				return r;
			if ((uint64_t)r < below_end - pos)
				return -EIO; /* shorter than its record: the lower file changed */
		}
		r = overlay_shadowed(f, buf, pos, below_end);
		if (r < 0 || (uint64_t)r < below_end - pos)
			return r;
		pos = below_end;
	}
	if (pos < end) {
		r = ps_sys_pread_full(f->data_fd, (char *)buf + (pos - (uint64_t)off), end - pos, (off_t)pos);
		if (r < 0)
			return pos > (uint64_t)off ? (ssize_t)(pos - (uint64_t)off) : r;
		pos += (uint64_t)r;
	}
	return (ssize_t)(pos - (uint64_t)off);
}

/* Copy page pg's lower bytes (those below lower_len) into the data file and mark it. Lock held. */
static int copy_page_up_locked(struct ps_file *f, uint64_t pg, uint64_t lower_len)
{
	char page[PS_PAGE_SIZE];
	uint64_t start = pg << PS_PAGE_SHIFT;
	uint64_t len = lower_len - start < PS_PAGE_SIZE ? lower_len - start : PS_PAGE_SIZE;
	ssize_t r;

	r = ps_sys_pread_full(f->lower_fd, page, len, (off_t)start);
	if (r < 0)
		return (int)r;
	if ((uint64_t)r < len)
		return -EIO;
	r = ps_sys_pwrite_full(f->data_fd, page, len, (off_t)start);
	if (r < 0)
		return (int)r;
	ps_record_mark_page(&f->rec, pg);
	return 0;
}

/* Copy up the untouched pages of [first, last] below lower_len. Lock held. */
static int copy_range_up_locked(struct ps_file *f, uint64_t first, uint64_t last)
{
	uint64_t lower_len = ps_record_lower_len(&f->rec);

	for (uint64_t pg = first; pg <= last && (pg << PS_PAGE_SHIFT) < lower_len; pg++) {
		int rc;

		if (ps_record_page_is_shadowed(&f->rec, pg))
			continue;
		rc = copy_page_up_locked(f, pg, lower_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ps_merge_prepare_write(struct ps_file *f, off_t off, size_t n)
{
	uint64_t lower_end, first, last, gen;
	int rc;

	if (f->lower_fd < 0 || n == 0 || off < 0)
		return 0;
	/* Up to the end of the page where the lower bytes end: a write just past lower_len in that page copies it up
	 * too, so that every page is wholly the lower file's or wholly the data file's (what a memory map needs). */
	lower_end = round_up_page(ps_record_lower_len(&f->rec));
	if ((uint64_t)off >= lower_end)
		return 0;
	first = page_of((uint64_t)off);
	last = page_of(((uint64_t)off + n < lower_end ? (uint64_t)off + n : lower_end) - 1);
	if (!range_needs_copyup(f, first, last))
		return 0;
	rc = copyup_lock(f, &gen);
	if (rc < 0)
		return rc;
	rc = copy_range_up_locked(f, first, last);
	copyup_unlock(f, gen);
	if (rc < 0)
		ps_debug("%s: copy-up of pages %llu-%llu failed: %s", f->path, (unsigned long long)first,
			 (unsigned long long)last, strerror(-rc));
	return rc;
}

ssize_t ps_merge_pwrite(struct ps_file *f, int fd, const void *buf, size_t n, off_t off)
{
	int rc = ps_merge_prepare_write(f, off, n);
	ssize_t w;

	if (rc < 0)
		return rc;
	w = ps_sys->pwrite(fd, buf, n, off);
	return w < 0 ? -errno : w;
}

/* Every page still read from the lower file is copied up, then the lower file is let go (lower_len 0): the data
 * file is the whole file from then on. The pages are on disk before lower_len changes, so that no crash can leave
 * a record that reads holes where the lower bytes were, and the record is synced after. */
int ps_merge_copy_up_whole(struct ps_file *f)
{
	uint64_t lower_len, gen;
	int rc;

	if (!ps_merge_shows_lower(f))
		return 0;
	rc = copyup_lock(f, &gen);
	if (rc < 0)
		return rc;
	lower_len = ps_record_lower_len(&f->rec);
	if (lower_len > 0)
		rc = copy_range_up_locked(f, 0, page_of(lower_len - 1));
	if (rc == 0 && ps_sys->fsync(f->data_fd) < 0)
		rc = -errno;
	if (rc == 0)
		ps_record_shrink_lower_len(&f->rec, 0);
	copyup_unlock(f, gen);
	/* and the record with it: the kernel alone serves what comes next, and its fsync syncs the data file only */
	return rc < 0 ? rc : ps_merge_sync_record(f);
}

int ps_merge_truncate(struct ps_file *f, off_t len)
{
	uint64_t gen;
	int rc;

	if (len < 0)
		return -EINVAL;
	rc = copyup_lock(f, &gen);
	if (rc < 0)
		return rc;
	/* A cut inside a page of lower bytes copies that page up first: its bytes past the cut must read as zeros
	 * when the file grows again, and in a memory map, which would show the lower file's page whole. */
	if (f->lower_fd >= 0 && (uint64_t)len < ps_record_lower_len(&f->rec) && len % PS_PAGE_SIZE)
		rc = copy_range_up_locked(f, page_of((uint64_t)len), page_of((uint64_t)len));
	/* The data file first: lower_len cannot grow back, so it shrinks only once the size has. A crash in between
	 * leaves lower_len past the end of the data file, which the next open repairs (ps_file_lookup). */
	if (rc == 0 && ps_sys->ftruncate(f->data_fd, len) < 0)
		rc = -errno;
	if (rc == 0)
		ps_record_shrink_lower_len(&f->rec, (uint64_t)len);
	copyup_unlock(f, gen);
	return rc;
}

int ps_merge_fallocate(struct ps_file *f, int mode, off_t off, off_t len)
{
	uint64_t lower_len, first_full, end_full, gen;
	int rc;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE))
		return -EOPNOTSUPP; /* would shift lower pages: not expressible as a page bitmap */
	if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)))
		return ps_sys->fallocate(f->data_fd, mode, off, len) < 0 ? -errno : 0;
	rc = copyup_lock(f, &gen);
	if (rc < 0)
		return rc;
	lower_len = f->lower_fd >= 0 ? ps_record_lower_len(&f->rec) : 0;
	/* Partial pages keep their other bytes: copy them up. Whole pages become shadowed zeros. */
	first_full = page_of((uint64_t)off + PS_PAGE_SIZE - 1);
	end_full = page_of((uint64_t)off + (uint64_t)len);
	if ((uint64_t)off < lower_len) {
		uint64_t last = page_of((uint64_t)off + (uint64_t)len - 1);

		if (page_of((uint64_t)off) < first_full)
			rc = copy_range_up_locked(f, page_of((uint64_t)off), page_of((uint64_t)off));
		if (rc == 0 && end_full <= last)
			rc = copy_range_up_locked(f, last, last);
	}
	if (rc == 0 && ps_sys->fallocate(f->data_fd, mode, off, len) < 0)
		rc = -errno;
	for (uint64_t pg = first_full; rc == 0 && pg < end_full && (pg << PS_PAGE_SHIFT) < lower_len; pg++)
		ps_record_mark_page(&f->rec, pg);
	copyup_unlock(f, gen);
	return rc;
}

off_t ps_merge_size(struct ps_file *f)
{
	struct stat st;

	if (ps_sys->fstat(f->data_fd, &st) < 0)
		return -errno;
	return st.st_size;
}

off_t ps_merge_seek_hole_data(struct ps_file *f, off_t off, int whence)
{
	off_t size = ps_merge_size(f);
	uint64_t lower_len;
	off_t r;

	if (size < 0)
		return size;
	if (off < 0)
		return -EINVAL;
	if (off >= size)
		return -ENXIO;
	/* Below lower_len the merged file is reported as all data: never a hole where the lower file has bytes. */
	lower_len = f->lower_fd >= 0 ? ps_record_lower_len(&f->rec) : 0;
	if ((uint64_t)off < lower_len) {
		if (whence == SEEK_DATA)
			return off;
		off = (off_t)lower_len;
		if (off >= size)
			return size;
	}
	r = ps_sys->lseek(f->data_fd, off, whence);
	return r < 0 ? -errno : r;
}

int ps_merge_stat(struct ps_file *f, struct stat *st)
{
	struct stat lst;
	uint64_t lower_len;

	if (ps_sys->fstat(f->data_fd, st) < 0)
		return -errno;
	if (f->lower_fd < 0) { /* a new file: its data file's, but a mode it cannot carry is the record's */
		if (ps_record_attr_flags(&f->rec) & PS_ATTR_MODE)
			st->st_mode = S_IFREG | (f->rec.hdr->mode & 07777);
		return 0;
	}
	if (ps_sys->fstat(f->lower_fd, &lst) < 0)
		return -errno;
	/* The file's identity is the lower file's: stable across runs, equal for stat and fstat. */
	st->st_dev = lst.st_dev;
	st->st_ino = lst.st_ino;
	if (st->st_nlink == 1) /* else the shadow's own hard links (ln) or none (an open, unlinked file) */
		st->st_nlink = lst.st_nlink;
	st->st_uid = lst.st_uid;
	st->st_gid = lst.st_gid;
	st->st_mode = lst.st_mode;
	if (ps_record_attr_flags(&f->rec) & PS_ATTR_MODE)
		st->st_mode = (lst.st_mode & S_IFMT) | f->rec.hdr->mode;
	if (ps_record_attr_flags(&f->rec) & PS_ATTR_OWNER) {
		st->st_uid = f->rec.hdr->uid;
		st->st_gid = f->rec.hdr->gid;
	}
	/* Blocks: what the data file holds plus the lower blocks that still show through. */
	lower_len = ps_record_lower_len(&f->rec);
	if (lst.st_size > 0) {
		uint64_t unshadowed = (lower_len + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE - ps_record_shadowed_pages(&f->rec);
		uint64_t lpages = ((uint64_t)lst.st_size + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;

		st->st_blocks += (blkcnt_t)((uint64_t)lst.st_blocks * unshadowed / lpages);
	}
	return 0;
}

int ps_merge_sync_record(struct ps_file *f)
{
	return f->lower_fd < 0 ? 0 : ps_record_sync(&f->rec);
}

int ps_merge_sync(struct ps_file *f)
{
	if (ps_sys->fsync(f->data_fd) < 0)
		return -errno;
	return ps_merge_sync_record(f);
}
