#!/usr/bin/env bats
# 10-run.bats - the pageshadow-run launcher's command line: refusals, exit statuses, the environment it sets,
# the default shadow directory; and the smallest checks of the pageshadow tool.
# The commands run here (echo, sh, env, true) do not touch the prefixes, so the results do not depend on what
# the shim does, only on its loading.

bats_require_minimum_version 1.5.0

setup() {
	BUILD=${BUILD:-$BATS_TEST_DIRNAME/../../build}
	BUILD=$(cd "$BUILD" && pwd -P)
	RUN=$BUILD/pageshadow-run
	PS=$BUILD/pageshadow
	LIB=$BUILD/libpageshadow.so
	tmp=$(cd "$(mktemp -d)" && pwd -P)
	mkdir "$tmp/ro"
	echo lower >"$tmp/ro/file"
	# Default shadows go here, never into the real home.
	export XDG_STATE_HOME=$tmp/state
	unset LD_PRELOAD PAGESHADOW_RO PAGESHADOW_DIR PAGESHADOW_DEBUG
}

teardown() {
	rm -rf "$tmp"
}

# The launcher refused with status $1: one line on stderr naming pageshadow-run, nothing on stdout.
assert_refused() {
	if [ "$status" -ne "$1" ]; then
		echo "status $status, expected $1; stderr: $stderr"
		return 1
	fi
	if [ "${#stderr_lines[@]}" -ne 1 ] || [[ "${stderr_lines[0]}" != "pageshadow-run: "* ]]; then
		echo "expected one line starting with 'pageshadow-run: ', got: $stderr"
		return 1
	fi
	[ -z "$output" ]
}

# The 64-bit FNV-1a hash of $1 (ASCII), as 16 hex digits; bash arithmetic wraps modulo 2^64.
fnv1a64() {
	local LC_ALL=C s=$1 h=$((0xcbf29ce484222325)) i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 1099511628211))
	done
	printf '%016x\n' "$h"
}

# --- refusals: status 125, one line, nothing run -------------------------------------------------------------

@test "missing prefix is refused" {
	run --separate-stderr "$RUN" -r "$tmp/nope" -s "$tmp/sh" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/nope"* ]]
	[ ! -e "$tmp/ran" ]
	[ ! -e "$tmp/sh" ]
}

@test "prefix that is a file is refused" {
	run --separate-stderr "$RUN" -r "$tmp/ro/file" -s "$tmp/sh" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/ro/file"*"not a directory"* ]]
	[ ! -e "$tmp/ran" ]
}

@test "prefix containing ':' is refused" {
	mkdir "$tmp/a:b"
	run --separate-stderr "$RUN" -r "$tmp/a:b" -s "$tmp/sh" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/a:b"*"':'"* ]]
	[ ! -e "$tmp/ran" ]
}

@test "shadow inside the prefix is refused" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/ro/shadow" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/ro/shadow"*"inside"* ]]
	[ ! -e "$tmp/ro/shadow" ]
	[ ! -e "$tmp/ran" ]
}

@test "prefix inside the shadow is refused" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp" -- touch "$tmp/ran"
	assert_refused 125
	[ ! -e "$tmp/ran" ]
}

@test "shadow containing ':' is refused" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/s:h" -- touch "$tmp/ran"
	assert_refused 125
	[ ! -e "$tmp/s:h" ]
}

@test "shadow that cannot be created is refused" {
	touch "$tmp/afile"
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/afile/sub" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/afile/sub"* ]]
	[ ! -e "$tmp/ran" ]
}

@test "shadow of an unknown format is refused" {
	mkdir "$tmp/sh"
	echo "pageshadow shadow format 99" >"$tmp/sh/FORMAT"
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"$tmp/sh"*"format"*"99"* ]]
	[ ! -e "$tmp/ran" ]
	[ "$(cat "$tmp/sh/FORMAT")" = "pageshadow shadow format 99" ]
}

