/* open.c - open, openat, creat and the mkstemp family on paths under a prefix.
 *
 * Entry points: the open wrappers (symbols.def), ps_openat_impl, ps_open_target.
 * What an open gets:
 *  - a file that was never written, opened read-only: the real lower fd (tracked only so that it switches to the
 *    merged view if another process shadows the file later);
 *  - anything opened for writing, truncated or created, and any file that already has a record: a descriptor of
 *    the data file with the program's own flags, so offsets, O_APPEND and dup sharing are the kernel's.
 * Opening for writing creates the record and a sparse data file; it copies nothing (the first write does).
 */
#include "shim.h"
#include "beneath.h"
#include "log.h"
#include "ns.h"
#include "merge.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define TAKE_MODE(flags, last)                                                                                     \
	({                                                                                                         \
		mode_t m_ = 0;                                                                                     \
		if (PS_OPEN_NEEDS_MODE(flags)) {                                                                   \
			va_list ap_;                                                                               \
			va_start(ap_, last);                                                                       \
			m_ = (mode_t)va_arg(ap_, int);                                                             \
			va_end(ap_);                                                                               \
		}                                                                                                  \
		m_;                                                                                                \
	})

static int access_mode_for(int flags)
{
	if (flags & O_PATH) /* no access to the file itself: the kernel checks none */
		return F_OK;
	switch (flags & O_ACCMODE) {
	case O_WRONLY:
		return W_OK;
	case O_RDWR:
		return R_OK | W_OK;
	default:
		return (flags & O_TRUNC) ? R_OK | W_OK : R_OK;
	}
}

static int open_lower(const struct ps_target *t, int flags, mode_t mode, const struct stat *lst)
{
	int fd = REAL(openat)(AT_FDCWD, t->path, flags, mode);

	if (fd < 0)
		return -errno;
	if (!S_ISREG(lst->st_mode) || (flags & O_PATH))
		return fd;
	return ps_fd_track(fd, PS_OPEN_LOWER, flags, NULL, t->path) < 0 ? -ENOMEM : fd;
}

int ps_shadow_openat(const struct ps_shadow *sh, const char *path, int flags, mode_t mode)
{
	return ps_sys_open_beneath(REAL(openat), sh->dirfd, path, flags, mode);
}

/* Hand the program a descriptor of f's data file, named path; takes over the reference f. */
static int open_data(struct ps_file *f, const char *path, int flags)
{
	int dflags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW | O_DIRECTORY | O_NOCTTY);
	int fd = ps_shadow_openat(f->sh, f->data_path, dflags | O_NOFOLLOW, 0);
	int rc;

	if (fd < 0) {
		rc = -errno;
		ps_file_put(f);
		return rc;
	}
	if ((flags & O_TRUNC) &&
	    (rc = ps_change_done(ps_merge_truncate(f, 0), PS_CHANGE_TRUNCATE, path, NULL)) < 0) {
		REAL(close)(fd);
		ps_file_put(f);
		return rc;
	}
	rc = ps_fd_track(fd, PS_OPEN_DATA, flags, f, path);
	return rc < 0 ? rc : fd;
}

static int create_new(const struct ps_target *t, int flags, mode_t mode)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file_name name;
	struct ps_file *f;
	int rc;

	if (!sh)
		return -EROFS;
	/* a directory, as merged, that the program may add names to */
	if ((rc = ps_may_add_name(t, PS_CHANGE_CREATE, t->path, NULL)) < 0)
		return rc;
	ps_target_name(t, &name);
	rc = ps_file_create(sh, &name, NULL, mode & 07777, (flags & O_EXCL) != 0, &f);
	if (rc < 0)
		return rc;
	ps_debug("%s: created in the shadow", t->path);
	ps_change_done(0, PS_CHANGE_CREATE, t->path, NULL);
	return open_data(f, t->path, flags & ~O_TRUNC); /* a new file: nothing to truncate */
}

/* O_TMPFILE in a prefix directory: an unnamed file in the matching shadow directory. */
static int open_tmpfile(const struct ps_target *t, int flags, mode_t mode)
{
	struct ps_shadow *sh = ps_shadow_get();
	char dir[PATH_MAX];
	struct stat st;
	int fd, rc;

	if (!sh)
		return -EROFS;
	if ((flags & O_ACCMODE) == O_RDONLY)
		return -EINVAL; /* an unnamed file that cannot be written */
	if ((rc = ps_target_stat(t, &st)) < 0)
		return rc;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* no change yet (giving it a name is one, namespace.c), but what a read-only filesystem refuses */
	if ((rc = ps_change_permit(PS_CHANGE_CREATE, t->path, NULL)) < 0 ||
	    (rc = ps_target_data_path(t, dir, sizeof(dir))) < 0)
		return rc;
	strcat(dir, "/.");
	if ((rc = ps_shadow_make_parents(sh, dir)) < 0)
		return rc;
	fd = ps_shadow_openat(sh, dir, flags, mode);
	return fd < 0 ? -errno : fd;
}

