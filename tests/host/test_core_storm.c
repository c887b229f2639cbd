/* tests/host/test_core_storm.c: a mixed concurrent storm. What test_stress and the
 * core's thread tests run one at a time, here at once: workers that come and go
 * (orphaned caches adopted by the next thread) allocate every kind (tiny, small,
 * aligned, large through the CPU's and the heap's large span caches, and above
 * 16 MiB), hand objects to each other through a shared array (remote frees), grow
 * and shrink shared buffers with realloc, keep a local stack (local frees), and
 * flush; a control thread meanwhile calls goheap_free_os_memory, changes the memory
 * limit, reads MemStats and metrics and runs background steps; a forker forks the
 * busy process and its child allocates, frees what it inherited and checks cookies.
 * Every object carries a cookie keyed by its address, checked before it is freed or
 * reallocated. Between phases everything stops and goheap_validate runs.
 * usage: test_core_storm: the suite (three knob sets, a child each);
 *        test_core_storm SECONDS [WORKERS]: one storm (env STORM_SEED, GOHEAPDEBUG).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "heapcheck.h"
#include "test_core_common.h"

/* die_after_fork=0: the forker forks the busy process on purpose, and its child, like a
 * real program's, starts the background thread at its first background poll, which
 * ThreadSanitizer would refuse in the child of a threaded fork; it ignores such a
 * child's accesses either way (docs/testing.md, "Fork children and the background
 * thread"). report_thread_leaks=0: the child cannot join the threads it did not inherit. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0:die_after_fork=0"; }

static double storm_secs = 3.0;
static unsigned nworkers = 4;
static uint64_t seed0 = 1;


static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- shared array: one object per slot, a spinlock each ---------------------------- */
#define NSLOTS 2048
struct slot {
    atomic_int busy;
    void *p;
    size_t n;
};
static struct slot slots[NSLOTS];
static void slot_lock(struct slot *s) {
    int z = 0;
    while (!atomic_compare_exchange_weak_explicit(&s->busy, &z, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        z = 0;
        sched_yield();
    }
}
static int slot_trylock(struct slot *s) {
    int z = 0;
    return atomic_compare_exchange_strong_explicit(&s->busy, &z, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}
static void slot_unlock(struct slot *s) { atomic_store_explicit(&s->busy, 0, memory_order_release); }

/* Growing buffers: realloc'd up by half each step to a cap, then cut back. */
#define NBUFS 8
static struct slot bufs[NBUFS];

static void check_free(void *p, size_t n, const char *what) {
    size_t bad = hc_check(p, n);
    if (bad != (size_t)-1)
        HC_FAIL("%s %p size %zu: cookie broken at %zu", what, p, n, bad);
    if (goheap_usable_size(p) < n)
        HC_FAIL("%s %p size %zu: usable %zu", what, p, n, goheap_usable_size(p));
    goheap_free(p);
}

static void *alloc_any(uint64_t *rng, size_t *np) {
    unsigned r = (unsigned)hc_below(rng, 1000);
    size_t n;
    void *p;
    if (r < 150) {
        n = 1 + hc_below(rng, 15);
        p = goheap_malloc_flags(n, GOHEAP_NOSCAN | (hc_below(rng, 2) ? GOHEAP_ZERO : 0));
    } else if (r < 200) { /* the per-CPU large span cache: <= 256 KiB */
        n = HC_MAX_SMALL + 1 + hc_below(rng, 256 * 1024 - HC_MAX_SMALL);
        p = goheap_malloc(n);
    } else if (r < 204) { /* the heap's large span cache: <= 16 MiB */
        n = 256 * 1024 + hc_below(rng, hc_below(rng, 4) ? 1 << 20 : 15 << 20);
        p = goheap_malloc(n);
    } else if (r < 205 && hc_below(rng, 16) == 0) { /* above every cache */
        n = (16u << 20) + 1 + hc_below(rng, 8 << 20);
        p = goheap_malloc(n);
    } else if (r < 260) {
        size_t align = (size_t)8 << hc_below(rng, 12);
        n = 1 + hc_below(rng, hc_below(rng, 4) ? 512 : 40000);
        n = (n + align - 1) / align * align;
        p = goheap_aligned_alloc(align, n);
        if (p && (uintptr_t)p % align)
            HC_FAIL("aligned_alloc(%zu, %zu) = %p", align, n, p);
    } else if (r < 300) {
        n = hc_size_in_class(rng, 1 + (unsigned)hc_below(rng, GOHEAP_NUM_SIZE_CLASSES - 1));
        p = goheap_calloc(1, n);
        if (p && !hc_all_zero(p, n))
            HC_FAIL("calloc(%zu) = %p not zeroed", n, p);
    } else {
        /* mostly small classes, biased low */
        unsigned c = 1 + (unsigned)hc_below(rng, hc_below(rng, 3) ? 20 : GOHEAP_NUM_SIZE_CLASSES - 1);
        n = hc_size_in_class(rng, c);
        p = goheap_malloc_flags(n, hc_below(rng, 4) == 0 ? GOHEAP_NOSCAN : 0);
    }
    if (!p) {
        HC_FAIL("alloc of %zu returned NULL", n);
        return 0;
    }
    hc_fill(p, n);
    *np = n;
    return p;
}

static void *realloc_checked(void *p, size_t n, size_t m, const char *what) {
    size_t bad = hc_check(p, n);
    if (bad != (size_t)-1)
        HC_FAIL("%s %p size %zu: cookie broken at %zu before realloc", what, p, n, bad);
    void *q = goheap_realloc(p, m);
    if (!q) {
        HC_FAIL("realloc(%p, %zu) NULL", p, m);
        goheap_free(p);
        return 0;
    }
    bad = hc_cover(q, (uintptr_t)p, n, m, 1);
    if (bad != (size_t)-1)
        HC_FAIL("%s realloc(%p from %zu, %zu) -> %p: byte %zu lost", what, p, n, m, q, bad);
    if (goheap_usable_size(q) < m)
        HC_FAIL("realloc to %zu: usable %zu", m, goheap_usable_size(q));
    hc_fill(q, m);
    return q;
}

static atomic_int stop;

/* ---- workers ------------------------------------------------------------------------ */
#define LOCAL 48
struct wk {
    pthread_t t;
    uint64_t seed;
    unsigned ops;
    atomic_int done;
};

static void *worker(void *arg) {
    struct wk *w = arg;
    uint64_t rng = w->seed;
    void *lp[LOCAL];
    size_t ln[LOCAL];
    unsigned nl = 0;
    for (unsigned i = 0; i < w->ops && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
        unsigned r = (unsigned)hc_below(&rng, 100);
        if (r < 45) { /* swap into the shared array, free what was there */
            size_t n = 0;
            void *p = hc_below(&rng, 5) ? alloc_any(&rng, &n) : 0;
            struct slot *s = &slots[hc_below(&rng, NSLOTS)];
            slot_lock(s);
            void *o = s->p;
            size_t on = s->n;
            s->p = p, s->n = n;
            slot_unlock(s);
            if (o)
                check_free(o, on, "shared");
        } else if (r < 55) { /* realloc a shared object in place */
            struct slot *s = &slots[hc_below(&rng, NSLOTS)];
            slot_lock(s);
            if (s->p) {
                size_t m = hc_below(&rng, 3) ? (s->n > 1 ? s->n - hc_below(&rng, s->n) : 1)
                                             : s->n + 1 + hc_below(&rng, 3 * s->n + 64);
                if (m > (8u << 20))
                    m = 1 + hc_below(&rng, 4096);
                s->p = realloc_checked(s->p, s->n, m, "shared");
                s->n = s->p ? m : 0;
            }
            slot_unlock(s);
        } else if (r < 62) { /* grow a buffer by half, or cut it back */
            struct slot *s = &bufs[hc_below(&rng, NBUFS)];
            slot_lock(s);
            if (!s->p) {
                s->p = alloc_any(&rng, &s->n);
                if (!s->p)
                    s->n = 0;
            } else {
                size_t m = s->n + s->n / 2 + 1;
                if (m > (8u << 20))
                    m = 1 + hc_below(&rng, 100);
                else if (hc_below(&rng, 16) == 0)
                    m = s->n / 3 + 1;
                s->p = realloc_checked(s->p, s->n, m, "buffer");
                s->n = s->p ? m : 0;
            }
            slot_unlock(s);
        } else if (r < 97) { /* local stack: LIFO frees on this thread */
            if (nl < LOCAL && (nl == 0 || hc_below(&rng, 2))) {
                lp[nl] = alloc_any(&rng, &ln[nl]);
                if (lp[nl])
                    nl++;
            } else {
                unsigned k = hc_below(&rng, 4) ? nl - 1 : (unsigned)hc_below(&rng, nl);
                check_free(lp[k], ln[k], "local");
                lp[k] = lp[--nl];
                ln[k] = ln[nl];
            }
        } else if (r < 98) {
            goheap_flush();
        } else if (r < 99) {
            struct goheap_memstats st;
            goheap_read_memstats(&st);
        } else {
            goheap_free(goheap_malloc(0));
        }
    }
    /* leave half the local objects to others: frees into an exited thread's spans */
    for (unsigned k = 0; k < nl; k++) {
        if (k & 1) {
            check_free(lp[k], ln[k], "local");
            continue;
        }
        struct slot *s = &slots[hc_below(&rng, NSLOTS)];
        slot_lock(s);
        void *o = s->p;
        size_t on = s->n;
        s->p = lp[k], s->n = ln[k];
        slot_unlock(s);
        if (o)
            check_free(o, on, "shared");
    }
    atomic_store(&w->done, 1);
    return 0;
}

/* ---- control: free_os_memory, limits, stats, background steps --------------------- */
static void *control(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    static const int64_t limits[] = {8 << 20, 16 << 20, 64 << 20, INT64_MAX};
    struct goheap_memstats st;
    struct goheap_metric m[64];
    while (!atomic_load(&stop)) {
        switch (hc_below(&rng, 6)) {
        case 0:
            goheap_free_os_memory();
            break;
        case 1:
            goheap_set_memory_limit(limits[hc_below(&rng, 4)]);
            break;
        case 2:
            goheap_read_memstats(&st);
            if (st.heap_released > st.heap_sys)
                HC_FAIL("released %llu > sys %llu", (unsigned long long)st.heap_released,
                     (unsigned long long)st.heap_sys);
            break;
        case 3:
            if (goheap_read_metrics(m, 64) == 0)
                HC_FAIL("no metrics");
            break;
        default:
            goheap_background_work();
            break;
        }
        struct timespec ts = {0, (long)(100000 + hc_below(&rng, 2000000))};
        nanosleep(&ts, 0);
    }
    return 0;
}

/* ---- forker ------------------------------------------------------------------------- */
static atomic_uint nforks, nchild_bad;

static int child_body(uint64_t rng) {
    alarm(30);
    unsigned bad0 = hc_nfail;
    /* the heap as the fork copied it, recounted (as core-fork's and core-forkstress's
     * children do) */
    if (goheap_validate() != 0)
        return 4;
    /* the inherited objects whose slots were not locked at the fork */
    for (unsigned i = 0; i < NSLOTS; i += 1 + (unsigned)hc_below(&rng, 3)) {
        struct slot *s = &slots[i];
        if (!slot_trylock(s))
            continue;
        if (s->p)
            check_free(s->p, s->n, "inherited");
        s->p = 0;
        slot_unlock(s);
    }
    void *lp[256];
    size_t ln[256];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 256; i++)
            if (!(lp[i] = alloc_any(&rng, &ln[i])))
                return 2;
        for (int i = 0; i < 256; i++)
            check_free(lp[i], ln[i], "child");
        if (round == 10)
            goheap_free_os_memory();
    }
    goheap_free_os_memory();
    /* after its own mallocs and frees and a release of every free page */
    if (goheap_validate() != 0)
        return 5;
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    if (m.heap_released != m.heap_idle)
        return 6;
    return hc_nfail != bad0 ? 3 : 0;
}

