/* ps-bypass.c - one small program per way around the file calls a shim sees (tests/integration/50-no-bypass.bats).
 *
 * Usage: ps-bypass COMMAND ARG...   (ps-bypass help lists them)
 * Each command reaches a file the way a real program can without calling open/read/write itself - exec, dlopen,
 * splice, syscall(), stdio on an fd, io_uring - and prints what it got on stdout, errors as errno names, so the
 * output under the shim is compared byte for byte with the output on a writable copy.
 * Exit status: 0 when the command ran (even if the call it probes failed), 2 for a usage error, 1 when the probe
 * itself failed unexpectedly.
 */
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <mntent.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "errname.h"

extern char **environ;

static int report_status(int status)
{
	if (WIFEXITED(status))
		printf("exit %d\n", WEXITSTATUS(status));
	else
		printf("signal %d\n", WTERMSIG(status));
	return 0;
}

/* exec KIND PATH ARG...: run PATH with the arguments through one member of the exec family. The exec forms
 * replace this process (their output is the program's); on failure they print the errno name. */
static int cmd_exec(int argc, char **argv)
{
	const char *kind = argv[0], *path = argv[1];
	char **args = argv + 1; /* argv[0] of the new program is PATH */
	char *const envp[] = { "PS_BYPASS_ENV=1", NULL }; /* a cleared environment, as env -i gives */
	pid_t pid;
	int rc, status;

	fflush(stdout);
	if (argc < 2)
		return 2;
	if (strcmp(kind, "execve") == 0)
		execve(path, args, environ);
	else if (strcmp(kind, "execve-clearenv") == 0)
		execve(path, args, envp);
	else if (strcmp(kind, "execv") == 0)
		execv(path, args);
	else if (strcmp(kind, "execvp") == 0)
		execvp(path, args);
	else if (strcmp(kind, "execvpe") == 0)
		execvpe(path, args, environ);
	else if (strcmp(kind, "execl") == 0)
		execl(path, path, argc > 2 ? args[1] : NULL, (char *)NULL);
	else if (strcmp(kind, "execlp") == 0)
		execlp(path, path, argc > 2 ? args[1] : NULL, (char *)NULL);
	else if (strcmp(kind, "execle") == 0)
		execle(path, path, argc > 2 ? args[1] : NULL, (char *)NULL, environ);
	else if (strcmp(kind, "fexecve") == 0 || strcmp(kind, "execveat") == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			printf("open %s\n", errname(errno));
			return 0;
		}
		if (kind[0] == 'f')
			fexecve(fd, args, environ);
		else
			syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
	} else if (strcmp(kind, "execveat-dirfd") == 0) { /* PATH is DIR/NAME: run NAME relative to DIR's fd */
		char dir[4096];
		const char *slash = strrchr(path, '/');
		int dfd;

		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
			return 1;
		syscall(SYS_execveat, dfd, slash ? slash + 1 : path, args, environ, 0);
	} else if (strcmp(kind, "syscall-execve") == 0)
		syscall(SYS_execve, path, args, environ);
	else if (strcmp(kind, "vfork") == 0) {
		pid = vfork();
		if (pid == 0) {
			execv(path, args);
			_exit(127);
		}
		waitpid(pid, &status, 0);
		return report_status(status);
	} else if (strcmp(kind, "posix_spawn") == 0 || strcmp(kind, "posix_spawnp") == 0) {
		rc = kind[11] == 'p' ? posix_spawnp(&pid, path, NULL, NULL, args, environ)
				     : posix_spawn(&pid, path, NULL, NULL, args, environ);
		if (rc != 0) {
			printf("%s %s\n", kind, errname(rc));
			return 0;
		}
		waitpid(pid, &status, 0);
		return report_status(status);
	} else if (strcmp(kind, "system") == 0) {
		char cmd[4096];

		snprintf(cmd, sizeof(cmd), "'%s'%s%s", path, argc > 2 ? " " : "", argc > 2 ? args[1] : "");
		return report_status(system(cmd));
	} else if (strcmp(kind, "popen") == 0) {
		char cmd[4096], line[4096];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "'%s'%s%s", path, argc > 2 ? " " : "", argc > 2 ? args[1] : "");
		if (!(p = popen(cmd, "r")))
			return 1;
		while (fgets(line, sizeof(line), p))
			printf("popen: %s", line);
		return report_status(pclose(p));
	} else {
		return 2;
	}
	printf("%s %s\n", kind, errname(errno));
	return 0;
}

