/* xattr.c - extended attributes of entries that have lower ones (xattr.h). */
#include "xattr.h"

#include "beneath.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A security.* name (an LSM's label) that this process may not set: the shadow's object keeps its own. */
static int label_left_alone(const char *name, int err)
{
	return strncmp(name, "security.", 9) == 0 && (err == EPERM || err == EACCES || err == EOPNOTSUPP);
}

/* The value of name at path in a buffer of its own (freed by the caller): its length or -errno. */
static ssize_t value_of(const char *path, const char *name, char **out)
{
	for (;;) {
		ssize_t n = ps_sys->lgetxattr(path, name, NULL, 0);
		char *v;

		if (n < 0)
			return -errno;
		if (!(v = malloc(n ? (size_t)n : 1)))
			return -ENOMEM;
		if ((n = ps_sys->lgetxattr(path, name, v, (size_t)n)) >= 0) {
			*out = v;
			return n;
		}
		free(v);
		if (errno != ERANGE) /* ERANGE: it grew meanwhile - ask again */
			return -errno;
	}
}

/* Every name at path, NUL-separated, in a buffer of its own: its length (0: none, *out NULL) or -errno. */
static ssize_t names_of(const char *path, char **out)
{
	*out = NULL;
	for (;;) {
		ssize_t n = ps_sys->llistxattr(path, NULL, 0);
		char *list;

		if (n < 0)
			return errno == ENOTSUP ? 0 : -errno; /* a filesystem without attributes has none to copy */
		if (n == 0)
			return 0;
		if (!(list = malloc((size_t)n)))
			return -ENOMEM;
		if ((n = ps_sys->llistxattr(path, list, (size_t)n)) >= 0) {
			*out = list;
			return n;
		}
		free(list);
		if (errno != ERANGE)
			return -errno;
	}
}

/* Copy every name of from onto the object open at to_fd, or else at the path to (not followed). */
static int copy_names(const char *from, int to_fd, const char *to)
{
	char *names, *value = NULL;
	ssize_t len = names_of(from, &names), n;
	int rc = len == -EACCES || len == -EPERM ? 0 : len < 0 ? (int)len : 0; /* what the caller may not read, it
										  * cannot tell is missing */

	for (char *name = names; rc == 0 && name && name < names + len; name += strlen(name) + 1) {
		if ((n = value_of(from, name, &value)) == -ENODATA || n == -EACCES || n == -EPERM)
			continue; /* removed since the listing, or not this caller's to read */
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if ((to_fd >= 0 ? ps_sys->fsetxattr(to_fd, name, value, (size_t)n, 0)
				: ps_sys->lsetxattr(to, name, value, (size_t)n, 0)) < 0 &&
		    !label_left_alone(name, errno)) {
			rc = -errno;
			ps_error("%s: extended attribute %s cannot be copied into the shadow: %s", from, name, strerror(errno));
		}
		free(value);
		value = NULL;
	}
	free(names);
	return rc;
}

int ps_xattr_copy(const char *from, int to_dirfd, const char *to_rel)
{
	char to[PATH_MAX + 64];
	int pfd = ps_sys_path_beneath(to_dirfd, to_rel, to, sizeof(to)), rc;

	if (pfd < 0)
		return pfd;
	rc = copy_names(from, -1, to);
	if (pfd != to_dirfd)
		ps_sys->close(pfd);
	return rc;
}

int ps_file_xattrs_are_data(const struct ps_file *f)
{
	return f->lower_fd < 0 || (ps_record_attr_flags(&f->rec) & PS_ATTR_XATTRS);
}

/* Copy onto the data file by its descriptor (another process may have renamed the file since this one opened
 * it). An ACL among the attributes sets the data file's permission bits - its mask the group bits, as on any
 * file - and that is left as it is, unless the owner lost read or write: every process opens the data file O_RDWR
 * (the file's own mode is the lower file's or the record's either way). */
static int copy_to_data_file(struct ps_file *f)
{
	char lower[PATH_MAX];
	struct stat after;
	int rc;

	if ((rc = ps_file_lower_path(f, lower, sizeof(lower))) < 0 || (rc = copy_names(lower, f->data_fd, NULL)) < 0)
		return rc;
	if (ps_sys->fstat(f->data_fd, &after) < 0)
		return -errno;
	return ps_data_file_keep_rw(f->data_fd, after.st_mode);
}

int ps_file_own_xattrs(struct ps_file *f)
{
	int rc;

	if (ps_file_xattrs_are_data(f))
		return 0;
	if ((rc = ps_shadow_lock_create(f->sh)) < 0)
		return rc;
	if (!ps_file_xattrs_are_data(f) && (rc = copy_to_data_file(f)) == 0)
		ps_record_set_attr_flags(&f->rec, PS_ATTR_XATTRS);
	ps_shadow_unlock_create(f->sh);
	ps_debug("%s: extended attributes now live on the data file: %d", f->path, rc);
	return rc;
}
