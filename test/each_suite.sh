#!/bin/sh
# Runs the test runner once for each suite named (CK_RUN_SUITE picks one
# a run), in turn, and stops at the first that fails.  A run that ran no
# check fails too: Check passes a suite it does not know, with nothing run.
#   test/each_suite.sh "sched chan" COMMAND [ARG...]
# COMMAND is the runner, or what runs it (an emulator, a checker).
suites=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for s in $suites; do
    echo "--- suite $s: $*"
    { CK_RUN_SUITE=$s "$@" 2>&1; echo $? >"$dir/rc"; } | tee "$dir/out"
    [ "$(cat "$dir/rc")" = 0 ] || exit 1
    if grep -q "Checks: 0," "$dir/out"; then
        echo "each_suite.sh: suite $s ran no check: is it in test/suites.h?" >&2
        exit 1
    fi
done
