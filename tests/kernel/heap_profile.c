/* tests/kernel/heap_profile.c: the heap profiler in the kernel (docs/profiling.md): the
 * frame-pointer walk inside the CPU's own stack, and a workload with known sites whose
 * profile the kheap-profile boot writes over the console for the host's pprof check. */
#include <goheap.h>
#include <ksyms.h>
#include <ktest.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>

#include "heap_util.h"
#include "profile.h"    /* the core's gh_prof_rate, GH_PROF_MAX_DEPTH */

/* The known sites (boot: goheap=memprofilerate=1,memprofile=serial): site_one,
 * site_two and site_four keep 1 : 2 : 4 x PROF_UNIT bytes live in PROF_OBJ-byte
 * objects until the boot ends, site_churn allocates and frees 7 x PROF_UNIT. The host
 * check (tools/kprofile.py, tests/kernel/kernel.mk) reads them back through pprof. */
#define PROF_OBJ 1024
#define PROF_UNIT (128u << 10)
#define PROF_N (PROF_UNIT / PROF_OBJ)
static void *kept[7 * PROF_N];
static unsigned nkept;

static __attribute__((noinline)) void site_one(void)
{
    for (unsigned i = 0; i < PROF_N; i++)
        kept[nkept++] = goheap_malloc(PROF_OBJ);
}
static __attribute__((noinline)) void site_two(void)
{
    for (unsigned i = 0; i < 2 * PROF_N; i++)
        kept[nkept++] = goheap_malloc(PROF_OBJ);
}
static __attribute__((noinline)) void site_four(void)
{
    for (unsigned i = 0; i < 4 * PROF_N; i++)
        kept[nkept++] = goheap_malloc(PROF_OBJ);
}
static __attribute__((noinline)) void site_churn(void)
{
    for (unsigned i = 0; i < 7 * PROF_N; i++) {
        void *p = goheap_malloc(PROF_OBJ);
        __asm__ volatile("" : : "r"(p) : "memory");
        goheap_free(p);
    }
}

static int sampling_all(void)
{
    return gh_prof_rate == 1;
}

/* The function a pc symbolises to, or "?". */
static const char *sym(uintptr_t pc)
{
    uintptr_t off;
    const char *s = ksym_lookup(pc, &off);
    return s ? s : "?";
}

/* The sites' objects are sampled where they were allocated, with the walk going on
 * past the site into this case and the runner. */
static void t_sites(struct ktest *t)
{
    if (!sampling_all())
        KT_SKIP(t, "boot with goheap=memprofilerate=1");
    nkept = 0;
    site_one();
    site_two();
    site_four();
    site_churn();
    KT_ASSERT_EQ(t, nkept, 7 * PROF_N);
    static const char *const want[3] = { "site_one", "site_two", "site_four" };
    const unsigned first[3] = { 0, PROF_N, 3 * PROF_N };
    for (unsigned f = 0; f < 3; f++) {
        KT_ASSERT(t, kept[first[f]] != 0);
        uintptr_t pcs[GH_PROF_MAX_DEPTH];
        size_t size = 0;
        unsigned n = goheap_profile_site(kept[first[f]], pcs, GH_PROF_MAX_DEPTH, &size);
        ktest_log("%s: %u frames: %s <- %s <- %s, %zu bytes", want[f], n, n ? sym(pcs[0]) : "-",
                  n > 1 ? sym(pcs[1]) : "-", n > 2 ? sym(pcs[2]) : "-", size);
        KT_EXPECT(t, n >= 3);
        KT_EXPECT_EQ(t, size, PROF_OBJ);
        if (n && strcmp(sym(pcs[0]), want[f]) != 0)
            ktest_fail(t, __FILE__, __LINE__, "site is <%s>, not %s", sym(pcs[0]), want[f]);
        if (n > 1 && strcmp(sym(pcs[1]), "t_sites") != 0)
            ktest_fail(t, __FILE__, __LINE__, "frame 1 is <%s>, not t_sites", sym(pcs[1]));
    }
    /* Kept live: the exit profile (memprofile=serial) carries them. */
}

/* A recursion deeper than the limit records exactly GH_PROF_MAX_DEPTH frames. */
static __attribute__((noinline)) void *deep(unsigned n)
{
    void *p = n ? deep(n - 1) : goheap_malloc(48);
    __asm__ volatile("" : : "r"(p) : "memory"); /* no tail call: each level keeps a frame */
    return p;
}

static void t_depth(struct ktest *t)
{
    if (!sampling_all())
        KT_SKIP(t, "boot with goheap=memprofilerate=1");
    void *p = deep(GH_PROF_MAX_DEPTH + 16);
    KT_ASSERT(t, p != 0);
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    unsigned n = goheap_profile_site(p, pcs, GH_PROF_MAX_DEPTH, 0);
    KT_EXPECT_EQ(t, n, GH_PROF_MAX_DEPTH);
    unsigned in_deep = 0;
    for (unsigned i = 0; i < n; i++)
        in_deep += strcmp(sym(pcs[i]), "deep") == 0;
    KT_EXPECT_EQ(t, in_deep, n);
    goheap_free(p);
}

/* malloc with the saved frame pointer in this function's own frame record replaced by
 * `bad` (restored before the return): the walk takes the caller of goheap_malloc
 * (this function) and this record's return address, then must stop at `bad` or
 * follow it only inside this CPU's stack. */
