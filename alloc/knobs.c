/* alloc/knobs.c: parser for the GODEBUG-style knob string (see knobs.h). */
#include "knobs.h"
#include "util.h"

struct gh_knobs gh_knobs = {.madvdontneed = 1, .memlimit = INT64_MAX};

void gh_knobs_defaults(struct gh_knobs *k) {
    *k = (struct gh_knobs){.madvdontneed = 1, .memlimit = INT64_MAX};
}

static bool streq_n(const char *a, size_t n, const char *b) {
    size_t i = 0;
    for (; i < n; i++)
        if (a[i] != b[i] || !b[i])
            return false;
    return b[i] == 0;
}

/* Decimal with an optional K/M/G/T (binary) suffix. */
static int parse_size(const char *v, size_t n, uint64_t *out) {
    uint64_t x = 0;
    size_t i = 0;
    if (n == 0)
        return -1;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == 0)
        return -1;
    if (i < n) {
        unsigned sh;
        switch (v[i]) {
        case 'k': case 'K': sh = 10; break;
        case 'm': case 'M': sh = 20; break;
        case 'g': case 'G': sh = 30; break;
        case 't': case 'T': sh = 40; break;
        default: return -1;
        }
        i++;
        if (i < n && (v[i] == 'i' || v[i] == 'B'))
            i++;
        if (i < n && v[i] == 'B')
            i++;
        if (i != n || x > (UINT64_MAX >> sh))
            return -1;
        x <<= sh;
    }
    *out = x;
    return 0;
}

int gh_knobs_parse(struct gh_knobs *k, const char *s) {
    int err = 0;
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
        if (!eq) {
            gh_logf("goheap: knob without value: %s", key);
            err = -1;
            continue;
        }
        size_t kn = (size_t)(eq - key), vn = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        uint64_t x = 0;
        int bad = 0;
        if (streq_n(key, kn, "scavenge")) {
            if (streq_n(v, vn, "eager"))
                k->scavenge_eager = 1;
            else if (streq_n(v, vn, "paced"))
                k->scavenge_eager = 0;
            else
                bad = 1;
        } else if (parse_size(v, vn, &x)) {
            bad = 1;
        } else if (streq_n(key, kn, "scavtrace")) {
            k->scavtrace = (unsigned)x;
        } else if (streq_n(key, kn, "allocfreetrace")) {
            k->allocfreetrace = (unsigned)x;
        } else if (streq_n(key, kn, "efence")) {
            k->efence = (unsigned)x;
        } else if (streq_n(key, kn, "guardrate")) {
            k->guardrate = x;
        } else if (streq_n(key, kn, "debug")) {
            k->debug = (unsigned)x;
        } else if (streq_n(key, kn, "madvdontneed")) {
            k->madvdontneed = x != 0;
        } else if (streq_n(key, kn, "memlimit")) {
            k->memlimit = x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
        } else if (streq_n(key, kn, "arena")) {
            k->arena = x;
        } else if (streq_n(key, kn, "ncpu")) {
            k->ncpu = (unsigned)x;
        } else {
            gh_logf("goheap: unknown knob: %s", key);
            err = -1;
            continue;
        }
        if (bad) {
            gh_logf("goheap: bad value for knob: %s", key);
            err = -1;
        }
    }
    k->slowmode = k->allocfreetrace || k->efence || k->guardrate;
    return err;
}
