/* arch/x86_64/vectors.S: 256 interrupt stubs (16 bytes apart; a dummy error code where the
 * CPU pushes none), the common entry that saves registers and calls trap_dispatch,
 * and arch_fault_catch_call (the expected-fault hook's context save). */

    .text
    .p2align 4
    .globl trap_stubs
trap_stubs:
    .set v, 0
    .rept 256
    .p2align 4
    .if (v == 8) || (v >= 10 && v <= 14) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
    .else
    pushq $0
    .endif
    pushq $v
    jmp trap_common
    .set v, v + 1
    .endr

trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi                 /* struct arch_trap_frame * (16-byte aligned here) */
    call trap_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                  /* vector, error code */
    iretq

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
