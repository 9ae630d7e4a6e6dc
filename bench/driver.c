/* driver.c - the benchmark's measuring hand: per-call timings, throughput, edits, spawns, resident size.
 *
 * bench/run runs this same binary with and without LD_PRELOAD (interleaved, A B A B) and compares what it prints.
 * Every timing is CLOCK_MONOTONIC: each call of a call loop (after a warm-up) and each read on its own, the whole
 * of an edit, each child of a spawn loop; one line of numbers on stdout.
 * Random offsets come from a fixed-seed generator, so the shim run and the native run make the same calls and
 * must print the same checksum (a cheap one: the first and last word of every buffer read).
 *
 *   bench-driver calls OP FILE ITERS [PAGES]   -> "TRIMMED_NS MEDIAN_NS MEAN_NS CHECKSUM": each call timed on
 *                                              its own; the mean of the fastest 99% (robust to preemption on a
 *                                              busy machine), the median and the plain mean, less the clock reads
 *        open     open(O_RDONLY) + fstat + close
 *        stat     stat
 *        pread4k  4 KiB pread at random page-aligned offsets
 *        read64k  64 KiB sequential read(), rewinding at the end of the file
 *        pwrite4k 4 KiB pwrite at random pages among the first PAGES pages (O_RDWR)
 *        ITERS/10 untimed calls first (BENCH_WARMUP=N: N of them)
 *   bench-driver seqread FILE BUFSIZE          -> "MIB_PER_S PLAIN_MIB_PER_S BYTES": read() until EOF, each read
 *                                              timed; BUFSIZE over the mean of the fastest 99% of reads, and
 *                                              the plain bytes over elapsed time
 *   bench-driver mark FILE STRIDE [LIMIT]      write one byte into every STRIDE-th page below page LIMIT
 *   bench-driver verify-marks FILE REF STRIDE [LIMIT]
 *                                              FILE == REF byte for byte except the marks, which must be there
 *   bench-driver edit FILE COUNT               -> "NS": open(O_RDWR) + COUNT one-byte pwrites + close
 *   bench-driver mapedit FILE COUNT            -> "NS": the same edits through a MAP_SHARED map of the whole file
 *                                              (mmap, the stores, msync, munmap)
 *   bench-driver verify-edit FILE REF COUNT [full]
 *                                              the edited bytes read back, the rest of their pages (or, with
 *                                              full, of the whole file) equal REF
 *   bench-driver spawn N PROG [ARG]...         -> "NATIVE_US SHIM_US NATIVE_CPU_US SHIM_CPU_US": posix_spawn +
 *                                              wait4, N times without LD_PRELOAD and N times with
 *                                              LD_PRELOAD=$BENCH_CHILD_PRELOAD, alternating A B B A; wall and
 *                                              the child's user+system CPU time, mean of the fastest 99% each
 *   bench-driver recache FILE...               drop each file's cached pages, then read it once
 *   bench-driver rss FILE CYCLES               -> "IDLE_KIB AFTER_KIB MAX_KIB WARM_KIB": VmRSS before and after
 *                                              CYCLES open(O_WRONLY)/4 KiB pwrite/close cycles on FILE
 * Exit status: 0, or 1 with one line on stderr (a failed call, a mismatch).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

extern char **environ;

static const char *prog = "bench-driver";

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	if (errno)
		fprintf(stderr, ": %s", strerror(errno));
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t word_at(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* The cheap checksum: first and last word of each buffer. */
static uint64_t sum_buf(const unsigned char *b, size_t n)
{
	if (n < 8)
		return n ? b[0] : 0;
	return word_at(b) * 31 + word_at(b + n - 8);
}

static off_t file_size(const char *path)
{
	struct stat st;

	errno = 0;
	if (stat(path, &st) < 0)
		die("stat %s", path);
	return st.st_size;
}

static long parse_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (*end || v < 0) {
		errno = 0;
		die("bad %s", what);
	}
	return v;
}

/* ---- calls ---- */

static unsigned char buf64k[65536] __attribute__((aligned(4096)));

