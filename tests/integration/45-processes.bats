#!/usr/bin/env bats
# 45-processes.bats - several processes on one shadow: vfork children, forked creators, a rename seen by another
# process, and the descriptor-level flags that say where a write lands.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	mkdir -p "$LOWER/dir"
	head -c 65536 /dev/zero | tr '\0' A >"$LOWER/a.bin" # 16 pages of 'A'
	printf 'lower content\n' >"$LOWER/f.txt"
	lower_ready
}

teardown() {
	ps_teardown
}

# Python's subprocess runs the child with vfork and calls close_range in it: in the parent's memory.
@test "a vfork child's close_range and dup2 leave the parent's merged descriptors intact" {
	run_both '
		ps_exec python3 -c "
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b\"B\", 0)
subprocess.run([\"true\"], check=True)
subprocess.run([\"true\"], stdout=open(os.devnull, \"w\"), check=True)
print(os.pread(fd, 3, 4096), os.pread(fd, 2, 0))
os.pwrite(fd, b\"W\", 8192)
os.close(fd)
os.write(1, b\"stdout still works\\n\")
print(open(sys.argv[1], \"rb\").read()[8190:8195])
" "$RO/a.bin"
	'
	grep -qx "b'AAA' b'BA'" "$T/stdout.ro"
}

@test "forked shells creating files at the same moment lose none" {
	run_both '
		ps_exec bash -c "for i in \$(seq 1 60); do echo \$i >\"\$RO/dir/out\$i\" & done; wait
			for i in \$(seq 1 60); do cat \"\$RO/dir/out\$i\"; done | sha256sum"
	'
}

@test "a file renamed over by another process reads as the new file in a process that had it open" {
	run_both '
		ps_exec python3 -c "
import os, subprocess, sys
p = sys.argv[1]
held = os.open(p, os.O_RDWR)
os.pwrite(held, b\"X\", 0)
subprocess.run([\"bash\", \"-c\", \"echo replaced >\\\"\$1.tmp\\\" && mv \\\"\$1.tmp\\\" \\\"\$1\\\"\", \"-\", p], check=True)
print(open(p, \"rb\").read(), os.pread(held, 14, 0))
" "$RO/f.txt"
	'
	grep -qx "b'replaced\\\\n' b'Xower content\\\\n'" "$T/stdout.ro"
}

@test "pwritev2 with RWF_APPEND appends, on a descriptor opened without O_APPEND" {
	run_both '
		ps_exec python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
print(os.pwritev(fd, [b\"ZZ\"], 0, os.RWF_APPEND), os.fstat(fd).st_size, os.pread(fd, 2, 0), os.pread(fd, 2, 65536))
" "$RO/a.bin"
	'
	grep -qx "2 65538 b'AA' b'ZZ'" "$T/stdout.ro"
}

@test "truncate of a device node or a FIFO under a prefix answers as the real call and does not block" {
	[ "$(id -u)" = 0 ] || skip "needs root to make a device node in the lower tree"
	rm -f "$T/.lower_ready"
	mknod "$LOWER/nulldev" c 1 3
	mkfifo "$LOWER/fifo"
	lower_ready
	run_both '
		ps_exec python3 -c "
import os, sys
for name in (\"nulldev\", \"fifo\"):
    try:
        os.truncate(os.path.join(sys.argv[1], name), 0); print(name, \"ok\")
    except OSError as e:
        print(name, e.strerror)
" "$RO"
	'
}

@test "a lower descriptor inherited across exec after another process changed its file reads the merged bytes" {
	run_both '
		ps_exec bash -c "exec 3<\"$RO/f.txt\"; printf XY | dd of=\"$RO/f.txt\" conv=notrunc status=none; cat <&3"
	'
	expect_eq "$(cat "$T/stdout.ro")" "XYwer content" "what the new program read through the inherited descriptor"
}
