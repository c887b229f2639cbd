/* alloc/pallocbits.c: one chunk's page bitmaps (search, summaries, range updates)
 * and the packed summary format of the page allocator's radix tree. */
#include "pallocbits.h"

/* ---- Packed summaries ------------------------------------------------------------ */
pallocsum_t gh_pallocsum_merge(const pallocsum_t *child, unsigned log_pages) {
    /* Children are below the root, so each field is < 2^21 and bit 63 is never set:
     * plain shifts unpack them. */
    const uint64_t whole = 1ull << log_pages, m = PALLOC_SUM_FIELD_MASK;
    uint64_t start = 0, max = 0, end = 0;
    for (unsigned i = 0; i < 8; i++) {
        uint64_t c = child[i], cs = c & m, cm = c >> PALLOC_SUM_LOG_MAX & m;
        uint64_t ce = c >> (2 * PALLOC_SUM_LOG_MAX) & m;
        if (start == i * whole) /* every child so far is entirely free */
            start += cs;
        /* a run may join our free end to the child's free start */
        uint64_t joined = end + cs;
        max = joined > max ? joined : max;
        max = cm > max ? cm : max;
        end = cs == whole ? end + whole : ce;
    }
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
        c += (unsigned)__builtin_popcountll(w[i / 64] & bits_mask(lo, k));
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
