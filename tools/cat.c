/* cat.c - pageshadow cat PATH: a file's merged bytes, what a program under the shim reads. */
#include "pageshadow.h"

#include "merge.h"
#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file with no record is what the lower tree holds. */
static int cat_lower(const char *path)
{
	char *buf = malloc(COPY_CHUNK);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : !buf ? -ENOMEM : copy_fd(fd, 1, buf);

	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Through the engine, after checking the record ourselves so that a stale one gets a one-line reason. */
static int cat_shadowed(struct ps_shadow *sh, const struct ps_tree_entry *e, const char *arg)
{
	char path[PATH_MAX];
	struct rec_info ri;
	struct ps_file *f;
	int rc;

	if (read_record(sh->dirfd, e->meta_path, e->prefix, e->rel, &ri) < 0)
		fail("%s: %s shadow record %s/%s: %s", arg, ri.rc == -ESTALE ? "stale" : "unusable", sh->path,
		     e->meta_path, ri.why);
	if ((rc = open_merged(sh, e, path, sizeof(path), &f)) < 0)
		return rc;
	rc = copy_merged(f, 1, UINT64_MAX);
	ps_file_put(f);
	return rc;
}

int cmd_cat(const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh)
{
	char abs[PATH_MAX], meta[PATH_MAX];
	const char *arg, *rel = NULL;
	struct ps_ns ns;
	int idx, rc;

	if (o->nargs != 2)
		fail("cat takes one PATH (see --help)");
	arg = o->args[1];
	if ((rc = ps_config_resolve(arg, abs, sizeof(abs))) < 0)
		fail("%s: %s", arg, strerror(-rc));
	idx = ps_config_match(cfg, abs, &rel);
	if (idx >= 0 && *rel && (rc = ps_ns_lookup(sh, cfg->prefix[idx].enc, rel, &ns)) < 0)
		fail("%s: %s", arg, strerror(-rc));
	if (idx < 0 || !*rel || ns.state == PS_NS_LOWER) {
		rc = cat_lower(abs);
	} else if (ns.state == PS_NS_RECORD) {
		struct ps_tree_entry e = { .kind = PS_TREE_RECORD, .meta_path = meta, .enc_prefix = cfg->prefix[idx].enc,
					   .prefix = cfg->prefix[idx].path, .rel = rel };

		if (ps_shadow_path(meta, sizeof(meta), "meta", e.enc_prefix, rel) < 0)
			fail("%s: %s", arg, strerror(ENAMETOOLONG));
		rc = cat_shadowed(sh, &e, arg);
	} else {
		rc = ns.state == PS_NS_DIR ? -EISDIR : ns.state == PS_NS_NOTDIR ? -ENOTDIR
			: ns.state == PS_NS_SYMLINK ? -ELOOP : -ENOENT; /* deleted in the shadow */
	}
	if (rc < 0)
		fail("%s: %s", arg, engine_strerror(rc));
	return 0;
}
