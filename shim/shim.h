/* shim.h - what every wrapper file shares: the real functions, the entry guard, errno rules, path targets.
 *
 * Errno rules (every wrapper keeps them):
 *  (a) a call that passes through returns exactly what real.X left, errno included: nothing runs after it;
 *  (b) a successful shadowed call leaves errno as it was on entry (internal probes never leak ENOENT);
 *  (c) a failed shadowed call sets errno from the engine's -errno; the engine's own faults (corrupt or stale
 *      record, a lower file that changed) become EIO, and are logged once with the file's name;
 *  (d) NULL or empty paths and invalid arguments go straight to real.X and the kernel rejects them.
 * Re-entry: the shim's own code calls only real.X or the engine (whose ops table holds real.X), and a call that
 * arrives while this thread is already inside a wrapper (from libc called by the shim) goes straight to real.X.
 */
#ifndef PS_SHIM_H
#define PS_SHIM_H

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <dirent.h>
#include <ftw.h>
#include <spawn.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <sys/time.h>
#include <utime.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <threads.h>

#include "change.h"
#include "config.h"
#include "file.h"
#include "listing.h"
#include "ns.h"
#include "shadow.h"

#define PS_EXPORT __attribute__((visibility("default")))

#define PS_SYM(ret, name, params) PS_EXPORT ret name params;
#include "symbols.def"
#undef PS_SYM

struct ps_real {
#define PS_SYM(ret, name, params) ret(*name) params;
#include "symbols.def"
#undef PS_SYM
};

extern struct ps_real real;

/* The real function, found by dlsym(RTLD_NEXT) the first time it is needed: a process pays only for the functions
 * it calls (binding all of them at start-up cost every exec about 0.2 ms). A race between two threads stores the
 * same value twice. NULL when the libc lacks the name. */
void *ps_real_lookup(const char *name);
#define REAL(name)                                                                                                 \
	(*({                                                                                                       \
		if (__builtin_expect(real.name == NULL, 0))                                                        \
			real.name = (__typeof__(real.name))ps_real_lookup(#name);                                  \
		&real.name;                                                                                        \
	}))

/* ---- init.c ---- */
/* Is fd one of the shim's own descriptors (made by this process)? The next one in [from, to], or -1. */
int ps_fd_is_shims(int fd);
int ps_fd_next_shims(int from, int to);
/* The program names fd as the target of a dup2/dup3: when it is one of the shim's, move the shim's to another
 * high number first and tell every holder. 0, or -1 and errno (EMFILE: nowhere to move it). */
int ps_fd_make_room(int fd);
extern struct ps_config ps_cfg;
/* True when the shim is configured and this thread is not already inside it. Binds and configures on first
 * use. */
int ps_enter(void);
/* Is this thread inside the shim already (a signal handler's call interrupted it)? */
int ps_nested(void);
void ps_leave(void);
/* The shadow, opened on first need; NULL (logged once) when it cannot be used. */
struct ps_shadow *ps_shadow_get(void);
/* The shadow if this process has opened it already, else NULL; opens nothing (a vfork child may read the
 * parent's mapped FORMAT page, but must not open one into the parent's memory, nor count on its descriptors). */
struct ps_shadow *ps_shadow_if_open(void);

/* Run call with the guard held: `PS_GUARDED(r = expr)` */
#define PS_GUARDED(stmt)                                                                                           \
	do {                                                                                                       \
		stmt;                                                                                              \
		ps_leave();                                                                                        \
	} while (0)

/* open's third argument is read only for these flags (glibc's __OPEN_NEEDS_MODE: O_TMPFILE includes O_DIRECTORY). */
#define PS_OPEN_NEEDS_MODE(flags) (((flags) & O_CREAT) != 0 || ((flags) & __O_TMPFILE) == __O_TMPFILE)

/* errno at the boundary: rc < 0 is -errno. Successful calls restore the caller's errno (rule b). */
static inline long ps_ret(long rc, int saved_errno)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	errno = saved_errno;
	return rc;
}

/* Map engine-internal failures to what a program can understand (rule c). */
int ps_errno_for_program(int rc);

