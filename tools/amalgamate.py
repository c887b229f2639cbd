#!/usr/bin/env python3
"""tools/amalgamate.py: writes build/goheap.c, the allocator core (alloc/*.c and the
headers they include) as one translation unit that any kernel adds to its build, next
to a copy of include/goheap.h. The platform's inline half comes from a
"goheap_config.h" that the porter writes (docs/PORTING.md). Fails when two files
define the same static name, or a file-local macro differently, since one translation
unit cannot hold both.

The core's internal names (gh_*) are shared between alloc/'s files, so they have
external linkage in the separate objects of the kernel and hosted builds. One file
needs no such sharing: every file-scope declaration of a gh_ function or object is
made static here (INTERNAL below), so the object exports goheap_* and the weak memory
functions only, and an embedder's own gh_ names (Linux's Gunyah driver uses that
prefix) cannot clash with the allocator's at link time.

usage: amalgamate.py OUT_DIR [ROOT]"""
import glob
import os
import re
import sys

out_dir = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..")
alloc = os.path.join(root, "alloc")
incdir = os.path.join(root, "include")

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')
DEFINE = re.compile(r'^\s*#\s*define\s+(\w+)')
# A top-level static definition: the name before the first "(", "=", "[" or ";",
# once any __attribute__((...)) is taken out of the line (strip_attributes).
STATIC = re.compile(r'^static\b[^(=\[;{]*?(\w+)\s*[(=\[;]')


def strip_attributes(line):
    """line without its __attribute__((...)) groups, parentheses balanced."""
    while True:
        i = line.find("__attribute__")
        if i < 0:
            return line
        j = line.find("(", i)
        if j < 0:
            return line
        depth = 0
        for k in range(j, len(line)):
            depth += {"(": 1, ")": -1}.get(line[k], 0)
            if depth == 0:
                break
        else:
            return line  # continues on the next line: left as it is
        line = line[:i] + line[k + 1:]

# A file-scope declaration or definition of a gh_ function or object, written on one
# line from column 0: its specifiers (storage class, qualifiers, the type, the core's
# attribute macros), then the declarator's name and what follows it. Lines starting
# with static, typedef, a preprocessor directive or whitespace are never matched, nor
# "struct gh_x;" or "struct gh_x {" (tags, not declarations).
INTERNAL = re.compile(
    r'^(?!static\b|typedef\b)((?:(?:extern|const|volatile|unsigned|signed|_Atomic|_Noreturn|GH_NOINLINE)\s+'
    r'|(?:struct|enum)\s+\w+\s*|(?!struct\b|enum\b)[A-Za-z_]\w*\s+)+\**\s*)'
    r'(gh_\w+)(\s*[(\[=;,])')


def internal(line):
    """line with internal linkage when it declares a gh_ name at file scope. unused:
    declarations of names that goheap_config.h's choices leave uncalled (the
    page-table hooks' wrappers in region mode) must not warn under -Wall."""
    m = INTERNAL.match(line)
    if not m:
        return line
    spec = re.sub(r'\bextern\s+', '', m.group(1))
    return "static __attribute__((unused)) " + spec + line[len(m.group(1)):]


seen_headers = set()
out = []
errors = []


def header_path(kind, name, here):
    if kind == '"':
        for d in (here, alloc, incdir):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
    return None


def emit(path, here):
    """Emits path with its project headers inlined once."""
    with open(path) as f:
        lines = f.read().split("\n")
    rel = os.path.relpath(path, root)
    out.append(f"/* ---- {rel} ---- */")
    # Line markers: diagnostics name the original file and line, and compilers treat
    # an inlined header's unused static inline functions as a header's (no warning).
    out.append(f'# 1 "{rel}"' + (" 1" if path.endswith(".h") else ""))
    for n, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if m:
            kind, name = m.groups()
            if kind == "<" and name == "goheap_platform_impl.h":
                out.append('#include "goheap_config.h" /* the porter\'s platform half */')
                continue
            if kind == '"' and name == "goheap.h":
                if "goheap.h" not in seen_headers:
                    seen_headers.add("goheap.h")
                    out.append('#include "goheap.h"')
                continue
            p = header_path(kind, name, os.path.dirname(path))
            if p:
                key = os.path.abspath(p)
                if key not in seen_headers:
                    seen_headers.add(key)
                    emit(p, os.path.dirname(p))
                    out.append(f'# {n + 1} "{rel}" 2')
                continue
        out.append(internal(line))


sources = sorted(glob.glob(os.path.join(alloc, "*.c")))
statics = {}
macros = {}
for src in sources:
    with open(src) as f:
        text = f.read()
    rel = os.path.relpath(src, root)
    for line in text.split("\n"):
        m = STATIC.match(strip_attributes(line))
        if m:
            statics.setdefault(m.group(1), set()).add(rel)
    local = []
    for line in text.split("\n"):
        m = DEFINE.match(line)
        if m:
            local.append(m.group(1))
    emit(src, alloc)
    # File-local macros end with their file, so the next file may reuse the name.
    for name in sorted(set(local)):
        out.append(f"#undef {name}")

for name, files in sorted(statics.items()):
    if len(files) > 1:
        errors.append(f"static {name} defined in {', '.join(sorted(files))}")

if errors:
    for e in errors:
        print(f"amalgamate: {e}", file=sys.stderr)
    sys.exit(1)

memfuncs = os.path.join(root, "tools", "amalgamate-memfuncs.c")
with open(memfuncs) as f:
    out.append(f.read())

os.makedirs(out_dir, exist_ok=True)
head = ("/* goheap.c: goheap's allocator core as one file, generated by tools/amalgamate.py\n"
        " * from the files in alloc/; do not edit. Compile it with goheap.h and your goheap_config.h\n"
        " * (docs/PORTING.md) on the include path. */\n")
with open(os.path.join(out_dir, "goheap.c"), "w") as f:
    f.write(head + "\n".join(out) + "\n")
with open(os.path.join(incdir, "goheap.h")) as f, open(os.path.join(out_dir, "goheap.h"), "w") as g:
    g.write(f.read())
print(f"amalgamate: {out_dir}/goheap.c ({len(sources)} files, {len(out)} lines) and goheap.h")
