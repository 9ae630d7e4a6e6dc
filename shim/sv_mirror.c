/* sv_mirror.c - the copies a supervised program's shared maps of a partly shadowed file are made of (sv.h).
 *
 * A map of a partly shadowed file is a memfd copy of its merged bytes, lent to the program for its mmap
 * (sv_mmap.c). A shared map must show later writes to the file, and a writable one must carry its stores into
 * the file: its copy is kept, as the file's *mirror*. One mirror per file serves every shared map of it, in every
 * process of this supervisor, so that their loads and stores meet in one page cache as on a real file. Every write
 * the supervisor makes to the file is made to the mirror too (sv_map_write, sv_map_changed). A shimmed process's
 * write is not: a supervised program's shared map does not see it.
 *
 * A mirror that only read maps were lent holds the ranges they mapped. Once a map that can write (PROT_WRITE) is
 * lent it, it holds the whole file - a map can grow with mremap, and its stores there must not be lost - and a
 * base: a second memfd with what the file held where the two were last in step, kept with the copy through every
 * write. The runs of bytes where the copy differs from the base are the program's stores; the write-back
 * (mirror_write_back) writes them into the file through the shim - only the pages they fall in are copied up, and
 * a byte another process wrote beside them stays - and into the base. It runs for the range a call reads before
 * the call (read, pread, a private map's copy, sendfile from the file: a comparison as long as the read), and for
 * the whole file at fsync, msync, an exec of the file, when a process the mirror was lent to execs or exits (or
 * dies: sv_watch.c), and at the supervisor's end (64 MiB in about 15 ms here; the receive turn is handed over
 * first).
 *
 * A mirror goes when no process maps its copy any more - looked for in every process's maps, since a child
 * forked after the map holds it too - after its last known user exited, or when room is needed.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096ULL
#define MIRROR_MAX 64
#define USERS_MAX 32
#define BUF 65536
#define WHOLE ((uint64_t)INT64_MAX) /* a range's length: to the end, whatever the file's size */

static struct mirror {
	int copy;          /* the memfd; -1: a free slot */
	int base;          /* once a writable map was lent it: the file's bytes where the copy was last in step; -1 */
	int file;          /* the supervisor's own descriptor of the merged file (read-write once writable) */
	dev_t dev;         /* the file's data file: a write to it is known by these */
	ino_t ino;
	uint64_t off, len; /* the range the copy holds (a writable one: 0, WHOLE) */
	ino_t copy_ino;
	pid_t users[USERS_MAX]; /* the processes it was lent to; 0: none */
} mirrors[MIRROR_MAX] = { [0 ... MIRROR_MAX - 1] = { .copy = -1, .base = -1, .file = -1 } };
static int nmirrors, nwritable;
static pthread_mutex_t mirror_mutex = PTHREAD_MUTEX_INITIALIZER;
static char mine[BUF], was[BUF]; /* (under mirror_mutex) */

static uint64_t range_end(const struct mirror *m)
{
	return m->len >= WHOLE - m->off ? WHOLE : m->off + m->len;
}

static void mirror_free(struct mirror *m)
{
	REAL(close)(m->copy);
	if (m->base >= 0) {
		REAL(close)(m->base);
		nwritable--;
	}
	close(m->file); /* (opened through the shim, which forgets it so) */
	*m = (struct mirror){ .copy = -1, .base = -1, .file = -1 };
	nmirrors--;
}

int sv_copy_mapped(pid_t pid, ino_t ino)
{
	char path[64], line[512], want[64];
	int mapped = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	snprintf(want, sizeof(want), " %lu ", (unsigned long)ino);
	if (!(f = fopen(path, "re")))
		return -1;
	while (!mapped && fgets(line, sizeof(line), f))
		mapped = strstr(line, want) && strstr(line, "pageshadow-map");
	fclose(f);
	return mapped;
}

/* Does any process map the copy (inode ino)? Every process's maps that can be read are looked in. */
static int mapped_anywhere(ino_t ino)
{
	struct dirent *d;
	DIR *proc = opendir("/proc");
	int mapped = 0;

	if (!proc)
		return 1;
	while (!mapped && (d = readdir(proc)) != NULL)
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9')
			mapped = sv_copy_mapped((pid_t)atoi(d->d_name), ino) == 1;
	closedir(proc);
	return mapped;
}

