#!/bin/sh
# qemu/run-test.sh: boot the kernel once for one test step, with a timeout; save the
# serial log as <results>/<step>.log and let tests/ktap.py write <step>.result.
# usage: qemu/run-test.sh STEP RESULTS_DIR TIMEOUT_SECONDS [--expect-panic MSG]
# Environment: ARCH (x86_64), KERNEL (the ELF), SMP, MEM, CPU, ACCEL, APPEND: passed
# to qemu/$ARCH.sh, which holds each arch's QEMU command line.
# A pass is QEMU exit status 33 (KEXIT_PASS); 0 is what a triple fault gives.
step=$1; dir=$2; limit=$3; shift 3
expect=""
if [ "$1" = "--expect-panic" ]; then expect=$2; shift 2; fi
arch=${ARCH:-x86_64}
here=$(dirname "$0")
mkdir -p "$dir"
log="$dir/$step.log"
DRY_RUN=1 "$here/$arch.sh" "$KERNEL" > "$dir/$step.cmd" 2>&1 || true
timeout -k 5 "$limit" "$here/$arch.sh" "$KERNEL" > "$log" 2> "$dir/$step.stderr" < /dev/null
status=$?
to=""
{ [ $status -eq 124 ] || [ $status -eq 137 ]; } && to=--timed-out
if [ -s "$dir/$step.stderr" ]; then
  sed 's/^/# qemu stderr: /' "$dir/$step.stderr" >> "$log"
fi
if [ -n "$expect" ]; then
  exec python3 "$here/../tests/ktap.py" --name "$step" --log "$log" --status $status \
    --pass-status 33 $to --expect-panic "$expect" --result "$dir/$step.result"
fi
exec python3 "$here/../tests/ktap.py" --name "$step" --log "$log" --status $status \
  --pass-status 33 $to --result "$dir/$step.result"
