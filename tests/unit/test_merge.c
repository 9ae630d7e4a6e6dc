/* test_merge.c - the page merge against a model (merge.h).
 *
 * Every test builds real files: a lower file D/ro/file with a known pattern, a shadow D/shadow and the file's
 * record (fakes.h, struct t_sfx). A plain buffer, the model, holds what a real file would contain; each
 * operation is applied to the model and through the engine, and check() compares the size and every byte,
 * read whole and in page-sized and odd-sized pieces (so both the fast path and the mixed path are used).
 */
#include "fakes.h"
#include "merge.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096u
#define MODEL_MAX (1024u * 1024u)

struct fx {
	struct t_sfx s;
	uint8_t *model;
	size_t len;
	uint8_t *got;
	uint8_t *buf;
	char ctx[160]; /* the operation being checked, for failure messages */
	int op;        /* the random test's operation number, -1 elsewhere */
};

/* The context for a failure message: the operation, and its number in the random test. */
static const char *where(const struct fx *fx)
{
	static char buf[200];

	if (fx->op < 0)
		return fx->ctx;
	snprintf(buf, sizeof(buf), "op %d, %s", fx->op, fx->ctx);
	return buf;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->model = calloc(1, MODEL_MAX);
	fx->got = calloc(1, MODEL_MAX + PG);
	fx->buf = calloc(1, MODEL_MAX);
	if (!fx->model || !fx->got || !fx->buf)
		return -1;
	fx->op = -1;
	t_quiet_log();
	t_sfx_init(&fx->s);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	t_fake_remove();
	t_sfx_release(&fx->s);
	free(fx->model);
	free(fx->got);
	free(fx->buf);
	free(fx);
	return 0;
}

/* ---- the lower file and the model ---- */

static uint8_t lower_byte(uint64_t off)
{
	return (uint8_t)((off % PG) * 7 + off / PG + 1);
}

/* Write a lower file of size bytes with the pattern (pages listed in zero_pages, -1 terminated, are all zero),
 * give it a record and start the model from it. */
static void lower_with_zero_pages(struct fx *fx, size_t size, const int *zero_pages)
{
	for (size_t i = 0; i < size; i++)
		fx->model[i] = lower_byte(i);
	for (; zero_pages && *zero_pages >= 0; zero_pages++)
		memset(fx->model + (size_t)*zero_pages * PG, 0, PG);
	fx->len = size;
	t_write_file(fx->s.lower, fx->model, size);
	t_sfx_create(&fx->s);
}

static void lower(struct fx *fx, size_t size)
{
	lower_with_zero_pages(fx, size, NULL);
}

/* Compare n bytes and name the first difference. */
static void same_bytes(const struct fx *fx, const uint8_t *got, const uint8_t *want, size_t n, uint64_t base)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s: byte %llu is 0x%02x, want 0x%02x", where(fx), (unsigned long long)(base + i),
				 got[i], want[i]);
}

static void read_range(struct fx *fx, uint64_t off, size_t n)
{
	size_t want = off >= fx->len ? 0 : (fx->len - off < n ? fx->len - off : n);
	ssize_t r = ps_merge_pread(fx->s.f, fx->got, n, (off_t)off);

	if (r != (ssize_t)want)
		fail_msg("%s: pread(%zu @ %llu) returned %zd, want %zu", where(fx), n, (unsigned long long)off, r,
			 want);
	same_bytes(fx, fx->got, fx->model + off, want, off);
}

/* The size and every byte, read whole (and one byte past the end). */
static void check_quick(struct fx *fx)
{
	off_t size = ps_merge_size(fx->s.f);

	if (size != (off_t)fx->len)
		fail_msg("%s: size %lld, want %zu", where(fx), (long long)size, fx->len);
	read_range(fx, 0, fx->len + 1);
}

/* check_quick plus reads in pieces: whole pages, odd sizes, and single bytes around page edges. */
static void check(struct fx *fx)
{
	static const size_t pieces[] = { PG, 1000, 3 * PG + 17 };

	check_quick(fx);
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++)
		for (uint64_t off = 0; off < fx->len; off += pieces[p])
			read_range(fx, off, pieces[p]);
	for (uint64_t off = PG; off <= fx->len + PG; off += PG) {
		read_range(fx, off - 1, 2);
		read_range(fx, off - 1, 1);
	}
	read_range(fx, fx->len, 10);
}

/* ---- operations on the model and the engine together ---- */

static void grow_model(struct fx *fx, uint64_t end)
{
	assert_true(end <= MODEL_MAX);
	if (end > fx->len) {
		memset(fx->model + fx->len, 0, end - fx->len);
		fx->len = end;
	}
}

static void do_write_bytes(struct fx *fx, uint64_t off, const uint8_t *data, size_t n)
{
	ssize_t w;

	snprintf(fx->ctx, sizeof(fx->ctx), "after pwrite(%zu @ %llu)", n, (unsigned long long)off);
	grow_model(fx, off + n);
	memcpy(fx->model + off, data, n);
	w = ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, data, n, (off_t)off);
	if (w != (ssize_t)n)
		fail_msg("%s: returned %zd", where(fx), w);
}

static void do_write(struct fx *fx, uint64_t off, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		fx->buf[i] = (uint8_t)(seed * 31 + i * 11 + 0x80);
	do_write_bytes(fx, off, fx->buf, n);
}

