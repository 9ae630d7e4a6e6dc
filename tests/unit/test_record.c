/* test_record.c - the per-file record: format and load, sizes, validation errors, lower_len, page bits,
 * sparseness on disk (record.h). Every test gets a temporary directory D with a 10000-byte lower file D/lower;
 * records are made in D/rec. */
#include "fakes.h"
#include "record.h"

#include <sys/mman.h>

#define LOWER_SIZE 10000
#define MiB (1024ull * 1024ull)

struct fx {
	char dir[PATH_MAX];
	char lower[PATH_MAX];
	char recpath[PATH_MAX];
	struct stat lst;
	struct ps_record rec;
	int loaded;
	char why[256];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char buf[LOWER_SIZE];

	if (!fx)
		return -1;
	t_mkdtemp(fx->dir);
	t_join(fx->lower, fx->dir, "lower");
	t_join(fx->recpath, fx->dir, "rec");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	t_write_file(fx->lower, buf, sizeof(buf));
	assert_int_equal(stat(fx->lower, &fx->lst), 0);
	fx->rec.fd = -1;
	t_quiet_log();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->loaded)
		ps_record_release(&fx->rec);
	t_rm_rf(fx->dir);
	free(fx);
	return 0;
}

/* A fresh record for lower (NULL: no lower) in D/rec; returns its fd (still open). */
static int make_record(struct fx *fx, const struct stat *lower)
{
	int fd;

	unlink(fx->recpath);
	fd = open(fx->recpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ps_record_format(fd, lower), 0);
	return fd;
}

/* Load D/rec against lower; on success the record is kept in fx->rec (released by the teardown). */
static int load(struct fx *fx, const struct stat *lower)
{
	int fd = open(fx->recpath, O_RDWR | O_CLOEXEC);
	int rc;

	assert_true(fd >= 0);
	if (fx->loaded) {
		ps_record_release(&fx->rec);
		fx->loaded = 0;
	}
	rc = ps_record_load(&fx->rec, fd, lower, "D/rec");
	if (rc == 0)
		fx->loaded = 1;
	else
		close(fd);
	return rc;
}

static void read_header(struct fx *fx, struct ps_record_disk *hdr)
{
	int fd = open(fx->recpath, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, sizeof(*hdr), 0), (ssize_t)sizeof(*hdr));
	close(fd);
}

static void write_header(struct fx *fx, const struct ps_record_disk *hdr)
{
	t_patch_file(fx->recpath, 0, hdr, sizeof(*hdr));
}

static void reseal(struct ps_record_disk *hdr)
{
	hdr->crc = ps_crc32c(hdr, offsetof(struct ps_record_disk, crc));
}

static uint64_t file_size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void test_crc32c_matches_the_standard_check_value(void **state)
{
	(void)state;
	assert_int_equal(ps_crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(ps_crc32c("", 0), 0);
}

static void test_format_then_load_round_trips(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	assert_memory_equal(hdr.magic, PS_RECORD_MAGIC, 8);
	assert_int_equal(hdr.version, PS_RECORD_VERSION);
	assert_int_equal(hdr.header_size, 4096);
	assert_int_equal(hdr.page_size, 4096);
	assert_int_equal(hdr.flags, PS_REC_HAS_LOWER);
	assert_int_equal(hdr.lower_ino, fx->lst.st_ino);
	assert_int_equal(hdr.lower_dev, fx->lst.st_dev);
	assert_int_equal(hdr.lower_size, LOWER_SIZE);
	assert_int_equal(hdr.lower_mtime_sec, fx->lst.st_mtim.tv_sec);
	assert_int_equal(hdr.lower_mtime_nsec, fx->lst.st_mtim.tv_nsec);
	assert_int_equal(hdr.lower_mode, fx->lst.st_mode);
	assert_int_equal(hdr.bitmap_bits, 3);
	assert_int_equal(hdr.lower_len, LOWER_SIZE);
	assert_int_equal(hdr.crc, ps_crc32c(&hdr, 124));
	for (size_t i = 0; i < sizeof(hdr.reserved); i++)
		assert_int_equal(hdr.reserved[i], 0);

	assert_int_equal(load(fx, &fx->lst), 0);
	assert_int_equal(fx->rec.nbits, 3);
	assert_int_equal(fx->rec.has_lower, 1);
	assert_int_equal(fx->rec.map_len, 8192);
	assert_int_equal(ps_record_lower_len(&fx->rec), LOWER_SIZE);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 0);
	for (uint64_t pg = 0; pg < 3; pg++)
		assert_false(ps_record_page_is_shadowed(&fx->rec, pg));
}

