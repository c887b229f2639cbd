#!/bin/sh
# tests/host/amalgamation.sh: KTAP checks of `make amalgamation` (tools/amalgamate.py):
# it is generated (unique static names across the merged files, or the generator
# fails), gcc and clang compile it warning-free as freestanding code with the
# four-hook region platform (tests/host/region/goheap_config.h), with and without
# its own memset & co., and tests/host/test_region.c passes against each build (with
# the first region at an odd offset and on a chunk boundary). Also
# `make install PREFIX=` installs the archive and the public headers and nothing else.
# usage: amalgamation.sh BUILD_DIR
build=${1:?usage: amalgamation.sh BUILD_DIR}
here=$(dirname "$0")
root=$here/../..
out=$build/amalgamation-test
mkdir -p "$out"
echo "KTAP version 1"
echo "1..6"
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
