/* kernel/include/bitops.h: bit counting for the kernel without a compiler runtime: gcc
 * turns __builtin_popcountll into a libgcc call (__popcountdi2) when the CPU baseline
 * has no popcount instruction, and the kernel links no libgcc. */
#ifndef KERNEL_BITOPS_H
#define KERNEL_BITOPS_H

#include <stdint.h>

static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

#endif /* KERNEL_BITOPS_H */