/* ---- resolve.c ---- */
struct ps_target {
	char path[PATH_MAX]; /* canonical absolute path */
	int prefix;          /* index into ps_cfg.prefix */
	const char *rel;     /* points into path */
	struct ps_ns ns;     /* what the shadow holds at path (ns.h) */
	int mapped;          /* a relative path from a directory of the shadow's data tree */
	size_t lower_link;   /* rel up to a lower symlink the kernel could not follow (0: none): resolve.c's */
};

/* Decide whether (dirfd, path) names something under a prefix. 0: no (pass through), 1: yes (t filled, symlinks
 * resolved through the lower tree; follow=0 keeps a final symlink), -errno on failure. */
int ps_resolve(int dirfd, const char *path, int follow, struct ps_target *t);
/* After ps_resolve said 0: does the name still lead into a prefix, through a symlink outside the tree? reached is
 * what a statx of the name with STATX_MNT_ID gave, or NULL to look. how: PS_OUTSIDE_MISSING, the name is known
 * not to exist (look at the directory it would be made in); PS_OUTSIDE_CHEAP, look further only when that costs
 * nothing more (the name lies on a mount that is a prefix of its own); PS_OUTSIDE_LINKED. 1 and t filled (the
 * pass-through name becomes the resolved one), 0 (really outside, or not looked at), -errno. */
#define PS_OUTSIDE_MISSING 1
#define PS_OUTSIDE_CHEAP 2
#define PS_OUTSIDE_LINKED 4 /* a symlink is known to lie on the way (an open with RESOLVE_NO_SYMLINKS failed) */
int ps_resolve_outside(int dirfd, const char *path, int follow, const struct statx *reached, int how,
		       struct ps_target *t);
/* ps_resolve, recognising names outside that lead in too (one statx more for a name outside): for calls that
 * change the tree, and for those whose real call would read the lower tree inside glibc (fopen, mkstemp). */
int ps_resolve_outside_links(int dirfd, const char *path, int follow, struct ps_target *t);
void ps_target_name(const struct ps_target *t, struct ps_file_name *name);
/* After ps_resolve, the path (and dirfd) a call passed through to the kernel must be given: the program's own, or,
 * where resolving followed a symlink made in the shadow (the kernel cannot see it), the absolute name it led to. */
const char *ps_pass(const char *path);
int ps_pass_dirfd(int dirfd, const char *path);
void ps_redirect_reset(void);
/* The start of a wrapper that may change the tree: the guard taken and (dirfd, path) resolved by
 * ps_resolve_outside_links. 0: pass through (the guard not held); 1 (t filled) or -errno: the guard is held, the
 * caller drops it. */
int ps_enter_resolved(int dirfd, const char *path, int follow, struct ps_target *t);
/* ps_resolve_outside_links for a wrapper that only needs the answer: 1 under a prefix, 0 not (or re-entered),
 * -errno. Takes and drops the guard itself. */
int ps_path_in_prefix(const char *path, int follow);
/* The shadow state of t: 0 and a reference, -ENOENT without a record. */
int ps_target_lookup(const struct ps_target *t, struct ps_file **out);
/* What the merged tree shows at t (t's final symlink, if any, is not followed: resolving did that). 0 or -errno
 * (-ENOENT for a deleted name). */
int ps_target_stat(const struct ps_target *t, struct stat *st);
/* Does t's lower entry, if there is one, show in the merged tree? */
static inline int ps_target_lower_shows(const struct ps_target *t)
{
	return ps_ns_lower_shows(&t->ns);
}
/* Nothing shows at t in the merged tree (a name free to be made)? 0, or -EEXIST. */
int ps_target_free(const struct ps_target *t);
/* Give t's lower regular file (lower: its stat) a record - an empty bitmap, a sparse data file: nothing is
 * copied - or find the one it has. 0 and a reference, or -errno. */
int ps_target_shadow_lower(const struct ps_target *t, const struct stat *lower, struct ps_file **out);
/* The directory t lies in: 1 and parent filled, 0 when t is a prefix itself, -errno. */
int ps_target_parent(const struct ps_target *t, struct ps_target *parent);
/* "data/<prefix>/<rel>" of t, relative to the shadow directory. */
int ps_target_data_path(const struct ps_target *t, char *out, size_t outsz);
/* A directory that exists only in the shadow is a directory of the data tree to the kernel (a program's cwd or
 * dirfd there): its name is rewritten in place to its place in the read-only tree. 1 when path was such a
 * directory. */
