/* tests/host/test_core_large.c: large objects (> 32 KiB): page-rounded spans, their span-map
 * entries and bad-pointer messages, unpinned maps (out of memory, a map storm, placement past
 * the first window), and the per-CPU and the heap's large span caches. realloc: test_core_realloc.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "../xorshift.h"
#include "test_core_large.h"

static void t_large_sizes(void) {
    size_t sizes[] = {32769, 40000, 65536, 100000, 1 << 20, (1 << 20) + 1, 10 << 20};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct goheap_memstats b = core_stats();
        char *p = goheap_malloc(sizes[i]);
        KT_CHECK(p && (uintptr_t)p % GOHEAP_PAGE_SIZE == 0, "size %zu", sizes[i]);
        size_t pages = (sizes[i] + 8191) / 8192;
        KT_CHECK(goheap_usable_size(p) == pages * 8192, "usable %zu", goheap_usable_size(p));
        memset(p, 0xab, sizes[i]);
        struct goheap_memstats m = core_stats();
        KT_CHECK(m.heap_alloc - b.heap_alloc == pages * 8192, "HeapAlloc counts page-rounded bytes");
        KT_CHECK(m.heap_inuse - b.heap_inuse == pages * 8192, "");
        goheap_free(p);
        KT_CHECK(core_stats().heap_inuse == b.heap_inuse, "pages back to the heap at free");
    }
}

static void t_large_zero(void) {
    /* Dirty some pages, free them, calloc over them: must read zero. */
    char *p = goheap_malloc(1 << 20);
    memset(p, 0xff, 1 << 20);
    goheap_free(p);
    unsigned char *q = goheap_calloc(1, 1 << 20);
    int nonzero = 0;
    for (size_t i = 0; i < (1 << 20); i++)
        nonzero |= q[i];
    KT_CHECK(!nonzero, "calloc over reused pages");
    goheap_free(q);
}

static void t_large_aligned(void) {
    size_t aligns[] = {16384, 65536, 1 << 20, 4 << 20};
    for (unsigned i = 0; i < 4; i++) {
        void *p = goheap_aligned_alloc(aligns[i], 50000);
        KT_CHECK(p && (uintptr_t)p % aligns[i] == 0, "align %zu", aligns[i]);
        KT_CHECK(goheap_usable_size(p) >= 50000, "");
        memset(p, 1, 50000);
        goheap_free(p);
    }
    /* Size 0 with a large alignment: the object must still lie inside its span. */
    void *z = goheap_aligned_alloc(1 << 20, 0);
    KT_CHECK(z && (uintptr_t)z % (1 << 20) == 0 && goheap_usable_size(z) >= 1, "");
    goheap_free(z);
    /* Small sizes with page-plus alignment also go large. */
    void *q = goheap_aligned_alloc(16384, 8);
    KT_CHECK(q && (uintptr_t)q % 16384 == 0, "");
    goheap_free(q);
}

static void t_large_too_big(void) {
    KT_CHECK(goheap_malloc((size_t)1 << 50) == 0, "bigger than the arena");
    KT_CHECK(goheap_malloc(SIZE_MAX) == 0, "");
    KT_CHECK(goheap_malloc(SIZE_MAX - 8191) == 0, "page rounding must not overflow");
    KT_CHECK(goheap_aligned_alloc((size_t)1 << 62, 1) == 0, "");
    void *ok = goheap_malloc(1 << 20);
    KT_CHECK(ok != 0, "still works after failures");
    goheap_free(ok);
}

static void t_lcache_reuse(void) {
    goheap_flush();
    struct gh_lcache *lc = my_lcache();
    KT_CHECK(lc->pages == 0, "flush empties it");
    struct goheap_memstats b = core_stats();
    char *p = goheap_malloc(100000); /* 13 pages */
    memset(p, 0xee, 100000);
    goheap_free(p);
    KT_CHECK(lc->pages == 13 && lc->bin[13] && lc->bin[13]->base == (uintptr_t)p, "pages %lu",
             (unsigned long)lc->pages);
    struct goheap_memstats m = core_stats();
    KT_CHECK(m.heap_inuse == b.heap_inuse, "cached bytes are not in use");
    KT_CHECK(m.heap_idle - m.heap_released >= 13 * 8192, "cached bytes are idle and backed");
    KT_CHECK(goheap_validate() == 0, "validator with a cached span");
    /* the same page count comes back from the cache, zeroed for calloc */
    unsigned char *q = goheap_calloc(1, 99000);
    KT_CHECK(q == (unsigned char *)p && lc->pages == 0, "");
    int nonzero = 0;
    for (size_t i = 0; i < 99000; i++)
        nonzero |= q[i];
    KT_CHECK(!nonzero, "calloc from the cache reads zero");
    KT_CHECK(goheap_usable_size(q) == 13 * 8192, "");
    /* another page count misses */
    char *r = goheap_malloc(120000); /* 15 pages */
    KT_CHECK(r && r != (char *)q, "");
    goheap_free(r);
    goheap_free(q);
    /* aligned allocations of the same page count reuse it too, aligned */
    void *a = goheap_aligned_alloc(16384, 100000); /* 13 + 1 pages */
    KT_CHECK(a && (uintptr_t)a % 16384 == 0, "");
    goheap_free(a);
    void *a2 = goheap_aligned_alloc(16384, 100000);
    KT_CHECK(a2 && (uintptr_t)a2 % 16384 == 0 && goheap_usable_size(a2) >= 100000, "");
    goheap_free(a2);
}

