#!/usr/bin/env bats
# 40-coherence-locks.bats - several processes on one file under the shim behave as on a writable copy: a reader
# that holds a descriptor sees other processes' writes, concurrent copy-ups lose nothing, and fcntl, OFD, flock
# and lockf locks exclude each other whichever way each process opened the file (an untouched file O_RDONLY, or
# O_RDWR), and go away on close or exit. Every scenario runs on the writable copy too, with identical output.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	mkdir -p "$LOWER/sub"
	local f
	for f in a b c d e g h i j k l m n o p q; do
		seq -f "$f %05g" 1 3000 >"$LOWER/sub/$f" # 24000 bytes, 6 pages
	done
	lower_ready
	export -f lock_case
}

teardown() {
	ps_teardown
}

# lock_case FILE KIND HOLD_MODE HOLD_TYPE [early:MODE:TYPE] [late:MODE:TYPE]... [getlk] [then:close|exit|close-other]
# (inside a namespace script) One process (the holder) opens FILE and takes a KIND lock of HOLD_TYPE; while it holds
# it, testers try theirs: "early" testers opened the file before the holder did (so an untouched file is still a
# plain lower descriptor for them), "late" ones after. Then the holder closes its fd (or exits holding it, or closes
# another fd of the same file) and a last tester of the first late kind tries again. Prints one line.
lock_case() {
	local PS_TRACE=0 # locks write nothing; the read-only mount and the coherence tests cover the lower-write check
	local file=$1 kind=$2 hm=$3 ht=$4
	shift 4
	local m
	m="$T/m/${file##*/}.$kind.$hm.$ht.$PS_MODE.$RANDOM"
	mkdir -p "$m"
	local early=() late=() getlk=0 then=close a
	for a in "$@"; do
		case $a in
		early:*) early+=("${a#early:}") ;;
		late:*) late+=("${a#late:}") ;;
		getlk) getlk=1 ;;
		then:*) then=${a#then:} ;;
		esac
	done
	local i pids=() line="$kind held $ht via $hm:"
	for i in "${!early[@]}"; do
		IFS=: read -r tm tt <<<"${early[$i]}"
		probe lock "$file" "$tm" "$kind" "$tt" --opened "$m/e$i.opened" --go "$m/go" >"$m/e$i.out" &
		pids+=($!)
		wait_for "$m/e$i.opened"
	done
	probe lock "$file" "$hm" "$kind" "$ht" --ready "$m/h.ready" --release "$m/h.release" --then "$then" \
		--closed "$m/h.closed" --exit "$m/h.exit" >"$m/h.out" &
	local holder=$!
	wait_for "$m/h.ready"
	line+=" holder $(cat "$m/h.out")"
	touch "$m/go"
	for i in "${!early[@]}"; do
		wait "${pids[$i]}"
		line+="; early ${early[$i]} $(cat "$m/e$i.out")"
	done
	for i in "${!late[@]}"; do
		IFS=: read -r tm tt <<<"${late[$i]}"
		line+="; late ${late[$i]} $(probe lock "$file" "$tm" "$kind" "$tt")"
	done
	if [ "$getlk" = 1 ]; then
		line+="; getlk $(probe getlk "$file" ro rd)"
	fi
	touch "$m/h.release"
	if [ "$then" = exit ]; then
		wait "$holder"
	else
		wait_for "$m/h.closed"
	fi
	IFS=: read -r tm tt <<<"${late[0]}"
	line+="; after $then ${late[0]} $(probe lock "$file" "$tm" "$kind" "$tt")"
	touch "$m/h.exit"
	[ "$then" = exit ] || wait "$holder"
	echo "$line"
}

# Compare the shim run's output with what POSIX asks for; a refused lock may be EAGAIN or EACCES.
expect_output() { # EXPECTED (stdin)
	sed 's/EACCES/EAGAIN/g' "$T/stdout.ro" >"$T/got"
	if ! diff -u --label expected --label "shim run" - "$T/got" >&2; then
		return 1
	fi
}

@test "a reader holding an untouched file open read-only sees another process's page write" {
	run_both '
		probe reread "$RO/sub/a" 8192 16 "$T/m/ready.$PS_MODE" "$T/m/go.$PS_MODE" >"$T/m/reader.$PS_MODE" &
		reader=$!
		wait_for "$T/m/ready.$PS_MODE"
		probe pwrite "$RO/sub/a" 8192 "NEW-PAGE-2-DATA!"
		touch "$T/m/go.$PS_MODE"
		wait $reader
		cat "$T/m/reader.$PS_MODE"
	'
	expect_output <<-'EOF'
		pwrite 16
		before 16 a 01025\x0aa 01026\x0a
		pread 16 NEW-PAGE-2-DATA!
		read 16 NEW-PAGE-2-DATA!
		size 24000
	EOF
}

