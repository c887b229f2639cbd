/* alloc/scavenge.c: returning free pages to the platform (Go's scavenger): the paced
 * background step, the synchronous path over the soft memory limit, scavenge=eager,
 * goheap_free_os_memory and the last resort before an allocation fails. Everything
 * here runs unpinned with no lock held, because unmapping may wait for other CPUs. */
#include "core.h"

_Atomic int64_t gh_memlimit = INT64_MAX;
_Atomic int gh_memlimit_api;

/* Pacing constants. Go targets 1% of one CPU (scavengePercent) and works in 64 KiB
 * quanta (scavengeQuantum, ~10 us per frame); a step stops after 1 ms of work
 * (minScavWorkTime). Our retained-heap goal replaces Go's GC-derived one: the peak
 * of heap_inuse over the last 10 s window (two windows kept) plus 10%
 * (retainExtraPercent). */
#define SCAV_QUANTUM (64u << 10)
#define SCAV_STEP_NS 1000000ull
#define SCAV_DUTY_SLEEP 99 /* sleep 99x the time worked: 1% */
#define SCAV_WINDOW_NS 10000000000ull
#define SCAV_RETAIN_EXTRA_PCT 10
/* Empty spans go home: a background step runs a reclaim pass (every CPU's empty
 * parked spans and page cache, every mcentral span with remote frees) at most once
 * per second, so an emptied span is back in the heap within about a second of
 * background time, well inside the two 10 s windows the goal keeps the peak for.
 * While the program allocates, passes are also held to 1% of a CPU on their own (a
 * pass of T delays the next by 99 T), apart from the scavenging's pacing. */
#define RECLAIM_PERIOD_NS 1000000000ull
/* ... but never more than one 10 s window (SCAV_WINDOW_NS) between passes, whatever
 * the last pass cost: an emptied span must be home within two windows. (A 1.9 s pass
 * under single-threaded TCG once put the next one 3 minutes away.) A pass as long as
 * 100 ms then costs at most 1% of a CPU anyway. */
#define RECLAIM_MAX_WAIT_NS SCAV_WINDOW_NS
/* An idle heap: no CPU has polled the background step from a refill (one poll per
 * 1024 refills) for 2 s. The program is not allocating, so memory kept for its next
 * peak is likely waste (redis after FLUSHALL, blocked in epoll_wait): the goal drops
 * to what is in use now + 10%, and the step works in 1 MiB quanta at up to 10% of a
 * CPU. Measured (bench/lifecycle idle, 2 M objects, 590 MB, this loaded 2-core box):
 * 64 KiB quanta at 1% release ~2.5 MB/s (a 64 KiB unmap costs ~200 us here), so an
 * idle 590 MB heap would take 4 minutes; jemalloc's decay returns it in ~10-20 s. */
#define IDLE_NS 2000000000ull
#define IDLE_QUANTUM (1u << 20)
#define IDLE_DUTY_SLEEP 9 /* 10% */
/* Over the memory limit with nothing left to scavenge, a reclaim pass runs at most
 * every 10 ms: often enough that a churning program's emptied spans never pile up by
 * more than 10 ms of its frees, rarely enough that a limit live data cannot meet
 * does not turn every slow path into a pass over the heap. */
#define LIMIT_RECLAIM_NS 10000000ull
/* ... or sooner, once the heap has grown by limit/64 since the last pass: time alone
 * let a fast churn map 45.4 MiB under a 40 MiB limit between two passes (core-lifecycle
 * t_memory_limit, 24 K objects of 0.5-1.5 KiB), and how far it got depended on the
 * machine's speed. By growth, a pass costs at most one sweep of the heap per 1/64 of
 * the limit newly mapped, and the excess stays near limit/64 whatever the speed. */
#define LIMIT_RECLAIM_GROWTH_DIV 64

static struct {
    _Atomic int running;      /* one background step at a time; guards the fields below */
    _Atomic uint64_t next_ns; /* read without the guard: no step before this time */
    uint64_t win_start, peak_cur, peak_prev;
    uint64_t next_reclaim;              /* guarded by running: no pass before this time */
    _Atomic uint64_t last_active;       /* last background poll from a refill */
    _Atomic int last_worked;            /* the last step released or reclaimed */
    _Atomic uint64_t last_limit_reclaim; /* LIMIT_RECLAIM_NS pacing, CAS-claimed */
    _Atomic uint64_t limit_reclaim_mapped; /* heap mapped after the last limit pass */
    _Atomic uint64_t released_total;
    _Atomic uint64_t reclaimed_spans;   /* spans given back by reclaim passes */
} scav;

