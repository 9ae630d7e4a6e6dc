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
	close(m->file); /* (opened through the shim, which forgets it so) */
	m->copy = -1;
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
		if (copy_mapped(mirrors[j].tid, mirrors[j].copy_ino) <= 0) {
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

	if (shared && (prot & PROT_WRITE)) {
		ps_refusal("supervisor: process %d maps a partly shadowed file shared and writable: ENODEV (its stores "
			   "would not reach the shadow)", (int)c->pid);
		return -ENODEV;
	}
	if (!len || (off & (PAGE - 1)))
		return -EINVAL;
	if ((fcntl(s, F_GETFL) & O_ACCMODE) == O_WRONLY)
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
	if ((copy = merged_copy(c, s, off, len)) < 0) {
		ps_error("supervisor: process %d maps a partly shadowed file: its merged copy failed: %s", (int)c->pid,
			 strerror(-copy));
		rc = copy;
	} else {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", copy);
		ro = (int)REAL(syscall)(SYS_openat, AT_FDCWD, self, O_RDONLY | O_CLOEXEC); /* the program's: read-only */
		if (ro < 0 || REAL(fstat)(ro, &st) < 0)
			rc = -errno;
		else if (shared)
			rc = mirror_add(c, s, copy, off, len, st.st_ino);
		if (rc < 0 || !shared)
			REAL(close)(copy); /* (a mirror keeps it) */
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
	if (__atomic_load_n(&nmirrors, __ATOMIC_RELAXED)) {
		pthread_mutex_lock(&mirror_mutex);
		for (int i = 0; i < MIRROR_MAX; i++) /* (the process's maps go with its memory) */
			if (mirrors[i].copy >= 0 && syscall(SYS_kcmp, c->pid, mirrors[i].tid, KCMP_VM, 0, 0) == 0)
				mirror_free(&mirrors[i]);
		pthread_mutex_unlock(&mirror_mutex);
	}
}