int ps_merged_name(char *path, size_t pathsz);
/* The same for the target of a /proc link (/proc/self/fd/N, /proc/self/exe): a copy's " (deleted)" goes too - the
 * copy a program runs from is removed once it runs, not its file. */
int ps_merged_link_name(char *target, size_t targetsz);
/* The working directory by its name in the merged tree (a directory of the shadow's data tree is named by its
 * place in the read-only tree). 0 or -errno. */
int ps_cwd(char *out, size_t outsz);
/* Is fd a directory of the shadow's data tree? 1 and its name in the merged tree in out, else 0. */
int ps_fd_shadow_name(int fd, char *out, size_t outsz);

/* The merged listing of directory t (ps_ns_list over its lower directory, when that shows). 0 or -errno; l is
 * freed by ps_dirlist_free either way. */
int ps_target_list(const struct ps_target *t, struct ps_dirlist *l);

/* ---- fdtable.c ---- */
enum ps_open_kind {
	PS_OPEN_LOWER, /* the real lower fd of a file opened read-only; merged once the file gets a record */
	PS_OPEN_DATA,  /* a descriptor of the data file */
	PS_OPEN_DIR,   /* a directory: the lower one or a data directory; reads give the merged listing (dir.c) */
};

struct ps_open {
	int refs;             /* fds (dups) sharing this open file description */
	enum ps_open_kind kind;
	int flags;            /* the program's open flags */
	struct ps_file *file; /* NULL for a lower fd whose file has no record (yet) */
	uint64_t generation;  /* lower fds: shadow generation when last checked */
	int lock_fd;          /* record opened again, for OFD and flock locks: -1 until needed */
	pthread_mutex_t mutex; /* position updates, lock_fd and the listing */
	struct ps_dirlist *dir; /* PS_OPEN_DIR: the merged listing, NULL until read (and after a rewind) */
	size_t dir_pos;       /* PS_OPEN_DIR: index of the next entry */
	int changed;          /* the file's bytes changed through this description (logged once, change.h) */
	char path[];          /* canonical path (lower fds re-check it) */
};

/* Bind the table to this process (start-up); a vfork child then leaves it alone (ps_fd_table_is_ours). */
void ps_fd_table_init(void);
int ps_fd_table_is_ours(void);
/* The open description behind fd with a reference, or NULL when fd is not the shim's (the common case: one
 * load). Lower fds are re-checked against the shadow generation first. Drop with ps_open_put. */
struct ps_open *ps_fd_get(int fd);
void ps_open_put(struct ps_open *o);
/* Track fd as a new open description. Returns 0 or -ENOMEM (fd is then closed). */
int ps_fd_track(int fd, enum ps_open_kind kind, int flags, struct ps_file *file, const char *path);
/* fd now shares o's description (dup). */
void ps_fd_share(int newfd, struct ps_open *o);
/* Track fd as the shim does a descriptor inherited across exec (a file under a prefix, or a data file): its kind
 * (enum ps_open_kind), or -1 when it is not tracked. */
int ps_fd_adopt(int fd);
/* fn(fd, arg) for every descriptor the process has open (read from /proc/self/fd, not from the table). */
void ps_fd_each_open(void (*fn)(int fd, void *arg), void *arg);
/* Would a program that inherits fd need the shim or supervisor for it, by what the descriptor itself is (a data
 * file or directory of the shadow's, a lower directory)? Unlike the table, right in a vfork child too. */
int ps_fd_inherited_needs_merge(int fd);
int ps_fd_get_kind(int fd);
/* Does the kernel alone give fd's merged answers (the supervisor can hand it to a program as it is)? */
int ps_fd_kernel_serves(int fd);
int ps_fd_make_kernel_served(int fd, const char **why);
/* Forget fd (before the real close). Returns the description it had, with the table's reference moved to the
 * caller, or NULL. */
struct ps_open *ps_fd_forget(int fd);
/* May o be read (and mapped, as the kernel asks of any map)? */
static inline int ps_open_readable(const struct ps_open *o)
{
	return (o->flags & O_ACCMODE) != O_WRONLY && !(o->flags & O_PATH);
}
/* Calls through o that may change its file's bytes (write, truncate, fallocate, a shared writable map), change.h:
 * ps_open_change before one (-EROFS with deny, else 0), ps_open_changed after it, done says whether it changed
 * anything: the first that did is logged as a write (ps_open_log_change). */