static int open_special(const struct ps_target *t, int flags)
{
	struct ps_shadow *sh = ps_shadow_get();
	char data[PATH_MAX];
	int fd;

	if (!sh || ps_target_data_path(t, data, sizeof(data)) < 0)
		return -EROFS;
	fd = ps_shadow_openat(sh, data, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW, 0);
	return fd < 0 ? -errno : fd;
}

/* O_PATH|O_NOFOLLOW of a symlink made in the shadow: a descriptor of the link itself, its meta entry. */
static int open_link_itself(const struct ps_target *t, int flags)
{
	struct ps_shadow *sh = ps_shadow_get();
	char meta[PATH_MAX];
	int fd;

	if (!sh || ps_shadow_path(meta, sizeof(meta), "meta", ps_cfg.prefix[t->prefix].enc, t->rel) < 0)
		return -EROFS;
	fd = ps_shadow_openat(sh, meta, flags | O_NOFOLLOW, 0);
	return fd < 0 ? -errno : fd;
}

/* Open f, a file with a record, named path; takes over the reference f. */
static int open_record(struct ps_file *f, const char *path, int flags)
{
	int writes = ps_flags_write(flags);
	struct stat lst;
	int rc;

	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) || (flags & O_DIRECTORY)) {
		ps_file_put(f);
		return (flags & O_DIRECTORY) ? -ENOTDIR : -EEXIST;
	}
	if ((writes && (rc = ps_change_permit(PS_CHANGE_WRITE, path, NULL)) < 0) ||
	    ((f->lower_fd >= 0 || (ps_record_attr_flags(&f->rec) & PS_ATTR_MODE)) && /* a mode the shim keeps */
	     ps_merge_stat(f, &lst) == 0 && (rc = ps_may_access(&lst, access_mode_for(flags), 1)) < 0)) {
		ps_file_put(f);
		return rc;
	}
	return open_data(f, path, flags);
}

int ps_open_target(const struct ps_target *t, int flags, mode_t mode)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_file *f;
	struct stat lst;
	int writes = ps_flags_write(flags);
	int rc;

	if ((flags & __O_TMPFILE) == __O_TMPFILE)
		return open_tmpfile(t, flags, mode);
	if (!sh)
		return -EROFS;
	rc = ps_target_lookup(t, &f);
	if (rc == 0)
		return open_record(f, t->path, flags);
	if (rc != -ENOENT)
		return rc;
	if (t->ns.state == PS_NS_DIR)
		return ps_dir_open(t, flags);
	if (t->ns.state == PS_NS_SPECIAL) /* a FIFO or device made in the shadow: its data twin, as it is */
		return (flags & O_CREAT) && (flags & O_EXCL) ? -EEXIST : open_special(t, flags);
	if (t->ns.state == PS_NS_SYMLINK) /* not followed: O_NOFOLLOW or O_CREAT|O_EXCL */
		return (flags & O_CREAT) && (flags & O_EXCL) ? -EEXIST : (flags & O_PATH) ? open_link_itself(t, flags) : -ELOOP;
	if (t->ns.state != PS_NS_LOWER || REAL(fstatat)(AT_FDCWD, t->path, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
		if ((t->ns.state == PS_NS_LOWER && errno != ENOENT) || !(flags & O_CREAT))
			return t->ns.state == PS_NS_LOWER ? -errno : -ENOENT;
		return create_new(t, flags, mode);
	}
	if (S_ISDIR(lst.st_mode) && !(flags & O_PATH))
		return ps_dir_open(t, flags);
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return -EEXIST;
	if (!writes || !S_ISREG(lst.st_mode) || (flags & O_PATH))
		return open_lower(t, flags, mode, &lst);
	if ((rc = ps_change_permit(PS_CHANGE_WRITE, t->path, NULL)) < 0 ||
	    (rc = ps_may_access(&lst, access_mode_for(flags), 1)) < 0 ||
	    (rc = ps_target_shadow_lower(t, &lst, &f)) < 0)
		return rc;
	return open_data(f, t->path, flags);
}

/* The real open of a call that passes through: libc's openat, or for glibc's own (nocancel) opens the system call,
 * which is no cancellation point either. */
