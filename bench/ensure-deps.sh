#!/bin/sh
# bench/ensure-deps.sh: install the allocators the benchmarks compare against (Debian's
# libmimalloc2.0, libjemalloc2, libtcmalloc-minimal4) and valgrind, when missing and root.
missing=""
have_lib() { ls /usr/lib/*-linux-gnu/"$1" /lib/*-linux-gnu/"$1" >/dev/null 2>&1; }
have_lib libmimalloc.so.2 || missing="$missing libmimalloc2.0"
have_lib libjemalloc.so.2 || missing="$missing libjemalloc2"
have_lib libtcmalloc_minimal.so.4 || missing="$missing libtcmalloc-minimal4"
command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "bench: missing packages:$missing (not root; the benchmarks skip what is absent)" >&2
  exit 0
fi
echo "bench: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || {
  apt-get update -q >/dev/null 2>&1
  apt-get install -y -q $missing >/dev/null || echo "bench: apt-get failed for:$missing" >&2
}
exit 0
