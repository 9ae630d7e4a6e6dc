/* dl.c - dlopen of a shadowed shared library.
 *
 * Entry points: the wrapper (symbols.def).
 * ld.so opens and maps a library with its own internal calls, which no wrapper sees. So when dlopen names a file
 * with shadow state by path, the shim hands ld.so a file with the merged bytes instead: the data file itself when
 * every byte lives there (a library built or rewritten in the shadow), else a merged copy made in DIR/exec/ and
 * removed as soon as ld.so has mapped it. Opening the same name again finds the loaded copy, as ld.so finds a
 * loaded library by name.
 * Everything else - a bare name searched along RUNPATH, LD_LIBRARY_PATH and the cache, $ORIGIN names - goes to
 * glibc's dlopen as a tail call: glibc takes the caller's return address to find whose RUNPATH and $ORIGIN apply,
 * so the wrapper must not stand in between. The dependencies ld.so loads for a library are opened by ld.so too:
 * a shadowed dependency is not seen (docs/DESIGN.md).
 */
#include "shim.h"
#include "log.h"
#include "merge.h"
#include "path.h"
#include "snapshot.h"
#include "sys.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Merged copies this process has loaded, by name: a second dlopen of the name returns the loaded copy. */
struct loaded_copy {
	struct loaded_copy *next;
	char *copy;
	char name[];
};
static struct loaded_copy *copies;
static pthread_mutex_t copies_mutex = PTHREAD_MUTEX_INITIALIZER;

static const char *copy_for(const char *name)
{
	const char *found = NULL;

	pthread_mutex_lock(&copies_mutex);
	for (struct loaded_copy *c = copies; c && !found; c = c->next)
		if (strcmp(c->name, name) == 0)
			found = c->copy;
	pthread_mutex_unlock(&copies_mutex);
	return found;
}

static void remember_copy(const char *name, const char *copy)
{
	struct loaded_copy *c = malloc(sizeof(*c) + strlen(name) + 1);

	if (!c)
		return;
	strcpy(c->name, name);
	if (!(c->copy = strdup(copy))) {
		free(c);
		return;
	}
	pthread_mutex_lock(&copies_mutex);
	c->next = copies;
	copies = c;
	pthread_mutex_unlock(&copies_mutex);
}

/* The file ld.so should map for name: 1 and out filled when it is not name itself, 0 when it is, -errno. */
static int library_file(const char *name, char *out, size_t outsz, int *is_copy)
{
	struct ps_target t;
	struct ps_file *f;
	int rc;

	*is_copy = 0;
	if (!ps_enter())
		return 0;
	rc = ps_resolve(AT_FDCWD, name, 1, &t);
	if (rc > 0 && t.ns.state != PS_NS_RECORD && !ps_target_lower_shows(&t)) {
		/* deleted in the shadow: ld.so is handed the name's place in the data tree, where nothing is, and its
		 * dlerror() says so */
		struct ps_shadow *sh = ps_shadow_get();
		char data[PATH_MAX];

		rc = !sh ? -EROFS : ps_target_data_path(&t, data, sizeof(data));
		if (rc >= 0)
			rc = snprintf(out, outsz, "%s/%s", sh->path, data) >= (int)outsz ? -ENAMETOOLONG : 1;
	} else if (rc > 0) {
		rc = ps_target_lookup(&t, &f);
		if (rc == 0) {
			rc = ps_snapshot_file(f, 0, out, outsz, is_copy);
			ps_file_put(f);
			rc = rc < 0 ? rc : 1;
		} else if (rc == -ENOENT) {
			rc = 0;
		}
	}
	ps_leave();
	return rc;
}

static __attribute__((noinline)) void *dlopen_shadowed(const char *name, int mode)
{
	char file[PATH_MAX];
	const char *loaded = copy_for(name);
	int is_copy, rc;
	void *h;

	if (loaded && (h = REAL(dlopen)(loaded, mode | RTLD_NOLOAD)) != NULL)
		return h;
	rc = library_file(name, file, sizeof(file), &is_copy);
	if (rc == 0)
		return REAL(dlopen)(ps_pass(name), mode);
	if (rc < 0) { /* never the stale lower library: fail, and say why (dlerror() cannot) */
		ps_error("dlopen %s: cannot make its merged copy: %s", name, strerror(-rc));
		return NULL;
	}
	(void)REAL(syscall); /* bound now: a first dlsym after dlopen would clear what dlerror() has to say */
	h = REAL(dlopen)(file, mode);
	if (is_copy) {
		if (h)
			remember_copy(name, file);
		ps_snapshot_remove(ps_cfg.shadow, file);
	}
	return h;
}

/* Only a name with a slash can name a file under a prefix by itself; a bare name is searched by ld.so. */
static int may_be_shadowed(const char *name)
{
	return name && strchr(name, '/') && !strchr(name, '$') && ps_cfg.nprefix > 0;
}

void *dlopen(const char *name, int mode)
{
	if (may_be_shadowed(name))
		return dlopen_shadowed(name, mode);
	return REAL(dlopen)(name, mode); /* a tail call: glibc sees our caller's return address */
}
