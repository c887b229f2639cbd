/* tests/host/test_core_profile.c: the heap profiler (alloc/profile.c): the sampling
 * intervals' mean and spread, exact in-use counts through local, remote, tiny, large
 * and realloc'd sampled objects, stacks (depth cap, callers in order, a garbage frame
 * pointer never faults), the written profile's sites in a 1:2:4 workload, the
 * memprofile= knob and SIGUSR2. Sampled objects inside their spans (markers, lanes):
 * test_core_markers.c. Runs at memprofilerate=1 unless a case says else. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "test_core_profile.h"
#include "../xorshift.h"

/* ---- helpers ---------------------------------------------------------------------- */

struct membuf {
    char *buf;
    size_t n, cap;
};

static int mem_writer(void *ctx, const char *b, size_t len) {
    struct membuf *m = ctx;
    if (m->n + len + 1 > m->cap) {
        size_t cap = (m->n + len + 1) * 2;
        char *nb = realloc(m->buf, cap); /* libc's: the test's own memory */
        if (!nb)
            return -1;
        m->buf = nb;
        m->cap = cap;
    }
    memcpy(m->buf + m->n, b, len);
    m->n += len;
    m->buf[m->n] = 0;
    return 0;
}

/* ---- sampling intervals --------------------------------------------------------------- */

static void t_interval_mean(void) {
    static const uint64_t rates[] = {4096, 512 << 10, 1 << 30};
    for (unsigned r = 0; r < 3; r++) {
        uint64_t rng = 0x1234567 + r, rate = rates[r];
        const unsigned n = 200000;
        double sum = 0, sq = 0;
        uint64_t below_mean = 0;
        for (unsigned i = 0; i < n; i++) {
            double x = (double)gh_prof_interval(rate, &rng);
            sum += x;
            sq += x * x;
            below_mean += x < (double)rate;
        }
        double mean = sum / n, var = sq / n - mean * mean;
        /* exponential: mean = rate, sd = rate, P(x < mean) = 1 - 1/e = 0.632; with
         * 200000 draws the mean's standard error is 0.22% */
        KT_CHECK(mean > rate * 0.99 && mean < rate * 1.01, "rate %lu: mean %.0f", (unsigned long)rate, mean);
        double v = var / ((double)rate * rate); /* sd within 3%: variance within 6% */
        KT_CHECK(v > 0.94 && v < 1.06, "rate %lu: variance / rate^2 %.3f", (unsigned long)rate, v);
        double frac = (double)below_mean / n;
        KT_CHECK(frac > 0.627 && frac < 0.637, "rate %lu: P(x < mean) %.4f", (unsigned long)rate, frac);
    }
    uint64_t rng = 1;
    KT_CHECK(gh_prof_interval(1, &rng) == 0 && gh_prof_interval(0, &rng) == 0, "rate 0/1: every allocation");
}

/* log2 bit by bit in double (no libm): the reference for the table's log2. */
static double ref_log2(uint64_t x) {
    int k = 63 - __builtin_clzll(x);
    double m = (double)x / (double)(1ull << k), r = k, bit = 0.5;
    for (int i = 0; i < 40; i++, bit /= 2) {
        m *= m;
        if (m >= 2) {
            m /= 2;
            r += bit;
        }
    }
    return r;
}

/* The interval's log2 (profile.c: table, interpolated) errs low by at most 4.4e-5. */
static void t_log2(void) {
    uint64_t rng = 0x9e3779b97f4a7c15ull, worst_x = 0;
    double worst = 0;
    for (unsigned i = 0; i < 300000; i++) {
        uint64_t x;
        if (i < 33)
            x = 1ull << i;
        else if (i < 66)
            x = (1ull << (i - 33)) + (i & 1 ? 1 : (1ull << (i - 33)) - 1);
        else
            x = i & 1 ? (xorshift64s(&rng) >> 32) + 1 /* [1, 2^32] */
                      : xorshift64s(&rng) | 1;       /* odd 64-bit words, as gh_prof_interval draws */
        double got = (double)gh_prof_log2_q24(x) / (1 << 24), want = ref_log2(x);
        double err = want - got;
        if (err > worst || -err > worst)
            worst = err < 0 ? -err : err, worst_x = x;
        KT_CHECK(err > -1.0 / (1 << 24) && err < 4.4e-5, "log2(%llu): %.9f, exact %.9f",
                 (unsigned long long)x, got, want);
    }
    printf("    # log2: worst error %.2e at %llu\n", worst, (unsigned long long)worst_x);
}

/* ---- exact counts ------------------------------------------------------------------- */

