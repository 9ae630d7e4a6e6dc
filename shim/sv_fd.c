/* sv_fd.c - the supervised program's merged descriptors and the supervisor's own for them (sv.h).
 *
 * A file that needs the merge is installed in the program at a number from the threshold up (ADDFD with SETFD),
 * as a second descriptor of the supervisor's own open file description: offsets, O_APPEND and sharing with the
 * program's forks and dups are the kernel's. The supervisor keeps its descriptor in an entry under that number.
 * Numbers belong to processes, and a forked child keeps them, so a number may have several entries (one per
 * description): a call finds its entry by kcmp(KCMP_FILE) - the same description in the calling process. A
 * number from the threshold up that has no entry for the caller (an entry dropped, a descriptor inherited across
 * exec) is fetched with pidfd_getfd and adopted as the shim adopts an inherited one: entries there are a cache.
 * The standard descriptors are never fetched - every program writes its pipes there, and a fetched copy of a pipe
 * would keep its reader waiting - so their entries (made when the program moves a merged file onto one, or
 * inherits one) stay while a process may still write through one: its installer, or a child the installer forked
 * (sweep_low). So do those of the merged descriptors a program inherited above 2, the "low numbers" the filter
 * sends as well.
 * An entry from the threshold up goes when the program closes the number, or when its process exits (exit_group
 * is sent too: the entries of the exiting file table go, so that a lock on the description goes with the
 * program, as it would without the supervisor).
 */
#include "sv.h"
#include "shim.h"
#include "filter.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd of a thread that is not the group leader */
#endif

#define POOL 8192
#define LOW ((int)PS_FILTER_LOW_MAX) /* heads below it: 0-2 and the low numbers, whose entries stay */
#define NHEADS (LOW + (int)PS_FILTER_ROOM)
#define RESERVED (-2) /* an entry whose number is being installed */

struct entry {
	int head;     /* the list it is on (head_of its number); -1: free */
	int fd;       /* the program's number */
	int s;        /* the supervisor's descriptor, or RESERVED */
	int refs;     /* handlers using s now */
	int dropped;  /* close s when the last handler is done */
	int next;     /* the next entry of the same number, or of the free list; -1 ends */
	pid_t owner;  /* the thread that installed it */
	pid_t checked; /* the last thread kcmp found holding it at fd ... */
	unsigned checked_gen; /* ... in this generation (below) */
};

static struct entry pool[POOL];
static int heads[NHEADS];
static int free_head = -1;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned next_number;
static int low_numbers[PS_FILTER_LOW_MAX - PS_FILTER_STDIO]; /* inherited merged ones above 2; set before serving */
static int nlow;
static pid_t self; /* the supervisor's pid (it never forks once serving) */
/* kcmp is a system call on every call on a merged descriptor (8% of a merged pread). A thread that kcmp found
 * holding an entry's description at its number from the threshold up holds it still at its next call, when the
 * entry is the number's only one and no exec or exit happened anywhere since (the generation): every other way
 * the number could change - close, dup2 onto it, close_range - is sent and drops the entry first; the map's
 * lending gives the number back before the look-up. (Entries at 0-2 and the low numbers outlive a close: kcmp
 * always.) */
static unsigned generation;

static void pool_init(void)
{
	for (int i = 0; i < NHEADS; i++)
		heads[i] = -1;
	for (int i = POOL - 1; i >= 0; i--) {
		pool[i].head = -1;
		pool[i].next = free_head;
		free_head = i;
	}
	self = getpid();
}

static int same_file(pid_t pid, int fd, int s)
{
	return syscall(SYS_kcmp, pid, self, KCMP_FILE, fd, s) == 0;
}

static int head_of(const struct sv_call *c, int fd)
{
	pthread_once(&once, pool_init);
	if (fd >= 0 && fd < (int)PS_FILTER_STDIO)
		return fd;
	for (int j = 0; j < nlow; j++)
		if (fd == low_numbers[j])
			return (int)PS_FILTER_STDIO + j;
	if (fd < (int)c->threshold || fd >= (int)(c->threshold + PS_FILTER_ROOM))
		return -1;
	return LOW + fd - (int)c->threshold;
}

/* Close the supervisor's descriptor through the shim (which forgets it). */
static void close_own(int s)
{
	int saved = errno;

	if (s >= 0)
		close(s);
	errno = saved;
}

