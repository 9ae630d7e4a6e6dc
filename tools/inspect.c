/* inspect.c - what the pageshadow commands share: reading records without the engine (ls, diff, fsck check a
 * record and say why it cannot be used), opening merged files through it (cat, diff, export, commit read what
 * the shim shows), paths, flags and progress.
 */
#include "pageshadow.h"

#include "merge.h"
#include "path.h"
#include "summary.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void command_flags(const struct options *o, const char *const *names, int *flags, char ***rest, int *nrest)
{
	char **left = calloc((size_t)o->nargs + 1, sizeof(*left));
	int n = 0, flags_end = 0;

	if (!left)
		fail("%s: %s", o->args[0], strerror(ENOMEM));
	for (int i = 1; i < o->nargs; i++) {
		const char *a = o->args[i];
		int found = 0;

		if (flags_end || a[0] != '-' || a[1] == '\0') {
			left[n++] = o->args[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags_end = 1;
			continue;
		}
		for (int k = 0; names[k]; k++)
			if (strncmp(a, "--", 2) == 0 && strcmp(a + 2, names[k]) == 0)
				flags[k] = found = 1;
		if (!found)
			fail("%s: unknown option: %s (see --help)", o->args[0], a);
	}
	*rest = left;
	*nrest = n;
}

void scope_init(struct scope *sc, const struct options *o, const struct ps_config *cfg, struct ps_shadow *sh,
		const char *const *names, int *flags)
{
	const char *rel;
	char meta[PATH_MAX];
	struct stat st;
	const struct ps_prefix *p;

	sc->cfg = cfg;
	sc->filter = o->nro > 0;
	command_flags(o, names, flags, &sc->paths, &sc->npaths);
	for (int i = 0; i < sc->npaths; i++) {
		char *abs = malloc(PATH_MAX);

		if (!abs)
			fail("%s: %s", o->args[0], strerror(ENOMEM));
		resolve_arg(sc->paths[i], abs, PATH_MAX);
		p = prefix_of(cfg, abs, sc->paths[i], &rel);
		if (lstat(abs, &st) < 0 && (ps_shadow_path(meta, sizeof(meta), "meta", p->enc, rel) < 0 ||
					    fstatat(sh->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) < 0))
			fail("%s: neither in the lower tree nor in the shadow", sc->paths[i]);
		sc->paths[i] = abs;
	}
}

int scope_wants_prefix(const struct scope *sc, const char *prefix)
{
	int ok = !sc->filter;

	for (int i = 0; i < sc->cfg->nprefix && !ok; i++)
		ok = strcmp(sc->cfg->prefix[i].path, prefix) == 0;
	return ok;
}

int scope_wants(const struct scope *sc, const char *prefix, const char *path)
{
	if (!scope_wants_prefix(sc, prefix))
		return 0;
	if (sc->npaths == 0)
		return 1;
	for (int i = 0; i < sc->npaths; i++)
		if (ps_path_below(path, sc->paths[i]))
			return 1;
	return 0;
}

void scope_free(struct scope *sc)
{
	for (int i = 0; i < sc->npaths; i++)
		free(sc->paths[i]);
	free(sc->paths);
}

static struct timespec progress_last;
static int progress_shown;

void progress(const char *verb, uint64_t done)
{
	struct timespec now;

	if (!isatty(2))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (progress_shown && (now.tv_sec - progress_last.tv_sec) * 1000000000L + now.tv_nsec - progress_last.tv_nsec <
				      200000000L)
		return;
	progress_last = now;
	progress_shown = 1;
	fprintf(stderr, "\r%s %" PRIu64 " files\033[K", verb, done);
}

void progress_done(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
}

/* prefix/rel names the file; its lower file is there, or at prefix/<origin> once it was renamed. A stale record
 * keeps its fields (commit and fsck act on them); only a usable one has its pages counted. */
static int check_record(int fd, const char *prefix, const char *rel, struct rec_info *ri)
{
	struct ps_record_disk *hdr = &ri->hdr;
	struct stat st, lst;
	const struct stat *lower;
	int n;

	if (fstat(fd, &st) < 0)
		return -errno;
	ri->alloc = (uint64_t)st.st_blocks * 512;
	if (pread(fd, hdr, sizeof(*hdr), 0) < 0)
		return -errno;
	if ((n = ps_record_read_origin(fd, ri->origin, sizeof(ri->origin))) < 0)
		return n;
	if (join_path(ri->lower_path, sizeof(ri->lower_path), prefix, n > 0 ? ri->origin : rel) < 0)
		return -ENAMETOOLONG;
	lower = stat(ri->lower_path, &lst) == 0 ? &lst : NULL;
	ri->rc = ps_record_check_header(hdr, (uint64_t)st.st_size, lower, ri->why, sizeof(ri->why));
	if (ri->rc < 0 && ri->rc != -ESTALE)
		return ri->rc;
	ri->has_lower = (hdr->flags & PS_REC_HAS_LOWER) != 0;
	ri->lower_size = hdr->lower_size;
	ri->lower_len = hdr->lower_len;
	if (ri->rc < 0 || !ri->has_lower)
		return ri->rc;
	ri->pages = (ri->lower_len + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;
	return ps_summary_shadowed_pages(fd, (uint64_t)st.st_size, ri->lower_len, &ri->shadowed);
}

int read_record(int dirfd, const char *meta_path, const char *prefix, const char *rel, struct rec_info *ri)
{
	int fd = openat(dirfd, meta_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	memset(ri, 0, sizeof(*ri));
	if (fd < 0)
		ri->rc = -errno;
	else
		ri->rc = check_record(fd, prefix, rel, ri);
	if (fd >= 0)
		close(fd);
	if (ri->rc < 0 && !ri->why[0])
		snprintf(ri->why, sizeof(ri->why), "%s", strerror(-ri->rc));
	return ri->rc;
}

void format_state(const struct rec_info *ri, char *out, size_t outsz)
{
	if (ri->rc == -ESTALE)
		snprintf(out, outsz, "stale (%s)", ri->why);
	else if (ri->rc < 0)
		snprintf(out, outsz, "unusable (%s)", ri->why);
	else if (!ri->has_lower)
		snprintf(out, outsz, "new");
	else
		snprintf(out, outsz, "partial %" PRIu64 "/%" PRIu64 "%s%s%s", ri->shadowed, ri->pages,
			 ri->lower_len < ri->lower_size ? " truncated" : "", ri->origin[0] ? " renamed from " : "",
			 ri->origin);
}

int walk_trouble(const struct ps_tree_entry *e, const char *shadow, int *trouble)
{
	if (!e->err)
		return 0;
	complain("%s/%s: %s: %s", shadow, e->meta_path, e->why, strerror(-e->err));
	*trouble = 1;
	return 1;
}

int join_path(char *out, size_t outsz, const char *prefix, const char *rel)
{
	int n = !*rel ? snprintf(out, outsz, "%s", prefix)
		      : snprintf(out, outsz, "%s%s%s", prefix, strcmp(prefix, "/") == 0 ? "" : "/", rel);

	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : n;
}

void resolve_arg(const char *arg, char *out, size_t outsz)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(arg, '/'), *base = slash ? slash + 1 : arg;
	int rc;

	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		rc = ps_config_resolve(arg, out, outsz);
	} else {
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - arg) + 1 : 1, slash ? arg : ".");
		rc = ps_config_resolve(dir, out, outsz);
		if (rc == 0 && snprintf(out + strlen(out), outsz - strlen(out), "%s%s",
					strcmp(out, "/") == 0 ? "" : "/", base) >= (int)(outsz - strlen(out)))
			rc = -ENAMETOOLONG;
	}
	if (rc < 0)
		fail("%s: %s", arg, strerror(-rc));
}