static void t_every_alloc_counted(void) {
    struct gh_prof_counts c0 = counts();
    static const size_t sizes[] = {16, 64, 100, 1024, 2048, 32768, 40000, 300000, 5 << 20};
    enum { N = 9, K = 50 };
    void *p[N][K];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            p[i][k] = goheap_malloc(sizes[i]);
            size_t sz = 0;
            uintptr_t pcs[GH_PROF_MAX_DEPTH];
            KT_CHECK(site(p[i][k], pcs, &sz) >= 1, "size %zu not sampled at rate 1", sizes[i]);
            KT_CHECK(sz == goheap_usable_size(p[i][k]), "record size %zu, usable %zu", sz,
                     goheap_usable_size(p[i][k]));
        }
    struct gh_prof_counts c1 = counts();
    KT_CHECK(c1.records == c0.records + N * K, "records %lu -> %lu", (unsigned long)c0.records,
             (unsigned long)c1.records);
    KT_CHECK(c1.bucket_inuse == c1.records, "buckets say %lu in use, %lu records",
             (unsigned long)c1.bucket_inuse, (unsigned long)c1.records);
    /* calloc, aligned and flags entry points too */
    void *q[4] = {goheap_calloc(3, 40), goheap_aligned_alloc(256, 300), goheap_malloc_flags(200, GOHEAP_ZERO),
                  goheap_memalign(64, 70000)};
    for (int i = 0; i < 4; i++) {
        uintptr_t pcs[GH_PROF_MAX_DEPTH];
        KT_CHECK(site(q[i], pcs, 0) >= 1, "entry point %d not sampled", i);
        goheap_free(q[i]);
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            goheap_free(p[i][k]);
            KT_CHECK(site(p[i][k], 0, 0) == 0, "record outlived its object");
        }
    struct gh_prof_counts c2 = counts();
    KT_CHECK(c2.records == c0.records && c2.bucket_inuse == c0.bucket_inuse, "after frees: %lu records, %lu in use",
             (unsigned long)c2.records, (unsigned long)c2.bucket_inuse);
}

static void t_tiny(void) {
    struct gh_prof_counts c0 = counts();
    void *p[64];
    for (int i = 0; i < 64; i++)
        p[i] = goheap_malloc_flags(1 + i % 15, GOHEAP_NOSCAN);
    KT_CHECK(counts().records == c0.records + 64, "tiny objects sampled one by one");
    for (int i = 0; i < 64; i++)
        goheap_free(p[i]);
    KT_CHECK(counts().records == c0.records, "tiny frees");
}

struct xfer {
    void **p;
    int n;
};
static void *free_all(void *arg) {
    struct xfer *x = arg;
    for (int i = 0; i < x->n; i++)
        goheap_free(x->p[i]);
    return 0;
}

/* Frees by another thread (remote: one atomic OR on the span) drop the records at
 * once, before any sweep or flush. */
static void t_remote_free(void) {
    struct gh_prof_counts c0 = counts();
    enum { N = 3000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = goheap_malloc(16 + (i % 50) * 16);
    KT_CHECK(counts().records == c0.records + N, "sampled");
    struct xfer x = {p, N};
    pthread_t t;
    pthread_create(&t, 0, free_all, &x);
    pthread_join(t, 0);
    struct gh_prof_counts c1 = counts();
    KT_CHECK(c1.records == c0.records && c1.bucket_inuse == c0.bucket_inuse, "after remote frees: %lu records",
             (unsigned long)c1.records);
    /* The slots come back to this thread; sampling them again must not find stale
     * records (a stale one panics "sampled twice"). */
    for (int i = 0; i < N; i++)
        p[i] = goheap_malloc(16 + (i % 50) * 16);
    for (int i = 0; i < N; i++)
        goheap_free(p[i]);
    KT_CHECK(counts().records == c0.records, "local round");
}

static void t_realloc_moves_record(void) {
    struct gh_prof_counts c0 = counts();
    uintptr_t pcs0[GH_PROF_MAX_DEPTH], pcs1[GH_PROF_MAX_DEPTH];
    char *p = goheap_malloc(40);
    unsigned n0 = site(p, pcs0, 0);
    memset(p, 7, 40);
    static const size_t steps[] = {48, 200, 3000, 40000, 300000, 100, 20};
    for (unsigned i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char *q = goheap_realloc(p, steps[i]);
        KT_CHECK(q && q[0] == 7, "realloc to %zu", steps[i]);
        size_t sz = 0;
        unsigned n1 = site(q, pcs1, &sz);
        KT_CHECK(n1 == n0 && !memcmp(pcs0, pcs1, n0 * sizeof(uintptr_t)), "record kept its stack (%zu)",
                 steps[i]);
        KT_CHECK(sz == goheap_usable_size(q), "record size %zu, usable %zu", sz, goheap_usable_size(q));
        KT_CHECK(q == p || site(p, 0, 0) == 0, "the old address has no record");
        KT_CHECK(counts().records == c0.records + 1, "one record, not two (%zu)", steps[i]);
        KT_CHECK(counts().bucket_inuse == counts().records, "buckets agree");
        p = q;
    }
    goheap_free(p);
    KT_CHECK(counts().records == c0.records, "freed");
}

/* ---- stacks --------------------------------------------------------------------------- */

static __attribute__((noinline)) void *deep(int d) {
    void *p = d ? deep(d - 1) : goheap_malloc(72);
    __asm__ volatile("" ::: "memory"); /* no tail call: one frame per level */
    return p;
}

static void t_stack_depth(void) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    void *p = deep(100);
    unsigned n = site(p, pcs, 0);
    KT_CHECK(n == GH_PROF_MAX_DEPTH, "a 100-deep chain keeps %u frames", n);
    uintptr_t d = (uintptr_t)deep;
    unsigned in_deep = 0;
    for (unsigned i = 0; i < n; i++)
        in_deep += pcs[i] > d && pcs[i] < d + 256;
    KT_CHECK(in_deep == n, "%u of %u frames in deep()", in_deep, n);
    goheap_free(p);
    p = deep(3); /* main, t_stack_depth, kt_run_cases... above */
    n = site(p, pcs, 0);
    KT_CHECK(n > 4 && pcs[4] > (uintptr_t)t_stack_depth && pcs[4] < (uintptr_t)t_stack_depth + 512,
             "deep x4, then the caller: %u frames", n);
    goheap_free(p);
}