/* With mutex held: unlink entry i and give it back; its descriptor, for the caller to close. */
static int remove_entry(int i)
{
	int *p = &heads[pool[i].head], s = pool[i].s;

	while (*p != i)
		p = &pool[*p].next;
	*p = pool[i].next;
	pool[i].head = -1;
	pool[i].next = free_head;
	free_head = i;
	return s;
}

/* With mutex held: the entries of threads that are gone (killed: no exit_group came), from the threshold up. */
static void drop_dead_owners(void)
{
	for (int i = 0; i < POOL; i++) {
		struct entry *e = &pool[i];

		if (e->head >= LOW && e->refs == 0 && e->s >= 0 && kill(e->owner, 0) < 0 &&
		    errno == ESRCH)
			close_own(remove_entry(i));
	}
}

/* With mutex held: a new entry, or -1 when the pool is full (the entries of threads that are gone make room
 * first). */
static int add_entry(int head, int fd, int s, pid_t owner, int refs)
{
	int i;

	if (free_head < 0)
		drop_dead_owners();
	if ((i = free_head) < 0)
		return -1;
	free_head = pool[i].next;
	pool[i] = (struct entry){ .head = head, .fd = fd, .s = s, .refs = refs, .owner = owner, .next = heads[head] };
	heads[head] = i;
	return i;
}

/* A pidfd of the calling thread's process: PIDFD_THREAD where the kernel has it, else its thread group's. */
static int pidfd_of(pid_t tid)
{
	long tgid;
	int fd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);

	if (fd >= 0 || errno != EINVAL)
		return fd;
	if ((fd = (int)syscall(SYS_pidfd_open, tid, 0)) >= 0 || errno != EINVAL)
		return fd;
	if (sv_proc_status(tid, "Tgid:", 10, &tgid) < 0)
		return -1;
	return (int)syscall(SYS_pidfd_open, (pid_t)tgid, 0);
}

int sv_fd_fetch_plain(const struct sv_call *c, int fd)
{
	int pidfd = pidfd_of(c->pid), g = -1;

	if (pidfd >= 0) {
		g = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		close(pidfd);
	}
	return g;
}

int sv_fd_fetch(const struct sv_call *c, int fd)
{
	int g = sv_fd_fetch_plain(c, fd);

	if (g < 0)
		return -1;
	if (ps_enter()) {
		int kind = ps_fd_adopt(g);

		ps_leave();
		if (kind >= 0)
			return g;
	}
	close_own(g);
	return -1;
}

/* The program's fd from the threshold up, fetched: the supervisor's descriptor when it needs the merge. */
static int fetch_merged(const struct sv_call *c, int fd)
{
	int g = sv_fd_fetch(c, fd);

	if (g >= 0 && sv_fd_kernel_serves(g)) {
		close_own(g);
		return -1;
	}
	return g;
}

/* The entry of the description the program holds at fd, with a reference; or -1. */
static int entry_get(const struct sv_call *c, int h, int fd)
{
	int s = -1;

	pthread_mutex_lock(&mutex);
	for (int i = heads[h]; i >= 0; i = pool[i].next) {
		struct entry *e = &pool[i];
		unsigned gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
		int alone = h >= LOW && i == heads[h] && e->next < 0; /* (0-2 and low numbers keep stale entries) */

		if (e->s < 0 || e->dropped)
			continue;
		if (!(alone && e->checked == c->pid && e->checked_gen == gen)) {
			if (!same_file(c->pid, fd, e->s))
				continue;
			e->checked = c->pid;
			e->checked_gen = gen;
		}
		e->refs++;
		s = e->s;
		break;
	}
	pthread_mutex_unlock(&mutex);
	return s;
}

