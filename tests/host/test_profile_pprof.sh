#!/bin/sh
# tests/host/test_profile_pprof.sh: the heap profile in the real pprof. Runs
# profile_workload (sites keeping 1 : 2 : 4 bytes live, plus a churning site) under
# LD_PRELOAD with memprofile=, then `go tool pprof -top`: at memprofilerate=1 the three
# sites must come out exactly, in order; at a 64 KiB rate pprof's scaled estimate must
# match the real bytes. Skips (with the reason) where `go` is not installed. Prints KTAP.
# usage: test_profile_pprof.sh <libgoheap.so> <profile_workload> <scratch-dir>
lib=$(readlink -f "$1"); prog=$(readlink -f "$2"); work=$3
mkdir -p "$work"
echo "KTAP version 1"
echo "# Subtest: profile-pprof"
echo "1..3"
if ! command -v go >/dev/null 2>&1 || ! go tool pprof -h >/dev/null 2>&1; then
    for i in 1 2 3; do echo "ok $i pprof # SKIP go tool pprof not installed (apt-get install golang-go)"; done
    exit 0
fi
export HOME=${HOME:-$work} GOCACHE=$work/gocache GOFLAGS=-mod=mod PPROF_TMPDIR=$work
failed=0

# top NAME RATE MIB SAMPLE_INDEX: pprof -top of a fresh run into $work/NAME.top
top() {
    rm -f "$work/$1.prof"
    GOHEAPDEBUG=memprofilerate=$2,memprofile=$work/$1.prof LD_PRELOAD=$lib "$prog" "$3" >/dev/null || return 1
    go tool pprof -top -sample_index="$4" "$prog" "$work/$1.prof" >"$work/$1.top" 2>&1
}
# flat VALUE of a function in a -top listing, in bytes ("1.50MB" -> 1572864)
flat() {
    awk -v f="$2" '$NF == f { v = $1; m = 1;
        if (v ~ /kB$/) m = 1024; else if (v ~ /MB$/) m = 1048576; else if (v ~ /GB$/) m = 1073741824;
        sub(/[kMG]?B$/, "", v); printf "%d\n", v * m; exit }' "$1"
}
report() { sed -e 's/^/    # /' "$work/$1.top" | head -12; }

# 1: every allocation sampled: the three sites exactly (4 MiB, 2 MiB, 1 MiB of
#    1 KiB objects), in that order at the top of inuse_space.
if top exact 1 1 inuse_space; then
    order=$(awk '$NF ~ /^site_/ { printf "%s ", $NF }' "$work/exact.top")
    s1=$(flat "$work/exact.top" site_one); s2=$(flat "$work/exact.top" site_two); s4=$(flat "$work/exact.top" site_four)
    if [ "$order" = "site_four site_two site_one " ] && [ "$s1" = 1048576 ] && [ "$s2" = 2097152 ] &&
       [ "$s4" = 4194304 ]; then
        echo "    # inuse_space: site_four $s4, site_two $s2, site_one $s1 bytes"
        echo "ok 1 exact_sites"
    else
        echo "    # sites in order: '$order'; bytes $s4 $s2 $s1"; report exact
        echo "not ok 1 exact_sites"; failed=1
    fi
else
    report exact; echo "not ok 1 exact_sites"; failed=1
fi

# 2: alloc_space also carries the freed churn (7 MiB), so it leads there.
if go tool pprof -top -sample_index=alloc_space "$prog" "$work/exact.prof" >"$work/alloc.top" 2>&1 &&
   [ "$(awk '$NF ~ /^site_/ { print $NF; exit }' "$work/alloc.top")" = site_churn ]; then
    echo "    # alloc_space: site_churn $(flat "$work/alloc.top" site_churn) bytes"
    echo "ok 2 alloc_space"
else
    report alloc; echo "not ok 2 alloc_space"; failed=1
fi

# 3: sampled at 64 KiB (16 + 32 + 64 MiB live: ~1800 samples), pprof scales each
#    site back (Go's formula); each within 25% (site_one: ~260 samples, sd ~6%) of
#    the truth, the total within 8%, the order kept.
if top rate 65536 16 inuse_space; then
    s1=$(flat "$work/rate.top" site_one); s2=$(flat "$work/rate.top" site_two); s4=$(flat "$work/rate.top" site_four)
    ok=$(awk -v a="$s1" -v b="$s2" -v c="$s4" 'BEGIN { m = 16777216;
        t = (a + b + c) / (7 * m);
        print (a > 0.75*m && a < 1.25*m && b > 1.5*m && b < 2.5*m && c > 3*m && c < 5*m &&
               t > 0.92 && t < 1.08 && c > b && b > a) ? 1 : 0 }')
    echo "    # scaled inuse_space: site_four $s4, site_two $s2, site_one $s1 (true: 67108864 33554432 16777216)"
    if [ "$ok" = 1 ]; then echo "ok 3 scaled_estimate"; else report rate; echo "not ok 3 scaled_estimate"; failed=1; fi
else
    report rate; echo "not ok 3 scaled_estimate"; failed=1
fi
exit $failed
