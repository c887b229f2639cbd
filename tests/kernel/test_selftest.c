/* tests/kernel/test_selftest.c: suites that panic on purpose. Each runs only when named
 * in full (test=selftest_<x>) in a boot that declares the exact expected panic
 * (its row in qemu/boots.tab), proving the panic paths report what they should. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <frame.h>
#include <ktest.h>
#include <panic.h>
#include <printk.h>
#include <smp.h>
#include <spinlock.h>

static void t_panic(struct ktest *t)
{
    (void)t;
    panic("ktest: deliberate panic (selftest_panic)");
}

static void t_lock_order(struct ktest *t)
{
    static struct spinlock low = SPINLOCK_INIT("selftest-low", LOCK_RANK_TEST);
    static struct spinlock high = SPINLOCK_INIT("selftest-high", LOCK_RANK_TEST_INNER);
    spin_lock(&high);
    spin_lock(&low);            /* class test while holding test-inner: panics */
    ktest_fail(t, __FILE__, __LINE__, "lock order violation not detected");
}

static void t_recursion(struct ktest *t)
{
    static struct spinlock l = SPINLOCK_INIT("selftest-rec", LOCK_RANK_TEST);
    spin_lock(&l);
    spin_lock(&l);              /* recursive: panics instead of deadlocking */
    ktest_fail(t, __FILE__, __LINE__, "recursive acquisition not detected");
}

static void t_page_fault(struct ktest *t)
{
    *(volatile uint64_t *)(ARCH_HEAP_ARENA_BASE + 8) = 1;   /* unmapped: panics */
    ktest_fail(t, __FILE__, __LINE__, "write to the empty heap arena did not fault");
}

static void noop(void *arg) { (void)arg; }

static void t_masked_wait(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    arch_irq_disable();
    smp_call_all(noop, 0);      /* would wait for acks with interrupts masked: panics */
    arch_irq_enable();
    ktest_fail(t, __FILE__, __LINE__, "cross-CPU wait with interrupts masked not refused");
}

static void alloc_in_handler(void *arg)
{
    *(uint64_t *)arg = frame_alloc(0);  /* not allowed in an interrupt handler: panics */
}

static void t_frame_in_irq(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    uint64_t pa = 0;
    smp_call_cpu(1, alloc_in_handler, &pa);
    ktest_fail(t, __FILE__, __LINE__, "frame_alloc in an interrupt handler not refused");
}

/* A frame given back twice in a row: the first free goes to this CPU's cache, where
 * the second must be caught too, not only once the cache drains into the bitmap (two
 * copies in the cache hand the frame to two owners). */
static void t_frame_double_free(struct ktest *t)
{
    uint64_t pa = frame_alloc(0);
    KT_ASSERT(t, pa != 0);
    frame_free(pa);
    printk("# heap-expect-panic: frame_free: double free of frame 0x%llx\n", (unsigned long long)pa);
    frame_free(pa);
    ktest_fail(t, __FILE__, __LINE__, "double free of frame 0x%llx not detected", (unsigned long long)pa);
}

/* A run given back while one of its frames sits in this CPU's frame cache, freed there
 * singly: the run's free must be caught at that frame (else the frame goes back to the
 * bitmap while the cache still holds it: two owners). */
static void t_frame_run_double_free(struct ktest *t)
{
    uint64_t pa = frame_alloc_run(4, 1, 0);
    KT_ASSERT(t, pa != 0);
    uint64_t one = pa + 2 * ARCH_FRAME_SIZE;
    frame_free(one);
    printk("# heap-expect-panic: frame_free: double free of frame 0x%llx\n", (unsigned long long)one);
    frame_free_run(pa, 4);
    ktest_fail(t, __FILE__, __LINE__, "double free of frame 0x%llx (cached, then in a run) not detected",
               (unsigned long long)one);
}

/* A frame freed on CPU 1 (into CPU 1's cache), then again on CPU 0. */
static uint64_t xcpu_frame;

