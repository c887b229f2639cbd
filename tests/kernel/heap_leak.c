/* tests/kernel/heap_leak.c: the leak scan (goheap_leak_scan, docs/leakscan.md): planted
 * leaks reported exactly, objects kept only by a registered root, a stack (this CPU's or
 * another's) or an interior pointer not reported until that reference goes, pointers
 * inside NOSCAN objects ignored, and all of that exactly (no miss, no false positive)
 * while 3 other CPUs churn during the scans. */
#include <arch/cpu.h>
#include <arch/timer.h>
#include <percpu.h>
#include <smp.h>

#include "heap_util.h"
#include "core.h"   /* gh_prof_rearm: a CPU's next allocation sampled or not, by hand */
#include "mcache.h" /* gh_mcache_get */
#include "mheap.h"  /* gh_span_of: the sampled objects' span and its lanes */

/* Addresses the test keeps are stored hidden (xor: non-canonical, never in the heap
 * arena), since the test's own data is a root of the scan. */
#define HIDE 0x5a5a5a5a5a5a5a5aull
static inline uintptr_t hide(const void *p) { return (uintptr_t)p ^ HIDE; }
static inline void *unhide(uintptr_t x) { return (void *)(x ^ HIDE); }

/* ---- what the scan reported ---- */
#define MAXREP 4096
static struct { uintptr_t addr_x, size, site; unsigned scans; } rep[MAXREP];
static unsigned nrep, nrep_lost;

static void collect(const struct goheap_leak *l, void *ctx)
{
    (void)ctx;
    if (nrep >= MAXREP) {
        nrep_lost++;
        return;
    }
    rep[nrep].addr_x = hide(l->addr);
    rep[nrep].size = l->size;
    rep[nrep].site = l->site;
    rep[nrep].scans = l->scans;
    nrep++;
}

/* Stale copies of dropped pointers below the stack pointer would be scanned when the
 * scan's own frames leave gaps over them: wipe 4 KiB below this frame first. */
