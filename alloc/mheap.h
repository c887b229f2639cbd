/* alloc/mheap.h: the page heap (Go's mheap): the reserved arena, its growth in 4 MiB
 * chunks, span allocation over the page allocator (pagealloc.h) and the per-CPU page
 * caches, the page -> span map, and the heap's byte counters. */
#ifndef GOHEAP_MHEAP_H
#define GOHEAP_MHEAP_H

#include "fixalloc.h"
#include "mspan.h"
#include "pagealloc.h"

struct mcache;

/* What the fast paths read, on one cache line. base and spans are fixed at init;
 * npages only grows (release store after the map entries are written). */
struct gh_fast {
    uintptr_t base;           /* arena base (4 MiB aligned) */
    _Atomic uintptr_t npages; /* the map is valid for pages [0, npages) (grown or holes) */
    struct mspan **spans;     /* page -> span (the scheme below), else gh_deadspan */
    struct mcache **caches;   /* [ncpu], &gh_emptycache until first use (before init:
                               * a table of empty slots, mheap.c) */
} GH_ALIGNED(GH_CACHELINE);
extern struct gh_fast gh_fast;

/* Span struct buckets by bitmap words (0, 1, 2, 4, 8, 16) plus the tiny class. */
/* A span counts its pages in 32 bits (mspan.npages): 2^32 pages of 8 KiB is 32 TiB,
 * which an arena= of up to 256 TiB would let a request reach. A request's size and its
 * alignment are each held to half of that, so that their sum in pages still fits; a
 * larger one is refused (NULL, ENOMEM) before the heap grows for it. */
#define GH_OBJ_MAX_BYTES (((uintptr_t)UINT32_MAX >> 1) << GOHEAP_PAGE_SHIFT)
#define GH_NBUCKETS 7
#define GH_BUCKET_TINY 6

/* The heap's large span cache (gh_heap.hcache): freed large spans that the freeing
 * CPU's cache (mcache.h, GH_LCACHE_*) does not take (above 256 KiB, or that cache
 * full), kept whole like there (pages backed, span struct, span-map entries; state
 * GH_SPAN_LCACHED), so a large malloc of exactly the same page count takes one back
 * under the heap lock without the page allocator's walk and re-summarising or a
 * span-map write (TCMalloc's page heap keeps its free spans by length the same way).
 * Bound: GH_HCACHE_SPANS spans (a put or get scans at most 8 pointers under the lock)
 * and GH_HCACHE_PAGES pages, 16 MiB: four of the largest objects bench-fastpath
 * churns (4 MiB), 1/8 of bigalloc's 2-thread peak (128 MiB), four CPUs' worth of the
 * per-CPU caches' 4 MiB. A put beyond it gives the oldest spans back to the page
 * heap; a span above 16 MiB, scavenge=eager and efence never enter it. Cached bytes
 * are free (HeapIdle, against the memory limit) and backed, as free pages in the
 * page heap are until the scavenger releases them, so the cache costs no RSS of its
 * own; what it costs is coalescing, and so it is drained before the heap grows (a
 * span or page-cache refill that finds no free run, gh_heap_extend_span's realloc
 * growth), by goheap_flush, gh_flush_all_cpus (goheap_free_os_memory, the last
 * resort), the memory limit's release and the background scavenger above its goal. */
#define GH_HCACHE_SPANS 8
#define GH_HCACHE_PAGES 2048

/* The grow window (struct pagecache's gbase/gpages; docs/alloc.md, "realloc"): the
 * free, backed pages after a large span that realloc places to grow (GH_ALLOC_ROOM)
 * or grows by half or more, taken out of the tree in the same heap-lock hold (never a
 * released page: those end it) and owned by the CPU's cache, under its drain lock.
 * The span's next steps take them with no heap lock, no page-allocator update and no
 * counter (gh_heap_extend_window); a placement takes the window's front; a span of the
 * heap's large span cache that ends where the window begins (the buffer that grew
 * through it, freed) joins it at the next placement, a larger one at its free. Its
 * pages stay in heap_inuse and count free through gpages, like the large span caches'
 * spans (gh_heap_lcached_bytes): no RSS of its own, HeapIdle, against the memory
 * limit. Given back by gh_heap_flush_pcache (goheap_flush, goheap_free_os_memory,
 * the last resort, gh_mcache_drain's reclaim), the memory limit's and the scavenger's drain
 * (drain_large_cpu), a fill elsewhere, a tree extension whose range holds it; none
 * with scavenge=eager. Bound: 2048 pages (16 MiB), the heap's large span cache's, and
 * what a buffer doubled from 16 B to 16 MiB needs to grow from its 8 KiB placement to
 * 16 MiB with no tree update in the steady state; with 1024 its last step, its free
 * and the next placement went to the tree again (bench/fastpath doublealloc's steps,
 * TSC ticks, median of 10 alternating runs: 7,812 with 1024, 4,022 with 2048). */
