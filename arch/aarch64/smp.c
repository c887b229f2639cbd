/* arch/aarch64/smp.c: SMP bring-up through PSCI CPU_ON, the MPIDR -> dense index
 * table, and each secondary's first C code. The conduit (HVC or SMC) comes from the
 * DTB's /psci method, else from the EL we booted at (EL3: the kernel's own pen, as
 * QEMU offers no PSCI then; EL2: SMC; EL1: HVC). */
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/sysregs.h>
#include <arch/timer.h>
#include <frame.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <vm.h>
#include <arch/a64.h>

uint64_t arch_secondary_stacks[ARCH_MAX_CPUS];  /* read by entry.S with the MMU on */

/* hwid_of[i] = MPIDR affinity of dense index i; written by the boot CPU before it
 * starts CPU i (PSCI CPU_ON orders it: the call is a context synchronisation and
 * the target starts afterwards), read-only afterwards. */
static uint64_t hwid_of[ARCH_MAX_CPUS];
static unsigned ncpu_known;

#define AP_STACK_FRAMES (KSTACK_SIZE / ARCH_FRAME_SIZE)
_Static_assert(KSTACK_SIZE == KSTACK_BYTES, "percpu.h KSTACK_BYTES");

uint64_t arch_cpu_hwid(void)
{
    uint64_t m;
    __asm__ volatile("mrs %0, mpidr_el1" : "=r"(m));
    return mpidr_affinity(m);
}

int arch_cpu_index_of_hwid(uint64_t hwid)
{
    for (unsigned i = 0; i < ncpu_known; i++)
        if (hwid_of[i] == hwid)
            return (int)i;
    return -1;
}

int64_t psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    /* SMCCC: x0-x17 may be clobbered by the callee. */
    if (fdt.psci == PSCI_SMC)
        __asm__ volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : :
                         "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
                         "x14", "x15", "x16", "x17", "memory");
    else
        __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : :
                         "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13",
                         "x14", "x15", "x16", "x17", "memory");
    return (int64_t)x0;
}

/* Entered at EL3 (PSCI_PEN): release the secondary with affinity `hwid` from entry.S's
 * pen as dense CPU `index`. The index is stored before the affinity (release), and the
 * secondary reads both with its caches off: the line is cleaned to memory before the
 * event that wakes it. */
extern uint64_t el3_pen_release[2];
static void pen_release(uint64_t hwid, unsigned index)
{
    __atomic_store_n(&el3_pen_release[1], (uint64_t)index, __ATOMIC_RELAXED);
    __atomic_store_n(&el3_pen_release[0], hwid, __ATOMIC_RELEASE);
    __asm__ volatile("dc civac, %0\n\tdsb sy\n\tsev" : : "r"(el3_pen_release) : "memory");
}

/* First C code of a secondary (entry.S: MMU on, stack set, vectors installed). */
_Noreturn void arch_secondary_main(unsigned index)
{
    percpu_init_cpu(index, hwid_of[index]);
    if (arch_cpu_hwid() != hwid_of[index])
        panic("smp: cpu %u started with MPIDR affinity 0x%lx, expected 0x%lx", index,
              (unsigned long)arch_cpu_hwid(), (unsigned long)hwid_of[index]);
    gic_init_cpu();
    arch_irq_enable();
    kernel_ap_main();
    arch_halt();
}

/* PSCI return codes worth naming. */
static const char *psci_err(int64_t r)
{
    switch (r) {
    case -1: return "NOT_SUPPORTED";
    case -2: return "INVALID_PARAMETERS";
    case -3: return "DENIED";
    case -4: return "ALREADY_ON";
    case -5: return "ON_PENDING";
    case -6: return "INTERNAL_FAILURE";
    case -9: return "INVALID_ADDRESS";
    default: return "?";
    }
}

unsigned arch_smp_start(void)
{
    uint64_t me = arch_cpu_hwid();
    /* Index 0 is the boot CPU; the rest follow in DTB order. */
    hwid_of[0] = me;
    ncpu_known = 1;
    for (unsigned i = 0; i < fdt.ncpu; i++)
        if (fdt.cpu_hwid[i] != me && ncpu_known < ARCH_MAX_CPUS)
            hwid_of[ncpu_known++] = fdt.cpu_hwid[i];
    if (fdt.cpus_ignored)
        printk("smp: %u /cpus entries ignored (disabled or beyond %u CPUs)\n",
               fdt.cpus_ignored, ARCH_MAX_CPUS);
    percpu_mark_online();                       /* the boot CPU serves calls already */

    uint64_t entry = arch_virt_to_phys((void *)secondary_entry);
    for (unsigned i = 1; i < ncpu_known; i++) {
        /* In the scratch range, whose reservations are separated by an unmapped
         * frame: an overflow faults instead of corrupting a neighbour. */
        uintptr_t stack = vm_reserve_scratch(AP_STACK_FRAMES * ARCH_FRAME_SIZE);
        if (vm_map_fresh(stack, AP_STACK_FRAMES * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 0))
            panic("smp: no frames for cpu %u's stack", i);
        arch_secondary_stacks[i] = stack + AP_STACK_FRAMES * ARCH_FRAME_SIZE;
        cpus[i].stack_top = arch_secondary_stacks[i];
        unsigned before = cpus_online();
        /* The stores above (stack, hwid table) are ordered before the CPU starts:
         * the target reads them with its MMU on, through the coherent cache, after
         * the PSCI call that starts it; DSB ISH makes sure they are complete. */
        __asm__ volatile("dsb ish" : : : "memory");
        int64_t r = 0;
        if (fdt.psci == PSCI_PEN)
            pen_release(hwid_of[i], i);
        else
            r = psci_call(PSCI_CPU_ON, hwid_of[i], entry, i);
        if (r != 0)
            panic("smp: PSCI CPU_ON(mpidr 0x%lx) for cpu %u failed: %ld (%s)",
                  (unsigned long)hwid_of[i], i, (long)r, psci_err(r));
        /* Wait for it to come online: 1 s is far above TCG's ~1 ms per CPU. */
        uint64_t t0 = arch_nanotime();
        while (cpus_online() == before) {
            if (arch_nanotime() - t0 > 1000000000ull)
                panic("smp: cpu %u (mpidr 0x%lx) did not come online within 1 s", i,
                      (unsigned long)hwid_of[i]);
            arch_cpu_relax();
        }
    }
    return cpus_online();
}

/* arch_api.h: the call IPI is the GIC's SGI (gic.c). */
void arch_ipi_send(unsigned cpu) { gic_send_call(cpu); }
void arch_ipi_broadcast_others(void) { gic_broadcast_call(); }
