/* tests/kernel/test_frame.c: the physical frame allocator: single frames, zeroing,
 * contiguous runs, exhaustion on every CPU at once with a duplicate check, and the
 * pull's count. */
#include <arch/paging.h>
#include <arch_api.h>
#include <frame.h>
#include <ktest.h>
#include <percpu.h>
#include <string.h>

#include "frame_util.h"

static void t_counters(struct ktest *t)
{
    struct frame_stats s;
    frame_stats(&s);
    KT_EXPECT(t, s.total > 0);
    KT_EXPECT(t, s.free <= s.total);
    KT_EXPECT(t, s.cached <= s.free);
    uint64_t sum = 0;
    for (unsigned i = 0; i < 64; i++)
        sum += s.cached_cpu[i];
    KT_EXPECT_EQ(t, sum, s.cached);
    KT_EXPECT(t, s.max_pa >= s.total * ARCH_FRAME_SIZE);
}

static const struct ktest_case frame_cases[];

/* The firmware map as the arch hands it over: sorted, disjoint, frame-aligned, no
 * empty entries; and the reservations cover the kernel image. */
static void t_memmap(struct ktest *t)
{
    static struct mem_range r[128];
    size_t n = arch_memmap(r, 128);
    KT_ASSERT(t, n > 0);
    for (size_t i = 0; i < n; i++) {
        KT_EXPECT(t, r[i].size > 0);
        KT_EXPECT_EQ(t, (r[i].base | r[i].size) & (ARCH_FRAME_SIZE - 1), 0);
        if (i)
            KT_EXPECT(t, r[i].base > r[i - 1].base + r[i - 1].size - 1);
    }
    /* The image's code, read-only data and bss are all reserved. */
    static char in_bss[64];
    const void *probes[] = { (const void *)&t_memmap, (const void *)&frame_cases, in_bss };
    size_t nres = arch_reserved(r, 128);
    for (unsigned p = 0; p < 3; p++) {
        uint64_t pa = arch_virt_to_phys(probes[p]);
        int covered = 0;
        for (size_t i = 0; i < nres; i++)
            if (r[i].base <= pa && pa < r[i].base + r[i].size)
                covered = 1;
        if (!covered)
            ktest_fail(t, __FILE__, __LINE__, "kernel image byte at 0x%llx is not reserved",
                       (unsigned long long)pa);
    }
}

static void t_single(struct ktest *t)
{
    uint64_t before = frame_free_count();
    uint64_t a = frame_alloc(0), b = frame_alloc(0);
    KT_ASSERT(t, a && b);
    KT_EXPECT(t, a != b);
    KT_EXPECT_EQ(t, a & (ARCH_FRAME_SIZE - 1), 0);
    KT_EXPECT_EQ(t, frame_free_count(), before - 2);
    frame_free(a);
    frame_free(b);
    KT_EXPECT_EQ(t, frame_free_count(), before);
}

static void t_zeroed(struct ktest *t)
{
    uint64_t a = frame_alloc(0);
    KT_ASSERT(t, a);
    memset(arch_phys_to_virt(a), 0xa5, ARCH_FRAME_SIZE);
    frame_free(a);
    /* The per-CPU cache is LIFO: the dirty frame comes straight back. */
    uint64_t b = frame_alloc(FRAME_ZERO);
    KT_ASSERT(t, b);
    KT_EXPECT_EQ(t, b, a);
    const uint64_t *w = arch_phys_to_virt(b);
    for (unsigned i = 0; i < ARCH_FRAME_SIZE / 8; i++)
        if (w[i]) {
            ktest_fail(t, __FILE__, __LINE__, "word %u of a FRAME_ZERO frame is 0x%llx", i,
                       (unsigned long long)w[i]);
            break;
        }
    frame_free(b);
}

