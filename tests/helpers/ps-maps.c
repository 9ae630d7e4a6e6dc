/* ps-maps - memory maps of one file, step by step, interleaved with pwrite, read and ftruncate.
 *
 * Usage: ps-maps FILE STEP...   Each step prints what it saw (checksums of map contents, bytes read back), so
 * that a run through the shim on a read-only tree and a plain run on a writable copy can be compared line by line
 * (tests/integration/70-maps.bats). The file is opened O_RDWR unless a step says otherwise.
 * Steps:
 *   private        MAP_PRIVATE of the whole file: its checksum; a write through it; the file unchanged (pread)
 *   shared-ro      MAP_SHARED PROT_READ of the whole file: its checksum
 *   shared-rw:P    MAP_SHARED read-write of the whole file; write a marker at page P through it; msync; munmap
 *   pwrite:P       write a marker at page P with pwrite
 *   grow:N         ftruncate to N bytes
 *   sum            checksum of the file read with pread
 *   sigbus         map one page past the end: touching it raises SIGBUS (as on a real file)
 *   rdonly-shared  open O_RDONLY and map MAP_SHARED read-write: EACCES
 *   coherent:P     MAP_SHARED PROT_READ; then pwrite a marker at page P; the map shows it
 *   layout         MAP_SHARED PROT_READ of the whole file: the mappings /proc/self/maps lists for it, each named
 *                  "lower" (the file's own name), "data" (a file in a shadow's data tree) or "anonymous"
 *   mix:SEED       keep four maps of the file open (shared read-only, shared read-write, private read-only,
 *                  private written) through 80 pseudo-random steps - pwrite, write, ftruncate, writes through
 *                  the maps, mremap, mprotect, msync - printing after each what every map and pread show (of the
 *                  private written map only the bytes the program wrote: what a real file's private map shows
 *                  of a page it never wrote is not specified)
 *   ro-first:P     (the only step) open O_RDONLY, map MAP_SHARED; then open O_RDWR and pwrite at page P: the map
 *                  shows it
 *   read-into:P    MAP_SHARED read-write; read() and readv() from a pipe straight into page P and P+1 of the map (the
 *                  kernel's own stores); msync; the bytes read back with pread
 *   own-segv       the program's own SIGSEGV handler, set before and after a shared writable map is stored into,
 *                  is still the one sigaction reports and the one a real fault reaches
 *   remove:P       MAP_SHARED read-write; madvise(MADV_REMOVE) of pages P and P+1: they read zeros, in the map and
 *                  with pread
 *   renamed:P      MAP_SHARED PROT_READ; the file renamed, opened by its new name and written at page P: the map
 *                  shows it; renamed back
 *   odd-lengths    MAP_SHARED PROT_READ of the whole file; mprotect, mremap and madvise with lengths that are not
 *                  whole pages, and an mremap to the same size without MREMAP_MAYMOVE: results as the kernel's
 *   race           MAP_SHARED PROT_READ; two threads pwrite their own pages (3000 writes each), each checking
 *                  through the map after every write that it shows it: how many did not
 *   threads:N      MAP_SHARED read-write; N threads with every signal blocked store at once, each into every
 *                  page (its own byte of each); the file read back with pread
 *   other:P        MAP_SHARED PROT_READ; another process (this program again) pwrites at page P; what the map
 *                  shows after this process's next call on the file (fstat), and after msync
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define PAGE 4096

static uint64_t fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static off_t size_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? -1 : st.st_size;
}

static void step_sum(int fd)
{
	off_t size = size_of(fd);
	unsigned char *buf = malloc((size_t)size + 1);
	ssize_t n = pread(fd, buf, (size_t)size, 0);

	printf("sum: size %lld read %zd fnv %016llx\n", (long long)size, n, (unsigned long long)fnv(buf, n > 0 ? (size_t)n : 0));
	free(buf);
}

static unsigned char *map_whole(int fd, int prot, int flags, off_t *size)
{
	unsigned char *p;

	*size = size_of(fd);
	p = mmap(NULL, (size_t)*size, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		printf("mmap: %s\n", errname(errno));
	return p == MAP_FAILED ? NULL : p;
}

static void marker(char *out, const char *what, long page)
{
	snprintf(out, 64, "<%s at page %ld>", what, page);
}

/* pwrite a marker for what at off through fd: "yes" when the map p shows it right after, else "no". */
static const char *pwrite_shows(int fd, const unsigned char *p, const char *what, long page, off_t off)
{
	char m[64];

	marker(m, what, page);
	pwrite(fd, m, strlen(m), off);
	return memcmp(p + off, m, strlen(m)) == 0 ? "yes" : "no";
}

