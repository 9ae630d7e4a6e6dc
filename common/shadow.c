/* shadow.c - the shadow directory: format check, shared state page, creation lock (see shadow.h). */
#include "shadow.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

static int mkdir_p(int dirfd, const char *path, size_t len)
{
	char buf[PATH_MAX];

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len);
	buf[len] = '\0';
	for (char *p = buf + 1;; p++) {
		int last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (ps_sys->mkdirat(dirfd, buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (last)
			return 0;
		*p = '/';
	}
}

/* Write the FORMAT file when absent (first user wins through an exclusive create) and check it. */
static int check_format(int dirfd, int create, char *why, size_t whysz)
{
	char buf[128];
	ssize_t n;
	int fd = ps_sys->openat(dirfd, "FORMAT", O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		fd = ps_sys->openat(dirfd, "FORMAT", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			n = ps_sys_pwrite_full(fd, PS_SHADOW_FORMAT_LINE, strlen(PS_SHADOW_FORMAT_LINE), 0);
			ps_sys->close(fd);
			return n < 0 ? (int)n : 0;
		}
		if (errno == EEXIST)
			fd = ps_sys->openat(dirfd, "FORMAT", O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(why, whysz, "cannot read its FORMAT file: %s", strerror(errno));
		return -errno;
	}
	n = ps_sys_pread_full(fd, buf, sizeof(buf) - 1, 0);
	ps_sys->close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	if (strcmp(buf, PS_SHADOW_FORMAT_LINE) != 0) {
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(why, whysz, "unknown shadow format \"%.60s\" (this build reads \"%.*s\")", buf,
			 (int)strlen(PS_SHADOW_FORMAT_LINE) - 1, PS_SHADOW_FORMAT_LINE);
		return -EPROTO;
	}
	return 0;
}

static int map_state(struct ps_shadow *sh, char *why, size_t whysz)
{
	struct stat st;
	void *map;

	sh->statefd = ps_sys->openat(sh->dirfd, "state", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (sh->statefd < 0) {
		snprintf(why, whysz, "cannot open its state file: %s", strerror(errno));
		return -errno;
	}
	if (ps_sys->fstat(sh->statefd, &st) < 0)
		return -errno;
	if (st.st_size < 4096 && ps_sys->ftruncate(sh->statefd, 4096) < 0) {
		snprintf(why, whysz, "cannot size its state file: %s", strerror(errno));
		return -errno;
	}
	map = ps_sys->mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sh->statefd, 0);
	if (map == MAP_FAILED)
		return -errno;
	sh->state = map;
	return 0;
}

int ps_shadow_open(struct ps_shadow *sh, const char *dir, int create, char *why, size_t whysz)
{
	int rc;

	memset(sh, 0, sizeof(*sh));
	sh->dirfd = sh->statefd = -1;
	pthread_mutex_init(&sh->create_mutex, NULL);
	if (strlen(dir) >= sizeof(sh->path))
		return -ENAMETOOLONG;
	strcpy(sh->path, dir);
	if (create && (rc = mkdir_p(AT_FDCWD, dir, strlen(dir))) < 0) {
		snprintf(why, whysz, "cannot create it: %s", strerror(-rc));
		return rc;
	}
	sh->dirfd = ps_sys->openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sh->dirfd < 0) {
		rc = -errno;
		snprintf(why, whysz, "%s", strerror(errno));
		return rc;
	}
	rc = check_format(sh->dirfd, create, why, whysz);
	if (rc == 0)
		rc = map_state(sh, why, whysz);
	if (rc < 0)
		ps_shadow_close(sh);
	return rc;
}

void ps_shadow_close(struct ps_shadow *sh)
{
	if (sh->state)
		ps_sys->munmap(sh->state, 4096);
	if (sh->statefd >= 0)
		ps_sys->close(sh->statefd);
	if (sh->dirfd >= 0)
		ps_sys->close(sh->dirfd);
	sh->state = NULL;
	sh->statefd = sh->dirfd = -1;
}

void ps_shadow_bump_generation(struct ps_shadow *sh)
{
	__atomic_fetch_add(&sh->state->generation, 1, __ATOMIC_ACQ_REL);
}

int ps_shadow_lock_create(struct ps_shadow *sh)
{
	pthread_mutex_lock(&sh->create_mutex);
	while (ps_sys->flock(sh->statefd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = -errno;

			pthread_mutex_unlock(&sh->create_mutex);
			return rc;
		}
	}
	return 0;
}

void ps_shadow_unlock_create(struct ps_shadow *sh)
{
	ps_sys->flock(sh->statefd, LOCK_UN);
	pthread_mutex_unlock(&sh->create_mutex);
}

int ps_shadow_path(char *out, size_t outsz, const char *tree, const char *enc_prefix, const char *rel)
{
	int n = snprintf(out, outsz, "%s/%s%s%s", tree, enc_prefix, *rel ? "/" : "", rel);

	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : n;
}

int ps_shadow_make_parents(struct ps_shadow *sh, const char *relpath)
{
	const char *slash = strrchr(relpath, '/');

	return slash ? mkdir_p(sh->dirfd, relpath, (size_t)(slash - relpath)) : 0;
}
