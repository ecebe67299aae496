#!/bin/sh
# green.h compiles cleanly, with no feature macro, as strict ISO C (c99,
# c11, c17 with -pedantic) and as C++ (c++11 to c++20), with gcc and
# clang; and its version is the Makefile's.  Usage: header.sh
set -eu
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
# A program that names the header's types and macros, so that they parse.
cat > "$src/use.c" <<'EOF2'
#include <green.h>
static const char *check(const sigset_t *set, green_stream_io_t *io, green_case_t *c)
{
    (void)set; (void)io; (void)c;
    green_mutex_t m = GREEN_MUTEX_INIT;
#ifdef __cplusplus
    green_attr_t attr = {};
    green_run_attr_t run = {};
#else
    green_attr_t attr = {0};
    green_run_attr_t run = {0};
#endif
    attr.place = GREEN_PLACE_ON(1) + GREEN_PLACE_ANY + GREEN_PLACE_HERE;
    (void)m; (void)attr; (void)run;
    return GREEN_VERSION;
}
int main(void) { return check(0, 0, 0) == 0; }
EOF2
cp "$src/use.c" "$src/use.cc"
fail=0
try() {
    if ! "$@" -Iinclude -Wall -Wextra -pedantic -Werror -fsyntax-only 2>"$src/err"; then
        echo "header.sh: green.h fails: $*" >&2
        head -5 "$src/err" >&2
        fail=1
    fi
}
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 || continue
    for std in c99 c11 c17; do try $cc -std=$std "$src/use.c"; done
done
for cxx in g++ clang++; do
    command -v $cxx >/dev/null 2>&1 || continue
    for std in c++11 c++14 c++17 c++20; do try $cxx -std=$std "$src/use.cc"; done
done
made=$(sed -n 's/^VERSION *= *//p' Makefile)
said=$(sed -n 's/^#define GREEN_VERSION "\(.*\)"$/\1/p' include/green.h)
if [ "$made" != "$said" ]; then
    echo "header.sh: the Makefile says $made, green.h says $said" >&2
    fail=1
fi
[ $fail = 0 ] && echo "header.sh: green.h is clean in C99, C11, C17 and C++11 to C++20; version $said"
exit $fail
