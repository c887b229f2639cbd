/* alloc/pallocbits.c: one chunk's page bitmaps (search, summaries, range updates)
 * and the packed summary format of the page allocator's radix tree. */
#include "pallocbits.h"

/* ---- Packed summaries ------------------------------------------------------------ */
pallocsum_t gh_pallocsum_merge(const pallocsum_t *child, unsigned log_pages) {
    /* Children are below the root, so each field is < 2^21 and bit 63 is never set:
     * plain shifts unpack them. Fully allocated (0) and fully free children, the
     * common ones away from the heap's frontier, take short paths. */
    const uint64_t whole = 1ull << log_pages, m = PALLOC_SUM_FIELD_MASK;
    const pallocsum_t full = whole | whole << PALLOC_SUM_LOG_MAX | whole << (2 * PALLOC_SUM_LOG_MAX);
    uint64_t start = 0, max = 0, end = 0;
    for (unsigned i = 0; i < PALLOC_FANOUT; i++) {
        uint64_t c = child[i];
        if (c == 0) { /* no free page: the run ends, start stops growing */
            end = 0;
            continue;
        }
        if (c == full) {
            if (start == i * whole)
                start += whole;
            end += whole;
            max = end > max ? end : max;
            continue;
        }
        uint64_t cs = c & m, cm = c >> PALLOC_SUM_LOG_MAX & m;
        uint64_t ce = c >> (2 * PALLOC_SUM_LOG_MAX) & m;
        if (start == i * whole) /* every child so far is entirely free */
            start += cs;
        /* a run may join our free end to the child's free start */
        uint64_t joined = end + cs;
        max = joined > max ? joined : max;
        max = cm > max ? cm : max;
        end = ce;
    }
    return pallocsum_pack((unsigned)start, (unsigned)max, (unsigned)end);
}

/* Parent summary after child k changed from `old` to child[k] (already stored), given
 * the parent's summary `parent` before the change. Exact, by the argument in
 * docs/pagealloc.md ("Cheaper updates"): when the child only gained free pages (a
 * free), every free run that does not touch child k is unchanged and runs only grew,
 * so the new max is max(old max, the longest run touching child k), with L free pages
 * just below the child and R just above (found by walking over fully free siblings,
 * usually one step). A child that lost free pages (an allocation) may have held the
 * only longest run, so that case merges the 8 children again (the fast merge above:
 * fully allocated and fully free siblings cost a few instructions each). */
pallocsum_t gh_pallocsum_merge_one(pallocsum_t parent, const pallocsum_t *child, unsigned k,
                                   pallocsum_t old, unsigned log_pages) {
    /* child[] and old are below the root: never the bit-63 form, plain shifts unpack. */
    const uint64_t whole = 1ull << log_pages, m = PALLOC_SUM_FIELD_MASK;
    pallocsum_t nw = child[k];
    uint64_t ns = nw & m, nm = nw >> PALLOC_SUM_LOG_MAX & m, ne = nw >> (2 * PALLOC_SUM_LOG_MAX);
    if (ns < (old & m) || nm < (old >> PALLOC_SUM_LOG_MAX & m) || ne < old >> (2 * PALLOC_SUM_LOG_MAX))
        return gh_pallocsum_merge(child, log_pages);
    uint64_t L = 0, R = 0;
    for (int j = (int)k - 1; j >= 0; j--) { /* free pages ending at child k's low edge */
        uint64_t cs = child[j] & m;
        if (cs != whole) {
            L += child[j] >> (2 * PALLOC_SUM_LOG_MAX);
            break;
        }
        L += whole;
    }
    for (unsigned j = k + 1; j < PALLOC_FANOUT; j++) { /* free pages starting at its high edge */
        uint64_t cs = child[j] & m;
        R += cs;
        if (cs != whole)
            break;
    }
    uint64_t through = ns == whole ? L + whole + R : L + ns > ne + R ? L + ns : ne + R;
    uint64_t max = pallocsum_max(parent);
    max = nm > max ? nm : max;
    max = through > max ? through : max;
    uint64_t start = L == k * whole ? L + (ns == whole ? whole + R : ns) : pallocsum_start(parent);
    uint64_t end = R == (7 - k) * whole ? R + (ne == whole ? whole + L : ne) : pallocsum_end(parent);
    return pallocsum_pack((unsigned)start, (unsigned)max, (unsigned)end);
}

/* ---- Range operations --------------------------------------------------------------- */
void gh_pallocbits_set(uint64_t *w, unsigned i, unsigned n) {
    while (n > 0) {
        unsigned lo = i % 64, k = 64 - lo < n ? 64 - lo : n;
        w[i / 64] |= bits_mask(lo, k);
        i += k;
        n -= k;
    }
}

