/* arch/aarch64/trap.c: synchronous exceptions, IRQs and SErrors taken at EL1: ESR
 * decoded, FAR/ELR with symbols, the expected-fault hook, registers and backtrace. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/sysregs.h>
#include <fault.h>
#include <ksyms.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <arch/a64.h>

/* ESR_EL1.EC values handled by name. */
#define EC_UNKNOWN      0x00
#define EC_WFX          0x01
#define EC_FP           0x07
#define EC_ILLEGAL      0x0e
#define EC_SVC64        0x15
#define EC_SYSREG       0x18
#define EC_IABT_LOWER   0x20
#define EC_IABT_CUR     0x21
#define EC_PC_ALIGN     0x22
#define EC_DABT_LOWER   0x24
#define EC_DABT_CUR     0x25
#define EC_SP_ALIGN     0x26
#define EC_SERROR       0x2f
#define EC_BRK64        0x3c

static const char *ec_name(unsigned ec)
{
    switch (ec) {
    case EC_UNKNOWN:    return "undefined instruction";
    case EC_WFX:        return "trapped WFI/WFE";
    case EC_FP:         return "FP/SIMD access trapped";
    case EC_ILLEGAL:    return "illegal execution state";
    case EC_SVC64:      return "SVC";
    case EC_SYSREG:     return "trapped MSR/MRS/system instruction";
    case EC_IABT_LOWER:
    case EC_IABT_CUR:   return "instruction abort";
    case EC_PC_ALIGN:   return "PC alignment fault";
    case EC_DABT_LOWER:
    case EC_DABT_CUR:   return "data abort";
    case EC_SP_ALIGN:   return "SP alignment fault";
    case EC_SERROR:     return "SError";
    case EC_BRK64:      return "BRK";
    default:            return "exception";
    }
}

/* The fault status code (ESR.ISS[5:0], DFSC/IFSC) in words. */
static const char *fsc_name(unsigned fsc)
{
    switch (fsc & 0x3c) {
    case 0x00: return "address size fault";
    case 0x04: return "translation fault (not mapped)";
    case 0x08: return "access flag fault";
    case 0x0c: return "permission fault";
    }
    if (fsc == 0x21) return "alignment fault";
    if (fsc == 0x10) return "synchronous external abort";
    if (fsc == 0x30) return "TLB conflict abort";
    return "other fault";
}

static const char *vector_names[4] = { "sync", "IRQ", "FIQ", "SError" };

uintptr_t arch_trap_frame_fp(const struct arch_trap_frame *f) { return f->x[29]; }
uintptr_t arch_trap_frame_pc(const struct arch_trap_frame *f) { return f->elr; }

static void print_sym(const char *label, uintptr_t pc)
{
    uintptr_t off = 0;
    const char *s = ksym_lookup(pc, &off);
    if (s)
        printk("%s 0x%lx <%s+0x%lx>\n", label, (unsigned long)pc, s, (unsigned long)off);
    else
        printk("%s 0x%lx\n", label, (unsigned long)pc);
}

void arch_dump_regs(const struct arch_trap_frame *f)
{
    if (!f) {
        uint64_t sp, daif, cur;
        __asm__ volatile("mov %0, sp\n\tmrs %1, daif\n\tmrs %2, CurrentEL"
                         : "=r"(sp), "=r"(daif), "=r"(cur));
        printk(" sp %016lx fp %016lx daif 0x%lx EL%lu\n", (unsigned long)sp,
               (unsigned long)__builtin_frame_address(0), (unsigned long)daif,
               (unsigned long)(cur >> 2) & 3);
        return;
    }
    for (int i = 0; i < 30; i += 3) {
        printk(" x%-2d %016lx  x%-2d %016lx", i, (unsigned long)f->x[i], i + 1,
               (unsigned long)f->x[i + 1]);
        if (i + 2 < 31)
            printk("  x%-2d %016lx", i + 2, (unsigned long)f->x[i + 2]);
        printk("\n");
    }
    printk(" x30 %016lx  sp  %016lx  elr %016lx\n", (unsigned long)f->x[30],
           (unsigned long)f->sp, (unsigned long)f->elr);
    printk(" spsr %08lx  esr %08lx  far %016lx\n", (unsigned long)f->spsr,
           (unsigned long)f->esr, (unsigned long)f->far);
    print_sym(" pc", f->elr);
    print_sym(" lr", f->x[30]);
}

