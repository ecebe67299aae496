#!/bin/sh
# Builds Check from Debian's source for a target Debian has no Check
# package for (riscv64 in Debian 12, or a musl build), as a static
# library: check_source.sh HOST CC PREFIX leaves PREFIX/include/check.h
# and PREFIX/lib/libcheck.a, which a cross build names in CHECK_CFLAGS and
# CHECK_LIBS.  Done once: a PREFIX that has both is kept.  The source
# comes from apt-get source, with a deb-src entry added for it as root.
set -eu
host=$1 cc=$2 prefix=$(realpath -m "$3")
[ -f "$prefix/include/check.h" ] && [ -f "$prefix/lib/libcheck.a" ] && exit 0

src=build/check-source
if ! ls $src/check_*.orig.tar.gz >/dev/null 2>&1; then
    mkdir -p $src
    if ! (cd $src && apt-get source --download-only check >/dev/null 2>&1); then
        list=/etc/apt/sources.list.d/green-deb-src.sources
        if [ "$(id -u)" != 0 ]; then
            echo "check_source.sh: apt-get source check failed; as root it adds $list" >&2
            exit 1
        fi
        # Debian 12's main archive, whose packages the machine has.
        printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
            'Suites: bookworm' 'Components: main' \
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > $list
        sh test/apt.sh update -qq
        (cd $src && apt-get source --download-only check >/dev/null 2>&1)
    fi
fi

work=$prefix.build
rm -rf "$work" && mkdir -p "$work"
tar xzf $src/check_*.orig.tar.gz -C "$work" --strip-components=1
echo "check_source.sh: building Check for $host with $cc"
# Only the library and its headers: no subunit, documentation or tests.
# Check's own flags, not the caller's: make passes libgreen's CFLAGS down
# (through the environment and MAKEFLAGS), and under -Werror configure's
# probe for fork fails on its own warnings, leaving a Check that runs
# every test in one process.
unset CFLAGS CPPFLAGS LDFLAGS MAKEFLAGS MFLAGS
(cd "$work" && CC=$cc ./configure -q --host="$host" --prefix="$prefix" \
     --disable-shared --enable-static --disable-subunit --disable-build-docs \
     >configure.log 2>&1 &&
 make -s -j2 -C lib >make.log 2>&1 && make -s -j2 -C src >>make.log 2>&1 &&
 make -s -C src install >>make.log 2>&1) || {
    echo "check_source.sh: the build failed; see $work" >&2
    exit 1
}
cp "$work/check_stdint.h" "$prefix/include/"
# Each test in its own process, or a crash takes the whole suite down.
if ! grep -q '^#define HAVE_FORK 1' "$work/config.h"; then
    echo "check_source.sh: Check for $host was built without fork(); see $work" >&2
    exit 1
fi
rm -rf "$work"
