/* alloc/pagealloc.h: the page allocator (Go 1.14's design): which 8 KiB pages of the
 * arena are free, as per-chunk bitmaps under a radix tree of packed summaries, plus
 * the scavenged (unbacked) state of every free page and a per-CPU page cache.
 * See docs/pagealloc.md.
 *
 * Units: addresses are bytes (uintptr_t), counts are 8 KiB pages. A *chunk* is 512
 * pages (4 MiB), the unit of growth and of the bitmaps.
 *
 * Locking: struct pagealloc is embedded in the mheap and protected by the heap lock.
 * Every gh_pagealloc_* function and gh_pagecache_refill/flush require: caller
 * holds the heap lock. They may call goheap_sys_reserve/goheap_sys_map (the platform
 * allows that under a lock) but never goheap_sys_unmap: scavenging hands the run to
 * the caller, which unmaps it after unlocking. gh_pagecache_alloc needs no lock: the
 * caller is pinned to the CPU that owns the cache.
 *
 * Page states per page: the alloc bit, and for a free page two independent facts, the
 * scav bit (unbacked) and the zero bit (known to read zero once backed):
 *   alloc 1: in use (a span, a page cache, or a run being scavenged); zero = 0, and
 *     scav = 0 but for a page of a run gh_pagealloc_alloc_defer handed out unmapped
 *     that its taker has not mapped yet (scav 1: unbacked; npages_mapping counts them);
 *   alloc 0, scav 0: free and backed; zero 0 (it was used: dirty);
 *   alloc 0, scav 1: free and released; zero 1 when the platform's release makes
 *     a later map read zero (pa->release_zero), else 0 (region mode, lazy release).
 * Lazy release (pa->lazy, page-table mode with madvdontneed=0): a released page the
 * release left mapped is scav 1, zero 0, and stays backed: nothing maps it again when
 * it is reused (bookkeeping only; it is dirty), and gh_pagealloc_lazy_take hands it
 * to a reclaimer that unmaps it and gives it back with gh_pagealloc_lazy_done as
 * released and known zero (scav 1, zero 1: unbacked, like a fresh page). So with
 * pa->lazy, scav 1 and zero 0 <=> released lazily and still backed.
 * Freshly grown pages are scavenged, and zero when pa->fresh_zero (page-table mode:
 * goheap_sys_map zero-fills; region mode: only if the porter said the region is
 * zeroed). gh_pagealloc_alloc and gh_pagecache_alloc map the scavenged pages they
 * hand out (goheap_sys_map; a no-op in region mode) except lazily released ones, so
 * returned memory is backed; *scav tells how many were released (for the byte
 * counters), pa->dirty / c->dirty how many were not known zero (the run needs zeroing
 * iff dirty != 0) and pa->lazy_run / c->lazy_run how many of the released ones were
 * released lazily (mapped all along).
 */
#ifndef GOHEAP_PAGEALLOC_H
#define GOHEAP_PAGEALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "pallocdefs.h"

struct pagealloc {
    /* ---- fixed by gh_pagealloc_init ---- */
    uintptr_t base;    /* arena base, chunk-aligned */
    uintptr_t limit;   /* arena end: base + nchunks * 4 MiB */
    uintptr_t nchunks; /* chunks in the arena */
    unsigned root_entries;                  /* entries at level 0 */
    pallocsum_t *sum[PALLOC_LEVELS];        /* level l: root_entries << (3 * l) entries */
    struct pallocdata *chunks;              /* [nchunks] */
    uint16_t *scav_index;                   /* [nchunks]: free, unscavenged pages per chunk */
    uint64_t *meta_mapped_bits;             /* bit f: metadata frame f is mapped */
    /* Placed mode only (gh_pagealloc_init_at), else NULL: bit f: metadata frame f is
     * reserved. mapped bits & ~reserved bits == 0. */
    uint64_t *meta_resv_bits;
    uintptr_t meta_base;                    /* one range holds all metadata */
    size_t meta_span;                       /* bytes of that range */
    /* Set by the owner after init (e.g. from GOHEAPDEBUG=debug=N): nonzero adds
     * internal consistency checks on every allocation. */
    unsigned debug;
    /* Set by the owner after init (gh_pagealloc_init sets both to 1, the platform
     * contract of page-table mode): fresh_zero, grown pages read zero once mapped;
     * release_zero, scavenged pages read zero once mapped again (0 in region mode,
     * where release only marks pages, and with lazy release, madvdontneed=0). */
    unsigned fresh_zero, release_zero;
    /* Set by the owner after init (0 by default): released pages that are not known
     * zero are still backed (lazy release); see the page states above. Needs
     * release_zero == 0. */
    unsigned lazy;
    /* Set by the owner after init (0 by default: plain first fit): runs of
     * PAGECACHE_MAX_ALLOC pages or more leave the arena's first page-cache window to
     * the page caches while one fits above it (PALLOC_SMALL_FIRST_PAGES, below). */
    unsigned small_first;

