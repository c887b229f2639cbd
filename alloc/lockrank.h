/* alloc/lockrank.h: the allocator's locks. Each has a class from the system-wide
 * table (include/goheap_lockclass.h), which fixes the one order they nest in:
 *
 *     mcache.lock  <  mcentral[spc].lock  <  profile lock  <  mheap.lock  <  meta.lock (fixalloc/persistentalloc)
 *
 * below the platform's page-table, frame and console locks. With debug>=1 (knob), or
 * always when the platform defines GOHEAP_SYS_LOCKCHECK to 1, every acquire is checked
 * against the classes already held on this CPU (by the allocator or the platform) and
 * a violation panics naming both. Locks are only taken pinned (platform.h), so "per
 * CPU" is exact. Never unmap with any of them held (gh_assert_no_locks).
 *
 * mcache.lock is a CPU's cache-drain lock (mcache.h): its owner holds it around
 * refills, a drainer on any CPU to take that cache's empty parked spans and page
 * cache; nobody holds two of them (one class).
 */
#ifndef GOHEAP_LOCKRANK_H
#define GOHEAP_LOCKRANK_H

#include "goheap_lockclass.h"
#include "knobs.h"
#include "platform.h"
#include "util.h"

#ifndef GOHEAP_SYS_LOCKCHECK
#define GOHEAP_SYS_LOCKCHECK 0
#endif
/* Whether lock acquisitions are checked right now. */
#define GH_LOCKCHECK (GOHEAP_SYS_LOCKCHECK || GOHEAP_DEBUG)

struct gh_mutex {
    goheap_lock_t l;
    /* its class (enum goheap_lock_class); 0 in gh_central's locks, whose class is
     * their address's (gh_mutex_rank) */
    uint8_t rank;
};
/* m's lock class: m->rank, or GOHEAP_LC_CENTRAL for a class lock of gh_central
 * (zero-initialised, in .bss: mcentral.c). The slow paths only. */
unsigned gh_mutex_rank(const struct gh_mutex *m);

/* Lock statistics (lockstats=1): per CPU and lock class, written only by that CPU
 * (pinned) with relaxed stores, summed on read (goheap_read_memstats). */
struct gh_lockstat {
    uint64_t acquires, contended, wait_ns;
};
extern struct gh_lockstat *gh_lockstats; /* [ncpu][GOHEAP_LC_COUNT], NULL when off */
/* debug>=1 or lockstats=1 (bit 0), or a fork in progress (bit 1, GH_LOCK_SLOW_FORK):
 * every acquisition and release takes the slow functions. One byte, so a lock
 * acquisition with all off costs one load and one predicted branch, as before. Read
 * relaxed: the fork bit changes while other threads run. */
extern uint8_t gh_lock_slow_on;
#define GH_LOCK_SLOW_FORK 2u
/* Between goheap_fork_prepare and parent/child: 1 if m is one of the locks prepare
 * took and the calling thread is the one that took them (fork.c). */
int gh_fork_nested(const struct gh_mutex *m);
void gh_lock_slow(struct gh_mutex *m, unsigned cpu);
void gh_unlock_slow(struct gh_mutex *m, unsigned cpu);
int gh_trylock_slow(struct gh_mutex *m, unsigned cpu);

static inline void gh_lock(struct gh_mutex *m, unsigned cpu) {
    if (GOHEAP_SYS_LOCKCHECK || gh_unlikely(__atomic_load_n(&gh_lock_slow_on, __ATOMIC_RELAXED))) {
        gh_lock_slow(m, cpu);
        return;
    }
    goheap_sys_lock(&m->l);
}

/* Takes m if it is free and returns 1; returns 0 at once if it is held. Where the
 * platform has no trylock (GOHEAP_SYS_HAVE_TRYLOCK undefined) it waits like gh_lock
 * and returns 1. For a drainer, which must never wait for another CPU's owner. */
static inline int gh_trylock(struct gh_mutex *m, unsigned cpu) {
    if (GOHEAP_SYS_LOCKCHECK || gh_unlikely(__atomic_load_n(&gh_lock_slow_on, __ATOMIC_RELAXED)))
        return gh_trylock_slow(m, cpu);
    return goheap_sys_trylock(&m->l);
}

/* (The slow path releases the lock itself: a fork's nested acquisition is no
 * acquisition, and its release must leave the lock held.) */
static inline void gh_unlock(struct gh_mutex *m, unsigned cpu) {
    if (GOHEAP_SYS_LOCKCHECK || gh_unlikely(__atomic_load_n(&gh_lock_slow_on, __ATOMIC_RELAXED))) {
        gh_unlock_slow(m, cpu);
        return;
    }
    goheap_sys_unlock(&m->l);
}

/* Debug: before an unmap (which may wait for other CPUs): panics if the calling CPU
 * holds any lock, the allocator's or the platform's. Caller unpinned. */
void gh_assert_no_locks(void);

#endif /* GOHEAP_LOCKRANK_H */
