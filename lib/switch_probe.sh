#!/bin/sh
# Which context switch the C library CC builds against can have, for the
# Makefile: one line, the backend and then the libraries it links.
#   switch_probe.sh CC ARCH [LDFLAGS...]
#   ucontext                               the C library's makecontext links
#                                          (glibc)
#   ucontext -lucontext_posix -lucontext   libucontext's does (musl with
#                                          libucontext installed)
#   fast                                   neither, and lib/ has a fast
#                                          switch for ARCH (musl alone)
#   none                                   neither, and no fast switch
# musl declares getcontext, makecontext and swapcontext but defines none,
# so a link says what a compile cannot.  Of libucontext, the _posix
# variant comes first: its getcontext and swapcontext save and restore the
# signal mask as glibc's do (every green thread keeps its own), where the
# plain library's do not; its makecontext is the plain library's.  The
# probe links and does not run, so it holds for a cross compiler too.
set -u
cc=$1 arch=$2
shift 2  # the rest are the user's LDFLAGS (a -L where libucontext is)
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
cat > "$dir/probe.c" <<'PROBE'
#include <ucontext.h>
static ucontext_t main_uc, uc;
static char stack[16384];
static void entry(void) { swapcontext(&uc, &main_uc); }
int main(void)
{
    getcontext(&uc);
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = sizeof stack;
    makecontext(&uc, entry, 0);
    return swapcontext(&main_uc, &uc);
}
PROBE
ldflags="$*"
links() {
    # $cc may be a command with arguments, $ldflags holds several: split.
    # shellcheck disable=SC2086
    $cc -o "$dir/probe" "$dir/probe.c" $ldflags "$@" >/dev/null 2>&1
}
# pkg-config says where libucontext is when not in the linker's path.
ucontext="-lucontext_posix $(pkg-config --libs libucontext 2>/dev/null || echo -lucontext)"
# $ucontext's words are separate arguments.
# shellcheck disable=SC2086
if links; then
    echo ucontext
elif links $ucontext; then
    echo "ucontext $ucontext"
elif [ -f "lib/switch_fast_$arch.S" ]; then
    echo fast
else
    echo none
fi
