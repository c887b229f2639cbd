/* tests/host/test_api.c: edge cases of goheap's public API, from the caller's side:
 * sizes at every class boundary, usable_size, calloc/ZERO over dirty memory, realloc
 * (in place, across classes, to large and back), aligned allocation from 8 B to 2 MiB,
 * the flags variants (tiny, ALIGN8), large objects and the stats after every case.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goheap.h"
#include "heapcheck.h"
#include "hostktap.h"

static uint64_t live_base;

/* Every case ends with the slow validator and the live count back at the baseline.
 * The flush first returns this CPU's current tiny block, which the counters (as Go's)
 * count as one live 16 B object while the cache holds it. */
static void api_after(const char *name) {
    goheap_flush();
    int v = goheap_validate();
    KT_CHECK(v == 0, "validate after %s returned %d", name, v);
    KT_CHECK(hc_live_objects() == live_base, "live objects %llu after %s, expected %llu",
             (unsigned long long)hc_live_objects(), name, (unsigned long long)live_base);
}

static int is_class_size(size_t n) {
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++)
        if (hc_class_size[c] == n)
            return 1;
    return 0;
}

/* Checks the promises of one fresh malloc-like result of n bytes with alignment a.
 * grown: a realloc that grew, whose large result may keep realloc's growth margin
 * (docs/alloc.md: at most n's pages + 1/8) instead of at most a page of slack. */
static int check_result(void *p, size_t n, size_t a, const char *what, int grown) {
    if (!p) {
        KT_CHECK(p != NULL, "%s(%zu) returned NULL", what, n);
        return 0;
    }
    KT_CHECK((uintptr_t)p % a == 0, "%s(%zu) = %p, not %zu-aligned", what, n, p, a);
    size_t us = goheap_usable_size(p);
    KT_CHECK(us >= n, "%s(%zu): usable_size %zu", what, n, us);
    if (n <= HC_MAX_SMALL && us <= HC_MAX_SMALL)
        KT_CHECK(is_class_size(us), "%s(%zu): usable_size %zu is no class size", what, n, us);
    else if (!grown)
        KT_CHECK(us - n < 8192 + a, "%s(%zu): usable_size %zu wastes more than a page", what, n, us);
    else
        KT_CHECK(us <= ((n + 8191) / 8192 + (n + 8191) / 8192 / 8) * 8192,
                 "%s(%zu): usable_size %zu beyond n's pages + 1/8", what, n, us);
    return 1;
}
static int check_fresh(void *p, size_t n, size_t a, const char *what) { return check_result(p, n, a, what, 0); }

/* malloc of every size up to 4 KiB and around every class boundary: alignment (16 B
 * from 16 B up, since plain malloc cannot know an object is pointer-free), usable size,
 * and the whole usable size writable without touching a neighbour. */
static void malloc_sizes(void) {
    enum { KEEP = 64 };
    void *keep[KEEP] = {0};
    size_t keepn[KEEP] = {0};
    size_t sizes[9000], ns = 0;
    for (size_t n = 1; n <= 4096; n++)
        sizes[ns++] = n;
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
        sizes[ns++] = hc_class_size[c] - 1;
        sizes[ns++] = hc_class_size[c];
        sizes[ns++] = hc_class_size[c] + 1;
    }
    for (size_t i = 0; i < ns; i++) {
        size_t n = sizes[i];
        void *p = goheap_malloc(n);
        if (!check_fresh(p, n, n >= 16 ? 16 : 8, "malloc"))
            continue;
        size_t us = goheap_usable_size(p);
        hc_fill(p, us);
        /* Keep a window of objects live so a neighbour overwritten by a too-large usable
         * size is noticed. */
        unsigned k = (unsigned)(i % KEEP);
        if (keep[k]) {
            size_t bad = hc_check(keep[k], keepn[k]);
            KT_CHECK(bad == (size_t)-1, "object %p (%zu usable) damaged at %zu", keep[k], keepn[k], bad);
            goheap_free(keep[k]);
        }
        keep[k] = p, keepn[k] = us;
    }
    for (unsigned k = 0; k < KEEP; k++)
        if (keep[k]) {
            KT_CHECK(hc_check(keep[k], keepn[k]) == (size_t)-1, "object %p damaged", keep[k]);
            goheap_free(keep[k]);
        }
}

/* malloc(0): C lets it return NULL or a unique pointer that free accepts. */
static void malloc_zero(void) {
    void *a = goheap_malloc(0), *b = goheap_malloc(0);
    if (a && b)
        KT_CHECK(a != b, "two live malloc(0) results share the address %p", a);
    KT_CHECK(goheap_usable_size(NULL) == 0);
    goheap_free(a);
    goheap_free(b);
    goheap_free(NULL);
}

