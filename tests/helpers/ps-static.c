/* ps-static - a statically linked test program for the supervisor (tests/integration/90-supervised.bats).
 *
 *   ps-static work DIR        read DIR/partial, write single bytes into DIR/big from four threads, append to DIR/log,
 *                             create, make a directory, rename, remove DIR/gone, then list the tree with sizes and
 *                             checksums (what a writable copy must print too)
 *   ps-static chain FILE CMD  append "static" to FILE, run CMD (through /bin/sh) and wait, then print FILE
 *   ps-static hammer FILE     write pages of FILE over and over (page i holds the byte 'a' + round % 26) until
 *                             killed; says "ready" on stdout after the first round
 *   ps-static calls DIR       the calls a shell or tar rarely shows: O_PATH descriptors (and what glibc builds on
 *                             them), sendfile, copy_file_range and splice of DIR/partial, O_TMPFILE given a name,
 *                             F_DUPFD, names ending in a slash, fchmod through a read-only descriptor; a line per
 *                             call with its result or errno name
 */
#include "errname.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "ps-static: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t fnv(int fd)
{
	static char buf[65536];
	uint64_t h = 1469598103934665603ULL;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
	if (n < 0)
		die("read");
	return h;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir, const char *rel)
{
	char path[4096], *names[256];
	struct dirent *e;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		die(dir);
	while ((e = readdir(d)) && n < 256)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), by_name);
	for (int i = 0; i < n; i++) {
		struct stat st;
		char sub[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]);
		if (lstat(path, &st) < 0)
			die(path);
		if (S_ISDIR(st.st_mode)) {
			printf("%s dir %o\n", sub, st.st_mode & 07777);
			list(path, sub);
		} else {
			int fd = open(path, O_RDONLY);

			if (fd < 0)
				die(path);
			printf("%s %lld %o %016llx\n", sub, (long long)st.st_size, st.st_mode & 07777,
			       (unsigned long long)fnv(fd));
			close(fd);
		}
		free(names[i]);
	}
}

static int big_fd;

static void *poke(void *arg)
{
	long t = (long)arg;

	for (int i = 0; i < 64; i++) {
		char c = (char)('A' + t);
		off_t off = (off_t)(t * 64 + i) * 131072 + t * 7 + 1;

		if (pwrite(big_fd, &c, 1, off) != 1)
			die("pwrite");
	}
	return NULL;
}

static void work(const char *dir)
{
	char p[4096], q[4096];
	pthread_t th[4];
	int fd;

	snprintf(p, sizeof(p), "%s/partial", dir);
	if ((fd = open(p, O_RDONLY)) < 0)
		die(p);
	printf("partial %016llx\n", (unsigned long long)fnv(fd));
	close(fd);
	snprintf(p, sizeof(p), "%s/big", dir);
	if ((big_fd = open(p, O_RDWR)) < 0)
		die(p);
	for (long t = 0; t < 4; t++)
		pthread_create(&th[t], NULL, poke, (void *)t);
	for (int t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	close(big_fd);
	snprintf(p, sizeof(p), "%s/log", dir);
	if ((fd = open(p, O_WRONLY | O_APPEND)) < 0 || write(fd, "appended by C\n", 14) != 14)
		die(p);
	close(fd);
	snprintf(p, sizeof(p), "%s/created", dir);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0640)) < 0 || write(fd, "made by C\n", 10) != 10)
		die(p);
	close(fd);
	snprintf(q, sizeof(q), "%s/newdir", dir);
	if (mkdir(q, 0750) < 0)
		die(q);
	snprintf(q, sizeof(q), "%s/newdir/moved", dir);
	if (rename(p, q) < 0)
		die("rename");
	snprintf(p, sizeof(p), "%s/gone", dir);
	if (unlink(p) < 0)
		die(p);
	list(dir, "");
}

static void chain(const char *file, const char *cmd)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644), status;
	pid_t pid;

	if (fd < 0 || write(fd, "static\n", 7) != 7)
		die(file);
	close(fd);
	if ((pid = fork()) == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		die("fork");
	if ((fd = open(file, O_RDONLY)) < 0)
		die(file);
	for (char buf[4096]; (status = (int)read(fd, buf, sizeof(buf))) > 0;)
		fwrite(buf, 1, (size_t)status, stdout);
	close(fd);
}

