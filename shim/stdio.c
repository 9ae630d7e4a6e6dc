/* stdio.c - fopen, fopen64, freopen, freopen64, fdopen on shadowed files; dprintf and vdprintf into them.
 *
 * Entry points: the wrappers (symbols.def).
 * glibc's stdio opens with an internal open and reads and writes with internal syscalls that no wrapper sees.
 * So a stream on a file whose bytes need the merge is a fopencookie stream whose functions call the shim's own
 * read/write/lseek/close; its _fileno is set to the real descriptor so fileno() returns an fd the shim knows.
 * A stream on a file that needs no merge (never written and opened read-only, or whose lower bytes are all gone
 * after a truncation) stays an ordinary glibc stream on the real descriptor: reads and writes on it are plain.
 */
#include "shim.h"
#include "log.h"
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fopen's mode string to open flags; -1 for a mode fopen would reject. */
static int mode_flags(const char *mode)
{
	int flags;

	switch (mode[0]) {
	case 'r':
		flags = O_RDONLY;
		break;
	case 'w':
		flags = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		flags = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -1;
	}
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x')
			flags |= O_EXCL;
		else if (*m == 'e')
			flags |= O_CLOEXEC;
	}
	return flags;
}

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
	return read((int)(intptr_t)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
	ssize_t w = write((int)(intptr_t)c, buf, n);

	return w < 0 ? 0 : w; /* fopencookie: 0 reports the error, errno is kept */
}

static int cookie_seek(void *c, off64_t *pos, int whence)
{
	off64_t r = lseek64((int)(intptr_t)c, *pos, whence);

	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int cookie_close(void *c)
{
	return close((int)(intptr_t)c);
}

static const cookie_io_functions_t merged_io = {
	.read = cookie_read,
	.write = cookie_write,
	.seek = cookie_seek,
	.close = cookie_close,
};

/* Does fd need a merged stream? Lower bytes that still show through below lower_len do. */
static int needs_merge(int fd)
{
	struct ps_open *o;
	int merge = 0;

	if (!ps_enter())
		return 0;
	o = ps_fd_get(fd);
	if (o) {
		merge = ps_merge_shows_lower(o->file);
		ps_open_put(o);
	}
	ps_leave();
	return merge;
}

static FILE *merged_stream(int fd, const char *mode)
{
	FILE *fp = fopencookie((void *)(intptr_t)fd, mode, merged_io);

	if (fp)
		fp->_fileno = fd;
	return fp;
}

/* Once installed, a merged standard stream stays: its functions go through the shim's wrappers to whatever the
 * fd is at flush time, which is what glibc's own stream does. */
void ps_stdio_replace_std(int fd)
{
	static int replaced[3];
	FILE *fp;

	if (fd < 0 || fd > 2 || !ps_fd_table_is_ours() || __atomic_exchange_n(&replaced[fd], 1, __ATOMIC_ACQ_REL))
		return;
	fp = merged_stream(fd, fd == 0 ? "r" : "w");
	if (!fp)
		return;
	if (fd == 0)
		stdin = fp;
	else if (fd == 1)
		stdout = fp;
	else
		stderr = fp;
	if (fd == 2)
		setvbuf(fp, NULL, _IONBF, 0);
}

/* 1: path lies under a prefix, or names a descriptor of this process that needs the merge (/dev/stdin): the shim
 * opens it; 0: not, -1: error (errno set). */
static int stream_path_in_prefix(const char *path)
{
	int fd = ps_own_fd_name(path), rc;

	if (fd >= 0 && ps_enter()) {
		rc = !ps_fd_kernel_serves(fd);
		ps_leave();
		if (rc)
			return 1;
	}
	rc = ps_path_in_prefix(path, 1);

	if (rc < 0) {
		errno = -ps_errno_for_program(rc);
		return -1;
	}
	return rc;
}

/* Open path as fopen(mode) would, through the shim's open. */
static int open_for_stream(const char *path, const char *mode, int *flags)
{
	*flags = mode_flags(mode);
	if (*flags < 0) {
		errno = EINVAL;
		return -1;
	}
	return open(path, *flags, 0666);
}

/* A plain stream on fd that may write: glibc writes it with internal system calls the shim never sees, so the
 * description's first write is noted when the stream is made (change.h). */
static void note_stream_writes(int fd, const char *mode)
{
	int flags = mode_flags(mode), saved = errno;
	struct ps_open *o;

	if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || !__atomic_load_n(&ps_change_mode, __ATOMIC_RELAXED) ||
	    !ps_enter())
		return;
	if ((o = ps_fd_get(fd))) {
		ps_open_changed(o, 1);
		ps_open_put(o);
	}
	ps_leave();
	errno = saved;
}

static FILE *plain_stream(int fd, const char *mode)
{
	FILE *fp = REAL(fdopen)(fd, mode);

	if (fp)
		note_stream_writes(fd, mode);
	return fp;
}

