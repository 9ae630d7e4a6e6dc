/* sv_calls.c - the supervisor's answer to each call of supervised.def (sv.h).
 *
 * Each handler makes the program's call itself, through the shim's own wrappers, on the same file: a path under
 * a prefix (or relative to a directory that is one of the shadow's) is resolved from the program's working
 * directory or directory descriptor, opened here as an O_PATH descriptor of /proc/PID/cwd or /proc/PID/fd/N; a
 * merged descriptor is the supervisor's own (sv_fd.c). Arguments and results move with process_vm_readv/writev.
 * A path outside every prefix, and a descriptor that needs no merge, are left to the kernel (CONTINUE): the
 * supervisor never opens or changes anything for the program there, so a path rewritten by another thread after
 * it was read reaches the kernel as the program's own call would - under the guard.
 */
#include "sv.h"
#include "shim.h"
#include "filter.h"
#include "log.h"
#include "path.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define ARG(c, i, type) ((type)(c)->a[i])
#define INT(c, i) ((int)(c)->a[i])

static long result(long rc)
{
	return rc < 0 ? -errno : rc;
}

/* rc, of a call that changed [from, to) of the merged file s (-1: some file), and perhaps its size: its shared
 * maps follow (sv_mirror.c). */
static int changed(int s, int rc, uint64_t from, uint64_t to)
{
	int saved = errno;

	if (rc >= 0)
		sv_map_changed(s, from, to);
	errno = saved;
	return rc;
}

/* s, whose bytes [off, off + n) a call reads (off < 0: from its offset; 0, UINT64_MAX: a sync): the stores there
 * through shared maps of its file are in it first (sv_mirror.c). */
static int synced(const struct sv_call *c, int s, off_t off, uint64_t n)
{
	uint64_t from = off >= 0 ? (uint64_t)off : (uint64_t)REAL(syscall)(SYS_lseek, s, 0, SEEK_CUR);

	sv_map_sync_file(c, s, from, n > UINT64_MAX - from ? UINT64_MAX : from + n);
	return s;
}
#define WHOLE_FILE 0, UINT64_MAX

static int attr_fd(const struct sv_call *c, int fd, int *fetched);
static void attr_fd_done(const struct sv_call *c, int fd, int s, int fetched);

/* ---- where a path leads ---- */

struct sv_at {
	int dirfd;    /* for the shim: AT_FDCWD (an absolute path), or a descriptor of the program's directory */
	int own;      /* 1: dirfd is ours to close; 2: a merged descriptor to give back (fd) */
	int fd;       /* the program's descriptor behind own == 2 */
	int kept;     /* a relative path from the working directory the supervisor keeps (the kernel's is another) */
	char path[PATH_MAX];
};

#define AT_ANY 1   /* prepare dirfd even for a path outside the prefixes (the other name of a rename) */
#define AT_EMPTY 2 /* an empty path names the descriptor itself (AT_EMPTY_PATH) */
#define AT_CHANGE 4 /* the call changes what it names: a plain descriptor of a lower file is the shim's too */
#define AT_FOLLOW 8 /* the call follows the last name: /dev/stdin and /proc/self/fd/N name descriptors */
#define FOLLOW_IF(flags) (((flags) & AT_SYMLINK_NOFOLLOW) ? 0 : AT_FOLLOW)
#define EMPTY_IF(flags) (((flags) & AT_EMPTY_PATH) ? AT_EMPTY : 0)

static void at_done(const struct sv_call *c, struct sv_at *at)
{
	if (at->own == 1)
		close(at->dirfd);
	else if (at->own == 2)
		sv_fd_put(c, at->fd, at->dirfd);
	at->own = 0;
}

/* Does the supervisor keep the program's working directory (sv_cwd.c)? Asked once per call. */
static int cwd_kept(struct sv_call *c)
{
	int d;

	if (c->cwd_kept < 0) {
		d = sv_cwd_open(c);
		c->cwd_kept = d >= 0;
		if (d >= 0)
			REAL(close)(d);
	}
	return c->cwd_kept;
}

/* /proc's name for the program's working directory (AT_FDCWD) or directory descriptor. */
static void program_dir_link(struct sv_call *c, int dirfd, char link[64])
{
	if (dirfd == AT_FDCWD && !cwd_kept(c))
		snprintf(link, 64, "/proc/%d/cwd", (int)c->pid);
	else
		snprintf(link, 64, "/proc/%d/fd/%d", (int)c->pid, dirfd == AT_FDCWD ? SV_CWD_NUMBER(c->threshold) : dirfd);
}

