/* examples/region-x86_64/boot.S: PVH entry for QEMU -kernel. Enters in 32-bit
 * protected mode with paging off; identity-maps the first 1 GiB with 2 MiB pages,
 * turns on long mode and calls kmain on a 64 KiB stack. */
    .section .note.Xen, "a", @note      /* XEN_ELFNOTE_PHYS32_ENTRY: where QEMU enters */
    .p2align 2
    .long 4, 4, 18
    .asciz "Xen"
    .long start32

    .section .text.boot, "ax", @progbits
    .code32
    .globl start32
start32:
    cli
    movl $pd, %edi                      /* pd[i] = i * 2 MiB | present, writable, 2 MiB */
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, (%edi,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b
    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax                     /* PAE */
    movl %eax, %cr4
    movl $0xc0000080, %ecx              /* EFER.LME */
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax               /* PG | PE */
    movl %eax, %cr0
    lgdt gdt_ptr
    ljmp $0x08, $start64

    .code64
start64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movq $stack_top, %rsp
    call kmain
2:  hlt
    jmp 2b

    .data
    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff            /* 0x10: data */
gdt_ptr:
    .word gdt_ptr - gdt - 1
    .long gdt
    .p2align 12
pml4:
    .quad pdpt + 3
    .fill 511, 8, 0
pdpt:
    .quad pd + 3
    .fill 511, 8, 0
pd:
    .fill 512, 8, 0
    .bss
    .p2align 4
    .skip 65536
stack_top:
