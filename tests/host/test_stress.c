/* tests/host/test_stress.c: multi-threaded stress of goheap. Objects of every size
 * class, tiny and large, move between threads through a shared transfer array and are
 * cookie-checked at free; threads come and go between rounds; statistics are read
 * while threads run; at the end everything is freed and the validator and the
 * counters must balance exactly.
 * usage: test_stress [rounds threads ops-per-thread]   (sanitizer builds run smaller)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goheap.h"
#include "heapcheck.h"
#include "hostktap.h"

/* hosted/platform.c's NOVERFLOW: slots shared by threads that have no slot of their own. */
#define HOSTED_OVERFLOW_SLOTS 8

static unsigned rounds = 6, nthreads = 4, ops = 60000;

/* ---- the transfer array ------------------------------------------------------------
 * NSLOTS slots, each holding one live object or nothing. A thread swaps its new object
 * into a random slot and frees whatever it finds there, so most objects are freed by a
 * thread other than the one (or a thread that no longer exists) that allocated them.
 * 4096 slots keep about 2000 objects (~10 MiB) live. */
#define NSLOTS 4096
struct slot {
    atomic_flag busy; /* a tiny spinlock: guards p and n */
    /* protected by busy */
    void *p;
    size_t n;
    unsigned kind;
};
static struct slot slots[NSLOTS];


static void slot_lock(struct slot *s) {
    while (atomic_flag_test_and_set_explicit(&s->busy, memory_order_acquire))
        ;
}
static void slot_unlock(struct slot *s) { atomic_flag_clear_explicit(&s->busy, memory_order_release); }

/* Object kinds: how it was allocated decides what alignment and contents it promises. */
enum { K_MALLOC, K_CALLOC, K_ZERO, K_NOSCAN, K_ALIGN8, K_TINY, K_LARGE, K_ALIGNED, K_REALLOC };
static const char *const kind_name[] = {"malloc", "calloc", "zero", "noscan", "align8",
                                        "tiny", "large", "aligned", "realloc"};

/* The alignment an object of n bytes must have. Plain malloc: 16 B from 16 B up (8 B
 * below). ALIGN8: 8 B. Tiny: Go's rule (n%8==0 -> 8, n%4==0 -> 4, n%2==0 -> 2). */
static uintptr_t want_align(unsigned kind, size_t n, size_t align) {
    if (kind == K_ALIGNED || kind == K_REALLOC)
        return align;
    if (kind == K_TINY)
        return (n & 7) == 0 ? 8 : (n & 3) == 0 ? 4 : (n & 1) == 0 ? 2 : 1;
    if (kind == K_ALIGN8)
        return n >= 8 ? 8 : 1;
    return n >= 16 ? 16 : 8;
}

