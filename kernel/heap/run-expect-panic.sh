#!/bin/sh
# kernel/heap/run-expect-panic.sh: one bad-input boot. The kernel prints the exact
# panic message it must die with ("# heap-expect-panic: MSG", computed before the bad
# call from the allocator's own span data); this script boots through qemu/$ARCH.sh
# with a timeout and lets tests/ktap.py pass the step only if MSG is the panic seen.
# usage: kernel/heap/run-expect-panic.sh STEP RESULTS_DIR TIMEOUT  (env as qemu/run-test.sh)
step=$1; dir=$2; limit=$3
arch=${ARCH:-x86_64}
root=$(dirname "$0")/../..
mkdir -p "$dir"
log="$dir/$step.log"
timeout -k 5 "$limit" "$root/qemu/$arch.sh" "$KERNEL" > "$log" 2> "$dir/$step.stderr" < /dev/null
status=$?
to=""
{ [ $status -eq 124 ] || [ $status -eq 137 ]; } && to=--timed-out
msg=$(sed -n 's/\r$//; s/^.*# heap-expect-panic: //p' "$log" | head -n 1)
[ -n "$msg" ] || msg="(the kernel printed no heap-expect-panic line)"
exec python3 "$root/tests/ktap.py" --name "$step" --log "$log" --status $status \
  --pass-status 33 $to --expect-panic "$msg" --result "$dir/$step.result"
