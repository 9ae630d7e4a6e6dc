/* test_xattr.c - extended attributes moved into the shadow on their first change (xattr.h): the copy, what it
 * leaves alone, and the record's mark. Fixture: fakes.h's struct t_sfx with a lower file that has attributes. */
#include "fakes.h"
#include "xattr.h"

#include <sys/xattr.h>

static int setup(void **state)
{
	struct t_sfx *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	t_quiet_log();
	t_sfx_init(s);
	t_write_file(s->lower, "lower bytes", 11);
	if (setxattr(s->lower, "user.small", "v", 1, 0) < 0) {
		t_sfx_release(s);
		free(s);
		return -1; /* (a file system without user.* attributes: nothing to test here) */
	}
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct t_sfx *s = *state;

	t_fake_remove();
	t_sfx_release(s);
	free(s);
	return 0;
}

static void assert_attr(const char *path, const char *name, const void *value, size_t size)
{
	char buf[8192];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf));

	assert_int_equal(n, (ssize_t)size);
	assert_memory_equal(buf, value, size);
}

/* ps_xattr_copy onto D/to (named below the fixture's directory, as the engine names what it copies onto). */
static int copy_to_d_to(struct t_sfx *s, const char *from)
{
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	assert_true(dfd >= 0);
	rc = ps_xattr_copy(from, dfd, "to");
	close(dfd);
	return rc;
}

static void test_copy_moves_every_name_and_value(void **state)
{
	struct t_sfx *s = *state;
	char big[3000], to[PATH_MAX]; /* (ext4 keeps a value within one block) */

	memset(big, 'b', sizeof(big));
	assert_int_equal(setxattr(s->lower, "user.big", big, sizeof(big), 0), 0);
	assert_int_equal(setxattr(s->lower, "user.empty", "", 0, 0), 0);
	t_join(to, s->dir, "to");
	t_write_file(to, "", 0);
	assert_int_equal(copy_to_d_to(s, s->lower), 0);
	assert_attr(to, "user.small", "v", 1);
	assert_attr(to, "user.big", big, sizeof(big));
	assert_attr(to, "user.empty", "", 0);
}

static void test_copy_of_an_entry_without_attributes_does_nothing(void **state)
{
	struct t_sfx *s = *state;
	char from[PATH_MAX], to[PATH_MAX];

	t_join(from, s->dir, "bare");
	t_write_file(from, "", 0);
	t_join(to, s->dir, "to");
	t_write_file(to, "", 0);
	assert_int_equal(copy_to_d_to(s, from), 0);
	assert_int_equal(llistxattr(to, NULL, 0), 0);
}

static int refused_name_calls;

/* A file system whose LSM will not let this process set its label, and has no room for user.full. */
static int refusing_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
{
	refused_name_calls++;
	if (strncmp(name, "security.", 9) == 0) {
		errno = EPERM;
		return -1;
	}
	if (strcmp(name, "user.full") == 0) {
		errno = ENOSPC;
		return -1;
	}
	return lsetxattr(path, name, value, size, flags);
}

static int refusing_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
	if (strcmp(name, "user.full") == 0) {
		errno = ENOSPC;
		return -1;
	}
	return fsetxattr(fd, name, value, size, flags);
}

static ssize_t labelled_llistxattr(const char *path, char *list, size_t size)
{
	static const char names[] = "security.label\0user.small";

	if (size == 0)
		return sizeof(names);
	memcpy(list, names, sizeof(names));
	(void)path;
	return sizeof(names);
}

static ssize_t labelled_lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	if (strcmp(name, "security.label") == 0) {
		if (size)
			memcpy(value, "L", 1);
		return 1;
	}
	return lgetxattr(path, name, value, size);
}

static void test_copy_leaves_a_label_the_kernel_refuses_to_the_shadow(void **state)
{
	struct t_sfx *s = *state;
	char to[PATH_MAX];

	t_join(to, s->dir, "to");
	t_write_file(to, "", 0);
	t_fake_install();
	t_fake.ops.llistxattr = labelled_llistxattr;
	t_fake.ops.lgetxattr = labelled_lgetxattr;
	t_fake.ops.lsetxattr = refusing_lsetxattr;
	refused_name_calls = 0;
	assert_int_equal(copy_to_d_to(s, s->lower), 0);
	assert_int_equal(refused_name_calls, 2);
	t_fake_remove();
	assert_attr(to, "user.small", "v", 1);
}