enum op { OP_OPEN, OP_STAT, OP_PREAD4K, OP_READ64K, OP_PWRITE4K };
static const char *const op_names[] = { "open", "stat", "pread4k", "read64k", "pwrite4k" };

static uint64_t op_once(enum op op, const char *path, int fd, uint64_t npages, uint64_t i)
{
	struct stat st;
	ssize_t r;

	switch (op) {
	case OP_OPEN: {
		int f = open(path, O_RDONLY);

		if (f < 0 || fstat(f, &st) < 0)
			die("open/fstat %s", path);
		close(f);
		return (uint64_t)st.st_size;
	}
	case OP_STAT:
		if (stat(path, &st) < 0)
			die("stat %s", path);
		return (uint64_t)st.st_ino;
	case OP_PREAD4K:
		r = pread(fd, buf64k, PAGE, (off_t)((rng() % npages) * PAGE));
		if (r != (ssize_t)PAGE)
			die("pread %s", path);
		return sum_buf(buf64k, PAGE);
	case OP_READ64K:
		r = read(fd, buf64k, sizeof(buf64k));
		if (r == 0) {
			if (lseek(fd, 0, SEEK_SET) != 0)
				die("lseek %s", path);
			r = read(fd, buf64k, sizeof(buf64k));
		}
		if (r <= 0)
			die("read %s", path);
		return sum_buf(buf64k, (size_t)r);
	default: /* OP_PWRITE4K */
		buf64k[0] = (unsigned char)i;
		buf64k[PAGE - 1] = (unsigned char)(i >> 8);
		if (pwrite(fd, buf64k, PAGE, (off_t)((rng() % npages) * PAGE)) != (ssize_t)PAGE)
			die("pwrite %s", path);
		return i;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The mean of the fastest 99% (sorts v): on a busy machine the slowest calls are the ones the scheduler or the
 * hypervisor interrupted, and a few of those move a plain mean by tens of percent. Unlike the median, it still
 * counts the slower kinds of calls that make up a real share of the mix (a shadowed page among lower ones). */
static double trimmed_mean(uint64_t *v, size_t n)
{
	size_t keep = n - n / 100;
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < keep; i++)
		sum += (double)v[i];
	return sum / (double)keep;
}

/* What one clock read adds to a timed call: the smallest difference of two back-to-back reads. */
static double clock_overhead(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 10000; i++) {
		uint64_t a = now_ns(), b = now_ns();

		if (b - a < best)
			best = b - a;
	}
	return (double)best;
}

static int cmd_calls(int argc, char **argv)
{
	const char *path;
	enum op op = OP_OPEN;
	long iters, warmup;
	uint64_t npages, sum = 0, t0, t1, *lat;
	double clock_cost;
	int fd = -1;

	if (argc < 5)
		die("usage: calls OP FILE ITERS [PAGES]%s", "");
	while (strcmp(argv[2], op_names[op]) != 0)
		if (++op > OP_PWRITE4K)
			die("unknown op %s", argv[2]);
	path = argv[3];
	iters = parse_long(argv[4], "ITERS");
	npages = (uint64_t)file_size(path) / PAGE;
	if (argc > 5 && (uint64_t)parse_long(argv[5], "PAGES") < npages)
		npages = (uint64_t)parse_long(argv[5], "PAGES");
	if (npages == 0)
		die("%s: smaller than a page", path);
	if (op >= OP_PREAD4K) {
		fd = open(path, op == OP_PWRITE4K ? O_RDWR : O_RDONLY);
		if (fd < 0)
			die("open %s", path);
	}
	warmup = getenv("BENCH_WARMUP") ? parse_long(getenv("BENCH_WARMUP"), "BENCH_WARMUP") : iters / 10 + 1;
	for (long i = 0; i < warmup; i++) /* warm-up: caches, the shim's lazy state */
		op_once(op, path, fd, npages, (uint64_t)i);
	rng_state = 0x9e3779b97f4a7c15ull;
	if (fd >= 0 && lseek(fd, 0, SEEK_SET) != 0)
		die("lseek %s", path);
	lat = malloc(sizeof(*lat) * (size_t)iters);
	if (!lat)
		die("malloc%s", "");
	clock_cost = clock_overhead();
	t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		uint64_t t = now_ns();

		sum = sum * 3 + op_once(op, path, fd, npages, (uint64_t)i);
		lat[i] = now_ns() - t;
	}
	t1 = now_ns();
	if (fd >= 0)
		close(fd);
	printf("%.1f %.1f %.1f %016llx\n", trimmed_mean(lat, (size_t)iters) - clock_cost,
	       (double)lat[iters / 2] - clock_cost, (double)(t1 - t0) / (double)iters - 2 * clock_cost,
	       (unsigned long long)sum);
	free(lat);
	return 0;
}

