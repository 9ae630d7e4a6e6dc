#!/usr/bin/env bats
# 50-no-bypass.bats - the ways a program reaches a file without calling open/read/write itself: exec of a modified
# script or program, dlopen of a modified library, splice and tee, syscall(2), stdio on a shadowed fd, io_uring,
# and programs the shim cannot enter. Each compares the run under the shim on the read-only tree with the same
# commands on a writable copy (helpers.bash: run_both), except where only the shimmed run has something to show.

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	BYPASS=$PS_BUILD/ps-bypass
	export BYPASS
}

teardown() {
	ps_teardown
}

# A lower tree with a script, a copy of a real program, a library and its source.
make_exec_tree() {
	mkdir -p "$LOWER/bin" "$LOWER/lib" "$LOWER/src"
	printf '#!/bin/sh\necho "old script $0 $*"\n' >"$LOWER/bin/s.sh"
	chmod 0755 "$LOWER/bin/s.sh"
	cp /bin/echo "$LOWER/bin/echo"
	printf 'const char *version(void) { return "lower library"; }\n' >"$LOWER/src/v.c"
	gcc -shared -fPIC -o "$LOWER/lib/libv.so" "$LOWER/src/v.c"
	printf '#include <stdio.h>\nint main(int c, char **v) { printf("old program %%s\\n", c > 1 ? v[1] : "-"); return 0; }\n' \
		>"$LOWER/src/p.c"
	gcc -o "$LOWER/bin/prog" "$LOWER/src/p.c"
	lower_ready
}

# offset_of TEXT FILE: the byte offset of TEXT's first occurrence in FILE (fails when there is none)
offset_of() {
	local off
	off=$(grep -obUa -- "$1" "$2" | head -1 | cut -d: -f1)
	[ -n "$off" ] || { echo "no \"$1\" in $2" >&2; return 1; }
	echo "$off"
}

# lib/libfoo.so whose text() returns $1, and bin/prog (RUNPATH $ORIGIN/../lib) printing "<text> (main)", from src/.
make_program_with_library() {
	mkdir -p "$LOWER/lib" "$LOWER/bin" "$LOWER/src"
	printf 'const char *text(void) { return "%s"; }\n' "$1" >"$LOWER/src/lib.c"
	printf '#include <stdio.h>\nconst char *text(void);\nint main(void) { printf("%%s (main)\\n", text()); return 0; }\n' \
		>"$LOWER/src/main.c"
	gcc -shared -fPIC -o "$LOWER/lib/libfoo.so" "$LOWER/src/lib.c"
	gcc -o "$LOWER/bin/prog" "$LOWER/src/main.c" -L"$LOWER/lib" -lfoo -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'
}

@test "a modified #! script runs as merged: directly, from bash, python's subprocess and env -i" {
	make_exec_tree
	run_both '
		ps_exec bash -c "printf \"#!/bin/sh\\necho \\\"new script \\\$0 \\\$*\\\"\\n\" >\"\$RO/bin/s.sh\""
		ps_exec "$RO/bin/s.sh" direct
		ps_exec bash -c "\"\$RO/bin/s.sh\" from-bash; cd \"\$RO/bin\" && ./s.sh relative"
		ps_exec python3 -c "import subprocess, sys; sys.stdout.write(subprocess.run([sys.argv[1], \"py\"], capture_output=True, text=True).stdout)" "$RO/bin/s.sh"
		ps_exec bash -c "env -i \"\$RO/bin/s.sh\" cleared-env"
	'
}

@test "a program rebuilt in the tree runs from its data file, and no copy is made" {
	make_exec_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "sed -i s/old/new/ p.c && gcc -o ../bin/prog p.c && ../bin/prog a && env -i ../bin/prog b"
		ps_exec python3 -c "import subprocess, sys; sys.stdout.write(subprocess.run([sys.argv[1], \"c\"], capture_output=True, text=True).stdout)" "$RO/bin/prog"
		if [ "$PS_MODE" = ro ] && [ -n "$(ls -A "$SHADOW/exec" 2>/dev/null)" ]; then
			echo "a copy was made in $SHADOW/exec for a program whose bytes are all in the shadow" >&2; exit 1
		fi
	'
}

@test "a program patched in place runs its merged bytes from a copy that is removed again" {
	make_exec_tree
	OFF=$(offset_of "Brian Fox" "$LOWER/bin/echo")
	export OFF
	run_both '
		printf "BRIAN FOX" | ps_exec dd of="$RO/bin/echo" bs=1 seek="$OFF" conv=notrunc status=none
		ps_exec "$RO/bin/echo" --version | tail -1
		if [ "$PS_MODE" = ro ]; then
			[ -z "$(ls -A "$SHADOW/exec" 2>/dev/null)" ] || { echo "merged copies left behind: $(ls "$SHADOW/exec")" >&2; exit 1; }
		fi
	'
	grep -q "BRIAN FOX" "$T/stdout.ro"
}