static void t_lcache_bound(void) {
    goheap_flush();
    struct gh_lcache *lc = my_lcache();
    /* One page count: at most GH_LCACHE_BIN_SPANS spans, the rest go on. */
    enum { M = GH_LCACHE_BIN_SPANS + 2 };
    void *q[M];
    for (int i = 0; i < M; i++)
        q[i] = goheap_malloc(10 * 8192);
    for (int i = 0; i < M; i++)
        goheap_free(q[i]);
    unsigned inbin = 0;
    for (struct mspan *s = lc->bin[10]; s; s = s->next)
        inbin++;
    KT_CHECK(inbin == GH_LCACHE_BIN_SPANS && lc->nbin[10] == inbin && lc->pages == 10 * GH_LCACHE_BIN_SPANS,
             "bin of 10 pages holds %u spans (counted %u), %lu pages cached", inbin, (unsigned)lc->nbin[10],
             (unsigned long)lc->pages);
    goheap_flush();
    /* Several page counts, 4 x (32 + 31 + 30 + 29) = 488 pages, then 8-page spans
     * up to the byte bound (3: 512 pages) and beyond: at most GH_LCACHE_CPU_PAGES. */
    _Static_assert(GH_LCACHE_BIN_SPANS == 4 && GH_LCACHE_CPU_PAGES == 512 && GH_LCACHE_MAX_PAGES == 32,
                   "the page counts below fill the cache exactly");
    enum { N = 4 * 4 + 4 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = goheap_malloc((size_t)(i < 16 ? 32 - i / 4 : 8) * 8192);
    for (int i = 0; i < N; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == GH_LCACHE_CPU_PAGES, "at most %u pages per CPU, got %lu", GH_LCACHE_CPU_PAGES,
             (unsigned long)lc->pages);
    KT_CHECK(goheap_validate() == 0, "validator with a full cache");
    void *big = goheap_malloc(GH_LCACHE_MAX_BYTES + 1); /* 33 pages: never cached */
    goheap_flush();
    KT_CHECK(lc->pages == 0, "");
    goheap_free(big);
    KT_CHECK(lc->pages == 0, "a span above the bound goes to the page heap");
}

#define LC_PAGES (4 * 25 + 4 * 24)
static void t_lcache_drains(void) {
    struct gh_lcache *lc = my_lcache();
    void *p[8];
    /* 4 spans of 25 pages and 4 of 24 (GH_LCACHE_BIN_SPANS a page count) */
    for (int i = 0; i < 8; i++) {
        p[i] = goheap_malloc(200000 - (size_t)(i / 4) * 8192);
        memset(p[i], 1, 200000 - (size_t)(i / 4) * 8192);
    }
    for (int i = 0; i < 8; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == LC_PAGES, "%lu", (unsigned long)lc->pages);
    /* goheap_free_os_memory drains the cache and releases its frames */
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(lc->pages == 0, "");
    KT_CHECK(m.heap_idle == m.heap_released, "every idle byte released (idle %lu, released %lu)",
             (unsigned long)m.heap_idle, (unsigned long)m.heap_released);
    /* the memory limit's release drains it first too */
    for (int i = 0; i < 8; i++)
        p[i] = goheap_malloc(200000 - (size_t)(i / 4) * 8192);
    for (int i = 0; i < 8; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == LC_PAGES, "");
    struct goheap_memstats b = core_stats();
    int64_t old = goheap_set_memory_limit(1); /* below anything: release all it can */
    m = core_stats();
    KT_CHECK(lc->pages == 0, "the limit drained the cache");
    /* (the page caches are not drained by the limit: what stays backed is theirs) */
    KT_CHECK(m.heap_released - b.heap_released >= LC_PAGES * 8192, "and released it (released %lu -> %lu)",
             (unsigned long)b.heap_released, (unsigned long)m.heap_released);
    goheap_set_memory_limit(old);
}

/* goheap_flush with a cached span inside the CPU's page cache window (a 64 KiB
 * object comes from the window): its pages join the window's and go back to the page
 * heap with them; a cached span from elsewhere (20 pages, from the tree) goes back on
 * its own. Either way: free in the tree, counted idle as before, map entries dead (a
 * free of it is a free into a dead span), the validator clean, all of it releasable. */
static void fw_dead_free(void) {
    char *p = goheap_malloc(64 << 10);
    goheap_free(p);
    goheap_flush();
    core_expect_bad_free("free into a dead span", p);
    goheap_free(p);
}
static void t_lcache_flush_window(void) {
    goheap_flush();
    struct gh_lcache *lc = my_lcache();
    struct pagecache *pc = my_pcache();
    const uintptr_t win = (uintptr_t)PAGECACHE_PAGES << GOHEAP_PAGE_SHIFT;
    char *a = goheap_malloc(64 << 10);
    char *b = goheap_malloc(20 * 8192 - 100);
    KT_CHECK(pc->base && (uintptr_t)a - pc->base < win, "64 KiB from the window");
    KT_CHECK((uintptr_t)b - pc->base >= win, "20 pages from the tree, outside the window");
    uint64_t wcache = pc->cache;
    goheap_free(a);
    goheap_free(b);
    KT_CHECK(lc->pages == 28 && pc->cache == wcache, "both cached (%lu pages), the window unchanged",
             (unsigned long)lc->pages);
    struct goheap_memstats m0 = core_stats();
    goheap_flush();
    struct goheap_memstats m1 = core_stats();
    KT_CHECK(lc->pages == 0 && pc->cache == 0 && pc->base == 0, "flush empties both caches");
    KT_CHECK(m1.heap_inuse == m0.heap_inuse && m1.heap_idle == m0.heap_idle &&
                 m1.heap_released == m0.heap_released,
             "idle before and after (inuse %lu -> %lu, idle %lu -> %lu)", (unsigned long)m0.heap_inuse,
             (unsigned long)m1.heap_inuse, (unsigned long)m0.heap_idle, (unsigned long)m1.heap_idle);
    int inuse = 0;
    for (uintptr_t i = 0; i < 8; i++)
        inuse += gh_pagealloc_page_in_use(&gh_heap.pages, (uintptr_t)a + (i << GOHEAP_PAGE_SHIFT));
    for (uintptr_t i = 0; i < 20; i++)
        inuse += gh_pagealloc_page_in_use(&gh_heap.pages, (uintptr_t)b + (i << GOHEAP_PAGE_SHIFT));
    KT_CHECK(inuse == 0, "%d of the spans' pages still in use in the tree", inuse);
    KT_CHECK(gh_span_of((uintptr_t)a) == &gh_deadspan && gh_span_of((uintptr_t)b) == &gh_deadspan,
             "map entries dead");
    KT_CHECK(goheap_validate() == 0, "");
    KT_CHECK(core_dies_exact(fw_dead_free), "a free of the flushed span");
    goheap_free_os_memory();
    struct goheap_memstats m2 = core_stats();
    KT_CHECK(m2.heap_idle == m2.heap_released, "every idle byte releasable (idle %lu, released %lu)",
             (unsigned long)m2.heap_idle, (unsigned long)m2.heap_released);
}

/* A large object freed on another thread goes to that thread's cache. */
static void *lcache_other(void *arg) {
    void **p = arg;
    struct gh_lcache *lc = my_lcache();
    uintptr_t before = lc->pages;
    goheap_free(p[0]);
    int ok = lc->pages == before + 13;
    p[1] = goheap_malloc(100000); /* reused here */
    ok &= p[1] == p[0];
    goheap_free(p[1]);
    return (void *)(uintptr_t)ok;
}
static void t_lcache_threads(void) {
    goheap_flush();
    struct gh_lcache *lc = my_lcache();
    void *p[2] = {goheap_malloc(100000), 0};
    pthread_t t;
    void *ok;
    pthread_create(&t, 0, lcache_other, p);
    pthread_join(t, &ok);
    KT_CHECK(ok == (void *)1, "freed into and reused from the freeing thread's cache");
    KT_CHECK(lc->pages == 0, "not into the allocating thread's cache");
    void *q = goheap_malloc(100000);
    KT_CHECK(q != p[0], "the other cache's span is not visible here");
    goheap_free(q);
    goheap_free_os_memory(); /* drains every thread's cache */
    KT_CHECK(goheap_validate() == 0, "");
}

static void large_interior(void) {
    char *p = goheap_malloc(100000);
    goheap_free(p + 8192);
}
static void t_large_bad(void) {
    KT_CHECK(core_dies_with(large_interior, "goheap: fatal: invalid free of an interior pointer"), "");
}

/* ---- the span map's sparse scheme for large spans (mheap.h) ---- */

/* Entries of map pages [pg, pg + n) that are not gh_deadspan. */
static unsigned map_written(uintptr_t pg, uintptr_t n) {
    unsigned w = 0;
    for (uintptr_t i = 0; i < n; i++)
        w += gh_fast.spans[pg + i] != &gh_deadspan;
    return w;
}

/* Every page of a large span resolves to it, its usable size from any interior
 * pointer is what is left of the span, and it writes only the first page and the
 * stride pages. After it is freed no page of its range resolves to a span, and pages
 * reused by small spans and another large span (at a shifted base) resolve to those. */
static void t_spanmap_sparse(void) {
    size_t size = (3u << 20) + 5000; /* 385 pages: beyond the large span cache */
    uintptr_t npages = (size + 8191) / 8192;
    goheap_flush();
    char *p = goheap_malloc(size);
    struct mspan *s = gh_span_of((uintptr_t)p);
    KT_CHECK(p && s && s != &gh_deadspan && s->npages == npages, "");
    if (!p || !s || s == &gh_deadspan)
        return;
    uintptr_t pg = ((uintptr_t)p - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    unsigned want = 1, bad = 0;
    for (uintptr_t i = 1; i < npages; i++)
        want += (pg + i) % GH_SPANMAP_STRIDE == 0;
    KT_CHECK(map_written(pg, npages) == want, "%u entries written for %lu pages, want %u",
             map_written(pg, npages), (unsigned long)npages, want);
    for (uintptr_t i = 0; i < npages; i++) {
        char *a = p + i * 8192 + (i * 97) % 8192;
        bad += gh_span_of((uintptr_t)a) != s || goheap_usable_size(a) != (size_t)(s->limit - (uintptr_t)a);
    }
    KT_CHECK(bad == 0, "%u interior pointers did not resolve to their span", bad);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_free(p);
    goheap_flush(); /* out of the heap's large span cache, back to the page heap */
    bad = 0;
    for (uintptr_t i = 0; i < npages; i++)
        bad += gh_span_of((uintptr_t)p + i * 8192) != &gh_deadspan;
    KT_CHECK(bad == 0 && map_written(pg, npages) == 0, "%u pages of the freed span still resolve", bad);

    /* Reuse: small spans first (one 8 KiB class object per page at most), then a large
     * span whose base is not p's. Every pointer must resolve to the span holding it. */
    enum { NSMALL = 600 };
    static char *small[NSMALL];
    unsigned inside = 0;
    for (unsigned i = 0; i < NSMALL; i++) {
        small[i] = goheap_malloc(6000);
        inside += (uintptr_t)small[i] - (uintptr_t)p < size;
    }
    char *q = goheap_malloc(size / 2);
    struct mspan *qs = gh_span_of((uintptr_t)q);
    bad = 0;
    for (unsigned i = 0; i < NSMALL; i++) {
        struct mspan *ss = gh_span_of((uintptr_t)small[i] + 5999);
        bad += ss == &gh_deadspan || ss->spc < 2 || (uintptr_t)small[i] < ss->base ||
               (uintptr_t)small[i] >= ss->limit;
    }
    for (uintptr_t i = 0; i < qs->npages; i++)
        bad += gh_span_of((uintptr_t)q + i * 8192 + 4096) != qs;
    KT_CHECK(bad == 0, "%u pointers into reused pages did not resolve to their span", bad);
    KT_CHECK(inside > 0, "the small spans reused the freed range (%u inside)", inside);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_free(q);
    for (unsigned i = 0; i < NSMALL; i++)
        goheap_free(small[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* Exact messages for pointers into large spans at pages the map does and does not
 * write: a live span's interior (free, realloc), a freed span's pages, and a small
 * object's interior in pages a large span held before. */
static uintptr_t sm_page; /* the page offset tried (cases below) */
static void sm_free_interior(void) {
    char *p = goheap_malloc(3u << 20);
    core_expect_bad_free("invalid free of an interior pointer", p + sm_page * 8192 + 8);
    goheap_free(p + sm_page * 8192 + 8);
}
static void sm_realloc_interior(void) {
    char *p = goheap_malloc(3u << 20);
    core_expect_bad_free("realloc of an interior pointer", p + sm_page * 8192);
    goheap_realloc(p + sm_page * 8192, 100);
}
static void sm_free_freed(void) {
    char *keep = goheap_malloc(3u << 20); /* the range stays free after p's free */
    char *p = goheap_malloc(3u << 20);
    goheap_free(p);
    goheap_flush(); /* out of the heap's large span cache */
    core_expect_bad_free("free into a dead span", p + sm_page * 8192);
    goheap_free(p + sm_page * 8192);
    (void)keep;
}
static void sm_free_reused(void) {
    char *p = goheap_malloc(3u << 20);
    goheap_free(p);
    goheap_flush();
    for (int i = 0; i < 1000; i++) {
        char *o = goheap_malloc(6000);
        if ((uintptr_t)o - (uintptr_t)p >= (sm_page + 1) * 8192)
            continue;
        core_expect_bad_free("invalid free of an interior pointer", o + 16);
        goheap_free(o + 16);
    }
    _exit(4); /* never reused: the case fails */
}
static void t_spanmap_messages(void) {
    uintptr_t pages[] = {1, 17, GH_SPANMAP_STRIDE - 1, GH_SPANMAP_STRIDE, GH_SPANMAP_STRIDE + 1, 200, 383};
    for (unsigned i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        sm_page = pages[i];
        KT_CHECK(core_dies_exact(sm_free_interior), "free, page %lu", (unsigned long)sm_page);
        KT_CHECK(core_dies_exact(sm_realloc_interior), "realloc, page %lu", (unsigned long)sm_page);
        KT_CHECK(core_dies_exact(sm_free_freed), "freed, page %lu", (unsigned long)sm_page);
    }
    sm_page = 3;
    KT_CHECK(core_dies_exact(sm_free_reused), "small object in reused pages");
}

/* ---- the heap's large span cache (mheap.h, GH_HCACHE_*) ---------------------------- */
#define HC_BYTES(pages) ((size_t)(pages) << GOHEAP_PAGE_SHIFT)

/* A freed span above the per-CPU bound is kept whole and comes back for the same
 * page count, on any thread; cached bytes are idle and backed; calloc reads zero. */
static void *hc_other(void *arg) {
    return goheap_malloc((size_t)(uintptr_t)arg);
}
static void t_hcache_reuse(void) {
    goheap_flush();
    KT_CHECK(gh_heap.hcache_n == 0 && gh_heap.hcache_pages == 0, "flush empties it");
    struct goheap_memstats b = core_stats();
    char *p = goheap_malloc(1 << 20); /* 128 pages */
    memset(p, 0xee, 1 << 20);
    goheap_free(p);
    KT_CHECK(gh_heap.hcache_n == 1 && gh_heap.hcache_pages == 128 && gh_heap.hcache[0]->base == (uintptr_t)p,
             "n %u pages %lu", gh_heap.hcache_n, (unsigned long)gh_heap.hcache_pages);
    struct mspan *s = gh_span_of((uintptr_t)p);
    KT_CHECK(s && atomic_load(&s->state) == GH_SPAN_LCACHED, "cached in a state of its own");
    struct goheap_memstats m = core_stats();
    KT_CHECK(m.heap_inuse == b.heap_inuse, "cached bytes are not in use");
    KT_CHECK(m.heap_idle - m.heap_released >= HC_BYTES(128), "cached bytes are idle and backed");
    KT_CHECK(goheap_validate() == 0, "validator with a cached span");
    unsigned char *q = goheap_calloc(1, (1 << 20) - 100);
    KT_CHECK(q == (unsigned char *)p && gh_heap.hcache_n == 0 && gh_heap.hcache_pages == 0, "");
    int nonzero = 0;
    for (size_t i = 0; i < (1 << 20) - 100; i++)
        nonzero |= q[i];
    KT_CHECK(!nonzero, "calloc from the cache reads zero");
    KT_CHECK(core_stats().heap_inuse == b.heap_inuse + HC_BYTES(128), "in use again");
    char *r = goheap_malloc((1 << 20) + 8192); /* 129 pages: another count misses */
    KT_CHECK(r && r != (char *)q, "");
    goheap_free(r);
    goheap_free(q);
    /* the heap's cache is shared: another thread takes the span freed here */
    pthread_t t;
    void *got;
    pthread_create(&t, 0, hc_other, (void *)(uintptr_t)(1 << 20));
    pthread_join(t, &got);
    KT_CHECK(got == q, "another thread reuses it");
    goheap_free(got);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_flush();
}

/* At most GH_HCACHE_SPANS spans and GH_HCACHE_PAGES pages; the oldest go back to the
 * page heap; a span above the bound never enters. */
static void t_hcache_bound(void) {
    goheap_flush();
    enum { N = GH_HCACHE_SPANS + 3 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = goheap_malloc(HC_BYTES(40 + i)); /* distinct counts, all above the per-CPU bound */
    for (int i = 0; i < N; i++)
        goheap_free(p[i]);
    KT_CHECK(gh_heap.hcache_n == GH_HCACHE_SPANS, "%u spans", gh_heap.hcache_n);
    KT_CHECK(gh_heap.hcache[0]->base == (uintptr_t)p[3] && gh_heap.hcache[GH_HCACHE_SPANS - 1]->base == (uintptr_t)p[N - 1],
             "the oldest were evicted");
    KT_CHECK(gh_span_of((uintptr_t)p[0]) == &gh_deadspan, "an evicted span is dead, its pages in the page heap");
    KT_CHECK(goheap_validate() == 0, "");
    goheap_flush();
    void *a = goheap_malloc(HC_BYTES(GH_HCACHE_PAGES / 2 + 1)), *b2 = goheap_malloc(HC_BYTES(GH_HCACHE_PAGES / 2 + 1));
    goheap_free(a);
    goheap_free(b2);
    KT_CHECK(gh_heap.hcache_n == 1 && gh_heap.hcache[0]->base == (uintptr_t)b2 &&
                 gh_heap.hcache_pages <= GH_HCACHE_PAGES,
             "the page bound: %u spans, %lu pages", gh_heap.hcache_n, (unsigned long)gh_heap.hcache_pages);
    void *big = goheap_malloc(HC_BYTES(GH_HCACHE_PAGES + 1)); /* (may drain b2 to grow) */
    unsigned before = gh_heap.hcache_n;
    goheap_free(big);
    KT_CHECK(gh_heap.hcache_n == before && gh_span_of((uintptr_t)big) == &gh_deadspan, "above the bound: never cached");
    goheap_flush();
}

/* Drained by goheap_free_os_memory (frames released), the memory limit, and before the
 * heap grows (a request that needs the cached pages gets them, no growth). */
static void t_hcache_drains(void) {
    goheap_flush();
    void *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = goheap_malloc(HC_BYTES(100 + i));
        memset(p[i], 1, HC_BYTES(100 + i));
    }
    for (int i = 0; i < 4; i++)
        goheap_free(p[i]);
    KT_CHECK(gh_heap.hcache_pages == 406, "%lu", (unsigned long)gh_heap.hcache_pages);
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(gh_heap.hcache_n == 0, "free_os_memory drained it");
    KT_CHECK(m.heap_idle == m.heap_released, "every idle byte released (idle %lu, released %lu)",
             (unsigned long)m.heap_idle, (unsigned long)m.heap_released);
    /* the memory limit's release */
    for (int i = 0; i < 4; i++)
        p[i] = goheap_malloc(HC_BYTES(100 + i));
    for (int i = 0; i < 4; i++)
        goheap_free(p[i]);
    KT_CHECK(gh_heap.hcache_pages == 406, "");
    struct goheap_memstats b = core_stats();
    int64_t old = goheap_set_memory_limit(1);
    m = core_stats();
    KT_CHECK(gh_heap.hcache_n == 0, "the limit drained it");
    KT_CHECK(m.heap_released - b.heap_released >= HC_BYTES(406), "and released it (released %lu -> %lu)",
             (unsigned long)b.heap_released, (unsigned long)m.heap_released);
    goheap_set_memory_limit(old);
    /* before growth: fill the heap's free pages, cache spans, then ask for their sum
     * (the free pages a large span may take: not the arena's first page-cache window,
     * left to small spans while a large one fits elsewhere, PALLOC_SMALL_FIRST_PAGES) */
    goheap_free_os_memory();
    struct goheap_memstats g0 = core_stats();
    uint64_t freepages = (g0.heap_idle >> GOHEAP_PAGE_SHIFT) -
                         (uint64_t)__builtin_popcountll(~gh_heap.pages.chunks[0].alloc[0]);
    void *filler = freepages > 2 * 200 ? goheap_malloc(HC_BYTES(freepages - 2 * 200)) : 0;
    void *x = goheap_malloc(HC_BYTES(200)), *y = goheap_malloc(HC_BYTES(200));
    struct goheap_memstats g1 = core_stats();
    goheap_free(x);
    goheap_free(y);
    KT_CHECK(gh_heap.hcache_n == 2, "%u", gh_heap.hcache_n);
    void *z = goheap_malloc(HC_BYTES(300)); /* fits only across x and y, if adjacent */
    struct goheap_memstats g2 = core_stats();
    int adjacent = (char *)y == (char *)x + HC_BYTES(200) || (char *)x == (char *)y + HC_BYTES(200);
    KT_CHECK(!adjacent || (gh_heap.hcache_n == 0 && g2.heap_sys == g1.heap_sys),
             "cached spans drained before growing (sys %lu -> %lu, %u cached)", (unsigned long)g1.heap_sys,
             (unsigned long)g2.heap_sys, gh_heap.hcache_n);
    printf("    # x, y adjacent: %d; heap grew by %lu KiB\n", adjacent,
           (unsigned long)((g2.heap_sys - g1.heap_sys) >> 10));
    goheap_free(z);
    goheap_free(filler);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_flush();
}

/* A double free of a span while it is cached: the exact message. */
static void hc_double(void) {
    char *keep = goheap_malloc(1 << 20);
    char *p = goheap_malloc(1 << 20);
    goheap_free(p);
    struct mspan *s = gh_span_of((uintptr_t)p);
    if (!s || atomic_load(&s->state) != GH_SPAN_LCACHED)
        _exit(5); /* not cached: the case fails */
    core_expect_bad_free("double free", p);
    goheap_free(p);
    (void)keep;
}
static void t_hcache_double_free(void) {
    KT_CHECK(core_dies_exact(hc_double), "second free of a cached span");
}

/* A large malloc maps its released or fresh pages unpinned, with no lock held
 * (gh_heap_map_span); out of memory there (RLIMIT_DATA refuses the map), the run goes
 * back to the heap: NULL, the heap whole (validate, HeapInuse as before, nothing left
 * in use), and with the limit lifted the same request succeeds and reads zero. */
static void big_nomem(void) {
    const size_t big = 64u << 20;
    struct goheap_memstats a, b;
    goheap_free_os_memory(); /* every free page released: the run must be mapped */
    goheap_read_memstats(&a);
    long data = vm_data_bytes();
    struct rlimit old, lim;
    if (data < 0 || getrlimit(RLIMIT_DATA, &old) != 0)
        _exit(51);
    lim = old;
    lim.rlim_cur = (rlim_t)data + (8u << 20); /* metadata and a sanitizer's runtime fit, the run not */
    if (setrlimit(RLIMIT_DATA, &lim) != 0)
        _exit(52);
    void *p = goheap_malloc(big);
    setrlimit(RLIMIT_DATA, &old);
    if (p)
        _exit(53);
    goheap_read_memstats(&b);
    if (b.heap_inuse != a.heap_inuse || goheap_validate() != 0) {
        fprintf(stderr, "HeapInuse %lu -> %lu\n", (unsigned long)a.heap_inuse, (unsigned long)b.heap_inuse);
        _exit(54);
    }
    unsigned char *q = goheap_malloc(big);
    if (!q)
        _exit(55);
    for (size_t k = 0; k < big; k += 4096)
        if (q[k]) {
            fprintf(stderr, "byte %zu reads 0x%x\n", k, q[k]);
            _exit(56);
        }
    goheap_free(q);
    if (goheap_validate() != 0)
        _exit(57);
}
static void t_large_map_nomem(void) {
    char buf[4096];
    int st = core_child(big_nomem, buf, sizeof buf);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
}

/* Unpinned maps under concurrent load: threads allocate (malloc and calloc) objects of
 * 16-615 pages, grow them with realloc (in place where the pages after them are free,
 * moved otherwise), and free them, with small objects (page-cache refills) between
 * them, while another thread releases every free page
 * (goheap_free_os_memory), sets and lifts an 8 MiB memory limit, flushes, runs
 * background steps and reads MemStats. So most runs are taken with pages to map and
 * mapped with no lock held while neighbouring runs are freed, coalesced, taken,
 * scavenged and released. Every calloc reads zero, every realloc keeps the bytes,
 * nothing fails; afterwards the recount is clean (no page left being mapped, none in
 * the maps in flight), HeapAlloc is back, and every idle byte can be released. The
 * map hook counts the maps of 16 pages or more (only unpinned ones are that large),
 * so that the case knows it ran the path. */
#define STORM_PG ((size_t)GOHEAP_PAGE_SIZE)
#define STORM_RING 6
#define STORM_STEP ((size_t)64 << 10) /* bytes sampled: 1 every 64 KiB, and the last */
static atomic_int storm_stop;
static atomic_uint storm_bad, storm_bigmaps;
static void storm_count_map(void *addr, size_t bytes) {
    (void)addr;
    if (bytes >= (size_t)GH_MAP_UNPINNED_PAGES * GOHEAP_PAGE_SIZE)
        atomic_fetch_add_explicit(&storm_bigmaps, 1, memory_order_relaxed);
}
static void storm_mark(unsigned char *p, size_t n, unsigned char v) {
    for (size_t k = 0; k < n; k += STORM_STEP)
        p[k] = v;
    p[n - 1] = v;
}
/* The first byte storm_mark(p, n, v) marked below keep (<= n) that is not v (keep: all are). */
static size_t storm_check(const unsigned char *p, size_t keep, size_t n, unsigned char v) {
    for (size_t k = 0; k < keep; k += STORM_STEP)
        if (p[k] != v)
            return k;
    return keep == n && p[n - 1] != v ? n - 1 : keep;
}
static void storm_fail(const char *what, const void *p, size_t a, size_t b) {
    if (atomic_fetch_add(&storm_bad, 1) < 8)
        fprintf(stderr, "map storm: %s %p (%zu, %zu)\n", what, p, a, b);
}
static void *storm_mapper(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    struct { unsigned char *p; size_t n; unsigned char v; } ring[STORM_RING];
    void *small[STORM_RING] = {0};
    memset(ring, 0, sizeof ring);
    while (!atomic_load_explicit(&storm_stop, memory_order_relaxed)) {
        if (xorshift64s(&rng) % 2) { /* small spans beside the runs: page-cache refills */
            unsigned j = (unsigned)(xorshift64s(&rng) % STORM_RING);
            goheap_free(small[j]);
            small[j] = goheap_malloc(1 + xorshift64s(&rng) % 32768);
        }
        unsigned i = (unsigned)(xorshift64s(&rng) % STORM_RING), r = (unsigned)(xorshift64s(&rng) % 10);
        if (ring[i].p && r < 3) { /* grow by a third to all of it */
            size_t m = ring[i].n + ring[i].n / (1 + xorshift64s(&rng) % 3) + xorshift64s(&rng) % (64 * STORM_PG);
            if (m > ((size_t)16 << 20))
                m = 16 * STORM_PG + xorshift64s(&rng) % (64 * STORM_PG);
            unsigned char *q = goheap_realloc(ring[i].p, m);
            if (!q) {
                storm_fail("realloc NULL", ring[i].p, ring[i].n, m);
                continue;
            }
            size_t keep = m < ring[i].n ? m : ring[i].n, at = storm_check(q, keep, ring[i].n, ring[i].v);
            if (at != keep)
                storm_fail("realloc lost a byte", q, at, m);
            ring[i].p = q, ring[i].n = m;
        } else if (ring[i].p) {
            size_t at = storm_check(ring[i].p, ring[i].n, ring[i].n, ring[i].v);
            if (at != ring[i].n)
                storm_fail("byte changed", ring[i].p, at, ring[i].n);
            goheap_free(ring[i].p);
            ring[i].p = 0;
            continue;
        } else {
            size_t n = (16 + xorshift64s(&rng) % (xorshift64s(&rng) % 4 ? 100 : 600)) * STORM_PG - xorshift64s(&rng) % STORM_PG;
            int zero = xorshift64s(&rng) % 2;
            unsigned char *p = zero ? goheap_calloc(1, n) : goheap_malloc(n);
            if (!p) {
                storm_fail("alloc NULL", 0, n, 0);
                continue;
            }
            for (size_t k = 0; zero && k < n; k += 4096)
                if (p[k] || p[n - 1]) {
                    storm_fail("calloc not zero", p, k, n);
                    break;
                }
            ring[i].p = p, ring[i].n = n;
        }
        ring[i].v = (unsigned char)(1 + xorshift64s(&rng) % 255);
        storm_mark(ring[i].p, ring[i].n, ring[i].v);
    }
    for (unsigned i = 0; i < STORM_RING; i++) {
        goheap_free(ring[i].p);
        goheap_free(small[i]);
    }
    return 0;
}
static void *storm_releaser(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    while (!atomic_load_explicit(&storm_stop, memory_order_relaxed)) {
        struct goheap_memstats m;
        switch (xorshift64s(&rng) % 6) {
        case 0:
        case 1:
            goheap_free_os_memory();
            break;
        case 2:
            goheap_set_memory_limit(xorshift64s(&rng) % 2 ? (int64_t)8 << 20 : INT64_MAX);
            break;
        case 3:
            goheap_flush();
            break;
        case 4:
            goheap_read_memstats(&m);
            if (m.heap_released > m.heap_idle || m.heap_idle + m.heap_inuse != m.heap_sys)
                storm_fail("MemStats: released, idle", 0, (size_t)m.heap_released, (size_t)m.heap_idle);
            break;
        default:
            goheap_background_work();
        }
        struct timespec ts = {0, (long)(xorshift64s(&rng) % 300000)};
        nanosleep(&ts, 0);
    }
    return 0;
}
static void map_storm(void) {
    struct goheap_memstats a, b;
    goheap_free_os_memory();
    goheap_read_memstats(&a);
    __atomic_store_n(&goheap_hosted_map_test_hook, storm_count_map, __ATOMIC_RELEASE);
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], 0, i ? storm_mapper : storm_releaser, (void *)(i * 7919 + 17)) != 0)
            _exit(2);
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, 0);
    atomic_store(&storm_stop, 1);
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], 0);
    __atomic_store_n(&goheap_hosted_map_test_hook, (void (*)(void *, size_t))0, __ATOMIC_RELEASE);
    goheap_set_memory_limit(INT64_MAX);
    if (atomic_load(&storm_bad))
        _exit(1);
    if (goheap_validate() != 0 || gh_heap.mapping)
        _exit(3);
    goheap_free_os_memory();
    goheap_read_memstats(&b);
    fprintf(stderr, "# %u maps of 16 pages or more; HeapAlloc %lu -> %lu\n", atomic_load(&storm_bigmaps),
           (unsigned long)a.heap_alloc, (unsigned long)b.heap_alloc);
    if (b.heap_alloc != a.heap_alloc || b.heap_released != b.heap_idle || goheap_validate() != 0)
        _exit(4);
    if (atomic_load(&storm_bigmaps) < 20)
        _exit(5); /* the path was not run */
}
static void t_map_storm(void) {
    char out[4096];
    int st = core_child_fd(map_storm, 2, out, sizeof out);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "unpinned maps under releases: status 0x%x (1: a check failed; 3, 4: recount, counters; 5: too few "
             "unpinned maps), %s", st, out);
}

