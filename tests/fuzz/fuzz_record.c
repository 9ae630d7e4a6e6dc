/* fuzz_record.c - libFuzzer target: a record file of any bytes is loaded and validated as the shim does on a
 * first open, and a record that passes is used as the engine uses one (pages tested and counted, lower_len,
 * origin, attributes). Nothing may crash or read outside the record; an invalid one must be refused.
 *
 * The lower file's identity is taken from the input's own header fields, so that inputs reach past the identity
 * checks (a crafted record always names the lower file it sits beside). Build and run: make fuzz.
 */
#include "log.h"
#include "record.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* libFuzzer's entry points */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ps_log_init(open("/dev/null", O_WRONLY | O_CLOEXEC), 0, "fuzz_record");
	memfd = memfd_create("record", MFD_CLOEXEC);
	return memfd < 0;
}

/* The identity a lower file beside this record would have to have. */
static void lower_from(const uint8_t *data, size_t size, struct stat *lower)
{
	struct ps_record_disk hdr;

	memset(&hdr, 0, sizeof(hdr));
	memcpy(&hdr, data, size < sizeof(hdr) ? size : sizeof(hdr));
	memset(lower, 0, sizeof(*lower));
	lower->st_ino = (ino_t)hdr.lower_ino;
	lower->st_size = (off_t)hdr.lower_size;
	lower->st_mtim.tv_sec = (time_t)hdr.lower_mtime_sec;
	lower->st_mtim.tv_nsec = (long)hdr.lower_mtime_nsec;
}

/* Use a valid record the way the engine does. */
static void use(struct ps_record *rec)
{
	uint64_t lower_len = ps_record_lower_len(rec), last = lower_len ? (lower_len - 1) / PS_PAGE_SIZE : 0;
	char origin[PS_RECORD_ORIGIN_MAX + 1];
	volatile uint64_t sink = 0;

	sink += (uint64_t)ps_record_page_is_shadowed(rec, 0);
	sink += (uint64_t)ps_record_page_is_shadowed(rec, last);
	sink += (uint64_t)ps_record_page_is_shadowed(rec, last + 1);
	sink += ps_record_shadowed_pages(rec);
	sink += ps_record_attr_flags(rec) + ps_record_backing_gen(rec);
	/* the engine prints the origin as a string: a loaded record's must end within its field (a read past it
	 * would go unnoticed here, the map being no heap memory) */
	if (ps_record_has_origin(rec) && !memchr(ps_record_origin(rec), '\0', sizeof(rec->hdr->origin)))
		abort();
	sink += (uint64_t)ps_record_read_origin(rec->fd, origin, sizeof(origin));
	ps_record_mark_page(rec, last);
	ps_record_shrink_lower_len(rec, lower_len / 2);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_record rec;
	struct stat lower;
	int fd;

	if (size > (1u << 20))
		return 0;
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size || (fd = dup(memfd)) < 0)
		abort();
	lower_from(data, size, &lower);
	memset(&rec, 0, sizeof(rec));
	if (ps_record_load(&rec, fd, &lower, "fuzz") == 0) {
		use(&rec);
		ps_record_release(&rec); /* closes fd */
	} else {
		close(fd);
	}
	return 0;
}