static void do_truncate(struct fx *fx, uint64_t len)
{
	snprintf(fx->ctx, sizeof(fx->ctx), "after truncate(%llu)", (unsigned long long)len);
	if (len < fx->len)
		fx->len = len;
	else
		grow_model(fx, len);
	assert_int_equal(ps_merge_truncate(fx->s.f, (off_t)len), 0);
}

/* fallocate as a real file does it: PUNCH_HOLE (always with KEEP_SIZE) and ZERO_RANGE zero the bytes inside the
 * file; without KEEP_SIZE the file grows to off+len. */
static void do_fallocate(struct fx *fx, int mode, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	int rc;

	snprintf(fx->ctx, sizeof(fx->ctx), "after fallocate(0x%x, %llu, %llu)", mode, (unsigned long long)off,
		 (unsigned long long)len);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t zend = end < fx->len ? end : fx->len;

		if (off < zend)
			memset(fx->model + off, 0, zend - off);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE))
		grow_model(fx, end);
	rc = ps_merge_fallocate(fx->s.f, mode, (off_t)off, (off_t)len);
	if (rc != 0)
		fail_msg("%s: returned %d", where(fx), rc);
}

static int shadowed(struct fx *fx, uint64_t page)
{
	return ps_record_page_is_shadowed(&fx->s.f->rec, page);
}

static uint64_t lower_len(struct fx *fx)
{
	return ps_record_lower_len(&fx->s.f->rec);
}

/* ---- reads and plain writes ---- */

static void test_untouched_file_reads_as_lower(void **state)
{
	struct fx *fx = *state;

	lower(fx, 5 * PG + 123);
	snprintf(fx->ctx, sizeof(fx->ctx), "untouched");
	check(fx);
	assert_int_equal(lower_len(fx), 5 * PG + 123);
	for (uint64_t pg = 0; pg < 6; pg++)
		assert_false(shadowed(fx, pg));
}

static void test_read_at_or_past_end_returns_zero(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG);
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 10, 2 * PG), 0);
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 10, 100 * PG), 0);
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 0, 0), 0);
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 10, -1), -EINVAL);
}

static void test_write_first_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_write(fx, 10, 100, 1);
	check(fx);
	assert_true(shadowed(fx, 0));
	assert_false(shadowed(fx, 1));
}

static void test_write_whole_last_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_write(fx, 3 * PG, PG, 2);
	check(fx);
	assert_true(shadowed(fx, 3));
	assert_false(shadowed(fx, 2));
}

static void test_write_into_partial_last_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG + 100);
	do_write(fx, 3 * PG + 10, 50, 3);
	check(fx);
	assert_true(shadowed(fx, 3));
	/* And across the end of the lower file: the file grows. */
	do_write(fx, 3 * PG + 90, 200, 4);
	check(fx);
	assert_int_equal(fx->len, 3 * PG + 290);
}

static void test_write_spanning_pages_copies_up_each_covered_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 6 * PG);
	do_write(fx, PG - 96, 2 * PG + 200, 5); /* pages 0, 1, 2 and 3 */
	check(fx);
	assert_true(shadowed(fx, 0));
	assert_true(shadowed(fx, 1));
	assert_true(shadowed(fx, 2));
	assert_true(shadowed(fx, 3));
	assert_false(shadowed(fx, 4));
	assert_false(shadowed(fx, 5));
}

static void test_write_ending_on_page_boundary_does_not_touch_next_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_write(fx, PG / 2, PG / 2, 6);
	check(fx);
	assert_true(shadowed(fx, 0));
	assert_false(shadowed(fx, 1));
}

static void test_append_past_the_end_leaves_zero_gap(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG + 300);
	do_write(fx, fx->len + 5000, 777, 7);
	check(fx);
	/* Appending needs no copy-up. */
	for (uint64_t pg = 0; pg < 3; pg++)
		assert_false(shadowed(fx, pg));
	assert_int_equal(lower_len(fx), 2 * PG + 300);
	do_write(fx, fx->len, 10, 8);
	check(fx);
}

static void test_write_of_zero_page_is_shadowed_zeros(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	memset(fx->buf, 0, PG);
	do_write_bytes(fx, PG, fx->buf, PG);
	check(fx);
	assert_true(shadowed(fx, 1));
}

static void test_untouched_zero_lower_page_reads_lower_and_stays_a_hole(void **state)
{
	struct fx *fx = *state;
	static const int zero[] = { 1, -1 };

	lower_with_zero_pages(fx, 3 * PG, zero);
	t_fake_install();
	t_fake.watch_lo = PG;
	t_fake.watch_hi = 2 * PG;
	do_write(fx, 100, 10, 9);
	do_write(fx, 2 * PG + 100, 10, 10);
	check(fx);
	assert_false(shadowed(fx, 1));
	/* Page 1 was never copied: nothing was written into it. */
	assert_true(t_fake.pwrite_calls > 0);
	assert_int_equal(t_fake.watch_hits, 0);
	t_fake_remove();
}

static void test_mixed_read_combines_lower_and_data(void **state)
{
	struct fx *fx = *state;

	lower(fx, 8 * PG + 5);
	do_write(fx, PG + 7, 3, 11);
	do_write(fx, 4 * PG, PG, 12);
	do_write(fx, 6 * PG + 4000, 200, 13); /* pages 6 and 7 */
	check(fx);
	snprintf(fx->ctx, sizeof(fx->ctx), "mixed reads");
	read_range(fx, PG - 1, 5 * PG);
	read_range(fx, 3, 8 * PG);
	read_range(fx, 5 * PG + 1, 3 * PG + 100);
}