int sv_fd_get(const struct sv_call *c, int fd)
{
	int h = head_of(c, fd), s = -1;

	if (h < 0)
		return -1;
	/* Another thread may lend the number to a map's copy at any moment (sv_mmap.c): while the program's file
	 * there is not the one looked for, the lend is given back (once its map is made) and the look-up made again. */
	for (int tries = 0; s < 0 && tries < 100; tries++) {
		sv_map_give_back(c, fd);
		if ((s = entry_get(c, h, fd)) >= 0)
			return s;
		if (sv_map_given_back(c, fd)) /* (a copy a child inherited) */
			continue;
		if (h < LOW)
			return -1;
		if ((s = fetch_merged(c, fd)) < 0 && !sv_map_active()) /* (a copy there when fetched: look again) */
			return -1;
	}
	if (s < 0)
		return -1;
	pthread_mutex_lock(&mutex);
	if (add_entry(h, fd, s, c->pid, 1) < 0) {
		pthread_mutex_unlock(&mutex);
		ps_debug("supervisor: fd %d of %d served without an entry (the pool is full)", fd, (int)c->pid);
		return s | SV_FD_TRANSIENT;
	}
	pthread_mutex_unlock(&mutex);
	return s;
}

void sv_fd_drop_dead(void)
{
	pthread_once(&once, pool_init);
	pthread_mutex_lock(&mutex);
	drop_dead_owners();
	pthread_mutex_unlock(&mutex);
}

void sv_fd_new_generation(void)
{
	__atomic_fetch_add(&generation, 1, __ATOMIC_ACQ_REL);
}

void sv_fd_put(const struct sv_call *c, int fd, int s)
{
	int h = head_of(c, fd), close_it = -1;

	if ((s & SV_FD_TRANSIENT) || h < 0) {
		close_own(s & ~SV_FD_TRANSIENT);
		return;
	}
	pthread_mutex_lock(&mutex);
	for (int i = heads[h]; i >= 0; i = pool[i].next) {
		if (pool[i].s != s)
			continue;
		if (--pool[i].refs == 0 && pool[i].dropped)
			close_it = remove_entry(i);
		break;
	}
	pthread_mutex_unlock(&mutex);
	close_own(close_it);
}

void sv_fd_closed(const struct sv_call *c, int fd)
{
	int h = head_of(c, fd), close_it = -1;

	sv_map_give_back(c, fd);
	if (h < 0)
		return;
	pthread_mutex_lock(&mutex);
	for (int i = heads[h]; i >= 0; i = pool[i].next) {
		if (pool[i].s < 0 || pool[i].dropped || !same_file(c->pid, fd, pool[i].s))
			continue;
		sv_lock_closing(c, SV_FD(pool[i].s)); /* (closing any descriptor of a file drops the process's locks) */
		if (h < LOW) /* (a forked child may still use a standard or low one: kcmp tells) */
			break;
		if (pool[i].refs == 0)
			close_it = remove_entry(i);
		else
			pool[i].dropped = 1;
		break;
	}
	pthread_mutex_unlock(&mutex);
	close_own(close_it);
}

void sv_fd_range_closed(const struct sv_call *c, unsigned first, unsigned last)
{
	unsigned top = c->threshold + PS_FILTER_ROOM - 1;

	if (last < c->threshold || first > top)
		return;
	for (unsigned fd = first > c->threshold ? first : c->threshold; fd <= (last < top ? last : top); fd++)
		if (__atomic_load_n(&heads[LOW + (int)(fd - c->threshold)], __ATOMIC_RELAXED) >= 0)
			sv_fd_closed(c, (int)fd);
}

void sv_fd_process_exits(const struct sv_call *c)
{
	int gone[64], n = 0;

	pthread_once(&once, pool_init);
	pthread_mutex_lock(&mutex);
	for (int i = 0; i < POOL && n < 64; i++) {
		struct entry *e = &pool[i];

		if (e->head < LOW || e->s < 0 || e->refs > 0)
			continue;
		if (syscall(SYS_kcmp, c->pid, e->owner, KCMP_FILES, 0, 0) == 0 || e->owner == c->pid)
			gone[n++] = remove_entry(i);
	}
	pthread_mutex_unlock(&mutex);
	while (n > 0)
		close_own(gone[--n]);
}

int sv_fd_kernel_serves(int s)
{
	int serves = 1;

	if (ps_enter()) {
		serves = ps_fd_kernel_serves(s);
		ps_leave();
	}
	return serves;
}

int sv_fd_make_kernel_served(int s, const char **why)
{
	int rc = -EOPNOTSUPP;

	*why = "the shim is busy in this thread";
	if (ps_enter()) {
		rc = ps_fd_make_kernel_served(s, why);
		ps_leave();
	}
	return rc;
}