/* ---- throughput ---- */

static int cmd_seqread(int argc, char **argv)
{
	size_t bs, nreads = 0, maxreads;
	unsigned char *b = NULL;
	uint64_t total = 0, t0, t1, *lat;
	struct stat st;
	ssize_t r;
	int fd;

	if (argc < 4)
		die("usage: seqread FILE BUFSIZE%s", "");
	bs = (size_t)parse_long(argv[3], "BUFSIZE");
	if (bs == 0 || posix_memalign((void **)&b, PAGE, bs) != 0)
		die("buffer%s", "");
	fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		die("open %s", argv[2]);
	if (fstat(fd, &st) < 0)
		die("fstat %s", argv[2]);
	maxreads = (size_t)st.st_size / bs + 2;
	lat = malloc(sizeof(*lat) * maxreads);
	if (!lat)
		die("malloc%s", "");
	t0 = now_ns();
	for (;;) {
		uint64_t t = now_ns();

		r = read(fd, b, bs);
		if (r <= 0)
			break;
		if (nreads < maxreads)
			lat[nreads++] = now_ns() - t;
		total += (uint64_t)r;
	}
	t1 = now_ns();
	if (r < 0)
		die("read %s", argv[2]);
	close(fd);
	printf("%.1f %.1f %llu\n", nreads ? (double)bs / 1048576.0 / (trimmed_mean(lat, nreads) / 1e9) : 0.0,
	       (double)total / 1048576.0 / ((double)(t1 - t0) / 1e9), (unsigned long long)total);
	free(lat);
	free(b);
	return 0;
}

/* ---- marks: one byte in every STRIDE-th page ---- */

static off_t mark_off(uint64_t pg, off_t size)
{
	off_t off = (off_t)(pg * PAGE + (pg * 131u) % PAGE);

	return off < size ? off : size - 1;
}

static unsigned char mark_val(uint64_t pg)
{
	return (unsigned char)(pg * 7u + 0xa3u);
}

static int cmd_mark(int argc, char **argv)
{
	uint64_t stride, limit, npages;
	off_t size;
	int fd;

	if (argc < 4)
		die("usage: mark FILE STRIDE [LIMIT]%s", "");
	stride = (uint64_t)parse_long(argv[3], "STRIDE");
	size = file_size(argv[2]);
	npages = ((uint64_t)size + PAGE - 1) / PAGE;
	limit = argc > 4 ? (uint64_t)parse_long(argv[4], "LIMIT") : npages;
	if (limit > npages)
		limit = npages;
	if (stride == 0)
		die("STRIDE 0%s", "");
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		die("open %s", argv[2]);
	for (uint64_t pg = 0; pg < limit; pg += stride) {
		unsigned char v = mark_val(pg);

		if (pwrite(fd, &v, 1, mark_off(pg, size)) != 1)
			die("pwrite %s", argv[2]);
	}
	if (close(fd) < 0)
		die("close %s", argv[2]);
	return 0;
}

static void read_full(int fd, unsigned char *b, size_t n, off_t off, const char *path)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);

		if (r <= 0) {
			if (r == 0)
				errno = 0;
			die("read %s", path);
		}
		got += (size_t)r;
	}
}

