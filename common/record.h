/* record.h - the per-file shadow record: create, load and validate, test and mark pages, lower_len, sync.
 *
 * A record is one file: a 4096-byte header page (struct ps_record_disk, little-endian, CRC-protected identity)
 * followed by the page bitmap, sized once at creation for the lower file's size and left sparse. Every process
 * maps it MAP_SHARED, so the mapping is the single source of truth: bits and lower_len change in place with
 * atomic stores, never through a private copy. See docs/FORMAT.md.
 *
 * Invariants: lower_len only ever decreases; bits are consulted only for pages below lower_len; a bit is set
 * only after its page's bytes are in the data file (the caller's job, see merge.h).
 * Errors: -EILSEQ corrupt (magic, CRC, sizes), -EPROTO unknown version, -ESTALE lower file changed or gone,
 * or the -errno of a failed system call. Every validation failure logs one line naming the file.
 */
#ifndef PS_RECORD_H
#define PS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define PS_PAGE_SIZE 4096u
#define PS_PAGE_SHIFT 12
#define PS_RECORD_MAGIC "PSHDWREC"
#define PS_RECORD_VERSION 1u
#define PS_RECORD_HEADER_SIZE 4096u

/* flags */
#define PS_REC_HAS_LOWER 0x1u /* the file has a lower file whose pages show through below lower_len */

struct ps_record_disk {
	char magic[8];             /*   0 PS_RECORD_MAGIC */
	uint32_t version;          /*   8 PS_RECORD_VERSION */
	uint32_t header_size;      /*  12 offset of the bitmap: 4096 */
	uint32_t page_size;        /*  16 4096 */
	uint32_t flags;            /*  20 PS_REC_* */
	uint64_t lower_ino;        /*  24 identity of the lower file at creation ... */
	uint64_t lower_dev;        /*  32 ... st_dev: recorded, not compared (it changes on remount) */
	uint64_t lower_size;       /*  40 */
	int64_t lower_mtime_sec;   /*  48 */
	uint32_t lower_mtime_nsec; /*  56 */
	uint32_t lower_mode;       /*  60 informational */
	uint64_t bitmap_bits;      /*  64 pages the bitmap covers: ceil(lower_size / 4096) */
	uint8_t reserved[52];      /*  72 zero */
	uint32_t crc;              /* 124 CRC-32C of bytes [0, 124) */
	uint64_t lower_len;        /* 128 mutable: bytes of the lower file still visible */
	uint32_t attr_flags;       /* 136 mutable: PS_ATTR_* - which of the fields below replace the lower file's */
	uint32_t mode;             /* 140 permission bits (07777) set by chmod */
	uint32_t uid;              /* 144 owner set by chown ... */
	uint32_t gid;              /* 148 ... and group */
	uint32_t origin_len;       /* 152 length of origin; 0: the lower file is at the file's own name */
	uint32_t reserved2;        /* 156 zero */
	uint64_t data_ino;         /* 160 inode of the data file that belongs to this record (0: not recorded) */
	uint64_t backing_gen;      /* 168 mutable: counts the changes of which file a page below lower_len comes
				    * from (a bit set, lower_len lowered); memory maps laid out page by page are
				    * laid out again when it moves (zero in older records: counting starts there) */
	uint8_t reserved3[848];    /* 176 zero */
	char origin[3072];         /* 1024 where the lower file is, below the prefix, once the file was renamed or
				    * linked away from it (NUL-terminated); set once, before the rename */
};

#define PS_RECORD_ORIGIN_MAX 3071

/* attr_flags: attributes of a file with a lower file, changed through the shim (a file without one keeps them on
 * its data file). Set only ever; the value is stored before its flag. */
#define PS_ATTR_MODE 0x1u
#define PS_ATTR_OWNER 0x2u
#define PS_ATTR_XATTRS 0x4u /* the data file's extended attributes replace the lower file's (xattr.h) */
#define PS_ATTR_COMMITTING 0x8u /* `pageshadow commit` is writing the shadowed pages into the lower file itself:
				 * the lower file no longer matches the record's identity, and commit run again
				 * finishes the job (docs/FORMAT.md) */

struct ps_record {
	int fd;                     /* the record file, O_RDWR: also the inode that carries the file's locks */
	struct ps_record_disk *hdr; /* MAP_SHARED over the whole file */
	uint8_t *bitmap;
	uint64_t map_len;
	uint64_t nbits;
	int has_lower;
};

/* Size in bytes of a record for a lower file of lower_size bytes (0 for a file with no lower). */
uint64_t ps_record_file_size(uint64_t lower_size);

/* Write a fresh record into the empty file fd: the header for lower (NULL: a file created in the shadow, with no
 * lower) and a sparse bitmap. Returns 0 or -errno. */
int ps_record_format(int fd, const struct stat *lower);

