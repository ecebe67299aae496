#!/bin/sh
# Runs a command once under each poller (GREEN_POLLER), in turn, and stops
# at the first that fails.  With --together the runs go all at once (make
# valgrind: each run is one slow process, and the machine has a core for
# each), and each run's output is printed in turn once all have ended;
# then every run is made, and any failure fails the whole.
#   test/each_poller.sh [--together] "epoll poll uring" COMMAND [ARG...]
together=0
if [ "$1" = --together ]; then
    together=1
    shift
fi
pollers=$1
shift
if [ "$together" = 0 ]; then
    for p in $pollers; do
        echo "--- GREEN_POLLER=$p: $*"
        GREEN_POLLER=$p "$@" || exit 1
    done
    exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for p in $pollers; do
    (GREEN_POLLER=$p "$@" >"$dir/$p.log" 2>&1; echo $? >"$dir/$p.rc") &
done
wait
status=0
for p in $pollers; do
    echo "--- GREEN_POLLER=$p: $*"
    cat "$dir/$p.log"
    rc=$(cat "$dir/$p.rc")
    [ "$rc" = 0 ] || { echo "--- GREEN_POLLER=$p failed (exit $rc)"; status=1; }
done
exit $status
