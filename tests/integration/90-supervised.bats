#!/usr/bin/env bats
# 90-supervised.bats - programs the shim cannot enter (gcc -static, Go, busybox) under the supervisor, on a really
# read-only tree, each compared with the same commands on a writable copy (helpers.bash: run_both): the same
# output, the same bytes read back, the lower tree unchanged, the shadow holding only the pages written.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	# strace cannot show which calls the supervisor answered: its filter loses to the user notification, and a
	# call it stops at anyway names the lower path the supervisor then serves from the shadow. The read-only
	# mount and the lower tree's checksums (assert_lower_unchanged) stand for the trace here.
	PS_TRACE=0
	ps_setup
	STATIC=$PS_BUILD/ps-static GOWORK=$PS_BUILD/ps-gowork
	export STATIC GOWORK
	[ -x "$STATIC" ] || skip "no static test program (make $PS_BUILD/ps-static)"
}

teardown() {
	ps_teardown
}

# BB: a statically linked busybox, or the test is skipped.
need_static_busybox() {
	BB=$(command -v busybox) || skip "busybox-static is not installed"
	file -L "$BB" | grep -q "statically linked" || skip "$BB is not statically linked"
	export BB
}

# The tree the work programs expect; partial is changed by a dynamic program before they read it.
make_work_tree() {
	mkdir -p "$LOWER/sub"
	head -c 100000 /dev/urandom >"$LOWER/partial"
	head -c $((64 << 20)) /dev/urandom >"$LOWER/big"
	echo "line one" >"$LOWER/log"
	echo bye >"$LOWER/gone"
	echo s >"$LOWER/sub/s"
	lower_ready
}

# The data file of RO/big holds one page per byte written (WRITES of them), not the whole 64 MiB.
assert_big_shadow_bounded() { # WRITES
	local kib
	kib=$(du -k "$(shadow_data big)" | cut -f1)
	[ "$kib" -le $(($1 * 4 + 64)) ] || {
		echo "the data file of big takes $kib KiB for $1 single-byte writes" >&2
		return 1
	}
}

@test "a gcc -static program reads a partly changed file, writes single bytes from four threads, creates, renames, removes and lists, as on a writable copy" {
	make_work_tree
	run_both '
		ps_exec dd of="$RO/partial" bs=1 seek=5000 conv=notrunc status=none <<<"ZZZZ"
		ps_exec "$STATIC" work "$RO"
	'
	assert_big_shadow_bounded 256
	grep -q "^newdir/moved 10 640 " "$T/stdout.ro"
}

@test "a static program's O_PATH descriptors, sendfile, copy_file_range, splice, O_TMPFILE, F_DUPFD and names ending in a slash, as on a writable copy" {
	make_work_tree
	run_both '
		ps_exec dd of="$RO/partial" bs=1 seek=5000 conv=notrunc status=none <<<"ZZZZ"
		ps_exec "$STATIC" calls "$RO"
	'
	grep -q "^sendfile of a partly shadowed file: 8192$" "$T/stdout.ro"
}

@test "a static program's maps of a partly shadowed file hold its merged bytes - private ones in a child forked right after too, read-only shared ones after later writes - as on a writable copy" {
	make_work_tree
	run_both '
		ps_exec dd of="$RO/partial" bs=1 seek=5000 conv=notrunc status=none <<<"ZZZZ"
		ps_exec "$STATIC" map "$RO"
	'
	grep -qx "  the map holds the merged bytes: 1" "$T/stdout.ro"
}

@test "python3 under a supervised shell maps a partly shadowed file: private, read-only and writable shared maps hold the merged bytes; stores reach the file for the process, its children and after its exit or kill -9, as on a writable copy" {
	command -v python3 >/dev/null || skip "python3 is needed"
	need_static_busybox
	head -c 10000 /dev/urandom >"$LOWER/f"
	cat >"$T/map.py" <<-'EOF'
		import mmap, os, subprocess, sys
		path = sys.argv[1]
		f = open(path, "r+b")
		print(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)[50:51])  # MAP_PRIVATE
		r = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # MAP_SHARED, PROT_READ
		print(r[50:51])
		f.seek(60)
		f.write(b"later")
		f.flush()
		print(r[60:65])
		w = mmap.mmap(f.fileno(), 0)  # MAP_SHARED, PROT_READ | PROT_WRITE
		print(w[60:65])
		w[70:75] = b"store"
		print(os.pread(f.fileno(), 5, 70), r[70:75])  # its own descriptor, another shared map
		w[9000:9003] = b"end"
		w.flush()  # msync
		print(subprocess.run(["dd", "if=" + path, "bs=1", "skip=9000", "count=3", "status=none"],
				     capture_output=True).stdout)
		w[100:103] = b"bye"
		if len(sys.argv) > 2:
		    w[200:204] = b"kill"
		    os.kill(os.getpid(), 9)
	EOF
	run_both '
		ps_exec dd of="$RO/f" bs=1 seek=50 conv=notrunc status=none <<<"x"
		ps_exec "$BB" sh -c "python3 $T/map.py $RO/f"
		ps_exec od -An -c -j100 -N3 "$RO/f"
		ps_exec "$BB" sh -c "python3 $T/map.py $RO/f kill; echo killed: \$?; od -An -c -j200 -N4 $RO/f"
	'
	[ "$(head -n 5 "$T/stdout.ro")" = "b'x'
b'x'
b'later'
b'later'
b'store' b'store'" ]
	grep -qx "killed: 137" "$T/stdout.ro"
	[ "$(du -k "$(shadow_data f)" | cut -f1)" -le 12 ] # pages 0 and 2 (at most 3 blocks with the end's)
}

