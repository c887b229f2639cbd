/* arch/aarch64/ktest_arch.c: the aarch64-only suite (test=arch_aarch64: MPIDR identity,
 * DTB source, both lock implementations, abort decoding, W^X, timer, shootdown with no
 * IPI) and the stack-overflow selftest. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/spinlock.h>
#include <arch/timer.h>
#include <arch_api.h>
#include <cmdline.h>
#include <fault.h>
#include <frame.h>
#include <ktest.h>
#include <percpu.h>
#include <string.h>
#include <vm.h>
#include <arch/a64.h>

/* ---- identity ---------------------------------------------------------------------- */
static uint64_t seen_index_mask;           /* __atomic builtins only */

static void identity_on_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t mpidr;
    __asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
    uint64_t hw = arch_cpu_hwid();
    unsigned idx = arch_cpu_index();
    ktest_log("cpu %u: MPIDR 0x%lx (affinity 0x%lx) -> index %u", cpu, (unsigned long)mpidr,
              (unsigned long)hw, idx);
    KT_EXPECT_EQ(t, idx, cpu);
    KT_EXPECT_EQ(t, hw, mpidr_affinity(mpidr));
    KT_EXPECT_EQ(t, arch_cpu_index_of_hwid(hw), idx);
    KT_EXPECT_EQ(t, this_cpu()->hwid, hw);
    KT_EXPECT(t, (uintptr_t)arch_percpu_ptr() == (uintptr_t)&cpus[idx]);
    uint64_t old = __atomic_fetch_or(&seen_index_mask, 1ull << idx, __ATOMIC_RELAXED);
    KT_EXPECT(t, !(old & (1ull << idx)));                       /* unique */
}

static void t_mpidr_index(struct ktest *t)
{
    __atomic_store_n(&seen_index_mask, 0, __ATOMIC_RELAXED);
    ktest_on_all_cpus(t, identity_on_cpu, NULL);
    unsigned n = ktest_ncpus();
    KT_EXPECT_EQ(t, __atomic_load_n(&seen_index_mask, __ATOMIC_RELAXED),
                 n >= 64 ? ~0ull : (1ull << n) - 1);
    KT_EXPECT_EQ(t, n, fdt.ncpu);
}

/* ---- both lock implementations -------------------------------------------------------
 * Each CPU does ROUNDS lock/increment/unlock pairs on a shared counter kept as a
 * non-atomic read-modify-write, so any lost mutual exclusion loses an increment.
 * 20000 rounds take well under a second under TCG with 8 CPUs. */
#define ROUNDS 20000
static arch_spinlock_t lock;
static uint64_t counter;            /* protected by lock */
static uint8_t want_lse;

static void lock_on_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t; (void)cpu; (void)arg;
    for (unsigned i = 0; i < ROUNDS; i++) {
        if (i & 1) {
            arch_spin_lock(&lock);
        } else {
            while (!arch_spin_trylock(&lock))
                arch_cpu_relax();
        }
        uint64_t v = *(volatile uint64_t *)&counter;
        *(volatile uint64_t *)&counter = v + 1;
        arch_spin_unlock(&lock);
    }
}

static void run_lock_test(struct ktest *t, uint8_t lse)
{
    uint8_t saved = arch_have_lse;
    counter = 0;
    arch_have_lse = lse;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);     /* published by the IPI's DSB too */
    ktest_on_all_cpus(t, lock_on_cpu, NULL);
    arch_have_lse = saved;
    KT_EXPECT_EQ(t, counter, (uint64_t)ROUNDS * ktest_ncpus());
    KT_EXPECT(t, !arch_spin_is_locked(&lock));
}

static void t_lock_llsc(struct ktest *t) { run_lock_test(t, 0); }

static void t_lock_lse(struct ktest *t)
{
    uint64_t isar0;
    __asm__ volatile("mrs %0, id_aa64isar0_el1" : "=r"(isar0));
    if (((isar0 >> 20) & 0xf) < 2)
        KT_SKIP(t, "CPU has no FEAT_LSE");
    (void)want_lse;
    run_lock_test(t, 1);
}

/* ---- abort decoding ------------------------------------------------------------------ */
static void store_one(void *p) { *(volatile uint64_t *)p = 1; }
static void load_one(void *p) { (void)*(volatile uint64_t *)p; }

static void t_abort_decode(struct ktest *t)
{
    uintptr_t va = vm_reserve_scratch(ARCH_FRAME_SIZE);
    struct fault_info fi;
    KT_ASSERT(t, fault_expect(load_one, (void *)va, &fi) == 1);
    KT_EXPECT_EQ(t, fi.addr, va);
    KT_EXPECT_EQ(t, fi.vector, 0x25);                           /* data abort, same EL */
    KT_EXPECT_EQ(t, fi.flags, 0);                               /* read, not present */
    KT_ASSERT(t, fault_expect(store_one, (void *)(va + 8), &fi) == 1);
    KT_EXPECT_EQ(t, fi.addr, va + 8);
    KT_EXPECT_EQ(t, fi.flags, FAULT_WRITE);

    /* A read-only mapping: the load works, the store is a permission fault. */
    uint64_t pa = frame_alloc(FRAME_ZERO);
    KT_ASSERT(t, pa != 0);
    KT_ASSERT_EQ(t, arch_map_page(va, pa, 0), 0);
    KT_EXPECT_EQ(t, fault_expect(load_one, (void *)va, &fi), 0);
    KT_ASSERT(t, fault_expect(store_one, (void *)va, &fi) == 1);
    KT_EXPECT_EQ(t, fi.flags, FAULT_WRITE | FAULT_PROTECTION);
    arch_unmap(va, ARCH_FRAME_SIZE, ARCH_UNMAP_FREE);
    KT_EXPECT_EQ(t, fault_expect(load_one, (void *)va, &fi), 1);
}

/* ---- shootdown without IPIs ------------------------------------------------------------
 * Every other CPU reads the page (so its TLB holds the entry), then masks interrupts
 * and waits; CPU 0 unmaps (broadcast TLBI + DSB ISH) while they are masked, so no
 * interrupt could have helped; then each faults on its next access. */
static uintptr_t shoot_va;
static unsigned shoot_phase;               /* __atomic builtins only */

static void shoot_on_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    if (cpu == 0) {
        ktest_cpu_barrier();                                    /* all have read */
        while (__atomic_load_n(&shoot_phase, __ATOMIC_ACQUIRE) != ktest_ncpus() - 1)
            arch_cpu_relax();                                   /* all are masked */
        arch_unmap(shoot_va, ARCH_FRAME_SIZE, ARCH_UNMAP_FREE);
        __atomic_store_n(&shoot_phase, 0, __ATOMIC_RELEASE);
        ktest_cpu_barrier();
        return;
    }
    uint64_t v = *(volatile uint64_t *)shoot_va;
    KT_EXPECT_EQ(t, v, 0x5a5a5a5a);
    ktest_cpu_barrier();
    arch_irqflags_t f = arch_irq_save();
    __atomic_fetch_add(&shoot_phase, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&shoot_phase, __ATOMIC_ACQUIRE) != 0)
        arch_cpu_relax();
    struct fault_info fi;
    KT_EXPECT_EQ(t, fault_expect(load_one, (void *)shoot_va, &fi), 1);
    arch_irq_restore(f);
    ktest_cpu_barrier();
}

static void t_shootdown_irqs_masked(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    shoot_va = vm_reserve_scratch(ARCH_FRAME_SIZE);
    KT_ASSERT_EQ(t, vm_map_fresh(shoot_va, ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1), 0);
    *(volatile uint64_t *)shoot_va = 0x5a5a5a5a;
    __atomic_store_n(&shoot_phase, 0, __ATOMIC_RELAXED);
    ktest_on_all_cpus(t, shoot_on_cpu, NULL);
    uint64_t pa;
    KT_EXPECT_EQ(t, arch_translate(shoot_va, &pa), 0);
}

/* ---- device tree source ------------------------------------------------------------
 * From x0 when the loader passed it (the raw Image boot, `expect_dtb=x0`), else from the
 * start of RAM (QEMU's ELF path). Either way it is reserved and gave the command line. */