void gh_pallocbits_clear(uint64_t *w, unsigned i, unsigned n) {
    while (n > 0) {
        unsigned lo = i % 64, k = 64 - lo < n ? 64 - lo : n;
        w[i / 64] &= ~bits_mask(lo, k);
        i += k;
        n -= k;
    }
}

unsigned gh_pallocbits_count(const uint64_t *w, unsigned i, unsigned n) {
    unsigned c = 0;
    while (n > 0) {
        unsigned lo = i % 64, k = 64 - lo < n ? 64 - lo : n;
        c += gh_popcount64(w[i / 64] & bits_mask(lo, k));
        i += k;
        n -= k;
    }
    return c;
}

int gh_pallocbits_all_set(const uint64_t *w, unsigned i, unsigned n) {
    return gh_pallocbits_count(w, i, n) == n;
}

/* ---- Search ----------------------------------------------------------------------------- */
/* Word i of the bitmap as seen by a search starting at `from`: pages below `from`
 * count as in use. */
static inline uint64_t word_from(const uint64_t *alloc, unsigned i, unsigned from) {
    uint64_t w = alloc[i];
    if (i == from / 64 && from % 64)
        w |= (1ull << (from % 64)) - 1;
    return w;
}

static unsigned first_free_from(const uint64_t *alloc, unsigned from) {
    for (unsigned i = from / 64; i < PALLOC_CHUNK_WORDS; i++) {
        uint64_t w = word_from(alloc, i, from);
        if (~w)
            return i * 64 + (unsigned)__builtin_ctzll(~w);
    }
    return PALLOC_CHUNK_PAGES;
}

/* Runs of up to 64 pages: inside one word, or the free top of one word joined to
 * the free bottom of the next. */
static unsigned find_small(const uint64_t *alloc, unsigned n, unsigned from) {
    unsigned carry = 0; /* free pages at the top of the previous word */
    for (unsigned i = from / 64; i < PALLOC_CHUNK_WORDS; i++) {
        uint64_t w = word_from(alloc, i, from);
        unsigned low_free = w ? (unsigned)__builtin_ctzll(w) : 64;
        if (carry && carry + low_free >= n)
            return i * 64 - carry;
        unsigned j = bitrange_find64(~w, n);
        if (j < 64)
            return i * 64 + j;
        carry = w ? (unsigned)__builtin_clzll(w) : 64; /* w == 0 cannot get here */
    }
    return PALLOC_NOT_FOUND;
}

/* Runs longer than 64 pages: whole free words, plus partial words at both ends. */
static unsigned find_large(const uint64_t *alloc, unsigned n, unsigned from) {
    unsigned run = 0, start = 0;
    for (unsigned i = from / 64; i < PALLOC_CHUNK_WORDS; i++) {
        uint64_t w = word_from(alloc, i, from);
        if (w == 0) {
            if (run == 0)
                start = i * 64;
            run += 64;
            if (run >= n)
                return start;
            continue;
        }
        if (run + (unsigned)__builtin_ctzll(w) >= n)
            return start; /* ctz < 64 < n, so run > 0 and start is set */
        run = (unsigned)__builtin_clzll(w);
        start = (i + 1) * 64 - run;
    }
    return PALLOC_NOT_FOUND;
}

unsigned gh_pallocbits_find(const uint64_t *alloc, unsigned npages, unsigned from,
                         unsigned *first_free) {
    unsigned ff = first_free_from(alloc, from);
    if (first_free)
        *first_free = ff;
    if (ff == PALLOC_CHUNK_PAGES || npages > PALLOC_CHUNK_PAGES)
        return PALLOC_NOT_FOUND;
    if (npages == 1)
        return ff;
    /* No free page below ff, so start the search there. */
    if (npages <= 64)
        return find_small(alloc, npages, ff);
    return find_large(alloc, npages, ff);
}

