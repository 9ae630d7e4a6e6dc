/* init.c - binding the real functions, reading the configuration, the entry guard, the shadow on first need.
 *
 * Entry points: ps_enter/ps_leave (every wrapper), ps_shadow_get, ps_errno_for_program.
 * Each real function is bound by dlsym(RTLD_NEXT) the first time it is needed (REAL in shim.h): the next
 * definition, normally glibc's. The configuration is read once under pthread_once, from the constructor or from
 * the first wrapper that runs (a library constructor that runs before ours may already call open).
 */
#include "shim.h"
#include "sv.h"
#include "log.h"
#include "path.h"
#include "beneath.h"
#include "sys.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

struct ps_real real;
struct ps_config ps_cfg;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_done;
static int configured;
static __thread int in_shim __attribute__((tls_model("initial-exec")));

static struct ps_shadow shadow;
static int shadow_state; /* 0 not yet, 1 open, -1 unusable */
static pthread_mutex_t shadow_mutex = PTHREAD_MUTEX_INITIALIZER;

void *ps_real_lookup(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Keep the shim's own descriptors out of the program's way: high numbers, close-on-exec. A program that
 * expects open() to return the lowest free number (close(0); open(...)) still gets it. */
static int hide_base = 256;

/* The top eighth of the descriptor limit at start-up, but never above 1024: the kernel grows a process's fd table
 * to the highest number in use, and a table of tens of thousands of slots costs memory and every fork copies it.
 * (A limit lowered later makes F_DUPFD fail: then the fd stays where it is.) */
static void init_hide_base(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 128)
		hide_base = (int)(rl.rlim_cur - rl.rlim_cur / 8);
	if (hide_base > 1024)
		hide_base = 1024;
}

/* Shadowed files kept open after their last descriptor closes (file.h): three descriptors and a record map each. */
#define PS_FILE_KEEP_IDLE 16

/* Which high descriptors are the shim's own, one bit each from hide_base up: a program that closes "every
 * descriptor" (close_range, closefrom, a close loop: bash, ssh, Python's subprocess) leaves them open (fd.c).
 * Marked by the process that made them only: a vfork child's are its own, in its parent's memory. */
#define OWN_MAX 4096
static unsigned char own_bits[OWN_MAX / 8];
static pid_t own_pid;
/* Where a descriptor the program took by number went (ps_fd_make_room), + 1 (0: it did not move). A holder the
 * renumbering could not reach - a description or file object already on its way out, whose last user is still in
 * a call - closes the old number later: that close goes to the moved copy, never to the program's descriptor. */
static int moved_to[OWN_MAX];

static void own_fork_child(void)
{
	own_pid = getpid(); /* a forked child marks what it opens itself; a vfork child runs no atfork handler */
}

static void own_mark(int fd, int on)
{
	unsigned i = (unsigned)(fd - hide_base);

	if (fd < hide_base || i >= OWN_MAX || getpid() != own_pid)
		return;
	if (on) {
		__atomic_store_n(&moved_to[i], 0, __ATOMIC_RELAXED); /* the number is the shim's again */
		__atomic_fetch_or(&own_bits[i / 8], (unsigned char)(1u << (i % 8)), __ATOMIC_RELAXED);
	}
	else
		__atomic_fetch_and(&own_bits[i / 8], (unsigned char)~(1u << (i % 8)), __ATOMIC_RELAXED);
}

int ps_fd_is_shims(int fd)
{
	unsigned i = (unsigned)(fd - hide_base);

	return fd >= hide_base && i < OWN_MAX && (__atomic_load_n(&own_bits[i / 8], __ATOMIC_RELAXED) >> (i % 8)) & 1;
}

int ps_fd_next_shims(int from, int to)
{
	for (int fd = from < hide_base ? hide_base : from; fd <= to && fd - hide_base < OWN_MAX; fd++)
		if (ps_fd_is_shims(fd))
			return fd;
	return -1;
}

static int hide_fd(int fd)
{
	int high;

	if (fd < 0)
		return fd;
	high = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, hide_base);
	if (high < 0)
		return fd;
	REAL(close)(fd);
	own_mark(high, 1);
	return high;
}

/* Every place that keeps one of the shim's descriptor numbers beyond one call. */
static void renumber_holders(int from, int to)
{
	ps_shadow_renumber_fd(&shadow, from, to);
	ps_file_renumber_fd(from, to);
	ps_fd_table_renumber(from, to);
	ps_log_renumber_fd(from, to);
}

/* The program's dup2 replaces the description at fd in one step, so the shim's copy moves first. A vfork child
 * (Python's subprocess, posix_spawn) runs in its parent's memory: the holders there are the parent's and stay;
 * the child's copy is close-on-exec and the child is about to exec. Closing the old number (inside the program's
 * dup2) drops the process's POSIX locks on that inode, as any close does: a program that dup2s onto the number of
 * a record it holds POSIX locks on loses them (the kernel gives no way round it). */