static int real_openat(int nocancel, int dirfd, const char *path, int flags, mode_t mode)
{
	if (nocancel)
		return (int)REAL(syscall)(SYS_openat, dirfd, path, flags, mode);
	return REAL(openat)(dirfd, path, flags, mode);
}

/* A name outside the prefixes, as the program gave it: opened with RESOLVE_NO_SYMLINKS, so that the common case
 * (no symlink on the way) costs the one system call it always did and a symlink, which may lead into a prefix,
 * is noticed before anything is opened or created: -2 then. Kernels or filters without openat2, and flags it
 * is stricter about, take the real open. */
static int open_outside(int nocancel, int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned)flags,
		.mode = PS_OPEN_NEEDS_MODE(flags) ? mode : 0,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	long fd = REAL(syscall)(SYS_openat2, dirfd, path, &how, sizeof(how));

	if (fd >= 0 || (errno != EINVAL && errno != ENOSYS && errno != EPERM && errno != E2BIG && errno != ELOOP))
		return (int)fd;
	if (errno == ELOOP)
		return -2;
	return real_openat(nocancel, dirfd, path, flags, mode);
}

/* glibc reads what it opens for itself (__open64_nocancel, patched) with system calls the shim never sees
 * (__read_nocancel): a file whose lower pages still show is handed over as a private copy of its merged bytes,
 * and refused for writing (bytes below lower_len would land in the data file without their copy-up). */
static int internal_view(int fd, int flags, const char *path)
{
	struct ps_open *o = ps_fd_get(fd), *gone;
	char buf[16384];
	int copy = -1, rc = 0;
	ssize_t n = 0;
	off_t off = 0;

	if (!o)
		return fd;
	if (!o->file || !ps_merge_shows_lower(o->file)) {
		ps_open_put(o);
		return fd;
	}
	if ((flags & O_ACCMODE) != O_RDONLY)
		rc = -EROFS;
	else if ((copy = memfd_create("pageshadow-merged", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0)) < 0)
		rc = -errno;
	while (rc == 0 && (n = ps_merge_pread(o->file, buf, sizeof(buf), off)) > 0) {
		for (ssize_t done = 0, w; rc == 0 && done < n; done += w)
			if ((w = REAL(pwrite)(copy, buf + done, (size_t)(n - done), off + done)) < 0)
				rc = -errno;
		off += n;
	}
	if (rc == 0 && n < 0)
		rc = (int)n;
	ps_open_put(o);
	if ((gone = ps_fd_forget(fd)))
		ps_open_put(gone);
	REAL(close)(fd);
	if (rc < 0) {
		if (copy >= 0)
			REAL(close)(copy);
		ps_error("%s: glibc's own open of a partly shadowed file failed: %s", path, strerror(-rc));
		return rc;
	}
	return copy;
}

/* An open of one of this process's descriptors by name (/dev/stdin, /dev/fd/N, /proc/self/fd/N: `prog /dev/stdin
 * < /ro/f`) opens the file anew, as the kernel does - which for a merged descriptor would open its data file or
 * its lower file. 1 and *rc when fd is the shim's and needs the merge (a file with a record, a merged directory,
 * a lower file opened to write); 0 for the kernel. */
static int reopen_own(int fd, int flags, mode_t mode, int *rc)
{
	int writes = ps_flags_write(flags);
	struct ps_open *o = ps_fd_get(fd);
	struct ps_target t;

	if (!o || (flags & O_PATH)) {
		if (o)
			ps_open_put(o);
		return 0;
	}
	if (o->file) {
		ps_file_get(o->file);
		*rc = open_record(o->file, o->path, flags);
	} else if (o->kind == PS_OPEN_DIR || writes) {
		*rc = ps_resolve(AT_FDCWD, o->path, 1, &t);
		*rc = *rc > 0 ? ps_open_target(&t, flags, mode) : *rc == 0 ? -ENOENT : *rc;
	} else {
		ps_open_put(o);
		return 0;
	}
	ps_debug("open of descriptor %d by its name: %s: %d", fd, o->path, *rc);
	ps_open_put(o);
	return 1;
}

