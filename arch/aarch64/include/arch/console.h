/* arch/console.h (aarch64): the raw console, a PL011 UART (0x09000000 on QEMU virt,
 * taken from the DTB when it names one). Unlocked: printk serialises callers. */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <stddef.h>

void arch_console_init(void);
void arch_console_putc(char c);                 /* "\n" is sent as "\r\n" */
void arch_console_write(const char *s, size_t n);

#endif /* ARCH_CONSOLE_H */
