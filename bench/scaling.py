#!/usr/bin/env python3
# bench/scaling.py (`make bench-scaling`): throughput of the multi-threaded workloads of
# bench/suite at 1, 2, 4, ... nproc threads and at 2x nproc (oversubscribed), for goheap
# and the Debian allocators, interleaved like suite.py. Each thread does the same work,
# so throughput = threads / wall time (work units per second); the table gives it
# relative to the same allocator's 1-thread run, and the SVG the absolute figure. Thread
# counts up to 16 that this host cannot run with one CPU per thread are listed as
# "not measured: no host". Writes scaling.md/.json/.svg under --out and, with
# --publish FILE, replaces the region between the scaling markers of FILE.
import argparse
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allocators import allocators, env_for  # noqa: E402
from suite import run_measured  # noqa: E402
from svg import grouped_bars  # noqa: E402

# The suite's programs standing in for the workloads.
WORKLOADS = [
    ("larson", "larson: objects freed by other threads, threads replaced"),
    ("xmalloc", "xmalloc-test: producer/consumer"),
    ("pareto", "alloc-test style: random replacement, Pareto sizes"),
    ("rptest", "rptest style: 1 in 4 objects freed by the next thread"),
    ("glibcthread", "glibc-thread style: thread-local random replacement"),
    ("churn", "small short-lived churn per thread"),
]
MARK_BEGIN, MARK_END = "<!-- scaling:begin -->", "<!-- scaling:end -->"


def thread_counts(ncpu):
    ts, t = [], 1
    while t <= ncpu:
        ts.append(t)
        t *= 2
    if ts[-1] != ncpu:
        ts.append(ncpu)
    ts.append(2 * ncpu)
    return ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--alloc", help="comma-separated allocator names")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--publish", help="Markdown file whose scaling region is replaced")
    a = ap.parse_args()
    ncpu = os.cpu_count() or 1
    threads = thread_counts(ncpu)
    allocs = allocators(a.build, a.alloc.split(",") if a.alloc else None)
    runs, t0 = {}, time.time()
    for r in range(a.rounds):
        for w, _ in WORKLOADS:
            for t in threads:
                order = allocs[r % len(allocs):] + allocs[:r % len(allocs)]
                for name, lib in order:
                    try:
                        wall, _rss = run_measured(os.path.join(a.bindir, w), t, a.scale,
                                                  env_for(lib), a.timeout)
                        runs.setdefault("%s/%d/%s" % (w, t, name), []).append(wall)
                    except Exception as e:  # reported as missing
                        print("warning: %s t=%d %s: %s" % (w, t, name, e), file=sys.stderr)
        print("round %d/%d (%.0f s)" % (r + 1, a.rounds, time.time() - t0), file=sys.stderr)
    names = [n for n, _ in allocs]
    tput = {k: t_ / statistics.median(v) for k, v in runs.items()
            for t_ in [int(k.split("/")[1])]}
    lines = ["Machine: %d logical CPUs; %d rounds, scale %g, median wall time; throughput = "
             "threads / time (each thread does the same work), relative to the same "
             "allocator's 1-thread run (ideal = threads up to %d)." % (ncpu, a.rounds, a.scale, ncpu), ""]
    shown = threads + [t for t in (4, 8, 16) if t > ncpu and t not in threads]
    for w, desc in WORKLOADS:
        lines += ["#### %s" % desc, "",
                  "| threads | " + " | ".join(names) + " |",
                  "|---:|" + "---:|" * len(names)]
        for t in sorted(set(shown)):
            if t > 2 * ncpu or (t > ncpu and t != 2 * ncpu):
                lines.append("| %d | " % t + " | ".join(["not measured: no host"] * len(names)) + " |")
                continue
            cells = []
            for n in names:
                one, cur = tput.get("%s/1/%s" % (w, n)), tput.get("%s/%d/%s" % (w, t, n))
                cells.append("%.2f" % (cur / one) if one and cur else "-")
            tag = " (2x oversubscribed)" if t == 2 * ncpu else ""
            lines.append("| %d%s | " % (t, tag) + " | ".join(cells) + " |")
        lines.append("")
    os.makedirs(a.out, exist_ok=True)
    svg = os.path.join(a.out, "scaling-larson.svg")
    grouped_bars(svg, "larson throughput (threads / s, higher is better)",
                 [str(t) for t in threads], names,
                 [[tput.get("larson/%d/%s" % (t, n)) for t in threads] for n in names],
                 "threads / second")
    md = "\n".join(lines)
    with open(os.path.join(a.out, "scaling.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump({"threads": threads, "runs": runs}, f, indent=1, sort_keys=True)
    print(md)
    if a.publish:
        doc = open(a.publish).read()
        dst = os.path.join(os.path.dirname(a.publish), "scaling-larson.svg")
        with open(svg) as s, open(dst, "w") as d:
            d.write(s.read())
        body = "%s\n%s\n\n![larson scaling](scaling-larson.svg)\n%s" % (MARK_BEGIN, md, MARK_END)
        if MARK_BEGIN in doc:
            doc = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _m: body,
                         doc, flags=re.S)
        else:
            doc += "\n## Scaling (`make bench-scaling`)\n\n" + body + "\n"
        with open(a.publish, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
