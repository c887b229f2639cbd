/* alloc/mspan.c: span set-up, the word-at-a-time allocation bitmap walk and the
 * sweep of remote frees (see mspan.h for the invariants). */
#include "mspan.h"
#include "knobs.h"
#include "platform.h"
#include "profile.h"

uint64_t gh_full_word = 0;
struct mspan gh_emptyspan = {.state = GH_SPAN_DEAD, .owner = GH_NO_OWNER, .curword = GH_NO_WORD,
                             .wbits = &gh_full_word};
struct mspan gh_deadspan = {.state = GH_SPAN_DEAD, .owner = GH_NO_OWNER, .curword = GH_NO_WORD,
                            .wbits = &gh_full_word};

_Static_assert(offsetof(struct mspan, next) == GH_CACHELINE, "line 0 of struct mspan overflows");
_Static_assert(offsetof(struct mspan, wbits) % GH_CACHELINE == 0, "the hot line of struct mspan is not a line");
_Static_assert(offsetof(struct mspan, bits) - offsetof(struct mspan, wbits) == GH_SPAN_BITS_IN_LINE,
               "bits[] must start GH_SPAN_BITS_IN_LINE bytes into the hot line");
_Static_assert(GH_SPAN_BITS_IN_LINE + GH_RF_INLINE * sizeof(uint64_t) <= GH_CACHELINE,
               "a span of GH_RF_INLINE words keeps its bitmap in the hot line");
_Static_assert(sizeof(((struct mspan *)0)->rfin) == GH_RF_INLINE * sizeof(uint64_t), "rfin holds GH_RF_INLINE words");
_Static_assert(GOHEAP_MAX_OBJS_PER_SPAN <= 0xffff, "nsampled is 16 bits");

/* gh_span_set_word's panic (mspan.h): a slot of word w free here and pending in R(w)
 * is a double free, found before malloc can hand the slot out. */
GH_NOINLINE void gh_span_word_double_free(const struct mspan *s, unsigned w, uint64_t both) {
    gh_bad_free("double free", s->base + (uintptr_t)(w * 64 + gh_ctz64(both)) * s->elemsize, s);
}

/* q^-1 mod 2^64 for odd q: q is its own inverse mod 8, and each Newton step
 * x = x * (2 - q * x) doubles the correct low bits (3, 6, 12, 24, 48, 96). */
static uint64_t inverse_odd(uint64_t q) {
    uint64_t x = q;
    for (int i = 0; i < 5; i++)
        x *= 2 - q * x;
    return x;
}

void gh_span_init_small(struct mspan *s, uintptr_t base, unsigned spc, int needzero) {
    unsigned cl = spc >> 1;
    s->base = base;
    __atomic_store_n(&s->spc, (uint8_t)spc, __ATOMIC_RELAXED); /* racy readers: gh_central_wake */
    s->npages = goheap_class_to_npages[cl];
    s->elemsize = goheap_class_to_size[cl];
    s->divmul = goheap_class_to_divmagic[cl];
    s->nelems = goheap_class_to_nobjs[cl];
    s->wnelems = s->nelems;
    gh_span_rnelems_reset(s);
    s->welemsize = s->elemsize;
    s->wshift = (uint8_t)gh_ctz64(s->elemsize);
    s->winv = inverse_odd(s->elemsize >> s->wshift);
    s->nwords = (uint8_t)((s->nelems + 63) / 64);
    s->limit = base + (uintptr_t)s->nelems * s->elemsize;
    s->needzero = (uint8_t)needzero;
    s->lfree = s->lswept = s->lcounted = 0;
    atomic_store_explicit(&s->owner, GH_NO_OWNER, memory_order_relaxed);
    s->freeBits = s->bits;
    s->remoteFree = s->nwords <= GH_RF_INLINE ? s->rfin : (_Atomic uint64_t *)(s->bits + gh_span_rf_offset(s->nwords));
    s->tinyends = spc == GH_TINY_SPC
                      ? (_Atomic uint32_t *)(s->bits + gh_span_bitmap_words(s->nwords))
                      : 0;
    s->tinyfreed = spc == GH_TINY_SPC ? (_Atomic uint16_t *)(s->tinyends + s->nelems) : 0;
    s->tinycount = spc == GH_TINY_SPC ? (_Atomic uint8_t *)(s->tinyfreed + s->nelems) : 0;
    for (unsigned w = 0; w < s->nwords; w++) {
        GH_WSET(s->freeBits[w], gh_span_valid(s, w)); /* slots past nelems: never free
                                                       * (atomic: a late freer's re-check) */
        atomic_store_explicit(&s->remoteFree[w], 0, memory_order_relaxed); /* nothing pending */
    }
    GH_WSET(s->curword, GH_NO_WORD);
    s->wbits = &gh_full_word;
    s->wlast = (uint8_t)(s->nwords - 1); /* the next-fit scan starts at word 0 */
}