static void xcpu_free(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t; (void)arg;
    if (cpu == 1)
        frame_free(xcpu_frame);
    ktest_cpu_barrier();
    if (cpu == 0) {
        printk("# heap-expect-panic: frame_free: double free of frame 0x%llx\n",
               (unsigned long long)xcpu_frame);
        frame_free(xcpu_frame);
    }
}

static void t_frame_double_free_xcpu(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    xcpu_frame = frame_alloc(0);
    KT_ASSERT(t, xcpu_frame != 0);
    ktest_on_all_cpus(t, xcpu_free, 0);
    ktest_fail(t, __FILE__, __LINE__, "double free of frame 0x%llx (cached on cpu 1) not detected",
               (unsigned long long)xcpu_frame);
}

/* ---- a call served by a waiting CPU's poll (kernel/smp.c, serve_polled) is interrupt
 * context like one its IPI runs. CPU 0 queues fn for CPU 1 with the IPI withheld
 * (smp_test_ipi_hook), so only CPU 1's poll can serve it (any IPI serves every queued
 * call, hence the barrier first): CPU 1 then calls CPU 0,
 * whose handler spins until fn ran, and serves fn while it waits for that call. */
static int polled_posted, polled_ran;

static int withhold_ipi_to_cpu1(unsigned target)
{
    if (target != 1)
        return 1;
    __atomic_store_n(&polled_posted, 1, __ATOMIC_RELEASE);
    return 0;
}

static void wait_polled_ran(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&polled_ran, __ATOMIC_ACQUIRE))
        arch_cpu_relax();
}

static void call_cpu0_waiting(void *arg)
{
    (void)arg;
    smp_call_cpu(0, wait_polled_ran, 0);
}

struct polled_case {
    void (*fn)(void *);         /* queued for CPU 1, served by its poll */
    int catch_on_cpu1;          /* CPU 1 waits inside a thread-context catch */
};

static void polled_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    const struct polled_case *pc = arg;
    ktest_cpu_barrier();    /* CPU 1 is past smp_run_all's IPI, which would serve fn */
    if (cpu == 0) {
        smp_call_cpu(1, pc->fn, 0);
    } else if (cpu == 1) {
        while (!__atomic_load_n(&polled_posted, __ATOMIC_ACQUIRE))
            arch_cpu_relax();
        if (!pc->catch_on_cpu1)
            call_cpu0_waiting(0);
        else if (fault_expect(call_cpu0_waiting, 0, 0))
            /* The sender (CPU 0) now waits forever for a call that was abandoned. */
            ktest_fail(t, __FILE__, __LINE__, "a fault in a polled call was caught by cpu 1's "
                       "thread-context catch");
    }
}

/* Runs the case; the panic it expects ends the boot, so returning is the failure. */
static void run_polled(struct ktest *t, const struct polled_case *pc, const char *unrefused)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    __atomic_store_n(&smp_test_ipi_hook, withhold_ipi_to_cpu1, __ATOMIC_RELEASE);
    ktest_on_all_cpus(t, polled_cpu, (void *)pc);
    __atomic_store_n(&smp_test_ipi_hook, 0, __ATOMIC_RELEASE);
    ktest_fail(t, __FILE__, __LINE__, "%s", unrefused);
}

static void alloc_polled(void *arg)
{
    (void)arg;
    uint64_t pa = frame_alloc(0);   /* not allowed in a served call: panics */
    __atomic_store_n(&polled_ran, 1, __ATOMIC_RELEASE);
    if (pa)
        frame_free(pa);
}

static void t_frame_in_polled_call(struct ktest *t)
{
    static const struct polled_case pc = { alloc_polled, 0 };
    run_polled(t, &pc, "frame_alloc in a polled call not refused");
}

static void fault_polled(void *arg)
{
    (void)arg;
    __atomic_store_n(&polled_ran, 1, __ATOMIC_RELEASE);
    *(volatile uint64_t *)(ARCH_HEAP_ARENA_BASE + 8) = 1;   /* unmapped: panics */
}

static void t_fault_in_polled_call(struct ktest *t)
{
    static const struct polled_case pc = { fault_polled, 1 };
    run_polled(t, &pc, "a fault in a polled call did not panic");
}

