/* tests/kernel/heap_efence.c: efence (goheap=efence=1, 2 and 3): a one-byte overflow (or
 * underflow, efence=3) and
 * a use after free fault, and goheap's report names the object's address, size and
 * allocation site. */

/* The efence knob (boot with goheap=efence=1). Each object ends at a page boundary
 * before an unmapped guard page and its pages are never reused, so a one-byte overflow
 * and a use after free both fault; the fault is caught through the expected-fault hook
 * and goheap's report names the object's address, size and allocation site. Skipped
 * (not passed) when the knob is off. With efence=1 the sizes are multiples of 16
 * (malloc's alignment leaves slack otherwise, checked by a canary at free); the
 * efence=2 boot adds odd sizes, placed byte-exact. */
#include <arch/paging.h>
#include <goheap.h>
#include <ksyms.h>
#include <ktest.h>
#include <printk.h>
#include <string.h>

#include "heap_util.h"
#include "knobs.h"      /* the core's parsed knobs: is efence on? */

size_t goheap_efence_describe(uintptr_t addr, char *buf, size_t n);   /* alloc/efence.c */

static void poke(void *p) { *(volatile uint8_t *)p = 0x41; }
static void peek(void *p) { (void)*(volatile uint8_t *)p; }

/* The allocation site the report must name. */
static __attribute__((noinline)) void *efence_alloc_site(size_t sz)
{
    void *p = goheap_malloc(sz);
    __asm__ volatile("" ::: "memory");  /* keep the call from becoming a tail call */
    return p;
}

/* The report must contain "object 0x<p> size <sz>" and an allocation pc inside
 * efence_alloc_site. */
static void check_report(struct ktest *t, uintptr_t fault, void *p, size_t sz, const char *what)
{
    char rep[256], want[96];
    size_t n = goheap_efence_describe(fault, rep, sizeof rep);
    ktest_log("%s", n ? rep : "(no report)");
    KT_ASSERT(t, n > 0);
    snprintk(want, sizeof want, "%s object 0x%lx size %zu", what, (unsigned long)(uintptr_t)p, sz);
    if (!hu_strstr(rep, want))
        ktest_fail(t, __FILE__, __LINE__, "report lacks '%s'", want);
    const char *pc = hu_strstr(rep, "allocated at pc 0x");
    KT_ASSERT(t, pc != 0);
    uintptr_t v = 0;
    for (pc += 18; (*pc >= '0' && *pc <= '9') || (*pc >= 'a' && *pc <= 'f'); pc++)
        v = v * 16 + (uintptr_t)(*pc <= '9' ? *pc - '0' : *pc - 'a' + 10);
    uintptr_t off = 0;
    const char *sym = ksym_lookup(v, &off);
    ktest_log("  allocation site 0x%lx = <%s+0x%lx>", (unsigned long)v, sym ? sym : "?",
              (unsigned long)off);
    if (!sym || strcmp(sym, "efence_alloc_site") != 0)
        ktest_fail(t, __FILE__, __LINE__, "allocation site 0x%lx is <%s>, not efence_alloc_site",
                   (unsigned long)v, sym ? sym : "?");
}

/* efence=1 keeps malloc's alignment (16 B), so only sizes that are multiples of 16 end
 * exactly at the page end; efence=2 places every object at the page end. */
static const size_t sizes16[] = { 16, 64, 1008, 4096, 5008, 100000 };
static const size_t sizes_any[] = { 1, 13, 16, 100, 1008, 4095, 5001, 100001 };
#define NSIZES (gh_knobs.efence >= 2 ? sizeof sizes_any / sizeof sizes_any[0] \
                                     : sizeof sizes16 / sizeof sizes16[0])
#define SIZE(i) (gh_knobs.efence >= 2 ? sizes_any[i] : sizes16[i])

static void t_overflow_faults(struct ktest *t)
{
    if (!gh_knobs.efence || gh_knobs.efence == 3)
        KT_SKIP(t, "boot with goheap=efence=1 or 2");
    for (unsigned i = 0; i < NSIZES; i++) {
        size_t sz = SIZE(i);
        uint8_t *p = efence_alloc_site(sz);
        KT_ASSERT(t, p != 0);
        KT_EXPECT_EQ(t, ((uintptr_t)p + sz) % ARCH_FRAME_SIZE, 0);   /* ends at the page end */
        memset(p, 0x5a, sz);                                        /* all of it usable */
        struct fault_info fi;
        KT_EXPECT_FAULT(t, poke, p + sz, &fi);                      /* one byte past */
        KT_EXPECT_EQ(t, fi.addr, (uintptr_t)(p + sz));
        check_report(t, fi.addr, p, sz, "overflow past");
        goheap_free(p);
    }
}

/* efence=3: each object starts at its page start after an unmapped guard page, so one
 * byte below it faults at once. */