#define GH_GROW_WINDOW_PAGES 2048

struct gh_heap {
    struct gh_mutex lock;
    /* ---- protected by lock ---- */
    struct pagealloc pages;
    /* The large span cache, oldest first; hcache_n is also read without the lock as
     * a hint (relaxed atomic, stored under the lock). */
    struct mspan *hcache[GH_HCACHE_SPANS];
    unsigned hcache_n;
    uintptr_t hcache_pages; /* sum of their npages <= GH_HCACHE_PAGES; also read
                             * without the lock (relaxed atomic, stored under it) */
    uintptr_t grown;       /* bytes of the arena handed to pagealloc */
    /* Region mode: bytes of the grown chunks outside the heap (the metadata at the
     * region's start, the chunks' parts outside the region): allocated forever in
     * the page allocator and not counted in grown. */
    uintptr_t holes;
    uintptr_t arena_bytes; /* the window: heap addresses [base, base + arena_bytes),
                            * reserved as the heap grows (alloc/arena.h) */
    uintptr_t obj_max;     /* the largest request (size, or alignment) tried at all: the
                            * window, or GH_OBJ_MAX_BYTES below it (set at init) */
    /* The deferred maps in flight (gh_heap_map_span, gh_heap_extend_mapped): every
     * span whose run, or whose growth (mapgrow), is taken and not yet mapped and
     * published, linked through mapnext; and every destination of realloc's
     * zero-copy move (mapgrow GH_MAPGROW_REMAP) from its take to its publication or
     * give-back. A fork child gives their pages back (gh_heap_fork_child). At most one
     * per thread inside a map or a move. */
    struct mspan *mapping;
    /* The releases in flight (scavenge.c: gh_scavenge, goheap_reclaim_lazy): every
     * run taken out of a page allocator to be released ("scavenging") and not yet
     * done, on its releasing thread's stack from the take's hold to the done's. A
     * fork child finishes them (gh_heap_fork_child). At most one per releasing thread. */
    struct gh_release *releasing;

    /* ---- protected by gh_meta.lock ---- */
    struct gh_fixalloc spanalloc[GH_NBUCKETS];
    struct gh_fixalloc cachealloc;

    /* ---- atomic byte counters (page caches update them without the lock) ----
     *   heap_inuse + heap_free + heap_released == grown  (when no scavenge is running)
     *   heap_inuse: pages of in-use spans and of spans in the large span caches
     *     (the per-CPU mcache.lcache and the heap's hcache): a hit or a put there
     *     moves no global counter, so that the large path makes no atomic
     *     read-modify-write (aarch64: an LL/SC loop each, 4 per pair; docs/alloc.md).
     *     HeapInuse / HeapIdle count those spans idle: gh_heap_inuse_bytes() ==
     *     heap_inuse - lcached, gh_heap_free_bytes() == heap_free + lcached,
     *     lcached == (the sum of the CPUs' lcache.pages + hcache_pages) in bytes
     *     (gh_heap_lcached_bytes); so do the grow windows' pages (GH_GROW_WINDOW_PAGES:
     *     + the CPUs' pcache.gpages);
     *   heap_free: free pages still backed (including those in page caches, not
     *     those in the large span caches);
     *   heap_released: free pages unbacked, plus quarantined efence pages, plus
     *     lazily released pages (madvdontneed=0), which may still be backed;
     *   heap_released_lazy <= heap_released: those released lazily and not reused
     *     or reclaimed since (kernel: still mapped; hosted: MADV_FREE, the OS may
     *     have taken them). */
    _Atomic uint64_t heap_inuse, heap_free, heap_released, heap_released_lazy;
    _Atomic uint64_t lazy_reclaimed; /* bytes unmapped by goheap_reclaim_lazy, ever */
    _Atomic uint64_t efence_dead;   /* bytes of quarantined efence spans (alloc/efence.c) */
    _Atomic uint64_t span_count;    /* spans in use */
};
extern struct gh_heap gh_heap;