static __attribute__((noinline)) void wipe_stack(void)
{
    volatile char buf[4096];
    for (unsigned i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

static __attribute__((noinline)) long scan(void)
{
    nrep = nrep_lost = 0;
    return goheap_leak_scan(collect, 0); /* which zeroes the stack below first */
}

static int reported(const void *p)
{
    for (unsigned i = 0; i < nrep; i++)
        if (rep[i].addr_x == hide(p))
            return (int)i + 1;
    return 0;
}

/* ---- planted leaks ---- */
#define MAXPLANT 256
static struct { uintptr_t addr_x, obj_x, size; unsigned large; } plant[MAXPLANT];
static unsigned nplant;

static void plant_record(void *p, size_t asked, unsigned flags)
{
    uintptr_t a = (uintptr_t)p;
    size_t size;
    if ((flags & GOHEAP_NOSCAN) && asked < 16)
        a &= ~(uintptr_t)15, size = 16; /* tiny: reported as its 16 B block */
    else if (asked > 32768)
        size = asked;                    /* large: the size asked for */
    else
        size = goheap_usable_size(p);    /* small: its class's size */
    plant[nplant].addr_x = hide((void *)a);
    plant[nplant].obj_x = hide(p);
    plant[nplant].size = size;
    plant[nplant].large = asked > 32768;
    nplant++;
}

/* Allocates `rounds` times a mixed set (scan and NOSCAN, small, tiny, large), writes
 * pointer-free contents and drops every pointer. noinline: its frame is dead after. */
static __attribute__((noinline)) void plant_leaks(unsigned rounds)
{
    static const struct { size_t size; unsigned flags; } set[] = {
        { 8, GOHEAP_ALIGN8 }, { 16, 0 }, { 24, GOHEAP_ALIGN8 }, { 48, 0 }, { 100, 0 },
        { 512, 0 }, { 4000, 0 }, { 20000, 0 }, { 32768, 0 }, { 256, GOHEAP_NOSCAN },
        { 15, GOHEAP_NOSCAN }, { 40000, 0 }, { 100000, 0 }, { 70000, GOHEAP_NOSCAN },
    };
    for (unsigned r = 0; r < rounds; r++)
        for (unsigned i = 0; i < sizeof set / sizeof set[0] && nplant < MAXPLANT; i++) {
            void *p = goheap_malloc_flags(set[i].size, set[i].flags);
            if (!p)
                continue;
            for (size_t k = 0; k < set[i].size; k++)
                ((volatile uint8_t *)p)[k] = (uint8_t)(k * 7 + r);
            plant_record(p, set[i].size, set[i].flags);
        }
}

static void free_planted(void)
{
    for (unsigned i = 0; i < nplant; i++)
        goheap_free(unhide(plant[i].obj_x));
    nplant = 0;
}

/* Every planted leak reported once with its size, nothing else: failures otherwise. */
static void expect_exactly_planted(struct ktest *t, long n)
{
    KT_EXPECT_EQ(t, n, nplant);
    KT_EXPECT_EQ(t, nrep, nplant);
    KT_EXPECT_EQ(t, nrep_lost, 0);
    for (unsigned i = 0; i < nplant; i++) {
        int k = reported(unhide(plant[i].addr_x));
        if (!k) {
            ktest_fail(t, __FILE__, __LINE__, "planted leak %p (%lu B) not reported",
                       unhide(plant[i].addr_x), (unsigned long)plant[i].size);
            continue;
        }
        KT_EXPECT_EQ(t, rep[k - 1].size, plant[i].size);
        KT_EXPECT(t, rep[k - 1].scans >= 2);
        /* Large objects carry their allocation site: inside plant_leaks. */
        if (plant[i].large)
            KT_EXPECT(t, rep[k - 1].site - (uintptr_t)plant_leaks < 4096);
    }
    for (unsigned k = 0; k < nrep; k++) {
        unsigned i;
        for (i = 0; i < nplant && plant[i].addr_x != rep[k].addr_x; i++)
            ;
        if (i == nplant)
            ktest_fail(t, __FILE__, __LINE__, "false positive: %p (%lu B) reported: %016llx %016llx",
                       unhide(rep[k].addr_x), (unsigned long)rep[k].size,
                       (unsigned long long)((uint64_t *)unhide(rep[k].addr_x))[0],
                       (unsigned long long)((uint64_t *)unhide(rep[k].addr_x))[1]);
    }
}

/* ---- cases ---- */

static void t_no_leaks(struct ktest *t)
{
    KT_ASSERT(t, scan() >= 0);
    KT_EXPECT_EQ(t, scan(), 0);
    KT_EXPECT_EQ(t, scan(), 0);
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_EXPECT(t, ms.leak_scans >= 3);
    KT_EXPECT_EQ(t, ms.leak_objects, 0);
}

static void t_planted_exact(struct ktest *t)
{
    plant_leaks(4);
    ktest_log("%u leaks planted", nplant);
    KT_EXPECT_EQ(t, scan(), 0); /* first scan: candidates only */
    long n = scan();
    expect_exactly_planted(t, n);
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_EXPECT_EQ(t, ms.leak_objects, nplant);
    /* Still leaked: reported again (scans counts up). */
    n = scan();
    KT_EXPECT_EQ(t, n, nplant);
    if (nrep)
        KT_EXPECT_EQ(t, rep[0].scans, 3);
    free_planted();
    KT_EXPECT_EQ(t, scan(), 0);
}

/* A NOSCAN buffer holds the only pointers to 8 objects (one reached through another):
 * registered, nothing is reported; unregistered, exactly those 8 are. */
static uintptr_t *root_buf;
/* The allocations happen in noinline helpers throughout: a pointer left in the test's
 * own frame or callee-saved registers would (rightly) keep its object reachable. */
static __attribute__((noinline)) int fill_root_buf(void)
{
    root_buf = goheap_malloc_flags(64, GOHEAP_NOSCAN | GOHEAP_ZERO);
    if (!root_buf)
        return -1;
    for (unsigned i = 0; i < 7; i++) {
        size_t sz = 32 << i;                 /* 32 B .. 2 KiB */
        root_buf[i] = (uintptr_t)goheap_calloc(1, sz);
        if (!root_buf[i])
            return -1;
        plant_record((void *)root_buf[i], sz, 0);
    }
    /* The eighth only through the first's contents. */
    void *inner = goheap_calloc(1, 64);
    if (!inner)
        return -1;
    *(void **)root_buf[0] = inner;
    plant_record(inner, 64, 0);
    return 0;
}
static void t_registered_root(struct ktest *t)
{
    KT_EXPECT_EQ(t, goheap_register_root(0, 8), GOHEAP_EINVAL);
    KT_EXPECT_EQ(t, goheap_register_root((void *)8, 0), GOHEAP_EINVAL);
    KT_EXPECT_EQ(t, goheap_register_root((void *)9, 8), GOHEAP_EINVAL);
    KT_EXPECT_EQ(t, goheap_unregister_root((void *)8), GOHEAP_EINVAL);
    nplant = 0;
    KT_ASSERT_EQ(t, fill_root_buf(), 0);
    KT_ASSERT_EQ(t, goheap_register_root(root_buf, 64), 0);
    scan();
    KT_EXPECT_EQ(t, scan(), 0);
    KT_ASSERT_EQ(t, goheap_unregister_root(root_buf), 0);
    KT_EXPECT_EQ(t, goheap_unregister_root(root_buf), GOHEAP_EINVAL);
    scan();
    expect_exactly_planted(t, scan());
    free_planted();
    goheap_free(root_buf);
    root_buf = 0;
}

/* Objects whose only references are interior pointers (into a small object, a large
 * one, a tiny block) in static data: not reported; once cleared, reported. */
/* volatile: only written, and the compiler must keep the stores (they are the test). */
static volatile uintptr_t interior[3];
static __attribute__((noinline)) int make_interior(void)
{
    void *a = goheap_malloc(200), *b = goheap_malloc(50000);
    void *c = goheap_malloc_flags(15, GOHEAP_NOSCAN);
    if (!a || !b || !c)
        return -1;
    interior[0] = (uintptr_t)a + 199;
    interior[1] = (uintptr_t)b + 40000;
    interior[2] = (uintptr_t)c + 9;
    plant_record(a, 200, 0);
    plant_record(b, 50000, 0);
    plant_record(c, 15, GOHEAP_NOSCAN);
    return 0;
}
static void t_interior_pointer(struct ktest *t)
{
    nplant = 0;
    KT_ASSERT_EQ(t, make_interior(), 0);
    scan();
    KT_EXPECT_EQ(t, scan(), 0);
    for (unsigned i = 0; i < 3; i++)
        interior[i] = 0;
    scan();
    long n = scan();
    for (unsigned i = 0; i < nplant; i++)
        plant[i].large = 0; /* allocated here, not in plant_leaks */
    KT_EXPECT_EQ(t, n, 3);
    KT_EXPECT_EQ(t, nrep, 3);
    for (unsigned i = 0; i < nplant; i++)
        KT_EXPECT(t, reported(unhide(plant[i].addr_x)));
    free_planted();
}

/* A pointer stored in a NOSCAN object is no reference. */
static void *volatile keep[2];
static __attribute__((noinline)) int make_noscan(void)
{
    void **h = goheap_malloc_flags(64, GOHEAP_NOSCAN);
    void **big = goheap_malloc_flags(100000, GOHEAP_NOSCAN);
    void *x = goheap_calloc(1, 96), *y = goheap_calloc(1, 96);
    if (!h || !big || !x || !y)
        return -1;
    h[0] = x;
    big[100] = y;
    plant_record(x, 96, 0);
    plant_record(y, 96, 0);
    keep[0] = h; /* the holders themselves are referenced */
    keep[1] = big;
    return 0;
}
static void t_noscan_not_scanned(struct ktest *t)
{
    nplant = 0;
    KT_ASSERT_EQ(t, make_noscan(), 0);
    scan();
    expect_exactly_planted(t, scan());
    free_planted();
    goheap_free(keep[0]);
    goheap_free(keep[1]);
    keep[0] = keep[1] = 0;
}

/* Objects referenced only from this CPU's stack frame (and one through another). */
static __attribute__((noinline)) void hold_on_stack(struct ktest *t)
{
    volatile uintptr_t mine[4];
    nplant = 0;
    for (unsigned i = 0; i < 4; i++) {
        mine[i] = (uintptr_t)goheap_calloc(1, 40 + 200 * i);
        plant_record((void *)mine[i], 40 + 200 * i, 0);
    }
    *(uintptr_t *)mine[3] = (uintptr_t)goheap_malloc(100000);
    plant_record(*(void **)mine[3], 100000, 0);
    plant[nplant - 1].large = 0;
    scan();
    KT_EXPECT_EQ(t, scan(), 0);
    for (unsigned i = 0; i < 4; i++)
        KT_EXPECT(t, !reported((void *)mine[i]));
}
static void t_stack_root(struct ktest *t)
{
    hold_on_stack(t);
    /* The frame is gone: now they leak. */
    scan();
    expect_exactly_planted(t, scan());
    free_planted();
}

/* Objects referenced only from another CPU's stack while it waits. */
static volatile int other_phase;
static uintptr_t other_x[4];
static void other_cpu_holds(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    if (cpu == 1) {
        volatile uintptr_t mine[4];
        for (unsigned i = 0; i < 4; i++) {
            mine[i] = (uintptr_t)goheap_calloc(1, 64 << i);
            other_x[i] = hide((void *)mine[i]);
        }
        __atomic_store_n(&other_phase, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&other_phase, __ATOMIC_ACQUIRE) != 2)
            arch_cpu_relax();
        for (unsigned i = 0; i < 4; i++)
            goheap_free((void *)mine[i]);
        for (unsigned i = 0; i < 4; i++)
            mine[i] = 0; /* no stale copy for a later case's stack to inherit */
    } else if (cpu == 0) {
        while (__atomic_load_n(&other_phase, __ATOMIC_ACQUIRE) != 1)
            arch_cpu_relax();
        scan();
        long n = scan();
        KT_EXPECT_EQ(t, n, 0);
        for (unsigned i = 0; i < 4; i++)
            KT_EXPECT(t, !reported(unhide(other_x[i])));
        __atomic_store_n(&other_phase, 2, __ATOMIC_RELEASE);
    }
}
static void t_other_cpu_stack(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    other_phase = 0;
    ktest_on_all_cpus(t, other_cpu_holds, 0);
}

/* Remote frees in a span with more sampled objects than its lanes name (npover > 0,
 * docs/profiling.md "sampled slots"): a free that another CPU made and no sweep has
 * applied yet is a free, not an allocated object the scan may report. Seven objects
 * of one class on this CPU, from the first slot of a span (11 slots: not full, so no
 * free wakes mcentral to sweep it), the last six sampled by hand (4 in lanes, 2
 * over), kept by a static root; CPU 1 then frees the unsampled one and two sampled
 * ones with lanes (npover stays 2). Two scans then report nothing: before, a span
 * with npover > 0 counted every pending slot as allocated, and the three freed
 * slots, unreferenced and unchanged, were reported as leaks (and 303 false ones in
 * the churn case below at memprofilerate=1). */
#define SR_N 7
#define SR_SIZE 704 /* 11 a span; a class no other case uses: no refill sweeps it */
static void *sr_keep[SR_N];
static uintptr_t sr_freed_x[3];
static void sr_sample_next(int on)
{
    goheap_pin_t pin;
    struct mcache *c = gh_mcache_get(goheap_sys_pin(&pin));
    if (c) {
        if (on == 1)
            c->next_sample = 0;
        else if (on == 0)
            c->next_sample = INT64_MAX / 2;
        else
            gh_prof_rearm(c); /* an interval drawn afresh */
    }
    goheap_sys_unpin(pin);
}
static void sr_remote_free(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 1)
        for (unsigned i = 0; i < 3; i++)
            goheap_free(unhide(sr_freed_x[i]));
}
static void t_sampled_remote_free(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    void *p[SR_N], *pad[16];
    unsigned npad = 0;
    /* unsampled objects until one is a span's first */
    sr_sample_next(0);
    for (p[0] = goheap_malloc(SR_SIZE); p[0] && npad < 16 && (uintptr_t)p[0] != gh_span_of((uintptr_t)p[0])->base;
         p[0] = goheap_malloc(SR_SIZE))
        pad[npad++] = p[0];
    for (unsigned i = 1; i < SR_N; i++) {
        sr_sample_next(1);
        p[i] = goheap_malloc(SR_SIZE);
    }
    sr_sample_next(2);
    for (unsigned i = 0; i < npad; i++)
        goheap_free(pad[i]); /* (in an earlier span) */
    struct mspan *s = p[0] ? gh_span_of((uintptr_t)p[0]) : 0;
    int same = s && s->nelems > SR_N;
    for (unsigned i = 0; i < SR_N; i++)
        same = same && p[i] && gh_span_of((uintptr_t)p[i]) == s;
    if (!same || atomic_load(&s->nsampled) != 6 || atomic_load(&s->npover) != 2) {
        for (unsigned i = 0; i < SR_N; i++)
            goheap_free(p[i]);
        KT_ASSERT(t, same);
        KT_ASSERT(t, atomic_load(&s->nsampled) == 6 && atomic_load(&s->npover) == 2);
    }
    for (unsigned i = 0; i < SR_N; i++)
        ((volatile uint64_t *)p[i])[0] = 0x1111111111111111ull * (i + 1);
    /* freed by CPU 1: 0 (unsampled), 1 and 2 (sampled, in lanes) */
    for (unsigned i = 0; i < SR_N; i++)
        sr_keep[i] = i < 3 ? 0 : p[i];
    for (unsigned k = 0; k < 3; k++)
        sr_freed_x[k] = hide(p[k]);
    for (unsigned i = 0; i < SR_N; i++)
        p[i] = 0;
    ktest_on_all_cpus(t, sr_remote_free, 0);
    KT_EXPECT_EQ(t, atomic_load(&s->nsampled), 4);
    KT_EXPECT_EQ(t, atomic_load(&s->npover), 2);
    scan();
    long n = scan();
    KT_EXPECT_EQ(t, n, 0);
    for (unsigned k = 0; k < 3; k++)
        if (reported(unhide(sr_freed_x[k])))
            ktest_fail(t, __FILE__, __LINE__, "freed object %p (a remote free not yet swept) reported",
                       unhide(sr_freed_x[k]));
    for (unsigned i = 0; i < SR_N; i++)
        goheap_free(sr_keep[i]), sr_keep[i] = 0;
}

