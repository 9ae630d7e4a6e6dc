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
 * written through the map). A shared map's copy is the file's mirror (sv_mirror.c), which follows the file's
 * later writes and carries the map's stores into it.
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
	int writable = shared && (prot & PROT_WRITE), mode = fcntl(s, F_GETFL) & O_ACCMODE;
	int copy, ro = -1, rc = 0, i;
	char self[32];
	struct stat st;

	if (!len || (off & (PAGE - 1)))
		return -EINVAL;
	if (mode == O_WRONLY || (writable && mode != O_RDWR)) /* (the kernel's checks) */
		return -EACCES;
	len = len > UINT64_MAX - PAGE ? len : (len + PAGE - 1) & ~(PAGE - 1); /* (the kernel maps whole pages) */
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
	if ((copy = shared ? sv_mirror_copy(c, s, off, len, writable) : sv_merged_copy(c, s, off, len)) < 0) {
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
	return made || sv_copy_mapped(l->tid, l->ino) != 0;
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
	sv_mirror_process_exits(c);
}
