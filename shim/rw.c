/* rw.c - read, write, their positional and vectored forms, lseek, copy_file_range, sendfile, splice.
 *
 * Entry points: the wrappers (symbols.def), ps_read_fd, ps_write_fd, ps_lseek_fd.
 * (tee and vmsplice need no wrapper: they move bytes between pipes only, never to or from a file.)
 * Every wrapper is: not a merged fd -> the real call; else the engine. A merged fd's file position stays in the
 * kernel (it is a real descriptor of the data file or of the lower file); sequential calls read it, use the
 * positional engine call and move it, under the description's mutex so threads sharing it do not interleave.
 */
#include "shim.h"
#include "log.h"
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <unistd.h>

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020 /* Linux 6.9; glibc 2.36 does not name it yet */
#endif

static int writable(const struct ps_open *o)
{
	return o->kind == PS_OPEN_DATA && (o->flags & O_ACCMODE) != O_RDONLY;
}

/* Writes to a file with no lower bytes left need no engine: the data file is the whole file. */
static int plain_data(const struct ps_open *o)
{
	return o->kind == PS_OPEN_DATA && !ps_merge_shows_lower(o->file);
}

static ssize_t preadv_merged(struct ps_open *o, const struct iovec *iov, int iovcnt, off_t off)
{
	ssize_t total = 0;

	if (!ps_open_readable(o))
		return -EBADF;
	for (int i = 0; i < iovcnt; i++) {
		ssize_t r = ps_merge_pread(o->file, iov[i].iov_base, iov[i].iov_len, off + total);

		if (r < 0)
			return total > 0 ? total : r;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

static ssize_t pwritev_merged(struct ps_open *o, int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	int rc;
	ssize_t w;

	if (!writable(o))
		return -EBADF;
	rc = ps_merge_prepare_write(o->file, off, iov_total(iov, iovcnt));
	if (rc < 0)
		return rc;
	w = REAL(pwritev2)(fd, iov, iovcnt, off, flags);
	return w < 0 ? -errno : w;
}

/* Sequential I/O: read the kernel's position, do the positional call, move the position. */
static ssize_t at_position(struct ps_open *o, int fd, const struct iovec *iov, int iovcnt, int is_write, int flags)
{
	off_t pos;
	ssize_t r;

	pthread_mutex_lock(&o->mutex);
	pos = REAL(lseek)(fd, 0, SEEK_CUR);
	if (pos < 0) {
		r = -errno;
	} else {
		r = is_write ? pwritev_merged(o, fd, iov, iovcnt, pos, flags) : preadv_merged(o, iov, iovcnt, pos);
		if (r > 0 && REAL(lseek)(fd, pos + r, SEEK_SET) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&o->mutex);
	return r;
}

ssize_t ps_read_fd(struct ps_open *o, int fd, void *buf, size_t n)
{
	struct iovec iov = { buf, n };

	if (plain_data(o) || !ps_open_readable(o)) {
		ssize_t r = REAL(read)(fd, buf, n);
		return r < 0 ? -errno : r;
	}
	return at_position(o, fd, &iov, 1, 0, 0);
}

/* Does a write land at the end of the file (O_APPEND unless RWF_NOAPPEND, or RWF_APPEND)? Then it is at or past
 * lower_len and needs no copy-up. */
static int appends(const struct ps_open *o, int flags)
{
	return ((o->flags & O_APPEND) && !(flags & RWF_NOAPPEND)) || (flags & RWF_APPEND);
}

ssize_t ps_write_fd(struct ps_open *o, int fd, const void *buf, size_t n)
{
	struct iovec iov = { (void *)buf, n };
	ssize_t w;

	if ((w = ps_open_change(o)) < 0)
		return w;
	if (plain_data(o) || !writable(o) || appends(o, 0)) {
		w = REAL(write)(fd, buf, n);
		if (w < 0)
			return -errno;
	} else {
		w = at_position(o, fd, &iov, 1, 1, 0);
	}
	ps_open_changed(o, w > 0);
	return w;
}

off_t ps_lseek_fd(struct ps_open *o, int fd, off_t off, int whence)
{
	off_t r;

	if (whence == SEEK_DATA || whence == SEEK_HOLE) {
		r = ps_merge_seek_hole_data(o->file, off, whence);
	} else if (whence == SEEK_END && o->kind == PS_OPEN_LOWER) {
		r = ps_merge_size(o->file);
		if (r >= 0)
			r += off;
	} else {
		r = REAL(lseek)(fd, off, whence);
		return r < 0 ? -errno : r;
	}
	if (r < 0)
		return r;
	r = REAL(lseek)(fd, r, SEEK_SET);
	return r < 0 ? -errno : r;
}

ssize_t read(int fd, void *buf, size_t n)
{
	int saved = errno;
	struct ps_open *o;

	ps_maps_prefault(buf, n);
	o = ps_fd_merged(fd);
	if (o == PS_OPEN_REFUSED)
		return ps_fd_refused(fd);
	if (!o)
		return REAL(read)(fd, buf, n);
	return ps_fd_done(o, ps_read_fd(o, fd, buf, n), saved);
}

ssize_t __read(int fd, void *buf, size_t n)
{
	return read(fd, buf, n);
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		return REAL(__read_chk)(fd, buf, n, buflen); /* glibc reports the overflow */
	return read(fd, buf, n);
}

/* The engine side of every positional and vectored call on a merged fd. off == -1: the current position
 * (preadv2/pwritev2 semantics). */
static ssize_t vector_engine(struct ps_open *o, int fd, const struct iovec *iov, int iovcnt, off_t off, int flags,
			     int is_write)
{
	ssize_t r;

	if (is_write && (r = ps_open_change(o)) < 0)
		return r;
	if (plain_data(o) || (is_write && appends(o, flags))) {
		r = is_write ? REAL(pwritev2)(fd, iov, iovcnt, off, flags) : REAL(preadv2)(fd, iov, iovcnt, off, flags);
		r = r < 0 ? -errno : r;
	} else if (iovcnt < 0 || iovcnt > IOV_MAX || (off < 0 && off != -1)) {
		r = -EINVAL;
	} else if (off == -1) {
		r = at_position(o, fd, iov, iovcnt, is_write, flags);
	} else {
		r = is_write ? pwritev_merged(o, fd, iov, iovcnt, off, flags) : preadv_merged(o, iov, iovcnt, off);
	}
	if (is_write)
		ps_open_changed(o, r > 0);
	return r;
}

/* Wrapper bodies: pass through unless fd is merged, then the engine. */
#define VECTOR_WRAPPER(passthrough, iov, iovcnt, off, flags, is_write)                                             \
	do {                                                                                                       \
		int saved_ = errno;                                                                                \
		struct ps_open *o_;                                                                                \
		if (!(is_write))                                                                                   \
			ps_maps_prefault_iov(iov, iovcnt);                                                         \
		o_ = ps_fd_merged(fd);                                                                             \
		if (o_ == PS_OPEN_REFUSED)                                                                         \
			return ps_fd_refused(fd);                                                                  \
		if (!o_)                                                                                           \
			return passthrough;                                                                        \
		return ps_fd_done(o_, vector_engine(o_, fd, iov, iovcnt, off, flags, is_write), saved_);            \
	} while (0)

#define ONE_IOV(buf, n) (&(struct iovec){ (void *)(buf), (n) })
#define CHECKED_OFF(off) ((off) < 0 ? -2 : (off)) /* a negative offset is EINVAL, never "the position" */

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	VECTOR_WRAPPER(REAL(pread)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 0);
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	VECTOR_WRAPPER(REAL(pread64)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 0);
}

ssize_t __pread64(int fd, void *buf, size_t n, off64_t off)
{
	VECTOR_WRAPPER(REAL(__pread64)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 0);
}

ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		return REAL(__pread_chk)(fd, buf, n, off, buflen); /* glibc reports the overflow */
	return pread(fd, buf, n, off);
}

ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
	if (n > buflen)
		return REAL(__pread64_chk)(fd, buf, n, off, buflen);
	return pread64(fd, buf, n, off);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	VECTOR_WRAPPER(REAL(readv)(fd, iov, iovcnt), iov, iovcnt, -1, 0, 0);
}

ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	VECTOR_WRAPPER(REAL(preadv)(fd, iov, iovcnt, off), iov, iovcnt, CHECKED_OFF(off), 0, 0);
}

ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
	VECTOR_WRAPPER(REAL(preadv64)(fd, iov, iovcnt, off), iov, iovcnt, CHECKED_OFF(off), 0, 0);
}

ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	VECTOR_WRAPPER(REAL(preadv2)(fd, iov, iovcnt, off, flags), iov, iovcnt, off, flags, 0);
}

