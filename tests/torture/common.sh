# common.sh - what the torture scripts share: a temporary lower tree, read-only in a private mount namespace.
#
# torture_setup SIZE: makes $W (removed at exit) with $W/lower/file of SIZE random bytes, $W/work/orig a copy of it,
# and an empty $W/ro; torture_run SCRIPT runs SCRIPT with bash in $W/work, in a private mount namespace where $W/ro
# is $W/lower read-only, with $RUN the launcher: pageshadow-run -r $W/ro -s $W/shadow --, and $SHIM the bare shim's
# environment (a process to kill -9 must be the program itself: pageshadow-run waits for its child, and SIGKILL cannot
# be forwarded). (The logs live in work/:
# pageshadow-run's guard lets nothing write into the directories above a prefix itself.)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
BUILD=${BUILD:-$root/build}
TORTURE=$BUILD/ps-torture
for f in "$TORTURE" "$BUILD/pageshadow-run" "$BUILD/libpageshadow.so"; do
	[ -e "$f" ] || { echo "missing $f: run make" >&2; exit 2; }
done
if [ "$(id -u)" = 0 ]; then UNSHARE="unshare -m"; else UNSHARE="unshare -rm"; fi

torture_setup() {
	W=$(mktemp -d "${TMPDIR:-/tmp}/pageshadow-torture.XXXXXX")
	trap 'rm -rf "$W"' EXIT
	mkdir "$W/lower" "$W/ro" "$W/work"
	head -c "$1" /dev/urandom >"$W/lower/file"
	cp "$W/lower/file" "$W/work/orig"
	sha256sum <"$W/lower/file" >"$W/lower.sum"
}

torture_run() {
	W=$W TORTURE=$TORTURE RUN="$BUILD/pageshadow-run -r $W/ro -s $W/shadow --" \
		SHIM="env LD_PRELOAD=$BUILD/libpageshadow.so PAGESHADOW_RO=$W/ro PAGESHADOW_DIR=$W/shadow" $UNSHARE bash -c '
		set -euo pipefail
		mount --bind "$W/lower" "$W/ro"
		mount -o remount,bind,ro "$W/ro"
		cd "$W/work"
		eval "$1"' torture "$1"
}

# The lower file must be what it was.
torture_lower_unchanged() {
	sha256sum <"$W/lower/file" | cmp -s - "$W/lower.sum" || { echo "the lower file changed" >&2; exit 1; }
}