static void trace(const char *why, uint64_t released) {
    if (!gh_knobs.scavtrace || !released)
        return;
    uint64_t inuse = gh_heap_inuse_bytes(), free = gh_heap_free_bytes();
    uint64_t rel = atomic_load(&gh_heap.heap_released);
    unsigned util = inuse + free ? (unsigned)(inuse * 100 / (inuse + free)) : 100;
    gh_logf("goheap: scav: %lu KiB released (%s), %lu KiB released total, %lu KiB heap "
            "released now, %lu KiB in use, %u%% util",
            (unsigned long)(released >> 10), why,
            (unsigned long)(atomic_load(&scav.released_total) >> 10), (unsigned long)(rel >> 10),
            (unsigned long)(inuse >> 10), util);
}

/* Lazy release where the platform reclaims through goheap_reclaim_lazy (the kernel,
 * GOHEAP_SYS_LAZY_RECLAIM): a released run stays mapped and nothing is called, so no
 * unmap and no shootdown until the platform runs short of frames. Elsewhere (hosted)
 * a lazy release is goheap_sys_unmap under the lazy policy (MADV_FREE). */
static inline int release_keeps_mapped(void) { return GOHEAP_SYS_LAZY_RECLAIM && gh_heap.pages.lazy; }

/* Step 1 of a release or a reclaim: pinned, under the heap lock, take(pa, max, &n)
 * takes a run of at most `left` bytes (rounded up to pages, at most a chunk) out of
 * a page allocator, and r (the caller's, on its stack) records it on
 * gh_heap.releasing in the same hold, so that a fork before the done finishes it
 * (gh_heap_fork_child). Returns its base (0: none). */
static uintptr_t take_run(uintptr_t (*take)(struct pagealloc *, uintptr_t, uintptr_t *), uintptr_t left,
                          struct gh_release *r) {
    uintptr_t want = (left >> GOHEAP_PAGE_SHIFT) + ((left & (GOHEAP_PAGE_SIZE - 1)) != 0);
    if (want > PALLOC_CHUNK_PAGES)
        want = PALLOC_CHUNK_PAGES;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    uintptr_t base = 0;
    struct pagealloc *pa;
    /* The window's page allocator, then each cover's (region mode). */
    for (unsigned i = 0; !base && (pa = gh_heap_pages_at(i)) != 0; i++)
        if ((base = take(pa, want, &r->npages)) != 0)
            r->pa = pa;
    if (base) {
        r->base = base;
        r->next = gh_heap.releasing;
        gh_heap.releasing = r;
    }
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
    return base;
}

/* Step 3, pinned, under the heap lock (here and in a fork child's handler): counted
 * before any allocation can take the run again (its decrements then never run ahead
 * of these increments). */
void gh_release_done_locked(struct gh_release *r) {
    struct gh_release **pp = &gh_heap.releasing;
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    uintptr_t nb = r->npages << GOHEAP_PAGE_SHIFT;
    if (r->reclaim) {
        gh_pagealloc_lazy_done(r->pa, r->base, r->npages);
        atomic_fetch_sub_explicit(&gh_heap.heap_released_lazy, nb, memory_order_relaxed);
        return;
    }
    gh_pagealloc_scavenge_done(r->pa, r->base, r->npages);
    atomic_fetch_sub_explicit(&gh_heap.heap_free, nb, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_heap.heap_released, nb, memory_order_relaxed);
    if (gh_heap.pages.lazy)
        atomic_fetch_add_explicit(&gh_heap.heap_released_lazy, nb, memory_order_relaxed);
}

/* Steps 2 and 3 of a release: r's run unmapped (unless keep: the kernel's lazy
 * release keeps it mapped), unpinned with no lock held, then done. */