/* A small span that comes late, on a CPU with no page cache, in a heap of large spans
 * (the hosted background thread's glibc thread vector, allocated by the program thread
 * that starts it: bench/RESULTS.md, "The background thread's own small span"). The
 * large spans leave the arena's first page-cache window to small spans
 * (PALLOC_SMALL_FIRST_PAGES), so the late one lands there, beside the first small
 * span, and not at the lowest free page past the large spans, where it would split
 * their free run once they are freed. Run on a fresh heap (this binary again, with
 * CORE_LARGE_FRESH set): in this process earlier cases have filled that window. */
#define FRESH_WINDOW (PALLOC_SMALL_FIRST_PAGES * (uintptr_t)GOHEAP_PAGE_SIZE)
static void *late_small(void *arg) {
    *(void **)arg = goheap_malloc(300); /* a class of its own: a new span */
    return 0;
}
static int fresh_small_first(void) {
    void *first = goheap_malloc(64), *large[4], *late = 0;
    goheap_flush(); /* its page cache back to the tree, as after a growth */
    for (int i = 0; i < 4; i++)
        large[i] = goheap_malloc(1 << 20);
    core_on_thread(late_small, &late);
    uintptr_t base = gh_fast.base;
    printf("# first small %#lx, large %#lx, late small %#lx (arena offsets)\n",
           (unsigned long)((uintptr_t)first - base), (unsigned long)((uintptr_t)large[0] - base),
           (unsigned long)((uintptr_t)late - base));
    int ok = first && late && (uintptr_t)first - base < FRESH_WINDOW &&
             (uintptr_t)large[0] - base >= FRESH_WINDOW && (uintptr_t)late - base < FRESH_WINDOW;
    return ok ? 0 : 1;
}
/* realloc's zero-copy move (>= 1 MiB: gh_heap_alloc_span_unmapped) keeps the rule:
 * its new run too is placed past the first window while one fits there. The window
 * holds one small span; a 4 MiB span past it is freed (and drained from the heap's
 * cache), so the lowest fit of the moved 2 MiB buffer starts inside the window. */
