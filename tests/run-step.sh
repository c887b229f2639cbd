#!/bin/sh
# tests/run-step.sh: runs one test step with a timeout and records its verdict
# (<results>/<step>.result, through tests/ktap.py). The one runner for host tests and
# kernel boots.
# usage: run-step.sh STEP RESULTS_DIR TIMEOUT_SECONDS [OPTIONS] [COMMAND...]
#   COMMAND            prints KTAP; the step passes on exit status 0
#   --boot             instead of a command: boot $KERNEL once through qemu/$ARCH.sh
#                      (environment ARCH, KERNEL, SMP, MEM, CPU, ACCEL, APPEND); a pass
#                      is QEMU exit status 33 (KEXIT_PASS; 0 is what a triple fault
#                      gives); the QEMU command line goes to STEP.cmd, its stderr into
#                      the log as "# qemu stderr:" lines
#   --expect-panic MSG the step passes only if exactly this panic message is seen
#   --expect-announced-panic
#                      the same, with MSG taken from the log's first
#                      "# heap-expect-panic: MSG" line (computed by the test before
#                      its bad call from the allocator's own data)
step=$1; dir=$2; limit=$3; shift 3
boot=""; expect=""; announced=""
while :; do
  case "$1" in
    --boot) boot=1; shift ;;
    --expect-panic) expect=$2; shift 2 ;;
    --expect-announced-panic) announced=1; shift ;;
    *) break ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
log="$dir/$step.log"
pass=0
if [ -n "$boot" ]; then
  pass=33
  arch=${ARCH:-x86_64}
  DRY_RUN=1 "$root/qemu/$arch.sh" "$KERNEL" > "$dir/$step.cmd" 2>&1 || true
  set -- "$root/qemu/$arch.sh" "$KERNEL"
fi
timeout -k 5 "$limit" "$@" > "$log" 2> "$dir/$step.stderr" < /dev/null
status=$?
to=""
{ [ $status -eq 124 ] || [ $status -eq 137 ]; } && to=--timed-out
if [ -n "$boot" ] && [ -s "$dir/$step.stderr" ]; then
  sed 's/^/# qemu stderr: /' "$dir/$step.stderr" >> "$log"
fi
if [ -n "$announced" ]; then
  expect=$(sed -n 's/\r$//; s/^.*# heap-expect-panic: //p' "$log" | head -n 1)
  [ -n "$expect" ] || expect="(the kernel printed no heap-expect-panic line)"
fi
set -- --name "$step" --log "$log" --status $status --pass-status $pass $to \
  --result "$dir/$step.result"
[ -n "$expect" ] && set -- "$@" --expect-panic "$expect"
exec python3 "$root/tests/ktap.py" "$@"
