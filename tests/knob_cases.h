/* tests/knob_cases.h: the knob table test, shared by the hosted (test_core_knobs.c)
 * and the kernel (heap_knobs.c) suites: every knob with good, bad, out-of-range and
 * repeated values, the number of bad tokens the parser must report, a piece of the
 * first message, and one field's value afterwards (bad tokens leave it as it was). */
#ifndef TESTS_KNOB_CASES_H
#define TESTS_KNOB_CASES_H

#include <stdint.h>

#include "knobs.h"

struct knob_case {
    const char *in;
    int nbad;          /* bad tokens reported */
    const char *msg;   /* in the first message (NULL: no message) */
    const char *field; /* knob whose value is checked afterwards */
    uint64_t want;
};

#define KC_KIB 1024ull
#define KC_MIB (1024ull * KC_KIB)
#define KC_GIB (1024ull * KC_MIB)
#define KC_TIB (1024ull * KC_GIB)

static const struct knob_case knob_cases[] = {
    /* good: every knob */
    {"scavtrace=1", 0, 0, "scavtrace", 1},
    {"lockstats=1", 0, 0, "lockstats", 1},
    {"lockstats=2", 1, "'lockstats=2': out of range (accepted: 0 to 1)", "lockstats", 0},
    {"allocfreetrace=1", 0, 0, "allocfreetrace", 1},
    {"efence=1", 0, 0, "efence", 1},
    {"efence=2", 0, 0, "efence", 2},
    {"efence=3", 0, 0, "efence", 3},
    {"guardrate=1000", 0, 0, "guardrate", 1000},
    {"debug=3", 0, 0, "debug", 3},
    {"madvdontneed=0", 0, 0, "madvdontneed", 0},
    {"memlimit=512MiB", 0, 0, "memlimit", 512 * KC_MIB},
    {"memlimit=512M", 0, 0, "memlimit", 512 * KC_MIB},
    {"memlimit=3k", 0, 0, "memlimit", 3 * KC_KIB},
    {"memlimit=100B", 0, 0, "memlimit", 100},
    {"memlimit=100", 0, 0, "memlimit", 100},
    {"memlimit=2TiB", 0, 0, "memlimit", 2 * KC_TIB},
    {"memlimit=1GiB", 0, 0, "memlimit", KC_GIB},
    {"memlimit=0", 0, 0, "memlimit", 0},
    {"scavenge=eager", 0, 0, "scavenge", 1},
    {"scavenge=paced", 0, 0, "scavenge", 0},
    {"arena=64GiB", 0, 0, "arena", 64 * KC_GIB},
    {"arena=4M", 0, 0, "arena", 4 * KC_MIB},
    {"memprofilerate=1", 0, 0, "memprofilerate", 1},
    {"memprofilerate=0", 0, 0, "memprofilerate", 0},
    {"memprofilerate=64KiB", 0, 0, "memprofilerate", 64 * KC_KIB},
    {"memprofilerate=4G", 0, 0, "memprofilerate", 4 * KC_GIB},
    {",,debug=1,", 0, 0, "debug", 1},
    /* bad: malformed */
    {"memlimit=1.5G", 1, "'memlimit=1.5G': decimals are not accepted", "memlimit", INT64_MAX},
    {"memlimit=12Q", 1, "'memlimit=12Q': unknown size suffix", "memlimit", INT64_MAX},
    {"memlimit=5KB", 1, "unknown size suffix", "memlimit", INT64_MAX},
    {"memlimit=5kib", 1, "unknown size suffix", "memlimit", INT64_MAX},
    {"memlimit=", 1, "'memlimit=': empty value (accepted: 0 to 9223372036854775807 bytes", "memlimit", INT64_MAX},
    {"memlimit=G", 1, "not a number", "memlimit", INT64_MAX},
    {"scavtrace=x", 1, "'scavtrace=x': not a number (accepted: 0 to 1)", "scavtrace", 0},
    {"guardrate=-1", 1, "not a number", "guardrate", 0},
    {"debug=2K", 1, "'debug=2K': not a whole number (accepted: 0 to 3)", "debug", 0},
    {"scavenge=fast", 1, "'scavenge=fast': not one of the accepted words (accepted: paced or eager)", "scavenge", 0},
    {"debug", 1, "'debug': no value", "debug", 0},
    {"nonsense=3", 1, "'nonsense=3': unknown knob", "debug", 0},
    {"memlimit=99999999999999999999", 1, "too large", "memlimit", INT64_MAX},
    {"memlimit=99999999999T", 1, "too large", "memlimit", INT64_MAX},
    /* out of range: errors, not clamps */
    {"efence=7", 1, "'efence=7': out of range (accepted: 0 to 3)", "efence", 0},
    {"efence=4", 1, "out of range", "efence", 0},
    {"debug=99", 1, "'debug=99': out of range (accepted: 0 to 3)", "debug", 0},
    {"arena=1M", 1, "'arena=1M': out of range (accepted: 4194304 to 281474976710656 bytes", "arena", 0},
    {"arena=512TiB", 1, "out of range", "arena", 0},
    {"madvdontneed=2", 1, "out of range (accepted: 0 to 1)", "madvdontneed", 1},
    {"scavtrace=2", 1, "out of range", "scavtrace", 0},
    {"allocfreetrace=5", 1, "out of range", "allocfreetrace", 0},
    {"guardrate=4294967296", 1, "out of range (accepted: 0 to 4294967295)", "guardrate", 0},
    {"memlimit=9223372036854775808", 1, "out of range", "memlimit", INT64_MAX},
    {"memprofilerate=5G", 1, "'memprofilerate=5G': out of range (accepted: 0 to 4294967296 bytes", "memprofilerate",
     512 * KC_KIB},
    {"memprofilerate=x", 1, "not a number", "memprofilerate", 512 * KC_KIB},
    /* one bad token: the rest still applies */
    {"memlimit=1.5G,efence=1", 1, "decimals", "efence", 1},
    {"efence=1,nonsense=3,debug=2", 1, "unknown knob", "debug", 2},
    {"efence=7,debug=99,arena=1M,scavtrace=1", 3, "'efence=7'", "scavtrace", 1},
    /* repeated: later tokens win; a bad repeat keeps the earlier good value */
    {"debug=1,debug=2", 0, 0, "debug", 2},
    {"memlimit=1G,memlimit=bad", 1, "'memlimit=bad'", "memlimit", KC_GIB},
    {"scavenge=eager,scavenge=paced", 0, 0, "scavenge", 0},
    {"arena=8G,arena=16G", 0, 0, "arena", 16 * KC_GIB},
};
#define N_KNOB_CASES (sizeof knob_cases / sizeof knob_cases[0])