@test "every member of the exec family runs the merged script and the rebuilt program" {
	make_exec_tree
	run_both '
		ps_exec bash -c "printf \"#!/bin/sh\\necho \\\"new script \\\$0 \\\$*\\\"\\n\" >\"\$RO/bin/s.sh\"; cd \"\$RO/src\"; sed s/old/new/ p.c >p2.c; gcc -o ../bin/prog p2.c"
		for target in "$RO/bin/s.sh" "$RO/bin/prog"; do
			for kind in execve execve-clearenv execv execl execle fexecve execveat syscall-execve vfork posix_spawn system popen; do
				echo "== $kind"
				ps_exec "$BYPASS" exec "$kind" "$target" "$kind"
			done
			name=${target##*/}
			for kind in execvp execvpe execlp posix_spawnp; do
				echo "== $kind (PATH)"
				PATH="$RO/bin:$PATH" ps_exec "$BYPASS" exec "$kind" "$name" "$kind"
			done
		done
	'
	grep -q "new program execveat" "$T/stdout.ro"
	grep -q "new script $RO/bin/s.sh posix_spawn" "$T/stdout.ro"
}

@test "a #! script whose interpreter is itself a modified script in the tree runs the merged chain" {
	make_exec_tree
	run_both '
		ps_exec bash -c "printf \"#!/bin/sh\\necho \\\"interp got \\\$*\\\"\\n\" >\"\$RO/bin/interp\"; chmod 755 \"\$RO/bin/interp\" 2>/dev/null || true"
		ps_exec bash -c "printf \"#!\$RO/bin/interp -x\\nbody\\n\" >\"\$RO/bin/user\"; chmod 755 \"\$RO/bin/user\"; \"\$RO/bin/user\" arg"
	'
}

@test "dlopen by path loads a rebuilt, a new and a patched library; python ctypes too" {
	make_exec_tree
	OFF=$(offset_of "lower library" "$LOWER/lib/libv.so")
	export OFF
	run_both '
		cd "$RO"
		ps_exec "$BYPASS" dlopen "$RO/lib/libv.so" version
		printf "LOWER" | ps_exec dd of="$RO/lib/libv.so" bs=1 seek="$OFF" conv=notrunc status=none
		ps_exec "$BYPASS" dlopen "$RO/lib/libv.so" version
		ps_exec python3 -c "import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).version; f.restype = ctypes.c_char_p; print(f().decode())" "$RO/lib/libv.so"
		ps_exec bash -c "sed -i s/lower/rebuilt/ src/v.c && gcc -shared -fPIC -o lib/libv.so src/v.c && gcc -shared -fPIC -o lib/libnew.so src/v.c"
		ps_exec "$BYPASS" dlopen "$RO/lib/libv.so" version
		ps_exec "$BYPASS" dlopen lib/libnew.so version
		ps_exec python3 -c "import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).version; f.restype = ctypes.c_char_p; print(f().decode())" "$RO/lib/libnew.so"
	'
	grep -q "LOWER library" "$T/stdout.ro"
	grep -q "rebuilt library" "$T/stdout.ro"
}

@test "a bare-name dlopen still searches the calling program's RUNPATH under the shim" {
	mkdir -p "$T/app"
	printf 'const char *version(void) { return "found by runpath"; }\n' >"$T/app/r.c"
	gcc -shared -fPIC -o "$T/app/librp.so" "$T/app/r.c"
	printf '#include <dlfcn.h>\n#include <stdio.h>\nint main(void) { void *h = dlopen("librp.so", RTLD_NOW); const char *(*f)(void) = h ? (const char *(*)(void))dlsym(h, "version") : 0; puts(f ? f() : dlerror()); return !f; }\n' >"$T/app/m.c"
	gcc -o "$T/app/m" "$T/app/m.c" -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
	lower_ready
	in_ro_ns '
		expect_eq "$(ps_exec "$T/app/m")" "found by runpath" "bare-name dlopen through the shim"
	'
}

@test "splice carries merged bytes out of and new bytes into a modified file; tee passes them on" {
	head -c 20000 /dev/urandom | base64 -w 76 >"$LOWER/f.txt"
	lower_ready
	run_both '
		ps_exec "$PS_PROBE" pwrite "$RO/f.txt" 4090 MIDDLE-OF-TWO-PAGES >/dev/null
		ps_exec "$BYPASS" splice-read "$RO/f.txt" 4080 40
		ps_exec "$BYPASS" splice-write "$RO/f.txt" 8190 SPLICED-IN
		ps_exec "$BYPASS" splice-read "$RO/f.txt" 8180 30
		ps_exec "$BYPASS" tee "$RO/f.txt" 4100
	'
}

@test "syscall(2) with file call numbers reads and writes the merged file" {
	seq 1 3000 >"$LOWER/n.txt"
	lower_ready
	run_both '
		ps_exec "$BYPASS" syscall-write "$RO/n.txt" 100 BY-SYSCALL
		ps_exec "$BYPASS" syscall-read "$RO/n.txt" 90 30
		ps_exec "$PS_PROBE" pread "$RO/n.txt" 95 20
	'
}

@test "a stream fdopen'ed on a shadowed fd reads merged bytes and appends through the shim" {
	seq 1 3000 >"$LOWER/n.txt"
	lower_ready
	run_both '
		ps_exec "$PS_PROBE" pwrite "$RO/n.txt" 0 CHANGED >/dev/null
		ps_exec "$BYPASS" fdopen "$RO/n.txt" appended-by-fprintf
		ps_exec tail -c 40 "$RO/n.txt"
	'
}

@test "io_uring cannot be set up under the shim (programs fall back to plain calls)" {
	lower_ready
	in_ro_ns '
		expect_eq "$(ps_exec "$BYPASS" io-uring)" "io_uring_setup ENOSYS" "io_uring under the shim"
	'
}

@test "Linux AIO cannot be set up under the shim, through syscall(2) or inline, nor under the guard alone" {
	lower_ready
	in_ro_ns '
		expect_eq "$(PS_LAUNCHER=env ps_exec "$BYPASS" linux-aio)" "$(printf "io_setup ENOSYS\nio_setup inline ENOSYS")" \
			"Linux AIO under the shim"
		expect_eq "$("$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" -- env -u LD_PRELOAD PAGESHADOW_TRAP=0 "$BYPASS" linux-aio)" \
			"$(printf "io_setup ENOSYS\nio_setup inline ENOSYS")" "Linux AIO under the guard"
	'
}

@test "POSIX aio (aio_read, aio_write, lio_listio, aio_fsync, with signal and thread notifications) on a partly shadowed file, as on a writable copy" {
	head -c 10000 /dev/zero | tr "\0" L >"$LOWER/f"
	run_both '
		ps_exec dd of="$RO/f" bs=1 seek=20 conv=notrunc status=none <<<"changed"
		ps_exec "$BYPASS" aio "$RO/f"
		ps_exec od -An -c -j4995 -N20 "$RO/f"
		ps_exec od -An -c -j9000 -N4 "$RO/f"
	'
	grep -qx "it read: LLLLLAIO-WRITELLLLLL; its thread got 7" "$T/stdout.ro"
}

@test "a statically linked program started by a shimmed shell runs under the supervisor, or unsupervised when allowed" {
	printf '#include <stdio.h>\nint main(int c, char **v) { FILE *f = fopen(v[1], "r"); char b[64] = ""; if (f) fgets(b, sizeof b, f); fputs(b, stdout); return 7; }\n' >"$T/st.c"
	gcc -static -o "$T/static" "$T/st.c" || skip "no static libc to link a test program"
	mkdir -p "$LOWER/d"
	echo lower >"$LOWER/d/f"
	lower_ready
	PS_LAUNCHER=env in_ro_ns '
		rc=0
		out=$(ps_exec bash -c "echo shadowed >\"$RO/d/f\" && \"$T/static\" \"$RO/d/f\"") || rc=$?
		expect_eq "$rc" 7 "exit status of the supervised program"
		expect_eq "$out" shadowed "what the supervised program read"
		rc=0
		out=$(PAGESHADOW_ALLOW_UNSHIMMED=1 ps_exec bash -c "\"$T/static\" \"$RO/d/f\"") || rc=$?
		expect_eq "$rc" 7 "exit status when unshimmed programs are allowed"
		expect_eq "$out" lower "what the unsupervised program read (the lower file: nobody merges it)"
	'
}

@test "real tools on a modified tree: awk, sort, grep, perl, install, cp, and gcc linking a modified static library" {
	mkdir -p "$LOWER/proj"
	seq -f 'row %g' 1 500 | sort -R --random-source=<(yes) >"$LOWER/proj/data.txt"
	printf 'int answer(void) { return 41; }\n' >"$LOWER/proj/a.c"
	printf '#include <stdio.h>\nint answer(void);\nint main(void) { printf("%%d\\n", answer()); return 0; }\n' >"$LOWER/proj/main.c"
	(cd "$LOWER/proj" && gcc -c a.c && ar rcs liba.a a.o && rm a.o)
	lower_ready
	run_both '
		cd "$RO/proj"
		ps_exec sed -i "s/row 1\$/row one/" data.txt
		ps_exec awk "/one/ { print NR \": \" \$0 }" data.txt
		ps_exec sort data.txt | head -3
		ps_exec grep -c "row" data.txt
		ps_exec perl -ne "print if /row 4[0-9]\$/" data.txt | wc -l
		ps_exec install -m 0644 data.txt data.installed
		ps_exec cp data.txt data.copied
		ps_exec cmp data.installed data.copied
		ps_exec bash -c "sed -i s/41/42/ a.c && gcc -c a.c && ar rcs liba.a a.o && gcc -o main main.c liba.a && ./main"
	'
}

# A static program that writes, creates, removes, renames and truncates files: what the guard must stop.
make_static_writer() {
	cat >"$T/sw.c" <<'C'
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int c, char **v)
{
	for (int i = 1; i + 1 < c; i += 2) {
		const char *op = v[i], *p = v[i + 1];
		int r = -1, fd;
		if (!strcmp(op, "write") && (fd = open(p, O_WRONLY)) >= 0)
			r = (int)write(fd, "X", 1);
		else if (!strcmp(op, "create"))
			r = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		else if (!strcmp(op, "unlink"))
			r = unlink(p);
		else if (!strcmp(op, "rename"))
			r = rename(p, "renamed");
		else if (!strcmp(op, "truncate"))
			r = truncate(p, 0);
		printf("%s %s: %s\n", op, p, r < 0 ? strerror(errno) : "done");
	}
	return 0;
}
C
	gcc -static -o "$T/sw" "$T/sw.c" || skip "no static libc to link a test program"
}

@test "pageshadow-run runs a static command under the supervisor, and with --allow-unshimmed the guard stops its writes to the lower tree" {
	make_static_writer
	mkdir -p "$T/w/tree/sub"
	echo keep >"$T/w/tree/f"
	echo keep >"$T/w/tree/sub/g"
	(cd "$T/w/tree" && find . -type f -exec sha256sum {} + | sort) >"$T/before"
	cd "$T/w" # the lower tree is writable: only the guard stands between the program and it
	run "$PS_BUILD/pageshadow-run" -r tree -s "$T/w/shadow" -- "$T/sw" write tree/f create tree/new
	[ "$status" -eq 0 ]
	expect_eq "$output" "$(printf 'write tree/f: done\ncreate tree/new: done')" "the supervised writes"
	expect_eq "$(cat "$T/w/shadow/data/"*/f)" Xeep "the write, in the shadow"
	expect_eq "$(cd "$T/w/tree" && find . -type f -exec sha256sum {} + | sort)" "$(cat "$T/before")" "the lower tree"
	run "$PS_BUILD/pageshadow-run" --allow-unshimmed -r tree -s "$T/w/shadow2" -- "$T/sw" \
		write tree/f create tree/new unlink tree/sub/g rename tree/f truncate tree/sub/g create tree/sub/new
	[ "$status" -eq 0 ]
	expect_eq "$(grep -c "Permission denied" <<<"$output")" 6 "writes refused by the guard"
	expect_eq "$(cd "$T/w/tree" && find . -type f -exec sha256sum {} + | sort)" "$(cat "$T/before")" "the lower tree"
	# without the guard the same program does write: the test above could fail
	run "$PS_BUILD/pageshadow-run" --no-guard --allow-unshimmed -r tree -s "$T/w/shadow2" -- "$T/sw" create tree/new
	[[ "$output" == "create tree/new: done" ]]
}

