/* arch/smp.h (x86_64): what the portable SMP code (kernel/include/smp.h) needs from
 * the arch: start the other CPUs, and send the one "call" interrupt that makes a CPU
 * run smp_ipi_handler(). On x86_64 that is a LAPIC fixed IPI; on aarch64 a GIC SGI. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <stdint.h>

/* Discover CPUs (ACPI MADT), fill the hwid -> index table, start every AP and wait
 * until each is online. Each AP ends in kernel_ap_main(index). Returns CPUs online. */
unsigned arch_smp_start(void);

/* Send the call IPI to one CPU (dense index) / to every online CPU but this one.
 * The receiver runs smp_ipi_handler() with interrupts masked. */
void arch_ipi_send(unsigned cpu);
void arch_ipi_broadcast_others(void);

/* This CPU's hardware id read from the hardware (LAPIC id register here, MPIDR
 * affinity on aarch64). Slow (MMIO or MSR): bring-up and tests only. */
uint64_t arch_cpu_hwid(void);

/* Dense index for a hardware id, from the table filled at discovery; -1 if unknown. */
int arch_cpu_index_of_hwid(uint64_t hwid);

#endif /* ARCH_SMP_H */
