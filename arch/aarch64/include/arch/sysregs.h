/* arch/sysregs.h (aarch64 only): system register values and page-table descriptor
 * bits, shared by the boot assembly and C. Plain #defines, usable from .S files. */
#ifndef ARCH_SYSREGS_H
#define ARCH_SYSREGS_H

#ifdef __ASSEMBLY__
#define _UL(x) x
#else
#define _UL(x) x##UL
#endif

#define KERNEL_VBASE      _UL(0xffffffff80000000)   /* image virtual = physical + KERNEL_VBASE */
/* Every CPU's kernel stack (boot CPU in .bss, others in the scratch range). The deepest
 * path seen, a panic with a backtrace from an exception frame, uses under 2 KiB. */
#define KSTACK_SIZE       16384
/* Per-CPU emergency stack for reporting a kernel stack overflow (vectors.S): the report
 * (a panic with registers and a backtrace) needs under 2 KiB; 4 KiB x 64 CPUs = 256 KiB. */
#define EMERGENCY_STACK_SIZE 4096
/* Flag or-ed into the vector number passed to arch_exception for an overflow. */
#define VECTOR_STACK_OVERFLOW 0x100

/* MAIR_EL1: the memory types the descriptors' AttrIndx select.
 *   0: Normal, inner+outer write-back non-transient, read+write allocate (RAM)
 *   1: Device-nGnRE (MMIO: no gathering, no reordering, early write ack allowed)
 *   2: Normal non-cacheable (unused so far; kept for DMA buffers)
 *   3: Device-nGnRnE (unused; strictest) */
#define MT_NORMAL         0
#define MT_DEVICE_nGnRE   1
#define MT_NORMAL_NC      2
#define MT_DEVICE_nGnRnE  3
#define MAIR_VALUE        ((_UL(0xff) << (8 * MT_NORMAL)) | (_UL(0x04) << (8 * MT_DEVICE_nGnRE)) | \
                           (_UL(0x44) << (8 * MT_NORMAL_NC)) | (_UL(0x00) << (8 * MT_DEVICE_nGnRnE)))

/* TCR_EL1: 48-bit VA in both halves (T0SZ = T1SZ = 16), 4 KiB granule (TG0 = 0,
 * TG1 = 2), table walks write-back cacheable and inner shareable, so walkers see the
 * page-table stores of every CPU without cache maintenance. IPS is filled in at boot
 * from ID_AA64MMFR0_EL1.PARange (capped at 48 bits). 8-bit ASIDs, all 0 (one space). */
#define TCR_T0SZ(n)       ((n) << 0)
#define TCR_EPD0          (_UL(1) << 7)
#define TCR_IRGN0_WBWA    (_UL(1) << 8)
#define TCR_ORGN0_WBWA    (_UL(1) << 10)
#define TCR_SH0_INNER     (_UL(3) << 12)
#define TCR_TG0_4K        (_UL(0) << 14)
#define TCR_T1SZ(n)       ((n) << 16)
#define TCR_IRGN1_WBWA    (_UL(1) << 24)
#define TCR_ORGN1_WBWA    (_UL(1) << 26)
#define TCR_SH1_INNER     (_UL(3) << 28)
#define TCR_TG1_4K        (_UL(2) << 30)
#define TCR_IPS_SHIFT     32
#define TCR_VALUE         (TCR_T0SZ(16) | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA | TCR_SH0_INNER | \
                           TCR_TG0_4K | TCR_T1SZ(16) | TCR_IRGN1_WBWA | TCR_ORGN1_WBWA | \
                           TCR_SH1_INNER | TCR_TG1_4K)

/* SCTLR_EL1. RES1 bits of ARMv8.0 (11, 20, 22, 23, 28, 29), then M (MMU), C and I
 * (data and instruction caches), SA/SA0 (SP alignment checks). A (alignment
 * checking) stays 0: Normal memory tolerates unaligned access once the MMU is on. */
#define SCTLR_RES1        _UL(0x30d00800)
#define SCTLR_M           (_UL(1) << 0)
#define SCTLR_C           (_UL(1) << 2)
#define SCTLR_SA          (_UL(1) << 3)
#define SCTLR_SA0         (_UL(1) << 4)
#define SCTLR_I           (_UL(1) << 12)
#define SCTLR_MMU_OFF     SCTLR_RES1
#define SCTLR_MMU_ON      (SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_SA0 | SCTLR_I)