/* dlopen LIB SYMBOL: call `const char *SYMBOL(void)` from LIB and print what it returns. */
static int cmd_dlopen(int argc, char **argv)
{
	const char *(*fn)(void);
	void *h;

	(void)argc;
	h = dlopen(argv[0], RTLD_NOW);
	if (!h) {
		printf("dlopen failed\n");
		return 0;
	}
	*(void **)&fn = dlsym(h, argv[1]);
	printf("%s\n", fn ? fn() : "no symbol");
	dlclose(h);
	return 0;
}

static int open_or_report(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		printf("open %s\n", errname(errno));
	return fd;
}

/* splice-read FILE OFF LEN: FILE -> pipe with splice, then the pipe's bytes on stdout. */
static int cmd_splice_read(int argc, char **argv)
{
	loff_t off = atoll(argv[1]);
	size_t len = (size_t)atoll(argv[2]);
	char buf[65536];
	int p[2], fd = open_or_report(argv[0], O_RDONLY);
	ssize_t n;

	(void)argc;
	if (fd < 0)
		return 0;
	if (pipe(p) < 0 || len > sizeof(buf))
		return 1;
	n = splice(fd, &off, p[1], NULL, len, 0);
	if (n < 0) {
		printf("splice %s\n", errname(errno));
		return 0;
	}
	printf("spliced %zd, offset now %lld: ", n, (long long)off);
	fflush(stdout);
	n = read(p[0], buf, (size_t)n);
	fwrite(buf, 1, (size_t)(n > 0 ? n : 0), stdout);
	printf("\n");
	return 0;
}

/* splice-write FILE OFF TEXT: TEXT -> pipe -> FILE at OFF with splice. */
static int cmd_splice_write(int argc, char **argv)
{
	loff_t off = atoll(argv[1]);
	size_t len = strlen(argv[2]);
	int p[2], fd = open_or_report(argv[0], O_RDWR);
	ssize_t n;

	(void)argc;
	if (fd < 0)
		return 0;
	if (pipe(p) < 0 || write(p[1], argv[2], len) != (ssize_t)len)
		return 1;
	n = splice(p[0], NULL, fd, &off, len, 0);
	if (n < 0)
		printf("splice %s\n", errname(errno));
	else
		printf("spliced %zd, offset now %lld\n", n, (long long)off);
	return close(fd) < 0;
}

/* tee FILE LEN: FILE -> pipe a (splice, the file's own position), pipe a -> pipe b (tee), both printed. */
static int cmd_tee(int argc, char **argv)
{
	size_t len = (size_t)atoll(argv[1]);
	char buf[65536];
	int a[2], b[2], fd = open_or_report(argv[0], O_RDONLY);
	ssize_t n, t;

	(void)argc;
	if (fd < 0)
		return 0;
	if (pipe(a) < 0 || pipe(b) < 0 || len > sizeof(buf))
		return 1;
	n = splice(fd, NULL, a[1], NULL, len, 0);
	t = n > 0 ? tee(a[0], b[1], (size_t)n, 0) : 0;
	printf("spliced %zd, teed %zd, position %lld\n", n, t, (long long)lseek(fd, 0, SEEK_CUR));
	fflush(stdout);
	for (int *p = a; p; p = p == a ? b : NULL) {
		ssize_t r = t > 0 ? read(p[0], buf, (size_t)t) : 0;

		fwrite(buf, 1, (size_t)(r > 0 ? r : 0), stdout);
		printf("\n");
	}
	return 0;
}

/* splice-nonblock FILE: a full non-blocking pipe: splice from FILE must fail with EAGAIN and leave its position. */
static int cmd_splice_nonblock(int argc, char **argv)
{
	char fill[4096] = { 0 };
	int p[2], fd = open_or_report(argv[0], O_RDONLY);
	ssize_t n;

	(void)argc;
	if (fd < 0)
		return 0;
	if (pipe2(p, O_NONBLOCK) < 0)
		return 1;
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	n = splice(fd, NULL, p[1], NULL, 4096, 0);
	printf("splice %s, position %lld\n", n < 0 ? errname(errno) : "moved bytes", (long long)lseek(fd, 0, SEEK_CUR));
	return 0;
}

