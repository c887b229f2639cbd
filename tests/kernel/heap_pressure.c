/* tests/kernel/heap_pressure.c: everything at once under SMP: large objects allocated,
 * grown and shrunk by realloc (moves and zero-copy remaps), freed on other CPUs, while
 * one CPU scavenges, sets and lifts a memory limit and runs the frame allocator dry. */

/* The storm (t_storm). CPUs 0..n-2 are workers: each keeps PR_SLOTS objects of 16 B to
 * 6 MiB (log-uniform, large ones the most: 1 in 4 is 1 MiB or more, where realloc moves
 * by remapping), allocates (malloc, calloc checked zero), grows and shrinks them with
 * realloc, frees them, and hands some to the other workers through a shared exchange
 * array (the taker checks, reallocs or frees them: remote frees of large spans, realloc
 * of another CPU's object). Every object carries stamps, one word per 4 KiB frame and its
 * last word, a function of a key kept beside it, checked before every realloc, free and
 * hand-over and, after a realloc, over the part that was kept. Any NULL is accepted (out
 * of memory is expected here): a NULL realloc must leave the old block intact. CPU n-1
 * is the chaos: goheap_free_os_memory, goheap_reclaim_lazy, a memory limit set below
 * what is mapped and lifted, MemStats read and checked, background steps, the leak scan,
 * and every free frame taken from the frame allocator (with interrupts on: with lazy
 * release that pulls the heap's lazily released pages back) and held until each worker
 * has seen a NULL or a while has passed, then given back. Afterwards everything is
 * freed, the validator passes, every idle byte can be released (and reclaimed), and the
 * frames still out are the allocator's metadata and page tables (heap_oom's account).
 * The chaos acts once per 32 worker operations, the costly actions (a leak scan, a
 * release of the whole heap) the rarest. `pressure_ops=N` sets the operations per
 * worker (default 1500), `pressure_seed=N` the random seed. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <frame.h>
#include <goheap.h>
#include <ktest.h>
#include <percpu.h>
#include <smp.h>

#include "frame_util.h"
#include "heap_util.h"

#define PR_SLOTS 12             /* live objects per worker */
#define PR_XFER 16              /* the exchange array */
#define PR_DEFAULT_OPS 1500     /* per worker */
#define PR_STAMP_STRIDE 4096    /* one stamp word per frame */
#define PR_MAX_SHIFT 22         /* sizes 16 B .. 4 MiB, log-uniform ... */
#define PR_BIG_MAX (6u << 20)   /* ... and grown up to 6 MiB by realloc */
#define PR_HOLD_NS 20000000ull  /* the frame hold ends after 20 ms at most */
#define PR_CHAOS_EVERY 32       /* one chaos action per 32 worker operations */

struct probj {
    uint8_t *p;
    size_t size;
    uint64_t key;
};

static struct probj own[MAX_CPUS][PR_SLOTS];
static struct probj xfer[PR_XFER];
static uint64_t xfer_busy[PR_XFER];     /* 0 free, 1 taken: a slot's owner for the moment */
static unsigned workers_left;           /* atomic */
static uint64_t ops_per_worker;
static uint64_t nulls[MAX_CPUS];        /* NULLs seen by each worker (atomic stores) */
static uint64_t worker_ops;             /* operations done by all workers (atomic) */
/* Counts for the log. */
static uint64_t n_alloc, n_realloc, n_moved, n_xfer, n_null, n_holds, n_held_frames, n_limit,
    n_scan;

