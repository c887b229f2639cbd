/* arch/console.h (aarch64): the raw console, a PL011 UART (arch/aarch64/console.c;
 * 0x09000000 on QEMU virt, or the DTB's); functions declared in kernel/include/arch_api.h. */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <arch_api.h>

#endif /* ARCH_CONSOLE_H */