const struct ps_prefix *prefix_of(const struct ps_config *cfg, const char *abs, const char *arg, const char **rel)
{
	int idx = ps_config_match(cfg, abs, rel);

	if (idx < 0 && cfg->nprefix == 0) /* -s alone: the prefixes come from the records */
		fail("%s: this shadow holds nothing yet", arg);
	if (idx < 0)
		fail("%s: not under a read-only prefix of this shadow", arg);
	return &cfg->prefix[idx];
}

int open_merged(struct ps_shadow *sh, const struct ps_tree_entry *e, char *path_buf, size_t bufsz,
		struct ps_file **out)
{
	struct ps_file_name name = { .path = path_buf, .enc_prefix = e->enc_prefix, .rel = e->rel };

	if (join_path(path_buf, bufsz, e->prefix, e->rel) < 0)
		return -ENAMETOOLONG;
	return ps_file_lookup(sh, &name, out);
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int copy_fd(int from, int to, char *buf)
{
	for (;;) {
		ssize_t n = read(from, buf, COPY_CHUNK);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		if ((rc = write_all(to, buf, (size_t)n)) < 0)
			return rc;
	}
}

int set_attrs(const char *path, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (!S_ISLNK(st->st_mode) && chmod(path, st->st_mode & 07777) < 0)
		return -errno;
	if (geteuid() == 0 && lchown(path, st->st_uid, st->st_gid) < 0)
		return -errno;
	if (!S_ISLNK(st->st_mode) && geteuid() == 0 && chmod(path, st->st_mode & 07777) < 0)
		return -errno; /* chown cleared set-user-ID and set-group-ID */
	return utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int copy_merged(struct ps_file *f, int fd, uint64_t len)
{
	char *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (off < len) {
		size_t want = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
		ssize_t n = ps_merge_pread(f, buf, want, (off_t)off);

		if (n <= 0) {
			rc = (int)n;
			break;
		}
		if ((rc = write_all(fd, buf, (size_t)n)) < 0)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

const char *engine_strerror(int rc)
{
	switch (rc) {
	case -ESTALE:
		return "stale shadow record (the lower file changed)";
	case -EILSEQ:
		return "corrupt shadow record";
	case -EPROTO:
		return "shadow record of an unknown version";
	default:
		return strerror(-rc);
	}
}