@test "bad options are refused" {
	run --separate-stderr "$RUN" -x -- true
	assert_refused 125
	[[ "$stderr" == *"-x"* ]]
	run --separate-stderr "$RUN" --bogus -- true
	assert_refused 125
	[[ "$stderr" == *"--bogus"* ]]
	run --separate-stderr "$RUN" -r
	assert_refused 125
}

@test "no command is refused" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh"
	assert_refused 125
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" --
	assert_refused 125
}

@test "missing library is refused" {
	libdir=$("$RUN" --help | sed -n 's/.*then in \(.*\)\.$/\1/p')
	[ -n "$libdir" ]
	[ ! -e "$libdir/libpageshadow.so" ] || skip "a library is installed in $libdir"
	mkdir "$tmp/bin"
	cp "$RUN" "$tmp/bin/"
	run --separate-stderr "$tmp/bin/pageshadow-run" -r "$tmp/ro" -s "$tmp/sh" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *libpageshadow.so*"$tmp/bin"* ]]
	[ ! -e "$tmp/ran" ]
}

# --- the command: not found, cannot run, its status -----------------------------------------------------------

@test "missing command: 127" {
	run -127 --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- no-such-command-pageshadow
	assert_refused 127
	[ "$stderr" = "pageshadow-run: no-such-command-pageshadow: command not found" ]
	run -127 --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- "$tmp/nope"
	assert_refused 127
	[[ "$stderr" == *"$tmp/nope"* ]]
}

@test "PATH is searched as execvp does: a command not on it is not found" {
	run -127 --separate-stderr env PATH="$tmp/ro" "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c true
	assert_refused 127
}

@test "non-executable file: 126" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- "$tmp/ro/file"
	assert_refused 126
	[[ "$stderr" == *"$tmp/ro/file"* ]]
}

@test "directory as command: 126" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- "$tmp/ro"
	assert_refused 126
}

@test "non-executable file found in PATH: 126" {
	mkdir "$tmp/bin"
	touch "$tmp/bin/mycmd"
	run --separate-stderr env PATH="$tmp/bin" "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- mycmd
	assert_refused 126
}

@test "script without #! runs through /bin/sh, as with execvp" {
	mkdir "$tmp/bin"
	printf 'echo from-script "$@"\n' >"$tmp/bin/script"
	chmod +x "$tmp/bin/script"
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- "$tmp/bin/script" a b
	[ "$status" -eq 0 ]
	[ "$output" = "from-script a b" ]
}

@test "exit status passes through" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'exit 7'
	[ "$status" -eq 7 ]
	[ -z "$stderr" ]
	run "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- true
	[ "$status" -eq 0 ]
}

@test "death by signal N: 128+N" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'kill -TERM $$'
	[ "$status" -eq 143 ]
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
}

@test "SIGTERM to pageshadow-run is forwarded to the command" {
	mkdir "$tmp/m" # beside the prefix: under the guard nothing can be created directly in $tmp, above it
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c "trap 'kill \$!; exit 3' TERM; : >'$tmp/m/ready'; sleep 30 & wait" &
	pid=$!
	for _ in $(seq 100); do
		[ -e "$tmp/m/ready" ] && break
		sleep 0.05
	done
	[ -e "$tmp/m/ready" ]
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	# 3: the command's trap ran; 143 would mean pageshadow-run died and left the command behind.
	[ "$status" -eq 3 ]
}

# --- stdout, stderr, -v ---------------------------------------------------------------------------------------

@test "stdout is exactly the command's" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- echo hi
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]
	[ -z "$stderr" ]
}

@test "-v tells shadow, prefix and library on stderr only" {
	run --separate-stderr "$RUN" -v -r "$tmp/ro" -s "$tmp/sh" -- echo hi
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]
	[[ "$stderr" == *"pageshadow-run: shadow: $tmp/sh"* ]]
	[[ "$stderr" == *"pageshadow-run: prefix: $tmp/ro"* ]]
	[[ "$stderr" == *"pageshadow-run: library: $LIB"* ]]
}

