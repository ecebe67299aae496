"""asyncio, or uvloop with --uvloop, in the make bench workloads.

    pyasync.py [--uvloop] switch|spawn|chan0|chan64|io|idle|offload N
    pyasync.py [--uvloop] http PORT
"""
import asyncio
import socket
import sys
import time

from benchcommon import RESPONSE, memory


async def bench_switch(n):
    async def yielder():
        for _ in range(n // 2):
            await asyncio.sleep(0)
    start = time.perf_counter()
    await asyncio.gather(yielder(), yielder())
    return (time.perf_counter() - start) * 1e9 / n


async def bench_spawn(n):
    async def nothing():
        return None
    start = time.perf_counter()
    for _ in range(n):
        await asyncio.create_task(nothing())
    return (time.perf_counter() - start) * 1e9 / n


async def bench_chan(n, capacity):
    there, back = asyncio.Queue(capacity), asyncio.Queue(capacity)

    async def ponger():
        for _ in range(n // 2):
            await back.put(await there.get())
    task = asyncio.create_task(ponger())
    start = time.perf_counter()
    for i in range(n // 2):
        await there.put(i)
        await back.get()
    elapsed = time.perf_counter() - start
    await task
    return elapsed * 1e9 / n


async def bench_io(n):
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)

    async def echo():
        for _ in range(n):
            wb.write(await rb.readexactly(1))
            await wb.drain()
    task = asyncio.create_task(echo())
    start = time.perf_counter()
    for _ in range(n):
        wa.write(b"x")
        await wa.drain()
        await ra.readexactly(1)
    elapsed = time.perf_counter() - start
    await task
    return elapsed * 1e6 / n


def nothing_in_a_thread():
    return None


async def bench_offload(n):
    """us per asyncio.to_thread call of a function that returns at once."""
    await asyncio.to_thread(nothing_in_a_thread)  # the pool starts
    t0 = time.perf_counter()
    for _ in range(n):
        await asyncio.to_thread(nothing_in_a_thread)
    return (time.perf_counter() - t0) / n * 1e6


async def bench_idle(n):
    mem0 = memory()
    tasks = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(n)]
    await asyncio.sleep(0)
    per = (memory() - mem0) / n
    for t in tasks:
        t.cancel()
    return per


async def serve(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def bench_http(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    print("ready", flush=True)
    await server.serve_forever()


def main():
    args = sys.argv[1:]
    if args[0] == "--uvloop":
        import uvloop
        uvloop.install()
        args = args[1:]
    what, n = args[0], int(args[1])
    if what == "http":
        asyncio.run(bench_http(n))
        return
    bench = {"switch": bench_switch, "spawn": bench_spawn, "io": bench_io, "idle": bench_idle,
             "offload": bench_offload,
             "chan0": lambda k: bench_chan(k, 1), "chan64": lambda k: bench_chan(k, 64)}[what]
    print("%.3f" % asyncio.run(bench(n)))


if __name__ == "__main__":
    main()