static void step_private(int fd)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_PRIVATE, &size);

	if (!p)
		return;
	printf("private: fnv %016llx\n", (unsigned long long)fnv(p, (size_t)size));
	memset(p, 'P', size < 100 ? (size_t)size : 100); /* private: the file must not change */
	printf("private after write: fnv %016llx\n", (unsigned long long)fnv(p, (size_t)size));
	munmap(p, (size_t)size);
	step_sum(fd);
}

static void step_shared_ro(int fd)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);

	if (!p)
		return;
	printf("shared-ro: fnv %016llx\n", (unsigned long long)fnv(p, (size_t)size));
	munmap(p, (size_t)size);
}

static void step_shared_rw(int fd, long page)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_SHARED, &size);
	char m[64];

	if (!p)
		return;
	marker(m, "shared-rw", page);
	if ((off_t)(page * PAGE + (long)strlen(m)) <= size)
		memcpy(p + page * PAGE, m, strlen(m));
	printf("shared-rw: msync %d fnv %016llx\n", msync(p, (size_t)size, MS_SYNC), (unsigned long long)fnv(p, (size_t)size));
	munmap(p, (size_t)size);
	step_sum(fd);
}

static void step_pwrite(int fd, long page)
{
	char m[64];

	marker(m, "pwrite", page);
	printf("pwrite: %zd\n", pwrite(fd, m, strlen(m), page * PAGE + 10));
}

static void step_coherent(int fd, long page)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);

	if (!p)
		return;
	printf("coherent: the map shows the later pwrite: %s\n", pwrite_shows(fd, p, "coherent", page, page * PAGE + 20));
	munmap(p, (size_t)size);
}

/* ---- mix ---- */

struct mix {
	int fd;
	uint64_t rnd;
	size_t size;       /* the file's size, as this program changed it */
	unsigned char *ro, *rw, *pro, *pw; /* shared read-only, shared read-write, private read-only, private written */
	size_t ro_len, rw_len, pro_len, pw_len;
	size_t pw_written; /* bytes [0, pw_written) of pw are the program's own */
	int ro_writable;   /* ro was made writable by mprotect */
};

static uint64_t next_rnd(struct mix *m, uint64_t bound)
{
	m->rnd = m->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	return (m->rnd >> 33) % bound;
}

/* What a map shows of the file: the bytes below both its length and the file's size (touching past the end of
 * the file raises SIGBUS). */
static uint64_t map_sum(const unsigned char *p, size_t len, size_t size)
{
	return fnv(p, len < size ? len : size);
}

static void mix_report(struct mix *m, int step, const char *what)
{
	unsigned char *buf = malloc(m->size + 1);
	ssize_t n = pread(m->fd, buf, m->size, 0);

	printf("%2d %-28s size %6zu read %6zd file %016llx ro %016llx rw %016llx pro %016llx pw-own %016llx\n", step,
	       what, m->size, n, (unsigned long long)fnv(buf, n > 0 ? (size_t)n : 0),
	       (unsigned long long)map_sum(m->ro, m->ro_len, m->size),
	       (unsigned long long)map_sum(m->rw, m->rw_len, m->size),
	       (unsigned long long)map_sum(m->pro, m->pro_len, m->size),
	       (unsigned long long)map_sum(m->pw, m->pw_written, m->size));
	free(buf);
}

static unsigned char *mix_map(struct mix *m, size_t *len, int prot, int flags)
{
	unsigned char *p;

	*len = (m->size + PAGE - 1) / PAGE * PAGE;
	p = mmap(NULL, *len, prot, flags, m->fd, 0);
	if (p == MAP_FAILED) {
		printf("mix: mmap %s\n", errname(errno));
		exit(1);
	}
	return p;
}

static void mix_fill(struct mix *m, unsigned char *buf, size_t n)
{
	unsigned char c = (unsigned char)('a' + next_rnd(m, 26));

	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(c + i % 7);
}