ssize_t preadv64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
	VECTOR_WRAPPER(REAL(preadv64v2)(fd, iov, iovcnt, off, flags), iov, iovcnt, off, flags, 0);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	int saved = errno;
	struct ps_open *o = ps_fd_merged(fd);

	if (o == PS_OPEN_REFUSED)
		return ps_fd_refused(fd);
	if (!o)
		return REAL(write)(fd, buf, n);
	return ps_fd_done(o, ps_write_fd(o, fd, buf, n), saved);
}

ssize_t __write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	VECTOR_WRAPPER(REAL(pwrite)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 1);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	VECTOR_WRAPPER(REAL(pwrite64)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 1);
}

ssize_t __pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	VECTOR_WRAPPER(REAL(__pwrite64)(fd, buf, n, off), ONE_IOV(buf, n), 1, CHECKED_OFF(off), 0, 1);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	VECTOR_WRAPPER(REAL(writev)(fd, iov, iovcnt), iov, iovcnt, -1, 0, 1);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	VECTOR_WRAPPER(REAL(pwritev)(fd, iov, iovcnt, off), iov, iovcnt, CHECKED_OFF(off), 0, 1);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
	VECTOR_WRAPPER(REAL(pwritev64)(fd, iov, iovcnt, off), iov, iovcnt, CHECKED_OFF(off), 0, 1);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	VECTOR_WRAPPER(REAL(pwritev2)(fd, iov, iovcnt, off, flags), iov, iovcnt, off, flags, 1);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
	VECTOR_WRAPPER(REAL(pwritev64v2)(fd, iov, iovcnt, off, flags), iov, iovcnt, off, flags, 1);
}

