/* tests/host/test_core_fastpath.c: the fast paths' two tricks, checked exhaustively:
 * free's one-compare slot test (gh_span_wordslot) against division for every class and
 * byte offset, and statistics read mid-word (the fast paths count nothing per malloc). */
#include "test_core_common.h"

/* Every class: for each byte offset d around the cached word, the slot test must give
 * d / elemsize exactly at slot starts inside the word, and a value >= wordn anywhere
 * else (interior pointers, the word's end, before its start). It depends only on
 * a - wordbase, so one word per class covers every word of every span. */
static void t_wordslot_every_offset(void) {
    uint64_t bad = 0, checked = 0;
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        size_t size = goheap_class_to_size[cl];
        void *p = goheap_malloc_flags(size, GOHEAP_ALIGN8);
        KT_CHECK(p != NULL, "class %u", cl);
        if (!p)
            continue;
        struct mspan *s = gh_span_of((uintptr_t)p);
        KT_CHECK(s->elemsize == size, "class %u: elemsize %u", cl, s->elemsize);
        uintptr_t n = s->wordn, es = s->welemsize;
        KT_CHECK(n > 0 && n <= 64, "class %u: wordn %lu", cl, (unsigned long)n);
        for (intptr_t d = -(intptr_t)es; d < (intptr_t)((n + 1) * es); d++) {
            uint64_t got = gh_span_wordslot(s, s->wordbase + (uintptr_t)d);
            int start = d >= 0 && (uintptr_t)d < n * es && (uintptr_t)d % es == 0;
            int ok = start ? got == (uintptr_t)d / es : got >= n;
            if (!ok && bad++ < 5)
                KT_CHECK(0, "class %u size %zu offset %ld: slot %llu (wordn %lu)", cl, size,
                         (long)d, (unsigned long long)got, (unsigned long)n);
            checked++;
        }
        goheap_free(p);
    }
    printf("    # %llu offsets checked, %llu wrong\n", (unsigned long long)checked,
           (unsigned long long)bad);
    KT_CHECK(bad == 0);
}

/* The free's second tier's index (gh_span_owned_index): for every class, with the
 * cached word at each of the span's words, every byte offset from one slot below the
 * span to one slot past its limit gives the slot index at slot starts and a value
 * >= nelems everywhere else, and gh_span_index_addr gives the address back. */
static void t_owned_index_every_offset(void) {
    uint64_t bad = 0, checked = 0;
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        void *p = goheap_malloc_flags(goheap_class_to_size[cl], GOHEAP_ALIGN8);
        KT_CHECK(p != NULL, "class %u", cl);
        if (!p)
            continue;
        struct mspan v = *gh_span_of((uintptr_t)p); /* the fields the formula reads */
        intptr_t es = v.welemsize, span = (intptr_t)(v.limit - v.base);
        for (unsigned w = 0; w < v.nwords; w++) {
            v.wslot = w * 64;
            v.wslotk = (w * 64) << v.wshift;
            v.wordbase = v.base + (uintptr_t)w * 64 * (uintptr_t)es;
            for (intptr_t d = -es; d < span + es; d++) {
                uint64_t got = gh_span_owned_index(&v, gh_span_wordslot(&v, v.base + (uintptr_t)d));
                int start = d >= 0 && d < span && d % es == 0;
                /* and the panics' inverse gives the address back */
                if ((!(start ? got == (uint64_t)(d / es) : got >= v.nelems) ||
                     gh_span_index_addr(&v, got) != v.base + (uintptr_t)d) &&
                    bad++ < 5)
                    KT_CHECK(0, "class %u word %u offset %ld: index %llu", cl, w, (long)d,
                             (unsigned long long)got);
                checked++;
            }
        }
        goheap_free(p);
    }
    printf("    # %llu offsets checked, %llu wrong\n", (unsigned long long)checked,
           (unsigned long long)bad);
    KT_CHECK(bad == 0);
}

/* Mallocs and frees inside one cached word are visible to readers at once, exactly,
 * although the fast paths only touch the word's free bits and wfree. */
static void t_stats_mid_word(void) {
    enum { N = 20 };
    static const size_t sizes[] = {16, 64, 256, 1024};
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned cl = goheap_size_to_class(sizes[k]);
        goheap_flush(); /* start from a fresh span and word */
        struct goheap_memstats m0 = core_stats();
        void *p[N];
        for (int i = 0; i < N; i++)
            p[i] = goheap_malloc(sizes[k]);
        struct goheap_memstats m1 = core_stats();
        KT_CHECK(m1.by_size[cl].mallocs - m0.by_size[cl].mallocs == N, "size %zu: +%llu mallocs",
                 sizes[k], (unsigned long long)(m1.by_size[cl].mallocs - m0.by_size[cl].mallocs));
        KT_CHECK(m1.heap_objects - m0.heap_objects == N, "size %zu", sizes[k]);
        for (int i = 0; i < N; i += 2)
            goheap_free(p[i]);
        struct goheap_memstats m2 = core_stats();
        KT_CHECK(m2.by_size[cl].frees - m0.by_size[cl].frees == N / 2, "size %zu: +%llu frees",
                 sizes[k], (unsigned long long)(m2.by_size[cl].frees - m0.by_size[cl].frees));
        KT_CHECK(goheap_validate() == 0, "validator mid-word, size %zu", sizes[k]);
        for (int i = 1; i < N; i += 2)
            goheap_free(p[i]);
        struct goheap_memstats m3 = core_stats();
        KT_CHECK(m3.heap_objects == m0.heap_objects, "size %zu", sizes[k]);
        KT_CHECK(m3.mallocs - m0.mallocs == N && m3.frees - m0.frees == N, "size %zu", sizes[k]);
    }
}

static const struct kt_case cases[] = {
    KT_CASE(t_wordslot_every_offset),
    KT_CASE(t_owned_index_every_offset),
    KT_CASE(t_stats_mid_word),
};

int main(void) {
    goheap_init(NULL);
    kt_begin("core_fastpath", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
