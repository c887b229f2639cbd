#!/usr/bin/env python3
"""Sums the <passed> <failed> verdicts of every *.result file under a directory.

With --expect "step ...", a step that left no result (it failed to build or crashed
before writing one) counts as one failure and is recorded in _missing.result, so the
grand total in `make test` sees it too. The last line printed is `N passed, N failed`;
the exit status is non-zero when anything failed or nothing ran.
"""
import argparse
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--expect", default="")
ap.add_argument("--quiet-if", default="")
a = ap.parse_args()

os.makedirs(a.dir, exist_ok=True)
missing = [s for s in a.expect.split()
           if not os.path.exists(os.path.join(a.dir, s + ".result"))]
if missing:
    with open(os.path.join(a.dir, "_missing.result"), "w") as f:
        f.write("0 %d 0\n" % len(missing))
        for s in missing:
            f.write("# %s left no result\n" % s)

passed = failed = skipped = 0
lines = []
for root, _, files in sorted(os.walk(a.dir)):
    for fn in sorted(files):
        if not fn.endswith(".result"):
            continue
        path = os.path.join(root, fn)
        with open(path) as f:
            head = f.readline().split()
            notes = [l.rstrip() for l in f if l.startswith("#")]
        p, fl = int(head[0]), int(head[1])
        sk = int(head[2]) if len(head) > 2 else 0
        passed += p
        failed += fl
        skipped += sk
        rel = os.path.relpath(path, a.dir)[:-7]
        if fl:
            lines.append("FAIL %s: %d passed, %d failed %s" % (rel, p, fl, " ".join(notes[:3])))
if not a.quiet_if:
    for l in lines:
        print(l)
    if skipped:
        print("(%d skipped)" % skipped)
    print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
