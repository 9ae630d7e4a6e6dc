# helpers.bash - shared setup for the pageshadow integration tests (bats).
#
# Every test gets its own temporary root $T (mktemp -d, removed in teardown) holding:
#   $LOWER   the lower tree, writable, filled by the test (then `lower_ready`)
#   $RO      an empty directory; inside the test's private mount namespaces it is a bind mount of $LOWER made
#            read-only (mode ro), or of $COPY left writable (mode rw), so both runs use the very same paths
#   $COPY    the writable copy of the lower tree (cp -a after lower_ready), where the same commands run without the shim
#   $SHADOW  the shadow directory (created by the shim itself)
#   $XOUT    an output directory outside the tree: $T/out/ro and $T/out/rw bound at the same path in each run
#
# Inside a namespace script (run_both, in_ro_ns, in_rw_ns):
#   ps_exec CMD...   runs CMD under the shim in mode ro (under strace too, when $PS_TRACE=1), plainly in mode rw
#   probe ARGS...    ps_exec "$PS_PROBE" ARGS...   (tests/helpers/ps-probe.c)
#   expect_eq ACTUAL EXPECTED WHAT, same_file A B, wait_for MARKER, note TEXT (printed as "# TEXT" by bats),
#   shadow_data REL, shadow_meta REL
# The script runs under `bash -euo pipefail`; the first failing command fails the test, and is named on stderr.

: "${BUILD:=$BATS_TEST_DIRNAME/../../build}"
PS_BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$BUILD")
export PS_BUILD
export PS_SHIM="$PS_BUILD/libpageshadow.so"
export PS_PROBE="$PS_BUILD/ps-probe"
export PS_NS_TIMEOUT="${PS_NS_TIMEOUT:-90}"
unset PAGESHADOW_DEBUG PAGESHADOW_RO PAGESHADOW_DIR

# The syscalls the lower-write check looks at (c): opens, truncation, every call that writes data through a
# descriptor, and every call that changes names or metadata ("?": not every architecture has it). Reads and stats
# are left out: tracing them only costs time.
export PS_TRACE_SET='?open,openat,?openat2,?creat,open_by_handle_at,truncate,ftruncate,write,pwrite64,writev,pwritev,pwritev2,fallocate,copy_file_range,sendfile,splice,vmsplice,?unlink,unlinkat,?rename,renameat,renameat2,?mkdir,mkdirat,?rmdir,?link,linkat,?symlink,symlinkat,?chmod,fchmod,fchmodat,?chown,fchown,?lchown,fchownat,?utime,?utimes,?futimesat,utimensat,?mknod,mknodat,setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr'

# ---------------------------------------------------------------------------------------------------------------
# How a command is run under the shim: the bare form (LD_PRELOAD and the variables) or, with PS_LAUNCHER=run, the
# launcher build/pageshadow-run. Switching the default is this one line:
: "${PS_LAUNCHER:=run}"
export PS_LAUNCHER

ps_exec() {
	if [ "${PS_MODE:-}" != ro ]; then
		"$@"
		return
	fi
	local pre
	if [ "$PS_LAUNCHER" = run ]; then
		pre=("$PS_BUILD/pageshadow-run" -r "$RO" -s "$SHADOW" --)
	else
		pre=(env LD_PRELOAD="$PS_SHIM" PAGESHADOW_RO="$RO" PAGESHADOW_DIR="$SHADOW")
	fi
	if [ "${PS_TRACE:-0}" = 1 ]; then
		local log
		log=$(mktemp -u "$PS_LOGS/trace.XXXXXX")
		# shellcheck disable=SC2086 # PS_STRACE_OPTS is a list of options
		strace ${PS_STRACE_OPTS:-} -ff -y -qq -o "$log" -e trace="$PS_TRACE_SET" -- "${pre[@]}" "$@"
	else
		"${pre[@]}" "$@"
	fi
}

probe() {
	ps_exec "$PS_PROBE" "$@"
}

# ---------------------------------------------------------------------------------------------------------------
# Assertions usable inside and outside the namespace scripts.