static void test_format_without_lower_is_header_only(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, NULL);

	close(fd);
	assert_int_equal(file_size_of(fx->recpath), 4096);
	assert_int_equal(load(fx, NULL), 0);
	assert_int_equal(fx->rec.has_lower, 0);
	assert_int_equal(fx->rec.nbits, 0);
	assert_int_equal(ps_record_lower_len(&fx->rec), 0);
	assert_false(ps_record_page_is_shadowed(&fx->rec, 0));
}

static void test_record_without_lower_ignores_an_existing_lower(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, NULL);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	assert_int_equal(fx->rec.has_lower, 0);
}

static void test_file_size_is_header_plus_whole_bitmap_pages(void **state)
{
	(void)state;
	assert_int_equal(ps_record_file_size(0), 4096);
	assert_int_equal(ps_record_file_size(1), 8192);
	assert_int_equal(ps_record_file_size(4096), 8192);
	assert_int_equal(ps_record_file_size(4097), 8192);
	/* One bitmap page holds 32768 bits: 128 MiB of lower file. */
	assert_int_equal(ps_record_file_size(128 * MiB), 8192);
	assert_int_equal(ps_record_file_size(128 * MiB + 1), 12288);
	/* 256 MiB = 65536 pages = 8 KiB of bitmap = two bitmap pages after the header. */
	assert_int_equal(ps_record_file_size(256 * MiB), 12288);
}

static void test_formatted_file_has_the_computed_size(void **state)
{
	struct fx *fx = *state;
	static const uint64_t sizes[] = { 0, 1, 4096, 4097, 256 * MiB };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct stat st = fx->lst;
		int fd;

		st.st_size = (off_t)sizes[i];
		fd = make_record(fx, &st);
		close(fd);
		assert_int_equal(file_size_of(fx->recpath), ps_record_file_size(sizes[i]));
		assert_int_equal(load(fx, &st), 0);
		assert_int_equal(fx->rec.nbits, (sizes[i] + 4095) / 4096);
	}
}

static void test_fresh_record_for_256mib_lower_is_sparse(void **state)
{
	struct fx *fx = *state;
	struct stat big = fx->lst, st;
	int fd;

	if (!t_fs_reports_holes(fx->dir))
		skip(); /* the file system does not keep sparse files sparse */
	big.st_size = (off_t)(256 * MiB);
	fd = make_record(fx, &big);
	close(fd);
	assert_int_equal(stat(fx->recpath, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= 8192);

	assert_int_equal(load(fx, &big), 0);
	ps_record_mark_page(&fx->rec, 65535);
	assert_int_equal(ps_record_sync(&fx->rec), 0);
	assert_int_equal(stat(fx->recpath, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 <= 8192);
	assert_true(ps_record_page_is_shadowed(&fx->rec, 65535));
}

static void test_bad_magic_is_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	hdr.magic[0] = 'X';
	reseal(&hdr);
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &fx->lst, fx->why, sizeof(fx->why)), -EILSEQ);
	assert_string_equal(fx->why, "not a pageshadow record (bad magic or truncated)");
}

static void test_truncated_record_is_eilseq(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	assert_int_equal(ftruncate(fd, 100), 0);
	close(fd);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(truncate(fx->recpath, 0), 0);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
}

static void test_flipped_identity_byte_fails_crc_with_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	((uint8_t *)&hdr)[offsetof(struct ps_record_disk, lower_ino)] ^= 0x01;
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &fx->lst, fx->why, sizeof(fx->why)), -EILSEQ);
	assert_string_equal(fx->why, "record header checksum mismatch");
}

static void test_flipped_reserved_byte_fails_crc_with_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	hdr.reserved[51] = 1;
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
}

static void test_unknown_version_is_eproto(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	hdr.version = 2;
	reseal(&hdr);
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EPROTO);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &fx->lst, fx->why, sizeof(fx->why)), -EPROTO);
	assert_string_equal(fx->why, "record format version 2, this build reads version 1");
}

static void test_wrong_file_size_is_eilseq(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	assert_int_equal(ftruncate(fd, 12288), 0);
	close(fd);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(truncate(fx->recpath, 4096), 0);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(truncate(fx->recpath, 8192), 0);
	assert_int_equal(load(fx, &fx->lst), 0);
}