static void test_fast_path_reads_only_the_lower_file(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_write(fx, 2 * PG + 5, 5, 14);
	/* With the data file unreadable, a range with no shadowed page still reads... */
	t_fake_install();
	t_fake.pread_fail_fd = fx->s.f->data_fd;
	snprintf(fx->ctx, sizeof(fx->ctx), "fast path");
	read_range(fx, 0, 2 * PG);
	read_range(fx, 3 * PG + 1, PG - 1);
	/* ... and one that touches a shadowed page has to read the data file: the run before it comes back, then the
	 * read stops short at the failing run, as a real file's read does. */
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 3 * PG, PG), PG);
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 2 * PG, 2 * PG), -EIO);
	t_fake_remove();
	check(fx);
}

/* ---- truncation and lower_len ---- */

static void test_shrink_then_grow_reads_zeros(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_truncate(fx, PG + 1000);
	check(fx);
	assert_int_equal(lower_len(fx), PG + 1000);
	do_truncate(fx, 4 * PG);
	check(fx);
	do_truncate(fx, 6 * PG + 3);
	check(fx);
	assert_int_equal(lower_len(fx), PG + 1000);
}

static void test_shrink_to_zero_then_grow_reads_zeros(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_truncate(fx, 0);
	check(fx);
	do_truncate(fx, 2 * PG);
	check(fx);
	do_write(fx, 100, 10, 15);
	check(fx);
	assert_false(shadowed(fx, 0));
}

static void test_write_into_straddling_page_after_shrink_keeps_cut_bytes_gone(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_truncate(fx, PG + 904); /* page 1 straddles lower_len */
	do_write(fx, PG + 404, 10, 16);
	check(fx);
	assert_true(shadowed(fx, 1));
	do_truncate(fx, 3 * PG);
	check(fx); /* [PG+904, 2PG) must read zeros, not the lower bytes */
}

static void test_write_into_straddling_page_after_regrow_keeps_zeros(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_truncate(fx, PG + 904);
	do_truncate(fx, 3 * PG);
	do_write(fx, PG + 100, 10, 17); /* copy-up of page 1 after the regrow */
	check(fx);
	do_write(fx, PG + 2000, 10, 18); /* past lower_len, in a page the data file holds by now */
	check(fx);
}

static void test_write_across_lower_len_after_shrink(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_truncate(fx, 2 * PG + 50);
	do_write(fx, 2 * PG, PG + 500, 19); /* from below lower_len to past the end */
	check(fx);
	do_truncate(fx, 5 * PG);
	check(fx);
}

static void test_append_then_write_below_lower_len_keeps_appended_bytes(void **state)
{
	struct fx *fx = *state;

	lower(fx, PG + 1000);
	do_write(fx, PG + 1000, 500, 20); /* append inside the straddling page */
	do_write(fx, PG + 10, 20, 21);    /* copy-up must not overwrite the appended bytes */
	check(fx);
}

static void test_append_inside_last_lower_page_copies_it_up(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG + 1000);
	do_write(fx, 2 * PG + 1000, 10, 22); /* the page holds lower bytes: it becomes wholly the data file's */
	check(fx);
	assert_true(shadowed(fx, 2));
	assert_false(shadowed(fx, 1));
	assert_int_equal(lower_len(fx), 2 * PG + 1000);
}

static void test_truncate_inside_a_lower_page_copies_it_up(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_truncate(fx, PG + 1000);
	check(fx);
	assert_true(shadowed(fx, 1));
	assert_false(shadowed(fx, 0));
	do_truncate(fx, PG); /* on a page boundary: nothing to copy */
	check(fx);
	assert_false(shadowed(fx, 0));
}

static void test_backing_gen_counts_copy_ups_and_cuts(void **state)
{
	struct fx *fx = *state;
	uint64_t gen;

	lower(fx, 4 * PG);
	gen = ps_record_backing_gen(&fx->s.f->rec);
	do_write(fx, 5 * PG, 10, 23); /* past the lower bytes: no page changes hands */
	assert_int_equal(ps_record_backing_gen(&fx->s.f->rec), gen);
	do_write(fx, PG, 10, 24);
	assert_true(ps_record_backing_gen(&fx->s.f->rec) > gen);
	gen = ps_record_backing_gen(&fx->s.f->rec);
	do_truncate(fx, 3 * PG);
	assert_true(ps_record_backing_gen(&fx->s.f->rec) > gen);
	gen = ps_record_backing_gen(&fx->s.f->rec);
	do_write(fx, PG, 10, 25); /* already the data file's */
	assert_int_equal(ps_record_backing_gen(&fx->s.f->rec), gen);
	check(fx);
}

static void test_truncate_to_same_size_changes_nothing(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG + 7);
	do_truncate(fx, 2 * PG + 7);
	check(fx);
	assert_int_equal(lower_len(fx), 2 * PG + 7);
	assert_int_equal(ps_merge_truncate(fx->s.f, -1), -EINVAL);
}

static void test_lower_len_never_grows_back(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_truncate(fx, 3 * PG);
	do_truncate(fx, 10 * PG);
	do_truncate(fx, 2 * PG);
	do_truncate(fx, 3 * PG);
	assert_int_equal(lower_len(fx), 2 * PG);
	check(fx);
}

/* ---- fallocate ---- */