/* Reserves the address space (arena.c; exact: arena_bytes was asked for explicitly,
 * do not shrink it) and sets up the page allocator. 0, or -1 after logging why. */
int gh_heap_init(size_t arena_bytes, int exact);

/* Adds at least npages to the heap, in whole 4 MiB chunks (region mode: only at init);
 * raises GH_WORK_GREW. Caller holds the heap lock. */
int gh_heap_grow(uintptr_t npages);
/* Region mode, at init after gh_heap_init: grows the whole arena and keeps every
 * page outside [lo, hi) (page-aligned, inside it) allocated forever, so the heap is
 * exactly [lo, hi); those pages are dirty. 0, or -1 when growing failed. */
int gh_heap_region_setup(uintptr_t lo, uintptr_t hi);

/* Allocates a span struct and npages pages for span class spc (0/1 = large), from the
 * CPU's page cache when small. Pinned (c is this CPU's cache, may be NULL; the caller
 * holds c->lock, which protects the page cache from a drainer). The span
 * is not yet in the span map: the caller initialises it and calls gh_heap_publish.
 * *needzero tells whether the pages may hold old data. NULL when out of memory. */
struct mspan *gh_heap_alloc_span(struct mcache *c, unsigned cpu, uintptr_t npages,
                                 unsigned spc, int *needzero);
/* The same, first placed at the start of a free run of npages + room pages (so that
 * the object can grow in place into the room), never from the page cache; when no
 * such run exists without growing the heap, as gh_heap_alloc_span. */
struct mspan *gh_heap_alloc_span_room(struct mcache *c, unsigned cpu, uintptr_t npages, uintptr_t room,
                                      unsigned spc, int *needzero);
/* A large allocation's map with no lock held and unpinned (interrupts on, in the
 * kernel): every frame is zeroed in the map, so the time a CPU would spend pinned
 * under the heap lock grows with the request (docs/kernel-heap.md, "Latency of a
 * map"). From GH_MAP_UNPINNED_PAGES pages on, a large span's run comes out of the tree
 * unmapped (gh_heap_alloc_span_defer: pinned, c->lock held, like gh_heap_alloc_span
 * or its room variant; *tomap: its pages still to map; the span is counted, in use,
 * and on gh_heap.mapping from the take's hold) and, once the caller has set it up as
 * a large span (gh_span_init_large, obj), gh_heap_map_span maps them unpinned, with
 * no lock held, a run at a time (the heap lock is taken, pinned, only to find the next
 * run and mark the last one backed), and publishes it, counted in the pinned CPU's
 * large statistics, in the hold that finds nothing left to map. Unpublished, the span
 * is no reader's: not the leak scan's (it reads the span map), not the scavenger's
 * (the pages are in use in the tree). gh_heap_map_span returns 0, or -1 when a map
 * failed: the run went back to the tree (the unmapped pages released, the others
 * free), the struct to its spanalloc, counters exact. A fork meanwhile: the child
 * gives the run back (gh_heap_fork_child, below).
 * Threshold: 16 pages (128 KiB), PAGECACHE_MAX_ALLOC, where runs stop coming from
 * the CPU's page cache. Below it a run is the cache's, taken with no heap lock (the
 * fast slow path, unchanged), and its map stays pinned: at most 15 pages (30 frames),
 * measured at 36-65 us per whole malloc(120 KiB) of released pages on x86_64 and
 * 230-264 us on aarch64 (TCG, SMP=2, kheap-maplat's log), against 95-116 ms and
 * 562 ms masked for malloc(256 MiB) before this path. From 16 pages on, the deferred
 * path costs two pins and heap-lock holds more per run to map (one run for fresh or
 * wholly released memory), lost in the map's noise at 128 KiB (42-65 us x86_64,
 * 139-187 us aarch64); large spans already cached (the per-CPU and heap caches:
 * backed, nothing to map) never come here (64 KiB and 1 MiB pairs 131.6 / 459.6
 * instructions, callgrind, 132.0 / 459.4 before). */
#define GH_MAP_UNPINNED_PAGES 16u
/* efence.c: what efence span s (set up, its data pages mapped) brings just before its
 * publish, in the heap-lock hold that publishes it: its canaries, debug's list, the
 * live count. By gh_efence_alloc, or, for an efence run mapped unpinned
 * (GH_MAP_UNPINNED_PAGES or more), by the map's last hold (map_finish). Caller holds
 * the heap lock. */
void gh_efence_publish_locked(struct mspan *s);
struct mspan *gh_heap_alloc_span_defer(struct mcache *c, unsigned cpu, uintptr_t npages, uintptr_t room,
                                       int *needzero, uintptr_t *tomap);
/* A large span for a CPU without a cache of its own (no drain lock to cover its take
 * and its publication, as a CPU's own does: "fork" in docs/alloc.md), or for efence
 * below GH_MAP_UNPINNED_PAGES (its run from the tree, the heap's large span cache
 * drained and the heap grown as for a caller without a cache), as
 * gh_heap_alloc_span_room (room may be 0) or, with tomap, gh_heap_alloc_span_defer
 * (from GH_MAP_UNPINNED_PAGES pages), with the heap lock held by the caller from
 * before the call to the span's publication and statistics (or, with pages to map,
 * to gh_heap_map_span's call, which takes it again), so that a fork child finds the
 * allocation whole or not begun. Pinned on cpu. */
struct mspan *gh_heap_alloc_span_nocache(unsigned cpu, uintptr_t npages, uintptr_t room, int *needzero,
                                         uintptr_t *tomap);
/* mapgrow of a span on gh_heap.mapping that is a zero-copy move's destination (its
 * own run, npages); else 0 (a new span's own run) or the pages of a growth at its
 * end (never UINT32_MAX: a span's npages + growth fits 32 bits). */
#define GH_MAPGROW_REMAP UINT32_MAX
static inline int gh_map_is_growth(const struct mspan *s) {
    return s->mapgrow != 0 && s->mapgrow != GH_MAPGROW_REMAP;
}
/* The pages of a listed span's run in flight. Caller holds the heap lock. */
static inline uintptr_t gh_map_pages(const struct mspan *s) {
    return gh_map_is_growth(s) ? s->mapgrow : s->npages;
}
int gh_heap_map_span(struct mspan *s);
/* Writes the span map for s (the scheme above) and marks it in use (release). */
void gh_heap_publish(struct mspan *s);
/* Frees a span (no live objects) back to the page allocator: its count, map entries,
 * pages and struct in one heap-lock hold (the meta lock nested), so that a fork child
 * finds it in use or freed, never half freed (docs/alloc.md, fork). Pinned; may hold
 * c->lock or a mcentral lock (both rank below the heap lock). */
void gh_heap_free_span(unsigned cpu, struct mspan *s);
/* gh_heap_free_span for each span of a list linked by next, all in one hold; returns
 * how many. A list collected under a lock that a fork's prepare takes (a cache's drain
 * lock, a class lock) is freed before that lock is released: a fork between the two
 * would copy the spans out of their lists and not yet freed. */
unsigned gh_heap_free_spans(unsigned cpu, struct mspan *list);
/* realloc's zero-copy move (alloc/remap.c). alloc_span_unmapped: a span struct and
 * npages pages from the tree (never a page cache), like gh_heap_alloc_span but with
 * nothing mapped: *lazy of the pages were released lazily and are still backed,
 * *unbacked were released, the others free and backed; the run is counted in use
 * (backed) and the caller replaces whatever backs it. Not published; on
 * gh_heap.mapping (GH_MAPGROW_REMAP) from the take's hold, so that a fork child gives
 * it back (unmapped there, then released: gh_heap_fork_child) while the caller
 * empties it and maps its tail. The caller takes it off that list: remap_unlist
 * before publishing it, or free_span_unbacked(published 0), inside its fork gate
 * (gh_fork_gate_enter, core.h). NULL when out of address space or span structs
 * (nothing taken). free_span_unbacked: s (published or not; no live object) whose
 * pages are all unbacked now (their frames moved away or given back) returns them to
 * the tree released and known zero, counted released. All pinned on cpu, no lock
 * held. */
struct mspan *gh_heap_alloc_span_unmapped(unsigned cpu, uintptr_t npages, unsigned spc, uintptr_t *lazy,
                                          uintptr_t *unbacked);
void gh_heap_remap_unlist(unsigned cpu, struct mspan *d);
void gh_heap_free_span_unbacked(unsigned cpu, struct mspan *s, int published);
/* Efence: s's object is freed; its pages stay allocated (unbacked, counted released
 * and efence_dead) and s stays in the span map as EFENCE_FREED. Caller holds the heap
 * lock: the state, the counts and the caller's own records of the free change in one
 * hold, which a fork's prepare takes too ("fork" in docs/alloc.md). */
