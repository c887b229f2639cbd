/* tests/kernel/heap_maplat.c: a large allocation maps its pages (and so zeroes every
 * frame) with interrupts on and no heap lock held (alloc/mheap.c, gh_heap_map_span): a
 * cross-CPU call aimed at the allocating CPU is served in the middle of the map, out of
 * frames in the map returns NULL with the heap whole, and (logged, not asserted) how
 * long calls to that CPU wait while it allocates (docs/kernel-heap.md, "Latency of a
 * map"). */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <goheap.h>
#include <ktest.h>
#include <smp.h>

#include "frame_util.h"
#include "heap_util.h"

/* A map counts as the large one from this size on (other maps are a page cache's or
 * metadata's: 15 pages at most, or a few frames). */
#define BIG_MAP_BYTES (4u << 20)
/* How long the hook waits, in the map, for the other CPU's call to be served: long
 * enough for an IPI under single-threaded TCG (milliseconds), and what a CPU that
 * maps with interrupts masked (the old pinned map) holds the other one up. */
#define HOOK_WAIT_NS 2000000000ull
#define WAIT_NS 20000000000ull

static struct {
    size_t bytes;
    void *p;
    int armed, in_map, served_in_map, go, done;
    unsigned long served, calls;
    uint64_t longest_ns, alloc_ns;
    unsigned count;
    void **objs;
} ml;

static void count_call(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ml.served, 1, __ATOMIC_RELAXED);
}

/* Waits until flag is set or the time is up (a CPU whose partner never arrives). */
static int wait_for(int *flag)
{
    uint64_t t0 = arch_nanotime();
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        if (arch_nanotime() - t0 > WAIT_NS)
            return 0;
        else
            arch_cpu_relax();
    return 1;
}

/* In the large map, on the allocating CPU: tells CPU 1 to call this CPU and waits for
 * the call to be served (it is at once with interrupts on; never, until the time is
 * up, with them masked). */
static void serve_in_map(uintptr_t va, size_t bytes)
{
    (void)va;
    if (bytes < BIG_MAP_BYTES || !__atomic_exchange_n(&ml.armed, 0, __ATOMIC_ACQ_REL))
        return;
    unsigned long s0 = __atomic_load_n(&ml.served, __ATOMIC_ACQUIRE);
    __atomic_store_n(&ml.in_map, 1, __ATOMIC_RELEASE);
    uint64_t t0 = arch_nanotime();
    while (__atomic_load_n(&ml.served, __ATOMIC_ACQUIRE) == s0 && arch_nanotime() - t0 < HOOK_WAIT_NS)
        arch_cpu_relax();
    ml.served_in_map = __atomic_load_n(&ml.served, __ATOMIC_ACQUIRE) != s0;
}

static void ipi_in_map(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 0) {
        __atomic_store_n(&ml.armed, 1, __ATOMIC_RELEASE);
        ml.p = goheap_malloc(ml.bytes);
        __atomic_store_n(&ml.armed, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&ml.done, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1 && wait_for(&ml.in_map)) {
        smp_call_cpu(0, count_call, 0);
    }
    ktest_cpu_barrier();
}

/* The behaviour: CPU 1's call to CPU 0 is served while CPU 0's malloc is still mapping
 * (the hook sees the handler's count move before it returns into the map). */
static void t_call_served_in_map(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    goheap_free_os_memory(); /* every free page released: the run must be mapped */
    ml.bytes = 32u << 20;
    ml.in_map = ml.served_in_map = ml.done = 0;
    __atomic_store_n(&kplat_map_test_hook, serve_in_map, __ATOMIC_RELEASE);
    ktest_on_all_cpus(t, ipi_in_map, 0);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    ktest_log("malloc(32 MiB) of released pages: in the map %d, call served there %d", ml.in_map,
              ml.served_in_map);
    KT_ASSERT(t, ml.p != 0);
    KT_EXPECT(t, ml.in_map);
    KT_EXPECT(t, ml.served_in_map);
    const uint64_t *w = ml.p;
    size_t nonzero = 0;
    for (size_t i = 0; i < ml.bytes / 8; i += ARCH_FRAME_SIZE / 8)
        nonzero += w[i] != 0;
    KT_EXPECT_EQ(t, nonzero, 0);
    goheap_free(ml.p);
    hu_validate(t);
}