static void test_inconsistent_bitmap_bits_is_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	hdr.bitmap_bits = 1u << 20; /* would reach far past the mapping */
	reseal(&hdr);
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &fx->lst, fx->why, sizeof(fx->why)), -EILSEQ);
	assert_non_null(strstr(fx->why, "record sizes inconsistent"));
}

static void test_lower_len_past_lower_size_is_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	hdr.lower_len = LOWER_SIZE + 1; /* outside the CRC: checked on its own */
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
}

/* The engine prints the origin as a string: one that does not end where origin_len says is refused. */
static void test_origin_not_ending_at_its_length_is_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	read_header(fx, &hdr);
	memset(hdr.origin, 'a', sizeof(hdr.origin)); /* no NUL anywhere */
	hdr.origin_len = 5;
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	hdr.origin[5] = '\0';
	hdr.origin[2] = '\0'; /* shorter than it says */
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
	hdr.origin[2] = 'a';
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), 0);
	hdr.origin_len = PS_RECORD_ORIGIN_MAX + 1;
	write_header(fx, &hdr);
	assert_int_equal(load(fx, &fx->lst), -EILSEQ);
}

static void test_changed_lower_inode_is_estale(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	struct stat moved = fx->lst;
	char want[160];
	int fd = make_record(fx, &fx->lst);

	close(fd);
	moved.st_ino++;
	assert_int_equal(load(fx, &moved), -ESTALE);
	read_header(fx, &hdr);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &moved, fx->why, sizeof(fx->why)), -ESTALE);
	snprintf(want, sizeof(want), "lower file replaced (inode %llu, recorded %llu)",
		 (unsigned long long)moved.st_ino, (unsigned long long)fx->lst.st_ino);
	assert_string_equal(fx->why, want);
}

static void test_changed_lower_size_is_estale(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	struct stat grown = fx->lst;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	grown.st_size = LOWER_SIZE + 1;
	assert_int_equal(load(fx, &grown), -ESTALE);
	read_header(fx, &hdr);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &grown, fx->why, sizeof(fx->why)), -ESTALE);
	assert_string_equal(fx->why, "lower file size changed (10001 bytes, recorded 10000)");
}

static void test_changed_lower_mtime_nsec_is_estale(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	struct stat touched = fx->lst;
	char want[160];
	int fd = make_record(fx, &fx->lst);

	close(fd);
	touched.st_mtim.tv_nsec = (touched.st_mtim.tv_nsec + 1) % 1000000000;
	assert_int_equal(load(fx, &touched), -ESTALE);
	read_header(fx, &hdr);
	assert_int_equal(ps_record_check_header(&hdr, 8192, &touched, fx->why, sizeof(fx->why)), -ESTALE);
	snprintf(want, sizeof(want), "lower file modified (mtime %lld.%09ld, recorded %lld.%09ld)",
		 (long long)touched.st_mtim.tv_sec, (long)touched.st_mtim.tv_nsec,
		 (long long)fx->lst.st_mtim.tv_sec, (long)fx->lst.st_mtim.tv_nsec);
	assert_string_equal(fx->why, want);
}

static void test_changed_lower_mtime_sec_is_estale(void **state)
{
	struct fx *fx = *state;
	struct stat touched = fx->lst;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	touched.st_mtim.tv_sec -= 1;
	assert_int_equal(load(fx, &touched), -ESTALE);
}

static void test_changed_st_dev_alone_is_accepted(void **state)
{
	struct fx *fx = *state;
	struct stat remounted = fx->lst;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	remounted.st_dev += 17;
	assert_int_equal(load(fx, &remounted), 0);
}

static void test_changed_mode_alone_is_accepted(void **state)
{
	struct fx *fx = *state;
	struct stat chmodded = fx->lst;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	chmodded.st_mode ^= 0222;
	assert_int_equal(load(fx, &chmodded), 0);
}

static void test_gone_lower_is_estale(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, NULL), -ESTALE);
	read_header(fx, &hdr);
	assert_int_equal(ps_record_check_header(&hdr, 8192, NULL, fx->why, sizeof(fx->why)), -ESTALE);
	assert_string_equal(fx->why, "lower file is gone");
}