/* The merged size of m's file, or -1. */
static int64_t file_size(const struct mirror *m)
{
	struct stat st;

	return fstat(m->file, &st) < 0 ? -1 : (int64_t)st.st_size; /* (through the shim: the merged size) */
}

/* n bytes at pos into the copy and, once there is one, the base. 0, or -1 when one fell short. */
static int keep(const struct mirror *m, const void *bytes, size_t n, uint64_t pos)
{
	if (pwrite(m->copy, bytes, n, (off_t)pos) != (ssize_t)n)
		return -1;
	return m->base < 0 || pwrite(m->base, bytes, n, (off_t)pos) == (ssize_t)n ? 0 : -1;
}

/* Make the copy (and base) hold the file's merged bytes in [from, to) of its range. Lock held. */
static void refresh(struct mirror *m, uint64_t from, uint64_t to, uint64_t size)
{
	from = from > m->off ? from : m->off;
	to = to < range_end(m) ? to : range_end(m);
	to = to < size ? to : size;
	while (from < to) {
		size_t want = to - from < BUF ? (size_t)(to - from) : BUF;
		ssize_t n = pread(m->file, mine, want, (off_t)from);

		if (n <= 0 || keep(m, mine, (size_t)n, from) < 0) {
			ps_debug("supervisor: a shared map's copy cannot follow its file: %s", strerror(errno));
			return;
		}
		from += (uint64_t)n;
	}
}

/* The copy (and base) take the file's size; what the file grew by is read from it - the zeros a real file would
 * show there, not what a map stored past the old end. The size, or -1. Lock held. */
static int64_t resize(struct mirror *m)
{
	int64_t size = file_size(m);
	off_t old = lseek(m->copy, 0, SEEK_END);

	if (size < 0 || old < 0 || size == old)
		return size;
	if (ftruncate(m->copy, size) < 0 || (m->base >= 0 && ftruncate(m->base, size) < 0))
		ps_debug("supervisor: a shared map's copy cannot follow its file's size: %s", strerror(errno));
	if (size > old) /* (the bytes a map stored past the old end, in its last page, go too) */
		refresh(m, (uint64_t)old, (uint64_t)size, (uint64_t)size);
	return size;
}

/* n bytes the file now holds at pos, into m's copy (and base), within its range. Lock held. */
static void put(struct mirror *m, const void *bytes, uint64_t pos, uint64_t n)
{
	uint64_t old = (uint64_t)lseek(m->copy, 0, SEEK_END), from = pos > m->off ? pos : m->off;
	uint64_t to = pos + n < range_end(m) ? pos + n : range_end(m);
	const char *b = (const char *)bytes + (from - pos);

	if (pos + n > old) { /* (the file grew: what lies past the old end is read from it) */
		resize(m);
		to = to < old ? to : old;
	}
	if (from < to && keep(m, b, to - from, from) < 0)
		refresh(m, from, to, to);
}

/* The runs of bytes where mine differs from was (n of them, at pos), written into the file through the shim and
 * into the base. -1 when the file refused: the run stays a difference, tried again next time. */
static int store_runs(struct mirror *m, uint64_t pos, size_t at, size_t n)
{
	for (size_t i = at, j; i < at + n; i = j) {
		if (mine[i] == was[i]) {
			j = i + 1;
			continue;
		}
		for (j = i; j < at + n && mine[j] != was[j]; j++)
			;
		if (pwrite(m->file, mine + i, j - i, (off_t)(pos + i)) != (ssize_t)(j - i)) {
			ps_error("supervisor: stores through a shared map of a partly shadowed file cannot reach the "
				 "shadow: %s (kept, tried again later)", strerror(errno));
			return -1;
		}
		if (pwrite(m->base, mine + i, j - i, (off_t)(pos + i)) < 0)
			ps_debug("supervisor: a shared map's base: %s", strerror(errno));
	}
	return 0;
}

/* The program's stores through the maps of writable mirror m in [from, to) - where its copy differs from its
 * base - carried into the file. Lock held. */