static void release_run(struct gh_release *r, int keep) {
    if (!keep) {
        gh_assert_no_locks();
        gh_sys_unmap((void *)r->base, r->npages << GOHEAP_PAGE_SHIFT);
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    gh_release_done_locked(r);
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
}

void gh_release_fork_child(void) {
    struct gh_release *r;
    while ((r = gh_heap.releasing) != 0) {
        /* Unmapped before the fork or not (the child cannot tell), unmapped now: the
         * one unmap with the locks held, the child's only thread waiting for no other
         * CPU (as gh_heap_fork_child's for a move's destination). */
        if (r->reclaim || !release_keeps_mapped())
            gh_sys_unmap((void *)r->base, r->npages << GOHEAP_PAGE_SHIFT);
        gh_release_done_locked(r);
    }
}

uintptr_t gh_scavenge(uintptr_t bytes) {
    uintptr_t released = 0;
    int keep = release_keeps_mapped();
    while (released < bytes) {
        struct gh_release r = {.reclaim = 0};
        if (!take_run(gh_pagealloc_scavenge_take, bytes - released, &r))
            break;
        release_run(&r, keep);
        released += r.npages << GOHEAP_PAGE_SHIFT;
    }
    atomic_fetch_add_explicit(&scav.released_total, released, memory_order_relaxed);
    return released;
}

void gh_scav_count_released(uint64_t bytes) {
    atomic_fetch_add_explicit(&scav.released_total, bytes, memory_order_relaxed);
}

/* Reclaiming lazily released pages (the ownership protocol, docs/kernel-heap.md):
 * a run is taken out of the page allocator under the heap lock, as an allocation
 * would take it, so nothing can reuse or map it; then, unpinned with no lock held,
 * it is unmapped (one shootdown for the run) and its frames go back; then it returns
 * to the page allocator as released and known zero, like a fresh page. */
size_t goheap_reclaim_lazy(size_t bytes) {
    if (!GOHEAP_SYS_LAZY_RECLAIM || !__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) || !gh_heap.pages.lazy)
        return 0;
    size_t done = 0;
    while (done < bytes && atomic_load_explicit(&gh_heap.heap_released_lazy, memory_order_relaxed)) {
        struct gh_release r = {.reclaim = 1};
        if (!take_run(gh_pagealloc_lazy_take, bytes - done, &r))
            break; /* the rest sits in CPUs' page caches */
        release_run(&r, 0);
        uintptr_t nb = r.npages << GOHEAP_PAGE_SHIFT;
        atomic_fetch_add_explicit(&gh_heap.lazy_reclaimed, nb, memory_order_relaxed);
        done += nb;
    }
    if (gh_knobs.scavtrace && done)
        gh_logf("goheap: scav: %lu KiB of lazily released pages reclaimed (unmapped), %lu KiB "
                "still mapped", (unsigned long)(done >> 10),
                (unsigned long)(atomic_load(&gh_heap.heap_released_lazy) >> 10));
    return done;
}

static void flush_cpu(unsigned cpu, void *arg) {
    (void)arg;
    struct mcache *c = gh_fast.caches[cpu];
    if (c != &gh_emptycache)
        gh_mcache_release_all(c, cpu);
}

/* Only the large span caches (mcache.h) and the grow window (mheap.h): their pages are
 * whole pages the scavenger could release, invisible to it while cached. The rest of
 * the mcache stays. */
static void drain_large_cpu(unsigned cpu, void *arg) {
    (void)arg;
    struct mcache *c = gh_fast.caches[cpu];
    if (c != &gh_emptycache && c->lcache.pages)
        gh_heap_lcache_drain(c, cpu);
    /* the grow window (mheap.h): free pages too, under the cache's drain lock (never
     * waited for: a CPU holding it is using the window) */
    if (c != &gh_emptycache && __atomic_load_n(&c->pcache.gpages, __ATOMIC_RELAXED) && gh_trylock(&c->lock, cpu)) {
        gh_heap_flush_window(cpu, &c->pcache);
        gh_unlock(&c->lock, cpu);
    }
}

/* The heap's large span cache (mheap.h), from any CPU. */
static void drain_heap_large(void) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_heap_hcache_drain(cpu);
    goheap_sys_unpin(pin);
}

#ifdef GOHEAP_SYS_HAVE_EACH_CPU
static void drain_large_all(void) {
    goheap_sys_each_cpu(drain_large_cpu, 0);
    drain_heap_large();
}
#else
/* No cross-CPU call: only this CPU's large cache (other CPUs' are seen by their own
 * flushes, see gh_flush_all_cpus), and the heap's. */
static void drain_large_all(void) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    drain_large_cpu(cpu, 0);
    gh_heap_hcache_drain(cpu);
    goheap_sys_unpin(pin);
}
_Atomic uint32_t gh_flush_gen;
#endif

