/* tests/kernel/heap_stress.c: cross-CPU stress: every CPU swaps cookie-stamped objects
 * of every size class through a shared transfer array, and the CPU that takes one out
 * checks and frees it. */

/* Cross-CPU stress. Every CPU allocates objects of every size class (plus large,
 * aligned and calloc'd ones), cookie-stamps them and swaps them into a shared transfer
 * array; whatever it takes out (usually another CPU's object) is checked and freed.
 * `heap_ops=N` sets the operations per CPU (default 100000, the test-matrix boot runs
 * 1M). Every class must have been used, and afterwards every object is freed, counters
 * balance and the validator passes. NOSCAN objects below 16 B go through the tiny
 * allocator (several objects per 16 B block, freed separately); `heap_tiny=0` leaves
 * them out. t_drain_idle_cpu: one CPU's emptied parked spans taken home by another
 * CPU's reclaim pass while the owner sits idle. */
#include <arch/cpu.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <goheap.h>
#include <ktest.h>
#include <percpu.h>
#include <smp.h>

#include "heap_util.h"
#include "core.h"       /* gh_reclaim: the reclaim pass, run by hand on one CPU */
#include "mcache.h"     /* a CPU's parked spans, counted by t_drain_idle_cpu */
#include "mheap.h"      /* the core's span map: a damaged tiny block, a span's class */

#define XFER_SLOTS 2048     /* 2048 live objects of ~1 KiB mean: a few MiB in flight */
#define DEFAULT_OPS 100000  /* per CPU: ~0.3 s for 4 CPUs under TCG (x86_64) */

struct xobj {
    void *p;
    uint32_t size;
    uint32_t zero;          /* 1: allocated by calloc, checked zero before stamping */
};
static struct xobj *xfer;   /* XFER_SLOTS entries; each slot handed over by exchange */
static uint64_t *slot_word; /* 0: empty, 1: busy (taken), else the object pointer */
static uint32_t classes[GOHEAP_NUM_SIZE_CLASSES];
static unsigned nclasses;
static uint64_t ops_per_cpu;
static int with_tiny;       /* NOSCAN sizes < 16 B too (heap_tiny=0: not) */
static uint64_t made;       /* objects allocated by the workers (atomic) */

static unsigned long parse_ul(const char *s, unsigned long dflt)
{
    if (!s || !*s)
        return dflt;
    unsigned long v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (unsigned long)(*s - '0');
    return v ? v : dflt;
}

static size_t pick_size(uint64_t *rng, uint64_t r)
{
    unsigned k = (unsigned)(r % 128);
    if (k == 0)
        return 32769 + (size_t)(xorshift64s(rng) % (600u << 10));   /* large: 1 in 128 */
    size_t c = classes[(r >> 8) % nclasses];
    return (r >> 20) & 1 ? c : c - (size_t)((r >> 24) % 8 < c ? (r >> 24) % 8 : 0);
}

/* Allocate, check, stamp. */
static void *make(struct ktest *t, uint64_t *rng, size_t *sizep)
{
    uint64_t r = xorshift64s(rng);
    size_t sz = pick_size(rng, r);
    void *p;
    unsigned how = (unsigned)((r >> 40) % 16);
    if (how == 0) {
        p = goheap_calloc(1, sz);
        if (p)
            for (size_t i = 0; i < sz; i += (sz > 4096 ? 61 : 1))
                if (((uint8_t *)p)[i]) {
                    ktest_fail(t, __FILE__, __LINE__, "calloc(%zu) %p byte %zu not zero", sz, p, i);
                    break;
                }
    } else if (how == 1) {
        size_t al = (size_t)16 << ((r >> 44) % 9);             /* 16 B .. 4 KiB */
        p = goheap_aligned_alloc(al, sz);
        if (p && ((uintptr_t)p & (al - 1)))
            ktest_fail(t, __FILE__, __LINE__, "aligned_alloc(%zu, %zu) = %p", al, sz, p);
    } else if (how == 2) {
        p = goheap_malloc_flags(sz, GOHEAP_ALIGN8);
    } else if (how == 3) {
        if (!with_tiny && sz < 16)
            sz = 16;        /* the smallest NOSCAN size that is not tiny */
        p = goheap_malloc_flags(sz, GOHEAP_NOSCAN);
    } else {
        p = goheap_malloc(sz);
    }
    if (!p) {
        ktest_fail(t, __FILE__, __LINE__, "allocation of %zu bytes failed", sz);
        return 0;
    }
    hu_fill(p, sz);
    *sizep = sz;
    __atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
    return p;
}

