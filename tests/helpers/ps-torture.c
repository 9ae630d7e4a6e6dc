/* ps-torture.c - random writes that a test can kill at any instant, and the check of what the file holds after.
 *
 *   ps-torture write FILE LOG SEED COUNT [PROCS INDEX]
 *       COUNT (0: until killed) pwrites of 1..8192 bytes at random offsets into FILE. Before each write a line
 *       "w SEQ OFF LEN" goes to LOG (O_APPEND, outside the tree), after it returned "d SEQ N" (N bytes written).
 *       The bytes of write SEQ are a function of (SEQ, file offset), so the check can tell whose byte it reads.
 *       With PROCS and INDEX, the process writes only in the stripes of 12289 bytes whose number % PROCS == INDEX:
 *       processes never write the same byte, but neighbours share pages (and copy them up at the same instant).
 *   ps-torture verify [--settle] FILE ORIG LOG...
 *       Replays every LOG over ORIG (the lower bytes) and compares with FILE as read: each byte must be what the
 *       writes that returned made it; inside the one write per log that had not returned, each page must be all
 *       old or all new (the kernel's own pwrite tears at page boundaries at most). Prints "verified N writes" or
 *       the first difference, and exits 1 on one. --settle then makes the file as read the new ORIG and starts
 *       each LOG again from it, so that writing can go on from a known state (and the next check replays only
 *       what was written since).
 *   ps-torture cycles DIR COUNT
 *       COUNT cycles of what programs do all day to the files DIR/f0..f7 (each at least 64 KiB): open O_RDWR,
 *       pwrite 64 bytes, close; open O_RDONLY, pread, fstat, close; stat; every 64th cycle also create, write,
 *       rename and unlink a new file, list DIR and write through a shared map. Prints
 *       "rss KB_AT_10% KB_AT_END fds N_AT_10% N_AT_END" (memory and descriptors must stay flat), and exits 1 when
 *       the last bytes written into a file do not read back.
 *   ps-torture threads FILE THREADS WRITES [COPY]
 *       THREADS threads of one process each pwrite WRITES pieces of 1..8192 bytes into FILE at once: half at
 *       random offsets anywhere (overlapping the others'), half inside the thread's own slice of the file
 *       (disjoint). Then every byte is checked: one no write covered is still the original; one that writes
 *       covered is the byte of one of them, and of a thread's last write over it (a thread's writes are in
 *       order) - never the original brought back by another thread's copy-up. Prints "verified N writes", or
 *       the first wrong byte (exit 1). With COPY, the bytes it checked go there too (for a check by another
 *       process).
 *   ps-torture signals FILE COUNT
 *       First, for certain: a handler runs while its thread waits for a lock on FILE that a child holds (under
 *       the shim: inside the shim) and pwrites one byte; prints "handler during a lock wait: written" or
 *       "...: EIO". Then COUNT one-byte pwrites into the first half of FILE while a timer signal fires every
 *       20 us; its handler pwrites one byte into a page of its own in the second half (the handler's write may
 *       arrive while the main thread is inside the shim). Then every write that returned must read back, and
 *       every byte of the second half no handler write made must be the original. Prints "handler: N written,
 *       M refused (EIO), K other errors" and "verified", or the first wrong byte (exit 1).
 * SEQ numbers of one log are unique: a writer resumes after the highest SEQ in its log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define MAX_WRITE 8192
#define STRIPE 12289

static int settling; /* verify --settle */

static uint8_t byte_of(uint64_t seq, uint64_t off)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ull ^ off * 0xC2B2AE3D27D4EB4Full;

	x ^= x >> 29;
	return (uint8_t)(x * 0xBF58476D1CE4E5B9ull >> 56);
}

static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "ps-torture: %s %s: %s\n", what, path, strerror(errno));
	exit(2);
}

/* The highest SEQ in log (0: none). */
static uint64_t last_seq(const char *log)
{
	FILE *f = fopen(log, "r");
	uint64_t seq, last = 0;
	char kind;

	if (!f)
		return 0;
	while (fscanf(f, " %c %lu %*[^\n]", &kind, &seq) == 2)
		if (seq > last)
			last = seq;
	fclose(f);
	return last;
}

static void log_line(int fd, const char *line, const char *log)
{
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		die("write", log);
}