static void t_runs(struct ktest *t)
{
    uint64_t before = frame_free_count();
    uint64_t r = frame_alloc_run(16, 16, FRAME_ZERO);
    KT_ASSERT(t, r);
    KT_EXPECT_EQ(t, r & (16 * ARCH_FRAME_SIZE - 1), 0);
    KT_EXPECT_EQ(t, frame_free_count(), before - 16);
    uint8_t *p = arch_phys_to_virt(r);
    for (unsigned i = 0; i < 16 * ARCH_FRAME_SIZE; i += 512)
        KT_ASSERT_EQ(t, p[i], 0);
    /* A single frame allocated now is not inside the run. */
    uint64_t s = frame_alloc(0);
    KT_EXPECT(t, s < r || s >= r + 16 * ARCH_FRAME_SIZE);
    frame_free(s);
    uint64_t big = frame_alloc_run(512, 512, 0);    /* 2 MiB, 2 MiB-aligned */
    KT_ASSERT(t, big);
    KT_EXPECT_EQ(t, big & (ARCH_LARGE_SIZE - 1), 0);
    frame_free_run(big, 512);
    frame_free_run(r, 16);
    KT_EXPECT_EQ(t, frame_free_count(), before);
    KT_EXPECT_EQ(t, frame_alloc_run(1ull << 40, 1, 0), 0);  /* impossible */
}

/* Exhaustion on every CPU at once. seen: one bit per frame, set atomically by the CPU
 * that got it; a bit already set is a duplicate. */
struct exhaust {
    uint64_t *seen;
    uint64_t nwords;
    uint64_t got[MAX_CPUS];
    uint64_t free_before, free_at_empty;
};

static void exhaust_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    struct exhaust *e = arg;
    ktest_cpu_barrier();
    uint64_t n = 0, dups = 0, pa;
    while ((pa = frame_alloc(0)) != 0) {
        uint64_t f = pa / ARCH_FRAME_SIZE;
        uint64_t old = __atomic_fetch_or(&e->seen[f / 64], 1ull << (f % 64), __ATOMIC_RELAXED);
        if (old & (1ull << (f % 64)))
            dups++;
        n++;
    }
    e->got[cpu] = n;
    if (dups)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u got %llu duplicate frames", cpu,
                   (unsigned long long)dups);
    ktest_cpu_barrier();
    if (cpu == 0)
        e->free_at_empty = frame_free_count();
    ktest_cpu_barrier();
    /* Free everything: each CPU its slice of the seen bitmap. */
    unsigned ncpu = ktest_ncpus();
    uint64_t per = (e->nwords + ncpu - 1) / ncpu;
    for (uint64_t w = cpu * per; w < e->nwords && w < (cpu + 1) * per; w++)
        for (uint64_t bits = e->seen[w]; bits; bits &= bits - 1)
            frame_free((w * 64 + (uint64_t)__builtin_ctzll(bits)) * ARCH_FRAME_SIZE);
    ktest_cpu_barrier();
}

static void t_exhaust_all_cpus(struct ktest *t)
{
    struct frame_stats s;
    frame_stats(&s);
    static struct exhaust e;
    memset(&e, 0, sizeof e);
    e.nwords = (s.max_pa / ARCH_FRAME_SIZE + 63) / 64;
    size_t bytes = e.nwords * 8;
    size_t nfr = (bytes + ARCH_FRAME_SIZE - 1) / ARCH_FRAME_SIZE;
    uint64_t bm = frame_alloc_run(nfr, 1, FRAME_ZERO);
    KT_ASSERT(t, bm);
    e.seen = arch_phys_to_virt(bm);
    e.free_before = frame_free_count();
    ktest_on_all_cpus(t, exhaust_cpu, &e);
    uint64_t total = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        total += e.got[i];
    ktest_log("%u cpus took %llu frames (%llu MiB) until exhausted", ktest_ncpus(),
              (unsigned long long)total, (unsigned long long)(total >> 8));
    /* No reserved frame was handed out (frame 0, low memory, the kernel image...). */
    static struct mem_range res[64];
    size_t nres = arch_reserved(res, 64);
    KT_EXPECT(t, !(e.seen[0] & 1));
    for (size_t i = 0; i < nres; i++)
        for (uint64_t pa = res[i].base; pa < res[i].base + res[i].size; pa += ARCH_FRAME_SIZE) {
            uint64_t f = pa / ARCH_FRAME_SIZE;
            if (f / 64 < e.nwords && (e.seen[f / 64] >> (f % 64)) & 1) {
                ktest_fail(t, __FILE__, __LINE__, "reserved frame 0x%llx was handed out",
                           (unsigned long long)pa);
                break;
            }
        }
    KT_EXPECT_EQ(t, e.free_at_empty, 0);
    KT_EXPECT_EQ(t, total, e.free_before);
    KT_EXPECT_EQ(t, frame_free_count(), e.free_before);
    frame_free_run(bm, nfr);
    frame_stats(&s);
    KT_EXPECT_EQ(t, s.free, e.free_before + nfr);     /* the seen bitmap is back too */
}