static inline uint64_t stamp_of(uint64_t key, size_t off)
{
    return key ^ ((uint64_t)off * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995;
}

/* Calls f on each stamp offset of an object of size n (n >= 8): every frame's first
 * word and the last aligned word. */
#define PR_FOR_STAMPS(n, off) \
    for (size_t off = 0, _last = ((n) - 8) & ~(size_t)7; off <= _last; \
         off = off == _last ? _last + 1 : (off + PR_STAMP_STRIDE < _last ? off + PR_STAMP_STRIDE : _last))

static void stamp(struct probj *o)
{
    if (o->size < 8) {
        for (size_t i = 0; i < o->size; i++)
            o->p[i] = (uint8_t)(o->key >> (8 * i));
        return;
    }
    PR_FOR_STAMPS(o->size, off)
        *(volatile uint64_t *)(o->p + off) = stamp_of(o->key, off);
}

/* 1 when every stamp below `upto` bytes (the part a realloc kept) is intact. */
static int check_upto(struct ktest *t, const struct probj *o, const uint8_t *at, size_t upto,
                      const char *what)
{
    size_t n = o->size;
    if (n < 8) {
        for (size_t i = 0; i < n && i < upto; i++)
            if (at[i] != (uint8_t)(o->key >> (8 * i)))
                goto bad;
        return 1;
    }
    PR_FOR_STAMPS(n, off) {
        if (off + 8 > upto)
            break;
        uint64_t v = *(const volatile uint64_t *)(at + off);
        if (v != stamp_of(o->key, off)) {
            ktest_fail(t, __FILE__, __LINE__, "cpu %u: %s: object %p (was %p) size %zu: word at +%zu is "
                       "0x%llx, not 0x%llx", cpu_index(), what, at, o->p, n, off,
                       (unsigned long long)v, (unsigned long long)stamp_of(o->key, off));
            return 0;
        }
    }
    return 1;
bad:
    ktest_fail(t, __FILE__, __LINE__, "cpu %u: %s: tiny object %p size %zu damaged", cpu_index(),
               what, at, n);
    return 0;
}

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = xorshift64s(rng);
    unsigned shift = 4 + (unsigned)(r % (PR_MAX_SHIFT - 4 + 1));
    size_t n = (size_t)1 << shift;
    return n + (size_t)((r >> 8) % n);
}

static void saw_null(unsigned cpu)
{
    __atomic_fetch_add(&n_null, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&nulls[cpu], 1, __ATOMIC_RELAXED);
}

static void make(struct ktest *t, unsigned cpu, struct probj *o, uint64_t *rng)
{
    size_t n = pick_size(rng);
    uint64_t r = xorshift64s(rng);
    int zero = r % 4 == 0;
    /* Most large objects pointer-free: the leak scan then reads their span, not their
     * bytes (a scan of tens of MiB takes seconds under TCG). */
    unsigned flags = (zero ? GOHEAP_ZERO : 0) | (n >= (32u << 10) && (r >> 8) % 4 ? GOHEAP_NOSCAN : 0);
    uint8_t *p = r % 8 == 0 ? goheap_calloc(1, n) : flags ? goheap_malloc_flags(n, flags) : goheap_malloc(n);
    zero |= r % 8 == 0;
    if (!p) {
        saw_null(cpu);
        return;
    }
    if (zero) {
        for (size_t off = 0; off < n; off += (n > 4096 ? 1024 : 1))
            if (p[off]) {
                ktest_fail(t, __FILE__, __LINE__, "cpu %u: calloc(%zu) = %p: byte +%zu is 0x%x", cpu, n,
                           p, off, p[off]);
                break;
            }
        if (p[n - 1])
            ktest_fail(t, __FILE__, __LINE__, "cpu %u: calloc(%zu) = %p: last byte 0x%x", cpu, n, p,
                       p[n - 1]);
    }
    *o = (struct probj){ p, n, xorshift64s(rng) | 1 };
    stamp(o);
    __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
}

static void drop(struct ktest *t, struct probj *o, const char *what)
{
    if (!o->p)
        return;
    check_upto(t, o, o->p, o->size, what);
    goheap_free(o->p);
    o->p = 0;
}

/* Grow (x1.25 .. x3, so doublings that move and, from 1 MiB, remap) or shrink. */
static void resize(struct ktest *t, unsigned cpu, struct probj *o, uint64_t *rng)
{
    if (!check_upto(t, o, o->p, o->size, "before realloc"))
        return;
    uint64_t r = xorshift64s(rng);
    size_t n = o->size;
    size_t m = r % 3 ? n + n / 4 + (size_t)((r >> 8) % (n * 7 / 4 + 1)) : n / 2 + 1;
    if (m > PR_BIG_MAX)
        m = n / 3 + 1;
    uint8_t *q = goheap_realloc(o->p, m);
    if (!q) {
        saw_null(cpu);
        check_upto(t, o, o->p, o->size, "after a failed realloc (old block)");
        return;
    }
    __atomic_fetch_add(&n_realloc, 1, __ATOMIC_RELAXED);
    if (q != o->p)
        __atomic_fetch_add(&n_moved, 1, __ATOMIC_RELAXED);
    check_upto(t, o, q, m, "after realloc (kept part)");
    o->p = q;
    o->size = m;
    stamp(o);
}

