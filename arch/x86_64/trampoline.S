/* arch/x86_64/trampoline.S: the AP start code, copied to physical 0x8000 (SIPI vector
 * 0x08). Real mode straight to long mode: load a small GDT, PAE, the kernel's CR3
 * (its identity map covers this page), EFER.LME|NXE, PG|PE, then jump to ap_entry64
 * in the higher half on the stack the BSP left in tramp_stack. */

#include <arch/x86_asm.h>

#define TRAMP_BASE 0x8000
#define T(x) ((x) - tramp_start + TRAMP_BASE)

    .section .rodata
    .p2align 4
    .globl tramp_start, tramp_end, tramp_cr3, tramp_stack, tramp_index
    .code16
tramp_start:
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl T(tramp_gdt_ptr)
    enter_long_mode T(tramp_cr3)
    ljmpl $0x08, $T(tramp64)

    .code64
tramp64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movq T(tramp_stack), %rsp
    movl T(tramp_index), %edi
    movabsq $ap_entry64, %rax
    jmp *%rax

    .p2align 3
tramp_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
tramp_gdt_ptr:
    .word 23
    .long T(tramp_gdt)
    .p2align 3
tramp_cr3:
    .quad 0
tramp_stack:
    .quad 0
tramp_index:
    .quad 0
tramp_end:
