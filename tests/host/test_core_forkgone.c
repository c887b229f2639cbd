/* tests/host/test_core_forkgone.c: a fork child and the threads that are not in it:
 * their caches given back whole, and what they were doing at the copy (a free torn
 * between its count and its bit, a remote free's wake, a large span cache's put or
 * get, a cache made after prepare's look) settled (docs/alloc.md, fork). The locks a
 * fork takes and the work it waits for: test_core_fork.c. */
#include <pthread.h>
#include <stdatomic.h>

#include "test_core_fork.h"


/* A fork child and the caches of its parent's other threads. Each slot in use at the
 * fork but the forking thread's is retired in the child (SLOT_GONE, hosted/platform.c):
 * no thread of the child takes it again. What its cache held must still come back:
 * goheap_free_os_memory and the memory limit give every free byte back (HeapIdle ==
 * HeapReleased), and the spans it was allocating from go home, so that in-use bytes
 * fall back to what they were before the thread filled its cache. The thread fills
 * every per-CPU cache there is (small spans current and parked, a tiny block, the page
 * cache, a realloc grow window, the large span cache), frees everything but one in 16
 * of its 512 B objects (the child frees those), and waits at the fork. Before, the
 * child's drains took the parked spans, the page cache and the window, but its large
 * span cache (132 pages: 1,056 KiB idle, never released) and its current spans (36
 * pages in use) stayed for good. */
/* A thread held beside a fork, gone in its child: it says it holds (beside_hold), and
 * goes on when the parent lets it. fork_beside starts fn, waits until it holds, forks
 * (the child exits with child()), lets the thread go, joins it and returns the child's
 * wait status. */
static atomic_int beside_ready, beside_go;
static void beside_hold(void) {
    atomic_store(&beside_ready, 1);
    while (!atomic_load(&beside_go))
        sched_yield();
}
static int fork_beside(void *(*fn)(void *), int (*child)(void)) {
    atomic_store(&beside_ready, 0);
    atomic_store(&beside_go, 0);
    pthread_t t;
    pthread_create(&t, 0, fn, 0);
    while (!atomic_load(&beside_ready))
        sched_yield();
    pid_t pid = core_fork();
    if (pid == 0)
        _exit(child());
    atomic_store(&beside_go, 1);
    pthread_join(t, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

#define GONE_SMALL_N 3000
/* The tiny block a gone cache had is dropped, not freed (alloc/mcache.c release_gone):
 * its span, one page, stays in use. */
#define GONE_TINY_SPAN GOHEAP_PAGE_SIZE
#define GONE_KEEP_EVERY 16 /* of the 512 B objects, one in 16 stays live: parked spans in use */
static void *gone_kept[GONE_SMALL_N / GONE_KEEP_EVERY + 1];
static unsigned gone_cpu;
static void *gone_fill(void *arg) {
    (void)arg;
    /* the grow window: free, backed pages after a buffer doubled from 16 B */
    goheap_free(goheap_malloc(32u << 20));
    goheap_flush();
    static const size_t sizes[] = {48, 512, 3072};
    static void *objs[GONE_SMALL_N];
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (unsigned i = 0; i < GONE_SMALL_N; i++)
            objs[i] = goheap_malloc(sizes[k]);
        for (unsigned i = 0; i < GONE_SMALL_N; i++)
            if (k != 1 || i % GONE_KEEP_EVERY)
                goheap_free(objs[i]);
            else
                gone_kept[i / GONE_KEEP_EVERY] = objs[i];
    }
    /* a tiny block, its objects freed: the child drops it (one 16 B block stays) */
    void *t[4];
    for (unsigned i = 0; i < 4; i++)
        t[i] = goheap_malloc_flags(3, GOHEAP_NOSCAN);
    for (unsigned i = 0; i < 4; i++)
        goheap_free(t[i]);
    /* (the grow window:) */
    void *p = goheap_malloc(16);
    for (size_t n = 32; p && n <= (2u << 20); n *= 2)
        p = goheap_realloc(p, n);
    goheap_free(p);
    /* the large span cache: 4 spans of 8 pages and 4 of 25 */
    void *l[8];
    for (unsigned i = 0; i < 8; i++)
        l[i] = goheap_malloc(i < 4 ? 64u << 10 : 200u << 10);
    for (unsigned i = 0; i < 8; i++)
        goheap_free(l[i]);
    /* its slot, for the child to look at its cache */
    goheap_pin_t pin;
    gone_cpu = goheap_sys_pin(&pin);
    goheap_sys_unpin(pin);
    beside_hold();
    for (unsigned i = 0; i < sizeof gone_kept / sizeof gone_kept[0]; i++)
        goheap_free(gone_kept[i]);
    return 0;
}
/* The child frees the objects the gone thread kept (the program's memory still names
 * them): remote frees into that thread's parked spans. */
static void gone_free_kept(void) {
    for (unsigned i = 0; i < sizeof gone_kept / sizeof gone_kept[0]; i++)
        goheap_free(gone_kept[i]);
}
/* What the gone thread's cache holds, in pages: page cache, grow window, large span
 * cache, current spans (their pages), parked spans. */
struct gone_held {
    unsigned long pcache, window, lcache, cur, parked;
};
static struct gone_held gone_held(void) {
    struct gone_held h = {0, 0, 0, 0, 0};
    struct mcache *c = gh_fast.caches[gone_cpu];
    if (!c || c == &gh_emptycache)
        return h;
    h.pcache = (unsigned long)__builtin_popcountll(c->pcache.cache);
    h.window = (unsigned long)c->pcache.gpages;
    h.lcache = (unsigned long)c->lcache.pages;
    for (unsigned spc = 0; spc < GH_NUM_SPC; spc++) {
        if (c->alloc[spc] != &gh_emptyspan)
            h.cur += c->alloc[spc]->npages;
        for (unsigned i = 0; i < c->parked[spc].n; i++)
            h.parked += c->parked[spc].s[i]->npages;
    }
    return h;
}
static void gone_print(const char *when, struct gone_held h, struct goheap_memstats m, struct goheap_memstats m0) {
    printf("    # child %s: the gone cache's pages: page cache %lu, window %lu, large %lu, current %lu, parked %lu; "
           "idle-released %ld KiB, in use %+ld KiB\n",
           when, h.pcache, h.window, h.lcache, h.cur, h.parked, (long)(m.heap_idle - m.heap_released) >> 10,
           ((long)m.heap_inuse - (long)m0.heap_inuse) >> 10);
}
static struct goheap_memstats gone_m0;
/* how 2: a put into the large span cache caught between listing its span and counting
 * it (mcache.h gh_heap_lcache_put), as the child may find one: the 8-page bin's first
 * span uncounted in nbin and pages. */
static void gone_torn_put(void) {
    struct mcache *c = gh_fast.caches[gone_cpu];
    if (c->lcache.bin[8]) {
        c->lcache.nbin[8]--;
        c->lcache.pages -= 8;
    }
}
/* 20: the recount before; 21: free pages left unreleased; 22: in-use bytes above the
 * level before the thread's work (but for the tiny block's span); 23: the cache still
 * holds something; 24: recount after. how: 0 free_os_memory, 1 the memory limit, 2
 * free_os_memory after gone_torn_put. The figures are printed on a failure, and with
 * GONE_SHOW set in the environment. */
static int gone_child(int how) {
    alarm(CHILD_ALARM_S);
    if (goheap_validate() != 0)
        return 20;
    struct gone_held h0 = gone_held();
    struct goheap_memstats m0 = core_stats();
    gone_free_kept();
    if (how == 2)
        gone_torn_put();
    if (how == 1) {
        goheap_set_memory_limit(0);
        goheap_set_memory_limit(INT64_MAX);
    } else {
        goheap_free_os_memory();
    }
    struct goheap_memstats m = core_stats();
    struct gone_held h = gone_held();
    int bad = goheap_validate() != 0                                   ? 24
              : m.heap_idle != m.heap_released                          ? 21
              : m.heap_inuse > gone_m0.heap_inuse + GONE_TINY_SPAN      ? 22
              : h.pcache || h.window || h.lcache || h.cur || h.parked ? 23
                                                                         : 0;
    if (bad || getenv("GONE_SHOW")) {
        gone_print("at the fork", h0, m0, gone_m0);
        gone_print("after", h, m, gone_m0);
        fflush(stdout);
    }
    return bad;
}
static int gone_how;
static int gone_child_how(void) { return gone_child(gone_how); }
static void t_fork_gone_caches(void) {
    static const char *const hows[] = {"free_os_memory", "memory limit", "torn large cache put"};
    for (int how = 0; how < 3; how++) {
        goheap_free_os_memory();
        gone_m0 = core_stats();
        gone_how = how;
        int st = fork_beside(gone_fill, gone_child_how);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (exit 20/24: recount before/after, 21: free pages left unreleased, "
                 "22: in use above the level before, 23: the gone cache still holds pages)",
                 hows[how], st);
    }
}

/* A remote free that emptied a FULL span, copied by a fork after its OR and before
 * its wake (mcentral.h's handshake): here every object of a span filed FULL is freed
 * up to its OR (as gh_free_other does: the count, then the OR), then the main thread
 * forks and only then wakes it. The child (gh_fork_unwoken) must pass its recount,
 * and its first full reclaim pass (goheap_free_os_memory) must sweep the span; before,
 * its validator failed ("empty span ... filed as 3"), core-forkstress 1 child in ~300. */
#define UNWOKEN_SIZE 2048
#define UNWOKEN_N 64
static void t_fork_unwoken_full(void) {
    void *o[UNWOKEN_N];
    for (int i = 0; i < UNWOKEN_N; i++)
        o[i] = goheap_malloc(UNWOKEN_SIZE);
    goheap_flush(); /* the full spans go to their mcentral, FULL */
    struct mspan *s = 0;
    for (int i = 0; i < UNWOKEN_N && !s; i++) {
        struct mspan *x = gh_span_of((uintptr_t)o[i]);
        /* (none of its objects sampled: a sampled object's slot carries its marker, a
         * set remoteFree bit, which the OR below would find set already and leave
         * the object live though counted freed: the parent's recounts failed from then
         * on, asan-test_core_fork once, "mallocs 64 - frees 64 != 1 live objects") */
        if (atomic_load(&x->cstate) == GH_CS_FULL && gh_span_count_live(x) == x->nelems &&
            atomic_load(&x->nsampled) == 0)
            s = x;
    }
    KT_CHECK(s != 0, "no span of %d B objects was filed FULL without a sampled object", UNWOKEN_SIZE);
    if (!s)
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    for (int i = 0; i < UNWOKEN_N; i++)
        if (gh_span_of((uintptr_t)o[i]) == s) {
            GH_COUNT_ADD(c->nfree[s->spc], 1);
            gh_remote_set_bit(s->remoteFree, (unsigned)gh_span_objindex(s, (uintptr_t)o[i] - s->base));
            o[i] = 0;
        }
    goheap_sys_unpin(pin);
    pid_t pid = core_fork();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        if (goheap_validate() != 0)
            _exit(2);
        goheap_free_os_memory(); /* the first full reclaim pass: sweeps the span */
        if (goheap_validate() != 0)
            _exit(3);
        _exit(atomic_load(&s->cstate) == GH_CS_FULL ? 5 : child_work(1));
    }
    cpu = goheap_sys_pin(&pin);
    gh_central_wake(gh_mcache_get(cpu), cpu, s); /* the parent's freer wakes it */
    goheap_sys_unpin(pin);
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "unwoken full span: child status 0x%x (2/3: recount before/after the release, 5: still FULL)", st);
    for (int i = 0; i < UNWOKEN_N; i++)
        goheap_free(o[i]);
}

