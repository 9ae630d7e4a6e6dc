/* sv_loop.c - the supervisor's workers: receive a notification, answer it, again (sv.h).
 *
 * One worker at a time blocks in SECCOMP_IOCTL_NOTIF_RECV. It answers a short call itself and receives the next;
 * before a call that may wait it hands the turn to another and answers it alone; when the last idle one takes a
 * call, another is started (up to MAX_WORKERS), so a call that waits (a FIFO, fsync) never holds up the program's
 * other threads. Each worker has its own working directory and umask (unshare(CLONE_FS)): calls are
 * made relative to the program's directory and with its umask. The main thread waits for the listener to hang up
 * - no process uses the filter any more - and ends the supervisor.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define MAX_WORKERS 64
#define TRANSFER_BUF (1U << 20)

static int listener = -1;
static unsigned threshold;
static struct seccomp_notif_sizes sizes;
static int workers, idle;
static pthread_mutex_t workers_mutex = PTHREAD_MUTEX_INITIALIZER;
/* One worker at a time waits in the kernel for the next call: the program's thread then wakes that one, on its
 * own CPU (SYNC_WAKE_UP), instead of the kernel choosing among several (twice the latency, measured). It keeps
 * that turn while it answers a call that cannot wait long (keeps_turn): handing the turn over - a futex wake of
 * the next worker and a wait to get it back - was 40% of a merged pread (42 -> 24 us, measured side by side). */
static pthread_mutex_t receive_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Calls answered in a few system calls on files the supervisor holds, which no other process can make wait:
 * the worker answers them without handing over the turn to receive. Opens (a FIFO waits for its other end; not
 * one with O_DIRECTORY, O_PATH or O_NONBLOCK),
 * execs and maps (copies), fsync, truncation, transfers of more than one buffer (readv: any) and the zero-copy
 * calls (a pipe) hand it over first; so does a kept call that has to wait after all (sv_turn_release). */
static int keeps_turn(const struct seccomp_notif *n)
{
	switch (n->data.nr) {
	case SYS_read: case SYS_pread64: case SYS_write: case SYS_pwrite64:
		return n->data.args[2] <= TRANSFER_BUF; /* (a large transfer would hold up the others) */
	case SYS_openat: /* (an open that cannot wait for a FIFO's other end: opendir, O_PATH, O_NONBLOCK) */
		return (n->data.args[2] & (O_DIRECTORY | O_PATH | O_NONBLOCK)) != 0;
	case SYS_lseek: case SYS_fstat: case SYS_newfstatat: case SYS_statx: case SYS_fstatfs:
	case SYS_close: case SYS_close_range: case SYS_dup: case SYS_dup3: case SYS_fcntl: case SYS_getdents64:
	case SYS_faccessat: case SYS_faccessat2: case SYS_readlinkat: case SYS_getcwd: case SYS_chdir:
	case SYS_fchdir: case SYS_exit_group:
#ifdef SYS_open
	case SYS_stat: case SYS_lstat: case SYS_access: case SYS_readlink: case SYS_dup2:
#endif
		return 1;
	}
	return 0;
}

static void start_worker(void);

int sv_valid(const struct sv_call *c)
{
	uint64_t id = c->n->id;

	return ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void respond(const struct sv_call *c, long rc, struct seccomp_notif_resp *resp)
{
	if (rc == SV_ANSWERED)
		return;
	memset(resp, 0, sizes.seccomp_notif_resp);
	resp->id = c->n->id;
	if (rc == SV_CONTINUE)
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	else if (rc < 0)
		resp->error = (int)rc;
	else
		resp->val = rc;
	/* ENOENT: the caller died or was interrupted by a signal meanwhile; nobody waits for the answer */
	if (ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		ps_debug("supervisor: cannot answer call %d of %d: %s", c->n->data.nr, (int)c->pid, strerror(errno));
}

/* A new idle worker when this one was the last. */
static void took_call(void)
{
	int more;

	pthread_mutex_lock(&workers_mutex);
	idle--;
	more = idle == 0 && workers < MAX_WORKERS;
	pthread_mutex_unlock(&workers_mutex);
	if (more)
		start_worker();
}

void sv_turn_release(const struct sv_call *c)
{
	if (!*c->turn)
		return;
	pthread_mutex_unlock(&receive_mutex);
	*c->turn = 0;
	took_call();
}

static void *worker(void *arg)
{
	struct seccomp_notif *n = calloc(1, sizes.seccomp_notif);
	struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
	struct sv_call c = { .listener = listener, .threshold = threshold, .bufsz = TRANSFER_BUF };
	int turn = 0;

	(void)arg;
	c.buf = malloc(TRANSFER_BUF);
	if (!n || !resp || !c.buf || unshare(CLONE_FS) < 0) {
		ps_error("supervisor: cannot start a worker: %s", strerror(errno));
		return NULL;
	}
	c.turn = &turn;
	for (;;) {
		memset(n, 0, sizes.seccomp_notif);
		if (!turn)
			pthread_mutex_lock(&receive_mutex);
		turn = 1;
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) < 0) {
			int e = errno;

			if (e == EINTR || e == ENOENT)
				continue;
			pthread_mutex_unlock(&receive_mutex);
			ps_error("supervisor: receiving a call: %s", strerror(e));
			return NULL;
		}
		if (!keeps_turn(n))
			sv_turn_release(&c);
		c.n = n;
		c.pid = (pid_t)n->pid;
		memcpy(c.a, n->data.args, sizeof(c.a));
		c.cwd_kept = -1;
		respond(&c, sv_dispatch(&c), resp);
		if (!turn) {
			pthread_mutex_lock(&workers_mutex);
			idle++;
			pthread_mutex_unlock(&workers_mutex);
		}
	}
}

static void start_worker(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&workers_mutex);
	workers++;
	idle++;
	pthread_mutex_unlock(&workers_mutex);
	if ((rc = pthread_create(&t, &attr, worker, NULL)) != 0) {
		pthread_mutex_lock(&workers_mutex);
		workers--;
		idle--;
		pthread_mutex_unlock(&workers_mutex);
		ps_error("supervisor: cannot start a worker: %s", strerror(rc));
	}
	pthread_attr_destroy(&attr);
}

void ps_sv_serve(int fd, unsigned thr)
{
	uint64_t sync_flag = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
	struct pollfd p = { .fd = fd, .events = 0 };

	listener = fd;
	threshold = thr;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		ps_error("supervisor: SECCOMP_GET_NOTIF_SIZES: %s", strerror(errno));
		_exit(1);
	}
	if (sizes.seccomp_notif < sizeof(struct seccomp_notif))
		sizes.seccomp_notif = sizeof(struct seccomp_notif);
	if (sizes.seccomp_notif_resp < sizeof(struct seccomp_notif_resp))
		sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
	/* Linux 6.6: the program's thread hands its CPU straight to the worker and back (about 8x faster a call) */
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, sync_flag) < 0)
		ps_debug("supervisor: no synchronous wake-up (%s): each call costs a scheduler round trip",
			 strerror(errno));
	start_worker();
	start_worker();
	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			break;
	}
	sv_exec_end();
	sv_map_end();
	_exit(0);
}
