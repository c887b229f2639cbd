/* alloc/work.h: deferred work for the slow paths (scavenge.c runs it): the flags a
 * tier raises where the work arises, and the soft memory limit that raises one. A
 * leaf header, so the tiers below the API (mheap.c, mcache.c) need not see core.h. */
#ifndef GOHEAP_WORK_H
#define GOHEAP_WORK_H

#include <stdatomic.h>
#include <stdint.h>

#include "util.h"

#pragma GCC visibility push(hidden)

/* Work for gh_after_slow, set (relaxed) where it arises so that the common check is
 * one load of a read-mostly word: */
#define GH_WORK_LIMIT 1u /* heap grew while a memory limit is set */
#define GH_WORK_EAGER 2u /* scavenge=eager and a span was freed */
#define GH_WORK_BG 4u    /* a CPU took SCAV_TICKS_PER_STEP refills: poll the background step */
#define GH_WORK_PROFILE 8u /* goheap_profile_request (e.g. SIGUSR2): dump the heap profile */
#define GH_WORK_GREW 16u   /* the arena grew: drain every CPU's cache (scavenge.c reclaim) */
extern _Atomic unsigned gh_work;
static inline void gh_want_work(unsigned w) {
    if (!(atomic_load_explicit(&gh_work, memory_order_relaxed) & w))
        atomic_fetch_or_explicit(&gh_work, w, memory_order_relaxed);
}
void gh_after_slow_work(void);
/* Limit, eager and paced scavenging, after a slow path (unpinned, no lock). */
static inline void gh_after_slow(void) {
    if (gh_unlikely(atomic_load_explicit(&gh_work, memory_order_relaxed)))
        gh_after_slow_work();
}
/* The soft memory limit in bytes (INT64_MAX: none); scavenge.c owns it. */
extern _Atomic int64_t gh_memlimit;
/* goheap_set_memory_limit was called before goheap_init: init keeps that limit
 * instead of storing the memlimit= knob's (or the default, none) over it. */
extern _Atomic int gh_memlimit_api;

#pragma GCC visibility pop

#endif /* GOHEAP_WORK_H */
