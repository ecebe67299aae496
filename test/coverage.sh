#!/bin/sh
# make coverage's report: gcovr's tables of the lines and the branches of
# lib/ that the suites ran in the coverage build, then the bar, which a
# lower figure fails.  lib/fault.c is the tests' own machinery.
#   test/coverage.sh BUILD_DIR LINES% BRANCHES%
set -u
dir=$1
lines=$2
branches=$3
gcovr() {
    command gcovr -r . --filter lib/ --exclude lib/fault.c --object-directory "$dir" "$@"
}
echo "--- lines"
gcovr | sed -n '/^File/,$p'
echo "--- branches"
gcovr --branches --exclude-unreachable-branches | sed -n '/^File/,$p'
if ! gcovr --exclude-unreachable-branches --fail-under-line "$lines" \
        --fail-under-branch "$branches" >/dev/null; then
    echo "coverage is under the bar: $lines% of lines, $branches% of branches"
    exit 1
fi
