/* alloc/knobs.h: GODEBUG-style knobs (goheap_config.knobs, hosted: $GOHEAPDEBUG,
 * kernel: goheap=... on the command line), parsed once by goheap_init. */
#ifndef GOHEAP_KNOBS_H
#define GOHEAP_KNOBS_H

#include <stdbool.h>
#include <stdint.h>

/* Longest memprofile= path, NUL included. */
#define GH_KNOB_PATH_MAX 256
/* Go's default MemProfileRate: 512 KiB. */
#define GH_KNOB_MEMPROFILERATE_DEFAULT (512u << 10)

struct gh_knobs {
    unsigned scavtrace;      /* 1: one line per scavenger cycle */
    unsigned allocfreetrace; /* 1: one line per malloc and free */
    unsigned efence;         /* 1: every object at its page end before a guard page (16 B
                              * aligned, canary in the slack); 2: byte-exact end;
                              * 3: at its page start after a guard page (see efence.c) */
    uint64_t guardrate;      /* N>0: every Nth allocation gets efence treatment */
    unsigned debug;          /* 0..3: lock-rank checks (>=1), span checks at every
                              * cache/uncache (>=2), page allocator self-checks on
                              * every page allocation (>=3) */
    unsigned madvdontneed;   /* 1 (default): released pages read zero; 0: lazy */
    int64_t memlimit;        /* soft memory limit in bytes, INT64_MAX: none */
    unsigned scavenge_eager; /* scavenge=eager: release free runs at once */
    uint64_t arena;          /* arena=SIZE: address space to reserve (0: default) */
    unsigned ncpu;           /* ncpu=N: hosted only, number of cache slots (0: default) */
    unsigned bgthread;       /* bgthread=0: hosted only, no background thread (default 1) */
    unsigned lockstats;      /* lockstats=1: count acquisitions, contention, wait per lock class */
    uint64_t memprofilerate; /* heap profile sampling: mean bytes between samples; 0 off,
                              * 1 every allocation (Go's MemProfileRate) */
    char memprofile[GH_KNOB_PATH_MAX]; /* memprofile=PATH: hosted only, write the heap
                                        * profile there at exit (and on SIGUSR2) */
    /* Derived: any knob that needs every malloc/free to take the instrumented path. */
    bool slowmode;
};

extern struct gh_knobs gh_knobs;

/* Lazy release (madvdontneed=0): released pages may stay backed. Never with efence or
 * guardrate, whose freed and guard pages must fault at once. */
static inline int gh_release_lazy(void) {
    return !gh_knobs.madvdontneed && !gh_knobs.efence && !gh_knobs.guardrate;
}

/* The debug level as a constant-looking expression, for `if (GOHEAP_DEBUG)`. */
#define GOHEAP_DEBUG (gh_knobs.debug)

#define GH_EFENCE_MAX 3
/* The most exclusive cache slots the hosted platform has (MAX_SLOTS - overflow). */
#define GH_KNOB_NCPU_MAX 4088u
/* Knobs only some platforms support: `features` of gh_knobs_parse has the bit set
 * where the platform does (api.c knob_features: GOHEAP_SYS_HAVE_NCPU_KNOB,
 * GOHEAP_SYS_HAVE_BACKGROUND, GOHEAP_SYS_HAVE_PROFILE_DUMP in alloc/platform.h). */
#define GH_KNOB_NEEDS_NCPU 1u /* ncpu=: the hosted build's slot count */
#define GH_KNOB_NEEDS_BGTHREAD 2u /* bgthread=: a platform with a background thread */
#define GH_KNOB_NEEDS_FILES 4u /* memprofile=: a platform that can write files */
#define GH_KNOB_FEATURES_ALL (~0u)
#define GH_KNOB_ERROR_MAX 240

/* Parses "k=v,k=v" into k, token by token: a bad token (unknown knob, no value,
 * malformed or out-of-range value, a knob this platform lacks) is logged through
 * goheap_sys_log by name with the accepted range, and the other tokens still apply
 * (later tokens override earlier ones). Unknown keys are errors so that a typo does
 * not silently disable a safety check. Sizes: an integer with an optional B, KiB,
 * MiB, GiB, TiB (Go's GOMEMLIMIT syntax) or K, M, G, T (binary aliases) suffix.
 * Returns the number of bad tokens; gh_knobs_first_error() then gives the first
 * message. */
int gh_knobs_parse(struct gh_knobs *k, const char *s, unsigned features);
const char *gh_knobs_first_error(void);
void gh_knobs_defaults(struct gh_knobs *k);

#endif /* GOHEAP_KNOBS_H */
