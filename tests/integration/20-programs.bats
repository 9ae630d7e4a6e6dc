#!/usr/bin/env bats
# 20-programs.bats - unmodified programs on a really read-only tree (a read-only bind mount in a private mount
# namespace) under the shim, each compared with the same commands on a writable copy: identical stdout/stderr,
# identical bytes read back, the lower tree's checksums unchanged, and strace showing no write access to a lower
# path (helpers.bash: run_both).

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
}

teardown() {
	ps_teardown
}

# A text file of several pages and a binary file with a hole in the middle.
make_text_tree() {
	mkdir -p "$LOWER/sub"
	seq -f 'line %06g of the lower file' 1 2000 >"$LOWER/text.txt" # 58000 bytes, 15 pages
	head -c 20000 /dev/urandom >"$LOWER/bin.dat"
	truncate -s 60000 "$LOWER/bin.dat"
	head -c 5000 /dev/urandom >>"$LOWER/bin.dat"
	printf 'one\ntwo\nthree\n' >"$LOWER/sub/small.txt"
	chmod 0640 "$LOWER/sub/small.txt"
	lower_ready
}

@test "the tree is really read-only without the shim" {
	make_text_tree
	in_ro_ns '
		if { echo x >>"$RO/text.txt"; } 2>"$T/err"; then echo "appending to the lower file worked without the shim" >&2; exit 1; fi
		grep -q "Read-only file system" "$T/err"
		expect_eq "$("$PS_PROBE" open "$RO/text.txt" rw)" EROFS "O_RDWR open without the shim"
		expect_eq "$("$PS_PROBE" open "$RO/new" "wronly|creat")" EROFS "O_CREAT open without the shim"
		expect_eq "$("$PS_PROBE" statfs "$RO" | head -1)" "statvfs rdonly" "statvfs without the shim"
	'
	assert_lower_unchanged
}

@test "assert_no_lower_writes flags writes and passes reads (self-test of the strace check)" {
	[ "$PS_TRACE" = 1 ] || skip "strace cannot trace here"
	local d=$T/plain
	mkdir -p "$d"
	echo old >"$d/file"
	echo keep >"$d/other"
	strace -ff -y -qq -o "$T/w1" -e trace="$PS_TRACE_SET" bash -c "echo x > '$d/file'"
	run assert_no_lower_writes "$T/w1" "$d"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$d/file"* ]]
	strace -ff -y -qq -o "$T/w2" -e trace="$PS_TRACE_SET" truncate -s 1 "$d/file"
	run assert_no_lower_writes "$T/w2" "$d"
	[ "$status" -ne 0 ]
	# a write through a descriptor opened before tracing started: only strace -y's fd path shows it
	exec 5<>"$d/other"
	strace -ff -y -qq -o "$T/w3" -e trace="$PS_TRACE_SET" bash -c 'echo y >&5'
	exec 5>&-
	run assert_no_lower_writes "$T/w3" "$d"
	[ "$status" -ne 0 ]
	[[ "$output" == *"write(1<$d/other>"* ]]
	strace -ff -y -qq -o "$T/w4" -e trace="$PS_TRACE_SET" cp "$d/file" "$T/copied"
	run assert_no_lower_writes "$T/w4" "$d"
	[ "$status" -eq 0 ]
	strace -ff -y -qq -o "$T/w5" -e trace="$PS_TRACE_SET" bash -c "cd '$d' && cat file other >/dev/null && ls >/dev/null"
	run assert_no_lower_writes "$T/w5" "$d"
	[ "$status" -eq 0 ]
}

@test "cat of a modified file into a file outside the tree and into a pipe" {
	make_text_tree
	run_both '
		probe pwrite "$RO/text.txt" 8190 "[page-boundary-write]"
		ps_exec cat "$RO/text.txt" >"$XOUT/cat.out"
		ps_exec cat "$RO/text.txt" | wc -c
		ps_exec cat "$RO/text.txt" | sha256sum
		ps_exec cat "$RO/bin.dat" "$RO/text.txt" "$RO/sub/small.txt" | ps_exec wc -c
		ps_exec cat "$RO/bin.dat" >"$XOUT/bin.out"
	'
}