int ps_fd_make_room(int fd)
{
	int to;

	if (!ps_fd_is_shims(fd) || !ps_fd_table_is_ours())
		return 0;
	to = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, hide_base);
	if (to < 0)
		return -1;
	own_mark(to, 1);
	renumber_holders(fd, to);
	__atomic_store_n(&moved_to[fd - hide_base], to + 1, __ATOMIC_RELEASE);
	own_mark(fd, 0);
	ps_debug("descriptor %d is the program's now (dup2): the shim's moved to %d", fd, to);
	return 0;
}

/* fd as the shim holds it now: itself, or where it moved (the chain of moves followed, a bounded number). */
static int current_number(int fd)
{
	for (int hops = 0; hops < 64 && fd >= hide_base && fd - hide_base < OWN_MAX && !ps_fd_is_shims(fd); hops++) {
		int to = __atomic_load_n(&moved_to[fd - hide_base], __ATOMIC_ACQUIRE) - 1;

		if (to < 0)
			break;
		fd = to;
	}
	return fd;
}

static int shim_close(int fd)
{
	fd = current_number(fd);
	own_mark(fd, 0);
	return REAL(close)(fd);
}

static int shim_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (PS_OPEN_NEEDS_MODE(flags)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return hide_fd(REAL(openat)(dirfd, path, flags | O_CLOEXEC, mode));
}

static struct ps_sys shim_sys;

static void fill_sys(void)
{
	shim_sys = ps_sys_libc;
	shim_sys.openat = shim_openat;
	shim_sys.close = shim_close;
	shim_sys.pread = REAL(pread);
	shim_sys.pwrite = REAL(pwrite);
	shim_sys.write = REAL(write);
	shim_sys.fstat = REAL(fstat);
	shim_sys.fstatat = REAL(fstatat);
	shim_sys.ftruncate = REAL(ftruncate);
	shim_sys.fallocate = REAL(fallocate);
	shim_sys.fsync = REAL(fsync);
	shim_sys.fcntl = REAL(fcntl);
	shim_sys.flock = REAL(flock);
	shim_sys.unlinkat = REAL(unlinkat);
	shim_sys.renameat = REAL(renameat);
	shim_sys.renameat2 = REAL(renameat2);
	shim_sys.mkdirat = REAL(mkdirat);
	shim_sys.mknodat = REAL(mknodat);
	shim_sys.linkat = REAL(linkat);
	shim_sys.symlinkat = REAL(symlinkat);
	shim_sys.futimens = REAL(futimens);
	shim_sys.utimensat = REAL(utimensat);
	shim_sys.fchmodat = REAL(fchmodat);
	shim_sys.fchownat = REAL(fchownat);
	shim_sys.readlinkat = REAL(readlinkat);
	shim_sys.getdents64 = REAL(getdents64);
	shim_sys.lseek = REAL(lseek);
	shim_sys.mmap = REAL(mmap);
	shim_sys.llistxattr = REAL(llistxattr);
	shim_sys.lgetxattr = REAL(lgetxattr);
	shim_sys.lsetxattr = REAL(lsetxattr);
	shim_sys.fsetxattr = REAL(fsetxattr);
	shim_sys.syscall = REAL(syscall);
	ps_sys = ps_sys_guard(&shim_sys);
}