/* A large object resized in place by realloc (docs/alloc.md "realloc") is scanned and
 * reported by its new size. Grown from 40000 B to its span's 40960 (in place: no page
 * needed), a pointer stored in its last word keeps its target; shrunk from 1 MiB to
 * 300 KiB, with the freed tail given back to the system (goheap_free_os_memory unmaps
 * it), it is read only up to its new end and, dropped, reported with 300 KiB.
 * Before, realloc left the span's size asked for (reqsize) as it was: the grown part
 * was never scanned (its target reported as a false leak), and the shrunk object was
 * read over its old size, pages freed and unmapped since (a fault). */
#define IP_GROWN 40960
static void **ip_big;
static uintptr_t ip_target_x, ip_shrunk_x;
static __attribute__((noinline)) int ip_setup(void)
{
    void **l = goheap_malloc(40000);
    void **q = l ? goheap_realloc(l, IP_GROWN) : 0;
    void *x = goheap_malloc(48);
    char *m = goheap_malloc(1 << 20);
    char *m2 = m ? goheap_realloc(m, 300 << 10) : 0;
    int ok = q == l && l && x && m2 == m && m;
    if (!ok)
        ktest_log("in place: grown %p -> %p, shrunk %p -> %p", (void *)l, (void *)q, (void *)m, (void *)m2);
    if (ok) {
        q[IP_GROWN / sizeof(void *) - 1] = x; /* only past the old size */
        ((volatile char *)m)[0] = 1;
        ip_big = q;
        ip_target_x = hide(x);
        ip_shrunk_x = hide(m);
    } else {
        goheap_free(q ? q : l);
        goheap_free(x);
        goheap_free(m2 ? m2 : m);
    }
    return ok;
}
static void t_large_realloc_in_place(struct ktest *t)
{
    KT_ASSERT(t, ip_setup()); /* in place, both ways */
    wipe_stack();
    goheap_free_os_memory();
    scan();
    long n = scan();
    KT_EXPECT(t, !reported(unhide(ip_target_x)));
    int k = reported(unhide(ip_shrunk_x));
    KT_EXPECT(t, k);
    KT_EXPECT_EQ(t, n, 1);
    if (k)
        KT_EXPECT_EQ(t, rep[k - 1].size, 300 << 10);
    goheap_free(ip_big[IP_GROWN / sizeof(void *) - 1]);
    goheap_free(ip_big);
    goheap_free(unhide(ip_shrunk_x));
    ip_big = 0;
}

