#!/usr/bin/env bats
# 60-namespace.bats - the merged namespace: listings, deletion (whiteouts), directories, renames, and the tools that
# reshape a tree (rm -rf, mkdir -p, mv, tar x, cp -r, git, make, python) on a really read-only tree, each compared
# entry by entry (names, types, modes, symlink targets, contents) with the same commands on a writable copy
# (helpers.bash: run_both; the lower tree unchanged, strace showing no mutating call on a lower path).

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

# listing DIR: every entry below DIR as seen through the shim (find walks with openat, fdopendir and getdents64):
# name, type, mode, symlink target; then every file's checksum.
listing() {
	(cd "$1" && ps_exec find . -mindepth 1 -printf '%P %y %m %l\n' | LC_ALL=C sort)
	(cd "$1" && ps_exec find . -type f -print0 | LC_ALL=C sort -z | ps_exec xargs -0 -r sha256sum)
}
export -f listing

make_src_tree() {
	mkdir -p "$LOWER/src/pkg" "$LOWER/src/empty" "$LOWER/src/deep/er/est"
	echo 'int a(void) { return 1; }' >"$LOWER/src/a.c"
	echo 'int b(void) { return 2; }' >"$LOWER/src/b.c"
	echo 'VALUE = "lower"' >"$LOWER/src/pkg/mod.py"
	: >"$LOWER/src/pkg/__init__.py"
	seq 1 5000 >"$LOWER/src/deep/er/est/numbers"
	ln -s a.c "$LOWER/src/link-to-a"
	chmod 0750 "$LOWER/src/deep"
	lower_ready
}

@test "ls, find and python list new, deleted and re-created names once each, with their types" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "echo new > c.c; mkdir newdir; echo n > newdir/x; rm b.c; echo again > a.c; echo w >> pkg/mod.py"
		ps_exec ls -1AF .
		ps_exec ls -1AF newdir pkg
		ps_exec python3 -c "