static void test_punch_hole_on_partial_and_full_pages(void **state)
{
	struct fx *fx = *state;

	lower(fx, 5 * PG + 123);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 2 * PG + 500);
	check(fx);
	assert_true(shadowed(fx, 0));  /* partial: copied up, then punched */
	assert_true(shadowed(fx, 1));  /* full: marked as shadowed zeros */
	assert_true(shadowed(fx, 2));  /* partial */
	assert_false(shadowed(fx, 3));
	assert_int_equal(fx->len, 5 * PG + 123);
}

static void test_punch_hole_inside_one_page(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG + 100, 200);
	check(fx);
	assert_true(shadowed(fx, 1));
	assert_false(shadowed(fx, 0));
	assert_false(shadowed(fx, 2));
}

static void test_punch_hole_on_aligned_full_pages(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG, 2 * PG);
	check(fx);
	assert_false(shadowed(fx, 0));
	assert_true(shadowed(fx, 1));
	assert_true(shadowed(fx, 2));
	assert_false(shadowed(fx, 3));
}

static void test_punch_hole_past_end_keeps_size(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG + 500);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG + 3000, 10 * PG);
	check(fx);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20 * PG, PG);
	check(fx);
}

static void test_punch_hole_past_lower_len_touches_no_bit(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG);
	do_write(fx, 3 * PG, 3 * PG, 22);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * PG + 10, PG);
	check(fx);
	assert_false(shadowed(fx, 0));
	assert_false(shadowed(fx, 1));
}

static void test_zero_range_on_partial_and_full_pages(void **state)
{
	struct fx *fx = *state;

	if (!t_fs_supports_zero_range(fx->s.dir))
		skip(); /* the shadow's file system has no ZERO_RANGE */
	lower(fx, 5 * PG + 123);
	do_fallocate(fx, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, PG + 1, 2 * PG);
	check(fx);
	assert_false(shadowed(fx, 0));
	assert_true(shadowed(fx, 1));
	assert_true(shadowed(fx, 2));
	assert_true(shadowed(fx, 3));
	assert_false(shadowed(fx, 4));
	do_fallocate(fx, FALLOC_FL_ZERO_RANGE, 4 * PG + 7, 3 * PG); /* grows the file */
	check(fx);
	assert_true(shadowed(fx, 4));
	assert_true(shadowed(fx, 5));
}

static void test_zero_range_covering_straddling_page(void **state)
{
	struct fx *fx = *state;

	if (!t_fs_supports_zero_range(fx->s.dir))
		skip(); /* the shadow's file system has no ZERO_RANGE */
	lower(fx, 3 * PG + 1000);
	do_fallocate(fx, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 3 * PG, PG);
	check(fx);
	do_truncate(fx, 5 * PG);
	check(fx);
}

static void test_collapse_and_insert_range_are_eopnotsupp(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	assert_int_equal(ps_merge_fallocate(fx->s.f, FALLOC_FL_COLLAPSE_RANGE, PG, PG), -EOPNOTSUPP);
	assert_int_equal(ps_merge_fallocate(fx->s.f, FALLOC_FL_INSERT_RANGE, PG, PG), -EOPNOTSUPP);
	snprintf(fx->ctx, sizeof(fx->ctx), "after refused collapse/insert");
	check(fx);
	assert_false(shadowed(fx, 1));
}

static void test_fallocate_rejects_bad_ranges(void **state)
{
	struct fx *fx = *state;

	lower(fx, PG);
	assert_int_equal(ps_merge_fallocate(fx->s.f, 0, -1, PG), -EINVAL);
	assert_int_equal(ps_merge_fallocate(fx->s.f, 0, 0, 0), -EINVAL);
}

static void test_plain_fallocate_grows_without_shadowing(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG + 10);
	do_fallocate(fx, 0, PG, 4 * PG);
	check(fx);
	assert_false(shadowed(fx, 0));
	assert_false(shadowed(fx, 1));
	assert_false(shadowed(fx, 2));
	do_fallocate(fx, FALLOC_FL_KEEP_SIZE, 0, 10 * PG);
	check(fx);
}

/* ---- seek, stat, sync ---- */

static void test_seek_never_reports_hole_below_lower_len(void **state)
{
	struct fx *fx = *state;
	const uint64_t size = 256 * PG, far = size + 64 * PG;
	int holes = t_fs_reports_holes(fx->s.dir);
	off_t r;
	int fd;

	/* A sparse lower file: data in its first and last pages only. */
	fd = open(fx->s.lower, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "tail", 4, (off_t)size - 4), 4);
	close(fd);
	t_sfx_create(&fx->s);

	for (uint64_t off = 0; off < size; off += 13 * PG + 1) {
		assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)off, SEEK_DATA), (off_t)off);
		assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)off, SEEK_HOLE), (off_t)size);
	}
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)size, SEEK_DATA), -ENXIO);
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)size, SEEK_HOLE), -ENXIO);
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, -1, SEEK_DATA), -EINVAL);

	/* Grown past lower_len with a gap, then data far out: holes only at or past lower_len. */
	assert_int_equal(ps_merge_truncate(fx->s.f, (off_t)(2 * size)), 0);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "x", 1, (off_t)far), 1);
	r = ps_merge_seek_hole_data(fx->s.f, 0, SEEK_HOLE);
	assert_true(r >= (off_t)size && r <= (off_t)(2 * size));
	r = ps_merge_seek_hole_data(fx->s.f, (off_t)size, SEEK_DATA);
	assert_true(r >= (off_t)size && r <= (off_t)far);
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)far, SEEK_DATA), (off_t)far);
	assert_true(ps_merge_seek_hole_data(fx->s.f, (off_t)far, SEEK_HOLE) > (off_t)far);
	if (holes) {
		/* Where the file system keeps holes, the gap is reported exactly. */
		assert_int_equal(ps_merge_seek_hole_data(fx->s.f, 0, SEEK_HOLE), (off_t)size);
		assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)size, SEEK_DATA), (off_t)far);
	}

	/* After a shrink, lower_len moves down and so may the first hole, never below it. */
	assert_int_equal(ps_merge_truncate(fx->s.f, (off_t)(10 * PG + 5)), 0);
	assert_int_equal(ps_merge_truncate(fx->s.f, (off_t)(20 * PG)), 0);
	assert_true(ps_merge_seek_hole_data(fx->s.f, 0, SEEK_HOLE) >= (off_t)(10 * PG + 5));
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)(10 * PG), SEEK_DATA), (off_t)(10 * PG));
}