@test "options after the command are the command's; -- may be left out" {
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" echo -v -r x
	[ "$status" -eq 0 ]
	[ "$output" = "-v -r x" ]
	[ -z "$stderr" ]
}

@test "--help and --version go to stdout and exit 0" {
	run --separate-stderr "$RUN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: pageshadow-run"* ]]
	[[ "$output" == *"FNV-1a"* ]]
	[ -z "$stderr" ]
	run --separate-stderr "$RUN" --version
	[ "$status" -eq 0 ]
	[ "$output" = "pageshadow-run 0.1.0" ]
}

# --- for CI jobs: --ephemeral, --keep, --report ---------------------------------------------------------------

@test "--ephemeral: the command writes into a new shadow in TMPDIR, which is gone when it ends" {
	mkdir "$tmp/t"
	run --separate-stderr env TMPDIR="$tmp/t" "$RUN" --ephemeral -r "$tmp/ro" -- \
		sh -c 'echo more >>"$1/file"; cat "$1/file"; echo "$PAGESHADOW_DIR"' _ "$tmp/ro"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = lower ] && [ "${lines[1]}" = more ]
	[[ "${lines[2]}" == "$tmp/t/pageshadow-"?????? ]]
	[ -z "$stderr" ]
	[ -z "$(ls -A "$tmp/t")" ]
	[ "$(cat "$tmp/ro/file")" = lower ]
	[ ! -e "$tmp/state" ] # the default shadow was not made
	# gone also when the command fails or cannot be run
	TMPDIR="$tmp/t" run "$RUN" --ephemeral -r "$tmp/ro" -- false
	[ "$status" -eq 1 ]
	TMPDIR="$tmp/t" run -127 "$RUN" --ephemeral -r "$tmp/ro" -- "$tmp/nope"
	[ "$status" -eq 127 ]
	[ -z "$(ls -A "$tmp/t")" ]
	# also when the temporary directory lies above the prefix (the guard closes it to the command)
	TMPDIR="$tmp" run --separate-stderr "$RUN" --ephemeral -r "$tmp/ro" -- sh -c 'echo x >>"$1/file"' _ "$tmp/ro"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	[ -z "$(find "$tmp" -maxdepth 1 -name 'pageshadow-*')" ]
}

@test "--ephemeral --keep: the shadow stays and its path is said on stderr; pageshadow reads it" {
	mkdir "$tmp/t"
	run --separate-stderr env TMPDIR="$tmp/t" "$RUN" --ephemeral --keep -r "$tmp/ro" -- sh -c 'echo more >>"$1/file"' _ "$tmp/ro"
	[ "$status" -eq 0 ]
	[[ "$stderr" == "pageshadow-run: shadow kept: $tmp/t/pageshadow-"?????? ]]
	kept=${stderr#pageshadow-run: shadow kept: }
	run "$PS" -s "$kept" diff
	[ "$status" -eq 1 ]
	[ "$output" = "changed $tmp/ro/file: 6-10, size 6 -> 11" ]
}

@test "--report says on stderr what the shadow holds when the command ends" {
	seq 1 5000 >"$tmp/ro/big"
	run --separate-stderr "$RUN" --report -r "$tmp/ro" -s "$tmp/sh" -- sh -c '
		cd "$1"; printf X | dd of=big bs=1 seek=9000 conv=notrunc status=none; echo n >new; rm file; mkdir d; ln -s big l
		echo out' _ "$tmp/ro"
	[ "$status" -eq 0 ]
	[ "$output" = out ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "pageshadow-run: report: 1 files changed (1 pages copied up), 1 created, 1 deleted, 1 directories and 1 links made; shadow "*" bytes, whole-file copy-up 23895 bytes" ]]
	run "$RUN" --report -r "$tmp/ro" -s "$tmp/sh" -- false
	[ "$status" -eq 1 ]
}

@test "--keep without --ephemeral, --ephemeral with -s: refused" {
	run --separate-stderr "$RUN" --keep -r "$tmp/ro" -- true
	assert_refused 125
	[ "$stderr" = "pageshadow-run: --keep keeps an --ephemeral shadow: give --ephemeral too" ]
	run --separate-stderr "$RUN" --ephemeral -s "$tmp/sh" -r "$tmp/ro" -- true
	assert_refused 125
	[ ! -e "$tmp/sh" ]
}

