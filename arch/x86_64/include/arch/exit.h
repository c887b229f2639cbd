/* arch/exit.h (x86_64): leave QEMU with an exit status, through isa-debug-exit at
 * port 0xf4 (QEMU exits with (v << 1) | 1, so only odd statuses can be produced). */
#ifndef ARCH_EXIT_H
#define ARCH_EXIT_H

/* Exit QEMU with process status `status` (odd on x86_64; the kernel uses 33 for a
 * pass and 1 for a failure, see kernel/include/kexit.h). Never returns. */
_Noreturn void arch_exit(unsigned status);

#endif /* ARCH_EXIT_H */
