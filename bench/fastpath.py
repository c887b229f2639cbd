#!/usr/bin/env python3
# bench/fastpath.py: malloc+free fast-path cost per size class and allocator, as
# callgrind instructions per pair ((I(2N) - I(N)) / N, counted inside pair_loop only)
# and as ns per pair from a plain timed run (best of a few). Writes a Markdown table
# and JSON. See bench/README.md.
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allocators import allocators, env_for  # noqa: E402

SIZES = [8, 16, 32, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 32768, 65536,
         1 << 20]
MODES = ["solo", "live", "batch"]


def callgrind_count(exe, fn, args, env):
    """Instructions executed inside `fn` (and its callees) for one run."""
    cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=" + fn,
           "--callgrind-out-file=/dev/null", exe] + [str(a) for a in args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    m = re.search(r"Collected\s*:\s*(\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError("callgrind failed (%s): %s" % (" ".join(cmd),
                                                          r.stderr[-800:]))
    return int(m.group(1))


def instr_per_pair(exe, size, mode, n, env):
    fn = {"empty": "empty_loop", "batch": "batch_loop", "tiny": "tiny_loop",
          "realloc": "realloc_loop"}.get(mode, "pair_loop")
    a = callgrind_count(exe, fn, [size, n, mode], env)
    b = callgrind_count(exe, fn, [size, 2 * n, mode], env)
    return (b - a) / n


