/* alloc/mcentral.h: one central pool per span class (Go's mcentral): spans that no
 * CPU caches, in three lists under the class-local lock.
 *
 *   partial: swept, has free slots          (cstate PARTIAL)
 *   full:    had no free slot when swept    (cstate FULL)
 *   pending: full, then freed into remotely (cstate PENDING): sweep before use
 *
 * The full -> pending handshake (no lost wake-up): a span is published FULL by a
 * seq_cst store under the lock, after which the publisher re-reads remoteFree (seq_cst).
 * A remote freer does its seq_cst fetch_or on remoteFree, then a seq_cst load of
 * cstate. In the single total order of these four operations one side must see the
 * other: either the freer sees FULL (and CASes FULL -> PENDING, then moves the span
 * under the lock), or the publisher sees the bit (and does the CAS itself). The CAS
 * lets exactly one of them move it. See docs/alloc.md. */
#ifndef GOHEAP_MCENTRAL_H
#define GOHEAP_MCENTRAL_H

#include "lockrank.h"
#include "mspan.h"

struct mcentral {
    struct gh_mutex lock;
    /* ---- protected by lock ---- */
    struct gh_spanlist partial, full, pending;
    /* The class's remote frees (gh_mcache_remote_frees) when a reclaim pass last
     * walked the partial list: written under lock, read without it by reclaim before
     * grow, which walks the list only when the count has moved since. */
    _Atomic uint64_t partial_seen;
} GH_ALIGNED(GH_CACHELINE);

extern struct mcentral gh_central[GH_NUM_SPC];

struct mcache;
/* A span of class spc with a free slot in its cache word, now owned by cpu (owner
 * set). Sweeps pending spans first, then partial ones, then grows from the heap.
 * Pinned. NULL when out of memory. */
struct mspan *gh_central_cache_span(struct mcache *c, unsigned cpu, unsigned spc);
/* The owner gives s back: folds, sweeps, and files it (or frees it when empty).
 * Pinned; no lock held. */
void gh_central_uncache_span(unsigned cpu, struct mspan *s);
/* A remote freer saw FULL: try the FULL -> PENDING flip and move the span. Pinned
 * on cpu, c its cache, which records the wake in flight; or gh_emptycache (shared: it
 * records nothing), whose wake takes the class lock before the flip. */
void gh_central_wake(struct mcache *c, unsigned cpu, struct mspan *s);
/* In a fork child, every class lock held (alloc/fork.c goheap_fork_child), for each
 * cache c: a wake that c's thread had flipped to PENDING and not yet listed
 * (mcache.waking) is listed, so that the child sweeps and reuses the span. */
void gh_central_fork_child(struct mcache *c);
/* Sweep every central span of every class that has remote frees; free the empty ones
 * to the heap. Returns the number of spans freed. Pinned; no lock but possibly the
 * caller's own mcache.lock held. pending_only: only the pending lists (the cheap pass
 * before growing the heap). */
unsigned gh_central_reclaim(unsigned cpu, int pending_only);
unsigned gh_central_sweep_all(unsigned cpu); /* gh_central_reclaim(cpu, 0) */
/* Set by goheap_fork_child (alloc/fork.c), cleared by the child's first full reclaim
 * pass (gh_central_reclaim with pending_only 0): a remote free that another thread of
 * the parent had made (its OR) and not yet woken may have left the child a span on
 * a full list, FULL, with free slots (the handshake above, half done). That pass
 * sweeps it like any full span with remote frees; until then the validator takes it
 * for what it is (stats.c). */
extern _Atomic int gh_fork_unwoken;
/* Reclaim before grow (Go's mheap.reclaim): the heap has no free run for a span of
 * the caller's CPU, so before it grows, that CPU's parked spans found empty
 * (gh_mcache_give_back_empty), the empty spans of every class's pending list (a span
 * filed full and freed into since, woken by its first free) and of the partial lists
 * of the classes with remote frees since their last walk (a span filed partial wakes
 * nothing when freed into) go back to it, and memory freed in one class is reused by
 * another. Not the other CPUs'
 * caches: their drain locks rank with the caller's, held here (the background step's
 * pass reaches them). Pinned on c's CPU; caller holds c->lock. */
void gh_central_reclaim_before_grow(struct mcache *c, unsigned cpu);

#endif /* GOHEAP_MCENTRAL_H */
