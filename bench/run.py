#!/usr/bin/env python3
"""make bench: libgreen side by side with the systems users would pick instead.

Runs every workload on every peer that is installed, each run in a process
of its own under a time limit, and prints one table per workload: the
median of the runs, the min and max, and the ratio to libgreen's default
configuration.  Writes bench/results/latest.json and a chart per workload.

    bench/run.py BUILD_DIR [--quick] [--million] [--only=PREFIX] [--runs=N]

A peer that is missing is skipped with a line naming the package to
install; one that fails is reported as failed, and the rest go on.

GREEN_BENCH_PEERS=DIR adds peers the project neither ships nor builds:
each executable DIR/NAME is a peer row NAME in the switch, spawn and
io-pingpong tables, run as `DIR/NAME WORKLOAD N` like bench/green.c (the
last line of its output the figure; exit 2: a workload it does not offer).
DIR/NAME.version, if there, is its line among the versions.
"""
import json
import math
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
QUICK = "--quick" in sys.argv
# --only=PREFIX runs the workloads whose names start with PREFIX.
ONLY = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "")
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
PY = "/usr/bin/python3"          # the distribution's, which has uvloop and gevent
# --runs=N: each figure the median of N runs (3; 1 with --quick).
RUNS = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--runs=")),
                3 if not QUICK else 1))
TIMEOUT = 90
TRACE = os.environ.get("GREEN_BENCH_TRACE", "/dev/null")