/* ---- churn: 3 CPUs allocate and free (much of it remotely) during the scans ----
 * The planted leaks must be referenced from nowhere live, or a conservative scan rightly
 * keeps them: they are planted before the churn starts (no churner ever held one of
 * their addresses, so none sits in a churner's registers or frames), each churner
 * first zeroes the stack its frames will use, and the churners' scanned objects are
 * zeroed up to their usable size (the scan reads the whole slot, and a recycled
 * slot's old contents, GOHEAP_ZERO's tail past the size asked included, may hold an
 * address a planted leak took since: the live object would keep it). */
#define CHURN_SLOTS 1024
struct churn_node {
    uint64_t seq;
    void *payload;      /* reachable only through the node */
    size_t size;
};
static uint64_t churn_slot[CHURN_SLOTS]; /* node pointer, 0 empty, 1 taken */
static volatile int churn_stop;
static uint64_t churn_ops[MAX_CPUS];

/* A churner's object: NOSCAN as asked, else zeroed up to its usable size. */
static void *churn_alloc(size_t size, unsigned flags)
{
    void *p = goheap_malloc_flags(size, flags | (flags & GOHEAP_NOSCAN ? 0 : GOHEAP_ZERO));
    if (p && !(flags & GOHEAP_NOSCAN)) {
        size_t usable = goheap_usable_size(p);
        for (size_t k = size; k < usable; k++)
            ((volatile uint8_t *)p)[k] = 0;
    }
    return p;
}

