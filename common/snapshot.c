/* snapshot.c - a complete copy of a merged file (see snapshot.h). */
#include "snapshot.h"
#include "exec.h"
#include "merge.h"
#include "path.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

static int copy_merged(struct ps_file *f, int fd)
{
	char *buf = malloc(COPY_CHUNK);
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while ((n = ps_merge_pread(f, buf, COPY_CHUNK, off)) > 0) {
		ssize_t w = ps_sys_pwrite_full(fd, buf, (size_t)n, off);

		if (w < 0) {
			rc = (int)w;
			break;
		}
		off += n;
	}
	free(buf);
	return n < 0 ? (int)n : rc;
}

int ps_snapshot_make(struct ps_file *f, char *out, size_t outsz)
{
	struct ps_shadow *sh = f->sh;
	char root[64], name[PATH_MAX];
	uint64_t rnd = 0;
	int fd, rc;

	if (strncmp(f->data_path, "data/", 5) != 0)
		return -EINVAL;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint64_t)(uintptr_t)&rnd ^ (uint64_t)getpid() << 32;
	snprintf(root, sizeof(root), "exec/%d-%016llx", (int)getpid(), (unsigned long long)rnd);
	if ((size_t)snprintf(name, sizeof(name), "%s/%s", root, f->data_path + 5) >= sizeof(name))
		return -ENAMETOOLONG;
	if ((rc = ps_path_normalize(sh->path, name, out, outsz)) < 0 || (rc = ps_shadow_make_parents(sh, name)) < 0)
		return rc;
	fd = ps_sys->openat(sh->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0) {
		rc = -errno;
		ps_sys_remove_tree(sh->dirfd, root);
		return rc;
	}
	rc = copy_merged(f, fd);
	if (ps_sys->close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		ps_sys_remove_tree(sh->dirfd, root);
	else
		ps_snapshot_mirror_origin(f, name);
	return rc;
}

void ps_snapshot_remove(const char *shadow_dir, const char *copy)
{
	const char *below = ps_path_below(copy, shadow_dir);
	char root[PATH_MAX];
	size_t n;

	if (!below || strncmp(below, "exec/", 5) != 0)
		return;
	n = 5 + strcspn(below + 5, "/");
	if (n == 5 || (size_t)snprintf(root, sizeof(root), "%s/%.*s", shadow_dir, (int)n, below) >= sizeof(root))
		return;
	ps_sys_remove_tree(AT_FDCWD, root);
}

/* The length of the tree a file name lies in: "data/<prefix>" or "exec/<root>/<prefix>". */
static size_t tree_len(const char *file_rel)
{
	int parts = strncmp(file_rel, "exec/", 5) == 0 ? 3 : 2;
	size_t n = 0;

	for (int i = 0; i < parts && file_rel[n]; i++) {
		n += strcspn(file_rel + n, "/");
		if (i + 1 < parts && file_rel[n] == '/')
			n++;
	}
	return n;
}

struct mirror {
	struct ps_file *f;
	const char *file_rel;
};

/* One RUNPATH entry: "$ORIGIN/rest" or "${ORIGIN}/rest". */
static void mirror_entry(const char *entry, void *arg)
{
	const struct mirror *m = arg;
	char lower_dir[PATH_MAX], here[PATH_MAX], want[PATH_MAX], made[PATH_MAX];
	const char *rest = NULL, *slash;
	struct stat st;

	if (strncmp(entry, "$ORIGIN", 7) == 0)
		rest = entry + 7;
	else if (strncmp(entry, "${ORIGIN}", 9) == 0)
		rest = entry + 9;
	if (!rest || (*rest && *rest != '/'))
		return;
	slash = strrchr(m->f->path, '/');
	if (!slash || (size_t)(slash - m->f->path) >= sizeof(here))
		return;
	memcpy(here, m->f->path, (size_t)(slash - m->f->path));
	here[slash - m->f->path] = '\0';
	if (ps_path_normalize(here[0] ? here : "/", *rest ? rest + 1 : ".", lower_dir, sizeof(lower_dir)) < 0 ||
	    ps_sys->fstatat(AT_FDCWD, lower_dir, &st, 0) < 0 || !S_ISDIR(st.st_mode))
		return; /* nothing there in the tree to find */
	slash = strrchr(m->file_rel, '/');
	if (!slash || (size_t)(slash - m->file_rel) >= sizeof(here) - 1)
		return;
	memcpy(here, m->file_rel, (size_t)(slash - m->file_rel));
	here[slash - m->file_rel] = '\0';
	/* relative to the shadow directory: normalise below a fake root, and stay inside the file's own tree
	 * (data/<prefix>/ or exec/<root>/<prefix>/) */
	made[0] = '/';
	strcpy(made + 1, here); /* here is shorter than PATH_MAX - 1 */
	if (ps_path_normalize(made, *rest ? rest + 1 : ".", want, sizeof(want)) < 0 ||
	    strncmp(want + 1, m->file_rel, tree_len(m->file_rel)) != 0 ||
	    (want[1 + tree_len(m->file_rel)] != '\0' && want[1 + tree_len(m->file_rel)] != '/'))
		return;
	if (strlen(want + 1) + 3 > sizeof(made))
		return;
	memcpy(made, want + 1, strlen(want + 1));
	strcpy(made + strlen(want + 1), "/x"); /* make_parents makes the directories above its name */
	ps_shadow_make_parents(m->f->sh, made);
}

void ps_snapshot_mirror_origin(struct ps_file *f, const char *file_rel)
{
	struct mirror m = { f, file_rel };

	ps_exec_runpath(ps_merge_read_at, f, mirror_entry, &m);
}

int ps_snapshot_file(struct ps_file *f, int force_copy, char *out, size_t outsz, int *is_copy)
{
	int rc;

	*is_copy = force_copy || ps_merge_shows_lower(f);
	if (*is_copy)
		return ps_snapshot_make(f, out, outsz);
	if ((rc = ps_path_normalize(f->sh->path, f->data_path, out, outsz)) < 0)
		return rc;
	ps_snapshot_mirror_origin(f, f->data_path); /* its $ORIGIN is in the data tree now */
	return 0;
}

int ps_snapshot_tree_path(const char *shadow_dir, char *abs, size_t abssz)
{
	char enc[NAME_MAX + 1], prefix[PATH_MAX], tree[PATH_MAX];
	const char *below = ps_path_below(abs, shadow_dir), *slash;

	if (below && strncmp(below, "exec/", 5) == 0 && (slash = strchr(below + 5, '/')) != NULL)
		below = slash + 1; /* exec/<root>/<prefix>/<rel> */
	else if (below && strncmp(below, "data/", 5) == 0)
		below += 5; /* data/<prefix>/<rel> */
	else
		return 0;
	slash = strchrnul(below, '/'); /* data/<prefix> itself is the prefix */
	if ((size_t)(slash - below) >= sizeof(enc))
		return 0;
	memcpy(enc, below, (size_t)(slash - below));
	enc[slash - below] = '\0';
	if (ps_path_decode_prefix(enc, prefix, sizeof(prefix)) < 0 ||
	    (size_t)snprintf(tree, sizeof(tree), "%s%s", prefix, slash) >= sizeof(tree) || strlen(tree) >= abssz)
		return 0;
	strcpy(abs, tree);
	return 1;
}
