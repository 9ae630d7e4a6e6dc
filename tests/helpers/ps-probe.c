/* ps-probe.c - a small driver for the integration tests: the file calls shell tools cannot make.
 *
 * Usage: ps-probe COMMAND ARG...   (ps-probe help lists them)
 * Every command prints its results on stdout, one line each, in a form the tests compare: errors are printed as
 * the errno name ("EEXIST"), not as text, so the same command gives the same output on a real writable file and
 * on a file under the shim. Exit status: 0 when the command ran (even if the call it probes failed), 2 for a
 * usage error, 3 when a wait for a marker file timed out, 1 for an unexpected failure of the probe itself.
 * Marker files (--ready, --go ...) let a test order steps between processes without sleeping.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static int timeout_s = 20;

static void die(const char *what)
{
	printf("probe-failure %s: %s\n", what, errname(errno));
	fflush(stdout);
	exit(1);
}

static void touch(const char *marker)
{
	int fd;

	if (!marker)
		return;
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("marker");
	close(fd);
}

static void wait_for(const char *marker)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	long waited = 0;

	if (!marker)
		return;
	while (access(marker, F_OK) != 0) {
		nanosleep(&ts, NULL);
		if (++waited > (long)timeout_s * 200) {
			printf("timeout waiting for %s\n", marker);
			fflush(stdout);
			exit(3);
		}
	}
}

static int parse_open_mode(const char *s)
{
	/* "ro", "rw", "wo" or a '|'-list of flag names */
	int flags = 0;
	char buf[256], *save = NULL;

	if (strcmp(s, "ro") == 0)
		return O_RDONLY;
	if (strcmp(s, "rw") == 0)
		return O_RDWR;
	if (strcmp(s, "wo") == 0)
		return O_WRONLY;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, "|,", &save); t; t = strtok_r(NULL, "|,", &save)) {
		if (!strcasecmp(t, "rdonly") || !strcasecmp(t, "O_RDONLY"))
			flags |= O_RDONLY;
		else if (!strcasecmp(t, "wronly") || !strcasecmp(t, "O_WRONLY"))
			flags |= O_WRONLY;
		else if (!strcasecmp(t, "rdwr") || !strcasecmp(t, "O_RDWR"))
			flags |= O_RDWR;
		else if (!strcasecmp(t, "creat") || !strcasecmp(t, "O_CREAT"))
			flags |= O_CREAT;
		else if (!strcasecmp(t, "excl") || !strcasecmp(t, "O_EXCL"))
			flags |= O_EXCL;
		else if (!strcasecmp(t, "trunc") || !strcasecmp(t, "O_TRUNC"))
			flags |= O_TRUNC;
		else if (!strcasecmp(t, "append") || !strcasecmp(t, "O_APPEND"))
			flags |= O_APPEND;
		else if (!strcasecmp(t, "directory") || !strcasecmp(t, "O_DIRECTORY"))
			flags |= O_DIRECTORY;
		else if (!strcasecmp(t, "nofollow") || !strcasecmp(t, "O_NOFOLLOW"))
			flags |= O_NOFOLLOW;
		else {
			fprintf(stderr, "ps-probe: unknown open flag %s\n", t);
			exit(2);
		}
	}
	return flags;
}

static int open_or_report(const char *path, const char *mode)
{
	int fd = open(path, parse_open_mode(mode), 0644);

	if (fd < 0) {
		printf("open %s\n", errname(errno));
		fflush(stdout);
		exit(0);
	}
	return fd;
}

static long long num(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 0);

	if (!*s || *end) {
		fprintf(stderr, "ps-probe: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

/* Print n bytes, printable ASCII as is and everything else (and the backslash) as \xNN. */
static void show(const char *label, const unsigned char *buf, ssize_t n)
{
	printf("%s %zd ", label, n);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] < 0x20 || buf[i] > 0x7e || buf[i] == '\\')
			printf("\\x%02x", buf[i]);
		else
			putchar(buf[i]);
	}
	putchar('\n');
}

/* ---- commands ---- */