/* The sanitizer builds compile the core at -O1, where the entry points' tail calls
 * (which make the caller's return address the site) are not guaranteed: the stack
 * and site cases run in the plain build only (docs/profiling.md; SANITIZED:
 * test_core_common.h). */

/* A move of an object that is not sampled counts for the profiler as malloc does
 * (move_alloc_fast, api.c): with a sample due the new object is sampled at realloc's
 * caller, as gh_alloc_raw would have (not inside realloc), and with none due it is
 * not; the moves go 40 -> 200 B and 200 B -> 3000 B (other classes). */
static __attribute__((noinline)) void *move_site(void *p, size_t n) {
    void *q = goheap_realloc(p, n);
    __asm__ volatile("" ::: "memory"); /* no tail call: a frame of its own */
    return q;
}
static void t_realloc_move_samples(void) {
    struct gh_prof_counts c0 = counts();
    sample_next(0);
    char *p = goheap_malloc(40);
    KT_CHECK(p && site(p, 0, 0) == 0, "unsampled at first");
    memset(p, 5, 40);
    sample_next(0); /* none due: the move takes no sample */
    char *q = move_site(p, 200);
    KT_CHECK(q && q != p && q[39] == 5 && site(q, 0, 0) == 0, "a move with no sample due: not sampled");
    KT_CHECK(counts().records == c0.records, "no record");
    sample_next(1); /* one due: the moved object is sampled where realloc was called */
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    size_t sz = 0;
    char *r = move_site(q, 3000);
    unsigned n = r ? site(r, pcs, &sz) : 0;
    KT_CHECK(r && r != q && r[39] == 5 && n >= 1 && sz == goheap_usable_size(r),
             "a move with a sample due: sampled (%u frames, size %zu)", n, sz);
    if (!SANITIZED) {
        uintptr_t m = (uintptr_t)move_site;
        KT_CHECK(n >= 1 && pcs[0] > m && pcs[0] < m + 64, "frame 0 in move_site (0x%lx, move_site 0x%lx)",
                 (unsigned long)(n ? pcs[0] : 0), (unsigned long)m);
    }
    KT_CHECK(counts().records == c0.records + 1, "one record");
    goheap_free(r);
    KT_CHECK(counts().records == c0.records, "freed");
}

/* Calls goheap_malloc(72) with rbp = bad (a program built without frame pointers
 * leaves anything there). */
void *malloc_with_rbp(uintptr_t bad);
__asm__(".text\n"
        ".globl malloc_with_rbp\n"
        "malloc_with_rbp:\n"
        "  push %rbp\n"
        "  mov %rdi, %rbp\n"
        "  mov $72, %edi\n"
        "  call goheap_malloc\n"
        "  pop %rbp\n"
        "  ret\n");