static void test_seek_on_file_with_shadowed_pages_stays_data(void **state)
{
	struct fx *fx = *state;

	lower(fx, 8 * PG);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PG, 2 * PG);
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, 0, SEEK_HOLE), (off_t)(8 * PG));
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, (off_t)(2 * PG), SEEK_DATA), (off_t)(2 * PG));
}

static void test_stat_reports_merged_size_and_lower_identity(void **state)
{
	struct fx *fx = *state;
	struct stat st, dst;

	lower(fx, 3 * PG + 1);
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(st.st_size, 3 * PG + 1);
	assert_int_equal(st.st_ino, fx->s.lst.st_ino);
	assert_int_equal(st.st_dev, fx->s.lst.st_dev);
	assert_int_equal(st.st_mode, fx->s.lst.st_mode);
	assert_int_equal(fstat(fx->s.f->data_fd, &dst), 0);
	assert_int_not_equal(dst.st_ino, st.st_ino);

	do_write(fx, 10 * PG, 5, 23);
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(st.st_size, 10 * PG + 5);
	assert_int_equal(st.st_ino, fx->s.lst.st_ino);
	do_truncate(fx, 100);
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(st.st_size, 100);
	assert_int_equal(ps_merge_size(fx->s.f), 100);
}

static void test_stat_keeps_data_file_times(void **state)
{
	struct fx *fx = *state;
	struct stat st;

	lower(fx, PG);
	/* The data file starts with the lower file's mtime. */
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(st.st_mtim.tv_sec, fx->s.lst.st_mtim.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, fx->s.lst.st_mtim.tv_nsec);
}

/* fsync/msync that record the order of their calls. */
static int synced[8];
static int nsynced;

static int recording_fsync(int fd)
{
	if (nsynced < 8)
		synced[nsynced++] = fd;
	return fsync(fd);
}

static int recording_msync(void *addr, size_t len, int flags)
{
	if (nsynced < 8)
		synced[nsynced++] = -100; /* the record's mapping */
	return msync(addr, len, flags);
}

/* op(f) succeeds and syncs the data file, then the record's mapping and file, in that order. */
static void assert_syncs_data_then_record(struct fx *fx, int (*op)(struct ps_file *))
{
	struct ps_sys recording = ps_sys_libc;

	recording.fsync = recording_fsync;
	recording.msync = recording_msync;
	nsynced = 0;
	ps_sys = &recording;
	assert_int_equal(op(fx->s.f), 0);
	ps_sys = &ps_sys_libc;
	assert_int_equal(nsynced, 3);
	assert_int_equal(synced[0], fx->s.f->data_fd);
	assert_int_equal(synced[1], -100);
	assert_int_equal(synced[2], fx->s.f->rec.fd);
}

static void test_sync_flushes_data_before_record(void **state)
{
	struct fx *fx = *state;

	lower(fx, 2 * PG);
	do_write(fx, 5, 5, 24);
	assert_syncs_data_then_record(fx, ps_merge_sync);
}

static void test_stat_blocks_count_lower_blocks_still_showing(void **state)
{
	struct fx *fx = *state;
	struct stat st, dst, lst;

	lower(fx, 8 * PG);
	assert_int_equal(stat(fx->s.lower, &lst), 0);
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(fstat(fx->s.f->data_fd, &dst), 0);
	assert_int_equal(st.st_blocks, dst.st_blocks + lst.st_blocks);
	do_write(fx, 3 * PG, PG, 32); /* one of eight pages now in the data file */
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(fstat(fx->s.f->data_fd, &dst), 0);
	assert_int_equal(st.st_blocks, dst.st_blocks + lst.st_blocks * 7 / 8);
}

static void test_copy_up_whole_leaves_the_data_file_the_whole_file_and_synced(void **state)
{
	struct fx *fx = *state;
	uint8_t *data;

	lower(fx, 5 * PG + 123);
	do_write(fx, PG + 7, 10, 40);
	assert_syncs_data_then_record(fx, ps_merge_copy_up_whole); /* the pages before lower_len changes */
	assert_int_equal(lower_len(fx), 0);
	assert_false(ps_merge_shows_lower(fx->s.f));
	snprintf(fx->ctx, sizeof(fx->ctx), "after copy-up of the whole file");
	check(fx);
	data = malloc(fx->len);
	assert_non_null(data);
	assert_int_equal(pread(fx->s.f->data_fd, data, fx->len, 0), (ssize_t)fx->len);
	assert_memory_equal(data, fx->model, fx->len);
	free(data);
	assert_int_equal(ps_merge_copy_up_whole(fx->s.f), 0); /* nothing left to do */
}

