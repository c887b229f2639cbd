#!/usr/bin/env python3
# bench/report.py: assembles the generated part of the benchmark report (machine,
# fast-path tables, suite tables, SVG charts) from fastpath.json and suite.json.
# With --publish FILE it replaces the region between the generated-begin/end markers
# of FILE (bench/RESULTS.md) and copies the charts next to it, leaving the
# hand-written commentary around the markers alone.
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastpath  # noqa: E402
import suite  # noqa: E402
from svg import grouped_bars  # noqa: E402

BEGIN = "<!-- generated:begin (bench/report.py; do not edit by hand) -->"
END = "<!-- generated:end -->"
CHARTS = ["fastpath-instr.svg", "fastpath-batch.svg", "suite-time.svg", "suite-rss.svg"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:
        return ""


def machine():
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    pk = sh("dpkg-query -W -f='${Package} ${Version}\\n' libc6 libmimalloc2.0 "
            "libjemalloc2 libtcmalloc-minimal4 valgrind 2>/dev/null")
    return ["- CPU: %s, %s logical CPUs (`nproc`), shared with other jobs during the "
            "run; load average at report time: %s" % (
                model or "?", os.cpu_count(), sh("cut -d' ' -f1-3 /proc/loadavg")),
            "- Kernel: %s; compiler for the benchmark programs: %s" % (
                platform.release(), sh("clang --version | head -1")),
            "- Packages: " + "; ".join(pk.splitlines()),
            "- goheap: commit %s" % (sh("git rev-parse --short HEAD") or "?"),
            "- Generated: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())]


def fastpath_chart(d, outdir, mode, name, title):
    """Instructions per pair in one mode, per size, up to 32 KiB."""
    sizes = [s for s in d["sizes"] if s <= 32768]
    labels = d["variants"]
    vals = []
    for lab in labels:
        row = []
        for s in sizes:
            r = d["results"].get(lab, {}).get(mode, {}).get(str(s), {})
            v = r.get("instr") if isinstance(r, dict) else None
            row.append(None if v is None else v - d["loop_instr"])
        vals.append(row)
    grouped_bars(os.path.join(outdir, name), title,
                 [fastpath.size_label(s) for s in sizes], labels, vals,
                 "instructions per pair (log scale)", ymax=10000, fmt="%.0f",
                 log=True)


def rss_chart(d, outdir):
    names = d["allocators"]
    base = suite.BASELINE if suite.BASELINE in names else names[0]
    groups, vals = [], [[] for _ in names]
    for t in d["threads"]:
        for w in d["workloads"]:
            groups.append("%s t%d" % (w, t))
            meds = {}
            for n in names:
                s = [x[1] for x in d["runs"].get("%s/%d/%s" % (w, t, n), [])]
                meds[n] = sorted(s)[len(s) // 2] if s else None
            for i, n in enumerate(names):
                ok = meds[n] and meds.get(base)
                vals[i].append(meds[n] / meds[base] if ok else None)
    grouped_bars(os.path.join(outdir, "suite-rss.svg"),
                 "Suite peak RSS relative to %s (median; lower is better)" % base,
                 groups, names, vals, "peak RSS / %s (log scale)" % base, ref=1.0,
                 ymax=10.0, ymin=0.3, log=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="directory with the JSON results")
    ap.add_argument("--publish", help="RESULTS.md whose generated region to replace")
    a = ap.parse_args()
    parts = [BEGIN, "", "### Machine", ""] + machine() + [""]
    fp = os.path.join(a.out, "fastpath.json")
    if os.path.exists(fp):
        d = json.load(open(fp))
        parts += ["### Fast path (callgrind, N=%d and 2N pairs; timed: %d pairs, "
                  "best of runs)" % (d["n"], d["time_n"]), ""]
        for mode, name, what in (
                ("live", "fastpath-instr.svg", "live mode: the fast path"),
                ("batch", "fastpath-batch.svg",
                 "batch mode: 256 allocated, freed shuffled; refills included")):
            if mode in d["modes"]:
                fastpath_chart(d, a.out, mode, name, "malloc+free pair: callgrind "
                               "instructions (%s)" % what)
                parts += ["![fast path %s](%s)" % (mode, name), ""]
        parts += [fastpath.render(d)]
    sp = os.path.join(a.out, "suite.json")
    if os.path.exists(sp):
        d = json.load(open(sp))
        wl = [w for w in suite.WORKLOADS if w[0] in d["workloads"]]
        rss_chart(d, a.out)
        parts += ["### Workload suite", "",
                  "| workload | pattern |", "|---|---|"]
        parts += ["| %s | %s |" % w for w in wl]
        parts += ["", "![suite time](suite-time.svg)", "",
                  "![suite rss](suite-rss.svg)", "", suite.render(d, wl, a.out)]
    parts.append(END)
    text = "\n".join(parts) + "\n"
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(text)
    if a.publish:
        old = open(a.publish).read() if os.path.exists(a.publish) else BEGIN + END
        if BEGIN in old and END in old:
            new = old[:old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) +
                                                                   len(END):]
        else:
            new = old.rstrip("\n") + "\n\n" + text
        with open(a.publish, "w") as f:
            f.write(new)
        for c in CHARTS:
            src = os.path.join(a.out, c)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(os.path.dirname(a.publish), c))
        print("published into %s" % a.publish)
    else:
        print(text)


if __name__ == "__main__":
    main()
