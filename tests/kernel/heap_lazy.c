/* tests/kernel/heap_lazy.c: lazy release (goheap=madvdontneed=0) against eager: the
 * unmaps and shootdowns of a grow-shrink-grow cycle, reuse of lazily released pages
 * (calloc still zero), and another frame user getting them back under pressure. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <cmdline.h>
#include <frame.h>
#include <goheap.h>
#include <ktest.h>
#include <string.h>

#include "frame_util.h"
#include "heap_util.h"

/* One grow: 24 MiB in 96 KiB..288 KiB objects (large spans) plus 1 KiB ones (small
 * spans), every other one calloc'd; enough pages that the cycle's counters are
 * clearly nonzero in eager mode, small enough for the 128 MiB boot. */
#define GROW_BYTES (24u << 20)
#define NOBJ 512
static void *objs[NOBJ];
static size_t sizes[NOBJ];
static struct goheap_memstats ms;

/* calloc'd objects must read zero whatever the pages held before (lazily released
 * pages are reused unzeroed and dirty); returns the nonzero words seen. */
static size_t grow(struct ktest *t)
{
    size_t total = 0, nonzero = 0;
    uint64_t rng = 77;
    for (unsigned i = 0; i < NOBJ && total < GROW_BYTES; i++) {
        size_t sz = i % 4 == 3 ? 1024 : (96u << 10) + (xorshift64s(&rng) % 3) * (96u << 10);
        objs[i] = i % 2 ? goheap_calloc(1, sz) : goheap_malloc(sz);
        sizes[i] = sz;
        if (!objs[i]) {
            ktest_fail(t, __FILE__, __LINE__, "alloc %u of %zu B failed", i, sz);
            return nonzero;
        }
        if (i % 2)
            for (size_t w = 0; w < sz / 8; w++)
                nonzero += ((const uint64_t *)objs[i])[w] != 0;
        memset(objs[i], 0xa5, sz); /* dirty every page, so reuse has old data to clear */
        total += sz;
    }
    return nonzero;
}

/* Free everything and release every free page (lazily in lazy mode). */
static void shrink(void)
{
    for (unsigned i = 0; i < NOBJ; i++) {
        goheap_free(objs[i]);
        objs[i] = 0;
    }
    goheap_free_os_memory();
}

/* The target: a grow-shrink-grow cycle does 0 unmaps and 0 shootdowns in lazy mode,
 * when nothing else needs the memory; eager mode unmaps the shrink's pages. */
static void t_grow_shrink_grow(struct ktest *t)
{
    int lazy = hu_lazy_asked();
    KT_ASSERT(t, grow(t) == 0);
    shrink(); /* warm-up: the heap has grown to its size */
    uint64_t u0 = kplat_stats.unmap_calls, ub0 = kplat_stats.unmapped_bytes;
    uint64_t m0 = kplat_stats.map_calls;
    unsigned long s0 = arch_tlb_shootdowns();
    KT_EXPECT_EQ(t, grow(t), 0);
    uint64_t m1 = kplat_stats.map_calls;
    shrink();
    goheap_read_memstats(&ms);
    uint64_t lazy_after_shrink = ms.heap_released_lazy;
    KT_EXPECT_EQ(t, grow(t), 0); /* calloc reads zero on reused dirty pages */
    goheap_read_memstats(&ms);
    uint64_t unmaps = kplat_stats.unmap_calls - u0, unmapped = kplat_stats.unmapped_bytes - ub0;
    unsigned long shootdowns = arch_tlb_shootdowns() - s0;
    ktest_log("%s mode: grow-shrink-grow: %llu unmaps (%llu KiB), %lu shootdowns, maps %llu + %llu; "
              "released lazily after the shrink %llu KiB, after the grow %llu KiB",
              lazy ? "lazy" : "eager", (unsigned long long)unmaps, (unsigned long long)(unmapped >> 10),
              shootdowns, (unsigned long long)(m1 - m0), (unsigned long long)(kplat_stats.map_calls - m1),
              (unsigned long long)(lazy_after_shrink >> 10), (unsigned long long)(ms.heap_released_lazy >> 10));
    if (lazy) {
        KT_EXPECT_EQ(t, unmaps, 0);
        KT_EXPECT_EQ(t, shootdowns, 0);
        /* the shrink released the grow's pages lazily, and the grow took them back
         * with no map: bookkeeping only */
        KT_EXPECT(t, lazy_after_shrink >= GROW_BYTES);
        KT_EXPECT(t, lazy_after_shrink - ms.heap_released_lazy >= GROW_BYTES / 2);
        KT_EXPECT_EQ(t, kplat_stats.map_calls - m1, 0);
    } else {
        KT_EXPECT(t, unmaps > 0);
        /* one invalidation round per unmap, whatever its size, on both arches */
        KT_EXPECT_EQ(t, shootdowns, unmaps);
        KT_EXPECT(t, unmapped >= GROW_BYTES);
        KT_EXPECT_EQ(t, lazy_after_shrink, 0);
        KT_EXPECT_EQ(t, ms.heap_released_lazy, 0);
    }
    shrink();
}

