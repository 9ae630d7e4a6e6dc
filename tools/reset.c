/* reset.c - pageshadow reset and rebase: throw away what the shadow holds for some paths (or for every prefix),
 * and let a stale file shadow its changed lower file.
 *
 * Both change the shadow under its creation lock and bump its generation, as the shim's own namespace changes
 * do: a running program's next look at a path it has cached sees the change, while a descriptor it holds keeps
 * the old file (as a descriptor of a removed file does).
 */
#include "pageshadow.h"

#include "file.h"
#include "path.h"
#include "record.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* rm -r of the meta and data entries of rel below the encoded prefix (both, for the whole prefix when rel is
 * ""): 0 (also when there was nothing: a name below a whiteout is ENOTDIR) or -errno. */
int discard(struct ps_shadow *sh, const char *enc, const char *rel)
{
	static const char *const trees[] = { "meta", "data" };
	char path[PATH_MAX];
	int rc;

	for (size_t i = 0; i < 2; i++) {
		if (ps_shadow_path(path, sizeof(path), trees[i], enc, rel) < 0)
			return -ENAMETOOLONG;
		if ((rc = ps_sys_remove_tree(sh->dirfd, path)) < 0 && rc != -ENOTDIR)
			return rc;
	}
	return 0;
}

/* A PATH of reset, resolved once: rel points into abs. */
struct reset_target {
	const struct ps_prefix *prefix;
	const char *rel;
	char abs[PATH_MAX];
};

static int reset_locked(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	struct reset_target *t;
	int rc, status = 0;

	if (o->nargs == 1) { /* everything of every prefix (only those given with -r, when -r was given) */
		for (int i = 0; i < cfg->nprefix; i++)
			if ((rc = discard(sh, cfg->prefix[i].enc, "")) < 0) {
				complain("%s: %s", cfg->prefix[i].path, strerror(-rc));
				status = EXIT_TROUBLE;
			}
		return status;
	}
	if (!(t = calloc((size_t)o->nargs, sizeof(*t))))
		fail("reset: %s", strerror(ENOMEM));
	for (int i = 1; i < o->nargs; i++) { /* every PATH checked before anything is discarded */
		resolve_arg(o->args[i], t[i].abs, sizeof(t[i].abs));
		t[i].prefix = prefix_of(cfg, t[i].abs, o->args[i], &t[i].rel);
	}
	for (int i = 1; i < o->nargs; i++) {
		if ((rc = discard(sh, t[i].prefix->enc, t[i].rel)) < 0) {
			complain("%s: %s", o->args[i], strerror(-rc));
			status = EXIT_TROUBLE;
		}
	}
	free(t);
	return status;
}

int cmd_reset(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	int rc = ps_shadow_lock_create(sh), status;

	if (rc < 0)
		fail("shadow directory %s: cannot take its lock: %s", sh->path, strerror(-rc));
	status = reset_locked(o, cfg, sh);
	ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	return status;
}

/* The lower file the record at meta (for abs) shadows: at abs, or at the prefix + its origin once renamed. */
static void lower_of(int rfd, const struct ps_prefix *p, const char *abs, const char *arg, char *out, size_t outsz)
{
	char origin[PS_RECORD_ORIGIN_MAX + 1];
	int n = ps_record_read_origin(rfd, origin, sizeof(origin));

	if (n < 0)
		fail("%s: its shadow record: %s", arg, strerror(-n));
	if ((n == 0 ? snprintf(out, outsz, "%s", abs) : snprintf(out, outsz, "%s/%s", p->path, origin)) >= (int)outsz)
		fail("%s: %s", arg, strerror(ENAMETOOLONG));
}

static int rebase_one(struct ps_shadow *sh, const struct ps_config *cfg, const char *arg)
{
	char abs[PATH_MAX], meta[PATH_MAX], lower[PATH_MAX], why[200] = "";
	const struct ps_prefix *p;
	struct ps_record_disk hdr;
	const char *rel;
	struct stat st;
	int rfd, rc;

	resolve_arg(arg, abs, sizeof(abs));
	p = prefix_of(cfg, abs, arg, &rel);
	if (ps_shadow_path(meta, sizeof(meta), "meta", p->enc, rel) < 0)
		fail("%s: %s", arg, strerror(ENAMETOOLONG));
	rfd = ps_sys->openat(sh->dirfd, meta, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (rfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EISDIR)
			complain("%s: no shadow record to rebase (not a shadowed file)", arg);
		else
			complain("%s: its shadow record: %s", arg, strerror(errno));
		return -1;
	}
	if (ps_record_peek(rfd, &hdr) == 0) {
		complain("%s: a file made in the shadow has no lower file to rebase onto", arg);
		close(rfd);
		return -1;
	}
	lower_of(rfd, p, abs, arg, lower, sizeof(lower));
	rc = stat(lower, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : 1;
	if (rc != 0) {
		complain("%s: its lower file %s: %s (reset it instead)", arg, lower,
			 rc < 0 ? strerror(-rc) : "not a regular file any more");
		close(rfd);
		return -1;
	}
	rc = ps_record_file_rebase(rfd, &st, why, sizeof(why));
	close(rfd);
	if (rc < 0)
		complain("%s: %s (reset it instead)", arg, *why ? why : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

int cmd_rebase(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	int rc, status = 0;

	if (o->nargs < 2)
		fail("rebase takes one PATH or more (see --help)");
	if ((rc = ps_shadow_lock_create(sh)) < 0)
		fail("shadow directory %s: cannot take its lock: %s", sh->path, strerror(-rc));
	for (int i = 1; i < o->nargs; i++)
		if (rebase_one(sh, cfg, o->args[i]) < 0)
			status = EXIT_TROUBLE;
	ps_shadow_bump_generation(sh);
	ps_shadow_unlock_create(sh);
	return status;
}
