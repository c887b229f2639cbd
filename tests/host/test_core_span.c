/* tests/host/test_core_span.c: spans: the object-index arithmetic (exhaustively, with
 * the one-multiply interior-pointer test), span set-up invariants, the bitmap word
 * walk, remote-free sweeping and the checks that catch bad frees. */
#include "test_core_common.h"

/* For every class and every byte offset in a span, gh_span_objindex is the exact
 * quotient for slot starts and -1 for every other offset. */
static void t_objindex_exhaustive(void) {
    struct mspan s;
    memset(&s, 0, sizeof s);
    unsigned bad = 0;
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        unsigned size = goheap_class_to_size[cl];
        uintptr_t bytes = (uintptr_t)goheap_class_to_npages[cl] << GOHEAP_PAGE_SHIFT;
        s.divmul = goheap_class_to_divmagic[cl];
        for (uintptr_t off = 0; off < bytes; off++) {
            int32_t idx = gh_span_objindex(&s, off);
            int32_t want = off % size == 0 ? (int32_t)(off / size) : -1;
            if (idx != want && bad++ < 5)
                printf("    # class %u off %lu: got %d want %d\n", cl, (unsigned long)off, idx, want);
        }
    }
    KT_CHECK(bad == 0, "%u wrong indices", bad);
}

static struct mspan *new_span(unsigned spc) {
    /* words for the bitmaps of the largest span (16 words x 2) plus tiny counts;
     * memory for the longest span */
    size_t sz = (sizeof(struct mspan) + 2 * 16 * 8 + 1536 + 63) & ~(size_t)63;
    struct mspan *s = aligned_alloc(64, sz);
    memset(s, 0, sz);
    void *mem = aligned_alloc(8192, GOHEAP_MAX_SIZE_CLASS_NPAGES * GOHEAP_PAGE_SIZE);
    gh_span_init_small(s, (uintptr_t)mem, spc, 0);
    return s;
}

static void free_span(struct mspan *s) {
    free((void *)s->base);
    free(s);
}

/* Set-up: slots past nelems are never free; no word is current until the first
 * gh_span_next_word, which picks word 0. */
static void t_span_init(void) {
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        struct mspan *s = new_span(cl << 1);
        KT_CHECK(s->nelems == goheap_class_to_nobjs[cl], "class %u", cl);
        KT_CHECK(s->nwords == (s->nelems + 63) / 64, "class %u", cl);
        KT_CHECK(s->limit == s->base + (uintptr_t)s->nelems * s->elemsize, "class %u", cl);
        unsigned free_slots = 0;
        for (unsigned w = 0; w < s->nwords; w++)
            free_slots += gh_popcount64(s->freeBits[w]);
        KT_CHECK(free_slots == s->nelems, "class %u: %u free slots", cl, free_slots);
        KT_CHECK(s->curword == GH_NO_WORD && !gh_span_word_has_free(s), "class %u", cl);
        KT_CHECK(gh_span_next_word(s) && s->curword == 0 && s->wbits == &s->freeBits[0] &&
                     s->wordbase == s->base,
                 "class %u", cl);
        KT_CHECK(gh_span_count_live(s) == 0, "class %u", cl);
        free_span(s);
    }
}

/* Taking every slot through the current word, word by word, hands out each slot once,
 * in address order, and then reports the span full. */
static void t_span_walk(void) {
    unsigned spc = 2 << 1; /* 16 B, 512 slots, 8 words */
    struct mspan *s = new_span(spc);
    unsigned n = 0, order_ok = 1;
    uintptr_t prev = 0;
    for (;;) {
        if (!gh_span_word_has_free(s) && !gh_span_next_word(s))
            break;
        uintptr_t p = (uintptr_t)gh_span_take(s);
        if (n && p != prev + 16)
            order_ok = 0;
        prev = p;
        n++;
    }
    KT_CHECK(n == 512, "took %u", n);
    KT_CHECK(order_ok, "slots not in address order");
    KT_CHECK(gh_span_count_live(s) == 512, "live %u", gh_span_count_live(s));
    /* Remote frees of slots 3 and 300, then a sweep: both reusable. */
    atomic_fetch_or(&s->remoteFree[0], 1ull << 3); /* (R: set = pending) */
    atomic_fetch_or(&s->remoteFree[300 / 64], 1ull << (300 % 64));
    KT_CHECK(gh_span_sweep_remote(s, 0) == 2, "");
    KT_CHECK(s->needzero == 1, "a sweep that freed must set needzero");
    KT_CHECK(gh_span_count_live(s) == 510, "");
    KT_CHECK(gh_span_next_word(s) && s->curword == 0, "");
    KT_CHECK((uintptr_t)gh_span_take(s) == s->base + 3 * 16, "");
    KT_CHECK(!gh_span_word_has_free(s), "");
    KT_CHECK(gh_span_next_word(s) && s->curword == 300 / 64, "");
    KT_CHECK((uintptr_t)gh_span_take(s) == s->base + 300 * 16, "");
    free_span(s);
}

