/* fdtable.c - which of the program's descriptors the shim manages, and their open file descriptions.
 *
 * Entry points: ps_fd_get, ps_open_put, ps_fd_track, ps_fd_share, ps_fd_forget.
 * A two-level table indexed by fd: 1024 chunks of 1024 slots, each chunk mapped on first use, so the common
 * case - an fd the shim never saw - costs two loads and no lock. Taking a reference on a slot's description and
 * changing slots take one mutex: a description is freed only after its last reference is dropped.
 * Dups share one struct ps_open, as the kernel shares one open file description (offset, flags, OFD locks).
 */
#include "shim.h"
#include "log.h"
#include "merge.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#define CHUNK_SHIFT 10
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define NCHUNKS 1024u

static struct ps_open **chunks[NCHUNKS];
static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;
static pid_t table_pid; /* the process the table describes; refreshed in fork children */

static void table_atfork_child(void)
{
	table_pid = getpid();
}

void ps_fd_table_init(void)
{
	table_pid = getpid();
	pthread_atfork(NULL, NULL, table_atfork_child);
}

/* A vfork child (Python's subprocess, posix_spawn) runs in its parent's memory until it execs: what it closes and
 * dups is its own, and must not change the parent's table. */
int ps_fd_table_is_ours(void)
{
	return getpid() == table_pid;
}

static struct ps_open **slot(int fd, int create)
{
	unsigned c = (unsigned)fd >> CHUNK_SHIFT;
	struct ps_open **chunk;

	if (fd < 0 || c >= NCHUNKS)
		return NULL;
	chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
	if (!chunk && create) {
		chunk = REAL(mmap)(NULL, CHUNK_SIZE * sizeof(*chunk), PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk == MAP_FAILED)
			return NULL;
		__atomic_store_n(&chunks[c], chunk, __ATOMIC_RELEASE);
	}
	return chunk ? &chunk[(unsigned)fd & (CHUNK_SIZE - 1)] : NULL;
}

/* A lower fd whose file got a record since we last looked becomes a merged one. */
static void recheck_lower(struct ps_open *o)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_target t;
	struct ps_file *f;
	uint64_t gen;
	int saved = errno; /* the call goes on to pass through: its errno must be the real call's alone */

	if (!sh)
		return;
	gen = ps_shadow_generation(sh);
	if (gen == __atomic_load_n(&o->generation, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&o->mutex);
	if (!o->file && ps_resolve(AT_FDCWD, o->path, 1, &t) == 1 && ps_target_lookup(&t, &f) == 0) {
		__atomic_store_n(&o->file, f, __ATOMIC_RELEASE);
		ps_debug("%s: lower fd now reads the merged file", o->path);
	}
	__atomic_store_n(&o->generation, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&o->mutex);
	errno = saved;
}

struct ps_open *ps_fd_get(int fd)
{
	struct ps_open **s = slot(fd, 0);
	struct ps_open *o;

	if (!s || !__atomic_load_n(s, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&table_mutex);
	o = *s;
	if (o)
		o->refs++;
	pthread_mutex_unlock(&table_mutex);
	if (o && o->kind == PS_OPEN_LOWER && !o->file)
		recheck_lower(o);
	if (o && o->file)
		ps_maps_check(o->file); /* pages another process copied up show in this process's maps */
	return o;
}

static void open_free(struct ps_open *o)
{
	if (o->lock_fd >= 0)
		ps_sys->close(o->lock_fd);
	if (o->file)
		ps_file_put(o->file);
	if (o->dir) {
		ps_dirlist_free(o->dir);
		free(o->dir);
	}
	pthread_mutex_destroy(&o->mutex);
	free(o);
}

void ps_open_put(struct ps_open *o)
{
	int last;

	pthread_mutex_lock(&table_mutex);
	last = --o->refs == 0;
	pthread_mutex_unlock(&table_mutex);
	if (last)
		open_free(o);
}

int ps_fd_track(int fd, enum ps_open_kind kind, int flags, struct ps_file *file, const char *path)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_open *o;
	struct ps_open **s, *old;

