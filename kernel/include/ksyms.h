/* kernel/include/ksyms.h: the kernel's own symbol table, embedded by a second link
 * pass (tools in kernel/kernel.mk), for symbol names in panics and fault reports. */
#ifndef KERNEL_KSYMS_H
#define KERNEL_KSYMS_H

#include <stdint.h>

/* Name of the function containing pc and the offset into it; NULL when unknown. */
const char *ksym_lookup(uintptr_t pc, uintptr_t *offset);

#endif /* KERNEL_KSYMS_H */