/* ---- Summaries ----------------------------------------------------------------------------- */
pallocsum_t gh_pallocbits_summarize(const uint64_t *alloc) {
    unsigned start = 0, end = 0, max = 0, run = 0;
    for (unsigned i = 0; i < PALLOC_CHUNK_WORDS; i++) {
        if (alloc[i] != 0) {
            start += (unsigned)__builtin_ctzll(alloc[i]);
            break;
        }
        start += 64;
    }
    if (start == PALLOC_CHUNK_PAGES)
        return pallocsum_pack(start, start, start);
    for (int i = PALLOC_CHUNK_WORDS - 1; i >= 0; i--) {
        if (alloc[i] != 0) {
            end += (unsigned)__builtin_clzll(alloc[i]);
            break;
        }
        end += 64;
    }
    /* Runs that touch word boundaries: free top of a word + free words + free bottom. */
    for (unsigned i = 0; i < PALLOC_CHUNK_WORDS; i++) {
        uint64_t w = alloc[i];
        if (w == 0) {
            run += 64;
            continue;
        }
        run += (unsigned)__builtin_ctzll(w);
        if (run > max)
            max = run;
        run = (unsigned)__builtin_clzll(w);
    }
    if (run > max)
        max = run;
    /* Runs strictly inside a word are at most 62 long; look for ones longer than max.
     * Shrinking the free bits by max leaves a bit set only where a run longer than
     * max starts; then shrink one at a time, counting how much longer it is. */
    if (max < 62) {
        for (unsigned i = 0; i < PALLOC_CHUNK_WORDS; i++) {
            uint64_t w = alloc[i];
            if (w == 0 || w == ~0ull)
                continue;
            uint64_t x = ~w;
            unsigned covered = 1, need = max;
            while (need > 0 && x != 0) {
                unsigned s = covered < need ? covered : need;
                x &= x >> s;
                need -= s;
                covered += s;
            }
            while (x != 0) { /* bit j set: a run of at least max + 1 starts at j */
                max++;
                x &= x >> 1;
            }
        }
    }
    return pallocsum_pack(start, max, end);
}

/* Free pages just below page i (a run ending at i - 1), and from page i upward. */
static unsigned free_below(const uint64_t *alloc, unsigned i) {
    unsigned run = 0;
    while (i > 0) {
        unsigned b = (i - 1) % 64 + 1; /* bits of word (i-1)/64 below i */
        uint64_t x = alloc[(i - 1) / 64] << (64 - b);
        if (x != 0)
            return run + (unsigned)__builtin_clzll(x);
        run += b;
        i -= b;
    }
    return run;
}

static unsigned free_from(const uint64_t *alloc, unsigned i) {
    unsigned run = 0;
    while (i < PALLOC_CHUNK_PAGES) {
        uint64_t x = alloc[i / 64] >> (i % 64);
        if (x != 0)
            return run + (unsigned)__builtin_ctzll(x);
        run += 64 - i % 64;
        i += 64 - i % 64;
    }
    return run;
}

pallocsum_t gh_pallocbits_summarize_after(const uint64_t *alloc, pallocsum_t old, unsigned i,
                                          unsigned n, int freed) {
    unsigned os = pallocsum_start(old), om = pallocsum_max(old), oe = pallocsum_end(old);
    unsigned left = free_below(alloc, i), right = free_from(alloc, i + n);
    unsigned lo = i - left, hi = i + n + right; /* the run around [i, i + n) */
    if (freed) { /* runs only merged: the one around the range is the only new one */
        unsigned run = hi - lo;
        return pallocsum_pack(lo == 0 ? run : os, run > om ? run : om,
                              hi == PALLOC_CHUNK_PAGES ? run : oe);
    }
    /* Allocated: the run [lo, hi) was split into [lo, i) and [i + n, hi). */
    if (hi - lo >= om) /* it may have been the only longest run: recount */
        return gh_pallocbits_summarize(alloc);
    return pallocsum_pack(lo == 0 ? left : os, om, hi == PALLOC_CHUNK_PAGES ? right : oe);
}

/* ---- Scavenging candidates ------------------------------------------------------------------- */
unsigned gh_pallocbits_find_scavenge(const struct pallocdata *d, unsigned max_pages,
                                  unsigned *n) {
    uint64_t cand[PALLOC_CHUNK_WORDS];
    int i;
    for (i = 0; i < (int)PALLOC_CHUNK_WORDS; i++)
        cand[i] = ~(d->alloc[i] | d->scav[i]);
    for (i = PALLOC_CHUNK_WORDS - 1; i >= 0 && cand[i] == 0; i--)
        ;
    if (i < 0 || max_pages == 0)
        return PALLOC_NOT_FOUND;
    /* top: the highest candidate page; walk down while pages stay candidates. */
    unsigned top = (unsigned)i * 64 + 63 - (unsigned)__builtin_clzll(cand[i]);
    unsigned len = 0;
    int bit = (int)(top % 64);
    while (i >= 0 && len < max_pages) {
        /* zeros of cand at or below `bit` in word i */
        uint64_t below = bit == 63 ? ~0ull : (2ull << bit) - 1;
        uint64_t holes = ~cand[i] & below;
        if (holes) {
            len += (unsigned)bit - (63 - (unsigned)__builtin_clzll(holes));
            break;
        }
        len += (unsigned)bit + 1;
        i--;
        bit = 63;
    }
    if (len > max_pages)
        len = max_pages;
    *n = len;
    return top + 1 - len;
}
