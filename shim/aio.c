/* aio.c - POSIX asynchronous I/O (aio_read, aio_write, aio_fsync, lio_listio) on a descriptor the shim tracks.
 *
 * glibc carries out a request in a thread of its own with its internal __pread64/__pwrite64/fsync, which no
 * interposer sees: on a merged descriptor a read would return the data file's holes as zeros and a write would
 * land in the data file behind the record's back (the page not copied up: lost). So a request on a descriptor the
 * shim tracks is carried out at once, through the shim's own pread/pwrite/fsync, before the call returns - POSIX
 * lets a request complete before its call returns - and its error and result are left where aio_error and
 * aio_return (glibc's, unchanged) read them; aio_suspend and aio_cancel find it done. Its notification is sent as
 * glibc would (a queued signal with SI_ASYNCIO, a thread, or a signal to one thread). Requests on any other
 * descriptor go to glibc untouched.
 */
#include "shim.h"
#include "log.h"

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

/* Does the shim track fd (a request on it must not reach glibc's threads)? */
static int tracked(int fd)
{
	struct ps_open *o = ps_fd_get(fd);

	if (!o)
		return 0;
	ps_open_put(o);
	return 1;
}

struct thread_notice {
	void (*function)(union sigval);
	union sigval value;
};

static void *run_notice(void *arg)
{
	struct thread_notice n = *(struct thread_notice *)arg;

	free(arg);
	n.function(n.value);
	return NULL;
}

/* Tell the program a request (or a list) is done, as ev asks. */
static void notify(const struct sigevent *ev)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = ev->sigev_signo;
	si.si_code = SI_ASYNCIO;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value = ev->sigev_value;
	if (ev->sigev_notify == SIGEV_SIGNAL) {
		syscall(SYS_rt_sigqueueinfo, getpid(), ev->sigev_signo, &si);
	} else if (ev->sigev_notify == SIGEV_THREAD_ID) {
		syscall(SYS_rt_tgsigqueueinfo, getpid(), ev->_sigev_un._tid, ev->sigev_signo, &si);
	} else if (ev->sigev_notify == SIGEV_THREAD) {
		struct thread_notice *n = malloc(sizeof(*n));
		pthread_attr_t detached, *attr = ev->sigev_notify_attributes;
		pthread_t t;

		if (!n) {
			ps_error("aio: no memory to start the notification thread of a finished request");
			return;
		}
		*n = (struct thread_notice){ .function = ev->sigev_notify_function, .value = ev->sigev_value };
		if (!attr) {
			pthread_attr_init(&detached);
			pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
			attr = &detached;
		}
		if (pthread_create(&t, attr, run_notice, n) != 0) {
			ps_error("aio: cannot start the notification thread of a finished request");
			free(n);
		}
		if (attr == &detached)
			pthread_attr_destroy(&detached);
	}
}

/* Carry out one request (op: LIO_READ, LIO_WRITE, LIO_NOP, or aio_fsync's O_SYNC and O_DSYNC) through the shim's
 * wrappers; its error and result go where aio_error and aio_return read them. Returns its error. */
static int carry_out(struct aiocb *cb, int op)
{
	ssize_t n = 0;

	errno = 0;
	if (op == LIO_READ)
		n = pread(cb->aio_fildes, (void *)cb->aio_buf, cb->aio_nbytes, cb->aio_offset);
	else if (op == LIO_WRITE)
		n = pwrite(cb->aio_fildes, (const void *)cb->aio_buf, cb->aio_nbytes, cb->aio_offset);
	else if (op == O_SYNC)
		n = fsync(cb->aio_fildes);
	else if (op == O_DSYNC)
		n = fdatasync(cb->aio_fildes);
	else if (op != LIO_NOP)
		n = -1, errno = EINVAL;
	cb->__return_value = n;
	cb->__error_code = n < 0 ? errno : 0;
	return cb->__error_code;
}

static int submit(struct aiocb *cb, int op)
{
	int saved = errno;

	carry_out(cb, op);
	notify(&cb->aio_sigevent);
	errno = saved;
	return 0;
}

int aio_read(struct aiocb *cb)
{
	return tracked(cb->aio_fildes) ? submit(cb, LIO_READ) : REAL(aio_read)(cb);
}

int aio_read64(struct aiocb64 *cb)
{
	return tracked(cb->aio_fildes) ? submit((struct aiocb *)cb, LIO_READ) : REAL(aio_read64)(cb);
}

int aio_write(struct aiocb *cb)
{
	return tracked(cb->aio_fildes) ? submit(cb, LIO_WRITE) : REAL(aio_write)(cb);
}

int aio_write64(struct aiocb64 *cb)
{
	return tracked(cb->aio_fildes) ? submit((struct aiocb *)cb, LIO_WRITE) : REAL(aio_write64)(cb);
}

static int sync_request(int op, struct aiocb *cb)
{
	if (op != O_SYNC && op != O_DSYNC) {
		errno = EINVAL;
		return -1;
	}
	return submit(cb, op);
}

int aio_fsync(int op, struct aiocb *cb)
{
	return tracked(cb->aio_fildes) ? sync_request(op, cb) : REAL(aio_fsync)(op, cb);
}

int aio_fsync64(int op, struct aiocb64 *cb)
{
	return tracked(cb->aio_fildes) ? sync_request(op, (struct aiocb *)cb) : REAL(aio_fsync64)(op, cb);
}

/* A list with a request on a tracked descriptor is carried out here, all of it, in order; glibc's waits and
 * cancels find every request done. */
static int list_tracked(struct aiocb *const list[], int nent)
{
	for (int i = 0; i < nent; i++)
		if (list[i] && list[i]->aio_lio_opcode != LIO_NOP && tracked(list[i]->aio_fildes))
			return 1;
	return 0;
}

static int list_here(int mode, struct aiocb *const list[], int nent, struct sigevent *sig)
{
	int saved = errno, failed = 0;

	if ((mode != LIO_WAIT && mode != LIO_NOWAIT) || nent < 0) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < nent; i++) {
		int op = list[i] ? list[i]->aio_lio_opcode : LIO_NOP;

		if (op == LIO_NOP)
			continue;
		failed |= carry_out(list[i], op == LIO_READ || op == LIO_WRITE ? op : -1) != 0; /* (-1: EINVAL) */
		notify(&list[i]->aio_sigevent);
	}
	if (mode == LIO_NOWAIT && sig)
		notify(sig);
	if (mode == LIO_WAIT && failed) {
		errno = EIO;
		return -1;
	}
	errno = saved;
	return 0;
}

int lio_listio(int mode, struct aiocb *const list[], int nent, struct sigevent *sig)
{
	return list_tracked(list, nent) ? list_here(mode, list, nent, sig) : REAL(lio_listio)(mode, list, nent, sig);
}

int lio_listio64(int mode, struct aiocb64 *const list[], int nent, struct sigevent *sig)
{
	struct aiocb *const *l = (struct aiocb *const *)list;

	return list_tracked(l, nent) ? list_here(mode, l, nent, sig) : REAL(lio_listio64)(mode, list, nent, sig);
}