# Peers: name -> how to run it, what it is, and how to get it.
#   kind: "libgreen", "peer" or "floor"
#   scale: the fraction of N it runs (the interpreted ones are slow)
#   arg: the peer's own name for a workload, where it differs
PEERS = {
    "libgreen":         dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                             http=[f"{BUILD}/examples/http_server"]),
    "libgreen poll":    dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                             http=[f"{BUILD}/examples/http_server"],
                             env={"GREEN_POLLER": "poll"}),
    "libgreen fast":    dict(cmd=[f"{BUILD}/fast/bench/green"], kind="libgreen",
                             http=[f"{BUILD}/fast/examples/http_server"]),
    # "libgreen" is libgreen's default poller: the ring where the kernel
    # gives it (issue 32).  epoll, the default before and the fallback:
    "libgreen epoll":   dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                             http=[f"{BUILD}/examples/http_server"],
                             env={"GREEN_POLLER": "epoll"}),
    "libgreen fast epoll": dict(cmd=[f"{BUILD}/fast/bench/green"], kind="libgreen",
                                http=[f"{BUILD}/fast/examples/http_server"],
                                env={"GREEN_POLLER": "epoll"}),
    # The file workload's reads as pread on the offload pool, under epoll.
    "libgreen offload": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                             arg={"file": "file-offload"}),
    # The http-hello server as it was before streams: its own buffer, no
    # parsing (bench/http_raw.c), beside the example on a stream.
    "libgreen own buffer": dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                                http=[f"{BUILD}/bench/http_raw"]),
    # That server with plain read and write, made green by libgreen-hook.
    "libgreen hooked":  dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                             http=[f"{BUILD}/bench/http_hooked"]),
    # GREEN_TRACE on: what the timeline costs.  Into /dev/null unless
    # GREEN_BENCH_TRACE names a file (a switch row writes some 100 MB a
    # second of JSON, less what the rings drop), so the figure is the
    # schedulers' records and the writer's formatting on the same CPU.
    "libgreen traced":  dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                             http=[f"{BUILD}/examples/http_server"], env={"GREEN_TRACE": TRACE}),
    "libgreen fast traced": dict(cmd=[f"{BUILD}/fast/bench/green"], kind="evaluated",
                                 http=[f"{BUILD}/fast/examples/http_server"],
                                 env={"GREEN_TRACE": TRACE}),
    "State Threads":    dict(cmd=[f"{BUILD}/bench/st"], kind="peer", pkg="libst-dev"),
    "GNU Pth":          dict(cmd=[f"{BUILD}/bench/pth"], kind="peer", pkg="libpth-dev", scale=0.1),
    "Go":               dict(cmd=[f"{BUILD}/bench/go-bench"], kind="peer", pkg="golang-go",
                             env={"GOMAXPROCS": "1"}),
    # Every scheduler of a run on both cores (green_run_attr).
    # Its http server listens on every scheduler (SO_REUSEPORT).
    "libgreen (2 schedulers)": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                                    env={"GREEN_BENCH_SCHEDULERS": "2"}, cpus="0,1",
                                    http=[f"{BUILD}/examples/http_server"],
                                    http_args=["30000", "2"]),
    "libgreen fast (2 schedulers)": dict(cmd=[f"{BUILD}/fast/bench/green"], kind="libgreen",
                                         env={"GREEN_BENCH_SCHEDULERS": "2"}, cpus="0,1",
                                         http=[f"{BUILD}/fast/examples/http_server"],
                                         http_args=["30000", "2"]),
    # One acceptor on the first scheduler placing each connection with
    # GREEN_PLACE_ANY (http-hello only).
    "libgreen (2 schedulers, one acceptor)": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                                    cpus="0,1", http=[f"{BUILD}/examples/http_server"],
                                    http_args=["30000", "2", "any"]),
    "libgreen fast (2 schedulers, one acceptor)": dict(cmd=[f"{BUILD}/fast/bench/green"],
                                    kind="libgreen", cpus="0,1",
                                    http=[f"{BUILD}/fast/examples/http_server"],
                                    http_args=["30000", "2", "any"]),
    # Boost.Fiber's work-stealing scheduler, on one OS thread and on two.
    "Boost.Fiber":      dict(cmd=[f"{BUILD}/bench/fiber"], kind="peer", pkg="libboost-fiber-dev",
                             env={"BOOST_FIBER_THREADS": "1"}),
    "Boost.Fiber (2 threads)": dict(cmd=[f"{BUILD}/bench/fiber"], kind="peer",
                                    pkg="libboost-fiber-dev",
                                    env={"BOOST_FIBER_THREADS": "2"}, cpus="0,1"),
    # cpus: where a peer that uses both cores runs (the rest are pinned).
    "Go (2 cores)":     dict(cmd=[f"{BUILD}/bench/go-bench"], kind="peer", pkg="golang-go",
                             env={"GOMAXPROCS": "2"}, cpus="0,1"),
    "asyncio":          dict(cmd=[PY, f"{HERE}/peers/pyasync.py"], kind="peer", scale=0.1,
                             pkg="python3"),
    "uvloop":           dict(cmd=[PY, f"{HERE}/peers/pyasync.py", "--uvloop"], kind="peer",
                             scale=0.1, pkg="python3-uvloop", module="uvloop"),
    "gevent":           dict(cmd=[PY, f"{HERE}/peers/pygevent.py"], kind="peer", scale=0.1,
                             pkg="python3-gevent", module="gevent"),
    "libuv":            dict(cmd=[f"{BUILD}/bench/uv"], kind="peer", pkg="libuv1-dev"),
    # green_wait on an fd given to green_fd_adopt, beside one that is not.
    "libgreen adopted": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                             arg={"wait": "wait-adopted", "waitctl": "waitctl-adopted"}),
    "libgreen poll adopted": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                                  env={"GREEN_POLLER": "poll"},
                                  arg={"wait": "wait-adopted", "waitctl": "waitctl-adopted"}),
    "libgreen epoll adopted": dict(cmd=[f"{BUILD}/bench/green"], kind="libgreen",
                                   env={"GREEN_POLLER": "epoll"},
                                   arg={"wait": "wait-adopted", "waitctl": "waitctl-adopted"}),
    "libgreen fast epoll adopted": dict(cmd=[f"{BUILD}/fast/bench/green"], kind="libgreen",
                                        env={"GREEN_POLLER": "epoll"},
                                        arg={"wait": "wait-adopted"}),
    # The fairness budget turned off (GREEN_BUDGET=0), for the flood row,
    # under the pollers whose reads do not park (the ring's each do).
    "libgreen epoll, no budget": dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                                      env={"GREEN_BUDGET": "0", "GREEN_POLLER": "epoll"}),
    "libgreen poll, no budget": dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                                     env={"GREEN_BUDGET": "0", "GREEN_POLLER": "poll"}),
    # Each spawn eager (green_attr_t.eager): the child runs at once, as a
    # call, as libdill's go() and neco_start run theirs.
    "libgreen fast eager": dict(cmd=[f"{BUILD}/fast/bench/green"], kind="evaluated",
                                arg={"spawn": "spawn-eager"}),
    # wait-pingpong's wait as a green_select on the fd and a channel.
    "libgreen select":  dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                             arg={"wait": "select"}),
    "libgreen select adopted": dict(cmd=[f"{BUILD}/bench/green"], kind="evaluated",
                                    arg={"wait": "select-adopted"}),
    "setjmp/longjmp":   dict(cmd=[f"{BUILD}/bench/sjlj"], kind="evaluated"),
    "swapcontext":      dict(cmd=[f"{BUILD}/bench/floor"], kind="floor"),
    "fcontext":         dict(cmd=[f"{BUILD}/bench/fcontext"], kind="floor",
                             pkg="libboost-context-dev"),
    # A page fault on each of N fresh stacks' first page.
    "fresh pages":      dict(cmd=[f"{BUILD}/bench/floor"], kind="floor"),
    # The machine's own costs, printed in the header (machine_costs).
    "machine":          dict(cmd=[f"{BUILD}/bench/floor"], kind="floor"),
    # Its io exchange makes the calls a green_wait pair makes too.
    "epoll by hand":    dict(cmd=[f"{BUILD}/bench/floor"], kind="floor", arg={"wait": "io"}),
    # The same exchange read as soon as each byte is there: it never waits.
    "no wait at all":   dict(cmd=[f"{BUILD}/bench/floor"], kind="floor",
                             arg={"io": "io-nowait"}),
    # Two OS threads on the two CPUs passing one word back and forth.
    "cache line by hand": dict(cmd=[f"{BUILD}/bench/floor"], kind="floor",
                               arg={"chan0": "across"}, cpus="0,1"),
}

