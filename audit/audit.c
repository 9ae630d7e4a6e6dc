/* audit.c - libpageshadow-audit.so: the libraries ld.so loads by itself come from the merged tree.
 *
 * ld.so opens a program's libraries (and a dlopen'ed library's dependencies) with its own internal calls, before
 * and beside the shim. Its audit interface (rtld-audit(7), LD_AUDIT) asks la_objsearch for every path it is about
 * to try; for a path under a read-only prefix that has shadow state, this module answers with a file holding the
 * merged bytes - the data file when every byte lives there, else a merged copy in DIR/exec/, removed as soon as
 * ld.so has mapped it (la_objopen). ld.so keeps the searched path as the object's name (l_name, dladdr, /proc maps
 * show the copy). A library that exists only in the shadow is found where the lower tree has none.
 * The shim's exec planning adds this module to the environment of programs that lie under a prefix (their RUNPATH
 * and $ORIGIN point into the tree; for a program that runs from its data file, $ORIGIN is in the shadow's data
 * tree, and a path there is taken as the same place in the read-only tree); ld.so loads it in a namespace of its own, so it has its own copy of the
 * engine, reading the shadow with plain libc calls.
 */
#include "config.h"
#include "file.h"
#include "log.h"
#include "merge.h"
#include "ns.h"
#include "path.h"
#include "shadow.h"
#include "snapshot.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PS_AUDIT_EXPORT __attribute__((visibility("default")))

static struct ps_config cfg;
static struct ps_shadow shadow;
static int ready;       /* 1 configured, -1 nothing to do */
static int shadow_open; /* the shadow is read once it exists (a bare shim makes it on the first write) */
static pthread_mutex_t shadow_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t answers_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Paths handed to ld.so: they must outlive the call; merged copies are removed once opened. */
struct answer {
	struct answer *next;
	int is_copy;
	char path[];
};
static struct answer *answers;

static void configure(void)
{
	const char *ro = getenv("PAGESHADOW_RO"), *dir = getenv("PAGESHADOW_DIR");
	char why[PATH_MAX + 128];

	ready = -1;
	ps_log_init(-1, 0, "pageshadow-audit");
	if (!ro || !*ro || !dir || ps_config_add_prefix_list(&cfg, ro, why, sizeof(why)) < 0 ||
	    ps_config_set_shadow(&cfg, dir, why, sizeof(why)) < 0)
		return;
	ready = 1;
}

/* 1 when the shadow can be read; 0 while there is none (nothing is shadowed yet). */
static int have_shadow(void)
{
	char why[PATH_MAX + 128];
	int open;

	if (__atomic_load_n(&shadow_open, __ATOMIC_ACQUIRE))
		return 1;
	pthread_mutex_lock(&shadow_mutex);
	if (!shadow_open && ps_shadow_open(&shadow, cfg.shadow, 0, why, sizeof(why)) == 0)
		__atomic_store_n(&shadow_open, 1, __ATOMIC_RELEASE);
	open = shadow_open;
	pthread_mutex_unlock(&shadow_mutex);
	return open;
}

static const char *remember(const char *path, int is_copy)
{
	struct answer *a = malloc(sizeof(*a) + strlen(path) + 1);

	if (!a)
		return NULL;
	strcpy(a->path, path);
	a->is_copy = is_copy;
	pthread_mutex_lock(&answers_mutex);
	a->next = answers;
	answers = a;
	pthread_mutex_unlock(&answers_mutex);
	return a->path;
}

static const char *merged_file(const char *candidate, int depth);

/* A symlink made in the shadow at abs (below the prefix: rel): what its target names. */
static const char *through_link(const char *abs, int idx, const char *rel, int depth)
{
	char target[PATH_MAX], next[PATH_MAX * 2];
	const char *slash = strrchr(abs, '/');

	if (depth >= 8 || ps_ns_readlink(&shadow, cfg.prefix[idx].enc, rel, target, sizeof(target)) < 0)
		return NULL;
	if (target[0] == '/')
		snprintf(next, sizeof(next), "%s", target);
	else
		snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - abs), abs, target);
	return merged_file(next, depth + 1);
}