static off_t lseek_impl(int fd, off_t off, int whence)
{
	int saved = errno;
	struct ps_open *o = ps_fd_merged(fd);
	off_t r;

	if (o == PS_OPEN_REFUSED)
		return ps_fd_refused(fd);
	if (!o && ps_dir_lseek(fd, off, whence, &r)) /* a merged directory's position is in its listing */
		return (off_t)ps_ret(r, saved);
	if (!o)
		return REAL(lseek)(fd, off, whence);
	return ps_fd_done(o, ps_lseek_fd(o, fd, off, whence), saved);
}

off_t lseek(int fd, off_t off, int whence)
{
	return lseek_impl(fd, off, whence);
}

off64_t lseek64(int fd, off64_t off, int whence)
{
	return lseek_impl(fd, off, whence);
}

off_t __lseek(int fd, off_t off, int whence)
{
	return lseek_impl(fd, off, whence);
}

/* ---- zero-copy calls: emulated with a buffer when either side is merged ---- */

/* Move up to n bytes from in to out. A NULL offset pointer means the descriptor's own position. */
static ssize_t copy_merged(int outfd, struct ps_open *out, off64_t *outoff, int infd, struct ps_open *in,
			   off64_t *inoff, size_t n)
{
	enum { CHUNK = 128 * 1024 };
	char *buf = malloc(CHUNK);
	ssize_t total = 0;

	if (!buf)
		return -ENOMEM;
	while ((size_t)total < n) {
		size_t want = n - (size_t)total < CHUNK ? n - (size_t)total : CHUNK;
		ssize_t r, w;

		if (in)
			r = inoff ? preadv_merged(in, &(struct iovec){ buf, want }, 1, *inoff)
				  : ps_read_fd(in, infd, buf, want);
		else
			r = inoff ? REAL(pread)(infd, buf, want, *inoff) : REAL(read)(infd, buf, want);
		if (r < 0 && !in)
			r = -errno;
		if (r <= 0) {
			if (total == 0)
				total = r;
			break;
		}
		if (out)
			w = outoff ? pwritev_merged(out, outfd, &(struct iovec){ buf, (size_t)r }, 1, *outoff, 0)
				   : ps_write_fd(out, outfd, buf, (size_t)r);
		else
			w = outoff ? REAL(pwrite)(outfd, buf, (size_t)r, *outoff) : REAL(write)(outfd, buf, (size_t)r);
		if (w < 0 && !out)
			w = -errno;
		if (w < 0) { /* put back what was read from a file (a pipe's bytes are gone, as after a failed read) */
			if (!inoff)
				REAL(lseek)(infd, -r, SEEK_CUR);
			if (total == 0)
				total = w;
			break;
		}
		if (inoff)
			*inoff += w;
		else if (w < r && REAL(lseek)(infd, w - r, SEEK_CUR) < 0)
			break;
		if (outoff)
			*outoff += w;
		total += w;
		if (w < r || (size_t)r < want)
			break;
	}
	free(buf);
	return total;
}

/* The merged descriptor behind fd (reference held) when the shim must carry a copy touching it. The output
 * side's change is asked for first (change.h): *refused is its -EROFS, or 0; and logged as the copy starts (into a
 * data file that is the whole file, the kernel makes the copy). An output side opened O_APPEND is refused with
 * append_error, as the kernel refuses it (EINVAL for sendfile and splice, EBADF for copy_file_range). */
static struct ps_open *copy_side(int fd, int is_out, int append_error, int *refused)
{
	struct ps_open *o = ps_fd_get(fd);

	if (o && o->file && is_out && (o->flags & O_APPEND))
		*refused = -append_error;
	else if (o && o->file && is_out && (*refused = ps_open_change(o)) == 0)
		ps_open_changed(o, 1);
	if (o && o->file && !(is_out && plain_data(o)))
		return o;
	if (o)
		ps_open_put(o);
	return NULL;
}