	if (!ps_fd_table_is_ours()) {
		if (file)
			ps_file_put(file);
		return 0; /* the vfork child's own descriptor; its exec adopts it */
	}
	o = calloc(1, sizeof(*o) + strlen(path) + 1);
	if (!o)
		goto fail;
	o->refs = 1;
	o->kind = kind;
	o->flags = flags;
	o->file = file;
	o->lock_fd = -1;
	o->generation = sh ? ps_shadow_generation(sh) : 0;
	pthread_mutex_init(&o->mutex, NULL);
	strcpy(o->path, path);
	pthread_mutex_lock(&table_mutex);
	s = slot(fd, 1);
	if (!s) {
		pthread_mutex_unlock(&table_mutex);
		free(o);
		goto fail;
	}
	old = *s;
	*s = o;
	pthread_mutex_unlock(&table_mutex);
	if (old) /* a descriptor closed behind our back (raw syscall): forget it */
		ps_open_put(old);
	return 0;
fail:
	if (file)
		ps_file_put(file);
	REAL(close)(fd);
	return -ENOMEM;
}

void ps_fd_share(int newfd, struct ps_open *o)
{
	struct ps_open **s, *old = NULL;

	if (!ps_fd_table_is_ours())
		return;
	pthread_mutex_lock(&table_mutex);
	s = slot(newfd, 1);
	if (s) {
		old = *s;
		o->refs++;
		*s = o;
	}
	pthread_mutex_unlock(&table_mutex);
	if (old)
		ps_open_put(old);
}

struct ps_open *ps_fd_forget(int fd)
{
	struct ps_open **s = slot(fd, 0);
	struct ps_open *o;

	if (!s || !__atomic_load_n(s, __ATOMIC_ACQUIRE) || !ps_fd_table_is_ours())
		return NULL;
	pthread_mutex_lock(&table_mutex);
	o = *s;
	*s = NULL;
	pthread_mutex_unlock(&table_mutex);
	return o;
}

/* Looked at without the table's lock (the interrupted code may hold it): the program holds fd open, and with it
 * a reference on its description. The real call is right where the data file is the whole file (no lower bytes
 * show: a file made in the shadow, or cut to nothing) and for a descriptor that only appends (a log): every
 * write lands past the lower bytes. */
int ps_fd_nested_refuses(int fd)
{
	struct ps_open **s;
	struct ps_open *o;
	struct ps_file *f;

	if (!ps_nested() || !(s = slot(fd, 0)) || !(o = __atomic_load_n(s, __ATOMIC_ACQUIRE)))
		return 0;
	if (!(f = __atomic_load_n(&o->file, __ATOMIC_ACQUIRE)))
		return 0;
	if (o->kind == PS_OPEN_DATA && !ps_merge_shows_lower(f))
		return 0;
	return !(o->kind == PS_OPEN_DATA && (o->flags & O_APPEND) && (o->flags & O_ACCMODE) == O_WRONLY);
}

struct ps_open *ps_fd_merged(int fd)
{
	struct ps_open *o;

	if (!ps_enter())
		return ps_fd_nested_refuses(fd) ? PS_OPEN_REFUSED : NULL;
	o = ps_fd_get(fd);
	if (o && o->file)
		return o;
	if (o)
		ps_open_put(o);
	ps_leave();
	return NULL;
}

long ps_fd_refused(int fd)
{
	ps_debug("fd %d: a call from a signal handler that interrupted the shim: EIO (the merge cannot run here)", fd);
	errno = EIO;
	return -1;
}

long ps_fd_done(struct ps_open *o, long rc, int saved_errno)
{
	ps_open_put(o);
	ps_leave();
	return ps_ret(rc < 0 ? ps_errno_for_program((int)rc) : rc, saved_errno);
}

void ps_open_log_change(struct ps_open *o)
{
	if (!__atomic_exchange_n(&o->changed, 1, __ATOMIC_RELAXED)) /* once, also between threads */
		ps_change_done(0, PS_CHANGE_WRITE, o->path, NULL);
}

