/* tests/host/test_core_fastpath.c: the fast paths' tricks, checked exhaustively: free's
 * one-compare slot test (gh_span_index) against division for every class and byte
 * offset, malloc's take from the current word, its fast entries' mirror, and
 * statistics read mid-tenure (malloc counts nothing, the owner's free only lfree). */
#include "test_core_common.h"

/* The free's index test (gh_span_index): for every class, every byte offset from one
 * slot below the span to one slot past its limit gives the slot index at slot starts
 * and a value >= nelems everywhere else (interior pointers, the tail, outside), and
 * gh_span_index_addr gives the address back. */
static void t_index_every_offset(void) {
    uint64_t bad = 0, checked = 0;
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        void *p = goheap_malloc_flags(goheap_class_to_size[cl], GOHEAP_ALIGN8);
        KT_CHECK(p != NULL, "class %u", cl);
        if (!p)
            continue;
        const struct mspan *s = gh_span_of((uintptr_t)p);
        intptr_t es = s->welemsize, span = (intptr_t)(s->limit - s->base);
        KT_CHECK(s->wnelems == s->nelems, "class %u: wnelems %llu", cl, (unsigned long long)s->wnelems);
        for (intptr_t d = -es; d < span + es; d++) {
            uint64_t got = gh_span_index(s, s->base + (uintptr_t)d);
            int start = d >= 0 && d < span && d % es == 0;
            if ((!(start ? got == (uint64_t)(d / es) : got >= s->wnelems) ||
                 gh_span_index_addr(s, got) != s->base + (uintptr_t)d) &&
                bad++ < 5)
                KT_CHECK(0, "class %u offset %ld: index %llu", cl, (long)d, (unsigned long long)got);
            checked++;
        }
        goheap_free(p);
    }
    printf("    # %llu offsets checked, %llu wrong\n", (unsigned long long)checked,
           (unsigned long long)bad);
    KT_CHECK(bad == 0);
}

/* malloc's take from the current word (gh_span_take_word): the lowest free slot (set
 * bit), and only it becomes allocated, for every nonzero word of a pattern set. */
static void t_take_word(void) {
    struct mspan s;
    memset(&s, 0, sizeof s);
    s.wordbase = 0x100000;
    s.welemsize = 48;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t fb = x & (i & 1 ? x >> 3 : ~0ull), w = fb;
        if (fb == 0)
            continue;
        unsigned want = gh_ctz64(fb);
        uintptr_t got = (uintptr_t)gh_span_take_word(&s, &w, fb);
        if (got != s.wordbase + want * 48u || w != (fb & ~(1ull << want))) {
            KT_CHECK(0, "word 0x%llx: took 0x%lx, left 0x%llx", (unsigned long long)fb, (unsigned long)got,
                     (unsigned long long)w);
            break;
        }
    }
}

/* Mallocs and frees inside one word, and across words, spans and parked spans, are
 * visible to readers at once, exactly, although malloc's fast path counts nothing
 * (the tenure's mallocs follow from the bitmap and lfree, mspan.h) and the owner's free
 * counts only lfree (its frees follow from lfree when the span leaves the cache, and
 * readers add them for current and parked spans). */
