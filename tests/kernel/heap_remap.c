/* tests/kernel/heap_remap.c: realloc's zero-copy move in the kernel (alloc/remap.c over
 * arch_remap): a 64 MiB object moved with 0 bytes copied, the old range unmapped and
 * faulting on a CPU that read it before the move (the TLB shootdown), out of frames in
 * the middle, for the destination's page tables (a test hook takes every frame just
 * before arch_remap) or for its tail (NULL after the last resort and a retry, old block intact;
 * the retry moves it when the last resort found frames to give back), and a destination holding lazily released,
 * still-mapped pages (madvdontneed=0 boot: frames given back == reclaimed). */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <fault.h>
#include <frame.h>
#include <goheap.h>
#include <ktest.h>
#include <percpu.h>
#include <string.h>

#include "frame_util.h"
#include "heap_util.h"

static struct goheap_memstats ms0, ms1;

static uint64_t metric(const char *name)
{
    static struct goheap_metric m[128];
    size_t n = goheap_read_metrics(m, 128);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return ~0ull;
}

/* One word per frame: its index mixed with a seed. */
static void fill(uint64_t *p, size_t bytes, uint64_t seed)
{
    for (size_t i = 0; i < bytes / 8; i += ARCH_FRAME_SIZE / 8)
        p[i] = i * 0x9e3779b97f4a7c15ull ^ seed;
}
static size_t check(const uint64_t *p, size_t bytes, uint64_t seed)
{
    size_t bad = 0;
    for (size_t i = 0; i < bytes / 8; i += ARCH_FRAME_SIZE / 8)
        bad += p[i] != (i * 0x9e3779b97f4a7c15ull ^ seed);
    return bad;
}

/* Blockers that keep a large object from growing in place: 1 MiB objects taken until
 * one sits right after p's pages (first fit fills the free run after p, but a per-CPU
 * cache of freed large spans may hand out others first), chained through their first
 * word. When none lands there within `tries`, the free run after p is under 1 MiB
 * and the tests' growth by >= 1 MiB cannot happen in place either (on one CPU; with
 * others allocating, the run may be theirs, which blocks it just as well). */
#define BLOCK_TRIES 64
static void *block_after_n(const void *p, size_t bytes, int tries)
{
    uintptr_t end = ((uintptr_t)p + bytes + 8191) & ~(uintptr_t)8191;
    void *chain = 0;
    for (int i = 0; i < tries; i++) {
        void **b = goheap_malloc(1u << 20);
        if (!b)
            break;
        *b = chain;
        chain = b;
        if ((uintptr_t)b == end)
            break;
    }
    return chain;
}
static void *block_after(const void *p, size_t bytes) { return block_after_n(p, bytes, BLOCK_TRIES); }
static void unblock(void *chain)
{
    while (chain) {
        void *next = *(void **)chain;
        goheap_free(chain);
        chain = next;
    }
}

/* A large object of `bytes`, one word per frame filled from seed, that cannot grow in
 * place (*blocker: block_after's chain, for unblock); NULL when out of memory. */
static uint64_t *boxed_in(size_t bytes, uint64_t seed, void **blocker)
{
    uint64_t *p = goheap_malloc(bytes);
    *blocker = p ? block_after(p, bytes) : 0;
    if (!*blocker) {
        goheap_free(p);
        return 0;
    }
    fill(p, bytes, seed);
    return p;
}

