/* tests/host/test_core_realloc.c: realloc: its growth policy and bound, shrinking, placement
 * with room after it and the grow window, growth in place over released pages, and the
 * zero-copy move (mremap), out of memory too. Large objects and their caches: test_core_large.c. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "test_core_large.h"

static void t_large_realloc(void) {
    char *p = goheap_malloc(100000);
    memset(p, 3, 100000);
    char *q = goheap_realloc(p, 90000);
    KT_CHECK(q == p, "shrink by < half stays in place");
    q = goheap_realloc(q, 300000);
    KT_CHECK(q[0] == 3 && q[89999] == 3, "contents kept");
    char *r = goheap_realloc(q, 100);
    KT_CHECK(r != q && r[99] == 3, "shrinks to a small class");
    goheap_free(r);
}

/* realloc's policy: in place when it fits (small: unless over half would be wasted),
 * large grown into free pages and shrunk with the tail back, and on a move a growth
 * margin bounded by max(class(n), 1.25 n) small and n's pages + 1/8 large. */
static size_t class_size_of(size_t n) {
    return goheap_class_to_size[gh_size_to_spc(n, GH_TAB_SCAN) >> 1];
}
static void t_realloc_policy(void) {
    /* 16 B -> 256 KiB in 16-byte steps: contents kept, the bound, few copies */
    unsigned char *p = goheap_malloc(16);
    memset(p, 0x5a, 16);
    unsigned moves = 0, bad = 0;
    size_t filled = 16;
    for (size_t n = 32; n <= (256u << 10); n += 16) {
        unsigned char *q = goheap_realloc(p, n);
        KT_CHECK(q != 0, "");
        moves += q != p;
        size_t u = goheap_usable_size(q);
        size_t pages = (n + 8191) / 8192;
        size_t bound = n <= 32768 ? (class_size_of(n) > n + n / 4 ? class_size_of(n) : n + n / 4)
                                  : (pages + pages / 8) * 8192;
        if ((u < n || u > bound) && bad++ < 4)
            KT_CHECK(0, "realloc to %zu: usable %zu, bound %zu", n, u, bound);
        if (q[filled - 1] != 0x5a && bad++ < 4)
            KT_CHECK(0, "contents lost at %zu", n);
        memset(q + filled, 0x5a, n - filled);
        filled = n;
        p = q;
    }
    /* without the margin every one of the 66 classes above 16 B and every page step
     * of the large range would copy; with it the copies grow logarithmically */
    KT_CHECK(moves < 60, "%u moves", moves);
    printf("    # 16 B -> 256 KiB in 16 B steps: %u moves\n", moves);
    goheap_free(p);

    /* small: in place while at most half is wasted */
    char *s = goheap_malloc(100); /* class 112 */
    KT_CHECK(goheap_realloc(s, 112) == s && goheap_realloc(s, 60) == s, "in place");
    char *s2 = goheap_realloc(s, 50);
    KT_CHECK(s2 != s && goheap_usable_size(s2) < 112, "moves down when over half is wasted");
    goheap_free(s2);

    /* large shrink in place: the tail goes back to the heap */
    goheap_flush();
    char *l = goheap_malloc(1 << 20);
    memset(l, 7, 300000);
    struct goheap_memstats b = core_stats();
    char *l2 = goheap_realloc(l, 300000); /* 37 of 128 pages kept */
    struct goheap_memstats m = core_stats();
    KT_CHECK(l2 == l && goheap_usable_size(l2) == 37 * 8192, "usable %zu", goheap_usable_size(l2));
    KT_CHECK(b.heap_inuse - m.heap_inuse == (128 - 37) * 8192, "tail back: %lu",
             (unsigned long)(b.heap_inuse - m.heap_inuse));
    KT_CHECK(l2[299999] == 7 && goheap_validate() == 0, "");
    /* large grow in place: the pages just given back are free again */
    char *l3 = goheap_realloc(l2, 900000);
    KT_CHECK(l3 == l2 && goheap_usable_size(l3) >= 900000 && l3[299999] == 7, "grown in place");
    memset(l3, 8, 900000);
    KT_CHECK(goheap_validate() == 0, "");
    goheap_free(l3);
}


/* A vector appended to by 16 B steps past 32 KiB, in a fresh process (a program's heap:
 * the first-fit placement this case is about needs the layout of a new heap): its
 * first large move asks room after the new span (GH_ALLOC_ROOM_STEP), so it moves at
 * most twice between 32 KiB and 256 KiB (without the room, 5 times: at every 12.5%
 * while the next page was taken), keeps its contents, and every step stays within the
 * growth bound. */
