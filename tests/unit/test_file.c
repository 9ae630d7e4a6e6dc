/* test_file.c - shadowed-file objects: lookup, creation, references, unlink, and what a lookup does with a
 * corrupt record or a changed lower file (file.h). Fixture: fakes.h's struct t_sfx. */
#include "fakes.h"
#include "merge.h"

#include <dirent.h>

#define PG 4096u
#define LOWER_SIZE (3 * PG + 500)

struct fx {
	struct t_sfx s;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char buf[LOWER_SIZE];

	if (!fx)
		return -1;
	t_quiet_log();
	t_sfx_init(&fx->s);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 251 + 1);
	t_write_file(fx->s.lower, buf, sizeof(buf));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	t_fake_remove();
	t_sfx_release(&fx->s);
	free(fx);
	return 0;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Create the record, then drop the reference so that the next lookup reads everything from disk. */
static void create_and_put(struct fx *fx)
{
	t_sfx_create(&fx->s);
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
}

static int lookup(struct fx *fx)
{
	return t_sfx_relookup(&fx->s);
}

static void test_lookup_without_record_is_enoent(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(lookup(fx), -ENOENT);
	assert_null(fx->s.f);
}

static void test_create_makes_sparse_data_file_with_lower_size_and_times(void **state)
{
	struct fx *fx = *state;
	uint64_t gen = ps_shadow_generation(&fx->s.sh);
	struct stat dst;

	t_sfx_create(&fx->s);
	assert_int_equal(stat(fx->s.data, &dst), 0);
	assert_int_equal(dst.st_size, LOWER_SIZE);
	if (t_fs_reports_holes(fx->s.dir))
		assert_int_equal(dst.st_blocks, 0);
	assert_int_equal(dst.st_mtim.tv_sec, fx->s.lst.st_mtim.tv_sec);
	assert_int_equal(dst.st_mtim.tv_nsec, fx->s.lst.st_mtim.tv_nsec);
	assert_true(exists(fx->s.meta));
	assert_true(fx->s.f->lower_fd >= 0);
	assert_true(fx->s.f->data_fd >= 0);
	assert_int_equal(fx->s.f->rec.has_lower, 1);
	assert_string_equal(fx->s.f->path, fx->s.lower);
	assert_string_equal(fx->s.f->data_path, "data/pfx/file");
	assert_string_equal(fx->s.f->meta_path, "meta/pfx/file");
	assert_int_equal(ps_shadow_generation(&fx->s.sh), gen + 1);
}

static void test_creating_a_library_record_flags_the_shadow(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name plain = { .path = "/ro/notes.txt", .enc_prefix = "pfx", .rel = "notes.txt" };
	struct ps_file_name lib = { .path = "/ro/lib/libx.so.1", .enc_prefix = "pfx", .rel = "lib/libx.so.1" };
	struct ps_file *f;

	assert_int_equal(ps_file_create(&fx->s.sh, &plain, NULL, 0644, 0, &f), 0);
	ps_file_put(f);
	assert_int_equal(ps_shadow_flags(&fx->s.sh) & PS_SHADOW_HAS_LIBRARIES, 0);
	assert_int_equal(ps_file_create(&fx->s.sh, &lib, NULL, 0755, 0, &f), 0);
	ps_file_put(f);
	assert_int_equal(ps_shadow_flags(&fx->s.sh) & PS_SHADOW_HAS_LIBRARIES, PS_SHADOW_HAS_LIBRARIES);
}

static void test_renaming_onto_a_library_name_flags_the_shadow(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name tmp = { .path = "/ro/lib/tmp.X", .enc_prefix = "pfx", .rel = "lib/tmp.X" };
	struct ps_file_name lib = { .path = "/ro/lib/libx.so", .enc_prefix = "pfx", .rel = "lib/libx.so" };
	struct ps_file *f;

	assert_int_equal(ps_file_create(&fx->s.sh, &tmp, NULL, 0755, 0, &f), 0);
	assert_int_equal(ps_shadow_flags(&fx->s.sh) & PS_SHADOW_HAS_LIBRARIES, 0);
	assert_int_equal(ps_file_rename(f, &lib, 0, 0), 0);
	ps_file_put(f);
	assert_int_equal(ps_shadow_flags(&fx->s.sh) & PS_SHADOW_HAS_LIBRARIES, PS_SHADOW_HAS_LIBRARIES);
}

