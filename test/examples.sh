#!/bin/bash
# shellcheck disable=SC2086  # $run: see below
# Smoke tests for docs/examples: each runs and does what it says.
# Usage: [RUNNER=qemu-aarch64] examples.sh BUILD_DIR/examples
set -u
dir=$1
# A prefix to run them with, such as an emulator; unquoted where used, so
# that an empty one disappears.
run=${RUNNER:-}
fail=0
ok() { echo "examples: $1 ok"; }
bad() { echo "examples: $1 FAILED: $2" >&2; fail=1; }

# Starts server $1 on a free port (with any further arguments), reading
# its stdout on fd 5; sets $server and $port.  Its first line says the
# port, so reading that line waits until it listens.
start_server() {
    local name=$1
    shift
    exec 5< <(exec timeout 30 $run "$dir/$name" 0 "$@" 2>&1)
    server=$!
    line=""
    read -r -t 10 line <&5
    port=${line#listening on 127.0.0.1:}
    port=${port%% *}
    [ "$port" != "$line" ] && [ -n "$port" ]
}

stop_server() {
    kill "$server" 2>/dev/null
    exec 5<&-
}

# hello: three sleeps of 1, 2 and 3 s take 3 s together, not 6.
out=$(timeout 20 $run "$dir/hello") || bad hello "exit $?"
secs=$(echo "$out" | sed -n 's/^all done after \([0-9.]*\) s$/\1/p')
if [ -z "$secs" ]; then
    bad hello "no summary line in: $out"
elif awk -v s="$secs" 'BEGIN { exit !(s >= 2.9 && s < 5.5) }'; then
    ok hello
else
    bad hello "took $secs s"
fi

# gather: five results, in the order spawned.
out=$(timeout 20 $run "$dir/gather") || bad gather "exit $?"
order=$(echo "$out" | awk '/->/ { printf "%s ", $1 }')
if [ "$order" = "alpha beta gamma delta epsilon " ] && echo "$out" | grep -q 'gathered 5 results, total 150'; then
    ok gather
else
    bad gather "$out"
fi

# pipeline: every job reaches the collector once.
out=$(timeout 20 $run "$dir/pipeline") || bad pipeline "exit $?"
if echo "$out" | grep -q '(right)' && [ "$(echo "$out" | grep -c '^worker')" = 4 ]; then
    ok pipeline
else
    bad pipeline "$out"
fi

# limit: never more than four at once, and all twenty results.
out=$(timeout 20 $run "$dir/limit") || bad limit "exit $?"
if echo "$out" | grep -q '^20 fetches, at most 4 at once, results sum 1900,'; then
    ok limit
else
    bad limit "$out"
fi

# echo_server: two clients at once, each gets its own bytes back; then
# SIGINT, with a client still connected, shuts it down cleanly.
if ! start_server echo_server; then
    bad echo_server "did not start: $line"
else
    exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port"
    echo "first client" >&3
    echo "second client" >&4
    read -r -t 10 a <&3
    read -r -t 10 b <&4
    exec 4>&-
    kill -INT "$server"
    rest=$(timeout 10 cat <&5)
    exec 3>&-
    if [ "$a" != "first client" ] || [ "$b" != "second client" ]; then
        bad echo_server "got '$a' and '$b'"
    elif ! echo "$rest" | grep -q '^signal 2: closing' || ! echo "$rest" | grep -q '^bye$'; then
        bad echo_server "no clean shutdown: $rest"
    else
        ok echo_server
    fi
fi
stop_server

# http_server: pipelined keep-alive requests, HTTP/1.0 keep-alive said
# back, "Connection: close" honoured, a body with a blank line in it read
# as a body, garbage refused with 400, and a server that cannot listen
# exits non-zero.  Each exchange ends with a close, so cat reads all.
http_exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf "$1" >&3
    timeout 10 cat <&3
    exec 3>&-
}
# Answers follow bodies without a newline: count them, not lines.
if ! start_server http_server; then
    bad http_server "did not start: $line"
