#!/usr/bin/env bash
# demo.sh - pageshadow's main job in one minute: a 64 MiB file on a really read-only tree (a read-only bind mount
# in a private mount namespace) gets one byte changed by dd; the shadow holds one page, the lower file is intact.
# Usage: tools/demo.sh [BUILD_DIR]   (run as root, or where unprivileged user namespaces are allowed)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pageshadow-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lower" "$work/ro"
head -c $((64 << 20)) /dev/urandom > "$work/lower/image.bin"
before=$(sha256sum < "$work/lower/image.bin")

if [ "$(id -u)" = 0 ]; then ns=(unshare -m); else ns=(unshare -rm); fi
"${ns[@]}" bash -euc '
	build=$1 work=$2
	mount --bind "$work/lower" "$work/ro"
	mount -o remount,bind,ro "$work/ro"
	echo "\$ echo x > $work/ro/image.bin    # without pageshadow"
	(echo x > "$work/ro/image.bin") 2>&1 | sed "s/^/  /" || true
	echo "\$ pageshadow-run -r $work/ro -s $work/shadow -- dd conv=notrunc bs=1 seek=33554432 of=$work/ro/image.bin <<< X"
	printf X | "$build/pageshadow-run" -r "$work/ro" -s "$work/shadow" -- \
		dd of="$work/ro/image.bin" bs=1 seek=33554432 conv=notrunc status=none
	echo "\$ pageshadow-run ... -- od -An -c -j 33554430 -N 5 $work/ro/image.bin"
	"$build/pageshadow-run" -r "$work/ro" -s "$work/shadow" -- od -An -c -j 33554430 -N 5 "$work/ro/image.bin"
	echo "\$ pageshadow -s $work/shadow ls    # state, size, bytes in the shadow, bytes a whole-file copy-up holds"
	"$build/pageshadow" -s "$work/shadow" ls
' demo "$build" "$work"
echo "\$ du -sh SHADOW: $(du -sh "$work/shadow" | cut -f1) for a 64 MiB file with one byte changed"
after=$(sha256sum < "$work/lower/image.bin")
[ "$before" = "$after" ] && echo "lower file unchanged (sha256 identical)" || { echo "LOWER FILE CHANGED"; exit 1; }
