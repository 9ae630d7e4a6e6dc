/* snapshot.c - a complete copy of a merged file (see snapshot.h). */
#include "snapshot.h"
#include "merge.h"
#include "path.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

static int copy_merged(struct ps_file *f, int fd)
{
	char *buf = malloc(COPY_CHUNK);
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while ((n = ps_merge_pread(f, buf, COPY_CHUNK, off)) > 0) {
		ssize_t w = ps_sys_pwrite_full(fd, buf, (size_t)n, off);

		if (w < 0) {
			rc = (int)w;
			break;
		}
		off += n;
	}
	free(buf);
	return n < 0 ? (int)n : rc;
}

int ps_snapshot_make(struct ps_file *f, const char *suffix, char *out, size_t outsz)
{
	struct ps_shadow *sh = f->sh;
	uint64_t rnd = 0;
	char name[96];
	int fd, rc;

	if (ps_sys->mkdirat(sh->dirfd, "exec", 0700) < 0 && errno != EEXIST)
		return -errno;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)(uintptr_t)&rnd ^ (uint64_t)getpid() << 32;
	snprintf(name, sizeof(name), "exec/%d-%016llx%s", (int)getpid(), (unsigned long long)rnd, suffix);
	if ((rc = ps_path_normalize(sh->path, name, out, outsz)) < 0)
		return rc;
	fd = ps_sys->openat(sh->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0)
		return -errno;
	rc = copy_merged(f, fd);
	if (ps_sys->close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		ps_sys->unlinkat(sh->dirfd, name, 0);
	return rc;
}
