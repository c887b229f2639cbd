# bench/allocators.py: the allocators the benchmarks compare, and how to load each
# (LD_PRELOAD path; glibc is the system default). Shared by fastpath.py and suite.py.
import glob
import os

# Debian package -> shared object; the comparison baseline is mimalloc.
SYSTEM_LIBS = [
    ("mimalloc", "libmimalloc2.0", "libmimalloc.so.2"),
    ("jemalloc", "libjemalloc2", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc-minimal4", "libtcmalloc_minimal.so.4"),
]
BASELINE = "mimalloc"


def find_lib(soname):
    for d in ("/usr/lib/*-linux-gnu", "/lib/*-linux-gnu", "/usr/lib", "/usr/lib64"):
        hits = sorted(glob.glob(os.path.join(d, soname)))
        if hits:
            return hits[0]
    return None


def allocators(build="build", want=None):
    """Return [(name, preload_path_or_None)] for the allocators present.
    `want` (a list of names) filters and orders them."""
    found = [("glibc", None)]
    for name, _pkg, soname in SYSTEM_LIBS:
        path = find_lib(soname)
        if path:
            found.append((name, path))
    goheap = os.path.join(build, "host", "libgoheap.so")
    if os.path.exists(goheap):
        found.append(("goheap", os.path.abspath(goheap)))
    if want:
        by = dict(found)
        found = [(n, by[n]) for n in want if n in by]
    return found


def env_for(preload, extra=None):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    if extra:
        env.update(extra)
    return env