/* One pseudo-random step; what describes it. */
static void mix_step(struct mix *m, char *what)
{
	unsigned char buf[3 * PAGE];
	size_t off, n = 1 + next_rnd(m, sizeof(buf)), lim;
	ssize_t r;

	switch (next_rnd(m, 9)) {
	case 0: case 1: /* pwrite, sometimes past the end */
		off = next_rnd(m, m->size + PAGE);
		mix_fill(m, buf, n);
		r = pwrite(m->fd, buf, n, (off_t)off);
		if (r > 0 && off + (size_t)r > m->size)
			m->size = off + (size_t)r;
		sprintf(what, "pwrite %zu@%zu %zd", n, off, r);
		break;
	case 2: /* write at a position */
		off = next_rnd(m, m->size + 1);
		mix_fill(m, buf, n);
		lseek(m->fd, (off_t)off, SEEK_SET);
		r = write(m->fd, buf, n);
		if (r > 0 && off + (size_t)r > m->size)
			m->size = off + (size_t)r;
		sprintf(what, "write %zu@%zu %zd", n, off, r);
		break;
	case 3: /* cut or grow, never below one page so that the maps keep something to show */
		off = PAGE + next_rnd(m, m->size + 2 * PAGE);
		sprintf(what, "ftruncate %zu %d", off, ftruncate(m->fd, (off_t)off));
		m->size = off;
		break;
	case 4: /* through the shared writable map */
		lim = m->rw_len < m->size ? m->rw_len : m->size;
		off = next_rnd(m, lim);
		n = n < lim - off ? n : lim - off;
		mix_fill(m, m->rw + off, n);
		sprintf(what, "rw map %zu@%zu", n, off);
		break;
	case 5: /* through the private map: the file must not change */
		lim = m->pw_len < m->size ? m->pw_len : m->size;
		n = n < lim ? n : lim;
		if (n > m->pw_written)
			m->pw_written = n;
		mix_fill(m, m->pw, n);
		sprintf(what, "private map %zu@0", n);
		break;
	case 6: { /* follow the file's size: mremap the read-only map */
		size_t len = (m->size + PAGE - 1) / PAGE * PAGE;
		void *p = mremap(m->ro, m->ro_len, len, MREMAP_MAYMOVE);

		if (p == MAP_FAILED) {
			sprintf(what, "mremap %zu %s", len, errname(errno));
			break;
		}
		m->ro = p;
		m->ro_len = len;
		sprintf(what, "mremap %zu", len);
		break;
	}
	case 7: /* the read-only map made writable, written through, and read-only again */
		r = mprotect(m->ro, m->ro_len, PROT_READ | PROT_WRITE);
		lim = m->ro_len < m->size ? m->ro_len : m->size;
		if (r == 0 && lim > 0) {
			off = next_rnd(m, lim);
			n = n < lim - off ? n : lim - off;
			mix_fill(m, m->ro + off, n);
		}
		sprintf(what, "mprotect rw %zd, write %zu", r, r == 0 ? n : 0);
		mprotect(m->ro, m->ro_len, PROT_READ);
		break;
	default:
		sprintf(what, "msync %d", msync(m->rw, m->rw_len, MS_SYNC));
		break;
	}
}

