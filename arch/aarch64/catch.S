/* arch/aarch64/catch.S: arch_fault_catch_call and its resume point (the expected-fault
 * hook, kernel/include/fault.h): a one-shot setjmp/longjmp over the callee-saved state. */

/* int arch_fault_catch_call(uint64_t *regs, void (*fn)(void *), void *arg)
 * regs[0..9] = x19..x28, regs[10] = x29, regs[11] = x30, regs[12] = sp. */
    .text
    .global arch_fault_catch_call
arch_fault_catch_call:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    stp     x29, x30, [x0, #80]
    mov     x3, sp
    str     x3, [x0, #96]
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    mov     x0, x2
    blr     x1
    ldp     x29, x30, [sp], #16
    mov     x0, #0
    ret

/* Entered by ERET from the exception handler with x0 = regs: fn is abandoned and
 * arch_fault_catch_call returns 1 to its caller. */
    .global arch_fault_catch_resume
arch_fault_catch_resume:
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x3, [x0, #96]
    mov     sp, x3
    mov     x0, #1
    ret
