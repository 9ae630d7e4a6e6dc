/* sv_mmap.c - maps of a partly shadowed file in a supervised program (sv.h).
 *
 * The kernel maps the file the program's descriptor is - the supervisor's description of the data file, whose
 * pages the shadow never wrote are holes - and a notification cannot change the call's descriptor number. So the
 * supervisor copies the merged bytes of the mapped range into a memfd as large as the merged file (the rest a
 * hole), lends it to the program at that number for the call (ADDFD with SETFD: the supervisor's own description
 * stays in its entry) and lets the call go on.
 *
 * A private map (MAP_PRIVATE) is then the merged bytes as they are at the map, which POSIX allows a private map to
 * be; a later write through a descriptor is not seen in it (Linux would show it in the pages the program has not
 * written through the map). A shared map must show later writes: its copy is kept (a mirror) and every write the
 * supervisor makes to the file - any supervised process's write, pwrite, truncation, sendfile into it - is made to
 * the mirror too. A shimmed process's write is not: a shared map in a supervised program does not see it. A shared
 * map that writes (PROT_WRITE) makes the file's one writable mirror, lent to every later shared map of the file;
 * its stores are carried into the file - only the bytes that changed, so only their pages are copied up - before
 * the next call on the file by any supervised process, at msync, at the exec or exit of a process that maps it and
 * at the supervisor's end; a process outside the supervised tree (a shimmed parent) sees them from then on. A
 * read-only map's mirror goes with the process that mapped it, or when its map is gone and room is needed; a
 * writable one stays until the supervisor ends.
 *
 * The number is given back at the program's next call on it: every call on a number from the threshold up (and
 * on 0-2 and the low numbers) is sent, and sv_fd_get/sv_fd_closed ask here first - in whichever process holds the
 * copy there (a child forked in between too). A call from another thread of the mapping process may come before
 * the map is made: the copy then stays until the map shows in /proc/PID/maps or the thread has left mmap.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL
#define LENT_MAX 256
#define RETIRED_MAX 256
#define RESERVED (-2)
#define GIVE_BACK_WAIT_MAX 20000 /* 100 us each: 2 s */
#define MIRROR_MAX 64
#define REFRESH_BUF 65536

/* A number lent to a copy. */
static struct lent {
	int number;
	int copy;    /* the supervisor's descriptor of the copy's description, the program's at number; -1: a free
		      * slot; RESERVED: a copy being made (another map of the number waits) */
	int file;    /* the supervisor's descriptor of the merged file's description, to give back */
	int cloexec;
	pid_t tid;   /* the thread that maps */
	dev_t dev;   /* the copy's inode, to find the map in /proc/PID/maps */
	ino_t ino;
} lent[LENT_MAX] = { [0 ... LENT_MAX - 1] = { .copy = -1 } };
static int nlent;
static pthread_mutex_t lent_mutex = PTHREAD_MUTEX_INITIALIZER;

/* A copy given back in the mapping process, which a child forked in between may still hold at its number: known
 * by its inode (the supervisor lets go of the copy itself), and the file to give back there. A ring: the oldest
 * goes first. */
static struct retired {
	int number;
	int file; /* -1: a free slot */
	int cloexec;
	dev_t dev;
	ino_t ino;
} retired[RETIRED_MAX] = { [0 ... RETIRED_MAX - 1] = { .file = -1 } };
static unsigned retired_next;
static int nretired;

/* l is given back (or its process is gone): keep what a child needs to give it back too. Lock held. */
static void lent_retire(struct lent *l)
{
	struct retired *r = &retired[retired_next++ % RETIRED_MAX];

	if (r->file >= 0)
		REAL(close)(r->file);
	else
		nretired++;
	*r = (struct retired){ .number = l->number, .file = l->file, .cloexec = l->cloexec, .dev = l->dev,
			       .ino = l->ino };
	REAL(close)(l->copy);
	l->copy = -1;
	nlent--;
}

