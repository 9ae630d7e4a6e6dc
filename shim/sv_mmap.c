/* sv_mmap.c - maps of a partly shadowed file in a supervised program (sv.h).
 *
 * The kernel maps the file the program's descriptor is - the supervisor's description of the data file, whose
 * pages the shadow never wrote are holes - and a notification cannot change the call's descriptor number. So the
 * supervisor copies the merged bytes of the mapped range into a memfd as large as the merged file (the rest a
 * hole), lends it, read-only, to the program at that number for the call (ADDFD with SETFD: the supervisor's own
 * description stays in its entry) and lets the call go on.
 *
 * A private map (MAP_PRIVATE) is then the merged bytes as they are at the map, which POSIX allows a private map to
 * be; a later write through a descriptor is not seen in it (Linux would show it in the pages the program has not
 * written through the map). A shared map that only reads (MAP_SHARED without PROT_WRITE: Python's ACCESS_READ,
 * Go's and Rust's read-only maps) must show later writes: its copy is kept (a mirror) and every write the
 * supervisor makes to the file - any supervised process's write, pwrite, truncation, sendfile into it - is made to
 * the mirror too. A shimmed process's write is not: a shared map in a supervised program does not see it. A shared
 * map that writes would have to carry its stores back into the shadow: refused (ENODEV). A mirror goes with the
 * process that mapped it, or when its map is gone and room is needed.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef KCMP_FILE
#define KCMP_FILE 0
#endif
#ifndef KCMP_VM
#define KCMP_VM 1
#endif
#ifndef KCMP_FILES
#define KCMP_FILES 2
#endif

#define PAGE 4096ULL
#define LENT_MAX 64
#define MIRROR_MAX 64
#define REFRESH_BUF 65536

/* A number lent to a copy. */
static struct lent {
	int number;
	int copy;    /* the supervisor's descriptor of the copy's description, the program's at number; -1: free */
	int file;    /* the supervisor's descriptor of the merged file's description, to give back */
	int cloexec;
	pid_t tid;   /* the thread that maps */
	dev_t dev;   /* the copy's inode, to find the map in /proc/PID/maps */
	ino_t ino;
} lent[LENT_MAX] = { [0 ... LENT_MAX - 1] = { .copy = -1 } };
static int nlent;
static pthread_mutex_t lent_mutex = PTHREAD_MUTEX_INITIALIZER;

static void lent_free(struct lent *l)
{
	REAL(close)(l->copy);
	REAL(close)(l->file);
	l->copy = -1;
	nlent--;
}

/* The copy of a shared map, kept in step with the supervisor's writes to its file. */
static struct mirror {
	int copy;      /* the memfd, writable; -1: a free slot */
	int file;      /* the supervisor's descriptor of the merged file (a description of its own) */
	dev_t dev;     /* the file's data file, to know a write to it */
	ino_t ino;
	uint64_t off, len; /* the mapped range */
	pid_t tid;     /* the thread that mapped it */
	ino_t copy_ino;
} mirrors[MIRROR_MAX] = { [0 ... MIRROR_MAX - 1] = { .copy = -1 } };
static int nmirrors;
static pthread_mutex_t mirror_mutex = PTHREAD_MUTEX_INITIALIZER;

static void mirror_free(struct mirror *m)
{
	REAL(close)(m->copy);
	REAL(close)(m->file);
	m->copy = -1;
	nmirrors--;
}

/* Is the copy still mapped by the process of tid? */
static int copy_mapped(pid_t tid, ino_t ino)
{
	char path[64], line[512], want[64];
	int mapped = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tid);
	snprintf(want, sizeof(want), " %lu ", (unsigned long)ino);
	if (!(f = fopen(path, "re")))
		return 0;
	while (!mapped && fgets(line, sizeof(line), f))
		mapped = strstr(line, want) && strstr(line, "pageshadow-map");
	fclose(f);
	return mapped;
}