/* EL2 -> EL1 drop. HCR_EL2.RW: EL1 is AArch64; nothing else trapped or virtualised.
 * SPSR: return to EL1h (SP_EL1) with D, A, I, F masked. CPTR_EL2: RES1 bits only,
 * so FP/SIMD is not trapped to EL2. CNTHCTL_EL2: EL1PCTEN | EL1PCEN (EL1 may use the
 * physical counter and timer). */
#define HCR_EL2_RW        (_UL(1) << 31)
#define SPSR_EL1H_MASKED  0x3c5
#define CPTR_EL2_RES1     0x33ff
#define CNTHCTL_EL1_ACCESS 0x3
/* ICC_SRE_EL2 (GICv3 only): SRE (system registers at EL2) and Enable (EL1 may set its
 * own ICC_SRE_EL1.SRE). */
#define ICC_SRE_EL2_SRE    (_UL(1) << 0)
#define ICC_SRE_EL2_ENABLE (_UL(1) << 3)
/* Entered at EL3: QEMU `-M virt,secure=on` without firmware starts an ELF kernel on
 * every CPU at once in the reset state (secure EL3) and offers no PSCI (it assumes the
 * image is the firmware). The kernel then runs in secure EL1 (entry.S). SCR_EL3: NS
 * clear (EL1 is secure, so its GIC accesses are secure ones), bits 5:4 RES1, RW (EL1 is
 * AArch64); IRQ/FIQ/EA not routed to EL3, SMD and HCE clear. ICC_SRE_EL3: SRE, DFB,
 * DIB, Enable (EL1 may turn on its GICv3 system register interface). */
#define SCR_EL3_VALUE      ((_UL(3) << 4) | (_UL(1) << 10))
#define ICC_SRE_EL3_VALUE  0xf
/* MPIDR affinity fields (Aff3, Aff2..Aff0): the boot CPU of an EL3 entry is the one
 * whose affinity is 0, QEMU virt's CPU 0; the others wait in the EL3 pen. */
#define MPIDR_AFF_MASK     _UL(0xff00ffffff)

/* Page-table descriptors, 4 KiB granule. */
#define PTE_VALID         (_UL(1) << 0)
#define PTE_TABLE         (_UL(1) << 1)   /* at L0-L2: next-level table; at L3: page */
#define PTE_PAGE          (_UL(1) << 1)
#define PTE_ATTR(i)       ((i) << 2)
#define PTE_AP_RO         (_UL(1) << 7)   /* AP[2]: read-only; AP[1] = 0: no EL0 access */
#define PTE_SH_INNER      (_UL(3) << 8)
#define PTE_AF            (_UL(1) << 10)
#define PTE_NG            (_UL(1) << 11)
#define PTE_PXN           (_UL(1) << 53)
#define PTE_UXN           (_UL(1) << 54)
#define PTE_ADDR_MASK     _UL(0x0000fffffffff000)

#define PTE_BLOCK_NORMAL_X  (PTE_VALID | PTE_ATTR(MT_NORMAL) | PTE_SH_INNER | PTE_AF | PTE_UXN)
#define PTE_BLOCK_NORMAL_NX (PTE_BLOCK_NORMAL_X | PTE_PXN)
/* Kernel image pages (L3), W^X. */
#define PTE_PAGE_KERNEL_RX  (PTE_BLOCK_NORMAL_X | PTE_PAGE | PTE_AP_RO)
#define PTE_PAGE_KERNEL_RO  (PTE_BLOCK_NORMAL_NX | PTE_PAGE | PTE_AP_RO)
#define PTE_PAGE_KERNEL_RW  (PTE_BLOCK_NORMAL_NX | PTE_PAGE)
/* L3 tables for the image: 8 map 16 MiB from the image's first 2 MiB block (checked
 * by linker/aarch64.ld). */
#define EARLY_L3_TABLES     8

#define PTE_BLOCK_DEVICE    (PTE_VALID | PTE_ATTR(MT_DEVICE_nGnRE) | PTE_AF | PTE_PXN | PTE_UXN)

/* CNTKCTL_EL1: EVNTEN with EVNTI = 9: an event every 2^10 counter ticks, ~16 us at
 * QEMU's 62.5 MHz and ~20 us at 50 MHz; it bounds every WFE wait should a wake-up
 * event be lost, at the cost of a few spurious wake-ups per spinning CPU. */
#define CNTKCTL_EVENT_STREAM ((_UL(1) << 2) | (_UL(9) << 4))

#endif /* ARCH_SYSREGS_H */