/* open PATH FLAGS: "ok" or the errno name. */
static int cmd_open(char **av)
{
	int fd = open(av[0], parse_open_mode(av[1]), 0644);

	if (fd < 0)
		printf("%s\n", errname(errno));
	else
		printf("ok\n");
	return 0;
}

/* pread PATH OFF LEN */
static int cmd_pread(char **av)
{
	int fd = open_or_report(av[0], "ro");
	size_t len = (size_t)num(av[2]);
	unsigned char *buf = malloc(len ? len : 1);
	ssize_t n = pread(fd, buf, len, (off_t)num(av[1]));

	if (n < 0)
		printf("pread %s\n", errname(errno));
	else
		show("pread", buf, n);
	free(buf);
	close(fd);
	return 0;
}

/* pwrite PATH OFF TEXT: opens O_WRONLY (no O_CREAT, no O_TRUNC) and writes TEXT at OFF. */
static int cmd_pwrite(char **av)
{
	int fd = open_or_report(av[0], "wo");
	ssize_t n = pwrite(fd, av[2], strlen(av[2]), (off_t)num(av[1]));

	if (n < 0)
		printf("pwrite %s\n", errname(errno));
	else
		printf("pwrite %zd\n", n);
	if (close(fd) < 0)
		printf("close %s\n", errname(errno));
	return 0;
}