static void t_realloc_large_steps(void) {
    unsigned char *p = goheap_malloc(16);
    KT_CHECK(p != 0, "");
    if (!p)
        return;
    p[0] = 1;
    p[15] = 1;
    unsigned moves = 0, bad = 0;
    for (size_t have = 16, n = 32; n <= (256u << 10); have = n, n += 16) {
        unsigned char *q = goheap_realloc(p, n);
        KT_CHECK(q != 0, "realloc to %zu", n);
        if (!q)
            break;
        if ((q[0] != 1 || q[have - 1] != (unsigned char)(have / 16)) && bad++ < 3)
            KT_CHECK(0, "contents lost at %zu", n);
        size_t u = goheap_usable_size(q), pages = (n + 8191) / 8192;
        size_t bound = n <= 32768 ? (class_size_of(n) > n + n / 4 ? class_size_of(n) : n + n / 4)
                                  : (pages + pages / 8) * 8192;
        if ((u < n || u > bound) && bad++ < 3)
            KT_CHECK(0, "realloc to %zu: usable %zu, bound %zu", n, u, bound);
        moves += q != p && n > 32768;
        q[n - 1] = (unsigned char)(n / 16);
        p = q;
    }
    printf("    # 16 B -> 256 KiB in 16 B steps: %u moves past 32 KiB\n", moves);
    KT_CHECK(bad == 0 && moves <= 2, "%u moves past 32 KiB, %u bad steps", moves, bad);
    goheap_free(p);
    KT_CHECK(goheap_validate() == 0, "");
}

/* A growing move to a large span (or to whole pages: 8 KiB here) is placed at the
 * start of a free run with room after it (GH_REALLOC_ROOM_PAGES), so a buffer doubled
 * from 8 KiB grows in place up to 1 MiB; the room is not taken (heap_inuse grows by
 * the object's pages only) and the bound on the usable size holds. */
static void t_realloc_room(void) {
    /* a free run of >= 1 MiB + 8 KiB in the tree: a 4 MiB span freed and flushed
     * out of the large span caches */
    goheap_free(goheap_malloc(4u << 20));
    goheap_flush();
    struct goheap_memstats b = core_stats();
    unsigned char *p = goheap_malloc(16), *at8k = 0;
    uint64_t copied8k = 0;
    KT_CHECK(p != 0, "");
    p[0] = 1;
    p[15] = 16;
    size_t have = 16;
    for (size_t n = 32; n <= (1u << 20); n *= 2) {
        struct goheap_memstats before = core_stats();
        unsigned char *q = goheap_realloc(p, n);
        KT_CHECK(q != 0, "");
        KT_CHECK(q[0] == 1 && q[have - 1] == (unsigned char)have, "contents at %zu", n);
        size_t u = goheap_usable_size(q), pages = (n + 8191) / 8192;
        size_t bound = n <= 32768 ? (class_size_of(n) > n + n / 4 ? class_size_of(n) : n + n / 4)
                                  : (pages + pages / 8) * 8192;
        KT_CHECK(u >= n && u <= bound, "realloc to %zu: usable %zu, bound %zu", n, u, bound);
        if (n == 8192) {
            at8k = q;
            struct goheap_memstats m = core_stats();
            copied8k = m.realloc_copied;
            /* the 8 KiB span, not its room (less when the 4 KiB object's span went
             * back emptied) */
            KT_CHECK((int64_t)(m.heap_inuse - before.heap_inuse) <= 8192, "in use %+ld",
                     (long)(m.heap_inuse - before.heap_inuse));
        }
        if (n > 8192)
            KT_CHECK(q == at8k, "moved at %zu", n);
        q[n - 1] = (unsigned char)n;
        p = q;
        have = n;
    }
    struct goheap_memstats m = core_stats();
    /* copies: the small steps 16 B .. 4 KiB (their usable sizes), none after */
    KT_CHECK(m.realloc_copied == copied8k && copied8k - b.realloc_copied < 16384, "copied %lu, %lu after 8 KiB",
             (unsigned long)(copied8k - b.realloc_copied), (unsigned long)(m.realloc_copied - copied8k));
    goheap_free(p);
    KT_CHECK(goheap_validate() == 0, "");
}

/* The grow window (mheap.h, GH_GROW_WINDOW_PAGES): a buffer doubled from 16 B to
 * 16 MiB is placed at 8 KiB with the free, backed pages after it as this CPU's window
 * (counted free, not in use) and grows through it in place to 16 MiB with no copy or
 * remap; freed, it goes to the heap's large span cache, and the next doubling's
 * placement joins it to the window and starts at the same address, taking no page
 * from the tree. A flush gives the window back. */