void gh_span_init_large(struct mspan *s, uintptr_t base, uintptr_t npages, uintptr_t reqsize) {
    s->base = base;
    __atomic_store_n(&s->spc, 0, __ATOMIC_RELAXED);
    s->npages = (uint32_t)npages;
    s->elemsize = 0;
    s->divmul = 0;
    atomic_store_explicit(&s->rnelems, 0, memory_order_relaxed); /* (a remote freer that
                                                                    * raced with this reuse
                                                                    * fails its index test) */
    s->nelems = 1;
    s->nwords = 0;
    s->limit = base + (npages << GOHEAP_PAGE_SHIFT);
    s->reqsize = reqsize;
    GH_WSET(s->curword, GH_NO_WORD);
    s->wbits = &gh_full_word;
    s->lfree = s->lswept = s->lcounted = 0;
    atomic_store_explicit(&s->owner, GH_NO_OWNER, memory_order_relaxed);
    s->wordbase = base;
}

unsigned gh_span_alloc_bits(const struct mspan *s) {
    /* The bits past nelems are 0 forever: no per-word mask (pareto, 2 threads: ~120 ->
     * ~60 instructions per tenure change). A full word skips its popcount: a tenure
     * ends when its span is full (refill), so its words mostly are (larson: ~68 -> ~30
     * instructions per tenure end). */
    unsigned nw = s->nwords, n = s->nelems;
    for (unsigned w = 0; w < nw; w++) {
        uint64_t fr = __atomic_load_n(&s->freeBits[w], __ATOMIC_RELAXED);
        if (fr)
            n -= gh_popcount64(fr);
    }
    return n;
}

void gh_span_tenure_begin(struct mspan *s) {
    __atomic_store_n(&s->tbase, (uint64_t)gh_span_alloc_bits(s) + s->lfree, __ATOMIC_RELAXED);
}

/* The end of a tenure of m mallocs (gh_span_tenure_end, _full). */
static inline void tenure_close(struct mspan *s, uint64_t m) {
    if (s->nmalloc_ctr) /* NULL only for spans that were never cached (tests) */
        GH_COUNT_ADD(*s->nmalloc_ctr, m);
    /* allocated + lfree now: the base of its next tenure if the span stays
     * parked with this owner (mspan.h). */
    __atomic_store_n(&s->tbase, s->tbase + m, __ATOMIC_RELAXED);
    GH_WSET(s->curword, GH_NO_WORD);
    s->wbits = &gh_full_word;
}

void gh_span_tenure_end(struct mspan *s) {
    if (s->curword == GH_NO_WORD)
        return;
    tenure_close(s, gh_span_tenure_mallocs(s));
}

/* debug >= 2: gh_span_tenure_end_full with its premise checked. Out of line and
 * tail-called, so that the plain one keeps no frame (aarch64: its saved registers
 * cost ~3 instructions a park). */
static GH_NOINLINE void tenure_end_full_checked(struct mspan *s) {
    if (gh_span_alloc_bits(s) != s->nelems)
        gh_panicf("goheap: span check failed (tenure_end_full): %u of %u slots allocated: span 0x%lx class %u",
                  gh_span_alloc_bits(s), (unsigned)s->nelems, (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1));
    tenure_close(s, s->nelems + s->lfree - s->tbase);
}

void gh_span_tenure_end_full(struct mspan *s) {
    if (s->curword == GH_NO_WORD)
        return;
    if (GOHEAP_DEBUG >= 2)
        return tenure_end_full_checked(s);
    tenure_close(s, s->nelems + s->lfree - s->tbase);
}

/* Whether rw and bits[w] are word w's remoteFree and freeBits words in the layout of
 * the incarnation of s whose class is spc (read racily, between two equal reads of
 * sweepseq). A struct recycled for another class of its spanalloc bucket may have
 * fewer words, or remoteFree elsewhere: there the freer's words are padding, which
 * tell nothing about the freer's slot. */
