/* arch/aarch64/vectors.S: the EL1 exception vector table (VBAR_EL1). Every entry saves
 * a full struct arch_regs frame on the current stack, links a frame record for the
 * backtrace and calls arch_exception(regs, vector index); the handler may edit ELR
 * (expected-fault resume) before the registers are restored and ERET returns. */

/* struct arch_regs (arch/aarch64/include/arch/regs.h): x0..x30, sp, elr, spsr, esr,
 * far, then a two-word frame record {fp, elr} that x29 points at. 38 words. */
#define R_SP    (31 * 8)
#define R_ELR   (32 * 8)
#define R_SPSR  (33 * 8)
#define R_ESR   (34 * 8)
#define R_FAR   (35 * 8)
#define R_FREC  (36 * 8)
#define R_SIZE  (38 * 8)

.macro VENTRY idx
    .balign 128
    sub     sp, sp, #R_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\idx
    b       exception_common
.endm

    .section .text.vectors, "ax"
    .balign 2048
    .global arch_vectors
arch_vectors:
    VENTRY 0    /* current EL, SP_EL0: sync */
    VENTRY 1    /* irq */
    VENTRY 2    /* fiq */
    VENTRY 3    /* serror */
    VENTRY 4    /* current EL, SP_ELx: sync */
    VENTRY 5    /* irq */
    VENTRY 6    /* fiq */
    VENTRY 7    /* serror */
    VENTRY 8    /* lower EL, AArch64: sync */
    VENTRY 9
    VENTRY 10
    VENTRY 11
    VENTRY 12   /* lower EL, AArch32 */
    VENTRY 13
    VENTRY 14
    VENTRY 15

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
