/* boot/aarch64/entry.S: first instructions of every CPU. Drops EL2 -> EL1 when needed,
 * builds the early page tables (boot CPU), turns the MMU on and jumps to the higher
 * half: the boot CPU to kernel_main(), secondaries to arch_secondary_main(index). */
#include <arch/sysregs.h>

#define DMAP_L0_INDEX   256     /* ARCH_DIRECT_MAP_BASE 0xffff800000000000 >> 39 & 511 */

/* Load the physical address of `sym`: with the MMU off, PC-relative is physical. */
.macro adr_phys reg, sym
    adrp \reg, \sym
    add  \reg, \reg, :lo12:\sym
.endm

    .section .text.boot, "ax"
    .global _start
/* An arm64 Linux Image header, so the same image also boots as a raw binary through a
 * Linux-style loader (QEMU loads it at RAM base + text_offset = 0x40200000 and passes
 * the DTB in x0). Loaded as an ELF, execution starts here too. */
_start:
    b       start_boot                  /* code0 */
    .long   0                           /* code1 */
    .quad   0x200000                    /* text_offset: load 2 MiB above RAM base */
    .quad   _image_size                 /* image_size, .bss included */
    .quad   0x2                         /* flags: little-endian, 4 KiB pages */
    .quad   0, 0, 0                     /* res2..res4 */
    .ascii  "ARM\x64"                   /* magic */
    .long   0                           /* res5 (no PE header) */

start_boot:
    mov     x19, x0                     /* DTB pointer, if the loader passed one (QEMU: 0) */
    mrs     x20, CurrentEL
    lsr     x20, x20, #2                /* the EL we were entered at */
    /* The higher half assumes virtual = physical + KERNEL_VBASE: loaded anywhere else,
     * stop at once with a failure status (semihosting; physical addresses). */
    adr_phys x0, _start
    ldr     x1, =_start_phys
    cmp     x0, x1
    b.eq    1f
    mov     x0, #0x18                   /* SYS_EXIT */
    adr_phys x1, wrong_address_exit
    hlt     #0xf000
    b       .
1:
    cmp     x20, #3
    b.ne    2f
    mrs     x0, mpidr_el1
    ldr     x1, =MPIDR_AFF_MASK
    and     x0, x0, x1
    cbnz    x0, el3_pen                 /* every CPU runs from _start at EL3 */
2:  bl      el3_to_el1
    bl      el2_to_el1
    ic      iallu
    dsb     nsh
    isb

    /* Zero .bss (MMU off: 16-byte aligned stores only). */
    adr_phys x0, __bss_start
    adr_phys x1, __bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:
    bl      build_early_tables
    /* The tables and .bss were written with the MMU (so the D-cache) off: drop any
     * stale lines so cacheable walks and loads see memory. */
    adr_phys x0, __bss_start
    adr_phys x1, __bss_end
3:  dc      ivac, x0
    add     x0, x0, #64
    cmp     x0, x1
    b.lo    3b
    dsb     sy

    bl      mmu_on
    ldr     x0, =boot_high
    br      x0

boot_high:
    ldr     x0, =boot_stack_top
    mov     sp, x0
    ldr     x0, =boot_stack
    msr     tpidrro_el0, x0             /* stack limit for the vectors' overflow check */
    bl      cpu_common_high
    ldr     x0, =boot_dtb_pa
    str     x19, [x0]
    ldr     x0, =boot_el
    str     x20, [x0]
    bl      kernel_main
    b       .

/* Secondary entry (PSCI CPU_ON target, physical): x0 = dense CPU index. */
    .global secondary_entry
secondary_entry:
    mov     x19, x0
    bl      el2_to_el1
    ic      iallu
    dsb     nsh
    isb
    bl      mmu_on
    ldr     x0, =secondary_high
    br      x0