@test "fcntl, OFD and flock locks of supervised and shimmed programs exclude each other, as on one file; they go on close, exit and kill -9; 80 waiters all get one" {
	command -v python3 >/dev/null || skip "python3 is needed"
	need_static_busybox
	echo data >"$LOWER/db"
	lower_ready
	# hold.py FILE KIND READY: takes the lock, writes its pid into READY (outside the tree: the guard lets nothing be made beside it), then waits for READY.go to appear (and exits) -
	# or, with KIND posix-close, closes another descriptor of the file first (POSIX: its locks go).
	cat >"$T/hold.py" <<-'EOF'
		import fcntl, os, struct, sys, time
		path, kind, ready = sys.argv[1:4]
		f = open(path, "r+b")
		if kind.startswith("posix"):
		    fcntl.lockf(f, fcntl.LOCK_EX)
		elif kind == "ofd":
		    fcntl.fcntl(f, 37, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))  # F_OFD_SETLK
		else:
		    fcntl.flock(f, fcntl.LOCK_EX)
		if kind == "posix-close":
		    open(path, "rb").close()
		with open(ready + ".tmp", "w") as r:
		    r.write(str(os.getpid()))
		os.rename(ready + ".tmp", ready)
		while not os.path.exists(ready + ".go"):
		    time.sleep(0.02)
	EOF
	# try.py FILE: which of the three kinds of lock another process could take now
	cat >"$T/try.py" <<-'EOF'
		import fcntl, struct, sys
		def free(take):  # (a lock taken goes with the file's close: the next kind is tried alone)
		    with open(sys.argv[1], "r+b") as f:
		        try:
		            take(f)
		            return "free"
		        except OSError:
		            return "held"
		print("posix", free(lambda f: fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)),
		      "ofd", free(lambda f: fcntl.fcntl(f, 37, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))),
		      "flock", free(lambda f: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)))
	EOF
	# queue.py FILE N: holds flock, forks N children that each wait for it, then lets it go: all get it in turn
	cat >"$T/queue.py" <<-'EOF'
		import fcntl, os, sys, time
		fd = os.open(sys.argv[1], os.O_RDWR)
		fcntl.flock(fd, fcntl.LOCK_EX)
		kids = []
		for i in range(int(sys.argv[2])):
		    pid = os.fork()
		    if pid == 0:
		        g = os.open(sys.argv[1], os.O_RDWR)
		        fcntl.flock(g, fcntl.LOCK_EX)
		        fcntl.flock(g, fcntl.LOCK_UN)
		        os._exit(0)
		    kids.append(pid)
		time.sleep(1)
		fcntl.flock(fd, fcntl.LOCK_UN)
		print(sum(os.waitpid(p, 0)[1] == 0 for p in kids), "waiters got the lock")
	EOF
	in_ro_ns '
		run() { "$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" -- "$@"; }
		supervised() { run "$BB" sh -c "exec python3 $*"; }
		shimmed() { run python3 "$@"; }
		wait_ready() { for _ in $(seq 500); do [ -e "$XOUT/ready" ] && return; sleep 0.02; done; return 1; }
		start() { rm -f "$XOUT/ready" "$XOUT/ready.go"; "$@" & holder=$!; wait_ready; }
		finish() { touch "$XOUT/ready.go"; wait "$holder"; }
		# a free check that may have to wait for the supervisor to see a killed holder gone
		eventually() { for _ in $(seq 100); do [ "$(shimmed "$T/try.py" "$RO/db")" = "$1" ] && return; sleep 0.05; done
			expect_eq "$(shimmed "$T/try.py" "$RO/db")" "$1" "$2"; }

		start supervised "$T/hold.py" "$RO/db" posix "$XOUT/ready"
		expect_eq "$(shimmed "$T/try.py" "$RO/db")" "posix held ofd held flock free" "a shimmed try, supervised POSIX holder"
		expect_eq "$(supervised "$T/try.py" "$RO/db")" "posix held ofd held flock free" "a supervised try, supervised POSIX holder"
		kill -9 "$(cat "$XOUT/ready")"
		wait "$holder" || true
		eventually "posix free ofd free flock free" "after kill -9 of the supervised holder"

		# holds WHO KIND TRIER SEEN: while WHO holds a KIND lock, TRIER finds SEEN; then WHO exits
		holds() {
			start "$1" "$T/hold.py" "$RO/db" "$2" "$XOUT/ready"
			expect_eq "$("$3" "$T/try.py" "$RO/db")" "$4" "a $3 try, $1 $2 holder"
			finish
		}
		holds shimmed flock supervised "posix free ofd free flock held"
		holds supervised flock shimmed "posix free ofd free flock held"
		expect_eq "$(shimmed "$T/try.py" "$RO/db")" "posix free ofd free flock free" "after the supervised holder exits"
		holds supervised ofd shimmed "posix held ofd held flock free"
		holds shimmed posix supervised "posix held ofd held flock free"
		holds supervised posix-close shimmed "posix free ofd free flock free" # (POSIX: closing any descriptor)
		# more waiters than the supervisor has workers: no worker waits for a lock
		expect_eq "$(supervised "$T/queue.py" "$RO/db" 80)" "80 waiters got the lock" "80 waiting supervised processes"
	'
	assert_lower_unchanged
}