import os
print(sorted(os.listdir(\".\")))
print(sorted((e.name, e.is_dir(), e.is_file(), e.is_symlink()) for e in os.scandir(\".\")))
for r, d, f in sorted(os.walk(\".\")):
    print(r, sorted(d), sorted(f))
"
		listing "$RO"
	'
}

@test "readdir, rewinddir, telldir/seekdir and scandir list the merged directory" {
	make_src_tree
	run_both '
		ps_exec bash -c "cd \"\$RO/src\" && touch n1 n2 n3 && rm a.c && mkdir newd && touch newd/x newd/y"
		probe readdir "$RO/src" | LC_ALL=C sort
		probe readdir "$RO/src/pkg" | LC_ALL=C sort
		probe readdir "$RO/src/newd" | LC_ALL=C sort
	'
}

@test "rm of a lower file leaves a whiteout; the name made again is a new file, not the old bytes" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec rm b.c
		ps_exec ls b.c || echo "ls: $?"
		ps_exec cat b.c || echo "cat: $?"
		ps_exec bash -c "echo x > b.c"
		ps_exec cat b.c
		ps_exec stat -c "%s %F" b.c
		if [ "$PS_MODE" = ro ]; then [ -L "$(shadow_meta src/b.c)" ] || [ -f "$(shadow_meta src/b.c)" ]; fi
		listing "$RO"
	' 2>&1
	[ -f "$(shadow_meta src/b.c)" ] # a record again, no longer the whiteout
}

@test "rm -rf of a lower directory hides it all; mkdir of the same name is empty (opaque)" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec rm -rf deep pkg
		ps_exec ls -1A
		ps_exec stat -c %F deep/er 2>&1 || true
		ps_exec mkdir deep
		ps_exec ls -1A deep
		ps_exec bash -c "echo fresh > deep/numbers; ls -1A deep"
		listing "$RO"
	'
	[ -L "$(shadow_meta src/pkg)" ]
	[ -d "$(shadow_meta src/deep)" ] && [ -k "$(shadow_meta src/deep)" ]
}

@test "rmdir of a non-empty merged directory fails with ENOTEMPTY, of an emptied one succeeds" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec python3 -c "
import os
for d in (\"pkg\", \"empty\", \"deep\", \"a.c\", \"nothere\"):
    try:
        os.rmdir(d); print(d, \"removed\")
    except OSError as e:
        print(d, e.strerror)
os.unlink(\"pkg/mod.py\"); os.unlink(\"pkg/__init__.py\")
open(\"pkg/new\", \"w\").close()
try:
    os.rmdir(\"pkg\")
except OSError as e:
    print(\"pkg\", e.strerror)
os.unlink(\"pkg/new\"); os.rmdir(\"pkg\"); print(\"pkg removed\", os.path.exists(\"pkg\"))
try:
    os.unlink(\"deep\")
except OSError as e:
    print(\"unlink deep:\", e.strerror)
"
		listing "$RO"
	'
}

@test "mkdir -p, cd into a new directory, relative paths, pwd and ../ work as on a writable copy" {
	make_src_tree
	run_both '
		ps_exec bash -c "
			cd \"\$RO/src\" && mkdir -p build/obj/x && cd build/obj && pwd && /bin/pwd &&
			echo rel > x/f && cat ../../a.c && ls -1A .. && cd x && cat f && ls -1A ../../.. | head -3 &&
			mkdir ../y && ls -1A .. && python3 -c \"import os; print(os.getcwd()); print(open(\\\"f\\\").read())\"
		"
		ps_exec mkdir "$RO/src/build" || echo "mkdir: $?"
		ps_exec mkdir "$RO/src/nope/x" || echo "mkdir: $?"
		ps_exec mkdir "$RO/src/a.c/x" || echo "mkdir: $?"
		listing "$RO"
	' 2>&1
}

@test "mv renames new files, new directories, lower files and lower directories" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "mkdir -p new/sub && echo 1 > new/sub/one && echo 2 > new/two && echo t > tmp.txt"
		ps_exec mv new renamed
		ps_exec mv tmp.txt renamed/sub/three
		ps_exec mv a.c moved-a.c
		ps_exec mv deep deep-moved
		ps_exec mv renamed/sub renamed/sub-moved
		ps_exec python3 -c "
import os
os.replace(\"renamed/two\", \"b.c\")
try:
    os.rename(\"renamed\", \"renamed/sub-moved/inside\")
except OSError as e:
    print(\"into itself:\", e.strerror)
"
		ps_exec cat b.c moved-a.c
		listing "$RO"
	'
}

@test "tar x and cp -r write a tree into the read-only tree; rm -rf removes it again" {
	make_src_tree
	mkdir -p "$T/payload/d1/d2"
	seq 1 20000 >"$T/payload/d1/d2/big"
	echo small >"$T/payload/d1/s"
	ln -s d2/big "$T/payload/d1/link"
	chmod 0700 "$T/payload/d1/d2"
	tar -C "$T" -cf "$T/payload.tar" payload
	run_both '
		cd "$RO/src"
		ps_exec tar -xf "$T/payload.tar"
		ps_exec cp -r "$T/payload" copied
		ps_exec cp -r pkg pkg-copy
		listing "$RO"
		ps_exec rm -rf payload copied
		ps_exec ls -1A
	'
}

@test "python3 imports a module from a package created in the tree, and an edited one" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "mkdir newpkg && : > newpkg/__init__.py && echo \"X = 42\" > newpkg/m.py && echo \"VALUE = \\\"edited\\\"\" > pkg/mod.py"
		ps_exec python3 -B -c "import newpkg.m, pkg.mod; print(newpkg.m.X, pkg.mod.VALUE)"
		ps_exec python3 -c "import newpkg.m, pkg.mod; print(newpkg.m.X, pkg.mod.VALUE)"
		ps_exec find . -name "*.pyc" -printf "%P\n" | LC_ALL=C sort
	'
}

@test "git: status, add, commit, checkout of branches, fsck and gc in a repository on the read-only tree" {
	command -v git >/dev/null || skip "git is not installed"
	mkdir -p "$LOWER/repo"
	export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
	export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1
	export HOME=$T/home
	mkdir -p "$HOME"
	git -C "$LOWER/repo" init -q -b main
	seq 1 1000 >"$LOWER/repo/file.txt"
	git -C "$LOWER/repo" add file.txt
	git -C "$LOWER/repo" commit -qm first
	lower_ready
	run_both '
		cd "$RO/repo"
		ps_exec git status --porcelain
		ps_exec bash -c "echo new > new.txt; mkdir dir; echo inner > dir/inner.txt; sed -i 1d file.txt"
		ps_exec git status --porcelain
		ps_exec git add -A
		ps_exec git commit -qm second
		ps_exec bash -c "echo more >> new.txt; git rm -q file.txt"
		ps_exec git commit -qam third
		ps_exec git log --format="%H %s"
		ps_exec git checkout -q -b topic
		ps_exec bash -c "echo topic > topic.txt; rm -r dir; git add -A; git commit -qm topic"
		ps_exec git checkout -q main
		ps_exec ls -1A
		ps_exec git checkout -q topic
		ps_exec ls -1A
		ps_exec git checkout -q main
		ps_exec git fsck --strict 2>&1
		ps_exec git -c pack.threads=1 gc -q 2>&1
		ps_exec git fsck --strict 2>&1
		ps_exec git status --porcelain
		ps_exec git ls-files
		ps_exec ls -1A
		ps_exec rm .git/index # it holds inode numbers and times of the working files: never the same twice
	'
}

@test "make builds objects in a new directory, and after a touch or an edit rebuilds only what changed" {
	command -v make >/dev/null && command -v cc >/dev/null || skip "make and cc are not installed"
	mkdir -p "$LOWER/proj"
	for i in 1 2 3 4 5 6; do
		echo "int f$i(void) { return $i; }" >"$LOWER/proj/f$i.c"
	done
	printf 'int f1(void);\nint main(void) { return f1() - 1; }\n' >"$LOWER/proj/main.c"
	cat >"$LOWER/proj/Makefile" <<'EOF'
SRC := $(wildcard *.c)
OBJ := $(SRC:%.c=build/%.o)
build/prog: $(OBJ)
	$(CC) -o $@ $^
build/%.o: %.c | build
	$(CC) -c -o $@ $<
build:
	mkdir -p build
EOF
	touch -d '2020-01-01' "$LOWER"/proj/*
	lower_ready
	run_both '
		cd "$RO/proj"
		ps_exec make -j2 --no-print-directory CC=cc | LC_ALL=C sort
		ps_exec ./build/prog && echo "prog ran"
		ps_exec make --no-print-directory CC=cc
		ps_exec touch f3.c
		ps_exec make --no-print-directory CC=cc
		ps_exec make --no-print-directory CC=cc
		sleep 1.1
		ps_exec bash -c "echo \"/* edited */\" >> f5.c"
		ps_exec make --no-print-directory CC=cc
		ps_exec ls -1A build
	'
}

@test "a second run sees the first run's deletions, directories and renames" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "rm -rf pkg b.c; mkdir -p out/x; echo o > out/x/o; mv out out2"
	'
	run_both '
		listing "$RO"
		ps_exec bash -c "cd \"\$RO/src/out2/x\" && pwd && cat o"
	'
}

@test "mv of a lower file and of a partly shadowed file copies no page: the record says where its lower file is" {
	mkdir -p "$LOWER/src"
	head -c 4194304 /dev/urandom >"$LOWER/src/big.bin" # 1024 pages
	make_src_tree
	run_both '
		cd "$RO/src"
		probe pwrite big.bin 8192 "CHANGED"
		ps_exec mv big.bin big2.bin
		ps_exec mkdir sub
		ps_exec mv big2.bin sub/big3.bin
		ps_exec mv deep/er/est/numbers numbers.txt
		ps_exec ls big.bin big2.bin 2>&1 || true
		ps_exec sha256sum sub/big3.bin numbers.txt
		probe pread sub/big3.bin 8190 12
		ps_exec stat -c "%s %a %F" sub/big3.bin numbers.txt
		listing "$RO"
	'
	# one page written, nothing copied by the renames: the data file holds a page or two
	[ "$(du -k "$(shadow_data src/sub/big3.bin)" | cut -f1)" -le 16 ]
	[ "$(du -k "$(shadow_data src/numbers.txt)" | cut -f1)" -eq 0 ]
	[ -L "$(shadow_meta src/big.bin)" ] # a whiteout where the lower file is
	run_both '
		ps_exec sha256sum "$RO/src/sub/big3.bin" "$RO/src/numbers.txt"
		probe pwrite "$RO/src/numbers.txt" 0 "X"
		ps_exec head -c 20 "$RO/src/numbers.txt"
	'
}

@test "ln makes hard links to a lower file and to a new one: a write through one name shows through the other" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec ln a.c a-link.c
		ps_exec bash -c "echo new > n.txt"
		ps_exec ln n.txt n-link.txt
		probe pwrite a-link.c 0 "INT"
		probe pwrite n.txt 0 "NEW"
		ps_exec cat a.c n-link.txt
		ps_exec stat -c "%h %s" n.txt n-link.txt
		ps_exec rm a.c n.txt
		ps_exec cat a-link.c n-link.txt
		ps_exec ln -s a-link.c sym
		ps_exec ln sym sym-hard 2>&1 | sed "s/: .*//" || true
		listing "$RO"
	'
}

@test "RENAME_NOREPLACE and RENAME_EXCHANGE behave as the kernel's on lower and new files and directories" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "echo new > n.txt; mkdir nd; echo in > nd/f"
		probe rename2 a.c b.c noreplace
		probe rename2 a.c none.c noreplace
		probe rename2 none.c b.c exchange
		probe rename2 n.txt b.c exchange
		probe rename2 nd none.c exchange
		probe rename2 nd b.c exchange
		probe rename2 b.c b.c exchange
		ps_exec cat b.c nd
		ps_exec ls -1AF
		listing "$RO"
	'
}

@test "chmod, chown and touch of a lower directory change the merged view; its identity stays the lower one's" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec chmod 0700 pkg
		ps_exec touch -d "2001-02-03 04:05:06" pkg empty
		ps_exec chown "$(id -u):$(id -g)" deep
		ps_exec stat -c "%n %a %Y" pkg empty deep
		ps_exec bash -c "echo x > pkg/new; ls -1A pkg"
		ps_exec find . -maxdepth 1 -newer pkg -printf "%P\n" | LC_ALL=C sort
		ps_exec python3 -c "import os; a = os.stat(\"pkg\"); fd = os.open(\"pkg\", os.O_RDONLY); b = os.fstat(fd); print(a.st_ino == b.st_ino, a.st_dev == b.st_dev, oct(b.st_mode), b.st_mtime == a.st_mtime)"
		listing "$RO"
	'
	in_ro_ns '
		lower_ino=$(stat -c %i "$LOWER/src/pkg")
		expect_eq "$(ps_exec stat -c %i "$RO/src/pkg")" "$lower_ino" "the directory'"'"'s inode"
		expect_eq "$(stat -c %a "$LOWER/src/pkg")" 755 "the lower directory'"'"'s mode"
	'
}

@test "extended attributes of lower files, directories and symlinks change in the merged view and stay there: set, remove, by descriptor, renamed, tar --xattrs, cp -a" {
	make_src_tree
	python3 -c "import os, sys; os.setxattr(sys.argv[1], 'user.file', b'F'); os.setxattr(sys.argv[2], 'user.dir', b'D')" \
		"$LOWER/src/a.c" "$LOWER/src/pkg" 2>/dev/null || skip "this file system takes no user.* attributes"
	python3 -c "import os, sys; os.setxattr(sys.argv[1], 'user.deep', b'E')" "$LOWER/src/deep/er/est/numbers"
	rm "$T/.lower_ready" && lower_ready # the writable copy with the attributes too
	cat >"$T/xattrs.py" <<-'END'
		import os, sys
		def show(p, follow=False):
		    try:
		        names = os.listxattr(p, follow_symlinks=follow)
		        return sorted((n, os.getxattr(p, n, follow_symlinks=follow)) for n in names if n.startswith("user."))
		    except OSError as e:
		        return os.strerror(e.errno)
		def attempt(what, f, *args, **kw):
		    try:
		        f(*args, **kw)
		        print(what, "done")
		    except OSError as e:
		        print(what, os.strerror(e.errno))
		os.chdir(sys.argv[1])
		if sys.argv[2] == "change":
		    attempt("set on a lower file", os.setxattr, "a.c", "user.new", b"1")
		    attempt("replace a lower file's", os.setxattr, "a.c", "user.file", b"F2", os.XATTR_REPLACE)
		    attempt("create an existing one", os.setxattr, "a.c", "user.file", b"x", os.XATTR_CREATE)
		    attempt("remove an absent one", os.removexattr, "b.c", "user.none")
		    attempt("set on a lower directory", os.setxattr, "pkg", "user.more", b"M")
		    attempt("remove from a lower directory", os.removexattr, "pkg", "user.dir")
		    attempt("set on a lower symlink", os.setxattr, "link-to-a", "user.x", b"1", follow_symlinks=False)
		    attempt("set through a lower symlink", os.setxattr, "link-to-a", "user.through", b"T")
		    fd = os.open("deep/er/est/numbers", os.O_RDONLY)
		    print("by descriptor", sorted(os.listxattr(fd)), os.getxattr(fd, "user.deep"))
		    attempt("set by descriptor", os.setxattr, fd, "user.fd", b"V")
		    attempt("remove by descriptor", os.removexattr, fd, "user.deep")
		    print("by descriptor after", sorted((n, os.getxattr(fd, n)) for n in os.listxattr(fd)))
		    os.close(fd)
		    os.rename("deep", "moved")
		    os.rename("a.c", "renamed.c")
		for p in ["renamed.c", "a.c", "b.c", "pkg", "link-to-a", "moved/er/est/numbers", "moved", "copied/numbers",
		          "unpacked/src/pkg", "unpacked/src/renamed.c"]:
		    print(p, show(p))
	END
	run_both '
		ps_exec python3 "$T/xattrs.py" "$RO/src" change
		ps_exec cp -a "$RO/src/moved/er/est" "$RO/src/copied"
		ps_exec tar --xattrs -C "$RO" -cf "$XOUT/src.tar" src/pkg src/renamed.c
		tar -tf "$XOUT/src.tar"
		ps_exec mkdir "$RO/src/unpacked"
		ps_exec tar --xattrs -C "$RO/src/unpacked" -xf "$XOUT/src.tar"
		rm "$XOUT/src.tar" # its headers carry times
		ps_exec python3 "$T/xattrs.py" "$RO/src" look
	'
	grep -q "^renamed.c .*user.new" "$T/stdout.ro"
	grep -q "^copied/numbers .*user.fd" "$T/stdout.ro"
	grep -q "^unpacked/src/renamed.c .*user.through" "$T/stdout.ro"
}

@test "a POSIX ACL: a lower directory keeps it on its data directory; a lower file takes one that says a mode, refuses any other (EOPNOTSUPP)" {
	command -v setfacl >/dev/null || skip "no setfacl (Debian's acl package)"
	make_src_tree
	in_ro_ns '
		cd "$RO/src"
		ps_exec setfacl -m u:nobody:rx pkg
		ps_exec getfacl -cp pkg | grep -qx "user:nobody:r-x"
		ps_exec ls -ld pkg | grep -q "^drwxr-xr-x+ "
		ps_exec setfacl -m u::rwx,g::r,o::- b.c
		expect_eq "$(ps_exec stat -c %a b.c)" 740 "the mode an ACL of nothing more gives"
		expect_eq "$(ps_exec setfacl -m u:nobody:r b.c 2>&1 || true)" "setfacl: b.c: Operation not supported" "an ACL of more"
		expect_eq "$(getfacl -cp "$LOWER/src/pkg" | grep -c nobody || true)" 0 "named entries in the lower directory'"'"'s ACL"
	'
}

# For the tests that run as a user who is not root: the test directory searchable by anyone, a shadow of nobody's.
nobody_setup() {
	[ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null ||
		skip "needs root to become nobody with setpriv"
	chmod 0755 "$T"
	mkdir -p "$LOWER/work" "$T/nobody-shadow"
	chown nobody "$T/nobody-shadow"
}

# as_nobody_on_both CMD: CMD run by nobody in $RO/work (with SRC=$T/src) on the writable copy and under the shim;
# the outputs ($T/out.rw, $T/out.ro) must be the same.
as_nobody_on_both() {
	local as_nobody='setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent GIT_CONFIG_NOSYSTEM=1 SRC=$T/src'
	in_rw_ns "cd \"\$RO/work\" && $as_nobody $1" >"$T/out.rw" 2>&1
	in_ro_ns "cd \"\$RO/work\" && $as_nobody LD_PRELOAD=\"\$PS_SHIM\" PAGESHADOW_RO=\"\$RO\" PAGESHADOW_DIR=\"\$T/nobody-shadow\" $1" \
		>"$T/out.ro" 2>&1
	diff -u "$T/out.rw" "$T/out.ro"
}

@test "a program that is not root makes files without owner write permission: written, reopened, copied, unpacked, linked from O_TMPFILE, and git commits, as on a writable copy" {
	nobody_setup
	mkdir -p "$T/src"
	echo base >"$LOWER/work/base"
	echo read-only >"$T/src/r" && chmod 0444 "$T/src/r"
	tar -C "$T/src" -cf "$T/src.tar" r
	chown -R nobody "$LOWER"
	lower_ready
	cat >"$T/as-user.sh" <<-'END'
		set -e
		echo hi >made; chmod 444 made; cat made; stat -c '%a %U' made
		python3 -c '
		import os
		fd = os.open("created", os.O_CREAT | os.O_WRONLY, 0o444)
		os.write(fd, b"written through the creating descriptor\n")
		os.close(fd)
		print(oct(os.stat("created").st_mode), open("created").read(), end="")
		try:
		    open("created", "w")
		except OSError as e:
		    print("reopened for writing:", os.strerror(e.errno))
		os.chmod("created", 0o644)
		open("created", "a").write("appended\n")
		print(open("created").read(), end="")
		'
		(umask 077 && echo u >masked && stat -c %a masked)
		python3 -c '
		import os
		fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o444)
		os.write(fd, b"unnamed\n")
		os.link(f"/proc/self/fd/{fd}", "tmpfile", src_dir_fd=os.open("/", os.O_RDONLY))
		print(oct(os.stat("tmpfile").st_mode), open("tmpfile").read(), end="")
		'
		cat tmpfile
		cp "$SRC/r" copied && stat -c %a copied && cat copied
		mkdir unpacked && tar -C unpacked -xf "$SRC.tar" && stat -c %a unpacked/r
		git init -q repo && cd repo && echo a >a && git add a
		git -c user.name=n -c user.email=e commit -qm one && echo b >>a && git -c user.name=n -c user.email=e commit -qam two
		git fsck 2>&1 && git log --oneline | wc -l && git status --porcelain && find .git/objects -type f -perm 444 | wc -l
	END
	chmod 0644 "$T/as-user.sh"
	as_nobody_on_both 'bash "$T/as-user.sh"'
	grep -qx "0o100444 written through the creating descriptor" "$T/out.ro"
	assert_lower_unchanged
}

@test "a program that is not root may not change what only the owner or root may: trusted and ACL attributes, a sticky directory's, as on a writable copy" {
	nobody_setup
	mkdir -p "$LOWER/work/dir" "$LOWER/work/sticky"
	echo lower >"$LOWER/work/file"
	chmod 0777 "$LOWER/work/dir" "$LOWER/work/file" && chmod 1777 "$LOWER/work/sticky"
	lower_ready
	cat >"$T/as-user.py" <<-'END'
		import os
		def attempt(what, f, *args):
		    try:
		        f(*args)
		        print(what, "done")
		    except OSError as e:
		        print(what, os.strerror(e.errno))
		acl = bytes([2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 7, 0, 1, 0, 0, 0, 4, 0, 5, 0, 255, 255, 255, 255,
		             16, 0, 7, 0, 255, 255, 255, 255, 32, 0, 5, 0, 255, 255, 255, 255])
		for name in ["file", "dir"]:
		    attempt(name + " trusted.x", os.setxattr, name, "trusted.x", b"1")
		    attempt(name + " security.x", os.setxattr, name, "security.x", b"1")
		    attempt(name + " ACL", os.setxattr, name, "system.posix_acl_access", acl)
		    attempt(name + " user.x", os.setxattr, name, "user.x", b"1")
		attempt("sticky user.x", os.setxattr, "sticky", "user.x", b"1")
		for name in ["file", "dir", "sticky"]:
		    st = os.stat(name)
		    # (a lower directory that takes attributes of its own through a user who does not own it shows that
		    # user as its owner: README, limits)
		    print(name, st.st_uid if name != "dir" else "", oct(st.st_mode), sorted(os.listxattr(name)))
	END
	chmod 0644 "$T/as-user.py"
	as_nobody_on_both 'python3 "$T/as-user.py"'
	grep -qx "file trusted.x Operation not permitted" "$T/out.ro"
	assert_lower_unchanged
}

@test "a merged directory's link count counts its merged subdirectories: made, deleted, renamed and replaced ones" {
	make_src_tree
	run_both '
		cd "$RO/src"
		counts() { ps_exec stat -c "%n %h" . pkg deep; ps_exec stat -c "%n %h" empty deep/er || true; ps_exec python3 -c "import os; fd = os.open(\"deep\", os.O_RDONLY); print(\"fstat deep\", os.fstat(fd).st_nlink)"; }
		counts
		ps_exec mkdir new1 pkg/sub empty/a empty/b
		counts
		ps_exec rm -rf deep/er
		ps_exec mv pkg/sub deep/
		ps_exec rmdir empty/a
		counts
		ps_exec rmdir empty/b
		ps_exec rm -rf empty
		ps_exec touch empty
		ps_exec mv new1 deep/er
		counts
		ps_exec find . -type d | LC_ALL=C sort
	'
}

@test "touch -h and chown -h of a lower symlink change the link in the merged view; it still leads where it did" {
	mkdir -p "$LOWER/l"
	echo target-bytes >"$LOWER/l/t"
	ln -s t "$LOWER/l/link"
	lower_ready
	run_both '
		cd "$RO/l"
		ps_exec touch -h -d "2001-02-03 04:05:06" link
		ps_exec chown -h 1234:2345 link
		ps_exec stat -c "%n %u %g %Y %N" link
		ps_exec cat link
		listing "$RO"
	'
	grep -q "^link 1234 2345 981173106 " "$T/stdout.ro"
}

@test "a deleted program or library is gone for exec, dlopen and ld.so; a symlink made in the shadow leads ld.so to a library" {
	command -v cc >/dev/null || skip "cc is not installed"
	mkdir -p "$LOWER/lib" "$LOWER/bin"
	printf 'const char *who(void) { return "lower library"; }\n' >"$T/foo.c"
	cc -shared -fPIC -Wl,-soname,libfoo.so.1 -o "$LOWER/lib/libfoo.so.1" "$T/foo.c"
	printf '#include <stdio.h>\nconst char *who(void);\nint main(void) { puts(who()); return 0; }\n' >"$T/prog.c"
	cc -o "$LOWER/bin/prog" "$T/prog.c" -L"$LOWER/lib" -l:libfoo.so.1 -Wl,-rpath,'$ORIGIN/../lib'
	printf '#!/bin/sh\necho script ran\n' >"$LOWER/bin/script"
	chmod 0755 "$LOWER/bin/script"
	printf 'const char *who(void) { return "library made in the shadow"; }\n' >"$T/foo2.c"
	cc -shared -fPIC -Wl,-soname,libfoo.so.1 -o "$T/libfoo2.so" "$T/foo2.c"
	lower_ready
	run_both '
		cd "$RO"
		ps_exec bin/prog
		ps_exec rm bin/script
		ps_exec bin/script 2>/dev/null || echo "exec of the deleted script failed: $?"
		ps_exec python3 -c "import ctypes; ctypes.CDLL(\"$RO/lib/libfoo.so.1\"); print(\"loaded\")"
		ps_exec rm lib/libfoo.so.1
		ps_exec bin/prog 2>/dev/null || echo "prog without its library failed: $?"
		ps_exec python3 -c "
import ctypes
try:
    ctypes.CDLL(\"$RO/lib/libfoo.so.1\"); print(\"loaded\")
except OSError:
    print(\"dlopen of the deleted library failed\")"
		ps_exec cp "$T/libfoo2.so" lib/libfoo-2.so
		ps_exec ln -s libfoo-2.so lib/libfoo.so.1
		ps_exec bin/prog
		listing "$RO"
	'
}

@test "nftw walks the merged tree, into directories that exist only in the shadow, with every flag as glibc's" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "mkdir -p newd/skip/x newd/sub; echo 1 > newd/sub/f; echo 2 > newd/skip/x/g; rm a.c; ln -s nowhere newd/dangling; ln -s ../b.c newd/tob"
		for flags in none phys depth phys,depth chdir phys,actionretval depth,actionretval phys,mount; do
			echo "== $flags"
			probe nftw "$RO/src" "$flags" | LC_ALL=C sort
		done
		ps_exec bash -c "touch newd/sub/stop"
		probe nftw "$RO/src/newd" phys,actionretval | tail -1
		ps_exec bash -c "ln -s .. newd/sub/up"
		for flags in none chdir chdir,depth depth; do
			echo "== relative root, symlink loop, $flags"
			(cd "$RO/src" && probe nftw newd "$flags" | LC_ALL=C sort)
		done
		probe nftw "$RO/src/missing" none
	'
}

@test "rename of a lower directory moves its names, not its bytes: partly shadowed, deleted and new entries included" {
	mkdir -p "$LOWER/src/tree/sub/deeper"
	head -c 2097152 /dev/urandom >"$LOWER/src/tree/big.bin" # 512 pages
	seq 1 3000 >"$LOWER/src/tree/sub/numbers"
	echo keep >"$LOWER/src/tree/sub/deeper/keep"
	echo gone >"$LOWER/src/tree/sub/gone"
	ln -s ../big.bin "$LOWER/src/tree/sub/link"
	make_src_tree
	run_both '
		cd "$RO/src"
		probe pwrite tree/big.bin 4096 "PAGE-ONE"
		ps_exec bash -c "rm tree/sub/gone; echo new > tree/sub/new; mkdir tree/made; echo m > tree/made/m; chmod 0700 tree/sub/deeper"
		ps_exec python3 -c "import os; os.rename(\"tree\", \"moved\"); print(os.path.exists(\"tree\"))"
		ps_exec mv moved/sub sub-out
		listing "$RO"
		probe pread moved/big.bin 4090 20
		ps_exec stat -c "%n %a" sub-out/deeper
	'
	# the renamed big file holds one page in the shadow, the lower files none
	[ "$(du -k "$(shadow_data src/moved/big.bin)" | cut -f1)" -le 16 ]
	[ "$(du -k "$(shadow_data src/sub-out/numbers)" | cut -f1)" -eq 0 ]
	run_both '
		cd "$RO/src"
		ps_exec mv sub-out moved/sub
		ps_exec mv moved tree
		listing "$RO"
	'
}

@test "processes racing to delete, rename, link or rmdir one name: exactly one wins, as on a real tree" {
	mkdir -p "$LOWER/race/d1" "$LOWER/race/d2"
	for i in 1 2 3 4 5; do echo "lower $i" >"$LOWER/race/f$i"; done
	lower_ready
	run_both '
		cd "$RO/race"
		race() { # NAME COMMAND...: 8 processes at once, one line per winner
			local i
			for i in 1 2 3 4 5 6 7 8; do (ps_exec "${@:2}" 2>/dev/null && echo "$1 won") & done
			wait
		}
		race "unlink of a lower file" rm f1 | sort | uniq -c
		ps_exec bash -c "echo new > n1"
		race "unlink of a new file" rm n1 | sort | uniq -c
		race "rmdir of a lower directory" rmdir d1 | sort | uniq -c
		for i in 1 2 3 4 5 6 7 8; do (ps_exec mv -T f2 "claimed.$i" 2>/dev/null && echo "rename won") & done; wait
		ps_exec bash -c "ls -1 | grep -c ^claimed; mv claimed.* claimed" # one winner, whichever
		ps_exec bash -c "echo new > n2"
		for i in 1 2 3 4 5 6 7 8; do (ps_exec ln f3 linked 2>/dev/null && echo "link won") & done; wait
		listing "$RO"
	'
}

@test "symlinks made in the shadow lead out of the tree, to lower names and into the shadow's part; so do lower ones" {
	mkdir -p "$LOWER/src/real"
	echo real >"$LOWER/src/real/r"
	ln -s newd "$LOWER/src/to-new"       # a lower symlink to a directory only the shadow will have
	ln -s made.txt "$LOWER/src/dangling" # a lower symlink whose target the program will create
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec ln -s /bin/echo echo-link
		ps_exec ./echo-link through a shadow symlink to a program outside the tree
		ps_exec ln -s real real-link
		ps_exec bash -c "cd real-link && pwd -P && cat r"
		ps_exec bash -c "printf \"#!/bin/sh\\necho script ran as \\\$0\\n\" > s.sh; chmod +x s.sh; ln -s s.sh s-link; ./s-link"
		ps_exec ln -s "$XOUT" out-link
		ps_exec bash -c "echo written through a link > out-link/f; cat out-link/f"
		cat "$XOUT/f"
		ps_exec mkdir newd
		ps_exec bash -c "echo in-new > to-new/f; cat to-new/f; ls to-new"
		ps_exec bash -c "echo made > dangling; cat made.txt dangling"
		ps_exec bash -c "mkdir nd && cd nd && cat ../a.c && echo up > ../up.txt && cd .. && cat up.txt"
		listing "$RO"
	'
}

@test "edge cases answer as the kernel does: trailing slashes, dot names, hard-link renames, descriptors of renamed directories" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec bash -c "echo n > new; mkdir nd; echo a > nd/a; ln -s new sl; mkdir d1 d2; ln -s ../new d2/s"
		ps_exec python3 -c "
import errno, os
def attempt(what, fn, *args):
    try:
        r = fn(*args); print(what, \"ok\", \"\" if r is None or isinstance(r, int) else r)
    except OSError as e:
        print(what, errno.errorcode[e.errno])
attempt(\"unlink new/\", os.unlink, \"new/\")
attempt(\"stat new/\", os.stat, \"new/\")
attempt(\"open new/\", os.open, \"new/\", os.O_RDONLY)
attempt(\"rmdir nd/.\", os.rmdir, \"nd/.\")
attempt(\"rmdir nd/..\", os.rmdir, \"nd/..\")
attempt(\"open dir O_CREAT\", os.open, \"nd\", os.O_RDONLY | os.O_CREAT)
attempt(\"rename a file to new name/\", os.rename, \"new\", \"fresh/\")
attempt(\"rename a file onto dir/\", os.rename, \"new\", \"d1/\")
attempt(\"link to new name/\", os.link, \"new\", \"fresh/\")
attempt(\"symlink to new name/\", os.symlink, \"new\", \"fresh/\")
attempt(\"sendfile to a lower file opened O_APPEND\", os.sendfile, os.open(\"deep/er/est/numbers\", os.O_WRONLY | os.O_APPEND), os.open(\"a.c\", os.O_RDONLY), 0, 2)
fd = os.open(\"sl\", os.O_PATH | os.O_NOFOLLOW); print(\"O_PATH|O_NOFOLLOW of a symlink ok\"); os.close(fd)
os.link(\"new\", \"new2\"); attempt(\"rename between hard links\", os.rename, \"new\", \"new2\")
print(sorted(n for n in os.listdir(\".\") if n.startswith(\"new\")))
fd = os.open(\"nd\", os.O_RDONLY); os.rename(\"nd\", \"ne\"); os.mkdir(\"nd\"); open(\"nd/zzz\", \"w\").close()
print(\"a renamed directory by its descriptor:\", sorted(os.listdir(fd))); os.close(fd)
import ctypes; libc = ctypes.CDLL(None, use_errno=True)
print(\"exchange into a directory with no data:\", libc.renameat2(-100, b\"d1\", -100, b\"d2/s\", 2) == 0 or errno.errorcode[ctypes.get_errno()])
ctypes.set_errno(0); libc.chdir(b\"pkg\"); print(\"errno after a successful chdir:\", ctypes.get_errno())
"
		ps_exec bash -c "exec 3< \"\$RO/src/ne\"; python3 -c \"import os; print(\\\"inherited directory descriptor:\\\", sorted(os.listdir(3)))\""
		listing "$RO"
	'
}

@test "FIFOs made in the tree by mkfifo, mknod and tar work, list, rename and go away as on a real tree" {
	make_src_tree
	mkdir -p "$T/payload/sub"
	mkfifo "$T/payload/sub/pipe"
	echo data >"$T/payload/sub/file"
	tar -C "$T" -cf "$T/payload.tar" payload
	run_both '
		cd "$RO/src"
		ps_exec mkfifo pipe1
		ps_exec bash -c "mkdir nd && cd nd && mkfifo pipe2 && ls -l pipe2 | cut -c1"
		ps_exec python3 -c "import os, stat; os.mknod(\"pipe3\", stat.S_IFIFO | 0o600); print(stat.S_ISFIFO(os.stat(\"pipe3\").st_mode))"
		ps_exec bash -c "(echo through the fifo > pipe1 &) ; cat pipe1"
		ps_exec mkfifo pipe1 2>/dev/null || echo "mkfifo over an existing FIFO failed"
		ps_exec mv pipe3 nd/pipe3
		ps_exec tar -xf "$T/payload.tar"
		ps_exec find . -type p | LC_ALL=C sort
		ps_exec rm nd/pipe2
		ps_exec python3 -c "import os, stat; print(sorted((e.name, stat.S_ISFIFO(e.stat(follow_symlinks=False).st_mode)) for e in os.scandir(\"nd\")))"
		ps_exec ls -l pipe1 | cut -c1
		listing "$RO"
	'
}

@test "cp -a into lower directories, a running python importing a module made later, ls through a symlink out of the tree" {
	mkdir -p "$T/src/a/b" "$T/outdir"
	echo x >"$T/src/a/b/f"
	echo out >"$T/outdir/o"
	chmod 0750 "$T/src/a"
	make_src_tree
	run_both '
		cd "$RO/src"
		mkdir -p "$XOUT/outdir" && echo out > "$XOUT/outdir/o"
		ps_exec cp -a "$T/src/." pkg/
		ps_exec stat -c "%n %a" pkg/a pkg/a/b/f
		ps_exec ln -s "$XOUT/outdir" out-link
		ps_exec ls out-link out-link/
		ps_exec touch new/ 2>&1 | sed "s/.*: //" || true
		ps_exec python3 -c "
import importlib, os, sys, time
sys.path.insert(0, \".\")
import pkg.mod
time.sleep(1.1)
open(\"pkg/later.py\", \"w\").write(\"X = 7\\n\")
import pkg.later
print(\"imported a module made after the first import:\", pkg.later.X)
"
		listing "$RO"
	'
}

@test "perl -i, perl -i.bak and python's write-then-os.replace save by rename over lower files" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec perl -i -pe "s/return 1/return 10/" a.c
		ps_exec perl -i.bak -pe "s/return 2/return 20/" b.c
		ps_exec python3 -c "
import os, tempfile
fd, tmp = tempfile.mkstemp(dir=\"pkg\", suffix=\".tmp\")
os.write(fd, b\"VALUE = \\\"replaced\\\"\\n\"); os.close(fd)
os.replace(tmp, \"pkg/mod.py\")
"
		ps_exec cat a.c b.c b.c.bak pkg/mod.py
		listing "$RO"
	'
}

@test "an O_TMPFILE file made in the tree gets its name with linkat (AT_EMPTY_PATH, or its /proc name)" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec python3 -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(\"pkg\", os.O_TMPFILE | os.O_WRONLY, 0o640); os.write(fd, b\"first\\n\")
r1 = libc.linkat(-100, (\"/proc/self/fd/%d\" % fd).encode(), -100, b\"pkg/named\", 0x400)  # AT_SYMLINK_FOLLOW
fd2 = os.open(\".\", os.O_TMPFILE | os.O_WRONLY, 0o600); os.write(fd2, b\"second\\n\")
r2 = libc.linkat(fd2, b\"\", -100, b\"named2\", 0x1000)  # AT_EMPTY_PATH
r3 = libc.linkat(fd2, b\"\", -100, b\"a.c\", 0x1000)
print(\"linkat:\", r1, r2, r3, os.strerror(ctypes.get_errno()))
os.write(fd2, b\"written after the link\\n\")
"
		ps_exec cat pkg/named named2
		listing "$RO"
	'
}

@test "'..' after a symlink is applied where the link leads, for symlinks of the shadow's and lower ones" {
	mkdir -p "$LOWER/src/s/t" "$LOWER/src/n/m"
	echo n-marker >"$LOWER/src/n/marker"
	echo root-marker >"$LOWER/src/marker"
	ln -s s/t "$LOWER/src/lowlink"
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec ln -s n/m newlink
		ps_exec cat newlink/../marker
		ps_exec bash -c "mkdir s/newdir newdir; echo in-s > s/newdir/f; echo in-src > newdir/f"
		ps_exec cat lowlink/../newdir/f newlink/../../marker
		ps_exec python3 -c "import os; print(os.stat(\"newlink/..\").st_ino == os.stat(\"n\").st_ino, os.path.exists(\"a.c/..\"))"
		ps_exec bash -c "cd newlink/.. && pwd -P | sed \"s|.*/||\""
	'
}

@test "mkdtemp makes a directory in the tree; cp -p over a lower file gives it the source's mode" {
	make_src_tree
	printf '#!/bin/sh\necho hi\n' >"$T/tool"
	chmod 0755 "$T/tool"
	run_both '
		cd "$RO/src"
		ps_exec python3 -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mkdtemp.restype = ctypes.c_char_p
t = ctypes.create_string_buffer(b\"tmp.XXXXXX\")
r = libc.mkdtemp(t)
print(\"mkdtemp:\", r is not None, os.path.isdir(t.value.decode()), oct(os.stat(t.value.decode()).st_mode & 0o777))
os.rename(t.value.decode(), \"tmpdir\")
"
		ps_exec cp -p "$T/tool" a.c
		ps_exec stat -c "%n %a" a.c
		ps_exec ./a.c
		listing "$RO"
	'
}

@test "names outside the tree that lead in through symlinks read, write, create, rename and list the merged tree" {
	make_src_tree
	ln -s "$RO/src/deep/er/est/numbers" "$T/file-link"
	ln -s "$RO/src" "$T/dir-link"
	run_both '
		cd "$T"
		ps_exec sed -i "s/^2/two/" dir-link/deep/er/est/numbers
		printf X | ps_exec dd of=file-link bs=1 seek=100 conv=notrunc status=none
		ps_exec bash -c "echo new > dir-link/new.c; mkdir dir-link/sub; mv dir-link/b.c dir-link/sub/b2.c"
		ps_exec bash -c "ln -s a.c dir-link/l; chmod 600 dir-link/new.c; touch -d @1000000000 file-link"
		ps_exec truncate -s 3 dir-link/sub/b2.c
		ps_exec stat -L -c "%s %a %Y %n" file-link dir-link/deep/er/est/numbers dir-link/l
		ps_exec stat -c "%s %a %F %n" dir-link/new.c dir-link/sub/b2.c dir-link/sub
		ps_exec head -c 120 file-link | ps_exec tail -c 30
		ps_exec ls dir-link dir-link/ dir-link/sub
		ps_exec python3 -c "import os; print(os.path.getsize(\"file-link\"), sorted(os.listdir(\"dir-link\")), os.access(\"dir-link/a.c\", os.W_OK))"
		ps_exec rm dir-link/new.c dir-link/a.c
		ps_exec test ! -e dir-link/new.c
		listing "$RO"
	'
}

@test "a prefix that is a plain directory: opens, creations and renames through an outside symlink reach the merged tree" {
	make_src_tree
	ln -s "$RO/src" "$T/dir-link"
	in_ro_ns '
		run() { "$PS_BUILD/pageshadow-run" -r "$RO/src" -s "$SHADOW" -- "$@"; }
		cd "$T"
		run bash -c "echo new > dir-link/new.c; mkdir dir-link/sub; mv dir-link/b.c dir-link/sub/b2.c; printf X >> dir-link/a.c"
		expect_eq "$(run cat dir-link/new.c dir-link/sub/b2.c dir-link/a.c)" "$(printf "new\nint b(void) { return 2; }\nint a(void) { return 1; }\nX")" "reads through the link"
		expect_eq "$(run ls dir-link/)" "$(printf "a.c\ndeep\nempty\nlink-to-a\nnew.c\npkg\nsub")" "the merged listing"
		expect_eq "$(run cat "$RO/src/a.c")" "$(printf "int a(void) { return 1; }\nX")" "the same file by its own name"
	'
	assert_lower_unchanged
}

@test "a symlink made in a directory made in the shadow leads out of the tree and back, as on a writable copy" {
	make_src_tree
	mkdir -p "$T/outside"
	echo outside >"$T/outside/o.txt"
	run_both '
		cd "$RO"
		ps_exec bash -c "mkdir -p nd/sub src/new && ln -s ../../../outside/o.txt nd/sub/out && ln -s ../../src nd/sub/back &&
			ln -s ../../../outside src/new/out && cat nd/sub/out src/new/out/o.txt && ls nd/sub/back/ | head -3"
	'
	grep -qx outside "$T/stdout.ro"
}

@test "a name made deep in a lower tree moves the time of its own directory only, as on a writable copy" {
	make_src_tree
	run_both '
		cd "$RO/src"
		before=$(ps_exec stat -c "%Y" . deep deep/er deep/er/est)
		sleep 1.1
		ps_exec mkdir deep/er/est/newdir
		ps_exec bash -c "echo x >deep/er/newfile"
		after=$(ps_exec stat -c "%Y" . deep deep/er deep/er/est)
		paste <(echo "$before") <(echo "$after") | awk "{ print (\$1 == \$2) ? \"kept\" : \"moved\" }"
	'
	[ "$(cat "$T/stdout.ro")" = "$(printf "kept\nkept\nmoved\nmoved")" ]
}

@test "writing, truncating or chmod of lower files leaves the times of their directories as on a writable copy" {
	make_src_tree
	run_both '
		cd "$RO/src"
		ps_exec stat -c "%n %Y" . deep deep/er deep/er/est pkg
		sleep 1.1
		ps_exec dd of=deep/er/est/numbers bs=1 seek=10 count=1 conv=notrunc status=none </dev/zero
		ps_exec truncate -s 10 a.c
		ps_exec chmod 600 pkg/mod.py
		ps_exec stat -c "%n %Y" . deep deep/er deep/er/est pkg
		ps_exec bash -c "echo new >deep/made"
		ps_exec bash -c "[ \$(stat -c %Y deep) -gt \$(stat -c %Y deep/er) ] && echo a name made moves its directory"
	'
}
