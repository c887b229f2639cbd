/* tests/host/test_core_large.c: large objects (> 32 KiB): page-rounded spans from
 * mheap, alignment inside them, usable size, zeroing, pages back to the page heap on
 * free, and requests larger than the arena failing cleanly. */
#include "test_core_common.h"

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

static void large_interior(void) {
    char *p = goheap_malloc(100000);
    goheap_free(p + 8192);
}
static void t_large_bad(void) {
    KT_CHECK(core_dies_with(large_interior, "goheap: fatal: invalid free of an interior pointer"), "");
}

int main(void) {
    kt_begin("core-large", 6);
    CORE_RUN(t_large_sizes);
    CORE_RUN(t_large_zero);
    CORE_RUN(t_large_aligned);
    CORE_RUN(t_large_too_big);
    CORE_RUN(t_large_realloc);
    CORE_RUN(t_large_bad);
    return kt_end();
}