static void hammer(const char *file)
{
	char page[4096];
	int fd = open(file, O_RDWR);

	if (fd < 0)
		die(file);
	for (unsigned round = 0;; round++) {
		for (int i = 0; i < 64; i++) {
			memset(page, 'a' + (int)(round % 26), sizeof(page));
			if (pwrite(fd, page, sizeof(page), (off_t)i * 8192) != (ssize_t)sizeof(page))
				die("pwrite");
		}
		if (round == 0) {
			printf("ready\n");
			fflush(stdout);
		}
	}
}

/* One call's result: its value or its errno's name. */
static void say(const char *what, long rc)
{
	if (rc < 0)
		printf("%s: %s\n", what, errname(errno));
	else
		printf("%s: %ld\n", what, rc);
}

static void say_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		printf("  %s mode %o size %lld\n", path, (unsigned)st.st_mode, (long long)st.st_size);
	else
		printf("  %s: %s\n", path, errname(errno));
}

static void say_sum(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		printf("  %s: %s\n", path, errname(errno));
	else
		printf("  %s fnv %016llx\n", path, (unsigned long long)fnv(fd));
	if (fd >= 0)
		close(fd);
}

static void opath_calls(void)
{
	char self[64];
	struct stat st;
	int file = open("sub/s", O_PATH), dir = open("sub", O_PATH | O_DIRECTORY);

	say("O_PATH lower file", file >= 0);
	say("O_PATH lower directory", dir >= 0);
	say("fstatat of O_PATH", fstatat(file, "", &st, AT_EMPTY_PATH));
	say("fchown of O_PATH (EBADF)", fchown(file, getuid(), getgid()));
	snprintf(self, sizeof(self), "/proc/self/fd/%d", file);
	say("chmod through /proc/self/fd of O_PATH", chmod(self, 0600));
	say_mode("sub/s");
	say("fstatat of O_PATH after", fstatat(file, "", &st, AT_EMPTY_PATH) < 0 ? -1 : (long)(st.st_mode & 07777));
	say("fchmodat AT_SYMLINK_NOFOLLOW", fchmodat(AT_FDCWD, "log", 0640, AT_SYMLINK_NOFOLLOW));
	say_mode("log");
	say("renameat2 into an O_PATH directory", syscall(SYS_renameat2, AT_FDCWD, "gone", dir, "moved", 1 /* NOREPLACE */));
	say_mode("sub/moved");
	close(file);
	close(dir);
}