static const struct ktest_case panic_cases[] = { KTEST_CASE(t_panic) };
KTEST_SUITE(selftest_panic, panic_cases);
static const struct ktest_case lockorder_cases[] = { KTEST_CASE(t_lock_order) };
KTEST_SUITE(selftest_lockorder, lockorder_cases);
static const struct ktest_case recursion_cases[] = { KTEST_CASE(t_recursion) };
KTEST_SUITE(selftest_recursion, recursion_cases);
static const struct ktest_case pagefault_cases[] = { KTEST_CASE(t_page_fault) };
KTEST_SUITE(selftest_pagefault, pagefault_cases);
static const struct ktest_case masked_cases[] = { KTEST_CASE(t_masked_wait) };
KTEST_SUITE(selftest_masked_wait, masked_cases);
static const struct ktest_case irqframe_cases[] = { KTEST_CASE(t_frame_in_irq) };
KTEST_SUITE(selftest_frame_in_irq, irqframe_cases);
static const struct ktest_case framedouble_cases[] = { KTEST_CASE(t_frame_double_free) };
KTEST_SUITE(selftest_frame_double_free, framedouble_cases);
static const struct ktest_case framerundouble_cases[] = { KTEST_CASE(t_frame_run_double_free) };
KTEST_SUITE(selftest_frame_run_double_free, framerundouble_cases);
static const struct ktest_case framedoublexcpu_cases[] = { KTEST_CASE(t_frame_double_free_xcpu) };
KTEST_SUITE(selftest_frame_double_free_xcpu, framedoublexcpu_cases);
static const struct ktest_case polledframe_cases[] = { KTEST_CASE(t_frame_in_polled_call) };
KTEST_SUITE(selftest_frame_in_polled_call, polledframe_cases);
static const struct ktest_case polledfault_cases[] = { KTEST_CASE(t_fault_in_polled_call) };
KTEST_SUITE(selftest_fault_in_polled_call, polledfault_cases);

/* ---- stack overflow: a CPU recurses until its stack runs into the unmapped page
 * below it. The fault cannot push its frame there; each arch notices (aarch64: the
 * vectors see sp below the stack's limit and move to an emergency stack; x86_64: the
 * double fault, on its IST stack, finds the page fault's address in the guard) and
 * panics "kernel stack overflow" instead of faulting forever or, with no guard,
 * writing over whatever lies below the stack. selftest_stackoverflow recurses on an
 * AP (CPU 1; CPU 0 when it is alone), selftest_stackoverflow_boot on the boot CPU,
 * whose stack is part of the kernel image. */
static unsigned __attribute__((noinline)) recurse(volatile unsigned *depth)
{
    volatile char pad[64];
    pad[0] = (char)*depth;
    if (++*depth > (1u << 30))          /* never: the 16 KiB stack ends far sooner */
        return 0;
    return recurse(depth) + pad[0];
}

static void overflow_on_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    static volatile unsigned depth;
    unsigned victim = *(const unsigned *)arg;
    if (cpu == victim || (victim >= ktest_ncpus() && cpu == 0))
        recurse(&depth);
    for (;;)
        arch_cpu_relax();           /* the panic on the recursing CPU ends the boot */
}

static void t_stack_overflow(struct ktest *t)
{
    static const unsigned ap = 1;
    ktest_on_all_cpus(t, overflow_on_cpu, (void *)&ap);
    ktest_fail(t, __FILE__, __LINE__, "no stack overflow detected");
}

static void t_stack_overflow_boot(struct ktest *t)
{
    static const unsigned boot = 0;
    ktest_on_all_cpus(t, overflow_on_cpu, (void *)&boot);
    ktest_fail(t, __FILE__, __LINE__, "no stack overflow detected on the boot CPU");
}

static const struct ktest_case overflow_cases[] = { KTEST_CASE(t_stack_overflow) };
KTEST_SUITE(selftest_stackoverflow, overflow_cases);
static const struct ktest_case overflow_boot_cases[] = { KTEST_CASE(t_stack_overflow_boot) };
KTEST_SUITE(selftest_stackoverflow_boot, overflow_boot_cases);