/* The target: a 64 MiB realloc that moves copies no bytes. */
static void t_remap_64mib(struct ktest *t)
{
    const size_t old = 64u << 20, n = old + 8192;
    void *blocker;
    uint64_t *p = boxed_in(old, 1, &blocker); /* no growth in place */
    KT_ASSERT(t, p != 0);
    goheap_read_memstats(&ms0);
    uint64_t rb0 = kplat_stats.remapped_bytes, rc0 = kplat_stats.remap_calls;
    unsigned long s0 = arch_tlb_shootdowns();
    uint64_t t0 = arch_nanotime();
    uint64_t *q = goheap_realloc(p, n);
    uint64_t t1 = arch_nanotime();
    goheap_read_memstats(&ms1);
    KT_ASSERT(t, q != 0);
    ktest_log("64 MiB realloc: moved %p -> %p in %llu us, copied %llu B, remapped %llu KiB "
              "(platform: %llu call, %llu KiB), %lu shootdowns",
              (void *)p, (void *)q, (unsigned long long)((t1 - t0) / 1000),
              (unsigned long long)(ms1.realloc_copied - ms0.realloc_copied),
              (unsigned long long)((ms1.realloc_remapped - ms0.realloc_remapped) >> 10),
              (unsigned long long)(kplat_stats.remap_calls - rc0),
              (unsigned long long)((kplat_stats.remapped_bytes - rb0) >> 10), arch_tlb_shootdowns() - s0);
    KT_EXPECT(t, q != p);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, ms1.realloc_remapped - ms0.realloc_remapped, old);
    KT_EXPECT_EQ(t, kplat_stats.remapped_bytes - rb0, old);
    KT_EXPECT_EQ(t, check(q, old, 1), 0);
    KT_EXPECT(t, goheap_usable_size(q) >= n);
    uint64_t pa, v;
    KT_EXPECT(t, !arch_translate((uintptr_t)p, &pa) && !arch_translate((uintptr_t)p + old - 8, &pa));
    KT_EXPECT(t, fault_probe_read(p, &v, 0));
    memset((char *)q + old, 7, n - old);
    unblock(blocker);
    goheap_free(q);
}

/* Another CPU read the old range (its TLB holds it) before the move; afterwards its
 * next access faults, and it reads the data at the new address. */
static struct {
    uint64_t *volatile p, *volatile q;
    size_t bytes;
} xc;

static void cross_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t v;
    if (cpu == 0) {
        xc.p = goheap_malloc(xc.bytes);
        fill(xc.p, xc.bytes, 2);
    }
    ktest_cpu_barrier();
    size_t bad = check(xc.p, xc.bytes, 2); /* every CPU walks the old range */
    if (bad)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: %zu words wrong before the move", cpu, bad);
    ktest_cpu_barrier();
    if (cpu == 0) {
        void *blocker = block_after(xc.p, xc.bytes);
        xc.q = goheap_realloc(xc.p, 2 * xc.bytes);
        unblock(blocker);
    }
    ktest_cpu_barrier();
    struct fault_info fi;
    for (size_t off = 0; xc.q && off < xc.bytes; off += 64 * ARCH_FRAME_SIZE)
        if (!fault_probe_read((char *)xc.p + off, &v, &fi)) {
            ktest_fail(t, __FILE__, __LINE__, "cpu %u still reads the old range at +0x%zx (0x%llx)", cpu,
                       off, (unsigned long long)v);
            break;
        }
    bad = xc.q ? check(xc.q, xc.bytes, 2) : 1;
    if (bad)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: %zu words wrong after the move", cpu, bad);
    ktest_cpu_barrier();
}

static void t_remap_other_cpus(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    xc.bytes = 4u << 20;
    uint64_t r0 = metric("/goheap/realloc/remaps:calls"), f0 = metric("/goheap/realloc/remap-fallbacks:calls");
    uint64_t c0 = metric("/goheap/realloc/copied:bytes"), pf0 = kplat_stats.remap_failures;
    ktest_on_all_cpus(t, cross_cpu, 0);
    ktest_log("%u CPUs: %p -> %p, remaps +%llu, fallbacks +%llu, copied +%llu B, platform refusals +%llu",
              ktest_ncpus(), (void *)xc.p, (void *)xc.q,
              (unsigned long long)(metric("/goheap/realloc/remaps:calls") - r0),
              (unsigned long long)(metric("/goheap/realloc/remap-fallbacks:calls") - f0),
              (unsigned long long)(metric("/goheap/realloc/copied:bytes") - c0),
              (unsigned long long)(kplat_stats.remap_failures - pf0));
    KT_EXPECT(t, xc.q && xc.q != xc.p);
    KT_EXPECT_EQ(t, metric("/goheap/realloc/remaps:calls"), r0 + 1);
    goheap_free(xc.q);
}

