/* tests/kernel/test_spinlock.c: the ticket lock: mutual exclusion with a shared counter
 * on every CPU, trylock, the IRQ-saving variant, and a legal lock order. */
#include <arch/cpu.h>
#include <arch/timer.h>
#include <ktest.h>
#include <percpu.h>
#include <spinlock.h>

#define ITERS 5000  /* x 4 CPUs; single-threaded TCG switches vCPU at every pause */

static struct spinlock counter_lock = SPINLOCK_INIT("test-counter", LOCK_RANK_TEST);
static volatile uint64_t counter;           /* protected by counter_lock */
static volatile uint64_t per_cpu_done[MAX_CPUS];

/* Each CPU stops after ITERS rounds or after 2 s, but not before 16 (vCPUs that share 2 host cores, as
 * under multi-threaded TCG or KVM, hand a ticket lock over at host scheduler pace). */
#define BUDGET_NS 2000000000ull
static uint64_t deadline;

static void hammer(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    int irqsave = *(int *)arg;
    ktest_cpu_barrier();
    if (cpu == 0)
        deadline = arch_nanotime() + BUDGET_NS;
    ktest_cpu_barrier();
    int i;
    for (i = 0; i < ITERS && (i < 16 || arch_nanotime() < deadline); i++) {
        arch_irqflags_t f = 0;
        if (irqsave)
            f = spin_lock_irqsave(&counter_lock);
        else
            spin_lock(&counter_lock);
        /* A deliberately wide read-modify-write window. */
        uint64_t v = counter;
        arch_cpu_relax();
        counter = v + 1;
        if (irqsave)
            spin_unlock_irqrestore(&counter_lock, f);
        else
            spin_unlock(&counter_lock);
    }
    per_cpu_done[cpu] = (uint64_t)i;
    ktest_cpu_barrier();
}

static void run_hammer(struct ktest *t, int irqsave)
{
    counter = 0;
    ktest_on_all_cpus(t, hammer, &irqsave);
    uint64_t want = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++) {
        want += per_cpu_done[i];
        per_cpu_done[i] = 0;
    }
    KT_EXPECT(t, want >= 16 * ktest_ncpus());
    KT_EXPECT_EQ(t, counter, want);
}

static void t_mutual_exclusion(struct ktest *t) { run_hammer(t, 0); }
static void t_mutual_exclusion_irqsave(struct ktest *t) { run_hammer(t, 1); }

static void t_trylock(struct ktest *t)
{
    static struct spinlock l = SPINLOCK_INIT("test-try", LOCK_RANK_TEST);
    KT_ASSERT(t, spin_trylock(&l));
    KT_EXPECT(t, arch_spin_is_locked(&l.raw));
    KT_EXPECT(t, !arch_spin_trylock(&l.raw));
    spin_unlock(&l);
    KT_EXPECT(t, !arch_spin_is_locked(&l.raw));
}

static void t_irqsave_masks(struct ktest *t)
{
    static struct spinlock l = SPINLOCK_INIT("test-irq", LOCK_RANK_TEST);
    KT_ASSERT(t, arch_irqs_enabled());
    arch_irqflags_t f = spin_lock_irqsave(&l);
    KT_EXPECT(t, !arch_irqs_enabled());
    spin_unlock_irqrestore(&l, f);
    KT_EXPECT(t, arch_irqs_enabled());
    /* Nested: the inner restore must not unmask. */
    f = arch_irq_save();
    arch_irqflags_t g = spin_lock_irqsave(&l);
    spin_unlock_irqrestore(&l, g);
    KT_EXPECT(t, !arch_irqs_enabled());
    arch_irq_restore(f);
    KT_EXPECT(t, arch_irqs_enabled());
}

static void t_lock_order_ok(struct ktest *t)
{
    static struct spinlock lo = SPINLOCK_INIT("test-lo", LOCK_RANK_TEST),
                              hi = SPINLOCK_INIT("test-hi", LOCK_RANK_TEST_INNER);
    spin_lock(&lo);
    spin_lock(&hi);
    KT_EXPECT_EQ(t, this_cpu()->nheld, 2);
    spin_unlock(&hi);
    spin_unlock(&lo);
    /* Out-of-order release is allowed. */
    spin_lock(&lo);
    spin_lock(&hi);
    spin_unlock(&lo);
    spin_unlock(&hi);
    KT_EXPECT_EQ(t, this_cpu()->nheld, 0);
}

static const struct ktest_case spinlock_cases[] = {
    KTEST_CASE(t_mutual_exclusion),
    KTEST_CASE(t_mutual_exclusion_irqsave),
    KTEST_CASE(t_trylock),
    KTEST_CASE(t_irqsave_masks),
    KTEST_CASE(t_lock_order_ok),
};
KTEST_SUITE(spinlock, spinlock_cases);
