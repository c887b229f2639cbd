#!/bin/sh
# qemu/aarch64.sh: the QEMU command line for the aarch64 kernel (-M virt, GIC, PSCI,
# semihosting exit). Usage: qemu/aarch64.sh KERNEL.elf [extra qemu args...]
#
# Environment: SMP (4), MEM (512M), CPU (cortex-a72), ACCEL (tcg), EL2 (0: boot at EL1;
# 1: -M virt,virtualization=on, entered at EL2), APPEND (kernel command line),
# TCG_THREAD (single | multi, default single: see below), GIC (2 | 3; default 2 up to 8
# CPUs, 3 above: GICv2 addresses at most 8), SECURE (1: -M virt,secure=on: every CPU
# enters at secure EL3 and QEMU offers no PSCI; the kernel runs in secure EL1 and
# starts its CPUs itself, docs/aarch64.md). Prints the command with DRY_RUN=1.
#
# TCG_THREAD=single runs every vCPU round-robin in one host thread; YIELD/WFE in a
# spin loop hands over to the next vCPU at once. With one host thread per vCPU
# (multi), a spinning vCPU waits for the host to schedule the thread it waits for:
# on this 2-core machine under load, the smp suite took 24-44 s with multi and 0.5 s
# with single (x86_64's took 0.2 s). Races still interleave at translation-block
# boundaries with single; the matrix also runs a multi boot for true parallelism.
set -e
kernel=${1:?usage: qemu/aarch64.sh KERNEL.elf [qemu args...]}
shift
smp=${SMP:-4}
mem=${MEM:-512M}
cpu=${CPU:-cortex-a72}
accel=${ACCEL:-tcg}
thread=${TCG_THREAD:-single}
ncpu=${smp%%,*}
gic=${GIC:-}
if [ -z "$gic" ]; then
  if [ "$ncpu" -gt 8 ] 2>/dev/null; then gic=3; else gic=2; fi
fi
machine="virt,gic-version=$gic"
if [ "${EL2:-0}" = 1 ]; then machine="$machine,virtualization=on"; fi
if [ "${SECURE:-0}" = 1 ]; then machine="$machine,secure=on"; fi

if [ "$accel" != tcg ]; then
  echo "qemu/aarch64.sh: ACCEL=$accel is not available for aarch64 guests on this x86_64 host" \
       "(KVM runs only same-architecture guests); use ACCEL=tcg (the default)" >&2
  exit 2
fi
case "$thread" in single|multi) ;; *)
  echo "qemu/aarch64.sh: TCG_THREAD=$thread: use single or multi" >&2; exit 2 ;; esac
case "$gic" in 2|3) ;; *) echo "qemu/aarch64.sh: GIC=$gic: use 2 or 3" >&2; exit 2 ;; esac
if [ "$gic" = 2 ] && [ "$ncpu" -gt 8 ] 2>/dev/null; then
  echo "qemu/aarch64.sh: SMP=$smp with GIC=2: GICv2 addresses at most 8 CPUs; use GIC=3" >&2
  exit 2
fi
if [ "$ncpu" -gt 64 ] 2>/dev/null; then
  echo "qemu/aarch64.sh: SMP=$smp: the kernel handles at most 64 CPUs (ARCH_MAX_CPUS)" >&2
  exit 2
fi

set -- -M "$machine" -cpu "$cpu" -accel "tcg,thread=$thread" -smp "$smp" -m "$mem" \
  -semihosting -nographic -monitor none -serial stdio -no-reboot -nic none \
  -kernel "$kernel" ${APPEND:+-append "$APPEND"} "$@"
if [ "${DRY_RUN:-0}" = 1 ]; then echo qemu-system-aarch64 "$@"; exit 0; fi
exec qemu-system-aarch64 "$@"