/* calloc and GOHEAP_ZERO return zeroed memory even when the slot was just dirtied and
 * freed (the span's needzero must be honoured), for small and large sizes. */
static void calloc_zeroes(void) {
    static const size_t sizes[] = {1, 8, 16, 24, 100, 512, 1000, 4096, 8192, 30000, 32768,
                                   32769, 100000, 1 << 20, (3 << 20) + 5};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 3; round++) {
            void *d[8];
            for (int j = 0; j < 8; j++) { /* dirty a few slots of the class, free them */
                d[j] = goheap_malloc(n);
                if (d[j])
                    memset(d[j], 0xA5, goheap_usable_size(d[j]));
            }
            for (int j = 7; j >= 0; j--)
                goheap_free(d[j]);
            void *p = round == 0 ? goheap_calloc(1, n)
                    : round == 1 ? goheap_calloc(n, 1)
                                 : goheap_malloc_flags(n, GOHEAP_ZERO);
            if (!check_fresh(p, n, n >= 16 ? 16 : 8, round == 2 ? "malloc_flags(ZERO)" : "calloc"))
                continue;
            KT_CHECK(hc_all_zero(p, n), "%s(%zu) = %p is not zero", round == 2 ? "ZERO" : "calloc", n, p);
            goheap_free(p);
        }
    }
    void *z = goheap_calloc(0, 16), *y = goheap_calloc(16, 0);
    goheap_free(z);
    goheap_free(y);
    void *arr = goheap_calloc(1000, 24); /* a product, not either factor */
    if (check_fresh(arr, 24000, 16, "calloc"))
        KT_CHECK(hc_all_zero(arr, 24000));
    goheap_free(arr);
}

/* Fills [p, p+n) with a pattern that does not depend on the address, so it can be
 * compared after realloc moved the block. */
static void pat_fill(void *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(i * 131 + seed);
}
static size_t pat_check(const void *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(i * 131 + seed))
            return i;
    return (size_t)-1;
}

/* realloc keeps the block in place while the new size fits its class, preserves the
 * contents when it moves (small -> small, small -> large -> small), and follows C for
 * NULL and 0. */