static void copy_calls(void)
{
	int in = open("partial", O_RDONLY), out = open("sent", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int app = open("log", O_WRONLY | O_APPEND), p[2];
	loff_t from = 1000, to = 0;
	off_t off = 4000;
	char buf[64];

	say("sendfile of a partly shadowed file", sendfile(out, in, &off, 8192));
	say("  offset after", (long)off);
	say("sendfile to O_APPEND (EINVAL)", sendfile(app, in, NULL, 10));
	say("copy_file_range with offsets", syscall(SYS_copy_file_range, in, &from, out, &to, 6000, 0));
	say("  offsets after", (long)from * 100000 + (long)to);
	say("copy_file_range to O_APPEND (EBADF)", syscall(SYS_copy_file_range, in, NULL, app, NULL, 10, 0));
	if (pipe(p) < 0)
		die("pipe");
	from = 4990;
	say("splice into a pipe", splice(in, &from, p[1], NULL, 32, 0));
	say("  read back", read(p[0], buf, sizeof(buf)) == 32 && !memcmp(buf + 10, "ZZZZ", 4));
	say("splice out of a pipe", write(p[1], "spliced", 7) == 7 ? splice(p[0], NULL, out, NULL, 7, 0) : -1);
	close(p[0]);
	close(p[1]);
	close(in);
	close(out);
	close(app);
	say_sum("sent");
}

static void number_calls(void)
{
	int fd = open("partial", O_RDWR), tmp, d;
	struct rlimit rl;
	struct stat st;

	tmp = open(".", O_TMPFILE | O_RDWR, 0640);
	say("O_TMPFILE", tmp >= 0);
	say("  write", write(tmp, "unnamed\n", 8));
	say("linkat AT_EMPTY_PATH", linkat(tmp, "", AT_FDCWD, "named", AT_EMPTY_PATH));
	say_sum("named");
	close(tmp);
	d = fcntl(fd, F_DUPFD, 100);
	say("F_DUPFD 100 of a partly shadowed file: at least 100", d >= 100);
	say("  reads it", d >= 0 && pread(d, &tmp, 1, 5000) == 1 && (tmp & 0xff) == 'Z');
	getrlimit(RLIMIT_NOFILE, &rl);
	say("F_DUPFD at the soft limit (EINVAL)", fcntl(fd, F_DUPFD, (int)rl.rlim_cur));
	say("fchmod through a read-only descriptor", fchmod(tmp = open("sub/s", O_RDONLY), 0604));
	say("  fstat of it", fstat(tmp, &st) < 0 ? -1 : (long)(st.st_mode & 07777));
	say_mode("sub/s");
	close(tmp);
	close(d);
	close(fd);
}

static void slash_calls(void)
{
	say("rename a file to new/ (ENOTDIR)", rename("named", "new/"));
	say("rename a file onto dir/ (ENOTDIR)", rename("named", "sub/"));
	say("link to new/ (ENOENT)", link("named", "new/"));
	say("symlink to new/ (ENOENT)", symlink("named", "new/"));
	say("mkdir new/", mkdir("new/", 0755));
	say("rename a directory to newer/", rename("new", "newer/"));
}

/* The working directory's name, with dir's own replaced by "DIR" (the copy and the read-only tree differ). */
static void say_cwd(const char *dir, const char *what)
{
	char cwd[4096];
	size_t n = strlen(dir);

	if (!getcwd(cwd, sizeof(cwd)))
		printf("%s: getcwd %s\n", what, errname(errno));
	else
		printf("%s: DIR%s\n", what, strncmp(cwd, dir, n) == 0 ? cwd + n : cwd);
}

/* A directory the program made is its working directory: relative names, getcwd, "..", an absolute chdir back,
 * fchdir, closefrom and a child's exec keep it. */
static void cwd_calls(const char *dir)
{
	struct stat st;
	int lower, here;
	char *argv[] = { "ps-static", "cwd-child", (char *)dir, NULL }, link[4096] = "";

	if (chdir(dir) < 0)
		die(dir);
	say("mkdir made", mkdir("made", 0755));
	say("chdir made", chdir("made"));
	say_cwd(dir, "  cwd");
	say("mkdir deeper", mkdir("deeper", 0750));
	say("chdir deeper/", chdir("deeper/"));
	say_cwd(dir, "  cwd");
	say("create here", write(here = open("here", O_WRONLY | O_CREAT, 0644), "here\n", 5));
	close(here);
	say("fstatat of the working directory", fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH) < 0 ? -1 : (long)(st.st_mode & 07777));
	say("stat .", stat(".", &st) < 0 ? -1 : (long)(st.st_mode & 07777));
	closefrom(3); /* close_range(3, ~0U), and glibc's loop where that says ENOSYS */
	say("closefrom(3): descriptor 3 closed", fcntl(3, F_GETFD) < 0 && errno == EBADF);
	say_cwd(dir, "  cwd");
	say_sum("here");
	say_sum("/proc/self/cwd/here");
	say("readlink /proc/self/cwd names it", readlink("/proc/self/cwd", link, sizeof(link) - 1) ==
							 (ssize_t)strlen(dir) + 13 && !strncmp(link, dir, strlen(dir)));
	say("chdir / (out of the tree)", chdir("/"));
	say_cwd(dir, "  cwd");
	say("  stat proc (relative)", stat("proc", &st) < 0 ? -1 : S_ISDIR(st.st_mode));
	say("chdir back by its absolute name", chdir(dir) || chdir("made/deeper"));
	say_cwd(dir, "  cwd");
	say("chdir ../..", chdir("../.."));
	say_cwd(dir, "  cwd");
	say_sum("made/deeper/here");
	say("chdir a file (ENOTDIR)", chdir("partial"));
	say("chdir a name that is not there (ENOENT)", chdir("nothere"));
	lower = open("sub", O_RDONLY | O_DIRECTORY);
	say("chdir made/deeper", chdir("made/deeper"));
	here = open(".", O_RDONLY | O_DIRECTORY);
	say("fchdir to a lower directory", fchdir(lower));
	say_cwd(dir, "  cwd");
	say_sum("s");
	say("fchdir back", fchdir(here));
	say_cwd(dir, "  cwd");
	say_sum("here");
	say("chdir ..", chdir(".."));
	say_cwd(dir, "  cwd");
	close(lower);
	close(here);
	say("chdir to the tree by its absolute name, then made", chdir(dir) || chdir("made"));
	fflush(stdout);
	if (fork() == 0) {
		execv("/proc/self/exe", argv);
		die("exec");
	}
	wait(NULL);
	say("chdir to the tree by its absolute name", chdir(dir));
	say_cwd(dir, "  cwd");
	say_mode("made/deeper/here");
	say_mode("made/moved");
}