/* openat2 DIR NAME: openat2 relative to DIR's fd with RESOLVE_BENEATH, then the first line read. */
static int cmd_openat2(int argc, char **argv)
{
	struct {
		unsigned long long flags, mode, resolve;
	} how = { O_RDONLY, 0, 0x08 /* RESOLVE_BENEATH */ };
	char buf[256] = { 0 };
	int dfd = open(argv[0], O_RDONLY | O_DIRECTORY);
	long fd;

	(void)argc;
	if (dfd < 0)
		return 1;
	fd = syscall(SYS_openat2, dfd, argv[1], &how, sizeof(how));
	if (fd < 0) {
		printf("openat2 %s\n", errname(errno));
		return 0;
	}
	if (read((int)fd, buf, sizeof(buf) - 1) < 0)
		return 1;
	printf("openat2 read %.*s\n", (int)strcspn(buf, "\n"), buf);
	return 0;
}

static int print_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	printf("nftw %s %s %lld\n", path, type == FTW_F ? "file" : type == FTW_D ? "dir" : "other",
	       type == FTW_F ? (long long)st->st_size : 0LL);
	return 0;
}

/* walk DIR NAME...: nftw over DIR (entries with their sizes), then glob of each NAME (with GLOB_MARK): glibc's
 * own stat calls, which no PLT wrapper sees. */
static int cmd_walk(int argc, char **argv)
{
	if (nftw(argv[0], print_entry, 8, FTW_PHYS) < 0)
		printf("nftw %s\n", errname(errno));
	for (int i = 1; i < argc; i++) {
		glob_t g;
		int rc = glob(argv[i], GLOB_MARK, NULL, &g);

		if (rc != 0) {
			printf("glob %s: %s\n", argv[i], rc == GLOB_NOMATCH ? "no match" : "error");
			continue;
		}
		for (size_t k = 0; k < g.gl_pathc; k++)
			printf("glob %s\n", g.gl_pathv[k]);
		globfree(&g);
	}
	return 0;
}

/* syscall-read FILE OFF LEN: open and pread with syscall(2). */
static int cmd_syscall_read(int argc, char **argv)
{
	char buf[65536];
	long fd, n;
	size_t len = (size_t)atoll(argv[2]);

	(void)argc;
	fd = syscall(SYS_openat, AT_FDCWD, argv[0], O_RDONLY);
	if (fd < 0 || len > sizeof(buf)) {
		printf("openat %s\n", errname(errno));
		return 0;
	}
	n = syscall(SYS_pread64, fd, buf, len, atoll(argv[1]));
	if (n < 0) {
		printf("pread64 %s\n", errname(errno));
		return 0;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	printf("\n");
	return syscall(SYS_close, fd) < 0;
}

/* A system call issued with the instruction itself, as a library that does not use libc would (x86-64). */
static long inline_syscall(long nr, long a0, long a1, long a2, long a3)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = a3;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10) : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(nr, a0, a1, a2, a3);
#endif
}

/* LEN bytes at OFF of FILE, read with inline openat, pread64 and close; "who: bytes" on stdout. */
static void inline_read_report(const char *who, const char *file, long off, size_t len)
{
	char buf[4096];
	long fd = inline_syscall(SYS_openat, AT_FDCWD, (long)file, O_RDONLY, 0), n;

	if (fd < 0 || len > sizeof(buf)) {
		printf("%s: openat %s\n", who, errname((int)-fd));
		return;
	}
	n = inline_syscall(SYS_pread64, fd, (long)buf, (long)len, off);
	if (n < 0)
		printf("%s: pread64 %s\n", who, errname((int)-n));
	else
		printf("%s: %.*s\n", who, (int)n, buf);
	inline_syscall(SYS_close, fd, 0, 0, 0);
	fflush(stdout);
}

struct inline_job {
	const char *file;
	long off;
	size_t len;
};

static void *inline_thread(void *p)
{
	struct inline_job *j = p;

	inline_read_report("thread", j->file, j->off, j->len);
	return NULL;
}

/* inline-read FILE OFF LEN: read with inline system calls in the main thread, in a new thread and in a fork
 * child, then with every signal blocked (which must not make the trap fatal). */