/* gh_span_sweep_remote on an owned span: with nothing pending it reads the words and
 * stops (no sweep, sweepseq unchanged); a pending bit is taken into freeBits and
 * counted; a second freer's bit, the same. */
static void t_sweep_remote(void) {
    struct mspan *s = new_span(2 << 1); /* 16 B, 8 words */
    while (gh_span_word_has_free(s) || gh_span_next_word(s))
        gh_span_take(s);
    atomic_store(&s->owner, 3u); /* CPU 3's now */
    uint32_t seq = atomic_load(&s->sweepseq);
    KT_CHECK(!gh_span_remote_pending(s) && gh_span_sweep_remote(s, 0) == 0 && atomic_load(&s->sweepseq) == seq,
             "nothing pending: no sweep");
    atomic_fetch_or(&s->remoteFree[5], 1ull << 9); /* a remote freer's OR */
    KT_CHECK(gh_span_remote_pending(s), "pending");
    KT_CHECK(gh_span_sweep_remote(s, 0) == 1 && gh_span_rpend(s, 5, memory_order_relaxed) == 0, "the owner's sweep takes the bit");
    KT_CHECK(gh_span_count_live(s) == 511, "live %u", gh_span_count_live(s));
    atomic_fetch_or(&s->remoteFree[0], 1ull << 1); /* another freer */
    KT_CHECK(gh_span_sweep_remote(s, 0) == 1 && gh_span_count_live(s) == 510, "live %u", gh_span_count_live(s));
    KT_CHECK(atomic_load(&s->owner) == 3u, "owner unchanged (0x%x)", atomic_load(&s->owner));
    free_span(s);
}

/* Next fit: the word after the one last current is taken first (it was left longest
 * ago), wrapping, not the lowest word with a free slot. */
static void t_next_fit(void) {
    struct mspan *s = new_span(2 << 1); /* 16 B, 8 words */
    for (unsigned w = 0; w < s->nwords; w++)
        s->freeBits[w] = 0;
    s->freeBits[0] |= 1ull;   /* one free slot in word 0 */
    s->freeBits[5] |= 0x7ull; /* three in word 5 */
    s->wlast = 2;               /* word 2 was the last current */
    KT_CHECK(gh_span_next_word(s) && s->curword == 5, "after word 2: word %u, want 5", s->curword);
    KT_CHECK(s->wbits == &s->freeBits[5] && s->wordbase == s->base + 5 * 64 * 16, "word 5's pointers");
    KT_CHECK(gh_popcount64(*s->wbits) == 3, "word 5 has 3 free slots, sees %u", gh_popcount64(*s->wbits));
    /* nothing taken: word 5 keeps its 3 */
    KT_CHECK(gh_span_next_word(s) && s->curword == 0, "after word 5: wraps to word 0, got %u", s->curword);
    gh_span_take(s);
    KT_CHECK(gh_span_next_word(s) && s->curword == 5, "after word 0: word 5, got %u", s->curword);
    while (gh_span_word_has_free(s))
        gh_span_take(s);
    KT_CHECK(!gh_span_next_word(s), "no free slot left");
    KT_CHECK(s->curword == 5 && !gh_span_word_has_free(s), "a failed look keeps the full word current");
    free_span(s);
}

/* The tail-slot classes: the slot index nelems (in tail waste) is never free. */
static void t_span_tail(void) {
    struct mspan *s = new_span(3 << 1); /* 24 B: 341 slots, 8 B tail */
    KT_CHECK((s->freeBits[5] >> (341 % 64)) == 0, "tail bits clear (never free)");
    free_span(s);
}

/* ---- through the API ---- */

static void t_local_free_reuse(void) {
    void *a = goheap_malloc(64), *b = goheap_malloc(64);
    goheap_free(a);
    void *c = goheap_malloc(64);
    KT_CHECK(c == a, "a local free is reused at once (LIFO within the word)");
    goheap_free(b);
    goheap_free(c);
}

