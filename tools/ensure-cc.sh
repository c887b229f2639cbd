#!/bin/sh
# tools/ensure-cc.sh: makes sure the kernel/library compiler exists, installing the
# Debian package that provides it (like qemu/ensure-deps.sh does for QEMU): gcc, a
# cross gcc (aarch64-linux-gnu-gcc -> gcc-aarch64-linux-gnu) or clang.
# usage: tools/ensure-cc.sh COMPILER
cc=${1:?usage: ensure-cc.sh COMPILER}
command -v "$cc" >/dev/null 2>&1 && exit 0
case "$cc" in
  *-linux-gnu-gcc) triple=${cc%-gcc}; pkg=gcc-$(echo "$triple" | tr _ -) ;;
  gcc|gcc-*)       pkg=$cc ;;
  clang|clang-*)   pkg=$cc ;;
  *) echo "ensure-cc: $cc not found, and no package known for it" >&2; exit 1 ;;
esac
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-cc: installing $pkg"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$pkg" >/dev/null; }
  command -v "$cc" >/dev/null 2>&1 && exit 0
fi
echo "ensure-cc: $cc missing; install with: sudo apt-get install $pkg" >&2
exit 1
