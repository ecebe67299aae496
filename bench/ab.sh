#!/bin/bash
# Two builds of one bench program side by side: A and B run in turn,
# ROUNDS times each, pinned to CPU 1, and the medians and their ratio are
# printed.  For "did this change move a row": the rounds interleave, so
# the machine's drift falls on both.
#   bench/ab.sh A B WORKLOAD N [ROUNDS]
#   bench/ab.sh /tmp/before/build/fast/bench/green build/fast/bench/green spawn 200000 9
set -eu
a=$1 b=$2 w=$3 n=$4 r=${5:-9}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$r"); do
    echo "a $(taskset -c 1 "$a" "$w" "$n")"
    echo "b $(taskset -c 1 "$b" "$w" "$n")"
done >"$out"
median() { grep "^$1 " "$out" | awk '{print $2}' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ma=$(median a) mb=$(median b)
echo "A $ma  B $mb  B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", b / a}')"
