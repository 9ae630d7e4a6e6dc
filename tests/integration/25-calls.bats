#!/usr/bin/env bats
# 25-calls.bats - call-level promises that no single program shows: errno is kept on success, opening for writing
# copies nothing, O_TMPFILE and the mkstemp family work inside a prefix, a record renamed over a lower file stays.

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

@test "a file renamed over a lower file can be removed and renamed away, and the stale lower file never comes back" {
	in_ro_ns '
		cd "$RO"
		ps_exec bash -c "echo new >g && mv g f"
		expect_eq "$(ps_exec cat f)" new "the renamed file"
		ps_exec mv f h
		expect_eq "$(ps_exec cat h)" new "the file under its new name"
		if ps_exec cat f 2>/dev/null; then echo "the lower file came back after mv" >&2; exit 1; fi
		ps_exec rm h
		ps_exec bash -c "echo newer >g2 && mv g2 f && cat f && rm f"
		if ps_exec cat f 2>/dev/null; then echo "the lower file came back after rm" >&2; exit 1; fi
		[ -L "$(shadow_meta f)" ] # a whiteout
	'
	assert_lower_unchanged
}
