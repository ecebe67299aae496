#!/bin/sh
# The man pages (docs/man.py, from docs/api.md): every public function of
# green.h has one, and groff renders each without a warning.
# Usage: man.sh MAN3_DIR
set -eu
dir=$1
fail=0
for n in $(grep -oE '\bgreen_[a-z0-9_]+[[:space:]]*\(' include/green.h | sed 's/[[:space:](]//g' | sort -u); do
    [ -f "$dir/$n.3" ] || { echo "man.sh: no page for $n" >&2; fail=1; }
done
for f in "$dir"/*.3; do
    if head -1 "$f" | grep -q '^\.so '; then
        target=$(sed -n 's|^\.so man3/||p' "$f")
        [ -f "$dir/$target" ] || { echo "man.sh: $f points at a missing $target" >&2; fail=1; }
        continue
    fi
    out=$(groff -ww -man -Tutf8 -z "$f" 2>&1)
    [ -z "$out" ] || { echo "man.sh: $f: $out" >&2; fail=1; }
done
[ $fail = 0 ] && echo "man.sh: $(ls "$dir" | wc -l) pages, one for every public function, all render cleanly"
exit $fail
