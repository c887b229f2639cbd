/* tests/host/test_pallocbits.c: the page allocator's chunk bitmaps (alloc/pallocbits.c)
 * against naive bit-by-bit loops, on fixed and random bitmaps. */
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

static const struct kt_case suite_cases[] = {
    KT_CASE(t_pallocbits),
};

int main(void) {
    kt_begin("pallocbits", KT_NCASES(suite_cases));
    return kt_run_cases(suite_cases, KT_NCASES(suite_cases), 0);
}
