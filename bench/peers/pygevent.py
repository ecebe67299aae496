"""gevent in the make bench workloads.

    pygevent.py switch|spawn|chan0|chan64|io|idle N,  pygevent.py http PORT
"""
import sys
import time

import gevent
import gevent.queue
import gevent.server
import gevent.socket

from benchcommon import RESPONSE, memory


def bench_switch(n):
    def yielder():
        for _ in range(n // 2):
            gevent.sleep(0)
    start = time.perf_counter()
    gevent.joinall([gevent.spawn(yielder), gevent.spawn(yielder)])
    return (time.perf_counter() - start) * 1e9 / n


def bench_spawn(n):
    start = time.perf_counter()
    for _ in range(n):
        gevent.spawn(lambda: None).join()
    return (time.perf_counter() - start) * 1e9 / n


def bench_chan(n, capacity):
    make = (lambda: gevent.queue.Channel()) if capacity == 0 else (lambda: gevent.queue.Queue(capacity))
    there, back = make(), make()

    def ponger():
        for _ in range(n // 2):
            back.put(there.get())
    g = gevent.spawn(ponger)
    start = time.perf_counter()
    for i in range(n // 2):
        there.put(i)
        back.get()
    elapsed = time.perf_counter() - start
    g.join()
    return elapsed * 1e9 / n


def bench_io(n):
    a, b = gevent.socket.socketpair()

    def echo():
        for _ in range(n):
            b.sendall(b.recv(1))
    g = gevent.spawn(echo)
    start = time.perf_counter()
    for _ in range(n):
        a.sendall(b"x")
        a.recv(1)
    elapsed = time.perf_counter() - start
    g.join()
    return elapsed * 1e6 / n


def bench_idle(n):
    mem0 = memory()
    greenlets = [gevent.spawn(gevent.sleep, 3600) for _ in range(n)]
    gevent.sleep(0)
    per = (memory() - mem0) / n
    gevent.killall(greenlets, block=False)
    return per


def serve(sock, address):
    buf = b""
    while True:
        data = sock.recv(4096)
        if not data:
            break
        buf += data
        count = buf.count(b"\r\n\r\n")
        if count:
            buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
            sock.sendall(RESPONSE * count)
    sock.close()


def bench_http(port):
    server = gevent.server.StreamServer(("127.0.0.1", port), serve, backlog=4096)
    server.init_socket()
    print("ready", flush=True)
    server.serve_forever()


def main():
    what, n = sys.argv[1], int(sys.argv[2])
    if what == "http":
        bench_http(n)
        return
    bench = {"switch": bench_switch, "spawn": bench_spawn, "io": bench_io, "idle": bench_idle,
             "chan0": lambda k: bench_chan(k, 0), "chan64": lambda k: bench_chan(k, 64)}[what]
    print("%.3f" % bench(n))


if __name__ == "__main__":
    main()
