/* arch/x86_64/trap.c: exception and interrupt dispatch. The call IPI goes to
 * smp_ipi_handler; an exception is first offered to the expected-fault hook, then
 * panics with a decoded report (page faults: CR2, not-present/protection, read/write,
 * user, instruction fetch, and the faulting symbol). */
#include <stdint.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>
#include <arch_api.h>
#include <fault.h>
#include <ksyms.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>

static const char *const exc_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
    "invalid opcode", "device not available", "double fault", "coprocessor overrun",
    "invalid TSS", "segment not present", "stack fault", "general protection",
    "page fault", "reserved 15", "x87 FP error", "alignment check", "machine check",
    "SIMD FP error", "virtualization", "control protection", "reserved 22",
    "reserved 23", "reserved 24", "reserved 25", "reserved 26", "reserved 27",
    "hypervisor injection", "VMM communication", "security", "reserved 31",
};

static unsigned pf_flags(uint64_t err)
{
    unsigned f = 0;
    if (err & 1) f |= FAULT_PROTECTION;
    if (err & 2) f |= FAULT_WRITE;
    if (err & 4) f |= FAULT_USER;
    if (err & 16) f |= FAULT_EXEC;
    return f;
}

/* Resume an expected fault at its catch: arch_fault_catch_call returns 1. */
static int try_catch(struct arch_trap_frame *f, uint64_t addr)
{
    if (f->vector == 8 || f->vector == 2 || f->vector == 18)
        return 0;               /* never resume double faults, NMIs, machine checks */
    if (this_cpu()->irq_depth)
        return 0;               /* a catch belongs to thread context, not to a handler */
    struct fault_catch *c = fault_catch_current();
    if (!c)
        return 0;
    c->info.addr = addr;
    c->info.pc = f->rip;
    c->info.vector = (unsigned)f->vector;
    c->info.flags = f->vector == 14 ? pf_flags(f->error) : 0;
    fault_catch_pop(c);
    f->rbx = c->regs[0];
    f->rbp = c->regs[1];
    f->r12 = c->regs[2];
    f->r13 = c->regs[3];
    f->r14 = c->regs[4];
    f->r15 = c->regs[5];
    f->rsp = c->regs[6];
    f->rip = c->regs[7];
    return 1;
}

void trap_dispatch(struct arch_trap_frame *f)
{
    uint64_t v = f->vector;
    if (v == VEC_CALL) {
        struct cpu *c = this_cpu();
        struct cpu_ctx old = cpu_ctx_enter(c, (const uint64_t *)f, sizeof *f / 8, f->rsp);
        c->irq_depth++;
        smp_ipi_handler();
        c->irq_depth--;
        cpu_ctx_leave(c, old);
        lapic_eoi();
        return;
    }
    if (v == VEC_TICK) {
        lapic_eoi();
        kernel_tick();
        return;
    }
    if (v == VEC_SPURIOUS || (v >= 32 && v < 48))
        return;                 /* spurious LAPIC / masked legacy PIC lines */
    if (v >= 32)
        panic_trap(f, "unexpected interrupt vector %llu", (unsigned long long)v);

    uint64_t cr2 = v == 14 ? read_cr2() : 0;
    if (try_catch(f, cr2))
        return;
    if (v == 8) {
        /* A page fault in the unmapped page below this CPU's stack (CR2 still holds
         * its address) that could not be delivered on that stack: an overflow. */
        uintptr_t top = this_cpu()->stack_top, lo = top - KSTACK_BYTES, fa = read_cr2();
        if (top && fa < lo && fa >= lo - ARCH_FRAME_SIZE) {
            printk("x86_64: double fault after a page fault at 0x%lx, in the guard page below "
                   "cpu %u's stack [0x%lx, 0x%lx), rsp 0x%lx\n", (unsigned long)fa, arch_cpu_index(),
                   (unsigned long)lo, (unsigned long)top, (unsigned long)f->rsp);
            /* Stable words (a test expects them, as on aarch64); values on the line above. */
            panic_trap(f, "kernel stack overflow");
        }
        panic_trap(f, "double fault");      /* rip and symbol follow in the report */
    }
    if (v == 14) {
        /* The message is stable (tests match it); rip and symbol are the first
         * backtrace line of the report. */
        unsigned fl = pf_flags(f->error);
        panic_trap(f, "page fault at 0x%llx: %s %s, %s%s", (unsigned long long)cr2,
                   (fl & FAULT_PROTECTION) ? "protection" : "not-present",
                   (fl & FAULT_EXEC) ? "instruction-fetch" : (fl & FAULT_WRITE) ? "write" : "read",
                   (fl & FAULT_USER) ? "user" : "kernel",
                   (f->error & 8) ? ", reserved-bit" : "");
    }
    uintptr_t off;
    const char *sym = ksym_lookup(f->rip, &off);
    panic_trap(f, "%s (vector %llu, error 0x%llx) at rip 0x%llx <%s+0x%lx>", exc_names[v],
               (unsigned long long)v, (unsigned long long)f->error, (unsigned long long)f->rip,
               sym ? sym : "?", (unsigned long)(sym ? off : 0));
}

void arch_dump_regs(const struct arch_trap_frame *f)
{
    if (f) {
        printk("rip %016llx rsp %016llx rflags %016llx vec %llu err %llx\n",
               (unsigned long long)f->rip, (unsigned long long)f->rsp,
               (unsigned long long)f->rflags, (unsigned long long)f->vector,
               (unsigned long long)f->error);
        printk("rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
               (unsigned long long)f->rax, (unsigned long long)f->rbx,
               (unsigned long long)f->rcx, (unsigned long long)f->rdx);
        printk("rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n",
               (unsigned long long)f->rsi, (unsigned long long)f->rdi,
               (unsigned long long)f->rbp, (unsigned long long)f->r8);
        printk("r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n",
               (unsigned long long)f->r9, (unsigned long long)f->r10,
               (unsigned long long)f->r11, (unsigned long long)f->r12);
        printk("r13 %016llx r14 %016llx r15 %016llx\n", (unsigned long long)f->r13,
               (unsigned long long)f->r14, (unsigned long long)f->r15);
    } else {
        uint64_t rsp, rbp, rflags;
        __asm__ volatile("mov %%rsp, %0; mov %%rbp, %1; pushfq; popq %2"
                         : "=r"(rsp), "=r"(rbp), "=r"(rflags));
        printk("rsp %016llx rbp %016llx rflags %016llx\n", (unsigned long long)rsp,
               (unsigned long long)rbp, (unsigned long long)rflags);
    }
    printk("cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n",
           (unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
           (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
}

uintptr_t arch_trap_frame_fp(const struct arch_trap_frame *f) { return f->rbp; }
uintptr_t arch_trap_frame_pc(const struct arch_trap_frame *f) { return f->rip; }

