#!/bin/sh
# Runs a command once under each poller (GREEN_POLLER), in turn, and stops
# at the first that fails.  (In turn also under Valgrind: three at once on
# this 2-core machine left a forked child too slow for its test's 10 s.)
#   test/each_poller.sh "epoll poll uring" COMMAND [ARG...]
pollers=$1
shift
for p in $pollers; do
    echo "--- GREEN_POLLER=$p: $*"
    GREEN_POLLER=$p "$@" || exit 1
done
