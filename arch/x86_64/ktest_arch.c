/* arch/x86_64/ktest_arch.c: x86_64-only suites: control registers and descriptor tables
 * on every CPU, and the double-fault path (selftest, panics on purpose). */
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/x86.h>
#include <fault.h>
#include <ktest.h>
#include <percpu.h>

static void regs_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    if (!(rdmsr(MSR_EFER) & (1u << 11)))
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: EFER.NXE clear", cpu);
    if (!(read_cr0() & (1u << 16)))
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: CR0.WP clear", cpu);
    if (rdmsr(MSR_GS_BASE) != (uint64_t)(uintptr_t)&cpus[cpu])
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: GS base 0x%llx", cpu,
                   (unsigned long long)rdmsr(MSR_GS_BASE));
    /* Bring-up only, but fine in a test: CPUID's initial APIC id is the LAPIC's. */
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    if ((b >> 24) != arch_cpu_hwid())
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: CPUID APIC id %u, LAPIC %llu", cpu, b >> 24,
                   (unsigned long long)arch_cpu_hwid());
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr, gdtr;
    __asm__ volatile("sidt %0; sgdt %1" : "=m"(idtr), "=m"(gdtr));
    uint16_t tr;
    __asm__ volatile("str %0" : "=r"(tr));
    ((uint64_t *)arg)[cpu * 2] = idtr.base;
    ((uint64_t *)arg)[cpu * 2 + 1] = gdtr.base;
    if (tr != SEL_TSS || idtr.limit != 256 * 16 - 1)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: tr 0x%x idt limit %u", cpu, tr, idtr.limit);
}

static void t_cpu_state(struct ktest *t)
{
    static uint64_t tables[MAX_CPUS * 2];
    ktest_on_all_cpus(t, regs_cpu, tables);
    for (unsigned i = 0; i < ktest_ncpus(); i++)
        for (unsigned j = 0; j < i; j++) {
            KT_EXPECT(t, tables[i * 2] != tables[j * 2]);           /* own IDT */
            KT_EXPECT(t, tables[i * 2 + 1] != tables[j * 2 + 1]);   /* own GDT */
        }
}

static void t_identity_map_gone(struct ktest *t)
{
    uint64_t pa;
    KT_EXPECT(t, !arch_translate(0x8000, &pa));
    KT_EXPECT(t, !arch_translate(0x100000, &pa));
}

/* The boot CPU's stack has an unmapped page below it (mm.c, x86_guard_boot_stack);
 * the rest of its 2 MiB page, now 4 KiB entries, still maps the same frames. */
extern char boot_stack_guard[], boot_stack_bottom[];

static void t_boot_stack_guard(struct ktest *t)
{
    struct fault_info fi;
    uint64_t v, pa;
    KT_ASSERT_EQ(t, fault_probe_read(boot_stack_guard + 64, &v, &fi), 1);
    KT_EXPECT_EQ(t, fi.addr, (uintptr_t)(boot_stack_guard + 64));
    KT_EXPECT(t, !arch_translate((uintptr_t)boot_stack_guard, &pa));
    KT_EXPECT_EQ(t, fault_probe_read(boot_stack_bottom, &v, &fi), 0);
    KT_ASSERT(t, arch_translate((uintptr_t)boot_stack_bottom, &pa));
    KT_EXPECT_EQ(t, pa, arch_virt_to_phys(boot_stack_bottom));
    uintptr_t below = (uintptr_t)boot_stack_guard - 8;     /* the .bss before the guard */
    KT_ASSERT(t, arch_translate(below, &pa));
    KT_EXPECT_EQ(t, pa, arch_virt_to_phys((const void *)below));
}

static const struct ktest_case x86_cases[] = {
    KTEST_CASE(t_cpu_state),
    KTEST_CASE(t_identity_map_gone),
    KTEST_CASE(t_boot_stack_guard),
};
KTEST_SUITE(arch_x86_64, x86_cases);

/* Point the stack at the unmapped heap arena and push: the #PF cannot be delivered on
 * that stack, so the CPU raises #DF, which runs on its IST1 stack and panics. */
static void t_double_fault(struct ktest *t)
{
    __asm__ volatile("movq %0, %%rsp; pushq $0" : : "r"(ARCH_HEAP_ARENA_BASE + 0x10000) : "memory");
    ktest_fail(t, __FILE__, __LINE__, "no double fault");
}

static const struct ktest_case df_cases[] = { KTEST_CASE(t_double_fault) };
KTEST_SUITE(selftest_doublefault, df_cases);
