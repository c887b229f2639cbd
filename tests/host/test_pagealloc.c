/* tests/host/test_pagealloc.c: the page allocator's allocation (alloc/pagealloc.c) as
 * table-driven before/after bitmaps and summaries (scavenged bits included), a
 * randomized run against a naive first-fit model, incremental summaries against a
 * recount, summary packing, the page cache, the search hint, placement with room,
 * exhaustion and the corruption panics. Backing and metadata:
 * test_pagealloc_backing.c; the chunk bitmaps underneath (alloc/pallocbits.c):
 * test_pallocbits.c. */
#include "pagealloc_fx.h"
#include "xorshift.h"

/* Naive (start, max, end) of pages [lo, hi) from the bitmaps; pages never grown
 * count as in use. grown[c] says whether chunk c was grown; NULL: all chunks in
 * [chunk_lo, chunk_hi). */
static const unsigned char *naive_grown;
/* When set: which entries of each level have mapped metadata (others are skipped). */
static unsigned char (*naive_mapped)[8200 + 8];
static void naive_sum(struct fx *f, uintptr_t lo, uintptr_t hi, unsigned *s, unsigned *m,
                      unsigned *e) {
    uintptr_t grown_hi = f->pa.chunk_hi * CPAGES, grown_lo = f->pa.chunk_lo * CPAGES;
    unsigned run = 0, max = 0, start = 0;
    int at_start = 1;
    for (uintptr_t p = lo; p < hi; p++) {
        int fr = p >= grown_lo && p < grown_hi && (!naive_grown || naive_grown[p / CPAGES]) &&
                 !page_alloc_bit(f, p);
        if (fr) {
            run++;
            if (run > max)
                max = run;
        } else {
            if (at_start)
                start = run;
            at_start = 0;
            run = 0;
        }
    }
    if (at_start)
        start = run;
    *s = start;
    *m = max;
    *e = run;
}

/* Every summary of every level against the naive recount. Returns mismatches. */
static unsigned check_all_summaries(struct fx *f) {
    static const unsigned logp[PALLOC_LEVELS] = {21, 18, 15, 12, 9};
    unsigned bad = 0;
    uintptr_t npages = f->pa.nchunks * CPAGES;
    for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
        uintptr_t span = (uintptr_t)1 << logp[l];
        for (uintptr_t e = 0; e * span < npages; e++) {
            if (l > 0 && e * span >= f->pa.chunk_hi * CPAGES)
                break;
            if (naive_mapped && !naive_mapped[l][e])
                continue;
            unsigned s, m, en;
            naive_sum(f, e * span, (e + 1) * span, &s, &m, &en);
            pallocsum_t got = f->pa.sum[l][e];
            if (pallocsum_start(got) != s || pallocsum_max(got) != m || pallocsum_end(got) != en) {
                if (bad++ < 4)
                    KT_CHECK(0, "level %u entry %lu: got (%u,%u,%u) want (%u,%u,%u)", l,
                             (unsigned long)e, pallocsum_start(got), pallocsum_max(got),
                             pallocsum_end(got), s, m, en);
            }
        }
    }
    return bad;
}

/* ---- table-driven before/after --------------------------------------------------------- */
struct rng {
    unsigned page, n;
};
enum { OP_ALLOC, OP_FREE, OP_SCAV, OP_GROW };
struct pcase {
    const char *name;
    unsigned nchunks;             /* arena size; the first `grown` chunks are grown */
    unsigned grown;               /* 0: all */
    struct rng free[5], scav[5];  /* before: free pages (rest in use), scavenged subset */
    int op;
    unsigned a, b;                /* alloc: npages; free: page, n; scav: max; grow: chunk, n */
    long want;                    /* alloc/scav: page returned (-1: none) */
    unsigned want_n;              /* alloc: scavenged pages inside; scav: pages taken */
    struct rng afree[5], ascav[5]; /* after */
};

static int in_ranges(const struct rng *r, unsigned p) {
    for (; r->n; r++)
        if (p >= r->page && p < r->page + r->n)
            return 1;
    return 0;
}

#define ALL(nc) {{0, (nc) * CPAGES}}
static const struct pcase cases[] = {
    {"alloc1 fresh heap", 4, 0, ALL(4), ALL(4), OP_ALLOC, 1, 0, 0, 1,
     {{1, 2047}}, {{1, 2047}}},
    {"alloc first fit skips a short hole", 4, 0, {{10, 2}, {112, 1936}}, {{0, 0}}, OP_ALLOC, 3, 0,
     112, 0, {{10, 2}, {115, 1933}}, {{0, 0}}},
    {"alloc fills an exact hole", 4, 0, {{10, 2}, {112, 1936}}, {{0, 0}}, OP_ALLOC, 2, 0, 10, 0,
     {{112, 1936}}, {{0, 0}}},
    {"alloc straddles a chunk boundary", 4, 0, {{500, 1548}}, {{500, 1548}}, OP_ALLOC, 100, 0,
     500, 100, {{600, 1448}}, {{600, 1448}}},
    {"alloc of three chunks", 4, 0, ALL(4), ALL(4), OP_ALLOC, 1536, 0, 0, 1536, {{1536, 512}},
     {{1536, 512}}},
    {"alloc too long for any run fails", 4, 0, {{100, 50}, {700, 40}}, {{100, 10}}, OP_ALLOC, 51,
     0, -1, 0, {{100, 50}, {700, 40}}, {{100, 10}}},
    {"alloc counts and clears only scavenged pages", 4, 0, {{4, 2044}}, {{4, 2}, {9, 3}},
     OP_ALLOC, 8, 0, 4, 5, {{12, 2036}}, {{0, 0}}},
    {"alloc 512 skips fragmented chunks", 4, 0, {{0, 300}, {400, 300}, {1024, 1024}},
     {{1024, 1024}}, OP_ALLOC, 512, 0, 1024, 512, {{0, 300}, {400, 300}, {1536, 512}},
     {{1536, 512}}},
    {"alloc of the whole arena", 4, 0, ALL(4), {{0, 1024}}, OP_ALLOC, 2048, 0, 0, 1024, {{0, 0}},
     {{0, 0}}},
    {"alloc run ending a chunk, not split at the boundary", 4, 0, {{448, 64}, {960, 64}},
     {{0, 0}}, OP_ALLOC, 64, 0, 448, 0, {{960, 64}}, {{0, 0}}},
    {"alloc across a two-chunk free run in the middle", 8, 0, {{1000, 1100}, {3000, 1096}},
     {{0, 0}}, OP_ALLOC, 1100, 0, 1000, 0, {{3000, 1096}}, {{0, 0}}},
    {"free1 in a full heap", 4, 0, {{0, 0}}, {{0, 0}}, OP_FREE, 7, 1, 0, 0, {{7, 1}}, {{0, 0}}},
    {"free across chunks next to scavenged pages", 4, 0, {{400, 100}, {1200, 8}},
     {{400, 100}, {1200, 8}}, OP_FREE, 500, 700, 0, 0, {{400, 808}}, {{400, 100}, {1200, 8}}},
    {"free of a whole chunk", 4, 0, {{0, 0}}, {{0, 0}}, OP_FREE, 1024, 512, 0, 0, {{1024, 512}},
     {{0, 0}}},
    {"scavenge takes the highest free run", 4, 0, {{1000, 1048}}, {{0, 0}}, OP_SCAV, 64, 0, 1984,
     64, {{1000, 1048}}, {{1984, 64}}},
    {"scavenge skips scavenged pages", 4, 0, ALL(4), {{1024, 1024}}, OP_SCAV, 600, 0, 512, 512,
     ALL(4), {{512, 1536}}},
    {"scavenge stays in one chunk", 4, 0, {{1000, 48}}, {{0, 0}}, OP_SCAV, 100, 0, 1024, 24,
     {{1000, 48}}, {{1024, 24}}},
    {"scavenge below an allocated page", 4, 0, {{10, 5}, {20, 4}}, {{0, 0}}, OP_SCAV, 100, 0, 20,
     4, {{10, 5}, {20, 4}}, {{20, 4}}},
    {"nothing left to scavenge", 4, 0, {{10, 5}}, {{10, 5}}, OP_SCAV, 100, 0, -1, 0, {{10, 5}},
     {{10, 5}}},
    {"grow adds free scavenged chunks", 8, 2, {{900, 4}}, {{0, 0}}, OP_GROW, 2, 2, 0, 0,
     {{900, 4}, {1024, 1024}}, {{1024, 1024}}},
    {"grow leaving a hole", 16, 2, {{0, 1024}}, {{0, 1024}}, OP_GROW, 12, 2, 0, 0,
     {{0, 1024}, {6144, 1024}}, {{0, 1024}, {6144, 1024}}},
};

