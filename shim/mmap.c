/* mmap.c - memory maps of files whose lower pages still show: page-granular, no copy of untouched pages.
 *
 * Entry points: the mmap wrappers (symbols.def); ps_map_layout for maps.c, which keeps the maps laid out here in
 * step with the shadow.
 * A map of such a file is laid out page by page by the lower_len rule (merge.h): an untouched page below
 * lower_len is the lower file's own page (its page cache, no copy), every other page is the data file's. Private
 * writes stay private (copy-on-write, as on any file). In a shared writable map the lower pages are mapped
 * read-only: a store into one faults, and fault.c copies up that page alone and maps the data file's over it.
 * The page that straddles lower_len of a file grown past it (or cut into it, in a record of an older version; the
 * engine now copies that page up) may hold bytes of both files: a private map gets an anonymous copy of its
 * merged bytes, a shared one has it copied up. Untouched files never get here.
 */
#include "shim.h"
#include "log.h"
#include "merge.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ULL

enum backing { FROM_LOWER, FROM_DATA, MERGED_COPY };

/* Where page p of f shows from (lower_len rule). lower_size: the lower file's real size, which a map of the lower
 * file shows up to, then zeros. */
static enum backing page_backing(struct ps_file *f, uint64_t p, uint64_t lower_len, uint64_t size,
				 uint64_t lower_size)
{
	uint64_t start = p * PAGE, end = start + PAGE;

	if (start >= lower_len || ps_record_page_is_shadowed(&f->rec, p))
		return FROM_DATA;
	if (end <= lower_len)
		return FROM_LOWER;
	/* lower_len ends inside this page: the lower file's map is right only when nothing was cut or added there */
	return lower_size == lower_len && size == lower_len ? FROM_LOWER : MERGED_COPY;
}

