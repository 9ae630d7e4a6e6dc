#!/usr/bin/env bats
# 30-shadow-format.bats - what a write leaves in the shadow directory (docs/FORMAT.md), how little of it there is,
# and how the shim refuses a record it cannot trust: corrupt, or describing a lower file that changed since.

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

# od of N bytes at OFF of FILE as one unsigned little-endian integer of N bytes (N = 4 or 8)
le_int() { # FILE OFF N
	od -An -tu"$3" -j"$2" -N"$3" "$1" | tr -d ' '
}

# Allocated bytes of a file, and the most one page may take on this filesystem (its block size if larger).
alloc_bytes() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }
page_alloc_limit() {
	local bs
	bs=$(stat -f -c %S "$1")
	echo $((bs > 4096 ? bs : 4096))
}

# The shim's own log lines: "prog[pid]: ..." (cat's own message is "cat: ...").
shim_lines() { grep -E '^[^ :[]+\[[0-9]+\]: ' "$1" || true; }

@test "a one-page write leaves a PSHDWREC record marking that page and a sparse data file of the logical size" {
	head -c 1048576 /dev/urandom >"$LOWER/f" # 256 pages
	lower_ready
	run_both '
		probe pwrite-fill "$RO/f" 20480 4096 0x41 # page 5, exactly
		probe pread "$RO/f" 20478 4
	'
	grep -qx 'pread 4 .*AA' "$T/stdout.ro"
	local meta data
	meta=$(shadow_meta f) data=$(shadow_data f)
	[ -f "$meta" ] && [ -f "$data" ]
	expect_eq "$(head -c 8 "$meta")" PSHDWREC "record magic"
	expect_eq "$(head -n 1 "$SHADOW/FORMAT" | tr -d '\0')" "pageshadow shadow format 2" "FORMAT line"
	expect_eq "$(le_int "$meta" 8 4)" 1 "record version"
	expect_eq "$(le_int "$meta" 20 4)" 1 "flags (HAS_LOWER)"
	expect_eq "$(le_int "$meta" 40 8)" 1048576 "lower_size"
	expect_eq "$(le_int "$meta" 64 8)" 256 "bitmap_bits"
	expect_eq "$(le_int "$meta" 128 8)" 1048576 "lower_len"
	expect_eq "$(stat -c %s "$meta")" 8192 "record size (header + one bitmap page)"
	# page 5 is bit 5 of byte 0, and no other bit is set
	expect_eq "$(od -An -tx1 -j4096 -N32 "$meta" | tr -s ' \n' ' ')" " 20$(printf ' 00%.0s' {1..31}) " "bitmap"
	expect_eq "$(stat -c %s "$data")" 1048576 "data file size (the logical size)"
	local used limit
	used=$(alloc_bytes "$data") limit=$(page_alloc_limit "$data")
	echo "# data file allocation: $used bytes" >&3
	[ "$used" -le "$limit" ] || {
		echo "data file holds $used bytes for one written page (limit $limit)" >&2
		false
	}
	# the page itself is in the data file
	expect_eq "$(dd if="$data" bs=4096 skip=5 count=1 status=none | tr -d A | wc -c)" 0 "page 5 of the data file"
}

@test "a page of zeros written over lower data is marked and reads as zeros" {
	head -c 65536 /dev/urandom >"$LOWER/f"
	lower_ready
	# the lower page is not zeros to begin with
	[ "$(dd if="$LOWER/f" bs=4096 skip=3 count=1 status=none | tr -d '\0' | wc -c)" -gt 0 ]
	run_both '
		ps_exec dd if=/dev/zero of="$RO/f" bs=4096 seek=3 count=1 conv=notrunc status=none
		ps_exec dd if="$RO/f" bs=4096 skip=3 count=1 status=none | cmp - <(head -c 4096 /dev/zero) && echo "page 3 reads as zeros"
		ps_exec dd if="$RO/f" bs=4096 skip=2 count=1 status=none | sha256sum
	'
	grep -qx 'page 3 reads as zeros' "$T/stdout.ro"
	expect_eq "$(od -An -tx1 -j4096 -N2 "$(shadow_meta f)" | tr -d ' ')" 0800 "bitmap (page 3 marked)"
}