static void step_mix(int fd, long seed)
{
	struct mix m = { .fd = fd, .rnd = (uint64_t)seed };
	char what[128];

	m.size = (size_t)size_of(fd);
	m.ro = mix_map(&m, &m.ro_len, PROT_READ, MAP_SHARED);
	m.rw = mix_map(&m, &m.rw_len, PROT_READ | PROT_WRITE, MAP_SHARED);
	m.pro = mix_map(&m, &m.pro_len, PROT_READ, MAP_PRIVATE);
	m.pw = mix_map(&m, &m.pw_len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mix_report(&m, 0, "mapped");
	for (int i = 1; i <= 80; i++) {
		mix_step(&m, what);
		mix_report(&m, i, what);
	}
	munmap(m.ro, m.ro_len);
	munmap(m.rw, m.rw_len);
	munmap(m.pro, m.pro_len);
	munmap(m.pw, m.pw_len);
}

/* ---- another process ---- */

/* Run this program again, as another process, to pwrite a marker at page; wait for it. */
static void other_process_pwrite(const char *self, const char *path, long page)
{
	char arg[32];
	pid_t pid;

	snprintf(arg, sizeof(arg), "pwrite:%ld", page);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl(self, self, path, arg, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

/* A map made before another process pwrites at page: what it shows after this process's fstat (by_msync=0) or
 * msync of the map. */
static void other_then(int fd, const char *self, const char *path, long page, int by_msync)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);
	char m[64];
	struct stat st;

	if (!p)
		return;
	marker(m, "pwrite", page);
	other_process_pwrite(self, path, page);
	if (by_msync)
		msync(p, (size_t)size, MS_INVALIDATE);
	else
		fstat(fd, &st);
	printf("other: after %s the map shows the other process's pwrite: %s\n", by_msync ? "msync" : "fstat",
	       memcmp(p + page * PAGE + 10, m, strlen(m)) == 0 ? "yes" : "no");
	munmap(p, (size_t)size);
}

static void step_other(int fd, const char *self, const char *path, long page)
{
	other_then(fd, self, path, page, 0);
	other_then(fd, self, path, page + 1, 1);
}

/* A shared map made through a read-only descriptor of a file nothing wrote yet; then the file opened for
 * writing and written: the map shows it, as a real file's does. */
static void step_ro_first(const char *path, long page)
{
	int ro = open(path, O_RDONLY), fd;
	off_t size;
	unsigned char *p = ro < 0 ? NULL : map_whole(ro, PROT_READ, MAP_SHARED, &size);

	if (!p || (fd = open(path, O_RDWR)) < 0) {
		printf("ro-first: %s\n", errname(errno));
		return;
	}
	printf("ro-first: the map shows the later pwrite: %s\n", pwrite_shows(fd, p, "ro-first", page, page * PAGE + 30));
	close(fd);
	close(ro);
	munmap(p, (size_t)size);
}

static void step_read_into(int fd, long page)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_SHARED, &size);
	char m[64], back[64] = "";
	int pipefd[2];
	ssize_t r, rv;
	struct iovec iov;

	if (!p || pipe(pipefd) < 0)
		return;
	marker(m, "read-into", page);
	write(pipefd[1], m, strlen(m));
	r = read(pipefd[0], p + page * PAGE + 5, strlen(m));
	write(pipefd[1], m, strlen(m));
	iov.iov_base = p + (page + 1) * PAGE + 7;
	iov.iov_len = strlen(m);
	rv = readv(pipefd[0], &iov, 1);
	msync(p, (size_t)size, MS_SYNC);
	pread(fd, back, strlen(m), page * PAGE + 5);
	printf("read-into: read %zd readv %zd, pread back: %s\n", r, rv, back);
	pread(fd, back, strlen(m), (page + 1) * PAGE + 7);
	printf("read-into: second page: %s\n", back);
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(p, (size_t)size);
}

static sigjmp_buf segv_jump;
static volatile int segv_calls;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	segv_calls++;
	siglongjmp(segv_jump, sig);
}

/* A real fault (a store into a read-only anonymous page) reaches the program's handler? */
static const char *real_fault_reaches_handler(void)
{
	volatile char *ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int before = segv_calls;

	if (sigsetjmp(segv_jump, 1) == 0)
		ro[0] = 1;
	munmap((void *)ro, PAGE);
	return segv_calls == before + 1 ? "yes" : "no";
}

static void step_own_segv(int fd)
{
	struct sigaction act = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO }, got;
	off_t size;
	unsigned char *p;

	sigemptyset(&act.sa_mask);
	sigaction(SIGSEGV, &act, NULL);
	p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_SHARED, &size);
	if (!p)
		return;
	p[PAGE + 1] = 'S'; /* a store the shim takes care of: the program's handler is not called */
	sigaction(SIGSEGV, NULL, &got);
	printf("own-segv: store ok, handler calls %d, sigaction reports the program's: %s\n", segv_calls,
	       got.sa_sigaction == on_segv ? "yes" : "no");
	printf("own-segv: a real fault reaches the program's handler: %s\n", real_fault_reaches_handler());
	act.sa_flags |= SA_RESTART; /* set again, after the map */
	sigaction(SIGSEGV, &act, NULL);
	p[3 * PAGE + 1] = 'T';
	printf("own-segv: second store ok, handler calls %d; a real fault again: %s\n", segv_calls,
	       real_fault_reaches_handler());
	signal(SIGSEGV, SIG_DFL);
	munmap(p, (size_t)size);
}

