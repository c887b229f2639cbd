#!/usr/bin/env python3
"""tools/kprofile.py: takes a kernel heap profile out of a boot log (docs/profiling.md,
"Kernel"). The kernel writes it over the console in frames (kernel/heap/kprofile.c):

  goheap-profile <id> B name=<name> cpu=<cpu> format=legacy-heap encoding=base64
  goheap-profile <id> D <seq> <base64>
  goheap-profile <id> E frames=<n> bytes=<n> crc32=<hex>

Other CPUs' lines may come between frames, and a frame may follow another CPU's
unfinished line on the same log line: frames are found anywhere in a line. Every frame
0..n-1 must be there once (a repeated identical frame is accepted), and the length and
CRC-32 must match the end line, or nothing is written.

usage: kprofile.py LOG OUT [--name NAME] [--elf ELF]   write the last complete profile
                                                       (or the last one named NAME)
       kprofile.py LOG --list                          list the profiles in LOG
--elf replaces the image name in the profile's mapping (goheap.elf) with ELF's absolute
path, so that `go tool pprof -top OUT` finds it without being told;
`go tool pprof -top ELF OUT` works either way."""
import argparse
import base64
import binascii
import os
import re
import sys
import zlib

FRAME = re.compile(r"goheap-profile (\d+) ([BDE])(?: (.*))?$")


def attrs(text):
    return dict(w.split("=", 1) for w in (text or "").split() if "=" in w)


def scan(path):
    """{id: {"begin": attrs, "frames": {seq: [b64...]}, "end": attrs, "line": n}}"""
    profs = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.decode("utf-8", "replace").rstrip("\r\n").rstrip("\r")
            m = FRAME.search(line)
            if not m:
                continue
            pid, kind, rest = int(m.group(1)), m.group(2), m.group(3) or ""
            p = profs.setdefault(pid, {"begin": None, "frames": {}, "end": None, "line": n})
            if kind == "B":
                p["begin"] = attrs(rest)
            elif kind == "E":
                p["end"] = attrs(rest)
            else:
                seq, _, data = rest.partition(" ")
                if not seq.isdigit():
                    continue
                p["frames"].setdefault(int(seq), []).append(data.strip())
    return profs


def decode(pid, p):
    """The profile's bytes, or raises ValueError saying what is wrong."""
    name = (p["begin"] or {}).get("name", "?")
    what = "profile %d (%s, log line %d)" % (pid, name, p["line"])
    if p["begin"] is None:
        raise ValueError("%s: no begin line" % what)
    end = p["end"]
    if end is None:
        raise ValueError("%s: no end line (the boot stopped while writing it?)" % what)
    if "error" in end:
        raise ValueError("%s: the kernel could not write it (error %s)" % (what, end["error"]))
    try:
        nframes, nbytes, crc = int(end["frames"]), int(end["bytes"]), int(end["crc32"], 16)
    except (KeyError, ValueError):
        raise ValueError("%s: malformed end line %r" % (what, end))
    out = []
    for seq in range(nframes):
        copies = set(p["frames"].get(seq, []))
        if not copies:
            raise ValueError("%s: frame %d of %d missing" % (what, seq, nframes))
        if len(copies) > 1:
            raise ValueError("%s: frame %d appears with different contents" % (what, seq))
        try:
            out.append(base64.b64decode(copies.pop(), validate=True))
        except (binascii.Error, ValueError):
            raise ValueError("%s: frame %d is not base64" % (what, seq))
    extra = sorted(s for s in p["frames"] if s >= nframes)
    if extra:
        raise ValueError("%s: frame %d beyond the %d announced" % (what, extra[0], nframes))
    data = b"".join(out)
    if len(data) != nbytes:
        raise ValueError("%s: %d bytes, the end line says %d" % (what, len(data), nbytes))
    got = zlib.crc32(data) & 0xffffffff
    if got != crc:
        raise ValueError("%s: CRC-32 %08x, the end line says %08x" % (what, got, crc))
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--name")
    ap.add_argument("--elf")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    profs = scan(a.log)
    if a.list:
        for pid in sorted(profs):
            p = profs[pid]
            try:
                st = "%d bytes, CRC ok" % len(decode(pid, p))
            except ValueError as e:
                st = "bad: %s" % e
            print("%d %s: %s" % (pid, (p["begin"] or {}).get("name", "?"), st))
        return 0
    if not a.out:
        ap.error("OUT is required (or --list)")
    cands = [pid for pid in sorted(profs)
             if a.name is None or (profs[pid]["begin"] or {}).get("name") == a.name]
    if not cands:
        sys.exit("kprofile: %s: no heap profile%s (boot with goheap=memprofile=serial)"
                 % (a.log, " named %s" % a.name if a.name else ""))
    # The last complete one; if none is, the last one's error.
    errors = []
    for pid in reversed(cands):
        try:
            data = decode(pid, profs[pid])
            break
        except ValueError as e:
            errors.append(str(e))
            if a.name is not None:
                sys.exit("kprofile: %s: %s" % (a.log, e))
    else:
        sys.exit("kprofile: %s: %s" % (a.log, errors[0]))
    if a.elf:
        elf = os.path.abspath(a.elf).encode()
        data = re.sub(rb"(?m)^([0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+ )goheap\.elf$",
                      lambda m: m.group(1) + elf, data)
    with open(a.out, "wb") as f:
        f.write(data)
    print("kprofile: profile %d (%s): %d bytes, CRC-32 ok -> %s"
          % (pid, profs[pid]["begin"].get("name", "?"), len(data), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
