/* tests/kernel/heap_knobs.c: knobs from the kernel command line (guardrate, debug,
 * memlimit, scavenge=eager) reach goheap and do what they say. */

/* The GODEBUG-style knobs reach goheap from the kernel command line (boot, in two
 * words that merge: goheap=guardrate=4,debug=2 goheap=memlimit=256MiB,scavenge=eager)
 * and do what they say: every
 * 4th allocation is guarded (its one-byte overflow faults), scavenge=eager releases a
 * freed large object at once, memlimit sets the soft limit. Skipped (not passed) when
 * booted without those knobs. The same boot runs heap_api under debug=2 (lock-rank
 * checks and validation). */
#include <arch/paging.h>
#include <goheap.h>
#include <ktest.h>
#include <printk.h>

#include "heap_util.h"
#include "knobs.h"      /* the core's parsed knobs */
#include "mheap.h"      /* gh_heap.arena_bytes */
#include "../knob_cases.h"

size_t goheap_efence_describe(uintptr_t addr, char *buf, size_t n);   /* alloc/efence.c */

static void poke(void *p) { *(volatile uint8_t *)p = 0x41; }

static void t_parsed(struct ktest *t)
{
    if (!gh_knobs.guardrate)
        KT_SKIP(t, "boot with goheap=guardrate=4,debug=2,memlimit=256M,scavenge=eager");
    KT_EXPECT_EQ(t, gh_knobs.guardrate, 4);
    KT_EXPECT_EQ(t, gh_knobs.debug, 2);
    KT_EXPECT_EQ(t, gh_knobs.scavenge_eager, 1);
    KT_EXPECT_EQ(t, goheap_set_memory_limit(-1), 256ll << 20);
    KT_EXPECT_EQ(t, gh_heap.arena_bytes, 64ull << 30);     /* arena= honoured */
}

static void t_guardrate(struct ktest *t)
{
    if (gh_knobs.guardrate != 4)
        KT_SKIP(t, "boot with goheap=guardrate=4");
    void *p[64];
    unsigned guarded = 0;
    for (unsigned i = 0; i < 64; i++) {
        p[i] = goheap_malloc(4096);
        KT_ASSERT(t, p[i] != 0);
        /* goheap names guarded objects; each ends at a page end before an unmapped
         * guard page, so one byte past it faults. */
        char rep[200], want[64];
        snprintk(want, sizeof want, "access to object 0x%lx ", (unsigned long)(uintptr_t)p[i]);
        if (!goheap_efence_describe((uintptr_t)p[i], rep, sizeof rep) || !hu_strstr(rep, want))
            continue;
        guarded++;
        uint8_t *end = (uint8_t *)p[i] + 4096;
        KT_EXPECT_EQ(t, (uintptr_t)end & (ARCH_FRAME_SIZE - 1), 0);
        struct fault_info fi;
        KT_EXPECT_FAULT(t, poke, end, &fi);
    }
    for (unsigned i = 0; i < 64; i++)
        goheap_free(p[i]);
    ktest_log("%u of 64 allocations guarded (guardrate=4)", guarded);
    KT_EXPECT_EQ(t, guarded, 16);     /* a per-CPU countdown: exactly every 4th */
}

static void t_eager(struct ktest *t)
{
    if (!gh_knobs.scavenge_eager)
        KT_SKIP(t, "boot with goheap=scavenge=eager");
    static struct goheap_memstats a, b;
    /* The trip below allocates (an 8 B object): its span first, so that its refill
     * cannot take a page of the freed 2 MiB back out of the released count (the CPU
     * may have no span of that class left: reclaim before grow gives its empty
     * parked spans back). */
    goheap_malloc_flags(0, 0);
    uint8_t *p = goheap_malloc(2u << 20);
    KT_ASSERT(t, p != 0);
    for (size_t i = 0; i < (2u << 20); i += ARCH_FRAME_SIZE)
        p[i] = 1;
    goheap_read_memstats(&a);
    goheap_free(p);
    goheap_malloc_flags(0, 0);          /* a trip through the allocator's after-work */
    goheap_read_memstats(&b);
    ktest_log("released %llu -> %llu KiB after freeing 2 MiB", (unsigned long long)(a.heap_released >> 10),
              (unsigned long long)(b.heap_released >> 10));
    KT_EXPECT(t, b.heap_released >= a.heap_released + (2u << 20));
}

/* Every row of tests/knob_cases.h through the parser as the kernel has it (no ncpu=),
 * the same table the hosted suite runs. The parser logs each bad token: expected. */
static void t_knob_table(struct ktest *t)
{
    struct gh_knobs k;
    unsigned failed = 0;
    for (unsigned i = 0; i < N_KNOB_CASES; i++) {
        const char *why = knob_case_run(&knob_cases[i], 0, &k);
        if (why) {
            ktest_log("'%s': %s", knob_cases[i].in, why);
            failed++;
        }
    }
    static const struct knob_case no_ncpu = { "ncpu=4,debug=1", 1,
                                              "'ncpu=4': not supported on this platform", "debug", 1 };
    if (knob_case_run(&no_ncpu, 0, &k))
        failed++;
    static const struct knob_case no_bg = { "bgthread=0,debug=1", 1,
                                            "'bgthread=0': not supported on this platform", "debug", 1 };
    if (knob_case_run(&no_bg, 0, &k))
        failed++;
    KT_EXPECT_EQ(t, failed, 0);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_knobs_cases[] = {
    KTEST_CASE(t_parsed), KTEST_CASE(t_guardrate), KTEST_CASE(t_eager), KTEST_CASE(t_knob_table),
    KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_knobs, "heap_knobs", heap_knobs_cases, hu_init, 0);
