/* tests/kernel/heap_oom.c: out of memory without loss (MEM=64M): every CPU allocates
 * until NULL, everything is freed and returned, frames come back within the metadata
 * bound, and the same amount can be allocated again. */

/* Out of memory without loss (boot with MEM=64M). Every CPU allocates until NULL (a
 * round of 256 KiB objects, then a round of mixed sizes from 16 B to 256 KiB),
 * everything is freed, goheap_free_os_memory() hands the frames back, the frame
 * allocator's free count returns to its pre-test value within OOM_META_FRAMES, and the
 * 256 KiB round gets the same amount again (less what the metadata kept). */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <frame.h>
#include <goheap.h>
#include <ktest.h>
#include <percpu.h>

#include "heap_util.h"

/* What may stay out of the frame allocator after a full OOM round: page-table pages
 * of the arena (one per 2 MiB touched: 32 for 64 MiB, plus the upper levels) and the
 * allocator's metadata, which it keeps for reuse as Go does: span structs with their
 * bitmaps (MSpanSys: ~300 B per 8 KiB span at the peak, so up to ~3.7% of a heap made
 * of small spans), per-CPU caches, page-allocator summaries. Measured at 64 MiB: 56
 * frames after a round of 256 KiB objects, 120-633 after a round of mixed sizes
 * (MSpanSys 2.3 MiB after ~115k small objects). Bound: 1024 frames (4 MiB, 6% of the
 * machine); the test also checks the exact account (check_frames_back). */
#define OOM_META_FRAMES 1024

/* Objects are chained through their first word; per-CPU lists. */
struct oom_cpu {
    void *list;
    uint64_t bytes, count;
} __attribute__((aligned(64)));
static struct oom_cpu oc[MAX_CPUS];

static const size_t phase_size[] = { 256u << 10, 8192, 4096, 512, 64, 16 };
#define NPHASES (sizeof phase_size / sizeof phase_size[0])

/* Mixed rounds: each CPU starts at a different phase (CPU 0 with 256 KiB objects,
 * CPU 1 with 8 KiB, ...), so small and large allocations compete for the last frames
 * and the last resort flushes caches of CPUs that are busy with small objects. */
static void fill_all(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    struct oom_cpu *o = &oc[cpu];
    unsigned nph = arg ? 1 : NPHASES;   /* arg: 256 KiB objects only */
    ktest_cpu_barrier();        /* start together: otherwise CPU 0 takes everything */
    for (unsigned k = 0; k < nph; k++) {
        size_t sz = phase_size[arg ? 0 : (k + cpu) % NPHASES];
        for (;;) {
            void **p = goheap_malloc(sz);
            if (!p)
                break;
            p[0] = o->list;
            ((uint64_t *)p)[1] = (uint64_t)(uintptr_t)p ^ sz;    /* cookie */
            o->list = p;
            o->bytes += sz;
            o->count++;
        }
    }
}

/* Free the list of the next CPU (remote frees), checking each cookie. */
static void free_all(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    unsigned victim = (cpu + 1) % ktest_ncpus();
    ktest_cpu_barrier();
    void **p = oc[victim].list;
    uint64_t bad = 0;
    while (p) {
        void **next = p[0];
        uint64_t c = ((uint64_t *)p)[1] ^ (uint64_t)(uintptr_t)p;
        size_t sz = goheap_usable_size(p);
        if (c > sz)      /* the cookie names a size no larger than the usable size */
            bad++;
        goheap_free(p);
        p = next;
    }
    if (bad)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: %llu damaged objects", cpu,
                   (unsigned long long)bad);
    ktest_cpu_barrier();
    oc[victim].list = 0;
}

static uint64_t round_bytes(void)
{
    uint64_t b = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        b += oc[i].bytes;
    return b;
}

static uint64_t frames_pre, large_first, frames_out_mixed;
static int too_big;         /* more than 256 MiB of RAM: skip */

/* One round on every CPU: allocate until NULL (mode 0: the mixed phases; 1: 256 KiB
 * objects only), free everything (each CPU its neighbour's list), then
 * goheap_free_os_memory(). Returns the bytes that were allocated. */
static uint64_t one_round(struct ktest *t, uintptr_t mode)
{
    for (unsigned i = 0; i < MAX_CPUS; i++)
        oc[i] = (struct oom_cpu){ 0 };
    uint64_t t0 = arch_nanotime();
    ktest_on_all_cpus(t, fill_all, (void *)mode);
    uint64_t bytes = round_bytes(), n = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        n += oc[i].count;
    ktest_log("%s: %llu KiB in %llu objects on %u CPUs until NULL (%llu ms); frames free %llu",
              mode ? "256 KiB objects" : "mixed sizes", (unsigned long long)(bytes >> 10),
              (unsigned long long)n, ktest_ncpus(),
              (unsigned long long)((arch_nanotime() - t0) / 1000000),
              (unsigned long long)frame_free_count());
    ktest_on_all_cpus(t, free_all, 0);
    goheap_free_os_memory();
    return bytes;
}

/* The frames that may stay out after everything is freed are the allocator's own
 * metadata, which it keeps for reuse and reports in MemStats (MSpanSys: span structs;
 * MCacheSys; OtherSys: span bitmaps, page-allocator summaries), plus the arena's
 * page-table pages (one per 2 MiB of HeapSys, plus 8 for the upper levels). The check
 * is that exact account, and it must stay under OOM_META_FRAMES. */
static void check_frames_back(struct ktest *t, const char *when)
{
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    uint64_t now = frame_free_count();
    uint64_t out = frames_pre > now ? frames_pre - now : 0;
    uint64_t meta = (ms.mspan_sys + ms.mcache_sys + ms.other_sys + ARCH_FRAME_SIZE - 1) /
                    ARCH_FRAME_SIZE;
    uint64_t pt = ms.heap_sys / ARCH_LARGE_SIZE + 8;
    ktest_log("%s: frames free %llu (before the test %llu): %llu kept; metadata %llu + page "
              "tables <= %llu (bound %u)", when, (unsigned long long)now,
              (unsigned long long)frames_pre, (unsigned long long)out,
              (unsigned long long)meta, (unsigned long long)pt, OOM_META_FRAMES);
    ktest_log("  MSpanSys %llu KiB, MCacheSys %llu KiB, OtherSys %llu KiB, HeapSys %llu KiB",
              (unsigned long long)(ms.mspan_sys >> 10), (unsigned long long)(ms.mcache_sys >> 10),
              (unsigned long long)(ms.other_sys >> 10), (unsigned long long)(ms.heap_sys >> 10));
    KT_EXPECT(t, out <= meta + pt);
    KT_EXPECT(t, out <= OOM_META_FRAMES);
    KT_EXPECT_EQ(t, ms.heap_inuse, 0);
    KT_EXPECT_EQ(t, ms.heap_released, ms.heap_idle);
}

static void t_exhaust_large(struct ktest *t)
{
    if (too_big)
        KT_SKIP(t, "more than 256 MiB of RAM: boot with MEM=64M");
    goheap_free_os_memory();
    frames_pre = frame_free_count();
    large_first = one_round(t, 1);
    KT_EXPECT(t, large_first > 0);
    check_frames_back(t, "after the 256 KiB round");
}

static void t_exhaust_mixed(struct ktest *t)
{
    if (too_big)
        KT_SKIP(t, "more than 256 MiB of RAM: boot with MEM=64M");
    KT_EXPECT(t, one_round(t, 0) > 0);
    check_frames_back(t, "after the mixed round");
    uint64_t now = frame_free_count();
    frames_out_mixed = frames_pre > now ? frames_pre - now : 0;
}

/* The same amount again: the 256 KiB round repeated gets what it got the first time,
 * less the frames the metadata kept (span structs and bitmaps stay for reuse) and one
 * object of rounding per CPU. */
static void t_again(struct ktest *t)
{
    if (too_big)
        KT_SKIP(t, "more than 256 MiB of RAM: boot with MEM=64M");
    uint64_t again = one_round(t, 1);
    uint64_t slack = frames_out_mixed * ARCH_FRAME_SIZE + (uint64_t)ktest_ncpus() * (256u << 10);
    ktest_log("256 KiB round again: %llu KiB (first %llu KiB, allowed shortfall %llu KiB)",
              (unsigned long long)(again >> 10), (unsigned long long)(large_first >> 10),
              (unsigned long long)(slack >> 10));
    KT_EXPECT(t, again + slack >= large_first);
    check_frames_back(t, "after the last round");
}

static void t_validate(struct ktest *t) { hu_validate(t); }

/* Filling memory costs ~45 ms per MiB under TCG (zeroed frames): beyond 256 MiB
 * (test=all boots of the matrix at 512M and 8G) the suite skips. */
static int oom_init(void)
{
    struct frame_stats fs;
    frame_stats(&fs);
    too_big = fs.total > (256u << 20) / ARCH_FRAME_SIZE;
    return hu_init();
}

static const struct ktest_case heap_oom_cases[] = {
    KTEST_CASE(t_exhaust_large), KTEST_CASE(t_exhaust_mixed), KTEST_CASE(t_again),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_oom, "heap_oom", heap_oom_cases, oom_init, 0);
