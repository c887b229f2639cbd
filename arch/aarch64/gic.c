/* arch/aarch64/gic.c: the interrupt controller, GICv2 or GICv3 (whichever the DTB names),
 * used for one thing: SGI 0, the cross-CPU call interrupt of kernel/smp.c. TLB
 * maintenance needs no interrupt (broadcast TLBI), so nothing else is enabled. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <percpu.h>
#include <panic.h>
#include <smp.h>
#include <arch/a64.h>

#define GICD_CTLR       0x000
#define GICD_TYPER      0x004
#define GICD_ISENABLER  0x100
#define GICD_ICENABLER  0x180
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR  0x800
#define GICD_SGIR       0xf00
#define GICD_SGIR_OTHERS (1u << 24)     /* TargetListFilter = all but the sender */
#define GICD_CTLR_RWP   (1u << 31)      /* v3: register write pending */
#define GICD_CTLR_V3    ((1u << 4) | (1u << 1) | 1u)  /* ARE, EnableGrp1, EnableGrp0 (DS=1) */
/* Secure view with two security states (DS=0): ARE_NS, ARE_S, EnableGrp1S,
 * EnableGrp1NS, EnableGrp0. */
#define GICD_CTLR_V3_SECURE ((1u << 5) | (1u << 4) | (1u << 2) | (1u << 1) | 1u)
#define GICD_IGROUPR    0x080

#define GICC_CTLR       0x00
#define GICC_PMR        0x04
#define GICC_BPR        0x08
#define GICC_IAR        0x0c
#define GICC_EOIR       0x10

/* GICv3 redistributor: RD_base frame, then SGI_base frame 64 KiB above. */
#define GICR_TYPER      0x08            /* 64-bit: [63:32] affinity, bit 4 Last, bit 1 VLPIS */
#define GICR_WAKER      0x14
#define GICR_WAKER_SLEEP    (1u << 1)   /* ProcessorSleep */
#define GICR_WAKER_ASLEEP   (1u << 2)   /* ChildrenAsleep */
#define GICR_SGI_BASE   0x10000
#define GICR_IGROUPR0   0x080
#define GICR_IGRPMODR0  0xd00
#define GICR_ISENABLER0 0x100
#define GICR_ICENABLER0 0x180
#define GICR_IPRIORITYR 0x400

/* GICv3 CPU interface system registers (encodings, so any assembler takes them). */
#define ICC_PMR_EL1     "S3_0_C4_C6_0"
#define ICC_IAR1_EL1    "S3_0_C12_C12_0"
#define ICC_EOIR1_EL1   "S3_0_C12_C12_1"
#define ICC_BPR1_EL1    "S3_0_C12_C12_3"
#define ICC_SRE_EL1     "S3_0_C12_C12_5"
#define ICC_IGRPEN1_EL1 "S3_0_C12_C12_7"
#define ICC_SGI1R_EL1   "S3_0_C12_C11_5"
#define SGI1R_IRM       (1ull << 40)    /* all but self */

#define SGI_CALL        0
#define IRQ_SPURIOUS    1023
/* Priority of the call SGI; the mask (PMR) lets through anything more urgent than
 * 0xf0, i.e. everything we configure. */
#define PRIO_CALL       0x80
#define PMR_ALLOW_ALL   0xf0

static volatile uint8_t *gicd, *gicc, *gicr;
static unsigned version;
/* Entered at EL3, the kernel runs in secure EL1 (boot/aarch64/entry.S): its accesses
 * to the GIC are secure ones, and the interrupts it takes must belong to a secure group
 * (v2: group 0, signalled as IRQ while GICC_CTLR.FIQEn is clear; v3: secure group 1,
 * which ICC_IAR1_EL1 and ICC_SGI1R_EL1 name in secure state). Non-secure, as under
 * PSCI, the GIC's own defaults for that state are used. */
static int secure_el1(void) { return boot_el == 3; }
/* How to name each dense CPU as an SGI target, written by the CPU itself at bring-up
 * (before it is marked online): v2, its CPU interface bit (GICD_ITARGETSR0 as the CPU
 * reads it); v3, the ICC_SGI1R_EL1 affinity fields and target-list bit. */
static uint64_t sgi_target[ARCH_MAX_CPUS];

static inline uint32_t rd32(volatile uint8_t *b, unsigned off) { return *(volatile uint32_t *)(b + off); }
static inline void wr32(volatile uint8_t *b, unsigned off, uint32_t v) { *(volatile uint32_t *)(b + off) = v; }
static inline uint64_t rd64(volatile uint8_t *b, unsigned off) { return *(volatile uint64_t *)(b + off); }

static void *gic_regs(uint64_t pa, const char *what)
{
    if (!pa || pa >= (1ul << 30))
        panic("gic: %s at 0x%lx lies outside the direct map's MMIO GiB", what, (unsigned long)pa);
    return arch_phys_to_virt(pa);
}