extern char arch_fault_catch_resume[];

void (*arch_translation_fault_test_hook)(uintptr_t far);
static unsigned long spurious_faults; /* __atomic */

unsigned long arch_spurious_faults(void) { return __atomic_load_n(&spurious_faults, __ATOMIC_RELAXED); }

/* Abort: catch it if a catch is active on this CPU, else panic with the decode. */
static void abort_fault(struct arch_trap_frame *f, unsigned ec)
{
    unsigned iss = f->esr & 0x1ffffff, fsc = iss & 0x3f;
    int instr = ec == EC_IABT_CUR || ec == EC_IABT_LOWER;
    int far_valid = !(iss & (1u << 10));                        /* FnV clear */
    unsigned flags = 0;
    if ((fsc & 0x3c) == 0x0c || (fsc & 0x3c) == 0x08)
        flags |= FAULT_PROTECTION;
    if (!instr && (iss & (1u << 6)) && !(iss & (1u << 8)))      /* WnR, not a cache op */
        flags |= FAULT_WRITE;
    if (instr)
        flags |= FAULT_EXEC;
    if (ec == EC_IABT_LOWER || ec == EC_DABT_LOWER)
        flags |= FAULT_USER;
    if ((ec == EC_DABT_CUR || ec == EC_IABT_CUR) && (fsc & 0x3c) == 0x04 && far_valid) {
        void (*hook)(uintptr_t) = __atomic_load_n(&arch_translation_fault_test_hook, __ATOMIC_ACQUIRE);
        if (hook)
            hook(f->far);
        /* Spurious: without FEAT_ETS2 a CPU may walk the tables for an access ahead of
         * the earlier load that ordered it (say, the acquire that found a pointer to
         * memory another CPU had just mapped and published), see the entry still
         * invalid and fault. Translation faults are never cached, so ask the MMU again
         * (AT S1E1R walks the tables afresh): if the address translates now, return
         * and let the access run again. Checked before the catch, so an expected-fault
         * probe is not told of a fault that did not stand either. */
        uint64_t par;
        __asm__ volatile("at s1e1r, %1\n\tisb\n\tmrs %0, par_el1" : "=r"(par) : "r"(f->far) : "memory");
        if (!(par & 1)) {
            __atomic_fetch_add(&spurious_faults, 1, __ATOMIC_RELAXED);
            return;
        }
    }

    /* Catches belong to thread context: a fault inside an interrupt handler is a bug
     * even while the interrupted code has a catch active. */
    struct fault_catch *c = this_cpu()->irq_depth ? NULL : fault_catch_current();
    if (c) {
        c->info.addr = far_valid ? f->far : 0;
        c->info.pc = f->elr;
        c->info.vector = ec;
        c->info.flags = flags;
        fault_catch_pop(c);
        /* Return into arch_fault_catch_resume, which restores the callee-saved
         * registers and sp saved by arch_fault_catch_call and returns 1 from it. */
        f->x[0] = (uint64_t)(uintptr_t)c->regs;
        f->elr = (uint64_t)(uintptr_t)arch_fault_catch_resume;
        return;
    }
    uintptr_t off = 0;
    const char *sym = ksym_lookup(f->elr, &off);
    printk("aarch64: %s, esr 0x%lx: %s (level %u), %s, far 0x%lx%s, elr 0x%lx <%s+0x%lx>\n",
           instr ? "instruction abort" : "data abort", (unsigned long)f->esr, fsc_name(fsc),
           fsc & 3, instr ? "fetch" : (flags & FAULT_WRITE) ? "write" : "read",
           (unsigned long)f->far, far_valid ? "" : " (not valid)", (unsigned long)f->elr,
           sym ? sym : "?", (unsigned long)(sym ? off : 0));
    /* Translation, access-flag and permission faults read like x86_64's page faults,
     * in the same stable words (tests match the message); the ESR decode, pc and
     * symbol are on the line above and in the report. */
    unsigned kind = fsc & 0x3c;
    if (kind == 0x04 || kind == 0x08 || kind == 0x0c)
        panic_trap(f, "page fault at 0x%lx: %s %s, %s", (unsigned long)(far_valid ? f->far : 0),
                   (flags & FAULT_PROTECTION) ? "protection" : "not-present",
                   instr ? "instruction-fetch" : (flags & FAULT_WRITE) ? "write" : "read",
                   (flags & FAULT_USER) ? "user" : "kernel");
    panic_trap(f, "%s at 0x%lx: %s, pc 0x%lx <%s+0x%lx>, esr 0x%lx",
               instr ? "instruction abort" : "data abort",
               (unsigned long)(far_valid ? f->far : 0), fsc_name(fsc), (unsigned long)f->elr,
               sym ? sym : "?", (unsigned long)(sym ? off : 0), (unsigned long)f->esr);
}