/* Install s in the program: at number (or the lowest free one when -1), answering the call with it when send. */
static long add_fd(const struct sv_call *c, int s, int number, int cloexec, int send)
{
	struct seccomp_notif_addfd add = {
		.id = c->n->id,
		.flags = (send ? SECCOMP_ADDFD_FLAG_SEND : 0) | (number >= 0 ? SECCOMP_ADDFD_FLAG_SETFD : 0),
		.srcfd = (unsigned)s,
		.newfd = number >= 0 ? (unsigned)number : 0,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};

	long rc = ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);

	if (rc < 0)
		return errno == ENOENT ? SV_ANSWERED : -errno; /* ENOENT: the caller is gone */
	return send ? SV_ANSWERED : rc;
}

/* Install s at number under entry i (made beforehand: the program's next call on the number may reach another
 * worker before this one returns). */
static long install_entry(const struct sv_call *c, int i, int s, int number, int cloexec)
{
	long rc = add_fd(c, s, number, cloexec, 1);
	int close_it = -1;
	struct rlimit rl;

	if ((rc == -EBADF || rc == -EMFILE) && prlimit(c->pid, RLIMIT_NOFILE, NULL, &rl) == 0 &&
	    (rlim_t)number >= rl.rlim_cur) {
		ps_refusal("supervisor: process %d lowered its limit on open files to %llu, below the numbers its merged "
			   "files take (%u up): EMFILE", (int)c->pid, (unsigned long long)rl.rlim_cur, c->threshold);
		rc = -EMFILE;
	}

	pthread_mutex_lock(&mutex);
	pool[i].refs--;
	if (rc != SV_ANSWERED || (pool[i].refs == 0 && pool[i].dropped))
		close_it = remove_entry(i);
	pthread_mutex_unlock(&mutex);
	close_own(close_it);
	ps_debug("supervisor: process %d: merged descriptor %d: %ld", (int)c->pid, number, rc);
	return rc;
}

/* Does process pid (any of its threads), or a process descended from it, hold the description s at number? */
static int held_below(pid_t pid, int number, int s, int depth)
{
	char path[64], line[4096], *p, *end;
	struct dirent *d;
	DIR *tasks;
	int held = 0;

	if (syscall(SYS_kcmp, pid, self, KCMP_FILE, number, s) == 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (depth > 16 || !(tasks = opendir(path)))
		return 0;
	while (!held && (d = readdir(tasks))) {
		FILE *f;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, atoi(d->d_name));
		if (!(f = fopen(path, "re")))
			continue;
		if (fgets(line, sizeof(line), f))
			for (p = line; !held && *p; p = end) {
				long child = strtol(p, &end, 10);

				if (end == p)
					break;
				held = held_below((pid_t)child, number, s, depth + 1);
			}
		fclose(f);
	}
	closedir(tasks);
	return held;
}

/* Before a new entry at a standard or low number: the entries there that nobody uses any more go - those whose
 * installer is alive and neither it nor a process it started holds the description at that number (a shell's
 * `echo x >>/ro/f` in a loop made one each, and the pool ran out after 8191). An entry of a process that is gone
 * stays: a child it left behind (re-parented elsewhere) may still write through it. */
static void sweep_low(int h, int number)
{
	struct { int i, s; pid_t owner; } seen[64];
	int gone[64], n = 0, k = 0;

	pthread_mutex_lock(&mutex); /* (the candidates are looked at without it: /proc is slow) */
	for (int i = heads[h]; i >= 0 && n < 64; i = pool[i].next)
		if (pool[i].s >= 0 && pool[i].refs == 0 && !pool[i].dropped && pool[i].owner > 0)
			seen[n++] = (__typeof__(seen[0])){ i, pool[i].s, pool[i].owner };
	pthread_mutex_unlock(&mutex);
	for (int j = 0; j < n; j++)
		if (kill(seen[j].owner, 0) == 0 && !held_below(seen[j].owner, number, seen[j].s, 0))
			seen[k++] = seen[j];
	pthread_mutex_lock(&mutex);
	n = 0;
	for (int j = 0; j < k; j++) {
		struct entry *e = &pool[seen[j].i];

		if (e->head == h && e->s == seen[j].s && e->owner == seen[j].owner && e->refs == 0 && !e->dropped)
			gone[n++] = remove_entry(seen[j].i);
	}
	pthread_mutex_unlock(&mutex);
	while (n > 0)
		close_own(gone[--n]);
}

