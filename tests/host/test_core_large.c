/* tests/host/test_core_large.c: large objects (> 32 KiB): page-rounded spans from
 * mheap, alignment inside them, usable size, zeroing, pages back to the page heap on
 * free, and requests larger than the arena failing cleanly; the per-CPU large span
 * cache (reuse, bound, zeroing, drains by flush / free_os_memory / the memory limit,
 * frees on another thread going to that thread's cache). */
#include <pthread.h>

#include "test_core_common.h"

/* This thread's (slot's) large span cache. */
static struct gh_lcache *my_lcache(void) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    goheap_sys_unpin(pin);
    return &c->lcache;
}

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

static void t_large_realloc(void) {
    char *p = goheap_malloc(100000);
    memset(p, 3, 100000);
    char *q = goheap_realloc(p, 90000);
    KT_CHECK(q == p, "shrink by < half stays in place");
    q = goheap_realloc(q, 300000);
    KT_CHECK(q[0] == 3 && q[89999] == 3, "contents kept");
    char *r = goheap_realloc(q, 100);
    KT_CHECK(r != q && r[99] == 3, "shrinks to a small class");
    goheap_free(r);
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
    enum { N = GH_LCACHE_CPU_PAGES / GH_LCACHE_MAX_PAGES + 4 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = goheap_malloc(GH_LCACHE_MAX_BYTES); /* 256 KiB: the largest cached */
    for (int i = 0; i < N; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == GH_LCACHE_CPU_PAGES, "at most %u pages per CPU, got %lu", GH_LCACHE_CPU_PAGES,
             (unsigned long)lc->pages);
    void *big = goheap_malloc(GH_LCACHE_MAX_BYTES + 1); /* 33 pages: never cached */
    goheap_flush();
    KT_CHECK(lc->pages == 0, "");
    goheap_free(big);
    KT_CHECK(lc->pages == 0, "a span above the bound goes to the page heap");
}

static void t_lcache_drains(void) {
    struct gh_lcache *lc = my_lcache();
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = goheap_malloc(200000);
        memset(p[i], 1, 200000);
    }
    for (int i = 0; i < 8; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == 8 * 25, "%lu", (unsigned long)lc->pages);
    /* goheap_free_os_memory drains the cache and releases its frames */
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(lc->pages == 0, "");
    KT_CHECK(m.heap_idle == m.heap_released, "every idle byte released (idle %lu, released %lu)",
             (unsigned long)m.heap_idle, (unsigned long)m.heap_released);
    /* the memory limit's release drains it first too */
    for (int i = 0; i < 8; i++)
        p[i] = goheap_malloc(200000);
    for (int i = 0; i < 8; i++)
        goheap_free(p[i]);
    KT_CHECK(lc->pages == 8 * 25, "");
    struct goheap_memstats b = core_stats();
    int64_t old = goheap_set_memory_limit(1); /* below anything: release all it can */
    m = core_stats();
    KT_CHECK(lc->pages == 0, "the limit drained the cache");
    /* (the page caches are not drained by the limit: what stays backed is theirs) */
    KT_CHECK(m.heap_released - b.heap_released >= 8 * 25 * 8192, "and released it (released %lu -> %lu)",
             (unsigned long)b.heap_released, (unsigned long)m.heap_released);
    goheap_set_memory_limit(old);
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

/* realloc's policy: in place when it fits (small: unless over half would be wasted),
 * large grown into free pages and shrunk with the tail back, and on a move a growth
 * margin bounded by max(class(n), 1.25 n) small and n's pages + 1/8 large. */
static size_t class_size_of(size_t n) {
    return goheap_class_to_size[gh_size_to_spc(n, GH_TAB_SCAN) >> 1];
}
static void t_realloc_policy(void) {
    /* 16 B -> 256 KiB in 16-byte steps: contents kept, the bound, few copies */
    unsigned char *p = goheap_malloc(16);
    memset(p, 0x5a, 16);
    unsigned moves = 0, bad = 0;
    size_t filled = 16;
    for (size_t n = 32; n <= (256u << 10); n += 16) {
        unsigned char *q = goheap_realloc(p, n);
        KT_CHECK(q != 0, "");
        moves += q != p;
        size_t u = goheap_usable_size(q);
        size_t pages = (n + 8191) / 8192;
        size_t bound = n <= 32768 ? (class_size_of(n) > n + n / 4 ? class_size_of(n) : n + n / 4)
                                  : (pages + pages / 8) * 8192;
        if ((u < n || u > bound) && bad++ < 4)
            KT_CHECK(0, "realloc to %zu: usable %zu, bound %zu", n, u, bound);
        if (q[filled - 1] != 0x5a && bad++ < 4)
            KT_CHECK(0, "contents lost at %zu", n);
        memset(q + filled, 0x5a, n - filled);
        filled = n;
        p = q;
    }
    /* without the margin every one of the 66 classes above 16 B and every page step
     * of the large range would copy; with it the copies grow logarithmically */
    KT_CHECK(moves < 60, "%u moves", moves);
    printf("    # 16 B -> 256 KiB in 16 B steps: %u moves\n", moves);
    goheap_free(p);

    /* small: in place while at most half is wasted */
    char *s = goheap_malloc(100); /* class 112 */
    KT_CHECK(goheap_realloc(s, 112) == s && goheap_realloc(s, 60) == s, "in place");
    char *s2 = goheap_realloc(s, 50);
    KT_CHECK(s2 != s && goheap_usable_size(s2) < 112, "moves down when over half is wasted");
    goheap_free(s2);

    /* large shrink in place: the tail goes back to the heap */
    goheap_flush();
    char *l = goheap_malloc(1 << 20);
    memset(l, 7, 300000);
    struct goheap_memstats b = core_stats();
    char *l2 = goheap_realloc(l, 300000); /* 37 of 128 pages kept */
    struct goheap_memstats m = core_stats();
    KT_CHECK(l2 == l && goheap_usable_size(l2) == 37 * 8192, "usable %zu", goheap_usable_size(l2));
    KT_CHECK(b.heap_inuse - m.heap_inuse == (128 - 37) * 8192, "tail back: %lu",
             (unsigned long)(b.heap_inuse - m.heap_inuse));
    KT_CHECK(l2[299999] == 7 && goheap_validate() == 0, "");
    /* large grow in place: the pages just given back are free again */
    char *l3 = goheap_realloc(l2, 900000);
    KT_CHECK(l3 == l2 && goheap_usable_size(l3) >= 900000 && l3[299999] == 7, "grown in place");
    memset(l3, 8, 900000);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_free(l3);
}

static void large_interior(void) {
    char *p = goheap_malloc(100000);
    goheap_free(p + 8192);
}
static void t_large_bad(void) {
    KT_CHECK(core_dies_with(large_interior, "goheap: fatal: invalid free of an interior pointer"), "");
}

static const struct kt_case cases[] = {
    KT_CASE(t_large_sizes),
    KT_CASE(t_large_zero),
    KT_CASE(t_large_aligned),
    KT_CASE(t_large_too_big),
    KT_CASE(t_large_realloc),
    KT_CASE(t_large_bad),
    KT_CASE(t_lcache_reuse),
    KT_CASE(t_lcache_bound),
    KT_CASE(t_lcache_drains),
    KT_CASE(t_lcache_threads),
    KT_CASE(t_realloc_policy),
};

int main(void) {
    kt_begin("core-large", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