static void t_bad_frame_pointers(void) {
    uintptr_t loop[2];
    loop[0] = (uintptr_t)loop; /* a record pointing at itself */
    loop[1] = 0x1234;
    uintptr_t up[2] = {(uintptr_t)&up[0] - 64, 0x42}; /* a record pointing down */
    void *heap = goheap_malloc(64);
    const uintptr_t bad[] = {0, 1, 0x10, 0xfff, (uintptr_t)heap, (uintptr_t)loop, (uintptr_t)up,
                             (uintptr_t)&bad + 3, ~(uintptr_t)0 - 8, 0x7ffffffff000};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = malloc_with_rbp(bad[i]);
        uintptr_t pcs[GH_PROF_MAX_DEPTH];
        unsigned n = site(p, pcs, 0);
        /* Plain build: the entry point tail-calls, so the caller is frame 0. The
         * sanitizer builds' -O1 core may keep frames of its own first (goheap_malloc's,
         * and the refill entry's since dbbb995). Either way at most one frame follows
         * the caller: the bad rbp's own return slot where it lies in readable stack
         * (loop, up), and the walk stops there (not increasing, or out of bounds). */
        unsigned in_caller = n;
        for (unsigned f = 0; f < n; f++)
            if (pcs[f] > (uintptr_t)malloc_with_rbp && pcs[f] < (uintptr_t)malloc_with_rbp + 32)
                in_caller = f;
        KT_CHECK(in_caller < n && n - in_caller <= 2, "rbp 0x%lx: %u frames, the caller at %u",
                 (unsigned long)bad[i], n, in_caller);
        KT_CHECK(SANITIZED || in_caller == 0, "rbp 0x%lx: the caller at %u in the plain build", (unsigned long)bad[i],
                 in_caller);
        goheap_free(p);
    }
    goheap_free(heap);
}

/* Large records and bucket hints (docs/profiling.md, "Buckets and sampled objects"):
 * one allocation site reached from two callers, in turn, so that each sample finds
 * its site's hint holding the other caller's stack: every object must still get its
 * own stack, its record lives in its span, and the free takes it back. */
static __attribute__((noinline)) void *big_site(void) {
    void *p = goheap_malloc(1 << 20);
    __asm__ volatile("" ::: "memory"); /* no tail call: a frame of its own */
    return p;
}
static __attribute__((noinline)) void *via_a(void) {
    void *p = big_site();
    __asm__ volatile("" ::: "memory");
    return p;
}
static __attribute__((noinline)) void *via_b(void) {
    void *p = big_site();
    __asm__ volatile("" ::: "memory");
    return p;
}

/* One call site per caller, so that frames 0-2 (big_site, via_a or via_b, via) are
 * the same for every object of a caller however the loop below is unrolled. */
static __attribute__((noinline)) void *via(int k) {
    void *p = k & 1 ? via_b() : via_a();
    __asm__ volatile("" ::: "memory");
    return p;
}

static void t_large_hints(void) {
    struct gh_prof_counts c0 = counts();
    enum { K = 6 };
    void *p[K];
    for (int k = 0; k < K; k++)
        p[k] = via(k);
    struct gh_prof_counts c1 = counts();
    KT_CHECK(c1.records == c0.records + K && c1.bucket_inuse == c1.records, "records %lu -> %lu, in use %lu",
             (unsigned long)c0.records, (unsigned long)c1.records, (unsigned long)c1.bucket_inuse);
    uintptr_t first[2][GH_PROF_MAX_DEPTH];
    unsigned nfirst[2] = {0, 0};
    for (int k = 0; k < K; k++) {
        struct mspan *s = gh_span_of((uintptr_t)p[k]);
        KT_CHECK(s && s->spc < 2 && atomic_load(&s->pbucket) && atomic_load(&s->nsampled) == 1,
                 "object %d: its record is in its span", k);
        uintptr_t pcs[GH_PROF_MAX_DEPTH];
        size_t sz = 0;
        unsigned n = site(p[k], pcs, &sz);
        KT_CHECK(n >= 2 && sz == goheap_usable_size(p[k]), "object %d: %u frames, size %zu", k, n, sz);
        if (k < 2) {
            memcpy(first[k], pcs, sizeof pcs);
            nfirst[k] = n;
        } else {
            /* (frames above via() depend on how the loop was unrolled) */
            KT_CHECK(n >= 3 && !memcmp(pcs, first[k & 1], 3 * sizeof pcs[0]),
                     "object %d: the stack of its caller's first object", k);
        }
    }
    KT_CHECK(nfirst[0] >= 3 && nfirst[1] >= 3 && memcmp(first[0], first[1], 3 * sizeof first[0][0]),
             "the two callers' stacks differ");
    if (!SANITIZED) { /* frame 0 is big_site, frame 1 the caller (plain build: tail calls) */
        uintptr_t a = (uintptr_t)via_a, b = (uintptr_t)via_b, bs = (uintptr_t)big_site;
        KT_CHECK(first[0][0] > bs && first[0][0] < bs + 64 && first[1][0] == first[0][0], "site in big_site");
        KT_CHECK(first[0][1] > a && first[0][1] < a + 64 && first[1][1] > b && first[1][1] < b + 64,
                 "frame 1: via_a, via_b");
    }
    for (int k = 0; k < K; k++) {
        struct mspan *s = gh_span_of((uintptr_t)p[k]);
        goheap_free(p[k]);
        KT_CHECK(site(p[k], 0, 0) == 0 && !atomic_load(&s->pbucket) && !atomic_load(&s->nsampled),
                 "object %d: the free took its record", k);
    }
    struct gh_prof_counts c2 = counts();
    KT_CHECK(c2.records == c0.records && c2.bucket_inuse == c0.bucket_inuse, "after frees: %lu records, %lu in use",
             (unsigned long)c2.records, (unsigned long)c2.bucket_inuse);
}

