#!/bin/sh
# qemu/x86_64.sh: the QEMU command line for the x86_64 kernel (PVH -kernel boot, qboot
# when installed, isa-debug-exit for the verdict). Usage: qemu/x86_64.sh KERNEL.elf
# [extra qemu args...]. Environment: SMP (4; a full -smp spec such as
# "6,sockets=2,cores=3" works), MEM (512M), CPU (qemu64), ACCEL (tcg | kvm),
# TCG_THREAD (single | multi; default single), APPEND (kernel command line).
# Prints the command with DRY_RUN=1.
#
# Why single-threaded TCG by default: on this 2-core machine, shared with other jobs,
# multi-threaded TCG runs each vCPU on its own host thread, and every spinlock handoff
# or barrier waits for a descheduled vCPU thread (a test boot took 120 s instead of
# 0.3 s). Round-robin TCG switches vCPUs at every `pause`, `hlt` and I/O exit, so lock
# waiters and critical sections still interleave (the spinlock test relaxes inside
# its critical section on purpose). `make test-matrix` also runs a multi-threaded boot.
set -e
kernel=${1:?usage: qemu/x86_64.sh KERNEL.elf [qemu args...]}
shift
smp=${SMP:-4}
mem=${MEM:-512M}
cpu=${CPU:-qemu64}
accel=${ACCEL:-tcg}

accel_opt=$accel
case "$accel" in
  tcg) accel_opt="tcg,thread=${TCG_THREAD:-single}" ;;
  kvm)
    if ! "$(dirname "$0")/kvm-usable.sh"; then
      echo "qemu/x86_64.sh: ACCEL=kvm but /dev/kvm is missing or unusable here; use ACCEL=tcg" >&2
      exit 2
    fi ;;
  *) echo "qemu/x86_64.sh: unknown ACCEL=$accel (tcg or kvm)" >&2; exit 2 ;;
esac

bios=""
[ -f /usr/share/qemu/qboot.rom ] && bios="-bios /usr/share/qemu/qboot.rom"

set -- $bios -M pc -cpu "$cpu" -accel "$accel_opt" -smp "$smp" -m "$mem" \
  -display none -monitor none -serial stdio -no-reboot -nic none \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -kernel "$kernel" ${APPEND:+-append "$APPEND"} "$@"
if [ "${DRY_RUN:-0}" = 1 ]; then echo qemu-system-x86_64 "$@"; exit 0; fi
exec qemu-system-x86_64 "$@"