/* In a child: one more doubling, freed, and the next one placed at its base (its span
 * joined the window); a free of a pointer into its old pages is a free into a dead
 * span (they are the window's now). */
static void win_double_free(void) {
    unsigned char *p = goheap_malloc(16), *q = goheap_malloc(16);
    for (size_t n = 32; n <= (16u << 20); n *= 2)
        p = goheap_realloc(p, n);
    goheap_free(p);
    for (size_t n = 32; n <= 8192; n *= 2)
        q = goheap_realloc(q, n);
    if (q != p || my_pcache()->gbase != (uintptr_t)p + 8192)
        _exit(4); /* not placed there: the case fails */
    core_expect_bad_free("free into a dead span", p + (8u << 20));
    goheap_free(p + (8u << 20));
}

static void t_realloc_window(void) {
    /* free, backed pages: a 32 MiB span freed and flushed out of the caches */
    goheap_free(goheap_malloc(32u << 20));
    goheap_flush();
    struct pagecache *pc = my_pcache();
    KT_CHECK(pc->gpages == 0, "a window after a flush: %lu pages", (unsigned long)pc->gpages);
    unsigned char *first = 0;
    for (int run = 0; run < 3; run++) {
        struct goheap_memstats b = core_stats();
        unsigned char *p = goheap_malloc(16), *at8k = 0;
        KT_CHECK(p != 0, "");
        memset(p, 1, 16);
        uint64_t copied8k = 0;
        for (size_t n = 32; n <= (16u << 20); n *= 2) {
            struct goheap_memstats before = core_stats();
            unsigned char *q = goheap_realloc(p, n);
            KT_CHECK(q != 0 && q[0] == 1 && q[n / 2 - 1] == 1, "run %d: contents at %zu", run, n);
            size_t u = goheap_usable_size(q), pages = n / 8192;
            KT_CHECK(u >= n && (n <= 32768 || u <= (pages + pages / 8) * 8192), "run %d: realloc to %zu: usable %zu",
                     run, n, u);
            if (n == 8192) {
                struct goheap_memstats m = core_stats();
                at8k = q;
                copied8k = m.realloc_copied;
                KT_CHECK(pc->gbase == (uintptr_t)q + 8192 && pc->gpages >= 1024,
                         "run %d: window 0x%lx (%lu pages) after the 8 KiB span at %p", run, (unsigned long)pc->gbase,
                         (unsigned long)pc->gpages, (void *)q);
                /* the window is free: in use grows by the span alone */
                KT_CHECK((int64_t)(m.heap_inuse - before.heap_inuse) <= 8192, "run %d: in use %+ld", run,
                         (long)(m.heap_inuse - before.heap_inuse));
                KT_CHECK(goheap_validate() == 0, "run %d: validate with a window", run);
            }
            if (n > 8192)
                KT_CHECK(q == at8k, "run %d: moved at %zu", run, n);
            memset(q + n / 2, 1, n / 2);
            p = q;
        }
        struct goheap_memstats m = core_stats();
        KT_CHECK(m.realloc_copied == copied8k && m.realloc_remapped == b.realloc_remapped,
                 "run %d: %lu bytes copied after 8 KiB, %lu remapped", run,
                 (unsigned long)(m.realloc_copied - copied8k),
                 (unsigned long)(m.realloc_remapped - b.realloc_remapped));
        if (run == 0)
            first = at8k;
        else
            KT_CHECK(at8k == first, "run %d placed at %p, run 0 at %p", run, (void *)at8k, (void *)first);
        goheap_free(p);
        /* freed into the heap's cache, ending where the window begins */
        m = core_stats();
        unsigned hn = gh_heap.hcache_n;
        KT_CHECK(pc->gbase == (uintptr_t)at8k + (16u << 20) && hn > 0 &&
                     gh_heap.hcache[hn - 1]->base == (uintptr_t)at8k && gh_heap.hcache[hn - 1]->npages == 2048,
                 "run %d: window 0x%lx (%lu pages), %u cached, after the free of %p", run, (unsigned long)pc->gbase,
                 (unsigned long)pc->gpages, hn, (void *)at8k);
        if (run > 0)
            KT_CHECK(m.heap_inuse == b.heap_inuse, "run %d: in use %lu -> %lu", run, (unsigned long)b.heap_inuse,
                     (unsigned long)m.heap_inuse);
        KT_CHECK(goheap_validate() == 0, "run %d: validate after the free", run);
    }
    KT_CHECK(core_dies_exact(win_double_free), "second free of a span that joined the window");
    /* the memory limit's drain gives a window back (its pages count against it) */
    unsigned char *q = goheap_malloc(16);
    for (size_t n = 32; n <= 8192; n *= 2)
        q = goheap_realloc(q, n);
    KT_CHECK(q == first && pc->gpages >= 1024, "placed at %p (run 0 at %p), window of %lu pages", (void *)q,
             (void *)first, (unsigned long)pc->gpages);
    int64_t old = goheap_set_memory_limit(1);
    KT_CHECK(pc->gpages == 0, "the limit kept a window of %lu pages", (unsigned long)pc->gpages);
    goheap_set_memory_limit(old);
    goheap_free(q);
    /* every idle byte releasable: the flush gives the window back */
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(pc->gpages == 0, "free_os_memory kept a window of %lu pages", (unsigned long)pc->gpages);
    KT_CHECK(m.heap_idle == m.heap_released, "every idle byte released (idle %lu, released %lu)",
             (unsigned long)m.heap_idle, (unsigned long)m.heap_released);
    KT_CHECK(goheap_validate() == 0, "");
}

