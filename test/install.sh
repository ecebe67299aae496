#!/bin/sh
# make install into a scratch prefix, build an example against the
# installed header and green.pc, run it, then make uninstall.
set -eu
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory -s install BUILD="$build" PREFIX="$prefix" >/dev/null
PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
# shellcheck disable=SC2046
${CC:-cc} -o "$prefix/gather" docs/examples/gather.c $(pkg-config --cflags --libs green)
LD_LIBRARY_PATH="$prefix/lib" "$prefix/gather" | grep -q 'gathered 5 results'
readelf -d "$prefix/gather" | grep -q 'libgreen.so.1'
# The hook, by its pkg-config file: a plain sleep(1) in each of 20 green
# threads takes about a second, not twenty.
cat > "$prefix/sleepy.c" <<'EOF2'
#include <green.h>
#include <stdio.h>
#include <unistd.h>
static void *nap(void *arg) { (void)arg; sleep(1); return NULL; }
static void *run(void *arg)
{
    (void)arg;
    green_t *t[20];
    int64_t start = green_now();
    for (int i = 0; i < 20; i++)
        t[i] = green_spawn(nap, NULL);
    green_gather(t, 20, NULL);
    printf("%lld\n", (long long)(green_now() - start));
    return NULL;
}
int main(void) { return green_run(run, NULL); }
EOF2
# shellcheck disable=SC2046
${CC:-cc} -o "$prefix/sleepy" "$prefix/sleepy.c" $(pkg-config --cflags --libs green-hook)
ms=$(LD_LIBRARY_PATH="$prefix/lib" "$prefix/sleepy")
[ "$ms" -lt 10000 ] || { echo "install.sh: 20 hooked sleeps took $ms ms" >&2; exit 1; }
# The CMake package: find_package(green) and green::green, with the
# version check refusing a release it is not.
mkdir -p "$prefix/cm"
cat > "$prefix/cm/CMakeLists.txt" <<'EOF2'
cmake_minimum_required(VERSION 3.13)
project(uses_green C)
find_package(green 0.2 REQUIRED)
add_executable(gather gather.c)
target_link_libraries(gather PRIVATE green::green)
add_executable(gather_static gather.c)
target_link_libraries(gather_static PRIVATE green::static)
add_executable(sleepy sleepy.c)
target_link_libraries(sleepy PRIVATE green::hook)
EOF2
cp docs/examples/gather.c "$prefix/sleepy.c" "$prefix/cm/"
cmake -S "$prefix/cm" -B "$prefix/cm/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cm/build" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$prefix/cm/build/gather" | grep -q 'gathered 5 results'
"$prefix/cm/build/gather_static" | grep -q 'gathered 5 results'
ms=$(LD_LIBRARY_PATH="$prefix/lib" "$prefix/cm/build/sleepy")
[ "$ms" -lt 10000 ] || { echo "install.sh: green::hook's 20 sleeps took $ms ms" >&2; exit 1; }
mkdir -p "$prefix/cm/v"
cat > "$prefix/cm/v/CMakeLists.txt" <<'EOF2'
cmake_minimum_required(VERSION 3.13)
project(versions C)
find_package(green 0.3 QUIET)
if(green_FOUND)
    message(FATAL_ERROR "0.2.0 was taken for 0.3")
endif()
find_package(green 0.1 REQUIRED)
EOF2
cmake -S "$prefix/cm/v" -B "$prefix/cm/v/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
# The man pages, where man looks under the prefix: a page for a call of a
# family leads to the family's page.
[ -f "$prefix/share/man/man3/green_read.3" ]
grep -q '^\.so man3/green_read.3' "$prefix/share/man/man3/green_send.3"
if command -v man >/dev/null 2>&1; then
    man -M "$prefix/share/man" -P cat green_send 2>/dev/null | grep -q 'green_send'
fi
# The gdb extension, where `source` and gdb's auto-load find it.
[ -f "$prefix/share/libgreen/green-gdb.py" ]
ls "$prefix/share/gdb/auto-load$prefix/lib/"libgreen.so.*-gdb.py >/dev/null
make --no-print-directory -s uninstall BUILD="$build" PREFIX="$prefix"
rm -rf "$prefix/cm"
left=$(find "$prefix" -type f ! -name gather ! -name 'sleepy*')
[ -z "$left" ] || { echo "install.sh: uninstall left: $left" >&2; exit 1; }
echo "install.sh: installed, linked with pkg-config and with CMake, ran, uninstalled"