static void realloc_edges(void) {
    /* NULL acts as malloc. */
    void *p = goheap_realloc(NULL, 40);
    check_fresh(p, 40, 16, "realloc(NULL)");
    goheap_free(p);

    /* In place inside a class: every size in (size[c-1], size[c]] keeps the address. */
    uint64_t rng = 5;
    for (unsigned c = 2; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
        size_t n = hc_class_size[c];
        if (n % 16)
            continue; /* 24 B: plain malloc does not use 8-aligned classes */
        p = goheap_malloc(n);
        if (!check_fresh(p, n, 16, "malloc"))
            continue;
        pat_fill(p, n, c);
        size_t m = hc_size_in_class(&rng, c);
        if (m < 16)
            m = 16;
        void *q = goheap_realloc(p, m);
        KT_CHECK(q == p, "realloc(%p [%zu], %zu) moved to %p inside class %u", p, n, m, q, c);
        if (q) {
            KT_CHECK(pat_check(q, m, c) == (size_t)-1, "realloc in class %u lost data", c);
            p = q;
        }
        q = goheap_realloc(p, n); /* grow back to the full class size: still in place */
        KT_CHECK(q == p, "realloc(%p, %zu) moved to %p", p, n, q);
        goheap_free(q ? q : p);
    }

    /* Growing and shrinking through every class, to large and back, keeps the data. */
    size_t cur = 1;
    p = goheap_malloc(cur);
    pat_fill(p, cur, 9);
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES + 3; c++) {
        size_t m = c < GOHEAP_NUM_SIZE_CLASSES ? hc_class_size[c] + 1 : (size_t)100000 << (c - 68);
        void *q = goheap_realloc(p, m);
        if (!check_result(q, m, 16, "realloc grow", 1))
            break;
        size_t bad = pat_check(q, cur, 9);
        KT_CHECK(bad == (size_t)-1, "realloc %zu -> %zu lost byte %zu", cur, m, bad);
        pat_fill(q, m, 9);
        p = q, cur = m;
    }
    for (size_t m = cur / 3; p && m > 0; m = m * 2 / 5) {
        void *q = goheap_realloc(p, m);
        if (!check_fresh(q, m, m >= 16 ? 16 : 8, "realloc shrink"))
            break;
        size_t bad = pat_check(q, m, 9);
        KT_CHECK(bad == (size_t)-1, "realloc shrink to %zu lost byte %zu", m, bad);
        p = q, cur = m;
    }
    goheap_free(p);

    /* Large objects: in place while the pages still fit. */
    p = goheap_malloc(100000);
    if (check_fresh(p, 100000, 16, "malloc")) {
        size_t us = goheap_usable_size(p);
        pat_fill(p, 100000, 3);
        void *q = goheap_realloc(p, us);
        KT_CHECK(q == p, "realloc of a large %p to its usable size %zu moved it to %p", p, us, q);
        if (q) {
            KT_CHECK(pat_check(q, 100000, 3) == (size_t)-1);
            p = q;
        }
        goheap_free(p);
    }

    /* realloc(p, 0): either frees and returns NULL, or returns a minimal object. */
    p = goheap_malloc(64);
    void *q = goheap_realloc(p, 0);
    goheap_free(q);

    /* A request that cannot be met: NULL, and the old block is untouched. */
    p = goheap_malloc(200);
    pat_fill(p, 200, 4);
    q = goheap_realloc(p, SIZE_MAX);
    KT_CHECK(q == NULL, "realloc(%p, SIZE_MAX) = %p", p, q);
    q = goheap_realloc(p, SIZE_MAX / 2);
    KT_CHECK(q == NULL, "realloc(%p, SIZE_MAX/2) = %p", p, q);
    KT_CHECK(pat_check(p, 200, 4) == (size_t)-1, "old block changed by a failed realloc");
    KT_CHECK(goheap_usable_size(p) >= 200);

    /* reallocarray: a normal product works, an overflowing one fails and keeps p. */
    q = goheap_reallocarray(p, 100, 4);
    if (check_fresh(q, 400, 16, "reallocarray")) {
        KT_CHECK(pat_check(q, 200, 4) == (size_t)-1, "reallocarray lost data");
        p = q;
    }
    q = goheap_reallocarray(p, SIZE_MAX / 8 + 1, 16);
    KT_CHECK(q == NULL, "reallocarray overflow returned %p", q);
    q = goheap_reallocarray(p, (size_t)1 << 32, (size_t)1 << 32);
    KT_CHECK(q == NULL, "reallocarray 2^32 x 2^32 returned %p", q);
    KT_CHECK(pat_check(p, 200, 4) == (size_t)-1, "old block changed by a failed reallocarray");
    goheap_free(p);
}

/* Aligned allocation for every power of two from 8 B to 2 MiB, through all three entry
 * points, with all objects of one alignment live at once (overlap shows in cookies). */
static void aligned_sizes(void) {
    enum { PER = 24 };
    for (size_t a = 8; a <= ((size_t)2 << 20); a <<= 1) {
        void *p[PER];
        size_t n[PER];
        for (unsigned i = 0; i < PER; i++) {
            static const size_t mult[] = {1, 2, 3, 5};
            size_t small[] = {1, 7, 16, 100, 1000, 5000, 33000, 70000};
            int err = 0;
            switch (i % 3) {
            case 0: /* aligned_alloc: size a multiple of the alignment */
                n[i] = a * mult[(i / 3) % 4];
                if (n[i] > ((size_t)4 << 20))
                    n[i] = a;
                p[i] = goheap_aligned_alloc(a, n[i]);
                break;
            case 1:
                n[i] = small[(i / 3) % 8];
                err = goheap_posix_memalign(&p[i], a, n[i]);
                KT_CHECK(err == 0, "posix_memalign(%zu, %zu) = %d", a, n[i], err);
                if (err)
                    p[i] = NULL;
                break;
            default:
                n[i] = small[(i / 3 + 3) % 8];
                p[i] = goheap_memalign(a, n[i]);
                break;
            }
            if (check_fresh(p[i], n[i], a, "aligned"))
                hc_fill(p[i], n[i]);
        }
        for (unsigned i = 0; i < PER; i++) {
            if (!p[i])
                continue;
            size_t bad = hc_check(p[i], n[i]);
            KT_CHECK(bad == (size_t)-1, "align %zu object %p size %zu damaged at %zu", a, p[i], n[i], bad);
            goheap_free(p[i]);
        }
    }
}

/* Tiny objects (GOHEAP_NOSCAN, < 16 B) follow Go's alignment, never overlap even over
 * their whole usable size (which must stop where the next object in the block
 * begins), are each freeable, and count as tiny allocations. */
