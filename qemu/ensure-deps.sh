#!/bin/sh
# Installs what booting needs when it is missing: QEMU for the requested arch
# (qemu-system-x86 / qemu-system-arm) and qboot. Root uses apt-get; others get a clear message.
set -e
arch=${1:-x86_64}
case "$arch" in
  x86_64)  bin=qemu-system-x86_64;  pkg=qemu-system-x86 ;;
  aarch64) bin=qemu-system-aarch64; pkg=qemu-system-arm ;;
  *) echo "ensure-deps: unknown arch '$arch'" >&2; exit 2 ;;
esac
need=""
command -v "$bin" >/dev/null 2>&1 || need="$need $pkg"
command -v clang >/dev/null 2>&1 || need="$need clang"
command -v ld.lld >/dev/null 2>&1 || need="$need lld"
command -v llvm-addr2line >/dev/null 2>&1 || need="$need llvm"
command -v python3 >/dev/null 2>&1 || need="$need python3"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: installing$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q $need >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $need >/dev/null; }
  exit 0
fi
echo "ensure-deps: missing$need; install with: sudo apt-get install$need" >&2
exit 1
