#!/bin/sh
# qemu/kvm-usable.sh: exit 0 when QEMU can really use KVM here (the device exists, we
# may open it, and a VM can be created), else 1. Quiet.
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || exit 1
command -v qemu-system-x86_64 >/dev/null 2>&1 || exit 1
echo quit | timeout 20 qemu-system-x86_64 -accel kvm -M none -nodefaults -display none \
  -monitor stdio >/dev/null 2>&1
