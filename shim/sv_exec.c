/* sv_exec.c - a supervised program's exec of a file under a prefix (sv.h).
 *
 * The kernel runs what it finds at the path - the lower file, or nothing for a file made in the shadow - and a
 * user notification cannot change a call's arguments. The program's memory, though, the supervisor may write. A
 * file whose bytes, mode or name the shadow changed - a merged copy, or the lower file that the path no longer
 * names - is installed in the program, and the path string in the program's memory is overwritten with
 * "/dev/fd/N" before the call goes on (CONTINUE): the kernel follows the magic link. The new name has to fit where
 * the old one was: where it does not (a name shorter than "/dev/fd/N"), the exec is refused with ENOTSUP and a
 * line saying why - running the lower bytes would be a silent wrong result. What the kernel itself would refuse
 * (not a regular file, no execute permission in the merged mode, neither ELF nor #!) is refused the same way.
 *
 * The name is "/dev/fd/M/BASE" through a descriptor of the file's directory where that fits (the string is often
 * the program's argv[0] as well, and BASE keeps its name: the applet a multi-call binary runs, comm), else
 * "/dev/fd/N" of the file. A program's descriptor is the lowest free one, close-on-exec, so the name is short and
 * two threads' execs never share one. A script's interpreter must open the name after the exec, so the descriptor
 * stays open: it takes one number per process (the last of the room above the threshold, never a merged file's;
 * the lowest free one where that name would not fit), so that an interpreter and what it starts hold one, not one
 * per script. A script whose #! line and mode the
 * shadow left as they were needs none of this: the kernel reads that line from the lower file and starts the
 * interpreter with the script's own name, and the interpreter - supervised too - reads the merged script.
 *
 * A child that shares its parent's memory (vfork, posix_spawn) rewrites the parent's string: the parent that
 * execs the same string again (busybox xargs) would name a descriptor of its own. Such rewrites are remembered and
 * undone at the parent's next call, or when the string comes back to an exec.
 *
 * Merged copies are kept until the process that ran one exits (a program may exec /proc/self/exe again), or dies
 * (swept when the next copy is made), or the supervisor ends.
 */
#include "sv.h"
#include "shim.h"
#include "exec.h"
#include "filter.h"
#include "log.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- merged copies and the processes that run them ---- */

struct copy {
	struct copy *next;
	pid_t tgid;
	char path[];
};

static struct copy *copies;
static pthread_mutex_t copies_mutex = PTHREAD_MUTEX_INITIALIZER;
static int execs_in_flight; /* handlers between making a copy and keeping it (sv_exec_end waits for them) */

/* Remove the copies of tgid; of every process that is gone when tgid is -1; all of them when 0. */
static void copies_remove(pid_t tgid)
{
	struct copy **at, *gone = NULL;

	pthread_mutex_lock(&copies_mutex);
	for (at = &copies; *at;) {
		struct copy *k = *at;

		if (tgid > 0 ? k->tgid != tgid : tgid < 0 && (kill(k->tgid, 0) == 0 || errno != ESRCH)) {
			at = &k->next;
			continue;
		}
		*at = k->next;
		k->next = gone;
		gone = k;
	}
	pthread_mutex_unlock(&copies_mutex);
	while (gone) {
		struct copy *k = gone;

		gone = k->next;
		ps_snapshot_remove(ps_cfg.shadow, k->path);
		free(k);
	}
}

/* Keep the copy until tgid exits - or remove it now when tgid is gone already (killed while it was made). */
static void copy_keep(pid_t tgid, const char *path)
{
	struct copy *k = malloc(sizeof(*k) + strlen(path) + 1);

	if (!k || kill(tgid, 0) < 0) {
		ps_snapshot_remove(ps_cfg.shadow, path);
		free(k);
		return;
	}
	copies_remove(-1); /* those of processes killed before they could exit */
	k->tgid = tgid;
	strcpy(k->path, path);
	pthread_mutex_lock(&copies_mutex);
	k->next = copies;
	copies = k;
	pthread_mutex_unlock(&copies_mutex);
}

void sv_exec_process_exits(const struct sv_call *c)
{
	if (__atomic_load_n(&copies, __ATOMIC_RELAXED))
		copies_remove(sv_tgid_of(c->pid));
}