static int openat_impl(int dirfd, const char *path, int flags, mode_t mode, int nocancel)
{
	int saved = errno;
	int follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
	struct ps_target t;
	int rc, fd;

	if (!ps_enter())
		return real_openat(nocancel, dirfd, path, flags, mode);
	if ((fd = ps_own_fd_name(path)) >= 0 && follow && reopen_own(fd, flags, mode, &rc)) {
		ps_leave();
		return (int)ps_ret(ps_errno_for_program(rc), saved);
	}
	rc = ps_resolve(dirfd, path, follow, &t);
	if (rc == 0 && ps_pass(path) == path) {
		if ((fd = open_outside(nocancel, dirfd, path, flags, mode)) != -2) {
			ps_leave();
			return fd;
		}
		rc = ps_resolve_outside(dirfd, path, follow, NULL, PS_OUTSIDE_LINKED, &t); /* a symlink on the way: into a prefix? */
	}
	if (rc == 0) {
		ps_leave();
		errno = saved; /* not the probe's ELOOP */
		return real_openat(nocancel, ps_pass_dirfd(dirfd, path), ps_pass(path), flags, mode);
	}
	if (rc > 0 && (flags & O_CREAT) && path[strlen(path) - 1] == '/')
		rc = -EISDIR; /* "name/" cannot be created as a file, nor opened with O_CREAT if it is a directory */
	else if (rc > 0)
		rc = ps_open_target(&t, flags, mode);
	if (nocancel && rc >= 0)
		rc = internal_view(rc, flags, path);
	ps_debug("open %s flags 0%o: %d", path, flags, rc);
	ps_leave();
	return (int)ps_ret(ps_errno_for_program(rc), saved);
}

int ps_openat_impl(int dirfd, const char *path, int flags, mode_t mode)
{
	return openat_impl(dirfd, path, flags, mode, 0);
}

/* posix_spawn's file actions run in a vfork child, which shares its parent's memory: it may neither fill the
 * parent's caches with its descriptors nor take the creation lock (whose descriptor lives there too). An untouched
 * lower file opened read-only is opened as it is; anything that has or needs shadow state is refused, loudly -
 * never a stale lower byte, never a write to the lower tree. */
static int open_in_vfork_child_body(const char *path, int flags, mode_t mode)
{
	int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT));
	struct ps_shadow own, *sh = ps_shadow_if_open();
	struct ps_target t;
	struct ps_ns ns;
	char why[256];
	int rc = 0;

	if (!ps_enter())
		return (int)REAL(syscall)(SYS_openat, AT_FDCWD, path, flags, mode);
	if (ps_resolve(AT_FDCWD, path, !(flags & O_NOFOLLOW), &t) > 0) {
		if (!sh && ps_shadow_open(&own, ps_cfg.shadow, 0, why, sizeof(why)) == 0)
			sh = &own;
		rc = writes || !sh || ps_ns_lookup(sh, ps_cfg.prefix[t.prefix].enc, t.rel, &ns) < 0 ||
		     ns.state != PS_NS_LOWER;
		if (sh == &own)
			ps_shadow_close(&own);
		if (rc)
			ps_refusal("posix_spawn file action on %s: a file under a read-only prefix with shadow state (or "
				   "opened to write) cannot be opened in the vfork child; open it in the parent", path);
	}
	ps_leave();
	if (rc) {
		errno = EROFS;
		return -1;
	}
	return (int)REAL(syscall)(SYS_openat, AT_FDCWD, ps_pass(path), flags, mode);
}

/* The vfork child runs on the small stack glibc maps for it (36 KiB in glibc 2.36), which resolving a name
 * overflows: the work runs on a stack of its own, mapped for the call. The job is handed over in a thread-local
 * variable: the child has its parent thread's, and that thread waits until the child execs. */
struct vfork_open {
	const char *path;
	int flags, rc, err;
	mode_t mode;
};
static __thread struct vfork_open *vfork_job;

static void vfork_open_entry(void)
{
	struct vfork_open *job = vfork_job;

	job->rc = open_in_vfork_child_body(job->path, job->flags, job->mode);
	job->err = errno;
}