static void step_remove(int fd, long page)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_SHARED, &size);
	int r;

	if (!p)
		return;
	r = madvise(p + page * PAGE, 2 * PAGE, MADV_REMOVE);
	printf("remove: madvise %s, map fnv %016llx\n", r == 0 ? "0" : errname(errno),
	       (unsigned long long)fnv(p, (size_t)size));
	munmap(p, (size_t)size);
	step_sum(fd);
}

static void step_renamed(int fd, const char *path, long page)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);
	char moved[4096];
	int fd2;

	if (!p)
		return;
	snprintf(moved, sizeof(moved), "%s.moved", path);
	if (rename(path, moved) < 0 || (fd2 = open(moved, O_RDWR)) < 0) {
		printf("renamed: %s\n", errname(errno));
		return;
	}
	printf("renamed: the map shows a pwrite through the new name: %s\n",
	       pwrite_shows(fd2, p, "renamed", page, page * PAGE + 40));
	close(fd2);
	rename(moved, path);
	munmap(p, (size_t)size);
}

static void step_odd_lengths(int fd)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);
	size_t len = (size_t)(size + PAGE - 1) / PAGE * PAGE;
	void *q;

	if (!p || len < 6 * PAGE)
		return;
	printf("odd-lengths: mprotect of 100 bytes: %d\n", mprotect(p + PAGE, 100, PROT_READ | PROT_WRITE));
	p[PAGE + 200] = 'W'; /* the whole page became writable, as the kernel does */
	printf("odd-lengths: the map shows a later pwrite there: %s\n", pwrite_shows(fd, p, "odd", 1, PAGE + 300));
	q = mremap(p, len, len, 0);
	printf("odd-lengths: mremap to the same size stays: %s\n", q == p ? "yes" : q == MAP_FAILED ? errname(errno) : "moved");
	q = mremap(p, len, 5 * PAGE + 100, 0);
	printf("odd-lengths: mremap to 5 pages and 100 bytes: %s\n", q == p ? "in place" : q == MAP_FAILED ? errname(errno) : "moved");
	printf("odd-lengths: madvise(MADV_REMOVE) of 100 bytes of a read-only map: %s\n",
	       madvise(p, 100, MADV_REMOVE) == 0 ? "0" : errname(errno));
	munmap(p, 6 * PAGE);
	step_sum(fd);
}

struct racer {
	pthread_t t;
	int fd, id, stale;
	const volatile unsigned char *p;
	size_t pages;
};

static void *race_writes(void *arg)
{
	struct racer *r = arg;

	for (size_t k = 0; k < 3000; k++) {
		size_t page = (k * 2654435761u % (r->pages / 2)) * 2 + (size_t)r->id; /* pages of its own */
		unsigned char v = (unsigned char)(k % 250 + 1);

		pwrite(r->fd, &v, 1, (off_t)(page * PAGE + 17));
		r->stale += r->p[page * PAGE + 17] != v;
	}
	return NULL;
}

static void step_race(int fd)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);
	struct racer r[2];

	if (!p)
		return;
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){ .fd = fd, .id = i, .p = p, .pages = (size_t)size / PAGE };
		pthread_create(&r[i].t, NULL, race_writes, &r[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(r[i].t, NULL);
	printf("race: writes the map did not show at once: %d\n", r[0].stale + r[1].stale);
	munmap(p, (size_t)size);
}

struct storer {
	pthread_t t;
	unsigned char *p;
	size_t size;
	int id;
};

static void *store_all(void *arg)
{
	struct storer *st = arg;
	sigset_t all;

	sigfillset(&all); /* as many programs' worker threads: every signal blocked */
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (size_t off = (size_t)st->id * 8; off < st->size; off += PAGE)
		st->p[off] = (unsigned char)('A' + st->id);
	return NULL;
}

static void step_threads(int fd, long n)
{
	struct storer st[64];
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ | PROT_WRITE, MAP_SHARED, &size);

	if (!p || n < 1 || n > 64)
		return;
	for (long i = 0; i < n; i++) {
		st[i] = (struct storer){ .p = p, .size = (size_t)size, .id = (int)i };
		pthread_create(&st[i].t, NULL, store_all, &st[i]);
	}
	for (long i = 0; i < n; i++)
		pthread_join(st[i].t, NULL);
	printf("threads: %ld stored, msync %d\n", n, msync(p, (size_t)size, MS_SYNC));
	munmap(p, (size_t)size);
	step_sum(fd);
}