secondary_high:
    ldr     x1, =arch_secondary_stacks  /* stack tops, written by the boot CPU */
    ldr     x0, [x1, x19, lsl #3]
    mov     sp, x0
    sub     x0, x0, #KSTACK_SIZE
    msr     tpidrro_el0, x0             /* stack limit for the vectors' overflow check */
    bl      cpu_common_high
    mov     x0, x19
    bl      arch_secondary_main
    b       .

/* Per-CPU setup once in the higher half: exception vectors, TTBR0 walks off (the
 * identity map is only needed to switch the MMU on), the WFE event stream, SErrors
 * unmasked (IRQs stay masked until the C code enables them). */
cpu_common_high:
    mov     x29, #0
    ldr     x0, =arch_vectors
    msr     vbar_el1, x0
    mrs     x0, tcr_el1
    orr     x0, x0, #TCR_EPD0
    msr     tcr_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, #CNTKCTL_EVENT_STREAM
    msr     cntkctl_el1, x0
    isb
    msr     daifclr, #4                 /* SErrors reach the vectors (and panic) */
    ret

/* If at EL3 (secure=on: every CPU starts here, no PSCI), act as the firmware would for
 * a kernel that stays in the secure world: EL1 secure and AArch64, no FP/SIMD trap to
 * EL3 (CPTR_EL3 = 0), the virtual counter offset 0 where EL2 exists (CNTVOFF_EL2 is not
 * reset to a known value), the GICv3 system registers usable at EL1, then eret to EL1h
 * with DAIF masked (not to EL2, which without FEAT_SEL2 only exists non-secure).
 * Elsewhere return. Clobbers x0, x1. */
el3_to_el1:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #3
    b.eq    1f
    ret
1:  ldr     x0, =SCR_EL3_VALUE
    msr     scr_el3, x0
    msr     cptr_el3, xzr
    mrs     x1, id_aa64pfr0_el1
    ubfx    x0, x1, #8, #4              /* EL2 implemented? */
    cbz     x0, 2f
    msr     cntvoff_el2, xzr
2:  ubfx    x0, x1, #24, #4             /* GIC: a GICv3 system register interface? */
    cbz     x0, 3f
    mov     x0, #ICC_SRE_EL3_VALUE
    msr     S3_6_C12_C12_5, x0          /* ICC_SRE_EL3 */
    isb
3:  ldr     x0, =SCTLR_MMU_OFF
    msr     sctlr_el1, x0
    mov     x0, #SPSR_EL1H_MASKED
    msr     spsr_el3, x0
    msr     elr_el3, x30                /* "return" into EL1 at the caller */
    isb
    eret

/* A secondary entered at EL3 (x0 = its MPIDR affinity) waits here, MMU and caches off,
 * until the boot CPU names it in el3_pen_release (arch/aarch64/smp.c: affinity, then
 * dense index; the boot CPU cleans the line to memory and sends an event). Then the
 * same drop to secure EL1 as the boot CPU, and secondary_entry with x0 = its index. */
el3_pen:
    adr_phys x2, el3_pen_release
1:  wfe
    ldr     x3, [x2]
    cmp     x3, x0
    b.ne    1b
    ldr     x19, [x2, #8]
    bl      el3_to_el1
    mov     x0, x19
    b       secondary_entry

/* If at EL2, configure it to run an AArch64 EL1 with nothing trapped and eret there;
 * at EL1 return directly. Clobbers x0, x1. */
el2_to_el1:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.eq    1f
    ldr     x0, =SCTLR_MMU_OFF
    msr     sctlr_el1, x0
    isb
    ret
1:  ldr     x0, =HCR_EL2_RW
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #CNTHCTL_EL1_ACCESS
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mrs     x0, midr_el1                /* EL1 reads of MIDR/MPIDR return these */
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    ldr     x0, =CPTR_EL2_RES1
    msr     cptr_el2, x0
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4             /* GIC: a GICv3 system register interface? */
    cbz     x0, 2f
    mov     x0, #(ICC_SRE_EL2_SRE | ICC_SRE_EL2_ENABLE)
    msr     S3_4_C12_C9_5, x0           /* ICC_SRE_EL2: EL1 may use ICC_* registers */
    isb
    msr     S3_4_C12_C11_0, xzr         /* ICH_HCR_EL2: no virtual interrupts */
2:
    msr     hstr_el2, xzr
    msr     vttbr_el2, xzr
    ldr     x0, =SCTLR_MMU_OFF
    msr     sctlr_el1, x0
    mov     x0, #SPSR_EL1H_MASKED
    msr     spsr_el2, x0
    msr     elr_el2, x30                /* "return" into EL1 at the caller */
    isb
    eret

/* Program MAIR/TCR/TTBR0/TTBR1 and enable the MMU and caches. The tables are the
 * static early ones (same physical addresses on every CPU). Clobbers x0, x1. */
mmu_on:
    ldr     x0, =MAIR_VALUE
    msr     mair_el1, x0
    mrs     x1, id_aa64mmfr0_el1
    and     x1, x1, #7                  /* PARange */
    cmp     x1, #5
    mov     x0, #5
    csel    x1, x1, x0, ls              /* cap at 48 bits */
    ldr     x0, =TCR_VALUE
    bfi     x0, x1, #TCR_IPS_SHIFT, #3
    msr     tcr_el1, x0
    adr_phys x0, early_idmap_l0
    msr     ttbr0_el1, x0
    adr_phys x0, kernel_l0
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x0, =SCTLR_MMU_ON
    msr     sctlr_el1, x0
    isb
    ic      iallu
    dsb     nsh
    isb
    ret

/* Early tables (boot CPU, MMU off). RAM base B = the 1 GiB-aligned region holding
 * the image (0x40000000 on virt). One L2 table, whose slots for the image's 2 MiB
 * blocks point to L3 tables mapping the image page by page, is shared by:
 *   identity:   early_idmap_l0[0] -> early_idmap_l1[B >> 30] -> early_l2
 *   image:      kernel_l0[511] -> early_kimg_l1[(KERNEL_VBASE + B) >> 30 & 511] -> early_l2
 * Direct map: kernel_l0[256] -> early_dmap_l1, whose slot 0 maps physical 0..1 GiB
 * (virt's MMIO: GIC, PL011, ...) as one Device-nGnRE block. RAM is added to the
 * direct map in C once the DTB has been read (arch/aarch64/mm.c). */
build_early_tables:
    adr_phys x0, _start
    and     x1, x0, #~((1 << 30) - 1)   /* B */
    /* The image in 4 KiB pages, W^X: text read-only executable, rodata read-only,
     * data and .bss read-write non-executable; the boot stack's guard page and
     * everything outside the image unmapped. The L3 tables are contiguous
     * (early_l3, EARLY_L3_TABLES of them), so a page's entry index is
     * (page - first block) >> 12. */
    and     x2, x0, #~((1 << 21) - 1)   /* first block of the image */
    adr_phys x3, _kernel_end
    adr_phys x4, __rodata_start         /* end of text */
    adr_phys x5, __data_start           /* end of rodata */
    adr_phys x6, boot_stack_guard
    adr_phys x7, early_l3
    mov     x8, x2                      /* page */
    sub     x9, x3, x2
    mov     x10, #((1 << 21) - 1)
    add     x9, x9, x10
    lsr     x9, x9, #21                 /* L3 tables used */
    lsl     x10, x9, #21
    add     x10, x10, x2                /* end of the last block */
1:  mov     x11, xzr                    /* invalid unless inside the image */
    cmp     x8, x0
    b.lo    2f
    cmp     x8, x3
    b.hs    2f
    cmp     x8, x6
    b.eq    2f
    ldr     x11, =PTE_PAGE_KERNEL_RW
    cmp     x8, x5
    b.hs    3f
    ldr     x11, =PTE_PAGE_KERNEL_RO
    cmp     x8, x4
    b.hs    3f
    ldr     x11, =PTE_PAGE_KERNEL_RX
3:  orr     x11, x11, x8
2:  sub     x12, x8, x2
    lsr     x12, x12, #12
    str     x11, [x7, x12, lsl #3]
    add     x8, x8, #4096
    cmp     x8, x10
    b.lo    1b
    /* early_l2 slots of those blocks -> the L3 tables. */
    adr_phys x3, early_l2
    sub     x12, x2, x1
    lsr     x12, x12, #21               /* first slot */
    mov     x13, #0
4:  lsl     x14, x13, #12
    add     x14, x14, x7
    orr     x14, x14, #(PTE_VALID | PTE_TABLE)
    add     x15, x12, x13
    str     x14, [x3, x15, lsl #3]
    add     x13, x13, #1
    cmp     x13, x9
    b.lo    4b

    orr     x3, x3, #(PTE_VALID | PTE_TABLE)  /* x3 = table descriptor of early_l2 */
    lsr     x6, x1, #30                 /* B >> 30 */
    adr_phys x0, early_idmap_l1
    str     x3, [x0, x6, lsl #3]
    orr     x0, x0, #(PTE_VALID | PTE_TABLE)
    adr_phys x4, early_idmap_l0
    str     x0, [x4]

    ldr     x7, =KERNEL_VBASE
    add     x7, x7, x1
    lsr     x7, x7, #30
    and     x7, x7, #511
    adr_phys x0, early_kimg_l1
    str     x3, [x0, x7, lsl #3]
    orr     x0, x0, #(PTE_VALID | PTE_TABLE)
    adr_phys x4, kernel_l0
    str     x0, [x4, #511 * 8]

    adr_phys x0, early_dmap_l1
    ldr     x5, =PTE_BLOCK_DEVICE
    str     x5, [x0]
    orr     x0, x0, #(PTE_VALID | PTE_TABLE)
    str     x0, [x4, #DMAP_L0_INDEX * 8]
    ret

    .ltorg
    .balign 8
wrong_address_exit:
    .quad   0x20026, 1                  /* ADP_Stopped_ApplicationExit, status 1 */

    /* Read by the EL3 pen with the MMU off: in .data (never zeroed by the boot CPU's
     * .bss clearing), alone in its cache line, and starting at an affinity no CPU has. */
    .section .data, "aw"
    .balign 64
    .global el3_pen_release
el3_pen_release: .quad -1, 0
    .balign 64

    .section .bss.pagetables, "aw", %nobits
    .balign 4096
    .global kernel_l0, early_dmap_l1, boot_stack_guard
kernel_l0:       .space 4096     /* TTBR1 root for the kernel's life */
early_kimg_l1:   .space 4096
early_dmap_l1:   .space 4096
early_l2:        .space 4096
early_l3:        .space 4096 * EARLY_L3_TABLES   /* the image, page by page */
early_idmap_l0:  .space 4096
early_idmap_l1:  .space 4096

    .section .bss.boot_stack, "aw", %nobits
    .balign 4096
    .global boot_stack_lo, boot_stack_top
boot_stack_lo:                   /* the boot stack's region, guard included (leak scan: not data) */
boot_stack_guard: .space 4096    /* left unmapped in the image mapping */
boot_stack:      .space KSTACK_SIZE
boot_stack_top:
