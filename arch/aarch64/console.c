/* arch/aarch64/console.c: the PL011 UART console, polled, reached through the direct
 * map's Device-nGnRE block. QEMU's model needs no baud setup; we still enable it. */
#include <arch/console.h>
#include <arch/paging.h>
#include <stdint.h>
#include <arch/a64.h>

#define PL011_DR    0x00
#define PL011_FR    0x18
#define PL011_FR_TXFF (1u << 5)       /* transmit FIFO full */
#define PL011_LCRH  0x2c
#define PL011_CR    0x30
#define PL011_LCRH_8N1_FIFO 0x70      /* WLEN = 8 bits, FEN */
#define PL011_CR_EN 0x301             /* UARTEN | TXE | RXE */

#define QEMU_VIRT_PL011 0x09000000ul

static volatile uint32_t *uart = (volatile uint32_t *)(ARCH_DIRECT_MAP_BASE + QEMU_VIRT_PL011);

static inline uint32_t rd(unsigned off) { return uart[off / 4]; }
static inline void wr(unsigned off, uint32_t v) { uart[off / 4] = v; }

void arch_console_init(void)
{
    /* The DTB's PL011 wins once parsed (arch_early_init calls us again then). It must
     * lie in the first GiB, which the direct map covers as Device memory. */
    if (fdt.uart_pa && fdt.uart_pa < (1ul << 30))
        uart = (volatile uint32_t *)arch_phys_to_virt(fdt.uart_pa);
    wr(PL011_LCRH, PL011_LCRH_8N1_FIFO);
    wr(PL011_CR, PL011_CR_EN);
}

void arch_console_putc(char c)
{
    while (rd(PL011_FR) & PL011_FR_TXFF)
        ;
    wr(PL011_DR, (uint8_t)c);
}
