/* arch/aarch64/gic.c: a GICv2 (QEMU virt, gic-version=2), used for one thing: SGI 0,
 * the cross-CPU call interrupt of kernel/smp.c. TLB maintenance needs no interrupt
 * (broadcast TLBI), so no other interrupt is enabled. GICv2 limits QEMU to 8 CPUs. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <percpu.h>
#include <panic.h>
#include <smp.h>
#include "a64.h"

#define GICD_CTLR       0x000
#define GICD_TYPER      0x004
#define GICD_ICENABLER  0x180
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800
#define GICD_SGIR       0xf00
#define GICD_SGIR_OTHERS (1u << 24)     /* TargetListFilter = all but the sender */

#define GICC_CTLR       0x00
#define GICC_PMR        0x04
#define GICC_BPR        0x08
#define GICC_IAR        0x0c
#define GICC_EOIR       0x10

#define SGI_CALL        0
#define IRQ_SPURIOUS    1023
/* Priority of the call SGI; the mask (PMR) lets through anything more urgent than
 * 0xf0, i.e. everything we configure. */
#define PRIO_CALL       0x80
#define PMR_ALLOW_ALL   0xf0

static volatile uint8_t *gicd, *gicc;
/* GIC CPU interface bit of each dense CPU index (GICD_ITARGETSR0 as read by the CPU
 * itself); written once by each CPU at bring-up, before it is marked online. */
static uint8_t cpu_if_mask[ARCH_MAX_CPUS];

static inline uint32_t rd32(volatile uint8_t *b, unsigned off) { return *(volatile uint32_t *)(b + off); }
static inline void wr32(volatile uint8_t *b, unsigned off, uint32_t v) { *(volatile uint32_t *)(b + off) = v; }

void gic_init_distributor(void)
{
    if (fdt.gic_version != 2)
        panic("gic: need a GICv2 (QEMU -M virt,gic-version=2); the DTB shows version %u",
              fdt.gic_version);
    if (fdt.gicd_pa >= (1ul << 30) || fdt.gicc_pa >= (1ul << 30))
        panic("gic: registers at 0x%lx/0x%lx lie outside the direct map's MMIO GiB",
              (unsigned long)fdt.gicd_pa, (unsigned long)fdt.gicc_pa);
    gicd = arch_phys_to_virt(fdt.gicd_pa);
    gicc = arch_phys_to_virt(fdt.gicc_pa);
    unsigned lines = 32 * ((rd32(gicd, GICD_TYPER) & 0x1f) + 1);
    wr32(gicd, GICD_CTLR, 0);
    for (unsigned i = 32; i < lines; i += 32)       /* every shared interrupt off */
        wr32(gicd, GICD_ICENABLER + i / 8, 0xffffffffu);
    wr32(gicd, GICD_CTLR, 1);
}

/* Per CPU (banked registers): learn our interface bit, mask all PPIs, set the call
 * SGI's priority, enable the CPU interface. IRQs stay masked in DAIF until the
 * portable code enables them. */
void gic_init_cpu(void)
{
    unsigned me = arch_cpu_index();
    cpu_if_mask[me] = rd32(gicd, GICD_ITARGETSR) & 0xff;
    if (!cpu_if_mask[me] && fdt.ncpu <= 1)
        cpu_if_mask[me] = 1;        /* a uniprocessor GIC reads ITARGETSR as zero */
    if (!cpu_if_mask[me])
        panic("gic: cpu %u reads no CPU interface bit in GICD_ITARGETSR0", me);
    wr32(gicd, GICD_ICENABLER, 0xffff0000u);         /* PPIs off; SGIs are always on */
    uint32_t pr = rd32(gicd, GICD_IPRIORITYR + SGI_CALL);
    wr32(gicd, GICD_IPRIORITYR + SGI_CALL, (pr & ~0xffu) | PRIO_CALL);
    wr32(gicc, GICC_PMR, PMR_ALLOW_ALL);
    wr32(gicc, GICC_BPR, 0);
    wr32(gicc, GICC_CTLR, 1);
}

static void send_sgi(uint32_t sgir)
{
    /* The call's data (queued by kernel/smp.c with plain or release stores) must be
     * visible to the target before it can take the interrupt: DSB ISHST completes the
     * stores before the device write that raises the SGI. */
    __asm__ volatile("dsb ishst" : : : "memory");
    wr32(gicd, GICD_SGIR, sgir);
}

void arch_ipi_send(unsigned cpu)
{
    send_sgi((uint32_t)cpu_if_mask[cpu] << 16 | SGI_CALL);
}

void arch_ipi_broadcast_others(void)
{
    send_sgi(GICD_SGIR_OTHERS | SGI_CALL);
}

void gic_handle_irq(void)
{
    for (;;) {
        uint32_t iar = rd32(gicc, GICC_IAR);
        unsigned id = iar & 0x3ff;
        if (id == IRQ_SPURIOUS)
            return;
        /* Pairs with the sender's DSB ISHST: reads of the call data come after the
         * acknowledge. */
        __asm__ volatile("dmb ish" : : : "memory");
        if (id == SGI_CALL) {
            smp_ipi_handler();
            wr32(gicc, GICC_EOIR, iar);
        } else {
            wr32(gicc, GICC_EOIR, iar);
            panic("gic: unexpected interrupt %u (iar 0x%x) on cpu %u", id, iar, arch_cpu_index());
        }
    }
}
