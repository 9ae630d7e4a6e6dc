/* sv.h - the supervisor: a shimmed process that answers the file calls of a program the shim cannot enter.
 *
 * A static or Go program runs under a seccomp filter (common/filter.c) whose notifications a supervisor process
 * receives. The supervisor is a fork of the shimmed process that execs the program, so it has the shim, its
 * configuration and its guard: it answers each call by making the same call itself, through the shim, and moving
 * the arguments and results between the two processes. See DESIGN.md "Programs the shim cannot enter".
 */
#ifndef PS_SV_H
#define PS_SV_H

#include "filter.h"

#include <linux/seccomp.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- supervise.c: the exec side ---- */
/* Before an exec of a program the shim cannot enter: start its supervisor and put this thread under the filter.
 * 0, or -errno with the reason said (the exec must then fail: without a supervisor the program would read stale
 * lower bytes). */
int ps_sv_prepare_exec(const char *path);
/* Is this process supervised (so its shim stands aside)? Asked once at start-up. */
int ps_sv_supervised(void);
/* init.c: this process is under the filter from now on; its shim stands aside. */
void ps_sv_became_supervised(void);

/* kcmp's types (linux/kcmp.h, which not every libc's headers carry). */
#ifndef KCMP_FILE
#define KCMP_FILE 0
#define KCMP_VM 1
#define KCMP_FILES 2
#endif

/* ---- sv_loop.c: the supervisor ---- */
/* Serve listener until no process uses the filter; never returns. */
void __attribute__((noreturn)) ps_sv_serve(int listener, unsigned threshold);

/* One notification being answered. */
struct sv_call {
	const struct seccomp_notif *n;
	int listener;
	unsigned threshold;
	pid_t pid;
	uint64_t a[6];
	char *buf;      /* this worker's transfer buffer */
	int cwd_kept;   /* the supervisor keeps the program's working directory (sv_cwd.c): 1, 0, -1 not asked yet */
	int *turn;      /* this worker holds the turn to receive (sv_loop.c) */
	size_t bufsz;
};

/* A handler's answer: a result (>= 0), -errno, or one of these. */
#define SV_CONTINUE (-100000L) /* let the kernel run the call as the program made it */
#define SV_ANSWERED (-100001L) /* answered already (an installed descriptor) */

/* A call that has to wait after all: another worker receives meanwhile. */
void sv_turn_release(const struct sv_call *c);

/* Is the notification still the program's (the pid not reused since)? */
int sv_valid(const struct sv_call *c);

/* ---- sv_mem.c: the program's memory ---- */
/* Read a NUL-terminated path of at most PATH_MAX bytes. 0, -EFAULT, -ENAMETOOLONG. */
int sv_read_string(const struct sv_call *c, uint64_t addr, char *out, size_t outsz);
/* Copy n bytes from or to the program. 0 or -EFAULT (also for a partial copy). */
int sv_peek(const struct sv_call *c, uint64_t addr, void *out, size_t n);
int sv_poke(const struct sv_call *c, uint64_t addr, const void *in, size_t n);
/* A number field of /proc/PID/status ("Umask:", "Tgid:"), read in base. 0, or -1. */
int sv_proc_status(pid_t pid, const char *field, int base, long *value);
/* The process of thread tid (tid itself when /proc does not say). */
pid_t sv_tgid_of(pid_t tid);

/* ---- sv_fd.c: the program's descriptors ---- */
/* The supervisor's descriptor for the program's descriptor fd when fd needs the merge: a reference, given back
 * with sv_fd_put; -1 when the kernel may run the call on fd as it is. */
int sv_fd_get(const struct sv_call *c, int fd);
void sv_fd_put(const struct sv_call *c, int fd, int s);
#define SV_FD_TRANSIENT 0x40000000 /* or'ed into sv_fd_get's answer: a descriptor for this call alone */
#define SV_FD(s) ((s) & ~SV_FD_TRANSIENT)
/* The program is about to close fd. */
void sv_fd_closed(const struct sv_call *c, int fd);
/* The program is about to close the numbers first..last (close_range). */
void sv_fd_range_closed(const struct sv_call *c, unsigned first, unsigned last);
/* An exec or an exit: numbers may have closed without a call that says so (close-on-exec). */
void sv_fd_new_generation(void);
/* The calling process exits: its entries go (and with them the supervisor's references to its files). */
void sv_fd_process_exits(const struct sv_call *c);
/* The program's descriptor fd, fetched (pidfd_getfd) and adopted by the shim: the supervisor's copy when it is a
 * file under a prefix (merged or not), else -1. The caller closes it. */
