#!/usr/bin/env python3
# bench/callgrind_pairs.py: instructions per malloc+free pair of a workload program under
# callgrind, for each allocator: the inclusive cost of every call the program's own code
# makes into the allocator's entry points (malloc, free, calloc, realloc and their
# aliases), divided by the number of frees. The program's own work (random numbers,
# touching the objects) is left out; the allocator's slow paths, locks and refills are
# all in. Also the whole run's instructions. Callgrind counts are exact, so one run per
# allocator suffices.
#
#   python3 bench/callgrind_pairs.py --bindir build/bench/suite --workloads larson,pareto \
#       --threads 2 --scale 0.05 [--alloc goheap,mimalloc] [--lib old=/path/libgoheap.so] [--keep DIR]
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allocators import allocators, env_for  # noqa: E402

ENTRY = re.compile(r"^(malloc|free|calloc|realloc|cfree|goheap_(malloc|free|calloc|realloc)|"
                   r"mi_(malloc|free|calloc|realloc)|je_(malloc|free|calloc|realloc)|"
                   r"tc_(malloc|free|calloc|realloc)|__libc_(malloc|free|calloc|realloc))$")


def parse(path, prog):
    """(allocator instructions in calls from prog's object, frees, total instructions)."""
    names = {"ob": {}, "fn": {}}
    ob = fn = cob = cfn = None
    incall = False
    cost = frees = total = 0

    def name(kind, s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m:
            return s
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), s)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                ob = name("ob", line[3:])
            elif line.startswith("fl=") or line.startswith("fi=") or line.startswith("fe="):
                pass
            elif line.startswith("fn="):
                fn = name("fn", line[3:])
                cob = None
            elif line.startswith("cob="):
                cob = name("ob", line[4:])
            elif line.startswith("cfi=") or line.startswith("cfl="):
                pass
            elif line.startswith("cfn="):
                cfn = name("fn", line[4:])
            elif line.startswith("calls="):
                incall = int(line[6:].split()[0])
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                if incall is not False:
                    callee = cfn.split("'")[0]
                    if ob and os.path.basename(ob) == prog and ENTRY.match(callee):
                        cost += int(line.split()[1])
                        if callee.endswith("free"):
                            frees += incall
                    incall = False
                    cob = None
    return cost, frees, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--alloc")
    ap.add_argument("--workloads", default="larson,pareto,glibcthread,rptest,xmalloc")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--keep", help="keep the callgrind.out files here")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                    help="another LD_PRELOAD library to compare (e.g. an older goheap build)")
    a = ap.parse_args()
    allocs = allocators(a.build, a.alloc.split(",") if a.alloc else None)
    allocs += [tuple(x.split("=", 1)) for x in a.lib]
    outdir = a.keep or tempfile.mkdtemp()
    os.makedirs(outdir, exist_ok=True)
    print("| workload | " + " | ".join(n for n, _ in allocs) + " |")
    print("|---|" + "---:|" * len(allocs))
    for w in a.workloads.split(","):
        cells = []
        for name, lib in allocs:
            out = os.path.join(outdir, "callgrind.%s.%s" % (w, name))
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                   os.path.join(a.bindir, w), str(a.threads), str(a.scale)]
            r = subprocess.run(cmd, env=env_for(lib), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode != 0:
                cells.append("failed")
                print("warning: %s %s: %s" % (w, name, r.stderr.decode()[-300:]), file=sys.stderr)
                continue
            cost, frees, total = parse(out, w)
            cells.append("%.0f (%.0f M)" % (cost / max(frees, 1), total / 1e6))
        print("| %s | %s |" % (w, " | ".join(cells)), flush=True)


if __name__ == "__main__":
    main()
