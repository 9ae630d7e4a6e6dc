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
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
	char m[64];

	if (!p)
		return;
	marker(m, "coherent", page);
	pwrite(fd, m, strlen(m), page * PAGE + 20);
	printf("coherent: the map shows the later pwrite: %s\n", memcmp(p + page * PAGE + 20, m, strlen(m)) == 0 ? "yes" : "no");
	munmap(p, (size_t)size);
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