/* The out-of-frames cases' object: 16 MiB freed first (free pages for the
 * destination), then 2 MiB filled from seed that cannot grow in place (*blocker);
 * NULL when out of memory. */
static uint64_t *oom_object(uint64_t seed, void **blocker)
{
    void *room = goheap_malloc(16u << 20);
    if (!room)
        return 0;
    goheap_free(room);
    return boxed_in(2u << 20, seed, blocker);
}
/* realloc(p, bytes) with every frame taken (without a pull) just before; the frames
 * taken before and after it in *n and *more, all given back. */
static void *realloc_without_frames(void *p, size_t bytes, uint64_t *n, uint64_t *more)
{
    uint64_t chain = 0;
    arch_irqflags_t f = arch_irq_save();
    *n = fu_take_all_frames(&chain);
    arch_irq_restore(f);
    void *q = goheap_realloc(p, bytes);
    *more = fu_take_all_frames(&chain); /* what a pull may have freed meanwhile */
    fu_give_back(chain);
    return q;
}

/* Out of frames in the middle of the move, for the tail (the destination is released
 * pages, so nothing comes back from it; its tail cannot be mapped): the last resort
 * finds nothing to give back either (every free page released just before), and its
 * retry fails the same way: NULL, the old block intact, the heap whole; with frames
 * again the same realloc remaps. */
static void t_remap_oom(struct ktest *t)
{
    if (hu_lazy_asked())
        KT_SKIP(t, "lazy mode: the destination's lazily released frames would feed the tail");
    void *blocker;
    uint64_t *p = oom_object(3, &blocker);
    KT_ASSERT(t, p != 0);
    goheap_free_os_memory(); /* every free page released */
    uint64_t nm0 = metric("/goheap/realloc/remap-nomem:calls"), n, more;
    void *q = realloc_without_frames(p, 4u << 20, &n, &more);
    ktest_log("out of frames (%llu + %llu taken): realloc -> %p, remap-nomem +%llu", (unsigned long long)n,
              (unsigned long long)more, q, (unsigned long long)(metric("/goheap/realloc/remap-nomem:calls") - nm0));
    KT_EXPECT(t, q == 0);
    KT_EXPECT_EQ(t, metric("/goheap/realloc/remap-nomem:calls"), nm0 + 2); /* the move, its retry */
    KT_EXPECT_EQ(t, check(p, 2u << 20, 3), 0);
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    goheap_read_memstats(&ms0);
    q = goheap_realloc(p, 4u << 20);
    goheap_read_memstats(&ms1);
    KT_ASSERT(t, q != 0);
    KT_EXPECT_EQ(t, check(q, 2u << 20, 3), 0);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, ms1.realloc_remapped - ms0.realloc_remapped, 2u << 20);
    unblock(blocker);
    goheap_free(q);
}

/* The same with this CPU's large span cache holding 3.8 MiB of backed spans when the
 * frames run out: the tail cannot be mapped, the last resort drains the cache and
 * releases those spans' frames, and the move's retry maps its tail with them: the
 * object moves, no byte copied. Before, realloc returned NULL at the first failure
 * (remap.c's NOMEM went straight back), with the frames the retry needed in the heap. */
