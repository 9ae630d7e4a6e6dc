/* runci.c - the ephemeral shadow and the report of pageshadow-run (see runci.h). */
#include "runci.h"

#include "summary.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
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

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int ephemeral_remove(const char *dir)
{
	return nftw(dir, remove_one, 32, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
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