static void test_copy_fails_with_any_other_refusal(void **state)
{
	struct t_sfx *s = *state;
	char to[PATH_MAX];

	assert_int_equal(setxattr(s->lower, "user.full", "x", 1, 0), 0);
	t_join(to, s->dir, "to");
	t_write_file(to, "", 0);
	t_fake_install();
	t_fake.ops.lsetxattr = refusing_lsetxattr;
	assert_int_equal(copy_to_d_to(s, s->lower), -ENOSPC);
}

static void test_own_xattrs_copies_once_and_marks_the_record(void **state)
{
	struct t_sfx *s = *state;

	t_sfx_create(s);
	assert_false(ps_file_xattrs_are_data(s->f));
	assert_int_equal(ps_file_own_xattrs(s->f), 0);
	assert_true(ps_file_xattrs_are_data(s->f));
	assert_true(ps_record_attr_flags(&s->f->rec) & PS_ATTR_XATTRS);
	assert_attr(s->data, "user.small", "v", 1);
	/* the data file's are the file's now: a later change of the lower file's is not copied over them */
	assert_int_equal(setxattr(s->data, "user.small", "shadow", 6, 0), 0);
	assert_int_equal(setxattr(s->lower, "user.small", "w", 1, 0), 0);
	assert_int_equal(ps_file_own_xattrs(s->f), 0);
	assert_attr(s->data, "user.small", "shadow", 6);
	/* the mark is on disk: a new lookup sees it */
	assert_int_equal(t_sfx_relookup(s), 0);
	assert_true(ps_file_xattrs_are_data(s->f));
}

static void test_failed_copy_leaves_the_record_unmarked(void **state)
{
	struct t_sfx *s = *state;

	assert_int_equal(setxattr(s->lower, "user.full", "x", 1, 0), 0);
	t_sfx_create(s);
	t_fake_install();
	t_fake.ops.fsetxattr = refusing_fsetxattr;
	assert_int_equal(ps_file_own_xattrs(s->f), -ENOSPC);
	assert_false(ps_file_xattrs_are_data(s->f));
	t_fake_remove();
	assert_int_equal(ps_file_own_xattrs(s->f), 0);
	assert_true(ps_file_xattrs_are_data(s->f));
}

/* An ACL copied onto the data file sets its permission bits (the mask its group bits, as on any file); the data
 * file must stay its owner's to read and write (the file's mode is the lower file's or the record's). */
static void test_own_xattrs_keeps_the_data_file_its_owners_to_read_and_write(void **state)
{
	struct t_sfx *s = *state;
	/* version 2; USER_OBJ r, USER 65534 r, GROUP_OBJ r, MASK r, OTHER none */
	static const unsigned char acl[] = { 2, 0, 0, 0, 1,    0, 4, 0, 0xff, 0xff, 0xff, 0xff, 2,    0, 4, 0, 0xfe, 0xff, 0, 0,
					     4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
					     0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	struct stat before, after;

	if (setxattr(s->lower, "system.posix_acl_access", acl, sizeof(acl), 0) < 0)
		skip(); /* a file system without ACLs */
	t_sfx_create(s);
	assert_int_equal(stat(s->data, &before), 0);
	assert_int_equal(ps_file_own_xattrs(s->f), 0);
	assert_int_equal(stat(s->data, &after), 0);
	assert_int_equal(after.st_mode & 0600, 0600);
	assert_int_equal(after.st_mode & 0070, 0040); /* the copied ACL's mask, r-- */
	assert_true(before.st_mode & 0200);
	assert_true(lgetxattr(s->data, "system.posix_acl_access", NULL, 0) > 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_copy_moves_every_name_and_value),
		T(test_copy_of_an_entry_without_attributes_does_nothing),
		T(test_copy_leaves_a_label_the_kernel_refuses_to_the_shadow),
		T(test_copy_fails_with_any_other_refusal),
		T(test_own_xattrs_copies_once_and_marks_the_record),
		T(test_failed_copy_leaves_the_record_unmarked),
		T(test_own_xattrs_keeps_the_data_file_its_owners_to_read_and_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