    /* ---- protected by the heap lock ---- */
    /* Hint: every grown page below search_addr is in use (or never grown).
     * search_addr == limit when the heap is known to be full. */
    uintptr_t search_addr;
    /* Hint for the runs small_first places (PAGECACHE_MAX_ALLOC pages or more): every
     * grown page at or above the first window's end (PALLOC_SMALL_FIRST_PAGES) and
     * below large_addr is in use; never below the window's end. search_addr stays in
     * the window while the window keeps a free page, so such runs search from
     * max(search_addr, large_addr) instead. Lowered by whatever frees pages past the
     * window, raised by the runs searched from it; kept with small_first off too. */
    uintptr_t large_addr;
    /* Scavenger cursor: chunks at or above scav_chunk have scav_index == 0. */
    uintptr_t scav_chunk;
    uintptr_t chunk_lo, chunk_hi; /* grown chunks lie in [chunk_lo, chunk_hi) */
    /* Counters, in pages. Pages held by page caches count as in use here.
     *   npages_grown == in use + npages_free + npages_scavenging
     *   npages_scav <= npages_free */
    uintptr_t npages_grown;      /* pages ever given to gh_pagealloc_grow */
    uintptr_t npages_free;       /* alloc bit 0 */
    uintptr_t npages_scav;       /* alloc bit 0 and scav bit 1 (unbacked) */
    uintptr_t npages_scavenging; /* taken by scavenge_take or lazy_take, not yet done */
    uintptr_t npages_lazy;       /* of npages_scav: released lazily, still backed (pa->lazy) */
    uintptr_t npages_mapping;    /* alloc bit 1 and scav bit 1: handed out unmapped, being mapped */
    size_t meta_mapped;          /* bytes of metadata mapped (committed) */
    /* Bytes of metadata address space reserved: meta_span in whole mode; placed mode,
     * the frames mapped so far (and any whose map failed). meta_mapped <= meta_reserved
     * <= meta_span. */
    size_t meta_reserved;
    /* Pages of the run the last gh_pagealloc_alloc returned that were not known to
     * read zero: the caller reads it under the same hold of the lock. */
    uintptr_t dirty;
    /* Of that run's released pages, those released lazily (still backed): likewise. */
    uintptr_t lazy_run;
};

/* Failure reasons of gh_pagealloc_alloc and gh_pagecache_alloc (through *err). */
#define PAGEALLOC_OK 0
#define PAGEALLOC_NOSPACE 1 /* no free run that long: grow the heap and retry */
#define PAGEALLOC_NOMEM 2   /* goheap_sys_map failed: growing will not help */

/* Reserves the metadata for an arena [base, base + bytes) (base and bytes multiples
 * of 4 MiB) and maps only its fixed part: the root level and a bitmap of which
 * metadata frames are mapped (for a 1 TiB arena: 512 B of root, 1.6 KiB of bitmap,
 * rounded to frames). Nothing is grown yet. Returns 0, or -1 if reserve/map fails.
 * Called once, before the heap lock is shared. */
int gh_pagealloc_init(struct pagealloc *pa, uintptr_t base, size_t bytes);
/* Bytes of metadata gh_pagealloc_init reserves for an arena of `bytes` (rounded up
 * to whole chunks): what region mode must set aside for it. */
size_t gh_pagealloc_meta_bytes(size_t bytes);

