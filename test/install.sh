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
readelf -d "$prefix/gather" | grep -q 'libgreen.so.0'
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
# The gdb extension, where `source` and gdb's auto-load find it.
[ -f "$prefix/share/libgreen/green-gdb.py" ]
ls "$prefix/share/gdb/auto-load$prefix/lib/"libgreen.so.*-gdb.py >/dev/null
make --no-print-directory -s uninstall BUILD="$build" PREFIX="$prefix"
left=$(find "$prefix" -type f ! -name gather ! -name 'sleepy*')
[ -z "$left" ] || { echo "install.sh: uninstall left: $left" >&2; exit 1; }
echo "install.sh: installed, linked with pkg-config, ran, uninstalled"
