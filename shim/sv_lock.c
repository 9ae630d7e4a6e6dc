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
 * when it exits (exit_group), and when it dies without a word (SIGKILL: sv_watch.c). Not kept: the kernel's deadlock detection (EDEADLK; OFD locks have none), and a conflicting lock's l_pid
 * when a supervised process holds it (-1, as for OFD locks).
 */
#include "sv.h"
#include "shim.h"
#include "change.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OWNER_MAX 256

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
	REAL(close)(w->fd); /* (its locks go with it) */
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

/* The owner of c's process for o's file, made at its first lock: another descriptor of it (the caller closes
 * it: the owner may be closed meanwhile, and its number reused), or -errno. */
static int owner_of(const struct sv_call *c, struct ps_open *o)
{
	pid_t tgid = sv_tgid_of(c->pid);
	int fd = ps_lock_record_open(o), free_slot = -1, rc;
	struct stat st;

	if (fd < 0)
		return fd;
	if (REAL(fstat)(fd, &st) < 0) {
		REAL(close)(fd);
		return -errno;
	}
	pthread_mutex_lock(&owners_mutex);
	for (int i = 0; i < OWNER_MAX; i++) {
		if (owners[i].fd < 0) {
			free_slot = free_slot < 0 ? i : free_slot;
		} else if (owners[i].tgid == tgid && owners[i].dev == st.st_dev && owners[i].ino == st.st_ino) {
			REAL(close)(fd);
			fd = (int)REAL(fcntl)(owners[i].fd, F_DUPFD_CLOEXEC, 0);
			pthread_mutex_unlock(&owners_mutex);
			return fd < 0 ? -errno : fd;
		}
	}
	if (free_slot < 0 || (rc = sv_watch(tgid)) < 0) {
		pthread_mutex_unlock(&owners_mutex);
		REAL(close)(fd);
		ps_refusal("supervisor: process %d locks a file: %s (ENOLCK)", (int)c->pid,
			   free_slot < 0 ? "more than 256 processes and files hold locks" : "it cannot be watched");
		return -ENOLCK;
	}
	owners[free_slot] = (struct owner){ .fd = fd, .tgid = tgid, .dev = st.st_dev, .ino = st.st_ino };
	__atomic_fetch_add(&nowners, 1, __ATOMIC_RELAXED);
	fd = (int)REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&owners_mutex);
	return fd < 0 ? -errno : fd;
}

static int is_posix(int cmd)
{
	return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK;
}

static int waits(int cmd)
{
	return cmd == F_SETLKW || cmd == F_OFD_SETLKW;
}

/* The lock call on o (the supervisor's descriptor s), in the shim's engine. */
static long lock_in_engine(const struct sv_call *c, struct ps_open *o, int s, int cmd, struct flock *fl)
{
	int owner = -1;
	long rc;

	if (is_posix(cmd) && (owner = owner_of(c, o)) < 0)
		return owner;
	if (waits(cmd))
		sv_turn_release(c);
	rc = ps_lock_fcntl_as(o, s, cmd, fl, owner);
	if (owner >= 0)
		REAL(close)(owner);
	return rc;
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
	rc = lock_in_engine(c, o, s, cmd, &fl);
	ps_open_put(o);
	ps_leave();
	if (rc == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK) && sv_poke(c, addr, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	return rc;
}

long sv_lock_flock(const struct sv_call *c, int s, int op)
{
	int saved = errno;
	long rc;

	if (ps_change_denied())
		return SV_CONTINUE;
	if (!(op & LOCK_NB) && (op & (LOCK_SH | LOCK_EX)))
		sv_turn_release(c);
	rc = flock(s, op) < 0 ? -errno : 0; /* (the shim: on the record, through the description's own descriptor) */
	errno = saved;
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
}