int sv_fd_fetch(const struct sv_call *c, int fd);
/* The program's descriptor fd as it is (pidfd_getfd, close-on-exec), not adopted, or -1. */
int sv_fd_fetch_plain(const struct sv_call *c, int fd);
/* Answer the call with the supervisor's descriptor s installed in the program: from the threshold up when it needs
 * the merge, else at the lowest free number (and s closed: the program's copy is all it needs). s is consumed
 * either way. SV_ANSWERED or -errno. */
long sv_fd_install(const struct sv_call *c, int s, int cloexec);
/* The same at the lowest free number from min up (fcntl F_DUPFD; min 0: anywhere). */
long sv_fd_install_from(const struct sv_call *c, int s, int min, int cloexec);
/* The same at the program's number (dup2 onto a number from the threshold up). */
long sv_fd_install_at(const struct sv_call *c, int s, int number, int cloexec);
/* Install s in the program without answering (the call goes on afterwards): at number, replacing the merged file
 * there, or at the lowest free number when number is -1; with no entry (a plain file, fetched if the program
 * uses it from the threshold up). The number, or -errno; s stays the caller's. */
int sv_fd_place(const struct sv_call *c, int s, int number, int cloexec);
/* Before serving: the program starts with s (the supervisor's copy) at fd, a merged file - a standard descriptor
 * or one of the low numbers the filter sends. */
void sv_fd_inherited(int fd, int s);
/* Does the filter send the calls on fd (0-2, a low number, the threshold's room)? */
int sv_fd_sent(const struct sv_call *c, int fd);
/* Does the kernel alone give the merged answers for s (the supervisor's descriptor from an open through the shim)? */
int sv_fd_kernel_serves(int s);
/* Make it so (ps_fd_make_kernel_served): 0, or -errno and *why. */
int sv_fd_make_kernel_served(int s, const char **why);

/* The last numbers of the room from the threshold up are never a merged file's: */
#define SV_EXEC_NUMBER(threshold) ((int)((threshold) + PS_FILTER_ROOM - 1)) /* sv_exec.c: a script's file */
#define SV_CWD_NUMBER(threshold) ((int)((threshold) + PS_FILTER_ROOM - 2))  /* sv_cwd.c: the working directory */
#define SV_MERGED_ROOM (PS_FILTER_ROOM - 2)

/* ---- sv_cwd.c: a working directory the kernel cannot enter ---- */
/* The program's working directory where it is not the kernel's (a directory only the shadow has): the
 * supervisor's O_PATH descriptor of it, for the caller to close; -1 when the kernel's is the program's. */
int sv_cwd_open(const struct sv_call *c);
/* Make the directory dir (the supervisor's descriptor) the program's working directory. 0 or -errno. */
int sv_cwd_set(const struct sv_call *c, int dir);
/* The kernel's working directory is the program's again (its chdir or fchdir goes on). */
void sv_cwd_clear(const struct sv_call *c);
/* Before an exec goes on: the program keeps its working directory across it. */
void sv_cwd_keep(const struct sv_call *c);
/* The program closes first..last (close, close_range with flags): the kept directory's number among them is put
 * back when it is needed. */
void sv_cwd_closing(const struct sv_call *c, unsigned first, unsigned last, unsigned flags);
/* The calling process exits. */
void sv_cwd_process_exits(const struct sv_call *c);

/* Put s at the program's number without answering, and without touching the entries: the description there
 * stays the supervisor's (sv_mmap.c lends the number to a copy for one call). 0 or -errno. */
int sv_fd_swap(const struct sv_call *c, int s, int number, int cloexec);

/* ---- sv_mmap.c: maps of a partly shadowed file ---- */
/* The program maps [off, off + len) of its descriptor fd, the supervisor's merged file s, with prot, shared or
 * private: a copy of the merged bytes is lent to it at fd (a shared one kept in step). SV_CONTINUE or -errno. */
long sv_map(const struct sv_call *c, int fd, int s, uint64_t off, uint64_t len, int prot, int shared);
/* A memfd as large as the merged file s, holding its merged bytes in [off, off + len). Its descriptor or -errno. */
int sv_merged_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len);

/* ---- sv_mirror.c: the copies shared maps are made of, kept in step with their files ---- */
/* Does process pid map the copy (a memfd) whose inode is ino? 1, 0, or -1 when its maps cannot be read. */
int sv_copy_mapped(pid_t pid, ino_t ino);
/* The copy a shared map of [off, off + len) of s's file is lent (writable: the map has PROT_WRITE): another
 * descriptor of it, or -errno. */