/* A reclaim pass: every CPU's cache drained (gh_mcache_drain), then, with central,
 * every mcentral span with remote frees swept. Without central it is all of what
 * follows a growth of the heap (GH_WORK_GREW). Returns the spans given back. */
static unsigned reclaim(int central) {
    goheap_pin_t pin;
    unsigned self = goheap_sys_pin(&pin), n = 0;
    for (unsigned i = 0; i < gh_ncpu; i++) {
        /* Other CPUs' caches only where the platform asks for it (see platform.h:
         * GOHEAP_SYS_DRAIN_REMOTE), and only those not being refilled right now
         * (gh_mcache_drain never waits for an owner); elsewhere each CPU drains its
         * own when it runs the step or refills. */
        if (i != self && !GOHEAP_SYS_DRAIN_REMOTE)
            continue;
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        n += gh_mcache_drain(c, self);
    }
    if (central)
        n += gh_central_reclaim(self, 0);
    goheap_sys_unpin(pin);
    atomic_fetch_add_explicit(&scav.reclaimed_spans, n, memory_order_relaxed);
    return n;
}

unsigned gh_reclaim(void) { return reclaim(1); }

void gh_flush_all_cpus(void) {
#ifdef GOHEAP_SYS_HAVE_EACH_CPU
    goheap_sys_each_cpu(flush_cpu, 0);
#else
    /* No cross-CPU call: flush this CPU's cache now and ask every other CPU to flush
     * its own at its next refill (gh_mcache_refill_alloc compares the generation). */
    atomic_fetch_add_explicit(&gh_flush_gen, 1, memory_order_relaxed);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    flush_cpu(cpu, 0);
    goheap_sys_unpin(pin);
#endif
    /* Live threads run the flush queued by each_cpu only at their next refill; the
     * drain takes their empty parked spans and page caches now. */
    gh_reclaim();
    drain_heap_large();
}

void gh_last_resort(void) {
    if (!gh_inited)
        return;
    gh_flush_all_cpus();
    trace("last resort", gh_scavenge(UINTPTR_MAX));
    /* Lazy release: the frames a map could not get may sit in the heap's own lazily
     * released pages. */
    goheap_reclaim_lazy(SIZE_MAX);
}

#ifdef GOHEAP_SYS_HAVE_BACKGROUND /* (a background thread runs the steps: see below) */
#define GH_HOLD_STEPS 1
#else
#define GH_HOLD_STEPS 0
#endif
void goheap_free_os_memory(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return;
    /* A background step running meanwhile holds the run it is releasing, neither
     * free nor released. Where a background thread runs the steps (hosted), it is
     * waited for and no new one starts, so that everything free is released when
     * this returns (tsan-test_core_knobs t_lazy_release once read heap_released_lazy
     * short by a quantum, the step on the thread its frees had just started); there
     * nothing a step or another caller does waits for this one. Not in the kernel:
     * a holder there shoots TLBs down and calls each_cpu, which a CPU spinning here
     * would never answer (kheap-scav t_two_cpus_scavenging hung on aarch64: two
     * CPUs calling this at once from smp_run_all). */
    if (GH_HOLD_STEPS)
        gh_background_hold(1);
    gh_flush_all_cpus();
    trace("free_os_memory", gh_scavenge(UINTPTR_MAX));
    if (GH_HOLD_STEPS)
        gh_background_hold(0);
}

int64_t goheap_set_memory_limit(int64_t limit) {
    if (limit < 0)
        return atomic_load(&gh_memlimit);
    int64_t old = atomic_exchange(&gh_memlimit, limit);
    atomic_store(&gh_memlimit_api, 1); /* (before init: init keeps it) */
    if (__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        gh_want_work(GH_WORK_LIMIT);
        gh_after_slow();
    }
    return old;
}

/* Over the soft memory limit: free pages go first (the large span caches and grow
 * windows with them), then, paced, a reclaim pass and the scavenger again; only then
 * is the limit out of reach (live data above it). Unpinned, no lock held. */
