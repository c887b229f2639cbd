/* tests/host/test_core_central.c: mcache refill, mcentral's partial/full/pending
 * lists and the full -> pending handshake, sweeping on flush, and the promise that
 * after everything is freed and flushed all pages are back in the page heap. */
#include <pthread.h>

#include "test_core_common.h"

#define N 20000

static void *objs[N];

/* Many spans of one class, freed in a scattered order: refills walk words, spans go
 * back to mcentral and to the heap when empty. */
static void t_refill_and_return(void) {
    struct goheap_memstats before = core_stats();
    for (int i = 0; i < N; i++) {
        objs[i] = goheap_malloc(96);
        memset(objs[i], 0x5a, 96);
    }
    struct goheap_memstats mid = core_stats();
    KT_CHECK(mid.heap_objects - before.heap_objects == N, "%lu", mid.heap_objects - before.heap_objects);
    KT_CHECK(mid.by_size[8].mallocs - before.by_size[8].mallocs == N, "96 B is class 8");
    for (int i = 0; i < N; i += 3)
        goheap_free(objs[i]);
    KT_CHECK(goheap_validate() == 0, "after scattered frees");
    for (int i = 0; i < N; i += 3)
        objs[i] = goheap_malloc(96); /* reuses the holes */
    struct goheap_memstats again = core_stats();
    KT_CHECK(again.heap_inuse == mid.heap_inuse, "holes reused, no new spans (%lu vs %lu)",
             again.heap_inuse, mid.heap_inuse);
    for (int i = 0; i < N; i++)
        goheap_free(objs[i]);
    KT_CHECK(core_stats().heap_objects == 0, "");
    /* Spans filed FULL and then freed into wait in mcentral's pending list until
     * swept: free_os_memory (or the next refill of the class) sweeps them. */
    goheap_free_os_memory();
    struct goheap_memstats after = core_stats();
    KT_CHECK(after.heap_inuse == 0, "heap_inuse %lu after freeing everything", after.heap_inuse);
}

/* Every size class, both alignments, scan and noscan: objects are distinct, aligned,
 * and their memory is usable. */
static void t_all_classes(void) {
    static void *p[GOHEAP_NUM_SIZE_CLASSES][40];
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        size_t sz = goheap_class_to_size[cl];
        for (int i = 0; i < 40; i++) {
            unsigned flags = i % 3 == 0 ? GOHEAP_NOSCAN : i % 3 == 1 ? GOHEAP_ALIGN8 : 0;
            p[cl][i] = flags ? goheap_malloc_flags(sz, flags) : goheap_malloc(sz);
            KT_CHECK(p[cl][i] != 0, "");
            uintptr_t a = (uintptr_t)p[cl][i];
            if (!(flags & GOHEAP_ALIGN8) && sz >= 16)
                KT_CHECK(a % 16 == 0, "class %u size %zu not 16-aligned", cl, sz);
            KT_CHECK(goheap_usable_size(p[cl][i]) >= sz, "");
            memset(p[cl][i], (int)cl, sz);
        }
    }
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++)
        for (int i = 0; i < 40; i++) {
            unsigned char *c = p[cl][i];
            KT_CHECK(c[0] == (unsigned char)cl && c[goheap_class_to_size[cl] - 1] == (unsigned char)cl,
                     "class %u object %d overwritten", cl, i);
            goheap_free(p[cl][i]);
        }
}

/* Producer fills spans on its CPU; a consumer thread frees them all (remote frees).
 * The producer's spans were filed FULL in mcentral; the first remote free of each
 * flips it to PENDING, so the producer's next allocations reuse the memory instead of
 * growing the heap. */
struct xarg {
    void **objs;
    int n;
};
static void *consumer(void *arg) {
    struct xarg *x = arg;
    for (int i = 0; i < x->n; i++)
        goheap_free(x->objs[i]);
    return 0;
}
static void t_full_to_pending(void) {
    for (int i = 0; i < N; i++)
        objs[i] = goheap_malloc(256);
    goheap_flush(); /* every span to mcentral, all FULL */
    struct goheap_memstats full = core_stats();
    unsigned nfull = 0, npending = 0;
    nfull = gh_central[18 << 1].full.n;
    KT_CHECK(nfull > 0, "spans filed full");
    struct xarg x = {objs, N};
    pthread_t t;
    pthread_create(&t, 0, consumer, &x);
    pthread_join(t, 0);
    npending = gh_central[18 << 1].pending.n;
    KT_CHECK(npending == nfull, "every full span woke: %u pending of %u", npending, nfull);
    KT_CHECK(gh_central[18 << 1].full.n == 0, "none left full");
    for (int i = 0; i < N; i++)
        objs[i] = goheap_malloc(256);
    struct goheap_memstats again = core_stats();
    KT_CHECK(again.heap_inuse <= full.heap_inuse, "pending spans reused (%lu > %lu)", again.heap_inuse,
             full.heap_inuse);
    for (int i = 0; i < N; i++)
        goheap_free(objs[i]);
}

/* Lost wake-up race: one thread allocates (filling spans and filing them FULL) while
 * another frees the objects as soon as they are published. At the end no span may
 * be FULL in mcentral while holding remote frees. */
