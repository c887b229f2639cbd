#!/usr/bin/env python3
"""tools/quickstart.py: extracts the region-mode quick start from docs/PORTING.md, the
fenced blocks whose info string is "c quickstart:<file>", into OUT_DIR/<file>; fails
when they hold more than 60 lines, or when examples/region-x86_64/<file> differs from
them (the example boots exactly what the document shows).

usage: quickstart.py OUT_DIR [ROOT]"""
import os
import re
import sys

MAX_LINES = 60
out_dir = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..")
doc = os.path.join(root, "docs", "PORTING.md")
example = os.path.join(root, "examples", "region-x86_64")

blocks = {}
name = None
for line in open(doc).read().split("\n"):
    m = re.match(r"^```c quickstart:(\S+)\s*$", line)
    if name is None and m:
        name = m.group(1)
        blocks.setdefault(name, [])
        continue
    if name is not None:
        if line.startswith("```"):
            name = None
            continue
        blocks[name].append(line)

errors = []
if not blocks:
    errors.append(f"no 'c quickstart:' blocks in {doc}")
total = sum(len(v) for v in blocks.values())
if total > MAX_LINES:
    errors.append(f"the quick start is {total} lines, over {MAX_LINES}")
os.makedirs(out_dir, exist_ok=True)
for fname, lines in sorted(blocks.items()):
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, fname), "w") as f:
        f.write(text)
    ex = os.path.join(example, fname)
    if not os.path.isfile(ex) or open(ex).read() != text:
        errors.append(f"{ex} differs from its quick-start block in docs/PORTING.md")
for e in errors:
    print(f"quickstart: {e}", file=sys.stderr)
print(f"quickstart: {', '.join(sorted(blocks))}: {total} lines")
sys.exit(1 if errors else 0)