/* Placed mode (platforms with goheap_sys_reserve_at): like gh_pagealloc_init, but the
 * metadata range is [meta_at, meta_at + gh_pagealloc_meta_span(bytes)), laid out by
 * the caller in address space nobody else is expected to take (the arena's window),
 * and reserved frame by frame as grow maps it: only the fixed part (two frame
 * bitmaps, mapped and reserved, and the root) now, so the address space it holds
 * follows the grown heap, not the arena (a 1 TiB arena: 12 KiB at init, 40 KiB with
 * 100 MiB grown, instead of 50.8 MiB at once). Returns 0, or -1 if meta_at is 0 or the
 * fixed part cannot be reserved or mapped there (the caller may fall back to
 * gh_pagealloc_init). A later grow whose frames cannot be reserved fails like a
 * failed map. Called once, before the heap lock is shared. */
int gh_pagealloc_init_at(struct pagealloc *pa, uintptr_t base, size_t bytes, uintptr_t meta_at);
/* Bytes the placed metadata range spans for an arena of `bytes`: what the caller
 * lays out (gh_pagealloc_meta_bytes plus one more frame bitmap). */
size_t gh_pagealloc_meta_span(size_t bytes);

/* Adds [base, base + npages * 8 KiB) to the heap: both chunk-aligned, inside the
 * arena, never grown before. The pages become free and scavenged (unbacked). Maps
 * the metadata covering the range. Returns 0, or -1 if that metadata could not be
 * mapped (then nothing changed, except metadata frames that stay mapped).
 * Caller holds the heap lock. */