/* A span above 16 MiB freed where its CPU's grow window begins joins the window
 * (window_join_freed): the window keeps its first 2048 pages and the rest of the span
 * goes back to the tree. Its span-map entries must be cleared before those pages are
 * free in the tree (the rule release_span follows): else a span another CPU places
 * there once the heap lock is dropped has its first-page and stride entries overwritten
 * with gh_deadspan. An observer takes the heap lock over and over and looks for a
 * page of the tail that is free in the tree while the map still names a span. */
static _Atomic int absorb_done, absorb_started, absorb_armed;
static _Atomic uintptr_t absorb_page; /* a stride page in the joining span's tail */
static _Atomic long absorb_seen, absorb_looks;
static void *absorb_observer(void *arg) {
    (void)arg;
    atomic_store(&absorb_started, 1);
    while (!atomic_load(&absorb_done)) {
        uintptr_t a = atomic_load(&absorb_page);
        if (!a)
            continue;
        atomic_store(&absorb_armed, 1);
        goheap_pin_t pin;
        unsigned cpu = goheap_sys_pin(&pin);
        gh_lock(&gh_heap.lock, cpu);
        int freed = !gh_pagealloc_page_in_use(gh_heap_pages_of(a), a);
        struct mspan *e = __atomic_load_n(&gh_fast.spans[(a - gh_fast.base) >> GOHEAP_PAGE_SHIFT], __ATOMIC_RELAXED);
        gh_unlock(&gh_heap.lock, cpu);
        goheap_sys_unpin(pin);
        atomic_fetch_add(&absorb_looks, 1);
        if (freed && e != &gh_deadspan)
            atomic_fetch_add(&absorb_seen, 1);
    }
    return 0;
}
static void t_window_absorb_order(void) {
    goheap_flush();
    pthread_t th;
    KT_CHECK(pthread_create(&th, 0, absorb_observer, 0) == 0, "");
    while (!atomic_load(&absorb_started))
        sched_yield();
    int joins = 0;
    for (int it = 0; it < 200; it++) {
        unsigned char *p = goheap_malloc(16);
        for (size_t n = 32; n <= (32u << 20); n *= 2)
            p = goheap_realloc(p, n);
        struct mspan *s = gh_span_of((uintptr_t)p);
        uintptr_t pg = (((uintptr_t)p - gh_fast.base) >> GOHEAP_PAGE_SHIFT) + GH_GROW_WINDOW_PAGES;
        pg = (pg + GH_SPANMAP_STRIDE - 1) & ~(uintptr_t)(GH_SPANMAP_STRIDE - 1);
        /* the observer waits for the heap lock while the free below holds it */
        if (s->npages > GH_HCACHE_PAGES && my_pcache()->gbase == s->limit &&
            gh_fast.base + (pg << GOHEAP_PAGE_SHIFT) < s->limit) {
            atomic_store(&absorb_armed, 0);
            atomic_store(&absorb_page, gh_fast.base + (pg << GOHEAP_PAGE_SHIFT));
            while (!atomic_load(&absorb_armed))
                sched_yield();
        }
        goheap_free(p); /* joins the window when it ends where the window begins */
        atomic_store(&absorb_page, 0);
        joins += my_pcache()->gbase == (uintptr_t)p;
    }
    atomic_store(&absorb_done, 1);
    pthread_join(th, 0);
    KT_CHECK(joins >= 100 && atomic_load(&absorb_looks) > 0, "%d of 200 frees joined the window, %ld looks", joins,
             atomic_load(&absorb_looks));
    KT_CHECK(atomic_load(&absorb_seen) == 0,
             "%ld of %ld looks found a joined span's tail page free in the tree while the span map still named it",
             atomic_load(&absorb_seen), atomic_load(&absorb_looks));
    goheap_flush();
}

