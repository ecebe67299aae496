#!/usr/bin/env python3
"""A GREEN_TRACE file as a timeline picture (SVG), with Python's standard
library alone.

    python3 bench/trace_svg.py TRACE.json [TRACE2.json ...] -o out.svg
        [--title TEXT] [--label TEXT ...] [--width PX]

Each trace is a panel, one under the other on one time scale of its own:
a row per green thread (its name on the left), its run slices as bars,
its parks as red ticks under the bar and its wakes as blue ticks over
it; the scheduler's poller row on top, its waits as grey bars.  Slices
closer than half a pixel are drawn as one bar, so a trace of a million
switches stays a small file.  A file cut short (no closing "]") is read
too, as Perfetto reads it.
"""
import argparse
import json
import math
import sys
from html import escape

ROW = 18            # px per row
LEFT = 170          # px for the row names
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
           "#ff9da7", "#9c755f", "#e15759", "#bab0ac"]


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Cut short: the array form without its end.
        return json.loads(text.rstrip().rstrip(",") + "\n]")


class Panel:
    """One trace: its rows and what each holds, times in ms from its start."""

    def __init__(self, events, label):
        self.label = label
        self.schedulers = {}        # pid -> name
        self.names = {}             # (pid, tid) -> name
        self.slices = {}            # (pid, tid) -> [(start, end)]
        self.ticks = {}             # (pid, tid) -> [(ms, kind)]
        self.dropped = 0
        t0 = min((e["ts"] for e in events if "ts" in e), default=0.0)
        end = t0
        for e in events:
            key = (e.get("pid", 0), e.get("tid", 0))
            ph, name = e.get("ph"), e.get("name")
            if ph == "M" and name == "process_name":
                self.schedulers[e["pid"]] = e["args"]["name"]
            elif ph == "M" and name == "thread_name":
                self.names[key] = e["args"]["name"]
            elif ph == "X":
                start = (e["ts"] - t0) / 1000
                stop = start + e.get("dur", 0) / 1000
                self.slices.setdefault(key, []).append((start, stop))
                end = max(end, e["ts"] + e.get("dur", 0))
            elif ph == "i" and name in ("park", "wake"):
                self.ticks.setdefault(key, []).append(((e["ts"] - t0) / 1000, name))
                end = max(end, e["ts"])
            elif name == "trace records dropped":
                self.dropped = max(self.dropped, e["args"]["dropped"])
        self.span = max((end - t0) / 1000, 1e-3)
        # The poller's row first in each scheduler, then threads by id.
        keys = set(self.names) | set(self.slices)
        self.rows = sorted(keys, key=lambda k: (k[0], k[1]))

    def height(self):
        return 34 + ROW * len(self.rows) + 26


def nice_step(span_ms, pixels):
    """A round step for the axis (1, 2 or 5 times a power of ten): about
    one label per 90 px."""
    want = span_ms * 90 / pixels
    exp = math.floor(math.log10(want))
    for m in (1, 2, 5, 10):
        if m * 10 ** exp >= want:
            return m * 10 ** exp
    return 10 ** (exp + 1)


def merged(intervals, ms_per_px):
    """Intervals closer than half a pixel, as one."""
    out = []
    for start, stop in sorted(intervals):
        if out and start - out[-1][1] < ms_per_px / 2:
            out[-1][1] = max(out[-1][1], stop)
        else:
            out.append([start, stop])
    return out


def draw(panel, y0, width, out):
    plot = width - LEFT - 10
    scale = plot / panel.span            # px per ms
    title = panel.label
    if panel.dropped:
        title += f"  ({panel.dropped} records dropped)"
    out.append(f'<text x="4" y="{y0 + 16}" class="h">{escape(title)}</text>')
    top = y0 + 26
    for i, key in enumerate(panel.rows):
        y = top + i * ROW
        pid, tid = key
        name = panel.names.get(key, f"#{tid}")
        if len(panel.schedulers) > 1:
            name = f"{pid}: {name}"
        if i % 2 == 0:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW}" fill="#f4f4f4"/>')
        out.append(f'<text x="4" y="{y + 13}">{escape(name)}</text>')
        colour = "#9a9a9a" if tid == 0 else PALETTE[(tid - 1) % len(PALETTE)]
        for start, stop in merged(panel.slices.get(key, []), 1 / scale):
            x = LEFT + start * scale
            w = max((stop - start) * scale, 0.6)
            tip = f"{name}: {stop - start:.3f} ms at {start:.3f} ms"
            out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW - 8}" '
                       f'fill="{colour}"><title>{escape(tip)}</title></rect>')
        seen = set()
        for ms, kind in panel.ticks.get(key, []):
            px = round(LEFT + ms * scale)
            if (px, kind) in seen:
                continue
            seen.add((px, kind))
            if kind == "park":
                out.append(f'<line x1="{px}" y1="{y + ROW - 5}" x2="{px}" y2="{y + ROW}" '
                           f'class="park"/>')
            else:
                out.append(f'<line x1="{px}" y1="{y}" x2="{px}" y2="{y + 5}" class="wake"/>')
    # The time axis.
    axis = top + ROW * len(panel.rows) + 2
    out.append(f'<line x1="{LEFT}" y1="{axis}" x2="{LEFT + plot}" y2="{axis}" stroke="#444"/>')
    step = nice_step(panel.span, plot)
    t = 0.0
    while t <= panel.span + 1e-9:
        x = LEFT + t * scale
        label = f"{t:g} ms" if step >= 1 else f"{t * 1000:g} µs"
        out.append(f'<line x1="{x:.1f}" y1="{axis}" x2="{x:.1f}" y2="{axis + 4}" stroke="#444"/>')
        out.append(f'<text x="{x:.1f}" y="{axis + 15}" text-anchor="middle">{label}</text>')
        t += step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default="")
    ap.add_argument("--label", action="append", default=[],
                    help="a panel's title, one per trace, in order (default: its file name)")
    ap.add_argument("--width", type=int, default=1000)
    args = ap.parse_args()
    panels = []
    for i, path in enumerate(args.traces):
        label = args.label[i] if i < len(args.label) else path
        panels.append(Panel(load(path), label))
    height = (30 if args.title else 6) + sum(p.height() for p in panels) + 22
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{args.width}" height="{height}" '
           f'viewBox="0 0 {args.width} {height}" font-family="sans-serif" font-size="11">',
           '<style>.h{font-weight:bold;font-size:12px} .park{stroke:#d62728;stroke-width:1}'
           ' .wake{stroke:#1f77b4;stroke-width:1}</style>',
           f'<rect width="{args.width}" height="{height}" fill="white"/>']
    y = 6
    if args.title:
        out.append(f'<text x="4" y="20" font-size="14" font-weight="bold">'
                   f'{escape(args.title)}</text>')
        y = 30
    for p in panels:
        draw(p, y, args.width, out)
        y += p.height()
    out.append(f'<text x="4" y="{height - 8}">bars: run slices (grey: the poller waits); '
               f'red ticks under a bar: parks; blue ticks over it: wakes</text>')
    out.append("</svg>")
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
