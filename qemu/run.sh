#!/bin/sh
# qemu/run.sh: `make run`: boot the kernel interactively (serial on this terminal) and
# exit 0 when the kernel reports success (QEMU status 33), 1 otherwise.
# usage: qemu/run.sh KERNEL.elf   (environment as for qemu/$ARCH.sh)
arch=${ARCH:-x86_64}
timeout -k 5 "${RUN_TIMEOUT:-300}" "$(dirname "$0")/$arch.sh" "$@" < /dev/null
status=$?
if [ $status -eq 33 ]; then exit 0; fi
echo "run: the kernel exited with QEMU status $status (33 means success)" >&2
exit 1
