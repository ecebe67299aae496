#!/bin/sh
# Runs a program built with AddressSanitizer and UBSan (make sanitize):
# leaks checked, the first error fatal, with a stack trace.  ASan warns
# once a process that it does not fully support swapcontext; libgreen
# calls its fiber hooks, so that line is dropped.  Exits as the program.
#   test/sanitize.sh PROGRAM [ARG...]
rc=$(mktemp)
trap 'rm -f "$rc"' EXIT
{
    CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1 "$@" 2>&1
    echo $? >"$rc"
} | grep -v "fully support makecontext/swapcontext"
exit "$(cat "$rc")"
