/* arch/smp.h (aarch64): CPUs from /cpus in the DTB, started with PSCI CPU_ON, and the
 * call interrupt (GIC SGI 0) that makes a CPU run smp_ipi_handler(). The functions,
 * the same on both arches, are declared in kernel/include/arch_api.h. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <arch_api.h>

#endif /* ARCH_SMP_H */