int gh_pagealloc_grow(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* With pa->small_first, the first page-cache window of the arena (its first
 * PAGECACHE_PAGES pages) is left to the page caches: a run of PAGECACHE_MAX_ALLOC
 * pages or more (a span that no page cache serves) is placed there only when no run
 * fits above it (the heap grows only when none fits anywhere). That window holds the
 * program's first small spans (the loader's, stdio's, the first threads' descriptors);
 * a small span that comes late, on a CPU with no page cache yet (the hosted background
 * thread's glibc thread vector, 288 B, allocated by the thread that starts it), then
 * finds room among them instead of landing at the lowest free page between the large
 * spans, where it splits their free runs for good (bench/RESULTS.md, "The background
 * thread's own small span"). */
#define PALLOC_SMALL_FIRST_PAGES PAGECACHE_PAGES

/* Allocates npages (>= 1, any size, across chunks too) contiguous pages, address-
 * ordered first fit (with pa->small_first, runs of PAGECACHE_MAX_ALLOC pages or more
 * past the first window while one fits there). Maps the scavenged pages inside and
 * returns the base address,
 * with *scav = how many of the npages were scavenged (now freshly mapped) and
 * pa->dirty = how many are not known to read zero.
 * Returns 0 on failure with *err = PAGEALLOC_NOSPACE or PAGEALLOC_NOMEM (err may be
 * NULL); on NOMEM nothing is allocated (pages mapped before the failure stay free
 * and are now backed). Caller holds the heap lock. */
uintptr_t gh_pagealloc_alloc(struct pagealloc *pa, uintptr_t npages, uintptr_t *scav, int *err);
/* The same, placed at the start of the first free run of at least npages + room
 * pages, so that the room after it is free when it is taken (realloc's moves, which
 * then grow in place); PAGEALLOC_NOSPACE when no such run exists. */
uintptr_t gh_pagealloc_alloc_room(struct pagealloc *pa, uintptr_t npages, uintptr_t room, uintptr_t *scav,
                                  int *err);

/* The same (room as in gh_pagealloc_alloc_room), but nothing is mapped: the run's
 * unbacked pages (*tomap of them, counted in *scav too) stay marked scavenged while in
 * use, and its taker maps them with no lock held (alloc/mheap.c, gh_heap_map_span: a
 * large map must not run pinned under the heap lock), a run at a time:
 *   lock; a = gh_pagealloc_mapping_next(pa, base, npages, &n); unlock;
 *   goheap_sys_map(a, n pages); lock; gh_pagealloc_mapping_done(pa, a, n); unlock; ...
 * mapping_next returns the first run of [base, +npages) still to map (0: none left; a
 * taker asks again from the end of the run it mapped, so each page is walked once);
 * mapping_done marks n such pages backed. If a map fails (or the taker cannot have
 * its span struct), gh_pagealloc_free_mapping frees the whole run: the pages still to
 * map become free and released, known zero where a map zero-fills (pa->fresh_zero:
 * page-table mode) and dirty as they were in region mode (nothing is mapped there:
 * they hold what they held), the others free and backed; it returns how many were
 * still to map. Pages being mapped are in use: no allocation, page cache, scavenge or
 * reclaim touches them. All four: caller holds the heap lock. */
uintptr_t gh_pagealloc_alloc_defer(struct pagealloc *pa, uintptr_t npages, uintptr_t room, uintptr_t *scav,
                                   uintptr_t *tomap, int *err);
uintptr_t gh_pagealloc_mapping_next(const struct pagealloc *pa, uintptr_t base, uintptr_t npages, uintptr_t *n);
void gh_pagealloc_mapping_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages);
uintptr_t gh_pagealloc_free_mapping(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* Allocates exactly [base, base + npages * 8 KiB) if every page of it is grown and
 * free (used to grow a large span in place), mapping the scavenged ones, like
 * gh_pagealloc_alloc otherwise; 0 with *err = PAGEALLOC_NOSPACE when any page is not
 * free, PAGEALLOC_NOMEM when a map failed. Caller holds the heap lock. */
uintptr_t gh_pagealloc_alloc_at(struct pagealloc *pa, uintptr_t base, uintptr_t npages, uintptr_t *scav,
                                int *err);
/* The same with nothing mapped, as gh_pagealloc_alloc_defer: the run's unbacked pages
 * (*tomap of them, counted in *scav too) stay being mapped, for its taker to map with
 * no lock held (realloc's large growth in place, alloc/mheap.c gh_heap_extend_mapped)
 * through mapping_next / mapping_done, or give back with free_mapping. */
uintptr_t gh_pagealloc_alloc_at_defer(struct pagealloc *pa, uintptr_t base, uintptr_t npages, uintptr_t *scav,
                                      uintptr_t *tomap, int *err);

/* The grow window (struct pagecache): takes the run of pages from base that are free
 * and backed (scavenged ones, lazily released included, end it, as does a page in use
 * or an ungrown chunk), at most maxpages, and marks it in use. Returns how many
 * (0: none); the caller counts them as still free. Caller holds the heap lock. */
uintptr_t gh_pagealloc_alloc_backed(struct pagealloc *pa, uintptr_t base, uintptr_t maxpages);

/* realloc's zero-copy move (alloc/remap.c): allocates npages like gh_pagealloc_alloc
 * (placed the same way: with pa->small_first, past the first window while it fits
 * there) but maps nothing: of the run, *lazy pages were released lazily (still backed),
 * *unbacked were released (unbacked, nothing to give back), the rest free and backed;
 * the caller replaces the backing of all of them. Returns the base, or 0 with
 * *err = PAGEALLOC_NOSPACE. Caller holds the heap lock.
 * gh_pagealloc_free_unbacked: pages in use whose backing is gone (moved away, or given
 * back by the caller) become free, released and known zero, like a scavenged run.
 * Caller holds the heap lock. */
uintptr_t gh_pagealloc_alloc_unmapped(struct pagealloc *pa, uintptr_t npages, uintptr_t *lazy,
                                     uintptr_t *unbacked, int *err);
void gh_pagealloc_free_unbacked(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* Frees [base, base + npages * 8 KiB), which must be in use (panics with the address
 * otherwise). The pages become free and backed (unscavenged). Caller holds the heap
 * lock. */
void gh_pagealloc_free(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* ---- Scavenging -------------------------------------------------------------------
 * Returning free pages to the platform, highest addresses first (like Go), in three
 * steps so that the unmap happens outside the lock:
 *   lock; base = gh_pagealloc_scavenge_take(pa, max, &n); unlock;
 *   if (base) { goheap_sys_unmap((void *)base, n * 8192);
 *               lock; gh_pagealloc_scavenge_done(pa, base, n); unlock; }
 * take finds the highest run of free, unscavenged pages (within one chunk, at most
 * max_pages, the top end of the run), marks it in use so nobody allocates it, and
 * returns its base and length (*npages); 0 when nothing is left to scavenge.
 * done frees the run back with its scavenged bits set. Both: caller holds the heap
 * lock. */
uintptr_t gh_pagealloc_scavenge_take(struct pagealloc *pa, uintptr_t max_pages, uintptr_t *npages);
void gh_pagealloc_scavenge_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* Reclaiming lazily released pages (pa->lazy), the same three steps:
 *   lock; base = gh_pagealloc_lazy_take(pa, max, &n); unlock;
 *   if (base) { goheap_sys_unmap((void *)base, n * 8192);
 *               lock; gh_pagealloc_lazy_done(pa, base, n); unlock; }
 * lazy_take finds the highest run of free pages released lazily (within one chunk, at
 * most max_pages) and marks it in use, so no allocation can map or reuse it while it
 * is unmapped; 0 when there is none. lazy_done frees the run back as released and
 * known zero (unbacked now). Both: caller holds the heap lock. */
uintptr_t gh_pagealloc_lazy_take(struct pagealloc *pa, uintptr_t max_pages, uintptr_t *npages);
void gh_pagealloc_lazy_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages);

/* ---- Per-CPU page cache ------------------------------------------------------------
 * A 64-page (512 KiB) aligned window of the arena whose free pages one CPU owns:
 * small span allocations (npages < PAGECACHE_MAX_ALLOC) come from it without the
 * heap lock. While cached, the pages are in use as far as the tree is concerned. */
#define PAGECACHE_PAGES 64
/* 16 = 64 / 4: larger requests would drain a window in a few allocations and take
 * the lock for a refill anyway (Go's pageCachePages / 4). */
#define PAGECACHE_MAX_ALLOC 16

struct pagecache {
    uintptr_t base; /* window base (64-page aligned), 0 when empty */
    uint64_t cache; /* bit i: page base + i * 8 KiB is free and owned by this cache */
    uint64_t scav;  /* bit i: that free page is scavenged (unbacked); scav & ~cache == 0 */
    uint64_t zero;  /* bit i: that free page is known to read zero; zero & ~cache == 0 */
    uint64_t lazy;  /* bit i: that scavenged page was released lazily, still backed;
                     * lazy & ~scav == 0 (set at refill when pa->lazy) */
    unsigned dirty; /* pages of the last run gh_pagecache_alloc returned not known zero */
    unsigned lazy_run; /* of its scavenged pages, those released lazily */
    /* The grow window (mheap.h, GH_GROW_WINDOW_PAGES): pages [gbase, gbase + gpages
     * pages) are free and backed, owned by this cache, in use in the tree and counted
     * free (heap_free); a large span ending at gbase grows into them with no heap lock
     * (realloc). gpages 0: none. Protected like the rest (mcache.lock). */
    uintptr_t gbase;
    uintptr_t gpages;
};

static inline int pagecache_empty(const struct pagecache *c) { return c->cache == 0; }

/* Fills an empty cache with the free pages of the window holding the lowest free
 * page (first fit from the search hint). Returns 0, or -1 if the heap has no free
 * page (grow and retry). Caller holds the heap lock; c is empty (else it panics). */
int gh_pagecache_refill(struct pagealloc *pa, struct pagecache *c);

/* Allocates npages contiguous pages from the cache (1 <= npages <= 64; the mheap
 * uses it for npages < PAGECACHE_MAX_ALLOC), lowest first; maps the scavenged ones;
 * returns the
 * base with *scav as in gh_pagealloc_alloc, or 0 with *err = PAGEALLOC_NOSPACE (no run
 * in this window: refill or use gh_pagealloc_alloc) or PAGEALLOC_NOMEM.
 * No lock: caller is pinned to the CPU owning c. */
uintptr_t gh_pagecache_alloc(struct pagecache *c, unsigned npages, uintptr_t *scav, int *err);

/* Gives every page still in the cache back to the tree (keeping its scavenged state)
 * and empties the cache. Used when a CPU goes offline, on memory pressure and before
 * scavenging everything, since cached pages are invisible to the scavenger.
 * Caller holds the heap lock. */
void gh_pagecache_flush(struct pagealloc *pa, struct pagecache *c);

/* ---- Queries and validation ---------------------------------------------------------- */
/* 1 if the page holding addr is in use (grown and alloc bit set), else 0. Caller holds
 * the heap lock. */
int gh_pagealloc_page_in_use(const struct pagealloc *pa, uintptr_t addr);

/* Slow validator: recomputes every summary, the scavenge index and the counters from
 * the bitmaps and compares. Returns 0 when consistent, else the number of
 * mismatches (logging the first few through goheap_sys_log). Caller holds the heap
 * lock. */
unsigned gh_pagealloc_check(const struct pagealloc *pa);

#endif /* GOHEAP_PAGEALLOC_H */
