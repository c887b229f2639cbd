/* arch/x86_64/cpu.c: per-CPU GDT (with a TSS whose IST1 is the double-fault stack)
 * and IDT, and the exception vectors' gates. */
#include <stdint.h>
#include <string.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>

extern char trap_stubs[];       /* 256 stubs, 16 bytes apart (vectors.S) */

static void set_gate(struct idt_entry *e, uintptr_t handler, unsigned ist)
{
    e->off_lo = (uint16_t)handler;
    e->sel = SEL_KCODE;
    e->ist = (uint8_t)ist;
    e->type = 0x8e;             /* present, DPL 0, 64-bit interrupt gate (IF cleared) */
    e->off_mid = (uint16_t)(handler >> 16);
    e->off_hi = (uint32_t)(handler >> 32);
    e->zero = 0;
}

void x86_cpu_tables_init(struct x86_cpu *x, unsigned index)
{
    memset(&x->tss, 0, sizeof x->tss);
    x->tss.ist[0] = (uint64_t)(uintptr_t)(x->df_stack + DF_STACK_SIZE);
    x->tss.iomap_base = sizeof(struct tss);

    uint64_t base = (uint64_t)(uintptr_t)&x->tss, limit = sizeof(struct tss) - 1;
    x->gdt[0] = 0;
    x->gdt[1] = 0x00af9a000000ffffull;  /* SEL_KCODE: 64-bit code */
    x->gdt[2] = 0x00cf92000000ffffull;  /* SEL_KDATA */
    x->gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    x->gdt[4] = base >> 32;

    for (unsigned v = 0; v < 256; v++)
        set_gate(&x->idt[v], (uintptr_t)(trap_stubs + 16 * v), v == 8 ? 1 : 0);

    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr, idtr;
    gdtr.limit = sizeof x->gdt - 1;
    gdtr.base = (uint64_t)(uintptr_t)x->gdt;
    idtr.limit = sizeof x->idt - 1;
    idtr.base = (uint64_t)(uintptr_t)x->idt;
    __asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
    __asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS) : "memory");
    __asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
    (void)index;
}
