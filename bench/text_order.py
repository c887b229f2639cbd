#!/usr/bin/env python3
# bench/text_order.py: writes hosted/text-order.ld, the order of libgoheap.so's hot
# functions (docs/alloc.md, "The hosted platform", "Text layout"): every function of
# the library that any of a set of programs runs under callgrind; first those of the
# programs whose functions fit in one 64 KiB window together, then the rest; in each
# part, those more programs ran first.
#
#   python3 bench/text_order.py --lib build/host/libgoheap.so --bindir build/bench/suite \
#       [--scale 0.5] [--jobs 2] [--out hosted/text-order.ld] [--keep DIR]
#
# The programs: every bench/suite workload at 1 and 2 threads, `ls -l`, `sort` and a
# short python3 run, sampling 8 times as often as by default (SAMPLING). Functions that no program ran stay behind, in object order.
import argparse
import collections
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from allocators import env_for  # noqa: E402
from suite import WORKLOADS  # noqa: E402

# Input sections that are not the library's own functions but run in every process:
# the C runtime's start-up and exit code, and pthread_atfork (libc_nonshared.a).
# Heap profile samples 8 times as often as by default: a program that allocates more
# than the default's 512 KiB takes the sampling path a few times, at random, so a run at
# the default rate may miss it.
SAMPLING = "memprofilerate=65536"
WINDOW = 64 << 10  # the kernel's fault-around: a file's pages are mapped 64 KiB at a time
ALWAYS = ["*crtbeginS.o(.text .text.*)", "*crtendS.o(.text .text.*)",
          "*libc_nonshared.a:*(.text .text.*)"]


def functions_run(cg, lib):
    """Names of lib's functions with instructions of their own in callgrind file cg."""
    obs, fns, run = {}, {}, set()
    ob = fn = None
    call_cost = False  # the cost line after calls= is the callee's, not fn's
    for line in open(cg, errors="replace"):
        m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            table = obs if m.group(2) == "ob" else fns
            if m.group(4) is not None:
                table[m.group(3)] = m.group(4)
            if not m.group(1):
                if m.group(2) == "ob":
                    ob = table.get(m.group(3))
                else:
                    fn = table.get(m.group(3))
            continue
        if line.startswith("calls="):
            call_cost = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            if not call_cost and ob and fn and os.path.realpath(ob) == lib:
                run.add(re.sub(r"'\d+$", "", fn))
            call_cost = False
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--scale", default="0.5")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="hosted/text-order.ld")
    ap.add_argument("--keep")
    a = ap.parse_args()
    lib = os.path.realpath(a.lib)
    outdir = a.keep or tempfile.mkdtemp()
    os.makedirs(outdir, exist_ok=True)
    progs = [("%s-t%d" % (w, t), [os.path.join(a.bindir, w), str(t), a.scale])
             for w, _ in WORKLOADS for t in (1, 2)]
    progs += [("ls", ["ls", "-l", "/usr/lib"]), ("sort", ["sort", "/etc/services"]),
              ("python3", [sys.executable, "-c", "import json; print(len(json.dumps(list(range(9999)))))"])]

    def one(p):
        name, cmd = p
        cg = os.path.join(outdir, "callgrind." + name)
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg] + cmd,
                           env=env_for(lib, {"GOHEAPDEBUG": SAMPLING}), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit("%s: exit %d: %s" % (name, r.returncode, r.stderr.decode()[-300:]))
        return name, functions_run(cg, lib)

    runs = {}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        for name, fns in ex.map(one, progs):
            print("%-16s %d functions" % (name, len(fns)), file=sys.stderr)
            runs[name] = fns
    # Only the library's own functions (each in its own section, -ffunction-sections),
    # not PLT entries; their sizes for the first window.
    nm = subprocess.run(["nm", "-S", "--defined-only", lib], capture_output=True, text=True).stdout
    size, at, alias = {}, {}, {}
    for l in nm.splitlines():
        f = l.split()
        if len(f) == 4 and f[2] in "tTwW":
            # its room in .text: functions are 16-byte aligned
            size.setdefault(f[3], (int(f[1], 16) + 15) & ~15)
            at[int(f[0], 16)] = f[3]
    for l in nm.splitlines():  # aliases (malloc=goheap_malloc): their function's name
        f = l.split()
        if len(f) == 3 and f[1] in "tTwW" and f[2] not in size and int(f[0], 16) in at:
            alias[f[2]] = at[int(f[0], 16)]
    for name in runs:
        runs[name] = {alias.get(f, f) for f in runs[name]}
    count = collections.Counter(f for fns in runs.values() for f in fns)
    sections = subprocess.run(["readelf", "-SW", lib], capture_output=True, text=True).stdout
    text_at = int(re.search(r"\] \.text\s+PROGBITS\s+([0-9a-f]+)", sections).group(1), 16)
    # First: the functions of as many programs as fit whole in the first 64 KiB window
    # (after what precedes .text in it, less a margin for the C runtime's few functions),
    # smallest addition first; then the rest, the most often run first.
    budget = WINDOW - text_at % WINDOW - 1024
    nbytes = lambda fns: sum(size[f] for f in fns)  # noqa: E731
    first, left = set(), {n: {f for f in fns if f in size} for n, fns in runs.items()}
    while left:
        n = min(left, key=lambda n: (nbytes(left[n] - first), n))
        if nbytes(first | left[n]) > budget:
            break
        first |= left.pop(n)
    fits = [n for n in runs if n not in left]
    head = ("hosted/text-order.ld: the input sections that go first in libgoheap.so's .text, "
            "in this order (docs/alloc.md, \"The hosted platform\", \"Text layout\"). Made by bench/text_order.py "
            "(scale %s, %d programs): first the functions of the %d programs whose functions "
            "fit in the first 64 KiB window together (%d B: %s), then the rest; in each, "
            "those more programs ran first (the number of programs before each group)."
            % (a.scale, len(progs), len(fits), nbytes(first), ", ".join(fits)))
    lines = textwrap.wrap(head, 84, initial_indent="/* ", subsequent_indent=" * ")
    lines[-1] += " */"
    lines += ["    " + s for s in ALWAYS]
    for part in (first, set(size) & set(count) - first):
        last = None
        lines.append("    /* %s */" % ("first window" if part is first else "the rest"))
        for fn in sorted(part, key=lambda f: (-count[f], f)):
            if count[fn] != last:
                lines.append("    /* %d */" % count[fn])
                last = count[fn]
            lines.append("    *(.text.%s)" % fn)
    open(a.out, "w").write("\n".join(lines) + "\n")
    print("%s: %d functions, %d B; the first window's %d B hold all of %d programs' functions"
          % (a.out, len(set(size) & set(count)), nbytes(set(size) & set(count)), nbytes(first), len(fits)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