/* A free copied by the fork between its count and its bit (stats.c, the fork child's
 * recount): a thread that is gone in the child counted the free of a live object (the
 * remote free's count on its cache's page; its OR on the span's page, not reached)
 * when the fork copied memory. Its child finds that object live in its span and
 * counted freed: before, goheap_validate failed there ("span class N: mallocs M -
 * frees M != 1 live objects in spans"; core-storm's forking children now and then).
 * The child's first validate takes that one count back and passes, as does its next;
 * a second such count with one gone thread is more than any gone thread explains and
 * still fails. */
static void *torn_obj;
static int torn_extra; /* 1: the child adds a second count (beyond the allowance) */
static void *torn_freer(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(32)); /* a slot and its cache */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mspan *s = gh_span_of((uintptr_t)torn_obj);
    GH_COUNT_ADD(gh_mcache_get(cpu)->nfree[s->spc], 1); /* the count; the OR not reached */
    goheap_sys_unpin(pin);
    beside_hold();
    cpu = goheap_sys_pin(&pin);
    GH_COUNT_ADD(gh_mcache_get(cpu)->nfree[s->spc], (uint64_t)-1); /* (the parent: undone) */
    goheap_sys_unpin(pin);
    return 0;
}
/* The owner's free, torn the same way: its lfree counted, its bit not yet stored, in a
 * span the gone thread had parked (its parked-span check, tbase == allocated + lfree, failed in core-forkstress's TSan children; the class counts are one short
 * too once its drain counts the span's frees). */