static void test_create_of_existing_returns_the_same_file(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct ps_file *again = NULL;
	uint64_t gen;

	t_sfx_create(&fx->s);
	gen = ps_shadow_generation(&fx->s.sh);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, &fx->s.lst, 0644, 0, &again), 0);
	assert_ptr_equal(again, fx->s.f);
	assert_int_equal(fx->s.f->refs, 2);
	assert_int_equal(ps_shadow_generation(&fx->s.sh), gen);
	ps_file_put(again);
	assert_int_equal(fx->s.f->refs, 1);
}

static void test_create_excl_of_existing_is_eexist(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct ps_file *again = NULL;

	t_sfx_create(&fx->s);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, &fx->s.lst, 0644, 1, &again), -EEXIST);
	assert_int_equal(fx->s.f->refs, 1);
	/* Also when nobody holds it: the record on disk is what counts. */
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	assert_int_equal(ps_file_create(&fx->s.sh, &name, &fx->s.lst, 0644, 1, &again), -EEXIST);
}

static void test_lookup_while_referenced_shares_the_object(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct ps_file *second = NULL;

	t_sfx_create(&fx->s);
	assert_int_equal(ps_file_lookup(&fx->s.sh, &name, &second), 0);
	assert_ptr_equal(second, fx->s.f);
	ps_file_get(second);
	assert_int_equal(fx->s.f->refs, 3);
	ps_file_put(second);
	ps_file_put(second);
	assert_int_equal(fx->s.f->refs, 1);
}

static void test_lookup_after_last_put_reads_from_disk(void **state)
{
	struct fx *fx = *state;
	char page[PG];

	t_sfx_create(&fx->s);
	memset(page, 0x33, sizeof(page));
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, page, 10, PG + 5), 10);
	assert_int_equal(lookup(fx), 0);
	assert_int_equal(fx->s.f->refs, 1);
	assert_true(ps_record_page_is_shadowed(&fx->s.f->rec, 1));
	assert_int_equal(ps_merge_pread(fx->s.f, page, 10, PG + 5), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal((uint8_t)page[i], 0x33);
}

static void test_put_closes_every_descriptor(void **state)
{
	struct fx *fx = *state;
	int before = open_fds();

	t_sfx_create(&fx->s);
	assert_true(open_fds() > before);
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	assert_int_equal(open_fds(), before);
}

/* ---- objects kept after their last reference (ps_file_keep_idle: the shim keeps some) ---- */

static void test_kept_file_is_found_again_without_reading_its_record(void **state)
{
	struct fx *fx = *state;
	int before = open_fds(), kept;

	ps_file_keep_idle(4);
	create_and_put(fx);
	kept = open_fds();
	assert_true(kept > before); /* its descriptors stay open */
	assert_int_equal(lookup(fx), 0);
	assert_int_equal(open_fds(), kept); /* nothing opened again */
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	ps_file_keep_idle(0);
	assert_int_equal(open_fds(), before); /* those kept beyond the new limit go at once */
}

static void test_kept_file_whose_lower_changed_is_estale(void **state)
{
	struct fx *fx = *state;
	struct timespec times[2] = { { 1000000000, 5 }, { 1000000000, 5 } };

	ps_file_keep_idle(4);
	create_and_put(fx);
	assert_int_equal(utimensat(AT_FDCWD, fx->s.lower, times, 0), 0);
	assert_int_equal(lookup(fx), -ESTALE);
	ps_file_keep_idle(0);
}

static void test_kept_file_another_process_removed_is_not_found(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct ps_shadow other;
	struct ps_file *theirs;
	char why[256];

	ps_file_keep_idle(4);
	create_and_put(fx);
	/* another process: its own shadow handle and object */
	assert_int_equal(ps_shadow_open(&other, fx->s.shadow, 1, why, sizeof(why)), 0);
	assert_int_equal(ps_file_open_unshared(&other, &name, &theirs), 0);
	assert_int_equal(ps_file_unlink(theirs), 0);
	ps_file_put(theirs);
	ps_shadow_close(&other);
	assert_int_equal(lookup(fx), -ENOENT);
	ps_file_keep_idle(0);
}

/* Move *held's descriptor to another number the way the shim makes room for a program's dup2: dup, tell the
 * holders, close the old number. */