static void *forker(void *arg) {
    uint64_t rng = (uintptr_t)arg;
    while (!atomic_load(&stop)) {
        struct timespec ts = {0, (long)(20000000 + hc_below(&rng, 40000000))};
        nanosleep(&ts, 0);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_body(rng));
        if (pid < 0) {
            HC_FAIL("fork failed");
            continue;
        }
        int st = 0;
        waitpid(pid, &st, 0);
        atomic_fetch_add(&nforks, 1);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            atomic_fetch_add(&nchild_bad, 1);
            HC_FAIL("fork child: status 0x%x", st);
        }
    }
    return 0;
}

static void drain_all(void) {
    for (unsigned i = 0; i < NSLOTS; i++)
        if (slots[i].p) {
            check_free(slots[i].p, slots[i].n, "drain");
            slots[i].p = 0;
        }
    for (unsigned i = 0; i < NBUFS; i++)
        if (bufs[i].p) {
            check_free(bufs[i].p, bufs[i].n, "drain");
            bufs[i].p = 0;
        }
}

/* One phase: workers churn for secs seconds beside control and (with_fork) a forker. */
static void phase(double secs, int with_fork, uint64_t seed) {
    struct wk w[64];
    pthread_t ctl, fk;
    uint64_t rng = seed;
    atomic_store(&stop, 0);
    for (unsigned i = 0; i < nworkers; i++) {
        w[i].seed = hc_rand(&rng);
        w[i].ops = 200 + (unsigned)hc_below(&rng, 5000);
        atomic_store(&w[i].done, 0);
        pthread_create(&w[i].t, 0, worker, &w[i]);
    }
    pthread_create(&ctl, 0, control, (void *)(uintptr_t)hc_rand(&rng));
    if (with_fork)
        pthread_create(&fk, 0, forker, (void *)(uintptr_t)hc_rand(&rng));
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    unsigned churned = 0;
    while (now_ns() < end) {
        for (unsigned i = 0; i < nworkers; i++)
            if (atomic_load(&w[i].done)) {
                pthread_join(w[i].t, 0);
                w[i].seed = hc_rand(&rng);
                w[i].ops = 200 + (unsigned)hc_below(&rng, 5000);
                atomic_store(&w[i].done, 0);
                pthread_create(&w[i].t, 0, worker, &w[i]);
                churned++;
            }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < nworkers; i++)
        pthread_join(w[i].t, 0);
    pthread_join(ctl, 0);
    if (with_fork)
        pthread_join(fk, 0);
    goheap_set_memory_limit(INT64_MAX);
    printf("    # phase: %u threads replaced, %u forks\n", churned, nforks);
}