static void dbl_local(void) {
    void *p = goheap_malloc(48);
    goheap_free(p);
    goheap_free(p);
}
static void dbl_after_word_change(void) {
    /* Free an object, move the cache to a later word, free it again. */
    void *p[200];
    for (int i = 0; i < 200; i++)
        p[i] = goheap_malloc(16);
    goheap_free(p[0]);
    goheap_free(p[0]);
}
static void interior(void) {
    char *p = goheap_malloc(100);
    goheap_free(p + 8);
}
static void nonheap(void) {
    static char x[64];
    goheap_free(x + 16);
}
static void deadspan(void) {
    /* 20 MiB: beyond both large span caches, so the first free unmaps the span */
    char *p = goheap_malloc(20 << 20);
    goheap_free(p);
    goheap_free(p);
}
static void dbl_large_heapcached(void) {
    /* 1 MiB: the first free keeps the span in the heap's large span cache */
    char *p = goheap_malloc(1 << 20);
    goheap_free(p);
    goheap_free(p);
}
static void dbl_large_cached(void) {
    /* 100000 B: the first free keeps the span in this CPU's large span cache */
    char *p = goheap_malloc(100000);
    goheap_free(p);
    goheap_free(p);
}
static void tailslot(void) {
    /* base + nelems * size of a 24 B (ALIGN8) span lies in its 8 B tail */
    char *p = goheap_malloc_flags(24, GOHEAP_ALIGN8);
    struct mspan *s = gh_span_of((uintptr_t)p);
    goheap_free((void *)s->limit);
}
static void *remote_free_thread(void *p) {
    goheap_free(p);
    return 0;
}
#include <pthread.h>
static void dbl_local_then_remote(void) {
    void *p = goheap_malloc(32), *keep = goheap_malloc(32);
    goheap_free(p); /* local */
    pthread_t t;
    pthread_create(&t, 0, remote_free_thread, p); /* remote: the OR cannot see it */
    pthread_join(t, 0);
    goheap_flush(); /* the sweep notices */
    (void)keep;
}
static void dbl_remote(void) {
    void *p = goheap_malloc(32);
    pthread_t t;
    pthread_create(&t, 0, remote_free_thread, p);
    pthread_join(t, 0);
    pthread_create(&t, 0, remote_free_thread, p);
    pthread_join(t, 0);
}

static void t_bad_frees(void) {
    KT_CHECK(core_dies_with(dbl_local, "goheap: fatal: double free: 0x"), "local double free");
    KT_CHECK(core_dies_with(dbl_after_word_change, "goheap: fatal: double free: 0x"), "");
    KT_CHECK(core_dies_with(interior, "goheap: fatal: invalid free of an interior pointer: 0x"), "");
    KT_CHECK(core_dies_with(nonheap, "goheap: fatal: invalid free of a non-heap pointer: 0x"), "");
    KT_CHECK(core_dies_with(deadspan, "goheap: fatal: free into a dead span: 0x"), "");
    KT_CHECK(core_dies_with(dbl_large_cached, "goheap: fatal: double free: 0x"), "cached large span");
    KT_CHECK(core_dies_with(dbl_large_heapcached, "goheap: fatal: double free: 0x"), "large span in the heap's cache");
    KT_CHECK(core_dies_with(tailslot, "goheap: fatal: invalid free of an interior pointer: 0x"), "");
    KT_CHECK(core_dies_with(dbl_local_then_remote, "goheap: fatal: double free: 0x"), "local+remote");
    KT_CHECK(core_dies_with(dbl_remote, "goheap: fatal: double free: 0x"), "remote twice");
    KT_CHECK(core_dies_with(dbl_local, "class 5 objsize 48"), "message names class and size");
}

/* The owner's free (gh_free_cached, inline in goheap_free): into another word of the
 * current span and into a parked span, the slot's freeBits bit is set once and
 * counted in lfree; a second free, an interior pointer and a pending remote free of
 * the slot each stop with the exact message naming the address. */
