#!/bin/sh
# make bench on a machine without wrk and gnuplot: the http-hello rows say
# "skipped: install wrk", no row says "failed", and the run ends well.
# Usage: bench_setup.sh BUILD_DIR
set -eu
build=$1
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# A PATH with what run.py needs, and neither wrk nor gnuplot.
for tool in taskset dpkg-query sh uname nproc; do
    if t=$(command -v "$tool" 2>/dev/null); then ln -s "$t" "$bin/$tool"; fi
done
# The distribution's python3 itself, not a wrapper script that needs bash.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
out=$(PATH="$bin" "$py" bench/run.py "$build" --quick --only=http-hello 2>&1) || {
    echo "bench_setup.sh: run.py failed: $out" >&2
    exit 1
}
if echo "$out" | grep -q ' failed: '; then
    echo "bench_setup.sh: a row failed: $out" >&2
    exit 1
fi
if ! echo "$out" | grep -q '^  libgreen  *skipped: install wrk$'; then
    echo "bench_setup.sh: no 'skipped: install wrk' for libgreen: $out" >&2
    exit 1
fi
echo "bench_setup.sh: without wrk and gnuplot, make bench skips the http rows and fails none"
