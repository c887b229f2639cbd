/* alloc/lockrank.h: the allocator's locks and their one declared order. A lock may
 * only be taken while every lock already held on this CPU has a LOWER rank, so
 * locks nest only in this order:
 *
 *     mcentral[spc].lock  <  mheap.lock  <  meta.lock (fixalloc/persistentalloc)
 *     scav.lock (scavenger pacing state) is taken alone.
 *
 * With debug>=1 (knob) every acquire checks the order and recursion against a
 * per-CPU bitmask of held ranks and panics naming both locks. Locks are only taken
 * pinned (platform.h), so "per CPU" is exact. Never unmap with any of them held.
 */
#ifndef GOHEAP_LOCKRANK_H
#define GOHEAP_LOCKRANK_H

#include "knobs.h"
#include "platform.h"
#include "util.h"

enum gh_rank {
    GH_RANK_SCAV = 1,    /* scavenger pacing state; leaf */
    GH_RANK_CENTRAL = 2, /* one per span class */
    GH_RANK_HEAP = 3,    /* page allocator, arena growth, heap counters */
    GH_RANK_META = 4,    /* fixalloc/persistentalloc: span and cache structs */
};

struct gh_mutex {
    goheap_lock_t l;
    uint8_t rank;
};

/* Held-rank bitmask per CPU, only maintained when debug>=1. */
extern uint32_t *gh_held_ranks;

GH_COLD void gh_lockrank_violation(const struct gh_mutex *m, unsigned cpu, uint32_t held);

static inline void gh_lock(struct gh_mutex *m, unsigned cpu) {
    if (GOHEAP_DEBUG && gh_held_ranks) {
        uint32_t held = gh_held_ranks[cpu];
        if (held >> m->rank)
            gh_lockrank_violation(m, cpu, held);
        gh_held_ranks[cpu] = held | (1u << m->rank);
    }
    goheap_sys_lock(&m->l);
}

static inline void gh_unlock(struct gh_mutex *m, unsigned cpu) {
    goheap_sys_unlock(&m->l);
    if (GOHEAP_DEBUG && gh_held_ranks)
        gh_held_ranks[cpu] &= ~(1u << m->rank);
}

/* Debug: assert this CPU holds no allocator lock (before an unmap). */
static inline void gh_assert_no_locks(unsigned cpu) {
    if (GOHEAP_DEBUG && gh_held_ranks && gh_held_ranks[cpu])
        gh_panicf("goheap: lock held across unmap (cpu %u, ranks 0x%x)", cpu, gh_held_ranks[cpu]);
}

#endif /* GOHEAP_LOCKRANK_H */
