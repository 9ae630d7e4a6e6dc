/* pageshadow-exec.c - what posix_spawn runs when its target needs the supervisor.
 *
 * glibc's posix_spawn applies the file actions and attributes in its child and then execs from inside libc, where
 * the shim cannot start a supervisor (shim/exec.c). For a static or Go target the shim spawns this program
 * instead, with the same actions and attributes: its exec is the shim's, which supervises the target exactly as
 * a shimmed program's own exec would. Usage: pageshadow-exec PATH [ARGV0 ARG...]. A failed exec exits 127, as a
 * posix_spawn child whose exec failed does. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: pageshadow-exec PATH [ARGV0 ARG...] (started by libpageshadow.so's posix_spawn)\n", stderr);
		return 127;
	}
	execv(argv[1], argv + 2);
	fprintf(stderr, "pageshadow-exec: cannot run %s: %s\n", argv[1], strerror(errno));
	return 127;
}