static int cmd_verify_marks(int argc, char **argv)
{
	enum { CHUNK = 1 << 20 };
	static unsigned char a[CHUNK], b[CHUNK];
	uint64_t stride, limit, npages, bad = 0;
	off_t size;
	int fa, fb;

	if (argc < 5)
		die("usage: verify-marks FILE REF STRIDE [LIMIT]%s", "");
	size = file_size(argv[2]);
	if (file_size(argv[3]) != size) {
		errno = 0;
		die("%s: size differs from the reference", argv[2]);
	}
	stride = (uint64_t)parse_long(argv[4], "STRIDE");
	npages = ((uint64_t)size + PAGE - 1) / PAGE;
	limit = argc > 5 ? (uint64_t)parse_long(argv[5], "LIMIT") : npages;
	fa = open(argv[2], O_RDONLY);
	fb = open(argv[3], O_RDONLY);
	if (fa < 0 || fb < 0)
		die("open %s", fa < 0 ? argv[2] : argv[3]);
	for (off_t off = 0; off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		read_full(fa, a, n, off, argv[2]);
		read_full(fb, b, n, off, argv[3]);
		for (uint64_t pg = (uint64_t)off / PAGE; pg < ((uint64_t)off + n + PAGE - 1) / PAGE; pg++) {
			if (stride && pg % stride == 0 && pg < limit) {
				off_t m = mark_off(pg, size) - off;

				if (a[m] != mark_val(pg))
					bad++;
				b[m] = a[m];
			}
		}
		if (memcmp(a, b, n) != 0) {
			for (size_t i = 0; i < n; i++)
				bad += a[i] != b[i];
		}
	}
	close(fa);
	close(fb);
	if (bad) {
		fprintf(stderr, "%s: %s: %llu bytes differ from the expected content\n", prog, argv[2],
			(unsigned long long)bad);
		return 1;
	}
	return 0;
}

/* ---- sparse edits ---- */

static off_t edit_off(uint64_t i, uint64_t count, off_t size)
{
	if (count == 1)
		return size / 2;
	return (off_t)(i * ((uint64_t)size / count) + (i * 2654435761u) % PAGE) % size;
}

static unsigned char edit_val(uint64_t i)
{
	return (unsigned char)(0x5a ^ (i * 37u));
}

/* open(O_RDWR), COUNT one-byte edits - with pwrite, or through a MAP_SHARED map of the whole file (map) - close.
 * Prints the nanoseconds it took. */
