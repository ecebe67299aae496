#!/bin/sh
# Builds make bench's peers into BUILD_DIR/bench, each whose library or
# compiler is installed (test/deps.sh bench installs them).  One that
# fails to build is left unbuilt, and bench/run.py says what to install;
# so this never fails.
#   CC=cc CXX=c++ CFLAGS="the bench's flags" bench/peers/build.sh BUILD_DIR
set -u
out=$(cd "$1" && pwd)/bench
here=$(dirname "$0")
mkdir -p "$out"

# Builds $1 with the command that follows, or removes what is left of it.
try() {
    target=$1
    shift
    "$@" 2>/dev/null || rm -f "$target"
}

# $CFLAGS is a list of flags: split it.
# shellcheck disable=SC2086
{
    try "$out/st" ${CC:-cc} $CFLAGS -o "$out/st" "$here/st.c" -L/usr/lib -lst
    try "$out/pth" ${CC:-cc} $CFLAGS -o "$out/pth" "$here/pth.c" -lpth
    try "$out/uv" ${CC:-cc} $CFLAGS -o "$out/uv" "$here/uv.c" -luv
    # glibc's fortified longjmp aborts on a jump to another stack (sjlj.c).
    try "$out/sjlj" ${CC:-cc} $CFLAGS -U_FORTIFY_SOURCE -o "$out/sjlj" "$here/sjlj.c"
    try "$out/fcontext" ${CXX:-c++} -O2 -o "$out/fcontext" "$here/fcontext.cpp" -lboost_context
    try "$out/fiber" ${CXX:-c++} -O2 -std=c++14 -o "$out/fiber" "$here/fiber.cpp" \
        -lboost_fiber -lboost_context -pthread
}
if command -v go >/dev/null 2>&1; then
    (cd "$here/go" && try "$out/go-bench" env GOCACHE="$out/../gocache" GO111MODULE=off \
        go build -o "$out/go-bench" main.go)
fi
exit 0
