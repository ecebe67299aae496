#!/bin/sh
# The kernel's headers for a compiler that does not find them, for the
# Makefile: Debian's musl-gcc searches musl's headers alone, so
# <linux/io_uring.h> is not found and the uring backend compiles to its
# stub (and the suites that include <linux/*.h> do not compile).
#   kernel_headers.sh CC DIR
# Prints nothing where CC finds <linux/types.h>, or where the system has
# no kernel headers (linux-libc-dev) either.  Else makes DIR a folder of
# links to the kernel's headers alone (linux/, asm/, asm-generic/) and
# prints -isystem DIR: never the rest of /usr/include, whose C library
# headers (glibc's) would be mixed with the compiler's own (musl's).
set -u
cc=$1 dir=$2
# $cc may be a command with arguments: split it.
# shellcheck disable=SC2086
printf '#include <linux/types.h>\n' | $cc -E -x c - >/dev/null 2>&1 && exit 0
[ -d /usr/include/linux ] && [ -d /usr/include/asm-generic ] || exit 0
# asm/ is the architecture's: Debian keeps it under the multiarch folder.
# shellcheck disable=SC2086
multiarch=$($cc -print-multiarch 2>/dev/null)
asm=/usr/include/asm
[ -n "$multiarch" ] && [ -d "/usr/include/$multiarch/asm" ] && asm=/usr/include/$multiarch/asm
[ -d "$asm" ] || exit 0
mkdir -p "$dir" &&
    ln -sfn /usr/include/linux "$dir/linux" &&
    ln -sfn /usr/include/asm-generic "$dir/asm-generic" &&
    ln -sfn "$asm" "$dir/asm" &&
    echo "-isystem $dir"