static void drop(struct ktest *t, void *p, size_t sz)
{
    if (!hu_check(p, sz)) {
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: cookie of %p (size %zu) damaged", cpu_index(),
                   p, sz);
        if (sz < 16) {      /* a tiny object: show its 16 B block */
            const uint8_t *b = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)15);
            uint8_t want = (uint8_t)hu_cookie((uintptr_t)p, sz);
            ktest_log("block %p: %02x %02x %02x %02x %02x %02x %02x %02x  %02x %02x %02x %02x "
                      "%02x %02x %02x %02x; byte 0 of the object should be %02x", b, b[0], b[1],
                      b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                      b[14], b[15], want);
            struct mspan *sp = gh_span_of((uintptr_t)p);
            if (sp && sp->tinycount) {
                unsigned k = (unsigned)(((uintptr_t)b - sp->base) >> 4);
                ktest_log("span %p base 0x%lx spc %u owner 0x%x: block %u tinycount %u tinyends 0x%x",
                          sp, (unsigned long)sp->base, sp->spc, (unsigned)sp->owner, k,
                          (unsigned)sp->tinycount[k], (unsigned)sp->tinyends[k]);
            }
        }
    }
    goheap_free(p);
}

/* Slot protocol: a slot word is 0 (empty), 1 (busy) or the object's pointer, with
 * its size in xfer[i]; a CPU owns the slot between taking the word (exchange with 1)
 * and publishing a word again. Pointers are stored untagged: tiny objects may sit at
 * odd addresses, so no low bit is free for a tag. */
static void worker(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t rng = 0x1234567ull * (cpu + 1) + 99;
    uint64_t n = ops_per_cpu;
    /* Phase 1: one object of every class on every CPU, handed to the next CPU's slot
     * range, so every class sees a remote free. */
    for (unsigned c = 0; c < nclasses; c++) {
        /* Sizes that are not multiples of 16 (Go's 24 B class...) take ALIGN8. */
        void *p = goheap_malloc_flags(classes[c], classes[c] % 16 ? GOHEAP_ALIGN8 : 0);
        if (!p) {
            ktest_fail(t, __FILE__, __LINE__, "malloc(%u) failed", classes[c]);
            return;
        }
        hu_fill(p, classes[c]);
        unsigned i = (cpu * nclasses + c) % XFER_SLOTS;
        uint64_t w;
        while ((w = __atomic_exchange_n(&slot_word[i], 1, __ATOMIC_ACQUIRE)) == 1)
            arch_cpu_relax();
        if (w)
            drop(t, (void *)(uintptr_t)w, xfer[i].size);
        xfer[i].size = classes[c];
        __atomic_store_n(&slot_word[i], (uint64_t)(uintptr_t)p, __ATOMIC_RELEASE);
    }
    ktest_cpu_barrier();
    /* Phase 2: random swaps. */
    for (uint64_t op = 0; op < n; op++) {
        unsigned i = (unsigned)(xorshift64s(&rng) % XFER_SLOTS);
        uint64_t w;
        while ((w = __atomic_exchange_n(&slot_word[i], 1, __ATOMIC_ACQUIRE)) == 1)
            arch_cpu_relax();
        if (w)
            drop(t, (void *)(uintptr_t)w, xfer[i].size);
        uint64_t nw = 0;
        if (xorshift64s(&rng) & 1) {
            size_t sz;
            void *p = make(t, &rng, &sz);
            if (p) {
                xfer[i].size = (uint32_t)sz;
                nw = (uint64_t)(uintptr_t)p;
            }
        }
        __atomic_store_n(&slot_word[i], nw, __ATOMIC_RELEASE);
        if ((op & 1023) == 0)
            kheap_tick();
        if (t->failures)
            break;
    }
    ktest_cpu_barrier();
    /* Drain: each CPU empties a share of the slots. */
    unsigned nc = ktest_ncpus();
    for (unsigned i = cpu; i < XFER_SLOTS; i += nc) {
        uint64_t w = __atomic_exchange_n(&slot_word[i], 0, __ATOMIC_ACQUIRE);
        if (w > 1)
            drop(t, (void *)(uintptr_t)w, xfer[i].size);
    }
}