void gic_init_distributor(void)
{
    version = fdt.gic_version;
    if (version != 2 && version != 3)
        panic("gic: no GICv2 or GICv3 in the device tree (version %u)", version);
    gicd = gic_regs(fdt.gicd_pa, "distributor");
    if (version == 2)
        gicc = gic_regs(fdt.gicc_pa, "CPU interface");
    else
        gicr = gic_regs(fdt.gicr_pa, "redistributors");
    unsigned lines = 32 * ((rd32(gicd, GICD_TYPER) & 0x1f) + 1);
    wr32(gicd, GICD_CTLR, 0);
    for (unsigned i = 32; i < lines; i += 32)       /* every shared interrupt off */
        wr32(gicd, GICD_ICENABLER + i / 8, 0xffffffffu);
    if (version == 2) {
        wr32(gicd, GICD_CTLR, 1);
        return;
    }
    wr32(gicd, GICD_CTLR, secure_el1() ? GICD_CTLR_V3_SECURE : GICD_CTLR_V3);
    while (rd32(gicd, GICD_CTLR) & GICD_CTLR_RWP)
        arch_cpu_relax();
}

/* v3: this CPU's redistributor, found by affinity. */
static volatile uint8_t *find_redistributor(uint64_t mpidr)
{
    uint32_t aff = (uint32_t)((mpidr >> 32 & 0xff) << 24 | (mpidr & 0xffffff));
    for (uint64_t off = 0; off < fdt.gicr_size;) {
        uint64_t typer = rd64(gicr, (unsigned)off + GICR_TYPER);
        if ((uint32_t)(typer >> 32) == aff)
            return gicr + off;
        if (typer & (1u << 4))                      /* Last */
            break;
        off += (typer & (1u << 1)) ? 0x40000 : 0x20000;   /* GICv4 frames: 4, else 2 */
    }
    panic("gic: no redistributor for MPIDR affinity 0x%lx", (unsigned long)mpidr_affinity(mpidr));
}

static void init_cpu_v3(unsigned me)
{
    uint64_t mpidr;
    __asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
    if ((mpidr & 0xff) >= 16)
        panic("gic: cpu %u has Aff0 %lu; SGI target lists name Aff0 0..15 only", me,
              (unsigned long)(mpidr & 0xff));
    sgi_target[me] = (mpidr >> 32 & 0xff) << 48 | (mpidr >> 16 & 0xff) << 32 |
                     (mpidr >> 8 & 0xff) << 16 | 1ull << (mpidr & 0xf);
    volatile uint8_t *rd = find_redistributor(mpidr);
    wr32(rd, GICR_WAKER, rd32(rd, GICR_WAKER) & ~GICR_WAKER_SLEEP);
    while (rd32(rd, GICR_WAKER) & GICR_WAKER_ASLEEP)
        arch_cpu_relax();
    volatile uint8_t *sgi = rd + GICR_SGI_BASE;
    if (secure_el1()) {                             /* SGIs/PPIs: secure group 1 (IRQ) */
        wr32(sgi, GICR_IGROUPR0, 0);
        wr32(sgi, GICR_IGRPMODR0, 0xffffffffu);
    } else {
        wr32(sgi, GICR_IGROUPR0, 0xffffffffu);       /* SGIs/PPIs: group 1 (IRQ) */
    }
    wr32(sgi, GICR_ICENABLER0, 0xffffffffu & ~(1u << SGI_CALL));
    uint32_t pr = rd32(sgi, GICR_IPRIORITYR + SGI_CALL);
    wr32(sgi, GICR_IPRIORITYR + SGI_CALL, (pr & ~0xffu) | PRIO_CALL);
    wr32(sgi, GICR_ISENABLER0, 1u << SGI_CALL);
    uint64_t sre;
    __asm__ volatile("mrs %0, " ICC_SRE_EL1 : "=r"(sre));
    __asm__ volatile("msr " ICC_SRE_EL1 ", %0\n\tisb" : : "r"(sre | 1) : "memory");
    __asm__ volatile("mrs %0, " ICC_SRE_EL1 : "=r"(sre));
    if (!(sre & 1))
        panic("gic: cpu %u cannot enable the GICv3 system register interface", me);
    __asm__ volatile("msr " ICC_PMR_EL1 ", %0" : : "r"((uint64_t)PMR_ALLOW_ALL));
    __asm__ volatile("msr " ICC_BPR1_EL1 ", xzr");
    __asm__ volatile("msr " ICC_IGRPEN1_EL1 ", %0\n\tisb" : : "r"(1ull) : "memory");
}

/* Per CPU (banked registers): learn how to target this CPU, mask all PPIs, set the
 * call SGI's priority, enable the CPU interface. IRQs stay masked in DAIF until the
 * arch enables them. */
