/* examples/smp-aarch64/boot.S: entry for QEMU virt -kernel at EL1. CPU 0 enters at
 * _start, the others at secondary_start (PSCI CPU_ON) with x0 = their index. Each
 * CPU takes a 16 KiB stack, keeps its index in TPIDR_EL1, turns the MMU on over the
 * tables main.c fills (l1: device 0-1 GiB, RAM 1-2 GiB, heap window 2-3 GiB), and
 * calls cpu_main(index). */
    .section .text.boot, "ax"
    .globl _start, secondary_start
_start:
    mov x0, #0
    adrp x1, l1
    add x1, x1, :lo12:l1
    ldr x2, =0x405                      /* block 0 GiB: device (attr 1), AF */
    str x2, [x1]
    ldr x2, =0x40000701                 /* block 1 GiB: normal (attr 0), inner shareable, AF */
    str x2, [x1, #8]
secondary_start:
    mov x19, x0
    msr tpidr_el1, x0
    adrp x1, stacks
    add x1, x1, :lo12:stacks
    add x2, x0, #1
    lsl x2, x2, #14
    add sp, x1, x2
    ldr x1, =0x00ff                     /* MAIR: attr 0 normal write-back, attr 1 device */
    msr mair_el1, x1
    ldr x1, =0x100803519                /* TCR: T0SZ 25, WB WA walks, inner shareable, EPD1, 36-bit PA */
    msr tcr_el1, x1
    adrp x1, l1
    add x1, x1, :lo12:l1
    msr ttbr0_el1, x1
    dsb sy
    isb
    mrs x1, sctlr_el1
    ldr x2, =0x1005                     /* M, C, I */
    orr x1, x1, x2
    msr sctlr_el1, x1
    isb
    mov x0, x19
    bl cpu_main
1:  wfe
    b 1b

    .bss
    .p2align 12
    .globl l1
l1: .skip 4096
    .p2align 4
stacks: .skip 16384 * 4
