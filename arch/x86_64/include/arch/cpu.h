/* arch/cpu.h (x86_64): this CPU's identity and control, all inline: the per-CPU
 * pointer and dense index through GS base, interrupt masking, relax, barriers, halt.
 * aarch64 provides the same names in arch/aarch64/include/arch/cpu.h (TPIDR_EL1). */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <stdint.h>

/* The portable `struct cpu` (kernel/include/percpu.h) starts with these two fields,
 * at these offsets, so one load through GS reaches them (checked by _Static_assert). */
#define ARCH_PERCPU_SELF_OFFSET  0   /* struct cpu *self */
#define ARCH_PERCPU_INDEX_OFFSET 8   /* uint32_t index: dense, 0..ncpu-1 */
#define ARCH_PERCPU_HEAP_OFFSET  24  /* void *goheap_local: the heap's cache for this CPU */

#define ARCH_NAME "x86_64"
#define ARCH_HWID_NAME "APIC id"      /* what arch_cpu_hwid() returns, for messages */
#define ARCH_MAX_CPUS 64             /* dense indices; MADT entries beyond this are ignored */
#define ARCH_CACHE_LINE 64

/* Words saved by arch_fault_catch_call (rbx rbp r12 r13 r14 r15 rsp rip). */
#define ARCH_CATCH_REGS 8
#define ARCH_CATCH_SP 6  /* regs[ARCH_CATCH_SP]: the stack pointer at the call */

/* The per-CPU pointer: GS base holds the address of this CPU's struct cpu. */
static inline void *arch_percpu_ptr(void)
{
    void *p;
    __asm__ volatile("movq %%gs:0, %0" : "=r"(p));
    return p;
}

/* This CPU's dense index. One GS-relative load; never CPUID or the LAPIC. */
static inline unsigned arch_cpu_index(void)
{
    /* (the whole register, which movl zero-extends, and its bound: the compiler then
     * indexes per-CPU tables with it as it is, without a zero-extending copy, and
     * drops tests for impossible values such as goheap's GOHEAP_PIN_FAILED) */
    uint64_t i;
    __asm__ volatile("movl %%gs:8, %k0" : "=r"(i));
    if (i >= ARCH_MAX_CPUS)
        __builtin_unreachable();
    return (unsigned)i;
}

/* The pointer at byte offset off (a constant) of this CPU's record: one GS-relative
 * load; and a store there. */
#define arch_percpu_load_ptr(off)                                                  \
    ({                                                                             \
        void *p_;                                                                  \
        __asm__ volatile("movq %%gs:%c1, %0" : "=r"(p_) : "i"(off));              \
        p_;                                                                        \
    })
#define arch_percpu_store_ptr(off, v)                                              \
    __asm__ volatile("movq %0, %%gs:%c1" : : "r"((void *)(v)), "i"(off) : "memory")

/* Install the per-CPU pointer for this CPU (bring-up only: it writes an MSR). */
static inline void arch_percpu_set(void *p)
{
    uint64_t v = (uint64_t)(uintptr_t)p;
    __asm__ volatile("wrmsr" : : "c"(0xc0000101u), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

/* ---- interrupt masking -------------------------------------------------------- */
typedef uint64_t arch_irqflags_t;

static inline arch_irqflags_t arch_irq_save(void)
{
    arch_irqflags_t f;
    __asm__ volatile("pushfq; popq %0; cli" : "=r"(f) : : "memory");
    return f;
}

static inline void arch_irq_restore(arch_irqflags_t f)
{
    if (f & (1u << 9))                       /* RFLAGS.IF */
        __asm__ volatile("sti" : : : "memory");
}

/* Whether saved flags (from arch_irq_save) had interrupts enabled. */
static inline int arch_irqflags_enabled(arch_irqflags_t f) { return (f >> 9) & 1; }

static inline void arch_irq_enable(void)  { __asm__ volatile("sti" : : : "memory"); }
static inline void arch_irq_disable(void) { __asm__ volatile("cli" : : : "memory"); }

static inline int arch_irqs_enabled(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    return (f >> 9) & 1;
}

/* ---- spinning, ordering, halting ------------------------------------------------ */
static inline void arch_cpu_relax(void) { __asm__ volatile("pause" : : : "memory"); }

/* x86 is TSO: only store->load needs a fence. Portable code should prefer C11
 * atomics with explicit orders; these are for device access and hand-rolled flags. */
static inline void arch_mb(void)  { __asm__ volatile("mfence" : : : "memory"); }
static inline void arch_rmb(void) { __asm__ volatile("" : : : "memory"); }
static inline void arch_wmb(void) { __asm__ volatile("" : : : "memory"); }

/* Sets bit i of the bit map at p (bit i % 64 of the word p[i / 64]) atomically, a
 * full barrier; returns the bit's old value. One `lock bts` (a register bit offset
 * addresses the word itself), where clang 14 compiles the C11 fetch_or to a load and
 * a `lock cmpxchg` loop. */
static inline int arch_atomic_set_bit(volatile uint64_t *p, unsigned i)
{
    _Bool old;
    __asm__ volatile("lock btsq %2, %0" : "+m"(*p), "=@ccc"(old) : "r"((uint64_t)i) : "memory");
    return old;
}

/* i = the index of the lowest set bit of the 64-bit x, or a jump to label when x is 0:
 * bsf, whose ZF flags a zero source, and jz (an asm goto with an output: i is only set
 * when it falls through). */
#define arch_lowest_bit_or(x, i, label) \
    __asm__ goto("bsfq %1, %0\n\tjz %l[" #label "]" : "=r"(i) : "r"((uint64_t)(x)) : "cc" : label)

/* Wait for an interrupt with interrupts enabled (sti; hlt is atomic on x86). */
static inline void arch_wait_for_interrupt(void) { __asm__ volatile("sti; hlt" : : : "memory"); }

/* Stop this CPU for good. */
static inline _Noreturn void arch_halt(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" : : : "memory");
}

/* A return address minus this lies inside the call instruction (kernel/panic.c's
 * backtrace names the caller's line, even for a call that ends its function). */
#define ARCH_RET_TO_CALL 1

#endif /* ARCH_CPU_H */
