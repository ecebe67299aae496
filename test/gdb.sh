#!/bin/sh
# The gdb extension (lib/green-gdb.py): `info green` and `green bt ID` on a
# live process stopped at a breakpoint, and on the core file the kernel
# writes when the same program aborts there; the backtraces of the parked
# green threads must name the functions they parked in.  (gdb's own gcore
# cannot save the stacks: it fails to read a slab's guard regions.)
# Usage: gdb.sh PROGRAM
set -u
prog=$1
script=$(dirname "$0")/../lib/green-gdb.py
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! command -v gdb >/dev/null 2>&1; then
    echo "gdb.sh: gdb is missing (test/deps.sh installs it)" >&2
    exit 1
fi
gdb_batch() {
    timeout 60 gdb -batch -nx -iex 'set debuginfod enabled off' \
        -iex 'set auto-load no' -ex "source $script" "$@" 2>&1
}
fail() {
    echo "gdb.sh: $1; gdb said:" >&2
    cat "$2" >&2
    exit 1
}
check() {  # file, what it must hold, what it is
    grep -q -- "$2" "$1" || fail "no '$2' in $3" "$1"
}
gdb_batch -ex 'break all_parked' -ex run -ex 'info green' -ex 'green bt 2' \
    -ex 'echo ---\n' -ex 'green bt 3' -ex 'echo ---\n' -ex 'green bt 1' \
    -ex kill "$prog" >"$dir/live"
whats=live
# A core file, where the kernel writes one into the working directory.
case $(cat /proc/sys/kernel/core_pattern 2>/dev/null) in
core*)
    prog_abs=$(cd "$(dirname "$prog")" && pwd)/$(basename "$prog")
    # Not the subshell's last command, so that it, not this shell, says "Aborted".
    (cd "$dir" && ulimit -c unlimited && "$prog_abs" dump; true) >/dev/null 2>&1
    core=$(ls "$dir"/core* 2>/dev/null | head -n 1)
    [ -n "$core" ] || fail "the aborted program left no core file" /dev/null
    gdb_batch -ex 'info green' -ex 'green bt 2' -ex 'echo ---\n' -ex 'green bt 3' \
        "$prog" "$core" >"$dir/core.out"
    whats="live core"
    ;;
*)
    echo "gdb.sh: core files go elsewhere here (kernel.core_pattern): only the live process is checked"
    ;;
esac
for what in $whats; do
    out=$dir/live
    [ "$what" = core ] && out=$dir/core.out
    check "$out" "#1 'main' running" "info green ($what)"
    check "$out" "#2 'sleeper' parked: sleep" "info green ($what)"
    check "$out" "#3 'reader' parked: fd" "info green ($what)"
    check "$out" "in park_in_sleep" "green bt 2 ($what)"
    check "$out" "in sleeper" "green bt 2 ($what)"
    check "$out" "in park_in_read" "green bt 3 ($what)"
done
check "$dir/live" "in all_parked" "green bt 1 (the running thread)"
echo "gdb.sh: info green and green bt work ($whats)"