/* A memfd as large as the merged file s, holding its merged bytes in [off, off + len). Its descriptor, or -errno. */
static int merged_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len)
{
	struct stat st;
	uint64_t end;
	int copy;

	if (fstat(s, &st) < 0) /* through the shim: the merged size */
		return -errno;
	if ((copy = (int)REAL(syscall)(SYS_memfd_create, "pageshadow-map", MFD_CLOEXEC)) < 0)
		return -errno;
	if (ftruncate(copy, st.st_size) < 0)
		goto fail;
	end = off + len < off || off + len > (uint64_t)st.st_size ? (uint64_t)st.st_size : off + len;
	for (uint64_t at = off; at < end;) {
		size_t want = end - at < c->bufsz ? (size_t)(end - at) : c->bufsz;
		ssize_t n = pread(s, c->buf, want, (off_t)at); /* through the shim: merged */

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

/* The copy of a shared map, kept in step with the supervisor's writes to its file. A writable one (made for a map
 * with PROT_WRITE) is the file's only one: every later shared map of the file is lent it, so that their stores and
 * loads meet in one page cache as on a real file. Its base holds the file's bytes where the two were last in step:
 * where the copy differs from it are the program's stores, carried into the file at the next call on the file, an
 * msync, an exec or exit of a process that maps it, and the supervisor's end (mirror_write_back). It stays until
 * the supervisor ends: a child forked after the map may store into it when its mapper is gone. */
static struct mirror {
	int copy;      /* the memfd, writable; -1: a free slot */
	int base;      /* a writable mirror's base (a memfd); -1: a read-only map's mirror */
	int file;      /* the supervisor's descriptor of the merged file (a description of its own; O_RDWR for a
			* writable mirror) */
	dev_t dev;     /* the file's data file, to know a write to it */
	ino_t ino;
	uint64_t off, len; /* the mapped range (of every map a writable mirror was lent to) */
	pid_t tid;     /* the thread that mapped it first */
	ino_t copy_ino;
} mirrors[MIRROR_MAX] = { [0 ... MIRROR_MAX - 1] = { .copy = -1, .base = -1 } };
static int nmirrors, nwritable;
static pthread_mutex_t mirror_mutex = PTHREAD_MUTEX_INITIALIZER;

static void mirror_free(struct mirror *m)
{
	REAL(close)(m->copy);
	if (m->base >= 0)
		REAL(close)(m->base);
	close(m->file); /* (opened through the shim, which forgets it so) */
	m->copy = m->base = -1;
	nmirrors--;
}

/* Does the process of tid map the copy (inode ino)? 1, 0, or -1 when its maps cannot be read (it is gone). */
static int copy_mapped(pid_t tid, ino_t ino)
{
	char path[64], line[512], want[64];
	int mapped = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	snprintf(want, sizeof(want), " %lu ", (unsigned long)ino);
	if (!(f = fopen(path, "re")))
		return -1;
	while (!mapped && fgets(line, sizeof(line), f))
		mapped = strstr(line, want) && strstr(line, "pageshadow-map");
	fclose(f);
	return mapped;
}

/* Make the mirror's copy (and base) hold the merged bytes of [from, to) of its range again, and the file's size.
 * Lock held. */
static void mirror_refresh(struct mirror *m, uint64_t from, uint64_t to)
{
	static char buf[REFRESH_BUF]; /* (under mirror_mutex) */
	struct stat st;

	if (fstat(m->file, &st) < 0) /* through the shim: the merged size */
		return;
	if (ftruncate(m->copy, st.st_size) < 0 || (m->base >= 0 && ftruncate(m->base, st.st_size) < 0))
		ps_debug("supervisor: a shared map's copy cannot follow its file's size: %s", strerror(errno));
	from = from > m->off ? from : m->off;
	to = to < m->off + m->len ? to : m->off + m->len;
	to = to < (uint64_t)st.st_size ? to : (uint64_t)st.st_size;
	while (from < to) {
		size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
		ssize_t n = pread(m->file, buf, want, (off_t)from);

		if (n <= 0 || pwrite(m->copy, buf, (size_t)n, (off_t)from) != n ||
		    (m->base >= 0 && pwrite(m->base, buf, (size_t)n, (off_t)from) != n))
			return;
		from += (uint64_t)n;
	}
}

/* n bytes the file now holds at pos, into m's copy (and base), within its range; its size follows. Lock held. */
static void mirror_put(struct mirror *m, const void *bytes, uint64_t pos, uint64_t n)
{
	uint64_t from = pos > m->off ? pos : m->off, to = pos + n < m->off + m->len ? pos + n : m->off + m->len;
	const char *b = (const char *)bytes + (from - pos);

	if (from < to && (pwrite(m->copy, b, to - from, (off_t)from) < 0 ||
			  (m->base >= 0 && pwrite(m->base, b, to - from, (off_t)from) < 0)))
		mirror_refresh(m, from, to);
	if (pos + n > m->off + m->len || pos + n > (uint64_t)lseek(m->copy, 0, SEEK_END))
		mirror_refresh(m, m->off + m->len, m->off + m->len); /* (the size only) */
}

/* n bytes written at pos of m's file: into the file's other mirrors. Lock held. */
static void others_put(const struct mirror *m, const void *bytes, uint64_t pos, uint64_t n)
{
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].copy >= 0 && &mirrors[i] != m && mirrors[i].dev == m->dev && mirrors[i].ino == m->ino)
			mirror_put(&mirrors[i], bytes, pos, n);
}