/* A checked allocation of a random kind and size; returns NULL only after FAIL. */
static void *alloc_one(uint64_t *rng, size_t *np, unsigned *kindp) {
    unsigned r = (unsigned)hc_below(rng, 100), kind;
    size_t n, align = 0;
    void *p;
    if (r < 10) { /* tiny: pointer-free objects under 16 B, packed per CPU */
        kind = K_TINY;
        n = 1 + hc_below(rng, HC_TINY_MAX - 1);
        p = goheap_malloc_flags(n, GOHEAP_NOSCAN | (hc_below(rng, 2) ? GOHEAP_ZERO : 0));
    } else if (r < 13) { /* large: one object per span, straight from mheap */
        kind = K_LARGE;
        n = HC_MAX_SMALL + 1 + hc_below(rng, hc_below(rng, 8) ? 200000 : 2000000);
        p = goheap_malloc(n);
    } else if (r < 18) { /* aligned: 8 B .. 16 KiB alignment, any size */
        kind = K_ALIGNED;
        align = (size_t)8 << hc_below(rng, 12);
        n = 1 + hc_below(rng, hc_below(rng, 4) ? 512 : 40000);
        n = (n + align - 1) / align * align; /* aligned_alloc wants a multiple */
        p = goheap_aligned_alloc(align, n);
    } else {
        n = hc_size_in_class(rng, 1 + (unsigned)hc_below(rng, GOHEAP_NUM_SIZE_CLASSES - 1));
        if (r < 70) {
            kind = K_MALLOC;
            p = goheap_malloc(n);
        } else if (r < 78) {
            kind = K_CALLOC;
            p = goheap_calloc(1 + (n % 3 == 0 ? 2 : 0), n % 3 == 0 ? (n + 2) / 3 : n);
            if (n % 3 == 0)
                n = 3 * ((n + 2) / 3);
        } else if (r < 84) {
            kind = K_ZERO;
            p = goheap_malloc_flags(n, GOHEAP_ZERO);
        } else if (r < 92) {
            kind = K_NOSCAN;
            p = goheap_malloc_flags(n < HC_TINY_MAX ? HC_TINY_MAX : n, GOHEAP_NOSCAN);
            if (n < HC_TINY_MAX)
                n = HC_TINY_MAX;
        } else {
            kind = K_ALIGN8;
            p = goheap_malloc_flags(n, GOHEAP_ALIGN8);
        }
    }
    if (!p) {
        HC_FAIL("%s of %zu returned NULL", kind_name[kind], n);
        return NULL;
    }
    uintptr_t a = want_align(kind, n, align);
    if ((uintptr_t)p % a)
        HC_FAIL("%s of %zu: %p is not %zu-aligned", kind_name[kind], n, p, (size_t)a);
    size_t us = goheap_usable_size(p);
    if (us < n)
        HC_FAIL("%s of %zu: usable_size(%p) = %zu", kind_name[kind], n, p, us);
    if ((kind == K_CALLOC || kind == K_ZERO) && !hc_all_zero(p, n))
        HC_FAIL("%s of %zu: %p is not zeroed", kind_name[kind], n, p);
    hc_fill(p, n);
    *np = n;
    *kindp = kind;
    return p;
}

static void check_and_free(void *p, size_t n, unsigned kind) {
    size_t bad = hc_check(p, n);
    if (bad != (size_t)-1)
        HC_FAIL("%s object %p size %zu: cookie broken at offset %zu", kind_name[kind], p, n, bad);
    size_t us = goheap_usable_size(p);
    if (us < n)
        HC_FAIL("%s object %p size %zu: usable_size %zu at free", kind_name[kind], p, n, us);
    goheap_free(p);
}

/* Realloc an object taken from a slot: its old prefix must survive the move. */
static void *realloc_one(uint64_t *rng, void *p, size_t *np, unsigned *kindp) {
    size_t n = *np, m;
    unsigned r = (unsigned)hc_below(rng, 10);
    if (r < 4) /* inside the same class or just below it */
        m = n > 1 ? n - hc_below(rng, n / 2 + 1) : 1;
    else if (r < 9)
        m = hc_size_in_class(rng, 1 + (unsigned)hc_below(rng, GOHEAP_NUM_SIZE_CLASSES - 1));
    else
        m = HC_MAX_SMALL + 1 + hc_below(rng, 100000);
    if (m == 0)
        m = 1;
    size_t bad = hc_check(p, n);
    if (bad != (size_t)-1)
        HC_FAIL("%s object %p size %zu: cookie broken at offset %zu before realloc",
             kind_name[*kindp], p, n, bad);
    void *q = goheap_realloc(p, m);
    if (!q) {
        HC_FAIL("realloc(%p, %zu) returned NULL", p, m);
        goheap_free(p);
        return NULL;
    }
    /* The surviving prefix still holds the OLD cookie (old address and size). */
    bad = hc_cover(q, (uintptr_t)p, n, m, 1);
    if (bad != (size_t)-1)
        HC_FAIL("realloc(%p, %zu) -> %p from %zu: byte %zu lost", p, m, q, n, bad);
    /* A moved block is a fresh malloc (16 B alignment from 16 B up); a block kept in
     * place keeps the alignment it was allocated with (ALIGN8 blocks stay 8-aligned). */
    uintptr_t a = q == p ? want_align(*kindp, m, 8) : (m >= 16 ? 16 : 8);
    if ((uintptr_t)q % a)
        HC_FAIL("realloc to %zu: %p not %zu-aligned", m, q, (size_t)a);
    if (goheap_usable_size(q) < m)
        HC_FAIL("realloc to %zu: usable_size %zu", m, goheap_usable_size(q));
    hc_fill(q, m);
    *np = m;
    *kindp = K_REALLOC;
    return q;
}

