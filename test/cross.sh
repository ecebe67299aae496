#!/bin/sh
# make test-cross: the library, every suite and the examples
# cross-compiled for TRIPLE with its gcc and run under qemu-user, each
# suite under each of POLLERS, the examples under the first.
#   cross.sh TRIPLE SWITCH "POLLERS"
# test/deps.sh installs the cross compiler, qemu-user and, where Debian has
# them for the target, its Check and OpenSSL; where it has no Check,
# test/check_source.sh builds one from Debian's source, and where no
# OpenSSL, the examples leave tls_echo out.  The build goes to
# build/ARCH-SWITCH.  Run from make, which passes CFLAGS down.
set -eu
triple=$1 switch=$2 pollers=$3
arch=${triple%%-*}

# qemu-user's name for the architecture, and test/deps.sh's.
case $arch in
powerpc64le) qemu=qemu-ppc64le deps=ppc64le ;;
arm)         qemu=qemu-arm deps=armhf ;;
*)           qemu=qemu-$arch deps=$arch ;;
esac
case $deps in
aarch64 | armhf | ppc64le | riscv64 | s390x) sh test/deps.sh "$deps" ;;
*) sh test/deps.sh cross "$triple" "$qemu" ;;
esac

pc=/usr/lib/$triple/pkgconfig
if [ -f "$pc/check.pc" ]; then
    check_cflags=$(PKG_CONFIG_LIBDIR=$pc pkg-config --cflags check)
    check_libs=$(PKG_CONFIG_LIBDIR=$pc pkg-config --libs check)
else
    check=build/check-$triple
    sh test/check_source.sh "$triple" "$triple-gcc" "$check"
    check_cflags=-I$check/include
    check_libs="$check/lib/libcheck.a -lm"
fi
no_tls=
[ -f "$pc/openssl.pc" ] || no_tls=1

# test/deps.sh installs no libuv or GLib of the target: the host loops'
# examples (uv_echo, glib_pipe) are left out.
build=build/$arch-$switch
make --no-print-directory CC="$triple-gcc" BUILD="$build" SWITCH="$switch" NO_TLS=$no_tls \
    NO_UV=1 NO_GLIB=1 \
    CHECK_CFLAGS="$check_cflags" CHECK_LIBS="$check_libs" "$build/test/run" examples

# The target's libc runs them: dpkg's multiarch copy where it is installed
# (a dynamically linked child of fork() never ran under qemu with the
# toolchain's copy of an arm64 libc), else the cross toolchain's.
if [ -e "/lib/$triple/libc.so.6" ]; then
    export QEMU_LD_PREFIX=/
else
    export QEMU_LD_PREFIX=/usr/$triple
fi
export CK_TIMEOUT_MULTIPLIER=10 GREEN_TEST_QEMU=1
sh test/each_poller.sh "$pollers" "$qemu" "$build/test/run"
GREEN_POLLER=${pollers%% *} RUNNER=$qemu bash test/examples.sh "$build/examples"
