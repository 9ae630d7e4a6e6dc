/* log.c - one-line log records on a private fd (see log.h). */
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_fd = -1;
static int log_debug;
static const char *log_prog = "pageshadow";

/* Without a log fd of its own, the log writes to fd 2 only while fd 2 is still the file it was at start-up. */
static struct stat stderr_at_start;
static int stderr_known;

static int stderr_unchanged(void)
{
	struct stat now;

	return stderr_known && ps_sys->fstat(2, &now) == 0 && now.st_dev == stderr_at_start.st_dev &&
	       now.st_ino == stderr_at_start.st_ino;
}

/* fd 2 now is a stream a person reads: not a regular file written at offsets (a program's own data). */
static int stderr_is_for_people(void)
{
	struct stat now;
	int fl;

	if (ps_sys->fstat(2, &now) < 0)
		return 0;
	if (S_ISCHR(now.st_mode) || S_ISFIFO(now.st_mode) || S_ISSOCK(now.st_mode))
		return 1;
	return S_ISREG(now.st_mode) && (fl = ps_sys->fcntl(2, F_GETFL)) >= 0 && (fl & O_APPEND);
}

void ps_log_init(int fd, int debug, const char *progname)
{
	log_fd = fd;
	log_debug = debug;
	if (progname)
		log_prog = progname;
	if (fd < 0)
		stderr_known = ps_sys->fstat(2, &stderr_at_start) == 0;
}

int ps_log_fd(void)
{
	return log_fd < 0 ? 2 : log_fd;
}

void ps_log_renumber_fd(int from, int to)
{
	ps_sys_renumbered(&log_fd, from, to);
}

int ps_log_debug_enabled(void)
{
	return log_debug;
}

void ps_log(enum ps_log_level level, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	int n = snprintf(line, sizeof(line), "%s[%d]: %s", log_prog, (int)getpid(),
			 level == PS_LOG_DEBUG ? "debug: " : "");
	va_list ap;

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (log_fd < 0 && !stderr_unchanged() && !(level == PS_LOG_REFUSAL && stderr_is_for_people()))
		goto out; /* the program closed or reused fd 2: never write into its file */
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = ps_sys->write(log_fd < 0 ? 2 : log_fd, line + off, (size_t)n - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
out:
	errno = saved;
}
