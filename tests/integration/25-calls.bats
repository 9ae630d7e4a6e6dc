#!/usr/bin/env bats
# 25-calls.bats - call-level promises that no single program shows: errno is kept on success, opening for writing
# copies nothing, O_TMPFILE and the mkstemp family work inside a prefix.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	mkdir -p "$LOWER/dir"
	head -c 40000 /dev/urandom >"$LOWER/f"
	lower_ready
}

teardown() {
	ps_teardown
}

@test "a successful shadowed call leaves the caller's errno untouched" {
	run_both 'probe errno-kept "$RO/f"'
	grep -qx 'pwrite kept' "$T/stdout.ro"
	! grep -q clobbered "$T/stdout.ro"
}

@test "opening a lower file for writing and closing it copies nothing" {
	run_both '
		probe open "$RO/f" rw
		probe open "$RO/f" wo
	'
	local data meta
	data=$(shadow_data f) meta=$(shadow_meta f)
	[ -f "$meta" ] # the record exists: the file is open for writing ...
	expect_eq "$(stat -c %b "$data")" 0 "data file blocks after an open without a write"
	expect_eq "$(od -An -tx1 -j4096 -N2 "$meta" | tr -d ' ')" 0000 "bitmap after an open without a write"
}

@test "O_TMPFILE in a prefix directory gives an unnamed file that reads back what was written" {
	run_both 'probe tmpfile "$RO/dir" unnamed-content'
	grep -qx 'tmpfile unnamed-content nlink 0 size 15' "$T/stdout.ro"
}

@test "mkstemp creates, reopens and removes a file inside a prefix" {
	run_both 'probe mkstemp "$RO/dir/tmp.XXXXXX" temp-content'
	grep -qx 'mkstemp read temp-content' "$T/stdout.ro"
	grep -qx 'mkstemp gone ENOENT' "$T/stdout.ro"
}