/* ---- realloc's zero-copy move (alloc/remap.c): mremap here ---- */

/* The protection of the mapping holding a, from /proc/self/maps ("rw-p", "---p"), or
 * "" when none holds it. */
static const char *prot_at(const void *a) {
    static char prot[8];
    prot[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return prot;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && (uintptr_t)a >= lo && (uintptr_t)a < hi) {
            snprintf(prot, sizeof prot, "%s", pr);
            break;
        }
    }
    fclose(f);
    return prot;
}

/* Touched from another thread before the move, so its pages were in use there too. */
static void *touch_thread(void *p) {
    volatile uint64_t *w = p;
    uint64_t sum = 0;
    for (size_t i = 0; i < (2u << 20) / 8; i += 512)
        sum += w[i];
    return (void *)(uintptr_t)(sum != 0);
}

static void t_realloc_remap(void) {
    goheap_free_os_memory();
    const size_t old = 2u << 20, n = 4u << 20;
    uint64_t *p = goheap_malloc(old);
    char *blocker = goheap_malloc(1u << 20); /* the pages after p: no growth in place */
    KT_CHECK(p && blocker, "");
    for (size_t i = 0; i < old / 8; i++)
        p[i] = i * 0x9e3779b97f4a7c15ull;
    pthread_t th;
    void *r;
    pthread_create(&th, 0, touch_thread, p);
    pthread_join(th, &r);
    struct goheap_memstats b = core_stats();
    uint64_t remaps0 = metric("/goheap/realloc/remaps:calls");
    uint64_t *q = goheap_realloc(p, n);
    struct goheap_memstats m = core_stats();
    KT_CHECK(q && q != p, "moved (%p -> %p)", (void *)p, (void *)q);
    size_t bad = 0;
    for (size_t i = 0; i < old / 8; i++)
        bad += q[i] != i * 0x9e3779b97f4a7c15ull;
    KT_CHECK(bad == 0, "%zu words lost in the move", bad);
    KT_CHECK(goheap_usable_size(q) >= n && goheap_usable_size(q) <= (n / 8192 + n / 8192 / 8) * 8192,
             "usable %zu", goheap_usable_size(q));
    KT_CHECK(m.realloc_copied == b.realloc_copied, "copied %lu bytes",
             (unsigned long)(m.realloc_copied - b.realloc_copied));
    KT_CHECK(m.realloc_remapped - b.realloc_remapped == old, "remapped %lu bytes",
             (unsigned long)(m.realloc_remapped - b.realloc_remapped));
    KT_CHECK(metric("/goheap/realloc/remaps:calls") == remaps0 + 1, "");
    KT_CHECK(metric("/goheap/realloc/remapped:bytes") == m.realloc_remapped, "");
    /* the old range is reserved, not backed, not accessible: a PROT_NONE mapping */
    KT_CHECK(!strcmp(prot_at(p), "---p"), "old range is '%s'", prot_at(p));
    KT_CHECK(!strcmp(prot_at(q), "rw-p"), "new range is '%s'", prot_at(q));
    /* its pages are free and released in the heap (heap_inuse: + the new run's) */
    KT_CHECK(m.heap_inuse - b.heap_inuse == goheap_usable_size(q) - old, "inuse +%lu",
             (unsigned long)(m.heap_inuse - b.heap_inuse));
    memset((char *)q + old, 0x11, n - old); /* the tail is writable */
    KT_CHECK(goheap_validate() == 0, "");
    printf("    # 2 -> 4 MiB: remapped %lu KiB, copied %lu B\n",
           (unsigned long)((m.realloc_remapped - b.realloc_remapped) >> 10),
           (unsigned long)(m.realloc_copied - b.realloc_copied));
    /* the old pages come back for the next allocation, mapped again, zero */
    goheap_free(blocker);
    goheap_free(q);
    goheap_free_os_memory();
    KT_CHECK(goheap_validate() == 0, "");
    /* below 1 MiB a move copies, and says so */
    b = core_stats();
    char *s = goheap_malloc(600000), *s2 = goheap_malloc(200000);
    memset(s, 3, 600000);
    size_t us = goheap_usable_size(s); /* a large move copies the old usable size */
    char *t = goheap_realloc(s, 900000);
    m = core_stats();
    KT_CHECK(t && t != s && t[599999] == 3, "");
    KT_CHECK(m.realloc_copied - b.realloc_copied == us && m.realloc_remapped == b.realloc_remapped,
             "copied %lu", (unsigned long)(m.realloc_copied - b.realloc_copied));
    goheap_free(t);
    goheap_free(s2);
}