static int cmd_inline_read(int argc, char **argv)
{
	struct inline_job j = { argv[0], atol(argv[1]), (size_t)atol(argv[2]) };
	sigset_t all, old;
	pthread_t t;
	pid_t pid;

	(void)argc;
	inline_read_report("main", j.file, j.off, j.len);
	if (pthread_create(&t, NULL, inline_thread, &j) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	if ((pid = fork()) == 0) {
		inline_read_report("child", j.file, j.off, j.len);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, NULL, 0) < 0)
		return 1;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	inline_read_report("all signals blocked", j.file, j.off, j.len);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* inline-write FILE OFF TEXT: open O_RDWR, pwrite64 and close with inline system calls. */
static int cmd_inline_write(int argc, char **argv)
{
	long fd = inline_syscall(SYS_openat, AT_FDCWD, (long)argv[0], O_RDWR, 0), n;

	(void)argc;
	if (fd < 0) {
		printf("openat %s\n", errname((int)-fd));
		return 0;
	}
	n = inline_syscall(SYS_pwrite64, fd, (long)argv[2], (long)strlen(argv[2]), atol(argv[1]));
	printf("pwrite64 %s\n", n < 0 ? errname((int)-n) : "done");
	return inline_syscall(SYS_close, fd, 0, 0, 0) != 0;
}

static volatile sig_atomic_t sigsys_seen;

static void on_program_sigsys(int sig)
{
	(void)sig;
	sigsys_seen = 1;
}

/* inline-other: inline calls that are not file calls still do what they do - getpid, a signal mask, fork - and a
 * SIGSYS the program handles itself still reaches its handler. */
static int cmd_inline_other(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_program_sigsys };
	sigset_t usr1, now;
	long pid;
	int status;

	(void)argc;
	(void)argv;
	printf("getpid matches: %s\n", inline_syscall(SYS_getpid, 0, 0, 0, 0) == getpid() ? "yes" : "no");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	inline_syscall(SYS_rt_sigprocmask, SIG_BLOCK, (long)&usr1, 0, sizeof(long));
	sigprocmask(SIG_BLOCK, NULL, &now);
	printf("SIGUSR1 blocked by an inline call: %s\n", sigismember(&now, SIGUSR1) ? "yes" : "no");
	sigaction(SIGSYS, &sa, NULL);
	kill(getpid(), SIGSYS);
	printf("the program's own SIGSYS handler ran: %s\n", sigsys_seen ? "yes" : "no");
	printf("io_uring_setup inline: %s\n",
	       errname((int)-inline_syscall(SYS_io_uring_setup, 4, (long)(char[120]){ 0 }, 0, 0)));
	fflush(stdout);
	pid = inline_syscall(SYS_fork, 0, 0, 0, 0);
	if (pid == 0)
		_exit(7);
	if (pid < 0 || waitpid((pid_t)pid, &status, 0) < 0)
		return 1;
	printf("inline fork: child exited %d\n", WEXITSTATUS(status));
	{ /* SIGSYS ignored by an inline rt_sigaction, then ld.so's own calls (dlopen) and an inline file call */
		struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ign = { SIG_IGN, 0, 0, 0 };
		void *lib;

		printf("inline rt_sigaction(SIGSYS, SIG_IGN): %ld\n", inline_syscall(SYS_rt_sigaction, SIGSYS, (long)&ign, 0, 8));
		lib = dlopen("libz.so.1", RTLD_NOW);
		printf("dlopen afterwards: %s\n", lib ? "ok" : "failed");
		printf("inline getppid afterwards matches: %s\n",
		       inline_syscall(SYS_getppid, 0, 0, 0, 0) == getppid() ? "yes" : "no");
	}
	return 0;
}

/* sigsys-exec ign|block: ignore or block SIGSYS, then exec a shell that sends itself SIGSYS - which an exec keeps
 * ignored or blocked, so the shell goes on. */
static int cmd_sigsys_exec(int argc, char **argv)
{
	sigset_t sys;

	(void)argc;
	if (!strcmp(argv[0], "ign")) {
		signal(SIGSYS, SIG_IGN);
	} else {
		sigemptyset(&sys);
		sigaddset(&sys, SIGSYS);
		sigprocmask(SIG_BLOCK, &sys, NULL);
	}
	execl("/bin/sh", "sh", "-c", "kill -SYS $$; echo the shell survived SIGSYS", (char *)NULL);
	return 1;
}

/* syscall-write FILE OFF TEXT: open O_RDWR and pwrite with syscall(2). */
static int cmd_syscall_write(int argc, char **argv)
{
	long fd, n;

	(void)argc;
	fd = syscall(SYS_openat, AT_FDCWD, argv[0], O_RDWR);
	if (fd < 0) {
		printf("openat %s\n", errname(errno));
		return 0;
	}
	n = syscall(SYS_pwrite64, fd, argv[2], strlen(argv[2]), atoll(argv[1]));
	printf(n < 0 ? "pwrite64 %s\n" : "wrote %s\n", n < 0 ? errname(errno) : "ok");
	return syscall(SYS_close, fd) < 0;
}

/* fdopen FILE TEXT: open O_RDWR, fdopen "r+", read the first line, append TEXT at the end with fprintf. */
static int cmd_fdopen(int argc, char **argv)
{
	char line[4096];
	int fd = open_or_report(argv[0], O_RDWR);
	FILE *f;

	(void)argc;
	if (fd < 0)
		return 0;
	if (!(f = fdopen(fd, "r+")))
		return 1;
	if (fgets(line, sizeof(line), f))
		printf("first line: %s", line);
	if (fseek(f, 0, SEEK_END) < 0)
		return 1;
	printf("size %ld\n", ftell(f));
	fprintf(f, "%s\n", argv[1]);
	printf("fileno is the fd: %s\n", fileno(f) == fd ? "yes" : "no");
	return fclose(f) != 0;
}

/* dprintf FILE OFF TEXT: write "TEXT" at OFF with dprintf and " TEXT" after it with the checked form the compiler
 * makes of dprintf under _FORTIFY_SOURCE (glibc formats and writes both with calls no wrapper sees). */
extern int __dprintf_chk(int fd, int flag, const char *fmt, ...);

static int cmd_dprintf(int argc, char **argv)
{
	int fd = open_or_report(argv[0], O_RDWR);

	(void)argc;
	if (fd < 0)
		return 0;
	if (lseek(fd, atol(argv[1]), SEEK_SET) < 0 || dprintf(fd, "%s", argv[2]) < 0 ||
	    __dprintf_chk(fd, 1, " %s", argv[2]) < 0)
		return 1;
	return close(fd) != 0;
}

/* realpath-chk PATH: what realpath says when the compiler checks the buffer (__realpath_chk: make, cp, tar). */
extern char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);

static int cmd_realpath_chk(int argc, char **argv)
{
	char out[PATH_MAX];

	(void)argc;
	if (!__realpath_chk(argv[0], out, sizeof(out))) {
		printf("realpath: %s\n", errname(errno));
		return 0;
	}
	printf("realpath: %s\n", out);
	return 0;
}

/* Is name in the NUL-separated list of n bytes? */
static int has_name(const char *list, ssize_t n, const char *name)
{
	for (const char *p = list; p < list + n; p += strlen(p) + 1)
		if (!strcmp(p, name))
			return 1;
	return 0;
}

/* lchmod PATH MODE: glibc's lchmod (an fchmodat it makes itself). */
/* setmntent opens with glibc's own fopen ("rce": __open_nocancel, __read_nocancel): every entry, and a checksum
 * of the directory names, which lie across the whole file. */
static int cmd_mntent(int argc, char **argv)
{
	FILE *f = setmntent(argv[0], "r");
	struct mntent *m;
	unsigned long sum = 0, n = 0;

	(void)argc;
	if (!f) {
		printf("setmntent: %s\n", errname(errno));
		return 0;
	}
	while ((m = getmntent(f))) {
		for (const char *c = m->mnt_dir; *c; c++)
			sum = sum * 31 + (unsigned char)*c;
		n++;
	}
	endmntent(f);
	printf("mntent: %lu entries, sum %lu\n", n, sum);
	return 0;
}

static int cmd_lchmod(int argc, char **argv)
{
	(void)argc;
	printf("lchmod: %s\n", lchmod(argv[0], (mode_t)strtol(argv[1], NULL, 8)) < 0 ? errname(errno) : "done");
	return 0;
}

/* fxattr FILE NAME: the attribute NAME and the list of names read through a descriptor, then what removing NAME
 * and setting user.new through it say. */
