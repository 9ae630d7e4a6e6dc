/* maps.c - this process's memory maps of files whose lower pages show, kept in step with the shadow.
 *
 * Entry points: ps_maps_map and ps_maps_add_lower (mmap.c), ps_maps_check (every call on a merged descriptor),
 * the engine's ps_merge_changed, and the munmap, mremap, mprotect, msync and madvise wrappers (symbols.def).
 *
 * A map laid out page by page (mmap.c) shows an untouched page as the lower file's own page. Once that page is
 * copied up - by this process or another - the map must show the data file's page instead, as a map of a real
 * file shows every write to it. The record's backing_gen tells that some page changed hands; the registry keeps,
 * per file, the bitmap and lower_len its maps were laid out for, so that only the pages that changed are mapped
 * again (MAP_FIXED over them: one call, atomic for the program's other threads).
 * When: a change made in this process, before the call that made it returns (the engine's ps_merge_changed:
 * a pwrite is seen through the map once it returns); a change made by another process, at this process's next
 * call on the file through the shim (a read, a lock, a stat) or msync of the map.
 * Left alone: a private map the program may have written (PROT_WRITE at some time), whose pages may be its own
 * copies - a real file's private map need not show later writes either.
 * A shared map of a file opened read-only while it had no record is the lower file's own map: it waits here by
 * name and inode, and is taken over when this process meets the file with a record.
 * The kernel cannot grow or move a range made of several mappings (EFAULT): mremap of a kept map moves it piece
 * by piece and lays out the new tail itself.
 */
#include "shim.h"
#include "bitmap.h"
#include "log.h"
#include "merge.h"
#include "sys.h"

#include <linux/falloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096ULL
#define PAGE_UP(n) (((n) + PAGE - 1) & ~(PAGE - 1))

struct mapped_file {
	struct mapped_file *next;
	struct ps_file *f;  /* with a reference; NULL: a lower file's own map, waiting for its record */
	char *path;         /* waiting: the file's canonical path ... */
	dev_t dev;          /* ... and its lower file's identity */
	ino_t ino;
	dev_t rec_dev;      /* the record file's identity: the same file under another struct ps_file (renamed) */
	ino_t rec_ino;
	int gone;           /* waiting no more: the file at path is another one now */
	uint8_t *bits;      /* the record's bitmap as the maps show it (nbits pages) */
	uint8_t *next_bits; /* room for the next state, taken before the maps are laid out for it */
	uint64_t nbits;
	uint64_t lower_len; /* lower_len as the maps show it */
	int nmaps;
};

struct map {
	char *base;
	size_t len;
	uint64_t off;      /* file offset of base */
	int prot;
	int flags;
	int may_write;     /* made from a descriptor open for writing: may become shared-writable */
	int own_pages;     /* private and writable at some time: may hold pages of its own */
	struct mapped_file *mf;
};

static pthread_mutex_t maps_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP; /* the engine may call back in */
static struct map *maps; /* sorted by base, not overlapping */
static size_t nmaps, maps_cap;
static struct mapped_file *files;
static int waiting; /* mapped_files waiting for a record */
int ps_maps_write_tracked; /* maps for which tracked() holds */

/* A shared writable map of a file with lower pages: those are mapped read-only, and stores fault (fault.c). */
static int tracked(const struct map *m)
{
	return (m->flags & MAP_TYPE) != MAP_PRIVATE && (m->prot & PROT_WRITE) && m->mf->f;
}

static void count_tracked(const struct map *m, int delta)
{
	if (tracked(m))
		__atomic_add_fetch(&ps_maps_write_tracked, delta, __ATOMIC_RELEASE);
}

static void maps_atfork_prepare(void)
{
	pthread_mutex_lock(&maps_mutex); /* the child gets the registry whole, never half-changed */
}

static void maps_atfork_parent(void)
{
	pthread_mutex_unlock(&maps_mutex);
}

static void maps_atfork_child(void)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&maps_mutex, &attr);
	pthread_mutexattr_destroy(&attr);
}

int ps_maps_any(void)
{
	return __atomic_load_n(&nmaps, __ATOMIC_RELAXED) != 0;
}

/* ---- the files ---- */

/* Is page the lower file's in the state bits (nbits pages) with lower_len? */
static int is_lower_in(const uint8_t *bits, uint64_t nbits, uint64_t page, uint64_t lower_len)
{
	return page * PAGE < lower_len && !(page < nbits && ps_bitmap_test(bits, page));
}

/* ... in the state the maps were laid out for */
static int was_lower(const struct mapped_file *mf, uint64_t page)
{
	return is_lower_in(mf->bits, mf->nbits, page, mf->lower_len);
}

