/* sv_lock.c - fcntl and flock locks of a supervised program on its merged descriptors (sv.h).
 *
 * Locks live on the record (DESIGN.md "Locks live on the record"): a shimmed process takes them there, so a
 * supervised one must too, or neither would see the other's. flock and OFD locks belong to an open file
 * description: the supervisor takes them through the shim on its own descriptor of the program's merged file,
 * which is the program's description, so the shim's record descriptor of that description holds them and they go
 * with it. POSIX locks belong to a process, and one the supervisor took would be the supervisor's: each process
 * gets a record description of its own per file (an owner), where its POSIX locks are taken as OFD locks - which
 * conflict with the POSIX locks of shimmed processes, and with other owners', as locks of different processes do.
 * POSIX's release rules are kept by closing the owner: when the process closes a merged descriptor of the file,
 * when it exits (exit_group), and when it dies without a word (SIGKILL: sv_watch.c). A call that has to wait waits
 * in a thread of its own (struct wait). Not kept: the kernel's deadlock detection (EDEADLK; OFD locks have none),
 * and a conflicting lock's l_pid when a supervised process holds it (-1, as for OFD locks).
 */
#include "sv.h"
#include "shim.h"
#include "change.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OWNER_MAX 1024

/* A process's record description of one file: its POSIX locks there. */
static struct owner {
	int fd; /* -1: a free slot */
	pid_t tgid;
	dev_t dev; /* the record */
	ino_t ino;
} owners[OWNER_MAX] = { [0 ... OWNER_MAX - 1] = { .fd = -1 } };
static int nowners;
static pthread_mutex_t owners_mutex = PTHREAD_MUTEX_INITIALIZER;

static void owner_close(struct owner *w)
{
	struct flock all = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	REAL(fcntl)(w->fd, F_OFD_SETLK, &all); /* (a lock wait in another thread holds the description too) */
	REAL(close)(w->fd);
	w->fd = -1;
	__atomic_fetch_sub(&nowners, 1, __ATOMIC_RELAXED);
}

/* Close the owners of tgid, of the record (dev, ino) only when file. */
static void owners_close(pid_t tgid, int file, dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&owners_mutex);
	for (int i = 0; i < OWNER_MAX; i++)
		if (owners[i].fd >= 0 && owners[i].tgid == tgid &&
		    (!file || (owners[i].dev == dev && owners[i].ino == ino)))
			owner_close(&owners[i]);
	pthread_mutex_unlock(&owners_mutex);
}

/* The identity of o's record (made first where it has none). 0 or -errno. */
static int record_of(struct ps_open *o, struct stat *st)
{
	int rc = ps_open_attach_record(o);

	if (rc < 0)
		return rc;
	return REAL(fstat)(o->file->rec.fd, st) < 0 ? -errno : 0;
}

/* The owner of tgid for the record st, or -1 and a free slot in *free_slot (-1: none). Lock held. */
static int owner_find(pid_t tgid, const struct stat *st, int *free_slot)
{
	*free_slot = -1;
	for (int i = 0; i < OWNER_MAX; i++) {
		if (owners[i].fd >= 0 && owners[i].tgid == tgid && owners[i].dev == st->st_dev &&
		    owners[i].ino == st->st_ino)
			return i;
		if (owners[i].fd < 0 && *free_slot < 0)
			*free_slot = i;
	}
	return -1;
}

/* Keep another descriptor of the description fd as tgid's owner for the record st, in slot i. 0 or -errno. Lock
 * held. */
static int owner_add(int i, int fd, pid_t tgid, const struct stat *st)
{
	int keep = (int)REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);

	if (keep < 0)
		return -errno;
	owners[i] = (struct owner){ .fd = keep, .tgid = tgid, .dev = st->st_dev, .ino = st->st_ino };
	__atomic_fetch_add(&nowners, 1, __ATOMIC_RELAXED);
	return 0;
}

/* The owner of process tgid for o's file: a descriptor of it for the caller to close (the owner may be closed
 * meanwhile, and its number reused); made at the first lock when make, else a new description of the record that
 * holds no lock (F_GETLK needs no owner). -errno when it cannot be. */