/* The runs of bytes where mine differs from was (n of them, at pos of the file), written into the file through
 * the shim - only the pages they fall in are copied up, and bytes another process wrote beside them stay - and
 * into base and the file's other mirrors. -1 when the file refused (the run stays a difference: tried again). */
static int store_runs(struct mirror *m, const char *mine, const char *was, uint64_t pos, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		if (mine[i] == was[i]) {
			j = i + 1;
			continue;
		}
		for (j = i; j < n && mine[j] != was[j]; j++)
			;
		if (pwrite(m->file, mine + i, j - i, (off_t)(pos + i)) != (ssize_t)(j - i)) {
			ps_error("supervisor: stores through a shared map of a partly shadowed file cannot reach the "
				 "shadow: %s (kept, tried again at the next call on the file)", strerror(errno));
			return -1;
		}
		if (pwrite(m->base, mine + i, j - i, (off_t)(pos + i)) < 0)
			ps_debug("supervisor: a shared map's base: %s", strerror(errno));
		others_put(m, mine + i, pos + i, j - i);
	}
	return 0;
}

/* The program's stores through the maps of writable mirror m - where its copy differs from its base - carried
 * into the file. Lock held. */
static void mirror_write_back(struct mirror *m)
{
	static char mine[REFRESH_BUF], was[REFRESH_BUF]; /* (under mirror_mutex) */
	struct stat st;
	uint64_t end;

	if (fstat(m->file, &st) < 0) /* (stores past a new end went with the truncation, as on a real file) */
		return;
	end = m->off + m->len < (uint64_t)st.st_size ? m->off + m->len : (uint64_t)st.st_size;
	for (uint64_t at = m->off; at < end;) {
		size_t want = end - at < sizeof(mine) ? (size_t)(end - at) : sizeof(mine);
		ssize_t n = pread(m->copy, mine, want, (off_t)at);

		if (n <= 0 || pread(m->base, was, (size_t)n, (off_t)at) != n)
			return;
		for (size_t p = 0; p < (size_t)n; p += PAGE) {
			size_t len = (size_t)n - p < PAGE ? (size_t)n - p : PAGE;

			if (memcmp(mine + p, was + p, len) != 0 && store_runs(m, mine + p, was + p, at + p, len) < 0)
				return;
		}
		at += (uint64_t)n;
	}
}

