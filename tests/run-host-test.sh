#!/bin/sh
# Runs one host test binary that prints KTAP, with a timeout, and records its verdict.
# usage: run-host-test.sh <step-name> <results-dir> <timeout-seconds> <command...>
name=$1; dir=$2; limit=$3; shift 3
mkdir -p "$dir"
log="$dir/$name.log"
timeout -k 5 "$limit" "$@" > "$log" 2>"$dir/$name.stderr"
status=$?
to=""
[ $status -eq 124 ] || [ $status -eq 137 ] && to=--timed-out
python3 "$(dirname "$0")/ktap.py" --name "$name" --log "$log" --status $status \
    --pass-status 0 $to --result "$dir/$name.result"