/* Doubling a buffer from 16 B to 64 MiB: every move from 1 MiB on is a remap. */
static void t_realloc_remap_doubling(void) {
    struct goheap_memstats b = core_stats();
    unsigned char *p = 0;
    size_t have = 0;
    for (size_t n = 16; n <= (64u << 20); n *= 2) {
        unsigned char *q = goheap_realloc(p, n);
        KT_CHECK(q != 0, "");
        if (have)
            KT_CHECK(q[0] == (unsigned char)have && q[have - 1] == (unsigned char)(have >> 8), "at %zu", n);
        q[0] = (unsigned char)n;
        q[n - 1] = (unsigned char)(n >> 8);
        p = q;
        have = n;
    }
    struct goheap_memstats m = core_stats();
    printf("    # 16 B -> 64 MiB doubling: copied %lu KiB, remapped %lu KiB\n",
           (unsigned long)((m.realloc_copied - b.realloc_copied) >> 10),
           (unsigned long)((m.realloc_remapped - b.realloc_remapped) >> 10));
    /* copies stop below 1 MiB (the margin may keep some steps in place) */
    KT_CHECK(m.realloc_copied - b.realloc_copied < (2u << 20), "copied %lu",
             (unsigned long)(m.realloc_copied - b.realloc_copied));
    KT_CHECK(m.realloc_remapped - b.realloc_remapped >= (32u << 20), "remapped %lu",
             (unsigned long)(m.realloc_remapped - b.realloc_remapped));
    goheap_free(p);
    KT_CHECK(goheap_validate() == 0, "");
}

/* realloc's growth in place over released pages (at least GH_MAP_UNPINNED_PAGES of
 * them to map) takes them out of the tree being mapped and maps them unpinned with no
 * lock held (gh_heap_extend_mapped): the object stays and keeps its bytes, HeapInuse
 * grows by exactly the pages added, nothing is left being mapped (the validator's
 * gh_pagealloc_check), and a free gives every page back. (Out of memory in that map is
 * kheap-maplat's t_grow_oom: here the released pages stay mapped, MADV_DONTNEED, so no
 * limit makes their map fail.) */
static void grow_released(void) {
    const size_t from = 32u << 20, to = 96u << 20, mib = 1u << 20;
    struct goheap_memstats a, c;
    void *r = goheap_malloc(to + to / 4); /* the heap grown past the growth, then freed */
    goheap_free(r);
    unsigned char *p = goheap_malloc(from);
    if (!p)
        _exit(50);
    memset(p, 0x5a, from);
    goheap_free_os_memory(); /* every free page released: the growth must map */
    goheap_read_memstats(&a);
    unsigned char *q = goheap_realloc(p, to);
    if (q != p) {
        fprintf(stderr, "moved %p -> %p\n", (void *)p, (void *)q);
        _exit(51);
    }
    goheap_read_memstats(&c);
    for (size_t k = 0; k < from; k += 4096)
        if (p[k] != 0x5a)
            _exit(52);
    memset(p + from, 0xa5, to - from);
    /* the margin (1/8) or exactly: whole pages, within one MiB of the request's */
    uint64_t added = c.heap_inuse - a.heap_inuse;
    if (added < to - from || added > to - from + to / 8 + mib || added != goheap_usable_size(p) - from ||
        goheap_validate() != 0) {
        fprintf(stderr, "HeapInuse %lu -> %lu, usable %zu\n", (unsigned long)a.heap_inuse,
                (unsigned long)c.heap_inuse, goheap_usable_size(p));
        _exit(53);
    }
    goheap_free(p);
    goheap_read_memstats(&c);
    if (c.heap_inuse != a.heap_inuse - from || goheap_validate() != 0)
        _exit(54);
}
static void t_realloc_grow_released(void) {
    char buf[4096];
    int st = core_child(grow_released, buf, sizeof buf);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
}

/* realloc's growth in place that maps unpinned (gh_heap_extend_mapped) on a CPU whose
 * cache cannot be created (out of memory for metadata: its counters are then
 * gh_emptycache's, as every other path counts them): the pages it added still count
 * in large_alloc_bytes, so the validator's "large bytes counted == bytes in large
 * spans" holds and HeapAlloc covers them. A thread started before the address space is
 * capped (RLIMIT_AS at the process's size) reallocs first, on a slot never used, and
 * the persistent chunk is used up first, so its cache needs a new reservation, which
 * the cap refuses; the map of released pages (mprotect of pages already RW) is not. */