#define TORN_LOCAL_N 200
static void *torn_local_obj[TORN_LOCAL_N];
static struct mspan *torn_local_span;
static void *torn_local_owner(void *arg) {
    (void)arg;
    for (int i = 0; i < TORN_LOCAL_N; i++)
        torn_local_obj[i] = goheap_malloc(256);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    torn_local_span = 0;
    for (int i = 0; i < TORN_LOCAL_N && !torn_local_span; i++) {
        struct mspan *s = gh_span_of((uintptr_t)torn_local_obj[i]);
        if (s->curword == GH_NO_WORD && gh_mcache_parks(c, s->spc, s))
            torn_local_span = s;
    }
    if (torn_local_span)
        GH_COUNT_ADD(torn_local_span->lfree, 1); /* the count; the bit not stored */
    goheap_sys_unpin(pin);
    beside_hold();
    if (torn_local_span) {
        cpu = goheap_sys_pin(&pin);
        GH_COUNT_ADD(torn_local_span->lfree, (uint64_t)-1); /* (the parent: undone) */
        goheap_sys_unpin(pin);
    }
    for (int i = 0; i < TORN_LOCAL_N; i++)
        goheap_free(torn_local_obj[i]);
    return 0;
}
static int torn_local_child(void) {
    alarm(CHILD_ALARM_S);
    if (!torn_local_span)
        return 4;
    if (goheap_validate() != 0)
        return 2;
    goheap_free_os_memory(); /* the gone cache's drain */
    return goheap_validate() != 0 ? 3 : 0;
}
static void t_fork_torn_local_free(void) {
    int st = fork_beside(torn_local_owner, torn_local_child);
    KT_CHECK(torn_local_span != 0, "no span of 256 B objects was parked in the thread's cache");
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "torn owner's free: child status 0x%x (2: validate at the fork, 3: after the gone cache's drain, 4: no "
             "parked span)",
             st);
    KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
}
static int torn_child(void) {
    alarm(CHILD_ALARM_S);
    if (torn_extra) { /* one more count than the one gone thread explains */
        struct mspan *s = gh_span_of((uintptr_t)torn_obj);
        __atomic_fetch_add(&gh_emptycache.nfree[s->spc], 1, __ATOMIC_RELAXED);
        return goheap_validate() != 0 ? 0 : 4;
    }
    if (goheap_validate() != 0)
        return 2;
    if (goheap_validate() != 0 || ((unsigned char *)torn_obj)[47] != 0x5a)
        return 3;
    goheap_free(torn_obj);
    return goheap_validate() != 0 ? 5 : 0;
}
static void t_fork_torn_free(void) {
    for (int extra = 0; extra < 2; extra++) {
        torn_obj = goheap_malloc(48);
        memset(torn_obj, 0x5a, 48);
        torn_extra = extra;
        int st = fork_beside(torn_freer, torn_child);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (2/3: the first/second validate failed, 4: a count beyond the "
                 "gone threads passed, 5: validate after freeing the object)",
                 extra ? "beyond the allowance" : "one torn free", st);
        goheap_free(torn_obj);
        KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
    }
}

/* A large span cache's put or get copied half done (stats.c fork_settle_large and the
 * recount): a thread gone in the child was, at the fork, inside its cache's put after
 * the exchange to LCACHED (with its counts, or before them) and before the listing, or
 * inside a get after the unlisting and before gh_large_reuse. Its child found the span
 * LCACHED in no list, its bytes in use ("large span caches: 0 pages counted, 0 listed,
 * 8 in cached spans of the map", "heap_inuse N != M bytes of live spans") and, for the
 * put before its counts, "large objects: N+1 counted, N spans". Now the child's first
 * goheap_validate gives that span back to the page heap and makes the counts agree,
 * and passes, as do the next and the one after every free page is released; a second
 * such span with one thread gone is more than the fork explains and still fails. */
