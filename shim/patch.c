/* patch.c - glibc's calls to itself reach the shim: the entry of libc's fstatat jumps to the shim's.
 *
 * Entry point: ps_patch_libc (start-up).
 * glibc calls its own functions through hidden aliases, never through the PLT, so nftw, ftw, glob, fts, opendir,
 * fdopendir and realpath stat files where no wrapper sees it, and find a file that exists only in the shadow
 * missing, or a shadowed file at its lower size. In glibc 2.33 and later every stat function (stat, lstat, fstat,
 * fstatat and their 64-bit names) is a tail call into one function, fstatat64, which is one system call. Its
 * first bytes are replaced by an absolute jump to the shim's fstatat64, so every stat glibc makes - for itself
 * or for the program - lands in the same wrapper.
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

/* glibc 2.33+'s fstatat64: mov %ecx,%r10d; mov $SYS_newfstatat,%eax; syscall. */
static int looks_like_fstatat(const unsigned char *code)
{
	static const unsigned char expect[] = { 0x41, 0x89, 0xca, 0xb8, SYS_newfstatat & 0xff, SYS_newfstatat >> 8,
						0x00, 0x00, 0x0f, 0x05 };

	return memcmp(code, expect, sizeof(expect)) == 0;
}

static const char *patch_fstatat(void)
{
	unsigned char *code = dlsym(RTLD_NEXT, "fstatat64");
	const ElfW(Sym) *sym = NULL;
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;
	Dl_info info;

	if (!code || !dladdr1(code, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || !info.dli_fname)
		return "fstatat64 not found";
	if (!strstr(info.dli_fname, "/libc.so"))
		return "fstatat64 is not libc's";
	if (sym->st_size < JUMP_SIZE || !looks_like_fstatat(code))
		return "libc's fstatat64 is not the system call wrapper expected";
	start = (uintptr_t)code & ~(uintptr_t)(page - 1);
	end = ((uintptr_t)code + JUMP_SIZE + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
	if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
		return "libc's text cannot be made writable";
	encode_jump(code, (const void *)fstatat64);
	if (mprotect((void *)start, end - start, PROT_READ | PROT_EXEC) < 0)
		ps_error("libc's text stays writable after patching fstatat64: %s", strerror(errno));
	__builtin___clear_cache((char *)code, (char *)code + JUMP_SIZE);
	return NULL;
}

#else

static const char *patch_fstatat(void)
{
	return "no patching on this architecture";
}

#endif

void ps_patch_libc(void)
{
	const char *why = patch_fstatat();

	if (why) {
		ps_debug("libc left unpatched (%s): glibc's own stat calls are not seen", why);
		return;
	}
	bind_stat_to_syscall();
	ps_debug("libc's fstatat64 patched: glibc's own stat calls reach the shim");
}
