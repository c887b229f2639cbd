#!/bin/sh
# tests/host/test_preload.sh: LD_PRELOAD acceptance. Ordinary programs (python3, ls -R,
# a C compiler, shell pipelines, threaded python) run with libgoheap.so preloaded must
# print exactly what they print without it and exit the same way. Prints KTAP.
# usage: test_preload.sh <path/to/libgoheap.so> <scratch-dir>
lib=$(readlink -f "$1"); work=$2
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
n=0; failed=0

echo "KTAP version 1"
echo "# Subtest: preload"
echo "1..11"

# Mask the hosted panic prefix in anything echoed into the log, so a mismatch is
# reported once (as "not ok"), not again as a panic line.
mask() { sed -e 's/goheap: fatal/goheap(fatal)/g' -e 's/^/    # /'; }

# run_pair NAME CMD...: runs CMD (through sh -c) plain and preloaded, compares stdout,
# stderr and exit status. A difference is retried once, since a listing of /usr can
# change while other work installs packages.
run_pair() {
    name=$1; shift
    n=$((n + 1))
    ok=0
    for try in 1 2; do
        (cd "$work" && sh -c "$1") >"$work/$name.plain.out" 2>"$work/$name.plain.err"
        s1=$?
        (cd "$work" && LD_PRELOAD="$lib" sh -c "$1") >"$work/$name.pre.out" 2>"$work/$name.pre.err"
        s2=$?
        if [ $s1 -eq $s2 ] && cmp -s "$work/$name.plain.out" "$work/$name.pre.out" &&
           cmp -s "$work/$name.plain.err" "$work/$name.pre.err"; then
            ok=1; break
        fi
    done
    if [ $ok -eq 1 ]; then
        echo "    # $name: exit $s1, $(wc -c < "$work/$name.plain.out") bytes of identical output"
        echo "ok $n $name"
    else
        echo "    # $name: exit $s1 plain, $s2 preloaded"
        diff "$work/$name.plain.out" "$work/$name.pre.out" | head -5 | mask
        diff "$work/$name.plain.err" "$work/$name.pre.err" | head -5 | mask
        echo "not ok $n $name"
        failed=$((failed + 1))
    fi
}

if [ ! -f "$lib" ]; then
    echo "    # $1 missing"
fi

# 1. The preload is really in charge: malloc resolves to goheap, whose usable size
#    reports the size class (100 B -> 112 B).
n=$((n + 1))
out=$(LD_PRELOAD="$lib" python3 -c '
import ctypes
l = ctypes.CDLL(None)
l.malloc.restype = ctypes.c_void_p
l.goheap_usable_size.restype = ctypes.c_size_t
l.goheap_usable_size.argtypes = [ctypes.c_void_p]
l.malloc_usable_size.restype = ctypes.c_size_t
l.malloc_usable_size.argtypes = [ctypes.c_void_p]
p = l.malloc(100)
print(l.goheap_usable_size(p), l.malloc_usable_size(p))
' 2>&1)
if [ "$out" = "112 112" ]; then
    echo "ok $n preload_active"
else
    echo "$out" | head -5 | mask
    echo "not ok $n preload_active"
    failed=$((failed + 1))
fi

run_pair python_json "python3 -c 'import json; print(len(json.dumps(list(range(10**6)))))'"
run_pair ls_R_usr "ls -R /usr"
cat > "$work/cc_input.c" <<'EOF'
#include <stdio.h>
struct point { double x, y; };
static double area(const struct point *p, int n) {
    double a = 0;
    for (int i = 0; i < n; i++)
        a += p[i].x * p[(i + 1) % n].y - p[(i + 1) % n].x * p[i].y;
    return a / 2;
}
int main(void) {
    struct point sq[4] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
    printf("%g\n", area(sq, 4));
    return 0;
}
EOF
run_pair cc_compile "cc -O2 -Wall -c cc_input.c -o cc_out.o && cc -O2 -I$top/include -I$top/tests/host -fsyntax-only $top/tests/host/test_stress.c && od -An -tx1 cc_out.o | md5sum"
run_pair sh_pipeline "seq 1 300000 | awk '{ print (\$1 * 7919) % 10007 }' | sort -n | uniq -c | sort -k1,1nr -k2,2n | head -40; printf '%s\n' a b c | tr a-z A-Z | sed 's/B/bee/'"
# Every standard name the library replaces (valloc, pvalloc, memalign, reallocarray,
# errno on failure, ...), compiled here without builtins so each call is real.
cc -O0 -fno-builtin -w -o "$work/stdnames" "$top/tests/host/preload_stdnames.c"
run_pair std_names "./stdnames"
# pthread_atfork handlers that allocate, registered before the first malloc: they run
# while the heap's own prepare handler holds its locks (a deadlock before; the timeout
# turns a hang into a mismatch). From the main thread, and from a second thread that
# has no cache slot (ncpu=1: it forks on a shared overflow slot).
cc -O1 -pthread -o "$work/atfork" "$top/tests/host/preload_atfork.c"
run_pair atfork_alloc "timeout 20 ./atfork"
run_pair atfork_alloc_overflow "GOHEAPDEBUG=ncpu=1 timeout 20 ./atfork thread"
# The profile's stack walk in the child of a fork made by a second thread: sampled
# mallocs there, called with rbp pointing between the thread's stack and the main
# stack, must not follow it (a SIGSEGV in the child before).
cc -O1 -pthread -o "$work/forkstack" "$top/tests/host/preload_forkstack.c"
run_pair fork_thread_stack "GOHEAPDEBUG=memprofilerate=1 ./forkstack"
# A thread with a cancellation pending: the profile dump that a malloc runs (memprofile=,
# after goheap_profile_request) must not act on it (malloc is no cancellation point).
cc -O1 -pthread -o "$work/cancel" "$top/tests/host/preload_cancel.c" -ldl
run_pair cancel_in_malloc "GOHEAPDEBUG=memprofile=cancel.prof ./cancel"
run_pair python_threads "python3 -c '
import json, threading, hashlib
out = [None] * 4
def work(i):
    d = {str(k): [k] * (k % 17) for k in range(20000 + i)}
    out[i] = hashlib.sha256(json.dumps(d).encode()).hexdigest()
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(out)
'"

[ $failed -eq 0 ]
