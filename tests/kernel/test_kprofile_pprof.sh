#!/bin/sh
# tests/kernel/test_kprofile_pprof.sh: the kernel's heap profile, taken out of the
# kheap-profile boot's log by tools/kprofile.py, in the real pprof against the kernel
# ELF. The boot (tests/kernel/heap_profile.c, every allocation sampled) keeps 128, 256
# and 512 KiB live from site_one, site_two and site_four and churns 896 KiB through
# site_churn: pprof -top must show exactly that. The framing is also checked against a
# log with other CPUs' lines in between (accepted) and damaged logs (refused). The pprof
# cases skip (with the reason) where `go` is not installed. Prints KTAP.
# usage: test_kprofile_pprof.sh <boot log> <kernel ELF> <scratch dir>
log=$1; elf=$(readlink -f "$2"); work=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
kprof="python3 $root/tools/kprofile.py"
mkdir -p "$work"
echo "KTAP version 1"
echo "# Subtest: kheap-profile-pprof"
echo "1..4"
failed=0

# 1: the profile comes out of the log whole (frames, length, CRC-32).
rm -f "$work/heap.prof"
if $kprof "$log" "$work/heap.prof" --name exit --elf "$elf" >"$work/extract.out" 2>&1; then
    sed 's/^/    # /' "$work/extract.out"
    echo "ok 1 extract"
else
    sed 's/^/    # /' "$work/extract.out"; echo "not ok 1 extract"; failed=1
fi

# 2: frames among other CPUs' lines (and after an unfinished one) are found; a changed
#    byte, a lost frame and a missing end line are each refused, naming the fault.
awk '/goheap-profile [0-9]+ D/ && NR % 3 == 0 { printf "cpu 2: half a line, then "; print; print "cpu 1: a line between frames"; next } { print }' \
    "$log" >"$work/mixed.log"
awk '!done && / D 1 / && /goheap-profile/ { i = index($0, " D 1 ") + 15; c = substr($0, i, 1);
    $0 = substr($0, 1, i - 1) (c == "A" ? "B" : "A") substr($0, i + 1); done = 1 } { print }' \
    "$log" >"$work/changed.log"
grep -v 'goheap-profile [0-9]* D 2 ' "$log" >"$work/lost.log"
grep -v 'goheap-profile [0-9]* E ' "$log" >"$work/noend.log"
ok=1
if ! $kprof "$work/mixed.log" "$work/mixed.prof" --name exit --elf "$elf" >/dev/null 2>&1 ||
   ! cmp -s "$work/mixed.prof" "$work/heap.prof"; then
    echo "    # interleaved log: not extracted, or not the same profile"; ok=0
fi
for bad in changed:CRC-32 lost:missing noend:"no end line"; do
    f=${bad%%:*}; want=${bad#*:}
    msg=$($kprof "$work/$f.log" "$work/$f.prof" --name exit 2>&1)
    if [ $? -eq 0 ] || ! printf '%s' "$msg" | grep -q "$want"; then
        echo "    # $f log: expected a refusal mentioning '$want', got: $msg"; ok=0
    else
        echo "    # $f log refused: $msg"
    fi
done
if [ $ok = 1 ]; then echo "ok 2 framing"; else echo "not ok 2 framing"; failed=1; fi

if ! command -v go >/dev/null 2>&1 || ! go tool pprof -h >/dev/null 2>&1; then
    echo "ok 3 inuse_sites # SKIP go tool pprof not installed (apt-get install golang-go)"
    echo "ok 4 alloc_sites # SKIP go tool pprof not installed (apt-get install golang-go)"
    exit $failed
fi
export HOME=${HOME:-$work} GOCACHE=$work/gocache PPROF_TMPDIR=$work

# flat bytes of a function in a -top listing ("512kB" -> 524288)
flat() {
    awk -v f="$2" '$NF == f { v = $1; m = 1;
        if (v ~ /kB$/) m = 1024; else if (v ~ /MB$/) m = 1048576; else if (v ~ /GB$/) m = 1073741824;
        sub(/[kMG]?B$/, "", v); printf "%d\n", v * m; exit }' "$1"
}
report() { sed -e 's/^/    # /' "$1" | head -14; }

# 3: inuse_space: the three live sites exactly, in order, symbolised from the ELF.
if go tool pprof -top -sample_index=inuse_space "$elf" "$work/heap.prof" >"$work/inuse.top" 2>&1; then
    order=$(awk '$NF ~ /^site_/ { printf "%s ", $NF }' "$work/inuse.top")
    s1=$(flat "$work/inuse.top" site_one); s2=$(flat "$work/inuse.top" site_two); s4=$(flat "$work/inuse.top" site_four)
    echo "    # inuse_space: site_four $s4, site_two $s2, site_one $s1 bytes"
    if [ "$order" = "site_four site_two site_one " ] && [ "$s1" = 131072 ] && [ "$s2" = 262144 ] &&
       [ "$s4" = 524288 ]; then
        echo "ok 3 inuse_sites"
    else
        echo "    # sites in order: '$order'"; report "$work/inuse.top"; echo "not ok 3 inuse_sites"; failed=1
    fi
else
    report "$work/inuse.top"; echo "not ok 3 inuse_sites"; failed=1
fi

# 4: alloc_space, with the profile alone (its mapping names the ELF): the freed churn
#    leads, 896 KiB.
if go tool pprof -top -sample_index=alloc_space "$work/heap.prof" >"$work/alloc.top" 2>&1 &&
   [ "$(awk '$NF ~ /^site_/ { print $NF; exit }' "$work/alloc.top")" = site_churn ] &&
   [ "$(flat "$work/alloc.top" site_churn)" = 917504 ]; then
    echo "    # alloc_space: site_churn $(flat "$work/alloc.top" site_churn) bytes"
    echo "ok 4 alloc_sites"
else
    report "$work/alloc.top"; echo "not ok 4 alloc_sites"; failed=1
fi
exit $failed