static ssize_t copy_impl(int outfd, off64_t *outoff, int infd, off64_t *inoff, size_t n, int append_error,
			 int *handled)
{
	struct ps_open *in, *out;
	int refused = 0;
	ssize_t r;

	in = copy_side(infd, 0, 0, &refused);
	out = copy_side(outfd, 1, append_error, &refused);
	*handled = in || out || refused;
	if (!*handled)
		return 0;
	r = refused ? refused : copy_merged(outfd, out, outoff, infd, in, inoff, n);
	if (in)
		ps_open_put(in);
	if (out)
		ps_open_put(out);
	return r;
}

/* A copy from a signal handler that interrupted the shim, with a merged side (fdtable.c). */
static int nested_refuses(int infd, int outfd)
{
	return ps_fd_nested_refuses(infd) || ps_fd_nested_refuses(outfd);
}

ssize_t copy_file_range(int infd, off64_t *inoff, int outfd, off64_t *outoff, size_t n, unsigned int flags)
{
	int saved = errno, handled;
	ssize_t r;

	if (!ps_enter())
		return nested_refuses(infd, outfd) ? ps_fd_refused(infd)
						   : REAL(copy_file_range)(infd, inoff, outfd, outoff, n, flags);
	r = copy_impl(outfd, outoff, infd, inoff, n, EBADF, &handled);
	ps_leave();
	if (!handled)
		return REAL(copy_file_range)(infd, inoff, outfd, outoff, n, flags);
	return ps_ret(r < 0 ? ps_errno_for_program((int)r) : r, saved);
}

static ssize_t sendfile_impl(int outfd, int infd, off64_t *off, size_t n)
{
	int saved = errno, handled;
	ssize_t r;

	if (!ps_enter())
		return nested_refuses(infd, outfd) ? ps_fd_refused(infd) : REAL(sendfile64)(outfd, infd, off, n);
	r = copy_impl(outfd, NULL, infd, off, n, EINVAL, &handled);
	ps_leave();
	if (!handled)
		return REAL(sendfile64)(outfd, infd, off, n);
	return ps_ret(r < 0 ? ps_errno_for_program((int)r) : r, saved);
}

ssize_t sendfile(int outfd, int infd, off_t *off, size_t n)
{
	return sendfile_impl(outfd, infd, (off64_t *)off, n);
}

ssize_t sendfile64(int outfd, int infd, off64_t *off, size_t n)
{
	return sendfile_impl(outfd, infd, off, n);
}

/* splice: one side is a pipe. A merged file feeding a pipe moves at most what the pipe has room for, as the
 * kernel's splice does: a program that splices into its own pipe and then out of it must not block on itself. */
static size_t pipe_room(int pipefd, size_t n, int nonblock)
{
	int size = REAL(fcntl)(pipefd, F_GETPIPE_SZ), queued = 0;

	if (size <= 0)
		return n;
	if (REAL(ioctl)(pipefd, FIONREAD, &queued) < 0 || queued < 0)
		queued = 0;
	if (size - queued <= 0) /* full: EAGAIN when not blocking, else wait for room as splice would */
		return nonblock ? 0 : n < 4096 ? n : 4096;
	return n < (size_t)(size - queued) ? n : (size_t)(size - queued);
}

ssize_t splice(int infd, off64_t *inoff, int outfd, off64_t *outoff, size_t n, unsigned int flags)
{
	struct ps_open *in, *out;
	int saved = errno, refused = 0;
	ssize_t r;

	if (!ps_enter())
		return nested_refuses(infd, outfd) ? ps_fd_refused(infd)
						   : REAL(splice)(infd, inoff, outfd, outoff, n, flags);
	in = copy_side(infd, 0, 0, &refused);
	out = copy_side(outfd, 1, EINVAL, &refused);
	if (!in && !out && !refused) {
		ps_leave();
		return REAL(splice)(infd, inoff, outfd, outoff, n, flags);
	}
	if (!refused && in && n > 0) {
		int nonblock = (flags & SPLICE_F_NONBLOCK) || (REAL(fcntl)(outfd, F_GETFL) & O_NONBLOCK);

		if ((n = pipe_room(outfd, n, nonblock)) == 0) {
			ps_open_put(in);
			if (out)
				ps_open_put(out);
			ps_leave();
			errno = EAGAIN;
			return -1;
		}
	}
	r = refused ? refused : copy_merged(outfd, out, outoff, infd, in, inoff, n);
	if (in)
		ps_open_put(in);
	if (out)
		ps_open_put(out);
	ps_leave();
	return ps_ret(r < 0 ? ps_errno_for_program((int)r) : r, saved);
}
