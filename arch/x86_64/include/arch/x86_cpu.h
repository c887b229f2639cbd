/* arch/x86_cpu.h (x86_64 only): per-CPU descriptor tables and the trap frame. */
#ifndef ARCH_X86_CPU_H
#define ARCH_X86_CPU_H

#include <stdint.h>

struct tss {
    uint32_t rsv0;
    uint64_t rsp[3];
    uint64_t rsv1;
    uint64_t ist[7];
    uint64_t rsv2;
    uint16_t rsv3;
    uint16_t iomap_base;
} __attribute__((packed));

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} __attribute__((packed));

#define DF_STACK_SIZE 8192      /* double faults run here (IST1): 2 frames suffice for the report */

/* One CPU's GDT, TSS, IDT and double-fault stack; the BSP's is static, APs' come from
 * the frame allocator. */
struct x86_cpu {
    struct idt_entry idt[256];
    uint64_t gdt[5];            /* null, kcode, kdata, tss (2 slots) */
    struct tss tss;
    uint8_t df_stack[DF_STACK_SIZE] __attribute__((aligned(16)));
};

/* What the trap stubs push (lowest address first). */
struct arch_trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

/* Load GDT/TSS/IDT for this CPU from x (index only for messages). */
void x86_cpu_tables_init(struct x86_cpu *x, unsigned index);

/* LAPIC access (smp.c): register reads and writes by byte offset, end of interrupt. */
uint32_t lapic_read(unsigned reg);
void lapic_write(unsigned reg, uint32_t v);
void lapic_eoi(void);

/* Entered from assembly: an AP's C entry (trampoline.S, smp.c) and the common trap
 * entry (vectors.S, trap.c). */
void x86_ap_start(unsigned index);
void trap_dispatch(struct arch_trap_frame *f);
/* Unmaps the boot identity map on every CPU once the APs are up (mm.c). */
void x86_drop_identity_map(void);
void x86_guard_boot_stack(void);

/* ACPI (acpi.c): discovered CPUs' APIC ids, in MADT order. */
#define X86_MAX_DISCOVERED 256
extern uint32_t acpi_cpu_ids[X86_MAX_DISCOVERED];
extern unsigned acpi_ncpus;
extern uint64_t acpi_lapic_pa;
void acpi_init(uint64_t rsdp_pa);

#endif /* ARCH_X86_CPU_H */