static int cmd_write(int argc, char **argv)
{
	const char *path = argv[0], *log = argv[1];
	uint64_t rnd = strtoull(argv[2], NULL, 0) * 2 + 1, count = strtoull(argv[3], NULL, 0);
	uint64_t procs = argc > 5 ? strtoull(argv[4], NULL, 0) : 1, index = argc > 5 ? strtoull(argv[5], NULL, 0) : 0;
	uint64_t seq = last_seq(log);
	int fd = open(path, O_RDWR), lfd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
	uint8_t buf[MAX_WRITE];
	char line[96];
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		die("open", path);
	if (lfd < 0)
		die("open", log);
	if ((uint64_t)st.st_size < (uint64_t)STRIPE * procs)
		return fprintf(stderr, "ps-torture: %s is too small\n", path), 2;
	for (uint64_t i = 0; count == 0 || i < count; i++) {
		uint64_t stripes = (uint64_t)st.st_size / STRIPE / procs, stripe = next_random(&rnd) % stripes * procs + index;
		uint64_t len = next_random(&rnd) % MAX_WRITE + 1, off = stripe * STRIPE + next_random(&rnd) % (STRIPE - len + 1);
		ssize_t n;

		seq++;
		for (uint64_t b = 0; b < len; b++)
			buf[b] = byte_of(seq, off + b);
		snprintf(line, sizeof(line), "w %lu %lu %lu\n", seq, off, len);
		log_line(lfd, line, log);
		if ((n = pwrite(fd, buf, len, (off_t)off)) < 0)
			die("pwrite", path);
		snprintf(line, sizeof(line), "d %lu %zd\n", seq, n);
		log_line(lfd, line, log);
	}
	return close(fd) != 0;
}

struct pending {
	uint64_t seq, off, len;
	int open;
};

/* Apply the writes of log that returned to model; the one that had not, into *p. Returns the writes applied. */
static uint64_t replay(const char *log, uint8_t *model, uint64_t size, struct pending *p)
{
	FILE *f = fopen(log, "r");
	uint64_t seq, a, b, applied = 0;
	struct pending w = { 0 };
	char kind;

	if (!f)
		die("open", log);
	memset(p, 0, sizeof(*p));
	while (fscanf(f, " %c %lu", &kind, &seq) == 2) {
		if (kind == 'x') /* a log started again by verify --settle */
			continue;
		if (fscanf(f, " %lu", &a) != 1)
			break;
		if (kind == 'w') {
			if (fscanf(f, " %lu", &b) != 1)
				break;
			w = (struct pending){ seq, a, b, 1 };
			continue;
		}
		if (!w.open || w.seq != seq || a > w.len || w.off + a > size) {
			fprintf(stderr, "ps-torture: %s: a done line without its write at seq %lu\n", log, seq);
			exit(2);
		}
		for (uint64_t i = 0; i < a; i++)
			model[w.off + i] = byte_of(seq, w.off + i);
		w.open = 0;
		applied++;
	}
	fclose(f);
	*p = w;
	return applied;
}

/* A page as read: bytes no write in flight covers must be the model's; those of each write in flight (one per log
 * at most, and logs never write the same byte) must be all old or all new within the page. */
static int page_matches(const uint8_t *got, const uint8_t *model, const struct pending *pend, int npend,
			uint64_t page_off, uint64_t n)
{
	for (int i = 0; i < npend; i++) {
		const struct pending *p = &pend[i];
		uint64_t lo = p->off > page_off ? p->off : page_off, hi = p->off + p->len;
		int old = 1, new = 1;

		if (!p->open)
			continue;
		hi = hi < page_off + n ? hi : page_off + n;
		for (uint64_t at = lo; at < hi; at++) {
			old &= got[at - page_off] == model[at];
			new &= got[at - page_off] == byte_of(p->seq, at);
		}
		if (!old && !new)
			return 0;
	}
	for (uint64_t at = page_off; at < page_off + n; at++) {
		int inside = 0;

		for (int i = 0; i < npend && !inside; i++)
			inside = pend[i].open && at >= pend[i].off && at < pend[i].off + pend[i].len;
		if (!inside && got[at - page_off] != model[at])
			return 0;
	}
	return 1;
}

