/* alloc/fixalloc.h: off-heap metadata memory. persistentalloc hands out zeroed,
 * never-freed memory carved from 256 KiB chunks; a fixalloc recycles fixed-size
 * objects (mspan, mcache) through a free list threaded through the objects. Both
 * are protected by gh_meta.lock (rank META, a leaf). */
#ifndef GOHEAP_FIXALLOC_H
#define GOHEAP_FIXALLOC_H

#include "lockrank.h"

/* 256 KiB: Go's persistentChunkSize; small enough that a 64 MiB kernel does not
 * notice, large enough that metadata costs one map call per ~500 spans. */
#define GH_PERSISTENT_CHUNK (256u << 10)
/* Objects of a fixalloc come from runs of up to 16 KiB, Go's _FixAllocChunk. The
 * first run is GH_FIXALLOC_FIRST and each next one doubles what the fixalloc has, so
 * that the few span structs of a small program, spread over the span-struct buckets
 * (one fixalloc per bitmap size), share pages instead of opening a 16 KiB run each
 * (a run's pages are touched as its objects are handed out). A churn loop of 8-256 B
 * objects on one thread (16 spans in 5 buckets): persistent metadata resident 80 ->
 * 52 KiB. Go opens a full run at once. */
#define GH_FIXALLOC_CHUNK (16u << 10)
#define GH_FIXALLOC_FIRST (2u << 10)

struct gh_fixalloc {
    size_t size;           /* object size, >= sizeof(void *) */
    void *list;            /* free objects, linked through their first word */
    uintptr_t chunk;       /* bump pointer into the current run */
    size_t nchunk;         /* bytes left in the run */
    uint64_t inuse;        /* bytes handed out and not freed */
    uint64_t sys;          /* bytes obtained from persistentalloc */
    /* 1: a recycled object is handed out as it was freed and the caller resets it.
     * Span structs need this: a late remote freer may still load a recycled span's
     * atomic fields (cstate, spc) after its OR, so they must be rewritten with atomic
     * stores, never by memset (a data race in C11). Go's spanalloc does not zero
     * either, for the same kind of reason (sweepgen). Fresh objects are always zero. */
    uint8_t noclear;
};

struct gh_meta {
    struct gh_mutex lock;
    /* protected by lock */
    uintptr_t pchunk, pend; /* current persistent chunk [pchunk, pend) */
    /* atomic (relaxed; gh_meta_map updates both without the lock, statistics and the
     * memory limit read them racily) */
    uint64_t other_sys; /* persistentalloc bytes not owned by a fixalloc */
    uint64_t mapped;    /* every metadata byte mapped */
};
extern struct gh_meta gh_meta;

/* Caller holds gh_meta.lock. Zeroed memory or NULL when the platform is out. */
void *gh_persistentalloc(size_t size, size_t align, uint64_t *stat);
void gh_fixalloc_init(struct gh_fixalloc *f, size_t size);
void *gh_fixalloc_alloc(struct gh_fixalloc *f); /* zeroed unless noclear; caller holds gh_meta.lock */
void gh_fixalloc_free(struct gh_fixalloc *f, void *p);

/* Metadata that is reserved once and mapped as it grows (span map, summaries):
 * caller holds no lock; counts into gh_meta.mapped and other_sys. */
int gh_meta_map(void *addr, size_t bytes);

#endif /* GOHEAP_FIXALLOC_H */
