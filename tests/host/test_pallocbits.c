/* tests/host/test_pallocbits.c: the page allocator's chunk bitmaps (alloc/pallocbits.c)
 * and summaries against naive bit-by-bit loops and full merges, on random data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostktap.h"
#include "xorshift.h"
#include "pallocbits.h"

#define CPAGES PALLOC_CHUNK_PAGES

static int bit(const uint64_t *w, unsigned i) { return (w[i / 64] >> (i % 64)) & 1; }

/* ---- chunk bitmaps against naive loops --------------------------------------------------- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return xorshift64s(&rng_state); }

/* A random chunk bitmap with runs of varied lengths. */
static void random_bitmap(uint64_t *w) {
    memset(w, 0, 64);
    unsigned p = 0;
    int in_use = rnd() & 1;
    while (p < CPAGES) {
        unsigned len = 1 + (unsigned)(rnd() % (rnd() % 4 == 0 ? 200 : 12));
        for (unsigned i = p; i < p + len && i < CPAGES; i++)
            if (in_use)
                w[i / 64] |= 1ull << (i % 64);
        p += len;
        in_use = !in_use;
    }
}

static void t_pallocbits(void) {
    /* bitrange_find64 */
    KT_CHECK(bitrange_find64(~0ull, 64) == 0, "");
    KT_CHECK(bitrange_find64(0, 1) == 64, "");
    KT_CHECK(bitrange_find64(0xF0ull, 4) == 4 && bitrange_find64(0xF0ull, 5) == 64, "");
    KT_CHECK(bitrange_find64(0x8000000000000000ull, 1) == 63, "");
    for (int k = 0; k < 2000; k++) {
        uint64_t c = rnd() | rnd(), n = 1 + rnd() % 64;
        unsigned want = 64;
        for (unsigned i = 0; i + n <= 64 && want == 64; i++) {
            unsigned j = 0;
            while (j < n && ((c >> (i + j)) & 1))
                j++;
            if (j == n)
                want = i;
        }
        KT_CHECK(bitrange_find64(c, (unsigned)n) == want, "c=%#llx n=%u", (unsigned long long)c,
                 (unsigned)n);
    }
    /* summarize and find on random bitmaps */
    uint64_t w[8];
    unsigned bad = 0;
    for (int k = 0; k < 3000 && bad < 3; k++) {
        random_bitmap(w);
        if (k == 0)
            memset(w, 0, sizeof w);
        if (k == 1)
            memset(w, 0xff, sizeof w);
        unsigned run = 0, max = 0, start = 0, seen = 0;
        for (unsigned i = 0; i < CPAGES; i++) {
            if (!bit(w, i)) {
                if (++run > max)
                    max = run;
            } else {
                if (!seen)
                    start = run;
                seen = 1;
                run = 0;
            }
        }
        if (!seen)
            start = run;
        pallocsum_t s = gh_pallocbits_summarize(w);
        if (pallocsum_start(s) != start || pallocsum_max(s) != max || pallocsum_end(s) != run) {
            bad++;
            KT_CHECK(0, "summary (%u,%u,%u) want (%u,%u,%u)", pallocsum_start(s), pallocsum_max(s),
                     pallocsum_end(s), start, max, run);
        }
        unsigned n = 1 + (unsigned)(rnd() % (rnd() % 3 ? 70 : 520)), from = (unsigned)(rnd() % 300);
        unsigned want = PALLOC_NOT_FOUND, wff = CPAGES;
        for (unsigned i = from; i < CPAGES; i++)
            if (!bit(w, i)) {
                wff = i;
                break;
            }
        for (unsigned i = from; i + n <= CPAGES && want == PALLOC_NOT_FOUND; i++) {
            unsigned j = 0;
            while (j < n && !bit(w, i + j))
                j++;
            if (j == n)
                want = i;
        }
        unsigned ff, got = gh_pallocbits_find(w, n, from, &ff);
        if (got != want || ff != wff) {
            bad++;
            KT_CHECK(0, "find n=%u from=%u: %u ff %u, want %u ff %u", n, from, got, ff, want, wff);
        }
    }
}

/* Range operations (set, clear, count, all_set, any_set, take) against bit-by-bit
 * loops, for every alignment of both ends: ranges inside a word, across one boundary,
 * and over whole words, on random bitmaps. */