static FILE *fopen_shadowed(const char *path, const char *mode)
{
	int flags, saved;
	int fd = open_for_stream(path, mode, &flags);
	FILE *fp;

	if (fd < 0)
		return NULL;
	fp = needs_merge(fd) ? merged_stream(fd, mode) : plain_stream(fd, mode);
	if (!fp) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return fp;
}

FILE *fopen(const char *path, const char *mode)
{
	int in = stream_path_in_prefix(path);

	if (in == 0)
		return REAL(fopen)(ps_pass(path), mode);
	return in < 0 ? NULL : fopen_shadowed(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	int in = stream_path_in_prefix(path);

	if (in == 0)
		return REAL(fopen64)(ps_pass(path), mode);
	return in < 0 ? NULL : fopen_shadowed(path, mode);
}

FILE *fdopen(int fd, const char *mode)
{
	return needs_merge(fd) ? merged_stream(fd, mode) : plain_stream(fd, mode);
}

/* freopen of a standard stream onto a file that needs the merge (freopen(path, "r", stdin)): the file goes under
 * the stream's own descriptor number, as glibc's freopen keeps it, and the dup there installs a merged standard
 * stream (ps_stdio_replace_std). The stream returned is that merged one: code that uses stdin or the returned
 * pointer reads merged bytes; a copy of the old pointer kept from before does not. 1: handled (*out is the
 * stream, or NULL with errno); 0: not a standard stream. */
static int freopen_std_merged(int fd, int flags, FILE *stream, FILE **out)
{
	int std = stream == stdin ? 0 : stream == stdout ? 1 : stream == stderr ? 2 : -1;
	int saved;

	if (std < 0)
		return 0;
	fflush(stream);
	*out = NULL;
	if (dup3(fd, std, (flags & O_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return 1;
	}
	close(fd);
	*out = std == 0 ? stdin : std == 1 ? stdout : stderr;
	return 1;
}

/* freopen keeps the FILE: open the file through the shim, let glibc reopen that descriptor by its /proc name,
 * then put the shim's descriptor under the stream's number. A stream that would need the merge cannot be made
 * from an existing FILE, except a standard stream (above): refused. */
static FILE *freopen_shadowed(FILE *(*reopen)(const char *, const char *, FILE *), const char *path,
			      const char *mode, FILE *stream)
{
	char proc[64];
	int flags, saved;
	int fd = open_for_stream(path, mode, &flags);
	FILE *fp;

	if (fd < 0)
		return NULL;
	if (needs_merge(fd)) {
		if (freopen_std_merged(fd, flags, stream, &fp))
			return fp;
		ps_error("%s: freopen of a partly shadowed file onto a stream other than stdin, stdout or stderr is "
			 "not supported",
			 path);
		close(fd);
		errno = EOPNOTSUPP;
		return NULL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	fp = reopen(proc, mode, stream);
	saved = errno;
	if (fp && dup3(fd, fileno(fp), (flags & O_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		saved = errno, fp = NULL;
	if (fp)
		note_stream_writes(fd, mode);
	close(fd);
	errno = saved;
	return fp;
}

FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	int in = path ? stream_path_in_prefix(path) : 0;

	if (in == 0)
		return REAL(freopen)(path ? ps_pass(path) : path, mode, stream);
	return in < 0 ? NULL : freopen_shadowed(REAL(freopen), path, mode, stream);
}

FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	int in = path ? stream_path_in_prefix(path) : 0;

	if (in == 0)
		return REAL(freopen64)(path ? ps_pass(path) : path, mode, stream);
	return in < 0 ? NULL : freopen_shadowed(REAL(freopen64), path, mode, stream);
}

/* dprintf formats into a buffer of glibc's and writes it with an internal write that no wrapper sees: into a file
 * that needs the merge, the text is formatted here and written through the shim. len: what formatting gave. */
static int write_formatted(int fd, char *text, int len)
{
	int done = 0;

	if (len < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, text + done, (size_t)(len - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* a write that takes nothing would loop forever */
			free(text);
			return -1;
		}
		done += (int)n;
	}
	free(text);
	return len;
}

int vdprintf(int fd, const char *fmt, va_list ap)
{
	char *text = NULL;
	int len;

	if (!needs_merge(fd))
		return REAL(vdprintf)(fd, fmt, ap);
	len = vasprintf(&text, fmt, ap);
	return write_formatted(fd, text, len);
}

int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vdprintf(fd, fmt, ap);
	va_end(ap);
	return rc;
}

/* The _FORTIFY_SOURCE forms: glibc's checked formatting (flag > 0 refuses %n in writable memory) either way. */
extern int __vasprintf_chk(char **out, int flag, const char *fmt, va_list ap);

int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	char *text = NULL;
	int len;

	if (!needs_merge(fd))
		return REAL(__vdprintf_chk)(fd, flag, fmt, ap);
	len = __vasprintf_chk(&text, flag, fmt, ap);
	return write_formatted(fd, text, len);
}

int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = __vdprintf_chk(fd, flag, fmt, ap);
	va_end(ap);
	return rc;
}
