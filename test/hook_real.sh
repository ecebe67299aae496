#!/bin/bash
# libgreen-hook against real servers (test/hook_real.c), and
# docs/integration.md's functions against the same (test/guide_real.c):
# installs the libraries and servers from Debian's packages (test/deps.sh
# hook), starts redis-server (on a Unix socket, and on 127.0.0.1 at a free
# TCP port, for the guide's redis_connect) and PostgreSQL (on a Unix
# socket) in a temporary directory, as an unprivileged user when run as
# root, runs the hook's suite with the hook and without it, then the
# guide's, under each poller, and stops the servers, bounded in time.
# Usage: hook_real.sh BUILD_DIR POLLER...
set -euo pipefail
build=$1
shift
sh test/deps.sh hook
dir=$(mktemp -d /tmp/green-hook-real.XXXXXX)
chmod 755 "$dir"
as=()
if [ "$(id -u)" = 0 ]; then
    chown nobody "$dir"
    as=(runuser -u nobody --)
fi
pids=()
stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT

# Waits up to 30 s for socket $1 to appear.
wait_for() {
    for _ in $(seq 300); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    echo "hook_real.sh: $1 did not appear" >&2
    return 1
}

# Starts redis-server at a TCP port that was free a moment ago; another
# program may take it first, and redis-server then exits before it makes
# its Unix socket: it tries again, five times.
start_redis() {
    for _ in 1 2 3 4 5; do
        redis_port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        "${as[@]}" timeout 600 redis-server --port "$redis_port" --bind 127.0.0.1 \
            --unixsocket "$dir/redis.sock" --dir "$dir" \
            --save '' --appendonly no --maxclients 1000 >"$dir/redis.log" 2>&1 &
        local pid=$!
        for _ in $(seq 300); do
            if [ -S "$dir/redis.sock" ]; then
                pids+=("$pid")
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "hook_real.sh: redis-server did not start:" >&2
    cat "$dir/redis.log" >&2
    return 1
}
start_redis
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"${as[@]}" "$pgbin/initdb" -D "$dir/pg" -A trust -U green >"$dir/initdb.log" 2>&1
"${as[@]}" timeout 600 "$pgbin/postgres" -D "$dir/pg" -k "$dir" -c listen_addresses= \
    -c max_connections=250 -c shared_buffers=16MB -c fsync=off >"$dir/pg.log" 2>&1 &
pids+=($!)
wait_for "$dir/.s.PGSQL.5432"

export GREEN_TEST_REDIS="$dir/redis.sock"
export GREEN_TEST_REDIS_PORT="$redis_port"
export GREEN_TEST_PG="host=$dir port=5432 user=green dbname=postgres"
for p in "$@"; do
    echo "--- hook_real, GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/hook_real"
    echo "--- hook_real without the hook, GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/hook_real_plain"
    echo "--- guide_real (docs/integration.md's functions), GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/guide_real"
done