static void write_back(struct mirror *m, uint64_t from, uint64_t to)
{
	int64_t size = file_size(m);

	to = size < 0 ? 0 : to < (uint64_t)size ? to : (uint64_t)size;
	for (uint64_t at = from & ~(PAGE - 1); at < to;) {
		size_t want = to - at < BUF ? (size_t)(to - at) : BUF;
		ssize_t n = pread(m->copy, mine, want, (off_t)at);

		if (n <= 0 || pread(m->base, was, (size_t)n, (off_t)at) != n)
			return;
		for (size_t p = 0; p < (size_t)n; p += PAGE) {
			size_t len = (size_t)n - p < PAGE ? (size_t)n - p : PAGE;

			if (memcmp(mine + p, was + p, len) != 0 && store_runs(m, at, p, len) < 0)
				return;
		}
		at += (uint64_t)n;
	}
}

/* The mirror of the file whose data file is st. Lock held. */
static struct mirror *mirror_of(const struct stat *st)
{
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].copy >= 0 && mirrors[i].dev == st->st_dev && mirrors[i].ino == st->st_ino)
			return &mirrors[i];
	return NULL;
}

int sv_mirror_held(int s)
{
	struct stat st;
	int held;

	if (!__atomic_load_n(&nmirrors, __ATOMIC_RELAXED) || REAL(fstat)(s, &st) < 0)
		return 0;
	pthread_mutex_lock(&mirror_mutex);
	held = mirror_of(&st) != NULL;
	pthread_mutex_unlock(&mirror_mutex);
	return held;
}

/* A writable mirror's stores in [from, to) are in its file before a call that reads them: the caller's receive
 * turn is handed over first when the comparison takes a while. */
#define LONG_SYNC (1U << 20)
static void sync_before(const struct sv_call *c, struct mirror *m, uint64_t from, uint64_t to)
{
	if (c && to - from > LONG_SYNC)
		sv_turn_release(c);
	write_back(m, from, to);
}

/* The position of a write of n bytes at s's offset, which it moved past them. */
static uint64_t written_at(int s, ssize_t n)
{
	return (uint64_t)REAL(syscall)(SYS_lseek, s, 0, SEEK_CUR) - (uint64_t)n;
}

static ssize_t write_at(int s, const void *bytes, size_t n, off_t off)
{
	return off < 0 ? write(s, bytes, n) : pwrite(s, bytes, n, off);
}

ssize_t sv_map_write(int s, const void *bytes, size_t n, off_t off)
{
	struct stat st;
	struct mirror *m;
	ssize_t r;

	if (!__atomic_load_n(&nmirrors, __ATOMIC_RELAXED) || REAL(fstat)(s, &st) < 0) {
		r = write_at(s, bytes, n, off);
		if (r <= 0 || !__atomic_load_n(&nmirrors, __ATOMIC_RELAXED) || REAL(fstat)(s, &st) < 0)
			return r;
		pthread_mutex_lock(&mirror_mutex); /* (a mirror made meanwhile may have copied the file before it) */
	} else {
		/* The write and its copy into the mirror under one lock: a write-back between them would put a store the
		 * write replaced back into the file, where the mirror would then hold the write's bytes. */
		pthread_mutex_lock(&mirror_mutex);
		r = write_at(s, bytes, n, off);
	}
	if (r > 0 && (m = mirror_of(&st)) != NULL)
		put(m, bytes, off < 0 ? written_at(s, r) : (uint64_t)off, (uint64_t)r);
	pthread_mutex_unlock(&mirror_mutex);
	return r;
}

/* m's file changed in [from, to) and perhaps in size, by a call that did not say how: that range of the copy is
 * read again - a store made there before the call was overwritten by it - and the stores elsewhere stay, to be
 * written back. Lock held. */
static void changed(struct mirror *m, uint64_t from, uint64_t to)
{
	int64_t size = resize(m);

	if (from < to && size >= 0)
		refresh(m, from, to, (uint64_t)size);
}

void sv_map_changed(int s, uint64_t from, uint64_t to)
{
	struct stat st;

	if (!__atomic_load_n(&nmirrors, __ATOMIC_RELAXED) || (s >= 0 && REAL(fstat)(s, &st) < 0))
		return;
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].copy >= 0 && (s < 0 || (mirrors[i].dev == st.st_dev && mirrors[i].ino == st.st_ino)))
			changed(&mirrors[i], from, to);
	pthread_mutex_unlock(&mirror_mutex);
}