/* The file ld.so should open for candidate, or candidate itself; NULL to skip it (deleted in the shadow). */
static const char *merged_file(const char *candidate, int depth)
{
	char abs[PATH_MAX], out[PATH_MAX];
	struct ps_file_name name;
	const char *rel, *answer;
	struct ps_file *f;
	struct ps_ns ns;
	int idx, rc, is_copy, moved;

	/* ld.so asks for every directory of every search path: a lexical test first, with no system call, sends
	 * everything that is neither under a prefix nor in the shadow back at once (as the shim's own paths) */
	if (ps_path_normalize("/", candidate, abs, sizeof(abs)) < 0 ||
	    (ps_config_match(&cfg, abs, &rel) < 0 && !ps_path_below(abs, cfg.shadow)))
		return candidate;
	if (ps_config_resolve(candidate, abs, sizeof(abs)) < 0)
		return candidate;
	moved = ps_snapshot_tree_path(cfg.shadow, abs, sizeof(abs));
	if ((idx = ps_config_match(&cfg, abs, &rel)) < 0 || !have_shadow())
		return candidate;
	if (ps_ns_lookup(&shadow, cfg.prefix[idx].enc, rel, &ns) < 0)
		ns.state = PS_NS_LOWER;
	if (ns.state == PS_NS_SYMLINK)
		return through_link(abs, idx, rel, depth);
	if (ns.state != PS_NS_RECORD && !ps_ns_lower_shows(&ns))
		return NULL; /* deleted in the shadow: ld.so goes on searching */
	name = (struct ps_file_name){ .path = abs, .enc_prefix = cfg.prefix[idx].enc, .rel = rel };
	rc = ps_file_lookup(&shadow, &name, &f);
	if (rc == -ENOENT) /* the lower file as it is (or, from the data tree, the lower file at that place) */
		return moved && access(abs, F_OK) == 0 ? remember(abs, 0) : candidate;
	if (rc < 0) /* never the stale lower library: a name that cannot be opened makes ld.so fail loudly */
		return ps_error("%s: shadow record unreadable (%s): not loaded", abs, strerror(-rc)), NULL;
	rc = ps_snapshot_file(f, 0, out, sizeof(out), &is_copy);
	ps_file_put(f);
	if (rc < 0)
		return ps_error("%s: cannot make its merged copy (%s): not loaded", abs, strerror(-rc)), NULL;
	answer = remember(out, is_copy);
	if (!answer && is_copy)
		ps_snapshot_remove(shadow.path, out);
	return answer;
}

PS_AUDIT_EXPORT unsigned int la_version(unsigned int version)
{
	return version < LAV_CURRENT ? version : LAV_CURRENT;
}

PS_AUDIT_EXPORT char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
	(void)cookie;
	(void)flag;
	if (!strchr(name, '/'))
		return (char *)name;
	pthread_once(&once, configure);
	if (ready <= 0)
		return (char *)name;
	return (char *)merged_file(name, 0);
}

/* The merged copy a program was started from (PAGESHADOW_EXEC_TEMP, set by the shim's exec planning) is mapped
 * once its main object is: remove it here too, for `ld.so --verify` and ldd, which never run the shim. */
static void remove_exec_temp(void)
{
	const char *temp = getenv("PAGESHADOW_EXEC_TEMP");
	const char *below;

	if (!temp || ready <= 0 || !have_shadow() || !(below = ps_path_below(temp, shadow.path)) ||
	    strncmp(below, "exec/", 5) != 0)
		return;
	ps_snapshot_remove(shadow.path, temp);
}

/* An object is mapped: every merged copy answered before it has been opened (and mapped) or refused by now, so
 * its name has done its work. (ld.so names the object by the path it searched, not by the copy's.) */
PS_AUDIT_EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
	(void)cookie;
	if (lmid == LM_ID_BASE && map->l_prev == NULL) { /* the main program */
		pthread_once(&once, configure);
		remove_exec_temp();
	}
	pthread_mutex_lock(&answers_mutex);
	for (struct answer *a = answers; a; a = a->next) {
		if (a->is_copy) {
			ps_snapshot_remove(shadow.path, a->path);
			a->is_copy = 0;
		}
	}
	pthread_mutex_unlock(&answers_mutex);
	return 0;
}
