/* test_ns.c - the merged namespace (ns.h): what the meta tree says about a name, whiteouts, directories,
 * symlinks, moves, and merged listings of a lower directory with the shadow's entries. */
#include "fakes.h"
#include "listing.h"
#include "ns.h"
#include "path.h"

#include <dirent.h>
#include <sys/xattr.h>

static int setup(void **state)
{
	struct t_sfx *s = calloc(1, sizeof(*s));
	char p[PATH_MAX];

	if (!s)
		return -1;
	t_quiet_log();
	t_sfx_init(s);
	t_write_file(s->lower, "lower", 5);
	t_join(p, s->dir, "ro/sub");
	t_mkdir(p);
	t_join(p, s->dir, "ro/sub/inner");
	t_write_file(p, "inner", 5);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct t_sfx *s = *state;

	t_sfx_release(s);
	free(s);
	return 0;
}

static struct ps_ns lookup(struct t_sfx *s, const char *rel)
{
	struct ps_ns ns;

	assert_int_equal(ps_ns_lookup(&s->sh, "pfx", rel, &ns), 0);
	return ns;
}

/* The same under another encoded prefix. */
static struct ps_ns lookup_in(struct t_sfx *s, const char *enc, const char *rel)
{
	struct ps_ns ns;

	assert_int_equal(ps_ns_lookup(&s->sh, enc, rel, &ns), 0);
	return ns;
}

static void test_name_without_meta_entry_is_the_lower_trees(void **state)
{
	struct t_sfx *s = *state;

	assert_int_equal(lookup(s, "").state, PS_NS_LOWER);
	assert_int_equal(lookup(s, "file").state, PS_NS_LOWER);
	assert_int_equal(lookup(s, "sub/inner").state, PS_NS_LOWER);
	assert_int_equal(lookup(s, "nothing/below").state, PS_NS_LOWER);
}

static void test_record_is_seen_and_a_name_below_it_is_notdir(void **state)
{
	struct t_sfx *s = *state;

	t_sfx_create(s);
	assert_int_equal(lookup(s, "file").state, PS_NS_RECORD);
	assert_int_equal(lookup(s, "file/x").state, PS_NS_NOTDIR);
}

static void test_whiteout_hides_the_name_and_everything_below(void **state)
{
	struct t_sfx *s = *state;
	struct stat st;
	char p[PATH_MAX];

	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "sub", 1), 0);
	assert_int_equal(lookup(s, "sub").state, PS_NS_ABSENT);
	assert_int_equal(lookup(s, "sub/inner").state, PS_NS_NOPARENT);
	t_join(p, s->shadow, "meta/pfx/sub");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void test_removing_a_record_with_whiteout_replaces_it_and_drops_its_data(void **state)
{
	struct t_sfx *s = *state;
	struct stat st;
	uint64_t gen;

	t_sfx_create(s);
	gen = ps_shadow_generation(&s->sh);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "file", 1), 0);
	assert_int_equal(lookup(s, "file").state, PS_NS_ABSENT);
	assert_int_equal(stat(s->data, &st), -1);
	assert_true(ps_shadow_generation(&s->sh) > gen);
}

static void test_removing_without_whiteout_leaves_the_name_to_the_lower_tree(void **state)
{
	struct t_sfx *s = *state;

	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "new", 0755), 0);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "new", 0), 0);
	assert_int_equal(lookup(s, "new").state, PS_NS_LOWER);
}

static void test_mkdir_makes_an_opaque_directory_over_a_whiteout(void **state)
{
	struct t_sfx *s = *state;
	struct ps_ns ns;
	struct stat st;
	char p[PATH_MAX];

	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "sub", 1), 0);
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "sub", 0750), 0);
	ns = lookup(s, "sub");
	assert_int_equal(ns.state, PS_NS_DIR);
	assert_true(ns.opaque);
	assert_false(ps_ns_lower_shows(&ns));
	/* the lower entries below stay hidden: free names, not lower ones */
	assert_int_equal(lookup(s, "sub/inner").state, PS_NS_ABSENT);
	assert_int_equal(lookup(s, "sub/inner/x").state, PS_NS_NOPARENT);
	t_join(p, s->shadow, "data/pfx/sub");
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0700, 0700);
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "sub", 0755), -EEXIST);
}

