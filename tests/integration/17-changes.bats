#!/usr/bin/env bats
# 17-changes.bats - pageshadow-run --log (every change under the prefixes as a JSON line) and --deny (every change
# fails with EROFS, as on a read-only filesystem, and is said), on a read-only tree, checked with python3's json.

bats_require_minimum_version 1.5.0

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	echo hello >"$LOWER/f"
	echo lower-g >"$LOWER/g"
	head -c 8192 /dev/zero >"$LOWER/big"
	mkdir "$LOWER/d" "$LOWER/rmme"
	echo x >"$LOWER/d/x"
	lower_ready
	LOG=$XOUT/changes.jsonl
	export LOG
}

teardown() {
	ps_teardown
}

# One call of each kind that changes the tree, by a program that makes the system calls itself; each call is
# printed with its result (OK or the errno's name).
CHANGES_PY='
import ctypes, errno, fcntl, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
os.chdir(sys.argv[1])
def do(what, fn, *args):
    try:
        fn(*args)
        print(what, "OK")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
def write_twice():
    fd = os.open("f", os.O_WRONLY)
    try:
        os.write(fd, b"H"); os.write(fd, b"E")
    finally:
        os.close(fd)
def open_rdwr_only():
    os.close(os.open("f", os.O_RDWR))
def create():
    fd = os.open("new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b"new\n")
    finally:
        os.close(fd)
def open_trunc():
    os.close(os.open("g", os.O_WRONLY | os.O_TRUNC))
def map_write():
    fd = os.open("big", os.O_RDWR)
    try:
        m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m[0] = 65
        m.close()
    finally:
        os.close(fd)
def ftruncate():
    fd = os.open("big", os.O_RDWR)
    try:
        os.ftruncate(fd, 100)
    finally:
        os.close(fd)
def failing_writes():
    fd = os.open("d/x", os.O_RDWR)
    try:
        os.write(fd, b"")
        try:
            os.ftruncate(fd, -1)
        except OSError:
            pass
    finally:
        os.close(fd)
def raw(nr, *args): # syscall(2) with the number itself (x86-64 numbers)
    if libc.syscall(nr, *args) < 0:
        raise OSError(ctypes.get_errno(), "")
def chattr():
    fd = os.open("f", os.O_RDONLY)
    try:
        fcntl.ioctl(fd, 0x40086602, struct.pack("l", 0)) # FS_IOC_SETFLAGS
    finally:
        os.close(fd)
do("write", write_twice)
do("open-rdwr", open_rdwr_only)
do("create", create)
do("truncate", os.truncate, "g", 3)
do("o_trunc", open_trunc)
do("mkdir", os.mkdir, "nd")
do("mkdir-existing", os.mkdir, "d")
do("mkfifo", os.mkfifo, "nd/fifo")
do("symlink", os.symlink, "f", "sl")
do("link", os.link, "f", "hl")
do("rename", os.rename, "new", "nd/moved")
do("unlink", os.unlink, "hl")
do("unlink-missing", os.unlink, "missing")
do("rmdir", os.rmdir, "rmme")
do("chmod", os.chmod, "f", 0o600)
do("chown", os.chown, "f", 0, 0)
do("utime", os.utime, "f", (1, 1))
do("setxattr", os.setxattr, "f", "user.k", b"v")
do("removexattr", os.removexattr, "f", "user.k")
do("map-write", map_write)
do("ftruncate", ftruncate)
do("failing-writes", failing_writes)
do("truncate-missing", os.truncate, "nosuch", 0)
do("truncate-negative", os.truncate, "f", -1)
do("tmpfile-missing", os.open, "nosuch", os.O_TMPFILE | os.O_WRONLY, 0o600)
do("tmpfile-on-file", os.open, "f", os.O_TMPFILE | os.O_WRONLY, 0o600)
do("tmpfile-rdonly", os.open, "d", os.O_TMPFILE | os.O_RDONLY)
do("raw-setxattr", raw, 188, b"f", b"user.r", b"1", 1, 0)
do("raw-utimes", raw, 235, b"f", None)
do("raw-fchmodat2", raw, 452, -100, b"f", 0o640, 0)
do("chattr", chattr)
do("read", lambda: open("d/x").read())
print("access-w", os.access("f", os.W_OK))
print("statvfs-rdonly", bool(os.statvfs(".").f_flag & os.ST_RDONLY))
'
export CHANGES_PY

# The log ($1) as "op path [to] [denied]" lines, paths relative to $RO; every line must be JSON with the fields the
# format promises (time, pid, prog).
log_as_text() {
	python3 - "$1" "$RO" <<-'END'
		import json, os, sys
		ro = sys.argv[2] + "/"
		for line in open(sys.argv[1], encoding="utf-8"):
		    e = json.loads(line)
		    assert set(e) <= {"time", "pid", "prog", "op", "path", "to", "denied"}, e
		    assert isinstance(e["pid"], int) and e["time"].endswith("Z") and e["prog"], e
		    out = [e["op"], e["path"].removeprefix(ro)]
		    if "to" in e:
		        out.append(e["to"].removeprefix(ro))
		    if e.get("denied"):
		        out.append("denied")
		    print(" ".join(out))
	END
}

@test "--log: each change under the prefixes is one JSON line - writes once per open description, failed calls not at all" {
	in_ro_ns '"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --log "$LOG" -- python3 -c "$CHANGES_PY" "$RO" >"$XOUT/results"'
	cat >"$T/results.want" <<-'END'
		write OK
		open-rdwr OK
		create OK
		truncate OK
		o_trunc OK
		mkdir OK
		mkdir-existing EEXIST
		mkfifo OK
		symlink OK
		link OK
		rename OK
		unlink OK
		unlink-missing ENOENT
		rmdir OK
		chmod OK
		chown OK
		utime OK
		setxattr OK
		removexattr OK
		map-write OK
		ftruncate OK
		failing-writes OK
		truncate-missing ENOENT
		truncate-negative EINVAL
		tmpfile-missing ENOENT
		tmpfile-on-file ENOTDIR
		tmpfile-rdonly EINVAL
		raw-setxattr OK
		raw-utimes OK
		raw-fchmodat2 OK
		chattr ENOTSUP
		read OK
		access-w True
		statvfs-rdonly False
	END
	diff -u "$T/results.want" "$T/out/ro/results"
	log_as_text "$T/out/ro/changes.jsonl" >"$T/log.text"
	cat >"$T/log.want" <<-'END'
		write f
		create new
		write new
		truncate g
		truncate g
		mkdir nd
		mknod nd/fifo
		symlink sl
		link f hl
		rename new nd/moved
		unlink hl
		rmdir rmme
		chmod f
		chown f
		utimes f
		setxattr f
		removexattr f
		write big
		write big
		setxattr f
		utimes f
		chmod f
	END
	diff -u "$T/log.want" "$T/log.text"
	grep -q '"prog":"python3"' "$T/out/ro/changes.jsonl"
	assert_lower_unchanged
	assert_traces_clean
}

@test "--deny: every change fails with EROFS (mkdir of an existing name EEXIST), is said on stderr and logged; nothing reaches the shadow" {
	in_ro_ns '"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny --log "$LOG" -- python3 -c "$CHANGES_PY" "$RO" \
		>"$XOUT/results" 2>"$XOUT/stderr"'
	cat >"$T/results.want" <<-'END'
		write EROFS
		open-rdwr EROFS
		create EROFS
		truncate EROFS
		o_trunc EROFS
		mkdir EROFS
		mkdir-existing EEXIST
		mkfifo ENOENT
		symlink EROFS
		link EROFS
		rename EROFS
		unlink EROFS
		unlink-missing EROFS
		rmdir EROFS
		chmod EROFS
		chown EROFS
		utime EROFS
		setxattr EROFS
		removexattr EROFS
		map-write EROFS
		ftruncate EROFS
		failing-writes EROFS
		truncate-missing ENOENT
		truncate-negative EINVAL
		tmpfile-missing ENOENT
		tmpfile-on-file ENOTDIR
		tmpfile-rdonly EINVAL
		raw-setxattr EROFS
		raw-utimes EROFS
		raw-fchmodat2 EROFS
		chattr ENOTSUP
		read OK
		access-w False
		statvfs-rdonly True
	END
	diff -u "$T/results.want" "$T/out/ro/results"
	log_as_text "$T/out/ro/changes.jsonl" >"$T/log.text"
	cat >"$T/log.want" <<-'END'
		write f denied
		write f denied
		create new denied
		truncate g denied
		write g denied
		mkdir nd denied
		symlink sl denied
		link f hl denied
		rename new nd/moved denied
		unlink hl denied
		unlink missing denied
		rmdir rmme denied
		chmod f denied
		chown f denied
		utimes f denied
		setxattr f denied
		removexattr f denied
		write big denied
		write big denied
		write d/x denied
		setxattr f denied
		utimes f denied
		chmod f denied
	END
	diff -u "$T/log.want" "$T/log.text"
	# one line on stderr per refusal, naming it
	[ "$(grep -c '^python3\[[0-9]*\]: denied by pageshadow-run --deny: ' "$T/out/ro/stderr")" -eq "$(wc -l <"$T/log.want")" ]
	grep -qxF "python3[$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$T/out/ro/changes.jsonl" | head -1)]: denied by pageshadow-run --deny: rename $RO/new -> $RO/nd/moved" "$T/out/ro/stderr"
	[ -z "$(find "$SHADOW" -path "$SHADOW/meta/*" -o -path "$SHADOW/data/*" | head -1)" ]
	assert_lower_unchanged
	assert_traces_clean
}

@test "--deny holds in a program that clears or overrides its environment, for tools, and leaves locks off the shadow" {
	in_ro_ns 'cd "$RO"
		! "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny -- env -i /bin/sh -c "echo x >f" 2>"$XOUT/err1"
		grep -q "Read-only file system" "$XOUT/err1"
		! "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny --log "$LOG" -- \
			env PAGESHADOW_DENY=0 PAGESHADOW_LOG= /bin/sh -c "echo x >f" 2>"$XOUT/err0"
		grep -q "Read-only file system" "$XOUT/err0"
		grep -q "\"op\":\"write\",\"path\":\"$RO/f\",\"denied\":true" "$LOG"
		"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny -- python3 -c "
import fcntl
fcntl.flock(open(\"f\"), fcntl.LOCK_SH)
fcntl.lockf(open(\"g\"), fcntl.LOCK_SH)
fcntl.fcntl(open(\"big\"), fcntl.F_OFD_SETLK, bytes(32))"
		! "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny -- sed -i s/hello/bye/ f 2>"$XOUT/err2"
		grep -q "denied by pageshadow-run --deny: create $RO/sed" "$XOUT/err2"
		"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny -- cat f >"$XOUT/cat"
		# --allow-unshimmed is not needed: writes outside the prefixes go on as usual
		"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --deny -- sh -c "echo out >$XOUT/outside"'
	[ "$(cat "$T/out/ro/cat")" = hello ]
	[ "$(cat "$T/out/ro/outside")" = out ]
	[ -z "$(find "$SHADOW" -path "$SHADOW/meta/*" -o -path "$SHADOW/data/*" | head -1)" ]
	assert_lower_unchanged
}

@test "--log from processes at once: every line whole, one per change; a name that is not UTF-8 reads as its bytes' code points" {
	in_ro_ns 'cd "$RO"
		"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --log "$LOG" -- sh -c "
			for p in 1 2 3 4; do
				(for i in \$(seq 1 50); do echo \$i >n\$p-\$i; done) &
			done
			wait
			echo x >\"\$(printf \"odd-\\377-\\001\")\""'
	python3 - "$T/out/ro/changes.jsonl" "$RO" <<-'END'
		import json, sys
		lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
		entries = [json.loads(l) for l in lines]
		creates = sorted(e["path"] for e in entries if e["op"] == "create")
		want = sorted(f"{sys.argv[2]}/n{p}-{i}" for p in range(1, 5) for i in range(1, 51))
		odd = sys.argv[2] + "/odd-\xff-\x01"
		assert creates == sorted(want + [odd]), (len(creates), len(want))
		assert len(entries) == 2 * len(creates), len(entries)  # a create and a write each
	END
}

@test "--log refusals: a file under a prefix, in the shadow, in a missing directory, a dangling symlink; the log is emptied first" {
	in_ro_ns 'cd "$T"
		ln -s "$SHADOW/newlog" "$XOUT/dangling"
		for bad in "$RO/log" "$SHADOW/log" "$T/nodir/log" "$XOUT/dangling"; do
			if "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --log "$bad" -- true 2>"$XOUT/err"; then
				echo "--log $bad was accepted" >&2
				exit 1
			fi
			[ "$(wc -l <"$XOUT/err")" -eq 1 ] && grep -q "^pageshadow-run: --log $bad" "$XOUT/err"
		done
		! "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --log "" -- true 2>"$XOUT/err"
		grep -q "^pageshadow-run: --log needs a file name" "$XOUT/err"
		echo stale >"$XOUT/rel.jsonl"
		cd "$XOUT" && "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --log rel.jsonl -- sh -c "cd / && rm $RO/f"'
	[ ! -e "$SHADOW/newlog" ]
	[ "$(wc -l <"$T/out/ro/rel.jsonl")" -eq 1 ]
	grep -q '"op":"unlink"' "$T/out/ro/rel.jsonl"
	assert_lower_unchanged
}

@test "without --deny and --log the caller's PAGESHADOW_DENY and PAGESHADOW_LOG are not passed on; the bare shim refuses a relative log" {
	in_ro_ns 'cd "$RO"
		PAGESHADOW_DENY=1 PAGESHADOW_LOG=$XOUT/stale.jsonl "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" -- \
			sh -c "echo changed >f; cat f >$XOUT/f; env | grep ^PAGESHADOW_ | sort >$XOUT/env"
		[ "$(cat "$XOUT/f")" = changed ]
		[ ! -e "$XOUT/stale.jsonl" ]
		! env LD_PRELOAD="$PS_SHIM" PAGESHADOW_RO="$RO" PAGESHADOW_DIR="$SHADOW" PAGESHADOW_LOG=rel.jsonl \
			sh -c "echo again >g" 2>"$XOUT/err"
		grep -q "PAGESHADOW_LOG=rel.jsonl: not an absolute path" "$XOUT/err"
		grep -q "Read-only file system" "$XOUT/err"'
	if grep 'PAGESHADOW_DENY\|PAGESHADOW_LOG' "$T/out/ro/env"; then
		echo "passed on from the caller's environment" >&2
		false
	fi
	assert_lower_unchanged
}