void sv_map_written(int s, const void *bytes, uint64_t pos, int64_t n)
{
	struct stat st;

	if (!__atomic_load_n(&nmirrors, __ATOMIC_RELAXED))
		return;
	if (s >= 0 && REAL(fstat)(s, &st) < 0)
		return;
	if (bytes && pos == UINT64_MAX) /* a write at the description's offset, which it moved past the bytes */
		pos = (uint64_t)REAL(syscall)(SYS_lseek, s, 0, SEEK_CUR) - (uint64_t)n;
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++) {
		struct mirror *m = &mirrors[i];

		if (m->copy < 0 || (s >= 0 && (m->dev != st.st_dev || m->ino != st.st_ino)))
			continue;
		if (n >= 0 && bytes) {
			mirror_put(m, bytes, pos, (uint64_t)n);
			continue;
		}
		if (m->base >= 0) /* (a truncation: the stores below the new end are kept, as on a real file) */
			mirror_write_back(m);
		mirror_refresh(m, 0, UINT64_MAX);
	}
	pthread_mutex_unlock(&mirror_mutex);
}

void sv_map_sync_file(int s)
{
	struct stat st;

	if (!__atomic_load_n(&nwritable, __ATOMIC_RELAXED) || REAL(fstat)(s, &st) < 0)
		return;
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].base >= 0 && mirrors[i].dev == st.st_dev && mirrors[i].ino == st.st_ino)
			mirror_write_back(&mirrors[i]);
	pthread_mutex_unlock(&mirror_mutex);
}

void sv_map_sync_process(const struct sv_call *c)
{
	if (!__atomic_load_n(&nwritable, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].base >= 0 && copy_mapped(c->pid, mirrors[i].copy_ino) != 0)
			mirror_write_back(&mirrors[i]);
	pthread_mutex_unlock(&mirror_mutex);
}

void sv_map_end(void)
{
	pthread_mutex_lock(&mirror_mutex);
	for (int i = 0; i < MIRROR_MAX; i++)
		if (mirrors[i].base >= 0)
			mirror_write_back(&mirrors[i]);
	pthread_mutex_unlock(&mirror_mutex);
}

/* A second memfd with copy's size and its bytes in [off, off + len). Its descriptor, or -errno. */
static int memfd_clone(const struct sv_call *c, int copy, uint64_t off, uint64_t len)
{
	int clone = (int)REAL(syscall)(SYS_memfd_create, "pageshadow-base", MFD_CLOEXEC);
	off_t size = lseek(copy, 0, SEEK_END);

	if (clone < 0)
		return -errno;
	if (size < 0 || ftruncate(clone, size) < 0)
		goto fail;
	for (uint64_t at = off, end = off + len < (uint64_t)size ? off + len : (uint64_t)size; at < end;) {
		size_t want = end - at < c->bufsz ? (size_t)(end - at) : c->bufsz;
		ssize_t n = pread(copy, c->buf, want, (off_t)at);

		if (n <= 0 || pwrite(clone, c->buf, (size_t)n, (off_t)at) != n) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		at += (uint64_t)n;
	}
	return clone;
fail:;
	int e = errno;

	REAL(close)(clone);
	return -e;
}

/* A free mirror slot, making room among the read-only maps' mirrors whose map is gone. Lock held. */
static struct mirror *mirror_slot(void)
{
	int i;

	for (i = 0; i < MIRROR_MAX && mirrors[i].copy >= 0; i++)
		;
	for (int j = 0; i == MIRROR_MAX && j < MIRROR_MAX; j++)
		if (mirrors[j].base < 0 && copy_mapped(mirrors[j].tid, mirrors[j].copy_ino) <= 0) {
			mirror_free(&mirrors[j]);
			i = j;
		}
	return i < MIRROR_MAX ? &mirrors[i] : NULL;
}

/* The file's writable mirror, its range grown to hold [off, off + len) too. Lock held. */
static struct mirror *writable_mirror(const struct stat *st, uint64_t off, uint64_t len)
{
	for (int i = 0; i < MIRROR_MAX; i++) {
		struct mirror *m = &mirrors[i];
		uint64_t from = m->off, to = m->off + m->len;

		if (m->base < 0 || m->dev != st->st_dev || m->ino != st->st_ino)
			continue;
		m->off = off < from ? off : from;
		m->len = (off + len > to ? off + len : to) - m->off;
		mirror_refresh(m, m->off, from); /* (what was outside every map: no store there) */
		mirror_refresh(m, to, m->off + m->len);
		return m;
	}
	return NULL;
}

/* The copy a shared map of s's file is lent: the file's writable mirror, or a new mirror - writable for a map
 * with PROT_WRITE. Another descriptor of it, or -errno. */
static int mirror_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len, int writable)
{
	struct mirror *m, made = { .copy = -1, .base = -1, .file = -1, .off = off, .len = len, .tid = c->pid };
	struct stat st, cst;
	char self[32];
	int rc;

	if (REAL(fstat)(s, &st) < 0)
		return -errno;
	made.dev = st.st_dev;
	made.ino = st.st_ino;
	pthread_mutex_lock(&mirror_mutex);
	if ((m = writable_mirror(&st, off, len)) != NULL) {
		rc = (int)REAL(syscall)(SYS_fcntl, m->copy, F_DUPFD_CLOEXEC, 0);
		pthread_mutex_unlock(&mirror_mutex);
		return rc < 0 ? -errno : rc;
	}
	if (!(m = mirror_slot())) {
		pthread_mutex_unlock(&mirror_mutex);
		ps_refusal("supervisor: process %d maps a partly shadowed file shared: more than %d such maps at "
			   "once (ENOMEM)", (int)c->pid, MIRROR_MAX);
		return -ENOMEM;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", s);
	rc = made.copy = merged_copy(c, s, off, len);
	if (rc >= 0 && REAL(fstat)(made.copy, &cst) < 0)
		rc = -errno;
	if (rc >= 0 && writable)
		rc = made.base = memfd_clone(c, made.copy, off, len);
	if (rc >= 0 && (made.file = open(self, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)) < 0) /* (merged: shim) */
		rc = -errno;
	if (rc >= 0 && (rc = (int)REAL(syscall)(SYS_fcntl, made.copy, F_DUPFD_CLOEXEC, 0)) < 0)
		rc = -errno;
	if (rc >= 0) {
		made.copy_ino = cst.st_ino;
		*m = made;
		nmirrors++;
		if (writable)
			__atomic_fetch_add(&nwritable, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&mirror_mutex);
	if (rc < 0) {
		if (made.copy >= 0)
			REAL(close)(made.copy);
		if (made.base >= 0)
			REAL(close)(made.base);
		if (made.file >= 0)
			close(made.file);
	}
	return rc;
}

/* Is the program's descriptor fd close-on-exec? /proc/PID/fdinfo says. */
static int program_cloexec(const struct sv_call *c, int fd)
{
	char path[64], line[128];
	unsigned long flags = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)c->pid, fd);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return (flags & O_CLOEXEC) != 0;
}

/* The lend of fd in c's file table, made or being made: its slot, or -1. Lock held. */
static int lend_of(const struct sv_call *c, int fd, pid_t self)
{
	for (int i = 0; i < LENT_MAX; i++) {
		struct lent *l = &lent[i];

		if (l->copy == -1 || l->number != fd)
			continue;
		if (l->copy == RESERVED ? syscall(SYS_kcmp, c->pid, l->tid, KCMP_FILES, 0, 0) == 0
					: syscall(SYS_kcmp, c->pid, self, KCMP_FILE, fd, l->copy) == 0)
			return i;
	}
	return -1;
}