struct worker_arg {
    uint64_t seed;
    unsigned ops;
};

/* Every round's threads start together: in the first round that makes their first
 * mallocs race for the allocator's lazy initialisation, later ones for cache slots. */
static pthread_barrier_t start_line;

static void *worker(void *argp) {
    struct worker_arg *a = argp;
    uint64_t rng = a->seed;
    pthread_barrier_wait(&start_line);
    for (unsigned i = 0; i < a->ops; i++) {
        struct slot *s = &slots[hc_below(&rng, NSLOTS)];
        unsigned r = (unsigned)hc_below(&rng, 100);
        void *old;
        size_t oldn;
        unsigned oldk;
        if (r < 8) { /* realloc in the slot */
            slot_lock(s);
            if (s->p)
                s->p = realloc_one(&rng, s->p, &s->n, &s->kind);
            slot_unlock(s);
            continue;
        }
        void *p = NULL;
        size_t n = 0;
        unsigned kind = 0;
        if (r < 60)
            p = alloc_one(&rng, &n, &kind);
        slot_lock(s);
        old = s->p, oldn = s->n, oldk = s->kind;
        s->p = p, s->n = n, s->kind = kind;
        slot_unlock(s);
        if (old)
            check_and_free(old, oldn, oldk);
        if (i % 4096 == 4095 && hc_below(&rng, 4) == 0)
            goheap_flush(); /* give cached spans back now and then */
    }
    return NULL;
}

/* Frees every k-th occupied slot from the calling thread (0: all). */
static void drain_slots(unsigned k) {
    for (unsigned i = 0; i < NSLOTS; i++) {
        if (k && i % k)
            continue;
        struct slot *s = &slots[i];
        slot_lock(s);
        void *p = s->p;
        size_t n = s->n;
        unsigned kind = s->kind;
        s->p = NULL;
        slot_unlock(s);
        if (p)
            check_and_free(p, n, kind);
    }
}

static void run_threads(unsigned n, unsigned nops, uint64_t seed) {
    pthread_t t[64];
    struct worker_arg a[64];
    pthread_barrier_init(&start_line, NULL, n);
    for (unsigned i = 0; i < n; i++) {
        a[i].seed = seed * 1000 + i;
        a[i].ops = nops;
        if (pthread_create(&t[i], NULL, worker, &a[i]) != 0) {
            /* The barrier would wait forever: the suite ends here, short of its plan. */
            printf("    # pthread_create failed in round %llu\n", (unsigned long long)seed);
            exit(1);
        }
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start_line);
}

/* Rounds of nthreads fresh threads sharing the transfer array; between rounds the main
 * thread frees a quarter of the slots (remote frees into spans of dead threads) and the
 * validator runs with no other thread alive. */
static void transfer_rounds(void) {
    unsigned before = hc_nfail;
    for (unsigned r = 0; r < rounds; r++) {
        run_threads(nthreads, ops, r + 1);
        drain_slots(4);
        int v = goheap_validate();
        KT_CHECK(v == 0, "validate after round %u returned %d", r, v);
    }
    KT_CHECK(hc_nfail == before, "%u object checks failed", hc_nfail - before);
}

/* ---- producer/consumer ------------------------------------------------------------
 * One thread allocates runs of one class while another frees them: spans fill up on
 * the producer's CPU while remote frees land in them, the "full span gets a free"
 * handshake. A ring of RING slots per class, SPSC with acquire/release indices. */