static void build_state(struct fx *f, const struct pcase *c) {
    unsigned grown = c->grown ? c->grown : c->nchunks;
    KT_CHECK(gh_pagealloc_grow(&f->pa, f->arena, grown * CPAGES) == 0, "");
    uintptr_t sc;
    KT_CHECK(gh_pagealloc_alloc(&f->pa, grown * CPAGES, &sc, NULL) == f->arena, "");
    /* free the scavenged ranges and scavenge them, then free the rest */
    for (const struct rng *r = c->scav; r->n; r++)
        gh_pagealloc_free(&f->pa, pg(f, r->page), r->n);
    scavenge_all(&f->pa);
    for (unsigned p = 0; p < grown * CPAGES; p++)
        if (in_ranges(c->free, p) && !in_ranges(c->scav, p))
            gh_pagealloc_free(&f->pa, pg(f, p), 1);
}

/* Pages of grown chunks against the expected free and scavenged ranges. */
static unsigned compare_state(struct fx *f, const unsigned char *grown, const struct rng *fr,
                              const struct rng *sc, const char *when) {
    unsigned bad = 0;
    for (unsigned p = 0; p < f->pa.nchunks * CPAGES; p++) {
        if (!grown[p / CPAGES])
            continue;
        int want_free = in_ranges(fr, p), want_scav = in_ranges(sc, p);
        if (page_alloc_bit(f, p) == want_free || page_scav_bit(f, p) != want_scav) {
            if (bad++ < 4)
                KT_CHECK(0, "%s: page %u alloc=%d scav=%d, want alloc=%d scav=%d", when, p,
                         page_alloc_bit(f, p), page_scav_bit(f, p), !want_free, want_scav);
        }
    }
    return bad;
}

static unsigned count_ranges(const unsigned char *grown, const struct rng *r) {
    unsigned n = 0;
    for (; r->n; r++)
        for (unsigned p = r->page; p < r->page + r->n; p++)
            n += grown[p / CPAGES];
    return n;
}

static void run_case(const struct pcase *c) {
    struct fx f;
    unsigned char grown[64] = {0};
    unsigned ng = c->grown ? c->grown : c->nchunks;
    unsigned long errs = tp_errors;
    if (fx_init(&f, c->nchunks) != 0) {
        KT_CHECK(0, "%s: init", c->name);
        return;
    }
    for (unsigned i = 0; i < ng; i++)
        grown[i] = 1;
    build_state(&f, c);
    if (compare_state(&f, grown, c->free, c->scav, "before")) {
        KT_CHECK(0, "%s: could not build the before state", c->name);
        return;
    }
    uintptr_t sc = 0, n = 0, a;
    int err = -1;
    switch (c->op) {
    case OP_ALLOC:
        a = gh_pagealloc_alloc(&f.pa, c->a, &sc, &err);
        KT_CHECK(page_no(&f, a) == c->want, "%s: page %ld, want %ld", c->name, page_no(&f, a), c->want);
        KT_CHECK(err == (c->want < 0 ? PAGEALLOC_NOSPACE : PAGEALLOC_OK), "%s: err %d", c->name, err);
        if (a) {
            KT_CHECK(sc == c->want_n, "%s: scav %lu, want %u", c->name, (unsigned long)sc, c->want_n);
            KT_CHECK(tp_backed_in(a, c->a * PAGE) == c->a * PAGE, "%s: not all backed", c->name);
        }
        break;
    case OP_FREE:
        gh_pagealloc_free(&f.pa, pg(&f, c->a), c->b);
        break;
    case OP_SCAV:
        a = gh_pagealloc_scavenge_take(&f.pa, c->a, &n);
        KT_CHECK(page_no(&f, a) == c->want, "%s: page %ld, want %ld", c->name, page_no(&f, a), c->want);
        if (a) {
            KT_CHECK(n == c->want_n, "%s: took %lu, want %u", c->name, (unsigned long)n, c->want_n);
            KT_CHECK(gh_pagealloc_page_in_use(&f.pa, a) && f.pa.npages_scavenging == n, "%s", c->name);
            goheap_sys_unmap((void *)a, n * PAGE);
            gh_pagealloc_scavenge_done(&f.pa, a, n);
        }
        break;
    case OP_GROW:
        KT_CHECK(gh_pagealloc_grow(&f.pa, pg(&f, c->a * CPAGES), c->b * CPAGES) == 0, "%s", c->name);
        for (unsigned i = c->a; i < c->a + c->b; i++)
            grown[i] = 1;
        break;
    }
    compare_state(&f, grown, c->afree, c->ascav, c->name);
    naive_grown = grown;
    KT_CHECK(check_all_summaries(&f) == 0, "%s: summaries", c->name);
    naive_grown = NULL;
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "%s: gh_pagealloc_check", c->name);
    KT_CHECK(f.pa.npages_free == count_ranges(grown, c->afree), "%s: free %lu want %u", c->name,
             (unsigned long)f.pa.npages_free, count_ranges(grown, c->afree));
    KT_CHECK(f.pa.npages_scav == count_ranges(grown, c->ascav), "%s: scav %lu want %u", c->name,
             (unsigned long)f.pa.npages_scav, count_ranges(grown, c->ascav));
    KT_CHECK(f.pa.npages_scavenging == 0, "%s", c->name);
    KT_CHECK(tp_errors == errs, "%s: platform contract violated", c->name);
}