/* The kernel's own working directory of the program, opened O_PATH, or -1. */
static int open_kernel_cwd(const struct sv_call *c)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->pid);
	return (int)REAL(syscall)(SYS_openat, AT_FDCWD, link, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* What the kernel itself finds at the program's name - from its own working directory where the supervisor keeps
 * another (at->kept) - opened raw with flags (and O_CLOEXEC), or -1. */
static int kernel_open(const struct sv_call *c, const struct sv_at *at, int flags)
{
	int kdir = at->kept ? open_kernel_cwd(c) : at->dirfd, k;

	if (kdir == -1)
		return -1;
	k = (int)REAL(syscall)(SYS_openat, kdir, at->path, flags | O_CLOEXEC);
	if (at->kept)
		REAL(close)(kdir);
	return k;
}

/* Are the descriptors a and b (either may be -1) of one object? */
static int same_inode(int a, int b)
{
	struct stat sa, sb;

	return a >= 0 && b >= 0 && REAL(fstat)(a, &sa) == 0 && REAL(fstat)(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The program's name for its working directory, /proc/PID/cwd (program_proc_self made /proc/self one): what
 * follows it ("" or "/..."), or NULL for another name. */
static const char *proc_cwd_rest(const struct sv_call *c, const char *path)
{
	char own[32];
	size_t n = (size_t)snprintf(own, sizeof(own), "/proc/%d/cwd", (int)c->pid);

	return strncmp(path, own, n) == 0 && (!path[n] || path[n] == '/') ? path + n : NULL;
}

/* The program's directory by its merged name: 0 and mapped (a directory of the shadow's data tree), or -1. */
static int program_dir(struct sv_call *c, int dirfd, char *out, size_t outsz, int *mapped)
{
	char link[64];
	ssize_t n;

	program_dir_link(c, dirfd, link);
	n = REAL(readlink)(link, out, outsz - 1); /* (the kernel's name: mapped below) */
	if (n <= 0 || out[0] != '/')
		return -1;
	out[n] = '\0';
	*mapped = ps_merged_name(out, outsz);
	return 0;
}

static int open_program_dir(struct sv_call *c, int dirfd)
{
	char link[64];

	program_dir_link(c, dirfd, link);
	return (int)REAL(syscall)(SYS_openat, AT_FDCWD, link, O_PATH | O_CLOEXEC);
}

/* A path through /proc/self or /proc/thread-self means the program's own (linkat of /proc/self/fd/N). */
static int program_proc_self(const struct sv_call *c, char *path, size_t pathsz)
{
	static const char *const selves[] = { "/proc/self/", "/proc/thread-self/" };
	char rest[PATH_MAX];

	for (size_t i = 0; i < sizeof(selves) / sizeof(selves[0]); i++) {
		size_t n = strlen(selves[i]);

		if (strncmp(path, selves[i], n) != 0)
			continue;
		snprintf(rest, sizeof(rest), "%s", path + n);
		if ((size_t)snprintf(path, pathsz, "/proc/%d/%s", (int)c->pid, rest) >= pathsz)
			return -ENAMETOOLONG;
		break;
	}
	return 0;
}

/* A name of one of the program's own descriptors (`prog /dev/stdin </ro/f`, /dev/fd/N, /proc/self/fd/N). For a
 * merged one the kernel would open the file under it anew - its data file, its lower file - so the shim does, by
 * the supervisor's descriptor of it (open.c). For a call that changes what it names, or links it, a plain one too:
 * glibc's fchmodat(AT_SYMLINK_NOFOLLOW) changes the mode of an O_PATH descriptor of a lower file by its
 * /proc/self/fd name, and linkat gives an O_TMPFILE file made in the shadow its name by one. 1 (at names it,
 * held), or 0. */
static int own_descriptor(const struct sv_call *c, int how, struct sv_at *at)
{
	int fd = (how & AT_FOLLOW) ? ps_fd_name(at->path, c->pid) : -1, s;

	if (fd < 0)
		return 0; /* (readlink, lstat, unlink ... of /dev/stdin name the link itself) */
	if ((s = sv_fd_get(c, fd)) >= 0) {
		at->own = 2;
		at->fd = fd;
	} else if ((how & (AT_ANY | AT_CHANGE)) && (s = sv_fd_fetch_plain(c, fd)) >= 0) {
		at->own = 1;
	} else {
		return 0;
	}
	at->dirfd = s;
	snprintf(at->path, sizeof(at->path), "/proc/self/fd/%d", SV_FD(s));
	return 1;
}

/* The program's /proc/PID/cwd, where the supervisor keeps its working directory: a name below it is resolved from
 * the kept one (the kernel would start from its own). 1 (at set), 0, -errno. The link itself: sv_readlink. */
static int proc_cwd(struct sv_call *c, int how, struct sv_at *at)
{
	const char *rest = proc_cwd_rest(c, at->path);

	if (!rest || (!*rest && !(how & AT_FOLLOW)) || !cwd_kept(c))
		return 0;
	if ((at->dirfd = open_program_dir(c, AT_FDCWD)) < 0)
		return 0;
	at->own = 1;
	at->kept = 1; /* (the kernel resolves the name from its own directory) */
	memmove(at->path, *rest ? rest + 1 : ".", strlen(*rest ? rest + 1 : ".") + 1);
	if (!at->path[0])
		strcpy(at->path, ".");
	return 1;
}

/* Is the program's plain descriptor fd one of a file under a prefix (a lower file it opened read-only)? */
static int plain_under_prefix(struct sv_call *c, int fd)
{
	char name[PATH_MAX];
	const char *rel;
	int mapped;

	return program_dir(c, fd, name, sizeof(name), &mapped) == 0 && !mapped && /* (a data file: the kernel's) */
	       ps_config_match(&ps_cfg, name, &rel) >= 0;
}

/* 1: the shim must answer (at filled); 0: the kernel may (CONTINUE); -errno. With AT_ANY, at is filled for a path
 * outside too (the other name of a rename or link); the answer still says where the path lies. */
static int at_get(struct sv_call *c, int dirfd, uint64_t addr, int how, struct sv_at *at)
{
	char base[PATH_MAX], lexical[PATH_MAX];
	const char *rel;
	int rc, mapped = 0, inside;

	at->own = 0;
	at->kept = 0;
	at->dirfd = AT_FDCWD;
	if (!addr && (how & AT_EMPTY))
		at->path[0] = '\0';
	else if ((rc = sv_read_string(c, addr, at->path, sizeof(at->path))) < 0)
		return rc;
	if (!at->path[0]) {
		if ((how & AT_EMPTY) && dirfd == AT_FDCWD && cwd_kept(c) && (at->dirfd = open_program_dir(c, dirfd)) >= 0) {
			at->own = 1; /* fstatat(AT_FDCWD, "", AT_EMPTY_PATH): the working directory the supervisor keeps */
			return 1;
		}
		at->dirfd = AT_FDCWD;
		if (!(how & AT_EMPTY) || dirfd < 0)
			return 0;
		if ((at->dirfd = sv_fd_get(c, dirfd)) >= 0) {
			at->own = 2;
			at->fd = dirfd;
			return 1;
		}
		if ((how & (AT_ANY | AT_CHANGE)) && ((at->dirfd = sv_fd_fetch(c, dirfd)) >= 0 ||
						     (at->dirfd = sv_fd_fetch_plain(c, dirfd)) >= 0)) {
			at->own = 1; /* a plain descriptor: the shim decides whether it lies under a prefix (an O_TMPFILE
				      * file of the shadow's is not adopted, and is given its name by the shim) */
			return 1;
		}
		if (plain_under_prefix(c, dirfd) && (at->dirfd = sv_fd_fetch(c, dirfd)) >= 0) {
			at->own = 1; /* glibc's fstat of a lower file: attributes the shadow changed since it opened */
			return 1;
		}
		at->dirfd = AT_FDCWD;
		return 0;
	}
	if (at->path[0] == '/') {
		if ((rc = own_descriptor(c, how, at)) != 0)
			return rc;
		if ((rc = program_proc_self(c, at->path, sizeof(at->path))) < 0)
			return rc;
		if ((rc = proc_cwd(c, how, at)) != 0)
			return rc;
		inside = ps_path_normalize("/", at->path, lexical, sizeof(lexical)) >= 0 &&
			 ps_config_match(&ps_cfg, lexical, &rel) >= 0;
		return inside;
	}
	if (dirfd != AT_FDCWD && (at->dirfd = sv_fd_get(c, dirfd)) >= 0) { /* a merged directory */
		at->own = 2;
		at->fd = dirfd;
		return 1;
	}
	at->dirfd = AT_FDCWD;
	if (program_dir(c, dirfd, base, sizeof(base), &mapped) < 0)
		return 0; /* a bad descriptor, an unreachable directory: the kernel says so */
	/* (from a working directory the supervisor keeps, the kernel would start in another: every name is served) */
	at->kept = dirfd == AT_FDCWD && cwd_kept(c);
	inside = at->kept || mapped ||
		 (ps_path_normalize(base, at->path, lexical, sizeof(lexical)) >= 0 &&
		  ps_config_match(&ps_cfg, lexical, &rel) >= 0);
	if (!inside && !(how & AT_ANY))
		return 0;
	if ((at->dirfd = open_program_dir(c, dirfd)) < 0)
		return 0;
	at->own = 1;
	if (!sv_valid(c)) { /* the pid was reused: the directory is another process's */
		at_done(c, at);
		return -ESRCH;
	}
	return inside;
}

/* This worker's working directory at the program's, for the calls that take a path without a directory. */
static int at_enter(const struct sv_at *at)
{
	if (at->dirfd == AT_FDCWD || at->path[0] == '/') /* (an own descriptor's name: dirfd is the file held) */
		return 0;
	return REAL(syscall)(SYS_fchdir, at->dirfd) < 0 ? -errno : 0;
}

/* The program's umask, for calls that create: /proc/PID/status says it. */
static void take_umask(const struct sv_call *c)
{
	long mask;

	if (sv_proc_status(c->pid, "Umask:", 8, &mask) == 0)
		umask((mode_t)mask);
}

/* The common shape of a path call: resolve (dirfd, path) into `at`, make call (an expression naming at.dirfd
 * and at.path) through the shim, answer its result; CONTINUE outside the prefixes. */
#define ANSWER_AT(c, dirfd, path, how, call)                                                                       \
	({                                                                                                         \
		struct sv_at at;                                                                                   \
		long rc_ = at_get(c, dirfd, path, how, &at);                                                       \
		if (rc_ > 0) {                                                                                     \
			rc_ = result(call);                                                                        \
			at_done(c, &at);                                                                           \
		} else if (rc_ == 0) {                                                                             \
			rc_ = SV_CONTINUE;                                                                         \
		}                                                                                                  \
		rc_;                                                                                               \
	})

/* ---- opens ---- */

/* ADDFD installs no O_PATH descriptor (the kernel takes the supervisor's with fget, which skips them). Where the
 * kernel finds the same object at the program's path - a lower file, directory or symlink - it makes the open
 * itself: an O_PATH descriptor reads and changes nothing, whatever the path says by then. A file or directory of
 * the shadow's is installed readable instead, through the shim (merged), which every use of an O_PATH descriptor
 * accepts: a directory for the *at calls, fstat, fchdir, /proc/self/fd/N. s (the supervisor's O_PATH open) is
 * consumed; the answer: a descriptor to install, SV_CONTINUE, or -errno. */
static int path_descriptor(const struct sv_call *c, const struct sv_at *at, int s, int flags)
{
	int kernel = kernel_open(c, at, flags & (O_PATH | O_NOFOLLOW | O_DIRECTORY));
	struct stat ours;
	char self[32];
	int readable = -EBADF;

	if (fstat(s, &ours) < 0) {
		readable = -errno;
	} else if (same_inode(s, kernel)) {
		readable = (int)SV_CONTINUE;
	} else if (S_ISDIR(ours.st_mode) || S_ISREG(ours.st_mode)) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", s);
		readable = openat(AT_FDCWD, self, O_RDONLY | O_CLOEXEC | (S_ISDIR(ours.st_mode) ? O_DIRECTORY : 0));
		if (readable < 0)
			readable = -errno;
	} else {
		ps_refusal("supervisor: process %d opens %s with O_PATH: a %s made in the shadow cannot be handed over "
			   "so: ENOTSUP", (int)c->pid, at->path, S_ISLNK(ours.st_mode) ? "symlink" : "special file");
		readable = -ENOTSUP;
	}
	if (kernel >= 0)
		REAL(close)(kernel);
	close(s);
	return readable;
}

static long do_open(struct sv_call *c, int dirfd, uint64_t path, int flags, mode_t mode)
{
	int writes = ps_flags_write(flags);
	struct sv_at at;
	int rc = at_get(c, dirfd, path, ((flags & O_NOFOLLOW) ? 0 : AT_FOLLOW) | (writes ? AT_CHANGE : 0), &at), s;

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if (flags & (O_CREAT | __O_TMPFILE))
		take_umask(c);
	s = openat(at.dirfd, at.path, flags | O_CLOEXEC, mode);
	rc = s < 0 ? -errno : 0;
	if (s >= 0 && (flags & O_TRUNC) && ps_flags_write(flags))
		changed(s, 0, 0, 0); /* (the size) */
	if (s >= 0 && (flags & O_PATH))
		rc = s = path_descriptor(c, &at, s, flags); /* (or SV_CONTINUE) */
	at_done(c, &at);
	if (rc < 0)
		return rc;
	return sv_fd_install(c, s, flags & O_CLOEXEC);
}

#ifdef SYS_open
static long sv_open(struct sv_call *c) { return do_open(c, AT_FDCWD, c->a[0], INT(c, 1), (mode_t)c->a[2]); }
static long sv_creat(struct sv_call *c)
{
	return do_open(c, AT_FDCWD, c->a[0], O_CREAT | O_WRONLY | O_TRUNC, (mode_t)c->a[1]);
}
#endif
static long sv_openat(struct sv_call *c) { return do_open(c, INT(c, 0), c->a[1], INT(c, 2), (mode_t)c->a[3]); }

static long sv_openat2(struct sv_call *c)
{
	struct open_how how = { 0 };
	size_t size = ARG(c, 3, size_t);
	struct sv_at at;
	int rc;

	if (size < sizeof(how))
		return SV_CONTINUE; /* the kernel says EINVAL */
	if (sv_peek(c, c->a[2], &how, sizeof(how)) < 0)
		return -EFAULT;
	if (!how.resolve)
		return do_open(c, INT(c, 0), c->a[1], (int)how.flags, (mode_t)how.mode);
	if ((rc = at_get(c, INT(c, 0), c->a[1], 0, &at)) <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	at_done(c, &at);
	ps_debug("supervisor: openat2 with RESOLVE_ flags under a prefix: ENOSYS (the program falls back to openat)");
	return -ENOSYS;
}

/* ---- names ---- */

static long do_stat(struct sv_call *c, int dirfd, uint64_t path, uint64_t buf, int flags)
{
	struct sv_at at;
	struct stat st;
	int rc = at_get(c, dirfd, path, EMPTY_IF(flags) | FOLLOW_IF(flags), &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	rc = fstatat(at.dirfd, at.path, &st, flags);
	rc = rc < 0 ? -errno : 0;
	at_done(c, &at);
	return rc < 0 ? rc : sv_poke(c, buf, &st, sizeof(st));
}

#ifdef SYS_open
static long sv_stat(struct sv_call *c) { return do_stat(c, AT_FDCWD, c->a[0], c->a[1], 0); }
static long sv_lstat(struct sv_call *c) { return do_stat(c, AT_FDCWD, c->a[0], c->a[1], AT_SYMLINK_NOFOLLOW); }
#endif
static long sv_newfstatat(struct sv_call *c) { return do_stat(c, INT(c, 0), c->a[1], c->a[2], INT(c, 3)); }

static long sv_statx(struct sv_call *c)
{
	struct sv_at at;
	struct statx stx;
	int flags = INT(c, 2);
	int rc = at_get(c, INT(c, 0), c->a[1], EMPTY_IF(flags) | FOLLOW_IF(flags), &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	rc = statx(at.dirfd, at.path, flags, (unsigned)c->a[3], &stx);
	rc = rc < 0 ? -errno : 0;
	at_done(c, &at);
	return rc < 0 ? rc : sv_poke(c, c->a[4], &stx, sizeof(stx));
}

static long do_access(struct sv_call *c, int dirfd, uint64_t path, int mode, int flags)
{
	return ANSWER_AT(c, dirfd, path, EMPTY_IF(flags) | FOLLOW_IF(flags), faccessat(at.dirfd, at.path, mode, flags));
}

#ifdef SYS_open
static long sv_access(struct sv_call *c) { return do_access(c, AT_FDCWD, c->a[0], INT(c, 1), 0); }
#endif
static long sv_faccessat(struct sv_call *c) { return do_access(c, INT(c, 0), c->a[1], INT(c, 2), 0); }
static long sv_faccessat2(struct sv_call *c) { return do_access(c, INT(c, 0), c->a[1], INT(c, 2), INT(c, 3)); }

/* A link of the program's /proc (or /dev/fd) that names a file or directory of the shadow's (a merged descriptor's
 * data file, an executable run from one) names it by its place in the read-only tree, as the shim's readlink
 * does (link.c); any other is the kernel's, and so are the errors (a size of 0 or past INT_MAX: EINVAL). Only a
 * name the shadow's own is answered here: a link like /proc/self, read by the supervisor, would be its own. */
static long readlink_proc(struct sv_call *c, int dirfd, const char *path, uint64_t buf, size_t size)
{
	char target[PATH_MAX + 16], full[PATH_MAX], base[PATH_MAX];
	int mapped, len;
	ssize_t n;

	if (size == 0 || size > INT_MAX)
		return SV_CONTINUE;
	if (path[0] != '/' && (dirfd == AT_FDCWD || program_dir(c, dirfd, base, sizeof(base), &mapped) < 0))
		return SV_CONTINUE;
	if (path[0] != '/') /* (from a directory of /proc the program opened) */
		len = snprintf(full, sizeof(full), "%s/%s", base, path);
	else if (!strncmp(path, "/dev/fd/", 8))
		len = snprintf(full, sizeof(full), "/proc/%d/fd/%s", (int)c->pid, path + 8);
	else
		len = snprintf(full, sizeof(full), "%s", path);
	if ((size_t)len >= sizeof(full) || strncmp(full, "/proc/", 6) != 0 ||
	    program_proc_self(c, full, sizeof(full)) < 0)
		return SV_CONTINUE;
	n = REAL(readlink)(full, target, sizeof(target) - 1);
	if (n <= 0 || target[0] != '/')
		return SV_CONTINUE;
	target[n] = '\0';
	if (!ps_merged_link_name(target, sizeof(target)))
		return SV_CONTINUE;
	n = (ssize_t)strlen(target);
	n = (size_t)n < size ? n : (ssize_t)size;
	return sv_poke(c, buf, target, (size_t)n) < 0 ? -EFAULT : n;
}

static long do_readlink(struct sv_call *c, int dirfd, uint64_t path, uint64_t buf, size_t size)
{
	char target[PATH_MAX];
	struct sv_at at;
	ssize_t n;
	int rc = at_get(c, dirfd, path, AT_EMPTY, &at), mapped;
	const char *rest = rc == 0 ? proc_cwd_rest(c, at.path) : NULL;

	if (rest && !*rest && cwd_kept(c)) { /* the working directory the supervisor keeps */
		if (program_dir(c, AT_FDCWD, target, sizeof(target), &mapped) < 0)
			return SV_CONTINUE;
		n = (ssize_t)strlen(target) < (ssize_t)size ? (ssize_t)strlen(target) : (ssize_t)size;
		return sv_poke(c, buf, target, (size_t)n) < 0 ? -EFAULT : n;
	}
	if (rc == 0)
		return readlink_proc(c, dirfd, at.path, buf, size);
	if (rc < 0)
		return rc;
	n = readlinkat(at.dirfd, at.path, target, size < sizeof(target) ? size : sizeof(target));
	n = n < 0 ? -errno : n;
	at_done(c, &at);
	if (n <= 0)
		return n;
	return sv_poke(c, buf, target, (size_t)n) < 0 ? -EFAULT : n;
}

#ifdef SYS_open
static long sv_readlink(struct sv_call *c) { return do_readlink(c, AT_FDCWD, c->a[0], c->a[1], ARG(c, 2, size_t)); }
#endif
static long sv_readlinkat(struct sv_call *c)
{
	return do_readlink(c, INT(c, 0), c->a[1], c->a[2], ARG(c, 3, size_t));
}

static long do_mkdir(struct sv_call *c, int dirfd, uint64_t path, mode_t mode)
{
	return ANSWER_AT(c, dirfd, path, 0, (take_umask(c), mkdirat(at.dirfd, at.path, mode)));
}

static long sv_mkdirat(struct sv_call *c) { return do_mkdir(c, INT(c, 0), c->a[1], (mode_t)c->a[2]); }

static long do_mknod(struct sv_call *c, int dirfd, uint64_t path, mode_t mode, dev_t dev)
{
	return ANSWER_AT(c, dirfd, path, 0, (take_umask(c), mknodat(at.dirfd, at.path, mode, dev)));
}

static long sv_mknodat(struct sv_call *c)
{
	return do_mknod(c, INT(c, 0), c->a[1], (mode_t)c->a[2], (dev_t)c->a[3]);
}

static long do_unlink(struct sv_call *c, int dirfd, uint64_t path, int flags)
{
	return ANSWER_AT(c, dirfd, path, 0, unlinkat(at.dirfd, at.path, flags));
}

static long sv_unlinkat(struct sv_call *c) { return do_unlink(c, INT(c, 0), c->a[1], INT(c, 2)); }

/* rename and link: both names are the shim's when either lies under a prefix (it says EXDEV across). */
static long do_two(struct sv_call *c, int olddir, uint64_t oldpath, int newdir, uint64_t newpath, int flags,
		   int is_link)
{
	struct sv_at from, to;
	int rc1 = at_get(c, olddir, oldpath,
			 AT_ANY | (is_link ? EMPTY_IF(flags) | ((flags & AT_SYMLINK_FOLLOW) ? AT_FOLLOW : 0) : 0), &from);
	int rc2, rc;

	if (rc1 < 0)
		return rc1;
	if ((rc2 = at_get(c, newdir, newpath, AT_ANY, &to)) < 0) {
		at_done(c, &from);
		return rc2;
	}
	if (rc1 == 0 && rc2 == 0)
		rc = SV_CONTINUE;
	else if (is_link)
		rc = (int)result(linkat(from.dirfd, from.path, to.dirfd, to.path, flags));
	else
		rc = (int)result(renameat2(from.dirfd, from.path, to.dirfd, to.path, (unsigned)flags));
	at_done(c, &from);
	at_done(c, &to);
	return rc;
}

static long sv_renameat(struct sv_call *c) { return do_two(c, INT(c, 0), c->a[1], INT(c, 2), c->a[3], 0, 0); }
static long sv_renameat2(struct sv_call *c)
{
	return do_two(c, INT(c, 0), c->a[1], INT(c, 2), c->a[3], INT(c, 4), 0);
}
static long sv_linkat(struct sv_call *c) { return do_two(c, INT(c, 0), c->a[1], INT(c, 2), c->a[3], INT(c, 4), 1); }

static long do_symlink(struct sv_call *c, uint64_t target, int dirfd, uint64_t path)
{
	char to[PATH_MAX];
	struct sv_at at;
	int rc = at_get(c, dirfd, path, 0, &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if ((rc = sv_read_string(c, target, to, sizeof(to))) == 0)
		rc = (int)result(symlinkat(to, at.dirfd, at.path));
	at_done(c, &at);
	return rc;
}

static long sv_symlinkat(struct sv_call *c) { return do_symlink(c, c->a[0], INT(c, 1), c->a[2]); }

static long do_chmod(struct sv_call *c, int dirfd, uint64_t path, mode_t mode, int flags)
{
	return ANSWER_AT(c, dirfd, path, EMPTY_IF(flags) | FOLLOW_IF(flags) | AT_CHANGE,
			 fchmodat(at.dirfd, at.path, mode, flags));
}

static long sv_fchmodat(struct sv_call *c) { return do_chmod(c, INT(c, 0), c->a[1], (mode_t)c->a[2], 0); }
static long sv_fchmodat2(struct sv_call *c) { return do_chmod(c, INT(c, 0), c->a[1], (mode_t)c->a[2], INT(c, 3)); }

static long do_chown(struct sv_call *c, int dirfd, uint64_t path, uid_t uid, gid_t gid, int flags)
{
	return ANSWER_AT(c, dirfd, path, EMPTY_IF(flags) | FOLLOW_IF(flags) | AT_CHANGE,
			 fchownat(at.dirfd, at.path, uid, gid, flags));
}

static long sv_fchownat(struct sv_call *c)
{
	return do_chown(c, INT(c, 0), c->a[1], (uid_t)c->a[2], (gid_t)c->a[3], INT(c, 4));
}

/* utimensat(dirfd, NULL, ...) is futimens(dirfd). times NULL: now. */
static long do_utimens(struct sv_call *c, int dirfd, uint64_t path, const struct timespec *ts, int flags)
{
	struct sv_at at;
	int rc, s;

	if (!path) {
		int fetched;

		if ((s = attr_fd(c, dirfd, &fetched)) < 0)
			return SV_CONTINUE;
		rc = (int)result(futimens(SV_FD(s), ts));
		attr_fd_done(c, dirfd, s, fetched);
		return rc;
	}
	if ((rc = at_get(c, dirfd, path, EMPTY_IF(flags) | FOLLOW_IF(flags) | AT_CHANGE, &at)) <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	rc = (int)result(utimensat(at.dirfd, at.path, ts, flags));
	at_done(c, &at);
	return rc;
}

static long sv_utimensat(struct sv_call *c)
{
	struct timespec ts[2];

	if (c->a[2] && sv_peek(c, c->a[2], ts, sizeof(ts)) < 0)
		return -EFAULT;
	return do_utimens(c, INT(c, 0), c->a[1], c->a[2] ? ts : NULL, INT(c, 3));
}

/* utimes and futimesat: microseconds. */
static long do_utimes(struct sv_call *c, int dirfd, uint64_t path, uint64_t tv)
{
	struct timeval t[2];
	struct timespec ts[2];

	if (!tv)
		return do_utimens(c, dirfd, path, NULL, 0);
	if (sv_peek(c, tv, t, sizeof(t)) < 0)
		return -EFAULT;
	for (int i = 0; i < 2; i++) {
		if (t[i].tv_usec < 0 || t[i].tv_usec >= 1000000)
			return -EINVAL;
		ts[i].tv_sec = t[i].tv_sec;
		ts[i].tv_nsec = t[i].tv_usec * 1000;
	}
	return do_utimens(c, dirfd, path, ts, 0);
}

#ifdef SYS_open
static long sv_mkdir(struct sv_call *c) { return do_mkdir(c, AT_FDCWD, c->a[0], (mode_t)c->a[1]); }
static long sv_mknod(struct sv_call *c) { return do_mknod(c, AT_FDCWD, c->a[0], (mode_t)c->a[1], (dev_t)c->a[2]); }
static long sv_rmdir(struct sv_call *c) { return do_unlink(c, AT_FDCWD, c->a[0], AT_REMOVEDIR); }
static long sv_unlink(struct sv_call *c) { return do_unlink(c, AT_FDCWD, c->a[0], 0); }
static long sv_rename(struct sv_call *c) { return do_two(c, AT_FDCWD, c->a[0], AT_FDCWD, c->a[1], 0, 0); }
static long sv_link(struct sv_call *c) { return do_two(c, AT_FDCWD, c->a[0], AT_FDCWD, c->a[1], 0, 1); }
static long sv_symlink(struct sv_call *c) { return do_symlink(c, c->a[0], AT_FDCWD, c->a[1]); }
static long sv_chmod(struct sv_call *c) { return do_chmod(c, AT_FDCWD, c->a[0], (mode_t)c->a[1], 0); }
static long sv_chown(struct sv_call *c) { return do_chown(c, AT_FDCWD, c->a[0], (uid_t)c->a[1], (gid_t)c->a[2], 0); }
static long sv_lchown(struct sv_call *c)
{
	return do_chown(c, AT_FDCWD, c->a[0], (uid_t)c->a[1], (gid_t)c->a[2], AT_SYMLINK_NOFOLLOW);
}
static long sv_utimes(struct sv_call *c) { return do_utimes(c, AT_FDCWD, c->a[0], c->a[1]); }
static long sv_futimesat(struct sv_call *c) { return do_utimes(c, INT(c, 0), c->a[1], c->a[2]); }
static long sv_utime(struct sv_call *c)
{
	struct utimbuf u;
	struct timespec ts[2];

	if (!c->a[1])
		return do_utimens(c, AT_FDCWD, c->a[0], NULL, 0);
	if (sv_peek(c, c->a[1], &u, sizeof(u)) < 0)
		return -EFAULT;
	ts[0] = (struct timespec){ .tv_sec = u.actime };
	ts[1] = (struct timespec){ .tv_sec = u.modtime };
	return do_utimens(c, AT_FDCWD, c->a[0], ts, 0);
}
#endif

static long sv_truncate(struct sv_call *c)
{
	struct sv_at at;
	int rc = at_get(c, AT_FDCWD, c->a[0], AT_FOLLOW | AT_CHANGE, &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if ((rc = at_enter(&at)) == 0)
		rc = (int)result(changed(-1, truncate(at.path, (off_t)c->a[1]), 0, 0));
	at_done(c, &at);
	return rc;
}

static long sv_statfs(struct sv_call *c)
{
	struct sv_at at;
	struct statfs st;
	int rc = at_get(c, AT_FDCWD, c->a[0], AT_FOLLOW, &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if ((rc = at_enter(&at)) == 0)
		rc = (int)result(statfs(at.path, &st));
	at_done(c, &at);
	return rc < 0 ? rc : sv_poke(c, c->a[1], &st, sizeof(st));
}

/* ---- the working directory ---- */

/* The kernel changes the program's working directory itself where the program's name leads it to the directory
 * the shim finds: a lower directory, or from a directory of the data tree one the shadow made below it. Anywhere
 * else - a directory made in the shadow, named from outside the data tree; a lower one named relatively from a
 * directory of the data tree (".." would lead into the shadow's own layout), or from a working directory the
 * supervisor keeps - the supervisor keeps it (sv_cwd.c). */
static int kernel_reaches(const struct sv_call *c, const struct sv_at *at, int s)
{
	int k = kernel_open(c, at, O_PATH | O_DIRECTORY), same = same_inode(s, k);

	if (k >= 0)
		REAL(close)(k);
	return same;
}

static long sv_chdir(struct sv_call *c)
{
	struct sv_at at;
	int rc = at_get(c, AT_FDCWD, c->a[0], AT_FOLLOW, &at), s = -1;

	if (rc == 0 && cwd_kept(c)) { /* out of the prefixes by an absolute name: the kernel's directory again */
		if ((s = (int)REAL(syscall)(SYS_openat, AT_FDCWD, at.path, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			REAL(close)(s);
			sv_cwd_clear(c);
		}
		return SV_CONTINUE;
	}
	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if (at_enter(&at) < 0 || (s = openat(AT_FDCWD, at.path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    faccessat(AT_FDCWD, at.path, X_OK, 0) < 0) {
		rc = -errno;
	} else if (kernel_reaches(c, &at, s)) {
		sv_cwd_clear(c);
		rc = (int)SV_CONTINUE;
	} else {
		rc = sv_cwd_set(c, s);
	}
	if (s >= 0)
		close(s);
	at_done(c, &at);
	return rc;
}

/* The kernel changes into the directory the descriptor is - a lower one, or one of the data tree, whose merged
 * name getcwd and every relative name find again (program_dir) - so its working directory is the program's again. */
static long sv_fchdir(struct sv_call *c)
{
	int d;

	if (cwd_kept(c) && (d = open_program_dir(c, INT(c, 0))) >= 0) {
		struct stat st;

		if (REAL(fstat)(d, &st) == 0 && S_ISDIR(st.st_mode))
			sv_cwd_clear(c);
		REAL(close)(d);
	}
	return SV_CONTINUE;
}

static long sv_getcwd(struct sv_call *c)
{
	char dir[PATH_MAX];
	size_t size = ARG(c, 1, size_t), n;
	int mapped = 0;

	if (program_dir(c, AT_FDCWD, dir, sizeof(dir), &mapped) < 0 || !(mapped || cwd_kept(c)))
		return SV_CONTINUE;
	n = strlen(dir) + 1;
	if (n > sizeof(" (deleted)") && strcmp(dir + n - sizeof(" (deleted)"), " (deleted)") == 0)
		return -ENOENT; /* (a kept directory removed since) */
	if (n > size)
		return -ERANGE;
	return sv_poke(c, c->a[0], dir, n) < 0 ? -EFAULT : (long)n;
}

/* ---- extended attributes: one body for the path, l-path and descriptor calls ---- */

#define XATTR_BUF 65536

struct xattr_target {
	const char *path; /* relative to this worker's directory (at_enter) */
	int nofollow;     /* the l* calls */
	int fd;           /* >= 0: the f* calls on this descriptor */
};

static long xattr_call(const struct xattr_target *t, int op, const char *name, char *value, size_t size, int flags)
{
	switch (op) {
	case 's':
		return result(t->fd >= 0   ? fsetxattr(t->fd, name, value, size, flags)
			      : t->nofollow ? lsetxattr(t->path, name, value, size, flags)
					    : setxattr(t->path, name, value, size, flags));
	case 'g':
		return result(t->fd >= 0   ? fgetxattr(t->fd, name, value, size)
			      : t->nofollow ? lgetxattr(t->path, name, value, size)
					    : getxattr(t->path, name, value, size));
	case 'l':
		return result(t->fd >= 0   ? flistxattr(t->fd, value, size)
			      : t->nofollow ? llistxattr(t->path, value, size)
					    : listxattr(t->path, value, size));
	default:
		return result(t->fd >= 0   ? fremovexattr(t->fd, name)
			      : t->nofollow ? lremovexattr(t->path, name)
					    : removexattr(t->path, name));
	}
}

/* Set, get, list or remove (op) on t with the program's arguments, in the same places for the path and the
 * descriptor calls: the name at 1, the value at 2 and its size at 3 (a list at 1, its size at 2), flags at 4. */
static long xattr_op(struct sv_call *c, int op, const struct xattr_target *t)
{
	char name[256];
	size_t want = ARG(c, op == 'l' ? 2 : 3, size_t), size = want > XATTR_BUF ? XATTR_BUF : want;
	uint64_t buf = c->a[op == 'l' ? 1 : 2];
	long rc;

	if (op == 's' && want > XATTR_BUF)
		return -E2BIG;
	if (op != 'l' && sv_read_string(c, c->a[1], name, sizeof(name)) < 0)
		return -ERANGE;
	if (op == 's' && sv_peek(c, buf, c->buf, size) < 0)
		return -EFAULT;
	rc = xattr_call(t, op, name, c->buf, size, INT(c, 4));
	if ((op == 'g' || op == 'l') && rc > 0 && size && sv_poke(c, buf, c->buf, (size_t)rc) < 0)
		return -EFAULT;
	return rc;
}

static long do_xattr(struct sv_call *c, int op, int nofollow)
{
	struct sv_at at;
	long rc = at_get(c, AT_FDCWD, c->a[0], nofollow ? 0 : AT_FOLLOW, &at);

	if (rc <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	if ((rc = at_enter(&at)) == 0)
		rc = xattr_op(c, op, &(struct xattr_target){ .path = at.path, .nofollow = nofollow, .fd = -1 });
	at_done(c, &at);
	return rc;
}

static long sv_setxattr(struct sv_call *c) { return do_xattr(c, 's', 0); }
static long sv_lsetxattr(struct sv_call *c) { return do_xattr(c, 's', 1); }
static long sv_getxattr(struct sv_call *c) { return do_xattr(c, 'g', 0); }
static long sv_lgetxattr(struct sv_call *c) { return do_xattr(c, 'g', 1); }
static long sv_listxattr(struct sv_call *c) { return do_xattr(c, 'l', 0); }
static long sv_llistxattr(struct sv_call *c) { return do_xattr(c, 'l', 1); }
static long sv_removexattr(struct sv_call *c) { return do_xattr(c, 'r', 0); }
static long sv_lremovexattr(struct sv_call *c) { return do_xattr(c, 'r', 1); }

/* ---- descriptor calls: the merged descriptor's own in the supervisor ---- */

/* s: the supervisor's descriptor for argument 0 (a merged one), or CONTINUE. */
#define FD_OR_CONTINUE(c, s)                                                                                       \
	int s = sv_fd_get(c, INT(c, 0));                                                                           \
	if (s < 0)                                                                                                 \
		return SV_CONTINUE;

/* Bytes between the program's buffer and the file, through the worker's buffer. off < 0: the position. */
static long transfer(struct sv_call *c, int s, uint64_t addr, size_t count, off_t off, int writing)
{
	size_t done = 0;

	while (done < count) {
		size_t n = count - done < c->bufsz ? count - done : c->bufsz;
		ssize_t r;

		if (writing && sv_peek(c, addr + done, c->buf, n) < 0)
			return done ? (long)done : -EFAULT;
		if (writing)
			r = sv_map_write(s, c->buf, n, off < 0 ? -1 : off + (off_t)done);
		else
			r = off < 0 ? read(s, c->buf, n) : pread(s, c->buf, n, off + (off_t)done);
		if (r < 0)
			return done ? (long)done : -errno;
		if (!writing && r > 0 && sv_poke(c, addr + done, c->buf, (size_t)r) < 0)
			return done ? (long)done : -EFAULT;
		done += (size_t)r;
		if ((size_t)r < n)
			break;
	}
	return (long)done;
}

static long do_rw(struct sv_call *c, off_t off, int writing)
{
	FD_OR_CONTINUE(c, s);
	long rc = transfer(c, writing ? SV_FD(s) : synced(c, SV_FD(s), off, c->a[2]), c->a[1], ARG(c, 2, size_t), off,
			   writing);

	sv_fd_put(c, INT(c, 0), s);
	return rc;
}

static long sv_read(struct sv_call *c) { return do_rw(c, -1, 0); }
static long sv_write(struct sv_call *c) { return do_rw(c, -1, 1); }
static long sv_pread64(struct sv_call *c)
{
	return (off_t)c->a[3] < 0 ? -EINVAL : do_rw(c, (off_t)c->a[3], 0);
}
static long sv_pwrite64(struct sv_call *c)
{
	return (off_t)c->a[3] < 0 ? -EINVAL : do_rw(c, (off_t)c->a[3], 1);
}

static uint64_t iov_total(const struct iovec *iov, int cnt)
{
	uint64_t total = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	return total;
}

static long do_rwv(struct sv_call *c, off_t off, int writing)
{
	int cnt = INT(c, 2);
	struct iovec *iov;
	long total = 0, rc = 0;

	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	FD_OR_CONTINUE(c, s);
	if (!(iov = malloc(sizeof(*iov) * (size_t)(cnt ? cnt : 1)))) {
		sv_fd_put(c, INT(c, 0), s);
		return -ENOMEM;
	}
	if (sv_peek(c, c->a[1], iov, sizeof(*iov) * (size_t)cnt) < 0)
		rc = -EFAULT;
	else if (!writing)
		synced(c, SV_FD(s), off, iov_total(iov, cnt));
	for (int i = 0; rc == 0 && i < cnt; i++) {
		long r = transfer(c, SV_FD(s), (uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len,
				  off < 0 ? -1 : off + total, writing);

		if (r < 0) {
			if (total == 0)
				rc = r;
			break;
		}
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	free(iov);
	sv_fd_put(c, INT(c, 0), s);
	return rc < 0 ? rc : total;
}

static long sv_readv(struct sv_call *c) { return do_rwv(c, -1, 0); }
static long sv_writev(struct sv_call *c) { return do_rwv(c, -1, 1); }
static long sv_preadv(struct sv_call *c) { return (off_t)c->a[3] < 0 ? -EINVAL : do_rwv(c, (off_t)c->a[3], 0); }
static long sv_pwritev(struct sv_call *c) { return (off_t)c->a[3] < 0 ? -EINVAL : do_rwv(c, (off_t)c->a[3], 1); }
/* offset -1: the position; flags (RWF_*) are hints or appends the data descriptor's O_APPEND already gives */
static long sv_preadv2(struct sv_call *c) { return do_rwv(c, (off_t)c->a[3] == -1 ? -1 : (off_t)c->a[3], 0); }
static long sv_pwritev2(struct sv_call *c) { return do_rwv(c, (off_t)c->a[3] == -1 ? -1 : (off_t)c->a[3], 1); }

static long sv_lseek(struct sv_call *c)
{
	FD_OR_CONTINUE(c, s);
	long rc = result(lseek(SV_FD(s), (off_t)c->a[1], INT(c, 2)));

	sv_fd_put(c, INT(c, 0), s);
	return rc;
}

/* A call on the merged descriptor that fills a struct for the program (argument 1). */
#define FD_STRUCT_CALL(name, type)                                                                                 \
	static long sv_##name(struct sv_call *c)                                                                   \
	{                                                                                                          \
		type st;                                                                                           \
		FD_OR_CONTINUE(c, s);                                                                              \
		long rc = result(name(SV_FD(s), &st));                                                             \
		sv_fd_put(c, INT(c, 0), s);                                                                        \
		return rc < 0 ? rc : sv_poke(c, c->a[1], &st, sizeof(st));                                         \
	}

FD_STRUCT_CALL(fstat, struct stat)
FD_STRUCT_CALL(fstatfs, struct statfs)

/* A call on the merged descriptor with plain arguments. */
#define FD_CALL(name, expr)                                                                                        \
	static long sv_##name(struct sv_call *c)                                                                   \
	{                                                                                                          \
		FD_OR_CONTINUE(c, s);                                                                              \
		int fd = SV_FD(s);                                                                                 \
		long rc = result(expr);                                                                            \
		sv_fd_put(c, INT(c, 0), s);                                                                        \
		return rc;                                                                                         \
	}

/* (a sync writes the stores of the file's shared maps too, as the kernel's writes their dirty pages) */
FD_CALL(fsync, fsync(synced(c, fd, WHOLE_FILE)))
FD_CALL(fdatasync, fdatasync(synced(c, fd, WHOLE_FILE)))
/* (a file that changes size or bytes by these: its shared maps follow, sv_mirror.c) */
FD_CALL(ftruncate, changed(fd, ftruncate(fd, (off_t)c->a[1]), 0, 0))
FD_CALL(fallocate, changed(fd, fallocate(fd, INT(c, 1), (off_t)c->a[2], (off_t)c->a[3]), c->a[2], c->a[2] + c->a[3]))
FD_CALL(fadvise64, ((void)fd, 0))
FD_CALL(readahead, ((void)fd, 0))
FD_CALL(sync_file_range, fdatasync(synced(c, fd, WHOLE_FILE)))

/* The supervisor's descriptor for a call that changes the file behind the program's fd: the merged one, or the
 * program's plain descriptor fetched and adopted when it is a file under a prefix (an untouched lower file opened
 * read-only). -1: outside the prefixes, the kernel may run the call. Given back with attr_fd_done. */
static int attr_fd(const struct sv_call *c, int fd, int *fetched)
{
	int s = sv_fd_get(c, fd);

	*fetched = 0;
	if (s >= 0 || fd < 0)
		return s;
	if ((s = sv_fd_fetch(c, fd)) >= 0)
		*fetched = 1;
	return s;
}

static void attr_fd_done(const struct sv_call *c, int fd, int s, int fetched)
{
	if (fetched)
		close(s);
	else
		sv_fd_put(c, fd, s);
}

#define ATTR_CALL(name, expr)                                                                                      \
	static long sv_##name(struct sv_call *c)                                                                   \
	{                                                                                                          \
		int fetched, s = attr_fd(c, INT(c, 0), &fetched), fd = SV_FD(s);                                   \
		long rc;                                                                                           \
		if (s < 0)                                                                                         \
			return SV_CONTINUE;                                                                        \
		if (fetched && (fcntl(fd, F_GETFL) & O_PATH)) { /* the kernel says EBADF */                        \
			attr_fd_done(c, INT(c, 0), s, fetched);                                                    \
			return SV_CONTINUE;                                                                        \
		}                                                                                                  \
		rc = result(expr);                                                                                 \
		attr_fd_done(c, INT(c, 0), s, fetched);                                                            \
		return rc;                                                                                         \
	}

ATTR_CALL(fchmod, fchmod(fd, (mode_t)c->a[1]))
ATTR_CALL(fchown, fchown(fd, (uid_t)c->a[1], (gid_t)c->a[2]))

static long sv_getdents64(struct sv_call *c)
{
	size_t count = ARG(c, 2, size_t) < c->bufsz ? ARG(c, 2, size_t) : c->bufsz;
	FD_OR_CONTINUE(c, s);
	long rc = result(getdents64(SV_FD(s), c->buf, count));

	sv_fd_put(c, INT(c, 0), s);
	if (rc > 0 && sv_poke(c, c->a[1], c->buf, (size_t)rc) < 0)
		return -EFAULT;
	return rc;
}

#ifdef SYS_open
/* The old getdents: no program of this century uses it on a merged directory. */
static long sv_getdents(struct sv_call *c)
{
	FD_OR_CONTINUE(c, s);
	sv_fd_put(c, INT(c, 0), s);
	return -ENOSYS;
}
#endif

static long sv_close(struct sv_call *c)
{
	sv_cwd_closing(c, (unsigned)INT(c, 0), (unsigned)INT(c, 0), 0); /* (a loop over /proc/self/fd closing all) */
	sv_fd_closed(c, INT(c, 0));
	return SV_CONTINUE;
}

static long sv_close_range(struct sv_call *c)
{
	unsigned first = (unsigned)c->a[0], last = (unsigned)c->a[1], flags = (unsigned)c->a[2];

	sv_cwd_closing(c, first, last, flags);
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		sv_fd_range_closed(c, first, last);
	return SV_CONTINUE;
}

/* A copy of a merged descriptor below the threshold is the kernel's alone (the filter does not send its calls):
 * right once the data file is the whole file, so the pages still read from the lower file are copied up first -
 * the one whole-file copy pageshadow makes, for busybox's `exec 3<file` and Go's ExtraFiles. A shared map's copy
 * of the file, which the kernel's writes there would pass by, keeps it refused. */
static long dup_low(const struct sv_call *c, int s, int newfd)
{
	const char *why = "a shared map's copy of the file is kept in step by the supervisor";
	int rc = -EOPNOTSUPP;

	if (!sv_mirror_held(s)) {
		sv_turn_release(c); /* (a copy of a large file takes a while: another worker receives meanwhile) */
		rc = sv_fd_make_kernel_served(s, &why);
	}
	if (rc == 0) {
		ps_debug("supervisor: process %d copies a merged descriptor to %d: its file is whole in the shadow now",
			 (int)c->pid, newfd);
		return SV_CONTINUE;
	}
	ps_refusal("supervisor: process %d copies a descriptor of a partly shadowed file to %d, where the kernel alone "
		   "would serve it (only 0-2, inherited ones and %u up are merged), and %s: %s", (int)c->pid, newfd,
		   c->threshold, why, strerrorname_np(-rc));
	return rc;
}

/* A copy of a merged descriptor stays merged: from the threshold up, or at the number asked there; below it, see
 * dup_low. */
static long do_dup(struct sv_call *c, int newfd, int min, int cloexec)
{
	int s = sv_fd_get(c, INT(c, 0)), d;
	long rc;

	if (s < 0) {
		sv_fd_closed(c, newfd); /* dup2 of a plain descriptor onto a merged one */
		return SV_CONTINUE;
	}
	if (newfd == INT(c, 0)) {
		sv_fd_put(c, INT(c, 0), s);
		return c->n->data.nr == SYS_dup3 ? -EINVAL : newfd;
	}
	if (newfd >= 0 && newfd < (int)c->threshold && !sv_fd_sent(c, newfd)) {
		rc = dup_low(c, SV_FD(s), newfd);
		sv_fd_put(c, INT(c, 0), s);
		return rc;
	}
	d = dup(SV_FD(s));
	rc = d < 0 ? -errno : 0;
	sv_fd_put(c, INT(c, 0), s);
	if (rc < 0)
		return rc;
	if (newfd < 0)
		return sv_fd_install_from(c, d, min, cloexec);
	sv_fd_closed(c, newfd); /* (what the number held goes, and the process's POSIX locks on its file) */
	return sv_fd_install_at(c, d, newfd, cloexec);
}

static long sv_dup(struct sv_call *c) { return do_dup(c, -1, 0, 0); }
#ifdef SYS_open
static long sv_dup2(struct sv_call *c) { return do_dup(c, INT(c, 1), 0, 0); }
#endif
static long sv_dup3(struct sv_call *c) { return do_dup(c, INT(c, 1), 0, (INT(c, 2) & O_CLOEXEC) != 0); }

static long sv_fcntl(struct sv_call *c)
{
	int cmd = INT(c, 1);

	sv_map_give_back(c, INT(c, 0)); /* (flags and locks go on, on the program's own file) */
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		struct rlimit rl;

		if (prlimit(c->pid, RLIMIT_NOFILE, NULL, &rl) == 0 && c->a[2] >= rl.rlim_cur)
			return SV_CONTINUE; /* the kernel says EINVAL */
		return do_dup(c, -1, c->a[2] > INT_MAX ? INT_MAX : (int)c->a[2], cmd == F_DUPFD_CLOEXEC);
	}
	if (ps_lock_cmd(cmd)) { /* on the record, as a shimmed process's (sv_lock.c) */
		FD_OR_CONTINUE(c, s);
		long rc = sv_lock_fcntl(c, SV_FD(s), cmd, c->a[2]);

		sv_fd_put(c, INT(c, 0), s);
		return rc;
	}
	if (cmd == F_SETFL) { /* the shim keeps the flags it writes by (O_APPEND) */
		FD_OR_CONTINUE(c, s);
		long rc = result(fcntl(SV_FD(s), F_SETFL, (int)c->a[2]));

		sv_fd_put(c, INT(c, 0), s);
		return rc;
	}
	return SV_CONTINUE; /* other flags (on the descriptor the program holds: the data or the lower file) */
}

/* A map of the descriptor itself is right where the data file is the whole file (sv_fd_get says -1); one of a
 * partly shadowed file is a copy of its merged bytes, kept in step for a shared one (sv_mmap.c). */
static long sv_mmap(struct sv_call *c)
{
	int fd = INT(c, 4), s;
	long rc;

	if ((c->a[3] & MAP_ANONYMOUS) || (s = sv_fd_get(c, fd)) < 0)
		return SV_CONTINUE;
	if (sv_fd_kernel_serves(SV_FD(s)) && !sv_mirror_held(SV_FD(s))) { /* (whole since: a copy at a low number
									      * writes it past any mirror, dup_low) */
		sv_fd_put(c, fd, s);
		return SV_CONTINUE;
	}
	rc = sv_map(c, fd, synced(c, SV_FD(s), (off_t)c->a[5], c->a[1]), c->a[5], c->a[1], INT(c, 2),
		    (c->a[3] & MAP_TYPE) != MAP_PRIVATE);
	sv_fd_put(c, fd, s);
	return rc;
}

/* One side of a zero-copy call, from side_get: the supervisor's merged descriptor, or the copy of a plain one. */
static void side_put(const struct sv_call *c, int fd, int s, int merged)
{
	if (merged)
		sv_fd_put(c, fd, s);
	else if (s >= 0)
		close(s);
}

/* A position the program passes by address (0: none): read into *pos; *p points to it, or is NULL. */
static int position_in(const struct sv_call *c, uint64_t addr, loff_t *pos, loff_t **p)
{
	*p = NULL;
	if (!addr)
		return 0;
	*p = pos;
	return sv_peek(c, addr, pos, sizeof(*pos));
}

/* The zero-copy call itself, from in (at *ip, or its offset) to out. */
static long zero_copy_call(const struct sv_call *c, int in, loff_t *ip, int out, loff_t *op, size_t n)
{
	if (c->n->data.nr == SYS_sendfile)
		return result(sendfile(out, in, ip, n));
	if (c->n->data.nr == SYS_copy_file_range)
		return result(copy_file_range(in, ip, out, op, n, (unsigned)c->a[5]));
	return result(splice(in, ip, out, op, n, (unsigned)c->a[5]));
}

/* sendfile, copy_file_range and splice with a merged descriptor on either side: the shim's call in the supervisor,
 * which copies through a buffer (rw.c); positions passed by address move through the program's memory. */
static long zero_copy(struct sv_call *c, int in_arg, uint64_t in_pos, int out_arg, uint64_t out_pos, size_t n)
{
	int in = INT(c, in_arg), out = INT(c, out_arg), si = sv_fd_get(c, in), so = sv_fd_get(c, out);
	int in_merged = si >= 0, out_merged = so >= 0;
	loff_t ipos = 0, opos = 0, *ip = NULL, *op = NULL;
	long rc;

	if (!in_merged && !out_merged)
		return SV_CONTINUE;
	/* the other side, plain (a pipe, a file outside), held for this call only */
	if (!in_merged)
		si = sv_fd_fetch_plain(c, in);
	if (!out_merged)
		so = sv_fd_fetch_plain(c, out);
	if (si < 0 || so < 0)
		rc = -EBADF;
	else if (position_in(c, in_pos, &ipos, &ip) < 0 || position_in(c, out_pos, &opos, &op) < 0)
		rc = -EFAULT;
	else
		rc = zero_copy_call(c, in_merged ? synced(c, SV_FD(si), ip ? ipos : -1, n) : SV_FD(si), ip, SV_FD(so),
				    op, n);
	if (out_merged && rc > 0) { /* (the bytes written: at the position passed, or before the offset's new place) */
		uint64_t to = op ? (uint64_t)opos : (uint64_t)REAL(syscall)(SYS_lseek, SV_FD(so), 0, SEEK_CUR);

		changed(SV_FD(so), 0, to - (uint64_t)rc, to);
	}
	side_put(c, in, si, in_merged);
	side_put(c, out, so, out_merged);
	if (rc >= 0 && ((ip && sv_poke(c, in_pos, ip, sizeof(*ip)) < 0) || (op && sv_poke(c, out_pos, op, sizeof(*op)) < 0)))
		return -EFAULT;
	return rc;
}

static long sv_sendfile(struct sv_call *c) { return zero_copy(c, 1, c->a[2], 0, 0, ARG(c, 3, size_t)); }
static long sv_copy_file_range(struct sv_call *c) { return zero_copy(c, 0, c->a[1], 2, c->a[3], ARG(c, 4, size_t)); }
static long sv_splice(struct sv_call *c) { return zero_copy(c, 0, c->a[1], 2, c->a[3], ARG(c, 4, size_t)); }

/* flock goes on, on the program's own file: only a map's copy lent at the number is given back first. */
static long sv_flock(struct sv_call *c)
{
	FD_OR_CONTINUE(c, s);
	long rc = sv_lock_flock(c, SV_FD(s), INT(c, 1));

	sv_fd_put(c, INT(c, 0), s);
	return rc;
}

static long sv_ioctl(struct sv_call *c)
{
	unsigned long req = (unsigned long)c->a[1];

	sv_map_give_back(c, INT(c, 0));
	if (req == FIOCLEX || req == FIONCLEX)
		return SV_CONTINUE;
	FD_OR_CONTINUE(c, s);
	sv_fd_put(c, INT(c, 0), s);
	return -ENOTTY;
}

static long fd_xattr(struct sv_call *c, int op)
{
	int fetched, s = attr_fd(c, INT(c, 0), &fetched);
	long rc;

	if (s < 0)
		return SV_CONTINUE;
	rc = xattr_op(c, op, &(struct xattr_target){ .fd = SV_FD(s) });
	attr_fd_done(c, INT(c, 0), s, fetched);
	return rc;
}

static long sv_fsetxattr(struct sv_call *c) { return fd_xattr(c, 's'); }
static long sv_fgetxattr(struct sv_call *c) { return fd_xattr(c, 'g'); }
static long sv_flistxattr(struct sv_call *c) { return fd_xattr(c, 'l'); }
static long sv_fremovexattr(struct sv_call *c) { return fd_xattr(c, 'r'); }

/* The stores through the process's shared maps of partly shadowed files reach them; the kernel's msync does the
 * rest (on the copies: nothing to write). */
static long sv_msync(struct sv_call *c)
{
	sv_map_sync_process(c);
	return SV_CONTINUE;
}

static long sv_exit_group(struct sv_call *c)
{
	sv_fd_new_generation();
	sv_fd_process_exits(c);
	sv_cwd_process_exits(c);
	sv_map_process_exits(c);
	sv_lock_process_gone(sv_tgid_of(c->pid));
	sv_exec_process_exits(c);
	return SV_CONTINUE;
}

/* ---- exec (sv_exec.c) ---- */

static long do_exec(struct sv_call *c, int dirfd, uint64_t path, int flags)
{
	int nofollow = (flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0;
	struct sv_exec_target t = { .addr = path, .same_fd = -1, .kernel_fd = -1 };
	char given[PATH_MAX];
	struct sv_at at;
	int rc;
	long answer;

	sv_exec_before(c);
	sv_fd_new_generation();
	sv_cwd_keep(c);
	sv_map_sync_process(c); /* (its maps go with the exec) */
	if ((rc = at_get(c, dirfd, path, EMPTY_IF(flags), &at)) <= 0)
		return rc == 0 ? SV_CONTINUE : rc;
	/* the program's own string, as long as it is (at.path may say /proc/PID for /proc/self) */
	t.room = path && sv_read_string(c, path, given, sizeof(given)) == 0 ? strlen(given) + 1 : 0;
	t.given = t.room ? given : "";
	t.shown = at.path;
	if (at.own == 2 && !at.path[0]) { /* fexecve of a merged descriptor */
		t.s = SV_FD(at.dirfd);
		t.same_fd = at.fd;
		answer = sv_exec(c, &t);
		at_done(c, &at);
		return answer;
	}
	/* (O_NONBLOCK: a FIFO must not block; a file only its owner may run, 0711, is the kernel's to judge) */
	t.s = openat(at.dirfd, at.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | nofollow);
	if (t.s < 0) {
		rc = errno;
		at_done(c, &at);
		return rc == EACCES ? SV_CONTINUE : -rc;
	}
	t.kernel_fd = kernel_open(c, &at, O_RDONLY | O_NONBLOCK | nofollow);
	at_done(c, &at);
	sv_map_sync_file(c, t.s, WHOLE_FILE);
	answer = sv_exec(c, &t);
	if (t.kernel_fd >= 0)
		close(t.kernel_fd);
	close(t.s);
	return answer;
}

static long sv_execve(struct sv_call *c) { return do_exec(c, AT_FDCWD, c->a[0], 0); }
static long sv_execveat(struct sv_call *c) { return do_exec(c, INT(c, 0), c->a[1], INT(c, 4)); }

long sv_dispatch(struct sv_call *c)
{
	sv_exec_undo_shared(c);
	switch (c->n->data.nr) {
#define PS_SV_PATH(name) case SYS_##name: return sv_##name(c);
#define PS_SV_ATTR(name) case SYS_##name: return sv_##name(c);
#define PS_SV_EXIT(name) case SYS_##name: return sv_##name(c);
#define PS_SV_MEM(name) case SYS_##name: return sv_##name(c);
#define PS_SV_RANGE(name) case SYS_##name: return sv_##name(c);
#define PS_SV_FD(name, mask) case SYS_##name: return sv_##name(c);
#include "supervised.def"
#undef PS_SV_PATH
#undef PS_SV_ATTR
#undef PS_SV_EXIT
#undef PS_SV_MEM
#undef PS_SV_RANGE
#undef PS_SV_FD
	}
	return SV_CONTINUE;
}
