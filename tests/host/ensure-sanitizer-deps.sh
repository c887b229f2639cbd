#!/bin/sh
# tests/host/ensure-sanitizer-deps.sh: makes sure clang's sanitizer and libFuzzer runtimes
# (Debian: libclang-rt-14-dev) are installed, installing them with apt-get when missing.
# Writes "ok" or the reason it could not to the status file given as $1; exits 0 either
# way, so the steps that need them can report a SKIP with that reason.
status=$1; cc=${HOSTCC:-clang}
mkdir -p "$(dirname "$status")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' > "$tmp/f.c"
printf 'int main(void) { return 0; }\n' > "$tmp/m.c"
probe() {
    $cc -fsanitize=fuzzer,address,undefined "$tmp/f.c" -o "$tmp/f" 2>"$tmp/err" &&
    $cc -fsanitize=thread "$tmp/m.c" -o "$tmp/t" 2>>"$tmp/err" &&
    $cc -fsanitize=address,undefined "$tmp/m.c" -o "$tmp/a" 2>>"$tmp/err"
}
if probe; then echo ok > "$status"; exit 0; fi
pkg=libclang-rt-$($cc -dumpversion | cut -d. -f1)-dev
echo "sanitizer runtimes missing; installing $pkg" >&2
if command -v apt-get >/dev/null 2>&1; then
    { apt-get install -y -q "$pkg" || { apt-get update -q && apt-get install -y -q "$pkg"; }; } >&2
fi
if probe; then echo ok > "$status"; else
    echo "clang sanitizer/libFuzzer runtimes ($pkg) missing and not installable: $(head -c 200 "$tmp/err" | tr '\n' ' ')" > "$status"
fi
exit 0