/* A free slot, reserved for a map of fd by c; -1 when all are lent. Lock held. */
static int lend_reserve(const struct sv_call *c, int fd)
{
	int i;

	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < LENT_MAX && lent[i].copy != -1; i++)
			;
		if (i < LENT_MAX)
			break;
		for (int j = 0; j < LENT_MAX; j++) /* full: the lends of threads that are gone */
			if (lent[j].copy >= 0 && kill(lent[j].tid, 0) < 0 && errno == ESRCH)
				lent_retire(&lent[j]);
	}
	if (i == LENT_MAX)
		return -1;
	lent[i] = (struct lent){ .number = fd, .copy = RESERVED, .file = -1, .tid = c->pid };
	nlent++;
	return i;
}

long sv_map(const struct sv_call *c, int fd, int s, uint64_t off, uint64_t len, int prot, int shared)
{
	int copy, ro = -1, rc = 0, i;
	char self[32];
	struct stat st;

	int writable = shared && (prot & PROT_WRITE), mode = fcntl(s, F_GETFL) & O_ACCMODE;

	if (!len || (off & (PAGE - 1)))
		return -EINVAL;
	if (mode == O_WRONLY || (writable && mode != O_RDWR)) /* (the kernel's checks) */
		return -EACCES;
	for (;;) { /* one lend of a number at a time: another thread's map of it waits for that one's */
		pthread_mutex_lock(&lent_mutex);
		if (lend_of(c, fd, getpid()) < 0)
			break;
		pthread_mutex_unlock(&lent_mutex);
		sv_map_give_back(c, fd);
	}
	i = lend_reserve(c, fd);
	pthread_mutex_unlock(&lent_mutex);
	if (i < 0) {
		ps_refusal("supervisor: process %d maps a partly shadowed file: more than %d maps being made at once "
			   "(ENOMEM)", (int)c->pid, LENT_MAX);
		return -ENOMEM;
	}
	if ((copy = shared ? mirror_copy(c, s, off, len, writable) : merged_copy(c, s, off, len)) < 0) {
		ps_error("supervisor: process %d maps a partly shadowed file: its merged copy failed: %s", (int)c->pid,
			 strerror(-copy));
		rc = copy;
	} else {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", copy);
		ro = (int)REAL(syscall)(SYS_openat, AT_FDCWD, self, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (ro < 0 || REAL(fstat)(ro, &st) < 0)
			rc = -errno;
		REAL(close)(copy); /* (a mirror keeps its own) */
	}
	pthread_mutex_lock(&lent_mutex);
	if (rc == 0) {
		lent[i].cloexec = program_cloexec(c, fd);
		lent[i].dev = st.st_dev;
		lent[i].ino = st.st_ino;
		lent[i].file = (int)REAL(syscall)(SYS_fcntl, s, F_DUPFD_CLOEXEC, 0);
		rc = lent[i].file < 0 ? -errno : sv_fd_swap(c, ro, fd, lent[i].cloexec);
	}
	if (rc == 0) {
		lent[i].copy = ro;
	} else {
		if (lent[i].file >= 0)
			REAL(close)(lent[i].file);
		if (ro >= 0)
			REAL(close)(ro);
		lent[i].copy = -1;
		nlent--;
	}
	pthread_mutex_unlock(&lent_mutex);
	if (rc < 0)
		return rc;
	ps_debug("supervisor: process %d maps a partly shadowed file at %d: a copy of %llu bytes", (int)c->pid, fd,
		 (unsigned long long)len);
	return SV_CONTINUE;
}

/* Is l's map made, or the mapping thread past it? It is, when the thread calls again, has left mmap of this
 * number (blocked elsewhere, or preempted out of any call), is gone, or has the copy mapped. */
static int map_made(const struct sv_call *c, const struct lent *l)
{
	char path[64], line[512];
	unsigned long a[5];
	int made = 0;
	long nr;
	FILE *f;

	if (c->pid == l->tid)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)l->tid);
	if (!(f = fopen(path, "re")))
		return 1;
	if (!fgets(line, sizeof(line), f))
		made = 1;
	else if (strncmp(line, "running", 7) != 0) /* (running: in mmap still, or back in the program) */
		made = sscanf(line, "%ld %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4]) != 6 ||
		       nr != SYS_mmap || (int)a[4] != l->number;
	fclose(f);
	return made || copy_mapped(l->tid, l->ino) != 0;
}

