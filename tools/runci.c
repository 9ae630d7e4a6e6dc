/* runci.c - the ephemeral shadow and the report of pageshadow-run (see runci.h). */
#include "runci.h"

#include "summary.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ephemeral_make(char *out, size_t outsz)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || *tmp != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(out, outsz, "%s/pageshadow-XXXXXX", tmp) >= outsz)
		return -ENAMETOOLONG;
	return mkdtemp(out) ? 0 : -errno;
}

static void __attribute__((noreturn)) clean_when_closed(const char *dir, int rfd)
{
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	char byte;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	setsid(); /* a terminal's ^C is for the command, not for this */
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	if (null >= 0) { /* hold no pipe of the caller's open past pageshadow-run's end */
		dup2(null, 0);
		dup2(null, 1);
	}
	while (read(rfd, &byte, 1) != 0 && errno == EINTR)
		;
	if ((rc = ps_tree_remove(dir)) < 0)
		fprintf(stderr, "pageshadow-run: cannot remove the shadow %s: %s\n", dir, strerror(-rc));
	_exit(0);
}

int ephemeral_cleaner(const char *dir, int *wfd, pid_t *pid)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if ((*pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (*pid == 0) {
		close(p[1]);
		clean_when_closed(dir, p[0]);
	}
	close(p[0]);
	*wfd = p[1];
	return 0;
}

void report_shadow(const char *dir)
{
	struct ps_summary s;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0) {
		fprintf(stderr, "pageshadow-run: report: %s: %s\n", dir, strerror(errno));
		return;
	}
	rc = ps_summary_collect(fd, &s);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "pageshadow-run: report: %s: %s\n", dir, strerror(-rc));
		return;
	}
	fprintf(stderr,
		"pageshadow-run: report: %" PRIu64 " files changed (%" PRIu64 " pages copied up), %" PRIu64 " created, %" PRIu64
		" deleted, %" PRIu64 " directories and %" PRIu64 " links made; shadow %" PRIu64
		" bytes, whole-file copy-up %" PRIu64 " bytes%s\n",
		s.changed, s.pages, s.created, s.deleted, s.dirs, s.links, s.shadow_bytes, s.copyup_bytes,
		s.unreadable ? " (some entries could not be read: see pageshadow fsck)" : "");
}