void ps_open_log_change(struct ps_open *o);
/* Do open flags ask to change the file: write access, or O_TRUNC? */
static inline int ps_flags_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}
static inline int ps_open_writes(const struct ps_open *o)
{
	return __builtin_expect(__atomic_load_n(&ps_change_mode, __ATOMIC_RELAXED) != 0, 0) &&
	       o->kind == PS_OPEN_DATA && (o->flags & O_ACCMODE) != O_RDONLY;
}
static inline int ps_open_change(struct ps_open *o)
{
	return ps_open_writes(o) ? ps_change_permit(PS_CHANGE_WRITE, o->path, NULL) : 0;
}
static inline void ps_open_changed(struct ps_open *o, int done)
{
	if (done && ps_open_writes(o) && !__atomic_load_n(&o->changed, __ATOMIC_RELAXED))
		ps_open_log_change(o);
}
/* The file behind a merged descriptor (NULL for a plain lower fd). */
static inline struct ps_file *ps_open_merged(const struct ps_open *o)
{
	return o->file;
}

/* ---- maps.c ---- */
/* Does the process keep any maps in step (the fast path of munmap, mprotect, mremap, MAP_FIXED)? */
int ps_maps_any(void);
/* Does a lower file's own shared map wait for its file to get a record? */
int ps_maps_waiting(void);
/* Map o's file (partly the lower file's) page by page and keep the map in step with the shadow: the map, or
 * MAP_FAILED and *err. */
void *ps_maps_map(struct ps_open *o, void *addr, size_t len, int prot, int flags, off_t off, int *err);
/* Keep a shared map of o's lower file (fd, no record yet), made at addr, by name until the file gets one. */
void ps_maps_add_lower(struct ps_open *o, int fd, void *addr, size_t len, off_t off, int prot, int flags);
/* [addr, addr+len) was unmapped or replaced: its maps are no longer kept. */
void ps_maps_forget(void *addr, size_t len);
/* Lay out again f's maps where pages changed hands (taking over waiting lower maps of f). */
void ps_maps_refresh(struct ps_file *f);
/* Did a page of f change hands since its maps were laid out? */
static inline int ps_maps_behind(const struct ps_file *f)
{
	return ps_record_backing_gen(&f->rec) != __atomic_load_n(&f->mapped_gen, __ATOMIC_ACQUIRE);
}
/* On every call on a merged descriptor: one load when nothing changed. */
static inline void ps_maps_check(struct ps_file *f)
{
	if ((__atomic_load_n(&f->mapped, __ATOMIC_ACQUIRE) && ps_maps_behind(f)) || ps_maps_waiting())
		ps_maps_refresh(f);
}

/* A store at addr faulted: if it is a lower page of a shared writable map, copy it up and map the data file's
 * page over it, writable. 1: done, the store can run again; 0: not the shim's fault. */
int ps_maps_write_fault(void *addr);
/* Shared writable maps whose lower pages are not writable yet (the kernel's own writes into them fail EFAULT). */
extern int ps_maps_write_tracked;
/* Copy up the lower pages of shared writable maps in [buf, buf+n): before a read() the kernel writes into buf. */
void ps_maps_prefault_slow(void *buf, size_t n);
static inline void ps_maps_prefault(void *buf, size_t n)
{
	if (__atomic_load_n(&ps_maps_write_tracked, __ATOMIC_RELAXED) && n)
		ps_maps_prefault_slow(buf, n);
}
static inline void ps_maps_prefault_iov(const struct iovec *iov, int iovcnt)
{
	if (!__atomic_load_n(&ps_maps_write_tracked, __ATOMIC_RELAXED) || !iov || iovcnt <= 0 || iovcnt > IOV_MAX)
		return;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			ps_maps_prefault_slow(iov[i].iov_base, iov[i].iov_len);
}

/* ---- fault.c ---- */
/* Install the SIGSEGV handler that copies up pages stored into through shared maps (once). 0 or -errno. */
int ps_fault_arm(void);
/* Does the shim hold sig's real handler (the program's is kept aside)? */
int ps_fault_owns(int sig);
/* sigaction for a signal the shim owns: reads and sets the program's handler. *handled is 0 when sig is not one. */
int ps_fault_sigaction(int sig, const struct sigaction *act, struct sigaction *old, int *handled);
/* set without SIGSEGV (in *copy when it had it): the masks a program sets never block it. */
const sigset_t *ps_fault_unblockable(const sigset_t *set, sigset_t *copy);

