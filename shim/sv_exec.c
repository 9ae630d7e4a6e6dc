/* sv_exec.c - a supervised program's exec of a file under a prefix (sv.h).
 *
 * The kernel runs what it finds at the path - the lower file, or nothing for a file made in the shadow - and a
 * user notification cannot change a call's arguments. The program's memory, though, the supervisor may write. A
 * file whose bytes, mode or name the shadow changed - a merged copy, or the lower file that the path no longer
 * names - is installed in the program, and the path string in the program's memory is overwritten with
 * "/dev/fd/N" before the call goes on (CONTINUE): the kernel follows the magic link. The new name has to fit where
 * the old one was: where it does not (a shorter path, such as "./x"), the exec is refused with ENOTSUP and a line
 * saying why - running the lower bytes would be a silent wrong result. Each process has one number for this (the
 * last of the room from the threshold up, never given to a merged file), so a script's interpreter, which keeps
 * the descriptor it was started with, holds one, not one per script it ran.
 *
 * A script whose #! line and mode the shadow left as they were needs none of this: the kernel reads that line from
 * the lower file and starts the interpreter with the script's own name, and the interpreter - supervised too -
 * reads the merged script. A changed one runs from /dev/fd/N, which is then its name ($0).
 *
 * Merged copies are kept until the process that ran one exits (a program may exec /proc/self/exe again), or the
 * supervisor ends.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- merged copies and the processes that run them ---- */

struct copy {
	struct copy *next;
	pid_t tgid;
	char path[];
};

static struct copy *copies;
static pthread_mutex_t copies_mutex = PTHREAD_MUTEX_INITIALIZER;

static pid_t tgid_of(pid_t pid)
{
	long tgid;

	return sv_proc_status(pid, "Tgid:", 10, &tgid) == 0 ? (pid_t)tgid : pid;
}

static void copy_keep(pid_t tgid, const char *path)
{
	struct copy *k = malloc(sizeof(*k) + strlen(path) + 1);

	if (!k) {
		ps_snapshot_remove(ps_cfg.shadow, path);
		return;
	}
	k->tgid = tgid;
	strcpy(k->path, path);
	pthread_mutex_lock(&copies_mutex);
	k->next = copies;
	copies = k;
	pthread_mutex_unlock(&copies_mutex);
}

