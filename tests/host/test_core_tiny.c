/* tests/host/test_core_tiny.c: the tiny allocator (GOHEAP_NOSCAN, < 16 B): Go's
 * placement and alignment rules, packing, and freeing through the per-block live
 * count, locally and from another thread, with nothing leaked. */
#include <pthread.h>

#include "test_core_common.h"

static void t_tiny_alignment(void) {
    for (size_t sz = 1; sz < 16; sz++) {
        for (int i = 0; i < 50; i++) {
            uintptr_t a = (uintptr_t)goheap_malloc_flags(sz, GOHEAP_NOSCAN);
            size_t want = (sz & 7) == 0 ? 8 : (sz & 3) == 0 ? 4 : (sz & 1) == 0 ? 2 : 1;
            KT_CHECK(a % want == 0, "size %zu at 0x%lx", sz, (unsigned long)a);
            KT_CHECK(goheap_usable_size((void *)a) >= sz, "");
            /* a tiny object never crosses its 16 B block */
            KT_CHECK((a & ~15ul) == ((a + sz - 1) & ~15ul), "size %zu crosses a block", sz);
            goheap_free((void *)a);
        }
    }
}

static void t_tiny_packing(void) {
    goheap_flush(); /* start with no current block */
    struct goheap_memstats b = core_stats();
    char *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = goheap_malloc_flags(4, GOHEAP_NOSCAN);
    KT_CHECK(((uintptr_t)p[0] & ~15ul) == ((uintptr_t)p[3] & ~15ul), "four 4 B objects share a block");
    KT_CHECK(p[1] == p[0] + 4 && p[2] == p[0] + 8 && p[3] == p[0] + 12, "packed");
    for (int i = 0; i < 4; i++)
        KT_CHECK(goheap_usable_size(p[i]) == 4, "usable_size of a tiny object is its size (%zu)",
                 goheap_usable_size(p[i]));
    struct goheap_memstats m = core_stats();
    KT_CHECK(m.tiny_allocs - b.tiny_allocs == 4, "");
    KT_CHECK(m.by_size[2].mallocs - b.by_size[2].mallocs == 1, "one 16 B block");
    for (int i = 0; i < 4; i++)
        goheap_free(p[i]);
    goheap_flush(); /* retires the block: its count reaches zero, it is freed */
    struct goheap_memstats a = core_stats();
    KT_CHECK(a.by_size[2].frees - b.by_size[2].frees == 1, "block freed");
    KT_CHECK(a.heap_objects == b.heap_objects, "no tiny leak");
}

/* Freeing a block's objects while it is still the current block, then later: the
 * block lives until the last object and the retirement are both done. */
static void t_tiny_free_while_current(void) {
    goheap_flush();
    struct goheap_memstats b = core_stats();
    char *x = goheap_malloc_flags(3, GOHEAP_NOSCAN);
    goheap_free(x); /* count: bias - 1 */
    char *y = goheap_malloc_flags(3, GOHEAP_NOSCAN); /* same block, next offset */
    KT_CHECK(y == x + 3, "");
    memset(y, 7, 3);
    goheap_flush(); /* retire: one live object left */
    KT_CHECK(core_stats().heap_objects == b.heap_objects + 1, "block still live");
    goheap_free(y);
    KT_CHECK(core_stats().heap_objects == b.heap_objects, "block freed with its last object");
}

static void *freer(void *arg) {
    void **v = arg;
    for (int i = 0; i < 10000; i++)
        goheap_free(v[i]);
    return 0;
}
static void t_tiny_cross_thread(void) {
    static void *v[10000];
    struct goheap_memstats b = core_stats();
    for (int i = 0; i < 10000; i++)
        v[i] = goheap_malloc_flags((size_t)(i % 15) + 1, GOHEAP_NOSCAN);
    pthread_t t;
    pthread_create(&t, 0, freer, v);
    pthread_join(t, 0);
    goheap_flush();
    KT_CHECK(core_stats().heap_objects == b.heap_objects, "%lu objects left",
             core_stats().heap_objects - b.heap_objects);
}

/* 16 B noscan objects share the tiny span class; a plain one frees normally. */
static void t_plain_16_noscan(void) {
    void *p = goheap_malloc_flags(16, GOHEAP_NOSCAN);
    KT_CHECK((uintptr_t)p % 16 == 0, "");
    goheap_free(p);
    void *z = goheap_malloc_flags(8, GOHEAP_NOSCAN | GOHEAP_ZERO);
    KT_CHECK(((uint64_t *)z)[0] == 0, "zeroed tiny");
    goheap_free(z);
}

