#!/usr/bin/env python3
# bench/suite.py: runs the workload suite (bench/suite/*.c) against every allocator,
# interleaved (each round runs every allocator once per workload and thread count, in
# a rotating order), and reports median wall time and peak RSS, ratios versus
# mimalloc, min-max, 1->2-thread scaling and geometric means, as Markdown + SVG.
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allocators import BASELINE, allocators, env_for  # noqa: E402
from svg import grouped_bars  # noqa: E402

WORKLOADS = [
    ("churn", "small short-lived churn, 8-256 B"),
    ("larson", "server: frees of other threads' objects, thread churn"),
    ("xmalloc", "producer/consumer, remote frees"),
    ("scratch", "passive false sharing, 8 B objects"),
    ("pareto", "Pareto sizes up to 1 KiB, 4096 live per thread"),
    ("bigalloc", "1-8 MiB buffers, every frame touched"),
    ("realloc", "realloc growth by 1-64 B up to 64 KiB"),
    ("rptest", "mixed: 1 in 4 objects freed by the next thread, 16 B-1 KiB"),
    ("glibcthread", "thread-local random replacement, 1/x^2 sizes 16 B-4 KiB"),
]


def run_measured(exe, threads, scale, env, timeout):
    """Wall time (s) and peak RSS (KiB) of one child run."""
    errf = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen([exe, str(threads), str(scale)], env=env,
                         stdout=subprocess.PIPE, stderr=errf)
    timer = threading.Timer(timeout, p.kill)  # a hung child is killed
    timer.start()
    out = p.stdout.read()  # one line; EOF comes at exit
    _pid, status, ru = os.wait4(p.pid, 0)
    timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0 or b" ok " not in out:
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        raise RuntimeError("exit %d: %s" % (p.returncode, err[-300:]))
    # Peak RSS from the child's own VmHWM (see bench/suite/util.h); ru_maxrss would
    # include this Python driver's footprint.
    m = re.search(rb"hwm_kib=(\d+)", out)
    return wall, int(m.group(1)) if m else ru.ru_maxrss


