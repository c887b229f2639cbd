/* alloc/fork.c: fork safety. prepare takes every allocator lock in class order
 * (include/goheap_lockclass.h), so fork copies none of them held by a thread that does
 * not exist in the child; parent and child release them again. */
#include "core.h"

/* Raw locks: the mcentral locks are one class and are held together here, which the
 * order check (meant for one lock per class) would refuse. Class order: every mcentral,
 * then the heap, then meta; release in reverse. Any lock added to the allocator (lock
 * statistics, background state, a profiler) is taken here in its class's place. */
/* Which CPU caches' drain locks prepare took: a cache another thread creates after
 * prepare looked at its slot is not locked, and the parent must not unlock it (its
 * thread may hold it); the child unlocks it (goheap_fork_child: that thread is gone).
 * Written only by the forking thread between prepare and parent/child (concurrent
 * forks are serialised by the platform's prepare, e.g. hosted's overflow locks).
 * 8192 slots: more than any platform has (hosted: at most 4096). */
#define FORK_MAX_SLOTS 8192u
static uint64_t fork_locked[FORK_MAX_SLOTS / 64];

/* The background step (scavenge.c) runs with no lock held between its locked parts:
 * a run taken out of the page allocator and being unmapped (its pages "scavenging"),
 * spans taken from a cache and not yet freed, a large span cache half drained. A fork
 * copying memory then gave the child that state for good, with no thread to finish
 * it: a single-threaded program forking while its background thread scavenged left
 * the child a quantum (up to 1 MiB) neither free nor released, which
 * goheap_free_os_memory never returned and which switched goheap_validate's page
 * checks off. So prepare first waits for a running step and keeps new ones from
 * starting (gh_background_hold, as goheap_validate does) until parent/child. Taken
 * before any lock, since a step takes them all, and before the platform's own locks
 * where it has any (hosted: the overflow slots, which a step pins):
 * goheap_fork_hold_background. Written only by the forking thread. */
static int bg_held;

/* Nested allocations. Fork handlers run in an order the allocator does not choose:
 * glibc runs prepare handlers in the reverse order of their registration and
 * parent/child handlers in that order, and the hosted build registers its own at the
 * first malloc, so a program's handlers registered before then run while prepare
 * holds every lock. Under glibc's malloc (locked by fork itself, after every handler)
 * they may allocate, and here that deadlocked: the forking thread waited for a lock it
 * held. So while prepare's locks are held (fork_holding), an acquisition by the
 * forking thread (goheap_sys_fork_self) of one of them is no acquisition and its
 * release no release: the thread is in none of the critical sections it holds, so
 * entering one is as safe as if it had taken the lock then, and every other thread
 * still waits. The lock functions see it through gh_lock_slow_on's fork bit, set only
 * meanwhile, so the locks cost nothing more otherwise. */
static _Atomic int fork_holding;

/* Tests only (core-forkgone t_fork_cache_after_scan): called by prepare right after it
 * took the CPU caches' drain locks, before any other lock. */
gh_fork_hook_fn *gh_fork_scan_test_hook;

/* The forking thread between prepare and parent/child (a fork handler of the program
 * running inside ours). */
static int fork_self_holding(void) {
    return atomic_load_explicit(&fork_holding, memory_order_relaxed) && goheap_sys_fork_self();
}

int gh_fork_nested(const struct gh_mutex *m) {
    if (!fork_self_holding())
        return 0;
    if (m == &gh_heap.lock || m == &gh_meta.lock || gh_prof_is_lock(m))
        return 1;
    uintptr_t off = (uintptr_t)m - (uintptr_t)gh_central;
    if (off < sizeof gh_central)
        return off % sizeof gh_central[0] == __builtin_offsetof(struct mcentral, lock);
    for (unsigned i = 0; i < gh_ncpu && i < FORK_MAX_SLOTS; i++)
        if (fork_locked[i / 64] & (1ull << (i % 64)) &&
            &__atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE)->lock == m)
            return 1;
    return 0;
}

/* The same for the background step's guard: goheap_free_os_memory and goheap_validate
 * hold the step off (gh_background_hold) and, called from such a handler, waited for
 * the guard the forking thread holds, forever. For that thread the hold is already
 * taken (bg_held, its own write) and kept until parent/child: gh_background_hold
 * neither takes nor releases it. */
int gh_fork_holds_background(void) { return fork_self_holding() && bg_held; }