static void t_cross_cpu(struct ktest *t)
{
    static struct goheap_memstats a, b;
    nclasses = hu_classes(classes, GOHEAP_NUM_SIZE_CLASSES);
    ops_per_cpu = parse_ul(cmdline_get("heap_ops"), DEFAULT_OPS);
    with_tiny = !cmdline_get("heap_tiny") || parse_ul(cmdline_get("heap_tiny"), 0) != 0;
    xfer = goheap_calloc(XFER_SLOTS, sizeof *xfer);
    slot_word = goheap_calloc(XFER_SLOTS, sizeof *slot_word);
    KT_ASSERT(t, xfer && slot_word);
    goheap_read_memstats(&a);
    uint64_t t0 = arch_nanotime();
    ktest_on_all_cpus(t, worker, 0);
    uint64_t dt = arch_nanotime() - t0;
    /* Every CPU's cache lets go of its current tiny block, which counts as live. */
    goheap_free_os_memory();
    goheap_read_memstats(&b);
    uint64_t m = b.mallocs - a.mallocs, f = b.frees - a.frees;
    ktest_log("%u CPUs x %llu ops: %llu made, %llu mallocs, %llu frees in %llu ms",
              ktest_ncpus(), (unsigned long long)ops_per_cpu, (unsigned long long)made,
              (unsigned long long)m, (unsigned long long)f,
              (unsigned long long)(dt / 1000000));
    KT_EXPECT_EQ(t, m, f);
    KT_EXPECT_EQ(t, b.heap_objects, a.heap_objects);
    for (unsigned i = 1; i < GOHEAP_NUM_SIZE_CLASSES; i++)
        if (b.by_size[i].size && b.by_size[i].mallocs == a.by_size[i].mallocs)
            ktest_fail(t, __FILE__, __LINE__, "class %u (%u B) never allocated", i,
                       b.by_size[i].size);
    goheap_free(xfer);
    goheap_free(slot_word);
}

/* The same array, but only two CPUs: one allocates, the other frees (every free is
 * remote, full spans get refilled by remote frees). */
static void producer_consumer(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    if (cpu > 1)
        return;
    uint64_t rng = 777 + cpu;
    uint64_t n = ops_per_cpu / 2;
    for (uint64_t k = 0; k < n; k++) {
        unsigned i = (unsigned)(xorshift64s(&rng) % XFER_SLOTS);
        uint64_t w;
        while ((w = __atomic_exchange_n(&slot_word[i], 1, __ATOMIC_ACQUIRE)) == 1)
            arch_cpu_relax();
        uint64_t nw = w;
        if (cpu == 0 && !w) {
            size_t sz = classes[(unsigned)(xorshift64s(&rng) % nclasses)];
            void *p = goheap_malloc(sz);
            if (p) {
                hu_fill(p, sz);
                xfer[i].size = (uint32_t)sz;
                nw = (uint64_t)(uintptr_t)p;
            }
        } else if (cpu == 1 && w) {
            drop(t, (void *)(uintptr_t)w, xfer[i].size);
            nw = 0;
        }
        __atomic_store_n(&slot_word[i], nw, __ATOMIC_RELEASE);
    }
}

static void t_producer_consumer(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    xfer = goheap_calloc(XFER_SLOTS, sizeof *xfer);
    slot_word = goheap_calloc(XFER_SLOTS, sizeof *slot_word);
    KT_ASSERT(t, xfer && slot_word);
    ktest_on_all_cpus(t, producer_consumer, 0);
    for (unsigned i = 0; i < XFER_SLOTS; i++)
        if (slot_word[i] > 1)
            drop(t, (void *)(uintptr_t)slot_word[i], xfer[i].size);
    goheap_free(xfer);
    goheap_free(slot_word);
}

static void t_free_os_memory(struct ktest *t)
{
    static struct goheap_memstats ms;
    goheap_free_os_memory();
    goheap_read_memstats(&ms);
    ktest_log("after stress: heap_sys %llu KiB, idle %llu KiB, released %llu KiB, objects %llu",
              (unsigned long long)(ms.heap_sys >> 10), (unsigned long long)(ms.heap_idle >> 10),
              (unsigned long long)(ms.heap_released >> 10), (unsigned long long)ms.heap_objects);
    KT_EXPECT(t, ms.heap_released * 100 >= ms.heap_idle * 99);
}

/* Cross-CPU drain (GOHEAP_SYS_DRAIN_REMOTE in the kernel platform): CPU 1 fills
 * DRAIN_SPANS spans of one class and keeps them (its current span, GH_PARK_MAX
 * parked, the rest in mcentral); CPU 0 frees every object (remote frees, so the
 * parked spans are empty but still CPU 1's), then runs the reclaim pass while CPU 1
 * waits at a barrier without touching the heap. CPU 1's parked spans of that class
 * must be gone and the heap's in-use bytes down by at least their size. Needs no
 * tick: nothing but CPU 0's pass can take them (CPU 1 refills 20 times, far from
 * its own drain every GH_REFILLS_PER_BG_POLL refills). */
#define DRAIN_SIZE 256u                  /* 64 objects per 16 KiB span */
#define DRAIN_SPANS 20u
#define DRAIN_OBJS (DRAIN_SPANS * 64u)
static void *drain_objs[DRAIN_OBJS];
static struct { unsigned spc, parked_before, parked_after, reclaimed; uint64_t in0, in1, in2; } drain;