static void tiny_interior(void) {
    char *p = goheap_malloc_flags(16, GOHEAP_NOSCAN);
    goheap_free(p + 4);
}
static void t_tiny_bad(void) {
    KT_CHECK(core_dies_with(tiny_interior, "goheap: fatal: invalid free of an interior pointer"), "");
}

/* Interior pointers into a live tiny block: a byte that starts no tiny object (inside
 * one, alignment padding, or past the last one placed) is refused with the exact
 * message, whatever frees it, before the block's count or freed mask changes. Before,
 * such a free took one off the count: the block went back with a live neighbour in it
 * (the next 16 B object overlapped it). */
static char *ti_a, *ti_b;
static void ti_setup(void) {
    goheap_flush(); /* a fresh current block: a (8 B) at its start, b (8 B) after it */
    ti_a = goheap_malloc_flags(8, GOHEAP_NOSCAN);
    ti_b = goheap_malloc_flags(8, GOHEAP_NOSCAN);
    if (ti_b != ti_a + 8 || ((uintptr_t)ti_a & 15))
        _exit(8); /* not the layout the cases assume */
}
static void ti_free_inside(void) { /* the block is current */
    ti_setup();
    core_expect_bad_free("invalid free of an interior pointer", ti_a + 2);
    goheap_free(ti_a + 2);
}
static void ti_free_inside_retired(void) { /* the block is no CPU's current one */
    ti_setup();
    goheap_flush();
    core_expect_bad_free("invalid free of an interior pointer", ti_b + 4);
    goheap_free(ti_b + 4);
}
static void *ti_free_a2(void *arg) {
    (void)arg;
    core_expect_bad_free("invalid free of an interior pointer", ti_a + 2);
    goheap_free(ti_a + 2);
    return 0;
}
static void ti_free_inside_remote(void) {
    ti_setup();
    core_on_thread(ti_free_a2, 0);
}
static void ti_free_past_last(void) { /* nothing placed there yet */
    goheap_flush();
    char *x = goheap_malloc_flags(4, GOHEAP_NOSCAN);
    core_expect_bad_free("invalid free of an interior pointer", x + 8);
    goheap_free(x + 8);
}
static void ti_free_padding(void) { /* 1 B at 0, 2 B at 2 (aligned): byte 1 is padding */
    goheap_flush();
    char *x = goheap_malloc_flags(1, GOHEAP_NOSCAN);
    char *y = goheap_malloc_flags(2, GOHEAP_NOSCAN);
    if (y != x + 2)
        _exit(8);
    goheap_free(y); /* a start: fine */
    core_expect_bad_free("invalid free of an interior pointer", x + 1);
    goheap_free(x + 1);
}
static void ti_realloc_inside(void) { /* realloc's check, before it allocates */
    ti_setup();
    core_expect_bad_free("realloc of an interior pointer", ti_a + 2);
    goheap_realloc(ti_a + 2, 40);
}
static void ti_realloc_16_inside(void) { /* an ordinary 16 B object of the tiny spans */
    char *p = goheap_malloc_flags(16, GOHEAP_NOSCAN);
    core_expect_bad_free("realloc of an interior pointer", p + 4);
    goheap_realloc(p + 4, 40);
}
static void t_tiny_interior(void) {
    DEATH(ti_free_inside);
    DEATH(ti_free_inside_retired);
    DEATH(ti_free_inside_remote);
    DEATH(ti_free_past_last);
    DEATH(ti_free_padding);
    DEATH(ti_realloc_inside);
    DEATH(ti_realloc_16_inside);
    /* usable_size still measures from an inner byte to its object's end */
    ti_setup();
    KT_CHECK(goheap_usable_size(ti_a + 2) == 6, "%zu", goheap_usable_size(ti_a + 2));
    goheap_free(ti_a);
    goheap_free(ti_b);
}

static const struct kt_case cases[] = {
    KT_CASE(t_tiny_alignment),
    KT_CASE(t_tiny_packing),
    KT_CASE(t_tiny_free_while_current),
    KT_CASE(t_tiny_cross_thread),
    KT_CASE(t_plain_16_noscan),
    KT_CASE(t_tiny_bad),
    KT_CASE(t_tiny_interior),
};

int main(void) {
    /* No background thread: t_tiny_interior's children free on threads of their own
     * (docs/testing.md, "Fork children and the background thread"). */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-tiny", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