static void t_table(void) {
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return xorshift64s(&rng_state); }

/* ---- summary packing -------------------------------------------------------------------------- */
static void t_summary_packing(void) {
    const unsigned big = 1u << 21;
    pallocsum_t s = pallocsum_pack(big - 1, big - 1, big - 1);
    KT_CHECK(pallocsum_start(s) == big - 1 && pallocsum_max(s) == big - 1 &&
                 pallocsum_end(s) == big - 1, "");
    KT_CHECK(!(s >> 63), "2^21-1 must not use bit 63");
    s = pallocsum_pack(big, big, big);
    KT_CHECK(s == 1ull << 63, "fully free root: %#llx", (unsigned long long)s);
    KT_CHECK(pallocsum_start(s) == big && pallocsum_max(s) == big && pallocsum_end(s) == big, "");
    KT_CHECK(pallocsum_pack(0, 0, 0) == 0, "");
    s = pallocsum_pack(3, 17, 5);
    KT_CHECK(pallocsum_start(s) == 3 && pallocsum_max(s) == 17 && pallocsum_end(s) == 5, "");
    /* merging 8 fully free level-1 entries (2^18 pages each) gives the 2^21 root */
    pallocsum_t ch[8];
    for (int i = 0; i < 8; i++)
        ch[i] = pallocsum_pack(1u << 18, 1u << 18, 1u << 18);
    KT_CHECK(gh_pallocsum_merge(ch, 18) == 1ull << 63, "");
    /* start/end carry across fully free children; max joins end + next start */
    ch[0] = pallocsum_pack(1u << 18, 1u << 18, 1u << 18);
    ch[1] = pallocsum_pack(10, 100, 20);
    ch[5] = pallocsum_pack(0, 0, 0);
    s = gh_pallocsum_merge(ch, 18);
    KT_CHECK(pallocsum_start(s) == (1u << 18) + 10, "%u", pallocsum_start(s));
    KT_CHECK(pallocsum_max(s) == 3 * (1u << 18) + 20, "%u", pallocsum_max(s)); /* ch 1..4 */
    KT_CHECK(pallocsum_end(s) == 2 * (1u << 18), "%u", pallocsum_end(s));

    /* A fully grown 16 GiB arena: the root entry is the 2^21 special value. */
    struct fx f;
    KT_CHECK(fx_init(&f, 4096) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 4096 * CPAGES) == 0, "");
    KT_CHECK(f.pa.root_entries == 1 && f.pa.sum[0][0] == 1ull << 63, "root %#llx",
             (unsigned long long)f.pa.sum[0][0]);
    uintptr_t sc, a = gh_pagealloc_alloc(&f.pa, 1, &sc, NULL);
    KT_CHECK(a == f.arena && sc == 1, "");
    s = f.pa.sum[0][0];
    KT_CHECK(pallocsum_start(s) == 0 && pallocsum_max(s) == big - 1 && pallocsum_end(s) == big - 1,
             "(%u,%u,%u)", pallocsum_start(s), pallocsum_max(s), pallocsum_end(s));
    gh_pagealloc_free(&f.pa, a, 1);
    KT_CHECK(f.pa.sum[0][0] == 1ull << 63, "");
    /* the whole 16 GiB at once, then half of it */
    a = gh_pagealloc_alloc(&f.pa, big, &sc, NULL);
    KT_CHECK(a == f.arena && sc == big - 1, "sc=%lu", (unsigned long)sc);
    KT_CHECK(f.pa.sum[0][0] == 0 && f.pa.npages_free == 0, "");
    gh_pagealloc_free(&f.pa, a + (uintptr_t)(big / 2) * PAGE, big / 2);
    s = f.pa.sum[0][0];
    KT_CHECK(pallocsum_start(s) == 0 && pallocsum_max(s) == big / 2 && pallocsum_end(s) == big / 2, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    KT_CHECK(check_all_summaries(&f) == 0, "");
}

/* ---- randomized run against a naive model -------------------------------------------------------- */
#define MODEL_CHUNKS 8
#define MODEL_PAGES (MODEL_CHUNKS * CPAGES)
struct live {
    uintptr_t page, n;
};

/* The model's first fit of n pages starting at or above page from, or -1. */
static long model_fit(const unsigned char *m_alloc, unsigned from, unsigned n) {
    for (unsigned p = from, run = 0; p < MODEL_PAGES; p++) {
        run = m_alloc[p] ? 0 : run + 1;
        if (run == n)
            return (long)(p + 1 - n);
    }
    return -1;
}

/* small_first: runs of PAGECACHE_MAX_ALLOC pages or more are placed by the rule
 * (pagealloc.h): the first fit past the first window if any, else the plain one. */