/* Remove the copies of tgid (all of them when tgid is 0). */
static void copies_remove(pid_t tgid)
{
	struct copy **at, *gone = NULL;

	pthread_mutex_lock(&copies_mutex);
	for (at = &copies; *at;) {
		struct copy *k = *at;

		if (tgid && k->tgid != tgid) {
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

void sv_exec_process_exits(const struct sv_call *c)
{
	if (__atomic_load_n(&copies, __ATOMIC_RELAXED))
		copies_remove(tgid_of(c->pid));
}

void sv_exec_end(void)
{
	copies_remove(0);
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
static int kernel_runs_it(int s, int kind, int kernel_fd)
{
	char merged[PS_SHEBANG_MAX], lower[PS_SHEBANG_MAX];
	struct stat ms, ls;
	size_t n;

	if (kernel_fd < 0 || REAL(syscall)(SYS_fstat, kernel_fd, &ls) < 0)
		return 0;
	if (kind == PS_OPEN_LOWER) {
		struct stat raw;

		return REAL(syscall)(SYS_fstat, s, &raw) == 0 && raw.st_dev == ls.st_dev && raw.st_ino == ls.st_ino;
	}
	if (fstat(s, &ms) < 0 || ms.st_mode != ls.st_mode || ms.st_uid != ls.st_uid || ms.st_gid != ls.st_gid)
		return 0;
	n = shebang(s, 0, merged);
	return n && shebang(kernel_fd, 1, lower) == n && memcmp(merged, lower, n) == 0;
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

static unsigned slot(const struct sv_call *c)
{
	return c->threshold + PS_FILTER_ROOM - 1;
}

static void slot_name(const struct sv_call *c, char name[64])
{
	snprintf(name, 64, "%s%u", fd_dir(), slot(c));
}

static long refuse_short(const struct sv_call *c, const struct sv_exec_target *t, const char *name)
{
	ps_refusal("supervisor: process %d cannot run %s: the shadow changed it, and the name that gives the kernel "
		   "its merged bytes (%s) does not fit where the program keeps \"%s\" (ENOTSUP; an absolute path "
		   "would do)",
		   (int)c->pid, t->shown, name, t->shown);
	return -ENOTSUP;
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

/* Install fd (not O_PATH: the kernel's fget does not see those) at the process's redirection number and make the
 * program's path string (t->addr) name it: SV_CONTINUE, or -errno with the reason said. */
static long redirect(const struct sv_call *c, const struct sv_exec_target *t, int fd, int cloexec)
{
	char name[64];
	int number;
	long rc;

	slot_name(c, name);
	if (strlen(name) >= t->room)
		return refuse_short(c, t, name);
	if ((number = sv_fd_place(c, fd, (int)slot(c), cloexec)) < 0)
		return number;
	if ((rc = rewrite_string(c, t->addr, name)) < 0) {
		ps_refusal("supervisor: process %d cannot run %s: its name cannot be rewritten in the program's memory "
			   "(%s)", (int)c->pid, t->shown, strerror((int)-rc));
		return -ENOTSUP;
	}
	ps_debug("supervisor: process %d runs %s as %s", (int)c->pid, t->shown, name);
	return SV_CONTINUE;
}

/* The file to run instead: s itself (a lower file under another name) or a merged copy, opened. */
static int file_to_run(const struct sv_call *c, int s, int kind, char *copy, size_t copysz)
{
	struct ps_open *o;
	int is_copy = 0, rc, x;

	copy[0] = '\0';
	if (kind == PS_OPEN_LOWER) {
		x = (int)REAL(fcntl)(s, F_DUPFD_CLOEXEC, 0);
		return x < 0 ? -errno : x;
	}
	if (!ps_enter())
		return -EAGAIN;
	o = ps_fd_get(s);
	/* a copy even when the data file holds every byte: a shim holds it open for writing (ETXTBSY) */
	rc = o && o->file ? ps_snapshot_file(o->file, 1, copy, copysz, &is_copy) : -ENOEXEC;
	if (o)
		ps_open_put(o);
	ps_leave();
	if (rc < 0) {
		copy[0] = '\0';
		return rc;
	}
	x = (int)REAL(syscall)(SYS_openat, AT_FDCWD, copy, O_RDONLY | O_CLOEXEC);
	rc = -errno;
	if (is_copy)
		copy_keep(tgid_of(c->pid), copy);
	ps_debug("supervisor: process %d runs a merged copy %s", (int)c->pid, copy);
	return x < 0 ? rc : x;
}

long sv_exec(const struct sv_call *c, const struct sv_exec_target *t)
{
	char copy[PATH_MAX], line[PS_SHEBANG_MAX], name[64];
	int kind, fd, cloexec;
	long rc;

	if (!ps_enter())
		return SV_CONTINUE;
	kind = ps_fd_get_kind(t->s);
	ps_leave();
	if (kind < 0 || kind == PS_OPEN_DIR || kernel_runs_it(t->s, kind, t->kernel_fd))
		return SV_CONTINUE;
	slot_name(c, name);
	if (t->same_fd < 0 && strlen(name) >= t->room)
		return refuse_short(c, t, name); /* before a copy is made for nothing */
	if ((fd = file_to_run(c, t->s, kind, copy, sizeof(copy))) < 0)
		return fd;
	cloexec = !shebang(fd, 1, line); /* a script's interpreter opens /dev/fd/N after the exec */
	if (t->same_fd >= 0) /* fexecve of a merged descriptor: the copy takes its place */
		rc = (rc = sv_fd_place(c, fd, t->same_fd, cloexec)) < 0 ? rc : SV_CONTINUE;
	else
		rc = redirect(c, t, fd, cloexec);
	close(fd);
	return rc;
}