# Workloads: what each measures, its N, its unit, and who runs it.
WORKLOADS = [
    dict(name="switch", title="switch: two green threads hand control back and forth",
         arg="switch", n=1_000_000, unit="ns/switch", better="lower",
         peers=["libgreen", "libgreen fast", "libgreen epoll", "libgreen fast epoll",
                "libgreen traced", "libgreen fast traced", "State Threads", "GNU Pth", "Go", "asyncio",
                "uvloop", "gevent", "setjmp/longjmp", "swapcontext", "fcontext"]),
    dict(name="spawn", title="spawn: create, run to completion and join",
         arg="spawn", n=100_000, unit="ns/spawn", better="lower",
         peers=["libgreen", "libgreen fast", "libgreen epoll", "libgreen fast epoll",
                "libgreen fast eager", "libgreen traced", "State Threads", "GNU Pth", "Go",
                "asyncio",
                "uvloop", "gevent", "swapcontext", "fcontext"]),
    # Spawned on the second scheduler and joined from the first; Go's
    # goroutine runs on whichever P takes it.
    dict(name="spawn-across", title="spawn-across: spawn on another scheduler, run and join",
         arg="spawn", n=100_000, unit="ns/spawn", better="lower",
         peers=["libgreen (2 schedulers)", "libgreen fast (2 schedulers)", "Go (2 cores)"]),
    dict(name="channel-unbuffered", title="channel, unbuffered ping-pong",
         arg="chan0", n=1_000_000, unit="ns/message", better="lower",
         peers=["libgreen", "libgreen fast", "libgreen epoll", "libgreen fast epoll", "Go", "State Threads", "asyncio", "uvloop",
                "gevent"]),
    # The ponger on the second scheduler; Go's goroutines on whichever P
    # takes them.
    dict(name="channel-across", title="channel-across: unbuffered ping-pong between two "
                                      "schedulers",
         arg="chan0", n=200_000, unit="ns/message", better="lower",
         peers=["libgreen", "libgreen fast", "libgreen (2 schedulers)",
                "libgreen fast (2 schedulers)", "Go", "Go (2 cores)", "cache line by hand"]),
    dict(name="channel-buffered", title="channel, capacity 64, ping-pong",
         arg="chan64", n=1_000_000, unit="ns/message", better="lower",
         peers=["libgreen", "libgreen fast", "Go", "asyncio", "uvloop", "gevent"]),
    dict(name="mutex", title="mutex handoff: two threads take turns on one mutex",
         arg="mutex", n=1_000_000, unit="ns/handoff", better="lower",
         peers=["libgreen", "libgreen fast"]),
    dict(name="io-pingpong", title="io-pingpong: one byte over an AF_UNIX socketpair",
         arg="io", n=100_000, unit="us/round trip", better="lower",
         peers=["libgreen", "libgreen traced", "libgreen poll", "libgreen fast", "libgreen epoll",
                "libgreen fast epoll", "State Threads", "GNU Pth", "Go",
                "asyncio", "uvloop", "gevent", "libuv", "epoll by hand", "no wait at all"]),
    dict(name="wait-pingpong",
         title="wait-pingpong: io-pingpong with one side's own I/O and green_wait, as a library",
         arg="wait", n=100_000, unit="us/round trip", better="lower",
         peers=["libgreen", "libgreen adopted", "libgreen select", "libgreen select adopted",
                "libgreen poll", "libgreen poll adopted", "libgreen epoll", "libgreen epoll adopted",
                "libgreen fast epoll", "libgreen fast epoll adopted", "epoll by hand"]),
    dict(name="wait-epoll-ctl", title="wait-epoll-ctl: epoll_ctl calls per green_wait in it",
         arg="waitctl", n=100_000, unit="epoll_ctl/wait", better="lower",
         peers=["libgreen epoll", "libgreen epoll adopted"]),
    dict(name="offload", title="offload: a call that returns at once, run on a worker thread",
         arg="offload", n=100_000, unit="us/call", better="lower",
         peers=["libgreen", "libgreen fast", "libgreen epoll", "asyncio", "uvloop"]),
    # GREEN_BENCH_FILE, made once (bench_file); "libgreen" is the ring's
    # green_read, which parks, "libgreen epoll" epoll's, whose reads of a
    # file block the OS thread.
    dict(name="file", title="file: worst lateness of a 10 ms ticker while 100 threads read "
                            "1 GiB in 64 KiB chunks, dropped from the page cache",
         arg="file", n=1024, unit="ms late, worst", better="lower", unscaled=True,
         peers=["libgreen", "libgreen epoll", "libgreen offload"]),
    # The flooding OS thread on the other CPU (cpus), so that the flooded
    # socket always has data, as from a fast client.
    dict(name="flood", title="flood: worst round trip of a ping every 10 ms on one connection "
                             "while another connection of the same OS thread is flooded",
         arg="flood", n=100, unit="ms, worst", better="lower", unscaled=True, cpus="0,1",
         peers=["libgreen", "libgreen poll", "libgreen epoll", "libgreen fast",
                "libgreen epoll, no budget", "libgreen poll, no budget"]),
    # A million threads alive at once (on one scheduler, the tree unfolds
    # breadth first): slow, so not in --quick.  n must be a power of 10.
    # On 2 schedulers the root's ten subtrees go round them.
    dict(name="skynet", title="skynet: a tree of 1,000,000 threads, fan-out 10, each parent "
                              "summing its ten children",
         arg="skynet", n=1_000_000, unit="ms", better="lower", unscaled=True, full=True,
         peers=["libgreen", "libgreen fast", "libgreen (2 schedulers)",
                "libgreen fast (2 schedulers)", "Go", "Go (2 cores)", "Boost.Fiber",
                "Boost.Fiber (2 threads)"]),
    # What a green_run costs to set up and tear down: the ring's more.
    dict(name="start", title="start: a green_run whose function returns at once",
         arg="start", n=2_000, unit="us/run", better="lower",
         peers=["libgreen", "libgreen epoll", "libgreen poll", "libgreen fast"]),
    dict(name="idle-memory-10k", title="idle-memory: 10,000 parked",
         arg="idle", n=10_000, unit="bytes/thread", better="lower", unscaled=True,
         peers=["libgreen", "State Threads", "GNU Pth", "Go", "asyncio", "uvloop", "gevent"]),
    # Memory does not vary from run to run (min and max agree to 0.1%): one
    # run.  Pth's scheduler walks every thread on each switch, and 100,000
    # take it minutes.
    dict(name="idle-memory-100k", title="idle-memory: 100,000 parked",
         arg="idle", n=100_000, unit="bytes/thread", better="lower", unscaled=True, full=True,
         runs=1, peers=["libgreen", "State Threads", "Go", "asyncio", "uvloop", "gevent"],
         notes={"GNU Pth": "not run: its scheduler walks every thread on each switch; "
                           "100,000 take it minutes"}),
]
HTTP_PEERS = ["libgreen", "libgreen traced", "libgreen poll", "libgreen fast", "libgreen epoll",
              "libgreen fast epoll", "libgreen own buffer", "libgreen hooked",
              "libgreen (2 schedulers)", "libgreen fast (2 schedulers)",
              "libgreen (2 schedulers, one acceptor)", "libgreen fast (2 schedulers, one acceptor)",
              "State Threads", "GNU Pth",
              "Go", "asyncio", "uvloop", "gevent", "libuv", "epoll by hand"]