@test "cmp and sha256sum see a modified file as on a writable copy" {
	make_text_tree
	run_both '
		cp "$RO/bin.dat" "$XOUT/orig.dat"
		probe pwrite-fill "$RO/bin.dat" 4096 100 0x55
		probe pwrite-fill "$RO/bin.dat" 61000 10 0x66
		ps_exec cmp "$RO/bin.dat" "$XOUT/orig.dat" || echo "cmp status $?"
		ps_exec cmp -l "$RO/bin.dat" "$XOUT/orig.dat" | wc -l || true
		ps_exec sha256sum "$RO/bin.dat" "$RO/text.txt"
	'
}

# The shell opens the file (under the shim) and execs the program with it as fd 0: the program's shim must read it
# as the merged file, not as the sparse data file behind the descriptor.
@test "a program reading a modified file from a shimmed shell's < redirection sees the merged bytes" {
	make_text_tree
	run_both '
		probe pwrite-fill "$RO/bin.dat" 4096 100 0x55
		probe pwrite "$RO/text.txt" 0 "HEAD"
		ps_exec bash -c "sha256sum < \"\$RO/bin.dat\""
		ps_exec bash -c "tail -c 30 < \"\$RO/text.txt\""
		ps_exec bash -c "wc -c < \"\$RO/text.txt\"; head -c 10 < \"\$RO/text.txt\""
	'
}

# The kernel opens /dev/stdin, /dev/fd/N and /proc/self/fd/N anew from the file behind the descriptor: for a
# merged descriptor that is the data file (or the lower file), so the shim opens the merged file itself.
@test "a modified file opened by its descriptor's name (/dev/stdin, /dev/fd/N, /proc/self/fd/N) reads and writes merged" {
	make_text_tree
	run_both '
		probe pwrite-fill "$RO/bin.dat" 4096 100 0x55
		ps_exec bash -c "sha256sum /dev/stdin < \"\$RO/bin.dat\""
		ps_exec bash -c "exec 4<\"\$RO/bin.dat\"; sha256sum /dev/fd/4 /proc/self/fd/4; cmp /dev/fd/4 \"\$RO/bin.dat\" && echo same"
		ps_exec bash -c "stat -L -c %s /dev/stdin < \"\$RO/bin.dat\"; wc -c < /dev/stdin < \"\$RO/bin.dat\""
		ps_exec bash -c "printf YY | dd of=/dev/stdout bs=1 seek=5000 conv=notrunc status=none 1<>\"\$RO/bin.dat\""
		ps_exec sha256sum "$RO/bin.dat"
	'
}

@test "sed -n p reads a modified file and sed -i edits it in place" {
	make_text_tree
	run_both '
		probe pwrite "$RO/text.txt" 29 "CHANGED"
		ps_exec sed -n "1,3p;1999,2000p" "$RO/text.txt"
		ps_exec sed -i "s/^line 0000\(..\)/LINE \1/; 500d" "$RO/text.txt"
		ps_exec sed -n "1,3p;498,501p;\$p" "$RO/text.txt"
		ps_exec sed -i "2i inserted" "$RO/sub/small.txt"
		ps_exec cat "$RO/sub/small.txt"
		ps_exec sed -i -e "\$a appended" "$RO/sub/small.txt"
		ps_exec sed -n p "$RO/sub/small.txt"
	'
}

@test "grep finds bytes written through the shim and no longer finds the ones replaced" {
	make_text_tree
	run_both '
		probe pwrite "$RO/text.txt" 58 "needle in page zero"
		probe pwrite "$RO/text.txt" 40600 "needle in page nine"
		ps_exec grep -n needle "$RO/text.txt"
		ps_exec grep -c "of the lower file" "$RO/text.txt"
		ps_exec grep -n "line 000003 " "$RO/text.txt" || echo "grep status $?"
		ps_exec grep -l needle "$RO/text.txt" "$RO/sub/small.txt"
	'
}