/* After a check that passed: the file as it reads is the new baseline (ORIG), and each log starts again from it
 * (its last SEQ kept, so that the writer's SEQs stay unique), so that a long run of kills replays only the writes
 * since the last one. */
static void settle(const char *orig, int fd, uint64_t size, char **logs, int nlogs)
{
	uint8_t buf[1 << 16];
	char line[64];
	int ofd = open(orig, O_WRONLY), lfd;

	if (ofd < 0)
		die("open", orig);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		if (pread(fd, buf, n, (off_t)off) != (ssize_t)n || pwrite(ofd, buf, n, (off_t)off) != (ssize_t)n)
			die("copy to", orig);
	}
	close(ofd);
	for (int i = 0; i < nlogs; i++) {
		uint64_t seq = last_seq(logs[i]);

		if ((lfd = open(logs[i], O_WRONLY | O_TRUNC)) < 0)
			die("open", logs[i]);
		snprintf(line, sizeof(line), "x %lu\n", seq);
		log_line(lfd, line, logs[i]);
		close(lfd);
	}
}

static int cmd_verify(int argc, char **argv)
{
	const char *path = argv[0], *orig = argv[1];
	int fd = open(orig, O_RDONLY), ffd;
	uint8_t *model, page[PAGE];
	struct pending *pend;
	uint64_t size, total = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		die("open", orig);
	size = (uint64_t)st.st_size;
	if (!(model = malloc(size ? size : 1)) || !(pend = calloc((size_t)argc, sizeof(*pend))))
		return fprintf(stderr, "ps-torture: out of memory\n"), 2;
	if (pread(fd, model, size, 0) != (ssize_t)size)
		die("read", orig);
	close(fd);
	for (int i = 2; i < argc; i++)
		total += replay(argv[i], model, size, &pend[i]);
	if ((ffd = open(path, O_RDONLY)) < 0 || fstat(ffd, &st) < 0)
		die("open", path);
	if ((uint64_t)st.st_size != size)
		return printf("size %lld, expected %lu\n", (long long)st.st_size, size), 1;
	for (uint64_t off = 0; off < size; off += PAGE) {
		uint64_t n = size - off < PAGE ? size - off : PAGE;
		if (pread(ffd, page, n, (off_t)off) != (ssize_t)n)
			die("read", path);
		if (!page_matches(page, model, pend + 2, argc - 2, off, n))
			return printf("page at %lu differs from the writes that returned (and any one in flight)\n", off), 1;
	}
	if (settling)
		settle(orig, ffd, size, argv + 2, argc - 2);
	printf("verified %lu writes\n", total);
	return 0;
}

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (!f)
		die("open", "/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kb;
}