/* Run from the directory cwd_calls left: it is the child's working directory too. */
static void cwd_child(const char *dir)
{
	say_cwd(dir, "child: cwd");
	say_sum("deeper/here");
	say("child: rename deeper/here to moved", rename("deeper/here", "moved"));
	list(".", "child: ");
}

struct map_job {
	int fd;
	const char *want;
	int bad;
};

static void *map_some(void *arg)
{
	struct map_job *j = arg;
	char page[4096];

	for (int i = 0; i < 40; i++) {
		off_t off = (off_t)((i * 7 + j->bad * 0) % 24) * 4096;
		char *m = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, j->fd, off);

		if (m == MAP_FAILED || memcmp(m, j->want + off, 8192) != 0) {
			j->bad++;
			if (getenv("PS_STATIC_DEBUG"))
			{
				char mp[256], ln[512];
				FILE *mf = fopen("/proc/self/maps", "re");
				snprintf(mp, sizeof(mp), "%lx-", (unsigned long)m);
				fprintf(stderr, "map at %ld: %s\n", (long)off, m == MAP_FAILED ? strerror(errno) : "wrong bytes");
				while (mf && fgets(ln, sizeof(ln), mf))
					if (!strncmp(ln, mp, strlen(mp)))
						fprintf(stderr, "  %s", ln);
				if (mf)
					fclose(mf);
			}
		}
		if (pread(j->fd, page, sizeof(page), off) != (ssize_t)sizeof(page) || memcmp(page, j->want + off, 4096)) {
			j->bad++;
			if (getenv("PS_STATIC_DEBUG"))
				fprintf(stderr, "pread at %ld: wrong (first %02x%02x want %02x%02x, zero page %d)\n", (long)off, (unsigned char)page[0], (unsigned char)page[1], (unsigned char)j->want[off], (unsigned char)j->want[off + 1], !memcmp(page, (char[4096]){0}, 4096));
		}
		if (m != MAP_FAILED)
			munmap(m, 8192);
	}
	return NULL;
}