@test "a supervised program that lowers its limit on open files below the supervisor's numbers gets EMFILE and a reason" {
	need_static_busybox
	mkdir -p "$LOWER/sub"
	echo s >"$LOWER/sub/s"
	lower_ready
	in_ro_ns 'cd "$RO" && ps_exec "$BB" sh -c "ulimit -n 1024; ls sub"' >"$T/ulimit.out" 2>&1 && return 1
	grep -q "lowered its limit on open files to 1024, below the numbers its merged files take" "$T/ulimit.out"
	grep -q "Too many open files" "$T/ulimit.out"
}

@test "a supervised thread waiting in an open of a FIFO holds up no other thread's calls" {
	make_work_tree
	run_both 'ps_exec timeout 60 "$STATIC" fifo "$RO" || echo "status $?"'
	grep -qx "the reader got: through" "$T/stdout.ro"
}

@test "a static program changes into directories it made: relative names, getcwd, .., fchdir, closefrom, /proc/self/cwd and a child's exec, as on a writable copy" {
	make_work_tree
	run_both 'ps_exec "$STATIC" cwd "$RO"'
	grep -q "^  cwd: DIR/made/deeper$" "$T/stdout.ro"
	grep -q "^child: cwd: DIR/made$" "$T/stdout.ro"
}

@test "busybox sh: mkdir d && cd d, then its applets, dynamic programs (a cd of their own), python's subprocess and git init DIR work there, as on a writable copy" {
	need_static_busybox
	command -v git >/dev/null && command -v python3 >/dev/null || skip "git and python3 are needed"
	mkdir -p "$LOWER/sub"
	echo lower >"$LOWER/sub/f"
	lower_ready
	cat >"$T/cwd.sh" <<-'EOF'
		mkdir d && cd d && pwd && echo x >f && cat f && /bin/ls -a && cd .. && ls
		cd d && mkdir -p e/f && cd e/f && /bin/pwd && cd ../../../sub && cat f && cd "$OLDPWD" && pwd
		python3 -c 'import os, subprocess; subprocess.run(["cat", "../../f"]); open("py", "w").write("p\n")'
		cat py && cd "$RO/d" && git init -q repo && cd repo && echo a >a && git add a
		git -c user.email=t@t -c user.name=t commit -qm one && git log --format=%s && git status --short && ls -a
		cd .. && rm -rf repo # (its index holds inode numbers and times, which differ from the copy's)
		cp /bin/echo ec && bash -c '$PWD/ec run by bash' && mkdir -p sub2 && cp ec sub2/ && bash -c 'cd sub2 && ../sub2/ec after its cd && pwd'
	EOF
	run_both 'cd "$RO" && ps_exec "$BB" sh -e "$T/cwd.sh"'
	grep -qx "$RO/d/e/f" "$T/stdout.ro"
	grep -qx "one" "$T/stdout.ro"
}

@test "a Go program (CGO_ENABLED=0) writes single bytes into a 64 MiB file from eight goroutines and walks the tree, as on a writable copy" {
	[ -x "$GOWORK" ] || skip "no Go test program (Debian's golang-go is not installed)"
	make_work_tree
	run_both '
		ps_exec dd of="$RO/partial" bs=1 seek=5000 conv=notrunc status=none <<<"ZZZZ"
		ps_exec "$GOWORK" "$RO"
	'
	assert_big_shadow_bounded 512
	grep -q "^newdir/moved -rw-r--r-- 11 " "$T/stdout.ro"
}

@test "busybox's applets (static): cat, dd conv=notrunc, sed -i, sha256sum, cp, tar, ls, as on a writable copy" {
	need_static_busybox
	mkdir -p "$LOWER/d/e"
	seq 1 3000 >"$LOWER/d/numbers"
	echo "hello" >"$LOWER/d/e/small"
	head -c 50000 /dev/urandom >"$LOWER/blob"
	lower_ready
	run_both '
		cd "$RO"
		ps_exec "$BB" dd if=/dev/zero of=blob bs=1 count=3 seek=20000 conv=notrunc status=none 2>/dev/null ||
			ps_exec "$BB" dd if=/dev/zero of=blob bs=1 count=3 seek=20000 conv=notrunc 2>/dev/null
		ps_exec "$BB" sed -i "s/^2999$/changed/" d/numbers
		ps_exec "$BB" cat d/numbers | tail -3
		ps_exec "$BB" sha256sum blob d/numbers d/e/small
		ps_exec "$BB" cp d/e/small d/copied
		ps_exec "$BB" tar -cf "$XOUT/d.tar" d
		ps_exec "$BB" mkdir x
		ps_exec "$BB" tar -xf "$XOUT/d.tar" -C d/e
		ps_exec "$BB" cp -r d/e/d x/
		ps_exec "$BB" ls -R x d | sort
		ps_exec "$BB" sha256sum x/d/numbers x/d/copied
		ps_exec "$BB" sh -c "echo redirected >x/out && cat <blob | sha256sum && cat x/out"
		rm "$XOUT/d.tar" # (its times differ from the copy'"'"'s)
	'
}

