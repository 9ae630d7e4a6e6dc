/* tree.h - for the tools only: the default shadow directory, a walk over a shadow's records, path resolution.
 *
 * These functions call libc directly (the ops table has no directory reading) and allocate; the shim never
 * calls them. Entry points: ps_default_shadow_dir, ps_tree_walk, ps_tree_remove, ps_tree_prefixes.
 */
#ifndef PS_TREE_H
#define PS_TREE_H

#include "config.h"

#include <stddef.h>
#include <sys/types.h>

/* The shadow a set of prefixes gets when none is named:
 *   ${XDG_STATE_HOME:-$HOME/.local/state}/pageshadow/<16 hex digits>
 * the digits being the 64-bit FNV-1a hash of cfg's canonical prefixes joined with '\n', in order. A relative
 * XDG_STATE_HOME is ignored (XDG Base Directory spec); without HOME the password database names the home.
 * Returns the length, -ENOENT when no home directory is known, -ENAMETOOLONG. */
int ps_default_shadow_dir(const struct ps_config *cfg, char *out, size_t outsz);

/* What a meta entry is (docs/FORMAT.md, "The meta tree"). */
enum ps_tree_kind {
	PS_TREE_RECORD,   /* a regular file: a record */
	PS_TREE_DIR,      /* a directory (mode tells opaque, S_ISVTX, and own attributes, S_ISUID) */
	PS_TREE_WHITEOUT, /* a symlink to the whiteout target: a deleted name */
	PS_TREE_SYMLINK,  /* any other symlink: a symlink made in the shadow */
	PS_TREE_SPECIAL,  /* a FIFO: the mark of a special file whose data twin is the real node */
};

/* One entry under DIR/meta, or one thing the walk could not use (err != 0). */
struct ps_tree_entry {
	int err;                /* 0, or -errno: a directory that could not be read, a name that does not decode */
	enum ps_tree_kind kind;
	mode_t mode;            /* the meta entry's st_mode */
	const char *meta_path;  /* "meta/<enc>/<rel>", relative to the shadow directory */
	const char *data_path;  /* "data/<enc>/<rel>" (NULL when err) */
	const char *enc_prefix; /* "<enc>" (NULL when err) */
	const char *prefix;     /* the decoded prefix (NULL when err) */
	const char *rel;        /* the path below the prefix (NULL when err) */
	const char *why;        /* when err: what the walk was doing ("cannot read directory") */
};

typedef int (*ps_tree_fn)(const struct ps_tree_entry *e, void *arg);

/* Call fn for every entry below each prefix directory of meta/ of the shadow open at dirfd, in byte order of
 * names (stable output; a directory before what it holds), and for every problem met on the way (e->err set;
 * the walk goes on). Sockets and devices in meta/ (which the shadow never makes there) are skipped. A missing
 * meta/ means no entries. A nonzero return from fn stops the walk and is returned. */
int ps_tree_walk(int dirfd, ps_tree_fn fn, void *arg);

/* rm -r of path (a lower tree's entry, an ephemeral shadow; symlinks are removed, never followed): 0 - also when
 * nothing is there - or -errno. */
int ps_tree_remove(const char *path);

/* Add to cfg the prefixes the shadow open at dirfd holds records for (taken as recorded, not re-resolved).
 * Returns 0 or -errno (-E2BIG past PS_MAX_PREFIXES). */
int ps_tree_prefixes(int dirfd, struct ps_config *cfg);

#endif
