/* shadow.c - the shadow directory: its FORMAT page, the creation lock, path names (see shadow.h). */
#include "shadow.h"
#include "beneath.h"
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

/* Publish a complete FORMAT page (the format line, then zeros) under its name: written aside, then linked, so a
 * concurrent first user either finds none or a whole one. */
static int create_format(int dirfd)
{
	char page[PS_SHADOW_STATE_SIZE] = PS_SHADOW_FORMAT_LINE;
	char tmp[64];
	ssize_t n;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "FORMAT.new.%d.%d", (int)getpid(), (int)gettid());
	fd = ps_sys->openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = ps_sys_pwrite_full(fd, page, sizeof(page), 0);
	if (n < 0)
		rc = (int)n;
	else if (ps_sys->linkat(dirfd, tmp, dirfd, "FORMAT", 0) < 0 && errno != EEXIST)
		rc = -errno;
	ps_sys->close(fd);
	ps_sys->unlinkat(dirfd, tmp, 0);
	return rc;
}

static int is_v1_line(const char *line)
{
	char v1[PS_SHADOW_LINE_MAX + 1] = PS_SHADOW_FORMAT_LINE_V1;

	return memcmp(line, v1, sizeof(v1)) == 0;
}

/* Open, check and map the FORMAT page: the format line, and the shared generation counter. */
static int open_state(struct ps_shadow *sh, int create, char *why, size_t whysz)
{
	char line[PS_SHADOW_LINE_MAX + 1];
	char want[PS_SHADOW_LINE_MAX + 1] = PS_SHADOW_FORMAT_LINE;
	struct stat st;
	ssize_t n;
	void *map;

	int mode = create ? O_RDWR : O_RDONLY; /* without create, nothing in the shadow is written */

	sh->statefd = ps_sys->openat(sh->dirfd, "FORMAT", mode | O_CLOEXEC);
	if (sh->statefd < 0 && errno == ENOENT && create) {
		int rc = create_format(sh->dirfd);

		if (rc < 0) {
			snprintf(why, whysz, "cannot create its FORMAT file: %s", strerror(-rc));
			return rc;
		}
		sh->statefd = ps_sys->openat(sh->dirfd, "FORMAT", mode | O_CLOEXEC);
	}
	if (sh->statefd < 0) {
		snprintf(why, whysz, "cannot open its FORMAT file: %s", strerror(errno));
		return -errno;
	}
	n = ps_sys_pread_full(sh->statefd, line, sizeof(line), 0);
	if (n < 0 || ps_sys->fstat(sh->statefd, &st) < 0) {
		n = n < 0 ? n : -errno;
		snprintf(why, whysz, "cannot read its FORMAT file: %s", strerror((int)-n));
		return (int)n;
	}
	if (n == (ssize_t)sizeof(line) && is_v1_line(line) && st.st_size == PS_SHADOW_STATE_SIZE) {
		ssize_t w = create ? ps_sys_pwrite_full(sh->statefd, want, strlen(want), 0) : 0;

		if (w < 0) {
			snprintf(why, whysz, "cannot upgrade its FORMAT file: %s", strerror((int)-w));
			return (int)w;
		}
		memcpy(line, want, sizeof(line));
	}
	if (n != (ssize_t)sizeof(line) || memcmp(line, want, sizeof(line)) != 0 || st.st_size != PS_SHADOW_STATE_SIZE) {
		line[n < (ssize_t)sizeof(line) ? n : (ssize_t)sizeof(line) - 1] = '\0';
		line[strcspn(line, "\n")] = '\0';
		snprintf(why, whysz, "unknown shadow format \"%.60s\" (this build reads \"%.*s\")", line,
			 (int)strlen(PS_SHADOW_FORMAT_LINE) - 1, PS_SHADOW_FORMAT_LINE);
		return -EPROTO;
	}
	map = ps_sys->mmap(NULL, PS_SHADOW_STATE_SIZE, create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
			   sh->statefd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, whysz, "cannot map its FORMAT file: %s", strerror(errno));
		return -errno;
	}
	sh->state = map;
	return 0;
}

static int lock_fd_locked(struct ps_shadow *sh)
{
	return ps_sys_own_description(&sh->lockfd, &sh->lock_pid, sh->dirfd, "FORMAT", O_RDONLY);
}

int ps_shadow_open(struct ps_shadow *sh, const char *dir, int create, char *why, size_t whysz)
{
	int rc;

	memset(sh, 0, sizeof(*sh));
	sh->dirfd = sh->statefd = sh->lockfd = -1;
	pthread_mutex_init(&sh->create_mutex, NULL);
	if (strlen(dir) >= sizeof(sh->path)) {
		snprintf(why, whysz, "path too long");
		return -ENAMETOOLONG;
	}
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
	ps_sys_guard_below(sh->dirfd);
	rc = open_state(sh, create, why, whysz);
	if (rc == 0 && lock_fd_locked(sh) < 0) {
		rc = -errno;
		snprintf(why, whysz, "cannot open its FORMAT file for locking: %s", strerror(errno));
	}
	if (rc < 0)
		ps_shadow_close(sh);
	return rc;
}