@test "dd conv=notrunc writes across page boundaries, past the end and in append mode" {
	make_text_tree
	head -c 9000 /dev/urandom >"$T/patch"
	run_both '
		ps_exec dd if="$T/patch" of="$RO/bin.dat" bs=1000 seek=3 count=9 conv=notrunc status=none
		ps_exec dd if="$T/patch" of="$RO/bin.dat" bs=1 seek=8191 count=2 conv=notrunc status=none
		ps_exec dd if="$T/patch" of="$RO/text.txt" bs=4096 seek=20 count=1 conv=notrunc status=none
		ps_exec dd if="$T/patch" of="$RO/sub/small.txt" bs=100 count=3 oflag=append conv=notrunc status=none
		ps_exec dd if="$RO/bin.dat" bs=512 skip=7 count=20 status=none | sha256sum
		ps_exec stat -c %s "$RO/bin.dat" "$RO/text.txt" "$RO/sub/small.txt"
	'
}

@test "truncate shrinks and grows a lower file, and the regrown part reads as zeros" {
	make_text_tree
	run_both '
		ps_exec truncate -s 3000 "$RO/text.txt"
		ps_exec stat -c %s "$RO/text.txt"
		ps_exec truncate -s 20000 "$RO/text.txt"
		ps_exec stat -c %s "$RO/text.txt"
		ps_exec tail -c 17000 "$RO/text.txt" | od -An -tx1 | sort -u
		ps_exec truncate -s 70000 "$RO/bin.dat"
		ps_exec truncate -s 10 "$RO/sub/small.txt"
		ps_exec truncate -s +5 "$RO/sub/small.txt"
		ps_exec od -c "$RO/sub/small.txt"
		ps_exec sha256sum "$RO/text.txt" "$RO/bin.dat"
	'
}

@test "head and tail read the merged file, tail from its end" {
	make_text_tree
	run_both '
		probe pwrite "$RO/text.txt" 57990 "TAILWRITE"
		probe pwrite "$RO/text.txt" 0 "HEADWRITE"
		ps_exec head -n 2 "$RO/text.txt"
		ps_exec head -c 100 "$RO/bin.dat" | od -An -tx1
		ps_exec tail -n 2 "$RO/text.txt"
		ps_exec tail -c 5000 "$RO/text.txt" | sha256sum
		ps_exec bash -c "echo appended line >> \"\$RO/text.txt\""
		ps_exec tail -n 1 "$RO/text.txt"
	'
}

python_script='
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(5000)
    f.write(b"PYTHON-WROTE-THIS")
    f.seek(4990)
    print(f.read(40))
    f.seek(0, os.SEEK_END)
    f.write(b"tail\n")
    print(f.tell())
with open(p, "rb") as f:
    data = f.read()
print(len(data), data[4995:5025])
'

@test "python3 on PATH opens r+b, seeks, writes and reads back" {
	command -v python3 >/dev/null || skip "no python3 on PATH"
	make_text_tree
	export python_script
	run_both '
		ps_exec python3 -c "$python_script" "$RO/text.txt"
		ps_exec python3 -c "$python_script" "$RO/text.txt"
		ps_exec sha256sum "$RO/text.txt"
	'
}

