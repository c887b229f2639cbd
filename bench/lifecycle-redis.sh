#!/bin/sh
# bench/lifecycle-redis.sh: issue 10's redis target. redis-server (Debian's, built with
# jemalloc) with and without LD_PRELOAD of an allocator: 2M keys of 100 B values
# (DEBUG POPULATE), FLUSHALL, MEMORY PURGE, then IDLE seconds without a command;
# prints VmRSS at each point. Usage: lifecycle-redis.sh PORT [preload.so] [idle s] [keys]
set -e
port=$1; so=$2; idle=${3:-30}; keys=${4:-2000000}
dir=$(mktemp -d)
if [ -n "$so" ]; then
    LD_PRELOAD=$so redis-server --port "$port" --save '' --appendonly no --dir "$dir" \
        --enable-debug-command yes --daemonize no >"$dir/log" 2>&1 &
else
    redis-server --port "$port" --save '' --appendonly no --dir "$dir" \
        --enable-debug-command yes --daemonize no >"$dir/log" 2>&1 &
fi
pid=$!
cli() { redis-cli -p "$port" "$@" >/dev/null; }
for i in 1 2 3 4 5 6 7 8 9 10; do cli ping 2>/dev/null && break; sleep 0.5; done
rss() { awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
cli debug populate "$keys" key 100
full=$(rss)
cli flushall sync
cli memory purge
after=$(rss)
sleep "$idle"
idlerss=$(rss)
cli shutdown nosave 2>/dev/null || kill $pid
wait $pid 2>/dev/null || true
rm -rf "$dir"
echo "redis ${so:-jemalloc(own)} keys=$keys: rss_full_kib=$full rss_after_flush_kib=$after rss_after_${idle}s_idle_kib=$idlerss"