/* Large records without the lock, concurrently: threads allocate and free large
 * objects from one site (every one sampled: the same hint, records set and taken in
 * their spans), hand every other one to the next thread to free (a remote free of a
 * large record), while another thread writes the profile (the buckets' counts). At
 * the end no record is left, and the buckets agree (the validator after the case
 * checks records == in-use == the spans' nsampled). */
enum { LC_THREADS = 3, LC_ROUNDS = 300 };
static void *_Atomic lc_handoff[LC_THREADS];
static _Atomic int lc_done;
static __attribute__((noinline)) void *lc_site(size_t n) {
    void *p = goheap_malloc(n);
    __asm__ volatile("" ::: "memory");
    return p;
}
static void *lc_worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned r = 0; r < LC_ROUNDS; r++) {
        size_t n = (r % 3 == 0 ? 40000 : r % 3 == 1 ? 300000 : 1u << 20) + r % 7 * 8192;
        void *p = lc_site(n);
        if (!p)
            continue;
        memset(p, (int)id, 64);
        if (r & 1) {
            void *old = atomic_exchange(&lc_handoff[(id + 1) % LC_THREADS], p);
            if (old)
                goheap_free(old); /* another thread's object */
        } else {
            goheap_free(p);
        }
    }
    return 0;
}
static void *lc_reader(void *arg) {
    (void)arg;
    while (!atomic_load(&lc_done)) {
        struct membuf m = {0};
        goheap_write_heap_profile(mem_writer, &m);
        free(m.buf);
    }
    return 0;
}

static void t_large_concurrent(void) {
    struct gh_prof_counts c0 = counts();
    pthread_t w[LC_THREADS], rd;
    pthread_create(&rd, 0, lc_reader, 0);
    for (unsigned i = 0; i < LC_THREADS; i++)
        pthread_create(&w[i], 0, lc_worker, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < LC_THREADS; i++)
        pthread_join(w[i], 0);
    atomic_store(&lc_done, 1);
    pthread_join(rd, 0);
    for (unsigned i = 0; i < LC_THREADS; i++)
        goheap_free(atomic_exchange(&lc_handoff[i], (void *)0));
    struct gh_prof_counts c1 = counts();
    KT_CHECK(c1.records == c0.records && c1.bucket_inuse == c0.bucket_inuse,
             "after the threads: %lu records (%lu before), %lu in use", (unsigned long)c1.records,
             (unsigned long)c0.records, (unsigned long)c1.bucket_inuse);
}

/* A fork while other threads make and drop large records (profile.c, "large
 * records": a bucket's counts and the span's record, with no lock): every child's
 * goheap_validate agrees (records == the buckets' in-use count == the spans' count).
 * Objects of 512 KiB, above the CPUs' large span caches, whose frees the heap's cache
 * takes in a heap-lock hold: only the records' window is open. Before the fork gate
 * took them in (core.h, GH_PROF_GATED), 60 of 200 children of this loop failed
 * ("profile: N sampled-object records, buckets say N+1 in use"); with it, none. */