@test "a static program reads and writes merged descriptors it inherited above 2, opens them by name, and redirects 9000 times, as on a writable copy" {
	need_static_busybox
	head -c 50000 /dev/urandom >"$LOWER/blob"
	echo lowerdata >"$LOWER/small"
	lower_ready
	# run by a shimmed bash: its descriptors 4 and 5 are merged when the static programs start
	cat >"$T/inherit.sh" <<-'EOF'
		cd "$RO"
		printf XX | dd of=blob bs=1 seek=5000 conv=notrunc status=none
		exec 4<blob 5<>blob
		"$BB" sha256sum <&4
		"$BB" sha256sum /dev/stdin <blob
		"$BB" sh -c '"$BB" sha256sum /dev/fd/5 /proc/self/fd/5; "$BB" stat -L -c %s /dev/fd/5'
		printf YY | "$BB" dd bs=1 seek=7000 conv=notrunc >&5 2>/dev/null
		"$BB" sh -c 'printf ZZ >&5; "$BB" dd if=/dev/fd/4 bs=1 count=8 skip=4998 2>/dev/null | od -An -c'
		"$BB" truncate -s 30000 /dev/fd/5
		"$BB" readlink /dev/stdin </dev/null
		"$BB" stat -c %F /dev/stdin </dev/null
		sha256sum blob
		exec 3<small
		printf AB | "$BB" dd of=/dev/fd/3 bs=1 seek=1 conv=notrunc 2>/dev/null
		cat small
		"$BB" sh -c 'i=0; while [ $i -lt 9000 ]; do echo $i >>small || exit 1; i=$((i+1)); done'
		wc -l <small
	EOF
	run_both 'ps_exec bash "$T/inherit.sh"'
}

@test "a static program copies merged descriptors below the threshold (busybox exec 3<, 4>>, 5<>, Go's ExtraFiles): each file is copied up whole first, as on a writable copy" {
	need_static_busybox
	[ -x "$GOWORK" ] || skip "no Go test program (Debian's golang-go is not installed)"
	seq 1 30000 >"$LOWER/numbers"
	seq 1 20000 >"$LOWER/log"
	head -c 200000 /dev/urandom >"$LOWER/blob"
	head -c 100000 /dev/urandom >"$LOWER/extra"
	seq 1 5000 >"$LOWER/mapped"
	lower_ready
	cat >"$T/low.sh" <<-'EOF'
		cd "$RO"
		printf XX | dd of=numbers bs=1 seek=70000 conv=notrunc status=none
		printf YY | dd of=log bs=1 seek=100 conv=notrunc status=none
		printf ZZ | dd of=blob bs=1 seek=150000 conv=notrunc status=none
		printf WW | dd of=extra bs=1 seek=50000 conv=notrunc status=none
		"$BB" sh -c 'exec 3<numbers; read a <&3; read b <&3; echo "$a $b"; "$BB" tail -c 20 <&3; "$BB" sha256sum /dev/fd/3'
		"$BB" sh -c 'exec 4>>log; echo appended >&4; "$BB" tail -c 30 log; "$BB" sha256sum log'
		"$BB" sh -c 'exec 5<>blob; printf AB >&5; "$BB" dd bs=1 seek=150001 count=2 conv=notrunc <&5 >&5 2>/dev/null </dev/zero; "$BB" sha256sum blob'
		"$GOWORK" extra extra "$BB" sh -c '"$BB" head -c 4 <&3; printf QQ >&3; "$BB" dd if=/dev/fd/3 bs=1 skip=49999 count=4 2>/dev/null; echo'
		printf VV | dd of=mapped bs=1 seek=9000 conv=notrunc status=none
		"$STATIC" dup-map mapped
		sha256sum numbers log blob extra
	EOF
	run_both 'ps_exec bash "$T/low.sh"'
	grep -qx "the map after it: NEW" "$T/stdout.ro"
	local f kib
	for f in numbers log blob extra; do # (du counts what the data file holds: the whole file now)
		kib=$(du -k "$(shadow_data "$f")" | cut -f1)
		[ "$kib" -ge $(($(stat -c %s "$LOWER/$f") / 1024 - 8)) ] || {
			echo "the data file of $f holds $kib KiB: not the whole file" >&2
			return 1
		}
	done
}

