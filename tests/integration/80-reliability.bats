#!/usr/bin/env bats
# 80-reliability.bats - what survives a full shadow filesystem and what fsync promises: a write that does not fit
# fails whole, and the bytes of a synced file reach the disk before the record that points at them; a shadow
# someone tampered with, and a lower file changed behind its shadow's back, are refused with a reason.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	head -c 4194304 /dev/urandom >"$LOWER/big"
	lower_ready
}

teardown() {
	ps_teardown
}

# Writes of 64 KiB, 70000 bytes apart, into a shadow on a 600 KiB tmpfs until one fails; then the file, read by this
# process and by a new one, must be exactly the lower bytes with the writes that returned.
@test "a full shadow filesystem: the write that does not fit fails with ENOSPC and changes nothing; what returned stays" {
	cat >"$T/fill.py" <<-'END'
		import os, sys
		path, model_path = sys.argv[1], sys.argv[2]
		fd = os.open(path, os.O_RDWR)
		model = bytearray(open(path, "rb").read())
		off, done = 1000, 0
		while off < len(model):
		    data = bytes([(off // 4096) % 251 + 1]) * 65536
		    try:
		        n = os.pwrite(fd, data, off)
		    except OSError as e:
		        print("after", done, "writes:", e.strerror)
		        break
		    model[off:off + n] = data[:n]
		    done += 1
		    off += 70000
		os.close(fd)
		open(model_path, "wb").write(model)
		print("this process reads the model:", open(path, "rb").read() == bytes(model))
	END
	in_ro_ns '
		mkdir -p "$SHADOW"
		mount -t tmpfs -o size=600k tmpfs "$SHADOW"
		ps_exec python3 "$T/fill.py" "$RO/big" "$XOUT/model" >"$XOUT/out"
		ps_exec cmp "$RO/big" "$XOUT/model"
		ps_exec sha256sum "$RO/big" >>"$XOUT/out"
		ps_exec python3 -c "import os, sys; os.pwrite(os.open(sys.argv[1], os.O_RDWR), b\"x\" * 65536, 3000000)" "$RO/big" 2>>"$XOUT/out" && echo "a write fitted" >>"$XOUT/out"
		ps_exec cmp "$RO/big" "$XOUT/model"
	'
	grep -q "^after [0-9]* writes: No space left on device$" "$T/out/ro/out"
	grep -q "^this process reads the model: True$" "$T/out/ro/out"
	grep -q "No space left on device" <(sed 1,2d "$T/out/ro/out")
	assert_lower_unchanged
}

# The rule of docs/FORMAT.md: data file first, then the record (msync and fsync), for fsync and fdatasync alike.
@test "fsync and fdatasync of a shadowed file sync its data file before its record" {
	in_ro_ns '
		strace -f -y -qq -o "$XOUT/trace" -e trace=fsync,fdatasync,msync \
			env LD_PRELOAD="$PS_SHIM" PAGESHADOW_RO="$RO" PAGESHADOW_DIR="$SHADOW" python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b\"x\" * 10, 5000)
os.fsync(fd)
os.pwrite(fd, b\"y\", 9000)
os.fdatasync(fd)
" "$RO/big"
	'
	# the calls on the file's data and record, in order, named by kind
	awk '{ sub(/^[0-9]+ +/, "") }
		/^msync\(/ { print "msync"; next }
		{ call = $0; sub(/\(.*/, "", call) }
		/\/data\// { print call " <data>" }
		/\/meta\// { print call " <record>" }' "$T/out/ro/trace" >"$T/order"
	cat >"$T/expected" <<-END
		fsync <data>
		msync
		fsync <record>
		fdatasync <data>
		msync
		fsync <record>
	END
	diff -u "$T/expected" "$T/order"
}

# A shadow directory someone else could write (a CI cache restored from anywhere) with a symlink planted where the
# engine expects a directory of its own: no write may follow it out (docs/DESIGN.md, beneath.h).
@test "a symlink planted inside the shadow directory leads no write out of it: EIO and one line naming it" {
	mkdir -p "$T/outside"
	in_ro_ns '
		ps_exec mkdir "$RO/d"
		ps_exec sh -c "echo one >\"\$1/d/one\"" sh "$RO"
		rm -rf "$(shadow_data d)" && ln -s "$T/outside" "$(shadow_data d)"
		for cmd in "echo two >\"\$1/d/two\"" "echo more >>\"\$1/d/one\"" "mkdir \"\$1/d/sub\"" "mv \"\$1/big\" \"\$1/d/big\""; do
			if ps_exec sh -c "$cmd" sh "$RO" 2>>"$XOUT/err"; then echo "succeeded: $cmd" >>"$XOUT/out"; fi
		done
	'
	[ ! -s "$T/out/ro/out" ] || { cat "$T/out/ro/out"; false; }
	grep -q "a symbolic link on the way inside the shadow directory" "$T/out/ro/err"
	grep -q "Input/output error" "$T/out/ro/err"
	expect_eq "$(find "$T/outside" -mindepth 1 | wc -l)" 0 "entries made outside the shadow"
	assert_lower_unchanged
}

# The record names the lower file it shadows (device, inode, size, mtime): a lower file changed behind its back
# could make the merge mix old shadowed pages with new lower ones. It is refused, with the reason, never merged.
@test "a lower file changed under its shadow: EIO and one line naming the file and what changed; never merged" {
	local f
	for f in touched grown replaced removed kept; do seq 1 3000 >"$LOWER/$f"; done
	rm "$T/.lower_ready"
	lower_ready
	in_ro_ns '
		for f in touched grown replaced removed; do ps_exec dd of="$RO/$f" bs=1 seek=5000 conv=notrunc status=none <<<"X"; done
	'
	touch -d "1 hour ago" "$LOWER/touched"
	echo more >>"$LOWER/grown"
	cp "$LOWER/replaced" "$T/new" && mv "$T/new" "$LOWER/replaced"
	rm "$LOWER/removed"
	in_ro_ns '
		cd "$RO"
		for f in touched grown replaced removed kept; do
			ps_exec cat "$f" >"$XOUT/$f" 2>"$XOUT/$f.err" || echo "$f: status $?" >>"$XOUT/status"
		done
	'
	expect_eq "$(cat "$T/out/ro/status")" "touched: status 1
grown: status 1
replaced: status 1
removed: status 1" "which reads failed"
	grep -qx "cat\[[0-9]*\]: $RO/touched: stale shadow record: lower file modified (mtime [0-9.]*, recorded [0-9.]*)" "$T/out/ro/touched.err"
	grep -qx "cat\[[0-9]*\]: $RO/grown: stale shadow record: lower file size changed (13898 bytes, recorded 13893)" "$T/out/ro/grown.err"
	grep -qx "cat\[[0-9]*\]: $RO/replaced: stale shadow record: lower file replaced (inode [0-9]*, recorded [0-9]*)" "$T/out/ro/replaced.err"
	grep -qx "cat\[[0-9]*\]: $RO/removed: stale shadow record: lower file is gone" "$T/out/ro/removed.err"
	for f in touched grown replaced removed; do
		grep -qx "cat: $f: Input/output error" "$T/out/ro/$f.err"
		expect_eq "$(stat -c %s "$T/out/ro/$f")" 0 "bytes read from $f"
	done
	cmp "$T/out/ro/kept" "$LOWER/kept"
	in_ro_ns '"$PS_BUILD/pageshadow" -s "$SHADOW" ls >"$XOUT/ls" 2>"$XOUT/ls.err"'
	cut -f1,5 "$T/out/ro/ls" >"$T/states"
	expect_eq "$(sed -n 1p "$T/states")" "stale (lower file size changed (13898 bytes, recorded 13893))	$RO/grown" "ls of grown"
	expect_eq "$(sed -n 2p "$T/states")" "stale (lower file is gone)	$RO/removed" "ls of removed"
	grep -q "^stale (lower file replaced (inode [0-9]*, recorded [0-9]*))	$RO/replaced\$" "$T/states"
	grep -q "^stale (lower file modified (mtime [0-9.]*, recorded [0-9.]*))	$RO/touched\$" "$T/states"
	# Recovery (docs/FORMAT.md): rebase where the size stayed - the written page stays, the rest is the new lower
	# file -, reset where it did not (rebase refuses, naming the cause).
	in_ro_ns '
		"$PS_BUILD/pageshadow" -s "$SHADOW" rebase "$RO/grown" 2>"$XOUT/rebase-grown.err" || echo "rebase grown: $?" >"$XOUT/rebase-grown"
		"$PS_BUILD/pageshadow" -s "$SHADOW" rebase "$RO/touched" "$RO/replaced"
		"$PS_BUILD/pageshadow" -s "$SHADOW" reset "$RO/grown" "$RO/removed"
		for f in touched grown replaced removed; do ps_exec cat "$RO/$f" >"$XOUT/$f" 2>"$XOUT/$f.err" || echo "$f: status $?" >>"$XOUT/after"; done
	'
	expect_eq "$(cat "$T/out/ro/rebase-grown")" "rebase grown: 2" "rebase of a file whose lower size changed"
	expect_eq "$(cat "$T/out/ro/rebase-grown.err")" "pageshadow: $RO/grown: the lower file's size changed (13898 bytes, recorded 13893) (reset it instead)" "its error line"
	expect_eq "$(cat "$T/out/ro/after")" "removed: status 1" "reads failing after the recovery"
	cmp "$T/out/ro/grown" "$LOWER/grown"
	for f in touched replaced; do
		{ head -c 5000 "$LOWER/$f"; echo X; tail -c +5003 "$LOWER/$f"; } >"$T/expected"
		cmp "$T/out/ro/$f" "$T/expected"
	done
}

# A signal handler's write into a shadowed file that interrupts the shim in its own thread cannot take the
# engine's locks (the interrupted code may hold them), and the real call would write the data file behind the
# record's back (a page not copied up: the byte lost, or overwritten by a later copy-up). It fails with EIO -
# unless the file needs no merge (made in the shadow) -; every write that returned - the main loop's and the
# handler's - reads back.
@test "a signal handler writing a shadowed file while its thread is inside the shim: EIO or written, never lost" {
	local PS_TRACE=0 # strace would stretch the 20 us timer past any bound; the read-only mount guards the lower tree
	head -c $((40 * 1048576)) /dev/urandom >"$LOWER/sig"
	rm "$T/.lower_ready"
	lower_ready
	in_rw_ns 'ps_exec "$PS_BUILD/ps-torture" signals "$RO/sig" 300000' >"$T/stdout.rw"
	in_ro_ns 'ps_exec "$PS_BUILD/ps-torture" signals "$RO/sig" 300000' >"$T/stdout.ro"
	expect_eq "$(cat "$T/stdout.rw")" "handler during a lock wait: written; into a new file: written
handler: 4096 written, 0 refused (EIO), 0 other errors
verified" "on the writable copy"
	# The lock wait makes the nested case certain; the timer's share of it varies with the machine.
	expect_eq "$(sed -n 1p "$T/stdout.ro")" "handler during a lock wait: EIO; into a new file: written" "under the shim"
	grep -qx "handler: [0-9]* written, [0-9]* refused (EIO), 0 other errors" <(sed -n 2p "$T/stdout.ro")
	expect_eq "$(sed -n 3p "$T/stdout.ro")" verified "under the shim"
	assert_lower_unchanged
}