long sv_fd_install_at(const struct sv_call *c, int s, int number, int cloexec)
{
	int h = head_of(c, number), i;

	if (h < 0) {
		close_own(s);
		return -EBADF;
	}
	if (h < LOW)
		sweep_low(h, number);
	pthread_mutex_lock(&mutex);
	i = add_entry(h, number, s, c->pid, 1);
	pthread_mutex_unlock(&mutex);
	if (i < 0) {
		close_own(s);
		return -EMFILE;
	}
	return install_entry(c, i, s, number, cloexec);
}

static int unused(const struct sv_call *c, int fd)
{
	return syscall(SYS_kcmp, c->pid, c->pid, KCMP_FILE, fd, fd) < 0 && errno == EBADF;
}

/* A number from the threshold up - and from min up (F_DUPFD), the lowest there - that the program does not use. */
static int free_number(const struct sv_call *c, int min)
{
	if (min > (int)c->threshold) {
		for (int fd = min; fd < (int)(c->threshold + SV_MERGED_ROOM); fd++)
			if (unused(c, fd))
				return fd;
		return -1;
	}
	for (unsigned tries = 0; tries < SV_MERGED_ROOM; tries++) { /* (the last ones are sv_cwd.c's, sv_exec.c's) */
		int fd = (int)(c->threshold +
			       __atomic_fetch_add(&next_number, 1, __ATOMIC_RELAXED) % SV_MERGED_ROOM);

		if (unused(c, fd))
			return fd;
	}
	return -1;
}

long sv_fd_install(const struct sv_call *c, int s, int cloexec)
{
	return sv_fd_install_from(c, s, 0, cloexec);
}

long sv_fd_install_from(const struct sv_call *c, int s, int min, int cloexec)
{
	int number;
	long rc;

	if (sv_fd_kernel_serves(s) && min == 0) {
		/* Installed, then answered once the supervisor's own descriptor is closed: until then its description
		 * would outlive the program's close - a flock the program took would hold its next open's off (EAGAIN),
		 * a file it wrote would stay busy for its exec (ETXTBSY). */
		rc = add_fd(c, s, -1, cloexec, 0);
		close_own(s);
		ps_debug("supervisor: process %d: a descriptor that needs no merge: %ld", (int)c->pid, rc);
		return rc;
	}
	if ((number = free_number(c, min)) < 0) {
		close_own(s);
		ps_error("supervisor: no free descriptor number from %d up in process %d",
			 min > (int)c->threshold ? min : (int)c->threshold, (int)c->pid);
		return -EMFILE;
	}
	return sv_fd_install_at(c, s, number, cloexec);
}

int sv_fd_place(const struct sv_call *c, int s, int number, int cloexec)
{
	long rc;

	if (number >= 0)
		sv_fd_closed(c, number); /* the merged file there goes: the program's number holds s now */
	rc = add_fd(c, s, number, cloexec, 0);
	return rc == SV_ANSWERED ? -ESRCH : (int)rc;
}

int sv_fd_swap(const struct sv_call *c, int s, int number, int cloexec)
{
	long rc = add_fd(c, s, number, cloexec, 0);

	return rc == SV_ANSWERED ? -ESRCH : rc < 0 ? (int)rc : 0;
}

int sv_fd_sent(const struct sv_call *c, int fd)
{
	return head_of(c, fd) >= 0;
}

void sv_fd_inherited(int fd, int s)
{
	struct sv_call below = { .threshold = INT_MAX }; /* (fd is below the threshold) */
	int h;

	pthread_once(&once, pool_init);
	if (fd >= (int)PS_FILTER_STDIO && head_of(&below, fd) < 0 && nlow < (int)(LOW - PS_FILTER_STDIO))
		low_numbers[nlow++] = fd;
	h = head_of(&below, fd);
	if (h < 0 || h >= LOW || !ps_enter()) {
		close_own(s);
		return;
	}
	ps_fd_adopt(s);
	ps_leave();
	pthread_mutex_lock(&mutex);
	h = add_entry(h, fd, s, 0, 0);
	pthread_mutex_unlock(&mutex);
	if (h < 0)
		close_own(s);
}
