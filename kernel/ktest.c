/* kernel/ktest.c: the in-kernel test runner. Walks the ktest_suites section, runs the
 * suites selected by the `test=` prefixes, and prints KTAP: a top-level plan over
 * suites, and per suite a nested block with one line per case. */
#include <stdarg.h>
#include <string.h>
#include <ktest.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <arch/timer.h>

/* Cases slower than this get a "took N ms" diagnostic line (to spot slow runs). */
#define KTEST_SLOW_NS 100000000ull

extern const struct ktest_suite __start_ktest_suites[], __stop_ktest_suites[];

static struct ktest *current;
static struct smp_barrier all_cpus_barrier;
static unsigned all_cpus_n;

/* filter: "" or "all" selects everything; else comma-separated name prefixes.
 * Suites named selftest_* (they panic on purpose) run only when named in full. */
static int selected(const char *name, const char *filter)
{
    int explicit_only = strncmp(name, "selftest_", 9) == 0;
    if (!filter[0] || strcmp(filter, "all") == 0)
        return !explicit_only;
    const char *p = filter;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && strncmp(name, p, n) == 0 && (!explicit_only || name[n] == 0))
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintk(msg, sizeof msg, fmt, ap);
    va_end(ap);
    __atomic_fetch_add(&t->failures, 1, __ATOMIC_RELAXED);
    printk("    # FAIL %s (cpu %u) %s:%d: %s\n", t->name, cpu_index(), file, line, msg);
}

void ktest_skip(struct ktest *t, const char *reason)
{
    t->skip_reason = reason;
    __atomic_store_n(&t->skipped, 1, __ATOMIC_RELAXED);
}

void ktest_log(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintk(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printk("    # %s\n", msg);
}

struct on_all {
    struct ktest *t;
    void (*fn)(struct ktest *t, unsigned cpu, void *arg);
    void *arg;
};

static void on_all_tramp(unsigned cpu, void *arg)
{
    struct on_all *oa = arg;
    oa->fn(oa->t, cpu, oa->arg);
}

void ktest_on_all_cpus(struct ktest *t, void (*fn)(struct ktest *t, unsigned cpu, void *arg),
                       void *arg)
{
    all_cpus_n = cpus_online();
    smp_barrier_init(&all_cpus_barrier, all_cpus_n);
    struct on_all oa = { t, fn, arg };
    smp_run_all(on_all_tramp, &oa);
}

void ktest_cpu_barrier(void)
{
    smp_barrier_wait(&all_cpus_barrier);
}

unsigned ktest_ncpus(void)
{
    return cpus_online();
}

/* Bytes of stack zeroed below the runner before each case: a case's frames then hold
 * only what the case wrote, not stale words of earlier cases in their unwritten slots
 * (the leak scan's cases, tests/kernel/heap_leak.c, copy live stacks and count such a
 * word as a reference). The deepest of them reaches ~2.3 KiB below the runner. */
#define KTEST_WIPE_BYTES 4096

static __attribute__((noinline)) void wipe_stack_below(void)
{
    uint64_t buf[KTEST_WIPE_BYTES / 8];
    for (unsigned i = 0; i < KTEST_WIPE_BYTES / 8; i++)
        ((volatile uint64_t *)buf)[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory"); /* the stores are the point */
}

unsigned ktest_run_all(const char *filter)
{
    unsigned nsuites = 0, failed = 0, idx = 0;
    for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites; s++)
        if (selected(s->name, filter))
            nsuites++;
    printk("KTAP version 1\n1..%u\n", nsuites);
    for (const struct ktest_suite *s = __start_ktest_suites; s < __stop_ktest_suites; s++) {
        if (!selected(s->name, filter))
            continue;
        idx++;
        printk("    KTAP version 1\n    # Subtest: %s\n    1..%zu\n", s->name, s->ncases);
        int init_err = s->init ? s->init() : 0;
        unsigned suite_failed = 0;
        for (size_t i = 0; i < s->ncases; i++) {
            struct ktest t = { .suite = s->name, .name = s->cases[i].name };
            if (init_err) {
                printk("    not ok %zu %s # suite init failed: %d\n", i + 1, t.name, init_err);
                suite_failed++;
                continue;
            }
            current = &t;
            uint64_t t0 = arch_nanotime();
            wipe_stack_below();
            s->cases[i].fn(&t);
            uint64_t dt = arch_nanotime() - t0;
            current = 0;
            if (dt >= KTEST_SLOW_NS)
                printk("    # %s took %llu ms\n", t.name, (unsigned long long)(dt / 1000000));
            if (t.failures) {
                printk("    not ok %zu %s\n", i + 1, t.name);
                suite_failed++;
            } else if (t.skipped) {
                printk("    ok %zu %s # SKIP %s\n", i + 1, t.name, t.skip_reason);
            } else {
                printk("    ok %zu %s\n", i + 1, t.name);
            }
        }
        if (s->fini && !init_err)
            s->fini();
        printk("%s %u %s\n", suite_failed ? "not ok" : "ok", idx, s->name);
        failed += suite_failed;
    }
    return failed;
}