/* Make the mirror's copy hold the merged bytes of [from, to) of its range again, and the file's size. Lock held. */
static void mirror_refresh(struct mirror *m, uint64_t from, uint64_t to)
{
	static char buf[REFRESH_BUF]; /* (under mirror_mutex) */
	struct stat st;

	if (fstat(m->file, &st) < 0) /* through the shim: the merged size */
		return;
	if (ftruncate(m->copy, st.st_size) < 0)
		ps_debug("supervisor: a shared map's copy cannot follow its file's size: %s", strerror(errno));
	from = from > m->off ? from : m->off;
	to = to < m->off + m->len ? to : m->off + m->len;
	to = to < (uint64_t)st.st_size ? to : (uint64_t)st.st_size;
	while (from < to) {
		size_t want = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
		ssize_t n = pread(m->file, buf, want, (off_t)from);

		if (n <= 0 || pwrite(m->copy, buf, (size_t)n, (off_t)from) != n)
			return;
		from += (uint64_t)n;
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
		uint64_t from, to;

		if (m->copy < 0 || (s >= 0 && (m->dev != st.st_dev || m->ino != st.st_ino)))
			continue;
		if (n < 0 || !bytes) {
			mirror_refresh(m, 0, UINT64_MAX);
			continue;
		}
		from = pos > m->off ? pos : m->off;
		to = pos + (uint64_t)n < m->off + m->len ? pos + (uint64_t)n : m->off + m->len;
		if (from < to && pwrite(m->copy, (const char *)bytes + (from - pos), to - from, (off_t)from) < 0)
			mirror_refresh(m, from, to);
		if (pos + (uint64_t)n > m->off + m->len || pos + (uint64_t)n > (uint64_t)lseek(m->copy, 0, SEEK_END))
			mirror_refresh(m, m->off + m->len, m->off + m->len); /* (the size only) */
	}
	pthread_mutex_unlock(&mirror_mutex);
}

/* Keep copy (writable) as the mirror of a shared map of s's file. 0 or -errno. */
static int mirror_add(const struct sv_call *c, int s, int copy, uint64_t off, uint64_t len, ino_t copy_ino)
{
	struct stat st;
	int i, file, rc = 0;
	char self[32];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", s);
	if (REAL(fstat)(s, &st) < 0 || (file = open(self, O_RDONLY | O_CLOEXEC)) < 0) /* (a merged reopen: shim) */
		return -errno;
	pthread_mutex_lock(&mirror_mutex);
	for (i = 0; i < MIRROR_MAX && mirrors[i].copy >= 0; i++)
		;
	for (int j = 0; i == MIRROR_MAX && j < MIRROR_MAX; j++) /* full: those whose map is gone */
		if (!copy_mapped(mirrors[j].tid, mirrors[j].copy_ino)) {
			mirror_free(&mirrors[j]);
			i = j;
		}
	if (i == MIRROR_MAX) {
		rc = -ENOMEM;
	} else {
		mirrors[i] = (struct mirror){ .copy = copy, .file = file, .dev = st.st_dev, .ino = st.st_ino,
					      .off = off, .len = len, .tid = c->pid, .copy_ino = copy_ino };
		nmirrors++;
	}
	pthread_mutex_unlock(&mirror_mutex);
	if (rc < 0) {
		close(file);
		ps_refusal("supervisor: process %d maps a partly shadowed file shared: more than %d such maps at once "
			   "(ENOMEM)", (int)c->pid, MIRROR_MAX);
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

long sv_map(const struct sv_call *c, int fd, int s, uint64_t off, uint64_t len, int prot, int shared)
{
	int copy, ro, rc, i;
	char self[32];
	struct stat st;

	if (shared && (prot & PROT_WRITE)) {
		ps_refusal("supervisor: process %d maps a partly shadowed file shared and writable: ENODEV (its stores "
			   "would not reach the shadow)", (int)c->pid);
		return -ENODEV;
	}
	if (!len || (off & (PAGE - 1)))
		return -EINVAL;
	if ((fcntl(s, F_GETFL) & O_ACCMODE) == O_WRONLY)
		return -EACCES;
	if ((copy = merged_copy(c, s, off, len)) < 0) {
		ps_error("supervisor: process %d maps a partly shadowed file: its merged copy failed: %s", (int)c->pid,
			 strerror(-copy));
		return copy;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", copy);
	ro = (int)REAL(syscall)(SYS_openat, AT_FDCWD, self, O_RDONLY | O_CLOEXEC); /* the program's: read-only */
	rc = ro < 0 ? -errno : 0;
	if (rc < 0 || REAL(fstat)(ro, &st) < 0 || (shared && (rc = mirror_add(c, s, copy, off, len, st.st_ino)) < 0)) {
		rc = rc < 0 ? rc : -errno;
		if (ro >= 0)
			REAL(close)(ro);
		REAL(close)(copy);
		return rc;
	}
	if (!shared)
		REAL(close)(copy); /* (a mirror keeps it) */
	pthread_mutex_lock(&lent_mutex);
	for (i = 0; i < LENT_MAX - 1 && lent[i].copy >= 0; i++)
		;
	if (lent[i].copy >= 0)
		lent_free(&lent[i]); /* the oldest is not always the last; a copy nobody used again costs only memory */
	lent[i] = (struct lent){ .number = fd, .copy = ro, .cloexec = program_cloexec(c, fd), .tid = c->pid,
				 .dev = st.st_dev, .ino = st.st_ino };
	lent[i].file = (int)REAL(syscall)(SYS_fcntl, s, F_DUPFD_CLOEXEC, 0);
	rc = lent[i].file < 0 ? -errno : sv_fd_swap(c, ro, fd, lent[i].cloexec);
	if (rc < 0) {
		if (lent[i].file >= 0)
			REAL(close)(lent[i].file);
		REAL(close)(ro);
		lent[i].copy = -1;
	} else {
		nlent++;
	}
	pthread_mutex_unlock(&lent_mutex);
	if (rc < 0)
		return rc;
	ps_debug("supervisor: process %d maps a partly shadowed file at %d: a copy of %llu bytes", (int)c->pid, fd,
		 (unsigned long long)len);
	return SV_CONTINUE;
}

/* Is l's map made (or the mapping thread past it)? */
static int map_made(const struct sv_call *c, const struct lent *l)
{
	char path[64], line[512], want[64];
	int made = 0;
	FILE *f;

	if (c->pid == l->tid)
		return 1; /* the mapping thread calls again: its mmap returned */
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)l->tid);
	if ((f = fopen(path, "re"))) {
		long nr = -2;

		made = !fgets(line, sizeof(line), f) || (strncmp(line, "running", 7) != 0 &&
							 (sscanf(line, "%ld", &nr) != 1 || nr != SYS_mmap));
		fclose(f);
	} else {
		made = 1; /* the thread is gone */
	}
	if (made)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)l->tid);
	snprintf(want, sizeof(want), " %lu ", (unsigned long)l->ino);
	if (!(f = fopen(path, "re")))
		return 1;
	while (!made && fgets(line, sizeof(line), f))
		made = strstr(line, want) && strstr(line, "pageshadow-map");
	fclose(f);
	return made;
}

