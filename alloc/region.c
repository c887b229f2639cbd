/* alloc/region.c: region mode's layout (the heap pages inside the caller's region, the
 * rest of the window kept allocated forever) and the regions added later: each cover's
 * page allocator and span map, and the look-ups that pick the window's or a cover's. */
#include "mheap.h"
#include "arena.h"
#include "sysmem.h"

/* Region mode: keeps every page of pa's freshly grown (empty) arena outside the heap
 * pages [lo, hi) allocated forever; [lo, hi) becomes free, backed and dirty. lo and hi
 * are clipped to the arena. Returns the bytes kept (holes). Caller holds the heap lock. */
static uintptr_t region_holes(struct pagealloc *pa, uintptr_t lo, uintptr_t hi) {
    uintptr_t base = pa->base, end = pa->limit, sc;
    lo = lo < base ? base : lo > end ? end : lo;
    hi = hi < lo ? lo : hi > end ? end : hi;
    uintptr_t n1 = (lo - base) >> GOHEAP_PAGE_SHIFT, n2 = (hi - lo) >> GOHEAP_PAGE_SHIFT;
    uintptr_t n3 = (end - hi) >> GOHEAP_PAGE_SHIFT;
    /* Plain first fit over an empty heap (the first page-cache window is not left to
     * small spans here: pagealloc.h, small_first): each allocation lands at the lowest
     * free page, so the hole below lo, then (briefly) [lo, hi), then the hole above hi. */
    unsigned small_first = pa->small_first;
    pa->small_first = 0;
    int placed = (!n1 || gh_pagealloc_alloc(pa, n1, &sc, 0) == base) &&
                 (!n2 || gh_pagealloc_alloc(pa, n2, &sc, 0) == lo) &&
                 (!n3 || gh_pagealloc_alloc(pa, n3, &sc, 0) == hi);
    pa->small_first = small_first;
    if (!placed)
        gh_panicf("goheap: region: cannot lay out [0x%lx, 0x%lx) in [0x%lx, 0x%lx)",
                  (unsigned long)lo, (unsigned long)hi, (unsigned long)base, (unsigned long)end);
    if (n2)
        gh_pagealloc_free(pa, lo, n2); /* free and backed (it always is), dirty */
    return (n1 + n3) << GOHEAP_PAGE_SHIFT;
}

int gh_heap_region_setup(uintptr_t lo, uintptr_t hi) {
    if (gh_heap_grow(gh_heap.arena_bytes >> GOHEAP_PAGE_SHIFT) != 0)
        return -1;
    uintptr_t holes = region_holes(&gh_heap.pages, lo, hi);
    gh_heap.grown -= holes;
    gh_heap.holes = holes;
    atomic_store(&gh_heap.heap_released, 0);
    atomic_store(&gh_heap.heap_free, hi - lo);
    return 0;
}

/* Bytes become part of the heap, free and backed. Caller holds the heap lock. */
static void count_joined(uintptr_t bytes) {
    gh_heap.grown += bytes;
    atomic_fetch_add_explicit(&gh_heap.heap_free, bytes, memory_order_relaxed);
}

/* Sets up cover cv over [cbase, cend), every page in use, not yet published. 0, or -1
 * after logging (its metadata is abandoned). Caller holds the heap lock and
 * gh_meta.lock. */
static int cover_setup(struct gh_cover *cv, uintptr_t cbase, uintptr_t cend) {
    uintptr_t npages = (cend - cbase) >> GOHEAP_PAGE_SHIFT;
    size_t mapbytes = gh_align_up(npages * sizeof(void *), GOHEAP_SYS_FRAME_SIZE);
    struct mspan **spans = gh_sys_reserve(mapbytes, GOHEAP_SYS_FRAME_SIZE);
    if (!spans || gh_meta_map(spans, mapbytes) != 0 ||
        gh_pagealloc_init(&cv->pages, cbase, cend - cbase) != 0) {
        gh_logf("goheap: add_region: no room in the region for the metadata of its %lu "
                "chunks (see goheap_overhead)", (unsigned long)(npages / PALLOC_CHUNK_PAGES));
        return -1;
    }
    for (uintptr_t i = 0; i < npages; i++)
        spans[i] = &gh_deadspan;
    cv->pages.debug = gh_heap.pages.debug;
    cv->pages.fresh_zero = cv->pages.release_zero = 0; /* region mode: see gh_heap_init */
    if (gh_pagealloc_grow(&cv->pages, cbase, npages) != 0) {
        gh_logf("goheap: add_region: cannot set up the page allocator of [0x%lx, 0x%lx)",
                (unsigned long)cbase, (unsigned long)cend);
        return -1;
    }
    cv->base = cbase;
    cv->end = cend;
    cv->spans = spans;
    return 0;
}