IDLE_PEERS = [p for p in HTTP_PEERS if p not in ("GNU Pth", "State Threads", "libgreen own buffer",
                                                  "libgreen traced",
                                                  "libgreen hooked", "libgreen (2 schedulers)",
                                                  "libgreen fast (2 schedulers)",
                                                  "libgreen (2 schedulers, one acceptor)",
                                                  "libgreen fast (2 schedulers, one acceptor)")]
SELECT_LIMIT = "not run: it waits with select(2), which stops at 1024 fds"

# Outside peers (GREEN_BENCH_PEERS=DIR), built from their own sources by
# whoever runs the bench: no recipe for them is kept here, so that none of
# their code, nor a way to fetch or build it, is ever part of libgreen.
# A name already in PEERS is left alone, so that no outside program can
# stand in for libgreen or for one of the packaged peers.
OUTSIDE = os.environ.get("GREEN_BENCH_PEERS", "")
OUTSIDE_WORKLOADS = ("switch", "spawn", "io-pingpong")


def add_outside_peers():
    """Adds each executable in OUTSIDE to PEERS and to OUTSIDE_WORKLOADS'
    rows; returns their names."""
    names = sorted(os.listdir(OUTSIDE)) if os.path.isdir(OUTSIDE) else []
    names = [n for n in names if n not in PEERS and not n.endswith(".version")
             and os.path.isfile(os.path.join(OUTSIDE, n))
             and os.access(os.path.join(OUTSIDE, n), os.X_OK)]
    for n in names:
        PEERS[n] = dict(cmd=[os.path.join(OUTSIDE, n)], kind="peer", outside=True)
    for w in WORKLOADS:
        if w["name"] in OUTSIDE_WORKLOADS:
            w["peers"] = w["peers"] + names
    return names