int ps_open_attach_record(struct ps_open *o)
{
	struct ps_shadow *sh = ps_shadow_get();
	struct ps_target t;
	struct ps_file *f;
	struct stat lst;
	int rc;

	if (o->file)
		return 0;
	if (!sh)
		return -EROFS;
	rc = ps_resolve(AT_FDCWD, o->path, 1, &t);
	if (rc <= 0)
		return rc < 0 ? rc : -EIO;
	if (REAL(fstatat)(AT_FDCWD, t.path, &lst, 0) < 0)
		return -errno;
	if ((rc = ps_target_shadow_lower(&t, &lst, &f)) < 0)
		return rc;
	pthread_mutex_lock(&o->mutex);
	if (o->file)
		ps_file_put(f);
	else
		__atomic_store_n(&o->file, f, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&o->mutex);
	return 0;
}

void ps_fd_table_renumber(int from, int to)
{
	pthread_mutex_lock(&table_mutex);
	for (unsigned c = 0; c < NCHUNKS; c++) {
		struct ps_open **chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);

		for (unsigned i = 0; chunk && i < CHUNK_SIZE; i++)
			if (chunk[i])
				ps_sys_renumbered(&chunk[i]->lock_fd, from, to);
	}
	pthread_mutex_unlock(&table_mutex);
}

void ps_fd_forget_range(unsigned int first, unsigned int last)
{
	if (!ps_fd_table_is_ours())
		return;
	for (unsigned c = first >> CHUNK_SHIFT; c < NCHUNKS && c <= (last >> CHUNK_SHIFT); c++) {
		if (!__atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE))
			continue;
		for (unsigned i = 0; i < CHUNK_SIZE; i++) {
			unsigned fd = (c << CHUNK_SHIFT) | i;
			struct ps_open *o;

			if (fd < first || fd > last)
				continue;
			o = ps_fd_forget((int)fd);
			if (o) {
				ps_lock_release_posix(o);
				ps_open_put(o);
			}
		}
	}
}

/* The canonical path a descriptor of the shadow's data tree stands for, or of a lower file: into out. Returns
 * PS_OPEN_DATA, PS_OPEN_LOWER, or -1 when fd is neither. */
static int classify_inherited(int fd, char *out, size_t outsz)
{
	char link[64], target[PATH_MAX], data_root[PATH_MAX + 8];
	const char *rel;
	ssize_t n;
	int idx;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlink, link, target, sizeof(target) - 1);
	if (n <= 0 || target[0] != '/')
		return -1;
	target[n] = '\0';
	snprintf(data_root, sizeof(data_root), "%s/data/", ps_cfg.shadow);
	if (strncmp(target, data_root, strlen(data_root)) != 0) {
		if (ps_config_match(&ps_cfg, target, &rel) < 0 || (size_t)n >= outsz)
			return -1;
		strcpy(out, target);
		return PS_OPEN_LOWER;
	}
	for (idx = 0; idx < ps_cfg.nprefix; idx++) {
		size_t elen = strlen(ps_cfg.prefix[idx].enc);
		const char *p = target + strlen(data_root);

		if (elen && strncmp(p, ps_cfg.prefix[idx].enc, elen) == 0 && p[elen] == '/') {
			n = snprintf(out, outsz, "%s/%s", ps_cfg.prefix[idx].path, p + elen + 1);
			return n > 0 && (size_t)n < outsz ? PS_OPEN_DATA : -1;
		}
	}
	return -1;
}

