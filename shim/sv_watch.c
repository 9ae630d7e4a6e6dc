/* sv_watch.c - the processes whose end the supervisor must act on, even when they say nothing (sv.h).
 *
 * A process that exits calls exit_group, which is sent; one killed by a signal (SIGKILL), or whose last thread
 * calls exit, sends nothing. Its POSIX locks (sv_lock.c) would outlive it, and the stores its shared maps made
 * (sv_mirror.c) would wait for the next call on the file. So each process that holds such a thing is watched: a
 * thread polls a pidfd per process, and calls sv_lock_process_gone and sv_mirror_process_gone when it ends.
 */
#include "sv.h"
#include "shim.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WATCH_MAX 1024

static struct watch {
	pid_t tgid; /* 0: a free slot */
	int pidfd;
} watched[WATCH_MAX];
static pthread_mutex_t watch_mutex = PTHREAD_MUTEX_INITIALIZER;
static int wake = -1; /* an eventfd: the set changed */

static void *watcher(void *arg)
{
	struct pollfd p[WATCH_MAX + 1];
	pid_t tgids[WATCH_MAX + 1];
	uint64_t n;

	(void)arg;
	for (;;) {
		int k = 1;

		p[0] = (struct pollfd){ .fd = wake, .events = POLLIN };
		pthread_mutex_lock(&watch_mutex);
		for (int i = 0; i < WATCH_MAX; i++)
			if (watched[i].tgid) {
				tgids[k] = watched[i].tgid;
				p[k++] = (struct pollfd){ .fd = watched[i].pidfd, .events = POLLIN };
			}
		pthread_mutex_unlock(&watch_mutex);
		if (poll(p, (nfds_t)k, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents & POLLIN)
			(void)!read(wake, &n, sizeof(n));
		for (int j = 1; j < k; j++) {
			if (!(p[j].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
				continue;
			sv_lock_process_gone(tgids[j]);
			sv_mirror_process_gone(tgids[j]);
			pthread_mutex_lock(&watch_mutex);
			for (int i = 0; i < WATCH_MAX; i++)
				if (watched[i].tgid == tgids[j]) {
					REAL(close)(watched[i].pidfd);
					watched[i].tgid = 0;
				}
			pthread_mutex_unlock(&watch_mutex);
		}
	}
}

static void watcher_start(void)
{
	pthread_attr_t attr;
	pthread_t t;

	if ((wake = eventfd(0, EFD_CLOEXEC)) < 0) {
		ps_error("supervisor: no eventfd to watch processes: %s", strerror(errno));
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, watcher, NULL) != 0)
		ps_error("supervisor: cannot start the thread that watches processes: what a killed one holds stays "
			 "until the supervisor ends");
	pthread_attr_destroy(&attr);
}

int sv_watch(pid_t tgid)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int free_slot = -1, pidfd;

	pthread_once(&once, watcher_start);
	pthread_mutex_lock(&watch_mutex);
	for (int i = 0; i < WATCH_MAX; i++) {
		if (watched[i].tgid == tgid) {
			pthread_mutex_unlock(&watch_mutex);
			return 0;
		}
		if (!watched[i].tgid && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0 || (pidfd = (int)syscall(SYS_pidfd_open, tgid, 0)) < 0) {
		int e = free_slot < 0 ? ENOSPC : errno;

		pthread_mutex_unlock(&watch_mutex);
		return -e;
	}
	watched[free_slot] = (struct watch){ .tgid = tgid, .pidfd = pidfd };
	pthread_mutex_unlock(&watch_mutex);
	if (wake >= 0)
		(void)!write(wake, &(uint64_t){ 1 }, sizeof(uint64_t));
	return 0;
}