static void t_dtb_source(struct ktest *t)
{
    ktest_log("DTB at 0x%lx (%lu bytes), x0 at entry 0x%lx, RAM from 0x%lx",
              (unsigned long)fdt.dtb_pa, (unsigned long)fdt.dtb_size,
              (unsigned long)boot_dtb_pa, (unsigned long)fdt.mem[0].base);
    if (boot_dtb_pa)
        KT_EXPECT_EQ(t, fdt.dtb_pa, boot_dtb_pa);
    else
        KT_EXPECT_EQ(t, fdt.dtb_pa, fdt.mem[0].base);
    const char *want = cmdline_get("expect_dtb");
    if (want && strcmp(want, "x0") == 0)
        KT_EXPECT(t, boot_dtb_pa != 0);
    if (want && strcmp(want, "ram") == 0)
        KT_EXPECT_EQ(t, boot_dtb_pa, 0);
    struct mem_range r[64];
    size_t n = arch_reserved(r, 64);
    int covered = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].base <= fdt.dtb_pa && fdt.dtb_pa + fdt.dtb_size <= r[i].base + r[i].size)
            covered = 1;
    KT_EXPECT(t, covered);
    KT_EXPECT(t, strcmp(fdt.bootargs, cmdline_raw()) == 0);
}

/* ---- kernel image permissions (W^X, boot/aarch64/entry.S) ---------------------------- */
static const uint64_t ro_word = 0x0123456789abcdefull;
static uint32_t data_code[4] __attribute__((aligned(16))) = { 0xd65f03c0u };   /* ret */
extern char boot_stack_guard[];

static void call_data(void *p) { ((void (*)(void))p)(); }

static void t_image_wx(struct ktest *t)
{
    struct fault_info fi;
    uint64_t v;
    /* Text: readable and executable, not writable. */
    KT_EXPECT_EQ(t, fault_probe_read((const void *)(uintptr_t)&t_image_wx, &v, &fi), 0);
    KT_ASSERT_EQ(t, fault_probe_write((void *)(uintptr_t)&t_image_wx, 0, &fi), 1);
    KT_EXPECT_EQ(t, fi.flags, FAULT_WRITE | FAULT_PROTECTION);
    /* Rodata: readable, not writable. */
    KT_EXPECT_EQ(t, fault_probe_read(&ro_word, &v, &fi), 0);
    KT_EXPECT_EQ(t, v, 0x0123456789abcdefull);
    KT_ASSERT_EQ(t, fault_probe_write((void *)(uintptr_t)&ro_word, 0, &fi), 1);
    KT_EXPECT_EQ(t, fi.flags, FAULT_WRITE | FAULT_PROTECTION);
    /* Data: writable, not executable. */
    KT_EXPECT_EQ(t, fault_probe_write(&data_code[3], 0, &fi), 0);
    KT_ASSERT_EQ(t, fault_expect(call_data, data_code, &fi), 1);
    KT_EXPECT_EQ(t, fi.flags, FAULT_EXEC | FAULT_PROTECTION);
    KT_EXPECT_EQ(t, fi.pc, (uintptr_t)data_code);
    /* The boot stack's guard page is not mapped. */
    KT_ASSERT_EQ(t, fault_probe_read(boot_stack_guard + 64, &v, &fi), 1);
    KT_EXPECT_EQ(t, fi.flags, 0);
}

/* ---- generic timer: one time base on every CPU ----------------------------------------
 * Each CPU reads the clock before a barrier; after it, every CPU's clock must be at or
 * past the latest reading from before (CNTVCT is system-wide; at EL2 boots each CPU
 * sets CNTVOFF_EL2 = 0 itself, so a wrong offset on one CPU would show here). */
static uint64_t before_max;

static void timer_on_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    (void)arg;
    uint64_t a = arch_nanotime();
    uint64_t m = __atomic_load_n(&before_max, __ATOMIC_RELAXED);
    while (a > m && !__atomic_compare_exchange_n(&before_max, &m, a, 0, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
        ;
    ktest_cpu_barrier();
    uint64_t b = arch_nanotime();
    uint64_t latest = __atomic_load_n(&before_max, __ATOMIC_RELAXED);
    if (b < latest)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: clock %lu ns behind another CPU's earlier "
                   "reading %lu ns", cpu, (unsigned long)b, (unsigned long)latest);
}

