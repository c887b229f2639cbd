#!/usr/bin/env python3
"""KTAP verdict for one run (a QEMU boot or a host test binary).

Counts KTAP *leaf* test cases as passed or failed, and turns everything else that
can go wrong (panic, timeout, missing or short plan, wrong exit status) into failures,
so a run can never look green by saying less. Writes "<passed> <failed>" to --result.

    ktap.py --name N --log FILE --status S --pass-status P --result OUT
            [--timed-out] [--expect-panic MSG] [--panic-regex RE]
    ktap.py --self-test DIR      run the fixture pairs in DIR, print KTAP
"""
import argparse
import json
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bc")
RESULT = re.compile(r"^(\s*)(ok|not ok)\s+(\d+)\b(?:\s*-)?\s*(.*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$",
                    re.IGNORECASE)
PLAN = re.compile(r"^(\s*)1\.\.(\d+)\s*(?:#.*)?$")
# The kernel prints "KERNEL PANIC on cpu N: <message>"; hosted aborts print
# "goheap: fatal: <message>".
DEFAULT_PANIC = r"(?:KERNEL PANIC on cpu \d+|goheap: fatal): (.*)$"


def clean_lines(text):
    for raw in text.replace("\r", "").split("\n"):
        yield ANSI.sub("", raw).rstrip()


def verdict(text, status, pass_status, timed_out=False, expect_panic=None,
            panic_regex=DEFAULT_PANIC):
    """Returns (passed, failed, skipped, reasons)."""
    lines = list(clean_lines(text))
    panic_re = re.compile(panic_regex)
    panics = []
    for ln in lines:
        m = panic_re.search(ln)
        if m:
            panics.append(m.group(1).strip())

    if expect_panic is not None:
        # One leaf: the boot passes only if that exact message was the panic.
        if expect_panic in panics and status != pass_status and not timed_out:
            return 1, 0, 0, []
        why = "expected panic %r not seen" % expect_panic
        if panics:
            why += "; saw %r" % panics[0]
        if timed_out:
            why += "; timed out"
        return 0, 1, 0, [why]

    passed = failed = skipped = 0
    reasons = []
    had_child = {}          # indent -> a deeper result was seen since the last result here
    child_failed = {}       # indent -> a failed leaf was seen below since the last result here
    blocks = []             # open plan blocks: [indent, planned, seen]
    any_plan = False
    any_result = False

    def close_blocks(deeper_than):
        nonlocal failed
        inner_open = False
        while blocks and blocks[-1][0] > deeper_than:
            ind, planned, seen = blocks.pop()
            missing = planned - seen
            # A suite cut off midway already counted its own missing cases; its
            # missing result line in the parent is not a second failure.
            if missing > 0 and inner_open:
                missing -= 1
            if missing > 0:
                failed += missing
                reasons.append("short plan: %d of %d results at indent %d" % (seen, planned, ind))
            inner_open = True

    for ln in lines:
        m = PLAN.match(ln)
        if m:
            ind = len(m.group(1))
            close_blocks(ind - 1)
            blocks.append([ind, int(m.group(2)), 0])
            any_plan = True
            continue
        m = RESULT.match(ln)
        if not m:
            continue
        any_result = True
        ind = len(m.group(1))
        close_blocks(ind)
        if blocks and blocks[-1][0] == ind:
            blocks[-1][2] += 1
        is_leaf = not had_child.get(ind, False)
        bad_below = child_failed.get(ind, False)
        had_child[ind] = False
        child_failed[ind] = False
        ok = m.group(2).lower() == "ok"
        directive = (m.group(5) or "").upper()
        name = m.group(4)
        if is_leaf:
            if directive == "SKIP":
                skipped += 1
            elif ok or directive == "TODO":
                passed += 1
            else:
                failed += 1
                reasons.append("not ok: %s" % name)
        elif not ok and not bad_below and directive != "SKIP":
            failed += 1            # a suite failed although none of its cases did
            reasons.append("suite not ok: %s" % name)
        failed_here = (not ok and directive not in ("SKIP", "TODO")) or bad_below
        for d in range(ind):
            had_child[d] = True
            if failed_here:
                child_failed[d] = True
    close_blocks(-1)

    if not any_plan:
        failed += 1
        reasons.append("missing plan")
    if not any_result and any_plan:
        reasons.append("no results")
    if timed_out:
        failed += 1
        reasons.append("timed out")
    elif panics:
        failed += 1
        reasons.append("panic: %s" % panics[0])
    elif status != pass_status and failed == 0:
        # A clean-looking log with the wrong status (a triple fault exits 0).
        failed += 1
        reasons.append("exit status %s, expected %s" % (status, pass_status))
    return passed, failed, skipped, reasons


def self_test(fixture_dir):
    """Each fixture is NAME.log plus NAME.json: {status, pass_status, timed_out,
    expect_panic, passed, failed}. Prints KTAP, exits 0 when every fixture agrees."""
    names = sorted(f[:-5] for f in os.listdir(fixture_dir) if f.endswith(".json"))
    print("KTAP version 1")
    print("1..%d" % len(names))
    bad = 0
    for i, n in enumerate(names, 1):
        with open(os.path.join(fixture_dir, n + ".json")) as f:
            spec = json.load(f)
        with open(os.path.join(fixture_dir, n + ".log"), errors="replace") as f:
            text = f.read()
        p, fl, _, why = verdict(text, spec.get("status"), spec.get("pass_status", 33),
                                spec.get("timed_out", False), spec.get("expect_panic"))
        good = (p, fl) == (spec["passed"], spec["failed"])
        if not good:
            bad += 1
            print("# %s: got %d passed %d failed %s; want %d passed %d failed"
                  % (n, p, fl, why, spec["passed"], spec["failed"]))
        print("%s %d %s" % ("ok" if good else "not ok", i, n))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name")
    ap.add_argument("--log")
    ap.add_argument("--status", type=int)
    ap.add_argument("--pass-status", type=int, default=33)
    ap.add_argument("--timed-out", action="store_true")
    ap.add_argument("--expect-panic")
    ap.add_argument("--panic-regex", default=DEFAULT_PANIC)
    ap.add_argument("--result")
    ap.add_argument("--self-test")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(self_test(a.self_test))
    try:
        with open(a.log, errors="replace") as f:
            text = f.read()
    except OSError as e:
        text = ""
        print("%s: cannot read log: %s" % (a.name, e))
    p, fl, sk, why = verdict(text, a.status, a.pass_status, a.timed_out,
                             a.expect_panic, a.panic_regex)
    if a.result:
        with open(a.result, "w") as f:
            f.write("%d %d %d\n" % (p, fl, sk))
            for w in why:
                f.write("# %s\n" % w)
    extra = (" (%d skipped)" % sk) if sk else ""
    print("%s: %d passed, %d failed%s" % (a.name, p, fl, extra))
    for w in why[:20]:
        print("  %s: %s" % (a.name, w))
    sys.exit(1 if fl else 0)


if __name__ == "__main__":
    main()
