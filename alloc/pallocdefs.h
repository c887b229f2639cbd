/* alloc/pallocdefs.h: the page allocator's shared definitions: chunk geometry, the
 * summary tree's shape, the packed summary type and the per-chunk bitmaps. Both
 * pagealloc.h (the tree) and pallocbits.h (one chunk's bitmaps) build on it. */
#ifndef GOHEAP_PALLOCDEFS_H
#define GOHEAP_PALLOCDEFS_H

#include <stdint.h>

#include "sizeclasses.h"

#define PALLOC_CHUNK_PAGES_LOG 9
#define PALLOC_CHUNK_PAGES (1u << PALLOC_CHUNK_PAGES_LOG)        /* 512 pages */
#define PALLOC_CHUNK_BYTES ((uintptr_t)PALLOC_CHUNK_PAGES << GOHEAP_PAGE_SHIFT) /* 4 MiB */
#define PALLOC_CHUNK_WORDS (PALLOC_CHUNK_PAGES / 64)             /* 8 */

/* Summary tree: 5 levels; every level below the root fans out 8 ways. An entry at
 * level l covers 2^level_log_pages[l] (pagealloc.c) pages: 2^21 (16 GiB) at the root,
 * then 2 GiB, 256 MiB, 32 MiB and one chunk (4 MiB) at the leaves. The root has as
 * many entries as the arena needs (arena bytes / 16 GiB, rounded up), instead of
 * Go's 2^14 covering all of a 48-bit address space. */
#define PALLOC_LEVELS 5
#define PALLOC_LEVEL_BITS 3
#define PALLOC_FANOUT (1u << PALLOC_LEVEL_BITS) /* children per entry below the root: 8 */
#define PALLOC_SUM_LOG_MAX 21 /* 9 + 4 * 3: the largest field value is 2^21 */

/* A packed summary of a region: start (free pages at its low end, bits 0..20), max
 * (longest free run, bits 21..41), end (free pages at its high end, bits 42..62).
 * 0 = fully allocated. A fully free root entry (all three 2^21, which does not fit
 * 21 bits) is stored as bit 63 alone. */
typedef uint64_t pallocsum_t;

/* Per-chunk bitmaps, bit i of word i/64 is page i of the chunk.
 * alloc: 1 = in use. scav: 1 = free and scavenged (unbacked). zero: 1 = free and
 * known to read zero (once mapped, for a scavenged page).
 * Invariants: (alloc[w] & scav[w]) == 0, (alloc[w] & zero[w]) == 0. */
struct pallocdata {
    uint64_t alloc[PALLOC_CHUNK_WORDS];
    uint64_t scav[PALLOC_CHUNK_WORDS];
    uint64_t zero[PALLOC_CHUNK_WORDS];
};

/* ---- Summary packing (inline: the tree walk reads these constantly) ---------------- */
#define PALLOC_SUM_FIELD_MASK ((1ull << PALLOC_SUM_LOG_MAX) - 1)
#define PALLOC_SUM_MAX_VALUE (1u << PALLOC_SUM_LOG_MAX) /* 2^21 pages: one root entry */
#define PALLOC_SUM_ALL_FREE (1ull << 63)

static inline pallocsum_t pallocsum_pack(unsigned start, unsigned max, unsigned end) {
    if (max == PALLOC_SUM_MAX_VALUE) /* only a fully free root entry reaches 2^21 */
        return PALLOC_SUM_ALL_FREE;
    return (uint64_t)start | (uint64_t)max << PALLOC_SUM_LOG_MAX |
           (uint64_t)end << (2 * PALLOC_SUM_LOG_MAX);
}
static inline unsigned pallocsum_start(pallocsum_t s) {
    return s & PALLOC_SUM_ALL_FREE ? PALLOC_SUM_MAX_VALUE : (unsigned)(s & PALLOC_SUM_FIELD_MASK);
}
static inline unsigned pallocsum_max(pallocsum_t s) {
    return s & PALLOC_SUM_ALL_FREE ? PALLOC_SUM_MAX_VALUE
                                   : (unsigned)(s >> PALLOC_SUM_LOG_MAX & PALLOC_SUM_FIELD_MASK);
}
static inline unsigned pallocsum_end(pallocsum_t s) {
    return s & PALLOC_SUM_ALL_FREE
               ? PALLOC_SUM_MAX_VALUE
               : (unsigned)(s >> (2 * PALLOC_SUM_LOG_MAX) & PALLOC_SUM_FIELD_MASK);
}

#endif /* GOHEAP_PALLOCDEFS_H */