static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		die("open", "/proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#define CYCLE_FILES 8
#define CYCLE_BYTES 64

static void cycle_new_file(const char *dir, uint64_t i)
{
	char path[4096] = "", renamed[4096];
	struct dirent *e;
	int fd;
	DIR *d;

	snprintf(path, sizeof(path), "%s/new.%lu", dir, i % 4);
	snprintf(renamed, sizeof(renamed), "%s/renamed", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || write(fd, path, 100) != 100 || close(fd) < 0)
		die("create", path);
	if (rename(path, renamed) < 0 || unlink(renamed) < 0)
		die("rename and unlink", path);
	if (!(d = opendir(dir)))
		die("opendir", dir);
	while ((e = readdir(d)))
		;
	closedir(d);
}

static void cycle_map(const char *path, uint64_t i)
{
	int fd = open(path, O_RDWR);
	uint8_t *m;

	if (fd < 0)
		die("open", path);
	m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
	if (m == MAP_FAILED)
		die("mmap", path);
	m[i % PAGE] ^= 1;
	m[i % PAGE] ^= 1;
	munmap(m, PAGE);
	close(fd);
}

static int cmd_cycles(const char *dir, uint64_t count)
{
	uint64_t rnd = 12345, last_off[CYCLE_FILES] = { 0 };
	uint8_t buf[CYCLE_BYTES], last[CYCLE_FILES][CYCLE_BYTES] = { { 0 } };
	long rss_warm = 0;
	int fds_warm = 0, bad = 0;
	char path[4096];
	struct stat st;

	for (uint64_t i = 0; i < count; i++) {
		unsigned k = (unsigned)(i % CYCLE_FILES);
		int fd;

		snprintf(path, sizeof(path), "%s/f%u", dir, k);
		if ((fd = open(path, O_RDWR)) < 0 || fstat(fd, &st) < 0)
			die("open", path);
		last_off[k] = next_random(&rnd) % ((uint64_t)st.st_size - CYCLE_BYTES);
		for (unsigned b = 0; b < CYCLE_BYTES; b++)
			last[k][b] = byte_of(i, last_off[k] + b);
		if (pwrite(fd, last[k], CYCLE_BYTES, (off_t)last_off[k]) != CYCLE_BYTES || close(fd) < 0)
			die("pwrite", path);
		if ((fd = open(path, O_RDONLY)) < 0 || pread(fd, buf, CYCLE_BYTES, 0) != CYCLE_BYTES ||
		    fstat(fd, &st) < 0 || close(fd) < 0 || stat(path, &st) < 0)
			die("read", path);
		if (i % 64 == 0) {
			cycle_new_file(dir, i);
			cycle_map(path, i);
		}
		if (i == count / 10) {
			rss_warm = status_kb("VmRSS:");
			fds_warm = open_fd_count();
		}
	}
	for (unsigned k = 0; k < CYCLE_FILES && count >= CYCLE_FILES; k++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%u", dir, k);
		if ((fd = open(path, O_RDONLY)) < 0 || pread(fd, buf, CYCLE_BYTES, (off_t)last_off[k]) != CYCLE_BYTES)
			die("read", path);
		close(fd);
		if (memcmp(buf, last[k], CYCLE_BYTES) != 0) {
			fprintf(stderr, "ps-torture: %s: the last write does not read back\n", path);
			bad = 1;
		}
	}
	printf("rss %ld %ld fds %d %d\n", rss_warm, status_kb("VmRSS:"), fds_warm, open_fd_count());
	return bad;
}

#define MAX_THREADS 16

struct thread_writes {
	pthread_t t;
	int fd, index, nthreads;
	uint64_t size, count;
	uint64_t *off, *len; /* write i of this thread: seq = index * count + i + 1 */
};

static void *thread_write(void *arg)
{
	struct thread_writes *w = arg;
	uint64_t rnd = (uint64_t)w->index * 7919 + 17, slice = w->size / (uint64_t)w->nthreads;
	uint8_t buf[MAX_WRITE];

	for (uint64_t i = 0; i < w->count; i++) {
		uint64_t seq = (uint64_t)w->index * w->count + i + 1, len = next_random(&rnd) % MAX_WRITE + 1;
		uint64_t base = i % 2 ? (uint64_t)w->index * slice : 0, span = i % 2 ? slice : w->size;

		w->off[i] = base + next_random(&rnd) % (span - len + 1);
		w->len[i] = len;
		for (uint64_t b = 0; b < len; b++)
			buf[b] = byte_of(seq, w->off[i] + b);
		if (pwrite(w->fd, buf, len, (off_t)w->off[i]) != (ssize_t)len)
			die("pwrite", "threads");
	}
	return NULL;
}

/* Per byte and thread, the seq of the thread's last write over it (0: none). */
static uint32_t *last_writes(struct thread_writes *w, int nthreads, uint64_t size)
{
	uint32_t *last = calloc(size * (uint64_t)nthreads, sizeof(*last));

	if (!last)
		die("calloc", "model");
	for (int t = 0; t < nthreads; t++)
		for (uint64_t i = 0; i < w[t].count; i++)
			for (uint64_t b = w[t].off[i]; b < w[t].off[i] + w[t].len[i]; b++)
				last[b * (uint64_t)nthreads + (uint64_t)t] = (uint32_t)((uint64_t)t * w[t].count + i + 1);
	return last;
}

static int byte_is_possible(uint8_t got, uint8_t orig, const uint32_t *last, int nthreads, uint64_t off)
{
	int covered = 0;

	for (int t = 0; t < nthreads; t++) {
		if (!last[t])
			continue;
		covered = 1;
		if (got == byte_of(last[t], off))
			return 1;
	}
	return !covered && got == orig;
}

static int cmd_threads(const char *path, int nthreads, uint64_t count, const char *copy)
{
	struct thread_writes w[MAX_THREADS];
	int fd = open(path, O_RDWR);
	uint8_t *orig, *now;
	uint32_t *last;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		die("open", path);
	if (nthreads < 1 || nthreads > MAX_THREADS || (uint64_t)st.st_size < (uint64_t)nthreads * 2 * MAX_WRITE)
		return fprintf(stderr, "ps-torture: 1..%d threads, and a file of 16 KiB per thread\n", MAX_THREADS), 2;
	orig = malloc((size_t)st.st_size);
	now = malloc((size_t)st.st_size);
	if (!orig || !now || pread(fd, orig, (size_t)st.st_size, 0) != st.st_size)
		die("read", path);
	for (int t = 0; t < nthreads; t++) {
		w[t] = (struct thread_writes){ .fd = fd, .index = t, .nthreads = nthreads, .size = (uint64_t)st.st_size,
					       .count = count, .off = calloc(count, 8), .len = calloc(count, 8) };
		if (!w[t].off || !w[t].len || pthread_create(&w[t].t, NULL, thread_write, &w[t]) != 0)
			die("start thread", path);
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(w[t].t, NULL);
	if (pread(fd, now, (size_t)st.st_size, 0) != st.st_size)
		die("read", path);
	last = last_writes(w, nthreads, (uint64_t)st.st_size);
	for (uint64_t b = 0; b < (uint64_t)st.st_size; b++) {
		if (!byte_is_possible(now[b], orig[b], last + b * (uint64_t)nthreads, nthreads, b)) {
			printf("byte %lu (page %lu) is 0x%02x: no write that covered it made it\n", b, b / PAGE, now[b]);
			return 1;
		}
	}
	if (copy) {
		int cfd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (cfd < 0 || write(cfd, now, (size_t)st.st_size) != st.st_size || close(cfd) < 0)
			die("write", copy);
	}
	printf("verified %lu writes\n", (uint64_t)nthreads * count);
	return close(fd) != 0;
}

#define HANDLER_MAX 4096

static int signal_fd;
static uint64_t handler_base;
static volatile sig_atomic_t handler_n;
static int handler_result[HANDLER_MAX]; /* 1 written, or -errno */

static uint8_t handler_byte(int n)
{
	return (uint8_t)(n % 251 + 1);
}

static void on_timer(int sig)
{
	int saved = errno, n = handler_n;
	uint8_t b = handler_byte(n);

	(void)sig;
	if (n >= HANDLER_MAX)
		return;
	handler_result[n] = pwrite(signal_fd, &b, 1, (off_t)(handler_base + (uint64_t)n * PAGE + (uint64_t)n % 97)) == 1
				    ? 1 : -errno;
	handler_n = n + 1;
	errno = saved;
}

static int lock_wait_result, new_file_fd, new_file_result;
static uint64_t lock_wait_off;

static void on_lock_wait_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	lock_wait_result = pwrite(signal_fd, "L", 1, (off_t)lock_wait_off) == 1 ? 1 : -errno;
	new_file_result = write(new_file_fd, "N", 1) == 1 ? 1 : -errno;
	errno = saved;
}

static const char *outcome(int result)
{
	return result == 1 ? "written" : result == -EIO ? "EIO" : result == 0 ? "did not run" : strerror(-result);
}

/* The handler's write arrives while this thread is blocked in F_SETLKW on FILE (a child holds the lock): under
 * the shim the thread is inside it. Returns 1 when the write was made (orig gets it), else 0. */
static int lock_wait_phase(const char *path, uint8_t *orig)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	struct itimerval once = { { 0, 0 }, { 0, 100000 } };
	struct sigaction sa = { .sa_handler = on_lock_wait_alarm };
	char c, new_path[4096];
	int ready[2];
	pid_t child = -1;

	snprintf(new_path, sizeof(new_path), "%s.new", path); /* a file made in the shadow: no merge to run */
	if ((new_file_fd = open(new_path, O_RDWR | O_CREAT | O_TRUNC, 0644)) < 0)
		die("create", new_path);
	if (pipe(ready) < 0 || (child = fork()) < 0)
		die("fork", path);
	if (child == 0) {
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_SETLKW, &lk) < 0 || write(ready[1], "r", 1) != 1)
			_exit(2);
		usleep(400000);
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1)
		die("wait for the lock holder", path);
	lock_wait_off = PAGE + 17;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &once, NULL);
	while (fcntl(signal_fd, F_SETLKW, &lk) < 0)
		if (errno != EINTR)
			die("lock", path);
	lk.l_type = F_UNLCK;
	fcntl(signal_fd, F_SETLK, &lk);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	printf("handler during a lock wait: %s; into a new file: %s", outcome(lock_wait_result), outcome(new_file_result));
	if (new_file_result == 1 && (pread(new_file_fd, &c, 1, 0) != 1 || c != 'N'))
		printf(" but it does not read back");
	printf("\n");
	close(new_file_fd);
	unlink(new_path);
	if (lock_wait_result == 1)
		orig[lock_wait_off] = 'L';
	return lock_wait_result == 1;
}