#define CACHED_SPANS 16
static void t_remap_oom_cached(struct ktest *t)
{
    if (hu_lazy_asked())
        KT_SKIP(t, "lazy mode: the destination's lazily released frames would feed the tail");
    void *blocker, *spare[CACHED_SPANS];
    uint64_t *p = oom_object(7, &blocker);
    KT_ASSERT(t, p != 0);
    for (unsigned i = 0; i < CACHED_SPANS; i++) {
        size_t bytes = (size_t)(32 - i % 4) * 8192; /* 29-32 pages: 4 a page count */
        spare[i] = goheap_malloc(bytes);
        KT_ASSERT(t, spare[i] != 0);
        memset(spare[i], 1, bytes);
    }
    goheap_free_os_memory(); /* every free page released */
    for (unsigned i = 0; i < CACHED_SPANS; i++)
        goheap_free(spare[i]); /* into this CPU's large span cache, backed */
    goheap_read_memstats(&ms0);
    uint64_t nm0 = metric("/goheap/realloc/remap-nomem:calls"), n, more;
    void *q = realloc_without_frames(p, 4u << 20, &n, &more);
    goheap_read_memstats(&ms1);
    ktest_log("out of frames (%llu + %llu taken), %llu KiB idle in the large span cache: realloc -> %p, "
              "remap-nomem +%llu, remapped %llu KiB, copied %llu B",
              (unsigned long long)n, (unsigned long long)more,
              (unsigned long long)((ms0.heap_idle - ms0.heap_released) >> 10), q,
              (unsigned long long)(metric("/goheap/realloc/remap-nomem:calls") - nm0),
              (unsigned long long)((ms1.realloc_remapped - ms0.realloc_remapped) >> 10),
              (unsigned long long)(ms1.realloc_copied - ms0.realloc_copied));
    KT_EXPECT(t, ms0.heap_idle - ms0.heap_released >= CACHED_SPANS * 29 * 8192ull);
    KT_ASSERT(t, q != 0);
    KT_EXPECT_EQ(t, metric("/goheap/realloc/remap-nomem:calls"), nm0 + 1);
    KT_EXPECT_EQ(t, ms1.realloc_remapped - ms0.realloc_remapped, 2u << 20);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, check(q, 2u << 20, 7), 0);
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    unblock(blocker);
    goheap_free(q);
}

/* Out of frames for the destination's page tables, after realloc mapped the tail: the
 * platform's test hook takes every frame just before arch_remap. The suite's first case,
 * so the heap is fresh and the destination's head lies in arena never mapped before: it
 * needs page tables of its own, and arch_remap fails before any entry moves, at the
 * move and at its retry after the last resort (the hook takes what that gave back).
 * NULL, the old block intact and still mapped, the tail given back, the heap whole;
 * then the same realloc remaps. */
static uint64_t hook_chain, hook_taken;
static void take_frames_hook(void)
{
    arch_irqflags_t f = arch_irq_save(); /* no pull */
    hook_taken += fu_take_all_frames(&hook_chain);
    arch_irq_restore(f);
}

static void t_remap_oom_tables(struct ktest *t)
{
    const size_t old = 8u << 20;
    void *blocker;
    uint64_t *p = boxed_in(old, 5, &blocker);
    KT_ASSERT(t, p != 0);
    uint64_t nm0 = metric("/goheap/realloc/remap-nomem:calls"), an0 = kplat_stats.remap_nomem;
    uint64_t rc0 = kplat_stats.remap_calls, now0 = kplat_stats.frames_now, pa0, pa;
    KT_ASSERT(t, arch_translate((uintptr_t)p, &pa0));
    hook_chain = hook_taken = 0;
    __atomic_store_n(&kplat_remap_test_hook, take_frames_hook, __ATOMIC_RELEASE);
    void *q = goheap_realloc(p, 2 * old);
    __atomic_store_n(&kplat_remap_test_hook, (void (*)(void))0, __ATOMIC_RELEASE);
    fu_give_back(hook_chain);
    ktest_log("out of frames for the destination's tables (%llu taken before arch_remap): realloc -> %p, "
              "arch_remap out of frames +%llu, remap-nomem +%llu, heap frames %lld after",
              (unsigned long long)hook_taken, q, (unsigned long long)(kplat_stats.remap_nomem - an0),
              (unsigned long long)(metric("/goheap/realloc/remap-nomem:calls") - nm0),
              (long long)(kplat_stats.frames_now - now0));
    KT_EXPECT(t, hook_taken > 0);
    KT_EXPECT(t, q == 0);
    KT_EXPECT_EQ(t, kplat_stats.remap_nomem - an0, 2); /* the move, its retry */
    KT_EXPECT_EQ(t, kplat_stats.remap_calls, rc0);
    KT_EXPECT_EQ(t, metric("/goheap/realloc/remap-nomem:calls"), nm0 + 2);
    KT_EXPECT(t, arch_translate((uintptr_t)p, &pa) && pa == pa0);
    KT_EXPECT_EQ(t, check(p, old, 5), 0);
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    goheap_read_memstats(&ms0);
    q = goheap_realloc(p, 2 * old);
    goheap_read_memstats(&ms1);
    KT_ASSERT(t, q != 0);
    KT_EXPECT(t, q != p);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, ms1.realloc_remapped - ms0.realloc_remapped, old);
    KT_EXPECT_EQ(t, check(q, old, 5), 0);
    unblock(blocker);
    goheap_free(q);
}