_Static_assert(ARCH_MAX_CPUS == 64, "vectors.S sizes emergency_stacks for 64 CPUs");

/* The vectors found sp below this CPU's stack limit and moved to the emergency stack. */
static _Noreturn void stack_overflow(struct arch_trap_frame *f, unsigned vector)
{
    uint64_t bad_sp;
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(bad_sp));
    f->sp = bad_sp + sizeof *f;                 /* sp before the vector pushed a frame */
    printk("aarch64: %s exception with sp 0x%lx below cpu %u's stack (esr 0x%lx, far 0x%lx, "
           "elr 0x%lx)\n", vector_names[vector & 3], (unsigned long)f->sp, arch_cpu_index(),
           (unsigned long)f->esr, (unsigned long)f->far, (unsigned long)f->elr);
    /* Stable words (a test expects them); the values are on the line above. */
    panic_trap(f, "kernel stack overflow");
}

void arch_exception(struct arch_trap_frame *f, unsigned vector)
{
    if (vector & VECTOR_STACK_OVERFLOW)
        stack_overflow(f, vector);
    unsigned kind = vector & 3;
    if (vector >= 4 && vector < 8 && kind == 1) {
        struct cpu *c = this_cpu();
        struct cpu_ctx old = cpu_ctx_enter(c, (const uint64_t *)f, sizeof *f / 8, f->sp);
        c->irq_depth++;
        gic_handle_irq();
        c->irq_depth--;
        cpu_ctx_leave(c, old);
        return;
    }
    if (vector < 4)
        panic_trap(f, "%s exception taken with SP_EL0 selected, esr 0x%lx elr 0x%lx",
                   vector_names[kind], (unsigned long)f->esr, (unsigned long)f->elr);
    if (vector >= 8)
        panic_trap(f, "%s exception from a lower EL, esr 0x%lx elr 0x%lx",
                   vector_names[kind], (unsigned long)f->esr, (unsigned long)f->elr);
    if (kind != 0)
        panic_trap(f, "unexpected %s, esr 0x%lx elr 0x%lx", vector_names[kind],
                   (unsigned long)f->esr, (unsigned long)f->elr);

    unsigned ec = (f->esr >> 26) & 0x3f;
    if (ec == EC_DABT_CUR || ec == EC_IABT_CUR || ec == EC_DABT_LOWER || ec == EC_IABT_LOWER) {
        abort_fault(f, ec);
        return;
    }
    uintptr_t off = 0;
    const char *sym = ksym_lookup(f->elr, &off);
    panic_trap(f, "%s (EC 0x%x, ISS 0x%lx) at pc 0x%lx <%s+0x%lx>, far 0x%lx", ec_name(ec), ec,
               (unsigned long)(f->esr & 0x1ffffff), (unsigned long)f->elr, sym ? sym : "?",
               (unsigned long)off, (unsigned long)f->far);
}