static void move_descriptor(struct ps_shadow *sh, int *held)
{
	int from = *held, to = fcntl(from, F_DUPFD_CLOEXEC, 200);

	assert_true(to >= 200);
	ps_shadow_renumber_fd(sh, from, to);
	ps_file_renumber_fd(from, to);
	assert_int_equal(*held, to);
	assert_int_equal(close(from), 0);
}

static void test_a_file_follows_its_descriptors_when_they_move(void **state)
{
	struct fx *fx = *state;
	struct ps_file *f, *unlinked;
	char page[PG];

	t_sfx_create(&fx->s);
	f = fx->s.f;
	ps_file_get(f);
	assert_int_equal(ps_file_unlink(f), 0); /* out of the lookup table, still open */
	unlinked = f;
	assert_int_equal(lookup(fx), -ENOENT);
	t_sfx_create(&fx->s);
	f = fx->s.f;
	move_descriptor(f->sh, &f->sh->dirfd);
	move_descriptor(f->sh, &f->data_fd);
	move_descriptor(f->sh, &f->lower_fd);
	move_descriptor(f->sh, &f->rec.fd);
	move_descriptor(f->sh, &unlinked->data_fd);
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(ps_merge_pwrite(f, f->data_fd, page, 10, PG + 5), 10);
	assert_int_equal(ps_merge_pwrite(unlinked, unlinked->data_fd, page, 10, 5), 10);
	assert_int_equal(lookup(fx), 0); /* through the moved shadow directory */
	assert_true(ps_record_page_is_shadowed(&fx->s.f->rec, 1));
	assert_int_equal(ps_merge_pread(fx->s.f, page, PG, 0), PG); /* lower bytes through the moved lower fd */
	assert_int_equal((uint8_t)page[0], 1);
	ps_file_put(unlinked);
}

static void test_create_restarts_a_leftover_data_file(void **state)
{
	struct fx *fx = *state;
	char junk[2 * PG], got[LOWER_SIZE], want[LOWER_SIZE], dir[PATH_MAX];
	int fd;

	/* An interrupted creation left a data file (with junk) and no record. */
	t_join(dir, fx->s.shadow, "data");
	t_mkdir(dir);
	t_join(dir, fx->s.shadow, "data/pfx");
	t_mkdir(dir);
	memset(junk, 0x77, sizeof(junk));
	t_write_file(fx->s.data, junk, sizeof(junk));
	t_sfx_create(&fx->s);
	assert_int_equal(ps_merge_pread(fx->s.f, got, sizeof(got), 0), LOWER_SIZE);
	fd = open(fx->s.lower, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, want, sizeof(want)), LOWER_SIZE);
	close(fd);
	assert_memory_equal(got, want, LOWER_SIZE);
	/* Even a page written later must not bring the junk back. */
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "x", 1, 0), 1);
	assert_int_equal(ps_merge_pread(fx->s.f, got, sizeof(got), 0), LOWER_SIZE);
	want[0] = 'x';
	assert_memory_equal(got, want, LOWER_SIZE);
}

static void test_lookup_of_corrupt_record_is_eilseq(void **state)
{
	struct fx *fx = *state;

	create_and_put(fx);
	t_patch_file(fx->s.meta, 0, "GARBAGE!", 8);
	assert_int_equal(lookup(fx), -EILSEQ);
	assert_null(fx->s.f);
}

static void test_lookup_detects_any_flipped_header_byte(void **state)
{
	struct fx *fx = *state;
	uint8_t hdr[136];
	int fd;

	create_and_put(fx);
	fd = open(fx->s.meta, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	for (size_t i = 0; i < 128; i++) {
		uint8_t flipped = hdr[i] ^ 0x10;
		int rc;

		assert_int_equal(pwrite(fd, &flipped, 1, (off_t)i), 1);
		rc = lookup(fx);
		if (rc != -EILSEQ && rc != -EPROTO)
			fail_msg("header byte %zu flipped: lookup returned %d", i, rc);
		assert_int_equal(pwrite(fd, &hdr[i], 1, (off_t)i), 1);
	}
	close(fd);
	assert_int_equal(lookup(fx), 0);
}

static void test_lookup_of_truncated_record_is_eilseq(void **state)
{
	struct fx *fx = *state;

	create_and_put(fx);
	assert_int_equal(truncate(fx->s.meta, 10), 0);
	assert_int_equal(lookup(fx), -EILSEQ);
	assert_int_equal(truncate(fx->s.meta, 0), 0);
	assert_int_equal(lookup(fx), -EILSEQ);
}

static void test_lookup_after_lower_touched_is_estale(void **state)
{
	struct fx *fx = *state;
	struct timespec times[2] = { { 1000000000, 5 }, { 1000000000, 5 } };

	create_and_put(fx);
	assert_int_equal(utimensat(AT_FDCWD, fx->s.lower, times, 0), 0);
	assert_int_equal(lookup(fx), -ESTALE);
}

static void test_lookup_after_lower_rewritten_with_new_size_is_estale(void **state)
{
	struct fx *fx = *state;
	struct timespec times[2];

	create_and_put(fx);
	/* Same inode, same mtime, one byte longer. */
	times[0] = fx->s.lst.st_atim;
	times[1] = fx->s.lst.st_mtim;
	assert_int_equal(truncate(fx->s.lower, LOWER_SIZE + 1), 0);
	assert_int_equal(utimensat(AT_FDCWD, fx->s.lower, times, 0), 0);
	assert_int_equal(lookup(fx), -ESTALE);
}

static void test_lookup_after_lower_replaced_is_estale(void **state)
{
	struct fx *fx = *state;
	char other[PATH_MAX], buf[LOWER_SIZE];
	struct timespec times[2];
	int fd;

	create_and_put(fx);
	/* A different inode with the same size and mtime. */
	t_join(other, fx->s.dir, "other");
	fd = open(fx->s.lower, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), LOWER_SIZE);
	close(fd);
	t_write_file(other, buf, sizeof(buf));
	times[0] = fx->s.lst.st_atim;
	times[1] = fx->s.lst.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, other, times, 0), 0);
	assert_int_equal(rename(other, fx->s.lower), 0);
	assert_int_equal(lookup(fx), -ESTALE);
}

static void test_lookup_after_lower_removed_is_estale(void **state)
{
	struct fx *fx = *state;

	create_and_put(fx);
	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(lookup(fx), -ESTALE);
}

static void test_lookup_of_record_without_data_file_is_eilseq(void **state)
{
	struct fx *fx = *state;

	create_and_put(fx);
	assert_int_equal(unlink(fx->s.data), 0);
	assert_int_equal(lookup(fx), -EILSEQ);
}

static void test_failed_lookups_leak_no_descriptor(void **state)
{
	struct fx *fx = *state;
	int before;

	create_and_put(fx);
	before = open_fds();
	assert_int_equal(unlink(fx->s.data), 0);
	assert_int_equal(lookup(fx), -EILSEQ);
	t_patch_file(fx->s.meta, 0, "GARBAGE!", 8);
	assert_int_equal(lookup(fx), -EILSEQ);
	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(lookup(fx), -EILSEQ);
	assert_int_equal(unlink(fx->s.meta), 0);
	assert_int_equal(lookup(fx), -ENOENT);
	assert_int_equal(open_fds(), before);
}

static void test_new_file_has_no_lower(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct stat dst;

	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0600, 1, &fx->s.f), 0);
	assert_int_equal(fx->s.f->lower_fd, -1);
	assert_int_equal(fx->s.f->rec.has_lower, 0);
	assert_int_equal(stat(fx->s.data, &dst), 0);
	assert_int_equal(dst.st_size, 0);
	assert_int_equal(dst.st_mode & 07777, 0600);
	assert_int_equal(lookup(fx), 0);
	assert_int_equal(fx->s.f->lower_fd, -1);
}

/* Make a new file of mode under umask mask: the data file's mode in *data, the merged mode returned, whether the
 * record holds it in *recorded; the file is removed again. */
static mode_t make_new_file(struct fx *fx, mode_t mode, mode_t mask, mode_t *data, int *recorded)
{
	struct ps_file_name name = t_sfx_name(&fx->s);
	mode_t old_umask = umask(mask);
	struct stat dst, merged;

	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, mode, 1, &fx->s.f), 0);
	umask(old_umask);
	assert_int_equal(stat(fx->s.data, &dst), 0);
	*data = dst.st_mode & 07777;
	assert_int_equal(lookup(fx), 0); /* what the record says on disk */
	*recorded = (ps_record_attr_flags(&fx->s.f->rec) & PS_ATTR_MODE) != 0;
	assert_int_equal(ps_merge_stat(fx->s.f, &merged), 0);
	assert_int_equal(ps_file_unlink(fx->s.f), 0);
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	return merged.st_mode;
}