static void t_storm(void) {
    unsigned before = hc_nfail;
    double per = storm_secs / 3;
    for (unsigned k = 0; k < 3; k++) {
        phase(per, k != 1, seed0 * 100 + k);
        int v = goheap_validate();
        KT_CHECK(v == 0, "validate after phase %u", k);
        if (k == 1) { /* half of everything freed by main, then again */
            for (unsigned i = 0; i < NSLOTS; i += 2)
                if (slots[i].p) {
                    check_free(slots[i].p, slots[i].n, "main");
                    slots[i].p = 0;
                }
            KT_CHECK(goheap_validate() == 0, "validate after main's frees");
        }
    }
    drain_all();
    goheap_free_os_memory();
    KT_CHECK(goheap_validate() == 0, "validate at the end");
    struct goheap_memstats st;
    goheap_read_memstats(&st);
    KT_CHECK(st.heap_objects == 0 && st.mallocs == st.frees, "objects %llu mallocs %llu frees %llu",
             (unsigned long long)st.heap_objects, (unsigned long long)st.mallocs,
             (unsigned long long)st.frees);
    KT_CHECK(st.heap_inuse == 0, "heap_inuse %llu after free_os_memory", (unsigned long long)st.heap_inuse);
    KT_CHECK(st.heap_idle + st.heap_inuse == st.heap_sys, "idle+inuse != sys");
    KT_CHECK(st.heap_released <= st.heap_idle, "released > idle");
    KT_CHECK(hc_nfail == before, "%u object checks failed (%u bad fork children of %u)", hc_nfail - before,
             nchild_bad, nforks);
}