static int recheck_layout_matches(const struct mspan *s, const _Atomic uint64_t *rw, unsigned w,
                                  unsigned spc) {
    if (spc < 2)
        return 0;
    unsigned nw = (goheap_class_to_nobjs[spc >> 1] + 63u) / 64u;
    if (w >= nw)
        return 0;
    const _Atomic uint64_t *want = nw <= GH_RF_INLINE ? &s->rfin[w]
                                                      : (const _Atomic uint64_t *)(s->bits + gh_span_rf_offset(nw)) + w;
    return rw == want;
}

void gh_span_remote_recheck(const struct mspan *s, _Atomic uint64_t *rw, unsigned w, uint64_t m,
                            uintptr_t a) {
    /* Bounded: a span swept again and again gets no verdict (a missed report, never a
     * false one). R first, then freeBits: with no sweep in between, a bit set in
     * freeBits was set when R's was seen set (only a sweep sets a bit while R's is
     * set, short of a racing local double free). */
    for (int tries = 0; tries < 16; tries++) {
        uint32_t v = atomic_load_explicit(&s->sweepseq, memory_order_seq_cst);
        /* 0: span_reset recycled the struct since the view (a sweep moved sweepseq
         * from the view's value, so this incarnation never swept): its words are
         * another incarnation's, no verdict. */
        if (v == 0)
            return;
        if (v & 1)
            continue;
        /* The class of the incarnation read (spc: atomic stores everywhere): recycled
         * since the OR for a class of another layout, no verdict. */
        unsigned spc = __atomic_load_n(&s->spc, __ATOMIC_SEQ_CST);
        uint64_t r = atomic_load_explicit(rw, memory_order_seq_cst);
        /* (bits, not the freeBits pointer: the struct may have been recycled since
         * the OR, and span_reset clears its pointer fields with plain stores) */
        uint64_t fb = __atomic_load_n(&s->bits[w], __ATOMIC_SEQ_CST);
        if (atomic_load_explicit(&s->sweepseq, memory_order_seq_cst) != v)
            continue;
        if (!recheck_layout_matches(s, rw, w, spc))
            return;
        if (r & fb & m)
            gh_bad_free("double free", a, s);
        return;
    }
}

void gh_bad_free(const char *reason, uintptr_t p, const struct mspan *s) {
    if (s && s != &gh_deadspan && s->spc < 2) /* large: no class, one object of npages */
        gh_panicf("goheap: %s: 0x%lx (span 0x%lx base 0x%lx large object of %lu pages)", reason,
                  (unsigned long)p, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
                  (unsigned long)s->npages);
    if (s && s != &gh_deadspan)
        gh_panicf("goheap: %s: 0x%lx (span 0x%lx base 0x%lx class %u objsize %u)", reason,
                  (unsigned long)p, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
                  (unsigned)(s->spc >> 1), (unsigned)s->elemsize);
    gh_panicf("goheap: %s: 0x%lx", reason, (unsigned long)p);
}

void gh_span_check(const struct mspan *s, const char *where) {
    const char *bad = 0;
    if (s->spc < 2 || s->nwords == 0 || s->nwords > GH_MAX_WORDS)
        bad = "bad class or bitmap size";
    for (unsigned w = 0; !bad && w < s->nwords; w++)
        if (s->freeBits[w] & ~gh_span_valid(s, w))
            bad = "a slot past nelems is free";
    if (!bad && s->curword == GH_NO_WORD && s->wbits != &gh_full_word)
        bad = "no current word, but wbits names a bitmap word";
    if (!bad && s->curword != GH_NO_WORD &&
        (s->curword >= s->nwords || s->wbits != &s->freeBits[s->curword] ||
         s->wordbase != s->base + (uintptr_t)s->curword * 64u * s->elemsize))
        bad = "the current word's pointers do not match curword";
    if (!bad && s->limit != s->base + (uintptr_t)s->nelems * s->elemsize)
        bad = "limit does not match nelems";
    /* The double-free rule (struct mspan): a violation is a free that slipped through
     * (two racing frees), reported as what it is. */
    uintptr_t both = gh_span_double_freed(s);
    if (!bad && both)
        gh_bad_free("double free", both, s);
    /* The free fast path's index test: slot starts map to their index, the byte after
     * a slot start (an interior pointer) and the end of the slots to >= nelems. */
    for (uintptr_t i = 0; !bad && i < s->nelems; i++) {
        uintptr_t a = s->base + i * s->welemsize;
        if (gh_span_index(s, a) != i || gh_span_index(s, a + 1) < s->nelems)
            bad = "index test maps a slot wrongly";
        else if (gh_span_index_addr(s, gh_span_index(s, a + 1)) != a + 1)
            bad = "gh_span_index_addr does not invert the index test";
    }
    if (!bad && gh_span_index(s, s->limit) < s->nelems)
        bad = "index test accepts the end of the slots";
    if (bad)
        gh_panicf("goheap: span check failed (%s): %s: span 0x%lx base 0x%lx class %u curword %u",
                  where, bad, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
                  (unsigned)(s->spc >> 1), s->curword);
}