/* ... in the record now */
static int is_lower(const struct ps_file *f, uint64_t page, uint64_t lower_len)
{
	return is_lower_in(f->rec.bitmap, f->rec.nbits, page, lower_len);
}

/* Take the record's state as the one the maps show. */
static void snapshot(struct mapped_file *mf, uint64_t lower_len)
{
	memcpy(mf->bits, mf->f->rec.bitmap, (mf->nbits + 7) / 8);
	mf->lower_len = lower_len;
}

static struct mapped_file *file_new(struct ps_file *f)
{
	struct mapped_file *mf = calloc(1, sizeof(*mf));
	struct stat st;

	if (!mf)
		return NULL;
	if (f) {
		mf->nbits = f->rec.nbits;
		mf->bits = calloc(1, (mf->nbits + 7) / 8 + 1);
		mf->next_bits = calloc(1, (mf->nbits + 7) / 8 + 1);
		if (!mf->bits || !mf->next_bits) {
			free(mf->bits);
			free(mf->next_bits);
			free(mf);
			return NULL;
		}
		if (ps_sys->fstat(f->rec.fd, &st) == 0) {
			mf->rec_dev = st.st_dev;
			mf->rec_ino = st.st_ino;
		}
		ps_file_get(f);
		mf->f = f;
	}
	mf->next = files;
	files = mf;
	return mf;
}

static void file_free(struct mapped_file *mf)
{
	for (struct mapped_file **p = &files; *p; p = &(*p)->next)
		if (*p == mf) {
			*p = mf->next;
			break;
		}
	if (mf->f) {
		__atomic_store_n(&mf->f->mapped, 0, __ATOMIC_RELEASE);
		ps_file_put(mf->f);
	} else if (!mf->gone) {
		waiting--;
	}
	free(mf->path);
	free(mf->bits);
	free(mf->next_bits);
	free(mf);
}

/* f's maps: made through f, or through another struct ps_file of the same record (the file was renamed since,
 * and its new name looked up afresh). */
static struct mapped_file *file_of(struct ps_file *f)
{
	struct mapped_file *mf;
	struct stat st;
	int known = 0;

	for (mf = files; mf; mf = mf->next)
		if (mf->f == f)
			return mf;
	for (mf = files; mf; mf = mf->next) {
		if (!mf->f)
			continue;
		if (!known && (known = ps_sys->fstat(f->rec.fd, &st) == 0 ? 1 : -1) < 0)
			return NULL;
		if (mf->rec_ino == st.st_ino && mf->rec_dev == st.st_dev) {
			__atomic_store_n(&f->mapped, 1, __ATOMIC_RELEASE); /* f's calls follow the maps from now on */
			return mf;
		}
	}
	return NULL;
}

/* ---- the maps (sorted array) ---- */