void sv_map_sync_file(const struct sv_call *c, int s, uint64_t from, uint64_t to)
{
	struct stat st;
	struct mirror *m;

	if (!__atomic_load_n(&nwritable, __ATOMIC_RELAXED) || from >= to || REAL(fstat)(s, &st) < 0)
		return;
	pthread_mutex_lock(&mirror_mutex);
	if ((m = mirror_of(&st)) != NULL && m->base >= 0)
		sync_before(c, m, from, to);
	pthread_mutex_unlock(&mirror_mutex);
}

static int user_of(const struct mirror *m, pid_t tgid)
{
	for (int u = 0; u < USERS_MAX; u++)
		if (m->users[u] == tgid)
			return u;
	return -1;
}

static int has_users(const struct mirror *m)
{
	for (int u = 0; u < USERS_MAX; u++)
		if (m->users[u])
			return 1;
	return 0;
}

/* The stores of the mirrors lent to tgid reach their files; leaves: it is no user of them any more (it exits);
 * gone: it has exited, and a mirror without users that no process maps any more goes. */
static void process_done(const struct sv_call *c, pid_t tgid, int leaves, int gone)
{
	if (!__atomic_load_n(&nmirrors, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++) {
		struct mirror *m = &mirrors[i];
		int u;

		if (m->copy < 0)
			continue;
		/* (a child forked after a map holds it too, unknown to the mirror: its maps say) */
		u = user_of(m, tgid);
		if (u >= 0 || (c && m->base >= 0 && sv_copy_mapped(c->pid, m->copy_ino) == 1)) {
			if (m->base >= 0)
				sync_before(c, m, 0, UINT64_MAX);
			if (leaves && u >= 0)
				m->users[u] = 0;
		}
		if (gone && !has_users(m) && !mapped_anywhere(m->copy_ino))
			mirror_free(m);
	}
	pthread_mutex_unlock(&mirror_mutex);
}

void sv_map_sync_process(const struct sv_call *c)
{
	if (__atomic_load_n(&nwritable, __ATOMIC_RELAXED))
		process_done(c, sv_tgid_of(c->pid), 0, 0);
}

void sv_mirror_process_exits(const struct sv_call *c)
{
	process_done(c, sv_tgid_of(c->pid), 1, 0); /* (its maps are there until it is gone) */
}

void sv_mirror_process_gone(pid_t tgid)
{
	process_done(NULL, tgid, 1, 1);
}

void sv_map_end(void)
{
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].base >= 0)
			write_back(&mirrors[i], 0, UINT64_MAX);
	pthread_mutex_unlock(&mirror_mutex);
}

/* A memfd named name as large as the file s (its merged size, through the shim), holding its bytes in
 * [off, off + len). Its descriptor, or -errno. */
static int memfd_copy(const struct sv_call *c, const char *name, int s, uint64_t off, uint64_t len)
{
	struct stat st;
	uint64_t end;
	int copy;

	if (fstat(s, &st) < 0)
		return -errno;
	if ((copy = (int)REAL(syscall)(SYS_memfd_create, name, MFD_CLOEXEC)) < 0)
		return -errno;
	if (ftruncate(copy, st.st_size) < 0)
		goto fail;
	end = len >= WHOLE - off || off + len > (uint64_t)st.st_size ? (uint64_t)st.st_size : off + len;
	for (uint64_t at = off; at < end;) {
		size_t want = end - at < c->bufsz ? (size_t)(end - at) : c->bufsz;
		ssize_t n = pread(s, c->buf, want, (off_t)at); /* (through the shim: merged) */

		if (n <= 0 || pwrite(copy, c->buf, (size_t)n, (off_t)at) != n) {
			if (n == 0)
				errno = EIO; /* shorter than its size said */
			goto fail;
		}
		at += (uint64_t)n;
	}
	return copy;
fail:;
	int e = errno;

	REAL(close)(copy);
	return -e;
}

int sv_merged_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len)
{
	return memfd_copy(c, "pageshadow-map", s, off, len); /* (sv_copy_mapped looks for the name) */
}

/* The supervisor's own descriptor of s's merged file, for a mirror: reopened (its offset and flags its own), or,
 * where the file's permissions no longer let it be opened so (the program opened it before a chmod), another
 * descriptor of s when that one's writes land where they are aimed (no O_APPEND). */
static int own_file(int s, int writable)
{
	char self[32];
	int f;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", s);
	if ((f = open(self, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)) >= 0) /* (a merged reopen: the shim) */
		return f;
	if (errno != EACCES || (fcntl(s, F_GETFL) & O_APPEND))
		return -errno;
	return (f = fcntl(s, F_DUPFD_CLOEXEC, 0)) < 0 ? -errno : f;
}