#define LR_THREADS 2
#define LR_FORKS 100
static atomic_int lr_stop;
static void *lr_pairs(void *arg) {
    (void)arg;
    while (!atomic_load(&lr_stop)) {
        char *p = goheap_malloc(512u << 10);
        if (p)
            p[0] = 1;
        goheap_free(p);
    }
    return 0;
}
static void t_fork_large_records(void) {
    pthread_t t[LR_THREADS];
    atomic_store(&lr_stop, 0);
    for (int i = 0; i < LR_THREADS; i++)
        pthread_create(&t[i], 0, lr_pairs, 0);
    int bad = 0;
    for (int f = 0; f < LR_FORKS; f++) {
        usleep(200); /* (the threads in their loops, not at their start) */
        pid_t pid = core_fork();
        if (pid == 0) {
            alarm(60);
            _exit(goheap_validate() == 0 ? 0 : 1);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    atomic_store(&lr_stop, 1);
    for (int i = 0; i < LR_THREADS; i++)
        pthread_join(t[i], 0);
    KT_CHECK(bad == 0, "%d of %d children's goheap_validate failed", bad, LR_FORKS);
}

/* ---- the written profile ------------------------------------------------------------- */

static void *kept[3][400];
static __attribute__((noinline)) void alloc_one(void) {
    for (int i = 0; i < 400; i++)
        kept[0][i] = goheap_malloc(64);
}
static __attribute__((noinline)) void alloc_two(void) {
    for (int i = 0; i < 400; i++)
        kept[1][i] = goheap_malloc(128);
}
static __attribute__((noinline)) void alloc_four(void) {
    for (int i = 0; i < 400; i++)
        kept[2][i] = goheap_malloc(256);
}

/* In-use bytes (and objects) of the profile line of the stack kept[f][0] was
 * sampled with, or -1. */
static long line_bytes(const char *prof, int f, long *objs) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    unsigned n = site(kept[f][0], pcs, 0);
    if (!n)
        return -1;
    for (const char *l = prof; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : 0) {
        long io, ib, ao, ab;
        unsigned long pc;
        if (sscanf(l, "%ld: %ld [%ld: %ld] @ 0x%lx", &io, &ib, &ao, &ab, &pc) == 5 && pc == pcs[0]) {
            *objs = io;
            return ib;
        }
    }
    return -1;
}

static void t_profile_sites(void) {
    alloc_one();
    alloc_two();
    alloc_four();
    struct membuf m = {0};
    KT_CHECK(goheap_write_heap_profile(mem_writer, &m) == 0, "written");
    KT_CHECK(m.buf && !strncmp(m.buf, "heap profile: ", 14) && strstr(m.buf, "@ heap/2\n"), "header: %.80s",
             m.buf ? m.buf : "");
    long o1 = 0, o2 = 0, o4 = 0;
    long b1 = line_bytes(m.buf, 0, &o1), b2 = line_bytes(m.buf, 1, &o2), b4 = line_bytes(m.buf, 2, &o4);
    KT_CHECK(b1 == 400 * 64 && b2 == 400 * 128 && b4 == 400 * 256, "bytes %ld %ld %ld", b1, b2, b4);
    KT_CHECK(o1 == 400 && o2 == 400 && o4 == 400, "objects %ld %ld %ld", o1, o2, o4);
    KT_CHECK(strstr(m.buf, "\nMAPPED_LIBRARIES:\n") && strstr(m.buf, "r-xp"), "maps appended");
    uintptr_t pc0[GH_PROF_MAX_DEPTH] = {0};
    site(kept[0][0], pc0, 0);
    uintptr_t f1 = (uintptr_t)alloc_one, f2 = (uintptr_t)alloc_two;
    KT_CHECK(pc0[0] > f1 && pc0[0] < f1 + 256 && (f2 < f1 || pc0[0] < f2), "site in alloc_one");
    for (int f = 0; f < 3; f++)
        for (int i = 200; i < 400; i++)
            goheap_free(kept[f][i]);
    free(m.buf);
    m = (struct membuf){0};
    goheap_write_heap_profile(mem_writer, &m);
    b1 = line_bytes(m.buf, 0, &o1);
    KT_CHECK(b1 == 200 * 64 && o1 == 200, "after freeing half: %ld bytes, %ld objects", b1, o1);
    KT_CHECK(strstr(m.buf, "200: 12800 [400: 25600] @"), "alloc counts stay: %.200s", m.buf);
    free(m.buf);
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 200; i++)
            goheap_free(kept[f][i]);
    KT_CHECK(goheap_write_heap_profile(0, 0) == GOHEAP_EINVAL, "no writer");
}

static int failing_writer(void *ctx, const char *b, size_t len) {
    (void)ctx, (void)b, (void)len;
    return -1;
}

static void t_writer_fails(void) {
    void *p = goheap_malloc(10);
    KT_CHECK(goheap_write_heap_profile(failing_writer, 0) == -1, "a failing writer is reported");
    goheap_free(p);
}

/* ---- knobs, rate, SIGUSR2 (exec'd children: the knobs are read at init) ------------- */

static const char *self_exe;