@test "a reader holding a file open read-only sees another process's truncation and append" {
	run_both '
		probe reread "$RO/sub/b" 16384 8 "$T/m/r1.$PS_MODE" "$T/m/g1.$PS_MODE" >"$T/m/reader1.$PS_MODE" &
		reader=$!
		wait_for "$T/m/r1.$PS_MODE"
		ps_exec truncate -s 16388 "$RO/sub/b"
		touch "$T/m/g1.$PS_MODE"
		wait $reader
		cat "$T/m/reader1.$PS_MODE"
		probe reread "$RO/sub/c" 23992 16 "$T/m/r2.$PS_MODE" "$T/m/g2.$PS_MODE" >"$T/m/reader2.$PS_MODE" &
		reader=$!
		wait_for "$T/m/r2.$PS_MODE"
		ps_exec bash -c "echo appended >> \"\$RO/sub/c\""
		touch "$T/m/g2.$PS_MODE"
		wait $reader
		cat "$T/m/reader2.$PS_MODE"
	'
	expect_output <<-'EOF'
		before 8 b 02049\x0a
		pread 4 b 02
		read 4 b 02
		size 16388
		before 8 c 03000\x0a
		pread 16 c 03000\x0aappended
		read 16 c 03000\x0aappended
		size 24009
	EOF
}

@test "a reader holding an already shadowed file sees another process copy up a new page" {
	run_both '
		probe pwrite "$RO/sub/d" 0 "page0"
		probe reread "$RO/sub/d" 12288 12 "$T/m/ready.$PS_MODE" "$T/m/go.$PS_MODE" >"$T/m/reader.$PS_MODE" &
		reader=$!
		wait_for "$T/m/ready.$PS_MODE"
		probe pwrite "$RO/sub/d" 12290 "later"
		touch "$T/m/go.$PS_MODE"
		wait $reader
		cat "$T/m/reader.$PS_MODE"
	'
	expect_output <<-'EOF'
		pwrite 5
		pwrite 5
		before 12 d 01537\x0ad 01
		pread 12 d later\x0ad 01
		read 12 d later\x0ad 01
		size 24000
	EOF
}

@test "concurrent writers to one page of a lower file lose none of their bytes" {
	run_both '
		pids=()
		for i in $(seq 0 15); do
			probe pwrite "$RO/sub/e" $((4096 + i * 250)) "<writer $i>" >/dev/null &
			pids+=($!)
			probe pwrite "$RO/sub/e" $((i * 1500 + 7)) "[w$i]" >/dev/null &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
		ps_exec cat "$RO/sub/e" | sha256sum
		ps_exec grep -o "<writer [0-9]*>" "$RO/sub/e" | wc -l
	'
	tail -n 1 "$T/stdout.ro" | grep -qx 16
}

# Threads copy up the same pages at the same instant; a copy-up that wrote back the lower bytes over another
# thread's write would show as an original byte where a write landed (ps-torture checks every byte).
@test "eight threads writing overlapping and disjoint ranges of one lower file: every byte from a write that covered it" {
	head -c 1048576 /dev/urandom >"$LOWER/big"
	rm "$T/.lower_ready" # setup made the copy already
	lower_ready
	# Not run_both: the interleaving (so the bytes) differs from run to run; each run checks itself.
	local script='
		ps_exec "$PS_BUILD/ps-torture" threads "$RO/big" 8 2000 "$XOUT/as-read"
		ps_exec cmp "$XOUT/as-read" "$RO/big" && echo "another process reads the same bytes"
	'
	in_rw_ns "$script" >"$T/stdout.rw"
	in_ro_ns "$script" >"$T/stdout.ro"
	expect_eq "$(cat "$T/stdout.rw")" "verified 16000 writes
another process reads the same bytes" "on the writable copy"
	expect_eq "$(cat "$T/stdout.ro")" "$(cat "$T/stdout.rw")" "under the shim"
	assert_lower_unchanged
}

@test "fcntl F_SETLK: a write lock excludes readers and writers whichever way they opened the file, until close" {
	run_both '
		lock_case "$RO/sub/a" posix rw wr early:ro:rd late:ro:rd late:rw:wr late:rw:rd getlk
		lock_case "$RO/sub/b" posix ro rd early:rw:wr late:rw:wr late:ro:rd
		lock_case "$RO/sub/c" posix rw wr late:rw:wr then:exit
	'
	expect_output <<-'EOF'
		posix held wr via rw: holder locked; early ro:rd EAGAIN; late ro:rd EAGAIN; late rw:wr EAGAIN; late rw:rd EAGAIN; getlk locked wr by other; after close ro:rd locked
		posix held rd via ro: holder locked; early rw:wr EAGAIN; late rw:wr EAGAIN; late ro:rd locked; after close rw:wr locked
		posix held wr via rw: holder locked; late rw:wr EAGAIN; after exit rw:wr locked
	EOF
}