/* ---- the suite: the storm under three knob sets, each in a fresh process ------------
 * (knobs are read once, at the first allocation). 2 s each plus the children's exits:
 * ~7 s, as long under a sanitizer (the phases are timed, not counted). */
static const char *self_knobs;
static void exec_self(void) {
    setenv("GOHEAPDEBUG", self_knobs, 1);
    setenv("STORM_CHILD", "1", 1);
    char secs[] = "2", workers[] = "4", self[] = "test_core_storm";
    char *argv[] = {self, secs, workers, 0};
    execv("/proc/self/exe", argv);
    _exit(127);
}
static int run_self(const char *knobs) {
    static char out[1 << 16];
    self_knobs = knobs;
    int st = core_child_fd(exec_self, 1, out, sizeof out);
    /* The child's KTAP as comments of this case. */
    for (char *line = out, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
        nl = strchr(line, '\n');
        printf("    # | %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
    }
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
static void t_storm_plain(void) { KT_CHECK(run_self("") == 0, "storm, no knobs"); }
/* Pages released at every slow path, lazily, under a limit below the live set; span
 * checks at every cache and uncache; a sampled allocation per ~4 KiB. */
static void t_storm_knobs(void) {
    KT_CHECK(run_self("debug=2,scavenge=eager,memlimit=8M,madvdontneed=0,memprofilerate=4096") == 0,
             "storm, eager scavenging under a limit");
}
/* Instrumented mode: every 10th allocation guarded (canary walks beside the others). */
static void t_storm_guarded(void) { KT_CHECK(run_self("guardrate=10,debug=1") == 0, "storm, guardrate"); }

static const struct kt_case cases[] = {
    KT_CASE(t_storm_plain),
    KT_CASE(t_storm_knobs),
    KT_CASE(t_storm_guarded),
};
static const struct kt_case one[] = {
    KT_CASE(t_storm),
};

int main(int argc, char **argv) {
    if (argc > 1)
        storm_secs = atof(argv[1]);
    if (argc > 2)
        nworkers = (unsigned)atoi(argv[2]);
    if (nworkers > 64)
        nworkers = 64;
    if (getenv("STORM_SEED"))
        seed0 = strtoull(getenv("STORM_SEED"), 0, 0);
    if (argc == 1 && !getenv("STORM_CHILD")) {
        kt_begin("core-storm", KT_NCASES(cases));
        return kt_run_cases(cases, KT_NCASES(cases), 0);
    }
    /* One storm with the knobs of the environment (a suite case's child, or by hand:
     * test_core_storm SECONDS [WORKERS], STORM_SEED, GOHEAPDEBUG). Its lines are
     * indented: a subtest of the case that ran it. */
    kt_begin("storm", KT_NCASES(one));
    printf("# %.1f s, %u workers, seed %llu, GOHEAPDEBUG=%s\n", storm_secs, nworkers,
           (unsigned long long)seed0, getenv("GOHEAPDEBUG") ? getenv("GOHEAPDEBUG") : "");
    return kt_run_cases(one, KT_NCASES(one), 0);
}