static void model_random(unsigned small_first) {
    static unsigned char m_alloc[MODEL_PAGES], m_scav[MODEL_PAGES];
    static struct live live[MODEL_PAGES];
    unsigned nlive = 0, bad = 0;
    unsigned long errs = tp_errors;
    struct fx f;
    struct pagecache pc = {0};
    KT_CHECK(fx_init(&f, MODEL_CHUNKS) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, MODEL_PAGES) == 0, "");
    f.pa.small_first = small_first;
    memset(m_alloc, 0, sizeof m_alloc);
    memset(m_scav, 1, sizeof m_scav);
    for (int op = 0; op < 30000 && bad < 5; op++) {
        unsigned r = (unsigned)(rnd() % 100);
        if (r < 45) { /* alloc */
            unsigned n = rnd() % 10 < 7 ? 1 + rnd() % 16 : rnd() % 10 < 7 ? 17 + rnd() % 600 : 600 + rnd() % 1600;
            long want = -1;
            if (small_first && n >= PAGECACHE_MAX_ALLOC)
                want = model_fit(m_alloc, PALLOC_SMALL_FIRST_PAGES, n);
            if (want < 0)
                want = model_fit(m_alloc, 0, n);
            unsigned want_sc = 0;
            uintptr_t sc = 0;
            int err;
            uintptr_t a = gh_pagealloc_alloc(&f.pa, n, &sc, &err);
            if (page_no(&f, a) != want) {
                bad++;
                KT_CHECK(0, "op %d alloc %u: page %ld, want %ld", op, n, page_no(&f, a), want);
                continue;
            }
            if (want < 0) {
                KT_CHECK(err == PAGEALLOC_NOSPACE, "");
                continue;
            }
            for (unsigned p = (unsigned)want; p < want + n; p++) {
                uint64_t *mem = (uint64_t *)pg(&f, p);
                if (m_scav[p]) {
                    want_sc++;
                    if (*mem != 0 && bad++ < 5)
                        KT_CHECK(0, "op %d: fresh page %u not zero", op, p);
                }
                *mem = 0xfeedull << 16 | p; /* dirty it: must be backed */
                m_alloc[p] = 1;
                m_scav[p] = 0;
            }
            KT_CHECK(sc == want_sc, "op %d: scav %lu want %u", op, (unsigned long)sc, want_sc);
            live[nlive++] = (struct live){(uintptr_t)want, n};
        } else if (r < 80 && nlive) { /* free */
            unsigned i = (unsigned)(rnd() % nlive);
            struct live l = live[i];
            live[i] = live[--nlive];
            gh_pagealloc_free(&f.pa, pg(&f, l.page), l.n);
            for (uintptr_t p = l.page; p < l.page + l.n; p++)
                m_alloc[p] = 0;
        } else if (r < 90) { /* scavenge one run */
            unsigned max = 1 + (unsigned)(rnd() % 600);
            long top = -1;
            for (long p = MODEL_PAGES - 1; p >= 0; p--)
                if (!m_alloc[p] && !m_scav[p]) {
                    top = p;
                    break;
                }
            uintptr_t n, a = gh_pagealloc_scavenge_take(&f.pa, max, &n);
            if (top < 0) {
                KT_CHECK(a == 0, "op %d: scavenged with nothing to do", op);
                continue;
            }
            long lo = top;
            while (lo > 0 && (lo - 1) / CPAGES == top / CPAGES && !m_alloc[lo - 1] &&
                   !m_scav[lo - 1] && top - lo + 1 < (long)(max > 512 ? 512 : max))
                lo--;
            if (page_no(&f, a) != lo || (long)n != top - lo + 1) {
                bad++;
                KT_CHECK(0, "op %d scavenge max %u: page %ld n %lu, want %ld n %ld", op, max,
                         page_no(&f, a), (unsigned long)n, lo, top - lo + 1);
                continue;
            }
            goheap_sys_unmap((void *)a, n * PAGE);
            gh_pagealloc_scavenge_done(&f.pa, a, n);
            for (long p = lo; p <= top; p++)
                m_scav[p] = 1;
        } else { /* page cache: refill, a few allocations, flush */
            long first = -1;
            for (unsigned p = 0; p < MODEL_PAGES; p++)
                if (!m_alloc[p]) {
                    first = p;
                    break;
                }
            int rc = gh_pagecache_refill(&f.pa, &pc);
            if (first < 0) {
                KT_CHECK(rc == -1, "op %d: refill of a full heap", op);
                continue;
            }
            unsigned wbase = (unsigned)first & ~63u;
            if (rc != 0 || page_no(&f, pc.base) != wbase) {
                bad++;
                KT_CHECK(0, "op %d: refill rc %d window %ld want %u", op, rc, page_no(&f, pc.base), wbase);
                continue;
            }
            for (unsigned i = 0; i < 64; i++) {
                KT_CHECK(((pc.cache >> i) & 1) == !m_alloc[wbase + i], "op %d bit %u", op, i);
                KT_CHECK(((pc.scav >> i) & 1) == (!m_alloc[wbase + i] && m_scav[wbase + i]), "");
            }
            for (int k = 0; k < 3; k++) {
                unsigned n = 1 + (unsigned)(rnd() % 8);
                long want = -1;
                for (unsigned i = 0, run = 0; i < 64; i++) {
                    run = m_alloc[wbase + i] ? 0 : run + 1;
                    if (run == n) {
                        want = (long)(wbase + i + 1 - n);
                        break;
                    }
                }
                uintptr_t sc;
                int err;
                uintptr_t a = gh_pagecache_alloc(&pc, n, &sc, &err);
                KT_CHECK(page_no(&f, a) == want, "op %d cache alloc %u: %ld want %ld", op, n,
                         page_no(&f, a), want);
                if (!a)
                    continue;
                for (unsigned p = (unsigned)want; p < want + n; p++) {
                    *(volatile uint64_t *)pg(&f, p) = p; /* must be backed */
                    m_alloc[p] = 1;
                    m_scav[p] = 0;
                }
                live[nlive++] = (struct live){(uintptr_t)want, n};
            }
            gh_pagecache_flush(&f.pa, &pc);
            KT_CHECK(pagecache_empty(&pc), "");
        }
        if (op % 64 == 0 || op > 29900) {
            unsigned mism = 0;
            for (unsigned p = 0; p < MODEL_PAGES; p++)
                if (page_alloc_bit(&f, p) != m_alloc[p] || page_scav_bit(&f, p) != (m_scav[p] && !m_alloc[p]))
                    mism++;
            unsigned chk = gh_pagealloc_check(&f.pa);
            if (mism || chk) {
                bad++;
                KT_CHECK(0, "op %d: %u pages differ from the model, check %u", op, mism, chk);
            }
        }
    }
    KT_CHECK(check_all_summaries(&f) == 0, "");
    /* free everything: the whole arena is one free run again */
    while (nlive) {
        nlive--;
        gh_pagealloc_free(&f.pa, pg(&f, live[nlive].page), live[nlive].n);
    }
    KT_CHECK(f.pa.npages_free == MODEL_PAGES, "%lu", (unsigned long)f.pa.npages_free);
    uintptr_t sc;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, MODEL_PAGES, &sc, NULL) == f.arena, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    KT_CHECK(tp_errors == errs, "platform contract violated");
}