#define RING 1024
static struct {
    _Atomic size_t head, tail; /* head: next to fill (producer); tail: next to take */
    void *p[RING];
    size_t n[RING];
} ring;
static unsigned pc_per_class = 1500;

static void *producer(void *arg) {
    (void)arg;
    uint64_t rng = 77;
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++)
        for (unsigned i = 0; i < pc_per_class; i++) {
            size_t n = hc_size_in_class(&rng, c);
            void *p = goheap_malloc(n);
            if (!p) {
                HC_FAIL("producer: malloc(%zu) NULL", n);
                continue;
            }
            hc_fill(p, n);
            size_t h = atomic_load_explicit(&ring.head, memory_order_relaxed);
            while (h - atomic_load_explicit(&ring.tail, memory_order_acquire) >= RING)
                sched_yield();
            ring.p[h % RING] = p;
            ring.n[h % RING] = n;
            atomic_store_explicit(&ring.head, h + 1, memory_order_release);
        }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    size_t total = (size_t)pc_per_class * (GOHEAP_NUM_SIZE_CLASSES - 1);
    for (size_t t = 0; t < total; t++) {
        while (atomic_load_explicit(&ring.head, memory_order_acquire) == t)
            sched_yield();
        check_and_free(ring.p[t % RING], ring.n[t % RING], K_MALLOC);
        atomic_store_explicit(&ring.tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void producer_consumer(void) {
    unsigned before = hc_nfail;
    uint64_t live0 = hc_live_objects();
    pthread_t a, b;
    KT_CHECK(pthread_create(&a, NULL, producer, NULL) == 0);
    KT_CHECK(pthread_create(&b, NULL, consumer, NULL) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    KT_CHECK(hc_nfail == before, "%u object checks failed", hc_nfail - before);
    KT_CHECK(hc_live_objects() == live0, "live objects %llu, expected %llu",
             (unsigned long long)hc_live_objects(), (unsigned long long)live0);
    KT_CHECK(goheap_validate() == 0);
}

/* ---- statistics while others allocate ----------------------------------------------
 * MemStats and the metrics sum every cache, each under its lock (the parked spans' open
 * counts, stats.c), while nthreads threads allocate and free across threads: no
 * deadlock and, in the TSan build, no race. The exact balance is final_balance's. */
static atomic_int stats_stop;

static void *stats_reader(void *arg) {
    unsigned long *reads = arg;
    struct goheap_memstats st;
    struct goheap_metric m[64];
    while (!atomic_load_explicit(&stats_stop, memory_order_acquire)) {
        goheap_read_memstats(&st);
        if (goheap_read_metrics(m, 64) == 0)
            HC_FAIL("goheap_read_metrics returned no metric");
        (*reads)++;
    }
    return NULL;
}

static void stats_while_running(void) {
    unsigned before = hc_nfail;
    unsigned long reads = 0;
    pthread_t r;
    atomic_store(&stats_stop, 0);
    KT_CHECK(pthread_create(&r, NULL, stats_reader, &reads) == 0);
    run_threads(nthreads, ops, 99);
    atomic_store_explicit(&stats_stop, 1, memory_order_release);
    pthread_join(r, NULL);
    printf("    # %lu MemStats reads while %u threads ran\n", reads, nthreads);
    KT_CHECK(reads > 0);
    KT_CHECK(hc_nfail == before, "%u object checks failed", hc_nfail - before);
    KT_CHECK(goheap_validate() == 0);
}

/* ---- thread churn ------------------------------------------------------------------
 * Many short-lived threads, a few at a time: each one's cache slot must be released at
 * exit and reused, so the cache metadata in use does not grow with the thread count. */
static void thread_churn(void) {
    unsigned before = hc_nfail;
    struct goheap_memstats st;
    uint64_t mcache0 = 0;
    for (unsigned g = 0; g < 40; g++) {
        run_threads(nthreads, 500, 1000 + g);
        if (g == 0) {
            goheap_read_memstats(&st);
            mcache0 = st.mcache_inuse;
        }
    }
    goheap_read_memstats(&st);
    /* The exclusive slots are reused; what may still add a cache each, once, are the
     * hosted platform's 8 overflow slots (HOSTED_OVERFLOW_SLOTS): the background
     * thread's pins and frees from TLS destructors that run after ours use them, at
     * whatever generation that first happens. A leak per thread would add 40x. */
    uint64_t per_cache = mcache0 / (nthreads + 1); /* main + this round's threads */
    KT_CHECK(st.mcache_inuse <= mcache0 + HOSTED_OVERFLOW_SLOTS * per_cache,
             "mcache_inuse grew from %llu to %llu over %u threads", (unsigned long long)mcache0,
             (unsigned long long)st.mcache_inuse, 40 * nthreads);
    KT_CHECK(hc_nfail == before, "%u object checks failed", hc_nfail - before);
    KT_CHECK(goheap_validate() == 0);
}

/* ---- the end: everything freed, everything returned ---------------------------- */
static void final_balance(void) {
    unsigned before = hc_nfail;
    drain_slots(0);
    KT_CHECK(hc_nfail == before, "%u object checks failed while draining", hc_nfail - before);
    goheap_free_os_memory();
    int v = goheap_validate();
    KT_CHECK(v == 0, "validate returned %d", v);
    struct goheap_memstats st;
    goheap_read_memstats(&st);
    KT_CHECK(st.mallocs - st.frees == 0, "mallocs %llu - frees %llu != 0",
             (unsigned long long)st.mallocs, (unsigned long long)st.frees);
    KT_CHECK(st.heap_objects == 0, "heap_objects %llu", (unsigned long long)st.heap_objects);
    KT_CHECK(st.heap_alloc == 0, "heap_alloc %llu", (unsigned long long)st.heap_alloc);
    KT_CHECK(st.heap_inuse == 0, "heap_inuse %llu after free_os_memory",
             (unsigned long long)st.heap_inuse);
    KT_CHECK(st.heap_idle + st.heap_inuse == st.heap_sys, "idle %llu + inuse %llu != sys %llu",
             (unsigned long long)st.heap_idle, (unsigned long long)st.heap_inuse,
             (unsigned long long)st.heap_sys);
    KT_CHECK(st.heap_released <= st.heap_idle, "released %llu > idle %llu",
             (unsigned long long)st.heap_released, (unsigned long long)st.heap_idle);
    KT_CHECK(st.mallocs > (uint64_t)rounds * nthreads * ops / 4, "only %llu mallocs counted",
             (unsigned long long)st.mallocs);
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES; c++) {
        KT_CHECK(st.by_size[c].mallocs == st.by_size[c].frees,
                 "class %u (%u B): %llu mallocs, %llu frees", c, st.by_size[c].size,
                 (unsigned long long)st.by_size[c].mallocs, (unsigned long long)st.by_size[c].frees);
        KT_CHECK(st.by_size[c].mallocs > 0, "class %u (%u B) never used", c, st.by_size[c].size);
    }
}

static const struct kt_case cases[] = {
    KT_CASE(transfer_rounds),
    KT_CASE(producer_consumer),
    KT_CASE(stats_while_running),
    KT_CASE(thread_churn),
    KT_CASE(final_balance),
};

int main(int argc, char **argv) {
    if (argc == 4) {
        rounds = (unsigned)atoi(argv[1]);
        nthreads = (unsigned)atoi(argv[2]);
        ops = (unsigned)atoi(argv[3]);
        if (nthreads > 64)
            nthreads = 64;
        pc_per_class = ops / 40 + 1;
    }
    kt_begin("stress", KT_NCASES(cases));
    printf("# %u rounds x %u threads x %u ops\n", rounds, nthreads, ops);
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