/* Four threads map ranges of one descriptor and read it at once: each map holds its own range's bytes. */
static void map_threads(int fd, const char *want)
{
	struct map_job jobs[4];
	pthread_t t[4];
	int bad = 0;

	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct map_job){ .fd = fd, .want = want };
		if (pthread_create(&t[i], NULL, map_some, &jobs[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		bad += jobs[i].bad;
	}
	say("four threads map and read one descriptor at once: wrong maps and reads", bad);
}

/* A read-only shared map of a partly shadowed file (want: its bytes) sees the writes made after it: this
 * process's, a child's, a truncation's. */
static void shared_map_calls(int fd, char *want, size_t size)
{
	char *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	pid_t child;
	int ok = m != MAP_FAILED;

	say("mmap shared, read-only", ok ? 0 : -1);
	say("  the merged bytes", ok && !memcmp(m, want, size));
	say("  a pwrite after it shows", pwrite(fd, "later", 5, 20000) == 5 && ok && !memcmp(m + 20000, "later", 5));
	say("  a write at the offset shows", lseek(fd, 30000, SEEK_SET) == 30000 && write(fd, "write", 5) == 5 && ok &&
						 !memcmp(m + 30000, "write", 5));
	fflush(stdout);
	if ((child = fork()) == 0)
		_exit(pwrite(fd, "child", 5, 40000) == 5 ? 0 : 1);
	waitpid(child, NULL, 0);
	say("  a child's pwrite shows", ok && !memcmp(m + 40000, "child", 5));
	say("  a truncation and growth show zeros", ftruncate(fd, 50000) == 0 && ftruncate(fd, (off_t)size) == 0 && ok &&
							m[70000] == 0 && m[49999] == want[49999]);
	if (ok)
		munmap(m, size);
}

/* Private maps of a partly shadowed file (partial, changed at 5000 before): the merged bytes, at any offset, in a
 * child forked before the next call on the descriptor; the descriptor's offset and bytes stay its own. */
static void map_calls(const char *dir)
{
	static char want[100000];
	int fd = -1, ok, gate[2];
	char *m, *w;
	pid_t child;
	char c4[4];

	if (chdir(dir) < 0 || (fd = open("partial", O_RDWR)) < 0)
		die(dir);
	say("read the merged bytes", pread(fd, want, sizeof(want), 0));
	say("lseek to 100", lseek(fd, 100, SEEK_SET));
	m = mmap(NULL, sizeof(want), PROT_READ, MAP_PRIVATE, fd, 0);
	say("mmap private, read-only", m == MAP_FAILED ? -1 : 0);
	say("  the map holds the merged bytes", m != MAP_FAILED && !memcmp(m, want, sizeof(want)));
	say("  read goes on from 100", read(fd, c4, 4) == 4 && !memcmp(c4, want + 100, 4));
	w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
	say("mmap private, writable, at 4096", w == MAP_FAILED ? -1 : 0);
	say("  its bytes", w != MAP_FAILED && !memcmp(w, want + 4096, 8192));
	if (w != MAP_FAILED)
		memcpy(w + 904, "mine", 4);
	say("  a store into it stays private", pread(fd, c4, 4, 5000) == 4 && !memcmp(c4, want + 5000, 4));
	say("mmap past the end", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 1 << 20) == MAP_FAILED ? -1 : 0);
	say("mmap at an offset not of a page (EINVAL)", mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED ? -1 : 0);
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
	fflush(stdout);
	if ((child = fork()) == 0) /* the child's first call on the descriptor */
		_exit(read(fd, c4, 4) == 4 && !memcmp(c4, want + 104, 4) ? 0 : 1);
	waitpid(child, &ok, 0);
	say("a child forked right after a map reads the file", WIFEXITED(ok) ? WEXITSTATUS(ok) : -1);
	say("  and the parent", read(fd, c4, 4) == 4 && !memcmp(c4, want + 108, 4));
	say("  the map", m != MAP_FAILED && !memcmp(m, want + 4096, 4096));
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 8192);
	fflush(stdout);
	if (pipe(gate) < 0)
		die("pipe");
	if ((child = fork()) == 0) { /* its first call on the descriptor after the parent's */
		if (read(gate[0], c4, 1) != 1)
			_exit(2);
		_exit(pread(fd, c4, 4, 9000) == 4 && !memcmp(c4, want + 9000, 4) ? 0 : 1);
	}
	say("  the parent's call after a map", read(fd, c4, 4) == 4 && !memcmp(c4, want + 112, 4));
	say("  then a child forked before it reads the file", write(gate[1], "x", 1) == 1 &&
							   waitpid(child, &ok, 0) == child && WIFEXITED(ok) ? WEXITSTATUS(ok) : -1);
	close(gate[0]);
	close(gate[1]);
	map_threads(fd, want);
	say("write after the maps", pwrite(fd, "late", 4, 6000));
	say_sum("partial");
	memcpy(want + 6000, "late", 4);
	shared_map_calls(fd, want, sizeof(want));
	say_sum("partial");
	close(fd);
}

static char fifo_got[16];

static void *fifo_reader(void *name)
{
	int fd = open(name, O_RDONLY); /* waits for the writer, in the supervisor too */

	if (fd >= 0 && read(fd, fifo_got, sizeof(fifo_got) - 1) < 0)
		strcpy(fifo_got, errname(errno));
	close(fd);
	return NULL;
}

/* One thread waits in an open of a FIFO the program made; another meanwhile reads a file, then opens the FIFO to
 * write, which lets the first go on: a call that waits in the supervisor holds up no other thread's calls. */