void gic_init_cpu(void)
{
    unsigned me = arch_cpu_index();
    if (version == 3) {
        init_cpu_v3(me);
        return;
    }
    sgi_target[me] = rd32(gicd, GICD_ITARGETSR) & 0xff;
    if (!sgi_target[me] && fdt.ncpu <= 1)
        sgi_target[me] = 1;         /* a uniprocessor GIC reads ITARGETSR as zero */
    if (!sgi_target[me])
        panic("gic: cpu %u reads no CPU interface bit in GICD_ITARGETSR0", me);
    if (secure_el1())
        wr32(gicd, GICD_IGROUPR, 0);                /* banked: this CPU's SGIs/PPIs, group 0 */
    wr32(gicd, GICD_ICENABLER, 0xffff0000u);         /* PPIs off; SGIs are always on */
    uint32_t pr = rd32(gicd, GICD_IPRIORITYR + SGI_CALL);
    wr32(gicd, GICD_IPRIORITYR + SGI_CALL, (pr & ~0xffu) | PRIO_CALL);
    wr32(gicc, GICC_PMR, PMR_ALLOW_ALL);
    wr32(gicc, GICC_BPR, 0);
    wr32(gicc, GICC_CTLR, 1);
}

/* Enable PPI intid on this CPU at the call SGI's priority (group 1 on v3, as
 * init_cpu_v3 set for all SGIs/PPIs). */
void gic_enable_ppi(unsigned intid)
{
    volatile uint8_t *b;
    if (version == 3) {
        uint64_t mpidr;
        __asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
        b = find_redistributor(mpidr) + GICR_SGI_BASE;
        uint32_t pr = rd32(b, GICR_IPRIORITYR + (intid & ~3u));
        unsigned sh = (intid & 3) * 8;
        wr32(b, GICR_IPRIORITYR + (intid & ~3u), (pr & ~(0xffu << sh)) | (uint32_t)PRIO_CALL << sh);
        wr32(b, GICR_ISENABLER0, 1u << intid);
        return;
    }
    b = gicd;
    uint32_t pr = rd32(b, GICD_IPRIORITYR + (intid & ~3u));
    unsigned sh = (intid & 3) * 8;
    wr32(b, GICD_IPRIORITYR + (intid & ~3u), (pr & ~(0xffu << sh)) | (uint32_t)PRIO_CALL << sh);
    wr32(b, GICD_ISENABLER, 1u << intid);       /* bank 0: this CPU's SGIs and PPIs */
}

/* The call's data (queued by kernel/smp.c with release stores) must be visible to the
 * target before it can take the interrupt: DSB ISHST completes the stores before the
 * register write that raises the SGI (for v3 a system register write, which a DMB would
 * not order; for v2 a device write, where the DSB is the conservative choice). */
static void send_sgi(uint64_t target, int others)
{
    __asm__ volatile("dsb ishst" : : : "memory");
    if (version == 3) {
        uint64_t v = others ? SGI1R_IRM : target;
        __asm__ volatile("msr " ICC_SGI1R_EL1 ", %0\n\tisb" : : "r"(v | (uint64_t)SGI_CALL << 24)
                         : "memory");
        return;
    }
    wr32(gicd, GICD_SGIR, others ? GICD_SGIR_OTHERS | SGI_CALL
                                 : (uint32_t)target << 16 | SGI_CALL);
}

void gic_send_call(unsigned cpu) { send_sgi(sgi_target[cpu], 0); }
void gic_broadcast_call(void) { send_sgi(0, 1); }

static uint32_t ack(void)
{
    if (version == 3) {
        uint64_t v;
        __asm__ volatile("mrs %0, " ICC_IAR1_EL1 : "=r"(v) : : "memory");
        return (uint32_t)v;
    }
    return rd32(gicc, GICC_IAR);
}

static void eoi(uint32_t iar)
{
    if (version == 3)
        __asm__ volatile("msr " ICC_EOIR1_EL1 ", %0\n\tisb" : : "r"((uint64_t)iar) : "memory");
    else
        wr32(gicc, GICC_EOIR, iar);
}

void gic_handle_irq(void)
{
    for (;;) {
        uint32_t iar = ack();
        unsigned id = iar & 0xffffff;
        if (version == 2)
            id &= 0x3ff;                            /* v2: bits [12:10] name the sender */
        if (id == IRQ_SPURIOUS)
            return;
        /* Pairs with the sender's DSB ISHST: reads of the call data come after the
         * acknowledge. */
        __asm__ volatile("dmb ish" : : : "memory");
        if (id == PPI_VTIMER) {
            timer_tick_irq();
            eoi(iar);
            continue;
        }
        if (id != SGI_CALL) {
            eoi(iar);
            panic("gic: unexpected interrupt %u (iar 0x%x) on cpu %u", id, iar, arch_cpu_index());
        }
        smp_ipi_handler();
        eoi(iar);
    }
}