static void test_rebase_takes_the_new_identity_and_keeps_bitmap_and_lower_len(void **state)
{
	struct fx *fx = *state;
	struct stat replaced = fx->lst;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	ps_record_mark_page(&fx->rec, 1);
	ps_record_shrink_lower_len(&fx->rec, 9000);
	replaced.st_ino += 5;
	replaced.st_mtim.tv_sec += 60;
	assert_int_equal(load(fx, &replaced), -ESTALE);
	fd = open(fx->recpath, O_RDWR | O_CLOEXEC);
	assert_int_equal(ps_record_file_rebase(fd, &replaced, fx->why, sizeof(fx->why)), 0);
	assert_int_equal(ps_record_file_rebase(fd, &replaced, fx->why, sizeof(fx->why)), 0); /* current: no change */
	close(fd);
	assert_int_equal(load(fx, &replaced), 0);
	assert_true(ps_record_page_is_shadowed(&fx->rec, 1));
	assert_false(ps_record_page_is_shadowed(&fx->rec, 0));
	assert_int_equal(ps_record_lower_len(&fx->rec), 9000);
	assert_int_equal(load(fx, &fx->lst), -ESTALE); /* the old identity is gone */
}

static void test_rebase_refuses_a_changed_size_and_a_file_without_lower(void **state)
{
	struct fx *fx = *state;
	struct stat grown = fx->lst;
	int fd = make_record(fx, &fx->lst);

	grown.st_size += 4096;
	assert_int_equal(ps_record_file_rebase(fd, &grown, fx->why, sizeof(fx->why)), -EFBIG);
	assert_string_equal(fx->why, "the lower file's size changed (14096 bytes, recorded 10000)");
	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0); /* untouched */
	fd = make_record(fx, NULL);
	assert_int_equal(ps_record_file_rebase(fd, &fx->lst, fx->why, sizeof(fx->why)), -EINVAL);
	close(fd);
}

static void test_lower_len_shrink_only_decreases(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	ps_record_shrink_lower_len(&fx->rec, 5000);
	assert_int_equal(ps_record_lower_len(&fx->rec), 5000);
	ps_record_shrink_lower_len(&fx->rec, 9000);
	assert_int_equal(ps_record_lower_len(&fx->rec), 5000);
	ps_record_shrink_lower_len(&fx->rec, 5000);
	assert_int_equal(ps_record_lower_len(&fx->rec), 5000);
	ps_record_shrink_lower_len(&fx->rec, 0);
	assert_int_equal(ps_record_lower_len(&fx->rec), 0);
	ps_record_shrink_lower_len(&fx->rec, LOWER_SIZE);
	assert_int_equal(ps_record_lower_len(&fx->rec), 0);
}

static void test_lower_len_persists_in_the_file(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	ps_record_shrink_lower_len(&fx->rec, 4321);
	read_header(fx, &hdr); /* MAP_SHARED: visible through the file at once */
	assert_int_equal(hdr.lower_len, 4321);
	assert_int_equal(load(fx, &fx->lst), 0);
	assert_int_equal(ps_record_lower_len(&fx->rec), 4321);
}

static void test_mark_and_test_pages(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	ps_record_mark_page(&fx->rec, 0);
	ps_record_mark_page(&fx->rec, 2);
	ps_record_mark_page(&fx->rec, 2);
	assert_true(ps_record_page_is_shadowed(&fx->rec, 0));
	assert_false(ps_record_page_is_shadowed(&fx->rec, 1));
	assert_true(ps_record_page_is_shadowed(&fx->rec, 2));
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 2);
	/* The bits live in the file: a second load sees them. */
	assert_int_equal(load(fx, &fx->lst), 0);
	assert_true(ps_record_page_is_shadowed(&fx->rec, 0));
	assert_false(ps_record_page_is_shadowed(&fx->rec, 1));
	assert_true(ps_record_page_is_shadowed(&fx->rec, 2));
}

static void test_pages_at_or_past_nbits_are_ignored(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	ps_record_mark_page(&fx->rec, 3);
	ps_record_mark_page(&fx->rec, 7);
	ps_record_mark_page(&fx->rec, 1u << 20);
	assert_false(ps_record_page_is_shadowed(&fx->rec, 3));
	assert_false(ps_record_page_is_shadowed(&fx->rec, 7));
	assert_false(ps_record_page_is_shadowed(&fx->rec, 1u << 20));
	assert_int_equal(fx->rec.bitmap[0], 0);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 0);
}

