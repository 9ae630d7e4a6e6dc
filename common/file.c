/* file.c - per-process shadowed-file objects: lookup, creation, references (see file.h). */
#include "file.h"
#include "log.h"
#include "ns.h"
#include "path.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PS_FILE_BUCKETS 256

static struct ps_file *buckets[PS_FILE_BUCKETS];
static struct ps_file *live; /* every object, also those unhashed (renamed, unlinked) or never hashed */
static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Objects no descriptor uses any more, kept (hashed, refs 0) so that opening the file again costs no record
 * reading: most recently released first, at most idle_max (0: none kept - the tools, whose shadow may close). */
static struct ps_file *idle_first, *idle_last;
static unsigned idle_count, idle_max;

static void file_free(struct ps_file *f);

static void live_add(struct ps_file *f)
{
	pthread_mutex_lock(&table_mutex);
	f->live_next = live;
	if (live)
		live->live_prev = f;
	live = f;
	pthread_mutex_unlock(&table_mutex);
}

static void live_remove(struct ps_file *f)
{
	pthread_mutex_lock(&table_mutex);
	if (f->live_prev)
		f->live_prev->live_next = f->live_next;
	else if (live == f)
		live = f->live_next;
	if (f->live_next)
		f->live_next->live_prev = f->live_prev;
	pthread_mutex_unlock(&table_mutex);
}

void ps_file_renumber_fd(int from, int to)
{
	pthread_mutex_lock(&table_mutex);
	for (struct ps_file *f = live; f; f = f->live_next) {
		ps_sys_renumbered(&f->lower_fd, from, to);
		ps_sys_renumbered(&f->data_fd, from, to);
		ps_sys_renumbered(&f->lock_fd, from, to);
		ps_sys_renumbered(&f->rec.fd, from, to);
	}
	pthread_mutex_unlock(&table_mutex);
}

static unsigned hash_path(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % PS_FILE_BUCKETS;
}

static struct ps_file *find_locked(const char *path)
{
	for (struct ps_file *f = buckets[hash_path(path)]; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static void unhash_locked(struct ps_file *f)
{
	for (struct ps_file **pp = &buckets[hash_path(f->path)]; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			return;
		}
	}
}


static void idle_remove_locked(struct ps_file *f)
{
	if (f->idle_prev)
		f->idle_prev->idle_next = f->idle_next;
	else
		idle_first = f->idle_next;
	if (f->idle_next)
		f->idle_next->idle_prev = f->idle_prev;
	else
		idle_last = f->idle_prev;
	f->idle_prev = f->idle_next = NULL;
	idle_count--;
}

/* f's last reference went: keep it, and return the object that no longer fits (to free), or NULL. */
static struct ps_file *idle_add_locked(struct ps_file *f)
{
	struct ps_file *oldest;

	f->idle_prev = NULL;
	f->idle_next = idle_first;
	if (idle_first)
		idle_first->idle_prev = f;
	else
		idle_last = f;
	idle_first = f;
	if (++idle_count <= idle_max)
		return NULL;
	oldest = idle_last;
	idle_remove_locked(oldest);
	unhash_locked(oldest);
	return oldest;
}

void ps_file_keep_idle(unsigned max)
{
	pthread_mutex_lock(&table_mutex);
	idle_max = max;
	while (idle_count > idle_max) {
		struct ps_file *oldest = idle_last;

		idle_remove_locked(oldest);
		unhash_locked(oldest);
		pthread_mutex_unlock(&table_mutex);
		file_free(oldest);
		pthread_mutex_lock(&table_mutex);
	}
	pthread_mutex_unlock(&table_mutex);
}

/* f leaves the table (its name now leads elsewhere): the object to free when nothing uses it, else NULL. */
static struct ps_file *drop_name_locked(struct ps_file *f)
{
	unhash_locked(f);
	f->unlinked = 1;
	if (f->refs)
		return NULL; /* open fds keep it, as they keep a replaced file's inode */
	idle_remove_locked(f);
	return f;
}

static void file_free(struct ps_file *f)
{
	live_remove(f);
	ps_record_release(&f->rec);
	if (f->data_fd >= 0)
		ps_sys->close(f->data_fd);
	if (f->lower_fd >= 0)
		ps_sys->close(f->lower_fd);
	if (f->lock_fd >= 0)
		ps_sys->close(f->lock_fd);
	pthread_mutex_destroy(&f->lock);
	free(f->data_path);
	free(f->meta_path);
	free(f);
}

static struct ps_file *file_alloc(struct ps_shadow *sh, const struct ps_file_name *name)
{
	char data[PATH_MAX], meta[PATH_MAX];
	struct ps_file *f;