static int fresh_small_first_remap(void) {
    void *first = goheap_malloc(64);
    goheap_flush();
    void *a = goheap_malloc(4u << 20);
    unsigned char *p = goheap_malloc(1u << 20);
    void *blocker = goheap_malloc(128u << 10); /* the pages after p: no growth in place */
    if (!first || !a || !p || !blocker)
        return 2;
    memset(p, 0x5a, 1u << 20);
    goheap_free(a);
    goheap_flush(); /* a's pages back to the tree: free from the window's end on */
    uint64_t remaps0 = metric("/goheap/realloc/remaps:calls");
    unsigned char *q = goheap_realloc(p, 2u << 20);
    uintptr_t base = gh_fast.base;
    printf("# first small %#lx, moved 2 MiB buffer %#lx (arena offsets), remaps +%lu\n",
           (unsigned long)((uintptr_t)first - base), (unsigned long)((uintptr_t)q - base),
           (unsigned long)(metric("/goheap/realloc/remaps:calls") - remaps0));
    if (!q || q == p || metric("/goheap/realloc/remaps:calls") != remaps0 + 1)
        return 3; /* setup: not a zero-copy move */
    for (size_t k = 0; k < (1u << 20); k++)
        if (q[k] != 0x5a)
            return 4;
    return (uintptr_t)q - base >= FRESH_WINDOW ? 0 : 1;
}
/* Several threads without a cache of their own (cap_metadata) at once: they all count
 * in gh_emptycache, so its counters have as many writers, and MemStats must still
 * count every one of their frees and large mallocs. In each of NCC_ROUNDS rounds the
 * main thread allocates NCC_OBJS small objects per thread, which the threads free
 * (remote frees: gh_emptycache's nfree); they also make large malloc+free pairs (its
 * large_* counters, from the heap's large span cache in a heap-lock hold and from the
 * page heap outside any hold). Plain adds there lost counts: Frees short of the frees
 * made (by 1-7 in 3.2 million here, in 6 of 8 runs), and the validator's class recount
 * failing. */