/* A destination of lazily released pages, still mapped: they are unmapped first and
 * counted reclaimed, so frames given back == eager released (0 here) + reclaimed, and
 * the heap's frames change by exactly the fresh tail minus those. */
static void t_remap_lazy_destination(struct ktest *t)
{
    if (!hu_lazy_asked())
        KT_SKIP(t, "eager mode: no lazily released page stays mapped");
    goheap_free_os_memory();
    void *room = goheap_malloc(16u << 20);
    KT_ASSERT(t, room != 0);
    memset(room, 1, 16u << 20);
    goheap_free(room);
    void *blocker;
    uint64_t *p = boxed_in(2u << 20, 4, &blocker);
    KT_ASSERT(t, p != 0);
    goheap_free_os_memory(); /* lazily: the 16 MiB stay mapped */
    goheap_read_memstats(&ms0);
    uint64_t now0 = kplat_stats.frames_now, ub0 = kplat_stats.unmapped_bytes, mf0 = kplat_stats.mapped_frames;
    uint64_t *q = goheap_realloc(p, 4u << 20);
    goheap_read_memstats(&ms1);
    KT_ASSERT(t, q != 0);
    uint64_t recl = ms1.lazy_reclaimed - ms0.lazy_reclaimed, back = kplat_stats.unmapped_bytes - ub0;
    uint64_t mapped = (kplat_stats.mapped_frames - mf0) * ARCH_FRAME_SIZE;
    ktest_log("lazy destination: reclaimed %llu KiB, unmapped %llu KiB, tail mapped %llu KiB, heap frames "
              "%lld KiB, released lazily %llu -> %llu KiB",
              (unsigned long long)(recl >> 10), (unsigned long long)(back >> 10), (unsigned long long)(mapped >> 10),
              (long long)((int64_t)(kplat_stats.frames_now - now0) * (int64_t)ARCH_FRAME_SIZE / 1024),
              (unsigned long long)(ms0.heap_released_lazy >> 10), (unsigned long long)(ms1.heap_released_lazy >> 10));
    KT_EXPECT(t, recl > 0);
    KT_EXPECT(t, back >= recl); /* the run's range, holes (unbacked pages) included */
    KT_EXPECT_EQ(t, ms0.heap_released_lazy - ms1.heap_released_lazy, recl);
    KT_EXPECT_EQ(t, (int64_t)(kplat_stats.frames_now - now0) * (int64_t)ARCH_FRAME_SIZE,
                 (int64_t)mapped - (int64_t)recl);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, check(q, 2u << 20, 4), 0);
    unblock(blocker);
    goheap_free(q);
}

/* Out of frames for the destination's page tables while the heap still maps lazily
 * released pages: the core reclaims some of them (arch_remap may not pull them: it runs
 * inside the unmap gate, arch_paging.h) and the second try moves. Alone in its boot (kheap-remap-pull), so
 * the heap is fresh: the object and its blockers lie lowest, then a 16 MiB run released
 * lazily, held at 16 MiB by blockers of its own, and the 64 MiB destination, too large
 * for that run, above them in arena never mapped, with no page table for its head yet. The test hook takes
 * every frame just before the first arch_remap. */
static unsigned hook_calls;
static void take_frames_once_hook(void) /* the retry finds what the reclaim gave back */
{
    if (hook_calls++ == 0)
        take_frames_hook();
}