void sv_exec_end(void)
{
	/* a worker may be making a copy for a program that has just gone: wait for it (a few seconds at most) */
	for (int i = 0; i < 500 && __atomic_load_n(&execs_in_flight, __ATOMIC_ACQUIRE); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	copies_remove(0);
}

/* Write name (with its NUL) over the program's string at addr: through process_vm_writev, else /proc/PID/mem,
 * which writes a read-only page of a private mapping as a debugger does (a string literal). */
static int rewrite_string(const struct sv_call *c, uint64_t addr, const char *name)
{
	char mem[64];
	size_t n = strlen(name) + 1;
	int fd, ok;

	if (sv_poke(c, addr, name, n) == 0)
		return 0;
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)c->pid);
	if ((fd = (int)REAL(syscall)(SYS_openat, AT_FDCWD, mem, O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	ok = REAL(syscall)(SYS_pwrite64, fd, name, n, (off_t)addr) == (long)n;
	close(fd);
	return ok ? 0 : -EFAULT;
}

/* ---- rewrites in memory a parent shares (vfork) ---- */

#define SHARED_MAX 16

struct shared_rewrite {
	pid_t owner;              /* the parent whose memory it is (0: a free slot) */
	pid_t child;              /* the child that execs with it: nothing is undone while it shares the memory */
	uint64_t addr;
	char name[PATH_MAX];      /* what was written */
	char original[PATH_MAX];
};

static struct shared_rewrite shared[SHARED_MAX];
static int shared_count;
static pthread_mutex_t shared_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The parent whose memory the calling process shares, or 0. */
static pid_t memory_parent(const struct sv_call *c)
{
	long ppid;

	if (sv_proc_status(c->pid, "PPid:", 10, &ppid) < 0 || ppid <= 1)
		return 0;
	return syscall(SYS_kcmp, c->pid, (pid_t)ppid, KCMP_VM, 0, 0) == 0 ? (pid_t)ppid : 0;
}

static void shared_remember(pid_t owner, pid_t child, uint64_t addr, const char *name, const char *original)
{
	pthread_mutex_lock(&shared_mutex);
	for (int i = 0; i < SHARED_MAX; i++) {
		struct shared_rewrite *r = &shared[i];

		if (r->owner && (r->owner != owner || r->addr != addr) && (kill(r->owner, 0) == 0 || errno != ESRCH))
			continue;
		if (!r->owner)
			shared_count++;
		r->owner = owner;
		r->child = child;
		r->addr = addr;
		snprintf(r->name, sizeof(r->name), "%s", name);
		snprintf(r->original, sizeof(r->original), "%s", original);
		break; /* (all taken: the parent keeps the new name) */
	}
	pthread_mutex_unlock(&shared_mutex);
}

/* Put back the strings rewritten in memory c's process shares (its own, or its parent's as a vfork child), where
 * they still read as written. */
static void shared_undo(const struct sv_call *c, pid_t also)
{
	pthread_mutex_lock(&shared_mutex);
	for (int i = 0; i < SHARED_MAX; i++) {
		struct shared_rewrite *r = &shared[i];
		char now[PATH_MAX];

		if (!r->owner || (r->owner != c->pid && r->owner != also))
			continue;
		if (syscall(SYS_kcmp, r->child, r->owner, KCMP_VM, 0, 0) == 0)
			continue; /* its exec has not read the name yet (another thread of the parent calls) */
		if (sv_peek(c, r->addr, now, strlen(r->name) + 1) == 0 && strcmp(now, r->name) == 0)
			rewrite_string(c, r->addr, r->original);
		r->owner = 0;
		shared_count--;
	}
	pthread_mutex_unlock(&shared_mutex);
}

void sv_exec_undo_shared(const struct sv_call *c)
{
	if (__atomic_load_n(&shared_count, __ATOMIC_RELAXED))
		shared_undo(c, 0);
}

void sv_exec_before(const struct sv_call *c)
{
	if (__atomic_load_n(&shared_count, __ATOMIC_RELAXED))
		shared_undo(c, memory_parent(c));
}

/* ---- what the kernel would run ---- */

/* The first line of a #! script as the kernel reads it (at most PS_SHEBANG_MAX bytes): its length, or 0 when the
 * file does not start with #!. */
static size_t shebang(int fd, int raw, char *line)
{
	ssize_t n = raw ? (ssize_t)REAL(syscall)(SYS_pread64, fd, line, PS_SHEBANG_MAX, 0) : pread(fd, line, PS_SHEBANG_MAX, 0);
	char *nl;

	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 0;
	nl = memchr(line, '\n', (size_t)n);
	return nl ? (size_t)(nl - line) : (size_t)n;
}

/* Does the kernel, given the program's path, start what the merged file s says? The lower file it finds must be
 * s's own (same inode), and either nothing changed it (kind) or it is a script whose #! line and mode the shadow
 * left alone. */
static int kernel_runs_it(int s, int kind, int kernel_fd, const struct stat *ms)
{
	char merged[PS_SHEBANG_MAX], lower[PS_SHEBANG_MAX];
	struct stat ls;
	size_t n;

	if (kernel_fd < 0 || REAL(syscall)(SYS_fstat, kernel_fd, &ls) < 0)
		return 0;
	if (kind == PS_OPEN_LOWER) {
		struct stat raw;

		return REAL(syscall)(SYS_fstat, s, &raw) == 0 && raw.st_dev == ls.st_dev && raw.st_ino == ls.st_ino;
	}
	if (ms->st_mode != ls.st_mode || ms->st_uid != ls.st_uid || ms->st_gid != ls.st_gid)
		return 0;
	n = shebang(s, 0, merged);
	return n && shebang(kernel_fd, 1, lower) == n && memcmp(merged, lower, n) == 0;
}

/* What the kernel would answer the exec of the merged file s (stat st): 0 (it would run it), or -errno. */
static int kernel_would_refuse(int s, const struct stat *st)
{
	unsigned char magic[4];

	if (!S_ISREG(st->st_mode) || ps_may_access(st, X_OK, 1) < 0)
		return -EACCES;
	if (pread(s, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic))
		return -ENOEXEC;
	if (memcmp(magic, "\177ELF", 4) == 0 || (magic[0] == '#' && magic[1] == '!'))
		return 0;
	return -ENOEXEC; /* (a shell then runs it as a script itself, by its own name) */
}

/* ---- another name for the kernel ---- */

static const char *fd_dir(void)
{
	static const char *dir;
	struct stat st;

	if (!dir)
		dir = stat("/dev/fd/", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/fd/" : "/proc/self/fd/";
	return dir;
}

static long refuse_short(const struct sv_call *c, const struct sv_exec_target *t, const char *name)
{
	ps_refusal("supervisor: process %d cannot run %s: the kernel does not find it by that name (the shadow "
		   "changed it, or the program's working directory is one the supervisor keeps), and the name that "
		   "gives it the file (%s) is longer than \"%s\", where the program keeps the name (ENOTSUP)",
		   (int)c->pid, t->shown, name, t->shown);
	return -ENOTSUP;
}

/* Install fd (not O_PATH: the kernel's fget does not see those) in the program - for a script at the process's
 * number for it and left open across the exec, where that number and suffix fit in the program's string, else
 * at the lowest free number (close-on-exec but for a script). The number, or -errno. */
static int install(const struct sv_call *c, const struct sv_exec_target *t, int fd, int script, size_t suffix)
{
	char digits[16];
	int number = -1, own = SV_EXEC_NUMBER(c->threshold);

	if (script && strlen(fd_dir()) + (size_t)snprintf(digits, sizeof(digits), "%d", own) + suffix < t->room)
		number = sv_fd_place(c, fd, own, 0);
	if (number < 0) /* (also a script's, when the program's soft limit on open files is below that number) */
		number = sv_fd_place(c, fd, -1, !script);
	return number;
}

/* The name for the kernel: "/dev/fd/M/BASE" through a descriptor of the file's directory where it fits - the
 * string is often argv[0] too (a shell runs "$dir/prog" by that string), and BASE keeps the program's name, the
 * applet a multi-call binary runs and comm - else "/dev/fd/N" of the file. 0 and name, or -errno. */
static int kernel_name(const struct sv_call *c, const struct sv_exec_target *t, int fd, const char *where,
		       int script, char *name, size_t namesz)
{
	const char *base = strrchr(where, '/');
	char dir[PATH_MAX];
	int dfd, number;

	if (base && base > where && strlen(fd_dir()) + 3 + strlen(base) < t->room &&
	    (size_t)(base - where) < sizeof(dir)) {
		memcpy(dir, where, (size_t)(base - where));
		dir[base - where] = '\0';
		dfd = (int)REAL(syscall)(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		number = dfd < 0 ? -1 : install(c, t, dfd, script, strlen(base));
		if (dfd >= 0)
			close(dfd);
		if (number >= 0 && (size_t)snprintf(name, namesz, "%s%d%s", fd_dir(), number, base) < t->room)
			return 0;
	}
	if ((number = install(c, t, fd, script, 0)) < 0)
		return number;
	snprintf(name, namesz, "%s%d", fd_dir(), number);
	return strlen(name) < t->room ? 0 : (int)refuse_short(c, t, name); /* (what was installed stays: cloexec) */
}

/* Make the program's path string (t->addr) name the file to run, fd at where: SV_CONTINUE, or -errno with the
 * reason said. */
static long redirect(const struct sv_call *c, const struct sv_exec_target *t, int fd, const char *where, int script)
{
	char name[PATH_MAX];
	pid_t parent;
	int rc;

	if ((rc = kernel_name(c, t, fd, where, script, name, sizeof(name))) < 0)
		return rc;
	parent = memory_parent(c);
	if ((rc = rewrite_string(c, t->addr, name)) < 0) {
		ps_refusal("supervisor: process %d cannot run %s: its name cannot be rewritten in the program's memory "
			   "(%s)", (int)c->pid, t->shown, strerror(-rc));
		return -ENOTSUP;
	}
	if (parent)
		shared_remember(parent, c->pid, t->addr, name, t->given);
	ps_debug("supervisor: process %d runs %s as %s", (int)c->pid, t->shown, name);
	return SV_CONTINUE;
}

/* The file to run instead, opened, and its name in where: s itself (a lower file under another name) or a merged
 * copy. */
static int file_to_run(const struct sv_call *c, int s, int kind, char *where, size_t wheresz)
{
	char self[64];
	struct ps_open *o;
	int is_copy = 0, rc, x;
	ssize_t n;

	if (kind == PS_OPEN_LOWER) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", s);
		if ((n = REAL(readlink)(self, where, wheresz - 1)) < 0)
			return -errno;
		where[n] = '\0';
		x = (int)REAL(fcntl)(s, F_DUPFD_CLOEXEC, 0);
		return x < 0 ? -errno : x;
	}
	if (!ps_enter())
		return -EAGAIN;
	o = ps_fd_get(s);
	/* a copy even when the data file holds every byte: a shim holds it open for writing (ETXTBSY) */
	rc = o && o->file ? ps_snapshot_file(o->file, 1, where, wheresz, &is_copy) : -ENOEXEC;
	if (o)
		ps_open_put(o);
	ps_leave();
	if (rc < 0)
		return rc;
	x = (int)REAL(syscall)(SYS_openat, AT_FDCWD, where, O_RDONLY | O_CLOEXEC);
	rc = -errno;
	if (is_copy)
		copy_keep(sv_tgid_of(c->pid), where);
	ps_debug("supervisor: process %d runs a merged copy %s", (int)c->pid, where);
	return x < 0 ? rc : x;
}

static long exec_merged(const struct sv_call *c, const struct sv_exec_target *t)
{
	char line[PS_SHEBANG_MAX], where[PATH_MAX];
	struct stat st;
	int kind, fd, script, rc;

	if (fstat(t->s, &st) < 0) /* (the merged stat: the shim's) */
		return -errno;
	if (!ps_enter())
		return SV_CONTINUE;
	kind = ps_fd_get_kind(t->s);
	ps_leave();
	if ((rc = kernel_would_refuse(t->s, &st)) < 0)
		return rc;
	if (kind < 0) /* outside the prefixes: as it is, under another name where the kernel's path leads elsewhere
		       * (a relative one from a working directory the supervisor keeps) */
		kind = PS_OPEN_LOWER;
	if (kernel_runs_it(t->s, kind, t->kernel_fd, &st))
		return SV_CONTINUE;
	if (t->same_fd < 0 && strlen(fd_dir()) + 2 > t->room) /* not even /dev/fd/N: before a copy is made */
		return refuse_short(c, t, "/dev/fd/N");
	if ((fd = file_to_run(c, t->s, kind, where, sizeof(where))) < 0)
		return fd;
	script = shebang(fd, 1, line) != 0;
	if (t->same_fd >= 0) /* fexecve of a merged descriptor: the copy takes its place */
		rc = (rc = sv_fd_place(c, fd, t->same_fd, !script)) < 0 ? rc : (int)SV_CONTINUE;
	else
		rc = (int)redirect(c, t, fd, where, script);
	close(fd);
	return rc;
}

long sv_exec(const struct sv_call *c, const struct sv_exec_target *t)
{
	long rc;

	__atomic_fetch_add(&execs_in_flight, 1, __ATOMIC_ACQ_REL);
	rc = exec_merged(c, t);
	__atomic_fetch_sub(&execs_in_flight, 1, __ATOMIC_ACQ_REL);
	return rc;
}