#define NCC_THREADS 4
#define NCC_ROUNDS 8
#define NCC_OBJS 100000
#define NCC_LARGE_EVERY 128
static void *ncc_objs[NCC_THREADS][NCC_OBJS];
static pthread_barrier_t ncc_round;
static _Atomic unsigned ncc_large_pairs, ncc_with_cache;
static void *nocache_counts(void *arg) {
    void **objs = arg;
    unsigned pairs = 0;
    nocache_thread_runs();
    for (unsigned r = 0; r < NCC_ROUNDS; r++) {
        pthread_barrier_wait(&ncc_round); /* the main thread's objects are there */
        for (unsigned i = 0; i < NCC_OBJS; i++) {
            if (i % 4 == 1) {
                goheap_free(objs[i]);
            } else {
                /* free_small_route's free once cache_for found no cache, without its
                 * attempt to create one (a meta-lock hold and a failed reservation
                 * per free, which keep the frees above mostly apart): every thread's
                 * count at once */
                uintptr_t a = (uintptr_t)objs[i];
                struct mspan *s = gh_span_of(a);
                goheap_pin_t pin;
                unsigned cpu = goheap_sys_pin(&pin);
                gh_free_small(&gh_emptycache, cpu, s, (unsigned)gh_span_objindex(s, a - s->base), a);
                goheap_sys_unpin(pin);
            }
            if (i % NCC_LARGE_EVERY == 0) {
                /* 64 KiB from the heap's cache, 1 MiB + 8 KiB beside it from the page heap */
                void *p = goheap_malloc(i % 2 ? 64u << 10 : (1u << 20) + (8u << 10));
                if (p)
                    pairs++;
                goheap_free(p);
            }
        }
        pthread_barrier_wait(&ncc_round); /* all freed */
    }
    atomic_fetch_add(&ncc_large_pairs, pairs);
    unsigned k = goheap_hosted_slot; /* (an exclusive slot: ours until we exit) */
    if (k >= gh_ncpu || gh_fast.caches[k] != &gh_emptycache)
        atomic_fetch_add(&ncc_with_cache, 1);
    return 0;
}
static int fresh_nocache_counts(void) {
    /* the heap grown for the large pairs and one round's objects before the cap
     * (released pages are mapped again with mprotect, which the cap allows) */
    void *r = goheap_malloc(32u << 20);
    goheap_free(r);
    pthread_barrier_init(&ncc_round, 0, NCC_THREADS + 1);
    pthread_t th[NCC_THREADS];
    for (unsigned t = 0; t < NCC_THREADS; t++)
        if (pthread_create(&th[t], 0, nocache_counts, ncc_objs[t]) != 0)
            return 3;
    for (unsigned t = 0; t < NCC_THREADS; t++)
        for (unsigned i = 0; i < NCC_OBJS; i++)
            if (!(ncc_objs[t][i] = goheap_malloc(48)))
                return 2;
    struct goheap_memstats b, m;
    goheap_read_memstats(&b);
    struct rlimit old;
    int cap = cap_metadata(&old, NCC_THREADS);
    if (cap)
        return cap;
    int nomem = 0;
    for (unsigned r = 0; r < NCC_ROUNDS; r++) {
        /* (the first round's before the cap; later ones reuse their spans) */
        for (unsigned t = 0; r && t < NCC_THREADS; t++)
            for (unsigned i = 0; i < NCC_OBJS; i++)
                if (!nomem && !(ncc_objs[t][i] = goheap_malloc(48)))
                    nomem = 1;
        if (nomem)
            break; /* (the threads wait at the barrier for good: exit from here) */
        goheap_flush(); /* every span of them another CPU's to free into */
        pthread_barrier_wait(&ncc_round);
        pthread_barrier_wait(&ncc_round);
    }
    setrlimit(RLIMIT_AS, &old);
    if (nomem) {
        printf("# a malloc failed under the cap\n");
        return 6;
    }
    for (unsigned t = 0; t < NCC_THREADS; t++)
        pthread_join(th[t], 0);
    goheap_read_memstats(&m);
    unsigned pairs = atomic_load(&ncc_large_pairs), nobjs = NCC_ROUNDS * NCC_THREADS * NCC_OBJS;
    unsigned nmallocs = nobjs - NCC_THREADS * NCC_OBJS + pairs; /* (the first round's before b) */
    printf("# %u threads without a cache: %u frees of small objects, %u large pairs; Mallocs +%lu, Frees +%lu "
           "(want +%u, +%u)\n",
           NCC_THREADS, nobjs, pairs, (unsigned long)(m.mallocs - b.mallocs), (unsigned long)(m.frees - b.frees),
           nmallocs, nobjs + pairs);
    fflush(stdout);
    if (atomic_load(&ncc_with_cache) || pairs < NCC_ROUNDS * NCC_OBJS / NCC_LARGE_EVERY)
        return 6; /* setup: a thread had a cache, or most large mallocs failed */
    if (m.frees - b.frees != nobjs + pairs || m.mallocs - b.mallocs != nmallocs)
        return 1;
    return goheap_validate() == 0 ? 0 : 8;
}
static void exec_fresh_nocache_counts(void) {
    /* no other thread takes metadata meanwhile; no sampled objects (whose records and
     * markers gh_free_small's callers take off first) */
    setenv("GOHEAPDEBUG", "bgthread=0,memprofilerate=0", 1);
    exec_fresh_mode("nocachecounts");
}
static void t_nocache_counts(void) {
    nocache_case(exec_fresh_nocache_counts, "threads without a cache counting at once (1: Mallocs or Frees "
                                            "lost; 8: validate; 2-6: setup)");
}
static void exec_fresh(void) { exec_fresh_mode("1"); }
static void exec_fresh_remap(void) { exec_fresh_mode("remap"); }
static void t_small_first_window(void) {
    char out[1024];
    int st = core_child_fd(exec_fresh, 1, out, sizeof out);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "late small span in the first window, large spans past it: status 0x%x, %s", st, out);
    st = core_child_fd(exec_fresh_remap, 1, out, sizeof out);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "realloc's zero-copy move past the first window: status 0x%x (1: inside it; 2-4: setup), %s", st,
             out);
}