static void test_parent_made_for_a_record_merges_with_the_lower_directory(void **state)
{
	struct t_sfx *s = *state;
	struct ps_file_name name = { .path = "/unused/sub/inner", .enc_prefix = "pfx", .rel = "sub/inner" };
	struct ps_file *f;
	struct ps_ns ns;

	assert_int_equal(ps_file_create(&s->sh, &name, NULL, 0644, 0, &f), 0);
	ps_file_put(f);
	ns = lookup(s, "sub");
	assert_int_equal(ns.state, PS_NS_DIR);
	assert_false(ns.opaque);
	assert_true(ps_ns_lower_shows(&ns));
}

static void test_symlink_is_told_from_a_whiteout_and_read_back(void **state)
{
	struct t_sfx *s = *state;
	char target[PATH_MAX];
	struct ps_ns ns;

	assert_int_equal(ps_ns_symlink(&s->sh, "pfx", "link", "sub/inner"), 0);
	ns = lookup(s, "link");
	assert_int_equal(ns.state, PS_NS_SYMLINK);
	assert_int_equal(ns.link_len, strlen("link"));
	ns = lookup(s, "link/below");
	assert_int_equal(ns.state, PS_NS_SYMLINK);
	assert_int_equal(ns.link_len, strlen("link"));
	assert_int_equal(ps_ns_readlink(&s->sh, "pfx", "link", target, sizeof(target)), (int)strlen("sub/inner"));
	assert_string_equal(target, "sub/inner");
	assert_int_equal(ps_ns_symlink(&s->sh, "pfx", "link", "other"), -EEXIST);
	assert_int_equal(ps_ns_symlink(&s->sh, "pfx", "w", "/dev/null/pageshadow-whiteout"), -EINVAL);
}

static void test_move_carries_a_directory_and_its_entries(void **state)
{
	struct t_sfx *s = *state;
	struct ps_file_name name = { .path = "/unused/d/f", .enc_prefix = "pfx", .rel = "d/f" };
	struct ps_file *f;

	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "d", 0755), 0);
	assert_int_equal(ps_file_create(&s->sh, &name, NULL, 0644, 0, &f), 0);
	ps_file_put(f);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "e", 1), 0); /* a whiteout at the destination */
	assert_int_equal(ps_ns_move(&s->sh, "pfx", "d", "pfx", "e", 0, 0), 0);
	assert_int_equal(lookup(s, "d").state, PS_NS_LOWER);
	assert_int_equal(lookup(s, "e").state, PS_NS_DIR);
	assert_int_equal(lookup(s, "e/f").state, PS_NS_RECORD);
}

static void test_directory_with_lower_entries_moves_by_its_names(void **state)
{
	struct t_sfx *s = *state;
	char p[PATH_MAX * 2], enc[NAME_MAX + 1], origin[PS_RECORD_ORIGIN_MAX + 1];
	struct ps_file_name name = { .path = "/unused/sub/new", .enc_prefix = enc, .rel = "sub/new" };
	struct ps_file *f;
	struct stat st;
	int fd;

	/* it opens the lower directory by the prefix's decoded name: the prefix's real encoding */
	t_join(p, s->dir, "ro");
	assert_true(ps_path_encode_prefix(p, enc, sizeof(enc)) > 0);
	assert_int_equal(ps_file_create(&s->sh, &name, NULL, 0644, 0, &f), 0);
	ps_file_put(f);
	assert_int_equal(ps_ns_move_copying_names(&s->sh, enc, "sub", "moved", 0), 0);
	assert_int_equal(lookup_in(s, enc, "sub").state, PS_NS_ABSENT);
	assert_int_equal(lookup_in(s, enc, "moved").state, PS_NS_DIR);
	assert_true(lookup_in(s, enc, "moved").opaque);
	assert_int_equal(lookup_in(s, enc, "moved/new").state, PS_NS_RECORD);
	assert_int_equal(lookup_in(s, enc, "moved/inner").state, PS_NS_RECORD);
	/* the lower file's record says where it is; its data file holds no block */
	snprintf(p, sizeof(p), "%s/meta/%s/moved/inner", s->shadow, enc);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ps_record_read_origin(fd, origin, sizeof(origin)), (int)strlen("sub/inner"));
	assert_string_equal(origin, "sub/inner");
	close(fd);
	snprintf(p, sizeof(p), "%s/data/%s/moved/inner", s->shadow, enc);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_blocks, 0);
}

/* A lower directory's extended attributes go with its attributes into the shadow: when it takes attributes of its
 * own, and when it moves by its names. */
