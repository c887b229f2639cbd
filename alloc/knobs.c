/* alloc/knobs.c: parser for the GODEBUG-style knob string (see knobs.h): one table
 * row per knob (name, kind, accepted range, where it is stored); every bad token is
 * reported by name with what would have been accepted, and the others still apply. */
#include "knobs.h"
#include "util.h"

#define GH_KNOBS_DEFAULT                                                                  \
    {.madvdontneed = 1, .memlimit = INT64_MAX, .bgthread = 1,                              \
     .memprofilerate = GH_KNOB_MEMPROFILERATE_DEFAULT}
struct gh_knobs gh_knobs = GH_KNOBS_DEFAULT;
static char first_error[GH_KNOB_ERROR_MAX];

void gh_knobs_defaults(struct gh_knobs *k) {
    *k = (struct gh_knobs)GH_KNOBS_DEFAULT;
}

const char *gh_knobs_first_error(void) { return first_error[0] ? first_error : 0; }

/* How a value is written. */
enum knob_kind {
    KNOB_UINT, /* decimal integer */
    KNOB_SIZE, /* integer with an optional B, KiB, MiB, GiB, TiB (or K, M, G, T) suffix */
    KNOB_WORD, /* one of the words in `words`, stored as its index */
    KNOB_PATH, /* a file name (no comma), stored as a NUL-terminated string */
};

/* Where the value goes: the field's offset and width in struct gh_knobs. */
#define KNOB_FIELD(f) offsetof(struct gh_knobs, f), sizeof(((struct gh_knobs *)0)->f)

struct knob_def {
    const char *name;
    enum knob_kind kind;
    uint64_t min, max;  /* inclusive; for KNOB_WORD the index range */
    size_t off, width;
    const char *words[3];
    unsigned platform;  /* GH_KNOB_ANY, or the one platform feature it needs */
};

/* To add a knob: a field in struct gh_knobs (knobs.h), one row here, one line in the
 * knob table of docs/alloc.md, and rows in tests/knob_cases.h (the table both
 * test_core_knobs.c and the kernel's heap_knobs.c run). Ranges: the largest value
 * with a meaning, so that a typo (efence=7, debug=99) is an error rather than a
 * silent clamp. */
#define GH_KNOB_ANY 0
#define SZ_4MIB (4ull << 20)    /* arena: one page-allocator chunk at least */
#define SZ_256TIB (256ull << 40) /* arena: a 48-bit address space */
#define SZ_4GIB (4ull << 30)
static const struct knob_def knob_table[] = {
    {"scavtrace", KNOB_UINT, 0, 1, KNOB_FIELD(scavtrace), {0}, GH_KNOB_ANY},
    {"allocfreetrace", KNOB_UINT, 0, 1, KNOB_FIELD(allocfreetrace), {0}, GH_KNOB_ANY},
    {"efence", KNOB_UINT, 0, GH_EFENCE_MAX, KNOB_FIELD(efence), {0}, GH_KNOB_ANY},
    {"guardrate", KNOB_UINT, 0, UINT32_MAX, KNOB_FIELD(guardrate), {0}, GH_KNOB_ANY},
    {"debug", KNOB_UINT, 0, 3, KNOB_FIELD(debug), {0}, GH_KNOB_ANY},
    {"madvdontneed", KNOB_UINT, 0, 1, KNOB_FIELD(madvdontneed), {0}, GH_KNOB_ANY},
    {"memlimit", KNOB_SIZE, 0, INT64_MAX, KNOB_FIELD(memlimit), {0}, GH_KNOB_ANY},
    {"scavenge", KNOB_WORD, 0, 1, KNOB_FIELD(scavenge_eager), {"paced", "eager"}, GH_KNOB_ANY},
    {"arena", KNOB_SIZE, SZ_4MIB, SZ_256TIB, KNOB_FIELD(arena), {0}, GH_KNOB_ANY},
    {"ncpu", KNOB_UINT, 1, GH_KNOB_NCPU_MAX, KNOB_FIELD(ncpu), {0}, GH_KNOB_NEEDS_NCPU},
    {"bgthread", KNOB_UINT, 0, 1, KNOB_FIELD(bgthread), {0}, GH_KNOB_NEEDS_BGTHREAD},
    {"lockstats", KNOB_UINT, 0, 1, KNOB_FIELD(lockstats), {0}, GH_KNOB_ANY},
    /* Go's MemProfileRate; up to 4 GiB (the sampler's fixed point needs rate < 2^33) */
    {"memprofilerate", KNOB_SIZE, 0, SZ_4GIB, KNOB_FIELD(memprofilerate), {0}, GH_KNOB_ANY},
    {"memprofile", KNOB_PATH, 1, GH_KNOB_PATH_MAX - 1, KNOB_FIELD(memprofile), {0}, GH_KNOB_NEEDS_FILES},
};
#define NKNOBS (sizeof knob_table / sizeof knob_table[0])

static bool streq_n(const char *a, size_t n, const char *b) {
    size_t i = 0;
    for (; i < n; i++)
        if (a[i] != b[i] || !b[i])
            return false;
    return b[i] == 0;
}