int gh_heap_add_region(uintptr_t lo, uintptr_t hi, uintptr_t cbase, uintptr_t cend) {
    unsigned n = __atomic_load_n(&gh_covers.n, __ATOMIC_RELAXED);
    struct gh_cover *cv = 0;
    if (cend > cbase) {
        if (n >= GH_MAX_COVERS) { /* goheap_add_region checks: one cover per region */
            gh_logf("goheap: add_region: no room for cover %u", n + 1);
            return -1;
        }
        cv = &gh_covers.c[n];
        if (cover_setup(cv, cbase, cend) != 0)
            return -1;
    }
    /* Nothing can fail from here on. Pages in chunks already covered (shared with a
     * neighbouring region) were holes of that page allocator: they become its free
     * pages (gh_pagealloc_free panics unless every one was in use). */
    for (unsigned i = 0; i <= n; i++) {
        struct pagealloc *pa = i ? &gh_covers.c[i - 1].pages : &gh_heap.pages;
        uintptr_t l = lo > pa->base ? lo : pa->base, h = hi < pa->limit ? hi : pa->limit;
        if (l >= h)
            continue;
        gh_pagealloc_free(pa, l, (h - l) >> GOHEAP_PAGE_SHIFT);
        gh_heap.holes -= h - l;
        count_joined(h - l);
    }
    if (cv) {
        uintptr_t holes = region_holes(&cv->pages, lo, hi);
        gh_heap.holes += holes;
        count_joined(cend - cbase - holes);
        __atomic_store_n(&gh_covers.n, n + 1, __ATOMIC_RELEASE);
    }
    return 0;
}

struct pagealloc *gh_heap_pages_at(unsigned i) {
    if (i == 0)
        return &gh_heap.pages;
    return i <= __atomic_load_n(&gh_covers.n, __ATOMIC_ACQUIRE) ? &gh_covers.c[i - 1].pages : 0;
}

struct pagealloc *gh_heap_pages_of(uintptr_t a) {
    if (a - gh_fast.base < gh_heap.arena_bytes)
        return &gh_heap.pages;
    struct gh_cover *c = gh_cover_of(a);
    return c ? &c->pages : &gh_heap.pages;
}

struct mspan **gh_heap_map_at(unsigned i, uintptr_t *base, uintptr_t *npages) {
    if (i == 0) {
        *base = gh_fast.base;
        *npages = atomic_load_explicit(&gh_fast.npages, memory_order_acquire);
        return gh_fast.spans;
    }
    if (i > __atomic_load_n(&gh_covers.n, __ATOMIC_ACQUIRE))
        return 0;
    struct gh_cover *c = &gh_covers.c[i - 1];
    *base = c->base;
    *npages = (c->end - c->base) >> GOHEAP_PAGE_SHIFT;
    return c->spans;
}

uint64_t gh_heap_pages_meta(void) {
    uint64_t sum = 0;
    struct pagealloc *pa;
    for (unsigned i = 0; (pa = gh_heap_pages_at(i)) != 0; i++)
        sum += __atomic_load_n(&pa->meta_mapped, __ATOMIC_RELAXED);
    return sum;
}

struct mspan *gh_span_of_cover(uintptr_t a) {
    struct gh_cover *c = gh_cover_of(a);
    if (c)
        return c->spans[(a - c->base) >> GOHEAP_PAGE_SHIFT];
    /* The window's grown pages past npages: no run handed out there yet (arena.h) */
    return a - gh_fast.base < __atomic_load_n(&gh_arena.next, __ATOMIC_RELAXED) ? &gh_deadspan : 0;
}