static void adopt(int fd)
{
	char path[PATH_MAX];
	struct ps_target t;
	struct ps_file *f = NULL;
	struct stat st;
	int kind = classify_inherited(fd, path, sizeof(path));
	int flags;

	if (kind < 0 || REAL(fstat)(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		return;
	flags = REAL(fcntl)(fd, F_GETFL);
	if (flags < 0 || ps_resolve(AT_FDCWD, path, 1, &t) != 1)
		return;
	if (S_ISDIR(st.st_mode)) { /* `exec 3< dir`: its listing is the merged one here too */
		if (!(flags & O_PATH) && ps_fd_track(fd, PS_OPEN_DIR, flags, NULL, t.path) == 0)
			ps_debug("fd %d inherited: directory %s", fd, t.path);
		return;
	}
	/* a lower file may have its record already: the descriptor is merged from the start (its generation is
	 * today's, so no later check would find the record) */
	if (ps_target_lookup(&t, &f) < 0 && kind == PS_OPEN_DATA)
		return; /* a data file whose record is gone (the file was removed or renamed): leave it alone */
	if (ps_fd_track(fd, kind, flags, f, t.path) < 0)
		return;
	ps_debug("fd %d inherited: %s (%s)", fd, t.path, kind == PS_OPEN_DATA ? "data" : "lower");
	if (fd <= 2 && ps_merge_shows_lower(f))
		ps_stdio_replace_std(fd);
}

int ps_fd_adopt(int fd)
{
	adopt(fd);
	return ps_fd_get_kind(fd);
}

int ps_fd_get_kind(int fd)
{
	struct ps_open *o = ps_fd_get(fd);
	int kind;

	if (!o)
		return -1;
	kind = o->kind;
	ps_open_put(o);
	return kind;
}

/* The kernel alone gives the merged answers when fd is not the shim's, an untouched lower file, or a data file
 * whose reads see no lower bytes - unless its writes are to be logged (change.h). (A descriptor that only appends
 * is not enough: ftruncate, or fcntl clearing O_APPEND, would reach below the lower bytes.) */
int ps_fd_kernel_serves(int fd)
{
	struct ps_open *o = ps_fd_get(fd);
	int serves;

	if (!o)
		return 1;
	if (o->kind == PS_OPEN_DIR)
		serves = 0;
	else if (!o->file)
		serves = o->kind == PS_OPEN_LOWER;
	else if (o->kind != PS_OPEN_DATA || (ps_open_writes(o) && (ps_change_mode & PS_CHANGE_LOG)))
		serves = 0;
	else
		serves = !ps_merge_shows_lower(o->file);
	ps_open_put(o);
	return serves;
}

/* Make fd one the kernel serves alone (ps_fd_kernel_serves) where only the lower bytes its file still shows stand
 * in the way: they are copied up (ps_merge_copy_up_whole). 0 when the kernel serves it now; -EOPNOTSUPP with *why
 * saying what else stands in the way; -errno of a failed copy-up. */
int ps_fd_make_kernel_served(int fd, const char **why)
{
	struct ps_open *o;
	int rc = -EOPNOTSUPP;

	if (ps_fd_kernel_serves(fd) || !(o = ps_fd_get(fd)))
		return 0;
	*why = "it is no regular file's data file";
	if (o->kind != PS_OPEN_DATA || !o->file)
		; /* (a directory, a lower file that got its record after the open) */
	else if (ps_change_mode & PS_CHANGE_LOG) /* (even read-only: /dev/fd/N reopens it for writing, unseen) */
		*why = "changes are logged, and the kernel's writes through it would not be";
	else if (ps_change_denied())
		*why = "changes are denied, and its lower bytes would have to be copied up";
	else if ((rc = ps_merge_copy_up_whole(o->file)) < 0)
		*why = "its lower bytes could not be copied up";
	ps_open_put(o);
	return rc < 0 ? rc : ps_fd_kernel_serves(fd) ? 0 : -EOPNOTSUPP;
}

/* "N" followed by nothing: N, else -1. */
static int whole_number(const char *p)
{
	int n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *p - '0', &n))
			return -1;
	return *p ? -1 : n;
}