static void test_copy_up_whole_that_fails_keeps_the_lower_bytes(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	t_fake_install();
	t_fake.pwrite_fail_at = 3; /* the third page's copy */
	assert_int_equal(ps_merge_copy_up_whole(fx->s.f), -ENOSPC);
	t_fake_remove();
	assert_int_equal(lower_len(fx), 4 * PG);
	assert_true(shadowed(fx, 1));
	assert_false(shadowed(fx, 2));
	snprintf(fx->ctx, sizeof(fx->ctx), "after a failed copy-up of the whole file");
	check(fx);
}

/* ---- persistence and other views ---- */

static void test_lookup_after_put_sees_same_content(void **state)
{
	struct fx *fx = *state;
	char why[256];

	lower(fx, 6 * PG + 99);
	do_write(fx, 1000, 5000, 25);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * PG + 3, PG);
	do_truncate(fx, 5 * PG + 10);
	do_write(fx, 7 * PG, 10, 26);
	check(fx);

	assert_int_equal(t_sfx_relookup(&fx->s), 0);
	snprintf(fx->ctx, sizeof(fx->ctx), "after a second lookup");
	check(fx);
	assert_int_equal(lower_len(fx), 5 * PG + 10);

	/* And through a shadow opened afresh. */
	ps_file_put(fx->s.f);
	fx->s.f = NULL;
	ps_shadow_close(&fx->s.sh);
	fx->s.sh_open = 0;
	assert_int_equal(ps_shadow_open(&fx->s.sh, fx->s.shadow, 0, why, sizeof(why)), 0);
	fx->s.sh_open = 1;
	assert_int_equal(t_sfx_relookup(&fx->s), 0);
	snprintf(fx->ctx, sizeof(fx->ctx), "after reopening the shadow");
	check(fx);
}

static void test_page_written_by_another_process_is_seen(void **state)
{
	struct fx *fx = *state;
	pid_t pid;
	int status;

	lower(fx, 4 * PG);
	memset(fx->buf, 0x5a, 300);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ssize_t w = ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, fx->buf, 300, 2 * PG + 10);

		_exit(w == 300 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	memset(fx->model + 2 * PG + 10, 0x5a, 300);
	snprintf(fx->ctx, sizeof(fx->ctx), "after a write by a child");
	assert_true(shadowed(fx, 2));
	check(fx);
}

/* Hold the copy-up lock on fd, fork a child writing into untouched page 2, check that the child waits until the
 * lock is dropped, and that its write then lands. */
static void child_write_waits_for_lock_on(struct fx *fx, int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = PS_COPYUP_LOCK_OFFSET, .l_len = 1 };
	int status;
	pid_t pid;

	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ssize_t w;

		alarm(10);
		w = ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, "child", 5, 2 * PG + 1);
		_exit(w == 5 ? 0 : 1);
	}
	usleep(200 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting for the lock */
	assert_false(shadowed(fx, 2));
	fl.l_type = F_UNLCK;
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	memcpy(fx->model + 2 * PG + 1, "child", 5);
	snprintf(fx->ctx, sizeof(fx->ctx), "after a write that waited for the lock");
	assert_true(shadowed(fx, 2));
	check(fx);
}

static void test_copy_up_waits_for_another_process_holding_the_lock(void **state)
{
	struct fx *fx = *state;
	int holder;

	lower(fx, 4 * PG);
	holder = open(fx->s.data, O_RDWR | O_CLOEXEC);
	assert_true(holder >= 0);
	child_write_waits_for_lock_on(fx, holder);
	close(holder);
}

static void test_forked_child_does_not_share_parents_copy_up_lock(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	do_write(fx, 0, 10, 31); /* the parent now has its own lock descriptor */
	assert_true(fx->s.f->lock_fd >= 0);
	/* The parent in the middle of a copy-up: the child must wait for it too. */
	child_write_waits_for_lock_on(fx, fx->s.f->lock_fd);
}

static void test_new_file_behaves_like_plain_file(void **state)
{
	struct fx *fx = *state;
	struct ps_file_name name = t_sfx_name(&fx->s);
	struct stat st, dst;

	/* No lower file at all: the record says so and the data file is the whole truth. */
	assert_int_equal(ps_file_create(&fx->s.sh, &name, NULL, 0640, 1, &fx->s.f), 0);
	fx->len = 0;
	assert_int_equal(fx->s.f->lower_fd, -1);
	assert_int_equal(fx->s.f->rec.has_lower, 0);
	snprintf(fx->ctx, sizeof(fx->ctx), "new file");
	check(fx);
	do_write(fx, 0, 3 * PG + 5, 27);
	do_write(fx, 5 * PG, 100, 28);
	check(fx);
	do_truncate(fx, 2 * PG + 1);
	check(fx);
	do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, PG);
	if (t_fs_supports_zero_range(fx->s.dir))
		do_fallocate(fx, FALLOC_FL_ZERO_RANGE, 2 * PG, PG);
	else
		do_truncate(fx, 3 * PG);
	check(fx);
	assert_int_equal(ps_merge_seek_hole_data(fx->s.f, 0, SEEK_DATA), 0);
	assert_int_equal(ps_merge_stat(fx->s.f, &st), 0);
	assert_int_equal(fstat(fx->s.f->data_fd, &dst), 0);
	assert_int_equal(st.st_ino, dst.st_ino);
	assert_int_equal(st.st_size, 3 * PG);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(t_sfx_relookup(&fx->s), 0);
	check(fx);
}