def ns_per_pair(exe, size, mode, n, env, reps):
    best = None
    for _ in range(reps):
        r = subprocess.run([exe, str(size), str(n), mode], env=env,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("run failed: %s" % r.stderr[-400:])
        v = float(r.stdout.split()[3])
        best = v if best is None else min(best, v)
    return best


def size_label(s):
    if s >= 1 << 20:
        return "%dM" % (s >> 20)
    if s >= 1024:
        return "%dK" % (s >> 10)
    return str(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True, help="fastpath binary (plain malloc)")
    ap.add_argument("--direct", help="fastpath binary linked to libgoheap.a")
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--alloc", help="comma-separated allocator names")
    ap.add_argument("--sizes", help="comma-separated sizes")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--n", type=int, default=20000, help="callgrind N")
    ap.add_argument("--time-n", type=int, default=2000000, help="timed pairs")
    ap.add_argument("--reps", type=int, default=3, help="timed runs, best kept")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-time", action="store_true")
    a = ap.parse_args()

    sizes = [int(x, 0) for x in a.sizes.split(",")] if a.sizes else SIZES
    modes = a.modes.split(",")
    allocs = allocators(a.build, a.alloc.split(",") if a.alloc else None)
    # (label, exe, env) for every variant measured
    variants = []
    goheap_env = {}
    for name, lib in allocs:
        variants.append((name, a.exe, env_for(lib, goheap_env if name == "goheap"
                                                else None)))
    if a.direct and os.path.exists(a.direct):
        variants.append(("goheap-direct", a.direct, env_for(None)))

    os.makedirs(a.out, exist_ok=True)
    base_env = env_for(None)
    have_vg = shutil.which("valgrind") is not None
    if not have_vg:
        print("warning: no valgrind: instruction counts left out", file=sys.stderr)
    loop_instr = instr_per_pair(a.exe, 64, "empty", a.n, base_env) if have_vg else 0.0
    loop_ns = ns_per_pair(a.exe, 64, "empty", a.time_n, base_env, a.reps)

    jobs = []
    for label, exe, env in variants:
        for mode in modes:
            for s in sizes:
                jobs.append((label, exe, env, mode, s))

    def one(job):
        label, exe, env, mode, s = job
        # Large sizes are slow under valgrind for some allocators (page faults, mmap
        # per pair): use fewer iterations; the difference method still holds.
        if not have_vg:
            return (label, mode, s, None)
        n = a.n if s <= 65536 else max(a.n // 10, 512)
        if mode == "batch":
            n = max(n // 256 * 256, 512)
        try:
            ipp = instr_per_pair(exe, s, mode, n, env)
        except Exception as e:  # report, keep going
            print("warning: %s %s %d: %s" % (label, mode, s, e), file=sys.stderr)
            ipp = None
        return (label, mode, s, ipp)

    results = {}
    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for label, mode, s, ipp in ex.map(one, jobs):
            # "instr": gross, as counted (the tables subtract loop_instr);
            # "instr_net": the same net of the empty loop, as the tables print it.
            results.setdefault(label, {}).setdefault(mode, {})[s] = {
                "instr": ipp, "instr_net": None if ipp is None else ipp - loop_instr}
    # Timing runs one at a time so they do not compete with each other.
    if not a.no_time:
        for label, exe, env, mode, s in jobs:
            tn = a.time_n if s <= 65536 else max(a.time_n // 20, 1000)
            try:
                results[label][mode][s]["ns"] = ns_per_pair(exe, s, mode, tn, env,
                                                             a.reps)
            except Exception as e:
                print("warning: timing %s %s %d: %s" % (label, mode, s, e),
                      file=sys.stderr)
                results[label][mode][s]["ns"] = None

    # goheap's tiny allocator (noscan flag, < 16 B): only reachable through the flags
    # call, so only in the direct build.
    tiny = {}
    if a.direct and os.path.exists(a.direct):
        for s in (1, 8, 15):
            try:
                tiny[s] = {"instr": instr_per_pair(a.direct, s, "tiny", a.n, base_env)
                           if have_vg else None}
                if not a.no_time:
                    tiny[s]["ns"] = ns_per_pair(a.direct, s, "tiny", a.time_n, base_env,
                                                a.reps)
            except Exception as e:
                print("warning: tiny %d: %s" % (s, e), file=sys.stderr)
    data = {"loop_instr": loop_instr, "tiny": tiny, "loop_ns": loop_ns, "sizes": sizes,
            "modes": modes, "n": a.n, "time_n": a.time_n,
            "variants": [v[0] for v in variants], "results": results}
    with open(os.path.join(a.out, "fastpath.json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    md = render(data)
    with open(os.path.join(a.out, "fastpath.md"), "w") as f:
        f.write(md)
    print(md)


def render(d):
    out = []
    out.append("Loop overhead (empty loop, subtracted below): %.1f instructions, "
               "%.2f ns per iteration.\n" % (d["loop_instr"], d["loop_ns"]))
    labels = d["variants"]

    def table(title, mode, note, key, fmt):
        out.append("\n#### %s (%s)\n" % (title, note))
        out.append("| size | " + " | ".join(labels) + " |")
        out.append("|---:|" + "---:|" * len(labels))
        for s in d["sizes"]:
            row = []
            for lab in labels:
                v = d["results"].get(lab, {}).get(mode, {}).get(str(s),
                    d["results"].get(lab, {}).get(mode, {}).get(s, {}))
                v = v.get(key) if isinstance(v, dict) else None
                row.append("-" if v is None else fmt(v))
            out.append("| %s | %s |" % (size_label(s), " | ".join(row)))

    for mode in d["modes"]:
        desc = {"solo": "one object allocated and freed per iteration",
                "live": "64 other objects of the class stay live",
                "batch": "256 allocated, then freed in shuffled order"}.get(mode, mode)
        table("Instructions per malloc+free pair, net of loop", mode,
              mode + ": " + desc, "instr", lambda v: "%.0f" % (v - d["loop_instr"]))
        table("ns per pair, net of loop, best of runs", mode, mode, "ns",
              lambda v: "%.1f" % max(v - d["loop_ns"], 0))
    tiny = d.get("tiny") or {}
    if tiny:
        out.append("\n#### goheap tiny allocator (goheap-direct, "
                   "goheap_malloc_flags(size, GOHEAP_NOSCAN), net of loop)\n")
        out.append("| size | instructions | ns |")
        out.append("|---:|---:|---:|")
        for s, v in sorted(tiny.items(), key=lambda kv: int(kv[0])):
            ns = v.get("ns")
            ins = v.get("instr")
            out.append("| %s | %s | %s |" % (s, "-" if ins is None else
                                               "%.0f" % (ins - d["loop_instr"]),
                       "-" if ns is None else "%.1f" % max(ns - d["loop_ns"], 0)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
