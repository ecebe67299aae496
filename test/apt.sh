#!/bin/sh
# apt-get that waits its turn: another package manager may hold dpkg's or
# apt's lock (a fresh cloud machine runs its unattended upgrades at boot),
# and apt-get then fails at once with exit 100.  This says once that it is
# waiting and for whom, tries again every GREEN_APT_POLL seconds (5) for
# up to GREEN_APT_WAIT seconds (600), and then goes on, or fails with one
# sentence.  Any other failure is apt-get's own, reported as it is.
#   apt.sh ARG...      apt-get's arguments: update -qq, install -y -qq PKG...
set -u
max=${GREEN_APT_WAIT:-600}
poll=${GREEN_APT_POLL:-5}
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
start=$(date +%s)
said=0
while :; do
    DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>"$err"
    rc=$?
    if [ $rc = 0 ] || ! grep -Eq 'Could not get lock|Unable to acquire|Unable to lock' "$err"; then
        cat "$err" >&2
        exit $rc
    fi
    holder=$(sed -n 's/.*held by process \([0-9]*\).*/\1/p' "$err" | head -n 1)
    holder=${holder:+process $holder}
    if [ $(($(date +%s) - start)) -ge "$max" ]; then
        echo "apt.sh: the package manager was still busy (${holder:-its lock is held}) after $max s; run this again when it is done, or set GREEN_APT_WAIT" >&2
        exit 100
    fi
    if [ $said = 0 ]; then
        echo "apt.sh: the package manager is busy (${holder:-its lock is held}); waiting up to $max s for it" >&2
        said=1
    fi
    sleep "$poll"
done