enum { TL_PUT_COUNTED, TL_PUT_UNCOUNTED, TL_GET, TL_BEYOND };
static int tl_how;
static struct mspan *tl_span, *tl_extra;
static void *tl_cacher(void *arg) {
    (void)arg;
    void *p = goheap_malloc(64u << 10); /* the thread's cache, and a 64 KiB span */
    struct mspan *ps = gh_span_of((uintptr_t)p);
    if (atomic_load(&ps->nsampled)) /* a sampled object's record goes first, as free's does */
        gh_prof_free_large(ps, (uintptr_t)p);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    struct mspan *s = gh_span_of((uintptr_t)p);
    uintptr_t n = s->npages, pages;
    int fits = gh_heap_lcache_fits(c, n, &pages);
    uint8_t inuse = GH_SPAN_INUSE;
    if (!fits) {
        tl_span = 0;
    } else if (tl_how == TL_GET) {
        gh_large_freed(c, s, n, 0);
        gh_heap_lcache_put(c, s, n, pages); /* a whole put, then the get's first half */
        tl_span = gh_heap_lcache_get(c, n);
    } else if (tl_how == TL_PUT_UNCOUNTED) {
        tl_span = atomic_compare_exchange_strong(&s->state, &inuse, GH_SPAN_LCACHED) ? s : 0;
    } else {
        tl_span = gh_large_freed(c, s, n, 0) ? s : 0;
    }
    goheap_sys_unpin(pin);
    beside_hold();
    cpu = goheap_sys_pin(&pin);
    if (tl_span) { /* (the parent: the put, or the get's undoing, finished) */
        if (tl_how == TL_PUT_UNCOUNTED) { /* (its counts, which the child does not have) */
            gh_cache_count(c, &c->large_free, 1, 0);
            gh_cache_count(c, &c->large_free_bytes, (uint64_t)n << GOHEAP_PAGE_SHIFT, 0);
        }
        gh_heap_lcache_fits(c, n, &pages);
        gh_heap_lcache_put(c, tl_span, n, pages);
    }
    goheap_sys_unpin(pin);
    return 0;
}
static int tl_child(void) {
    alarm(CHILD_ALARM_S);
    if (!tl_span)
        return 4;
    if (tl_how == TL_BEYOND) { /* a second span in no list: more than one gone thread explains */
        uint8_t inuse = GH_SPAN_INUSE;
        if (!tl_extra || !atomic_compare_exchange_strong(&tl_extra->state, &inuse, GH_SPAN_LCACHED))
            return 6;
        return goheap_validate() != 0 ? 0 : 5;
    }
    if (goheap_validate() != 0)
        return 2;
    if (goheap_validate() != 0)
        return 3;
    goheap_free_os_memory(); /* the gone cache's drain, every free page released */
    return goheap_validate() != 0 ? 7 : 0;
}
static void t_fork_torn_large(void) {
    static const char *const how[] = {"put after its counts", "put before its counts", "get before its reuse",
                                      "a second span beyond the allowance"};
    for (tl_how = TL_PUT_COUNTED; tl_how <= TL_BEYOND; tl_how++) {
        void *extra = tl_how == TL_BEYOND ? goheap_malloc(96u << 10) : 0;
        tl_extra = extra ? gh_span_of((uintptr_t)extra) : 0;
        int st = fork_beside(tl_cacher, tl_child);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (2/3: the first/second validate failed, 7: validate after the release, 4: "
                 "no span cached, 5: a second lost span passed, 6: setup)",
                 how[tl_how], st);
        goheap_free(extra);
        KT_CHECK(goheap_validate() == 0, "%s: parent: validate after the fork", how[tl_how]);
    }
}

/* A thread whose cache is created after prepare took the caches' drain locks, and
 * which holds that cache's lock at the fork (a first allocation racing the fork, then
 * a refill waiting for a lock prepare holds): its child found that lock taken for good,
 * and goheap_read_memstats waited forever (core-forkstress's first child, 2 runs in
 * 64, SIGALRM). Here prepare's test hook, right after its look at the slots, has the
 * thread make its cache and take its lock. The child's MemStats, validate, release of
 * every free page (the gone cache's drain) and validate again must all return. */