OUTSIDE_PEERS = add_outside_peers()


class NotOffered(Exception):
    """An outside peer's exit 2: it has no such workload (libaco has no
    I/O), which is no failure."""


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:
        return ""


def available(name):
    """None if the peer can run, else why not: what to install, or that
    one of libgreen's own programs is not built."""
    p = PEERS[name]
    if p["cmd"][0] == PY:
        if not os.path.exists(PY):
            return "install python3"
        if "module" in p and subprocess.run([PY, "-c", "import " + p["module"]],
                                            capture_output=True).returncode != 0:
            return "install " + p["pkg"]
        return None
    if all(os.access(c, os.X_OK) for c in [p["cmd"][0]] + p.get("http", [])[:1]):
        return None
    return "install " + p["pkg"] if "pkg" in p else "not built (make bench-peers)"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def env_of(name):
    env = dict(os.environ)
    env.update(PEERS[name].get("env", {}))
    return env


def run_once(name, args, cpu=None):
    cmd = ([] if cpu is None or not shutil.which("taskset") else ["taskset", "-c", str(cpu)])
    cmd += PEERS[name]["cmd"] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env_of(name),
                       preexec_fn=raise_nofile)
    lines = r.stdout.strip().splitlines()
    # Only an outside peer's exit 2 means that: green.c exits 2 on failures too.
    if r.returncode == 2 and PEERS[name].get("outside"):
        raise NotOffered()
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"exit {r.returncode}: {r.stderr.strip()[-200:]}")
    return float(lines[-1])


