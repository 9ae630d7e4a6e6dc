/* summary.c - what a shadow holds, counted (see summary.h). */
#include "summary.h"

#include "bitmap.h"
#include "record.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ps_summary_shadowed_pages(int fd, uint64_t record_size, uint64_t lower_len, uint64_t *pages)
{
	uint64_t n = (lower_len + PS_PAGE_SIZE - 1) / PS_PAGE_SIZE;
	void *map;

	*pages = 0;
	if (n == 0)
		return 0;
	if (PS_RECORD_HEADER_SIZE + (n + 7) / 8 > record_size)
		return -EILSEQ;
	map = mmap(NULL, (size_t)record_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	*pages = ps_bitmap_count((const uint8_t *)map + PS_RECORD_HEADER_SIZE, n);
	munmap(map, (size_t)record_size);
	return 0;
}

static int count_record(int dirfd, const struct ps_tree_entry *e, struct ps_summary *s)
{
	struct ps_record_disk hdr;
	struct stat rst, dst;
	uint64_t pages = 0;
	int fd = openat(dirfd, e->meta_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	memset(&hdr, 0, sizeof(hdr));
	rc = fstat(fd, &rst) < 0 ? -errno : ps_record_peek(fd, &hdr);
	if (rc == 1)
		rc = ps_summary_shadowed_pages(fd, (uint64_t)rst.st_size, hdr.lower_len, &pages);
	close(fd);
	if (rc < 0 || fstatat(dirfd, e->data_path, &dst, AT_SYMLINK_NOFOLLOW) < 0)
		return rc < 0 ? rc : -errno;
	s->pages += pages;
	if (hdr.flags & PS_REC_HAS_LOWER)
		s->changed++;
	else
		s->created++;
	s->shadow_bytes += (uint64_t)(rst.st_blocks + dst.st_blocks) * 512;
	s->copyup_bytes += (uint64_t)dst.st_size;
	return 0;
}

struct walk_arg {
	int dirfd;
	struct ps_summary *s;
};

static int count_entry(const struct ps_tree_entry *e, void *arg)
{
	struct walk_arg *w = arg;

	if (e->err) {
		w->s->unreadable++;
		return 0;
	}
	switch (e->kind) {
	case PS_TREE_RECORD:
		if (count_record(w->dirfd, e, w->s) < 0)
			w->s->unreadable++;
		break;
	case PS_TREE_DIR:
		w->s->dirs += (e->mode & S_ISVTX) != 0;
		break;
	case PS_TREE_WHITEOUT:
		w->s->deleted++;
		break;
	case PS_TREE_SYMLINK:
	case PS_TREE_SPECIAL:
		w->s->links++;
		break;
	}
	return 0;
}

int ps_summary_collect(int dirfd, struct ps_summary *out)
{
	struct walk_arg w = { .dirfd = dirfd, .s = out };

	memset(out, 0, sizeof(*out));
	return ps_tree_walk(dirfd, count_entry, &w);
}