/* The fork gate (core.h): Dekker's protocol, as the unmap gate's (sysmem.h), both
 * sides seq_cst. A mover (or a profiler's large record, core.h) announces itself in
 * gh_fork_gate_busy, then backs off (unpinned, no lock held; a pinned caller of
 * gh_fork_gate_try goes its unpinned way instead) while gh_fork_gate_closed; a fork
 * closes the gate, then waits until gh_fork_gate_busy drains, in
 * goheap_fork_hold_background, before any lock (a mover pins, takes the heap, profile
 * and meta locks, and may hold off the background step in a lazy reclaim: so the
 * gate comes before that hold too), and opens it in parent/child (a count: a fork
 * serialised behind another's prepare keeps it closed). */
_Atomic unsigned gh_fork_gate_busy, gh_fork_gate_closed; /* (core.h) */
_Atomic int gh_fork_unwoken; /* (mcentral.h) */

int gh_fork_gate_self(void) { return fork_self_holding(); }

int gh_fork_gate_wait(void) {
    for (;;) {
        while (atomic_load_explicit(&gh_fork_gate_closed, memory_order_relaxed))
            ; /* a fork is under way: it takes a few ms at most */
        int g = gh_fork_gate_try();
        if (g >= 0)
            return g;
    }
}

/* One fork at a time. Two threads forking at once both ran prepare: the second found
 * bg_held set by the first and went on without the background hold and the fork gate,
 * then took the locks once the first fork's parent released them, so its child could
 * copy a background step or a zero-copy move caught mid-way, the state the hold exists
 * to keep out of children, or deadlock taking the hold while holding them (core-fork
 * t_fork_concurrent: the second hold returned while the first fork held). A fork now
 * waits here, before any hold or lock, until another
 * thread's fork has ended (its parent handler; a child starts with it open). Taken in
 * goheap_fork_hold_background by the forking thread; that thread's second call
 * (goheap_fork_prepare after the platform's own call) knows itself by
 * goheap_sys_fork_self (tested first: bg_held is the holder's, read by no other thread),
 * so a platform that calls both needs it (hosted does). */
static _Atomic int fork_serial;

void goheap_fork_hold_background(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) || (goheap_sys_fork_self() && bg_held))
        return;
    while (atomic_exchange_explicit(&fork_serial, 1, memory_order_acquire))
        while (atomic_load_explicit(&fork_serial, memory_order_relaxed))
            ; /* another thread's fork, from its prepare to its parent handler */
    atomic_fetch_add_explicit(&gh_fork_gate_closed, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&gh_fork_gate_busy, memory_order_seq_cst))
        ; /* a zero-copy move in its gated part (a page-table move and a publication),
           * or a large record and its bucket's counts */
    gh_background_hold(1);
    bg_held = 1;
}

void goheap_fork_prepare(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return;
    goheap_fork_hold_background();
    /* Every CPU cache's drain lock (class mcache, lowest): a drainer (the hosted
     * background thread) may hold one at any time. */
    for (unsigned i = 0; i < gh_ncpu && i < FORK_MAX_SLOTS; i++) {
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        if (c != &gh_emptycache) {
            goheap_sys_lock(&c->lock.l);
            fork_locked[i / 64] |= 1ull << (i % 64);
        }
    }
    if (gh_fork_scan_test_hook)
        gh_fork_scan_test_hook();
    for (unsigned spc = 0; spc < GH_NUM_SPC; spc++)
        goheap_sys_lock(&gh_central[spc].lock.l);
    gh_prof_fork(1);
    goheap_sys_lock(&gh_heap.lock.l);
    goheap_sys_lock(&gh_meta.lock.l);
    atomic_store_explicit(&fork_holding, 1, memory_order_relaxed);
    __atomic_fetch_or(&gh_lock_slow_on, GH_LOCK_SLOW_FORK, __ATOMIC_RELAXED);
}

void goheap_fork_parent(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return;
    __atomic_fetch_and(&gh_lock_slow_on, (uint8_t)~GH_LOCK_SLOW_FORK, __ATOMIC_RELAXED);
    atomic_store_explicit(&fork_holding, 0, memory_order_relaxed);
    goheap_sys_unlock(&gh_meta.lock.l);
    goheap_sys_unlock(&gh_heap.lock.l);
    gh_prof_fork(0);
    for (unsigned spc = GH_NUM_SPC; spc-- > 0;)
        goheap_sys_unlock(&gh_central[spc].lock.l);
    for (unsigned i = FORK_MAX_SLOTS; i-- > 0;)
        if (fork_locked[i / 64] & (1ull << (i % 64))) {
            fork_locked[i / 64] &= ~(1ull << (i % 64));
            goheap_sys_unlock(&__atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE)->lock.l);
        }
    if (bg_held) {
        bg_held = 0;
        gh_background_hold(0);
        atomic_fetch_sub_explicit(&gh_fork_gate_closed, 1, memory_order_release);
        atomic_store_explicit(&fork_serial, 0, memory_order_release);
    }
}