@test "under the guard a shimmed program still writes the tree (into the shadow) and a temporary directory" {
	mkdir -p "$T/w/tree"
	echo keep >"$T/w/tree/f"
	cd "$T/w"
	run "$PS_BUILD/pageshadow-run" -r tree -s "$T/w/shadow" -- bash -c 'echo more >>tree/f && cat tree/f && t=$(mktemp) && echo tmp >"$t" && cat "$t" && rm "$t"'
	[ "$status" -eq 0 ]
	expect_eq "$output" "$(printf 'keep\nmore\ntmp')" "output"
	expect_eq "$(cat "$T/w/tree/f")" keep "the lower file"
}

@test "a chain of shadowed #! interpreters with arguments runs as in the kernel, and a missing one fails the same" {
	make_exec_tree
	run_both '
		cd "$RO/bin"
		ps_exec bash -c "
			printf \"#!/bin/sh\\necho \\\"i1 got \\\$*\\\"\\n\" >i1
			for n in 2 3 4; do printf \"#!$RO/bin/i\$((n - 1)) arg\$n\\n\" >i\$n; done
			printf \"#!$RO/bin/i4 top\\n\" >s5
			printf \"#!$RO/bin/missing x\\n\" >m1
			for n in 2 3 4; do printf \"#!$RO/bin/m\$((n - 1)) arg\$n\\n\" >m\$n; done
			chmod 755 i1 i2 i3 i4 s5 m1 m2 m3 m4
			./s5 last
			./m4 last 2>&1 | sed \"s/^[^:]*: //\" || true
		"
	'
	grep -q "i1 got .*arg2 .*arg3 .*arg4 .*top .*last" "$T/stdout.ro"
}

@test "fexecve of a descriptor the shim does not track runs the program; execveat with a directory fd runs the merged script" {
	make_exec_tree
	run_both '
		ps_exec "$BYPASS" exec fexecve /bin/echo untracked
		ps_exec bash -c "printf \"#!/bin/sh\\necho new script by dirfd\\n\" >\"\$RO/bin/s.sh\""
		ps_exec "$BYPASS" exec execveat-dirfd "$RO/bin/s.sh"
	'
	grep -qx "untracked" "$T/stdout.ro"
	grep -qx "new script by dirfd" "$T/stdout.ro"
}

@test "posix_spawnp of a name on no PATH entry fails with ENOENT even when the working directory has it" {
	make_exec_tree
	run_both '
		cd "$RO/bin"
		PATH=/usr/bin:/bin ps_exec "$BYPASS" exec posix_spawnp prog x
	'
	grep -qx "posix_spawnp ENOENT" "$T/stdout.ro"
}