static void tiny_objects(void) {
    enum { N = 20000 };
    static void *p[N];
    static uint8_t n[N], u[N];
    struct goheap_memstats st0, st1;
    uint64_t rng = 11;
    goheap_read_memstats(&st0);
    for (unsigned i = 0; i < N; i++) {
        n[i] = (uint8_t)(1 + hc_below(&rng, HC_TINY_MAX - 1));
        p[i] = goheap_malloc_flags(n[i], GOHEAP_NOSCAN | (i % 5 == 0 ? GOHEAP_ZERO : 0));
        if (!p[i]) {
            KT_CHECK(p[i] != NULL, "tiny %u NULL", n[i]);
            continue;
        }
        uintptr_t a = (n[i] & 7) == 0 ? 8 : (n[i] & 3) == 0 ? 4 : (n[i] & 1) == 0 ? 2 : 1;
        KT_CHECK((uintptr_t)p[i] % a == 0, "tiny %u at %p not %u-aligned", n[i], p[i], (unsigned)a);
        size_t us = goheap_usable_size(p[i]);
        KT_CHECK(us >= n[i] && us <= HC_TINY_MAX, "tiny %u usable %zu", n[i], us);
        u[i] = (uint8_t)(us <= HC_TINY_MAX ? us : n[i]);
        if (i % 5 == 0)
            KT_CHECK(hc_all_zero(p[i], n[i]), "tiny ZERO %u at %p not zero", n[i], p[i]);
        hc_fill(p[i], u[i]);
    }
    goheap_read_memstats(&st1);
    KT_CHECK(st1.tiny_allocs - st0.tiny_allocs > N / 2, "only %llu tiny allocations counted",
             (unsigned long long)(st1.tiny_allocs - st0.tiny_allocs));
    /* Free in a shuffled order, checking each object's cookie first. */
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)hc_below(&rng, i + 1);
        void *t = p[i];
        uint8_t tn = n[i], tu = u[i];
        p[i] = p[j], n[i] = n[j], u[i] = u[j], p[j] = t, n[j] = tn, u[j] = tu;
    }
    for (unsigned i = 0; i < N; i++) {
        if (!p[i])
            continue;
        size_t bad = hc_check(p[i], u[i]);
        KT_CHECK(bad == (size_t)-1, "tiny %p (%u B, usable %u) damaged at %zu", p[i], n[i], u[i], bad);
        goheap_free(p[i]);
    }
    /* Plain malloc below 16 B never shares: 8-byte alignment, distinct objects. */
    void *a = goheap_malloc(3), *b = goheap_malloc(3);
    KT_CHECK(a && b && a != b && (uintptr_t)a % 8 == 0 && (uintptr_t)b % 8 == 0);
    goheap_free(a);
    goheap_free(b);
}

/* GOHEAP_ALIGN8 opens Go's 8-aligned classes: a 24 B request fits a 24 B slot. */
static void align8_classes(void) {
    static const size_t sizes[] = {17, 24, 40, 48, 8};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = goheap_malloc_flags(sizes[i], GOHEAP_ALIGN8);
        if (!check_fresh(p, sizes[i], 8, "malloc_flags(ALIGN8)"))
            continue;
        if (sizes[i] == 24 || sizes[i] == 17)
            KT_CHECK(goheap_usable_size(p) == 24, "ALIGN8 %zu got usable %zu, want the 24 B class",
                     sizes[i], goheap_usable_size(p));
        goheap_free(p);
    }
}

/* Large objects (> 32 KiB) get their own spans; freeing them gives the pages back. */
static void large_objects(void) {
    struct goheap_memstats st0, st1;
    goheap_free_os_memory();
    goheap_read_memstats(&st0);
    static const size_t sizes[] = {32769, 65536, 100000, 1 << 20, (16 << 20) + 1, 64 << 20};
    void *p[6];
    for (unsigned i = 0; i < 6; i++) {
        p[i] = goheap_malloc(sizes[i]);
        if (check_fresh(p[i], sizes[i], 16, "malloc large"))
            hc_fill(p[i], sizes[i]);
    }
    goheap_read_memstats(&st1);
    uint64_t want = 0;
    for (unsigned i = 0; i < 6; i++)
        want += p[i] ? goheap_usable_size(p[i]) : 0;
    KT_CHECK(st1.heap_alloc - st0.heap_alloc == want, "heap_alloc grew by %llu, objects hold %llu",
             (unsigned long long)(st1.heap_alloc - st0.heap_alloc), (unsigned long long)want);
    for (unsigned i = 0; i < 6; i++)
        if (p[i]) {
            KT_CHECK(hc_check(p[i], sizes[i]) == (size_t)-1, "large %p damaged", p[i]);
            goheap_free(p[i]);
        }
    goheap_free_os_memory();
    goheap_read_memstats(&st1);
    KT_CHECK(st1.heap_inuse == st0.heap_inuse, "heap_inuse %llu, was %llu before",
             (unsigned long long)st1.heap_inuse, (unsigned long long)st0.heap_inuse);
    KT_CHECK(st1.heap_alloc == st0.heap_alloc);
}

