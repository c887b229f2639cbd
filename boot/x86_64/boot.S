/* boot/x86_64/boot.S: PVH entry. QEMU -kernel finds the Xen PHYS32_ENTRY note, enters
 * pvh_start32 in 32-bit protected mode, paging off, EBX = hvm_start_info (physical).
 * We load static boot page tables (identity + direct map + kernel image over the low
 * 1 GiB, 2 MiB pages), enable long mode with EFER.NXE, and jump to the higher half. */

#include <arch/x86_asm.h>

#define KVMA 0xffffffff80000000
#define PHYS(x) ((x) - KVMA)

/* ---- the PVH ELF note: name "Xen", type 18 (XEN_ELFNOTE_PHYS32_ENTRY). 4-aligned:
 * QEMU rounds the name size to the note segment's alignment. */
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4                 /* namesz */
    .long 8                 /* descsz */
    .long 18                /* type */
    .asciz "Xen"
    .p2align 2
    .quad PHYS(pvh_start32)

    .section .text.boot, "ax", @progbits
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, PHYS(pvh_start_info_pa)
    lgdt PHYS(boot_gdt_ptr32)
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl $PHYS(boot_stack_top), %esp

    enter_long_mode $PHYS(boot_pml4)
    ljmp $0x08, $PHYS(long_entry)

    .code64
long_entry:
    movabsq $high_entry, %rax
    jmp *%rax

    .text
high_entry:
    lgdt boot_gdt_ptr64(%rip)
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    call kernel_main
1:  cli
    hlt
    jmp 1b

/* An AP arrives here from the trampoline in long mode, on its own stack (rsp set),
 * with edi = its dense CPU index. */
    .globl ap_entry64
ap_entry64:
    lgdt boot_gdt_ptr64(%rip)
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %ebp, %ebp
    call x86_ap_start
1:  cli
    hlt
    jmp 1b

    .data
    .p2align 4
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff            /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr32:
    .word boot_gdt_end - boot_gdt - 1
    .long PHYS(boot_gdt)
    .p2align 3
boot_gdt_ptr64:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .globl pvh_start_info_pa
    .p2align 3
pvh_start_info_pa:
    .quad 0

/* Boot page tables. PML4[0] (identity, until SMP bring-up is done) and PML4[256]
 * (direct map, replaced by arch_mm_init) share boot_pdpt_low: the low 4 GiB in 2 MiB
 * pages (present, writable, PS) through boot_pd[0..3]. PML4[511] maps the kernel
 * image window 0xffffffff80000000 -> 0 (1 GiB) through boot_pdpt_high[510]. */
    .p2align 12
    .globl boot_pml4
boot_pml4:
    .quad PHYS(boot_pdpt_low) + 3
    .fill 255, 8, 0
    .quad PHYS(boot_pdpt_low) + 3
    .fill 254, 8, 0
    .quad PHYS(boot_pdpt_high) + 3
boot_pdpt_low:
    .quad PHYS(boot_pd) + 3
    .quad PHYS(boot_pd) + 0x1000 + 3
    .quad PHYS(boot_pd) + 0x2000 + 3
    .quad PHYS(boot_pd) + 0x3000 + 3
    .fill 508, 8, 0
boot_pdpt_high:
    .fill 510, 8, 0
    .quad PHYS(boot_pd) + 3
    .quad 0
    .globl boot_pd
boot_pd:
    .set i, 0
    .rept 2048
    .quad (i << 21) | 0x83
    .set i, i + 1
    .endr

    .bss
    .p2align 12
    .globl boot_stack_bottom, boot_stack_lo, boot_stack_guard
boot_stack_lo:                          /* the boot stack's region, guard included (leak scan: not data) */
boot_stack_guard:                       /* unmapped by x86_guard_boot_stack (arch/x86_64/mm.c) */
    .skip 4096
boot_stack_bottom:
    .skip 16384
    .globl boot_stack_top
boot_stack_top:
