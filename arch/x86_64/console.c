/* arch/x86_64/console.c: the raw console on COM1 (16550 UART at port 0x3f8), 115200 8N1,
 * polled. Callers serialise through printk's console lock. */
#include <arch/console.h>
#include <arch/x86.h>

#define COM1 0x3f8

void arch_console_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0xc7);   /* FIFO on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x03);   /* DTR, RTS */
}

void arch_console_putc(char c)
{
    /* Line status bit 5: transmit holding register empty. QEMU is always ready, but
     * bound the wait so a missing UART cannot hang a panic. */
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        __asm__ volatile("pause");
    outb(COM1, (unsigned char)c);
}