@test "a supervised program's copy of a merged descriptor below the threshold is refused, with a reason, when changes are denied or logged or a shared map's copy holds the file" {
	need_static_busybox
	seq 1 30000 >"$LOWER/numbers"
	lower_ready
	in_ro_ns '
		cd "$RO"
		printf XX | ps_exec dd of=numbers bs=1 seek=70000 conv=notrunc status=none
		rc=0
		"$PS_BUILD/pageshadow-run" --deny -r "$RO" -s "$SHADOW" -- "$BB" sh -c "exec 3<numbers; echo copied" \
			>"$T/o-deny" 2>"$T/e-deny" || rc=$?
		[ "$rc" -ne 0 ]
		[ ! -s "$T/o-deny" ]
		grep -q "copies a descriptor of a partly shadowed file to 3.*changes are denied.*EOPNOTSUPP" "$T/e-deny"
		rc=0
		"$PS_BUILD/pageshadow-run" --log "$XOUT/changes.jsonl" -r "$RO" -s "$SHADOW" -- "$BB" sh -c "exec 3<numbers; echo copied" \
			>"$T/o-log" 2>"$T/e-log" || rc=$?
		[ "$rc" -ne 0 ] && [ ! -s "$T/o-log" ]
		grep -q "copies a descriptor of a partly shadowed file to 3.*changes are logged.*EOPNOTSUPP" "$T/e-log"
		ps_exec "$STATIC" map-dup numbers >"$T/o-map" 2>"$T/e-map"
		grep -qx "dup2 below the threshold: EOPNOTSUPP" "$T/o-map"
		grep -q "to 3, .*a shared map.s copy of the file is kept in step" "$T/e-map"
	'
	assert_lower_unchanged
}

@test "readlink of /proc/self/fd/N, /dev/fd/N, /proc/self/cwd and /proc/self/exe names a file of the shadow by its place in the tree, shimmed and supervised, as on a writable copy" {
	need_static_busybox
	seq 1 3000 >"$LOWER/f"
	lower_ready
	cat >"$T/links.sh" <<-'EOF'
		cd "$RO"
		printf XX | dd of=f bs=1 seek=5000 conv=notrunc status=none
		mkdir -p newdir
		readlink /proc/self/fd/0 /dev/fd/0 <f
		cp /usr/bin/readlink own-readlink
		./own-readlink /proc/self/exe
		(cd newdir && readlink /proc/self/cwd)
		python3 -c 'import os; fd = os.open("f", os.O_RDWR); print(os.readlink("/proc/self/fd/%d" % fd))'
		python3 "$T/links.py"
		"$BB" sh -c '"$BB" readlink /proc/self/fd/0; "$BB" readlink /dev/fd/0; "$BB" readlink /proc/$$/fd/0
			"$BB" realpath /proc/self/fd/0 # (through /proc/self, a link the supervisor must not read as its own)
			cd newdir && "$BB" readlink /proc/self/cwd; exec 3<../f; "$BB" readlink /proc/self/fd/3' <f
	EOF
	cat >"$T/links.py" <<-'EOF'
		import ctypes, os
		libc = ctypes.CDLL(None, use_errno=True)
		libc.realpath.restype = ctypes.c_char_p
		libc.readlink.restype = ctypes.c_ssize_t
		libc.readlink.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
		buf = ctypes.create_string_buffer(8192)
		fd = os.open("f", os.O_RDONLY)
		name = b"/proc/self/fd/%d" % fd
		print("realpath:", libc.realpath(name, buf).decode())
		print("by directory:", os.readlink(str(fd), dir_fd=os.open("/proc/self/fd", os.O_RDONLY)))
		for size in (0, 2**64 - 1):
		    print("size %d:" % size, libc.readlink(name, buf, size), os.strerror(ctypes.get_errno()))
	EOF
	run_both 'ps_exec bash "$T/links.sh"'
	grep -qx "$RO/f" "$T/stdout.ro"
	grep -qx "realpath: $RO/f" "$T/stdout.ro"
	grep -qx "size 0: -1 Invalid argument" "$T/stdout.ro"
	grep -qx "$RO/own-readlink" "$T/stdout.ro"
	grep -qx "$RO/newdir" "$T/stdout.ro"
}

@test "a static program's flock on a file it closed never holds off its next open's flock (the supervisor's own descriptor is closed before the open returns); eight at once" {
	mkdir -p "$LOWER/d"
	lower_ready
	in_ro_ns '
		cd "$RO/d"
		for j in 1 2 3 4 5 6 7 8; do ps_exec "$STATIC" relock "f$j" 150 >"$T/relock$j" & done
		wait
		cat "$T"/relock? >&2
		for j in 1 2 3 4 5 6 7 8; do grep -qx "relock: 0 of 150 rounds failed" "$T/relock$j"; done
	'
}

