/* fakes.h - what the unit tests share: temporary trees, small file helpers and a fault-injecting ps_sys.
 *
 * Every tests/unit/test_*.c is a program of its own, so everything here is `static inline` (no object file, no
 * unused-function warnings). Include it first: it brings <cmocka.h> with the headers cmocka needs before it.
 * Including it also makes stdout line-buffered, so the TAP lines survive a crash.
 *
 * The fake ops table: t_fake_install() copies ps_sys_libc into t_fake.ops, points ps_sys at it and resets the
 * counters; t_fake_remove() puts ps_sys_libc back (call it from the teardown, so a failed assertion cannot leave
 * the fake in place for the next test). Knobs, all off after install:
 *   pwrite_fail_at  fail the Nth pwrite (1-based, counted from install) with pwrite_errno
 *   watch_lo/hi     count in watch_hits the pwrites that touch bytes [watch_lo, watch_hi) of any file
 *   pread_fd        reads on this fd stop at pread_eof (a lower file that got shorter: short read, then EOF)
 *   pread_fail_fd   reads on this fd fail with EIO
 *   ftruncate_fail  every ftruncate fails with EIO
 *   renameat_fail_at  fail the Nth renameat (1-based) with EIO
 *
 * The shadow fixture (struct t_sfx): a temporary directory D holding a lower file D/ro/file, and a shadow
 * D/shadow opened with create; the file's shadow name is {D/ro/file, "pfx", "file"}, so its data file is
 * D/shadow/data/pfx/file and its record D/shadow/meta/pfx/file.
 */
#ifndef PS_TEST_FAKES_H
#define PS_TEST_FAKES_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file.h"
#include "log.h"
#include "shadow.h"
#include "sys.h"

