#!/bin/sh
# Checks that a guide's C code is the code make test compiles:
#   guide_files.sh GUIDE.md DIR
# Each ```c block of GUIDE.md must follow a line
#   <!-- file: docs/examples/integration/NAME.c -->
# and be that file, byte for byte.  A ```c block without the line would be
# code nobody compiles, so it fails; so does a file of DIR the guide
# never shows, which would be code nobody reads.
set -u
guide=$1
dir=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Writes each block to $tmp/N and lists "N PATH LINE" in $tmp/list; a
# block without its marker is listed with the path "-".
awk -v tmp="$tmp" '
    /^<!-- file: .* -->$/ { path = $3; next }
    /^```c$/ && !inblock {
        n++; inblock = 1; out = tmp "/" n
        print n, (path == "" ? "-" : path), NR > (tmp "/list")
        printf "" > out
        path = ""; next
    }
    /^```$/ && inblock { inblock = 0; close(out); next }
    inblock { print > out; next }
    { path = "" }
' "$guide"

status=0
[ -f "$tmp/list" ] || : > "$tmp/list"
while read -r n path line; do
    if [ "$path" = - ]; then
        echo "$guide:$line: a C block with no <!-- file: ... --> line before it" >&2
        status=1
    elif [ ! -f "$path" ]; then
        echo "$guide:$line: $path does not exist" >&2
        status=1
    elif ! diff -u "$path" "$tmp/$n" >&2; then
        echo "$guide:$line: the block differs from $path (diff above: - the file, + the guide)" >&2
        status=1
    fi
done < "$tmp/list"
for f in "$dir"/*.c; do
    [ -f "$f" ] || continue
    grep -q "^[0-9]* $f " "$tmp/list" ||
        { echo "$guide: never shows $f" >&2; status=1; }
done
[ "$status" = 0 ] && echo "$guide: $(wc -l < "$tmp/list") C blocks, each the file it names"
exit $status