@test "a shimmed program runs a static program the shadow made or changed by a short relative name (./x, ./a.out): bash, env, python's subprocess, as on a writable copy" {
	cp "$STATIC" "$LOWER/tool"
	lower_ready
	cat >"$T/short.sh" <<-'EOF'
		cd "$RO"
		cp tool x && cp tool a.out
		printf "\0" | dd of=tool bs=1 seek=1000000000 count=0 status=none # (changed: its size)
		./x 2>&1 | head -c 16; echo
		env ./a.out 2>&1 | head -c 16; echo
		./tool 2>&1 | head -c 16; echo
		python3 -c "import subprocess; subprocess.run([\"./x\"])" 2>&1 | head -c 16; echo
	EOF
	run_both 'ps_exec bash "$T/short.sh"'
	[ "$(grep -c "^usage: ps-stati" "$T/stdout.ro")" -eq 4 ]
	[ ! -d "$SHADOW/exec" ] || [ -z "$(ls -A "$SHADOW/exec")" ]
}

@test "python holding a partly shadowed file open and mapped starts static programs with subprocess, one reading that file as stdin (vfork: the child's numbers are not its parent's table's)" {
	need_static_busybox
	seq 1 30000 >"$LOWER/f"
	lower_ready
	cat >"$T/vfork.py" <<-'EOF'
		import mmap, os, subprocess, sys
		fd = os.open("f", os.O_RDONLY)
		m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
		for i in range(3):
		    subprocess.run([sys.argv[1], "echo", "run %d" % i], check=True)
		made = os.path.abspath("made/echo") # (a static program the shadow made: its name is rewritten in the child)
		for i in range(3):
		    subprocess.run([made, "made %d" % i], check=True)
		with open("f") as stdin: # (moved onto 0 in the vfork child: the supervisor is told, not the table)
		    subprocess.run([sys.argv[1], "md5sum"], stdin=stdin, check=True)
		print(m[69995:70005])
	EOF
	run_both 'cd "$RO" && printf XX | ps_exec dd of=f bs=1 seek=70000 conv=notrunc status=none && ps_exec mkdir made && ps_exec cp "$BB" made/echo && ps_exec python3 "$T/vfork.py" "$BB"'
	grep -qx "run 2" "$T/stdout.ro"
	grep -qx "made 2" "$T/stdout.ro"
}

@test "exec chains: a shimmed bash runs a static program, which runs a dynamic one; each sees the others' writes" {
	mkdir -p "$LOWER/d"
	echo lower >"$LOWER/d/chain"
	lower_ready
	run_both '
		ps_exec bash -c "echo bash >>\"$RO/d/chain\" && \"$STATIC\" chain \"$RO/d/chain\" \"echo dynamic >>$RO/d/chain; cat $RO/d/chain\" && echo bash again >>\"$RO/d/chain\" && cat \"$RO/d/chain\""
	'
	expect_eq "$(grep -c . "$T/stdout.ro")" 13 "lines printed along the chain"
}