static atomic_int cas_create, cas_holding, cas_release, cas_fresh, cas_sleepers_go;
static void *cas_sleeper(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(16)); /* a slot (a recycled one, with its cache) */
    while (!atomic_load(&cas_sleepers_go))
        usleep(1000);
    return 0;
}
static void *cas_thread(void *arg) {
    (void)arg;
    goheap_pin_t pin0;
    unsigned cpu0 = goheap_sys_pin(&pin0); /* its slot: one no thread had, no cache yet */
    atomic_store(&cas_fresh,
                 cpu0 < gh_ncpu && __atomic_load_n(&gh_fast.caches[cpu0], __ATOMIC_ACQUIRE) == &gh_emptycache ? 1
                                                                                                          : -1);
    goheap_sys_unpin(pin0);
    while (!atomic_load(&cas_create))
        sched_yield();
    goheap_free(goheap_malloc(48)); /* its slot's cache, made now */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    goheap_sys_lock(&c->lock.l); /* (raw: a refill's hold, the lock order not in question) */
    atomic_store(&cas_holding, 1);
    while (!atomic_load(&cas_release))
        sched_yield();
    goheap_sys_unlock(&c->lock.l);
    goheap_sys_unpin(pin);
    return 0;
}
static void cas_hook(void) {
    atomic_store(&cas_create, 1);
    for (int i = 0; i < 5000 && !atomic_load(&cas_holding); i++)
        usleep(1000);
}
static void t_fork_cache_after_scan(void) {
    atomic_store(&cas_create, 0);
    atomic_store(&cas_holding, 0);
    atomic_store(&cas_release, 0);
    atomic_store(&cas_fresh, 0);
    atomic_store(&cas_sleepers_go, 0);
    /* Threads that take every slot an earlier case's thread left (with its cache), so
     * that the next one's slot has none. */
    unsigned ncaches = 0, nsleep = 0;
    pthread_t sleepers[64];
    for (unsigned i = 0; i < gh_ncpu; i++) /* (counted before any sleeper makes one) */
        ncaches += __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE) != &gh_emptycache;
    while (nsleep < ncaches && nsleep < 64)
        pthread_create(&sleepers[nsleep++], 0, cas_sleeper, 0);
    usleep(20000);
    pthread_t t;
    pthread_create(&t, 0, cas_thread, 0);
    while (!atomic_load(&cas_fresh))
        sched_yield();
    gh_fork_scan_test_hook = cas_hook;
    pid_t pid = core_fork();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        struct goheap_memstats m;
        goheap_read_memstats(&m);
        if (goheap_validate() != 0)
            _exit(2);
        goheap_free_os_memory();
        _exit(goheap_validate() != 0 ? 3 : 0);
    }
    gh_fork_scan_test_hook = 0;
    int held = atomic_load(&cas_holding);
    atomic_store(&cas_release, 1);
    int st = 0;
    waitpid(pid, &st, 0);
    pthread_join(t, 0);
    atomic_store(&cas_sleepers_go, 1);
    for (unsigned i = 0; i < nsleep; i++)
        pthread_join(sleepers[i], 0);
    KT_CHECK(atomic_load(&cas_fresh) == 1, "setup: the thread's slot had a cache already");
    KT_CHECK(held, "setup: the thread did not hold its new cache's lock at the fork");
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "child status 0x%x (signal 14: MemStats or validate waited for the gone thread's cache lock; "
             "2/3: validate before/after the release failed)",
             st);
    KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
}

static const struct kt_case cases[] = {
    KT_CASE(t_fork_gone_caches),
    KT_CASE(t_fork_unwoken_full),
    KT_CASE(t_fork_torn_free),
    KT_CASE(t_fork_torn_local_free),
    KT_CASE(t_fork_torn_large),
    KT_CASE(t_fork_cache_after_scan),
};

int main(void) {
    /* No background thread: every fork here is made while another thread waits, so no
     * child may start one (docs/testing.md, "Fork children and the background
     * thread"). */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-forkgone", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
