/* alloc/mheap.c: the heap's growth, span allocation and freeing over the page
 * allocator and per-CPU page caches, the page -> span map, and the large span caches.
 * Region mode's layout and the added regions' covers: region.c. */
#include "mheap.h"
#include "arena.h"
#include "knobs.h"
#include "sysmem.h"
#include "work.h"
#include "mcache.h"
#include "mcentral.h"

/* Before goheap_init, the fast paths of a platform without a per-slot pointer
 * (GOHEAP_SYS_HAVE_LOCAL) index this table: every slot is gh_emptycache, so a malloc
 * misses into the slow path, which logs that the heap is not initialised and returns
 * NULL, instead of loading through a NULL table (a kernel that allocates on its boot
 * CPU before its heap init). Slots below GH_PREINIT_SLOTS; goheap_init installs the
 * real table of gh_ncpu slots. */
#define GH_PREINIT_SLOTS 64
static struct mcache *gh_preinit_caches[GH_PREINIT_SLOTS] = {[0 ... GH_PREINIT_SLOTS - 1] = &gh_emptycache};
struct gh_fast gh_fast = {.caches = gh_preinit_caches};
struct gh_heap gh_heap = {.lock = {.rank = GOHEAP_LC_HEAP}};

int gh_heap_init(size_t arena_bytes, int exact) {
    /* The address space (arena.c): reserved in increments where the platform can place
     * them, else whole. The span map (8 bytes per 8 KiB page, 1/1024 of the heap) is
     * mapped 4 KiB per 4 MiB chunk as the heap grows, so it stays proportional. */
    if (gh_arena_init(arena_bytes, exact) != 0)
        return -1;
    /* The page allocator's metadata (~1/21000 of the window: 50.8 MiB for 1 TiB) is
     * mapped as chunks are grown. Incremental mode: it lies after the heap in the
     * window and is reserved as it is mapped too (8 KiB at init for 1 TiB); otherwise,
     * or if that address is taken, it is reserved whole. */
    int placed = gh_arena.pameta &&
                 gh_pagealloc_init_at(&gh_heap.pages, gh_fast.base, gh_heap.arena_bytes, gh_arena.pameta) == 0;
    while (!placed && gh_pagealloc_init(&gh_heap.pages, gh_fast.base, gh_heap.arena_bytes) != 0) {
        if (exact || !gh_arena.incremental || gh_heap.arena_bytes <= 2 * gh_arena.resv) {
            gh_logf("goheap: cannot reserve the page allocator's metadata for a %lu MiB arena",
                    (unsigned long)(gh_heap.arena_bytes >> 20));
            return -1;
        }
        gh_heap.arena_bytes /= 2; /* a smaller window: what is reserved stays inside */
    }
    gh_heap.obj_max = gh_heap.arena_bytes < GH_OBJ_MAX_BYTES ? gh_heap.arena_bytes : GH_OBJ_MAX_BYTES;
    /* debug>=3: the page allocator checks itself on every allocation. */
    gh_heap.pages.debug = GOHEAP_DEBUG >= 3;
    /* Page-table mode: grown pages read zero once mapped, released ones too unless
     * released lazily (they stay backed, dirty, until reused or reclaimed). Region
     * mode: the region holds whatever it held, and release only marks pages, so no
     * page is known to be zero. */
    gh_heap.pages.fresh_zero = !gh_region.on;
    gh_heap.pages.lazy = !gh_region.on && gh_release_lazy();
    gh_heap.pages.release_zero = !gh_region.on && !gh_heap.pages.lazy;
    /* Large spans leave the arena's first page-cache window to small spans (pagealloc.h,
     * PALLOC_SMALL_FIRST_PAGES). */
    gh_heap.pages.small_first = 1;
    for (unsigned b = 0; b < GH_NBUCKETS; b++) {
        static const unsigned words[GH_NBUCKETS] = {0, 1, 2, 4, 8, 16, 8};
        /* (from bits[], not sizeof: the hot line's tail already holds two words) */
        size_t sz = offsetof(struct mspan, bits) + gh_span_bitmap_words(words[b]) * sizeof(uint64_t);
        if (b == GH_BUCKET_TINY)
            sz += 7 * (GOHEAP_MAX_OBJS_PER_SPAN / 2); /* count byte, ends/starts and freed masks per block */
        gh_fixalloc_init(&gh_heap.spanalloc[b], gh_align_up(sz, GH_CACHELINE));
        gh_heap.spanalloc[b].noclear = 1; /* span_reset clears recycled structs */
    }
    gh_fixalloc_init(&gh_heap.cachealloc, GH_MCACHE_BYTES);
    return 0;
}

int gh_heap_grow(uintptr_t npages) {
    if (gh_region.on && gh_heap.grown)
        return -1; /* region mode grows everything at init (gh_heap_region_setup) */
    uintptr_t ask = gh_align_up(npages << GOHEAP_PAGE_SHIFT, PALLOC_CHUNK_BYTES);
    if (ask < npages || (ask >> GOHEAP_PAGE_SHIFT) < npages)
        return -1;
    int r = gh_arena_grow(ask);
    if (r == 0)
        gh_want_work(GH_WORK_GREW);
    return r;
}

/* The span-map entry of heap page address a (window or cover). */
static struct mspan **map_slot(uintptr_t a) {
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    if (gh_likely(pg < atomic_load_explicit(&gh_fast.npages, memory_order_relaxed)))
        return gh_fast.spans + pg;
    struct gh_cover *c = gh_cover_of(a);
    if (!c)
        gh_panicf("goheap: span map: page 0x%lx is in no window or cover", (unsigned long)a);
    return c->spans + ((a - c->base) >> GOHEAP_PAGE_SHIFT);
}

static unsigned bucket_of(unsigned spc) {
    if (spc == GH_TINY_SPC)
        return GH_BUCKET_TINY;
    if (spc < 2)
        return 0;
    unsigned w = (goheap_class_to_nobjs[spc >> 1] + 63) / 64;
    return w <= 1 ? 1 : w <= 2 ? 2 : w <= 4 ? 3 : w <= 8 ? 4 : 5;
}

/* A failed map may leave some formerly scavenged free pages backed: move them from
 * released to free in the counters. */