void sv_map_give_back(const struct sv_call *c, int fd)
{
	pid_t self;

	if (!__atomic_load_n(&nlent, __ATOMIC_RELAXED))
		return;
	self = getpid();
	pthread_mutex_lock(&lent_mutex);
	for (int i = 0; i < LENT_MAX; i++) {
		struct lent *l = &lent[i];

		if (l->copy < 0 || l->number != fd || syscall(SYS_kcmp, c->pid, self, KCMP_FILE, fd, l->copy) != 0)
			continue;
		for (int wait = 0; wait < 500 && !map_made(c, l); wait++) /* at most 50 ms */
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
		sv_fd_swap(c, l->file, fd, l->cloexec);
		if (syscall(SYS_kcmp, l->tid, self, KCMP_FILE, fd, l->copy) != 0)
			lent_free(l); /* (while a child forked in between holds the copy, it stays for the mapping one) */
		break;
	}
	pthread_mutex_unlock(&lent_mutex);
}

void sv_map_process_exits(const struct sv_call *c)
{
	if (__atomic_load_n(&nlent, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&lent_mutex);
		for (int i = 0; i < LENT_MAX; i++)
			if (lent[i].copy >= 0 && syscall(SYS_kcmp, c->pid, lent[i].tid, KCMP_FILES, 0, 0) == 0)
				lent_free(&lent[i]);
		pthread_mutex_unlock(&lent_mutex);
	}
	if (__atomic_load_n(&nmirrors, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&mirror_mutex);
		for (int i = 0; i < MIRROR_MAX; i++) /* (the process's maps go with its memory) */
			if (mirrors[i].copy >= 0 && syscall(SYS_kcmp, c->pid, mirrors[i].tid, KCMP_VM, 0, 0) == 0)
				mirror_free(&mirrors[i]);
		pthread_mutex_unlock(&mirror_mutex);
	}
}
