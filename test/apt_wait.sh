#!/bin/bash
# test/apt.sh waits for a busy package manager, and only for that:
#  1. a stand-in apt-get that finds the lock held twice, then succeeds: one
#     "waiting" line, then success;
#  2. one that finds it held for good: the one sentence, exit 100, once
#     GREEN_APT_WAIT has passed;
#  3. one that fails for another reason: its error and exit code at once,
#     without waiting;
#  4. as root, the real apt-get while this script holds dpkg's frontend
#     lock, released when apt.sh says it waits: apt.sh then goes on.
set -u
fail=0
bad() { echo "apt_wait: $1 FAILED: $2" >&2; fail=1; }
ok() { echo "apt_wait: $1 ok"; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin"
fake() {  # fake LOCKED_TIMES OTHER_ERROR
    cat > "$dir/bin/apt-get" <<EOF
#!/bin/sh
n=\$(cat "$dir/count" 2>/dev/null || echo 0)
echo \$((n + 1)) > "$dir/count"
if [ "$2" = 1 ]; then echo "E: Unable to locate package nosuch" >&2; exit 100; fi
if [ "\$n" -lt "$1" ]; then
    echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
    exit 100
fi
echo installed
EOF
    chmod +x "$dir/bin/apt-get"
    rm -f "$dir/count"
}
run() { PATH="$dir/bin:$PATH" GREEN_APT_POLL=0.05 timeout 20 sh test/apt.sh install -y x 2>"$dir/err"; }

fake 2 0
out=$(GREEN_APT_WAIT=10 run)
rc=$?
if [ $rc = 0 ] && [ "$out" = installed ] && [ "$(cat "$dir/count")" = 3 ] &&
   [ "$(grep -c 'busy (process 4242); waiting up to 10 s' "$dir/err")" = 1 ]; then
    ok "held twice"
else
    bad "held twice" "exit $rc, out '$out', tries $(cat "$dir/count"), err: $(cat "$dir/err")"
fi

fake 1000000 0
GREEN_APT_WAIT=0 run >/dev/null
rc=$?
if [ $rc = 100 ] && grep -q 'still busy (process 4242) after 0 s' "$dir/err"; then
    ok "held for good"
else
    bad "held for good" "exit $rc, err: $(cat "$dir/err")"
fi

fake 0 1
GREEN_APT_WAIT=10 run >/dev/null
rc=$?
if [ $rc = 100 ] && [ "$(cat "$dir/count")" = 1 ] && grep -q 'Unable to locate package' "$dir/err" &&
   ! grep -q waiting "$dir/err"; then
    ok "another failure"
else
    bad "another failure" "exit $rc, tries $(cat "$dir/count"), err: $(cat "$dir/err")"
fi

# The real apt-get, against dpkg's real lock (as root, where apt-get is).
lock=/var/lib/dpkg/lock-frontend
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && command -v python3 >/dev/null &&
   [ -e "$lock" ]; then
    # The holder takes the lock as dpkg does (fcntl), says so, and lets go
    # when told on its stdin.
    coproc HOLD { exec python3 -c '
import fcntl, sys
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.readline()' "$lock"; }
    read -r -t 10 held <&"${HOLD[0]}"
    if [ "${held:-}" != held ]; then
        # Held already: another package manager (or another make test's
        # apt_wait.sh, in CI's other lane) is at work.
        echo "apt_wait: real lock skipped: $lock is held by another process"
    else
        # apt-get install --no-upgrade of an installed package (dpkg
        # itself) takes the lock and changes nothing.
        exec 6< <(GREEN_APT_POLL=0.2 GREEN_APT_WAIT=60 timeout 90 sh test/apt.sh install -y -qq --no-upgrade dpkg 2>&1; echo "exit $?")
        line="" seen=""
        while read -r -t 60 line <&6; do
            seen="$seen$line|"
            case $line in
            *"is busy"*"waiting up to 60 s"*) echo release >&"${HOLD[1]}" ;;
            "exit "*) break ;;
            esac
        done
        exec 6<&-
        case $seen in
        *"is busy"*"exit 0|") ok "real lock" ;;
        *) bad "real lock" "$seen" ;;
        esac
    fi
    kill "${HOLD_PID:-}" 2>/dev/null
fi
exit $fail
