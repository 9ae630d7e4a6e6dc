#!/usr/bin/env bats
# 15-tool.bats - the pageshadow tool on what a real job wrote: ls (text and JSON), diff, export, commit, fsck, and
# their errors. The job runs under the shim on the read-only tree and, for comparison, directly on a writable copy.

bats_require_minimum_version 1.5.0

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	ps_setup
	PS=$PS_BUILD/pageshadow
	head -c 1048576 /dev/urandom >"$LOWER/big"
	seq 1 20000 >"$LOWER/text"
	echo hello >"$LOWER/a.txt"
	mkdir -p "$LOWER/gone/deep" "$LOWER/d/sub" "$LOWER/redo"
	echo bye >"$LOWER/gone/deep/x"
	echo old >"$LOWER/redo/old"
	printf 'bin\0ary' >"$LOWER/bin"
	ln -s a.txt "$LOWER/link"
	echo keep >"$LOWER/cut"
	seq 1 3000 >>"$LOWER/cut"
	touch -d '2020-01-02 03:04:05' "$LOWER"/* "$LOWER"/d/sub
	lower_ready
	# What the job does, with the same paths on the copy and under the shim.
	JOB='cd "$RO"
		ps_exec sed -i "s/^5000\$/five thousand/" text
		printf X | ps_exec dd of=big bs=1 seek=600000 conv=notrunc status=none
		printf Y | ps_exec dd of=bin bs=1 seek=2 conv=notrunc status=none
		ps_exec sh -c "echo more >>cut; truncate -s 100 cut; echo tail >>cut"
		ps_exec sh -c "echo new >new.txt; rm -rf gone; mkdir nd; echo inner >nd/f; mv a.txt d/moved.txt"
		ps_exec sh -c "ln -s text sl; chmod 600 d/moved.txt; mkfifo ff; chmod 700 d/sub"
		ps_exec sh -c "rm -rf redo; mkdir redo; echo again >redo/new"'
}

teardown() {
	ps_teardown
}

# The job, under the shim only.
run_job() {
	in_ro_ns "$JOB"
}

# Run the tool inside a namespace where $RO is the read-only lower tree (the paths the shadow knows); its stdout,
# stderr and status are the tool's.
tool() {
	timeout -k 5 "$PS_NS_TIMEOUT" $PS_UNSHARE bash -c 'mount --bind "$LOWER" "$RO" && _ps_remount_ro "$RO" && exec "$@"' \
		_ "$PS" -s "$SHADOW" "$@"
}

# The same, with $RO bound to $LOWER writable: the lower tree "has become writable".
tool_rw_lower() {
	timeout -k 5 "$PS_NS_TIMEOUT" $PS_UNSHARE bash -c 'mount --bind "$LOWER" "$RO" && exec "$@"' _ "$PS" -s "$SHADOW" "$@"
}

# A tree's names, types, modes, sizes and symlink targets, and the checksums of its files.
tree_listing() {
	(cd "$1" && find . ! -type d -printf '%P %y %m %s %l\n' | LC_ALL=C sort && find . -type d -printf '%P %m\n' |
		LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

@test "ls lists every kind of entry with its state, a path limits it, and --json says the same to a JSON parser" {
	run_job
	run --separate-stderr tool ls
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	echo "$output" >"$T/ls"
	for want in $'deleted\t0\t0\t0\t'"$RO/a.txt" $'partial 1/256\t1048576\t' $'partial 1/1\t7\t' \
		$'\t'"$RO/text" $'partial 0/1 renamed from a.txt\t6\t' $'new fifo\t0\t0\t0\t'"$RO/ff" \
		$'deleted\t0\t0\t0\t'"$RO/gone" $'new directory\t0\t0\t0\t'"$RO/nd" $'new\t6\t' \
		$'replaced directory\t0\t0\t0\t'"$RO/redo" $'directory attributes changed\t0\t0\t0\t'"$RO/d/sub" \
		$'symlink -> text\t0\t0\t0\t'"$RO/sl" $'partial 1/1 truncated\t105\t'; do
		grep -qF -- "$want" "$T/ls" || { echo "missing: $want"; cat "$T/ls"; return 1; }
	done
	[[ "${lines[-1]}" == $'total\t'*$'\t8 files' ]]
	run tool ls "$RO/d"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == *$'\t'"$RO/d/moved.txt" ]]
	[[ "${lines[1]}" == *$'\t'"$RO/d/sub" ]]
	[[ "${lines[2]}" == $'total\t6\t'*$'\t6\t1 files' ]]
	tool ls --json >"$T/ls.json"
	python3 - "$T/ls.json" "$T/ls" "$RO" <<-'END'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		text = [l.split("\t") for l in open(sys.argv[2]).read().splitlines()]
		ro = sys.argv[3]
		ents = doc["entries"]
		assert len(ents) == len(text) - 1, (len(ents), len(text))
		for e, t in zip(ents, text):
		    assert e["path"] == t[4] and e["size"] == int(t[1]) and e["shadow_bytes"] == int(t[2]), (e, t)
		    assert e["copyup_bytes"] == int(t[3]), (e, t)
		by = {e["path"]: e for e in ents}
		big = by[ro + "/big"]
		assert (big["kind"], big["state"], big["pages_shadowed"], big["pages"]) == ("file", "partial", 1, 256), big
		assert big["truncated"] is False and big["renamed_from"] is None
		moved = by[ro + "/d/moved.txt"]
		assert moved["renamed_from"] == ro + "/a.txt", moved
		assert by[ro + "/cut"]["truncated"] is True
		assert by[ro + "/sl"]["target"] == "text" and by[ro + "/sl"]["kind"] == "symlink"
		assert by[ro + "/gone"]["state"] == "deleted" and by[ro + "/ff"]["kind"] == "fifo"
		assert by[ro + "/redo"]["state"] == "replaced" and by[ro + "/nd"]["state"] == "new"
		assert by[ro + "/d/sub"]["state"] == "attributes"
		tot = doc["total"]
		assert tot["files"] == 8 and tot["size"] == sum(e["size"] for e in ents), tot
		assert tot["shadow_bytes"] < tot["copyup_bytes"], tot
	END
}

@test "ls --json writes any file name as valid JSON" {
	printf 'x' >"$LOWER/$(printf 'q"b\\s\tt\001\xff\xc3\xa9')"
	rm "$T/.lower_ready"
	lower_ready
	in_ro_ns 'cd "$RO"; for f in q*; do printf Z | ps_exec dd of="$f" bs=1 conv=notrunc status=none; done'
	tool ls --json >"$T/ls.json"
	python3 - "$T/ls.json" "$RO" <<-'END'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		names = [e["path"] for e in doc["entries"]]
		assert names == [sys.argv[2] + '/q"b\\s\tt\x01\xff\xe9'], names
	END
}

@test "diff names the changed byte ranges, new, deleted, renamed and mode changes; exit 1, and 0 once reset" {
	run_job
	run --separate-stderr tool diff
	[ "$status" -eq 1 ] || { echo "status $status: $stderr"; return 1; }
	[ -z "$stderr" ]
	echo "$output" >"$T/diff"
	for want in "deleted $RO/a.txt" "changed $RO/big: 600000-600000" "changed $RO/bin: 2-2" \
		"changed $RO/cut: " ", size 13898 -> 105" "renamed $RO/a.txt -> $RO/d/moved.txt" \
		"mode $RO/d/moved.txt: 0644 -> 0600" "mode $RO/d/sub: 0755 -> 0700" "new $RO/ff" "deleted $RO/gone/" \
		"new $RO/nd/" "new $RO/nd/f" "new $RO/new.txt" "deleted $RO/redo/old" "new $RO/redo/new" \
		"new $RO/sl -> text" "changed $RO/text: "; do
		grep -qF -- "$want" "$T/diff" || { echo "missing: $want"; cat "$T/diff"; return 1; }
	done
	run tool diff "$RO/bin"
	[ "$status" -eq 1 ]
	[ "$output" = "changed $RO/bin: 2-2" ]
	tool reset
	run tool diff
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "diff: a file written back with its lower bytes does not differ" {
	in_ro_ns 'printf b | ps_exec dd of="$RO/bin" bs=1 conv=notrunc status=none'
	run tool ls
	[[ "$output" == *"partial 1/1"*"$RO/bin"* ]]
	run tool diff
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "diff --text is a unified diff that patch applies to the lower tree to give the merged text files" {
	run_job
	run --separate-stderr tool diff --text "$RO/text" "$RO/cut" "$RO/new.txt" "$RO/bin"
	[ "$status" -eq 1 ]
	echo "$output" >"$T/patch"
	grep -qxF -- "--- a/text" "$T/patch"
	grep -qxF -- "+five thousand" "$T/patch"
	grep -qxF "Binary files a/bin and b/bin differ" "$T/patch"
	mkdir "$T/p"
	cp "$LOWER/text" "$LOWER/cut" "$T/p/"
	grep -v '^Binary files' "$T/patch" | (cd "$T/p" && patch -s -p1)
	in_rw_ns "$JOB"
	cmp "$T/p/text" "$COPY/text"
	cmp "$T/p/cut" "$COPY/cut"
	cmp "$T/p/new.txt" "$COPY/new.txt"
}

@test "diff, ls and cat of a damaged shadow: one line naming the record, exit 2" {
	run_job
	printf 'garbage' | dd of="$(shadow_meta big)" bs=1 seek=30 conv=notrunc status=none
	run --separate-stderr tool diff "$RO/big"
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "pageshadow: $RO/big: unusable shadow record: "* ]]
	run --separate-stderr tool cat "$RO/big"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "pageshadow: $RO/big: unusable shadow record "* ]]
	run --separate-stderr tool ls "$RO/big"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "unusable ("*$'\t'"$RO/big" ]]
	run --separate-stderr "$PS" -s "$T/nothing" diff
	[ "$status" -eq 2 ]
	[[ "$stderr" == "pageshadow: shadow directory $T/nothing: "* ]]
}

@test "export writes the merged tree: the same names, bytes, modes and symlinks as the job run on a writable copy" {
	run_job
	in_rw_ns "$JOB"
	run --separate-stderr tool export "$T/exp"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ -z "$output$stderr" ] # quiet when not on a terminal
	diff <(tree_listing "$COPY") <(tree_listing "$T/exp")
	# times: a file the job did not touch keeps the lower file's
	[ "$(stat -c %Y "$T/exp/link" "$T/exp/d")" = "$(stat -c %Y "$LOWER/link" "$LOWER/d")" ]
	[ "$(stat -c %Y "$T/exp/text")" = "$(PS_TRACE=0 in_ro_ns 'ps_exec stat -c %Y "$RO/text"')" ]
}

@test "export --changed writes only what the shadow holds, with the directories leading to it" {
	run_job
	tool export --changed "$T/exp"
	(cd "$T/exp" && find . -printf '%P %y\n' | LC_ALL=C sort) >"$T/got"
	printf '%s\n' " d" "big f" "bin f" "cut f" "d d" "d/moved.txt f" "d/sub d" "ff p" "nd d" "nd/f f" "new.txt f" \
		"redo d" "redo/new f" "sl l" "text f" >"$T/want"
	diff "$T/want" "$T/got"
	# one PATH: that subtree alone
	tool export "$T/exp2" "$RO/d"
	[ "$(cd "$T/exp2" && find . -printf '%P %m\n' | LC_ALL=C sort | tr '\n' ,)" = " 755,moved.txt 600,sub 700," ]
}

@test "export refuses a DEST that holds something, a DEST inside the tree, a missing PATH" {
	run_job
	mkdir "$T/full"
	touch "$T/full/x"
	run --separate-stderr tool export "$T/full"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: export: $T/full exists and is not an empty directory" ]
	run --separate-stderr tool export "$RO/d/out" "$RO"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "pageshadow: export: $RO/d/out lies inside $RO, the tree to export" ]]
	run --separate-stderr tool export "$T/e" "$RO/gone"
	[ "$status" -eq 2 ]
	[[ "$stderr" == "pageshadow: $RO/gone: not in the merged tree: "* ]]
	[ ! -e "$T/e" ] || [ -z "$(ls -A "$T/e")" ]
}

@test "commit onto the lower tree made writable gives what the job gives run directly on it; the shadow is empty after" {
	run_both "$JOB"
	run --separate-stderr tool_rw_lower commit --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"write $RO/big (1 of 256 pages)"* ]]
	[[ "$output" == *"delete $RO/gone/"* ]]
	assert_lower_unchanged
	run --separate-stderr tool_rw_lower commit
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ -z "$stderr" ]
	[[ "$output" == "committed 8 files ("* ]]
	diff <(tree_listing "$COPY") <(tree_listing "$LOWER")
	run tool ls
	[ "${lines[*]}" = $'total\t0\t0\t0\t0 files' ]
	[ -z "$(find "$SHADOW/meta" "$SHADOW/data" -mindepth 1)" ]
}

@test "commit writes a partly shadowed file in place: its inode stays, only the written page is written" {
	inode=$(stat -c %i "$LOWER/big")
	# a byte the random file does not hold there already (1 time in 256 it holds X): the write must change one
	byte=X
	[ "$(dd if="$COPY/big" bs=1 skip=600000 count=1 status=none)" != X ] || byte=Y
	export byte
	in_ro_ns 'printf "$byte" | ps_exec dd of="$RO/big" bs=1 seek=600000 conv=notrunc status=none'
	strace -f -qq -e trace=pwrite64,write -o "$T/commit.trace" \
		$PS_UNSHARE bash -c 'mount --bind "$LOWER" "$RO" && exec "$@"' _ "$PS" -s "$SHADOW" commit >/dev/null
	[ "$(stat -c %i "$LOWER/big")" = "$inode" ]
	[ "$(dd if="$LOWER/big" bs=1 skip=600000 count=1 status=none)" = "$byte" ]
	cmp -l "$LOWER/big" "$COPY/big" | wc -l | grep -qx 1
	# the lower file got one page-sized pwrite (the record its flag); nothing else was written
	grep -E 'pwrite64\([0-9]+, ".*, 4096, 598016\)' "$T/commit.trace"
	[ "$(grep -c 'pwrite64(.*, 4096, ' "$T/commit.trace")" -eq 1 ]
}

@test "commit of renamed files, lower hard links and attributes: what the shim showed, times and owners kept" {
	seq 1 5000 >"$LOWER/ren"
	chown 1000:1000 "$LOWER/ren"
	setfattr -n user.k -v v "$LOWER/ren" 2>/dev/null || skip "no user extended attributes on $LOWER's filesystem"
	setfattr -n user.gone -v v "$LOWER/bin"
	echo one >"$LOWER/h1"
	ln "$LOWER/h1" "$LOWER/h2"
	touch -d '2020-01-02 03:04:05' "$LOWER/ren" "$LOWER/h1"
	rm "$T/.lower_ready"
	lower_ready
	in_ro_ns 'cd "$RO"
		ps_exec sh -c "mv ren ren2; echo new >ren; chmod 700 ren; mv a.txt moved; setfattr -x user.gone bin"
		ps_exec sh -c "echo A >>h1; echo B >>h2"
		ps_exec stat -c "%a %u %Y" ren2 moved >"$XOUT/attrs"
		ps_exec cat h1 h2 >"$XOUT/links"'
	run --separate-stderr tool_rw_lower commit
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ "$(stat -c "%a %u %Y" "$LOWER/ren2" "$LOWER/moved")" = "$(cat "$T/out/ro/attrs")" ]
	[ "$(stat -c %a "$LOWER/ren")" = 700 ]
	cmp "$LOWER/ren2" "$COPY/ren"
	[ "$(getfattr --only-values -n user.k "$LOWER/ren2")" = v ]
	! getfattr -n user.gone "$LOWER/bin" 2>/dev/null
	[ "$(cat "$LOWER/h1" "$LOWER/h2")" = "$(cat "$T/out/ro/links")" ]
	[ -z "$(find "$LOWER" -name '.pageshadow-commit-*')" ]
}

@test "commit PATH: a file renamed out of it keeps its bytes; a PATH inside a directory made in the shadow is refused" {
	seq 1 5000 >"$LOWER/big"
	rm "$T/.lower_ready"
	lower_ready
	in_ro_ns 'cd "$RO"
		ps_exec sh -c "mv big big2; printf Z | dd of=big2 bs=1 seek=10 conv=notrunc status=none"
		ps_exec sh -c "rm -rf redo; mkdir redo; echo x >redo/x"'
	run --separate-stderr tool_rw_lower commit "$RO/big"
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	[ ! -e "$LOWER/big" ]
	tool cat "$RO/big2" >"$T/big2"
	(seq 1 5000 | head -c 10; printf Z; seq 1 5000 | tail -c +12) | cmp - "$T/big2"
	run --separate-stderr tool_rw_lower commit "$RO/redo/x"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: commit: $RO/redo/x lies in $RO/redo, a directory made in the shadow: commit that directory" ]
	run --separate-stderr tool_rw_lower commit "$RO/nothing-here"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $RO/nothing-here: neither in the lower tree nor in the shadow" ]
	tool_rw_lower commit "$RO/redo"
	[ "$(ls "$LOWER/redo")" = x ]
	tool_rw_lower commit
	cmp "$LOWER/big2" "$T/big2"
}

@test "commit refuses a read-only lower tree and a stale record, and changes nothing" {
	run_job
	run --separate-stderr tool commit
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: commit: $RO is on a read-only filesystem: make it writable first" ]
	assert_lower_unchanged
	touch -d '2021-01-01' "$LOWER/big"
	run --separate-stderr tool_rw_lower commit
	[ "$status" -eq 2 ]
	[[ "${stderr_lines[0]}" == "pageshadow: $RO/big: its lower file changed since (rebase or reset it first): "* ]]
	[ "${stderr_lines[-1]}" = "pageshadow: commit: nothing was changed" ]
	touch -d '2020-01-02 03:04:05' "$LOWER/big"
	assert_lower_unchanged
	run tool ls
	[[ "${lines[-1]}" == *$'\t8 files' ]]
}

@test "commit run again after it stopped half-way through a file finishes it" {
	run_job
	in_rw_ns "$JOB"
	# as if commit had marked big, written half of its page and died: the lower file no longer matches the record
	python3 - "$(shadow_meta big)" <<-'END'
		import struct, sys
		with open(sys.argv[1], "r+b") as f:
		    f.seek(136)
		    flags, = struct.unpack("<I", f.read(4))
		    f.seek(136)
		    f.write(struct.pack("<I", flags | 8))
	END
	printf 'half' | dd of="$LOWER/big" bs=1 seek=598100 conv=notrunc status=none
	run tool fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"$RO/big: a commit stopped while writing it: run pageshadow commit again"* ]]
	run --separate-stderr tool_rw_lower commit
	[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
	diff <(tree_listing "$COPY") <(tree_listing "$LOWER")
}

@test "fsck: a clean shadow is 0; leftovers and a stopped truncation are repaired; damage stays, reported, exit 1" {
	run_job
	run tool fsck
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "16 entries checked, 0 problems, 0 repaired" ]
	enc=$(ps_enc "$RO")
	echo x >"$SHADOW/data/$enc/orphan"
	touch "$SHADOW/new-record"
	truncate -s 50 "$(shadow_data cut)"
	printf 'garbage' | dd of="$(shadow_meta bin)" bs=1 seek=30 conv=notrunc status=none
	touch -d '2021-01-01' "$LOWER/big"
	run tool fsck
	[ "$status" -eq 1 ]
	for want in "new-record: left by a process that stopped while changing the shadow" \
		"$RO/cut: a truncation stopped half-way (lower_len past the end)" \
		"$RO/bin: unusable record: " "$RO/big: stale record: " \
		"data/$enc/orphan: left over from an interrupted creation (no meta entry)"; do
		[[ "$output" == *"$want"* ]] || { echo "missing: $want"; echo "$output"; return 1; }
	done
	[ "${lines[-1]}" = "16 entries checked, 5 problems, 0 repaired" ]
	run tool fsck --repair
	[ "$status" -eq 1 ]
	[ "${lines[-1]}" = "16 entries checked, 5 problems, 3 repaired" ]
	# a rename stopped between its data file and its record: the data at the new name is kept, not removed
	mv "$(shadow_data new.txt)" "$(shadow_data renamed.txt)"
	run tool fsck --repair
	[[ "$output" == *"data/$enc/renamed.txt: the data of a record at another name (a rename stopped half-way): move it back"* ]]
	[ -e "$(shadow_data renamed.txt)" ]
	mv "$(shadow_data renamed.txt)" "$(shadow_data new.txt)"
	[ ! -e "$SHADOW/new-record" ] && [ ! -e "$SHADOW/data/$enc/orphan" ]
	# the truncation finished: cut reads as its first 50 merged bytes
	[ "$(tool cat "$RO/cut" | wc -c)" -eq 50 ]
	tool reset "$RO/bin"
	tool rebase "$RO/big"
	run tool fsck
	[ "$status" -eq 0 ]
	run --separate-stderr "$PS" -s "$T/nothing" fsck
	[ "$status" -eq 2 ]
}

@test "long commands show progress on a terminal only" {
	run_job
	command -v script >/dev/null || skip "no script(1)"
	PS_TRACE=0 in_ro_ns 'script -qec "$(printf "%q " "$PS_BUILD/pageshadow" -s "$SHADOW" export "$T/exp")" /dev/null >"$XOUT/tty"'
	grep -q "exported [0-9]* files" "$T/out/ro/tty"
	run --separate-stderr tool export "$T/exp2"
	[ -z "$stderr" ]
}

@test "subcommand errors: unknown option, wrong arguments, a PATH outside the prefixes" {
	run_job
	run --separate-stderr tool ls --frob
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: ls: unknown option: --frob (see --help)" ]
	run --separate-stderr tool export
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: export takes DEST and at most one PATH (see --help)" ]
	run --separate-stderr tool commit /etc
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: /etc: not under a read-only prefix of this shadow" ]
	run --separate-stderr tool fsck "$RO"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: fsck takes no PATH (see --help)" ]
}