static void limit_enforce(void) {
    int64_t lim = atomic_load_explicit(&gh_memlimit, memory_order_relaxed);
    if (lim == INT64_MAX)
        return;
    uint64_t m = gh_heap_mapped();
    if (m > (uint64_t)lim) {
        drain_large_all(); /* cached large spans first: they count as free */
        trace("memory limit", gh_scavenge(m - (uint64_t)lim));
    }
    m = gh_heap_mapped();
    if (m > (uint64_t)lim) {
        /* Free pages alone cannot meet the limit: empty spans still cached or in
         * mcentral, and the page caches, go back first (paced, see above); only
         * then is the limit out of reach (live data above it). */
        uint64_t now = goheap_sys_nanotime();
        uint64_t last = atomic_load_explicit(&scav.last_limit_reclaim, memory_order_relaxed);
        uint64_t base = atomic_load_explicit(&scav.limit_reclaim_mapped, memory_order_relaxed);
        int due = now - last >= LIMIT_RECLAIM_NS || m >= base + (uint64_t)lim / LIMIT_RECLAIM_GROWTH_DIV;
        if (due && atomic_compare_exchange_strong(&scav.last_limit_reclaim, &last, now)) {
            gh_reclaim();
            /* (the pass may have given back page caches alone, no span: their pages
             * are free now all the same; and another CPU may have released meanwhile) */
            uint64_t after = gh_heap_mapped();
            if (after > (uint64_t)lim)
                trace("memory limit, after reclaim", gh_scavenge(after - (uint64_t)lim));
            atomic_store_explicit(&scav.limit_reclaim_mapped, gh_heap_mapped(), memory_order_relaxed);
        }
    }
}

/* No clock (goheap_sys_nanotime absent or returning 0): no pacing and no peak
 * window. Each call releases at most one quantum above the goal (in use now + 10%),
 * so the caller's call rate is the pace. Said once in the log. (No reclaim pass
 * either: without a clock it could not be paced; empty spans still go home before
 * the heap grows, at the memory limit and in free_os_memory.) */
static void background_no_clock(void) {
    static _Atomic int said;
    if (!atomic_exchange(&said, 1))
        gh_logf("goheap: no clock (goheap_sys_nanotime returns 0): background release is "
                "not paced; each goheap_background_work call releases at most 64 KiB "
                "above in-use + 10%%, with no 10 s peak window");
    int idle = 0;
    if (!atomic_compare_exchange_strong(&scav.running, &idle, 1))
        return;
    uint64_t inuse = gh_heap_inuse_bytes(); /* the per-CPU large caches count idle */
    uint64_t goal = inuse + inuse * SCAV_RETAIN_EXTRA_PCT / 100 + GOHEAP_PAGE_SIZE;
    if (inuse + atomic_load(&gh_heap.heap_free) > goal)
        trace("background", gh_scavenge(SCAV_QUANTUM));
    atomic_store(&scav.running, 0);
}

int gh_background_step(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return 0;
    uint64_t now = goheap_sys_nanotime();
    if (now == 0) {
        background_no_clock();
        return 0;
    }
    if (now < atomic_load_explicit(&scav.next_ns, memory_order_relaxed))
        return 0;
    int idle = 0;
    if (!atomic_compare_exchange_strong(&scav.running, &idle, 1))
        return 0;
    /* The reclaim pass has its own pacing (next_reclaim), so that a long pass never
     * holds the release back: at most once per RECLAIM_PERIOD_NS, and while the program
     * allocates, at most 1% of a CPU (the next pass waits 99x this one's time). Paced
     * together with the scavenging, one long pass (32 K spans under single-threaded
     * TCG, aarch64) put the next step so far away that nothing was released in 25 s. */
    unsigned reclaimed = 0;
    if (now >= scav.next_reclaim) {
        int busy = now - atomic_load_explicit(&scav.last_active, memory_order_relaxed) < IDLE_NS;
        reclaimed = gh_reclaim();
        uint64_t t1 = goheap_sys_nanotime(), wait = busy ? (t1 - now) * SCAV_DUTY_SLEEP : 0;
        if (wait > RECLAIM_MAX_WAIT_NS)
            wait = RECLAIM_MAX_WAIT_NS;
        scav.next_reclaim = t1 + (wait > RECLAIM_PERIOD_NS ? wait : RECLAIM_PERIOD_NS);
        now = t1; /* the scavenging budget below starts after the pass */
    }
    if (now - scav.win_start > SCAV_WINDOW_NS) {
        scav.peak_prev = scav.peak_cur;
        scav.peak_cur = 0;
        scav.win_start = now;
    }
    uint64_t inuse = gh_heap_inuse_bytes(); /* the per-CPU large caches count idle */
    if (inuse > scav.peak_cur)
        scav.peak_cur = inuse;
    uint64_t peak = scav.peak_cur > scav.peak_prev ? scav.peak_cur : scav.peak_prev;
    int heap_idle = now - atomic_load_explicit(&scav.last_active, memory_order_relaxed) >= IDLE_NS;
    if (heap_idle)
        peak = inuse;
    uint64_t goal = peak + peak * SCAV_RETAIN_EXTRA_PCT / 100 + GOHEAP_PAGE_SIZE;
    /* The memory limit, as Go's scavenger keeps it in the background too: it was
     * checked only when a span was allocated, so a heap left above it by a peak of
     * live data (the limit is soft) stayed there, all its freed pages backed, while
     * the program went on from its cached spans (up to the two 10 s windows of the
     * peak goal, or until 2 s without a refill made the heap idle). */
    limit_enforce();
    uint64_t released = 0, t = now;
    if (atomic_load(&gh_heap.heap_inuse) + atomic_load(&gh_heap.heap_free) > goal)
        drain_large_all();
    while (atomic_load(&gh_heap.heap_inuse) + atomic_load(&gh_heap.heap_free) > goal &&
           t - now < SCAV_STEP_NS) {
        uintptr_t r = gh_scavenge(heap_idle ? IDLE_QUANTUM : SCAV_QUANTUM);
        released += r;
        t = goheap_sys_nanotime();
        if (!r)
            break;
    }
    uint64_t worked = t - now;
    if (worked < 10000)
        worked = 10000; /* an idle poll still costs ~10 us of pacing budget */
    atomic_store_explicit(&scav.next_ns, t + worked * (heap_idle ? IDLE_DUTY_SLEEP : SCAV_DUTY_SLEEP),
                          memory_order_relaxed);
    trace("background", released);
    atomic_store_explicit(&scav.last_worked, released != 0 || reclaimed != 0, memory_order_relaxed);
    atomic_store(&scav.running, 0);
    return released != 0 || reclaimed != 0;
}