static void t_model_random(void) { model_random(0); }
/* The same with the heap's placement rule on: large_addr's searches (with the window's
 * free pages in every state the random page caches leave) place every run as the rule's
 * first fit does, and the validator checks both hints. */
static void t_model_random_small_first(void) { model_random(1); }

/* ---- incremental summary updates against a from-scratch recomputation ----------------------------
 * Summaries are updated incrementally (only the changed leaf, one parent per level).
 * With the allocator's own debug comparison off, after EVERY operation every summary
 * of the tree is recomputed from the bitmaps (leaves by gh_pallocbits_summarize,
 * parents by the full 8-way merge) and compared; at the end the whole tree is also
 * recounted page by page. The grown regions straddle a level-3, a level-2, a level-1
 * and a root boundary (chunks 8, 64, 512 and 4096), so every level sees children in
 * more than one block and fully free siblings on both sides. */
static unsigned char inc_grown[8200];
static unsigned recompute_mismatches(const struct pagealloc *pa) {
    static const unsigned logp[PALLOC_LEVELS] = {21, 18, 15, 12, 9};
    static pallocsum_t fresh[PALLOC_LEVELS][8200 + 8];
    static unsigned char mapped[PALLOC_LEVELS][8200 + 8];
    unsigned bad = 0;
    naive_mapped = mapped;
    uintptr_t nleaf = pa->nchunks;
    memset(mapped, 0, sizeof mapped);
    for (uintptr_t c = 0; c < nleaf; c++) {
        fresh[PALLOC_LEVELS - 1][c] = inc_grown[c] ? gh_pallocbits_summarize(pa->chunks[c].alloc) : 0;
        if (inc_grown[c]) /* grow maps the whole 8-entry block of every ancestor */
            for (unsigned l = 1; l < PALLOC_LEVELS; l++)
                memset(&mapped[l][(c >> (3 * (PALLOC_LEVELS - 1 - l))) & ~(uintptr_t)7], 1, 8);
    }
    mapped[0][0] = mapped[0][1] = mapped[0][2] = 1; /* the root is mapped at init */
    for (int l = PALLOC_LEVELS - 2; l >= 0; l--) {
        uintptr_t n = (nleaf + ((uintptr_t)1 << (3 * (PALLOC_LEVELS - 1 - l))) - 1) >> (3 * (PALLOC_LEVELS - 1 - l));
        uintptr_t nchild = (nleaf + ((uintptr_t)1 << (3 * (PALLOC_LEVELS - 2 - l))) - 1) >>
                           (3 * (PALLOC_LEVELS - 2 - l));
        for (uintptr_t e = nchild; e < n * 8; e++) /* past the arena: no pages */
            fresh[l + 1][e] = 0;
        for (uintptr_t e = 0; e < n; e++)
            fresh[l][e] = gh_pallocsum_merge(&fresh[l + 1][e * 8], logp[l + 1]);
    }
    for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
        uintptr_t n = (nleaf + ((uintptr_t)1 << (3 * (PALLOC_LEVELS - 1 - l))) - 1) >> (3 * (PALLOC_LEVELS - 1 - l));
        for (uintptr_t e = 0; e < n; e++) {
            if (!mapped[l][e]) {
                if (fresh[l][e] != 0 && bad++ < 4)
                    KT_CHECK(0, "level %u entry %lu: free pages under unmapped metadata", l, (unsigned long)e);
                continue;
            }
            if (pa->sum[l][e] != fresh[l][e] && bad++ < 4)
                KT_CHECK(0, "level %u entry %lu: incremental %#llx, recomputed %#llx", l, (unsigned long)e,
                         (unsigned long long)pa->sum[l][e], (unsigned long long)fresh[l][e]);
        }
    }
    return bad;
}

static void t_incremental_random(void) {
    enum { NCH = 8200, MAXLIVE = 4096 };
    static const unsigned regions[][2] = {{0, 3}, {6, 10}, {62, 66}, {510, 514}, {4094, 4099}, {8190, 8200}};
    static struct live live[MAXLIVE];
    unsigned nlive = 0, bad = 0;
    unsigned long errs = tp_errors;
    struct fx f;
    struct pagecache pc = {0};
    KT_CHECK(fx_init(&f, NCH) == 0, "");
    f.pa.debug = 0; /* the test is the check */
    KT_CHECK(f.pa.root_entries == 3, "%u", f.pa.root_entries);
    for (unsigned r = 0; r < sizeof regions / sizeof regions[0]; r++)
        memset(&inc_grown[regions[r][0]], 1, regions[r][1] - regions[r][0]);
    for (unsigned r = 0; r < sizeof regions / sizeof regions[0]; r++)
        KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + regions[r][0] * CHUNK,
                                   (regions[r][1] - regions[r][0]) * CPAGES) == 0, "region %u", r);
    KT_CHECK(recompute_mismatches(&f.pa) == 0, "after grow");
    for (int op = 0; op < 6000 && bad == 0; op++) {
        unsigned r = (unsigned)(rnd() % 100);
        if (r < 45 && nlive < MAXLIVE) {
            unsigned n = rnd() % 10 < 6 ? 1 + rnd() % 16 : rnd() % 10 < 7 ? 17 + rnd() % 600 : 600 + rnd() % 2600;
            uintptr_t sc, a = gh_pagealloc_alloc(&f.pa, n, &sc, NULL);
            if (a)
                live[nlive++] = (struct live){(uintptr_t)page_no(&f, a), n};
        } else if (r < 85 && nlive) {
            unsigned i = (unsigned)(rnd() % nlive);
            struct live l = live[i];
            live[i] = live[--nlive];
            gh_pagealloc_free(&f.pa, pg(&f, l.page), l.n);
        } else if (r < 93) {
            uintptr_t n, a = gh_pagealloc_scavenge_take(&f.pa, 1 + rnd() % 600, &n);
            if (a) {
                goheap_sys_unmap((void *)a, n * PAGE);
                gh_pagealloc_scavenge_done(&f.pa, a, n);
            }
        } else if (gh_pagecache_refill(&f.pa, &pc) == 0) {
            for (int k = 0; k < 3 && nlive < MAXLIVE; k++) {
                unsigned n = 1 + (unsigned)(rnd() % 8);
                uintptr_t sc;
                int err;
                uintptr_t a = gh_pagecache_alloc(&pc, n, &sc, &err);
                if (a)
                    live[nlive++] = (struct live){(uintptr_t)page_no(&f, a), n};
            }
            gh_pagecache_flush(&f.pa, &pc);
        }
        unsigned m = recompute_mismatches(&f.pa) + gh_pagealloc_check(&f.pa);
        if (m) {
            bad++;
            KT_CHECK(0, "op %d: %u summaries differ from the recomputation", op, m);
        }
    }
    naive_grown = inc_grown;
    KT_CHECK(check_all_summaries(&f) == 0, "page-by-page recount");
    while (nlive) {
        nlive--;
        gh_pagealloc_free(&f.pa, pg(&f, live[nlive].page), live[nlive].n);
    }
    KT_CHECK(recompute_mismatches(&f.pa) == 0 && gh_pagealloc_check(&f.pa) == 0, "all free");
    KT_CHECK(check_all_summaries(&f) == 0, "page-by-page recount, all free");
    naive_grown = NULL;
    naive_mapped = NULL;
    KT_CHECK(tp_errors == errs, "platform contract violated");
}