static void *volatile slots[1024];
static _Atomic int done;
static void *racer_free(void *arg) {
    (void)arg;
    while (!atomic_load(&done) || 1) {
        int any = 0;
        for (int i = 0; i < 1024; i++) {
            void *p = __atomic_exchange_n(&slots[i], (void *)0, __ATOMIC_ACQ_REL);
            if (p) {
                goheap_free(p);
                any = 1;
            }
        }
        if (!any && atomic_load(&done))
            break;
    }
    return 0;
}
static void t_handshake_race(void) {
    atomic_store(&done, 0);
    pthread_t t;
    pthread_create(&t, 0, racer_free, 0);
    for (int round = 0; round < 200000; round++) {
        void *p = goheap_malloc(512);
        int i = round % 1024;
        void *old = __atomic_exchange_n(&slots[i], p, __ATOMIC_ACQ_REL);
        if (old)
            goheap_free(old);
    }
    atomic_store(&done, 1);
    pthread_join(t, 0);
    for (int i = 0; i < 1024; i++)
        if (slots[i]) {
            goheap_free(slots[i]);
            slots[i] = 0;
        }
    goheap_flush();
    struct mcentral *mc = &gh_central[26 << 1];
    unsigned stuck = 0;
    for (struct mspan *s = mc->full.first; s; s = s->next)
        for (unsigned w = 0; w < s->nwords; w++)
            if (gh_span_rpend(s, w, memory_order_seq_cst))
                stuck++;
    KT_CHECK(stuck == 0, "%u full spans hold remote frees (lost wake-up)", stuck);
    goheap_free_os_memory();
    KT_CHECK(core_stats().heap_inuse == 0, "everything returned: %lu", core_stats().heap_inuse);
}

/* free_os_memory: flush, sweep mcentral, scavenge: every idle page is released. */
static void t_free_os_memory(void) {
    for (int i = 0; i < N; i++)
        objs[i] = goheap_malloc((size_t)(i % 2000) + 1);
    for (int i = 0; i < N; i++)
        goheap_free(objs[i]);
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(m.heap_inuse == 0, "inuse %lu", m.heap_inuse);
    KT_CHECK(m.heap_released == m.heap_idle, "released %lu of idle %lu", m.heap_released, m.heap_idle);
    KT_CHECK(m.heap_sys == m.heap_idle, "");
}

/* The wake's class-lock hold against a span recycled under it. A freer's CAS flips a
 * FULL span to PENDING; before it gets the class lock, a reclaim sweeps the span empty
 * and frees it, and the struct is set up again for a new span (span_reset) with no
 * lock of that class. The freer then reads the span's list link under the lock: the
 * link must be written atomically by the reset, or that read and the reset's write
 * are a C11 data race (TSan: tsan-core-central). Built step by step: the class holds
 * one 32 KiB object a span, so the freer's free is the span's last object; the test
 * holds the class lock while the freer waits for it, and does the reclaim pass's
 * steps itself; then a span of another class takes the struct. In the plain build
 * the case checks the steps' outcome. */
struct wake_arg {
    void *p;
    _Atomic int done;
};
static void *wake_freer(void *arg) {
    struct wake_arg *w = arg;
    goheap_free(w->p); /* remote: the span is in mcentral, FULL */
    atomic_store(&w->done, 1);
    return 0;
}
static void t_wake_recycled(void) {
    unsigned spc = 67 << 1; /* 32768 B: one object a span */
    struct mcentral *mc = &gh_central[spc];
    goheap_free_os_memory(); /* no partial span of class 66 left to reuse */
    struct wake_arg w = {goheap_malloc(32768), 0};
    struct mspan *s = gh_span_of((uintptr_t)w.p);
    KT_CHECK(s->spc == spc && s->nelems == 1, "class %u, %u objects", (unsigned)s->spc, (unsigned)s->nelems);
    goheap_flush(); /* filed FULL: its one object is live */
    KT_CHECK(atomic_load(&s->cstate) == GH_CS_FULL && s->onlist == &mc->full, "filed full");
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&mc->lock, cpu);
    pthread_t t;
    pthread_create(&t, 0, wake_freer, &w);
    /* The freer's CAS, then it waits for the lock we hold. */
    while (atomic_load(&s->cstate) != GH_CS_PENDING)
        ;
    /* gh_central_reclaim's steps for a span it finds empty. */
    gh_list_remove(&mc->full, s);
    gh_span_sweep_remote_words(s, cpu);
    unsigned live = gh_span_count_live(s);
    atomic_store_explicit(&s->cstate, GH_CS_NONE, memory_order_relaxed);
    gh_unlock(&mc->lock, cpu);
    KT_CHECK(live == 0, "%u live after the sweep", live);
    gh_heap_free_span(cpu, s);
    goheap_sys_unpin(pin);
    /* A new span of another class with a struct of the same size (one bitmap word)
     * takes the struct back (span_reset) without the class lock the freer takes: were
     * it class 67's, that lock would order the freer's read before the reset. */
    void *q = goheap_malloc(28672);
    struct mspan *s2 = gh_span_of((uintptr_t)q);
    if (s2 != s)
        printf("    # the struct was not reused (0x%lx, then 0x%lx)\n", (unsigned long)(uintptr_t)s,
               (unsigned long)(uintptr_t)s2);
    pthread_join(t, 0);
    KT_CHECK(atomic_load(&w.done), "freer done");
    KT_CHECK(s2 != s || s->onlist == 0, "the recycled span is on no list of class 67");
    goheap_free(q);
    goheap_flush();
}

static const struct kt_case cases[] = {
    KT_CASE(t_refill_and_return),
    KT_CASE(t_all_classes),
    KT_CASE(t_full_to_pending),
    KT_CASE(t_handshake_race),
    KT_CASE(t_wake_recycled),
    KT_CASE(t_free_os_memory),
};

int main(void) {
    kt_begin("core-central", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