int sv_map_give_back(const struct sv_call *c, int fd)
{
	pid_t self;

	if (!__atomic_load_n(&nlent, __ATOMIC_RELAXED))
		return 0;
	self = getpid();
	for (int wait = 0;; wait++) { /* the lock is not held while waiting: the mapping thread's call may need it */
		struct lent *l;
		int i;

		pthread_mutex_lock(&lent_mutex);
		if ((i = lend_of(c, fd, self)) < 0) {
			pthread_mutex_unlock(&lent_mutex);
			return 0;
		}
		l = &lent[i];
		if (l->copy != RESERVED && (map_made(c, l) || wait >= GIVE_BACK_WAIT_MAX)) {
			if (wait >= GIVE_BACK_WAIT_MAX)
				ps_error("supervisor: process %d: thread %d's map of descriptor %d is not made after 2 s; "
					 "the file is given back", (int)c->pid, (int)l->tid, fd);
			sv_fd_swap(c, l->file, fd, l->cloexec);
			lent_retire(l);
			pthread_mutex_unlock(&lent_mutex);
			return 1;
		}
		pthread_mutex_unlock(&lent_mutex);
		sv_turn_release(c);
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
	}
}

int sv_map_active(void)
{
	return __atomic_load_n(&nlent, __ATOMIC_ACQUIRE) || __atomic_load_n(&nretired, __ATOMIC_ACQUIRE);
}

int sv_map_given_back(const struct sv_call *c, int fd)
{
	struct stat st;
	int g, found = 0;

	if (!__atomic_load_n(&nretired, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&lent_mutex);
	for (int i = 0; i < RETIRED_MAX && !found; i++)
		found = retired[i].file >= 0 && retired[i].number == fd;
	pthread_mutex_unlock(&lent_mutex);
	if (!found || (g = sv_fd_fetch_plain(c, fd)) < 0)
		return 0;
	found = 0;
	if (REAL(fstat)(g, &st) == 0) {
		pthread_mutex_lock(&lent_mutex);
		/* (the number may hold another file by now: a lend made since the fetch) */
		for (int i = 0; i < RETIRED_MAX && !found && syscall(SYS_kcmp, c->pid, getpid(), KCMP_FILE, fd, g) == 0;
		     i++) {
			struct retired *r = &retired[i];

			if (r->file >= 0 && r->number == fd && r->dev == st.st_dev && r->ino == st.st_ino)
				found = sv_fd_swap(c, r->file, fd, r->cloexec) == 0;
		}
		pthread_mutex_unlock(&lent_mutex);
	}
	REAL(close)(g);
	return found;
}

void sv_map_process_exits(const struct sv_call *c)
{
	if (__atomic_load_n(&nlent, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&lent_mutex);
		for (int i = 0; i < LENT_MAX; i++) /* (a child may hold the copy still) */
			if (lent[i].copy >= 0 && syscall(SYS_kcmp, c->pid, lent[i].tid, KCMP_FILES, 0, 0) == 0)
				lent_retire(&lent[i]);
		pthread_mutex_unlock(&lent_mutex);
	}
	sv_map_sync_process(c);
	if (__atomic_load_n(&nmirrors, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&mirror_mutex);
		for (int i = 0; i < MIRROR_MAX; i++) /* (the process's maps go with its memory; a writable mirror stays) */
			if (mirrors[i].copy >= 0 && mirrors[i].base < 0 &&
			    syscall(SYS_kcmp, c->pid, mirrors[i].tid, KCMP_VM, 0, 0) == 0)
				mirror_free(&mirrors[i]);
		pthread_mutex_unlock(&mirror_mutex);
	}
}