expect_eq() { # ACTUAL EXPECTED WHAT
	if [ "$1" != "$2" ]; then
		printf 'expected %s:\n  %q\nbut got:\n  %q\n' "${3:-value}" "$2" "$1" >&2
		return 1
	fi
}

same_file() { # A B: byte-identical
	if ! cmp "$1" "$2" >&2; then
		echo "files differ: $1 ($(stat -c %s "$1" 2>/dev/null) bytes) vs $2 ($(stat -c %s "$2" 2>/dev/null) bytes)" >&2
		return 1
	fi
}

wait_for() { # MARKER [SECONDS]: wait until the file exists
	local i n=$(( ${2:-20} * 100 ))
	for ((i = 0; i < n; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.01
	done
	echo "timed out waiting for $1" >&2
	return 1
}

note() { # TEXT: shown by bats as "# TEXT"
	echo "$*" >>"$PS_NOTES"
}

ps_enc() { # PATH -> its directory name in the shadow (docs/FORMAT.md)
	local p=${1//%/%25}
	printf '%s' "${p//\//%2F}"
}

shadow_data() { printf '%s/data/%s/%s' "$SHADOW" "$(ps_enc "$RO")" "$1"; }
shadow_meta() { printf '%s/meta/%s/%s' "$SHADOW" "$(ps_enc "$RO")" "$1"; }

# assert_no_lower_writes LOG DIR...
# LOG is an strace log (strace -f -y ... -o LOG, or -ff: then LOG.* are read too). Fails, printing the offending
# lines, when any traced call wrote under one of the DIRs: an open with O_WRONLY/O_RDWR/O_CREAT/O_TRUNC, a
# truncate, a write-type call on a descriptor of a file there (strace -y names it), or a call that changes the
# namespace or metadata (unlink, rename, mkdir, chmod, utimensat ...).
assert_no_lower_writes() {
	local log=$1 files=() f
	shift
	for f in "$log" "$log".*; do
		[ -f "$f" ] && files+=("$f")
	done
	if [ ${#files[@]} -eq 0 ]; then
		echo "assert_no_lower_writes: no strace log at $log" >&2
		return 1
	fi
	local bad
	bad=$(awk -v dirs="$(printf '%s\n' "$@")" '
		BEGIN { n = split(dirs, d, "\n") }
		function under(s,   i) {
			for (i = 1; i <= n; i++) {
				if (d[i] == "") continue
				if (index(s, "\"" d[i] "/") || index(s, "\"" d[i] "\"") || index(s, "<" d[i] "/") || index(s, "<" d[i] ">"))
					return 1
			}
			return 0
		}
		{
			line = $0
			sub(/^[0-9]+ +/, "", line)               # strace -f: pid prefix
			# A directory fd (or AT_FDCWD, decorated with the cwd) does not matter when the path is absolute.
			gsub(/(AT_FDCWD|[0-9]+)<[^>]*>, "\//, "DIRFD, \"/", line)
			call = line
			sub(/\(.*/, "", call)
			args = line
			sub(/^[^(]*\(/, "", args)
			first = args
			sub(/,.*/, "", first)
			if (call ~ /^(open|openat|openat2|creat|open_by_handle_at)$/ &&
			    (call == "creat" || args ~ /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/) && under(line)) { print FILENAME ": " $0; next }
			if (call ~ /^(truncate|unlink|unlinkat|rename|renameat|renameat2|mkdir|mkdirat|rmdir|link|linkat|chmod|fchmodat|chown|lchown|fchownat|utime|utimes|futimesat|mknod|mknodat|setxattr|lsetxattr|removexattr|lremovexattr|acct|swapon)$/ &&
			    under(line)) {
				# a read-only result decoration does not count: only the arguments
				a = line; sub(/\) += .*$/, ")", a)
				if (under(a)) { print FILENAME ": " $0; next }
			}
			if (call == "utimensat" && under(line)) { a = line; sub(/\) += .*$/, ")", a); if (under(a)) { print FILENAME ": " $0; next } }
			if (call == "symlink" || call == "symlinkat") {
				a = line; sub(/^[^,]*,/, "", a); sub(/\) += .*$/, ")", a)   # the link, not its target
				if (under(a)) { print FILENAME ": " $0; next }
			}
			if (call ~ /^(write|pwrite64|writev|pwritev|pwritev2|ftruncate|fallocate|fchmod|fchown|fsetxattr|fremovexattr|sendfile|sendfile64|vmsplice)$/ &&
			    under(first)) { print FILENAME ": " $0; next }
			if (call == "copy_file_range" || call == "splice") {
				a = args; sub(/^[^,]*, [^,]*, /, "", a); sub(/,.*/, "", a)  # fd_out, the third argument
				if (under(a)) { print FILENAME ": " $0; next }
			}
		}' "${files[@]}")
	if [ -n "$bad" ]; then
		echo "write access to a lower path (${*}) in $log:" >&2
		printf '%s\n' "$bad" | head -40 >&2
		return 1
	fi
}

# ---------------------------------------------------------------------------------------------------------------
# Setup and teardown.

# Find how to get a private mount namespace with a read-only bind mount: unshare -m as root, unshare -rm without.
# Sets PS_UNSHARE, or PS_SKIP (the reason).
ps_detect_namespace() {
	local d
	PS_SKIP=""
	PS_UNSHARE=""
	d=$(mktemp -d "${TMPDIR:-/tmp}/pageshadow-probe.XXXXXX")
	mkdir -p "$d/a" "$d/b"
	local try
	for try in "unshare -m" "unshare -rm"; do
		if $try bash -c 'mount --bind "$1" "$2" && _ps_remount_ro "$2" && ! touch "$2/x" 2>/dev/null' _ "$d/a" "$d/b" \
			>/dev/null 2>&1; then
			PS_UNSHARE=$try
			break
		fi
	done
	rm -rf "$d"
	if [ -z "$PS_UNSHARE" ]; then
		PS_SKIP="no private mount namespace with a read-only bind mount: 'unshare -m' needs root, and 'unshare -rm' (unprivileged user namespaces) is not allowed here"
	fi
	export PS_UNSHARE PS_SKIP
}

# Remount a bind mount read-only; in a user namespace the locked flags of the original mount must be repeated.
_ps_remount_ro() {
	mount -o remount,bind,ro "$1" 2>/dev/null && return 0
	local keep
	keep=$(findmnt -no OPTIONS --target "$1" | tr ',' '\n' | grep -Ex 'nosuid|nodev|noexec|noatime|nodiratime|relatime|strictatime' | paste -sd, -)
	mount -o "remount,bind,ro${keep:+,$keep}" "$1"
}

ps_setup() {
	[ -n "${PS_UNSHARE:-}${PS_SKIP:-}" ] || ps_detect_namespace
	[ -z "$PS_SKIP" ] || skip "$PS_SKIP"
	[ -f "$PS_SHIM" ] || {
		echo "missing $PS_SHIM: run make $BUILD/libpageshadow.so" >&2
		return 1
	}
	[ -x "$PS_PROBE" ] || {
		echo "missing $PS_PROBE: run make $BUILD/ps-probe" >&2
		return 1
	}
	T=$(mktemp -d "${TMPDIR:-/tmp}/pageshadow-it.XXXXXX")
	T=$(realpath "$T")
	LOWER=$T/lower RO=$T/ro COPY=$T/copy SHADOW=$T/shadow XOUT=$T/xout
	PS_LOGS=$T/logs PS_NOTES=$T/notes
	mkdir -p "$LOWER" "$RO" "$XOUT" "$T/out/ro" "$T/out/rw" "$PS_LOGS" "$T/m"
	: >"$PS_NOTES"
	if [ -z "${PS_TRACE+set}" ]; then
		if command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
			PS_TRACE=1
			# only the traced calls stop the tracee, where the kernel allows it
			if [ -z "${PS_STRACE_OPTS+set}" ] && strace --seccomp-bpf -f -qq -o /dev/null -e trace=openat true 2>/dev/null; then
				PS_STRACE_OPTS=--seccomp-bpf
			fi
		else
			PS_TRACE=0
		fi
	fi
	export T LOWER RO COPY SHADOW XOUT PS_LOGS PS_NOTES PS_TRACE PS_STRACE_OPTS
}

ps_teardown() {
	if [ -n "${PS_KEEP:-}" ]; then
		echo "# kept $T" >&3
		return 0
	fi
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		rm -rf "$T"
	fi
}

# The lower tree is complete: take the writable copy and the checksums that must never change.
lower_ready() {
	[ -e "$T/.lower_ready" ] && return 0
	rm -rf "$COPY"
	cp -a --sparse=always "$LOWER" "$COPY"
	lower_snapshot >"$T/lower.before"
	touch "$T/.lower_ready"
}

lower_snapshot() {
	(
		cd "$LOWER" || exit
		find . -printf '%P %y %m %s %T@\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
		python3 -c '
import os
for top, dirs, files in os.walk("."):
    for name in sorted(dirs + files) + ([] if top != "." else ["."]):
        p = os.path.join(top, name)
        try:
            print(p, sorted((n, os.getxattr(p, n, follow_symlinks=False)) for n in os.listxattr(p, follow_symlinks=False)))
        except OSError:
            pass
' | LC_ALL=C sort
	)
}

# (b): nothing in the lower tree changed: contents, sizes, modes, mtimes, names, extended attributes.
assert_lower_unchanged() {
	lower_snapshot >"$T/lower.after"
	if ! diff -u "$T/lower.before" "$T/lower.after" >&2; then
		echo "the lower tree changed" >&2
		return 1
	fi
}

# (c) over every ps_exec of the test so far.
assert_traces_clean() {
	[ "$PS_TRACE" = 1 ] || {
		echo "# PS_TRACE=0 (or no usable strace): the lower-write check was not done" >&3
		return 0
	}
	local logs
	logs=$(find "$PS_LOGS" -name 'trace.*' -type f | head -1)
	[ -n "$logs" ] || return 0
	local base
	for base in $(find "$PS_LOGS" -name 'trace.*' -type f | sed 's/\.[0-9]*$//' | sort -u); do
		assert_no_lower_writes "$base" "$RO" "$LOWER" || return 1
	done
}

# ---------------------------------------------------------------------------------------------------------------
# Namespaces.

# ns_run MODE SCRIPT: run SCRIPT in a new private mount namespace where $RO is $LOWER read-only (MODE ro, commands
# under the shim) or $COPY writable (MODE rw, no shim). stdout and stderr are the script's.
ns_run() {
	local mode=$1 script=$2 src rc=0
	lower_ready
	if [ "$mode" = ro ]; then src=$LOWER; else src=$COPY; fi
	timeout -k 5 "$PS_NS_TIMEOUT" $PS_UNSHARE bash -c '
		set -euo pipefail
		mode=$1 src=$2
		mount --bind "$src" "$RO"
		if [ "$mode" = ro ]; then _ps_remount_ro "$RO"; fi
		mount --bind "$T/out/$mode" "$XOUT"
		export PS_MODE=$mode
		cd "$T"
		trap '\''echo "[$PS_MODE run] failed (status $?) at line $LINENO: $BASH_COMMAND" >&2'\'' ERR
		trap '\''j=$(jobs -pr); [ -z "$j" ] || kill $j 2>/dev/null || true; wait 2>/dev/null || true'\'' EXIT
		set -E
		eval "$3"
	' ns_run "$mode" "$src" "$script" 3>&- || rc=$?
	if [ -s "$PS_NOTES" ]; then
		sed 's/^/# /' "$PS_NOTES" >&3
		: >"$PS_NOTES"
	fi
	[ "$rc" -ne 124 ] || echo "[$mode run] timed out after ${PS_NS_TIMEOUT}s" >&2
	return "$rc"
}

in_ro_ns() { ns_run ro "$1"; }
in_rw_ns() { ns_run rw "$1"; }

# compare_tree_with_copy: (a) every file of the copy reads back through the shim with the same bytes, size, mode and
# type (sha256sum and stat over the whole tree, and cat of each file the shadow holds), and the shadow holds no
# file that the copy lacks (a leftover temporary file). Runs in its own ro namespace.
compare_tree_with_copy() {
	(cd "$COPY" && find . -type f -printf '%P\0' | LC_ALL=C sort -z) >"$T/copy.files0"
	(
		cd "$COPY" || exit
		xargs -0 -r stat -c '%s %a %F %n' -- <"$T/copy.files0"
		xargs -0 -r sha256sum -- <"$T/copy.files0"
	) >"$T/sums.copy"
	PS_TRACE=0 in_ro_ns '
		bad=0
		cd "$RO"
		{
			ps_exec xargs -0 -r stat -c "%s %a %F %n" -- <"$T/copy.files0"
			ps_exec xargs -0 -r sha256sum -- <"$T/copy.files0"
		} >"$T/sums.ro"
		if [ -d "$SHADOW/data" ]; then
			while IFS= read -r rel; do
				if ! grep -qzxF -- "$rel" "$T/copy.files0"; then
					echo "the shadow holds $rel, which the writable copy lacks" >&2
					bad=1
				elif ! ps_exec cat "$RO/$rel" | cmp - "$COPY/$rel" >&2; then
					echo "cat through the shim: $rel differs from the writable copy" >&2
					bad=1
				fi
			done < <(cd "$SHADOW/data" && find . -mindepth 2 -type f -printf "%P\n" | sed "s|^[^/]*/||")
		fi
		exit $bad
	' || return 1
	diff -u --label "files of the writable copy" --label "read back through the shim" "$T/sums.copy" "$T/sums.ro" >&2
}

# run_both SCRIPT: run SCRIPT on the writable copy (no shim) and on the read-only tree under the shim, and check
# (a) identical stdout, stderr and files written to $XOUT, and every file reading back identically; (b) the lower
# tree unchanged; (c) no write access to a lower path in any strace log.
run_both() {
	local script=$1 rc=0 rwrc=0 rwpid
	lower_ready
	# The two runs share nothing (other tree, other output directory, markers named by $PS_MODE): run them at once.
	ns_run rw "$script" >"$T/stdout.rw" 2>"$T/stderr.rw" &
	rwpid=$!
	ns_run ro "$script" >"$T/stdout.ro" 2>"$T/stderr.ro" || rc=$?
	wait "$rwpid" || rwrc=$?
	if [ "$rwrc" -ne 0 ]; then
		echo "the script failed on the writable copy (status $rwrc), so the test itself is wrong:" >&2
		cat "$T/stdout.rw" "$T/stderr.rw" >&2
		return 1
	fi
	if [ "$rc" -ne 0 ]; then
		echo "the script failed under the shim (status $rc); stdout:" >&2
		cat "$T/stdout.ro" >&2
		echo "stderr:" >&2
		cat "$T/stderr.ro" >&2
		return 1
	fi
	local ok=0
	diff -a -u --label "stdout (writable copy)" --label "stdout (shim)" "$T/stdout.rw" "$T/stdout.ro" >&2 || ok=1
	diff -a -u --label "stderr (writable copy)" --label "stderr (shim)" "$T/stderr.rw" "$T/stderr.ro" >&2 || ok=1
	diff -r "$T/out/rw" "$T/out/ro" >&2 || { echo "files written outside the tree differ" >&2; ok=1; }
	compare_tree_with_copy || ok=1
	assert_lower_unchanged || ok=1
	assert_traces_clean || ok=1
	# ready for another run_both in the same test
	cat "$T/stdout.ro" >>"$T/stdout.all"
	return $ok
}

export -f ps_exec probe expect_eq same_file wait_for note ps_enc shadow_data shadow_meta \
	assert_no_lower_writes _ps_remount_ro
