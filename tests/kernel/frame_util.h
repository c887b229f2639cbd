/* tests/kernel/frame_util.h: running the frame allocator dry on purpose, for the
 * out-of-frames cases (heap_lazy, heap_remap, test_paging): every frame this CPU can
 * get, chained through each frame's first word, and given back. */
#ifndef TESTS_KERNEL_FRAME_UTIL_H
#define TESTS_KERNEL_FRAME_UTIL_H

#include <stdint.h>
#include <arch/paging.h>
#include <frame.h>

/* Frames taken until frame_alloc says none is left (with interrupts masked it may not
 * pull, so frames the heap released lazily stay with it), pushed on *chain; how many. */
static inline uint64_t fu_take_all_frames(uint64_t *chain)
{
    uint64_t n = 0, pa;
    while ((pa = frame_alloc(0))) {
        *(uint64_t *)arch_phys_to_virt(pa) = *chain;
        *chain = pa;
        n++;
    }
    return n;
}

/* Every frame of the chain back to the frame allocator. */
static inline void fu_give_back(uint64_t chain)
{
    while (chain) {
        uint64_t next = *(uint64_t *)arch_phys_to_virt(chain);
        frame_free(chain);
        chain = next;
    }
}

#endif /* TESTS_KERNEL_FRAME_UTIL_H */