static void t_remap_oom_tables_lazy_pull(struct ktest *t)
{
    if (!hu_lazy_asked())
        KT_SKIP(t, "eager mode: no lazily released page stays mapped");
    const size_t old = 8u << 20;
    void *blocker, *room_blocker;
    uint64_t *p = boxed_in(old, 6, &blocker);
    KT_ASSERT(t, p != 0);
    void *room = goheap_malloc(16u << 20);
    KT_ASSERT(t, room != 0);
    room_blocker = block_after(room, 16u << 20); /* the lazy run stays 16 MiB */
    KT_ASSERT(t, room_blocker != 0);
    memset(room, 1, 16u << 20);
    goheap_free(room);
    goheap_free_os_memory(); /* lazily: the 16 MiB stay mapped */
    goheap_read_memstats(&ms0);
    uint64_t an0 = kplat_stats.remap_nomem, rc0 = kplat_stats.remap_calls;
    hook_chain = hook_taken = hook_calls = 0;
    __atomic_store_n(&kplat_remap_test_hook, take_frames_once_hook, __ATOMIC_RELEASE);
    uint64_t *q = goheap_realloc(p, 8 * old);
    __atomic_store_n(&kplat_remap_test_hook, (void (*)(void))0, __ATOMIC_RELEASE);
    fu_give_back(hook_chain);
    goheap_read_memstats(&ms1);
    ktest_log("out of frames for the tables, %llu KiB lazily released before: realloc -> %p, arch_remap out "
              "of frames +%llu, moves +%llu, reclaimed %llu KiB",
              (unsigned long long)(ms0.heap_released_lazy >> 10), (void *)q,
              (unsigned long long)(kplat_stats.remap_nomem - an0), (unsigned long long)(kplat_stats.remap_calls - rc0),
              (unsigned long long)((ms1.lazy_reclaimed - ms0.lazy_reclaimed) >> 10));
    KT_EXPECT(t, ms0.heap_released_lazy >= (16u << 20));
    KT_EXPECT(t, hook_taken > 0);
    KT_EXPECT_EQ(t, hook_calls, 2);
    KT_ASSERT(t, q != 0);
    KT_EXPECT(t, q != p);
    KT_EXPECT_EQ(t, kplat_stats.remap_nomem - an0, 1);
    KT_EXPECT_EQ(t, kplat_stats.remap_calls - rc0, 1);
    KT_EXPECT(t, ms1.lazy_reclaimed > ms0.lazy_reclaimed);
    KT_EXPECT_EQ(t, ms1.realloc_copied - ms0.realloc_copied, 0);
    KT_EXPECT_EQ(t, ms1.realloc_remapped - ms0.realloc_remapped, old);
    KT_EXPECT_EQ(t, check(q, old, 6), 0);
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    unblock(blocker);
    unblock(room_blocker);
    goheap_free(q);
}

/* Moves while other CPUs read and release heap memory: CPU 0 grows objects from 1 to
 * 16 MiB by doubling, each step boxed in (a few blockers at most: the others allocate
 * too) so that most steps move (remap); CPU 1 runs the leak
 * scan over and over (it reads every in-use object, under the unmap gate), CPU 2
 * releases every free page (goheap_free_os_memory: the scavenger's unmaps, each CPU's
 * caches flushed by IPI), CPU 3 churns 4 KiB..256 KiB objects. A read of a range that
 * stopped being backed would be an unexpected fault (a panic); the moved objects keep
 * their contents, and the moves really remapped. Its own suite, heap_movescan, booted
 * under multi-threaded TCG (kheap-movescan): single-threaded TCG runs one vCPU at a
 * time, and each broadcast TLBI of an aarch64 unmap then waits for a pass over the
 * other vCPUs, which spin on the unmap gate: one 416-page unmap had not finished after
 * 100 s (x86_64's one IPI round per range does not have this). */
#define SCAN_ROUNDS 2
static volatile int scan_done;
static struct {
    uint64_t remaps0, remaps1, scans, releases, release_max_ns, churn, bad;
} sc;

static void scan_count(const struct goheap_leak *l, void *ctx) { (void)l, (void)ctx; }

