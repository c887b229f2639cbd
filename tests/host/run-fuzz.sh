#!/bin/sh
# tests/host/run-fuzz.sh: runs the libFuzzer target fuzz_ops as KTAP: one case per seed
# corpus file replayed, then one bounded fuzzing run ("fuzz_bounded") from that corpus.
# usage: run-fuzz.sh <fuzzer> <seed-dir> <work-dir> <seconds> <max-runs> <deps-status-file>
fz=$1; seeds=$2; work=$3; secs=$4; runs=$5; deps=$6
mask() { sed -e 's/goheap: fatal/goheap(fatal)/g' -e 's/^/    # /'; }
files=$(ls "$seeds" | sort)
count=$(echo "$files" | grep -c .)
echo "KTAP version 1"
echo "# Subtest: fuzz_ops"
echo "1..$((count + 1))"
if [ "$(cat "$deps" 2>/dev/null)" != ok ] && [ ! -x "$fz" ]; then
    why=$(cat "$deps" 2>/dev/null || echo "no dependency check ran")
    i=0; for f in $files; do i=$((i + 1)); echo "ok $i seed_$f # SKIP $why"; done
    echo "ok $((count + 1)) fuzz_bounded # SKIP $why"
    exit 0
fi
rm -rf "$work"; mkdir -p "$work/corpus" "$work/artifacts"
i=0; bad=0
for f in $files; do
    i=$((i + 1))
    if "$fz" -runs=1 "$seeds/$f" > "$work/replay.log" 2>&1; then
        echo "ok $i seed_$f"
    else
        grep -v '^INFO\|^Running\|^Executed\|^ *#' "$work/replay.log" | tail -8 | mask
        echo "not ok $i seed_$f"; bad=1
    fi
done
cp "$seeds"/* "$work/corpus/"
# -timeout: a single input running for 20 s is a hang; -rss_limit_mb keeps a leak in
# check; the run stops at whichever of -max_total_time and -runs comes first.
"$fz" -max_total_time="$secs" -runs="$runs" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" > "$work/fuzz.log" 2>&1
st=$?
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/fuzz.log" | mask
if [ $st -eq 0 ]; then
    echo "ok $((count + 1)) fuzz_bounded"
else
    grep -v '^INFO\|^#[0-9]' "$work/fuzz.log" | tail -25 | mask
    for a in "$work"/artifacts/*; do [ -f "$a" ] && echo "    # reproducer: $a (base64 $(base64 -w0 < "$a" | head -c 300))"; done
    echo "not ok $((count + 1)) fuzz_bounded"; bad=1
fi
exit $bad