def gmean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True, help="directory of the built workloads")
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True)
    ap.add_argument("--alloc", help="comma-separated allocator names")
    ap.add_argument("--workloads", help="comma-separated workload names")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()

    allocs = allocators(a.build, a.alloc.split(",") if a.alloc else None)
    names = [n for n, _ in allocs]
    wl = [w for w in WORKLOADS if not a.workloads or w[0] in a.workloads.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    runs = {}  # (workload, threads, alloc) -> [(wall, rss)]
    failures = {}
    t_start = time.time()
    for r in range(a.rounds):
        for w, _desc in wl:
            for t in threads:
                # Rotate the order each round so no allocator always runs first.
                order = allocs[r % len(allocs):] + allocs[:r % len(allocs)]
                for name, lib in order:
                    key = (w, t, name)
                    if key in failures:
                        continue
                    try:
                        res = run_measured(os.path.join(a.bindir, w), t, a.scale,
                                           env_for(lib), a.timeout)
                        runs.setdefault(key, []).append(res)
                    except Exception as e:
                        failures[key] = str(e)
                        print("warning: %s t=%d %s: %s" % (w, t, name, e),
                              file=sys.stderr)
        print("round %d/%d done (%.0f s)" % (r + 1, a.rounds, time.time() - t_start),
              file=sys.stderr)

    data = {"allocators": names, "workloads": [w for w, _ in wl], "threads": threads,
            "rounds": a.rounds, "scale": a.scale, "seconds": time.time() - t_start,
            "failures": {"%s/%d/%s" % k: v for k, v in failures.items()},
            "runs": {"%s/%d/%s" % k: v for k, v in runs.items()}}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "suite.json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    md = render(data, wl, a.out)
    with open(os.path.join(a.out, "suite.md"), "w") as f:
        f.write(md)
    print(md)


def render(d, wl, outdir):
    names, threads = d["allocators"], d["threads"]
    base = BASELINE if BASELINE in names else names[0]

    def series(w, t, n, idx):
        return [x[idx] for x in d["runs"].get("%s/%d/%s" % (w, t, n), [])]

    def med(w, t, n, idx):
        s = series(w, t, n, idx)
        return statistics.median(s) if s else None

    out = ["Rounds: %d, interleaved; workload scale %.2f; suite wall time %.0f s. "
           "Times are medians of the child's wall time; ratio = allocator / %s "
           "(lower is better); [min-max] over the rounds in seconds."
           % (d["rounds"], d["scale"], d["seconds"], base), ""]
    ratios = {n: [] for n in names}
    best_ratios = {n: [] for n in names}  # fastest run vs fastest run
    rss_ratios = {n: [] for n in names}
    chart_groups, chart_vals = [], [[] for _ in names]
    for t in threads:
        out.append("#### Wall time, %d thread%s\n" % (t, "s" if t > 1 else ""))
        out.append("| workload | " + " | ".join(names) + " |")
        out.append("|---|" + "---:|" * len(names))
        for w, _desc in wl:
            b = med(w, t, base, 0)
            row = []
            chart_groups.append("%s t%d" % (w, t))
            for i, n in enumerate(names):
                s = series(w, t, n, 0)
                if not s:
                    row.append("fail" if "%s/%d/%s" % (w, t, n) in d["failures"]
                               else "-")
                    chart_vals[i].append(None)
                    continue
                m = statistics.median(s)
                ratio = m / b if b else None
                if ratio:
                    ratios[n].append(ratio)
                    best_ratios[n].append(min(s) / min(series(w, t, base, 0)))
                chart_vals[i].append(ratio)
                row.append("%.3f s (%s) [%.3f-%.3f]" % (
                    m, "%.2fx" % ratio if ratio else "-", min(s), max(s)))
            out.append("| %s | %s |" % (w, " | ".join(row)))
        out.append("")
    out.append("#### Peak RSS (median VmHWM of the child, MiB; ratio vs %s)\n" % base)
    out.append("| workload | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(names))
    for t in threads:
        for w, _desc in wl:
            b = med(w, t, base, 1)
            row = []
            for n in names:
                m = med(w, t, n, 1)
                if m is None:
                    row.append("-")
                    continue
                r = m / b if b else None
                if r:
                    rss_ratios[n].append(r)
                row.append("%.1f (%.2fx)" % (m / 1024.0, r or 0))
            out.append("| %s t%d | %s |" % (w, t, " | ".join(row)))
    out.append("")
    if len(threads) >= 2:
        t1, t2 = threads[0], threads[1]
        out.append("#### Scaling %d->%d threads (throughput ratio = %d*t%d / t%d; "
                   "ideal %.1f; each thread does the same work)\n"
                   % (t1, t2, t2, t1, t2, t2 / t1))
        out.append("| workload | " + " | ".join(names) + " |")
        out.append("|---|" + "---:|" * len(names))
        for w, _desc in wl:
            row = []
            for n in names:
                a1, a2 = med(w, t1, n, 0), med(w, t2, n, 0)
                row.append("%.2f" % (t2 / t1 * a1 / a2) if a1 and a2 else "-")
            out.append("| %s | %s |" % (w, " | ".join(row)))
        out.append("")
    out.append("#### Geometric means over every workload and thread count "
               "(ratio vs %s)\n" % base)
    out.append("| | " + " | ".join(names) + " |")
    out.append("|---|" + "---:|" * len(names))
    out.append("| time | " + " | ".join(
        "%.2f" % gmean(ratios[n]) if gmean(ratios[n]) else "-" for n in names) + " |")
    out.append("| time, best runs | " + " | ".join(
        "%.2f" % gmean(best_ratios[n]) if gmean(best_ratios[n]) else "-"
        for n in names) + " |")
    out.append("| peak RSS | " + " | ".join(
        "%.2f" % gmean(rss_ratios[n]) if gmean(rss_ratios[n]) else "-"
        for n in names) + " |")
    out.append("\n(time: ratio of medians; time, best runs: ratio of each allocator's "
               "fastest run, less sensitive to other jobs on the machine.)")
    if d["failures"]:
        out.append("\nFailures (left out of the means):\n")
        for k, v in sorted(d["failures"].items()):
            out.append("- %s: %s" % (k, v.strip().replace("\n", " ")[:200]))
    grouped_bars(os.path.join(outdir, "suite-time.svg"),
                 "Suite wall time relative to %s (median; lower is better)" % base,
                 chart_groups, names, chart_vals, "time / %s (log scale)" % base,
                 ref=1.0, ymax=30.0, ymin=0.1, log=True)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