/* A free slot; when there is none, a mirror no process maps goes (its stores written back first). Lock held. */
static struct mirror *slot(void)
{
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].copy < 0)
			return &mirrors[i];
	for (int i = 0; i < MIRROR_MAX; i++)
		if (!mapped_anywhere(mirrors[i].copy_ino)) {
			if (mirrors[i].base >= 0)
				write_back(&mirrors[i], 0, UINT64_MAX);
			mirror_free(&mirrors[i]);
			return &mirrors[i];
		}
	return NULL;
}

/* m holds [off, off + len) too - the whole file when writable, with a base from then on. 0 or -errno. Lock held. */
static int grow(const struct sv_call *c, struct mirror *m, int s, uint64_t off, uint64_t len, int writable)
{
	uint64_t from = m->off, to = range_end(m);
	int64_t size;
	int f;

	if (writable && m->base < 0) {
		if ((f = own_file(s, 1)) < 0)
			return f;
		close(m->file);
		m->file = f;
		off = 0, len = WHOLE;
	}
	m->off = off < from ? off : from;
	m->len = (len >= WHOLE - off || off + len > to ? (len >= WHOLE - off ? WHOLE : off + len) : to) - m->off;
	if ((size = file_size(m)) < 0)
		return -errno;
	refresh(m, m->off, from, (uint64_t)size); /* (outside every map so far: nothing was stored there) */
	refresh(m, to, range_end(m), (uint64_t)size);
	if (writable && m->base < 0) {
		if ((m->base = memfd_copy(c, "pageshadow-base", m->copy, 0, WHOLE)) < 0) {
			int e = m->base;

			m->base = -1;
			return e;
		}
		nwritable++;
	}
	return 0;
}

/* A new mirror of s's file (data file st), holding [off, off + len) - the whole file when writable. Lock held. */
static int make(const struct sv_call *c, struct mirror *m, int s, const struct stat *st, uint64_t off, uint64_t len,
		int writable)
{
	struct mirror made = { .copy = -1, .base = -1, .file = -1, .dev = st->st_dev, .ino = st->st_ino,
			       .off = writable ? 0 : off, .len = writable ? WHOLE : len };
	struct stat cst;
	int rc = made.copy = sv_merged_copy(c, s, made.off, made.len);

	if (rc >= 0 && REAL(fstat)(made.copy, &cst) < 0)
		rc = -errno;
	if (rc >= 0 && (rc = made.file = own_file(s, writable)) >= 0 && writable)
		rc = made.base = memfd_copy(c, "pageshadow-base", made.copy, 0, WHOLE);
	if (rc < 0) {
		if (made.copy >= 0)
			REAL(close)(made.copy);
		if (made.file >= 0)
			close(made.file);
		return rc;
	}
	made.copy_ino = cst.st_ino;
	*m = made;
	nmirrors++;
	nwritable += writable;
	return 0;
}

int sv_mirror_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len, int writable)
{
	pid_t tgid = sv_tgid_of(c->pid);
	struct mirror *m;
	struct stat st;
	int rc, u;

	if (REAL(fstat)(s, &st) < 0)
		return -errno;
	pthread_mutex_lock(&mirror_mutex);
	if ((m = mirror_of(&st)) != NULL) {
		rc = grow(c, m, s, off, len, writable);
	} else if (!(m = slot())) {
		rc = -ENOMEM;
		ps_refusal("supervisor: process %d maps a partly shadowed file shared: more than %d files are mapped "
			   "so at once (ENOMEM)", (int)c->pid, MIRROR_MAX);
	} else {
		rc = make(c, m, s, &st, off, len, writable);
	}
	if (rc == 0 && user_of(m, tgid) < 0 && (u = user_of(m, 0)) >= 0) {
		m->users[u] = tgid;
		if (sv_watch(tgid) < 0)
			ps_debug("supervisor: process %d cannot be watched: its stores wait for its exit_group", (int)tgid);
	}
	if (rc == 0 && (rc = (int)REAL(fcntl)(m->copy, F_DUPFD_CLOEXEC, 0)) < 0)
		rc = -errno;
	pthread_mutex_unlock(&mirror_mutex);
	return rc;
}
