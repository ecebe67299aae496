#!/bin/sh
# Compiles, and where it can runs, every C snippet of a Markdown guide, so
# that the snippets cannot rot (issue 29).
#
#   sh test/snippets.sh BUILD GUIDE.md
#
# The convention, which the guide keeps:
#
# - Every block fenced with ```c is a snippet; blocks fenced otherwise
#   (```python, ```sh) are left alone.
# - A snippet is a whole translation unit: it includes what it uses.  It
#   is compiled with `$CC -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror
#   -Iinclude -c` and the library's own warnings (-Wshadow
#   -Wstrict-prototypes -Wmissing-prototypes), so its functions other
#   than main are static.
# - A snippet whose first line is `// fragment` is statements, not a
#   file: it is compiled as the body of `void fragment(void)`, after
#   <green.h> and the C library headers the guide uses (listed below),
#   and run as green_run's main.
# - A snippet that contains `int main` is linked with BUILD/libgreen.a
#   and run, with a timeout of 10 s; it must exit with status 0.  So a
#   runnable snippet checks its own results and returns nonzero when one
#   is wrong.
#
# CC and LIBS (what links after libgreen.a; the Makefile passes
# LIBS_PRIVATE) come from the environment.  Run from the top of the tree.
set -eu

build=${1:?usage: snippets.sh BUILD GUIDE.md}
guide=${2:?usage: snippets.sh BUILD GUIDE.md}
CC=${CC:-cc}
LIBS=${LIBS:--pthread}
FLAGS="-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -Iinclude"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Each ```c block into $dir/snippet_N.c, N counting from 1 in the order
# of the guide; the line the block starts on into $dir/snippet_N.line,
# for the messages.
awk -v dir="$dir" '
    /^```c[ \t]*$/ { n++; f = dir "/snippet_" n ".c"; print NR + 1 > (dir "/snippet_" n ".line"); inside = 1; next }
    /^```/ && inside { close(f); inside = 0; next }
    inside { print > f }
' "$guide"

count=$(ls "$dir" | grep -c '\.c$' || true)
if [ "$count" -eq 0 ]; then
    echo "snippets.sh: no \`\`\`c block in $guide" >&2
    exit 1
fi

failed=0
ran=0
i=1
while [ "$i" -le "$count" ]; do
    src=$dir/snippet_$i.c
    where="$guide:$(cat "$dir/snippet_$i.line")"
    if [ "$(head -n 1 "$src")" = "// fragment" ]; then
        {
            printf '#include <green.h>\n#include <errno.h>\n#include <signal.h>\n'
            printf '#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n'
            printf '#include <string.h>\n#include <unistd.h>\n'
            printf 'void fragment(void);\nvoid fragment(void)\n{\n#line %s "%s"\n' \
                "$(cat "$dir/snippet_$i.line")" "$guide"
            cat "$src"
            printf '}\n'
            printf 'static void *run_fragment(void *arg)\n{\n    fragment();\n    return arg;\n}\n'
            printf 'int main(void)\n{\n    return green_run(run_fragment, NULL) == 0 ? 0 : 1;\n}\n'
        } >"$dir/wrapped_$i.c"
        src=$dir/wrapped_$i.c
    else
        # Errors name the guide's lines, not the temporary file's.
        { printf '#line %s "%s"\n' "$(cat "$dir/snippet_$i.line")" "$guide"; cat "$src"; } \
            >"$dir/lined_$i.c"
        src=$dir/lined_$i.c
    fi
    if ! $CC $FLAGS -c -o "$dir/snippet_$i.o" "$src"; then
        echo "snippets.sh: the snippet at $where does not compile" >&2
        failed=1
    elif grep -q 'int main' "$src"; then
        if ! $CC -o "$dir/snippet_$i" "$dir/snippet_$i.o" "$build/libgreen.a" $LIBS; then
            echo "snippets.sh: the snippet at $where does not link" >&2
            failed=1
        else
            status=0
            ran=$((ran + 1))
            timeout 10 "$dir/snippet_$i" >"$dir/snippet_$i.out" 2>&1 || status=$?
            if [ "$status" -ne 0 ]; then
                echo "snippets.sh: the snippet at $where failed (exit status $status;" \
                    "124 is the timeout); its output:" >&2
                cat "$dir/snippet_$i.out" >&2
                failed=1
            fi
        fi
    fi
    i=$((i + 1))
done

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "snippets.sh: $count snippets of $guide compile; $ran have a main (fragments run as green_run's), and ran"