/* pwrite-fill PATH OFF LEN BYTE: writes LEN copies of BYTE (a number) at OFF. */
static int cmd_pwrite_fill(char **av)
{
	int fd = open_or_report(av[0], "wo");
	size_t len = (size_t)num(av[2]);
	unsigned char *buf = malloc(len ? len : 1);
	ssize_t n;

	memset(buf, (int)num(av[3]), len);
	n = pwrite(fd, buf, len, (off_t)num(av[1]));
	if (n < 0)
		printf("pwrite %s\n", errname(errno));
	else
		printf("pwrite %zd\n", n);
	free(buf);
	close(fd);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names read from d until its end, "name/type" each, in the order read, as one string. */
static char *names_read(DIR *d)
{
	char *all = strdup(""), *grown;
	struct dirent *e;

	while (all && (e = readdir(d)) != NULL) {
		if (asprintf(&grown, "%s %s/%d", all, e->d_name, e->d_type) < 0)
			grown = NULL;
		free(all);
		all = grown;
	}
	return all ? all : strdup("?");
}

/* The same, sorted (the order of a directory is the filesystem's), printed after what. */
static void print_sorted(const char *what, char *names)
{
	char *words[4096], *save = NULL;
	size_t n = 0;

	for (char *w = strtok_r(names, " ", &save); w && n < 4096; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	qsort(words, n, sizeof(words[0]), by_name);
	printf("%s:", what);
	for (size_t i = 0; i < n; i++)
		printf(" %s", words[i]);
	printf("\n");
}

/* readdir DIR: the listing read by opendir/readdir, again after rewinddir, the rest after a telldir/seekdir
 * round trip, then by scandir (which opens the directory inside glibc). */
static int cmd_readdir(char **av)
{
	DIR *d = opendir(av[0]);
	char *first, *again, *rest, *seeked;
	struct dirent **list;
	long pos;
	int n;

	if (!d) {
		printf("opendir %s\n", errname(errno));
		return 0;
	}
	first = names_read(d);
	rewinddir(d);
	again = names_read(d);
	rewinddir(d);
	readdir(d);
	readdir(d);
	pos = telldir(d);
	rest = names_read(d);
	seekdir(d, pos);
	seeked = names_read(d);
	printf("after two, then again after seekdir: %s\n", strcmp(rest, seeked) == 0 ? "the same" : "different");
	printf("the rest is all but two: %s\n", strlen(rest) < strlen(first) ? "yes" : "no");
	print_sorted("readdir", first);
	print_sorted("after rewinddir", again);
	free(first);
	free(again);
	free(rest);
	free(seeked);
	closedir(d);
	n = scandir(av[0], &list, NULL, alphasort);
	printf("scandir:");
	for (int i = 0; i < n; i++) {
		printf(" %s", list[i]->d_name);
		free(list[i]);
	}
	printf("\n");
	if (n >= 0)
		free(list);
	return 0;
}

/* rename2 OLD NEW noreplace|exchange|none: renameat2, "ok" or the errno name. */
static int cmd_rename2(char **av)
{
	unsigned flags = !strcmp(av[2], "noreplace") ? RENAME_NOREPLACE : !strcmp(av[2], "exchange") ? RENAME_EXCHANGE : 0;

	printf("%s\n", renameat2(AT_FDCWD, av[0], AT_FDCWD, av[1], flags) < 0 ? errname(errno) : "ok");
	return 0;
}

static const char *ftw_type(int type)
{
	switch (type) {
	case FTW_F: return "f";
	case FTW_D: return "d";
	case FTW_DNR: return "dnr";
	case FTW_DP: return "dp";
	case FTW_NS: return "ns";
	case FTW_SL: return "sl";
	case FTW_SLN: return "sln";
	default: return "?";
	}
}

static int ftw_actions; /* FTW_ACTIONRETVAL given: the callback's answers mean something */

static int print_ftw_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char cwd[PATH_MAX];
	const char *base = strrchr(path, '/');

	printf("%s %s level %d base %s size %lld%s\n", path, ftw_type(type), ftw->level, path + ftw->base,
	       type == FTW_NS ? -1LL : S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
	       getcwd(cwd, sizeof(cwd)) && base && strncmp(cwd, path, (size_t)(base - path)) == 0 ? " (in its dir)" : "");
	if (!ftw_actions)
		return 0;
	if (strcmp(path + ftw->base, "skip") == 0)
		return FTW_SKIP_SUBTREE;
	return strcmp(path + ftw->base, "stop") == 0 ? FTW_STOP : FTW_CONTINUE;
}

/* nftw DIR phys|depth|chdir|actionretval|mount...: every entry nftw reports (with FTW_ACTIONRETVAL, a directory
 * called "skip" is not entered and an entry called "stop" ends the walk); then what nftw returned. */
static int cmd_nftw(char **av)
{
	int flags = 0, r;

	flags |= strstr(av[1], "phys") ? FTW_PHYS : 0;
	flags |= strstr(av[1], "depth") ? FTW_DEPTH : 0;
	flags |= strstr(av[1], "chdir") ? FTW_CHDIR : 0;
	flags |= strstr(av[1], "actionretval") ? FTW_ACTIONRETVAL : 0;
	flags |= strstr(av[1], "mount") ? FTW_MOUNT : 0;
	ftw_actions = (flags & FTW_ACTIONRETVAL) != 0;
	r = nftw(av[0], print_ftw_entry, 4, flags);
	fflush(stdout);
	printf("nftw returned %d\n", r);
	return 0;
}

/* reread PATH OFF LEN READY GO: open O_RDONLY, read [OFF, OFF+LEN) (pread), touch READY, wait for GO, then read
 * the range again three ways: pread, lseek+read, and read on from the position the first read left; and fstat. */
static int cmd_reread(char **av)
{
	int fd = open_or_report(av[0], "ro");
	off_t off = (off_t)num(av[1]);
	size_t len = (size_t)num(av[2]);
	unsigned char *buf = malloc(len ? len : 1);
	struct stat st;
	ssize_t n;

	if (lseek(fd, off, SEEK_SET) < 0)
		die("lseek");
	n = read(fd, buf, len);
	if (n < 0)
		die("read");
	show("before", buf, n);
	fflush(stdout);
	touch(av[3]);
	wait_for(av[4]);
	n = pread(fd, buf, len, off);
	if (n < 0)
		die("pread");
	show("pread", buf, n);
	if (lseek(fd, off, SEEK_SET) != off)
		die("lseek");
	n = read(fd, buf, len);
	if (n < 0)
		die("read");
	show("read", buf, n);
	if (fstat(fd, &st) < 0)
		die("fstat");
	printf("size %lld\n", (long long)st.st_size);
	free(buf);
	close(fd);
	return 0;
}

struct lock_opts {
	const char *opened, *go, *ready, *release, *closed, *exit_after, *then;
};

static int parse_lock_opts(char **av, struct lock_opts *o)
{
	for (; *av; av += 2) {
		const char *v = av[1];

		if (!v) {
			fprintf(stderr, "ps-probe: option %s needs a value\n", av[0]);
			exit(2);
		}
		if (!strcmp(av[0], "--opened"))
			o->opened = v;
		else if (!strcmp(av[0], "--go"))
			o->go = v;
		else if (!strcmp(av[0], "--ready"))
			o->ready = v;
		else if (!strcmp(av[0], "--release"))
			o->release = v;
		else if (!strcmp(av[0], "--closed"))
			o->closed = v;
		else if (!strcmp(av[0], "--exit"))
			o->exit_after = v;
		else if (!strcmp(av[0], "--then"))
			o->then = v;
		else if (!strcmp(av[0], "--timeout"))
			timeout_s = (int)num(v);
		else {
			fprintf(stderr, "ps-probe: unknown option %s\n", av[0]);
			exit(2);
		}
	}
	return 0;
}

/* Try one non-blocking lock of kind (posix|ofd|flock|lockf) and type (rd|wr|un) on fd; 0 or errno. */
static int try_lock(int fd, const char *kind, const char *type)
{
	int t = !strcmp(type, "wr") ? F_WRLCK : !strcmp(type, "rd") ? F_RDLCK : F_UNLCK;

	if (!strcmp(kind, "posix") || !strcmp(kind, "ofd")) {
		struct flock fl = { .l_type = (short)t, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

		return fcntl(fd, !strcmp(kind, "ofd") ? F_OFD_SETLK : F_SETLK, &fl) < 0 ? errno : 0;
	}
	if (!strcmp(kind, "flock")) {
		int op = t == F_WRLCK ? LOCK_EX : t == F_RDLCK ? LOCK_SH : LOCK_UN;

		return flock(fd, op | LOCK_NB) < 0 ? errno : 0;
	}
	if (!strcmp(kind, "lockf")) {
		if (t == F_RDLCK) {
			fprintf(stderr, "ps-probe: lockf has no read lock\n");
			exit(2);
		}
		if (lseek(fd, 0, SEEK_SET) < 0)
			return errno;
		return lockf(fd, t == F_WRLCK ? F_TLOCK : F_ULOCK, 0) < 0 ? errno : 0;
	}
	fprintf(stderr, "ps-probe: unknown lock kind %s\n", kind);
	exit(2);
}

/* lock PATH OPENMODE KIND TYPE [--opened M] [--go M] [--ready M] [--release M] [--then close|exit|close-other]
 *      [--closed M] [--exit M] [--timeout S]
 * open PATH; touch --opened; wait for --go; try the lock once (non-blocking) and print "locked" or the errno name;
 * touch --ready; wait for --release; then (--then): close the locked fd (close, the default), exit at once with
 * the fd still open (exit), or open PATH a second time and close that fd, keeping the first (close-other: POSIX
 * locks go with any close of the file, OFD and flock locks do not); touch --closed; wait for --exit; exit. */
static int cmd_lock(char **av)
{
	struct lock_opts o = { 0 };
	int fd, e;

	parse_lock_opts(av + 4, &o);
	fd = open_or_report(av[0], av[1]);
	touch(o.opened);
	wait_for(o.go);
	e = try_lock(fd, av[2], av[3]);
	printf("%s\n", e ? errname(e) : "locked");
	fflush(stdout);
	touch(o.ready);
	wait_for(o.release);
	if (o.then && !strcmp(o.then, "exit")) {
		_exit(0);
	} else if (o.then && !strcmp(o.then, "close-other")) {
		int fd2 = open(av[0], O_RDONLY);

		if (fd2 < 0)
			die("open second fd");
		close(fd2);
	} else if (!o.then || !strcmp(o.then, "close")) {
		close(fd);
	} else {
		fprintf(stderr, "ps-probe: unknown --then %s\n", o.then);
		return 2;
	}
	touch(o.closed);
	wait_for(o.exit_after);
	return 0;
}

/* getlk PATH OPENMODE TYPE: F_GETLK for the whole file: "unlocked" or "locked wr|rd by other". */
static int cmd_getlk(char **av)
{
	int fd = open_or_report(av[0], av[1]);
	struct flock fl = { .l_type = (short)(!strcmp(av[2], "wr") ? F_WRLCK : F_RDLCK), .l_whence = SEEK_SET };

	if (fcntl(fd, F_GETLK, &fl) < 0)
		printf("getlk %s\n", errname(errno));
	else if (fl.l_type == F_UNLCK)
		printf("unlocked\n");
	else
		printf("locked %s by %s\n", fl.l_type == F_WRLCK ? "wr" : "rd", fl.l_pid == getpid() ? "self" : "other");
	close(fd);
	return 0;
}

/* stat PATH: stat, lstat, fstat (of an O_RDONLY fd) and statx must agree; prints "size S mode M nlink N" and
 * "consistent", or the fields that differ. */
static int cmd_stat(char **av)
{
	struct stat a, b, c;
	struct statx x;
	int fd, ok = 1;

	if (stat(av[0], &a) < 0) {
		printf("stat %s\n", errname(errno));
		return 0;
	}
	if (lstat(av[0], &b) < 0)
		die("lstat");
	fd = open_or_report(av[0], "ro");
	if (fstat(fd, &c) < 0)
		die("fstat");
	if (statx(AT_FDCWD, av[0], 0, STATX_BASIC_STATS, &x) < 0)
		die("statx");
	close(fd);
#define CMP(field, xv)                                                                                             \
	do {                                                                                                       \
		if (a.field != b.field || a.field != c.field || (uint64_t)a.field != (uint64_t)(xv)) {             \
			printf("differ " #field ": stat %llu lstat %llu fstat %llu statx %llu\n",                  \
			       (unsigned long long)a.field, (unsigned long long)b.field,                           \
			       (unsigned long long)c.field, (unsigned long long)(xv));                             \
			ok = 0;                                                                                    \
		}                                                                                                  \
	} while (0)
	CMP(st_size, x.stx_size);
	CMP(st_ino, x.stx_ino);
	CMP(st_mode, x.stx_mode);
	CMP(st_nlink, x.stx_nlink);
	CMP(st_uid, x.stx_uid);
	CMP(st_blocks, x.stx_blocks);
	CMP(st_mtim.tv_sec, x.stx_mtime.tv_sec);
	CMP(st_mtim.tv_nsec, x.stx_mtime.tv_nsec);
	CMP(st_dev, makedev(x.stx_dev_major, x.stx_dev_minor));
#undef CMP
	printf("size %lld mode %o nlink %lu\n", (long long)a.st_size, (unsigned)a.st_mode, (unsigned long)a.st_nlink);
	printf("%s\n", ok ? "consistent" : "inconsistent");
	return 0;
}

/* size-after-write PATH OFF TEXT: pwrite through an O_RDWR fd, then print fstat's size and stat's size. */
static int cmd_size_after_write(char **av)
{
	int fd = open_or_report(av[0], "rw");
	struct stat a, b;

	if (pwrite(fd, av[2], strlen(av[2]), (off_t)num(av[1])) < 0)
		die("pwrite");
	if (fstat(fd, &a) < 0 || stat(av[0], &b) < 0)
		die("stat");
	printf("fstat %lld stat %lld\n", (long long)a.st_size, (long long)b.st_size);
	close(fd);
	return 0;
}

/* segments PATH: the data segments SEEK_DATA/SEEK_HOLE report, one "data START END" line each. */
static int cmd_segments(char **av)
{
	int fd = open_or_report(av[0], "ro");
	off_t end = lseek(fd, 0, SEEK_END), pos = 0;

	if (end < 0)
		die("lseek end");
	while (pos < end) {
		off_t d = lseek(fd, pos, SEEK_DATA), h;

		if (d < 0) {
			if (errno != ENXIO)
				printf("seek-data %s\n", errname(errno));
			break;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0) {
			printf("seek-hole %s\n", errname(errno));
			break;
		}
		printf("data %lld %lld\n", (long long)d, (long long)h);
		pos = h;
	}
	printf("end %lld\n", (long long)end);
	close(fd);
	return 0;
}

/* seek PATH WHENCE OFF: lseek with SEEK_SET|SEEK_CUR|SEEK_END|SEEK_DATA|SEEK_HOLE; the result or the errno. */
static int cmd_seek(char **av)
{
	int fd = open_or_report(av[0], "ro");
	int w = !strcmp(av[1], "SEEK_DATA") ? SEEK_DATA : !strcmp(av[1], "SEEK_HOLE") ? SEEK_HOLE
		: !strcmp(av[1], "SEEK_END") ? SEEK_END : !strcmp(av[1], "SEEK_CUR") ? SEEK_CUR : SEEK_SET;
	off_t r = lseek(fd, (off_t)num(av[2]), w);

	if (r < 0)
		printf("%s\n", errname(errno));
	else
		printf("%lld\n", (long long)r);
	close(fd);
	return 0;
}

/* statfs PATH: "statvfs rdonly|rw" and "statfs rdonly|rw" (ST_RDONLY in f_flag / f_flags). */
static int cmd_statfs(char **av)
{
	struct statvfs v;
	struct statfs f;

	if (statvfs(av[0], &v) < 0)
		printf("statvfs %s\n", errname(errno));
	else
		printf("statvfs %s\n", (v.f_flag & ST_RDONLY) ? "rdonly" : "rw");
	if (statfs(av[0], &f) < 0)
		printf("statfs %s\n", errname(errno));
	else
		printf("statfs %s\n", (f.f_flags & ST_RDONLY) ? "rdonly" : "rw");
	return 0;
}

/* access PATH MODE (r|w|x|f, combined: rw): "ok" or the errno name, for access and faccessat(AT_EACCESS). */
static int cmd_access(char **av)
{
	int mode = 0;

	for (const char *p = av[1]; *p; p++)
		mode |= *p == 'r' ? R_OK : *p == 'w' ? W_OK : *p == 'x' ? X_OK : F_OK;
	printf("access %s\n", access(av[0], mode) < 0 ? errname(errno) : "ok");
	printf("faccessat %s\n", faccessat(AT_FDCWD, av[0], mode, AT_EACCESS) < 0 ? errname(errno) : "ok");
	return 0;
}

/* errno-kept PATH: a successful call leaves errno as the caller had it. A sentinel goes in before each call. */
#define KEPT(label, ok_expr)                                                                                       \
	do {                                                                                                       \
		errno = ENOTTY;                                                                                    \
		int ok_ = (ok_expr);                                                                               \
		printf("%s %s\n", label, !ok_ ? errname(errno) : errno == ENOTTY ? "kept" : "clobbered");       \
	} while (0)

static int cmd_errno_kept(char **av)
{
	struct stat st;
	char buf[8];
	int fd;

	errno = ENOTTY;
	fd = open(av[0], O_RDWR);
	printf("open %s\n", fd < 0 ? errname(errno) : errno == ENOTTY ? "kept" : "clobbered");
	KEPT("pwrite", pwrite(fd, "E", 1, 1) == 1);
	KEPT("pread", pread(fd, buf, sizeof(buf), 0) >= 0);
	KEPT("lseek", lseek(fd, 0, SEEK_END) >= 0);
	KEPT("fstat", fstat(fd, &st) == 0);
	KEPT("stat", stat(av[0], &st) == 0);
	KEPT("access", access(av[0], W_OK) == 0);
	KEPT("ftruncate", ftruncate(fd, st.st_size) == 0);
	KEPT("fsync", fsync(fd) == 0);
	KEPT("close", close(fd) == 0);
	return 0;
}

/* tmpfile DIR TEXT: an unnamed file in DIR (O_TMPFILE): write TEXT, read it back, report its link count. */
static int cmd_tmpfile(char **av)
{
	char buf[256] = "";
	struct stat st;
	int fd = open(av[0], O_TMPFILE | O_RDWR, 0600);
	ssize_t n;

	if (fd < 0) {
		printf("tmpfile %s\n", errname(errno));
		return 0;
	}
	n = write(fd, av[1], strlen(av[1]));
	if (n < 0 || pread(fd, buf, sizeof(buf) - 1, 0) != n || fstat(fd, &st) < 0)
		die("tmpfile io");
	printf("tmpfile %s nlink %ju size %jd\n", buf, (uintmax_t)st.st_nlink, (intmax_t)st.st_size);
	close(fd);
	return 0;
}

/* mkstemp TEMPLATE TEXT: create, write, reopen by name, read back, unlink; the name itself is not printed. */
static int cmd_mkstemp(char **av)
{
	char *name = strdup(av[0]);
	char buf[256] = "";
	size_t len = strlen(name);
	int fd = mkstemp(name);

	if (fd < 0) {
		printf("mkstemp %s\n", errname(errno));
		return 0;
	}
	printf("mkstemp replaced-X %s\n", len >= 6 && strcmp(name + len - 6, "XXXXXX") != 0 ? "yes" : "no");
	if (write(fd, av[1], strlen(av[1])) < 0)
		die("mkstemp write");
	close(fd);
	fd = open(name, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die("mkstemp reopen");
	close(fd);
	printf("mkstemp read %s\n", buf);
	printf("mkstemp unlink %s\n", unlink(name) < 0 ? errname(errno) : "ok");
	printf("mkstemp gone %s\n", access(name, F_OK) < 0 ? errname(errno) : "no");
	free(name);
	return 0;
}

struct command {
	const char *name;
	int nargs; /* minimum */
	int (*fn)(char **av);
	const char *usage;
};

static const struct command commands[] = {
	{ "open", 2, cmd_open, "PATH FLAGS (ro|rw|wo or e.g. wronly|creat|excl)" },
	{ "pread", 3, cmd_pread, "PATH OFF LEN" },
	{ "pwrite", 3, cmd_pwrite, "PATH OFF TEXT" },
	{ "pwrite-fill", 4, cmd_pwrite_fill, "PATH OFF LEN BYTE" },
	{ "reread", 5, cmd_reread, "PATH OFF LEN READY GO" },
	{ "lock", 4, cmd_lock, "PATH ro|rw|wo posix|ofd|flock|lockf rd|wr [--opened M] [--go M] [--ready M] "
			       "[--release M] [--then close|exit|close-other] [--closed M] [--exit M] [--timeout S]" },
	{ "getlk", 3, cmd_getlk, "PATH ro|rw rd|wr" },
	{ "stat", 1, cmd_stat, "PATH" },
	{ "readdir", 1, cmd_readdir, "DIR" },
	{ "nftw", 2, cmd_nftw, "DIR phys|depth|chdir|actionretval|mount,..." },
	{ "rename2", 3, cmd_rename2, "OLD NEW noreplace|exchange|none" },
	{ "size-after-write", 3, cmd_size_after_write, "PATH OFF TEXT" },
	{ "segments", 1, cmd_segments, "PATH" },
	{ "seek", 3, cmd_seek, "PATH SEEK_SET|SEEK_CUR|SEEK_END|SEEK_DATA|SEEK_HOLE OFF" },
	{ "statfs", 1, cmd_statfs, "PATH" },
	{ "access", 2, cmd_access, "PATH r|w|x|f..." },
	{ "errno-kept", 1, cmd_errno_kept, "PATH" },
	{ "tmpfile", 2, cmd_tmpfile, "DIR TEXT" },
	{ "mkstemp", 2, cmd_mkstemp, "TEMPLATE TEXT" },
};

static int usage(FILE *out)
{
	fprintf(out, "usage: ps-probe COMMAND ARG...\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s %s\n", commands[i].name, commands[i].usage);
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help"))
		return usage(stdout);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (argc - 2 < commands[i].nargs)
			return usage(stderr);
		setvbuf(stdout, NULL, _IOLBF, 0);
		return commands[i].fn(argv + 2);
	}
	fprintf(stderr, "ps-probe: unknown command %s\n", argv[1]);
	return usage(stderr);
}
