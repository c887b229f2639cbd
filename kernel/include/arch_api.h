/* kernel/include/arch_api.h: what every arch implements out of line for the portable
 * kernel (the inline parts live in arch/<arch>/include/arch/ headers). Names are
 * arch-neutral: a "hwid" is the APIC id on x86_64 and the MPIDR affinity on aarch64. */
#ifndef KERNEL_ARCH_API_H
#define KERNEL_ARCH_API_H

#include <stddef.h>
#include <stdint.h>

/* A physical range [base, base + size). */
struct mem_range {
    uint64_t base;
    uint64_t size;
};

/* ---- boot ---------------------------------------------------------------------
 * The arch entry code sets up a stack, enables the MMU with the boot mapping (kernel
 * image, direct map of at least the boot memory), and calls kernel_main() on the boot
 * CPU. kernel_main (kernel/main.c) then calls, in this order:
 *   arch_early_init()   console, boot CPU's per-CPU pointer (index 0), exception
 *                       vectors, the firmware tables copied out of low memory
 *   arch_memmap() / arch_reserved()   -> frame allocator
 *   arch_mm_init()      direct map of all RAM (page tables from the frame allocator)
 *   arch_timer_init()   (arch/timer.h)
 *   arch_smp_start()    (arch/smp.h) APs run kernel_ap_main()
 */
void kernel_main(void);                 /* portable, never returns */
void kernel_ap_main(void);              /* portable, called on each AP (its per-CPU data set up), never returns */

void arch_early_init(void);

/* Usable RAM, sorted by base, non-overlapping, frame-aligned, empty entries dropped.
 * Returns the number of entries written (at most max). */
size_t arch_memmap(struct mem_range *out, size_t max);

/* Ranges inside usable RAM the frame allocator must never hand out: the kernel image,
 * boot page tables and stacks, firmware boot structures, the low 1 MiB, and frames
 * the arch took before the frame allocator existed. Any order, may overlap. */
size_t arch_reserved(struct mem_range *out, size_t max);

/* Build the final kernel mappings (direct map of every usable range) using frames
 * from the frame allocator. */
void arch_mm_init(void);

/* The boot command line (PVH cmdline / DTB /chosen/bootargs); "" if none. */
const char *arch_cmdline(void);

/* ---- SMP (arch/smp.h includes this part) -----------------------------------------
 * arch_smp_start: discover the CPUs (ACPI MADT on x86_64, /cpus in the DTB on
 * aarch64), fill the hwid -> dense index table (boot CPU = 0), start every other CPU
 * (INIT-SIPI-SIPI / PSCI CPU_ON) and wait until each is online. Each AP does the
 * arch's per-CPU initialisation, then calls kernel_ap_main(). Returns the CPUs
 * online. */
unsigned arch_smp_start(void);

/* Send the call interrupt to one CPU (dense index) / to every online CPU but this one
 * (x86_64: LAPIC fixed IPI; aarch64: GIC SGI 0, after a DSB ISHST so earlier stores
 * are visible). The receiver runs smp_ipi_handler() with interrupts masked. */
void arch_ipi_send(unsigned cpu);
void arch_ipi_broadcast_others(void);

/* This CPU's hardware id read from the hardware (LAPIC id register, MPIDR_EL1
 * affinity Aff3..Aff0). Slow (MMIO, MSR or a system register): bring-up and tests. */
uint64_t arch_cpu_hwid(void);

/* Dense index for a hardware id, from the table filled at discovery; -1 if unknown. */
int arch_cpu_index_of_hwid(uint64_t hwid);

/* ---- console (arch/console.h includes this part) ---------------------------------
 * The raw console (COM1 16550 at port 0x3f8; PL011, 0x09000000 on QEMU virt or from
 * the DTB). Unlocked: printk (kernel/printk.c) serialises callers with its lock. */
void arch_console_init(void);
void arch_console_putc(char c);     /* one raw byte (printk sends "\n" as "\r\n") */

/* ---- periodic tick (optional) ---------------------------------------------------
 * Start a periodic timer interrupt at `hz` on the calling CPU (run it on each CPU that
 * should tick, e.g. through smp_call_all). Each tick calls the portable kernel_tick()
 * (kernel/include/smp.h) in interrupt context. Nothing ticks unless someone asks: the
 * kernel heap does, for idle-time background work. x86_64: LAPIC timer, periodic;
 * aarch64: the virtual generic timer (CNTV, PPI 27). */
void arch_tick_start(unsigned hz);

/* ---- diagnostics ----------------------------------------------------------------
 * The arch's exception entry saves the interrupted state in a trap frame. */
struct arch_trap_frame;

/* Print the registers of a trap frame, or (frame == NULL) of the caller. */
void arch_dump_regs(const struct arch_trap_frame *frame);

/* Frame pointer and PC of a trap frame, for a backtrace from a fault. */
uintptr_t arch_trap_frame_fp(const struct arch_trap_frame *frame);
uintptr_t arch_trap_frame_pc(const struct arch_trap_frame *frame);

/* ---- expected faults (kernel/include/fault.h) ------------------------------------
 * Calls fn(arg) after saving the callee-saved registers, stack pointer and return
 * address in regs[ARCH_CATCH_REGS]. Returns 0 when fn returns. When fn faults and
 * the arch's exception handler finds this catch active (fault_catch_current()), it
 * fills the catch's fault_info and resumes here, returning 1. */
int arch_fault_catch_call(uint64_t *regs, void (*fn)(void *), void *arg);

#endif /* KERNEL_ARCH_API_H */