static void note_mapped_free(uintptr_t pages) {
    if (!pages)
        return;
    atomic_fetch_sub_explicit(&gh_heap.heap_released, pages << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_free, pages << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
}

/* What the page allocator said about the run it returned. */
struct run_info {
    uintptr_t scav;  /* pages that were released (now backed: mapped or lazily kept; or to map) */
    uintptr_t dirty; /* pages not known to read zero (per-page zero state) */
    uintptr_t lazy;  /* of scav, pages released lazily (never unmapped) */
    uintptr_t tomap; /* of scav, pages left unmapped for the caller (defer) */
    int defer;       /* asked: take the run unmapped (gh_pagealloc_alloc_defer) */
    struct mspan *span; /* with tomap: its struct, counted and in gh_heap.mapping (map_begin) */
};

static uintptr_t cache_alloc(struct pagecache *pc, uintptr_t npages, int *err, struct run_info *ri) {
    unsigned before = gh_popcount64(pc->scav);
    uintptr_t base = gh_pagecache_alloc(pc, (unsigned)npages, &ri->scav, err);
    if (!base && *err == PAGEALLOC_NOMEM)
        note_mapped_free(before - gh_popcount64(pc->scav));
    ri->dirty = pc->dirty;
    ri->lazy = base ? pc->lazy_run : 0;
    return base;
}

static struct mspan *map_begin(unsigned cpu, uintptr_t base, uintptr_t npages, struct run_info *ri);

/* The window's page allocator first, then each cover's. A run with pages still to map
 * (defer) leaves with its span struct (map_begin); out of structs, 0 with
 * PAGEALLOC_NOMEM, the run given back. Caller holds the heap lock, pinned on cpu. */
static uintptr_t tree_alloc(unsigned cpu, uintptr_t npages, uintptr_t room, int *err, struct run_info *ri) {
    struct pagealloc *pa;
    uintptr_t base = 0;
    *err = PAGEALLOC_NOSPACE;
    for (unsigned i = 0; !base && *err == PAGEALLOC_NOSPACE && (pa = gh_heap_pages_at(i)); i++) {
        uintptr_t before = pa->npages_scav;
        base = ri->defer ? gh_pagealloc_alloc_defer(pa, npages, room, &ri->scav, &ri->tomap, err)
                         : gh_pagealloc_alloc_room(pa, npages, room, &ri->scav, err);
        /* A run still to map is covered once mapped (map_run): a refused map must not
         * leave its span map entries written (core-arena t_refused). */
        if (base && !ri->tomap)
            gh_arena_cover(base + (npages << GOHEAP_PAGE_SHIFT));
        if (!base && *err == PAGEALLOC_NOMEM)
            note_mapped_free(before - pa->npages_scav);
        ri->dirty = pa->dirty;
        ri->lazy = base ? pa->lazy_run : 0;
        if (base && ri->tomap && !(ri->span = map_begin(cpu, base, npages, ri))) {
            base = 0;
            *err = PAGEALLOC_NOMEM; /* (no struct: no retry, no growth) */
        }
    }
    return base;
}

/* A run of npages became in use: released pages among them are backed again. */
static void count_run_inuse(uintptr_t npages, const struct run_info *ri) {
    uintptr_t bytes = npages << GOHEAP_PAGE_SHIFT, sbytes = ri->scav << GOHEAP_PAGE_SHIFT;
    atomic_fetch_add_explicit(&gh_heap.heap_inuse, bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gh_heap.heap_free, bytes - sbytes, memory_order_relaxed);
    if (sbytes) /* (a run reused while backed, the common case: one locked op less) */
        atomic_fetch_sub_explicit(&gh_heap.heap_released, sbytes, memory_order_relaxed);
    if (ri->lazy)
        atomic_fetch_sub_explicit(&gh_heap.heap_released_lazy, ri->lazy << GOHEAP_PAGE_SHIFT,
                                  memory_order_relaxed);
    if (gh_unlikely(atomic_load_explicit(&gh_memlimit, memory_order_relaxed) != INT64_MAX))
        gh_want_work(GH_WORK_LIMIT);
}

/* In-use bytes become free (backed) bytes, or back. */
static inline void count_idle(uintptr_t bytes) {
    atomic_fetch_sub_explicit(&gh_heap.heap_inuse, bytes, memory_order_relaxed);
    uint64_t before = atomic_fetch_add_explicit(&gh_heap.heap_free, bytes, memory_order_relaxed);
    gh_bg_ask_if(before + bytes); /* (work.h: freed pages with no background poll yet) */
}

/* A run just taken and not counted in use back to the tree as it was: the pages its
 * take backed (released ones mapped, lazily released ones kept) free and backed,
 * those left to map (ri->tomap) released. Caller holds the heap lock. */
static void run_back_locked(uintptr_t base, uintptr_t npages, const struct run_info *ri) {
    uintptr_t backed = ri->scav - ri->tomap;
    if (ri->tomap)
        gh_pagealloc_free_mapping(gh_heap_pages_of(base), base, npages);
    else
        gh_pagealloc_free(gh_heap_pages_of(base), base, npages);
    atomic_fetch_sub_explicit(&gh_heap.heap_released, backed << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_free, backed << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gh_heap.heap_released_lazy, ri->lazy << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
}

/* Refills c from the first page allocator with a free page. Caller holds the heap lock. */
static int cache_refill(struct pagecache *c) {
    struct pagealloc *pa;
    for (unsigned i = 0; (pa = gh_heap_pages_at(i)) != 0; i++)
        if (gh_pagecache_refill(pa, c) == 0) {
            gh_arena_cover(c->base + ((uintptr_t)64 << GOHEAP_PAGE_SHIFT)); /* its 64-page word */
            return 0;
        }
    return -1;
}

/* Gives c's pages back to the page allocator they came from. Caller holds the heap lock. */
static void cache_flush(struct pagecache *c) {
    gh_pagecache_flush(pagecache_empty(c) ? &gh_heap.pages : gh_heap_pages_of(c->base), c);
}

/* The grow window (pagealloc.h, struct pagecache; mheap.h): free, backed pages owned by
 * one CPU's cache, in use in the tree. Like the large span caches' spans they stay in
 * heap_inuse and count free through gpages (gh_heap_lcached_bytes), so that taking
 * them, or a freed span joining them, moves no global counter. */
static void window_set(struct pagecache *pc, uintptr_t base, uintptr_t npages) {
    /* (an emptied window keeps its base: the span that grew through it, freed into
     * the heap's cache, joins it at the next placement) */
    __atomic_store_n(&pc->gbase, base, __ATOMIC_RELAXED);
    __atomic_store_n(&pc->gpages, npages, __ATOMIC_RELAXED);
}

/* The window's pages back to the tree, free and backed (not known zero). Caller holds
 * the heap lock and pc's cache lock. */
static void window_flush_locked(struct pagecache *pc) {
    if (!pc->gpages)
        return;
    uintptr_t n = pc->gpages;
    gh_pagealloc_free(gh_heap_pages_of(pc->gbase), pc->gbase, n);
    window_set(pc, 0, 0);
    count_idle(n << GOHEAP_PAGE_SHIFT);
}

/* The window becomes (up to GH_GROW_WINDOW_PAGES of) the free, backed pages of pa (the
 * span's page allocator) from base, the end of a span that is placed or grown to keep
 * growing; a window already there is topped up, one elsewhere given back. At pa's end
 * the window stays empty: the pages after it are another page allocator's (region
 * mode), which the span can never take. Caller holds the heap lock and pc's lock. */
static void window_fill_locked(struct pagecache *pc, struct pagealloc *pa, uintptr_t base) {
    uintptr_t have = 0;
    if (gh_unlikely(gh_knobs.scavenge_eager)) { /* free pages go back at once: no window */
        window_flush_locked(pc);
        return;
    }
    if (pc->gpages && pc->gbase == base)
        have = pc->gpages;
    else
        window_flush_locked(pc);
    if (have < GH_GROW_WINDOW_PAGES) {
        uintptr_t got = gh_pagealloc_alloc_backed(pa, base + (have << GOHEAP_PAGE_SHIFT), GH_GROW_WINDOW_PAGES - have);
        if (got) {
            struct run_info ri = {0, 0, 0, 0, 0, 0}; /* backed: free -> in use, idle through gpages */
            count_run_inuse(got, &ri);
            have += got;
            gh_arena_cover(base + (have << GOHEAP_PAGE_SHIFT));
        }
    }
    window_set(pc, base, have);
}

static void hcache_empty_locked(unsigned cpu); /* (below, with the heap's cache) */

/* Before the heap grows: if the large span cache holds spans, they go back to the
 * page heap (their pages may be the run the caller needs). Returns 1 if something was
 * drained (the caller searches again). Caller holds the heap lock, pinned on cpu. */
static int hcache_drain_locked(unsigned cpu) {
    if (!gh_heap.hcache_n)
        return 0;
    hcache_empty_locked(cpu);
    return 1;
}

/* Pages from the CPU's page cache, refilling it under the heap lock when it has no
 * fitting run (growing the heap for it if grow). Returns 0 with *err when the tree
 * must be asked directly. */
static uintptr_t pages_from_cache(struct mcache *c, unsigned cpu, uintptr_t npages, int *err,
                                  struct run_info *ri, int grow) {
    if (!pagecache_empty(&c->pcache)) { /* (an empty one has no run: straight to the refill) */
        uintptr_t base = cache_alloc(&c->pcache, npages, err, ri);
        if (base || *err == PAGEALLOC_NOMEM)
            return base;
    }
    gh_lock(&gh_heap.lock, cpu);
    cache_flush(&c->pcache);
    int r = cache_refill(&c->pcache);
    if (r != 0 && hcache_drain_locked(cpu))
        r = cache_refill(&c->pcache);
    if (r != 0 && grow && gh_heap_grow(npages) == 0)
        r = cache_refill(&c->pcache);
    gh_unlock(&gh_heap.lock, cpu);
    if (r != 0) {
        *err = PAGEALLOC_NOSPACE;
        return 0;
    }
    return cache_alloc(&c->pcache, npages, err, ri);
}

/* Zeroes a span struct taken from a spanalloc (noclear). The fields a late remote
 * freer may load or write after its OR (owner, state, cstate, spc, sweepseq, the
 * bitmap words and rfin: see gh_free_small, gh_span_remote_recheck and gh_central_wake) get
 * atomic stores; everything else, which only the span's owner
 * or a lock holder reads, is cleared in bulk. While the struct sat on the free list
 * its cstate was NONE and state DEAD, so a late freer never acted on it. */
static void span_reset(struct mspan *s, size_t size) {
    s->base = 0;
    s->limit = 0;
    s->remoteFree = 0;
    for (unsigned w = 0; w < GH_RF_INLINE; w++)
        atomic_store_explicit(&s->rfin[w], 0, memory_order_relaxed); /* nothing pending */
    atomic_store_explicit(&s->sweepseq, 0, memory_order_relaxed);
    /* A late freer's re-check that reads anything written below (the new class, a
     * cleared bitmap word) then reads sweepseq 0 too, not its old value, and gives no
     * verdict (gh_span_remote_recheck; a weakly ordered CPU could show it the cleared
     * bitmap with the old sweepseq: a false "double free"). */
    atomic_thread_fence(memory_order_release);
    s->elemsize = 0;
    s->winv = 0;
    atomic_store_explicit(&s->rnelems, 0, memory_order_relaxed);
    atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&s->nsampled, 0, memory_order_relaxed);
    atomic_store_explicit(&s->pbucket, 0, memory_order_relaxed);
    s->npages = 0;
    s->nelems = 0;
    __atomic_store_n(&s->spc, 0, __ATOMIC_RELAXED);
    s->nwords = 0;
    atomic_store_explicit(&s->state, 0, memory_order_relaxed);
    atomic_store_explicit(&s->cstate, 0, memory_order_relaxed);
    s->bucket = 0;
    s->efence = 0;
    /* The list link too: a late freer whose wake CAS won before the span was freed
     * reads it under the old class's lock, which this reset does not hold. */
    s->next = s->prev = 0;
    __atomic_store_n(&s->onlist, (void *)0, __ATOMIC_RELAXED);
    uintptr_t rest = offsetof(struct mspan, onlist) + sizeof s->onlist, bits = offsetof(struct mspan, bits);
    gh_memclr((char *)s + rest, bits - rest);
    /* The bitmaps (and the tiny arrays after them) word by word with atomic stores: a
     * late remote freer's re-check reads its bitmap and remoteFree words after its OR
     * (gh_span_remote_recheck), a memset would race with it. */
    for (size_t i = 0; i < (size - bits) / sizeof(uint64_t); i++)
        __atomic_store_n(&s->bits[i], 0, __ATOMIC_RELAXED);
}

static void window_join_cached(struct mcache *c, unsigned cpu); /* (below, with the heap's cache) */

/* A run of npages from the tree; when none fits, again after the heap's large span
 * cache is drained, then (grow) after the heap grows. Caller holds the heap lock,
 * pinned on cpu. */
static inline __attribute__((always_inline)) uintptr_t tree_alloc_locked(unsigned cpu, uintptr_t npages, int *err,
                                                                         struct run_info *ri, int grow) {
    uintptr_t base = tree_alloc(cpu, npages, 0, err, ri);
    if (!base && *err == PAGEALLOC_NOSPACE && hcache_drain_locked(cpu))
        base = tree_alloc(cpu, npages, 0, err, ri);
    if (!base && *err == PAGEALLOC_NOSPACE && grow && gh_heap_grow(npages) == 0)
        base = tree_alloc(cpu, npages, 0, err, ri);
    return base;
}

/* Pages for a span from the CPU's page cache (small runs) or the tree, growing the
 * heap when grow and nothing fits. Caller holds c->lock when c is a real cache. */
static inline __attribute__((always_inline)) uintptr_t alloc_pages(struct mcache *c, unsigned cpu, uintptr_t npages,
                                                                   int *err, struct run_info *ri, int grow) {
    uintptr_t base = 0;
    if (c && npages < PAGECACHE_MAX_ALLOC)
        base = pages_from_cache(c, cpu, npages, err, ri, grow);
    if (!base && *err != PAGEALLOC_NOMEM) {
        gh_lock(&gh_heap.lock, cpu);
        base = tree_alloc_locked(cpu, npages, err, ri, grow);
        gh_unlock(&gh_heap.lock, cpu);
    }
    return base;
}

/* No free run: the caller's CPU gives back its empty parked spans and the pending
 * lists their empty spans (gh_central_reclaim_before_grow), then the heap may grow. */
static GH_NOINLINE uintptr_t alloc_pages_reclaimed(struct mcache *c, unsigned cpu, uintptr_t npages, int *err,
                                                   struct run_info *ri) {
    gh_central_reclaim_before_grow(c, cpu);
    *err = PAGEALLOC_NOSPACE;
    return alloc_pages(c, cpu, npages, err, ri, 1);
}

/* A new span's struct s (from spanalloc bucket b) names its run and is counted. */
static inline __attribute__((always_inline)) void span_take(struct mspan *s, unsigned b, uintptr_t base,
                                                            uintptr_t npages, unsigned spc) {
    s->bucket = (uint8_t)b;
    s->base = base;
    s->npages = (uint32_t)npages;
    __atomic_store_n(&s->spc, (uint8_t)spc, __ATOMIC_RELAXED); /* racy readers: gh_central_wake */
    atomic_fetch_add_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
}

/* gh_heap_alloc_span(_room): one body, inlined into both so that room 0 folds away
 * (kernel ICOUNT=1, 64 KiB after a flush: 2,059.5 / 2,005.2 instructions x86_64 /
 * aarch64 with gh_heap_alloc_span a call into the room variant, 2,039.5 / 1,992.2). */
/* locked (a constant): the caller holds the heap lock, and c is NULL
 * (gh_heap_alloc_span_nocache). */
static inline __attribute__((always_inline)) struct mspan *alloc_span(struct mcache *c, unsigned cpu,
                                                                    uintptr_t npages, uintptr_t room,
                                                                    unsigned spc, int *needzero,
                                                                    uintptr_t *tomap, int locked) {
    uintptr_t base = 0;
    struct run_info ri = {0, 0, 0, 0, tomap != 0, 0};
    int err = PAGEALLOC_NOSPACE, from_window = 0;
    if (room && c && c->pcache.gbase && __atomic_load_n(&gh_heap.hcache_n, __ATOMIC_RELAXED))
        window_join_cached(c, cpu);
    if (room && c && c->pcache.gpages >= npages + room &&
        gh_heap_pages_of(c->pcache.gbase) == gh_heap_pages_of(c->pcache.gbase + (npages << GOHEAP_PAGE_SHIFT) - 1)) {
        /* the front of c's grow window (c->lock held): no heap lock, no tree update */
        base = c->pcache.gbase;
        window_set(&c->pcache, base + (npages << GOHEAP_PAGE_SHIFT), c->pcache.gpages - npages);
        ri.dirty = npages;
        from_window = 1; /* in heap_inuse already: idle -> in use by gpages alone */
    }
    if (room && !base) { /* placed with room, else as any other span (never grows the heap for room) */
        if (!locked)
            gh_lock(&gh_heap.lock, cpu);
        base = tree_alloc(cpu, npages, room, &err, &ri);
        if (base && c) /* the room's backed pages become c's grow window (c->lock held) */
            window_fill_locked(&c->pcache, gh_heap_pages_of(base), base + (npages << GOHEAP_PAGE_SHIFT));
        if (!locked)
            gh_unlock(&gh_heap.lock, cpu);
    }
    if (!base && err != PAGEALLOC_NOMEM) {
        /* The heap grows only once the caller's CPU has given back what it holds
         * empty (reclaim before grow, which needs c->lock: held by every caller with
         * a cache); a caller without a cache (efence) grows at once. */
        int grow = !c || c == &gh_emptycache;
        base = locked ? tree_alloc_locked(cpu, npages, &err, &ri, 1) : alloc_pages(c, cpu, npages, &err, &ri, grow);
        if (gh_unlikely(!base && err == PAGEALLOC_NOSPACE && !grow))
            base = alloc_pages_reclaimed(c, cpu, npages, &err, &ri);
    }
    if (!base)
        return 0;
    if (ri.span) { /* pages to map: struct, counters and gh_heap.mapping from the take (map_begin) */
        *needzero = ri.dirty != 0;
        *tomap = ri.tomap;
        return ri.span;
    }

    gh_lock(&gh_meta.lock, cpu);
    struct mspan *s = gh_fixalloc_alloc(&gh_heap.spanalloc[bucket_of(spc)]);
    gh_unlock(&gh_meta.lock, cpu);
    if (s)
        span_reset(s, gh_heap.spanalloc[bucket_of(spc)].size);
    if (!s && from_window) { /* back to the window's front (c->lock still held) */
        window_set(&c->pcache, base, c->pcache.gpages + npages);
        return 0;
    }
    if (!s) {
        if (!locked)
            gh_lock(&gh_heap.lock, cpu);
        run_back_locked(base, npages, &ri);
        if (!locked)
            gh_unlock(&gh_heap.lock, cpu);
        return 0;
    }
    span_take(s, bucket_of(spc), base, npages, spc);
    if (!from_window)
        count_run_inuse(npages, &ri);
    /* From the page allocator's per-page zero state: fresh pages read zero in
     * page-table mode, and so do released ones once mapped again; lazily released
     * ones (never unmapped) hold their old data, as does any page in region mode,
     * where release only marks. */
    *needzero = ri.dirty != 0;
    if (tomap)
        *tomap = ri.tomap;
    return s;
}

struct mspan *gh_heap_alloc_span(struct mcache *c, unsigned cpu, uintptr_t npages,
                                 unsigned spc, int *needzero) {
    return alloc_span(c, cpu, npages, 0, spc, needzero, 0, 0);
}

struct mspan *gh_heap_alloc_span_room(struct mcache *c, unsigned cpu, uintptr_t npages, uintptr_t room,
                                      unsigned spc, int *needzero) {
    return alloc_span(c, cpu, npages, room, spc, needzero, 0, 0);
}

_Static_assert(GH_MAP_UNPINNED_PAGES >= PAGECACHE_MAX_ALLOC,
               "a deferred run comes from the tree: no page cache below the threshold");
struct mspan *gh_heap_alloc_span_defer(struct mcache *c, unsigned cpu, uintptr_t npages, uintptr_t room,
                                       int *needzero, uintptr_t *tomap) {
    *tomap = 0;
    return alloc_span(c, cpu, npages, room, 0, needzero, tomap, 0);
}

struct mspan *gh_heap_alloc_span_nocache(unsigned cpu, uintptr_t npages, uintptr_t room, int *needzero,
                                         uintptr_t *tomap) {
    if (tomap)
        *tomap = 0;
    return alloc_span(0, cpu, npages, room, 0, needzero, tomap, 1);
}

/* ---- deferred maps (mheap.h, gh_heap.mapping) --------------------------------------------
 * A run taken with pages still to map is in flight from its take to its publication
 * (or its growth's), mapped with no lock held in between: up to ~100 ms for 256 MiB.
 * Every change a fork child must see whole or not at all is made in a heap-lock hold,
 * which a fork's prepare takes too: the take, the struct, the counters and the link
 * into gh_heap.mapping in one (map_begin, or gh_heap_extend_span for a growth); the
 * publication (or the growth), its statistics and the unlink in the hold that finds
 * nothing left to map (map_finish); or, out of memory, the pages back, the counters
 * and the unlink in one (map_undo). So the child finds each run either in the list,
 * taken and counted, in no span, or published whole, and gives back what is listed
 * (gh_heap_fork_child). */

/* s onto gh_heap.mapping. Caller holds the heap lock. */
static void map_link(struct mspan *s, uintptr_t grow) {
    s->mapgrow = (uint32_t)grow;
    s->mapnext = gh_heap.mapping;
    gh_heap.mapping = s;
}

/* s off gh_heap.mapping. Caller holds the heap lock. */
static void map_unlink(struct mspan *s) {
    struct mspan **pp = &gh_heap.mapping;
    while (*pp && *pp != s)
        pp = &(*pp)->mapnext;
    if (!*pp)
        gh_panicf("goheap: span 0x%lx (base 0x%lx) is not among the maps in flight", (unsigned long)(uintptr_t)s,
                  (unsigned long)s->base);
    *pp = s->mapnext;
    s->mapnext = 0;
    s->mapgrow = 0;
}

/* The run of s in flight: its own pages, or the growth at its end. */
static uintptr_t map_range(const struct mspan *s, uintptr_t *npages) {
    uintptr_t end = s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
    *npages = gh_map_pages(s);
    return gh_map_is_growth(s) ? end : s->base;
}

/* A large span's run taken with pages still to map (ri->tomap): its struct, the run
 * counted in use and the span counted, the span onto gh_heap.mapping, in the take's
 * hold. Out of structs: the run goes back as it was (run_back_locked); 0. Caller holds
 * the heap lock, pinned on cpu (the meta lock ranks above it). */
static struct mspan *map_begin(unsigned cpu, uintptr_t base, uintptr_t npages, struct run_info *ri) {
    unsigned b = bucket_of(0);
    gh_lock(&gh_meta.lock, cpu);
    struct mspan *s = gh_fixalloc_alloc(&gh_heap.spanalloc[b]);
    gh_unlock(&gh_meta.lock, cpu);
    if (!s) {
        run_back_locked(base, npages, ri);
        return 0;
    }
    span_reset(s, gh_heap.spanalloc[b].size);
    s->bucket = (uint8_t)b;
    s->base = base;
    s->npages = (uint32_t)npages;
    atomic_fetch_add_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
    count_run_inuse(npages, ri);
    map_link(s, 0);
    return s;
}

static void grow_span(struct mspan *s, uintptr_t end, uintptr_t extra); /* (below, with realloc's) */
static void free_unbacked_locked(struct mspan *s);                     /* (below, with realloc's move) */

/* Nothing left to map: the span map may name the pages now (the take left it alone),
 * and s is published (set up by its caller: gh_heap_map_span) or grown over them, its
 * bytes counted in the large statistics of cpu's cache, off gh_heap.mapping. Caller
 * holds the heap lock, pinned on cpu. */
static void map_finish(unsigned cpu, struct mspan *s) {
    uintptr_t npages, base = map_range(s, &npages), grow = gh_map_is_growth(s);
    struct mcache *c = gh_fast.caches[cpu]; /* (never created here: gh_emptycache counts too) */
    gh_arena_cover(base + (npages << GOHEAP_PAGE_SHIFT));
    map_unlink(s);
    if (grow) {
        grow_span(s, base, npages);
    } else {
        if (gh_unlikely(s->efence))
            gh_efence_publish_locked(s); /* canaries, list, count: before the publish (efence.c) */
        gh_heap_publish(s);
        gh_cache_count(c, &c->large_alloc, 1, 1);
    }
    gh_cache_count(c, &c->large_alloc_bytes, (uint64_t)npages << GOHEAP_PAGE_SHIFT, 1);
}

/* The run of s in flight back to the tree, off gh_heap.mapping: what is still unmapped
 * released (known zero), the rest free and backed; counted in use since its take, it
 * leaves heap_inuse. A new span leaves span_count too and is returned, for its caller
 * to give its struct back in the same hold (under the meta lock); a growth leaves s
 * as it was: 0. Caller holds the heap lock. */
static struct mspan *map_undo(struct mspan *s) {
    uintptr_t npages, base = map_range(s, &npages), grow = gh_map_is_growth(s);
    map_unlink(s);
    uintptr_t unbacked = gh_pagealloc_free_mapping(gh_heap_pages_of(base), base, npages);
    atomic_fetch_sub_explicit(&gh_heap.heap_inuse, npages << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_free, (npages - unbacked) << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_released, unbacked << GOHEAP_PAGE_SHIFT, memory_order_relaxed);
    if (grow)
        return 0;
    atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
    return s;
}

/* Maps the pages of s's run in flight still being mapped, a run at a time, unpinned
 * with no lock held, then finishes it (map_finish): 0. Out of memory: map_undo, the
 * struct of a new span back to its spanalloc; -1. Shared by a large malloc's run
 * (gh_heap_map_span) and realloc's growth in place (gh_heap_extend_mapped). */
static int map_run(struct mspan *s) {
    uintptr_t npages, base = map_range(s, &npages);
    uintptr_t a = 0, n = 0, from = base, end = base + (npages << GOHEAP_PAGE_SHIFT);
    struct pagealloc *pa = gh_heap_pages_of(base);
    goheap_pin_t pin;
    for (;;) {
        /* The next run to map, the one just mapped marked backed in the same hold: the
         * lock is held for a bitmap walk, never across a map; the walk goes on from the
         * last run's end, so the pages are walked once in all. */
        unsigned cpu = goheap_sys_pin(&pin);
        gh_lock(&gh_heap.lock, cpu);
        if (a) {
            gh_pagealloc_mapping_done(pa, a, n);
            from = a + (n << GOHEAP_PAGE_SHIFT);
        }
        a = from < end ? gh_pagealloc_mapping_next(pa, from, (end - from) >> GOHEAP_PAGE_SHIFT, &n) : 0;
        if (!a)
            map_finish(cpu, s);
        gh_unlock(&gh_heap.lock, cpu);
        goheap_sys_unpin(pin);
        if (!a)
            return 0;
        if (gh_sys_map((void *)a, n << GOHEAP_PAGE_SHIFT) != 0)
            break;
    }
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    struct mspan *dead = map_undo(s);
    if (dead) {
        gh_lock(&gh_meta.lock, cpu);
        gh_fixalloc_free(&gh_heap.spanalloc[dead->bucket], dead);
        gh_unlock(&gh_meta.lock, cpu);
    }
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
    return -1;
}

int gh_heap_map_span(struct mspan *s) { return map_run(s); }

void gh_heap_fork_child(void) {
    struct mspan *s;
    while ((s = gh_heap.mapping) != 0) {
        if (s->mapgrow == GH_MAPGROW_REMAP) {
            /* A zero-copy move's destination, its old object untouched (remap.c: the
             * move itself is never forked): whatever backs it now (the frames it had,
             * if it was not yet emptied; its tail, mapped) goes, then the run goes
             * back released and known zero, as a failed move's. The one unmap with
             * the locks held: the child's only thread waits for no other CPU. */
            uintptr_t base = s->base, npages = s->npages;
            map_unlink(s);
            gh_sys_unmap((void *)base, npages << GOHEAP_PAGE_SHIFT);
            free_unbacked_locked(s);
            gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
            continue;
        }
        struct mspan *dead = map_undo(s);
        if (dead)
            gh_fixalloc_free(&gh_heap.spanalloc[dead->bucket], dead);
    }
    gh_release_fork_child();
}

/* ---- realloc's zero-copy move (alloc/remap.c) ------------------------------------------ */
struct mspan *gh_heap_alloc_span_unmapped(unsigned cpu, uintptr_t npages, unsigned spc, uintptr_t *lazy,
                                          uintptr_t *unbacked) {
    /* The struct first: a run taken and then given back could not be told apart by
     * kind any more (its bits are cleared), so nothing is taken that may need undoing. */
    unsigned b = bucket_of(spc);
    gh_lock(&gh_meta.lock, cpu);
    struct mspan *s = gh_fixalloc_alloc(&gh_heap.spanalloc[b]);
    gh_unlock(&gh_meta.lock, cpu);
    if (!s)
        return 0;
    span_reset(s, gh_heap.spanalloc[b].size);
    uintptr_t base = 0;
    int err = PAGEALLOC_NOSPACE;
    struct pagealloc *pa;
    gh_lock(&gh_heap.lock, cpu);
    for (int round = 0; !base && round < 3; round++) {
        if (round == 1 && !hcache_drain_locked(cpu))
            continue; /* nothing cached: straight to growing */
        if (round == 2 && gh_heap_grow(npages) != 0)
            break;
        err = PAGEALLOC_NOSPACE;
        for (unsigned i = 0; !base && err == PAGEALLOC_NOSPACE && (pa = gh_heap_pages_at(i)); i++)
            base = gh_pagealloc_alloc_unmapped(pa, npages, lazy, unbacked, &err);
    }
    if (base) {
        gh_arena_cover(base + (npages << GOHEAP_PAGE_SHIFT));
        /* Counted in use like any allocation (released pages as backed again: the
         * caller gives back what backs the run now and moves other frames in), under
         * the lock like gh_scavenge's counts; in the same hold the span is set up,
         * counted and listed on gh_heap.mapping until its publication or give-back
         * (a fork child gives it back: "deferred maps" above). */
        struct run_info ri = {*lazy + *unbacked, 0, *lazy, 0, 0, 0};
        count_run_inuse(npages, &ri);
        span_take(s, b, base, npages, spc);
        map_link(s, GH_MAPGROW_REMAP);
    }
    gh_unlock(&gh_heap.lock, cpu);
    if (!base) {
        gh_lock(&gh_meta.lock, cpu);
        gh_fixalloc_free(&gh_heap.spanalloc[b], s);
        gh_unlock(&gh_meta.lock, cpu);
        return 0;
    }
    return s;
}

void gh_heap_remap_unlist(unsigned cpu, struct mspan *d) {
    gh_lock(&gh_heap.lock, cpu);
    map_unlink(d);
    gh_unlock(&gh_heap.lock, cpu);
}

/* ---- the span map (scheme: mheap.h, GH_SPANMAP_STRIDE) ------------------------------- */
static inline uintptr_t map_page(uintptr_t a) {
    return (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
}

/* Stores v at the entries of pages [pg, pg + n) of s that s's scheme writes. The
 * stores are relaxed atomics (plain moves) because gh_span_resolve may read entries
 * near the ones it is asked about, which other CPUs may be writing. */
static void map_write(const struct mspan *s, uintptr_t pg, uintptr_t n, struct mspan *v) {
    struct mspan **m = gh_fast.spans;
    if (gh_unlikely(map_page(s->base) >= atomic_load_explicit(&gh_fast.npages, memory_order_relaxed))) {
        /* A cover's span (region mode): its map is written at every page, so
         * gh_span_of_cover needs no resolving. pg wrapped the same way s->base did. */
        m = map_slot(gh_fast.base + (pg << GOHEAP_PAGE_SHIFT));
        for (uintptr_t i = 0; i < n; i++)
            __atomic_store_n(&m[i], v, __ATOMIC_RELAXED);
        return;
    }
    if (!gh_spanmap_sparse(s->spc)) {
        for (uintptr_t i = 0; i < n; i++)
            __atomic_store_n(&m[pg + i], v, __ATOMIC_RELAXED);
        return;
    }
    uintptr_t end = pg + n;
    if (pg == map_page(s->base))
        __atomic_store_n(&m[pg], v, __ATOMIC_RELAXED);
    for (uintptr_t q = gh_align_up(pg, GH_SPANMAP_STRIDE); q < end; q += GH_SPANMAP_STRIDE)
        __atomic_store_n(&m[q], v, __ATOMIC_RELAXED);
}

/* Prefetches for writing the entries map_write would store for pages [pg, pg + n)
 * of a large span of the window's map (sparse): one cache line per stride page. */
static inline void map_prefetch(uintptr_t pg, uintptr_t n) {
    struct mspan **m = gh_fast.spans;
    uintptr_t end = pg + n, np = atomic_load_explicit(&gh_fast.npages, memory_order_relaxed);
    if (end > np)
        return;
    __builtin_prefetch(&m[pg], 1);
    for (uintptr_t q = gh_align_up(pg, GH_SPANMAP_STRIDE); q < end; q += GH_SPANMAP_STRIDE)
        __builtin_prefetch(&m[q], 1);
}

static inline int map_covers(const struct mspan *s, uintptr_t pg) {
    return s != &gh_deadspan && pg - map_page(s->base) < s->npages;
}

struct mspan *gh_span_resolve(uintptr_t pg) {
    /* q: the stride page at or below pg. No page in (q, pg] is a stride page, so a
     * span covering pg that starts in (q, pg) has its first-page entry as the first
     * entry written below pg, and one that starts at or below q leaves every entry
     * in (q, pg) dead and names itself at q. Scanning down before reading q means
     * that, for a pointer into a live span, only that span's own entries and fields
     * are read (nothing another CPU may be changing). */
    struct mspan **m = gh_fast.spans;
    uintptr_t q = pg & ~(uintptr_t)(GH_SPANMAP_STRIDE - 1);
    struct mspan *s = &gh_deadspan;
    for (uintptr_t i = pg; i > q && s == &gh_deadspan;)
        s = __atomic_load_n(&m[--i], __ATOMIC_RELAXED);
    return map_covers(s, pg) ? s : &gh_deadspan;
}

void gh_heap_publish(struct mspan *s) {
    map_write(s, map_page(s->base), s->npages, s);
    atomic_store_explicit(&s->state, GH_SPAN_INUSE, memory_order_release);
}

static void unmap_span(struct mspan *s) {
    map_write(s, map_page(s->base), s->npages, &gh_deadspan);
}

/* Pages and struct of s back to the page allocator and the spanalloc, whole in the
 * caller's heap-lock hold (the meta lock nested), so that a fork child finds s either
 * untouched or gone ("fork" in docs/alloc.md); the byte counters are the caller's.
 * Caller holds the heap lock, pinned on cpu. */
static void release_span_locked(unsigned cpu, struct mspan *s) {
    uintptr_t base = s->base, npages = s->npages;
    gh_span_dead(s);
    unmap_span(s);
    gh_pagealloc_free(gh_heap_pages_of(base), base, npages);
    atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
    if (gh_unlikely(gh_knobs.scavenge_eager))
        gh_want_work(GH_WORK_EAGER);
    gh_lock(&gh_meta.lock, cpu);
    gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
    gh_unlock(&gh_meta.lock, cpu);
}

/* gh_heap_free_span's body. Caller holds the heap lock, pinned on cpu. */
static void free_span_locked(unsigned cpu, struct mspan *s) {
    count_idle((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
    release_span_locked(cpu, s);
}

void gh_heap_free_span(unsigned cpu, struct mspan *s) {
    gh_lock(&gh_heap.lock, cpu);
    free_span_locked(cpu, s);
    gh_unlock(&gh_heap.lock, cpu);
}

unsigned gh_heap_free_spans(unsigned cpu, struct mspan *list) {
    unsigned n = 0;
    if (!list)
        return 0;
    gh_lock(&gh_heap.lock, cpu);
    while (list) {
        struct mspan *next = list->next;
        free_span_locked(cpu, list);
        list = next;
        n++;
    }
    gh_unlock(&gh_heap.lock, cpu);
    return n;
}

/* s's run (all unbacked) back to the tree released, its bytes from in use to
 * released, s out of span_count. Caller holds the heap lock. */
static void free_unbacked_locked(struct mspan *s) {
    uintptr_t base = s->base, npages = s->npages, bytes = npages << GOHEAP_PAGE_SHIFT;
    gh_pagealloc_free_unbacked(gh_heap_pages_of(base), base, npages);
    atomic_fetch_sub_explicit(&gh_heap.heap_inuse, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_released, bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
}

void gh_heap_free_span_unbacked(unsigned cpu, struct mspan *s, int published) {
    gh_lock(&gh_heap.lock, cpu); /* (one hold, the struct's free nested: as release_span) */
    gh_span_dead(s);
    if (published)
        unmap_span(s);
    else /* a move's destination, listed since its take */
        map_unlink(s);
    free_unbacked_locked(s);
    gh_lock(&gh_meta.lock, cpu);
    gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
    gh_unlock(&gh_meta.lock, cpu);
    gh_unlock(&gh_heap.lock, cpu);
}

/* ---- resizing a large span in place (realloc) ------------------------------------------- */
/* s takes the extra pages at its end (in use in the tree, or taken from a window;
 * the caller counts them). */
static void grow_span(struct mspan *s, uintptr_t end, uintptr_t extra) {
    map_write(s, map_page(end), extra, s);
    s->npages += (uint32_t)extra;
    s->limit += extra << GOHEAP_PAGE_SHIFT;
}

/* Whether a window at s's end (the address end) is in s's page allocator. Always with
 * one page allocator; in region mode a cover may begin where s's ends (a region with
 * pages in both), and a span never crosses from one to another. */
static inline int window_is_ours(const struct mspan *s, uintptr_t end) {
    return gh_likely(!__atomic_load_n(&gh_covers.n, __ATOMIC_RELAXED)) ||
           gh_heap_pages_of(s->base) == gh_heap_pages_of(end);
}

/* gh_pagealloc_alloc_at, or with tomap its deferred form. Caller holds the heap lock. */
static inline uintptr_t take_at(struct pagealloc *pa, uintptr_t base, uintptr_t npages, struct run_info *ri,
                                uintptr_t *tomap, int *err) {
    return tomap ? gh_pagealloc_alloc_at_defer(pa, base, npages, &ri->scav, tomap, err)
                 : gh_pagealloc_alloc_at(pa, base, npages, &ri->scav, err);
}

int gh_heap_extend_window(struct pagecache *pc, struct mspan *s, uintptr_t extra) {
    uintptr_t end = s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
    if (!pc || extra == 0 || pc->gpages < extra || pc->gbase != end || (uintptr_t)s->npages + extra > UINT32_MAX ||
        !window_is_ours(s, end))
        return 0;
    window_set(pc, end + (extra << GOHEAP_PAGE_SHIFT), pc->gpages - extra); /* idle -> in use */
    grow_span(s, end, extra);
    return 1;
}

int gh_heap_extend_span(unsigned cpu, struct pagecache *pc, struct mspan *s, uintptr_t extra, int fill) {
    uintptr_t end = s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
    struct run_info ri = {0, 0, 0, 0, 0, 0};
    uintptr_t tomap = 0;
    int err;
    if (extra == 0 || (uintptr_t)s->npages + extra > UINT32_MAX)
        return 0;
    /* Only inside s's own page allocator: alloc_at refuses pages past its end. */
    struct pagealloc *pa = gh_heap_pages_of(s->base);
    gh_lock(&gh_heap.lock, cpu);
    /* A window at s's end gives its pages first; one inside the range is given back
     * (the tree must see those pages free). */
    uintptr_t w = 0, wend = end + (extra << GOHEAP_PAGE_SHIFT);
    if (pc && pc->gpages) {
        if (pc->gbase == end && window_is_ours(s, end))
            w = pc->gpages < extra ? pc->gpages : extra;
        else if (pc->gbase < wend && pc->gbase + (pc->gpages << GOHEAP_PAGE_SHIFT) > end)
            window_flush_locked(pc);
    }
    uintptr_t got = 1, tbase = end + (w << GOHEAP_PAGE_SHIFT);
    if (w < extra) {
        /* From GH_MAP_UNPINNED_PAGES on, what needs mapping is left to the caller,
         * mapped unpinned with no lock held (gh_heap_extend_mapped, mheap.h). */
        uintptr_t before = pa->npages_scav, *defer = extra - w >= GH_MAP_UNPINNED_PAGES ? &tomap : 0;
        got = take_at(pa, tbase, extra - w, &ri, defer, &err);
        if (!got && err == PAGEALLOC_NOSPACE && hcache_drain_locked(cpu)) { /* the pages may be cached */
            before = pa->npages_scav;
            got = take_at(pa, tbase, extra - w, &ri, defer, &err);
        }
        if (!got && err == PAGEALLOC_NOMEM)
            note_mapped_free(before - pa->npages_scav);
        ri.lazy = got ? pa->lazy_run : 0;
        if (got && !tomap) /* (else map_run covers them once mapped) */
            gh_arena_cover(tbase + ((extra - w) << GOHEAP_PAGE_SHIFT));
    }
    if (got && w)
        window_set(pc, pc->gbase + (w << GOHEAP_PAGE_SHIFT), pc->gpages - w);
    if (got && pc && fill)
        window_fill_locked(pc, pa, wend);
    /* Counted in the take's hold, and a growth left to map onto gh_heap.mapping in it
     * (a fork child sees both or neither: "deferred maps" above). */
    if (got && w < extra) /* (the window's pages are in heap_inuse already) */
        count_run_inuse(extra - w, &ri);
    if (got && tomap)
        map_link(s, extra);
    else if (got) /* (in the hold that counts the pages: a fork child sees both or neither) */
        grow_span(s, end, extra);
    gh_unlock(&gh_heap.lock, cpu);
    if (!got)
        return 0;
    return tomap ? GH_EXTEND_MAP : 1; /* (GH_EXTEND_MAP: s grows in gh_heap_extend_mapped) */
}

int gh_heap_extend_mapped(struct mspan *s) {
    return map_run(s) == 0; /* else the pages went back; s is as it was */
}

void gh_heap_trim_span(unsigned cpu, struct mcache *c, struct mspan *s, uintptr_t keep) {
    uintptr_t tail = s->npages - keep, tbase = s->base + (keep << GOHEAP_PAGE_SHIFT);
    /* One hold, the statistics' count with it: a fork child finds s whole or trimmed. */
    gh_lock(&gh_heap.lock, cpu);
    gh_cache_count(c, &c->large_free_bytes, (uint64_t)tail << GOHEAP_PAGE_SHIFT, 1);
    /* The span stops covering the tail first, then the map stops naming it. */
    s->npages = (uint32_t)keep;
    s->limit = tbase;
    map_write(s, map_page(tbase), tail, &gh_deadspan);
    gh_pagealloc_free(gh_heap_pages_of(tbase), tbase, tail);
    count_idle(tail << GOHEAP_PAGE_SHIFT);
    gh_unlock(&gh_heap.lock, cpu);
    if (gh_unlikely(gh_knobs.scavenge_eager))
        gh_want_work(GH_WORK_EAGER);
}

/* ---- the large span cache (mcache.h) ------------------------------------------------ */
/* A span leaves c's large span cache for the page heap or the page cache window: its
 * bytes move from lcache.pages (idle there, in heap_inuse globally) to heap_free. */
static void lcache_take_out(struct mcache *c, uintptr_t n) {
    __atomic_store_n(&c->lcache.pages, c->lcache.pages - n, __ATOMIC_RELAXED);
    count_idle(n << GOHEAP_PAGE_SHIFT);
}

void gh_heap_lcache_drain(struct mcache *c, unsigned cpu) {
    if (!c->lcache.pages)
        return;
    gh_lock(&gh_heap.lock, cpu);
    for (unsigned n = 1; n <= GH_LCACHE_MAX_PAGES && c->lcache.pages; n++) {
        struct mspan *s;
        while ((s = c->lcache.bin[n])) {
            c->lcache.bin[n] = s->next;
            c->lcache.nbin[n]--;
            lcache_take_out(c, n);
            release_span_locked(cpu, s); /* (counted free just above) */
        }
    }
    gh_unlock(&gh_heap.lock, cpu);
}

_Static_assert(GH_LCACHE_MAX_PAGES < 64, "a cached span's page mask fits a word below bit 64");
void gh_heap_flush_mcache(struct mcache *c, unsigned cpu) {
    struct pagecache *pc = &c->pcache;
    for (unsigned n = 1; n <= GH_LCACHE_MAX_PAGES && pc->base && c->lcache.pages; n++) {
        struct mspan **pp = &c->lcache.bin[n], *s;
        while ((s = *pp)) {
            /* (below the window, off wraps to a huge value) */
            uintptr_t off = (s->base - pc->base) >> GOHEAP_PAGE_SHIFT;
            if (off >= PAGECACHE_PAGES || off + n > PAGECACHE_PAGES) { /* not all inside: below */
                pp = &s->next;
                continue;
            }
            *pp = s->next;
            c->lcache.nbin[n]--;
            lcache_take_out(c, n);
            uint64_t m = ((1ull << n) - 1) << off; /* n <= GH_LCACHE_MAX_PAGES < 64 */
            if (pc->cache & m)
                gh_panicf("goheap: cached large span 0x%lx overlaps its CPU's page cache (window 0x%lx, "
                          "free pages 0x%lx)", (unsigned long)s->base, (unsigned long)pc->base,
                          (unsigned long)pc->cache);
            gh_span_dead(s);
            unmap_span(s);
            pc->cache |= m; /* free and backed: scav, zero and lazy bits stay 0 */
            atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
            gh_lock(&gh_meta.lock, cpu);
            gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
            gh_unlock(&gh_meta.lock, cpu);
        }
    }
    gh_heap_flush_pcache(cpu, pc);
    gh_heap_lcache_drain(c, cpu);
}

/* ---- the heap's large span cache (mheap.h) ------------------------------------------- */
/* Removes entry i. Caller holds the heap lock. */
static struct mspan *hcache_remove(unsigned i) {
    struct mspan *s = gh_heap.hcache[i];
    unsigned n = gh_heap.hcache_n - 1;
    for (; i < n; i++)
        gh_heap.hcache[i] = gh_heap.hcache[i + 1];
    __atomic_store_n(&gh_heap.hcache_n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&gh_heap.hcache_pages, gh_heap.hcache_pages - s->npages, __ATOMIC_RELAXED);
    return s;
}

/* s, a freed large span that is ours alone (in no cache), ends where pc's grow window
 * begins and joins it: its pages stay in use in the tree and backed, no page-allocator
 * update and no counter (they were in heap_inuse, now idle through gpages); its map
 * entries are cleared and its struct freed. The window keeps its first
 * GH_GROW_WINDOW_PAGES pages; the rest go back to the tree. Caller holds pc's cache
 * lock and the heap lock, which this drops; pinned on cpu. */
static void window_absorb(struct pagecache *pc, unsigned cpu, struct mspan *s, struct pagealloc *pa) {
    map_prefetch(map_page(s->base), s->npages); /* its map's lines, for unmap_span below */
    uintptr_t n = s->npages, total = pc->gpages + n;
    uintptr_t keep = total < GH_GROW_WINDOW_PAGES ? total : GH_GROW_WINDOW_PAGES;
    /* A span longer than the window (window_join_freed's, above 16 MiB) gives its own
     * tail back: its entries go first, as in release_span, or a span another CPU
     * publishes on those pages once the lock is dropped would have its first-page and
     * stride entries overwritten with gh_deadspan (its free: "free into a dead span"). */
    int early = keep < n;
    if (early) {
        gh_span_dead(s);
        unmap_span(s);
    }
    if (keep < total)
        gh_pagealloc_free(pa, s->base + (keep << GOHEAP_PAGE_SHIFT), total - keep);
    gh_unlock(&gh_heap.lock, cpu);
    if (keep < total)
        count_idle((total - keep) << GOHEAP_PAGE_SHIFT);
    atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
    if (!early) { /* (only the old window's pages went back: nothing else can map here) */
        gh_span_dead(s);
        unmap_span(s);
    }
    window_set(pc, s->base, keep);
    gh_lock(&gh_meta.lock, cpu);
    gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
    gh_unlock(&gh_meta.lock, cpu);
}

/* Before a placement from c's grow window (c->lock held, pinned on cpu): a span of the
 * heap's large span cache that ends where the window begins (the buffer that grew
 * through it, freed) joins it, so the placement starts at that span's base and the
 * buffer grows through the same pages again. Done here and not at the free, which
 * would pay the test on every large free (the 1 MiB pair: +3 instructions); a span
 * the cache does not take (above 16 MiB) joins at its free (window_join_freed). */
static void window_join_cached(struct mcache *c, unsigned cpu) {
    struct pagecache *pc = &c->pcache;
    uintptr_t end = pc->gbase;
    struct mspan *s = 0;
    gh_lock(&gh_heap.lock, cpu);
    for (unsigned i = gh_heap.hcache_n; i-- > 0;)
        if (gh_heap.hcache[i]->base + ((uintptr_t)gh_heap.hcache[i]->npages << GOHEAP_PAGE_SHIFT) == end) {
            s = hcache_remove(i);
            break;
        }
    struct pagealloc *pa = s ? gh_heap_pages_of(s->base) : 0;
    if (s && pa != gh_heap_pages_of(end)) { /* (windows never cross page allocators) */
        gh_heap.hcache[gh_heap.hcache_n] = s;
        __atomic_store_n(&gh_heap.hcache_n, gh_heap.hcache_n + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&gh_heap.hcache_pages, gh_heap.hcache_pages + s->npages, __ATOMIC_RELAXED);
        s = 0;
    }
    if (s)
        window_absorb(pc, cpu, s, pa);
    else
        gh_unlock(&gh_heap.lock, cpu);
}

/* A live span above the heap cache's bound (pinned on cpu, no lock held) that ends
 * where c's grow window begins is freed into it (a buffer grown through it with the
 * growth margin, past 16 MiB) under c->lock. Returns 1 if it was, -1 if s was not in
 * use, 0 if it does not join (s untouched). */
static int window_join_freed(unsigned cpu, struct mcache *c, struct mspan *s) {
    uintptr_t end = s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
    if (c == &gh_emptycache || s->efence || __atomic_load_n(&c->pcache.gbase, __ATOMIC_RELAXED) != end)
        return 0;
    gh_lock(&c->lock, cpu);
    struct pagealloc *pa = gh_heap_pages_of(s->base);
    int ok = c->pcache.gbase == end && pa == gh_heap_pages_of(end);
    if (ok && !gh_large_freed(c, s, s->npages, 0))
        ok = -1;
    if (ok > 0) {
        gh_lock(&gh_heap.lock, cpu);
        window_absorb(&c->pcache, cpu, s, pa);
    }
    gh_unlock(&c->lock, cpu);
    return ok;
}

/* gh_heap_hcache_put's span that the cache never takes: into the grow window it ends
 * at, else to the page heap. Out of line: inlined, its code cost the 1 MiB pair's put
 * 2 instructions (callgrind, 344 -> 346). */
int gh_heap_hcache_put_big(unsigned cpu, struct mcache *c, struct mspan *s) {
    int r = gh_knobs.scavenge_eager ? 0 : window_join_freed(cpu, c, s);
    if (r)
        return r > 0;
    gh_lock(&gh_heap.lock, cpu);
    r = gh_large_freed(c, s, s->npages, 1);
    if (r)
        free_span_locked(cpu, s);
    gh_unlock(&gh_heap.lock, cpu);
    return r;
}

void gh_heap_hcache_evict_locked(unsigned cpu, uintptr_t n) {
    /* (in heap_inuse until now, mheap.h) */
    while (gh_heap.hcache_n == GH_HCACHE_SPANS || gh_heap.hcache_pages + n > GH_HCACHE_PAGES)
        free_span_locked(cpu, hcache_remove(0));
}

struct mspan *gh_heap_hcache_take_locked(uintptr_t npages) {
    for (unsigned i = gh_heap.hcache_n; i-- > 0;) /* the newest first: warmest */
        if (gh_heap.hcache[i]->npages == npages)
            return hcache_remove(i);
    return 0;
}

/* Every span of the heap's cache back to the page heap (in heap_inuse until now,
 * mheap.h), in the caller's hold. Caller holds the heap lock, pinned on cpu. */
static void hcache_empty_locked(unsigned cpu) {
    while (gh_heap.hcache_n)
        free_span_locked(cpu, hcache_remove(gh_heap.hcache_n - 1));
}

void gh_heap_hcache_drain(unsigned cpu) {
    if (!__atomic_load_n(&gh_heap.hcache_n, __ATOMIC_RELAXED))
        return;
    gh_lock(&gh_heap.lock, cpu);
    hcache_empty_locked(cpu);
    gh_unlock(&gh_heap.lock, cpu);
}

void gh_heap_free_retired_locked(struct mspan *s) {
    /* Out of the efence quarantine: every page is unbacked (data unmapped at free, the
     * guard at allocation), so the run goes back to the tree as scavenged, the way a
     * scavenged run does (taken, then done), and stays counted in heap_released. All
     * in the caller's hold, the struct's free with it (as release_span_locked). */
    uintptr_t base = s->base, npages = s->npages, bytes = npages << GOHEAP_PAGE_SHIFT;
    gh_span_dead(s);
    unmap_span(s);
    struct pagealloc *pa = gh_heap_pages_of(base);
    pa->npages_scavenging += npages;
    gh_pagealloc_scavenge_done(pa, base, npages);
    atomic_fetch_sub_explicit(&gh_heap.efence_dead, bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gh_heap.span_count, 1, memory_order_relaxed);
    gh_fixalloc_free(&gh_heap.spanalloc[s->bucket], s);
}

void gh_heap_retire_span_pages(struct mspan *s) {
    /* Efence: the pages stay allocated in the tree and unbacked while the span sits in
     * the quarantine (gh_heap_free_retired_locked then returns them); the span struct
     * stays in the map as EFENCE_FREED so a second free or a late access is named. */
    uintptr_t bytes = (uintptr_t)s->npages << GOHEAP_PAGE_SHIFT;
    atomic_store_explicit(&s->state, GH_SPAN_EFENCE_FREED, memory_order_release);
    atomic_fetch_sub_explicit(&gh_heap.heap_inuse, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_released, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.efence_dead, bytes, memory_order_relaxed);
}

void gh_heap_flush_window(unsigned cpu, struct pagecache *pc) {
    if (!pc->gpages)
        return;
    gh_lock(&gh_heap.lock, cpu);
    window_flush_locked(pc);
    gh_unlock(&gh_heap.lock, cpu);
}

void gh_heap_flush_pcache(unsigned cpu, struct pagecache *pc) {
    if (pagecache_empty(pc) && !pc->gpages)
        return;
    gh_lock(&gh_heap.lock, cpu);
    cache_flush(pc);
    window_flush_locked(pc);
    gh_unlock(&gh_heap.lock, cpu);
}

uint64_t gh_heap_mapped(void) {
    return atomic_load_explicit(&gh_heap.heap_inuse, memory_order_relaxed) +
           atomic_load_explicit(&gh_heap.heap_free, memory_order_relaxed) +
           __atomic_load_n(&gh_meta.mapped, __ATOMIC_RELAXED) + gh_heap_pages_meta();
}
