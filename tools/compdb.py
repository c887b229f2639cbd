#!/usr/bin/env python3
"""Writes compile_commands.json for clangd from `make -n` of each arch and the host."""
import json, os, re, subprocess, sys
root = os.getcwd()
out = []
for arch in sys.argv[1:] or ["x86_64"]:
    for tgt in ("kernel", "test-host"):
        try:
            txt = subprocess.run(["make", "-nB", "--no-print-directory", "V=1", "ARCH=" + arch, tgt],
                                 capture_output=True, text=True).stdout
        except OSError:
            continue
        for line in txt.splitlines():
            m = re.search(r"\s-c\s+(\S+\.(?:c|S))\b", line)
            if m and ("clang" in line or "cc" in line.split()[0]):
                out.append({"directory": root, "command": line.strip(), "file": m.group(1)})
seen = {}
for e in out:
    seen.setdefault(e["file"], e)
json.dump(list(seen.values()), sys.stdout, indent=1)
