/* tests/kernel/heap_scav.c: the scavenger in page-table form: releases, frame counts
 * that agree with HeapReleased, reuse of released pages, two CPUs scavenging at once,
 * and the soft memory limit. */

/* The scavenger in page-table form. After churn and frees, goheap_free_os_memory
 * releases >= 99% of idle heap pages and their frames are back in the frame allocator
 * (HeapReleased and the frame count move together); a released page reused by a new
 * allocation is mapped again, zeroed and counted; two CPUs scavenging at once (while
 * others allocate) stay consistent; the soft memory limit keeps the heap's mapped
 * frames near the limit. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <frame.h>
#include <goheap.h>
#include <ktest.h>
#include <percpu.h>
#include <smp.h>
#include <string.h>

#include "heap_util.h"

#define CHURN_OBJS 3000

static void *objs[MAX_CPUS][CHURN_OBJS];

/* Allocate a spread of sizes (16 B .. 64 KiB), free every other one, then the rest
 * from another CPU. Leaves nothing live. */
static void churn(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t rng = 42 + cpu;
    for (unsigned i = 0; i < CHURN_OBJS; i++) {
        size_t sz = (size_t)16 << (xorshift64s(&rng) % 12);     /* 16 B .. 64 KiB */
        sz += xorshift64s(&rng) % sz;
        objs[cpu][i] = goheap_malloc(sz);
        if (!objs[cpu][i]) {
            ktest_fail(t, __FILE__, __LINE__, "malloc(%zu) failed", sz);
            break;
        }
        ((uint8_t *)objs[cpu][i])[sz - 1] = 1;
        if (i % 2) {
            goheap_free(objs[cpu][i]);
            objs[cpu][i] = 0;
        }
    }
    ktest_cpu_barrier();
    unsigned victim = (cpu + 1) % ktest_ncpus();
    for (unsigned i = 0; i < CHURN_OBJS; i++) {
        goheap_free(objs[victim][i]);
        objs[victim][i] = 0;
    }
}

static struct goheap_memstats ms;

static void t_release_all(struct ktest *t)
{
    goheap_free_os_memory();
    uint64_t f0 = frame_free_count();
    uint64_t heapframes0 = kplat_stats.frames_now;
    uint64_t t0 = arch_nanotime();
    ktest_on_all_cpus(t, churn, 0);
    uint64_t t1 = arch_nanotime();
    goheap_read_memstats(&ms);
    uint64_t r0 = ms.heap_released, f1 = frame_free_count(), h1 = kplat_stats.frames_now;
    ktest_log("after churn: heap_sys %llu KiB, idle %llu KiB, released %llu KiB, %llu heap frames",
              (unsigned long long)(ms.heap_sys >> 10), (unsigned long long)(ms.heap_idle >> 10),
              (unsigned long long)(ms.heap_released >> 10), (unsigned long long)h1);
    goheap_free_os_memory();
    ktest_log("churn %llu ms, free_os_memory %llu ms; platform: %llu maps, %llu unmaps, "
              "%llu each_cpu", (unsigned long long)((t1 - t0) / 1000000),
              (unsigned long long)((arch_nanotime() - t1) / 1000000),
              (unsigned long long)kplat_stats.map_calls, (unsigned long long)kplat_stats.unmap_calls,
              (unsigned long long)kplat_stats.each_cpu_calls);
    goheap_read_memstats(&ms);
    uint64_t r1 = ms.heap_released, f2 = frame_free_count(), h2 = kplat_stats.frames_now;
    ktest_log("after free_os_memory: idle %llu KiB, released %llu KiB, frames free %llu -> %llu",
              (unsigned long long)(ms.heap_idle >> 10), (unsigned long long)(r1 >> 10),
              (unsigned long long)f1, (unsigned long long)f2);
    KT_EXPECT(t, ms.heap_released * 100 >= ms.heap_idle * 99);
    /* The story told twice: bytes newly released == frames newly back in the frame
     * allocator == frames the platform unmapped. */
    KT_EXPECT_EQ(t, (r1 - r0) / ARCH_FRAME_SIZE, f2 - f1);
    KT_EXPECT_EQ(t, h1 - h2, f2 - f1);
    /* And against the start: only the allocator's metadata (never unmapped) and the
     * arena's page-table pages may stay out: 1/128 of the peak heap_sys (span
     * structs, bitmaps, page-allocator summaries; one page-table page per 2 MiB is
     * 1/512) plus 256 frames (1 MiB) of fixed per-CPU and per-class structures.
     * Measured: 180 frames after a 56 MiB heap, 369 after 304 MiB. */
    uint64_t bound = ms.heap_sys / ARCH_FRAME_SIZE / 128 + 256;
    ktest_log("frames out after the round: %llu (heap metadata frames %llu -> %llu), bound %llu",
              (unsigned long long)(f0 - f2), (unsigned long long)heapframes0,
              (unsigned long long)h2, (unsigned long long)bound);
    KT_EXPECT(t, f2 + bound >= f0);
    KT_EXPECT(t, h2 <= heapframes0 + bound);
}