/* ---- page cache ------------------------------------------------------------------------------------ */
static void t_pagecache(void) {
    struct fx f;
    struct pagecache c = {0};
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == -1, "refill before any grow must fail");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    /* pages 0..9 in use (backed), 70..79 in use: window 0 holds 10..63 */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 10, &sc, NULL) == f.arena && sc == 10, "");
    uintptr_t b70 = gh_pagealloc_alloc(&f.pa, 70, &sc, NULL);
    KT_CHECK(b70 == pg(&f, 10), "");
    gh_pagealloc_free(&f.pa, pg(&f, 10), 60); /* 10..69 free and backed, 70..79 in use */
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0, "");
    KT_CHECK(c.base == f.arena, "window %#lx", (unsigned long)c.base);
    KT_CHECK(c.cache == ~0ull << 10, "cache %#llx", (unsigned long long)c.cache);
    KT_CHECK(c.scav == 0, "scav %#llx", (unsigned long long)c.scav);
    KT_CHECK(f.pa.chunks[0].alloc[0] == ~0ull, "the window is in use in the tree");
    KT_CHECK(f.pa.search_addr == pg(&f, 64), "search_addr page %ld", page_no(&f, f.pa.search_addr));
    KT_CHECK(f.pa.npages_free == 2 * CPAGES - 20 - 54, "%lu", (unsigned long)f.pa.npages_free);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* allocations from the cache: lowest first */
    KT_CHECK(gh_pagecache_alloc(&c, 1, &sc, &err) == pg(&f, 10) && sc == 0, "");
    KT_CHECK(gh_pagecache_alloc(&c, 15, &sc, &err) == pg(&f, 11) && sc == 0, "");
    KT_CHECK(gh_pagecache_alloc(&c, 64, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "");
    KT_CHECK(c.cache == ~0ull << 26, "cache %#llx", (unsigned long long)c.cache);
    /* flush: pages 26..63 back to the tree, still backed */
    gh_pagecache_flush(&f.pa, &c);
    KT_CHECK(pagecache_empty(&c) && c.base == 0, "");
    KT_CHECK(f.pa.chunks[0].alloc[0] == (1ull << 26) - 1, "alloc %#llx",
             (unsigned long long)f.pa.chunks[0].alloc[0]);
    KT_CHECK(f.pa.chunks[0].scav[0] == 0, "");
    KT_CHECK(f.pa.search_addr == pg(&f, 26), "search_addr page %ld", page_no(&f, f.pa.search_addr));
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* a window of fresh (scavenged) pages: the cache maps them on allocation */
    gh_pagealloc_free(&f.pa, pg(&f, 0), 10);
    gh_pagealloc_free(&f.pa, pg(&f, 10), 1);
    gh_pagealloc_free(&f.pa, pg(&f, 11), 15);
    gh_pagealloc_free(&f.pa, b70 + 60 * PAGE, 10);
    KT_CHECK(scavenge_all(&f.pa) == 80, ""); /* everything free and backed was 0..79 */
    KT_CHECK(f.pa.npages_scav == 2 * CPAGES, "");
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0 && c.cache == ~0ull && c.scav == ~0ull, "");
    KT_CHECK(f.pa.npages_scav == 2 * CPAGES - 64 && f.pa.npages_free == 2 * CPAGES - 64, "");
    uintptr_t a = gh_pagecache_alloc(&c, 3, &sc, &err);
    KT_CHECK(a == f.arena && sc == 3 && err == PAGEALLOC_OK, "");
    KT_CHECK(tp_backed_in(f.arena, 64 * PAGE) == 3 * PAGE, "only the 3 pages are backed");
    KT_CHECK(c.scav == ~0ull << 3 && c.cache == ~0ull << 3, "");
    /* a map failure keeps the pages in the cache, scavenged */
    tp_fail_maps_after = 0;
    KT_CHECK(gh_pagecache_alloc(&c, 2, &sc, &err) == 0 && err == PAGEALLOC_NOMEM, "");
    tp_fail_maps_after = -1;
    KT_CHECK(c.scav == ~0ull << 3 && c.cache == ~0ull << 3, "");
    gh_pagecache_flush(&f.pa, &c);
    KT_CHECK(f.pa.npages_scav == 2 * CPAGES - 3 && f.pa.npages_free == 2 * CPAGES - 3, "");
    KT_CHECK(f.pa.chunks[0].scav[0] == ~0ull << 3, "");
    gh_pagealloc_free(&f.pa, a, 3);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* refill of a non-empty cache is a bug */
    jmp_buf jb;
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0, "");
    tp_panic_jmp = &jb;
    if (setjmp(jb) == 0) {
        gh_pagecache_refill(&f.pa, &c);
        KT_CHECK(0, "refill of a full cache did not panic");
    }
    tp_panic_jmp = NULL;
    KT_CHECK(strstr(tp_last_panic, "non-empty cache") != NULL, "%s", tp_last_panic);
}