static int cmd_fxattr(int argc, char **argv)
{
	char value[256], list[1024];
	int fd = open_or_report(argv[0], O_RDWR);
	ssize_t n;

	(void)argc;
	if (fd < 0)
		return 0;
	n = fgetxattr(fd, argv[1], value, sizeof(value));
	printf("fgetxattr: %s\n", n < 0 ? errname(errno) : (value[n < (ssize_t)sizeof(value) ? n : n - 1] = 0, value));
	n = flistxattr(fd, list, sizeof(list));
	printf("flistxattr: %s\n", n < 0 ? errname(errno) : has_name(list, n, argv[1]) ? "has it" : "lacks it");
	printf("fremovexattr: %s\n", fremovexattr(fd, argv[1]) < 0 ? errname(errno) : "done");
	printf("fsetxattr: %s\n", fsetxattr(fd, "user.new", "v", 1, 0) < 0 ? errname(errno) : "done");
	return close(fd) != 0;
}

/* freopen-stdin FILE: freopen FILE onto stdin and print its first two lines and its size as read. */
static int cmd_freopen_stdin(int argc, char **argv)
{
	char line[4096];
	long total = 0;
	int lines = 0;
	size_t n;

	(void)argc;
	if (!freopen(argv[0], "r", stdin)) {
		printf("freopen %s\n", errname(errno));
		return 0;
	}
	while (lines < 2 && fgets(line, sizeof(line), stdin)) {
		printf("line: %s", line);
		total += (long)strlen(line);
		lines++;
	}
	while ((n = fread(line, 1, sizeof(line), stdin)) > 0)
		total += (long)n;
	printf("read %ld bytes through stdin\n", total);
	return 0;
}

/* io-uring: can a ring be set up? */
static int cmd_io_uring(int argc, char **argv)
{
	char params[120] = { 0 }; /* struct io_uring_params */
	long fd;

	(void)argc;
	(void)argv;
	fd = syscall(SYS_io_uring_setup, 4, params);
	printf("io_uring_setup %s\n", fd < 0 ? errname(errno) : "ok");
	return 0;
}

/* aio FILE: POSIX aio on FILE (glibc does it in threads of its own): a write with a signal, a read with a
 * thread's notification, a list of a read and a write, an fsync; what each returned and read. */
static volatile sig_atomic_t aio_signals, aio_signal_ok;
static void on_aio_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	aio_signals++;
	aio_signal_ok = si->si_code == SI_ASYNCIO && si->si_value.sival_int == 42;
}

static pthread_mutex_t aio_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t aio_cond = PTHREAD_COND_INITIALIZER;
static int aio_thread_value;
static void on_aio_thread(union sigval v)
{
	pthread_mutex_lock(&aio_mutex);
	aio_thread_value = v.sival_int;
	pthread_cond_signal(&aio_cond);
	pthread_mutex_unlock(&aio_mutex);
}

static void aio_wait(const struct aiocb *cb, const char *what)
{
	const struct aiocb *list[1] = { cb };

	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	printf("%s: %s, %zd\n", what, errname(aio_error(cb)), aio_return((struct aiocb *)cb));
}

static int cmd_aio(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_aio_signal, .sa_flags = SA_SIGINFO };
	char got[32] = "", got2[16] = "", text[] = "AIO-WRITE", text2[] = "LIST";
	int fd = open(argv[0], O_RDWR);
	struct aiocb w = { .aio_fildes = fd, .aio_buf = text, .aio_nbytes = 9, .aio_offset = 5000 };
	struct aiocb r = { .aio_fildes = fd, .aio_buf = got, .aio_nbytes = 20, .aio_offset = 4995 };
	struct aiocb lr = { .aio_fildes = fd, .aio_buf = got2, .aio_nbytes = 8, .aio_offset = 20, .aio_lio_opcode = LIO_READ };
	struct aiocb lw = { .aio_fildes = fd, .aio_buf = text2, .aio_nbytes = 4, .aio_offset = 9000,
			    .aio_lio_opcode = LIO_WRITE };
	struct aiocb f = { .aio_fildes = fd };
	struct aiocb *list[2] = { &lr, &lw };

	(void)argc;
	if (fd < 0)
		return printf("open: %s\n", errname(errno)), 1;
	sigaction(SIGUSR1, &sa, NULL);
	w.aio_sigevent = (struct sigevent){ .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1,
					    .sigev_value.sival_int = 42 };
	printf("aio_write: %d\n", aio_write(&w));
	aio_wait(&w, "the write");
	while (!aio_signals)
		usleep(1000);
	printf("its signal: %s\n", aio_signal_ok ? "SI_ASYNCIO with the value" : "wrong");
	r.aio_sigevent = (struct sigevent){ .sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_aio_thread,
					    .sigev_value.sival_int = 7 };
	printf("aio_read: %d\n", aio_read(&r));
	aio_wait(&r, "the read");
	pthread_mutex_lock(&aio_mutex);
	while (!aio_thread_value)
		pthread_cond_wait(&aio_cond, &aio_mutex);
	pthread_mutex_unlock(&aio_mutex);
	printf("it read: %.20s; its thread got %d\n", got, aio_thread_value);
	printf("lio_listio: %d\n", lio_listio(LIO_WAIT, list, 2, NULL));
	aio_wait(&lr, "the list's read");
	aio_wait(&lw, "the list's write");
	printf("the list read: %.8s\n", got2);
	printf("aio_fsync: %d\n", aio_fsync(O_SYNC, &f));
	aio_wait(&f, "the fsync");
	close(fd);
	return 0;
}