/* ---- the randomized model test ---- */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* An offset in [0, max], often on or next to a page edge. */
static uint64_t rnd_off(uint64_t max)
{
	uint64_t off = rnd() % (max + 1);

	switch (rnd() % 4) {
	case 0:
		off &= ~(uint64_t)(PG - 1);
		break;
	case 1:
		off = (off | (PG - 1)) < max ? (off | (PG - 1)) : off;
		break;
	default:
		break;
	}
	return off;
}

static void test_random_operations_match_model(void **state)
{
	struct fx *fx = *state;
	const uint64_t lower_size = 16 * PG + 1234;

	int zero_range = t_fs_supports_zero_range(fx->s.dir);

	lower(fx, lower_size);
	rnd_state = 0x9e3779b97f4a7c15ull;
	for (int op = 0; op < 2000; op++) {
		fx->op = op;
		uint64_t span = (fx->len < 40 * PG ? fx->len : 40 * PG) + 2 * PG;
		uint64_t off = rnd_off(span);
		uint64_t n = 1 + rnd() % (3 * PG);
		unsigned kind = (unsigned)(rnd() % 100);

		if (kind < 55)
			do_write(fx, off, n, (unsigned)op);
		else if (kind < 70)
			do_truncate(fx, rnd_off(lower_size + 6 * PG));
		else if (kind < 80)
			do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n);
		else if (kind < 87 && zero_range)
			do_fallocate(fx, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, n);
		else if (kind < 92 && zero_range)
			do_fallocate(fx, FALLOC_FL_ZERO_RANGE, off, n);
		else if (kind < 92)
			do_fallocate(fx, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, n);
		else {
			/* A read of a random range, checked against the model. */
			snprintf(fx->ctx, sizeof(fx->ctx), "pread(%llu @ %llu)", (unsigned long long)n,
				 (unsigned long long)off);
			read_range(fx, off, n);
			continue;
		}
		if (op % 100 == 99)
			check(fx);
		else
			check_quick(fx);
	}
	fx->op = -1;
	assert_int_equal(t_sfx_relookup(&fx->s), 0);
	snprintf(fx->ctx, sizeof(fx->ctx), "after the random run and a second lookup");
	check(fx);
}

/* ---- fault injection ---- */

static void test_copy_up_enospc_fails_write_and_leaves_page_unmarked(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	t_fake_install();
	t_fake.pwrite_fail_at = 1; /* the copy-up's write into the data file */
	memset(fx->buf, 0xee, 100);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, fx->buf, 100, PG + 4), -ENOSPC);
	assert_false(shadowed(fx, 1));
	snprintf(fx->ctx, sizeof(fx->ctx), "after a failed copy-up");
	check(fx);
	/* The same write succeeds once the space is back. */
	do_write(fx, PG + 4, 100, 29);
	check(fx);
	assert_true(shadowed(fx, 1));
	t_fake_remove();
}

static void test_copy_up_enospc_on_second_page_keeps_first(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	t_fake_install();
	t_fake.pwrite_fail_at = 2; /* page 1's copy-up; page 0's went through */
	memset(fx->buf, 0xee, 400);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, fx->buf, 400, PG - 200), -ENOSPC);
	assert_true(shadowed(fx, 0));
	assert_false(shadowed(fx, 1));
	t_fake_remove();
	snprintf(fx->ctx, sizeof(fx->ctx), "after a copy-up failing half-way");
	check(fx);
}

static void test_punch_hole_with_failing_copy_up_marks_nothing(void **state)
{
	struct fx *fx = *state;

	lower(fx, 4 * PG);
	t_fake_install();
	t_fake.pwrite_fail_at = 1;
	assert_int_equal(ps_merge_fallocate(fx->s.f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * PG),
			 -ENOSPC);
	t_fake_remove();
	for (uint64_t pg = 0; pg < 4; pg++)
		assert_false(shadowed(fx, pg));
	snprintf(fx->ctx, sizeof(fx->ctx), "after a failed punch");
	check(fx);
}

static void test_short_lower_read_during_copy_up_is_eio(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	t_fake_install();
	t_fake.pread_fd = fx->s.f->lower_fd;
	t_fake.pread_eof = PG + 100; /* the lower file "got shorter" under us */
	memset(fx->buf, 0xee, 10);
	assert_int_equal(ps_merge_pwrite(fx->s.f, fx->s.f->data_fd, fx->buf, 10, PG + 200), -EIO);
	assert_false(shadowed(fx, 1));
	assert_int_equal(t_fake.pwrite_calls, 0); /* nothing reached the data file */
	t_fake_remove();
	snprintf(fx->ctx, sizeof(fx->ctx), "after a short lower read in copy-up");
	check(fx);
}

static void test_short_lower_read_during_mixed_read_is_eio(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	do_write(fx, 0, 10, 30);
	t_fake_install();
	t_fake.pread_fd = fx->s.f->lower_fd;
	t_fake.pread_eof = PG + 100;
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 3 * PG, 0), -EIO);
	t_fake_remove();
}

static void test_short_lower_read_on_fast_path_is_eio(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	t_fake_install();
	t_fake.pread_fd = fx->s.f->lower_fd;
	t_fake.pread_eof = PG + 100;
	/* Nothing shadowed: the fast path. A lower file shorter than its record is -EIO here too, not a
	 * premature end of file. */
	assert_int_equal(ps_merge_pread(fx->s.f, fx->got, 3 * PG, 0), -EIO);
	t_fake_remove();
}