/* ---- the search hint --------------------------------------------------------------------------------- */
static void t_search_addr(void) {
    struct fx f;
    uintptr_t sc;
    KT_CHECK(fx_init(&f, 4) == 0, "");
    KT_CHECK(f.pa.search_addr == f.pa.limit, "nothing grown: the hint is at the end");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + CHUNK, CPAGES) == 0, "");
    KT_CHECK(f.pa.search_addr == f.arena + CHUNK, "grow lowers the hint to its base");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, CPAGES) == 0, "");
    KT_CHECK(f.pa.search_addr == f.arena, "");
    /* single pages advance the hint one by one */
    for (unsigned i = 0; i < 5; i++)
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, NULL) == pg(&f, i), "");
    KT_CHECK(f.pa.search_addr == pg(&f, 5), "page %ld", page_no(&f, f.pa.search_addr));
    /* a run that starts at the first free page moves the hint past it */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 10, &sc, NULL) == pg(&f, 5), "");
    KT_CHECK(f.pa.search_addr == pg(&f, 15), "page %ld", page_no(&f, f.pa.search_addr));
    /* free below the hint lowers it; a larger run elsewhere leaves it at the hole */
    gh_pagealloc_free(&f.pa, pg(&f, 2), 1);
    KT_CHECK(f.pa.search_addr == pg(&f, 2), "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 4, &sc, NULL) == pg(&f, 15), "");
    KT_CHECK(f.pa.search_addr == pg(&f, 2), "page %ld: page 2 is still free",
             page_no(&f, f.pa.search_addr));
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, NULL) == pg(&f, 2), "");
    KT_CHECK(f.pa.search_addr == pg(&f, 3), "page %ld", page_no(&f, f.pa.search_addr));
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* a run that crosses chunks, then the fast path inside the hint's chunk */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 600, &sc, NULL) == pg(&f, 19), "");
    KT_CHECK(f.pa.search_addr == pg(&f, 3), "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* an arena with a hole: the hint never lands in unmapped metadata */
    struct fx g;
    KT_CHECK(fx_init(&g, 64) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&g.pa, g.arena, CPAGES) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&g.pa, g.arena + 60 * CHUNK, CPAGES) == 0, "");
    KT_CHECK(gh_pagealloc_alloc(&g.pa, CPAGES, &sc, NULL) == g.arena, "");
    KT_CHECK(g.pa.search_addr == g.arena + CHUNK, "hint in the hole");
    KT_CHECK(gh_pagealloc_alloc(&g.pa, 1, &sc, NULL) == g.arena + 60 * CHUNK, "");
    KT_CHECK(gh_pagealloc_alloc(&g.pa, 2, &sc, NULL) == g.arena + 60 * CHUNK + PAGE, "");
    KT_CHECK(gh_pagealloc_alloc(&g.pa, CPAGES, &sc, NULL) == 0, "no room left for a chunk");
    KT_CHECK(gh_pagealloc_check(&g.pa) == 0, "");
}

/* gh_pagealloc_alloc_room: the first npages of the first run of npages + room, the
 * room left free; the hint rule; no run: NOSPACE with the heap untouched, and a
 * failed 1-page request with room does not mark the heap full. */
static void t_alloc_room(void) {
    struct fx f;
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    /* holes of 3 pages at 10 and of 20 pages at 100; in use elsewhere up to 300 */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 300, &sc, NULL) == pg(&f, 0), "");
    gh_pagealloc_free(&f.pa, pg(&f, 10), 3);
    gh_pagealloc_free(&f.pa, pg(&f, 100), 20);
    /* 2 pages with room 2: the 3-page hole is too small, the 20-page one fits */
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 2, 2, &sc, &err) == pg(&f, 100) && err == PAGEALLOC_OK, "");
    for (uintptr_t i = 102; i < 120; i++)
        KT_CHECK(!page_alloc_bit(&f, i), "room page %lu taken", (unsigned long)i);
    KT_CHECK(f.pa.search_addr == pg(&f, 10), "hint at the first hole: page %ld", page_no(&f, f.pa.search_addr));
    /* room 0 is plain first fit */
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 2, 0, &sc, &err) == pg(&f, 10), "");
    /* a run that crosses the chunk boundary: 200 + 400 from page 300 */
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 200, 400, &sc, &err) == pg(&f, 300), "");
    KT_CHECK(!page_alloc_bit(&f, 500) && page_alloc_bit(&f, 499), "");
    /* no such run: NOSPACE, nothing taken, the hint not set to the limit */
    uintptr_t hint = f.pa.search_addr;
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 1, 2 * CPAGES, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "");
    KT_CHECK(f.pa.search_addr == hint, "hint moved");
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 1, ~(uintptr_t)0, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE,
             "overflowing room");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, NULL) == pg(&f, 12), "a page is still found");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* ---- exhaustion ------------------------------------------------------------------------------------------ */
/* pa->small_first (the heap's): runs of PAGECACHE_MAX_ALLOC pages or more leave the
 * first page-cache window to the page caches while they fit above it; smaller runs and
 * page caches still take it first; with no room above, the window serves them (before
 * any growth); the hint stays a lower bound. */
static void t_small_first(void) {
    struct fx f;
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, CPAGES) == 0, "");
    f.pa.small_first = 1;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 3, &sc, NULL) == pg(&f, 0), "a small run: first fit");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 100, &sc, NULL) == pg(&f, PALLOC_SMALL_FIRST_PAGES),
             "a large run past the window");
    KT_CHECK(f.pa.search_addr == pg(&f, 3), "hint at the window's first free page: %ld",
             page_no(&f, f.pa.search_addr));
    KT_CHECK(gh_pagealloc_alloc(&f.pa, PAGECACHE_MAX_ALLOC - 1, &sc, NULL) == pg(&f, 3), "below the bound");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, PAGECACHE_MAX_ALLOC, &sc, NULL) == pg(&f, PALLOC_SMALL_FIRST_PAGES + 100),
             "the bound itself");
    /* with room: placed past the window too */
    KT_CHECK(gh_pagealloc_alloc_room(&f.pa, 2, 30, &sc, &err) == pg(&f, PALLOC_SMALL_FIRST_PAGES + 116), "");
    gh_pagealloc_free(&f.pa, pg(&f, PALLOC_SMALL_FIRST_PAGES + 116), 2);
    /* nothing fits above: the window serves a run that fits there */
    uintptr_t above = CPAGES - PALLOC_SMALL_FIRST_PAGES - 116;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, above, &sc, NULL) == pg(&f, PALLOC_SMALL_FIRST_PAGES + 116), "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 20, &sc, NULL) == pg(&f, 18), "the window, as a last fit");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 40, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "no fit anywhere");
    /* a page cache takes the window's free pages */
    struct pagecache c = {0};
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0 && c.base == pg(&f, 0) && c.cache == ~0ull << 38,
             "cache %#lx bits %#llx", (unsigned long)c.base, (unsigned long long)c.cache);
    gh_pagecache_flush(&f.pa, &c);
    /* plain first fit without the flag */
    f.pa.small_first = 0;
    gh_pagealloc_free(&f.pa, pg(&f, PALLOC_SMALL_FIRST_PAGES), 100);
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 100, &sc, NULL) == pg(&f, 38), "first fit across the window");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* The hint of the runs small_first places (large_addr): with the window keeping free
 * pages, search_addr stays in it; once chunk 0 is full past the window, a large run
 * is searched from large_addr, and lands where the rule's first fit puts it (the
 * addresses the plain search and find_past_small_first gave before the hint): a hole
 * freed past the window, a fit in the window hidden while one fits above, a window
 * run that runs on past it. */
