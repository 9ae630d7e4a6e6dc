#!/usr/bin/env bats
# 70-maps.bats - memory maps of shadowed files: merged page by page, private writes private, shared writes in the
# shadow; each scenario run on the read-only tree under the shim and on a writable copy, compared line by line
# (helpers.bash: run_both), the lower tree unchanged.

load helpers

setup_file() {
	ps_detect_namespace
	MAPS=$PS_BUILD/ps-maps
	export MAPS
}

setup() {
	ps_setup
}

teardown() {
	ps_teardown
}

# A database of 20000 rows in the lower tree.
make_database() {
	python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute('create table t(id integer primary key, v text)')
c.executemany('insert into t values(?, ?)', [(i, ('value %d ' % i) * 5) for i in range(20000)])
c.commit()" "$LOWER/db"
	lower_ready
}

# A 40 KiB + 123 byte file of distinct lines: its last page is partial.
make_mapped_file() {
	seq -f 'line %06g of the lower file' 1 1416 >"$LOWER/f"
	truncate -s $((40 * 1024 + 123)) "$LOWER/f"
	lower_ready
}

# expect_data_below KIB WHAT: the shadow's data tree holds less than KIB KiB (du) for WHAT.
expect_data_below() {
	local held
	held=$(du -sk "$SHADOW/data" | cut -f1)
	[ "$held" -lt "$1" ] || { echo "the shadow's data tree holds $held KiB for $2" >&2; return 1; }
}

@test "private and shared read-only maps of a partly shadowed file show the merged bytes; private writes stay private" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:1 pwrite:7 private shared-ro sum
	'
}

@test "a shared writable map writes into the shadow; a later run and pread see the bytes" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:3 shared-rw:2 shared-rw:9 sum
		ps_exec "$MAPS" "$RO/f" shared-ro sum
	'
}

@test "maps of a grown and of a truncated file: the page that straddles the old end, and SIGBUS past the new one" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:2 grow:50000 pwrite:11 private shared-ro sigbus sum
		ps_exec "$MAPS" "$RO/f" grow:20000 private shared-ro sigbus shared-rw:4 sum
		ps_exec "$MAPS" "$RO/f" grow:30001 private shared-ro sum
	'
}

@test "a file opened read-only cannot be mapped shared-writable (EACCES), as on a real file" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:1 rdonly-shared
	'
	grep -qx "rdonly-shared: EACCES" "$T/stdout.ro"
}

@test "a shared writable map copies up only the pages it covers, never the whole file" {
	seq -f 'line %08g' 1 300000 >"$LOWER/big" # about 4.5 MB
	lower_ready
	in_ro_ns '
		ps_exec python3 -c "
import mmap, os
fd = os.open(\"$RO/big\", os.O_RDWR)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=4096 * 100)
m[0:5] = b\"HELLO\"
m.flush()
m.close()
"
		ps_exec python3 -c "
import os
fd = os.open(\"$RO/big\", os.O_RDONLY)
print(os.pread(fd, 5, 4096 * 100))
"
	' >"$T/py.out"
	expect_eq "$(cat "$T/py.out")" "b'HELLO'" "the bytes written through the map, read back by a second run"
	expect_data_below 100 "an 8 KiB map"
	assert_lower_unchanged
}

@test "untouched pages of a map are the lower file's own pages, shadowed ones the data file's: no copy" {
	make_mapped_file
	in_ro_ns '
		ps_exec "$MAPS" "$RO/f" pwrite:3 layout
	' >"$T/layout.out"
	# pages 0-2 lower, 3 data, 4-10 lower: three mappings, none anonymous
	expect_eq "$(cat "$T/layout.out")" "$(printf 'pwrite: 18\nlayout: 3 mappings: lower data lower')" "the map's layout"
}

@test "sqlite3 with PRAGMA mmap_size updates, deletes and inserts in a database on the tree; integrity_check passes" {
	make_database
	run_both '
		sql="PRAGMA mmap_size=268435456; UPDATE t SET v=\"upd \"||id WHERE id%7=0; UPDATE t SET v=v||\"x\" WHERE id%13=0;"
		sql="$sql SELECT count(*), sum(length(v)) FROM t; PRAGMA integrity_check; DELETE FROM t WHERE id%5=0;"
		sql="$sql INSERT INTO t(v) SELECT v FROM t WHERE id<3000; SELECT count(*), sum(length(v)), max(id) FROM t;"
		ps_exec sqlite3 "$RO/db" "$sql PRAGMA integrity_check;"
		ps_exec sqlite3 "$RO/db" "PRAGMA mmap_size=268435456; SELECT count(*), sum(length(v)) FROM t; PRAGMA integrity_check;"
	'
	grep -c '^ok$' "$T/stdout.ro" | grep -qx 3
}

@test "a shared read-only map shows a page that a later pwrite of the same process copies up, also one made before the file had a record or written by a new name" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" ro-first:3
		ps_exec "$MAPS" "$RO/f" pwrite:1 coherent:5 coherent:9 renamed:7 sum
	'
	expect_eq "$(grep -c "the map shows .*: yes" "$T/stdout.ro")" 4 "coherent lines in the shim run"
}

@test "four maps kept open through pwrite, write, ftruncate, writes through them, mremap and mprotect show what a real file's show" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:3 mix:1 sum
		ps_exec "$MAPS" "$RO/f" mix:2
		ps_exec "$MAPS" "$RO/f" mix:3 sum
	'
	grep -Eq "mremap [0-9]+ +size" "$T/stdout.ro"
	grep -q "mprotect rw 0, write [1-9]" "$T/stdout.ro"
}

