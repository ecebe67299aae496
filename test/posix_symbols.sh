#!/bin/sh
# The proof that the POSIX build (make POSIX=1) leaves out what only Linux
# has, rather than the claim (make test-posix runs it):
#   test/posix_symbols.sh BUILD
# 1. No object of BUILD/lib calls a function only Linux (or glibc) has:
#    nm -u against the list below.
# 2. No source those objects were built from uses a flag, a clock or a
#    field only Linux has, in the code the POSIX build compiles: each is
#    preprocessed as the build does, without expanding macros
#    (-fdirectives-only), comments dropped (-fpreprocessed), and its own
#    lines (not the system headers') searched for the names below.
# CC is the compiler of the build (cc if unset).
set -eu
build=${1:?usage: $0 BUILD}
cc=${CC:-cc}

# Functions: the pollers' and the ring's, Linux's fd kinds and process
# calls, the flag-taking variants of POSIX calls, CPU affinity, and the
# raw system call.
functions='epoll_.*|io_uring_.*|eventfd|eventfd_.*|signalfd|signalfd4|timerfd_.*|inotify_.*|memfd_.*|pidfd_.*|process_madvise|accept4|pipe2|dup3|syscall|sched_getaffinity|sched_setaffinity|pthread_setaffinity_np|pthread_getaffinity_np|__sched_cpucount|preadv2|pwritev2|splice|vmsplice|tee|sendfile|copy_file_range|mremap|prctl|gettid|statx|getrandom|clone3?|mallinfo2?|malloc_trim'
# Names a source would use: flags, clocks, the ucontext internals of
# glibc, the raw system call numbers, the affinity mask.
names='MAP_NORESERVE|MAP_STACK|MAP_POPULATE|MADV_GUARD_INSTALL|MADV_GUARD_REMOVE|MSG_NOSIGNAL|SOCK_NONBLOCK|SOCK_CLOEXEC|EFD_[A-Z]+|EPOLL[A-Z_]*|IORING_[A-Z_]+|RWF_[A-Z]+|SYS_[a-z0-9_]+|__fpregs_mem|fpregs|CLOCK_MONOTONIC_COARSE|CLOCK_REALTIME_COARSE|CLOCK_BOOTTIME|O_PATH|O_DIRECT|cpu_set_t|CPU_[A-Z]+'

objects=$(ls "$build"/lib/*.o)
[ -n "$objects" ] || { echo "$0: no objects in $build/lib" >&2; exit 1; }
status=0

# 1. The functions the objects call.
bad=$(nm -u $objects | awk '{print $NF}' | grep -xE "$functions" | sort -u || true)
if [ -n "$bad" ]; then
    echo "$0: the POSIX build calls what only Linux has:" >&2
    for f in $bad; do
        echo "  $f, from: $(nm -Au $objects | awk -v f="$f" '$NF == f {sub(/:.*/, "", $1); print $1}' | tr '\n' ' ')" >&2
    done
    status=1
fi

# 2. The names the sources use.  A .S file is the fast switch's, which uses
# none of them.
for o in $objects; do
    src=lib/$(basename "$o" .o).c
    [ -f "$src" ] || continue
    hits=$("$cc" -std=gnu11 -D_GNU_SOURCE -Iinclude -DGREEN_POSIX_ONLY -E -fdirectives-only "$src" |
           "$cc" -fpreprocessed -E -x c - |
           awk '/^# [0-9]+ "/ { own = ($3 ~ /^"lib\//); file = $3; line = $2; next }
                own { print file ":" line ": " $0 } { line++ }' |
           grep -wE "$names" || true)
    if [ -n "$hits" ]; then
        echo "$0: $src uses, in the POSIX build, what only Linux has:" >&2
        echo "$hits" >&2
        status=1
    fi
done

[ $status -ne 0 ] || echo "$0: $(echo $objects | wc -w) objects of $build call nothing and use nothing that only Linux has"
exit $status