static void t_timer(struct ktest *t)
{
    uint64_t hz;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
    KT_EXPECT_EQ(t, hz, arch_timer_hz);
    uint64_t t0 = arch_nanotime(), c0 = arch_cycles();
    while (arch_cycles() - c0 < hz / 1000)                  /* 1 ms of counter ticks */
        arch_cpu_relax();
    uint64_t dt = arch_nanotime() - t0;
    KT_EXPECT(t, dt >= 1000000 && dt < 1000000000);
    __atomic_store_n(&before_max, 0, __ATOMIC_RELAXED);
    ktest_on_all_cpus(t, timer_on_cpu, NULL);
}

static const struct ktest_case aarch64_cases[] = {
    KTEST_CASE(t_mpidr_index),
    KTEST_CASE(t_dtb_source),
    KTEST_CASE(t_lock_llsc),
    KTEST_CASE(t_lock_lse),
    KTEST_CASE(t_abort_decode),
    KTEST_CASE(t_image_wx),
    KTEST_CASE(t_timer),
    KTEST_CASE(t_shootdown_irqs_masked),
};
KTEST_SUITE(arch_aarch64, aarch64_cases);

/* ---- a translation fault on a page mapped meanwhile ------------------------------------
 * Without FEAT_ETS2 the architecture lets a CPU walk the tables for an access before
 * an earlier load that ordered it (the acquire that found the pointer), so a page
 * another CPU mapped and then published may still fault here as not-present: a fault
 * that the tables, read again, do not support. The handler must retry such a fault,
 * not report it (Linux: is_spurious_el1_translation_fault). TCG never walks early, so
 * the test hook stands in for the late-seen store: it maps the page while the fault
 * is taken. A page that stays unmapped must still fault. */
static uintptr_t late_va;
static uint64_t late_pa;

static void map_late(uintptr_t far)
{
    if ((far & ~(uintptr_t)(ARCH_FRAME_SIZE - 1)) == late_va)
        arch_map_page(late_va, late_pa, ARCH_MAP_WRITE);
}

static void t_spurious_translation_fault(struct ktest *t)
{
    late_va = vm_reserve_scratch(ARCH_FRAME_SIZE);      /* an unmapped frame follows */
    late_pa = frame_alloc(FRAME_ZERO);
    KT_ASSERT(t, late_pa != 0);
    KT_ASSERT_EQ(t, arch_map_prepare(late_va, ARCH_FRAME_SIZE), 0); /* the hook allocates nothing */
    *(volatile uint64_t *)arch_phys_to_virt(late_pa + 64) = 0x5a5a0123456789a5ull;
    unsigned long before = arch_spurious_faults();
    struct fault_info fi;
    uint64_t v = 0, pa;
    __atomic_store_n(&arch_translation_fault_test_hook, map_late, __ATOMIC_RELEASE);
    int faulted = fault_probe_read((const void *)(late_va + 64), &v, &fi);
    int guard_faulted = fault_probe_read((const void *)(late_va + ARCH_FRAME_SIZE + 64), &v, &fi);
    __atomic_store_n(&arch_translation_fault_test_hook, 0, __ATOMIC_RELEASE);
    KT_EXPECT_EQ(t, faulted, 0);
    KT_EXPECT_EQ(t, arch_spurious_faults() - before, 1);
    KT_EXPECT(t, arch_translate(late_va, &pa) && pa == late_pa);
    KT_EXPECT_EQ(t, *(volatile uint64_t *)(late_va + 64), 0x5a5a0123456789a5ull);
    KT_EXPECT_EQ(t, guard_faulted, 1);              /* really unmapped: still a fault */
    KT_EXPECT_EQ(t, fi.addr, late_va + ARCH_FRAME_SIZE + 64);
    arch_unmap(late_va, ARCH_FRAME_SIZE, ARCH_UNMAP_FREE);
}

static const struct ktest_case spurious_cases[] = { KTEST_CASE(t_spurious_translation_fault) };
KTEST_SUITE(arch_aarch64_spurious, spurious_cases);