/* Map [addr, addr+len) at file offset off from fd over the reservation. 0 or -errno. */
static int map_run(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = REAL(mmap)(addr, len, prot, (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED, fd, off);

	return p == MAP_FAILED ? -errno : 0;
}

/* An anonymous private page holding the merged bytes of [off, off+PAGE) (zeros past the end). */
static int map_merged_copy(struct ps_file *f, void *addr, int prot, int flags, off_t off)
{
	void *p = REAL(mmap)(addr, PAGE, PROT_READ | PROT_WRITE,
			     (flags & ~(MAP_SHARED | MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE)) | MAP_PRIVATE |
				     MAP_ANONYMOUS | MAP_FIXED,
			     -1, 0);
	ssize_t r;

	if (p == MAP_FAILED)
		return -errno;
	if ((r = ps_merge_pread(f, p, PAGE, off)) < 0)
		return (int)r;
	return REAL(mprotect)(p, PAGE, prot) < 0 ? -errno : 0;
}

/* A shared map shows the file itself, so the straddling page cannot be a private copy: it is copied up (one page)
 * and mapped from the data file. */
static int map_straddling_shared(struct ps_file *f, void *addr, int prot, int flags, off_t off)
{
	int rc = ps_merge_prepare_write(f, off, 1);

	return rc < 0 ? rc : map_run(addr, PAGE, prot, flags, f->data_fd, off);
}

int ps_map_layout(struct ps_file *f, void *addr, size_t len, int prot, int flags, off_t off)
{
	uint64_t lower_len = ps_record_lower_len(&f->rec), lower_size = f->rec.hdr->lower_size;
	uint64_t size = (uint64_t)ps_merge_size(f), first = (uint64_t)off / PAGE, npages = (len + PAGE - 1) / PAGE;
	char *base = addr;
	/* A shared map's lower pages are never writable (the lower file is open read-only): the first store into one
	 * faults, and fault.c copies that page up - only the pages written reach the shadow. */
	int lower_prot = (flags & MAP_TYPE) == MAP_PRIVATE ? prot : prot & ~PROT_WRITE;
	int rc = 0;

	for (uint64_t i = 0; i < npages && rc == 0;) {
		enum backing b = page_backing(f, first + i, lower_len, size, lower_size);
		uint64_t j = i + 1;

		if (b == MERGED_COPY) {
			rc = (flags & MAP_TYPE) == MAP_PRIVATE
				     ? map_merged_copy(f, base + i * PAGE, prot, flags, (off_t)((first + i) * PAGE))
				     : map_straddling_shared(f, base + i * PAGE, prot, flags, (off_t)((first + i) * PAGE));
			i = j;
			continue;
		}
		while (j < npages && page_backing(f, first + j, lower_len, size, lower_size) == b)
			j++;
		rc = b == FROM_LOWER ? map_run(base + i * PAGE, (j - i) * PAGE, lower_prot, flags, f->lower_fd,
					       (off_t)((first + i) * PAGE))
				     : map_run(base + i * PAGE, (j - i) * PAGE, prot, flags, f->data_fd,
					       (off_t)((first + i) * PAGE));
		i = j;
	}
	return rc;
}

void *ps_map_reserve_and_lay_out(struct ps_file *f, void *addr, size_t len, int prot, int flags, off_t off, int *err)
{
	/* The reservation: the data file's map of the whole range, so that a map with one backing is one mapping. */
	char *base = REAL(mmap)(addr, len, prot, flags, f->data_fd, off);
	int rc;

	if (base == MAP_FAILED) {
		*err = errno;
		return MAP_FAILED;
	}
	if ((rc = ps_map_layout(f, base, len, prot, flags, off)) < 0) {
		ps_debug("%s: mapping %zu bytes at %lld failed: %s", f->path, len, (long long)off, strerror(-rc));
		REAL(munmap)(base, len);
		*err = -rc;
		return MAP_FAILED;
	}
	return base;
}

static void *map_merged(struct ps_open *o, void *addr, size_t len, int prot, int flags, off_t off, int *err)
{
	int shared = (flags & MAP_TYPE) != MAP_PRIVATE;

	if (!ps_open_readable(o) || (shared && (prot & PROT_WRITE) && (o->flags & O_ACCMODE) != O_RDWR)) {
		*err = EACCES; /* as the kernel: a readable descriptor, and a writable one for a shared writable map */
		return MAP_FAILED;
	}
	if (len == 0 || off < 0 || (uint64_t)off % PAGE) {
		*err = EINVAL;
		return MAP_FAILED;
	}
	return ps_maps_map(o, addr, len, prot, flags, off, err);
}

/* A map the shim does not lay out. One made over part of a map it keeps (MAP_FIXED) replaces that part. */
static void *map_plain(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = REAL(mmap)(addr, len, prot, flags, fd, off);

	if ((flags & MAP_FIXED) && ps_maps_any()) { /* a failed MAP_FIXED may have unmapped the range too */
		int saved = errno;

		ps_maps_forget(p != MAP_FAILED ? p : addr, len);
		errno = saved;
	}
	return p;
}

/* A shared map of a file still wholly the lower file's is the lower file's own map: kept by name, so that it
 * follows the file once it gets a record (maps.c). */
static void *map_lower(struct ps_open *o, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = map_plain(addr, len, prot, flags, fd, off);
	int saved = errno;

	if (p != MAP_FAILED && (flags & MAP_TYPE) != MAP_PRIVATE)
		ps_maps_add_lower(o, fd, p, len, off, prot, flags);
	errno = saved;
	return p;
}

static void *mmap_impl(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int saved = errno, err = 0, writes;
	struct ps_open *o;
	void *p;

	if ((flags & MAP_ANONYMOUS) || !ps_enter())
		return map_plain(addr, len, prot, flags, fd, off);
	o = ps_fd_get(fd);
	writes = o && (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE;
	if (writes && (err = -ps_open_change(o)) != 0) {
		p = MAP_FAILED; /* a map that can write is a write (change.h) */
	} else if (!o || o->kind == PS_OPEN_DIR || (o->file && !ps_merge_shows_lower(o->file))) {
		/* not the shim's, or the data file is the whole file */
		p = map_plain(addr, len, prot, flags, fd, off);
		err = errno;
	} else if (!o->file) {
		p = map_lower(o, addr, len, prot, flags, fd, off);
		err = errno;
	} else {
		p = map_merged(o, addr, len, prot, flags, off, &err);
		if (p != MAP_FAILED)
			err = saved;
	}
	if (writes)
		ps_open_changed(o, p != MAP_FAILED);
	if (o)
		ps_open_put(o);
	ps_leave();
	errno = err;
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_impl(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	return mmap_impl(addr, len, prot, flags, fd, off);
}