else
    why=""
    out=$(http_exchange 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    [ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 200 OK' | wc -l)" = 3 ] &&
        [ "$(printf '%s' "$out" | grep -c '^Connection: close')" = 1 ] || why="$why pipelined:[$out]"
    out=$(http_exchange 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n')
    [ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 200 OK' | wc -l)" = 2 ] &&
        printf '%s' "$out" | grep -q '^Connection: keep-alive' || why="$why http/1.0:[$out]"
    out=$(http_exchange 'POST / HTTP/1.1\r\nContent-Length: 8\r\n\r\n\r\n\r\nabcdGET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    [ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 200 OK' | wc -l)" = 2 ] || why="$why body:[$out]"
    out=$(http_exchange 'GARBAGE\r\n\r\n')
    printf '%s' "$out" | grep -q '^HTTP/1.1 400 Bad Request' || why="$why garbage:[$out]"
    timeout 10 $run "$dir/http_server" "$port" >/dev/null 2>&1
    [ $? = 1 ] || why="$why no non-zero exit when the port is taken"
    # ab -k speaks HTTP/1.0 keep-alive (Debian's apache2-utils).
    if command -v ab >/dev/null 2>&1; then
        out=$(timeout 30 ab -q -k -n 500 -c 5 "http://127.0.0.1:$port/" 2>&1)
        echo "$out" | grep -q '^Complete requests: *500$' &&
            echo "$out" | grep -q '^Failed requests: *0$' &&
            echo "$out" | grep -q '^Keep-Alive requests: *500$' || why="$why ab -k:[$out]"
    fi
    if [ -z "$why" ]; then
        ok http_server
    else
        bad http_server "$why"
    fi
fi
stop_server
# A client that never finishes its request is closed when its time is up
# (500 ms here); cat then sees the end of the connection.
if ! start_server http_server 500; then
    bad "http_server (slow client)" "did not start: $line"
else
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET / HTTP/1.1\r\n' >&3
    if timeout 10 cat <&3 >/dev/null; then
        ok "http_server (slow client closed)"
    else
        bad "http_server (slow client)" "still open after 10 s"
    fi
    exec 3>&-
fi
stop_server

# http_server on two schedulers, each listening on the port: twenty
# requests on connections of their own are all answered.
if ! start_server http_server 30000 2; then
    bad "http_server (2 schedulers)" "did not start: $line"
else
    answered=0
    for i in $(seq 20); do
        out=$(http_exchange 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
        printf '%s' "$out" | grep -q 'Hello, World!' && answered=$((answered + 1))
    done
    if [ "$answered" = 20 ]; then
        ok "http_server (2 schedulers)"
    else
        bad "http_server (2 schedulers)" "$answered of 20 answered"
    fi
fi
stop_server

# The same with one acceptor placing each connection on either scheduler:
# the connection's fd is accepted on one and served (and closed) on the
# other.
if ! start_server http_server 30000 2 any; then
    bad "http_server (one acceptor)" "did not start: $line"
else
    answered=0
    for i in $(seq 20); do
        out=$(http_exchange 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n')
        [ "$(printf '%s' "$out" | grep -o 'Hello, World!' | wc -l)" = 2 ] && answered=$((answered + 1))
    done
    if [ "$answered" = 20 ]; then
        ok "http_server (one acceptor)"
    else
        bad "http_server (one acceptor)" "$answered of 20 answered"
    fi
fi
stop_server

# fetch: three pages from a local server at once, and a refused port.
if ! start_server http_server; then
    bad fetch "http_server did not start: $line"
else
    out=$(timeout 20 $run "$dir/fetch" "http://127.0.0.1:$port/" "http://localhost:$port/a" \
          "http://127.0.0.1:$port/b" "http://127.0.0.1:1/")
    if [ "$(echo "$out" | grep -c ' -> 200, 13 bytes: Hello, World!$')" = 3 ] &&
       echo "$out" | grep -q '127.0.0.1:1/ -> failed: Connection refused' &&
       echo "$out" | grep -q '^3 of 4 fetched in'; then
        ok fetch
    else
        bad fetch "$out"
    fi
fi
stop_server

# kv_server: the real redis-cli and redis-benchmark against it (Debian's
# redis-tools, which test/deps.sh installs): replies as Redis gives them,
# pipelined benchmarks without an error, and every INCR counted.
if ! start_server kv_server; then
    bad kv_server "did not start: $line"
else
    cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1; }
    got="$(cli ping) $(cli set greeting hello) $(cli get greeting) $(cli incr n) $(cli incr n)"
    got="$got $(cli del greeting n nothing) $(cli exists greeting) $(cli incr "$(printf 'x\r\ny')")"
    bench=$(timeout 60 redis-benchmark -h 127.0.0.1 -p "$port" -t ping,set,get,incr \
            -n 20000 -P 16 -q 2>&1 | tr '\r' '\n' | grep -v 'rps=')
    count=$(cli get counter:__rand_int__)
    if [ "$got" != "PONG OK hello 1 2 2 0 1" ]; then
        bad kv_server "redis-cli got: $got"
    elif echo "$bench" | grep -qi 'error' || [ "$(echo "$bench" | grep -c 'requests per second')" != 5 ]; then
        bad kv_server "redis-benchmark: $bench"
    elif [ "$count" != 20000 ]; then
        bad kv_server "20000 INCRs counted $count"
    else
        ok kv_server
    fi
fi
stop_server

# cpu_bound: a plain CPU loop holds the ticker for most of its 300 ms;
# with yields, or offloaded, the ticker is late by less than half that.
out=$(timeout 60 $run "$dir/cpu_bound") || bad cpu_bound "exit $?: $out"
late() { echo "$out" | sed -n "s/^$1 *the ticker .* late by \([0-9]*\) ms at worst$/\1/p"; }
plain=$(late plain) yields=$(late yields) offloaded=$(late offloaded)
if [ -n "$plain" ] && [ -n "$yields" ] && [ -n "$offloaded" ] && [ "$plain" -ge 100 ] &&
   [ $((yields * 2)) -lt "$plain" ] && [ $((offloaded * 2)) -lt "$plain" ]; then
    ok cpu_bound
else
    bad cpu_bound "$out"
fi

# sync_vs_green: both ways finish every request, and say how long.
out=$(timeout 30 $run "$dir/sync_vs_green" 5) || bad sync_vs_green "exit $?: $out"
if echo "$out" | grep -q '^one after another: 5 requests in [0-9]* ms$' &&
   echo "$out" | grep -q '^a green thread each: 5 requests in [0-9]* ms$'; then
    ok sync_vs_green
else
    bad sync_vs_green "$out"
fi

# subprocess: the child's two lines, its exit status, and a ticker that
# went on meanwhile.
out=$(timeout 20 $run "$dir/subprocess") || bad subprocess "exit $?"
if [ "$(echo "$out" | grep -c '^child says: ')" = 2 ] &&
   echo "$out" | grep -q 'exited with status 3$' &&
   echo "$out" | grep -q '^the ticker ticked on meanwhile$'; then
    ok subprocess
else
    bad subprocess "$out"
fi

# multicore: two schedulers on one port; six connections echo, and on
# SIGINT every scheduler stops and the counts add up.
if ! start_server multicore 2; then
    bad multicore "did not start: $line"
else
    echoed=0
    for i in 1 2 3 4 5 6; do
        exec 3<>"/dev/tcp/127.0.0.1/$port"
        echo "line $i" >&3
        read -r -t 10 a <&3
        exec 3>&-
        [ "$a" = "line $i" ] && echoed=$((echoed + 1))
    done
    kill -INT "$server"
    rest=$(timeout 10 cat <&5)
    if [ "$echoed" = 6 ] && echo "$rest" | grep -q '^6 connections in all$' &&
       [ "$(echo "$rest" | grep -c '^scheduler [01] served')" = 2 ]; then
        ok multicore
    else
        bad multicore "echoed $echoed: $rest"
    fi
fi
stop_server

# dump_on_sigquit: SIGQUIT lists the green threads on stderr and the
# program goes on; SIGINT then ends it.  Its first line names its pid
# (under qemu-user, qemu's, which passes signals on).
exec 5< <(exec timeout 30 $run "$dir/dump_on_sigquit" 2>&1)
line="" seen="" pid=""
read -r -t 10 line <&5
case $line in
"ready: kill -QUIT "*) pid=${line#ready: kill -QUIT }; pid=${pid%% *} ;;
esac
if [ -z "$pid" ]; then
    bad dump_on_sigquit "did not start: $line"
else
    kill -QUIT "$pid"
    while read -r -t 10 line <&5; do
        seen="$seen$line|"
        case $line in *"'stop' parked: signal 2"*) break ;; esac
    done
    kill -INT "$pid"
    while read -r -t 10 line <&5; do seen="$seen$line|"; done
    case $seen in
    *"5 green threads"*"'worker' parked: chan recv"*"'napper' parked: sleep (wakes in"*"'dumper' running"*"signal 2: stopping|")
        ok dump_on_sigquit ;;
    *) bad dump_on_sigquit "$seen" ;;
    esac
fi
exec 5<&-

# uv_echo: a green echo server and its green clients in a libuv loop,
# beside a uv timer; every line comes back, the timer ticked meanwhile,
# and the loops end cleanly.  Left out where the compiler has no libuv
# (NO_UV=1).
if [ ! -x "$dir/uv_echo" ]; then
    echo "examples: uv_echo not built (no libuv for this compiler): skipped"
else
    out=$(timeout 20 $run "$dir/uv_echo") || bad uv_echo "exit $?: $out"
    ticks=$(echo "$out" | sed -n 's/^the uv timer ticked \([0-9]*\) times meanwhile$/\1/p')
    if echo "$out" | grep -q '^listening on 127.0.0.1:[0-9]*$' &&
       [ "$(echo "$out" | grep -c '^client [0-2] got back "line [0-2] from client [0-2]"$')" = 9 ] &&
       echo "$out" | grep -q '^3 clients, 9 lines echoed$' &&
       [ "${ticks:-0}" -ge 1 ] && [ "$(echo "$out" | tail -n 1)" = bye ]; then
        ok uv_echo
    else
        bad uv_echo "$out"
    fi
fi

# glib_pipe: green threads passing lines through a pipe in a GMainLoop,
# beside a timeout source and an idle source; every line in order, both
# sources ran, and the loops end cleanly.  Left out where the compiler
# has no GLib (NO_GLIB=1).
if [ ! -x "$dir/glib_pipe" ]; then
    echo "examples: glib_pipe not built (no GLib for this compiler): skipped"
else
    out=$(timeout 20 $run "$dir/glib_pipe") || bad glib_pipe "exit $?: $out"
    ticks=$(echo "$out" | sed -n 's/^the timeout source ticked \([0-9]*\) times meanwhile$/\1/p')
    if [ "$(echo "$out" | grep -c '^reader got: line [0-9]$')" = 10 ] &&
       echo "$out" | grep -q '^reader: 10 of 10 lines, in order$' &&
       echo "$out" | grep -q '^idle: summed 1..1000000 = 500000500000 in 1000 slices$' &&
       [ "${ticks:-0}" -ge 1 ] && [ "$(echo "$out" | tail -n 1)" = bye ]; then
        ok glib_pipe
    else
        bad glib_pipe "$out"
    fi
fi

# tls_echo: OpenSSL through green_wait under a stream, three clients at
# once; then as a server, two lines through the real openssl s_client.
# A cross target without OpenSSL builds it not (NO_TLS=1).
if [ ! -x "$dir/tls_echo" ]; then
    echo "examples: tls_echo not built (no OpenSSL for this target): skipped"
    exit $fail
fi
out=$(timeout 20 $run "$dir/tls_echo") || bad tls_echo "exit $?: $out"
if [ "$(echo "$out" | grep -c 'got back "hello from green thread #[0-9]*"$')" = 3 ] &&
   echo "$out" | grep -q '^3 of 3 lines echoed over TLS$'; then
    ok tls_echo
else
    bad tls_echo "$out"
fi
if ! start_server tls_echo; then
    bad "tls_echo (server)" "did not start: $line"
else
    coproc SCLIENT { exec timeout 20 openssl s_client -connect "127.0.0.1:$port" -quiet -no_ign_eof 2>/dev/null; }
    a="" b=""
    echo "first line over TLS" >&"${SCLIENT[1]}"
    read -r -t 10 a <&"${SCLIENT[0]}"
    echo "second line" >&"${SCLIENT[1]}"
    read -r -t 10 b <&"${SCLIENT[0]}"
    exec {SCLIENT[1]}>&-
    wait "$SCLIENT_PID" 2>/dev/null
    if [ "$a" = "first line over TLS" ] && [ "$b" = "second line" ]; then
        ok "tls_echo (server, openssl s_client)"
    else
        bad "tls_echo (server)" "s_client got '$a' and '$b'"
    fi
fi
stop_server
exit $fail
