/* arch/a64.h (aarch64): declarations shared by the aarch64 arch files only (device tree,
 * GIC, PSCI, early direct map). Portable code never includes it. */
#ifndef ARCH_AARCH64_A64_H
#define ARCH_AARCH64_A64_H

#include <stddef.h>
#include <stdint.h>
#include <arch_api.h>
#include <cmdline.h>
#include <arch/cpu.h>

/* ---- device tree (fdt.c) ------------------------------------------------------ */
#define FDT_MAX_MEM   16
#define FDT_MAX_RESV  32

/* PSCI_PEN: no PSCI, the kernel was entered at EL3 on every CPU (QEMU virt,secure=on);
 * secondaries wait in entry.S's pen and are released through el3_pen_release. */
enum psci_conduit { PSCI_NONE = 0, PSCI_HVC = 1, PSCI_SMC = 2, PSCI_PEN = 3 };
/* CurrentEL at entry: 1, 2, or 3 (then the kernel runs in secure EL1). early.c */
extern uint64_t boot_el;

struct fdt_info {
    uint64_t dtb_pa, dtb_size;
    struct mem_range mem[FDT_MAX_MEM];      /* /memory reg, as found */
    size_t nmem;
    struct mem_range resv[FDT_MAX_RESV];    /* memreserve block + /reserved-memory */
    size_t nresv;
    uint64_t cpu_hwid[ARCH_MAX_CPUS];       /* /cpus/cpu@N reg (MPIDR affinity) */
    unsigned ncpu;
    unsigned cpus_ignored;                  /* beyond ARCH_MAX_CPUS or disabled */
    enum psci_conduit psci;
    uint64_t uart_pa;                       /* arm,pl011 reg, 0 when absent */
    uint64_t gicd_pa, gicc_pa;              /* GICv2 distributor / CPU interface */
    uint64_t gicr_pa, gicr_size;            /* GICv3 redistributor region */
    unsigned gic_version;                   /* 2, 3, or 0 when not found */
    char bootargs[CMDLINE_MAX + 1];         /* longer: cut here, refused by cmdline_init */
};

extern struct fdt_info fdt;

/* Find the DTB (x0 from the loader if it holds one, else the start of RAM) and fill
 * `fdt`. Returns 0, or -1 when no valid DTB was found. Boot CPU, once. */
int fdt_parse(uint64_t x0_pa);

/* ---- early direct map (mm.c) ---------------------------------------------------
 * Map [pa, pa+size) into the direct map with page tables from a static pool, before
 * the frame allocator exists. attr: PTE_BLOCK_NORMAL_NX or PTE_BLOCK_DEVICE. */
void mmu_early_map(uint64_t pa, uint64_t size, uint64_t attr);
/* Frames of the static table pool, reported to the frame allocator as reserved. */
void mmu_early_pool_range(struct mem_range *r);

/* ---- GIC (gic.c) and PSCI (smp.c) -----------------------------------------
 * GICv2 or GICv3, whichever the DTB names; used for the call SGI and, once
 * arch_tick_start ran, the virtual timer's PPI. */
void gic_init_distributor(void);
void gic_init_cpu(void);
void gic_handle_irq(void);
#define PPI_VTIMER 27               /* CNTV's interrupt on QEMU virt (and Arm's SBSA) */
void gic_enable_ppi(unsigned intid); /* on this CPU (PPIs are banked) */
void gic_send_call(unsigned cpu);    /* the call SGI to one CPU (arch_ipi_send, smp.c) */
void gic_broadcast_call(void);       /* the call SGI to every other CPU */
void timer_tick_irq(void);           /* timer.c: re-arm CNTV, then kernel_tick() */

#define PSCI_CPU_ON        0xc4000003u
#define PSCI_VERSION       0x84000000u
int64_t psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);

/* ---- exceptions (trap.c, vectors.S) -----------------------------------------------
 * The frame vectors.S saves; layout fixed by the offsets there. */
struct arch_trap_frame {
    uint64_t x[31];             /* x0..x30 (x29 = fp, x30 = lr) */
    uint64_t sp;                /* sp at the moment of the exception */
    uint64_t elr, spsr, esr, far;
    uint64_t frame_record[2];   /* {fp, elr}: links the backtrace through the trap */
};
_Static_assert(sizeof(struct arch_trap_frame) == 38 * 8, "vectors.S frame layout");

void arch_exception(struct arch_trap_frame *f, unsigned vector);
/* trap.c: EL1 translation faults on addresses the tables map by the time the handler
 * looks, retried instead of reported (ever), and the test hook that makes one: it
 * runs first on every EL1 translation fault while set (ktest_arch.c). */
unsigned long arch_spurious_faults(void);
extern void (*arch_translation_fault_test_hook)(uintptr_t far);
extern char arch_vectors[];

/* ---- misc ------------------------------------------------------------------------ */
extern uint64_t boot_dtb_pa;                    /* x0 at entry, set by entry.S */
extern uint64_t arch_secondary_stacks[ARCH_MAX_CPUS];
void secondary_entry(void);                     /* boot/aarch64/entry.S (physical) */
void cpufeature_init(void);

static inline uint64_t mpidr_affinity(uint64_t mpidr)
{
    return mpidr & 0xff00ffffffull;             /* Aff3 [39:32], Aff2..Aff0 [23:0] */
}

#endif /* ARCH_AARCH64_A64_H */