int sv_mirror_copy(const struct sv_call *c, int s, uint64_t off, uint64_t len, int writable);
/* Does a copy of the file s back shared maps now? */
int sv_mirror_held(int s);
/* The supervisor's write of n bytes at off of the file s (off < 0: at s's offset), made to its mirror too.
 * write(2)'s answer, errno kept. */
ssize_t sv_map_write(int s, const void *bytes, size_t n, off_t off);
/* The file s (-1: some file) changed in [from, to) and perhaps in size, by a call that did not say how. */
void sv_map_changed(int s, uint64_t from, uint64_t to);
/* Before any call on fd: a number lent to a copy is given back (1), once the map is made. */
int sv_map_give_back(const struct sv_call *c, int fd);
/* Were numbers lent to copies (so that a number may hold one now)? */
int sv_map_active(void);
/* fd has no entry for c: a copy a child inherited, lent to its parent, is given back. 1 (look again), or 0. */
int sv_map_given_back(const struct sv_call *c, int fd);
/* The calling process exits: its lent copies go, its stores through shared maps reach the files. */
void sv_map_process_exits(const struct sv_call *c);
/* Before a call that reads [from, to) of the file s (a sync: 0, UINT64_MAX): the stores through shared maps of it
 * there reach it (c: the caller, whose receive turn is handed over for a long comparison; NULL: none). */
void sv_map_sync_file(const struct sv_call *c, int s, uint64_t from, uint64_t to);
/* The stores through the maps lent to the calling process reach their files (msync, exec). */
void sv_map_sync_process(const struct sv_call *c);
/* The calling process exits (exit_group) / process tgid is gone (sv_watch.c). */
void sv_mirror_process_exits(const struct sv_call *c);
void sv_mirror_process_gone(pid_t tgid);
/* The supervisor ends: every store through a shared map reaches its file. */
void sv_map_end(void);

/* ---- sv_lock.c: fcntl and flock locks on a merged descriptor, on the record as the shim's ---- */
/* fcntl(fd, cmd, addr) with a lock command, fd the supervisor's merged descriptor s. A result, -errno or
 * SV_CONTINUE. */
long sv_lock_fcntl(const struct sv_call *c, int s, int cmd, uint64_t addr);
/* flock(fd, op) on the merged descriptor s. */
long sv_lock_flock(const struct sv_call *c, int s, int op);
/* The calling process closes a descriptor of s's file: its POSIX locks there go. */
void sv_lock_closing(const struct sv_call *c, int s);
/* The entries of threads that are gone (a killed process's): their descriptions go, and the flock and OFD locks
 * the supervisor took through them. */
void sv_fd_drop_dead(void);
/* Process tgid exits (exit_group) or is gone: its POSIX locks go (and, gone, its flock and OFD locks). */
void sv_lock_process_gone(pid_t tgid);

/* ---- sv_watch.c: processes whose end must be acted on, though a killed one says nothing ---- */
/* Watch tgid: sv_lock_process_gone and sv_mirror_process_gone are called when it ends. 0 or -errno. */
int sv_watch(pid_t tgid);

/* ---- sv_exec.c: exec of a file under a prefix ---- */
struct sv_exec_target {
	int s;              /* the file, opened through the shim */
	const char *shown;  /* its name, for messages */
	uint64_t addr;      /* the program's path string ... */
	const char *given;  /* ... as it reads ... */
	size_t room;        /* ... and its size with the NUL (0: none) */
	int same_fd;        /* >= 0: fexecve of this merged descriptor of the program's */
	int kernel_fd;      /* what the kernel finds at the program's path, opened raw, or -1 */
};
/* The program execs t->s. SV_CONTINUE - perhaps after giving the kernel the merged file under a new name - or
 * -errno. */
long sv_exec(const struct sv_call *c, const struct sv_exec_target *t);
/* Before an exec is looked at: a name a vfork child's exec rewrote in memory this process shares is put back. */
void sv_exec_before(const struct sv_call *c);
/* Any call: the same for names rewritten in this process's memory by its vfork children. */
void sv_exec_undo_shared(const struct sv_call *c);
/* The calling process exits / the supervisor ends: the merged copies run by it / by anyone go. */
void sv_exec_process_exits(const struct sv_call *c);
void sv_exec_end(void);

/* ---- sv_calls.c ---- */
long sv_dispatch(struct sv_call *c);

#endif