/* Map and validate the record in fd (taken over on success) against the lower file's current stat (NULL when it
 * has none). name is for the log line. Returns 0 or a validation error. */
int ps_record_load(struct ps_record *rec, int fd, const struct stat *lower, const char *name);

/* Make the record in fd (not mapped by this process) shadow the lower file as it is now (lower): its identity
 * (inode, device, mtime, mode) is rewritten and the CRC with it; the bitmap, lower_len and the rest stay - the
 * shadowed pages keep the program's bytes, every other page shows the new lower bytes. Only for a record with a
 * lower file of the same size (the bitmap's length follows the size: -EFBIG otherwise, and why says so); -EINVAL
 * for a record without a lower file; 0 when it was current already. Synced. */
int ps_record_file_rebase(int fd, const struct stat *lower, char *why, size_t whysz);

/* Validate a header page alone (used by load and by the tools). why receives a short reason on failure. */
/* Read and check the header of the record open at fd without mapping it - enough to tell a file that lives wholly
 * in the shadow (no PS_REC_HAS_LOWER) from one with a lower file: 0 (the whole header page read and checked), 1
 * when it has a lower file (only the fields up to data_ino read, identity not checked), or -errno (-EILSEQ: not a
 * valid one). */
int ps_record_peek(int fd, struct ps_record_disk *hdr);

int ps_record_check_header(const struct ps_record_disk *hdr, uint64_t file_size, const struct stat *lower,
			   char *why, size_t whysz);

static inline uint64_t ps_record_lower_len(const struct ps_record *rec)
{
	return __atomic_load_n(&rec->hdr->lower_len, __ATOMIC_ACQUIRE);
}

/* Lower lower_len to len (no effect when len is not smaller; counted in backing_gen). Call with the file's
 * copy-up lock held. */
void ps_record_shrink_lower_len(struct ps_record *rec, uint64_t len);

/* Where the record says its lower file is (below the prefix), into out: the length, 0 when it is at the file's
 * own name, -errno. Reads the record file fd, which need not be loaded yet (the lower file is opened before). */
int ps_record_read_origin(int fd, char *out, size_t outsz);
/* Record that the lower file is at origin (below the prefix): before the file moves away from it. 0 or
 * -ENAMETOOLONG. */
int ps_record_set_origin(struct ps_record *rec, const char *origin);
/* The same in a record file not mapped by this process (fd), when the record has a lower file and no origin yet;
 * synced. 0 or -errno. */
int ps_record_file_keep_origin(int fd, const char *origin);
static inline int ps_record_has_origin(const struct ps_record *rec)
{
	return __atomic_load_n(&rec->hdr->origin_len, __ATOMIC_ACQUIRE) != 0;
}
/* The origin as a string (NUL-terminated within its field: checked at load, and written before origin_len). */
static inline const char *ps_record_origin(const struct ps_record *rec)
{
	return rec->hdr->origin;
}

/* Write the inode of the record's data file into a record file not yet in place (fd): a reader that finds a
 * record and a data file that do not belong together (a rename is moving them) tells it. 0 or -errno. */
int ps_record_file_set_data_ino(int fd, uint64_t ino);

/* The mode of a new file whose data file cannot have it (its data file stays its owner's to read and write), into
 * a record file not yet in place (fd). 0 or -errno. */
int ps_record_file_set_mode(int fd, mode_t mode);

/* chmod and chown of a file with a lower file, or of a new file whose mode its data file cannot carry: the
 * record's attributes replace the lower file's (or the data file's). */
void ps_record_set_mode(struct ps_record *rec, mode_t mode);
void ps_record_set_owner(struct ps_record *rec, uid_t uid, gid_t gid);
/* Set attr_flags bits (after what they announce is in place). */
void ps_record_set_attr_flags(struct ps_record *rec, uint32_t bits);
uint32_t ps_record_attr_flags(const struct ps_record *rec);

int ps_record_page_is_shadowed(const struct ps_record *rec, uint64_t page);
/* Set page's bit (its bytes are in the data file by now) and count the change in backing_gen. */
void ps_record_mark_page(struct ps_record *rec, uint64_t page);

/* backing_gen: read before looking at the bits, so that a change made meanwhile is seen next time. */
static inline uint64_t ps_record_backing_gen(const struct ps_record *rec)
{
	return __atomic_load_n(&rec->hdr->backing_gen, __ATOMIC_ACQUIRE);
}

/* Pages copied up (bits set) below lower_len. */
uint64_t ps_record_shadowed_pages(const struct ps_record *rec);

/* Flush the mapping and the file to disk. */
int ps_record_sync(struct ps_record *rec);

/* Unmap and close. */
void ps_record_release(struct ps_record *rec);

uint32_t ps_crc32c(const void *buf, uint64_t len);

#endif