/* ---- mmap.c ---- */
/* Lay out [addr, addr+len), already mapped, page by page for f from file offset off: each page from the lower
 * file or the data file (MAP_FIXED over it). 0 or -errno. */
int ps_map_layout(struct ps_file *f, void *addr, size_t len, int prot, int flags, off_t off);
/* Map len bytes of f at off (addr, flags as mmap's) and lay them out: the map, or MAP_FAILED and *err. */
void *ps_map_reserve_and_lay_out(struct ps_file *f, void *addr, size_t len, int prot, int flags, off_t off,
				 int *err);

/* ---- attr.c ---- */
/* Make t's lower symlink (st: its lstat) a symlink of the shadow's with the same target, owner, times and extended
 * attributes; its meta path (relative to the shadow directory) in meta. 0 or -errno. */
int ps_lower_symlink_own(const struct ps_target *t, const struct stat *st, char *meta, size_t metasz);

/* ---- namespace.c ---- */
/* May the program change the entries of t's directory (write and search permission on it, as merged)? 0 or
 * -errno. */
int ps_may_change_parent(const struct ps_target *t);
/* The same for a call that makes the name t (op on path, to; change.h): a missing or non-directory parent first,
 * then a denied change (EROFS), then the permission bits - the kernel's order. */
int ps_may_add_name(const struct ps_target *t, enum ps_change_op op, const char *path, const char *to);

/* ---- open.c ---- */
/* openat of a path inside the shadow directory for the program (a descriptor of its own), no symlink followed on
 * the way (beneath.h). */
int ps_shadow_openat(const struct ps_shadow *sh, const char *path, int flags, mode_t mode);
int ps_open_target(const struct ps_target *t, int flags, mode_t mode);
int ps_openat_impl(int dirfd, const char *path, int flags, mode_t mode);
/* What libc's own __open64_nocancel and __close_nocancel jump to (patch.c). */
int ps_open_nocancel(const char *path, int flags, ...);
int ps_close_nocancel(int fd);

/* ---- rw.c ---- */
ssize_t ps_read_fd(struct ps_open *o, int fd, void *buf, size_t n);
ssize_t ps_write_fd(struct ps_open *o, int fd, const void *buf, size_t n);
off_t ps_lseek_fd(struct ps_open *o, int fd, off_t off, int whence);

/* ---- stat.c ---- */
int ps_may_access(const struct stat *st, int mode, int effective);

#endif

/* The description behind fd when the shim must handle a call on it (the fd reads or writes a shadowed file),
 * with a reference and the guard held; NULL, guard released, when the call passes straight through;
 * PS_OPEN_REFUSED when it can be neither: a signal handler's call on a merged fd while the thread it interrupted
 * is inside the shim (which may hold the very locks the merge needs, and the real call would bypass the merge).
 * The wrapper then fails with ps_fd_refused(). */
struct ps_open *ps_fd_merged(int fd);
#define PS_OPEN_REFUSED ((struct ps_open *)-1)
long ps_fd_refused(int fd);
/* The test behind PS_OPEN_REFUSED, for wrappers that pass a call through without ps_fd_merged (the copies). */
int ps_fd_nested_refuses(int fd);
/* Drop o and the guard, and return rc with errno set by the rules above. */
long ps_fd_done(struct ps_open *o, long rc, int saved_errno);

/* Give a plain lower fd's file a record (the inode its locks live on), making o merged. 0 or -errno. */
int ps_open_attach_record(struct ps_open *o);
/* The descriptors a shimmed parent tells the new program to adopt, "PAGESHADOW_FDS=<kind><pid>:fd,fd,...": kind
 * PS_FDS_EXEC when the process <pid> exec'ed into it, PS_FDS_SPAWN when <pid> spawned it (posix_spawn without file
 * actions). */
#define PS_FDS_ENV "PAGESHADOW_FDS"
#define PS_FDS_EXEC 'e'
#define PS_FDS_SPAWN 's'
/* v in decimal at out (room for 20 digits), returning the end. The exec path uses it instead of snprintf: a fork
 * child faults in every page of code it runs, and vfprintf spans several. */
