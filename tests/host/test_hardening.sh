#!/bin/sh
# tests/host/test_hardening.sh: real programs under hostile limits and efence, with
# libgoheap.so preloaded, each compared with the same run without it: RLIMIT_AS (ulimit
# -v 500000: python3, ls -R /usr, sqlite3), RLIMIT_DATA (ulimit -d), sqlite3, a loop
# and python3 -m json.tool (> 30000 live objects, nothing on stderr) under efence=1,
# and efence=3 catching p[-1] at once. A case whose program is missing is skipped
# with a message; one that cannot run at all (status 126, 127) fails. Prints KTAP.
# usage: test_hardening.sh <path/to/libgoheap.so> <scratch-dir>
lib=$(readlink -f "$1")
mkdir -p "$2" && work=$(cd "$2" && pwd) # absolute: the cases run in it
n=0; failed=0
echo "KTAP version 1"
echo "# Subtest: hardening"
echo "1..9"

mask() { sed -e 's/goheap: fatal/goheap(fatal)/g' -e 's/^/    # /'; }
have() { command -v "$1" >/dev/null 2>&1; }

# pair NAME LIMITS ENV CMD: CMD (sh -c) under the ulimit options LIMITS, plain and
# preloaded with ENV; stdout, stderr and status must match (retried once: /usr can
# change while other work installs packages).
pair() {
    name=$1; lim=$2; env=$3; cmd=$4
    n=$((n + 1)); ok=0
    for try in 1 2; do
        (cd "$work" && ulimit $lim && sh -c "$cmd") >"$work/$name.plain.out" 2>"$work/$name.plain.err"
        s1=$?
        (cd "$work" && ulimit $lim && env $env LD_PRELOAD="$lib" sh -c "$cmd") \
            >"$work/$name.pre.out" 2>"$work/$name.pre.err"
        s2=$?
        if [ $s1 -eq $s2 ] && [ $s1 -ne 126 ] && [ $s1 -ne 127 ] && cmp -s "$work/$name.plain.out" "$work/$name.pre.out" &&
           cmp -s "$work/$name.plain.err" "$work/$name.pre.err"; then ok=1; break; fi
    done
    if [ $ok -eq 1 ]; then
        echo "    # $name ($lim $env): exit $s1, $(wc -c < "$work/$name.plain.out") bytes identical"
        echo "ok $n $name"
    else
        echo "    # $name ($lim $env): exit $s1 plain, $s2 preloaded"
        diff "$work/$name.plain.out" "$work/$name.pre.out" | head -5 | mask
        diff "$work/$name.plain.err" "$work/$name.pre.err" | head -5 | mask
        echo "not ok $n $name"; failed=$((failed + 1))
    fi
}
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

SQL="create table t(a, b);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000)
insert into t select x, printf('row %d', x) from c;
create index i on t(b);
select count(*), sum(length(b)) from t; select b from t where a = 2345;
update t set b = b || b where a % 7 = 0; select sum(length(b)) from t;"
PY='import json, sqlite3; d = {str(i): list(range(i % 50)) for i in range(3000)}; print(len(json.dumps(d)))'

# 1-3: address space limited to ~488 MiB: the heap grows in 64 MiB steps, so it fits.
if have python3; then pair as-python "-v 500000" "" "python3 -c '$PY'"; else skip as-python "python3 not installed"; fi
pair as-ls "-v 500000" "" "ls -R /usr | md5sum"
if have sqlite3; then pair as-sqlite "-v 500000" "" "echo \"$SQL\" | sqlite3 :memory:"; else skip as-sqlite "sqlite3 not installed (apt install sqlite3)"; fi
# 4-5: data limited to 300 MiB (RLIMIT_DATA counts the pages goheap backs).
if have python3; then pair data-python "-d 300000" "" "python3 -c '$PY'"; else skip data-python "python3 not installed"; fi
if have sqlite3; then pair data-sqlite "-d 300000" "" "echo \"$SQL\" | sqlite3 :memory:"; else skip data-sqlite "sqlite3 not installed (apt install sqlite3)"; fi
# 6-7: efence=1 on a real program (every allocation guarded), and a small C program.
if have sqlite3; then pair efence-sqlite "-v unlimited" "GOHEAPDEBUG=efence=1" "echo \"$SQL\" | sqlite3 :memory:"; else skip efence-sqlite "sqlite3 not installed (apt install sqlite3)"; fi
if have cc; then
    cat > "$work/loop.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char *keep[64];
    for (int i = 0; i < 64; i++) keep[i] = malloc(i * 37 + 1), memset(keep[i], i, i * 37 + 1);
    for (long i = 0; i < 30000; i++) { char *p = malloc(i % 300 + 1); p[i % 300] = 1; free(p); }
    for (int i = 0; i < 64; i++) { for (int k = 0; k < i * 37 + 1; k++) if (keep[i][k] != i) return 1; free(keep[i]); }
    puts("30000 guarded allocations"); return 0;
}
CEOF
    cc -O1 -fno-builtin -o "$work/loop" "$work/loop.c" && \
        pair efence-loop "-v unlimited" "GOHEAPDEBUG=efence=1,arena=64M" "$work/loop"
else skip efence-loop "no C compiler"; fi
# 8: python3 with its objects from malloc starts with ~37000 live: all guarded (on
# Linux >= 6.13 guards split no mapping) and stderr as empty as without goheap, as
# CPython's test_json wants of a json.tool subprocess.
if have python3; then
    pair efence-python "-v unlimited" "GOHEAPDEBUG=efence=1" \
        "echo '{\"a\": [1, 2.5, \"x\"], \"b\": null}' | PYTHONMALLOC=malloc python3 -m json.tool"
else skip efence-python "python3 not installed"; fi
# 9: efence=3: a write to p[-1] faults at once and is named.
n=$((n + 1))
if have cc; then
    printf '#include <stdlib.h>\nint main(void) { char *p = malloc(100); p[-1] = 1; free(p); return 0; }\n' > "$work/under.c"
    cc -O0 -fno-builtin -o "$work/under" "$work/under.c"
    GOHEAPDEBUG=efence=3 LD_PRELOAD="$lib" "$work/under" 2> "$work/under.err"
    st=$?
    if [ $st -eq 134 ] && grep -q "goheap: fatal: efence: fault at 0x.*: underflow below object 0x.* size 100 allocated at pc" "$work/under.err"; then
        echo "    # $(mask < "$work/under.err" | head -1 | sed 's/^ *# //')"
        echo "ok $n efence3-underflow"
    else
        echo "    # status $st"; mask < "$work/under.err" | head -3
        echo "not ok $n efence3-underflow"; failed=$((failed + 1))
    fi
else echo "ok $n efence3-underflow # SKIP no C compiler"; fi
[ $failed -eq 0 ]