/* Index of the first map that ends after addr. */
static size_t first_after(const char *addr)
{
	size_t lo = 0, hi = nmaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (maps[mid].base + maps[mid].len <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int insert_at(size_t i, const struct map *m)
{
	if (nmaps == maps_cap) {
		size_t cap = maps_cap ? 2 * maps_cap : 16;
		struct map *v = realloc(maps, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		maps = v;
		maps_cap = cap;
	}
	memmove(maps + i + 1, maps + i, (nmaps - i) * sizeof(*maps));
	maps[i] = *m;
	m->mf->nmaps++;
	count_tracked(m, 1);
	__atomic_store_n(&nmaps, nmaps + 1, __ATOMIC_RELEASE);
	return 0;
}

static int insert(const struct map *m)
{
	return insert_at(first_after(m->base), m);
}

static void remove_at(size_t i)
{
	struct mapped_file *mf = maps[i].mf;

	count_tracked(&maps[i], -1);
	memmove(maps + i, maps + i + 1, (nmaps - i - 1) * sizeof(*maps));
	__atomic_store_n(&nmaps, nmaps - 1, __ATOMIC_RELEASE);
	if (--mf->nmaps == 0)
		file_free(mf);
}

/* Make addr a boundary between maps (a map across it is split in two). 0 or -ENOMEM. */
static int split_at(char *addr)
{
	size_t i = first_after(addr);
	struct map tail;

	if (i == nmaps || maps[i].base >= addr)
		return 0;
	tail = maps[i];
	tail.base = addr;
	tail.len = (size_t)(maps[i].base + maps[i].len - addr);
	tail.off += (uint64_t)(addr - maps[i].base);
	if (insert_at(i + 1, &tail) < 0)
		return -ENOMEM;
	maps[i].len = (size_t)(addr - maps[i].base);
	return 0;
}

/* Split at both ends of [addr, addr+len) and return the index of its first map; *end gets one past its last. */
static int range(char *addr, size_t len, size_t *first, size_t *end)
{
	if (split_at(addr) < 0 || split_at(addr + len) < 0)
		return -ENOMEM;
	*first = first_after(addr);
	*end = first_after(addr + len);
	return 0;
}

static int overlaps(const char *addr, size_t len)
{
	size_t i = first_after(addr);

	return i < nmaps && maps[i].base < addr + len;
}

/* Forget the maps in [addr, addr+len): lock held. */
static void forget_locked(char *addr, size_t len)
{
	size_t first, end;

	len = PAGE_UP(len);
	if (!overlaps(addr, len))
		return;
	if (range(addr, len, &first, &end) < 0) { /* no memory to split: forget the whole maps */
		first = first_after(addr);
		end = first_after(addr + len - 1) + 1;
		end = end < nmaps ? end : nmaps;
	}
	while (end-- > first)
		remove_at(first);
}

void ps_maps_forget(void *addr, size_t len)
{
	pthread_mutex_lock(&maps_mutex);
	forget_locked(addr, len);
	pthread_mutex_unlock(&maps_mutex);
}

/* ---- keeping maps in step ---- */

/* Are the 64 bits from page (a multiple of 64) the same in now as in the maps' state? */
static int same_bits(const struct mapped_file *mf, const uint8_t *now, uint64_t page)
{
	return page + 64 <= mf->nbits && memcmp(mf->bits + page / 8, now + page / 8, 8) == 0;
}

/* Did page show the lower file in m? all_lower: m is a lower file's own map, where every page did. */
static int showed_lower(const struct map *m, uint64_t page, int all_lower)
{
	return all_lower || was_lower(m->mf, page);
}

/* Lay out again the pages of m that showed the lower file and no longer do in the state now (bits) and
 * lower_len. The state is a copy taken before: a page copied up meanwhile is laid out now or by the next
 * refresh, never claimed done without being laid out. */
static void relay(const struct map *m, struct ps_file *f, const uint8_t *now, uint64_t lower_len, int all_lower)
{
	uint64_t first = m->off / PAGE, npages = m->len / PAGE, nbits = m->mf->nbits;
	uint64_t both_lower = m->mf->lower_len < lower_len ? m->mf->lower_len : lower_len;

	for (uint64_t i = 0; i < npages;) {
		uint64_t j = i + 1;
		int rc;

		if (!all_lower && (first + i) % 64 == 0 && i + 64 <= npages && (first + i + 64) * PAGE <= both_lower &&
		    same_bits(m->mf, now, first + i)) {
			i += 64; /* 64 pages no bit of which changed: the common case of a big map */
			continue;
		}
		if (!showed_lower(m, first + i, all_lower) || is_lower_in(now, nbits, first + i, lower_len)) {
			i++;
			continue;
		}
		while (j < npages && showed_lower(m, first + j, all_lower) &&
		       !is_lower_in(now, nbits, first + j, lower_len))
			j++;
		rc = ps_map_layout(f, m->base + i * PAGE, (j - i) * PAGE, m->prot, m->flags, (off_t)((first + i) * PAGE));
		if (rc < 0)
			ps_error("%s: a memory map could not follow pages copied up: %s", f->path, strerror(-rc));
		i = j;
	}
}

/* A private map the program may have written is not laid out again (its pages may be its own copies), except
 * past the end of the file: a truncation takes even a private map's own copies of those pages away (the kernel's
 * rule), and no page there can have been written since. */
static void relay_past_end(const struct map *m, struct ps_file *f)
{
	off_t size = ps_merge_size(f);
	uint64_t end_page = PAGE_UP((uint64_t)(size < 0 ? 0 : size)) / PAGE, first = m->off / PAGE;
	uint64_t npages = m->len / PAGE, start = end_page > first ? end_page - first : 0;

	if (size >= 0 && start < npages &&
	    ps_map_layout(f, m->base + start * PAGE, (npages - start) * PAGE, m->prot, m->flags,
			  (off_t)((first + start) * PAGE)) < 0)
		ps_error("%s: a memory map could not follow a truncation", f->path);
}

static void refresh_locked(struct mapped_file *mf)
{
	struct ps_file *f = mf->f;
	uint64_t gen = ps_record_backing_gen(&f->rec), lower_len = ps_record_lower_len(&f->rec);
	uint8_t *now = mf->next_bits;

	memcpy(now, f->rec.bitmap, (mf->nbits + 7) / 8); /* after gen: a later change moves gen again */
	for (size_t i = 0; i < nmaps; i++) {
		if (maps[i].mf != mf)
			continue;
		if (maps[i].own_pages)
			relay_past_end(&maps[i], f);
		else
			relay(&maps[i], f, now, lower_len, 0);
	}
	mf->next_bits = mf->bits;
	mf->bits = now;
	mf->lower_len = lower_len;
	__atomic_store_n(&f->mapped_gen, gen, __ATOMIC_RELEASE);
}

/* Bring mf's maps up to date if a page changed hands since they were laid out (another process's copy-up). */
static void refresh_if_behind(struct mapped_file *mf)
{
	if (mf->f && ps_maps_behind(mf->f))
		refresh_locked(mf);
}

/* f's maps, brought up to date, or new ones taking the record's state now (NULL: no memory). */
static struct mapped_file *file_for(struct ps_file *f)
{
	struct mapped_file *mf = file_of(f);
	uint64_t gen;

	if (mf) {
		refresh_locked(mf);
		return mf;
	}
	gen = ps_record_backing_gen(&f->rec);
	if (!(mf = file_new(f)))
		return NULL;
	snapshot(mf, ps_record_lower_len(&f->rec));
	__atomic_store_n(&f->mapped_gen, gen, __ATOMIC_RELEASE);
	__atomic_store_n(&f->mapped, 1, __ATOMIC_RELEASE);
	return mf;
}

/* A waiting map of a file that was replaced goes on showing the old file, as a real map does: it waits no more.
 * (Its entries stay until it is unmapped: callers hold indexes into the registry across the engine's calls.) */
static void stop_waiting(struct mapped_file *w)
{
	w->gone = 1;
	waiting--;
}

/* Waiting lower maps of f's own lower file are f's from now on. Every page they show is the lower file's: the
 * pages that no longer are are laid out again - after f's state was taken, so that it never claims more. Found by
 * name first: the lower file's identity is asked only for a name that matches. */
static void adopt_waiting_locked(struct ps_file *f)
{
	struct mapped_file *mf = NULL, *next;
	struct stat st;
	int known = 0;

	for (struct mapped_file *w = files; w; w = next) {
		next = w->next;
		if (w->f || w->gone || strcmp(w->path, f->path))
			continue;
		if (!known)
			known = f->lower_fd >= 0 && ps_sys->fstat(f->lower_fd, &st) == 0 ? 1 : -1;
		if (known < 0 || w->ino != st.st_ino || w->dev != st.st_dev) {
			stop_waiting(w);
			continue;
		}
		if (!mf && !(mf = file_for(f)))
			return;
		for (size_t i = 0; i < nmaps; i++)
			if (maps[i].mf == w) {
				relay(&maps[i], f, mf->bits, mf->lower_len, 1);
				maps[i].mf = mf;
				mf->nmaps++;
				w->nmaps--;
			}
		file_free(w);
	}
	if (mf && mf->nmaps == 0)
		file_free(mf);
}

void ps_maps_refresh(struct ps_file *f)
{
	struct mapped_file *mf;

	pthread_mutex_lock(&maps_mutex);
	if (waiting)
		adopt_waiting_locked(f);
	if ((mf = file_of(f))) {
		refresh_locked(mf);
		__atomic_store_n(&f->mapped_gen, mf->f->mapped_gen, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&f->mapped, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&maps_mutex);
}

/* Any map may be of f's file (waiting for it, or made under another struct ps_file before a rename): while the
 * process keeps maps, every change it makes is looked up (one fstat when f is not the one the maps were made
 * through). */
static void changed_in_this_process(struct ps_file *f)
{
	if (ps_maps_any())
		ps_maps_refresh(f);
}

int ps_maps_waiting(void)
{
	return __atomic_load_n(&waiting, __ATOMIC_RELAXED) != 0;
}

static void init_once(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	pthread_atfork(maps_atfork_prepare, maps_atfork_parent, maps_atfork_child);
	__atomic_store_n(&ps_merge_changed, changed_in_this_process, __ATOMIC_RELEASE);
}

/* ---- making maps ---- */

void *ps_maps_map(struct ps_open *o, void *addr, size_t len, int prot, int flags, off_t off, int *err)
{
	struct ps_file *f = o->file;
	struct mapped_file *mf;
	struct map m = { .len = PAGE_UP(len), .off = (uint64_t)off, .prot = prot,
			 .flags = flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE),
			 .may_write = (o->flags & O_ACCMODE) == O_RDWR,
			 .own_pages = (flags & MAP_TYPE) == MAP_PRIVATE && (prot & PROT_WRITE) };
	void *p;

	pthread_mutex_lock(&maps_mutex);
	init_once();
	if (waiting)
		adopt_waiting_locked(f);
	/* The file's state taken (its other maps brought up to date) before the new map is laid out for it. */
	if (!(mf = file_for(f))) {
		pthread_mutex_unlock(&maps_mutex);
		*err = ENOMEM;
		return MAP_FAILED;
	}
	mf->nmaps++; /* held: forgetting what the new map replaces must not free it */
	m.mf = mf;
	if (tracked(&m) && ps_fault_arm() < 0 && (*err = -ps_merge_prepare_write(f, off, len)) != 0)
		p = MAP_FAILED; /* no fault handler: every page it covers copied up instead */
	else
		p = ps_map_reserve_and_lay_out(f, addr, len, prot, flags, off, err);
	if (p != MAP_FAILED || (flags & MAP_FIXED))
		forget_locked(p != MAP_FAILED ? p : addr, len); /* replaced, or gone with a failed MAP_FIXED */
	if (p != MAP_FAILED) {
		m.base = p;
		if (insert(&m) < 0)
			ps_error("%s: no memory to keep a map in step with the shadow", f->path);
	}
	if (--mf->nmaps == 0)
		file_free(mf);
	pthread_mutex_unlock(&maps_mutex);
	return p;
}

void ps_maps_add_lower(struct ps_open *o, int fd, void *addr, size_t len, off_t off, int prot, int flags)
{
	struct map m = { .base = addr, .len = PAGE_UP(len), .off = (uint64_t)off, .prot = prot,
			 .flags = flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE) };
	struct mapped_file *mf;
	struct stat st;

	if (ps_sys->fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&maps_mutex);
	init_once();
	forget_locked(addr, len);
	if ((mf = file_new(NULL))) {
		mf->path = strdup(o->path);
		mf->dev = st.st_dev;
		mf->ino = st.st_ino;
		mf->gone = !mf->path; /* without its name it cannot wait */
		waiting += !mf->gone;
		m.mf = mf;
		if (mf->gone || insert(&m) < 0)
			file_free(mf);
	}
	pthread_mutex_unlock(&maps_mutex);
}

/* ---- the wrappers ---- */

int munmap(void *addr, size_t len)
{
	int r;

	if (!ps_maps_any())
		return REAL(munmap)(addr, len);
	pthread_mutex_lock(&maps_mutex);
	r = REAL(munmap)(addr, len);
	if (r == 0) {
		int saved = errno;

		forget_locked(addr, len);
		errno = saved;
	}
	pthread_mutex_unlock(&maps_mutex);
	return r;
}

/* Can the maps in [first, end) take prot? A shared map made from a read-only descriptor cannot be made writable,
 * even where it shows the data file (which the shim opened for writing). 0 or -EACCES. */
static int may_protect(size_t first, size_t end, int prot)
{
	for (size_t i = first; i < end; i++)
		if ((prot & PROT_WRITE) && (maps[i].flags & MAP_TYPE) != MAP_PRIVATE && !maps[i].may_write)
			return -EACCES;
	return 0;
}

/* A private map takes prot as any map; a shared one is laid out again with it, since its lower pages stay
 * read-only whatever the program asks (their stores must fault: fault.c). */
static int protect_one(struct map *m, int prot)
{
	int shared = (m->flags & MAP_TYPE) != MAP_PRIVATE, rc;

	if (!shared || !m->mf->f) {
		if (REAL(mprotect)(m->base, m->len, prot) < 0)
			return -errno;
		m->own_pages |= !shared && (prot & PROT_WRITE);
		m->prot = prot;
		return 0;
	}
	if ((prot & PROT_WRITE) && (rc = ps_fault_arm()) < 0 &&
	    (rc = ps_merge_prepare_write(m->mf->f, (off_t)m->off, m->len)) < 0)
		return rc;
	if ((rc = ps_map_layout(m->mf->f, m->base, m->len, prot, m->flags, (off_t)m->off)) < 0)
		return rc;
	count_tracked(m, -1);
	m->prot = prot;
	count_tracked(m, 1);
	return 0;
}

/* mprotect over kept maps and whatever lies between them. */
static int protect_locked(char *addr, size_t len, int prot)
{
	size_t first, end;
	char *at = addr;
	int rc;

	if ((rc = range(addr, len, &first, &end)) < 0 || (rc = may_protect(first, end, prot)) < 0)
		return rc;
	for (size_t i = first; i <= end; i++) {
		char *next = i < end ? maps[i].base : addr + len;

		if (next > at && REAL(mprotect)(at, (size_t)(next - at), prot) < 0)
			return -errno;
		if (i == end)
			break;
		if ((rc = protect_one(&maps[i], prot)) < 0)
			return rc;
		at = maps[i].base + maps[i].len;
	}
	return 0;
}

int mprotect(void *addr, size_t len, int prot)
{
	int saved = errno, rc;

	if (!ps_maps_any() || (uintptr_t)addr % PAGE || len == 0)
		return REAL(mprotect)(addr, len, prot);
	len = PAGE_UP(len); /* as the kernel: whole pages */
	pthread_mutex_lock(&maps_mutex);
	if (!overlaps(addr, len)) {
		pthread_mutex_unlock(&maps_mutex);
		return REAL(mprotect)(addr, len, prot);
	}
	if (ps_enter()) {
		rc = protect_locked(addr, len, prot);
		ps_leave();
	} else {
		rc = REAL(mprotect)(addr, len, prot) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&maps_mutex);
	return (int)ps_ret(rc, saved);
}

/* msync also brings the maps in the range up to date with pages another process copied up (MS_INVALIDATE's
 * meaning, for any flags: it costs nothing when nothing changed). */
int msync(void *addr, size_t len, int flags)
{
	int r = REAL(msync)(addr, len, flags), saved = errno;
	size_t i;

	if (r < 0 || !ps_maps_any())
		return r;
	pthread_mutex_lock(&maps_mutex);
	for (i = first_after(addr); i < nmaps && maps[i].base < (char *)addr + len; i++)
		refresh_if_behind(maps[i].mf);
	pthread_mutex_unlock(&maps_mutex);
	errno = saved;
	return r;
}

/* MADV_REMOVE frees the range of a shared map of a descriptor open for writing, and its file reads zeros there:
 * the kernel refuses it on lower pages (mapped from the read-only lower file), so the shim punches the range in
 * the merged file (the engine shadows the pages as zeros) and the maps follow. Every other advice is the
 * kernel's. */
static int remove_locked(char *addr, size_t len)
{
	size_t first, end;
	int rc;

	if ((rc = range(addr, len, &first, &end)) < 0)
		return rc;
	for (size_t i = first; i < end; i++)
		if ((maps[i].flags & MAP_TYPE) == MAP_PRIVATE || !maps[i].may_write || !maps[i].mf->f)
			return -EACCES; /* the kernel's answer for a map that is not shared and may not be written */
	for (size_t i = first; i < end; i++)
		if ((rc = ps_merge_fallocate(maps[i].mf->f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					     (off_t)maps[i].off, (off_t)maps[i].len)) < 0)
			return rc;
	return 0;
}

int madvise(void *addr, size_t len, int advice)
{
	int saved = errno, rc;

	if (advice != MADV_REMOVE || !ps_maps_any() || (uintptr_t)addr % PAGE || len == 0)
		return REAL(madvise)(addr, len, advice);
	len = PAGE_UP(len);
	pthread_mutex_lock(&maps_mutex);
	if (!overlaps(addr, len) || !ps_enter()) {
		pthread_mutex_unlock(&maps_mutex);
		return REAL(madvise)(addr, len, advice);
	}
	rc = remove_locked(addr, len);
	ps_leave();
	pthread_mutex_unlock(&maps_mutex);
	return (int)ps_ret(rc, saved);
}

/* ---- mremap ---- */

/* Move [src, src+len) to dst (reserved) with mremap, halving a range the kernel refuses because it spans several
 * mappings (EFAULT) until each piece is one. 0 or -errno. */
static int move_pieces(char *src, char *dst, size_t len)
{
	size_t half;
	int rc;

	if (REAL(mremap)(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != MAP_FAILED)
		return 0;
	if (errno != EFAULT || len <= PAGE)
		return -errno;
	half = (size_t)((len / PAGE / 2) * PAGE);
	if ((rc = move_pieces(src, dst, half)) < 0)
		return rc;
	return move_pieces(src + half, dst + half, len - half);
}

/* The maps of [first, end) now start at dst: renumber them (they stay in order among themselves). */
static int rebase(size_t first, size_t end, char *old, char *dst)
{
	size_t n = end - first;
	struct map *moved = malloc(n * sizeof(*moved));

	if (!moved)
		return -ENOMEM;
	memcpy(moved, maps + first, n * sizeof(*moved));
	memmove(maps + first, maps + end, (nmaps - end) * sizeof(*maps));
	__atomic_store_n(&nmaps, nmaps - n, __ATOMIC_RELEASE);
	for (size_t i = 0; i < n; i++) {
		moved[i].base = dst + (moved[i].base - old);
		moved[i].mf->nmaps--; /* insert counts it again */
		count_tracked(&moved[i], -1);
		if (insert(&moved[i]) < 0) {
			moved[i].mf->nmaps++;
			count_tracked(&moved[i], 1);
			free(moved);
			return -ENOMEM;
		}
	}
	free(moved);
	return 0;
}

/* Grow the last map of a range (at index last, ending at tail) by grow bytes laid out at tail, which is free or
 * reserved (fixed). Returns 0, -EEXIST when tail is taken, or -errno. */
static int grow_tail(size_t last, char *tail, size_t grow, int fixed)
{
	struct map *m = &maps[last];
	int err = 0;
	void *p;

	if (!m->mf->f)
		return -EFAULT; /* a lower file's own map: one mapping, the kernel's mremap handles it */
	p = ps_map_reserve_and_lay_out(m->mf->f, tail, grow, m->prot,
				       m->flags | (fixed ? MAP_FIXED : MAP_FIXED_NOREPLACE), (off_t)(m->off + m->len), &err);
	if (p == MAP_FAILED)
		return -err;
	if (p != tail) { /* a kernel without MAP_FIXED_NOREPLACE put it elsewhere */
		REAL(munmap)(p, grow);
		return -EEXIST;
	}
	m->len += grow;
	return 0;
}

/* A lower file's own map is one mapping: the kernel moves and grows it; the registry follows. */
static void *remap_lower_locked(size_t first, char *old, size_t old_len, size_t new_len, int flags, char *fixed)
{
	struct map m = maps[first];
	void *p = REAL(mremap)(old, old_len, new_len, flags, fixed);

	if (p == MAP_FAILED)
		return p;
	m.mf->nmaps++; /* held while its maps are forgotten */
	forget_locked(old, old_len);
	forget_locked(p, new_len);
	m.base = p;
	m.len = new_len;
	if (insert(&m) < 0)
		ps_error("no memory to keep a map in step with the shadow");
	if (--m.mf->nmaps == 0)
		file_free(m.mf);
	return p;
}

/* mremap of kept maps: [old, old+old_len) must be covered by maps of one file without a gap. */
static void *remap_locked(char *old, size_t old_len, size_t new_len, int flags, char *fixed)
{
	size_t first, end, last;
	char *dst;
	int rc;

	if ((rc = range(old, old_len, &first, &end)) < 0)
		return errno = -rc, MAP_FAILED;
	if (end == first || maps[end - 1].base + maps[end - 1].len != old + old_len)
		return errno = EFAULT, MAP_FAILED;
	for (size_t i = first; i < end; i++)
		if (maps[i].base != (i == first ? old : maps[i - 1].base + maps[i - 1].len) || maps[i].mf != maps[first].mf)
			return errno = EFAULT, MAP_FAILED;
	if ((flags & MREMAP_FIXED) && (!(flags & MREMAP_MAYMOVE) || (uintptr_t)fixed % PAGE ||
				       (fixed < old + old_len && old < fixed + new_len)))
		return errno = EINVAL, MAP_FAILED;
	if (new_len == old_len && !(flags & MREMAP_FIXED))
		return old;
	if (!maps[first].mf->f)
		return remap_lower_locked(first, old, old_len, new_len, flags, fixed);
	if (new_len < old_len) {
		if (REAL(munmap)(old + new_len, old_len - new_len) < 0)
			return MAP_FAILED;
		forget_locked(old + new_len, old_len - new_len);
		old_len = new_len;
		end = first_after(old + old_len);
		if (!(flags & MREMAP_FIXED))
			return old;
	}
	last = end - 1;
	if (new_len > old_len && !(flags & MREMAP_FIXED)) {
		rc = grow_tail(last, old + old_len, new_len - old_len, 0);
		if (rc == 0)
			return old;
		if (rc != -EEXIST || !(flags & MREMAP_MAYMOVE))
			return errno = rc == -EEXIST ? ENOMEM : -rc, MAP_FAILED;
	}
	/* Moved: the destination reserved (replacing what was there, as the kernel's MREMAP_FIXED does), the pieces
	 * moved over it, the new tail laid out after them. */
	dst = REAL(mmap)(fixed, new_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (fixed ? MAP_FIXED : 0),
			 -1, 0);
	if (dst == MAP_FAILED)
		return MAP_FAILED;
	forget_locked(dst, new_len);
	first = first_after(old);
	end = first_after(old + old_len);
	if ((rc = move_pieces(old, dst, old_len)) < 0 || (rc = rebase(first, end, old, dst)) < 0) {
		ps_error("mremap of a map of a shadowed file failed half way: %s", strerror(-rc));
		forget_locked(old, old_len); /* neither range is what the registry says any more */
		forget_locked(dst, new_len);
		return errno = -rc, MAP_FAILED;
	}
	if (new_len > old_len && (rc = grow_tail(first_after(dst + old_len - 1), dst + old_len, new_len - old_len, 1)) < 0)
		return errno = -rc, MAP_FAILED;
	return dst;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	char *fixed = NULL;
	int saved = errno;
	va_list ap;
	void *p;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		fixed = va_arg(ap, char *);
		va_end(ap);
	}
	if (!ps_maps_any())
		return REAL(mremap)(old, old_len, new_len, flags, fixed);
	old_len = PAGE_UP(old_len);
	new_len = PAGE_UP(new_len);
	pthread_mutex_lock(&maps_mutex);
	if (!overlaps(old, old_len ? old_len : 1) || (flags & MREMAP_DONTUNMAP) || old_len == 0 || new_len == 0 ||
	    (uintptr_t)old % PAGE || !ps_enter()) {
		/* the kernel's: what it moved or replaced is no longer kept */
		p = REAL(mremap)(old, old_len, new_len, flags, fixed);
		if (p != MAP_FAILED) {
			int e = errno;

			if (p != old && !(flags & MREMAP_DONTUNMAP))
				forget_locked(old, old_len);
			forget_locked(p, new_len);
			errno = e;
		}
		pthread_mutex_unlock(&maps_mutex);
		return p;
	}
	p = remap_locked(old, old_len, new_len, flags, fixed);
	ps_leave();
	pthread_mutex_unlock(&maps_mutex);
	if (p != MAP_FAILED)
		errno = saved;
	return p;
}

/* ---- stores into lower pages of shared writable maps (fault.c) ---- */

/* Copy up the pages of [off, off+len) of m's file and bring the maps up to date: the pages are then the data
 * file's in every map, writable where the map is. */
static int copy_up_for_store(struct map *m, uint64_t off, uint64_t len)
{
	struct ps_file *f = m->mf->f;
	int rc = ps_merge_prepare_write(f, (off_t)off, len); /* maps laid out again by ps_merge_changed */

	if (rc < 0) {
		ps_error("%s: a store through a memory map needs its page copied up, which failed: %s", f->path,
			 strerror(-rc));
		return rc;
	}
	refresh_if_behind(m->mf); /* copied up by another process, not yet followed here */
	return 0;
}

/* The page this thread last took a fault on that was already the data file's (a race with another thread's
 * copy-up). A second fault there is not a store into a lower page (an instruction fetch, say): the program's. */
static __thread char *raced_page;

int ps_maps_write_fault(void *addr)
{
	char *a = addr, *page = a - (uintptr_t)a % PAGE;
	size_t i;
	int done = 0;

	pthread_mutex_lock(&maps_mutex);
	i = first_after(a);
	if (i < nmaps && maps[i].base <= a && tracked(&maps[i])) {
		uint64_t off = maps[i].off + (uint64_t)(page - maps[i].base);

		if (!is_lower(maps[i].mf->f, off / PAGE, ps_record_lower_len(&maps[i].mf->f->rec))) {
			if (raced_page == page) {
				raced_page = NULL;
				pthread_mutex_unlock(&maps_mutex);
				return 0;
			}
			raced_page = page;
		}
		/* and the page laid out here once more: were it left read-only, the store would fault for ever */
		done = copy_up_for_store(&maps[i], off, PAGE) == 0 &&
		       ps_map_layout(maps[i].mf->f, page, PAGE, maps[i].prot, maps[i].flags, (off_t)off) == 0 &&
		       !is_lower(maps[i].mf->f, off / PAGE, ps_record_lower_len(&maps[i].mf->f->rec));
	}
	pthread_mutex_unlock(&maps_mutex);
	return done;
}

void ps_maps_prefault_slow(void *buf, size_t n)
{
	char *start = (char *)((uintptr_t)buf & ~(uintptr_t)(PAGE - 1)), *end = (char *)buf + n;
	int saved = errno;

	pthread_mutex_lock(&maps_mutex);
	for (size_t i = first_after(start); i < nmaps && maps[i].base < end; i++) {
		char *from = maps[i].base > start ? maps[i].base : start;
		char *to = maps[i].base + maps[i].len < end ? maps[i].base + maps[i].len : end;

		if (tracked(&maps[i]))
			copy_up_for_store(&maps[i], maps[i].off + (uint64_t)(from - maps[i].base), (uint64_t)(to - from));
	}
	pthread_mutex_unlock(&maps_mutex);
	errno = saved;
}