/* linux-aio: can a Linux AIO context be set up, through syscall(2) and inline? */
static int cmd_linux_aio(int argc, char **argv)
{
	unsigned long ctx = 0;
	long rc;

	(void)argc;
	(void)argv;
	rc = syscall(SYS_io_setup, 4, &ctx);
	printf("io_setup %s\n", rc < 0 ? errname(errno) : "ok");
	ctx = 0;
	rc = inline_syscall(SYS_io_setup, 4, (long)&ctx, 0, 0);
	printf("io_setup inline %s\n", rc < 0 ? errname((int)-rc) : "ok");
	return 0;
}

static const struct command {
	const char *name;
	int nargs; /* at least */
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "exec", 2, cmd_exec, "KIND PATH [ARG] (execve execve-clearenv execv execvp execvpe execl execlp execle "
			       "fexecve execveat execveat-dirfd syscall-execve vfork posix_spawn posix_spawnp system popen)" },
	{ "dlopen", 2, cmd_dlopen, "LIB SYMBOL" },
	{ "splice-read", 3, cmd_splice_read, "FILE OFF LEN" },
	{ "splice-write", 3, cmd_splice_write, "FILE OFF TEXT" },
	{ "tee", 2, cmd_tee, "FILE LEN" },
	{ "splice-nonblock", 1, cmd_splice_nonblock, "FILE" },
	{ "openat2", 2, cmd_openat2, "DIR NAME" },
	{ "syscall-read", 3, cmd_syscall_read, "FILE OFF LEN" },
	{ "syscall-write", 3, cmd_syscall_write, "FILE OFF TEXT" },
	{ "inline-read", 3, cmd_inline_read, "FILE OFF LEN" },
	{ "inline-write", 3, cmd_inline_write, "FILE OFF TEXT" },
	{ "inline-other", 0, cmd_inline_other, "" },
	{ "sigsys-exec", 1, cmd_sigsys_exec, "ign|block" },
	{ "fdopen", 2, cmd_fdopen, "FILE TEXT" },
	{ "dprintf", 3, cmd_dprintf, "FILE OFF TEXT" },
	{ "realpath-chk", 1, cmd_realpath_chk, "PATH" },
	{ "fxattr", 2, cmd_fxattr, "FILE NAME" },
	{ "lchmod", 2, cmd_lchmod, "PATH MODE" },
	{ "mntent", 1, cmd_mntent, "FILE" },
	{ "io-uring", 0, cmd_io_uring, "" },
	{ "aio", 1, cmd_aio, "FILE" },
	{ "linux-aio", 0, cmd_linux_aio, "" },
	{ "freopen-stdin", 1, cmd_freopen_stdin, "FILE" },
	{ "walk", 1, cmd_walk, "DIR [NAME...]" },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (argc - 2 < commands[i].nargs)
			break;
		int rc = commands[i].run(argc - 2, argv + 2);

		if (rc == 2)
			break;
		return rc;
	}
	fprintf(stderr, "usage: ps-bypass COMMAND ARG...\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %s %s\n", commands[i].name, commands[i].usage);
	return 2;
}
