/* record.c - per-file shadow record: format, load and validate, mark pages, sync (see record.h). */
#include "record.h"
#include "bitmap.h"
#include "log.h"
#include "sys.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

_Static_assert(offsetof(struct ps_record_disk, crc) == 124, "record header layout");
_Static_assert(offsetof(struct ps_record_disk, lower_len) == 128, "record header layout");
_Static_assert(offsetof(struct ps_record_disk, gid) == 148, "record header layout");
_Static_assert(offsetof(struct ps_record_disk, data_ino) == 160, "record header layout");
_Static_assert(offsetof(struct ps_record_disk, backing_gen) == 168, "record header layout");
_Static_assert(offsetof(struct ps_record_disk, origin) == 1024, "record header layout");
_Static_assert(sizeof(struct ps_record_disk) == PS_RECORD_HEADER_SIZE, "record header layout");
_Static_assert(__BYTE_ORDER == __LITTLE_ENDIAN, "the mapped record fields are little-endian");

uint32_t ps_crc32c(const void *buf, uint64_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static uint64_t pages_for(uint64_t bytes)
{
	return (bytes + PS_PAGE_SIZE - 1) >> PS_PAGE_SHIFT;
}

uint64_t ps_record_file_size(uint64_t lower_size)
{
	uint64_t bitmap_bytes = (pages_for(lower_size) + 7) / 8;

	return PS_RECORD_HEADER_SIZE + pages_for(bitmap_bytes) * PS_PAGE_SIZE;
}

int ps_record_format(int fd, const struct stat *lower)
{
	union {
		struct ps_record_disk hdr;
		char page[PS_RECORD_HEADER_SIZE];
	} u;
	uint64_t size = lower ? (uint64_t)lower->st_size : 0;
	ssize_t w;

	memset(&u, 0, sizeof(u));
	memcpy(u.hdr.magic, PS_RECORD_MAGIC, 8);
	u.hdr.version = PS_RECORD_VERSION;
	u.hdr.header_size = PS_RECORD_HEADER_SIZE;
	u.hdr.page_size = PS_PAGE_SIZE;
	if (lower) {
		u.hdr.flags = PS_REC_HAS_LOWER;
		u.hdr.lower_ino = (uint64_t)lower->st_ino;
		u.hdr.lower_dev = (uint64_t)lower->st_dev;
		u.hdr.lower_size = size;
		u.hdr.lower_mtime_sec = (int64_t)lower->st_mtim.tv_sec;
		u.hdr.lower_mtime_nsec = (uint32_t)lower->st_mtim.tv_nsec;
		u.hdr.lower_mode = (uint32_t)lower->st_mode;
		u.hdr.bitmap_bits = pages_for(size);
		u.hdr.lower_len = size;
	}
	u.hdr.crc = ps_crc32c(&u.hdr, offsetof(struct ps_record_disk, crc));
	w = ps_sys_pwrite_full(fd, u.page, sizeof(u.page), 0);
	if (w < 0)
		return (int)w;
	if (ps_sys->ftruncate(fd, (off_t)ps_record_file_size(size)) < 0)
		return -errno;
	return 0;
}

int ps_record_check_header(const struct ps_record_disk *hdr, uint64_t file_size, const struct stat *lower,
			   char *why, size_t whysz)
{
	if (file_size < PS_RECORD_HEADER_SIZE || memcmp(hdr->magic, PS_RECORD_MAGIC, 8) != 0) {
		snprintf(why, whysz, "not a pageshadow record (bad magic or truncated)");
		return -EILSEQ;
	}
	if (hdr->version != PS_RECORD_VERSION) {
		snprintf(why, whysz, "record format version %u, this build reads version %u", hdr->version,
			 PS_RECORD_VERSION);
		return -EPROTO;
	}
	if (hdr->crc != ps_crc32c(hdr, offsetof(struct ps_record_disk, crc))) {
		snprintf(why, whysz, "record header checksum mismatch");
		return -EILSEQ;
	}
	if (hdr->header_size != PS_RECORD_HEADER_SIZE || hdr->page_size != PS_PAGE_SIZE ||
	    hdr->bitmap_bits != pages_for(hdr->lower_size) || file_size != ps_record_file_size(hdr->lower_size) ||
	    hdr->lower_len > hdr->lower_size || (!(hdr->flags & PS_REC_HAS_LOWER) && hdr->lower_size != 0)) {
		snprintf(why, whysz, "record sizes inconsistent (record %llu bytes, lower_len %llu of %llu)",
			 (unsigned long long)file_size, (unsigned long long)hdr->lower_len,
			 (unsigned long long)hdr->lower_size);
		return -EILSEQ;
	}
	if (hdr->origin_len && (hdr->origin_len > PS_RECORD_ORIGIN_MAX || hdr->origin[hdr->origin_len] != '\0' ||
				memchr(hdr->origin, '\0', hdr->origin_len))) {
		snprintf(why, whysz, "record origin of %u bytes is not a path of that length", hdr->origin_len);
		return -EILSEQ;
	}
	if (!(hdr->flags & PS_REC_HAS_LOWER))
		return 0;
	if (!lower) {
		snprintf(why, whysz, "lower file is gone");
		return -ESTALE;
	}
	if ((uint64_t)lower->st_ino != hdr->lower_ino) {
		snprintf(why, whysz, "lower file replaced (inode %llu, recorded %llu)",
			 (unsigned long long)lower->st_ino, (unsigned long long)hdr->lower_ino);
		return -ESTALE;
	}
	if ((uint64_t)lower->st_size != hdr->lower_size) {
		snprintf(why, whysz, "lower file size changed (%llu bytes, recorded %llu)",
			 (unsigned long long)lower->st_size, (unsigned long long)hdr->lower_size);
		return -ESTALE;
	}
	if ((int64_t)lower->st_mtim.tv_sec != hdr->lower_mtime_sec ||
	    (uint32_t)lower->st_mtim.tv_nsec != hdr->lower_mtime_nsec) {
		snprintf(why, whysz, "lower file modified (mtime %lld.%09ld, recorded %lld.%09u)",
			 (long long)lower->st_mtim.tv_sec, (long)lower->st_mtim.tv_nsec,
			 (long long)hdr->lower_mtime_sec, hdr->lower_mtime_nsec);
		return -ESTALE;
	}
	return 0;
}

int ps_record_file_rebase(int fd, const struct stat *lower, char *why, size_t whysz)
{
	union {
		struct ps_record_disk hdr;
		char page[PS_RECORD_HEADER_SIZE];
	} u;
	const size_t identity = offsetof(struct ps_record_disk, lower_len);
	struct stat st;
	ssize_t n;
	int rc;

	if (ps_sys->fstat(fd, &st) < 0)
		return -errno;
	n = ps_sys_pread_full(fd, u.page, sizeof(u.page), 0);
	if (n < 0)
		return (int)n;
	if ((size_t)n != sizeof(u.page)) {
		snprintf(why, whysz, "not a pageshadow record (bad magic or truncated)");
		return -EILSEQ;
	}
	rc = ps_record_check_header(&u.hdr, (uint64_t)st.st_size, lower, why, whysz);
	if (rc != -ESTALE)
		return rc == 0 && !(u.hdr.flags & PS_REC_HAS_LOWER) ? -EINVAL : rc;
	if ((uint64_t)lower->st_size != u.hdr.lower_size) {
		snprintf(why, whysz, "the lower file's size changed (%llu bytes, recorded %llu)",
			 (unsigned long long)lower->st_size, (unsigned long long)u.hdr.lower_size);
		return -EFBIG;
	}
	u.hdr.lower_ino = (uint64_t)lower->st_ino;
	u.hdr.lower_dev = (uint64_t)lower->st_dev;
	u.hdr.lower_mtime_sec = (int64_t)lower->st_mtim.tv_sec;
	u.hdr.lower_mtime_nsec = (uint32_t)lower->st_mtim.tv_nsec;
	u.hdr.lower_mode = (uint32_t)lower->st_mode;
	u.hdr.crc = ps_crc32c(&u.hdr, offsetof(struct ps_record_disk, crc));
	n = ps_sys_pwrite_full(fd, u.page, identity, 0); /* the identity alone: the mutable fields stay as they are */
	if (n < 0)
		return (int)n;
	return ps_sys->fsync(fd) < 0 ? -errno : 0;
}

int ps_record_peek(int fd, struct ps_record_disk *hdr)
{
	const size_t first = offsetof(struct ps_record_disk, backing_gen);
	char why[160];
	ssize_t n = ps_sys->pread(fd, hdr, first, 0);

	if (n < 0)
		return -errno;
	if ((size_t)n != first)
		return -EILSEQ;
	if (hdr->flags & PS_REC_HAS_LOWER)
		return 1;
	/* the check reads the origin too (at 1024): the rest of the header page */
	n = ps_sys_pread_full(fd, (char *)hdr + first, sizeof(*hdr) - first, (off_t)first);
	if (n < 0)
		return (int)n;
	if ((size_t)n != sizeof(*hdr) - first)
		return -EILSEQ;
	return ps_record_check_header(hdr, PS_RECORD_HEADER_SIZE, NULL, why, sizeof(why));
}

int ps_record_load(struct ps_record *rec, int fd, const struct stat *lower, const char *name)
{
	struct stat st;
	char why[160];
	void *map;
	int rc;

	if (ps_sys->fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < PS_RECORD_HEADER_SIZE) {
		ps_error("%s: corrupt shadow record: truncated to %lld bytes", name, (long long)st.st_size);
		return -EILSEQ;
	}
	map = ps_sys->mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	rc = ps_record_check_header(map, (uint64_t)st.st_size, lower, why, sizeof(why));
	if (rc < 0) {
		ps_error("%s: %s shadow record: %s", name, rc == -ESTALE ? "stale" : "unusable", why);
		ps_sys->munmap(map, (size_t)st.st_size);
		return rc;
	}
	rec->fd = fd;
	rec->hdr = map;
	rec->bitmap = (uint8_t *)map + PS_RECORD_HEADER_SIZE;
	rec->map_len = (uint64_t)st.st_size;
	rec->nbits = rec->hdr->bitmap_bits;
	rec->has_lower = (rec->hdr->flags & PS_REC_HAS_LOWER) != 0;
	return 0;
}

void ps_record_shrink_lower_len(struct ps_record *rec, uint64_t len)
{
	if (len >= ps_record_lower_len(rec))
		return;
	__atomic_store_n(&rec->hdr->lower_len, len, __ATOMIC_RELEASE);
	__atomic_fetch_add(&rec->hdr->backing_gen, 1, __ATOMIC_RELEASE);
}

int ps_record_read_origin(int fd, char *out, size_t outsz)
{
	uint32_t len;
	ssize_t n = ps_sys_pread_full(fd, &len, sizeof(len), offsetof(struct ps_record_disk, origin_len));

	if (n < 0)
		return (int)n;
	if (n != (ssize_t)sizeof(len) || len == 0)
		return 0; /* a short file fails validation later */
	if (len > PS_RECORD_ORIGIN_MAX || len >= outsz)
		return -EILSEQ;
	n = ps_sys_pread_full(fd, out, len, offsetof(struct ps_record_disk, origin));
	if (n != (ssize_t)len)
		return n < 0 ? (int)n : -EILSEQ;
	out[len] = '\0';
	return (int)len;
}

int ps_record_set_origin(struct ps_record *rec, const char *origin)
{
	size_t len = strlen(origin);

	if (len == 0 || len > PS_RECORD_ORIGIN_MAX)
		return -ENAMETOOLONG;
	memcpy(rec->hdr->origin, origin, len + 1);
	__atomic_store_n(&rec->hdr->origin_len, (uint32_t)len, __ATOMIC_RELEASE);
	return 0;
}

int ps_record_file_keep_origin(int fd, const char *origin)
{
	struct ps_record_disk hdr;
	uint32_t len = (uint32_t)strlen(origin);
	ssize_t n = ps_sys_pread_full(fd, &hdr, offsetof(struct ps_record_disk, backing_gen), 0);

	if (n < 0)
		return (int)n;
	if (n != (ssize_t)offsetof(struct ps_record_disk, backing_gen))
		return -EILSEQ;
	if (!(hdr.flags & PS_REC_HAS_LOWER) || hdr.origin_len)
		return 0;
	if (len == 0 || len > PS_RECORD_ORIGIN_MAX)
		return -ENAMETOOLONG;
	/* The path before its length: a record with a length has its path. */
	if ((n = ps_sys_pwrite_full(fd, origin, len + 1, offsetof(struct ps_record_disk, origin))) < 0 ||
	    (n = ps_sys_pwrite_full(fd, &len, sizeof(len), offsetof(struct ps_record_disk, origin_len))) < 0)
		return (int)n;
	return ps_sys->fsync(fd) < 0 ? -errno : 0;
}

int ps_record_file_set_data_ino(int fd, uint64_t ino)
{
	ssize_t n = ps_sys_pwrite_full(fd, &ino, sizeof(ino), offsetof(struct ps_record_disk, data_ino));

	return n < 0 ? (int)n : 0;
}

int ps_record_file_set_mode(int fd, mode_t mode)
{
	uint32_t fields[2] = { PS_ATTR_MODE, (uint32_t)(mode & 07777) }; /* attr_flags, mode: adjacent */
	ssize_t n = ps_sys_pwrite_full(fd, fields, sizeof(fields), offsetof(struct ps_record_disk, attr_flags));

	return n < 0 ? (int)n : 0;
}

void ps_record_set_mode(struct ps_record *rec, mode_t mode)
{
	__atomic_store_n(&rec->hdr->mode, (uint32_t)(mode & 07777), __ATOMIC_RELEASE);
	ps_record_set_attr_flags(rec, PS_ATTR_MODE);
}

void ps_record_set_owner(struct ps_record *rec, uid_t uid, gid_t gid)
{
	__atomic_store_n(&rec->hdr->uid, (uint32_t)uid, __ATOMIC_RELEASE);
	__atomic_store_n(&rec->hdr->gid, (uint32_t)gid, __ATOMIC_RELEASE);
	ps_record_set_attr_flags(rec, PS_ATTR_OWNER);
}

void ps_record_set_attr_flags(struct ps_record *rec, uint32_t bits)
{
	__atomic_fetch_or(&rec->hdr->attr_flags, bits, __ATOMIC_ACQ_REL);
}

uint32_t ps_record_attr_flags(const struct ps_record *rec)
{
	return __atomic_load_n(&rec->hdr->attr_flags, __ATOMIC_ACQUIRE);
}

int ps_record_page_is_shadowed(const struct ps_record *rec, uint64_t page)
{
	return page < rec->nbits && ps_bitmap_test(rec->bitmap, page);
}

void ps_record_mark_page(struct ps_record *rec, uint64_t page)
{
	if (page >= rec->nbits)
		return;
	ps_bitmap_set(rec->bitmap, page);
	__atomic_fetch_add(&rec->hdr->backing_gen, 1, __ATOMIC_RELEASE);
}

uint64_t ps_record_shadowed_pages(const struct ps_record *rec)
{
	return ps_bitmap_count(rec->bitmap, pages_for(ps_record_lower_len(rec)));
}

int ps_record_sync(struct ps_record *rec)
{
	if (ps_sys->msync(rec->hdr, (size_t)rec->map_len, MS_SYNC) < 0)
		return -errno;
	if (ps_sys->fsync(rec->fd) < 0)
		return -errno;
	return 0;
}

void ps_record_release(struct ps_record *rec)
{
	if (rec->hdr)
		ps_sys->munmap(rec->hdr, (size_t)rec->map_len);
	if (rec->fd >= 0)
		ps_sys->close(rec->fd);
	rec->hdr = NULL;
	rec->bitmap = NULL;
	rec->fd = -1;
}