void gh_heap_retire_span_pages(struct mspan *s);
/* realloc of a large object in place. extend: takes the `extra` pages right after s
 * if they are all free (mapping released ones), adds them to s and the span map;
 * returns 1, or 0 with nothing changed (or GH_EXTEND_MAP: below). With pc (the CPU's page cache, its mcache.lock
 * held), a grow window at s's end gives its pages first, and with fill the window is
 * then refilled from s's new end (GH_GROW_WINDOW_PAGES). extend_window: the same from
 * pc's grow window alone, with no heap lock (pc's lock held); 0 unless the window
 * starts at s's end and holds extra pages. trim: gives s's pages from `keep` on
 * (keep >= 1) back to the page heap. All pinned, no heap lock held; the caller owns s
 * (in use) and counts the bytes in its mcache. */
int gh_heap_extend_span(unsigned cpu, struct pagecache *pc, struct mspan *s, uintptr_t extra, int fill);
int gh_heap_extend_window(struct pagecache *pc, struct mspan *s, uintptr_t extra);
/* A growth that must map GH_MAP_UNPINNED_PAGES or more of the tree's pages maps them
 * unpinned with no lock held, as a large malloc's run does (above, gh_heap_map_span):
 * gh_heap_extend_span takes the pages (in use in the tree, those to map in the "being
 * mapped" state, counted in heap_inuse from the take, a window at s's end giving its
 * pages first as always; s on gh_heap.mapping with mapgrow = extra, in the take's
 * hold) and returns GH_EXTEND_MAP with s unchanged; its caller drops pc's lock, unpins
 * and calls gh_heap_extend_mapped(s) (no lock held, unpinned), which maps them a run
 * at a time and only then grows s (span-map entries, then npages and limit:
 * grow_span) and counts the bytes in the pinned CPU's large statistics, in the hold
 * that finds nothing left to map: 1. Until then the pages are in no span
 * (their map entries read gh_deadspan) and s is its old self, so no reader (the leak
 * scan, the validator's span walk, MemStats' span counts, the scavenger, which skips
 * pages in use) ever sees a span half extended. Out of memory in the map: 0, the pages
 * back in the tree (those still unmapped released and known zero, the others free and
 * backed, a window's among them; counters exact), s untouched; realloc then moves. The
 * caller owns s (realloc's), so nothing else grows, trims or frees it meanwhile. */
#define GH_EXTEND_MAP 2
int gh_heap_extend_mapped(struct mspan *s);
/* In a fork child (alloc/fork.c goheap_fork_child), with the heap and meta locks held
 * by the fork's prepare and no other thread: every deferred map in flight at the fork
 * (gh_heap.mapping: a large malloc's run, a realloc's growth, taken and counted, its
 * thread gone) goes back to the page allocator as a failed map's does (the unmapped
 * pages released and known zero, the rest free; heap_inuse, heap_free,
 * heap_released, span_count exact, a new span's struct back to its spanalloc; a grown
 * span stays as it was), so the child's heap is whole and the pages reusable. A
 * zero-copy move's destination is unmapped and goes back released, as a failed
 * move's; its old object is the program's as it was (the move itself lies inside
 * the fork gate). A release in flight (gh_heap.releasing: a run taken to be
 * released, its thread gone whether or not it had unmapped it) is unmapped here and
 * done as its thread would have done it (released, counted). */
void gh_heap_fork_child(void);
/* A release in flight (gh_heap.releasing): its run, taken by take from pa, is
 * unmapped with no lock held, then done (gh_release_done_locked, scavenge.c). */
struct gh_release {
    struct gh_release *next;
    struct pagealloc *pa;
    uintptr_t base, npages;
    int reclaim; /* goheap_reclaim_lazy's (lazy_take), else a scavenge's */
};
/* r's run back to its page allocator, released (its counters with it), r off
 * gh_heap.releasing. Caller holds the heap lock (scavenge.c). */
void gh_release_done_locked(struct gh_release *r);
/* In a fork child, the heap lock held (gh_heap_fork_child): every release in flight
 * at the fork unmapped and done (scavenge.c). */
void gh_release_fork_child(void);
/* realloc's shrink in place: s keeps its first keep pages; the tail goes back to the
 * page allocator, counted freed in c's large statistics, in one heap-lock hold.
 * Pinned on cpu (c: its cache, or gh_emptycache). */
