/* arch/smp.h (aarch64): start the other CPUs through PSCI CPU_ON, and the one "call"
 * interrupt (GIC SGI 0) that makes a CPU run smp_ipi_handler(). Same names as
 * arch/x86_64/include/arch/smp.h. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <stdint.h>

/* Read /cpus from the DTB (done at early init), fill the MPIDR -> index table (boot
 * CPU = 0, the others in DTB order), start each secondary with PSCI CPU_ON and wait
 * until it is online. Each ends in kernel_ap_main(index). Returns CPUs online. */
unsigned arch_smp_start(void);

/* Send SGI 0 to one CPU (dense index) / to every other CPU (all-but-self form).
 * Stores before the call are visible to the receiver's handler (DSB ISHST first). */
void arch_ipi_send(unsigned cpu);
void arch_ipi_broadcast_others(void);

/* This CPU's MPIDR_EL1 affinity (Aff3..Aff0), read from the register. */
uint64_t arch_cpu_hwid(void);

/* Dense index for an MPIDR affinity, from the table filled at bring-up; -1 if none. */
int arch_cpu_index_of_hwid(uint64_t hwid);

#endif /* ARCH_SMP_H */
