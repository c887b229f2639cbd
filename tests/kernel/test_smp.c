/* tests/kernel/test_smp.c: cross-CPU calls (all CPUs, one CPU, crossing calls) and
 * the barrier. */
#include <arch/cpu.h>
#include <ktest.h>
#include <percpu.h>
#include <smp.h>
#include <string.h>

/* Rounds: enough to interleave every CPU many times; small enough for slow KVM here
 * (each round can wait for a descheduled vCPU when vCPUs outnumber host cores). */
#define CROSS_ROUNDS 50
#define BARRIER_ROUNDS 200

static unsigned hits[MAX_CPUS];

static void count_hit(void *arg)
{
    __atomic_fetch_add(&hits[cpu_index()], 1, __ATOMIC_RELAXED);
    if (arch_irqs_enabled())
        __atomic_fetch_add((unsigned *)arg, 1, __ATOMIC_RELAXED);
}

static void t_call_all(struct ktest *t)
{
    unsigned unmasked = 0;
    memset(hits, 0, sizeof hits);
    smp_call_all(count_hit, &unmasked);
    for (unsigned i = 0; i < MAX_CPUS; i++)
        KT_EXPECT_EQ(t, hits[i], i < ktest_ncpus() ? 1u : 0u);
    KT_EXPECT_EQ(t, unmasked, 0);           /* calls run with interrupts masked */
}

static void record_index(void *arg)
{
    *(unsigned *)arg = cpu_index();
}

static void t_call_each_cpu(struct ktest *t)
{
    for (unsigned c = 0; c < ktest_ncpus(); c++) {
        unsigned got = 12345;
        smp_call_cpu(c, record_index, &got);
        KT_EXPECT_EQ(t, got, c);
    }
}

/* Every CPU calls every CPU at once, repeatedly: a waiting caller must keep serving. */
static void crossing_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t; (void)cpu; (void)arg;
    unsigned unmasked = 0;
    ktest_cpu_barrier();
    for (int i = 0; i < CROSS_ROUNDS; i++)
        smp_call_all(count_hit, &unmasked);
    ktest_cpu_barrier();
}

static void t_crossing_calls(struct ktest *t)
{
    memset(hits, 0, sizeof hits);
    ktest_on_all_cpus(t, crossing_cpu, 0);
    unsigned n = ktest_ncpus();
    for (unsigned i = 0; i < n; i++)
        KT_EXPECT_EQ(t, hits[i], CROSS_ROUNDS * n);
}

static unsigned phase_count;

static void barrier_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    unsigned n = ktest_ncpus();
    for (unsigned r = 0; r < BARRIER_ROUNDS; r++) {
        __atomic_fetch_add(&phase_count, 1, __ATOMIC_RELAXED);
        ktest_cpu_barrier();
        unsigned c = __atomic_load_n(&phase_count, __ATOMIC_RELAXED);
        if (c != n * (r + 1)) {
            ktest_fail(t, __FILE__, __LINE__, "cpu %u round %u sees %u arrivals, want %u", cpu,
                       r, c, n * (r + 1));
        }
        ktest_cpu_barrier();
    }
}

static void t_barrier(struct ktest *t)
{
    phase_count = 0;
    ktest_on_all_cpus(t, barrier_cpu, 0);
}

static const struct ktest_case smp_cases[] = {
    KTEST_CASE(t_call_all),
    KTEST_CASE(t_call_each_cpu),
    KTEST_CASE(t_crossing_calls),
    KTEST_CASE(t_barrier),
};
KTEST_SUITE(smp, smp_cases);
