/* alloc/knobs.h: GODEBUG-style knobs (goheap_config.knobs, hosted: $GOHEAPDEBUG,
 * kernel: goheap=... on the command line), parsed once by goheap_init. */
#ifndef GOHEAP_KNOBS_H
#define GOHEAP_KNOBS_H

#include <stdbool.h>
#include <stdint.h>

struct gh_knobs {
    unsigned scavtrace;      /* 1: one line per scavenger cycle */
    unsigned allocfreetrace; /* 1: one line per malloc and free */
    unsigned efence;         /* 1: every object on its own pages + guard page */
    uint64_t guardrate;      /* N>0: every Nth allocation gets efence treatment */
    unsigned debug;          /* 0..3: lock-rank checks (>=1), span checks at every
                              * cache/uncache (>=2), page allocator self-checks on
                              * every page allocation (>=3) */
    unsigned madvdontneed;   /* 1 (default): released pages read zero; 0: lazy */
    int64_t memlimit;        /* soft memory limit in bytes, INT64_MAX: none */
    unsigned scavenge_eager; /* scavenge=eager: release free runs at once */
    uint64_t arena;          /* arena=SIZE: address space to reserve (0: default) */
    unsigned ncpu;           /* ncpu=N: hosted only, number of cache slots (0: default) */
    /* Derived: any knob that needs every malloc/free to take the instrumented path. */
    bool slowmode;
};

extern struct gh_knobs gh_knobs;

/* The debug level as a constant-looking expression, for `if (GOHEAP_DEBUG)`. */
#define GOHEAP_DEBUG (gh_knobs.debug)

/* Parses "k=v,k=v". Sizes accept K/M/G/T suffixes. Returns 0, or -1 on an unknown
 * knob or a malformed value (and logs which). Unknown keys are an error so that a
 * typo does not silently disable a safety check. */
int gh_knobs_parse(struct gh_knobs *k, const char *s);
void gh_knobs_defaults(struct gh_knobs *k);

#endif /* GOHEAP_KNOBS_H */
