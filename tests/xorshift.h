/* tests/xorshift.h: the one pseudo-random generator of the tests, the benchmarks and
 * the demo: xorshift64* (Vigna 2014), deterministic per seed (which must be nonzero),
 * a few instructions (cheap under TCG), freestanding. */
#ifndef GOHEAP_TESTS_XORSHIFT_H
#define GOHEAP_TESTS_XORSHIFT_H

#include <stdint.h>

static inline uint64_t xorshift64s(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif /* GOHEAP_TESTS_XORSHIFT_H */