static void churn_drop(uint64_t w)
{
    struct churn_node *n = (struct churn_node *)(uintptr_t)w;
    goheap_free(n->payload);
    goheap_free(n);
}

static void churn(unsigned cpu, uint64_t *rng)
{
    uint64_t seq = (uint64_t)cpu << 48;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
        unsigned i = (unsigned)(xorshift64s(rng) % CHURN_SLOTS);
        uint64_t w;
        while ((w = __atomic_exchange_n(&churn_slot[i], 1, __ATOMIC_ACQUIRE)) == 1)
            arch_cpu_relax();
        if (w)
            churn_drop(w);
        struct churn_node *n = churn_alloc(sizeof *n, 0);
        uint64_t r = xorshift64s(rng);
        size_t sz = (r & 7) == 0 ? 40000 + (r >> 40) % 20000 : 16 + (r >> 40) % 2000;
        unsigned flags = (r & 0x30) == 0 ? GOHEAP_NOSCAN : 0;
        if ((r & 0x3c0) == 0)
            sz = 1 + (r >> 50) % 15, flags = GOHEAP_NOSCAN; /* tiny */
        void *p = n ? churn_alloc(sz, flags) : 0;
        if (n && p) {
            n->seq = ++seq;
            n->payload = p;
            n->size = sz;
            for (size_t k = 0; k < sz && k < 64; k++)
                ((uint8_t *)p)[k] = (uint8_t)(seq + k); /* unique contents */
            w = (uint64_t)(uintptr_t)n;
        } else {
            goheap_free(n);
            goheap_free(p);
            w = 0;
        }
        __atomic_store_n(&churn_slot[i], w, __ATOMIC_RELEASE);
        if ((++churn_ops[cpu] & 255) == 0)
            kheap_tick(); /* background step: the scavenger unmaps meanwhile */
    }
}

