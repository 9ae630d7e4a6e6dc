/* sv_mmap.c - a private map of a partly shadowed file in a supervised program (sv.h).
 *
 * The kernel maps the file the program's descriptor is - the supervisor's description of the data file, whose
 * pages the shadow never wrote are holes - and a notification cannot change the call's descriptor number. So for
 * MAP_PRIVATE the supervisor copies the merged bytes of the mapped range into a memfd as large as the merged file
 * (the rest a hole), lends it to the program at that number for the call (ADDFD with SETFD: the supervisor's own
 * description stays in its entry) and lets the call go on. The map is the merged bytes as they are at the map,
 * which POSIX allows a private map to be; a later write through a descriptor is not seen in it (Linux would show
 * it in the pages not yet written through the map).
 *
 * The number is given back at the program's next call on it: every call on a number from the threshold up (and
 * on 0-2 and the low numbers) is sent, and sv_fd_get/sv_fd_closed ask here first - in whichever process holds the
 * copy there (a child forked in between too). A call from another thread of the mapping process may come before
 * the map is made: the copy then stays until the map shows in /proc/PID/maps or the thread has left mmap.
 * A shared map would have to carry writes both ways: refused (ENODEV), as before.
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
#ifndef KCMP_FILES
#define KCMP_FILES 2
#endif

#define PAGE 4096ULL
#define LENT_MAX 64

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

long sv_map_private(const struct sv_call *c, int fd, int s, uint64_t off, uint64_t len)
{
	int copy, ro, rc, i;
	char self[32];
	struct stat st;

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
	REAL(close)(copy);
	if (rc < 0 || REAL(fstat)(ro, &st) < 0) {
		rc = rc < 0 ? rc : -errno;
		if (ro >= 0)
			REAL(close)(ro);
		return rc;
	}
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
	if (!__atomic_load_n(&nlent, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&lent_mutex);
	for (int i = 0; i < LENT_MAX; i++)
		if (lent[i].copy >= 0 && syscall(SYS_kcmp, c->pid, lent[i].tid, KCMP_FILES, 0, 0) == 0)
			lent_free(&lent[i]);
	pthread_mutex_unlock(&lent_mutex);
}