static int cmd_signals(const char *path, uint64_t count)
{
	struct itimerval every = { { 0, 20 }, { 0, 20 } }, stop = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa = { .sa_handler = on_timer, .sa_flags = SA_RESTART };
	uint64_t rnd = 99, size;
	int written = 0, refused = 0, other = 0, bad = 0;
	uint8_t *orig, *now;
	struct stat st;

	signal_fd = open(path, O_RDWR);
	if (signal_fd < 0 || fstat(signal_fd, &st) < 0)
		die("open", path);
	size = (uint64_t)st.st_size;
	handler_base = size / 2 / PAGE * PAGE;
	if (size - handler_base < (uint64_t)HANDLER_MAX * PAGE)
		return fprintf(stderr, "ps-torture: %s: %d pages needed in the second half\n", path, HANDLER_MAX), 2;
	orig = malloc(size);
	now = malloc(size);
	if (!orig || !now || pread(signal_fd, orig, size, 0) != (ssize_t)size)
		die("read", path);
	if (pwrite(signal_fd, orig, 1, 0) != 1) /* the file has its shadow state before the lock wait */
		die("pwrite", path);
	lock_wait_phase(path, orig);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &every, NULL);
	for (uint64_t i = 0; i < count && handler_n < HANDLER_MAX; i++) {
		uint64_t off = next_random(&rnd) % handler_base;
		uint8_t b = (uint8_t)(i % 255 + 1);

		if (pwrite(signal_fd, &b, 1, (off_t)off) != 1)
			die("pwrite", path);
		orig[off] = b; /* the model of the first half */
	}
	setitimer(ITIMER_REAL, &stop, NULL);
	if (pread(signal_fd, now, size, 0) != (ssize_t)size)
		die("read", path);
	for (int n = 0; n < handler_n; n++) {
		uint64_t off = handler_base + (uint64_t)n * PAGE + (uint64_t)n % 97;

		if (handler_result[n] == 1) {
			written++;
			orig[off] = handler_byte(n);
		} else if (handler_result[n] == -EIO) {
			refused++;
		} else {
			other++;
		}
	}
	for (uint64_t b = 0; b < size && !bad; b++)
		if (now[b] != orig[b]) {
			printf("byte %lu is 0x%02x, not 0x%02x\n", b, now[b], orig[b]);
			bad = 1;
		}
	printf("handler: %d written, %d refused (EIO), %d other errors\n", written, refused, other);
	if (!bad && !other)
		printf("verified\n");
	return bad || other;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "signals") == 0)
		return cmd_signals(argv[2], strtoull(argv[3], NULL, 0));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "threads") == 0)
		return cmd_threads(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0), argc == 6 ? argv[5] : NULL);
	if (argc == 4 && strcmp(argv[1], "cycles") == 0)
		return cmd_cycles(argv[2], strtoull(argv[3], NULL, 0));
	if (argc >= 6 && strcmp(argv[1], "write") == 0)
		return cmd_write(argc - 2, argv + 2);
	if (argc >= 6 && strcmp(argv[1], "verify") == 0 && strcmp(argv[2], "--settle") == 0) {
		settling = 1;
		return cmd_verify(argc - 3, argv + 3);
	}
	if (argc >= 5 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 2, argv + 2);
	fprintf(stderr, "usage: ps-torture write FILE LOG SEED COUNT [PROCS INDEX] | verify [--settle] FILE ORIG LOG...\n"
			"       ps-torture cycles DIR COUNT | threads FILE THREADS WRITES [COPY]\n"
			"       ps-torture signals FILE COUNT\n");
	return 2;
}