static unsigned char *nc_p, *nc_q;
static _Atomic int nc_go;
static int nc_nocache; /* the thread's slot still had no cache after its realloc */
static void *nocache_realloc(void *arg) {
    (void)arg;
    nocache_thread_runs();
    while (!atomic_load(&nc_go))
        sched_yield();
    nc_q = goheap_realloc(nc_p, 2u << 20);
    unsigned k = goheap_hosted_slot; /* (an exclusive slot: ours until we exit) */
    nc_nocache = k < gh_ncpu && gh_fast.caches[k] == &gh_emptycache;
    return 0;
}
static int fresh_nocache_grow(void) {
    const size_t from = 1u << 20, to = 2u << 20;
    void *r = goheap_malloc(8u << 20); /* the heap grown past the growth, then freed */
    goheap_free(r);
    goheap_flush();
    nc_p = goheap_malloc(from);
    if (!nc_p)
        return 2;
    memset(nc_p, 0x5a, from);
    goheap_free_os_memory(); /* the pages after it released: the growth maps them */
    pthread_t th;
    if (pthread_create(&th, 0, nocache_realloc, 0) != 0)
        return 3;
    struct rlimit old;
    int cap = cap_metadata(&old, 1);
    if (cap)
        return cap;
    atomic_store(&nc_go, 1);
    pthread_join(th, 0);
    setrlimit(RLIMIT_AS, &old);
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    printf("# realloc %p -> %p on a slot with no cache: usable %zu, HeapAlloc %lu, HeapInuse %lu\n", (void *)nc_p,
           (void *)nc_q, nc_q ? goheap_usable_size(nc_q) : 0, (unsigned long)m.heap_alloc,
           (unsigned long)m.heap_inuse);
    fflush(stdout);
    if (nc_q != nc_p || !nc_nocache)
        return 6; /* setup: not grown in place, or the cache was created */
    for (size_t k = 0; k < from; k += 4096)
        if (nc_q[k] != 0x5a)
            return 7;
    /* the one live goheap object: HeapAlloc is its span's bytes */
    if (m.heap_alloc != goheap_usable_size(nc_q) || goheap_usable_size(nc_q) < to)
        return 1;
    return goheap_validate() == 0 ? 0 : 8;
}
/* realloc's zero-copy move out of memory in the middle (its tail's map refused) while
 * the heap holds free memory in a cache: the last resort (every CPU flushed, every
 * free page released) and one more try, as malloc does, before NULL. A fresh process
 * (CORE_LARGE_FRESH=remapnomem) under RLIMIT_DATA near its data size, which refuses
 * large maps: a 32 MiB malloc fails there, leaving that run free and never mapped,
 * and 16 spans of 29-32 pages (3.8 MiB) freed after it wait in this CPU's large span
 * cache, backed (RW). The first move's destination is the never-mapped run, whose
 * tail cannot be mapped. The last resort drains the cache: the retry's destination is
 * those spans' pages, RW already (released with MADV_DONTNEED, which keeps them so),
 * and the move maps nothing new. (The heap's large span cache would not do: realloc's
 * growth in place drains it before the move.) Before, realloc returned NULL there,
 * errno unset, with 3.8 MiB free in the heap. */