static void *t2_p[400];
static void t2_fill(unsigned n) { /* 48 B: 170 per span, 3 words */
    for (unsigned i = 0; i < n; i++)
        t2_p[i] = goheap_malloc(48);
}
static void t2_dbl_word(void) {
    t2_fill(100); /* the current word is now word 1 of the first span */
    goheap_free(t2_p[3]);
    core_expect_bad_free("double free", t2_p[3]);
    goheap_free(t2_p[3]);
}
static void t2_interior_word(void) {
    t2_fill(100);
    core_expect_bad_free("invalid free of an interior pointer", (char *)t2_p[3] + 16);
    goheap_free((char *)t2_p[3] + 16);
}
static void t2_dbl_parked(void) {
    t2_fill(400); /* the first span full, parked: still this CPU's */
    goheap_free(t2_p[5]);
    core_expect_bad_free("double free", t2_p[5]);
    goheap_free(t2_p[5]);
}
static void *t2_remote(void *p) {
    goheap_free(p);
    return 0;
}
static void t2_remote_then_owner(void) {
    t2_fill(400);
    pthread_t t;
    pthread_create(&t, 0, t2_remote, t2_p[7]); /* pending in remoteFree */
    pthread_join(t, 0);
    core_expect_bad_free("double free", t2_p[7]);
    goheap_free(t2_p[7]);
}
static void t_owned_free(void) {
    t2_fill(400);
    struct mspan *s = gh_span_of((uintptr_t)t2_p[0]);
    KT_CHECK(s == gh_span_of((uintptr_t)t2_p[169]) && s != gh_span_of((uintptr_t)t2_p[170]), "170 per span");
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    goheap_sys_unpin(pin);
    KT_CHECK(atomic_load(&s->owner) == cpu && s->curword == GH_NO_WORD, "first span parked (owner %u)",
             (unsigned)atomic_load(&s->owner));
    uint64_t before = s->freeBits[0], lfree = s->lfree;
    goheap_free(t2_p[2]);
    KT_CHECK(s->freeBits[0] == (before | (1ull << 2)), "freeBits bit 2 set");
    KT_CHECK(s->lfree == lfree + 1 && gh_span_needzero(s), "counted");
    KT_CHECK(goheap_validate() == 0, "");
    /* A remote free pending in the same word; the owner's next free into it frees and
     * counts the same way, and leaves the pending slot pending. */
    pthread_t t;
    pthread_create(&t, 0, t2_remote, t2_p[4]);
    pthread_join(t, 0);
    KT_CHECK(atomic_load(&s->owner) == cpu, "still owned (owner 0x%x)", (unsigned)atomic_load(&s->owner));
    before = s->freeBits[0], lfree = s->lfree;
    goheap_free(t2_p[3]);
    KT_CHECK(s->freeBits[0] == (before | (1ull << 3)) && s->lfree == lfree + 1, "freed by the owner");
    KT_CHECK(!(s->freeBits[0] & (1ull << 4)) && (gh_span_rpend(s, 0, memory_order_relaxed) & (1ull << 4)), "slot 4 pending");
    KT_CHECK(goheap_validate() == 0, "");
    t2_p[3] = goheap_malloc(48); /* (the loop below frees every slot but 2 and 4) */
    t2_p[4] = goheap_malloc(48);
    for (unsigned i = 0; i < 400; i++)
        if (i != 2)
            goheap_free(t2_p[i]);
    KT_CHECK(core_dies_exact(t2_dbl_word), "double free, another word of the current span");
    KT_CHECK(core_dies_exact(t2_interior_word), "interior pointer, another word");
    KT_CHECK(core_dies_exact(t2_dbl_parked), "double free, parked span");
    KT_CHECK(core_dies_exact(t2_remote_then_owner), "remote then owner, parked span");
}


static const struct kt_case cases[] = {
    KT_CASE(t_objindex_exhaustive),
    KT_CASE(t_span_init),
    KT_CASE(t_span_walk),
    KT_CASE(t_next_fit),
    KT_CASE(t_sweep_remote),
    KT_CASE(t_span_tail),
    KT_CASE(t_local_free_reuse),
    KT_CASE(t_bad_frees),
    KT_CASE(t_owned_free),
};

int main(void) {
    /* No sampling: a sampled object marks its span GH_OWNER_SLOW, and every free into
     * it takes the profiler's route (core-profile tests it), not the fast path that
     * t_owned_free checks; which allocation the default rate samples depends
     * on the build (TSan's made the first span of t2_fill hold one). No background
     * thread: t_bad_frees and t_owned_free fork children that free on threads of their
     * own (docs/testing.md, "Fork children and the background thread"). */
    if (core_init_no_bg("memprofilerate=0") != 0)
        return 1;
    kt_begin("core-span", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
