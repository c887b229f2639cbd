#!/bin/sh
# tests/host/amalgamation.sh: KTAP checks of `make amalgamation` (tools/amalgamate.py):
# it is generated (unique static names across the merged files, or the generator
# fails), gcc and clang compile it warning-free as freestanding code with the
# four-hook region platform (tests/host/region/goheap_config.h), with and without
# its own memset & co., and tests/host/test_region.c passes against each build (with
# the first region at an odd offset and on a chunk boundary). It also compiles with the
# flags docs/PORTING.md gives for x86_64 and aarch64 (gcc, clang, and where present the
# aarch64-linux-gnu cross gcc) and checks the objects' symbols: only goheap_* and the
# weak memset & co. defined globally (the internal gh_* names static), only the
# quick start's two hooks undefined (no libgcc atomics helpers). Also
# `make install PREFIX=` installs the archive and the public headers and nothing else.
# usage: amalgamation.sh BUILD_DIR
build=${1:?usage: amalgamation.sh BUILD_DIR}
here=$(dirname "$0")
root=$here/../..
out=$build/amalgamation-test
mkdir -p "$out"
echo "KTAP version 1"
echo "1..7"
n=0
result() { # name why
  n=$((n + 1))
  if [ -z "$2" ]; then echo "ok $n $1"; else echo "# $2"; echo "not ok $n $1"; fi
}
why=""
python3 "$root/tools/amalgamate.py" "$out/src" "$root" > "$out/gen.log" 2>&1 || why="generator failed: $(tail -n 3 "$out/gen.log" | tr '\n' ' ')"
result generated_unique_statics "$why"
for cc in gcc clang; do
  why=""
  for mem in "" -DREGION_TEST_LIBC_MEM -DREGION_TEST_NCPU=4; do
    [ -n "$why" ] && break
    if ! $cc -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding $mem -I"$here/region" -I"$out/src" \
        -c "$out/src/goheap.c" -o "$out/goheap-$cc$mem.o" 2> "$out/cc-$cc$mem.log"; then
      why="$cc $mem: $(grep -m 3 -E 'error|warning' "$out/cc-$cc$mem.log" | tr '\n' ' ')"
    fi
  done
  result "compiles_${cc}_wall_wextra_werror_freestanding" "$why"
done
for cc in gcc clang; do
  why=""
  if [ ! -f "$out/goheap-$cc-DREGION_TEST_LIBC_MEM.o" ]; then
    why="no $cc object"
  elif ! $cc -std=gnu11 -O1 -g -Wall -Wextra -Werror -I"$out/src" -I"$here" "$here/test_region.c" \
      "$out/goheap-$cc-DREGION_TEST_LIBC_MEM.o" -o "$out/test_region-$cc" 2> "$out/link-$cc.log"; then
    why="test_region does not build with $cc: $(head -n 2 "$out/link-$cc.log" | tr '\n' ' ')"
  else
    "$out/test_region-$cc" > "$out/region-$cc.log" 2>&1
    st=$?
    # again with the first region on a chunk boundary
    REGION_TEST_ALIGNED=1 "$out/test_region-$cc" >> "$out/region-$cc.log" 2>&1 || st=$?
    sed 's/^/# /' "$out/region-$cc.log" | grep -v "^# ok" | grep -v "^# KTAP\|^# 1\.\.\|# Subtest"
    if [ $st -ne 0 ] || grep -q "^not ok" "$out/region-$cc.log"; then
      why="test_region ($cc build) failed, status $st"
    fi
  fi
  result "region_mode_tests_$cc" "$why"
done
# The commands of docs/PORTING.md's step 1, with the quick start's platform half.
why=""
x64="-ffreestanding -fno-stack-protector -O2 -mno-red-zone -mgeneral-regs-only"
a64="-ffreestanding -fno-stack-protector -O2 -mgeneral-regs-only -mno-outline-atomics"
i=0
for cmd in "gcc $x64" "clang $x64" "clang --target=aarch64-linux-gnu $a64" \
    "clang --target=aarch64-unknown-none-elf $a64" "aarch64-linux-gnu-gcc $a64"; do
  [ -n "$why" ] && break
  command -v "${cmd%% *}" > /dev/null 2>&1 || continue
  i=$((i + 1))
  o="$out/doc-$i.o"
  if ! $cmd -Wall -Wextra -Werror -I"$here/region" -I"$out/src" -c "$out/src/goheap.c" -o "$o" \
      2> "$out/doc-$i.log"; then
    why="$cmd: $(grep -m 3 -E 'error|warning' "$out/doc-$i.log" | tr '\n' ' ')"
    break
  fi
  extra=$(nm -g --defined-only "$o" | awk '{print $3}' | grep -v -E '^(goheap_|memset$|memcpy$|memmove$)' | tr '\n' ' ')
  undef=$(nm -u "$o" | awk '{print $2}' | grep -v -E '^goheap_sys_(log|panic)$' | tr '\n' ' ')
  [ -z "$extra" ] || why="$cmd: exports internals: $extra"
  [ -z "$undef" ] || why="$cmd: needs undocumented symbols: $undef"
done
[ -n "$why" ] || [ $i -gt 0 ] || why="no compiler"
result exports_goheap_names_needs_two_hooks "$why"
why=""
rm -rf "$out/prefix"
if ! make -C "$root" --no-print-directory BUILD="$build" install PREFIX="$out/prefix" > "$out/install.log" 2>&1; then
  why="make install failed: $(tail -n 2 "$out/install.log" | tr '\n' ' ')"
else
  got=$(cd "$out/prefix" && find . -type f | sort | tr '\n' ' ')
  want="./include/goheap.h ./include/goheap_lockclass.h ./lib/libgoheap.a "
  [ "$got" = "$want" ] || why="installed: $got; want: $want"
fi
result install_archive_and_public_headers_only "$why"