static __attribute__((noinline)) void *malloc_with_fp(uintptr_t bad)
{
    volatile uintptr_t *rec = __builtin_frame_address(0);
    uintptr_t saved = rec[0];
    rec[0] = bad;
    void *p = goheap_malloc(64);
    rec[0] = saved;
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* Frames recorded for an allocation with the record's saved fp = bad; checks the
 * first two and returns the count. */
static unsigned walk_with(struct ktest *t, uintptr_t bad, uintptr_t *pcs)
{
    void *p = malloc_with_fp(bad);
    if (!p) {
        ktest_fail(t, __FILE__, __LINE__, "fp 0x%lx: malloc failed", (unsigned long)bad);
        return 0;
    }
    unsigned n = goheap_profile_site(p, pcs, GH_PROF_MAX_DEPTH, 0);
    goheap_free(p);
    if (n < 2 || strcmp(sym(pcs[0]), "malloc_with_fp") != 0 || strcmp(sym(pcs[1]), "walk_with") != 0)
        ktest_fail(t, __FILE__, __LINE__, "fp 0x%lx: %u frames, <%s> <%s>", (unsigned long)bad, n,
                   n ? sym(pcs[0]) : "-", n > 1 ? sym(pcs[1]) : "-");
    return n;
}

static void t_bad_frame_pointers(struct ktest *t)
{
    if (!sampling_all())
        KT_SKIP(t, "boot with goheap=memprofilerate=1");
    uintptr_t top = this_cpu()->stack_top, here = (uintptr_t)__builtin_frame_address(0);
    KT_ASSERT(t, top && here < top && here >= top - KSTACK_BYTES);
    void *heap = goheap_malloc(256);
    KT_ASSERT(t, heap != 0);
    /* Another CPU's stack: mapped, aligned, possibly above this one. */
    uintptr_t other = 0;
    for (unsigned c = 0; c < MAX_CPUS && !other; c++)
        if (c != cpu_index() && cpus[c].online && cpus[c].stack_top)
            other = cpus[c].stack_top - 256;
    volatile uintptr_t down[2];
    down[0] = (uintptr_t)down - 16;                             /* a record pointing down */
    down[1] = 0x42;
    volatile uintptr_t loop[2];
    loop[0] = (uintptr_t)loop;                                  /* a record pointing at itself */
    loop[1] = 0x43;
    const uintptr_t bad[] = {
        0, 1, 0x10, 0xfff,                      /* null page, odd, unaligned */
        (uintptr_t)heap,                        /* the heap: mapped, not a stack */
        top, top - 8,                           /* at and straddling this stack's top */
        top - KSTACK_BYTES - 16,                /* just below this stack */
        ~(uintptr_t)0 - 8, (uintptr_t)1 << 47,  /* the last word, a non-canonical address */
        (uintptr_t)loop, (uintptr_t)down,       /* in bounds: followed once (below) */
        other,                                  /* another CPU's stack (0 on one CPU) */
        (uintptr_t)&top + 3,                    /* in bounds, misaligned */
    };
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned n = walk_with(t, bad[i], pcs);
        /* loop and down: in bounds and above, so one more record (its return address
         * 0x43 or 0x42), whose next pointer (itself, below) ends the walk; every other
         * value ends it at once. */
        int followed = bad[i] == (uintptr_t)loop || bad[i] == (uintptr_t)down;
        unsigned want = followed ? 3 : 2;
        if (n != want)
            ktest_fail(t, __FILE__, __LINE__, "fp 0x%lx: %u frames, expected %u", (unsigned long)bad[i],
                       n, want);
        if (followed && n == 3)
            KT_EXPECT_EQ(t, pcs[2], bad[i] == (uintptr_t)loop ? 0x43 : 0x42);
    }
    /* A fake record in bounds whose next pointer leaves the stack: followed once. */
    volatile uintptr_t fake[2] = { 0xdead0000, 0x44 };
    unsigned n = walk_with(t, (uintptr_t)fake, pcs);
    KT_EXPECT_EQ(t, n, 3);
    if (n == 3)
        KT_EXPECT_EQ(t, pcs[2], 0x44);
    /* Untouched, the walk goes on past this case into the runner. */
    void *p = goheap_malloc(64);
    n = goheap_profile_site(p, pcs, GH_PROF_MAX_DEPTH, 0);
    KT_EXPECT(t, n >= 3);
    if (n)
        KT_EXPECT(t, strcmp(sym(pcs[0]), "t_bad_frame_pointers") == 0);
    goheap_free(p);
    goheap_free(heap);
}

/* Every CPU samples with its own stack's bounds: the walk reaches the runner there too. */
static void stack_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    void *p = goheap_malloc(32);
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    unsigned n = p ? goheap_profile_site(p, pcs, GH_PROF_MAX_DEPTH, 0) : 0;
    if (n < 2 || strcmp(sym(pcs[0]), "stack_cpu") != 0)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: %u frames, site <%s>", cpu, n, n ? sym(pcs[0]) : "-");
    goheap_free(p);
}

static void t_every_cpu(struct ktest *t)
{
    if (!sampling_all())
        KT_SKIP(t, "boot with goheap=memprofilerate=1");
    ktest_on_all_cpus(t, stack_cpu, 0);
}

static const struct ktest_case heap_profile_cases[] = {
    KTEST_CASE(t_depth),
    KTEST_CASE(t_bad_frame_pointers),
    KTEST_CASE(t_every_cpu),
    KTEST_CASE(t_sites),
};
KTEST_SUITE_FULL(heap_profile, "heap_profile", heap_profile_cases, hu_init, 0);
