#!/usr/bin/env bats
# 85-torture.bats - the torture scripts (tests/torture) in their bounded form: CI sets CI=true and they run 200
# kills, 16 x 1000 writes and 50000 open/write/close cycles; by hand they run longer (see each script's header).

load helpers

setup_file() {
	ps_detect_namespace
}

setup() {
	[ -z "$PS_SKIP" ] || skip "$PS_SKIP"
}

@test "kill -9 of writers at random instants, again and again: every page old or new, every write that returned kept" {
	run env BUILD="$PS_BUILD" CI=true "$BATS_TEST_DIRNAME/../torture/kill9"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^200\ kills:\ verified\ [0-9]+\ writes$ ]]
}

@test "16 pageshadow-run instances writing one file at once, sharing pages at stripe edges: the file is the model" {
	run env BUILD="$PS_BUILD" CI=true "$BATS_TEST_DIRNAME/../torture/load"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ 16\ processes\ x\ 1000\ writes\ into\ 67108864\ bytes:\ verified\ 16000\ writes ]]
}

@test "open/write/close cycles by the ten thousand: resident size and descriptors flat, valgrind finds no leak" {
	command -v valgrind >/dev/null || skip "valgrind not installed"
	run env BUILD="$PS_BUILD" CI=true "$BATS_TEST_DIRNAME/../torture/memory"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ 50000\ cycles:\ resident ]]
	[[ "$output" == *"valgrind: 2000 cycles, no leak and no error"* ]]
}