static void init_log(void)
{
	const char *dbg = getenv("PAGESHADOW_DEBUG");
	const char *prog = program_invocation_short_name;
	int fd = -1;

	if (dbg && strchr(dbg, '/')) /* a path; any other value but "0" means stderr */
		fd = hide_fd(REAL(open)(dbg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
	else if (dbg && *dbg && strcmp(dbg, "0") != 0) /* debugging: a private copy of stderr, worth its fd */
		fd = hide_fd(REAL(fcntl)(2, F_DUPFD_CLOEXEC, 3));
	ps_log_init(fd, dbg && *dbg && strcmp(dbg, "0") != 0, prog && *prog ? prog : "pageshadow");
}

/* A prefix that cannot be resolved is still matched lexically, so that calls under it fail rather than reach
 * the lower tree. */
static void add_prefix_or_fence(const char *item)
{
	char why[PATH_MAX + 128];
	struct ps_prefix *p;

	if (ps_config_add_prefix(&ps_cfg, item, why, sizeof(why)) == 0 || ps_cfg.nprefix >= PS_MAX_PREFIXES)
		return;
	ps_error("configuration: %s; calls under it fail with EROFS", why);
	p = &ps_cfg.prefix[ps_cfg.nprefix];
	if (ps_path_normalize("/", item, p->path, sizeof(p->path)) < 0)
		return;
	p->len = strlen(p->path);
	p->enc[0] = '\0'; /* marks a fenced prefix */
	ps_cfg.nprefix++;
}

/* pageshadow-run --deny and --log (change.h). PAGESHADOW_DENY: unset, "" or "0" off, anything else on - a
 * misspelt value denies rather than lets changes through. */
static void read_change_config(void)
{
	const char *deny = getenv("PAGESHADOW_DENY");
	const char *prog = program_invocation_short_name;

	ps_change_init(deny && *deny && strcmp(deny, "0") != 0, getenv("PAGESHADOW_LOG"), prog && *prog ? prog : NULL);
}

static void read_config(void)
{
	const char *ro = getenv("PAGESHADOW_RO");
	const char *dir = getenv("PAGESHADOW_DIR");
	char why[PATH_MAX + 128];
	char item[PATH_MAX];

	if (!ro || !*ro)
		return;
	if (ps_sv_supervised()) {
		ps_debug("supervised: the supervisor serves this process's file calls; the shim stands aside");
		return;
	}
	for (const char *p = ro;;) {
		const char *end = strchrnul(p, ':');
		size_t n = (size_t)(end - p);

		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = '\0';
			add_prefix_or_fence(item);
		}
		if (!*end)
			break;
		p = end + 1;
	}
	if (ps_cfg.nprefix == 0)
		return;
	read_change_config();
	if (ps_config_set_shadow(&ps_cfg, dir ? dir : "", why, sizeof(why)) < 0) {
		ps_error("configuration: %s; calls under the read-only prefixes fail with EROFS", why);
		shadow_state = -1;
	}
	configured = 1;
}

static void ps_init(void)
{
	in_shim = 1;
	own_pid = getpid();
	pthread_atfork(NULL, NULL, own_fork_child);
	init_hide_base();
	fill_sys();
	init_log();
	read_config();
	if (configured) {
		ps_patch_libc(); /* rebinds REAL's stat entries: the engine's table takes them anew */
		fill_sys();
	}
	ps_fd_table_init();
	if (configured) {
		/* a file opened again and again (a build's headers, a database) reads its record once */
		ps_file_keep_idle(PS_FILE_KEEP_IDLE);
		ps_fd_adopt_inherited();
		ps_exec_init();
		ps_trap_init();
	}
	in_shim = 0;
	__atomic_store_n(&init_done, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void ps_constructor(void)
{
	pthread_once(&init_once, ps_init);
}

/* One load on every call once the configuration is read; pthread_once only until then. A wrapper reached from
 * ps_init itself finds in_shim set and never waits for ps_init. The real functions need no such step: REAL()
 * binds each on its first call, also when another library's constructor calls a wrapper before ours has run. */
int ps_enter(void)
{
	ps_trap_selector = 1; /* trap inline calls again, after one that had to run natively (trap.c) */
	if (in_shim)
		return 0;
	if (!__atomic_load_n(&init_done, __ATOMIC_ACQUIRE))
		pthread_once(&init_once, ps_init);
	if (!configured)
		return 0;
	in_shim = 1;
	ps_redirect_reset();
	return 1;
}

void ps_sv_became_supervised(void)
{
	if (getpid() == own_pid) /* a vfork child would switch its parent's shim off */
		configured = 0;
}

int ps_nested(void)
{
	return in_shim && configured;
}

void ps_leave(void)
{
	in_shim = 0;
}

struct ps_shadow *ps_shadow_get(void)
{
	char why[PATH_MAX + 128];
	int state = __atomic_load_n(&shadow_state, __ATOMIC_ACQUIRE);

	if (state == 0 && !ps_fd_table_is_ours())
		return NULL; /* a vfork child must not open it into its parent's memory (ps_shadow_if_open) */
	if (state == 0) {
		pthread_mutex_lock(&shadow_mutex);
		if (shadow_state == 0) {
			int rc = ps_shadow_open(&shadow, ps_cfg.shadow, 1, why, sizeof(why));

			if (rc < 0)
				ps_error("shadow directory %s: %s; calls under the read-only prefixes fail", ps_cfg.shadow,
					 why);
			__atomic_store_n(&shadow_state, rc < 0 ? -1 : 1, __ATOMIC_RELEASE);
		}
		state = shadow_state;
		pthread_mutex_unlock(&shadow_mutex);
	}
	return state == 1 ? &shadow : NULL;
}

struct ps_shadow *ps_shadow_if_open(void)
{
	return __atomic_load_n(&shadow_state, __ATOMIC_ACQUIRE) == 1 ? &shadow : NULL;
}

int ps_errno_for_program(int rc)
{
	switch (rc) {
	case -EILSEQ:
	case -EPROTO:
	case -ESTALE:
		return -EIO;
	default:
		return rc;
	}
}
