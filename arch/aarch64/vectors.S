/* arch/aarch64/vectors.S: the EL1 exception vector table (VBAR_EL1): saves a full trap
 * frame, calls arch_exception(frame, vector), restores (the handler may edit ELR for an
 * expected-fault resume) and ERETs; a stack overflow moves to an emergency stack. */

#include <arch/sysregs.h>

/* struct arch_trap_frame (arch/aarch64/include/arch/a64.h): x0..x30, sp, elr, spsr, esr,
 * far, then a two-word frame record {fp, elr} that x29 points at. 38 words. */
#define R_SP    (31 * 8)
#define R_ELR   (32 * 8)
#define R_SPSR  (33 * 8)
#define R_ESR   (34 * 8)
#define R_FAR   (35 * 8)
#define R_FREC  (36 * 8)
#define R_SIZE  (38 * 8)

/* Entries taken on SP_EL1 check for a kernel stack overflow first: TPIDRRO_EL0 holds
 * the lowest valid sp of this CPU's stack (EL0 registers are free scratch: nothing
 * runs at EL0), SP_EL0 keeps x0 meanwhile. An sp below the limit means the stack
 * overflowed (or sp is wild): the frame cannot be pushed there, so the report runs on
 * a per-CPU emergency stack instead of faulting forever. */
.macro VENTRY idx, check=0
    .balign 128
    sub     sp, sp, #R_SIZE
    .if \check
    msr     sp_el0, x0
    mrs     x0, tpidrro_el0
    sub     x0, sp, x0
    tbnz    x0, #63, 1f
    mrs     x0, sp_el0
    .endif
    stp     x0, x1, [sp, #0]
    mov     x1, #\idx
    b       exception_common
    .if \check
1:  mov     x0, sp
    msr     tpidr_el0, x0               /* the overflowed sp, for the report */
    mov     x0, #\idx
    b       stack_overflow
    .endif
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .global arch_vectors
arch_vectors:
    VENTRY 0    /* current EL, SP_EL0: sync */
    VENTRY 1    /* irq */
    VENTRY 2    /* fiq */
    VENTRY 3    /* serror */
    VENTRY 4, 1 /* current EL, SP_ELx: sync */
    VENTRY 5, 1 /* irq */
    VENTRY 6, 1 /* fiq */
    VENTRY 7, 1 /* serror */
    VENTRY 8    /* lower EL, AArch64: sync */
    VENTRY 9
    VENTRY 10
    VENTRY 11
    VENTRY 12   /* lower EL, AArch32 */
    VENTRY 13
    VENTRY 14
    VENTRY 15

/* x0 = vector index, SP_EL0 = the interrupted x0, TPIDR_EL0 = the overflowed sp. Move
 * to this CPU's emergency stack, lower the limit to it (a fault while reporting is
 * caught there too), and report through arch_exception with VECTOR_STACK_OVERFLOW. */
.if EMERGENCY_STACK_SIZE != 4096
.error "stack_overflow scales the CPU index by 4096"
.endif
stack_overflow:
    msr     tpidrro_el0, x0             /* park the vector index */
    mrs     x0, tpidr_el1               /* struct cpu: dense index at offset 8 */
    ldr     w0, [x0, #8]
    add     x0, x0, #1
    lsl     x0, x0, #12                 /* (index + 1) * EMERGENCY_STACK_SIZE */
    mov     sp, x0
    ldr     x0, =emergency_stacks
    add     sp, sp, x0
    sub     sp, sp, #R_SIZE
    mrs     x0, sp_el0
    stp     x0, x1, [sp, #0]
    mrs     x1, tpidrro_el0
    orr     x1, x1, #VECTOR_STACK_OVERFLOW
    add     x0, sp, #R_SIZE
    sub     x0, x0, #EMERGENCY_STACK_SIZE
    msr     tpidrro_el0, x0
    b       exception_common

exception_common:
    stp     x2, x3, [sp, #2 * 8]
    stp     x4, x5, [sp, #4 * 8]
    stp     x6, x7, [sp, #6 * 8]
    stp     x8, x9, [sp, #8 * 8]
    stp     x10, x11, [sp, #10 * 8]
    stp     x12, x13, [sp, #12 * 8]
    stp     x14, x15, [sp, #14 * 8]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #18 * 8]
    stp     x20, x21, [sp, #20 * 8]
    stp     x22, x23, [sp, #22 * 8]
    stp     x24, x25, [sp, #24 * 8]
    stp     x26, x27, [sp, #26 * 8]
    stp     x28, x29, [sp, #28 * 8]
    add     x2, sp, #R_SIZE
    stp     x30, x2, [sp, #30 * 8]          /* x30, interrupted sp */
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #R_ELR]
    mrs     x3, esr_el1
    mrs     x4, far_el1
    stp     x3, x4, [sp, #R_ESR]
    stp     x29, x2, [sp, #R_FREC]          /* frame record: {interrupted fp, elr} */
    add     x29, sp, #R_FREC
    mov     x0, sp
    bl      arch_exception

    ldp     x2, x3, [sp, #R_ELR]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #2 * 8]
    ldp     x4, x5, [sp, #4 * 8]
    ldp     x6, x7, [sp, #6 * 8]
    ldp     x8, x9, [sp, #8 * 8]
    ldp     x10, x11, [sp, #10 * 8]
    ldp     x12, x13, [sp, #12 * 8]
    ldp     x14, x15, [sp, #14 * 8]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #18 * 8]
    ldp     x20, x21, [sp, #20 * 8]
    ldp     x22, x23, [sp, #22 * 8]
    ldp     x24, x25, [sp, #24 * 8]
    ldp     x26, x27, [sp, #26 * 8]
    ldp     x28, x29, [sp, #28 * 8]
    ldr     x30, [sp, #30 * 8]
    add     sp, sp, #R_SIZE
    eret
    .ltorg

    .section .bss.emergency_stacks, "aw", %nobits
    .balign 4096
emergency_stacks:
    .space EMERGENCY_STACK_SIZE * 64    /* ARCH_MAX_CPUS (checked in trap.c) */
