/* tests/kernel/heap_oom.c: out of memory without loss (boot with MEM=64M). Every CPU
 * allocates until NULL (large, then page-sized, then small objects), everything is
 * freed, goheap_free_os_memory() hands the frames back, the frame allocator's free
 * count returns to its pre-test value within OOM_META_FRAMES, and the same amount can
 * be allocated again. */
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
 * allocator's metadata, which is never unmapped (span structs, chunk bitmaps and
 * summaries, per-CPU caches): 512 frames = 2 MiB, 3% of a 64 MiB machine. */
#define OOM_META_FRAMES 512

/* Objects are chained through their first word; per-CPU lists. */
struct oom_cpu {
    void *list;
    uint64_t bytes, count;
} __attribute__((aligned(64)));
static struct oom_cpu oc[MAX_CPUS];

static const size_t phase_size[] = { 256u << 10, 8192, 4096, 512, 64, 16 };
#define NPHASES (sizeof phase_size / sizeof phase_size[0])

static void fill_all(struct ktest *t, unsigned cpu, void *arg)
{
    struct oom_cpu *o = &oc[cpu];
    for (unsigned ph = 0; ph < NPHASES; ph++) {
        size_t sz = phase_size[ph];
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

static uint64_t frames_pre, first_bytes;
static int too_big;         /* more than 256 MiB of RAM: skip */

static void one_round(struct ktest *t, uint64_t *bytes)
{
    for (unsigned i = 0; i < MAX_CPUS; i++)
        oc[i] = (struct oom_cpu){ 0 };
    uint64_t t0 = arch_nanotime();
    ktest_on_all_cpus(t, fill_all, 0);
    *bytes = round_bytes();
    uint64_t n = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        n += oc[i].count;
    ktest_log("allocated %llu KiB in %llu objects on %u CPUs until NULL (%llu ms); frames free %llu",
              (unsigned long long)(*bytes >> 10), (unsigned long long)n, ktest_ncpus(),
              (unsigned long long)((arch_nanotime() - t0) / 1000000),
              (unsigned long long)frame_free_count());
    ktest_on_all_cpus(t, free_all, 0);
    goheap_free_os_memory();
}

static void t_exhaust(struct ktest *t)
{
    if (too_big)
        KT_SKIP(t, "more than 256 MiB of RAM: boot with MEM=64M");
    goheap_free_os_memory();
    frames_pre = frame_free_count();
    one_round(t, &first_bytes);
    uint64_t after = frame_free_count();
    ktest_log("frames free: %llu before, %llu after (bound %u)", (unsigned long long)frames_pre,
              (unsigned long long)after, OOM_META_FRAMES);
    KT_EXPECT(t, first_bytes > 0);
    KT_EXPECT(t, after + OOM_META_FRAMES >= frames_pre);
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_EXPECT_EQ(t, ms.heap_inuse, 0);
    KT_EXPECT_EQ(t, ms.heap_released, ms.heap_idle);
}

static void t_again(struct ktest *t)
{
    if (too_big)
        KT_SKIP(t, "more than 256 MiB of RAM: boot with MEM=64M");
    uint64_t second;
    one_round(t, &second);
    ktest_log("second round: %llu KiB (first %llu KiB)", (unsigned long long)(second >> 10),
              (unsigned long long)(first_bytes >> 10));
    /* The same amount, up to what per-CPU caches and page-table pages shift between
     * rounds: 1% of the total. */
    KT_EXPECT(t, second * 100 >= first_bytes * 99);
    KT_EXPECT(t, frame_free_count() + OOM_META_FRAMES >= frames_pre);
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
    KTEST_CASE(t_exhaust), KTEST_CASE(t_again), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_oom, "heap_oom", heap_oom_cases, oom_init, 0);