static int owner_of(pid_t tgid, struct ps_open *o, int make)
{
	struct stat st;
	int i, free_slot, fd, rc = record_of(o, &st);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&owners_mutex);
	if ((i = owner_find(tgid, &st, &free_slot)) >= 0) {
		fd = (int)REAL(fcntl)(owners[i].fd, F_DUPFD_CLOEXEC, 0);
		pthread_mutex_unlock(&owners_mutex);
		return fd < 0 ? -errno : fd;
	}
	if (!make) {
		pthread_mutex_unlock(&owners_mutex);
		return ps_lock_record_open(o);
	}
	if (free_slot < 0 || sv_watch(tgid) < 0) {
		pthread_mutex_unlock(&owners_mutex);
		ps_refusal("supervisor: process %d locks a file: %s (ENOLCK)", (int)tgid,
			   free_slot < 0 ? "more than 1024 processes and files hold locks" : "it cannot be watched");
		return -ENOLCK;
	}
	/* (made under the lock: another thread's first lock of the file must find this owner) */
	if ((fd = ps_lock_record_open(o)) >= 0 && (rc = owner_add(free_slot, fd, tgid, &st)) < 0) {
		REAL(close)(fd);
		fd = rc;
	}
	pthread_mutex_unlock(&owners_mutex);
	return fd;
}

/* A lock granted after a wait, on owner (a descriptor of the owner description): while the process waited, it may
 * have closed a descriptor of the file, which closed its owner - and a lock granted since must stay, as the
 * kernel's would. The description that holds it becomes the owner again. */
static void owner_after_wait(pid_t tgid, struct ps_open *o, int owner)
{
	struct stat st;
	int free_slot;

	if (record_of(o, &st) < 0)
		return;
	pthread_mutex_lock(&owners_mutex);
	if (owner_find(tgid, &st, &free_slot) < 0 && free_slot >= 0)
		owner_add(free_slot, owner, tgid, &st);
	pthread_mutex_unlock(&owners_mutex);
}

static int is_posix(int cmd)
{
	return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK;
}

/* A lock call that has to wait (F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB) waits in a thread of its own, which
 * answers the program when the lock is granted: a worker waiting there would be one less to answer the call that
 * releases it (64 waits wedged the supervisor). Killed while it waited, the program is answered by nobody, and the
 * lock granted to it is let go at once. */
struct wait {
	int listener;
	uint64_t id;
	pid_t tgid;
	struct ps_open *o; /* a reference */
	int s;             /* another descriptor of the supervisor's (its number may be closed and reused meanwhile) */
	int owner;         /* POSIX: another descriptor of the owner; else -1 */
	int cmd;           /* the fcntl command, or 0: flock */
	int op;
	struct flock fl;
};

static void wait_done(struct wait *w)
{
	if (w->o)
		ps_open_put(w->o);
	REAL(close)(w->s);
	if (w->owner >= 0)
		REAL(close)(w->owner);
	free(w);
}

static void undo(struct wait *w)
{
	struct flock all = w->fl;

	all.l_type = F_UNLCK;
	if (w->cmd)
		ps_lock_fcntl_as(w->o, w->s, w->cmd == F_SETLKW ? F_SETLK : F_OFD_SETLK, &all, w->owner);
	else
		ps_lock_flock(w->o, LOCK_UN);
}

static void *wait_for_lock(void *arg)
{
	struct wait *w = arg;
	struct seccomp_notif_resp resp = { .id = w->id };
	long rc;

	if (!ps_enter()) {
		rc = -EDEADLK;
	} else {
		rc = w->cmd ? ps_lock_fcntl_as(w->o, w->s, w->cmd, &w->fl, w->owner) : ps_lock_flock(w->o, w->op);
		if (rc == 0 && ioctl(w->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &w->id) < 0)
			undo(w); /* (the program is gone) */
		else if (rc == 0 && w->owner >= 0)
			owner_after_wait(w->tgid, w->o, w->owner);
		ps_leave();
	}
	resp.error = (int)(rc < 0 ? rc : 0);
	if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
		ps_debug("supervisor: cannot answer a lock wait of %d: %s", (int)w->tgid, strerror(errno));
	wait_done(w);
	return NULL;
}

/* Hand the wait in w to a thread of its own: SV_ANSWERED (it answers), or -errno. */
static long wait_apart(struct wait *w)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, wait_for_lock, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		w->o = NULL; /* (the caller keeps its reference) */
		wait_done(w);
		return -ENOLCK;
	}
	return SV_ANSWERED;
}

