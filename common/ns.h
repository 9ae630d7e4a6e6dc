/* ns.h - the merged namespace: what the shadow says about a name, whiteouts, directories, merged listings.
 *
 * The meta tree (meta/<prefix>/<rel>) is the authority on names (docs/FORMAT.md):
 *   a regular file   a record: the name is a shadowed or new regular file (record.h);
 *   a directory      a directory of the merged tree that holds shadow entries; with the sticky bit set it is
 *                    opaque - made in the shadow, the lower directory of the same name (if any) does not show;
 *                    with the set-user-ID bit, a lower directory whose mode, owner or times were changed: its
 *                    data directory holds them (an opaque one always does);
 *   a symlink        to WHITEOUT_TARGET (ns.c): a whiteout - the name was deleted, the lower entry does not
 *                    show; to anything else: a symlink made in the shadow, with that target.
 * A name with no meta entry, under directories that are not opaque, is the lower tree's business. Every directory
 * made with mkdir is opaque (where no lower directory was, that changes nothing); directories made implicitly as the
 * parents of a record are not, and exist only where a lower directory shows. The data tree mirrors the meta tree's
 * directories, so that a directory of the merged tree has a real directory to be a program's cwd or dirfd.
 * Changes take the shadow's creation lock and bump the generation.
 */
#ifndef PS_NS_H
#define PS_NS_H

#include "shadow.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

enum ps_ns_state {
	PS_NS_LOWER,    /* no shadow entry at the name, none above hides it: the lower tree decides */
	PS_NS_RECORD,   /* a record: a shadowed regular file */
	PS_NS_DIR,      /* a directory with shadow entries (opaque: the lower one does not show) */
	PS_NS_ABSENT,   /* deleted (whiteout), or in an opaque directory without an entry: a free name */
	PS_NS_NOPARENT, /* a directory above was deleted, or exists nowhere: ENOENT */
	PS_NS_NOTDIR,   /* a file stands where a directory is needed: ENOTDIR */
	PS_NS_SYMLINK,  /* a symlink made in the shadow: the name itself, or one on the way (link_len) */
	PS_NS_SPECIAL,  /* a FIFO, socket or device made in the shadow: its data twin is the real one */
};

struct ps_ns {
	enum ps_ns_state state;
	int opaque;      /* PS_NS_DIR */
	int own_attrs;   /* PS_NS_DIR: mode, owner and times are the data directory's (always when opaque) */
	size_t link_len; /* PS_NS_SYMLINK: the symlink is rel's first link_len bytes (all of rel: the name is one) */
	int header_only; /* PS_NS_RECORD: the record is one header page (no bitmap: no lower file, or an empty one) */
};

/* What the shadow says about rel below the prefix encoded enc. One fstatat per component that has a meta
 * entry, plus one. 0 or -errno of a failed system call (other than ENOENT). */
int ps_ns_lookup(struct ps_shadow *sh, const char *enc, const char *rel, struct ps_ns *out);

/* The target of the shadow's symlink at rel, into buf (NUL-terminated). Its length or -errno. */
int ps_ns_readlink(struct ps_shadow *sh, const char *enc, const char *rel, char *buf, size_t bufsz);

/* The lower directory rel (lower: its stat) gets attributes of its own: its data directory takes the lower one's
 * mode, times and (for root) owner, then the meta directory is marked. 0 or -errno. */
int ps_ns_dir_own_attrs(struct ps_shadow *sh, const char *enc, const char *rel, const struct stat *lower);

/* Make rel a special file (mode's type: FIFO, socket, character or block device; dev for devices): its node in
 * the data tree, and a FIFO in the meta tree that marks it. -EEXIST when the shadow has an entry there. */
int ps_ns_mknod(struct ps_shadow *sh, const char *enc, const char *rel, mode_t mode, dev_t dev);

/* Make rel a symlink to target (replacing a whiteout there). -EEXIST when the shadow has an entry there; -EINVAL
 * for the one target that means whiteout. 0 or -errno. */
int ps_ns_symlink(struct ps_shadow *sh, const char *enc, const char *rel, const char *target);

/* Is the meta symlink at (dirfd, path) a whiteout (or a symlink of the merged tree)? 1, 0 or -errno. */
int ps_ns_is_whiteout(int dirfd, const char *path);

/* Can the lower entry at rel show in the merged tree (nothing in the shadow replaces or hides it)? */
static inline int ps_ns_lower_shows(const struct ps_ns *ns)
{
	return ns->state == PS_NS_LOWER || (ns->state == PS_NS_DIR && !ns->opaque);
}

/* Delete rel from the merged tree: whatever the shadow holds there (a record and its data, a directory of
 * whiteouts) goes, and with whiteout a whiteout takes its place atomically (the name has a lower entry that
 * must stay hidden). 0 or -errno. */
int ps_ns_remove(struct ps_shadow *sh, const char *enc, const char *rel, int whiteout);

/* Make rel a new, empty, opaque directory of mode mode (replacing a whiteout there). -EEXIST when the shadow
 * has an entry there already. 0 or -errno. */
int ps_ns_mkdir(struct ps_shadow *sh, const char *enc, const char *rel, mode_t mode);

/* (With noreplace, -EEXIST when the shadow has an entry at dst_rel by the time the lock is held.)
 * Move the directory or symlink src_rel, which lives wholly in the shadow (an opaque directory), to dst_rel,
 * replacing what the shadow holds there (a whiteout, a directory of whiteouts: the caller checked the merged one
 * is empty). Data first, then the meta entry; with whiteout_src a whiteout at src_rel, in the same locked step.
 * 0 or -errno. */
int ps_ns_move(struct ps_shadow *sh, const char *src_enc, const char *src_rel, const char *dst_enc,
		   const char *dst_rel, int noreplace, int whiteout_src);

/* Move the directory src_rel, which has lower entries (a lower directory, or one merged with it), to dst_rel
 * (a name where the merged tree shows nothing, or an empty directory) by its names: a new opaque directory gets
 * every name the merged one shows - records of lower files that point at them (nothing copied), the shadow's
 * records hard-linked, symlinks and directories alike - assembled aside, moved into place, then src_rel is
 * deleted. Cost: one record per lower file. -EXDEV for a FIFO or device below. 0 or -errno. */
int ps_ns_move_copying_names(struct ps_shadow *sh, const char *enc, const char *src_rel, const char *dst_rel,
			     int noreplace);

/* With the creation lock held: give the record at from (a path relative to the shadow directory) the name to too,
 * replacing in one rename what to held (a record, a whiteout). 0 or -errno. */
int ps_ns_link_locked(struct ps_shadow *sh, const char *from, const char *to);

/* With the creation lock held: move the meta entry at from (a path relative to the shadow directory) to to,
 * leaving a whiteout at from in the same instant where the filesystem can exchange names (the old name never
 * shows its lower entry again, not even for a moment). 0 or -errno. */
int ps_ns_move_leaving_whiteout_locked(struct ps_shadow *sh, const char *from, const char *to);

/* With the creation lock held: is rel free of the shadow's entries (nothing there, or a whiteout)? 0, -EEXIST,
 * -ENOENT (no parent), -ENOTDIR. RENAME_NOREPLACE and link check it where no other process can come between. */
int ps_ns_name_free_locked(struct ps_shadow *sh, const char *enc, const char *rel);

/* Swap the shadow's entries at a_rel and b_rel (both exist, both are the shadow's own: records, opaque
 * directories, symlinks) - RENAME_EXCHANGE. Data entries swap too, or move where only one has one. */
int ps_ns_exchange(struct ps_shadow *sh, const char *enc, const char *a_rel, const char *b_rel);

#endif
