/* arch/x86_64/catch.S: arch_fault_catch_call and its resume point (the expected-fault
 * hook, kernel/include/fault.h): a one-shot setjmp/longjmp over the callee-saved state. */

    .text
/* int arch_fault_catch_call(uint64_t regs[8], void (*fn)(void *), void *arg)
 * regs: rbx rbp r12 r13 r14 r15, rsp at entry (pointing at our return address), and
 * the resume address. The #PF/#GP handler restores them and "returns 1" from here. */
    .globl arch_fault_catch_call
arch_fault_catch_call:
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    movq %rsp, 48(%rdi)
    leaq catch_resume(%rip), %rax
    movq %rax, 56(%rdi)
    subq $8, %rsp                   /* 16-byte alignment at the call */
    movq %rdx, %rdi
    call *%rsi
    addq $8, %rsp
    xorl %eax, %eax
    ret
catch_resume:
    movl $1, %eax
    ret