static void test_directory_attributes_in_the_shadow_carry_its_extended_attributes(void **state)
{
	struct t_sfx *s = *state;
	char p[PATH_MAX * 2], enc[NAME_MAX + 1], value[16];
	struct stat st;

	t_join(p, s->dir, "ro/sub");
	if (setxattr(p, "user.dir", "D", 1, 0) < 0)
		skip(); /* a file system without user.* attributes */
	assert_int_equal(stat(p, &st), 0);
	t_join(p, s->dir, "ro");
	assert_true(ps_path_encode_prefix(p, enc, sizeof(enc)) > 0);
	assert_int_equal(ps_ns_dir_own_attrs(&s->sh, enc, "sub", &st), 0);
	snprintf(p, sizeof(p), "%s/data/%s/sub", s->shadow, enc);
	assert_int_equal(getxattr(p, "user.dir", value, sizeof(value)), 1);
	assert_int_equal(setxattr(p, "user.own", "O", 1, 0), 0);
	assert_int_equal(ps_ns_move_copying_names(&s->sh, enc, "sub", "moved", 0), 0);
	snprintf(p, sizeof(p), "%s/data/%s/moved", s->shadow, enc);
	assert_int_equal(getxattr(p, "user.dir", value, sizeof(value)), 1);
	assert_int_equal(getxattr(p, "user.own", value, sizeof(value)), 1);
	assert_int_equal(value[0], 'O');
}

static void test_special_file_is_a_node_in_the_data_tree_marked_in_meta(void **state)
{
	struct t_sfx *s = *state;
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(ps_ns_mknod(&s->sh, "pfx", "fifo", S_IFIFO | 0640, 0), 0);
	assert_int_equal(lookup(s, "fifo").state, PS_NS_SPECIAL);
	assert_int_equal(lookup(s, "fifo/x").state, PS_NS_NOTDIR);
	t_join(p, s->shadow, "data/pfx/fifo");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0640); /* (a umask of 022 leaves 0640 as it is) */
	assert_int_equal(ps_ns_mknod(&s->sh, "pfx", "fifo", S_IFIFO | 0600, 0), -EEXIST);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "fifo", 0), 0);
	assert_int_equal(lookup(s, "fifo").state, PS_NS_LOWER);
	assert_int_equal(lstat(p, &st), -1);
}

static void test_removing_a_name_already_gone_is_enoent_under_the_lock(void **state)
{
	struct t_sfx *s = *state;

	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "file", 1), 0);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "file", 1), -ENOENT); /* a second process came too late */
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "nothing", 0), -ENOENT);
}

/* The sorted names of a listing, "name/type" joined by spaces. */
static void listing_text(const struct ps_dirlist *l, char *out, size_t outsz)
{
	char buf[8192];
	size_t pos = 0;
	long n;
	char *names[64];
	size_t count = 0;

	out[0] = '\0';
	while ((n = ps_dirlist_fill(l, &pos, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			assert_true(count < 64);
			assert_true(asprintf(&names[count++], "%s/%d", d->d_name, d->d_type) > 0);
			off += d->d_reclen;
		}
	}
	for (size_t i = 0; i < count; i++)
		for (size_t j = i + 1; j < count; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *tmp = names[i];

				names[i] = names[j];
				names[j] = tmp;
			}
	for (size_t i = 0; i < count; i++) {
		strncat(out, names[i], outsz - strlen(out) - 2);
		strcat(out, " ");
		free(names[i]);
	}
}

static void test_listing_merges_lower_names_with_the_shadows_once_each(void **state)
{
	struct t_sfx *s = *state;
	struct ps_file_name newf = { .path = "/unused/new", .enc_prefix = "pfx", .rel = "new" };
	struct ps_dirlist l;
	char ro[PATH_MAX], text[1024];
	struct ps_file *f;
	int fd;

	t_sfx_create(s); /* "file" gets a record: listed once */
	assert_int_equal(ps_file_create(&s->sh, &newf, NULL, 0644, 0, &f), 0);
	ps_file_put(f);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "sub", 1), 0);
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "newdir", 0755), 0);
	assert_int_equal(ps_ns_symlink(&s->sh, "pfx", "ln", "file"), 0);
	t_join(ro, s->dir, "ro");
	fd = open(ro, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ps_ns_list(&s->sh, "pfx", "", fd, 1, &l), 0);
	listing_text(&l, text, sizeof(text));
	assert_string_equal(text, "../4 ./4 file/8 ln/10 new/8 newdir/4 ");
	assert_true(ps_dirlist_has_names(&l));
	ps_dirlist_free(&l);
	/* without the lower names (an opaque directory): the shadow's alone */
	assert_int_equal(ps_ns_list(&s->sh, "pfx", "", fd, 0, &l), 0);
	listing_text(&l, text, sizeof(text));
	assert_string_equal(text, "../4 ./4 file/8 ln/10 new/8 newdir/4 ");
	ps_dirlist_free(&l);
	close(fd);
}

