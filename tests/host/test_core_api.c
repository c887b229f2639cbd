/* tests/host/test_core_api.c: the API's edge cases: malloc(0), alignment promises,
 * calloc overflow and zeroing, realloc in place and moving, aligned allocation
 * arguments, usable size, flags, memory limit, metrics names, knobs. */
#include "test_core_common.h"

static void t_malloc_edges(void) {
    void *a = goheap_malloc(0), *b = goheap_malloc(0);
    KT_CHECK(a && b && a != b, "malloc(0) gives distinct pointers");
    goheap_free(a);
    goheap_free(b);
    goheap_free(0);
    for (size_t sz = 1; sz <= 4096; sz++) {
        void *p = goheap_malloc(sz);
        size_t want = sz >= 16 ? 16 : 8;
        KT_CHECK((uintptr_t)p % want == 0, "size %zu", sz);
        KT_CHECK(goheap_usable_size(p) >= sz, "size %zu", sz);
        goheap_free(p);
    }
    void *p = goheap_malloc_flags(24, GOHEAP_ALIGN8);
    KT_CHECK(goheap_usable_size(p) == 24, "ALIGN8 may use the 24 B class");
    goheap_free(p);
    p = goheap_malloc(24);
    KT_CHECK(goheap_usable_size(p) == 32 && (uintptr_t)p % 16 == 0, "plain malloc skips it");
    goheap_free(p);
}

static void t_calloc(void) {
    KT_CHECK(goheap_calloc(SIZE_MAX / 2, 3) == 0, "overflow");
    KT_CHECK(goheap_calloc((size_t)1 << 33, (size_t)1 << 33) == 0, "overflow");
    /* dirty a class, then calloc from it */
    void *d[100];
    for (int i = 0; i < 100; i++) {
        d[i] = goheap_malloc(200);
        memset(d[i], 0xee, 200);
    }
    for (int i = 0; i < 100; i++)
        goheap_free(d[i]);
    for (int i = 0; i < 100; i++) {
        unsigned char *c = goheap_calloc(10, 20);
        int nz = 0;
        for (int j = 0; j < 200; j++)
            nz |= c[j];
        KT_CHECK(!nz, "calloc returned dirty memory");
        d[i] = c;
    }
    for (int i = 0; i < 100; i++)
        goheap_free(d[i]);
    void *z = goheap_calloc(0, 5);
    KT_CHECK(z != 0, "");
    goheap_free(z);
}

static void t_realloc(void) {
    KT_CHECK(goheap_realloc(0, 0) != 0 || 1, "");
    char *p = goheap_realloc(0, 100);
    KT_CHECK(p != 0, "realloc(NULL) mallocs");
    memset(p, 9, 100);
    char *q = goheap_realloc(p, 110);
    KT_CHECK(q == p, "same class (112 B): in place");
    q = goheap_realloc(q, 5000);
    KT_CHECK(q != p && q[0] == 9 && q[99] == 9, "moved, contents kept");
    char *r = goheap_realloc(q, 50);
    KT_CHECK(r[0] == 9 && r[49] == 9, "");
    KT_CHECK(goheap_realloc(r, 0) == 0, "realloc(p, 0) frees");
    char *s = goheap_malloc(64);
    KT_CHECK(goheap_realloc(s, (size_t)1 << 50) == 0, "failed realloc");
    s[63] = 1; /* the old object is intact */
    KT_CHECK(goheap_reallocarray(s, SIZE_MAX / 2, 4) == 0, "reallocarray overflow");
    char *t = goheap_reallocarray(s, 10, 10);
    KT_CHECK(t && t[63] == 1, "");
    goheap_free(t);
}

