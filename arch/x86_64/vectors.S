/* arch/x86_64/vectors.S: 256 interrupt stubs (16 bytes apart; a dummy error code where the
 * CPU pushes none) and the common entry that saves registers and calls trap_dispatch. */

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