/* TAP lines leave at once, so the runner shows progress and a crash loses none of them. */
__attribute__((constructor)) static void t_line_buffered_stdout(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* ---- temporary trees ---- */

/* Make a fresh directory under $TMPDIR (default /tmp) and put its canonical path in out (PATH_MAX bytes). */
static inline void t_mkdtemp(char *out)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[PATH_MAX];

	snprintf(tmpl, sizeof(tmpl), "%s/ps-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, out));
}

static inline int t_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* rm -rf dir (no-op for "" or NULL). */
static inline void t_rm_rf(const char *dir)
{
	if (dir && *dir)
		nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "dir/name" into out (PATH_MAX bytes). */
static inline void t_join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

/* Write buf to path (created or truncated, mode 0644). */
static inline void t_write_file(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

/* Overwrite n bytes of an existing file at off. */
static inline void t_patch_file(const char *path, off_t off, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static inline void t_mkdir(const char *path)
{
	assert_int_equal(mkdir(path, 0755), 0);
}

/* Does the file system of dir keep holes and report them through SEEK_HOLE? (ext4, xfs, btrfs, tmpfs do.)
 * Tests that look at the shadow's layout on disk skip themselves where it does not. */
static inline int t_fs_reports_holes(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;
	int fd, holes;

	t_join(p, dir, ".hole-probe");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unlink(p);
	holes = ftruncate(fd, 1 << 20) == 0 && pwrite(fd, "x", 1, (1 << 20) - 1) == 1 && fsync(fd) == 0 &&
		lseek(fd, 0, SEEK_HOLE) == 0 && fstat(fd, &st) == 0 && st.st_blocks * 512 < (1 << 20);
	close(fd);
	return holes;
}

/* Does the file system of dir support fallocate(FALLOC_FL_ZERO_RANGE)? (tmpfs does not.) */
static inline int t_fs_supports_zero_range(const char *dir)
{
	char p[PATH_MAX];
	int fd, ok;

	t_join(p, dir, ".zero-probe");
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unlink(p);
	ok = fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096) == 0;
	close(fd);
	return ok;
}

/* Send the engine's log lines to /dev/null: tests that provoke errors on purpose stay quiet. */
static inline void t_quiet_log(void)
{
	static int devnull = -1;

	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ps_log_init(devnull, 0, "unit");
}

/* ---- the shadow fixture ---- */

struct t_sfx {
	char dir[PATH_MAX];
	char lower[PATH_MAX];
	char shadow[PATH_MAX];
	char data[PATH_MAX];
	char meta[PATH_MAX];
	struct ps_shadow sh;
	int sh_open;
	struct ps_file *f;
	struct stat lst;
};

static inline void t_sfx_init(struct t_sfx *s)
{
	char ro[PATH_MAX], why[256];

	memset(s, 0, sizeof(*s));
	t_mkdtemp(s->dir);
	t_join(ro, s->dir, "ro");
	t_mkdir(ro);
	t_join(s->lower, ro, "file");
	t_join(s->shadow, s->dir, "shadow");
	t_join(s->data, s->shadow, "data/pfx/file");
	t_join(s->meta, s->shadow, "meta/pfx/file");
	assert_int_equal(ps_shadow_open(&s->sh, s->shadow, 1, why, sizeof(why)), 0);
	s->sh_open = 1;
}

static inline void t_sfx_release(struct t_sfx *s)
{
	if (s->f)
		ps_file_put(s->f);
	s->f = NULL;
	if (s->sh_open)
		ps_shadow_close(&s->sh);
	s->sh_open = 0;
	t_rm_rf(s->dir);
}

static inline struct ps_file_name t_sfx_name(struct t_sfx *s)
{
	struct ps_file_name name = { .path = s->lower, .enc_prefix = "pfx", .rel = "file" };

	return name;
}

/* Give the lower file (which must exist) a record; the file is in s->f. */
static inline void t_sfx_create(struct t_sfx *s)
{
	struct ps_file_name name = t_sfx_name(s);

	assert_int_equal(stat(s->lower, &s->lst), 0);
	assert_int_equal(ps_file_create(&s->sh, &name, &s->lst, 0644, 0, &s->f), 0);
	assert_non_null(s->f);
}

/* Drop s->f and look the file up again; returns the lookup's result (s->f set on 0). */
static inline int t_sfx_relookup(struct t_sfx *s)
{
	struct ps_file_name name = t_sfx_name(s);

	if (s->f)
		ps_file_put(s->f);
	s->f = NULL;
	return ps_file_lookup(&s->sh, &name, &s->f);
}

/* ---- the fault-injecting ops table ---- */

struct t_fake {
	struct ps_sys ops;
	int pwrite_calls;
	int pwrite_fail_at;
	int pwrite_errno;
	off_t watch_lo, watch_hi;
	int watch_hits;
	int pread_fd;
	off_t pread_eof;
	int pread_fail_fd;
	int ftruncate_fail;
	int renameat_calls;
	int renameat_fail_at;
};

static struct t_fake t_fake __attribute__((unused));

static inline ssize_t t_fake_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	t_fake.pwrite_calls++;
	if (off < t_fake.watch_hi && off + (off_t)n > t_fake.watch_lo)
		t_fake.watch_hits++;
	if (t_fake.pwrite_fail_at && t_fake.pwrite_calls == t_fake.pwrite_fail_at) {
		errno = t_fake.pwrite_errno;
		return -1;
	}
	return pwrite(fd, buf, n, off);
}

static inline ssize_t t_fake_pread(int fd, void *buf, size_t n, off_t off)
{
	if (fd >= 0 && fd == t_fake.pread_fail_fd) {
		errno = EIO;
		return -1;
	}
	if (fd >= 0 && fd == t_fake.pread_fd) {
		if (off >= t_fake.pread_eof)
			return 0;
		if ((off_t)n > t_fake.pread_eof - off)
			n = (size_t)(t_fake.pread_eof - off);
	}
	return pread(fd, buf, n, off);
}

static inline int t_fake_ftruncate(int fd, off_t len)
{
	if (t_fake.ftruncate_fail) {
		errno = EIO;
		return -1;
	}
	return ftruncate(fd, len);
}

static inline int t_fake_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (++t_fake.renameat_calls == t_fake.renameat_fail_at) {
		errno = EIO;
		return -1;
	}
	return renameat(olddirfd, oldpath, newdirfd, newpath);
}

static inline void t_fake_install(void)
{
	memset(&t_fake, 0, sizeof(t_fake));
	t_fake.ops = ps_sys_libc;
	t_fake.ops.pwrite = t_fake_pwrite;
	t_fake.ops.pread = t_fake_pread;
	t_fake.ops.ftruncate = t_fake_ftruncate;
	t_fake.ops.renameat = t_fake_renameat;
	t_fake.pwrite_errno = ENOSPC;
	t_fake.pread_fd = -1;
	t_fake.pread_fail_fd = -1;
	ps_sys = &t_fake.ops;
}

static inline void t_fake_remove(void)
{
	ps_sys = &ps_sys_libc;
}

#endif