	if (ps_shadow_path(data, sizeof(data), "data", name->enc_prefix, name->rel) < 0 ||
	    ps_shadow_path(meta, sizeof(meta), "meta", name->enc_prefix, name->rel) < 0)
		return NULL;
	f = calloc(1, sizeof(*f) + strlen(name->path) + 1);
	if (!f)
		return NULL;
	strcpy(f->path, name->path);
	f->rel_off = strlen(name->path) - strlen(name->rel);
	f->data_path = strdup(data);
	f->meta_path = strdup(meta);
	f->lower_fd = f->data_fd = f->lock_fd = f->rec.fd = -1;
	f->sh = sh;
	f->refs = 1;
	pthread_mutex_init(&f->lock, NULL);
	if (!f->data_path || !f->meta_path) {
		file_free(f);
		return NULL;
	}
	live_add(f);
	return f;
}

/* The data file is never shorter than lower_len, except after a truncation interrupted between the data file
 * and the record (merge.c): finish it. */
static int repair_lower_len(struct ps_file *f)
{
	struct stat st;

	if (ps_sys->fstat(f->data_fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < ps_record_lower_len(&f->rec)) {
		ps_debug("%s: lower_len %llu past the data file's end %lld: lowered", f->path,
			 (unsigned long long)ps_record_lower_len(&f->rec), (long long)st.st_size);
		ps_record_shrink_lower_len(&f->rec, (uint64_t)st.st_size);
	}
	return 0;
}

/* The data file, read-write (read-only while a program runs from it: exec.h). A rename under way in another
 * process moves the data file before the record: one wait for the creation lock sees it done. */
static int open_data_file(struct ps_file *f)
{
	int fd = ps_sys->openat(f->sh->dirfd, f->data_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 && errno == ENOENT && !ps_shadow_lock_is_mine() && ps_shadow_lock_create(f->sh) == 0) {
		ps_shadow_unlock_create(f->sh);
		fd = ps_sys->openat(f->sh->dirfd, f->data_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd;
}

/* Do the record and the data file found under f's name belong together? A rename moves the data file first and
 * the record next: in between, a name can hold one file's record and another's data file. -EAGAIN then. */
static int pair_matches(struct ps_file *f)
{
	uint64_t want = f->rec.hdr->data_ino;
	struct stat st;

	if (!want) /* a record made before the field existed */
		return 0;
	if (ps_sys->fstat(f->data_fd, &st) < 0)
		return -errno;
	return (uint64_t)st.st_ino == want ? 0 : -EAGAIN;
}

/* The record is no longer at f's name (it moved or went while we looked). */
static int record_gone(const struct ps_file *f)
{
	struct stat st;

	return ps_sys->fstatat(f->sh->dirfd, f->meta_path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode);
}

/* Where f's lower file is: at its own name, or where the record's origin says (a renamed file). */
static int lower_path(struct ps_file *f, int rfd, char *out, size_t outsz)
{
	char origin[PS_RECORD_ORIGIN_MAX + 1];
	int n = ps_record_read_origin(rfd, origin, sizeof(origin));

	if (n < 0)
		return n;
	if (n == 0)
		n = snprintf(out, outsz, "%s", f->path);
	else
		n = snprintf(out, outsz, "%.*s%s", (int)f->rel_off, f->path, origin); /* "<prefix>/" + origin */
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* Open the pieces of an existing record: record, lower file (checked against it), data file. */
static int file_open_parts(struct ps_file *f)
{
	char lower[PATH_MAX];
	struct stat lst;
	int rfd, rc;

	f->generation = ps_shadow_generation(f->sh);
	rfd = ps_sys->openat(f->sh->dirfd, f->meta_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (rfd < 0) /* a directory (or a file above the name) in the meta tree is not a record */
		return errno == EISDIR || errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno; /* or a whiteout */
	if ((rc = lower_path(f, rfd, lower, sizeof(lower))) < 0) {
		ps_sys->close(rfd);
		return rc;
	}
	f->lower_fd = ps_sys->openat(AT_FDCWD, lower, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (f->lower_fd >= 0 && ps_sys->fstat(f->lower_fd, &lst) < 0) {
		ps_sys->close(rfd);
		return -errno;
	}
	rc = ps_record_load(&f->rec, rfd, f->lower_fd >= 0 ? &lst : NULL, f->path);
	if (rc < 0) {
		ps_sys->close(rfd);
		return rc;
	}
	if (!f->rec.has_lower && f->lower_fd >= 0) {
		ps_sys->close(f->lower_fd);
		f->lower_fd = -1;
	}
	f->data_fd = open_data_file(f);
	if (f->data_fd < 0 && errno == ETXTBSY) /* a program runs from it (exec.h): read it, as a real file */
		f->data_fd = ps_sys->openat(f->sh->dirfd, f->data_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f->data_fd < 0) {
		rc = -errno;
		if (rc == -ENOENT && record_gone(f))
			return -ENOENT; /* as a lookup a moment later finds it */
		ps_error("%s: shadow record without its data file %s/%s: %s", f->path, f->sh->path, f->data_path,
			 strerror(errno));
		return rc == -ENOENT ? -EILSEQ : rc;
	}
	if ((rc = pair_matches(f)) < 0)
		return rc;
	return repair_lower_len(f);
}

/* The record and data file under name still disagree on the data file's inode with no rename under way (the
 * creation lock held): the shadow was copied (cp -a, tar, a CI cache restore renumber inodes). The pair under
 * the name is the file: the record learns its data file's inode. */
static int adopt_pair(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out)
{
	struct ps_file *f = file_alloc(sh, name);
	int mine = ps_shadow_lock_is_mine();
	struct stat st;
	int rc;

	if (!f)
		return -ENOMEM;
	if (!mine && (rc = ps_shadow_lock_create(sh)) < 0) {
		file_free(f);
		return rc;
	}
	rc = file_open_parts(f);
	if (rc == -EAGAIN && ps_sys->fstat(f->data_fd, &st) == 0) {
		__atomic_store_n(&f->rec.hdr->data_ino, (uint64_t)st.st_ino, __ATOMIC_RELEASE);
		ps_debug("%s: record and data file paired anew (the shadow was copied)", name->path);
		rc = repair_lower_len(f);
	}
	if (!mine)
		ps_shadow_unlock_create(sh);
	if (rc < 0) {
		file_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

/* A new object for name with its parts open. A record and data file caught in the middle of a rename are
 * looked at again once the rename is done (the creation lock). */
static int open_consistent(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out)
{
	for (int attempt = 0;; attempt++) {
		struct ps_file *f = file_alloc(sh, name);
		int rc;

		if (!f)
			return -ENOMEM;
		rc = file_open_parts(f);
		if (rc == 0) {
			*out = f;
			return 0;
		}
		file_free(f);
		if (rc != -EAGAIN)
			return rc;
		if (attempt == 2 || ps_shadow_lock_is_mine()) /* no rename can be under way: the pair is the file */
			return adopt_pair(sh, name, out);
		if ((rc = ps_shadow_lock_create(sh)) < 0)
			return rc;
		ps_shadow_unlock_create(sh);
	}
}

static void insert_locked(struct ps_file *f)
{
	unsigned h = hash_path(f->path);

	f->next = buckets[h];
	buckets[h] = f;
}

/* Does a cached object still hold the path's current record? Another process may have renamed a file over it or
 * removed it; the generation says when to look again. Table mutex held. */
static int cached_is_current_locked(struct ps_file *f)
{
	uint64_t gen = ps_shadow_generation(f->sh);
	struct stat named, held;

	if (gen == f->generation)
		return 1;
	if (ps_sys->fstatat(f->sh->dirfd, f->meta_path, &named, AT_SYMLINK_NOFOLLOW) < 0 ||
	    ps_sys->fstat(f->rec.fd, &held) < 0 || named.st_ino != held.st_ino || named.st_dev != held.st_dev)
		return 0;
	f->generation = gen;
	return 1;
}

/* A kept object's lower file is still the one its record was made from? A lookup that reads the record checks
 * that (ps_record_load: -ESTALE); the lower tree may have changed while the object was idle. */
static int idle_lower_unchanged(struct ps_file *f)
{
	char lower[PATH_MAX], why[160];
	struct stat st;

	if (!f->rec.has_lower)
		return 1;
	return lower_path(f, f->rec.fd, lower, sizeof(lower)) == 0 && ps_sys->fstatat(AT_FDCWD, lower, &st, 0) == 0 &&
	       ps_record_check_header(f->rec.hdr, f->rec.map_len, &st, why, sizeof(why)) == 0;
}

int ps_file_lookup(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out)
{
	struct ps_file *f, *stale = NULL;
	int rc;

	pthread_mutex_lock(&table_mutex);
	f = find_locked(name->path);
	if (f && (!cached_is_current_locked(f) || (f->refs == 0 && !idle_lower_unchanged(f)))) {
		stale = drop_name_locked(f); /* the lookup below reads the record and says what changed */
		f = NULL;
	}
	if (f) {
		if (f->refs++ == 0)
			idle_remove_locked(f);
		pthread_mutex_unlock(&table_mutex);
		*out = f;
		return 0;
	}
	pthread_mutex_unlock(&table_mutex);
	if (stale)
		file_free(stale);

	if ((rc = open_consistent(sh, name, &f)) < 0)
		return rc;
	pthread_mutex_lock(&table_mutex);
	struct ps_file *raced = find_locked(name->path);
	if (raced) {
		if (raced->refs++ == 0)
			idle_remove_locked(raced);
		pthread_mutex_unlock(&table_mutex);
		file_free(f);
		*out = raced;
		return 0;
	}
	insert_locked(f);
	pthread_mutex_unlock(&table_mutex);
	*out = f;
	return 0;
}

static int set_data_ino(int rfd, int dfd)
{
	struct stat st;

	return ps_sys->fstat(dfd, &st) < 0 ? -errno : ps_record_file_set_data_ino(rfd, (uint64_t)st.st_ino);
}

/* A new file's data file stays its owner's to read and write whatever mode the program gave it: every process
 * opens it O_RDWR (a 0444 file made by a non-root program must still be written through the descriptor that made
 * it, and read by the next process). It gets owner read and write, and the mode the program sees - requested,
 * as the kernel narrowed it by the umask - goes into the record (rfd, not yet in place). An unnamed file (O_TMPFILE)
 * was made by the program itself: requested is the mode it had (unnamed_mode). */
static int settle_new_mode(int rfd, int dfd, mode_t requested, int unnamed)
{
	struct stat st;
	mode_t seen;
	int rc;

	if (ps_sys->fstat(dfd, &st) < 0)
		return -errno;
	/* the data file was made with requested | 0600: its owner bits are requested's only where the umask let them */
	seen = unnamed ? requested : (requested & st.st_mode & 0700) | (st.st_mode & 07077);
	if ((rc = ps_data_file_keep_rw(dfd, st.st_mode)) < 0)
		return rc;
	return seen == ((st.st_mode & 07777) | 0600) ? 0 : ps_record_file_set_mode(rfd, seen);
}

/* An unnamed file of the data tree (O_TMPFILE) becomes f's data file: linked by its /proc name (linkat with
 * AT_EMPTY_PATH needs a capability). The descriptor of the new name, or -1 and errno. */
static int link_unnamed(struct ps_shadow *sh, struct ps_file *f, int unnamed)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", unnamed);
	ps_sys->unlinkat(sh->dirfd, f->data_path, 0);
	if (ps_sys->linkat(AT_FDCWD, proc, sh->dirfd, f->data_path, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	return ps_sys->openat(sh->dirfd, f->data_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
}

/* The mode the program made an unnamed file with (O_TMPFILE), in *mode; the file itself gets owner read and
 * write if it lacks them (every process opens a data file O_RDWR, settle_new_mode). 0 or -errno. */
static int unnamed_mode(int unnamed, mode_t *mode)
{
	struct stat st;

	if (ps_sys->fstat(unnamed, &st) < 0)
		return -errno;
	*mode = st.st_mode & 07777;
	return ps_data_file_keep_rw(unnamed, st.st_mode);
}

int ps_data_file_keep_rw(int fd, mode_t st_mode)
{
	return (st_mode & 0600) == 0600 ? 0 : ps_sys_fchmod(fd, (st_mode & 07777) | 0600);
}

/* A record made for a lower file (its first write, chmod ...) changes no name in the merged tree, but adds an
 * entry to the shadow's directory, whose times a merged directory shows (the meta directory's mtime when later
 * than the lower one's, the data directory's once its attributes are the shadow's): its time is put back, and a
 * meta directory made for the purpose is dated 0, so that the lower directory's times show, as on a real tree
 * (tar, find -newer, rsync). The directories above it ps_shadow_make_parents keeps so already. A name made or
 * removed in the same directory at the same moment by another process may lose its mtime to this. */
struct quiet_dir {
	char dir[PATH_MAX];     /* the entry's directory */
	struct timespec mtime;  /* its mtime before */
	int found;              /* it was there */
};

static void quiet_before(const struct ps_shadow *sh, const char *relpath, struct quiet_dir *q)
{
	struct stat st;
	char *slash;

	snprintf(q->dir, sizeof(q->dir), "%s", relpath);
	if ((slash = strrchr(q->dir, '/')))
		*slash = '\0';
	q->found = slash && ps_sys->fstatat(sh->dirfd, q->dir, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (q->found)
		q->mtime = st.st_mtim;
}

/* date_new: the entry's directory, made since quiet_before, gets mtime 0. */
static void quiet_after(const struct ps_shadow *sh, const struct quiet_dir *q, int date_new)
{
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { 0 } };

	if (!q->found && !date_new)
		return;
	if (q->found)
		times[1] = q->mtime;
	ps_sys->utimensat(sh->dirfd, q->dir, times, AT_SYMLINK_NOFOLLOW);
}

/* Make the data file (sparse, at the lower size, with the lower's times) and the record, under the lock. */
static int create_locked(struct ps_shadow *sh, struct ps_file *f, const struct stat *lower, mode_t mode, int unnamed)
{
	struct quiet_dir quiet_meta, quiet_data;
	int dfd = -1, tfd = -1, rc;

	if (lower) {
		quiet_before(sh, f->meta_path, &quiet_meta);
		quiet_before(sh, f->data_path, &quiet_data);
	}
	if ((rc = ps_shadow_make_parents(sh, f->data_path)) < 0 || (rc = ps_shadow_make_parents(sh, f->meta_path)) < 0)
		return rc;
	/* A data file without a record is the leftover of an interrupted creation: start it afresh. */
	if (unnamed >= 0) {
		if ((rc = unnamed_mode(unnamed, &mode)) < 0)
			return rc;
		dfd = link_unnamed(sh, f, unnamed);
	} else
		dfd = ps_sys->openat(sh->dirfd, f->data_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				     (lower ? lower->st_mode & 07777 : mode) | 0600);
	if (dfd < 0)
		return -errno;
	if (lower) {
		struct timespec times[2] = { lower->st_atim, lower->st_mtim };

		if (ps_sys->ftruncate(dfd, lower->st_size) < 0 || ps_sys->futimens(dfd, times) < 0)
			goto fail_errno;
	}
	ps_sys->unlinkat(sh->dirfd, "new-record", 0);
	tfd = ps_sys->openat(sh->dirfd, "new-record", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd < 0)
		goto fail_errno;
	if ((rc = ps_record_format(tfd, lower)) < 0 || (rc = set_data_ino(tfd, dfd)) < 0 ||
	    (!lower && (rc = settle_new_mode(tfd, dfd, mode, unnamed >= 0)) < 0))
		goto fail;
	if (ps_sys->renameat(sh->dirfd, "new-record", sh->dirfd, f->meta_path) < 0)
		goto fail_errno;
	ps_sys->close(tfd);
	ps_sys->close(dfd);
	if (lower) {
		quiet_after(sh, &quiet_meta, 1);
		quiet_after(sh, &quiet_data, 0);
	}
	ps_shadow_bump_generation(sh);
	return 0;
fail_errno:
	rc = -errno;
fail:
	if (tfd >= 0) {
		ps_sys->close(tfd);
		ps_sys->unlinkat(sh->dirfd, "new-record", 0);
	}
	ps_sys->close(dfd);
	return rc;
}

/* Under the creation lock, what the caller saw must still hold: a lower file to shadow is still shown (another
 * process may have deleted or renamed it meanwhile); a new file's name is still free of the shadow's entries. */
static int name_is_free(struct ps_shadow *sh, const struct ps_file_name *name, int from_lower)
{
	struct ps_ns ns;
	int rc;

	if (!from_lower)
		return ps_ns_name_free_locked(sh, name->enc_prefix, name->rel);
	if ((rc = ps_ns_lookup(sh, name->enc_prefix, name->rel, &ns)) < 0)
		return rc;
	return ns.state == PS_NS_LOWER ? 0 : ns.state == PS_NS_NOTDIR ? -ENOTDIR : -ENOENT;
}

int ps_file_create(struct ps_shadow *sh, const struct ps_file_name *name, const struct stat *lower,
		   mode_t mode, int excl, struct ps_file **out)
{
	struct ps_file *f;
	int rc = ps_shadow_lock_create(sh);

	if (rc < 0)
		return rc;
	rc = ps_file_lookup(sh, name, out);
	if (rc == 0 && excl) {
		ps_file_put(*out);
		rc = -EEXIST;
	}
	if (rc != -ENOENT || (rc = name_is_free(sh, name, lower != NULL)) < 0)
		goto out_unlock;
	f = file_alloc(sh, name);
	if (!f) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	rc = create_locked(sh, f, lower, mode, -1);
	if (rc == 0 && ps_path_names_library(name->rel))
		ps_shadow_set_flags(sh, PS_SHADOW_HAS_LIBRARIES);
	file_free(f);
	if (rc == 0)
		rc = ps_file_lookup(sh, name, out);
	ps_debug("%s: record created (%s): %d", name->path, lower ? "from lower" : "new file", rc);
out_unlock:
	ps_shadow_unlock_create(sh);
	return rc;
}

int ps_file_lower_path(const struct ps_file *f, char *out, size_t outsz)
{
	int n;

	if (!ps_record_has_origin(&f->rec))
		n = snprintf(out, outsz, "%s", f->path);
	else
		n = snprintf(out, outsz, "%.*s%s", (int)f->rel_off, f->path, ps_record_origin(&f->rec));
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

int ps_file_open_unshared(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out)
{
	struct ps_file *f;
	int rc;

	if ((rc = open_consistent(sh, name, &f)) < 0)
		return rc;
	f->unlinked = 1; /* never in the table: the last put frees it */
	*out = f;
	return 0;
}

void ps_file_get(struct ps_file *f)
{
	pthread_mutex_lock(&table_mutex);
	f->refs++;
	pthread_mutex_unlock(&table_mutex);
}

void ps_file_put(struct ps_file *f)
{
	struct ps_file *gone = NULL;

	pthread_mutex_lock(&table_mutex);
	if (--f->refs == 0) {
		if (f->unlinked)
			gone = f;
		else if (idle_max)
			gone = idle_add_locked(f);
		else
			gone = (unhash_locked(f), f);
	}
	pthread_mutex_unlock(&table_mutex);
	if (gone)
		file_free(gone);
}

/* Forget the cached object for path so that the next lookup reads the record anew; open fds keep theirs. */
static void forget_cached(const char *path)
{
	struct ps_file *old, *gone = NULL;

	pthread_mutex_lock(&table_mutex);
	if ((old = find_locked(path)) != NULL)
		gone = drop_name_locked(old);
	pthread_mutex_unlock(&table_mutex);
	if (gone)
		file_free(gone);
}

int ps_file_unlink(struct ps_file *f)
{
	int rc = ps_shadow_lock_create(f->sh);

	if (rc < 0)
		return rc;
	if (ps_sys->unlinkat(f->sh->dirfd, f->meta_path, 0) < 0)
		rc = -errno;
	else
		ps_sys->unlinkat(f->sh->dirfd, f->data_path, 0);
	if (rc == 0) {
		forget_cached(f->path);
		ps_shadow_bump_generation(f->sh);
	}
	ps_shadow_unlock_create(f->sh);
	return rc;
}

/* Before f's record moves or gets a second name: say where its lower file is, and make that durable first (the
 * moved record must never look for its lower file at its new name). Creation lock held. */
static int keep_origin_locked(struct ps_file *f)
{
	int rc;

	if (f->lower_fd < 0 || ps_record_has_origin(&f->rec))
		return 0;
	if ((rc = ps_record_set_origin(&f->rec, f->path + f->rel_off)) < 0)
		return rc;
	return ps_record_sync(&f->rec);
}

int ps_file_keep_origin(struct ps_file *f)
{
	int rc = ps_shadow_lock_create(f->sh);

	if (rc < 0)
		return rc;
	rc = keep_origin_locked(f);
	ps_shadow_unlock_create(f->sh);
	return rc;
}

int ps_file_rename(struct ps_file *f, const struct ps_file_name *dst, int noreplace, int whiteout_src)
{
	struct ps_file *d = file_alloc(f->sh, dst);
	int rc;

	if (!d)
		return -ENOMEM;
	rc = ps_shadow_lock_create(f->sh);
	if (rc < 0)
		goto out_free;
	if ((noreplace && (rc = ps_ns_name_free_locked(f->sh, dst->enc_prefix, dst->rel)) < 0) ||
	    (rc = keep_origin_locked(f)) < 0)
		goto out_unlock;
	if ((rc = ps_shadow_make_parents(f->sh, d->data_path)) < 0 ||
	    (rc = ps_shadow_make_parents(f->sh, d->meta_path)) < 0)
		goto out_unlock;
	/* Data first, then the record that gives it meaning. */
	if (ps_sys->renameat(f->sh->dirfd, f->data_path, f->sh->dirfd, d->data_path) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	rc = whiteout_src ? ps_ns_move_leaving_whiteout_locked(f->sh, f->meta_path, d->meta_path)
			  : ps_sys->renameat(f->sh->dirfd, f->meta_path, f->sh->dirfd, d->meta_path) < 0 ? -errno : 0;
	if (rc < 0) { /* put the data file back: the source keeps both halves */
		ps_sys->renameat(f->sh->dirfd, d->data_path, f->sh->dirfd, f->data_path);
		goto out_unlock;
	}
	forget_cached(f->path);
	forget_cached(dst->path);
	if (ps_path_names_library(dst->rel)) /* cp new tmp && mv tmp libfoo.so */
		ps_shadow_set_flags(f->sh, PS_SHADOW_HAS_LIBRARIES);
	ps_shadow_bump_generation(f->sh);
out_unlock:
	ps_shadow_unlock_create(f->sh);
out_free:
	file_free(d);
	return rc;
}

int ps_file_link(struct ps_file *f, const struct ps_file_name *dst)
{
	struct ps_file *d = file_alloc(f->sh, dst);
	int rc;

	if (!d)
		return -ENOMEM;
	rc = ps_shadow_lock_create(f->sh);
	if (rc < 0)
		goto out_free;
	if ((rc = name_is_free(f->sh, dst, 0)) < 0 || (rc = keep_origin_locked(f)) < 0 ||
	    (rc = ps_shadow_make_parents(f->sh, d->data_path)) < 0 ||
	    (rc = ps_shadow_make_parents(f->sh, d->meta_path)) < 0)
		goto out_unlock;
	/* Data first; then the record takes its second name, over a whiteout if there is one. */
	ps_sys->unlinkat(f->sh->dirfd, d->data_path, 0); /* a leftover without a record */
	if (ps_sys->linkat(f->sh->dirfd, f->data_path, f->sh->dirfd, d->data_path, 0) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if ((rc = ps_ns_link_locked(f->sh, f->meta_path, d->meta_path)) < 0) {
		ps_sys->unlinkat(f->sh->dirfd, d->data_path, 0);
		goto out_unlock;
	}
	forget_cached(dst->path);
	if (ps_path_names_library(dst->rel)) /* ld.so must be asked about it wherever it is found (shadow.h) */
		ps_shadow_set_flags(f->sh, PS_SHADOW_HAS_LIBRARIES);
	ps_shadow_bump_generation(f->sh);
out_unlock:
	ps_shadow_unlock_create(f->sh);
out_free:
	file_free(d);
	return rc;
}

int ps_file_adopt(struct ps_shadow *sh, const struct ps_file_name *name, int unnamed)
{
	struct ps_file *f;
	int rc = ps_shadow_lock_create(sh);

	if (rc < 0)
		return rc;
	if ((rc = name_is_free(sh, name, 0)) == 0) {
		if (!(f = file_alloc(sh, name)))
			rc = -ENOMEM;
		else
			rc = create_locked(sh, f, NULL, 0, unnamed);
		if (f)
			file_free(f);
	}
	if (rc == 0 && ps_path_names_library(name->rel))
		ps_shadow_set_flags(sh, PS_SHADOW_HAS_LIBRARIES);
	ps_shadow_unlock_create(sh);
	ps_debug("%s: an unnamed file linked in: %d", name->path, rc);
	return rc;
}
