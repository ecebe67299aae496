#!/bin/sh
# Makes sure a make target has what it needs from the distribution:
#   deps.sh check      pkg-config, Check, the headers of OpenSSL, libpq,
#                      hiredis, libcurl, libuv and GLib, gdb, g++, cmake,
#                      python3, groff, apache2-utils and redis-tools,
#                      for make test
#   deps.sh valgrind   valgrind, for make valgrind
#   deps.sh coverage   gcovr, for make coverage
#   deps.sh hook       hiredis, libpq, libcurl, OpenSSL, redis-server,
#                      PostgreSQL and python3, for make test-hook-real
#   deps.sh bench      the peers and tools of make bench; without root it
#                      only says what to install, and make bench goes on
#   deps.sh aarch64    a cross compiler, qemu-user, Check and OpenSSL for arm64,
#                      for make test-aarch64
#   deps.sh s390x      a cross compiler, qemu-user and Check for s390x, for
#                      make test-s390x
#   deps.sh ppc64le    a cross compiler, qemu-user, Check and OpenSSL for
#                      ppc64el, for make test-ppc64le
#   deps.sh armhf      a cross compiler, qemu-user, Check and OpenSSL for
#                      armhf, for make test-armhf
#   deps.sh riscv64    a cross compiler and qemu-user for riscv64, for make
#                      test-riscv64 (which builds Check: test/check_source.sh)
#   deps.sh cross TRIPLE QEMU  a cross compiler and qemu-user for another
#                      target, for make test-cross
#   deps.sh musl       musl-gcc and the kernel's headers, for make test-musl
#   deps.sh fuzz       clang, for make fuzz
# As root with apt-get it installs what is missing (waiting, for up to ten
# minutes, for another package manager to finish: test/apt.sh); otherwise
# it stops and prints the command to run.
set -u
missing=""
soft=0

# cross TRIPLE DEBIAN_ARCH QEMU [ssl]: TRIPLE's gcc, qemu-user, and the
# target's Check from Debian's multiarch (none where DEBIAN_ARCH is empty),
# and with ssl its OpenSSL, for the examples.
cross() {
    command -v "$1-gcc" >/dev/null 2>&1 || missing="$missing gcc-$1"
    command -v "$3" >/dev/null 2>&1 || missing="$missing qemu-user"
    [ -z "$2" ] && return
    [ -f "/usr/lib/$1/pkgconfig/check.pc" ] || missing="$missing check:$2 libsubunit-dev:$2"
    [ "${4:-}" != ssl ] || [ -f "/usr/lib/$1/pkgconfig/openssl.pc" ] ||
        missing="$missing libssl-dev:$2"
}
case "${1:-check}" in
check)
    command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists check; then
        missing="$missing check"
    fi
    # The OpenSSL example, docs/examples/tls_echo.c.
    [ -f /usr/include/openssl/ssl.h ] || missing="$missing libssl-dev"
    # docs/integration.md's code, compiled (docs/examples/integration/).
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing="$missing libpq-dev"
    [ -f /usr/include/hiredis/hiredis.h ] || missing="$missing libhiredis-dev"
    [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] ||
        missing="$missing libcurl4-openssl-dev"
    # The host loops' suites and examples: green_loop_* under libuv and
    # under GLib's main loop (test/host_uv.c, test/host_glib.c,
    # docs/examples/uv_echo.c, docs/examples/glib_pipe.c).
    [ -f /usr/include/uv.h ] || missing="$missing libuv1-dev"
    [ -f /usr/include/glib-2.0/glib.h ] || missing="$missing libglib2.0-dev"
    # The gdb extension's test, test/gdb.sh.
    command -v gdb >/dev/null 2>&1 || missing="$missing gdb"
    # The man pages are written by docs/man.py and checked with groff.
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"
    command -v groff >/dev/null 2>&1 || missing="$missing groff-base"
    # test/install.sh builds against the installed CMake package.
    command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
    # test/header.sh compiles green.h as C++ too.
    command -v g++ >/dev/null 2>&1 || missing="$missing g++"
    # The http_server example's test uses ab -k (HTTP/1.0 keep-alive).
    command -v ab >/dev/null 2>&1 || missing="$missing apache2-utils"
    # The kv_server example's test talks to it with the real client.
    command -v redis-benchmark >/dev/null 2>&1 || missing="$missing redis-tools"
    ;;
valgrind)
    command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
    ;;
coverage)
    command -v gcovr >/dev/null 2>&1 || missing="$missing gcovr"
    ;;
bench)
    # make bench's peers and tools: missing ones are skipped, not failed,
    # so without root this only says what to install.
    soft=1
    for pkg in libst-dev libpth-dev golang-go python3 python3-uvloop python3-gevent \
               libuv1-dev libboost-context-dev libboost-fiber-dev g++ wrk gnuplot-nox; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    ;;
hook)
    # libgreen-hook against the real libraries and servers.
    [ -f /usr/include/hiredis/hiredis.h ] || missing="$missing libhiredis-dev"
    command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing="$missing libpq-dev"
    ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$missing postgresql"
    [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] ||
        missing="$missing libcurl4-openssl-dev"
    # docs/integration.md's functions against them (test/guide_real.c):
    # OpenSSL's headers, Check, and python3, which picks the servers'
    # free TCP ports.
    [ -f /usr/include/openssl/ssl.h ] || missing="$missing libssl-dev"
    command -v pkg-config >/dev/null 2>&1 && pkg-config --exists check || missing="$missing pkg-config check"
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"
    ;;
aarch64)  cross aarch64-linux-gnu arm64 qemu-aarch64 ssl ;;
# Debian 12's s390x OpenSSL lags the amd64 one, and the two cannot be
# installed side by side: the examples leave tls_echo out.
s390x)    cross s390x-linux-gnu s390x qemu-s390x ;;
ppc64le)  cross powerpc64le-linux-gnu ppc64el qemu-ppc64le ssl ;;
armhf)    cross arm-linux-gnueabihf armhf qemu-arm ssl ;;
riscv64)
    # Debian 12 has no riscv64 Check (test/check_source.sh builds it) and
    # no riscv64 OpenSSL (the examples leave tls_echo out).
    cross riscv64-linux-gnu "" qemu-riscv64
    ;;
cross)
    # Another target, make test-cross TRIPLE=...: $2 is the triple, $3
    # qemu-user's program; test/check_source.sh builds its Check.
    cross "$2" "" "$3"
    ;;
musl)
    command -v musl-gcc >/dev/null 2>&1 || missing="$missing musl-tools"
    [ -d /usr/include/linux ] || missing="$missing linux-libc-dev"
    ;;
fuzz)
    command -v clang >/dev/null 2>&1 || missing="$missing clang"
    ;;
esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    # A package of another architecture (check:arm64) needs dpkg to know it.
    for arch in arm64 s390x ppc64el armhf; do
        case "$missing" in *:$arch*) dpkg --add-architecture $arch ;; esac
    done
    # $missing is a list of package names: split it.  test/apt.sh waits
    # for a package manager that is busy, as at a fresh machine's boot.
    # shellcheck disable=SC2086
    sh test/apt.sh update -qq && sh test/apt.sh install -y -qq $missing >/dev/null
    exit $?
fi
echo "missing:$missing. Install with:" >&2
echo "    sudo apt-get install -y$missing" >&2
[ "$soft" = 1 ] && exit 0  # make bench goes on with what is there
exit 1