@test "a corrupt record makes cat fail with EIO and one line naming the file, and nothing else changes" {
	seq 1 5000 >"$LOWER/f"
	seq 1 100 >"$LOWER/g"
	lower_ready
	in_ro_ns '
		probe pwrite "$RO/f" 10 "written"
		probe pwrite "$RO/g" 10 "written"
	'
	local meta
	meta=$(shadow_meta f)
	printf 'XXXXXXXX' | dd of="$meta" conv=notrunc status=none
	cp "$meta" "$T/meta.corrupt"
	cp "$(shadow_data f)" "$T/data.before"
	in_ro_ns '
		rc=0
		ps_exec cat "$RO/f" >"$T/out1" 2>"$T/err1" || rc=$?
		[ "$rc" -ne 0 ] || { echo "cat of a file with a corrupt record succeeded" >&2; exit 1; }
		[ ! -s "$T/out1" ] || { echo "cat printed bytes of a file with a corrupt record" >&2; exit 1; }
		rc=0
		ps_exec cat "$RO/f" >/dev/null 2>"$T/err2" || rc=$?
		[ "$rc" -ne 0 ] || { echo "the second cat succeeded: the record was repaired or dropped" >&2; exit 1; }
		probe open "$RO/f" ro 2>/dev/null >"$T/open.ro"
		probe open "$RO/f" rw 2>/dev/null >"$T/open.rw"
		ps_exec cat "$RO/g" >"$T/g.out"
	'
	cat "$T/err1" >&2
	[ "$(shim_lines "$T/err1" | wc -l)" -eq 1 ]
	shim_lines "$T/err1" | grep -qF "$RO/f"
	grep -q 'Input/output error' "$T/err1"
	# nothing but the shim's line and cat's own message
	[ "$(wc -l <"$T/err1")" -eq 2 ]
	expect_eq "$(cat "$T/open.ro")" EIO "O_RDONLY open with a corrupt record"
	expect_eq "$(cat "$T/open.rw")" EIO "O_RDWR open with a corrupt record"
	# the other file is not affected
	expect_eq "$(head -c 17 "$T/g.out")" "1
2
3
4
5
written" "the other shadowed file"
	# nothing was repaired, dropped or written behind the user's back
	same_file "$meta" "$T/meta.corrupt"
	same_file "$(shadow_data f)" "$T/data.before"
	assert_lower_unchanged
	assert_traces_clean
}

@test "a lower file changed behind its record fails to open with EIO and a line saying what changed" {
	printf 'mtime\n%.0s' {1..1000} >"$LOWER/m"
	printf 'size\n%.0s' {1..1000} >"$LOWER/s"
	printf 'inode\n%.0s' {1..1000} >"$LOWER/r"
	printf 'untouched\n' >"$LOWER/u"
	lower_ready
	in_ro_ns '
		for f in m s r; do probe pwrite "$RO/$f" 0 "shadowed"; done
	'
	# change the lower files through the writable lower directory behind the read-only bind mount
	touch -d '2001-02-03 04:05:06' "$LOWER/m"
	echo more >>"$LOWER/s"
	cp -p "$LOWER/r" "$LOWER/r.new" && mv "$LOWER/r.new" "$LOWER/r"
	echo changed >"$LOWER/u"
	lower_snapshot >"$T/lower.before"
	in_ro_ns '
		for f in m s r; do
			probe open "$RO/$f" ro >"$T/open.$f" 2>"$T/err.$f"
			rc=0
			ps_exec cat "$RO/$f" >/dev/null 2>"$T/cat.$f" || rc=$?
			echo "$rc" >"$T/rc.$f"
		done
		ps_exec cat "$RO/u" >"$T/u.out"
	'
	local f
	for f in m s r; do
		echo "== $f: $(cat "$T/open.$f")" >&2
		cat "$T/err.$f" >&2
		expect_eq "$(cat "$T/open.$f")" EIO "open of $f after its lower file changed"
		[ "$(cat "$T/rc.$f")" -ne 0 ]
		[ "$(shim_lines "$T/err.$f" | wc -l)" -eq 1 ]
		shim_lines "$T/err.$f" | grep -qF "$RO/$f"
	done
	shim_lines "$T/err.m" | grep -Eqi 'modif|mtime'
	shim_lines "$T/err.s" | grep -Eqi 'size'
	shim_lines "$T/err.r" | grep -Eqi 'replaced|inode'
	# a file without a record simply shows the lower file as it is now
	expect_eq "$(cat "$T/u.out")" changed "untouched file after a lower change"
	assert_lower_unchanged
	assert_traces_clean
}

@test "PAGESHADOW_DEBUG=FILE writes log lines to FILE and nothing to the program's stderr" {
	seq 1 3000 >"$LOWER/f"
	lower_ready
	in_ro_ns '
		PAGESHADOW_DEBUG="$PS_LOGS/debug.log" probe pwrite "$RO/f" 100 "debug" >"$T/probe.out" 2>"$T/err"
		PAGESHADOW_DEBUG="$PS_LOGS/debug.log" ps_exec cat "$RO/f" >/dev/null 2>>"$T/err"
		PAGESHADOW_DEBUG="$PS_LOGS/debug.log" ps_exec bash -c "echo new > \"\$RO/created\"" 2>>"$T/err"
	'
	cat "$PS_LOGS/debug.log" >&2
	[ ! -s "$T/err" ] || {
		echo "stderr was not empty:" >&2
		cat "$T/err" >&2
		false
	}
	expect_eq "$(cat "$T/probe.out")" "pwrite 5" "ps-probe's result"
	[ "$(wc -l <"$PS_LOGS/debug.log")" -ge 3 ]
	# every line is a log line, lines come from each program, and they name the files
	[ "$(grep -cvE '^[^ :[]+\[[0-9]+\]: ' "$PS_LOGS/debug.log")" -eq 0 ]
	grep -qE '^ps-probe\[[0-9]+\]: .*'"$RO/f" "$PS_LOGS/debug.log"
	grep -qE '^cat\[[0-9]+\]: ' "$PS_LOGS/debug.log"
	grep -qF "$RO/created" "$PS_LOGS/debug.log"
	assert_lower_unchanged
}

