/* shadow.h - the shadow directory: its FORMAT page, the generation counter, the creation lock, path names.
 *
 * Layout (docs/FORMAT.md):
 *   DIR/FORMAT                 one page: "pageshadow shadow format 1\n", zeros, and at offset 64 the generation
 *                              counter; mapped MAP_SHARED by every process
 *   DIR/data/<prefix>/<rel>    data files: the logical content at logical size (sparse)
 *   DIR/meta/<prefix>/<rel>    records (record.h)
 * where <prefix> is ps_path_encode_prefix() of the read-only prefix.
 *
 * The generation counter goes up each time a file gets a record (a lower file becomes shadowed or a file is
 * created): a process holding a plain lower fd compares one word per read and re-checks only when it moved.
 * The creation lock (flock on DIR/FORMAT plus a process mutex) serialises record creation, which is rare.
 */
#ifndef PS_SHADOW_H
#define PS_SHADOW_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#define PS_SHADOW_FORMAT_LINE "pageshadow shadow format 2\n"
/* Format 1 had no whiteouts nor directories in meta/ (ns.h); everything else is the same. A shadow of format 1
 * is read as it is, and upgraded (its line rewritten) by the first process that opens it to write. */
#define PS_SHADOW_FORMAT_LINE_V1 "pageshadow shadow format 1\n"
#define PS_SHADOW_LINE_MAX 63 /* the format line lives in bytes [0, 64) */
#define PS_SHADOW_STATE_SIZE 4096

struct ps_shadow_state {
	char format_line[PS_SHADOW_LINE_MAX + 1];
	uint64_t generation;
	uint64_t flags; /* PS_SHADOW_*: facts about the whole shadow, only ever set */
};

/* A file whose name says shared library (*.so, *.so.*) has been given a record: programs anywhere may load it,
 * so every exec runs with the audit module (shim/exec.c), not only programs inside the prefixes. */
#define PS_SHADOW_HAS_LIBRARIES 0x1u

struct ps_shadow {
	int dirfd;
	int statefd;
	int lockfd;     /* this process's own description of FORMAT: flock belongs to a description, which fork
			 * shares, so a child takes the creation lock on its own */
	pid_t lock_pid;
	struct ps_shadow_state *state;
	pthread_mutex_t create_mutex;
	char path[PATH_MAX];
};

/* Open (and with create, make) the shadow directory dir. Without create nothing is written and the shadow is
 * only read (tools): the generation may not be bumped nor records created. Returns 0, -EPROTO for a shadow of an
 * unknown format, -ENOTDIR/-ENOENT/-EACCES as the system says. why gets one line on failure. */
int ps_shadow_open(struct ps_shadow *sh, const char *dir, int create, char *why, size_t whysz);
void ps_shadow_close(struct ps_shadow *sh);

/* One of sh's descriptors moved (ps_sys_renumbered). */
void ps_shadow_renumber_fd(struct ps_shadow *sh, int from, int to);

static inline uint64_t ps_shadow_generation(const struct ps_shadow *sh)
{
	return __atomic_load_n(&sh->state->generation, __ATOMIC_ACQUIRE);
}

void ps_shadow_bump_generation(struct ps_shadow *sh);

static inline uint64_t ps_shadow_flags(const struct ps_shadow *sh)
{
	return __atomic_load_n(&sh->state->flags, __ATOMIC_ACQUIRE);
}

/* Set flags (a shadow opened with create only). */
void ps_shadow_set_flags(struct ps_shadow *sh, uint64_t flags);

/* Take and drop the creation lock (blocks). */
int ps_shadow_lock_create(struct ps_shadow *sh);
void ps_shadow_unlock_create(struct ps_shadow *sh);
/* Does this thread hold the creation lock? (Code that may run with it held must not wait for it.) */
int ps_shadow_lock_is_mine(void);

/* "tree/<enc>/<rel>" (or "tree/<enc>" for rel ""), relative to the shadow directory. */
int ps_shadow_path(char *out, size_t outsz, const char *tree, const char *enc_prefix, const char *rel);

/* mkdir -p of every directory above relpath (relative to the shadow directory); the ones made above relpath's
 * own directory are dated 0, and the deepest one that was there keeps its mtime (shadow.c). */
int ps_shadow_make_parents(struct ps_shadow *sh, const char *relpath);

#endif