void ps_shadow_close(struct ps_shadow *sh)
{
	if (sh->state)
		ps_sys->munmap(sh->state, PS_SHADOW_STATE_SIZE);
	if (sh->statefd >= 0)
		ps_sys->close(sh->statefd);
	if (sh->lockfd >= 0)
		ps_sys->close(sh->lockfd);
	if (sh->dirfd >= 0) {
		ps_sys_guard_below(-1);
		ps_sys->close(sh->dirfd);
	}
	sh->state = NULL;
	sh->statefd = sh->dirfd = sh->lockfd = -1;
}

void ps_shadow_renumber_fd(struct ps_shadow *sh, int from, int to)
{
	ps_sys_renumbered(&sh->dirfd, from, to);
	ps_sys_renumbered(&sh->statefd, from, to);
	ps_sys_renumbered(&sh->lockfd, from, to);
	ps_sys_guard_renumber(from, to);
}

void ps_shadow_bump_generation(struct ps_shadow *sh)
{
	__atomic_fetch_add(&sh->state->generation, 1, __ATOMIC_ACQ_REL);
}

void ps_shadow_set_flags(struct ps_shadow *sh, uint64_t flags)
{
	if ((ps_shadow_flags(sh) & flags) != flags)
		__atomic_fetch_or(&sh->state->flags, flags, __ATOMIC_ACQ_REL);
}

/* This thread holds the creation lock (waiting for it again would deadlock on the process mutex). */
static __thread int lock_held;

int ps_shadow_lock_is_mine(void)
{
	return lock_held;
}

int ps_shadow_lock_create(struct ps_shadow *sh)
{
	int fd;

	pthread_mutex_lock(&sh->create_mutex);
	fd = lock_fd_locked(sh);
	if (fd < 0) {
		pthread_mutex_unlock(&sh->create_mutex);
		return fd;
	}
	while (ps_sys->flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = -errno;

			pthread_mutex_unlock(&sh->create_mutex);
			return rc;
		}
	}
	lock_held = 1;
	return 0;
}

void ps_shadow_unlock_create(struct ps_shadow *sh)
{
	lock_held = 0;
	ps_sys->flock(sh->lockfd, LOCK_UN);
	pthread_mutex_unlock(&sh->create_mutex);
}

int ps_shadow_path(char *out, size_t outsz, const char *tree, const char *enc_prefix, const char *rel)
{
	int n = snprintf(out, outsz, "%s/%s%s%s", tree, enc_prefix, *rel ? "/" : "", rel);

	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : n;
}

/* The directories made above an entry mirror lower directories, whose times a merged directory shows when the
 * shadow's are later (the meta directory's mtime): the entry's own directory, which gets a new name, may show
 * "now", but the ones above it and the deepest one that was there already keep their times - `mkdir a/b/c/new`
 * in a lower tree moves the mtime of a/b/c alone, as on a real tree. The ones made above the parent are dated
 * 0; the one that was there gets its mtime back. */
static void keep_times_above(int dirfd, const char *parent, size_t had, const struct timespec *had_mtime)
{
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", parent);
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) > had) {
		*slash = '\0';
		ps_sys->utimensat(dirfd, dir, times, AT_SYMLINK_NOFOLLOW);
	}
	if (!had_mtime)
		return;
	times[1] = *had_mtime;
	dir[had] = '\0';
	ps_sys->utimensat(dirfd, dir, times, AT_SYMLINK_NOFOLLOW);
}

int ps_shadow_make_parents(struct ps_shadow *sh, const char *relpath)
{
	const char *slash = strrchr(relpath, '/');
	char parent[PATH_MAX], above[PATH_MAX], *cut;
	struct timespec had_mtime;
	struct stat st;
	size_t n, had = 0;
	int found = 0, rc;

	if (!slash)
		return 0;
	n = (size_t)(slash - relpath);
	if (n >= sizeof(parent))
		return -ENAMETOOLONG;
	memcpy(parent, relpath, n);
	parent[n] = '\0';
	/* Usually the parent is there already: one fstatat says so; the walk from the top is for the first time. */
	if (ps_sys->fstatat(sh->dirfd, parent, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	memcpy(above, parent, n + 1);
	while ((cut = strrchr(above, '/'))) {
		*cut = '\0';
		if (ps_sys->fstatat(sh->dirfd, above, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			had = strlen(above);
			had_mtime = st.st_mtim;
			found = 1;
			break;
		}
	}
	if ((rc = mkdir_p(sh->dirfd, relpath, n)) == 0)
		keep_times_above(sh->dirfd, parent, had, found ? &had_mtime : NULL);
	return rc;
}