/* ---- latency, logged: cross-CPU calls to the allocating CPU, back to back ---------------- */
static void ping_while_allocating(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 0) {
        ktest_cpu_barrier();
        __atomic_store_n(&ml.go, 1, __ATOMIC_RELEASE);
        uint64_t t0 = arch_nanotime();
        for (unsigned i = 0; i < ml.count; i++)
            ml.objs[i] = goheap_malloc(ml.bytes);
        ml.alloc_ns = arch_nanotime() - t0;
        __atomic_store_n(&ml.done, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1) {
        ktest_cpu_barrier();
        if (wait_for(&ml.go))
            while (!__atomic_load_n(&ml.done, __ATOMIC_ACQUIRE)) {
                uint64_t t0 = arch_nanotime();
                smp_call_cpu(0, count_call, 0);
                uint64_t dt = arch_nanotime() - t0;
                if (dt > ml.longest_ns)
                    ml.longest_ns = dt;
                ml.calls++;
            }
    } else {
        ktest_cpu_barrier();
    }
    ktest_cpu_barrier();
}

/* count allocations of bytes each, of released or fresh pages only. */
static void measure(struct ktest *t, size_t bytes, unsigned count)
{
    static void *objs[512];
    if (count > 512)
        count = 512;
    goheap_free_os_memory();
    ml.bytes = bytes;
    ml.count = count;
    ml.objs = objs;
    ml.go = ml.done = 0;
    ml.calls = 0;
    ml.longest_ns = ml.alloc_ns = 0;
    ktest_on_all_cpus(t, ping_while_allocating, 0);
    unsigned got = 0;
    for (unsigned i = 0; i < count; i++)
        if (objs[i]) {
            got++;
            goheap_free(objs[i]);
        }
    ktest_log("%u x malloc(%zu KiB) of released pages: %llu us each; %lu calls to that CPU meanwhile, "
              "longest wait %llu us",
              count, bytes >> 10, (unsigned long long)(ml.alloc_ns / 1000 / count), ml.calls,
              (unsigned long long)(ml.longest_ns / 1000));
    KT_EXPECT_EQ(t, got, count);
}

static void t_latency(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    /* 256 MiB where 3/4 of the free frames hold it (a 128 MiB boot: less) */
    size_t big = 256u << 20, most = (size_t)(frame_free_count() / 4 * 3) * ARCH_FRAME_SIZE;
    if (big > most)
        big = most & ~(size_t)((1u << 20) - 1);
    measure(t, big, 1);
    measure(t, 15u << 13, 256); /* the largest run mapped pinned: the page cache's */
    measure(t, 16u << 13, 256); /* the smallest mapped unpinned (GH_MAP_UNPINNED_PAGES) */
    measure(t, 1u << 20, 32);
}

/* ---- out of frames in the map -------------------------------------------------------------------- */
static uint64_t oom_chain, oom_taken;
static void take_frames(uintptr_t va, size_t bytes)
{
    (void)va;
    if (bytes < BIG_MAP_BYTES)
        return;
    arch_irqflags_t f = arch_irq_save(); /* no pull */
    oom_taken += fu_take_all_frames(&oom_chain);
    arch_irq_restore(f);
}

/* Every frame taken as the large map begins (and again at the last resort's retry):
 * NULL, the run back in the heap (released), the heap whole; with the frames back the
 * same request succeeds and reads zero. */
static void t_map_oom(struct ktest *t)
{
    static struct goheap_memstats a, b;
    const size_t bytes = 32u << 20;
    goheap_free_os_memory();
    goheap_read_memstats(&a);
    uint64_t fail0 = kplat_stats.map_failures;
    oom_chain = oom_taken = 0;
    __atomic_store_n(&kplat_map_test_hook, take_frames, __ATOMIC_RELEASE);
    void *p = goheap_malloc(bytes);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    fu_give_back(oom_chain);
    goheap_read_memstats(&b);
    ktest_log("out of frames in the map (%llu taken): malloc -> %p, map failures +%llu, HeapReleased %llu -> %llu KiB, "
              "HeapInuse %llu -> %llu KiB",
              (unsigned long long)oom_taken, p, (unsigned long long)(kplat_stats.map_failures - fail0),
              (unsigned long long)(a.heap_released >> 10), (unsigned long long)(b.heap_released >> 10),
              (unsigned long long)(a.heap_inuse >> 10), (unsigned long long)(b.heap_inuse >> 10));
    KT_EXPECT(t, p == 0);
    KT_EXPECT(t, kplat_stats.map_failures > fail0);
    KT_EXPECT_EQ(t, b.heap_inuse, a.heap_inuse);
    KT_EXPECT(t, b.heap_released >= a.heap_released); /* the run came back released (grown: more) */
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    uint64_t *q = goheap_malloc(bytes);
    KT_ASSERT(t, q != 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes / 8; i += ARCH_FRAME_SIZE / 8)
        nonzero += q[i] != 0;
    KT_EXPECT_EQ(t, nonzero, 0);
    goheap_free(q);
    hu_validate(t);
}

static const struct ktest_case heap_maplat_cases[] = {
    KTEST_CASE(t_call_served_in_map),
    KTEST_CASE(t_map_oom),
    KTEST_CASE(t_latency),
};
KTEST_SUITE_FULL(heap_maplat, "heap_maplat", heap_maplat_cases, hu_init, 0);