void goheap_background_work(void) {
    if (gh_unlikely(atomic_load_explicit(&gh_work, memory_order_relaxed) & GH_WORK_PROFILE) &&
        atomic_fetch_and_explicit(&gh_work, ~GH_WORK_PROFILE, memory_order_relaxed) & GH_WORK_PROFILE)
        gh_prof_run_request(); /* a profile request, for a program that rarely hits a slow path */
    gh_background_step();
}

void gh_background_hold(int on) {
    if (gh_fork_holds_background())
        return; /* a fork handler inside a fork that holds the step (fork.c) */
    if (!on) {
        atomic_store(&scav.running, 0);
        return;
    }
    int idle = 0;
    while (!atomic_compare_exchange_weak(&scav.running, &idle, 1))
        idle = 0; /* a step is running: it takes at most ~1 ms plus one reclaim pass */
}

void gh_background_fork_child(void) {
    atomic_store(&scav.running, 0);
    atomic_store(&scav.next_ns, 0);
}

uint64_t goheap_background_sleep_ns(void) {
    if (!atomic_load_explicit(&scav.last_worked, memory_order_relaxed))
        return RECLAIM_PERIOD_NS;
    uint64_t now = goheap_sys_nanotime(), next = atomic_load_explicit(&scav.next_ns, memory_order_relaxed);
    return next > now ? next - now : 0;
}

uint64_t gh_reclaimed_spans(void) { return atomic_load_explicit(&scav.reclaimed_spans, memory_order_relaxed); }

_Atomic unsigned gh_work;
_Atomic int gh_bg_polled;

void gh_after_slow_work(void) {
    unsigned w = atomic_exchange_explicit(&gh_work, 0, memory_order_relaxed);
    if (w & GH_WORK_LIMIT)
        limit_enforce();
    if (w & GH_WORK_GREW) /* (docs/alloc.md, "When spans go home": after the heap grew) */
        reclaim(0);
    if (w & GH_WORK_PROFILE)
        gh_prof_run_request();
    if ((w & GH_WORK_EAGER) && atomic_load(&gh_heap.heap_free))
        trace("eager", gh_scavenge(UINTPTR_MAX));
    if (w & GH_WORK_BG) {
        if (!atomic_load_explicit(&gh_bg_polled, memory_order_relaxed))
            atomic_store_explicit(&gh_bg_polled, 1, memory_order_relaxed);
        atomic_store_explicit(&scav.last_active, goheap_sys_nanotime(), memory_order_relaxed);
        goheap_sys_background_wanted(); /* hosted: starts its background thread once */
        goheap_background_work();
    }
}