@test "across processes: a page another process copies up shows in a map after this process's next call on the file, or msync" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:1 other:4 sum
	'
	expect_eq "$(grep -c "other process.s pwrite: yes" "$T/stdout.ro")" 2 "coherent lines in the shim run"
}

@test "sqlite3 across processes: a reader holding its mmap'ed connection sees what another process wrote, at its next transaction" {
	make_database
	run_both '
		ps_exec python3 -c "
import sqlite3, subprocess, sys
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute(\"PRAGMA mmap_size=268435456\")
print(\"before\", c.execute(\"SELECT count(*), sum(length(v)) FROM t\").fetchone())
for round in range(3):
    subprocess.run([\"sqlite3\", db, \"UPDATE t SET v=v||\\\"round\\\" WHERE id%%%d=0; INSERT INTO t(v) VALUES(\\\"new\\\");\" % (round + 3)], check=True)
    print(\"after\", round, c.execute(\"SELECT count(*), sum(length(v)), max(id) FROM t\").fetchone())
print(c.execute(\"PRAGMA integrity_check\").fetchone()[0])
" "$RO/db"
	'
	grep -q "^after 2" "$T/stdout.ro"
	grep -qx "ok" "$T/stdout.ro"
}

@test "fio's mmap engine: random reads and writes of a shadowed file verify (crc32c); a second run reading with pread verifies them again" {
	command -v fio >/dev/null || skip "fio is not installed"
	head -c $((8 * 1024 * 1024)) /dev/urandom >"$LOWER/fio.dat"
	lower_ready
	local job='--name=maps --filename='"$RO"'/fio.dat --size=8M --bs=4k --rw=randrw --randseed=7 --verify=crc32c --verify_fatal=1'
	in_ro_ns '
		ps_exec fio '"$job"' --ioengine=mmap --do_verify=1 --output=/dev/null
		echo "mmap run: $?"
		ps_exec fio '"$job"' --ioengine=psync --verify_only --output=/dev/null
		echo "verify run: $?"
	' >"$T/fio.out"
	expect_eq "$(cat "$T/fio.out")" "$(printf 'mmap run: 0\nverify run: 0')" "both fio runs"
	assert_lower_unchanged
}

@test "stores through a shared writable map of a whole 4.5 MB file copy up only the pages stored into" {
	seq -f 'line %08g' 1 300000 >"$LOWER/big" # about 4.5 MB
	lower_ready
	in_ro_ns '
		ps_exec python3 -c "
import mmap, os
fd = os.open(\"$RO/big\", os.O_RDWR)
m = mmap.mmap(fd, 0)
m[4096 * 3:4096 * 3 + 5] = b\"HELLO\"
m[4096 * 900 + 100:4096 * 900 + 105] = b\"WORLD\"
print(bytes(m[4096 * 3:4096 * 3 + 5]), bytes(m[4096 * 900 + 100:4096 * 900 + 105]), len(m))
m.close()
"
		ps_exec python3 -c "
import os
fd = os.open(\"$RO/big\", os.O_RDONLY)
print(os.pread(fd, 5, 4096 * 3), os.pread(fd, 5, 4096 * 900 + 100))
"
	' >"$T/py.out"
	expect_eq "$(cat "$T/py.out")" "$(printf "b'HELLO' b'WORLD' %s\nb'HELLO' b'WORLD'" "$(stat -c %s "$LOWER/big")")" "the stores, read back through the map and by a second run"
	expect_data_below 64 "two pages stored into"
	assert_lower_unchanged
}

@test "read() and readv() straight into a shared writable map (the kernel's own stores) land in the shadow" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" read-into:4 read-into:9 sum
	'
	grep -q "read-into: read 21 readv 21, pread back: <read-into at page 9>" "$T/stdout.ro"
}

@test "the program's own SIGSEGV handler is the one sigaction reports and real faults reach, while stores into maps are taken care of" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:2 own-segv sum
	'
	expect_eq "$(grep -c ": yes" "$T/stdout.ro")" 3 "yes lines in the shim run"
}

@test "eight threads storing into every page of a shared writable map at once: no store lost" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:5 threads:8 sum
		ps_exec "$MAPS" "$RO/f" threads:3 sum
	'
}

@test "madvise(MADV_REMOVE) through a shared writable map zeroes lower and shadowed pages alike" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:3 remove:2 remove:6 sum
	'
	grep -q "remove: madvise 0" "$T/stdout.ro"
}

@test "mprotect, mremap and madvise with lengths that are not whole pages, and mremap to the same size, answer as the kernel" {
	make_mapped_file
	run_both '
		ps_exec "$MAPS" "$RO/f" pwrite:3 odd-lengths
	'
	grep -q "mremap to the same size stays: yes" "$T/stdout.ro"
}

@test "two threads pwriting their own pages under a shared read-only map: each write shows through the map at once" {
	truncate -s 64M "$LOWER/f" # 16384 pages: a long relay, a wide window for the race it once lost
	lower_ready
	run_both '
		ps_exec "$MAPS" "$RO/f" race sum
	'
	grep -qx "race: writes the map did not show at once: 0" "$T/stdout.ro"
}
