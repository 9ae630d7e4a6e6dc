/* filter.h - the seccomp filter of a supervised program, and what the kernel must offer to supervise one.
 *
 * A program the shim cannot enter (static, Go) runs with a filter that sends the calls of supervised.def to a
 * supervisor through a seccomp user-notification listener (DESIGN.md "Programs the shim cannot enter"). Pure
 * except ps_filter_probe: the program is built into a caller's buffer, so a unit test can run it.
 */
#ifndef PS_FILTER_H
#define PS_FILTER_H

#include <linux/filter.h>
#include <stddef.h>

/* The filter answers prctl(PS_FILTER_PROBE_OPTION) with this errno and no notification: a shim that starts in a
 * supervised process learns it in one call and stands aside (the supervisor serves the process). Without the
 * filter the kernel says EINVAL. */
#define PS_FILTER_PROBE_OPTION 0x50536876UL
#define PS_FILTER_PROBE_ERRNO 3917

/* Descriptor calls are sent for the standard descriptors too (below this number): a program moves a file onto
 * them (a shell's redirection, busybox dd's output) where the supervisor cannot make another number trap. */
#define PS_FILTER_STDIO 3U

/* A merged descriptor a program inherits above 2 (`exec 3<>/ro/f; prog`) keeps its number: the filter sends its
 * calls too. These "low numbers" and 0-2 together are at most this many. */
#define PS_FILTER_LOW_MAX 16U

/* How many merged descriptors a program can hold at once: the numbers from the threshold up. */
#define PS_FILTER_ROOM 4096U

/* The room a filter needs, in instructions. */
#define PS_FILTER_MAX 2048

/* Build the filter for descriptors 0-2, low[0..nlow) (each between 2 and threshold) and from threshold up into
 * prog (room for cap instructions). Returns the number of instructions, or -ENOSPC, -E2BIG (too many low
 * numbers), -EINVAL (one out of range). */
int ps_filter_build(unsigned threshold, const int *low, size_t nlow, struct sock_filter *prog, size_t cap);

/* Where a supervisor installs the descriptors that need the merge: a threshold below the hard limit on open
 * files, far above what programs use, with room above it. 0 when the limit leaves no such room. */
unsigned ps_filter_threshold(unsigned long hard_limit);

/* Can this kernel supervise a program? 0, or -1 and the missing feature named in why. */
int ps_filter_probe(char *why, size_t whysz);

#endif
