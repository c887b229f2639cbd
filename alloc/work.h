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
#define GH_WORK_BG 4u    /* a CPU took GH_REFILLS_PER_BG_POLL refills, or the first freed
                          * pages piled up (GH_BG_ASK_FREE_BYTES): poll the background step */
#define GH_WORK_PROFILE 8u /* goheap_profile_request (e.g. SIGUSR2): dump the heap profile */
#define GH_WORK_GREW 16u   /* the arena grew: drain every CPU's cache (scavenge.c reclaim) */
extern _Atomic unsigned gh_work;
static inline void gh_want_work(unsigned w) {
    if (!(atomic_load_explicit(&gh_work, memory_order_relaxed) & w))
        atomic_fetch_or_explicit(&gh_work, w, memory_order_relaxed);
}
void gh_after_slow_work(void);
/* Set by the first background poll (GH_WORK_BG); a fork child keeps its parent's
 * (its thread comes back at its first refill poll, as before: starting one at its
 * first large free would make even a child that only frees and execs two-threaded,
 * and a thread started in the child of a threaded fork is beyond what POSIX allows
 * there; ThreadSanitizer refuses it). Until then
 * the heap raises GH_WORK_BG itself (gh_bg_ask_if) once freed memory piles up in its
 * free pages or its large span cache (not a CPU's: that put is the large free's fast
 * path, and the cache holds at most 4 MiB): a program that frees large
 * objects but takes no refill (no poll) would otherwise never start the hosted
 * background thread, and keep every freed page backed for good (4 x 64 MiB freed:
 * 258 MiB resident 25 s later; core-lifecycle t_background_large_frees). */
extern _Atomic int gh_bg_polled;
/* Half of the page allocator's chunk, the heap's growth unit: a program that never
 * polls keeps at most about this much freed memory backed in each of those places,
 * plus its CPUs' large span caches. */
#define GH_BG_ASK_FREE_BYTES (2ull << 20)
static inline void gh_bg_ask_if(uint64_t idle_bytes) {
    if (__builtin_expect(idle_bytes >= GH_BG_ASK_FREE_BYTES, 0) &&
        !atomic_load_explicit(&gh_bg_polled, memory_order_relaxed))
        gh_want_work(GH_WORK_BG);
}
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