/* The pull counts what the reclaimer gave back, not the change in the free count over
 * the call: other CPUs allocate and free meanwhile. The test reclaimer gives back
 * PULL_GIVEN frames while "another CPU" (here, inline) takes PULL_TAKEN of them. */
#define PULL_GIVEN 16
#define PULL_TAKEN 8
static uint64_t pull_held, pull_others;     /* chains through the frames' first word */
static unsigned pull_calls;

static void chain_push(uint64_t *chain, uint64_t pa)
{
    *(uint64_t *)arch_phys_to_virt(pa) = *chain;
    *chain = pa;
}

static size_t test_reclaimer(size_t bytes)
{
    (void)bytes;
    pull_calls++;
    for (unsigned i = 0; i < PULL_GIVEN && pull_held; i++) {
        uint64_t pa = pull_held;
        pull_held = *(uint64_t *)arch_phys_to_virt(pa);
        frame_free(pa);
    }
    for (unsigned i = 0; i < PULL_TAKEN; i++) {
        uint64_t pa = frame_alloc(FRAME_NOPULL);
        if (pa)
            chain_push(&pull_others, pa);
    }
    return PULL_GIVEN * ARCH_FRAME_SIZE;
}

static void t_pull_counts_given(struct ktest *t)
{
    pull_held = pull_others = 0;
    pull_calls = 0;
    for (unsigned i = 0; i < PULL_GIVEN; i++) {
        uint64_t pa = frame_alloc(0);
        KT_ASSERT(t, pa);
        chain_push(&pull_held, pa);
    }
    uint64_t rest = 0;
    frame_reclaimer_fn old = frame_set_reclaimer(0);    /* (none while running dry) */
    fu_take_all_frames(&rest);
    frame_set_reclaimer(test_reclaimer);
    struct frame_stats s0, s1;
    frame_stats(&s0);
    uint64_t pa = frame_alloc(0);                       /* dry: pulls */
    frame_stats(&s1);
    frame_set_reclaimer(old);
    KT_EXPECT_EQ(t, pull_calls, 1);
    KT_EXPECT(t, pa != 0);
    KT_EXPECT_EQ(t, s1.pulls - s0.pulls, 1);
    KT_EXPECT_EQ(t, s1.pulled_frames - s0.pulled_frames, PULL_GIVEN);
    if (pa)
        frame_free(pa);
    fu_give_back(rest);
    fu_give_back(pull_others);
    fu_give_back(pull_held);
}

static const struct ktest_case frame_cases[] = {
    KTEST_CASE(t_counters),
    KTEST_CASE(t_memmap),
    KTEST_CASE(t_single),
    KTEST_CASE(t_zeroed),
    KTEST_CASE(t_runs),
    KTEST_CASE(t_exhaust_all_cpus),
    KTEST_CASE(t_pull_counts_given),
};
KTEST_SUITE(frame, frame_cases);