static void t_stats_mid_word(void) {
    enum { NMAX = 600 };
    static const size_t sizes[] = {16, 64, 256, 1024, 16, 1024};
    static const int counts[] = {20, 20, 20, 20, NMAX, NMAX};
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned cl = goheap_size_to_class(sizes[k]);
        unsigned N = (unsigned)counts[k];
        goheap_flush(); /* start from a fresh span and word */
        struct goheap_memstats m0 = core_stats();
        static void *p[NMAX];
        for (unsigned i = 0; i < N; i++)
            p[i] = goheap_malloc(sizes[k]);
        struct goheap_memstats m1 = core_stats();
        KT_CHECK(m1.by_size[cl].mallocs - m0.by_size[cl].mallocs == N, "size %zu: +%llu mallocs",
                 sizes[k], (unsigned long long)(m1.by_size[cl].mallocs - m0.by_size[cl].mallocs));
        KT_CHECK(m1.heap_objects - m0.heap_objects == N, "size %zu", sizes[k]);
        for (unsigned i = 0; i < N; i += 2)
            goheap_free(p[i]);
        struct goheap_memstats m2 = core_stats();
        KT_CHECK(m2.by_size[cl].frees - m0.by_size[cl].frees == N / 2, "size %zu: +%llu frees",
                 sizes[k], (unsigned long long)(m2.by_size[cl].frees - m0.by_size[cl].frees));
        KT_CHECK(goheap_validate() == 0, "validator mid-word, size %zu", sizes[k]);
        for (unsigned i = 1; i < N; i += 2)
            goheap_free(p[i]);
        struct goheap_memstats m3 = core_stats();
        KT_CHECK(m3.heap_objects == m0.heap_objects, "size %zu", sizes[k]);
        KT_CHECK(m3.mallocs - m0.mallocs == N && m3.frees - m0.frees == N, "size %zu", sizes[k]);
    }
}

/* malloc's fast entries (mcache.h, struct gh_fastent) mirror the current spans through
 * word steps, refills and span changes: every size up to 1 KiB gets plain malloc's
 * class from its entry, and objects taken across many words and spans, with holes
 * freed in earlier words (next fit steps back into them), are all distinct, in their
 * class, and the validator finds every entry equal to its span's word state. A mirror
 * left stale by a word step hands out a slot of a word the span no longer takes from:
 * the same slot twice, or a slot of another span. */
static int cmp_uintptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}
static void t_fast_entries(void) {
    for (size_t n = 0; n <= GOHEAP_SMALL_SIZE_MAX; n++) {
        void *p = goheap_malloc(n);
        size_t want = goheap_class_to_size[gh_spc8[GH_TAB_SCAN][(n + 7) >> 3] >> 1];
        KT_CHECK(p && goheap_usable_size(p) == want, "size %zu: usable %zu, class size %zu", n,
                 p ? goheap_usable_size(p) : 0, want);
        goheap_free(p);
    }
    enum { N = 3000 };
    static void *p[N];
    static const size_t sizes[] = {8, 16, 48, 128, 512, 1024};
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t sz = sizes[k];
        for (unsigned i = 0; i < N; i++)
            p[i] = goheap_malloc(sz);
        for (unsigned i = 0; i < N; i += 3) { /* holes in every word and span */
            goheap_free(p[i]);
            p[i] = 0;
        }
        KT_CHECK(goheap_validate() == 0, "size %zu after the holes", sz);
        for (unsigned i = 0; i < N; i += 3)
            p[i] = goheap_malloc(sz);
        KT_CHECK(goheap_validate() == 0, "size %zu after refilling them", sz);
        /* all distinct, each its class's size and a slot start (usable size says both) */
        static uintptr_t sorted[N];
        unsigned dup = 0;
        for (unsigned i = 0; i < N; i++) {
            KT_CHECK(p[i] && goheap_usable_size(p[i]) >= sz, "size %zu object %u", sz, i);
            sorted[i] = (uintptr_t)p[i];
        }
        qsort(sorted, N, sizeof sorted[0], cmp_uintptr);
        for (unsigned i = 1; i < N; i++)
            dup += sorted[i] < sorted[i - 1] + sz;
        KT_CHECK(dup == 0, "size %zu: %u objects overlap", sz, dup);
        for (unsigned i = 0; i < N; i++)
            goheap_free(p[i]);
        KT_CHECK(goheap_validate() == 0, "size %zu after the frees", sz);
    }
}

static const struct kt_case cases[] = {
    KT_CASE(t_index_every_offset),
    KT_CASE(t_take_word),
    KT_CASE(t_stats_mid_word),
    KT_CASE(t_fast_entries),
};

int main(void) {
    goheap_init(NULL);
    kt_begin("core_fastpath", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