static void t_aligned(void) {
    void *p = (void *)1;
    KT_CHECK(goheap_posix_memalign(&p, 3, 10) == GOHEAP_EINVAL && p == (void *)1, "non power of two");
    KT_CHECK(goheap_posix_memalign(&p, 4, 10) == GOHEAP_EINVAL, "not a multiple of sizeof(void *)");
    KT_CHECK(goheap_posix_memalign(&p, 0, 10) == GOHEAP_EINVAL, "zero");
    KT_CHECK(goheap_posix_memalign(&p, 64, (size_t)1 << 50) == GOHEAP_ENOMEM, "too big");
    KT_CHECK(goheap_aligned_alloc(24, 48) == 0, "");
    /* memalign follows glibc: 0 is malloc, 24 rounds up to 32, > SIZE_MAX/2+1 fails. */
    void *m0 = goheap_memalign(0, 48), *m24 = goheap_memalign(24, 48), *m3 = goheap_memalign(3, 5);
    KT_CHECK(m0 && (uintptr_t)m0 % 16 == 0 && m24 && (uintptr_t)m24 % 32 == 0 && m3, "");
    KT_CHECK(goheap_memalign(SIZE_MAX / 2 + 2, 1) == 0, "");
    goheap_free(m0), goheap_free(m24), goheap_free(m3);
    for (size_t al = 8; al <= (1u << 16); al <<= 1) {
        for (size_t sz = 1; sz < 3 * al && sz < 100000; sz = sz * 3 + 1) {
            void *a = goheap_aligned_alloc(al, sz);
            KT_CHECK(a && (uintptr_t)a % al == 0, "align %zu size %zu", al, sz);
            KT_CHECK(goheap_usable_size(a) >= sz, "");
            memset(a, 1, sz);
            void *b = 0;
            KT_CHECK(goheap_posix_memalign(&b, al, sz) == 0 && (uintptr_t)b % al == 0, "");
            void *c = goheap_memalign(al, sz);
            KT_CHECK(c && (uintptr_t)c % al == 0, "");
            goheap_free(a);
            goheap_free(b);
            goheap_free(c);
        }
    }
}

static void t_metrics(void) {
    struct goheap_metric m[64];
    size_t n = goheap_read_metrics(m, 64);
    KT_CHECK(n >= 10, "");
    int found = 0;
    void *p = goheap_malloc(1000);
    n = goheap_read_metrics(m, 64);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, "/memory/classes/heap/objects:bytes"))
            found = m[i].value >= 1024;
    KT_CHECK(found, "/memory/classes/heap/objects:bytes counts the object");
    KT_CHECK(goheap_read_metrics(m, 2) == 2, "");
    goheap_free(p);
    struct goheap_memstats s = core_stats();
    KT_CHECK(s.sys == s.heap_sys + s.mspan_sys + s.mcache_sys + s.other_sys, "");
    KT_CHECK(s.mcache_inuse > 0 && s.mspan_inuse > 0, "");
}

static void t_memory_limit(void) {
    KT_CHECK(goheap_set_memory_limit(-1) == INT64_MAX, "no limit by default");
    /* The frees below ask for the background step (2 MiB freed, work.h), which may
     * release them before the first check (tsan-test_core_api, once): held off, so
     * that what is released is the limit's own doing. */
    gh_background_hold(1);
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = goheap_malloc(1 << 20);
    for (int i = 0; i < 64; i++)
        goheap_free(p[i]);
    struct goheap_memstats b = core_stats();
    KT_CHECK(b.heap_idle - b.heap_released >= (60ul << 20), "64 MiB free and backed");
    goheap_set_memory_limit((int64_t)(b.heap_inuse + (8 << 20)));
    void *x = goheap_malloc(100); /* any slow path enforces the limit */
    struct goheap_memstats a = core_stats();
    KT_CHECK(a.heap_inuse + (a.heap_idle - a.heap_released) <= b.heap_inuse + (10 << 20),
             "backed heap %lu after the limit", a.heap_inuse + a.heap_idle - a.heap_released);
    goheap_free(x);
    KT_CHECK(goheap_set_memory_limit(INT64_MAX) != INT64_MAX, "");
    gh_background_hold(0);
}

static void t_knobs(void) {
    struct gh_knobs k;
    gh_knobs_defaults(&k);
    KT_CHECK(gh_knobs_parse(&k, "scavtrace=1,debug=2,memlimit=512M,arena=4G,scavenge=eager", GH_KNOB_FEATURES_ALL) == 0, "");
    KT_CHECK(k.scavtrace == 1 && k.debug == 2 && k.memlimit == (512 << 20) && k.arena == (4ull << 30) &&
                 k.scavenge_eager == 1, "");
    KT_CHECK(!k.slowmode, "");
    KT_CHECK(gh_knobs_parse(&k, "efence=1", GH_KNOB_FEATURES_ALL) == 0 && k.slowmode, "");
    gh_knobs_defaults(&k);
    KT_CHECK(gh_knobs_parse(&k, "nosuchknob=1", GH_KNOB_FEATURES_ALL) != 0, "unknown knobs are errors");
    KT_CHECK(gh_knobs_parse(&k, "memlimit=12Q", GH_KNOB_FEATURES_ALL) != 0, "");
    KT_CHECK(gh_knobs_parse(&k, "debug", GH_KNOB_FEATURES_ALL) != 0, "");
}

static const struct kt_case cases[] = {
    KT_CASE(t_malloc_edges),
    KT_CASE(t_calloc),
    KT_CASE(t_realloc),
    KT_CASE(t_aligned),
    KT_CASE(t_metrics),
    KT_CASE(t_memory_limit),
    KT_CASE(t_knobs),
};

int main(void) {
    kt_begin("core-api", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