/* Caches of CPUs (hosted: thread slots) whose threads are not in a fork child
 * (goheap_fork_child_gone), each given back whole by the next drain of it
 * (gh_mcache_drain, which every reclaim pass runs on every cache): bit i for cache i,
 * taken (cleared) by that drain under the cache's lock. gone_any: some bit was set
 * in this process, so that a drain elsewhere reads one flag. */
static _Atomic uint64_t fork_gone[FORK_MAX_SLOTS / 64];
static _Atomic int fork_gone_any;
/* Caches named gone and not yet allowed for by a recount (gh_fork_recount_take). */
static _Atomic unsigned fork_recount_gone;

void goheap_fork_child_gone(unsigned cpu) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) || cpu >= gh_ncpu || cpu >= FORK_MAX_SLOTS)
        return;
    uint64_t bit = 1ull << (cpu % 64);
    if (!(atomic_fetch_or_explicit(&fork_gone[cpu / 64], bit, memory_order_relaxed) & bit))
        atomic_fetch_add_explicit(&fork_recount_gone, 1, memory_order_relaxed);
    atomic_store_explicit(&fork_gone_any, 1, memory_order_relaxed);
}

int gh_fork_gone_marked(unsigned cpu) {
    if (gh_likely(!atomic_load_explicit(&fork_gone_any, memory_order_relaxed)) || cpu >= FORK_MAX_SLOTS)
        return 0;
    return (atomic_load_explicit(&fork_gone[cpu / 64], memory_order_relaxed) >> (cpu % 64)) & 1;
}

unsigned gh_fork_recount_take(void) {
    if (gh_likely(!atomic_load_explicit(&fork_gone_any, memory_order_relaxed)))
        return 0;
    return atomic_exchange_explicit(&fork_recount_gone, 0, memory_order_relaxed);
}

int gh_fork_gone_take(unsigned cpu) {
    if (gh_likely(!atomic_load_explicit(&fork_gone_any, memory_order_relaxed)) || cpu >= FORK_MAX_SLOTS)
        return 0;
    uint64_t bit = 1ull << (cpu % 64);
    return (atomic_fetch_and_explicit(&fork_gone[cpu / 64], ~bit, memory_order_relaxed) & bit) != 0;
}

/* The child has only the forking thread, which holds every lock (prepare): releasing
 * them is all it needs, and forgetting the parent's background step (a step caught
 * mid-way left its guard taken; the platform starts a new background thread at the
 * child's first poll). The platform names the per-CPU caches of threads that are gone
 * (goheap_fork_child_gone), and never hands their slots out again; the next reclaim
 * pass gives each back whole (gh_mcache_drain). A large malloc or realloc growth
 * that another thread was mapping (unpinned, no lock held: up to ~100 ms for 256 MiB)
 * has no thread left to finish it: its run goes back to the page allocator, counters
 * exact, before the heap and meta locks are released (gh_heap_fork_child, mheap.h);
 * so does the destination of a zero-copy move that had not begun moving (the move
 * itself is behind the fork gate). The gates' counts of threads that are not in the
 * child start again from zero: the fork gate's, and the unmap gate's (sysmem.h: a
 * leak scan's hold or an unmap in flight at the fork, left counted, kept every later
 * unmap or scan of the child waiting for good). */
void goheap_fork_child(void) {
    if (__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        /* A cache created after prepare's look at its slot (its thread's first
         * allocation, racing the fork) was not locked by prepare, and its thread may
         * have held its drain lock at the copy, in a refill waiting for a lock prepare
         * held: that thread is not in the child, and the lock stayed taken for good,
         * so that the child's next goheap_read_memstats or goheap_validate waited
         * forever (core-forkstress, its first child: 2 runs in 64). Only the forking
         * thread runs here, and holds no such lock (a cache of its own is prepare's,
         * and a fork handler's allocation let its lock go): every cache prepare did
         * not lock is free in the child. A thread copied running inside such a section
         * (not waiting) left its cache as a gone thread's cache is left elsewhere. */
        for (unsigned i = 0; i < gh_ncpu && i < FORK_MAX_SLOTS; i++) {
            struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
            if (c != &gh_emptycache && !(fork_locked[i / 64] & (1ull << (i % 64))))
                goheap_sys_unlock(&c->lock.l);
        }
        gh_sys_fork_child();
        for (unsigned i = 0; i < gh_ncpu; i++)
            gh_central_fork_child(__atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE));
        gh_heap_fork_child();
        gh_efence_fork_child();
    }
    goheap_fork_parent();
    atomic_store_explicit(&gh_fork_gate_busy, 0, memory_order_relaxed);
    atomic_store_explicit(&gh_fork_gate_closed, 0, memory_order_relaxed);
    if (__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        atomic_store_explicit(&gh_fork_unwoken, 1, memory_order_relaxed);
        gh_background_fork_child();
    }
}