def summarise(values):
    v = sorted(values)
    return dict(median=v[len(v) // 2], min=v[0], max=v[-1], runs=values)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A peer's http-hello server, pinned to CPU 0, for the length of a with."""

    def __init__(self, name):
        self.name, self.port = name, free_port()

    def __enter__(self):
        peer = PEERS[self.name]
        cpus = peer.get("cpus", "0")  # a server on several schedulers gets both CPUs
        cmd = (["taskset", "-c", cpus] if shutil.which("taskset") else [])
        cmd += peer["http"] + [str(self.port)] + peer.get("http_args", []) if "http" in peer else \
            peer["cmd"] + ["http", str(self.port)]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, env=env_of(self.name), preexec_fn=raise_nofile)
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if line.strip() == "ready" or line.startswith("listening on"):
                return self
            if not line and self.p.poll() is not None:
                break
        self.__exit__()
        raise RuntimeError("server did not start")

    def cpu_seconds(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def http_hello(name, seconds):
    """wrk -t1 -c100 on CPU 1 against the server on CPU 0: requests per
    second, and the server's CPU microseconds per request."""
    with Server(name) as srv:
        cpu0 = srv.cpu_seconds()
        cmd = (["taskset", "-c", "1"] if shutil.which("taskset") else [])
        cmd += ["wrk", "-t1", "-c100", f"-d{seconds}s", f"http://127.0.0.1:{srv.port}/"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT).stdout
        cpu = srv.cpu_seconds() - cpu0
    rps, total = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise RuntimeError("wrk printed no result: " + (out.strip().splitlines() or ["nothing"])[0])
    rps, total = float(rps.group(1)), int(total.group(1))
    if re.search(r"Non-2xx|Socket errors", out) or total == 0:
        raise RuntimeError("wrk saw errors")
    return rps, cpu * 1e6 / total


def idle_connections(name, idle, busy, seconds):
    with Server(name) as srv:
        cmd = (["taskset", "-c", "1"] if shutil.which("taskset") else [])
        cmd += [f"{BUILD}/bench/loadgen", str(srv.port), str(idle), str(busy), str(seconds)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           preexec_fn=raise_nofile)
        if r.returncode != 0:
            raise RuntimeError(f"loadgen exit {r.returncode}")
        return float(r.stdout.strip().splitlines()[-1])


def table(w, rows):
    base = next((r for r in rows if r["peer"] == "libgreen" and "median" in r), None)
    print(f"\n{w['title']}  ({w['unit']}, {w['better']} is better)")
    print(f"  {'':22} {'median':>12} {'min':>12} {'max':>12}  {'vs libgreen':>11}")
    # Small figures (us per round trip, calls per wait) keep two decimals.
    small = all(r["max"] < 10 for r in rows if "median" in r)
    fmt = "12.2f" if small else "12.1f"
    for r in rows:
        label = r["peer"] + {"floor": " (floor)", "evaluated": " (eval)"}.get(r["kind"], "")
        if "median" not in r:
            print(f"  {label:22} {r['note']}")
            continue
        ratio = r["median"] / base["median"] if base and base["median"] else None
        r["ratio"] = ratio
        print(f"  {label:22} {r['median']:{fmt}} {r['min']:{fmt}} {r['max']:{fmt}}  "
              f"{(f'{ratio:10.2f}x' if ratio else '')}")


def chart(w, rows):
    if not shutil.which("gnuplot"):
        return
    data = [r for r in rows if "median" in r]
    if not data:
        return
    dat = os.path.join(RESULTS, w["name"] + ".dat")
    with open(dat, "w") as f:
        for r in data:
            label = r["peer"] + {"floor": " (floor)", "evaluated": " (eval)"}.get(r["kind"], "")
            f.write(f"\"{label}\" {r['median']} {r['min']} {r['max']}\n")
    png = os.path.join(RESULTS, w["name"] + ".png")
    # Figures that span more than a hundredfold get a log scale, so that
    # the smallest bars stay visible; the bars then start at a power of ten.
    lo, hi = min(r["min"] for r in data), max(r["max"] for r in data)
    if lo > 0 and hi / lo > 100:
        start = 10 ** math.floor(math.log10(lo / 2))
        scale = f"set logscale x\nset xrange [{start}:*]"
    else:
        start, scale = 0, "set xrange [0:*]"
    script = f"""
set terminal pngcairo noenhanced size 900,{120 + 32 * len(data)} font "sans,10"
set output "{png}"
set title "{w['title']} ({w['unit']}, {w['better']} is better)"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [-0.5:{len(data) - 0.5}]
set ytics nomirror
{scale}
set grid x
unset key
plot "{dat}" using ({start}):($0):({start}):2:($0-0.3):($0+0.3):ytic(1) with boxxyerror lc rgb "#4a7ab8", \\
     "" using 2:($0):3:4 with xerrorbars lc rgb "#222222" pt 0
"""
    subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.remove(dat)


def libgreen_version():
    """GREEN_VERSION, as the header says it."""
    with open(os.path.join(HERE, "..", "include", "green.h")) as f:
        m = re.search(r'#define GREEN_VERSION "([^"]+)"', f.read())
    return m.group(1) if m else "unknown"


def machine_costs():
    """What a system call and a first-touch page fault cost here, medians of
    three pinned runs: the regime every row below was measured in."""
    def median_of(what, n):
        return sorted(run_once("machine", [what, str(n)], cpu=1) for _ in range(3))[1]
    missing = available("machine")
    if missing:
        return {"system call": f"not measured: {missing}", "page fault": ""}
    return {"system call": f"{median_of('syscall', 1_000_000):.0f} ns (getppid, the cheapest)",
            "page fault": f"{median_of('fault', 100_000):.0f} ns (first touch of a fresh 4 KiB page)"}


def versions():
    def deb(pkg):
        return sh(f"dpkg-query -W -f '${{Version}}' {pkg} 2>/dev/null") or "not installed"
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(),
        **machine_costs(),
        "compiler": sh("${CC:-cc} --version | head -1"),
        "libgreen": libgreen_version() + " (switch backends ucontext, fast; pollers epoll, poll, uring)",
        "State Threads": deb("libst-dev") + " (event system: "
                         + (sh(f"{BUILD}/bench/st eventsys 0") or "?") + ")",
        "GNU Pth": deb("libpth-dev"),
        "Go": sh("go version") or "not installed",
        "python3": sh(f"{PY} --version"), "uvloop": deb("python3-uvloop"),
        "gevent": deb("python3-gevent"), "libuv": deb("libuv1-dev"),
        "Boost.Context": deb("libboost-context-dev"), "Boost.Fiber": deb("libboost-fiber-dev"),
        "wrk": deb("wrk"),
        **{name: outside_version(name) for name in OUTSIDE_PEERS},
        # A mistyped GREEN_BENCH_PEERS would otherwise only drop its rows.
        **({"outside peers": f"none: GREEN_BENCH_PEERS={OUTSIDE} is no directory"}
           if OUTSIDE and not os.path.isdir(OUTSIDE) else {}),
    }


def outside_version(name):
    """What DIR/NAME.version says of an outside peer: its commit and flags,
    as whoever built it wrote them."""
    try:
        with open(os.path.join(OUTSIDE, name + ".version")) as f:
            return f"{f.read().strip()} (GREEN_BENCH_PEERS)"
    except OSError:
        return f"{os.path.join(OUTSIDE, name)} (GREEN_BENCH_PEERS; no {name}.version)"


def wanted(name):
    return name.startswith(ONLY)


def skipped(name, tool):
    """The row of a peer or tool that is missing, saying what to install;
    None when both are there."""
    missing = available(name) or ("install " + tool if tool and not shutil.which(tool) else None)
    return dict(peer=name, kind=PEERS[name]["kind"], note=f"skipped: {missing}") if missing else None


def measure(w, name, fn, tool=None):
    """Runs fn as w asks; a peer or a tool that is missing is skipped with
    the package to install, never failed."""
    missing = skipped(name, tool)
    if missing:
        return missing
    runs = min(RUNS, (w or {}).get("runs", RUNS))
    try:
        return dict(peer=name, kind=PEERS[name]["kind"], **summarise([fn() for _ in range(runs)]))
    except Exception as e:  # a failed peer never stops the rest
        return dict(peer=name, kind=PEERS[name]["kind"], note=f"failed: {e}"[:100])


def measure_all(w, names, fn, tool=None):
    """Runs fn(name) for each of names, as measure does, but in rounds: each
    round runs every peer once.  On a shared machine whose speed drifts
    during the run, the drift then falls on every peer alike, not on
    whichever ran at the time.  Returns a row per name."""
    got = {name: skipped(name, tool) or [] for name in names}
    for _ in range(min(RUNS, (w or {}).get("runs", RUNS))):
        for name in names:
            if isinstance(got[name], list):
                try:
                    got[name].append(fn(name))
                except NotOffered:
                    got[name] = dict(peer=name, kind=PEERS[name]["kind"], note="not offered")
                except Exception as e:  # a failed peer never stops the rest
                    got[name] = dict(peer=name, kind=PEERS[name]["kind"],
                                     note=f"failed: {e}"[:100])
    return {name: dict(peer=name, kind=PEERS[name]["kind"], runs=v) if isinstance(v, list) else v
            for name, v in got.items()}


def summarised(row):
    return dict(row, **summarise(row["runs"])) if "runs" in row else row


def bench_file(mib=1024):
    """The file workload's file: mib MiB of random bytes, made once, on the
    disk of the build (a tmpfs would keep it in memory)."""
    path = os.path.join(BUILD, "bench", "file.data")
    if not os.path.exists(path) or os.path.getsize(path) != mib << 20:
        with open(path + ".tmp", "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())  # clean pages: POSIX_FADV_DONTNEED drops them
        os.rename(path + ".tmp", path)
    return path


def main():
    os.makedirs(RESULTS, exist_ok=True)
    if wanted("file"):
        os.environ["GREEN_BENCH_FILE"] = bench_file()
    machine = versions()
    print("make bench: libgreen beside the peers" + (" (QUICK)" if QUICK else ""))
    for k, v in machine.items():
        print(f"  {k:14} {v}")
    print(f"  median of {RUNS} run(s), taken in rounds of every peer; micro-benchmarks pinned "
          "to CPU 1; servers on CPU 0, load on CPU 1")
    results = {}
    for w in WORKLOADS:
        if (QUICK and w.get("full")) or not wanted(w["name"]):
            continue
        def once(name, w=w):
            scale = 1 if w.get("unscaled") else PEERS[name].get("scale", 1)
            n = int(w["n"] * scale * (0.2 if QUICK and not w.get("unscaled") else 1))
            arg = PEERS[name].get("arg", {}).get(w["arg"], w["arg"])
            return run_once(name, [arg, str(n)], cpu=w.get("cpus", PEERS[name].get("cpus", 1)))
        rows = [summarised(r) for r in measure_all(w, w["peers"], once).values()]
        rows += [dict(peer=p, kind="peer", note=note) for p, note in w.get("notes", {}).items()]
        table(w, rows)
        chart(w, rows)
        results[w["name"]] = dict(title=w["title"], unit=w["unit"], better=w["better"], rows=rows)

    # libgreen at scale: what the peers' tables do not show.
    if wanted("libgreen-scale"):
        scale_section(results)
    if wanted("http-hello"):
        http_section(results)
    if wanted("idle-connections"):
        idle_section(results)

    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(dict(machine=machine, quick=QUICK, runs=RUNS, workloads=results), f, indent=1)
    print(f"\nwrote {os.path.relpath(RESULTS)}/latest.json and a chart per workload")


def scale_section(results):
    sizes = [10_000] if QUICK else [10_000, 100_000]
    if "--million" in sys.argv:
        sizes.append(1_000_000)
    w = dict(name="libgreen-scale", title="libgreen at scale", unit="see each row",
             better="lower", runs=1)
    rows = []
    for n in sizes:
        # On a VM the first process to touch this much fresh memory pays the
        # host for backing it (at a million: twice the time of the next): a
        # warm-up that touches as many pages, not reported, pays it instead.
        measure(w, "fresh pages", lambda: run_once("fresh pages", ["pages", str(n)]))
        got = measure(w, "libgreen", lambda: run_once("libgreen", ["spawnscale", str(n)]))
        rows.append(dict(got, peer=f"spawn ns, up to {n:,}"))
        got = measure(w, "libgreen fast", lambda: run_once("libgreen fast", ["spawnscale", str(n)]))
        rows.append(dict(got, peer=f"  fast, up to {n:,}"))
        # Its floor: the page fault on each new stack's first page.
        got = measure(w, "fresh pages", lambda: run_once("fresh pages", ["pages", str(n)]))
        rows.append(dict(got, peer=f"  floor: first-page faults"))
        if n == 1_000_000:
            got = measure(w, "libgreen", lambda: run_once("libgreen", ["idle", str(n)]))
            rows.append(dict(got, peer=f"idle bytes, {n:,}"))
    got = measure(w, "libgreen", lambda: run_once("libgreen", ["timers", "100000"]))
    rows.append(dict(got, peer="timers: p99 ms late, 100,000"))
    print(f"\n{w['title']}  (one run each; spawn includes the first run and park)")
    for r in rows:
        if "median" in r:
            print(f"  {r['peer']:30} {r['median']:12.1f}")
        else:
            print(f"  {r['peer']:30} {r['note']}")
    results[w["name"]] = dict(title=w["title"], unit=w["unit"], better=w["better"], rows=rows)



def http_section(results):
    seconds = 1 if QUICK else 2  # wrk takes whole seconds
    rps_rows, cpu_rows = [], []
    for got in measure_all(None, HTTP_PEERS, lambda name: http_hello(name, seconds),
                           tool="wrk").values():
        name = got["peer"]
        if "runs" in got:
            rps = [r[0] for r in got["runs"]]
            cpu = [r[1] for r in got["runs"]]
            rps_rows.append(dict(peer=name, kind=got["kind"], **summarise(rps)))
            cpu_rows.append(dict(peer=name, kind=got["kind"], **summarise(cpu)))
        else:
            rps_rows.append(got)
            cpu_rows.append(got)
    for key, rows, unit, better, title in [
            ("http-hello-cpu", cpu_rows, "server CPU us/request", "lower",
             "http-hello: server CPU per request, wrk -t1 -c100 (the figure to compare)"),
            ("http-hello-rps", rps_rows, "requests/s", "higher",
             "http-hello: requests per second (wrk may saturate its CPU first)")]:
        w = dict(name=key, title=title, unit=unit, better=better)
        table(w, rows)
        chart(w, rows)
        results[key] = dict(title=title, unit=unit, better=better, rows=rows)



def idle_section(results):
    idle, busy = (2000, 100) if QUICK else (10000, 100)
    w = dict(name="idle-connections", unit="requests/s of the busy ones", better="higher",
             title=f"idle-connections: {idle} idle and {busy} busy keep-alive connections")
    rows = [summarised(r) for r in
            measure_all(w, IDLE_PEERS, lambda name: idle_connections(name, idle, busy, 0.5))
            .values()]
    st = sh(f"{BUILD}/bench/st eventsys 0") if not available("State Threads") else ""
    if st and st != "select":
        rows.append(measure(w, "State Threads",
                            lambda: idle_connections("State Threads", idle, busy, 0.5)))
    elif st:
        rows.append(dict(peer="State Threads", kind="peer", note=SELECT_LIMIT + " (this libst)"))
    rows.append(dict(peer="GNU Pth", kind="peer", note=SELECT_LIMIT))
    table(w, rows)
    chart(w, rows)
    results[w["name"]] = dict(title=w["title"], unit=w["unit"], better=w["better"], rows=rows)


if __name__ == "__main__":
    main()