/* Every process opens a data file O_RDWR: a new file made with a mode without owner read and write keeps that
 * mode in its record, and its data file gets them. A mode with them needs no record field. */
static void test_new_file_mode_without_owner_write_lives_in_the_record(void **state)
{
	struct fx *fx = *state;
	mode_t data;
	int recorded;

	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(make_new_file(fx, 0444, 022, &data, &recorded), S_IFREG | 0444);
	assert_int_equal(data, 0644);
	assert_true(recorded);
	/* the umask narrows the mode first, owner bits included: 0666 & ~0277 is 0400 */
	assert_int_equal(make_new_file(fx, 0666, 0277, &data, &recorded), S_IFREG | 0400);
	assert_int_equal(data & 0600, 0600);
	assert_true(recorded);
	assert_int_equal(make_new_file(fx, 0640, 022, &data, &recorded), S_IFREG | 0640);
	assert_int_equal(data, 0640);
	assert_false(recorded);
}

static void test_new_file_ignores_a_lower_file_appearing_later(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	char buf[8];

	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0600, 1, &fx->s.f), 0);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "abc", 3, 0), 3);
	t_write_file(fx->s.lower, "XXXXXXXX", 8);
	assert_int_equal(lookup(fx), 0);
	assert_int_equal(fx->s.f->lower_fd, -1);
	assert_int_equal(ps_merge_pread(fx->s.f, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "abc", 3);
}

static void test_unlink_removes_record_and_data(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	char buf[4];
	uint64_t gen;

	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0644, 1, &fx->s.f), 0);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "data", 4, 0), 4);
	gen = ps_shadow_generation(&fx->s.sh);
	assert_int_equal(ps_file_unlink(fx->s.f), 0);
	assert_int_equal(ps_shadow_generation(&fx->s.sh), gen + 1);
	assert_false(exists(fx->s.meta));
	assert_false(exists(fx->s.data));
	/* The unlinked file lives on while referenced... */
	assert_int_equal(ps_merge_pread(fx->s.f, buf, 4, 0), 4);
	assert_memory_equal(buf, "data", 4);
	/* ... but a lookup no longer finds it. */
	{
		struct ps_file *other = NULL;

		assert_int_equal(ps_file_lookup(&fx->s.sh, &name, &other), -ENOENT);
	}
	/* A new file of the same name is a different object. */
	{
		struct ps_file *fresh = NULL;

		assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0644, 1, &fresh), 0);
		assert_ptr_not_equal(fresh, fx->s.f);
		assert_int_equal(ps_merge_size(fresh), 0);
		ps_file_put(fresh);
	}
}

static void test_failed_create_leaves_no_record(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	char tmp[PATH_MAX];

	assert_int_equal(stat(fx->s.lower, &fx->s.lst), 0);
	t_fake_install();
	t_fake.pwrite_fail_at = 1; /* the record header */
	assert_int_equal(ps_file_create(&fx->s.sh, &name, &fx->s.lst, 0644, 0, &fx->s.f), -ENOSPC);
	t_fake_remove();
	fx->s.f = NULL;
	assert_false(exists(fx->s.meta));
	t_join(tmp, fx->s.shadow, "new-record");
	assert_false(exists(tmp));
	assert_int_equal(lookup(fx), -ENOENT);
	/* And the next attempt works. */
	t_sfx_create(&fx->s);
}

/* A file with no lower file at D/ro/file holding "moved content"; its name for a rename target in *dst. */
static struct ps_file_name new_file_and_target(struct fx *fx, char *dst_path, const char *dst_base)
{
	struct ps_file_name name = t_sfx_name(&fx->s), dst;

	assert_int_equal(unlink(fx->s.lower), 0);
	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0644, 1, &fx->s.f), 0);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "moved content", 13, 0), 13);
	t_join(dst_path, fx->s.dir, "ro");
	strcat(dst_path, "/");
	strcat(dst_path, dst_base);
	dst.path = dst_path;
	dst.enc_prefix = "pfx";
	dst.rel = dst_base;
	return dst;
}

