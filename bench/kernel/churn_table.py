#!/usr/bin/env python3
"""bench/kernel/churn_table.py: turns `make bench-kernel-churn` logs into the markdown
tables of bench/kernel/RESULTS.md ("Cross-CPU churn"). Usage: churn_table.py LOG...
(build/bench/kernel-churn-<arch>-smp<N>.txt); prints one table per log on stdout."""
import re
import sys

ROW = re.compile(r"^bench: churn (\S+)\s+(\d+) CPU\(s\): median\s+(\d+) k pairs/s \[(\d+)\.\.(\d+)\]"
                 r"(?:\s+x(\S+) vs 1 CPU \(per round x(\S+) \[(\S+)\.\.(\S+)\], host-adjusted x([\d.]+)\))?"
                 r".*?start skew (\d+) us(.*CUT: (\d+) of (\d+) runs)?")
HEAD = re.compile(r"^bench: churn: (\S+), (\d+) CPUs online, (\d+) pairs per CPU.*?(\d+) rounds")
LOAD = re.compile(r"load average: ([\d.]+), ([\d.]+), ([\d.]+)")
ORDER = ["goheap", "firstfit", "ring-only", "ring-self", "goheap-self"]


def table(path):
    rows, head, loads = {}, None, []
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("host:"):
                m = LOAD.search(line)
                if m:
                    loads.append(m.group(1))
            m = HEAD.match(line)
            if m:
                head = m.groups()
            m = ROW.match(line)
            if m:
                rows[(m.group(1), int(m.group(2)))] = m.groups()
    if not head or not rows:
        return "%s: no churn report in it\n" % path
    arch, smp, ops, rounds = head
    out = ["%s, SMP=%s (multi-threaded TCG), %s pairs per CPU, %s rounds; host load (1 min) "
           "before / after: %s" % (arch, smp, ops, rounds, " / ".join(loads) or "?"), "",
           "| active CPUs | " + " | ".join(ORDER) + " |", "|---:|" + "---:|" * len(ORDER)]
    for a in sorted({k[1] for k in rows}):
        cells = []
        for name in ORDER:
            g = rows.get((name, a))
            if not g:
                cells.append("-")
                continue
            cell = "%s [%s..%s]" % (g[2], g[3], g[4])
            if g[5]:
                cell += " **x%s**, adj. x%s" % (g[5], g[9])
            if g[12]:
                cell += " cut %s/%s" % (g[12], g[13])
            cells.append(cell)
        out.append("| %d | %s |" % (a, " | ".join(cells)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("\n".join(table(p) for p in sys.argv[1:]))
