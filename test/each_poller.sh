#!/bin/sh
# Runs a command once under each poller, all at once (make valgrind: each
# run is one slow process, and the machine has a core for each), then
# prints each run's output in turn.  Fails if any run failed.
#   test/each_poller.sh "epoll poll" COMMAND [ARG...]
pollers=$1
shift
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