# The shim may report more data than the writable copy does (the lower range is reported as all data), but never a
# hole where the merged file has bytes: cp --sparse and backup tools would turn them into zeros.
@test "SEEK_DATA and SEEK_HOLE never report a hole where the merged file has data; cp --sparse=always copies it" {
	truncate -s 1M "$LOWER/sparse"
	head -c 65536 /dev/urandom | dd of="$LOWER/sparse" conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$LOWER/sparse" bs=4096 seek=128 conv=notrunc status=none
	lower_ready
	run_both '
		probe segments "$RO/sparse" >"$T/seg1.$PS_MODE"
		probe pwrite-fill "$RO/sparse" 262144 4096 0x42 # a page in a hole
		probe pwrite-fill "$RO/sparse" 16384 100 0x43   # inside lower data
		probe pwrite-fill "$RO/sparse" 589820 8 0x44    # across the end of the second data run
		ps_exec truncate -s 1200000 "$RO/sparse"        # grown past the lower size
		probe pwrite-fill "$RO/sparse" 1150000 10 0x45
		probe segments "$RO/sparse" >"$T/seg2.$PS_MODE"
		for off in 0 70000 262144 266240 600000 1100000; do
			echo "$off: $(probe seek "$RO/sparse" SEEK_DATA $off) $(probe seek "$RO/sparse" SEEK_HOLE $off)"
		done >"$T/seek.$PS_MODE"
		ps_exec cp --sparse=always "$RO/sparse" "$XOUT/sparse.cp"
		probe segments "$XOUT/sparse.cp"
	'
	local n
	for n in 1 2; do
		cat "$T/seg$n.rw" "$T/seg$n.ro" >&2
		# every data range of the copy lies inside a data range the shim reports, all within the file
		awk '
			FNR == 1 { file++ }
			file == 1 && $1 == "data" { cs[++nc] = $2; ce[nc] = $3 }
			file == 1 && $1 == "end" { csize = $2 }
			file == 2 && $1 == "data" { ss[++ns] = $2; se[ns] = $3; if ($2 < 0 || $3 > csize || $2 >= $3) bad = bad " bad-range:" $2 "-" $3 }
			file == 2 && $1 == "end" && $2 != csize { bad = bad " size:" $2 }
			file == 2 && $1 ~ /^seek-/ { bad = bad " " $0 }
			END {
				for (i = 1; i <= nc; i++) {
					ok = 0
					for (j = 1; j <= ns; j++) if (ss[j] <= cs[i] && ce[i] <= se[j]) ok = 1
					if (!ok) bad = bad " hole-over-data:" cs[i] "-" ce[i]
				}
				if (bad != "") { print "segments wrong:" bad; exit 1 }
			}' "$T/seg$n.rw" "$T/seg$n.ro" >&2
	done
	cat "$T/seek.rw" "$T/seek.ro" >&2
	# SEEK_DATA never skips data, SEEK_HOLE never stops inside data of the copy
	paste -d' ' "$T/seek.rw" "$T/seek.ro" | awk '{
		# rw: off: data hole   ro: off: data hole
		if ($5 != "ENXIO" && $2 != "ENXIO" && $5 + 0 > $2 + 0) { print "SEEK_DATA from " $1 " skipped data: " $5 " > " $2; bad = 1 }
		if ($6 + 0 < $3 + 0) { print "SEEK_HOLE from " $1 " stopped in data: " $6 " < " $3; bad = 1 }
	} END { exit bad }' >&2
}

@test "a one-byte dd into a 256 MiB lower file leaves at most 64 KiB in the shadow" {
	truncate -s 256M "$LOWER/big"
	local i
	for i in 0 32 64 96 127 160 192 224 255; do # random 1 MiB runs, one across the middle
		head -c 1048576 /dev/urandom | dd of="$LOWER/big" bs=1M seek=$i conv=notrunc status=none
	done
	lower_ready
	export MID=$((128 * 1024 * 1024 - 4096 * 3 - 77))
	run_both '
		ps_exec dd if=/dev/zero of="$RO/big" bs=1 count=1 seek="$MID" conv=notrunc status=none
		probe pread "$RO/big" "$MID" 1
		ps_exec stat -c %s "$RO/big"
	'
	grep -qx 'pread 1 \\x00' "$T/stdout.ro"
	local n
	n=$(du -s -B1 "$SHADOW" | cut -f1)
	echo "# shadow bytes: $n" >&3
	[ "$n" -le 65536 ] || {
		du -a -B1 "$SHADOW" >&2
		false
	}
}
