/* arch/exit.h (aarch64): leave QEMU with an exit status through semihosting SYS_EXIT
 * (needs QEMU's -semihosting; the status is passed through unchanged, 0 included). */
#ifndef ARCH_EXIT_H
#define ARCH_EXIT_H

/* Exit QEMU with process status `status` (kernel: 33 pass, 1 fail; kexit.h). */
_Noreturn void arch_exit(unsigned status);

#endif /* ARCH_EXIT_H */