static void t_small_first_hint(void) {
    struct fx f;
    uintptr_t sc;
    KT_CHECK(fx_init(&f, 8) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 6 * CPAGES) == 0, "");
    f.pa.small_first = 1;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 3, &sc, NULL) == pg(&f, 0), "a small span in the window");
    for (unsigned i = 0; i < 7; i++) /* chunk 0 past the window */
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 64, &sc, NULL) == pg(&f, 64 + 64 * i), "run %u", i);
    for (unsigned i = 0; i < 12; i++) /* chunks 1-3 */
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 128, &sc, NULL) == pg(&f, 512 + 128 * i), "run %u", i);
    KT_CHECK(f.pa.search_addr == pg(&f, 3), "search_addr stays in the window: page %ld",
             page_no(&f, f.pa.search_addr));
    KT_CHECK(f.pa.large_addr == pg(&f, 2048), "large_addr past the runs: page %ld", page_no(&f, f.pa.large_addr));
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    gh_pagealloc_free(&f.pa, pg(&f, 1152), 128); /* a hole in chunk 2 */
    KT_CHECK(f.pa.large_addr == pg(&f, 1152), "a free lowers it: page %ld", page_no(&f, f.pa.large_addr));
    f.pa.large_addr = pg(&f, 2048); /* a hint past a free page: the validator names it */
    KT_CHECK(gh_pagealloc_check(&f.pa) == 1 && strstr(tp_last_log, "below large_addr") != NULL, "%s", tp_last_log);
    f.pa.large_addr = pg(&f, 1152);
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 200, &sc, NULL) == pg(&f, 2048), "too long for the hole");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 100, &sc, NULL) == pg(&f, 1152), "the hole");
    /* 40 fits in the window (pages 3-63): hidden while it fits above */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 40, &sc, NULL) == pg(&f, 2248), "past the window and the hole's rest");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 16, &sc, NULL) == pg(&f, 1252), "the hole's rest");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 12, &sc, NULL) == pg(&f, 3), "a small run: the window");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* the window's free pages 15-63 run on into 64-127 once those are free: 113 pages */
    gh_pagealloc_free(&f.pa, pg(&f, 64), 64);
    KT_CHECK(f.pa.large_addr == pg(&f, 64), "page %ld", page_no(&f, f.pa.large_addr));
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 100, &sc, NULL) == pg(&f, 2288), "not across the window's end");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 64, &sc, NULL) == pg(&f, 64), "at the window's end");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* a run wholly inside the window leaves large_addr alone */
    uintptr_t was = f.pa.large_addr;
    gh_pagealloc_free(&f.pa, pg(&f, 3), 12);
    KT_CHECK(f.pa.large_addr == was && f.pa.search_addr == pg(&f, 3), "");
    /* nothing fits past the window: the window, as a last fit (the plain search) */
    uintptr_t rest = 6 * CPAGES - 2388;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, rest, &sc, NULL) == pg(&f, 2388), "the last run past the window");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 60, &sc, NULL) == pg(&f, 3), "the window");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

static void t_exhaustion(void) {
    struct fx f;
    uintptr_t sc, pages[2 * CPAGES];
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    for (unsigned i = 0; i < 2 * CPAGES; i++) {
        pages[i] = gh_pagealloc_alloc(&f.pa, 1, &sc, NULL);
        KT_CHECK(pages[i] == pg(&f, i), "page %u", i);
    }
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "");
    KT_CHECK(f.pa.search_addr == f.pa.limit, "a failed 1-page alloc marks the heap full");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 3, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "");
    struct pagecache c = {0};
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == -1, "");
    gh_pagealloc_free(&f.pa, pages[777], 1);
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, NULL) == pages[777], "a free restores it");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 1, &sc, NULL) == 0, "");
    for (unsigned i = 0; i < 2 * CPAGES; i++)
        gh_pagealloc_free(&f.pa, pages[i], 1);
    KT_CHECK(f.pa.npages_free == 2 * CPAGES, "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 2 * CPAGES, &sc, NULL) == f.arena && sc == 0,
             "the full capacity is available again");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 2 * CPAGES + 1, &sc, &err) == 0 && err == PAGEALLOC_NOSPACE, "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 0, &sc, &err) == 0, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* ---- corruption panics with the address ---------------------------------------------------------------- */
static void t_bad_free_panics(void) {
    struct fx f;
    uintptr_t sc;
    jmp_buf jb;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    uintptr_t a = gh_pagealloc_alloc(&f.pa, 4, &sc, NULL);
    gh_pagealloc_free(&f.pa, a, 4);
    char want[128];
    snprintf(want, sizeof want, "goheap: pagealloc: free of pages not in use (addr, npages) (0x%lx, 0x4)",
             (unsigned long)a);
    tp_panic_jmp = &jb;
    if (setjmp(jb) == 0) {
        gh_pagealloc_free(&f.pa, a, 4);
        KT_CHECK(0, "double free did not panic");
    }
    KT_CHECK(strcmp(tp_last_panic, want) == 0, "got '%s'", tp_last_panic);
    if (setjmp(jb) == 0) {
        gh_pagealloc_free(&f.pa, a + 100, 1);
        KT_CHECK(0, "misaligned free did not panic");
    }
    KT_CHECK(strstr(tp_last_panic, "free of pages not in use") != NULL, "%s", tp_last_panic);
    if (setjmp(jb) == 0) {
        gh_pagealloc_grow(&f.pa, f.arena, CPAGES);
        KT_CHECK(0, "double grow did not panic");
    }
    KT_CHECK(strstr(tp_last_panic, "already grown") != NULL, "%s", tp_last_panic);
    tp_panic_jmp = NULL;
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

static const struct kt_case suite_cases[] = {
    KT_CASE(t_summary_packing),
    KT_CASE(t_table),
    KT_CASE(t_model_random),
    KT_CASE(t_model_random_small_first),
    KT_CASE(t_incremental_random),
    KT_CASE(t_pagecache),
    KT_CASE(t_search_addr),
    KT_CASE(t_alloc_room),
    KT_CASE(t_small_first),
    KT_CASE(t_small_first_hint),
    KT_CASE(t_exhaustion),
    KT_CASE(t_bad_free_panics),
};

int main(void) {
    kt_begin("pagealloc", KT_NCASES(suite_cases));
    return kt_run_cases(suite_cases, KT_NCASES(suite_cases), 0);
}