@test "/usr/bin/python3 opens r+b, seeks, writes and reads back" {
	[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"
	make_text_tree
	export python_script
	run_both '
		ps_exec /usr/bin/python3 -c "$python_script" "$RO/bin.dat"
		ps_exec /usr/bin/python3 -c "$python_script" "$RO/sub/small.txt"
		ps_exec sha256sum "$RO/bin.dat" "$RO/sub/small.txt"
	'
}

@test "shell redirections > and >> in a shimmed bash write to the tree" {
	make_text_tree
	run_both '
		ps_exec bash -c "echo appended >> \"\$RO/sub/small.txt\"; echo again >> \"\$RO/sub/small.txt\""
		ps_exec bash -c "echo replaced > \"\$RO/text.txt\""
		ps_exec bash -c "cat \"\$RO/sub/small.txt\" \"\$RO/text.txt\"; printf %s\\\\n \"\$(wc -c < \"\$RO/text.txt\")\""
		ps_exec bash -c "echo more >> \"\$RO/text.txt\"; exec 4>>\"\$RO/bin.dat\"; echo fd4 >&4; exec 4>&-; tail -c 4 \"\$RO/bin.dat\""
	'
}

# bash's builtins and printf(1) write through stdio, whose flush calls glibc's internal write: only what the open
# returned (the data file descriptor) sees those bytes.
@test "a shimmed bash overwrites lower bytes in place through a <> redirection" {
	make_text_tree
	run_both '
		ps_exec bash -c "exec 4<>\"\$RO/bin.dat\"; printf XY >&4; exec 4>&-; head -c 4 \"\$RO/bin.dat\" | od -An -tx1"
		ps_exec bash -c "/usr/bin/printf AB 1<>\"\$RO/text.txt\"; head -c 4 \"\$RO/text.txt\""
	'
}

@test "sqlite3 UPDATEs a database in the tree, integrity_check is ok, twice" {
	command -v sqlite3 >/dev/null || skip "no sqlite3"
	mkdir -p "$LOWER"
	sqlite3 "$LOWER/db.sqlite" "
		CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v TEXT);
		WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
		INSERT INTO t SELECT i, 'name' || i, hex(randomblob(40)) FROM c;
		CREATE INDEX t_name ON t(name);"
	lower_ready
	run_both '
		ps_exec sqlite3 "$RO/db.sqlite" "UPDATE t SET v = upper(v) || id WHERE id % 7 = 0;
			UPDATE t SET name = name || \"-x\" WHERE id BETWEEN 1000 AND 1200;
			PRAGMA integrity_check;"
		ps_exec sqlite3 "$RO/db.sqlite" "DELETE FROM t WHERE id % 11 = 0;
			INSERT INTO t(name, v) VALUES (\"second run\", \"v\");
			PRAGMA integrity_check;"
		ps_exec sqlite3 "$RO/db.sqlite" "SELECT count(*), sum(length(v)), max(id) FROM t; PRAGMA integrity_check;"
		ps_exec sqlite3 "$RO/db.sqlite" .dump | sha256sum
		test "$(ps_exec sqlite3 "$RO/db.sqlite" "PRAGMA integrity_check;")" = ok
	'
	[ "$(grep -c '^ok$' "$T/stdout.ro")" -eq 3 ]
}

@test "cp copies a modified lower file out of the tree (copy_file_range) and a file into it" {
	make_text_tree
	echo "from outside" >"$T/outside.txt"
	run_both '
		probe pwrite-fill "$RO/bin.dat" 24576 4096 0x41
		probe pwrite "$RO/text.txt" 100 "modified before cp"
		ps_exec cp "$RO/bin.dat" "$XOUT/bin.copy"
		ps_exec cp --sparse=always "$RO/bin.dat" "$XOUT/bin.sparse"
		ps_exec cp "$RO/text.txt" "$XOUT/text.copy"
		ps_exec cp "$T/outside.txt" "$RO/sub/small.txt"
		ps_exec cat "$RO/sub/small.txt"
	'
}

@test "python shutil.copyfile copies a modified lower file out (sendfile) and into the tree" {
	PY=/usr/bin/python3 # the interpreter on PATH may be a launcher script, slow under strace: tested above
	[ -x "$PY" ] || PY=$(command -v python3) || skip "no python3"
	export PY
	make_text_tree
	echo "copied in by shutil" >"$T/outside.txt"
	run_both '
		probe pwrite "$RO/text.txt" 30000 "modified before shutil"
		ps_exec "$PY" -c "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])" "$RO/text.txt" "$XOUT/text.copy"
		ps_exec "$PY" -c "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])" "$T/outside.txt" "$RO/bin.dat"
		ps_exec cat "$RO/bin.dat"
	'
}

@test "a new file created under the prefix reads back, in a subdirectory too" {
	make_text_tree
	run_both '
		ps_exec bash -c "printf \"brand new\\n\" > \"\$RO/new.txt\"; seq 1 3000 > \"\$RO/sub/new-seq.txt\""
		ps_exec cat "$RO/new.txt"
		ps_exec wc -l "$RO/sub/new-seq.txt"
		ps_exec stat -c "%s %a" "$RO/new.txt"
		probe open "$RO/new.txt" "wronly|creat|excl"
		probe pwrite "$RO/new.txt" 1 "R"
		ps_exec cat "$RO/new.txt"
	'
}

@test "O_CREAT|O_EXCL on an existing lower file fails with EEXIST" {
	make_text_tree
	run_both '
		probe open "$RO/text.txt" "wronly|creat|excl"
		probe open "$RO/text.txt" "rdwr|creat|excl"
		probe open "$RO/sub/small.txt" "rdwr|creat|excl|trunc"
		probe pwrite "$RO/text.txt" 0 "x"
		probe open "$RO/text.txt" "wronly|creat|excl"
		probe open "$RO/sub/absent.txt" "wronly|creat|excl"
	'
	[ "$(grep -c '^EEXIST$' "$T/stdout.ro")" -eq 4 ]
	sed -n '$p' "$T/stdout.ro" | grep -qx ok
}

@test "a second run with the same shadow sees the first run's writes" {
	make_text_tree
	run_both '
		probe pwrite "$RO/text.txt" 12345 "FIRST-RUN"
		ps_exec bash -c "echo first >> \"\$RO/sub/small.txt\"; echo created > \"\$RO/created.txt\""
	'
	run_both '
		probe pread "$RO/text.txt" 12340 20
		ps_exec cat "$RO/sub/small.txt" "$RO/created.txt"
		probe pwrite "$RO/text.txt" 12349 "SECOND"
		ps_exec bash -c "echo second >> \"\$RO/sub/small.txt\""
	'
	grep -q 'FIRST-RUN' "$T/stdout.ro"
	grep -qx 'first' "$T/stdout.ro"
	grep -qx 'created' "$T/stdout.ro"
	run_both '
		probe pread "$RO/text.txt" 12340 20
		ps_exec tail -n 2 "$RO/sub/small.txt"
	'
	grep -q 'FIRSSECOND' "$T/stdout.ro"
}

@test "stat, lstat, fstat and statx agree on a modified file; fstat follows a write" {
	make_text_tree
	run_both '
		probe stat "$RO/text.txt"
		probe size-after-write "$RO/text.txt" 58000 "grow"
		probe stat "$RO/text.txt"
		probe pwrite "$RO/bin.dat" 100 "x"
		probe stat "$RO/bin.dat"
		ps_exec stat -c "%s %a %h %F" "$RO/text.txt" "$RO/bin.dat"
	'
	[ "$(grep -c '^consistent$' "$T/stdout.ro")" -eq 3 ]
}

@test "statfs reports the prefix writable and access(W_OK) answers as on a writable copy" {
	make_text_tree
	run_both '
		probe statfs "$RO"
		probe statfs "$RO/text.txt"
		probe access "$RO/text.txt" w
		probe access "$RO/sub/small.txt" rw
		probe access "$RO/sub" wx
		ps_exec bash -c "[ -w \"\$RO/text.txt\" ] && echo writable"
	'
	[ "$(grep -c rdonly "$T/stdout.ro")" -eq 0 ]
	[ "$(grep -c '^writable$' "$T/stdout.ro")" -eq 1 ]
}
