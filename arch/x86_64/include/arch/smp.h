/* arch/smp.h (x86_64): CPU discovery from the ACPI MADT, INIT-SIPI-SIPI start, and the
 * call IPI (a LAPIC fixed IPI) that makes a CPU run smp_ipi_handler(). The functions,
 * the same on both arches, are declared in kernel/include/arch_api.h. */
#ifndef ARCH_SMP_H
#define ARCH_SMP_H

#include <arch_api.h>

#endif /* ARCH_SMP_H */