static void t_reuse_zeroed(struct ktest *t)
{
    goheap_free_os_memory();
    goheap_read_memstats(&ms);
    uint64_t rel0 = ms.heap_released, inuse0 = ms.heap_inuse, f0 = frame_free_count();
    KT_ASSERT(t, rel0 >= (1u << 20));
    size_t sz = 1u << 20;
    uint8_t *p = goheap_malloc(sz);             /* no ZERO flag: must read zero anyway */
    KT_ASSERT(t, p != 0);
    uint64_t pa;
    unsigned unmapped = 0, nonzero = 0;
    for (size_t off = 0; off < sz; off += ARCH_FRAME_SIZE)
        if (!arch_translate((uintptr_t)p + off, &pa))
            unmapped++;
    for (size_t i = 0; i < sz; i++)
        if (p[i])
            nonzero++;
    KT_EXPECT_EQ(t, unmapped, 0);
    KT_EXPECT_EQ(t, nonzero, 0);
    memset(p, 0x77, sz);
    goheap_read_memstats(&ms);
    ktest_log("1 MiB on released pages: released %llu -> %llu KiB, inuse %llu -> %llu KiB, "
              "frames free %llu -> %llu", (unsigned long long)(rel0 >> 10),
              (unsigned long long)(ms.heap_released >> 10), (unsigned long long)(inuse0 >> 10),
              (unsigned long long)(ms.heap_inuse >> 10), (unsigned long long)f0,
              (unsigned long long)frame_free_count());
    KT_EXPECT(t, rel0 - ms.heap_released >= sz);
    KT_EXPECT(t, ms.heap_inuse - inuse0 >= sz);
    KT_EXPECT(t, f0 - frame_free_count() >= sz / ARCH_FRAME_SIZE);
    goheap_free(p);
    /* Freed again and released again: the same memory must come back zeroed. */
    goheap_free_os_memory();
    p = goheap_malloc(sz);
    KT_ASSERT(t, p != 0);
    nonzero = 0;
    for (size_t i = 0; i < sz; i++)
        if (p[i])
            nonzero++;
    KT_EXPECT_EQ(t, nonzero, 0);
    goheap_free(p);
}

/* CPUs 0 and 1 scavenge at once (each unmaps, shooting down every CPU's TLB while the
 * other does the same); CPUs 2.. keep allocating and freeing meanwhile. */
static void two_scavengers(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t rng = 7 + cpu;
    for (unsigned round = 0; round < 6; round++) {
        void *live[64];
        for (unsigned i = 0; i < 64; i++) {
            size_t sz = (size_t)64 << (xorshift64s(&rng) % 12);
            live[i] = goheap_malloc(sz);
            if (live[i])
                hu_fill(live[i], sz < 16 ? sz : 16);
        }
        for (unsigned i = 0; i < 64; i++) {
            if (live[i] && !hu_check(live[i], 16))
                ktest_fail(t, __FILE__, __LINE__, "cpu %u: object %p damaged", cpu, live[i]);
            goheap_free(live[i]);
        }
        if (cpu < 2)
            goheap_free_os_memory();
    }
}

static void t_two_cpus_scavenging(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    unsigned long r0 = smp_call_rounds();
    ktest_on_all_cpus(t, two_scavengers, 0);
    ktest_log("%lu IPI rounds (shootdowns and flushes)", smp_call_rounds() - r0);
    KT_EXPECT_EQ(t, goheap_validate(), 0);
}

/* The soft limit: allocate and free 32 MiB in 256 KiB steps with at most 2 MiB live;
 * with the limit 4 MiB above what is mapped now, the heap's frames stay under it. */
static void t_memory_limit(struct ktest *t)
{
    goheap_free_os_memory();
    int64_t base = (int64_t)(kplat_stats.frames_now * ARCH_FRAME_SIZE);
    int64_t limit = base + (4 << 20);
    int64_t old = goheap_set_memory_limit(limit);
    KT_EXPECT_EQ(t, goheap_set_memory_limit(-1), limit);
    void *ring[8] = { 0 };
    uint64_t peak = 0;
    for (unsigned i = 0; i < 128; i++) {
        goheap_free(ring[i % 8]);
        ring[i % 8] = goheap_malloc((256u << 10) + (i % 5) * 8192);
        KT_ASSERT(t, ring[i % 8] != 0);
        uint64_t now = kplat_stats.frames_now * ARCH_FRAME_SIZE;
        if (now > peak)
            peak = now;
    }
    ktest_log("limit %lld KiB, peak mapped %llu KiB", (long long)(limit >> 10),
              (unsigned long long)(peak >> 10));
    /* One allocation may overshoot before the synchronous scavenge runs. */
    KT_EXPECT(t, peak <= (uint64_t)limit + (512u << 10));
    for (unsigned i = 0; i < 8; i++)
        goheap_free(ring[i]);
    goheap_set_memory_limit(old);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_scav_cases[] = {
    KTEST_CASE(t_release_all), KTEST_CASE(t_reuse_zeroed), KTEST_CASE(t_two_cpus_scavenging),
    KTEST_CASE(t_memory_limit), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_scav, "heap_scav", heap_scav_cases, hu_init, 0);
