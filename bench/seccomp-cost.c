/* seccomp-cost.c - what a seccomp filter costs every syscall, and what a SIGSYS trap costs (docs/DESIGN.md, "No way
 * around the shim"). Build and run: make bench-seccomp. Prints ns per 4 KiB pread with no filter, with one filter
 * of the size a file-syscall trap needs, with five stacked (one per exec depth), and one trapped call's round trip.
 * The filters only compare and allow: the cost measured is the one every untouched read would pay.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define CALLS 400000

static int fd;
static char buf[4096];

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double pread_ns(void)
{
	double t = now_ns();

	for (int i = 0; i < CALLS; i++)
		if (pread(fd, buf, sizeof(buf), (off_t)(i % 64) * 4096) < 0)
			exit(1);
	return (now_ns() - t) / CALLS;
}

/* Compare the syscall number with 16 file calls, as a trapping filter would, then allow; trap_nr (>= 0) traps. */
static void add_filter(int trap_nr)
{
	static const int file_calls[16] = { SYS_open,	SYS_openat, SYS_read,  SYS_write, SYS_pread64, SYS_pwrite64,
					    SYS_readv,	SYS_writev, SYS_close, SYS_stat,  SYS_fstat,   SYS_lstat,
					    SYS_lseek,	SYS_ftruncate, SYS_truncate, SYS_newfstatat };
	struct sock_filter f[40];
	struct sock_fprog prog;
	int k = 0;

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	if (trap_nr >= 0) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)trap_nr, 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	}
	for (int i = 0; i < 16; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)file_calls[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		perror("seccomp");
		exit(1);
	}
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = 1; /* the emulated call's result */
}

int main(void)
{
	struct sigaction sa = { 0 };
	double t;

	fd = open("/bin/bash", O_RDONLY); /* any file of 256 KiB or more: every read is a full page */
	if (fd < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 1;
	pread_ns(); /* warm the page cache */
	printf("pread 4 KiB, no filter:        %6.0f ns\n", pread_ns());
	add_filter(-1);
	printf("one filter (33 instructions):  %6.0f ns\n", pread_ns());
	for (int i = 0; i < 4; i++)
		add_filter(-1);
	printf("five stacked filters:          %6.0f ns\n", pread_ns());
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	add_filter(SYS_getppid);
	t = now_ns();
	for (int i = 0; i < CALLS / 4; i++)
		syscall(SYS_getppid);
	printf("one SIGSYS trap, round trip:   %6.0f ns\n", (now_ns() - t) / (CALLS / 4));
	return 0;
}