void gh_heap_trim_span(unsigned cpu, struct mcache *c, struct mspan *s, uintptr_t keep);
/* The large span cache (mcache.h). gh_heap_lcache_fits (inline, mcache.h): whether a
 * span of n pages fits c's cache, and the cache's pages with it; gh_heap_lcache_put:
 * s (freed, state already GH_SPAN_LCACHED, and fitting: its n and fits' pages) goes
 * into it (a span that does not fit goes to gh_heap_hcache_put, which frees it
 * there). gh_heap_lcache_get (inline, mcache.h): a cached span of exactly npages, or
 * NULL. drain: every cached span back to the page heap. All pinned
 * on c's CPU (drain also through goheap_sys_each_cpu); no lock. */
void gh_heap_lcache_drain(struct mcache *c, unsigned cpu);
/* Bytes in the large span caches and grow windows (the sum of the CPUs' lcache.pages
 * and pcache.gpages and the heap's hcache_pages, read without their owners or the
 * heap lock: a snapshot), and the heap's in-use and free (backed) bytes with those
 * counted free, as MemStats and the scavenger see them (clamped at 0: the snapshot
 * and the counters are read at different times). */
uint64_t gh_heap_lcached_bytes(void);
uint64_t gh_heap_inuse_bytes(void);
uint64_t gh_heap_free_bytes(void);
/* The heap's large span cache (above). put (inline, mcache.h): the free of s, a live
 * large span that c's
 * cache does not take: in its hold (the heap lock; c->lock for a span joining c's grow
 * window) s goes from in use to GH_SPAN_LCACHED, is counted freed in c's statistics
 * and goes into the cache (its bytes still counted in use), evicting the oldest spans
 * to the page heap beyond the bound, or to the page heap (or the window) when it never
 * fits: a fork child sees the free whole or not begun. 0 if s was not in use (a second
 * free: left as it was, for the caller to diagnose). get (inline, mcache.h): a cached
 * span of exactly npages made the object of size bytes at align, class spc, in c's
 * statistics (gh_large_reuse) in the hold that unlists it: a fork child finds it
 * cached or in use, never LCACHED in no list (its bytes counted in use all along); or
 * NULL. drain: every cached span back to the page heap, in one hold. All pinned on
 * `cpu`, heap lock not held (they take it). The parts that put and get call out of
 * line: put_big, put's span that the cache never takes (above GH_HCACHE_PAGES, or
 * scavenge=eager), freed whole as put says; evict_locked, the oldest spans back to the
 * page heap until n more pages fit; take_locked, get's unlisting (NULL if no span
 * has npages). The last two: caller holds the heap lock, pinned on cpu. */
int gh_heap_hcache_put_big(unsigned cpu, struct mcache *c, struct mspan *s);
void gh_heap_hcache_evict_locked(unsigned cpu, uintptr_t n);
struct mspan *gh_heap_hcache_take_locked(uintptr_t npages);
void gh_heap_hcache_drain(unsigned cpu);

/* Efence: a retired span leaves the quarantine: its (unbacked) pages go back to the
 * page allocator as scavenged, the map entries and the struct are freed, in the
 * caller's hold. Caller holds the heap and meta locks. */
void gh_heap_free_retired_locked(struct mspan *s);
/* Gives a page cache's pages back to the tree. Pinned, no heap lock held. */
void gh_heap_flush_pcache(unsigned cpu, struct pagecache *pc);
/* The grow window alone back to the tree (the memory limit's drain). Pinned on cpu,
 * pc's cache lock held. */
void gh_heap_flush_window(unsigned cpu, struct pagecache *pc);
/* c's page cache and large span cache back to the tree (goheap_flush's part for
 * them): a cached span inside the page cache's window joins the window's free pages
 * (its pages are in use in the tree as the window's, so nothing there changes), the
 * window is flushed, then the other spans are drained. One tree update for the window
 * and the spans it held, not one each. Pinned on c's CPU (or through
 * goheap_sys_each_cpu), caller holds c->lock, no heap lock held. */
void gh_heap_flush_mcache(struct mcache *c, unsigned cpu);

/* Memory the heap currently has backed, for the soft limit: in-use and free-but-
 * backed heap pages plus every metadata byte mapped. */
uint64_t gh_heap_mapped(void);

