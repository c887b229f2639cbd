/* arch/console.h (x86_64): the raw console, COM1 16550 at I/O port 0x3f8. Unlocked:
 * printk (kernel/printk.c) serialises callers with the console lock. */
#ifndef ARCH_CONSOLE_H
#define ARCH_CONSOLE_H

#include <stddef.h>

void arch_console_init(void);
void arch_console_putc(char c);                 /* "\n" is sent as "\r\n" */
void arch_console_write(const char *s, size_t n);

#endif /* ARCH_CONSOLE_H */