# The job script of docs/ci.md, as written there (GitHub's copy; GitLab's is checked to be the same).
ci_job_script() {
	awk '/# --- pageshadow job script ---/ {on = 1} on {print} /# --- end of the pageshadow job script ---/ {on = 0}' \
		"$BATS_TEST_DIRNAME/../../docs/ci.md" | sed 's/^ *//'
}

@test "docs/ci.md job script: 0 for a suite that writes nothing, 1 naming what one wrote, a failing suite's status" {
	ci_job_script >"$tmp/all"
	n=$(grep -c '^# --- pageshadow job script ---$' "$tmp/all")
	[ "$n" -eq 2 ]
	half=$(($(wc -l <"$tmp/all") / 2))
	head -n "$half" "$tmp/all" >"$tmp/job.sh"
	diff "$tmp/job.sh" <(tail -n +"$((half + 1))" "$tmp/all") # the GitLab job runs the same script
	mkdir "$tmp/rt"
	cd "$tmp/ro"
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" SUITE='cat file >/dev/null' sh "$tmp/job.sh"
	[ "$status" -eq 0 ]
	[ -s "$tmp/rt/pageshadow/ls.json" ] && [ ! -s "$tmp/rt/pageshadow/diff.txt" ]
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" SUITE='echo cache >>file; echo x >new' sh "$tmp/job.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the test suite wrote into the checkout:"*"changed $tmp/ro/file: 6-11, size 6 -> 12"*"new $tmp/ro/new"* ]]
	grep -qxF "+cache" "$tmp/rt/pageshadow/diff.patch"
	[ "$(cat "$tmp/ro/file")" = lower ] && [ ! -e "$tmp/ro/new" ]
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" SUITE='exit 3' sh "$tmp/job.sh"
	[ "$status" -eq 3 ]
	[[ "$output" == *"the test suite failed (status 3)"* ]]
}

@test "docs/ci.md deny job script: 0 for a suite that writes nothing, 1 naming what one tried to write, a failing suite's status" {
	awk '/# --- pageshadow deny job script ---/ {on = 1} on {print} /# --- end of the pageshadow deny job script ---/ {on = 0}' \
		"$BATS_TEST_DIRNAME/../../docs/ci.md" >"$tmp/job.sh"
	[ "$(grep -c . "$tmp/job.sh")" -gt 4 ]
	mkdir "$tmp/rt"
	cd "$tmp/ro"
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" TMPDIR="$tmp/rt" SUITE='cat file >/dev/null' sh "$tmp/job.sh"
	[ "$status" -eq 0 ]
	[ -e "$tmp/rt/pageshadow/denied.jsonl" ] && [ ! -s "$tmp/rt/pageshadow/denied.jsonl" ]
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" TMPDIR="$tmp/rt" SUITE='echo x >new 2>/dev/null; true' sh "$tmp/job.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the test suite tried to write into the checkout:"*'"op":"create","path":"'"$tmp/ro/new"'","denied":true}'* ]]
	[ ! -e "$tmp/ro/new" ]
	run env PATH="$BUILD:$PATH" RUNNER_TEMP="$tmp/rt" TMPDIR="$tmp/rt" SUITE='echo cache >>file' sh "$tmp/job.sh"
	[ "$status" -eq 2 ] # sh's own status for the failed redirection
	[[ "$output" == *"tried to write"*"the test suite failed (status 2)"* ]]
	[ "$(cat "$tmp/ro/file")" = lower ]
}

