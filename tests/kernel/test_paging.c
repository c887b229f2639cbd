/* tests/kernel/test_paging.c: map/unmap in the kernel address space, faults through
 * the expected-fault hook, no-execute, the empty heap arena, TLB shootdown (CPU B
 * reads a page, CPU A unmaps it, and B's next access faults), and a map that cannot
 * fit making nothing present. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <fault.h>
#include <frame.h>
#include <ktest.h>
#include <percpu.h>
#include <smp.h>
#include <string.h>
#include <vm.h>

#include "frame_util.h"

static void t_map_write_read(struct ktest *t)
{
    uint64_t free0 = frame_free_count();
    uintptr_t va = vm_reserve_scratch(4 * ARCH_FRAME_SIZE);
    KT_ASSERT_EQ(t, vm_map_fresh(va, 4 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    volatile uint64_t *p = (volatile uint64_t *)va;
    for (unsigned i = 0; i < 4 * ARCH_FRAME_SIZE / 8; i++)
        KT_ASSERT_EQ(t, p[i], 0);
    for (unsigned i = 0; i < 4 * ARCH_FRAME_SIZE / 8; i++)
        p[i] = 0x1234567800000000ull + i;
    for (unsigned i = 0; i < 4 * ARCH_FRAME_SIZE / 8; i++)
        KT_ASSERT_EQ(t, p[i], 0x1234567800000000ull + i);
    uint64_t pa;
    KT_ASSERT(t, arch_translate(va + 8, &pa));
    KT_EXPECT_EQ(t, *(uint64_t *)arch_phys_to_virt(pa), 0x1234567800000001ull);
    KT_EXPECT_EQ(t, arch_map_page(va, pa & ~(ARCH_FRAME_SIZE - 1), ARCH_MAP_WRITE), -2);

    vm_unmap_free(va, 4 * ARCH_FRAME_SIZE);
    KT_EXPECT(t, !arch_translate(va, &pa));
    struct fault_info fi;
    uint64_t v;
    KT_ASSERT(t, fault_probe_read((void *)(va + 16), &v, &fi));
    KT_EXPECT_EQ(t, fi.addr, va + 16);
    KT_EXPECT_EQ(t, fi.flags & (FAULT_WRITE | FAULT_PROTECTION | FAULT_EXEC), 0);
    KT_ASSERT(t, fault_probe_write((void *)(va + 3 * ARCH_FRAME_SIZE), 1, &fi));
    KT_EXPECT_EQ(t, fi.addr, va + 3 * ARCH_FRAME_SIZE);
    KT_EXPECT(t, fi.flags & FAULT_WRITE);
    /* Page-table pages stay; every data frame is back. */
    KT_EXPECT(t, frame_free_count() + 8 >= free0);
    uint64_t after = frame_free_count();
    KT_ASSERT_EQ(t, vm_map_fresh(va, 4 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    KT_EXPECT_EQ(t, p[1], 0);   /* a fresh map reads zero */
    vm_unmap_free(va, 4 * ARCH_FRAME_SIZE);
    KT_EXPECT_EQ(t, frame_free_count(), after);
}

static void t_large_page(struct ktest *t)
{
    uint64_t pa = frame_alloc_run(ARCH_LARGE_SIZE / ARCH_FRAME_SIZE,
                                  ARCH_LARGE_SIZE / ARCH_FRAME_SIZE, 0);
    KT_ASSERT(t, pa);
    uintptr_t va = vm_reserve_scratch(2 * ARCH_LARGE_SIZE);
    va = (va + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
    KT_ASSERT_EQ(t, arch_map_large(va, pa, ARCH_MAP_WRITE), 0);
    volatile uint64_t *p = (volatile uint64_t *)va;
    p[0] = 0xfeed;
    p[ARCH_LARGE_SIZE / 8 - 1] = 0xbeef;
    KT_EXPECT_EQ(t, *(uint64_t *)arch_phys_to_virt(pa), 0xfeed);
    KT_EXPECT_EQ(t, *(uint64_t *)arch_phys_to_virt(pa + ARCH_LARGE_SIZE - 8), 0xbeef);
    uint64_t q;
    KT_ASSERT(t, arch_translate(va + 0x12345, &q));
    KT_EXPECT_EQ(t, q, pa + 0x12345);
    KT_EXPECT_EQ(t, arch_map_page(va + ARCH_FRAME_SIZE, pa, ARCH_MAP_WRITE), -2);
    KT_EXPECT_EQ(t, arch_unmap(va, ARCH_LARGE_SIZE, 0), ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
    KT_EXPECT(t, fault_probe_read((void *)(va + ARCH_LARGE_SIZE - 8), &q, 0));
    frame_free_run(pa, ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
}

static void t_no_execute(struct ktest *t)
{
    uintptr_t va = vm_reserve_scratch(ARCH_FRAME_SIZE);
    KT_ASSERT_EQ(t, vm_map_fresh(va, ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    struct fault_info fi;
    KT_ASSERT(t, fault_expect((void (*)(void *))va, 0, &fi));
    KT_EXPECT_EQ(t, fi.pc, va);
    KT_EXPECT(t, fi.flags & FAULT_EXEC);
    vm_unmap_free(va, ARCH_FRAME_SIZE);
}

static void t_heap_arena_empty(struct ktest *t)
{
    KT_EXPECT(t, ARCH_HEAP_ARENA_SIZE >= (1ull << 40));
    uint64_t pa, v;
    uintptr_t probes[] = { ARCH_HEAP_ARENA_BASE, ARCH_HEAP_ARENA_BASE + ARCH_HEAP_ARENA_SIZE / 2,
                           ARCH_HEAP_ARENA_BASE + ARCH_HEAP_ARENA_SIZE - ARCH_FRAME_SIZE };
    for (unsigned i = 0; i < 3; i++) {
        KT_EXPECT(t, !arch_translate(probes[i], &pa));
        KT_EXPECT(t, fault_probe_read((void *)probes[i], &v, 0));
    }
    /* The arena can be mapped and unmapped like any kernel range. */
    uintptr_t va = ARCH_HEAP_ARENA_BASE + ARCH_HEAP_ARENA_SIZE - ARCH_FRAME_SIZE;
    KT_ASSERT_EQ(t, vm_map_fresh(va, ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    *(volatile uint64_t *)va = 7;
    KT_EXPECT_EQ(t, *(volatile uint64_t *)va, 7);
    vm_unmap_free(va, ARCH_FRAME_SIZE);
    KT_EXPECT(t, fault_probe_read((void *)va, &v, 0));
}

static void t_unmap_one_round(struct ktest *t)
{
    uintptr_t va = vm_reserve_scratch(64 * ARCH_FRAME_SIZE);
    KT_ASSERT_EQ(t, vm_map_fresh(va, 64 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    unsigned long r0 = smp_call_rounds();
    vm_unmap_free(va, 64 * ARCH_FRAME_SIZE);
    unsigned long r = smp_call_rounds() - r0;
    /* One IPI round for 64 pages (0 where the arch broadcasts TLB invalidation). */
    KT_EXPECT(t, r <= 1);
}

/* arch_unmap counts the frames it clears and frees (goheap_sys_unmap's frames_now
 * relies on it): a range over two leaf tables with holes (never mapped frames, a page
 * table never created) returns exactly the frames mapped, all of them back in the
 * frame allocator (more than FRAME_BATCH: several batches), with one shootdown round,
 * and an unmap of the holes alone returns 0 and makes no round (nothing present, nothing
 * any TLB can hold). */
static void t_unmap_counts(struct ktest *t)
{
    const size_t region = ARCH_LARGE_SIZE / ARCH_FRAME_SIZE; /* frames per leaf table */
    uintptr_t va = vm_reserve_scratch(4 * ARCH_LARGE_SIZE);
    va = (va + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
    /* [va, +3 regions): frames 10..209 and the last 100 of region 0's neighbour
     * (region 1), region 2 left without a page table; the range ends in region 2. */
    uintptr_t a = va + 10 * ARCH_FRAME_SIZE, b = va + 2 * ARCH_LARGE_SIZE - 100 * ARCH_FRAME_SIZE;
    uint64_t free0 = frame_free_count();
    KT_ASSERT_EQ(t, vm_map_fresh(a, 200 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    KT_ASSERT_EQ(t, vm_map_fresh(b, 100 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    uint64_t tables = free0 - frame_free_count() - 300; /* the page tables, kept */
    unsigned long s0 = arch_tlb_shootdowns();
    KT_EXPECT_EQ(t, vm_unmap_free(va, 2 * ARCH_LARGE_SIZE + region / 2 * ARCH_FRAME_SIZE), 300);
    KT_EXPECT_EQ(t, arch_tlb_shootdowns() - s0, 1);
    KT_EXPECT_EQ(t, frame_free_count(), free0 - tables);
    uint64_t pa;
    KT_EXPECT(t, !arch_translate(a, &pa) && !arch_translate(b + 99 * ARCH_FRAME_SIZE, &pa));
    s0 = arch_tlb_shootdowns();
    KT_EXPECT_EQ(t, vm_unmap_free(va, 3 * ARCH_LARGE_SIZE), 0);
    KT_EXPECT_EQ(t, arch_tlb_shootdowns() - s0, 0);
    KT_EXPECT_EQ(t, frame_free_count(), free0 - tables);
}

/* arch_remap: the frames move (no copy), the old range faults; out of frames for the
 * destination's page tables (taken with interrupts masked: no pull), nothing moves. */
static void t_remap(struct ktest *t)
{
    uintptr_t old = vm_reserve_scratch(4 * ARCH_FRAME_SIZE);
    /* a destination in a 2 MiB region no table covers yet */
    uintptr_t nw = vm_reserve_scratch(3 * ARCH_LARGE_SIZE);
    nw = (nw + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
    KT_ASSERT_EQ(t, vm_map_fresh(old, 4 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    uint64_t pa[4], x;
    for (unsigned i = 0; i < 4; i++) {
        KT_ASSERT(t, arch_translate(old + i * ARCH_FRAME_SIZE, &pa[i]));
        *(volatile uint64_t *)(old + i * ARCH_FRAME_SIZE) = 0x5150 + i;
    }
    uint64_t chain = 0;
    arch_irqflags_t f = arch_irq_save();
    uint64_t n = fu_take_all_frames(&chain);
    arch_irq_restore(f);
    int r = arch_remap(old, nw, 4 * ARCH_FRAME_SIZE);
    fu_give_back(chain);
    ktest_log("out of frames (%llu taken): arch_remap -> %d", (unsigned long long)n, r);
    KT_EXPECT_EQ(t, r, -1);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t q;
        KT_EXPECT(t, arch_translate(old + i * ARCH_FRAME_SIZE, &q) && q == pa[i]);
        KT_EXPECT(t, !arch_translate(nw + i * ARCH_FRAME_SIZE, &q));
        KT_EXPECT_EQ(t, *(volatile uint64_t *)(old + i * ARCH_FRAME_SIZE), 0x5150 + i);
    }
    unsigned long s0 = arch_tlb_shootdowns();
    KT_ASSERT_EQ(t, arch_remap(old, nw, 4 * ARCH_FRAME_SIZE), 0);
    KT_EXPECT_EQ(t, arch_tlb_shootdowns() - s0, 1);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t q;
        KT_EXPECT(t, arch_translate(nw + i * ARCH_FRAME_SIZE, &q) && q == pa[i]);
        KT_EXPECT(t, !arch_translate(old + i * ARCH_FRAME_SIZE, &q));
        KT_EXPECT_EQ(t, *(volatile uint64_t *)(nw + i * ARCH_FRAME_SIZE), 0x5150 + i);
        KT_EXPECT(t, fault_probe_read((void *)(old + i * ARCH_FRAME_SIZE), &x, 0));
    }
    /* a destination already mapped (in part): refused, nothing moved */
    KT_ASSERT_EQ(t, vm_map_fresh(old + 2 * ARCH_FRAME_SIZE, ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    KT_EXPECT_EQ(t, arch_remap(nw, old, 4 * ARCH_FRAME_SIZE), -2);
    uint64_t q;
    KT_EXPECT(t, arch_translate(nw, &q) && q == pa[0] && !arch_translate(old, &q));
    vm_unmap_free(old, 4 * ARCH_FRAME_SIZE);
    vm_unmap_free(nw, 4 * ARCH_FRAME_SIZE);
}

/* Shootdown: B (cpu 1) reads the page, A (cpu 0) unmaps it, B's next access faults. */
struct sd {
    uintptr_t va;
    int rounds;
    uint64_t faults[MAX_CPUS];
};

static void shootdown_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    struct sd *s = arg;
    for (int r = 0; r < s->rounds; r++) {
        if (cpu == 0) {
            if (vm_map_fresh(s->va, ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0))
                ktest_fail(t, __FILE__, __LINE__, "map failed");
            *(volatile uint64_t *)s->va = 1000 + r;
        }
        ktest_cpu_barrier();
        uint64_t v = 0;
        if (fault_probe_read((void *)s->va, &v, 0) || v != (uint64_t)(1000 + r))
            ktest_fail(t, __FILE__, __LINE__, "cpu %u round %d read 0x%llx", cpu, r,
                       (unsigned long long)v);
        ktest_cpu_barrier();
        if (cpu == 0)
            vm_unmap_free(s->va, ARCH_FRAME_SIZE);
        ktest_cpu_barrier();
        struct fault_info fi;
        if (!fault_probe_read((void *)s->va, &v, &fi))
            ktest_fail(t, __FILE__, __LINE__, "cpu %u round %d still reads 0x%llx after unmap",
                       cpu, r, (unsigned long long)v);
        else if (fi.addr != s->va)
            ktest_fail(t, __FILE__, __LINE__, "fault address 0x%lx", (unsigned long)fi.addr);
        ktest_cpu_barrier();
    }
}

static void t_shootdown(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    static struct sd s;
    s.va = vm_reserve_scratch(ARCH_FRAME_SIZE);
    s.rounds = 20;
    ktest_on_all_cpus(t, shootdown_cpu, &s);
}

/* Every CPU maps and unmaps its own ranges at once: shootdowns cross, and each CPU
 * waiting for acks must keep serving the others' requests. */
static void concurrent_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    uintptr_t base = ((uintptr_t *)arg)[cpu];
    ktest_cpu_barrier();
    for (int i = 0; i < 40; i++) {
        size_t n = (size_t)(1 + (i % 8)) * ARCH_FRAME_SIZE;
        if (vm_map_fresh(base, n, ARCH_MAP_WRITE, 0)) {
            ktest_fail(t, __FILE__, __LINE__, "cpu %u map failed", cpu);
            break;
        }
        ((volatile uint64_t *)base)[0] = cpu;
        ((volatile uint64_t *)(base + n - 8))[0] = i;
        vm_unmap_free(base, n);
        uint64_t v;
        if (!fault_probe_read((void *)base, &v, 0))
            ktest_fail(t, __FILE__, __LINE__, "cpu %u: page still readable", cpu);
    }
    ktest_cpu_barrier();
}

static void t_concurrent_shootdowns(struct ktest *t)
{
    static uintptr_t bases[MAX_CPUS];
    for (unsigned i = 0; i < ktest_ncpus(); i++)
        bases[i] = vm_reserve_scratch(8 * ARCH_FRAME_SIZE);
    uint64_t free0 = frame_free_count();
    ktest_on_all_cpus(t, concurrent_cpu, bases);
    /* All data frames are back (page-table pages stay mapped: at most 1 per range). */
    KT_EXPECT(t, frame_free_count() + 2 * ktest_ncpus() >= free0);
}

/* vm_map_fresh asked for more than the frames left: -1, every data frame back, and no
 * entry of the range ever present, so that no CPU can have cached one (a present entry
 * once cleared would need a shootdown, which vm_map_fresh cannot wait for). CPU 1
 * probes the range's first pages for as long as CPU 0 tries to map it. (Under
 * single-threaded TCG CPU 0 may do it all in one time slice; under TCG_THREAD=multi
 * the former map-then-roll-back found a page present in 398,890 of 407,812 probes.) */
struct nofit {
    uintptr_t va;
    size_t bytes;
    int ret, done;
    uint64_t probes, seen;
};

static void nofit_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    struct nofit *n = arg;
    ktest_cpu_barrier();
    if (cpu == 0) {
        n->ret = vm_map_fresh(n->va, n->bytes, ARCH_MAP_WRITE, 0);
        __atomic_store_n(&n->done, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1) {
        uint64_t v;
        while (!__atomic_load_n(&n->done, __ATOMIC_ACQUIRE))
            for (unsigned i = 0; i < 4; i++, n->probes++)
                if (!fault_probe_read((void *)(n->va + i * ARCH_FRAME_SIZE), &v, 0))
                    n->seen++;
    }
    ktest_cpu_barrier();
}

static void t_map_no_fit(struct ktest *t)
{
    static struct nofit n;
    uint64_t free0 = frame_free_count(), pa;
    /* Twice what is free: the frame allocator's reclaimer may give some back meanwhile. */
    n.bytes = (size_t)(2 * free0 + 1024) * ARCH_FRAME_SIZE;
    n.va = vm_reserve_scratch(n.bytes);
    n.done = 0;
    n.probes = n.seen = 0;
    if (ktest_ncpus() >= 2)
        ktest_on_all_cpus(t, nofit_cpu, &n);
    else
        n.ret = vm_map_fresh(n.va, n.bytes, ARCH_MAP_WRITE, 0);
    ktest_log("map of %llu MiB with %llu MiB free: %d; cpu 1 probed %llu times, found %llu present",
              (unsigned long long)(n.bytes >> 20), (unsigned long long)(free0 * ARCH_FRAME_SIZE >> 20), n.ret,
              (unsigned long long)n.probes, (unsigned long long)n.seen);
    KT_EXPECT_EQ(t, n.ret, -1);
    KT_EXPECT_EQ(t, n.seen, 0);
    KT_EXPECT(t, !arch_translate(n.va, &pa));
    KT_EXPECT(t, !arch_translate(n.va + n.bytes - ARCH_FRAME_SIZE, &pa));
    /* Every data frame is back; the range's page tables stay: one leaf table per 2 MiB,
     * one directory per 512 of those (1 GiB; a 4 KiB granule on both arches: 16 of them
     * for the 16 GiB range of an 8 GiB boot, where a bound of 8 for all upper levels
     * failed kmatrix-mem8G), and a few above and at the range's ends. */
    uint64_t tables = n.bytes / ARCH_LARGE_SIZE + n.bytes / (ARCH_LARGE_SIZE << 9) + 8;
    if (frame_free_count() + tables < free0)
        ktest_fail(t, __FILE__, __LINE__, "frames free %llu, before %llu, tables <= %llu",
                   (unsigned long long)frame_free_count(), (unsigned long long)free0, (unsigned long long)tables);
}

/* arch_unmap's walk at its edges: a range starting and ending mid-table, with a 2 MiB
 * page, an absent leaf table, a 1 GiB boundary and a top-level (512 GiB) boundary
 * inside it: it returns exactly the frames mapped (the 2 MiB page as 512), every
 * frame is back (the large page's run too), nothing stays translated, and a second
 * unmap of the same range finds nothing (no frame freed twice). In the heap arena,
 * empty in this boot (t_heap_arena_empty), across its first top-level boundary. */
static void t_unmap_edges(struct ktest *t)
{
    const uintptr_t gib = 1ul << 30;
    uintptr_t top = ARCH_HEAP_ARENA_BASE + (512 * gib);     /* slot 384 | slot 385 */
    uint64_t lp = frame_alloc_run(ARCH_LARGE_SIZE / ARCH_FRAME_SIZE, ARCH_LARGE_SIZE / ARCH_FRAME_SIZE, 0);
    KT_ASSERT(t, lp);
    uint64_t free0 = frame_free_count();
    /* 3 frames ending a leaf table, the 2 MiB page just below the top-level boundary
     * (after a leaf table never created), 5 frames from the boundary, 7 across the next
     * 1 GiB boundary. */
    uintptr_t a = top - 3 * ARCH_LARGE_SIZE - 3 * ARCH_FRAME_SIZE, l = top - ARCH_LARGE_SIZE;
    uintptr_t c = top + gib - 4 * ARCH_FRAME_SIZE;
    KT_ASSERT_EQ(t, vm_map_fresh(a, 3 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    KT_ASSERT_EQ(t, arch_map_large(l, lp, ARCH_MAP_WRITE), 0);
    KT_ASSERT_EQ(t, vm_map_fresh(top, 5 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    KT_ASSERT_EQ(t, vm_map_fresh(c, 7 * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0), 0);
    uint64_t tables = free0 - frame_free_count() - 15;
    for (uintptr_t v = l; v < top; v += ARCH_LARGE_SIZE / 4)
        *(volatile uint64_t *)v = v;
    uintptr_t lo = a - 5 * ARCH_FRAME_SIZE, hi = c + 12 * ARCH_FRAME_SIZE;
    KT_EXPECT_EQ(t, vm_unmap_free(lo, hi - lo), 15 + ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
    /* The large page's run came from frame_alloc_run, so its 512 frames are free too. */
    KT_EXPECT_EQ(t, frame_free_count(), free0 - tables + ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
    uint64_t pa, v;
    uintptr_t probes[] = { a, a + 2 * ARCH_FRAME_SIZE, l, top - 8, top, top + 4 * ARCH_FRAME_SIZE, c,
                           c + 6 * ARCH_FRAME_SIZE };
    for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        KT_EXPECT(t, !arch_translate(probes[i], &pa));
        KT_EXPECT(t, fault_probe_read((void *)probes[i], &v, 0));
    }
    KT_EXPECT_EQ(t, vm_unmap_free(lo, hi - lo), 0);
    KT_EXPECT_EQ(t, frame_free_count(), free0 - tables + ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
    /* The same range mapped again whole by 4 KiB pages over the old large page's place
     * is refused nowhere (no zombie left) and unmaps to its exact count. */
    KT_ASSERT_EQ(t, vm_map_fresh(l - 2 * ARCH_FRAME_SIZE, ARCH_LARGE_SIZE, ARCH_MAP_WRITE, 0), 0);
    KT_EXPECT_EQ(t, vm_unmap_free(lo, hi - lo), ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
}

/* Neighbours unmapping at once: each CPU maps and unmaps ranges of its own that share
 * every leaf table with another CPU's (arch_unmap holds the page-table lock for one
 * table at a time, so their phases interleave): each unmap returns exactly its frames,
 * every frame comes back, and no page stays readable. */
#define NB_ROUNDS 60
static void neighbour_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    uintptr_t base = *(uintptr_t *)arg;
    unsigned n = ktest_ncpus();
    ktest_cpu_barrier();
    for (int i = 0; i < NB_ROUNDS; i++) {
        /* CPU c's slice of each of 3 leaf tables: frames [c*k, (c+1)*k) of the 512, the
         * first 1..k of them mapped, the whole slice unmapped (a partly mapped range). */
        size_t k = ARCH_LARGE_SIZE / ARCH_FRAME_SIZE / n;
        size_t len = (size_t)(1 + (i + cpu) % k) * ARCH_FRAME_SIZE;
        size_t mapped = 0;
        for (unsigned tb = 0; tb < 3; tb++) {
            uintptr_t v = base + tb * ARCH_LARGE_SIZE + cpu * k * ARCH_FRAME_SIZE;
            if (vm_map_fresh(v, len, ARCH_MAP_WRITE, 0)) {
                ktest_fail(t, __FILE__, __LINE__, "cpu %u map failed", cpu);
                goto out;
            }
            *(volatile uint64_t *)(v + len - 8) = i;
            mapped += len / ARCH_FRAME_SIZE;
        }
        size_t got = 0;
        for (unsigned tb = 0; tb < 3; tb++)
            got += vm_unmap_free(base + tb * ARCH_LARGE_SIZE + cpu * k * ARCH_FRAME_SIZE, k * ARCH_FRAME_SIZE);
        if (got != mapped)
            ktest_fail(t, __FILE__, __LINE__, "cpu %u round %d: unmapped %zu of %zu", cpu, i, got, mapped);
        uint64_t v;
        if (!fault_probe_read((void *)(base + 2 * ARCH_LARGE_SIZE + cpu * k * ARCH_FRAME_SIZE + len - 8), &v, 0))
            ktest_fail(t, __FILE__, __LINE__, "cpu %u round %d: page still readable", cpu, i);
    }
out:
    ktest_cpu_barrier();
}

static void t_unmap_neighbours(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    static uintptr_t base;
    base = vm_reserve_scratch(4 * ARCH_LARGE_SIZE);
    base = (base + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
    /* Tables first, so the count below is of data frames only. */
    KT_ASSERT_EQ(t, arch_map_prepare(base, 3 * ARCH_LARGE_SIZE), 0);
    uint64_t free0 = frame_free_count();
    ktest_on_all_cpus(t, neighbour_cpu, &base);
    KT_EXPECT_EQ(t, frame_free_count(), free0);
}

static const struct ktest_case paging_cases[] = {
    KTEST_CASE(t_map_write_read),
    KTEST_CASE(t_large_page),
    KTEST_CASE(t_no_execute),
    KTEST_CASE(t_heap_arena_empty),
    KTEST_CASE(t_unmap_one_round),
    KTEST_CASE(t_unmap_counts),
    KTEST_CASE(t_unmap_edges),
    KTEST_CASE(t_unmap_neighbours),
    KTEST_CASE(t_remap),
    KTEST_CASE(t_shootdown),
    KTEST_CASE(t_concurrent_shootdowns),
    KTEST_CASE(t_map_no_fit),
};
KTEST_SUITE(paging, paging_cases);