/* The stats agree with themselves: Go's invariants, and the metric reader agrees with
 * the MemStats struct when nothing happens in between. */
static void stats_invariants(void) {
    void *p = goheap_malloc(1000);
    struct goheap_memstats st;
    goheap_read_memstats(&st);
    KT_CHECK(st.heap_idle + st.heap_inuse == st.heap_sys);
    KT_CHECK(st.heap_released <= st.heap_idle);
    KT_CHECK(st.heap_alloc <= st.heap_inuse);
    KT_CHECK(st.heap_alloc >= 1024, "heap_alloc %llu with a 1 KiB object live",
             (unsigned long long)st.heap_alloc);
    KT_CHECK(st.sys >= st.heap_sys);
    struct goheap_metric m[64];
    size_t k = goheap_read_metrics(m, 64);
    KT_CHECK(k > 0, "no metrics");
    int seen = 0;
    for (size_t i = 0; i < k; i++)
        if (m[i].name && strcmp(m[i].name, "/memory/classes/heap/objects:bytes") == 0) {
            seen = 1;
            KT_CHECK(m[i].value == st.heap_alloc, "objects:bytes %llu, heap_alloc %llu",
                     (unsigned long long)m[i].value, (unsigned long long)st.heap_alloc);
        }
    KT_CHECK(seen, "/memory/classes/heap/objects:bytes missing");
    goheap_free(p);
}

/* The process's mappings (lines of /proc/self/maps). */
static unsigned count_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    unsigned n = 0;
    for (int c; f && (c = fgetc(f)) != EOF;)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* Giving pages back splits no mapping. 2,000 free runs between live 40 KiB objects,
 * released: each used to become a fresh PROT_NONE mapping, two mappings more per run,
 * and a fragmented heap released in full reached vm.max_map_count (65,530), after
 * which the release's mmap failed (the pages kept their data, read later as zeroed by
 * calloc) and so did every mmap of the process. And what calloc returns from the
 * released runs reads zero. */
#define RELEASE_OBJS 4000
static void release_keeps_mappings(void) {
    static void *p[RELEASE_OBJS];
    for (int i = 0; i < RELEASE_OBJS; i++) {
        p[i] = goheap_malloc(40 << 10);
        KT_CHECK(p[i] != NULL, "malloc 40 KiB #%d", i);
        if (p[i]) { /* dirty its first and last pages */
            memset(p[i], 0xa5, 4096);
            memset((char *)p[i] + (40 << 10) - 4096, 0xa5, 4096);
        }
    }
    for (int i = 0; i < RELEASE_OBJS; i += 2)
        goheap_free(p[i]);
    unsigned before = count_mappings();
    goheap_free_os_memory();
    unsigned after = count_mappings();
    KT_CHECK(after < before + 64, "%u mappings after releasing %d runs, %u before", after, RELEASE_OBJS / 2,
             before);
    int dirty = 0;
    for (int i = 0; i < RELEASE_OBJS; i += 2) {
        unsigned char *q = goheap_calloc(1, 40 << 10);
        KT_CHECK(q != NULL, "calloc 40 KiB #%d", i);
        if (q && memchr(q, 0xa5, 40 << 10))
            dirty++;
        p[i] = q;
    }
    KT_CHECK(dirty == 0, "%d of %d calloc results not zero", dirty, RELEASE_OBJS / 2);
    for (int i = 0; i < RELEASE_OBJS; i++)
        goheap_free(p[i]);
    goheap_free_os_memory();
}

static const struct kt_case cases[] = {
    KT_CASE(malloc_sizes),
    KT_CASE(malloc_zero),
    KT_CASE(calloc_zeroes),
    KT_CASE(realloc_edges),
    KT_CASE(aligned_sizes),
    KT_CASE(tiny_objects),
    KT_CASE(align8_classes),
    KT_CASE(large_objects),
    KT_CASE(stats_invariants),
    KT_CASE(release_keeps_mappings),
};

int main(void) {
    kt_begin("api", KT_NCASES(cases));
    live_base = hc_live_objects();
    return kt_run_cases(cases, KT_NCASES(cases), api_after);
}