@test "posix_spawn's file action opens an untouched file under a prefix in the child; a shadowed one is refused, no crash" {
	echo lower >"$LOWER/f"
	echo other >"$LOWER/g"
	lower_ready
	in_ro_ns '
		cd "$RO"
		ps_exec sh -c "echo changed >g"
		ps_exec python3 -c "
import os
for name in (\"f\", \"g\"):
    try:
        pid = os.posix_spawnp(\"cat\", [\"cat\"], os.environ,
                              file_actions=[(os.POSIX_SPAWN_OPEN, 0, name, os.O_RDONLY, 0)])
        print(name, \"status\", os.waitpid(pid, 0)[1], flush=True)
    except OSError as e:
        print(name, os.strerror(e.errno), flush=True)
" >"$XOUT/out" 2>"$XOUT/err"'
	printf 'lower\nf status 0\ng Read-only file system\n' | diff - "$T/out/ro/out"
	grep -q "posix_spawn file action on g: .*open it in the parent" "$T/out/ro/err"
	assert_lower_unchanged
}

@test "splice from a shadowed file into a full non-blocking pipe fails with EAGAIN and keeps the file position" {
	seq 1 3000 >"$LOWER/n.txt"
	lower_ready
	run_both '
		ps_exec "$PS_PROBE" pwrite "$RO/n.txt" 0 CHANGED >/dev/null
		ps_exec "$BYPASS" splice-nonblock "$RO/n.txt"
	'
	grep -qx "splice EAGAIN, position 0" "$T/stdout.ro"
}

@test "openat2 with RESOLVE_ flags under a prefix fails with ENOSYS (programs fall back to openat), also by directory fd" {
	mkdir -p "$LOWER/d"
	echo lower >"$LOWER/d/f"
	lower_ready
	in_ro_ns '
		expect_eq "$(ps_exec "$BYPASS" openat2 "$RO/d" f)" "openat2 ENOSYS" "openat2 by directory fd under the shim"
		expect_eq "$(ps_exec "$BYPASS" openat2 /etc hostname | cut -d" " -f1-2)" "openat2 read" "openat2 outside the prefixes"
	'
}

@test "the guard leaves nothing writable inside nested prefixes, in either order" {
	make_static_writer
	mkdir -p "$T/w/a/b" "$T/w/a/c"
	echo keep >"$T/w/a/c/f"
	echo keep >"$T/w/a/f2"
	echo keep >"$T/w/a/b/g"
	cd "$T/w"
	for order in "-r a -r a/b" "-r a/b -r a"; do
		# shellcheck disable=SC2086 # the order is two options
		run "$PS_BUILD/pageshadow-run" --allow-unshimmed $order -s "$T/w/shadow" -- "$T/sw" \
			write a/c/f write a/f2 write a/b/g create a/c/new create a/new
		[ "$status" -eq 0 ]
		expect_eq "$(grep -c "Permission denied" <<<"$output")" 5 "writes refused with $order"
	done
	expect_eq "$(cat a/c/f a/f2 a/b/g)" "$(printf 'keep\nkeep\nkeep')" "the lower files"
}

@test "chmod and chown of a lower file change the merged view only, even where the lower tree is writable" {
	mkdir -p "$T/w/tree"
	echo keep >"$T/w/tree/f"
	chmod 0644 "$T/w/tree/f"
	cd "$T/w"
	shim() { env LD_PRELOAD="$PS_SHIM" PAGESHADOW_RO="$T/w/tree" PAGESHADOW_DIR="$T/w/shadow" "$@"; }
	shim chmod 0600 tree/f
	shim chown "$(id -u):$(id -g)" tree/f
	expect_eq "$(shim stat -c %a tree/f)" 600 "the merged mode"
	expect_eq "$(stat -c %a tree/f)" 644 "the lower file's mode"
	expect_eq "$(shim cat tree/f)" keep "the file's bytes"
	[ ! -s "$T/w/shadow/data/$(ps_enc "$T/w/tree")/f" ] || [ "$(du -k "$T/w/shadow/data/$(ps_enc "$T/w/tree")/f" | cut -f1)" -eq 0 ]
}

@test "glibc's own calls (nftw, glob) see merged sizes, files and directories that exist only in the shadow" {
	mkdir -p "$LOWER/t/sub"
	seq 1 100 >"$LOWER/t/a"
	seq 1 200 >"$LOWER/t/sub/b"
	lower_ready
	run_both '
		ps_exec bash -c "seq 1 5000 >>\"\$RO/t/a\"; : >\"\$RO/t/sub/b\"; echo new >\"\$RO/t/new\"; mkdir \"\$RO/t/nd\"; echo x >\"\$RO/t/nd/x\""
		ps_exec "$BYPASS" walk "$RO/t" "$RO/t/new" "$RO/t/sub" "$RO/t/nd/*" | sort
	'
	grep -q "nftw $RO/t/a file 24185" "$T/stdout.ro"
	grep -qx "glob $RO/t/new" "$T/stdout.ro"
	grep -q "nftw $RO/t/nd/x file 2" "$T/stdout.ro"
}

@test "freopen of a partly shadowed file onto stdin reads the merged bytes" {
	seq 1 3000 >"$LOWER/n.txt"
	lower_ready
	run_both '
		ps_exec "$PS_PROBE" pwrite "$RO/n.txt" 0 CHANGED >/dev/null
		ps_exec "$PS_PROBE" pwrite "$RO/n.txt" 9000 ALSO-CHANGED >/dev/null
		ps_exec "$BYPASS" freopen-stdin "$RO/n.txt"
	'
	grep -q "^line: CHANGED" "$T/stdout.ro"
}

@test "a program in the tree loads the merged version of its libraries: rebuilt, patched, or new in the shadow" {
	make_program_with_library "lower library"
	OFF=$(offset_of "lower library" "$LOWER/lib/libfoo.so")
	export OFF
	lower_ready
	run_both '
		ps_exec "$RO/bin/prog"
		printf "LOWER" | ps_exec dd of="$RO/lib/libfoo.so" bs=1 seek="$OFF" conv=notrunc status=none
		ps_exec "$RO/bin/prog"
		ps_exec bash -c "cd \"\$RO/src\" && sed -i s/lower/rebuilt/ lib.c && gcc -shared -fPIC -o ../lib/libfoo.so lib.c && ../bin/prog"
		ps_exec python3 -c "import subprocess, sys; sys.stdout.write(subprocess.run([sys.argv[1]], capture_output=True, text=True).stdout)" "$RO/bin/prog"
		if [ "$PS_MODE" = ro ]; then
			[ -z "$(ls -A "$SHADOW/exec" 2>/dev/null)" ] || { echo "merged copies left behind: $(ls "$SHADOW/exec")" >&2; exit 1; }
		fi
	'
	grep -qx "LOWER library (main)" "$T/stdout.ro"
	grep -qx "rebuilt library (main)" "$T/stdout.ro"
}

@test "a program relinked in the shadow still finds its unchanged library through \$ORIGIN" {
	mkdir -p "$LOWER/p"
	printf 'int foo(int x) { return 2 * x; }\n' >"$LOWER/p/foo.c"
	printf '#include <stdio.h>\nint foo(int);\nint main(void) { printf("FOO(21)=%%d\\n", foo(21)); return 0; }\n' >"$LOWER/p/main.c"
	(cd "$LOWER/p" && gcc -shared -fPIC -o libfoo.so foo.c && gcc -o prog main.c -L. -lfoo -Wl,--enable-new-dtags,-rpath,'$ORIGIN')
	lower_ready
	run_both '
		cd "$RO/p"
		ps_exec bash -c "sed -i s/FOO/foo/ main.c && gcc -o prog main.c -L. -lfoo -Wl,--enable-new-dtags,-rpath,\\\$ORIGIN && ./prog"
	'
	grep -qx "foo(21)=42" "$T/stdout.ro"
}

@test "ldd and ld.so run as a program read a program that exists only in the shadow" {
	mkdir -p "$LOWER/p"
	printf 'int foo(int x) { return 2 * x; }\n' >"$LOWER/p/foo.c"
	printf '#include <stdio.h>\nint foo(int);\nint main(void) { printf("FOO(21)=%%d\\n", foo(21)); return 0; }\n' >"$LOWER/p/main.c"
	lower_ready
	run_both '
		cd "$RO/p"
		ps_exec bash -c "gcc -shared -fPIC -o libfoo.so foo.c && gcc -o prog main.c -L. -lfoo -Wl,--enable-new-dtags,-rpath,\\\$ORIGIN"
		ps_exec bash -c "ldd ./prog | grep -v libpageshadow | sed \"s/ (0x[0-9a-f]*)//; s/=> [^ ]*\$//\" | sed \"s/^[[:space:]]*//\" | sort"
		ps_exec bash -c "/lib64/ld-linux-x86-64.so.2 ./prog; /lib64/ld-linux-x86-64.so.2 --argv0 named ./prog"
	'
	grep -q "libfoo.so" "$T/stdout.ro"
	grep -qx "FOO(21)=42" "$T/stdout.ro"
}

@test "once a library has shadow state, programs outside the tree load it too: by LD_LIBRARY_PATH and as a dlopen'ed library's dependency" {
	mkdir -p "$LOWER/lib" "$LOWER/src" "$T/app"
	printf 'const char *version(void) { return "lower library"; }\n' >"$LOWER/src/v.c"
	printf 'const char *version(void);\nconst char *w_version(void) { return version(); }\n' >"$LOWER/src/w.c"
	gcc -shared -fPIC -o "$LOWER/lib/libv.so" "$LOWER/src/v.c"
	gcc -shared -fPIC -o "$LOWER/lib/libw.so" "$LOWER/src/w.c" -L"$LOWER/lib" -lv -Wl,--enable-new-dtags,-rpath,'$ORIGIN'
	printf '#include <stdio.h>\nconst char *version(void);\nint main(void) { puts(version()); return 0; }\n' >"$T/app/m.c"
	gcc -o "$T/app/m" "$T/app/m.c" -L"$LOWER/lib" -lv
	lower_ready
	run_both '
		ps_exec bash -c "cd \"\$RO/src\" && sed -i s/lower/rebuilt/ v.c && gcc -shared -fPIC -o ../lib/libv.so v.c"
		LD_LIBRARY_PATH="$RO/lib" ps_exec "$T/app/m"
		ps_exec python3 -c "import ctypes, sys; f = ctypes.CDLL(sys.argv[1]).w_version; f.restype = ctypes.c_char_p; print(f().decode())" "$RO/lib/libw.so"
		ps_exec bash -c "LD_LIBRARY_PATH=\"\$RO/lib\" \"$T/app/m\""
	'
	expect_eq "$(grep -c "rebuilt library" "$T/stdout.ro")" 3 "programs that loaded the rebuilt library"
}

@test "a program run from its data file or a merged copy finds libraries through \$ORIGIN/../lib, and no copy is left" {
	make_program_with_library "from the library"
	OFF=$(offset_of "(main)" "$LOWER/bin/prog")
	export OFF
	lower_ready
	run_both '
		printf "(MAIN)" | ps_exec dd of="$RO/bin/prog" bs=1 seek="$OFF" conv=notrunc status=none
		ps_exec "$RO/bin/prog"
		ps_exec bash -c "ldd \"\$RO/bin/prog\" | grep -c libfoo"
		ps_exec bash -c "/lib64/ld-linux-x86-64.so.2 --verify \"\$RO/bin/prog\" && echo verified"
		ps_exec bash -c "cat \"\$RO/bin/prog\" >\"\$RO/bin/prog.new\" && cat \"\$RO/bin/prog.new\" >\"\$RO/bin/prog\" && rm \"\$RO/bin/prog.new\" && \"\$RO/bin/prog\""
		if [ "$PS_MODE" = ro ]; then
			[ -z "$(ls -A "$SHADOW/exec" 2>/dev/null)" ] || { echo "merged copies left behind: $(ls "$SHADOW/exec")" >&2; exit 1; }
		fi
	'
	expect_eq "$(grep -c "from the library (MAIN)" "$T/stdout.ro")" 2 "runs of the patched, then rewritten program"
}

@test "a library renamed into place in the shadow is what a program outside the tree loads" {
	mkdir -p "$LOWER/lib" "$T/app"
	printf 'const char *version(void) { return "lower library"; }\n' >"$T/app/v.c"
	gcc -shared -fPIC -o "$LOWER/lib/libv.so" "$T/app/v.c"
	printf '#include <stdio.h>\nconst char *version(void);\nint main(void) { puts(version()); return 0; }\n' >"$T/app/m.c"
	gcc -o "$T/app/m" "$T/app/m.c" -L"$LOWER/lib" -lv -Wl,--enable-new-dtags,-rpath,"$RO/lib"
	sed -i s/lower/renamed/ "$T/app/v.c"
	gcc -shared -fPIC -o "$T/app/libnew.so" "$T/app/v.c"
	lower_ready
	run_both '
		ps_exec bash -c "cp \"$T/app/libnew.so\" \"\$RO/lib/tmp.X\" && mv \"\$RO/lib/tmp.X\" \"\$RO/lib/libv.so\""
		ps_exec "$T/app/m"
	'
	grep -qx "renamed library" "$T/stdout.ro"
}

@test "a dynamically linked Go program runs under the supervisor like a static one (its runtime makes its own system calls)" {
	local go
	go=$(find /usr/lib/google-cloud-sdk /usr/local/go /usr/lib/go* /usr/local/bin /usr/bin -maxdepth 4 -type f \
		-perm -u+x -size +1M 2>/dev/null | while read -r f; do
		file "$f" 2>/dev/null | grep -q "dynamically linked.*Go BuildID" && { echo "$f"; break; }
	done)
	[ -n "$go" ] || skip "no dynamically linked Go program on this machine"
	mkdir -p "$T/w/tree"
	cd "$T/w"
	PAGESHADOW_DEBUG=1 run "$PS_BUILD/pageshadow-run" -r tree -s "$T/w/shadow" -- "$go" --help
	[[ "$output" != *"LD_PRELOAD cannot enter it"* ]]
	[[ "$output" == *"supervised: the supervisor serves this process's file calls"* ]]
}

@test "a program that closes every descriptor (close_range, a close loop) keeps a working shim: exec and reads after it" {
	make_exec_tree
	run_both '
		cd "$RO"
		ps_exec bash -c "printf \"#!/bin/sh\\necho new script\\n\" >bin/s.sh"
		ps_exec python3 -c "
import os, subprocess, sys
open(\"src/p.c\").read()                      # the shim has its shadow open now
sys.stdout.write(subprocess.run([\"bin/s.sh\"], preexec_fn=lambda: None, capture_output=True, text=True).stdout)
os.closerange(3, 65536)                       # close_range(3, 65535)
sys.stdout.write(open(\"bin/s.sh\").read())
for fd in range(3, 4096):
    try: os.close(fd)
    except OSError: pass
sys.stdout.flush()
os.execv(\"bin/s.sh\", [\"bin/s.sh\"])
"
	'
	expect_eq "$(grep -c "new script" "$T/stdout.ro")" 3 "script runs and reads after the closes"
}

# A program may dup2 onto any number it believes free - the numbers /proc/self/fd shows besides its own are the
# shim's: each moves out of the way, and the shim goes on writing its own files, not the program's.
@test "a program that dup2s onto the shim's descriptor numbers keeps a working shim and gets only its own bytes" {
	seq 1 3000 >"$LOWER/f"
	cat >"$T/dup2.py" <<'PY'
import os, sys
d = sys.argv[1]
fd = os.open(d + "/f", os.O_RDWR)
os.pwrite(fd, b"first\n", 0)
sink = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
mine = {0, 1, 2, fd, sink}
others = [int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2 and int(n) not in mine]
for n in others:
    os.dup2(sink, n)
os.pwrite(fd, b"second\n", 8192)
with open(d + "/new", "w") as f:
    f.write("new file\n")
os.rename(d + "/new", d + "/new2")
print(os.pread(fd, 7, 8192), open(d + "/new2").read().strip(), os.path.getsize(d + "/f"))
for n in others:
    os.fstat(n)          # each is the program's now
PY
	run_both '
		ps_exec python3 "$T/dup2.py" "$RO" "$XOUT/sink"
		ps_exec head -c 6 "$RO/f"
		ps_exec bash -c "read -r x <\"\$RO/f\"; echo \$x; for n in \$(ls /proc/\$\$/fd); do [ \$n -gt 2 ] && eval \"exec \$n>>\\\"\$XOUT/sink\\\"\"; done; echo by-bash >>\"\$RO/f\"; tail -c 8 \"\$RO/f\""
	'
	expect_eq "$(stat -c %s "$T/out/ro/sink")" 0 "bytes the shim wrote into the program's file"
	grep -q "new file 13893" "$T/stdout.ro"
}

# A description the program has closed lives on while a call still uses it (a thread waiting in flock): the
# descriptor it opened for that lock moves when the program dup2s onto its number, and its late close must close
# the moved copy - not the program's new descriptor, and not leave the lock held.
@test "dup2 onto the lock descriptor of a closed file that a waiting thread still uses: the program's descriptor stays" {
	seq 1 3000 >"$LOWER/f"
	cat >"$T/lockfd.py" <<'PY'
import fcntl, os, sys, threading, time
path, sink_path = sys.argv[1], sys.argv[2]
f, g = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
os.write(f, b"x")
fcntl.flock(g, fcntl.LOCK_EX)
before = set(os.listdir("/proc/self/fd"))
t = threading.Thread(target=lambda: fcntl.flock(f, fcntl.LOCK_EX))
t.start()
time.sleep(0.5)
new = sorted(int(n) for n in set(os.listdir("/proc/self/fd")) - before if int(n) > 2)
os.close(f)
sink = os.open(sink_path, os.O_WRONLY | os.O_CREAT, 0o644)
for n in new:
    os.dup2(sink, n)
fcntl.flock(g, fcntl.LOCK_UN)
t.join()
for n in new:
    os.write(n, b"y")                  # still the program's
fcntl.flock(g, fcntl.LOCK_EX | fcntl.LOCK_NB)   # no lock left behind
print("sink holds", os.path.getsize(sink_path), "bytes of", len(new))
PY
	# Under the shim only: natively the wait opens no descriptor, and there is nothing to move.
	in_ro_ns 'ps_exec python3 "$T/lockfd.py" "$RO/f" "$XOUT/sink"' >"$T/stdout.ro"
	grep -qx "sink holds \([1-9]\) bytes of \1" "$T/stdout.ro"
	assert_lower_unchanged
}

@test "dprintf into a partly shadowed file lands in the shadow, also in its _FORTIFY_SOURCE form" {
	seq 1 3000 >"$LOWER/n.txt"
	lower_ready
	run_both '
		ps_exec "$BYPASS" dprintf "$RO/n.txt" 100 BY-DPRINTF
		ps_exec "$BYPASS" dprintf "$RO/n.txt" 13000 PAST-THE-END
		ps_exec head -c 160 "$RO/n.txt"
		ps_exec tail -c 40 "$RO/n.txt"
	'
	grep -q "BY-DPRINTF BY-DPRINTF" "$T/stdout.ro"
}

@test "make's \$(realpath) (glibc's __realpath_chk) resolves a symlink and a file made in the shadow" {
	mkdir -p "$LOWER/m"
	printf 'all:\n\t@echo "link=$(realpath link) new=$(realpath new) gone=$(realpath gone)"\n' >"$LOWER/m/Makefile"
	echo old >"$LOWER/m/gone"
	lower_ready
	run_both '
		ps_exec bash -c "cd \"\$RO/m\" && echo x >new && ln -s new link && rm gone && make -s"
		ps_exec "$BYPASS" realpath-chk "$RO/m/link"
		ps_exec "$BYPASS" realpath-chk "$RO/m/gone"
	'
	grep -q "link=$RO/m/new new=$RO/m/new gone=\$" "$T/stdout.ro"
}

@test "lchmod of a lower file changes the merged mode only" {
	echo keep >"$LOWER/f"
	chmod 0644 "$LOWER/f"
	lower_ready
	run_both '
		ps_exec "$BYPASS" lchmod "$RO/f" 0600
		ps_exec stat -c "%a %s" "$RO/f"
	'
	grep -qx "600 5" "$T/stdout.ro"
}

@test "glibc's own reads of a partly shadowed file (setmntent's internal fopen) see the merged bytes" {
	for i in $(seq 1 200); do printf 'dev%d /mnt/lower-entry-%d ext4 defaults 0 0\n' "$i" "$i"; done >"$LOWER/fstab"
	lower_ready
	run_both '
		printf "dev0 /mnt/CHANGED-ENTRY0 ext4 defaults 0 0\n" | ps_exec dd of="$RO/fstab" bs=1 seek=6000 conv=notrunc status=none
		printf "devX /mnt/appended ext4 defaults 0 0\n" | ps_exec tee -a "$RO/fstab" >/dev/null
		ps_exec "$BYPASS" mntent "$RO/fstab"
	'
	grep -q "^mntent: 201 entries" "$T/stdout.ro"
}

@test "attributes through a descriptor: a shadowed file shows its lower file's until a change moves them into the shadow; a writable lower file keeps its own; a new file has its own" {
	mkdir -p "$T/w/tree"
	seq 1 3000 >"$T/w/tree/n.txt"
	python3 -c "import os, sys; os.setxattr(sys.argv[1], 'user.tag', b'lower-tag')" "$T/w/tree/n.txt" 2>/dev/null ||
		skip "this file system takes no user.* attributes"
	cd "$T/w"
	shim() { env LD_PRELOAD="$PS_SHIM" PAGESHADOW_RO="$T/w/tree" PAGESHADOW_DIR="$T/w/shadow" "$@"; }
	shim "$PS_PROBE" pwrite tree/n.txt 100 CHANGED >/dev/null
	shim "$BYPASS" fxattr tree/n.txt user.tag >"$T/out.txt"
	shim bash -c "echo new >tree/new"
	shim "$BYPASS" fxattr tree/new user.new >>"$T/out.txt"
	cat >"$T/expected" <<-END
		fgetxattr: lower-tag
		flistxattr: has it
		fremovexattr: done
		fsetxattr: done
		fgetxattr: ENODATA
		flistxattr: lacks it
		fremovexattr: ENODATA
		fsetxattr: done
	END
	diff -u "$T/expected" "$T/out.txt"
	expect_eq "$(python3 -c "import os, sys; print(sorted(os.listxattr(sys.argv[1])))" "$T/w/tree/n.txt")" "['user.tag']" \
		"the lower file's attributes"
	expect_eq "$(shim python3 -c "import os; print(os.getxattr('tree/new', 'user.new').decode())")" v \
		"the new file's own attribute"
	expect_eq "$(shim python3 -c "import os; print(sorted(os.listxattr('tree/n.txt')))")" "['user.new']" \
		"the shadowed file's attributes after the change"
}

@test "inline system calls read the merged file and write into the shadow: main thread, new thread, fork child, signals blocked" {
	seq -s " " 1 3000 >"$LOWER/n.txt" # one line: each report is one line
	lower_ready
	run_both '
		ps_exec "$PS_PROBE" pwrite "$RO/n.txt" 100 CHANGED >/dev/null
		ps_exec "$BYPASS" inline-read "$RO/n.txt" 95 20
		ps_exec "$BYPASS" inline-write "$RO/n.txt" 9000 INLINE-WRITE
		ps_exec "$BYPASS" inline-read "$RO/n.txt" 8995 25
		ps_exec "$PS_PROBE" pread "$RO/n.txt" 8995 25
		ps_exec /lib64/ld-linux-x86-64.so.2 "$BYPASS" inline-write "$RO/n.txt" 12000 THROUGH-LD.SO
		ps_exec tail -c 30 "$RO/n.txt"
	'
	grep -q "^thread: .*CHANGED" "$T/stdout.ro"
	grep -q "^child: .*CHANGED" "$T/stdout.ro"
	grep -q "^all signals blocked: .*INLINE-WRITE" "$T/stdout.ro"
}

@test "inline system calls that are not file calls work as without the shim, and the program's own SIGSYS handler still runs" {
	lower_ready
	run_both '
		ps_exec "$BYPASS" inline-other | grep -v io_uring
	'
	grep -qx "inline fork: child exited 7" "$T/stdout.ro"
	grep -qx "dlopen afterwards: ok" "$T/stdout.ro"
	in_ro_ns 'ps_exec "$BYPASS" inline-other' | grep -qx "io_uring_setup inline: ENOSYS"
}

@test "SIGSYS ignored or blocked by a program stays so across its exec, as without the shim" {
	lower_ready
	run_both '
		ps_exec "$BYPASS" sigsys-exec ign
		ps_exec "$BYPASS" sigsys-exec block
	'
	expect_eq "$(grep -c "the shell survived SIGSYS" "$T/stdout.ro")" 2 "shells that survived"
}