static void t_underflow_faults(struct ktest *t)
{
    if (gh_knobs.efence != 3)
        KT_SKIP(t, "boot with goheap=efence=3");
    for (unsigned i = 0; i < sizeof sizes_any / sizeof sizes_any[0]; i++) {
        size_t sz = sizes_any[i];
        uint8_t *p = efence_alloc_site(sz);
        KT_ASSERT(t, p != 0);
        KT_EXPECT_EQ(t, (uintptr_t)p % ARCH_FRAME_SIZE, 0);         /* starts at a page start */
        memset(p, 0x5a, sz);
        struct fault_info fi;
        KT_EXPECT_FAULT(t, poke, p - 1, &fi);                       /* one byte below */
        KT_EXPECT_EQ(t, fi.addr, (uintptr_t)(p - 1));
        check_report(t, fi.addr, p, sz, "underflow below");
        goheap_free(p);
    }
}

static void t_use_after_free_faults(struct ktest *t)
{
    if (!gh_knobs.efence)
        KT_SKIP(t, "boot with goheap=efence=1");
    for (unsigned i = 0; i < NSIZES; i++) {
        size_t sz = SIZE(i);
        uint8_t *p = efence_alloc_site(sz);
        KT_ASSERT(t, p != 0);
        p[0] = 1;
        goheap_free(p);
        struct fault_info fi;
        KT_EXPECT_FAULT(t, peek, p, &fi);
        KT_EXPECT_EQ(t, fi.addr, (uintptr_t)p);
        check_report(t, fi.addr, p, sz, "use after free of");
        /* Freed address space sits in the quarantine: the next object lands elsewhere. */
        void *q = efence_alloc_site(sz);
        KT_EXPECT(t, q != p);
        goheap_free(q);
    }
}

/* Every CPU but 0 allocates and frees guarded objects, below and from 16 pages (the
 * latter mapped unpinned and published by the map's last hold), checking each one's
 * contents, while CPU 0 runs the leak scan and gives memory back: no canary failure,
 * every object intact, and the heap whole after (validated once the churn is over:
 * goheap_validate counts a guarded free between its holds as in flight, include/goheap.h). */
#define EF_ROUNDS 12
static const size_t ef_churn_sizes[] = { 48, 5008, 70000, 200000 };
#define EF_NSIZES (sizeof ef_churn_sizes / sizeof ef_churn_sizes[0])
static unsigned ef_workers_left;
static void ef_no_leak(const struct goheap_leak *leak, void *ctx) { (void)leak; (void)ctx; }

static void ef_churn_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    ktest_cpu_barrier();
    if (cpu == 0) {
        unsigned scans = 0;
        while (__atomic_load_n(&ef_workers_left, __ATOMIC_ACQUIRE)) {
            goheap_leak_scan(ef_no_leak, 0);
            goheap_free_os_memory();
            scans++;
        }
        ktest_log("cpu 0: %u leak scans and releases during the churn", scans);
    } else {
        void *live[EF_NSIZES] = { 0 };
        for (unsigned r = 0; r < EF_ROUNDS; r++)
            for (unsigned i = 0; i < EF_NSIZES; i++) {
                size_t sz = ef_churn_sizes[(i + r + cpu) % EF_NSIZES];
                size_t old = ef_churn_sizes[(i + r + cpu - 1 + EF_NSIZES) % EF_NSIZES];
                if (live[i]) {
                    if (!hu_check(live[i], old))
                        ktest_fail(t, __FILE__, __LINE__, "cpu %u: object %p of %zu bytes changed", cpu,
                                   live[i], old);
                    goheap_free(live[i]);
                }
                live[i] = goheap_malloc(sz);
                if (!live[i]) {
                    ktest_fail(t, __FILE__, __LINE__, "cpu %u: malloc(%zu) failed", cpu, sz);
                    continue;
                }
                hu_fill(live[i], sz);
            }
        for (unsigned i = 0; i < EF_NSIZES; i++)
            goheap_free(live[i]);
        __atomic_fetch_sub(&ef_workers_left, 1, __ATOMIC_RELEASE);
    }
    ktest_cpu_barrier();
}

static void t_smp_churn(struct ktest *t)
{
    if (!gh_knobs.efence)
        KT_SKIP(t, "boot with goheap=efence=1");
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    ef_workers_left = ktest_ncpus() - 1;
    ktest_on_all_cpus(t, ef_churn_cpu, 0);
    goheap_free_os_memory();
    hu_validate(t);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_efence_cases[] = {
    KTEST_CASE(t_overflow_faults), KTEST_CASE(t_underflow_faults),
    KTEST_CASE(t_use_after_free_faults), KTEST_CASE(t_smp_churn), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_efence, "heap_efence", heap_efence_cases, hu_init, 0);