static int exec_child(const char *knobs, const char *mode) {
    pid_t pid = core_fork();
    if (pid == 0) {
        setenv("GOHEAPDEBUG", knobs, 1);
        execl(self_exe, self_exe, mode, (char *)0);
        _exit(99);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Default rate: about one sample per 512 KiB of allocation. */
static int child_default_rate(void) {
    const int n = 1 << 20; /* 64 MiB of 64 B objects: ~128 samples expected */
    struct gh_prof_counts c0 = counts();
    for (int i = 0; i < n; i++)
        goheap_free(goheap_malloc(64));
    void *keep[4096];
    for (int i = 0; i < 4096; i++)
        keep[i] = goheap_malloc(64 << 10); /* 256 MiB of 64 KiB objects: ~512 */
    struct gh_prof_counts c1 = counts();
    uint64_t live = c1.records - c0.records;
    for (int i = 0; i < 4096; i++)
        goheap_free(keep[i]);
    /* 512 expected; Poisson sd 23: 400..624 is more than 4.8 sd */
    if (live < 400 || live > 624)
        return 1;
    if (counts().records != c0.records)
        return 2;
    return 0;
}

static int child_rate_off(void) {
    for (int i = 0; i < 100000; i++)
        goheap_free(goheap_malloc(1000));
    void *p = goheap_malloc(1 << 20);
    int r = counts().records || counts().buckets ? 1 : 0;
    goheap_free(p);
    return r;
}

static void t_rates(void) {
    int r = exec_child("", "default_rate");
    KT_CHECK(r == 0, "default rate: child says %d", r);
    r = exec_child("memprofilerate=0", "rate_off");
    KT_CHECK(r == 0, "rate 0: child says %d", r);
}

static int file_starts(const char *path, const char *want) {
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && !strncmp(buf, want, strlen(want));
}

static char prof_path[256];

static void t_memprofile_file(void) {
    snprintf(prof_path, sizeof prof_path, "/tmp/goheap-prof-test.%d", (int)getpid());
    char knobs[300], p1[300];
    snprintf(knobs, sizeof knobs, "memprofilerate=1,memprofile=%s", prof_path);
    snprintf(p1, sizeof p1, "%s.1", prof_path);
    unlink(prof_path);
    unlink(p1);
    KT_CHECK(exec_child(knobs, "sigusr2") == 0, "child");
    KT_CHECK(file_starts(p1, "heap profile: "), "SIGUSR2 wrote %s", p1);
    KT_CHECK(file_starts(prof_path, "heap profile: "), "exit wrote %s", prof_path);
    unlink(prof_path);
    unlink(p1);
}

/* The exec'd child: SIGUSR2 only asks; the next slow path writes PATH.1. */
static int child_sigusr2(void) {
    void *p = goheap_malloc(100);
    if (raise(SIGUSR2) != 0)
        return 1;
    const char *path = getenv("GOHEAPDEBUG");
    path = strstr(path, "memprofile=") + strlen("memprofile=");
    char p1[300];
    snprintf(p1, sizeof p1, "%s.1", path);
    struct stat st;
    if (stat(p1, &st) == 0)
        return 2; /* written in the handler */
    void *big = goheap_malloc(1 << 20); /* a slow path */
    goheap_free(big);
    goheap_free(p);
    return stat(p1, &st) == 0 ? 0 : 3;
}

/* The child of a fork names its files after its pid (PATH.pid<PID>, dumps
 * PATH.pid<PID>.N): before, it wrote PATH at its exit and PATH.1, ... on SIGUSR2, over
 * the parent's. The exec'd process forks once; its child keeps a sampled object of a
 * size nothing else has (FORK_ONLY), asks for a dump and exits through exit(); the
 * process then dumps and exits itself. It checks the child's two files and that its own
 * dump lacks the child's object; the case checks its exit profile the same way. */
#define FORK_ONLY_BYTES 327680 /* 40 pages */
static int file_has(const char *path, const char *want) {
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return strstr(buf, want) != 0;
}
static const char fork_only[] = ": 327680 [";
static int child_fork_files(void) {
    const char *path = strstr(getenv("GOHEAPDEBUG"), "memprofile=") + strlen("memprofile=");
    void *p = goheap_malloc(100);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        void *mine = goheap_malloc(FORK_ONLY_BYTES);
        memset(mine, 1, 64);
        raise(SIGUSR2);
        goheap_free(goheap_malloc(1 << 20)); /* a slow path: the dump */
        exit(0); /* mine still live: in the exit profile */
    }
    int st = 0;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    char cp[300], cp1[300], p1[300];
    snprintf(cp, sizeof cp, "%s.pid%d", path, (int)c);
    snprintf(cp1, sizeof cp1, "%s.1", cp);
    snprintf(p1, sizeof p1, "%s.1", path);
    int r = file_has(cp, fork_only) != 1 ? 2 : file_has(cp1, fork_only) != 1 ? 3 : 0;
    unlink(cp);
    unlink(cp1);
    if (r)
        return r;
    raise(SIGUSR2);
    goheap_free(goheap_malloc(1 << 20));
    r = file_has(p1, "heap profile: ") != 1 ? 4 : file_has(p1, fork_only) != 0 ? 5 : 0;
    unlink(p1);
    goheap_free(p);
    return r;
}
static void t_memprofile_fork(void) {
    snprintf(prof_path, sizeof prof_path, "/tmp/goheap-prof-fork.%d", (int)getpid());
    char knobs[300];
    snprintf(knobs, sizeof knobs, "memprofilerate=1,memprofile=%s", prof_path);
    unlink(prof_path);
    int r = exec_child(knobs, "fork_files");
    KT_CHECK(r == 0, "child says %d (1: its child failed; 2, 3: no PATH.pid<PID> or PATH.pid<PID>.1 "
             "with the child's object; 4, 5: PATH.1 missing or with the child's object)", r);
    KT_CHECK(file_has(prof_path, "heap profile: ") == 1 && file_has(prof_path, fork_only) == 0,
             "the exit profile %s is the parent's", prof_path);
    unlink(prof_path);
}

static void t_memprofile_knob(void) {
    struct gh_knobs k;
    gh_knobs_defaults(&k);
    KT_CHECK(gh_knobs_parse(&k, "memprofile=/tmp/x.prof", GH_KNOB_FEATURES_ALL) == 0 &&
                 !strcmp(k.memprofile, "/tmp/x.prof"),
             "path stored");
    int saved = dup(2), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2);
    gh_knobs_defaults(&k);
    int bad = gh_knobs_parse(&k, "memprofile=,debug=1", GH_KNOB_FEATURES_ALL);
    const char *m1 = gh_knobs_first_error();
    KT_CHECK(bad == 1 && m1 && strstr(m1, "'memprofile=': out of range (accepted: a file name of 1 to 255 bytes)") &&
                 k.debug == 1,
             "empty path: %s", m1 ? m1 : "");
    gh_knobs_defaults(&k);
    bad = gh_knobs_parse(&k, "memprofile=/x", 0);
    m1 = gh_knobs_first_error();
    KT_CHECK(bad == 1 && m1 && strstr(m1, "'memprofile=/x': not supported on this platform"), "kernel: %s",
             m1 ? m1 : "");
    dup2(saved, 2);
    close(saved);
    close(nul);
}

