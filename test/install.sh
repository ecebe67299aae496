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
# The gdb extension, where `source` and gdb's auto-load find it.
[ -f "$prefix/share/libgreen/green-gdb.py" ]
ls "$prefix/share/gdb/auto-load$prefix/lib/"libgreen.so.*-gdb.py >/dev/null
make --no-print-directory -s uninstall BUILD="$build" PREFIX="$prefix"
left=$(find "$prefix" -type f ! -name gather)
[ -z "$left" ] || { echo "install.sh: uninstall left: $left" >&2; exit 1; }
echo "install.sh: installed, linked with pkg-config, ran, uninstalled"