static void remap_vs_readers(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t, (void)arg;
    ktest_cpu_barrier();
    if (cpu == 0) {
        for (unsigned r = 0; r < SCAN_ROUNDS; r++) {
            size_t sz = 1u << 20;
            void *blockers[4];
            uint64_t *p = goheap_malloc(sz);
            if (!p) {
                sc.bad++;
                break;
            }
            fill(p, sz, 10 + r);
            for (unsigned k = 0; k < 4 && p; k++, sz *= 2) {
                blockers[k] = block_after_n(p, sz, 4);
                uint64_t *q = goheap_realloc(p, 2 * sz);
                if (!q || check(q, 1u << 20, 10 + r))
                    sc.bad++;
                p = q;
            }
            goheap_free(p);
            for (unsigned k = 0; k < 4; k++)
                unblock(blockers[k]);
        }
        __atomic_store_n(&scan_done, 1, __ATOMIC_RELEASE);
    } else {
        static void *slot[MAX_CPUS][16];
        for (unsigned i = 0; !__atomic_load_n(&scan_done, __ATOMIC_ACQUIRE); i++) {
            if (cpu == 1) {
                goheap_leak_scan(scan_count, 0);
                sc.scans++;
            } else if (cpu == 2) {
                uint64_t t0 = arch_nanotime();
                goheap_free_os_memory();
                uint64_t d = arch_nanotime() - t0;
                sc.release_max_ns = d > sc.release_max_ns ? d : sc.release_max_ns;
                sc.releases++;
            } else {
                unsigned k = i & 15;
                goheap_free(slot[cpu][k]);
                slot[cpu][k] = goheap_malloc((size_t)4096 << (i % 7));
                sc.churn++;
            }
        }
        if (cpu >= 3)
            for (unsigned k = 0; k < 16; k++) {
                goheap_free(slot[cpu][k]);
                slot[cpu][k] = 0;
            }
    }
    ktest_cpu_barrier();
}

static void t_remap_while_scanning(struct ktest *t)
{
    if (ktest_ncpus() < 3)
        KT_SKIP(t, "needs 3 CPUs");
    __builtin_memset(&sc, 0, sizeof sc);
    scan_done = 0;
    sc.remaps0 = metric("/goheap/realloc/remaps:calls");
    ktest_on_all_cpus(t, remap_vs_readers, 0);
    sc.remaps1 = metric("/goheap/realloc/remaps:calls");
    ktest_log("%u rounds of 1 -> 16 MiB: %llu remaps, %llu wrong, against %llu leak scans, %llu "
              "free_os_memory (longest %llu ms), %llu churn ops",
              SCAN_ROUNDS, (unsigned long long)(sc.remaps1 - sc.remaps0), (unsigned long long)sc.bad,
              (unsigned long long)sc.scans, (unsigned long long)sc.releases,
              (unsigned long long)(sc.release_max_ns / 1000000), (unsigned long long)sc.churn);
    KT_EXPECT_EQ(t, sc.bad, 0);
    KT_EXPECT(t, sc.remaps1 - sc.remaps0 >= SCAN_ROUNDS); /* measured: 10-13 of 16 with 4 rounds */
    KT_EXPECT(t, sc.scans > 0 && sc.releases > 0);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_remap_cases[] = {
    KTEST_CASE(t_remap_oom_tables), /* first: needs a fresh heap */
    KTEST_CASE(t_remap_64mib),
    KTEST_CASE(t_remap_other_cpus),
    KTEST_CASE(t_remap_oom),
    KTEST_CASE(t_remap_oom_cached),
    KTEST_CASE(t_remap_lazy_destination),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_remap, "heap_remap", heap_remap_cases, hu_init, 0);

static const struct ktest_case heap_tablepull_cases[] = {
    KTEST_CASE(t_remap_oom_tables_lazy_pull),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_tablepull, "heap_tablepull", heap_tablepull_cases, hu_init, 0);

static const struct ktest_case heap_movescan_cases[] = {
    KTEST_CASE(t_remap_while_scanning),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_movescan, "heap_movescan", heap_movescan_cases, hu_init, 0);