static inline int kc_streq(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}
static inline int kc_contains(const char *s, const char *w) {
    for (; *s; s++) {
        const char *a = s, *b = w;
        while (*b && *a == *b)
            a++, b++;
        if (!*b)
            return 1;
    }
    return !*w;
}

/* The value of a knob by name in k (the field the case names). */
static inline uint64_t knob_case_value(const struct gh_knobs *k, const char *f) {
#define KC_IS(n) kc_streq(f, n)
    if (KC_IS("scavtrace")) return k->scavtrace;
    if (KC_IS("allocfreetrace")) return k->allocfreetrace;
    if (KC_IS("efence")) return k->efence;
    if (KC_IS("guardrate")) return k->guardrate;
    if (KC_IS("debug")) return k->debug;
    if (KC_IS("madvdontneed")) return k->madvdontneed;
    if (KC_IS("memlimit")) return (uint64_t)k->memlimit;
    if (KC_IS("scavenge")) return k->scavenge_eager;
    if (KC_IS("arena")) return k->arena;
    if (KC_IS("ncpu")) return k->ncpu;
    if (KC_IS("bgthread")) return k->bgthread;
    if (KC_IS("lockstats")) return k->lockstats;
    if (KC_IS("memprofilerate")) return k->memprofilerate;
#undef KC_IS
    return ~0ull;
}

/* Runs case c; returns 0 when it behaves, else a short reason (got: the details). */
static inline const char *knob_case_run(const struct knob_case *c, unsigned features,
                                        struct gh_knobs *k) {
    gh_knobs_defaults(k);
    int bad = gh_knobs_parse(k, c->in, features);
    const char *m = gh_knobs_first_error();
    if (bad != c->nbad)
        return "wrong number of bad tokens";
    if (c->msg && (!m || !kc_contains(m, c->msg)))
        return "message";
    if (!c->msg && m)
        return "unexpected message";
    if (knob_case_value(k, c->field) != c->want)
        return "value";
    return 0;
}

#endif /* TESTS_KNOB_CASES_H */
