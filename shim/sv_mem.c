/* sv_mem.c - the supervised program's memory (process_vm_readv/writev) and what /proc says of it (sv.h).
 *
 * A string is read a page at a time up to its NUL: a read across an unmapped page fails as a whole, and a path
 * may end just before one.
 */
#include "sv.h"

#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096UL

static int transfer(const struct sv_call *c, uint64_t addr, void *local, size_t n, int to_program)
{
	while (n > 0) {
		struct iovec l = { local, n }, r = { (void *)(uintptr_t)addr, n };
		ssize_t done = to_program ? process_vm_writev(c->pid, &l, 1, &r, 1, 0)
					  : process_vm_readv(c->pid, &l, 1, &r, 1, 0);

		if (done <= 0)
			return -EFAULT; /* ESRCH (gone), EFAULT, EPERM: the program cannot be given an answer but EFAULT */
		addr += (uint64_t)done;
		local = (char *)local + done;
		n -= (size_t)done;
	}
	return 0;
}

int sv_peek(const struct sv_call *c, uint64_t addr, void *out, size_t n)
{
	return transfer(c, addr, out, n, 0);
}

int sv_poke(const struct sv_call *c, uint64_t addr, const void *in, size_t n)
{
	return transfer(c, addr, (void *)in, n, 1);
}

int sv_read_string(const struct sv_call *c, uint64_t addr, char *out, size_t outsz)
{
	size_t got = 0;

	if (!addr)
		return -EFAULT;
	while (got < outsz) {
		size_t n = PAGE - ((addr + got) & (PAGE - 1));
		char *nul;

		if (n > outsz - got)
			n = outsz - got;
		if (transfer(c, addr + got, out + got, n, 0) < 0)
			return -EFAULT;
		if ((nul = memchr(out + got, '\0', n)) != NULL)
			return 0;
		got += n;
	}
	return -ENAMETOOLONG;
}

int sv_proc_status(pid_t pid, const char *field, int base, long *value)
{
	char path[64], buf[4096], *at;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = (int)REAL(syscall)(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(at = strstr(buf, field)) || (at != buf && at[-1] != '\n'))
		return -1;
	*value = strtol(at + strlen(field), NULL, base);
	return 0;
}

pid_t sv_tgid_of(pid_t tid)
{
	long tgid;

	return sv_proc_status(tid, "Tgid:", 10, &tgid) == 0 ? (pid_t)tgid : tid;
}
