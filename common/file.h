/* file.h - a shadowed file as one process sees it: lower fd, data fd, mapped record; looked up by path.
 *
 * One struct ps_file exists per shadowed file per process, shared by every fd the program holds on it and
 * reference-counted; it is found again by its canonical path. Creating the record (the moment a lower file
 * becomes shadowed, or a new file is made under a prefix) happens under the shadow's creation lock: the data
 * file is made first at its logical size (sparse), then the record is written beside the tree and renamed into
 * place, so a record is never seen half-written and always has its data file.
 * Thread-safety: lookups and reference counts take one process-wide mutex; per-file work takes f->lock (merge.h).
 */
#ifndef PS_FILE_H
#define PS_FILE_H

#include "record.h"
#include "shadow.h"

#include <pthread.h>
#include <sys/stat.h>

struct ps_file {
	struct ps_file *next; /* hash chain */
	struct ps_file *live_prev, *live_next; /* every object of the process, hashed or not (renumbering) */
	struct ps_file *idle_prev, *idle_next; /* kept with no reference (ps_file_keep_idle) */
	int refs;
	int unlinked;         /* removed from the namespace; lives on while referenced */
	uint64_t generation;  /* the shadow's generation when the record was last known to be this path's */
	int lower_fd;         /* O_RDONLY lower file, -1 when the file has none */
	int data_fd;          /* O_RDWR data file */
	int lock_fd;          /* this process's own description of the data file, for the copy-up OFD lock */
	pid_t lock_pid;       /* the process lock_fd belongs to (a forked child must not share its parent's) */
	struct ps_record rec;
	pthread_mutex_t lock; /* serialises copy-up and truncation among this process's threads */
	int mapped;           /* the shim keeps memory maps of the file laid out page by page (shim/maps.c) ... */
	uint64_t mapped_gen;  /* ... for the record's backing_gen of this value */
	struct ps_shadow *sh;
	char *data_path;      /* relative to the shadow directory */
	char *meta_path;
	size_t rel_off;       /* path + rel_off: the path below the prefix */
	char path[];          /* canonical absolute path, the key */
};

/* One of the descriptors some file object holds moved (ps_sys_renumbered). */
void ps_file_renumber_fd(int from, int to);

/* Where a file's shadow lives: its canonical path, the encoded prefix and the path below the prefix. */
struct ps_file_name {
	const char *path;
	const char *enc_prefix;
	const char *rel;
};

/* Find the shadow state of name: 0 and a new reference in *out, -ENOENT when the file has no record, or a
 * record/system error (logged). */
int ps_file_lookup(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out);

/* ps_file_lookup without the process's table: an object of its own, freed by its last ps_file_put. For a vfork
 * child, which shares its parent's memory but not its descriptors, and must leave the parent's table alone. */
int ps_file_open_unshared(struct ps_shadow *sh, const struct ps_file_name *name, struct ps_file **out);

/* Give name a record: from the lower file (lower != NULL, its stat) or as a new empty file of mode mode.
 * When a record already exists it is returned instead, unless excl (then -EEXIST). */
int ps_file_create(struct ps_shadow *sh, const struct ps_file_name *name, const struct stat *lower,
		   mode_t mode, int excl, struct ps_file **out);

/* Every process opens a data file O_RDWR: the one open at fd, of mode st_mode, gets owner read and write if it
 * lacks them (a mode a program gave it, or an ACL copied onto it). 0 or -errno. */
int ps_data_file_keep_rw(int fd, mode_t st_mode);

/* Where f's lower file is (its own name, or where the record's origin says): 0 or -ENAMETOOLONG. */
int ps_file_lower_path(const struct ps_file *f, char *out, size_t outsz);

void ps_file_get(struct ps_file *f);
void ps_file_put(struct ps_file *f);
/* Keep up to max objects whose last reference went (their descriptors and record map open), so that opening a
 * shadowed file again reads no record: the shim's choice; 0 (the default) frees them at once. Kept objects
 * beyond max go now. A kept object is checked against the shadow's generation like any cached one, and its lower
 * file against its record (a changed one: the lookup reads the record again and says -ESTALE). */
void ps_file_keep_idle(unsigned max);

/* Remove a file that has no lower file from the shadow (record and data). */
int ps_file_unlink(struct ps_file *f);

/* Give f a second name dst (in the same prefix) by hard links of its data file and its record: one file under two
 * names, as a real hard link. dst must be free (a whiteout there is replaced). A file with a lower file first
 * records where that is (the record's origin), so that both names find it. */
int ps_file_link(struct ps_file *f, const struct ps_file_name *dst);

/* Give the unnamed file of the shadow's data tree open at unnamed (O_TMPFILE) the name name: a new file, as
 * linkat(fd, "", ..., AT_EMPTY_PATH) does. The name must be free. 0 or -errno. */
int ps_file_adopt(struct ps_shadow *sh, const struct ps_file_name *name, int unnamed);

/* Make f's record say where its lower file is (if it has one), durably: before its record changes names by
 * other means (ns.h's exchange). 0 or -errno. */
int ps_file_keep_origin(struct ps_file *f);

/* Move f to dst (in the same prefix; with noreplace, -EEXIST when the shadow has an entry there by the time the
 * lock is held), replacing whatever dst showed (its record, or its lower file, which the
 * moved record hides). A file with a lower file records where that is first: nothing is copied. With
 * whiteout_src the old name, where a lower entry stays, becomes a whiteout in the same instant (ns.h). */
int ps_file_rename(struct ps_file *f, const struct ps_file_name *dst, int noreplace, int whiteout_src);

#endif