static void test_failed_truncate_leaves_content_unchanged(void **state)
{
	struct fx *fx = *state;

	lower(fx, 3 * PG);
	t_fake_install();
	t_fake.ftruncate_fail = 1;
	assert_int_equal(ps_merge_truncate(fx->s.f, PG), -EIO);
	t_fake_remove();
	snprintf(fx->ctx, sizeof(fx->ctx), "after a failed truncate");
	check(fx); /* still 3 pages of lower bytes */
}

/* A reader racing a copy-up must see each page whole: its lower bytes or its new ones, never the hole the data file
 * has before the copy lands. */
struct race {
	struct ps_file *f;
	size_t pages;
	volatile int stop;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	for (size_t pg = 0; pg < r->pages; pg++)
		if (ps_merge_pwrite(r->f, r->f->data_fd, "B", 1, (off_t)(pg * PG)) != 1)
			break;
	r->stop = 1;
	return NULL;
}

static void test_read_racing_copy_up_never_sees_a_hole(void **state)
{
	struct fx *fx = *state;
	struct race r = { .pages = MODEL_MAX / PG };
	size_t size = r.pages * PG;
	uint8_t *buf = malloc(size);
	pthread_t writer;
	int reads = 0;

	assert_non_null(buf);
	lower(fx, size);
	r.f = fx->s.f;
	assert_int_equal(pthread_create(&writer, NULL, race_writer, &r), 0);
	while (!r.stop || reads == 0) {
		assert_int_equal(ps_merge_pread(fx->s.f, buf, size, 0), (ssize_t)size);
		for (size_t i = 0; i < size; i++)
			if (buf[i] != lower_byte(i) && !(i % PG == 0 && buf[i] == 'B'))
				fail_msg("read %d: byte %zu is 0x%02x: neither the lower byte nor the new one", reads, i,
					 buf[i]);
		reads++;
	}
	pthread_join(writer, NULL);
	free(buf);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_untouched_file_reads_as_lower),
		T(test_read_at_or_past_end_returns_zero),
		T(test_write_first_page),
		T(test_write_whole_last_page),
		T(test_write_into_partial_last_page),
		T(test_write_spanning_pages_copies_up_each_covered_page),
		T(test_write_ending_on_page_boundary_does_not_touch_next_page),
		T(test_append_past_the_end_leaves_zero_gap),
		T(test_write_of_zero_page_is_shadowed_zeros),
		T(test_untouched_zero_lower_page_reads_lower_and_stays_a_hole),
		T(test_mixed_read_combines_lower_and_data),
		T(test_fast_path_reads_only_the_lower_file),
		T(test_read_racing_copy_up_never_sees_a_hole),
		T(test_shrink_then_grow_reads_zeros),
		T(test_shrink_to_zero_then_grow_reads_zeros),
		T(test_write_into_straddling_page_after_shrink_keeps_cut_bytes_gone),
		T(test_write_into_straddling_page_after_regrow_keeps_zeros),
		T(test_write_across_lower_len_after_shrink),
		T(test_append_then_write_below_lower_len_keeps_appended_bytes),
		T(test_append_inside_last_lower_page_copies_it_up),
	T(test_truncate_inside_a_lower_page_copies_it_up),
	T(test_backing_gen_counts_copy_ups_and_cuts),
	T(test_truncate_to_same_size_changes_nothing),
		T(test_lower_len_never_grows_back),
		T(test_punch_hole_on_partial_and_full_pages),
		T(test_punch_hole_inside_one_page),
		T(test_punch_hole_on_aligned_full_pages),
		T(test_punch_hole_past_end_keeps_size),
		T(test_punch_hole_past_lower_len_touches_no_bit),
		T(test_zero_range_on_partial_and_full_pages),
		T(test_zero_range_covering_straddling_page),
		T(test_collapse_and_insert_range_are_eopnotsupp),
		T(test_fallocate_rejects_bad_ranges),
		T(test_plain_fallocate_grows_without_shadowing),
		T(test_seek_never_reports_hole_below_lower_len),
		T(test_seek_on_file_with_shadowed_pages_stays_data),
		T(test_stat_reports_merged_size_and_lower_identity),
		T(test_stat_keeps_data_file_times),
		T(test_sync_flushes_data_before_record),
		T(test_stat_blocks_count_lower_blocks_still_showing),
		T(test_copy_up_whole_leaves_the_data_file_the_whole_file_and_synced),
		T(test_copy_up_whole_that_fails_keeps_the_lower_bytes),
		T(test_lookup_after_put_sees_same_content),
		T(test_page_written_by_another_process_is_seen),
		T(test_copy_up_waits_for_another_process_holding_the_lock),
		T(test_forked_child_does_not_share_parents_copy_up_lock),
		T(test_new_file_behaves_like_plain_file),
		T(test_random_operations_match_model),
		T(test_copy_up_enospc_fails_write_and_leaves_page_unmarked),
		T(test_copy_up_enospc_on_second_page_keeps_first),
		T(test_punch_hole_with_failing_copy_up_marks_nothing),
		T(test_short_lower_read_during_copy_up_is_eio),
		T(test_short_lower_read_during_mixed_read_is_eio),
		T(test_short_lower_read_on_fast_path_is_eio),
		T(test_failed_truncate_leaves_content_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