static const struct kt_case cases[] = {
    KT_CASE(t_small_first_window),
    KT_CASE(t_large_sizes),
    KT_CASE(t_large_zero),
    KT_CASE(t_large_aligned),
    KT_CASE(t_large_too_big),
    KT_CASE(t_large_map_nomem),
    KT_CASE(t_map_storm),
    KT_CASE(t_large_bad),
    KT_CASE(t_lcache_reuse),
    KT_CASE(t_lcache_bound),
    KT_CASE(t_lcache_drains),
    KT_CASE(t_lcache_threads),
    KT_CASE(t_lcache_flush_window),
    KT_CASE(t_hcache_reuse),
    KT_CASE(t_hcache_bound),
    KT_CASE(t_hcache_drains),
    KT_CASE(t_hcache_double_free),
    KT_CASE(t_spanmap_sparse),
    KT_CASE(t_spanmap_messages),
    KT_CASE(t_nocache_counts),
};

int main(void) {
    if (getenv("CORE_LARGE_FRESH"))
        return !strcmp(getenv("CORE_LARGE_FRESH"), "remap")           ? fresh_small_first_remap()
               : !strcmp(getenv("CORE_LARGE_FRESH"), "nocachecounts") ? fresh_nocache_counts()
                                                                      : fresh_small_first();
    /* No background thread (its fresh processes above have theirs): the parent has
     * one from the first large frees on, and a death test's child would start its
     * own at a background poll, which ThreadSanitizer refuses (docs/testing.md, "Fork
     * children and the background thread"). */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-large", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
