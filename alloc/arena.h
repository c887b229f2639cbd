/* alloc/arena.h: the heap's address space (arena.c): a window laid out at init and
 * reserved in increments as the heap grows. All functions: caller holds the heap
 * lock, except gh_arena_init (before the lock is shared). */
#ifndef GOHEAP_ARENA_H
#define GOHEAP_ARENA_H

#include <stdint.h>

#include "pagealloc.h"
#include "platform.h"
#include "sysmem.h"

struct mspan;

/* Layout: [gh_fast.spans, + window/1024 rounded to 4 MiB) the span map, then
 * [gh_fast.base, + arena_bytes) the heap, then (incremental mode) [pameta, +
 * gh_pagealloc_meta_span(arena_bytes)) the page allocator's metadata. Incremental mode
 * reserves the first two from their starts upward and the page allocator reserves
 * its metadata frames as it maps them; whole mode reserved the span map and the heap
 * at init, and the page allocator reserves its metadata elsewhere, whole.
 *   resv <= arena_bytes; map_resv >= resv / 1024 (frame-rounded)
 *   mapped <= next <= resv <= arena_bytes (all 4 MiB multiples), map_resv >= resv/1024
 *   heap offsets [0, resv) are reserved or holes (never grown, span map dead);
 *   gh_fast.npages <= next / 8 KiB, and every run the window's page allocator has
 *   handed out (a run taken unmapped: once mapped) ends at or below npages pages
 *   (gh_arena_cover): entries [0, npages)
 *   are written (a span, or gh_deadspan), the ones in [npages, mapped) not yet, and
 *   a page in [npages, next) reads as gh_deadspan through gh_span_of_cover. */
struct gh_arena {
    /* ---- protected by the heap lock ---- */
    uintptr_t next;     /* heap offset the next growth starts at (next <= resv);
                         * written with relaxed atomics: gh_span_of_cover reads it
                         * without the lock */
    uintptr_t mapped;   /* span map memory mapped for heap offsets [0, mapped) */
    uintptr_t resv;     /* heap bytes reserved (or skipped as holes) from gh_fast.base */
    uintptr_t map_resv; /* span-map bytes reserved from gh_fast.spans */
    uintptr_t holes;    /* heap bytes skipped because something else held them */
    uintptr_t asked;    /* the window asked for at init */
    /* Incremental mode: where the page allocator's metadata range starts, right after
     * the heap's window (gh_fast.base + arena_bytes); 0 in whole and region mode. */
    uintptr_t pameta;
    int incremental;    /* 1: reserved in increments (platform has reserve_at) */
};
extern struct gh_arena gh_arena;

/* The window's size (gh_heap.arena_bytes), for code outside the core's headers. */
uint64_t gh_arena_bytes(void);

/* Lays out a window of `window` bytes and reserves its first increment (incremental
 * mode: at a platform hint, 64 MiB or less down to 4 MiB), or all of it (whole mode:
 * halving on failure unless `exact`). Sets gh_fast.base/spans and
 * gh_heap.arena_bytes. Returns 0, or -1 with a logged message saying what was asked. */
int gh_arena_init(size_t window, int exact);
/* Grows the heap by `bytes` (4 MiB multiple) of fresh address space: reserves it
 * (adjacent, or past a hole), maps its span map's memory and hands it to the page
 * allocator. 0, or -1 (nothing handed over). */
int gh_arena_grow(uintptr_t bytes);
/* A run of the window's page allocator ending at address `end` is being handed out:
 * writes gh_deadspan into the span map up to there and publishes gh_fast.npages
 * (release), before any span of the run is published (the free fast path reads the
 * map below npages, and map_write takes a span at or past npages for a cover's).
 * Growth itself writes no entry, so a huge request the system then refuses (NULL)
 * leaves no span map behind it: a failed malloc of 900 GiB had written 900 MiB of it.
 * Caller holds the heap lock; addresses outside the window are ignored. */
void gh_arena_cover(uintptr_t end);
/* Makes heap offsets [0, end) reserved: the next increment at the adjacent address
 * (64 MiB, or smaller down to what end needs). 0, or -1 when the address is taken,
 * the system refuses, or end is past the window. */
int gh_arena_extend(uintptr_t end);
/* After gh_arena_extend failed: reserves `need` bytes further up the window, leaving a
 * hole. Returns the new piece's heap offset, or 0 when none was found. */
uintptr_t gh_arena_skip(uintptr_t need);

/* ---- Covers: regions outside the window (region mode, goheap_add_region) -------------
 * A cover is a run of 4 MiB chunks outside the primary window and every other cover,
 * with its own page allocator and span map, both carved from the region that caused
 * it (docs/alloc.md, "Adding regions"). A region's pages that fall in chunks some
 * page allocator covers already (regions that share a chunk) go to that one instead,
 * so each add makes at most one cover. Pages of different regions never share a span:
 * each region's own metadata area lies between them, allocated forever.
 *   covers never overlap the window or each other; base, end: 4 MiB multiples;
 *   spans[(a - base) >> 13] is the span of every in-use page a of [base, end).
 * Published once (release store of n after the entry is complete) and never
 * removed, so pointer lookups read them without a lock. */
#define GH_MAX_COVERS (GH_MAX_REGIONS - 1)
struct gh_cover {
    uintptr_t base, end;    /* fixed before publication */
    struct mspan **spans;   /* [(end - base) / 8 KiB], gh_deadspan where no span */
    struct pagealloc pages; /* protected by the heap lock */
};
struct gh_covers {
    unsigned n; /* __atomic: published covers */
    struct gh_cover c[GH_MAX_COVERS];
};
extern struct gh_covers gh_covers;

/* The published cover holding address a, or NULL. No lock. */
struct gh_cover *gh_cover_of(uintptr_t a);

#endif /* GOHEAP_ARENA_H */