static inline char *ps_put_uint(char *out, unsigned long v)
{
	char digits[20];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*out++ = digits[--n];
	return out;
}
/* The descriptor of process pid (0: this one) that path names in that process (/dev/stdin, /dev/fd/N,
 * /proc/self/fd/N, /proc/PID/fd/N ...), else -1; ps_own_fd_name for this process. */
int ps_fd_name(const char *path, pid_t pid);
int ps_own_fd_name(const char *path);
/* The first descriptor above after (-1: from 0) that the shim tracks, or -1. */
int ps_fd_next(int after);
/* The tracked descriptors as "fd,fd,..." into buf; -1 when they do not fit. */
int ps_fd_list(char *buf, size_t sz);
/* Track the descriptors this process inherited from a shimmed parent across exec (`cmd < /ro/f`, `>> /ro/log`,
 * `exec 3<>/ro/f`): data-file fds become merged fds again, lower fds are watched for coherence. */
void ps_fd_adopt_inherited(void);
/* ---- syscall.c ---- */
/* 1 and *ret (libc's convention: -1 and errno) when number is a file call the shim routes to its wrapper; 0 to
 * pass it through. */
int ps_syscall_route(long number, const long a[6], long *ret);

/* ---- trap.c ---- */
/* Trap the inline system calls of this process's threads (start-up, configured shims). */
void ps_trap_init(void);
/* Around an exec: the new program inherits SIGSYS ignored or blocked if this one asked for it; a failed exec
 * traps again. */
void ps_trap_before_exec(void);
void ps_trap_after_exec_failed(void);
/* The calling thread's selector byte for Syscall User Dispatch: 1 blocks (traps) calls from outside libc. */
extern __thread char ps_trap_selector __attribute__((tls_model("initial-exec")));

/* ---- patch.c ---- */
/* Route glibc's own stat calls to the shim (start-up, configured shims only; it rebinds REAL's stat entries). */
void ps_patch_libc(void);

/* ---- exec.c ---- */
/* Remember what a new program needs to run under the shim (start-up), and remove the merged copy this program
 * was started from, if it was. */
void ps_exec_init(void);

/* ---- dir.c ---- */
/* Open the merged directory t for the program: a tracked descriptor, or -errno. */
int ps_dir_open(const struct ps_target *t, int flags);
/* lseek on a tracked directory moves its listing: 1 and *result (the new position or -errno), else 0. */
int ps_dir_lseek(int fd, off_t off, int whence, off_t *result);

/* ---- stdio.c ---- */
/* fd 0, 1 or 2 needs the merge (inherited: cmd < /ro/f after a write; or dup'ed there: a builtin's >&4 after
 * exec 4<>/ro/f): glibc's stdin/stdout/stderr would read and write it with internal syscalls, so the standard
 * stream is replaced by a merged one, once. */
void ps_stdio_replace_std(int fd);

/* Forget every tracked fd in [first, last] (close_range, closefrom). */
void ps_fd_forget_range(unsigned int first, unsigned int last);
/* One of the shim's descriptors moved (ps_fd_make_room): the descriptions' lock fds follow. */
void ps_fd_table_renumber(int from, int to);
/* Is cmd an fcntl lock command (F_SETLK, F_SETLKW, F_GETLK or an F_OFD_ form)? */
int ps_lock_cmd(int cmd);
/* fcntl locks on a tracked fd: cmd is F_SETLK/F_SETLKW/F_GETLK or an F_OFD_ form. */
int ps_lock_fcntl(struct ps_open *o, int fd, int cmd, struct flock *fl);
/* The same for another process (the supervisor's programs): its POSIX locks are taken as OFD locks on owner, a
 * record description of that process's own (ps_lock_record_open). */
int ps_lock_fcntl_as(struct ps_open *o, int fd, int cmd, struct flock *fl, int owner);
/* A new read-write description of o's record (made first where it has none), or -errno. */
int ps_lock_record_open(struct ps_open *o);
/* flock(2) of o's description, on the record. 0 or -errno. */
int ps_lock_flock(struct ps_open *o, int op);
/* Drop this process's POSIX locks on o's file, as closing any fd of a file does. */
void ps_lock_release_posix(struct ps_open *o);
