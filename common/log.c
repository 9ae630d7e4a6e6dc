/* log.c - one-line log records on a private fd (see log.h). */
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_fd = 2;
static int log_debug;
static const char *log_prog = "pageshadow";

void ps_log_init(int fd, int debug, const char *progname)
{
	log_fd = fd >= 0 ? fd : 2;
	log_debug = debug;
	if (progname)
		log_prog = progname;
}

int ps_log_fd(void)
{
	return log_fd;
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
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = ps_sys->write(log_fd, line + off, (size_t)n - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
out:
	errno = saved;
}