@test "make install puts both programs, the libraries, the spawn helper and both manual pages under DESTDIR" {
	command -v man >/dev/null || skip "no man(1) to render the pages"
	make -s -C "$BATS_TEST_DIRNAME/../.." BUILD="$BUILD" DESTDIR="$tmp/inst" PREFIX=/usr/local install >/dev/null
	for f in bin/pageshadow bin/pageshadow-run lib/pageshadow/libpageshadow.so lib/pageshadow/libpageshadow-audit.so \
		lib/pageshadow/pageshadow-exec share/man/man1/pageshadow.1 \
		share/man/man1/pageshadow-run.1; do
		[ -s "$tmp/inst/usr/local/$f" ] || { echo "missing $f"; return 1; }
	done
	run --separate-stderr env MANWIDTH=100 man --warnings -l "$tmp/inst/usr/local/share/man/man1/pageshadow.1"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	# every command and option of --help has its place in the manual page
	for word in ls cat diff export commit reset rebase fsck --json --text --changed --dry-run --repair; do
		[[ "$output" == *"$word"* ]] || { echo "not in the page: $word"; return 1; }
	done
	run --separate-stderr env MANWIDTH=100 man --warnings -l "$tmp/inst/usr/local/share/man/man1/pageshadow-run.1"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	for word in --ro --shadow --ephemeral --keep --report --deny --log --verbose --allow-unshimmed --no-guard; do
		[[ "$output" == *"$word"* ]] || { echo "not in the page: $word"; return 1; }
	done
}

# --- the shadow directory -------------------------------------------------------------------------------------

@test "the shadow is created with its FORMAT file" {
	run "$RUN" -r "$tmp/ro" -s "$tmp/new/shadow" -- true
	[ "$status" -eq 0 ]
	[ "$(head -n 1 "$tmp/new/shadow/FORMAT")" = "pageshadow shadow format 2" ]
}

@test "default shadow: XDG_STATE_HOME/pageshadow/FNV-1a of the prefixes" {
	run --separate-stderr "$RUN" -v -r "$tmp/ro" -- true
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"pageshadow-run: shadow: $tmp/state/pageshadow/$(fnv1a64 "$tmp/ro")"* ]]
	[ -f "$tmp/state/pageshadow/$(fnv1a64 "$tmp/ro")/FORMAT" ]
	mkdir "$tmp/ro2"
	run --separate-stderr "$RUN" -v -r "$tmp/ro" -r "$tmp/ro2" -- true
	[[ "$stderr" == *"shadow: $tmp/state/pageshadow/$(fnv1a64 "$tmp/ro"$'\n'"$tmp/ro2")"* ]]
}

@test "default shadow: same prefix, same shadow; other prefix, other shadow" {
	mkdir "$tmp/other"
	one=$("$RUN" -r "$tmp/ro" -- sh -c 'echo "$PAGESHADOW_DIR"')
	two=$("$RUN" -r "$tmp/ro" -- sh -c 'echo "$PAGESHADOW_DIR"')
	other=$("$RUN" -r "$tmp/other" -- sh -c 'echo "$PAGESHADOW_DIR"')
	[ "$one" = "$two" ]
	[ "$one" != "$other" ]
	[[ "$one" == "$tmp/state/pageshadow/"???????????????? ]]
}

@test "default shadow without XDG_STATE_HOME: HOME/.local/state" {
	unset XDG_STATE_HOME
	run --separate-stderr env HOME="$tmp/home" "$RUN" -r "$tmp/ro" -- sh -c 'echo "$PAGESHADOW_DIR"'
	[ "$status" -eq 0 ]
	[ "$output" = "$tmp/home/.local/state/pageshadow/$(fnv1a64 "$tmp/ro")" ]
}

@test "default shadow inside the prefix is refused with a hint" {
	run --separate-stderr env XDG_STATE_HOME="$tmp/ro/state" "$RUN" -r "$tmp/ro" -- touch "$tmp/ran"
	assert_refused 125
	[[ "$stderr" == *"-s DIR"* ]]
	[ ! -e "$tmp/ran" ]
}

# --- the environment the command sees -------------------------------------------------------------------------