/* Under pressure: a kernel frame user takes every frame. From atomic context
 * (interrupts masked) the frame allocator may not pull, so it runs dry with the
 * heap's lazily released pages still mapped; from thread context it pulls them back
 * (unmapped, one shootdown per run) and the user gets exactly those frames, no OOM.
 * Frames returned == reclaimed (nothing is released eagerly in lazy mode). Reclaimed
 * pages come back known zero. */
static void t_pressure(struct ktest *t)
{
    if (!hu_lazy_asked())
        KT_SKIP(t, "eager mode: nothing is released lazily");
    KT_ASSERT(t, grow(t) == 0);
    shrink();
    goheap_read_memstats(&ms);
    uint64_t lazy0 = ms.heap_released_lazy, rel0 = ms.heap_released, recl0 = ms.lazy_reclaimed;
    uint64_t ub0 = kplat_stats.unmapped_bytes, now0 = kplat_stats.frames_now;
    struct frame_stats fs0, fs1, fs2;
    frame_stats(&fs0);
    KT_ASSERT(t, lazy0 >= GROW_BYTES);
    uint64_t chain = 0;
    arch_irqflags_t f = arch_irq_save();
    uint64_t n1 = fu_take_all_frames(&chain);
    arch_irq_restore(f);
    frame_stats(&fs1);
    goheap_read_memstats(&ms);
    KT_EXPECT_EQ(t, ms.heap_released_lazy, lazy0);
    KT_EXPECT_EQ(t, kplat_stats.unmapped_bytes, ub0);
    KT_EXPECT(t, fs1.pulls_refused > fs0.pulls_refused);
    KT_EXPECT_EQ(t, fs1.pulls, fs0.pulls);
    uint64_t n2 = fu_take_all_frames(&chain);
    frame_stats(&fs2);
    goheap_read_memstats(&ms);
    uint64_t recl = ms.lazy_reclaimed - recl0, back = kplat_stats.unmapped_bytes - ub0;
    ktest_log("%llu frames free, taken with interrupts masked: %llu (no pull); then %llu more "
              "through %llu pulls; reclaimed %llu KiB of %llu KiB lazily released, unmapped "
              "%llu KiB", (unsigned long long)fs0.free, (unsigned long long)n1,
              (unsigned long long)n2, (unsigned long long)(fs2.pulls - fs1.pulls),
              (unsigned long long)(recl >> 10), (unsigned long long)(lazy0 >> 10),
              (unsigned long long)(back >> 10));
    KT_EXPECT_EQ(t, n2 * ARCH_FRAME_SIZE, lazy0);
    KT_EXPECT_EQ(t, recl, lazy0);
    KT_EXPECT_EQ(t, back, recl); /* frames returned == eager released (0) + reclaimed */
    KT_EXPECT_EQ(t, (now0 - kplat_stats.frames_now) * ARCH_FRAME_SIZE, recl);
    KT_EXPECT_EQ(t, fs2.pulled_frames - fs1.pulled_frames, n2);
    KT_EXPECT_EQ(t, ms.heap_released_lazy, 0);
    KT_EXPECT_EQ(t, ms.heap_released, rel0); /* still released, now unbacked */
    fu_give_back(chain);
    /* The heap works again, on reclaimed pages: mapped fresh, so zero without calloc. */
    size_t sz = 4u << 20, nonzero = 0;
    uint64_t *p = goheap_malloc(sz);
    KT_ASSERT(t, p != 0);
    for (size_t w = 0; w < sz / 8; w++)
        nonzero += p[w] != 0;
    KT_EXPECT_EQ(t, nonzero, 0);
    goheap_free(p);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_lazy_cases[] = {
    KTEST_CASE(t_grow_shrink_grow), KTEST_CASE(t_pressure), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_lazy, "heap_lazy", heap_lazy_cases, hu_init, 0);