/* Hand o over (swapped with whatever sits in a slot of the exchange array), or take one
 * that another CPU handed over. */
static void exchange(struct ktest *t, unsigned cpu, struct probj *o, uint64_t *rng)
{
    unsigned s = (unsigned)(xorshift64s(rng) % PR_XFER);
    uint64_t idle = 0;
    if (!__atomic_compare_exchange_n(&xfer_busy[s], &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    struct probj in = xfer[s];
    if (in.p && !check_upto(t, &in, in.p, in.size, "taken over"))
        in.p = 0;           /* (reported; leaked, not freed twice) */
    xfer[s] = *o;
    __atomic_store_n(&xfer_busy[s], 0, __ATOMIC_RELEASE);
    *o = in;
    __atomic_fetch_add(&n_xfer, 1, __ATOMIC_RELAXED);
    if (o->p && xorshift64s(rng) % 2)
        resize(t, cpu, o, rng);     /* realloc of another CPU's object */
}

static void worker(struct ktest *t, unsigned cpu, uint64_t *rng)
{
    struct probj *mine = own[cpu];
    void *small[8] = { 0 };
    for (uint64_t op = 0; op < ops_per_worker; op++) {
        struct probj *o = &mine[xorshift64s(rng) % PR_SLOTS];
        unsigned k = (unsigned)(xorshift64s(rng) % 10);
        if (!o->p)
            make(t, cpu, o, rng);
        else if (k < 4)
            resize(t, cpu, o, rng);
        else if (k < 6)
            exchange(t, cpu, o, rng);
        else
            drop(t, o, "before free");
        /* small objects between (page-cache refills beside the large runs) */
        unsigned j = (unsigned)(op % 8);
        goheap_free(small[j]);
        small[j] = goheap_malloc(16 + (size_t)(xorshift64s(rng) % 2048));
        if (small[j])
            *(volatile uint8_t *)small[j] = 1;
        __atomic_fetch_add(&worker_ops, 1, __ATOMIC_RELAXED);
    }
    for (unsigned j = 0; j < 8; j++)
        goheap_free(small[j]);
}

static void check_memstats(struct ktest *t)
{
    static struct goheap_memstats ms;      /* big: off the stack (one chaos CPU) */
    goheap_read_memstats(&ms);
    if (ms.heap_idle + ms.heap_inuse != ms.heap_sys || ms.heap_released > ms.heap_idle ||
        ms.heap_released_lazy > ms.heap_released)
        ktest_fail(t, __FILE__, __LINE__, "MemStats: idle %llu + inuse %llu vs sys %llu, released %llu, "
                   "lazy %llu", (unsigned long long)ms.heap_idle, (unsigned long long)ms.heap_inuse,
                   (unsigned long long)ms.heap_sys, (unsigned long long)ms.heap_released,
                   (unsigned long long)ms.heap_released_lazy);
}

/* Every free frame taken (chained through them), held until each worker has seen a
 * NULL since (or PR_HOLD_NS), given back. */
static void hold_frames(void)
{
    uint64_t seen[MAX_CPUS], chain = 0;
    unsigned n = ktest_ncpus();
    for (unsigned c = 0; c + 1 < n; c++)
        seen[c] = __atomic_load_n(&nulls[c], __ATOMIC_RELAXED);
    uint64_t got = fu_take_all_frames(&chain);
    uint64_t t0 = arch_nanotime();
    for (;;) {
        unsigned waiting = 0;
        for (unsigned c = 0; c + 1 < n; c++)
            waiting += __atomic_load_n(&nulls[c], __ATOMIC_RELAXED) == seen[c];
        if (!waiting || arch_nanotime() - t0 > PR_HOLD_NS ||
            !__atomic_load_n(&workers_left, __ATOMIC_RELAXED))
            break;
        got += fu_take_all_frames(&chain);  /* what the workers' frees gave back */
        arch_cpu_relax();
    }
    fu_give_back(chain);
    __atomic_fetch_add(&n_holds, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_held_frames, got, __ATOMIC_RELAXED);
}

/* The chaos's time per action (the log: where a slow boot spends it). */
#define PR_CHAOS_KINDS 7
static const char *const chaos_names[PR_CHAOS_KINDS] = {
    "free_os_memory", "reclaim_lazy", "limit", "frame hold", "memstats", "leak scan", "background" };
/* Sixteenths of the actions: a leak scan or a release of the whole heap costs seconds on
 * aarch64 under TCG (each page's broadcast TLBI stops every vCPU), so they are rarer. */
static const unsigned char chaos_pick[16] = { 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6, 6, 6 };
static uint64_t chaos_ns[PR_CHAOS_KINDS], chaos_max_ns[PR_CHAOS_KINDS], chaos_n[PR_CHAOS_KINDS];

static void chaos(struct ktest *t, uint64_t *rng)
{
    void *keep = 0;
    for (uint64_t next = PR_CHAOS_EVERY;; next += PR_CHAOS_EVERY) {
        while (__atomic_load_n(&workers_left, __ATOMIC_ACQUIRE) &&
               __atomic_load_n(&worker_ops, __ATOMIC_RELAXED) < next)
            arch_cpu_relax();
        if (!__atomic_load_n(&workers_left, __ATOMIC_ACQUIRE))
            break;
        unsigned k = chaos_pick[xorshift64s(rng) % 16];
        uint64_t t0 = arch_nanotime();
        switch (k) {
        case 0:
            goheap_free_os_memory();
            break;
        case 1:
            goheap_reclaim_lazy((size_t)1 << (16 + xorshift64s(rng) % 8));
            break;
        case 2: {       /* a limit below what is mapped, some churn under it, lifted */
            int64_t lim = (int64_t)(kplat_stats.frames_now * ARCH_FRAME_SIZE) / 2;
            int64_t old = goheap_set_memory_limit(lim);
            for (unsigned i = 0; i < 4; i++) {
                goheap_free(keep);
                keep = goheap_malloc((size_t)(64u << 10) << (i % 4));
            }
            goheap_set_memory_limit(old);
            __atomic_fetch_add(&n_limit, 1, __ATOMIC_RELAXED);
            break;
        }
        case 3:
            hold_frames();
            break;
        case 4:
            check_memstats(t);
            break;
        case 5: {
            long r = goheap_leak_scan(0, 0);
            if (r < 0 && r != GOHEAP_LEAK_NOMEM)
                ktest_fail(t, __FILE__, __LINE__, "leak scan: %ld", r);
            __atomic_fetch_add(&n_scan, 1, __ATOMIC_RELAXED);
            break;
        }
        default:
            goheap_background_work();
            break;
        }
        uint64_t d = arch_nanotime() - t0;
        chaos_ns[k] += d;
        chaos_n[k]++;
        if (d > chaos_max_ns[k])
            chaos_max_ns[k] = d;
    }
    goheap_free(keep);
}

static uint64_t seed;

static void storm(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t rng = seed + 977 * (uint64_t)cpu;
    ktest_cpu_barrier();
    if (cpu + 1 == ktest_ncpus()) {
        chaos(t, &rng);
        return;
    }
    worker(t, cpu, &rng);
    __atomic_fetch_sub(&workers_left, 1, __ATOMIC_RELEASE);
}

static uint64_t frames_before, inuse_before;

static uint64_t parse_u64(const char *s, uint64_t dflt)
{
    uint64_t v = 0;
    for (; s && *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v ? v : dflt;
}

static void t_storm(struct ktest *t)
{
    if (ktest_ncpus() < 3)
        KT_SKIP(t, "needs 3 CPUs: two workers and the chaos");
    ops_per_worker = parse_u64(cmdline_get("pressure_ops"), PR_DEFAULT_OPS);
    seed = parse_u64(cmdline_get("pressure_seed"), 0x1234567);
    static struct goheap_memstats ms;
    goheap_free_os_memory();
    goheap_reclaim_lazy(SIZE_MAX);
    goheap_read_memstats(&ms);
    frames_before = frame_free_count();
    inuse_before = ms.heap_inuse;
    uint64_t remapped0 = ms.realloc_remapped, reclaimed0 = ms.lazy_reclaimed, t0 = arch_nanotime();
    struct frame_stats fs0, fs1;
    frame_stats(&fs0);
    __atomic_store_n(&workers_left, ktest_ncpus() - 1, __ATOMIC_RELEASE);
    ktest_on_all_cpus(t, storm, 0);
    goheap_read_memstats(&ms);
    frame_stats(&fs1);
    /* The frames the pulls got back are frames the heap's lazy reclaim gave back (the
     * count may not run ahead of them, whatever other CPUs did meanwhile). */
    uint64_t pulled = fs1.pulled_frames - fs0.pulled_frames;
    uint64_t reclaimed = (ms.lazy_reclaimed - reclaimed0) / ARCH_FRAME_SIZE;
    ktest_log("pulls: %llu (%llu frames; %llu refused); lazily released frames reclaimed: %llu",
              (unsigned long long)(fs1.pulls - fs0.pulls), (unsigned long long)pulled,
              (unsigned long long)(fs1.pulls_refused - fs0.pulls_refused), (unsigned long long)reclaimed);
    KT_EXPECT(t, pulled <= reclaimed);
    ktest_log("%llu ms: %llu allocations, %llu reallocs (%llu moved, %llu KiB remapped), %llu "
              "hand-overs, %llu NULLs; chaos: %llu frame holds (%llu frames), %llu limits, %llu "
              "leak scans", (unsigned long long)((arch_nanotime() - t0) / 1000000),
              (unsigned long long)n_alloc, (unsigned long long)n_realloc,
              (unsigned long long)n_moved,
              (unsigned long long)((ms.realloc_remapped - remapped0) >> 10),
              (unsigned long long)n_xfer, (unsigned long long)n_null, (unsigned long long)n_holds,
              (unsigned long long)n_held_frames, (unsigned long long)n_limit,
              (unsigned long long)n_scan);
    for (unsigned k = 0; k < PR_CHAOS_KINDS; k++)
        if (chaos_n[k])
            ktest_log("  chaos %s: %llu times, %llu ms in all, longest %llu ms", chaos_names[k],
                      (unsigned long long)chaos_n[k], (unsigned long long)(chaos_ns[k] / 1000000),
                      (unsigned long long)(chaos_max_ns[k] / 1000000));
    KT_EXPECT(t, n_alloc > 0);
}

/* Everything freed: the heap is whole, every idle byte releasable, and the frames not
 * back are the allocator's metadata and the arena's page tables. */
static void t_after(struct ktest *t)
{
    for (unsigned c = 0; c < MAX_CPUS; c++)
        for (unsigned i = 0; i < PR_SLOTS; i++)
            drop(t, &own[c][i], "at the end");
    for (unsigned i = 0; i < PR_XFER; i++)
        drop(t, &xfer[i], "at the end (exchange)");
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    goheap_free_os_memory();
    goheap_reclaim_lazy(SIZE_MAX);
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    uint64_t now = frame_free_count(), out = frames_before > now ? frames_before - now : 0;
    uint64_t meta = (ms.mspan_sys + ms.mcache_sys + ms.other_sys + ARCH_FRAME_SIZE - 1) / ARCH_FRAME_SIZE;
    uint64_t pt = ms.heap_sys / ARCH_LARGE_SIZE + 8;
    ktest_log("frames free %llu (before %llu): %llu kept; metadata %llu + page tables <= %llu; "
              "inuse %llu KiB (before %llu KiB), idle %llu KiB, released %llu KiB, lazy %llu KiB",
              (unsigned long long)now, (unsigned long long)frames_before, (unsigned long long)out,
              (unsigned long long)meta, (unsigned long long)pt,
              (unsigned long long)(ms.heap_inuse >> 10), (unsigned long long)(inuse_before >> 10),
              (unsigned long long)(ms.heap_idle >> 10), (unsigned long long)(ms.heap_released >> 10),
              (unsigned long long)(ms.heap_released_lazy >> 10));
    KT_EXPECT_EQ(t, ms.heap_inuse, inuse_before);
    KT_EXPECT_EQ(t, ms.heap_released, ms.heap_idle);
    KT_EXPECT_EQ(t, ms.heap_released_lazy, 0);
    KT_EXPECT(t, out <= meta + pt);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_pressure_cases[] = {
    KTEST_CASE(t_storm), KTEST_CASE(t_after), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_pressure, "heap_pressure", heap_pressure_cases, hu_init, 0);