static void test_listing_of_an_emptied_directory_has_no_names(void **state)
{
	struct t_sfx *s = *state;
	struct ps_dirlist l;
	char p[PATH_MAX];
	int fd;

	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "sub/inner", 1), 0);
	t_join(p, s->dir, "ro/sub");
	fd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ps_ns_list(&s->sh, "pfx", "sub", fd, 1, &l), 0);
	assert_false(ps_dirlist_has_names(&l));
	ps_dirlist_free(&l);
	close(fd);
}

static void test_subdir_change_counts_directories_made_and_lower_ones_hidden(void **state)
{
	struct t_sfx *s = *state;
	char ro[PATH_MAX];
	long change;
	int fd;

	t_join(ro, s->dir, "ro");
	fd = open(ro, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ps_ns_subdir_change(&s->sh, "pfx", "", fd, 1, &change), 0);
	assert_int_equal(change, 0); /* no meta directory yet */
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "newdir", 0755), 0);
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "other", 0755), 0);
	assert_int_equal(ps_ns_subdir_change(&s->sh, "pfx", "", fd, 1, &change), 0);
	assert_int_equal(change, 2);
	assert_int_equal(ps_ns_remove(&s->sh, "pfx", "sub", 1), 0); /* the lower directory deleted */
	assert_int_equal(ps_ns_subdir_change(&s->sh, "pfx", "", fd, 1, &change), 0);
	assert_int_equal(change, 1);
	assert_int_equal(ps_ns_mkdir(&s->sh, "pfx", "sub", 0755), 0); /* made again, opaque: one directory still */
	assert_int_equal(ps_ns_symlink(&s->sh, "pfx", "ln", "file"), 0);
	assert_int_equal(ps_ns_subdir_change(&s->sh, "pfx", "", fd, 1, &change), 0);
	assert_int_equal(change, 2);
	close(fd);
}

static void test_fill_hands_out_what_fits_and_resumes(void **state)
{
	struct t_sfx *s = *state;
	struct ps_dirlist l;
	char buf[512], ro[PATH_MAX];
	size_t pos = 0, seen = 0;
	long n;
	int fd;

	t_join(ro, s->dir, "ro");
	fd = open(ro, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(ps_ns_list(&s->sh, "pfx", "", fd, 1, &l), 0);
	while ((n = ps_dirlist_fill(&l, &pos, buf, 32)) > 0) { /* room for one entry at a time */
		struct dirent64 *d = (struct dirent64 *)buf;

		assert_int_equal(d->d_reclen, n);
		assert_int_equal(d->d_off, (int64_t)pos);
		seen++;
	}
	assert_int_equal(n, 0);
	assert_int_equal(seen, 4); /* . .. file sub */
	pos = 0;
	assert_int_equal(ps_dirlist_fill(&l, &pos, buf, 8), -EINVAL);
	ps_dirlist_free(&l);
	close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_name_without_meta_entry_is_the_lower_trees),
		T(test_record_is_seen_and_a_name_below_it_is_notdir),
		T(test_whiteout_hides_the_name_and_everything_below),
		T(test_removing_a_record_with_whiteout_replaces_it_and_drops_its_data),
		T(test_removing_without_whiteout_leaves_the_name_to_the_lower_tree),
		T(test_mkdir_makes_an_opaque_directory_over_a_whiteout),
		T(test_parent_made_for_a_record_merges_with_the_lower_directory),
		T(test_symlink_is_told_from_a_whiteout_and_read_back),
		T(test_move_carries_a_directory_and_its_entries),
		T(test_directory_with_lower_entries_moves_by_its_names),
		T(test_directory_attributes_in_the_shadow_carry_its_extended_attributes),
		T(test_special_file_is_a_node_in_the_data_tree_marked_in_meta),
		T(test_removing_a_name_already_gone_is_enoent_under_the_lock),
		T(test_listing_merges_lower_names_with_the_shadows_once_each),
		T(test_listing_of_an_emptied_directory_has_no_names),
		T(test_subdir_change_counts_directories_made_and_lower_ones_hidden),
		T(test_fill_hands_out_what_fits_and_resumes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
