/* patch.c - glibc's calls to itself reach the shim: the entries of libc's fstatat and getdents64 jump to the
 * shim's.
 *
 * Entry point: ps_patch_libc (start-up).
 * glibc calls its own functions through hidden aliases, never through the PLT, so nftw, ftw, glob, fts, opendir,
 * fdopendir and realpath stat files where no wrapper sees it, and find a file that exists only in the shadow
 * missing, or a shadowed file at its lower size. In glibc 2.33 and later every stat function (stat, lstat, fstat,
 * fstatat and their 64-bit names) is a tail call into one function, fstatat64, which is one system call. Its
 * first bytes are replaced by an absolute jump to the shim's fstatat64, so every stat glibc makes - for itself
 * or for the program - lands in the same wrapper. readdir reads directories the same way, through getdents64:
 * patched likewise, a merged directory lists the shadow's names too (dir.c).
 * The shim then never calls glibc's stat functions itself: their table entries (REAL) are bound to the system
 * call directly. The patch is made once, before any thread the program starts, and only where the function is
 * what we expect: in libc, long enough, beginning with the instructions of a system call wrapper. Anything else
 * (another libc, another architecture, a text segment that cannot be made writable) leaves libc as it is, says so
 * in the debug log, and only the glibc-internal stats stay unseen.
 */
#include "shim.h"
#include "log.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int raw_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return (int)REAL(syscall)(SYS_newfstatat, dirfd, path, st, flags);
}

static int raw_fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return raw_fstatat(dirfd, path, (struct stat *)st, flags);
}

static int raw_stat(const char *path, struct stat *st)
{
	return raw_fstatat(AT_FDCWD, path, st, 0);
}

static int raw_stat64(const char *path, struct stat64 *st)
{
	return raw_fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}

static int raw_lstat(const char *path, struct stat *st)
{
	return raw_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

static int raw_lstat64(const char *path, struct stat64 *st)
{
	return raw_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}

static int raw_fstat(int fd, struct stat *st)
{
	return raw_fstatat(fd, "", st, AT_EMPTY_PATH);
}

static int raw_fstat64(int fd, struct stat64 *st)
{
	return raw_fstatat(fd, "", (struct stat *)st, AT_EMPTY_PATH);
}

static void bind_stat_to_syscall(void)
{
	__atomic_store_n(&real.fstatat, raw_fstatat, __ATOMIC_RELEASE);
	__atomic_store_n(&real.fstatat64, raw_fstatat64, __ATOMIC_RELEASE);
	__atomic_store_n(&real.stat, raw_stat, __ATOMIC_RELEASE);
	__atomic_store_n(&real.stat64, raw_stat64, __ATOMIC_RELEASE);
	__atomic_store_n(&real.lstat, raw_lstat, __ATOMIC_RELEASE);
	__atomic_store_n(&real.lstat64, raw_lstat64, __ATOMIC_RELEASE);
	__atomic_store_n(&real.fstat, raw_fstat, __ATOMIC_RELEASE);
	__atomic_store_n(&real.fstat64, raw_fstat64, __ATOMIC_RELEASE);
	__atomic_store_n(&real.__fstat64, raw_fstat64, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)

/* movabs $target, %r11; jmp *%r11 (r11 is clobbered by every syscall: no caller keeps anything in it) */
#define JUMP_SIZE 13

static void encode_jump(unsigned char *code, const void *target)
{
	uint64_t a = (uint64_t)(uintptr_t)target;

	code[0] = 0x49;
	code[1] = 0xbb;
	memcpy(code + 2, &a, sizeof(a));
	code[10] = 0x41;
	code[11] = 0xff;
	code[12] = 0xe3;
}

struct patch {
	const char *name;          /* libc's function */
	const unsigned char *code; /* its first instructions, as expected */
	size_t len;
	const void *target;        /* the shim's function it jumps to */
};

/* Each expected prologue is at least JUMP_SIZE bytes: the jump written over it replaces the function's own
 * instructions and nothing after them. */

/* glibc 2.33+'s fstatat64: mov %ecx,%r10d; mov $SYS_newfstatat,%eax; syscall; cmp $-4096,%eax. */
static const unsigned char fstatat_code[] = { 0x41, 0x89, 0xca, 0xb8, SYS_newfstatat & 0xff, SYS_newfstatat >> 8,
					      0x00, 0x00, 0x0f, 0x05, 0x3d, 0x00, 0xf0, 0xff, 0xff };
/* glibc 2.30+'s getdents64 (readdir's): mov $INT_MAX,%eax; cmp %rax,%rdx; cmova %rax,%rdx;
 * mov $SYS_getdents64,%eax; syscall. */
static const unsigned char getdents64_code[] = { 0xb8, 0xff, 0xff, 0xff, 0x7f, 0x48, 0x39, 0xc2, 0x48, 0x0f,
						 0x47, 0xd0, 0xb8, SYS_getdents64 & 0xff, SYS_getdents64 >> 8,
						 0x00, 0x00, 0x0f, 0x05 };

/* glibc 2.34+'s __open64_nocancel (opendir's): sub $0x58,%rsp; mov %esi,%r10d; mov %rdx,0x30(%rsp);
 * mov %fs:... - the prologue of the variadic function, whose system call comes later. */
static const unsigned char open_nocancel_code[] = { 0x48, 0x83, 0xec, 0x58, 0x41, 0x89, 0xf2, 0x48, 0x89, 0x54,
						    0x24, 0x30, 0x64 };
/* glibc's __close_nocancel (closedir's): mov $SYS_close,%eax; syscall; cmp $-4096,%rax. */
static const unsigned char close_nocancel_code[] = { 0xb8, SYS_close, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x3d,
						     0x00, 0xf0, 0xff, 0xff };

struct owner_search {
	uintptr_t addr;
	int in_libc;
};

static int find_owner(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct owner_search *q = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && q->addr >= start && q->addr < start + ph->p_memsz) {
			q->in_libc = info->dlpi_name && strstr(info->dlpi_name, "/libc.so") != NULL;
			return 1;
		}
	}
	return 0;
}