static void fifo_calls(const char *dir)
{
	char page[4096];
	pthread_t reader;
	int fd, w, ok = 1;

	if (chdir(dir) < 0)
		die(dir);
	say("mkfifo", mkfifo("pipe", 0600));
	fflush(stdout);
	if (pthread_create(&reader, NULL, fifo_reader, "pipe") != 0)
		die("pthread_create");
	usleep(200 * 1000);
	fd = open("partial", O_RDONLY);
	for (int i = 0; i < 200; i++)
		ok &= pread(fd, page, sizeof(page), (off_t)(i % 20) * 4096) == (ssize_t)sizeof(page);
	close(fd);
	say("reads while another thread waits in an open", ok);
	fflush(stdout);
	w = open("pipe", O_WRONLY);
	say("the writer's write", write(w, "through", 7));
	close(w);
	pthread_join(reader, NULL);
	printf("the reader got: %s\n", fifo_got);
	say("unlink", unlink("pipe"));
}

/* Can this program set up a ring or a Linux AIO context, and how many seccomp filters does it carry (each runs
 * on every call)? */
static void io_uring_calls(void)
{
	char params[120] = { 0 }, line[256]; /* struct io_uring_params */
	long fd = syscall(SYS_io_uring_setup, 4, params);
	FILE *status = fopen("/proc/self/status", "r");
	unsigned long ctx = 0;

	printf("io_uring_setup: %s\n", fd < 0 ? errname(errno) : "a ring");
	printf("io_setup: %s\n", syscall(SYS_io_setup, 4, &ctx) < 0 ? errname(errno) : "a context");
	while (status && fgets(line, sizeof(line), status))
		if (!strncmp(line, "Seccomp_filters:", 16))
			fputs(line, stdout);
	if (status)
		fclose(status);
}

/* Free Pascal's SaveToFile, ROUNDS times: a file opened read-only and locked is closed, then opened again to be
 * rewritten and locked - which must never find the first lock still held. Prints the rounds that did. */
static void relock(const char *path, int rounds)
{
	int failed = 0;

	for (int i = 0; i < rounds; i++) {
		int fd = open(path, O_RDONLY);

		if (fd >= 0) {
			flock(fd, LOCK_EX | LOCK_NB);
			close(fd);
		}
		if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
			die(path);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			printf("round %d: flock after the earlier descriptor was closed: %s\n", i, errname(errno));
			failed++;
		}
		if (write(fd, "data\n", 5) != 5)
			die(path);
		close(fd);
	}
	printf("relock: %d of %d rounds failed\n", failed, rounds);
}

/* A copy of a merged descriptor below the threshold first, then a shared map of it: the map is the kernel's own
 * and sees a write through the copy. */
static void dup_map(const char *path)
{
	int fd = open(path, O_RDWR);
	char *m;

	if (fd < 0)
		die(path);
	say("dup2 below the threshold", dup2(fd, 3));
	if ((m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		die("mmap");
	say("pwrite through it", pwrite(3, "NEW", 3, 0));
	printf("the map after it: %.3s\n", m);
	munmap(m, 4096);
}

/* A shared map of a partly shadowed file is made of a copy the supervisor keeps in step: a copy of its descriptor
 * below the threshold, whose writes the kernel would carry out alone, is refused. */
static void map_dup(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *m;

	if (fd < 0)
		die(path);
	if ((m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		die("mmap");
	say("dup2 below the threshold", dup2(fd, 3));
	munmap(m, 4096);
}

static void calls(const char *dir)
{
	if (chdir(dir) < 0)
		die(dir);
	opath_calls();
	copy_calls();
	number_calls();
	slash_calls();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc == 3 && !strcmp(argv[1], "work"))
		work(argv[2]);
	else if (argc == 4 && !strcmp(argv[1], "chain"))
		chain(argv[2], argv[3]);
	else if (argc == 3 && !strcmp(argv[1], "hammer"))
		hammer(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "calls"))
		calls(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "fifo"))
		fifo_calls(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "map"))
		map_calls(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "cwd"))
		cwd_calls(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "cwd-child"))
		cwd_child(argv[2]);
	else if (argc == 4 && !strcmp(argv[1], "relock"))
		relock(argv[2], atoi(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "dup-map"))
		dup_map(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "map-dup"))
		map_dup(argv[2]);
	else if (argc == 2 && !strcmp(argv[1], "io-uring"))
		io_uring_calls();
	else {
		fprintf(stderr, "usage: ps-static work DIR | chain FILE CMD | hammer FILE | calls DIR | cwd DIR | map DIR | fifo DIR"
				" | map-dup FILE | dup-map FILE | relock FILE ROUNDS | io-uring\n");
		return 2;
	}
	return 0;
}
