#!/bin/sh
# kernel/heap/libtest/link-test.sh: KTAP test that build/<arch>/libgoheap.a (from
# `make lib`) links into a foreign freestanding program (stub.c: the platform
# functions of docs/PORTING.md and nothing else) with no undefined symbols, on both
# arches and with both compilers (clang, and gcc: native or aarch64-linux-gnu-, which
# `make` installs when missing): warning-free under -Werror and with no compiler
# runtime helper (__popcountdi2, outline atomics). usage: link-test.sh BUILD_DIR
build=${1:?usage: link-test.sh BUILD_DIR}
here=$(dirname "$0")
root=$here/../../..
echo "KTAP version 1"
echo "1..4"
n=0
for cc in clang gcc; do
for arch in x86_64 aarch64; do
  n=$((n + 1))
  # clang's own library stays in BUILD (the kernel links it too); gcc's goes beside it.
  b=$build; [ $cc = clang ] || b=$build/cc-$cc
  out=$b/$arch/libtest
  mkdir -p "$out"
  if [ $arch = x86_64 ]; then
    flags="--target=x86_64-unknown-none-elf -mcmodel=kernel -mno-red-zone -mgeneral-regs-only"
    base=0xffffffff80000000
  else
    flags="--target=aarch64-unknown-none-elf -mgeneral-regs-only"
    base=0x40000000
  fi
  why=""
  if ! make -C "$root" --no-print-directory BUILD="$b" CC=$cc lib ARCH=$arch > "$out/make.log" 2>&1; then
    why="make lib CC=$cc failed: $(grep -m1 -E 'error|warning|ensure-cc' "$out/make.log")"
  elif ! clang $flags -std=gnu11 -ffreestanding -fno-builtin -nostdlib -O2 -Wall -Werror \
      -I"$root/include" -c "$here/stub.c" -o "$out/stub.o" 2> "$out/cc.log"; then
    why="stub.c does not compile: $(head -n 1 "$out/cc.log")"
  elif ! ld.lld -nostdlib -static -e _start --image-base=$base -o "$out/hobby.elf" \
      "$out/stub.o" "$b/$arch/libgoheap.a" 2> "$out/ld.log"; then
    why="link failed: $(head -n 1 "$out/ld.log")"
  elif llvm-nm -u "$out/hobby.elf" | grep -q .; then
    why="undefined symbols: $(llvm-nm -u "$out/hobby.elf" | tr '\n' ' ')"
  fi
  for h in goheap.h goheap_lockclass.h platform.h goheap_platform_impl.h; do
    [ -z "$why" ] && [ ! -f "$b/$arch/include/$h" ] && why="missing header $b/$arch/include/$h"
  done
  if [ -z "$why" ]; then
    echo "ok $n lib_links_${arch}_$cc"
  else
    echo "# $why"
    echo "not ok $n lib_links_${arch}_$cc"
  fi
done
done
