/* arch/console.h (x86_64): the raw console, COM1 16550 at I/O port 0x3f8
 * (arch/x86_64/console.c); its functions are declared in kernel/include/arch_api.h. */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <arch_api.h>

#endif /* ARCH_CONSOLE_H */