int ps_fd_name(const char *path, pid_t pid)
{
	static const char *const std[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
	char own[32];
	size_t n;

	if (path[0] != '/' || (path[1] != 'd' && path[1] != 'p'))
		return -1; /* (the common case, at once) */
	for (int i = 0; i < 3; i++)
		if (strcmp(path, std[i]) == 0)
			return i;
	if (strncmp(path, "/dev/fd/", 8) == 0)
		return whole_number(path + 8);
	if (strncmp(path, "/proc/self/fd/", 14) == 0)
		return whole_number(path + 14);
	if (strncmp(path, "/proc/thread-self/fd/", 21) == 0)
		return whole_number(path + 21);
	if (strncmp(path, "/proc/", 6) != 0)
		return -1;
	n = (size_t)snprintf(own, sizeof(own), "/proc/%d/fd/", (int)(pid > 0 ? pid : getpid()));
	return strncmp(path, own, n) == 0 ? whole_number(path + n) : -1;
}

int ps_own_fd_name(const char *path)
{
	return ps_fd_name(path, 0); /* (getpid only for a /proc name: every open and stat asks) */
}

int ps_fd_next(int after)
{
	for (unsigned fd = after < 0 ? 0 : (unsigned)after + 1; fd < NCHUNKS * CHUNK_SIZE; fd++) {
		struct ps_open **chunk = __atomic_load_n(&chunks[fd >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);

		if (!chunk)
			fd |= CHUNK_SIZE - 1; /* (the next chunk) */
		else if (__atomic_load_n(&chunk[fd & (CHUNK_SIZE - 1)], __ATOMIC_ACQUIRE))
			return (int)fd;
	}
	return -1;
}

int ps_fd_list(char *buf, size_t sz)
{
	char *out = buf, *end = buf + sz;

	for (unsigned c = 0; c < NCHUNKS; c++) {
		struct ps_open **chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);

		for (unsigned i = 0; chunk && i < CHUNK_SIZE; i++) {
			if (!__atomic_load_n(&chunk[i], __ATOMIC_ACQUIRE))
				continue;
			if (end - out < 22) /* a comma, 20 digits and the final NUL */
				return -1;
			if (out > buf)
				*out++ = ',';
			out = ps_put_uint(out, c << CHUNK_SHIFT | i);
		}
	}
	*out = '\0';
	return 0;
}

/* The hint a shimmed parent left (PS_FDS_ENV), if it is meant for this process: the list, else NULL. */
static const char *fd_hint_for_us(void)
{
	const char *v = getenv(PS_FDS_ENV), *p;
	char *end;
	long pid;

	if (!v || (v[0] != PS_FDS_EXEC && v[0] != PS_FDS_SPAWN))
		return NULL;
	pid = strtol(v + 1, &end, 10);
	if (*end != ':' || pid != (v[0] == PS_FDS_EXEC ? getpid() : getppid()))
		return NULL;
	for (p = end + 1; *p; p++) /* digits and commas only: adopt nothing from a list that is not one */
		if ((*p < '0' || *p > '9') && *p != ',')
			return NULL;
	return end + 1;
}

/* The descriptors the hint lists ("fd,fd,..."). */
static void adopt_listed(const char *list)
{
	for (char *end; *list; list = *end ? end + 1 : end) {
		long fd = strtol(list, &end, 10);

		if (end > list)
			adopt((int)fd);
	}
}

/* Every descriptor /proc/self/fd names. */
void ps_fd_each_open(void (*fn)(int fd, void *arg), void *arg)
{
	char buf[4096];
	int dfd = REAL(openat)(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dfd < 0)
		return;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd = atoi(d->d_name);

			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9' && fd != dfd)
				fn(fd, arg);
		}
	}
	REAL(close)(dfd);
}

int ps_fd_inherited_needs_merge(int fd)
{
	char path[PATH_MAX];
	struct stat st;
	int kind = classify_inherited(fd, path, sizeof(path));

	if (kind < 0 || REAL(fstat)(fd, &st) < 0)
		return 0;
	return S_ISDIR(st.st_mode) || (kind == PS_OPEN_DATA && S_ISREG(st.st_mode));
}

static void adopt_one(int fd, void *arg)
{
	(void)arg;
	adopt(fd);
}

/* With a hint, only the descriptors it lists are looked at: reading /proc/self/fd costs a new process tens of
 * microseconds (its /proc entries are made on first use). The hint goes: it described this process's start, not
 * what its own children inherit. */
void ps_fd_adopt_inherited(void)
{
	const char *hint = fd_hint_for_us();

	if (hint)
		adopt_listed(hint);
	else
		ps_fd_each_open(adopt_one, NULL);
	unsetenv(PS_FDS_ENV); /* after: the list lies in the variable's string */
}
