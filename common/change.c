/* change.c - deny and log the changes under the prefixes (change.h). */
#include "change.h"
#include "json.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

unsigned ps_change_mode;
static char log_path[PATH_MAX];
static const char *log_prog = "?";

int ps_change_init(int deny, const char *path, const char *prog)
{
	unsigned mode = deny ? PS_CHANGE_DENY : 0;
	int rc = 0;

	if (prog && *prog)
		log_prog = prog;
	if (path && *path) {
		if (path[0] != '/' || strlen(path) >= sizeof(log_path)) {
			ps_error("PAGESHADOW_LOG=%s: %s; every change under the prefixes is refused", path,
				 path[0] != '/' ? "not an absolute path" : "too long");
			mode |= PS_CHANGE_DENY;
			rc = -EINVAL;
		} else {
			strcpy(log_path, path);
			mode |= PS_CHANGE_LOG;
		}
	}
	__atomic_store_n(&ps_change_mode, mode, __ATOMIC_RELEASE);
	return rc;
}

const char *ps_change_word(enum ps_change_op op)
{
	static const char *const words[] = {
#define PS_CHANGE_WORD(name, word) [PS_CHANGE_##name] = word,
		PS_CHANGE_OPS(PS_CHANGE_WORD)
#undef PS_CHANGE_WORD
	};

	return (unsigned)op < sizeof(words) / sizeof(words[0]) ? words[op] : "?";
}

/* The line for op, into out: its length (which may exceed outsz: then nothing usable was written). */
static size_t format_line(char *out, size_t outsz, enum ps_change_op op, const char *path, const char *to,
			  int denied)
{
	struct timespec now;
	struct tm tm;
	size_t n;
	int w;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	w = snprintf(out, outsz, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"pid\":%d,\"prog\":",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     now.tv_nsec / 1000000, (int)getpid());
	n = w < 0 ? 0 : (size_t)w;
	n += ps_json_string(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, log_prog);
	w = snprintf(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, ",\"op\":\"%s\",\"path\":",
		     ps_change_word(op));
	n += w < 0 ? 0 : (size_t)w;
	n += ps_json_string(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, path);
	if (to) {
		w = snprintf(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, ",\"to\":");
		n += w < 0 ? 0 : (size_t)w;
		n += ps_json_string(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, to);
	}
	w = snprintf(n < outsz ? out + n : NULL, n < outsz ? outsz - n : 0, "%s}\n", denied ? ",\"denied\":true" : "");
	return n + (w < 0 ? 0 : (size_t)w);
}

/* Append one line with one write: O_APPEND makes lines of concurrent processes follow one another whole. The
 * file is opened for each line - changes are rare next to reads, and a descriptor kept open would be one more for
 * programs to close under us or dup onto. */
static void append(const char *line, size_t n)
{
	static int complained;
	int fd = ps_sys->openat(AT_FDCWD, log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	ssize_t w = -1;

	if (fd >= 0) {
		do
			w = ps_sys->write(fd, line, n);
		while (w < 0 && errno == EINTR);
		ps_sys->close(fd);
	}
	if (w == (ssize_t)n || __atomic_exchange_n(&complained, 1, __ATOMIC_RELAXED))
		return;
	ps_error("change log %s: %s; changes go unrecorded", log_path,
		 fd < 0 || w < 0 ? strerror(errno) : "short write");
}

static void log_line(enum ps_change_op op, const char *path, const char *to, int denied)
{
	char small[4096];
	int saved = errno;
	size_t n = format_line(small, sizeof(small), op, path, to, denied);

	if (n < sizeof(small)) {
		append(small, n);
	} else { /* long names: no malloc inside a program's call, a private map instead */
		char *big = ps_sys->mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (big != MAP_FAILED) {
			append(big, format_line(big, n + 1, op, path, to, denied));
			ps_sys->munmap(big, n + 1);
		}
	}
	errno = saved;
}

void ps_change_log(enum ps_change_op op, const char *path, const char *to)
{
	log_line(op, path, to, 0);
}

/* s for a line on a terminal: control bytes (a newline in a name would split the line) as '?'. */
static const char *printable(char *out, size_t outsz, const char *s)
{
	size_t i = 0;

	for (; s[i] && i + 1 < outsz; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	return out;
}

int ps_change_refuse(enum ps_change_op op, const char *path, const char *to)
{
	char p[512], t[512];

	if (__atomic_load_n(&ps_change_mode, __ATOMIC_RELAXED) & PS_CHANGE_LOG)
		log_line(op, path, to, 1);
	ps_refusal("denied by pageshadow-run --deny: %s %s%s%s", ps_change_word(op), printable(p, sizeof(p), path),
		   to ? " -> " : "", to ? printable(t, sizeof(t), to) : "");
	return -EROFS;
}
