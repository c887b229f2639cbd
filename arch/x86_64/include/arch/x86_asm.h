/* arch/x86_asm.h (x86_64 only): assembler macros shared by the boot entry and the AP
 * trampoline. Include from .S files only. */
#ifndef ARCH_X86_ASM_H
#define ARCH_X86_ASM_H

#define EFER_LME_NXE 0x900          /* EFER.LME (bit 8) | EFER.NXE (bit 11) */
#define CR0_PG_WP_PE 0x80010001     /* paging, write-protect in ring 0, protected mode */

/* From 32-bit protected or 16-bit real mode with paging off: PAE, CR3 = \cr3 (any
 * operand movl accepts), EFER.LME|NXE, then PG|WP|PE. The caller far-jumps to a
 * 64-bit code segment next. Clobbers eax, ecx, edx. */
.macro enter_long_mode cr3
    movl %cr4, %eax
    orl $0x20, %eax                 /* CR4.PAE */
    movl %eax, %cr4
    movl \cr3, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx          /* IA32_EFER */
    rdmsr
    orl $EFER_LME_NXE, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PG_WP_PE, %eax
    movl %eax, %cr0
.endm

#endif /* ARCH_X86_ASM_H */