static void test_shadowed_pages_counts_only_below_lower_len(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	for (uint64_t pg = 0; pg < 3; pg++)
		ps_record_mark_page(&fx->rec, pg);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 3);
	ps_record_shrink_lower_len(&fx->rec, 4097);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 2);
	ps_record_shrink_lower_len(&fx->rec, 4096);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 1);
	ps_record_shrink_lower_len(&fx->rec, 0);
	assert_int_equal(ps_record_shadowed_pages(&fx->rec), 0);
}

static void test_release_closes_and_unmaps(void **state)
{
	struct fx *fx = *state;
	int fd = make_record(fx, &fx->lst);
	int rfd;

	close(fd);
	assert_int_equal(load(fx, &fx->lst), 0);
	rfd = fx->rec.fd;
	assert_int_equal(ps_record_sync(&fx->rec), 0);
	ps_record_release(&fx->rec);
	fx->loaded = 0;
	assert_int_equal(fx->rec.fd, -1);
	assert_null(fx->rec.hdr);
	assert_int_equal(fcntl(rfd, F_GETFD), -1);
	/* A second release is harmless. */
	ps_record_release(&fx->rec);
}

/* peek: what ps_record_peek says of D/rec. */
static int peek(struct fx *fx, struct ps_record_disk *hdr)
{
	int fd = open(fx->recpath, O_RDONLY | O_CLOEXEC);
	int rc;

	assert_true(fd >= 0);
	rc = ps_record_peek(fd, hdr);
	close(fd);
	return rc;
}

static void test_peek_tells_a_file_without_lower_from_one_with(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;

	close(make_record(fx, NULL));
	assert_int_equal(peek(fx, &hdr), 0);
	assert_int_equal(hdr.flags & PS_REC_HAS_LOWER, 0);
	close(make_record(fx, &fx->lst));
	assert_int_equal(peek(fx, &hdr), 1);
}

static void test_peek_of_a_corrupt_or_truncated_header_is_eilseq(void **state)
{
	struct fx *fx = *state;
	struct ps_record_disk hdr;

	close(make_record(fx, NULL));
	read_header(fx, &hdr);
	hdr.lower_ino ^= 1; /* covered by the CRC, not resealed */
	write_header(fx, &hdr);
	assert_int_equal(peek(fx, &hdr), -EILSEQ);
	assert_int_equal(truncate(fx->recpath, 100), 0);
	assert_int_equal(peek(fx, &hdr), -EILSEQ);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_matches_the_standard_check_value),
		T(test_format_then_load_round_trips),
		T(test_rebase_takes_the_new_identity_and_keeps_bitmap_and_lower_len),
		T(test_rebase_refuses_a_changed_size_and_a_file_without_lower),
		T(test_format_without_lower_is_header_only),
		T(test_record_without_lower_ignores_an_existing_lower),
		cmocka_unit_test(test_file_size_is_header_plus_whole_bitmap_pages),
		T(test_formatted_file_has_the_computed_size),
		T(test_fresh_record_for_256mib_lower_is_sparse),
		T(test_bad_magic_is_eilseq),
		T(test_truncated_record_is_eilseq),
		T(test_flipped_identity_byte_fails_crc_with_eilseq),
		T(test_flipped_reserved_byte_fails_crc_with_eilseq),
		T(test_unknown_version_is_eproto),
		T(test_wrong_file_size_is_eilseq),
		T(test_inconsistent_bitmap_bits_is_eilseq),
		T(test_lower_len_past_lower_size_is_eilseq),
		T(test_origin_not_ending_at_its_length_is_eilseq),
		T(test_changed_lower_inode_is_estale),
		T(test_changed_lower_size_is_estale),
		T(test_changed_lower_mtime_nsec_is_estale),
		T(test_changed_lower_mtime_sec_is_estale),
		T(test_changed_st_dev_alone_is_accepted),
		T(test_changed_mode_alone_is_accepted),
		T(test_gone_lower_is_estale),
		T(test_lower_len_shrink_only_decreases),
		T(test_lower_len_persists_in_the_file),
		T(test_mark_and_test_pages),
		T(test_pages_at_or_past_nbits_are_ignored),
		T(test_shadowed_pages_counts_only_below_lower_len),
		T(test_release_closes_and_unmaps),
		T(test_peek_tells_a_file_without_lower_from_one_with),
		T(test_peek_of_a_corrupt_or_truncated_header_is_eilseq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
