#!/bin/sh
# qemu/run-profile.sh: `make run PROFILE=1`'s profile phase: boots the demo once more
# with goheap=memprofile=serial (the heap profile goes over the console at mid-run, in
# frames: docs/profiling.md, "Kernel"), takes the mid-run profile out of the log with
# tools/kprofile.py, and shows it with `go tool pprof`: -top on the terminal, -svg into
# a file (needs graphviz's dot). Skips the pprof steps, saying why, where go or dot is
# missing. usage: qemu/run-profile.sh KERNEL.elf OUTDIR (environment as for qemu/run.sh;
# PROFILE_APPEND: the command line, default "demo_secs=4
# goheap=scavtrace=1,memprofilerate=64K,memprofile=serial": 8x Go's rate, ~250 samples live)
kernel=${1:?usage: qemu/run-profile.sh KERNEL.elf OUTDIR}
out=${2:?usage: qemu/run-profile.sh KERNEL.elf OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
log=$out/run-profile.log prof=$out/demo-heap.prof svg=$out/demo-heap.svg
APPEND=${PROFILE_APPEND:-demo_secs=4 goheap=scavtrace=1,memprofilerate=64K,memprofile=serial}
export APPEND
echo "run: profile phase: the demo with APPEND=\"$APPEND\" (log: $log)"
"$root/qemu/run.sh" "$kernel" > "$log" 2>&1
status=$?
grep -v "goheap-profile [0-9]* D " "$log" | tail -n 4
[ $status -eq 0 ] || { echo "run: profile phase: the boot failed (log: $log)" >&2; exit 1; }
python3 "$root/tools/kprofile.py" "$log" "$prof" --name demo-midrun --elf "$kernel" || exit 1
if ! command -v go >/dev/null 2>&1 || ! go tool pprof -h >/dev/null 2>&1; then
    echo "run: profile phase: go tool pprof not installed (apt-get install golang-go): $prof not shown"
    exit 0
fi
export GOCACHE=${GOCACHE:-$out/gocache} PPROF_TMPDIR=$out
go tool pprof -top -nodecount=12 -sample_index=inuse_space "$kernel" "$prof" 2>/dev/null
if command -v dot >/dev/null 2>&1; then
    go tool pprof -svg -sample_index=inuse_space -output "$svg" "$kernel" "$prof" 2>/dev/null &&
        echo "run: profile phase: call graph in $svg"
else
    echo "run: profile phase: graphviz's dot not installed (apt-get install graphviz): no $svg"
fi
