/* kernel/include/frame.h: the physical frame allocator. 4 KiB frames from the firmware
 * memory map minus reservations; a global bitmap under one lock, fronted by per-CPU
 * caches so the common alloc/free takes no global lock. */
#ifndef KERNEL_FRAME_H
#define KERNEL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_ZERO 0x1u         /* hand the frame(s) out zero-filled */
#define FRAME_NOPULL 0x2u       /* never ask the reclaimer (below): fail instead */

/* Build from arch_memmap() / arch_reserved(). BSP, once, before any other call. */
void frame_init(void);

/* One frame; returns its physical address, or 0 when none is left (frame 0 is
 * always reserved). Any CPU, any IRQ state. When none is left and the caller may wait
 * (thread context, interrupts on, no spinlock held), the registered reclaimer is asked
 * first (a pull: the heap unmaps pages it released lazily); from any other context the
 * request fails instead. */
uint64_t frame_alloc(unsigned flags);
void frame_free(uint64_t pa);

/* Many single frames back in one frame-lock hold (arch_unmap: a 256 MiB unmap frees
 * 65,536): frame_batch_add gathers them, and each FRAME_BATCH-th add, or
 * frame_free_batch called by the caller when it is done, puts them straight into the
 * bitmap (not this CPU's cache: a large unmap would only overflow it) and counts them
 * in frame_free_count once. The same checks as frame_free (a double free panics). */
#define FRAME_BATCH 64
struct frame_batch {
    unsigned n;                 /* pa[0..n) are gathered, not yet free */
    uint64_t pa[FRAME_BATCH];
};
void frame_free_batch(struct frame_batch *b);   /* frees pa[0..n); n = 0 */
static inline void frame_batch_add(struct frame_batch *b, uint64_t pa)
{
    b->pa[b->n++] = pa;
    if (b->n == FRAME_BATCH)
        frame_free_batch(b);
}

/* n physically contiguous frames, aligned to `align` frames (a power of two, >= 1);
 * 0 when no such run exists (after a pull, as for frame_alloc). Always from the global
 * bitmap. */
uint64_t frame_alloc_run(size_t n, size_t align, unsigned flags);
void frame_free_run(uint64_t pa, size_t n);

/* Give this CPU's cached frames back to the global bitmap. */
void frame_drain_local(void);

/* The pull: fn(bytes) gives back up to `bytes` of memory it holds mapped but does not
 * need (unmapping it, its frames freed) and returns how many bytes it gave, every byte
 * of them backed (frame_stats counts them as pulled frames). The heap
 * registers goheap_reclaim_lazy (kheap_init). Called only where frame_alloc says. */
typedef size_t (*frame_reclaimer_fn)(size_t bytes);
/* Returns the reclaimer it replaces (a test puts its own in and the old one back). */
frame_reclaimer_fn frame_set_reclaimer(frame_reclaimer_fn fn);

struct frame_stats {
    uint64_t total;             /* usable frames managed (excludes reservations) */
    uint64_t free;              /* free in the bitmap + cached on every CPU */
    uint64_t cached;            /* in per-CPU caches, all CPUs */
    uint64_t cached_cpu[64];    /* per CPU (first 64 CPUs) */
    uint64_t reserved;          /* frames inside usable RAM that were reserved */
    uint64_t max_pa;            /* end of the highest usable range */
    uint64_t init_ns;           /* time frame_init took (0 before the timer is up) */
    uint64_t init_cycles;       /* same, in cycles */
    uint64_t pulls;             /* reclaimer calls that gave frames back */
    uint64_t pulled_frames;     /* frames they gave back (the bytes they said / 4 KiB) */
    uint64_t pulls_refused;     /* out of frames where a pull was not allowed */
};
void frame_stats(struct frame_stats *out);
uint64_t frame_free_count(void);

#endif /* KERNEL_FRAME_H */