/* libc's function, if it is exactly what p expects; why not in *why. (dl_iterate_phdr, not dladdr: dladdr scans
 * libc's whole symbol table, some 40 us per call, at every process start.) */
static unsigned char *expected(const struct patch *p, const char **why)
{
	unsigned char *code = dlsym(RTLD_NEXT, p->name);
	struct owner_search q = { .addr = (uintptr_t)code };

	*why = NULL;
	if (!code || !dl_iterate_phdr(find_owner, &q))
		*why = "not found";
	else if (!q.in_libc)
		*why = "not libc's";
	else if (p->len < JUMP_SIZE || memcmp(code, p->code, p->len) != 0)
		*why = "not the system call wrapper expected";
	return *why ? NULL : code;
}

/* Write the jumps of todo[0..n) (checked by expected()): one mprotect pair over the pages from the first to the
 * last - they are all in libc's text - rather than a pair per function. */
static const char *apply_all(unsigned char *const code[], const struct patch *const todo[], size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start = UINTPTR_MAX, end = 0;

	for (size_t k = 0; k < n; k++) {
		uintptr_t s = (uintptr_t)code[k] & ~(page - 1), e = ((uintptr_t)code[k] + JUMP_SIZE + page - 1) & ~(page - 1);

		start = s < start ? s : start;
		end = e > end ? e : end;
	}
	if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
		return "libc's text cannot be made writable";
	for (size_t k = 0; k < n; k++)
		encode_jump(code[k], todo[k]->target);
	if (mprotect((void *)start, end - start, PROT_READ | PROT_EXEC) < 0)
		ps_error("libc's text stays writable after patching: %s", strerror(errno));
	for (size_t k = 0; k < n; k++)
		__builtin___clear_cache((char *)code[k], (char *)code[k] + JUMP_SIZE);
	return NULL;
}

static const struct patch patches[] = {
	{ "fstatat64", fstatat_code, sizeof(fstatat_code), (const void *)fstatat64 },
	{ "getdents64", getdents64_code, sizeof(getdents64_code), (const void *)getdents64 },
	{ "__open64_nocancel", open_nocancel_code, sizeof(open_nocancel_code), (const void *)ps_open_nocancel },
	{ "__close_nocancel", close_nocancel_code, sizeof(close_nocancel_code), (const void *)ps_close_nocancel },
};

/* Add the named patches to todo/code when every one of them is as expected (a group is patched whole or not at
 * all). NULL, or why not. */
static const char *check_group(const char *const names[], size_t n, const struct patch *todo[], unsigned char *code[],
			       size_t *ntodo)
{
	size_t first = *ntodo;
	const char *why;

	for (size_t k = 0; k < n; k++) {
		const struct patch *p = NULL;

		for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++)
			if (strcmp(patches[i].name, names[k]) == 0)
				p = &patches[i];
		if (!p)
			why = "no such patch";
		else if ((code[first + k] = expected(p, &why)))
			todo[first + k] = p;
		if (!p || !code[first + k])
			return why;
	}
	*ntodo = first + n;
	return NULL;
}

#define CAN_PATCH 1

#else

#define CAN_PATCH 0

#endif

/* libc's readdir reads with getdents64: the shim's own reads go to the system call (libc's may jump back). */
static ssize_t raw_getdents64(int fd, void *buf, size_t n)
{
	return REAL(syscall)(SYS_getdents64, fd, buf, n);
}

void ps_patch_libc(void)
{
	static const char *const stat_calls[] = { "fstatat64" };
	static const char *const dir_calls[] = { "getdents64", "__close_nocancel", "__open64_nocancel" };
	const char *stat_why = "no patching on this architecture", *dir_why = stat_why;

	__atomic_store_n(&real.getdents64, raw_getdents64, __ATOMIC_RELEASE);
#if CAN_PATCH
	const struct patch *todo[4];
	unsigned char *code[4];
	size_t n = 0, nstat;
	const char *why;

	stat_why = check_group(stat_calls, 1, todo, code, &n);
	nstat = n;
	/* readdir's reads, then opendir's open and closedir's close: all three, or the listings stay the lower ones. */
	dir_why = check_group(dir_calls, 3, todo, code, &n);
	if (n && (why = apply_all(code, todo, n)) != NULL)
		stat_why = dir_why = why;
	if (!stat_why && nstat)
		bind_stat_to_syscall();
#endif
	if (stat_why)
		ps_debug("libc's fstatat64 left unpatched (%s): glibc's own stat calls are not seen", stat_why);
	else
		ps_debug("libc's fstatat64 patched: glibc's own stat calls reach the shim");
	if (dir_why)
		ps_debug("libc's directory calls left unpatched (%s): readdir shows the lower directories only", dir_why);
	else
		ps_debug("libc's getdents64, __open64_nocancel and __close_nocancel patched: readdir shows merged "
			 "directories");
}