static void t_sites_plain_only(void (*fn)(void), const char *name) {
    if (SANITIZED) {
        printf("    # %s: skipped in the sanitizer build (-O1 core, no guaranteed tail calls)\n", name);
        return;
    }
    fn();
}
static void t_stack_depth_p(void) { t_sites_plain_only(t_stack_depth, "t_stack_depth"); }
static void t_profile_sites_p(void) { t_sites_plain_only(t_profile_sites, "t_profile_sites"); }
static void t_memprofile_file_p(void) { t_sites_plain_only(t_memprofile_file, "t_memprofile_file"); }

int main(int argc, char **argv) {
    self_exe = argv[0];
    if (argc > 1 && !strcmp(argv[1], "sigusr2"))
        return child_sigusr2();
    if (argc > 1 && !strcmp(argv[1], "default_rate"))
        return child_default_rate();
    if (argc > 1 && !strcmp(argv[1], "rate_off"))
        return child_rate_off();
    if (argc > 1 && !strcmp(argv[1], "fork_files"))
        return child_fork_files();
    setenv("GOHEAPDEBUG", "memprofilerate=1", 1);
    static const struct kt_case cases[] = {
        KT_CASE(t_interval_mean),    KT_CASE(t_log2),    KT_CASE(t_every_alloc_counted), KT_CASE(t_tiny),
        KT_CASE(t_remote_free),
        KT_CASE(t_realloc_moves_record), KT_CASE(t_realloc_move_samples),
        KT_CASE(t_stack_depth_p),      KT_CASE(t_bad_frame_pointers),  KT_CASE(t_profile_sites_p),
        KT_CASE(t_large_hints),      KT_CASE(t_large_concurrent), KT_CASE(t_fork_large_records), KT_CASE(t_writer_fails),     KT_CASE(t_rates),               KT_CASE(t_memprofile_file_p),
        KT_CASE(t_memprofile_knob),  KT_CASE(t_memprofile_fork),
    };
    kt_begin("core-profile", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