static sigjmp_buf bus_jump;

static void on_bus(int sig)
{
	siglongjmp(bus_jump, sig);
}

static void step_sigbus(int fd)
{
	off_t size = size_of(fd);
	off_t end_page = (size + PAGE - 1) / PAGE * PAGE;
	volatile unsigned char *p = mmap(NULL, (size_t)end_page + PAGE, PROT_READ, MAP_SHARED, fd, 0);
	volatile int got = 0;

	if (p == MAP_FAILED) {
		printf("sigbus: mmap %s\n", errname(errno));
		return;
	}
	signal(SIGBUS, on_bus);
	if (sigsetjmp(bus_jump, 1) == 0)
		got = p[end_page];
	else
		got = -1;
	signal(SIGBUS, SIG_DFL);
	printf("sigbus: past the end %s\n", got == -1 ? "raised SIGBUS" : "read a byte");
	munmap((void *)p, (size_t)end_page + PAGE);
}

static void step_rdonly_shared(const char *path)
{
	int fd = open(path, O_RDONLY);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	printf("rdonly-shared: %s\n", p == MAP_FAILED ? errname(errno) : "mapped");
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	if (fd >= 0)
		close(fd);
}

static void step_layout(int fd, const char *path)
{
	off_t size;
	unsigned char *p = map_whole(fd, PROT_READ, MAP_SHARED, &size);
	char line[4096], names[1024] = "";
	unsigned long lo, hi;
	int n = 0;
	FILE *maps;

	if (!p || !(maps = fopen("/proc/self/maps", "r")))
		return;
	while (fgets(line, sizeof(line), maps)) {
		char *name = strchr(line, '/');

		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || hi <= (unsigned long)p || lo >= (unsigned long)(p + size))
			continue;
		if (name)
			name[strcspn(name, "\n")] = '\0';
		n++;
		strcat(names, !name ? " anonymous" : strcmp(name, path) == 0 ? " lower" : strstr(name, "/data/") ? " data" : " other");
	}
	fclose(maps);
	printf("layout: %d mappings:%s\n", n, names);
	munmap(p, (size_t)size);
}

int main(int argc, char **argv)
{
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: ps-maps FILE STEP...\n");
		return 2;
	}
	if (strncmp(argv[2], "ro-first:", 9) == 0) { /* before the file is opened for writing */
		step_ro_first(argv[1], strtol(argv[2] + 9, NULL, 0));
		return 0;
	}
	if ((fd = open(argv[1], O_RDWR)) < 0) {
		printf("open: %s\n", errname(errno));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i], *colon = strchr(s, ':');
		long arg = colon ? strtol(colon + 1, NULL, 0) : 0;
		size_t name_len = colon ? (size_t)(colon - s) : strlen(s);

#define IS(name) (name_len == strlen(name) && strncmp(s, name, name_len) == 0)
		if (IS("private"))
			step_private(fd);
		else if (IS("shared-ro"))
			step_shared_ro(fd);
		else if (IS("shared-rw"))
			step_shared_rw(fd, arg);
		else if (IS("pwrite"))
			step_pwrite(fd, arg);
		else if (IS("grow"))
			printf("ftruncate %ld: %d\n", arg, ftruncate(fd, arg));
		else if (IS("sum"))
			step_sum(fd);
		else if (IS("sigbus"))
			step_sigbus(fd);
		else if (IS("rdonly-shared"))
			step_rdonly_shared(argv[1]);
		else if (IS("coherent"))
			step_coherent(fd, arg);
		else if (IS("layout"))
			step_layout(fd, argv[1]);
		else if (IS("mix"))
			step_mix(fd, arg);
		else if (IS("read-into"))
			step_read_into(fd, arg);
		else if (IS("own-segv"))
			step_own_segv(fd);
		else if (IS("remove"))
			step_remove(fd, arg);
		else if (IS("renamed"))
			step_renamed(fd, argv[1], arg);
		else if (IS("odd-lengths"))
			step_odd_lengths(fd);
		else if (IS("race"))
			step_race(fd);
		else if (IS("threads"))
			step_threads(fd, arg);
		else if (IS("other"))
			step_other(fd, argv[0], argv[1], arg);
		else {
			fprintf(stderr, "ps-maps: unknown step %s\n", s);
			return 2;
		}
#undef IS
		fflush(stdout);
	}
	close(fd);
	return 0;
}
