/* tests/host/heapcheck.h: helpers shared by the hosted allocator tests: a small PRNG,
 * Go's size-class table (to draw sizes from every class), object cookies derived from
 * address and size, and a stats snapshot. Header-only; each test is one binary.
 */
#ifndef HEAPCHECK_H
#define HEAPCHECK_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "goheap.h"

/* Go's 68 size classes (class 0 is "large"); the sizes a small malloc rounds up to.
 * Tests draw a class uniformly and then a size inside (size[c-1], size[c]], so every
 * class and both of its ends are exercised. */
static const uint32_t hc_class_size[GOHEAP_NUM_SIZE_CLASSES] = {
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240,
    256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152,
    1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
    6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432,
    19072, 20480, 21760, 24576, 27264, 28672, 32768,
};
/* Checking loops need no coverage feedback; under libFuzzer every traced compare in
 * them would cost more than the allocator call being checked. */
#if defined(__clang__)
#define HC_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define HC_NOCOV
#endif

#define HC_MAX_SMALL 32768u
#define HC_TINY_MAX 16u /* GOHEAP_NOSCAN objects below this may take the tiny path */

/* splitmix64: a tiny, good-enough PRNG; one state word per thread. */
static inline uint64_t hc_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline size_t hc_below(uint64_t *s, size_t n) { return (size_t)(hc_rand(s) % n); }

/* A size inside small class c (1 <= c < 68): (size[c-1], size[c]]. */
static inline size_t hc_size_in_class(uint64_t *s, unsigned c) {
    size_t lo = hc_class_size[c - 1], hi = hc_class_size[c];
    return lo + 1 + hc_below(s, hi - lo);
}

/* ---- cookies --------------------------------------------------------------------
 * Word i of an object of n bytes with key k holds hc_word(k, n, i). The stress test keys
 * a cookie by the object's address, so two live objects that overlap, or an object
 * handed out twice, cannot both check clean; the fuzzer keys it by a serial number, so
 * the contents can be compared after realloc moved them. Objects up to HC_FULL bytes
 * are covered whole; larger ones at both ends (HC_END bytes) and one word per 4 KiB in
 * between, to keep big objects cheap. */
#define HC_FULL 4096u
#define HC_END 256u

static inline uint64_t hc_word(uint64_t key, size_t n, size_t i) {
    uint64_t x = key ^ ((uint64_t)n << 40) ^ ((uint64_t)i * 0xD6E8FEB86659FD93ull);
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
    return x;
}
/* Byte j of the cookie stream. */
static inline uint8_t hc_byte(uint64_t key, size_t n, size_t j) {
    return (uint8_t)(hc_word(key, n, j / 8) >> (8 * (j % 8)));
}

/* Fill (check == 0) or verify (check == 1) bytes [from, to) of the object at b. Returns
 * the offset of the first bad byte, or (size_t)-1. Whole words go through memcpy. */
HC_NOCOV static inline size_t hc_range(unsigned char *b, uint64_t key, size_t n, size_t from, size_t to,
                              int check) {
    size_t k = from;
    for (; k < to && (k % 8) != 0; k++)
        if (check ? b[k] != hc_byte(key, n, k) : ((b[k] = hc_byte(key, n, k)), 0))
            return k;
    for (; k + 8 <= to; k += 8) {
        uint64_t w = hc_word(key, n, k / 8), got;
        if (check) {
            memcpy(&got, b + k, 8);
            if (got != w) {
                while (b[k] == hc_byte(key, n, k))
                    k++;
                return k;
            }
        } else {
            memcpy(b + k, &w, 8);
        }
    }
    for (; k < to; k++)
        if (check ? b[k] != hc_byte(key, n, k) : ((b[k] = hc_byte(key, n, k)), 0))
            return k;
    return (size_t)-1;
}

/* Fill or check the covered bytes of the prefix [0, m) of an n-byte object whose cookie
 * has key `key` (m < n: what survives a shrinking realloc). */
HC_NOCOV static inline size_t hc_cover(void *obj, uint64_t key, size_t n, size_t m, int check) {
    unsigned char *b = (unsigned char *)obj;
    size_t bad;
    if (m > n)
        m = n;
    if (n <= HC_FULL)
        return hc_range(b, key, n, 0, m, check);
    if ((bad = hc_range(b, key, n, 0, m < HC_END ? m : HC_END, check)) != (size_t)-1)
        return bad;
    for (size_t off = 4096; off + 8 <= n - HC_END && off + 8 <= m; off += 4096)
        if ((bad = hc_range(b, key, n, off, off + 8, check)) != (size_t)-1)
            return bad;
    if (m > n - HC_END)
        return hc_range(b, key, n, n - HC_END, m, check);
    return (size_t)-1;
}
static inline void hc_fill(void *p, size_t n) { (void)hc_cover(p, (uintptr_t)p, n, n, 0); }
static inline size_t hc_check(void *p, size_t n) { return hc_cover(p, (uintptr_t)p, n, n, 1); }

/* True when the n bytes at p are all zero (calloc, ZERO). */
HC_NOCOV static inline int hc_all_zero(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, b + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

/* Live objects according to the fast counters. */
static inline uint64_t hc_live_objects(void) {
    struct goheap_memstats st;
    goheap_read_memstats(&st);
    return st.mallocs - st.frees;
}

/* Object-check failures of threaded tests: counted (hc_nfail), the first 20 printed as
 * KTAP comments, one at a time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
static __attribute__((unused)) atomic_uint hc_nfail;
static __attribute__((unused)) pthread_mutex_t hc_print_lock = PTHREAD_MUTEX_INITIALIZER;
#define HC_FAIL(...)                                                     \
    do {                                                                 \
        if (atomic_fetch_add(&hc_nfail, 1) < 20) {                       \
            pthread_mutex_lock(&hc_print_lock);                          \
            printf("    # %s:%d: ", __FILE__, __LINE__);                 \
            printf(__VA_ARGS__);                                         \
            printf("\n");                                                \
            fflush(stdout);                                              \
            pthread_mutex_unlock(&hc_print_lock);                        \
        }                                                                \
    } while (0)
#endif /* HEAPCHECK_H */
