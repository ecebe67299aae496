#!/bin/bash
# libgreen-hook against real servers (test/hook_real.c), and
# docs/integration.md's functions against the same (test/guide_real.c):
# installs the libraries and servers from Debian's packages (test/deps.sh
# hook), starts redis-server and PostgreSQL in a temporary directory, each
# on a Unix socket and on 127.0.0.1 at a free TCP port (the guide connects
# by address), as an unprivileged user when run as root, runs the hook's
# suite with the hook and without it, then the guide's, under each poller,
# and stops the servers, bounded in time.
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

# Prints a TCP port of 127.0.0.1 that is free now.
free_port() {
    python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve LOG SOCKET COMMAND...: starts a server at a TCP port that was free
# a moment ago, written @PORT@ in SOCKET and COMMAND, and waits up to 30 s
# for its Unix socket SOCKET, which it makes once it has its TCP port.
# Another program may take the port first; the server then exits without
# making it, and this tries again, five times.  Sets $port.
serve() {
    local log=$1 sock_at=$2
    shift 2
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        local sock=${sock_at//@PORT@/$port}
        "${as[@]}" timeout 600 "${@//@PORT@/$port}" >"$log" 2>&1 &
        local pid=$!
        for _ in $(seq 300); do
            if [ -S "$sock" ]; then
                pids+=("$pid")
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "hook_real.sh: $1 did not start:" >&2
    cat "$log" >&2
    return 1
}

serve "$dir/redis.log" "$dir/redis.sock" redis-server --port @PORT@ --bind 127.0.0.1 \
    --unixsocket "$dir/redis.sock" --dir "$dir" --save '' --appendonly no --maxclients 1000
redis_port=$port
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"${as[@]}" "$pgbin/initdb" -D "$dir/pg" -A trust -U green >"$dir/initdb.log" 2>&1
serve "$dir/pg.log" "$dir/.s.PGSQL.@PORT@" "$pgbin/postgres" -D "$dir/pg" -k "$dir" \
    -c listen_addresses=127.0.0.1 -p @PORT@ \
    -c max_connections=250 -c shared_buffers=16MB -c fsync=off
pg_port=$port

export GREEN_TEST_REDIS="$dir/redis.sock"
export GREEN_TEST_REDIS_PORT="$redis_port"
export GREEN_TEST_PG="host=$dir port=$pg_port user=green dbname=postgres"
export GREEN_TEST_PG_TCP="hostaddr=127.0.0.1 port=$pg_port user=green dbname=postgres"
for p in "$@"; do
    echo "--- hook_real, GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/hook_real"
    echo "--- hook_real without the hook, GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/hook_real_plain"
    echo "--- guide_real (docs/integration.md's functions), GREEN_POLLER=$p"
    GREEN_POLLER=$p timeout 300 "$build/test/guide_real"
done