static void t_range_ops(void) {
    unsigned bad = 0;
    for (int k = 0; k < 20000 && bad < 3; k++) {
        struct pallocdata d, want;
        random_bitmap(d.alloc);
        random_bitmap(d.zero);
        random_bitmap(d.scav);
        if (k % 7 == 0)
            memset(d.zero, k % 2 ? 0xff : 0, sizeof d.zero);
        unsigned i = (unsigned)(rnd() % CPAGES);
        unsigned n = (unsigned)(rnd() % (k % 3 ? 130 : CPAGES - i + 1));
        if (i + n > CPAGES)
            n = CPAGES - i;
        unsigned cnt = 0, any = 0, all = 1, zc = 0;
        for (unsigned j = i; j < i + n; j++) {
            cnt += (unsigned)bit(d.alloc, j);
            any |= (unsigned)bit(d.alloc, j);
            all &= (unsigned)bit(d.alloc, j);
            zc += (unsigned)bit(d.zero, j);
        }
        if (gh_pallocbits_count(d.alloc, i, n) != cnt || gh_pallocbits_any_set(d.alloc, i, n) != (int)any ||
            gh_pallocbits_all_set(d.alloc, i, n) != (int)all) {
            bad++;
            KT_CHECK(0, "count/any/all of [%u, +%u): %u %d %d, want %u %u %u", i, n,
                     gh_pallocbits_count(d.alloc, i, n), gh_pallocbits_any_set(d.alloc, i, n),
                     gh_pallocbits_all_set(d.alloc, i, n), cnt, any, all);
        }
        want = d;
        for (unsigned j = i; j < i + n; j++) {
            want.alloc[j / 64] |= 1ull << (j % 64);
            want.zero[j / 64] &= ~(1ull << (j % 64));
        }
        struct pallocdata got = d;
        unsigned z = gh_pallocbits_take(&got, i, n);
        if (z != zc || memcmp(&got, &want, sizeof got)) {
            bad++;
            KT_CHECK(0, "take [%u, +%u): %u known zero, want %u; bitmaps %s", i, n, z, zc,
                     memcmp(&got, &want, sizeof got) ? "differ" : "equal");
        }
        uint64_t s1[8], s2[8], c1[8], c2[8];
        memcpy(s1, d.scav, sizeof s1);
        memcpy(s2, d.scav, sizeof s2);
        memcpy(c1, d.scav, sizeof c1);
        memcpy(c2, d.scav, sizeof c2);
        gh_pallocbits_set(s1, i, n);
        gh_pallocbits_clear(c1, i, n);
        for (unsigned j = i; j < i + n; j++) {
            s2[j / 64] |= 1ull << (j % 64);
            c2[j / 64] &= ~(1ull << (j % 64));
        }
        if (memcmp(s1, s2, sizeof s1) || memcmp(c1, c2, sizeof c1)) {
            bad++;
            KT_CHECK(0, "set/clear of [%u, +%u) differ from the bit loop", i, n);
        }
    }
}

/* A random child summary of 2^log pages: fully free, fully allocated, or a random
 * (start, max, end) that a region of that size can have. */
static pallocsum_t random_child(unsigned log) {
    unsigned whole = 1u << log, r = (unsigned)(rnd() % 8);
    if (r == 0)
        return pallocsum_pack(whole, whole, whole);
    if (r == 1)
        return 0;
    unsigned st = (unsigned)(rnd() % whole), en = (unsigned)(rnd() % (whole - st));
    unsigned lo = st > en ? st : en, mx = lo + (unsigned)(rnd() % (whole - st - en));
    if (rnd() % 3 == 0)
        mx = lo; /* the edge run is the longest */
    if (mx > lo && st + 1 + mx + 1 + en > whole) /* no room for an inner run that long */
        mx = lo;
    return pallocsum_pack(st, mx, en);
}

/* gh_pallocsum_merge_one equals the full merge for every change of one child, and a
 * change at each position, at each level's size (the shortcuts: grown fields, the
 * longest run elsewhere, the child gaining its run, and the re-merge). */
static void t_merge_one(void) {
    unsigned bad = 0, remerged = 0;
    for (int k = 0; k < 200000 && bad < 3; k++) {
        unsigned log = 9 + 3 * (unsigned)(rnd() % 4);
        pallocsum_t child[8];
        for (unsigned j = 0; j < 8; j++)
            child[j] = random_child(log);
        unsigned c = (unsigned)(rnd() % 8);
        pallocsum_t parent = gh_pallocsum_merge(child, log), old = child[c];
        child[c] = random_child(log);
        pallocsum_t want = gh_pallocsum_merge(child, log);
        pallocsum_t got = gh_pallocsum_merge_one(parent, child, c, old, log);
        remerged += pallocsum_max(want) < pallocsum_max(parent);
        if (got != want) {
            bad++;
            KT_CHECK(0, "merge_one child %u at log %u: (%u,%u,%u), want (%u,%u,%u)", c, log,
                     pallocsum_start(got), pallocsum_max(got), pallocsum_end(got), pallocsum_start(want),
                     pallocsum_max(want), pallocsum_end(want));
        }
    }
    KT_CHECK(remerged > 1000, "only %u changes shrank the parent's max", remerged);
}

/* gh_pallocsum_lone equals the full merge whenever every sibling is 0 (each position,
 * each level's size, the child fully free, fully allocated or random), and declines
 * whenever one sibling has a free page, however small. */
static void t_lone(void) {
    unsigned bad = 0, taken = 0;
    for (int k = 0; k < 100000 && bad < 3; k++) {
        unsigned log = 9 + 3 * (unsigned)(rnd() % 4), c = (unsigned)(rnd() % 8);
        pallocsum_t child[8] = {0}, got = 0;
        child[c] = random_child(log);
        unsigned other = (unsigned)(rnd() % 8);
        if (other != c && rnd() % 2) /* a sibling with one free page at a random edge */
            child[other] = rnd() % 2 ? pallocsum_pack(1, 1, 0) : pallocsum_pack(0, 1, 1);
        int lone = other == c || child[other] == 0;
        int r = gh_pallocsum_lone(child, c, &got);
        taken += r;
        if (r != lone || (r && got != gh_pallocsum_merge(child, log))) {
            bad++;
            KT_CHECK(0, "lone child %u at log %u (sibling %u %s): returned %d, (%u,%u,%u)", c, log,
                     other, lone ? "0" : "free", r, pallocsum_start(got), pallocsum_max(got),
                     pallocsum_end(got));
        }
    }
    KT_CHECK(taken > 10000, "only %u lone blocks", taken);
}

static const struct kt_case suite_cases[] = {
    KT_CASE(t_pallocbits),
    KT_CASE(t_range_ops),
    KT_CASE(t_merge_one),
    KT_CASE(t_lone),
};

int main(void) {
    kt_begin("pallocbits", KT_NCASES(suite_cases));
    return kt_run_cases(suite_cases, KT_NCASES(suite_cases), 0);
}