@test "relative -r . is the absolute, canonical path" {
	ln -s ro "$tmp/link"
	cd "$tmp/ro"
	rel=$("$RUN" -r . -s "$tmp/sh" -- sh -c 'echo "$PAGESHADOW_RO"')
	abs=$("$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'echo "$PAGESHADOW_RO"')
	viasym=$("$RUN" -r ../link -s "$tmp/sh" -- sh -c 'echo "$PAGESHADOW_RO"')
	[ "$rel" = "$tmp/ro" ]
	[ "$abs" = "$tmp/ro" ]
	[ "$viasym" = "$tmp/ro" ]
}

@test "without -r the current directory is the prefix" {
	cd "$tmp/ro"
	run --separate-stderr "$RUN" -s "$tmp/sh" -- sh -c 'echo "$PAGESHADOW_RO"'
	[ "$status" -eq 0 ]
	[ "$output" = "$tmp/ro" ]
}

@test "PAGESHADOW_RO, PAGESHADOW_DIR and LD_PRELOAD as specified" {
	mkdir "$tmp/ro2"
	run --separate-stderr "$RUN" -r "$tmp/ro" -r "$tmp/ro2/" -s "$tmp/sh/./x/.." -- \
		sh -c 'echo "$PAGESHADOW_RO"; echo "$PAGESHADOW_DIR"; echo "$LD_PRELOAD"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$tmp/ro:$tmp/ro2" ]
	[ "${lines[1]}" = "$tmp/sh" ]
	[ "${lines[2]}" = "$LIB" ]
}

@test "an existing LD_PRELOAD is kept after ours" {
	run --separate-stderr env LD_PRELOAD=libc.so.6 "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'echo "$LD_PRELOAD"'
	[ "$status" -eq 0 ]
	[ "$output" = "$LIB:libc.so.6" ]
}

@test "PAGESHADOW_DEBUG passes through untouched; stale PAGESHADOW_* are replaced" {
	# (a value other than 0 or 1 is the shim's log file: keep it inside $tmp)
	run --separate-stderr env PAGESHADOW_DEBUG="$tmp/debug.log" PAGESHADOW_RO=/elsewhere PAGESHADOW_DIR=/else \
		"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- env
	[ "$status" -eq 0 ]
	grep -qx "PAGESHADOW_DEBUG=$tmp/debug.log" <<<"$output"
	grep -qx "PAGESHADOW_RO=$tmp/ro" <<<"$output"
	grep -qx "PAGESHADOW_DIR=$tmp/sh" <<<"$output"
	run --separate-stderr "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- env
	! grep -q "^PAGESHADOW_DEBUG=" <<<"$output"
}

# --- the pageshadow tool --------------------------------------------------------------------------------------

@test "pageshadow --help and --version exit 0" {
	run --separate-stderr "$PS" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: pageshadow"* ]]
	run --separate-stderr "$PS" --version
	[ "$status" -eq 0 ]
	[ "$output" = "pageshadow 0.1.0" ]
}

@test "pageshadow ls on an empty shadow prints just the total line" {
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- true
	run --separate-stderr "$PS" -s "$tmp/sh" ls
	[ "$status" -eq 0 ]
	[ "$output" = $'total\t0\t0\t0\t0 files' ]
	[ -z "$stderr" ]
	# the same shadow found from the prefix, as pageshadow-run finds it
	"$RUN" -r "$tmp/ro" -- true
	run --separate-stderr "$PS" -r "$tmp/ro" ls
	[ "$status" -eq 0 ]
	[ "$output" = $'total\t0\t0\t0\t0 files' ]
}

@test "pageshadow errors: one line, status 2" {
	run --separate-stderr "$PS" -s "$tmp/nope" ls
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "pageshadow: "*"$tmp/nope"* ]]
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- true
	run --separate-stderr "$PS" -s "$tmp/sh" -r "$tmp/ro" cat "$tmp/ro/missing"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $tmp/ro/missing: No such file or directory" ]
	run --separate-stderr "$PS" -s "$tmp/sh" frob
	[ "$status" -eq 2 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "pageshadow reset of a file, a deleted name, a symlink, a directory, then of everything: the lower tree shows again" {
	mkdir -p "$tmp/ro/d/e"
	echo d1 >"$tmp/ro/d/e/f"
	echo gone >"$tmp/ro/gone"
	ln -s file "$tmp/ro/link"
	local show='cd "$1" && cat file; cat gone; readlink link; cat d/e/f; cat d/new; ls newdir'
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'cd "$1" && echo more >>file && echo x >d/e/f && echo n >d/new &&
		rm gone && ln -sfn d link && mkdir newdir && echo y >newdir/z' sh "$tmp/ro"
	run "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c "$show" sh "$tmp/ro"
	[ "$output" = "$(printf 'lower\nmore\ncat: gone: No such file or directory\nd\nx\nn\nz')" ]
	run --separate-stderr "$PS" -s "$tmp/sh" reset "$tmp/ro/file" "$tmp/ro/gone" "$tmp/ro/link"
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	run "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c "$show" sh "$tmp/ro"
	[ "$output" = "$(printf 'lower\ngone\nfile\nx\nn\nz')" ]
	"$PS" -s "$tmp/sh" reset "$tmp/ro/d"
	run "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c "$show" sh "$tmp/ro"
	[ "$output" = "$(printf 'lower\ngone\nfile\nd1\ncat: d/new: No such file or directory\nz')" ]
	"$PS" -s "$tmp/sh" reset
	run "$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c "$show" sh "$tmp/ro"
	[ "$output" = "$(printf 'lower\ngone\nfile\nd1\ncat: d/new: No such file or directory\nls: cannot access '"'"'newdir'"'"': No such file or directory')" ]
	run "$PS" -s "$tmp/sh" ls
	[ "$output" = $'total\t0\t0\t0\t0 files' ]
	[ "$(cat "$tmp/ro/file")" = lower ] # nothing ever reached the lower tree
}

@test "pageshadow reset and rebase errors: a path outside the prefixes, a missing shadow, a file without a record" {
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- true
	run --separate-stderr "$PS" -s "$tmp/sh" rebase "$tmp/ro/file"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $tmp/ro/file: this shadow holds nothing yet" ]
	run --separate-stderr "$PS" -s "$tmp/sh" -r "$tmp/ro" rebase "$tmp/ro/file"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $tmp/ro/file: no shadow record to rebase (not a shadowed file)" ]
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- sh -c 'echo made >"$1/new"' sh "$tmp/ro"
	run --separate-stderr "$PS" -s "$tmp/sh" rebase "$tmp/ro/new"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $tmp/ro/new: a file made in the shadow has no lower file to rebase onto" ]
	run --separate-stderr "$PS" -s "$tmp/sh" reset "$tmp/elsewhere"
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: $tmp/elsewhere: not under a read-only prefix of this shadow" ]
	run --separate-stderr "$PS" -s "$tmp/nosh" -r "$tmp/ro" reset
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: shadow directory $tmp/nosh: No such file or directory" ]
	[ ! -e "$tmp/nosh" ]
	mkdir "$tmp/plain" # a directory that is not a shadow is not made one
	run --separate-stderr "$PS" -s "$tmp/plain" -r "$tmp/ro" reset
	[ "$status" -eq 2 ]
	[ "$stderr" = "pageshadow: shadow directory $tmp/plain: cannot open its FORMAT file: No such file or directory" ]
	[ -z "$(ls -A "$tmp/plain")" ]
	run --separate-stderr "$PS" -s "$tmp/sh" reset "$tmp/ro/new" "$tmp/elsewhere" # nothing discarded: one is wrong
	[ "$status" -eq 2 ]
	[ "$("$RUN" -r "$tmp/ro" -s "$tmp/sh" -- cat "$tmp/ro/new")" = made ]
}

@test "pageshadow cat of a file without a record prints the lower file" {
	"$RUN" -r "$tmp/ro" -s "$tmp/sh" -- true
	run --separate-stderr "$PS" -s "$tmp/sh" -r "$tmp/ro" cat "$tmp/ro/file"
	[ "$status" -eq 0 ]
	[ "$output" = "lower" ]
}