static void expect_content(struct ps_shadow *sh, const struct ps_file_name *name, const char *want)
{
	struct ps_file *g = NULL;
	char buf[64];
	ssize_t n;

	assert_int_equal(ps_file_lookup(sh, name, &g), 0);
	n = ps_merge_pread(g, buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	ps_file_put(g);
}

static void test_rename_moves_record_and_data(void **state)
{
	struct fx *fx = *state;
	char dst_path[PATH_MAX];
	struct ps_file_name dst = new_file_and_target(fx, dst_path, "renamed");
	struct ps_file_name src = t_sfx_name(&fx->s);
	struct ps_file *g = NULL;
	uint64_t gen = ps_shadow_generation(&fx->s.sh);

	assert_int_equal(ps_file_rename(fx->s.f, &dst, 0, 0), 0);
	assert_int_equal(ps_shadow_generation(&fx->s.sh), gen + 1);
	assert_false(exists(fx->s.meta));
	assert_false(exists(fx->s.data));
	assert_int_equal(ps_file_lookup(&fx->s.sh, &src, &g), -ENOENT);
	expect_content(&fx->s.sh, &dst, "moved content");
}

static void test_rename_over_a_lower_file_hides_it(void **state)
{
	struct fx *fx = *state;
	char dst_path[PATH_MAX];
	struct ps_file_name dst = new_file_and_target(fx, dst_path, "victim");
	struct ps_file *g = NULL;

	t_write_file(dst_path, "lower bytes of the victim", 25);
	assert_int_equal(ps_file_rename(fx->s.f, &dst, 0, 0), 0);
	expect_content(&fx->s.sh, &dst, "moved content");
	assert_int_equal(ps_file_lookup(&fx->s.sh, &dst, &g), 0);
	assert_int_equal(g->lower_fd, -1);
	ps_file_put(g);
}

static void test_rename_failing_on_record_keeps_the_source(void **state)
{
	struct fx *fx = *state;
	char dst_path[PATH_MAX];
	struct ps_file_name dst = new_file_and_target(fx, dst_path, "renamed");
	struct ps_file_name src = t_sfx_name(&fx->s);
	struct ps_file *g = NULL;

	t_fake_install();
	t_fake.renameat_fail_at = 2; /* the data file moved, the record does not */
	assert_int_equal(ps_file_rename(fx->s.f, &dst, 0, 0), -EIO);
	t_fake_remove();
	/* A failed rename changes nothing: the source is whole, the target does not exist. */
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	expect_content(&fx->s.sh, &src, "moved content");
	assert_int_equal(ps_file_lookup(&fx->s.sh, &dst, &g), -ENOENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lookup_without_record_is_enoent),
		T(test_create_makes_sparse_data_file_with_lower_size_and_times),
		T(test_create_of_existing_returns_the_same_file),
		T(test_creating_a_library_record_flags_the_shadow),
		T(test_renaming_onto_a_library_name_flags_the_shadow),
		T(test_create_excl_of_existing_is_eexist),
		T(test_lookup_while_referenced_shares_the_object),
		T(test_lookup_after_last_put_reads_from_disk),
		T(test_put_closes_every_descriptor),
		T(test_kept_file_is_found_again_without_reading_its_record),
		T(test_kept_file_whose_lower_changed_is_estale),
		T(test_kept_file_another_process_removed_is_not_found),
		T(test_a_file_follows_its_descriptors_when_they_move),
	T(test_create_restarts_a_leftover_data_file),
		T(test_lookup_of_corrupt_record_is_eilseq),
		T(test_lookup_detects_any_flipped_header_byte),
		T(test_lookup_of_truncated_record_is_eilseq),
		T(test_lookup_after_lower_touched_is_estale),
		T(test_lookup_after_lower_rewritten_with_new_size_is_estale),
		T(test_lookup_after_lower_replaced_is_estale),
		T(test_lookup_after_lower_removed_is_estale),
		T(test_lookup_of_record_without_data_file_is_eilseq),
		T(test_failed_lookups_leak_no_descriptor),
		T(test_new_file_has_no_lower),
		T(test_new_file_mode_without_owner_write_lives_in_the_record),
		T(test_new_file_ignores_a_lower_file_appearing_later),
		T(test_unlink_removes_record_and_data),
		T(test_failed_create_leaves_no_record),
		T(test_rename_moves_record_and_data),
		T(test_rename_over_a_lower_file_hides_it),
		T(test_rename_failing_on_record_keeps_the_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