static int cmd_edit(int argc, char **argv)
{
	int through_map = !strcmp(argv[1], "mapedit");
	uint64_t count, t0, t1;
	unsigned char *map = NULL;
	off_t size;
	int fd;

	if (argc < 4)
		die("usage: edit|mapedit FILE COUNT%s", "");
	count = (uint64_t)parse_long(argv[3], "COUNT");
	size = file_size(argv[2]);
	t0 = now_ns();
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		die("open %s", argv[2]);
	if (through_map && (map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		die("mmap %s", argv[2]);
	for (uint64_t i = 0; i < count; i++) {
		unsigned char v = edit_val(i);

		if (map)
			map[edit_off(i, count, size)] = v;
		else if (pwrite(fd, &v, 1, edit_off(i, count, size)) != 1)
			die("pwrite %s", argv[2]);
	}
	if (map && (msync(map, (size_t)size, MS_SYNC) < 0 || munmap(map, (size_t)size) < 0))
		die("msync %s", argv[2]);
	if (close(fd) < 0)
		die("close %s", argv[2]);
	t1 = now_ns();
	printf("%llu\n", (unsigned long long)(t1 - t0));
	return 0;
}

static int cmd_verify_edit(int argc, char **argv)
{
	static unsigned char a[PAGE], b[PAGE];
	uint64_t count, bad = 0;
	off_t size;
	int fa, fb;

	if (argc < 5)
		die("usage: verify-edit FILE REF COUNT [full]%s", "");
	count = (uint64_t)parse_long(argv[4], "COUNT");
	size = file_size(argv[2]);
	if (file_size(argv[3]) != size) {
		errno = 0;
		die("%s: size differs from the reference", argv[2]);
	}
	fa = open(argv[2], O_RDONLY);
	fb = open(argv[3], O_RDONLY);
	if (fa < 0 || fb < 0)
		die("open %s", fa < 0 ? argv[2] : argv[3]);
	for (uint64_t i = 0; i < count; i++) {
		off_t off = edit_off(i, count, size), pg = off / PAGE * PAGE;
		size_t n = size - pg < (off_t)PAGE ? (size_t)(size - pg) : PAGE;

		read_full(fa, a, n, pg, argv[2]);
		read_full(fb, b, n, pg, argv[3]);
		if (a[off - pg] != edit_val(i))
			bad++;
		/* every other edit in this page (scattered edits may share a page) */
		for (uint64_t j = 0; j < count; j++) {
			off_t o = edit_off(j, count, size);

			if (o / PAGE * PAGE == pg)
				b[o - pg] = edit_val(j);
		}
		for (size_t k = 0; k < n; k++)
			bad += a[k] != b[k];
	}
	if (argc > 5 && strcmp(argv[5], "full") == 0) {
		enum { CHUNK = 1 << 20 };
		static unsigned char ca[CHUNK], cb[CHUNK];

		for (off_t off = 0; off < size; off += CHUNK) {
			size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

			read_full(fa, ca, n, off, argv[2]);
			read_full(fb, cb, n, off, argv[3]);
			for (uint64_t j = 0; j < count; j++) {
				off_t o = edit_off(j, count, size);

				if (o >= off && o < off + (off_t)n)
					cb[o - off] = edit_val(j);
			}
			if (memcmp(ca, cb, n) != 0)
				for (size_t k = 0; k < n; k++)
					bad += ca[k] != cb[k];
		}
	}
	close(fa);
	close(fb);
	if (bad) {
		fprintf(stderr, "%s: %s: %llu bytes differ from the expected edit\n", prog, argv[2],
			(unsigned long long)bad);
		return 1;
	}
	return 0;
}

/* ---- process start ---- */

static double tv_us(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

/* Spawn PROG once with env and wait: wall time and the child's CPU time, in µs. */
static void spawn_once(char **argv, char **env, posix_spawn_file_actions_t *fa, uint64_t *wall, uint64_t *cpu)
{
	struct rusage ru;
	uint64_t t = now_ns();
	pid_t pid;
	int st, rc;

	rc = posix_spawn(&pid, argv[0], fa, NULL, argv, env);
	if (rc != 0) {
		errno = rc;
		die("spawn %s", argv[0]);
	}
	if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errno = 0;
		die("%s did not exit 0", argv[0]);
	}
	*wall = (now_ns() - t) / 1000;
	*cpu = (uint64_t)(tv_us(&ru.ru_utime) + tv_us(&ru.ru_stime));
}

/* Native and preloaded children alternate A B B A, so that whatever else the machine does falls on both. */
static int cmd_spawn(int argc, char **argv)
{
	const char *pre = getenv("BENCH_CHILD_PRELOAD");
	posix_spawn_file_actions_t fa;
	size_t nenv = 0;
	char **env[2];
	char *pre_var = NULL;
	uint64_t *v[4], dummy;
	long n;

	if (argc < 4)
		die("usage: spawn N PROG [ARG]...%s", "");
	n = parse_long(argv[2], "N");
	if (!pre || !*pre || n == 0) {
		errno = 0;
		die("spawn: BENCH_CHILD_PRELOAD and N > 0 are needed%s", "");
	}
	for (char **e = environ; *e; e++)
		nenv++;
	env[0] = calloc(nenv + 1, sizeof(char *));
	env[1] = calloc(nenv + 2, sizeof(char *));
	for (int k = 0; k < 4; k++)
		v[k] = calloc((size_t)n, sizeof(uint64_t));
	if (!env[0] || !env[1] || !v[0] || !v[1] || !v[2] || !v[3] || asprintf(&pre_var, "LD_PRELOAD=%s", pre) < 0)
		die("calloc%s", "");
	nenv = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0) {
			env[0][nenv] = env[1][nenv] = *e;
			nenv++;
		}
	env[1][nenv] = pre_var;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	spawn_once(argv + 3, env[0], &fa, &dummy, &dummy); /* warm-up, both ways */
	spawn_once(argv + 3, env[1], &fa, &dummy, &dummy);
	for (long i = 0; i < 2 * n; i++) {
		int shim = (i % 4 == 1 || i % 4 == 2);

		spawn_once(argv + 3, env[shim], &fa, &v[shim][i / 2], &v[2 + shim][i / 2]);
	}
	printf("%.1f %.1f %.1f %.1f\n", trimmed_mean(v[0], (size_t)n), trimmed_mean(v[1], (size_t)n),
	       trimmed_mean(v[2], (size_t)n), trimmed_mean(v[3], (size_t)n));
	posix_spawn_file_actions_destroy(&fa);
	for (int k = 0; k < 4; k++)
		free(v[k]);
	free(env[0]);
	free(env[1]);
	free(pre_var);
	return 0;
}

/* ---- page cache: drop a file's pages and read it back, so that a file and its copy are cached alike ---- */

static int cmd_recache(int argc, char **argv)
{
	enum { CHUNK = 1 << 20 };
	static unsigned char b[CHUNK];

	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY);
		ssize_t r;

		if (fd < 0)
			die("open %s", argv[i]);
		fdatasync(fd); /* only clean pages can be dropped */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		while ((r = read(fd, b, CHUNK)) > 0)
			;
		if (r < 0)
			die("read %s", argv[i]);
		close(fd);
	}
	return 0;
}