static void store(struct gh_knobs *k, const struct knob_def *d, uint64_t x) {
    char *f = (char *)k + d->off;
    if (d->width == 8)
        *(uint64_t *)f = x; /* memlimit: int64_t, max INT64_MAX, same bits */
    else
        *(unsigned *)f = (unsigned)x;
}

/* Parses v[0..n) for d into *out; on failure returns a message fragment. */
static const char *parse_value(const struct knob_def *d, const char *v, size_t n, uint64_t *out) {
    if (d->kind == KNOB_PATH) { /* the length is the value checked against the range */
        *out = n;
        return 0;
    }
    if (d->kind == KNOB_WORD) {
        for (unsigned i = 0; i <= d->max; i++)
            if (streq_n(v, n, d->words[i])) {
                *out = i;
                return 0;
            }
        return "not one of the accepted words";
    }
    uint64_t x = 0;
    size_t i = 0;
    if (n == 0)
        return "empty value";
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (UINT64_MAX - 9) / 10)
            return "too large";
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == 0)
        return "not a number";
    if (i < n && (v[i] == '.' || v[i] == ','))
        return "decimals are not accepted";
    if (i < n && d->kind == KNOB_UINT)
        return "not a whole number";
    if (i < n) {
        /* Go's GOMEMLIMIT suffixes (B, KiB, MiB, GiB, TiB), plus K/M/G/T as binary
         * aliases (either case). KB, MB... are refused: decimal or binary is unclear. */
        const char *suf = v + i;
        size_t sn = n - i;
        unsigned sh = 0;
        if (streq_n(suf, sn, "B"))
            sh = 0;
        else {
            static const char units[] = "KMGT";
            char u = suf[0] >= 'a' && suf[0] <= 'z' ? (char)(suf[0] - 32) : suf[0];
            unsigned k = 0;
            while (k < 4 && units[k] != u)
                k++;
            if (k == 4 || !(sn == 1 || (sn == 3 && suf[0] == u && suf[1] == 'i' && suf[2] == 'B')))
                return "unknown size suffix";
            sh = 10 * (k + 1);
        }
        if (x > (UINT64_MAX >> sh))
            return "too large";
        x <<= sh;
    }
    *out = x;
    return 0;
}

static void report(const char *tok, size_t tn, const char *what,
                   const struct knob_def *d) {
    char t[72], range[120] = "";
    size_t m = tn < sizeof t - 4 ? tn : sizeof t - 4;
    __builtin_memcpy(t, tok, m);
    if (m < tn)
        __builtin_memcpy(t + m, "...", 3), m += 3;
    t[m] = 0;
    if (d && d->kind == KNOB_WORD)
        gh_fmt(range, sizeof range, " (accepted: %s or %s)", d->words[0], d->words[1]);
    else if (d && d->kind == KNOB_PATH)
        gh_fmt(range, sizeof range, " (accepted: a file name of 1 to %lu bytes)", (unsigned long)d->max);
    else if (d && d->kind == KNOB_SIZE)
        gh_fmt(range, sizeof range, " (accepted: %lu to %lu bytes; suffixes B, KiB, MiB, GiB, "
               "TiB or K, M, G, T)", (unsigned long)d->min, (unsigned long)d->max);
    else if (d)
        gh_fmt(range, sizeof range, " (accepted: %lu to %lu)", (unsigned long)d->min,
               (unsigned long)d->max);
    char line[GH_KNOB_ERROR_MAX];
    gh_fmt(line, sizeof line, "goheap: bad knob '%s': %s%s", t, what, range);
    gh_logf("%s", line);
    if (!first_error[0])
        __builtin_memcpy(first_error, line, sizeof line);
}

int gh_knobs_parse(struct gh_knobs *k, const char *s, unsigned features) {
    int bad = 0;
    first_error[0] = 0;
    while (s && *s) {
        const char *key = s, *eq = 0, *end = s;
        while (*end && *end != ',') {
            if (*end == '=' && !eq)
                eq = end;
            end++;
        }
        s = *end ? end + 1 : end;
        if (end == key)
            continue;
        size_t tn = (size_t)(end - key), kn = eq ? (size_t)(eq - key) : tn;
        const struct knob_def *d = 0;
        for (unsigned i = 0; i < NKNOBS && !d; i++)
            if (streq_n(key, kn, knob_table[i].name))
                d = &knob_table[i];
        if (!d) {
            report(key, tn, "unknown knob", 0);
            bad++;
            continue;
        }
        if (!eq) {
            report(key, tn, "no value", d);
            bad++;
            continue;
        }
        if (d->platform && !(features & d->platform)) {
            report(key, tn, "not supported on this platform", 0);
            bad++;
            continue;
        }
        uint64_t x = 0;
        const char *why = parse_value(d, eq + 1, (size_t)(end - eq - 1), &x);
        if (!why && (x < d->min || x > d->max))
            why = "out of range";
        if (why) {
            report(key, tn, why, d);
            bad++;
            continue;
        }
        if (d->kind == KNOB_PATH) {
            char *f = (char *)k + d->off;
            __builtin_memcpy(f, eq + 1, x);
            f[x] = 0;
        } else {
            store(k, d, x);
        }
    }
    k->slowmode = k->allocfreetrace || k->efence || k->guardrate;
    return bad;
}
