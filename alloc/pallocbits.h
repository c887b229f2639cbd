/* alloc/pallocbits.h: operations on one chunk's 512-bit page bitmaps (internal to the
 * page allocator): range set/clear/count, first-fit search, summaries, and the
 * downward search for scavenging candidates. Bit i of word i/64 is page i. */
#ifndef GOHEAP_PALLOCBITS_H
#define GOHEAP_PALLOCBITS_H

#include <stdint.h>

#include "pallocdefs.h"
#include "util.h"

#define PALLOC_NOT_FOUND 0xffffffffu

/* Lowest index i such that bits i .. i+n-1 of c are all set (1 <= n <= 64), or 64
 * when there is none. */
static inline unsigned bitrange_find64(uint64_t c, unsigned n) {
    /* After the loop, bit i of c is set iff c had a run of n ones starting at i. Each
     * step ANDs in a copy shifted by at most the run length covered so far, so runs
     * of length L become runs of length L + s without gaps. */
    unsigned covered = 1, need = n - 1;
    while (need > 0 && c != 0) {
        unsigned s = covered < need ? covered : need;
        c &= c >> s;
        need -= s;
        covered += s;
    }
    return c ? (unsigned)__builtin_ctzll(c) : 64;
}

/* Mask of bits [lo, lo + n) within one word (lo + n <= 64, n >= 1). */
static inline uint64_t bits_mask(unsigned lo, unsigned n) {
    return (n >= 64 ? ~0ull : ((1ull << n) - 1)) << lo;
}

/* Range operations on bits [i, i + n) (n may be 0), a 64-bit word at a time. */
void gh_pallocbits_set(uint64_t *w, unsigned i, unsigned n);
void gh_pallocbits_clear(uint64_t *w, unsigned i, unsigned n);
unsigned gh_pallocbits_count(const uint64_t *w, unsigned i, unsigned n);
/* 1 if every bit of [i, i+n) is set, 0 otherwise. */
int gh_pallocbits_all_set(const uint64_t *w, unsigned i, unsigned n);
/* 1 if any bit of [i, i+n) is set, 0 otherwise. */
int gh_pallocbits_any_set(const uint64_t *w, unsigned i, unsigned n);
/* Allocation of the free, backed pages [i, i+n): sets their alloc bits and clears
 * their zero bits; returns how many zero bits were set (pages known to read zero). */
unsigned gh_pallocbits_take(struct pallocdata *d, unsigned i, unsigned n);

/* First fit of npages (1..512) free (0) bits at or above `from`. Returns the index or
 * PALLOC_NOT_FOUND; *first_free = first free page at or above `from` (512 if none). */
unsigned gh_pallocbits_find(const uint64_t *alloc, unsigned npages, unsigned from,
                         unsigned *first_free);

/* The (start, max, end) summary of an alloc bitmap. */
pallocsum_t gh_pallocbits_summarize(const uint64_t *alloc);

/* The highest run of bits that are free and unscavenged (alloc = 0, scav = 0), cut to
 * its top max_pages pages. Returns its first index and *n, or PALLOC_NOT_FOUND. */
unsigned gh_pallocbits_find_scavenge(const struct pallocdata *d, unsigned max_pages,
                                  unsigned *n);

/* Merge of 8 consecutive child summaries, each covering 2^log_pages pages. */
pallocsum_t gh_pallocsum_merge(const pallocsum_t *child, unsigned log_pages);

/* The summary of an alloc bitmap in which only pages [i, i + n) changed since its
 * summary was `old`: freed (now all 0) or allocated (now all 1, and free before).
 * Looks only at the run around the range, except when an allocation split a run
 * that may have been the only longest one (then it summarizes the whole chunk). */
pallocsum_t gh_pallocbits_summarize_after(const uint64_t *alloc, pallocsum_t old, unsigned i,
                                          unsigned n, int freed);

/* The merge of child[0..7] when only child[k] changed (from `old`), from the parent's
 * previous summary; falls back to gh_pallocsum_merge when it cannot tell cheaply.
 * Always equal to gh_pallocsum_merge(child, log_pages). */
pallocsum_t gh_pallocsum_merge_one(pallocsum_t parent, const pallocsum_t *child, unsigned k,
                                   pallocsum_t old, unsigned log_pages);

/* The merge of child[0..7] when child[k] is the only one with a free page (every
 * sibling 0): no run crosses a child's edge, so the parent is the child's summary with
 * `start` kept only if k is the first child and `end` only if k is the last. Such a
 * block is the rule above a small heap: every level over the grown chunks but the
 * lowest has one non-zero child. Returns 1 and the parent in *sum, or 0 when some
 * sibling has a free page. Equal to gh_pallocsum_merge(child, any) when it returns 1
 * (child[k] is below the root, so its fields fit a parent's). */
static inline int gh_pallocsum_lone(const pallocsum_t *child, unsigned k, pallocsum_t *sum) {
    pallocsum_t others = 0;
    for (unsigned j = 0; j < PALLOC_FANOUT; j++)
        others |= j == k ? 0 : child[j];
    if (others)
        return 0;
    const uint64_t m = PALLOC_SUM_FIELD_MASK;
    uint64_t keep = m << PALLOC_SUM_LOG_MAX | (k == 0 ? m : 0) |
                    (k == PALLOC_FANOUT - 1 ? m << (2 * PALLOC_SUM_LOG_MAX) : 0);
    *sum = child[k] & keep;
    return 1;
}

#endif /* GOHEAP_PALLOCBITS_H */