@test "F_GETLK with nothing in the way changes only l_type, as the kernel does (SEEK_CUR and SEEK_END kept)" {
	command -v python3 >/dev/null || skip "python3 is needed"
	run_both '
		ps_exec python3 -c "
import fcntl, os, struct
fd = os.open(\"$RO/sub/a\", os.O_RDWR)
os.lseek(fd, 100, os.SEEK_SET)
for whence, start in ((os.SEEK_CUR, -3), (os.SEEK_END, -1), (os.SEEK_SET, 5)):
    got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(\"hhqqi4x\", fcntl.F_WRLCK, whence, start, 1, 0))
    print(struct.unpack(\"hhqqi4x\", got))
"
	'
	expect_output <<-'EOF'
		(2, 1, -3, 1, 0)
		(2, 2, -1, 1, 0)
		(2, 0, 5, 1, 0)
	EOF
}

@test "fcntl locks are process locks: closing any descriptor of the file releases them" {
	run_both '
		lock_case "$RO/sub/d" posix rw wr late:rw:wr then:close-other
		lock_case "$RO/sub/e" posix ro rd late:rw:wr then:close-other
	'
	expect_output <<-'EOF'
		posix held wr via rw: holder locked; late rw:wr EAGAIN; after close-other rw:wr locked
		posix held rd via ro: holder locked; late rw:wr EAGAIN; after close-other rw:wr locked
	EOF
}

@test "F_OFD_SETLK: open file description locks exclude each other, survive closing another fd, go on close" {
	run_both '
		lock_case "$RO/sub/g" ofd rw wr early:ro:rd late:ro:rd late:rw:wr
		lock_case "$RO/sub/h" ofd ro rd early:rw:wr late:rw:wr late:ro:rd
		lock_case "$RO/sub/i" ofd rw wr late:rw:wr then:close-other
		lock_case "$RO/sub/j" ofd rw wr late:rw:wr then:exit
	'
	expect_output <<-'EOF'
		ofd held wr via rw: holder locked; early ro:rd EAGAIN; late ro:rd EAGAIN; late rw:wr EAGAIN; after close ro:rd locked
		ofd held rd via ro: holder locked; early rw:wr EAGAIN; late rw:wr EAGAIN; late ro:rd locked; after close rw:wr locked
		ofd held wr via rw: holder locked; late rw:wr EAGAIN; after close-other rw:wr EAGAIN
		ofd held wr via rw: holder locked; late rw:wr EAGAIN; after exit rw:wr locked
	EOF
}

@test "flock: an exclusive lock taken through a read-only descriptor excludes every other open, until close or exit" {
	run_both '
		lock_case "$RO/sub/k" flock ro wr early:ro:wr early:ro:rd late:ro:rd late:rw:wr
		lock_case "$RO/sub/l" flock rw rd early:ro:wr late:rw:wr late:ro:rd
		lock_case "$RO/sub/m" flock ro wr late:rw:wr then:close-other
		lock_case "$RO/sub/n" flock rw wr late:ro:wr then:exit
	'
	expect_output <<-'EOF'
		flock held wr via ro: holder locked; early ro:wr EAGAIN; early ro:rd EAGAIN; late ro:rd EAGAIN; late rw:wr EAGAIN; after close ro:rd locked
		flock held rd via rw: holder locked; early ro:wr EAGAIN; late rw:wr EAGAIN; late ro:rd locked; after close rw:wr locked
		flock held wr via ro: holder locked; late rw:wr EAGAIN; after close-other rw:wr EAGAIN
		flock held wr via rw: holder locked; late ro:wr EAGAIN; after exit ro:wr locked
	EOF
}

@test "lockf: F_TLOCK excludes another process until close or exit, and needs a writable descriptor" {
	run_both '
		lock_case "$RO/sub/o" lockf rw wr early:rw:wr late:rw:wr late:wo:wr
		lock_case "$RO/sub/p" lockf rw wr late:rw:wr then:exit
		lock_case "$RO/sub/q" lockf ro wr late:rw:wr
	'
	expect_output <<-'EOF'
		lockf held wr via rw: holder locked; early rw:wr EAGAIN; late rw:wr EAGAIN; late wo:wr EAGAIN; after close rw:wr locked
		lockf held wr via rw: holder locked; late rw:wr EAGAIN; after exit rw:wr locked
		lockf held wr via ro: holder EBADF; late rw:wr locked; after close rw:wr locked
	EOF
}

@test "a lock held on a lower file excludes a process that opened it before the file was ever written" {
	run_both '
		# the tester opens the untouched file read-only first; the holder then writes it (creating its record)
		# and locks; the tester, still holding its plain lower descriptor, must see the lock
		probe lock "$RO/sub/q" ro posix rd --opened "$T/m/t.opened.$PS_MODE" --go "$T/m/t.go.$PS_MODE" >"$T/m/t.out.$PS_MODE" &
		tester=$!
		wait_for "$T/m/t.opened.$PS_MODE"
		probe pwrite "$RO/sub/q" 100 "written"
		probe lock "$RO/sub/q" rw posix wr --ready "$T/m/h.ready.$PS_MODE" --release "$T/m/h.rel.$PS_MODE" >"$T/m/h.out.$PS_MODE" &
		holder=$!
		wait_for "$T/m/h.ready.$PS_MODE"
		touch "$T/m/t.go.$PS_MODE"
		wait $tester
		touch "$T/m/h.rel.$PS_MODE"
		wait $holder
		echo "holder $(cat "$T/m/h.out.$PS_MODE"), early reader $(cat "$T/m/t.out.$PS_MODE")"
	'
	expect_output <<-'EOF'
		pwrite 7
		holder locked, early reader EAGAIN
	EOF
}