static int open_in_vfork_child(const char *path, int flags, mode_t mode)
{
	enum { STACK = 256 * 1024 };
	struct vfork_open job = { .path = path, .flags = flags, .mode = mode, .rc = -1, .err = ENOMEM };
	ucontext_t caller, worker;
	void *stack = REAL(mmap)(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (stack == MAP_FAILED)
		return -1;
	if (getcontext(&worker) == 0) {
		worker.uc_stack.ss_sp = stack;
		worker.uc_stack.ss_size = STACK;
		worker.uc_link = &caller;
		vfork_job = &job;
		makecontext(&worker, vfork_open_entry, 0);
		swapcontext(&caller, &worker);
	}
	REAL(munmap)(stack, STACK);
	if (job.rc < 0)
		errno = job.err;
	return job.rc;
}

/* glibc's own opens (opendir, scandir, nftw, glob, fts...): a directory under a prefix is opened through the shim,
 * so that its listing is the merged one; anything else goes to the system call, with no cancellation point, as
 * the original. */
int ps_open_nocancel(const char *path, int flags, ...)
{
	mode_t mode = TAKE_MODE(flags, flags);

	if (!ps_fd_table_is_ours())
		return open_in_vfork_child(path, flags, mode);
	return openat_impl(AT_FDCWD, path, flags, mode, 1);
}

int open(const char *path, int flags, ...)
{
	return ps_openat_impl(AT_FDCWD, path, flags, TAKE_MODE(flags, flags));
}

int open64(const char *path, int flags, ...)
{
	return ps_openat_impl(AT_FDCWD, path, flags, TAKE_MODE(flags, flags));
}

int __open(const char *path, int flags, ...)
{
	return ps_openat_impl(AT_FDCWD, path, flags, TAKE_MODE(flags, flags));
}

int __open64(const char *path, int flags, ...)
{
	return ps_openat_impl(AT_FDCWD, path, flags, TAKE_MODE(flags, flags));
}

int __open_2(const char *path, int flags)
{
	return ps_openat_impl(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return ps_openat_impl(AT_FDCWD, path, flags, 0);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	return ps_openat_impl(dirfd, path, flags, TAKE_MODE(flags, flags));
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	return ps_openat_impl(dirfd, path, flags, TAKE_MODE(flags, flags));
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return ps_openat_impl(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return ps_openat_impl(dirfd, path, flags, 0);
}

int creat(const char *path, mode_t mode)
{
	return ps_openat_impl(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return ps_openat_impl(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/* ---- the mkstemp family: glibc creates the file through an internal open no wrapper sees ---- */

static int template_in_prefix(const char *tmpl)
{
	return ps_path_in_prefix(tmpl, 0) != 0; /* errors too: the shim's open reports them */
}

static void fill_random(char *x, size_t n)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint64_t v = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)x ^ (uint64_t)clock();

		memcpy(rnd, &v, sizeof(rnd));
	}
	for (size_t i = 0; i < n; i++)
		x[i] = letters[rnd[i] % (sizeof(letters) - 1)];
}

static int mkostemps_shadowed(char *tmpl, int suffixlen, int flags)
{
	size_t len = strlen(tmpl);
	char *x;

	if (suffixlen < 0 || len < 6 + (size_t)suffixlen ||
	    strncmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0) {
		errno = EINVAL;
		return -1;
	}
	x = tmpl + len - suffixlen - 6;
	for (int attempt = 0; attempt < 1000; attempt++) {
		int fd;

		fill_random(x, 6);
		fd = ps_openat_impl(AT_FDCWD, tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

int mkstemp(char *tmpl)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, 0, 0) : REAL(mkstemp)(tmpl);
}

int mkstemp64(char *tmpl)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, 0, 0) : REAL(mkstemp64)(tmpl);
}

int mkostemp(char *tmpl, int flags)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, 0, flags) : REAL(mkostemp)(tmpl, flags);
}

int mkostemp64(char *tmpl, int flags)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, 0, flags) : REAL(mkostemp64)(tmpl, flags);
}

int mkstemps(char *tmpl, int suffixlen)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, suffixlen, 0) : REAL(mkstemps)(tmpl, suffixlen);
}

int mkstemps64(char *tmpl, int suffixlen)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, suffixlen, 0) : REAL(mkstemps64)(tmpl, suffixlen);
}

int mkostemps(char *tmpl, int suffixlen, int flags)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, suffixlen, flags)
					: REAL(mkostemps)(tmpl, suffixlen, flags);
}

int mkostemps64(char *tmpl, int suffixlen, int flags)
{
	return template_in_prefix(tmpl) ? mkostemps_shadowed(tmpl, suffixlen, flags)
					: REAL(mkostemps64)(tmpl, suffixlen, flags);
}

/* mkdtemp: glibc makes the directory with an internal mkdir no wrapper sees. */
char *mkdtemp(char *tmpl)
{
	size_t len;

	if (!template_in_prefix(tmpl))
		return REAL(mkdtemp)(tmpl);
	len = strlen(tmpl);
	if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX") != 0) {
		errno = EINVAL;
		return NULL;
	}
	for (int attempt = 0; attempt < 1000; attempt++) {
		fill_random(tmpl + len - 6, 6);
		if (mkdir(tmpl, 0700) == 0)
			return tmpl;
		if (errno != EEXIST)
			return NULL;
	}
	errno = EEXIST;
	return NULL;
}