@test "posix_spawn and posix_spawnp of a static program (file actions applied) run it under the supervisor, as on a writable copy" {
	mkdir -p "$LOWER/d" "$T/bin"
	echo lower >"$LOWER/d/chain"
	ln -s "$STATIC" "$T/bin/ps-static"
	cat >"$T/spawn.py" <<'PY'
import os, sys
ro, static = sys.argv[1], sys.argv[2]
out = os.open(ro + "/d/out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.posix_spawn(static, ["ps-static", "chain", ro + "/d/chain", "echo dyn1 >>" + ro + "/d/chain"], os.environ,
                     file_actions=[(os.POSIX_SPAWN_DUP2, out, 1)])
print("posix_spawn", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
pid = os.posix_spawnp("ps-static", ["ps-static", "chain", ro + "/d/chain", "echo dyn2 >>" + ro + "/d/chain"],
                      os.environ)
print("posix_spawnp", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
print(open(ro + "/d/out").read(), end="")
PY
	lower_ready
	run_both '
		PATH="$T/bin:$PATH" ps_exec python3 "$T/spawn.py" "$RO" "$STATIC"
	'
	expect_eq "$(cat "$T/stdout.ro")" "$(printf 'posix_spawn 0\nlower\nstatic\ndyn1\nstatic\ndyn2\nposix_spawnp 0\nlower\nstatic\ndyn1')" \
		"what the spawned programs printed (the first into d/out)"
}

@test "a supervised program runs programs and scripts the shadow changed or made: their merged bytes, as on a writable copy" {
	local bb
	bb=$(command -v busybox) || skip "busybox-static is not installed"
	export BB=$bb
	mkdir -p "$LOWER/bin"
	printf '#!/bin/sh\necho lower script\n' >"$LOWER/bin/body.sh"
	printf '#!/bin/sh\necho lower shebang\n' >"$LOWER/bin/line.sh"
	chmod +x "$LOWER/bin/body.sh" "$LOWER/bin/line.sh"
	cp /bin/echo "$LOWER/bin/tool"
	cp /usr/bin/printf "$LOWER/bin/partly"
	# a path in read-only memory (a string literal): rewritten through /proc/PID/mem
	cat >"$T/lit.c" <<'C'
#include <unistd.h>
int main(void) { execl(TARGET, "tool", "%s\n", "from a literal", (char *)0); return 99; }
C
	gcc -static -DTARGET="\"$RO/bin/tool\"" -o "$T/lit" "$T/lit.c" || skip "no static libc to link a test program"
	# fexecve of a merged descriptor
	cat >"$T/fx.c" <<'C'
#include <fcntl.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv)
{
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	(void)argc;
	fexecve(fd, argv + 1, environ);
	return 99;
}
C
	gcc -static -o "$T/fx" "$T/fx.c"
	cat >"$T/change.sh" <<'SH'
sed -i s/lower/changed/ "$RO/bin/body.sh"            # the body: the kernel reads the lower #! line, sh the rest
sed -i '1s|.*|#!/bin/cat|;s/lower/new/' "$RO/bin/line.sh"  # the #! line
printf '#!/bin/sh\necho made in the shadow: $#\n' >"$RO/bin/made.sh"
chmod +x "$RO/bin/made.sh"
cp /usr/bin/printf "$RO/bin/tool"                   # another program
tail -c 1 "$RO/bin/partly" | dd of="$RO/bin/partly" bs=1 seek=$(($(stat -c %s "$RO/bin/partly") - 1)) conv=notrunc status=none
SH
	cat >"$T/run.sh" <<'SH'
"$RO/bin/body.sh"
"$RO/bin/line.sh"
"$RO/bin/made.sh" a b
"$RO/bin/tool" '%s-%s\n' x y
SH
	lower_ready
	run_both '
		ps_exec bash "$T/change.sh"
		ps_exec "$BB" sh "$T/run.sh"
		ps_exec "$T/lit"
		ps_exec "$T/fx" "$RO/bin/partly" "%s\\n" "fexecve of a partly shadowed program"
		ps_exec "$STATIC" chain "$XOUT/log" "exec \"$RO/bin/tool\" \"%s\\n\" \"exec from a dynamic program\""
	'
	expect_eq "$(cat "$T/stdout.ro")" \
		"$(printf 'changed script\n#!/bin/cat\necho new shebang\nmade in the shadow: 2\nx-y\nfrom a literal\nfexecve of a partly shadowed program\nexec from a dynamic program\nstatic')" \
		"what the changed programs printed"
	# the merged copies went with the processes that ran them
	expect_eq "$(find "$SHADOW/exec" -mindepth 1 2>/dev/null | head -3)" "" "merged copies left in the shadow"
	assert_lower_unchanged
}

@test "a supervised program's exec of a changed file: refused where the kernel would refuse it, its name kept, run again from a reused string" {
	local bb
	bb=$(command -v busybox) || skip "busybox-static is not installed"
	export BB=$bb
	mkdir -p "$LOWER/bin"
	cat >"$T/a0.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	printf("%s as %s:", TAG, base ? base + 1 : argv[0]);
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	return 0;
}
C
	gcc -static -DTAG='"lower"' -o "$LOWER/bin/prog" "$T/a0.c" || skip "no static libc to link a test program"
	gcc -static -DTAG='"changed"' -o "$T/changed" "$T/a0.c"
	for f in dir fifo nox; do cp "$LOWER/bin/prog" "$LOWER/bin/$f"; done
	cat >"$T/change.sh" <<'SH'
cp "$T/changed" "$RO/bin/prog"
rm "$RO/bin/dir" && mkdir "$RO/bin/dir"
rm "$RO/bin/fifo" && mkfifo "$RO/bin/fifo"
chmod 644 "$RO/bin/nox"
echo 'echo no #! line, run by the shell' >"$RO/bin/plain" && chmod +x "$RO/bin/plain"
printf '#!/bin/sh\necho not executable\n' >"$RO/bin/noxscript" && chmod 644 "$RO/bin/noxscript"
SH
	cat >"$T/run.sh" <<'SH'
"$RO/bin/prog" a
echo x y z | "$BB" xargs -n1 "$RO/bin/prog"   # busybox forks with vfork: the string comes back
for f in dir fifo nox plain noxscript; do "$RO/bin/$f"; echo "$f: $?"; done 2>&1 | sed "s|^[^:]*: ||"
SH
	lower_ready
	run_both '
		ps_exec bash "$T/change.sh"
		ps_exec "$BB" sh "$T/run.sh"
	'
	expect_eq "$(head -4 "$T/stdout.ro")" "$(printf 'changed as prog: a\nchanged as prog: x\nchanged as prog: y\nchanged as prog: z')" \
		"the changed program, by its name, every time"
	expect_eq "$(find "$SHADOW/exec" -mindepth 1 2>/dev/null | head -3)" "" "merged copies left in the shadow"
	assert_lower_unchanged
}

@test "a supervised program's exec of a changed file by a name too short for /dev/fd/N is refused with ENOTSUP and a reason" {
	local bb
	bb=$(command -v busybox) || skip "busybox-static is not installed"
	mkdir -p "$LOWER/bin"
	printf '#!/bin/sh\necho lower\n' >"$LOWER/bin/s"
	chmod +x "$LOWER/bin/s"
	lower_ready
	in_ro_ns '
		ps_exec sed -i "1s|.*|#!/bin/bash|" "$RO/bin/s"
		cd "$RO/bin"
		rc=0
		ps_exec "'"$bb"'" sh -c ./s >"$T/o-short" 2>"$T/e-short" || rc=$?
		expect_eq "$rc" 126 "exit status of the shell that could not run ./s"
		grep -q "cannot run ./s: the kernel does not find it by that name" "$T/e-short"
		grep -q "Operation not supported" "$T/e-short"
	'
	assert_lower_unchanged
}

@test "kill -9 of a supervised program in the middle of its writes leaves every record valid and every page whole" {
	mkdir -p "$LOWER/d"
	head -c $((64 * 8192)) /dev/zero | tr "\0" "L" >"$LOWER/d/f"
	lower_ready
	in_ro_ns '
		ps_exec "$STATIC" hammer "$RO/d/f" >"$T/hammer.out" &
		wait_for_line() { for _ in $(seq 100); do grep -q ready "$T/hammer.out" && return 0; sleep 0.1; done; return 1; }
		wait_for_line
		sleep 0.3
		pkill -9 -x ps-static || true
		wait || true
		ps_exec cat "$RO/d/f" >"$T/after"
		"$PS_BUILD/pageshadow" -s "$SHADOW" -r "$RO" fsck
	'

	# each 4 KiB page: the lower one (L...) or one whole page of a single round's letter
	python3 - "$T/after" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert len(data) == 64 * 8192, len(data)
for i in range(0, len(data), 4096):
    page = data[i:i + 4096]
    assert page == bytes([page[0]]) * 4096, "page at %d is torn" % i
    if (i // 4096) % 2:
        assert page[0] == ord("L"), "page at %d was never written but reads %r" % (i, page[:1])
PY
	assert_lower_unchanged
}

@test "pageshadow-run starts a static command under the supervisor; --allow-unshimmed runs it with the guard alone" {
	mkdir -p "$LOWER/d"
	echo lower >"$LOWER/d/chain"
	lower_ready
	in_ro_ns '
		cd "$T"
		"$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" -- "$STATIC" chain "$RO/d/chain" "echo dyn >>$RO/d/chain" >"$T/o6"
		expect_eq "$(cat "$T/o6")" "$(printf "lower\nstatic\ndyn")" "the chain through pageshadow-run"
		rc=0
		"$PS_BUILD/pageshadow-run" --allow-unshimmed -r "$RO" -s "$SHADOW" -- "$STATIC" chain "$RO/d/chain" true \
			>"$T/out2" 2>"$T/err2" || rc=$?
		expect_eq "$rc" 1 "exit status of the unsupervised program"
		grep -q "Read-only file system" "$T/err2"
	'
	assert_lower_unchanged
}

@test "a supervised program cannot set up io_uring or Linux AIO, and carries one seccomp filter when pageshadow-run starts it (the supervisor's blocks io_uring itself)" {
	lower_ready
	in_ro_ns '
		cd "$T"
		run_static() { "$PS_BUILD/pageshadow-run" "$@" -r "$RO" -s "$SHADOW" -- "$STATIC" io-uring; }
		expect_eq "$(run_static)" "$(printf "io_uring_setup: ENOSYS\nio_setup: ENOSYS\nSeccomp_filters:\t1")" \
			"started by pageshadow-run"
		expect_eq "$(run_static --no-guard)" "$(printf "io_uring_setup: ENOSYS\nio_setup: ENOSYS\nSeccomp_filters:\t1")" \
			"started by pageshadow-run without the guard"
		expect_eq "$("$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" -- bash -c "\"\$STATIC\" io-uring")" \
			"$(printf "io_uring_setup: ENOSYS\nio_setup: ENOSYS\nSeccomp_filters:\t2")" "started by a shimmed bash"
		expect_eq "$(run_static --allow-unshimmed)" "$(printf "io_uring_setup: ENOSYS\nio_setup: ENOSYS\nSeccomp_filters:\t1")" \
			"unsupervised, under the guard alone"
	'
}

@test "extended attributes through a path and through a descriptor of an untouched lower file, as on a writable copy" {
	cat >"$T/xa.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <sys/xattr.h>
int main(int c, char **v)
{
	char b[64];
	int fd = open(v[1], O_RDONLY);
	ssize_t n;

	printf("set %d fset %d\n", setxattr(v[1], "user.a", "one", 3, 0), fsetxattr(fd, "user.b", "two", 3, 0));
	n = getxattr(v[1], "user.b", b, sizeof(b));
	printf("get %zd %.*s\n", n, (int)(n > 0 ? n : 0), b);
	n = fgetxattr(fd, "user.a", b, sizeof(b));
	printf("fget %zd %.*s\n", n, (int)(n > 0 ? n : 0), b);
	printf("list %zd flist %zd\n", listxattr(v[1], b, sizeof(b)), flistxattr(fd, b, 0));
	printf("remove %d fremove %d list %zd\n", removexattr(v[1], "user.a"), fremovexattr(fd, "user.b"),
	       listxattr(v[1], b, sizeof(b)));
	return 0;
}
C
	gcc -static -o "$T/xa" "$T/xa.c" || skip "no static libc to link a test program"
	echo hi >"$LOWER/f"
	lower_ready
	run_both '
		ps_exec "$T/xa" "$RO/f"
	'
	expect_eq "$(getfattr -d "$LOWER/f" 2>/dev/null)" "" "the lower file's attributes"
}