/* ---- resident size ---- */

static long vm_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int cmd_rss(int argc, char **argv)
{
	long cycles, idle, warm = -1, max, now;

	if (argc < 4)
		die("usage: rss FILE CYCLES%s", "");
	cycles = parse_long(argv[3], "CYCLES");
	memset(buf64k, 0x42, PAGE);
	idle = max = vm_rss_kib();
	for (long i = 0; i < cycles; i++) {
		int fd = open(argv[2], O_WRONLY);

		if (fd < 0)
			die("open %s", argv[2]);
		if (pwrite(fd, buf64k, PAGE, (off_t)((i % 256) * PAGE)) != (ssize_t)PAGE)
			die("pwrite %s", argv[2]);
		if (close(fd) < 0)
			die("close %s", argv[2]);
		if ((i + 1) % (cycles / 10 > 0 ? cycles / 10 : 1) == 0) {
			now = vm_rss_kib();
			if (warm < 0)
				warm = now;
			if (now > max)
				max = now;
		}
	}
	now = vm_rss_kib();
	if (now > max)
		max = now;
	printf("%ld %ld %ld %ld\n", idle, now, max, warm < 0 ? now : warm);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	errno = 0;
	if (!strcmp(cmd, "calls"))
		return cmd_calls(argc, argv);
	if (!strcmp(cmd, "seqread"))
		return cmd_seqread(argc, argv);
	if (!strcmp(cmd, "mark"))
		return cmd_mark(argc, argv);
	if (!strcmp(cmd, "verify-marks"))
		return cmd_verify_marks(argc, argv);
	if (!strcmp(cmd, "edit") || !strcmp(cmd, "mapedit"))
		return cmd_edit(argc, argv);
	if (!strcmp(cmd, "verify-edit"))
		return cmd_verify_edit(argc, argv);
	if (!strcmp(cmd, "spawn"))
		return cmd_spawn(argc, argv);
	if (!strcmp(cmd, "recache"))
		return cmd_recache(argc, argv);
	if (!strcmp(cmd, "rss"))
		return cmd_rss(argc, argv);
	fprintf(stderr, "usage: %s calls|seqread|mark|verify-marks|edit|mapedit|verify-edit|spawn|recache|rss ...\n", prog);
	return 2;
}