#define RN_OLD (1u << 20)
#define RN_NEW (2u << 20)
#define RN_BIG (32u << 20)
#define RN_SPARES 16
static int fresh_remap_nomem(void) {
    /* as if the first background poll had come (bgthread=0: no thread): no step runs
     * at a slow path's end, to drain the cache (work.h) */
    atomic_store(&gh_bg_polled, 1);
    unsigned char *p = goheap_malloc(RN_OLD);
    void *blocker = goheap_malloc(1u << 20); /* the pages after p: no growth in place */
    void *spare[RN_SPARES];
    for (unsigned i = 0; i < RN_SPARES; i++)
        if (!(spare[i] = goheap_malloc((size_t)(32 - i % 4) * GOHEAP_PAGE_SIZE)))
            return 2;
    if (!p || !blocker)
        return 2;
    memset(p, 0x5a, RN_OLD);
    long data = vm_data_bytes();
    struct rlimit old, lim;
    if (data < 0 || getrlimit(RLIMIT_DATA, &old) != 0)
        return 3;
    lim = old;
    lim.rlim_cur = (rlim_t)data + (8u << 20); /* the heap's growth fits, the run's map not */
    if (setrlimit(RLIMIT_DATA, &lim) != 0)
        return 3;
    if (goheap_malloc(RN_BIG))
        return 4; /* setup: the limit let a map through */
    for (unsigned i = 0; i < RN_SPARES; i++)
        goheap_free(spare[i]); /* into this CPU's large span cache, backed */
    if (core_stats().heap_idle - core_stats().heap_released < RN_SPARES * 29 * GOHEAP_PAGE_SIZE ||
        (data = vm_data_bytes()) < 0)
        return 4; /* setup: not cached */
    lim.rlim_cur = (rlim_t)data + (512u << 10); /* the move's tail (1.25 MiB) does not fit */
    if (setrlimit(RLIMIT_DATA, &lim) != 0)
        return 3;
    struct goheap_memstats a = core_stats();
    uint64_t nomem0 = metric("/goheap/realloc/remap-nomem:calls");
    errno = 0;
    unsigned char *q = goheap_realloc(p, RN_NEW);
    int err = errno;
    setrlimit(RLIMIT_DATA, &old);
    struct goheap_memstats b = core_stats();
    printf("# realloc %p -> %p (errno %d) under RLIMIT_DATA: remap-nomem +%lu, remapped %lu KiB, copied %lu KiB\n",
           (void *)p, (void *)q, err, (unsigned long)(metric("/goheap/realloc/remap-nomem:calls") - nomem0),
           (unsigned long)((b.realloc_remapped - a.realloc_remapped) >> 10),
           (unsigned long)((b.realloc_copied - a.realloc_copied) >> 10));
    fflush(stdout);
    if (metric("/goheap/realloc/remap-nomem:calls") == nomem0)
        return 5; /* setup: the first move did not run out of memory */
    if (!q)
        return err == ENOMEM ? 1 : 6;
    for (size_t k = 0; k < RN_OLD; k += 4096)
        if (q[k] != 0x5a)
            return 7;
    if (b.realloc_remapped - a.realloc_remapped != RN_OLD || b.realloc_copied != a.realloc_copied)
        return 8;
    goheap_free(q);
    goheap_free(blocker);
    return goheap_validate() == 0 ? 0 : 9;
}
static void exec_fresh_remap_nomem(void) {
    setenv("GOHEAPDEBUG", "bgthread=0", 1); /* no scavenger meanwhile */
    exec_fresh_mode("remapnomem");
}
static void t_realloc_remap_nomem(void) {
    char out[2048];
    int st = core_child_fd(exec_fresh_remap_nomem, 1, out, sizeof out);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "zero-copy move out of memory, free memory cached: status 0x%x (1: NULL without the last resort; 6: "
             "NULL, errno not ENOMEM; 7: bytes lost; 8: copied, not moved; 9: validate; 2-5: setup), %s",
             st, out);
}
static void exec_fresh_nocache(void) {
    setenv("GOHEAPDEBUG", "bgthread=0", 1); /* no other thread takes metadata meanwhile */
    exec_fresh_mode("nocache");
}
static void t_realloc_grow_nocache(void) {
    nocache_case(exec_fresh_nocache, "growth mapped unpinned on a CPU with no cache (1: HeapAlloc short of the "
                                     "span; 8: validate; 2-7: setup)");
}

static const struct kt_case cases[] = {
    KT_CASE(t_realloc_grow_released),
    KT_CASE(t_realloc_grow_nocache),
    KT_CASE(t_large_realloc),
    KT_CASE(t_realloc_policy),
    KT_CASE(t_realloc_room),
    KT_CASE(t_realloc_window),
    KT_CASE(t_window_absorb_order),
    KT_CASE(t_realloc_remap),
    KT_CASE(t_realloc_remap_doubling),
    KT_CASE(t_realloc_remap_nomem),
    KT_CASE_BY(t_realloc_large_steps, core_case_fresh),
};

int main(void) {
    int fresh = core_fresh_main(cases, KT_NCASES(cases));
    if (fresh >= 0)
        return fresh;
    if (getenv("CORE_LARGE_FRESH"))
        return !strcmp(getenv("CORE_LARGE_FRESH"), "remapnomem") ? fresh_remap_nomem()
               : !strcmp(getenv("CORE_LARGE_FRESH"), "nocache")  ? fresh_nocache_grow()
                                                                  : 2;
    /* No background thread (its fresh processes above have theirs): the parent has
     * one from the first large frees on, and a death test's child would start its
     * own at a background poll, which ThreadSanitizer refuses (docs/testing.md, "Fork
     * children and the background thread"). */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-realloc", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
