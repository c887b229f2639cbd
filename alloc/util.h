/* alloc/util.h: small freestanding helpers shared by the allocator core: branch
 * hints, bit operations, memory helpers and the panic/log formatter. */
#ifndef GOHEAP_UTIL_H
#define GOHEAP_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define gh_likely(x) __builtin_expect(!!(x), 1)
#define gh_unlikely(x) __builtin_expect(!!(x), 0)
#define GH_NOINLINE __attribute__((noinline))
#define GH_COLD __attribute__((cold, noinline))
#define GH_CACHELINE 64
#define GH_ALIGNED(n) __attribute__((aligned(n)))

/* A relaxed read of an aligned word that writers change with atomic stores, as one
 * volatile load (the kernel's READ_ONCE): clang folds it into the instruction that
 * uses it, where an atomic load takes a load of its own (the free fast path's bound
 * test: one instruction per free). Every target reads an aligned word whole;
 * ThreadSanitizer builds keep the atomic load, which it understands. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GH_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GH_TSAN 1
#endif
#ifdef GH_TSAN
#define GH_READ_WORD(p) atomic_load_explicit((p), memory_order_relaxed)
#else
#define GH_READ_WORD(p) (*(const volatile uintptr_t *)(p))
#endif

/* A plain read of a pointer-sized field that writers change with atomic stores and
 * whose readers accept any value they see (the span map: a look-up racing the unmap
 * of its page checks the span's state): the plain load the fast paths compile to,
 * atomic under ThreadSanitizer, which cannot know the reader tolerates the race. */
#ifdef GH_TSAN
#define GH_READ_RACY(lv) __atomic_load_n(&(lv), __ATOMIC_RELAXED)
#else
#define GH_READ_RACY(lv) (lv)
#endif

/* A counter with one writer (its CPU, pinned, or the holder of its lock) that readers
 * on other CPUs sum with relaxed atomic loads (MemStats): a plain add, which every
 * target makes as one aligned store, as the kernel's per-CPU counters do; atomic under
 * ThreadSanitizer, which would otherwise call the plain add a race with the readers'
 * loads. */
#ifdef GH_TSAN
#define GH_COUNT_ADD(lv, n) ((void)__atomic_fetch_add(&(lv), (n), __ATOMIC_RELAXED))
#else
#define GH_COUNT_ADD(lv, n) ((void)((lv) += (n)))
#endif

static inline unsigned gh_ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned gh_clz64(uint64_t x) { return (unsigned)__builtin_clzll(x); }
/* Bit count without a compiler helper: gcc lowers __builtin_popcountll to a libgcc
 * call (__popcountdi2) when the target has no popcount instruction enabled, and the
 * core links against no runtime library. clang emits this same sequence inline. */
static inline unsigned gh_popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}
/* Rotations by k < 64, as one instruction: clang's builtins, else the form gcc
 * recognises (clang did not recognise that form for a rotate left by a byte field). */
#if defined(__has_builtin) && __has_builtin(__builtin_rotateleft64)
static inline uint64_t gh_rotl64(uint64_t x, unsigned k) { return __builtin_rotateleft64(x, k); }
static inline uint64_t gh_rotr64(uint64_t x, unsigned k) { return __builtin_rotateright64(x, k); }
#else
static inline uint64_t gh_rotl64(uint64_t x, unsigned k) { return (x << (k & 63)) | (x >> (-k & 63)); }
static inline uint64_t gh_rotr64(uint64_t x, unsigned k) { return (x >> (k & 63)) | (x << (-k & 63)); }
#endif
/* Bit i mod 64 of x: the mod is written out so that compilers emit bt on the index
 * itself (x86-64) instead of first reducing it. */
static inline int gh_bit64(uint64_t x, uint64_t i) { return (int)((x >> (i & 63)) & 1); }
/* The mask of bit i % 64 (x86: an or with it is one bts). */
static inline uint64_t gh_bit_mask(uint64_t i) { return 1ull << (i & 63); }
/* x, with its origin hidden from the optimizer (an empty asm, no instruction, on any
 * target): a bit test of a & b is then an and and a bt, where clang 14 would first
 * build the mask 1 << i (mov, mov, shl) to test against a and b in turn. */
static inline uint64_t gh_opaque64(uint64_t x) {
    __asm__("" : "+r"(x));
    return x;
}
/* Sets bit b < 64 of *p atomically; nonzero when it was set already. gcc (12)
 * compiles (fetch_or(1 << b) & (1 << b)) != 0 to one `lock bts` on x86 when it sees a
 * single bit; clang 14 gives a load and a `lock cmpxchg` loop (about 8 instructions
 * more, and retries under contention). A platform may supply the one instruction
 * instead (core.h gh_remote_set_bit). */
static inline int gh_atomic_set_bit(_Atomic uint64_t *p, unsigned b, memory_order mo) {
    uint64_t m = 1ull << (b & 63);
    return (atomic_fetch_or_explicit(p, m, mo) & m) != 0;
}
static inline uintptr_t gh_align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
static inline uintptr_t gh_align_down(uintptr_t x, uintptr_t a) { return x & ~(a - 1); }
static inline bool gh_is_pow2(uintptr_t x) { return x && !(x & (x - 1)); }

/* The compiler may lower these to calls of memset/memcpy/memmove, which every
 * platform provides (the kernel brings its own; see docs/PORTING.md). */
static inline void gh_memclr(void *p, size_t n) { __builtin_memset(p, 0, n); }
static inline void gh_memcpy(void *d, const void *s, size_t n) { __builtin_memcpy(d, s, n); }

/* Minimal formatter for log and panic lines (no libc): %s %c %d %u %x %p %%,
 * with an optional 'l' or 'z' length modifier (ignored: all integers are 64-bit
 * after promotion through the modifier) . Always NUL-terminates; returns length. */
size_t gh_vfmt(char *buf, size_t n, const char *fmt, va_list ap);
size_t gh_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* goheap_sys_log / goheap_sys_panic with formatting. */
void gh_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void gh_panicf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* GOHEAP_UTIL_H */