static unsigned parked_of(unsigned cpu, unsigned spc)
{
    struct mcache *c = __atomic_load_n(&gh_fast.caches[cpu], __ATOMIC_ACQUIRE);
    return c == &gh_emptycache ? 0 : c->parked[spc].n;
}

static uint64_t inuse_now(void)
{
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    return ms.heap_inuse;
}

static void drain_idle(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    if (cpu == 1) {
        for (unsigned i = 0; i < DRAIN_OBJS; i++) {
            drain_objs[i] = goheap_malloc(DRAIN_SIZE);
            if (drain_objs[i])
                hu_fill(drain_objs[i], DRAIN_SIZE);
        }
        if (drain_objs[0])
            drain.spc = gh_span_of((uintptr_t)drain_objs[0])->spc;
        drain.parked_before = parked_of(1, drain.spc);
    }
    ktest_cpu_barrier();
    if (cpu == 0) {
        drain.in0 = inuse_now();
        for (unsigned i = 0; i < DRAIN_OBJS; i++) {
            KT_EXPECT(t, drain_objs[i] && hu_check(drain_objs[i], DRAIN_SIZE));
            goheap_free(drain_objs[i]);
        }
        drain.in1 = inuse_now();
        drain.reclaimed = gh_reclaim();  /* CPU 1 is at the barrier below meanwhile */
        drain.in2 = inuse_now();
        drain.parked_after = parked_of(1, drain.spc);
    }
    ktest_cpu_barrier();
}

static void t_drain_idle_cpu(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    goheap_free_os_memory();             /* the earlier cases' parked spans go first */
    ktest_on_all_cpus(t, drain_idle, 0);
    ktest_log("cpu 1 parked %u spans of class %u; cpu 0 freed them, its pass gave back %u "
              "spans, cpu 1 parked %u after; in use %llu -> %llu -> %llu KiB",
              drain.parked_before, drain.spc, drain.reclaimed, drain.parked_after,
              (unsigned long long)(drain.in0 >> 10), (unsigned long long)(drain.in1 >> 10),
              (unsigned long long)(drain.in2 >> 10));
    KT_EXPECT(t, drain.parked_before == GH_PARK_MAX);
    KT_EXPECT(t, drain.parked_after == 0);
    KT_EXPECT(t, drain.reclaimed >= drain.parked_before);
    KT_EXPECT(t, drain.in1 >= drain.in2 + (uint64_t)drain.parked_before *
                                          goheap_class_to_npages[drain.spc >> 1] * GOHEAP_PAGE_SIZE);
}

/* MemStats read on two CPUs (each cache's drain lock waited for, pinned) while the
 * others refill (their drain locks held, pinned), allocate and free large objects and
 * give memory back (goheap_free_os_memory: an each_cpu round and shootdowns, which
 * wait for every CPU, readers included). The readers must finish and every round
 * must complete: no CPU waits, pinned, for one that waits for it. */
#define MS_ROUNDS 400u
static unsigned ms_done[MAX_CPUS];
static void memstats_mix(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    static struct goheap_memstats ms[MAX_CPUS];
    ktest_cpu_barrier();
    for (unsigned r = 0; r < MS_ROUNDS; r++) {
        if (cpu < 2) {
            goheap_read_memstats(&ms[cpu]);
            KT_EXPECT(t, ms[cpu].heap_objects == ms[cpu].mallocs - ms[cpu].frees);
        } else {
            void *small[16], *big = goheap_malloc((cpu & 1) ? (1u << 20) : (300u << 10));
            for (unsigned i = 0; i < 16; i++)
                small[i] = goheap_malloc(16u << (i % 10));
            for (unsigned i = 0; i < 16; i++)
                goheap_free(small[i]);
            goheap_free(big);
            if (r % 50 == 49)
                goheap_free_os_memory();
        }
        ms_done[cpu]++;
    }
}

static void t_memstats_while_shooting(struct ktest *t)
{
    if (ktest_ncpus() < 3)
        KT_SKIP(t, "needs 3 CPUs");
    uint64_t rounds0 = smp_call_rounds();
    ktest_on_all_cpus(t, memstats_mix, 0);
    for (unsigned c = 0; c < ktest_ncpus(); c++)
        KT_EXPECT_EQ(t, ms_done[c], MS_ROUNDS);
    ktest_log("%llu cross-CPU call rounds meanwhile", (unsigned long long)(smp_call_rounds() - rounds0));
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_stress_cases[] = {
    KTEST_CASE(t_cross_cpu), KTEST_CASE(t_producer_consumer), KTEST_CASE(t_free_os_memory),
    KTEST_CASE(t_drain_idle_cpu), KTEST_CASE(t_memstats_while_shooting), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_stress, "heap_stress", heap_stress_cases, hu_init, 0);