uintptr_t gh_span_double_freed(const struct mspan *s) {
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t fr = __atomic_load_n(&s->freeBits[w], __ATOMIC_RELAXED) & gh_span_valid(s, w);
        uint64_t both = fr & gh_span_rpend(s, w, memory_order_relaxed);
        if (both)
            return s->base + (uintptr_t)(w * 64 + gh_ctz64(both)) * s->elemsize;
    }
    return 0;
}

unsigned gh_span_sweep_remote_words(struct mspan *s, unsigned cpu) {
    unsigned freed = 0, open = 0;
    for (unsigned w = 0; w < s->nwords; w++) {
        if (!gh_span_rpend(s, w, memory_order_relaxed))
            continue;
        if (!open) { /* sweepseq odd: remote freers re-check (gh_span_remote_recheck) */
            open = 1;
            atomic_store_explicit(&s->sweepseq, atomic_load_explicit(&s->sweepseq, memory_order_relaxed) + 1,
                                  memory_order_seq_cst);
        }
        /* acquire: the freer's last writes to the object happen before its reuse.
         * A sampled object's marker stays (profile.c, "markers"). */
        uint64_t r;
        if (gh_span_nmarkers(s)) {
            r = gh_prof_sweep_take(s, w, cpu);
        } else {
            r = atomic_exchange_explicit(&s->remoteFree[w], 0, memory_order_acq_rel);
            if (r && gh_unlikely(gh_span_nmarkers(s)))
                r = gh_prof_sweep_restore(s, w, r, cpu);
        }
        uint64_t notalloc = r & s->freeBits[w];
        if (notalloc) {
            /* Freed remotely but not allocated: freed locally first (the OR could not
             * see that), or never allocated, or freed twice across a sweep. */
            unsigned i = w * 64 + gh_ctz64(notalloc);
            gh_bad_free("double free", s->base + (uintptr_t)i * s->elemsize, s);
        }
        GH_WSET(s->freeBits[w], s->freeBits[w] | r);
        freed += gh_popcount64(r);
    }
    if (open)
        atomic_store_explicit(&s->sweepseq, atomic_load_explicit(&s->sweepseq, memory_order_relaxed) + 1,
                              memory_order_seq_cst);
    if (freed)
        s->needzero = 1;
    return freed;
}

int gh_span_pending_beyond_markers(const struct mspan *s) {
    unsigned n = gh_span_nmarkers(s), p = 0;
    if (!n)
        return 1; /* (called with a bit found set) */
    for (unsigned w = 0; w < s->nwords; w++)
        p += gh_popcount64(gh_span_rpend(s, w, memory_order_seq_cst));
    return p > n;
}

unsigned gh_span_count_live(const struct mspan *s) {
    unsigned n = 0;
    for (unsigned w = 0; w < s->nwords; w++)
        n += gh_popcount64(~s->freeBits[w] & gh_span_valid(s, w));
    return n;
}

unsigned gh_span_count_live_any(const struct mspan *s) {
    /* a sampled object's marker looks like a pending free: nsampled counts them
     * (read first: profile.c, "markers") */
    unsigned n = gh_span_nmarkers(s);
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t a = ~__atomic_load_n(&s->freeBits[w], __ATOMIC_RELAXED) & gh_span_valid(s, w);
        a &= ~gh_span_rpend(s, w, memory_order_relaxed);
        n += gh_popcount64(a);
    }
    return n;
}