/* The lock call (cmd, or 0 and op: flock) on o, whose descriptor in the supervisor is s: tried at once, and when
 * it has to wait, handed to a thread - which then holds the caller's reference to o (SV_ANSWERED). */
static long lock(const struct sv_call *c, struct ps_open *o, int s, int cmd, int op, struct flock *fl)
{
	int wants_wait = cmd ? cmd == F_SETLKW || cmd == F_OFD_SETLKW : !(op & LOCK_NB) && (op & (LOCK_SH | LOCK_EX));
	int now = cmd == F_SETLKW ? F_SETLK : cmd == F_OFD_SETLKW ? F_OFD_SETLK : cmd;
	pid_t tgid = sv_tgid_of(c->pid);
	struct wait *w;
	int owner = -1;
	long rc;

	if (is_posix(cmd) && (owner = owner_of(tgid, o, cmd != F_GETLK)) < 0)
		return owner;
	if (!is_posix(cmd) && cmd != F_OFD_GETLK)
		sv_watch(tgid); /* (its flock and OFD locks go with its descriptions when it is killed) */
	rc = cmd ? ps_lock_fcntl_as(o, s, now, fl, owner) : ps_lock_flock(o, op | (wants_wait ? LOCK_NB : 0));
	if (!wants_wait || (rc != -EAGAIN && rc != -EACCES && rc != -EWOULDBLOCK) || !(w = malloc(sizeof(*w)))) {
		if (owner >= 0)
			REAL(close)(owner);
		return rc;
	}
	*w = (struct wait){ .listener = c->listener, .id = c->n->id, .tgid = tgid, .o = o, .owner = owner, .cmd = cmd,
			    .op = op, .s = (int)REAL(fcntl)(s, F_DUPFD_CLOEXEC, 0) };
	if (fl)
		w->fl = *fl;
	if (w->s < 0) {
		free(w);
		if (owner >= 0)
			REAL(close)(owner);
		return -ENOLCK;
	}
	return wait_apart(w); /* (o's reference goes to the thread) */
}

long sv_lock_fcntl(const struct sv_call *c, int s, int cmd, uint64_t addr)
{
	struct flock fl;
	struct ps_open *o;
	long rc;

	if (ps_change_denied()) /* (under --deny every process locks the lower file itself, as the shim's do) */
		return SV_CONTINUE;
	if (sv_peek(c, addr, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	if (!ps_enter())
		return SV_CONTINUE;
	if (!(o = ps_fd_get(s))) {
		ps_leave();
		return SV_CONTINUE;
	}
	if ((rc = lock(c, o, s, cmd, 0, &fl)) != SV_ANSWERED)
		ps_open_put(o);
	ps_leave();
	if (rc == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK) && sv_poke(c, addr, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	return rc;
}

long sv_lock_flock(const struct sv_call *c, int s, int op)
{
	struct ps_open *o;
	long rc;

	if (ps_change_denied())
		return SV_CONTINUE;
	if (!ps_enter())
		return SV_CONTINUE;
	if (!(o = ps_fd_get(s))) {
		ps_leave();
		return SV_CONTINUE;
	}
	if ((rc = lock(c, o, s, 0, op, NULL)) != SV_ANSWERED)
		ps_open_put(o);
	ps_leave();
	return rc;
}

void sv_lock_closing(const struct sv_call *c, int s)
{
	struct ps_open *o;
	struct stat st;

	if (!__atomic_load_n(&nowners, __ATOMIC_RELAXED) || !ps_enter())
		return;
	if ((o = ps_fd_get(s)) != NULL) {
		if (o->file && REAL(fstat)(o->file->rec.fd, &st) == 0)
			owners_close(sv_tgid_of(c->pid), 1, st.st_dev, st.st_ino);
		ps_open_put(o);
	}
	ps_leave();
}

void sv_lock_process_gone(pid_t tgid)
{
	if (__atomic_load_n(&nowners, __ATOMIC_RELAXED))
		owners_close(tgid, 0, 0, 0);
	sv_fd_drop_dead(); /* (its flock and OFD locks go with the supervisor's descriptions of its files) */
}
