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
 * docs/pagealloc.md ("Cheaper updates"): every free run of the parent either touches
 * child k or not, and the ones that do not are unchanged. With L free pages just
 * below the child and R just above (a walk over fully free siblings, usually one
 * step), the longest run touching the child is T(c) = max(c.max, L + c.start,
 * c.end + R), or L + whole + R when c is fully free. So max = max(M, T(old)) before
 * and max(M, T(new)) after, M being the longest run that does not touch it: when
 * T(old) < max, M == max; when T(new) >= T(old), max(M, T(new)) == max(max, T(new));
 * only when the child held the parent's longest run and lost it (an allocation
 * from the longest run) is M unknown, and the 8 children are merged again (the fast
 * merge above: fully allocated and fully free siblings cost a few instructions). */
static inline uint64_t through(uint64_t c, uint64_t L, uint64_t R, uint64_t whole) {
    const uint64_t m = PALLOC_SUM_FIELD_MASK;
    uint64_t cs = c & m, cm = c >> PALLOC_SUM_LOG_MAX & m, ce = c >> (2 * PALLOC_SUM_LOG_MAX);
    if (cs == whole)
        return L + whole + R;
    uint64_t t = L + cs > ce + R ? L + cs : ce + R;
    return cm > t ? cm : t;
}

pallocsum_t gh_pallocsum_merge_one(pallocsum_t parent, const pallocsum_t *child, unsigned k,
                                   pallocsum_t old, unsigned log_pages) {
    /* child[] and old are below the root: never the bit-63 form, plain shifts unpack. */
    const uint64_t whole = 1ull << log_pages, m = PALLOC_SUM_FIELD_MASK;
    pallocsum_t nw = child[k];
    uint64_t ns = nw & m, ne = nw >> (2 * PALLOC_SUM_LOG_MAX);
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
    uint64_t max = pallocsum_max(parent), t_new = through(nw, L, R, whole);
    /* No field shrank (a free): T(new) >= T(old). Else compare with T(old). */
    if (ns < (old & m) || (nw >> PALLOC_SUM_LOG_MAX & m) < (old >> PALLOC_SUM_LOG_MAX & m) ||
        ne < old >> (2 * PALLOC_SUM_LOG_MAX)) {
        uint64_t t_old = through(old, L, R, whole);
        if (t_old >= max && t_new < t_old) /* the child held the longest run and lost it */
            return gh_pallocsum_merge(child, log_pages);
    }
    max = t_new > max ? t_new : max;
    uint64_t start = L == k * whole ? L + (ns == whole ? whole + R : ns) : pallocsum_start(parent);
    uint64_t end = R == (7 - k) * whole ? R + (ne == whole ? whole + L : ne) : pallocsum_end(parent);
    return pallocsum_pack((unsigned)start, (unsigned)max, (unsigned)end);
}

/* ---- Range operations ---------------------------------------------------------------
 * A word at a time: the first and last words of [i, i + n) take a mask, the words
 * between are whole (8 words for a chunk: 4 MiB costs a few instructions per word,
 * not one per page). */
#define RANGE_MASKS(i, n, w0, w1, m0, m1)                                                \
    unsigned w0 = (i) / 64, w1 = ((i) + (n) - 1) / 64;                                   \
    uint64_t m0 = ~0ull << ((i) % 64), m1 = ~0ull >> (63 - ((i) + (n) - 1) % 64);        \
    if (w0 == w1)                                                                        \
        m0 &= m1

void gh_pallocbits_set(uint64_t *w, unsigned i, unsigned n) {
    if (n == 0)
        return;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    w[w0] |= m0;
    if (w0 == w1)
        return;
    for (unsigned k = w0 + 1; k < w1; k++)
        w[k] = ~0ull;
    w[w1] |= m1;
}

void gh_pallocbits_clear(uint64_t *w, unsigned i, unsigned n) {
    if (n == 0)
        return;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    w[w0] &= ~m0;
    if (w0 == w1)
        return;
    for (unsigned k = w0 + 1; k < w1; k++)
        w[k] = 0;
    w[w1] &= ~m1;
}

/* popcount with the two common whole-word values first (a run's words are mostly
 * all one state). */
static inline unsigned count_word(uint64_t x) {
    return x == ~0ull ? 64 : x == 0 ? 0 : gh_popcount64(x);
}

unsigned gh_pallocbits_count(const uint64_t *w, unsigned i, unsigned n) {
    if (n == 0)
        return 0;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    unsigned c = count_word(w[w0] & m0);
    if (w0 == w1)
        return c;
    for (unsigned k = w0 + 1; k < w1; k++)
        c += count_word(w[k]);
    return c + count_word(w[w1] & m1);
}

int gh_pallocbits_all_set(const uint64_t *w, unsigned i, unsigned n) {
    if (n == 0)
        return 1;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    if ((w[w0] & m0) != m0)
        return 0;
    if (w0 == w1)
        return 1;
    for (unsigned k = w0 + 1; k < w1; k++)
        if (w[k] != ~0ull)
            return 0;
    return (w[w1] & m1) == m1;
}

int gh_pallocbits_any_set(const uint64_t *w, unsigned i, unsigned n) {
    if (n == 0)
        return 0;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    uint64_t any = w[w0] & m0;
    if (w0 == w1)
        return any != 0;
    for (unsigned k = w0 + 1; k < w1; k++)
        any |= w[k];
    return (any | (w[w1] & m1)) != 0;
}

unsigned gh_pallocbits_take(struct pallocdata *d, unsigned i, unsigned n) {
    if (n == 0)
        return 0;
    RANGE_MASKS(i, n, w0, w1, m0, m1);
    unsigned z = count_word(d->zero[w0] & m0);
    d->alloc[w0] |= m0;
    d->zero[w0] &= ~m0;
    if (w0 == w1)
        return z;
    for (unsigned k = w0 + 1; k < w1; k++) {
        z += count_word(d->zero[k]);
        d->alloc[k] = ~0ull;
        d->zero[k] = 0;
    }
    z += count_word(d->zero[w1] & m1);
    d->alloc[w1] |= m1;
    d->zero[w1] &= ~m1;
    return z;
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