/* The span map's write scheme. A small span (class >= 2) names itself at every page:
 * the free fast path finds any object's span with one load. A large span (class 0/1:
 * large objects and efence spans), which is only ever freed, measured or resized
 * through its object start, names itself at its first page and at every page whose
 * index is a multiple of GH_SPANMAP_STRIDE; its other pages read gh_deadspan. So a
 * 4 MiB span writes 17 entries each way instead of 512, a 1 MiB one 5 instead of 128.
 * Invariant (checked by goheap_validate): every entry is gh_deadspan or a span that
 * covers the page, and a page of a live span reads that span exactly where the scheme
 * writes it. A dead entry is therefore never stale: it means "free, or inside a large
 * span", and gh_span_resolve tells which in O(1): the stride page at or below the page
 * names the span if it covers the page; otherwise the span, if any, starts after that
 * stride page, and its first-page entry is the first non-dead entry below the page
 * (at most GH_SPANMAP_STRIDE - 1 loads, 4 cache lines). 32 pages (256 KiB): a lookup
 * that resolves reads at most 256 B of map, and large objects up to 256 KiB (the
 * large span cache's) write one or two entries. */
#define GH_SPANMAP_STRIDE 32u

/* Whether a span of class spc uses the sparse (first page + stride pages) scheme. */
static inline int gh_spanmap_sparse(unsigned spc) {
    return spc < 2;
}

/* The span covering map page pg (< npages) whose entry reads gh_deadspan, or
 * gh_deadspan when no live span covers it. Lock-free: a span found is re-checked by
 * its caller (state, bounds), as for any map entry. */
struct mspan *gh_span_resolve(uintptr_t pg);

/* Outside the window: the span of a in a cover (arena.h; written at every page, so
 * exact), gh_deadspan for a page of a cover no span holds, or NULL when no cover
 * holds a. No lock. */
struct mspan *gh_span_of_cover(uintptr_t a);

/* a's map entry as written (gh_deadspan also for the unwritten pages of a large
 * span), or NULL when a is not in the grown arena or a cover: for paths that send a
 * dead entry to one that calls gh_span_of (an object start is always written). */
static inline struct mspan *gh_span_entry(uintptr_t a) {
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    if (gh_unlikely(pg >= atomic_load_explicit(&gh_fast.npages, memory_order_acquire)))
        return gh_span_of_cover(a);
    return GH_READ_RACY(gh_fast.spans[pg]);
}

/* The span holding address a (gh_deadspan where no span lives: free pages, holes),
 * or NULL when a is not in the grown arena or a cover. Exact for every page of every
 * live span, interior pages of large spans included. */
static inline struct mspan *gh_span_of(uintptr_t a) {
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    if (gh_unlikely(pg >= atomic_load_explicit(&gh_fast.npages, memory_order_acquire)))
        return gh_span_of_cover(a);
    struct mspan *s = GH_READ_RACY(gh_fast.spans[pg]);
    if (gh_unlikely(s == &gh_deadspan))
        s = gh_span_resolve(pg);
    return s;
}
/* The page allocators: 0 is the window's (gh_heap.pages), then each published cover's
 * (region mode, goheap_add_region); NULL past the last. The page allocators are
 * protected by the heap lock; the list only grows. */
struct pagealloc *gh_heap_pages_at(unsigned i);
/* The page allocator holding heap address a (the window's when none does). */
struct pagealloc *gh_heap_pages_of(uintptr_t a);
/* The span map of page allocator i: its first entry, the address it maps from and
 * its entry count (the window's: gh_fast.npages). NULL past the last. */
struct mspan **gh_heap_map_at(unsigned i, uintptr_t *base, uintptr_t *npages);
/* Metadata bytes mapped by every page allocator (statistics, the memory limit). */
uint64_t gh_heap_pages_meta(void);

/* Region mode, goheap_add_region: the heap pages [lo, hi) (page-aligned, of a region
 * not overlapping any other) join the heap. A new cover [cbase, cend) (chunk-aligned,
 * possibly empty) gets its page allocator and span map from the region's metadata
 * area, already published in gh_region; pages of [lo, hi) in chunks an existing page
 * allocator covers are freed into it (they were holes). Pinned on cpu; caller holds
 * the heap lock and gh_meta.lock (so no one else reserves metadata meanwhile). 0, or
 * -1 after logging why (nothing joined). */
int gh_heap_add_region(uintptr_t lo, uintptr_t hi, uintptr_t cbase, uintptr_t cend);

#endif /* GOHEAP_MHEAP_H */