/* Scans during the churn: the first reports nothing (candidates only), every later one
 * exactly the planted leaks. A scan counts as concurrent when the churners did
 * operations during it; the host may not run their vCPUs during a short scan
 * (multi-threaded TCG on a loaded host), so scans go on until CHURN_SCANS concurrent
 * ones, at most CHURN_SCANS_MAX in all. */
#define CHURN_SCANS 3
#define CHURN_SCANS_MAX 40
static long churn_reported[CHURN_SCANS_MAX];
static uint64_t churn_ms[CHURN_SCANS_MAX], churn_during[CHURN_SCANS_MAX];
static unsigned churn_nscans, churn_concurrent;
static uint64_t churner_ops(void)
{
    uint64_t n = 0;
    for (unsigned c = 1; c < MAX_CPUS; c++)
        n += __atomic_load_n(&churn_ops[c], __ATOMIC_RELAXED);
    return n;
}
static void churn_worker(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (cpu + 1);
    if (cpu != 0) {
        wipe_stack();
        churn(cpu, &rng);
        return;
    }
    /* Let the churn fill the slots, then scan during the churn. */
    while (__atomic_load_n(&churn_ops[1], __ATOMIC_RELAXED) < 3000)
        arch_cpu_relax();
    churn_nscans = churn_concurrent = 0;
    for (unsigned s = 0; s < CHURN_SCANS_MAX && churn_concurrent < CHURN_SCANS; s++) {
        uint64_t t0 = arch_nanotime(), ops0 = churner_ops();
        long n = scan();
        churn_during[s] = churner_ops() - ops0;
        churn_ms[s] = (arch_nanotime() - t0) / 1000000;
        churn_reported[s] = n;
        churn_nscans = s + 1;
        churn_concurrent += churn_during[s] > 0;
        if (s == 0)
            KT_EXPECT_EQ(t, n, 0);
        else
            expect_exactly_planted(t, n);
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
}

static void t_churn_3cpus(struct ktest *t)
{
    if (ktest_ncpus() < 4)
        KT_SKIP(t, "needs 4 CPUs (SMP=4)");
    nplant = 0;
    churn_stop = 0;
    plant_leaks(2);
    wipe_stack(); /* plant_leaks' dead frame, where the next frames go */
    uint64_t ops0 = churner_ops();
    ktest_on_all_cpus(t, churn_worker, 0);
    ktest_log("%u leaks planted; %u scans, %u of them during churn operations; the first "
              "three reported %ld, %ld, %ld (%llu, %llu, %llu ms, the churners doing %llu, "
              "%llu, %llu operations meanwhile) while 3 CPUs did %llu operations",
              nplant, churn_nscans, churn_concurrent, churn_reported[0], churn_reported[1],
              churn_reported[2], (unsigned long long)churn_ms[0],
              (unsigned long long)churn_ms[1], (unsigned long long)churn_ms[2],
              (unsigned long long)churn_during[0], (unsigned long long)churn_during[1],
              (unsigned long long)churn_during[2],
              (unsigned long long)(churner_ops() - ops0));
    KT_EXPECT_EQ(t, churn_concurrent, CHURN_SCANS); /* the churn ran during that many scans */
    for (unsigned i = 0; i < CHURN_SLOTS; i++) {
        uint64_t w = __atomic_exchange_n(&churn_slot[i], 0, __ATOMIC_ACQUIRE);
        if (w)
            churn_drop(w);
    }
    free_planted();
    goheap_free_os_memory();
    scan();
    KT_EXPECT_EQ(t, scan(), 0);
}

static void t_validate(struct ktest *t)
{
    hu_validate(t);
}

static const struct ktest_case heap_leak_cases[] = {
    KTEST_CASE(t_no_leaks),
    KTEST_CASE(t_planted_exact),
    KTEST_CASE(t_registered_root),
    KTEST_CASE(t_interior_pointer),
    KTEST_CASE(t_noscan_not_scanned),
    KTEST_CASE(t_stack_root),
    KTEST_CASE(t_other_cpu_stack),
    KTEST_CASE(t_sampled_remote_free),
    KTEST_CASE(t_large_realloc_in_place),
    KTEST_CASE(t_churn_3cpus),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_leak, "heap_leak", heap_leak_cases, hu_init, 0);
